/* plan — the task graph of a migration, with blob deduplication. */
#include "coordinator/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strmap.h"
#include "proto/proto.h"

struct plan {
    strmap_t *strings;      /* interned strings (values unused) */
    strmap_t *blob_origin;  /* "ep|digest" -> the copy task of that registry */
    strmap_t *blob_in_repo; /* "ep|repo|digest" -> copy or mount task */
    strmap_t *manifests;    /* "ep|repo|ref" -> put-manifest task */
    plan_task_t **tasks;    /* by id - 1 */
    size_t n_tasks, cap_tasks;
    plan_task_t *ready_head, *ready_tail; /* ready now */
    plan_task_t *delayed;                 /* ready after a backoff, unordered list */
    size_t unfinished;                    /* tasks neither done nor failed */
    uint64_t ready_bytes;                 /* bytes of the copies queued */
    size_t dep_bytes;                     /* memory of dependents arrays */
    bool sealed;
};

plan_t *plan_new(void)
{
    plan_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->strings = strmap_new();
    p->blob_origin = strmap_new();
    p->blob_in_repo = strmap_new();
    p->manifests = strmap_new();
    if (!p->strings || !p->blob_origin || !p->blob_in_repo || !p->manifests)
        plan_destroy(&p);
    return p;
}

void plan_destroy(plan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    plan_t *p = *self_p;
    for (size_t i = 0; i < p->n_tasks; i++) {
        free(p->tasks[i]->dependents);
        free(p->tasks[i]->error);
        free(p->tasks[i]);
    }
    free(p->tasks);
    strmap_destroy(&p->strings, NULL);
    strmap_destroy(&p->blob_origin, NULL);
    strmap_destroy(&p->blob_in_repo, NULL);
    strmap_destroy(&p->manifests, NULL);
    free(p);
    *self_p = NULL;
}

const char *plan_intern(plan_t *p, const char *s)
{
    if (!s)
        return NULL;
    const char *k = strmap_key(p->strings, s);
    if (k)
        return k;
    if (strmap_put(p->strings, s, NULL, NULL) < 0)
        return NULL;
    return strmap_key(p->strings, s);
}

static plan_task_t *task_new(plan_t *p, int kind)
{
    if (p->n_tasks == p->cap_tasks) {
        size_t cap = p->cap_tasks ? p->cap_tasks * 2 : 256;
        plan_task_t **t = realloc(p->tasks, cap * sizeof *t);
        if (!t)
            return NULL;
        p->tasks = t;
        p->cap_tasks = cap;
    }
    plan_task_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->id = p->n_tasks + 1;
    t->kind = (uint8_t)kind;
    t->state = PLAN_WAITING;
    t->attempt = 1;
    t->size = -1;
    p->tasks[p->n_tasks++] = t;
    p->unfinished++;
    return t;
}

/* A copy enters or leaves the queue (ready, or waiting out a backoff). */
static void ready_count(plan_t *p, const plan_task_t *t, bool in)
{
    if (t->kind != PROTO_KIND_COPY_BLOB || t->size <= 0)
        return;
    if (in)
        p->ready_bytes += (uint64_t)t->size;
    else
        p->ready_bytes -= (uint64_t)t->size;
}

static void ready_push(plan_t *p, plan_task_t *t)
{
    if (t->state != PLAN_READY)
        ready_count(p, t, true);
    t->state = PLAN_READY;
    t->next_ready = NULL;
    if (p->ready_tail)
        p->ready_tail->next_ready = t;
    else
        p->ready_head = t;
    p->ready_tail = t;
}

/* A task whose dependencies are met becomes ready (once the plan is sealed;
 * before that, plan_seal queues it). */
static void task_release(plan_t *p, plan_task_t *t)
{
    if (t->state == PLAN_WAITING && t->n_deps == 0 && p->sealed)
        ready_push(p, t);
}

