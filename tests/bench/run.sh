#!/bin/bash
# run.sh — ferry's benchmark (issue "Speed at the limit"): one table of ratios,
# ferry against skopeo and against raw curl pipes, all measured in this run.
#   tests/bench/run.sh [--quick] [bench.py options]   (see tests/bench/README.md)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FERRY_BENCH_BUILD:-$root/build-bench}

# What the bench runs, by the Debian package that provides it.
missing=()
for need in docker-registry:docker-registry skopeo:skopeo curl:curl ip:iproute2 tc:iproute2 \
    /usr/bin/time:time meson:meson ninja:ninja-build python3:python3 openssl:openssl; do
    command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need#*:}")
done
if ((${#missing[@]})); then
    echo "run.sh: installing ${missing[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A release build of its own. The project's warnings-as-errors can trip on -O3-only
# warnings: then the bench builds without -Werror and says so.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" "$root" --buildtype=release >"$build_log" 2>&1 ||
        { cat "$build_log" >&2; exit 1; }
fi
if ! ninja -C "$build" >"$build_log" 2>&1; then
    echo "run.sh: the release build fails with -Werror:" >&2
    grep -E 'error:' "$build_log" | head -5 >&2
    echo "run.sh: building $build with -Dwerror=false" >&2
    meson configure "$build" -Dwerror=false >/dev/null
    ninja -C "$build" >"$build_log" 2>&1 || { tail -30 "$build_log" >&2; exit 1; }
fi

exec /usr/bin/python3 "$here/bench.py" --build "$build" "$@"
