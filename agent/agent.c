/* agent — the worker engine: protocol on a DEALER socket, transfers on curl multi. */
#include "agent/agent.h"
#include "common/creds.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/digest.h"
#include "common/http.h"
#include "common/log.h"
#include "common/reg.h"
#include "proto/proto.h"

#define AGENT_HELLO_HEARTBEAT_MS 1000
#define AGENT_BACKOFF_MIN_MS     250
#define AGENT_BACKOFF_MAX_MS     8000
#define AGENT_PROGRESS_MS        1000

enum agent_state { A_DISCONNECTED = 0, A_HELLO_SENT, A_READY };

typedef struct task_run {
    agent_t *agent;      /* owner */
    proto_msg_t *msg;    /* the TASK, owned */
    int64_t started_ms;  /* when it started */
    int64_t progress_ms; /* when PROGRESS was last sent */
    xfer_t *xfer;        /* blob transfer */
    reg_op_t *op;        /* manifest GET or PUT */
    char *body;          /* manifest bytes */
    size_t body_len;
    char *media_type; /* manifest media type */
    bool finished;    /* ready to report */
    int rc;           /* result */
    ferry_err_t err;
    int outcome;    /* enum proto_outcome */
    uint64_t bytes; /* bytes uploaded */
} task_run_t;

typedef struct reg_entry {
    char *key;  /* endpoint identity, holds the password: wiped on free */
    reg_t *reg; /* the client */
} reg_entry_t;

struct agent {
    void *ctx;                                     /* borrowed zmq context */
    void *sock;                                    /* DEALER, NULL while disconnected */
    char *endpoint;                                /* coordinator endpoint */
    char agent_id[65];                             /* our name */
    int jobs;                                      /* capacity */
    char *server_public, *public_key, *secret_key; /* CURVE keys; secret is wiped */
    int grace_ms;                                  /* drain grace period */
    xfer_opts_t xfer;                              /* transfer tuning */
    volatile sig_atomic_t *stop;                   /* stop request */
    http_loop_t *loop;                             /* transfers */
    int state;                                     /* enum agent_state */
    int heartbeat_ms;                              /* current interval */
    int64_t last_recv_ms;                          /* liveness of the coordinator */
    int64_t last_send_ms;                          /* when we last sent */
    int backoff_ms;                                /* reconnect backoff */
    int64_t reconnect_at_ms;                       /* when to reconnect */
    task_run_t **tasks;                            /* running tasks */
    size_t n_tasks;
    proto_msg_t **pending; /* RESULTs waiting for a coordinator */
    size_t n_pending, cap_pending;
    reg_entry_t *regs; /* registry clients by endpoint */
    size_t n_regs;
    bool local;    /* in-process (inproc://): quieter logs */
    char *auth_file; /* Docker config for tasks without credentials, NULL: the default */
    void *monitor;   /* PAIR on the socket's monitor: a refused CURVE key, NULL without CURVE */
    bool key_refused; /* the coordinator refused our key: said once, then quiet */
    int lost_in_row;  /* reconnects without a WELCOME in between: the first is a warning */
    bool draining; /* stop requested */
    int64_t drain_deadline_ms;
};

/* ------------------------------------------------------------ messaging */

static int agent_send(agent_t *a, const proto_msg_t *msg)
{
    if (!a->sock)
        return FERRY_ERETRY;
    ferry_err_t err;
    int rc = proto_send(a->sock, NULL, 0, msg, &err);
    if (rc < 0) {
        /* A full socket while the coordinator is away is expected: not a warning. */
        log_msg(rc == FERRY_ERETRY ? LOG_LEVEL_DEBUG : LOG_LEVEL_WARN, "sending %s: %s",
                proto_command_name(msg->command), err.message);
        return rc;
    }
    a->last_send_ms = http_now_ms();
    return 0;
}

