/* http — asynchronous HTTP requests on one curl multi handle.
 *
 * The loop uses curl's event-driven API: curl tells us which sockets it wants
 * to wait on (on_socket keeps them in an epoll set) and when it wants to be
 * called back (on_curl_timer), and we drive only the sockets that are ready.
 * curl_multi_poll + curl_multi_perform polled every socket and walked every
 * transfer on each wake-up, which cost a large share of ferry's CPU with tens
 * of connections open. */
#include "common/http.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

/* Most ready curl sockets handled per wake-up; the rest (the set is
 * level-triggered) are seen by the next http_loop_run. */
#define LOOP_MAX_EVENTS 128

typedef struct http_timer {
    uint64_t id;      /* > 0 */
    int64_t due_ms;   /* monotonic time it fires */
    http_timer_fn fn; /* callback */
    void *ud;         /* its argument */
} http_timer_t;

struct http_loop {
    CURLM *multi;         /* the multi handle driving every request */
    http_req_t *running;  /* doubly linked list of started requests */
    int n_running;        /* length of that list */
    http_timer_t *timers; /* pending timers, unordered */
    size_t n_timers;      /* count */
    size_t cap_timers;    /* allocated */
    uint64_t next_timer;  /* id of the next timer */
    int epfd;             /* epoll set of the sockets curl waits on */
    int64_t curl_due_ms;  /* when curl wants CURL_SOCKET_TIMEOUT, -1 never */
    struct pollfd *pfds;  /* [epfd, extra fds...] for poll() */
    unsigned cap_pfds;    /* allocated */
    bool http1;           /* never HTTP/2 (http_loop_set_http1) */
};

struct http_req {
    CURL *easy;                       /* the transfer */
    http_loop_t *loop;                /* loop it runs on, NULL when not running */
    http_req_t *prev, *next;          /* siblings in loop->running */
    char *method;                     /* request method */
    char *url;                        /* request URL */
    struct curl_slist *headers;       /* request headers */
    const char *body_mem;             /* borrowed in-memory body */
    size_t body_mem_len;              /* its length */
    size_t body_mem_off;              /* bytes handed to curl so far */
    bool has_body;                    /* a body (memory or stream) was set */
    int64_t body_len;                 /* Content-Length of the body */
    http_source_fn source;            /* streaming body source */
    void *source_ud;                  /* its argument */
    http_sink_fn sink;                /* streaming response sink */
    void *sink_ud;                    /* its argument */
    bool verify;                      /* verify TLS peer and host */
    char *ca_file;                    /* CA bundle path */
    char *ca_pem;                     /* CA bundle text */
    bool follow;                      /* follow redirects */
    long connect_s, stall_s;          /* timeouts */
    http_done_fn done;                /* completion callback */
    void *done_ud;                    /* its argument */
    bool resume_pending;              /* http_req_resume() was called */
    bool too_big;                     /* the memory body hit its cap */
    bool sink_aborted;                /* the sink asked to abort */
    int result;                       /* 0 or FERRY_E* for transport errors */
    int status;                       /* HTTP status of the last response */
    int64_t sent, received;           /* body bytes moved */
    fbuf_t body;                      /* in-memory response body */
    fbuf_t resp_headers;              /* "name: value\n" lines of the last response */
    char errbuf[CURL_ERROR_SIZE];     /* curl's error text */
    char error[CURL_ERROR_SIZE + 64]; /* our error text */
};

int64_t http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CURLMOPT_SOCKETFUNCTION: mirrors what curl wants to wait for on socket s
 * into the epoll set. socketp is non-NULL once s is in the set (we assign it),
 * so changes cost one epoll_ctl; curl forgets socketp on CURL_POLL_REMOVE. May
 * be called from curl_multi_socket_action, curl_multi_add_handle,
 * curl_multi_remove_handle, curl_easy_pause and curl_multi_cleanup. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_loop_t *loop = userp;
    if (what == CURL_POLL_REMOVE) {
        /* Fails harmlessly when s is already closed: the kernel dropped it. */
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.data.fd = s;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev.events |= EPOLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev.events |= EPOLLOUT;
    /* Fall back to the other operation when our idea of the set is stale
     * (a descriptor number reused before curl reported the old one gone). */
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(loop->epfd, op, s, &ev) < 0) {
        op = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if (epoll_ctl(loop->epfd, op, s, &ev) < 0)
            return 0; /* the transfer's stall timeout ends it */
    }
    if (!socketp)
        curl_multi_assign(loop->multi, s, loop);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: records when curl wants CURL_SOCKET_TIMEOUT; only
 * http_loop_run acts on it, as curl forbids calling it back from here. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    http_loop_t *loop = userp;
    loop->curl_due_ms = timeout_ms < 0 ? -1 : http_now_ms() + timeout_ms;
    return 0;
}

