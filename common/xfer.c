/* xfer — blob transfers streamed source → target through a bounded ring buffer. */
#include "common/xfer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/digest.h"
#include "common/retry.h"

#define XFER_RING_MIN (512 * 1024)
/* Chunks after a 413: registries that refuse large bodies take these; none
 * smaller than the minimum. */
#define XFER_CHUNK_AFTER_413 (16 * 1024 * 1024)
#define XFER_CHUNK_MIN       (1024 * 1024)

enum xfer_state {
    X_SRC_HEAD = 1, /* learning the blob's size from the source */
    X_PROBE,        /* mount from the target repository itself: 201 = present, 202 = upload */
    X_HEAD,         /* does the target have it? */
    X_MOUNT,        /* cross-repository mount */
    X_START,        /* POST: new upload */
    X_STREAM,       /* source GET and upload requests running */
    X_STATUS,       /* asking the target how much it stored */
    X_FINISH,       /* closing a chunked upload */
    X_CANCEL,       /* deleting the upload after a failure */
    X_DONE,
};

struct xfer {
    reg_t *src, *dst;          /* borrowed clients */
    char *src_repo, *dst_repo; /* repositories */
    char *digest;              /* the blob */
    char *mount_from;          /* target repository to mount from, or NULL */
    int64_t size;              /* blob size */
    xfer_opts_t opts;          /* effective options */
    int state;                 /* enum xfer_state */
    reg_op_t *op;              /* control request (HEAD, POST, status, finish, cancel) */
    reg_op_t *src_op;          /* source GET */
    reg_op_t *up_op;           /* upload PATCH or PUT with a body */
    char *location;            /* upload URL */
    bool monolithic;           /* one PUT for the whole blob */
    int64_t chunk;             /* PATCH size */
    char *ring;                /* ring buffer */
    size_t ring_cap, ring_head, ring_len;
    int64_t ingest;     /* next blob offset the source delivers */
    int64_t drop_until; /* source bytes below this offset are hashed, not queued */
    int64_t confirmed;  /* bytes the target stored */
    int64_t req_start, req_len, req_sent; /* current upload request */
    digest_ctx_t *hash;                   /* hash of bytes [0, ingest) */
    digest_ctx_t *snap[2];                /* hash states at two upload boundaries */
    int64_t snap_off[2];                  /* their offsets, -1 when empty */
    int64_t next_snap;                    /* next boundary to snapshot */
    bool hash_done, hash_bad;             /* the whole blob was hashed; it did not match */
    char actual[DIGEST_STR_MAX];          /* digest of what the source sent */
    bool src_overflow;                    /* the source sent more than size bytes */
    bool src_paused, up_paused;           /* the ring is full / empty */
    int resumes;                          /* resumes so far */
    int64_t received;                     /* source bytes received in total */
    uint64_t rng;                         /* jitter */
    uint64_t timer;                       /* pending resume timer */
    int fail_rc;                          /* failure being cleaned up after */
    ferry_err_t err;                      /* the failure */
    int rc;                               /* result */
    int outcome;                          /* enum xfer_outcome */
    bool finished;
    xfer_done_fn done;
    void *ud;
};

static void x_stream_start(xfer_t *x, int64_t src_from, int64_t upload_from);
static void x_upload_next(xfer_t *x);
static void on_ctl(reg_op_t *op, void *ud);

static void x_finish(xfer_t *x, int rc)
{
    x->rc = rc;
    x->err.code = rc;
    x->state = X_DONE;
    x->finished = true;
    reg_op_destroy(&x->src_op);
    reg_op_destroy(&x->up_op);
    if (x->done)
        x->done(x, x->ud);
}

/* Fails the transfer, first deleting an open upload so nothing partial stays. */
static void x_cancel_timer(xfer_t *x);

