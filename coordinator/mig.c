/* mig — one migration: runs the phases (discover, inspect, plan, dispatch)
 * in order or overlapped, takes dispatch's callbacks, keeps the outcome of
 * every image, and reports. The phases live in their own files (run.h). */
#include "coordinator/mig.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/log.h"
#include "coordinator/dispatch.h"
#include "coordinator/metrics.h"
#include "coordinator/run.h"

#define RUN_COLLECT_MS     250   /* counting for progress at most this often */
#define RUN_PUBLISH_MS     2000  /* metrics and status files rewritten at most this often */
#define RUN_DRAIN_MS       30000 /* on a stop: time for running tasks to finish */
#define RUN_WAIT_LOG_MS    10000 /* "waiting for agents" at most this often */
#define RUN_GOODBYE_MS     2000  /* in-process agents' goodbyes at the end */
#define RUN_RETRY_BASE_MS  500   /* first delay of a retried task, doubling */
#define RUN_RETRY_SHIFT    6     /* ... up to 2^6 times the first */
#define RUN_DEFAULT_JOBS   8
#define RUN_DEFAULT_RETRY  3
#define RUN_DEFAULT_BEAT   1000
#define RUN_ENDPOINT_MAX   256
#define RUN_WHY_MAX        1200 /* a task's failure: the agent's message and code */

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ set-up */

mig_t *mig_new(const mig_opts_t *opts, ferry_err_t *err)
{
    mig_t *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->opts = *opts;
    if (m->opts.jobs <= 0)
        m->opts.jobs = RUN_DEFAULT_JOBS;
    if (m->opts.retries < 0)
        m->opts.retries = RUN_DEFAULT_RETRY;
    if (m->opts.heartbeat_ms <= 0)
        m->opts.heartbeat_ms = RUN_DEFAULT_BEAT;
    mig_select_t sel = {opts->include, opts->exclude, opts->latest, opts->platforms,
                        opts->n_platforms};
    selector_t *s = selector_new(&sel, err);
    m->selectors = calloc(8, sizeof *m->selectors);
    if (!s || !m->selectors) {
        selector_destroy(&s);
        mig_destroy(&m);
        return NULL;
    }
    m->selectors[m->n_selectors++] = s;
    m->cap_selectors = 8;
    m->sel = s;
    m->loop = http_loop_new();
    m->selected = strmap_new();
    m->digest_roots = strmap_new();
    m->bodies = strmap_new();
    m->plan = plan_new();
    m->report = report_new();
    if (!m->loop || !m->selected || !m->digest_roots || !m->bodies || !m->plan || !m->report)
        goto oom;
    return m;
oom:
    ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    mig_destroy(&m);
    return NULL;
}

void mig_destroy(mig_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    mig_t *m = *self_p;
    inspect_free(m);
    for (size_t i = 0; i < m->n_repos; i++)
        discover_repo_free(&m->repos[i]);
    free(m->repos);
    for (size_t i = 0; i < m->n_images; i++)
        free(m->images[i].error);
    free(m->images);
    for (size_t i = 0; i < m->n_catalogs; i++) {
        free(m->catalogs[i].src_prefix);
        free(m->catalogs[i].dst_prefix);
    }
    free(m->catalogs);
    for (size_t i = 0; i < m->n_eps; i++)
        endpoints_free(&m->eps[i]);
    free(m->eps);
    for (size_t i = 0; i < m->n_selectors; i++)
        selector_destroy(&m->selectors[i]);
    free(m->selectors);
    free(m->running_bytes);
    for (size_t i = 0; i < m->n_agent_stats; i++)
        free(m->agent_stats[i].id);
    free(m->agent_stats);
    free(m->agent_first_ms);
    free(m->agent_last_ms);
    for (size_t i = 0; i < m->n_joined; i++)
        free(m->joined[i]);
    free(m->joined);
    strmap_destroy(&m->selected, NULL);
    strmap_destroy(&m->digest_roots, NULL);
    plan_destroy(&m->plan);
    report_destroy(&m->report);
    journal_close(&m->journal);
    progress_destroy(&m->progress);
    http_loop_destroy(&m->loop);
    free(m);
    *self_p = NULL;
}

/* The transfer's wait for agents and its time since the first task went
 * out (the rate's time); both 0 before the transfer. */
static void run_times(const mig_t *m, double *wait_s, double *transfer_s)
{
    int64_t now = http_now_ms();
    int64_t sending = m->sending_ms ? m->sending_ms : now;
    *wait_s = m->transfer_ms ? (double)(sending - m->transfer_ms) / 1000.0 : 0;
    *transfer_s = m->sending_ms ? (double)(now - m->sending_ms) / 1000.0 : 0;
}

