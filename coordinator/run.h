/* run — the state one migration shares between its phases (private to the
 * coordinator's migration library; callers use mig.h).
 *
 * A run goes through its phases in this order, one file each:
 *   endpoints.c  the registries: credentials, TLS, the coordinator's clients
 *   discover.c   catalogs, tag listings (source and target), tag times
 *   select.c     the one selection path: regexes, newest N, platforms
 *   inspect.c    manifests, referrers, target checks, the plan (a handler
 *                per step of a fetch)
 *   locals.c     in-process agents
 *   mig.c        the run itself: dispatch's callbacks, outcomes, publishing
 *   verify.c     `ferry verify`
 * Everything here is single-threaded: in-process agents talk to the run only
 * through ZeroMQ. */
#ifndef FERRY_RUN_H
#define FERRY_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/http.h"
#include "common/reg.h"
#include "common/ref.h"
#include "common/strmap.h"
#include "coordinator/journal.h"
#include "coordinator/metrics.h"
#include "coordinator/mig.h"
#include "coordinator/plan.h"
#include "coordinator/progress.h"
#include "coordinator/report.h"
#include "coordinator/select.h"
#include "proto/proto.h"

#define RUN_INFLIGHT   32   /* registry API operations at once while discovering and inspecting */
#define RUN_MAX_DEPTH  4    /* nesting of indexes */
#define RUN_PAGE_SIZE  1000 /* names asked for per page of a catalog or tag listing */
#define RUN_CA_MAX     (1024 * 1024)
#define RUN_LOCALS_MAX 4 /* in-process agents at most (one per core) */
#define RUN_TICK_MS    100 /* longest wait of a loop: a stop request is seen within it */
/* Manifest bytes kept for the agents' put-manifest TASKs (a GET per tag
 * saved); beyond this the agents fetch them from the source. */
#define RUN_BODY_BUDGET (16 * 1024 * 1024)
/* Longest "host[:port]/repository[:tag|@digest]": a name within the spec's
 * limits always fits (names are checked where they enter). */
#define RUN_REF_TEXT_MAX (REF_NAME_MAX + 1 + DIGEST_STR_MAX + 1)
/* Longest journal key: a kind, the reference and a digest. */
#define RUN_KEY_MAX (16 + RUN_REF_TEXT_MAX + DIGEST_STR_MAX)

/* IMG_ABSENT: an optional image (a signature tag probed for) that the
 * source does not have: neither counted nor reported. */
enum image_status { IMG_PENDING = 0, IMG_MIGRATED, IMG_SKIPPED, IMG_FAILED, IMG_ABSENT };
enum fail_kind { FAIL_TRANSFER = 0, FAIL_MANIFEST };

/* Whether a target lets the run push (endpoints_check_push). */
enum push_state { PUSH_UNKNOWN = 0, PUSH_ALLOWED, PUSH_REFUSED };

/* A registry of the run. */
typedef struct run_ep {
    char *host;            /* "host[:port]" */
    char *ca_file;         /* --ca-file, NULL for the system's CAs */
    char *ca_pem;          /* its text, for agents on other machines */
    char *username;        /* NULL: anonymous */
    char *password;        /* wiped on destroy */
    bool plain_http;       /* --insecure: plain HTTP */
    bool tls_insecure;     /* --insecure: TLS without verification */
    bool insecure;         /* --insecure: plain HTTP when the registry turns out not to speak TLS */
    double qps;            /* --qps, shared by whoever asks */
    reg_t *reg;            /* the coordinator's client */
    bool no_referrers_api; /* answered 404 to the referrers API once */
    uint8_t push_state;    /* enum push_state, for a target */
    mig_renew_fn renew;    /* renews a login that expires, or NULL */
    void *renew_ud;
    double expires;        /* when the login expires (Unix seconds), 0 never */
    double lifetime;       /* its lifetime when given: renewal starts a quarter before */
    int64_t renewed_ms;    /* last renewal (http_now_ms), 0 never */
    /* As a target of a mirror: its catalog, so that repositories it lacks
     * need neither a tag listing nor a HEAD per tag (freed after listing). */
    reg_op_t *catalog_op;
    strmap_t *catalog; /* repository names, when the catalog could be read */
} run_ep_t;

/* What the target's tag listing said: a tag it does not list needs no HEAD
 * (a new repository costs one request, not one per tag). */
enum dst_state { DST_UNKNOWN = 0, DST_ABSENT, DST_LISTED };

/* A repository pair of the run. */
typedef struct run_repo {
    int src_ep, dst_ep;
    char *src_repo, *dst_repo;
    char *ref;              /* one image, or NULL */
    char *dst_tag;          /* ref pushed under another tag (a rename), or NULL */
    const selector_t *sel;  /* its selection (owned by the run) */
    select_tag_t *tags;     /* candidates, then the chosen tags */
    size_t n_tags;
    bool tags_given;        /* candidates came from the caller (with times) */
    bool ignored;           /* a pass for push events: not pushed, not looked at */
    reg_op_t *op;           /* the source's tag listing */
    char **listed;          /* every tag the source listed, sorted (before selection) */
    size_t n_listed;
    reg_op_t *dst_op;       /* the target's tag listing */
    uint8_t dst_state;      /* enum dst_state */
    char **dst_listed;      /* the target's tags, sorted (DST_LISTED; freed after inspection) */
    size_t n_dst_listed;
} run_repo_t;