static void x_fail(xfer_t *x, int rc)
{
    x_cancel_timer(x);
    reg_op_destroy(&x->src_op);
    reg_op_destroy(&x->up_op);
    reg_op_destroy(&x->op);
    if (x->location && x->state != X_CANCEL) {
        x->fail_rc = rc;
        x->state = X_CANCEL;
        x->op = reg_upload_cancel(x->dst, x->dst_repo, x->location, on_ctl, x);
        if (x->op)
            return;
    }
    x_finish(x, rc);
}

static void x_fail_with(xfer_t *x, const ferry_err_t *e)
{
    x->err = *e;
    x_fail(x, e->code ? e->code : FERRY_EPROTO);
}

/* --- ring buffer --- */

static size_t ring_free(const xfer_t *x)
{
    return x->ring_cap - x->ring_len;
}

static void ring_put(xfer_t *x, const char *data, size_t n)
{
    size_t tail = (x->ring_head + x->ring_len) % x->ring_cap;
    size_t first = x->ring_cap - tail < n ? x->ring_cap - tail : n;
    memcpy(x->ring + tail, data, first);
    memcpy(x->ring, data + first, n - first);
    x->ring_len += n;
}

static void ring_get(xfer_t *x, char *out, size_t n)
{
    size_t first = x->ring_cap - x->ring_head < n ? x->ring_cap - x->ring_head : n;
    memcpy(out, x->ring + x->ring_head, first);
    memcpy(out + first, x->ring, n - first);
    x->ring_head = (x->ring_head + n) % x->ring_cap;
    x->ring_len -= n;
}

/* --- hashing with snapshots at upload boundaries --- */

static void x_snapshot(xfer_t *x, int64_t offset)
{
    /* Keep the newest two; slot 1 is the newer. */
    digest_ctx_t *older = x->snap[0];
    x->snap[0] = x->snap[1];
    x->snap_off[0] = x->snap_off[1];
    x->snap[1] = older;
    if (digest_ctx_copy(x->snap[1], x->hash) == 0)
        x->snap_off[1] = offset;
    else
        x->snap_off[1] = -1;
}

static void x_hash(xfer_t *x, const char *p, size_t n)
{
    int64_t pos = x->ingest;
    while (n) {
        if (!x->monolithic && pos == x->next_snap) {
            x_snapshot(x, pos);
            x->next_snap += x->chunk;
        }
        size_t step = n;
        if (!x->monolithic && x->next_snap > pos && (uint64_t)(x->next_snap - pos) < step)
            step = (size_t)(x->next_snap - pos);
        digest_ctx_update(x->hash, p, step);
        p += step;
        pos += (int64_t)step;
        n -= step;
    }
    if (!x->monolithic && pos == x->next_snap && pos < x->size) {
        x_snapshot(x, pos);
        x->next_snap += x->chunk;
    }
}

/* --- the two streams --- */

static size_t x_src_write(void *ud, const char *data, size_t n)
{
    xfer_t *x = ud;
    if (x->ingest + (int64_t)n > x->size) {
        x->src_overflow = true;
        return 0;
    }
    size_t skip = 0;
    if (x->ingest < x->drop_until)
        skip = (uint64_t)(x->drop_until - x->ingest) < n ? (size_t)(x->drop_until - x->ingest) : n;
    if (n - skip > ring_free(x)) {
        x->src_paused = true;
        return HTTP_PAUSE;
    }
    x_hash(x, data, n);
    ring_put(x, data + skip, n - skip);
    x->ingest += (int64_t)n;
    x->received += (int64_t)n;
    if (x->ingest == x->size && !x->hash_done) {
        digest_ctx_final(x->hash, x->actual);
        x->hash_done = true;
        x->hash_bad = strcmp(x->actual, x->digest) != 0;
    }
    if (x->up_paused && x->up_op && (x->ring_len || x->hash_bad)) {
        x->up_paused = false;
        reg_op_resume(x->up_op);
    }
    return n;
}

