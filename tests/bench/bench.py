#!/usr/bin/python3
"""bench — ferry against skopeo and against the raw limit, all measured in one run.

Run through tests/bench/run.sh (see tests/bench/README.md). Starts its own
docker-registry processes, seeds them with seed.py, times every contender
against a fresh empty target and prints one table of ratios with the targets
of the issue "Speed at the limit". Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
SEED = os.path.join(HERE, "seed.py")
RAWPIPE = os.path.join(HERE, "rawpipe.sh")
MiB = 1 << 20

# Sizes: (quick, full).
SIZES = {
    "small": ({"ns": 4, "repos": 5, "tags": 5, "base": 4 * MiB, "repo": 1 * MiB, "tag": 256 << 10},
              {"ns": 4, "repos": 5, "tags": 5, "base": 20 * MiB, "repo": 4 * MiB, "tag": 1 * MiB}),
    "big": ({"size": 256 * MiB}, {"size": 1024 * MiB}),
    "tags": ({"repos": 40, "tags": 10, "manifests": 3, "layer": 2048},
             {"repos": 200, "tags": 50, "manifests": 3, "layer": 2048}),
    # Scaling: equal blobs, enough of them for 4 agents x 8 jobs.
    "scale": ({"ns": 2, "repos": 4, "tags": 4, "tag": 2 * MiB},
              {"ns": 2, "repos": 4, "tags": 6, "tag": 4 * MiB}),
}


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


# --- processes --------------------------------------------------------------------------

class Procs:
    """Every long-running process this run started, stopped by pid at exit."""

    def __init__(self):
        self.pids = []

    def spawn(self, argv, log_path, netns=None):
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv   # ip execs: the pid stays the program's
        with open(log_path, "ab") as logf, open(os.devnull, "rb") as devnull:
            p = subprocess.Popen(argv, stdin=devnull, stdout=logf, stderr=logf,
                                 start_new_session=True, close_fds=True)
        self.pids.append(p)
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.pids:
            self.pids.remove(p)

    def stop_all(self):
        for p in list(self.pids):
            self.stop(p, 3.0)


PROCS = Procs()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run_timed(argv, log_path, netns=None, rss=False, env=None):
    """Runs argv to its end; returns (seconds, exit status, peak RSS KiB or None)."""
    rss_file = log_path + ".rss"
    if rss:
        argv = ["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    with open(log_path, "ab") as logf:
        logf.write(("$ %s\n" % " ".join(argv)).encode())
        logf.flush()
        start = time.monotonic()
        rc = subprocess.call(argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        secs = time.monotonic() - start
    peak = None
    if rss:
        try:
            with open(rss_file) as f:
                peak = int(f.read().split()[-1])
        except (OSError, ValueError, IndexError):
            pass
    return secs, rc, peak


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# --- registries -------------------------------------------------------------------------

# Where the registries keep their blobs: a directory on tmpfs (--storage memory) or
# None, each registry's own directory under the work directory (--storage disk).
STORAGE_ROOT = None

# {"ca", "crt", "key"}: one CA and one server certificate (127.0.0.1 and the scaling hub's
# address) for every registry; None with --plain.
TLS = None


def hub_ip():
    """The scaling hub's address: this run's, so that the certificate can name it."""
    return "10.231.%d.1" % (os.getpid() % 250)


def make_tls(workdir):
    """A CA and a server certificate for 127.0.0.1 and the scaling hub, made with the
    openssl command. Every client finds the CA through the environment: SSL_CERT_FILE
    (Python, skopeo) and CURL_CA_BUNDLE (curl); ferry is given --ca-file and passes it
    to its agents."""
    d = os.path.join(workdir, "tls")
    os.makedirs(d, exist_ok=True)
    f = {k: os.path.join(d, k + ext) for k, ext in
         (("ca", ".crt"), ("ca_key", ".key"), ("crt", ".crt"), ("key", ".key"), ("csr", ".csr"),
          ("ext", ".ext"))}
    f["crt"], f["key"] = os.path.join(d, "server.crt"), os.path.join(d, "server.key")
    with open(f["ext"], "w") as e:
        e.write("subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost\n" % hub_ip())
    for argv in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f["ca_key"],
                  "-out", f["ca"], "-days", "7", "-subj", "/CN=ferry-bench-ca"],
                 ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f["key"], "-out", f["csr"],
                  "-subj", "/CN=127.0.0.1"],
                 ["x509", "-req", "-in", f["csr"], "-CA", f["ca"], "-CAkey", f["ca_key"],
                  "-CAcreateserial", "-out", f["crt"], "-days", "7", "-extfile", f["ext"]]):
        if subprocess.call(["openssl"] + argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) != 0:
            raise BenchError("openssl %s failed" % argv[0])
    os.environ["SSL_CERT_FILE"] = f["ca"]
    os.environ["CURL_CA_BUNDLE"] = f["ca"]
    return {"ca": f["ca"], "crt": f["crt"], "key": f["key"]}


class Registry:
    """One docker-registry with its own storage, optionally inside a network namespace."""

    def __init__(self, workdir, name, addr=None, netns=None):
        self.dir = os.path.join(workdir, name)
        self.storage = os.path.join(STORAGE_ROOT or self.dir, name if STORAGE_ROOT else "storage")
        self.netns = netns
        self.addr = addr or "127.0.0.1:%d" % free_port()
        self.tls = TLS
        self.url = ("https://" if self.tls else "http://") + self.addr
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.storage, exist_ok=True)
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write("version: 0.1\n"
                    "log: {level: error, accesslog: {disabled: true}}\n"
                    "storage:\n"
                    "  filesystem: {rootdirectory: %s}\n"
                    "  delete: {enabled: true}\n"
                    "  maintenance: {uploadpurging: {enabled: false}}\n"
                    "http: {addr: \"%s\", secret: ferry-bench-secret%s}\n"
                    % (self.storage, self.addr,
                       ", tls: {certificate: %s, key: %s}" % (self.tls["crt"], self.tls["key"])
                       if self.tls else ""))
        self.proc = PROCS.spawn(["docker-registry", "serve", cfg],
                                os.path.join(self.dir, "registry.log"), self.netns)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if self.probe():
                return self
            time.sleep(0.05)
        raise BenchError("registry %s did not start: %s"
                         % (self.addr, tail(os.path.join(self.dir, "registry.log"))))

    def probe(self):
        if self.netns:
            return subprocess.call(["ip", "netns", "exec", self.netns, "curl", "-sf", "-o",
                                    "/dev/null", self.url + "/v2/"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
        try:
            with urllib.request.urlopen(self.url + "/v2/", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def destroy(self):
        if self.proc:
            PROCS.stop(self.proc)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.storage, ignore_errors=True)

    def count(self):
        out = py_json([PYTHON, SEED, "count", "--url", self.url], self.netns)
        return out["repositories"], out["tags"]


def py_json(argv, netns=None):
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out = json.loads(r.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("%s: %s" % (" ".join(argv[:4]), r.stderr.decode(errors="replace")[-800:]))
    if r.returncode != 0 or "error" in out:
        raise BenchError("%s: %s" % (" ".join(argv[:4]), out.get("error")))
    return out


# --- the bench --------------------------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.quick = a.quick
        self.work = a.workdir
        self.ferry = os.path.join(a.build, "coordinator", "ferry")
        self.agent = os.path.join(a.build, "agent", "ferry-agent")
        self.logs = os.path.join(self.work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.results = {}      # name -> list of seconds
        self.notes = []        # things that looked wrong
        self.rows = []
        self.serial = 0
        self.sets = {}

    def size(self, name):
        return SIZES[name][0 if self.quick else 1]

    def note(self, msg):
        log("NOTE: " + msg)
        self.notes.append(msg)

    def logpath(self, name):
        self.serial += 1
        return os.path.join(self.logs, "%03d-%s.log" % (self.serial, name))

    def fresh_target(self, name, addr=None, netns=None):
        return Registry(self.work, "dst-%s-%d" % (name, self.serial + 1), addr, netns).start()

    def record(self, key, secs):
        """Keeps a measurement; None (a failed run) is left out of the medians."""
        if secs is not None:
            self.results.setdefault(key, []).append(secs)

    def median(self, key):
        v = self.results.get(key)
        return statistics.median(v) if v else None

    def check(self, what, target, want_tags, logf):
        repos, tags = target.count()
        if tags != want_tags:
            self.note("%s: target has %d tags in %d repositories, expected %d (log %s)"
                      % (what, tags, repos, want_tags, logf))
            return False
        return True

    # seeding

    def seed(self, name, reg, argv):
        blobs = os.path.join(self.work, "%s.blobs" % name)
        out = py_json([PYTHON, SEED] + argv + ["--url", reg.url, "--blobs", blobs], reg.netns)
        out["blob_list"] = blobs
        log("seeded %s: %s" % (name, out))
        self.sets[name] = out
        return out

    def seed_small(self, reg, name="small", size=None):
        s = size or self.size("small")
        return self.seed(name, reg, ["images", "--ns", str(s["ns"]), "--repos", str(s["repos"]),
                                     "--tags", str(s["tags"]), "--base-size", str(s.get("base", 0)),
                                     "--repo-size", str(s.get("repo", 0)),
                                     "--tag-size", str(s.get("tag", 0)), "--seed", name])

    # contenders

    def insecure(self, *regs):
        """ferry's flags for these registries: --insecure for plain HTTP, the CA for TLS."""
        out = []
        for r in regs:
            out += ["--insecure", r.addr] if not r.tls else []
        if any(r.tls for r in regs):
            out += ["--ca-file", TLS["ca"]]
        return out

    @staticmethod
    def skopeo_tls(src, dst):
        """skopeo verifies TLS registries (the CA is in SSL_CERT_FILE)."""
        return ([] if src.tls else ["--src-tls-verify=false"]) + \
            ([] if dst.tls else ["--dest-tls-verify=false"])

    def ferry_mirror(self, key, src, dst, extra=(), want=None, netns=None):
        logf = self.logpath(key)
        argv = [self.ferry, "mirror", src.addr, dst.addr] + self.insecure(src, dst) + \
            ["--jobs", str(self.a.jobs), "--progress", "none"] + list(extra)
        secs, rc, peak = run_timed(argv, logf, netns=netns, rss=True)
        ok = rc == 0
        if rc != 0:
            self.note("%s: ferry exited %d: %s" % (key, rc, tail(logf, 5).strip()))
        if want is not None:
            ok = self.check(key, dst, want, logf) and ok
        log("%s: %.2fs (peak RSS %s KiB)" % (key, secs, peak))
        return (secs if ok else None), peak

    def skopeo_sync(self, key, src, dst, repos, want=None):
        """skopeo sync takes one source repository per call (the docker transport does not
        list a registry); DST/ns receives SRC/ns/repo as ns/repo, like ferry's mirror."""
        logf = self.logpath(key)
        total = 0.0
        for repo in repos:
            ns = repo.rsplit("/", 1)[0]
            argv = ["skopeo", "sync", "--all", "--preserve-digests", "--src", "docker",
                    "--dest", "docker"] + self.skopeo_tls(src, dst) + \
                ["%s/%s" % (src.addr, repo), "%s/%s" % (dst.addr, ns)]
            secs, rc, _ = run_timed(argv, logf)
            total += secs
            if rc != 0:
                self.note("%s: skopeo sync %s exited %d" % (key, repo, rc))
                break
        if want is not None:
            self.check(key, dst, want, logf)
        log("%s: %.2fs" % (key, total))
        return total

    def raw(self, key, src, dst, blob_list, mode="buffer", jobs=None, quiet=False):
        """Raw pipes for every blob of blob_list; returns (seconds, succeeded)."""
        logf = self.logpath(key)
        argv = ["sh", "-c", "awk '{print $1, $2}' \"$0\" | xargs -P %d -n 2 sh %s %s %s %s"
                % (jobs or self.a.jobs, RAWPIPE, mode, src.url, dst.url), blob_list]
        secs, rc, _ = run_timed(argv, logf)
        if rc != 0 and not quiet:
            self.note("%s: raw pipes failed (%d): %s" % (key, rc, tail(logf, 5).strip()))
        log("%s: %.2fs" % (key, secs))
        return secs, rc == 0

    def raw_keepalive(self, key, src, dst, blob_list):
        """The same bytes through Python keep-alive pipes (no process per blob)."""
        logf = self.logpath(key)
        argv = [PYTHON, SEED, "pipe", "--url", src.url, "--to", dst.url, "--blobs", blob_list,
                "--jobs", str(self.a.jobs)]
        secs, rc, _ = run_timed(argv, logf)
        if rc != 0:
            self.note("%s: keep-alive pipes failed (%d): %s" % (key, rc, tail(logf, 3).strip()))
        log("%s: %.2fs" % (key, secs))
        return secs, rc == 0

    # sets

    def repos_of(self, name):
        with open(self.sets[name]["blob_list"]) as f:
            return sorted({line.split()[0] for line in f})

    def many_small(self):
        src = Registry(self.work, "src-small").start()
        s = self.seed_small(src)
        want = s["tags"]
        repos = self.all_repos(src)
        for rep in range(self.a.reps):
            dst = self.fresh_target("ferry")
            t, peak = self.ferry_mirror("small-ferry", src, dst, want=want)
            self.record("small-ferry", t)
            self.record("rss-coord-inproc", peak or 0)
            t, _ = self.ferry_mirror("rerun-ferry", src, dst, want=want)
            self.record("rerun-ferry", t)
            # The same re-run with a journal: one run finds every tag at the target and
            # journals it (as the first run would have, given --journal), the next asks
            # the source only.
            journal = ["--journal", os.path.join(self.work, "rerun-%d.jnl" % rep)]
            self.ferry_mirror("rerun-journal-first", src, dst, extra=journal, want=want)
            t, _ = self.ferry_mirror("rerun-journal", src, dst, extra=journal, want=want)
            self.record("rerun-journal", t)
            dst.destroy()
            if rep < self.a.skopeo_reps:
                dst = self.fresh_target("skopeo")
                self.record("small-skopeo", self.skopeo_sync("small-skopeo", src, dst, repos, want))
                self.record("rerun-skopeo", self.skopeo_sync("rerun-skopeo", src, dst, repos, want))
                dst.destroy()
            dst = self.fresh_target("raw")
            t, ok = self.raw("small-raw", src, dst, s["blob_list"])
            if ok:
                self.record("small-raw", t)
            dst.destroy()
            dst = self.fresh_target("rawka")
            t, ok = self.raw_keepalive("small-rawka", src, dst, s["blob_list"])
            if ok:
                self.record("small-rawka", t)
            dst.destroy()
        self.src_small = src

    def all_repos(self, reg):
        c = py_json([PYTHON, "-c", "import json,sys;sys.path.insert(0,%r);import seed;"
                     "c=seed.Conn(%r);print(json.dumps({'r':seed.list_all(c,'/v2/_catalog?n=1000',"
                     "'repositories')}))" % (HERE, reg.url)], reg.netns)
        return c["r"]

    def big_blob(self):
        src = Registry(self.work, "src-big").start()
        s = self.size("big")
        self.seed("big", src, ["big", "--repo", "big/blob", "--tag", "v1", "--size", str(s["size"])])
        with open(self.sets["big"]["blob_list"]) as f:
            layer = [line.split() for line in f if int(line.split()[2]) == s["size"]]
        # Chunked PUT is what makes a true pipe: find out whether this registry takes it,
        # with the (tiny) config blob.
        mode = "stream"
        probe = self.fresh_target("probe")
        small_list = os.path.join(self.work, "probe.blobs")
        with open(self.sets["big"]["blob_list"]) as f, open(small_list, "w") as g:
            g.write(min(f.readlines(), key=lambda x: int(x.split()[2])))
        _, ok = self.raw("big-probe", src, probe, small_list, mode="stream", quiet=True)
        if not ok:
            mode = "file"
            self.note("the registry refused a chunked PUT: big-blob raw reference downloads to a "
                      "file first (not a pipe)")
        probe.destroy()
        self.big_mode = mode
        layer_list = os.path.join(self.work, "big-layer.blobs")
        with open(layer_list, "w") as f:
            f.write(" ".join(layer[0]) + "\n")
        for rep in range(self.a.reps):
            dst = self.fresh_target("ferry")
            logf = self.logpath("big-ferry")
            argv = [self.ferry, "copy", src.addr + "/big/blob", dst.addr + "/big/blob"] + \
                self.insecure(src, dst) + ["--progress", "none"]
            t, rc, peak = run_timed(argv, logf, rss=True)
            if rc != 0:
                self.note("big-ferry: ferry copy exited %d: %s" % (rc, tail(logf, 5).strip()))
            self.check("big-ferry", dst, 1, logf)
            log("big-ferry: %.2fs (peak RSS %s KiB)" % (t, peak))
            self.record("big-ferry", t)
            self.record("rss-coord-big", peak or 0)
            dst.destroy()
            if rep < self.a.skopeo_reps:
                dst = self.fresh_target("skopeo")
                logf = self.logpath("big-skopeo")
                argv = ["skopeo", "copy", "--all", "--preserve-digests"] + \
                    self.skopeo_tls(src, dst) + ["docker://%s/big/blob:v1" % src.addr,
                                                 "docker://%s/big/blob:v1" % dst.addr]
                t, rc, _ = run_timed(argv, logf)
                if rc != 0:
                    self.note("big-skopeo: skopeo copy exited %d" % rc)
                log("big-skopeo: %.2fs" % t)
                self.record("big-skopeo", t)
                dst.destroy()
            dst = self.fresh_target("raw")
            t, ok = self.raw("big-raw", src, dst, layer_list, mode=mode, jobs=1)
            if ok:
                self.record("big-raw", t)
            dst.destroy()
        src.destroy()

    def many_tags(self):
        src = Registry(self.work, "src-tags").start()
        s = self.size("tags")
        out = self.seed("tags", src, ["tags", "--repos", str(s["repos"]), "--tags", str(s["tags"]),
                                      "--manifests", str(s["manifests"]),
                                      "--layer-size", str(s["layer"])])
        want = out["tags"]
        repos = self.all_repos(src)
        for rep in range(self.a.reps):
            dst = self.fresh_target("ferry")
            t, peak = self.ferry_mirror("tags-ferry", src, dst, want=want)
            self.record("tags-ferry", t)
            self.record("rss-coord-tags-inproc", peak or 0)
            dst.destroy()
        for rep in range(self.a.skopeo_reps if self.quick else 1):
            dst = self.fresh_target("skopeo")
            self.record("tags-skopeo", self.skopeo_sync("tags-skopeo", src, dst, repos, want))
            dst.destroy()
        self.src_tags = src

    # memory: a remote agent with 16 transfers, the coordinator per planned tag

    def remote_run(self, key, argv_tail, want, dst, jobs):
        """ferry with one remote agent on loopback; returns (secs, coordinator KiB, agent KiB)."""
        port = free_port()
        endpoint = "tcp://127.0.0.1:%d" % port
        agent = PROCS.spawn([self.agent, "--connect", endpoint, "--jobs", str(jobs), "--grace", "2",
                             "--log-level", "warn"], self.logpath(key + "-agent"))
        logf = self.logpath(key)
        argv = [self.ferry] + argv_tail + ["--listen", endpoint, "--agents", "1",
                                           "--insecure-control", "--progress", "none"]
        secs, rc, peak = run_timed(argv, logf, rss=True)
        agent_peak = vm_hwm_kib(agent.pid)
        PROCS.stop(agent)
        if rc != 0:
            self.note("%s: ferry exited %d: %s" % (key, rc, tail(logf, 5).strip()))
        if want is not None:
            self.check(key, dst, want, logf)
        log("%s: %.2fs coordinator %s KiB agent %s KiB" % (key, secs, peak, agent_peak))
        return secs, peak, agent_peak

    def memory(self):
        src = self.src_small
        dst = self.fresh_target("rss")
        _, coord, agent = self.remote_run(
            "rss-small", ["mirror", src.addr, dst.addr] + self.insecure(src, dst),
            self.sets["small"]["tags"], dst, 16)
        self.record("rss-agent16", agent or 0)
        self.record("rss-coord-small", coord or 0)
        dst.destroy()
        # the coordinator on one tag, then on the many-tags set: the difference per tag
        dst = self.fresh_target("rss")
        _, base, _ = self.remote_run(
            "rss-one-tag", ["copy", self.src_tags.addr + "/tags/r000:t0", dst.addr + "/tags/r000"] +
            self.insecure(self.src_tags, dst), 1, dst, 8)
        dst.destroy()
        dst = self.fresh_target("rss")
        _, many, agent = self.remote_run(
            "rss-tags", ["mirror", self.src_tags.addr, dst.addr] + self.insecure(self.src_tags, dst),
            self.sets["tags"]["tags"], dst, 8)
        dst.destroy()
        self.record("rss-coord-one", base or 0)
        self.record("rss-coord-tags", many or 0)
        self.record("rss-agent-tags", agent or 0)

    # profile: the many-small set under perf (or callgrind)

    def profile(self):
        src = Registry(self.work, "src-prof").start()
        size = self.size("small")
        if self.a.callgrind:   # much slower: a reduced set
            size = dict(size, ns=2, repos=3, tags=3)
        self.seed_small(src, "small", size)
        dst = self.fresh_target("prof")
        logf = self.logpath("profile-ferry")
        ferry = [self.ferry, "mirror", src.addr, dst.addr] + self.insecure(src, dst) + \
            ["--jobs", str(self.a.jobs), "--progress", "none"]
        timing = ["/usr/bin/time", "-f", "ferry: %e s wall, %U s user, %S s sys, %M KiB peak"]
        if self.a.callgrind:
            out = os.path.join(self.work, "callgrind.out")
            argv = timing + ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out] + ferry
        else:
            out = os.path.join(self.work, "perf.data")
            argv = timing + ["perf", "record", "-e", "cpu-clock", "-F", "1999", "-g", "-o", out,
                             "--"] + ferry
        secs, rc, _ = run_timed(argv, logf)
        if rc != 0:
            self.note("profile: %s" % tail(logf, 5))
        self.check("profile", dst, self.sets["small"]["tags"], logf)
        dst.destroy()
        src.destroy()
        print("\n== ferry mirror of the many-small set (%s) ==" % self.sets["small"])
        print(tail(logf, 8).rstrip())
        try:
            wall, user, sysc = [float(x) for x in re.findall(r"([0-9.]+) s (?:wall|user|sys)",
                                                             tail(logf, 3))]
            print("ferry was on a CPU %.0f%% of its wall time: %s"
                  % (100 * (user + sysc) / wall,
                     "it waits far more than it computes; a CPU profile shows only the rest"
                     if (user + sysc) < 0.5 * wall else "CPU-bound"))
        except ValueError:
            pass
        if self.a.callgrind:
            r = subprocess.run(["callgrind_annotate", "--inclusive=no", out],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            print("\n== callgrind: self cost, top functions ==")
            print("\n".join(r.stdout.decode(errors="replace").splitlines()[:60]))
            return
        def report(title, extra, limit):
            r = subprocess.run(["perf", "report", "-i", out, "--stdio", "-g", "none",
                                "--percent-limit", "0.3"] + extra,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            lines = [l for l in r.stdout.decode(errors="replace").splitlines()
                     if l.strip() and not l.startswith("#")]
            print("\n== %s ==" % title)
            print("\n".join(lines[:limit]))
        report("all CPU samples by binary", ["--no-children", "--sort", "dso"], 15)
        report("all CPU samples, top functions (self)", ["--no-children", "--sort", "dso,sym"], 30)
        report("ferry's own code: self time", ["--no-children", "--dsos", "ferry", "--sort", "sym"], 25)
        report("ferry's own code: inclusive (with what it calls)",
               ["--children", "--dsos", "ferry", "--sort", "sym"], 25)
        print("\nperf data: %s (perf report -i %s)" % (out, out))

    # scaling across network namespaces

    def scaling(self):
        net = Netns(self.work, self.a.rate, 4)
        try:
            net.up()
        except BenchError as e:
            net.down()
            self.scaling_skip = str(e)
            log("scaling: SKIP: %s" % e)
            return
        self.scaling_skip = None
        try:
            self.scaling_in(net)
        finally:
            net.down()

    def scaling_in(self, net):
        hub = net.hub
        src = Registry(self.work, "src-scale", net.hub_ip + ":5000", hub).start()
        s = self.size("scale")
        out = self.seed_small(src, "scale", s)
        for a in net.agents:   # every agent namespace reaches the hub through its link
            if subprocess.call(["ip", "netns", "exec", a, "curl", "-sf", "-o", "/dev/null",
                                src.url + "/v2/"]) != 0:
                raise BenchError("namespace %s does not reach %s" % (a, src.url))
        keys = os.path.join(self.work, "keys")
        os.makedirs(keys, exist_ok=True)
        subprocess.check_call([self.ferry, "keygen", os.path.join(keys, "server")],
                              stdout=subprocess.DEVNULL)
        allow = os.path.join(keys, "allow")
        with open(allow, "w") as f:
            for i in range(4):
                k = os.path.join(keys, "agent%d" % i)
                subprocess.check_call([self.agent, "keygen", k], stdout=subprocess.DEVNULL)
                # the allowlist takes bare keys; a .pub file holds "public = KEY"
                with open(k + ".pub") as pub:
                    for line in pub:
                        if line.startswith("public"):
                            f.write(line.split("=", 1)[1].strip() + "\n")
        port = 7400
        for n in (1, 2, 4):
            for rep in range(self.a.reps):
                dst = Registry(self.work, "dst-scale-%d-%d" % (n, rep), "%s:%d" % (net.hub_ip, 5001),
                               hub).start()
                endpoint = "tcp://%s:%d" % (net.hub_ip, port)
                agents = []
                for i in range(n):
                    agents.append(PROCS.spawn(
                        [self.agent, "--connect", endpoint, "--jobs", "8", "--grace", "2",
                         "--server-key", os.path.join(keys, "server.pub"),
                         "--key", os.path.join(keys, "agent%d" % i), "--id", "agent%d" % i,
                         "--log-level", "warn"],
                        self.logpath("scale%d-agent%d" % (n, i)), net.agents[i]))
                logf = self.logpath("scale%d-ferry" % n)
                argv = [self.ferry, "mirror", src.addr, dst.addr] + self.insecure(src, dst) + \
                    ["--listen", endpoint, "--agents", str(n), "--server-key",
                     os.path.join(keys, "server"), "--allow-keys", allow, "--progress", "none"]
                secs, rc, peak = run_timed(argv, logf, netns=hub, rss=True)
                hwm = [vm_hwm_kib(p.pid) for p in agents]
                for p in agents:
                    PROCS.stop(p)
                if rc != 0:
                    self.note("scale%d: ferry exited %d: %s" % (n, rc, tail(logf, 5).strip()))
                ok = self.check("scale%d" % n, dst, out["tags"], logf) and rc == 0
                log("scale%d: %.2fs (%.1f MB/s) agents' peak RSS %s KiB"
                    % (n, secs, out["bytes"] / secs / 1e6, hwm))
                if ok:
                    self.record("scale%d" % n, secs)
                self.record("rss-agent-scale", max([h or 0 for h in hwm]))
                dst.destroy()
        src.destroy()
        self.scale_bytes = out["bytes"]

    # the table

    def table(self):
        m = self.median
        rows = []

        def row(name, what, a_val, b_val, ratio, target, ok):
            rows.append((name, what, a_val, b_val, ratio, target,
                         "-" if ok is None else ("PASS" if ok else "FAIL")))

        def secs(v):
            return "-" if v is None else "%.2fs" % v

        def mbs(nbytes, v):
            return "" if not v else " %.0fMB/s" % (nbytes / v / 1e6)

        if m("small-ferry"):
            b = self.sets["small"]["bytes"]
            f, sk, rw = m("small-ferry"), m("small-skopeo"), m("small-raw")
            if sk:
                row("many-small", "skopeo sync / ferry", secs(f) + mbs(b, f), "skopeo " + secs(sk),
                    "%.1fx" % (sk / f), ">= 5x", sk / f >= 5)
            if rw:
                row("many-small", "ferry / raw curl pipes", secs(f), "raw " + secs(rw) + mbs(b, rw),
                    "%.2fx" % (f / rw), "<= 1.3x", f / rw <= 1.3)
            ka = m("small-rawka")
            if ka:
                row("many-small", "ferry / raw keep-alive pipes", secs(f),
                    "raw-ka " + secs(ka) + mbs(b, ka), "%.2fx" % (f / ka), "<= 1.3x", f / ka <= 1.3)
        if m("big-ferry"):
            size = self.size("big")["size"]
            f, sk, rw = m("big-ferry"), m("big-skopeo"), m("big-raw")
            if rw:
                label = "one raw pipe" if self.big_mode == "stream" else "raw (file, not a pipe)"
                row("big-blob", "ferry thr. / %s" % label, secs(f) + mbs(size, f),
                    "raw " + secs(rw) + mbs(size, rw), "%.2f" % (rw / f), ">= 0.9", rw / f >= 0.9)
            if sk:
                row("big-blob", "skopeo copy / ferry", secs(f), "skopeo " + secs(sk) + mbs(size, sk),
                    "%.2fx" % (sk / f), "(info)", None)
        if m("tags-ferry") and m("tags-skopeo"):
            f, sk = m("tags-ferry"), m("tags-skopeo")
            n = self.sets["tags"]["tags"]
            row("many-tags", "skopeo sync / ferry", secs(f) + " %.0f tags/s" % (n / f),
                "skopeo " + secs(sk) + " %.0f tags/s" % (n / sk), "%.1fx" % (sk / f), ">= 10x",
                sk / f >= 10)
        if m("rerun-ferry") and m("rerun-skopeo"):
            f, sk = m("rerun-ferry"), m("rerun-skopeo")
            row("re-run", "skopeo sync / ferry", secs(f), "skopeo " + secs(sk), "%.1fx" % (sk / f),
                ">= 10x", sk / f >= 10)
            j = m("rerun-journal")
            if j:
                row("re-run", "skopeo sync / ferry --journal", secs(j), "skopeo " + secs(sk),
                    "%.1fx" % (sk / j), ">= 10x", sk / j >= 10)
        if not hasattr(self, "scaling_skip"):
            pass
        elif self.scaling_skip is not None:
            row("scaling", "SKIP", "", "", "", ">= 0.85xN", None)
            self.scaling_reason = self.scaling_skip
        elif m("scale1"):
            one = m("scale1")
            for n in (1, 2, 4):
                t = m("scale%d" % n)
                if t:
                    sp = one / t
                    row("scaling", "%d agent(s) at %s each" % (n, self.a.rate),
                        secs(t) + mbs(self.scale_bytes, t), "1 agent " + secs(one), "%.2fx" % sp,
                        ">= %.2fx" % (0.85 * n), sp >= 0.85 * n if n > 1 else None)
        if m("rss-agent16"):
            kib = m("rss-agent16")
            row("agent RSS", "16 transfers, many-small", "%.1f MiB" % (kib / 1024), "", "",
                "< 64 MiB", kib < 64 * 1024)
        if m("rss-agent-scale"):
            kib = max(self.results["rss-agent-scale"])
            row("agent RSS", "8 transfers, scaling (max)", "%.1f MiB" % (kib / 1024), "", "",
                "< 64 MiB", kib < 64 * 1024)
        if m("rss-coord-tags"):
            n = self.sets["tags"]["tags"]
            many, one = m("rss-coord-tags"), m("rss-coord-one")
            per = (many - one) / n                    # KiB per tag
            row("coord RSS", "per planned tag (%d tags)" % n,
                "%.2f KiB/tag" % per, "peak %.1f MiB, 1-tag run %.1f MiB" % (many / 1024, one / 1024),
                "", "< 2 KiB", per < 2)
            row("coord RSS", "whole peak / tags", "%.2f KiB/tag" % (many / n), "", "",
                "(info)", None)
        if m("rss-coord-inproc"):
            row("coord RSS", "in-process, many-small, --jobs %d" % self.a.jobs,
                "%.1f MiB" % (m("rss-coord-inproc") / 1024), "", "", "(info)", None)
        return rows

    def print_table(self):
        rows = self.table()
        head = ("set", "measure", "ferry", "other", "ratio", "target", "")
        widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(7)]
        line = lambda r: "  ".join(str(r[i]).ljust(widths[i]) for i in range(7)).rstrip()
        print()
        print("ferry benchmark (%s mode, %d rep(s), median; --jobs %d; load average %.2f -> %.2f)"
              % ("quick" if self.quick else "full", self.a.reps, self.a.jobs, self.load0,
                 os.getloadavg()[0]))
        print("  registries store on %s; %s" % (
            "tmpfs (%s)" % STORAGE_ROOT if STORAGE_ROOT else "disk (%s)" % self.work,
            "registries speak TLS (HTTP/2 offered)" if TLS
            else "plain HTTP"))
        for name in ("small", "big", "tags", "scale"):
            if name in self.sets:
                s = self.sets[name]
                print("  set %-6s %4d repositories %5d tags %5d unique blobs %8.1f MiB"
                      % (name, s["repositories"], s["tags"], s["blobs"], s["bytes"] / MiB))
        print(line(head))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print(line(r))
        if getattr(self, "scaling_reason", None):
            print("scaling SKIP: %s" % self.scaling_reason)
        print("raw timings (s): " + json.dumps({k: [round(x, 2) for x in v]
                                              for k, v in sorted(self.results.items())
                                              if not k.startswith("rss")}))
        print("peak RSS (KiB): " + json.dumps({k: v for k, v in sorted(self.results.items())
                                              if k.startswith("rss")}))
        if self.notes:
            print("notes:")
            for n in self.notes:
                print("  - " + n)
        print("logs: %s" % self.logs)


# --- network namespaces -----------------------------------------------------------------

class Netns:
    """A hub namespace with a bridge (registries and coordinator) and N agent namespaces,
    each joined by a veth pair capped with tbf at the same rate in both directions."""

    def __init__(self, workdir, rate, n):
        tag = "%d" % (os.getpid() % 10000)
        self.hub = "fbench%s-hub" % tag
        self.agents = ["fbench%s-a%d" % (tag, i) for i in range(n)]
        self.rate = rate
        self.hub_ip = hub_ip()
        self.prefix = self.hub_ip.rsplit(".", 1)[0]
        self.made = []

    def ip(self, *args, ns=None):
        argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise BenchError("%s: %s" % (" ".join(argv), r.stderr.decode(errors="replace").strip()))

    def up(self):
        for tool in ("ip", "tc"):
            if not shutil.which(tool):
                raise BenchError("%s is not installed (apt-get install -y iproute2)" % tool)
        self.ip("ip", "netns", "add", self.hub)
        self.made.append(self.hub)
        h = self.hub
        self.ip("ip", "link", "set", "lo", "up", ns=h)
        self.ip("ip", "link", "add", "br0", "type", "bridge", ns=h)
        self.ip("ip", "addr", "add", self.hub_ip + "/24", "dev", "br0", ns=h)
        self.ip("ip", "link", "set", "br0", "up", ns=h)
        for i, a in enumerate(self.agents):
            self.ip("ip", "netns", "add", a)
            self.made.append(a)
            self.ip("ip", "link", "set", "lo", "up", ns=a)
            # both ends are created inside the hub, then one end moves to the agent
            self.ip("ip", "link", "add", "v%d" % i, "type", "veth", "peer", "name", "eth0",
                    "netns", a, ns=h)
            self.ip("ip", "link", "set", "v%d" % i, "master", "br0", "up", ns=h)
            self.ip("ip", "addr", "add", "%s.%d/24" % (self.prefix, 11 + i), "dev", "eth0", ns=a)
            self.ip("ip", "link", "set", "eth0", "up", ns=a)
            tbf = ["root", "tbf", "rate", self.rate, "burst", "256kb", "latency", "50ms"]
            self.ip("tc", "qdisc", "add", "dev", "v%d" % i, *tbf, ns=h)     # towards the agent
            self.ip("tc", "qdisc", "add", "dev", "eth0", *tbf, ns=a)        # from the agent

    def down(self):
        for ns in reversed(self.made):
            subprocess.call(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
        self.made = []


def memory_storage(b, a):
    """Puts the registries' storage on tmpfs, so that the bench machine's disk (the target
    registry syncs every file it writes) is not what the table measures; skopeo's times
    do not depend on it, ferry's do. Falls back to the disk when tmpfs lacks room."""
    global STORAGE_ROOT
    need = (2 if a.quick else 6) << 30
    try:
        st = os.statvfs("/dev/shm")
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = 0
    if free < need:
        b.note("--storage memory: /dev/shm has %.1f GiB free, %d GiB needed; the registries "
               "store on disk" % (free / 2**30, need >> 30))
        return
    STORAGE_ROOT = tempfile.mkdtemp(prefix="ferry-bench-", dir="/dev/shm")


def main():
    ap = argparse.ArgumentParser(description="ferry benchmark")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (median taken)")
    ap.add_argument("--skopeo-reps", type=int, default=None,
                    help="skopeo repetitions (default: as --reps; many-tags runs skopeo once "
                         "in full mode, it takes minutes)")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--rate", default="100mbit", help="tbf rate of each agent's link")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--storage", choices=("memory", "disk"), default="memory",
                    help="where the registries store blobs: tmpfs (default) or the work directory")
    ap.add_argument("--plain", action="store_true",
                    help="registries speak plain HTTP (default: TLS with one test "
                         "CA, verified by every client; HTTP/2 offered)")
    ap.add_argument("--only", default="small,big,tags,memory,scaling",
                    help="comma-separated: small,big,tags,memory,scaling (profile: profile.sh)")
    ap.add_argument("--callgrind", action="store_true", help="profile with callgrind, not perf")
    a = ap.parse_args()
    if a.reps is None:
        a.reps = 3 if a.quick else 2
    a.skopeo_reps = a.reps if a.skopeo_reps is None else min(a.skopeo_reps, a.reps)
    made_workdir = a.workdir is None
    if made_workdir:
        a.workdir = tempfile.mkdtemp(prefix="ferry-bench-")
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(130))
    b = Bench(a)
    if a.storage == "memory":
        memory_storage(b, a)
    if not a.plain:
        global TLS
        try:
            TLS = make_tls(a.workdir)
        except BenchError as e:
            log("error: %s" % e)
            return 1
    b.load0 = os.getloadavg()[0]
    only = set(a.only.split(","))
    if "memory" in only:
        only |= {"small", "tags"}
    if "profile" in only:
        a.keep = True
        try:
            b.profile()
        except BenchError as e:
            log("error: %s" % e)
            return 1
        finally:
            PROCS.stop_all()
            if STORAGE_ROOT:   # the perf data stays in the work directory
                shutil.rmtree(STORAGE_ROOT, ignore_errors=True)
        return 0
    rc = 0
    try:
        for tool in ("docker-registry", "skopeo", "curl"):
            if not shutil.which(tool):
                raise BenchError("%s is not installed" % tool)
        if not os.access(b.ferry, os.X_OK) or not os.access(b.agent, os.X_OK):
            raise BenchError("no ferry build in %s" % a.build)
        if "small" in only:
            b.many_small()
        if "big" in only:
            b.big_blob()
        if "tags" in only:
            b.many_tags()
        if "memory" in only:
            b.memory()
        if "scaling" in only:
            b.scaling()
    except BenchError as e:
        log("error: %s" % e)
        b.note("bench aborted: %s" % e)
        rc = 1
    finally:
        PROCS.stop_all()
        b.print_table()
        if STORAGE_ROOT and not a.keep:
            shutil.rmtree(STORAGE_ROOT, ignore_errors=True)
        if made_workdir and not a.keep:
            # keep the logs, drop the registries' storage
            for name in os.listdir(a.workdir):
                if name != "logs":
                    p = os.path.join(a.workdir, name)
                    shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) else os.unlink(p)
    return rc


if __name__ == "__main__":
    sys.exit(main())
