/* Integration tests of the registry client (common/reg, common/xfer) against
 * real docker-registry processes: listing, auth flavours, TLS, manifests,
 * blobs, mounts, resumed uploads and downloads, digest mismatches, retries. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/reg.h"
#include "common/xfer.h"
#include "fixture.h"
#include "testlib.h"

static http_loop_t *loop;

static reg_t *client(const fx_registry_t *r, const char *user, const char *password)
{
    reg_opts_t o = {0};
    o.host = r->host;
    o.plain_http = strncmp(r->url, "http:", 5) == 0;
    o.ca_file = r->ca_file;
    o.username = user;
    o.password = password;
    ferry_err_t err;
    reg_t *reg = reg_new(loop, &o, &err);
    CHECK(reg != NULL);
    return reg;
}

static reg_t *client_proxy(const fx_proxy_t *p)
{
    reg_opts_t o = {0};
    o.host = p->host;
    o.plain_http = true;
    ferry_err_t err;
    return reg_new(loop, &o, &err);
}

static int wait_op(reg_op_t *op)
{
    CHECK(op != NULL);
    return op ? reg_op_wait(op) : -1000;
}

static int count_lines(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (!needle || strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static void test_pagination(void)
{
    fx_registry_t *r = fx_registry_start("anon", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    const char *repos[] = {"a/one", "b/two/deep", "c"};
    for (int i = 0; i < 3; i++) {
        json_t *img = fx_push_image(r, repos[i], "v1", "--layers 1 --layer-size 100");
        CHECK(img != NULL);
        json_decref(img);
    }
    for (int t = 2; t <= 5; t++) {
        char tag[8];
        snprintf(tag, sizeof tag, "v%d", t);
        json_decref(fx_push_image(r, "a/one", tag, "--layers 1 --layer-size 100"));
    }
    reg_t *reg = client(r, NULL, NULL);
    reg_op_t *op = reg_catalog(reg, 2, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    size_t n = 0;
    char *const *names = reg_op_names(op, &n);
    CHECK_INT(n, 3);
    CHECK_STR(n == 3 ? names[0] : NULL, "a/one");
    CHECK_STR(n == 3 ? names[1] : NULL, "b/two/deep");
    CHECK(reg_op_attempts(op) >= 2); /* several pages */
    reg_op_destroy(&op);

    op = reg_tags_list(reg, "a/one", 2, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    names = reg_op_names(op, &n);
    CHECK_INT(n, 5);
    reg_op_destroy(&op);

    op = reg_tags_list(reg, "does/not/exist", 2, NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_ENOTFOUND);
    CHECK_CONTAINS(reg_op_error(op)->message, "NAME_UNKNOWN");
    reg_op_destroy(&op);
    reg_destroy(&reg);
    fx_registry_stop(&r);
}

