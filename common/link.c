/* link — Link header parsing and URL resolution on libcurl's URL API. */
#include "common/link.h"

#include <ctype.h>

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Parsing state over one NUL-terminated Link header value. */
typedef struct link_parser {
    const char *start; /* the whole value, for offsets in messages */
    const char *p;     /* next byte to read */
    ferry_err_t *err;  /* where failures are described */
} link_parser_t;

static bool link_is_tchar(char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *link_skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static int link_malformed(link_parser_t *ps, const char *what)
{
    return ferry_err_set(ps->err, FERRY_EINVAL, "malformed Link header at offset %zu: %s",
                         (size_t)(ps->p - ps->start), what);
}

/* True when the space-separated relation types in [v, v+len) include "next". */
static bool link_rel_has_next(const char *v, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t'))
            i++;
        size_t word = i;
        while (i < len && v[i] != ' ' && v[i] != '\t')
            i++;
        if (i - word == 4 && strncasecmp(v + word, "next", 4) == 0)
            return true;
    }
    return false;
}

/* Reads a parameter value (quoted string or token) at ps->p; sets [*v, *v_len)
 * to its raw bytes. Escapes stay in a quoted value, which only matters for
 * matching "next", and no relation type contains '\\' or '"'. */
static int link_read_value(link_parser_t *ps, const char **v, size_t *v_len)
{
    if (*ps->p == '"') {
        const char *q = ps->p + 1;
        size_t n = 0;
        for (;;) {
            unsigned char c = (unsigned char)q[n];
            if (c == '\0')
                return link_malformed(ps, "unterminated quoted string");
            if (c == '"')
                break;
            if (c == '\\') {
                n++;
                c = (unsigned char)q[n];
                if (c == '\0')
                    return link_malformed(ps, "unterminated quoted string");
            }
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                return link_malformed(ps, "control character in quoted string");
            n++;
        }
        *v = q;
        *v_len = n;
        ps->p = q + n + 1;
        return 0;
    }
    size_t n = 0;
    while (link_is_tchar(ps->p[n]))
        n++;
    if (n == 0)
        return link_malformed(ps, "parameter without a value");
    *v = ps->p;
    *v_len = n;
    ps->p += n;
    return 0;
}

/* Reads the parameters after a link's URL; sets *is_next when the first rel
 * parameter (later ones are ignored, per RFC 8288) names "next". */
static int link_read_params(link_parser_t *ps, bool *is_next)
{
    bool saw_rel = false;
    *is_next = false;
    for (;;) {
        ps->p = link_skip_ows(ps->p);
        if (*ps->p != ';')
            return 0;
        ps->p = link_skip_ows(ps->p + 1);
        const char *name = ps->p;
        size_t name_len = 0;
        while (link_is_tchar(name[name_len]))
            name_len++;
        if (name_len == 0) {
            if (*ps->p == ';' || *ps->p == ',' || *ps->p == '\0')
                continue; /* an empty parameter ("<u>;;rel=next" or a trailing ';') */
            return link_malformed(ps, "expected a parameter name");
        }
        ps->p = link_skip_ows(name + name_len);
        const char *v = NULL;
        size_t v_len = 0;
        if (*ps->p == '=') {
            ps->p = link_skip_ows(ps->p + 1);
            int rc = link_read_value(ps, &v, &v_len);
            if (rc)
                return rc;
        }
        if (name_len == 3 && strncasecmp(name, "rel", 3) == 0 && !saw_rel) {
            saw_rel = true;
            *is_next = v && link_rel_has_next(v, v_len);
        }
    }
}

int link_next(const char *value, char **url_out, ferry_err_t *err)
{
    *url_out = NULL;
    if (!value)
        return 0;
    if (strnlen(value, LINK_VALUE_MAX + 1) > LINK_VALUE_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "Link header is longer than %d bytes",
                             LINK_VALUE_MAX);
    link_parser_t ps = {.start = value, .p = value, .err = err};
    for (;;) {
        while (*ps.p == ',' || *ps.p == ' ' || *ps.p == '\t')
            ps.p++;
        if (*ps.p == '\0')
            return 0;
        if (*ps.p != '<')
            return link_malformed(&ps, "expected '<'");
        const char *url = ps.p + 1;
        size_t url_len = 0;
        for (;;) {
            unsigned char c = (unsigned char)url[url_len];
            if (c == '\0')
                return link_malformed(&ps, "'<' without '>'");
            if (c == '>')
                break;
            if (c <= 0x20 || c == 0x7f)
                return link_malformed(&ps, "white space or control character in a URL");
            url_len++;
        }
        ps.p = url + url_len + 1;
        bool is_next = false;
        int rc = link_read_params(&ps, &is_next);
        if (rc)
            return rc;
        if (*ps.p != ',' && *ps.p != '\0')
            return link_malformed(&ps, "expected ';' or ','");
        if (!is_next)
            continue;
        if (url_len == 0)
            return ferry_err_set(err, FERRY_EINVAL, "Link header has an empty next URL");
        if (url_len > LINK_URL_MAX)
            return ferry_err_set(err, FERRY_EINVAL, "Link header next URL is longer than %d bytes",
                                 LINK_URL_MAX);
        char *copy = malloc(url_len + 1);
        if (!copy)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        memcpy(copy, url, url_len);
        copy[url_len] = '\0';
        *url_out = copy;
        return 0;
    }
}

