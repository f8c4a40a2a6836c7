/* discover — what a run is asked to migrate: repository pairs given by the
 * caller or found in catalogs, their tags at the source (then selected) and
 * at the target, and the image times the newest N needs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/manifest.h"
#include "coordinator/run.h"
#include "coordinator/tagfilter.h"

/* An image config larger than this is not read for its creation time. */
#define DISCOVER_CONFIG_MAX (1024 * 1024)

/* ------------------------------------------------------------ adding */

/* The selection sel compiled and owned by the run; the run's own for NULL.
 * NULL with err set for a bad selection. */
static const selector_t *selector_for(mig_t *m, const mig_select_t *sel, ferry_err_t *err)
{
    if (!sel)
        return m->sel;
    selector_t **v = array_grow(m->selectors, m->n_selectors, &m->cap_selectors, sizeof *v);
    if (!v) {
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    m->selectors = v;
    selector_t *s = selector_new(sel, err);
    if (s)
        m->selectors[m->n_selectors++] = s;
    return s;
}

static run_repo_t *repo_new(mig_t *m, int src_ep, const char *src_repo, int dst_ep,
                            const char *dst_repo, const selector_t *sel)
{
    run_repo_t *grown = array_grow(m->repos, m->n_repos, &m->cap_repos, sizeof *grown);
    if (!grown)
        return NULL;
    m->repos = grown;
    run_repo_t *r = &m->repos[m->n_repos];
    memset(r, 0, sizeof *r);
    r->src_ep = src_ep;
    r->dst_ep = dst_ep;
    r->sel = sel;
    r->src_repo = strdup(src_repo);
    r->dst_repo = strdup(dst_repo);
    if (!r->src_repo || !r->dst_repo) {
        free(r->src_repo);
        free(r->dst_repo);
        return NULL;
    }
    m->n_repos++;
    return r;
}

/* Both names of a pair pass the distribution spec's grammar before
 * anything else sees them. 0 or FERRY_EINVAL. */
static int pair_validate(const char *src_repo, const char *dst_repo, ferry_err_t *err)
{
    int rc = ref_validate_repository(src_repo, err);
    return rc < 0 ? rc : ref_validate_repository(dst_repo, err);
}

int mig_add_repo(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                 const char *ref, const char *dst_tag, const mig_select_t *sel, ferry_err_t *err)
{
    if (dst_tag && (!ref || ref_validate_tag(dst_tag, err) < 0))
        return ref ? FERRY_EINVAL
                   : ferry_err_set(err, FERRY_EINVAL, "a target tag needs one source image");
    if (pair_validate(src_repo, dst_repo, err) < 0)
        return FERRY_EINVAL;
    const selector_t *s = selector_for(m, sel, err);
    if (!s)
        return err && err->code ? err->code : FERRY_EINVAL;
    run_repo_t *r = repo_new(m, src_ep, src_repo, dst_ep, dst_repo, s);
    if (!r || (ref && !(r->ref = strdup(ref))) || (dst_tag && !(r->dst_tag = strdup(dst_tag))))
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return 0;
}

int mig_add_repo_tags(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                      const mig_tag_t *tags, size_t n_tags, const mig_select_t *sel,
                      ferry_err_t *err)
{
    if (pair_validate(src_repo, dst_repo, err) < 0)
        return FERRY_EINVAL;
    const selector_t *s = selector_for(m, sel, err);
    if (!s)
        return err && err->code ? err->code : FERRY_EINVAL;
    run_repo_t *r = repo_new(m, src_ep, src_repo, dst_ep, dst_repo, s);
    if (!r)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    r->tags_given = true;
    r->tags = calloc(n_tags ? n_tags : 1, sizeof *r->tags);
    if (!r->tags)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_tags; i++) {
        r->tags[i].name = strdup(tags[i].name);
        r->tags[i].time = tags[i].time;
        if (!r->tags[i].name)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        r->n_tags++;
    }
    return 0;
}

