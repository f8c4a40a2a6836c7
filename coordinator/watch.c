/* watch — passes on an interval and on push events, one at a time. */
#include "coordinator/watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/log.h"
#include "coordinator/cli.h"
#include "coordinator/httpd.h"
#include "coordinator/metrics.h"
#include "coordinator/tagfilter.h"

#define WATCH_TICK_MS      100          /* how often the wait between passes looks around */
#define WATCH_INTERVAL_MAX (7 * 86400)  /* longest --watch */
#define WATCH_TOKEN_MAX    512          /* longest --http-token */

/* The state of a watch, across passes. */
typedef struct watch {
    const watch_opts_t *o;
    httpd_t *httpd;           /* --http, or NULL */
    metrics_watch_t figures;  /* passes, events, lag */
    int64_t pending_since_ms; /* arrival of the oldest event not yet at the target, 0 none */
} watch_t;

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "90", "30s", "5m", "2h" into seconds. 0, or -1. */
static int watch_interval(const char *text, double *out)
{
    char *end = NULL;
    double v = strtod(text, &end);
    double unit = !*end ? 1 : strcmp(end, "s") == 0 ? 1 : strcmp(end, "m") == 0 ? 60
                          : strcmp(end, "h") == 0   ? 3600
                                                    : 0;
    if (end == text || unit == 0 || v * unit < 1 || v * unit > WATCH_INTERVAL_MAX)
        return -1;
    *out = v * unit;
    return 0;
}

/* --until: an RFC 3339 time, or +INTERVAL from now. */
static int watch_until(const char *text, double *out)
{
    double rel;
    if (text[0] == '+' && watch_interval(text + 1, &rel) == 0) {
        *out = wall_now() + rel;
        return 0;
    }
    int64_t t = time_parse_iso8601(text);
    if (t <= 0)
        return -1;
    *out = (double)t;
    return 0;
}

/* --http-token TOKEN, or @FILE holding it (first line). */
static const char *watch_token(const char *arg, char *buf, size_t size)
{
    if (arg[0] != '@')
        return arg;
    FILE *f = fopen(arg + 1, "r");
    if (!f)
        return NULL;
    char *line = fgets(buf, (int)size, f);
    fclose(f);
    if (!line)
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return *buf ? buf : NULL;
}

int watch_take_args(int *argc, char **argv, watch_opts_t *o, bool *on)
{
    static char token_buf[WATCH_TOKEN_MAX];
    int out = 1;
    bool extras = false;
    *on = false;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *names[] = {"--watch", "--until", "--http", "--http-token"};
        int which = -1;
        for (int k = 0; k < 4 && which < 0; k++)
            if (strcmp(a, names[k]) == 0)
                which = k;
        if (which < 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (i + 1 >= *argc)
            return usage_error("%s needs a value", a);
        const char *v = argv[++i];
        if (which == 0 && watch_interval(v, &o->interval_s) < 0)
            return usage_error("--watch %.40s: an interval from 1s to 7 days (90, 30s, 5m, 2h)", v);
        if (which == 1 && watch_until(v, &o->until) < 0)
            return usage_error("--until %.40s: an RFC 3339 time or +INTERVAL", v);
        if (which == 2)
            o->http = v;
        if (which == 3 && !(o->token = watch_token(v, token_buf, sizeof token_buf)))
            return usage_error("--http-token %.80s: cannot read a token from it", v);
        *on |= which == 0;
        extras |= which != 0;
    }
    argv[out] = NULL;
    *argc = out;
    if (extras && !*on)
        return usage_error("--until, --http and --http-token go with --watch INTERVAL");
    return 0;
}