static size_t x_up_read(void *ud, char *buf, size_t len)
{
    xfer_t *x = ud;
    if (x->hash_bad)
        return HTTP_ABORT;
    int64_t want = x->req_len - x->req_sent;
    if ((int64_t)len > want)
        len = (size_t)want;
    if (len == 0)
        return 0;
    if (x->ring_len == 0) {
        x->up_paused = true;
        return HTTP_PAUSE;
    }
    size_t n = len < x->ring_len ? len : x->ring_len;
    ring_get(x, buf, n);
    x->req_sent += (int64_t)n;
    if (x->src_paused && x->src_op && ring_free(x) >= x->ring_cap / 2) {
        x->src_paused = false;
        reg_op_resume(x->src_op);
    }
    return n;
}

/* Schedules fn after a backoff, counting one resume; fails when out of resumes. */
static bool x_may_resume(xfer_t *x, const ferry_err_t *e)
{
    if (!ferry_code_retryable(e->code) || x->resumes >= x->opts.max_resumes)
        return false;
    x->resumes++;
    return true;
}

static void on_timer_restream(void *ud)
{
    xfer_t *x = ud;
    x->timer = 0;
    x->state = X_STATUS;
    reg_op_destroy(&x->op);
    if (x->monolithic || !x->location) {
        /* A single PUT cannot be resumed: start a new upload from byte 0. */
        if (x->location) {
            /* Best effort: the old upload is abandoned; registries expire it. */
            free(x->location);
            x->location = NULL;
        }
        x->state = X_START;
        x->op = reg_upload_start(x->dst, x->dst_repo, on_ctl, x);
    } else {
        x->op = reg_upload_status(x->dst, x->dst_repo, x->location, on_ctl, x);
    }
    if (!x->op)
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
}

static void x_cancel_timer(xfer_t *x)
{
    if (x->timer)
        http_loop_timer_cancel(reg_loop(x->dst), x->timer);
    x->timer = 0;
}

static void x_restream_later(xfer_t *x)
{
    x_cancel_timer(x); /* a pending source resume is superseded */
    reg_op_destroy(&x->src_op);
    reg_op_destroy(&x->up_op);
    int64_t delay = retry_delay_ms(&retry_policy_default, x->resumes, -1, &x->rng);
    x->timer = http_loop_timer(reg_loop(x->dst), delay, on_timer_restream, x);
}

static void on_src_done(reg_op_t *op, void *ud);

static int x_src_start(xfer_t *x)
{
    x->src_paused = false;
    x->src_op =
        reg_blob_get(x->src, x->src_repo, x->digest, x->ingest, x_src_write, x, on_src_done, x);
    return x->src_op ? 0 : FERRY_ENOMEM;
}

static void on_timer_src(void *ud)
{
    xfer_t *x = ud;
    x->timer = 0;
    if (x_src_start(x) < 0)
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
}

static void on_src_done(reg_op_t *op, void *ud)
{
    xfer_t *x = ud;
    int rc = reg_op_result(op);
    ferry_err_t e = *reg_op_error(op);
    reg_op_destroy(&x->src_op);
    if (x->src_overflow) {
        ferry_err_set(&x->err, FERRY_EDIGEST,
                      "blob %s: the source sent more than its size of %lld bytes", x->digest,
                      (long long)x->size);
        x_fail(x, FERRY_EDIGEST);
        return;
    }
    if (rc == 0 && x->ingest == x->size) {
        if (x->hash_bad) {
            ferry_err_set(&x->err, FERRY_EDIGEST,
                          "blob %s from %s/%s: the bytes have digest %s; nothing was committed",
                          x->digest, reg_host(x->src), x->src_repo, x->actual);
            if (!x->up_op)
                x_fail(x, FERRY_EDIGEST);
            /* else the upload aborts on its next read and fails with this error */
            else if (x->up_paused) {
                x->up_paused = false;
                reg_op_resume(x->up_op);
            }
        }
        return;
    }
    if (rc == 0) {
        /* The connection ended early: resume where it stopped. */
        ferry_err_set(&e, FERRY_ERETRY, "blob %s: the source ended at byte %lld of %lld", x->digest,
                      (long long)x->ingest, (long long)x->size);
    }
    if (!x_may_resume(x, &e)) {
        x_fail_with(x, &e);
        return;
    }
    int64_t delay = retry_delay_ms(&retry_policy_default, x->resumes, -1, &x->rng);
    x->timer = http_loop_timer(reg_loop(x->src), delay, on_timer_src, x);
}

