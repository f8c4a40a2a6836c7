/* End-to-end test of `ferry ccr2tcr`, run the way Tencent's migration guide
 * runs image-transfer: a basic-auth registry stands in for the Personal
 * Edition (ccr), another for the Enterprise Edition instance (tcr), and
 * tests/fixtures/tcapi_double.py answers the cloud API for both sides.
 *
 *   test_ccr2tcr [all|tagnum|rerun|nsfail|ratelimit|refuse|token|dash|badlogin]
 *
 * Without an argument every sub-test runs. The source registry is filled once
 * (lazily); each sub-test gets its own target registry and its own API
 * double, so the sub-tests are independent. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e.h"
#include "fixture.h"
#include "testlib.h"

#ifndef FERRY_BIN
#error "FERRY_BIN must name the ferry executable"
#endif
#ifndef TC_DOUBLE
#error "TC_DOUBLE must name tests/fixtures/tcapi_double.py"
#endif

#define CCR_ID     "AKIDccrE2E000000001"
#define CCR_KEY    "ccr-e2e-secret-key-0001"
#define TCR_ID     "AKIDtcrE2E000000002"
#define TCR_KEY    "tcr-e2e-secret-key-0002"
#define CCR_USER   "100012345678"
#define CCR_PASS   "ccr-login-pass-1"
#define TCR_USER   "tcr-migrator"
#define TCR_PASS   "tcr-login-pass-2"
#define TOKEN_USER "tcr-temp-100012345678"
#define TOKEN_PASS "eyJ0ZXN0IjoidGVtcG9yYXJ5In0.fixed-temporary-token"
#define CCR_REGION "ap-guangzhou"
#define TCR_REGION "ap-shanghai"
#define TCR_NAME   "migrate-target"
#define TCR_ID_RUN "tcr-mig00001"

/* ---------------------------------------------------------------- the data */

/* One tag of the Personal Edition account. Within a repository the array
 * order is the order the API returns (it promises none); it differs from
 * both the name order and the push-time order, so that only a client sorting
 * by PushTime picks the right "latest N". */
typedef struct image_spec {
    const char *repo;
    const char *tag;
    const char *push_time;       /* PushTime as the API writes it */
    int rank;                    /* 1 = pushed most recently within its repository */
    char digest[DIGEST_STR_MAX]; /* filled by the push */
} image_spec_t;

static image_spec_t images[] = {
    /* newest two: v3, v1 (v1's time is written in UTC: 03:00 UTC = 11:00 CST) */
    {"alpha/web", "v1", "2024-01-01 03:00:00 +0000 UTC", 2, ""},
    {"alpha/web", "v4", "2024-01-01 10:00:00 +0800 CST", 3, ""},
    {"alpha/web", "v2", "2024-01-01 09:00:00 +0800 CST", 4, ""},
    {"alpha/web", "v3", "2024-01-01 12:00:00 +0800 CST", 1, ""},
    /* newest two: 1.0, 2.0 */
    {"alpha/api", "2.0", "2024-01-02 11:00:00 +0800 CST", 2, ""},
    {"alpha/api", "latest", "2024-01-02 08:00:00 +0800 CST", 4, ""},
    {"alpha/api", "1.0", "2024-01-02 12:30:00 +0800 CST", 1, ""},
    {"alpha/api", "1.1", "2024-01-02 09:00:00 +0800 CST", 3, ""},
    /* newest two: a, c */
    {"beta/worker", "c", "2024-01-03 09:00:00 +0800 CST", 2, ""},
    {"beta/worker", "b", "2024-01-03 08:00:00 +0800 CST", 3, ""},
    {"beta/worker", "a", "2024-01-03 10:00:00 +0800 CST", 1, ""},
    {"gamma/db", "x", "2024-01-04 10:00:00 +0800 CST", 2, ""},
    {"gamma/db", "y", "2024-01-04 11:00:00 +0800 CST", 1, ""},
    /* newest two: m3, m1 */
    {"gamma/cache", "m2", "2024-01-05 06:00:00 +0800 CST", 3, ""},
    {"gamma/cache", "m3", "2024-01-05 08:00:00 +0800 CST", 1, ""},
    {"gamma/cache", "m1", "2024-01-05 07:00:00 +0800 CST", 2, ""},
    {"delta/tool", "stable", "2024-01-06 10:00:00 +0800 CST", 1, ""},
};
#define N_IMAGES (sizeof images / sizeof images[0])

static const char *const repos[] = {"alpha/api",  "alpha/web",   "beta/worker",
                                    "delta/tool", "gamma/cache", "gamma/db"};
#define N_REPOS (sizeof repos / sizeof repos[0])

/* The instance has "alpha" (and one the account does not use); these are
 * missing, "epsilon" holding no repository. */
static const char *const missing_namespaces[] = {"beta", "delta", "epsilon", "gamma"};
#define N_MISSING (sizeof missing_namespaces / sizeof missing_namespaces[0])

static fx_registry_t *ccr; /* the Personal Edition registry, filled once */

