/* report — migration outcomes, the atomic JSON report and the summary. */
#include "coordinator/report.h"

#include "common/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Longest file name shown in a message. */
#define REPORT_SHOW_MAX 200

static const char *const report_kinds[] = {"image", "repository", "namespace", "manifest"};
static const char *const report_statuses[] = {NULL, "migrated", "skipped", "failed"};

struct report {
    report_item_t *items; /* n items in the order added; owned */
    size_t n;             /* items used */
    size_t capacity;      /* items allocated */
    uint64_t blobs_copied, blobs_mounted, blobs_skipped, bytes; /* blob statistics */
    metrics_agent_t *agents; /* n_agents, in the order added; owned */
    size_t n_agents;
    double wait_s, transfer_s; /* -1 when not set */
};

report_t *report_new(void)
{
    report_t *r = calloc(1, sizeof(report_t));
    if (r)
        r->wait_s = r->transfer_s = -1;
    return r;
}

int report_add_agent(report_t *r, const metrics_agent_t *a)
{
    metrics_agent_t *v = realloc(r->agents, (r->n_agents + 1) * sizeof *v);
    if (!v)
        return FERRY_ENOMEM;
    r->agents = v;
    v[r->n_agents] = *a;
    if (!(v[r->n_agents].id = strdup(a->id ? a->id : "?")))
        return FERRY_ENOMEM;
    r->n_agents++;
    return 0;
}

void report_set_times(report_t *r, double wait_s, double transfer_s)
{
    r->wait_s = wait_s;
    r->transfer_s = transfer_s;
}

/* An agent's rate in bytes per second (0 when it moved nothing). */
static double report_agent_rate(const metrics_agent_t *a)
{
    return a->seconds > 0 ? (double)a->bytes / a->seconds : 0;
}

static void report_item_free(report_item_t *item)
{
    free(item->kind);
    free(item->source);
    free(item->target);
    free(item->digest);
    free(item->error);
}

void report_destroy(report_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_t *r = *self_p;
    for (size_t i = 0; i < r->n; i++)
        report_item_free(&r->items[i]);
    free(r->items);
    for (size_t i = 0; i < r->n_agents; i++)
        free(r->agents[i].id);
    free(r->agents);
    free(r);
    *self_p = NULL;
}

static bool report_kind_valid(const char *kind)
{
    for (size_t i = 0; kind && i < sizeof report_kinds / sizeof report_kinds[0]; i++)
        if (strcmp(kind, report_kinds[i]) == 0)
            return true;
    return false;
}

/* strdup that keeps NULL; *ok turns false when out of memory. */
static char *report_dup(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *copy = strdup(s);
    if (!copy)
        *ok = false;
    return copy;
}

int report_add(report_t *r, const char *kind, const char *source, const char *target,
               const char *digest, int status, const char *error)
{
    if (!report_kind_valid(kind) || !source || status < REPORT_MIGRATED || status > REPORT_FAILED)
        return FERRY_EINVAL;
    if (r->n == r->capacity) {
        size_t grown = r->capacity ? r->capacity * 2 : 64;
        report_item_t *items = realloc(r->items, grown * sizeof *items);
        if (!items)
            return FERRY_ENOMEM;
        r->items = items;
        r->capacity = grown;
    }
    bool ok = true;
    report_item_t item = {
        .kind = report_dup(kind, &ok),
        .source = report_dup(source, &ok),
        .target = report_dup(target, &ok),
        .digest = report_dup(digest, &ok),
        .status = status,
        .error = report_dup(error, &ok),
    };
    if (!ok) {
        report_item_free(&item);
        return FERRY_ENOMEM;
    }
    r->items[r->n++] = item;
    return 0;
}

void report_add_blob_stats(report_t *r, uint64_t copied, uint64_t mounted, uint64_t skipped,
                           uint64_t bytes)
{
    r->blobs_copied += copied;
    r->blobs_mounted += mounted;
    r->blobs_skipped += skipped;
    r->bytes += bytes;
}

