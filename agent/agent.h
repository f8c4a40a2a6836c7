/* agent — the worker engine: a ZeroMQ DEALER talking the ferry protocol and
 * a curl multi loop running transfer tasks, in one event loop per agent.
 *
 * ferry-agent runs one in its main thread; ferry runs several in threads over
 * inproc:// when no remote agents are used. */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <signal.h>
#include <stdbool.h>

#include "common/err.h"
#include "common/xfer.h"

typedef struct agent agent_t;

typedef struct agent_opts {
    const char *endpoint; /* coordinator endpoint, e.g. tcp://10.0.0.5:7400 or inproc://ferry */
    const char *agent_id; /* NULL: hostname-pid */
    int jobs;             /* tasks at once (capacity), 1..1024; 0 = 8 */
    const char *server_public; /* coordinator's CURVE public key (Z85), NULL = no CURVE */
    const char *public_key;    /* this agent's CURVE key pair (Z85) */
    const char *secret_key;
    int grace_ms;                /* on stop: time to finish running tasks; 0 = 30 s */
    xfer_opts_t xfer;            /* transfer tuning */
    volatile sig_atomic_t *stop; /* set to non-zero to drain and stop (signal-safe) */
    /* Docker config.json with registry logins for tasks that carry none (the
     * coordinator's --insecure-control); NULL: the user's default one. */
    const char *auth_file;
} agent_opts_t;

/* Creates an agent on zmq_ctx (borrowed). NULL on failure with err set. */
agent_t *agent_new(void *zmq_ctx, const agent_opts_t *opts, ferry_err_t *err);
/* Runs until *opts->stop becomes non-zero and running tasks have finished
 * (or the grace period ended), then says DISCONNECT. Returns 0, or a
 * negative code when the agent could not run at all. */
int agent_run(agent_t *agent);
void agent_destroy(agent_t **self_p);

#endif
