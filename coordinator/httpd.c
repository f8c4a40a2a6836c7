/* httpd — a small libmicrohttpd server: events in, metrics and status out. */
#include "coordinator/httpd.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/http.h"
#include "common/log.h"
#include "common/ref.h"
#include "common/strmap.h"
#include "coordinator/events.h"

#define HTTPD_CONNECTIONS 64  /* at once */
#define HTTPD_TIMEOUT_S   10  /* an idle connection is closed */
#define HTTPD_TOKEN_MAX   512 /* longest Authorization value compared */

struct httpd {
    struct MHD_Daemon *daemon;
    char *token;           /* required Authorization value, NULL = none (loopback) */
    int port;              /* bound port */
    pthread_mutex_t lock;  /* guards everything below */
    strmap_t *queue;       /* "repo\ttag" (tag "" = whole repository) -> arrival ms */
    bool overflow;         /* pushes were dropped for HTTPD_QUEUE_MAX */
    uint64_t events;       /* pushes accepted */
    int64_t last_event_ms; /* last one accepted */
    char *metrics;         /* GET /metrics */
    char *status;          /* GET /status */
};

/* A POST's body, gathered across the handler's calls. */
typedef struct httpd_post {
    fbuf_t body;
    bool too_big;
} httpd_post_t;

static enum MHD_Result httpd_answer(struct MHD_Connection *c, unsigned status, const char *type,
                                    const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Serves a text the run set (copied under the lock). */
static enum MHD_Result httpd_serve(httpd_t *h, struct MHD_Connection *c, char *const *text,
                                   const char *type)
{
    pthread_mutex_lock(&h->lock);
    char *copy = *text ? strdup(*text) : NULL;
    pthread_mutex_unlock(&h->lock);
    enum MHD_Result ret = copy ? httpd_answer(c, MHD_HTTP_OK, type, copy)
                               : httpd_answer(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                                              "not ready\n");
    free(copy);
    return ret;
}

/* events_parse's callback: one push into the queue (deduplicated). */
static void httpd_queue(void *ud, const char *repo, const char *tag)
{
    httpd_t *h = ud;
    char key[REF_NAME_MAX + REF_TAG_MAX + 2];
    snprintf(key, sizeof key, "%s\t%s", repo, tag ? tag : "");
    h->events++;
    h->last_event_ms = http_now_ms();
    if (strmap_has(h->queue, key))
        return; /* a burst for one tag is copied once */
    if (strmap_size(h->queue) >= HTTPD_QUEUE_MAX) {
        h->overflow = true;
        return;
    }
    if (strmap_put(h->queue, key, (void *)(intptr_t)h->last_event_ms, NULL) < 0)
        h->overflow = true;
}

/* The shared token, compared in constant time. */
static bool httpd_authorized(const httpd_t *h, struct MHD_Connection *c)
{
    if (!h->token)
        return true;
    const char *got = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    size_t want = strlen(h->token);
    if (!got || strnlen(got, HTTPD_TOKEN_MAX + 1) != want)
        return false;
    return CRYPTO_memcmp(got, h->token, want) == 0;
}

static enum MHD_Result httpd_events_done(httpd_t *h, struct MHD_Connection *c, httpd_post_t *p)
{
    if (!httpd_authorized(h, c))
        return httpd_answer(c, MHD_HTTP_UNAUTHORIZED, "text/plain", "unauthorized\n");
    if (p->too_big)
        return httpd_answer(c, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain", "body too large\n");
    ferry_err_t err;
    size_t skipped = 0;
    pthread_mutex_lock(&h->lock);
    int rc = events_parse(p->body.data ? p->body.data : "", p->body.len, httpd_queue, h, &skipped,
                          &err);
    pthread_mutex_unlock(&h->lock);
    if (rc < 0) {
        log_warn("--http: an event was refused: %s", err.message);
        return httpd_answer(c, MHD_HTTP_BAD_REQUEST, "text/plain", err.message);
    }
    return httpd_answer(c, MHD_HTTP_OK, "application/json", "{\"accepted\": true}\n");
}

static enum MHD_Result httpd_handle(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version,
                                    const char *upload_data, size_t *upload_data_size,
                                    void **con_cls)
{
    httpd_t *h = cls;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/events") == 0) {
        httpd_post_t *p = *con_cls;
        if (!p) {
            if (!(p = calloc(1, sizeof *p)))
                return MHD_NO;
            fbuf_init(&p->body, EVENTS_BODY_MAX);
            *con_cls = p;
            return MHD_YES;
        }
        if (*upload_data_size) {
            if (p->body.len + *upload_data_size > EVENTS_BODY_MAX ||
                fbuf_append(&p->body, upload_data, *upload_data_size) < 0)
                p->too_big = true;
            *upload_data_size = 0;
            return MHD_YES;
        }
        return httpd_events_done(h, c, p);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return httpd_answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n");
    if (strcmp(url, "/healthz") == 0)
        return httpd_answer(c, MHD_HTTP_OK, "text/plain", "ok\n");
    if (strcmp(url, "/metrics") == 0)
        return httpd_serve(h, c, &h->metrics, "text/plain; version=0.0.4");
    if (strcmp(url, "/status") == 0)
        return httpd_serve(h, c, &h->status, "application/json");
    return httpd_answer(c, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
}

static void httpd_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                            enum MHD_RequestTerminationCode toe)
{
    httpd_post_t *p = *con_cls;
    if (p) {
        fbuf_free(&p->body);
        free(p);
        *con_cls = NULL;
    }
}

/* "HOST:PORT" into a socket address; loopback tells whether it is one. */
static int httpd_addr(const char *addr, struct sockaddr_storage *ss, bool *loopback,
                      ferry_err_t *err)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t hlen = colon ? (size_t)(colon - addr) : 0;
    if (!colon || !*(colon + 1) || *end || port < 0 || port > 65535 || hlen == 0 ||
        hlen >= sizeof host)
        return ferry_err_set(err, FERRY_EINVAL, "--http %.80s: expected HOST:PORT", addr);
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &v6->sin6_addr) != 1)
            return ferry_err_set(err, FERRY_EINVAL, "--http %.80s: not an IPv6 address", addr);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        return 0;
    }
    if (inet_pton(AF_INET, host, &v4->sin_addr) != 1)
        return ferry_err_set(err, FERRY_EINVAL, "--http %.80s: HOST is an IP address", addr);
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

