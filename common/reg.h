/* reg — the registry client: OCI / Docker v2 distribution API operations.
 *
 * A reg_t talks to one registry host. Every operation is asynchronous: it is
 * started on the reg's http loop and finishes through its done callback
 * (never called from inside the starting function), or, with done == NULL,
 * through reg_op_wait(), which drives the loop until the operation ends.
 *
 * Authentication is handled inside: anonymous, Basic, or Bearer tokens
 * fetched from the realm the registry names, cached per scope and refreshed
 * before they expire or once after a 401. Requests whose bodies can be sent
 * again are retried on retryable failures (connection errors, 5xx, 429 with
 * Retry-After) with exponential backoff and jitter, bounded by the policy. */
#ifndef FERRY_REG_H
#define FERRY_REG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/http.h"
#include "common/retry.h"

typedef struct reg reg_t;
typedef struct reg_op reg_op_t;
typedef void (*reg_done_fn)(reg_op_t *op, void *ud);

typedef struct reg_opts {
    const char *host;     /* "host[:port]" */
    bool plain_http;      /* talk http:// instead of https:// */
    bool tls_insecure;    /* https without certificate verification */
    const char *ca_file;  /* CA bundle file to verify the registry, or NULL */
    const char *ca_pem;   /* CA bundle text, or NULL */
    const char *username; /* NULL for anonymous */
    const char *password;
    double qps;                  /* registry API requests per second, 0 = unlimited */
    const retry_policy_t *retry; /* NULL = retry_policy_default */
} reg_opts_t;

/* Creates a client on loop (borrowed; must outlive the client). Copies opts. */
reg_t *reg_new(http_loop_t *loop, const reg_opts_t *opts, ferry_err_t *err);
/* Cancels the client's running operations (their callbacks are not called;
 * their reg_op_t objects must still be destroyed by their owners). */
void reg_destroy(reg_t **self_p);
const char *reg_host(const reg_t *reg);
/* Replaces the client's login (a renewed temporary token); tokens fetched
 * with the old one are dropped. 0 or FERRY_ENOMEM. */
int reg_set_credentials(reg_t *reg, const char *username, const char *password);
http_loop_t *reg_loop(const reg_t *reg);
/* Requests this client sent, including retries and token fetches. */
uint64_t reg_request_count(const reg_t *reg);

/* --- operations; each returns a started op, or NULL when out of memory --- */

/* GET /v2/: reachability and credentials. */
reg_op_t *reg_ping(reg_t *reg, reg_done_fn done, void *ud);
/* Every repository in the catalog, following Link pagination (page_size per page, 0 = server
 * default). */
reg_op_t *reg_catalog(reg_t *reg, int page_size, reg_done_fn done, void *ud);
/* Every tag of a repository, following Link pagination. */
reg_op_t *reg_tags_list(reg_t *reg, const char *repo, int page_size, reg_done_fn done, void *ud);

/* Manifest by tag or digest. The bytes are kept exactly; their digest is
 * verified against the reference when it is a digest and against
 * Docker-Content-Digest when the registry sends one; bodies over 4 MiB fail. */
reg_op_t *reg_manifest_get(reg_t *reg, const char *repo, const char *ref, reg_done_fn done,
                           void *ud);
/* HEAD of a manifest: digest, media type and size; FERRY_ENOTFOUND when absent. */
reg_op_t *reg_manifest_head(reg_t *reg, const char *repo, const char *ref, reg_done_fn done,
                            void *ud);
/* PUT of exact manifest bytes (borrowed until done) under a tag or digest. */
reg_op_t *reg_manifest_put(reg_t *reg, const char *repo, const char *ref, const char *media_type,
                           const void *body, size_t len, reg_done_fn done, void *ud);
/* Referrers of a digest (OCI 1.1): the index body; FERRY_ENOTFOUND when the
 * registry lacks the API. */
reg_op_t *reg_referrers(reg_t *reg, const char *repo, const char *digest, reg_done_fn done,
                        void *ud);

