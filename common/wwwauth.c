/* wwwauth — a tolerant but bounded parser of WWW-Authenticate challenges. */
#include "common/wwwauth.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* How useful a scheme is to ferry; the best usable challenge wins. */
enum wwwauth_rank { WWWAUTH_OTHER = 0, WWWAUTH_BASIC = 1, WWWAUTH_BEARER = 2 };

/* Parsing state over one NUL-terminated header value. */
typedef struct wwwauth_parser {
    const char *start; /* the whole value, for offsets in messages */
    const char *p;     /* next byte to read */
    ferry_err_t *err;  /* where failures are described */
} wwwauth_parser_t;

static bool wwwauth_is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool wwwauth_is_token68_char(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-._~+/", c) != NULL;
}

static const char *wwwauth_skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static size_t wwwauth_token_len(const char *p)
{
    size_t n = 0;
    while (wwwauth_is_tchar(p[n]))
        n++;
    return n;
}

static int wwwauth_malformed(wwwauth_parser_t *ps, const char *what)
{
    return ferry_err_set(ps->err, FERRY_EINVAL,
                         "malformed WWW-Authenticate header at offset %zu: %s",
                         (size_t)(ps->p - ps->start), what);
}

/* Reads a quoted string at ps->p (on the opening quote) into a new string. */
static int wwwauth_read_quoted(wwwauth_parser_t *ps, char **value_out)
{
    const char *q = ps->p + 1;
    size_t raw_len = 0;
    for (;;) {
        unsigned char c = (unsigned char)q[raw_len];
        if (c == '\0')
            return wwwauth_malformed(ps, "unterminated quoted string");
        if (c == '"')
            break;
        if (c == '\\') {
            raw_len++;
            c = (unsigned char)q[raw_len];
            if (c == '\0')
                return wwwauth_malformed(ps, "unterminated quoted string");
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return wwwauth_malformed(ps, "control character in quoted string");
        raw_len++;
    }
    char *value = malloc(raw_len + 1);
    if (!value)
        return ferry_err_set(ps->err, FERRY_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < raw_len; i++) {
        if (q[i] == '\\')
            i++;
        value[n++] = q[i];
    }
    value[n] = '\0';
    ps->p = q + raw_len + 1;
    *value_out = value;
    return 0;
}

/* Reads a parameter value: a quoted string, or an unquoted run up to ',' or
 * white space (tolerating URL characters registries leave unquoted). */
static int wwwauth_read_value(wwwauth_parser_t *ps, char **value_out)
{
    if (*ps->p == '"')
        return wwwauth_read_quoted(ps, value_out);
    size_t n = 0;
    for (;;) {
        unsigned char c = (unsigned char)ps->p[n];
        if (c <= 0x20 || c == 0x7f || c == ',' || c == '"')
            break;
        n++;
    }
    if (n == 0)
        return wwwauth_malformed(ps, "parameter without a value");
    char *value = malloc(n + 1);
    if (!value)
        return ferry_err_set(ps->err, FERRY_ENOMEM, "out of memory");
    memcpy(value, ps->p, n);
    value[n] = '\0';
    ps->p += n;
    *value_out = value;
    return 0;
}

/* Stores a parameter of the current challenge; takes ownership of value. */
static int wwwauth_store(wwwauth_parser_t *ps, wwwauth_challenge_t *c, const char *name,
                         size_t name_len, char *value)
{
    static const char *const names[] = {"realm", "service", "scope", "error"};
    char **slots[] = {&c->realm, &c->service, &c->scope, &c->error};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) != name_len || strncasecmp(name, names[i], name_len) != 0)
            continue;
        if (*slots[i]) {
            free(value);
            return ferry_err_set(ps->err, FERRY_EINVAL,
                                 "malformed WWW-Authenticate header: parameter '%s' appears twice "
                                 "in one challenge",
                                 names[i]);
        }
        *slots[i] = value;
        return 0;
    }
    free(value);
    return 0;
}

/* Reads "name = value" at ps->p into c. */
static int wwwauth_read_param(wwwauth_parser_t *ps, wwwauth_challenge_t *c)
{
    const char *name = ps->p;
    size_t name_len = wwwauth_token_len(name);
    if (name_len == 0)
        return wwwauth_malformed(ps, "expected a parameter name");
    ps->p = wwwauth_skip_ows(name + name_len);
    if (*ps->p != '=')
        return wwwauth_malformed(ps, "expected '=' after a parameter name");
    ps->p = wwwauth_skip_ows(ps->p + 1);
    char *value = NULL;
    int rc = wwwauth_read_value(ps, &value);
    if (rc)
        return rc;
    return wwwauth_store(ps, c, name, name_len, value);
}

