/* metrics — Prometheus textfile and JSON status of a running migration. */
#include "coordinator/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/afile.h"
#include "common/buf.h"
#include "common/http.h"
#include "common/log.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Replaces path with data: a temporary file beside it, then rename. */
/* The metrics and status files are replaced whole (common/afile). */
static int write_atomic(const char *path, const char *data, size_t len, ferry_err_t *err)
{
    return afile_replace(path, data, len, 0644, err);
}

/* An agent id as a Prometheus label value: backslash, quote and newline
 * escaped (ids are checked where they enter; this keeps the format whole). */
static void metrics_label(fbuf_t *b, const char *id)
{
    for (const char *p = id; *p; p++) {
        if (*p == '\\' || *p == '"')
            fbuf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            fbuf_printf(b, "\\n");
        else
            fbuf_printf(b, "%c", *p);
    }
}

/* The per-agent series: tasks, failed attempts, bytes and rate, labelled by agent. */
static void metrics_agents_prometheus(fbuf_t *b, const metrics_snapshot_t *s)
{
    static const char *const names[] = {"ferry_agent_tasks_total", "ferry_agent_failed_total",
                                        "ferry_agent_bytes_total",
                                        "ferry_agent_rate_bytes_per_second"};
    static const char *const help[] = {"Tasks an agent finished.",
                                       "Task attempts that failed on an agent.",
                                       "Blob bytes an agent moved.",
                                       "An agent's rate over its time at work."};
    static const char *const types[] = {"counter", "counter", "counter", "gauge"};
    for (size_t k = 0; k < 4 && s->n_agent_list; k++) {
        fbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", names[k], help[k], names[k], types[k]);
        for (size_t i = 0; i < s->n_agent_list; i++) {
            const metrics_agent_t *a = &s->agent_list[i];
            double v = k == 0   ? (double)a->tasks
                       : k == 1 ? (double)a->failed
                       : k == 2 ? (double)a->bytes
                                : (a->seconds > 0 ? (double)a->bytes / a->seconds : 0);
            fbuf_printf(b, "%s{agent=\"", names[k]);
            metrics_label(b, a->id);
            fbuf_printf(b, "\"} %.0f\n", v);
        }
    }
    fbuf_printf(b,
                "# HELP ferry_wait_seconds Time the transfer waited for agents.\n"
                "# TYPE ferry_wait_seconds gauge\nferry_wait_seconds %.3f\n"
                "# HELP ferry_transfer_seconds Time since the first task went out.\n"
                "# TYPE ferry_transfer_seconds gauge\nferry_transfer_seconds %.3f\n",
                s->wait_s, s->transfer_s);
}

/* Continuous replication's series (--watch). */
static void metrics_watch_prometheus(fbuf_t *b, const metrics_watch_t *w)
{
    fbuf_printf(b,
                "# HELP ferry_passes_total Passes run by --watch.\n"
                "# TYPE ferry_passes_total counter\nferry_passes_total %llu\n"
                "# HELP ferry_last_pass_seconds Duration of the last finished pass.\n"
                "# TYPE ferry_last_pass_seconds gauge\nferry_last_pass_seconds %.3f\n"
                "# HELP ferry_events_total Push events accepted on --http.\n"
                "# TYPE ferry_events_total counter\nferry_events_total %llu\n"
                "# HELP ferry_last_event_time_seconds When the last push event came (Unix time).\n"
                "# TYPE ferry_last_event_time_seconds gauge\nferry_last_event_time_seconds %.3f\n"
                "# HELP ferry_replication_lag_seconds Age of the oldest source change not yet at "
                "the target.\n"
                "# TYPE ferry_replication_lag_seconds gauge\nferry_replication_lag_seconds %.3f\n",
                (unsigned long long)w->passes, w->last_pass_s, (unsigned long long)w->events,
                w->last_event, w->lag_s);
}

