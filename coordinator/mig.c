/* mig — a migration: discovery, inspection, planning, dispatch, report. */
#include "coordinator/mig.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "agent/agent.h"
#include "common/buf.h"
#include "common/digest.h"
#include "common/http.h"
#include "common/log.h"
#include "common/manifest.h"
#include "common/reg.h"
#include "common/strmap.h"
#include "coordinator/dispatch.h"
#include "coordinator/journal.h"
#include "coordinator/metrics.h"
#include "coordinator/plan.h"
#include "coordinator/progress.h"
#include "coordinator/report.h"
#include "proto/proto.h"

#define MIG_INFLIGHT  32 /* registry API operations at once while inspecting */
#define MIG_MAX_DEPTH 4  /* nesting of indexes */
#define MIG_CA_MAX    (1024 * 1024)
/* Manifest bytes kept for the agents' put-manifest TASKs (a GET per tag
 * saved); beyond this the agents fetch them from the source. */
#define MIG_BODY_BUDGET (16 * 1024 * 1024)

enum image_status { IMG_PENDING = 0, IMG_MIGRATED, IMG_SKIPPED, IMG_FAILED };
enum fail_kind { FAIL_TRANSFER = 0, FAIL_MANIFEST };

typedef struct mig_ep {
    char *host, *ca_file, *ca_pem, *username, *password;
    bool plain_http, tls_insecure;
    double qps;
    reg_t *reg;            /* the coordinator's client */
    bool no_referrers_api; /* answered 404 to the referrers API once */
    /* As a target of a mirror: its catalog, so that repositories it lacks
     * need neither a tag listing nor a HEAD per tag (freed after listing). */
    reg_op_t *catalog_op;
    strmap_t *catalog; /* repository names, when the catalog could be read */
} mig_ep_t;

typedef struct mig_repo {
    int src_ep, dst_ep;
    char *src_repo, *dst_repo;
    char *ref;   /* one image, or NULL */
    char **tags; /* chosen tags (given, or listed and filtered) */
    size_t n_tags;
    bool tags_given; /* tags came from the caller */
    reg_op_t *op;    /* tag listing */
    char **listed;   /* every tag the registry listed, sorted (before filters) */
    size_t n_listed;
    tagfilter_t *filter;    /* its own tag filter, or NULL for the run's */
    int latest;             /* newest N tags, 0 = all */
    char *const *platforms; /* borrowed (options or rules) */
    size_t n_platforms;
    reg_op_t *dst_op;  /* the target's tag listing */
    uint8_t dst_state; /* enum dst_state */
    char **dst_listed; /* the target's tags, sorted (DST_LISTED; freed after inspection) */
    size_t n_dst_listed;
} mig_repo_t;

/* What the target's tag listing said: a tag it does not list needs no HEAD
 * (a new repository costs one request, not one per tag). */
enum dst_state { DST_UNKNOWN = 0, DST_ABSENT, DST_LISTED };

typedef struct mig_image {
    uint32_t repo; /* index in m->repos */
    uint16_t src_ep, dst_ep;
    const char *src_repo, *dst_repo; /* interned */
    const char *ref;                 /* tag or digest asked for, interned */
    const char *digest;              /* source manifest digest, interned */
    uint8_t status;                  /* enum image_status */
    uint8_t fail_kind;               /* enum fail_kind */
    bool skip_note;                  /* skipped because of --no-overwrite */
    char *error;
    plan_task_t *root; /* the task whose success migrates it */
} mig_image_t;

/* One manifest to fetch while inspecting. */
typedef struct fetch {
    mig_t *m;
    size_t image;        /* index in m->images */
    const char *ref;     /* what to fetch (tag or digest) */
    plan_task_t *parent; /* index task waiting for this child, or NULL for a root */
    const char *tag;     /* push under this tag (roots by tag) */
    bool held;           /* parent waits for this child (plan_hold) */
    char *target_digest; /* the target's digest of the tag, NULL when it has none */
    char *source_digest; /* the source's, when asked first (a resumed run) */
    int depth;
    int step; /* enum fetch_step */
    reg_op_t *op;
    char *body; /* the manifest, kept while the target is asked */
    size_t body_len;
    char *media_type;
    struct fetch *next; /* queue link */
} fetch_t;

enum fetch_step { F_START = 0, F_GET, F_TARGET, F_SOURCE_HEAD, F_JOURNAL, F_REFERRERS, F_FALLBACK };

/* A manifest's bytes shared by the put-manifest tasks of its digest. */
typedef struct mig_body {
    uint32_t refs; /* tasks not finished that will send it */
    size_t len;
    char data[];
} mig_body_t;

struct mig {
    mig_opts_t opts;
    tagfilter_t *filter;
    http_loop_t *loop;
    mig_ep_t *eps;
    size_t n_eps;
    mig_repo_t *repos;
    size_t n_repos, cap_repos;
    mig_image_t *images;
    size_t n_images, cap_images;
    strmap_t *selected;     /* "repo index|ref" of images already added */
    strmap_t *digest_roots; /* "repo index|digest" -> the first root task of that content */
    strmap_t *bodies;       /* manifest digest -> mig_body_t, for put-manifest TASKs */
    size_t bodies_bytes;    /* their bytes (at most MIG_BODY_BUDGET) */
    plan_t *plan;
    report_t *report;
    journal_t *journal;
    fetch_t *queue, *queue_tail; /* fetches not started */
    int inflight;                /* running operations */
    /* catalog discovery */
    struct catalog_req {
        int src_ep, dst_ep;
        char *src_prefix, *dst_prefix;
        mig_select_t sel;
        bool has_sel;
    } * catalogs;
    size_t n_catalogs;
    /* run state */
    progress_t *progress;
    uint64_t blobs_copied, blobs_mounted, blobs_skipped, bytes_moved;
    uint64_t *running_bytes; /* per task id: bytes done so far (progress) */
    double started;
    int repos_failed;
    int64_t published_ms;   /* last write of the metrics and status files */
    int agents;             /* agents connected (they share --qps) */
    size_t journal_skipped; /* tasks the journal had done */
    size_t journal_tags;    /* tags the journal had recorded, not asked at the target */
    bool journal_first;     /* the journal held records at start: ask the source first */
    int64_t collected_ms;   /* last count for progress (publish) */
    size_t cap_running;     /* entries of running_bytes */
};

static void publish(mig_t *m, const char *phase, dispatch_t *d, bool force);
static void target_unlist(mig_repo_t *r);
static void journal_key(const mig_t *m, const plan_task_t *t, char *out, size_t size);