/* One image asked for: a tag or digest of a repository pair. */
typedef struct run_image {
    uint32_t repo;                   /* index in m->repos */
    uint16_t src_ep, dst_ep;
    const char *src_repo, *dst_repo; /* interned */
    const char *ref;                 /* tag or digest asked for, interned */
    const char *dst_ref;             /* the same at the target (a rename's tag), interned */
    const char *digest;              /* source manifest digest, interned */
    uint8_t status;                  /* enum image_status (IMG_PENDING until inspected or done) */
    uint8_t fail_kind;               /* enum fail_kind */
    bool skip_note;                  /* skipped because of --no-overwrite */
    bool optional;                   /* probed for: absent at the source is no failure */
    char *error;                     /* why it failed, owned */
    plan_task_t *root;               /* the task whose success migrates it */
} run_image_t;

/* A catalog to discover: every repository under src_prefix. */
typedef struct run_catalog {
    int src_ep, dst_ep;
    char *src_prefix, *dst_prefix;
    const selector_t *sel; /* owned by the run */
} run_catalog_t;

typedef struct fetch fetch_t;

struct mig {
    mig_opts_t opts;
    http_loop_t *loop;    /* the coordinator's requests */
    const selector_t *sel; /* the run's selection (options); in selectors[] */
    selector_t **selectors; /* every selection of the run, owned */
    size_t n_selectors, cap_selectors;
    /* what to migrate */
    run_ep_t *eps;
    size_t n_eps, cap_eps;
    run_repo_t *repos;
    size_t n_repos, cap_repos;
    run_catalog_t *catalogs;
    size_t n_catalogs, cap_catalogs;
    run_image_t *images;
    size_t n_images, cap_images;
    /* inspection */
    strmap_t *selected;          /* "repo index|ref" of images already added */
    strmap_t *digest_roots;      /* "repo index|digest" -> the first root task of that content */
    strmap_t *bodies;            /* manifest digest -> run_body_t, for put-manifest TASKs */
    size_t bodies_bytes;         /* their bytes (at most RUN_BODY_BUDGET) */
    fetch_t *queue, *queue_tail; /* fetches not started */
    int inflight;                /* running operations */
    plan_t *plan;
    report_t *report;
    journal_t *journal;
    bool journal_first;     /* the journal held records at start: ask the source first */
    size_t journal_skipped; /* tasks the journal had done */
    size_t journal_tags;    /* tags the journal had recorded, not asked at the target */
    /* transfer */
    progress_t *progress;
    uint64_t blobs_copied, blobs_mounted, blobs_skipped, bytes_moved;
    uint64_t *running_bytes; /* per task id: bytes done so far (progress) */
    size_t cap_running;      /* entries of running_bytes */
    int agents;              /* agents connected (they share --qps) */
    metrics_agent_t *agent_stats; /* what each agent did, by first result; owned */
    size_t n_agent_stats, cap_agent_stats;
    int64_t *agent_first_ms, *agent_last_ms; /* per agent_stats entry: its span at work */
    int64_t transfer_ms; /* when the transfer started (waiting for agents), 0 before */
    int64_t sending_ms;  /* when the first task went out, 0 before */
    double started;          /* wall clock, seconds */
    int repos_failed;
    bool list_targets;    /* list every target repository's tags (verify) */
    bool verifying;       /* the run compares, it does not copy */
    bool refused;         /* the run cannot go on (push refused, agents missing): exit 2 */
    char **joined;        /* ids of the agents connected now (--listen), owned */
    size_t n_joined;
    int64_t published_ms; /* last write of the metrics and status files */
    int64_t collected_ms; /* last count for progress (publish) */
};

/* ---- endpoints.c */

/* Frees what an endpoint holds, wiping its password. */
void endpoints_free(run_ep_t *e);
/* The endpoint as a TASK carries it: --qps is per registry, so the agents
 * working at once share it; credentials only when with_creds (never to
 * agents that did not authenticate). 0 or FERRY_ENOMEM. */
int endpoints_fill(proto_endpoint_t *out, const run_ep_t *e, int agents, bool with_creds);
/* "host/repo", "host/repo:tag" or "host/repo@digest" into out (at least
 * RUN_REF_TEXT_MAX bytes). */
void run_ref_text(char *out, size_t size, const mig_t *m, int ep, const char *repo,
                  const char *ref);
/* Asks every registry GET /v2/ once, all at once, and logs one line per
 * registry that fails, naming the flag that fixes it (--insecure,
 * --ca-file, the credentials). Returns how many failed. */