static void on_up_done(reg_op_t *op, void *ud)
{
    xfer_t *x = ud;
    int rc = reg_op_result(op);
    ferry_err_t e = *reg_op_error(op);
    int64_t range_end = reg_op_range_end(op);
    const char *loc = reg_op_location(op);
    if (rc == 0 && loc) {
        char *l = strdup(loc);
        if (l) {
            free(x->location);
            x->location = l;
        }
    }
    reg_op_destroy(&x->up_op);
    x->up_paused = false;
    if (x->hash_bad) {
        if (!x->err.message[0])
            ferry_err_set(&x->err, FERRY_EDIGEST, "blob %s: the bytes have digest %s", x->digest,
                          x->actual);
        x_fail(x, FERRY_EDIGEST);
        return;
    }
    if (rc == FERRY_ETOOBIG && (x->monolithic || x->opts.chunk_size > XFER_CHUNK_MIN) &&
        x->resumes < x->opts.max_resumes) {
        /* The registry, or a proxy before it, refuses bodies this large (413):
         * go on in smaller chunks. */
        x->resumes++;
        if (x->monolithic) {
            x->opts.monolithic_max = -1;
            if (x->opts.chunk_size > XFER_CHUNK_AFTER_413)
                x->opts.chunk_size = XFER_CHUNK_AFTER_413;
            free(x->location); /* a new upload, in chunks */
            x->location = NULL;
        } else {
            x->opts.chunk_size =
                x->opts.chunk_size / 2 > XFER_CHUNK_MIN ? x->opts.chunk_size / 2 : XFER_CHUNK_MIN;
        }
        x->chunk = x->opts.chunk_size;
        x_restream_later(x);
        return;
    }
    if (rc < 0) {
        if (!x_may_resume(x, &e)) {
            x_fail_with(x, &e);
            return;
        }
        x_restream_later(x);
        return;
    }
    if (x->monolithic) {
        x->confirmed = x->size;
        x->outcome = XFER_COPIED;
        reg_op_destroy(&x->src_op);
        x_finish(x, 0);
        return;
    }
    int64_t end = x->req_start + x->req_len;
    if (range_end >= 0 && range_end + 1 != end) {
        /* The registry stored less than we sent: ask and resume from there. */
        ferry_err_set(&e, FERRY_ERETRY, "blob %s: the registry stored %lld bytes, expected %lld",
                      x->digest, (long long)(range_end + 1), (long long)end);
        if (!x_may_resume(x, &e)) {
            x_fail_with(x, &e);
            return;
        }
        x_restream_later(x);
        return;
    }
    x->confirmed = end;
    x_upload_next(x);
}

/* Starts the next upload request, or closes the upload when all is stored. */
static void x_upload_next(xfer_t *x)
{
    x->req_start = x->confirmed;
    x->req_sent = 0;
    if (x->monolithic) {
        x->req_len = x->size;
        x->up_op = reg_upload_finish(x->dst, x->dst_repo, x->location, x->digest, x->size,
                                     x_up_read, x, on_up_done, x);
    } else if (x->confirmed < x->size) {
        x->req_len = x->size - x->confirmed < x->chunk ? x->size - x->confirmed : x->chunk;
        x->up_op = reg_upload_patch(x->dst, x->dst_repo, x->location, x->req_start, x->req_len,
                                    x_up_read, x, on_up_done, x);
    } else {
        /* Everything is stored; commit only a verified blob. */
        if (!x->hash_done || x->hash_bad) {
            ferry_err_set(&x->err, FERRY_EDIGEST, "blob %s: the bytes have digest %s", x->digest,
                          x->hash_done ? x->actual : "(incomplete)");
            x_fail(x, FERRY_EDIGEST);
            return;
        }
        x->state = X_FINISH;
        x->op = reg_upload_finish(x->dst, x->dst_repo, x->location, x->digest, 0, NULL, NULL,
                                  on_ctl, x);
        if (!x->op)
            x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
        return;
    }
    if (!x->up_op)
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
}

