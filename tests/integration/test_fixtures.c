/* Integration test of tests/fixtures: every registry flavour starts, takes a
 * synthetic image that skopeo sees with the same digest, enforces its auth or
 * TLS; the token server's tokens expire; the fault proxy injects 429s and cut
 * bodies; corrupt-blob breaks a blob; restart keeps data; a dead test leaves
 * no processes behind. */
#include "fixture.h"
#include "testlib.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_SERVICE "ferry-test-registry"

static const char *jstr(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* The HTTP status curl gets for URL with extra curl flags, or -1. */
static int http_status(const char *curl_flags, const char *url)
{
    char *out = NULL;
    int status = -1;
    if (fx_run(&out, "curl -s -o /dev/null -w '%%{http_code}' %s '%s'", curl_flags, url) == 0 &&
        out)
        status = (int)strtol(out, NULL, 10);
    free(out);
    return status;
}

/* Pushes ns/app:v1 and checks skopeo reads the digest the pusher printed. */
static json_t *push_and_verify(const fx_registry_t *r, const char *repo, const char *tag)
{
    char ref[256], digest[DIGEST_STR_MAX];
    json_t *img = fx_push_image(r, repo, tag, "--layers 2 --layer-size 3000");
    CHECK(img != NULL);
    if (!img)
        return NULL;
    CHECK_CONTAINS(jstr(img, "digest"), "sha256:");
    CHECK_INT(json_array_size(json_object_get(img, "blobs")), 3);
    snprintf(ref, sizeof ref, "%s:%s", repo, tag);
    CHECK_INT(fx_skopeo_digest(r, ref, digest), 0);
    CHECK_STR(digest, jstr(img, "digest"));
    snprintf(ref, sizeof ref, "%s@%s", repo, jstr(img, "digest"));
    CHECK_INT(fx_skopeo_digest(r, ref, digest), 0);
    CHECK_STR(digest, jstr(img, "digest"));
    return img;
}

static void test_fx_run(void)
{
    char *out = NULL;
    CHECK_INT(fx_run(&out, "printf '%%s-%%d' hello %d", 42), 0);
    CHECK_STR(out, "hello-42");
    free(out);
    CHECK_INT(fx_run(NULL, "exit %d", 3), 3);
    char *q = fx_shell_quote("it's");
    CHECK_STR(q, "'it'\\''s'");
    out = NULL;
    CHECK_INT(fx_run(&out, "printf '%%s' %s", q), 0);
    CHECK_STR(out, "it's");
    free(out);
    free(q);
}

static void test_anon(void)
{
    fx_registry_t *r = fx_registry_start("anon", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR(r->flavour, "anon");
    CHECK(r->user == NULL && r->ca_file == NULL && r->token_url == NULL);
    CHECK_CONTAINS(r->url, "http://127.0.0.1:");
    json_t *img = push_and_verify(r, "ns/app", "v1");

    /* Docker format too, sharing a layer with another image. */
    json_t *d1 = fx_push_image(r, "ns/docker", "a", "--format docker --shared-layer base:5000");
    json_t *d2 = fx_push_image(r, "ns/docker", "b", "--format docker --shared-layer base:5000");
    CHECK(d1 && d2);
    if (d1 && d2) {
        CHECK_STR(jstr(d1, "media_type"), "application/vnd.docker.distribution.manifest.v2+json");
        CHECK_STR(json_string_value(json_array_get(json_object_get(d1, "layers"), 0)),
                  json_string_value(json_array_get(json_object_get(d2, "layers"), 0)));
        CHECK(strcmp(jstr(d1, "digest"), jstr(d2, "digest")) != 0);
    }
    json_decref(d1);
    json_decref(d2);

    /* A multi-platform index, its children pushed by digest. */
    json_t *idx = fx_push_index(r, "ns/multi", "v1", "linux/amd64,linux/arm64/v8");
    CHECK(idx != NULL);
    if (idx) {
        char digest[DIGEST_STR_MAX], ref[256];
        CHECK_STR(jstr(idx, "media_type"), "application/vnd.oci.image.index.v1+json");
        json_t *children = json_object_get(idx, "children");
        CHECK_INT(json_array_size(children), 2);
        CHECK_INT(fx_skopeo_digest(r, "ns/multi:v1", digest), 0);
        CHECK_STR(digest, jstr(idx, "digest"));
        json_t *arm = json_array_get(children, 1);
        CHECK_STR(jstr(json_object_get(arm, "platform"), "variant"), "v8");
        snprintf(ref, sizeof ref, "ns/multi@%s", jstr(arm, "digest"));
        CHECK_INT(fx_skopeo_digest(r, ref, digest), 0);
        CHECK_STR(digest, jstr(arm, "digest"));
    }
    json_decref(idx);

    /* An OCI 1.1 artifact referring to the image, by digest and by tag. */
    if (img) {
        json_t *art = fx_push_artifact(r, "ns/app", jstr(img, "digest"), "sig");
        CHECK(art != NULL);
        if (art) {
            char digest[DIGEST_STR_MAX], ref[256];
            CHECK_STR(jstr(art, "subject"), jstr(img, "digest"));
            CHECK_INT(fx_skopeo_digest(r, "ns/app:sig", digest), 0);
            CHECK_STR(digest, jstr(art, "digest"));
            snprintf(ref, sizeof ref, "ns/app@%s", jstr(art, "digest"));
            CHECK_INT(fx_skopeo_digest(r, ref, digest), 0);
            CHECK_STR(digest, jstr(art, "digest"));
            char *raw = NULL;
            CHECK_INT(fx_run(&raw,
                             "curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' "
                             "'%s/v2/ns/app/manifests/sig'",
                             r->url),
                      0);
            CHECK_CONTAINS(raw, "\"subject\"");
            CHECK_CONTAINS(raw, "application/vnd.oci.empty.v1+json");
            free(raw);
        }
        json_decref(art);
    }

    /* corrupt-blob: the registry serves bytes of the same length that do not hash to the digest. */
    if (img) {
        const char *layer = json_string_value(json_array_get(json_object_get(img, "layers"), 0));
        char *out = NULL;
        CHECK_INT(fx_corrupt_blob(r, "ns/app", layer), 0);
        CHECK_INT(fx_run(&out, "curl -sf '%s/v2/ns/app/blobs/%s' | sha256sum", r->url, layer), 0);
        CHECK(out && strncmp(out, layer + 7, 64) != 0);
        free(out);
        out = NULL;
        CHECK_INT(fx_run(&out, "curl -sf '%s/v2/ns/app/blobs/%s' | wc -c", r->url, layer), 0);
        CHECK_INT(out ? strtol(out, NULL, 10) : -1, 3000);
        free(out);
        CHECK(fx_corrupt_blob(r, "ns/other", layer) != 0);
    }
    json_decref(img);
    fx_registry_stop(&r);
    CHECK(r == NULL);
    fx_registry_stop(&r); /* NULL is fine */
}

static void test_basic(void)
{
    fx_registry_t *r = fx_registry_start("basic", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR(r->user, "ferry");
    CHECK_STR(r->password, "ferry-secret");
    json_decref(push_and_verify(r, "ns/app", "v1"));
    char url[300];
    snprintf(url, sizeof url, "%s/v2/", r->url);
    CHECK_INT(http_status("", url), 401);
    CHECK_INT(http_status("-u ferry:ferry-secret", url), 200);
    CHECK_INT(http_status("-u ferry:wrong", url), 401);
    fx_registry_stop(&r);
}

static void test_token(void)
{
    char *out = NULL, url[300], digest[DIGEST_STR_MAX];
    fx_registry_t *r = fx_registry_start("token", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_CONTAINS(r->token_url, "http://127.0.0.1:");
    json_t *img = push_and_verify(r, "ns/app", "v1");
    CHECK_INT(fx_run(&out, "cat '%s'", r->scopes_file), 0);
    CHECK_CONTAINS(out, "repository:ns/app:pull,push\n");
    free(out);
    out = NULL;
    snprintf(url, sizeof url, "%s/v2/", r->url);
    CHECK_INT(http_status("", url), 401);
    CHECK_INT(fx_run(&out, "curl -s -D - -o /dev/null '%s'", url), 0);
    CHECK_CONTAINS(out, "Bearer realm=\"");
    free(out);

    /* Restart on the same port and storage: the image is still there. */
    char *host = strdup(r->host);
    CHECK_INT(fx_registry_restart(r), 0);
    CHECK_STR(r->host, host);
    free(host);
    CHECK_INT(fx_skopeo_digest(r, "ns/app:v1", digest), 0);
    CHECK_STR(digest, img ? jstr(img, "digest") : "");
    json_decref(img);
    fx_registry_stop(&r);
}

/* A 2 s token (served as access_token) works at once and is refused 3 s later. */
static void test_token_expiry(void)
{
    char *out = NULL, *token = NULL, auth[4096], url[300];
    fx_registry_t *r = fx_registry_start_opts("token", "--token-ttl 2 --token-field access_token");
    CHECK(r != NULL);
    if (!r)
        return;
    json_decref(fx_push_image(r, "ns/app", "v1", "--layers 1"));
    CHECK_INT(fx_run(&out, "curl -sf -u '%s:%s' '%s?service=%s&scope=repository:ns/app:pull'",
                     r->user, r->password, r->token_url, TOKEN_SERVICE),
              0);
    json_t *doc = out ? json_loads(out, 0, NULL) : NULL;
    free(out);
    CHECK(doc != NULL);
    CHECK_INT(json_integer_value(json_object_get(doc, "expires_in")), 2);
    CHECK(json_object_get(doc, "token") == NULL);
    token = doc && jstr(doc, "access_token") ? strdup(jstr(doc, "access_token")) : NULL;
    json_decref(doc);
    CHECK(token != NULL);
    if (token) {
        snprintf(auth, sizeof auth, "-H 'Authorization: Bearer %s'", token);
        snprintf(url, sizeof url, "%s/v2/ns/app/tags/list", r->url);
        CHECK_INT(http_status(auth, url), 200);
        sleep(3);
        CHECK_INT(http_status(auth, url), 401);
    }
    free(token);
    fx_registry_stop(&r);
}

static void test_tls(void)
{
    char *out = NULL;
    fx_registry_t *r = fx_registry_start("tls", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_CONTAINS(r->url, "https://127.0.0.1:");
    CHECK(r->ca_file != NULL);
    json_decref(push_and_verify(r, "ns/app", "v1"));
    CHECK(fx_run(NULL, "skopeo inspect --raw 'docker://%s/ns/app:v1' >/dev/null 2>&1", r->host) !=
          0);
    CHECK_INT(fx_run(&out, "curl -sf --cacert '%s' 'https://localhost:%s/v2/'", r->ca_file,
                     strrchr(r->host, ':') + 1),
              0);
    free(out);
    CHECK(fx_run(NULL, "curl -sf -o /dev/null '%s/v2/' 2>/dev/null", r->url) != 0);
    fx_registry_stop(&r);
}

static void test_proxy(void)
{
    char *out = NULL, url[300], digest[DIGEST_STR_MAX];
    fx_registry_t *r = fx_registry_start("anon", 0);
    CHECK(r != NULL);
    if (!r)
        return;
    fx_proxy_t *p = fx_proxy_start(r->url);
    CHECK(p != NULL);
    if (!p)
        goto out;

    /* Pushing through the proxy: uploads stay on the proxy (Location rewritten). */
    fx_registry_t via = *r;
    via.url = p->url;
    via.host = p->host;
    json_t *img = fx_push_image(&via, "ns/app", "v1", "--layers 1 --layer-size 200000");
    CHECK(img != NULL);
    CHECK_INT(fx_skopeo_digest(&via, "ns/app:v1", digest), 0);
    CHECK_STR(digest, img ? jstr(img, "digest") : "");

    /* 429 with Retry-After once, then through. */
    CHECK_INT(fx_proxy_rule(p, "{\"match\":\"^GET /v2/$\",\"action\":\"status\",\"status\":429,"
                               "\"retry_after\":1,\"count\":1}"),
              0);
    CHECK_INT(fx_run(&out, "curl -s -D - '%s/v2/'", p->url), 0);
    CHECK_CONTAINS(out, " 429");
    CHECK_CONTAINS(out, "Retry-After: 1");
    CHECK_CONTAINS(out, "TOOMANYREQUESTS");
    free(out);
    snprintf(url, sizeof url, "%s/v2/", p->url);
    CHECK_INT(http_status("", url), 200);
    CHECK(fx_proxy_rule(p, "{\"action\":\"status\"}") != 0);

    /* A blob GET cut after 1000 bytes: curl reports a partial transfer (18). */
    if (img) {
        const char *layer = json_string_value(json_array_get(json_object_get(img, "layers"), 0));
        CHECK_INT(fx_proxy_rule(p, "{\"match\":\"GET /v2/.+/blobs/sha256:\",\"action\":\"cut\","
                                   "\"after_bytes\":1000,\"count\":1}"),
                  0);
        CHECK_INT(fx_run(NULL, "curl -s -o /dev/null '%s/v2/ns/app/blobs/%s'", p->url, layer), 18);
        out = NULL;
        CHECK_INT(fx_run(&out, "curl -sf '%s/v2/ns/app/blobs/%s' | sha256sum", p->url, layer), 0);
        CHECK(out && strncmp(out, layer + 7, 64) == 0);
        free(out);
    }

    json_t *log = fx_proxy_log(p);
    CHECK(log != NULL);
    size_t i;
    json_t *entry;
    int saw_429 = 0, saw_upload_put = 0;
    json_array_foreach(log, i, entry)
    {
        if (json_integer_value(json_object_get(entry, "status")) == 429)
            saw_429 = 1;
        if (strcmp(jstr(entry, "method"), "PUT") == 0 &&
            strstr(jstr(entry, "path"), "/blobs/uploads/"))
            saw_upload_put = 1;
    }
    CHECK(saw_429);
    CHECK(saw_upload_put);
    json_decref(log);
    json_decref(img);
    fx_proxy_stop(&p);
    CHECK(p == NULL);
out:
    fx_registry_stop(&r);
}

/* A test process killed outright leaves nothing running: the watchdog stops
 * its registry and removes the directory. */
static void test_orphans(void)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(fds[0]);
        fx_registry_t *r = fx_registry_start("anon", 0);
        if (r) {
            dprintf(fds[1], "%s %s\n", r->dir, r->url);
        }
        close(fds[1]);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    close(fds[1]);
    char line[1024] = "";
    ssize_t n = read(fds[0], line, sizeof line - 1);
    close(fds[0]);
    waitpid(child, NULL, 0);
    CHECK(n > 0);
    char *space = strchr(line, ' '), *nl = strchr(line, '\n');
    CHECK(space && nl);
    if (!space || !nl)
        return;
    *space = *nl = '\0';
    const char *dir = line, *url = space + 1;
    int gone = 0;
    for (int i = 0; i < 100 && !gone; i++) {
        gone = access(dir, F_OK) != 0;
        if (!gone)
            usleep(100 * 1000);
    }
    CHECK(gone);
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/v2/", url);
    CHECK(http_status("--max-time 2", probe) <= 0);
}

int main(void)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    test_fx_run();
    test_orphans();
    test_anon();
    test_basic();
    test_token();
    test_token_expiry();
    test_tls();
    test_proxy();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "fixtures: %.1f s\n",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return test_report();
}