/* ------------------------------------------------------------ outcomes */

int run_image_outcome(const run_image_t *img)
{
    if (img->status != IMG_PENDING || !img->root)
        return img->status;
    if (img->root->state == PLAN_DONE)
        return IMG_MIGRATED;
    return img->root->state == PLAN_FAILED ? IMG_FAILED : IMG_PENDING;
}

void run_image_fail(mig_t *m, size_t image, int kind, const char *why)
{
    run_image_t *img = &m->images[image];
    if (img->status == IMG_FAILED)
        return;
    img->status = IMG_FAILED;
    img->fail_kind = (uint8_t)kind;
    free(img->error);
    img->error = strdup(why);
    if (img->root)
        plan_task_failed(m->plan, img->root, why);
}

/* The run is over: every image gets its final outcome, into the report. */
static void finish_images(mig_t *m)
{
    for (size_t i = 0; i < m->n_images; i++) {
        run_image_t *img = &m->images[i];
        int outcome = run_image_outcome(img);
        if (outcome == IMG_ABSENT)
            continue;
        if (outcome == IMG_PENDING || (outcome == IMG_FAILED && img->status == IMG_PENDING)) {
            /* Not decided while inspecting: the transfer's answer, or none. */
            const char *why = img->root         ? img->root->error ? img->root->error
                                                                   : "not transferred"
                              : run_stopping(m) ? "interrupted before it was inspected"
                                                : "the manifest could not be inspected";
            outcome = IMG_FAILED;
            img->fail_kind = img->root ? FAIL_TRANSFER : FAIL_MANIFEST;
            if (img->root || !img->error) {
                free(img->error);
                img->error = strdup(why);
            }
        }
        img->status = (uint8_t)outcome;
        char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
        run_ref_text(source, sizeof source, m, img->src_ep, img->src_repo, img->ref);
        run_ref_text(target, sizeof target, m, img->dst_ep, img->dst_repo, img->dst_ref);
        int status = outcome == IMG_MIGRATED  ? REPORT_MIGRATED
                     : outcome == IMG_SKIPPED ? REPORT_SKIPPED
                                              : REPORT_FAILED;
        const char *kind =
            outcome == IMG_FAILED && img->fail_kind == FAIL_MANIFEST ? "manifest" : "image";
        const char *note =
            img->skip_note ? "target tag differs; left as it is (--no-overwrite)" : img->error;
        report_add(m->report, kind, source, target, img->digest, status, note);
    }
    report_add_blob_stats(m->report, m->blobs_copied, m->blobs_mounted, m->blobs_skipped,
                          m->bytes_moved);
    for (size_t i = 0; i < m->n_agent_stats; i++)
        report_add_agent(m->report, &m->agent_stats[i]);
    if (m->transfer_ms) {
        double wait_s, transfer_s;
        run_times(m, &wait_s, &transfer_s);
        report_set_times(m->report, wait_s, transfer_s);
    }
}

/* ------------------------------------------------------------ dispatch's callbacks */

/* The progress table has room for task id (tasks are added while others run). */
static int running_room(mig_t *m, uint64_t id)
{
    if (id < m->cap_running)
        return 0;
    size_t cap = plan_task_count(m->plan) + 1 + 1024;
    uint64_t *rb = realloc(m->running_bytes, cap * sizeof *rb);
    if (!rb)
        return FERRY_ENOMEM;
    memset(rb + m->cap_running, 0, (cap - m->cap_running) * sizeof *rb);
    m->running_bytes = rb;
    m->cap_running = cap;
    return 0;
}

