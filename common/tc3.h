/* tc3 — TC3-HMAC-SHA256 request signing for the Tencent Cloud API.
 *
 * Computes the Authorization header of a `POST /` call with a JSON body, as
 * documented in /work/shared/reference/tencentcloud-api.md. Pure computation:
 * no I/O, no clock (the caller supplies the timestamp). */
#ifndef FERRY_TC3_H
#define FERRY_TC3_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* One request to sign. All strings are borrowed. */
typedef struct tc3_request {
    const char *secret_id;    /* "AKID..."; goes into the header, must be printable ASCII */
    const char *secret_key;   /* never copied, never put in a message */
    const char *service;      /* "tcr" */
    const char *host;         /* "tcr.tencentcloudapi.com", byte-identical to the Host header */
    const char *content_type; /* e.g. "application/json; charset=utf-8", as sent */
    const char *action;       /* signs x-tc-action too when set; NULL = "content-type;host" */
    int64_t timestamp;        /* Unix seconds, also sent as X-TC-Timestamp */
    const char *body;         /* request body (may be NULL when body_len is 0) */
    size_t body_len;          /* bytes of body */
} tc3_request_t;

/* Writes the Authorization header value ("TC3-HMAC-SHA256 Credential=...,
 * SignedHeaders=..., Signature=...") into *authorization_out; the caller frees
 * it. FERRY_EINVAL for a missing field, a header value with control
 * characters or a timestamp outside years 1970..9999; FERRY_ENOMEM. */
int tc3_sign(const tc3_request_t *req, char **authorization_out, ferry_err_t *err);

/* Lowercase hex of sha256(CanonicalRequest), the value signed in the
 * StringToSign. 0 or FERRY_EINVAL/FERRY_ENOMEM, like tc3_sign. */
int tc3_canonical_request_hash(const tc3_request_t *req, char out_hex[65]);

/* The CredentialScope date of a timestamp: its UTC date as "YYYY-MM-DD".
 * FERRY_EINVAL for a timestamp before 1970 or after 9999. */
int tc3_date(int64_t timestamp, char out[11]);

#endif