static void agent_send_simple(agent_t *a, int command)
{
    proto_msg_t *m = proto_msg_new(command);
    if (!m)
        return;
    if (command == PROTO_CREDIT)
        m->credit.capacity = a->draining ? 0 : (uint32_t)a->jobs;
    if (command == PROTO_HEARTBEAT) {
        m->heartbeat.has_running = true;
        m->heartbeat.running = (uint32_t)a->n_tasks;
    }
    agent_send(a, m);
    proto_msg_destroy(&m);
}

static void agent_close_socket(agent_t *a)
{
    if (a->monitor) {
        zmq_socket_monitor(a->sock, NULL, 0);
        int linger = 0;
        zmq_setsockopt(a->monitor, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(a->monitor);
        a->monitor = NULL;
    }
    if (a->sock) {
        int linger = 0;
        zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(a->sock);
        a->sock = NULL;
    }
    a->state = A_DISCONNECTED;
}

/* Opens a fresh socket and says HELLO, listing the tasks still running. */
static int agent_connect(agent_t *a)
{
    ferry_err_t err;
    a->sock = zmq_socket(a->ctx, ZMQ_DEALER);
    if (!a->sock)
        return ferry_err_set(NULL, FERRY_EIO, "zmq_socket");
    int linger = 0;
    zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof linger);
    proto_socket_limits(a->sock, &err);
    if (a->server_public) {
        zmq_setsockopt(a->sock, ZMQ_CURVE_SERVERKEY, a->server_public, 40);
        zmq_setsockopt(a->sock, ZMQ_CURVE_PUBLICKEY, a->public_key, 40);
        zmq_setsockopt(a->sock, ZMQ_CURVE_SECRETKEY, a->secret_key, 40);
    }
    if (a->server_public) {
        /* The handshake's refusal (a key not on the allowlist) comes as a
         * monitor event, not as a message. */
        static atomic_uint monitors;
        char ep[64];
        snprintf(ep, sizeof ep, "inproc://ferry-agent-monitor-%u", atomic_fetch_add(&monitors, 1));
        if (zmq_socket_monitor(a->sock, ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0 &&
            (a->monitor = zmq_socket(a->ctx, ZMQ_PAIR)) && zmq_connect(a->monitor, ep) != 0) {
            zmq_close(a->monitor);
            a->monitor = NULL;
        }
    }
    if (zmq_connect(a->sock, a->endpoint) != 0) {
        log_error("cannot connect to %s: %s", a->endpoint, zmq_strerror(zmq_errno()));
        agent_close_socket(a);
        return FERRY_EINVAL;
    }
    proto_msg_t *hello = proto_msg_new(PROTO_HELLO);
    if (!hello)
        return FERRY_ENOMEM;
    int rc = proto_str_set(&hello->hello.agent_id, a->agent_id);
    if (rc == 0)
        rc = proto_str_set(&hello->hello.version, FERRY_VERSION);
    hello->hello.protocol = PROTO_VERSION;
    hello->hello.capacity = (uint32_t)a->jobs;
    hello->hello.pid = (uint32_t)getpid();
    if (rc == 0 && a->n_tasks) {
        hello->hello.active = calloc(a->n_tasks, sizeof(uint64_t));
        if (!hello->hello.active)
            rc = FERRY_ENOMEM;
        for (size_t i = 0; rc == 0 && i < a->n_tasks; i++)
            hello->hello.active[i] = a->tasks[i]->msg->task.task_id;
        hello->hello.active_count = rc == 0 ? a->n_tasks : 0;
    }
    if (rc == 0)
        rc = agent_send(a, hello);
    proto_msg_destroy(&hello);
    a->state = A_HELLO_SENT;
    a->heartbeat_ms = AGENT_HELLO_HEARTBEAT_MS;
    a->last_recv_ms = http_now_ms();
    log_debug("connecting to %s as %s", a->endpoint, a->agent_id);
    return rc;
}

/* A refused key, from the socket's monitor: said once. */
static void agent_check_monitor(agent_t *a)
{
    zmq_msg_t event;
    zmq_msg_init(&event);
    while (a->monitor && zmq_msg_recv(&event, a->monitor, ZMQ_DONTWAIT) >= 0) {
        uint16_t id = 0;
        if (zmq_msg_size(&event) >= sizeof id)
            memcpy(&id, zmq_msg_data(&event), sizeof id);
        bool more = zmq_msg_more(&event);
        while (more) { /* the endpoint frame */
            zmq_msg_close(&event);
            zmq_msg_init(&event);
            more = zmq_msg_recv(&event, a->monitor, 0) >= 0 && zmq_msg_more(&event);
        }
        if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !a->key_refused) {
            log_error("the coordinator at %s does not accept this agent's key (%.12s...): add the "
                      "key's line from its .pub file to the coordinator's --allow-keys list",
                      a->endpoint, a->public_key ? a->public_key : "?");
            a->key_refused = true;
        }
    }
    zmq_msg_close(&event);
}