/* s, or "" for NULL. */
static const char *nz(const char *s)
{
    return s ? s : "";
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Starts the ccr registry and pushes every image once. The config's creation
 * time runs opposite to the push time, so a tool ordering by the image's
 * "created" instead of the API's PushTime picks the wrong tags. */
static int ccr_setup(void)
{
    if (ccr)
        return 0;
    double started = now_s();
    ccr = fx_registry_start_opts("basic", "--user " CCR_USER " --password " CCR_PASS);
    if (!ccr)
        return -1;
    for (size_t i = 0; i < N_IMAGES; i++) {
        char args[256];
        snprintf(args, sizeof args,
                 "--layers 1 --layer-size 2000 --shared-layer base:1500 "
                 "--created 2023-06-01T%02d:%02d:00Z",
                 images[i].rank, (int)i);
        json_t *pushed = fx_push_image(ccr, images[i].repo, images[i].tag, args);
        const char *digest = json_string_value(json_object_get(pushed, "digest"));
        if (!digest || strlen(digest) >= DIGEST_STR_MAX) {
            json_decref(pushed);
            return -1;
        }
        snprintf(images[i].digest, sizeof images[i].digest, "%s", digest);
        json_decref(pushed);
    }
    fprintf(stderr, "ccr registry %s: %zu images pushed in %.1fs\n", ccr->host, N_IMAGES,
            now_s() - started);
    return 0;
}

/* ------------------------------------------------------------ the API double */

typedef struct tc_double {
    pid_t pid;
    int stdin_fd; /* the double exits when this closes, even if the test crashes */
    char dir[64];
    char state_path[96];
    char log_path[96];
    char url[128];
} tc_double_t;

/* The account the double serves: the Personal Edition tags above with the
 * digests pushed, and the instances of the target region. `faults` (stolen)
 * and `token` (optional fixed CreateInstanceToken answer) vary per sub-test. */
static json_t *double_state(json_t *faults, bool fixed_token)
{
    json_t *personal_repos = json_object();
    for (size_t i = 0; i < N_IMAGES; i++) {
        json_t *list = json_object_get(personal_repos, images[i].repo);
        if (!list) {
            list = json_array();
            json_object_set_new(personal_repos, images[i].repo, list);
        }
        json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i}", "tag", images[i].tag, "digest",
                                              images[i].digest, "push_time", images[i].push_time,
                                              "size", 3500 + (int)i));
    }
    json_t *state =
        json_pack("{s:{s:s,s:s},s:{s:o,s:[s]},"
                  "s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s}],"
                  "s:{s:[s,s]},s:o}",
                  "secrets", CCR_ID, CCR_KEY, TCR_ID, TCR_KEY, "personal", "repos", personal_repos,
                  /* a namespace with no repository yet: it is created all the same */
                  "namespaces", "epsilon",
                  /* the instance; one whose name only starts the same (the API's
                   * filter matches substrings), stopped; and a namesake in the ccr
                   * region that must not be picked */
                  "instances", "id", TCR_ID_RUN, "name", TCR_NAME, "status", "Running", "region",
                  TCR_REGION, "public_domain", "migrate-target.tencentcloudcr.com", "id",
                  "tcr-old00002", "name", "migrate-target-old", "status", "Stopped", "region",
                  TCR_REGION, "public_domain", "migrate-target-old.tencentcloudcr.com", "id",
                  "tcr-gz000003", "name", TCR_NAME, "status", "Running", "region", CCR_REGION,
                  "public_domain", "gz.tencentcloudcr.com", "enterprise_namespaces", TCR_ID_RUN,
                  "alpha", "legacy", "faults", faults ? faults : json_object());
    if (state && fixed_token)
        json_object_set_new(state, "instance_token",
                            json_pack("{s:s,s:s}", "username", TOKEN_USER, "token", TOKEN_PASS));
    return state;
}

static void double_stop(tc_double_t *d)
{
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        waitpid(d->pid, NULL, 0);
        d->pid = -1;
    }
    if (d->stdin_fd >= 0) {
        close(d->stdin_fd);
        d->stdin_fd = -1;
    }
    if (d->dir[0] && !getenv("FX_KEEP")) {
        unlink(d->state_path);
        unlink(d->log_path);
        rmdir(d->dir);
    }
    d->dir[0] = '\0';
}

/* Starts the double on `state` (borrowed); 0 or -1. */
static int double_start(tc_double_t *d, json_t *state)
{
    int out_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
    char line[256] = "";
    json_t *hello = NULL;
    int rc = -1;

    memset(d, 0, sizeof *d);
    d->pid = -1;
    d->stdin_fd = -1;
    snprintf(d->dir, sizeof d->dir, "/tmp/ferry-ccr2tcr-XXXXXX");
    if (!mkdtemp(d->dir)) {
        d->dir[0] = '\0';
        return -1;
    }
    snprintf(d->state_path, sizeof d->state_path, "%s/state.json", d->dir);
    snprintf(d->log_path, sizeof d->log_path, "%s/calls.jsonl", d->dir);
    if (!state || json_dump_file(state, d->state_path, 0) < 0)
        goto out;
    if (pipe(out_pipe) < 0 || pipe(in_pipe) < 0)
        goto out;
    d->pid = fork();
    if (d->pid < 0)
        goto out;
    if (d->pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(in_pipe[0], STDIN_FILENO);
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(in_pipe[0]);
        close(in_pipe[1]);
        execl("/usr/bin/python3", "python3", TC_DOUBLE, "--state", d->state_path, "--log",
              d->log_path, "--exit-on-stdin-eof", (char *)NULL);
        _exit(127);
    }
    close(out_pipe[1]);
    out_pipe[1] = -1;
    close(in_pipe[0]);
    in_pipe[0] = -1;
    d->stdin_fd = in_pipe[1];
    in_pipe[1] = -1;
    size_t used = 0;
    while (used < sizeof line - 1 && !memchr(line, '\n', used)) {
        struct pollfd pfd = {.fd = out_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, 20000) <= 0)
            break;
        ssize_t n = read(out_pipe[0], line + used, sizeof line - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        line[used] = '\0';
    }
    hello = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    const char *url = json_string_value(json_object_get(hello, "url"));
    if (!url || strlen(url) >= sizeof d->url)
        goto out;
    snprintf(d->url, sizeof d->url, "%s", url);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] >= 0)
            close(out_pipe[i]);
        if (in_pipe[i] >= 0)
            close(in_pipe[i]);
    }
    json_decref(hello);
    if (rc < 0)
        double_stop(d);
    return rc;
}

