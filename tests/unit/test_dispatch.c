/* test_dispatch — which agent gets a task: the rule alone (dispatch_pick),
 * then the coordinator's dispatch with two agents on an in-process socket
 * and a clock the test moves, where rates come from PROGRESS and RESULT and
 * a large blob is held for the fast agent that is about to finish. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "coordinator/dispatch.h"
#include "proto/proto.h"
#include "testlib.h"

#define MIB (1024.0 * 1024.0)

static void test_pick(void)
{
    /* No rate known yet: the most free slots, as before any measurement. */
    dispatch_load_t fresh[] = {{1, 0, 0, 0}, {3, 10 * MIB, 0, 1}};
    CHECK_INT(dispatch_pick(fresh, 2, 8 << 20, 0), 1);
    /* Nobody free. */
    dispatch_load_t full[] = {{0, 10 * MIB, 0, 0}, {0, 10 * MIB, 0, 1}};
    CHECK_INT(dispatch_pick(full, 2, 8 << 20, 0), DISPATCH_NONE);
    CHECK_INT(dispatch_pick(full, 0, 8 << 20, 0), DISPATCH_NONE);

    /* The tail of a run, equal agents: A has emptied, B has 1 MiB left. A
     * takes one 8 MiB blob (0.8 s against B's 0.9 s); with that on it, the
     * next is held for B (1.6 s against 0.9 s), nothing else being queued. */
    dispatch_load_t tail[] = {{2, 10 * MIB, 0, 0}, {0, 10 * MIB, 1 * MIB, 1}};
    CHECK_INT(dispatch_pick(tail, 2, 8 << 20, 0), 0);
    tail[0].outstanding = 8 * MIB;
    CHECK_INT(dispatch_pick(tail, 2, 8 << 20, 0), DISPATCH_HOLD);
    /* Within a fifth of the soonest it is not worth waiting: B with 6 MiB
     * left would be done with it in 1.4 s, A in 1.6 s. */
    tail[1].outstanding = 6 * MIB;
    CHECK_INT(dispatch_pick(tail, 2, 8 << 20, 0), 0);
    /* Small tasks are never held: they cost latency, not bytes. */
    tail[1].outstanding = 0;
    CHECK_INT(dispatch_pick(tail, 2, 512 << 10, 0), 0);

    /* A slow agent (1 MiB/s) is free, a fast one (20 MiB/s) is busy with
     * 20 MiB: 4 s against 1.2 s, hold; with 100 MiB queued on the fast
     * one, 5.2 s, the slow one is sooner. */
    dispatch_load_t slow[] = {{8, 1 * MIB, 0, 0}, {0, 20 * MIB, 20 * MIB, 1}};
    CHECK_INT(dispatch_pick(slow, 2, 4 << 20, 0), DISPATCH_HOLD);
    /* With 200 MiB queued the fast one needs 11.2 s for all of it: the slow
     * one takes its share, though this blob alone would be done sooner on
     * the fast one. With 50 MiB queued, 3.7 s, still sooner than the slow
     * one's 4 s: hold. */
    CHECK_INT(dispatch_pick(slow, 2, 4 << 20, 200 << 20), 0);
    CHECK_INT(dispatch_pick(slow, 2, 4 << 20, 50 << 20), DISPATCH_HOLD);
    slow[1].outstanding = 100 * MIB;
    CHECK_INT(dispatch_pick(slow, 2, 4 << 20, 0), 0);

    /* Two free agents: the sooner one, not the one with more slots. */
    dispatch_load_t two[] = {{5, 2 * MIB, 0, 0}, {1, 20 * MIB, 0, 1}};
    CHECK_INT(dispatch_pick(two, 2, 8 << 20, 0), 1);
}

/* --- the dispatch with two agents ---------------------------------------- */

static int64_t fake_now;

static int64_t fake_clock(void)
{
    return fake_now;
}