/* The journal's key of a manifest put under ref (a tag, or its digest). */
static void manifest_key(const mig_t *m, int dst_ep, const char *dst_repo, const char *ref,
                         const char *digest, char *out, size_t size)
{
    snprintf(out, size, "manifest %s/%s:%s@%s", m->eps[dst_ep].host, dst_repo, ref, digest);
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ set-up */

static void fetch_free(fetch_t *f)
{
    if (!f)
        return;
    if (f->held) /* planned or given up: the index no longer waits for it */
        plan_unhold(f->m->plan, f->parent);
    free(f->target_digest);
    free(f->source_digest);
    reg_op_destroy(&f->op);
    free(f->body);
    free(f->media_type);
    free(f);
}

mig_t *mig_new(const mig_opts_t *opts, ferry_err_t *err)
{
    mig_t *m = calloc(1, sizeof *m);
    if (!m)
        goto oom;
    m->opts = *opts;
    if (m->opts.jobs <= 0)
        m->opts.jobs = 8;
    if (m->opts.retries < 0)
        m->opts.retries = 3;
    if (m->opts.heartbeat_ms <= 0)
        m->opts.heartbeat_ms = 1000;
    m->filter = tagfilter_new(opts->include, opts->exclude, err);
    if (!m->filter) {
        mig_destroy(&m);
        return NULL;
    }
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
    while (m->queue) {
        fetch_t *f = m->queue;
        m->queue = f->next;
        fetch_free(f);
    }
    for (size_t i = 0; i < m->n_repos; i++) {
        mig_repo_t *r = &m->repos[i];
        reg_op_destroy(&r->op);
        tagfilter_destroy(&r->filter);
        for (size_t j = 0; j < r->n_listed; j++)
            free(r->listed[j]);
        free(r->listed);
        reg_op_destroy(&r->dst_op);
        target_unlist(r);
        free(r->src_repo);
        free(r->dst_repo);
        free(r->ref);
        for (size_t j = 0; j < r->n_tags; j++)
            free(r->tags[j]);
        free(r->tags);
    }
    free(m->repos);
    for (size_t i = 0; i < m->n_images; i++)
        free(m->images[i].error);
    free(m->images);
    for (size_t i = 0; i < m->n_catalogs; i++) {
        free(m->catalogs[i].src_prefix);
        free(m->catalogs[i].dst_prefix);
    }
    free(m->catalogs);
    for (size_t i = 0; i < m->n_eps; i++) {
        mig_ep_t *e = &m->eps[i];
        reg_op_destroy(&e->catalog_op);
        reg_destroy(&e->reg);
        strmap_destroy(&e->catalog, NULL);
        free(e->host);
        free(e->ca_file);
        free(e->ca_pem);
        free(e->username);
        if (e->password) {
            memset(e->password, 0, strlen(e->password));
            free(e->password);
        }
    }
    free(m->eps);
    free(m->running_bytes);
    tagfilter_destroy(&m->filter);
    strmap_destroy(&m->selected, NULL);
    strmap_destroy(&m->digest_roots, NULL);
    strmap_destroy(&m->bodies, free);
    plan_destroy(&m->plan);
    report_destroy(&m->report);
    journal_close(&m->journal);
    progress_destroy(&m->progress);
    http_loop_destroy(&m->loop);
    free(m);
    *self_p = NULL;
}

static char *read_small_file(const char *path, size_t max, ferry_err_t *err)
{
    char *text = NULL;
    size_t len;
    ferry_err_t why;
    int rc = fbuf_read_file(path, max, 0, &text, &len, &why);
    if (rc == FERRY_ETOOBIG)
        ferry_err_set(err, rc, "%s is larger than %zu bytes", path, max);
    else if (rc < 0)
        ferry_err_set(err, FERRY_EIO, "cannot read %s: %s", path, why.message);
    return text;
}

int mig_endpoint(mig_t *m, const mig_endpoint_opts_t *o, ferry_err_t *err)
{
    for (size_t i = 0; i < m->n_eps; i++)
        if (strcmp(m->eps[i].host, o->host) == 0)
            return (int)i;
    if (m->n_eps >= 65535)
        return ferry_err_set(err, FERRY_ETOOBIG, "too many registries");
    mig_ep_t *eps = realloc(m->eps, (m->n_eps + 1) * sizeof *eps);
    if (!eps)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    m->eps = eps;
    mig_ep_t *e = &m->eps[m->n_eps];
    memset(e, 0, sizeof *e);
    e->host = strdup(o->host);
    e->plain_http = o->plain_http;
    e->tls_insecure = o->tls_insecure;
    e->qps = o->qps;
    e->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
    e->username = o->username ? strdup(o->username) : NULL;
    e->password = o->password ? strdup(o->password) : NULL;
    m->n_eps++;
    if (o->ca_file) {
        /* Agents get the CA as text: they may run on other machines. */
        e->ca_pem = read_small_file(o->ca_file, MIG_CA_MAX, err);
        if (!e->ca_pem)
            return err ? err->code : FERRY_EIO;
    }
    reg_opts_t ro = {0};
    ro.host = e->host;
    ro.plain_http = e->plain_http;
    ro.tls_insecure = e->tls_insecure;
    ro.ca_file = e->ca_file;
    ro.username = e->username;
    ro.password = e->password;
    ro.qps = e->qps;
    e->reg = reg_new(m->loop, &ro, err);
    if (!e->host || !e->reg)
        return err && err->code ? err->code : FERRY_ENOMEM;
    return (int)(m->n_eps - 1);
}

static mig_repo_t *repo_new(mig_t *m, int src_ep, const char *src_repo, int dst_ep,
                            const char *dst_repo)
{
    if (m->n_repos == m->cap_repos) {
        size_t cap = m->cap_repos ? m->cap_repos * 2 : 64;
        mig_repo_t *r = realloc(m->repos, cap * sizeof *r);
        if (!r)
            return NULL;
        m->repos = r;
        m->cap_repos = cap;
    }
    mig_repo_t *r = &m->repos[m->n_repos];
    memset(r, 0, sizeof *r);
    r->src_ep = src_ep;
    r->dst_ep = dst_ep;
    r->src_repo = strdup(src_repo);
    r->dst_repo = strdup(dst_repo);
    r->latest = m->opts.latest;
    r->platforms = m->opts.platforms;
    r->n_platforms = m->opts.n_platforms;
    if (!r->src_repo || !r->dst_repo) {
        free(r->src_repo);
        free(r->dst_repo);
        return NULL;
    }
    m->n_repos++;
    return r;
}

/* Gives r the selection sel (NULL: the run's). */
static int repo_select(mig_repo_t *r, const mig_select_t *sel, ferry_err_t *err)
{
    if (!sel)
        return 0;
    if (sel->include || sel->exclude) {
        r->filter = tagfilter_new(sel->include, sel->exclude, err);
        if (!r->filter)
            return err && err->code ? err->code : FERRY_ENOMEM;
    }
    r->latest = sel->latest;
    r->platforms = sel->platforms;
    r->n_platforms = sel->n_platforms;
    return 0;
}

int mig_add_repo(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                 const char *ref, const mig_select_t *sel, ferry_err_t *err)
{
    mig_repo_t *r = repo_new(m, src_ep, src_repo, dst_ep, dst_repo);
    if (!r || (ref && !(r->ref = strdup(ref))))
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return repo_select(r, sel, err);
}

int mig_add_repo_tags(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                      char *const *tags, size_t n_tags, const mig_select_t *sel, ferry_err_t *err)
{
    mig_repo_t *r = repo_new(m, src_ep, src_repo, dst_ep, dst_repo);
    if (!r)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    if (sel) {
        r->platforms = sel->platforms;
        r->n_platforms = sel->n_platforms;
    }
    r->tags_given = true;
    r->tags = calloc(n_tags ? n_tags : 1, sizeof *r->tags);
    if (!r->tags)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_tags; i++) {
        r->tags[i] = strdup(tags[i]);
        if (!r->tags[i])
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        r->n_tags++;
    }
    return 0;
}

int mig_add_catalog(mig_t *m, int src_ep, const char *src_prefix, int dst_ep,
                    const char *dst_prefix, const mig_select_t *sel, ferry_err_t *err)
{
    if (sel && (sel->include || sel->exclude)) {
        /* Check the expressions now, so a bad one is a usage error. */
        tagfilter_t *f = tagfilter_new(sel->include, sel->exclude, err);
        if (!f)
            return err && err->code ? err->code : FERRY_EINVAL;
        tagfilter_destroy(&f);
    }
    struct catalog_req *c = realloc(m->catalogs, (m->n_catalogs + 1) * sizeof *c);
    if (!c)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    m->catalogs = c;
    c = &m->catalogs[m->n_catalogs];
    memset(c, 0, sizeof *c);
    c->src_ep = src_ep;
    c->dst_ep = dst_ep;
    c->src_prefix = strdup(src_prefix);
    c->dst_prefix = strdup(dst_prefix);
    if (sel) {
        c->sel = *sel;
        c->has_sel = true;
    }
    m->n_catalogs++;
    if (!c->src_prefix || !c->dst_prefix)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return 0;
}

int mig_add_failure(mig_t *m, const char *kind, const char *source, const char *target,
                    const char *error)
{
    return report_add(m->report, kind, source, target, NULL, REPORT_FAILED, error);
}

/* ------------------------------------------------------------ helpers */

static void src_ref_text(const mig_t *m, int ep, const char *repo, const char *ref, char *out,
                         size_t size)
{
    snprintf(out, size, "%s/%s%s%s", m->eps[ep].host, repo,
             ref ? (strchr(ref, ':') ? "@" : ":") : "", ref ? ref : "");
}

/* ------------------------------------------------------------ discovery */

/* Collects a target's catalog; one that cannot be read (often refused to
 * users who are not administrators) leaves the tag listings to tell. */
static void target_catalog(mig_ep_t *e)
{
    if (!e->catalog_op)
        return;
    if (reg_op_wait(e->catalog_op) < 0) {
        log_debug("catalog of %s not read: %s", e->host, reg_op_error(e->catalog_op)->message);
    } else if ((e->catalog = strmap_new())) {
        size_t n = 0;
        char *const *names = reg_op_names(e->catalog_op, &n);
        for (size_t i = 0; i < n; i++)
            if (strmap_put(e->catalog, names[i], NULL, NULL) < 0) {
                strmap_destroy(&e->catalog, NULL);
                break;
            }
    }
    reg_op_destroy(&e->catalog_op);
}

