/* events — push notifications from registries, as they arrive at
 * `--http`'s POST /events: the distribution registry's notification
 * envelope (application/vnd.docker.distribution.events.v1+json) and
 * Harbor's webhook JSON (TCR Enterprise is Harbor-based). */
#ifndef FERRY_EVENTS_H
#define FERRY_EVENTS_H

#include <stddef.h>

#include "common/err.h"

/* Largest event body read; more is refused. */
#define EVENTS_BODY_MAX (1024 * 1024)
/* Most events taken from one body. */
#define EVENTS_PER_BODY 1000

/* Called for each push of a manifest: repository, and its tag (NULL when
 * the manifest was pushed by digest: the whole repository is to be looked
 * at). Both are checked against the distribution spec's grammar first. */
typedef void (*events_fn)(void *ud, const char *repository, const char *tag);

/* Parses a body of len bytes; calls fn for each push of a manifest, in the
 * body's order. Other actions (pull, delete), blob pushes and entries with
 * names that fail the grammar are skipped and counted in *skipped (may be
 * NULL). 0, or FERRY_EINVAL for a body that is neither format (err says
 * why), FERRY_ETOOBIG. */
int events_parse(const char *body, size_t len, events_fn fn, void *ud, size_t *skipped,
                 ferry_err_t *err);

#endif
