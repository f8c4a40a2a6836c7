/* progress — live line, plain lines or JSON events while a migration runs. */
#include "coordinator/progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

struct progress {
    int mode; /* 1 plain, 2 json, 3 none, 4 live */
    FILE *out;
    double started; /* monotonic seconds */
    double last;    /* last output */
    bool line_open; /* a live line without newline is on screen */
};

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Clears the live line before a log line is written (under the log's lock). */
static void progress_clear(void *ud)
{
    progress_t *p = ud;
    if (p->line_open) {
        fputs("\r\033[K", p->out);
        p->line_open = false;
    }
}

/* Writes a line of the run's own text: through the log when on stderr (one
 * lock for both), directly otherwise. */
static void progress_write(progress_t *p, const char *text)
{
    if (p->out == stderr) {
        log_write_raw(text, strlen(text));
    } else {
        fputs(text, p->out);
        fflush(p->out);
    }
}

progress_t *progress_new(int mode, FILE *out)
{
    progress_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->out = out;
    p->mode = mode == 0 ? (isatty(fileno(out)) ? 4 : 1) : mode;
    p->started = mono();
    p->last = -1e9;
    if (p->mode == 4 && out == stderr)
        log_set_status(progress_clear, p);
    return p;
}

void progress_break(progress_t *p)
{
    if (p && p->line_open) {
        p->line_open = false;
        progress_write(p, "\r\033[K");
    }
}

void progress_destroy(progress_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    progress_break(*self_p);
    if ((*self_p)->mode == 4 && (*self_p)->out == stderr)
        log_set_status(NULL, NULL);
    free(*self_p);
    *self_p = NULL;
}

static void human_bytes(uint64_t b, char *out, size_t size)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void progress_update(progress_t *p, const progress_state_t *s, bool force)
{
    if (!p || p->mode == 3)
        return;
    double now = mono();
    double interval = p->mode == 4 ? 0.5 : p->mode == 2 ? 1.0 : 5.0;
    if (!force && now - p->last < interval)
        return;
    p->last = now;
    double elapsed = now - p->started;
    double rate = elapsed > 0 ? (double)s->bytes_done / elapsed : 0;
    double eta = rate > 0 && s->bytes_total > s->bytes_done
                     ? (double)(s->bytes_total - s->bytes_done) / rate
                     : 0;
    if (p->mode == 2) {
        char event[640];
        snprintf(event, sizeof event,
                 "{\"event\":\"progress\",\"phase\":\"%s\",\"elapsed_s\":%.1f,\"images_done\":%zu,"
                "\"images_total\":%zu,\"tasks_done\":%zu,\"tasks_total\":%zu,\"bytes_done\":%llu,"
                "\"bytes_total\":%llu,\"rate_bps\":%.0f,\"agents\":%d,\"failed\":%zu}\n",
                s->phase, elapsed, s->images_done, s->images_total, s->tasks_done, s->tasks_total,
                (unsigned long long)s->bytes_done, (unsigned long long)s->bytes_total, rate,
                s->agents, s->failed);
        progress_write(p, event);
        return;
    }
    char done[32], total[32];
    human_bytes(s->bytes_done, done, sizeof done);
    human_bytes(s->bytes_total, total, sizeof total);
    char line[512];
    snprintf(line, sizeof line,
             "%s: images %zu/%zu, tasks %zu/%zu, %s/%s, %.1f MiB/s, ETA %.0fs, agents %d%s",
             s->phase, s->images_done, s->images_total, s->tasks_done, s->tasks_total, done, total,
             rate / 1048576.0, eta, s->agents, s->failed ? ", some failed" : "");
    char text[600];
    if (p->mode == 4)
        snprintf(text, sizeof text, "\r\033[K%s", line);
    else
        snprintf(text, sizeof text, "ferry: %s\n", line);
    progress_write(p, text);
    p->line_open = p->mode == 4;
}
