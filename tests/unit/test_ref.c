/* Unit tests of common/ref: image references, locations, hosts, tags. */
#include "common/ref.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

#define DIGEST_A "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* Parses text, expects success with the given parts, and a canonical
 * formatting equal to `canonical` (text itself when NULL). */
static void expect_ref(const char *text, const char *registry, const char *repository,
                       const char *tag, const char *digest, const char *canonical)
{
    ref_t *ref = NULL;
    ferry_err_t err = {0};
    int rc = ref_parse(&ref, text, &err);
    CHECK_INT(rc, 0);
    if (rc) {
        fprintf(stderr, "  input '%s': %s\n", text, err.message);
        return;
    }
    CHECK_STR(ref->registry, registry);
    CHECK_STR(ref->repository, repository);
    CHECK_STR(ref->tag, tag);
    CHECK_STR(ref->digest, digest);
    char *formatted = ref_format(ref);
    CHECK_STR(formatted, canonical ? canonical : text);
    ref_t *copy = ref_dup(ref);
    char *formatted_copy = ref_format(copy);
    CHECK_STR(formatted_copy, formatted);
    free(formatted_copy);
    free(formatted);
    ref_destroy(&copy);
    ref_destroy(&ref);
    CHECK(ref == NULL);
}

/* Expects ref_parse to fail with code and a message containing `needle`. */
static void expect_bad_ref(const char *text, int code, const char *needle)
{
    ref_t *ref = (ref_t *)&ref; /* must be reset to NULL */
    ferry_err_t err = {0};
    int rc = ref_parse(&ref, text, &err);
    CHECK_INT(rc, code);
    CHECK(ref == NULL);
    CHECK_INT(err.code, code);
    CHECK_CONTAINS(err.message, needle);
    if (rc == 0)
        ref_destroy(&ref);
}

static void test_valid_refs(void)
{
    expect_ref("docker.io/library/ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", NULL,
               NULL);
    expect_ref("registry.example.com/app", "registry.example.com", "app", NULL, NULL, NULL);
    expect_ref("localhost/app", "localhost", "app", NULL, NULL, NULL);
    expect_ref("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", NULL, NULL);
    expect_ref("127.0.0.1:5000/x", "127.0.0.1:5000", "x", NULL, NULL, NULL);
    expect_ref("[::1]:5000/ns/app:latest", "[::1]:5000", "ns/app", "latest", NULL, NULL);
    expect_ref("[2001:db8::1]/app", "[2001:db8::1]", "app", NULL, NULL, NULL);
    expect_ref("ghcr.io/org/app@" DIGEST_A, "ghcr.io", "org/app", NULL, DIGEST_A, NULL);
    expect_ref("ghcr.io/org/app:v1.2.3@" DIGEST_A, "ghcr.io", "org/app", "v1.2.3", DIGEST_A, NULL);
    expect_ref("ccr.ccs.tencentyun.com/a.b/c_d/e__f/g-h/i---j:_tag-.x", "ccr.ccs.tencentyun.com",
               "a.b/c_d/e__f/g-h/i---j", "_tag-.x", NULL, NULL);
    expect_ref("My-Registry.Example.COM:443/app:TAG", "My-Registry.Example.COM:443", "app", "TAG",
               NULL, NULL);
    expect_ref("host.x:65535/a:b", "host.x:65535", "a", "b", NULL, NULL);
    expect_ref("host.x:1/0/9", "host.x:1", "0/9", NULL, NULL, NULL);
    expect_ref("xn--bcher-kva.example/app", "xn--bcher-kva.example", "app", NULL, NULL, NULL);

    /* The longest tag. */
    char tag[REF_TAG_MAX + 1];
    memset(tag, 'a', REF_TAG_MAX);
    tag[REF_TAG_MAX] = '\0';
    char text[300];
    snprintf(text, sizeof text, "r.io/app:%s", tag);
    expect_ref(text, "r.io", "app", tag, NULL, NULL);

    /* Host and repository of exactly 255 characters together. */
    char name[REF_NAME_MAX + 1];
    memcpy(name, "r.io/", 5);
    memset(name + 5, 'a', REF_NAME_MAX - 5);
    name[REF_NAME_MAX] = '\0';
    expect_ref(name, "r.io", name + 5, NULL, NULL, NULL);
}

