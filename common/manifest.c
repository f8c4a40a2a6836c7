/* manifest — OCI and Docker schema 2 manifests and indexes parsed with jansson. */
#include "common/manifest.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/digest.h"

/* Longest string kept from a manifest (media types, platform fields). RFC
 * 6838 limits a media type to 127 + 1 + 127 characters. */
#define MANIFEST_MAX_TEXT 255

/* Longest field path in a message, "manifests[<20 digits>].platform.architecture"
 * with room to spare; paths are built only from our own key names. */
#define MANIFEST_PATH_MAX 64

#define MANIFEST_SCHEMA1_JSON "application/vnd.docker.distribution.manifest.v1+json"
#define MANIFEST_SCHEMA1_JWS  "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* What a descriptor describes, which decides the fields it may carry. */
enum manifest_role {
    MANIFEST_ROLE_CONFIG, /* an image's config, or a subject */
    MANIFEST_ROLE_LAYER,  /* an image layer: may be foreign */
    MANIFEST_ROLE_CHILD,  /* an index entry: may have a platform */
};

static const struct {
    const char *media_type; /* canonical spelling */
    int kind;               /* enum manifest_kind or MANIFEST_SCHEMA1 */
} manifest_types[] = {
    {"application/vnd.oci.image.manifest.v1+json", MANIFEST_OCI_IMAGE},
    {"application/vnd.oci.image.index.v1+json", MANIFEST_OCI_INDEX},
    {"application/vnd.docker.distribution.manifest.v2+json", MANIFEST_DOCKER_V2},
    {"application/vnd.docker.distribution.manifest.list.v2+json", MANIFEST_DOCKER_LIST},
    {MANIFEST_SCHEMA1_JSON, MANIFEST_SCHEMA1},
    {MANIFEST_SCHEMA1_JWS, MANIFEST_SCHEMA1},
};

/* Layer types whose blobs registries may refuse to serve; with urls, the
 * client fetches them from there, so a copy leaves them behind. */
static const char *const manifest_foreign_types[] = {
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
};

#define MANIFEST_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool manifest_ascii_casecmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[i];
        if (ca >= 'A' && ca <= 'Z')
            ca = (unsigned char)(ca - 'A' + 'a');
        if (cb >= 'A' && cb <= 'Z')
            cb = (unsigned char)(cb - 'A' + 'a');
        if (ca != cb)
            return false;
    }
    return true;
}

int manifest_kind_of(const char *media_type)
{
    if (!media_type)
        return 0;
    const char *start = media_type;
    while (*start == ' ' || *start == '\t')
        start++;
    const char *end = strchr(start, ';');
    if (!end)
        end = start + strlen(start);
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t n = (size_t)(end - start);
    for (size_t i = 0; i < MANIFEST_COUNT(manifest_types); i++) {
        const char *known = manifest_types[i].media_type;
        if (strlen(known) == n && manifest_ascii_casecmp(start, known, n))
            return manifest_types[i].kind;
    }
    return 0;
}

/* The kind of a body's mediaType, which must be spelled exactly: registries
 * compare it byte for byte. */
static int manifest_kind_exact(const char *media_type)
{
    for (size_t i = 0; i < MANIFEST_COUNT(manifest_types); i++)
        if (strcmp(media_type, manifest_types[i].media_type) == 0)
            return manifest_types[i].kind;
    return 0;
}

const char *manifest_kind_media_type(int kind)
{
    if (kind <= 0)
        return NULL;
    for (size_t i = 0; i < MANIFEST_COUNT(manifest_types); i++)
        if (manifest_types[i].kind == kind)
            return manifest_types[i].media_type;
    return NULL;
}

const char *manifest_accept(void)
{
    return "application/vnd.oci.image.manifest.v1+json, "
           "application/vnd.oci.image.index.v1+json, "
           "application/vnd.docker.distribution.manifest.v2+json, "
           "application/vnd.docker.distribution.manifest.list.v2+json";
}