static void discover_catalogs(mig_t *m)
{
    /* The targets' catalogs are read alongside the sources'. */
    for (size_t c = 0; c < m->n_catalogs; c++) {
        mig_ep_t *dst = &m->eps[m->catalogs[c].dst_ep];
        if (!dst->catalog_op && !dst->catalog)
            dst->catalog_op = reg_catalog(dst->reg, 1000, NULL, NULL);
    }
    for (size_t c = 0; c < m->n_catalogs; c++) {
        struct catalog_req *req = &m->catalogs[c];
        mig_ep_t *src = &m->eps[req->src_ep];
        reg_op_t *op = reg_catalog(src->reg, 1000, NULL, NULL);
        if (!op || reg_op_wait(op) < 0) {
            const char *why = op ? reg_op_error(op)->message : "out of memory";
            log_error("cannot list the repositories of %s: %s", src->host, why);
            char source[512];
            snprintf(source, sizeof source, "%s/%s", src->host, req->src_prefix);
            report_add(m->report, "repository", source, m->eps[req->dst_ep].host, NULL,
                       REPORT_FAILED, why);
            m->repos_failed++;
            reg_op_destroy(&op);
            continue;
        }
        size_t n = 0;
        char *const *names = reg_op_names(op, &n);
        size_t plen = strlen(req->src_prefix);
        size_t added = 0;
        for (size_t i = 0; i < n; i++) {
            const char *name = names[i];
            if (plen && (strncmp(name, req->src_prefix, plen) != 0 ||
                         (name[plen] != '/' && name[plen] != '\0')))
                continue;
            const char *rest = name + plen;
            if (*rest == '/')
                rest++;
            char dst[1024];
            if (*req->dst_prefix && *rest)
                snprintf(dst, sizeof dst, "%s/%s", req->dst_prefix, rest);
            else
                snprintf(dst, sizeof dst, "%s", *rest ? rest : req->dst_prefix);
            if (!*dst)
                continue;
            if (mig_add_repo(m, req->src_ep, name, req->dst_ep, dst, NULL,
                             req->has_sel ? &req->sel : NULL, NULL) == 0)
                added++;
        }
        log_info("%s: %zu repositories%s%s", src->host, added, plen ? " under " : "",
                 req->src_prefix);
        reg_op_destroy(&op);
    }
    for (size_t i = 0; i < m->n_eps; i++)
        target_catalog(&m->eps[i]);
}

static void on_tags(reg_op_t *op, void *ud)
{
    mig_repo_t *r = ud;
    (void)op;
    r->op = op; /* keep it until the caller collects the names */
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the source listing of r: its tags (all, sorted) and those the
 * filters choose; a repository that cannot be listed is a failure. */
static void source_listed(mig_t *m, mig_repo_t *r)
{
    char source[1024];
    src_ref_text(m, r->src_ep, r->src_repo, NULL, source, sizeof source);
    if (reg_op_result(r->op) < 0) {
        log_error("cannot list the tags of %s: %s", source, reg_op_error(r->op)->message);
        char target[1024];
        src_ref_text(m, r->dst_ep, r->dst_repo, NULL, target, sizeof target);
        report_add(m->report, "repository", source, target, NULL, REPORT_FAILED,
                   reg_op_error(r->op)->message);
        m->repos_failed++;
        return;
    }
    size_t n = 0;
    char *const *names = reg_op_names(r->op, &n);
    r->listed = calloc(n ? n : 1, sizeof *r->listed);
    for (size_t j = 0; r->listed && j < n; j++)
        if ((r->listed[r->n_listed] = strdup(names[j])))
            r->n_listed++;
    qsort(r->listed, r->n_listed, sizeof *r->listed, cmp_str);
    r->tags = calloc(n ? n : 1, sizeof *r->tags);
    for (size_t j = 0; r->tags && j < n; j++)
        if (tagfilter_match(r->filter ? r->filter : m->filter, names[j]) &&
            (r->tags[r->n_tags] = strdup(names[j])))
            r->n_tags++;
    qsort(r->tags, r->n_tags, sizeof *r->tags, cmp_str);
}

/* Collects the target listing of r: absent (404), listed, or unknown (any
 * other answer: every tag is then asked about). */
static void target_listed(mig_repo_t *r)
{
    int rc = reg_op_result(r->dst_op);
    if (rc == FERRY_ENOTFOUND) {
        r->dst_state = DST_ABSENT;
        return;
    }
    if (rc < 0) {
        log_debug("target tags of %s not listed: %s", r->dst_repo,
                  reg_op_error(r->dst_op)->message);
        return;
    }
    size_t n = 0;
    char *const *names = reg_op_names(r->dst_op, &n);
    r->dst_listed = calloc(n ? n : 1, sizeof *r->dst_listed);
    if (!r->dst_listed)
        return;
    for (size_t j = 0; j < n; j++)
        if ((r->dst_listed[r->n_dst_listed] = strdup(names[j])))
            r->n_dst_listed++;
    qsort(r->dst_listed, r->n_dst_listed, sizeof *r->dst_listed, cmp_str);
    r->dst_state = r->n_dst_listed == n ? DST_LISTED : DST_UNKNOWN;
}

static void target_unlist(mig_repo_t *r)
{
    for (size_t j = 0; j < r->n_dst_listed; j++)
        free(r->dst_listed[j]);
    free(r->dst_listed);
    r->dst_listed = NULL;
    r->n_dst_listed = 0;
}

/* Lists the tags of every repository that has no explicit ref, on the source
 * (filtered: what to migrate) and on the target (what is there already). */
static void expand_tags(mig_t *m)
{
    size_t next = 0, done = 0, started = 0;
    size_t lo = 0; /* repositories below have no listing running */
    size_t total = 0;
    for (size_t i = 0; i < m->n_repos; i++)
        total += m->repos[i].ref ? 0 : m->repos[i].tags_given ? 1 : 2;
    while (done < total) {
        while (started - done < MIG_INFLIGHT && next < m->n_repos) {
            mig_repo_t *r = &m->repos[next++];
            if (r->ref)
                continue;
            if (!r->tags_given) {
                r->op = reg_tags_list(m->eps[r->src_ep].reg, r->src_repo, 1000, on_tags, r);
                started++;
                done += !r->op; /* out of memory: not listed */
            }
            const strmap_t *catalog = m->eps[r->dst_ep].catalog;
            if (catalog) {
                /* absent: nothing to ask; present: a HEAD per tag */
                r->dst_state = strmap_has(catalog, r->dst_repo) ? DST_UNKNOWN : DST_ABSENT;
                done++;
            } else {
                r->dst_op = reg_tags_list(m->eps[r->dst_ep].reg, r->dst_repo, 1000, NULL, NULL);
                done += !r->dst_op;
            }
            started++;
        }
        http_loop_run(m->loop, 200, NULL, 0);
        while (lo < next && !m->repos[lo].op && !m->repos[lo].dst_op)
            lo++;
        for (size_t i = lo; i < next; i++) {
            mig_repo_t *r = &m->repos[i];
            if (r->op && reg_op_finished(r->op)) {
                done++;
                source_listed(m, r);
                reg_op_destroy(&r->op);
            }
            if (r->dst_op && reg_op_finished(r->dst_op)) {
                done++;
                target_listed(r);
                reg_op_destroy(&r->dst_op);
            }
        }
    }
    for (size_t i = 0; i < m->n_eps; i++)
        strmap_destroy(&m->eps[i].catalog, NULL);
}

/* ------------------------------------------------------------ inspection */

static int image_add(mig_t *m, size_t repo_index, const char *ref)
{
    mig_repo_t *r = &m->repos[repo_index];
    char key[1100];
    snprintf(key, sizeof key, "%zu|%s", repo_index, ref);
    if (strmap_has(m->selected, key))
        return 0;
    if (strmap_put(m->selected, key, NULL, NULL) < 0)
        return FERRY_ENOMEM;
    if (m->n_images == m->cap_images) {
        size_t cap = m->cap_images ? m->cap_images * 2 : 256;
        mig_image_t *im = realloc(m->images, cap * sizeof *im);
        if (!im)
            return FERRY_ENOMEM;
        m->images = im;
        m->cap_images = cap;
    }
    mig_image_t *img = &m->images[m->n_images];
    memset(img, 0, sizeof *img);
    img->repo = (uint32_t)repo_index;
    img->src_ep = (uint16_t)r->src_ep;
    img->dst_ep = (uint16_t)r->dst_ep;
    img->src_repo = plan_intern(m->plan, r->src_repo);
    img->dst_repo = plan_intern(m->plan, r->dst_repo);
    img->ref = plan_intern(m->plan, ref);
    if (!img->src_repo || !img->dst_repo || !img->ref)
        return FERRY_ENOMEM;
    m->n_images++;
    return 0;
}

static void fetch_queue(mig_t *m, size_t image, const char *ref, plan_task_t *parent,
                        const char *tag, int depth)
{
    fetch_t *f = calloc(1, sizeof *f);
    if (!f) {
        mig_image_t *img = &m->images[image];
        img->status = IMG_FAILED;
        img->fail_kind = FAIL_MANIFEST;
        return;
    }
    f->m = m;
    f->image = image;
    f->ref = ref;
    f->parent = parent;
    if (parent) {
        plan_hold(parent);
        f->held = true;
    }
    f->tag = tag;
    f->depth = depth;
    if (m->queue_tail)
        m->queue_tail->next = f;
    else
        m->queue = f;
    m->queue_tail = f;
}

static void image_fail(mig_t *m, size_t image, int kind, const char *why)
{
    mig_image_t *img = &m->images[image];
    if (img->status == IMG_FAILED)
        return;
    img->status = IMG_FAILED;
    img->fail_kind = (uint8_t)kind;
    free(img->error);
    img->error = strdup(why);
    if (img->root)
        plan_task_failed(m->plan, img->root, why);
}

static void fetch_step(fetch_t *f);

static void on_fetch(reg_op_t *op, void *ud)
{
    fetch_t *f = ud;
    f->m->inflight--;
    f->op = op;
    fetch_step(f);
}

static void fetch_start_op(fetch_t *f, reg_op_t *op)
{
    f->op = NULL;
    if (!op) {
        image_fail(f->m, f->image, FAIL_MANIFEST, "out of memory");
        fetch_free(f);
        return;
    }
    f->m->inflight++;
}

/* Every dependency of t is in the plan: a task the journal has is done,
 * any other may run once its dependencies finish (and, when held is true,
 * the hold its builder took is let go). */
static void task_complete(mig_t *m, plan_task_t *t, bool held)
{
    if (m->journal && t->state == PLAN_WAITING) {
        char key[1200];
        journal_key(m, t, key, sizeof key);
        if (journal_has(m->journal, key)) {
            plan_task_done(m->plan, t, PROTO_OUTCOME_SKIPPED);
            m->journal_skipped++;
            return;
        }
    }
    if (held)
        plan_unhold(m->plan, t);
    else
        plan_release(m->plan, t);
}

/* One more put-manifest task will send this manifest: keep its bytes while
 * they fit the budget (a manifest kept already just gains a reference). */
static void body_keep(mig_t *m, const char *digest, const char *body, size_t len)
{
    mig_body_t *b = strmap_get(m->bodies, digest);
    if (b) {
        b->refs++;
        return;
    }
    if (!body || len == 0 || len > PROTO_MAX_MANIFEST || m->bodies_bytes + len > MIG_BODY_BUDGET)
        return;
    b = malloc(sizeof *b + len);
    if (!b)
        return;
    b->refs = 1;
    b->len = len;
    memcpy(b->data, body, len);
    if (strmap_put(m->bodies, digest, b, NULL) < 0) {
        free(b);
        return;
    }
    m->bodies_bytes += len;
}

/* A put-manifest task finished for good: drop its reference. */
static void body_release(mig_t *m, const char *digest)
{
    mig_body_t *b = strmap_get(m->bodies, digest);
    if (!b || --b->refs > 0)
        return;
    strmap_remove(m->bodies, digest, NULL);
    m->bodies_bytes -= b->len;
    free(b);
}

/* plan_manifest, keeping the bytes of the manifest for a task it creates. */
static plan_task_t *plan_manifest_body(mig_t *m, const mig_image_t *img, const char *digest,
                                       const char *media_type, const char *tag, const char *body,
                                       size_t len, bool *fresh)
{
    size_t before = plan_task_count(m->plan);
    plan_task_t *t = plan_manifest(m->plan, img->src_ep, img->src_repo, img->dst_ep, img->dst_repo,
                                   digest, media_type, tag, (int64_t)len);
    *fresh = t && plan_task_count(m->plan) > before;
    if (*fresh)
        body_keep(m, digest, body, len);
    return t;
}

/* Plans the tasks of one fetched manifest: blobs, then the manifest itself,
 * and queues fetches of an index's children. */
static void fetch_plan(fetch_t *f, const char *digest, const char *media_type, const char *body,
                       size_t len)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    ferry_err_t err;
    manifest_t *man = NULL;
    char source[1200];
    src_ref_text(m, img->src_ep, img->src_repo, digest, source, sizeof source);
    if (manifest_parse(&man, media_type, body, len, &err) < 0) {
        char why[700];
        snprintf(why, sizeof why, "%s: %s", source, err.message);
        image_fail(m, f->image, FAIL_MANIFEST, why);
        if (f->parent)
            plan_task_failed(m->plan, f->parent, why);
        return;
    }
    /* With --platform, an index is replaced by its first matching child,
     * pushed under the tag (a single-platform image). */
    const mig_repo_t *repo = &m->repos[img->repo];
    if (manifest_is_index(man) && repo->n_platforms && !f->parent) {
        const manifest_desc_t *pick = NULL;
        for (size_t i = 0; i < man->n_children && !pick; i++)
            for (size_t p = 0; p < repo->n_platforms && !pick; p++)
                if (platform_match(repo->platforms[p], man->children[i].os, man->children[i].arch,
                                   man->children[i].variant))
                    pick = &man->children[i];
        if (!pick) {
            char why[700];
            snprintf(why, sizeof why, "%s: no manifest for the requested platform(s)", source);
            image_fail(m, f->image, FAIL_MANIFEST, why);
        } else {
            fetch_queue(m, f->image, plan_intern(m->plan, pick->digest), NULL, f->tag,
                        f->depth + 1);
        }
        manifest_destroy(&man);
        return;
    }
    bool fresh;
    plan_task_t *t = plan_manifest_body(m, img, digest, man->media_type, f->tag, body, len, &fresh);
    if (!t) {
        image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
        manifest_destroy(&man);
        return;
    }
    if (!fresh) {
        /* Planned already (the same manifest reached again): its blobs and
         * children are in the plan; only this image's link to it is new. */
        if (f->parent)
            plan_depend(m->plan, f->parent, t);
        else
            img->root = t;
        manifest_destroy(&man);
        return;
    }
    /* Held while its dependencies are added: one that finishes meanwhile
     * (journaled) must not release it early. */
    plan_hold(t);
    if (f->parent)
        plan_depend(m->plan, f->parent, t);
    else
        img->root = t;
    for (size_t i = 0; i < man->n_blobs; i++) {
        if (man->blobs[i].foreign)
            continue;
        plan_task_t *b = plan_blob(m->plan, img->src_ep, img->src_repo, img->dst_ep, img->dst_repo,
                                   man->blobs[i].digest, man->blobs[i].size);
        if (!b || plan_depend(m->plan, t, b) < 0) {
            image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
            continue;
        }
        task_complete(m, b, false);
    }
    if (manifest_is_index(man)) {
        if (f->depth >= MIG_MAX_DEPTH) {
            image_fail(m, f->image, FAIL_MANIFEST, "indexes nested too deeply");
        } else {
            for (size_t i = 0; i < man->n_children; i++)
                fetch_queue(m, f->image, plan_intern(m->plan, man->children[i].digest), t, NULL,
                            f->depth + 1);
        }
    }
    task_complete(m, t, true); /* an index still waits for the children queued above */
    manifest_destroy(&man);
}

