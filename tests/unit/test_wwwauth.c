/* Unit tests of common/wwwauth: WWW-Authenticate challenges. */
#include "common/wwwauth.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

/* Parses value and expects success with these fields. */
static void expect_challenge(const char *value, const char *scheme, const char *realm,
                             const char *service, const char *scope, const char *error)
{
    wwwauth_challenge_t c;
    ferry_err_t err = {0};
    int rc = wwwauth_parse(value, &c, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  input '%s': %s\n", value, err.message);
        return;
    }
    CHECK_STR(c.scheme, scheme);
    CHECK_STR(c.realm, realm);
    CHECK_STR(c.service, service);
    CHECK_STR(c.scope, scope);
    CHECK_STR(c.error, error);
    wwwauth_challenge_clear(&c);
    CHECK(c.scheme == NULL && c.realm == NULL);
}

static void expect_bad(const char *value, const char *needle)
{
    wwwauth_challenge_t c;
    ferry_err_t err = {0};
    CHECK_INT(wwwauth_parse(value, &c, &err), FERRY_EINVAL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, needle);
    CHECK(c.scheme == NULL && c.realm == NULL && c.service == NULL && c.scope == NULL &&
          c.error == NULL);
}

static void test_valid(void)
{
    expect_challenge("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
                     "scope=\"repository:library/ubuntu:pull\"",
                     "bearer", "https://auth.docker.io/token", "registry.docker.io",
                     "repository:library/ubuntu:pull", NULL);
    expect_challenge("Basic realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL, NULL);
    expect_challenge("Basic", "basic", NULL, NULL, NULL, NULL);
    expect_challenge("BEARER REALM=\"https://a/t\", SERVICE=svc", "bearer", "https://a/t", "svc",
                     NULL, NULL);
    expect_challenge("  bEaReR   realm = \"https://a/t\" ,  service = \"s\"  ", "bearer",
                     "https://a/t", "s", NULL, NULL);
    /* Several challenges: Bearer wins wherever it stands. */
    expect_challenge("Basic realm=\"x\", Bearer realm=\"y\",service=\"z\"", "bearer", "y", "z",
                     NULL, NULL);
    expect_challenge("Bearer realm=\"y\", Basic realm=\"x\"", "bearer", "y", NULL, NULL, NULL);
    expect_challenge("Negotiate, Basic realm=\"x\"", "basic", "x", NULL, NULL, NULL);
    expect_challenge("Negotiate abc123+/==, Bearer realm=\"y\"", "bearer", "y", NULL, NULL, NULL);
    expect_challenge(
        "Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", Basic realm=\"simple\"",
        "basic", "simple", NULL, NULL, NULL);
    /* Commas and escapes inside quotes; multiple scopes in one value. */
    expect_challenge(
        "Bearer realm=\"https://a/t\",scope=\"repository:a/b:pull,push repository:c:pull\"",
        "bearer", "https://a/t", NULL, "repository:a/b:pull,push repository:c:pull", NULL);
    expect_challenge("Bearer realm=\"https://a/t?x=\\\"1\\\"\\\\\"", "bearer",
                     "https://a/t?x=\"1\"\\", NULL, NULL, NULL);
    /* Unquoted URL-ish values, as some registries send. */
    expect_challenge("Bearer realm=https://auth.example.com/token,service=registry.example.com",
                     "bearer", "https://auth.example.com/token", "registry.example.com", NULL,
                     NULL);
    /* Error of an expired or insufficient token. */
    expect_challenge(
        "Bearer realm=\"https://a/t\",error=\"insufficient_scope\",scope=\"repository:x:push\"",
        "bearer", "https://a/t", NULL, "repository:x:push", "insufficient_scope");
    /* Extra and empty list elements. */
    expect_challenge(",, Bearer realm=\"r\",,, service=\"s\" ,", "bearer", "r", "s", NULL, NULL);
    /* Unknown parameters are skipped; an empty quoted value is a value. */
    expect_challenge("Bearer foo=\"\", realm=\"r\", charset=UTF-8", "bearer", "r", NULL, NULL,
                     NULL);
    /* A Bearer without realm is unusable, so Basic is taken. */
    expect_challenge("Bearer service=\"s\", Basic realm=\"b\"", "basic", "b", NULL, NULL, NULL);
}

static void test_hostile(void)
{
    expect_bad(NULL, "missing WWW-Authenticate header");
    expect_bad("", "neither Basic nor Bearer");
    expect_bad("   ,  ", "neither Basic nor Bearer");
    expect_bad("Negotiate", "neither Basic nor Bearer");
    expect_bad("Digest realm=\"x\", nonce=\"y\"", "neither Basic nor Bearer");
    expect_bad("Bearer service=\"s\"", "Bearer challenge has no realm");
    expect_bad("Bearer realm=\"\"", "Bearer challenge has no realm");
    expect_bad("Bearer realm=\"unterminated", "unterminated quoted string");
    expect_bad("Bearer realm=\"ends in backslash\\", "unterminated quoted string");
    expect_bad("Bearer realm=\"a\nb\"", "control character in quoted string");
    expect_bad("Bearer realm=", "Bearer challenge has no realm"); /* read as a token68 */
    expect_bad("Bearer realm=\"a\", service=", "parameter without a value");
    expect_bad("Bearer realm \"x\"", "offset 13: expected '=' after a parameter name");
    expect_bad("Bearer realm=\"a\"x", "expected ',' between parameters");
    expect_bad("Bearer realm=\"a\", realm=\"b\"", "parameter 'realm' appears twice");
    expect_bad("Bearer realm=\"a\", REALM=\"b\"", "parameter 'realm' appears twice");
    expect_bad("realm=\"x\"", "expected a space after the scheme");
    expect_bad("=x", "expected an authentication scheme");
    expect_bad("\"Bearer\" realm=\"x\"", "offset 0: expected an authentication scheme");
    expect_bad("Bearer realm=\"r\"\r\nX-Injected: 1", "expected ',' between parameters");
    expect_bad("Bearer; realm=\"x\"", "expected a space after the scheme");

    /* Bounded length: a huge but valid value is refused before parsing. */
    size_t n = WWWAUTH_VALUE_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "Basic", 5);
    big[n] = '\0';
    expect_bad(big, "longer than 8192 bytes");
    big[n - 1] = '\0';
    expect_challenge(big, "basic", NULL, NULL, NULL, NULL);
    free(big);

    /* clear accepts NULL and an empty challenge. */
    wwwauth_challenge_clear(NULL);
    wwwauth_challenge_t empty = {0};
    wwwauth_challenge_clear(&empty);
    CHECK(empty.scheme == NULL);
}

int main(void)
{
    test_valid();
    test_hostile();
    return test_report();
}
