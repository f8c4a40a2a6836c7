/* Unit test of select: the one selection path (regexes, newest N, platforms). */
#include <stdlib.h>
#include <string.h>

#include "coordinator/select.h"
#include "testlib.h"

/* n candidates named by names[], with times[] (NULL: every time unknown). */
static select_tag_t *cands(const char *const *names, const int64_t *times, size_t n)
{
    select_tag_t *t = calloc(n ? n : 1, sizeof *t);
    for (size_t i = 0; t && i < n; i++) {
        t[i].name = strdup(names[i]);
        t[i].time = times ? times[i] : -1;
    }
    return t;
}

static void test_regexes_then_sorted(void)
{
    ferry_err_t err = {0};
    mig_select_t sel = {.include = "^v", .exclude = "rc"};
    selector_t *s = selector_new(&sel, &err);
    CHECK(s != NULL);
    const char *names[] = {"v2", "latest", "v1-rc1", "v1", "dev"};
    size_t n = 5;
    select_tag_t *t = cands(names, NULL, n);
    CHECK_INT(select_tags(t, &n, s, false), 0);
    CHECK_INT(n, 2);
    CHECK_STR(t[0].name, "v1");
    CHECK_STR(t[1].name, "v2");
    select_tags_free(t, n);
    selector_destroy(&s);
    CHECK(s == NULL);

    /* No selector: everything, sorted by name. */
    n = 5;
    t = cands(names, NULL, n);
    CHECK_INT(select_tags(t, &n, NULL, false), 0);
    CHECK_INT(n, 5);
    CHECK_STR(t[0].name, "dev");
    select_tags_free(t, n);
}

static void test_latest(void)
{
    ferry_err_t err = {0};
    mig_select_t sel = {.latest = 3, .exclude = "^skip"};
    selector_t *s = selector_new(&sel, &err);
    CHECK_INT(selector_latest(s), 3);
    const char *names[] = {"old", "unknown-b", "new", "mid-a", "mid-b", "unknown-a", "newest",
                           "skip-newer"};
    const int64_t times[] = {100, -1, 300, 200, 200, -1, 400, 999};
    size_t n = 8;
    select_tag_t *t = cands(names, NULL, n);
    /* Times not known yet: the regexes ran, the caller is asked for times. */
    CHECK_INT(select_tags(t, &n, s, false), SELECT_NEED_TIMES);
    CHECK_INT(n, 7);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < 8; j++)
            if (strcmp(t[i].name, names[j]) == 0)
                t[i].time = times[j];
    CHECK_INT(select_tags(t, &n, s, true), 0);
    CHECK_INT(n, 3); /* newest, new, and mid-b before mid-a (names descending) */
    CHECK_STR(t[0].name, "mid-b");
    CHECK_STR(t[1].name, "new");
    CHECK_STR(t[2].name, "newest");
    select_tags_free(t, n);

    /* Unknown times go last; the input order does not matter. */
    const char *again[] = {"unknown-a", "mid-a", "unknown-b", "old"};
    const int64_t again_t[] = {-1, 200, -1, 100};
    n = 4;
    t = cands(again, again_t, n);
    CHECK_INT(select_tags(t, &n, s, true), 0);
    CHECK_INT(n, 3);
    CHECK_STR(t[0].name, "mid-a");
    CHECK_STR(t[1].name, "old");
    CHECK_STR(t[2].name, "unknown-b");
    select_tags_free(t, n);

    /* Fewer candidates than N: no times needed. */
    n = 2;
    t = cands(again, NULL, n);
    CHECK_INT(select_tags(t, &n, s, false), 0);
    CHECK_INT(n, 2);
    select_tags_free(t, n);
    selector_destroy(&s);
}

static void test_bad_selections(void)
{
    ferry_err_t err = {0};
    mig_select_t sel = {.include = "v(1"};
    CHECK(selector_new(&sel, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "invalid include regex");
    char *bad[] = {"linux"};
    mig_select_t plat = {.platforms = bad, .n_platforms = 1};
    CHECK(selector_new(&plat, &err) == NULL);
    CHECK_CONTAINS(err.message, "invalid platform 'linux'");
    mig_select_t neg = {.latest = -1};
    CHECK(selector_new(&neg, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
}

static void test_platform(void)
{
    ferry_err_t err = {0};
    char *want[] = {"linux/riscv64", "linux/arm64/v8"};
    mig_select_t sel = {.platforms = want, .n_platforms = 2};
    selector_t *s = selector_new(&sel, &err);
    CHECK(selector_has_platforms(s));
    manifest_desc_t children[3] = {0};
    children[0].os = "linux";
    children[0].arch = "amd64";
    children[1].os = "linux";
    children[1].arch = "arm64";
    children[2].os = "linux";
    children[2].arch = "riscv64";
    manifest_t index = {0};
    index.children = children;
    index.n_children = 3;
    /* The first child in the index's order that any platform wants. */
    CHECK(select_platform(&index, s) == &children[1]);
    children[1].arch = "arm";
    CHECK(select_platform(&index, s) == &children[2]);
    children[2].arch = "s390x";
    CHECK(select_platform(&index, s) == NULL);
    selector_destroy(&s);
    CHECK(!selector_has_platforms(NULL));
}

int main(void)
{
    test_regexes_then_sorted();
    test_latest();
    test_bad_selections();
    test_platform();
    return test_report();
}
