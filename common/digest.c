/* digest — digest strings and streaming hashes on OpenSSL EVP. */
#include "common/digest.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

struct digest_ctx {
    EVP_MD_CTX *md_ctx; /* OpenSSL hashing state */
    const EVP_MD *md;   /* the algorithm */
    char algorithm[8];  /* "sha256" or "sha512" */
};

static size_t digest_hex_len(const char *algorithm, size_t alg_len)
{
    if (alg_len == 6 && memcmp(algorithm, "sha256", 6) == 0)
        return 64;
    if (alg_len == 6 && memcmp(algorithm, "sha512", 6) == 0)
        return 128;
    return 0;
}

/* The distribution grammar: algorithm-component ([+._-] algorithm-component)*
 * ":" encoded, with algorithm-component [a-z0-9]+ and encoded [a-zA-Z0-9=_-]+.
 * Registered algorithms further require lower-case hex of a fixed length. */
int digest_validate(const char *digest, ferry_err_t *err)
{
    if (!digest || !*digest)
        return ferry_err_set(err, FERRY_EINVAL, "empty digest");
    const char *colon = strchr(digest, ':');
    if (!colon || colon == digest || !colon[1])
        return ferry_err_set(err, FERRY_EINVAL, "invalid digest '%.80s': expected algorithm:hex",
                             digest);
    size_t alg_len = (size_t)(colon - digest);
    bool sep_ok = false;
    for (size_t i = 0; i < alg_len; i++) {
        char c = digest[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            sep_ok = true;
        } else if ((c == '+' || c == '.' || c == '_' || c == '-') && sep_ok && i + 1 < alg_len) {
            sep_ok = false;
        } else {
            return ferry_err_set(err, FERRY_EINVAL, "invalid digest algorithm in '%.80s'", digest);
        }
    }
    const char *hex = colon + 1;
    size_t hex_len = strlen(hex);
    for (size_t i = 0; i < hex_len; i++) {
        char c = hex[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '=' || c == '_' || c == '-';
        if (!ok)
            return ferry_err_set(err, FERRY_EINVAL, "invalid character in digest '%.80s'", digest);
    }
    size_t want = digest_hex_len(digest, alg_len);
    if (!want)
        return ferry_err_set(err, FERRY_EUNSUPPORTED, "unsupported digest algorithm '%.*s'",
                             (int)(alg_len > 32 ? 32 : alg_len), digest);
    if (hex_len != want)
        return ferry_err_set(err, FERRY_EINVAL, "invalid digest '%.80s': %.*s needs %zu hex digits",
                             digest, (int)alg_len, digest, want);
    for (size_t i = 0; i < hex_len; i++) {
        char c = hex[i];
        if (!((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9')))
            return ferry_err_set(err, FERRY_EINVAL,
                                 "invalid digest '%.80s': hex must be lower-case 0-9a-f", digest);
    }
    return 0;
}

digest_ctx_t *digest_ctx_new(const char *algorithm)
{
    const EVP_MD *md = NULL;
    if (strcmp(algorithm, "sha256") == 0)
        md = EVP_sha256();
    else if (strcmp(algorithm, "sha512") == 0)
        md = EVP_sha512();
    if (!md)
        return NULL;
    digest_ctx_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->md = md;
    memcpy(self->algorithm, algorithm, strlen(algorithm) + 1);
    self->md_ctx = EVP_MD_CTX_new();
    if (!self->md_ctx || EVP_DigestInit_ex(self->md_ctx, md, NULL) != 1) {
        digest_ctx_destroy(&self);
        return NULL;
    }
    return self;
}

void digest_ctx_destroy(digest_ctx_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    EVP_MD_CTX_free((*self_p)->md_ctx);
    free(*self_p);
    *self_p = NULL;
}

void digest_ctx_update(digest_ctx_t *self, const void *data, size_t len)
{
    if (len)
        EVP_DigestUpdate(self->md_ctx, data, len);
}

void digest_ctx_final(digest_ctx_t *self, char out[DIGEST_STR_MAX])
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(self->md_ctx, raw, &n);
    size_t alg_len = strlen(self->algorithm);
    memcpy(out, self->algorithm, alg_len);
    out[alg_len] = ':';
    digest_hex(raw, n, out + alg_len + 1);
}

int digest_ctx_copy(digest_ctx_t *dst, const digest_ctx_t *src)
{
    if (dst->md != src->md || EVP_MD_CTX_copy_ex(dst->md_ctx, src->md_ctx) != 1)
        return FERRY_ENOMEM;
    return 0;
}

void digest_ctx_reset(digest_ctx_t *self)
{
    EVP_DigestInit_ex(self->md_ctx, self->md, NULL);
}

void digest_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char hexdigits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hexdigits[bytes[i] >> 4];
        out[2 * i + 1] = hexdigits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

void digest_sha256(const void *data, size_t len, char out[DIGEST_STR_MAX])
{
    unsigned char raw[32];
    unsigned int n = 0;
    EVP_Digest(data, len, raw, &n, EVP_sha256(), NULL);
    memcpy(out, "sha256:", 7);
    digest_hex(raw, n, out + 7);
}

int digest_verify(const char *expected, const void *data, size_t len, ferry_err_t *err)
{
    int rc = digest_validate(expected, err);
    if (rc < 0)
        return rc;
    char algorithm[8];
    size_t alg_len = (size_t)(strchr(expected, ':') - expected);
    memcpy(algorithm, expected, alg_len);
    algorithm[alg_len] = '\0';
    digest_ctx_t *ctx = digest_ctx_new(algorithm);
    if (!ctx)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory hashing");
    digest_ctx_update(ctx, data, len);
    char actual[DIGEST_STR_MAX];
    digest_ctx_final(ctx, actual);
    digest_ctx_destroy(&ctx);
    if (strcmp(actual, expected) != 0)
        return ferry_err_set(err, FERRY_EDIGEST, "digest mismatch: expected %s, got %s", expected,
                             actual);
    return 0;
}