/* True when the repository's tag listing holds tag (only for listed repositories). */
static bool repo_listed(const mig_repo_t *r, const char *tag)
{
    const char *key = tag;
    return r->listed && bsearch(&key, r->listed, r->n_listed, sizeof *r->listed, cmp_str) != NULL;
}

/* Artifacts that refer to a root image travel with it: through the OCI
 * referrers API, or the "sha256-<hex>" tag where a registry lacks it. */
static void fetch_referrers(fetch_t *f)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    mig_ep_t *src = &m->eps[img->src_ep];
    if (!img->digest) {
        fetch_free(f);
        return;
    }
    if (!src->no_referrers_api) {
        f->step = F_REFERRERS;
        fetch_start_op(f, reg_referrers(src->reg, img->src_repo, img->digest, on_fetch, f));
        return;
    }
    if (strncmp(img->digest, "sha256:", 7) != 0) {
        fetch_free(f);
        return;
    }
    char tag[200];
    snprintf(tag, sizeof tag, "sha256-%s", img->digest + 7);
    const mig_repo_t *r = &m->repos[img->repo];
    if (r->listed) {
        /* The listing tells without asking. */
        size_t before = m->n_images;
        if (repo_listed(r, tag) && image_add(m, img->repo, tag) == 0 && m->n_images > before)
            fetch_queue(m, m->n_images - 1, m->images[m->n_images - 1].ref, NULL,
                        m->images[m->n_images - 1].ref, 0);
        fetch_free(f);
        return;
    }
    f->step = F_FALLBACK;
    fetch_start_op(f, reg_manifest_head(src->reg, img->src_repo, tag, on_fetch, f));
}

/* Plans a root whose manifest is in f->body, or ties its tag to an earlier
 * root of the same content. Returns true when referrers are still to look for. */
static bool fetch_plan_root(fetch_t *f, const char *digest)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    char key[300];
    snprintf(key, sizeof key, "%u|%s", img->repo, digest);
    plan_task_t *first = strmap_get(m->digest_roots, key);
    if (first && f->tag) {
        /* Another tag of content already planned: push the tag after it. */
        bool fresh;
        plan_task_t *t = plan_manifest_body(m, img, digest, first->media_type, f->tag, f->body,
                                            f->body_len, &fresh);
        if (!t || plan_depend(m->plan, t, first) < 0) {
            image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
            return false;
        }
        img->root = t;
        task_complete(m, t, false);
        return false;
    }
    fetch_plan(f, digest, f->media_type, f->body, f->body_len);
    if (img->root && !first)
        strmap_put(m->digest_roots, key, img->root, NULL);
    return true;
}