static int cb_fill_task(void *ud, uint64_t task_id, proto_task_t *out)
{
    mig_t *m = ud;
    plan_task_t *t = plan_task_by_id(m->plan, task_id);
    if (!t)
        return FERRY_EINVAL;
    if (running_room(m, t->id) < 0)
        return FERRY_ENOMEM;
    out->task_id = t->id;
    out->kind = t->kind;
    out->size = t->size;
    out->attempt = t->attempt;
    bool creds = !m->opts.insecure_control;
    int rc = endpoints_fill(&out->source, &m->eps[t->src_ep], m->agents, creds);
    if (rc == 0)
        rc = endpoints_fill(&out->target, &m->eps[t->dst_ep], m->agents, creds);
    if (rc == 0)
        rc = proto_str_set(&out->source_repo, t->src_repo);
    if (rc == 0)
        rc = proto_str_set(&out->target_repo, t->dst_repo);
    if (rc == 0)
        rc = proto_str_set(&out->digest, t->digest);
    if (rc == 0 && t->media_type)
        rc = proto_str_set(&out->media_type, t->media_type);
    if (rc == 0 && t->tag)
        rc = proto_str_set(&out->tag, t->tag);
    if (rc == 0 && t->mount_from)
        rc = proto_str_set(&out->mount_from, t->mount_from);
    size_t len = 0;
    const char *body =
        t->kind == PROTO_KIND_PUT_MANIFEST ? inspect_body(m, t->digest, &len) : NULL;
    if (rc == 0 && body) {
        /* the agent skips its GET; it checks the bytes against the digest */
        out->manifest = malloc(len);
        if (!out->manifest)
            return FERRY_ENOMEM;
        memcpy(out->manifest, body, len);
        out->manifest_len = len;
    }
    return rc;
}

/* A task succeeded: counts, the journal, and the plan. */
static void task_succeeded(mig_t *m, plan_task_t *t, const proto_result_t *r)
{
    if (t->kind != PROTO_KIND_PUT_MANIFEST) {
        if (r->outcome == PROTO_OUTCOME_MOUNTED)
            m->blobs_mounted++;
        else if (r->outcome == PROTO_OUTCOME_SKIPPED)
            m->blobs_skipped++;
        else
            m->blobs_copied++;
        m->bytes_moved += r->bytes;
    }
    if (m->journal) {
        char key[RUN_KEY_MAX];
        run_journal_key(key, sizeof key, m, t);
        run_journal_note(m, key);
    }
    if (t->kind == PROTO_KIND_PUT_MANIFEST)
        inspect_body_release(m, t->digest);
    plan_task_done(m->plan, t, r->outcome);
}

/* The stats entry of an agent, added at its first result; NULL when out of
 * memory. Agents are few (at most the --agents of a run, or in-process). */
static metrics_agent_t *agent_stats(mig_t *m, const char *agent_id, size_t *index)
{
    for (size_t i = 0; i < m->n_agent_stats; i++)
        if (strcmp(m->agent_stats[i].id, agent_id) == 0)
            return *index = i, &m->agent_stats[i];
    if (m->n_agent_stats == m->cap_agent_stats) {
        size_t cap = m->cap_agent_stats ? m->cap_agent_stats * 2 : 8;
        metrics_agent_t *v = realloc(m->agent_stats, cap * sizeof *v);
        int64_t *first = v ? realloc(m->agent_first_ms, cap * sizeof *first) : NULL;
        int64_t *last = first ? realloc(m->agent_last_ms, cap * sizeof *last) : NULL;
        if (v)
            m->agent_stats = v;
        if (first)
            m->agent_first_ms = first;
        if (last)
            m->agent_last_ms = last;
        if (!v || !first || !last)
            return NULL;
        m->cap_agent_stats = cap;
    }
    metrics_agent_t *a = &m->agent_stats[m->n_agent_stats];
    memset(a, 0, sizeof *a);
    if (!(a->id = strdup(agent_id)))
        return NULL;
    *index = m->n_agent_stats++;
    m->agent_first_ms[*index] = m->agent_last_ms[*index] = 0;
    return a;
}

/* Counts a RESULT for its agent: a task finished (its blob bytes) or an attempt
 * failed; its time at work spans its first task's start to its last result. */
static void agent_note(mig_t *m, const char *agent_id, const plan_task_t *t,
                       const proto_result_t *r)
{
    size_t i;
    metrics_agent_t *a = agent_stats(m, agent_id, &i);
    if (!a)
        return;
    int64_t now = http_now_ms(), began = now - (int64_t)r->duration_ms;
    if (!m->agent_first_ms[i] || began < m->agent_first_ms[i])
        m->agent_first_ms[i] = began;
    m->agent_last_ms[i] = now;
    a->seconds = (double)(m->agent_last_ms[i] - m->agent_first_ms[i]) / 1000.0;
    if (r->outcome == PROTO_OUTCOME_FAILED) {
        a->failed++;
        return;
    }
    a->tasks++;
    if (t->kind != PROTO_KIND_PUT_MANIFEST)
        a->bytes += r->bytes; /* blob bytes, as the run counts them */
}

