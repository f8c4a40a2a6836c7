#!/usr/bin/env bash
# Many machines on one: the coordinator, three agents and the two registries
# each in their own network namespace, joined by veth links to a bridge in a
# namespace of its own. Every agent's link is shaped like a capped cloud VM
# (tbf 100 mbit, both directions). The coordinator listens off loopback, so
# the control channel runs CURVE with an allowlist. Checks: every agent joins
# and runs tasks over its shaped link, the migration completes with exact
# counts, and `ferry verify` finds no difference.
#
# Environment: FERRY_BUILD_DIR (meson build dir, default build); FX_KEEP=1
# keeps the work directory. Only addresses inside the namespaces this test
# makes are used (10.200.70.0/24); every namespace is deleted at exit, even on
# failure. Exit: 0 all passed, 1 a check failed, 77 (meson's skip) when
# network namespaces cannot be created here.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FERRY_BUILD_DIR:-$top/build}
ferry_exe=$build/coordinator/ferry
agent_exe=$build/agent/ferry-agent
regfix=$top/tests/fixtures/regfix.py
python=/usr/bin/python3

net=10.200.70
coord_ip=$net.1
src_ip=$net.21
dst_ip=$net.22
agents=(1 2 3)
images=6
layers=3
layer_size=$((2 * 1024 * 1024))
port=7400
ns_prefix=ferry-t-mh$$
hosts=(coord src dst a1 a2 a3)

passed=0 failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { # DESCRIPTION COMMAND...: ok when COMMAND exits 0
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
ns() { echo "$ns_prefix-$1"; }
wait_pid() { # PID SECONDS: sets $status to the child's exit status, empty when it runs on
    local pid=$1 i
    status=
    for i in $(seq $(($2 * 10))); do
        if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; status=$?; return; fi
        sleep 0.1
    done
}
in_ns() { # HOST COMMAND...: runs COMMAND on that "host"
    local host=$1; shift
    ip netns exec "$(ns "$host")" "$@"
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-multihost.XXXXXX")
pids=()
cleanup() {
    local pid host
    for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    # Anything still running inside a namespace (a registry's children)...
    for host in "${hosts[@]}" br; do
        if [ -e "/run/netns/$(ns "$host")" ]; then
            for pid in $(ip netns pids "$(ns "$host")" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
            ip netns del "$(ns "$host")" 2>/dev/null
        fi
    done
    if [ "${FX_KEEP:-0}" != 0 ] || [ "$failed" -gt 0 ]; then
        echo "# work directory kept: $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

for exe in "$ferry_exe" "$agent_exe"; do
    [ -x "$exe" ] || { echo "not ok - $exe is not built (FERRY_BUILD_DIR=$build)"; exit 1; }
done
for tool in ip tc docker-registry curl "$python"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "not ok - $tool is missing"; exit 1; }
done

# --- the network ----------------------------------------------------------------------
if ! ip netns add "$(ns br)" 2>"$work/netns.err"; then
    echo "SKIP: cannot create network namespaces here: $(cat "$work/netns.err")"
    exit 77
fi
setup_net() {
    in_ns br ip link add br0 type bridge || return 1
    in_ns br ip link set br0 up || return 1
    in_ns br ip link set lo up || return 1
    local host addr
    for host in "${hosts[@]}"; do
        case $host in
            coord) addr=$coord_ip ;;
            src) addr=$src_ip ;;
            dst) addr=$dst_ip ;;
            a*) addr=$net.1${host#a} ;;
        esac
        ip netns add "$(ns "$host")" || return 1
        # eth0 on the host, p-HOST on the bridge: made inside their namespaces.
        ip link add eth0 netns "$(ns "$host")" type veth peer name "p-$host" netns "$(ns br)" || return 1
        in_ns br ip link set "p-$host" master br0 || return 1
        in_ns br ip link set "p-$host" up || return 1
        in_ns "$host" ip link set lo up || return 1
        in_ns "$host" ip addr add "$addr/24" dev eth0 || return 1
        in_ns "$host" ip link set eth0 up || return 1
    done
    # Each agent's link is capped both ways: uploads leave through its eth0,
    # downloads reach it through the bridge's end of the pair.
    local a
    for a in "${agents[@]}"; do
        in_ns "a$a" tc qdisc add dev eth0 root tbf rate 100mbit burst 256kb latency 50ms || return 1
        in_ns br tc qdisc add dev "p-a$a" root tbf rate 100mbit burst 256kb latency 50ms || return 1
    done
}
if ! setup_net >"$work/net.log" 2>&1; then
    not_ok "network set-up"; sed 's/^/    /' "$work/net.log"; exit 1
fi
ok "six hosts on a bridge, agents' links shaped to 100 mbit"

# --- the registries -------------------------------------------------------------------
start_registry() { # HOST ADDRESS
    local host=$1 addr=$2 dir=$work/registry-$1
    mkdir -p "$dir/storage"
    cat >"$dir/config.yml" <<EOF
version: 0.1
log: {level: info, formatter: text, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $dir/storage}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "$addr:5000", secret: ferry-multihost-secret}
EOF
    # Not through in_ns: $! must be the process itself, not a subshell.
    ip netns exec "$(ns "$host")" docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    pids+=($!)
    local i
    for i in $(seq 100); do
        in_ns coord curl -sf -o /dev/null "http://$addr:5000/v2/" && return 0
        sleep 0.1
    done
    echo "registry on $host did not answer:"; tail -20 "$dir/registry.log"
    return 1
}
check "source registry serves on $src_ip:5000" start_registry src "$src_ip"
check "target registry serves on $dst_ip:5000" start_registry dst "$dst_ip"
reach_all() { # every agent host reaches both registries across the bridge
    local a addr
    for a in "${agents[@]}"; do
        for addr in "$src_ip" "$dst_ip"; do
            in_ns "a$a" curl -sf -o /dev/null --max-time 5 "http://$addr:5000/v2/" || return 1
        done
    done
}
check "each agent host reaches both registries" reach_all

