/* progress — what a long migration shows while it runs: a live line on a
 * terminal, plain periodic lines otherwise, or one JSON event per line. */
#ifndef FERRY_PROGRESS_H
#define FERRY_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress progress_t;

typedef struct progress_state {
    const char *phase;  /* "discover", "inspect", "transfer" */
    size_t images_done; /* images finished (migrated, skipped or failed) */
    size_t images_total;
    size_t tasks_done;
    size_t tasks_total;
    uint64_t bytes_done;  /* blob bytes moved */
    uint64_t bytes_total; /* blob bytes planned */
    int agents;           /* agents connected */
    size_t failed;        /* images failed so far */
} progress_state_t;

/* mode: 0 auto (live when out is a terminal, else plain), 1 plain, 2 json, 3 none. */
progress_t *progress_new(int mode, FILE *out);
void progress_destroy(progress_t **self_p);
/* Shows the state if enough time passed since the last output (or force). */
void progress_update(progress_t *p, const progress_state_t *s, bool force);
/* Ends a live line so that other output starts on a new line. */
void progress_break(progress_t *p);

#endif