static void test_basic_auth(void)
{
    fx_registry_t *r = fx_registry_start("basic", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    json_t *img = fx_push_image(r, "ns/app", "1.0", "--layers 2 --layer-size 1000");
    CHECK(img != NULL);
    reg_t *good = client(r, r->user, r->password);
    reg_op_t *op = reg_manifest_get(good, "ns/app", "1.0", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK_STR(reg_op_digest(op), json_string_value(json_object_get(img, "digest")));
    reg_op_destroy(&op);

    reg_t *bad = client(r, r->user, "wrong-password-123");
    op = reg_manifest_get(bad, "ns/app", "1.0", NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_EAUTH);
    CHECK(strstr(reg_op_error(op)->message, "wrong-password-123") == NULL);
    reg_op_destroy(&op);

    reg_t *anon = client(r, NULL, NULL);
    op = reg_ping(anon, NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_EAUTH);
    CHECK_CONTAINS(reg_op_error(op)->message, "requires credentials");
    reg_op_destroy(&op);
    reg_destroy(&good);
    reg_destroy(&bad);
    reg_destroy(&anon);
    json_decref(img);
    fx_registry_stop(&r);
}

static void test_token_auth(void)
{
    fx_registry_t *r = fx_registry_start("token", 2);
    CHECK(r != NULL);
    if (!r)
        return;
    json_t *img = fx_push_image(r, "team/svc", "v1", "--layers 1 --layer-size 500");
    CHECK(img != NULL);
    int before = count_lines(r->scopes_file, "repository:team/svc:pull");
    reg_t *reg = client(r, r->user, r->password);
    reg_op_t *op = reg_manifest_head(reg, "team/svc", "v1", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK_STR(reg_op_digest(op), json_string_value(json_object_get(img, "digest")));
    reg_op_destroy(&op);
    int after_first = count_lines(r->scopes_file, "repository:team/svc:pull");
    CHECK(after_first > before);

    /* The same scope again: the cached token serves. */
    op = reg_manifest_get(reg, "team/svc", "v1", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    reg_op_destroy(&op);
    CHECK_INT(count_lines(r->scopes_file, "repository:team/svc:pull"), after_first);

    /* Tokens live 2 s: after 3 s the client fetches a new one and goes on. */
    sleep(3);
    op = reg_manifest_get(reg, "team/svc", "v1", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    reg_op_destroy(&op);
    CHECK(count_lines(r->scopes_file, "repository:team/svc:pull") > after_first);

    /* Push scope for uploads; wrong password fails with the token server's refusal. */
    op = reg_upload_start(reg, "team/new", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK(reg_op_location(op) != NULL);
    reg_op_destroy(&op);
    CHECK(count_lines(r->scopes_file, "repository:team/new:pull,push") >= 1);

    reg_t *bad = client(r, r->user, "not-the-password");
    op = reg_manifest_get(bad, "team/svc", "v1", NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_EAUTH);
    CHECK(strstr(reg_op_error(op)->message, "not-the-password") == NULL);
    reg_op_destroy(&op);
    reg_destroy(&bad);
    reg_destroy(&reg);
    json_decref(img);
    fx_registry_stop(&r);
}

static void test_tls(void)
{
    fx_registry_t *r = fx_registry_start("tls", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    reg_t *reg = client(r, NULL, NULL);
    reg_op_t *op = reg_ping(reg, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    reg_op_destroy(&op);
    reg_destroy(&reg);

    reg_opts_t o = {0};
    o.host = r->host;
    ferry_err_t err;
    reg = reg_new(loop, &o, &err); /* no CA: verification fails */
    op = reg_ping(reg, NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_EPROTO);
    CHECK_CONTAINS(reg_op_error(op)->message, "TLS");
    reg_op_destroy(&op);
    reg_destroy(&reg);

    o.tls_insecure = true;
    reg = reg_new(loop, &o, &err);
    op = reg_ping(reg, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    reg_op_destroy(&op);
    reg_destroy(&reg);
    fx_registry_stop(&r);
}

/* Copies a pushed image's blobs and manifest from one registry to another. */
static void copy_image(reg_t *src, reg_t *dst, const char *repo, json_t *img, const char *tag)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(img, "blobs"), i, b)
    {
        xfer_t *x =
            xfer_blob(src, repo, dst, repo, json_string_value(json_object_get(b, "digest")),
                      json_integer_value(json_object_get(b, "size")), NULL, NULL, NULL, NULL);
        CHECK_INT(xfer_wait(x), 0);
        xfer_destroy(&x);
    }
    const char *digest = json_string_value(json_object_get(img, "digest"));
    reg_op_t *get = reg_manifest_get(src, repo, digest, NULL, NULL);
    CHECK_INT(wait_op(get), 0);
    size_t len = 0;
    const char *body = reg_op_body(get, &len);
    reg_op_t *put = reg_manifest_put(dst, repo, tag, reg_op_media_type(get), body, len, NULL, NULL);
    CHECK_INT(wait_op(put), 0);
    CHECK_STR(reg_op_digest(put), digest);
    reg_op_destroy(&put);
    reg_op_destroy(&get);
}

static void test_manifests_blobs_mounts(void)
{
    fx_registry_t *a = fx_registry_start("anon", 0);
    fx_registry_t *b = fx_registry_start("anon", 0);
    CHECK(a && b);
    if (!a || !b)
        goto out;
    reg_t *src = client(a, NULL, NULL), *dst = client(b, NULL, NULL);
    json_t *img = fx_push_image(a, "lib/app", "1", "--layers 3 --layer-size 20000 --format docker");
    json_t *idx = fx_push_index(a, "lib/multi", "latest", "linux/amd64,linux/arm64/v8");
    CHECK(img && idx);

    copy_image(src, dst, "lib/app", img, "1");
    char digest[DIGEST_STR_MAX];
    CHECK_INT(fx_skopeo_digest(b, "lib/app:1", digest), 0);
    CHECK_STR(digest, json_string_value(json_object_get(img, "digest")));

    /* An index: children by digest, then the index under its tag. */
    size_t i;
    json_t *child;
    json_array_foreach(json_object_get(idx, "children"), i, child) copy_image(
        src, dst, "lib/multi", child, json_string_value(json_object_get(child, "digest")));
    copy_image(src, dst, "lib/multi", idx, "latest");
    CHECK_INT(fx_skopeo_digest(b, "lib/multi:latest", digest), 0);
    CHECK_STR(digest, json_string_value(json_object_get(idx, "digest")));

    /* A second copy skips every blob. */
    json_t *layer = json_array_get(json_object_get(img, "blobs"), 1);
    const char *ld = json_string_value(json_object_get(layer, "digest"));
    int64_t lsize = json_integer_value(json_object_get(layer, "size"));
    xfer_t *x = xfer_blob(src, "lib/app", dst, "lib/app", ld, lsize, NULL, NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_SKIPPED);
    xfer_destroy(&x);

    /* Mount from a repository that has it. */
    x = xfer_blob(src, "lib/app", dst, "other/app", ld, lsize, "lib/app", NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_MOUNTED);
    CHECK_INT(xfer_bytes_received(x), 0);
    xfer_destroy(&x);
    /* Mount from a repository that lacks it: the registry answers 202 and we copy. */
    x = xfer_blob(src, "lib/app", dst, "third/app", ld, lsize, "nowhere/none", NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_COPIED);
    CHECK_INT(xfer_bytes_received(x), lsize);
    xfer_destroy(&x);
    reg_op_t *op = reg_blob_head(dst, "third/app", ld, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK(reg_op_exists(op));
    CHECK_INT(reg_op_size(op), lsize);
    reg_op_destroy(&op);

    /* A manifest that does not exist. */
    op = reg_manifest_get(src, "lib/app", "nope", NULL, NULL);
    CHECK_INT(wait_op(op), FERRY_ENOTFOUND);
    CHECK_CONTAINS(reg_op_error(op)->message, "MANIFEST_UNKNOWN");
    reg_op_destroy(&op);

    /* A source blob whose bytes do not match its digest is refused and nothing lands. */
    json_t *bad = fx_push_image(a, "lib/bad", "1", "--layers 1 --layer-size 300000 --seed 77");
    const char *bd = json_string_value(
        json_object_get(json_array_get(json_object_get(bad, "blobs"), 1), "digest"));
    int64_t bsize = json_integer_value(
        json_object_get(json_array_get(json_object_get(bad, "blobs"), 1), "size"));
    CHECK_INT(fx_corrupt_blob(a, "lib/bad", bd), 0);
    x = xfer_blob(src, "lib/bad", dst, "lib/bad", bd, bsize, NULL, NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), FERRY_EDIGEST);
    CHECK_CONTAINS(xfer_error(x)->message, "digest");
    xfer_destroy(&x);
    /* The same in chunked mode. */
    xfer_opts_t small = {.monolithic_max = 1, .chunk_size = 100000};
    x = xfer_blob(src, "lib/bad", dst, "lib/bad", bd, bsize, NULL, &small, NULL, NULL);
    CHECK_INT(xfer_wait(x), FERRY_EDIGEST);
    xfer_destroy(&x);
    op = reg_blob_head(dst, "lib/bad", bd, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK(!reg_op_exists(op));
    reg_op_destroy(&op);

    json_decref(bad);
    json_decref(img);
    json_decref(idx);
    reg_destroy(&src);
    reg_destroy(&dst);
out:
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

/* Faults between client and registry: a source cut mid-blob resumes with
 * Range; a failed PATCH resumes from the Range the registry reports; a burst
 * of 429 with Retry-After is waited out. */
static void test_resume_and_retry(void)
{
    fx_registry_t *a = fx_registry_start("anon", 0);
    fx_registry_t *b = fx_registry_start("anon", 0);
    fx_proxy_t *pa = a ? fx_proxy_start(a->url) : NULL;
    fx_proxy_t *pb = b ? fx_proxy_start(b->url) : NULL;
    CHECK(a && b && pa && pb);
    if (!pa || !pb)
        goto out;
    json_t *img = fx_push_image(a, "big/one", "1", "--layers 1 --layer-size 3000000 --seed 5");
    json_t *blob = json_array_get(json_object_get(img, "blobs"), 1);
    const char *d = json_string_value(json_object_get(blob, "digest"));
    int64_t size = json_integer_value(json_object_get(blob, "size"));
    reg_t *src = client_proxy(pa), *dst = client_proxy(pb);

    CHECK_INT(
        fx_proxy_rule(
            pa, "{\"match\":\"GET "
                "/v2/big/one/blobs/\",\"action\":\"cut\",\"after_bytes\":1000000,\"count\":1}"),
        0);
    CHECK_INT(
        fx_proxy_rule(pb, "{\"match\":\"PATCH "
                          "/v2/\",\"action\":\"status\",\"status\":503,\"skip\":1,\"count\":1}"),
        0);
    xfer_opts_t chunked = {.monolithic_max = 1, .chunk_size = 1000000};
    xfer_t *x = xfer_blob(src, "big/one", dst, "big/one", d, size, NULL, &chunked, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    if (xfer_result(x))
        fprintf(stderr, "transfer: %s\n", xfer_error(x)->message);
    CHECK_INT(xfer_outcome(x), XFER_COPIED);
    CHECK(xfer_resumes(x) >= 2);
    xfer_destroy(&x);
    char digest[DIGEST_STR_MAX];
    reg_t *direct = client(b, NULL, NULL);
    reg_op_t *op = reg_blob_head(direct, "big/one", d, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK(reg_op_exists(op));
    CHECK_INT(reg_op_size(op), size);
    reg_op_destroy(&op);
    reg_destroy(&direct);
    /* The proxy saw a ranged resume of the source. */
    json_t *log = fx_proxy_log(pa);
    size_t i;
    json_t *e;
    int gets = 0;
    json_array_foreach(
        log, i, e) if (strcmp(json_string_value(json_object_get(e, "method")), "GET") == 0 &&
                       strstr(json_string_value(json_object_get(e, "path")), "/blobs/")) gets++;
    CHECK(gets >= 2);
    json_decref(log);

    /* A monolithic upload whose source connection is cut also completes. */
    CHECK_INT(
        fx_proxy_rule(
            pa, "{\"match\":\"GET "
                "/v2/big/one/blobs/\",\"action\":\"cut\",\"after_bytes\":500000,\"count\":1}"),
        0);
    xfer_opts_t mono = {.monolithic_max = 64 * 1024 * 1024};
    x = xfer_blob(src, "big/one", dst, "big/two", d, size, NULL, &mono, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    xfer_destroy(&x);

    /* A registry that refuses mount requests: the transfer asks with HEAD
     * and POST instead. */
    CHECK_INT(
        fx_proxy_rule(pb, "{\"match\":\"POST "
                          "/v2/.+[?]mount=\",\"action\":\"status\",\"status\":405,\"count\":-1}"),
        0);
    x = xfer_blob(src, "big/one", dst, "big/three", d, size, NULL, NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_COPIED);
    xfer_destroy(&x);
    x = xfer_blob(src, "big/one", dst, "big/three", d, size, NULL, NULL, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_SKIPPED);
    xfer_destroy(&x);

    /* A proxy that refuses bodies over a size (413): smaller chunks instead. */
    CHECK_INT(fx_proxy_rule(pb, "{\"match\":\"PUT "
                                "/v2/big/four/blobs/uploads/"
                                ".+digest=\",\"action\":\"status\",\"status\":413,\"count\":1}"),
              0);
    x = xfer_blob(src, "big/one", dst, "big/four", d, size, NULL, &mono, NULL, NULL);
    CHECK_INT(xfer_wait(x), 0);
    CHECK_INT(xfer_outcome(x), XFER_COPIED);
    xfer_destroy(&x);
    {
        json_t *plog = fx_proxy_log(pb);
        int patches = 0;
        size_t k;
        json_t *e4;
        json_array_foreach(
            plog, k,
            e4) if (strcmp(json_string_value(json_object_get(e4, "method")), "PATCH") == 0 &&
                    strstr(json_string_value(json_object_get(e4, "path")), "/big/four/")) patches++;
        CHECK(patches >= 1);
        json_decref(plog);
    }
    reg_t *direct_b = client(b, NULL, NULL);
    op = reg_blob_head(direct_b, "big/four", d, NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK(reg_op_exists(op));
    reg_op_destroy(&op);
    reg_destroy(&direct_b);

    /* 429 storm with Retry-After on manifests. */
    CHECK_INT(
        fx_proxy_rule(pa, "{\"match\":\"GET "
                          "/v2/big/one/manifests/"
                          "\",\"action\":\"status\",\"status\":429,\"retry_after\":1,\"count\":2}"),
        0);
    op = reg_manifest_get(src, "big/one", "1", NULL, NULL);
    CHECK_INT(wait_op(op), 0);
    CHECK_INT(reg_op_attempts(op), 3);
    CHECK_STR(reg_op_digest(op), json_string_value(json_object_get(img, "digest")));
    reg_op_destroy(&op);
    (void)digest;

    reg_destroy(&src);
    reg_destroy(&dst);
    json_decref(img);
out:
    fx_proxy_stop(&pa);
    fx_proxy_stop(&pb);
    fx_registry_stop(&a);
    fx_registry_stop(&b);
}

int main(int argc, char **argv)
{
    loop = http_loop_new();
    const char *only = argc > 1 ? argv[1] : NULL;
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"pagination", test_pagination},
        {"basic", test_basic_auth},
        {"token", test_token_auth},
        {"tls", test_tls},
        {"manifests", test_manifests_blobs_mounts},
        {"resume", test_resume_and_retry},
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        fprintf(stderr, "== %s\n", tests[i].name);
        tests[i].fn();
    }
    http_loop_destroy(&loop);
    return test_report();
}