/* Checks a URL text before handing it to curl: bounded, no white space or
 * control characters (curl would encode or refuse them inconsistently). */
static int url_check_text(const char *what, const char *text, ferry_err_t *err)
{
    if (!text)
        return ferry_err_set(err, FERRY_EINVAL, "missing %s URL", what);
    size_t len = strnlen(text, LINK_URL_MAX + 1);
    if (len > LINK_URL_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "%s URL is longer than %d bytes", what,
                             LINK_URL_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c <= 0x20 || c == 0x7f)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "%s URL contains white space or a control character", what);
    }
    return 0;
}

int url_resolve(const char *base, const char *ref, char **out, ferry_err_t *err)
{
    CURLU *url = NULL;
    char *scheme = NULL, *user = NULL, *password = NULL, *text = NULL;
    *out = NULL;
    int rc = url_check_text("base", base, err);
    if (!rc)
        rc = url_check_text("relative", ref, err);
    if (rc)
        goto out;
    url = curl_url();
    if (!url) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    CURLUcode uc = curl_url_set(url, CURLUPART_URL, base, 0);
    if (uc) {
        rc = ferry_err_set(err, FERRY_EINVAL, "invalid base URL: %s", curl_url_strerror(uc));
        goto out;
    }
    /* curl resolves an empty or fragment-only reference against the base's
     * directory; RFC 3986 keeps the base document, which is what setting no
     * new URL (and dropping the fragment below) gives. */
    if (ref[0] != '\0' && ref[0] != '#') {
        uc = curl_url_set(url, CURLUPART_URL, ref, 0);
        if (uc) {
            rc = ferry_err_set(err, FERRY_EINVAL, "cannot resolve URL: %s", curl_url_strerror(uc));
            goto out;
        }
    }
    uc = curl_url_set(url, CURLUPART_FRAGMENT, NULL, 0);
    if (!uc)
        uc = curl_url_get(url, CURLUPART_SCHEME, &scheme, 0);
    if (uc) {
        rc = ferry_err_set(err, FERRY_EINVAL, "cannot resolve URL: %s", curl_url_strerror(uc));
        goto out;
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "refusing a URL with scheme '%.16s': only http and https", scheme);
        goto out;
    }
    if (curl_url_get(url, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(url, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        rc = ferry_err_set(err, FERRY_EINVAL, "refusing a URL with user credentials in it");
        goto out;
    }
    uc = curl_url_get(url, CURLUPART_URL, &text, 0);
    if (uc) {
        rc = ferry_err_set(err, uc == CURLUE_OUT_OF_MEMORY ? FERRY_ENOMEM : FERRY_EINVAL,
                           "cannot resolve URL: %s", curl_url_strerror(uc));
        goto out;
    }
    *out = strdup(text);
    if (!*out)
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
out:
    curl_free(text);
    curl_free(scheme);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(url);
    return rc;
}

/* The origin of url: scheme, host and port (the scheme's default when
 * absent), lower case. 0, or -1 when it does not parse. */
static int url_origin(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        int n = snprintf(out, size, "%s://%s:%s", scheme, host, port);
        rc = n > 0 && (size_t)n < size ? 0 : -1;
        for (char *p = out; rc == 0 && *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

bool url_same_origin(const char *a, const char *b)
{
    char oa[512], ob[512];
    return a && b && url_origin(a, oa, sizeof oa) == 0 && url_origin(b, ob, sizeof ob) == 0 &&
           strcmp(oa, ob) == 0;
}

bool url_is_plain_http(const char *url)
{
    return url && strncasecmp(url, "http://", 7) == 0;
}