/* The calls the double logged, an array of objects (new reference). */
static json_t *double_calls(const tc_double_t *d)
{
    json_t *calls = json_array();
    FILE *f = fopen(d->log_path, "r");
    if (!f)
        return calls;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *entry = json_loads(line, 0, NULL);
        if (entry)
            json_array_append_new(calls, entry);
    }
    free(line);
    fclose(f);
    return calls;
}

static const char *call_str(json_t *call, const char *key)
{
    return json_string_value(json_object_get(call, key));
}

/* Calls of `action` (NULL = any) from index `from` on that failed with
 * `code` (NULL = that succeeded). */
static int count_calls(json_t *calls, size_t from, const char *action, const char *code)
{
    int n = 0;
    for (size_t i = from; i < json_array_size(calls); i++) {
        json_t *c = json_array_get(calls, i);
        const char *a = call_str(c, "action"), *e = call_str(c, "error");
        if (action && (!a || strcmp(a, action) != 0))
            continue;
        if (code ? (e && strcmp(e, code) == 0) : json_is_true(json_object_get(c, "ok")))
            n++;
    }
    return n;
}

/* ---------------------------------------------------------- running ferry */

typedef struct run {
    int status;     /* exit status */
    char *out;      /* stdout */
    char *err;      /* stderr */
    double seconds; /* wall time */
} run_t;

static void run_free(run_t *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* Runs `ferry ccr2tcr ARGS` (ARGS already shell words). */
static void ferry_run(run_t *r, const tc_double_t *d, const char *args)
{
    char err_path[128];
    snprintf(err_path, sizeof err_path, "%s/ferry.stderr", d->dir);
    memset(r, 0, sizeof *r);
    double started = now_s();
    r->status = fx_run(&r->out, "%s ccr2tcr %s 2>%s", FERRY_BIN, args, err_path);
    r->seconds = now_s() - started;
    if (!r->out)
        r->out = strdup("");
    r->err = fx_read_file(err_path);
    if (!r->err)
        r->err = strdup("");
    unlink(err_path);
    fprintf(stderr, "  ferry ccr2tcr: exit %d in %.2fs\n", r->status, r->seconds);
    if (getenv("CCR2TCR_VERBOSE") || r->status > 2)
        fprintf(stderr, "---- stdout\n%s---- stderr\n%s----\n", r->out, r->err);
}

/* What varies between runs of the guide's command. */
typedef struct guide {
    const char *tcr_name; /* NULL = TCR_NAME */
    const char *ccr_key;  /* NULL = CCR_KEY */
    const char *tcr_key;  /* NULL = TCR_KEY */
    const char *ccr_auth; /* NULL = CCR_USER:CCR_PASS */
    int tag_num;          /* 0 = 50, as the guide does */
    bool no_tcr_auth;     /* leave --tcrAuth out (temporary token) */
    bool single_dash;     /* image-transfer's -flag form */
    const char *extra;    /* more shell words, or NULL */
} guide_t;

/* The guide's command line, pointed at the test's registries and double. */
static char *guide_args(const fx_registry_t *tcr, const tc_double_t *d, const guide_t *g)
{
    const char *dash = g->single_dash ? "-" : "--";
    char *args = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&args, &len);
    if (!f)
        return NULL;
    fprintf(f, "%stcrName %s %sccrRegionName %s %stcrRegionName %s %sccrAuth %s ", dash,
            g->tcr_name ? g->tcr_name : TCR_NAME, dash, CCR_REGION, dash, TCR_REGION, dash,
            g->ccr_auth ? g->ccr_auth : CCR_USER ":" CCR_PASS);
    if (!g->no_tcr_auth)
        fprintf(f, "%stcrAuth %s:%s ", dash, tcr->user, tcr->password);
    fprintf(f, "%sccrSecretId %s %sccrSecretKey %s %stcrSecretId %s %stcrSecretKey %s ", dash,
            CCR_ID, dash, g->ccr_key ? g->ccr_key : CCR_KEY, dash, TCR_ID, dash,
            g->tcr_key ? g->tcr_key : TCR_KEY);
    fprintf(f, "%stagNum %d %stencentcloud-endpoint %s %sccr-registry %s %stcr-registry %s ", dash,
            g->tag_num ? g->tag_num : 50, dash, d->url, dash, ccr->host, dash, tcr->host);
    fprintf(f, "%sinsecure %s %sinsecure %s", dash, ccr->host, dash, tcr->host);
    if (g->extra)
        fprintf(f, " %s", g->extra);
    fclose(f);
    return args;
}

static void run_guide(run_t *r, const fx_registry_t *tcr, const tc_double_t *d, const guide_t *g)
{
    char *args = guide_args(tcr, d, g);
    if (!args) {
        memset(r, 0, sizeof *r);
        r->status = -1;
        r->out = strdup("");
        r->err = strdup("");
        return;
    }
    ferry_run(r, d, args);
    free(args);
}

/* No secret reaches ferry's output. */
static void check_no_secrets(const run_t *r)
{
    static const char *const secrets[] = {CCR_KEY, TCR_KEY, CCR_PASS, TCR_PASS, TOKEN_PASS};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        CHECK(strstr(r->out, secrets[i]) == NULL);
        CHECK(strstr(r->err, secrets[i]) == NULL);
    }
}

