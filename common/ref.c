/* ref — parsing and validation of image references and registry locations. */
#include "common/ref.h"

#include "common/digest.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Longest input considered at all; anything valid is far shorter. */
#define REF_TEXT_MAX 1024
/* Characters of hostile input quoted in a message. */
#define REF_SHOW_MAX 80

/* Copies the first n bytes of s into buf (size REF_SHOW_MAX + 4) for a message:
 * non-printable bytes become '?', and "..." marks a cut. */
static const char *ref_show(const char *s, size_t n, char buf[REF_SHOW_MAX + 4])
{
    size_t i = 0;
    for (; i < n && i < REF_SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (i < n) {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static bool ref_is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool ref_is_alnum(char c)
{
    return ref_is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool ref_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Describes one offending character for a message: 'c' or \xNN. */
static const char *ref_char_name(char c, char buf[8])
{
    unsigned char u = (unsigned char)c;
    static const char hex[] = "0123456789abcdef";
    if (u >= 0x20 && u < 0x7f && u != '\'') {
        buf[0] = '\'';
        buf[1] = (char)u;
        buf[2] = '\'';
        buf[3] = '\0';
    } else {
        buf[0] = '\\';
        buf[1] = 'x';
        buf[2] = hex[u >> 4];
        buf[3] = hex[u & 15];
        buf[4] = '\0';
    }
    return buf;
}

/* Validates one path component (len > 0) against
 * [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*; `path` is only used in messages. */
static int ref_validate_component(const char *comp, size_t len, const char *path, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4], show_comp[REF_SHOW_MAX + 4], cname[8];
    if (len == 1 && comp[0] == '.')
        return ferry_err_set(err, FERRY_EINVAL, "repository '%s' has a '.' path component",
                             ref_show(path, strlen(path), show));
    if (len == 2 && comp[0] == '.' && comp[1] == '.')
        return ferry_err_set(err, FERRY_EINVAL,
                             "repository '%s' has a '..' path component (path traversal)",
                             ref_show(path, strlen(path), show));
    for (size_t i = 0; i < len; i++) {
        char c = comp[i];
        if (c >= 'A' && c <= 'Z')
            return ferry_err_set(err, FERRY_EINVAL, "repository names must be lower case: '%s'",
                                 ref_show(path, strlen(path), show));
        if (!ref_is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
            return ferry_err_set(err, FERRY_EINVAL, "invalid character %s in repository '%s'",
                                 ref_char_name(c, cname), ref_show(path, strlen(path), show));
    }
    size_t i = 0;
    while (i < len) {
        if (!ref_is_lower_alnum(comp[i]))
            return ferry_err_set(err, FERRY_EINVAL,
                                 "repository '%s': component '%s' must start and end with a "
                                 "letter or digit, with single separators between",
                                 ref_show(path, strlen(path), show),
                                 ref_show(comp, len, show_comp));
        while (i < len && ref_is_lower_alnum(comp[i]))
            i++;
        if (i == len)
            break;
        /* A separator: '.', '_', '__' or one or more '-', then alnum again. */
        size_t sep_start = i;
        if (comp[i] == '.') {
            i++;
        } else if (comp[i] == '_') {
            i++;
            if (i < len && comp[i] == '_')
                i++;
        } else {
            while (i < len && comp[i] == '-')
                i++;
        }
        if (i == len || !ref_is_lower_alnum(comp[i]) || i == sep_start)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "repository '%s': component '%s' must start and end with a "
                                 "letter or digit, with single separators between",
                                 ref_show(path, strlen(path), show),
                                 ref_show(comp, len, show_comp));
    }
    return 0;
}

int ref_validate_repository(const char *path, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4];
    if (!path || !*path)
        return ferry_err_set(err, FERRY_EINVAL, "empty repository name");
    size_t len = strnlen(path, REF_NAME_MAX + 1);
    if (len > REF_NAME_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "repository name '%s' is longer than %d characters",
                             ref_show(path, len, show), REF_NAME_MAX);
    if (path[0] == '/')
        return ferry_err_set(err, FERRY_EINVAL, "repository '%s' starts with '/'",
                             ref_show(path, len, show));
    if (path[len - 1] == '/')
        return ferry_err_set(err, FERRY_EINVAL, "repository '%s' ends with '/'",
                             ref_show(path, len, show));
    const char *comp = path;
    for (;;) {
        const char *slash = strchr(comp, '/');
        size_t comp_len = slash ? (size_t)(slash - comp) : strlen(comp);
        if (comp_len == 0)
            return ferry_err_set(err, FERRY_EINVAL, "repository '%s' has an empty path component",
                                 ref_show(path, len, show));
        int rc = ref_validate_component(comp, comp_len, path, err);
        if (rc)
            return rc;
        if (!slash)
            break;
        comp = slash + 1;
    }
    return 0;
}

int ref_validate_tag(const char *tag, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4], cname[8];
    if (!tag || !*tag)
        return ferry_err_set(err, FERRY_EINVAL, "empty tag");
    size_t len = strnlen(tag, REF_TAG_MAX + 1);
    if (len > REF_TAG_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "tag '%s' is longer than %d characters",
                             ref_show(tag, len, show), REF_TAG_MAX);
    if (tag[0] == '.' || tag[0] == '-')
        return ferry_err_set(err, FERRY_EINVAL, "tag '%s' must not start with '%c'",
                             ref_show(tag, len, show), tag[0]);
    for (size_t i = 0; i < len; i++) {
        char c = tag[i];
        if (!ref_is_alnum(c) && c != '_' && c != '.' && c != '-')
            return ferry_err_set(err, FERRY_EINVAL, "invalid character %s in tag '%s'",
                                 ref_char_name(c, cname), ref_show(tag, len, show));
    }
    return 0;
}

/* Validates a port: 1-5 digits, value 1-65535. */
static int ref_validate_port(const char *port, size_t len, const char *host, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4];
    long value = 0;
    bool ok = len >= 1 && len <= 5;
    for (size_t i = 0; ok && i < len; i++) {
        if (!ref_is_digit(port[i]))
            ok = false;
        else
            value = value * 10 + (port[i] - '0');
    }
    if (!ok || value < 1 || value > 65535)
        return ferry_err_set(err, FERRY_EINVAL,
                             "invalid port in registry host '%s': must be 1-65535",
                             ref_show(host, strlen(host), show));
    return 0;
}

