/* report — the outcome of a migration: one item per image, and per
 * repository, namespace or manifest that failed before any image could be
 * tried; blob statistics; the JSON report file and the human summary whose
 * last line is image-transfer's, which users' scripts parse. Not thread safe. */
#ifndef FERRY_REPORT_H
#define FERRY_REPORT_H

#include "common/err.h"
#include "coordinator/metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Largest JSON report read back. */
#define REPORT_FILE_MAX (256 * 1024 * 1024)

typedef struct report report_t;

enum report_status { REPORT_MIGRATED = 1, REPORT_SKIPPED, REPORT_FAILED };

/* One outcome. Kinds:
 *   "image"      a tag or digest: migrated, skipped (already there) or failed;
 *   "repository" a source repository whose tag expansion failed;
 *   "namespace"  a source repository dropped because its target namespace
 *                could not be created (one item per repository, so none is
 *                lost from the counts);
 *   "manifest"   an image whose manifest could not be read to start a transfer. */
typedef struct report_item {
    char *kind;   /* one of the kinds above; owned */
    char *source; /* source reference or repository; owned */
    char *target; /* target reference or repository, NULL when none; owned */
    char *digest; /* manifest digest, NULL when unknown; owned */
    int status;   /* enum report_status */
    char *error;  /* reason of a failure, NULL otherwise; owned */
} report_item_t;

typedef struct report_counts {
    size_t migrated, skipped, failed;                      /* images */
    size_t repo_failed, manifest_failed, namespace_failed; /* failed items of the other kinds */
    uint64_t blobs_copied, blobs_mounted, blobs_skipped, bytes;
} report_counts_t;

/* Returns a new, empty report, or NULL when out of memory. */
report_t *report_new(void);

/* Frees the report; accepts NULL and a NULL *self_p, and nulls the pointer. */
void report_destroy(report_t **self_p);

/* Adds an item; all strings are copied, and target, digest and error may be
 * NULL. A failed item should carry an error. 0; FERRY_EINVAL for an unknown
 * kind or status or a NULL source; FERRY_ENOMEM. */
int report_add(report_t *r, const char *kind, const char *source, const char *target,
               const char *digest, int status, const char *error);

/* Adds to the blob statistics. */
void report_add_blob_stats(report_t *r, uint64_t copied, uint64_t mounted, uint64_t skipped,
                           uint64_t bytes);

/* Adds what one agent did (copied). 0 or FERRY_ENOMEM. */
int report_add_agent(report_t *r, const metrics_agent_t *a);
/* The run's time waiting for agents, and its transfer time after it. */
void report_set_times(report_t *r, double wait_s, double transfer_s);

/* Fills *out: images by status, failed items of the other kinds, blobs. */
void report_counts(const report_t *r, report_counts_t *out);

size_t report_size(const report_t *r);

/* The i-th item in the order added, borrowed from r; NULL when i is out of
 * range. */
const report_item_t *report_item(const report_t *r, size_t i);

/* Writes the JSON report to path atomically (a temporary file in the same
 * directory, fsync, rename, fsync of the directory):
 *   {"version": 1, "started": ISO, "finished": ISO, "duration_s": N,
 *    "counts": {"migrated", "skipped", "failed", "repositories_failed",
 *               "namespaces_failed", "manifests_failed", "blobs_copied",
 *               "blobs_mounted", "blobs_skipped", "bytes"},
 *    "items": [{"kind", "source", "target", "digest",
 *               "status": "migrated|skipped|failed", "error"}, ...]}
 * started and finished are Unix times in seconds; absent strings are null.
 * 0, FERRY_EIO (nothing is left behind: an old report stays as it was),
 * FERRY_ENOMEM. */
int report_write_json(const report_t *r, const char *path, double started, double finished,
                      ferry_err_t *err);

/* Writes the human summary to out: image counts, blobs, bytes, time and rate,
 * then every failure with its reason, and as the very last line exactly
 *   "################# Finished, X transfer jobs failed, Y normal urlPair
 *    generate failed, Z jobs generate failed #################" (one line)
 * with X failed images, Y failed repositories plus repositories in namespaces
 * that could not be created, Z manifests that could not be read. */
void report_print_summary(const report_t *r, FILE *out, double duration_s);

/* Reads a report written by report_write_json back: its items only (counts
 * and blob statistics start at zero). On success *out is new and the caller
 * destroys it; on failure *out is NULL: FERRY_EIO ("cannot read FILE: ..."),
 * FERRY_ETOOBIG above REPORT_FILE_MAX, FERRY_EINVAL ("FILE:LINE:COLUMN: ..."
 * for JSON syntax, "FILE: items[I].FIELD: ..." otherwise), FERRY_ENOMEM. */
int report_load_json(const char *path, report_t **out, ferry_err_t *err);

#endif