/* The target's answer for a root's tag is in: the same digest is skipped
 * (or a different one kept with --no-overwrite); otherwise the root is
 * planned. Then artifacts referring to it. target_digest is NULL when the
 * tag is not there (or the question failed: pushing is then the safe side). */
static void target_answer(fetch_t *f, const char *target_digest)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    if (target_digest) {
        if (strcmp(target_digest, f->ref) == 0) {
            img->status = IMG_SKIPPED;
        } else if (m->opts.no_overwrite) {
            img->status = IMG_SKIPPED;
            img->skip_note = true;
        }
    }
    if (img->status == IMG_SKIPPED || fetch_plan_root(f, f->ref)) {
        fetch_referrers(f);
        return;
    }
    fetch_free(f);
}

/* GETs the source manifest (what the fetch asks for). */
static void source_get(fetch_t *f)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    f->step = F_GET;
    fetch_start_op(f,
                   reg_manifest_get(m->eps[img->src_ep].reg, img->src_repo, f->ref, on_fetch, f));
}

/* Starts a root with a tag: asks the target first (a HEAD), unless its
 * listing says the tag (or the whole repository) is not there; then the
 * source. A resumed run asks the source first (a HEAD): the journal may
 * know the answer for the target. */
static void target_check(fetch_t *f)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    const mig_repo_t *r = &m->repos[img->repo];
    const char *key = f->tag;
    if (r->dst_state == DST_ABSENT ||
        (r->dst_state == DST_LISTED &&
         !bsearch(&key, r->dst_listed, r->n_dst_listed, sizeof *r->dst_listed, cmp_str))) {
        source_get(f);
        return;
    }
    if (m->journal_first && f->step == F_START) {
        f->step = F_JOURNAL;
        fetch_start_op(
            f, reg_manifest_head(m->eps[img->src_ep].reg, img->src_repo, f->tag, on_fetch, f));
        return;
    }
    f->step = F_TARGET;
    fetch_start_op(f,
                   reg_manifest_head(m->eps[img->dst_ep].reg, img->dst_repo, f->tag, on_fetch, f));
}

/* Records a journal key; a failure to write only costs a later run time. */
static void journal_note(mig_t *m, const char *key)
{
    ferry_err_t err;
    if (m->journal && journal_record(m->journal, key, &err) < 0)
        log_warn("journal: %s", err.message);
}

/* The target has the tag: a HEAD of the source tells whether it is the same
 * (a re-run: nothing more to read); only a difference needs the manifest.
 * The same digest is journaled: a later run with the journal need not ask
 * the target again. */
static void source_head(fetch_t *f, const char *source_digest)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    bool same = source_digest && strcmp(source_digest, f->target_digest) == 0;
    if (same && m->journal) {
        char key[1200];
        manifest_key(m, img->dst_ep, img->dst_repo, f->tag, source_digest, key, sizeof key);
        journal_note(m, key);
    }
    if (source_digest && (same || m->opts.no_overwrite)) {
        img->digest = plan_intern(m->plan, source_digest);
        img->status = IMG_SKIPPED;
        img->skip_note = !same;
        fetch_referrers(f);
        return;
    }
    source_get(f);
}

/* Steps of a fetch: GET the source manifest; for a root with a tag, ask the
 * target about the tag (the same digest: skipped); plan; then look for
 * referrers. */
static void fetch_step(fetch_t *f)
{
    mig_t *m = f->m;
    mig_image_t *img = &m->images[f->image];
    mig_ep_t *src = &m->eps[img->src_ep];
    reg_op_t *op = f->op;
    int rc = op ? reg_op_result(op) : 0;
    bool root = !f->parent;

    if (img->status == IMG_FAILED) {
        fetch_free(f);
        return;
    }
    switch (f->step) {
    case F_START:
        if (root && f->tag)
            target_check(f);
        else
            source_get(f);
        return;
    case F_JOURNAL: {
        /* A resumed run: a tag the journal saw put with the digest the
         * source still has is done; the target is not asked. */
        const char *digest = rc == 0 ? reg_op_digest(op) : NULL;
        char key[1200];
        if (digest) {
            manifest_key(m, img->dst_ep, img->dst_repo, f->tag, digest, key, sizeof key);
            if (journal_has(m->journal, key)) {
                img->digest = plan_intern(m->plan, digest);
                img->status = IMG_SKIPPED;
                m->journal_tags++;
                reg_op_destroy(&f->op);
                fetch_referrers(f);
                return;
            }
            f->source_digest = strdup(digest); /* NULL: asked again after the target */
        }
        reg_op_destroy(&f->op);
        target_check(f);
        return;
    }
    case F_GET:
        if (rc < 0) {
            image_fail(m, f->image, FAIL_MANIFEST, reg_op_error(op)->message);
            if (f->parent)
                plan_task_failed(m->plan, f->parent, reg_op_error(op)->message);
            break;
        }
        f->body = reg_op_steal_body(op, &f->body_len);
        f->media_type = reg_op_media_type(op) ? strdup(reg_op_media_type(op)) : NULL;
        {
            const char *digest = plan_intern(m->plan, reg_op_digest(op));
            if (root && !img->digest)
                img->digest = digest;
            reg_op_destroy(&f->op);
            if (!root) {
                fetch_plan(f, digest, f->media_type, f->body, f->body_len);
                break;
            }
            if (f->tag) {
                f->ref = digest; /* remember what the tag must point at */
                target_answer(f, f->target_digest);
                return;
            }
            if (fetch_plan_root(f, digest)) {
                fetch_referrers(f);
                return;
            }
        }
        break;
    case F_TARGET:
        if (rc == 0 && reg_op_digest(op) && (f->target_digest = strdup(reg_op_digest(op)))) {
            reg_op_destroy(&f->op);
            if (f->source_digest) {
                source_head(f, f->source_digest);
                return;
            }
            f->step = F_SOURCE_HEAD;
            fetch_start_op(f, reg_manifest_head(src->reg, img->src_repo, f->tag, on_fetch, f));
            return;
        }
        /* not there (or the question failed: pushing is the safe side) */
        reg_op_destroy(&f->op);
        source_get(f);
        return;
    case F_SOURCE_HEAD: {
        char *digest = rc == 0 && reg_op_digest(op) ? strdup(reg_op_digest(op)) : NULL;
        reg_op_destroy(&f->op);
        source_head(f, digest);
        free(digest);
        return;
    }
    case F_REFERRERS:
        if (rc == FERRY_ENOTFOUND) {
            src->no_referrers_api = true;
            reg_op_destroy(&f->op);
            fetch_referrers(f);
            return;
        }
        if (rc == 0) {
            size_t len = 0;
            const char *body = reg_op_body(op, &len);
            manifest_t *idx = NULL;
            if (manifest_parse(&idx, "application/vnd.oci.image.index.v1+json", body, len, NULL) ==
                0) {
                size_t repo_index = img->repo; /* img moves when images grow */
                for (size_t i = 0; i < idx->n_children; i++) {
                    size_t before = m->n_images;
                    if (image_add(m, repo_index, idx->children[i].digest) == 0 &&
                        m->n_images > before)
                        fetch_queue(m, m->n_images - 1, m->images[m->n_images - 1].ref, NULL, NULL,
                                    0);
                }
            }
            manifest_destroy(&idx);
        }
        break;
    case F_FALLBACK:
        if (rc == 0 && strncmp(img->digest, "sha256:", 7) == 0) {
            char tag[200];
            snprintf(tag, sizeof tag, "sha256-%s", img->digest + 7);
            size_t before = m->n_images;
            if (image_add(m, img->repo, tag) == 0 && m->n_images > before) {
                mig_image_t *ni = &m->images[m->n_images - 1];
                fetch_queue(m, m->n_images - 1, ni->ref, NULL, ni->ref, 0);
            }
        }
        break;
    }
    fetch_free(f);
}

/* Queues the fetch of every selected image. */
static void inspect_start(mig_t *m)
{
    for (size_t i = 0; i < m->n_repos; i++) {
        mig_repo_t *r = &m->repos[i];
        if (r->ref) {
            if (image_add(m, i, r->ref) == 0)
                fetch_queue(m, m->n_images - 1, m->images[m->n_images - 1].ref, NULL,
                            strchr(r->ref, ':') ? NULL : m->images[m->n_images - 1].ref, 0);
            continue;
        }
        for (size_t j = 0; j < r->n_tags; j++) {
            size_t before = m->n_images;
            if (image_add(m, i, r->tags[j]) == 0 && m->n_images > before)
                fetch_queue(m, m->n_images - 1, m->images[m->n_images - 1].ref, NULL,
                            m->images[m->n_images - 1].ref, 0);
        }
    }
}

/* Starts queued fetches up to MIG_INFLIGHT at once. */
static void inspect_pump(mig_t *m)
{
    while (m->queue && m->inflight < MIG_INFLIGHT) {
        fetch_t *f = m->queue;
        m->queue = f->next;
        if (!m->queue)
            m->queue_tail = NULL;
        f->next = NULL;
        fetch_step(f);
    }
}