static void test_hostile_refs(void)
{
    expect_bad_ref(NULL, FERRY_EINVAL, "empty image reference");
    expect_bad_ref("", FERRY_EINVAL, "empty image reference");
    expect_bad_ref("ubuntu", FERRY_EINVAL, "has no registry host");
    expect_bad_ref("library/ubuntu:22.04", FERRY_EINVAL, "has no registry host");
    expect_bad_ref("ubuntu:22.04", FERRY_EINVAL,
                   "'ubuntu:22.04' has no registry host: write it in full, as in "
                   "registry.example.com/ubuntu:22.04");
    expect_bad_ref("docker.io", FERRY_EINVAL, "has no repository path");
    expect_bad_ref("docker.io/", FERRY_EINVAL, "has no repository path");
    expect_bad_ref("docker.io/Library/ubuntu", FERRY_EINVAL, "repository names must be lower case");
    expect_bad_ref("docker.io/library/Ubuntu:1", FERRY_EINVAL,
                   "repository names must be lower case");
    expect_bad_ref("r.io/a//b", FERRY_EINVAL, "empty path component");
    expect_bad_ref("r.io/a/", FERRY_EINVAL, "ends with '/'");
    expect_bad_ref("r.io//a", FERRY_EINVAL, "starts with '/'");
    expect_bad_ref("r.io/a/../b", FERRY_EINVAL, "'..' path component (path traversal)");
    expect_bad_ref("r.io/..", FERRY_EINVAL, "path traversal");
    expect_bad_ref("r.io/a/./b", FERRY_EINVAL, "'.' path component");
    expect_bad_ref("r.io/a..b", FERRY_EINVAL, "component 'a..b' must start and end");
    expect_bad_ref("r.io/a___b", FERRY_EINVAL, "component 'a___b'");
    expect_bad_ref("r.io/a._b", FERRY_EINVAL, "component 'a._b'");
    expect_bad_ref("r.io/-a", FERRY_EINVAL, "component '-a'");
    expect_bad_ref("r.io/a-", FERRY_EINVAL, "component 'a-'");
    expect_bad_ref("r.io/.a", FERRY_EINVAL, "component '.a'");
    expect_bad_ref("r.io/a b", FERRY_EINVAL, "invalid character ' ' in repository");
    expect_bad_ref("r.io/a\nb", FERRY_EINVAL, "invalid character \\x0a in repository 'a?b'");
    expect_bad_ref("r.io/a%2fb", FERRY_EINVAL, "invalid character '%' in repository");
    expect_bad_ref("r.io/caf\xc3\xa9", FERRY_EINVAL, "invalid character \\xc3");
    expect_bad_ref("r.io/app:", FERRY_EINVAL, "empty tag");
    expect_bad_ref("r.io/app:.hidden", FERRY_EINVAL, "must not start with '.'");
    expect_bad_ref("r.io/app:-x", FERRY_EINVAL, "must not start with '-'");
    expect_bad_ref("r.io/app:a/b", FERRY_EINVAL, "invalid character '/' in tag");
    expect_bad_ref("r.io/app:a:b", FERRY_EINVAL, "invalid character ':' in tag");
    expect_bad_ref("r.io/app:a+b", FERRY_EINVAL, "invalid character '+' in tag");
    char tag[300];
    memcpy(tag, "r.io/app:", 9);
    memset(tag + 9, 't', REF_TAG_MAX + 1);
    tag[9 + REF_TAG_MAX + 1] = '\0';
    expect_bad_ref(tag, FERRY_EINVAL, "is longer than 128 characters");
    expect_bad_ref("r.io/app@", FERRY_EINVAL, "empty digest");
    expect_bad_ref("r.io/app@sha256:abc", FERRY_EINVAL, "needs 64 hex digits");
    expect_bad_ref("r.io/app@sha256:../../etc/passwd", FERRY_EINVAL, "invalid character in digest");
    expect_bad_ref("r.io/app@md5:d41d8cd98f00b204e9800998ecf8427e", FERRY_EUNSUPPORTED,
                   "unsupported digest algorithm");
    expect_bad_ref("r.io/app@" DIGEST_A "@" DIGEST_A, FERRY_EINVAL, "invalid character in digest");
    expect_bad_ref("r.io:0/app", FERRY_EINVAL, "invalid port in registry host 'r.io:0'");
    expect_bad_ref("r.io:65536/app", FERRY_EINVAL, "must be 1-65535");
    expect_bad_ref("r.io:99999999999999999999/app", FERRY_EINVAL, "invalid port");
    expect_bad_ref("r.io:/app", FERRY_EINVAL, "invalid port");
    expect_bad_ref("r.io:80x/app", FERRY_EINVAL, "invalid port");
    expect_bad_ref("r.io:-1/app", FERRY_EINVAL, "invalid port");
    expect_bad_ref("r.io:80:81/app", FERRY_EINVAL, "IPv6 addresses need [brackets]");
    expect_bad_ref("::1/app", FERRY_EINVAL, "IPv6 addresses need [brackets]");
    expect_bad_ref(":5000/app", FERRY_EINVAL, "empty host name");
    expect_bad_ref("[::1/app", FERRY_EINVAL, "'[' without ']'");
    expect_bad_ref("[::g]/app", FERRY_EINVAL, "invalid IPv6 address");
    expect_bad_ref("[]/app", FERRY_EINVAL, "invalid IPv6 address");
    expect_bad_ref("[::1]x/app", FERRY_EINVAL, "expected ':port'");
    expect_bad_ref("[fe80::1%eth0]/app", FERRY_EINVAL, "invalid IPv6 address");
    expect_bad_ref("999.1.1.1/app", FERRY_EINVAL, "invalid IPv4 address");
    expect_bad_ref("1.2.3/app", FERRY_EINVAL, "invalid IPv4 address");
    expect_bad_ref("a..b/app", FERRY_EINVAL, "has an empty label");
    expect_bad_ref(".r.io/app", FERRY_EINVAL, "has an empty label");
    expect_bad_ref("-r.io/app", FERRY_EINVAL, "must not start or end with '-'");
    expect_bad_ref("r_x.io/app", FERRY_EINVAL, "invalid character '_' in registry host");
    expect_bad_ref("user@r.io/app", FERRY_EINVAL, "invalid character '@' in registry host");
    expect_bad_ref("https://r.io/app", FERRY_EINVAL, "is a URL");

    /* Too long overall, and host + repository over 255. */
    char name[REF_NAME_MAX + 2];
    memcpy(name, "r.io/", 5);
    memset(name + 5, 'a', REF_NAME_MAX - 4);
    name[REF_NAME_MAX + 1] = '\0';
    expect_bad_ref(name, FERRY_EINVAL, "together are 256 characters, more than 255");
    char *huge = malloc(5000);
    memset(huge, 'a', 4999);
    memcpy(huge, "r.io/", 5);
    huge[4999] = '\0';
    expect_bad_ref(huge, FERRY_EINVAL, "longer than 1024 characters");
    free(huge);

    /* Hostile input never reaches a message raw. */
    ferry_err_t err = {0};
    ref_t *ref = NULL;
    CHECK_INT(ref_parse(&ref, "r.io/\x1b[31mred", &err), FERRY_EINVAL);
    CHECK(strchr(err.message, '\x1b') == NULL);
    /* A NULL err is allowed. */
    CHECK_INT(ref_parse(&ref, "ubuntu", NULL), FERRY_EINVAL);
    CHECK(ref == NULL);
}

