#!/usr/bin/env bash
# End-to-end check of deploy/: the Kubernetes manifests against the Kubernetes
# schemas (offline), the compose file through podman-compose, the systemd unit
# through systemd-analyze, and the container image: built by
# deploy/build-image.sh from this build dir's binaries and run with podman as
# a non-root user (version, /run entry, default CMD, a long-running agent with
# CURVE keys, its HEALTHCHECK and a graceful stop).
#
# Environment: FERRY_BUILD_DIR (meson build dir, default build),
# FERRY_K8S_VALIDATE_DIR (npm validator, default /opt/ferry-tools/k8s-validate),
# FERRY_E2E_CONTAINERFILE=1 also builds deploy/Containerfile itself on a
# bookworm base made with mmdebstrap (needs Debian's mirror, about 2 minutes).
# Exit: 0 all passed, 1 a check failed, 77 (meson's skip) when a required
# tool cannot be installed.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=${FERRY_BUILD_DIR:-$top/build}
validate_dir=${FERRY_K8S_VALIDATE_DIR:-/opt/ferry-tools/k8s-validate}
deploy=$top/deploy
agent_exe=$build/agent/ferry-agent
ferry_exe=$build/coordinator/ferry

passed=0 failed=0 skipped=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
skip() { echo "SKIP - $*"; skipped=$((skipped + 1)); }
check() { # DESCRIPTION COMMAND...: ok when COMMAND exits 0, else shows its output
    local what=$1 out; shift
    if out=$("$@" 2>&1); then ok "$what"; else not_ok "$what"; printf '%s\n' "$out" | sed 's/^/    /' | tail -30; fi
}