static bool inspecting(const mig_t *m)
{
    return (m->queue || m->inflight) && !(m->opts.stop && *m->opts.stop);
}

/* Inspection is over: the target listings go, and the plan is told. */
static void inspect_done(mig_t *m)
{
    for (size_t i = 0; i < m->n_repos; i++)
        target_unlist(&m->repos[i]);
    if (m->journal_skipped)
        log_info("journal: %zu task(s) already done", m->journal_skipped);
    if (m->journal_tags)
        log_info("journal: %zu tag(s) unchanged at the source since it recorded them",
                 m->journal_tags);
    log_info("planned %zu image(s), %zu task(s) (plan memory %zu KiB)", m->n_images,
             plan_task_count(m->plan), plan_memory(m->plan) / 1024);
}

/* Inspects everything before anything moves (--dry-run, --qps). */
static void inspect(mig_t *m)
{
    inspect_start(m);
    while (inspecting(m)) {
        inspect_pump(m);
        http_loop_run(m->loop, 200, NULL, 0);
        publish(m, "inspect", NULL, false);
    }
    inspect_done(m);
}

/* ------------------------------------------------------------ dispatch */

static void journal_key(const mig_t *m, const plan_task_t *t, char *out, size_t size)
{
    if (t->kind == PROTO_KIND_PUT_MANIFEST)
        manifest_key(m, t->dst_ep, t->dst_repo, t->tag ? t->tag : t->digest, t->digest, out, size);
    else
        snprintf(out, size, "blob %s/%s@%s", m->eps[t->dst_ep].host, t->dst_repo, t->digest);
}

/* --qps is per registry: the agents working at once share it. */
static int fill_endpoint(const mig_ep_t *e, int agents, proto_endpoint_t *out)
{
    int rc = proto_str_set(&out->host, e->host);
    out->plain_http = e->plain_http;
    out->tls_verify = !e->tls_insecure;
    if (e->qps > 0) {
        double share = e->qps / (agents > 1 ? agents : 1);
        out->qps = share < 1 ? 1 : (uint32_t)share;
    }
    if (rc == 0 && e->ca_pem)
        rc = proto_str_set(&out->ca_pem, e->ca_pem);
    if (rc == 0 && e->username)
        rc = proto_str_set(&out->username, e->username);
    if (rc == 0 && e->password)
        rc = proto_str_set(&out->password, e->password);
    return rc;
}

static int cb_fill_task(void *ud, uint64_t task_id, proto_task_t *out)
{
    mig_t *m = ud;
    plan_task_t *t = plan_task_by_id(m->plan, task_id);
    if (!t)
        return FERRY_EINVAL;
    if (t->id >= m->cap_running) {
        /* tasks are added while others run: the progress table grows */
        size_t cap = plan_task_count(m->plan) + 1 + 1024;
        uint64_t *rb = realloc(m->running_bytes, cap * sizeof *rb);
        if (!rb)
            return FERRY_ENOMEM;
        memset(rb + m->cap_running, 0, (cap - m->cap_running) * sizeof *rb);
        m->running_bytes = rb;
        m->cap_running = cap;
    }
    out->task_id = t->id;
    out->kind = t->kind;
    out->size = t->size;
    out->attempt = t->attempt;
    int rc = fill_endpoint(&m->eps[t->src_ep], m->agents, &out->source);
    if (rc == 0)
        rc = fill_endpoint(&m->eps[t->dst_ep], m->agents, &out->target);
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
    const mig_body_t *b =
        t->kind == PROTO_KIND_PUT_MANIFEST ? strmap_get(m->bodies, t->digest) : NULL;
    if (rc == 0 && b) {
        /* the agent skips its GET; it checks the bytes against the digest */
        out->manifest = malloc(b->len);
        if (!out->manifest)
            return FERRY_ENOMEM;
        memcpy(out->manifest, b->data, b->len);
        out->manifest_len = b->len;
    }
    return rc;
}

static void cb_result(void *ud, const char *agent_id, const proto_result_t *r)
{
    mig_t *m = ud;
    plan_task_t *t = plan_task_by_id(m->plan, r->task_id);
    if (!t || t->state != PLAN_RUNNING)
        return;
    m->running_bytes[t->id] = 0;
    log_debug("result %llu %s %s from %s: %s in %llu ms", (unsigned long long)t->id,
              proto_task_kind_name(t->kind), t->digest, agent_id, proto_outcome_name(r->outcome),
              (unsigned long long)r->duration_ms);
    if (r->outcome != PROTO_OUTCOME_FAILED) {
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
            char key[1200];
            journal_key(m, t, key, sizeof key);
            journal_note(m, key);
        }
        if (t->kind == PROTO_KIND_PUT_MANIFEST)
            body_release(m, t->digest);
        plan_task_done(m->plan, t, r->outcome);
        return;
    }
    if (r->error_class == PROTO_ERROR_RETRYABLE && (int)t->attempt <= m->opts.retries) {
        log_info("%s %s (attempt %u on %s): %s; retrying", proto_task_kind_name(t->kind), t->digest,
                 t->attempt, agent_id, r->message);
        int64_t delay = 500LL << (t->attempt > 6 ? 6 : t->attempt - 1);
        t->attempt++;
        plan_task_requeue(m->plan, t, http_now_ms() + delay);
        return;
    }
    /* The agent's stable code (digest-mismatch, not-found, ...) goes with the
     * reason, so the report says what kind of failure it was. */
    char why[1200];
    const char *code = r->error_code && *r->error_code ? r->error_code : NULL;
    if (r->message && *r->message && code)
        snprintf(why, sizeof why, "%s (%s)", r->message, code);
    else
        snprintf(why, sizeof why, "%s",
                 r->message && *r->message ? r->message
                 : code                    ? code
                                           : "failed");
    if (t->kind == PROTO_KIND_PUT_MANIFEST)
        body_release(m, t->digest);
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

typedef struct local_agent {
    pthread_t thread;
    agent_t *agent;
    bool started;
} local_agent_t;

static void *local_agent_main(void *arg)
{
    local_agent_t *la = arg;
    agent_run(la->agent);
    return NULL;
}

/* Counts of the run so far, for progress, the metrics and the status file. */
static void collect(mig_t *m, const char *phase, dispatch_t *d, metrics_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->phase = phase;
    s->started = m->started;
    s->elapsed_s = wall_now() - m->started;
    s->images_total = m->n_images;
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
        mig_image_t *img = &m->images[i];
        int state = img->root ? img->root->state : 0;
        if (img->status == IMG_FAILED || (img->status == IMG_PENDING && state == PLAN_FAILED))
            s->images_failed++;
        else if (img->status == IMG_SKIPPED)
            s->images_skipped++;
        else if (img->status == IMG_MIGRATED || state == PLAN_DONE)
            s->images_migrated++;
    }
    s->repos_failed = (size_t)m->repos_failed;
    s->agents = d ? dispatch_agents(d) : 0;
}

/* Shows progress, and rewrites the metrics and status files every 2 s (or
 * at once with force). */
static void publish(mig_t *m, const char *phase, dispatch_t *d, bool force)
{
    /* Counting walks every task and image: not on each turn of the loop. */
    int64_t turn = http_now_ms();
    if (!force && turn - m->collected_ms < 250)
        return;
    m->collected_ms = turn;
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
    int64_t now = http_now_ms();
    if (!force && now - m->published_ms < 2000)
        return;
    m->published_ms = now;
    ferry_err_t err;
    if (m->opts.metrics_file && metrics_write_prometheus(m->opts.metrics_file, &s, &err) < 0)
        log_warn("%s", err.message);
    if (m->opts.status_file && metrics_write_status(m->opts.status_file, &s, &err) < 0)
        log_warn("%s", err.message);
}

static volatile sig_atomic_t local_stop;

/* Sends ready tasks to agents until the plan is finished (or interrupted). */
/* In-process agents: one per core up to four (--jobs shared among them),
 * started when the first task is planned. Returns how many. */
static int start_locals(mig_t *m, void *ctx, const char *endpoint, local_agent_t *locals)
{
    ferry_err_t err;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int n_locals = m->opts.jobs >= 4 ? (cores >= 4 ? 4 : cores >= 2 ? 2 : 1) : 1;
    for (int i = 0; i < n_locals; i++) {
        agent_opts_t ao = {0};
        char id[32];
        snprintf(id, sizeof id, "local-%d", i + 1);
        ao.endpoint = endpoint;
        ao.agent_id = id;
        ao.jobs = (m->opts.jobs + n_locals - 1 - i) / n_locals;
        if (ao.jobs < 1)
            ao.jobs = 1;
        ao.stop = &local_stop;
        ao.grace_ms = 30000;
        if (m->opts.chunk_mib > 0)
            ao.xfer.monolithic_max = ao.xfer.chunk_size = (int64_t)m->opts.chunk_mib << 20;
        locals[i].agent = agent_new(ctx, &ao, &err);
        if (!locals[i].agent)
            log_error("in-process agent: %s", err.message);
        else if (pthread_create(&locals[i].thread, NULL, local_agent_main, &locals[i]) == 0)
            locals[i].started = true;
    }
    return n_locals;
}

