/* log — text or JSON log lines on stderr, one write per line. */
#include "common/log.h"
#include "common/buf.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *log_program = "ferry";
static int log_level = LOG_LEVEL_INFO;
static bool log_json;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const log_names[] = {"error", "warning", "info", "debug"};
static void (*log_status_clear)(void *ud);
static void *log_status_ud;

void log_set_status(void (*clear)(void *ud), void *ud)
{
    pthread_mutex_lock(&log_lock);
    log_status_clear = clear;
    log_status_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

void log_write_raw(const char *text, size_t len)
{
    pthread_mutex_lock(&log_lock);
    fwrite(text, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

/* Bytes a terminal acts on: C0 controls, DEL, and the C1 controls that
 * UTF-8 writes as 0xC2 0x80-0x9F (CSI among them). Returns how many bytes
 * at s form one (0: a printable byte). */
static size_t log_control_len(const unsigned char *s)
{
    if (*s < 0x20 || *s == 0x7f)
        return 1;
    if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
        return 2;
    return 0;
}

void log_escape(char *out, size_t size, const char *s)
{
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p && o + 1 < size) {
        size_t n = log_control_len(p);
        if (!n) {
            out[o++] = (char)*p++;
            continue;
        }
        for (size_t i = 0; i < n && o + 5 < size; i++)
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", p[i]);
        if (o + 5 >= size)
            break;
        p += n;
    }
    out[o] = '\0';
}

void log_init(const char *program)
{
    log_program = program;
}

void log_set_level(int level)
{
    log_level = level;
}

int log_get_level(void)
{
    return log_level;
}

void log_set_json(bool json)
{
    log_json = json;
}

int log_level_parse(const char *name)
{
    if (strcmp(name, "error") == 0)
        return LOG_LEVEL_ERROR;
    if (strcmp(name, "warn") == 0 || strcmp(name, "warning") == 0)
        return LOG_LEVEL_WARN;
    if (strcmp(name, "info") == 0)
        return LOG_LEVEL_INFO;
    if (strcmp(name, "debug") == 0)
        return LOG_LEVEL_DEBUG;
    return -1;
}

void log_msg(int level, const char *fmt, ...)
{
    if (level > log_level)
        return;
    char raw[2048], text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    log_escape(text, sizeof text, raw);

    fbuf_t line;
    fbuf_init(&line, sizeof text + 256);
    if (log_json) {
        struct timeval tv;
        gettimeofday(&tv, NULL);
        json_t *obj = json_pack("{s:f, s:s, s:s, s:s}", "ts", (double)tv.tv_sec + tv.tv_usec / 1e6,
                                "level", log_names[level], "program", log_program, "msg", text);
        char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        if (s)
            fbuf_printf(&line, "%s\n", s);
        free(s);
        json_decref(obj);
    } else if (level == LOG_LEVEL_INFO) {
        fbuf_printf(&line, "%s: %s\n", log_program, text);
    } else {
        fbuf_printf(&line, "%s: %s: %s\n", log_program, log_names[level], text);
    }
    if (line.len) {
        pthread_mutex_lock(&log_lock);
        if (log_status_clear)
            log_status_clear(log_status_ud);
        fwrite(line.data, 1, line.len, stderr);
        fflush(stderr);
        pthread_mutex_unlock(&log_lock);
    }
    fbuf_free(&line);
}
