#!/usr/bin/env bash
# The demo: on a fresh Debian machine (as root) installs what ferry needs,
# builds it, starts two local registries, seeds the source with sample images
# (several namespaces, nested paths, a multi-arch index, shared layers, a
# signature-like artifact), mirrors it with `ferry mirror`, checks the result
# with `ferry verify` and with skopeo, shows what moved, and stops the
# registries again. With --keep both registries keep running (and the report
# stays) and the demo prints commands to look at them with.
set -euo pipefail
keep=0
case "${1:-}" in
    --keep) keep=1 ;;
    "") ;;
    *) echo "usage: bash deploy/demo.sh [--keep]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
top=$(pwd)

bash deploy/setup.sh
if [ ! -f build/build.ninja ]; then
    meson setup build >/dev/null
fi
meson compile -C build >/dev/null
ferry=$top/build/coordinator/ferry
regfix="/usr/bin/python3 $top/tests/fixtures/regfix.py"

work=$(mktemp -d /tmp/ferry-demo.XXXXXX)
cleanup() {
    [ "$keep" = 1 ] && return
    $regfix stop --dir "$work/source" >/dev/null 2>&1 || true
    $regfix stop --dir "$work/target" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/source" "$work/target"

field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
src=$($regfix start --flavour anon --dir "$work/source" | field host)
dst=$($regfix start --flavour anon --dir "$work/target" | field host)
echo "== source registry $src, target registry $dst"

echo "== seeding the source"
n=0
for repo in team-a/api team-a/web team-b/tools/cli team-b/tools/deep/nested/worker library/base; do
    for tag in 1.0 1.1 2.0; do
        $regfix push --url "http://$src" --repo "$repo" --tag "$tag" --layers 2 --layer-size 400000 \
            --seed "$n" --shared-layer 7:2000000 >/dev/null
        n=$((n + 1))
    done
done
$regfix push-index --url "http://$src" --repo team-a/multiarch --tag latest \
    --platforms linux/amd64,linux/arm64/v8,linux/s390x >/dev/null
subject=$($regfix push --url "http://$src" --repo team-a/signed --tag v1 --layers 1 --layer-size 300000 | field digest)
$regfix push-artifact --url "http://$src" --repo team-a/signed --subject "$subject" \
    --artifact-type application/vnd.dev.cosign.artifact.sig.v1+json --tag "sha256-${subject#sha256:}" >/dev/null
echo "   $((n + 3)) images in 7 repositories"

echo "== ferry mirror $src $dst"
set +e
"$ferry" mirror "$src" "$dst" --insecure "$src" --insecure "$dst" --progress plain --report "$work/report.json"
status=$?
set -e
echo "== ferry verify $src $dst"
"$ferry" verify "$src" "$dst" --insecure "$src" --insecure "$dst" --progress none
echo "== skopeo, an independent client: the multi-arch index digest on both sides"
skopeo inspect --raw --tls-verify=false "docker://$src/team-a/multiarch:latest" | sha256sum
skopeo inspect --raw --tls-verify=false "docker://$dst/team-a/multiarch:latest" | sha256sum
echo "== what moved (from the JSON report)"
/usr/bin/python3 - "$work/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for item in r["items"]:
    print("   %-9s %s -> %s" % (item["status"], item["source"], item["target"] or ""))
c = r["counts"]
print("   %d migrated, %d already there, %d failed; %.1f MiB" % (
    c["migrated"], c["skipped"], c["failed"], c["bytes"] / 1048576))
PY
echo "== the target's repositories"
curl -s "http://$dst/v2/_catalog" | /usr/bin/python3 -c 'import json,sys; print("   " + "\n   ".join(json.load(sys.stdin)["repositories"]))'
if [ "$keep" = 1 ]; then
    cat <<MSG
== both registries keep running (--keep); to look, or to stop them:
   skopeo inspect --tls-verify=false docker://$dst/team-a/multiarch:latest
   skopeo inspect --raw --tls-verify=false docker://$dst/team-a/signed:v1
   podman pull --tls-verify=false $dst/team-a/api:2.0
   $ferry verify $src $dst --insecure 127.0.0.1
   the report: $work/report.json
   stop: $regfix stop --dir $work/source; $regfix stop --dir $work/target
MSG
fi
exit $status