/* ------------------------------------------------- looking at the target */

/* GET http://HOST/PATH with r's login, parsed (new reference) or NULL. */
static json_t *registry_get_json(const fx_registry_t *r, const char *path)
{
    char *body = NULL;
    char *creds = NULL, *qcreds = NULL;
    json_t *doc = NULL;
    if (asprintf(&creds, "%s:%s", r->user, r->password) < 0) {
        creds = NULL;
        goto out;
    }
    if (!(qcreds = fx_shell_quote(creds)))
        goto out;
    if (fx_run(&body, "curl -sS -u %s 'http://%s%s'", qcreds, r->host, path) == 0 && body)
        doc = json_loads(body, 0, NULL);
out:
    free(body);
    free(qcreds);
    free(creds);
    return doc;
}

/* Number of repositories in the target's catalog, -1 when it cannot be read. */
static int catalog_size(const fx_registry_t *r)
{
    json_t *doc = registry_get_json(r, "/v2/_catalog");
    json_t *list = json_object_get(doc, "repositories");
    int n = json_is_array(list) ? (int)json_array_size(list) : -1;
    json_decref(doc);
    return n;
}

static bool catalog_has(const fx_registry_t *r, const char *repo)
{
    json_t *doc = registry_get_json(r, "/v2/_catalog");
    json_t *list = json_object_get(doc, "repositories");
    bool found = false;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(nz(json_string_value(json_array_get(list, i))), repo) == 0)
            found = true;
    json_decref(doc);
    return found;
}

/* The target's tags of repo as a sorted, comma-joined string ("" for none). */
static void target_tags(const fx_registry_t *r, const char *repo, char *out, size_t size)
{
    char path[256];
    snprintf(path, sizeof path, "/v2/%s/tags/list", repo);
    json_t *doc = registry_get_json(r, path);
    json_t *tags = json_object_get(doc, "tags");
    size_t n = json_array_size(tags);
    const char **names = calloc(n ? n : 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++)
        names[i] = nz(json_string_value(json_array_get(tags, i)));
    for (size_t i = 1; names && i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            const char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; names && i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", names[i]);
    free(names);
    json_decref(doc);
}

/* The tags of repo whose rank is at most max_rank, sorted and comma-joined. */
static void expected_tags(const char *repo, int max_rank, char *out, size_t size)
{
    const char *names[N_IMAGES];
    size_t n = 0;
    for (size_t i = 0; i < N_IMAGES; i++)
        if (strcmp(images[i].repo, repo) == 0 && images[i].rank <= max_rank)
            names[n++] = images[i].tag;
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && strcmp(names[k - 1], names[k]) > 0; k--) {
            const char *t = names[k];
            names[k] = names[k - 1];
            names[k - 1] = t;
        }
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? "," : "", names[i]);
}

/* Every repository not in skip_namespace holds exactly the tags ranked up to
 * max_rank; those of skip_namespace are absent. */
static void check_target_tags(const fx_registry_t *tcr, int max_rank, const char *skip_namespace)
{
    for (size_t i = 0; i < N_REPOS; i++) {
        char got[512], want[512];
        size_t ns_len = skip_namespace ? strlen(skip_namespace) : 0;
        if (skip_namespace && strncmp(repos[i], skip_namespace, ns_len) == 0 &&
            repos[i][ns_len] == '/') {
            CHECK(!catalog_has(tcr, repos[i]));
            continue;
        }
        target_tags(tcr, repos[i], got, sizeof got);
        expected_tags(repos[i], max_rank, want, sizeof want);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "  %s: target has [%s], expected [%s]\n", repos[i], got, want);
        CHECK_STR(got, want);
    }
}

/* With skopeo, independently of ferry: every tag ranked up to max_rank has
 * the pushed digest on both sides. */
static void check_digests_skopeo(const fx_registry_t *tcr, int max_rank)
{
    for (size_t i = 0; i < N_IMAGES; i++) {
        if (images[i].rank > max_rank)
            continue;
        char ref[256], src[DIGEST_STR_MAX], dst[DIGEST_STR_MAX];
        snprintf(ref, sizeof ref, "%s:%s", images[i].repo, images[i].tag);
        CHECK_INT(fx_skopeo_digest(ccr, ref, src), 0);
        CHECK_INT(fx_skopeo_digest(tcr, ref, dst), 0);
        CHECK_STR(src, images[i].digest);
        CHECK_STR(dst, images[i].digest);
    }
}

/* Blob uploads the registry has started: POST .../blobs/uploads/ answered
 * 202 in its log (a refused POST, or a mount probe answered 201, started
 * none). */
static int upload_count(const fx_registry_t *r)
{
    char path[512];
    snprintf(path, sizeof path, "%s/registry.log", r->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int n = 0;
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0)
        if (strstr(line, "\"POST /v2/") && strstr(line, "/blobs/uploads/") &&
            strstr(line, "HTTP/1.1\" 202 "))
            n++;
    free(line);
    fclose(f);
    return n;
}

/* --------------------------------------------------------------- sub-tests */

typedef struct env {
    fx_registry_t *tcr;
    tc_double_t api;
} env_t;

/* A fresh target registry (with user:pass) and a double with these faults. */
static int env_start(env_t *e, const char *user, const char *pass, json_t *faults, bool token)
{
    char opts[256];
    memset(e, 0, sizeof *e);
    e->api.pid = -1;
    e->api.stdin_fd = -1;
    if (ccr_setup() < 0) {
        json_decref(faults);
        return -1;
    }
    snprintf(opts, sizeof opts, "--user %s --password %s", user, pass);
    e->tcr = fx_registry_start_opts("basic", opts);
    json_t *state = double_state(faults, token);
    int rc = e->tcr && double_start(&e->api, state) == 0 ? 0 : -1;
    json_decref(state);
    return rc;
}

