/* link — pagination through the Link header (RFC 8288) and resolution of the
 * relative URLs registries hand out (Link, Location). */
#ifndef FERRY_LINK_H
#define FERRY_LINK_H

#include <stdbool.h>

#include "common/err.h"

/* Longest Link header value and longest URL accepted. */
#define LINK_VALUE_MAX 65536
#define LINK_URL_MAX   32768

/* Finds the URL of the first link whose rel (one of its space-separated
 * relation types, case-insensitive) is "next" in a Link header value, which may
 * hold several links with parameters in any order. On success *url_out is a
 * new string the caller frees, or NULL when there is no next link (a NULL
 * value means no header: also 0 and NULL). FERRY_EINVAL when the value is
 * malformed or too long (*url_out NULL), FERRY_ENOMEM. The URL is returned as
 * written: resolve it with url_resolve. */
int link_next(const char *value, char **url_out, ferry_err_t *err);

/* Resolves ref (absolute, scheme-relative, absolute path, relative path,
 * query-only or empty) against the absolute base with libcurl's CURLU API.
 * The result keeps the query string and drops the fragment. Only http and
 * https results are accepted, without user credentials in them, so a
 * registry cannot redirect ferry to a file or smuggle a user name.
 * On success *out is a new string the caller frees; otherwise *out is NULL and
 * the result is FERRY_EINVAL or FERRY_ENOMEM. */
int url_resolve(const char *base, const char *ref, char **out, ferry_err_t *err);

/* True when a and b have one origin: scheme, host and port (a missing port
 * is the scheme's default), case-insensitive. False when either does not
 * parse. Credentials go only to the origin they were given for. */
bool url_same_origin(const char *a, const char *b);

/* True when url's scheme is plain http. */
bool url_is_plain_http(const char *url);

#endif
