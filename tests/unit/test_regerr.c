/* Unit tests of common/regerr: registry error bodies and classification. */
#include "common/regerr.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

static void parse(const char *body, char *code, size_t code_size, char *message,
                  size_t message_size)
{
    regerr_parse(body, body ? strlen(body) : 0, code, code_size, message, message_size);
}

static void test_parse(void)
{
    char code[32], message[128];
    parse("{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"repository name not known to "
          "registry\","
          "\"detail\":{\"name\":\"x\"}}]}",
          code, sizeof code, message, sizeof message);
    CHECK_STR(code, "NAME_UNKNOWN");
    CHECK_STR(message, "repository name not known to registry");

    /* Only the first error is read. */
    parse(
        "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"a\"},{\"code\":\"X\",\"message\":\"b\"}]}",
        code, sizeof code, message, sizeof message);
    CHECK_STR(code, "DENIED");
    CHECK_STR(message, "a");

    /* Garbage and odd shapes give empty strings, never a failure. */
    const char *garbage[] = {
        "",
        "not json",
        "<html><body>502 Bad Gateway</body></html>",
        "{",
        "[]",
        "null",
        "42",
        "{\"errors\":{}}",
        "{\"errors\":[]}",
        "{\"errors\":[42]}",
        "{\"errors\":[{\"code\":7,\"message\":[]}]}",
        "{\"errors\":[{}]}",
        "{\"errors\":\"x\",\"message\":\"m\"}",
        "\xff\xfe{}",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        memcpy(code, "junk", 5);
        memcpy(message, "junk", 5);
        parse(garbage[i], code, sizeof code, message, sizeof message);
        CHECK_STR(code, "");
        CHECK_STR(message, "");
    }
    memcpy(code, "junk", 5);
    regerr_parse(NULL, 10, code, sizeof code, message, sizeof message);
    CHECK_STR(code, "");
    /* Embedded NUL: the length counts, not strlen. */
    regerr_parse("{\"errors\":[]}\0trailing", 22, code, sizeof code, message, sizeof message);
    CHECK_STR(code, "");

    /* Non-spec shapes of token servers and proxies. */
    parse("{\"details\":\"incorrect username or password\"}", code, sizeof code, message,
          sizeof message);
    CHECK_STR(code, "");
    CHECK_STR(message, "incorrect username or password");
    parse("{\"error\":\"invalid_grant\",\"message\":\"first wins\"}", code, sizeof code, message,
          sizeof message);
    CHECK_STR(message, "first wins");

    /* Control characters stripped, white space collapsed, C1 controls and
     * escapes gone, UTF-8 kept. */
    parse("{\"errors\":[{\"code\":\"X\\u001b[2J\",\"message\":\"  line1\\n\\r\\tline2\\u0007 "
          "caf\\u00e9 "
          "\\u0085end \"}]}",
          code, sizeof code, message, sizeof message);
    CHECK_STR(code, "X[2J");
    CHECK_STR(message, "line1 line2 caf\xc3\xa9 end");

    /* Cut to the buffer without splitting a character. */
    char small[6];
    parse("{\"errors\":[{\"code\":\"C\",\"message\":\"abcd\\u00e9f\"}]}", code, sizeof code, small,
          sizeof small);
    CHECK_STR(small, "abcd");
    /* Cut to REGERR_MESSAGE_MAX even with a larger buffer. */
    char big_message[1024];
    char *body = malloc(2000);
    int n = snprintf(body, 2000, "{\"errors\":[{\"code\":\"C\",\"message\":\"");
    memset(body + n, 'm', 900);
    memcpy(body + n + 900, "\"}]}", 5);
    parse(body, code, sizeof code, big_message, sizeof big_message);
    CHECK_INT(strlen(big_message), REGERR_MESSAGE_MAX);
    free(body);

    /* A body over the cap is not parsed. */
    body = malloc(REGERR_BODY_MAX + 100);
    n = snprintf(body, 100, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"x\"}],\"pad\":\"");
    memset(body + n, 'p', REGERR_BODY_MAX);
    memcpy(body + n + REGERR_BODY_MAX, "\"}", 3);
    parse(body, code, sizeof code, message, sizeof message);
    CHECK_STR(code, "");
    free(body);

    /* Zero-sized buffers are left alone. */
    parse("{\"errors\":[{\"code\":\"DENIED\",\"message\":\"x\"}]}", NULL, 0, message,
          sizeof message);
    CHECK_STR(message, "x");
    /* Deep nesting does not crash the parser. */
    body = malloc(60001);
    memset(body, '[', 60000);
    body[60000] = '\0';
    regerr_parse(body, 60000, code, sizeof code, message, sizeof message);
    CHECK_STR(code, "");
    free(body);
}

