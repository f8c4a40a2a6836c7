/* Unit tests of common/retry: backoff, budget and Retry-After. */
#include "common/err.h"
#include "common/retry.h"
#include "testlib.h"

#include <limits.h>

/* 1994-11-06 08:49:37 UTC, the RFC's example date. */
#define EXAMPLE_EPOCH ((time_t)784111777)

static void test_delay_without_jitter(void)
{
    retry_policy_t p = {.max_attempts = 10, .base_ms = 100, .max_ms = 1000, .budget_ms = 0};
    CHECK_INT(retry_delay_ms(&p, 1, -1, NULL), 100);
    CHECK_INT(retry_delay_ms(&p, 2, -1, NULL), 200);
    CHECK_INT(retry_delay_ms(&p, 3, -1, NULL), 400);
    CHECK_INT(retry_delay_ms(&p, 4, -1, NULL), 800);
    CHECK_INT(retry_delay_ms(&p, 5, -1, NULL), 1000);
    CHECK_INT(retry_delay_ms(&p, INT_MAX, -1, NULL), 1000);
    CHECK_INT(retry_delay_ms(&p, 0, -1, NULL), 100);
    CHECK_INT(retry_delay_ms(&p, -5, -1, NULL), 100);
    /* Retry-After raises the delay, capped at 10 minutes, never lowers it. */
    CHECK_INT(retry_delay_ms(&p, 1, 5000, NULL), 5000);
    CHECK_INT(retry_delay_ms(&p, 4, 10, NULL), 800);
    CHECK_INT(retry_delay_ms(&p, 1, 0, NULL), 100);
    CHECK_INT(retry_delay_ms(&p, 1, INT64_MAX, NULL), RETRY_DELAY_CEILING_MS);
    /* Odd policies stay sane. */
    retry_policy_t zero = {.max_attempts = 0, .base_ms = 0, .max_ms = 0, .budget_ms = 0};
    CHECK_INT(retry_delay_ms(&zero, INT_MAX, -1, NULL), 0);
    retry_policy_t negative = {.max_attempts = 3, .base_ms = -5, .max_ms = -1, .budget_ms = 0};
    CHECK_INT(retry_delay_ms(&negative, 3, -1, NULL), 0);
    retry_policy_t huge = {
        .max_attempts = 3, .base_ms = INT64_MAX, .max_ms = INT64_MAX, .budget_ms = 0};
    CHECK_INT(retry_delay_ms(&huge, 60, -1, NULL), RETRY_DELAY_CEILING_MS);
    retry_policy_t uncapped = {.max_attempts = 3, .base_ms = 1000, .max_ms = 0, .budget_ms = 0};
    CHECK_INT(retry_delay_ms(&uncapped, 100, -1, NULL), RETRY_DELAY_CEILING_MS);
    /* The default policy. */
    CHECK_INT(retry_policy_default.max_attempts, 5);
    CHECK_INT(retry_delay_ms(NULL, 1, -1, NULL), 200);
    CHECK_INT(retry_delay_ms(NULL, 20, -1, NULL), 30000);
}

static void test_delay_jitter(void)
{
    retry_policy_t p = {.max_attempts = 10, .base_ms = 1000, .max_ms = 8000, .budget_ms = 0};
    uint64_t state = 12345;
    int64_t min_seen = INT64_MAX, max_seen = 0;
    int distinct_low = 0;
    for (int i = 0; i < 2000; i++) {
        int64_t d = retry_delay_ms(&p, 3, -1, &state); /* nominal 4000 */
        CHECK(d >= 2000 && d <= 4000);
        if (d < min_seen)
            min_seen = d;
        if (d > max_seen)
            max_seen = d;
        if (d < 3000)
            distinct_low++;
    }
    /* The whole range is used, roughly uniformly. */
    CHECK(min_seen < 2100);
    CHECK(max_seen > 3900);
    CHECK(distinct_low > 800 && distinct_low < 1200);
    /* Same seed, same sequence; a zero seed still moves. */
    uint64_t a = 42, b = 42;
    CHECK_INT(retry_delay_ms(&p, 2, -1, &a), retry_delay_ms(&p, 2, -1, &b));
    uint64_t z = 0;
    retry_delay_ms(&p, 2, -1, &z);
    CHECK(z != 0);
    /* Jitter never goes below Retry-After. */
    for (int i = 0; i < 100; i++)
        CHECK(retry_delay_ms(&p, 1, 900, &state) >= 900);
    /* A 1 ms delay jitters within [0, 1]. */
    retry_policy_t tiny = {.max_attempts = 3, .base_ms = 1, .max_ms = 1, .budget_ms = 0};
    for (int i = 0; i < 20; i++) {
        int64_t d = retry_delay_ms(&tiny, 1, -1, &state);
        CHECK(d >= 0 && d <= 1);
    }
}