/* The coordinator is gone: close, and reconnect after a growing backoff.
 * The first of a row of reconnects is a warning, the rest are quiet, and a
 * coordinator that finished or drained is news, not a warning. */
static void agent_lost(agent_t *a, const char *why)
{
    bool normal = strcmp(why, "migration finished") == 0 || strcmp(why, "shutting down") == 0;
    int level = normal ? LOG_LEVEL_INFO
                : a->key_refused || a->lost_in_row > 0 ? LOG_LEVEL_DEBUG
                                                       : LOG_LEVEL_WARN;
    a->lost_in_row++;
    log_msg(level, "coordinator %s: %s; reconnecting in %d ms", a->endpoint, why, a->backoff_ms);
    agent_close_socket(a);
    a->reconnect_at_ms = http_now_ms() + a->backoff_ms;
    a->backoff_ms =
        a->backoff_ms * 2 > AGENT_BACKOFF_MAX_MS ? AGENT_BACKOFF_MAX_MS : a->backoff_ms * 2;
}

static void agent_flush_pending(agent_t *a)
{
    size_t sent = 0;
    while (sent < a->n_pending && a->state == A_READY && agent_send(a, a->pending[sent]) == 0) {
        proto_msg_destroy(&a->pending[sent]);
        sent++;
    }
    /* pending is NULL until the first RESULT: memmove must not see it. */
    if (sent == 0)
        return;
    memmove(a->pending, a->pending + sent, (a->n_pending - sent) * sizeof *a->pending);
    a->n_pending -= sent;
}

/* ------------------------------------------------------------ registries */

