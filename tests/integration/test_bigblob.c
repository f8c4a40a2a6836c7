/* Integration test: a 1 GiB blob copied between two real registries by
 * xfer_blob, chunked and monolithic, in bounded memory. The process's peak
 * RSS growth during each copy must stay far below the blob size; the figure
 * and the throughput are printed as
 *   bigblob: peak RSS growth X MiB, Y MB/s (chunked|monolithic)
 * and the copies are checked with HEAD and an independent curl | sha256sum.
 * FERRY_BIGBLOB_MB sets the blob size in MiB (default 1024) for quick runs. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/reg.h"
#include "common/xfer.h"
#include "fixture.h"
#include "testlib.h"

#define MiB                (1024LL * 1024)
#define BIGBLOB_MB_DEFAULT 1024
#define BIGBLOB_MB_MAX     16384

/* Sanitizers keep shadow memory and quarantines: a looser bound there. */
#if defined(__SANITIZE_ADDRESS__)
#define BIGBLOB_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BIGBLOB_ASAN 1
#endif
#endif
#ifdef BIGBLOB_ASAN
#define RSS_GROWTH_MAX (160 * MiB)
#else
#define RSS_GROWTH_MAX (48 * MiB)
#endif

#ifdef BIGBLOB_ASAN
/* ASan holds freed memory in a quarantine (256 MiB by default) to catch use
 * after free. A 1 GiB copy frees enough short-lived buffers to fill it, so the
 * peak would measure allocation churn, not live memory: keep it small here
 * (ASAN_OPTIONS still overrides this). */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "quarantine_size_mb=16";
}
#endif

static http_loop_t *loop;

static reg_t *client(const fx_registry_t *r)
{
    reg_opts_t o = {0};
    o.host = r->host;
    o.plain_http = true;
    ferry_err_t err;
    reg_t *reg = reg_new(loop, &o, &err);
    CHECK(reg != NULL);
    return reg;
}

/* A "VmXXX:" field of /proc/self/status in bytes, or -1. */
static long long proc_status_bytes(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long long kib = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *end;
            kib = strtoll(line + flen + 1, &end, 10);
            if (end == line + flen + 1)
                kib = -1;
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* Resets VmHWM to the current RSS; false when the kernel does not allow it. */
static bool peak_rss_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return false;
    bool ok = fputs("5", f) >= 0;
    if (fclose(f) != 0)
        ok = false;
    return ok;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The blob size in bytes from FERRY_BIGBLOB_MB, or -1 when it is not a
 * number of MiB in 1..BIGBLOB_MB_MAX. */
static long long bigblob_size(void)
{
    const char *env = getenv("FERRY_BIGBLOB_MB");
    if (!env || !*env)
        return BIGBLOB_MB_DEFAULT * MiB;
    char *end;
    long long mb = strtoll(env, &end, 10);
    if (*end || mb < 1 || mb > BIGBLOB_MB_MAX)
        return -1;
    return mb * MiB;
}

/* Copies the blob to dst_repo with opts, measuring peak RSS growth and
 * throughput, then checks the target with HEAD and curl | sha256sum. */
static void copy_and_measure(reg_t *src, reg_t *dst, const fx_registry_t *target,
                             const char *dst_repo, const char *digest, long long size,
                             const xfer_opts_t *opts, const char *mode)
{
    bool reset = peak_rss_reset();
    long long base = reset ? proc_status_bytes("VmRSS") : proc_status_bytes("VmHWM");
    CHECK(base > 0);
    double t0 = now_s();
    xfer_t *x = xfer_blob(src, "big/src", dst, dst_repo, digest, size, NULL, opts, NULL, NULL);
    CHECK(x != NULL);
    int rc = x ? xfer_wait(x) : -1000;
    double secs = now_s() - t0;
    long long peak = proc_status_bytes("VmHWM");
    CHECK_INT(rc, 0);
    if (x && rc)
        fprintf(stderr, "%s copy: %s\n", mode, xfer_error(x)->message);
    CHECK_INT(x ? xfer_outcome(x) : -1, XFER_COPIED);
    CHECK_INT(x ? xfer_bytes_done(x) : -1, size);
    xfer_destroy(&x);

    long long growth = peak > base ? peak - base : 0;
    fprintf(stderr, "bigblob: peak RSS growth %.1f MiB, %.1f MB/s (%s)%s\n",
            (double)growth / (double)MiB, secs > 0 ? (double)size / 1e6 / secs : 0.0, mode,
            reset ? "" : " [VmHWM not resettable: growth of the process peak]");
    CHECK(growth < RSS_GROWTH_MAX);

    reg_op_t *op = reg_blob_head(dst, dst_repo, digest, NULL, NULL);
    CHECK(op != NULL);
    CHECK_INT(op ? reg_op_wait(op) : -1000, 0);
    CHECK(op && reg_op_exists(op));
    CHECK_INT(op ? reg_op_size(op) : -1, size);
    reg_op_destroy(&op);

    char *out = NULL;
    CHECK_INT(
        fx_run(&out, "curl -sf '%s/v2/%s/blobs/%s' | sha256sum", target->url, dst_repo, digest), 0);
    CHECK(out && strncmp(out, digest + 7, 64) == 0);
    free(out);
}

int main(void)
{
    long long size = bigblob_size();
    CHECK(size > 0);
    if (size <= 0) {
        fprintf(stderr, "FERRY_BIGBLOB_MB must be a number of MiB in 1..%d\n", BIGBLOB_MB_MAX);
        return test_report();
    }
    loop = http_loop_new();
    fx_registry_t *a = fx_registry_start("anon", 0);
    fx_registry_t *b = fx_registry_start("anon", 0);
    json_t *img = NULL;
    reg_t *src = NULL, *dst = NULL;
    CHECK(loop && a && b);
    if (!loop || !a || !b)
        goto out;

    char push_args[128];
    snprintf(push_args, sizeof push_args, "--layers 1 --layer-size %lld --seed bigblob", size);
    double t0 = now_s();
    img = fx_push_image(a, "big/src", "v1", push_args);
    CHECK(img != NULL);
    if (!img)
        goto out;
    fprintf(stderr, "bigblob: pushed %lld MiB in %.1f s\n", size / MiB, now_s() - t0);
    json_t *layer = json_array_get(json_object_get(img, "blobs"), 1);
    const char *digest = json_string_value(json_object_get(layer, "digest"));
    CHECK_INT(json_integer_value(json_object_get(layer, "size")), size);

    src = client(a);
    dst = client(b);
    if (!src || !dst)
        goto out;
    /* Connections and auth state exist before the first measurement. */
    reg_op_t *op = reg_ping(src, NULL, NULL);
    CHECK_INT(op ? reg_op_wait(op) : -1000, 0);
    reg_op_destroy(&op);
    op = reg_ping(dst, NULL, NULL);
    CHECK_INT(op ? reg_op_wait(op) : -1000, 0);
    reg_op_destroy(&op);

    xfer_opts_t chunked = {.monolithic_max = 1, .chunk_size = 64 * MiB};
    copy_and_measure(src, dst, b, "big/chunked", digest, size, &chunked, "chunked");
    xfer_opts_t mono = {.monolithic_max = 2048 * MiB};
    copy_and_measure(src, dst, b, "big/mono", digest, size, &mono, "monolithic");
out:
    reg_destroy(&src);
    reg_destroy(&dst);
    json_decref(img);
    fx_registry_stop(&a);
    fx_registry_stop(&b);
    http_loop_destroy(&loop);
    return test_report();
}
