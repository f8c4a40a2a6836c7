#!/bin/bash
# profile.sh — the many-small set under `perf record -g` (or callgrind when perf
# cannot sample here): prints where ferry spends its CPU, its own functions first.
#   tests/bench/profile.sh [--quick] [--callgrind]     (see tests/bench/README.md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FERRY_PROF_BUILD:-$root/build-bench-prof}

missing=()
for need in docker-registry:docker-registry curl:curl /usr/bin/time:time meson:meson \
    ninja:ninja-build perf:linux-perf valgrind:valgrind; do
    command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need#*:}")
done
if ((${#missing[@]})); then
    echo "profile.sh: installing ${missing[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Optimised as in release, with symbols and frame pointers for perf's call graphs.
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release -Ddebug=true -Dwerror=false \
        -Dc_args='-fno-omit-frame-pointer' >/dev/null
fi
ninja -C "$build" >/dev/null

args=("$@")
if ! printf '%s\n' "${args[@]}" | grep -qx -- --callgrind; then
    probe=$(mktemp)
    if ! perf record -e cpu-clock -g -o "$probe" -- true >/dev/null 2>&1; then
        echo "profile.sh: perf cannot record here; using callgrind on a reduced set" >&2
        args+=(--callgrind)
    fi
    rm -f "$probe" "$probe.old"
fi
# Plain HTTP: the profile is of ferry's own work, not of TLS.
exec /usr/bin/python3 "$here/bench.py" --build "$build" --only profile --plain "${args[@]}"
