/* inspect — every selected image's manifests, read from the source
 * concurrently: a root's tag is asked about at the target first (the same
 * digest: skipped), an index's children follow, referrers travel with their
 * subject, and each manifest read becomes tasks of the plan. A fetch moves
 * through steps; each step has one handler, called with the answer of the
 * request the previous one started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/manifest.h"
#include "coordinator/run.h"

/* Longest "repo index|digest" or "repo index|ref" key. */
#define INSPECT_KEY_MAX (24 + RUN_REF_TEXT_MAX)
/* Media type the referrers API answers with. */
#define INSPECT_INDEX_TYPE "application/vnd.oci.image.index.v1+json"
/* Longest "sha256-<hex>" referrers fallback tag. */
#define INSPECT_FALLBACK_MAX (8 + DIGEST_STR_MAX)

/* A manifest's bytes shared by the put-manifest tasks of its digest. */
typedef struct run_body {
    uint32_t refs; /* tasks not finished that will send it */
    size_t len;
    char data[];
} run_body_t;

enum fetch_step {
    F_START = 0,   /* nothing asked yet */
    F_JOURNAL,     /* HEAD of the source's tag (a resumed run asks the source first) */
    F_TARGET,      /* HEAD of the target's tag */
    F_SOURCE_HEAD, /* HEAD of the source's tag, the target having it */
    F_GET,         /* GET of the source manifest */
    F_REFERRERS,   /* the referrers API */
    F_FALLBACK,    /* HEAD of the "sha256-<hex>" referrers tag */
    F_STEPS
};

/* One manifest to fetch while inspecting. */
struct fetch {
    mig_t *m;
    size_t image;        /* index in m->images */
    const char *ref;     /* what to fetch (tag or digest), interned */
    plan_task_t *parent; /* index task waiting for this child, or NULL for a root */
    const char *tag;     /* push under this tag (roots by tag) */
    bool held;           /* parent waits for this child (plan_hold) */
    char *target_digest; /* the target's digest of the tag, NULL when it has none */
    char *source_digest; /* the source's, when asked first (a resumed run) */
    int depth;           /* nesting of indexes above it */
    int step;            /* enum fetch_step: the request in flight */
    reg_op_t *op;        /* its answer, while a handler runs */
    char *body;          /* the manifest, kept while the target is asked */
    size_t body_len;
    char *media_type;
    struct fetch *next; /* queue link */
};

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

void inspect_free(mig_t *m)
{
    while (m->queue) {
        fetch_t *f = m->queue;
        m->queue = f->next;
        fetch_free(f);
    }
    strmap_destroy(&m->bodies, free);
}

/* ------------------------------------------------------------ journal keys */

void run_manifest_key(char *out, size_t size, const mig_t *m, int dst_ep, const char *dst_repo,
                      const char *ref, const char *digest)
{
    snprintf(out, size, "manifest %s/%s:%s@%s", m->eps[dst_ep].host, dst_repo, ref, digest);
}

void run_journal_key(char *out, size_t size, const mig_t *m, const plan_task_t *t)
{
    if (t->kind == PROTO_KIND_PUT_MANIFEST)
        run_manifest_key(out, size, m, t->dst_ep, t->dst_repo, t->tag ? t->tag : t->digest,
                         t->digest);
    else
        snprintf(out, size, "blob %s/%s@%s", m->eps[t->dst_ep].host, t->dst_repo, t->digest);
}

void run_journal_note(mig_t *m, const char *key)
{
    ferry_err_t err;
    if (m->journal && journal_record(m->journal, key, &err) < 0)
        log_warn("journal: %s", err.message);
}

/* ------------------------------------------------------------ images */

