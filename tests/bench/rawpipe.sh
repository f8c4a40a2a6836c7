#!/bin/sh
# rawpipe.sh — the raw reference for one blob: POST an upload on the target,
# then `curl GET | curl PUT` the bytes straight from the source registry.
#   rawpipe.sh MODE SRC_URL DST_URL REPO DIGEST
# MODE buffer: PUT with --data-binary @- (curl buffers the body, sends a length)
# MODE stream: PUT with -T - (chunked transfer encoding, a true pipe)
# MODE file:   download to a temporary file first, then PUT it (not a pipe)
# Exits non-zero when either side fails.
set -eu
mode=$1 src=$2 dst=$3 repo=$4 digest=$5
loc=$(curl -sf -o /dev/null -D - -X POST "$dst/v2/$repo/blobs/uploads/" | tr -d '\r' |
    sed -n 's/^[Ll]ocation: //p')
[ -n "$loc" ] || { echo "rawpipe: no upload location for $repo" >&2; exit 1; }
case "$loc" in http*) ;; *) loc="$dst$loc" ;; esac
case "$loc" in *\?*) sep='&' ;; *) sep='?' ;; esac
put="$loc${sep}digest=$digest"
ct='Content-Type: application/octet-stream'
case "$mode" in
buffer)
    curl -sf "$src/v2/$repo/blobs/$digest" |
        curl -sf -o /dev/null -X PUT --data-binary @- -H "$ct" "$put" ;;
stream)
    curl -sf "$src/v2/$repo/blobs/$digest" | curl -sf -o /dev/null -T - -H "$ct" "$put" ;;
file)
    tmp=$(mktemp "${TMPDIR:-/tmp}/rawpipe.XXXXXX")
    trap 'rm -f "$tmp"' EXIT
    curl -sf -o "$tmp" "$src/v2/$repo/blobs/$digest"
    curl -sf -o /dev/null -T "$tmp" -H "$ct" "$put" ;;
*)
    echo "rawpipe: unknown mode $mode" >&2; exit 2 ;;
esac