http_loop_t *http_loop_new(void)
{
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return NULL;
        curl_ready = true;
    }
    http_loop_t *loop = calloc(1, sizeof *loop);
    if (!loop)
        return NULL;
    loop->curl_due_ms = -1;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->multi = loop->epfd >= 0 ? curl_multi_init() : NULL;
    if (!loop->multi) {
        if (loop->epfd >= 0)
            close(loop->epfd);
        free(loop);
        return NULL;
    }
    curl_multi_setopt(loop->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(loop->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop);
    loop->next_timer = 1;
    return loop;
}

void http_loop_set_http1(http_loop_t *loop, bool on)
{
    loop->http1 = on;
}

static void loop_unlink(http_req_t *req)
{
    http_loop_t *loop = req->loop;
    if (!loop)
        return;
    curl_multi_remove_handle(loop->multi, req->easy);
    if (req->prev)
        req->prev->next = req->next;
    else
        loop->running = req->next;
    if (req->next)
        req->next->prev = req->prev;
    req->prev = req->next = NULL;
    req->loop = NULL;
    loop->n_running--;
}

void http_loop_destroy(http_loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_loop_t *loop = *self_p;
    while (loop->running)
        loop_unlink(loop->running);
    /* curl_multi_cleanup may still call on_socket: close the set after it. */
    curl_multi_cleanup(loop->multi);
    close(loop->epfd);
    free(loop->pfds);
    free(loop->timers);
    free(loop);
    *self_p = NULL;
}

int http_loop_pending(const http_loop_t *loop)
{
    return loop->n_running + (int)loop->n_timers;
}

uint64_t http_loop_timer(http_loop_t *loop, int64_t delay_ms, http_timer_fn fn, void *ud)
{
    if (loop->n_timers == loop->cap_timers) {
        size_t cap = loop->cap_timers ? loop->cap_timers * 2 : 16;
        http_timer_t *t = realloc(loop->timers, cap * sizeof *t);
        if (!t)
            return 0;
        loop->timers = t;
        loop->cap_timers = cap;
    }
    http_timer_t *t = &loop->timers[loop->n_timers++];
    t->id = loop->next_timer++;
    t->due_ms = http_now_ms() + (delay_ms > 0 ? delay_ms : 0);
    t->fn = fn;
    t->ud = ud;
    return t->id;
}

void http_loop_timer_cancel(http_loop_t *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->n_timers; i++) {
        if (loop->timers[i].id == id) {
            loop->timers[i] = loop->timers[--loop->n_timers];
            return;
        }
    }
}

/* Runs the timers that are due; each fires once. */
static void loop_fire_timers(http_loop_t *loop)
{
    int64_t now = http_now_ms();
    for (;;) {
        size_t i;
        for (i = 0; i < loop->n_timers; i++)
            if (loop->timers[i].due_ms <= now)
                break;
        if (i == loop->n_timers)
            return;
        http_timer_t t = loop->timers[i];
        loop->timers[i] = loop->timers[--loop->n_timers];
        t.fn(t.ud);
    }
}

/* Resumes the requests http_req_resume() marked; curl then asks for an
 * immediate timeout (on_curl_timer), so the transfers move on at once. */
static void loop_resume_paused(http_loop_t *loop)
{
    bool again = true;
    while (again) {
        again = false;
        for (http_req_t *req = loop->running; req; req = req->next) {
            if (req->resume_pending) {
                req->resume_pending = false;
                curl_easy_pause(req->easy, CURLPAUSE_CONT);
                again = true; /* resuming may run callbacks that change the list */
                break;
            }
        }
    }
}

static void req_finish(http_req_t *req, CURLcode code)
{
    long status = 0;
    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    req->status = (int)status;
    if (req->too_big) {
        req->result = FERRY_ETOOBIG;
        snprintf(req->error, sizeof req->error, "response body larger than %zu bytes",
                 req->body.max);
    } else if (req->sink_aborted) {
        req->result = FERRY_ECANCELED;
        snprintf(req->error, sizeof req->error, "transfer stopped by its consumer");
    } else if (code != CURLE_OK) {
        switch (code) {
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            req->result = FERRY_EPROTO;
            break;
        case CURLE_ABORTED_BY_CALLBACK:
        case CURLE_READ_ERROR:
            req->result = FERRY_ECANCELED;
            break;
        default:
            req->result = FERRY_ERETRY;
        }
        snprintf(req->error, sizeof req->error, "%s",
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(code));
    }
}