int metrics_render_prometheus(fbuf_t *out, const metrics_snapshot_t *s)
{
    fbuf_t b;
    fbuf_init(&b, 1024 * 1024);
    double rate = s->elapsed_s > 0 ? (double)s->bytes_moved / s->elapsed_s : 0;
    fbuf_printf(&b,
                "# HELP ferry_bytes_transferred_total Blob bytes transferred to targets.\n"
                "# TYPE ferry_bytes_transferred_total counter\n"
                "ferry_bytes_transferred_total %llu\n"
                "# HELP ferry_bytes_planned Blob bytes the plan copies.\n"
                "# TYPE ferry_bytes_planned gauge\n"
                "ferry_bytes_planned %llu\n"
                "# HELP ferry_blobs_total Blobs finished, by outcome.\n"
                "# TYPE ferry_blobs_total counter\n"
                "ferry_blobs_total{outcome=\"copied\"} %llu\n"
                "ferry_blobs_total{outcome=\"mounted\"} %llu\n"
                "ferry_blobs_total{outcome=\"skipped\"} %llu\n"
                "# HELP ferry_images Images of the migration, by status.\n"
                "# TYPE ferry_images gauge\n"
                "ferry_images{status=\"total\"} %zu\n"
                "ferry_images{status=\"migrated\"} %zu\n"
                "ferry_images{status=\"skipped\"} %zu\n"
                "ferry_images{status=\"failed\"} %zu\n"
                "# HELP ferry_repositories_failed Repositories whose tags could not be listed.\n"
                "# TYPE ferry_repositories_failed gauge\n"
                "ferry_repositories_failed %zu\n"
                "# HELP ferry_tasks Tasks of the plan, by state.\n"
                "# TYPE ferry_tasks gauge\n"
                "ferry_tasks{state=\"total\"} %zu\n"
                "ferry_tasks{state=\"done\"} %zu\n"
                "ferry_tasks{state=\"failed\"} %zu\n"
                "ferry_tasks{state=\"running\"} %zu\n"
                "# HELP ferry_agents Agents connected.\n"
                "# TYPE ferry_agents gauge\n"
                "ferry_agents %d\n"
                "# HELP ferry_throughput_bytes_per_second Average transfer rate since the start.\n"
                "# TYPE ferry_throughput_bytes_per_second gauge\n"
                "ferry_throughput_bytes_per_second %.0f\n"
                "# HELP ferry_start_time_seconds When the migration started.\n"
                "# TYPE ferry_start_time_seconds gauge\n"
                "ferry_start_time_seconds %.3f\n",
                (unsigned long long)s->bytes_moved, (unsigned long long)s->bytes_planned,
                (unsigned long long)s->blobs_copied, (unsigned long long)s->blobs_mounted,
                (unsigned long long)s->blobs_skipped, s->images_total, s->images_migrated,
                s->images_skipped, s->images_failed, s->repos_failed, s->tasks_total, s->tasks_done,
                s->tasks_failed, s->tasks_running, s->agents, rate, s->started);
    metrics_agents_prometheus(&b, s);
    if (s->watch)
        metrics_watch_prometheus(&b, s->watch);
    *out = b;
    return b.data ? 0 : FERRY_ENOMEM;
}

int metrics_write_prometheus(const char *path, const metrics_snapshot_t *s, ferry_err_t *err)
{
    fbuf_t b;
    int rc = metrics_render_prometheus(&b, s) == 0
                 ? write_atomic(path, b.data, b.len, err)
                 : ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    fbuf_free(&b);
    return rc;
}

