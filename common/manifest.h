/* manifest — parses image manifests and indexes (OCI and Docker schema 2)
 * into what a copy needs: the blobs an image references, the manifests an
 * index lists, and the subject of an artifact. The bytes themselves are never
 * rewritten; ferry pushes exactly what it fetched. */
#ifndef FERRY_MANIFEST_H
#define FERRY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* Largest manifest body accepted, as the distribution spec suggests. */
#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)

/* Largest descriptor size accepted: 2^53 - 1, the range in which JSON
 * numbers are exact for every implementation (RFC 8259, section 6). */
#define MANIFEST_MAX_BLOB_SIZE INT64_C(9007199254740991)

enum manifest_kind {
    MANIFEST_OCI_IMAGE = 1, /* application/vnd.oci.image.manifest.v1+json */
    MANIFEST_OCI_INDEX,     /* application/vnd.oci.image.index.v1+json */
    MANIFEST_DOCKER_V2,     /* application/vnd.docker.distribution.manifest.v2+json */
    MANIFEST_DOCKER_LIST,   /* application/vnd.docker.distribution.manifest.list.v2+json */
};

/* Returned by manifest_kind_of for Docker schema 1 media types. */
#define MANIFEST_SCHEMA1 (-1)

/* A content descriptor: a blob of an image or a manifest of an index. */
typedef struct manifest_desc {
    char *media_type;    /* descriptor mediaType, never NULL, no control characters */
    char *digest;        /* validated with digest_validate, never NULL */
    int64_t size;        /* 0 .. MANIFEST_MAX_BLOB_SIZE */
    char *artifact_type; /* OCI descriptor artifactType, NULL when absent */
    char *os;            /* platform.os of an index entry, NULL when absent */
    char *arch;          /* platform.architecture of an index entry, NULL when absent */
    char *variant;       /* platform.variant of an index entry, NULL when absent */
    bool foreign;        /* a non-distributable layer (Docker foreign, OCI nondistributable)
                            with urls: it is fetched from those urls, not copied */
} manifest_desc_t;

/* A parsed manifest or index. Every pointer is owned by the manifest. */
typedef struct manifest {
    int kind;                  /* enum manifest_kind */
    const char *media_type;    /* canonical media type of the kind; static, not owned */
    char *artifact_type;       /* top-level artifactType (OCI), NULL when absent */
    char *config_media_type;   /* config descriptor's mediaType (images only), any string */
    manifest_desc_t *blobs;    /* images: config first, then layers in order; NULL for indexes */
    size_t n_blobs;            /* entries in blobs */
    manifest_desc_t *children; /* indexes: the manifests they list, in order; NULL for images */
    size_t n_children;         /* entries in children */
    manifest_desc_t *subject;  /* OCI subject descriptor, NULL when absent */
} manifest_t;

/* Parses a manifest body of len bytes (not necessarily NUL-terminated) that
 * was served with content_type (NULL, a generic type such as
 * application/json, or a manifest media type; parameters after ';' are
 * ignored). On success returns 0 and stores a new manifest in *out, which the
 * caller frees with manifest_destroy. On failure *out is NULL and the code is
 * FERRY_ETOOBIG (above MANIFEST_MAX_SIZE), FERRY_EINVAL (not JSON, a missing
 * or malformed field, the field path in the message, or a mediaType that
 * contradicts content_type), FERRY_EUNSUPPORTED (Docker schema 1, unknown
 * media types or schemaVersion, unregistered digest algorithms) or
 * FERRY_ENOMEM. */
int manifest_parse(manifest_t **out, const char *content_type, const void *body, size_t len,
                   ferry_err_t *err);

/* Frees a manifest and sets *self_p to NULL. Accepts NULL and *self_p NULL. */
void manifest_destroy(manifest_t **self_p);

/* True for OCI indexes and Docker manifest lists. False for NULL. */
bool manifest_is_index(const manifest_t *m);

/* The Accept header value listing every manifest type ferry handles, OCI
 * first. Static string. */
const char *manifest_accept(void);

/* Maps a media type (case-insensitive, parameters after ';' and surrounding
 * blanks ignored) to its enum manifest_kind; MANIFEST_SCHEMA1 (-1) for the
 * Docker schema 1 types, 0 for NULL or any other type. */
int manifest_kind_of(const char *media_type);

/* The canonical media type of a kind, NULL for an unknown kind. Static. */
const char *manifest_kind_media_type(int kind);

/* Bytes a copy of an image transfers: the sum of its blob sizes, foreign
 * layers excluded, saturating at INT64_MAX. 0 for indexes and NULL. */
int64_t manifest_blob_bytes(const manifest_t *m);

#endif