/* How long http_loop_run may wait: timeout_ms, shortened by the loop's timers
 * and by curl's timeout. */
static int loop_wait_ms(const http_loop_t *loop, int timeout_ms)
{
    int64_t wait = timeout_ms > 0 ? timeout_ms : 0;
    int64_t now = http_now_ms();
    for (size_t i = 0; i < loop->n_timers; i++)
        if (loop->timers[i].due_ms - now < wait)
            wait = loop->timers[i].due_ms - now;
    if (loop->curl_due_ms >= 0 && loop->curl_due_ms - now < wait)
        wait = loop->curl_due_ms - now;
    return wait > 0 ? (int)wait : 0;
}

/* Makes room in loop->pfds for the epoll set and n_extra descriptors. */
static bool loop_reserve_pfds(http_loop_t *loop, unsigned n_extra)
{
    if (n_extra + 1 <= loop->cap_pfds)
        return true;
    struct pollfd *p = realloc(loop->pfds, (n_extra + 1) * sizeof *p);
    if (!p)
        return false;
    loop->pfds = p;
    loop->cap_pfds = n_extra + 1;
    return true;
}

/* Waits up to wait_ms for the epoll set or the extra descriptors (whose
 * revents it fills in like curl_multi_poll); returns whether the epoll set
 * has ready sockets. */
static bool loop_poll(http_loop_t *loop, int wait_ms, struct curl_waitfd *extra, unsigned n_extra)
{
    struct pollfd *pfds = loop->pfds;
    pfds[0] = (struct pollfd){.fd = loop->epfd, .events = POLLIN};
    for (unsigned i = 0; i < n_extra; i++) {
        short ev = 0;
        if (extra[i].events & CURL_WAIT_POLLIN)
            ev |= POLLIN;
        if (extra[i].events & CURL_WAIT_POLLPRI)
            ev |= POLLPRI;
        if (extra[i].events & CURL_WAIT_POLLOUT)
            ev |= POLLOUT;
        pfds[i + 1] = (struct pollfd){.fd = extra[i].fd, .events = ev};
    }
    /* A timeout or EINTR reports nothing ready: the caller comes back. */
    bool ready = poll(pfds, n_extra + 1, wait_ms) > 0;
    for (unsigned i = 0; i < n_extra; i++) {
        short r = ready ? pfds[i + 1].revents : 0;
        extra[i].revents = (short)(((r & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                                   ((r & POLLPRI) ? CURL_WAIT_POLLPRI : 0) |
                                   ((r & POLLOUT) ? CURL_WAIT_POLLOUT : 0));
    }
    return ready && pfds[0].revents != 0;
}

/* What curl is told about a ready socket. A hang-up or an error counts as
 * readable (and writable) so that curl reads the end of the stream or the
 * socket's error itself: CURL_CSELECT_ERR alone only fails the transfer with
 * "select/poll returned error". */
static int cselect_bits(uint32_t events)
{
    int bits = 0;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        bits |= CURL_CSELECT_IN;
    if (events & (EPOLLOUT | EPOLLERR))
        bits |= CURL_CSELECT_OUT;
    if (events & EPOLLERR)
        bits |= CURL_CSELECT_ERR;
    return bits;
}

/* Waits for activity (see http_loop_run) and hands curl its ready sockets,
 * then its timeout when that is due (curl has also run it already if any
 * socket was handed over). A socket closed by curl while handling an earlier
 * one of the batch is ignored by curl; a reused descriptor number at worst
 * gets a spurious wake-up, which curl tolerates. */
static void loop_drive(http_loop_t *loop, int timeout_ms, struct curl_waitfd *extra,
                       unsigned n_extra)
{
    int wait = loop_wait_ms(loop, timeout_ms);
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n = 0;
    if (!loop->n_running && !n_extra) {
        /* Nothing to watch: curl keeps no socket of an idle connection in
         * the set, so just sleep until the next timer. */
        if (wait > 0) {
            struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    } else if (!n_extra || !loop_reserve_pfds(loop, n_extra)) {
        /* Without extras (or memory for them; their owners look at them
         * again after the timeout) one epoll_wait is the whole wait. */
        n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, wait);
    } else if (loop_poll(loop, wait, extra, n_extra)) {
        n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, 0);
    }
    int still = 0;
    for (int i = 0; i < n; i++)
        curl_multi_socket_action(loop->multi, evs[i].data.fd, cselect_bits(evs[i].events), &still);
    if (loop->curl_due_ms >= 0 && loop->curl_due_ms <= http_now_ms())
        curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &still);
}

