/* creds — parsing credentials and reading them from a Docker config.json.
 *
 * Buffers that held secrets (the file, decoded "auth" values) are wiped before
 * they are freed. Jansson's own copies of the file's strings are freed
 * without wiping; that is outside this module's reach. */
#include "common/creds.h"
#include "common/buf.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest user name accepted from any source. */
#define CREDS_USER_MAX 1024

static void creds_free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

void creds_clear(creds_t *c)
{
    if (!c)
        return;
    creds_free_secret(c->username);
    creds_free_secret(c->password);
    c->username = NULL;
    c->password = NULL;
}

/* Sets *out from a user name and a password of known lengths. `source` names
 * where they came from, for messages (never the values themselves). */
static int creds_set(creds_t *out, const char *user, size_t user_len, const char *password,
                     size_t password_len, const char *source, ferry_err_t *err)
{
    if (user_len == 0)
        return ferry_err_set(err, FERRY_EINVAL, "%s: empty user name", source);
    if (user_len > CREDS_USER_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "%s: user name is longer than %d bytes", source,
                             CREDS_USER_MAX);
    for (size_t i = 0; i < user_len; i++) {
        unsigned char c = (unsigned char)user[i];
        if (c < 0x20 || c == 0x7f)
            return ferry_err_set(err, FERRY_EINVAL, "%s: user name contains a control character",
                                 source);
    }
    if (memchr(password, '\0', password_len))
        return ferry_err_set(err, FERRY_EINVAL, "%s: password contains a NUL byte", source);
    out->username = malloc(user_len + 1);
    out->password = malloc(password_len + 1);
    if (!out->username || !out->password) {
        free(out->username);
        free(out->password);
        out->username = out->password = NULL;
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    }
    memcpy(out->username, user, user_len);
    out->username[user_len] = '\0';
    memcpy(out->password, password, password_len);
    out->password[password_len] = '\0';
    return 0;
}

/* Splits "user:password" of len bytes at the first ':'. */
static int creds_split(const char *text, size_t len, creds_t *out, const char *source,
                       ferry_err_t *err)
{
    const char *colon = memchr(text, ':', len);
    if (!colon)
        return ferry_err_set(err, FERRY_EINVAL, "%s: expected USER:PASSWORD, found no ':'", source);
    size_t user_len = (size_t)(colon - text);
    return creds_set(out, text, user_len, colon + 1, len - user_len - 1, source, err);
}

int creds_parse_userpass(const char *text, creds_t *out, ferry_err_t *err)
{
    out->username = out->password = NULL;
    if (!text)
        return ferry_err_set(err, FERRY_EINVAL, "credentials: expected USER:PASSWORD");
    size_t len = strnlen(text, CREDS_TEXT_MAX + 1);
    if (len > CREDS_TEXT_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "credentials are longer than %d bytes",
                             CREDS_TEXT_MAX);
    return creds_split(text, len, out, "credentials", err);
}

int creds_copy(creds_t *dst, const creds_t *src)
{
    dst->username = dst->password = NULL;
    if (!src)
        return 0;
    if (src->username && !(dst->username = strdup(src->username)))
        goto oom;
    if (src->password && !(dst->password = strdup(src->password)))
        goto oom;
    return 0;
oom:
    creds_clear(dst);
    return FERRY_ENOMEM;
}

char *creds_default_config_path(void)
{
    const char *dir = getenv("DOCKER_CONFIG");
    const char *suffix = "/config.json";
    if (!dir || !*dir) {
        dir = getenv("HOME");
        suffix = "/.docker/config.json";
    }
    if (!dir || !*dir)
        return NULL;
    size_t dir_len = strlen(dir), suffix_len = strlen(suffix);
    char *path = malloc(dir_len + suffix_len + 1);
    if (!path)
        return NULL;
    memcpy(path, dir, dir_len);
    memcpy(path + dir_len, suffix, suffix_len + 1);
    return path;
}

