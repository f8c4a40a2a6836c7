#!/usr/bin/env bash
# Builds ferry's container image with buildah on a machine that cannot pull a
# base image: FROM scratch, holding the binaries of a meson build dir, the
# shared libraries they load (from ldd), the dynamic loader, CA certificates,
# a non-root user, /bin/sh and the entry point serving `IMAGE /run ARGS...`
# (the migration guide's command). The result is equivalent
# to deploy/Containerfile's image: same paths, user, entry script, CMD and
# HEALTHCHECK.
#
# Usage: deploy/build-image.sh [-b BUILD_DIR] [-t TAG] [--root DIR --runroot DIR]
#   -b BUILD_DIR   meson build dir holding agent/ferry-agent and coordinator/ferry
#                  (default: build)
#   -t TAG         image name (default: localhost/ferry:VERSION)
#   --root, --runroot  buildah storage dirs (default: buildah's own)
# Prints the image name on its last line. Storage driver: vfs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build_dir=$top/build
tag=
storage=(--storage-driver vfs)

while [ $# -gt 0 ]; do
    case $1 in
    -b) build_dir=$2; shift 2 ;;
    -t) tag=$2; shift 2 ;;
    --root | --runroot) storage+=("$1" "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done

agent=$build_dir/agent/ferry-agent
coordinator=$build_dir/coordinator/ferry
for exe in "$agent" "$coordinator"; do
    [ -x "$exe" ] || { echo "build-image.sh: $exe not found: build first (ninja -C $build_dir)" >&2; exit 1; }
done
command -v buildah >/dev/null || { echo "build-image.sh: buildah not found (apt-get install buildah)" >&2; exit 1; }

version=$("$agent" --version | awk '{print $2}')
[ -n "$tag" ] || tag=localhost/ferry:$version

uid=10001
stage=$(mktemp -d "${TMPDIR:-/tmp}/ferry-image.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/rootfs
mkdir -p "$root"/{usr/local/bin,bin,etc/ssl/certs,home/ferry,tmp}
chmod 1777 "$root/tmp"

install -m 0755 "$agent" "$coordinator" "$root/usr/local/bin/"
install -m 0755 /bin/dash "$root/bin/sh"

# Every shared object the programs and the shell load, at the path ldd
# resolved it to, so the loader's default search path finds it.
copy_libs() { # EXE...
    ldd "$@" | awk '/=> \// {print $3} /^\t\/[^ ]+ \(/ {print $1}' | sort -u |
        while read -r lib; do
            case $lib in
            /lib/* | /lib64/* | /usr/lib/* | /usr/lib64/*) ;;
            *) echo "build-image.sh: $lib is outside the system library dirs" >&2; exit 1 ;;
            esac
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
}
copy_libs "$agent" "$coordinator" /bin/dash

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/usr/sbin/nologin
ferry:x:$uid:$uid:ferry:/home/ferry:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
ferry:x:$uid:
nogroup:x:65534:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"

# The migration guide's command is `docker run IMAGE /run --tcrName ...`. /run
# stays a directory (podman mounts /run/.containerenv, and tools expect /run to
# be one), so the entry point turns a first argument of /run into
# `ferry ccr2tcr`. The same script is in deploy/Containerfile.
mkdir -p "$root/run"
cat >"$root/usr/local/bin/ferry-entrypoint" <<'EOF'
#!/bin/sh
# ferry image entry point: `IMAGE /run ARGS...` (the migration guide's command)
# runs `ferry ccr2tcr ARGS...`; any other command runs as given.
if [ "$#" -gt 0 ] && [ "$1" = /run ]; then
    shift
    exec ferry ccr2tcr "$@"
fi
exec "$@"
EOF
chmod 0755 "$root/usr/local/bin/ferry-entrypoint"

cat >"$stage/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
COPY --chown=$uid:$uid rootfs/home/ferry/ /home/ferry/
ENV PATH=/usr/local/bin:/usr/bin:/bin \\
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    HOME=/home/ferry
LABEL org.opencontainers.image.title="ferry" \\
      org.opencontainers.image.version="$version" \\
      org.opencontainers.image.description="ferry coordinator and agent (built FROM scratch by deploy/build-image.sh)"
USER $uid:$uid
WORKDIR /home/ferry
ENTRYPOINT ["/usr/local/bin/ferry-entrypoint"]
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["ferry-agent", "--version"]
CMD ["ferry-agent", "--help"]
EOF

# --format docker: the OCI image format has no HEALTHCHECK.
buildah "${storage[@]}" bud --quiet --isolation chroot --format docker \
    -f "$stage/Containerfile" -t "$tag" "$stage" >/dev/null
echo "$tag"
