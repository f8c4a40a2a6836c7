/* mig — one migration: discover repositories and tags, inspect manifests,
 * plan the task graph, dispatch it to agents, and report.
 *
 * The command line (main.c) describes the migration with endpoints and
 * repository pairs; mig_run() does the rest and returns the exit code. */
#ifndef FERRY_MIG_H
#define FERRY_MIG_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct mig mig_t;

enum mig_progress {
    MIG_PROGRESS_AUTO = 0,
    MIG_PROGRESS_PLAIN,
    MIG_PROGRESS_JSON,
    MIG_PROGRESS_NONE
};

typedef struct mig_endpoint_opts {
    const char *host; /* "host[:port]" */
    bool plain_http;   /* plain HTTP */
    bool tls_insecure; /* TLS without verification */
    bool insecure;     /* --insecure: TLS without verification, or plain HTTP where the
                          registry does not speak TLS (found by its first answer) */
    const char *ca_file;  /* --ca-file */
    const char *username; /* NULL = anonymous */
    const char *password;
    double qps; /* --qps */
} mig_endpoint_opts_t;

/* A pass for push events: only these source repositories, and in each only
 * the pushed tags (a NULL tag: every selected tag of it). Borrowed. */
typedef struct mig_only {
    char *const *repos;
    char *const *tags;
    size_t n;
} mig_only_t;

typedef struct metrics_snapshot metrics_snapshot_t;

typedef struct mig_opts {
    int jobs;                    /* transfers at once with in-process agents (default 8) */
    const char *listen;          /* remote agents' endpoint; NULL = in-process agents */
    int wait_agents;             /* with listen: agents to wait for before dispatching */
    int agents_timeout_s;        /* with listen: give up (exit 2) when they are not there by then */
    const char *server_key_file; /* CURVE key pair of the coordinator */
    const char *allow_keys_file; /* admitted agent public keys */
    const char *journal;         /* --journal */
    const char *report;          /* --report */
    int retries;                 /* attempts per task after the first (default 3) */
    bool no_overwrite;           /* leave target tags that differ */
    bool dry_run;                /* print the plan, write nothing */
    int progress;                /* enum mig_progress */
    const char *include;         /* tag regex */
    const char *exclude;
    int latest;       /* newest N tags, 0 = all */
    char **platforms; /* os/arch[/variant] wanted, none = all (keeps indexes) */
    size_t n_platforms;
    int heartbeat_ms; /* agent liveness interval (default 1000) */
    int chunk_mib; /* in-process agents: one PUT up to this size, PATCHes of it above (0 = 128) */
    const char *metrics_file;    /* Prometheus text format, rewritten while running */
    const char *status_file;     /* JSON status for `ferry status`, rewritten while running */
    const char *run_key;         /* identifies the migration in the journal */
    bool strict;                 /* verify: tags only at the target are differences */
    bool insecure_control;       /* --listen without authentication: TASKs carry no credentials */
    const mig_only_t *only;      /* a pass for push events, NULL for a whole pass */
    bool pass_summary;           /* --watch: one summary line, no banner */
    /* --watch: called with the run's figures as the metrics file gets them */
    void (*on_publish)(void *ud, const metrics_snapshot_t *s);
    void *publish_ud;
    volatile sig_atomic_t *stop; /* set on SIGINT/SIGTERM */
} mig_opts_t;

mig_t *mig_new(const mig_opts_t *opts, ferry_err_t *err);
void mig_destroy(mig_t **self_p);

/* Registers a registry; returns its index (>= 0) or a FERRY_E* code. The
 * same host registered twice returns the first index. */
int mig_endpoint(mig_t *m, const mig_endpoint_opts_t *ep, ferry_err_t *err);
/* A login that expires (a temporary instance token): called ahead of its
 * expiry, and when an agent's task is refused for it, for a new login:
 * 0 with *user and *pass (new strings the run takes) and *expires (Unix
 * seconds), or a FERRY_E* code. */
typedef int (*mig_renew_fn)(void *ud, char **user, char **pass, double *expires);
/* Endpoint ep's login expires at `expires` (Unix seconds); renew keeps it
 * fresh, for the coordinator and for the agents' next tasks. */
void mig_endpoint_expires(mig_t *m, int ep, double expires, mig_renew_fn renew, void *ud);

/* A tag and platform selection; strings are borrowed and must outlive the
 * migration. NULL fields select everything. */
typedef struct mig_select {
    const char *include; /* tag regex */
    const char *exclude;
    int latest;             /* newest N tags, 0 = all */
    char *const *platforms; /* os/arch[/variant], none = all platforms (keeps indexes) */
    size_t n_platforms;
} mig_select_t;

/* One repository pair. ref: a tag or digest (one image), or NULL for every
 * tag that passes the selection (sel, or the run's options when NULL);
 * dst_tag: the tag ref is pushed under at the target (a rename), NULL for
 * ref's own tag. */
int mig_add_repo(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                 const char *ref, const char *dst_tag, const mig_select_t *sel, ferry_err_t *err);
/* A candidate tag found by the caller (a rules file, the cloud API). */
typedef struct mig_tag {
    const char *name; /* borrowed */
    int64_t time;     /* push or creation time, Unix seconds; -1 unknown (read
                         from the image when the newest N needs it) */
} mig_tag_t;

/* A repository pair whose candidate tags the caller found; they take the
 * same selection path as listed tags (sel, or the run's options when NULL). */
int mig_add_repo_tags(mig_t *m, int src_ep, const char *src_repo, int dst_ep, const char *dst_repo,
                      const mig_tag_t *tags, size_t n_tags, const mig_select_t *sel,
                      ferry_err_t *err);
/* Every repository of the source catalog under src_prefix ("" = all), mapped
 * to dst_prefix + the rest of its path, with sel as for mig_add_repo. */
int mig_add_catalog(mig_t *m, int src_ep, const char *src_prefix, int dst_ep,
                    const char *dst_prefix, const mig_select_t *sel, ferry_err_t *err);
/* Records a failure found before the migration (e.g. a namespace that could
 * not be created): kind "repository" or "namespace". */
int mig_add_failure(mig_t *m, const char *kind, const char *source, const char *target,
                    const char *error);

/* Runs the migration. Returns the exit code: 0 when everything asked for was
 * migrated or already there, 1 when something failed. */
int mig_run(mig_t *m);
/* Prints the summary of a finished run, image-transfer's banner last (for
 * --watch, after its last pass). */
void mig_print_summary(mig_t *m);

/* Compares every selected tag's digest on both sides (and the signature
 * tags of each), lists differences, and the tags only the target has
 * ("extra": differences with opts.strict); 0 when there is none. */
int mig_verify(mig_t *m);

#endif
