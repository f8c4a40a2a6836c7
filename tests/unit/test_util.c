/* Unit tests of common/err, common/buf and common/digest. */
#include "common/buf.h"
#include "common/digest.h"
#include "common/err.h"
#include "testlib.h"

#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* fbuf_read_file: whole files, the cap, missing files, directories, and a
 * pipe (no size known ahead) that grows the buffer several times. */
static void test_read_file(void)
{
    char dir[] = "/tmp/ferry-util-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[64], fifo[64];
    snprintf(path, sizeof path, "%s/f", dir);
    snprintf(fifo, sizeof fifo, "%s/p", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fwrite("hello\0world", 1, 11, f);
        fclose(f);
    }
    char *text = NULL;
    size_t len = 0;
    ferry_err_t err;
    CHECK_INT(fbuf_read_file(path, 11, FBUF_FILE_REGULAR, &text, &len, &err), 0);
    CHECK(len == 11 && text && memcmp(text, "hello\0world", 12) == 0); /* NUL-terminated */
    free(text);
    CHECK_INT(fbuf_read_file(path, 10, FBUF_FILE_SECRET, &text, &len, &err), FERRY_ETOOBIG);
    CHECK_STR(err.message, "larger than 10 bytes");
    CHECK(text == NULL);
    CHECK_INT(fbuf_read_file(dir, 100, FBUF_FILE_REGULAR, &text, &len, &err), FERRY_EIO);
    CHECK_STR(err.message, "not a regular file");
    unlink(path);
    CHECK_INT(fbuf_read_file(path, 100, 0, &text, &len, &err), FERRY_ENOTFOUND);
    CHECK_STR(err.message, "No such file or directory");

    /* 20,000 bytes through a FIFO: read to the end, or refused past a cap */
    CHECK_INT(mkfifo(fifo, 0600), 0);
    for (int capped = 0; capped <= 1; capped++) {
        pid_t pid = fork();
        if (pid == 0) {
            FILE *w = fopen(fifo, "wb");
            for (int i = 0; w && i < 20000; i++)
                fputc('a' + i % 26, w);
            _exit(w && fclose(w) == 0 ? 0 : 1);
        }
        int rc = fbuf_read_file(fifo, capped ? 19999 : 20000, FBUF_FILE_SECRET, &text, &len, &err);
        CHECK_INT(rc, capped ? FERRY_ETOOBIG : 0);
        if (!capped)
            CHECK(len == 20000 && text[19999] == 'a' + 19999 % 26 && text[20000] == '\0');
        free(text);
        text = NULL;
        int status;
        waitpid(pid, &status, 0);
    }
    unlink(fifo);
    CHECK_INT(rmdir(dir), 0);
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

    CHECK_INT(digest_validate(
                  "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", &err),
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

static void test_array_grow(void)
{
    int *v = NULL;
    size_t n = 0, cap = 0;
    for (int i = 0; i < 100; i++) {
        int *g = array_grow(v, n, &cap, sizeof *g);
        CHECK(g != NULL);
        if (!g)
            break;
        v = g;
        v[n++] = i;
    }
    CHECK_INT(n, 100);
    CHECK(cap >= 100 && cap <= 128);
    CHECK_INT(v[99], 99);
    /* An element count that would overflow is refused, the array kept. */
    size_t huge = SIZE_MAX / 2 + 1;
    CHECK(array_grow(v, huge, &huge, 4) == NULL);
    free(v);
}

int main(void)
{
    test_array_grow();
    test_buf_cap();
    test_read_file();
    test_err();
    test_digest();
    return test_report();
}
