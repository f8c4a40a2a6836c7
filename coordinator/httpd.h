/* httpd — the coordinator's HTTP endpoint (`--http ADDR`), on
 * libmicrohttpd's own thread: POST /events takes registry push
 * notifications, GET /metrics, /healthz and /status serve operations. The
 * run's thread and the server's share only what this module guards. */
#ifndef FERRY_HTTPD_H
#define FERRY_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct httpd httpd_t;

/* Most distinct (repository, tag) pushes waiting for a pass; beyond it the
 * next pass looks at everything (httpd_take says so). */
#define HTTPD_QUEUE_MAX 10000

/* Starts serving on addr ("HOST:PORT", HOST an IPv4 or [IPv6] address; port
 * 0 picks one: httpd_port). Events need "Authorization: <token>" when token
 * is not NULL; off loopback a token is required (FERRY_EINVAL otherwise).
 * NULL with err set when it cannot start. */
httpd_t *httpd_new(const char *addr, const char *token, ferry_err_t *err);
/* Stops the server and frees it; accepts NULL and nulls the pointer. */
void httpd_destroy(httpd_t **self_p);
int httpd_port(const httpd_t *h);

/* Pushes waiting for a pass, taken (the queue empties): *repos and *tags
 * (a NULL tag: the whole repository), n of them; the caller frees both
 * arrays and their strings. *overflow is set when pushes were dropped for
 * the queue's size (look at everything). *oldest_ms is the arrival of the
 * oldest (http_now_ms), 0 when none. */
size_t httpd_take(httpd_t *h, char ***repos, char ***tags, bool *overflow, int64_t *oldest_ms);
/* Pushes accepted so far, and the time of the last one (http_now_ms, 0 none). */
uint64_t httpd_events(const httpd_t *h, int64_t *last_ms);

/* What GET /metrics and GET /status answer (copied). */
void httpd_set_metrics(httpd_t *h, const char *text, size_t len);
void httpd_set_status(httpd_t *h, const char *json, size_t len);

#endif