int inspect_image_add(mig_t *m, size_t repo_index, const char *ref)
{
    run_repo_t *r = &m->repos[repo_index];
    char key[INSPECT_KEY_MAX];
    snprintf(key, sizeof key, "%zu|%s", repo_index, ref);
    if (strmap_has(m->selected, key))
        return 0;
    if (strmap_put(m->selected, key, NULL, NULL) < 0)
        return FERRY_ENOMEM;
    run_image_t *grown = array_grow(m->images, m->n_images, &m->cap_images, sizeof *grown);
    if (!grown)
        return FERRY_ENOMEM;
    m->images = grown;
    run_image_t *img = &m->images[m->n_images];
    memset(img, 0, sizeof *img);
    img->repo = (uint32_t)repo_index;
    img->src_ep = (uint16_t)r->src_ep;
    img->dst_ep = (uint16_t)r->dst_ep;
    img->src_repo = plan_intern(m->plan, r->src_repo);
    img->dst_repo = plan_intern(m->plan, r->dst_repo);
    img->ref = plan_intern(m->plan, ref);
    img->dst_ref = r->dst_tag && r->ref && strcmp(ref, r->ref) == 0 ? plan_intern(m->plan, r->dst_tag)
                                                                    : img->ref;
    if (!img->src_repo || !img->dst_repo || !img->ref || !img->dst_ref)
        return FERRY_ENOMEM;
    m->n_images++;
    return 0;
}