/* Calls the done callback of every finished request. */
static void loop_read_done(http_loop_t *loop)
{
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read(loop->multi, &queued))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        http_req_t *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        CURLcode code = msg->data.result;
        loop_unlink(req);
        req_finish(req, code);
        if (req->done)
            req->done(req, req->done_ud);
    }
}

int http_loop_run(http_loop_t *loop, int timeout_ms, struct curl_waitfd *extra, unsigned n_extra)
{
    /* Resuming makes curl ask for an immediate timeout, which shortens the
     * wait to nothing. */
    loop_resume_paused(loop);
    loop_drive(loop, timeout_ms, extra, n_extra);
    loop_resume_paused(loop);
    loop_read_done(loop);
    loop_fire_timers(loop);
    return loop->n_running;
}

http_req_t *http_req_new(const char *method, const char *url)
{
    http_req_t *req = calloc(1, sizeof *req);
    if (!req)
        return NULL;
    req->method = strdup(method);
    req->url = strdup(url);
    req->easy = curl_easy_init();
    req->verify = true;
    req->connect_s = 15;
    req->stall_s = 60;
    fbuf_init(&req->body, HTTP_BODY_MAX);
    fbuf_init(&req->resp_headers, 64 * 1024);
    if (!req->method || !req->url || !req->easy)
        http_req_destroy(&req);
    return req;
}

void http_req_destroy(http_req_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_req_t *req = *self_p;
    loop_unlink(req);
    if (req->easy)
        curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    free(req->method);
    free(req->url);
    free(req->ca_file);
    free(req->ca_pem);
    fbuf_free(&req->body);
    fbuf_free(&req->resp_headers);
    free(req);
    *self_p = NULL;
}

int http_req_header(http_req_t *req, const char *line)
{
    struct curl_slist *l = curl_slist_append(req->headers, line);
    if (!l)
        return FERRY_ENOMEM;
    req->headers = l;
    return 0;
}

void http_req_body_mem(http_req_t *req, const void *data, size_t len)
{
    req->has_body = true;
    req->body_mem = data;
    req->body_mem_len = len;
    req->body_len = (int64_t)len;
    req->source = NULL;
}

void http_req_body_stream(http_req_t *req, int64_t content_length, http_source_fn source, void *ud)
{
    req->has_body = true;
    req->body_len = content_length;
    req->source = source;
    req->source_ud = ud;
    req->body_mem = NULL;
}

void http_req_sink(http_req_t *req, http_sink_fn sink, void *ud)
{
    req->sink = sink;
    req->sink_ud = ud;
}

void http_req_body_max(http_req_t *req, size_t max)
{
    req->body.max = max;
}

void http_req_tls(http_req_t *req, bool verify, const char *ca_file, const char *ca_pem)
{
    req->verify = verify;
    free(req->ca_file);
    free(req->ca_pem);
    req->ca_file = ca_file ? strdup(ca_file) : NULL;
    req->ca_pem = ca_pem ? strdup(ca_pem) : NULL;
}

void http_req_follow(http_req_t *req, bool follow)
{
    req->follow = follow;
}

void http_req_timeouts(http_req_t *req, long connect_s, long stall_s)
{
    req->connect_s = connect_s;
    req->stall_s = stall_s;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *ud)
{
    http_req_t *req = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        fbuf_reset(&req->resp_headers);
        fbuf_reset(&req->body);
        const char *sp = memchr(line, ' ', n);
        req->status = sp && (size_t)(sp - line) + 4 <= n
                          ? (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0')
                          : 0;
        return n;
    }
    /* Keep "name: value" lines, trimmed of CR LF and NUL-separated; drop what
     * exceeds the cap. */
    size_t len = n;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                   line[len - 1] == '\t'))
        len--;
    if (len && memchr(line, ':', len)) {
        if (fbuf_append(&req->resp_headers, line, len) == 0)
            fbuf_append(&req->resp_headers, "", 1);
    }
    return n;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    http_req_t *req = ud;
    size_t n = size * nmemb;
    if (req->sink && req->status >= 200 && req->status < 300) {
        size_t r = req->sink(req->sink_ud, data, n);
        if (r == HTTP_PAUSE)
            return CURL_WRITEFUNC_PAUSE;
        if (r != n) {
            req->sink_aborted = true;
            return 0;
        }
        req->received += (int64_t)n;
        return n;
    }
    if (fbuf_append(&req->body, data, n) < 0) {
        req->too_big = true;
        return 0;
    }
    req->received += (int64_t)n;
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    http_req_t *req = ud;
    size_t n = size * nmemb;
    if (req->source) {
        size_t r = req->source(req->source_ud, buf, n);
        if (r != HTTP_PAUSE && r != HTTP_ABORT)
            req->sent += (int64_t)r;
        return r;
    }
    size_t left = req->body_mem_len - req->body_mem_off;
    if (n > left)
        n = left;
    if (n)
        memcpy(buf, req->body_mem + req->body_mem_off, n);
    req->body_mem_off += n;
    req->sent += (int64_t)n;
    return n;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    http_req_t *req = ud;
    if (req->source || origin != SEEK_SET || offset < 0 || (size_t)offset > req->body_mem_len)
        return CURL_SEEKFUNC_CANTSEEK;
    req->body_mem_off = (size_t)offset;
    req->sent = offset;
    return CURL_SEEKFUNC_OK;
}

