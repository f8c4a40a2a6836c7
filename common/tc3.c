/* tc3 — TC3-HMAC-SHA256 signing (Tencent Cloud API v3) on OpenSSL's HMAC and
 * SHA-256. Layout of every string follows the reference document exactly. */
#include "common/tc3.h"
#include "common/buf.h"
#include "common/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds of what is signed: header values are short; the cap only stops a
 * runaway caller from building an unbounded canonical request. */
#define TC3_HEADER_MAX 1024
#define TC3_TEXT_MAX   (16 * 1024)

/* Smallest and largest timestamps with a four-digit year. */
#define TC3_TS_MIN INT64_C(0)
#define TC3_TS_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* True when s is set, not longer than TC3_HEADER_MAX and free of control
 * characters, so it can travel in an HTTP header. */
static int tc3_header_ok(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = strnlen(s, TC3_HEADER_MAX + 1);
    if (n > TC3_HEADER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return 0;
    }
    return 1;
}

int tc3_date(int64_t timestamp, char out[11])
{
    if (timestamp < TC3_TS_MIN || timestamp > TC3_TS_MAX)
        return FERRY_EINVAL;
    /* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
    int64_t z = timestamp / 86400 + 719468;
    int64_t era = z / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1;
    int64_t month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    snprintf(out, 11, "%04d-%02d-%02d", (int)year, (int)month, (int)day);
    return 0;
}

/* Appends lower(trim(value)) to b. */
static int tc3_put_lower_trimmed(fbuf_t *b, const char *value)
{
    const char *start = value;
    const char *end = value + strlen(value);
    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = start; p < end; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        int rc = fbuf_append(b, &c, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int tc3_validate(const tc3_request_t *req)
{
    if (!req || !tc3_header_ok(req->secret_id) || !req->secret_key || !*req->secret_key ||
        !tc3_header_ok(req->service) || !tc3_header_ok(req->host) ||
        !tc3_header_ok(req->content_type) || (req->action && !tc3_header_ok(req->action)) ||
        (!req->body && req->body_len) || req->timestamp < TC3_TS_MIN || req->timestamp > TC3_TS_MAX)
        return FERRY_EINVAL;
    /* The service goes into the credential scope, separated by '/'. */
    if (strchr(req->service, '/'))
        return FERRY_EINVAL;
    return 0;
}

static const char *tc3_signed_headers(const tc3_request_t *req)
{
    return req->action ? "content-type;host;x-tc-action" : "content-type;host";
}

/* Fills out_hex with the hashed canonical request; req is already validated. */
static int tc3_hash_canonical(const tc3_request_t *req, char out_hex[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char body_hex[65];
    fbuf_t canon;
    int rc;

    fbuf_init(&canon, TC3_TEXT_MAX);
    SHA256((const unsigned char *)(req->body ? req->body : ""), req->body_len, md);
    digest_hex(md, sizeof md, body_hex);

    /* Headers sorted by name: content-type < host < x-tc-action. */
    if ((rc = fbuf_puts(&canon, "POST\n/\n\ncontent-type:")) < 0 ||
        (rc = tc3_put_lower_trimmed(&canon, req->content_type)) < 0 ||
        (rc = fbuf_puts(&canon, "\nhost:")) < 0 ||
        (rc = tc3_put_lower_trimmed(&canon, req->host)) < 0 || (rc = fbuf_puts(&canon, "\n")) < 0)
        goto out;
    if (req->action) {
        if ((rc = fbuf_puts(&canon, "x-tc-action:")) < 0 ||
            (rc = tc3_put_lower_trimmed(&canon, req->action)) < 0 ||
            (rc = fbuf_puts(&canon, "\n")) < 0)
            goto out;
    }
    if ((rc = fbuf_printf(&canon, "\n%s\n%s", tc3_signed_headers(req), body_hex)) < 0)
        goto out;
    SHA256((const unsigned char *)canon.data, canon.len, md);
    digest_hex(md, sizeof md, out_hex);
    rc = 0;
out:
    fbuf_free(&canon);
    return rc == FERRY_ETOOBIG ? FERRY_EINVAL : rc;
}

int tc3_canonical_request_hash(const tc3_request_t *req, char out_hex[65])
{
    int rc = tc3_validate(req);
    if (rc < 0)
        return rc;
    return tc3_hash_canonical(req, out_hex);
}

/* HMAC-SHA256 of data under key into out (32 bytes). */
static int tc3_hmac(const void *key, size_t key_len, const void *data, size_t data_len,
                    unsigned char out[SHA256_DIGEST_LENGTH])
{
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, data_len, out, &out_len) ||
        out_len != SHA256_DIGEST_LENGTH)
        return FERRY_ENOMEM;
    return 0;
}

int tc3_sign(const tc3_request_t *req, char **authorization_out, ferry_err_t *err)
{
    char date[11];
    char canon_hex[65];
    char signature_hex[65];
    unsigned char k_date[SHA256_DIGEST_LENGTH], k_service[SHA256_DIGEST_LENGTH];
    unsigned char k_signing[SHA256_DIGEST_LENGTH], signature[SHA256_DIGEST_LENGTH];
    fbuf_t key, to_sign, auth;
    int rc;

    *authorization_out = NULL;
    fbuf_init(&key, TC3_HEADER_MAX + 8);
    fbuf_init(&to_sign, TC3_TEXT_MAX);
    fbuf_init(&auth, TC3_TEXT_MAX);

    if (tc3_validate(req) < 0) {
        rc = ferry_err_set(err, FERRY_EINVAL,
                           "TC3 signing: missing or malformed field (SecretId, SecretKey, "
                           "service, host, content type, action or timestamp)");
        goto out;
    }
    tc3_date(req->timestamp, date);
    if ((rc = tc3_hash_canonical(req, canon_hex)) < 0) {
        ferry_err_set(err, rc, "TC3 signing: cannot build the canonical request");
        goto out;
    }
    if ((rc = fbuf_printf(&to_sign, "TC3-HMAC-SHA256\n%lld\n%s/%s/tc3_request\n%s",
                          (long long)req->timestamp, date, req->service, canon_hex)) < 0 ||
        (rc = fbuf_printf(&key, "TC3%s", req->secret_key)) < 0) {
        rc = ferry_err_set(err, rc == FERRY_ETOOBIG ? FERRY_EINVAL : rc,
                           "TC3 signing: the service name or SecretKey is too long");
        goto out;
    }
    if ((rc = tc3_hmac(key.data, key.len, date, strlen(date), k_date)) < 0 ||
        (rc = tc3_hmac(k_date, sizeof k_date, req->service, strlen(req->service), k_service)) < 0 ||
        (rc = tc3_hmac(k_service, sizeof k_service, "tc3_request", 11, k_signing)) < 0 ||
        (rc = tc3_hmac(k_signing, sizeof k_signing, to_sign.data, to_sign.len, signature)) < 0) {
        ferry_err_set(err, rc, "TC3 signing: HMAC-SHA256 failed");
        goto out;
    }
    digest_hex(signature, sizeof signature, signature_hex);
    if ((rc = fbuf_printf(&auth,
                          "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=%s, "
                          "Signature=%s",
                          req->secret_id, date, req->service, tc3_signed_headers(req),
                          signature_hex)) < 0) {
        rc = ferry_err_set(err, rc == FERRY_ETOOBIG ? FERRY_EINVAL : rc,
                           "TC3 signing: cannot build the Authorization header");
        goto out;
    }
    *authorization_out = fbuf_steal(&auth);
    rc = *authorization_out ? 0 : ferry_err_set(err, FERRY_ENOMEM, "TC3 signing: out of memory");
out:
    /* The key buffer holds the SecretKey: wipe it before freeing. */
    if (key.data)
        OPENSSL_cleanse(key.data, key.cap);
    OPENSSL_cleanse(k_date, sizeof k_date);
    OPENSSL_cleanse(k_service, sizeof k_service);
    OPENSSL_cleanse(k_signing, sizeof k_signing);
    fbuf_free(&key);
    fbuf_free(&to_sign);
    fbuf_free(&auth);
    return rc;
}
