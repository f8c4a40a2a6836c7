/* Unit tests of common/link: Link header pagination and URL resolution. */
#include "common/link.h"
#include "testlib.h"

#include <stdlib.h>
#include <string.h>

static void expect_next(const char *value, const char *url)
{
    char *found = (char *)"sentinel";
    ferry_err_t err = {0};
    int rc = link_next(value, &found, &err);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  input '%s': %s\n", value ? value : "(null)", err.message);
    CHECK_STR(found, url);
    free(found);
}

static void expect_bad_link(const char *value, const char *needle)
{
    char *found = (char *)"sentinel";
    ferry_err_t err = {0};
    CHECK_INT(link_next(value, &found, &err), FERRY_EINVAL);
    CHECK(found == NULL);
    CHECK_CONTAINS(err.message, needle);
}

static void test_link_next(void)
{
    expect_next("</v2/_catalog?last=b&n=2>; rel=\"next\"", "/v2/_catalog?last=b&n=2");
    expect_next("</v2/x/tags/list?n=100&last=v9>; rel=next", "/v2/x/tags/list?n=100&last=v9");
    expect_next("<https://r.io/v2/x/tags/list?last=a>;rel=\"NEXT\"",
                "https://r.io/v2/x/tags/list?last=a");
    /* Several links, next not first; rel with several values; params in any order. */
    expect_next("</p?1>; rel=\"prev\", </p?3>; title=\"page, 3\"; rel=\"last next\"; type=\"a\"",
                "/p?3");
    expect_next("</first>; rel=first, </n>; type=x; rel=\"previous  next\"", "/n");
    /* Commas and semicolons inside <...>. */
    expect_next("</a?x=1,2;3>; rel=\"next\"", "/a?x=1,2;3");
    /* Only the first rel of a link counts. */
    expect_next("</a>; rel=prev; rel=next, </b>; rel=next", "/b");
    /* "nextpage" and "next-x" are not "next". */
    expect_next("</a>; rel=nextpage, </b>; rel=\"next-x\"", NULL);
    /* No rel at all, parameters without values, empty parameters. */
    expect_next("</a>; anchor; crossorigin, </b>;; rel=next;", "/b");
    /* Spaces and empty list elements. */
    expect_next("  ,  </a>  ;  rel  =  \"next\"  ,  ", "/a");
    expect_next("</a>; rel=\"prev\"", NULL);
    expect_next("", NULL);
    expect_next(NULL, NULL);
    /* Quoted escapes in other parameters do not end the link. */
    expect_next("</a>; title=\"x\\\", rel=next\", </b>; rel=next", "/b");
}

static void test_link_hostile(void)
{
    expect_bad_link("/v2/x; rel=next", "offset 0: expected '<'");
    expect_bad_link("</v2/x;rel=next", "'<' without '>'");
    expect_bad_link("</a b>; rel=next", "white space or control character in a URL");
    expect_bad_link("</a\r\n>; rel=next", "white space or control character");
    expect_bad_link("</a>; rel=\"next", "unterminated quoted string");
    expect_bad_link("</a>; rel=", "parameter without a value");
    expect_bad_link("</a> rel=next", "expected ';' or ','");
    expect_bad_link("</a>; @=next", "expected a parameter name");
    expect_bad_link("<>; rel=next", "empty next URL");
    expect_bad_link("</a>; title=\"a\x01\"; rel=next", "control character in quoted string");

    size_t n = LINK_VALUE_MAX + 1;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    expect_bad_link(big, "longer than 65536 bytes");
    /* A next URL longer than the URL cap inside an acceptable header. */
    big[0] = '<';
    memset(big + 1, 'a', LINK_URL_MAX + 1);
    memcpy(big + LINK_URL_MAX + 2, ">;rel=next", 11);
    expect_bad_link(big, "next URL is longer than 32768 bytes");
    free(big);
}

static void expect_resolve(const char *base, const char *ref, const char *want)
{
    char *out = NULL;
    ferry_err_t err = {0};
    int rc = url_resolve(base, ref, &out, &err);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  '%s' + '%s': %s\n", base, ref, err.message);
    CHECK_STR(out, want);
    free(out);
}