static void cb_result(void *ud, const char *agent_id, const proto_result_t *r)
{
    mig_t *m = ud;
    plan_task_t *t = plan_task_by_id(m->plan, r->task_id);
    if (!t || t->state != PLAN_RUNNING)
        return;
    m->running_bytes[t->id] = 0;
    agent_note(m, agent_id, t, r);
    log_debug("result %llu %s %s from %s: %s in %llu ms", (unsigned long long)t->id,
              proto_task_kind_name(t->kind), t->digest, agent_id, proto_outcome_name(r->outcome),
              (unsigned long long)r->duration_ms);
    if (r->outcome != PROTO_OUTCOME_FAILED) {
        task_succeeded(m, t, r);
        return;
    }
    /* A login refused mid-run that can be renewed: renewed, and the task
     * goes again with the new one. */
    bool auth = r->error_code && strcmp(r->error_code, "auth") == 0;
    if (auth && (int)t->attempt <= m->opts.retries &&
        (endpoints_renew(m, t->dst_ep, true) || endpoints_renew(m, t->src_ep, true))) {
        t->attempt++;
        plan_task_requeue(m->plan, t, http_now_ms());
        return;
    }
    if (r->error_class == PROTO_ERROR_RETRYABLE && (int)t->attempt <= m->opts.retries) {
        log_info("%s %s (attempt %u on %s): %s; retrying", proto_task_kind_name(t->kind), t->digest,
                 t->attempt, agent_id, r->message);
        int64_t delay = (int64_t)RUN_RETRY_BASE_MS
                        << (t->attempt > RUN_RETRY_SHIFT ? RUN_RETRY_SHIFT : t->attempt - 1);
        t->attempt++;
        plan_task_requeue(m->plan, t, http_now_ms() + delay);
        return;
    }
    /* The agent's stable code (digest-mismatch, not-found, ...) goes with the
     * reason, so the report says what kind of failure it was. */
    char why[RUN_WHY_MAX];
    const char *code = r->error_code && *r->error_code ? r->error_code : NULL;
    const char *message = r->message && *r->message ? r->message : NULL;
    if (message && code)
        snprintf(why, sizeof why, "%s (%s)", message, code);
    else
        snprintf(why, sizeof why, "%s", message ? message : code ? code : "failed");
    if (t->kind == PROTO_KIND_PUT_MANIFEST)
        inspect_body_release(m, t->digest);
    plan_task_failed(m->plan, t, why);
}

static void cb_progress(void *ud, const proto_progress_t *p)
{
    mig_t *m = ud;
    if (p->task_id && p->task_id < m->cap_running)
        m->running_bytes[p->task_id] = p->bytes_done;
}

static void cb_lost(void *ud, uint64_t task_id, const char *agent_id)
{
    mig_t *m = ud;
    plan_task_t *t = plan_task_by_id(m->plan, task_id);
    if (!t || t->state != PLAN_RUNNING)
        return;
    m->running_bytes[task_id] = 0;
    if ((int)t->attempt > m->opts.retries + 2) {
        char why[256];
        snprintf(why, sizeof why, "lost with its agent %s %u times", agent_id, t->attempt);
        plan_task_failed(m->plan, t, why);
        return;
    }
    t->attempt++;
    plan_task_requeue(m->plan, t, http_now_ms());
}

/* Who is connected, for the wait's messages. */
static void cb_agent(void *ud, const char *agent_id, bool joined)
{
    mig_t *m = ud;
    for (size_t i = 0; i < m->n_joined; i++)
        if (strcmp(m->joined[i], agent_id) == 0) {
            if (!joined) {
                free(m->joined[i]);
                m->joined[i] = m->joined[--m->n_joined];
            }
            return;
        }
    char **v = joined ? realloc(m->joined, (m->n_joined + 1) * sizeof *v) : NULL;
    if (v && (v[m->n_joined] = strdup(agent_id))) {
        m->joined = v;
        m->n_joined++;
    } else if (v) {
        m->joined = v;
    }
}