/* A pass's figures, with the watch's own, to the endpoint. */
static void watch_publish(void *ud, const metrics_snapshot_t *s)
{
    watch_t *w = ud;
    if (!w->httpd)
        return;
    metrics_snapshot_t copy = *s;
    int64_t last_ms = 0;
    w->figures.events = httpd_events(w->httpd, &last_ms);
    w->figures.last_event = last_ms ? wall_now() - (double)(http_now_ms() - last_ms) / 1000.0 : 0;
    w->figures.lag_s =
        w->pending_since_ms ? (double)(http_now_ms() - w->pending_since_ms) / 1000.0 : 0;
    copy.watch = &w->figures;
    fbuf_t text;
    if (metrics_render_prometheus(&text, &copy) == 0)
        httpd_set_metrics(w->httpd, text.data, text.len);
    fbuf_free(&text);
    size_t len = 0;
    char *status = metrics_render_status(&copy, &len);
    if (status)
        httpd_set_status(w->httpd, status, len);
    free(status);
}

static bool watch_over(const watch_t *w)
{
    return (w->o->stop && *w->o->stop) || (w->o->until > 0 && wall_now() >= w->o->until);
}

/* Waits for the next pass: the interval, or pushes (taken into *only). */
static void watch_wait(watch_t *w, mig_only_t *only, bool *whole)
{
    int64_t due = http_now_ms() + (int64_t)(w->o->interval_s * 1000);
    *whole = true;
    while (!watch_over(w) && http_now_ms() < due) {
        usleep(WATCH_TICK_MS * 1000);
        if (!w->httpd)
            continue;
        char **repos = NULL, **tags = NULL;
        bool overflow = false;
        int64_t oldest = 0;
        size_t n = httpd_take(w->httpd, &repos, &tags, &overflow, &oldest);
        if (n || overflow) {
            only->repos = repos;
            only->tags = tags;
            only->n = n;
            *whole = overflow;
            if (oldest && (!w->pending_since_ms || oldest < w->pending_since_ms))
                w->pending_since_ms = oldest;
            return;
        }
        free(repos);
        free(tags);
    }
}

static void watch_only_free(mig_only_t *only)
{
    for (size_t i = 0; i < only->n; i++) {
        free(only->repos[i]);
        free(only->tags[i]);
    }
    free((char **)only->repos);
    free((char **)only->tags);
    memset(only, 0, sizeof *only);
}

/* One pass: built, run, its figures kept. Returns its exit code. */
static int watch_pass(watch_t *w, watch_build_fn build, void *ud, const mig_only_t *only,
                      mig_t **last)
{
    watch_pass_t pass = {only, watch_publish, w};
    mig_t *m = NULL;
    double t0 = wall_now();
    int rc = build(ud, &pass, &m);
    if (rc == 0) {
        if (only)
            log_info("pass %llu: %zu pushed image(s) or repositories",
                     (unsigned long long)w->figures.passes + 1, only->n);
        rc = mig_run(m);
        mig_destroy(last);
        *last = m;
    }
    w->figures.passes++;
    w->figures.last_pass_s = wall_now() - t0;
    if (rc != 2)
        w->pending_since_ms = 0; /* what was pushed before the pass is at the target now */
    return rc;
}

int watch_run(const watch_opts_t *o, watch_build_fn build, void *ud)
{
    watch_t w = {.o = o};
    ferry_err_t err;
    if (o->http && !(w.httpd = httpd_new(o->http, o->token, &err))) {
        log_error("%s", err.message);
        return 2;
    }
    if (w.httpd)
        log_info("--http: push events on http://%s/events, operations on /metrics, /healthz, "
                 "/status",
                 o->http);
    mig_t *last = NULL;
    int rc = watch_pass(&w, build, ud, NULL, &last);
    if (rc == 2 && !last)
        goto out; /* the first pass could not even be built: a usage error */
    while (!watch_over(&w)) {
        mig_only_t only = {0};
        bool whole = true;
        watch_wait(&w, &only, &whole);
        if (watch_over(&w)) {
            watch_only_free(&only);
            break;
        }
        rc = watch_pass(&w, build, ud, whole ? NULL : &only, &last);
        watch_only_free(&only);
    }
    if (o->stop && *o->stop)
        rc = 0; /* stopped: the running pass drained, its journal and report written */
    if (last)
        mig_print_summary(last);
out:
    mig_destroy(&last);
    httpd_destroy(&w.httpd);
    return rc;
}
