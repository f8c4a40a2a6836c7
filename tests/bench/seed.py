#!/usr/bin/python3
"""seed — fast seeding of a registry (plain HTTP or TLS) for ferry's benchmark.

Much faster than pushing tag by tag: every unique blob is uploaded once
(POST + one monolithic PUT), other repositories get it by a cross-repository
mount, and manifests are PUT by a pool of threads over keep-alive connections.
Blob contents are deterministic (seeded), so two runs seed the same digests.

  seed.py images --url URL --ns N --repos R --tags T
                 [--base-size B] [--repo-size B] [--tag-size B] [--seed S]
      N namespaces x R repositories x T tags; each image has up to three
      layers: a base shared by all images, one per repository, one per tag
      (a size of 0 leaves that layer out) and its own small config.
  seed.py tags --url URL --repos R --tags T [--manifests M] [--layer-size B]
      R repositories (tags/rNNN) x T tags pointing at M manifests per
      repository (one small layer each plus a layer shared by all), one config.
  seed.py big --url URL --repo NAME --tag TAG --size B
      one image with one layer of B bytes, streamed (never held in memory).
  seed.py count --url URL
      counts repositories and tags (catalog and tag lists, paginated).
  seed.py pipe --url SRC --to DST --blobs FILE [--jobs N]
      the keep-alive raw reference: for every "REPO DIGEST SIZE" line, POST an
      upload on DST and stream GET SRC into one PUT (known length), N at once,
      each worker on its own two keep-alive connections.

Prints one JSON object: repositories, tags, unique blobs and bytes; with
--blobs FILE it also writes "REPO DIGEST SIZE" for every unique blob (the
repository it was first uploaded to), which the raw-pipe reference uses.
An https URL is verified against the CA certificates in $SSL_CERT_FILE.
Standard library only.
"""
import argparse
import hashlib
import http.client
import json
import queue
import random
import ssl
import sys
import threading
import time
import urllib.parse

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar"
CHUNK = 1 << 20
WORKERS = 8


class SeedError(Exception):
    pass


# --- deterministic contents ------------------------------------------------------------

def blob_chunks(seed, size):
    """Yields size bytes in chunks of at most 1 MiB: one random MiB for the seed, each
    chunk stamped with its index so no two chunks (and no two blobs) are equal."""
    block = random.Random(seed).randbytes(min(size, CHUNK))
    done, index = 0, 0
    while done < size:
        n = min(CHUNK, size - done)
        stamp = ("%s/%d;" % (seed, index)).encode()
        chunk = stamp + block[len(stamp):n] if n > len(stamp) else block[:n]
        yield chunk
        done += n
        index += 1


def blob_digest(seed, size):
    h = hashlib.sha256()
    for chunk in blob_chunks(seed, size):
        h.update(chunk)
    return "sha256:" + h.hexdigest()


class Blob:
    """A blob to seed: small ones keep their bytes, big ones are regenerated when sent."""

    def __init__(self, seed=None, size=0, data=None):
        self.seed, self.size, self.data = seed, size, data
        if data is not None:
            self.size = len(data)
            self.digest = "sha256:" + hashlib.sha256(data).hexdigest()
        elif size <= 64 * CHUNK:
            self.data = b"".join(blob_chunks(seed, size))
            self.digest = "sha256:" + hashlib.sha256(self.data).hexdigest()
        else:
            self.digest = blob_digest(seed, size)

    def body(self):
        return self.data if self.data is not None else blob_chunks(self.seed, self.size)