int mig_add_catalog(mig_t *m, int src_ep, const char *src_prefix, int dst_ep,
                    const char *dst_prefix, const mig_select_t *sel, ferry_err_t *err)
{
    const selector_t *s = selector_for(m, sel, err); /* a bad regex is a usage error now */
    if (!s)
        return err && err->code ? err->code : FERRY_EINVAL;
    run_catalog_t *grown = array_grow(m->catalogs, m->n_catalogs, &m->cap_catalogs, sizeof *grown);
    if (!grown)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    m->catalogs = grown;
    run_catalog_t *c = &m->catalogs[m->n_catalogs++];
    memset(c, 0, sizeof *c);
    c->src_ep = src_ep;
    c->dst_ep = dst_ep;
    c->sel = s;
    c->src_prefix = strdup(src_prefix);
    c->dst_prefix = strdup(dst_prefix);
    if (!c->src_prefix || !c->dst_prefix)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return 0;
}

int mig_add_failure(mig_t *m, const char *kind, const char *source, const char *target,
                    const char *error)
{
    return report_add(m->report, kind, source, target, NULL, REPORT_FAILED, error);
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void discover_unlist(run_repo_t *r)
{
    strv_free(r->dst_listed, r->n_dst_listed);
    r->dst_listed = NULL;
    r->n_dst_listed = 0;
}

void discover_repo_free(run_repo_t *r)
{
    reg_op_destroy(&r->op);
    reg_op_destroy(&r->dst_op);
    strv_free(r->listed, r->n_listed);
    discover_unlist(r);
    free(r->src_repo);
    free(r->dst_repo);
    free(r->ref);
    free(r->dst_tag);
    select_tags_free(r->tags, r->n_tags);
}

/* ------------------------------------------------------------ catalogs */

/* A repository failed before any of its images could be tried. */
static void repo_failed(mig_t *m, const char *source, const char *target, const char *why)
{
    report_add(m->report, "repository", source, target, NULL, REPORT_FAILED, why);
    m->repos_failed++;
}

/* Collects a target's catalog; one that cannot be read (often refused to
 * users who are not administrators) leaves the tag listings to tell. */
static void target_catalog(run_ep_t *e)
{
    if (!e->catalog_op)
        return;
    if (!reg_op_finished(e->catalog_op)) {
        /* interrupted: the listings will not run either */
    } else if (reg_op_result(e->catalog_op) < 0) {
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

/* The target repository of a source repository name found under the
 * catalog's prefix: dst_prefix + the rest of its path. 0; FERRY_ENOTFOUND
 * when the name is not under the prefix (or maps to nothing); FERRY_ETOOBIG
 * when the target name would exceed the spec's limit (never cut). */
static int catalog_map(char *out, size_t size, const run_catalog_t *c, const char *name)
{
    size_t plen = strlen(c->src_prefix);
    if (plen && (strncmp(name, c->src_prefix, plen) != 0 || (name[plen] != '/' && name[plen])))
        return FERRY_ENOTFOUND;
    const char *rest = name + plen;
    if (*rest == '/')
        rest++;
    int n;
    if (*c->dst_prefix && *rest)
        n = snprintf(out, size, "%s/%s", c->dst_prefix, rest);
    else
        n = snprintf(out, size, "%s", *rest ? rest : c->dst_prefix);
    if (n < 0 || (size_t)n >= size)
        return FERRY_ETOOBIG;
    return *out ? 0 : FERRY_ENOTFOUND;
}

/* Adds the repositories of one source catalog. */
/* Adds one repository name of a catalog (listed, or pushed): checked,
 * mapped under the target prefix. True when added. */
static bool catalog_name(mig_t *m, const run_catalog_t *c, const char *name)
{
    run_ep_t *src = &m->eps[c->src_ep];
    char source[RUN_REF_TEXT_MAX], dst[REF_NAME_MAX + 1];
    run_ref_text(source, sizeof source, m, c->src_ep, c->src_prefix, NULL);
    ferry_err_t why;
    if (ref_validate_repository(name, &why) < 0) {
        /* Never a URL: a counted failure, named safely. */
        log_error("%s lists a repository ferry refuses: %s", src->host, why.message);
        repo_failed(m, source, m->eps[c->dst_ep].host, why.message);
        return false;
    }
    int rc = catalog_map(dst, sizeof dst, c, name);
    if (rc == FERRY_ETOOBIG) {
        run_ref_text(source, sizeof source, m, c->src_ep, name, NULL);
        log_error("%s: the target name %s/... is longer than %d characters", source, c->dst_prefix,
                  REF_NAME_MAX);
        repo_failed(m, source, m->eps[c->dst_ep].host, "target repository name too long");
        return false;
    }
    return rc == 0 && repo_new(m, c->src_ep, name, c->dst_ep, dst, c->sel);
}

/* Adds the repositories of one source catalog. */
static void catalog_add(mig_t *m, const run_catalog_t *c, reg_op_t *op)
{
    run_ep_t *src = &m->eps[c->src_ep];
    if (reg_op_result(op) < 0) {
        char source[RUN_REF_TEXT_MAX];
        run_ref_text(source, sizeof source, m, c->src_ep, c->src_prefix, NULL);
        log_error("cannot list the repositories of %s: %s", src->host, reg_op_error(op)->message);
        repo_failed(m, source, m->eps[c->dst_ep].host, reg_op_error(op)->message);
        return;
    }
    size_t n = 0, added = 0;
    char *const *names = reg_op_names(op, &n);
    for (size_t i = 0; i < n; i++)
        added += catalog_name(m, c, names[i]);
    log_info("%s: %zu repositories%s%s", src->host, added, *c->src_prefix ? " under " : "",
             c->src_prefix);
}

/* A pass for push events: the pushed repositories of each catalog stand in
 * for its listing (once each). */
static void catalog_pushed(mig_t *m)
{
    const mig_only_t *only = m->opts.only;
    for (size_t c = 0; c < m->n_catalogs; c++)
        for (size_t i = 0; i < only->n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = strcmp(only->repos[j], only->repos[i]) == 0;
            if (!seen)
                catalog_name(m, &m->catalogs[c], only->repos[i]);
        }
}

/* True when every operation of ops has finished. */
static bool all_finished(reg_op_t *const *ops, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ops[i] && !reg_op_finished(ops[i]))
            return false;
    return true;
}

/* Lists the source catalogs asked for, and the targets' catalogs beside
 * them, all at once; a stop request ends the wait within a turn of the loop. */
static void discover_catalogs(mig_t *m)
{
    if (m->opts.only) {
        catalog_pushed(m);
        return;
    }
    reg_op_t **ops = calloc(m->n_catalogs + m->n_eps + 1, sizeof *ops);
    if (!ops) {
        log_error("out of memory");
        return;
    }
    for (size_t c = 0; c < m->n_catalogs; c++) {
        run_ep_t *dst = &m->eps[m->catalogs[c].dst_ep];
        if (!dst->catalog_op && !dst->catalog)
            dst->catalog_op = reg_catalog(dst->reg, RUN_PAGE_SIZE, NULL, NULL);
        ops[c] = reg_catalog(m->eps[m->catalogs[c].src_ep].reg, RUN_PAGE_SIZE, NULL, NULL);
    }
    for (size_t i = 0; i < m->n_eps; i++)
        ops[m->n_catalogs + i] = m->eps[i].catalog_op;
    while (!all_finished(ops, m->n_catalogs + m->n_eps) && !run_stopping(m))
        http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
    for (size_t c = 0; c < m->n_catalogs && !run_stopping(m); c++) {
        if (ops[c])
            catalog_add(m, &m->catalogs[c], ops[c]);
        else
            log_error("out of memory");
    }
    for (size_t c = 0; c < m->n_catalogs; c++)
        reg_op_destroy(&ops[c]);
    free(ops);
    for (size_t i = 0; i < m->n_eps; i++)
        target_catalog(&m->eps[i]);
}

/* ------------------------------------------------------------ tag listings */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sorted copy of the names an operation listed; *n_out set. NULL when out
 * of memory (then *n_out is 0). */
static char **names_sorted(reg_op_t *op, size_t *n_out)
{
    size_t n = 0;
    char *const *names = reg_op_names(op, &n);
    char **v = calloc(n ? n : 1, sizeof *v);
    *n_out = 0;
    if (!v)
        return NULL;
    for (size_t j = 0; j < n; j++) {
        if (!(v[j] = strdup(names[j]))) {
            strv_free(v, j);
            return NULL;
        }
    }
    qsort(v, n, sizeof *v, cmp_str);
    *n_out = n;
    return v;
}

bool discover_listed(const run_repo_t *r, const char *tag)
{
    return r->listed && bsearch(&tag, r->listed, r->n_listed, sizeof *r->listed, cmp_str);
}

bool discover_target_lacks(const run_repo_t *r, const char *tag)
{
    return r->dst_state == DST_ABSENT ||
           (r->dst_state == DST_LISTED &&
            !bsearch(&tag, r->dst_listed, r->n_dst_listed, sizeof *r->dst_listed, cmp_str));
}

/* Drops the chosen tags that do not pass the spec's grammar (from a
 * listing, a rules file or the cloud API): each is a counted failure with
 * its reason, and never part of a URL. */
static void tags_validate(mig_t *m, run_repo_t *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n_tags; i++) {
        ferry_err_t why;
        if (ref_validate_tag(r->tags[i].name, &why) == 0) {
            r->tags[kept++] = r->tags[i];
            continue;
        }
        char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
        run_ref_text(source, sizeof source, m, r->src_ep, r->src_repo, NULL);
        run_ref_text(target, sizeof target, m, r->dst_ep, r->dst_repo, NULL);
        log_error("%s: %s", source, why.message);
        report_add(m->report, "image", source, target, NULL, REPORT_FAILED, why.message);
        free(r->tags[i].name);
    }
    r->n_tags = kept;
}

/* Runs the selection over r's candidates: the regexes, then the check of
 * the survivors' names (before any of them reaches a URL, even to read its
 * time), then the newest N. Returns true when the newest N waits for image
 * times (r->tags are the checked candidates): call again with times_known. */
static bool repo_select(mig_t *m, run_repo_t *r, bool times_known)
{
    select_tags(r->tags, &r->n_tags, r->sel, false);
    tags_validate(m, r);
    return select_tags(r->tags, &r->n_tags, r->sel, times_known) == SELECT_NEED_TIMES;
}

/* Collects the source listing of r: every tag (sorted), and the candidates
 * the selection keeps; a repository that cannot be listed is a failure. */
static bool source_listed(mig_t *m, run_repo_t *r)
{
    char source[RUN_REF_TEXT_MAX], target[RUN_REF_TEXT_MAX];
    run_ref_text(source, sizeof source, m, r->src_ep, r->src_repo, NULL);
    if (reg_op_result(r->op) < 0) {
        log_error("cannot list the tags of %s: %s", source, reg_op_error(r->op)->message);
        run_ref_text(target, sizeof target, m, r->dst_ep, r->dst_repo, NULL);
        repo_failed(m, source, target, reg_op_error(r->op)->message);
        return false;
    }
    r->listed = names_sorted(r->op, &r->n_listed);
    r->tags = calloc(r->n_listed ? r->n_listed : 1, sizeof *r->tags);
    for (size_t j = 0; r->tags && j < r->n_listed; j++) {
        if (!(r->tags[r->n_tags].name = strdup(r->listed[j])))
            break;
        r->tags[r->n_tags++].time = -1;
    }
    return repo_select(m, r, false);
}

/* Collects the target listing of r: absent (404), listed, or unknown (any
 * other answer: every tag is then asked about). */
static void target_listed(run_repo_t *r)
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
    r->dst_listed = names_sorted(r->dst_op, &r->n_dst_listed);
    if (r->dst_listed)
        r->dst_state = DST_LISTED;
}