void report_counts(const report_t *r, report_counts_t *out)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < r->n; i++) {
        const report_item_t *item = &r->items[i];
        if (strcmp(item->kind, "image") == 0) {
            if (item->status == REPORT_MIGRATED)
                out->migrated++;
            else if (item->status == REPORT_SKIPPED)
                out->skipped++;
            else
                out->failed++;
        } else if (item->status == REPORT_FAILED) {
            if (strcmp(item->kind, "repository") == 0)
                out->repo_failed++;
            else if (strcmp(item->kind, "namespace") == 0)
                out->namespace_failed++;
            else
                out->manifest_failed++;
        }
    }
    out->blobs_copied = r->blobs_copied;
    out->blobs_mounted = r->blobs_mounted;
    out->blobs_skipped = r->blobs_skipped;
    out->bytes = r->bytes;
}

size_t report_size(const report_t *r)
{
    return r->n;
}

const report_item_t *report_item(const report_t *r, size_t i)
{
    return i < r->n ? &r->items[i] : NULL;
}

/* ---- JSON ---- */

/* "2024-05-01T10:00:00.123Z" for a Unix time in seconds. */
static void report_iso_time(double t, char out[32])
{
    if (!isfinite(t) || t < 0 || t > 253402300799.0)
        t = 0;
    time_t seconds = (time_t)t;
    int millis = (int)((t - (double)seconds) * 1000.0);
    if (millis > 999)
        millis = 999;
    struct tm tm;
    gmtime_r(&seconds, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

static json_t *report_json_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *report_to_json(const report_t *r, double started, double finished)
{
    char started_text[32], finished_text[32];
    report_iso_time(started, started_text);
    report_iso_time(finished, finished_text);
    report_counts_t c;
    report_counts(r, &c);
    json_t *items = json_array();
    json_t *root = json_pack(
        "{s:i, s:s, s:s, s:f, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}}", "version", 1,
        "started", started_text, "finished", finished_text, "duration_s",
        finished >= started ? finished - started : 0.0, "counts", "migrated",
        (json_int_t)c.migrated, "skipped", (json_int_t)c.skipped, "failed", (json_int_t)c.failed,
        "repositories_failed", (json_int_t)c.repo_failed, "namespaces_failed",
        (json_int_t)c.namespace_failed, "manifests_failed", (json_int_t)c.manifest_failed,
        "blobs_copied", (json_int_t)c.blobs_copied, "blobs_mounted", (json_int_t)c.blobs_mounted,
        "blobs_skipped", (json_int_t)c.blobs_skipped, "bytes", (json_int_t)c.bytes);
    if (!items || !root || json_object_set(root, "items", items) != 0)
        goto fail;
    if (r->transfer_s >= 0 &&
        (json_object_set_new(root, "wait_s", json_real(r->wait_s)) != 0 ||
         json_object_set_new(root, "transfer_s", json_real(r->transfer_s)) != 0))
        goto fail;
    json_t *agents = json_array();
    if (!agents || json_object_set_new(root, "agents", agents) != 0)
        goto fail;
    for (size_t i = 0; i < r->n_agents; i++) {
        const metrics_agent_t *a = &r->agents[i];
        json_t *obj = json_pack("{s:s, s:I, s:I, s:I, s:f, s:f}", "id", a->id, "tasks",
                                (json_int_t)a->tasks, "failed", (json_int_t)a->failed, "bytes",
                                (json_int_t)a->bytes, "seconds", a->seconds, "rate_bps",
                                report_agent_rate(a));
        if (!obj || json_array_append_new(agents, obj) != 0)
            goto fail;
    }
    for (size_t i = 0; i < r->n; i++) {
        const report_item_t *item = &r->items[i];
        /* json_pack's "o" steals the references, even on failure. */
        json_t *obj = json_pack(
            "{s:s, s:s, s:o, s:o, s:s, s:o}", "kind", item->kind, "source", item->source, "target",
            report_json_string(item->target), "digest", report_json_string(item->digest), "status",
            report_statuses[item->status], "error", report_json_string(item->error));
        if (!obj || json_array_append_new(items, obj) != 0)
            goto fail;
    }
    json_decref(items);
    return root;
fail:
    json_decref(items);
    json_decref(root);
    return NULL;
}

int report_write_json(const report_t *r, const char *path, double started, double finished,
                      ferry_err_t *err)
{
    json_t *root = report_to_json(r, started, finished);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
    json_decref(root);
    if (!text)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory writing report %.*s",
                             REPORT_SHOW_MAX, path);
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (line) {
        text = line;
        text[len++] = '\n';
    }
    ferry_err_t why;
    int rc = afile_replace(path, text, len, 0644, &why);
    if (rc < 0)
        ferry_err_set(err, FERRY_EIO, "cannot write report %.*s: %s", REPORT_SHOW_MAX, path,
                      why.message);
    free(text);
    return rc;
}

typedef struct report_source {
    int fd;       /* file read */
    size_t total; /* bytes read so far */
    int error;    /* errno of a failed read */
    bool too_big; /* the file passed REPORT_FILE_MAX */
} report_source_t;

/* jansson's reader: stops with an error past REPORT_FILE_MAX. */
static size_t report_read_chunk(void *buffer, size_t size, void *data)
{
    report_source_t *src = data;
    for (;;) {
        ssize_t got = read(src->fd, buffer, size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            src->error = errno;
            return (size_t)-1;
        }
        src->total += (size_t)got;
        if (src->total > REPORT_FILE_MAX) {
            src->too_big = true;
            return (size_t)-1;
        }
        return (size_t)got;
    }
}

/* Reads an optional string member: NULL for absent or null. */
static int report_json_field(json_t *obj, const char *name, bool required, const char **out,
                             size_t index, const char *path, ferry_err_t *err)
{
    json_t *value = json_object_get(obj, name);
    *out = NULL;
    if (json_is_string(value)) {
        *out = json_string_value(value);
        return 0;
    }
    if (!required && (!value || json_is_null(value)))
        return 0;
    return ferry_err_set(err, FERRY_EINVAL, "%.*s: items[%zu].%s: must be a string",
                         REPORT_SHOW_MAX, path, index, name);
}

int report_load_json(const char *path, report_t **out, ferry_err_t *err)
{
    report_source_t src = {.fd = -1};
    json_t *root = NULL;
    report_t *r = NULL;
    int rc = 0;
    *out = NULL;
    src.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (src.fd < 0) {
        rc = ferry_err_set(err, FERRY_EIO, "cannot read %.*s: %s", REPORT_SHOW_MAX, path,
                           strerror(errno));
        goto out;
    }
    json_error_t jerr;
    root = json_load_callback(report_read_chunk, &src, JSON_REJECT_DUPLICATES, &jerr);
    if (src.too_big) {
        rc = ferry_err_set(err, FERRY_ETOOBIG, "%.*s is larger than %d bytes", REPORT_SHOW_MAX,
                           path, REPORT_FILE_MAX);
        goto out;
    }
    if (src.error) {
        rc = ferry_err_set(err, FERRY_EIO, "cannot read %.*s: %s", REPORT_SHOW_MAX, path,
                           strerror(src.error));
        goto out;
    }
    if (!root) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s:%d:%d: %s", REPORT_SHOW_MAX, path, jerr.line,
                           jerr.column, jerr.text);
        goto out;
    }
    json_t *version = json_object_get(root, "version");
    if (!json_is_integer(version) || json_integer_value(version) != 1) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: not a ferry report of version 1",
                           REPORT_SHOW_MAX, path);
        goto out;
    }
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items)) {
        rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: \"items\" must be a list", REPORT_SHOW_MAX,
                           path);
        goto out;
    }
    r = report_new();
    if (!r)
        goto oom;
    size_t i;
    json_t *obj;
    json_array_foreach(items, i, obj)
    {
        if (!json_is_object(obj)) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: items[%zu]: must be an object",
                               REPORT_SHOW_MAX, path, i);
            goto out;
        }
        const char *kind, *source, *target, *digest, *status_text, *error;
        rc = report_json_field(obj, "kind", true, &kind, i, path, err);
        if (!rc)
            rc = report_json_field(obj, "source", true, &source, i, path, err);
        if (!rc)
            rc = report_json_field(obj, "target", false, &target, i, path, err);
        if (!rc)
            rc = report_json_field(obj, "digest", false, &digest, i, path, err);
        if (!rc)
            rc = report_json_field(obj, "status", true, &status_text, i, path, err);
        if (!rc)
            rc = report_json_field(obj, "error", false, &error, i, path, err);
        if (rc)
            goto out;
        if (!report_kind_valid(kind)) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: items[%zu].kind: unknown kind '%.40s'",
                               REPORT_SHOW_MAX, path, i, kind);
            goto out;
        }
        int status = 0;
        for (int s = REPORT_MIGRATED; s <= REPORT_FAILED; s++)
            if (strcmp(status_text, report_statuses[s]) == 0)
                status = s;
        if (!status) {
            rc = ferry_err_set(err, FERRY_EINVAL, "%.*s: items[%zu].status: unknown status '%.40s'",
                               REPORT_SHOW_MAX, path, i, status_text);
            goto out;
        }
        if (report_add(r, kind, source, target, digest, status, error) != 0)
            goto oom;
    }
    *out = r;
    r = NULL;
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory reading %.*s", REPORT_SHOW_MAX, path);
out:
    report_destroy(&r);
    json_decref(root);
    if (src.fd >= 0)
        close(src.fd);
    return rc;
}