static int req_configure(http_req_t *req)
{
    CURL *e = req->easy;
    curl_easy_reset(e);
    req->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ferry/" FERRY_VERSION);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, req->connect_s);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, req->stall_s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, req->verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, req->verify ? 2L : 0L);
    if (req->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file);
    if (req->ca_pem) {
        struct curl_blob blob = {req->ca_pem, strlen(req->ca_pem), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (req->follow) {
        /* curl sends neither custom Authorization headers nor credentials to
         * a host (or port, or scheme) other than the original one. */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(e, CURLOPT_UNRESTRICTED_AUTH, 0L);
    }

    /* No "Expect: 100-continue" round trip; never chunked transfer encoding. */
    int rc = http_req_header(req, "Expect:");
    if (rc < 0)
        return rc;
    const char *m = req->method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->has_body ? req->body_len : 0));
        if (req->has_body) {
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, req);
        } else {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        }
    } else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(req->has_body ? req->body_len : 0));
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, req);
        if (strcmp(m, "PATCH") == 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
    } else if (strcmp(m, "DELETE") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        return FERRY_EINVAL;
    }
    if (req->body_mem || !req->source) {
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, req);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    return 0;
}

int http_req_start(http_loop_t *loop, http_req_t *req, http_done_fn done, void *ud)
{
    if (req->loop)
        return FERRY_EINVAL;
    int rc = req_configure(req);
    if (rc < 0)
        return rc;
    if (loop->http1)
        curl_easy_setopt(req->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    req->done = done;
    req->done_ud = ud;
    req->result = 0;
    req->status = 0;
    req->too_big = req->sink_aborted = req->resume_pending = false;
    req->sent = req->received = 0;
    req->body_mem_off = 0;
    fbuf_reset(&req->body);
    fbuf_reset(&req->resp_headers);
    /* curl asks for an immediate timeout here (on_curl_timer), which the
     * next http_loop_run honours without waiting. */
    if (curl_multi_add_handle(loop->multi, req->easy) != CURLM_OK)
        return FERRY_ENOMEM;
    req->loop = loop;
    req->next = loop->running;
    if (loop->running)
        loop->running->prev = req;
    loop->running = req;
    loop->n_running++;
    return 0;
}

void http_req_resume(http_req_t *req)
{
    if (req->loop)
        req->resume_pending = true;
}

int http_req_result(const http_req_t *req)
{
    return req->result;
}

const char *http_req_error(const http_req_t *req)
{
    return req->error;
}

int http_req_status(const http_req_t *req)
{
    return req->status;
}

const char *http_req_header_get(const http_req_t *req, const char *name)
{
    /* Lines are stored as "name: value" each followed by a NUL; the last
     * occurrence of a repeated header wins. */
    size_t name_len = strlen(name);
    const char *p = req->resp_headers.data;
    const char *end = p + req->resp_headers.len;
    const char *found = NULL;
    while (p && p < end) {
        size_t len = strlen(p);
        if (len > name_len && p[name_len] == ':' && strncasecmp(p, name, name_len) == 0)
            found = p + name_len + 1;
        p += len + 1;
    }
    while (found && (*found == ' ' || *found == '\t'))
        found++;
    return found;
}

const fbuf_t *http_req_body(const http_req_t *req)
{
    return &req->body;
}

char *http_req_body_steal(http_req_t *req, size_t *len_out)
{
    if (len_out)
        *len_out = req->body.len;
    size_t max = req->body.max;
    char *p = fbuf_steal(&req->body);
    fbuf_init(&req->body, max);
    return p;
}

const char *http_req_url(const http_req_t *req)
{
    return req->url;
}

int64_t http_req_bytes_sent(const http_req_t *req)
{
    return req->sent;
}

int64_t http_req_bytes_received(const http_req_t *req)
{
    return req->received;
}
