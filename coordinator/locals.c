/* locals — the in-process agents of a run without --listen: the same agent
 * code as ferry-agent, on threads, talking to the run over inproc://. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/log.h"
#include "coordinator/run.h"

#define LOCALS_GRACE_MS 30000 /* time to finish running tasks when stopped */

typedef struct local_agent {
    pthread_t thread;
    agent_t *agent;
    bool started; /* the thread runs */
} local_agent_t;

struct locals {
    local_agent_t agents[RUN_LOCALS_MAX];
    int n;                     /* agents created */
    volatile sig_atomic_t stop; /* set to stop them */
};

static void *local_agent_main(void *arg)
{
    local_agent_t *la = arg;
    agent_run(la->agent);
    return NULL;
}

/* One per core up to RUN_LOCALS_MAX, and one only below 4 transfers. */
static int locals_wanted(int jobs)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (jobs < 4)
        return 1;
    return cores >= RUN_LOCALS_MAX ? RUN_LOCALS_MAX : cores >= 2 ? 2 : 1;
}

locals_t *locals_start(void *zmq_ctx, const char *endpoint, const mig_opts_t *opts)
{
    locals_t *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    ferry_err_t err;
    l->n = locals_wanted(opts->jobs);
    for (int i = 0; i < l->n; i++) {
        agent_opts_t ao = {0};
        char id[32];
        snprintf(id, sizeof id, "local-%d", i + 1);
        ao.endpoint = endpoint;
        ao.agent_id = id;
        ao.jobs = (opts->jobs + l->n - 1 - i) / l->n;
        if (ao.jobs < 1)
            ao.jobs = 1;
        ao.stop = &l->stop;
        ao.grace_ms = LOCALS_GRACE_MS;
        if (opts->chunk_mib > 0)
            ao.xfer.monolithic_max = ao.xfer.chunk_size = (int64_t)opts->chunk_mib << 20;
        l->agents[i].agent = agent_new(zmq_ctx, &ao, &err);
        if (!l->agents[i].agent)
            log_error("in-process agent: %s", err.message);
        else if (pthread_create(&l->agents[i].thread, NULL, local_agent_main, &l->agents[i]) == 0)
            l->agents[i].started = true;
    }
    return l;
}

int locals_count(const locals_t *l)
{
    return l ? l->n : 0;
}

void locals_signal(locals_t *l)
{
    if (l)
        l->stop = 1;
}

void locals_stop(locals_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    locals_t *l = *self_p;
    l->stop = 1;
    for (int i = 0; i < l->n; i++) {
        if (l->agents[i].started)
            pthread_join(l->agents[i].thread, NULL);
        agent_destroy(&l->agents[i].agent);
    }
    free(l);
    *self_p = NULL;
}
