/* dispatch — the coordinator's side of the protocol: a ROUTER socket, the
 * table of agents, credit-based flow control, task leases and liveness.
 *
 * The caller owns the tasks; dispatch only knows their ids. It asks the
 * caller to fill a TASK when it sends one, and hands back RESULTs, PROGRESS
 * and the ids of tasks whose agent was lost. */
#ifndef FERRY_DISPATCH_H
#define FERRY_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/proto.h"

typedef struct dispatch dispatch_t;

typedef struct dispatch_cb {
    /* Fills out (a zeroed TASK body) for task_id; 0 or a FERRY_E* code. */
    int (*fill_task)(void *ud, uint64_t task_id, proto_task_t *out);
    /* A RESULT for a task leased to that agent. */
    void (*on_result)(void *ud, const char *agent_id, const proto_result_t *result);
    /* A PROGRESS for a task leased to that agent. */
    void (*on_progress)(void *ud, const proto_progress_t *progress);
    /* The task's agent was lost or did not list it on reconnect: run it again. */
    void (*on_lost)(void *ud, uint64_t task_id, const char *agent_id);
    /* An agent joined (ready) or left. */
    void (*on_agent)(void *ud, const char *agent_id, bool joined);
    void *ud;
} dispatch_cb_t;

typedef struct dispatch_opts {
    const char *endpoint;      /* ROUTER bind endpoint */
    int heartbeat_ms;          /* liveness interval (0 = 1000) */
    const char *server_public; /* CURVE server key pair (Z85), NULL = plain */
    const char *server_secret;
    const char *allowlist;     /* file of admitted agent public keys (with CURVE) */
    int64_t (*clock_ms)(void); /* monotonic milliseconds (NULL = http_now_ms; tests) */
    bool in_process;           /* the agents are the run's own threads: joins are not logged */
} dispatch_opts_t;

/* Binds the socket (and the ZAP allowlist handler with CURVE). */
dispatch_t *dispatch_new(void *zmq_ctx, const dispatch_opts_t *opts, const dispatch_cb_t *cb,
                         ferry_err_t *err);
/* Says DISCONNECT to every agent and closes. */
void dispatch_destroy(dispatch_t **self_p);
/* Waits up to timeout_ms for messages, handles them, expires silent agents
 * and sends heartbeats. */
void dispatch_poll(dispatch_t *d, int timeout_ms);
/* The socket's ZMQ_FD, to wait on it with other descriptors, and whether a
 * message is waiting already (then do not wait: ZMQ_FD only signals news). */
int dispatch_fd(const dispatch_t *d);
bool dispatch_readable(const dispatch_t *d);
/* Free task slots over all ready agents. */
int dispatch_free_slots(const dispatch_t *d);
/* Ready agents. */
int dispatch_agents(const dispatch_t *d);
/* One ready agent as the balancer sees it. */
typedef struct dispatch_load {
    uint32_t free_slots;
    double rate;        /* bytes per second it moves, measured; 0 = not yet */
    double outstanding; /* bytes its leases have still to move (estimated) */
    size_t agent;       /* the caller's index */
} dispatch_load_t;

#define DISPATCH_NONE (-1) /* dispatch_pick: no agent has a free slot */
#define DISPATCH_HOLD (-2) /* dispatch_pick: keep the task for a busy agent */
#define DISPATCH_HELD 1    /* dispatch_send kept the task back: offer it again later */

/* Which agent gets a task that moves size bytes, with queued more bytes of
 * copies waiting behind it: the index in loads of an agent with a free slot,
 * the one expected to be done with it soonest (outstanding + size over its
 * rate). DISPATCH_HOLD when a busy agent is expected to be done with it
 * sooner by more than a fifth and the other agents would finish all their
 * work, the queue and this task before the free one finished it: so that the
 * last large blobs do not land on whichever agent happens to be free (a
 * slower one, or one that has just emptied), while a slow agent still takes
 * its share of a long queue. DISPATCH_NONE when no agent has a slot. Tasks
 * under 1 MiB, and any task while some agent's rate is not known yet, go to
 * the agent with the most free slots. */
int dispatch_pick(const dispatch_load_t *loads, size_t n, uint64_t size, uint64_t queued);
/* Leases task_id to the agent dispatch_pick chooses for a task of size bytes
 * (0 for tasks that move few bytes) with queued bytes of copies waiting, and
 * sends it. DISPATCH_HELD when it keeps it back, FERRY_ERETRY when no agent
 * has a free slot, or an error. The rate of each agent is measured from its
 * PROGRESS and RESULT messages. */
int dispatch_send(dispatch_t *d, uint64_t task_id, uint64_t size, uint64_t queued,
                  ferry_err_t *err);
/* Sends a HEARTBEAT to every ready agent now (wakes agents that wait). */
void dispatch_wake(dispatch_t *d);
/* Asks the agent that holds task_id to abandon it. */
void dispatch_cancel(dispatch_t *d, uint64_t task_id);
/* Tasks leased and not yet reported. */
int dispatch_leased(const dispatch_t *d);

#endif