/* (Re)starts streaming: the source from src_from (where the hash state is),
 * the upload from upload_from. */
static void x_stream_start(xfer_t *x, int64_t src_from, int64_t upload_from)
{
    x->state = X_STREAM;
    x->ring_head = x->ring_len = 0;
    x->ingest = src_from;
    x->drop_until = upload_from;
    x->confirmed = upload_from;
    x->next_snap = upload_from;
    x->hash_done = x->hash_bad = false;
    x->src_overflow = false;
    if (x_src_start(x) < 0) {
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
        return;
    }
    x_upload_next(x);
}

/* Resumes a chunked upload at upload_from from the best hash snapshot. */
static void x_resume_at(xfer_t *x, int64_t upload_from)
{
    int best = -1;
    for (int i = 0; i < 2; i++)
        if (x->snap_off[i] >= 0 && x->snap_off[i] <= upload_from &&
            (best < 0 || x->snap_off[i] > x->snap_off[best]))
            best = i;
    int64_t src_from = 0;
    if (best >= 0 && digest_ctx_copy(x->hash, x->snap[best]) == 0) {
        src_from = x->snap_off[best];
    } else {
        digest_ctx_reset(x->hash);
    }
    x->snap_off[0] = x->snap_off[1] = -1;
    x_stream_start(x, src_from, upload_from);
}

static void x_start_upload_at(xfer_t *x, const char *location, int64_t chunk_min)
{
    free(x->location);
    x->location = strdup(location);
    if (!x->location) {
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
        return;
    }
    x->chunk = x->opts.chunk_size;
    if (chunk_min > x->chunk)
        x->chunk = chunk_min;
    x->monolithic = x->opts.monolithic_max >= 0 && x->size <= x->opts.monolithic_max;
    digest_ctx_reset(x->hash);
    x->snap_off[0] = x->snap_off[1] = -1;
    x_stream_start(x, 0, 0);
}

/* The blob needs no bytes moved: at the target already (XFER_SKIPPED) or
 * just mounted (XFER_MOUNTED). Takes op. */
static void x_present(xfer_t *x, reg_op_t *op, int outcome)
{
    reg_op_destroy(&op);
    x->outcome = outcome;
    x->confirmed = x->size;
    x_finish(x, 0);
}

/* The answer to a mount request (or a plain upload start): mounted, with
 * outcome, or an upload started where the blob is to be copied. Takes op. */
static void x_mount_answered(xfer_t *x, reg_op_t *op, int outcome)
{
    if (reg_op_mounted(op)) {
        x_present(x, op, outcome);
        return;
    }
    x->outcome = XFER_COPIED;
    x_start_upload_at(x, reg_op_location(op), reg_op_chunk_min(op));
    reg_op_destroy(&op);
}

