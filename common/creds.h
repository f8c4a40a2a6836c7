/* creds — registry credentials: "user:password" text and the "auths" of a
 * Docker config.json. Passwords never appear in messages and are wiped from
 * memory when cleared. */
#ifndef FERRY_CREDS_H
#define FERRY_CREDS_H

#include "common/err.h"

/* Largest Docker config file read. */
#define CREDS_CONFIG_MAX (4 * 1024 * 1024)
/* Longest "user:password" text accepted (identity tokens can be long). */
#define CREDS_TEXT_MAX 16384

typedef struct creds {
    char *username; /* owned; NULL with password NULL means anonymous */
    char *password; /* owned; wiped by creds_clear */
} creds_t;

/* Splits "user:password" at the FIRST ':' (the password may hold ':'; it may
 * be empty). *out is overwritten and must not hold credentials (creds_clear it
 * first); on failure it is all NULL. FERRY_EINVAL when there is no ':', the
 * user is empty or holds control characters, or the text is longer than
 * CREDS_TEXT_MAX; the message never contains the password. FERRY_ENOMEM. */
int creds_parse_userpass(const char *text, creds_t *out, ferry_err_t *err);

/* Looks up host ("host[:port]", case-insensitive) in the "auths" of the Docker
 * config.json at path. Keys match as "host", "https://host", "http://host",
 * "https://host/v1/" and "host/..."; an exact "host" key wins. Docker Hub's
 * names (docker.io, index.docker.io, registry-1.docker.io) are one host. An
 * entry gives "auth" (base64 of user:password) or "username" and "password".
 * *out is overwritten as for creds_parse_userpass. Returns 0;
 * FERRY_ENOTFOUND when the file does not exist or has no usable entry for
 * the host (the message says which, and names a credential helper or identity
 * token it cannot use); FERRY_EINVAL for malformed JSON or base64;
 * FERRY_ETOOBIG above CREDS_CONFIG_MAX; FERRY_EIO when the file cannot be
 * read; FERRY_ENOMEM. Messages never hold secrets. */
int creds_from_docker_config(const char *path, const char *host, creds_t *out, ferry_err_t *err);

/* $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (empty variables
 * count as unset); a new string the caller frees, NULL when neither is set or
 * out of memory. */
char *creds_default_config_path(void);

/* Deep copy of src into dst (overwritten; must not hold credentials). 0, or
 * FERRY_ENOMEM with dst all NULL. */
int creds_copy(creds_t *dst, const creds_t *src);

/* Wipes the password and user name bytes, frees both and nulls them; accepts
 * NULL. */
void creds_clear(creds_t *c);

#endif
