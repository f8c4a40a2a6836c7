/* test_tagfilter — tag regexes, newest-N ordering, platforms, timestamps. */
#include "coordinator/tagfilter.h"
#include "testlib.h"

#include <stdlib.h>

static void test_regex(void)
{
    ferry_err_t err = {0};
    tagfilter_t *all = tagfilter_new(NULL, NULL, &err);
    CHECK(all != NULL);
    CHECK(tagfilter_match(all, "anything"));
    CHECK(tagfilter_match(all, ""));
    tagfilter_destroy(&all);
    CHECK(all == NULL);
    tagfilter_destroy(&all);
    tagfilter_destroy(NULL);

    tagfilter_t *f = tagfilter_new("^v[0-9]+\\.[0-9]+", "rc|beta", &err);
    CHECK(f != NULL);
    CHECK(tagfilter_match(f, "v1.2"));
    CHECK(tagfilter_match(f, "v10.20.3"));
    CHECK(!tagfilter_match(f, "v1.2-rc1"));
    CHECK(!tagfilter_match(f, "v2.0-beta"));
    CHECK(!tagfilter_match(f, "latest"));
    CHECK(!tagfilter_match(f, "xv1.2")); /* anchored by the pattern itself */
    tagfilter_destroy(&f);

    /* Unanchored search; exclude alone. */
    f = tagfilter_new(NULL, "-debug$", &err);
    CHECK(tagfilter_match(f, "1.0"));
    CHECK(tagfilter_match(f, "1.0-debug-x"));
    CHECK(!tagfilter_match(f, "1.0-debug"));
    tagfilter_destroy(&f);

    ferry_err_clear(&err);
    f = tagfilter_new("v(1", NULL, &err);
    CHECK(f == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid include regex 'v(1'");
    CHECK_CONTAINS(err.message, "Unmatched ("); /* glibc's regerror text */

    ferry_err_clear(&err);
    f = tagfilter_new("^v", "[z-a]", &err);
    CHECK(f == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid exclude regex '[z-a]'");
}

static void test_platforms(void)
{
    ferry_err_t err = {0};
    char *os = NULL, *arch = NULL, *variant = NULL;
    CHECK_INT(platform_parse("linux/arm64/v8", &os, &arch, &variant, &err), 0);
    CHECK_STR(os, "linux");
    CHECK_STR(arch, "arm64");
    CHECK_STR(variant, "v8");
    free(os);
    free(arch);
    free(variant);
    CHECK_INT(platform_parse("windows/amd64", &os, &arch, &variant, &err), 0);
    CHECK_STR(os, "windows");
    CHECK_STR(arch, "amd64");
    CHECK(variant == NULL);
    free(os);
    free(arch);
    CHECK_INT(platform_parse("linux/amd64", NULL, NULL, NULL, &err), 0);

    const char *bad[] = {
        "linux",        "linux/",       "/amd64", "linux//amd64", "linux/amd64/v8/x",
        "linux/amd 64", "linux/amd64/", "",       "linux/am\n64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ferry_err_clear(&err);
        os = (char *)"sentinel";
        CHECK_INT(platform_parse(bad[i], &os, NULL, NULL, &err), FERRY_EINVAL);
        CHECK(os == NULL);
        CHECK_CONTAINS(err.message, "expected os/arch[/variant]");
    }
    char longpart[100];
    memset(longpart, 'a', sizeof longpart - 1);
    longpart[sizeof longpart - 1] = '\0';
    char text[120];
    snprintf(text, sizeof text, "linux/%s", longpart);
    CHECK_INT(platform_parse(text, NULL, NULL, NULL, &err), FERRY_EINVAL);

    CHECK(platform_match("linux/amd64", "linux", "amd64", NULL));
    CHECK(platform_match("linux/arm", "linux", "arm", "v7"));
    CHECK(platform_match("linux/arm/v7", "linux", "arm", "v7"));
    CHECK(!platform_match("linux/arm/v6", "linux", "arm", "v7"));
    CHECK(!platform_match("linux/arm/v7", "linux", "arm", NULL));
    CHECK(platform_match("linux/arm64/v8", "linux", "arm64", NULL));
    CHECK(platform_match("linux/arm64/v8", "linux", "arm64", ""));
    CHECK(!platform_match("linux/amd64", "windows", "amd64", NULL));
    CHECK(!platform_match("linux/amd64", "linux", "amd6", NULL));
    CHECK(!platform_match("linux/amd", "linux", "amd64", NULL));
    CHECK(!platform_match("linux/amd64", "linux", "arm64", NULL));
    CHECK(!platform_match("bogus", "linux", "amd64", NULL));
    CHECK(!platform_match("linux/amd64", NULL, "amd64", NULL));
}

static void test_times(void)
{
    CHECK_INT(time_parse_iso8601("1970-01-01T00:00:00Z"), 0);
    CHECK_INT(time_parse_iso8601("2024-05-01T10:00:00Z"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-05-01T10:00:00.123456789Z"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-05-01T18:00:00+08:00"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-05-01T05:30:00-0430"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-05-01t10:00:00z"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-05-01 10:00:00.5+00:00"), 1714557600);
    CHECK_INT(time_parse_iso8601("2024-02-29T00:00:00Z"), 1709164800);
    CHECK_INT(time_parse_iso8601("2000-02-29T23:59:59Z"), 951868799);
    CHECK_INT(time_parse_iso8601("2038-01-19T03:14:08Z"), 2147483648LL);
    CHECK_INT(time_parse_iso8601("9999-12-31T23:59:59Z"), 253402300799LL);

    /* Go's zero time and other pre-1970 times count as unknown. */
    CHECK_INT(time_parse_iso8601("0001-01-01T00:00:00Z"), -1);
    CHECK_INT(time_parse_iso8601("1969-12-31T23:59:59Z"), -1);
    CHECK_INT(time_parse_iso8601("1970-01-01T00:00:00+01:00"), -1);

    const char *bad[] = {
        NULL,
        "",
        "2024-05-01",
        "2024-05-01T10:00:00",
        "2023-02-29T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T10:60:00Z",
        "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00:00Zjunk",
        "2024-05-01T10:00:00+8:00",
        "2024-05-01T10:00:00+08:0",
        "2024-05-01T10:00:00+24:00",
        "24-05-01T10:00:00Z",
        "2024-5-01T10:00:00Z",
        "2024-05-01X10:00:00Z",
        "-024-05-01T10:00:00Z",
        "2024-05-01T10:00:00 Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t t = time_parse_iso8601(bad[i]);
        if (t != -1)
            fprintf(stderr, "accepted '%s'\n", bad[i] ? bad[i] : "(null)");
        CHECK_INT(t, -1);
    }
}

int main(void)
{
    test_regex();
    test_platforms();
    test_times();
    return test_report();
}