static void fetch_queue(mig_t *m, size_t image, const char *ref, plan_task_t *parent,
                        const char *tag, int depth)
{
    fetch_t *f = calloc(1, sizeof *f);
    if (!f) {
        run_image_fail(m, image, FAIL_MANIFEST, "out of memory");
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

/* Adds a root image of repository repo_index and queues its fetch, once per
 * ref; by_tag: ref is a tag to push it under. */
static void root_add(mig_t *m, size_t repo_index, const char *ref, bool by_tag)
{
    size_t before = m->n_images;
    if (inspect_image_add(m, repo_index, ref) == 0 && m->n_images > before) {
        const run_image_t *img = &m->images[m->n_images - 1];
        /* pushed under its tag, or a rename's tag (a digest may get one too) */
        bool tagged = by_tag || img->dst_ref != img->ref;
        fetch_queue(m, m->n_images - 1, img->ref, NULL, tagged ? img->dst_ref : NULL, 0);
    }
}

/* The suffixes of cosign's tag scheme. */
static const char *const signature_suffixes[] = {".sig", ".att", ".sbom"};

void inspect_signatures(mig_t *m, size_t repo_index, const char *ref, const char *digest,
                        bool queue, size_t *first)
{
    *first = m->n_images;
    /* A signature's own signatures are not looked for. */
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || strncmp(ref, "sha256-", 7) == 0)
        return;
    const run_repo_t *r = &m->repos[repo_index];
    for (size_t i = 0; i < sizeof signature_suffixes / sizeof *signature_suffixes; i++) {
        char tag[INSPECT_FALLBACK_MAX + 8];
        snprintf(tag, sizeof tag, "sha256-%s%s", digest + 7, signature_suffixes[i]);
        if (r->listed && !discover_listed(r, tag))
            continue;
        size_t before = m->n_images;
        if (inspect_image_add(m, repo_index, tag) < 0 || m->n_images == before)
            continue;
        run_image_t *img = &m->images[m->n_images - 1];
        img->optional = !r->listed;
        if (queue)
            fetch_queue(m, m->n_images - 1, img->ref, NULL, img->ref, 0);
    }
}

/* ------------------------------------------------------------ manifest bodies */

/* One more put-manifest task will send this manifest: keep its bytes while
 * they fit the budget (a manifest kept already just gains a reference). */
static void body_keep(mig_t *m, const char *digest, const char *body, size_t len)
{
    run_body_t *b = strmap_get(m->bodies, digest);
    if (b) {
        b->refs++;
        return;
    }
    if (!body || len == 0 || len > PROTO_MAX_MANIFEST || m->bodies_bytes + len > RUN_BODY_BUDGET)
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

void inspect_body_release(mig_t *m, const char *digest)
{
    run_body_t *b = strmap_get(m->bodies, digest);
    if (!b || --b->refs > 0)
        return;
    strmap_remove(m->bodies, digest, NULL);
    m->bodies_bytes -= b->len;
    free(b);
}

const char *inspect_body(const mig_t *m, const char *digest, size_t *len)
{
    const run_body_t *b = strmap_get(m->bodies, digest);
    *len = b ? b->len : 0;
    return b ? b->data : NULL;
}

/* ------------------------------------------------------------ planning */

/* Every dependency of t is in the plan: a task the journal has is done,
 * any other may run once its dependencies finish (and, when held is true,
 * the hold its builder took is let go). */
static void task_complete(mig_t *m, plan_task_t *t, bool held)
{
    if (m->journal && t->state == PLAN_WAITING) {
        char key[RUN_KEY_MAX];
        run_journal_key(key, sizeof key, m, t);
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

/* plan_manifest, keeping the bytes of the manifest for a task it creates. */
static plan_task_t *plan_manifest_body(mig_t *m, const run_image_t *img, const char *digest,
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

/* The fetch's image fails, and the index waiting for it with it. */
static void fetch_fail(fetch_t *f, const char *why)
{
    run_image_fail(f->m, f->image, FAIL_MANIFEST, why);
    if (f->parent)
        plan_task_failed(f->m->plan, f->parent, why);
}

/* With --platform, an index asked for by a root is replaced by its first
 * matching child, pushed under the tag (a single-platform image). */
static void plan_platform(fetch_t *f, const manifest_t *man, const char *source)
{
    mig_t *m = f->m;
    const manifest_desc_t *pick = select_platform(man, m->repos[m->images[f->image].repo].sel);
    if (!pick) {
        char why[RUN_REF_TEXT_MAX + 64];
        snprintf(why, sizeof why, "%s: no manifest for the requested platform(s)", source);
        run_image_fail(m, f->image, FAIL_MANIFEST, why);
        return;
    }
    fetch_queue(m, f->image, plan_intern(m->plan, pick->digest), NULL, f->tag, f->depth + 1);
}

/* The new manifest task t waits for the blobs and children of man. */
static void plan_dependencies(fetch_t *f, plan_task_t *t, const manifest_t *man)
{
    mig_t *m = f->m;
    const run_image_t *img = &m->images[f->image];
    for (size_t i = 0; i < man->n_blobs; i++) {
        if (man->blobs[i].foreign)
            continue;
        plan_task_t *b = plan_blob(m->plan, img->src_ep, img->src_repo, img->dst_ep, img->dst_repo,
                                   man->blobs[i].digest, man->blobs[i].size);
        if (!b || plan_depend(m->plan, t, b) < 0) {
            run_image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
            continue;
        }
        task_complete(m, b, false);
    }
    if (!manifest_is_index(man))
        return;
    if (f->depth >= RUN_MAX_DEPTH) {
        run_image_fail(m, f->image, FAIL_MANIFEST, "indexes nested too deeply");
        return;
    }
    for (size_t i = 0; i < man->n_children; i++)
        fetch_queue(m, f->image, plan_intern(m->plan, man->children[i].digest), t, NULL,
                    f->depth + 1);
}

/* Plans the tasks of one fetched manifest: blobs, then the manifest itself,
 * and queues fetches of an index's children. */
static void fetch_plan(fetch_t *f, const char *digest)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    ferry_err_t err;
    manifest_t *man = NULL;
    char source[RUN_REF_TEXT_MAX];
    run_ref_text(source, sizeof source, m, img->src_ep, img->src_repo, digest);
    if (manifest_parse(&man, f->media_type, f->body, f->body_len, &err) < 0) {
        char why[RUN_REF_TEXT_MAX + sizeof err.message + 2];
        snprintf(why, sizeof why, "%s: %s", source, err.message);
        fetch_fail(f, why);
        return;
    }
    if (manifest_is_index(man) && selector_has_platforms(m->repos[img->repo].sel) && !f->parent) {
        plan_platform(f, man, source);
        manifest_destroy(&man);
        return;
    }
    bool fresh;
    plan_task_t *t = plan_manifest_body(m, img, digest, man->media_type, f->tag, f->body,
                                        f->body_len, &fresh);
    if (!t) {
        run_image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
    } else if (!fresh) {
        /* Planned already (the same manifest reached again): its blobs and
         * children are in the plan; only this image's link to it is new. */
        if (f->parent)
            plan_depend(m->plan, f->parent, t);
        else
            img->root = t;
    } else {
        /* Held while its dependencies are added: one that finishes meanwhile
         * (journaled) must not release it early. */
        plan_hold(t);
        if (f->parent)
            plan_depend(m->plan, f->parent, t);
        else
            img->root = t;
        plan_dependencies(f, t, man);
        task_complete(m, t, true); /* an index still waits for the children queued above */
    }
    manifest_destroy(&man);
}

/* Plans a root whose manifest is in f->body, or ties its tag to an earlier
 * root of the same content. Returns true when referrers are still to look for. */
static bool fetch_plan_root(fetch_t *f, const char *digest)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    char key[INSPECT_KEY_MAX];
    snprintf(key, sizeof key, "%u|%s", img->repo, digest);
    plan_task_t *first = strmap_get(m->digest_roots, key);
    if (first && f->tag) {
        /* Another tag of content already planned: push the tag after it. */
        bool fresh;
        plan_task_t *t = plan_manifest_body(m, img, digest, first->media_type, f->tag, f->body,
                                            f->body_len, &fresh);
        if (!t || plan_depend(m->plan, t, first) < 0) {
            run_image_fail(m, f->image, FAIL_MANIFEST, "out of memory");
            return false;
        }
        img->root = t;
        task_complete(m, t, false);
        return false;
    }
    fetch_plan(f, digest);
    if (img->root && !first)
        strmap_put(m->digest_roots, key, img->root, NULL);
    return true;
}

/* ------------------------------------------------------------ requests */

static void fetch_step(fetch_t *f);

static void on_fetch(reg_op_t *op, void *ud)
{
    fetch_t *f = ud;
    f->m->inflight--;
    f->op = op;
    fetch_step(f);
}

/* Moves the fetch to step, waiting for op's answer. */
static void fetch_ask(fetch_t *f, int step, reg_op_t *op)
{
    f->step = step;
    f->op = NULL;
    if (!op) {
        run_image_fail(f->m, f->image, FAIL_MANIFEST, "out of memory");
        fetch_free(f);
        return;
    }
    f->m->inflight++;
}

static reg_t *src_reg(const fetch_t *f)
{
    return f->m->eps[f->m->images[f->image].src_ep].reg;
}

/* GETs the source manifest (what the fetch asks for). */
static void source_get(fetch_t *f)
{
    const run_image_t *img = &f->m->images[f->image];
    fetch_ask(f, F_GET, reg_manifest_get(src_reg(f), img->src_repo, f->ref, on_fetch, f));
}

/* Artifacts that refer to a root image travel with it: through the OCI
 * referrers API, or the "sha256-<hex>" tag where a registry lacks it. */
static void fetch_referrers(fetch_t *f)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    run_ep_t *src = &m->eps[img->src_ep];
    if (!img->digest) {
        fetch_free(f);
        return;
    }
    if (f->step != F_REFERRERS) {
        /* once per image: the API's 404 comes back here */
        size_t first;
        inspect_signatures(m, img->repo, img->ref, img->digest, true, &first);
        img = &m->images[f->image]; /* images may have moved */
    }
    if (!src->no_referrers_api) {
        fetch_ask(f, F_REFERRERS, reg_referrers(src->reg, img->src_repo, img->digest, on_fetch, f));
        return;
    }
    if (strncmp(img->digest, "sha256:", 7) != 0) {
        fetch_free(f);
        return;
    }
    char tag[INSPECT_FALLBACK_MAX];
    snprintf(tag, sizeof tag, "sha256-%s", img->digest + 7);
    const run_repo_t *r = &m->repos[img->repo];
    if (r->listed) {
        /* The listing tells without asking. */
        if (discover_listed(r, tag))
            root_add(m, img->repo, tag, true);
        fetch_free(f);
        return;
    }
    fetch_ask(f, F_FALLBACK, reg_manifest_head(src->reg, img->src_repo, tag, on_fetch, f));
}

/* The target's answer for a root's tag is in: the same digest is skipped
 * (or a different one kept with --no-overwrite); otherwise the root is
 * planned. Then artifacts referring to it. target_digest is NULL when the
 * tag is not there (or the question failed: pushing is then the safe side). */
static void target_answer(fetch_t *f, const char *target_digest)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
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

/* Starts a root with a tag: asks the target first (a HEAD), unless its
 * listing says the tag (or the whole repository) is not there; then the
 * source. A resumed run asks the source first (a HEAD): the journal may
 * know the answer for the target. */
static void target_check(fetch_t *f)
{
    mig_t *m = f->m;
    const run_image_t *img = &m->images[f->image];
    if (discover_target_lacks(&m->repos[img->repo], f->tag)) {
        source_get(f);
        return;
    }
    if (m->journal_first && f->step == F_START) {
        fetch_ask(f, F_JOURNAL, reg_manifest_head(src_reg(f), img->src_repo, img->ref, on_fetch, f));
        return;
    }
    fetch_ask(f, F_TARGET,
              reg_manifest_head(m->eps[img->dst_ep].reg, img->dst_repo, f->tag, on_fetch, f));
}

/* The target has the tag: a HEAD of the source tells whether it is the same
 * (a re-run: nothing more to read); only a difference needs the manifest.
 * The same digest is journaled: a later run with the journal need not ask
 * the target again. */
static void source_head(fetch_t *f, const char *source_digest)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    bool same = source_digest && strcmp(source_digest, f->target_digest) == 0;
    if (same && m->journal) {
        char key[RUN_KEY_MAX];
        run_manifest_key(key, sizeof key, m, img->dst_ep, img->dst_repo, f->tag, source_digest);
        run_journal_note(m, key);
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

/* ------------------------------------------------------------ step handlers */

/* Each handler takes the answer (rc, op: NULL at F_START) and either starts
 * the next request, or frees the fetch. */
typedef void step_fn(fetch_t *f, reg_op_t *op, int rc);

static void on_start(fetch_t *f, reg_op_t *op, int rc)
{
    if (!f->parent && f->tag)
        target_check(f);
    else
        source_get(f);
}

/* A resumed run: a tag the journal saw put with the digest the source still
 * has is done; the target is not asked. */
static void on_journal(fetch_t *f, reg_op_t *op, int rc)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    const char *digest = rc == 0 ? reg_op_digest(op) : NULL;
    if (digest) {
        char key[RUN_KEY_MAX];
        run_manifest_key(key, sizeof key, m, img->dst_ep, img->dst_repo, f->tag, digest);
        if (journal_has(m->journal, key)) {
            img->digest = plan_intern(m->plan, digest);
            img->status = IMG_SKIPPED;
            m->journal_tags++;
            fetch_referrers(f);
            return;
        }
        f->source_digest = strdup(digest); /* NULL: asked again after the target */
    }
    target_check(f);
}

static void on_target(fetch_t *f, reg_op_t *op, int rc)
{
    if (rc == 0 && reg_op_digest(op) && (f->target_digest = strdup(reg_op_digest(op)))) {
        if (f->source_digest) {
            source_head(f, f->source_digest);
            return;
        }
        const run_image_t *img = &f->m->images[f->image];
        fetch_ask(f, F_SOURCE_HEAD,
                  reg_manifest_head(src_reg(f), img->src_repo, img->ref, on_fetch, f));
        return;
    }
    /* not there (or the question failed: pushing is the safe side) */
    source_get(f);
}

static void on_source_head(fetch_t *f, reg_op_t *op, int rc)
{
    source_head(f, rc == 0 ? reg_op_digest(op) : NULL);
}

static void on_get(fetch_t *f, reg_op_t *op, int rc)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    if (rc == FERRY_ENOTFOUND && img->optional) {
        img->status = IMG_ABSENT; /* no such signature: nothing to move */
        fetch_free(f);
        return;
    }
    if (rc < 0) {
        fetch_fail(f, reg_op_error(op)->message);
        fetch_free(f);
        return;
    }
    f->body = reg_op_steal_body(op, &f->body_len);
    f->media_type = reg_op_media_type(op) ? strdup(reg_op_media_type(op)) : NULL;
    const char *digest = plan_intern(m->plan, reg_op_digest(op));
    if (f->parent) {
        fetch_plan(f, digest);
        fetch_free(f);
        return;
    }
    if (!img->digest)
        img->digest = digest;
    if (f->tag) {
        f->ref = digest; /* what the tag must point at */
        target_answer(f, f->target_digest);
    } else if (fetch_plan_root(f, digest)) {
        fetch_referrers(f);
    } else {
        fetch_free(f);
    }
}

static void on_referrers(fetch_t *f, reg_op_t *op, int rc)
{
    mig_t *m = f->m;
    run_image_t *img = &m->images[f->image];
    if (rc == FERRY_ENOTFOUND) {
        m->eps[img->src_ep].no_referrers_api = true;
        fetch_referrers(f);
        return;
    }
    size_t len = 0;
    const char *body = rc == 0 ? reg_op_body(op, &len) : NULL;
    manifest_t *idx = NULL;
    if (body && manifest_parse(&idx, INSPECT_INDEX_TYPE, body, len, NULL) == 0) {
        size_t repo_index = img->repo; /* img moves when images grow */
        for (size_t i = 0; i < idx->n_children; i++)
            root_add(m, repo_index, idx->children[i].digest, false);
    }
    manifest_destroy(&idx);
    fetch_free(f);
}

static void on_fallback(fetch_t *f, reg_op_t *op, int rc)
{
    const run_image_t *img = &f->m->images[f->image];
    if (rc == 0 && strncmp(img->digest, "sha256:", 7) == 0) {
        char tag[INSPECT_FALLBACK_MAX];
        snprintf(tag, sizeof tag, "sha256-%s", img->digest + 7);
        root_add(f->m, img->repo, tag, true);
    }
    fetch_free(f);
}

static step_fn *const step_handlers[F_STEPS] = {
    [F_START] = on_start,         [F_JOURNAL] = on_journal,     [F_TARGET] = on_target,
    [F_SOURCE_HEAD] = on_source_head, [F_GET] = on_get,         [F_REFERRERS] = on_referrers,
    [F_FALLBACK] = on_fallback,
};

/* Runs the handler of the fetch's step with the answer it waited for; the
 * answer is freed once the handler returns (or the fetch was freed). */
static void fetch_step(fetch_t *f)
{
    if (f->m->images[f->image].status == IMG_FAILED) {
        fetch_free(f);
        return;
    }
    reg_op_t *op = f->op;
    f->op = NULL;
    step_handlers[f->step](f, op, op ? reg_op_result(op) : 0);
    reg_op_destroy(&op);
}

/* ------------------------------------------------------------ the phase */

void inspect_start(mig_t *m)
{
    for (size_t i = 0; i < m->n_repos; i++) {
        run_repo_t *r = &m->repos[i];
        if (r->ignored)
            continue;
        if (r->ref) {
            root_add(m, i, r->ref, !strchr(r->ref, ':'));
            continue;
        }
        for (size_t j = 0; j < r->n_tags; j++)
            root_add(m, i, r->tags[j].name, true);
    }
}

void inspect_pump(mig_t *m)
{
    while (m->queue && m->inflight < RUN_INFLIGHT) {
        fetch_t *f = m->queue;
        m->queue = f->next;
        if (!m->queue)
            m->queue_tail = NULL;
        f->next = NULL;
        fetch_step(f);
    }
}

bool inspecting(const mig_t *m)
{
    return (m->queue || m->inflight) && !run_stopping(m);
}

void inspect_done(mig_t *m)
{
    for (size_t i = 0; i < m->n_repos; i++)
        discover_unlist(&m->repos[i]);
    if (m->journal_skipped)
        log_info("journal: %zu task(s) already done", m->journal_skipped);
    if (m->journal_tags)
        log_info("journal: %zu tag(s) unchanged at the source since it recorded them",
                 m->journal_tags);
    log_info("planned %zu image(s), %zu task(s) (plan memory %zu KiB)", m->n_images,
             plan_task_count(m->plan), plan_memory(m->plan) / 1024);
}

void inspect_all(mig_t *m)
{
    inspect_start(m);
    while (inspecting(m)) {
        endpoints_keep_fresh(m);
        inspect_pump(m);
        http_loop_run(m->loop, RUN_TICK_MS, NULL, 0);
        run_publish(m, "inspect", NULL, false);
    }
    inspect_done(m);
}
