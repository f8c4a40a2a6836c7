/* dispatch — ROUTER socket, agents table, credit, leases and liveness. */
#include "coordinator/dispatch.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/http.h"
#include "common/buf.h"
#include "common/log.h"

/* Balancing: blobs this large count by their bytes; an agent's rate is known
 * after it has been busy with them this long, and older measurements weigh
 * half once it has been busy twice as long as DISPATCH_RATE_SPAN_MS. */
#define DISPATCH_BALANCE_MIN  (1024 * 1024)
#define DISPATCH_RATE_MIN_MS  1000
#define DISPATCH_RATE_SPAN_MS 15000
/* An agent whose sized leases moved nothing this long is not expected to
 * finish anything soon: no task waits for it. */
#define DISPATCH_STALL_MS 3000

typedef struct lease {
    uint64_t id;
    uint64_t size;   /* bytes the task moves; 0 when it is not balanced by bytes */
    uint64_t done;   /* bytes the agent said it had moved */
    int64_t done_ms; /* when it said so (or the lease began) */
} lease_t;

typedef struct agent_entry {
    void *rid; /* routing id */
    size_t rid_len;
    char agent_id[65]; /* its name */
    bool ready;        /* WELCOMEd and alive */
    uint32_t capacity; /* last HELLO or CREDIT */
    lease_t *leases;   /* tasks outstanding on it */
    size_t n_leases, cap_leases;
    size_t n_sized;     /* leases with a size */
    double moved;       /* bytes of sized leases it reported moved ... */
    int64_t busy_ms;    /* ... over this much time with a sized lease, up to */
    int64_t mark_ms;    /* the last report (or the first sized lease) */
    uint64_t *canceled; /* tasks it still ran when it said HELLO, that we canceled:
                           each holds a slot until its RESULT comes */
    size_t n_canceled, cap_canceled;
    int64_t last_recv_ms; /* liveness */
    int64_t last_send_ms; /* heartbeats */
} agent_entry_t;

struct dispatch {
    void *sock;       /* ROUTER */
    proto_zap_t *zap; /* CURVE allowlist handler */
    bool quiet_agents; /* in-process agents: joins and leaves are not news */
    dispatch_cb_t cb; /* the caller */
    int heartbeat_ms;
    char session[32];
    agent_entry_t *agents; /* known peers (ready or not) */
    size_t n_agents, cap_agents;
    dispatch_load_t *loads; /* scratch for dispatch_pick, one per agent */
    size_t cap_loads;
    int64_t (*clock_ms)(void);
};

static int64_t now_ms(const dispatch_t *d)
{
    return d->clock_ms();
}

static agent_entry_t *agent_find(dispatch_t *d, const void *rid, size_t len)
{
    for (size_t i = 0; i < d->n_agents; i++)
        if (d->agents[i].rid_len == len && memcmp(d->agents[i].rid, rid, len) == 0)
            return &d->agents[i];
    return NULL;
}

static void agent_send(dispatch_t *d, agent_entry_t *a, const proto_msg_t *msg)
{
    ferry_err_t err;
    if (proto_send(d->sock, a->rid, a->rid_len, msg, &err) == 0)
        a->last_send_ms = now_ms(d);
    else
        log_debug("sending %s to %s: %s", proto_command_name(msg->command), a->agent_id,
                  err.message);
}

static void send_disconnect(dispatch_t *d, const void *rid, size_t len, const char *reason)
{
    proto_msg_t *m = proto_disconnect_new(reason);
    ferry_err_t err;
    if (m)
        proto_send(d->sock, rid, len, m, &err);
    proto_msg_destroy(&m);
}

static bool ids_remove(uint64_t *ids, size_t *n, uint64_t task_id)
{
    for (size_t i = 0; i < *n; i++) {
        if (ids[i] == task_id) {
            ids[i] = ids[--*n];
            return true;
        }
    }
    return false;
}

/* The array arr of *cap elements of elem bytes, grown (doubled, from 8) when
 * n of them fill it: the array to use, or NULL (arr unchanged) without memory. */
