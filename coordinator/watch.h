/* watch — continuous replication until the cutover: a pass now, then one
 * every --watch INTERVAL and one as soon as push events arrive on --http,
 * until SIGTERM/SIGINT or --until. Passes never overlap; each one uses the
 * journal, so an idle pass costs what a journaled re-run costs. */
#ifndef FERRY_WATCH_H
#define FERRY_WATCH_H

#include <signal.h>
#include <stdbool.h>

#include "coordinator/mig.h"

typedef struct watch_opts {
    double interval_s;           /* --watch: seconds between the end of a pass and the next */
    double until;                /* --until: Unix time to stop at, 0 = none */
    const char *http;            /* --http HOST:PORT, or NULL */
    const char *token;           /* --http-token: events' Authorization value, or NULL */
    volatile sig_atomic_t *stop; /* set on SIGINT/SIGTERM */
} watch_opts_t;

/* How a pass differs from a plain run. */
typedef struct watch_pass {
    const mig_only_t *only; /* push events: only these; NULL = everything */
    void (*on_publish)(void *ud, const metrics_snapshot_t *s);
    void *publish_ud;
} watch_pass_t;

/* Builds the migration of one pass (the caller's selection, with pass's
 * fields in its options): *out set and 0, or an exit code (2) when it
 * cannot be built. */
typedef int (*watch_build_fn)(void *ud, const watch_pass_t *pass, mig_t **out);

/* Takes --watch INTERVAL, --until TIME, --http ADDR and --http-token TOKEN
 * (or @FILE) out of argv (argc updated; the rest stays in order for the
 * command's own options). *on is set when --watch was given. 0, or 2 with a
 * message for a bad value or one given without --watch. */
int watch_take_args(int *argc, char **argv, watch_opts_t *o, bool *on);

/* Runs passes until a stop request or --until. Returns 0 when stopped (the
 * running pass drained, journal and report written), else the last pass's
 * exit code at --until; 2 when the first pass cannot be built or --http
 * cannot listen. The last pass's summary, banner last, is printed at the end. */
int watch_run(const watch_opts_t *o, watch_build_fn build, void *ud);

#endif