push_images() {
    local i
    for i in $(seq 0 $((images - 1))); do
        in_ns coord "$python" "$regfix" push --url "http://$src_ip:5000" --repo "mh/app$i" --tag v1 \
            --layers "$layers" --layer-size "$layer_size" >>"$work/push.log" 2>&1 || return 1
    done
}
if push_images; then ok "pushed $images images of $layers x $((layer_size / 1024 / 1024)) MiB layers"
else not_ok "pushing images"; tail -20 "$work/push.log"; exit 1; fi

# --- keys: CURVE off loopback ------------------------------------------------------------
keys_ok=1
"$ferry_exe" keygen "$work/coordinator.key" >/dev/null || keys_ok=0
: >"$work/allowed-agents"
for a in "${agents[@]}"; do
    pub=$("$agent_exe" keygen "$work/agent$a.key") || keys_ok=0
    echo "$pub  agent $a" >>"$work/allowed-agents"
done
check "key pairs for the coordinator and three agents" test "$keys_ok" = 1

# --- the migration --------------------------------------------------------------------
src=$src_ip:5000
dst=$dst_ip:5000
flags=(--insecure "$src" --insecure "$dst" --progress none)
started=$(date +%s%N)
ip netns exec "$(ns coord)" "$ferry_exe" mirror "$src" "$dst" "${flags[@]}" --listen "tcp://$coord_ip:$port" \
    --agents 3 --server-key "$work/coordinator.key" --allow-keys "$work/allowed-agents" \
    --report "$work/report.json" >"$work/coordinator.out" 2>"$work/coordinator.err" &
coord_pid=$!
pids+=($coord_pid)
agent_pids=()
for a in "${agents[@]}"; do
    ip netns exec "$(ns "a$a")" "$agent_exe" --connect "tcp://$coord_ip:$port" --server-key "$work/coordinator.key.pub" \
        --key "$work/agent$a.key" --id "agent-$a" --jobs 2 --log-level debug \
        >/dev/null 2>"$work/agent$a.log" &
    agent_pids+=($!)
    pids+=($!)
done
# At most 5 minutes (meson's timeout is 10).
wait_pid "$coord_pid" 300
coord_status=$status
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
elapsed=$((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000)))
if [ -z "$coord_status" ]; then
    not_ok "the coordinator did not finish within 5 minutes"; coord_status=124
fi
show_coordinator() { sed 's/^/    /' "$work/coordinator.out" "$work/coordinator.err" | tail -40; }
if [ "$coord_status" = 0 ]; then ok "the migration completed in ${elapsed} s (exit 0)"
else not_ok "the migration exited $coord_status"; show_coordinator; fi

want="Images: $images migrated, 0 already present, 0 failed"
check "summary: $want" grep -qxF "$want" "$work/coordinator.out"
blobs=$((images * (layers + 1)))
want="Blobs: $blobs copied, 0 mounted, 0 already present"
check "summary: $want" grep -qxF "$want" "$work/coordinator.out"
want="################# Finished, 0 transfer jobs failed, 0 normal urlPair generate failed, 0 jobs generate failed #################"
check "summary: nothing failed" grep -qxF "$want" "$work/coordinator.out"

for a in "${agents[@]}"; do
    check "agent-$a joined over CURVE" grep -qF "agent agent-$a joined" "$work/coordinator.err"
    tasks=$(grep -c "debug: task " "$work/agent$a.log")
    if [ "$tasks" -ge 1 ]; then ok "agent-$a ran $tasks task(s)"
    else not_ok "agent-$a ran no task"; sed 's/^/    /' "$work/agent$a.log" | tail -20; fi
    # The bytes went through its shaped link.
    sent=$(in_ns "a$a" tc -s qdisc show dev eth0 | awk '/Sent/ {print $2; exit}')
    if [ "${sent:-0}" -ge 1000000 ]; then ok "agent-$a uploaded ${sent} bytes through its 100 mbit tbf"
    else not_ok "agent-$a's tbf qdisc sent ${sent:-nothing}"; fi
done

# --- verify, from the coordinator's host ----------------------------------------------
in_ns coord "$ferry_exe" verify "$src" "$dst" "${flags[@]}" >"$work/verify.out" 2>"$work/verify.err"
verify_status=$?
want="verify: $images tag(s) identical, 0 difference(s), 0 repository listing(s) failed, 0 extra at the target"
if [ "$verify_status" = 0 ] && grep -qxF "$want" "$work/verify.out"; then ok "ferry verify: $want"
else not_ok "ferry verify exited $verify_status"; sed 's/^/    /' "$work/verify.out" "$work/verify.err"; fi

# --- the agents leave cleanly --------------------------------------------------------
for i in "${!agent_pids[@]}"; do
    kill -TERM "${agent_pids[$i]}" 2>/dev/null
done
stopped=1
for i in "${!agent_pids[@]}"; do
    wait_pid "${agent_pids[$i]}" 30
    [ "$status" = 0 ] || { stopped=0; echo "# agent-$((i + 1)) exited ${status:-(still running)}"; }
done
check "the agents stop on SIGTERM with status 0" test "$stopped" = 1
if grep -qE "Sanitizer|runtime error:" "$work"/coordinator.err "$work"/agent*.log "$work/verify.err"; then
    not_ok "sanitizer reports"; grep -lE "Sanitizer|runtime error:" "$work"/*.err "$work"/*.log
fi

echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