bool manifest_is_index(const manifest_t *m)
{
    return m && (m->kind == MANIFEST_OCI_INDEX || m->kind == MANIFEST_DOCKER_LIST);
}

int64_t manifest_blob_bytes(const manifest_t *m)
{
    if (!m)
        return 0;
    int64_t total = 0;
    for (size_t i = 0; i < m->n_blobs; i++) {
        if (m->blobs[i].foreign)
            continue;
        if (m->blobs[i].size > INT64_MAX - total)
            return INT64_MAX;
        total += m->blobs[i].size;
    }
    return total;
}

static void manifest_desc_free(manifest_desc_t *d)
{
    free(d->media_type);
    free(d->digest);
    free(d->artifact_type);
    free(d->os);
    free(d->arch);
    free(d->variant);
    memset(d, 0, sizeof *d);
}

void manifest_destroy(manifest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    manifest_t *self = *self_p;
    free(self->artifact_type);
    free(self->config_media_type);
    for (size_t i = 0; i < self->n_blobs; i++)
        manifest_desc_free(&self->blobs[i]);
    free(self->blobs);
    for (size_t i = 0; i < self->n_children; i++)
        manifest_desc_free(&self->children[i]);
    free(self->children);
    if (self->subject)
        manifest_desc_free(self->subject);
    free(self->subject);
    free(self);
    *self_p = NULL;
}

static const char *manifest_json_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

/* obj[key], or NULL when absent or null: the Go decoders most registries use
 * treat null as absent, so ferry does too. */
