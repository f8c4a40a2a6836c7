/* ref — image references ("host[:port]/path[:tag][@digest]") and registry
 * locations ("host[:port][/prefix]"), per the distribution reference grammar,
 * with the registry host always explicit (no implied docker.io). */
#ifndef FERRY_REF_H
#define FERRY_REF_H

#include "common/err.h"

/* Longest registry host plus repository path ("host/path"), per the grammar. */
#define REF_NAME_MAX 255
/* Longest tag. */
#define REF_TAG_MAX 128

typedef struct ref {
    char *registry;   /* "host[:port]", required; owned */
    char *repository; /* path "ns/sub/repo" (may be "" only from ref_parse_location); owned */
    char *tag;        /* NULL when absent; owned */
    char *digest;     /* NULL when absent; owned */
} ref_t;

/* Parses "host[:port]/path[:tag][@digest]". On success *out is a new ref the
 * caller destroys with ref_destroy; on failure *out is NULL and the result is
 * FERRY_EINVAL (FERRY_EUNSUPPORTED for a digest of an unknown algorithm,
 * FERRY_ENOMEM) with a message naming the faulty part. A reference with
 * neither tag nor digest is valid: callers pick their own default. */
int ref_parse(ref_t **out, const char *text, ferry_err_t *err);

/* Parses a registry location "host[:port][/prefix]" (a destination for many
 * images): no tag or digest; repository is the prefix or "". One trailing '/'
 * is tolerated. Ownership as for ref_parse. */
int ref_parse_location(ref_t **out, const char *text, ferry_err_t *err);

/* Frees a ref; accepts NULL and a NULL *self_p, and nulls the pointer. */
void ref_destroy(ref_t **self_p);

/* Returns a deep copy the caller destroys, or NULL when out of memory or ref
 * is NULL. */
ref_t *ref_dup(const ref_t *ref);

/* Validates a repository path: components [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
 * separated by single '/', at most REF_NAME_MAX characters. 0 or FERRY_EINVAL. */
int ref_validate_repository(const char *path, ferry_err_t *err);

/* Validates a tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. 0 or FERRY_EINVAL. */
int ref_validate_tag(const char *tag, ferry_err_t *err);

/* Validates "host[:port]": a domain name, a dotted IPv4 address or an
 * [IPv6] address in brackets, with an optional port 1-65535. 0 or FERRY_EINVAL. */
int ref_validate_host(const char *host, ferry_err_t *err);

/* Canonical text of a ref ("host/path:tag@digest", "host" for an empty
 * repository). The caller frees it; NULL when out of memory or ref invalid. */
char *ref_format(const ref_t *ref);

#endif