static void test_location(void)
{
    ref_t *ref = NULL;
    ferry_err_t err = {0};
    CHECK_INT(ref_parse_location(&ref, "ccr.ccs.tencentyun.com", &err), 0);
    CHECK_STR(ref->registry, "ccr.ccs.tencentyun.com");
    CHECK_STR(ref->repository, "");
    CHECK(ref->tag == NULL && ref->digest == NULL);
    char *text = ref_format(ref);
    CHECK_STR(text, "ccr.ccs.tencentyun.com");
    free(text);
    ref_destroy(&ref);

    CHECK_INT(ref_parse_location(&ref, "localhost:5000/mirror/team/", &err), 0);
    CHECK_STR(ref->registry, "localhost:5000");
    CHECK_STR(ref->repository, "mirror/team");
    ref_destroy(&ref);

    CHECK_INT(ref_parse_location(&ref, "r.io/", &err), 0);
    CHECK_STR(ref->repository, "");
    ref_destroy(&ref);

    CHECK_INT(ref_parse_location(&ref, "[::1]:8443", &err), 0);
    CHECK_STR(ref->registry, "[::1]:8443");
    ref_destroy(&ref);

    CHECK_INT(ref_parse_location(&ref, "r.io/ns:tag", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "must not have a tag");
    CHECK(ref == NULL);
    CHECK_INT(ref_parse_location(&ref, "r.io/ns@" DIGEST_A, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "must not have a digest");
    CHECK_INT(ref_parse_location(&ref, "mirror", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "has no registry host");
    CHECK_INT(ref_parse_location(&ref, "r.io//", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "starts with '/'");
    CHECK_INT(ref_parse_location(&ref, "r.io/a//", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "ends with '/'");
    CHECK_INT(ref_parse_location(&ref, "r.io/NS", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "must be lower case");
    CHECK_INT(ref_parse_location(&ref, "r.io/../x", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "path traversal");
    CHECK_INT(ref_parse_location(&ref, "", &err), FERRY_EINVAL);
    CHECK_INT(ref_parse_location(&ref, "r.io:0", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid port");
    CHECK(ref == NULL);
}

static void test_validators(void)
{
    ferry_err_t err = {0};
    CHECK_INT(ref_validate_repository("a/b-c/d.e", &err), 0);
    CHECK_INT(ref_validate_repository("", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "empty repository name");
    CHECK_INT(ref_validate_repository(NULL, &err), FERRY_EINVAL);
    CHECK_INT(ref_validate_repository("a/B", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "repository names must be lower case: 'a/B'");
    char long_repo[REF_NAME_MAX + 2];
    memset(long_repo, 'a', REF_NAME_MAX + 1);
    long_repo[REF_NAME_MAX + 1] = '\0';
    CHECK_INT(ref_validate_repository(long_repo, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "longer than 255 characters");

    CHECK_INT(ref_validate_tag("latest", &err), 0);
    CHECK_INT(ref_validate_tag("_", &err), 0);
    CHECK_INT(ref_validate_tag("sha256-abc.sig", &err), 0);
    CHECK_INT(ref_validate_tag(NULL, &err), FERRY_EINVAL);
    CHECK_INT(ref_validate_tag("a b", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid character ' ' in tag");
    CHECK_INT(ref_validate_tag("a'b", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid character \\x27 in tag");

    CHECK_INT(ref_validate_host("localhost", &err), 0);
    CHECK_INT(ref_validate_host("a-b.c-d.e:5000", &err), 0);
    CHECK_INT(ref_validate_host("10.0.0.1", &err), 0);
    CHECK_INT(ref_validate_host("[::ffff:10.0.0.1]:443", &err), 0);
    CHECK_INT(ref_validate_host("", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "empty registry host");
    CHECK_INT(ref_validate_host(NULL, &err), FERRY_EINVAL);
    CHECK_INT(ref_validate_host("r.io:", &err), FERRY_EINVAL);
    CHECK_INT(ref_validate_host("r.io:123456", &err), FERRY_EINVAL);
    CHECK_INT(ref_validate_host("host/x", &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid character '/' in registry host");
    char label[80];
    memset(label, 'a', 64);
    memcpy(label + 64, ".io", 4);
    CHECK_INT(ref_validate_host(label, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "longer than 63 characters");
    char long_host[300];
    for (int i = 0; i < 280; i += 2)
        memcpy(long_host + i, "a.", 2);
    memcpy(long_host + 280, "io", 3);
    CHECK_INT(ref_validate_host(long_host, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "longer than 255 characters");
    long_host[254] = '\0';
    long_host[253] = 'a';
    CHECK_INT(ref_validate_host(long_host, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "longer than 253 characters");
}

static void test_format_and_destroy(void)
{
    CHECK(ref_format(NULL) == NULL);
    CHECK(ref_dup(NULL) == NULL);
    ref_destroy(NULL);
    ref_t *none = NULL;
    ref_destroy(&none);
    ref_t manual = {.registry = "r.io", .repository = "a", .tag = "t", .digest = DIGEST_A};
    char *text = ref_format(&manual);
    CHECK_STR(text, "r.io/a:t@" DIGEST_A);
    free(text);
}

int main(void)
{
    test_valid_refs();
    test_hostile_refs();
    test_location();
    test_validators();
    test_format_and_destroy();
    return test_report();
}