httpd_t *httpd_new(const char *addr, const char *token, ferry_err_t *err)
{
    struct sockaddr_storage ss;
    bool loopback = false;
    if (httpd_addr(addr, &ss, &loopback, err) < 0)
        return NULL;
    if (!loopback && !token) {
        ferry_err_set(err, FERRY_EINVAL,
                      "--http %.80s is not loopback: give --http-token so that only the "
                      "registry's notifications are taken",
                      addr);
        return NULL;
    }
    httpd_t *h = calloc(1, sizeof *h);
    if (!h || pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    h->queue = strmap_new();
    h->token = token ? strdup(token) : NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    if (h->queue && (!token || h->token))
        h->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, httpd_handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTPD_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned)HTTPD_TIMEOUT_S, MHD_OPTION_NOTIFY_COMPLETED, httpd_completed, h,
            MHD_OPTION_END);
    if (!h->daemon) {
        ferry_err_set(err, FERRY_EIO, "--http %.80s: cannot listen there", addr);
        httpd_destroy(&h);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : 0;
    return h;
}

void httpd_destroy(httpd_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    httpd_t *h = *self_p;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    strmap_destroy(&h->queue, NULL);
    if (h->token) {
        OPENSSL_cleanse(h->token, strlen(h->token));
        free(h->token);
    }
    free(h->metrics);
    free(h->status);
    pthread_mutex_destroy(&h->lock);
    free(h);
    *self_p = NULL;
}

int httpd_port(const httpd_t *h)
{
    return h->port;
}

/* One queued push into the arrays. */
typedef struct httpd_taken {
    char **repos, **tags;
    size_t n;
    int64_t oldest;
} httpd_taken_t;

static void httpd_take_one(httpd_taken_t *t, const char *key, void *value)
{
    const char *tab = strchr(key, '\t');
    char *repo = tab ? strndup(key, (size_t)(tab - key)) : NULL;
    char *tag = tab && tab[1] ? strdup(tab + 1) : NULL;
    if (!repo || (tab[1] && !tag)) {
        free(repo);
        free(tag);
        return;
    }
    t->repos[t->n] = repo;
    t->tags[t->n] = tag;
    t->n++;
    int64_t at = (int64_t)(intptr_t)value;
    if (!t->oldest || at < t->oldest)
        t->oldest = at;
}

size_t httpd_take(httpd_t *h, char ***repos, char ***tags, bool *overflow, int64_t *oldest_ms)
{
    pthread_mutex_lock(&h->lock);
    size_t n = strmap_size(h->queue);
    httpd_taken_t t = {calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(char *)), 0, 0};
    const char *key;
    void *value;
    for (size_t it = 0; t.repos && t.tags && strmap_next(h->queue, &it, &key, &value);)
        httpd_take_one(&t, key, value);
    *overflow = h->overflow || (n && (!t.repos || !t.tags));
    h->overflow = false;
    strmap_destroy(&h->queue, NULL);
    h->queue = strmap_new();
    pthread_mutex_unlock(&h->lock);
    *repos = t.repos;
    *tags = t.tags;
    *oldest_ms = t.oldest;
    return t.n;
}

uint64_t httpd_events(const httpd_t *h, int64_t *last_ms)
{
    pthread_mutex_lock((pthread_mutex_t *)&h->lock);
    uint64_t n = h->events;
    *last_ms = h->last_event_ms;
    pthread_mutex_unlock((pthread_mutex_t *)&h->lock);
    return n;
}

static void httpd_set(httpd_t *h, char **slot, const char *text, size_t len)
{
    char *copy = strndup(text, len);
    pthread_mutex_lock(&h->lock);
    free(*slot);
    *slot = copy;
    pthread_mutex_unlock(&h->lock);
}

void httpd_set_metrics(httpd_t *h, const char *text, size_t len)
{
    httpd_set(h, &h->metrics, text, len);
}

void httpd_set_status(httpd_t *h, const char *json, size_t len)
{
    httpd_set(h, &h->status, json, len);
}
