#!/usr/bin/env bash
# The README's demo command, as a new user runs it, with --keep: it migrates
# its sample, shows what moved, and leaves both registries running with the
# commands to look at them; the test runs one of them (skopeo against the
# target) and then stops the registries. Exit 0 when every check passed.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp)
failed=0
check() { # DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then echo "ok - $what"; else echo "not ok - $what"; failed=1; fi
}
has() { grep -qF -- "$1" "$out"; }

bash "$top/deploy/demo.sh" --keep >"$out" 2>&1
status=$?
check "the demo exits 0" test "$status" = 0
check "18 migrated, 0 already there, 0 failed" has "18 migrated, 0 already there, 0 failed"
check "the target lists the nested repository" has "team-b/tools/deep/nested/worker"
check "--keep keeps the registries" has "both registries keep running (--keep)"
check "verify found no difference" has "0 extra at the target"
dst=$(sed -n 's|^   skopeo inspect --tls-verify=false docker://\([^/]*\)/team-a/multiarch:latest$|\1|p' "$out" | head -1)
stop=$(sed -n 's|^   stop: ||p' "$out" | head -1)
check "the printed skopeo command names the target" test -n "$dst"
check "the printed skopeo command works" \
    sh -c "skopeo inspect --tls-verify=false docker://$dst/team-a/multiarch:latest >/dev/null"
[ -n "$stop" ] && eval "$stop" >/dev/null 2>&1
work=$(sed -n 's|^   the report: \(.*\)/report.json$|\1|p' "$out" | head -1)
[ -n "$work" ] && case "$work" in /tmp/ferry-demo.*) rm -rf "$work" ;; esac
[ "$failed" = 0 ] || cat "$out"
rm -f "$out"
exit "$failed"