/* Validates a domain name or dotted IPv4 address of len bytes. */
static int ref_validate_hostname(const char *name, size_t len, const char *host, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4], cname[8];
    if (len == 0)
        return ferry_err_set(err, FERRY_EINVAL, "registry host '%s' has an empty host name",
                             ref_show(host, strlen(host), show));
    if (len > 253)
        return ferry_err_set(err, FERRY_EINVAL,
                             "registry host name '%s' is longer than 253 characters",
                             ref_show(host, strlen(host), show));
    size_t label_start = 0;
    bool last_label_numeric = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            size_t label_len = i - label_start;
            if (label_len == 0)
                return ferry_err_set(err, FERRY_EINVAL, "registry host '%s' has an empty label",
                                     ref_show(host, strlen(host), show));
            if (label_len > 63)
                return ferry_err_set(err, FERRY_EINVAL,
                                     "registry host '%s' has a label longer than 63 characters",
                                     ref_show(host, strlen(host), show));
            if (name[label_start] == '-' || name[i - 1] == '-')
                return ferry_err_set(err, FERRY_EINVAL,
                                     "registry host '%s': a label must not start or end with '-'",
                                     ref_show(host, strlen(host), show));
            last_label_numeric = true;
            for (size_t j = label_start; j < i; j++)
                if (!ref_is_digit(name[j]))
                    last_label_numeric = false;
            label_start = i + 1;
            continue;
        }
        if (!ref_is_alnum(name[i]) && name[i] != '-')
            return ferry_err_set(err, FERRY_EINVAL, "invalid character %s in registry host '%s'",
                                 ref_char_name(name[i], cname), ref_show(host, strlen(host), show));
    }
    /* No top-level domain is numeric: such a name must be a dotted IPv4 address. */
    if (last_label_numeric) {
        char addr_text[16];
        unsigned char addr[4];
        if (len >= sizeof addr_text)
            return ferry_err_set(err, FERRY_EINVAL, "invalid IPv4 address in registry host '%s'",
                                 ref_show(host, strlen(host), show));
        memcpy(addr_text, name, len);
        addr_text[len] = '\0';
        if (inet_pton(AF_INET, addr_text, addr) != 1)
            return ferry_err_set(err, FERRY_EINVAL, "invalid IPv4 address in registry host '%s'",
                                 ref_show(host, strlen(host), show));
    }
    return 0;
}

