/* Unit tests of common/tc3: every published TC3-HMAC-SHA256 vector from the
 * reference, byte exact, the date of the credential scope across UTC
 * midnight, and refusal of malformed input. */
#include "common/digest.h"
#include "common/err.h"
#include "common/tc3.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

/* The 86-byte body of the reference vectors; the \u sequences are literal. */
static const char vector_body[] = "{\"Limit\": 1, \"Filters\": [{\"Values\": "
                                  "[\"\\u672a\\u547d\\u540d\"], \"Name\": \"instance-name\"}]}";

static tc3_request_t vector_request(const char *secret_id, const char *secret_key,
                                    const char *action)
{
    tc3_request_t req = {
        .secret_id = secret_id,
        .secret_key = secret_key,
        .service = "cvm",
        .host = "cvm.tencentcloudapi.com",
        .content_type = "application/json; charset=utf-8",
        .action = action,
        .timestamp = 1551113065,
        .body = vector_body,
        .body_len = sizeof vector_body - 1,
    };
    return req;
}

static void check_signature(const tc3_request_t *req, const char *expected)
{
    ferry_err_t err;
    ferry_err_clear(&err);
    char *auth = NULL;
    CHECK_INT(tc3_sign(req, &auth, &err), 0);
    CHECK_STR(auth, expected);
    free(auth);
}

static void test_body(void)
{
    char digest[DIGEST_STR_MAX];
    CHECK_INT(sizeof vector_body - 1, 86);
    digest_sha256(vector_body, sizeof vector_body - 1, digest);
    CHECK_STR(digest, "sha256:35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064");
}

