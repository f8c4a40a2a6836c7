/* http — asynchronous HTTP requests on one curl multi handle (one event loop).
 *
 * A loop owns a curl multi handle and a list of timers. Requests are started
 * on the loop and complete through their done callback, called from
 * http_loop_run(). Bodies stream through callbacks or collect into capped
 * memory buffers; nothing here blocks except http_loop_run's bounded wait. */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct http_loop http_loop_t;
typedef struct http_req http_req_t;

/* Called with response body bytes; returns len to go on, HTTP_PAUSE to pause
 * the transfer until http_req_resume(), or 0 to abort it. */
typedef size_t (*http_sink_fn)(void *ud, const char *data, size_t len);
/* Fills buf with up to len body bytes; returns the count, 0 at the end,
 * HTTP_PAUSE to pause until http_req_resume(), or HTTP_ABORT. */
typedef size_t (*http_source_fn)(void *ud, char *buf, size_t len);
/* Called once when a request finishes, successfully or not. The callback
 * owns the request from then on and may destroy it. */
typedef void (*http_done_fn)(http_req_t *req, void *ud);
typedef void (*http_timer_fn)(void *ud);

#define HTTP_PAUSE CURL_WRITEFUNC_PAUSE
#define HTTP_ABORT CURL_READFUNC_ABORT

/* Default cap of a response body collected in memory. */
#define HTTP_BODY_MAX (1024 * 1024)

http_loop_t *http_loop_new(void);
/* With on, requests started on the loop from now speak HTTP/1.1 even to a
 * server that offers HTTP/2 (TLS with ALPN): each transfer has a connection
 * of its own instead of being one stream among all of them on a single one.
 * The agent's choice for moving blobs: over HTTP/2 its CPU time doubled and
 * a migration took a quarter longer (README, Performance). */
void http_loop_set_http1(http_loop_t *loop, bool on);
/* Cancels every running request (their done callbacks are not called) and
 * every timer, then frees the loop. */
void http_loop_destroy(http_loop_t **self_p);

/* Waits up to timeout_ms for network activity (or activity on the extra
 * descriptors), drives transfers, calls done callbacks and due timers.
 * Returns the number of requests still running. */
int http_loop_run(http_loop_t *loop, int timeout_ms, struct curl_waitfd *extra, unsigned n_extra);
/* Requests started and not finished, plus pending timers. */
int http_loop_pending(const http_loop_t *loop);

/* Calls fn(ud) from http_loop_run after delay_ms; returns a timer id > 0. */
uint64_t http_loop_timer(http_loop_t *loop, int64_t delay_ms, http_timer_fn fn, void *ud);
void http_loop_timer_cancel(http_loop_t *loop, uint64_t id);

/* Milliseconds of a monotonic clock. */
int64_t http_now_ms(void);

/* A request. method is "GET", "HEAD", "PUT", "POST", "PATCH", "DELETE". */
http_req_t *http_req_new(const char *method, const char *url);
/* Frees the request; a running request is removed from its loop first. */
void http_req_destroy(http_req_t **self_p);

/* Adds a request header line "Name: value"; copied. */
int http_req_header(http_req_t *req, const char *line);
/* Sends len bytes from data (borrowed until done) as the body. */
void http_req_body_mem(http_req_t *req, const void *data, size_t len);
/* Streams a body of exactly content_length bytes from source. */
void http_req_body_stream(http_req_t *req, int64_t content_length, http_source_fn source, void *ud);
/* Streams the response body to sink instead of memory. The sink only sees
 * bodies of 2xx responses; others are kept in memory (error documents). */
void http_req_sink(http_req_t *req, http_sink_fn sink, void *ud);
/* Caps the in-memory response body (default HTTP_BODY_MAX); over it, the
 * request fails with FERRY_ETOOBIG. */
void http_req_body_max(http_req_t *req, size_t max);
/* TLS: verify peer and host (default true), a CA bundle file and/or PEM text. */
void http_req_tls(http_req_t *req, bool verify, const char *ca_file, const char *ca_pem);
/* Follows redirects (GET/HEAD of blobs); credentials are never sent to another host. */
void http_req_follow(http_req_t *req, bool follow);
/* Aborts the request when it moves fewer than 1 byte/s for stall_s seconds,
 * or connecting takes longer than connect_s. */
void http_req_timeouts(http_req_t *req, long connect_s, long stall_s);

/* Starts the request on the loop; done is called exactly once unless the
 * request is destroyed first. */
int http_req_start(http_loop_t *loop, http_req_t *req, http_done_fn done, void *ud);
/* Resumes a paused request (safe to call from any callback of the loop). */
void http_req_resume(http_req_t *req);

/* Results, valid in and after the done callback. */
/* 0 when a response was received (any status), else a FERRY_E* code with
 * the transport error in http_req_error(). */
int http_req_result(const http_req_t *req);
const char *http_req_error(const http_req_t *req);
int http_req_status(const http_req_t *req);
/* Value of a response header (case-insensitive name), NULL when absent;
 * points into the request, valid until it is destroyed. */
const char *http_req_header_get(const http_req_t *req, const char *name);
/* The in-memory response body (NUL-terminated). */
const fbuf_t *http_req_body(const http_req_t *req);
/* Steals the memory body; caller frees. */
char *http_req_body_steal(http_req_t *req, size_t *len_out);
const char *http_req_url(const http_req_t *req);
/* Bytes sent in the request body / received in the response body. */
int64_t http_req_bytes_sent(const http_req_t *req);
int64_t http_req_bytes_received(const http_req_t *req);

#endif