/* "a, b" of the agents connected, or "none". */
static void joined_names(const mig_t *m, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m->n_joined && o + 1 < size; i++) {
        int n = snprintf(out + o, size - o, "%s%s", i ? ", " : "", m->joined[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    if (!m->n_joined)
        snprintf(out, size, "none");
}

/* ------------------------------------------------------------ publishing */

/* Counts of the run so far, for progress, the metrics and the status file. */
static void collect(mig_t *m, const char *phase, dispatch_t *d, metrics_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->phase = phase;
    s->started = m->started;
    s->elapsed_s = wall_now() - m->started;
    size_t n = plan_task_count(m->plan);
    s->tasks_total = n;
    uint64_t running = 0;
    for (size_t i = 0; i < n; i++) {
        plan_task_t *t = plan_task_at(m->plan, i);
        if (t->kind == PROTO_KIND_COPY_BLOB && t->size > 0)
            s->bytes_planned += (uint64_t)t->size;
        s->tasks_done += t->state == PLAN_DONE;
        s->tasks_failed += t->state == PLAN_FAILED;
        if (t->state == PLAN_RUNNING) {
            s->tasks_running++;
            if (t->id < m->cap_running)
                running += m->running_bytes[t->id];
        }
    }
    s->bytes_moved = m->bytes_moved + running;
    s->blobs_copied = m->blobs_copied;
    s->blobs_mounted = m->blobs_mounted;
    s->blobs_skipped = m->blobs_skipped;
    for (size_t i = 0; i < m->n_images; i++) {
        int outcome = run_image_outcome(&m->images[i]);
        s->images_failed += outcome == IMG_FAILED;
        s->images_skipped += outcome == IMG_SKIPPED;
        s->images_migrated += outcome == IMG_MIGRATED;
        s->images_total += outcome != IMG_ABSENT;
    }
    s->repos_failed = (size_t)m->repos_failed;
    s->agents = d ? dispatch_agents(d) : 0;
    s->agent_list = m->agent_stats;
    s->n_agent_list = m->n_agent_stats;
    run_times(m, &s->wait_s, &s->transfer_s);
}

void run_publish(mig_t *m, const char *phase, dispatch_t *d, bool force)
{
    /* Counting walks every task and image: not on each turn of the loop. */
    int64_t now = http_now_ms();
    if (!force && now - m->collected_ms < RUN_COLLECT_MS)
        return;
    m->collected_ms = now;
    metrics_snapshot_t s;
    collect(m, phase, d, &s);
    progress_state_t p = {0};
    p.phase = phase;
    p.images_total = s.images_total;
    p.images_done = s.images_migrated + s.images_skipped + s.images_failed;
    p.tasks_total = s.tasks_total;
    p.tasks_done = s.tasks_done + s.tasks_failed;
    p.bytes_done = s.bytes_moved;
    p.bytes_total = s.bytes_planned;
    p.agents = s.agents;
    p.failed = s.images_failed;
    progress_update(m->progress, &p, force);
    if (!force && now - m->published_ms < RUN_PUBLISH_MS)
        return;
    m->published_ms = now;
    if (m->opts.on_publish)
        m->opts.on_publish(m->opts.publish_ud, &s);
    ferry_err_t err;
    if (m->opts.metrics_file && metrics_write_prometheus(m->opts.metrics_file, &s, &err) < 0)
        log_warn("%s", err.message);
    if (m->opts.status_file && metrics_write_status(m->opts.status_file, &s, &err) < 0)
        log_warn("%s", err.message);
}

/* ------------------------------------------------------------ transfer */

/* The transfer's moving parts. */
typedef struct transfer {
    void *ctx;                       /* ZeroMQ */
    dispatch_t *d;
    locals_t *locals;                /* in-process agents, NULL with --listen */
    char endpoint[RUN_ENDPOINT_MAX]; /* where agents connect */
    bool inspected;                  /* inspection is over */
    bool dispatching;                /* the agents asked for came: tasks go out */
    bool stopping;                   /* a stop was asked for: no new tasks */
    int64_t deadline;                /* when stopping: give up on running tasks */
    int64_t waiting_logged;          /* last "waiting for agents" line */
} transfer_t;

/* Binds the dispatcher (with CURVE when a key is given). 0, or 2. */
static int transfer_open(mig_t *m, transfer_t *x)
{
    ferry_err_t err;
    char pub[41] = "", sec[41] = "";
    dispatch_opts_t dopts = {0};
    dopts.heartbeat_ms = m->opts.heartbeat_ms;
    x->ctx = zmq_ctx_new();
    if (!x->ctx) {
        log_error("cannot create a ZeroMQ context");
        return 2;
    }
    if (m->opts.listen) {
        snprintf(x->endpoint, sizeof x->endpoint, "%s", m->opts.listen);
        if (m->opts.server_key_file) {
            if (proto_key_read(m->opts.server_key_file, pub, sec, &err) < 0) {
                log_error("%s", err.message);
                return 2;
            }
            dopts.server_public = pub;
            dopts.server_secret = sec;
            dopts.allowlist = m->opts.allow_keys_file;
        }
    } else {
        snprintf(x->endpoint, sizeof x->endpoint, "inproc://ferry-%d", (int)getpid());
        dopts.in_process = true;
    }
    if (m->opts.insecure_control)
        log_warn("--insecure-control: agents on %s are not authenticated; TASKs carry no registry "
                 "credentials, agents use their own (--auth-file)",
                 x->endpoint);
    dopts.endpoint = x->endpoint;
    dispatch_cb_t cb = {cb_fill_task, cb_result, cb_progress, cb_lost, cb_agent, m};
    x->d = dispatch_new(x->ctx, &dopts, &cb, &err);
    memset(sec, 0, sizeof sec);
    if (!x->d) {
        log_error("%s", err.message);
        return 2;
    }
    return 0;
}

/* Stops the in-process agents (answering while they say goodbye) and
 * closes the dispatcher. */
static void transfer_close(transfer_t *x)
{
    if (x->locals) {
        /* Wake the agents (any message does) and answer while they say
         * goodbye, for a short while. */
        locals_signal(x->locals);
        dispatch_wake(x->d);
        int64_t until = http_now_ms() + RUN_GOODBYE_MS;
        while (dispatch_agents(x->d) > 0 && http_now_ms() < until)
            dispatch_poll(x->d, 10);
    }
    locals_stop(&x->locals);
    dispatch_destroy(&x->d);
    if (x->ctx)
        zmq_ctx_term(x->ctx);
}

/* Agents: in-process ones start with the first task; remote ones are
 * waited for until as many as asked for are there, then whoever is. */
static bool transfer_agents(mig_t *m, transfer_t *x, int64_t now)
{
    if (!m->opts.listen && !x->locals && plan_unfinished(m->plan) > 0)
        x->locals = locals_start(x->ctx, x->endpoint, &m->opts);
    m->agents = dispatch_agents(x->d);
    int wanted = m->opts.listen ? (m->opts.wait_agents > 0 ? m->opts.wait_agents : 1)
                                : locals_count(x->locals);
    x->dispatching |= wanted > 0 && m->agents >= wanted;
    if (m->opts.listen && !x->dispatching && wanted > 0 && plan_unfinished(m->plan) > 0) {
        char names[512];
        joined_names(m, names, sizeof names);
        if (m->opts.agents_timeout_s > 0 &&
            now - m->transfer_ms > (int64_t)m->opts.agents_timeout_s * 1000) {
            log_error("%d of %d agents joined on %s within %d s (--agents-timeout): %s", m->agents,
                      wanted, x->endpoint, m->opts.agents_timeout_s, names);
            m->refused = true;
        } else if (now - x->waiting_logged > RUN_WAIT_LOG_MS) {
            log_info("waiting for agents on %s: %d of %d connected (%s)", x->endpoint, m->agents,
                     wanted, names);
            x->waiting_logged = now;
        }
    }
    return x->dispatching && m->agents > 0;
}

/* Sends ready tasks while agents have room. */
static void transfer_send(mig_t *m, transfer_t *x, int64_t now)
{
    ferry_err_t err;
    while (dispatch_free_slots(x->d) > 0) {
        plan_task_t *t = plan_next_ready(m->plan, now);
        if (!t)
            break;
        if (m->eps[t->dst_ep].push_state != PUSH_ALLOWED) {
            /* The first write to this registry: may these credentials push? */
            plan_task_requeue(m->plan, t, now);
            if (endpoints_check_push(m, t->dst_ep, t->dst_repo) < 0)
                m->refused = true;
            break;
        }
        if (!m->sending_ms)
            m->sending_ms = now;
        /* A mount or a manifest moves few bytes: only copies balance by size. */
        int rc = dispatch_send(x->d, t->id, t->kind == PROTO_KIND_COPY_BLOB ? t->size : 0,
                               plan_ready_bytes(m->plan), &err);
        if (rc != 0) {
            /* A held task is offered again when the next message wakes the loop. */
            plan_task_requeue(m->plan, t, rc == DISPATCH_HELD ? now : now + RUN_TICK_MS);
            break;
        }
    }
}

/* Waits for the next event: the coordinator's own requests (while
 * inspecting) and the agents' messages, on one wait. */
static void transfer_wait(mig_t *m, transfer_t *x, int64_t now)
{
    int64_t due = plan_next_due(m->plan);
    int timeout = due > now ? (int)(due - now < RUN_TICK_MS ? due - now : RUN_TICK_MS) : 50;
    if (x->inspected) {
        dispatch_poll(x->d, timeout);
        return;
    }
    struct curl_waitfd w = {dispatch_fd(x->d), CURL_WAIT_POLLIN, 0};
    http_loop_run(m->loop, dispatch_readable(x->d) ? 0 : timeout, w.fd >= 0 ? &w : NULL,
                  w.fd >= 0);
    dispatch_poll(x->d, 0);
}

/* One turn of the loop; false when the transfer is over. */
static bool transfer_turn(mig_t *m, transfer_t *x)
{
    int64_t now = http_now_ms();
    endpoints_keep_fresh(m);
    if (m->refused)
        return false; /* nothing was sent: there is nothing to wait for */
    if (run_stopping(m) && !x->stopping) {
        x->stopping = true;
        x->deadline = now + RUN_DRAIN_MS;
        progress_break(m->progress);
        log_warn("interrupted: no new tasks; waiting for %d running task(s)",
                 dispatch_leased(x->d));
    }
    if (x->stopping && (dispatch_leased(x->d) == 0 || now > x->deadline))
        return false;
    if (!x->inspected) {
        inspect_pump(m);
        if (!inspecting(m)) {
            x->inspected = true;
            inspect_done(m);
        }
    }
    if (transfer_agents(m, x, now) && !x->stopping)
        transfer_send(m, x, now);
    if (x->inspected && plan_unfinished(m->plan) == 0)
        return false; /* the last image was inspected and had nothing to move */
    transfer_wait(m, x, now);
    run_publish(m, x->inspected ? "transfer" : "inspect", x->d, false);
    return true;
}

/* Sends ready tasks to agents until the plan is finished (or interrupted);
 * inspection goes on meanwhile when it overlaps. 0, or 2 when no
 * dispatcher could start. */
static int transfer(mig_t *m)
{
    transfer_t x = {0};
    m->transfer_ms = http_now_ms();
    if (transfer_open(m, &x) != 0) {
        transfer_close(&x);
        return 2;
    }
    x.inspected = !inspecting(m);
    while ((!x.inspected || plan_unfinished(m->plan) > 0) && transfer_turn(m, &x))
        ;
    if (!x.inspected)
        inspect_done(m);
    run_publish(m, "transfer", x.d, true);
    progress_break(m->progress);
    for (size_t i = 0; plan_unfinished(m->plan) > 0 && i < plan_task_count(m->plan); i++) {
        plan_task_t *t = plan_task_at(m->plan, i);
        if (t->state != PLAN_DONE && t->state != PLAN_FAILED)
            plan_task_failed(m->plan, t, "interrupted before it finished");
    }
    transfer_close(&x);
    return 0;
}

/* ------------------------------------------------------------ the run */

static void print_plan(mig_t *m)
{
    size_t images = 0, skipped = 0, copy = 0, mount = 0, manifests = 0;
    uint64_t bytes = 0;
    size_t absent = 0;
    for (size_t i = 0; i < m->n_images; i++) {
        images += m->images[i].status == IMG_PENDING;
        skipped += m->images[i].status == IMG_SKIPPED;
        absent += m->images[i].status == IMG_ABSENT;
    }
    for (size_t i = 0; i < plan_task_count(m->plan); i++) {
        plan_task_t *t = plan_task_at(m->plan, i);
        if (t->state == PLAN_DONE)
            continue;
        copy += t->kind == PROTO_KIND_COPY_BLOB;
        mount += t->kind == PROTO_KIND_MOUNT_BLOB;
        manifests += t->kind == PROTO_KIND_PUT_MANIFEST;
        if (t->kind == PROTO_KIND_COPY_BLOB && t->size > 0)
            bytes += (uint64_t)t->size;
    }
    printf("Plan (dry run, nothing written):\n");
    for (size_t i = 0; i < m->n_images; i++) {
        run_image_t *img = &m->images[i];
        if (img->status == IMG_ABSENT)
            continue;
        char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
        run_ref_text(source, sizeof source, m, img->src_ep, img->src_repo, img->ref);
        run_ref_text(target, sizeof target, m, img->dst_ep, img->dst_repo, img->dst_ref);
        printf("  %-8s %s -> %s%s%s\n",
               img->status == IMG_SKIPPED  ? "skip"
               : img->status == IMG_FAILED ? "fail"
                                           : "copy",
               source, target, img->error ? ": " : "", img->error ? img->error : "");
    }
    printf("images: %zu to migrate, %zu already there, %zu failed to inspect\n", images, skipped,
           m->n_images - images - skipped - absent);
    printf("blobs: %zu to copy (%.1f MiB), %zu to mount; manifests: %zu to push\n", copy,
           (double)bytes / 1048576.0, mount, manifests);
}

/* Images the run was asked for: refs, and tags the selection kept. */
static size_t run_selected(const mig_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_repos; i++)
        n += m->repos[i].ref ? 1 : m->repos[i].n_tags;
    return n;
}

/* An output file can be written where the run will write it, checked before
 * anything moves: it is a regular file or absent, and its directory takes
 * new files (the file is replaced through a temporary beside it). */
static int output_check(const char *flag, const char *path)
{
    struct stat st;
    if (!path)
        return 0;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        log_error("%s %s: not a regular file", flag, path);
        return -1;
    }
    char *copy = strdup(path);
    if (!copy) {
        log_error("out of memory");
        return -1;
    }
    const char *dir = dirname(copy);
    int rc = 0;
    errno = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
        log_error("%s %s: cannot write in %s: %s", flag, path, dir,
                  errno ? strerror(errno) : "not a directory");
        rc = -1;
    }
    free(copy);
    return rc;
}

