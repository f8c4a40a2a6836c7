#!/usr/bin/env bash
# Installs every build and test dependency of ferry on a Debian machine (as root).
# Idempotent: a second run installs nothing and prints nothing.
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build clang libclang-rt-14-dev
  libcurl4-openssl-dev libzmq3-dev libmsgpack-dev libjansson-dev libssl-dev libyaml-dev
  libmicrohttpd-dev python3-prometheus-client stress-ng
  docker-registry skopeo apache2-utils openssl curl ca-certificates
  python3 iproute2 procps psmisc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Container tooling and the Kubernetes manifest validator for the deploy tests.
bash "$(dirname "$0")/setup-containers.sh"