static reg_t *agent_reg(agent_t *a, const proto_endpoint_t *ep, ferry_err_t *err)
{
    char ca_digest[DIGEST_STR_MAX] = "";
    if (ep->ca_pem)
        digest_sha256(ep->ca_pem, strlen(ep->ca_pem), ca_digest);
    fbuf_t key;
    fbuf_init(&key, 16 * 1024);
    fbuf_printf(&key, "%s\n%d%d\n%s\n%s\n%s\n%u", ep->host, ep->plain_http, ep->tls_verify,
                ep->username ? ep->username : "", ep->password ? ep->password : "", ca_digest,
                ep->qps);
    for (size_t i = 0; i < a->n_regs; i++) {
        if (key.data && strcmp(a->regs[i].key, key.data) == 0) {
            OPENSSL_cleanse(key.data, key.len);
            fbuf_free(&key);
            return a->regs[i].reg;
        }
    }
    reg_entry_t *r = realloc(a->regs, (a->n_regs + 1) * sizeof *r);
    if (!r || !key.data) {
        fbuf_free(&key);
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    a->regs = r;
    reg_opts_t o = {0};
    o.host = ep->host;
    o.plain_http = ep->plain_http;
    o.tls_insecure = !ep->tls_verify;
    o.ca_pem = ep->ca_pem;
    o.username = ep->username;
    o.password = ep->password;
    o.qps = ep->qps;
    /* A task without credentials (--insecure-control sends none): the
     * agent's own login for the host, from its Docker config. */
    creds_t own = {0};
    if (!ep->username && !a->local) {
        char *path = a->auth_file ? strdup(a->auth_file) : creds_default_config_path();
        ferry_err_t why;
        if (path && creds_from_docker_config(path, ep->host, &own, &why) == 0 && own.username) {
            o.username = own.username;
            o.password = own.password;
        }
        free(path);
    }
    reg_t *reg = reg_new(a->loop, &o, err);
    creds_clear(&own);
    if (!reg) {
        OPENSSL_cleanse(key.data, key.len);
        fbuf_free(&key);
        return NULL;
    }
    a->regs[a->n_regs].key = fbuf_steal(&key);
    a->regs[a->n_regs].reg = reg;
    a->n_regs++;
    return reg;
}

/* ----------------------------------------------------------------- tasks */

static void task_done(task_run_t *t, int rc, const ferry_err_t *err)
{
    t->finished = true;
    t->rc = rc;
    if (rc < 0) {
        if (err && err != &t->err)
            t->err = *err;
        t->outcome = PROTO_OUTCOME_FAILED;
    }
}

static void on_xfer(xfer_t *x, void *ud)
{
    task_run_t *t = ud;
    int rc = xfer_result(x);
    if (rc == 0) {
        int o = xfer_outcome(x);
        t->outcome = o == XFER_SKIPPED   ? PROTO_OUTCOME_SKIPPED
                     : o == XFER_MOUNTED ? PROTO_OUTCOME_MOUNTED
                                         : PROTO_OUTCOME_DONE;
        t->bytes = o == XFER_COPIED ? (uint64_t)xfer_size(x) : 0;
    }
    task_done(t, rc, xfer_error(x));
}

static void on_manifest_put(reg_op_t *op, void *ud)
{
    task_run_t *t = ud;
    int rc = reg_op_result(op);
    if (rc == 0) {
        t->outcome = PROTO_OUTCOME_DONE;
        t->bytes = t->body_len;
    }
    task_done(t, rc, reg_op_error(op));
}

/* PUTs the manifest in t->body under the task's tag, or by digest. */
static void manifest_push(task_run_t *t)
{
    const proto_task_t *task = &t->msg->task;
    reg_t *dst = agent_reg(t->agent, &task->target, &t->err);
    if (!dst) {
        task_done(t, t->err.code, NULL);
        return;
    }
    t->op = reg_manifest_put(dst, task->target_repo, task->tag ? task->tag : task->digest,
                             t->media_type, t->body, t->body_len, on_manifest_put, t);
    if (!t->op)
        task_done(t, ferry_err_set(&t->err, FERRY_ENOMEM, "out of memory"), NULL);
}

static void on_manifest_get(reg_op_t *op, void *ud)
{
    task_run_t *t = ud;
    int rc = reg_op_result(op);
    if (rc < 0) {
        task_done(t, rc, reg_op_error(op));
        return;
    }
    const proto_task_t *task = &t->msg->task;
    t->body = reg_op_steal_body(op, &t->body_len);
    const char *mt =
        task->media_type && *task->media_type ? task->media_type : reg_op_media_type(op);
    t->media_type = mt ? strdup(mt) : NULL;
    if (!t->media_type) {
        task_done(t,
                  ferry_err_set(&t->err, FERRY_EPROTO,
                                "manifest %s@%s: the source sent no media type", task->source_repo,
                                task->digest),
                  NULL);
        return;
    }
    /* The GET that called us is replaced by the PUT and freed here, which
     * reg allows from its own callback once the op has finished. */
    t->op = NULL;
    manifest_push(t);
    reg_op_destroy(&op);
}

/* A put-manifest task whose TASK carries the bytes pushes them without a
 * GET, once they hash to the task's digest; bytes that do not are dropped
 * and the source is asked instead (it is the authority). Returns true when
 * the push started from the TASK's bytes. */
static bool manifest_from_task(task_run_t *t)
{
    proto_task_t *task = &t->msg->task;
    ferry_err_t err;
    if (digest_verify(task->digest, task->manifest, task->manifest_len, &err) < 0) {
        log_warn("manifest %s@%s sent by the coordinator: %s; fetching it from the source",
                 task->source_repo, task->digest, err.message);
        return false;
    }
    t->body = task->manifest;
    t->body_len = task->manifest_len;
    task->manifest = NULL;
    task->manifest_len = 0;
    t->media_type = strdup(task->media_type);
    if (!t->media_type)
        task_done(t, ferry_err_set(&t->err, FERRY_ENOMEM, "out of memory"), NULL);
    else
        manifest_push(t);
    return true;
}

static int task_start(task_run_t *t)
{
    agent_t *a = t->agent;
    const proto_task_t *task = &t->msg->task;
    reg_t *src = agent_reg(a, &task->source, &t->err);
    reg_t *dst = src ? agent_reg(a, &task->target, &t->err) : NULL;
    if (!src || !dst)
        return t->err.code ? t->err.code : FERRY_ENOMEM;
    switch (task->kind) {
    case PROTO_KIND_COPY_BLOB:
    case PROTO_KIND_MOUNT_BLOB:
        t->xfer = xfer_blob(
            src, task->source_repo, dst, task->target_repo, task->digest, task->size,
            task->kind == PROTO_KIND_MOUNT_BLOB ? task->mount_from : NULL, &a->xfer, on_xfer, t);
        return t->xfer ? 0 : FERRY_ENOMEM;
    case PROTO_KIND_PUT_MANIFEST:
        if (task->manifest && manifest_from_task(t))
            return 0;
        t->op = reg_manifest_get(src, task->source_repo, task->digest, on_manifest_get, t);
        return t->op ? 0 : FERRY_ENOMEM;
    }
    return ferry_err_set(&t->err, FERRY_EINVAL, "unknown task kind %d", task->kind);
}

static void task_free(task_run_t **tp)
{
    task_run_t *t = *tp;
    if (!t)
        return;
    xfer_destroy(&t->xfer);
    reg_op_destroy(&t->op);
    free(t->body);
    free(t->media_type);
    proto_msg_destroy(&t->msg);
    free(t);
    *tp = NULL;
}

static proto_msg_t *task_result(const task_run_t *t)
{
    proto_msg_t *m = proto_msg_new(PROTO_RESULT);
    if (!m)
        return NULL;
    proto_result_t *r = &m->result;
    r->task_id = t->msg->task.task_id;
    r->outcome = t->rc < 0 ? PROTO_OUTCOME_FAILED : t->outcome;
    r->error_class = t->rc == 0                    ? PROTO_ERROR_NONE
                     : ferry_code_retryable(t->rc) ? PROTO_ERROR_RETRYABLE
                                                   : PROTO_ERROR_PERMANENT;
    int rc = proto_str_set(&r->error_code, t->rc < 0 ? ferry_code_name(t->rc) : "");
    char message[1024];
    snprintf(message, sizeof message, "%s", t->rc < 0 ? t->err.message : "");
    if (rc == 0)
        rc = proto_str_set(&r->message, message);
    if (rc == 0 && t->rc == 0)
        rc = proto_str_set(&r->digest, t->msg->task.digest);
    r->bytes = t->bytes;
    r->duration_ms = (uint64_t)(http_now_ms() - t->started_ms);
    if (rc < 0)
        proto_msg_destroy(&m);
    return m;
}

static void agent_report(agent_t *a, proto_msg_t *result)
{
    if (a->n_pending == a->cap_pending) {
        size_t cap = a->cap_pending ? a->cap_pending * 2 : 16;
        proto_msg_t **p = realloc(a->pending, cap * sizeof *p);
        if (!p) {
            proto_msg_destroy(&result);
            return;
        }
        a->pending = p;
        a->cap_pending = cap;
    }
    a->pending[a->n_pending++] = result;
    agent_flush_pending(a);
}

/* Reports and frees finished tasks. */
static void agent_sweep(agent_t *a)
{
    size_t keep = 0;
    for (size_t i = 0; i < a->n_tasks; i++) {
        task_run_t *t = a->tasks[i];
        if (!t->finished) {
            a->tasks[keep++] = t;
            continue;
        }
        if (t->rc < 0)
            log_info("task %llu %s %s: %s", (unsigned long long)t->msg->task.task_id,
                     proto_task_kind_name(t->msg->task.kind), t->msg->task.digest, t->err.message);
        else
            log_debug("task %llu %s %s: %s", (unsigned long long)t->msg->task.task_id,
                      proto_task_kind_name(t->msg->task.kind), t->msg->task.digest,
                      proto_outcome_name(t->outcome));
        proto_msg_t *result = task_result(t);
        if (result)
            agent_report(a, result);
        task_free(&t);
    }
    a->n_tasks = keep;
}

static void task_cancel(agent_t *a, task_run_t *t, const char *why)
{
    xfer_destroy(&t->xfer);
    reg_op_destroy(&t->op);
    ferry_err_set(&t->err, FERRY_ECANCELED, "task %llu canceled: %s",
                  (unsigned long long)t->msg->task.task_id, why);
    t->rc = FERRY_ECANCELED;
    t->finished = true;
    t->outcome = PROTO_OUTCOME_FAILED;
    (void)a;
}

static void agent_on_task(agent_t *a, proto_msg_t **msg_p)
{
    proto_msg_t *msg = *msg_p;
    uint64_t id = msg->task.task_id;
    if (a->state != A_READY || a->draining) {
        log_warn("dropping task %llu: %s", (unsigned long long)id,
                 a->draining ? "draining" : "no WELCOME yet");
        return;
    }
    for (size_t i = 0; i < a->n_tasks; i++) {
        if (a->tasks[i]->msg->task.task_id == id) {
            log_debug("dropping duplicate task %llu", (unsigned long long)id);
            return;
        }
    }
    if ((int)a->n_tasks >= a->jobs) {
        /* Answer it, so the coordinator's lease ends and the task goes
         * elsewhere; dropped silently, it would wait for us forever. */
        log_warn("refusing task %llu: the coordinator exceeded our capacity of %d",
                 (unsigned long long)id, a->jobs);
        proto_msg_t *m = proto_msg_new(PROTO_RESULT);
        if (!m)
            return;
        m->result.task_id = id;
        m->result.outcome = PROTO_OUTCOME_FAILED;
        m->result.error_class = PROTO_ERROR_RETRYABLE;
        if (proto_str_set(&m->result.error_code, ferry_code_name(FERRY_ECANCELED)) == 0 &&
            proto_str_set(&m->result.message, "the agent was at capacity; task not started") == 0)
            agent_report(a, m);
        else
            proto_msg_destroy(&m);
        return;
    }
    task_run_t *t = calloc(1, sizeof *t);
    if (!t)
        return;
    t->agent = a;
    t->msg = msg;
    *msg_p = NULL;
    t->started_ms = t->progress_ms = http_now_ms();
    a->tasks[a->n_tasks++] = t;
    int rc = task_start(t);
    if (rc < 0)
        task_done(t, rc, NULL);
}

static void agent_on_message(agent_t *a, proto_msg_t **msg_p)
{
    proto_msg_t *msg = *msg_p;
    a->last_recv_ms = http_now_ms();
    switch (msg->command) {
    case PROTO_WELCOME:
        if (a->state != A_HELLO_SENT) {
            log_debug("unexpected WELCOME dropped");
            return;
        }
        a->state = A_READY;
        a->lost_in_row = 0;
        a->key_refused = false;
        a->heartbeat_ms = (int)msg->welcome.heartbeat_ms;
        a->backoff_ms = AGENT_BACKOFF_MIN_MS;
        log_msg(a->local ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, "connected to %s (session %s)",
                a->endpoint, msg->welcome.session);
        agent_flush_pending(a);
        if (a->draining)
            agent_send_simple(a, PROTO_CREDIT);
        return;
    case PROTO_TASK:
        agent_on_task(a, msg_p);
        return;
    case PROTO_CANCEL:
        for (size_t i = 0; i < a->n_tasks; i++)
            if (a->tasks[i]->msg->task.task_id == msg->cancel.task_id && !a->tasks[i]->finished)
                task_cancel(a, a->tasks[i], "the coordinator canceled it");
        return;
    case PROTO_HEARTBEAT:
        return;
    case PROTO_DISCONNECT:
        agent_lost(a, msg->disconnect.reason && *msg->disconnect.reason ? msg->disconnect.reason
                                                                        : "disconnected");
        return;
    default:
        log_debug("unexpected %s dropped", proto_command_name(msg->command));
    }
}

static void agent_read_socket(agent_t *a)
{
    while (a->sock) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(a->sock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN))
            return;
        proto_msg_t *msg = NULL;
        ferry_err_t err;
        int rc = proto_recv(a->sock, false, &msg, NULL, NULL, &err);
        if (rc == FERRY_ERETRY)
            return;
        if (rc < 0) {
            /* Any traffic shows the coordinator is alive; bad frames are dropped. */
            a->last_recv_ms = http_now_ms();
            log_warn("dropping an invalid message from the coordinator: %s", err.message);
            continue;
        }
        agent_on_message(a, &msg);
        proto_msg_destroy(&msg);
    }
}