static int ids_add(uint64_t **ids, size_t *n, size_t *cap, uint64_t task_id)
{
    uint64_t *l = array_grow(*ids, *n, cap, sizeof *l);
    if (!l)
        return FERRY_ENOMEM;
    *ids = l;
    l[(*n)++] = task_id;
    return 0;
}

static lease_t *lease_find(agent_entry_t *a, uint64_t task_id)
{
    for (size_t i = 0; i < a->n_leases; i++)
        if (a->leases[i].id == task_id)
            return &a->leases[i];
    return NULL;
}

/* The agent reports bytes moved for a sized lease: its rate is what it
 * reported over the time it was busy until it said so (the time since its
 * last report would count bytes not reported yet). */
static void rate_note(agent_entry_t *a, uint64_t delta, int64_t now)
{
    a->busy_ms += now - a->mark_ms;
    a->mark_ms = now;
    a->moved += (double)delta;
    if (a->busy_ms > 2 * DISPATCH_RATE_SPAN_MS) {
        a->busy_ms /= 2;
        a->moved /= 2;
    }
}

/* Bytes per second, 0 while not known. */
static double agent_rate(const agent_entry_t *a)
{
    return a->busy_ms >= DISPATCH_RATE_MIN_MS ? a->moved * 1000.0 / (double)a->busy_ms : 0;
}

/* The lease ends: what it moved since its last PROGRESS counts to the rate. */
static bool lease_remove(agent_entry_t *a, uint64_t task_id, uint64_t bytes, int64_t now)
{
    lease_t *l = lease_find(a, task_id);
    if (!l)
        return false;
    if (l->size) {
        rate_note(a, bytes > l->done ? bytes - l->done : 0, now);
        a->n_sized--;
    }
    *l = a->leases[--a->n_leases];
    return true;
}

static int lease_add(agent_entry_t *a, uint64_t task_id, uint64_t size, int64_t now)
{
    lease_t *l = array_grow(a->leases, a->n_leases, &a->cap_leases, sizeof *l);
    if (!l)
        return FERRY_ENOMEM;
    a->leases = l;
    size = size >= DISPATCH_BALANCE_MIN ? size : 0;
    a->leases[a->n_leases++] = (lease_t){task_id, size, 0, now};
    if (size && a->n_sized++ == 0)
        a->mark_ms = now; /* busy again: idle time is not measured */
    return 0;
}

/* Bytes still to move on the agent's sized leases: each moves at its share of
 * the agent's rate since its last PROGRESS. */
static double agent_outstanding(const agent_entry_t *a, int64_t now)
{
    double share = a->n_sized ? agent_rate(a) / (double)a->n_sized : 0;
    double left = 0;
    for (size_t i = 0; i < a->n_leases; i++) {
        const lease_t *l = &a->leases[i];
        if (!l->size)
            continue;
        double done = (double)l->done + share * (double)(now - l->done_ms) / 1000.0;
        if (done < (double)l->size)
            left += (double)l->size - done;
    }
    return left;
}

/* Slots the agent has free: its capacity less our leases and the canceled
 * tasks it has not reported yet (it still runs them). */
static uint32_t agent_free_slots(const agent_entry_t *a)
{
    size_t busy = a->n_leases + a->n_canceled;
    return a->ready && a->capacity > busy ? a->capacity - (uint32_t)busy : 0;
}

/* The agent is gone: its leases go back to the caller. */
static void agent_gone(dispatch_t *d, agent_entry_t *a, const char *why)
{
    if (a->ready) {
        /* A graceful drain is no warning, whatever it had left to requeue. */
        bool graceful = strcmp(why, "shutting down") == 0;
        if (a->n_leases || !graceful)
            log_msg(graceful ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
                    "agent %s lost (%s); %zu task(s) requeued", a->agent_id, why, a->n_leases);
        else
            log_msg(d->quiet_agents ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "agent %s left",
                    a->agent_id);
        if (d->cb.on_agent)
            d->cb.on_agent(d->cb.ud, a->agent_id, false);
    }
    a->ready = false;
    a->n_canceled = 0;
    size_t n = a->n_leases;
    lease_t *leases = a->leases;
    a->leases = NULL;
    a->n_leases = a->cap_leases = a->n_sized = 0;
    for (size_t i = 0; i < n; i++)
        d->cb.on_lost(d->cb.ud, leases[i].id, a->agent_id);
    free(leases);
}