int run_prepare(mig_t *m)
{
    m->started = wall_now();
    int bad = output_check("--report", m->opts.report) +
              output_check("--metrics-file", m->opts.metrics_file) +
              output_check("--status-file", m->opts.status_file);
    if (bad)
        return 2;
    m->progress = progress_new(m->opts.progress, stderr);
    if (m->opts.progress == MIG_PROGRESS_JSON)
        log_set_json(true); /* JSON progress is only JSON: the log lines too */
    if (m->opts.journal && !m->opts.dry_run) {
        ferry_err_t err;
        m->journal =
            journal_open(m->opts.journal, m->opts.run_key ? m->opts.run_key : "ferry", false, &err);
        if (!m->journal) {
            log_error("%s", err.message);
            return 2;
        }
        m->journal_first = journal_count(m->journal) > 0;
    }
    /* Every registry is asked once before anything is planned: a wrong
     * password or a missing --insecure is one line, not a failure a tag. */
    if (endpoints_check(m) > 0)
        return 2;
    discover(m);
    if (run_selected(m) == 0 && !run_stopping(m))
        log_warn("the selection matches no image: nothing to do");
    return 0;
}

/* Inspection and transfer overlap: a task runs as soon as its image is
 * planned. Not with --dry-run (nothing runs), nor with --qps (the agents
 * share each registry's rate; the coordinator's requests would add to it). */
