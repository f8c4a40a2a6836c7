/* testlib — the small check macros every ferry C test uses.
 *
 * A test program runs its checks, prints each failure with file and line, and
 * returns test_report(): 0 when every check passed, 1 otherwise. */
#ifndef FERRY_TESTLIB_H
#define FERRY_TESTLIB_H

#include <stdio.h>
#include <string.h>

static int test_checks;
static int test_failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        test_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(actual, expected)                                                                \
    do {                                                                                           \
        long long check_a_ = (long long)(actual), check_e_ = (long long)(expected);                \
        test_checks++;                                                                             \
        if (check_a_ != check_e_) {                                                                \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is %lld, expected %lld\n", __FILE__, __LINE__, #actual,     \
                    check_a_, check_e_);                                                           \
        }                                                                                          \
    } while (0)

#define CHECK_STR(actual, expected)                                                                \
    do {                                                                                           \
        const char *check_a_ = (actual), *check_e_ = (expected);                                   \
        test_checks++;                                                                             \
        if (!check_a_ || !check_e_ ? check_a_ != check_e_ : strcmp(check_a_, check_e_) != 0) {     \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #actual, \
                    check_a_ ? check_a_ : "(null)", check_e_ ? check_e_ : "(null)");               \
        }                                                                                          \
    } while (0)

/* Checks that a message contains a substring. */
#define CHECK_CONTAINS(haystack, needle)                                                           \
    do {                                                                                           \
        const char *check_h_ = (haystack), *check_n_ = (needle);                                   \
        test_checks++;                                                                             \
        if (!check_h_ || !strstr(check_h_, check_n_)) {                                            \
            test_failures++;                                                                       \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__,         \
                    check_h_ ? check_h_ : "(null)", check_n_);                                     \
        }                                                                                          \
    } while (0)

static inline int test_report(void)
{
    fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