/* Starts r's listings: the source's unless its tags were given, the
 * target's unless the target's catalog already tells. Returns how many
 * answers to wait for. */
static size_t listing_start(mig_t *m, run_repo_t *r)
{
    size_t waits = 0;
    if (!r->tags_given) {
        r->op = reg_tags_list(m->eps[r->src_ep].reg, r->src_repo, RUN_PAGE_SIZE, NULL, NULL);
        waits += r->op != NULL;
    }
    const strmap_t *catalog = m->list_targets ? NULL : m->eps[r->dst_ep].catalog;
    if (catalog) {
        /* absent: nothing to ask; present: a HEAD per tag */
        r->dst_state = strmap_has(catalog, r->dst_repo) ? DST_UNKNOWN : DST_ABSENT;
    } else {
        r->dst_op = reg_tags_list(m->eps[r->dst_ep].reg, r->dst_repo, RUN_PAGE_SIZE, NULL, NULL);
        waits += r->dst_op != NULL;
    }
    return waits;
}

/* Collects r's finished listings; returns how many finished and sets
 * *needs_times when its selection waits for times. */
static size_t listing_collect(mig_t *m, run_repo_t *r, bool *needs_times)
{
    size_t done = 0;
    if (r->op && reg_op_finished(r->op)) {
        done++;
        *needs_times |= source_listed(m, r);
        reg_op_destroy(&r->op);
    }
    if (r->dst_op && reg_op_finished(r->dst_op)) {
        done++;
        target_listed(r);
        reg_op_destroy(&r->dst_op);
    }
    return done;
}