static bool overlapped(const mig_t *m)
{
    if (m->opts.dry_run)
        return false;
    for (size_t i = 0; i < m->n_eps; i++)
        if (m->eps[i].qps > 0)
            return false;
    return true;
}

/* The report, the journal's last sync, the summary; the exit code. */
static int run_finish(mig_t *m)
{
    finish_images(m);
    double finished = wall_now();
    ferry_err_t err;
    if (m->opts.report &&
        report_write_json(m->report, m->opts.report, m->started, finished, &err) < 0)
        log_error("%s", err.message);
    if (m->journal && journal_sync(m->journal, &err) < 0)
        log_warn("journal: %s", err.message);
    journal_close(&m->journal); /* a --watch's next pass opens it again */
    bool interrupted = run_stopping(m);
    /* The last progress line and the files first: the summary's banner is
     * the run's last line in every mode. */
    run_publish(m, interrupted ? "interrupted" : "finished", NULL, true);
    progress_destroy(&m->progress);
    fflush(stderr);
    report_counts_t c;
    report_counts(m->report, &c);
    if (m->opts.pass_summary)
        log_info("pass: %zu migrated, %zu already present, %zu failed, %zu repositories failed, "
                 "in %.1fs",
                 c.migrated, c.skipped, c.failed, c.repo_failed + c.namespace_failed,
                 finished - m->started);
    else
        report_print_summary(m->report, stdout, finished - m->started);
    fflush(stdout);
    return c.failed || c.repo_failed || c.manifest_failed || c.namespace_failed || interrupted;
}

void mig_print_summary(mig_t *m)
{
    fflush(stderr);
    report_print_summary(m->report, stdout, wall_now() - m->started);
    fflush(stdout);
}

int mig_run(mig_t *m)
{
    int rc = run_prepare(m);
    if (rc)
        return rc;
    if (overlapped(m)) {
        inspect_start(m);
        plan_seal(m->plan);
        if (!inspecting(m))
            inspect_done(m);
    } else {
        inspect_all(m);
        plan_seal(m->plan);
    }
    if (m->opts.dry_run) {
        print_plan(m);
        return 0;
    }
    if (inspecting(m) || plan_unfinished(m->plan) > 0) {
        rc = transfer(m);
        if (rc || m->refused)
            return 2;
    }
    return run_finish(m);
}