/* HEAD of a blob: reg_op_exists() and reg_op_size(); absent is not an error. */
reg_op_t *reg_blob_head(reg_t *reg, const char *repo, const char *digest, reg_done_fn done,
                        void *ud);
/* GET of a blob from byte offset (Range when > 0), streamed to sink;
 * redirects are followed without credentials. reg_op_status() tells 200 or 206.
 * With sink NULL the blob is read into memory (at most 1 MiB: configs) and
 * reg_op_body() holds it. */
reg_op_t *reg_blob_get(reg_t *reg, const char *repo, const char *digest, int64_t offset,
                       http_sink_fn sink, void *sink_ud, reg_done_fn done, void *ud);

/* POST: starts an upload; reg_op_location() is its absolute URL and
 * reg_op_chunk_min() the registry's OCI-Chunk-Min-Length (0 when none). */
reg_op_t *reg_upload_start(reg_t *reg, const char *repo, reg_done_fn done, void *ud);
/* POST ?mount=&from=: reg_op_mounted() when the registry mounted the blob
 * (201); otherwise it started an upload at reg_op_location() (202). */
reg_op_t *reg_blob_mount(reg_t *reg, const char *repo, const char *digest, const char *from_repo,
                         reg_done_fn done, void *ud);
/* PATCH of length bytes at offset, streamed from source. reg_op_location()
 * is the next upload URL and reg_op_range_end() the last byte stored. */
reg_op_t *reg_upload_patch(reg_t *reg, const char *repo, const char *location, int64_t offset,
                           int64_t length, http_source_fn source, void *source_ud, reg_done_fn done,
                           void *ud);
/* GET of an upload's status: reg_op_range_end() is the last byte stored (-1
 * when none), reg_op_location() the URL to go on with. */
reg_op_t *reg_upload_status(reg_t *reg, const char *repo, const char *location, reg_done_fn done,
                            void *ud);
/* PUT ?digest=: finishes an upload, with length more bytes streamed from
 * source (length 0 and source NULL to only close a chunked upload). */
reg_op_t *reg_upload_finish(reg_t *reg, const char *repo, const char *location, const char *digest,
                            int64_t length, http_source_fn source, void *source_ud,
                            reg_done_fn done, void *ud);
/* DELETE of an unfinished upload, so nothing partial stays behind. */
reg_op_t *reg_upload_cancel(reg_t *reg, const char *repo, const char *location, reg_done_fn done,
                            void *ud);

/* --- results --- */
/* Drives the loop until op has finished; returns reg_op_result(op). */
int reg_op_wait(reg_op_t *op);
bool reg_op_finished(const reg_op_t *op);
/* 0 or a FERRY_E* code; the message is in reg_op_error(). */
int reg_op_result(const reg_op_t *op);
const ferry_err_t *reg_op_error(const reg_op_t *op);
int reg_op_status(const reg_op_t *op);
/* Response body in memory (manifests, referrers). */
const char *reg_op_body(const reg_op_t *op, size_t *len_out);
/* Takes the body; caller frees. */
char *reg_op_steal_body(reg_op_t *op, size_t *len_out);
const char *reg_op_digest(const reg_op_t *op);     /* manifest digest */
const char *reg_op_media_type(const reg_op_t *op); /* Content-Type without parameters */
int64_t reg_op_size(const reg_op_t *op);           /* Content-Length, -1 unknown */
bool reg_op_exists(const reg_op_t *op);
bool reg_op_mounted(const reg_op_t *op);
const char *reg_op_location(const reg_op_t *op);
int64_t reg_op_range_end(const reg_op_t *op);
int64_t reg_op_chunk_min(const reg_op_t *op);
/* Names of a listing; borrowed. */
char *const *reg_op_names(const reg_op_t *op, size_t *n_out);
/* Resumes the op's paused request (its sink or source returned HTTP_PAUSE). */
void reg_op_resume(reg_op_t *op);
/* Requests made for this op, including retries. */
int reg_op_attempts(const reg_op_t *op);
/* Cancels a running op (no callback) and frees it. */
void reg_op_destroy(reg_op_t **self_p);

#endif