/* A pass for push events: r is looked at only when pushed. A push of a tag
 * makes that tag r's one candidate (no listing) unless the newest N must
 * compare it with the others; a push of a whole repository (a manifest by
 * digest) lists it as usual. False when r is not to be looked at. */
static bool only_apply(mig_t *m, run_repo_t *r)
{
    const mig_only_t *only = m->opts.only;
    bool pushed = false, whole = false;
    size_t tags = 0;
    for (size_t i = 0; i < only->n; i++) {
        if (strcmp(only->repos[i], r->src_repo) != 0)
            continue;
        if (!only->tags[i])
            whole = true;
        else if (!r->ref || strcmp(r->ref, only->tags[i]) == 0)
            pushed = true, tags++;
    }
    r->ignored = !(whole || pushed);
    if (r->ignored || whole || r->ref || r->tags_given || selector_latest(r->sel) > 0)
        return !r->ignored;
    r->tags_given = true; /* the pushed tags are the candidates */
    r->tags = calloc(tags, sizeof *r->tags);
    for (size_t i = 0; r->tags && i < only->n; i++) {
        if (strcmp(only->repos[i], r->src_repo) != 0 || !only->tags[i])
            continue;
        if (!(r->tags[r->n_tags].name = strdup(only->tags[i])))
            break;
        r->tags[r->n_tags++].time = -1;
    }
    return true;
}

