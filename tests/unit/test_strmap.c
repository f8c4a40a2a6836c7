/* test_strmap — the string map: replace and remove semantics, interning, and
 * 200,000 plan-like keys with a memory figure per entry. */
#include "common/err.h"
#include "common/strmap.h"
#include "testlib.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>

#define BIG_N 200000

static int freed_values;

static void count_free(void *value)
{
    freed_values++;
    free(value);
}

static void test_basics(void)
{
    strmap_t *m = strmap_new();
    CHECK(m != NULL);
    CHECK_INT(strmap_size(m), 0);
    CHECK(strmap_get(m, "absent") == NULL);
    CHECK(!strmap_has(m, "absent"));
    CHECK(strmap_key(m, "absent") == NULL);
    CHECK_INT(strmap_remove(m, "absent", NULL), FERRY_ENOTFOUND);
    size_t it = 0;
    CHECK(!strmap_next(m, &it, NULL, NULL));

    int a = 1, b = 2;
    void *old = &b;
    CHECK_INT(strmap_put(m, "k", &a, &old), 0);
    CHECK(old == NULL);
    CHECK(strmap_get(m, "k") == &a);
    CHECK_INT(strmap_put(m, "k", &b, &old), 0);
    CHECK(old == &a);
    CHECK(strmap_get(m, "k") == &b);
    CHECK_INT(strmap_size(m), 1);

    /* The key is copied: changing the caller's buffer changes nothing. */
    char buf[] = "mutable";
    CHECK_INT(strmap_put(m, buf, NULL, NULL), 0);
    buf[0] = 'X';
    CHECK(strmap_has(m, "mutable"));
    CHECK(!strmap_has(m, "Xutable"));
    /* A NULL value is present for has(), absent-looking for get(). */
    CHECK(strmap_get(m, "mutable") == NULL);

    /* Interning: the same pointer for equal strings. */
    const char *k1 = strmap_key(m, "mutable");
    char other[] = "mutable";
    CHECK(k1 != NULL && k1 != other);
    CHECK(strmap_key(m, other) == k1);
    CHECK_STR(k1, "mutable");

    /* The empty key is a key like any other. */
    CHECK_INT(strmap_put(m, "", &a, NULL), 0);
    CHECK(strmap_get(m, "") == &a);
    CHECK_INT(strmap_size(m), 3);

    void *removed = NULL;
    CHECK_INT(strmap_remove(m, "k", &removed), 0);
    CHECK(removed == &b);
    CHECK_INT(strmap_remove(m, "k", &removed), FERRY_ENOTFOUND);
    CHECK(removed == NULL);
    CHECK_INT(strmap_size(m), 2);

    strmap_destroy(&m, NULL);
    CHECK(m == NULL);
    strmap_destroy(&m, NULL);
    strmap_destroy(NULL, NULL);
}

/* destroy hands every remaining value to free_value exactly once. */
static void test_destroy_frees_values(void)
{
    strmap_t *m = strmap_new();
    freed_values = 0;
    for (int i = 0; i < 100; i++) {
        char key[32];
        snprintf(key, sizeof key, "v%d", i);
        CHECK_INT(strmap_put(m, key, malloc(8), NULL), 0);
    }
    void *value = NULL;
    CHECK_INT(strmap_remove(m, "v7", &value), 0);
    free(value);
    strmap_destroy(&m, count_free);
    CHECK_INT(freed_values, 99);
}

/* Bytes the allocator has handed out: small chunks plus mmap()ed ones (the
 * table itself). 0 under a sanitizer's allocator. */