work=$(mktemp -d "${TMPDIR:-/tmp}/ferry-e2e-deploy.XXXXXX")
store=(--root "$work/store/root" --runroot "$work/store/runroot" --storage-driver vfs)
agent_ctr=
cleanup() {
    [ -n "$agent_ctr" ] && podman "${store[@]}" rm -f -t 0 "$agent_ctr" >/dev/null 2>&1
    if [ -d "$work/store" ]; then
        # Only this test's private store: no `system reset`, which would also
        # remove the host's podman networks.
        podman "${store[@]}" rm -a -f -t 0 >/dev/null 2>&1
        buildah "${store[@]}" rm --all >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT

for exe in "$agent_exe" "$ferry_exe"; do
    [ -x "$exe" ] || { echo "not ok - $exe is not built (FERRY_BUILD_DIR=$build)"; exit 1; }
done

# Tools: install what is missing (root only); what still lacks is a skip.
if [ "$(id -u)" -eq 0 ]; then
    bash "$deploy/setup-containers.sh" || echo "# setup-containers.sh failed: checks needing its tools skip"
fi
have() { command -v "$1" >/dev/null 2>&1; }
missing_required=()

# --- Kubernetes manifests -------------------------------------------------------------
k8s_files=("$deploy"/k8s/*.yaml)
if have node && [ -f "$validate_dir/node_modules/kubernetes-models/package.json" ]; then
    cat >"$work/validate-k8s.mjs" <<'JS'
// Validates Kubernetes manifests offline with kubernetes-models (validators
// compiled from the official OpenAPI schemas), then checks that the objects
// fit together: selectors, Service ports, Secrets and the agents' endpoint.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { basename } from "node:path";
const [validateDir, ...files] = process.argv.slice(2);
const { parseAllDocuments } = await import(pathToFileURL(`${validateDir}/node_modules/yaml/dist/index.js`));
let failures = 0;
const fail = (msg) => { console.log(`  ${msg}`); failures++; };
const objects = [];
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" })) {
    if (doc.errors.length) { fail(`${basename(file)}: ${doc.errors[0].message}`); continue; }
    const obj = doc.toJS();
    if (obj === null) continue;
    if (obj.apiVersion?.startsWith("kustomize.config.k8s.io/")) {
      for (const r of obj.resources ?? [])
        if (!files.some((f) => basename(f) === r)) fail(`kustomization lists missing file ${r}`);
      for (const f of files)
        if (basename(f) !== "kustomization.yaml" && !(obj.resources ?? []).includes(basename(f)))
          fail(`kustomization does not list ${basename(f)}`);
      continue;
    }
    const [group, version] = obj.apiVersion?.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
    const modPath = `${validateDir}/node_modules/kubernetes-models/${group ? group + "/" : ""}${version}/${obj.kind}.js`;
    let Model;
    try { Model = (await import(pathToFileURL(modPath)))[obj.kind]; }
    catch { fail(`${basename(file)}: no schema for ${obj.apiVersion} ${obj.kind}`); continue; }
    try { new Model(obj).validate(); objects.push(obj); console.log(`  valid ${obj.apiVersion} ${obj.kind}/${obj.metadata.name}`); }
    catch (e) { fail(`${basename(file)} ${obj.kind}/${obj.metadata?.name}: ${e.message}`); }
  }
}
const find = (kind, name) => objects.find((o) => o.kind === kind && (!name || o.metadata.name === name));
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
const deploy = find("Deployment"), job = find("Job"), svc = find("Service"), np = find("NetworkPolicy");
if (!deploy || !job || !svc || !np) fail("need a valid Deployment (agents), Job (coordinator), Service and NetworkPolicy");
else {
  const agentLabels = deploy.spec.template.metadata.labels, coordLabels = job.spec.template.metadata.labels;
  if (!matches(deploy.spec.selector.matchLabels, agentLabels)) fail("Deployment selector does not match its pods");
  if (!(deploy.spec.replicas > 1)) fail("agents: want several replicas");
  const anti = deploy.spec.template.spec.affinity?.podAntiAffinity;
  const terms = [...(anti?.requiredDuringSchedulingIgnoredDuringExecution ?? []),
    ...(anti?.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => t.podAffinityTerm)];
  if (!terms.some((t) => t.topologyKey === "kubernetes.io/hostname" && matches(t.labelSelector.matchLabels, agentLabels)))
    fail("agents: no podAntiAffinity over kubernetes.io/hostname selecting the agents");
  for (const c of deploy.spec.template.spec.containers)
    if (!c.resources?.requests || !c.resources?.limits) fail(`agent container ${c.name}: no resource requests and limits`);
  if (!matches(svc.spec.selector, coordLabels) || matches(svc.spec.selector, agentLabels))
    fail("Service does not select exactly the coordinator's pods");
  const port = svc.spec.ports[0].port;
  const args = deploy.spec.template.spec.containers[0].args.join(" ");
  if (!args.includes(`--connect=tcp://${svc.metadata.name}:${port}`)) fail(`agents do not connect to tcp://${svc.metadata.name}:${port}`);
  for (const flag of ["--server-key=", "--key="]) if (!args.includes(flag)) fail(`agents: no ${flag} (CURVE)`);
  const cargs = job.spec.template.spec.containers[0].args.join(" ");
  for (const flag of [`--listen=tcp://0.0.0.0:${port}`, "--server-key=", "--allow-keys="])
    if (!cargs.includes(flag)) fail(`coordinator: no ${flag}`);
  if (!matches(np.spec.podSelector.matchLabels, coordLabels)) fail("NetworkPolicy does not select the coordinator");
  const rules = np.spec.ingress ?? [];
  if (rules.length !== 1 || rules[0].from?.length !== 1 || !matches(rules[0].from[0].podSelector?.matchLabels, agentLabels)
      || matches(rules[0].from[0].podSelector?.matchLabels, coordLabels) || rules[0].from[0].ipBlock || rules[0].from[0].namespaceSelector
      || rules[0].ports?.length !== 1 || rules[0].ports[0].port !== port)
    fail(`NetworkPolicy must admit only agent pods, only on port ${port}`);
  for (const pod of [deploy.spec.template.spec, job.spec.template.spec]) {
    if (!pod.securityContext?.runAsNonRoot) fail("a pod may run as root");
    const refs = [...(pod.volumes ?? []).filter((v) => v.secret).map((v) => v.secret.secretName),
      ...pod.containers.flatMap((c) => (c.env ?? []).map((e) => e.valueFrom?.secretKeyRef?.name).filter(Boolean))];
    for (const name of refs) if (!find("Secret", name)) fail(`Secret ${name} is referenced but not defined`);
  }
}
process.exit(failures ? 1 : 0);
JS
    check "k8s: manifests valid against the Kubernetes OpenAPI schemas (kubernetes-models), objects consistent" \
        node "$work/validate-k8s.mjs" "$validate_dir" "${k8s_files[@]}"
else
    missing_required+=("node + npm kubernetes-models")
    skip "k8s: node or kubernetes-models in $validate_dir missing (deploy/setup-containers.sh installs them)"
fi

# Unknown fields (a typo such as podAntiAfinity) pass the schemas above, which
# allow extra properties; the Kubernetes Python client's models list every field.
if /usr/bin/python3 -c 'import kubernetes.client, yaml' 2>/dev/null; then
    cat >"$work/strict-k8s.py" <<'PY'
"""Rejects fields that the Kubernetes API types do not have (kubeconform -strict)."""
import re, sys, yaml
import kubernetes.client as k

def walk(value, type_name, path, errors):
    if value is None:
        return
    m = re.fullmatch(r"list\[(.+)\]", type_name)
    if m:
        for i, item in enumerate(value if isinstance(value, list) else []):
            walk(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_name)
    if m:
        for key, item in (value.items() if isinstance(value, dict) else []):
            walk(item, m.group(1), f"{path}.{key}", errors)
        return
    model = getattr(k, type_name, None)
    if model is None or not isinstance(value, dict):
        return  # a primitive: types are the schema validator's job
    by_json = {json: attr for attr, json in model.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field of {type_name}")
        else:
            walk(item, model.openapi_types[by_json[key]], f"{path}.{key}", errors)

errors = []
for path in sys.argv[1:]:
    with open(path) as f:
        for obj in yaml.safe_load_all(f):
            if not obj or obj.get("apiVersion", "").startswith("kustomize.config.k8s.io/"):
                continue
            version = obj["apiVersion"].split("/")[-1]
            type_name = version[0].upper() + version[1:] + obj["kind"]
            if not hasattr(k, type_name):
                errors.append(f"{path}: no model {type_name}")
                continue
            walk(obj, type_name, f"{path.rsplit('/', 1)[-1]}:{obj['kind']}", errors)
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY
    check "k8s: no unknown fields (Kubernetes Python client's API models)" \
        /usr/bin/python3 "$work/strict-k8s.py" "${k8s_files[@]}"
else
    missing_required+=(python3-kubernetes)
    skip "k8s: python3-kubernetes missing: unknown fields not checked"
fi

# --- compose ------------------------------------------------------------------------------
if have podman-compose && /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    mkdir -p "$work/compose/keys"
    cp "$deploy/compose.yaml" "$work/compose/"
    for n in coordinator agent-1 agent-2 agent-3; do
        "$agent_exe" keygen "$work/compose/keys/$n.key" >/dev/null
    done
    cat "$work/compose/keys"/agent-*.key.pub >"$work/compose/keys/agents.allow"
    compose_check() {
        /usr/bin/python3 - "$work/compose/compose.yaml" <<'PY' || return 1
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
svc, errors = doc.get("services", {}), []
agents = [n for n in svc if n.startswith("agent")]
if "coordinator" not in svc: errors.append("no coordinator service")
if len(agents) != 3: errors.append(f"want 3 agents, have {agents}")
coord = " ".join(svc.get("coordinator", {}).get("command", []))
for flag in ("--listen=tcp://0.0.0.0:7400", "--server-key=/run/secrets/", "--allow-keys=/run/secrets/"):
    if flag not in coord: errors.append(f"coordinator: no {flag}")
for n in agents:
    cmd = " ".join(svc[n].get("command", []))
    for flag in ("--connect=tcp://coordinator:7400", "--server-key=/run/secrets/", "--key=/run/secrets/"):
        if flag not in cmd: errors.append(f"{n}: no {flag}")
    for s in svc[n].get("secrets", []):
        if s not in doc.get("secrets", {}): errors.append(f"{n}: undeclared secret {s}")
keys = {s for n in agents for s in svc[n]["secrets"] if s != "coordinator_pub"}
if len(keys) != 3: errors.append("each agent should have its own key secret")
print("\n".join("  " + e for e in errors))
sys.exit(1 if errors else 0)
PY
        # podman-compose 1.0 has no `config`: --dry-run parses the file and
        # prints the podman commands it would run, secrets mounts included. It
        # still runs `podman volume/network` commands: a stub podman keeps the
        # host's networks and volumes untouched.
        printf '#!/bin/sh\n[ "$1" = --version ] && echo "podman version %s"\nexit 0\n' \
            "$(podman --version 2>/dev/null | awk '{print $3}')" >"$work/compose/podman-stub"
        chmod +x "$work/compose/podman-stub"
        local out
        out=$(cd "$work/compose" && podman-compose --podman-path "$work/compose/podman-stub" \
            --dry-run -f compose.yaml up -d 2>&1) || { echo "$out"; return 1; }
        for n in coordinator agent-1 agent-2 agent-3; do
            grep -q -- "--name=compose_${n}_1 " <<<"$out" || { echo "  podman-compose: no container for $n"; echo "$out"; return 1; }
        done
        grep -q -- '--volume ./keys/agent-2.key:/run/secrets/agent_2_key:ro' <<<"$out" &&
            grep -q -- '-p 7400:7400' <<<"$out" || { echo "  podman-compose: secrets or port missing"; echo "$out"; return 1; }
    }
    check "compose: coordinator and three agents with CURVE key secrets (podman-compose --dry-run up)" compose_check
else
    missing_required+=(podman-compose)
    skip "compose: podman-compose or python3-yaml missing"
fi

# --- systemd -------------------------------------------------------------------------------
if have systemd-analyze; then
    mkdir -p "$work/systemd"
    # verify wants ExecStart's program to exist: point it at this build's agent.
    sed "s|/usr/local/bin/ferry-agent|$agent_exe|" "$deploy/systemd/ferry-agent.service" >"$work/systemd/ferry-agent.service"
    sed "s|/usr/local/bin/ferry |$ferry_exe |" "$deploy/systemd/ferry-watch.service" >"$work/systemd/ferry-watch.service"
    unit_check() { # UNIT
        local out unit=$work/systemd/$1
        out=$(systemd-analyze verify "$unit" 2>&1) || { echo "$out"; return 1; }
        [ -z "$out" ] || { echo "$out"; return 1; } # warnings count as failures
        for d in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
            PrivateDevices=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' SystemCallFilter=@system-service \
            'CapabilityBoundingSet=$' MemoryMax= Restart=on-failure; do
            grep -q "^$d" "$unit" || { echo "  missing $d"; return 1; }
        done
    }
    check "systemd: ferry-agent.service verifies, hardening present" unit_check ferry-agent.service
    check "systemd: ferry-watch.service verifies, hardening present" unit_check ferry-watch.service
else
    skip "systemd: systemd-analyze not available (optional)"
fi

# --- the image ----------------------------------------------------------------------------
if have buildah && have podman && [ -x /usr/sbin/runc ]; then
    printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n' >"$work/containers.conf"
    export CONTAINERS_CONF=$work/containers.conf
    image=localhost/ferry-e2e:$$
    podman_run() { podman "${store[@]}" --runtime /usr/sbin/runc run --rm --network host "${run_env[@]}" "$@" 2>"$work/podman.err"; }
    run_env=()
    # An ASan build's binaries would otherwise run LeakSanitizer at exit in the container.
    ldd "$agent_exe" | grep -q libasan && run_env=(-e ASAN_OPTIONS=detect_leaks=0)

    t0=$(date +%s)
    if out=$("$deploy/build-image.sh" -b "$build" -t "$image" "${store[@]:0:4}" 2>&1); then
        ok "image: deploy/build-image.sh built $image FROM scratch in $(($(date +%s) - t0))s"

        want=$("$agent_exe" --version)
        got=$(podman_run "$image" ferry-agent --version)
        [ "$got" = "$want" ] && ok "image: ferry-agent --version in the container: $got" ||
            { not_ok "image: ferry-agent --version: got '$got', want '$want'"; cat "$work/podman.err"; }

        # id(1) is not in the image: read the uid from /proc with the shell's builtins.
        uid=$(podman_run "$image" sh -c 'while read -r k v _; do [ "$k" = Uid: ] && echo "$v"; done </proc/self/status')
        user=$(podman "${store[@]}" image inspect --format '{{.Config.User}}' "$image")
        [ -n "$uid" ] && [ "$uid" != 0 ] && [ "${user%%:*}" = "$uid" ] &&
            ok "image: runs as non-root uid $uid (Config.User $user)" ||
            { not_ok "image: uid inside '$uid', Config.User '$user'"; cat "$work/podman.err"; }

        want=$("$ferry_exe" ccr2tcr --help 2>&1); want_rc=$?
        got=$(podman_run "$image" /run --help 2>&1); got_rc=$?
        [ "$got" = "$want" ] && [ "$got_rc" = "$want_rc" ] && [ -n "$got" ] &&
            ok "image: '/run --help' runs 'ferry ccr2tcr --help' (exit $got_rc)" ||
            { not_ok "image: '/run --help' (exit $got_rc) differs from ferry ccr2tcr --help (exit $want_rc)"; echo "$got" | head -5; cat "$work/podman.err"; }

        got=$(podman_run "$image" | head -1)
        [[ $got == "Usage: ferry-agent"* ]] && ok "image: default CMD is ferry-agent --help" ||
            { not_ok "image: default CMD printed '$got'"; cat "$work/podman.err"; }

        # A long-running agent with CURVE keys mounted read-only, as compose and
        # Kubernetes run it; nothing listens on the port, so it keeps reconnecting.
        agent_long_run() {
            mkdir -p "$work/keys"
            "$agent_exe" keygen "$work/keys/coordinator.key" >/dev/null &&
                "$agent_exe" keygen "$work/keys/agent.key" >/dev/null || return 1
            chown -R "$uid" "$work/keys"
            local port=$((20000 + $$ % 20000))
            agent_ctr=$(podman "${store[@]}" --runtime /usr/sbin/runc run -d --network host --read-only \
                --cap-drop ALL --security-opt no-new-privileges "${run_env[@]}" \
                -v "$work/keys:/keys:ro" "$image" ferry-agent --connect "tcp://127.0.0.1:$port" --jobs 2 \
                --server-key /keys/coordinator.key.pub --key /keys/agent.key --grace 2 2>"$work/podman.err") ||
                { cat "$work/podman.err"; return 1; }
            sleep 2
            local state
            state=$(podman "${store[@]}" inspect --format '{{.State.Status}}' "$agent_ctr")
            [ "$state" = running ] || { echo "  agent container is $state"; podman "${store[@]}" logs "$agent_ctr"; return 1; }
            podman "${store[@]}" --runtime /usr/sbin/runc healthcheck run "$agent_ctr" >/dev/null 2>&1 ||
                { echo "  HEALTHCHECK failed"; return 1; }
            podman "${store[@]}" stop -t 15 "$agent_ctr" >/dev/null 2>&1
            local code
            code=$(podman "${store[@]}" inspect --format '{{.State.ExitCode}}' "$agent_ctr")
            [ "$code" = 0 ] || { echo "  agent exited $code after SIGTERM"; podman "${store[@]}" logs "$agent_ctr"; return 1; }
        }
        check "image: agent runs read-only, no capabilities, CURVE keys mounted; HEALTHCHECK healthy; SIGTERM exits 0" agent_long_run

        # The containerised agent does a real migration: ferry listens on
        # loopback, waits for one agent, and only the container is there to
        # move the bytes between two real registries; ferry verify agrees.
        agent_migrates() {
            local regfix="/usr/bin/python3 $top/tests/fixtures/regfix.py"
            mkdir -p "$work/mig/src" "$work/mig/dst"
            local src dst
            src=$($regfix start --flavour anon --dir "$work/mig/src" --watch-pid $$ | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["host"])') || return 1
            dst=$($regfix start --flavour anon --dir "$work/mig/dst" --watch-pid $$ | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["host"])') || return 1
            for repo in box/one box/two; do
                $regfix push --url "http://$src" --repo "$repo" --tag v1 --layers 2 --layer-size 300000 >/dev/null || return 1
            done
            local port=$((40000 + $$ % 20000))
            timeout 120 "$ferry_exe" mirror "$src" "$dst" --insecure "$src" --insecure "$dst" --listen "tcp://127.0.0.1:$port" \
                --agents 1 --insecure-control --progress none >"$work/mig/ferry.out" 2>"$work/mig/ferry.err" &
            local ferry_pid=$!
            local ctr
            ctr=$(podman "${store[@]}" --runtime /usr/sbin/runc run -d --network host "${run_env[@]}" "$image" \
                ferry-agent --connect "tcp://127.0.0.1:$port" --jobs 4 --id container-agent 2>"$work/podman.err") ||
                { cat "$work/podman.err"; kill "$ferry_pid"; return 1; }
            local rc=0
            wait "$ferry_pid" || rc=$?
            podman "${store[@]}" stop -t 10 "$ctr" >/dev/null 2>&1
            local logs
            logs=$(podman "${store[@]}" logs "$ctr" 2>&1)
            podman "${store[@]}" rm -f "$ctr" >/dev/null 2>&1
            local verify_rc=0
            "$ferry_exe" verify "$src" "$dst" --insecure "$src" --insecure "$dst" --progress none \
                >"$work/mig/verify.out" 2>&1 || verify_rc=$?
            $regfix stop --dir "$work/mig/src" >/dev/null; $regfix stop --dir "$work/mig/dst" >/dev/null
            [ "$verify_rc" = 0 ] || { echo "  ferry verify exited $verify_rc"; cat "$work/mig/verify.out"; return 1; }
            [ "$rc" = 0 ] || { echo "  ferry exited $rc"; cat "$work/mig/ferry.err"; echo "$logs"; return 1; }
            grep -q "agent container-agent joined" "$work/mig/ferry.err" || { echo "  the container never joined"; cat "$work/mig/ferry.err"; return 1; }
            grep -q "Images: 2 migrated, 0 already present, 0 failed" "$work/mig/ferry.out" || { cat "$work/mig/ferry.out"; return 1; }
            tail -1 "$work/mig/ferry.out" | grep -q "Finished, 0 transfer jobs failed, 0 normal urlPair generate failed, 0 jobs generate failed" || return 1
        }
        check "image: the containerised agent joins a real migration and moves every blob" agent_migrates
    else
        not_ok "image: deploy/build-image.sh failed"
        printf '%s\n' "$out" | tail -20 | sed 's/^/    /'
    fi

    if [ "${FERRY_E2E_CONTAINERFILE:-0}" = 1 ]; then
        containerfile_build() {
            have mmdebstrap || { echo "  mmdebstrap missing"; return 1; }
            mmdebstrap --quiet --variant=minbase --mode=root bookworm "$work/bookworm.tar" || return 1
            podman "${store[@]}" import "$work/bookworm.tar" localhost/bookworm-local:e2e >/dev/null || return 1
            buildah "${store[@]}" bud --isolation chroot --network host --format docker \
                --build-arg DEBIAN_IMAGE=localhost/bookworm-local:e2e -f "$deploy/Containerfile" \
                -t localhost/ferry-containerfile:e2e "$top" >"$work/containerfile.log" 2>&1 ||
                { tail -30 "$work/containerfile.log"; return 1; }
            [ "$(podman_run localhost/ferry-containerfile:e2e id -u)" = 10001 ] || return 1
            podman_run localhost/ferry-containerfile:e2e /run --help >/dev/null
        }
        check "Containerfile: builds on a local bookworm base; runs as uid 10001; /run works" containerfile_build
    fi
else
    missing_required+=("buildah podman runc")
    skip "image: buildah, podman or /usr/sbin/runc missing"
fi

echo "# deploy: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -gt 0 ] && exit 1
if [ ${#missing_required[@]} -gt 0 ]; then
    echo "SKIP: cannot install ${missing_required[*]}"
    exit 77
fi
exit 0