static void test_row1_example(void)
{
    tc3_request_t req = vector_request("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                                       "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", NULL);
    char hex[65];
    CHECK_INT(tc3_canonical_request_hash(&req, hex), 0);
    CHECK_STR(hex, "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031");
    check_signature(&req,
                    "TC3-HMAC-SHA256 "
                    "Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
                    "tc3_request, SignedHeaders=content-type;host, "
                    "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
}

static void test_row2_masked(void)
{
    tc3_request_t req = vector_request("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                                       "Gu5t9xGARNpq86cd98joQYCN3*******", NULL);
    check_signature(&req,
                    "TC3-HMAC-SHA256 "
                    "Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
                    "tc3_request, SignedHeaders=content-type;host, "
                    "Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c");
}

static void test_row3_action(void)
{
    tc3_request_t req = vector_request("AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******",
                                       "Gu5t9xGARNpq86cd98joQYCN3*******", "DescribeInstances");
    check_signature(&req,
                    "TC3-HMAC-SHA256 "
                    "Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
                    "tc3_request, SignedHeaders=content-type;host;x-tc-action, "
                    "Signature=be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3");
    /* Header values are signed lowered and trimmed: the same signature. */
    req.action = " describeINSTANCES ";
    req.host = "CVM.tencentcloudapi.com";
    check_signature(&req,
                    "TC3-HMAC-SHA256 "
                    "Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/"
                    "tc3_request, SignedHeaders=content-type;host;x-tc-action, "
                    "Signature=be4f67d323c78ab9acb7395e43c0dbcf822a9cfac32fea2449a7bc7726b770a3");
}

static void test_node_sdk(void)
{
    static const char body[] = "{\"Action\":\"DescribeInstances\",\"Version\":\"2017-03-12\"}";
    tc3_request_t req = {
        .secret_id = "test-secret-id",
        .secret_key = "test-secret-key",
        .service = "cvm",
        .host = "cvm.tencentcloudapi.com",
        .content_type = "application/json",
        .timestamp = 1640995200,
        .body = body,
        .body_len = sizeof body - 1,
    };
    check_signature(&req,
                    "TC3-HMAC-SHA256 Credential=test-secret-id/2022-01-01/cvm/tc3_request, "
                    "SignedHeaders=content-type;host, "
                    "Signature=96473b50fe407833672a5d6d067238d88bb44c8abcc39ef83baa3132afbfadd3");
}

/* Extracts the Signature= part of an Authorization value into out. */
static void signature_of(const char *auth, char out[65])
{
    out[0] = '\0';
    const char *p = auth ? strstr(auth, "Signature=") : NULL;
    if (p && strlen(p + 10) == 64)
        memcpy(out, p + 10, 65);
}

static void test_date(void)
{
    char date[11];
    CHECK_INT(tc3_date(0, date), 0);
    CHECK_STR(date, "1970-01-01");
    CHECK_INT(tc3_date(1551113065, date), 0);
    CHECK_STR(date, "2019-02-25");
    /* The scope date is the UTC date: 23:59:59 and 00:00:00 differ. */
    CHECK_INT(tc3_date(1551139199, date), 0);
    CHECK_STR(date, "2019-02-25");
    CHECK_INT(tc3_date(1551139200, date), 0);
    CHECK_STR(date, "2019-02-26");
    /* 07:59:59 on the 26th in Beijing (+0800) is still the 25th in UTC. */
    CHECK_INT(tc3_date(1551139199, date), 0);
    CHECK_STR(date, "2019-02-25");
    CHECK_INT(tc3_date(951782400, date), 0); /* leap day */
    CHECK_STR(date, "2000-02-29");
    CHECK_INT(tc3_date(1609459199, date), 0);
    CHECK_STR(date, "2020-12-31");
    CHECK_INT(tc3_date(1609459200, date), 0);
    CHECK_STR(date, "2021-01-01");
    CHECK_INT(tc3_date(253402300799, date), 0);
    CHECK_STR(date, "9999-12-31");
    CHECK_INT(tc3_date(-1, date), FERRY_EINVAL);
    CHECK_INT(tc3_date(253402300800, date), FERRY_EINVAL);

    /* Signing one second apart across midnight changes the scope and the
     * signing key, so the signatures differ. */
    tc3_request_t req = vector_request("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                                       "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", NULL);
    char *before = NULL, *after = NULL;
    char sig_before[65], sig_after[65];
    req.timestamp = 1551139199;
    CHECK_INT(tc3_sign(&req, &before, NULL), 0);
    req.timestamp = 1551139200;
    CHECK_INT(tc3_sign(&req, &after, NULL), 0);
    CHECK_CONTAINS(before, "/2019-02-25/cvm/tc3_request");
    CHECK_CONTAINS(after, "/2019-02-26/cvm/tc3_request");
    signature_of(before, sig_before);
    signature_of(after, sig_after);
    CHECK(sig_before[0] && sig_after[0] && strcmp(sig_before, sig_after) != 0);
    free(before);
    free(after);
}

static void test_invalid(void)
{
    ferry_err_t err;
    char *auth = (char *)"untouched";
    char hex[65];
    tc3_request_t req = vector_request("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                                       "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", NULL);

    req.secret_id = NULL;
    ferry_err_clear(&err);
    CHECK_INT(tc3_sign(&req, &auth, &err), FERRY_EINVAL);
    CHECK(auth == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK(strstr(err.message, "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE") == NULL);

    req.secret_id = "AKID\r\nX-Injected: 1";
    CHECK_INT(tc3_sign(&req, &auth, NULL), FERRY_EINVAL);
    req.secret_id = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";

    req.secret_key = "";
    CHECK_INT(tc3_sign(&req, &auth, NULL), FERRY_EINVAL);
    req.secret_key = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

    req.service = "cvm/x";
    CHECK_INT(tc3_sign(&req, &auth, NULL), FERRY_EINVAL);
    req.service = "cvm";

    req.timestamp = -5;
    CHECK_INT(tc3_canonical_request_hash(&req, hex), FERRY_EINVAL);
    req.timestamp = 1551113065;

    req.body = NULL;
    CHECK_INT(tc3_canonical_request_hash(&req, hex), FERRY_EINVAL);
    req.body_len = 0; /* an empty body is fine */
    CHECK_INT(tc3_canonical_request_hash(&req, hex), 0);
    CHECK_INT(tc3_sign(&req, &auth, NULL), 0);
    CHECK_CONTAINS(auth, "SignedHeaders=content-type;host, Signature=");
    free(auth);
}

int main(void)
{
    test_body();
    test_row1_example();
    test_row2_masked();
    test_row3_action();
    test_node_sdk();
    test_date();
    test_invalid();
    return test_report();
}
