/* err — error values shared by every ferry module.
 *
 * Functions return 0 on success or one of the negative FERRY_E* codes below,
 * and fill an optional ferry_err_t with a precise, secret-free message. */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stdbool.h>

enum ferry_code {
    FERRY_OK = 0,
    FERRY_EINVAL = -1,       /* invalid input: reference, manifest, header, argument */
    FERRY_ENOMEM = -2,       /* out of memory */
    FERRY_ENOTFOUND = -3,    /* repository, manifest or blob does not exist */
    FERRY_EAUTH = -4,        /* authentication failed or access denied */
    FERRY_ERETRY = -5,       /* transient: connection error, 5xx, 429; try again later */
    FERRY_EDIGEST = -6,      /* content does not match its digest */
    FERRY_ETOOBIG = -7,      /* a size limit was exceeded */
    FERRY_EUNSUPPORTED = -8, /* valid but not supported (schema 1, unknown algorithm) */
    FERRY_EIO = -9,          /* local I/O error */
    FERRY_EPROTO = -10,      /* a peer broke its protocol (registry, agent, coordinator) */
    FERRY_ECANCELED = -11,   /* the operation was cancelled */
    FERRY_EEXIST = -12,      /* already exists */
};

/* An error with its message. The message is bounded; longer texts are cut. */
typedef struct ferry_err {
    int code;          /* one of enum ferry_code */
    int http_status;   /* HTTP status that caused it, 0 if none */
    char message[512]; /* human-readable, never contains a secret */
} ferry_err_t;

/* Sets *err (when err is not NULL) and returns code, so callers can write
 * `return ferry_err_set(err, FERRY_EINVAL, "bad tag '%s'", tag);`. */
int ferry_err_set(ferry_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with more context ("copy x: <old>"). */
void ferry_err_prefix(ferry_err_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ferry_err_clear(ferry_err_t *err);

/* Short stable name of a code ("invalid", "not-found", ...). */
const char *ferry_code_name(int code);

/* True for codes worth retrying (FERRY_ERETRY and FERRY_ENOMEM). */
bool ferry_code_retryable(int code);

#endif