static void agent_forget(dispatch_t *d, agent_entry_t *a)
{
    free(a->rid);
    free(a->leases);
    free(a->canceled);
    *a = d->agents[--d->n_agents];
}

static agent_entry_t *agent_add(dispatch_t *d, const void *rid, size_t len)
{
    agent_entry_t *agents = array_grow(d->agents, d->n_agents, &d->cap_agents, sizeof *agents);
    if (!agents)
        return NULL;
    d->agents = agents;
    agent_entry_t *a = &agents[d->n_agents];
    memset(a, 0, sizeof *a);
    a->rid = malloc(len);
    if (!a->rid)
        return NULL;
    memcpy(a->rid, rid, len);
    a->rid_len = len;
    d->n_agents++;
    return a;
}

static void on_hello(dispatch_t *d, const void *rid, size_t rid_len, const proto_hello_t *h)
{
    agent_entry_t *a = agent_find(d, rid, rid_len);
    if (!a)
        a = agent_add(d, rid, rid_len);
    if (!a)
        return;
    /* An earlier connection of the same agent: its leases that the agent
     * still runs move to this connection; the others are requeued. */
    lease_t *kept = NULL;
    size_t n_kept = 0;
    for (size_t i = 0; i < d->n_agents; i++) {
        agent_entry_t *old = &d->agents[i];
        if (old == a || strcmp(old->agent_id, h->agent_id) != 0)
            continue;
        for (size_t j = 0; j < old->n_leases;) {
            bool listed = false;
            for (size_t k = 0; k < h->active_count; k++)
                listed |= h->active[k] == old->leases[j].id;
            if (listed) {
                lease_t *nk = realloc(kept, (n_kept + 1) * sizeof *nk);
                if (nk) {
                    kept = nk;
                    kept[n_kept++] = old->leases[j];
                    old->leases[j] = old->leases[--old->n_leases];
                    continue;
                }
            }
            j++;
        }
        agent_gone(d, old, "reconnected");
        size_t idx = (size_t)(a - d->agents);
        agent_forget(d, old);
        a = &d->agents[idx < d->n_agents ? idx : d->n_agents - 1];
        if (a->rid_len != rid_len || memcmp(a->rid, rid, rid_len) != 0)
            a = agent_find(d, rid, rid_len);
        i = (size_t)-1; /* rescan: the table changed */
        if (!a)
            break;
    }
    if (!a) {
        free(kept);
        return;
    }
    if (a->ready) /* a second HELLO from a ready peer restarts it */
        agent_gone(d, a, "said HELLO again");
    snprintf(a->agent_id, sizeof a->agent_id, "%s", h->agent_id);
    a->capacity = h->capacity;
    a->ready = true;
    a->last_recv_ms = now_ms(d);
    for (size_t i = 0; i < n_kept; i++)
        lease_add(a, kept[i].id, kept[i].size, a->last_recv_ms);
    free(kept);
    proto_msg_t *w = proto_msg_new(PROTO_WELCOME);
    if (w) {
        w->welcome.heartbeat_ms = (uint32_t)d->heartbeat_ms;
        proto_str_set(&w->welcome.session, d->session);
        proto_str_set(&w->welcome.version, FERRY_VERSION);
        agent_send(d, a, w);
        proto_msg_destroy(&w);
    }
    /* Tasks it runs that we do not know: ask it to drop them. Until their
     * RESULTs come they keep its slots busy: a TASK sent meanwhile would
     * exceed its capacity. */
    for (size_t k = 0; k < h->active_count; k++) {
        bool known = lease_find(a, h->active[k]) != NULL;
        for (size_t i = 0; i < a->n_canceled; i++)
            known |= a->canceled[i] == h->active[k]; /* listed twice */
        if (!known) {
            if (ids_add(&a->canceled, &a->n_canceled, &a->cap_canceled, h->active[k]) < 0)
                log_warn("agent %s: out of memory noting canceled task %llu", a->agent_id,
                         (unsigned long long)h->active[k]);
            proto_msg_t *c = proto_msg_new(PROTO_CANCEL);
            if (c) {
                c->cancel.task_id = h->active[k];
                agent_send(d, a, c);
                proto_msg_destroy(&c);
            }
        }
    }
    log_msg(d->quiet_agents ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "agent %s joined (capacity %u)",
            a->agent_id, a->capacity);
    if (d->cb.on_agent)
        d->cb.on_agent(d->cb.ud, a->agent_id, true);
}

