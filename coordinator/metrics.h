/* metrics — what a running migration exposes to operators: a metrics file in
 * the Prometheus text format (for node exporter's textfile collector) and a
 * JSON status file that `ferry status` reads. Both are replaced atomically. */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* What one agent did in a run. */
typedef struct metrics_agent {
    char *id;                     /* the agent's id (HELLO); owned by whoever fills it */
    uint64_t tasks, failed, bytes; /* tasks finished, failed attempts, blob bytes moved */
    double seconds;               /* from its first task's start to its last result */
} metrics_agent_t;

/* Continuous replication (--watch), across passes. */
typedef struct metrics_watch {
    uint64_t passes;    /* passes finished */
    double last_pass_s; /* the last one's duration */
    uint64_t events;    /* push events accepted */
    double last_event;  /* Unix time of the last, 0 none */
    double lag_s;       /* age of the oldest source change not yet at the target */
} metrics_watch_t;

typedef struct metrics_snapshot {
    const char *phase; /* "discover", "inspect", "transfer", "finished", "interrupted" */
    double started;    /* Unix time the run started */
    double elapsed_s;
    size_t images_total;
    size_t images_migrated, images_skipped, images_failed;
    size_t repos_failed; /* tag listings that failed */
    size_t tasks_total, tasks_done, tasks_failed, tasks_running;
    uint64_t blobs_copied, blobs_mounted, blobs_skipped;
    uint64_t bytes_moved; /* blob bytes transferred */
    uint64_t bytes_planned;
    int agents; /* connected agents */
    const metrics_agent_t *agent_list; /* per agent, n_agent_list of them; borrowed */
    size_t n_agent_list;
    double wait_s;     /* time the transfer waited for agents */
    double transfer_s; /* time since the first task went out */
    const metrics_watch_t *watch; /* --watch's figures, NULL outside it; borrowed */
} metrics_snapshot_t;

/* The Prometheus text format of s into *out (initialised here; the caller
 * frees it with fbuf_free). 0 or FERRY_ENOMEM. */
int metrics_render_prometheus(fbuf_t *out, const metrics_snapshot_t *s);
/* The JSON status of s, newline-terminated (caller frees); NULL when out
 * of memory. */
char *metrics_render_status(const metrics_snapshot_t *s, size_t *len_out);
/* Writes the Prometheus text format to path (temp file + rename). */
int metrics_write_prometheus(const char *path, const metrics_snapshot_t *s, ferry_err_t *err);
/* Writes the JSON status to path (temp file + rename), with the writer's pid
 * and the time of writing. */
int metrics_write_status(const char *path, const metrics_snapshot_t *s, ferry_err_t *err);
/* `ferry status FILE`: prints a running or finished migration's status from
 * its status file. Returns 0 when it is running or finished without
 * failures, 1 when something failed or the coordinator stopped without
 * finishing, 2 when the file cannot be read. */
int metrics_status_main(int argc, char **argv);

#endif