/* True when p holds a token68 (credentials-like blob) ending the challenge. */
static bool wwwauth_at_token68(const char *p, const char **end_out)
{
    const char *t = p;
    while (wwwauth_is_token68_char(*t))
        t++;
    if (t == p)
        return false;
    while (*t == '=')
        t++;
    t = wwwauth_skip_ows(t);
    if (*t != ',' && *t != '\0')
        return false;
    *end_out = t;
    return true;
}

/* True when p starts "token BWS =": another parameter, not a new scheme. */
static bool wwwauth_at_param(const char *p)
{
    size_t n = wwwauth_token_len(p);
    return n > 0 && *wwwauth_skip_ows(p + n) == '=';
}

static enum wwwauth_rank wwwauth_scheme_rank(const char *scheme, size_t len)
{
    if (len == 6 && strncasecmp(scheme, "bearer", 6) == 0)
        return WWWAUTH_BEARER;
    if (len == 5 && strncasecmp(scheme, "basic", 5) == 0)
        return WWWAUTH_BASIC;
    return WWWAUTH_OTHER;
}

/* Reads one challenge at ps->p (on its scheme) into c, up to the start of the
 * next challenge or the end. */
static int wwwauth_read_challenge(wwwauth_parser_t *ps, wwwauth_challenge_t *c,
                                  enum wwwauth_rank *rank_out)
{
    const char *scheme = ps->p;
    size_t scheme_len = wwwauth_token_len(scheme);
    if (scheme_len == 0)
        return wwwauth_malformed(ps, "expected an authentication scheme");
    *rank_out = wwwauth_scheme_rank(scheme, scheme_len);
    ps->p += scheme_len;
    if (*ps->p != ' ' && *ps->p != '\t' && *ps->p != ',' && *ps->p != '\0')
        return wwwauth_malformed(ps, "expected a space after the scheme");
    ps->p = wwwauth_skip_ows(ps->p);
    const char *token68_end = NULL;
    if (wwwauth_at_token68(ps->p, &token68_end)) {
        ps->p = token68_end;
        return 0;
    }
    if (*ps->p == ',' || *ps->p == '\0')
        return 0;
    for (;;) {
        int rc = wwwauth_read_param(ps, c);
        if (rc)
            return rc;
        ps->p = wwwauth_skip_ows(ps->p);
        if (*ps->p == '\0')
            return 0;
        if (*ps->p != ',')
            return wwwauth_malformed(ps, "expected ',' between parameters");
        /* Empty list elements are allowed: skip every comma and space. */
        while (*ps->p == ',' || *ps->p == ' ' || *ps->p == '\t')
            ps->p++;
        if (*ps->p == '\0' || !wwwauth_at_param(ps->p))
            return 0;
    }
}

int wwwauth_parse(const char *value, wwwauth_challenge_t *out, ferry_err_t *err)
{
    wwwauth_challenge_t current = {0};
    enum wwwauth_rank best_rank = WWWAUTH_OTHER;
    bool saw_bearer_without_realm = false;
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (!value)
        return ferry_err_set(err, FERRY_EINVAL, "missing WWW-Authenticate header");
    if (strnlen(value, WWWAUTH_VALUE_MAX + 1) > WWWAUTH_VALUE_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "WWW-Authenticate header is longer than %d bytes",
                             WWWAUTH_VALUE_MAX);
    wwwauth_parser_t ps = {.start = value, .p = value, .err = err};
    for (;;) {
        while (*ps.p == ',' || *ps.p == ' ' || *ps.p == '\t')
            ps.p++;
        if (*ps.p == '\0')
            break;
        enum wwwauth_rank rank = WWWAUTH_OTHER;
        rc = wwwauth_read_challenge(&ps, &current, &rank);
        if (rc)
            goto out;
        bool usable =
            rank == WWWAUTH_BASIC || (rank == WWWAUTH_BEARER && current.realm && *current.realm);
        if (rank == WWWAUTH_BEARER && !usable)
            saw_bearer_without_realm = true;
        if (usable && rank > best_rank) {
            wwwauth_challenge_clear(out);
            *out = current;
            memset(&current, 0, sizeof current);
            out->scheme = strdup(rank == WWWAUTH_BEARER ? "bearer" : "basic");
            if (!out->scheme) {
                rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
                goto out;
            }
            best_rank = rank;
        }
        wwwauth_challenge_clear(&current);
    }
    if (best_rank == WWWAUTH_OTHER) {
        if (saw_bearer_without_realm)
            rc = ferry_err_set(err, FERRY_EINVAL, "WWW-Authenticate Bearer challenge has no realm");
        else
            rc = ferry_err_set(err, FERRY_EINVAL,
                               "WWW-Authenticate header offers neither Basic nor Bearer "
                               "authentication");
    }
out:
    wwwauth_challenge_clear(&current);
    if (rc)
        wwwauth_challenge_clear(out);
    return rc;
}

void wwwauth_challenge_clear(wwwauth_challenge_t *c)
{
    if (!c)
        return;
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    free(c->error);
    memset(c, 0, sizeof *c);
}
