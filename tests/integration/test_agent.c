/* Integration tests of ferry-agent: a scripted coordinator (a ROUTER socket
 * speaking proto/PROTOCOL.md through the proto module) drives a real
 * ferry-agent process against two real registries, A (source) and B (target).
 *
 * Sub-tests run alone by name (`test_agent NAME`): tasks, manifest, mount,
 * digest, resume, reconnect, curve, hostile, sigterm, memory, throughput.
 * The memory test copies 16 blobs of FERRY_AGENT_BIG_MB MiB in all (default
 * 256) at once and prints `agent: peak RSS X MiB with 16 transfers`; the
 * throughput test prints `agent throughput: X MB/s vs raw pipe Y MB/s`.
 * Each agent's log goes to a file that is printed when a sub-test fails. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/http.h"
#include "common/reg.h"
#include "fixture.h"
#include "proto/proto.h"
#include "testlib.h"

#ifndef FERRY_AGENT_BIN
#error "FERRY_AGENT_BIN must name the ferry-agent executable"
#endif

#define MiB            (1024LL * 1024)
#define HEARTBEAT_MS   500
#define HELLO_WAIT_MS  15000 /* an ASan agent starts slowly */
#define TASK_WAIT_MS   90000
#define RSS_MAX        (64 * MiB)
#define BIG_MB_DEFAULT 256
#define BIG_MB_MAX     16384

#if defined(__SANITIZE_ADDRESS__)
#define AGENT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AGENT_TEST_ASAN 1
#endif
#endif

/* "At least once per second", plus a loop tick and scheduling (more under
 * a sanitizer, on a loaded machine). */
#ifdef AGENT_TEST_ASAN
#define PROGRESS_GAP_MAX_MS 2000
#else
#define PROGRESS_GAP_MAX_MS 1500
#endif

static http_loop_t *loop;         /* for HEAD checks on the target */
static fx_registry_t *reg_a;      /* source registry, started on first use */
static fx_registry_t *reg_b;      /* target registry */
static char workdir[256];         /* agent logs, key files */
static uint64_t next_task_id = 1; /* unique over the whole run */

/* ------------------------------------------------------------ fixtures */

static bool registries(void)
{
    if (!reg_a)
        reg_a = fx_registry_start("anon", 0);
    if (!reg_b)
        reg_b = fx_registry_start("anon", 0);
    CHECK(reg_a != NULL);
    CHECK(reg_b != NULL);
    return reg_a && reg_b;
}

typedef struct image_entry {
    char key[128]; /* registry tag + repo */
    json_t *img;   /* fx_push_image output, owned */
} image_entry_t;

static image_entry_t images[32];
static size_t n_images;

/* Pushes a synthetic image to r once per run (repo:v1 with extra push flags)
 * and returns the push output (borrowed), or NULL. */
static json_t *image(fx_registry_t *r, const char *repo, const char *args)
{
    char key[128];
    snprintf(key, sizeof key, "%s/%s", r == reg_a ? "A" : "B", repo);
    for (size_t i = 0; i < n_images; i++)
        if (strcmp(images[i].key, key) == 0)
            return images[i].img;
    int64_t t0 = http_now_ms();
    json_t *img = fx_push_image(r, repo, "v1", args);
    CHECK(img != NULL);
    if (!img || n_images == sizeof images / sizeof images[0]) {
        json_decref(img);
        return NULL;
    }
    fprintf(stderr, "pushed %s (%s) in %lld ms\n", key, args, (long long)(http_now_ms() - t0));
    snprintf(images[n_images].key, sizeof images[n_images].key, "%s", key);
    images[n_images++].img = img;
    return img;
}

static size_t image_blob_count(json_t *img)
{
    return json_array_size(json_object_get(img, "blobs"));
}

static const char *image_blob_digest(json_t *img, size_t i)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(img, "blobs"), i), "digest"));
}

static int64_t image_blob_size(json_t *img, size_t i)
{
    return (int64_t)json_integer_value(
        json_object_get(json_array_get(json_object_get(img, "blobs"), i), "size"));
}

/* The blob's size when r's repo has it (HEAD), -1 when absent, -2 on error. */
static int64_t blob_head(const fx_registry_t *r, const char *repo, const char *digest)
{
    reg_opts_t o = {0};
    o.host = r->host;
    o.plain_http = true;
    ferry_err_t err;
    reg_t *reg = reg_new(loop, &o, &err);
    if (!reg)
        return -2;
    int64_t size = -2;
    reg_op_t *op = reg_blob_head(reg, repo, digest, NULL, NULL);
    if (op && reg_op_wait(op) == 0)
        size = reg_op_exists(op) ? reg_op_size(op) : -1;
    reg_op_destroy(&op);
    reg_destroy(&reg);
    return size;
}

/* ------------------------------------------------------- agent process */

typedef struct agent_proc {
    pid_t pid;          /* 0 once reaped */
    char log_path[512]; /* its stderr */
} agent_proc_t;

static pid_t live_agents[16]; /* killed at exit if a sub-test left one */

static void kill_live_agents(void)
{
    for (size_t i = 0; i < sizeof live_agents / sizeof live_agents[0]; i++)
        if (live_agents[i] > 0) {
            kill(live_agents[i], SIGKILL);
            waitpid(live_agents[i], NULL, 0);
            live_agents[i] = 0;
        }
}

static void track_agent(pid_t pid, pid_t replace)
{
    for (size_t i = 0; i < sizeof live_agents / sizeof live_agents[0]; i++)
        if (live_agents[i] == replace) {
            live_agents[i] = pid;
            return;
        }
}

/* Starts ferry-agent --connect endpoint --jobs jobs --id name --log-level
 * debug [--server-key server_key --key key], stderr and stdout to a log
 * file in workdir. 0 or -1. */
static int agent_spawn(agent_proc_t *ap, const char *name, const char *endpoint, int jobs,
                       const char *server_key, const char *key)
{
    memset(ap, 0, sizeof *ap);
    snprintf(ap->log_path, sizeof ap->log_path, "%s/%s.log", workdir, name);
    char jobs_text[16];
    snprintf(jobs_text, sizeof jobs_text, "%d", jobs);
    const char *args[16];
    int n = 0;
    args[n++] = FERRY_AGENT_BIN;
    args[n++] = "--connect";
    args[n++] = endpoint;
    args[n++] = "--jobs";
    args[n++] = jobs_text;
    args[n++] = "--id";
    args[n++] = name;
    args[n++] = "--log-level";
    args[n++] = "debug";
    if (server_key) {
        args[n++] = "--server-key";
        args[n++] = server_key;
        args[n++] = "--key";
        args[n++] = key;
    }
    args[n] = NULL;
    int fd = open(ap->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "cannot create %s: %s\n", ap->log_path, strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(args[0], (char *const *)args);
        _exit(127);
    }
    close(fd);
    if (pid < 0) {
        fprintf(stderr, "fork: %s\n", strerror(errno));
        return -1;
    }
    ap->pid = pid;
    track_agent(pid, 0);
    return 0;
}

/* Waits up to timeout_ms for the agent to exit; its wait status in *status.
 * 0 when it exited, -1 when it still runs. */
static int agent_reap(agent_proc_t *ap, int timeout_ms, int *status)
{
    int64_t deadline = http_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(ap->pid, status, WNOHANG);
        if (r == ap->pid) {
            track_agent(0, ap->pid);
            ap->pid = 0;
            return 0;
        }
        if (http_now_ms() >= deadline)
            return -1;
        usleep(20 * 1000);
    }
}