/* Lists the tags of every repository without an explicit ref, on the source
 * (then selected) and on the target (what is there already), RUN_INFLIGHT
 * repositories at once. Sets want_times[i] for repositories whose newest N
 * waits for image times. */
static void discover_tags(mig_t *m, bool *want_times)
{
    size_t next = 0, started = 0, done = 0;
    size_t lo = 0; /* repositories below have no listing running */
    while (!run_stopping(m)) {
        while (started - done < RUN_INFLIGHT && next < m->n_repos) {
            run_repo_t *r = &m->repos[next++];
            if (m->opts.only && !only_apply(m, r))
                continue;
            if (r->ref)
                continue;
            if (r->tags_given)
                want_times[next - 1] = repo_select(m, r, false);
            started += listing_start(m, r);
        }
        if (done == started && next == m->n_repos)
            break;
        http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
        while (lo < next && !m->repos[lo].op && !m->repos[lo].dst_op)
            lo++;
        for (size_t i = lo; i < next; i++)
            done += listing_collect(m, &m->repos[i], &want_times[i]);
    }
    for (size_t i = 0; i < m->n_eps; i++)
        strmap_destroy(&m->eps[i].catalog, NULL);
}

/* ------------------------------------------------------------ image times */

/* One tag's creation time being read for the newest N: its manifest (an
 * index's first child), then the image config's "created". */