char *metrics_render_status(const metrics_snapshot_t *s, size_t *len_out)
{
    json_t *doc = json_pack(
        "{s:i, s:i, s:s, s:f, s:f, s:f, s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, "
        "s:{s:I, s:I, s:I, s:I}, s:{s:I, s:I}, s:i}",
        "version", 1, "pid", (int)getpid(), "phase", s->phase, "started", s->started, "updated",
        now_s(), "elapsed_s", s->elapsed_s, "images", "total", (json_int_t)s->images_total,
        "migrated", (json_int_t)s->images_migrated, "skipped", (json_int_t)s->images_skipped,
        "failed", (json_int_t)s->images_failed, "tasks", "total", (json_int_t)s->tasks_total,
        "done", (json_int_t)s->tasks_done, "failed", (json_int_t)s->tasks_failed, "running",
        (json_int_t)s->tasks_running, "repositories_failed", (json_int_t)s->repos_failed, "blobs",
        "copied", (json_int_t)s->blobs_copied, "mounted", (json_int_t)s->blobs_mounted, "skipped",
        (json_int_t)s->blobs_skipped, "planned_bytes", (json_int_t)s->bytes_planned, "bytes",
        "moved", (json_int_t)s->bytes_moved, "planned", (json_int_t)s->bytes_planned, "agents",
        s->agents);
    json_t *agents = json_array();
    for (size_t i = 0; doc && agents && i < s->n_agent_list; i++) {
        const metrics_agent_t *a = &s->agent_list[i];
        json_array_append_new(agents, json_pack("{s:s, s:I, s:I, s:I, s:f}", "id", a->id, "tasks",
                                                (json_int_t)a->tasks, "failed",
                                                (json_int_t)a->failed, "bytes",
                                                (json_int_t)a->bytes, "seconds", a->seconds));
    }
    if (doc && agents) {
        json_object_set(doc, "agent_list", agents);
        json_object_set_new(doc, "wait_s", json_real(s->wait_s));
        json_object_set_new(doc, "transfer_s", json_real(s->transfer_s));
    }
    json_decref(agents);
    if (doc && s->watch)
        json_object_set_new(
            doc, "watch",
            json_pack("{s:I, s:f, s:I, s:f, s:f}", "passes", (json_int_t)s->watch->passes,
                      "last_pass_s", s->watch->last_pass_s, "events",
                      (json_int_t)s->watch->events, "last_event", s->watch->last_event,
                      "lag_s", s->watch->lag_s));
    char *text = doc ? json_dumps(doc, JSON_INDENT(2)) : NULL;
    json_decref(doc);
    if (!text)
        return NULL;
    size_t len = strlen(text);
    char *line = realloc(text, len + 2);
    if (line) {
        text = line;
        text[len++] = '\n';
        text[len] = '\0';
    }
    *len_out = len;
    return text;
}

int metrics_write_status(const char *path, const metrics_snapshot_t *s, ferry_err_t *err)
{
    size_t len = 0;
    char *text = metrics_render_status(s, &len);
    if (!text)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    int rc = write_atomic(path, text, len, err);
    free(text);
    return rc;
}

static json_int_t get_int(json_t *doc, const char *group, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(doc, group), key));
}

/* GET URL/status (a coordinator's --http): the status document, or NULL
 * with jerr->text saying why. */
static json_t *metrics_status_get(const char *url, json_error_t *jerr)
{
    char full[1024];
    snprintf(full, sizeof full, "%s%s", url, url[strlen(url) - 1] == '/' ? "status" : "/status");
    http_loop_t *loop = http_loop_new();
    http_req_t *req = http_req_new("GET", full);
    json_t *doc = NULL;
    snprintf(jerr->text, sizeof jerr->text, "out of memory");
    if (req)
        http_req_timeouts(req, 5, 10);
    if (loop && req && http_req_start(loop, req, NULL, NULL) == 0) {
        while (http_loop_pending(loop) > 0)
            http_loop_run(loop, 1000, NULL, 0);
        if (http_req_result(req) < 0)
            snprintf(jerr->text, sizeof jerr->text, "%s", http_req_error(req));
        else if (http_req_status(req) != 200)
            snprintf(jerr->text, sizeof jerr->text, "HTTP %d", http_req_status(req));
        else
            doc = json_loadb(http_req_body(req)->data, http_req_body(req)->len, 0, jerr);
    }
    http_req_destroy(&req);
    http_loop_destroy(&loop);
    return doc;
}