plan_task_t *plan_blob(plan_t *p, uint16_t src_ep, const char *src_repo, uint16_t dst_ep,
                       const char *dst_repo, const char *digest, int64_t size)
{
    char key[1024];
    snprintf(key, sizeof key, "%u|%s|%s", dst_ep, dst_repo, digest);
    plan_task_t *t = strmap_get(p->blob_in_repo, key);
    if (t)
        return t;
    char okey[300];
    snprintf(okey, sizeof okey, "%u|%s", dst_ep, digest);
    plan_task_t *origin = strmap_get(p->blob_origin, okey);
    t = task_new(p, origin ? PROTO_KIND_MOUNT_BLOB : PROTO_KIND_COPY_BLOB);
    if (!t)
        return NULL;
    t->src_ep = src_ep;
    t->dst_ep = dst_ep;
    t->src_repo = plan_intern(p, src_repo);
    t->dst_repo = plan_intern(p, dst_repo);
    t->digest = plan_intern(p, digest);
    t->size = size;
    if (!t->src_repo || !t->dst_repo || !t->digest)
        return NULL;
    if (strmap_put(p->blob_in_repo, key, t, NULL) < 0)
        return NULL;
    if (origin) {
        t->mount_from = origin->dst_repo;
        if (plan_depend(p, t, origin) < 0)
            return NULL;
    } else if (strmap_put(p->blob_origin, okey, t, NULL) < 0) {
        return NULL;
    }
    return t;
}

plan_task_t *plan_manifest(plan_t *p, uint16_t src_ep, const char *src_repo, uint16_t dst_ep,
                           const char *dst_repo, const char *digest, const char *media_type,
                           const char *tag, int64_t size)
{
    char key[1024];
    snprintf(key, sizeof key, "%u|%s|%s", dst_ep, dst_repo, tag ? tag : digest);
    plan_task_t *t = strmap_get(p->manifests, key);
    if (t)
        return t;
    t = task_new(p, PROTO_KIND_PUT_MANIFEST);
    if (!t)
        return NULL;
    t->src_ep = src_ep;
    t->dst_ep = dst_ep;
    t->src_repo = plan_intern(p, src_repo);
    t->dst_repo = plan_intern(p, dst_repo);
    t->digest = plan_intern(p, digest);
    t->media_type = plan_intern(p, media_type);
    t->tag = tag ? plan_intern(p, tag) : NULL;
    t->size = size;
    if (!t->src_repo || !t->dst_repo || !t->digest || !t->media_type || (tag && !t->tag))
        return NULL;
    if (strmap_put(p->manifests, key, t, NULL) < 0)
        return NULL;
    return t;
}

int plan_depend(plan_t *p, plan_task_t *t, plan_task_t *dep)
{
    if (dep->state == PLAN_DONE)
        return 0;
    /* A repeat comes right after the first (a blob listed twice in one
     * manifest); a repeat elsewhere would only count twice both ways. A scan
     * of every dependent would make a blob shared by N repositories cost N². */
    if (dep->n_dependents && dep->dependents[dep->n_dependents - 1] == t)
        return 0;
    if (dep->n_dependents == dep->cap_dependents) {
        uint32_t cap = dep->cap_dependents ? dep->cap_dependents * 2 : 2;
        plan_task_t **d = realloc(dep->dependents, cap * sizeof *d);
        if (!d)
            return -2;
        p->dep_bytes += (cap - dep->cap_dependents) * sizeof *d;
        dep->dependents = d;
        dep->cap_dependents = cap;
    }
    dep->dependents[dep->n_dependents++] = t;
    t->n_deps++;
    if (dep->state == PLAN_FAILED)
        plan_task_failed(p, dep, dep->error ? dep->error : "failed");
    return 0;
}

void plan_seal(plan_t *p)
{
    p->sealed = true;
    for (size_t i = 0; i < p->n_tasks; i++)
        task_release(p, p->tasks[i]);
}

void plan_release(plan_t *p, plan_task_t *t)
{
    task_release(p, t);
}

void plan_hold(plan_task_t *t)
{
    t->n_deps++;
}

void plan_unhold(plan_t *p, plan_task_t *t)
{
    if (t->n_deps)
        t->n_deps--;
    task_release(p, t);
}

