/* fuzz_manifest — libFuzzer target for manifest_parse: the first input byte
 * picks the Content-Type the body is served with, the rest is the body. A
 * parsed manifest must keep the promises of manifest.h. */
#include "common/digest.h"
#include "common/manifest.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_content_types[] = {
    NULL,
    "application/json",
    "text/plain; charset=utf-8",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
};

static void fuzz_check_desc(const manifest_desc_t *d)
{
    if (!d->media_type || !*d->media_type || !d->digest)
        abort();
    if (digest_validate(d->digest, NULL) != 0)
        abort();
    if (d->size < 0 || d->size > MANIFEST_MAX_BLOB_SIZE)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t n_types = sizeof fuzz_content_types / sizeof fuzz_content_types[0];
    const char *content_type = fuzz_content_types[data[0] % n_types];
    manifest_t *m = NULL;
    ferry_err_t err;
    ferry_err_clear(&err);
    int rc = manifest_parse(&m, content_type, data + 1, size - 1, &err);
    if (rc != 0) {
        if (m || rc != err.code || !err.message[0])
            abort();
        return 0;
    }
    if (!m || !m->media_type || manifest_kind_of(m->media_type) != m->kind)
        abort();
    if (manifest_is_index(m) ? m->n_blobs != 0 : m->n_blobs < 1 || m->n_children != 0)
        abort();
    for (size_t i = 0; i < m->n_blobs; i++)
        fuzz_check_desc(&m->blobs[i]);
    for (size_t i = 0; i < m->n_children; i++)
        fuzz_check_desc(&m->children[i]);
    if (m->subject)
        fuzz_check_desc(m->subject);
    if (manifest_blob_bytes(m) < 0)
        abort();
    manifest_destroy(&m);
    return 0;
}
