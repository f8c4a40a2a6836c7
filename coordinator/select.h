/* select — the one path every candidate tag takes, whatever found it (a
 * registry's tag listing, a rules file, the command line, the Tencent Cloud
 * API): the include and exclude regexes, then the newest N by time, then the
 * platforms of a multi-platform image. Every selection flag means the same in
 * every subcommand. */
#ifndef FERRY_SELECT_H
#define FERRY_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/manifest.h"
#include "coordinator/mig.h"

typedef struct selector selector_t;

/* A candidate tag. */
typedef struct select_tag {
    char *name;   /* owned */
    int64_t time; /* creation or push time, Unix seconds; -1 when not known (yet) */
} select_tag_t;

/* The newest N needs times that are not known yet (select_tags). */
#define SELECT_NEED_TIMES 1

/* Compiles a selection (NULL or all-empty: everything). Strings are copied.
 * NULL with err set: FERRY_EINVAL naming the bad regex or platform,
 * FERRY_ENOMEM. */
selector_t *selector_new(const mig_select_t *sel, ferry_err_t *err);
/* Frees a selector; accepts NULL and a NULL *self_p, and nulls the pointer. */
void selector_destroy(selector_t **self_p);

/* Newest N (0 = every tag). */
int selector_latest(const selector_t *s);
/* True when the selection keeps only some platforms of an index. */
bool selector_has_platforms(const selector_t *s);

/* Selects among n candidates in place: drops (and frees) those the regexes
 * refuse, then, when the newest N applies, keeps the N newest (unknown times
 * last; equal times by name descending). Survivors are sorted by name. When
 * the newest N applies and times_known is false, stops after the regexes and
 * returns SELECT_NEED_TIMES: the caller fills in the times (-1 where none)
 * and calls again with times_known true. Returns 0 or SELECT_NEED_TIMES. */
int select_tags(select_tag_t *tags, size_t *n, const selector_t *s, bool times_known);

/* True when tag passes the selection's regexes (the newest N aside). */
bool select_match(const selector_t *s, const char *tag);

/* The child of an index the platforms choose (the first child matching any
 * wanted platform, in the index's order); NULL when none matches. */
const manifest_desc_t *select_platform(const manifest_t *index, const selector_t *s);

/* Frees n candidates' names and the array. */
void select_tags_free(select_tag_t *tags, size_t n);

#endif