plan_task_t *plan_next_ready(plan_t *p, int64_t now_ms)
{
    /* Move due delayed tasks to the ready queue. */
    plan_task_t **link = &p->delayed;
    while (*link) {
        plan_task_t *t = *link;
        if (t->not_before_ms <= now_ms) {
            *link = t->next_ready;
            ready_push(p, t);
        } else {
            link = &t->next_ready;
        }
    }
    plan_task_t *t = p->ready_head;
    if (!t)
        return NULL;
    p->ready_head = t->next_ready;
    if (!p->ready_head)
        p->ready_tail = NULL;
    t->next_ready = NULL;
    ready_count(p, t, false);
    t->state = PLAN_RUNNING;
    return t;
}

int64_t plan_next_due(const plan_t *p)
{
    if (p->ready_head)
        return 0;
    int64_t due = -1;
    for (plan_task_t *t = p->delayed; t; t = t->next_ready)
        if (due < 0 || t->not_before_ms < due)
            due = t->not_before_ms;
    return due;
}

void plan_task_done(plan_t *p, plan_task_t *t, int outcome)
{
    if (t->state == PLAN_DONE || t->state == PLAN_FAILED)
        return;
    t->state = PLAN_DONE;
    t->outcome = (uint8_t)outcome;
    p->unfinished--;
    for (uint32_t i = 0; i < t->n_dependents; i++) {
        plan_task_t *d = t->dependents[i];
        if (d->n_deps)
            d->n_deps--;
        task_release(p, d);
    }
}

void plan_task_requeue(plan_t *p, plan_task_t *t, int64_t not_before_ms)
{
    if (t->state != PLAN_RUNNING)
        return;
    t->not_before_ms = not_before_ms;
    ready_count(p, t, true);
    t->state = PLAN_READY;
    t->next_ready = p->delayed;
    p->delayed = t;
}

static const char *kind_word(int kind)
{
    return kind == PROTO_KIND_PUT_MANIFEST ? "manifest" : "blob";
}

void plan_task_failed(plan_t *p, plan_task_t *t, const char *reason)
{
    if (t->state == PLAN_DONE)
        return;
    if (t->state != PLAN_FAILED) {
        if (t->state == PLAN_READY)
            ready_count(p, t, false);
        t->state = PLAN_FAILED;
        p->unfinished--;
        free(t->error);
        t->error = strdup(reason);
    }
    /* Every dependent fails too, naming the first cause. */
    for (uint32_t i = 0; i < t->n_dependents; i++) {
        plan_task_t *d = t->dependents[i];
        if (d->state == PLAN_FAILED || d->state == PLAN_DONE)
            continue;
        if (d->state == PLAN_READY || d->state == PLAN_RUNNING) {
            /* Not possible for a dependent with an unfinished dependency. */
            continue;
        }
        char why[1024];
        snprintf(why, sizeof why, "%s %s failed: %s", kind_word(t->kind), t->digest, reason);
        plan_task_failed(p, d, why);
    }
}

plan_task_t *plan_task_by_id(const plan_t *p, uint64_t id)
{
    if (id == 0 || id > p->n_tasks)
        return NULL;
    return p->tasks[id - 1];
}

uint64_t plan_ready_bytes(const plan_t *p)
{
    return p->ready_bytes;
}

size_t plan_task_count(const plan_t *p)
{
    return p->n_tasks;
}

plan_task_t *plan_task_at(const plan_t *p, size_t i)
{
    return i < p->n_tasks ? p->tasks[i] : NULL;
}

size_t plan_unfinished(const plan_t *p)
{
    return p->unfinished;
}

size_t plan_memory(const plan_t *p)
{
    /* Tasks, their arrays, and the maps' entries with key copies. */
    size_t bytes =
        p->cap_tasks * sizeof(plan_task_t *) + p->n_tasks * sizeof(plan_task_t) + p->dep_bytes;
    const strmap_t *maps[] = {p->strings, p->blob_origin, p->blob_in_repo, p->manifests};
    for (size_t m = 0; m < 4; m++) {
        const char *key;
        void *value;
        for (size_t it = 0; strmap_next(maps[m], &it, &key, &value);)
            bytes += strlen(key) + 1 + 2 * sizeof(void *);
    }
    return bytes;
}