static void test_allowed(void)
{
    retry_policy_t p = {.max_attempts = 3, .base_ms = 100, .max_ms = 1000, .budget_ms = 5000};
    CHECK(retry_allowed(&p, 1, 0, 100));
    CHECK(retry_allowed(&p, 2, 0, 100));
    CHECK(!retry_allowed(&p, 3, 0, 100));
    CHECK(!retry_allowed(&p, 4, 0, 100));
    CHECK(retry_allowed(&p, 1, 4900, 100));
    CHECK(!retry_allowed(&p, 1, 4901, 100));
    CHECK(!retry_allowed(&p, 1, 6000, 0));
    CHECK(!retry_allowed(&p, 1, 0, INT64_MAX));
    CHECK(!retry_allowed(&p, 1, INT64_MAX, INT64_MAX));
    CHECK(retry_allowed(&p, 1, -100, -100));
    retry_policy_t unlimited = {.max_attempts = 2, .base_ms = 100, .max_ms = 1000, .budget_ms = 0};
    CHECK(retry_allowed(&unlimited, 1, INT64_MAX, INT64_MAX));
    CHECK(!retry_allowed(&unlimited, 2, 0, 0));
    retry_policy_t one = {.max_attempts = 0, .base_ms = 100, .max_ms = 1000, .budget_ms = 0};
    CHECK(!retry_allowed(&one, 1, 0, 0));
    CHECK(retry_allowed(&one, 0, 0, 0));
    CHECK(retry_allowed(NULL, 4, 0, 1000));
    CHECK(!retry_allowed(NULL, 5, 0, 1000));
    CHECK(!retry_allowed(NULL, 1, 5 * 60 * 1000, 1));
}

static void expect_after(const char *value, time_t now, int64_t want_ms)
{
    int64_t got = -12345;
    int rc = retry_after_parse(value, now, &got);
    CHECK_INT(rc, 0);
    if (rc)
        fprintf(stderr, "  input '%s'\n", value);
    CHECK_INT(got, want_ms);
}

static void expect_bad_after(const char *value)
{
    int64_t got = -12345;
    CHECK_INT(retry_after_parse(value, EXAMPLE_EPOCH, &got), FERRY_EINVAL);
    CHECK_INT(got, -12345);
}

static void test_retry_after(void)
{
    expect_after("120", 0, 120000);
    expect_after("0", 0, 0);
    expect_after("  7 ", 0, 7000);
    expect_after("007", 0, 7000);
    expect_after("99999999999999999999999999", 0, (int64_t)RETRY_AFTER_MAX_S * 1000);
    /* The three date forms, 30 s after now. */
    expect_after("Sun, 06 Nov 1994 08:50:07 GMT", EXAMPLE_EPOCH, 30000);
    expect_after("Sunday, 06-Nov-94 08:50:07 GMT", EXAMPLE_EPOCH, 30000);
    expect_after("Sun Nov  6 08:50:07 1994", EXAMPLE_EPOCH, 30000);
    expect_after("Sun Nov 16 08:49:37 1994", EXAMPLE_EPOCH, 10LL * 86400 * 1000);
    /* Past dates clamp to 0. */
    expect_after("Sun, 06 Nov 1994 08:49:36 GMT", EXAMPLE_EPOCH, 0);
    expect_after("Thu, 01 Jan 1970 00:00:00 GMT", EXAMPLE_EPOCH, 0);
    /* Leap day, year ends, and a 2-digit year near a century. */
    expect_after("Thu, 29 Feb 2024 00:00:00 GMT", (time_t)1709164800 - 60, 60000);
    expect_after("Fri, 31 Dec 1999 23:59:59 GMT", (time_t)946684799 - 1, 1000);
    expect_after("Saturday, 01-Jan-00 00:00:00 GMT", (time_t)946684800 - 5, 5000);
    /* A 2-digit year more than 50 years ahead is in the past century. */
    expect_after("Friday, 01-Jan-99 00:00:00 GMT", (time_t)946684800, 0);

    expect_bad_after(NULL);
    expect_bad_after("");
    expect_bad_after("   ");
    expect_bad_after("-5");
    expect_bad_after("+5");
    expect_bad_after("1.5");
    expect_bad_after("5s");
    expect_bad_after("soon");
    expect_bad_after("Sun, 06 Nov 1994 08:49:37 UTC");
    expect_bad_after("Sun, 06 Nov 1994 08:49:37");
    expect_bad_after("Sun, 06 Nov 1994 08:49:37 GMT junk");
    expect_bad_after("Sun, 6 Nov 1994 08:49:37 GMT");
    expect_bad_after("Sun, 06 Foo 1994 08:49:37 GMT");
    expect_bad_after("Sun, 31 Nov 1994 08:49:37 GMT");
    expect_bad_after("Sun, 29 Feb 1900 08:49:37 GMT");
    expect_bad_after("Sun, 00 Nov 1994 08:49:37 GMT");
    expect_bad_after("Sun, 06 Nov 1994 24:00:00 GMT");
    expect_bad_after("Sun, 06 Nov 1994 08:60:00 GMT");
    expect_bad_after("Sun, 06 Nov 1994 08:49:61 GMT");
    expect_bad_after("Xyz, 06 Nov 1994 08:49:37 GMT");
    expect_bad_after("Sunday, 06 Nov 1994 08:49:37 GMT");
    expect_bad_after("Sun, 06-Nov-94 08:49:37 GMT");
    expect_bad_after("Sun Nov 6 08:49:37 1994");
    expect_bad_after("Sun Nov  6 08:49:37 1994 GMT");
    expect_bad_after("Sun,06 Nov 1994 08:49:37 GMT");
    expect_bad_after("Wednesdayy, 06-Nov-94 08:49:37 GMT");
    expect_bad_after("120\r\nX-Injected: 1");
    char long_value[100];
    memset(long_value, '1', sizeof long_value - 1);
    long_value[sizeof long_value - 1] = '\0';
    expect_bad_after(long_value);
}

int main(void)
{
    test_delay_without_jitter();
    test_delay_jitter();
    test_allowed();
    test_retry_after();
    return test_report();
}
