#!/usr/bin/env bash
# Installs what deploy/build-image.sh and tests/e2e/test_deploy.sh need (as
# root): buildah, podman with runc, podman-compose, mmdebstrap (for
# FERRY_E2E_CONTAINERFILE=1), systemd-analyze, and an
# offline Kubernetes manifest validator (npm's kubernetes-models: the official
# OpenAPI schemas compiled to validators, plus the yaml parser) in
# $FERRY_K8S_VALIDATE_DIR (default /opt/ferry-tools/k8s-validate); Debian's
# python3-kubernetes adds the field lists used to reject unknown fields.
# Idempotent: a second run installs nothing and prints nothing.
set -euo pipefail

packages=(buildah podman runc podman-compose mmdebstrap systemd python3 python3-kubernetes nodejs npm)
validate_dir=${FERRY_K8S_VALIDATE_DIR:-/opt/ferry-tools/k8s-validate}
npm_packages=(kubernetes-models@5.1.0 yaml@2)

missing=()
for p in "${packages[@]}"; do
    # npm and nodejs may come from outside Debian (nvm, nodesource): a working
    # command is enough.
    case $p in nodejs | npm) command -v "${p/nodejs/node}" >/dev/null && continue ;; esac
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
need_npm=0
[ -f "$validate_dir/node_modules/kubernetes-models/package.json" ] &&
    [ -f "$validate_dir/node_modules/yaml/package.json" ] || need_npm=1
[ ${#missing[@]} -eq 0 ] && [ $need_npm -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-containers.sh: missing: ${missing[*]} (npm: ${npm_packages[*]} needed: $need_npm); run as root" >&2
    exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ $need_npm -eq 1 ]; then
    mkdir -p "$validate_dir"
    [ -f "$validate_dir/package.json" ] || echo '{"private": true}' >"$validate_dir/package.json"
    (cd "$validate_dir" &&
        npm install --silent --no-audit --no-fund --no-update-notifier --engine-strict=false \
            "${npm_packages[@]}" >/dev/null 2>&1)
fi
