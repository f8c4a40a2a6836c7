/* Unit tests of common/err, common/buf and common/digest. */
#include "common/buf.h"
#include "common/digest.h"
#include "common/err.h"
#include "testlib.h"

#include <stdlib.h>

static void test_buf_cap(void)
{
    fbuf_t b;
    fbuf_init(&b, 8);
    CHECK_INT(fbuf_puts(&b, "abcd"), 0);
    CHECK_INT(fbuf_printf(&b, "%d", 1234), 0);
    CHECK_STR(b.data, "abcd1234");
    CHECK_INT(fbuf_append(&b, "x", 1), FERRY_ETOOBIG);
    CHECK_INT(b.len, 8);
    CHECK_STR(b.data, "abcd1234");
    char *s = fbuf_steal(&b);
    CHECK_STR(s, "abcd1234");
    CHECK(b.data == NULL);
    free(s);
    s = fbuf_steal(&b);
    CHECK_STR(s, "");
    free(s);
    fbuf_free(&b);
}

static void test_err(void)
{
    ferry_err_t err;
    ferry_err_clear(&err);
    CHECK_INT(ferry_err_set(&err, FERRY_ENOTFOUND, "blob %s", "x"), FERRY_ENOTFOUND);
    ferry_err_prefix(&err, "copy %d", 3);
    CHECK_STR(err.message, "copy 3: blob x");
    CHECK_INT(ferry_err_set(NULL, FERRY_EINVAL, "ignored"), FERRY_EINVAL);
    CHECK(ferry_code_retryable(FERRY_ERETRY));
    CHECK(!ferry_code_retryable(FERRY_EDIGEST));
    CHECK_STR(ferry_code_name(FERRY_EDIGEST), "digest-mismatch");
}

static void test_digest(void)
{
    ferry_err_t err;
    const char *empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    CHECK_INT(digest_validate(empty, &err), 0);
    char out[DIGEST_STR_MAX];
    digest_sha256("", 0, out);
    CHECK_STR(out, empty);
    CHECK_INT(digest_verify(empty, "", 0, &err), 0);
    CHECK_INT(digest_verify(empty, "x", 1, &err), FERRY_EDIGEST);
    CHECK_CONTAINS(err.message, "digest mismatch");

    CHECK_INT(digest_validate("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &err),
              FERRY_EINVAL);
    CHECK_INT(digest_validate("sha256:abc", &err), FERRY_EINVAL);
    CHECK_INT(digest_validate("sha256", &err), FERRY_EINVAL);
    CHECK_INT(digest_validate(":abc", &err), FERRY_EINVAL);
    CHECK_INT(digest_validate("", &err), FERRY_EINVAL);
    CHECK_INT(digest_validate("sha256:../../etc/passwd", &err), FERRY_EINVAL);
    CHECK_INT(digest_validate("md5:d41d8cd98f00b204e9800998ecf8427e", &err), FERRY_EUNSUPPORTED);
    CHECK_INT(digest_validate("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", &err),
              FERRY_EUNSUPPORTED);

    digest_ctx_t *ctx = digest_ctx_new("sha256");
    CHECK(ctx != NULL);
    digest_ctx_update(ctx, "ab", 2);
    digest_ctx_update(ctx, "c", 1);
    digest_ctx_final(ctx, out);
    CHECK_STR(out, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    digest_ctx_reset(ctx);
    digest_ctx_final(ctx, out);
    CHECK_STR(out, empty);
    digest_ctx_destroy(&ctx);
    CHECK(ctx == NULL);
    digest_ctx_destroy(&ctx);
    CHECK(digest_ctx_new("md5") == NULL);

    ctx = digest_ctx_new("sha512");
    digest_ctx_final(ctx, out);
    CHECK_INT(digest_validate(out, &err), 0);
    digest_ctx_destroy(&ctx);
}

int main(void)
{
    test_buf_cap();
    test_err();
    test_digest();
    return test_report();
}
