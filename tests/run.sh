#!/usr/bin/env bash
# The whole test suite: installs dependencies (as root), builds ferry twice
# (plain, and with AddressSanitizer + UndefinedBehaviorSanitizer), runs every
# meson test suite in both builds, and ends with one line "N passed, N failed".
# Exit status: 0 only when every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

bash deploy/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0

jobs=$(nproc)
failed_builds=0
configure() { # DIR [meson options...]
    local dir=$1; shift
    if [ -f "$dir/build.ninja" ]; then
        meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1
    else
        meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
    fi || { cat "$dir.setup.log"; return 1; }
    meson compile -C "$dir" >"$dir.compile.log" 2>&1 || { tail -50 "$dir.compile.log"; return 1; }
}

configure build || failed_builds=$((failed_builds + 1))
configure build-asan -Db_sanitize=address,undefined -Db_lundef=false || failed_builds=$((failed_builds + 1))

for dir in build build-asan; do
    [ -f "$dir/build.ninja" ] || continue
    echo "== meson test ($dir)"
    meson test -C "$dir" --num-processes "$jobs" --print-errorlogs "$@" 2>&1 |
        grep -E '^ *[0-9]+/[0-9]+ |^(Ok|Fail|Skipped|Timeout):' || true
done

/usr/bin/python3 - "$failed_builds" <<'PY'
import json, sys, os
passed = failed = skipped = 0
failed += int(sys.argv[1])
for d in ("build", "build-asan"):
    path = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(path):
        continue
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
if passed + failed == 0:
    failed = 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
PY
