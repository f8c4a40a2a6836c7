/* regerr — registry error answers: the {"errors":[...]} body of the
 * distribution spec, and the mapping of HTTP status and error code to a
 * FERRY_E* code callers act on. */
#ifndef FERRY_REGERR_H
#define FERRY_REGERR_H

#include <stddef.h>

#include "common/err.h"

/* Bytes of a body read at most; a longer body is not parsed. */
#define REGERR_BODY_MAX 65536
/* Bytes of a registry's message (and of its code) kept at most. */
#define REGERR_MESSAGE_MAX 200

/* Reads the first error of a body {"errors":[{"code":..,"message":..}]} into
 * code and message (each NUL-terminated, cut to its buffer and to
 * REGERR_MESSAGE_MAX bytes on a UTF-8 boundary, control characters removed). Both are
 * empty strings when absent or when the body is not JSON; a JSON body without
 * "errors" but with a top-level "message", "error" or "details" string gives
 * that as the message. body may be NULL; never fails. A size of 0 leaves that
 * buffer untouched. */
void regerr_parse(const char *body, size_t len, char *code, size_t code_size, char *message,
                  size_t message_size);

/* Maps an HTTP status and a registry error code (NULL or "" when none) to a
 * FERRY_E* code, first match wins:
 *   code DIGEST_INVALID → FERRY_EDIGEST; code TOOMANYREQUESTS → FERRY_ERETRY;
 *   401, 403 → FERRY_EAUTH; 404 → FERRY_ENOTFOUND; 408, 429, 5xx → FERRY_ERETRY;
 *   413 → FERRY_ETOOBIG; code UNAUTHORIZED, DENIED → FERRY_EAUTH;
 *   code *_UNKNOWN → FERRY_ENOTFOUND; code MANIFEST_INVALID, NAME_INVALID,
 *   TAG_INVALID, SIZE_INVALID, BLOB_UPLOAD_INVALID → FERRY_EINVAL; anything
 *   else (other 4xx, and a status below 400, an answer the caller did not
 *   expect) → FERRY_EPROTO. Codes compare case-insensitively. */
int regerr_classify(int http_status, const char *code);

/* Fills err with "<what>: HTTP <status> <CODE>: <message>" (parts absent from
 * the body left out) and err->http_status, and returns the classified code.
 * A body that is not JSON contributes its first line when it is short plain
 * text (not HTML). what may be NULL. */
int regerr_from_response(ferry_err_t *err, const char *what, int http_status, const char *body,
                         size_t len);

#endif