static void test_classify(void)
{
    CHECK_INT(regerr_classify(404, NULL), FERRY_ENOTFOUND);
    CHECK_INT(regerr_classify(404, "MANIFEST_UNKNOWN"), FERRY_ENOTFOUND);
    CHECK_INT(regerr_classify(400, "MANIFEST_BLOB_UNKNOWN"), FERRY_ENOTFOUND);
    CHECK_INT(regerr_classify(400, "BLOB_UPLOAD_UNKNOWN"), FERRY_ENOTFOUND);
    CHECK_INT(regerr_classify(401, "UNAUTHORIZED"), FERRY_EAUTH);
    CHECK_INT(regerr_classify(401, NULL), FERRY_EAUTH);
    CHECK_INT(regerr_classify(403, "DENIED"), FERRY_EAUTH);
    CHECK_INT(regerr_classify(400, "DENIED"), FERRY_EAUTH);
    CHECK_INT(regerr_classify(400, "unauthorized"), FERRY_EAUTH);
    CHECK_INT(regerr_classify(408, ""), FERRY_ERETRY);
    CHECK_INT(regerr_classify(429, "TOOMANYREQUESTS"), FERRY_ERETRY);
    CHECK_INT(regerr_classify(403, "TOOMANYREQUESTS"), FERRY_ERETRY);
    CHECK_INT(regerr_classify(500, NULL), FERRY_ERETRY);
    CHECK_INT(regerr_classify(502, "UNKNOWN"), FERRY_ERETRY);
    CHECK_INT(regerr_classify(503, "UNAVAILABLE"), FERRY_ERETRY);
    CHECK_INT(regerr_classify(599, NULL), FERRY_ERETRY);
    CHECK_INT(regerr_classify(400, "DIGEST_INVALID"), FERRY_EDIGEST);
    CHECK_INT(regerr_classify(500, "DIGEST_INVALID"), FERRY_EDIGEST);
    CHECK_INT(regerr_classify(413, NULL), FERRY_ETOOBIG);
    CHECK_INT(regerr_classify(413, "SIZE_INVALID"), FERRY_ETOOBIG);
    CHECK_INT(regerr_classify(400, "MANIFEST_INVALID"), FERRY_EINVAL);
    CHECK_INT(regerr_classify(400, "NAME_INVALID"), FERRY_EINVAL);
    CHECK_INT(regerr_classify(400, "TAG_INVALID"), FERRY_EINVAL);
    CHECK_INT(regerr_classify(400, "SIZE_INVALID"), FERRY_EINVAL);
    CHECK_INT(regerr_classify(400, "BLOB_UPLOAD_INVALID"), FERRY_EINVAL);
    CHECK_INT(regerr_classify(400, "UNSUPPORTED"), FERRY_EPROTO);
    CHECK_INT(regerr_classify(400, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(405, "UNSUPPORTED"), FERRY_EPROTO);
    CHECK_INT(regerr_classify(409, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(416, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(200, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(302, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(600, NULL), FERRY_EPROTO);
    CHECK_INT(regerr_classify(400, "_UNKNOWN"), FERRY_EPROTO);
    CHECK_INT(regerr_classify(400, "UNKNOWN"), FERRY_EPROTO);
}

static void test_from_response(void)
{
    ferry_err_t err = {0};
    const char *body =
        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}";
    CHECK_INT(regerr_from_response(&err, "GET manifest r.io/a:v1", 404, body, strlen(body)),
              FERRY_ENOTFOUND);
    CHECK_INT(err.code, FERRY_ENOTFOUND);
    CHECK_INT(err.http_status, 404);
    CHECK_STR(err.message, "GET manifest r.io/a:v1: HTTP 404 MANIFEST_UNKNOWN: manifest unknown");

    body = "{\"errors\":[{\"code\":\"DENIED\"}]}";
    CHECK_INT(regerr_from_response(&err, "push", 403, body, strlen(body)), FERRY_EAUTH);
    CHECK_STR(err.message, "push: HTTP 403 DENIED");

    body = "upstream connect error\nsecond line";
    CHECK_INT(regerr_from_response(&err, "pull", 503, body, strlen(body)), FERRY_ERETRY);
    CHECK_STR(err.message, "pull: HTTP 503: upstream connect error");
    CHECK_INT(err.http_status, 503);

    body = "<html><head><title>413 Request Entity Too Large</title></head></html>";
    CHECK_INT(regerr_from_response(&err, "upload", 413, body, strlen(body)), FERRY_ETOOBIG);
    CHECK_STR(err.message, "upload: HTTP 413");

    CHECK_INT(regerr_from_response(&err, NULL, 500, NULL, 0), FERRY_ERETRY);
    CHECK_STR(err.message, "registry: HTTP 500");

    body = "{\"errors\":[{\"code\":\"DIGEST_INVALID\",\"message\":\"provided digest did not "
           "match\"}]}";
    CHECK_INT(regerr_from_response(NULL, "put", 400, body, strlen(body)), FERRY_EDIGEST);

    /* A hostile body cannot inject lines or terminal escapes into a message. */
    body = "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"x\\n2024 ERROR forged\\u001b[31m\"}]}";
    CHECK_INT(regerr_from_response(&err, "pull", 403, body, strlen(body)), FERRY_EAUTH);
    CHECK(strchr(err.message, '\n') == NULL);
    CHECK(strchr(err.message, '\x1b') == NULL);
    CHECK_STR(err.message, "pull: HTTP 403 DENIED: x 2024 ERROR forged[31m");

    /* The first line of a plain-text body longer than the JSON cap still counts. */
    char *long_body = malloc(REGERR_BODY_MAX + 10);
    memset(long_body, 'x', REGERR_BODY_MAX + 10);
    memcpy(long_body, "too busy\n", 9);
    CHECK_INT(regerr_from_response(&err, "pull", 503, long_body, REGERR_BODY_MAX + 10),
              FERRY_ERETRY);
    CHECK_STR(err.message, "pull: HTTP 503: too busy");
    /* A first line longer than the message cap is cut. */
    long_body[0] = 'y';
    long_body[8] = 'y';
    CHECK_INT(regerr_from_response(&err, "pull", 503, long_body, REGERR_BODY_MAX + 10),
              FERRY_ERETRY);
    CHECK_INT(strlen(err.message), strlen("pull: HTTP 503: ") + REGERR_MESSAGE_MAX);
    free(long_body);

    /* Invalid UTF-8 in a plain-text body is dropped. */
    body = "bad \xff\xc0\x80 bytes \xe2\x82";
    CHECK_INT(regerr_from_response(&err, "x", 502, body, strlen(body)), FERRY_ERETRY);
    CHECK_STR(err.message, "x: HTTP 502: bad bytes");
}

int main(void)
{
    test_parse();
    test_classify();
    test_from_response();
    return test_report();
}
