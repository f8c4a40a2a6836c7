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
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);

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
        fwrite(line.data, 1, line.len, stderr);
        fflush(stderr);
        pthread_mutex_unlock(&log_lock);
    }
    fbuf_free(&line);
}