/* The agent's log as a string (caller frees), or NULL. */
static char *agent_log(const agent_proc_t *ap)
{
    char *out = NULL;
    if (fx_run(&out, "cat %s", ap->log_path) != 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void agent_log_dump(const agent_proc_t *ap)
{
    fprintf(stderr, "---- last lines of %s\n", ap->log_path);
    fx_run(NULL, "tail -n 60 %s 1>&2", ap->log_path);
    fprintf(stderr, "----\n");
}

/* A "VmXXX:" field of /proc/PID/status in bytes, or -1. */
static long long proc_status_bytes(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long long kib = -1;
    size_t flen = strlen(field);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *end = NULL;
            kib = strtoll(line + flen + 1, &end, 10);
            if (end == line + flen + 1)
                kib = -1;
            break;
        }
    }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

/* CPU time (user + system) the process used so far in ms, or -1. */
static long long proc_cpu_ms(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    /* Fields after the command name in parentheses: state is field 3,
     * utime 14 and stime 15. */
    char *p = strrchr(text, ')');
    if (!p)
        return -1;
    unsigned long long utime = 0, stime = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    return ticks > 0 ? (long long)((utime + stime) * 1000 / (unsigned long long)ticks) : -1;
}

/* True while pid runs (a zombie, dead but not yet reaped, does not). */
static bool proc_alive(pid_t pid)
{
    char path[64], text[512];
    if (pid <= 0 || kill(pid, 0) != 0)
        return false;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char *p = strrchr(text, ')');
    return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/* ------------------------------------------------ scripted coordinator */

typedef struct progress_rec {
    uint64_t task_id;    /* PROGRESS.task_id */
    int64_t at_ms;       /* when it arrived */
    uint64_t bytes_done; /* PROGRESS.bytes_done */
    int64_t bytes_total; /* PROGRESS.bytes_total */
} progress_rec_t;

#define PROGRESS_MAX 4096

typedef struct coord {
    void *ctx;          /* own zmq context */
    void *router;       /* the bound ROUTER */
    proto_zap_t *zap;   /* CURVE: the allowlist handler, else NULL */
    char endpoint[128]; /* tcp://127.0.0.1:PORT */
    void *rid;          /* routing id of the last HELLO, owned */
    size_t rid_len;
    bool welcomed;        /* WELCOME sent on that connection: send heartbeats */
    int heartbeat_ms;     /* from our WELCOME */
    int64_t last_send_ms; /* for heartbeats */
    pid_t agent_pid;      /* when not 0: stop waiting as soon as this agent dies */
    int hellos;           /* HELLOs received */
    int invalid;          /* invalid messages from the agent */
    uint32_t max_running; /* largest HEARTBEAT.running */
    progress_rec_t progress[PROGRESS_MAX];
    size_t n_progress;
} coord_t;

static void coord_destroy(coord_t **self_p)
{
    coord_t *c = *self_p;
    if (!c)
        return;
    if (c->router)
        zmq_close(c->router);
    proto_zap_destroy(&c->zap);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c->rid);
    free(c);
    *self_p = NULL;
}

/* Binds a ROUTER on endpoint (NULL: tcp://127.0.0.1:*), as a CURVE server
 * with an allowlist when server_secret is given. NULL on failure. */
static coord_t *coord_new(const char *endpoint, const char *server_secret, const char *allowlist)
{
    coord_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->heartbeat_ms = HEARTBEAT_MS;
    c->ctx = zmq_ctx_new();
    if (!c->ctx)
        goto fail;
    if (server_secret) {
        ferry_err_t err;
        c->zap = proto_zap_new(c->ctx, allowlist, &err);
        if (!c->zap) {
            fprintf(stderr, "proto_zap_new: %s\n", err.message);
            goto fail;
        }
    }
    c->router = zmq_socket(c->ctx, ZMQ_ROUTER);
    if (!c->router)
        goto fail;
    int one = 1, linger = 0;
    ferry_err_t err;
    zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof linger);
    proto_socket_limits(c->router, &err);
    if (server_secret) {
        zmq_setsockopt(c->router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(c->router, ZMQ_CURVE_SECRETKEY, server_secret, 40);
        zmq_setsockopt(c->router, ZMQ_ZAP_DOMAIN, PROTO_ZAP_DOMAIN, strlen(PROTO_ZAP_DOMAIN));
    }
    if (zmq_bind(c->router, endpoint ? endpoint : "tcp://127.0.0.1:*") != 0) {
        fprintf(stderr, "bind %s: %s\n", endpoint ? endpoint : "tcp://127.0.0.1:*",
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    size_t len = sizeof c->endpoint;
    if (zmq_getsockopt(c->router, ZMQ_LAST_ENDPOINT, c->endpoint, &len) != 0)
        goto fail;
    return c;
fail:
    coord_destroy(&c);
    return NULL;
}

static int coord_send(coord_t *c, const proto_msg_t *msg)
{
    ferry_err_t err;
    if (!c->rid)
        return FERRY_ENOTFOUND;
    int rc = proto_send(c->router, c->rid, c->rid_len, msg, &err);
    if (rc < 0)
        fprintf(stderr, "coordinator: sending %s: %s\n", proto_command_name(msg->command),
                err.message);
    else
        c->last_send_ms = http_now_ms();
    return rc;
}

/* Sends raw frames (after the routing id) to the agent. 0 or -1. */
static int coord_send_frames(coord_t *c, const void *const *frames, const size_t *lens, size_t n)
{
    if (!c->rid || zmq_send(c->router, c->rid, c->rid_len, n ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (zmq_send(c->router, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    c->last_send_ms = http_now_ms();
    return 0;
}

static void coord_heartbeat(coord_t *c)
{
    int64_t now = http_now_ms();
    if (!c->rid || !c->welcomed || now - c->last_send_ms < c->heartbeat_ms)
        return;
    proto_msg_t *hb = proto_msg_new(PROTO_HEARTBEAT);
    ferry_err_t err;
    if (hb) /* a peer that is gone is noticed elsewhere: no error here */
        proto_send(c->router, c->rid, c->rid_len, hb, &err);
    c->last_send_ms = now;
    proto_msg_destroy(&hb);
}

/* The next message other than HEARTBEAT and PROGRESS (those are recorded),
 * within timeout_ms, sending heartbeats meanwhile. A HELLO makes its sender
 * the current peer (not yet welcomed). 0, or FERRY_ERETRY on timeout. */
static int coord_next(coord_t *c, int timeout_ms, proto_msg_t **out)
{
    *out = NULL;
    int64_t deadline = http_now_ms() + timeout_ms;
    for (;;) {
        coord_heartbeat(c);
        proto_msg_t *m = NULL;
        void *rid = NULL;
        size_t rid_len = 0;
        ferry_err_t err;
        int rc = proto_recv(c->router, true, &m, &rid, &rid_len, &err);
        if (rc == 0) {
            if (m->command == PROTO_HELLO) {
                free(c->rid);
                c->rid = rid;
                c->rid_len = rid_len;
                rid = NULL;
                c->welcomed = false;
                c->hellos++;
            }
            free(rid);
            if (m->command == PROTO_HEARTBEAT) {
                if (m->heartbeat.has_running && m->heartbeat.running > c->max_running)
                    c->max_running = m->heartbeat.running;
                proto_msg_destroy(&m);
                continue;
            }
            if (m->command == PROTO_PROGRESS) {
                if (c->n_progress < PROGRESS_MAX) {
                    progress_rec_t *p = &c->progress[c->n_progress++];
                    p->task_id = m->progress.task_id;
                    p->at_ms = http_now_ms();
                    p->bytes_done = m->progress.bytes_done;
                    p->bytes_total = m->progress.bytes_total;
                }
                proto_msg_destroy(&m);
                continue;
            }
            *out = m;
            return 0;
        }
        free(rid);
        if (rc == FERRY_EPROTO) {
            c->invalid++;
            fprintf(stderr, "coordinator: invalid message from the agent: %s\n", err.message);
            continue;
        }
        if (rc != FERRY_ERETRY)
            return rc;
        int64_t now = http_now_ms();
        if (now >= deadline)
            return FERRY_ERETRY;
        if (c->agent_pid && !proc_alive(c->agent_pid)) {
            fprintf(stderr, "coordinator: agent %d died\n", (int)c->agent_pid);
            c->agent_pid = 0;
            CHECK(!"the agent died");
            return FERRY_EIO;
        }
        zmq_pollitem_t item = {c->router, 0, ZMQ_POLLIN, 0};
        long wait = deadline - now < 50 ? (long)(deadline - now) : 50;
        zmq_poll(&item, 1, wait);
    }
}

/* The next message of this command; others are printed and dropped. NULL
 * on timeout. */
static proto_msg_t *coord_expect(coord_t *c, int command, int timeout_ms)
{
    int64_t deadline = http_now_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - http_now_ms();
        proto_msg_t *m = NULL;
        if (left <= 0 || coord_next(c, (int)left, &m) != 0)
            return NULL;
        if (m->command == command)
            return m;
        fprintf(stderr, "coordinator: waiting for %s, dropped %s\n", proto_command_name(command),
                proto_command_name(m->command));
        proto_msg_destroy(&m);
    }
}

/* Keeps the connection alive for ms; every message but HEARTBEAT and
 * PROGRESS is counted in *other (may be NULL) and dropped. */
static void coord_idle(coord_t *c, int ms, int *other)
{
    int64_t deadline = http_now_ms() + ms;
    int64_t left;
    while ((left = deadline - http_now_ms()) > 0) {
        proto_msg_t *m = NULL;
        if (coord_next(c, (int)left, &m) == 0) {
            fprintf(stderr, "coordinator: while idle, got %s\n", proto_command_name(m->command));
            if (other)
                (*other)++;
            proto_msg_destroy(&m);
        }
    }
}

static int coord_welcome(coord_t *c, int heartbeat_ms)
{
    proto_msg_t *w = proto_msg_new(PROTO_WELCOME);
    if (!w)
        return FERRY_ENOMEM;
    w->welcome.heartbeat_ms = (uint32_t)heartbeat_ms;
    proto_str_set(&w->welcome.session, "agent-test");
    proto_str_set(&w->welcome.version, "test");
    int rc = coord_send(c, w);
    proto_msg_destroy(&w);
    if (rc == 0) {
        c->welcomed = true;
        c->heartbeat_ms = heartbeat_ms;
    }
    return rc;
}

/* Waits for the agent's HELLO, checks it, and answers WELCOME. The HELLO is
 * returned (caller destroys) or NULL. */
static proto_msg_t *coord_accept(coord_t *c, const agent_proc_t *ap, const char *name, int jobs)
{
    proto_msg_t *hello = coord_expect(c, PROTO_HELLO, HELLO_WAIT_MS);
    CHECK(hello != NULL);
    if (!hello)
        return NULL;
    CHECK_INT(hello->hello.capacity, jobs);
    CHECK_INT(hello->hello.protocol, PROTO_VERSION);
    CHECK_STR(hello->hello.agent_id, name);
    CHECK_INT(hello->hello.pid, ap->pid);
    CHECK_INT(coord_welcome(c, HEARTBEAT_MS), 0);
    c->agent_pid = ap->pid;
    return hello;
}

/* SIGTERM, then waits for a clean exit (status 0: under ASan that also
 * means no leaks), keeping the coordinator side alive when c is not NULL. */
static void agent_stop(agent_proc_t *ap, coord_t *c)
{
    if (!ap->pid)
        return;
    if (c && c->agent_pid == ap->pid)
        c->agent_pid = 0;
    kill(ap->pid, SIGTERM);
    int status = 0;
    int64_t deadline = http_now_ms() + 20000;
    int reaped = -1;
    while (http_now_ms() < deadline) {
        if (c)
            coord_idle(c, 50, NULL);
        else
            usleep(50 * 1000);
        if ((reaped = agent_reap(ap, 0, &status)) == 0)
            break;
    }
    if (reaped != 0) {
        fprintf(stderr, "agent %d ignored SIGTERM for 20 s: killing it\n", (int)ap->pid);
        kill(ap->pid, SIGKILL);
        agent_reap(ap, 5000, &status);
    }
    CHECK(reaped == 0);
    CHECK(WIFEXITED(status));
    CHECK_INT(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), 0);
}

/* ---------------------------------------------------------------- tasks */

/* A TASK over plain http with required fields set; caller destroys. */
static proto_msg_t *task_new(int kind, const char *src_host, const char *src_repo,
                             const char *dst_host, const char *dst_repo, const char *digest,
                             int64_t size)
{
    proto_msg_t *m = proto_msg_new(PROTO_TASK);
    if (!m)
        return NULL;
    proto_task_t *t = &m->task;
    t->task_id = next_task_id++;
    t->kind = kind;
    t->source.plain_http = true;
    t->target.plain_http = true;
    t->size = size;
    t->attempt = 1;
    if (proto_str_set(&t->source.host, src_host) < 0 ||
        proto_str_set(&t->target.host, dst_host) < 0 ||
        proto_str_set(&t->source_repo, src_repo) < 0 ||
        proto_str_set(&t->target_repo, dst_repo) < 0 || proto_str_set(&t->digest, digest) < 0)
        proto_msg_destroy(&m);
    return m;
}

static proto_msg_t *copy_task(const char *src_host, const char *src_repo, const char *dst_repo,
                              const char *digest, int64_t size)
{
    return task_new(PROTO_KIND_COPY_BLOB, src_host, src_repo, reg_b->host, dst_repo, digest, size);
}

/* Sends tasks keeping at most capacity outstanding and collects one RESULT
 * per task into results[i] (NULL when none came within timeout_ms). Returns
 * the largest number outstanding at once. */
static size_t run_tasks(coord_t *c, proto_msg_t **tasks, size_t n, size_t capacity,
                        proto_msg_t **results, int timeout_ms)
{
    size_t next = 0, outstanding = 0, got = 0, max_outstanding = 0;
    int64_t deadline = http_now_ms() + timeout_ms;
    for (size_t i = 0; i < n; i++)
        results[i] = NULL;
    while (got < n) {
        while (next < n && outstanding < capacity) {
            CHECK_INT(coord_send(c, tasks[next]), 0);
            next++;
            outstanding++;
            if (outstanding > max_outstanding)
                max_outstanding = outstanding;
        }
        int64_t left = deadline - http_now_ms();
        proto_msg_t *m = NULL;
        if (left <= 0 || coord_next(c, (int)left, &m) != 0) {
            fprintf(stderr, "run_tasks: %zu of %zu RESULTs within %d ms\n", got, n, timeout_ms);
            CHECK(got == n);
            break;
        }
        if (m->command == PROTO_RESULT) {
            size_t i = 0;
            while (i < next && tasks[i]->task.task_id != m->result.task_id)
                i++;
            CHECK(i < next);
            CHECK(i >= next || results[i] == NULL); /* one RESULT per TASK */
            if (i < next && !results[i]) {
                results[i] = m;
                m = NULL;
                outstanding--;
                got++;
            }
        } else if (m->command == PROTO_HELLO) {
            /* On a busy machine the agent may miss three heartbeats and come
             * back on a fresh socket: a reconnect, not a failure (its HELLO
             * lists what still runs, and those RESULTs still come). */
            fprintf(stderr, "run_tasks: the agent reconnected (%zu active)\n",
                    m->hello.active_count);
            coord_welcome(c, HEARTBEAT_MS);
        } else {
            fprintf(stderr, "run_tasks: unexpected %s\n", proto_command_name(m->command));
            CHECK(m->command != PROTO_DISCONNECT);
        }
        proto_msg_destroy(&m);
    }
    return max_outstanding;
}

/* Runs one task and returns its RESULT (caller destroys) or NULL. */
static proto_msg_t *run_task(coord_t *c, proto_msg_t *task)
{
    proto_msg_t *result = NULL;
    CHECK(task != NULL);
    if (task)
        run_tasks(c, &task, 1, 1, &result, TASK_WAIT_MS);
    return result;
}

static void check_result(const proto_msg_t *r, int outcome, int64_t bytes)
{
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_STR(proto_outcome_name(r->result.outcome), proto_outcome_name(outcome));
    if (outcome != PROTO_OUTCOME_FAILED) {
        CHECK_STR(proto_error_class_name(r->result.error_class), "none");
        CHECK_STR(r->result.error_code, "");
        if (r->result.message && *r->result.message)
            fprintf(stderr, "unexpected message: %s\n", r->result.message);
    }
    if (bytes >= 0)
        CHECK_INT(r->result.bytes, bytes);
}

static void destroy_all(proto_msg_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        proto_msg_destroy(&msgs[i]);
}

/* Starts a coordinator and an agent and completes the handshake. 0 or -1. */
static int setup(coord_t **c, agent_proc_t *ap, const char *name, int jobs)
{
    *c = coord_new(NULL, NULL, NULL);
    CHECK(*c != NULL);
    if (!*c)
        return -1;
    if (agent_spawn(ap, name, (*c)->endpoint, jobs, NULL, NULL) < 0) {
        CHECK(!"agent_spawn");
        return -1;
    }
    proto_msg_t *hello = coord_accept(*c, ap, name, jobs);
    int rc = hello ? 0 : -1;
    if (hello)
        CHECK_INT(hello->hello.active_count, 0);
    proto_msg_destroy(&hello);
    return rc;
}

/* ============================================================ sub-tests */

/* 1. Forty blobs through a 4-slot agent, then a 64 MiB blob with PROGRESS. */
static void test_tasks(void)
{
    enum { JOBS = 4 };
    if (!registries())
        return;
    json_t *many = image(reg_a, "src/many", "--layers 39 --layer-size 3000 --seed many");
    json_t *big = image(reg_a, "src/big64", "--layers 1 --layer-size 67108864 --seed big64");
    if (!many || !big)
        return;
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    fx_proxy_t *proxy = NULL;
    size_t n = image_blob_count(many);
    CHECK_INT(n, 40);
    proto_msg_t *tasks[64] = {0}, *results[64] = {0};
    if (setup(&c, &ap, "tasks", JOBS) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        tasks[i] = copy_task(reg_a->host, "src/many", "dst/many", image_blob_digest(many, i),
                             image_blob_size(many, i));
    int64_t t0 = http_now_ms();
    size_t max_out = run_tasks(c, tasks, n, JOBS, results, TASK_WAIT_MS);
    fprintf(stderr, "tasks: %zu blobs in %lld ms, at most %zu outstanding\n", n,
            (long long)(http_now_ms() - t0), max_out);
    CHECK(max_out <= JOBS);
    CHECK(c->max_running <= JOBS);
    for (size_t i = 0; i < n; i++) {
        check_result(results[i], PROTO_OUTCOME_DONE, image_blob_size(many, i));
        if (results[i])
            CHECK_STR(results[i]->result.digest, image_blob_digest(many, i));
    }
    CHECK_INT(c->hellos, 1);

    /* The large blob: PROGRESS at least once per second while it runs. A
     * local copy of 64 MiB can take less than a second, so the source is a
     * fault proxy that cuts the GET after 40 MB and holds the resumed GET
     * back for 1.5 s: PROGRESS then reports the chunks already uploaded. */
    const char *big_digest = image_blob_digest(big, 1);
    int64_t big_size = image_blob_size(big, 1);
    CHECK_INT(big_size, 64 * MiB);
    proxy = fx_proxy_start(reg_a->url);
    CHECK(proxy != NULL);
    if (!proxy)
        goto out;
    CHECK_INT(fx_proxy_rule(proxy, "[{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"cut\","
                                   "\"after_bytes\":40000000,\"count\":1},"
                                   "{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"delay\","
                                   "\"seconds\":1.5,\"count\":1}]"),
              0);
    c->n_progress = 0;
    proto_msg_t *big_task = copy_task(proxy->host, "src/big64", "dst/big64", big_digest, big_size);
    uint64_t big_id = big_task ? big_task->task.task_id : 0;
    t0 = http_now_ms();
    proto_msg_t *big_result = run_task(c, big_task);
    int64_t t1 = http_now_ms();
    check_result(big_result, PROTO_OUTCOME_DONE, big_size);
    int64_t prev = t0, max_gap = 0;
    size_t n_prog = 0, n_mid = 0;
    uint64_t last_done = 0;
    for (size_t i = 0; i < c->n_progress; i++) {
        const progress_rec_t *p = &c->progress[i];
        if (p->task_id != big_id)
            continue;
        n_prog++;
        if (p->at_ms - prev > max_gap)
            max_gap = p->at_ms - prev;
        prev = p->at_ms;
        CHECK(p->bytes_done >= last_done);
        CHECK(p->bytes_done <= (uint64_t)big_size);
        CHECK_INT(p->bytes_total, big_size);
        last_done = p->bytes_done;
        if (p->bytes_done > 0 && p->bytes_done < (uint64_t)big_size)
            n_mid++;
    }
    if (t1 - prev > max_gap)
        max_gap = t1 - prev;
    fprintf(stderr,
            "tasks: 64 MiB blob in %lld ms, %zu PROGRESS (%zu mid-transfer), largest gap %lld ms\n",
            (long long)(t1 - t0), n_prog, n_mid, (long long)max_gap);
    CHECK(t1 - t0 >= 1500);
    CHECK(n_mid >= 1);
    CHECK(max_gap <= PROGRESS_GAP_MAX_MS);
    CHECK(n_prog >= (size_t)((t1 - t0) / 1000) - 1);
    proto_msg_destroy(&big_task);
    proto_msg_destroy(&big_result);

    agent_stop(&ap, c);
    /* Independent check: every blob is at the target. */
    for (size_t i = 0; i < n; i++)
        CHECK_INT(blob_head(reg_b, "dst/many", image_blob_digest(many, i)),
                  image_blob_size(many, i));
    CHECK_INT(blob_head(reg_b, "dst/big64", big_digest), big_size);
    char *log = agent_log(&ap);
    CHECK(log && !strstr(log, "exceeded our capacity"));
    free(log);
out:
    agent_stop(&ap, c);
    destroy_all(tasks, n);
    destroy_all(results, n);
    coord_destroy(&c);
    fx_proxy_stop(&proxy);
}

/* 2. put-manifest: the manifest by digest from A, to B under a tag. */
static void test_manifest(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/app", "--layers 3 --layer-size 10000 --seed app");
    if (!img)
        return;
    const char *digest = json_string_value(json_object_get(img, "digest"));
    const char *media_type = json_string_value(json_object_get(img, "media_type"));
    int64_t size = (int64_t)json_integer_value(json_object_get(img, "size"));
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    size_t n = image_blob_count(img);
    proto_msg_t *tasks[8] = {0}, *results[8] = {0}, *mt = NULL, *mr = NULL;
    if (setup(&c, &ap, "manifest", 4) < 0)
        goto out;
    for (size_t i = 0; i < n; i++)
        tasks[i] = copy_task(reg_a->host, "src/app", "dst/app", image_blob_digest(img, i),
                             image_blob_size(img, i));
    run_tasks(c, tasks, n, 4, results, TASK_WAIT_MS);
    for (size_t i = 0; i < n; i++)
        check_result(results[i], PROTO_OUTCOME_DONE, image_blob_size(img, i));
    mt = task_new(PROTO_KIND_PUT_MANIFEST, reg_a->host, "src/app", reg_b->host, "dst/app", digest,
                  size);
    CHECK(mt != NULL);
    if (!mt)
        goto out;
    proto_str_set(&mt->task.media_type, media_type);
    proto_str_set(&mt->task.tag, "v1");
    mr = run_task(c, mt);
    check_result(mr, PROTO_OUTCOME_DONE, size);
    if (mr)
        CHECK_STR(mr->result.digest, digest);
    proto_msg_destroy(&mt);
    proto_msg_destroy(&mr);

    /* The TASK carries the manifest's bytes: pushed without asking the
     * source. Bytes that do not match the digest are dropped and the source
     * is asked instead. */
    char *bytes = NULL;
    CHECK_INT(fx_run(&bytes, "curl -sf -H 'Accept: %s' %s/v2/src/app/manifests/%s", media_type,
                     reg_a->url, digest),
              0);
    for (int wrong = 0; wrong <= 1 && bytes; wrong++) {
        mt = task_new(PROTO_KIND_PUT_MANIFEST, reg_a->host, "src/app", reg_b->host, "dst/app",
                      digest, size);
        if (!mt)
            break;
        proto_str_set(&mt->task.media_type, media_type);
        proto_str_set(&mt->task.tag, wrong ? "v3" : "v2");
        mt->task.manifest = wrong ? strdup("{\"schemaVersion\":2}") : strdup(bytes);
        mt->task.manifest_len = strlen(mt->task.manifest);
        long mark = fx_log_mark(reg_a);
        mr = run_task(c, mt);
        check_result(mr, PROTO_OUTCOME_DONE, size);
        CHECK_INT(fx_log_count(reg_a, mark, "\"GET /v2/", "/manifests/"), wrong ? 1 : 0);
        char pushed[DIGEST_STR_MAX] = "";
        CHECK_INT(fx_skopeo_digest(reg_b, wrong ? "dst/app:v3" : "dst/app:v2", pushed), 0);
        CHECK_STR(pushed, digest);
        proto_msg_destroy(&mt);
        proto_msg_destroy(&mr);
    }
    free(bytes);
    agent_stop(&ap, c);

    char got[DIGEST_STR_MAX] = "";
    CHECK_INT(fx_skopeo_digest(reg_b, "dst/app:v1", got), 0);
    CHECK_STR(got, digest);
    char by_digest[256];
    snprintf(by_digest, sizeof by_digest, "dst/app@%s", digest);
    got[0] = '\0';
    CHECK_INT(fx_skopeo_digest(reg_b, by_digest, got), 0);
    CHECK_STR(got, digest);
out:
    agent_stop(&ap, c);
    destroy_all(tasks, n);
    destroy_all(results, n);
    proto_msg_destroy(&mt);
    proto_msg_destroy(&mr);
    coord_destroy(&c);
}

/* 3. mount-blob: mounted from a repository that has it; copied otherwise. */
static void test_mount(void)
{
    if (!registries())
        return;
    /* The same seed in A and B: the same blobs. */
    json_t *src = image(reg_a, "src/mnt", "--layers 1 --layer-size 100000 --seed mnt");
    json_t *dst = image(reg_b, "mnt/x", "--layers 1 --layer-size 100000 --seed mnt");
    if (!src || !dst)
        return;
    const char *digest = image_blob_digest(src, 1);
    int64_t size = image_blob_size(src, 1);
    CHECK_STR(image_blob_digest(dst, 1), digest);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *t1 = NULL, *t2 = NULL, *r1 = NULL, *r2 = NULL;
    if (setup(&c, &ap, "mount", 2) < 0)
        goto out;
    CHECK_INT(blob_head(reg_b, "mnt/y", digest), -1);
    t1 =
        task_new(PROTO_KIND_MOUNT_BLOB, reg_a->host, "src/mnt", reg_b->host, "mnt/y", digest, size);
    if (t1)
        proto_str_set(&t1->task.mount_from, "mnt/x");
    r1 = run_task(c, t1);
    check_result(r1, PROTO_OUTCOME_MOUNTED, 0);

    t2 =
        task_new(PROTO_KIND_MOUNT_BLOB, reg_a->host, "src/mnt", reg_b->host, "mnt/z", digest, size);
    if (t2)
        proto_str_set(&t2->task.mount_from, "mnt/lacks-it");
    r2 = run_task(c, t2);
    check_result(r2, PROTO_OUTCOME_DONE, size);
    agent_stop(&ap, c);
    CHECK_INT(blob_head(reg_b, "mnt/y", digest), size);
    CHECK_INT(blob_head(reg_b, "mnt/z", digest), size);
out:
    agent_stop(&ap, c);
    proto_msg_destroy(&t1);
    proto_msg_destroy(&t2);
    proto_msg_destroy(&r1);
    proto_msg_destroy(&r2);
    coord_destroy(&c);
}

/* 4. A corrupt source blob fails permanently and is never committed. */
static void test_digest(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/corrupt", "--layers 2 --layer-size 300000 --seed corrupt");
    if (!img)
        return;
    const char *bad = image_blob_digest(img, 1);  /* corrupted: monolithic size */
    const char *bad2 = image_blob_digest(img, 2); /* corrupted, sent with an unknown size */
    int64_t size = image_blob_size(img, 1);
    CHECK_INT(fx_corrupt_blob(reg_a, "src/corrupt", bad), 0);
    CHECK_INT(fx_corrupt_blob(reg_a, "src/corrupt", bad2), 0);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *tasks[3] = {0}, *results[3] = {0};
    if (setup(&c, &ap, "digest", 2) < 0)
        goto out;
    tasks[0] = copy_task(reg_a->host, "src/corrupt", "dst/corrupt", bad, size);
    tasks[1] = copy_task(reg_a->host, "src/corrupt", "dst/corrupt", bad2, -1);
    /* A blob A does not have. */
    tasks[2] =
        copy_task(reg_a->host, "src/corrupt", "dst/corrupt",
                  "sha256:0000000000000000000000000000000000000000000000000000000000000001", 1000);
    run_tasks(c, tasks, 3, 2, results, TASK_WAIT_MS);
    for (int i = 0; i < 2; i++) {
        check_result(results[i], PROTO_OUTCOME_FAILED, 0);
        if (!results[i])
            continue;
        CHECK_STR(proto_error_class_name(results[i]->result.error_class), "permanent");
        CHECK_STR(results[i]->result.error_code, "digest-mismatch");
        fprintf(stderr, "digest: message \"%s\"\n", results[i]->result.message);
    }
    check_result(results[2], PROTO_OUTCOME_FAILED, 0);
    if (results[2]) {
        CHECK_STR(proto_error_class_name(results[2]->result.error_class), "permanent");
        CHECK_STR(results[2]->result.error_code, "not-found");
    }
    agent_stop(&ap, c);
    CHECK_INT(blob_head(reg_b, "dst/corrupt", bad), -1);
    CHECK_INT(blob_head(reg_b, "dst/corrupt", bad2), -1);
out:
    agent_stop(&ap, c);
    destroy_all(tasks, 3);
    destroy_all(results, 3);
    coord_destroy(&c);
}

/* 5. The source connection is cut mid-blob: the agent resumes. */
static void test_resume(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/resume", "--layers 2 --layer-size 8000000 --seed resume");
    if (!img)
        return;
    fx_proxy_t *p = fx_proxy_start(reg_a->url);
    CHECK(p != NULL);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *tasks[2] = {0}, *results[2] = {0};
    json_t *log = NULL;
    if (!p || setup(&c, &ap, "resume", 2) < 0)
        goto out;
    /* Both layers are cut once, one after 1 MB and one after 5 MB. */
    CHECK_INT(fx_proxy_rule(p, "[{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"cut\","
                               "\"after_bytes\":1000000,\"count\":1},"
                               "{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"cut\","
                               "\"after_bytes\":5000000,\"count\":1}]"),
              0);
    for (size_t i = 0; i < 2; i++)
        tasks[i] = copy_task(p->host, "src/resume", "dst/resume", image_blob_digest(img, i + 1),
                             image_blob_size(img, i + 1));
    run_tasks(c, tasks, 2, 2, results, TASK_WAIT_MS);
    for (size_t i = 0; i < 2; i++)
        check_result(results[i], PROTO_OUTCOME_DONE, image_blob_size(img, i + 1));
    agent_stop(&ap, c);
    for (size_t i = 0; i < 2; i++)
        CHECK_INT(blob_head(reg_b, "dst/resume", image_blob_digest(img, i + 1)),
                  image_blob_size(img, i + 1));
    log = fx_proxy_log(p);
    size_t gets = 0, faults = 0, idx;
    json_t *e;
    json_array_foreach(log, idx, e)
    {
        const char *method = json_string_value(json_object_get(e, "method"));
        const char *path = json_string_value(json_object_get(e, "path"));
        if (method && path && strcmp(method, "GET") == 0 && strstr(path, "/blobs/sha256:")) {
            gets++;
            json_t *fault = json_object_get(e, "fault");
            if (fault && !json_is_null(fault) && !json_is_false(fault))
                faults++;
        }
    }
    fprintf(stderr, "resume: %zu blob GETs through the proxy, %zu cut\n", gets, faults);
    CHECK_INT(faults, 2);
    CHECK(gets >= 4);
out:
    agent_stop(&ap, c);
    json_decref(log);
    destroy_all(tasks, 2);
    destroy_all(results, 2);
    coord_destroy(&c);
    fx_proxy_stop(&p);
}

/* 6. The coordinator goes away and comes back on the same port. */
static void test_reconnect(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/reconnect", "--layers 2 --layer-size 200000 --seed reconnect");
    if (!img)
        return;
    fx_proxy_t *p = fx_proxy_start(reg_a->url);
    CHECK(p != NULL);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *slow = NULL, *hello = NULL, *m = NULL, *t2 = NULL, *r2 = NULL;
    char endpoint[128];
    if (!p || setup(&c, &ap, "reconnect", 2) < 0)
        goto out;
    snprintf(endpoint, sizeof endpoint, "%s", c->endpoint);
    /* A task that is still running while the coordinator is away. */
    CHECK_INT(fx_proxy_rule(p, "{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"delay\","
                               "\"seconds\":4,\"count\":1}"),
              0);
    slow = copy_task(p->host, "src/reconnect", "dst/reconnect", image_blob_digest(img, 1),
                     image_blob_size(img, 1));
    CHECK(slow != NULL);
    if (!slow)
        goto out;
    CHECK_INT(coord_send(c, slow), 0);
    coord_idle(c, 300, NULL);
    coord_destroy(&c);
    int64_t gone_at = http_now_ms();
    sleep(2);
    c = coord_new(endpoint, NULL, NULL);
    CHECK(c != NULL);
    if (!c)
        goto out;
    CHECK_STR(c->endpoint, endpoint);
    hello = coord_expect(c, PROTO_HELLO, HELLO_WAIT_MS);
    CHECK(hello != NULL);
    if (!hello)
        goto out;
    fprintf(stderr, "reconnect: new HELLO %lld ms after the ROUTER closed, active %zu\n",
            (long long)(http_now_ms() - gone_at), hello->hello.active_count);
    CHECK_INT(hello->hello.capacity, 2);
    CHECK_INT(hello->hello.active_count, 1);
    if (hello->hello.active_count == 1)
        CHECK_INT(hello->hello.active[0], slow->task.task_id);
    CHECK_INT(coord_welcome(c, HEARTBEAT_MS), 0);
    /* The running task reports to the new coordinator... */
    m = coord_expect(c, PROTO_RESULT, TASK_WAIT_MS);
    CHECK(m != NULL);
    if (m) {
        CHECK_INT(m->result.task_id, slow->task.task_id);
        check_result(m, PROTO_OUTCOME_DONE, image_blob_size(img, 1));
    }
    /* ...and a new task runs. */
    t2 = copy_task(reg_a->host, "src/reconnect", "dst/reconnect", image_blob_digest(img, 2),
                   image_blob_size(img, 2));
    r2 = run_task(c, t2);
    check_result(r2, PROTO_OUTCOME_DONE, image_blob_size(img, 2));
    CHECK_INT(c->hellos, 1);
    agent_stop(&ap, c);
    CHECK_INT(blob_head(reg_b, "dst/reconnect", image_blob_digest(img, 1)),
              image_blob_size(img, 1));
    CHECK_INT(blob_head(reg_b, "dst/reconnect", image_blob_digest(img, 2)),
              image_blob_size(img, 2));
out:
    agent_stop(&ap, c);
    proto_msg_destroy(&slow);
    proto_msg_destroy(&hello);
    proto_msg_destroy(&m);
    proto_msg_destroy(&t2);
    proto_msg_destroy(&r2);
    coord_destroy(&c);
    fx_proxy_stop(&p);
}

/* 7. CURVE with an allowlist: a listed agent works; others never get in. */
static void test_curve(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/curve", "--layers 1 --layer-size 50000 --seed curve");
    if (!img)
        return;
    static const char password[] = "curve-only-s3cret-Pa55";
    char server_pub[41], server_sec[41], good_pub[41], good_sec[41], bad_pub[41], bad_sec[41];
    char server_path[320], good_path[320], bad_path[320], allow_path[320];
    ferry_err_t err;
    coord_t *c = NULL;
    agent_proc_t good = {0}, bad = {0}, plain = {0};
    proto_msg_t *task = NULL, *result = NULL;
    char *log = NULL;
    CHECK_INT(proto_keygen(server_pub, server_sec), 0);
    CHECK_INT(proto_keygen(good_pub, good_sec), 0);
    CHECK_INT(proto_keygen(bad_pub, bad_sec), 0);
    snprintf(server_path, sizeof server_path, "%s/server.pub", workdir);
    snprintf(good_path, sizeof good_path, "%s/good.key", workdir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.key", workdir);
    snprintf(allow_path, sizeof allow_path, "%s/allowlist", workdir);
    CHECK_INT(proto_key_write(server_path, server_pub, NULL, &err), 0);
    CHECK_INT(proto_key_write(good_path, good_pub, good_sec, &err), 0);
    CHECK_INT(proto_key_write(bad_path, bad_pub, bad_sec, &err), 0);
    FILE *f = fopen(allow_path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fprintf(f, "# agents allowed in\n%s  the good agent\n", good_pub);
    fclose(f);

    c = coord_new(NULL, server_sec, allow_path);
    CHECK(c != NULL);
    if (!c)
        goto out;
    if (agent_spawn(&good, "curve-good", c->endpoint, 2, server_path, good_path) < 0)
        goto out;
    proto_msg_t *hello = coord_accept(c, &good, "curve-good", 2);
    proto_msg_destroy(&hello);
    task = copy_task(reg_a->host, "src/curve", "dst/curve", image_blob_digest(img, 1),
                     image_blob_size(img, 1));
    if (task) { /* credentials may travel here: the channel is CURVE */
        proto_str_set(&task->task.source.username, "ferry");
        proto_str_set(&task->task.source.password, password);
    }
    result = run_task(c, task);
    check_result(result, PROTO_OUTCOME_DONE, image_blob_size(img, 1));

    /* An agent whose key is not listed, and one without CURVE at all. */
    int hellos = c->hellos;
    CHECK_INT(agent_spawn(&bad, "curve-bad", c->endpoint, 2, server_path, bad_path), 0);
    CHECK_INT(agent_spawn(&plain, "curve-plain", c->endpoint, 2, NULL, NULL), 0);
    int other = 0;
    coord_idle(c, 2500, &other);
    CHECK_INT(c->hellos, hellos);
    CHECK_INT(other, 0);
    CHECK(proc_alive(bad.pid)); /* still trying, not crashed */
    CHECK(proc_alive(plain.pid));
    /* Neither ever saw a task: no task line in their logs. */
    log = agent_log(&bad);
    CHECK(log && !strstr(log, "task"));
    CHECK(log && !strstr(log, "connected to"));
    free(log);
    log = agent_log(&plain);
    CHECK(log && !strstr(log, "task"));
    CHECK(log && !strstr(log, "connected to"));
    free(log);
    /* The good agent got the password and never logged it. */
    log = agent_log(&good);
    CHECK(log && strstr(log, "connected to"));
    CHECK(log && !strstr(log, password));
    free(log);
    log = NULL;
    agent_stop(&good, c);
    agent_stop(&bad, c);
    agent_stop(&plain, c);
    CHECK_INT(blob_head(reg_b, "dst/curve", image_blob_digest(img, 1)), image_blob_size(img, 1));
out:
    agent_stop(&good, c);
    agent_stop(&bad, c);
    agent_stop(&plain, c);
    if (test_failures) {
        agent_log_dump(&bad);
        agent_log_dump(&plain);
    }
    free(log);
    proto_msg_destroy(&task);
    proto_msg_destroy(&result);
    coord_destroy(&c);
}

/* One hostile message: frames after the routing id. */
typedef struct hostile {
    const char *what;
    size_t n;
    const void *frames[6];
    size_t lens[6];
} hostile_t;

/* 8. Garbage from the coordinator: the agent drops it and keeps working. */
static void test_hostile(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/hostile", "--layers 3 --layer-size 20000 --seed hostile");
    if (!img)
        return;
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *early = NULL, *dup = NULL, *valid = NULL, *result = NULL, *m = NULL;
    fbuf_t body;
    fbuf_init(&body, PROTO_MAX_BODY);
    c = coord_new(NULL, NULL, NULL);
    CHECK(c != NULL);
    if (!c || agent_spawn(&ap, "hostile", c->endpoint, 2, NULL, NULL) < 0)
        goto out;
    c->agent_pid = ap.pid;
    /* A TASK before WELCOME on a fresh connection is dropped. */
    m = coord_expect(c, PROTO_HELLO, HELLO_WAIT_MS);
    CHECK(m != NULL);
    if (!m)
        goto out;
    proto_msg_destroy(&m);
    early = copy_task(reg_a->host, "src/hostile", "dst/hostile-early", image_blob_digest(img, 1),
                      image_blob_size(img, 1));
    CHECK(early != NULL);
    if (!early)
        goto out;
    CHECK_INT(coord_send(c, early), 0);
    coord_idle(c, 200, NULL);
    CHECK_INT(coord_welcome(c, HEARTBEAT_MS), 0);

    ferry_err_t err;
    CHECK_INT(proto_encode(early, &body, &err), 0);
    static const char sig[] = "FERRY\x01", bad_sig[] = "FERRX\x01", v2_sig[] = "FERRY\x02";
    static const unsigned char empty_map[] = {0x80};
    static const unsigned char not_map[] = {0x01};
    static const unsigned char trailing[] = {0x80, 0xc0};
    static const unsigned char reserved[] = {0xc1};
    static const unsigned char wrong_type[] = {0x81, 0xa7, 't', 'a',  's', 'k',
                                               '_',  'i',  'd', 0xa1, 'x'};
    static const unsigned char huge_array[] = {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff};
    static const unsigned char huge_str[] = {0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff, 'x'};
    static const unsigned char dup_keys[] = {0x82, 0xa1, 'x', 0x01, 0xa1, 'x', 0x02};
    unsigned char deep[32];
    size_t deep_len = 0;
    deep[deep_len++] = 0x81;
    deep[deep_len++] = 0xa1;
    deep[deep_len++] = 'x';
    for (int i = 0; i < 20; i++)
        deep[deep_len++] = 0x91; /* [[[[...]]]] deeper than 8 */
    deep[deep_len++] = 0x90;
    const hostile_t hostiles[] = {
        {"wrong signature", 3, {bad_sig, "TASK", body.data}, {6, 4, body.len}},
        {"version 2", 3, {v2_sig, "HEARTBEAT", empty_map}, {6, 9, 1}},
        {"short signature", 3, {"FERRY", "HEARTBEAT", empty_map}, {5, 9, 1}},
        {"unknown command", 3, {sig, "FROBNICATE", empty_map}, {6, 10, 1}},
        {"empty command", 3, {sig, "", empty_map}, {6, 0, 1}},
        {"lower-case command", 3, {sig, "task", body.data}, {6, 4, body.len}},
        {"long command", 3, {sig, "HEARTBEATHEARTBEATHEARTBEAT", empty_map}, {6, 27, 1}},
        {"truncated body", 3, {sig, "TASK", body.data}, {6, 4, body.len / 2}},
        {"empty body", 3, {sig, "TASK", ""}, {6, 4, 0}},
        {"body not a map", 3, {sig, "HEARTBEAT", not_map}, {6, 9, 1}},
        {"trailing bytes", 3, {sig, "HEARTBEAT", trailing}, {6, 9, 2}},
        {"reserved byte", 3, {sig, "HEARTBEAT", reserved}, {6, 9, 1}},
        {"wrong type", 3, {sig, "CANCEL", wrong_type}, {6, 6, sizeof wrong_type}},
        {"huge array claim", 3, {sig, "HEARTBEAT", huge_array}, {6, 9, sizeof huge_array}},
        {"huge string claim", 3, {sig, "HEARTBEAT", huge_str}, {6, 9, sizeof huge_str}},
        {"duplicate keys", 3, {sig, "HEARTBEAT", dup_keys}, {6, 9, sizeof dup_keys}},
        {"too deep", 3, {sig, "HEARTBEAT", deep}, {6, 9, deep_len}},
        {"TASK missing fields", 3, {sig, "TASK", empty_map}, {6, 4, 1}},
        {"five frames", 5, {sig, "TASK", body.data, "x", "y"}, {6, 4, body.len, 1, 1}},
        {"four frames", 4, {sig, "HEARTBEAT", empty_map, empty_map}, {6, 9, 1, 1}},
        {"two frames", 2, {sig, "HEARTBEAT"}, {6, 9}},
        {"one empty frame", 1, {""}, {0}},
        {"one signature frame", 1, {sig}, {6}},
        /* valid, but not for an agent */
        {"RESULT without fields", 3, {sig, "RESULT", empty_map}, {6, 6, 1}},
    };
    for (size_t i = 0; i < sizeof hostiles / sizeof hostiles[0]; i++) {
        const hostile_t *h = &hostiles[i];
        CHECK_INT(coord_send_frames(c, h->frames, h->lens, h->n), 0);
    }
    /* Valid messages an agent does not expect now. */
    proto_msg_t *odd = proto_msg_new(PROTO_WELCOME);
    if (odd) {
        odd->welcome.heartbeat_ms = HEARTBEAT_MS;
        proto_str_set(&odd->welcome.session, "second-welcome");
        proto_str_set(&odd->welcome.version, "test");
        CHECK_INT(coord_send(c, odd), 0);
        proto_msg_destroy(&odd);
    }
    odd = proto_msg_new(PROTO_CANCEL);
    if (odd) {
        odd->cancel.task_id = 987654321;
        CHECK_INT(coord_send(c, odd), 0);
        proto_msg_destroy(&odd);
    }
    odd = proto_msg_new(PROTO_CREDIT);
    if (odd) {
        odd->credit.capacity = 3;
        CHECK_INT(coord_send(c, odd), 0);
        proto_msg_destroy(&odd);
    }
    /* The same TASK twice: one RESULT. */
    dup = copy_task(reg_a->host, "src/hostile", "dst/hostile", image_blob_digest(img, 2),
                    image_blob_size(img, 2));
    CHECK(dup != NULL);
    if (!dup)
        goto out;
    CHECK_INT(coord_send(c, dup), 0);
    CHECK_INT(coord_send(c, dup), 0);
    int results_dup = 0, results_other = 0;
    int64_t until = http_now_ms() + 3000;
    while (http_now_ms() < until) {
        if (coord_next(c, (int)(until - http_now_ms()), &m) != 0)
            break;
        if (m->command == PROTO_RESULT && m->result.task_id == dup->task.task_id) {
            results_dup++;
            check_result(m, PROTO_OUTCOME_DONE, image_blob_size(img, 2));
        } else {
            fprintf(stderr, "hostile: got %s\n", proto_command_name(m->command));
            results_other++;
        }
        proto_msg_destroy(&m);
    }
    CHECK_INT(results_dup, 1);
    CHECK_INT(results_other, 0); /* no RESULT for the early TASK, no DISCONNECT */
    CHECK(proc_alive(ap.pid));

    /* Still alive and still working. */
    valid = copy_task(reg_a->host, "src/hostile", "dst/hostile", image_blob_digest(img, 3),
                      image_blob_size(img, 3));
    result = run_task(c, valid);
    check_result(result, PROTO_OUTCOME_DONE, image_blob_size(img, 3));
    CHECK_INT(c->hellos, 1); /* never reconnected because of garbage */
    CHECK_INT(c->invalid, 0);
    CHECK(proc_alive(ap.pid));
    agent_stop(&ap, c);
    CHECK_INT(blob_head(reg_b, "dst/hostile-early", image_blob_digest(img, 1)), -1);
    CHECK_INT(blob_head(reg_b, "dst/hostile", image_blob_digest(img, 3)), image_blob_size(img, 3));
out:
    agent_stop(&ap, c);
    fbuf_free(&body);
    proto_msg_destroy(&early);
    proto_msg_destroy(&dup);
    proto_msg_destroy(&valid);
    proto_msg_destroy(&result);
    proto_msg_destroy(&m);
    coord_destroy(&c);
}

/* 9. SIGTERM during a big blob: CREDIT 0, the RESULT, DISCONNECT, exit 0. */
static void test_sigterm(void)
{
    if (!registries())
        return;
    json_t *big = image(reg_a, "src/big64", "--layers 1 --layer-size 67108864 --seed big64");
    if (!big)
        return;
    const char *digest = image_blob_digest(big, 1);
    int64_t size = image_blob_size(big, 1);
    fx_proxy_t *p = fx_proxy_start(reg_a->url);
    CHECK(p != NULL);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *task = NULL, *m = NULL;
    if (!p || setup(&c, &ap, "sigterm", 2) < 0)
        goto out;
    /* The GET waits 1.5 s: the task is surely running when SIGTERM comes. */
    CHECK_INT(fx_proxy_rule(p, "{\"match\":\"GET /v2/.+/blobs/\",\"action\":\"delay\","
                               "\"seconds\":1.5,\"count\":1}"),
              0);
    task = copy_task(p->host, "src/big64", "dst/sigterm", digest, size);
    CHECK(task != NULL);
    if (!task)
        goto out;
    CHECK_INT(coord_send(c, task), 0);
    coord_idle(c, 500, NULL);
    CHECK_INT(kill(ap.pid, SIGTERM), 0);
    int64_t t0 = http_now_ms();
    int step = 0; /* 0: want CREDIT 0, 1: want RESULT, 2: want DISCONNECT, 3: done */
    while (step < 3 && coord_next(c, TASK_WAIT_MS, &m) == 0) {
        fprintf(stderr, "sigterm: %s after %lld ms\n", proto_command_name(m->command),
                (long long)(http_now_ms() - t0));
        if (step == 0) {
            CHECK_STR(proto_command_name(m->command), "CREDIT");
            if (m->command == PROTO_CREDIT)
                CHECK_INT(m->credit.capacity, 0);
        } else if (step == 1) {
            CHECK_STR(proto_command_name(m->command), "RESULT");
            if (m->command == PROTO_RESULT) {
                CHECK_INT(m->result.task_id, task->task.task_id);
                check_result(m, PROTO_OUTCOME_DONE, size);
            }
        } else {
            CHECK_STR(proto_command_name(m->command), "DISCONNECT");
            if (m->command == PROTO_DISCONNECT)
                CHECK_STR(m->disconnect.reason, "shutting down");
        }
        step++;
        proto_msg_destroy(&m);
    }
    CHECK_INT(step, 3);
    int status = 0;
    CHECK_INT(agent_reap(&ap, 20000, &status), 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(blob_head(reg_b, "dst/sigterm", digest), size);
out:
    agent_stop(&ap, c);
    proto_msg_destroy(&task);
    proto_msg_destroy(&m);
    coord_destroy(&c);
    fx_proxy_stop(&p);
}

static long env_mb(const char *name, long dflt)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return dflt;
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v < 16 || v > BIG_MB_MAX) {
        fprintf(stderr, "%s=%s ignored (16..%d)\n", name, text, BIG_MB_MAX);
        return dflt;
    }
    return v;
}

/* 10. Sixteen large blobs at once stay in bounded memory. */
/* Off loopback without CURVE the agent refuses to start (exit 2, before it
 * connects anywhere), unless told --insecure-control; its key options are
 * checked as well. Nothing here opens a connection. */
static void test_refuse(void)
{
    char *out = NULL;
    int rc = fx_run(&out, "%s --connect tcp://10.200.0.1:7400 2>&1", FERRY_AGENT_BIN);
    CHECK_INT(rc, 2);
    CHECK_CONTAINS(out, "CURVE is required");
    free(out);
    out = NULL;
    rc = fx_run(&out, "%s --connect tcp://10.200.0.1:7400 --server-key /nonexistent/key 2>&1",
                FERRY_AGENT_BIN);
    CHECK_INT(rc, 2);
    CHECK_CONTAINS(out, "--key");
    free(out);
    out = NULL;
    rc = fx_run(&out, "%s --help", FERRY_AGENT_BIN);
    CHECK_INT(rc, 0);
    CHECK_CONTAINS(out, "--insecure-control");
    free(out);
}

static void test_memory(void)
{
    enum { N = 16 };
    if (!registries())
        return;
    long mb = env_mb("FERRY_AGENT_BIG_MB", BIG_MB_DEFAULT);
    /* Just over a 16th, so the default run goes past the 16 MiB monolithic limit. */
    long long per = (long long)mb * MiB / N + 4097;
    char args[128], repo[64];
    snprintf(args, sizeof args, "--layers %d --layer-size %lld --seed mem%ld", N, per, mb);
    snprintf(repo, sizeof repo, "src/mem%ld", mb);
    json_t *img = image(reg_a, repo, args);
    if (!img)
        return;
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *tasks[N] = {0}, *results[N] = {0};
    if (setup(&c, &ap, "memory", N) < 0)
        goto out;
    for (size_t i = 0; i < N; i++)
        tasks[i] = copy_task(reg_a->host, repo, "dst/memory", image_blob_digest(img, i + 1),
                             image_blob_size(img, i + 1));
    int64_t t0 = http_now_ms();
    size_t max_out = run_tasks(c, tasks, N, N, results, 4 * TASK_WAIT_MS);
    int64_t ms = http_now_ms() - t0;
    CHECK_INT(max_out, N);
    for (size_t i = 0; i < N; i++)
        check_result(results[i], PROTO_OUTCOME_DONE, image_blob_size(img, i + 1));
    long long hwm = proc_status_bytes(ap.pid, "VmHWM");
    CHECK(hwm > 0);
    fprintf(stderr, "agent: peak RSS %.1f MiB with 16 transfers (%lld MiB in all, %.0f MB/s)\n",
            (double)hwm / MiB, per * N / MiB,
            (double)per * N / 1e6 / ((double)(ms ? ms : 1) / 1000));
#ifdef AGENT_TEST_ASAN
    fprintf(stderr, "memory: AddressSanitizer build, the %lld MiB bound is not checked\n",
            RSS_MAX / MiB);
#else
    CHECK(hwm < RSS_MAX);
#endif
    agent_stop(&ap, c);
    for (size_t i = 0; i < N; i++)
        CHECK_INT(blob_head(reg_b, "dst/memory", image_blob_digest(img, i + 1)),
                  image_blob_size(img, i + 1));
out:
    agent_stop(&ap, c);
    destroy_all(tasks, N);
    destroy_all(results, N);
    coord_destroy(&c);
}

/* One 256 MiB blob through the agent, and through curl | curl. */
static void test_throughput(void)
{
    if (!registries())
        return;
    json_t *img = image(reg_a, "src/huge", "--layers 1 --layer-size 268435456 --seed huge");
    if (!img)
        return;
    const char *digest = image_blob_digest(img, 1);
    int64_t size = image_blob_size(img, 1);
    coord_t *c = NULL;
    agent_proc_t ap = {0};
    proto_msg_t *task = NULL, *result = NULL;
    if (setup(&c, &ap, "throughput", 1) < 0)
        goto out;
    task = copy_task(reg_a->host, "src/huge", "dst/throughput", digest, size);
    int64_t t0 = http_now_ms();
    result = run_task(c, task);
    int64_t agent_ms = http_now_ms() - t0;
    long long cpu_ms = proc_cpu_ms(ap.pid);
    check_result(result, PROTO_OUTCOME_DONE, size);
    agent_stop(&ap, c);
    coord_destroy(&c);
    CHECK_INT(blob_head(reg_b, "dst/throughput", digest), size);

    /* The same bytes with curl: POST for an upload URL, then GET | PUT. */
    t0 = http_now_ms();
    int rc =
        fx_run(NULL,
               "set -e; loc=$(curl -sf -D - -o /dev/null -X POST '%s/v2/raw/pipe/blobs/uploads/' |"
               " tr -d '\\r' | sed -n 's/^[Ll]ocation: *//p');"
               " case \"$loc\" in /*) loc='%s'\"$loc\";; esac;"
               " case \"$loc\" in *\\?*) sep='&';; *) sep='?';; esac;"
               " curl -sf '%s/v2/src/huge/blobs/%s' |"
               " curl -sf -o /dev/null -X PUT -T - -H 'Content-Type: application/octet-stream'"
               " \"$loc${sep}digest=%s\"",
               reg_b->url, reg_b->url, reg_a->url, digest, digest);
    int64_t raw_ms = http_now_ms() - t0;
    CHECK_INT(rc, 0);
    CHECK_INT(blob_head(reg_b, "raw/pipe", digest), size);
    double agent_rate = (double)size / 1e6 / ((double)(agent_ms ? agent_ms : 1) / 1000);
    double raw_rate = (double)size / 1e6 / ((double)(raw_ms ? raw_ms : 1) / 1000);
    fprintf(stderr,
            "agent throughput: %.0f MB/s vs raw pipe %.0f MB/s (%lld MiB: %lld ms vs %lld ms)\n",
            agent_rate, raw_rate, (long long)(size / MiB), (long long)agent_ms, (long long)raw_ms);
    fprintf(stderr, "throughput: the agent used %lld ms of CPU\n", cpu_ms);
out:
    agent_stop(&ap, c);
    proto_msg_destroy(&task);
    proto_msg_destroy(&result);
    coord_destroy(&c);
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"tasks", test_tasks},   {"manifest", test_manifest},     {"mount", test_mount},
        {"digest", test_digest}, {"resume", test_resume},         {"reconnect", test_reconnect},
        {"curve", test_curve},   {"hostile", test_hostile},       {"sigterm", test_sigterm},
        {"memory", test_memory}, {"throughput", test_throughput}, {"refuse", test_refuse},
    };
    bool known = !only;
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        known = known || strcmp(only, tests[i].name) == 0;
    if (!known) {
        fprintf(stderr, "test_agent: no sub-test '%s'\n", only);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *tmp = getenv("TMPDIR");
    snprintf(workdir, sizeof workdir, "%s/ferry-agent-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(workdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    atexit(kill_live_agents);
    loop = http_loop_new();
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        fprintf(stderr, "== %s\n", tests[i].name);
        int failures = test_failures;
        int64_t t0 = http_now_ms();
        tests[i].fn();
        fprintf(stderr, "== %s: %s in %lld ms\n", tests[i].name,
                test_failures == failures ? "ok" : "FAILED", (long long)(http_now_ms() - t0));
        if (test_failures != failures) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s.log", workdir, tests[i].name);
            agent_proc_t ap = {0};
            snprintf(ap.log_path, sizeof ap.log_path, "%s", path);
            if (access(path, R_OK) == 0)
                agent_log_dump(&ap);
        }
    }
    for (size_t i = 0; i < n_images; i++)
        json_decref(images[i].img);
    fx_registry_stop(&reg_a);
    fx_registry_stop(&reg_b);
    http_loop_destroy(&loop);
    kill_live_agents();
    if (!test_failures && !getenv("FX_KEEP"))
        fx_run(NULL, "rm -rf '%s'", workdir);
    else
        fprintf(stderr, "agent logs kept in %s\n", workdir);
    return test_report();
}