def config_blob(name, diff_ids):
    doc = {"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
           "config": {"Labels": {"ferry.bench": name}},
           "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    return Blob(data=json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())


def manifest(config, layers):
    doc = {"schemaVersion": 2, "mediaType": MT_MANIFEST,
           "config": {"mediaType": MT_CONFIG, "digest": config.digest, "size": config.size},
           "layers": [{"mediaType": MT_LAYER, "digest": b.digest, "size": b.size} for b in layers]}
    return json.dumps(doc, separators=(",", ":")).encode()


# --- a keep-alive client ----------------------------------------------------------------

class Conn:
    """One keep-alive HTTP connection to the registry; reconnects once on a dropped socket."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme not in ("http", "https"):
            raise SeedError("not an http(s) registry: %s" % url)
        self.host, self.port = u.hostname, u.port or (443 if u.scheme == "https" else 80)
        # https: verified against the CAs of SSL_CERT_FILE, as OpenSSL reads it
        self.tls = ssl.create_default_context() if u.scheme == "https" else None
        self.conn = None

    def connect(self):
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=600, context=self.tls)
        return http.client.HTTPConnection(self.host, self.port, timeout=600)

    def request(self, method, path, body=None, headers=None, ok=(200,)):
        for attempt in range(2):
            if self.conn is None:
                self.conn = self.connect()
            h = dict(headers or {})
            try:
                if body is None:
                    h["Content-Length"] = "0" if method in ("POST", "PUT") else h.get("Content-Length", "0")
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
            except (http.client.HTTPException, ConnectionError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 0 and (body is None or isinstance(body, bytes)):
                    continue
                raise
            if r.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            if r.status not in ok:
                raise SeedError("%s %s answered %d: %s" % (method, path, r.status,
                                                          data[:300].decode(errors="replace")))
            return r.status, r, data
        raise SeedError("unreachable")

    def upload(self, repo, blob):
        _, r, _ = self.request("POST", "/v2/%s/blobs/uploads/" % repo, ok=(202,))
        loc = urllib.parse.urlsplit(r.getheader("Location") or "")
        if not loc.path:
            raise SeedError("upload POST without Location")
        target = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + blob.digest
        self.request("PUT", target, body=blob.body(),
                     headers={"Content-Type": "application/octet-stream",
                              "Content-Length": str(blob.size)}, ok=(201,))

    def mount(self, repo, blob, from_repo):
        status, _, _ = self.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s"
                                    % (repo, blob.digest, from_repo), ok=(201, 202))
        if status != 201:
            raise SeedError("mount of %s into %s refused" % (blob.digest, repo))

    def put_manifest(self, repo, tag, body):
        self.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                     headers={"Content-Type": MT_MANIFEST}, ok=(201,))


def run_pool(url, jobs, work):
    """Runs work items (callables taking a Conn) on WORKERS threads; raises the first error."""
    q = queue.Queue()
    for w in jobs:
        q.put(w)
    errors = []

    def worker():
        c = Conn(url)
        while not errors:
            try:
                item = q.get_nowait()
            except queue.Empty:
                return
            try:
                work(c, item)
            except Exception as e:  # reported once, below
                errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- the plan: blobs to upload, mounts, manifests ---------------------------------------

class Plan:
    def __init__(self):
        self.first_repo = {}      # digest -> repository it is uploaded to
        self.blobs = {}           # digest -> Blob
        self.mounts = []          # (repo, Blob)
        self.manifests = []       # (repo, tag, bytes)
        self.seen = set()         # (repo, digest) already planned
        self.repos = set()

    def image(self, repo, tag, config, layers):
        self.repos.add(repo)
        for b in [config] + layers:
            if (repo, b.digest) in self.seen:
                continue
            self.seen.add((repo, b.digest))
            if b.digest not in self.first_repo:
                self.first_repo[b.digest] = repo
                self.blobs[b.digest] = b
            else:
                self.mounts.append((repo, b))
        self.manifests.append((repo, tag, manifest(config, layers)))

    def execute(self, url):
        uploads = [(self.first_repo[d], b) for d, b in self.blobs.items()]
        uploads.sort(key=lambda x: -x[1].size)   # the big ones first: they set the pace
        run_pool(url, uploads, lambda c, x: c.upload(x[0], x[1]))
        run_pool(url, self.mounts, lambda c, x: c.mount(x[0], x[1], self.first_repo[x[1].digest]))
        run_pool(url, self.manifests, lambda c, x: c.put_manifest(*x))

    def summary(self):
        return {"repositories": len(self.repos), "tags": len(self.manifests),
                "blobs": len(self.blobs), "bytes": sum(b.size for b in self.blobs.values())}

    def write_blobs(self, path):
        with open(path, "w") as f:
            for d, b in self.blobs.items():
                f.write("%s %s %d\n" % (self.first_repo[d], d, b.size))


def plan_images(a):
    p = Plan()
    base = Blob("%s-base" % a.seed, a.base_size) if a.base_size else None
    for n in range(a.ns):
        for r in range(a.repos):
            repo = "ns%d/repo%d" % (n, r)
            repo_layer = Blob("%s-%s" % (a.seed, repo), a.repo_size) if a.repo_size else None
            for t in range(a.tags):
                tag = "v%d" % t
                layers = [x for x in (base, repo_layer) if x]
                if a.tag_size:
                    layers.append(Blob("%s-%s:%s" % (a.seed, repo, tag), a.tag_size))
                cfg = config_blob("%s:%s" % (repo, tag), [x.digest for x in layers])
                p.image(repo, tag, cfg, layers)
    return p


def plan_tags(a):
    p = Plan()
    shared = Blob("%s-shared" % a.seed, a.layer_size)
    for r in range(a.repos):
        repo = "tags/r%03d" % r
        variants = []
        for m in range(a.manifests):
            own = Blob("%s-%s-m%d" % (a.seed, repo, m), a.layer_size)
            variants.append([shared, own])
        cfg = config_blob("tags", [])
        for t in range(a.tags):
            p.image(repo, "t%d" % t, cfg, variants[t % a.manifests])
    return p


def plan_big(a):
    p = Plan()
    layer = Blob("%s-big" % a.seed, a.size)
    p.image(a.repo, a.tag, config_blob(a.repo, [layer.digest]), [layer])
    return p


def list_all(c, path, key):
    """Follows the Link headers of a paginated catalog or tag list."""
    out = []
    while path:
        _, r, data = c.request("GET", path, ok=(200, 404))
        if r.status == 404:
            break
        out += json.loads(data).get(key) or []
        link = r.getheader("Link") or ""
        path = link[link.find("<") + 1:link.find(">")] if "<" in link else None
    return out


def count(url):
    c = Conn(url)
    repos = list_all(c, "/v2/_catalog?n=1000", "repositories")
    tags = sum(len(list_all(c, "/v2/%s/tags/list?n=1000" % r, "tags")) for r in repos)
    return {"repositories": len(repos), "tags": tags}


def pipe(src_url, dst_url, blob_file, jobs):
    with open(blob_file) as f:
        items = [line.split() for line in f if line.strip()]

    class Pair:
        def __init__(self):
            self.src, self.dst = Conn(src_url), Conn(dst_url)

    def one(pair, item):
        repo, digest, size = item[0], item[1], int(item[2])
        _, r, _ = pair.dst.request("POST", "/v2/%s/blobs/uploads/" % repo, ok=(202,))
        loc = urllib.parse.urlsplit(r.getheader("Location") or "")
        target = loc.path + "?" + (loc.query + "&" if loc.query else "") + "digest=" + digest
        if pair.src.conn is None:
            pair.src.conn = pair.src.connect()
        pair.src.conn.request("GET", "/v2/%s/blobs/%s" % (repo, digest))
        g = pair.src.conn.getresponse()
        if g.status != 200:
            raise SeedError("GET %s answered %d" % (digest, g.status))

        def body():
            while True:
                chunk = g.read(CHUNK)
                if not chunk:
                    return
                yield chunk
        pair.dst.request("PUT", target, body=body(),
                         headers={"Content-Type": "application/octet-stream",
                                  "Content-Length": str(size)}, ok=(201,))

    global WORKERS
    WORKERS = jobs
    pairs = {}

    def work(c, item):
        pair = pairs.setdefault(id(c), Pair())
        one(pair, item)
    run_pool(src_url, items, work)
    return {"blobs": len(items), "bytes": sum(int(i[2]) for i in items)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", required=True)
    common.add_argument("--seed", default="bench")
    common.add_argument("--blobs", help="write REPO DIGEST SIZE per unique blob here")
    s = sub.add_parser("images", parents=[common])
    s.add_argument("--ns", type=int, default=4)
    s.add_argument("--repos", type=int, default=5)
    s.add_argument("--tags", type=int, default=5)
    s.add_argument("--base-size", type=int, default=20 << 20)
    s.add_argument("--repo-size", type=int, default=2 << 20)
    s.add_argument("--tag-size", type=int, default=512 << 10)
    s = sub.add_parser("tags", parents=[common])
    s.add_argument("--repos", type=int, default=200)
    s.add_argument("--tags", type=int, default=50)
    s.add_argument("--manifests", type=int, default=3)
    s.add_argument("--layer-size", type=int, default=2048)
    s = sub.add_parser("big", parents=[common])
    s.add_argument("--repo", default="big/blob")
    s.add_argument("--tag", default="v1")
    s.add_argument("--size", type=int, default=1 << 30)
    s = sub.add_parser("count")
    s.add_argument("--url", required=True)
    s = sub.add_parser("pipe")
    s.add_argument("--url", required=True)
    s.add_argument("--to", required=True)
    s.add_argument("--blobs", required=True)
    s.add_argument("--jobs", type=int, default=8)
    a = ap.parse_args()
    if a.cmd == "pipe":
        try:
            sys.stdout.write(json.dumps(pipe(a.url.rstrip("/"), a.to.rstrip("/"), a.blobs, a.jobs)) + "\n")
            return 0
        except (SeedError, OSError, http.client.HTTPException) as e:
            sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
            return 1
    if a.cmd == "count":
        try:
            sys.stdout.write(json.dumps(count(a.url.rstrip("/"))) + "\n")
            return 0
        except (SeedError, OSError, http.client.HTTPException) as e:
            sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
            return 1
    start = time.monotonic()
    try:
        p = {"images": plan_images, "tags": plan_tags, "big": plan_big}[a.cmd](a)
        p.execute(a.url.rstrip("/"))
        if a.blobs:
            p.write_blobs(a.blobs)
    except (SeedError, OSError, http.client.HTTPException) as e:
        sys.stdout.write(json.dumps({"error": str(e)}) + "\n")
        return 1
    out = p.summary()
    out["seconds"] = round(time.monotonic() - start, 2)
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