static void on_message(dispatch_t *d, const void *rid, size_t rid_len, proto_msg_t *msg)
{
    if (msg->command == PROTO_HELLO) {
        on_hello(d, rid, rid_len, &msg->hello);
        return;
    }
    agent_entry_t *a = agent_find(d, rid, rid_len);
    if (!a || !a->ready) {
        if (msg->command != PROTO_DISCONNECT)
            send_disconnect(d, rid, rid_len, "expected HELLO");
        return;
    }
    a->last_recv_ms = now_ms(d);
    switch (msg->command) {
    case PROTO_RESULT:
        if (lease_remove(a, msg->result.task_id, msg->result.bytes, a->last_recv_ms))
            d->cb.on_result(d->cb.ud, a->agent_id, &msg->result);
        else
            ids_remove(a->canceled, &a->n_canceled, msg->result.task_id);
        return;
    case PROTO_PROGRESS: {
        lease_t *l = lease_find(a, msg->progress.task_id);
        if (!l)
            return;
        if (l->size && msg->progress.bytes_done > l->done) { /* bytes moved: not stalled */
            rate_note(a, msg->progress.bytes_done - l->done, a->last_recv_ms);
            l->done = msg->progress.bytes_done;
            l->done_ms = a->last_recv_ms;
        }
        if (d->cb.on_progress)
            d->cb.on_progress(d->cb.ud, &msg->progress);
        return;
    }
    case PROTO_CREDIT:
        a->capacity = msg->credit.capacity;
        return;
    case PROTO_HEARTBEAT:
        return;
    case PROTO_DISCONNECT:
        agent_gone(d, a,
                   msg->disconnect.reason && *msg->disconnect.reason ? msg->disconnect.reason
                                                                     : "disconnected");
        agent_forget(d, a);
        return;
    default:
        send_disconnect(d, rid, rid_len, "unexpected command");
    }
}

