/* End-to-end tests of the coordinator: the real `ferry` binary against real
 * registries from tests/fixtures, checked independently with skopeo and the
 * registries' own API and access logs.
 *
 * Sub-tests run alone by name (`test_coordinator NAME`): mirror, latest,
 * rerun, nooverwrite, verify, dryrun, badargs, failures, sync, status, qps,
 * tls. Each starts its own registries; ferry's stderr goes to a file that is
 * printed when a check of that run fails (and always with FERRY_E2E_VERBOSE=1). */
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "fixture.h"
#include "testlib.h"

#ifndef FERRY_BIN
#error "FERRY_BIN must name the ferry executable"
#endif

static char workdir[256]; /* reports, rules files, ferry's stderr */

/* ------------------------------------------------------------ running ferry */

typedef struct ferry_run {
    int status; /* exit status */
    char *out;  /* stdout, owned */
    char *err;  /* stderr, owned */
} ferry_run_t;

static void ferry_run_free(ferry_run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Runs `ferry ARGS` (ARGS already shell words) with stdout and stderr
 * captured. Sanitizer reports in stderr fail the test. */
static int ferry(ferry_run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferry(ferry_run_t *r, const char *fmt, ...)
{
    static int runs;
    char *args = NULL, errpath[320];
    va_list ap;
    memset(r, 0, sizeof *r);
    va_start(ap, fmt);
    int n = vasprintf(&args, fmt, ap);
    va_end(ap);
    if (n < 0)
        return r->status = -1;
    snprintf(errpath, sizeof errpath, "%s/ferry-%d.err", workdir, ++runs);
    fprintf(stderr, "$ ferry %s\n", args);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->status = fx_run(&r->out, "'%s' %s 2>'%s'", FERRY_BIN, args, errpath);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->err = fx_read_file(errpath);
    if (!r->out)
        r->out = calloc(1, 1);
    if (!r->err)
        r->err = calloc(1, 1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "  exit %d in %.2f s\n", r->status, secs);
    const char *verbose = getenv("FERRY_E2E_VERBOSE");
    bool sanitizer = strstr(r->err, "Sanitizer") || strstr(r->err, "runtime error:");
    CHECK(!sanitizer);
    if (sanitizer || (verbose && *verbose == '1'))
        fprintf(stderr, "--- stdout\n%s--- stderr\n%s---\n", r->out, r->err);
    free(args);
    return r->status;
}

/* Prints a run's output when checks failed since `before`. */
static void dump_if_failed(const ferry_run_t *r, int before)
{
    if (test_failures > before)
        fprintf(stderr, "--- ferry stdout\n%s--- ferry stderr\n%s---\n", r->out, r->err);
}

/* The last line of text, without its newline (static buffer). */
static void check_finished(const ferry_run_t *r, int x, int y, int z)
{
    check_finished_out(r->out, x, y, z);
}

static const char *item_str(json_t *item, const char *key)
{
    return json_string_value(json_object_get(item, key));
}

/* ------------------------------------------------------------ registries */

/* The skopeo digest of repo_and_ref in r, "" when it cannot be read. */
static const char *skopeo(fx_registry_t *r, const char *repo_and_ref, char out[DIGEST_STR_MAX])
{
    if (fx_skopeo_digest(r, repo_and_ref, out) != 0)
        out[0] = '\0';
    return out;
}

/* Checks that repo:tag has the same manifest digest on both sides, and that
 * it is `expected` when not NULL. */
static void check_same(fx_registry_t *src, fx_registry_t *dst, const char *repo,
                       const char *dst_repo, const char *ref, const char *expected)
{
    char a[DIGEST_STR_MAX], b[DIGEST_STR_MAX], sref[512], dref[512];
    const char *sep = strchr(ref, ':') ? "@" : ":";
    snprintf(sref, sizeof sref, "%s%s%s", repo, sep, ref);
    snprintf(dref, sizeof dref, "%s%s%s", dst_repo ? dst_repo : repo, sep, ref);
    skopeo(src, sref, a);
    skopeo(dst, dref, b);
    CHECK(a[0] != '\0');
    if (strcmp(a, b) != 0)
        fprintf(stderr, "  %s: source %s, target %s (%s)\n", sref, a, b[0] ? b : "missing", dref);
    CHECK_STR(b, a);
    if (expected)
        CHECK_STR(a, expected);
}

/* GET url (no auth), parsed JSON or NULL. */
static json_t *http_json(const char *url)
{
    char *out = NULL;
    json_t *doc = NULL;
    if (fx_run(&out, "curl -s -f '%s'", url) == 0 && out) /* quiet: 404 is an answer here */
        doc = json_loads(out, 0, NULL);
    free(out);
    return doc;
}

/* The tags of repo in r, sorted, joined by ","; "" when none (static buffer). */
static const char *tags_of(const fx_registry_t *r, const char *repo)
{
    static char joined[4096];
    char url[512];
    snprintf(url, sizeof url, "%s/v2/%s/tags/list", r->url, repo);
    joined[0] = '\0';
    json_t *doc = http_json(url);
    json_t *tags = json_object_get(doc, "tags");
    size_t n = json_array_size(tags);
    const char *names[256];
    for (size_t i = 0; i < n && i < 256; i++)
        names[i] = json_string_value(json_array_get(tags, i));
    n = n < 256 ? n : 256;
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of tags */
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            const char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(joined + len, sizeof joined - len, "%s%s", i ? "," : "", names[i]);
    json_decref(doc);
    return joined;
}

/* Number of repositories in r's catalog, -1 when it cannot be read. */
static long catalog_size(const fx_registry_t *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s/v2/_catalog", r->url);
    json_t *doc = http_json(url);
    json_t *repos = json_object_get(doc, "repositories");
    long n = json_is_array(repos) ? (long)json_array_size(repos) : -1;
    json_decref(doc);
    return n;
}

/* Blob writes (upload starts, chunks, final PUTs) in r's log after mark. */
static int blob_writes(const fx_registry_t *r, long mark)
{
    return fx_log_count(r, mark, "\"POST /v2/", "/blobs/") +
           fx_log_count(r, mark, "\"PATCH /v2/", "/blobs/") +
           fx_log_count(r, mark, "\"PUT /v2/", "/blobs/");
}

/* ------------------------------------------------------------ the source of mirror tests */

/* One tag of the synthetic source and its manifest digest. */
typedef struct pushed {
    char repo[128];
    char tag[128];
    char digest[DIGEST_STR_MAX];
} pushed_t;

typedef struct source {
    pushed_t tags[32];
    size_t n_tags;
    char artifacts[4][DIGEST_STR_MAX]; /* artifact manifests, by digest */
    char artifact_repo[4][128];
    size_t n_artifacts;
    char blobs[128][160]; /* distinct "repo|digest" pairs */
    size_t n_repo_blobs;
    char digests[128][DIGEST_STR_MAX]; /* distinct blob digests */
    size_t n_digests;
} source_t;

static void note_tag(source_t *s, const char *repo, const char *tag, const char *digest)
{
    if (s->n_tags == sizeof s->tags / sizeof s->tags[0])
        return;
    pushed_t *p = &s->tags[s->n_tags++];
    snprintf(p->repo, sizeof p->repo, "%s", repo);
    snprintf(p->tag, sizeof p->tag, "%s", tag);
    snprintf(p->digest, sizeof p->digest, "%s", digest);
}

static void note_blob(source_t *s, const char *repo, const char *digest)
{
    char key[160];
    snprintf(key, sizeof key, "%s|%s", repo, digest);
    bool seen = false;
    for (size_t i = 0; i < s->n_repo_blobs && !seen; i++)
        seen = strcmp(s->blobs[i], key) == 0;
    if (!seen && s->n_repo_blobs < 128)
        snprintf(s->blobs[s->n_repo_blobs++], sizeof s->blobs[0], "%s", key);
    seen = false;
    for (size_t i = 0; i < s->n_digests && !seen; i++)
        seen = strcmp(s->digests[i], digest) == 0;
    if (!seen && s->n_digests < 128)
        snprintf(s->digests[s->n_digests++], sizeof s->digests[0], "%s", digest);
}

static void note_blobs(source_t *s, const char *repo, json_t *blobs)
{
    for (size_t i = 0; i < json_array_size(blobs); i++)
        note_blob(s, repo, json_str(json_array_get(blobs, i), "digest"));
}

static void source_image(source_t *s, fx_registry_t *r, const char *repo, const char *tag,
                         const char *args)
{
    json_t *img = push(r, repo, tag, args);
    if (!img)
        return;
    note_tag(s, repo, tag, json_str(img, "digest"));
    note_blobs(s, repo, json_object_get(img, "blobs"));
    json_decref(img);
}

static void source_index(source_t *s, fx_registry_t *r, const char *repo, const char *tag,
                         const char *platforms)
{
    json_t *idx = fx_push_index(r, repo, tag, platforms);
    CHECK(idx != NULL);
    if (!idx)
        return;
    note_tag(s, repo, tag, json_str(idx, "digest"));
    json_t *children = json_object_get(idx, "children");
    for (size_t i = 0; i < json_array_size(children); i++)
        note_blobs(s, repo, json_object_get(json_array_get(children, i), "blobs"));
    json_decref(idx);
}

/* An artifact referring to the manifest of repo:tag, pushed by digest and
 * under the referrers fallback tag "sha256-<hex of subject>". */
static void source_artifact(source_t *s, fx_registry_t *r, const char *repo, const char *subject)
{
    char tag[80];
    snprintf(tag, sizeof tag, "sha256-%s", subject + 7);
    json_t *art = fx_push_artifact(r, repo, subject, tag);
    CHECK(art != NULL);
    if (!art)
        return;
    note_tag(s, repo, tag, json_str(art, "digest"));
    note_blobs(s, repo, json_object_get(art, "blobs"));
    if (s->n_artifacts < 4) {
        snprintf(s->artifacts[s->n_artifacts], sizeof s->artifacts[0], "%s",
                 json_str(art, "digest"));
        snprintf(s->artifact_repo[s->n_artifacts], sizeof s->artifact_repo[0], "%s", repo);
        s->n_artifacts++;
    }
    json_decref(art);
}

static const char *tag_digest(const source_t *s, const char *repo, const char *tag)
{
    for (size_t i = 0; i < s->n_tags; i++)
        if (strcmp(s->tags[i].repo, repo) == 0 && strcmp(s->tags[i].tag, tag) == 0)
            return s->tags[i].digest;
    return NULL;
}

/* Several namespaces, a nested path, a top-level repository, Docker and OCI
 * manifests, a multi-arch index, layers shared across repositories, and
 * artifacts referring to an image and to an index. */
static void source_fill(source_t *s, fx_registry_t *r)
{
    memset(s, 0, sizeof *s);
    source_image(s, r, "ns1/app", "v1", "--layers 2 --shared-layer base:20000");
    source_image(s, r, "ns1/app", "v2", "--layers 1 --shared-layer base:20000");
    source_image(s, r, "ns2/a/b/c/repo", "v1",
                 "--layers 1 --shared-layer base:20000 --shared-layer extra:5000");
    source_image(s, r, "ns2/tools", "1.0", "--format docker --shared-layer extra:5000");
    source_image(s, r, "solo", "1", "--layers 1");
    source_index(s, r, "ns1/multi", "latest", "linux/amd64,linux/arm64/v8");
    const char *app_v2 = tag_digest(s, "ns1/app", "v2");
    const char *multi = tag_digest(s, "ns1/multi", "latest");
    if (app_v2)
        source_artifact(s, r, "ns1/app", app_v2);
    if (multi)
        source_artifact(s, r, "ns1/multi", multi);
}

/* Every tag of the source has the same digest in dst (under dst_prefix/). */
static void check_source_copied(const source_t *s, fx_registry_t *src, fx_registry_t *dst)
{
    for (size_t i = 0; i < s->n_tags; i++)
        check_same(src, dst, s->tags[i].repo, NULL, s->tags[i].tag, s->tags[i].digest);
    for (size_t i = 0; i < s->n_artifacts; i++)
        check_same(src, dst, s->artifact_repo[i], NULL, s->artifacts[i], s->artifacts[i]);
}

/* ------------------------------------------------------------ 1. mirror */

static void test_mirror(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    source_t s;
    source_fill(&s, a);
    char report[320];
    snprintf(report, sizeof report, "%s/mirror.json", workdir);
    ferry_run_t r;
    int before = test_failures;
    long source_mark = fx_log_mark(a);
    ferry(&r, "mirror %s %s %s --report '%s'", a->host, b->host, insecure(a->host, b->host),
          report);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 8 migrated, 0 already present, 0 failed");
    /* Each manifest is read from the source once (every tag, and the two
     * children of the index): the agents get its bytes in their TASKs. */
    CHECK_INT(fx_log_count(a, source_mark, "\"GET /v2/", "/manifests/"), (int)s.n_tags + 2);
    /* The target is asked once: its catalog says the repositories are new,
     * so no tag needs a listing or a HEAD. */
    CHECK_INT(fx_log_count(b, 0, "\"HEAD /v2/", "/manifests/"), 0);
    CHECK_INT(fx_log_count(b, 0, "\"GET /v2/", "/manifests/"), 0);
    CHECK_INT(fx_log_count(b, 0, "\"GET /v2/", "/tags/list"), 0);
    CHECK_INT(fx_log_count(b, 0, "\"GET /v2/_catalog"), 1);
    check_source_copied(&s, a, b);
    CHECK_INT(s.n_tags, 8);

    json_t *doc = load_json(report);
    CHECK(doc != NULL);
    CHECK_INT(json_array_size(json_object_get(doc, "items")), s.n_tags);
    for (size_t i = 0; i < s.n_tags; i++) {
        char source[512], target[512];
        snprintf(source, sizeof source, "%s/%s:%s", a->host, s.tags[i].repo, s.tags[i].tag);
        snprintf(target, sizeof target, "%s/%s:%s", b->host, s.tags[i].repo, s.tags[i].tag);
        json_t *it = report_item(doc, source);
        CHECK(it != NULL);
        if (!it) {
            fprintf(stderr, "  no report item for %s\n", source);
            continue;
        }
        CHECK_STR(item_str(it, "kind"), "image");
        CHECK_STR(item_str(it, "status"), "migrated");
        CHECK_STR(item_str(it, "target"), target);
        CHECK_STR(item_str(it, "digest"), s.tags[i].digest);
        CHECK(json_is_null(json_object_get(it, "error")));
    }
    /* Each distinct blob crossed the network once; every other repository
     * that needs it got it by a mount. */
    CHECK_INT(report_count(doc, "blobs_copied"), s.n_digests);
    CHECK_INT(report_count(doc, "blobs_copied") + report_count(doc, "blobs_mounted"),
              s.n_repo_blobs);
    CHECK(report_count(doc, "blobs_mounted") >= 3);
    CHECK_INT(report_count(doc, "migrated"), s.n_tags);
    CHECK_INT(report_count(doc, "failed"), 0);
    json_decref(doc);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 2. --tags and --latest */

static void test_latest(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    static const char *const tags[][2] = {
        {"v1", "2024-01-01T00:00:00Z"},      {"v2", "2024-03-01T00:00:00Z"},
        {"v3", "2024-02-01T00:00:00Z"},      {"v10", "2024-05-01T12:00:00Z"},
        {"v4", "2024-04-01T00:00:00Z"},      {"rc-9", "2024-09-01T00:00:00Z"},
        {"v5-beta", "2024-08-01T00:00:00Z"}, {"nightly", "2025-01-01T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) {
        char args[128];
        snprintf(args, sizeof args, "--created %s --layers 1 --shared-layer base:3000", tags[i][1]);
        json_decref(push(a, "app", tags[i][0], args));
    }
    ferry_run_t r;
    int before = test_failures;
    /* Matching ^v[0-9]+$: v1 v2 v3 v4 v10; the newest three: v10, v4, v2. */
    long mark = fx_log_mark(b);
    ferry(&r, "copy %s/app %s/app --tags '^v[0-9]+$' --latest 3 %s", a->host, b->host,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    /* One repository copied: its tag listing on the target (none there)
     * stands for a HEAD per tag. */
    CHECK_INT(fx_log_count(b, mark, "\"GET /v2/app/tags/list"), 1);
    CHECK_INT(fx_log_count(b, mark, "\"HEAD /v2/", "/manifests/"), 0);
    CHECK_STR(tags_of(b, "app"), "v10,v2,v4");
    check_same(a, b, "app", NULL, "v10", NULL);
    check_same(a, b, "app", NULL, "v4", NULL);
    check_same(a, b, "app", NULL, "v2", NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* --exclude-tags with --latest into another repository. */
    before = test_failures;
    ferry(&r, "copy %s/app %s/other --exclude-tags '^(v|rc)' --latest 1 %s", a->host, b->host,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_STR(tags_of(b, "other"), "nightly");
    check_same(a, b, "app", "other", "nightly", NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 3. a re-run moves nothing */

static void test_rerun(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    source_t s;
    source_fill(&s, a);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "mirror %s %s %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK(blob_writes(b, 0) > 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    char report[320];
    snprintf(report, sizeof report, "%s/rerun.json", workdir);
    long mark = fx_log_mark(b), src_mark = fx_log_mark(a);
    before = test_failures;
    ferry(&r, "mirror %s %s %s --report '%s'", a->host, b->host, insecure(a->host, b->host),
          report);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    char line[128];
    snprintf(line, sizeof line, "Images: 0 migrated, %zu already present, 0 failed", s.n_tags);
    CHECK_CONTAINS(r.out, line);
    CHECK_CONTAINS(r.out, "Blobs: 0 copied, 0 mounted");
    CHECK_INT(blob_writes(b, mark), 0);
    CHECK_INT(fx_log_count(b, mark, "\"PUT /v2/", "/manifests/"), 0);
    /* Every tag is asked about once on each side (the target's catalog has
     * each repository), by HEADs: no manifest is read when nothing changed. */
    CHECK_INT(fx_log_count(b, mark, "\"HEAD /v2/", "/manifests/"), (int)s.n_tags);
    CHECK_INT(fx_log_count(a, src_mark, "\"HEAD /v2/", "/manifests/"), (int)s.n_tags);
    CHECK_INT(fx_log_count(a, src_mark, "\"GET /v2/", "/manifests/"), 0);
    json_t *doc = load_json(report);
    CHECK_INT(report_count(doc, "blobs_copied"), 0);
    CHECK_INT(report_count(doc, "blobs_mounted"), 0);
    CHECK_INT(report_count(doc, "bytes"), 0);
    CHECK_INT(report_count(doc, "skipped"), s.n_tags);
    json_t *items = json_object_get(doc, "items");
    CHECK_INT(json_array_size(items), s.n_tags);
    for (size_t i = 0; i < json_array_size(items); i++)
        CHECK_STR(item_str(json_array_get(items, i), "status"), "skipped");
    json_decref(doc);
    check_source_copied(&s, a, b);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* A tag new on the source, in a repository the target has: asked about
     * (not found) and pushed. */
    json_decref(push(a, "ns1/app", "v3", "--layers 1 --shared-layer base:20000"));
    mark = fx_log_mark(b);
    before = test_failures;
    ferry(&r, "mirror %s %s %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    snprintf(line, sizeof line, "Images: 1 migrated, %zu already present, 0 failed", s.n_tags);
    CHECK_CONTAINS(r.out, line);
    CHECK_INT(fx_log_count(b, mark, "\"HEAD /v2/", "/manifests/"), (int)s.n_tags + 1);
    CHECK_INT(fx_log_count(b, mark, "\"PUT /v2/ns1/app/manifests/v3"), 1);
    check_same(a, b, "ns1/app", NULL, "v3", NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 4. --no-overwrite */

static void test_nooverwrite(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    json_t *src_v1 = push(a, "app", "v1", NULL);
    json_t *src_v2 = push(a, "app", "v2", NULL);
    json_t *dst_v1 = push(b, "app", "v1", "--seed planted-in-target");
    if (!src_v1 || !src_v2 || !dst_v1)
        goto free_images;
    CHECK(strcmp(json_str(src_v1, "digest"), json_str(dst_v1, "digest")) != 0);
    char report[320];
    snprintf(report, sizeof report, "%s/nooverwrite.json", workdir);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "copy %s/app %s/app --no-overwrite --report '%s' %s", a->host, b->host, report,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 1 migrated, 1 already present, 0 failed");
    char d[DIGEST_STR_MAX];
    CHECK_STR(skopeo(b, "app:v1", d), json_str(dst_v1, "digest"));
    CHECK_STR(skopeo(b, "app:v2", d), json_str(src_v2, "digest"));
    json_t *doc = load_json(report);
    char source[512];
    snprintf(source, sizeof source, "%s/app:v1", a->host);
    json_t *it = report_item(doc, source);
    CHECK(it != NULL);
    CHECK_STR(item_str(it, "status"), "skipped");
    CHECK_CONTAINS(item_str(it, "error"), "--no-overwrite");
    snprintf(source, sizeof source, "%s/app:v2", a->host);
    CHECK_STR(item_str(report_item(doc, source), "status"), "migrated");
    json_decref(doc);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* Without the flag the differing tag is replaced. */
    before = test_failures;
    ferry(&r, "copy %s/app:v1 %s/app %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_STR(skopeo(b, "app:v1", d), json_str(src_v1, "digest"));
    dump_if_failed(&r, before);
    ferry_run_free(&r);
free_images:
    json_decref(src_v1);
    json_decref(src_v2);
    json_decref(dst_v1);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 5. verify */

/* --metrics-file and --status-file are written, and `ferry status` reads the
 * latter: finished, running, or stopped without finishing. */
static void test_status(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    json_t *v1 = push(a, "obs/app", "v1", NULL);
    json_t *v2 = push(a, "obs/app", "v2", NULL);
    json_decref(v1);
    json_decref(v2);
    char metrics[320], status[320];
    snprintf(metrics, sizeof metrics, "%s/ferry.prom", workdir);
    snprintf(status, sizeof status, "%s/status.json", workdir);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "copy %s/obs/app %s/obs/app --metrics-file '%s' --status-file '%s' %s", a->host,
          b->host, metrics, status, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    char *text = NULL;
    CHECK_INT(fx_run(&text, "cat '%s'", metrics), 0);
    CHECK_CONTAINS(text, "# TYPE ferry_bytes_transferred_total counter");
    CHECK_CONTAINS(text, "ferry_images{status=\"migrated\"} 2\n");
    CHECK_CONTAINS(text, "ferry_images{status=\"failed\"} 0\n");
    CHECK_CONTAINS(text, "ferry_tasks{state=\"running\"} 0\n");
    free(text);

    before = test_failures;
    ferry(&r, "status '%s'", status);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "phase:   finished");
    CHECK_CONTAINS(r.out, "images:  2 total, 2 migrated, 0 already present, 0 failed");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* A status left by a coordinator that died mid-transfer. */
    json_t *doc = load_json(status);
    json_object_set_new(doc, "phase", json_string("transfer"));
    json_object_set_new(doc, "pid", json_integer(999999));
    CHECK_INT(json_dump_file(doc, status, 0), 0);
    json_decref(doc);
    before = test_failures;
    ferry(&r, "status '%s'", status);
    CHECK_INT(r.status, 1);
    CHECK_CONTAINS(r.out, "coordinator not running");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* One that is still running (this test process stands in for it). */
    doc = load_json(status);
    json_object_set_new(doc, "pid", json_integer(getpid()));
    CHECK_INT(json_dump_file(doc, status, 0), 0);
    json_decref(doc);
    ferry(&r, "status '%s'", status);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "coordinator running");
    ferry_run_free(&r);

    ferry(&r, "status '%s/no-such-status.json'", workdir);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "cannot read the status file");
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --qps N holds each registry to N API requests a second, in-process agents
 * included (they share it); without it the same run goes much faster. */
static void test_qps(void)
{
    fx_registry_t *a = registry(), *b = registry(), *c = registry();
    if (!a || !b || !c)
        goto out;
    for (int i = 0; i < 4; i++) {
        char repo[32];
        snprintf(repo, sizeof repo, "rate/r%d", i);
        json_decref(push(a, repo, "v1", NULL));
    }
    const int qps = 8;
    long mark_a = fx_log_mark(a), mark_b = fx_log_mark(b);
    ferry_run_t r;
    int before = test_failures;
    double t0 = mono_s();
    ferry(&r, "mirror %s %s --qps %d --jobs 4 %s", a->host, b->host, qps,
          insecure(a->host, b->host));
    double elapsed = mono_s() - t0;
    CHECK_INT(r.status, 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    /* The access log's lines ("GET /v2/... HTTP/1.1" 200 ...), not the
     * registry's own "response completed" lines. */
    int req_a = fx_log_count(a, mark_a, " /v2/", " HTTP/1.1\" "),
        req_b = fx_log_count(b, mark_b, " /v2/", " HTTP/1.1\" ");
    fprintf(stderr, "  --qps %d: %d source and %d target requests in %.2f s\n", qps, req_a, req_b,
            elapsed);
    CHECK(req_a > 10 && req_b > 10);
    /* n requests spaced 1/qps apart need (n - 1) / qps seconds, per registry. */
    CHECK(elapsed >= (req_a - 1) / (double)qps * 0.9);
    CHECK(elapsed >= (req_b - 1) / (double)qps * 0.9);

    /* The same migration unthrottled, into another registry. */
    long mark_c = fx_log_mark(c);
    t0 = mono_s();
    ferry(&r, "mirror %s %s --jobs 4 %s", a->host, c->host, insecure(a->host, c->host));
    double fast = mono_s() - t0;
    CHECK_INT(r.status, 0);
    ferry_run_free(&r);
    int req_c = fx_log_count(c, mark_c, " /v2/", " HTTP/1.1\" ");
    fprintf(stderr, "  unthrottled: %d target requests in %.2f s\n", req_c, fast);
    CHECK(fast < (req_c - 1) / (double)qps * 0.9);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
    fx_registry_stop(&c);
}

static void test_verify(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    json_decref(push(a, "ns/app", "v1", NULL));
    json_decref(push(a, "ns/app", "v2", NULL));
    json_t *idx = fx_push_index(a, "ns/multi", "latest", "linux/amd64,linux/arm64/v8");
    CHECK(idx != NULL);
    json_decref(idx);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "mirror %s %s %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    ferry_run_free(&r);

    ferry(&r, "verify %s %s %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "verify: 3 tag(s) identical, 0 difference(s)");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* A different image under the same tag in the target, and a tag the
     * target lacks. */
    json_decref(push(b, "ns/app", "v2", "--seed planted-difference"));
    json_decref(push(a, "ns/app", "v3", NULL));
    before = test_failures;
    ferry(&r, "verify %s %s %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 1);
    char line[256];
    snprintf(line, sizeof line, "differs  %s/ns/app:v2", a->host);
    CHECK_CONTAINS(r.out, line);
    snprintf(line, sizeof line, "missing  %s/ns/app:v3", b->host);
    CHECK_CONTAINS(r.out, line);
    CHECK_CONTAINS(r.out, "verify: 2 tag(s) identical, 2 difference(s)");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* verify of one repository pair, as for copy. */
    before = test_failures;
    ferry(&r, "verify %s/ns/multi %s/ns/multi %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "verify: 1 tag(s) identical, 0 difference(s)");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* Cosign's tag scheme: sha256-<hex>.sig and .att of v1 travel with v1
 * whatever the selection (a regex, repo:tag), and verify compares them. A
 * prefix mirror verifies as `verify mirror`, and a tag only the target has
 * is listed as extra without failing. */
static void test_signatures(void)
{
    fx_registry_t *a = registry(), *b = registry();
    json_t *v1 = a ? push(a, "team-b/app", "v1", NULL) : NULL;
    json_t *v2 = a ? push(a, "team-b/app", "v2", NULL) : NULL;
    if (!v1 || !v2 || !b)
        goto out;
    const char *d1 = json_str(v1, "digest");
    char sig[160], att[160];
    snprintf(sig, sizeof sig, "sha256-%s.sig", d1 + 7);
    snprintf(att, sizeof att, "sha256-%s.att", d1 + 7);
    json_decref(push(a, "team-b/app", sig, "--seed signature"));
    json_decref(push(a, "team-b/app", att, "--seed attestation"));
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "copy %s/team-b/app %s/sel/app --tags '^v1$' %s", a->host, b->host,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "Images: 3 migrated, 0 already present, 0 failed");
    check_same(a, b, "team-b/app", "sel/app", sig, NULL);
    check_same(a, b, "team-b/app", "sel/app", att, NULL);
    CHECK(!strstr(tags_of(b, "sel/app"), "v2"));
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* stdout and stderr together, progress on: the banner is the last line. */
    char *both = NULL;
    CHECK_INT(fx_run(&both, "'%s' copy %s/team-b/app %s/both/app %s --progress plain 2>&1",
                     FERRY_BIN, a->host, b->host, insecure(a->host, b->host)),
              0);
    check_finished_out(both, 0, 0, 0);
    free(both);

    /* One tag by name: no listing, the signature tags are probed (no .sbom:
     * not a failure). */
    before = test_failures;
    ferry(&r, "copy %s/team-b/app:v1 %s/one/app %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "Images: 3 migrated, 0 already present, 0 failed");
    check_same(a, b, "team-b/app", "one/app", sig, NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    before = test_failures;
    ferry(&r, "verify copy %s/team-b/app:v1 %s/one/app %s", a->host, b->host,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "verify: 3 tag(s) identical, 0 difference(s)");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* A prefix mirror, verified as one. */
    before = test_failures;
    ferry(&r, "mirror %s/team-b %s/pfx %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    ferry_run_free(&r);
    json_decref(push(b, "pfx/app", "only-here", "--seed extra"));
    ferry(&r, "verify mirror %s/team-b %s/pfx %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "verify: 4 tag(s) identical, 0 difference(s), 0 repository listing(s) "
                          "failed, 1 extra at the target");
    char line[256];
    snprintf(line, sizeof line, "extra    %s/pfx/app:only-here", b->host);
    CHECK_CONTAINS(r.out, line);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    ferry(&r, "verify mirror %s/team-b %s/pfx %s --strict", a->host, b->host,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 1);
    ferry_run_free(&r);

    /* Each command has its own --help, with examples; sync's shows the formats. */
    const char *helps[][2] = {{"mirror --help", "Usage: ferry mirror SRC DST"},
                              {"copy --help", "renames a single image"},
                              {"sync --help", "Its security file"},
                              {"verify --help", "--strict"},
                              {"ccr2tcr --help", "TENCENTCLOUD_SECRET_ID"}};
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) {
        ferry(&r, "%s", helps[i][0]);
        CHECK_INT(r.status, 0);
        CHECK_CONTAINS(r.out, helps[i][1]);
        ferry_run_free(&r);
    }
    ferry(&r, "sync");
    CHECK_CONTAINS(r.err, "(see ferry sync --help)");
    ferry_run_free(&r);
out:
    json_decref(v1);
    json_decref(v2);
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* Every registry is asked once before anything is planned: a host that
 * does not answer, a plain-HTTP registry without --insecure, and push
 * rights the target refuses are each one line naming the fix, exit 2,
 * quickly; a selection that matches nothing says so. */
static void test_preflight(void)
{
    fx_registry_t *a = registry();
    fx_registry_t *t = fx_registry_start_opts("token", "--token-deny deny/app");
    CHECK(t != NULL);
    if (!a || !t)
        goto out;
    json_decref(push(a, "pre/app", "v1", NULL));
    ferry_run_t r;
    int before = test_failures;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ferry(&r, "mirror 127.0.0.1:1 %s %s", a->host, insecure("127.0.0.1:1", a->host));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "127.0.0.1:1 cannot be reached");
    CHECK(t1.tv_sec - t0.tv_sec < 10);
    CHECK_STR(r.out, "");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    before = test_failures;
    ferry(&r, "copy %s/pre/app %s/pre/app --progress none", a->host, a->host);
    CHECK_INT(r.status, 2);
    char line[300];
    snprintf(line, sizeof line, "%s speaks plain HTTP, not TLS: give --insecure %s", a->host,
             a->host);
    CHECK_CONTAINS(r.err, line);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* Push refused for one repository (the token server grants it nothing). */
    long mark = fx_log_mark(t);
    before = test_failures;
    ferry(&r, "copy %s/pre/app %s/deny/app --dst-creds %s:%s --insecure %s --insecure %s "
              "--progress none",
          a->host, t->host, t->user, t->password, a->host, t->host);
    CHECK_INT(r.status, 2);
    snprintf(line, sizeof line, "%s refuses to let these credentials push to deny/app", t->host);
    CHECK_CONTAINS(r.err, line);
    CHECK_INT(fx_log_count(t, mark, "\"PUT /v2/"), 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    before = test_failures;
    ferry(&r, "copy %s/pre/app %s/pre/app --tags '^nothing$' %s", a->host, t->host,
          insecure(a->host, t->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.err, "the selection matches no image");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&t);
}

/* ------------------------------------------------------------ 6. --dry-run */

static void test_dryrun(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    source_t s;
    source_fill(&s, a);
    long mark = fx_log_mark(b);
    ferry_run_t r;
    int before = test_failures;
    char report[320];
    snprintf(report, sizeof report, "%s/dryrun.json", workdir);
    ferry(&r, "mirror %s %s --dry-run --report '%s' %s", a->host, b->host, report,
          insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "Plan (dry run, nothing written):");
    char line[256];
    snprintf(line, sizeof line, "images: %zu to migrate, 0 already there, 0 failed to inspect",
             s.n_tags);
    CHECK_CONTAINS(r.out, line);
    snprintf(line, sizeof line, "blobs: %zu to copy", s.n_digests);
    CHECK_CONTAINS(r.out, line);
    snprintf(line, sizeof line, "copy     %s/ns2/a/b/c/repo:v1 -> %s/ns2/a/b/c/repo:v1", a->host,
             b->host);
    CHECK_CONTAINS(r.out, line);
    CHECK_INT(catalog_size(b), 0);
    CHECK_INT(blob_writes(b, mark), 0);
    CHECK_INT(fx_log_count(b, mark, "\"PUT /v2/", "/manifests/"), 0);
    CHECK(access(report, F_OK) != 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 7. bad arguments */

static void expect_usage(const char *args, const char *message)
{
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "%s", args);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, message);
    CHECK_STR(r.out, "");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
}

static void test_badargs(void)
{
    char path[320], args[700];
    expect_usage("", "Usage: ferry COMMAND");
    expect_usage("frobnicate", "unknown command 'frobnicate'");
    expect_usage("mirror --bogus a.io b.io", "unrecognized option '--bogus'");
    expect_usage("mirror a.io", "mirror needs SRC and DST");
    /* keygen: --help is help, an existing pair is kept unless --force. */
    {
        char key[400], kargs[500];
        snprintf(key, sizeof key, "%s/coord.key", workdir);
        ferry_run_t k;
        ferry(&k, "keygen --help");
        CHECK_INT(k.status, 0);
        CHECK_CONTAINS(k.out, "Usage: ferry keygen");
        CHECK(access("--help", F_OK) != 0);
        ferry_run_free(&k);
        ferry(&k, "keygen '%s'", key);
        CHECK_INT(k.status, 0);
        char *first = fx_read_file(key);
        ferry_run_free(&k);
        snprintf(kargs, sizeof kargs, "keygen '%s'", key);
        expect_usage(kargs, "exists: keeping it");
        char *kept = fx_read_file(key);
        CHECK(first && kept && strcmp(first, kept) == 0);
        ferry(&k, "keygen --force '%s'", key);
        CHECK_INT(k.status, 0);
        char *replaced = fx_read_file(key);
        CHECK(first && replaced && strcmp(first, replaced) != 0);
        ferry_run_free(&k);
        free(first);
        free(kept);
        free(replaced);
    }
    /* Output paths are checked before anything is asked of a registry. */
    expect_usage("mirror a.io b.io --report /nonexistent-dir/r.json",
                 "--report /nonexistent-dir/r.json: cannot write in /nonexistent-dir");
    expect_usage("mirror a.io b.io --metrics-file /tmp", "--metrics-file /tmp: not a regular file");
    expect_usage("mirror a.io b.io --status-file /nonexistent-dir/s.json",
                 "--status-file /nonexistent-dir/s.json: cannot write");
    expect_usage("mirror a.io b.io --journal /nonexistent-dir/j", "/nonexistent-dir/j");
    expect_usage("copy", "copy needs SRC and DST");
    expect_usage("sync", "sync needs one RULES_FILE");
    expect_usage("mirror --jobs 0 a.io b.io",
                 "--jobs must be a whole number from 1 to 1024, not '0'");
    expect_usage("mirror --jobs many a.io b.io", "--jobs must be a whole number");
    expect_usage("mirror --latest -1 a.io b.io", "--latest must be a whole number");
    expect_usage("mirror --tags '(' a.io b.io", "(");
    expect_usage("mirror --progress loud a.io b.io", "--progress must be");
    expect_usage("copy 'Bad Ref!!' b.io/x", "source 'Bad Ref!!'");
    expect_usage("copy a.io/x 'b.io/UPPER'", "target 'b.io/UPPER'");
    expect_usage("copy a.io/x:v1 "
                 "b.io/x@sha256:0000000000000000000000000000000000000000000000000000000000000000",
                 "a target names a repository, or a tag when the source names one image");

    snprintf(path, sizeof path, "%s/absent.json", workdir);
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "cannot read");
    snprintf(path, sizeof path, "%s/unreadable", workdir);
    mkdir(path, 0700); /* a directory: unreadable as a file even for root */
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, path);
    snprintf(path, sizeof path, "%s/malformed.json", workdir);
    write_file(path, "{\"rules\": [{\"source\": \"a.io/x\", \"target\": }\n");
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "malformed.json:1:");
    snprintf(path, sizeof path, "%s/badrule.json", workdir);
    write_file(path,
               "{\"rules\": [{\"source\": \"a.io/x\", \"target\": \"b.io/y\", \"colour\": 1}]}\n");
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "rules[0]");
    snprintf(path, sizeof path, "%s/empty.json", workdir);
    write_file(path, "{\"rules\": []}\n");
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "holds no rules");
    snprintf(path, sizeof path, "%s/badref.json", workdir);
    write_file(path, "{\"rules\": [{\"source\": \"a.io/Bad Ref\", \"target\": \"b.io/y\"}]}\n");
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "Bad Ref");
    snprintf(path, sizeof path, "%s/bad.yaml", workdir);
    write_file(path, "a.io/ns/x: [b.io/ns/x\n");
    snprintf(args, sizeof args, "sync '%s'", path);
    expect_usage(args, "bad.yaml:");
    snprintf(args, sizeof args, "mirror --auth-file '%s/absent-config.json' a.io b.io", workdir);
    expect_usage(args, "--auth-file");
}

/* ------------------------------------------------------------ 8. planted failures */

static void test_failures_run(void)
{
    fx_registry_t *a = registry(), *b = registry();
    fx_proxy_t *p = NULL;
    json_t *missing = NULL, *ok = NULL, *broken = NULL, *bad_v1 = NULL, *bad_v2 = NULL;
    if (!a || !b)
        goto out;
    ok = push(a, "ok/one", "v1", "--layers 2");
    missing = push(a, "ns/missing", "v1", "--layers 2");
    broken = push(a, "ns/broken", "v1", NULL);
    bad_v1 = push(a, "ns/badman", "v1", NULL);
    bad_v2 = push(a, "ns/badman", "v2", NULL);
    p = fx_proxy_start(a->url);
    CHECK(p != NULL);
    if (!ok || !missing || !broken || !bad_v1 || !bad_v2 || !p)
        goto out;
    /* A layer only ns/missing has, gone from the source's storage. */
    const char *layer = json_string_value(json_array_get(json_object_get(missing, "layers"), 1));
    CHECK(layer != NULL);
    if (!layer)
        goto out;
    CHECK_INT(fx_run(NULL, "rm '%s/storage/docker/registry/v2/blobs/sha256/%.2s/%s/data'", a->dir,
                     layer + 7, layer + 7),
              0);
    CHECK_INT(fx_proxy_rule(p, "{\"match\":\"GET /v2/ns/broken/tags/list\",\"action\":\"status\","
                               "\"status\":500,\"count\":-1}"),
              0);
    CHECK_INT(fx_proxy_rule(p, "{\"match\":\"/v2/ns/badman/manifests/v1$\",\"action\":\"status\","
                               "\"status\":500,\"count\":-1}"),
              0);
    char report[320];
    snprintf(report, sizeof report, "%s/failures.json", workdir);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "mirror %s %s --report '%s' %s", p->host, b->host, report,
          insecure(p->host, b->host));
    CHECK_INT(r.status, 1);
    check_finished(&r, 1, 1, 1);
    CHECK_CONTAINS(r.out, "Images: 2 migrated, 0 already present, 1 failed");
    /* The others still migrate. */
    char d[DIGEST_STR_MAX];
    CHECK_STR(skopeo(b, "ok/one:v1", d), json_str(ok, "digest"));
    CHECK_STR(skopeo(b, "ns/badman:v2", d), json_str(bad_v2, "digest"));
    CHECK_STR(tags_of(b, "ns/badman"), "v2");
    CHECK_STR(tags_of(b, "ns/missing"), "");
    CHECK_STR(tags_of(b, "ns/broken"), "");

    json_t *doc = load_json(report);
    char source[512];
    snprintf(source, sizeof source, "%s/ns/broken", p->host);
    json_t *it = report_item(doc, source);
    CHECK(it != NULL);
    CHECK_STR(item_str(it, "kind"), "repository");
    CHECK_STR(item_str(it, "status"), "failed");
    CHECK_CONTAINS(item_str(it, "error"), "500");
    snprintf(source, sizeof source, "%s/ns/badman:v1", p->host);
    it = report_item(doc, source);
    CHECK(it != NULL);
    CHECK_STR(item_str(it, "kind"), "manifest");
    CHECK_STR(item_str(it, "status"), "failed");
    CHECK_CONTAINS(item_str(it, "error"), "500");
    snprintf(source, sizeof source, "%s/ns/missing:v1", p->host);
    it = report_item(doc, source);
    CHECK(it != NULL);
    CHECK_STR(item_str(it, "kind"), "image");
    CHECK_STR(item_str(it, "status"), "failed");
    CHECK_STR(item_str(it, "digest"), json_str(missing, "digest"));
    CHECK_CONTAINS(item_str(it, "error"), layer);
    CHECK_CONTAINS(item_str(it, "error"), "404");
    CHECK_INT(report_count(doc, "failed"), 1);
    CHECK_INT(report_count(doc, "repositories_failed"), 1);
    CHECK_INT(report_count(doc, "manifests_failed"), 1);
    CHECK_INT(report_count(doc, "migrated"), 2);
    json_decref(doc);
    /* The human summary names each failure too. */
    CHECK_CONTAINS(r.out, "Failures (3):");
    CHECK_CONTAINS(r.out, layer);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    json_decref(ok);
    json_decref(missing);
    json_decref(broken);
    json_decref(bad_v1);
    json_decref(bad_v2);
    fx_proxy_stop(&p);
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ 9. sync */

/* Runs ferry ARGS expecting a usage error (exit 2) whose message holds `message`. */
static void expect_usage_run(const char *args, const char *message)
{
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "%s", args);
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, message);
    dump_if_failed(&r, before);
    ferry_run_free(&r);
}

static void test_sync(void)
{
    fx_registry_t *a = registry(), *b = registry();
    if (!a || !b)
        goto out;
    source_t s;
    source_fill(&s, a);
    json_decref(push(a, "ns2/tools", "1.1", NULL));
    json_decref(push(a, "ns2/tools", "2.0", NULL));

    /* ferry's JSON rules: a tag selection, one image, and a whole prefix. */
    char rules[320], text[2048];
    snprintf(rules, sizeof rules, "%s/rules.json", workdir);
    snprintf(text, sizeof text,
             "{\"rules\": [\n"
             "  {\"source\": \"%s/ns1/app\", \"target\": \"%s/copied/app\",\n"
             "   \"tags\": {\"include\": \"^v\", \"exclude\": \"^v2$\"}},\n"
             "  {\"source\": \"%s/ns1/multi:latest\", \"target\": \"%s/copied/multi\"},\n"
             "  {\"source\": \"%s/ns2/tools\", \"target\": \"%s/copied/tools\", \"tags\": "
             "[\"1.0\", \"2.0\"]}\n"
             "]}\n",
             a->host, b->host, a->host, b->host, a->host, b->host);
    CHECK_INT(write_file(rules, text), 0);
    ferry_run_t r;
    int before = test_failures;
    ferry(&r, "sync '%s' %s", rules, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_STR(tags_of(b, "copied/app"), "v1");
    check_same(a, b, "ns1/app", "copied/app", "v1", tag_digest(&s, "ns1/app", "v1"));
    check_same(a, b, "ns1/multi", "copied/multi", "latest", tag_digest(&s, "ns1/multi", "latest"));
    CHECK_STR(tags_of(b, "copied/tools"), "1.0,2.0");
    check_same(a, b, "ns2/tools", "copied/tools", "2.0", NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* image-transfer's rule file, with its security file for the hosts. */
    char yaml[320], security[320];
    snprintf(yaml, sizeof yaml, "%s/rules.yaml", workdir);
    snprintf(security, sizeof security, "%s/security.yaml", workdir);
    snprintf(text, sizeof text,
             "# image-transfer --ruleFile\n"
             "%s/ns2/a/b/c/repo: %s/yaml/deep/repo\n"
             "%s/ns1/multi:latest: %s/yaml/multi:latest\n"
             "%s/ns2/tools:1.0,1.1: %s/yaml/tools\n"
             "%s/ns1/app:v2: %s/yaml/app\n",
             a->host, b->host, a->host, b->host, a->host, b->host, a->host, b->host);
    CHECK_INT(write_file(yaml, text), 0);
    snprintf(text, sizeof text, "%s:\n  insecure: true\n%s:\n  insecure: true\n", a->host, b->host);
    CHECK_INT(write_file(security, text), 0);
    before = test_failures;
    ferry(&r, "sync '%s' --security-file '%s' --progress none", yaml, security);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_STR(tags_of(b, "yaml/deep/repo"), "v1");
    check_same(a, b, "ns2/a/b/c/repo", "yaml/deep/repo", "v1",
               tag_digest(&s, "ns2/a/b/c/repo", "v1"));
    check_same(a, b, "ns1/multi", "yaml/multi", "latest", tag_digest(&s, "ns1/multi", "latest"));
    CHECK_STR(tags_of(b, "yaml/tools"), "1.0,1.1");
    check_same(a, b, "ns2/tools", "yaml/tools", "1.0", tag_digest(&s, "ns2/tools", "1.0"));
    check_same(a, b, "ns2/tools", "yaml/tools", "1.1", NULL);
    /* One image brings the artifact that refers to it (its fallback tag). */
    char want[128];
    const char *app_v2 = tag_digest(&s, "ns1/app", "v2");
    snprintf(want, sizeof want, "sha256-%s,v2", app_v2 ? app_v2 + 7 : "?");
    CHECK_STR(tags_of(b, "yaml/app"), want);
    check_same(a, b, "ns1/app", "yaml/app", s.artifacts[0], s.artifacts[0]);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* The same files through image-transfer's own command line, Go flag
     * syntax and all: everything is there already; --tag-exist-overridden
     * false is --no-overwrite; --ns is refused, never ignored. */
    before = test_failures;
    ferry(&r, "image-transfer -ruleFile='%s' --securityFile '%s' -routines=3 --retry=1 "
              "--tag-exist-overridden=false --log-enable-color",
          yaml, security);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "0 migrated, 7 already present, 0 failed");
    CHECK_CONTAINS(r.err, "--log-enable-color has no effect");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    /* Renames: SRC:TAG to DST:TAG2 in both formats; verify compares them. */
    char renames[320];
    snprintf(renames, sizeof renames, "%s/renames.yaml", workdir);
    snprintf(text, sizeof text, "%s/ns2/tools:1.0: %s/renamed/tools:stable\n", a->host, b->host);
    CHECK_INT(write_file(renames, text), 0);
    snprintf(rules, sizeof rules, "%s/renames.json", workdir);
    snprintf(text, sizeof text,
             "{\"rules\": [{\"source\": \"%s/ns1/app:v1\", \"target\": \"%s/renamed/app:prod\"}]}\n",
             a->host, b->host);
    CHECK_INT(write_file(rules, text), 0);
    before = test_failures;
    ferry(&r, "sync '%s' %s", renames, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_STR(tags_of(b, "renamed/tools"), "stable");
    ferry_run_free(&r);
    ferry(&r, "sync '%s' %s", rules, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_STR(tags_of(b, "renamed/app"), "prod");
    char sref[160];
    snprintf(sref, sizeof sref, "ns1/app:v1");
    char da[DIGEST_STR_MAX], db[DIGEST_STR_MAX];
    CHECK_STR(skopeo(b, "renamed/app:prod", db), skopeo(a, sref, da));
    ferry_run_free(&r);
    ferry(&r, "verify sync '%s' %s", rules, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "verify: 1 tag(s) identical, 0 difference(s)");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
    /* A rule that cannot be taken names the file, its line and the rule. */
    snprintf(text, sizeof text, "%s/ns2/tools:1.0: %s/renamed/tools:stable\n%s/ns2/tools: %s/x:y\n",
             a->host, b->host, a->host, b->host);
    CHECK_INT(write_file(renames, text), 0);
    char where[400];
    snprintf(where, sizeof where, "%s:2: target: '%s/x:y' names a tag", renames, b->host);
    char args[700];
    snprintf(args, sizeof args, "sync '%s' %s", renames, insecure(a->host, b->host));
    expect_usage_run(args, where);

    expect_usage_run("image-transfer --ruleFile=x.yaml --ns=default", "--ns is not supported");
    expect_usage_run("image-transfer --ruleFile=x.yaml --bogus", "unknown flag 'bogus'");
    expect_usage_run("image-transfer --secretFile=s.yaml --ruleFile=x.yaml",
                     "--secretFile needs --ccrToTcr=true");

    /* A location rule mirrors a prefix under another prefix. */
    snprintf(rules, sizeof rules, "%s/prefix.json", workdir);
    snprintf(text, sizeof text,
             "{\"rules\": [{\"source\": \"%s/ns2\", \"target\": \"%s/moved\"}]}\n", a->host,
             b->host);
    CHECK_INT(write_file(rules, text), 0);
    before = test_failures;
    ferry(&r, "sync '%s' %s", rules, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 4 migrated");
    check_same(a, b, "ns2/a/b/c/repo", "moved/a/b/c/repo", "v1", NULL);
    CHECK_STR(tags_of(b, "moved/tools"), "1.0,1.1,2.0");
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* So does mirror, given host/prefix. */
    before = test_failures;
    ferry(&r, "mirror %s/ns2 %s/via/mirror %s", a->host, b->host, insecure(a->host, b->host));
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 4 migrated");
    check_same(a, b, "ns2/a/b/c/repo", "via/mirror/a/b/c/repo", "v1", NULL);
    CHECK_STR(tags_of(b, "via/mirror/tools"), "1.0,1.1,2.0");
    dump_if_failed(&r, before);
    ferry_run_free(&r);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ TLS */

/* Registries on TLS (each with its own CA, both in one --ca-file) and no
 * --insecure: the migration verifies them and completes. They offer HTTP/2:
 * the coordinator's questions take it (one connection for all of them), the
 * blobs do not; each moves over HTTP/1.1 on a connection of its own, which
 * halves the agent's CPU time (README, Performance). The access logs say
 * which protocol every request came in on. */
static void test_tls(void)
{
    fx_registry_t *a = fx_registry_start("tls", 0), *b = fx_registry_start("tls", 0);
    CHECK(a && b);
    if (!a || !b)
        goto out;
    json_decref(push(a, "secure/app", "v1", "--layers 3 --layer-size 300000"));
    json_decref(push(a, "secure/app", "v2", "--layers 2 --layer-size 200000"));
    char bundle[300];
    snprintf(bundle, sizeof bundle, "%s/tls-bundle.pem", workdir);
    char *ca_a = fx_read_file(a->ca_file), *ca_b = fx_read_file(b->ca_file);
    FILE *f = fopen(bundle, "w");
    CHECK(ca_a && ca_b && f);
    if (f) {
        fprintf(f, "%s%s", ca_a ? ca_a : "", ca_b ? ca_b : "");
        fclose(f);
    }
    free(ca_a);
    free(ca_b);

    ferry_run_t r;
    int before = test_failures;
    /* Without the CAs: a clear certificate error, nothing moved. */
    ferry(&r, "mirror %s %s --progress none", a->host, b->host);
    CHECK_INT(r.status, 2);
    char line[300];
    snprintf(line, sizeof line, "%s: its TLS certificate is not trusted", a->host);
    CHECK_CONTAINS(r.err, line);
    CHECK_CONTAINS(r.err, "give --ca-file with its CA");
    snprintf(line, sizeof line, "%s: its TLS certificate is not trusted", b->host);
    CHECK_CONTAINS(r.err, line);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    /* --insecure HOST, no port: TLS without verification on each of its
     * ports (as skopeo's --tls-verify=false), not plain HTTP. */
    before = test_failures;
    ferry(&r, "copy %s/secure/app:v1 %s/unverified/app --insecure 127.0.0.1 --progress none",
          a->host, b->host);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    long mark_a = fx_log_mark(a), mark_b = fx_log_mark(b);
    before = test_failures;
    ferry(&r, "mirror %s %s --ca-file '%s' --progress none --jobs 4", a->host, b->host, bundle);
    CHECK_INT(r.status, 0);
    check_finished(&r, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 2 migrated, 0 already present, 0 failed");
    check_same(a, b, "secure/app", NULL, "v1", NULL);
    check_same(a, b, "secure/app", NULL, "v2", NULL);
    dump_if_failed(&r, before);
    ferry_run_free(&r);

    int got_h1 = fx_log_count(a, mark_a, "\"GET /v2/secure/app/blobs/sha256:", " HTTP/1.1\" "),
        got_h2 = fx_log_count(a, mark_a, "\"GET /v2/secure/app/blobs/sha256:", " HTTP/2.0\" "),
        put_h1 = fx_log_count(b, mark_b, "\"PUT /v2/secure/app/blobs/uploads/", " HTTP/1.1\" "),
        put_h2 = fx_log_count(b, mark_b, "\"PUT /v2/secure/app/blobs/uploads/", " HTTP/2.0\" "),
        ask_h2 = fx_log_count(a, mark_a, "\"GET /v2/secure/app/tags/list", " HTTP/2.0\" ");
    fprintf(stderr, "  blob GETs %d over HTTP/1.1, %d over HTTP/2; uploads %d / %d; tag list %d\n",
            got_h1, got_h2, put_h1, put_h2, ask_h2);
    CHECK(got_h1 >= 5); /* v1: config + 3 layers, v2: config + 2 (a layer may be shared) */
    CHECK_INT(got_h2, 0);
    CHECK_INT(put_h1, got_h1);
    CHECK_INT(put_h2, 0);
    CHECK_INT(ask_h2, 1);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* ------------------------------------------------------------ main */

typedef struct subtest {
    const char *name;
    void (*run)(void);
} subtest_t;

static const subtest_t subtests[] = {
    {"mirror", test_mirror},   {"latest", test_latest},
    {"rerun", test_rerun},     {"nooverwrite", test_nooverwrite},
    {"verify", test_verify},   {"dryrun", test_dryrun},
    {"badargs", test_badargs}, {"failures", test_failures_run},
    {"sync", test_sync},       {"status", test_status},
    {"qps", test_qps},         {"tls", test_tls},
    {"signatures", test_signatures}, {"preflight", test_preflight},
};

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/ferry-e2e-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) {
        perror("mkdtemp");
        return 1;
    }
    /* No credentials of the machine's user reach the test registries. */
    char config_dir[300];
    snprintf(config_dir, sizeof config_dir, "%s/docker", workdir);
    mkdir(config_dir, 0700);
    setenv("DOCKER_CONFIG", config_dir, 1);

    size_t n = sizeof subtests / sizeof subtests[0];
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], subtests[i].name) != 0)
            continue;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int before = test_failures;
        fprintf(stderr, "== %s\n", subtests[i].name);
        subtests[i].run();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        fprintf(stderr, "== %s: %s in %.1f s\n", subtests[i].name,
                test_failures > before ? "FAILED" : "ok",
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        ran++;
    }
    if (!ran) {
        fprintf(stderr, "unknown sub-test '%s'; one of:", argv[1]);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %s", subtests[i].name);
        fprintf(stderr, "\n");
        return 2;
    }
    const char *keep = getenv("FX_KEEP");
    if (!(keep && *keep && strcmp(keep, "0") != 0))
        fx_run(NULL, "rm -rf '%s'", workdir);
    return test_report();
}