/* Value of one base64 character, or -1. */
static int creds_base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard base64, padded or not, into a new buffer the caller wipes
 * and frees. False on any character outside the alphabet, misplaced or wrong
 * padding, an impossible length, or out of memory (*out NULL then). */
static bool creds_base64_decode(const char *in, size_t in_len, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    size_t pad = 0;
    while (in_len > 0 && in[in_len - 1] == '=' && pad < 2) {
        in_len--;
        pad++;
    }
    if ((pad && (in_len + pad) % 4 != 0) || in_len % 4 == 1)
        return false;
    unsigned char *bytes = malloc(in_len / 4 * 3 + 3);
    if (!bytes)
        return false;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        int v = creds_base64_value(in[i]);
        if (v < 0) {
            OPENSSL_cleanse(bytes, n);
            free(bytes);
            return false;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            bytes[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out = bytes;
    *out_len = n;
    return true;
}

/* Reads the Docker config at path (any file a user may point at, a pipe
 * too) into a new NUL-terminated buffer the caller wipes and frees; no copy
 * of the contents is left unwiped in freed memory. */
static int creds_read_file(const char *path, char **data_out, size_t *len_out, ferry_err_t *err)
{
    ferry_err_t why;
    int rc = fbuf_read_file(path, CREDS_CONFIG_MAX, FBUF_FILE_SECRET, data_out, len_out, &why);
    if (rc == FERRY_ENOTFOUND)
        return ferry_err_set(err, rc, "Docker config '%.256s' does not exist", path);
    if (rc == FERRY_ETOOBIG)
        return ferry_err_set(err, rc, "Docker config '%.256s' is larger than %d bytes", path,
                             CREDS_CONFIG_MAX);
    if (rc < 0)
        return ferry_err_set(err, rc, "cannot read Docker config '%.256s': %s", path, why.message);
    return 0;
}

/* True for the names Docker Hub goes by. */
static bool creds_is_docker_hub(const char *name, size_t len)
{
    static const char *const names[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                        "registry.hub.docker.com"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == len && strncasecmp(name, names[i], len) == 0)
            return true;
    return false;
}

/* True when a config key ("host", "https://host/v1/", "host/path") names host. */
static bool creds_key_matches(const char *key, const char *host)
{
    if (strncasecmp(key, "https://", 8) == 0)
        key += 8;
    else if (strncasecmp(key, "http://", 7) == 0)
        key += 7;
    size_t key_len = strcspn(key, "/");
    size_t host_len = strlen(host);
    if (key_len == host_len && strncasecmp(key, host, host_len) == 0)
        return true;
    return creds_is_docker_hub(key, key_len) && creds_is_docker_hub(host, host_len);
}

/* Finds the entry of host in an object keyed by registry: an exact key first,
 * then any key that names the host. */
static json_t *creds_find_entry(json_t *object, const char *host)
{
    const char *key;
    json_t *value;
    json_object_foreach(object, key, value)
    {
        if (strcasecmp(key, host) == 0)
            return value;
    }
    json_object_foreach(object, key, value)
    {
        if (creds_key_matches(key, host))
            return value;
    }
    return NULL;
}

/* True for a helper name safe to quote in a message. */
static bool creds_is_plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return false;
    return true;
}

/* The ENOTFOUND answer, naming the credential helper that may hold the
 * credentials when the config points to one. */
static int creds_not_found(json_t *root, const char *host, const char *path, const char *why,
                           ferry_err_t *err)
{
    json_t *helpers = json_object_get(root, "credHelpers");
    json_t *helper = json_is_object(helpers) ? creds_find_entry(helpers, host) : NULL;
    if (!json_is_string(helper))
        helper = json_object_get(root, "credsStore");
    const char *helper_name = json_string_value(helper);
    if (helper_name && creds_is_plain_name(helper_name))
        return ferry_err_set(err, FERRY_ENOTFOUND,
                             "%s for '%.255s' in Docker config '%.256s' (credential helper "
                             "'docker-credential-%s' is not supported)",
                             why, host, path, helper_name);
    return ferry_err_set(err, FERRY_ENOTFOUND, "%s for '%.255s' in Docker config '%.256s'", why,
                         host, path);
}

/* Reads credentials out of one "auths" entry. */
static int creds_from_entry(json_t *root, json_t *entry, const char *host, const char *path,
                            creds_t *out, ferry_err_t *err)
{
    unsigned char *decoded = NULL;
    size_t decoded_len = 0;
    int rc = 0;
    if (!json_is_object(entry))
        return ferry_err_set(err, FERRY_EINVAL,
                             "the entry for '%.255s' in Docker config '%.256s' is not an object",
                             host, path);
    json_t *auth = json_object_get(entry, "auth");
    json_t *username = json_object_get(entry, "username");
    json_t *password = json_object_get(entry, "password");
    if (auth && !json_is_string(auth))
        return ferry_err_set(err, FERRY_EINVAL,
                             "the \"auth\" of '%.255s' in Docker config '%.256s' is not a string",
                             host, path);
    if (json_string_length(auth) > 0) {
        if (!creds_base64_decode(json_string_value(auth), json_string_length(auth), &decoded,
                                 &decoded_len)) {
            rc = ferry_err_set(
                err, FERRY_EINVAL,
                "the \"auth\" of '%.255s' in Docker config '%.256s' is not valid base64", host,
                path);
            goto out;
        }
        char source[600];
        snprintf(source, sizeof source, "the \"auth\" of '%.255s' in Docker config '%.256s'", host,
                 path);
        rc = creds_split((const char *)decoded, decoded_len, out, source, err);
        goto out;
    }
    if (json_is_string(username) && json_string_length(username) > 0) {
        if (!json_is_string(password)) {
            rc = ferry_err_set(
                err, FERRY_EINVAL,
                "the entry for '%.255s' in Docker config '%.256s' has a username but no "
                "password",
                host, path);
            goto out;
        }
        char source[600];
        snprintf(source, sizeof source, "the entry for '%.255s' in Docker config '%.256s'", host,
                 path);
        rc = creds_set(out, json_string_value(username), json_string_length(username),
                       json_string_value(password), json_string_length(password), source, err);
        goto out;
    }
    if (json_is_string(json_object_get(entry, "identitytoken")))
        rc = creds_not_found(root, host, path, "only an identity token (not supported)", err);
    else
        rc = creds_not_found(root, host, path, "no user name and password", err);
out:
    if (decoded) {
        OPENSSL_cleanse(decoded, decoded_len);
        free(decoded);
    }
    return rc;
}

int creds_from_docker_config(const char *path, const char *host, creds_t *out, ferry_err_t *err)
{
    char *data = NULL;
    size_t len = 0;
    json_t *root = NULL;
    out->username = out->password = NULL;
    if (!path || !host || !*host)
        return ferry_err_set(err, FERRY_EINVAL, "Docker config lookup needs a path and a host");
    int rc = creds_read_file(path, &data, &len, err);
    if (rc)
        goto out;
    json_error_t jerr;
    root = json_loadb(data, len, 0, &jerr);
    if (!root) {
        /* jerr.text can quote the file's content: give the position only. */
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "Docker config '%.256s' is not valid JSON (line %d, column %d)", path,
                           jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "Docker config '%.256s' is not a JSON object", path);
        goto out;
    }
    json_t *auths = json_object_get(root, "auths");
    if (auths && !json_is_object(auths)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "Docker config '%.256s': \"auths\" is not an object",
                           path);
        goto out;
    }
    json_t *entry = auths ? creds_find_entry(auths, host) : NULL;
    if (!entry) {
        rc = creds_not_found(root, host, path, "no credentials", err);
        goto out;
    }
    rc = creds_from_entry(root, entry, host, path, out, err);
out:
    json_decref(root);
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    return rc;
}