int ref_validate_host(const char *host, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4];
    if (!host || !*host)
        return ferry_err_set(err, FERRY_EINVAL, "empty registry host");
    size_t len = strnlen(host, REF_NAME_MAX + 1);
    if (len > REF_NAME_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "registry host '%s' is longer than %d characters",
                             ref_show(host, len, show), REF_NAME_MAX);
    const char *port = NULL;
    if (host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (!close)
            return ferry_err_set(err, FERRY_EINVAL, "registry host '%s': '[' without ']'",
                                 ref_show(host, len, show));
        size_t addr_len = (size_t)(close - host - 1);
        char addr_text[64];
        unsigned char addr[16];
        if (addr_len == 0 || addr_len >= sizeof addr_text)
            return ferry_err_set(err, FERRY_EINVAL, "invalid IPv6 address in registry host '%s'",
                                 ref_show(host, len, show));
        memcpy(addr_text, host + 1, addr_len);
        addr_text[addr_len] = '\0';
        if (inet_pton(AF_INET6, addr_text, addr) != 1)
            return ferry_err_set(err, FERRY_EINVAL, "invalid IPv6 address in registry host '%s'",
                                 ref_show(host, len, show));
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return ferry_err_set(err, FERRY_EINVAL,
                                 "registry host '%s': expected ':port' or nothing after ']'",
                                 ref_show(host, len, show));
    } else {
        const char *colon = memchr(host, ':', len);
        size_t name_len = colon ? (size_t)(colon - host) : len;
        if (colon && strchr(colon + 1, ':'))
            return ferry_err_set(
                err, FERRY_EINVAL,
                "registry host '%s' has several ':' (IPv6 addresses need [brackets])",
                ref_show(host, len, show));
        int rc = ref_validate_hostname(host, name_len, host, err);
        if (rc)
            return rc;
        if (colon)
            port = colon + 1;
    }
    if (port)
        return ref_validate_port(port, strlen(port), host, err);
    return 0;
}

/* True when a first path component names a registry rather than a namespace. */
static bool ref_looks_like_host(const char *text, size_t len)
{
    if (len == 9 && memcmp(text, "localhost", 9) == 0)
        return true;
    if (len > 0 && text[0] == '[')
        return true;
    return memchr(text, '.', len) || memchr(text, ':', len);
}

static char *ref_strndup(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, s, n);
        copy[n] = '\0';
    }
    return copy;
}

/* Splits text at its first '/' and checks the host; shared by both parsers.
 * On success *host_len is set and the host is valid. */
static int ref_split_host(const char *text, size_t len, size_t *host_len, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4], show_again[REF_SHOW_MAX + 4];
    const char *slash = memchr(text, '/', len);
    size_t first_len = slash ? (size_t)(slash - text) : len;
    if (!ref_looks_like_host(text, first_len))
        return ferry_err_set(err, FERRY_EINVAL,
                             "'%s' has no registry host: write it in full, as in "
                             "registry.example.com/%s",
                             ref_show(text, len, show), ref_show(text, len, show_again));
    char *host = ref_strndup(text, first_len);
    if (!host)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    int rc = ref_validate_host(host, err);
    free(host);
    if (rc)
        return rc;
    *host_len = first_len;
    return 0;
}

/* Reads the overall bounds common to both parsers. */
static int ref_check_text(const char *text, size_t *len, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4];
    if (!text || !*text)
        return ferry_err_set(err, FERRY_EINVAL, "empty image reference");
    *len = strnlen(text, REF_TEXT_MAX + 1);
    if (*len > REF_TEXT_MAX)
        return ferry_err_set(err, FERRY_EINVAL, "image reference '%s' is longer than %d characters",
                             ref_show(text, *len, show), REF_TEXT_MAX);
    if (strstr(text, "://"))
        return ferry_err_set(err, FERRY_EINVAL,
                             "'%s' is a URL: write the reference without a scheme, as in "
                             "registry.example.com/ns/app",
                             ref_show(text, *len, show));
    return 0;
}

static int ref_check_name_length(const ref_t *ref, ferry_err_t *err)
{
    size_t total = strlen(ref->registry) + 1 + strlen(ref->repository);
    if (total > REF_NAME_MAX)
        return ferry_err_set(err, FERRY_EINVAL,
                             "registry host and repository together are %zu characters, "
                             "more than %d",
                             total, REF_NAME_MAX);
    return 0;
}

