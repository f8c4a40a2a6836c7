/* log — the programs' logger (library code in common/ and proto/ never logs).
 *
 * Lines go to stderr, as text ("ferry: warning: ...") or as one JSON object a
 * line when log_set_json(true). Secrets must never be passed in. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_init(const char *program);
void log_set_level(int level);
int log_get_level(void);
void log_set_json(bool json);
/* Parses "error|warn|info|debug"; -1 when unknown. */
int log_level_parse(const char *name);
/* Logs one line; control characters in it (ESC, CR, newlines, C1 controls)
 * are written as \xHH, so text from outside cannot drive the terminal or
 * forge a line. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A status line on screen (progress): clear(ud) runs, under the log's lock,
 * before each log line, so no line runs into it. NULL removes it. */
void log_set_status(void (*clear)(void *ud), void *ud);
/* Writes text to stderr as it is (a status line: the caller's own text),
 * under the log's lock. */
void log_write_raw(const char *text, size_t len);

/* Appends s to out (at most size bytes, NUL-terminated) with control
 * characters as \xHH: for names from outside shown anywhere else. */
void log_escape(char *out, size_t size, const char *s);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