static void env_stop(env_t *e)
{
    double_stop(&e->api);
    fx_registry_stop(&e->tcr);
}

/* Every call went to the right side with the right key and region. */
static void check_call_sides(json_t *calls)
{
    for (size_t i = 0; i < json_array_size(calls); i++) {
        json_t *c = json_array_get(calls, i);
        const char *action = nz(call_str(c, "action"));
        bool personal = strstr(action, "Personal") != NULL;
        CHECK_STR(call_str(c, "secret_id"), personal ? CCR_ID : TCR_ID);
        CHECK_STR(call_str(c, "region"), personal ? CCR_REGION : TCR_REGION);
        const char *registry_id =
            json_string_value(json_object_get(json_object_get(c, "params"), "RegistryId"));
        if (registry_id)
            CHECK_STR(registry_id, TCR_ID_RUN);
    }
}

/* 1. Everything migrates; missing namespaces are created, exactly those. */
static void test_all(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){0});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 17 migrated, 0 already present, 0 failed");
    check_no_secrets(&r);
    CHECK_INT(catalog_size(e.tcr), (int)N_REPOS);
    check_target_tags(e.tcr, 100, NULL);
    check_digests_skopeo(e.tcr, 100);

    json_t *calls = double_calls(&e.api);
    CHECK_INT(count_calls(calls, 0, "CreateNamespace", NULL), (int)N_MISSING);
    for (size_t k = 0; k < N_MISSING; k++) {
        int n = 0;
        for (size_t i = 0; i < json_array_size(calls); i++) {
            json_t *c = json_array_get(calls, i);
            if (strcmp(nz(call_str(c, "action")), "CreateNamespace") != 0)
                continue;
            json_t *params = json_object_get(c, "params");
            const char *ns = json_string_value(json_object_get(params, "NamespaceName"));
            CHECK(ns && strcmp(ns, "alpha") != 0 && strcmp(ns, "legacy") != 0);
            CHECK(json_is_false(json_object_get(params, "IsPublic")));
            n += ns && strcmp(ns, missing_namespaces[k]) == 0;
        }
        CHECK_INT(n, 1);
    }
    CHECK_INT(count_calls(calls, 0, "DescribeImagePersonal", NULL), (int)N_REPOS);
    CHECK_INT(count_calls(calls, 0, "CreateInstanceToken", NULL), 0);
    CHECK_INT(count_calls(calls, 0, NULL, NULL), (int)json_array_size(calls)); /* no errors */
    check_call_sides(calls);
    json_decref(calls);
    run_free(&r);
    env_stop(&e);
}

/* 2. --tagNum 2: the two most recently pushed tags of each repository. */
static void test_tagnum(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){.tag_num = 2});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    /* 2+2+2+2+2+1 */
    CHECK_CONTAINS(r.out, "Images: 11 migrated, 0 already present, 0 failed");
    check_target_tags(e.tcr, 2, NULL);
    run_free(&r);
    env_stop(&e);
}

/* 3. A second run finds everything in place and uploads nothing. */
static void test_rerun(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){0});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    run_free(&r);
    int uploads = upload_count(e.tcr);
    CHECK(uploads > 0);
    json_t *calls = double_calls(&e.api);
    size_t first_run_calls = json_array_size(calls);
    json_decref(calls);

    run_guide(&r, e.tcr, &e.api, &(guide_t){0});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 0 migrated, 17 already present, 0 failed");
    CHECK_CONTAINS(r.out, "Blobs: 0 copied, 0 mounted");
    CHECK_INT(upload_count(e.tcr), uploads);
    calls = double_calls(&e.api);
    /* the namespaces exist now: none is created again */
    CHECK_INT(count_calls(calls, first_run_calls, "CreateNamespace", NULL), 0);
    CHECK_INT(count_calls(calls, first_run_calls, "CreateNamespace",
                          "InternalError.ErrorTcrResourceConflict"),
              0);
    json_decref(calls);
    check_target_tags(e.tcr, 100, NULL);
    run_free(&r);
    env_stop(&e);
}

/* 4. A namespace that cannot be created fails each of its repositories,
 * visibly and in the counts; the others still migrate. */