static int transfer(mig_t *m)
{
    ferry_err_t err;
    void *ctx = zmq_ctx_new();
    if (!ctx) {
        log_error("cannot create a ZeroMQ context");
        return 2;
    }
    char endpoint[128];
    char pub[41] = "", sec[41] = "";
    dispatch_opts_t dopts = {0};
    dopts.heartbeat_ms = m->opts.heartbeat_ms;
    if (m->opts.listen) {
        snprintf(endpoint, sizeof endpoint, "%s", m->opts.listen);
        if (m->opts.server_key_file) {
            if (proto_key_read(m->opts.server_key_file, pub, sec, &err) < 0) {
                log_error("%s", err.message);
                zmq_ctx_term(ctx);
                return 2;
            }
            dopts.server_public = pub;
            dopts.server_secret = sec;
            dopts.allowlist = m->opts.allow_keys_file;
        }
    } else {
        snprintf(endpoint, sizeof endpoint, "inproc://ferry-%d", (int)getpid());
    }
    dopts.endpoint = endpoint;
    dispatch_cb_t cb = {cb_fill_task, cb_result, cb_progress, cb_lost, NULL, m};
    dispatch_t *d = dispatch_new(ctx, &dopts, &cb, &err);
    memset(sec, 0, sizeof sec);
    if (!d) {
        log_error("%s", err.message);
        zmq_ctx_term(ctx);
        return 2;
    }
    local_agent_t locals[4] = {0};
    int n_locals = 0;
    local_stop = 0;
    bool stopping = false;
    int64_t deadline = 0;
    int64_t waiting_logged = 0;
    bool dispatching = false;
    bool inspected = !inspecting(m);
    while (!inspected || plan_unfinished(m->plan) > 0) {
        int64_t now = http_now_ms();
        if (m->opts.stop && *m->opts.stop && !stopping) {
            stopping = true;
            deadline = now + 30000;
            progress_break(m->progress);
            log_warn("interrupted: no new tasks; waiting for %d running task(s)",
                     dispatch_leased(d));
        }
        if (stopping && (dispatch_leased(d) == 0 || now > deadline))
            break;
        if (!inspected) {
            inspect_pump(m);
            if (!inspecting(m)) {
                inspected = true;
                inspect_done(m);
            }
        }
        if (!m->opts.listen && !n_locals && plan_unfinished(m->plan) > 0)
            n_locals = start_locals(m, ctx, endpoint, locals);
        m->agents = dispatch_agents(d);
        int wanted =
            m->opts.listen ? (m->opts.wait_agents > 0 ? m->opts.wait_agents : 1) : n_locals;
        /* Wait for the agents asked for; once started, go on with whoever is there. */
        dispatching |= wanted > 0 && m->agents >= wanted;
        bool enough_agents = dispatching && m->agents > 0;
        if (!dispatching && wanted > 0 && plan_unfinished(m->plan) > 0 &&
            now - waiting_logged > 10000) {
            progress_break(m->progress);
            log_info("waiting for agents on %s: %d of %d connected", endpoint, m->agents, wanted);
            waiting_logged = now;
        }
        while (!stopping && enough_agents && dispatch_free_slots(d) > 0) {
            plan_task_t *t = plan_next_ready(m->plan, now);
            if (!t)
                break;
            /* A mount or a manifest moves few bytes: only copies balance by size. */
            int rc = dispatch_send(d, t->id, t->kind == PROTO_KIND_COPY_BLOB ? t->size : 0,
                                   plan_ready_bytes(m->plan), &err);
            if (rc != 0) {
                /* A held task is offered again when the next message wakes the loop. */
                plan_task_requeue(m->plan, t, rc == DISPATCH_HELD ? now : now + 100);
                break;
            }
        }
        if (inspected && plan_unfinished(m->plan) == 0)
            break; /* the last image was inspected and had nothing to move */
        int64_t due = plan_next_due(m->plan);
        int timeout = due > now ? (int)(due - now < 100 ? due - now : 100) : 50;
        if (inspected) {
            dispatch_poll(d, timeout);
        } else {
            /* The coordinator's own requests and the agents' messages, on one wait. */
            struct curl_waitfd w = {dispatch_fd(d), CURL_WAIT_POLLIN, 0};
            http_loop_run(m->loop, dispatch_readable(d) ? 0 : timeout, w.fd >= 0 ? &w : NULL,
                          w.fd >= 0);
            dispatch_poll(d, 0);
        }
        publish(m, inspected ? "transfer" : "inspect", d, false);
    }
    if (!inspected)
        inspect_done(m);
    publish(m, "transfer", d, true);
    progress_break(m->progress);
    if (plan_unfinished(m->plan) > 0) {
        for (size_t i = 0; i < plan_task_count(m->plan); i++) {
            plan_task_t *t = plan_task_at(m->plan, i);
            if (t->state != PLAN_DONE && t->state != PLAN_FAILED)
                plan_task_failed(m->plan, t, "interrupted before it finished");
        }
    }
    local_stop = 1;
    if (n_locals) {
        /* Wake the agents (any message does) and answer while they say
         * goodbye, for at most two seconds. */
        dispatch_wake(d);
        int64_t until = http_now_ms() + 2000;
        while (dispatch_agents(d) > 0 && http_now_ms() < until)
            dispatch_poll(d, 10);
    }
    for (int i = 0; i < n_locals; i++) {
        if (locals[i].started)
            pthread_join(locals[i].thread, NULL);
        agent_destroy(&locals[i].agent);
    }
    dispatch_destroy(&d);
    zmq_ctx_term(ctx);
    return 0;
}

/* ------------------------------------------------------------ the run */

/* One tag's creation time being read for --latest: its manifest (an
 * index's first child), then the image config's "created". */
typedef struct age_probe {
    mig_t *m;
    const mig_repo_t *r;
    tag_time_t *tt; /* where the time goes */
    reg_op_t *op;
    int step; /* 0 manifest by tag, 1 first child, 2 config */
    bool done;
    size_t *finished; /* probes of the repository done, counted here */
} age_probe_t;

static void age_step(reg_op_t *op, void *ud);

static void age_done(age_probe_t *a)
{
    a->done = true;
    (*a->finished)++;
}

/* Starts the next read of a probe (ref a tag or digest); done when there is
 * nothing more to read. */
static void age_next(age_probe_t *a, const char *ref)
{
    reg_t *src = a->m->eps[a->r->src_ep].reg;
    a->op = a->step == 2 ? reg_blob_get(src, a->r->src_repo, ref, 0, NULL, NULL, age_step, a)
                         : reg_manifest_get(src, a->r->src_repo, ref, age_step, a);
    if (!a->op)
        age_done(a);
}

static void age_step(reg_op_t *op, void *ud)
{
    age_probe_t *a = ud;
    size_t len = 0;
    const char *body = reg_op_result(op) == 0 ? reg_op_body(op, &len) : NULL;
    a->op = NULL;
    if (!body) {
        age_done(a);
    } else if (a->step == 2) {
        json_t *doc = json_loadb(body, len, 0, NULL);
        const char *created = json_string_value(json_object_get(doc, "created"));
        if (created)
            a->tt->time = time_parse_iso8601(created);
        json_decref(doc);
        age_done(a);
    } else {
        manifest_t *man = NULL;
        char next[DIGEST_STR_MAX] = "";
        if (manifest_parse(&man, reg_op_media_type(op), body, len, NULL) == 0) {
            if (manifest_is_index(man) && man->n_children && a->step == 0) {
                snprintf(next, sizeof next, "%s", man->children[0].digest);
                a->step = 1;
            } else if (!manifest_is_index(man) && man->n_blobs &&
                       man->blobs[0].size < 1024 * 1024) {
                snprintf(next, sizeof next, "%s", man->blobs[0].digest); /* the config */
                a->step = 2;
            }
        }
        manifest_destroy(&man);
        if (*next)
            age_next(a, next);
        else
            age_done(a);
    }
    reg_op_destroy(&op);
}