int metrics_status_main(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        FILE *out = argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr;
        fprintf(out,
                "Usage: ferry status STATUS_FILE | http://HOST:PORT\n"
                "\n"
                "Shows the progress of a migration started with --status-file STATUS_FILE\n"
                "(or of a --watch coordinator's --http endpoint):\n"
                "its phase, images, tasks, bytes and agents, and whether the coordinator that\n"
                "writes the file is still running. Exit status: 0 running or finished without\n"
                "failures; 1 failures, or the coordinator stopped before finishing; 2 the file\n"
                "cannot be read.\n");
        return out == stdout ? 0 : 2;
    }
    json_error_t jerr;
    json_t *doc = strncmp(argv[1], "http://", 7) == 0 || strncmp(argv[1], "https://", 8) == 0
                      ? metrics_status_get(argv[1], &jerr)
                      : json_load_file(argv[1], 0, &jerr);
    if (!json_is_object(doc)) {
        fprintf(stderr, "ferry: cannot read the status file %s: %s\n", argv[1], jerr.text);
        json_decref(doc);
        return 2;
    }
    const char *phase = json_string_value(json_object_get(doc, "phase"));
    int pid = (int)json_integer_value(json_object_get(doc, "pid"));
    double updated = json_real_value(json_object_get(doc, "updated"));
    double elapsed = json_real_value(json_object_get(doc, "elapsed_s"));
    bool finished = phase && (strcmp(phase, "finished") == 0 || strcmp(phase, "interrupted") == 0);
    /* An endpoint that answered is a coordinator running (its pid is another host's). */
    bool remote = strncmp(argv[1], "http", 4) == 0 && strstr(argv[1], "://");
    bool alive = remote || (pid > 0 && (kill(pid, 0) == 0 || errno == EPERM));
    json_int_t moved = get_int(doc, "bytes", "moved"), planned = get_int(doc, "bytes", "planned");
    json_int_t failed = get_int(doc, "images", "failed") +
                        json_integer_value(json_object_get(doc, "repositories_failed"));
    printf("phase:   %s%s\n", phase ? phase : "?",
           finished ? ""
           : alive  ? " (coordinator running)"
                    : " (coordinator not running)");
    printf("updated: %.0f s ago; elapsed %.0f s\n", now_s() - updated, elapsed);
    printf(
        "images:  %lld total, %lld migrated, %lld already present, %lld failed\n",
        (long long)get_int(doc, "images", "total"), (long long)get_int(doc, "images", "migrated"),
        (long long)get_int(doc, "images", "skipped"), (long long)get_int(doc, "images", "failed"));
    printf("tasks:   %lld of %lld done, %lld running, %lld failed\n",
           (long long)get_int(doc, "tasks", "done"), (long long)get_int(doc, "tasks", "total"),
           (long long)get_int(doc, "tasks", "running"), (long long)get_int(doc, "tasks", "failed"));
    printf("blobs:   %lld copied, %lld mounted, %lld already present\n",
           (long long)get_int(doc, "blobs", "copied"), (long long)get_int(doc, "blobs", "mounted"),
           (long long)get_int(doc, "blobs", "skipped"));
    double moving = json_real_value(json_object_get(doc, "transfer_s"));
    if (moving <= 0)
        moving = elapsed;
    printf("bytes:   %.1f of %.1f MiB, %.1f MiB/s\n", (double)moved / 1048576.0,
           (double)planned / 1048576.0, moving > 0 ? (double)moved / moving / 1048576.0 : 0.0);
    printf("agents:  %lld\n", (long long)json_integer_value(json_object_get(doc, "agents")));
    json_t *list = json_object_get(doc, "agent_list");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        double secs = json_real_value(json_object_get(a, "seconds"));
        json_int_t bytes = json_integer_value(json_object_get(a, "bytes"));
        char id[128];
        const char *raw = json_string_value(json_object_get(a, "id"));
        log_escape(id, sizeof id, raw ? raw : "?");
        printf("  %s: %lld tasks, %lld failed, %.1f MiB, %.1f MiB/s\n", id,
               (long long)json_integer_value(json_object_get(a, "tasks")),
               (long long)json_integer_value(json_object_get(a, "failed")),
               (double)bytes / 1048576.0, secs > 0 ? (double)bytes / secs / 1048576.0 : 0.0);
    }
    json_t *watch = json_object_get(doc, "watch");
    if (watch)
        printf("watch:   %lld passes (the last %.1f s), %lld push events, replication lag %.1f s\n",
               (long long)json_integer_value(json_object_get(watch, "passes")),
               json_real_value(json_object_get(watch, "last_pass_s")),
               (long long)json_integer_value(json_object_get(watch, "events")),
               json_real_value(json_object_get(watch, "lag_s")));
    bool interrupted = phase && strcmp(phase, "interrupted") == 0;
    json_decref(doc); /* phase points into doc */
    return failed > 0 || (!finished && !alive) || interrupted ? 1 : 0;
}