/* ---- summary ---- */

static void report_print_bytes(FILE *out, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t unit = 0;
    while (bytes >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        bytes /= 1024;
        unit++;
    }
    if (unit == 0)
        fprintf(out, "%.0f B", bytes);
    else
        fprintf(out, "%.1f %s", bytes, units[unit]);
}

static void report_print_duration(FILE *out, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    if (seconds < 60) {
        fprintf(out, "%.1fs", seconds);
        return;
    }
    unsigned long total = (unsigned long)(seconds + 0.5);
    if (total >= 3600)
        fprintf(out, "%luh%02lum%02lus", total / 3600, total / 60 % 60, total % 60);
    else
        fprintf(out, "%lum%02lus", total / 60, total % 60);
}

/* Prints text with control characters (from registries' error bodies)
 * shown as '?', so a message cannot rewrite the operator's terminal. */
static void report_print_text(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

void report_print_summary(const report_t *r, FILE *out, double duration_s)
{
    report_counts_t c;
    report_counts(r, &c);
    fprintf(out, "Images: %zu migrated, %zu already present, %zu failed\n", c.migrated, c.skipped,
            c.failed);
    if (c.repo_failed || c.namespace_failed || c.manifest_failed)
        fprintf(
            out,
            "Not started: %zu repositories (tag listing failed), %zu repositories (namespace not "
            "created), %zu images (manifest not readable)\n",
            c.repo_failed, c.namespace_failed, c.manifest_failed);
    fprintf(out, "Blobs: %llu copied, %llu mounted, %llu already present\n",
            (unsigned long long)c.blobs_copied, (unsigned long long)c.blobs_mounted,
            (unsigned long long)c.blobs_skipped);
    /* The rate counts the transfer's own time, not the wait for agents. */
    double moving = r->transfer_s >= 0 ? r->transfer_s : duration_s;
    fputs("Transferred: ", out);
    report_print_bytes(out, (double)c.bytes);
    fputs(" in ", out);
    report_print_duration(out, moving);
    if (moving > 0) {
        fputs(" (", out);
        report_print_bytes(out, (double)c.bytes / moving);
        fputs("/s)", out);
    }
    if (r->wait_s >= 0.05) {
        fputs(", after ", out);
        report_print_duration(out, r->wait_s);
        fputs(" waiting for agents", out);
    }
    fputc('\n', out);
    for (size_t i = 0; i < r->n_agents; i++) {
        const metrics_agent_t *a = &r->agents[i];
        fputs("Agent ", out);
        report_print_text(out, a->id);
        fprintf(out, ": %llu tasks, %llu failed, ", (unsigned long long)a->tasks,
                (unsigned long long)a->failed);
        report_print_bytes(out, (double)a->bytes);
        fputs(" in ", out);
        report_print_duration(out, a->seconds);
        fputs(" (", out);
        report_print_bytes(out, report_agent_rate(a));
        fputs("/s)\n", out);
    }
    size_t failures = c.failed + c.repo_failed + c.namespace_failed + c.manifest_failed;
    if (failures)
        fprintf(out, "Failures (%zu):\n", failures);
    for (size_t i = 0; i < r->n; i++) {
        const report_item_t *item = &r->items[i];
        if (item->status != REPORT_FAILED)
            continue;
        fprintf(out, "  %s ", item->kind);
        report_print_text(out, item->source);
        if (item->target) {
            fputs(" -> ", out);
            report_print_text(out, item->target);
        }
        fputs(": ", out);
        report_print_text(out, item->error ? item->error : "unknown error");
        fputc('\n', out);
    }
    fprintf(out,
            "################# Finished, %zu transfer jobs failed, %zu normal urlPair generate "
            "failed, %zu "
            "jobs generate failed #################\n",
            c.failed, c.repo_failed + c.namespace_failed, c.manifest_failed);
}
