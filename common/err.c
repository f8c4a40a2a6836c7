/* err — error values and messages. */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ferry_err_set(ferry_err_t *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

void ferry_err_prefix(ferry_err_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}

void ferry_err_clear(ferry_err_t *err)
{
    if (!err)
        return;
    err->code = 0;
    err->http_status = 0;
    err->message[0] = '\0';
}

const char *ferry_code_name(int code)
{
    switch (code) {
    case FERRY_OK:
        return "ok";
    case FERRY_EINVAL:
        return "invalid";
    case FERRY_ENOMEM:
        return "no-memory";
    case FERRY_ENOTFOUND:
        return "not-found";
    case FERRY_EAUTH:
        return "auth";
    case FERRY_ERETRY:
        return "retryable";
    case FERRY_EDIGEST:
        return "digest-mismatch";
    case FERRY_ETOOBIG:
        return "too-big";
    case FERRY_EUNSUPPORTED:
        return "unsupported";
    case FERRY_EIO:
        return "io";
    case FERRY_EPROTO:
        return "protocol";
    case FERRY_ECANCELED:
        return "canceled";
    case FERRY_EEXIST:
        return "exists";
    }
    return "unknown";
}

bool ferry_code_retryable(int code)
{
    return code == FERRY_ERETRY || code == FERRY_ENOMEM;
}