static void test_nsfail(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, json_pack("{s:[s]}", "create_namespace_fail", "gamma"),
                  false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    char report_path[160], extra[200];
    snprintf(report_path, sizeof report_path, "%s/report.json", e.api.dir);
    snprintf(extra, sizeof extra, "--report %s", report_path);
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){.extra = extra});
    CHECK_INT(r.status, 1);
    check_finished_out(r.out, 0, 2, 0);
    CHECK_CONTAINS(r.out, "Images: 12 migrated, 0 already present, 0 failed");
    /* each repository of gamma is listed with the reason */
    char *lines = r.out;
    for (size_t i = 0; i < N_REPOS; i++) {
        if (strncmp(repos[i], "gamma/", 6) != 0)
            continue;
        char needle[256];
        snprintf(needle, sizeof needle,
                 "%s/%s -> %s/%s: namespace gamma could not be created: ", ccr->host, repos[i],
                 e.tcr->host, repos[i]);
        const char *at = strstr(lines, needle);
        CHECK_CONTAINS(lines, needle);
        if (at) {
            const char *eol = strchr(at, '\n');
            char line[1024];
            snprintf(line, sizeof line, "%.*s", (int)(eol ? eol - at : (long)strlen(at)), at);
            CHECK_CONTAINS(line, "FailedOperation");
            CHECK_CONTAINS(line, "injected fault");
        }
    }
    check_target_tags(e.tcr, 100, "gamma");

    json_error_t jerr;
    json_t *report = json_load_file(report_path, 0, &jerr);
    CHECK(report != NULL);
    json_t *counts = json_object_get(report, "counts");
    CHECK_INT(json_integer_value(json_object_get(counts, "namespaces_failed")), 2);
    CHECK_INT(json_integer_value(json_object_get(counts, "migrated")), 12);
    int failed_items = 0;
    json_t *items = json_object_get(report, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        json_t *item = json_array_get(items, i);
        if (strcmp(nz(json_string_value(json_object_get(item, "status"))), "failed") != 0)
            continue;
        failed_items++;
        CHECK_STR(json_string_value(json_object_get(item, "kind")), "namespace");
        CHECK_CONTAINS(json_string_value(json_object_get(item, "source")), "/gamma/");
        CHECK_CONTAINS(json_string_value(json_object_get(item, "error")),
                       "namespace gamma could not be created");
    }
    CHECK_INT(failed_items, 2);
    json_decref(report);
    unlink(report_path);

    json_t *calls = double_calls(&e.api);
    CHECK_INT(count_calls(calls, 0, "CreateNamespace", "FailedOperation"), 1);
    CHECK_INT(count_calls(calls, 0, "CreateNamespace", NULL), 3); /* beta, delta, epsilon */
    json_decref(calls);
    run_free(&r);
    env_stop(&e);
}

/* 5. RequestLimitExceeded answers are retried and the migration completes. */
static void test_ratelimit(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, json_pack("{s:i}", "rate_limit", 4), false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){0});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    check_target_tags(e.tcr, 100, NULL);
    json_t *calls = double_calls(&e.api);
    CHECK_INT(count_calls(calls, 0, NULL, "RequestLimitExceeded"), 4);
    /* each throttled call was repeated until it succeeded */
    for (size_t i = 0; i < json_array_size(calls); i++) {
        json_t *c = json_array_get(calls, i);
        if (strcmp(nz(call_str(c, "error")), "RequestLimitExceeded") != 0)
            continue;
        bool retried = false;
        for (size_t k = i + 1; k < json_array_size(calls) && !retried; k++) {
            json_t *later = json_array_get(calls, k);
            retried = strcmp(nz(call_str(later, "action")), nz(call_str(c, "action"))) == 0 &&
                      json_is_true(json_object_get(later, "ok")) &&
                      json_equal(json_object_get(later, "params"), json_object_get(c, "params"));
        }
        CHECK(retried);
    }
    CHECK_INT(count_calls(calls, 0, "CreateNamespace", NULL), (int)N_MISSING);
    json_decref(calls);
    run_free(&r);
    env_stop(&e);
}

/* 6. What is wrong before the transfer stops it, exit 2, nothing written. */
static void test_refuse(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    struct {
        guide_t g;
        const char *says[3];
        int auth_failures; /* calls the double refused for the signature */
    } cases[] = {
        {{.ccr_key = "wrong-ccr-key"}, {"ccr API credentials rejected", CCR_ID, "AuthFailure"}, 1},
        {{.tcr_key = "wrong-tcr-key"}, {"tcr API credentials rejected", TCR_ID, "AuthFailure"}, 1},
        {{.tcr_name = "no-such-registry"},
         {"no TCR instance named no-such-registry", TCR_REGION},
         0},
        {{.tcr_name = "migrate-target-old"}, {"migrate-target-old", "Stopped", "not Running"}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *calls = double_calls(&e.api);
        size_t before = json_array_size(calls);
        json_decref(calls);
        run_t r;
        run_guide(&r, e.tcr, &e.api, &cases[i].g);
        CHECK_INT(r.status, 2);
        for (size_t k = 0; k < 3 && cases[i].says[k]; k++)
            CHECK_CONTAINS(r.err, cases[i].says[k]);
        CHECK(strstr(r.err, "wrong-ccr-key") == NULL && strstr(r.err, "wrong-tcr-key") == NULL);
        CHECK(strstr(r.out, "Finished") == NULL);
        CHECK(r.seconds < 15.0); /* fast: credentials are not retried */
        check_no_secrets(&r);
        calls = double_calls(&e.api);
        /* an auth failure is answered once, not retried */
        CHECK_INT(count_calls(calls, before, NULL, "AuthFailure.SignatureFailure"),
                  cases[i].auth_failures);
        CHECK_INT(count_calls(calls, before, "CreateNamespace", NULL), 0);
        json_decref(calls);
        run_free(&r);
    }
    CHECK_INT(catalog_size(e.tcr), 0);
    CHECK_INT(upload_count(e.tcr), 0);
    env_stop(&e);
}

/* 7. Without --tcrAuth a temporary instance token logs in to the target. */
static void test_token(void)
{
    env_t e;
    if (env_start(&e, TOKEN_USER, TOKEN_PASS, NULL, true) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){.no_tcr_auth = true});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    check_no_secrets(&r);
    check_target_tags(e.tcr, 100, NULL);
    check_digests_skopeo(e.tcr, 1);
    json_t *calls = double_calls(&e.api);
    CHECK_INT(count_calls(calls, 0, "CreateInstanceToken", NULL), 1);
    check_call_sides(calls);
    json_decref(calls);
    run_free(&r);

    /* A token that lives 3 s, a run slowed to last longer: renewed ahead
     * of its ExpTime, and the run completes. */
    env_stop(&e);
    if (env_start(&e, TOKEN_USER, TOKEN_PASS, json_pack("{s:i}", "token_ttl_ms", 3000), true) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_guide(&r, e.tcr, &e.api, &(guide_t){.no_tcr_auth = true, .extra = "--qps 40"});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    CHECK_CONTAINS(r.err, "renewed the temporary login");
    check_no_secrets(&r);
    fprintf(stderr, "  slowed run: %.1f s\n", r.seconds);
    calls = double_calls(&e.api);
    CHECK(count_calls(calls, 0, "CreateInstanceToken", NULL) >= 2);
    json_decref(calls);
    run_free(&r);
    env_stop(&e);
}

/* 8. image-transfer's single-dash flags. */
static void test_dash(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    /* Go's flag package also takes -flag=value */
    run_guide(&r, e.tcr, &e.api,
              &(guide_t){.tag_num = 1, .single_dash = true, .extra = "-routines=2"});
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 6 migrated, 0 already present, 0 failed");
    check_target_tags(e.tcr, 1, NULL);
    run_free(&r);
    env_stop(&e);
}

/* 9. A wrong registry login on either side: one line naming the registry
 * and the flag, exit 2 before anything is planned, and nothing written. */
/* Lines of text holding what. */
static int count_lines(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_badlogin(void)
{
    env_t e;
    if (env_start(&e, TCR_USER, TCR_PASS, NULL, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){.ccr_auth = CCR_USER ":wrong-login", .tag_num = 1});
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "refused the credentials");
    CHECK_CONTAINS(r.err, "check --src-creds");
    CHECK_INT(count_lines(r.err, "refused the credentials"), 1);
    CHECK(strstr(r.out, "wrong-login") == NULL && strstr(r.err, "wrong-login") == NULL);
    CHECK(r.seconds < 15.0);
    check_no_secrets(&r);
    run_free(&r);

    char extra[200];
    snprintf(extra, sizeof extra, "--tcrAuth %s:wrong-login", TCR_USER); /* the last one counts */
    run_guide(&r, e.tcr, &e.api, &(guide_t){.tag_num = 1, .extra = extra});
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "refused the credentials");
    CHECK_CONTAINS(r.err, "check --dst-creds");
    CHECK_INT(count_lines(r.err, "refused the credentials"), 1);
    CHECK(strstr(r.out, "wrong-login") == NULL && strstr(r.err, "wrong-login") == NULL);
    CHECK(r.seconds < 15.0);
    check_no_secrets(&r);
    run_free(&r);
    CHECK_INT(catalog_size(e.tcr), 0);
    CHECK_INT(upload_count(e.tcr), 0);
    env_stop(&e);
}