static void agent_progress(agent_t *a, int64_t now)
{
    if (a->state != A_READY)
        return;
    for (size_t i = 0; i < a->n_tasks; i++) {
        task_run_t *t = a->tasks[i];
        if (t->finished || !t->xfer || now - t->progress_ms < AGENT_PROGRESS_MS)
            continue;
        t->progress_ms = now;
        proto_msg_t *m = proto_msg_new(PROTO_PROGRESS);
        if (!m)
            continue;
        m->progress.task_id = t->msg->task.task_id;
        int64_t done = xfer_bytes_done(t->xfer);
        m->progress.bytes_done = done > 0 ? (uint64_t)done : 0;
        m->progress.bytes_total = xfer_size(t->xfer);
        agent_send(a, m);
        proto_msg_destroy(&m);
    }
}

int agent_run(agent_t *a)
{
    int rc = agent_connect(a);
    if (rc == FERRY_EINVAL)
        return rc;
    for (;;) {
        int64_t now = http_now_ms();
        if (a->stop && *a->stop && !a->draining) {
            a->draining = true;
            a->drain_deadline_ms = now + a->grace_ms;
            log_msg(a->local ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
                    "stopping: finishing %zu running task(s) within %d s", a->n_tasks,
                    a->grace_ms / 1000);
            agent_send_simple(a, PROTO_CREDIT);
        }
        if (a->draining) {
            if (a->n_tasks && now >= a->drain_deadline_ms)
                for (size_t i = 0; i < a->n_tasks; i++)
                    if (!a->tasks[i]->finished)
                        task_cancel(a, a->tasks[i], "the agent is stopping");
            agent_sweep(a);
            if (a->n_tasks == 0 && (a->n_pending == 0 || now >= a->drain_deadline_ms || !a->sock)) {
                proto_msg_t *bye = proto_disconnect_new("shutting down");
                if (bye && a->sock)
                    agent_send(a, bye);
                proto_msg_destroy(&bye);
                /* Give the last RESULTs and the DISCONNECT up to a second to
                 * leave: closing with linger 0 (as on reconnect) drops them. */
                if (a->sock) {
                    int linger = 1000;
                    zmq_setsockopt(a->sock, ZMQ_LINGER, &linger, sizeof linger);
                    zmq_close(a->sock);
                    a->sock = NULL;
                }
                break;
            }
        }
        if (a->sock && now - a->last_recv_ms > 3 * (int64_t)a->heartbeat_ms)
            agent_lost(a, a->state == A_READY ? "silent for 3 heartbeat intervals" : "no WELCOME");
        if (!a->sock && now >= a->reconnect_at_ms)
            agent_connect(a);
        if (a->sock && now - a->last_send_ms >= a->heartbeat_ms)
            agent_send_simple(a, PROTO_HEARTBEAT);
        agent_progress(a, now);

        struct curl_waitfd wfd = {0};
        unsigned n_wfd = 0;
        if (a->sock) {
            int fd = -1;
            size_t len = sizeof fd;
            if (zmq_getsockopt(a->sock, ZMQ_FD, &fd, &len) == 0) {
                wfd.fd = fd;
                wfd.events = CURL_WAIT_POLLIN;
                n_wfd = 1;
            }
        }
        agent_read_socket(a);
        agent_check_monitor(a);
        int timeout = a->heartbeat_ms / 4 > 100 ? 100 : a->heartbeat_ms / 4;
        http_loop_run(a->loop, timeout, n_wfd ? &wfd : NULL, n_wfd);
        agent_read_socket(a);
        agent_sweep(a);
    }
    return 0;
}

