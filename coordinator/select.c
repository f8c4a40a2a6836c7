/* select — regexes, newest N and platforms, in that order, for every source
 * of candidate tags. */
#include "coordinator/select.h"

#include <stdlib.h>
#include <string.h>

#include "coordinator/tagfilter.h"

struct selector {
    tagfilter_t *filter; /* include/exclude regexes, NULL: every tag */
    int latest;          /* newest N, 0 = all */
    char **platforms;    /* "os/arch[/variant]" wanted, none = all (keeps indexes) */
    size_t n_platforms;
};

selector_t *selector_new(const mig_select_t *sel, ferry_err_t *err)
{
    selector_t *s = calloc(1, sizeof *s);
    if (!s)
        goto oom;
    if (!sel)
        return s;
    if (sel->include || sel->exclude) {
        s->filter = tagfilter_new(sel->include, sel->exclude, err);
        if (!s->filter)
            goto fail;
    }
    if (sel->latest < 0) {
        ferry_err_set(err, FERRY_EINVAL, "the newest N must not be negative (%d)", sel->latest);
        goto fail;
    }
    s->latest = sel->latest;
    if (sel->n_platforms) {
        s->platforms = calloc(sel->n_platforms, sizeof *s->platforms);
        if (!s->platforms)
            goto oom;
        for (size_t i = 0; i < sel->n_platforms; i++) {
            if (platform_parse(sel->platforms[i], NULL, NULL, NULL, err) < 0)
                goto fail;
            if (!(s->platforms[i] = strdup(sel->platforms[i])))
                goto oom;
            s->n_platforms++;
        }
    }
    return s;
oom:
    ferry_err_set(err, FERRY_ENOMEM, "out of memory");
fail:
    selector_destroy(&s);
    return NULL;
}

void selector_destroy(selector_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    selector_t *s = *self_p;
    tagfilter_destroy(&s->filter);
    for (size_t i = 0; i < s->n_platforms; i++)
        free(s->platforms[i]);
    free(s->platforms);
    free(s);
    *self_p = NULL;
}

int selector_latest(const selector_t *s)
{
    return s ? s->latest : 0;
}

bool selector_has_platforms(const selector_t *s)
{
    return s && s->n_platforms > 0;
}

static int select_by_name(const void *a, const void *b)
{
    return strcmp(((const select_tag_t *)a)->name, ((const select_tag_t *)b)->name);
}

/* Keeps tags[0..keep) and frees the rest. */
static void select_truncate(select_tag_t *tags, size_t *n, size_t keep)
{
    for (size_t i = keep; i < *n; i++)
        free(tags[i].name);
    *n = keep;
}

/* Newest first, unknown (negative) times last, then name descending, so
 * the order never depends on the order of the input. */
static int select_by_age(const void *a, const void *b)
{
    const select_tag_t *x = a, *y = b;
    bool x_known = x->time >= 0, y_known = y->time >= 0;
    if (x_known != y_known)
        return x_known ? -1 : 1;
    if (x_known && x->time != y->time)
        return x->time > y->time ? -1 : 1;
    return -strcmp(x->name, y->name);
}

int select_tags(select_tag_t *tags, size_t *n, const selector_t *s, bool times_known)
{
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (select_match(s, tags[i].name))
            tags[kept++] = tags[i];
        else
            free(tags[i].name);
    }
    *n = kept;
    int latest = selector_latest(s);
    if (latest > 0 && (size_t)latest < *n) {
        if (!times_known)
            return SELECT_NEED_TIMES;
        qsort(tags, *n, sizeof *tags, select_by_age);
        select_truncate(tags, n, (size_t)latest);
    }
    if (*n > 1)
        qsort(tags, *n, sizeof *tags, select_by_name);
    return 0;
}

bool select_match(const selector_t *s, const char *tag)
{
    return !s || !s->filter || tagfilter_match(s->filter, tag);
}

const manifest_desc_t *select_platform(const manifest_t *index, const selector_t *s)
{
    if (!s)
        return NULL;
    for (size_t i = 0; i < index->n_children; i++)
        for (size_t p = 0; p < s->n_platforms; p++)
            if (platform_match(s->platforms[p], index->children[i].os, index->children[i].arch,
                               index->children[i].variant))
                return &index->children[i];
    return NULL;
}

void select_tags_free(select_tag_t *tags, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(tags[i].name);
    free(tags);
}