static int fill_task(void *ud, uint64_t task_id, proto_task_t *out)
{
    (void)ud;
    out->task_id = task_id;
    out->kind = PROTO_KIND_COPY_BLOB;
    out->size = 1;
    out->attempt = 1;
    int rc = proto_str_set(&out->source.host, "127.0.0.1:5000");
    if (rc == 0)
        rc = proto_str_set(&out->target.host, "127.0.0.1:5001");
    if (rc == 0)
        rc = proto_str_set(&out->source_repo, "a/b");
    if (rc == 0)
        rc = proto_str_set(&out->target_repo, "a/b");
    if (rc == 0)
        rc = proto_str_set(
            &out->digest,
            "sha256:1111111111111111111111111111111111111111111111111111111111111111");
    return rc;
}

static int results;

static void on_result(void *ud, const char *agent_id, const proto_result_t *r)
{
    (void)ud;
    (void)agent_id;
    (void)r;
    results++;
}

static void on_lost(void *ud, uint64_t task_id, const char *agent_id)
{
    (void)ud;
    fprintf(stderr, "unexpected: task %llu lost with %s\n", (unsigned long long)task_id, agent_id);
    results = -1000;
}

/* An agent: a DEALER that speaks the protocol. */
static void *agent_new(void *ctx, const char *id, uint32_t capacity)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    CHECK_INT(zmq_connect(s, "inproc://test-dispatch"), 0);
    proto_msg_t *m = proto_msg_new(PROTO_HELLO);
    proto_str_set(&m->hello.agent_id, id);
    proto_str_set(&m->hello.version, "test");
    m->hello.capacity = capacity;
    ferry_err_t err;
    CHECK_INT(proto_send(s, NULL, 0, m, &err), 0);
    proto_msg_destroy(&m);
    return s;
}

/* The next TASK's id the agent received (skipping WELCOME and
 * HEARTBEAT), 0 when none came within a short wait. */
static uint64_t agent_task(void *s)
{
    for (int i = 0; i < 20; i++) {
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 20) <= 0)
            continue;
        proto_msg_t *m = NULL;
        ferry_err_t err;
        if (proto_recv(s, false, &m, NULL, NULL, &err) != 0)
            continue;
        uint64_t id = m->command == PROTO_TASK ? m->task.task_id : 0;
        proto_msg_destroy(&m);
        if (id)
            return id;
    }
    return 0;
}

static void agent_progress(void *s, uint64_t task_id, uint64_t done)
{
    proto_msg_t *m = proto_msg_new(PROTO_PROGRESS);
    m->progress.task_id = task_id;
    m->progress.bytes_done = done;
    m->progress.bytes_total = -1;
    ferry_err_t err;
    CHECK_INT(proto_send(s, NULL, 0, m, &err), 0);
    proto_msg_destroy(&m);
}

static void agent_result(void *s, uint64_t task_id, uint64_t bytes)
{
    proto_msg_t *m = proto_msg_new(PROTO_RESULT);
    m->result.task_id = task_id;
    m->result.outcome = PROTO_OUTCOME_DONE;
    m->result.error_class = PROTO_ERROR_NONE;
    proto_str_set(&m->result.error_code, "");
    proto_str_set(&m->result.message, "");
    m->result.bytes = bytes;
    ferry_err_t err;
    CHECK_INT(proto_send(s, NULL, 0, m, &err), 0);
    proto_msg_destroy(&m);
}

/* Lets the dispatch read what the agents sent. */
static void pump(dispatch_t *d)
{
    for (int i = 0; i < 5; i++)
        dispatch_poll(d, 10);
}