static void on_ctl(reg_op_t *op, void *ud)
{
    xfer_t *x = ud;
    int rc = reg_op_result(op);
    x->op = NULL;
    switch (x->state) {
    case X_SRC_HEAD:
        if (rc == 0 && !reg_op_exists(op))
            rc = ferry_err_set(&x->err, FERRY_ENOTFOUND, "blob %s not found in %s/%s", x->digest,
                               reg_host(x->src), x->src_repo);
        if (rc == 0 && reg_op_size(op) < 0)
            rc =
                ferry_err_set(&x->err, FERRY_EPROTO, "blob %s: the source sent no size", x->digest);
        if (rc < 0)
            break;
        x->size = reg_op_size(op);
        reg_op_destroy(&op);
        x->state = X_HEAD;
        x->op = reg_blob_head(x->dst, x->dst_repo, x->digest, on_ctl, x);
        goto started;
    case X_HEAD:
        if (rc < 0)
            break;
        if (reg_op_exists(op)) {
            x_present(x, op, XFER_SKIPPED);
            return;
        }
        reg_op_destroy(&op);
        if (x->mount_from) {
            x->state = X_MOUNT;
            x->op = reg_blob_mount(x->dst, x->dst_repo, x->digest, x->mount_from, on_ctl, x);
        } else {
            x->state = X_START;
            x->op = reg_upload_start(x->dst, x->dst_repo, on_ctl, x);
        }
        goto started;
    case X_PROBE:
        if (rc < 0) {
            /* A registry that refuses the probe: ask with HEAD instead. */
            reg_op_destroy(&op);
            x->state = X_HEAD;
            x->op = reg_blob_head(x->dst, x->dst_repo, x->digest, on_ctl, x);
            goto started;
        }
        /* Mounted from its own repository: the blob was there already. */
        x_mount_answered(x, op, XFER_SKIPPED);
        return;
    case X_MOUNT:
    case X_START:
        if (rc < 0)
            break;
        x_mount_answered(x, op, XFER_MOUNTED);
        return;
    case X_STATUS:
        if (rc == FERRY_ENOTFOUND) {
            /* The upload is gone (expired, registry restarted): start over. */
            reg_op_destroy(&op);
            free(x->location);
            x->location = NULL;
            x->state = X_START;
            x->op = reg_upload_start(x->dst, x->dst_repo, on_ctl, x);
            goto started;
        }
        if (rc < 0)
            break;
        {
            const char *loc = reg_op_location(op);
            if (loc) {
                char *l = strdup(loc);
                if (l) {
                    free(x->location);
                    x->location = l;
                }
            }
            /* Registries report an empty upload as "0-0", the same as one
             * byte stored: before any confirmed byte, read it as empty. */
            int64_t end = reg_op_range_end(op);
            int64_t from = end == 0 && x->confirmed == 0 ? 0 : end + 1;
            reg_op_destroy(&op);
            if (from > x->size)
                from = x->size;
            x_resume_at(x, from);
        }
        return;
    case X_FINISH:
        if (rc < 0)
            break;
        reg_op_destroy(&op);
        x_finish(x, 0);
        return;
    case X_CANCEL:
        reg_op_destroy(&op);
        x_finish(x, x->fail_rc);
        return;
    }
    /* A failed control request. */
    {
        ferry_err_t e = *reg_op_error(op);
        reg_op_destroy(&op);
        if (x->state == X_FINISH || x->state == X_STATUS) {
            if (x_may_resume(x, &e)) {
                x_restream_later(x);
                return;
            }
        }
        x_fail_with(x, &e);
    }
    return;
started:
    if (!x->op)
        x_fail(x, ferry_err_set(&x->err, FERRY_ENOMEM, "out of memory"));
}

static void on_timer_invalid(void *ud)
{
    xfer_t *x = ud;
    x->timer = 0;
    x_finish(x, x->fail_rc);
}