agent_t *agent_new(void *zmq_ctx, const agent_opts_t *opts, ferry_err_t *err)
{
    if (!opts->endpoint || !*opts->endpoint) {
        ferry_err_set(err, FERRY_EINVAL, "no coordinator endpoint given");
        return NULL;
    }
    if (opts->jobs < 0 || opts->jobs > 1024) {
        ferry_err_set(err, FERRY_EINVAL, "--jobs must be between 1 and 1024");
        return NULL;
    }
    agent_t *a = calloc(1, sizeof *a);
    if (!a)
        goto oom;
    a->ctx = zmq_ctx;
    a->endpoint = strdup(opts->endpoint);
    a->local = strncmp(opts->endpoint, "inproc://", 9) == 0;
    a->jobs = opts->jobs ? opts->jobs : 8;
    a->grace_ms = opts->grace_ms > 0 ? opts->grace_ms : 30000;
    a->auth_file = opts->auth_file ? strdup(opts->auth_file) : NULL;
    a->xfer = opts->xfer;
    a->stop = opts->stop;
    a->backoff_ms = AGENT_BACKOFF_MIN_MS;
    a->heartbeat_ms = AGENT_HELLO_HEARTBEAT_MS;
    if (opts->agent_id) {
        snprintf(a->agent_id, sizeof a->agent_id, "%s", opts->agent_id);
    } else {
        char host[64] = "agent";
        gethostname(host, sizeof host - 1);
        host[sizeof host - 1] = '\0';
        for (char *p = host; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_'))
                *p = '-';
        snprintf(a->agent_id, sizeof a->agent_id, "%.40s-%d", host, (int)getpid());
    }
    if (opts->server_public) {
        if (!opts->public_key || !opts->secret_key) {
            ferry_err_set(err, FERRY_EINVAL, "CURVE needs the agent's own key pair (--key)");
            agent_destroy(&a);
            return NULL;
        }
        a->server_public = strdup(opts->server_public);
        a->public_key = strdup(opts->public_key);
        a->secret_key = strdup(opts->secret_key);
        if (!a->server_public || !a->public_key || !a->secret_key)
            goto oom;
    }
    a->tasks = calloc((size_t)a->jobs, sizeof *a->tasks);
    a->loop = http_loop_new();
    if (!a->endpoint || !a->tasks || !a->loop)
        goto oom;
    /* Blobs each on a connection of their own, not streams of one. */
    http_loop_set_http1(a->loop, true);
    return a;
oom:
    ferry_err_set(err, FERRY_ENOMEM, "out of memory creating the agent");
    agent_destroy(&a);
    return NULL;
}

void agent_destroy(agent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    agent_t *a = *self_p;
    for (size_t i = 0; i < a->n_tasks; i++)
        task_free(&a->tasks[i]);
    free(a->tasks);
    for (size_t i = 0; i < a->n_pending; i++)
        proto_msg_destroy(&a->pending[i]);
    free(a->pending);
    for (size_t i = 0; i < a->n_regs; i++) {
        reg_destroy(&a->regs[i].reg);
        OPENSSL_cleanse(a->regs[i].key, strlen(a->regs[i].key));
        free(a->regs[i].key);
    }
    free(a->regs);
    agent_close_socket(a);
    http_loop_destroy(&a->loop);
    free(a->endpoint);
    free(a->auth_file);
    free(a->server_public);
    free(a->public_key);
    if (a->secret_key) {
        OPENSSL_cleanse(a->secret_key, strlen(a->secret_key));
        free(a->secret_key);
    }
    free(a);
    *self_p = NULL;
}
