/* wwwauth — the WWW-Authenticate header of a 401 answer (RFC 7235 challenges,
 * as registries send them: Basic and the Docker token protocol's Bearer). */
#ifndef FERRY_WWWAUTH_H
#define FERRY_WWWAUTH_H

#include "common/err.h"

/* Longest header value accepted. */
#define WWWAUTH_VALUE_MAX 8192

typedef struct wwwauth_challenge {
    char *scheme;  /* "basic" or "bearer", lower-cased; owned */
    char *realm;   /* token endpoint (Bearer) or realm text (Basic); NULL when absent; owned */
    char *service; /* Bearer "service"; NULL when absent; owned */
    char *scope;   /* Bearer "scope"; NULL when absent; owned */
    char *
        error; /* Bearer "error" ("invalid_token", "insufficient_scope"); NULL when absent; owned */
} wwwauth_challenge_t;

/* Parses a header value that may hold several challenges and fills *out with
 * the most useful one: Bearer (with a realm) over Basic; other schemes are
 * skipped. Scheme and parameter names are case-insensitive; values may be
 * tokens or quoted strings with backslash escapes. *out is overwritten (it must
 * not hold strings: clear it first) and is all NULL on failure. Returns 0,
 * FERRY_EINVAL when the value is malformed, longer than WWWAUTH_VALUE_MAX,
 * repeats a parameter, or offers no usable Basic or Bearer challenge, or
 * FERRY_ENOMEM. */
int wwwauth_parse(const char *value, wwwauth_challenge_t *out, ferry_err_t *err);

/* Frees the strings of a challenge and nulls them; accepts NULL. */
void wwwauth_challenge_clear(wwwauth_challenge_t *c);

#endif