int ref_parse(ref_t **out, const char *text, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4], show_again[REF_SHOW_MAX + 4];
    ref_t *ref = NULL;
    size_t len = 0, host_len = 0;
    *out = NULL;
    int rc = ref_check_text(text, &len, err);
    if (rc)
        goto out;
    /* Without any '/', "name:tag" is far likelier than a bare "host:port". */
    if (!strchr(text, '/') && ref_validate_host(text, NULL) != 0) {
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "'%s' has no registry host: write it in full, as in "
                           "registry.example.com/%s",
                           ref_show(text, len, show), ref_show(text, len, show_again));
        goto out;
    }
    rc = ref_split_host(text, len, &host_len, err);
    if (rc)
        goto out;
    if (host_len == len || host_len + 1 == len) {
        rc = ferry_err_set(err, FERRY_EINVAL, "image reference '%s' has no repository path",
                           ref_show(text, len, show));
        goto out;
    }
    const char *path = text + host_len + 1;
    const char *at = strchr(path, '@');
    size_t name_len = at ? (size_t)(at - path) : strlen(path);
    const char *colon = memchr(path, ':', name_len);
    size_t path_len = colon ? (size_t)(colon - path) : name_len;

    ref = calloc(1, sizeof *ref);
    if (!ref)
        goto oom;
    ref->registry = ref_strndup(text, host_len);
    ref->repository = ref_strndup(path, path_len);
    if (!ref->registry || !ref->repository)
        goto oom;
    if (colon) {
        ref->tag = ref_strndup(colon + 1, name_len - path_len - 1);
        if (!ref->tag)
            goto oom;
    }
    if (at) {
        ref->digest = strdup(at + 1);
        if (!ref->digest)
            goto oom;
    }
    rc = ref_validate_repository(ref->repository, err);
    if (!rc)
        rc = ref_check_name_length(ref, err);
    if (!rc && ref->tag)
        rc = ref_validate_tag(ref->tag, err);
    if (!rc && ref->digest) {
        rc = digest_validate(ref->digest, err);
        if (rc)
            ferry_err_prefix(err, "image reference '%s'", ref_show(text, len, show));
    }
    if (rc)
        goto out;
    *out = ref;
    ref = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
out:
    ref_destroy(&ref);
    return rc;
}

int ref_parse_location(ref_t **out, const char *text, ferry_err_t *err)
{
    char show[REF_SHOW_MAX + 4];
    ref_t *ref = NULL;
    size_t len = 0, host_len = 0;
    *out = NULL;
    int rc = ref_check_text(text, &len, err);
    if (rc)
        goto out;
    rc = ref_split_host(text, len, &host_len, err);
    if (rc)
        goto out;
    const char *prefix = host_len < len ? text + host_len + 1 : text + len;
    size_t prefix_len = strlen(prefix);
    if (prefix_len > 1 && prefix[prefix_len - 1] == '/')
        prefix_len--;
    if (memchr(prefix, '@', prefix_len)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "registry location '%s' must not have a digest",
                           ref_show(text, len, show));
        goto out;
    }
    if (memchr(prefix, ':', prefix_len)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "registry location '%s' must not have a tag",
                           ref_show(text, len, show));
        goto out;
    }
    ref = calloc(1, sizeof *ref);
    if (!ref)
        goto oom;
    ref->registry = ref_strndup(text, host_len);
    ref->repository = ref_strndup(prefix, prefix_len);
    if (!ref->registry || !ref->repository)
        goto oom;
    if (prefix_len > 0)
        rc = ref_validate_repository(ref->repository, err);
    if (!rc)
        rc = ref_check_name_length(ref, err);
    if (rc)
        goto out;
    *out = ref;
    ref = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
out:
    ref_destroy(&ref);
    return rc;
}

void ref_destroy(ref_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ref_t *self = *self_p;
    free(self->registry);
    free(self->repository);
    free(self->tag);
    free(self->digest);
    free(self);
    *self_p = NULL;
}

ref_t *ref_dup(const ref_t *ref)
{
    if (!ref || !ref->registry || !ref->repository)
        return NULL;
    ref_t *copy = calloc(1, sizeof *copy);
    if (!copy)
        return NULL;
    copy->registry = strdup(ref->registry);
    copy->repository = strdup(ref->repository);
    copy->tag = ref->tag ? strdup(ref->tag) : NULL;
    copy->digest = ref->digest ? strdup(ref->digest) : NULL;
    if (!copy->registry || !copy->repository || (ref->tag && !copy->tag) ||
        (ref->digest && !copy->digest))
        ref_destroy(&copy);
    return copy;
}

char *ref_format(const ref_t *ref)
{
    if (!ref || !ref->registry || !ref->repository)
        return NULL;
    size_t reg_len = strlen(ref->registry), repo_len = strlen(ref->repository);
    size_t tag_len = ref->tag ? strlen(ref->tag) : 0;
    size_t digest_len = ref->digest ? strlen(ref->digest) : 0;
    char *text = malloc(reg_len + 1 + repo_len + 1 + tag_len + 1 + digest_len + 1);
    if (!text)
        return NULL;
    char *p = text;
    memcpy(p, ref->registry, reg_len);
    p += reg_len;
    if (repo_len) {
        *p++ = '/';
        memcpy(p, ref->repository, repo_len);
        p += repo_len;
    }
    if (ref->tag) {
        *p++ = ':';
        memcpy(p, ref->tag, tag_len);
        p += tag_len;
    }
    if (ref->digest) {
        *p++ = '@';
        memcpy(p, ref->digest, digest_len);
        p += digest_len;
    }
    *p = '\0';
    return text;
}
