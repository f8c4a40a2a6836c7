/* Integration tests of the registry client's listing pagination and redirect
 * handling, through faultproxy: Link pages in every URL form a registry may
 * write (distribution 2.8 ignores n for tags, so the proxy pages for it), a
 * hostile Link to the same page, and blob redirects that must drop the
 * credentials on the way to another host but keep them on the same one.
 * Sub-tests run alone by name: test_paging tags|catalog|self|redirect. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/reg.h"
#include "fixture.h"
#include "testlib.h"

#define PAGE_REPO "pg/app"
#define N_TAGS    7
#define N_REPOS   5

static http_loop_t *loop;
static fx_registry_t *anon_reg; /* shared by the listing sub-tests */
static fx_proxy_t *anon_proxy;

static const char *const tags_sorted[N_TAGS] = {"1.0", "1.1", "2.0", "beta", "latest", "v3", "v4"};
static const char *const repos_sorted[N_REPOS] = {"a/first", "b/second/deep", "c", PAGE_REPO,
                                                  "zz/last"};
static const char *const link_forms[] = {"relative", "absolute", "query", "alternate"};

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* A client of the proxy, with credentials when user is not NULL. */
static reg_t *client_proxy(const fx_proxy_t *p, const char *user, const char *password)
{
    reg_opts_t o = {0};
    o.host = p->host;
    o.plain_http = true;
    o.username = user;
    o.password = password;
    ferry_err_t err;
    reg_t *reg = reg_new(loop, &o, &err);
    CHECK(reg != NULL);
    return reg;
}

static int wait_op(reg_op_t *op)
{
    CHECK(op != NULL);
    return op ? reg_op_wait(op) : -1000;
}

/* Drops the proxy's rules and log (fx has no call for it: curl does it). */
static void proxy_reset(const fx_proxy_t *p)
{
    CHECK_INT(fx_run(NULL,
                     "curl -sf -o /dev/null -X DELETE '%s/__fault' && "
                     "curl -sf -o /dev/null -X DELETE '%s/__log'",
                     p->url, p->url),
              0);
}

