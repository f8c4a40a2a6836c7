/* digest — content digests ("sha256:<64 hex>") and streaming hashing.
 *
 * Only sha256 and sha512 are accepted, per the OCI image spec's registered
 * algorithms; the hex part must be lower case and of the exact length. */
#ifndef FERRY_DIGEST_H
#define FERRY_DIGEST_H

#include <stddef.h>
#include "common/err.h"

/* Longest digest string, "sha512:" + 128 hex, plus the NUL. */
#define DIGEST_STR_MAX 136

/* Validates a digest string. FERRY_EINVAL for a malformed one (bad shape,
 * upper case, wrong length), FERRY_EUNSUPPORTED for a well-formed digest with
 * an unregistered algorithm. */
int digest_validate(const char *digest, ferry_err_t *err);

/* Streaming hasher for the algorithm of an expected digest. */
typedef struct digest_ctx digest_ctx_t;

/* Creates a hasher for `algorithm` ("sha256" or "sha512"); NULL on failure. */
digest_ctx_t *digest_ctx_new(const char *algorithm);
void digest_ctx_destroy(digest_ctx_t **self_p);
void digest_ctx_update(digest_ctx_t *self, const void *data, size_t len);
/* Writes "alg:hex" into out (DIGEST_STR_MAX bytes). The context can not be
 * updated afterwards. */
void digest_ctx_final(digest_ctx_t *self, char out[DIGEST_STR_MAX]);
/* Copies the state of src into dst (same algorithm); 0 or FERRY_ENOMEM. */
int digest_ctx_copy(digest_ctx_t *dst, const digest_ctx_t *src);
/* Restarts the hash from zero. */
void digest_ctx_reset(digest_ctx_t *self);

/* One-shot sha256 of a buffer into "sha256:hex". */
void digest_sha256(const void *data, size_t len, char out[DIGEST_STR_MAX]);

/* Hashes data with the algorithm of `expected` and compares. 0 when equal,
 * FERRY_EDIGEST when not, FERRY_EINVAL/FERRY_EUNSUPPORTED for a bad
 * expected digest. */
int digest_verify(const char *expected, const void *data, size_t len, ferry_err_t *err);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void digest_hex(const unsigned char *bytes, size_t n, char *out);

#endif