/* 10. Transient API answers are retried (signed anew), a repository the
 * keys may not read is a counted failure while the others migrate, and a
 * namespace whose repositories are public is created public. */
static void test_transient(void)
{
    env_t e;
    json_t *faults = json_pack(
        "{s:[{s:s,s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s,s:i},{s:s,s:s,s:s,s:i}],s:[s,s,s]}", "errors",
        "action", "DescribeImagePersonal", "repo", "alpha/api", "code", "InternalError", "action",
        "DescribeRepositoryOwnerPersonal", "code", "InternalError.DbError", "action",
        "CreateNamespace", "code", "ResourceUnavailable", "action", "DescribeNamespacePersonal",
        "code", "RequestLimitExceeded", "count", 2, "action", "DescribeImagePersonal", "repo",
        "beta/worker", "code", "AuthFailure.UnauthorizedOperation", "count", -1, "public",
        "gamma/db", "gamma/cache", "alpha/api"); /* gamma: all public; alpha exists already */
    if (env_start(&e, TCR_USER, TCR_PASS, faults, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    run_t r;
    run_guide(&r, e.tcr, &e.api, &(guide_t){0});
    CHECK_INT(r.status, 1);
    check_finished_out(r.out, 0, 1, 0);
    CHECK_CONTAINS(r.err, "beta/worker");
    json_t *calls = double_calls(&e.api);
    CHECK_INT(count_calls(calls, 0, "DescribeImagePersonal", "InternalError"), 1);
    CHECK_INT(count_calls(calls, 0, "DescribeRepositoryOwnerPersonal", "InternalError.DbError"), 1);
    CHECK_INT(count_calls(calls, 0, "CreateNamespace", "ResourceUnavailable"), 1);
    CHECK_INT(count_calls(calls, 0, "DescribeNamespacePersonal", "RequestLimitExceeded"), 2);
    /* a refusal is not retried */
    CHECK_INT(count_calls(calls, 0, "DescribeImagePersonal", "AuthFailure.UnauthorizedOperation"),
              1);
    for (size_t i = 0; i < json_array_size(calls); i++) {
        json_t *c = json_array_get(calls, i);
        json_t *params = json_object_get(c, "params");
        const char *ns = json_string_value(json_object_get(params, "NamespaceName"));
        if (ns && json_is_true(json_object_get(c, "ok")))
            CHECK(json_is_true(json_object_get(params, "IsPublic")) == (strcmp(ns, "gamma") == 0));
    }
    json_decref(calls);
    CHECK(!catalog_has(e.tcr, "beta/worker"));
    CHECK(catalog_has(e.tcr, "alpha/api"));
    run_free(&r);
    env_stop(&e);
}

/* 11. Keys off the command line: from the environment (TENCENTCLOUD_*,
 * with a session token the double requires) and logins from files; and
 * image-transfer's own command line, --secretFile and all. */
static void test_keys(void)
{
    env_t e;
    json_t *faults = json_pack("{s:{s:s}}", "session_tokens", CCR_ID, "sts-session-token-1");
    if (env_start(&e, TCR_USER, TCR_PASS, faults, false) < 0) {
        CHECK(!"environment");
        env_stop(&e);
        return;
    }
    char ccr_auth[160], tcr_auth[160], args[2048];
    snprintf(ccr_auth, sizeof ccr_auth, "%s/ccr-auth", e.api.dir);
    snprintf(tcr_auth, sizeof tcr_auth, "%s/tcr-auth", e.api.dir);
    CHECK_INT(write_file(ccr_auth, CCR_USER ":" CCR_PASS "\n"), 0);
    CHECK_INT(write_file(tcr_auth, TCR_USER ":" TCR_PASS "\n"), 0);
    snprintf(args, sizeof args,
             "--tcrName %s --ccrRegionName %s --tcrRegionName %s --ccrAuth @%s --tcrAuth @%s "
             "--tagNum 1 --tencentcloud-endpoint %s --ccr-registry %s --tcr-registry %s "
             "--insecure %s --insecure %s",
             TCR_NAME, CCR_REGION, TCR_REGION, ccr_auth, tcr_auth, e.api.url, ccr->host,
             e.tcr->host, ccr->host, e.tcr->host);
    CHECK(!strstr(args, CCR_KEY) && !strstr(args, CCR_PASS) && !strstr(args, TCR_PASS));
    setenv("TENCENTCLOUD_SECRET_ID", CCR_ID, 1);
    setenv("TENCENTCLOUD_SECRET_KEY", CCR_KEY, 1);
    run_t r;
    ferry_run(&r, &e.api, args); /* no session token: the account is refused, exit 2 */
    CHECK_INT(r.status, 2);
    CHECK_CONTAINS(r.err, "AuthFailure.TokenFailure");
    run_free(&r);
    setenv("TENCENTCLOUD_SESSION_TOKEN", "sts-session-token-1", 1);
    ferry_run(&r, &e.api, args);
    CHECK_INT(r.status, 0);
    check_finished_out(r.out, 0, 0, 0);
    CHECK_CONTAINS(r.out, "Images: 6 migrated");
    check_no_secrets(&r);
    run_free(&r);
    unsetenv("TENCENTCLOUD_SECRET_ID");
    unsetenv("TENCENTCLOUD_SECRET_KEY");
    unsetenv("TENCENTCLOUD_SESSION_TOKEN");

    /* image-transfer --ccrToTcr=true --securityFile --secretFile, then
     * ferry's own options after -- (the test's endpoint and hosts). */
    char secret[160], security[160];
    snprintf(secret, sizeof secret, "%s/secret.yaml", e.api.dir);
    snprintf(security, sizeof security, "%s/security.yaml", e.api.dir);
    CHECK_INT(write_file(secret, "ccr:\n  secretId: " CCR_ID "\n  secretKey: " CCR_KEY
                                 "\ntcr:\n  secretId: " TCR_ID "\n  secretKey: " TCR_KEY "\n"),
              0);
    char text[600];
    snprintf(text, sizeof text, "%s:\n  username: %s\n  password: %s\n  insecure: true\n%s:\n"
                                "  username: %s\n  password: %s\n  insecure: true\n",
             ccr->host, CCR_USER, CCR_PASS, e.tcr->host, TCR_USER, TCR_PASS);
    CHECK_INT(write_file(security, text), 0);
    snprintf(args, sizeof args,
             "'%s' image-transfer --ccrToTcr=true --securityFile=%s --secretFile=%s "
             "--tcrName=%s --ccrRegion=%s --tcrRegion=%s --ccrTagNums=1 --routines=2 -- "
             "--tencentcloud-endpoint %s --ccr-registry %s --tcr-registry %s --progress none",
             FERRY_BIN, security, secret, TCR_NAME, CCR_REGION, TCR_REGION, e.api.url, ccr->host,
             e.tcr->host);
    json_t *ctl = json_pack("{s:{s:{}}}", "faults", "session_tokens");
    char *body = json_dumps(ctl, JSON_COMPACT);
    fx_run(NULL, "curl -sf -o /dev/null -X POST -d '%s' %s/__control", body, e.api.url);
    free(body);
    json_decref(ctl);
    char *out = NULL;
    CHECK_INT(fx_run(&out, "%s", args), 0);
    check_finished_out(out, 0, 0, 0);
    CHECK_CONTAINS(out, "Images: 0 migrated, 6 already present, 0 failed");
    free(out);
    env_stop(&e);
}

static const struct {
    const char *name;
    void (*run)(void);
} tests[] = {
    {"all", test_all},       {"tagnum", test_tagnum},       {"rerun", test_rerun},
    {"nsfail", test_nsfail}, {"ratelimit", test_ratelimit}, {"refuse", test_refuse},
    {"token", test_token},   {"dash", test_dash},           {"badlogin", test_badlogin},
    {"transient", test_transient}, {"keys", test_keys},
};

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    bool ran = false;
    double started = now_s();
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        double t0 = now_s();
        int failures = test_failures;
        fprintf(stderr, "== %s\n", tests[i].name);
        tests[i].run();
        fprintf(stderr, "== %s: %s in %.1fs\n", tests[i].name,
                test_failures == failures ? "ok" : "FAILED", now_s() - t0);
        ran = true;
    }
    if (!ran) {
        fprintf(stderr, "unknown sub-test '%s'\n", only);
        return 2;
    }
    fx_registry_stop(&ccr);
    fprintf(stderr, "total %.1fs\n", now_s() - started);
    return test_report();
}