int endpoints_check(mig_t *m);
/* Before the first task that writes to registry ep: starts (and cancels) an
 * upload to repo, so that refused push rights stop the run with one line
 * before anything moves (a run with nothing to push asks nothing). Asks
 * once per registry; FERRY_EAUTH when refused (logged), else 0. */
int endpoints_check_push(mig_t *m, int ep, const char *repo);
/* Renews endpoint ep's expiring login when it is due (or at once with
 * now, at most every few seconds). True when renewed. */
bool endpoints_renew(mig_t *m, int ep, bool now);
/* endpoints_renew for every endpoint that is due. */
void endpoints_keep_fresh(mig_t *m);
/* True when the run is asked to stop (SIGINT, SIGTERM). */
bool run_stopping(const mig_t *m);

/* ---- discover.c */

/* Lists the source catalogs asked for (adding their repositories), the
 * targets' catalogs beside them, then the tags of every repository on both
 * sides, and selects the tags to migrate (reading image times for --latest). */
void discover(mig_t *m);
/* Frees a repository's target listing (after inspection). */
void discover_unlist(run_repo_t *r);
/* Frees what a repository holds. */
void discover_repo_free(run_repo_t *r);
/* True when the source's listing of r holds tag (listed repositories only). */
bool discover_listed(const run_repo_t *r, const char *tag);
/* True when the target's listing says tag is not there. */
bool discover_target_lacks(const run_repo_t *r, const char *tag);

/* ---- inspect.c */

/* Queues the fetch of every selected image. */
void inspect_start(mig_t *m);
/* Starts queued fetches up to RUN_INFLIGHT at once. */
void inspect_pump(mig_t *m);
/* True while fetches are queued or running (and no stop is asked for). */
bool inspecting(const mig_t *m);
/* Inspection is over: the target listings go, and the log says what was planned. */
void inspect_done(mig_t *m);
/* Inspects everything before anything moves (--dry-run, --qps). */
void inspect_all(mig_t *m);
/* Adds an image of repository repo_index (once per ref); its index is
 * m->n_images - 1 when added. 0 or FERRY_ENOMEM. */
int inspect_image_add(mig_t *m, size_t repo_index, const char *ref);
/* The signature, attestation and SBOM tags cosign keeps for an image of
 * repository repo_index whose manifest is digest (sha256-<hex>.sig, .att,
 * .sbom) become images of their own, so they travel with the image whatever
 * the tag selection: those the repository's listing holds, or, without a
 * listing, each as an optional image. With queue, their fetches are queued
 * (a migration); without, only the images are added (verify). The first new
 * image's index is *first (m->n_images when none). */
void inspect_signatures(mig_t *m, size_t repo_index, const char *ref, const char *digest,
                        bool queue, size_t *first);
/* A put-manifest task finished for good: its kept bytes lose a reference. */
void inspect_body_release(mig_t *m, const char *digest);
/* The kept bytes of a manifest (NULL when not kept); *len set. */
const char *inspect_body(const mig_t *m, const char *digest, size_t *len);
/* Frees fetches still queued. */
void inspect_free(mig_t *m);
/* The journal's key of a task into out (RUN_KEY_MAX bytes). */
void run_journal_key(char *out, size_t size, const mig_t *m, const plan_task_t *t);
/* The journal's key of a manifest put under ref (a tag, or its digest). */
void run_manifest_key(char *out, size_t size, const mig_t *m, int dst_ep, const char *dst_repo,
                      const char *ref, const char *digest);
/* Records a journal key; a failure to write only costs a later run time. */
void run_journal_note(mig_t *m, const char *key);

/* ---- locals.c */

typedef struct locals locals_t;
/* Starts the in-process agents on endpoint: one per core up to
 * RUN_LOCALS_MAX, --jobs shared among them. NULL when none could start. */
locals_t *locals_start(void *zmq_ctx, const char *endpoint, const mig_opts_t *opts);
int locals_count(const locals_t *l);
/* Tells the agents to stop (they drain and say goodbye); NULL is fine. */
void locals_signal(locals_t *l);
/* Tells the agents to stop, waits for them and frees them; NULL is fine. */
void locals_stop(locals_t **self_p);

/* ---- mig.c */

/* Opens the journal and discovers what to migrate. 0, or 2 when the run
 * cannot start. */
int run_prepare(mig_t *m);

/* The outcome of an image now: its status when decided, else its root
 * task's (IMG_PENDING while it runs). */
int run_image_outcome(const run_image_t *img);
/* Shows progress, and rewrites the metrics and status files every
 * RUN_PUBLISH_MS (at once with force); d NULL when no dispatcher runs. */
struct dispatch;
void run_publish(mig_t *m, const char *phase, struct dispatch *d, bool force);
/* Marks an image failed (the first reason stays) and fails its root task. */
void run_image_fail(mig_t *m, size_t image, int kind, const char *why);

#endif