int dispatch_fd(const dispatch_t *d)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(d->sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

bool dispatch_readable(const dispatch_t *d)
{
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(d->sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

void dispatch_poll(dispatch_t *d, int timeout_ms)
{
    zmq_pollitem_t item = {d->sock, 0, ZMQ_POLLIN, 0};
    zmq_poll(&item, 1, timeout_ms);
    for (int n = 0; n < 1000; n++) {
        proto_msg_t *msg = NULL;
        void *rid = NULL;
        size_t rid_len = 0;
        ferry_err_t err;
        int rc = proto_recv(d->sock, true, &msg, &rid, &rid_len, &err);
        if (rc == FERRY_ERETRY) {
            free(rid);
            break;
        }
        if (rc < 0) {
            log_warn("dropping an invalid message: %s", err.message);
            if (rid) {
                agent_entry_t *a = agent_find(d, rid, rid_len);
                if (a)
                    a->last_recv_ms = now_ms(d);
                send_disconnect(d, rid, rid_len, err.message);
            }
            free(rid);
            continue;
        }
        on_message(d, rid, rid_len, msg);
        proto_msg_destroy(&msg);
        free(rid);
    }
    if (d->zap) {
        /* An agent whose key is not on the allowlist: said once per key. */
        proto_zap_refusal_t refused[8];
        size_t n_refused = proto_zap_refused(d->zap, refused, 8);
        for (size_t i = 0; i < n_refused; i++)
            log_warn("refused an agent key %s... from %s: it is not on the --allow-keys list",
                     refused[i].key, refused[i].address);
    }
    int64_t now = now_ms(d);
    for (size_t i = 0; i < d->n_agents;) {
        agent_entry_t *a = &d->agents[i];
        if (a->ready && now - a->last_recv_ms > 3 * (int64_t)d->heartbeat_ms) {
            agent_gone(d, a, "silent for 3 heartbeat intervals");
            agent_forget(d, a);
            continue;
        }
        if (a->ready && now - a->last_send_ms >= d->heartbeat_ms) {
            proto_msg_t *hb = proto_msg_new(PROTO_HEARTBEAT);
            if (hb)
                agent_send(d, a, hb);
            proto_msg_destroy(&hb);
        }
        i++;
    }
}

int dispatch_free_slots(const dispatch_t *d)
{
    int free_slots = 0;
    for (size_t i = 0; i < d->n_agents; i++)
        free_slots += (int)agent_free_slots(&d->agents[i]);
    return free_slots;
}

int dispatch_agents(const dispatch_t *d)
{
    int n = 0;
    for (size_t i = 0; i < d->n_agents; i++)
        n += d->agents[i].ready;
    return n;
}

int dispatch_leased(const dispatch_t *d)
{
    int n = 0;
    for (size_t i = 0; i < d->n_agents; i++)
        n += (int)d->agents[i].n_leases;
    return n;
}

int dispatch_pick(const dispatch_load_t *loads, size_t n, uint64_t size, uint64_t queued)
{
    int most = DISPATCH_NONE; /* the most free slots */
    bool measured = size >= DISPATCH_BALANCE_MIN;
    for (size_t i = 0; i < n; i++) {
        if (loads[i].free_slots && (most < 0 || loads[i].free_slots > loads[most].free_slots))
            most = (int)i;
        measured &= loads[i].rate > 0;
    }
    if (most < 0 || !measured)
        return most;
    /* When would each agent be done with its own bytes and these? */
    int best = DISPATCH_NONE;
    double best_s = 0, soonest_s = -1;
    for (size_t i = 0; i < n; i++) {
        double secs = (loads[i].outstanding + (double)size) / loads[i].rate;
        if (soonest_s < 0 || secs < soonest_s)
            soonest_s = secs;
        if (loads[i].free_slots && (best < 0 || secs < best_s)) {
            best = (int)i;
            best_s = secs;
        }
    }
    if (best_s <= soonest_s * 1.2)
        return best;
    /* Waiting pays only at the end: when the others would be done with all
     * their work, the queue and this task before this agent with it. */
    double others_bytes = (double)queued + (double)size, others_rate = 0;
    for (size_t i = 0; i < n; i++) {
        if ((int)i != best) {
            others_bytes += loads[i].outstanding;
            others_rate += loads[i].rate;
        }
    }
    return others_bytes / others_rate < best_s ? DISPATCH_HOLD : best;
}

/* The agent for a task of size bytes (see dispatch_pick) in *out, or
 * DISPATCH_HELD, FERRY_ERETRY or FERRY_ENOMEM. */
static int agent_pick(dispatch_t *d, uint64_t size, uint64_t queued, agent_entry_t **out,
                      ferry_err_t *err)
{
    if (d->cap_loads < d->cap_agents) { /* as large as the agents table */
        dispatch_load_t *l = realloc(d->loads, d->cap_agents * sizeof *l);
        if (!l)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        d->loads = l;
        d->cap_loads = d->cap_agents;
    }
    /* Rates and what is left to move matter only to a task counted by bytes. */
    bool sized = size >= DISPATCH_BALANCE_MIN;
    int64_t now = now_ms(d);
    size_t n = 0;
    for (size_t i = 0; i < d->n_agents; i++) {
        const agent_entry_t *a = &d->agents[i];
        if (!a->ready)
            continue;
        bool stalled = a->n_sized && now - a->mark_ms > DISPATCH_STALL_MS;
        d->loads[n++] =
            (dispatch_load_t){agent_free_slots(a), sized && !stalled ? agent_rate(a) : 0,
                              sized ? agent_outstanding(a, now) : 0, i};
    }
    int k = dispatch_pick(d->loads, n, size, queued);
    if (k == DISPATCH_HOLD)
        return ferry_err_set(err, DISPATCH_HELD, "held for an agent expected to finish it sooner");
    if (k < 0)
        return ferry_err_set(err, FERRY_ERETRY, "no agent has a free slot");
    *out = &d->agents[d->loads[k].agent];
    return 0;
}

int dispatch_send(dispatch_t *d, uint64_t task_id, uint64_t size, uint64_t queued, ferry_err_t *err)
{
    agent_entry_t *best = NULL;
    int rc = agent_pick(d, size, queued, &best, err);
    if (rc != 0)
        return rc;
    proto_msg_t *m = proto_msg_new(PROTO_TASK);
    if (!m)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    int64_t now = now_ms(d);
    rc = d->cb.fill_task(d->cb.ud, task_id, &m->task);
    if (rc == 0)
        rc = lease_add(best, task_id, size, now);
    if (rc == 0) {
        rc = proto_send(d->sock, best->rid, best->rid_len, m, err);
        if (rc == 0)
            best->last_send_ms = now;
        else
            lease_remove(best, task_id, 0, now);
    } else {
        ferry_err_set(err, rc, "cannot prepare task %llu", (unsigned long long)task_id);
    }
    proto_msg_destroy(&m);
    return rc;
}

void dispatch_wake(dispatch_t *d)
{
    for (size_t i = 0; i < d->n_agents; i++) {
        if (!d->agents[i].ready)
            continue;
        proto_msg_t *hb = proto_msg_new(PROTO_HEARTBEAT);
        if (hb)
            agent_send(d, &d->agents[i], hb);
        proto_msg_destroy(&hb);
    }
}

void dispatch_cancel(dispatch_t *d, uint64_t task_id)
{
    for (size_t i = 0; i < d->n_agents; i++) {
        agent_entry_t *a = &d->agents[i];
        if (!lease_find(a, task_id))
            continue;
        proto_msg_t *c = proto_msg_new(PROTO_CANCEL);
        if (c) {
            c->cancel.task_id = task_id;
            agent_send(d, a, c);
            proto_msg_destroy(&c);
        }
        return;
    }
}

dispatch_t *dispatch_new(void *zmq_ctx, const dispatch_opts_t *opts, const dispatch_cb_t *cb,
                         ferry_err_t *err)
{
    dispatch_t *d = calloc(1, sizeof *d);
    if (!d) {
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    d->cb = *cb;
    d->clock_ms = opts->clock_ms ? opts->clock_ms : http_now_ms;
    d->heartbeat_ms = opts->heartbeat_ms > 0 ? opts->heartbeat_ms : 1000;
    d->quiet_agents = opts->in_process;
    snprintf(d->session, sizeof d->session, "s%llx", (unsigned long long)now_ms(d));
    if (opts->server_public) {
        d->zap = proto_zap_new(zmq_ctx, opts->allowlist, err);
        if (!d->zap)
            goto fail;
    }
    d->sock = zmq_socket(zmq_ctx, ZMQ_ROUTER);
    if (!d->sock) {
        ferry_err_set(err, FERRY_EIO, "cannot create a ZeroMQ socket: %s",
                      zmq_strerror(zmq_errno()));
        goto fail;
    }
    int one = 1, linger = 0;
    zmq_setsockopt(d->sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(d->sock, ZMQ_LINGER, &linger, sizeof linger);
    proto_socket_limits(d->sock, NULL);
    if (opts->server_public) {
        zmq_setsockopt(d->sock, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(d->sock, ZMQ_CURVE_SECRETKEY, opts->server_secret, 40);
        zmq_setsockopt(d->sock, ZMQ_ZAP_DOMAIN, PROTO_ZAP_DOMAIN, strlen(PROTO_ZAP_DOMAIN));
    }
    if (zmq_bind(d->sock, opts->endpoint) != 0) {
        ferry_err_set(err, FERRY_EINVAL, "cannot listen on %s: %s", opts->endpoint,
                      zmq_strerror(zmq_errno()));
        goto fail;
    }
    return d;
fail:
    dispatch_destroy(&d);
    return NULL;
}

void dispatch_destroy(dispatch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_t *d = *self_p;
    for (size_t i = 0; i < d->n_agents; i++) {
        if (d->agents[i].ready)
            send_disconnect(d, d->agents[i].rid, d->agents[i].rid_len, "migration finished");
        free(d->agents[i].rid);
        free(d->agents[i].leases);
        free(d->agents[i].canceled);
    }
    free(d->agents);
    free(d->loads);
    if (d->sock)
        zmq_close(d->sock);
    proto_zap_destroy(&d->zap);
    free(d);
    *self_p = NULL;
}