xfer_t *xfer_blob(reg_t *src, const char *src_repo, reg_t *dst, const char *dst_repo,
                  const char *digest, int64_t size, const char *mount_from, const xfer_opts_t *opts,
                  xfer_done_fn done, void *ud)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    x->src = src;
    x->dst = dst;
    x->src_repo = strdup(src_repo);
    x->dst_repo = strdup(dst_repo);
    x->digest = strdup(digest);
    x->mount_from = mount_from ? strdup(mount_from) : NULL;
    x->size = size;
    x->done = done;
    x->ud = ud;
    x->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)x;
    if (opts)
        x->opts = *opts;
    if (!x->opts.buffer_size)
        x->opts.buffer_size = 1024 * 1024;
    if (x->opts.buffer_size < XFER_RING_MIN)
        x->opts.buffer_size = XFER_RING_MIN;
    if (!x->opts.monolithic_max)
        x->opts.monolithic_max = 128 * 1024 * 1024;
    if (!x->opts.chunk_size)
        x->opts.chunk_size = 128 * 1024 * 1024;
    if (!x->opts.max_resumes)
        x->opts.max_resumes = 8;
    x->snap_off[0] = x->snap_off[1] = -1;
    char algorithm[8] = "sha256";
    if (strncmp(digest, "sha512:", 7) == 0)
        memcpy(algorithm, "sha512", 7);
    x->ring_cap = x->opts.buffer_size;
    x->ring = malloc(x->ring_cap);
    x->hash = digest_ctx_new(algorithm);
    x->snap[0] = digest_ctx_new(algorithm);
    x->snap[1] = digest_ctx_new(algorithm);
    if (!x->src_repo || !x->dst_repo || !x->digest || (mount_from && !x->mount_from) || !x->ring ||
        !x->hash || !x->snap[0] || !x->snap[1]) {
        xfer_destroy(&x);
        return NULL;
    }
    if (digest_validate(digest, &x->err) < 0) {
        /* Report through the callback, like every other failure. */
        x->fail_rc = x->err.code;
        x->timer = http_loop_timer(reg_loop(dst), 0, on_timer_invalid, x);
        if (!x->timer)
            xfer_destroy(&x);
        return x;
    }
    if (x->size < 0) {
        x->state = X_SRC_HEAD;
        x->op = reg_blob_head(src, src_repo, digest, on_ctl, x);
    } else if (x->opts.skip_head) {
        x->state = x->mount_from ? X_MOUNT : X_START;
        x->op = x->mount_from ? reg_blob_mount(dst, dst_repo, digest, mount_from, on_ctl, x)
                              : reg_upload_start(dst, dst_repo, on_ctl, x);
    } else if (!x->mount_from) {
        /* One request instead of HEAD then POST: a mount from the target
         * repository itself answers 201 when the blob is there, else 202
         * with the upload to use. */
        x->state = X_PROBE;
        x->op = reg_blob_mount(dst, dst_repo, digest, dst_repo, on_ctl, x);
    } else {
        x->state = X_HEAD;
        x->op = reg_blob_head(dst, dst_repo, digest, on_ctl, x);
    }
    if (!x->op)
        xfer_destroy(&x);
    return x;
}

int xfer_wait(xfer_t *x)
{
    while (!x->finished)
        http_loop_run(reg_loop(x->dst), 1000, NULL, 0);
    return x->rc;
}

bool xfer_finished(const xfer_t *x)
{
    return x->finished;
}

int xfer_result(const xfer_t *x)
{
    return x->rc;
}

const ferry_err_t *xfer_error(const xfer_t *x)
{
    return &x->err;
}

int xfer_outcome(const xfer_t *x)
{
    return x->outcome;
}

int64_t xfer_bytes_done(const xfer_t *x)
{
    if (x->finished || x->state != X_STREAM)
        return x->confirmed;
    return x->confirmed + x->req_sent;
}

int64_t xfer_size(const xfer_t *x)
{
    return x->size;
}

int64_t xfer_bytes_received(const xfer_t *x)
{
    return x->received;
}

int xfer_resumes(const xfer_t *x)
{
    return x->resumes;
}

void xfer_destroy(xfer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    xfer_t *x = *self_p;
    reg_op_destroy(&x->op);
    reg_op_destroy(&x->src_op);
    reg_op_destroy(&x->up_op);
    x_cancel_timer(x);
    free(x->src_repo);
    free(x->dst_repo);
    free(x->digest);
    free(x->mount_from);
    free(x->location);
    free(x->ring);
    digest_ctx_destroy(&x->hash);
    digest_ctx_destroy(&x->snap[0]);
    digest_ctx_destroy(&x->snap[1]);
    free(x);
    *self_p = NULL;
}
