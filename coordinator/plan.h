/* plan — the task graph of a migration.
 *
 * Blobs are deduplicated per target registry: the first target repository
 * that needs a blob gets a copy task; every other repository of that
 * registry gets a mount task that waits for the copy. Manifests wait for
 * their blobs, indexes for their children, tags for their manifests. Strings
 * are interned, so a plan of many tags stays small. */
#ifndef FERRY_PLAN_H
#define FERRY_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plan_state {
    PLAN_WAITING = 1, /* dependencies unfinished */
    PLAN_READY,       /* can be dispatched */
    PLAN_RUNNING,     /* leased to an agent */
    PLAN_DONE,        /* finished: copied, mounted, skipped or already journaled */
    PLAN_FAILED,      /* failed for good */
};

typedef struct plan_task plan_task_t;
struct plan_task {
    uint64_t id;             /* >= 1 */
    uint8_t kind;            /* enum proto_task_kind */
    uint8_t state;           /* enum plan_state */
    uint8_t outcome;         /* enum proto_outcome once done */
    uint16_t src_ep, dst_ep; /* endpoint indexes of the caller's table */
    const char *src_repo;    /* interned */
    const char *dst_repo;    /* interned */
    const char *digest;      /* interned */
    const char *media_type;  /* interned, manifests */
    const char *tag;         /* interned, manifests pushed by tag, else NULL */
    const char *mount_from;  /* interned, mount tasks */
    int64_t size;            /* bytes, -1 unknown */
    uint32_t attempt;        /* 1 for the first dispatch */
    uint32_t n_deps;         /* unfinished dependencies */
    uint32_t n_dependents;   /* tasks waiting for this one */
    uint32_t cap_dependents;
    plan_task_t **dependents; /* owned array */
    char *error;              /* why it failed, owned */
    int64_t not_before_ms;    /* earliest retry time */
    plan_task_t *next_ready;  /* ready queue link */
};

typedef struct plan plan_t;

plan_t *plan_new(void);
void plan_destroy(plan_t **self_p);
/* Interns a string for the plan's lifetime; NULL when out of memory. */
const char *plan_intern(plan_t *p, const char *s);

/* The task that makes blob digest available in dst_repo of registry dst_ep:
 * a copy from src_repo for the first repository of that registry, a mount
 * from that repository (waiting for the copy) for every other. Repeated
 * calls return the same task. NULL when out of memory. */
plan_task_t *plan_blob(plan_t *p, uint16_t src_ep, const char *src_repo, uint16_t dst_ep,
                       const char *dst_repo, const char *digest, int64_t size);
/* The task that pushes manifest digest to dst_repo, by tag when tag is not
 * NULL, else by digest. Repeated calls return the same task. */
plan_task_t *plan_manifest(plan_t *p, uint16_t src_ep, const char *src_repo, uint16_t dst_ep,
                           const char *dst_repo, const char *digest, const char *media_type,
                           const char *tag, int64_t size);
/* Makes t wait for dep (nothing when dep is already done; t fails at once
 * when dep already failed). 0 or FERRY_ENOMEM. */
int plan_depend(plan_t *p, plan_task_t *t, plan_task_t *dep);
/* Queues every task without unfinished dependencies; from then on a task
 * is queued as soon as it has none (plan_release for a new one), so tasks
 * may still be added while others run. */
void plan_seal(plan_t *p);
/* Call when every dependency of a new task is added: queues it when it has
 * none left and the plan is sealed (else plan_seal will). */
void plan_release(plan_t *p, plan_task_t *t);
/* A dependency not yet known (an index's child still being fetched): t
 * waits until plan_unhold. */
void plan_hold(plan_task_t *t);
void plan_unhold(plan_t *p, plan_task_t *t);

/* Next task ready at now_ms (backoff respected), moved to RUNNING; NULL when
 * none. */
plan_task_t *plan_next_ready(plan_t *p, int64_t now_ms);
/* Bytes of the copy-blob tasks queued (ready, or waiting out a backoff). */
uint64_t plan_ready_bytes(const plan_t *p);
/* Earliest not_before_ms of queued tasks, or -1 when none is queued. */
int64_t plan_next_due(const plan_t *p);
/* Marks t done (outcome), releasing its dependents. */
void plan_task_done(plan_t *p, plan_task_t *t, int outcome);
/* Puts a running task back in the queue (agent lost, retryable failure). */
void plan_task_requeue(plan_t *p, plan_task_t *t, int64_t not_before_ms);
/* Marks t failed with a reason (copied), and every task depending on it,
 * transitively, with "<kind> <digest> failed: <reason>". */
void plan_task_failed(plan_t *p, plan_task_t *t, const char *reason);

plan_task_t *plan_task_by_id(const plan_t *p, uint64_t id);
size_t plan_task_count(const plan_t *p);
plan_task_t *plan_task_at(const plan_t *p, size_t i);
/* Tasks not yet done or failed. */
size_t plan_unfinished(const plan_t *p);
/* Approximate heap bytes the plan uses (for the memory-per-tag figure). */
size_t plan_memory(const plan_t *p);

#endif