/* Adds a rule written printf-style; -1 when it does not fit or is refused. */
static int proxy_rule_fmt(fx_proxy_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int proxy_rule_fmt(fx_proxy_t *p, const char *fmt, ...)
{
    char rule[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(rule, sizeof rule, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof rule)
        return -1;
    return fx_proxy_rule(p, rule);
}

/* Log entries whose method is method and whose path contains needle. */
static int log_count(json_t *log, const char *method, const char *needle)
{
    size_t i;
    json_t *e;
    int n = 0;
    json_array_foreach(log, i, e) if (strcmp(jstr(e, "method"), method) == 0 &&
                                      strstr(jstr(e, "path"), needle)) n++;
    return n;
}

/* One registry with PAGE_REPO under N_TAGS tags among N_REPOS repositories,
 * and a proxy in front of it. */
static int listing_fixture(void)
{
    if (anon_proxy)
        return 0;
    anon_reg = fx_registry_start("anon", 0);
    CHECK(anon_reg != NULL);
    if (!anon_reg)
        return -1;
    for (int i = 0; i < N_TAGS; i++) {
        json_t *img = fx_push_image(anon_reg, PAGE_REPO, tags_sorted[N_TAGS - 1 - i],
                                    "--layers 1 --layer-size 100 --seed same");
        CHECK(img != NULL);
        json_decref(img);
    }
    for (int i = 0; i < N_REPOS; i++) {
        if (strcmp(repos_sorted[i], PAGE_REPO) == 0)
            continue;
        json_t *img = fx_push_image(anon_reg, repos_sorted[i], "v1",
                                    "--layers 1 --layer-size 100 --seed same");
        CHECK(img != NULL);
        json_decref(img);
    }
    anon_proxy = fx_proxy_start(anon_reg->url);
    CHECK(anon_proxy != NULL);
    return anon_proxy ? 0 : -1;
}

/* Lists through the proxy paging with link form; checks the names, in order,
 * and that it took exactly `requests` requests. */
static void check_listing(reg_t *reg, bool catalog, const char *form, const char *const *want,
                          size_t n_want, int requests)
{
    proxy_reset(anon_proxy);
    CHECK_INT(proxy_rule_fmt(anon_proxy,
                             "{\"match\":\"^GET /v2/(%s)\",\"action\":\"paginate\","
                             "\"link\":\"%s\",\"count\":-1}",
                             catalog ? "_catalog" : ".+/tags/list", form),
              0);
    reg_op_t *op =
        catalog ? reg_catalog(reg, 2, NULL, NULL) : reg_tags_list(reg, PAGE_REPO, 2, NULL, NULL);
    int rc = wait_op(op);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "%s (%s): %s\n", catalog ? "catalog" : "tags", form,
                reg_op_error(op)->message);
    size_t n = 0;
    char *const *names = op ? reg_op_names(op, &n) : NULL;
    CHECK_INT(n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        CHECK_STR(names[i], want[i]);
    CHECK_INT(op ? reg_op_attempts(op) : -1, requests);
    reg_op_destroy(&op);
    json_t *log = fx_proxy_log(anon_proxy);
    CHECK_INT(log_count(log, "GET", catalog ? "/_catalog" : "/tags/list"), requests);
    json_decref(log);
}

static void test_tags(void)
{
    if (listing_fixture() < 0)
        return;
    reg_t *reg = client_proxy(anon_proxy, NULL, NULL);
    for (size_t i = 0; i < sizeof link_forms / sizeof link_forms[0]; i++) {
        fprintf(stderr, "-- tags, link %s\n", link_forms[i]);
        check_listing(reg, false, link_forms[i], tags_sorted, N_TAGS, (N_TAGS + 1) / 2);
    }
    reg_destroy(&reg);
}

static void test_catalog(void)
{
    if (listing_fixture() < 0)
        return;
    reg_t *reg = client_proxy(anon_proxy, NULL, NULL);
    for (size_t i = 0; i < sizeof link_forms / sizeof link_forms[0]; i++) {
        fprintf(stderr, "-- catalog, link %s\n", link_forms[i]);
        check_listing(reg, true, link_forms[i], repos_sorted, N_REPOS, (N_REPOS + 1) / 2);
    }
    reg_destroy(&reg);
}

/* A Link back to the page just served: a protocol error, not an endless loop.
 * The rule stops after 50 pages, so a client that loops still ends (and fails
 * the check) instead of hanging the test. */
static void test_self_link(void)
{
    if (listing_fixture() < 0)
        return;
    reg_t *reg = client_proxy(anon_proxy, NULL, NULL);
    for (int catalog = 0; catalog <= 1; catalog++) {
        proxy_reset(anon_proxy);
        CHECK_INT(proxy_rule_fmt(anon_proxy,
                                 "{\"match\":\"^GET /v2/(%s)\",\"action\":\"paginate\","
                                 "\"link\":\"self\",\"count\":50}",
                                 catalog ? "_catalog" : ".+/tags/list"),
                  0);
        reg_op_t *op = catalog ? reg_catalog(reg, 2, NULL, NULL)
                               : reg_tags_list(reg, PAGE_REPO, 2, NULL, NULL);
        CHECK_INT(wait_op(op), FERRY_EPROTO);
        CHECK_CONTAINS(op ? reg_op_error(op)->message : NULL, "same page");
        CHECK_INT(op ? reg_op_attempts(op) : -1, 1);
        reg_op_destroy(&op);
    }
    reg_destroy(&reg);
}

typedef struct blob_sink {
    digest_ctx_t *hash; /* sha256 of the bytes received */
    int64_t bytes;      /* bytes received */
} blob_sink_t;

static size_t blob_sink_write(void *ud, const char *data, size_t len)
{
    blob_sink_t *s = ud;
    digest_ctx_update(s->hash, data, len);
    s->bytes += (int64_t)len;
    return len;
}

/* Blob redirects: to another host (another proxy port) the client must not
 * send Authorization, so the registry behind it refuses (FERRY_EAUTH, the safe
 * outcome); back to the same host the credentials stay and the GET succeeds. */
static void test_redirect(void)
{
    fx_registry_t *r = fx_registry_start("basic", 0);
    fx_proxy_t *pa = r ? fx_proxy_start(r->url) : NULL;
    fx_proxy_t *pb = r ? fx_proxy_start(r->url) : NULL;
    json_t *img = r ? fx_push_image(r, "sec/app", "v1", "--layers 1 --layer-size 70000") : NULL;
    reg_t *reg = NULL;
    blob_sink_t sink = {digest_ctx_new("sha256"), 0};
    CHECK(r && pa && pb && img && sink.hash);
    if (!r || !pa || !pb || !img || !sink.hash)
        goto out;
    json_t *layer = json_array_get(json_object_get(img, "blobs"), 1);
    const char *digest = jstr(layer, "digest");
    int64_t size = json_integer_value(json_object_get(layer, "size"));
    reg = client_proxy(pa, r->user, r->password);
    /* The client learns the registry wants Basic, so every request below
     * carries Authorization from the start. */
    reg_op_t *op = reg_ping(reg, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    reg_op_destroy(&op);
    proxy_reset(pa);

    /* A -> B: another port is another origin. */
    CHECK_INT(proxy_rule_fmt(pa,
                             "{\"match\":\"^GET /v2/sec/app/blobs/sha256:[0-9a-f]+$\","
                             "\"action\":\"redirect\",\"to\":\"%s{path}\",\"count\":-1}",
                             pb->url),
              0);
    op = reg_blob_get(reg, "sec/app", digest, 0, blob_sink_write, &sink, NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_EAUTH);
    CHECK(op && strstr(reg_op_error(op)->message, r->password) == NULL);
    reg_op_destroy(&op);
    CHECK_INT(sink.bytes, 0);
    json_t *log_a = fx_proxy_log(pa), *log_b = fx_proxy_log(pb);
    size_t i;
    json_t *e;
    int a_gets = 0, b_gets = 0;
    json_array_foreach(log_a, i, e)
    {
        if (strcmp(jstr(e, "method"), "GET") != 0 || !strstr(jstr(e, "path"), "/blobs/"))
            continue;
        a_gets++;
        CHECK(json_is_true(json_object_get(e, "auth")));
        CHECK_INT(json_integer_value(json_object_get(e, "status")), 307);
    }
    json_array_foreach(log_b, i, e)
    {
        if (strcmp(jstr(e, "method"), "GET") != 0 || !strstr(jstr(e, "path"), "/blobs/"))
            continue;
        b_gets++;
        CHECK(json_is_false(json_object_get(e, "auth")));
        CHECK_INT(json_integer_value(json_object_get(e, "status")), 401);
    }
    CHECK(a_gets >= 1);
    CHECK(b_gets >= 1);
    json_decref(log_a);
    json_decref(log_b);

    /* A -> A with a query added: the same origin keeps the credentials. */
    proxy_reset(pa);
    CHECK_INT(proxy_rule_fmt(pa, "{\"match\":\"^GET /v2/sec/app/blobs/sha256:[0-9a-f]+$\","
                                 "\"action\":\"redirect\",\"to\":\"{base}{path}?hop=1\","
                                 "\"count\":-1}"),
              0);
    op = reg_blob_get(reg, "sec/app", digest, 0, blob_sink_write, &sink, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    if (op && reg_op_result(op))
        fprintf(stderr, "same-host redirect: %s\n", reg_op_error(op)->message);
    CHECK_INT(op ? reg_op_status(op) : -1, 200);
    reg_op_destroy(&op);
    CHECK_INT(sink.bytes, size);
    char got[DIGEST_STR_MAX];
    digest_ctx_final(sink.hash, got);
    CHECK_STR(got, digest);
    log_a = fx_proxy_log(pa);
    int redirected = 0, served = 0;
    json_array_foreach(log_a, i, e)
    {
        if (strcmp(jstr(e, "method"), "GET") != 0 || !strstr(jstr(e, "path"), "/blobs/"))
            continue;
        CHECK(json_is_true(json_object_get(e, "auth")));
        if (strstr(jstr(e, "path"), "?hop=1")) {
            served++;
            CHECK_INT(json_integer_value(json_object_get(e, "status")), 200);
        } else {
            redirected++;
            CHECK_INT(json_integer_value(json_object_get(e, "status")), 307);
        }
    }
    CHECK_INT(redirected, 1);
    CHECK_INT(served, 1);
    json_decref(log_a);
out:
    reg_destroy(&reg);
    digest_ctx_destroy(&sink.hash);
    json_decref(img);
    fx_proxy_stop(&pa);
    fx_proxy_stop(&pb);
    fx_registry_stop(&r);
}

int main(int argc, char **argv)
{
    loop = http_loop_new();
    const char *only = argc > 1 ? argv[1] : NULL;
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"tags", test_tags},
        {"catalog", test_catalog},
        {"self", test_self_link},
        {"redirect", test_redirect},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        fprintf(stderr, "== %s\n", tests[i].name);
        tests[i].fn();
    }
    fx_proxy_stop(&anon_proxy);
    fx_registry_stop(&anon_reg);
    http_loop_destroy(&loop);
    return test_report();
}
