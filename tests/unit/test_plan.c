/* test_plan — the task graph: blob deduplication per target registry, the
 * order tasks become ready in, and adding tasks while others run (a sealed
 * plan), where a task being built is held so that a dependency finishing
 * meanwhile cannot release it early. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "coordinator/plan.h"
#include "proto/proto.h"
#include "testlib.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define DM "sha256:9999999999999999999999999999999999999999999999999999999999999999"
#define MT "application/vnd.oci.image.manifest.v1+json"

/* Takes every ready task (moving it to RUNNING); returns how many. */
static int take_ready(plan_t *p, plan_task_t **out, int max)
{
    int n = 0;
    plan_task_t *t;
    while (n < max && (t = plan_next_ready(p, 0)))
        out[n++] = t;
    return n;
}

/* A blob is copied once per target registry and mounted in every other
 * repository of it; repeated calls return the same task. */
static void test_dedup(void)
{
    plan_t *p = plan_new();
    plan_task_t *a = plan_blob(p, 0, "src/a", 1, "dst/a", D1, 10);
    plan_task_t *b = plan_blob(p, 0, "src/b", 1, "dst/b", D1, 10);
    plan_task_t *c = plan_blob(p, 0, "src/c", 2, "dst/c", D1, 10);
    CHECK(a && b && c);
    CHECK(plan_blob(p, 0, "src/a", 1, "dst/a", D1, 10) == a);
    CHECK_INT(a->kind, PROTO_KIND_COPY_BLOB);
    CHECK_INT(b->kind, PROTO_KIND_MOUNT_BLOB);
    CHECK_STR(b->mount_from, "dst/a");
    CHECK_INT(c->kind, PROTO_KIND_COPY_BLOB); /* another registry */
    CHECK_INT(plan_task_count(p), 3);

    /* The bytes of the copies queued: the two copies, not the mount; a copy
     * taken leaves, one put back (a retry) returns, one failed leaves. */
    CHECK_INT(plan_ready_bytes(p), 0); /* not sealed: nothing is queued */
    plan_seal(p);
    CHECK_INT(plan_ready_bytes(p), 20);
    plan_task_t *t = plan_next_ready(p, 0);
    CHECK(t == a);
    CHECK_INT(plan_ready_bytes(p), 10);
    plan_task_requeue(p, t, 1000);
    CHECK_INT(plan_ready_bytes(p), 20);
    plan_task_failed(p, c, "refused");
    CHECK_INT(plan_ready_bytes(p), 10);
    plan_destroy(&p);
}

/* Before the seal nothing is ready; after it, tasks become ready as their
 * dependencies finish; a failure fails its dependents with the cause. */
static void test_order(void)
{
    plan_t *p = plan_new();
    plan_task_t *b1 = plan_blob(p, 0, "s", 0, "d", D1, 1);
    plan_task_t *b2 = plan_blob(p, 0, "s", 0, "d", D2, 1);
    plan_task_t *m = plan_manifest(p, 0, "s", 0, "d", DM, MT, "v1", 100);
    CHECK_INT(plan_depend(p, m, b1), 0);
    CHECK_INT(plan_depend(p, m, b2), 0);
    CHECK_INT(plan_depend(p, m, b2), 0); /* a blob listed twice */
    plan_task_t *got[8];
    CHECK_INT(take_ready(p, got, 8), 0);
    plan_seal(p);
    CHECK_INT(take_ready(p, got, 8), 2);
    plan_task_done(p, b1, PROTO_OUTCOME_DONE);
    CHECK_INT(take_ready(p, got, 8), 0);
    plan_task_done(p, b2, PROTO_OUTCOME_DONE);
    CHECK_INT(take_ready(p, got, 8), 1);
    CHECK(got[0] == m);
    plan_task_done(p, m, PROTO_OUTCOME_DONE);
    CHECK_INT(plan_unfinished(p), 0);
    plan_destroy(&p);

    p = plan_new();
    b1 = plan_blob(p, 0, "s", 0, "d", D1, 1);
    m = plan_manifest(p, 0, "s", 0, "d", DM, MT, NULL, 100);
    plan_depend(p, m, b1);
    plan_seal(p);
    CHECK_INT(take_ready(p, got, 8), 1);
    plan_task_failed(p, b1, "digest mismatch");
    CHECK_INT(m->state, PLAN_FAILED);
    CHECK(m->error && strstr(m->error, "digest mismatch"));
    CHECK_INT(plan_unfinished(p), 0);
    plan_destroy(&p);
}

/* Tasks added to a sealed plan: a new task with no dependency is ready once
 * released; one held while its dependencies are added stays waiting even
 * when a dependency finishes meanwhile (it had the only one so far), and
 * runs once unheld and its last dependency is done. */
static void test_incremental(void)
{
    plan_t *p = plan_new();
    plan_seal(p);
    plan_task_t *got[8];
    plan_task_t *b1 = plan_blob(p, 0, "s", 0, "d", D1, 1);
    CHECK_INT(take_ready(p, got, 8), 0); /* not released yet */
    plan_release(p, b1);
    CHECK_INT(take_ready(p, got, 8), 1);

    plan_task_t *m = plan_manifest(p, 0, "s", 0, "d", DM, MT, "v1", 100);
    plan_hold(m);
    CHECK_INT(plan_depend(p, m, b1), 0);
    plan_task_done(p, b1, PROTO_OUTCOME_DONE); /* finishes while m is built */
    CHECK_INT(take_ready(p, got, 8), 0);       /* the hold keeps m back */
    plan_task_t *b2 = plan_blob(p, 0, "s", 0, "d", D2, 1);
    CHECK_INT(plan_depend(p, m, b2), 0);
    plan_release(p, b2);
    plan_unhold(p, m);
    CHECK_INT(take_ready(p, got, 8), 1);
    CHECK(got[0] == b2);
    plan_task_done(p, b2, PROTO_OUTCOME_DONE);
    CHECK_INT(take_ready(p, got, 8), 1);
    CHECK(got[0] == m);

    /* A dependency already done adds nothing; one already failed fails at once. */
    plan_task_t *m2 = plan_manifest(p, 0, "s", 0, "d", DM, MT, "v2", 100);
    CHECK_INT(plan_depend(p, m2, b2), 0);
    CHECK_INT(m2->n_deps, 0);
    plan_task_failed(p, m, "refused");
    plan_task_t *m3 = plan_manifest(p, 0, "s", 0, "d", DM, MT, "v3", 100);
    CHECK_INT(plan_depend(p, m3, m), 0);
    CHECK_INT(m3->state, PLAN_FAILED);
    plan_destroy(&p);
}

int main(void)
{
    test_dedup();
    test_order();
    test_incremental();
    return test_report();
}