typedef struct age_probe {
    mig_t *m;
    const run_repo_t *r;
    select_tag_t *tag; /* where the time goes */
    reg_op_t *op;
    int step;          /* 0 manifest by tag, 1 first child, 2 config */
    size_t *finished;  /* probes of the repository done, counted here */
} age_probe_t;

static void age_step(reg_op_t *op, void *ud);

/* Starts the next read of a probe (ref a tag or digest); done when there is
 * nothing more to read. */
static void age_next(age_probe_t *a, const char *ref)
{
    reg_t *src = a->m->eps[a->r->src_ep].reg;
    a->op = a->step == 2 ? reg_blob_get(src, a->r->src_repo, ref, 0, NULL, NULL, age_step, a)
                         : reg_manifest_get(src, a->r->src_repo, ref, age_step, a);
    if (!a->op)
        (*a->finished)++;
}

/* A manifest read: the next digest to read (an index's first child, an
 * image's config) into next, or "" when there is none. */
static void age_manifest(age_probe_t *a, reg_op_t *op, const char *body, size_t len, char *next,
                         size_t size)
{
    manifest_t *man = NULL;
    *next = '\0';
    if (manifest_parse(&man, reg_op_media_type(op), body, len, NULL) == 0) {
        if (manifest_is_index(man) && man->n_children && a->step == 0) {
            snprintf(next, size, "%s", man->children[0].digest);
            a->step = 1;
        } else if (!manifest_is_index(man) && man->n_blobs &&
                   man->blobs[0].size < DISCOVER_CONFIG_MAX) {
            snprintf(next, size, "%s", man->blobs[0].digest); /* the config */
            a->step = 2;
        }
    }
    manifest_destroy(&man);
}

static void age_step(reg_op_t *op, void *ud)
{
    age_probe_t *a = ud;
    size_t len = 0;
    const char *body = reg_op_result(op) == 0 ? reg_op_body(op, &len) : NULL;
    char next[DIGEST_STR_MAX] = "";
    a->op = NULL;
    if (body && a->step == 2) {
        json_t *doc = json_loadb(body, len, 0, NULL);
        const char *created = json_string_value(json_object_get(doc, "created"));
        if (created)
            a->tag->time = time_parse_iso8601(created);
        json_decref(doc);
    } else if (body) {
        age_manifest(a, op, body, len, next, sizeof next);
    }
    reg_op_destroy(&op);
    if (*next)
        age_next(a, next);
    else
        (*a->finished)++;
}

/* Reads the creation time of each candidate of r, RUN_INFLIGHT at once. */
static void repo_times(mig_t *m, run_repo_t *r)
{
    age_probe_t *probes = calloc(r->n_tags, sizeof *probes);
    if (!probes)
        return;
    size_t next = 0, finished = 0;
    while (finished < r->n_tags && !run_stopping(m)) {
        for (; next < r->n_tags && next - finished < RUN_INFLIGHT; next++) {
            if (r->tags[next].time >= 0) {
                finished++; /* given by the caller */
                continue;
            }
            probes[next] = (age_probe_t){.m = m, .r = r, .tag = &r->tags[next], .finished = &finished};
            age_next(&probes[next], r->tags[next].name);
        }
        http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
    }
    for (size_t j = 0; j < next; j++)
        reg_op_destroy(&probes[j].op);
    free(probes);
}

void discover(mig_t *m)
{
    discover_catalogs(m);
    bool *want_times = calloc(m->n_repos ? m->n_repos : 1, sizeof *want_times);
    if (!want_times) {
        log_error("out of memory");
        return;
    }
    discover_tags(m, want_times);
    for (size_t i = 0; i < m->n_repos && !run_stopping(m); i++) {
        if (!want_times[i])
            continue;
        repo_times(m, &m->repos[i]);
        repo_select(m, &m->repos[i], true);
    }
    free(want_times);
}