static void expect_bad_resolve(const char *base, const char *ref, const char *needle)
{
    char *out = (char *)"sentinel";
    ferry_err_t err = {0};
    CHECK_INT(url_resolve(base, ref, &out, &err), FERRY_EINVAL);
    CHECK(out == NULL);
    CHECK_CONTAINS(err.message, needle);
}

static void test_url_resolve(void)
{
    const char *base = "https://r.example.com/v2/ns/app/tags/list?n=10#frag";
    expect_resolve(base, "https://other.example/v2/x?a=1", "https://other.example/v2/x?a=1");
    expect_resolve(base, "//cdn.example/blob?sig=abc", "https://cdn.example/blob?sig=abc");
    expect_resolve(base, "/v2/ns/app/tags/list?n=10&last=v1",
                   "https://r.example.com/v2/ns/app/tags/list?n=10&last=v1");
    expect_resolve(base, "list?last=x", "https://r.example.com/v2/ns/app/tags/list?last=x");
    expect_resolve(base, "../blobs/uploads/uuid?_state=s%3D",
                   "https://r.example.com/v2/ns/app/blobs/uploads/uuid?_state=s%3D");
    expect_resolve(base, "?last=v2&n=10", "https://r.example.com/v2/ns/app/tags/list?last=v2&n=10");
    expect_resolve(base, "", "https://r.example.com/v2/ns/app/tags/list?n=10");
    expect_resolve(base, "#other", "https://r.example.com/v2/ns/app/tags/list?n=10");
    expect_resolve(base, "/x#frag", "https://r.example.com/x");
    expect_resolve("http://localhost:5000/v2/", "/v2/a/blobs/uploads/1?x=y",
                   "http://localhost:5000/v2/a/blobs/uploads/1?x=y");
    expect_resolve("http://[::1]:5000/v2/", "x", "http://[::1]:5000/v2/x");
    expect_resolve(base, "HTTP://Other.Example/P", "http://Other.Example/P");

    expect_bad_resolve(base, "file:///etc/passwd", "scheme 'file'");
    expect_bad_resolve(base, "ftp://x/y", "scheme 'ftp'");
    expect_bad_resolve(base, "https://user:pw@evil.example/x", "user credentials");
    expect_bad_resolve(base, "//user@evil.example/x", "user credentials");
    expect_bad_resolve(base, "a b", "white space or a control character");
    expect_bad_resolve(base, "/a\r\nHost: evil", "white space or a control character");
    expect_bad_resolve(base, NULL, "missing relative URL");
    expect_bad_resolve(NULL, "/x", "missing base URL");
    expect_bad_resolve("/relative/base", "/x", "invalid base URL");
    expect_bad_resolve("file:///etc/", "passwd", "scheme 'file'");
    char *long_url = malloc(LINK_URL_MAX + 10);
    memcpy(long_url, "/", 1);
    memset(long_url + 1, 'a', LINK_URL_MAX + 1);
    long_url[LINK_URL_MAX + 2] = '\0';
    expect_bad_resolve(base, long_url, "relative URL is longer than 32768 bytes");
    free(long_url);
}

/* Credentials go only to the origin they were given for. */
static void test_same_origin(void)
{
    CHECK(url_same_origin("https://reg.example/v2/", "https://reg.example/v2/_catalog?n=1"));
    CHECK(url_same_origin("https://Reg.Example:443/v2/", "https://reg.example/x"));
    CHECK(url_same_origin("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/v2/a/blobs/uploads/u"));
    CHECK(!url_same_origin("https://reg.example/v2/", "http://reg.example/v2/"));
    CHECK(!url_same_origin("https://reg.example/v2/", "https://reg.example:8443/v2/"));
    CHECK(!url_same_origin("https://reg.example/v2/", "https://evil.example/v2/"));
    CHECK(!url_same_origin("http://127.0.0.1:5000/", "http://127.0.0.1:5001/"));
    CHECK(!url_same_origin("https://reg.example.evil.example/", "https://reg.example/"));
    CHECK(!url_same_origin("not a url", "https://reg.example/"));
    CHECK(!url_same_origin(NULL, "https://reg.example/"));
    CHECK(url_is_plain_http("HTTP://x/"));
    CHECK(!url_is_plain_http("https://x/"));
}

int main(void)
{
    test_same_origin();
    test_link_next();
    test_link_hostile();
    test_url_resolve();
    return test_report();
}