static void latest_filter(mig_t *m)
{
    /* Keep the newest N tags of each listed repository by the image config's
     * creation time; tags given by the caller were chosen already. The
     * times of one repository are read MIG_INFLIGHT at once. */
    for (size_t i = 0; i < m->n_repos; i++) {
        mig_repo_t *r = &m->repos[i];
        if (r->latest <= 0 || r->ref || r->tags_given || r->n_tags <= (size_t)r->latest)
            continue;
        tag_time_t *tt = calloc(r->n_tags, sizeof *tt);
        age_probe_t *probes = calloc(r->n_tags, sizeof *probes);
        if (!tt || !probes) {
            free(tt);
            free(probes);
            continue;
        }
        size_t next = 0, finished = 0;
        while (finished < r->n_tags) {
            for (; next < r->n_tags && next - finished < MIG_INFLIGHT; next++) {
                tt[next].tag = r->tags[next];
                tt[next].time = -1;
                probes[next] =
                    (age_probe_t){.m = m, .r = r, .tt = &tt[next], .finished = &finished};
                age_next(&probes[next], r->tags[next]);
            }
            http_loop_run(m->loop, 200, NULL, 0);
            if (m->opts.stop && *m->opts.stop)
                break;
        }
        for (size_t j = 0; j < next; j++)
            reg_op_destroy(&probes[j].op);
        free(probes);
        size_t keep = tagfilter_latest(tt, r->n_tags, r->latest);
        char **kept = calloc(keep ? keep : 1, sizeof *kept);
        for (size_t j = 0; kept && j < keep; j++)
            kept[j] = strdup(tt[j].tag);
        for (size_t j = 0; j < r->n_tags; j++)
            free(r->tags[j]);
        free(r->tags);
        r->tags = kept;
        r->n_tags = kept ? keep : 0;
        free(tt);
    }
}

static void finish_images(mig_t *m)
{
    for (size_t i = 0; i < m->n_images; i++) {
        mig_image_t *img = &m->images[i];
        char source[1200], target[1200];
        src_ref_text(m, img->src_ep, img->src_repo, img->ref, source, sizeof source);
        src_ref_text(m, img->dst_ep, img->dst_repo, img->ref, target, sizeof target);
        if (img->status == IMG_PENDING && img->root) {
            if (img->root->state == PLAN_DONE)
                img->status = IMG_MIGRATED;
            else {
                img->status = IMG_FAILED;
                img->fail_kind = FAIL_TRANSFER;
                free(img->error);
                img->error = strdup(img->root->error ? img->root->error : "not transferred");
            }
        } else if (img->status == IMG_PENDING) {
            img->status = IMG_FAILED;
            img->fail_kind = FAIL_MANIFEST;
            if (!img->error)
                img->error = strdup("the manifest could not be inspected");
        }
        int status = img->status == IMG_MIGRATED  ? REPORT_MIGRATED
                     : img->status == IMG_SKIPPED ? REPORT_SKIPPED
                                                  : REPORT_FAILED;
        const char *kind =
            img->status == IMG_FAILED && img->fail_kind == FAIL_MANIFEST ? "manifest" : "image";
        const char *note =
            img->skip_note ? "target tag differs; left as it is (--no-overwrite)" : img->error;
        report_add(m->report, kind, source, target, img->digest, status, note);
    }
    report_add_blob_stats(m->report, m->blobs_copied, m->blobs_mounted, m->blobs_skipped,
                          m->bytes_moved);
}

static void print_plan(mig_t *m)
{
    size_t images = 0, skipped = 0, copy = 0, mount = 0, manifests = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < m->n_images; i++) {
        images += m->images[i].status == IMG_PENDING;
        skipped += m->images[i].status == IMG_SKIPPED;
    }
    for (size_t i = 0; i < plan_task_count(m->plan); i++) {
        plan_task_t *t = plan_task_at(m->plan, i);
        if (t->state == PLAN_DONE)
            continue;
        if (t->kind == PROTO_KIND_COPY_BLOB) {
            copy++;
            bytes += t->size > 0 ? (uint64_t)t->size : 0;
        } else if (t->kind == PROTO_KIND_MOUNT_BLOB) {
            mount++;
        } else {
            manifests++;
        }
    }
    printf("Plan (dry run, nothing written):\n");
    for (size_t i = 0; i < m->n_images; i++) {
        mig_image_t *img = &m->images[i];
        char source[1200], target[1200];
        src_ref_text(m, img->src_ep, img->src_repo, img->ref, source, sizeof source);
        src_ref_text(m, img->dst_ep, img->dst_repo, img->ref, target, sizeof target);
        printf("  %-8s %s -> %s%s%s\n",
               img->status == IMG_SKIPPED  ? "skip"
               : img->status == IMG_FAILED ? "fail"
                                           : "copy",
               source, target, img->error ? ": " : "", img->error ? img->error : "");
    }
    printf("images: %zu to migrate, %zu already there, %zu failed to inspect\n", images, skipped,
           m->n_images - images - skipped);
    printf("blobs: %zu to copy (%.1f MiB), %zu to mount; manifests: %zu to push\n", copy,
           (double)bytes / 1048576.0, mount, manifests);
}

static int prepare(mig_t *m)
{
    m->started = wall_now();
    m->progress = progress_new(m->opts.progress, stderr);
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
    discover_catalogs(m);
    expand_tags(m);
    latest_filter(m);
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

int mig_run(mig_t *m)
{
    int rc = prepare(m);
    if (rc)
        return rc;
    if (overlapped(m)) {
        inspect_start(m);
        plan_seal(m->plan);
        if (!inspecting(m))
            inspect_done(m);
    } else {
        inspect(m);
        plan_seal(m->plan);
    }
    if (m->opts.dry_run) {
        print_plan(m);
        return 0;
    }
    if (inspecting(m) || plan_unfinished(m->plan) > 0) {
        rc = transfer(m);
        if (rc)
            return rc;
    }
    finish_images(m);
    double finished = wall_now();
    if (m->opts.report) {
        ferry_err_t err;
        if (report_write_json(m->report, m->opts.report, m->started, finished, &err) < 0)
            log_error("%s", err.message);
    }
    if (m->journal) {
        ferry_err_t err;
        journal_sync(m->journal, &err);
    }
    progress_break(m->progress);
    fflush(stderr);
    report_print_summary(m->report, stdout, finished - m->started);
    fflush(stdout);
    report_counts_t c;
    report_counts(m->report, &c);
    bool interrupted = m->opts.stop && *m->opts.stop;
    publish(m, interrupted ? "interrupted" : "finished", NULL, true);
    return c.failed || c.repo_failed || c.manifest_failed || c.namespace_failed || interrupted ? 1
                                                                                               : 0;
}

/* ------------------------------------------------------------ verify */

typedef struct verify_item {
    size_t image;
    reg_op_t *src, *dst;
} verify_item_t;

int mig_verify(mig_t *m)
{
    int rc = prepare(m);
    if (rc)
        return rc;
    for (size_t i = 0; i < m->n_repos; i++) {
        mig_repo_t *r = &m->repos[i];
        if (r->ref)
            image_add(m, i, r->ref);
        for (size_t j = 0; j < r->n_tags; j++)
            image_add(m, i, r->tags[j]);
    }
    size_t differences = 0, same = 0;
    for (size_t start = 0; start < m->n_images; start += MIG_INFLIGHT / 2) {
        size_t end =
            start + MIG_INFLIGHT / 2 < m->n_images ? start + MIG_INFLIGHT / 2 : m->n_images;
        verify_item_t items[MIG_INFLIGHT / 2];
        for (size_t i = start; i < end; i++) {
            mig_image_t *img = &m->images[i];
            items[i - start].image = i;
            items[i - start].src =
                reg_manifest_head(m->eps[img->src_ep].reg, img->src_repo, img->ref, NULL, NULL);
            items[i - start].dst =
                reg_manifest_head(m->eps[img->dst_ep].reg, img->dst_repo, img->ref, NULL, NULL);
        }
        for (size_t i = start; i < end; i++) {
            verify_item_t *v = &items[i - start];
            mig_image_t *img = &m->images[i];
            int src_rc = v->src ? reg_op_wait(v->src) : FERRY_ENOMEM;
            int dst_rc = v->dst ? reg_op_wait(v->dst) : FERRY_ENOMEM;
            char source[1200], target[1200];
            src_ref_text(m, img->src_ep, img->src_repo, img->ref, source, sizeof source);
            src_ref_text(m, img->dst_ep, img->dst_repo, img->ref, target, sizeof target);
            const char *sd = src_rc == 0 ? reg_op_digest(v->src) : NULL;
            const char *dd = dst_rc == 0 ? reg_op_digest(v->dst) : NULL;
            if (src_rc < 0) {
                printf("error    %s: %s\n", source, reg_op_error(v->src)->message);
                differences++;
            } else if (dst_rc == FERRY_ENOTFOUND) {
                printf("missing  %s (source %s)\n", target, sd ? sd : "?");
                differences++;
            } else if (dst_rc < 0) {
                printf("error    %s: %s\n", target, reg_op_error(v->dst)->message);
                differences++;
            } else if (!sd || !dd || strcmp(sd, dd) != 0) {
                printf("differs  %s %s != %s %s\n", source, sd ? sd : "?", target, dd ? dd : "?");
                differences++;
            } else {
                same++;
            }
            reg_op_destroy(&v->src);
            reg_op_destroy(&v->dst);
        }
    }
    report_counts_t c;
    report_counts(m->report, &c);
    printf("verify: %zu tag(s) identical, %zu difference(s), %zu repository listing(s) failed\n",
           same, differences, c.repo_failed);
    return differences || c.repo_failed ? 1 : 0;
}