static void test_dispatch(void)
{
    void *ctx = zmq_ctx_new();
    dispatch_cb_t cb = {.fill_task = fill_task, .on_result = on_result, .on_lost = on_lost};
    dispatch_opts_t opts = {
        .endpoint = "inproc://test-dispatch", .heartbeat_ms = 60000, .clock_ms = fake_clock};
    ferry_err_t err;
    fake_now = 100000;
    dispatch_t *d = dispatch_new(ctx, &opts, &cb, &err);
    CHECK(d != NULL);
    if (!d) {
        zmq_ctx_term(ctx);
        return;
    }
    /* One after the other, so that the slow agent comes first in the table. */
    void *slow = agent_new(ctx, "slow", 2);
    for (int i = 0; i < 50 && dispatch_agents(d) < 1; i++)
        dispatch_poll(d, 10);
    void *fast = agent_new(ctx, "fast", 2);
    for (int i = 0; i < 50 && dispatch_agents(d) < 2; i++)
        dispatch_poll(d, 10);
    CHECK_INT(dispatch_agents(d), 2);

    /* No rates yet: the most free slots, so the two alternate. The slow
     * agent gets two 4 MiB blobs, the fast one two 8 MiB blobs. */
    uint64_t size[] = {0, 4 << 20, 8 << 20, 4 << 20, 8 << 20};
    for (uint64_t id = 1; id <= 4; id++)
        CHECK_INT(dispatch_send(d, id, size[id], 0, &err), 0);
    CHECK_INT(dispatch_send(d, 9, 8 << 20, 0, &err), FERRY_ERETRY); /* every slot taken */
    uint64_t s1 = agent_task(slow), s2 = agent_task(slow);
    uint64_t f1 = agent_task(fast), f2 = agent_task(fast);
    CHECK(s1 && s2 && f1 && f2);
    CHECK_INT(size[s1] + size[s2], 8 << 20);

    /* One second on: the slow agent moved 2 MiB of each (4 MiB/s), the
     * fast one 4 MiB of each (8 MiB/s). A second later the slow one is
     * done, at the same rate. */
    fake_now += 1000;
    agent_progress(slow, s1, 2 << 20);
    agent_progress(slow, s2, 2 << 20);
    agent_progress(fast, f1, 4 << 20);
    agent_progress(fast, f2, 4 << 20);
    pump(d);
    fake_now += 1000;
    agent_result(slow, s1, 4 << 20);
    agent_result(slow, s2, 4 << 20);
    pump(d);
    CHECK_INT(results, 2);
    CHECK_INT(dispatch_free_slots(d), 2);

    /* The fast agent has said nothing for a second, but moving at its rate
     * it has about nothing left: an 8 MiB blob would be done there in 1 s,
     * on the free slow one in 2 s. It is held. (Taken at their word, its
     * last PROGRESS leaves 8 MiB: 2 s, and the blob would go to the slow
     * agent.) */
    err.code = 0;
    CHECK_INT(dispatch_send(d, 5, 8 << 20, 0, &err), DISPATCH_HELD);
    CHECK_INT(err.code, DISPATCH_HELD);
    CHECK_INT(dispatch_leased(d), 2);
    /* A small task goes to the free agent at once. */
    CHECK_INT(dispatch_send(d, 6, 0, 0, &err), 0);
    CHECK_INT(agent_task(slow), 6);
    /* Had the fast agent moved nothing for over 3 s (a hung registry), no
     * blob would wait for it. */
    fake_now += 3500;
    CHECK_INT(dispatch_send(d, 7, 8 << 20, 0, &err), 0);
    CHECK_INT(agent_task(slow), 7);

    /* The fast agent finishes: the held blob goes to it (3 s, counting its
     * stall), not to the slow one (4 s with its own 8 MiB), which has a free
     * slot too. */
    fake_now += 500;
    agent_result(fast, f1, 8 << 20);
    agent_result(fast, f2, 8 << 20);
    pump(d);
    CHECK_INT(results, 4);
    CHECK_INT(dispatch_send(d, 5, 8 << 20, 0, &err), 0);
    CHECK_INT(agent_task(fast), 5);
    CHECK_INT(agent_task(slow), 0);

    zmq_close(slow);
    zmq_close(fast);
    dispatch_destroy(&d);
    zmq_ctx_term(ctx);
}

int main(void)
{
    test_pick();
    test_dispatch();
    return test_report();
}