static size_t heap_in_use(void)
{
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

static void make_key(char *out, size_t size, size_t i)
{
    /* Shaped like the coordinator's keys: long, sharing a prefix. */
    snprintf(out, size, "blob registry.example.com:5000/team/app%zu@sha256:%064zx", i % 997,
             i * 2654435761u);
}

static void test_large(void)
{
    char key[160];
    size_t key_bytes = 0;
    size_t before = heap_in_use();
    strmap_t *m = strmap_new();
    int rc = 0;
    for (size_t i = 0; i < BIG_N && rc == 0; i++) {
        make_key(key, sizeof key, i);
        key_bytes += strlen(key) + 1;
        rc = strmap_put(m, key, (void *)(uintptr_t)(i + 1), NULL);
    }
    CHECK_INT(rc, 0);
    CHECK_INT(strmap_size(m), BIG_N);
    size_t after = heap_in_use();
    if (after > before) {
        double per_entry = (double)(after - before) / BIG_N;
        double key_avg = (double)key_bytes / BIG_N;
        fprintf(stderr,
                "strmap: %d entries, %.1f bytes/entry in all (keys average %.1f bytes, "
                "so %.1f bytes/entry of overhead)\n",
                BIG_N, per_entry, key_avg, per_entry - key_avg);
        /* Table slots at most 24 bytes over a load of at least 3/8, plus the
         * allocator's 8-16 bytes around each key. */
        CHECK(per_entry - key_avg < 90);
    } else {
        fprintf(stderr, "strmap: mallinfo2 unavailable (sanitizer allocator); no memory figure\n");
    }

    size_t wrong = 0;
    for (size_t i = 0; i < BIG_N; i++) {
        make_key(key, sizeof key, i);
        if (strmap_get(m, key) != (void *)(uintptr_t)(i + 1))
            wrong++;
    }
    CHECK_INT(wrong, 0);

    /* Remove the odd ones; backward shifting must keep every even one findable. */
    size_t remove_failures = 0;
    for (size_t i = 1; i < BIG_N; i += 2) {
        make_key(key, sizeof key, i);
        void *value = NULL;
        if (strmap_remove(m, key, &value) != 0 || value != (void *)(uintptr_t)(i + 1))
            remove_failures++;
    }
    CHECK_INT(remove_failures, 0);
    CHECK_INT(strmap_size(m), BIG_N / 2);
    wrong = 0;
    for (size_t i = 0; i < BIG_N; i++) {
        make_key(key, sizeof key, i);
        bool want = i % 2 == 0;
        if (strmap_has(m, key) != want)
            wrong++;
    }
    CHECK_INT(wrong, 0);

    /* Iteration visits each remaining entry once, with its own value. */
    unsigned char *seen = calloc(BIG_N, 1);
    size_t visits = 0, bad = 0;
    const char *k = NULL;
    void *v = NULL;
    for (size_t it = 0; strmap_next(m, &it, &k, &v);) {
        size_t i = (size_t)(uintptr_t)v - 1;
        visits++;
        make_key(key, sizeof key, i);
        if (i >= BIG_N || i % 2 || seen[i] || strcmp(k, key) != 0)
            bad++;
        else
            seen[i] = 1;
    }
    CHECK_INT(visits, BIG_N / 2);
    CHECK_INT(bad, 0);
    free(seen);

    /* Re-inserting after removals reuses the table. */
    make_key(key, sizeof key, 1);
    CHECK_INT(strmap_put(m, key, (void *)(uintptr_t)42, NULL), 0);
    CHECK(strmap_get(m, key) == (void *)(uintptr_t)42);
    strmap_destroy(&m, NULL);
}

/* Keys colliding in the low bits of a small table, removed in an order that
 * exercises wrap-around of the probe run. */
static void test_churn(void)
{
    strmap_t *m = strmap_new();
    char key[32];
    size_t wrong = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 12; i++) {
            snprintf(key, sizeof key, "r%d-%d", round, i);
            CHECK_INT(strmap_put(m, key, (void *)(uintptr_t)(i + 1), NULL), 0);
        }
        for (int i = 0; i < 12; i += 3) {
            snprintf(key, sizeof key, "r%d-%d", round, i);
            CHECK_INT(strmap_remove(m, key, NULL), 0);
        }
        for (int r = 0; r <= round; r++)
            for (int i = 0; i < 12; i++) {
                snprintf(key, sizeof key, "r%d-%d", r, i);
                void *want = i % 3 == 0 ? NULL : (void *)(uintptr_t)(i + 1);
                if (strmap_get(m, key) != want || strmap_has(m, key) != (want != NULL))
                    wrong++;
            }
    }
    CHECK_INT(wrong, 0);
    CHECK_INT(strmap_size(m), 50 * 8);
    strmap_destroy(&m, NULL);
}

int main(void)
{
    test_basics();
    test_destroy_frees_values();
    test_large();
    test_churn();
    return test_report();
}
