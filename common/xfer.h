/* xfer — blob transfers between two registries, streamed with bounded memory.
 *
 * A transfer copies one blob from a source repository to a target repository:
 * a probe of the target (a mount from the target repository itself: 201 means
 * present and skipped, 202 opens the upload; HEAD where a registry refuses
 * that), an optional cross-repository mount
 * (a 202 answer falls back to copying), then a source GET streamed through a
 * fixed ring buffer into the target upload, hashed on the way. Small blobs go
 * in one PUT with Content-Length; large ones in PATCH chunks that resume from
 * the Range the registry reports after a failure. A dropped source connection
 * resumes with a Range request. Bytes that do not match the digest are never
 * committed: the upload is cancelled and the transfer fails with
 * FERRY_EDIGEST. */
#ifndef FERRY_XFER_H
#define FERRY_XFER_H

#include <stdint.h>

#include "common/err.h"
#include "common/reg.h"

typedef struct xfer xfer_t;
typedef void (*xfer_done_fn)(xfer_t *x, void *ud);

enum xfer_outcome {
    XFER_COPIED = 1, /* bytes were streamed to the target */
    XFER_SKIPPED,    /* the target already had the blob */
    XFER_MOUNTED,    /* the target mounted it from another repository */
};

typedef struct xfer_opts {
    size_t buffer_size;     /* ring buffer per transfer (default 1 MiB) */
    int64_t monolithic_max; /* blobs up to this size go in one PUT (default 128 MiB) */
    int64_t chunk_size; /* PATCH size above it (default 128 MiB; raised to the registry minimum) */
    int max_resumes;    /* source and upload resumes allowed (default 8) */
    bool skip_head;     /* do not HEAD the target first */
} xfer_opts_t;

/* Starts copying blob digest (size bytes, -1 when unknown) from src/src_repo
 * to dst/dst_repo; with mount_from, first tries to mount it from that
 * repository of dst. opts may be NULL. The clients are borrowed and must
 * share one loop. NULL when out of memory. */
xfer_t *xfer_blob(reg_t *src, const char *src_repo, reg_t *dst, const char *dst_repo,
                  const char *digest, int64_t size, const char *mount_from, const xfer_opts_t *opts,
                  xfer_done_fn done, void *ud);
/* Drives the loop until the transfer ends; returns xfer_result(). */
int xfer_wait(xfer_t *x);
bool xfer_finished(const xfer_t *x);
int xfer_result(const xfer_t *x);
const ferry_err_t *xfer_error(const xfer_t *x);
int xfer_outcome(const xfer_t *x);
/* Blob bytes confirmed by the target so far (progress), and in total. */
int64_t xfer_bytes_done(const xfer_t *x);
int64_t xfer_size(const xfer_t *x);
/* Source bytes received, including those received again after a resume. */
int64_t xfer_bytes_received(const xfer_t *x);
int xfer_resumes(const xfer_t *x);
/* Stops a running transfer (best effort: its upload is cancelled) and frees it. */
void xfer_destroy(xfer_t **self_p);

#endif