static json_t *manifest_field(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* Copies the string obj[key] into *out (NULL when absent and optional).
 * Messages name the field as "<path>.<key>", or "<key>" when path is empty.
 * Strings are bounded and free of control characters, since they end up in
 * reports and logs. */
static int manifest_get_string(const json_t *obj, const char *path, const char *key, bool required,
                               char **out, ferry_err_t *err)
{
    const char *dot = *path ? "." : "";
    json_t *v = manifest_field(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return ferry_err_set(err, FERRY_EINVAL, "%s%s%s: missing", path, dot, key);
        return 0;
    }
    if (!json_is_string(v))
        return ferry_err_set(err, FERRY_EINVAL, "%s%s%s: must be a string, got %s", path, dot, key,
                             manifest_json_type(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (required && n == 0)
        return ferry_err_set(err, FERRY_EINVAL, "%s%s%s: empty", path, dot, key);
    if (n > MANIFEST_MAX_TEXT)
        return ferry_err_set(err, FERRY_EINVAL, "%s%s%s: longer than %d bytes", path, dot, key,
                             MANIFEST_MAX_TEXT);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return ferry_err_set(err, FERRY_EINVAL, "%s%s%s: control character at byte %zu", path,
                                 dot, key, i);
    }
    *out = strdup(s);
    if (!*out)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory copying %s%s%s", path, dot, key);
    return 0;
}

static int manifest_get_size(const json_t *obj, const char *path, int64_t *out, ferry_err_t *err)
{
    json_t *v = manifest_field(obj, "size");
    if (!v)
        return ferry_err_set(err, FERRY_EINVAL, "%s.size: missing", path);
    if (!json_is_integer(v))
        return ferry_err_set(err, FERRY_EINVAL, "%s.size: must be an integer, got %s", path,
                             manifest_json_type(v));
    json_int_t n = json_integer_value(v);
    if (n < 0)
        return ferry_err_set(err, FERRY_EINVAL, "%s.size: negative (%lld)", path, (long long)n);
    if (n > MANIFEST_MAX_BLOB_SIZE)
        return ferry_err_set(err, FERRY_EINVAL, "%s.size: %lld is above 2^53-1", path,
                             (long long)n);
    *out = (int64_t)n;
    return 0;
}

static bool manifest_is_foreign_type(const char *media_type)
{
    for (size_t i = 0; i < MANIFEST_COUNT(manifest_foreign_types); i++)
        if (strcmp(media_type, manifest_foreign_types[i]) == 0)
            return true;
    return false;
}

/* Validates a layer's optional urls (an array of strings) and marks the layer
 * foreign when its type is non-distributable and it lists at least one url. */
static int manifest_parse_urls(const json_t *obj, const char *path, manifest_desc_t *d,
                               ferry_err_t *err)
{
    json_t *urls = manifest_field(obj, "urls");
    if (!urls)
        return 0;
    if (!json_is_array(urls))
        return ferry_err_set(err, FERRY_EINVAL, "%s.urls: must be an array, got %s", path,
                             manifest_json_type(urls));
    size_t i;
    json_t *url;
    json_array_foreach(urls, i, url)
    {
        if (!json_is_string(url))
            return ferry_err_set(err, FERRY_EINVAL, "%s.urls[%zu]: must be a string, got %s", path,
                                 i, manifest_json_type(url));
    }
    d->foreign = json_array_size(urls) > 0 && manifest_is_foreign_type(d->media_type);
    return 0;
}

static int manifest_parse_platform(const json_t *obj, const char *path, manifest_desc_t *d,
                                   ferry_err_t *err)
{
    json_t *platform = manifest_field(obj, "platform");
    if (!platform)
        return 0;
    char platform_path[MANIFEST_PATH_MAX];
    snprintf(platform_path, sizeof platform_path, "%s.platform", path);
    if (!json_is_object(platform))
        return ferry_err_set(err, FERRY_EINVAL, "%s: must be an object, got %s", platform_path,
                             manifest_json_type(platform));
    int rc = manifest_get_string(platform, platform_path, "os", false, &d->os, err);
    if (rc == 0)
        rc = manifest_get_string(platform, platform_path, "architecture", false, &d->arch, err);
    if (rc == 0)
        rc = manifest_get_string(platform, platform_path, "variant", false, &d->variant, err);
    return rc;
}

/* Fills *d from the descriptor v found at path. On failure *d may hold
 * partial allocations; the caller frees them with manifest_desc_free. */
static int manifest_parse_desc(const json_t *v, const char *path, enum manifest_role role,
                               manifest_desc_t *d, ferry_err_t *err)
{
    if (!json_is_object(v))
        return ferry_err_set(err, FERRY_EINVAL, "%s: must be an object, got %s", path,
                             manifest_json_type(v));
    int rc = manifest_get_string(v, path, "mediaType", true, &d->media_type, err);
    if (rc)
        return rc;
    rc = manifest_get_string(v, path, "digest", true, &d->digest, err);
    if (rc)
        return rc;
    ferry_err_t digest_err;
    ferry_err_clear(&digest_err);
    rc = digest_validate(d->digest, &digest_err);
    if (rc)
        return ferry_err_set(err, rc, "%s.digest: %s", path, digest_err.message);
    rc = manifest_get_size(v, path, &d->size, err);
    if (rc)
        return rc;
    rc = manifest_get_string(v, path, "artifactType", false, &d->artifact_type, err);
    if (rc)
        return rc;
    if (role == MANIFEST_ROLE_LAYER)
        return manifest_parse_urls(v, path, d, err);
    if (role == MANIFEST_ROLE_CHILD)
        return manifest_parse_platform(v, path, d, err);
    return 0;
}

/* Parses the descriptor array root[key] into dst[0..], which has room for
 * all of it. Absent is an error only when required. */
static int manifest_parse_list(const json_t *root, const char *key, bool required,
                               enum manifest_role role, manifest_desc_t *dst, size_t *n_done,
                               ferry_err_t *err)
{
    json_t *arr = manifest_field(root, key);
    if (!arr)
        return required ? ferry_err_set(err, FERRY_EINVAL, "%s: missing", key) : 0;
    if (!json_is_array(arr))
        return ferry_err_set(err, FERRY_EINVAL, "%s: must be an array, got %s", key,
                             manifest_json_type(arr));
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        char path[MANIFEST_PATH_MAX];
        snprintf(path, sizeof path, "%s[%zu]", key, i);
        (*n_done)++;
        int rc = manifest_parse_desc(item, path, role, &dst[i], err);
        if (rc)
            return rc;
    }
    return 0;
}

/* Number of entries of root[key] when it is an array, else 0. */
static size_t manifest_array_len(const json_t *root, const char *key)
{
    json_t *arr = json_object_get(root, key);
    return json_is_array(arr) ? json_array_size(arr) : 0;
}

static int manifest_parse_image(manifest_t *m, const json_t *root, ferry_err_t *err)
{
    if (json_object_get(root, "manifests"))
        return ferry_err_set(err, FERRY_EINVAL,
                             "an image manifest must not have 'manifests' (ambiguous document)");
    json_t *config = manifest_field(root, "config");
    if (!config)
        return ferry_err_set(err, FERRY_EINVAL, "config: missing");
    /* OCI artifacts may leave layers out; Docker schema 2 always lists them. */
    bool layers_required = m->kind == MANIFEST_DOCKER_V2;
    size_t n_layers = manifest_array_len(root, "layers");
    m->blobs = calloc(n_layers + 1, sizeof *m->blobs);
    if (!m->blobs)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory for %zu layers", n_layers);
    m->n_blobs = 1;
    int rc = manifest_parse_desc(config, "config", MANIFEST_ROLE_CONFIG, &m->blobs[0], err);
    if (rc)
        return rc;
    m->config_media_type = strdup(m->blobs[0].media_type);
    if (!m->config_media_type)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return manifest_parse_list(root, "layers", layers_required, MANIFEST_ROLE_LAYER, m->blobs + 1,
                               &m->n_blobs, err);
}

static int manifest_parse_index(manifest_t *m, const json_t *root, ferry_err_t *err)
{
    if (json_object_get(root, "config") || json_object_get(root, "layers"))
        return ferry_err_set(err, FERRY_EINVAL,
                             "an index must not have 'config' or 'layers' (ambiguous document)");
    size_t n = manifest_array_len(root, "manifests");
    if (n) {
        m->children = calloc(n, sizeof *m->children);
        if (!m->children)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory for %zu manifests", n);
    }
    return manifest_parse_list(root, "manifests", true, MANIFEST_ROLE_CHILD, m->children,
                               &m->n_children, err);
}

/* OCI 1.1 fields: artifactType and subject, on images and indexes alike. */
static int manifest_parse_oci_extras(manifest_t *m, const json_t *root, ferry_err_t *err)
{
    int rc = manifest_get_string(root, "", "artifactType", false, &m->artifact_type, err);
    if (rc)
        return rc;
    json_t *subject = manifest_field(root, "subject");
    if (!subject)
        return 0;
    m->subject = calloc(1, sizeof *m->subject);
    if (!m->subject)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return manifest_parse_desc(subject, "subject", MANIFEST_ROLE_CONFIG, m->subject, err);
}

static int manifest_schema1_error(ferry_err_t *err, const char *why)
{
    return ferry_err_set(err, FERRY_EUNSUPPORTED,
                         "Docker schema 1 manifest (%s) is not supported "
                         "(push the image again with a current client)",
                         why);
}

/* Checks schemaVersion, which every supported kind sets to 2. */
static int manifest_check_schema(const json_t *root, ferry_err_t *err)
{
    json_t *v = manifest_field(root, "schemaVersion");
    if (!v)
        return ferry_err_set(err, FERRY_EINVAL, "schemaVersion: missing");
    if (!json_is_integer(v))
        return ferry_err_set(err, FERRY_EINVAL, "schemaVersion: must be an integer, got %s",
                             manifest_json_type(v));
    json_int_t version = json_integer_value(v);
    if (version == 1)
        return manifest_schema1_error(err, "schemaVersion 1");
    if (version != 2)
        return ferry_err_set(err, FERRY_EUNSUPPORTED, "schemaVersion %lld is not supported",
                             (long long)version);
    return 0;
}

/* Decides the kind: the body's mediaType first, then a manifest content
 * type, then the document's shape. */
static int manifest_resolve_kind(const json_t *root, const char *content_type, int ct_kind,
                                 int *kind, ferry_err_t *err)
{
    json_t *v = manifest_field(root, "mediaType");
    if (v) {
        if (!json_is_string(v))
            return ferry_err_set(err, FERRY_EINVAL, "mediaType: must be a string, got %s",
                                 manifest_json_type(v));
        const char *media_type = json_string_value(v);
        int body_kind = manifest_kind_exact(media_type);
        if (body_kind == MANIFEST_SCHEMA1)
            return manifest_schema1_error(err, media_type);
        if (body_kind == 0)
            return ferry_err_set(err, FERRY_EUNSUPPORTED, "unknown manifest mediaType '%.200s'",
                                 media_type);
        if (ct_kind > 0 && ct_kind != body_kind)
            return ferry_err_set(err, FERRY_EINVAL,
                                 "mediaType '%s' contradicts Content-Type '%.150s'", media_type,
                                 content_type);
        *kind = body_kind;
        return 0;
    }
    if (ct_kind > 0) {
        *kind = ct_kind;
        return 0;
    }
    if (json_is_array(json_object_get(root, "manifests"))) {
        *kind = MANIFEST_OCI_INDEX;
        return 0;
    }
    if (json_object_get(root, "config") && json_object_get(root, "layers")) {
        *kind = MANIFEST_OCI_IMAGE;
        return 0;
    }
    return ferry_err_set(err, FERRY_EINVAL,
                         "cannot tell the manifest type: no mediaType, Content-Type '%.150s', "
                         "neither 'manifests' nor 'config' and 'layers'",
                         content_type ? content_type : "(none)");
}

int manifest_parse(manifest_t **out, const char *content_type, const void *body, size_t len,
                   ferry_err_t *err)
{
    int rc = 0;
    json_t *root = NULL;
    manifest_t *m = NULL;
    if (!out)
        return ferry_err_set(err, FERRY_EINVAL, "manifest_parse: no place for the result");
    *out = NULL;
    if (len > MANIFEST_MAX_SIZE) {
        rc = ferry_err_set(err, FERRY_ETOOBIG, "manifest of %zu bytes exceeds the %d byte limit",
                           len, MANIFEST_MAX_SIZE);
        goto out;
    }
    if (len == 0 || !body) {
        rc = ferry_err_set(err, FERRY_EINVAL, "empty manifest");
        goto out;
    }
    int ct_kind = manifest_kind_of(content_type);
    if (ct_kind == MANIFEST_SCHEMA1) {
        rc = manifest_schema1_error(err, "Content-Type");
        goto out;
    }
    /* No JSON_ALLOW_NUL: a \u0000 inside a string is refused, so every
     * string is a proper C string. */
    json_error_t jerr;
    root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_out_of_memory)
            rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory parsing manifest");
        else
            rc = ferry_err_set(err, FERRY_EINVAL,
                               "manifest is not valid JSON: %s (line %d, column %d)", jerr.text,
                               jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "manifest must be a JSON object, got %s",
                           manifest_json_type(root));
        goto out;
    }
    rc = manifest_check_schema(root, err);
    if (rc)
        goto out;
    int kind = 0;
    rc = manifest_resolve_kind(root, content_type, ct_kind, &kind, err);
    if (rc)
        goto out;

    m = calloc(1, sizeof *m);
    if (!m) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    m->kind = kind;
    m->media_type = manifest_kind_media_type(kind);
    if (manifest_is_index(m))
        rc = manifest_parse_index(m, root, err);
    else
        rc = manifest_parse_image(m, root, err);
    if (rc)
        goto out;
    if (kind == MANIFEST_OCI_IMAGE || kind == MANIFEST_OCI_INDEX) {
        rc = manifest_parse_oci_extras(m, root, err);
        if (rc)
            goto out;
    }
    *out = m;
    m = NULL;
out:
    manifest_destroy(&m);
    json_decref(root);
    return rc;
}
