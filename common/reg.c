/* reg — the registry client: distribution API operations with auth and retries. */
#include "common/reg.h"

#include <ctype.h>
#include <jansson.h>
#include <stdarg.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/digest.h"
#include "common/link.h"
#include "common/manifest.h"
#include "common/regerr.h"
#include "common/wwwauth.h"

/* Most names one listing may return, and the cap of one listing page. */
#define REG_LIST_MAX 1000000
#define REG_LIST_PAGES_MAX 10000              /* pages of one listing */
#define REG_LIST_BYTES_MAX (64 * 1024 * 1024) /* bytes of the names of one listing */
#define REG_PAGE_MAX (8 * 1024 * 1024)
/* Token answers and tokens themselves are small; refuse what is not. */
#define REG_TOKEN_BODY_MAX (64 * 1024)
#define REG_TOKEN_MAX      (16 * 1024)
#define REG_TOKENS_MAX     256

enum reg_auth_mode { AUTH_UNKNOWN = 0, AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

enum op_kind {
    OP_PING = 1,
    OP_CATALOG,
    OP_TAGS,
    OP_MANIFEST_GET,
    OP_MANIFEST_HEAD,
    OP_MANIFEST_PUT,
    OP_REFERRERS,
    OP_BLOB_HEAD,
    OP_BLOB_GET,
    OP_UPLOAD_START,
    OP_MOUNT,
    OP_PATCH,
    OP_UPLOAD_STATUS,
    OP_UPLOAD_FINISH,
    OP_UPLOAD_CANCEL,
};

typedef struct reg_token {
    char *scope;        /* the scope string it was issued for */
    char *token;        /* bearer token; secret */
    int64_t expires_ms; /* monotonic time after which it is not used */
} reg_token_t;

struct reg {
    http_loop_t *loop;      /* borrowed event loop */
    char *host;             /* "host[:port]" */
    char *base_url;         /* "https://host[:port]" */
    bool tls_verify;        /* verify certificates */
    char *ca_file, *ca_pem; /* CA for verification */
    char *basic_header;     /* "Authorization: Basic ..." when credentials were given; secret */
    bool has_creds;         /* username was given */
    char *username;         /* for messages */
    double qps;             /* request rate limit, 0 = none */
    int64_t next_slot_ms;   /* earliest time of the next request under the limit */
    retry_policy_t retry;   /* backoff policy */
    uint64_t rng;           /* jitter state */
    int auth_mode;          /* enum reg_auth_mode */
    char *realm, *service;  /* Bearer challenge */
    reg_token_t tokens[REG_TOKENS_MAX]; /* token cache */
    size_t n_tokens;
    reg_op_t *ops;     /* running operations */
    uint64_t requests; /* requests sent */
};

struct reg_op {
    reg_t *reg;            /* client; NULL after reg_destroy */
    reg_op_t *prev, *next; /* siblings in reg->ops */
    int kind;              /* enum op_kind */
    char *method;          /* HTTP method */
    char *url;             /* current URL */
    char *what;            /* "GET manifest ns/repo:tag on host" for messages */
    char *scope;           /* auth scopes, space-separated, or NULL */
    char *repo;            /* repository */
    char *ref;             /* tag or digest */
    char *content_type;    /* request Content-Type */
    char *content_range;   /* request Content-Range */
    int64_t range_from;    /* Range request offset, 0 = none */
    const void *body;      /* borrowed request body */
    size_t body_len;
    bool has_body;
    http_source_fn source; /* streamed request body */
    void *source_ud;
    int64_t source_len;
    http_sink_fn sink; /* streamed response body */
    void *sink_ud;
    int64_t skipped;       /* bytes dropped from a 200 answer to a Range request */
    char *expect_digest;   /* digest an upload must end with */
    http_req_t *req;       /* current request */
    http_req_t *token_req; /* running token fetch */
    char *token_scope;     /* scope of that fetch */
    uint64_t timer;        /* pending timer id, 0 = none */
    bool slot_reserved;    /* waiting for a slot reserved under --qps */
    int attempts;          /* requests sent for the current page or step */
    int requests;          /* requests sent for this op in all */
    int auth_retries;      /* 401 answers handled */
    int64_t started_ms;    /* when the op started */
    reg_done_fn done;      /* completion callback */
    void *ud;
    /* results */
    bool finished;
    int rc;
    ferry_err_t err;
    int status;
    char *resp_body;
    size_t resp_body_len;
    char *digest;
    char *media_type;
    int64_t size;
    bool exists, mounted;
    char *location;
    int pages;           /* listing pages read */
    size_t names_bytes;  /* bytes of the names kept */
    int64_t range_end;
    int64_t chunk_min;
    char **names;
    size_t n_names, cap_names;
};

static void op_send(reg_op_t *op);
static void op_finish(reg_op_t *op, int rc);

/* ---------------------------------------------------------------- helpers */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static void str_wipe_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Percent-encodes everything but unreserved characters. */
static int url_escape(fbuf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int rc;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = fbuf_append(out, s, 1);
        } else {
            char enc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = fbuf_append(out, enc, 3);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ----------------------------------------------------------------- client */

/* Sets the Basic credentials (and the header that carries them). 0 or
 * FERRY_ENOMEM (then the client has none). */
static int reg_creds(reg_t *reg, const char *username, const char *password)
{
    str_wipe_free(reg->basic_header);
    reg->basic_header = NULL;
    free(reg->username);
    reg->username = strdup(username);
    reg->has_creds = reg->username != NULL;
    char *pair = str_printf("%s:%s", username, password ? password : "");
    if (!pair || !reg->username) {
        str_wipe_free(pair);
        return FERRY_ENOMEM;
    }
    size_t len = strlen(pair);
    size_t enc_len = 4 * ((len + 2) / 3);
    char *header = malloc(sizeof "Authorization: Basic " + enc_len);
    if (header) {
        memcpy(header, "Authorization: Basic ", sizeof "Authorization: Basic " - 1);
        EVP_EncodeBlock((unsigned char *)header + sizeof "Authorization: Basic " - 1,
                        (const unsigned char *)pair, (int)len);
    }
    reg->basic_header = header;
    str_wipe_free(pair);
    return header ? 0 : FERRY_ENOMEM;
}

int reg_set_credentials(reg_t *reg, const char *username, const char *password)
{
    /* Tokens fetched with the old login go with it. */
    for (size_t i = 0; i < reg->n_tokens; i++) {
        free(reg->tokens[i].scope);
        str_wipe_free(reg->tokens[i].token);
    }
    reg->n_tokens = 0;
    return reg_creds(reg, username, password);
}

reg_t *reg_new(http_loop_t *loop, const reg_opts_t *opts, ferry_err_t *err)
{
    if (!opts->host || !*opts->host) {
        ferry_err_set(err, FERRY_EINVAL, "registry host is empty");
        return NULL;
    }
    reg_t *reg = calloc(1, sizeof *reg);
    if (!reg)
        goto oom;
    reg->loop = loop;
    reg->host = strdup(opts->host);
    reg->base_url = str_printf("%s://%s", opts->plain_http ? "http" : "https", opts->host);
    reg->tls_verify = !opts->tls_insecure;
    reg->ca_file = opts->ca_file ? strdup(opts->ca_file) : NULL;
    reg->ca_pem = opts->ca_pem ? strdup(opts->ca_pem) : NULL;
    reg->qps = opts->qps > 0 ? opts->qps : 0;
    reg->retry = opts->retry ? *opts->retry : retry_policy_default;
    reg->rng = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)reg ^ 0x9e3779b97f4a7c15ULL;
    if (!reg->host || !reg->base_url)
        goto oom;
    if (opts->username && *opts->username && reg_creds(reg, opts->username, opts->password) < 0)
        goto oom;
    return reg;
oom:
    ferry_err_set(err, FERRY_ENOMEM, "out of memory creating registry client");
    reg_destroy(&reg);
    return NULL;
}

static void op_cancel_requests(reg_op_t *op)
{
    http_req_destroy(&op->req);
    http_req_destroy(&op->token_req);
    if (op->timer && op->reg)
        http_loop_timer_cancel(op->reg->loop, op->timer);
    op->timer = 0;
}

static void op_unlink(reg_op_t *op)
{
    reg_t *reg = op->reg;
    if (!reg)
        return;
    if (op->prev)
        op->prev->next = op->next;
    else if (reg->ops == op)
        reg->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

void reg_destroy(reg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reg_t *reg = *self_p;
    while (reg->ops) {
        reg_op_t *op = reg->ops;
        op_cancel_requests(op);
        op_unlink(op);
        op->reg = NULL;
        if (!op->finished) {
            op->finished = true;
            op->rc = ferry_err_set(&op->err, FERRY_ECANCELED, "%s: canceled", op->what);
        }
    }
    for (size_t i = 0; i < reg->n_tokens; i++) {
        free(reg->tokens[i].scope);
        str_wipe_free(reg->tokens[i].token);
    }
    free(reg->host);
    free(reg->base_url);
    free(reg->ca_file);
    free(reg->ca_pem);
    str_wipe_free(reg->basic_header);
    free(reg->username);
    free(reg->realm);
    free(reg->service);
    free(reg);
    *self_p = NULL;
}

const char *reg_host(const reg_t *reg)
{
    return reg->host;
}

http_loop_t *reg_loop(const reg_t *reg)
{
    return reg->loop;
}

uint64_t reg_request_count(const reg_t *reg)
{
    return reg->requests;
}

/* ----------------------------------------------------------------- tokens */

static reg_token_t *token_find(reg_t *reg, const char *scope)
{
    for (size_t i = 0; i < reg->n_tokens; i++)
        if (strcmp(reg->tokens[i].scope, scope) == 0)
            return &reg->tokens[i];
    return NULL;
}

static void token_forget(reg_t *reg, const char *scope)
{
    reg_token_t *t = token_find(reg, scope);
    if (!t)
        return;
    free(t->scope);
    str_wipe_free(t->token);
    *t = reg->tokens[--reg->n_tokens];
}

static int token_store(reg_t *reg, const char *scope, const char *token, int64_t lifetime_s)
{
    token_forget(reg, scope);
    if (reg->n_tokens == REG_TOKENS_MAX) {
        /* Evict the token closest to expiry. */
        size_t victim = 0;
        for (size_t i = 1; i < reg->n_tokens; i++)
            if (reg->tokens[i].expires_ms < reg->tokens[victim].expires_ms)
                victim = i;
        token_forget(reg, reg->tokens[victim].scope);
    }
    reg_token_t *t = &reg->tokens[reg->n_tokens];
    t->scope = strdup(scope);
    t->token = strdup(token);
    if (!t->scope || !t->token) {
        free(t->scope);
        free(t->token);
        return FERRY_ENOMEM;
    }
    /* Refresh ahead of expiry: a quarter of the lifetime, at most 30 s. */
    int64_t life_ms = lifetime_s * 1000;
    int64_t margin = life_ms / 4 < 30000 ? life_ms / 4 : 30000;
    t->expires_ms = http_now_ms() + life_ms - margin;
    reg->n_tokens++;
    return 0;
}

static const char *token_valid(reg_t *reg, const char *scope)
{
    reg_token_t *t = token_find(reg, scope);
    if (t && t->expires_ms > http_now_ms())
        return t->token;
    return NULL;
}

static void on_token(http_req_t *req, void *ud)
{
    reg_op_t *op = ud;
    reg_t *reg = op->reg;
    op->token_req = NULL;
    int rc = http_req_result(req);
    int status = http_req_status(req);
    json_t *doc = NULL;
    if (rc < 0) {
        ferry_err_set(&op->err, rc, "%s: token request to %s failed: %s", op->what, reg->realm,
                      http_req_error(req));
        goto out;
    }
    if (status == 401 || status == 403) {
        if (reg->has_creds)
            rc = ferry_err_set(&op->err, FERRY_EAUTH,
                               "%s: token server %s refused the credentials of user '%s' (HTTP %d)",
                               op->what, reg->realm, reg->username, status);
        else
            rc = ferry_err_set(&op->err, FERRY_EAUTH,
                               "%s: token server %s refused anonymous access (HTTP %d)", op->what,
                               reg->realm, status);
        goto out;
    }
    if (status != 200) {
        const fbuf_t *b = http_req_body(req);
        char what[600];
        snprintf(what, sizeof what, "%s: token request to %s", op->what, reg->realm);
        rc = regerr_from_response(&op->err, what, status, b->data, b->len);
        goto out;
    }
    const fbuf_t *body = http_req_body(req);
    json_error_t jerr;
    doc = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    const char *token = NULL;
    if (json_is_object(doc)) {
        json_t *t = json_object_get(doc, "token");
        if (!json_is_string(t) || !*json_string_value(t))
            t = json_object_get(doc, "access_token");
        if (json_is_string(t))
            token = json_string_value(t);
    }
    bool token_ok = token && *token && strlen(token) <= REG_TOKEN_MAX;
    for (const char *p = token; token_ok && *p; p++)
        if (*p <= ' ' || *p > '~')
            token_ok = false;
    if (!token_ok) {
        rc = ferry_err_set(&op->err, FERRY_EPROTO,
                           "%s: token server %s answered without a usable token", op->what,
                           reg->realm);
        goto out;
    }
    int64_t lifetime = 60;
    json_t *exp = json_object_get(doc, "expires_in");
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) < 365 * 86400)
        lifetime = json_integer_value(exp);
    rc = token_store(reg, op->token_scope, token, lifetime);
    if (rc < 0)
        ferry_err_set(&op->err, rc, "out of memory storing a token");
out:
    json_decref(doc);
    http_req_destroy(&req);
    free(op->token_scope);
    op->token_scope = NULL;
    if (rc < 0) {
        op->status = status;
        op->err.http_status = status;
        op_finish(op, rc);
        return;
    }
    op_send(op);
}

/* Starts fetching a token for op's scope from the Bearer realm. */
static int token_fetch(reg_op_t *op, const char *scope)
{
    reg_t *reg = op->reg;
    fbuf_t url;
    fbuf_init(&url, 16 * 1024);
    int rc = fbuf_puts(&url, reg->realm);
    if (rc == 0 && reg->service) {
        rc = fbuf_puts(&url, strchr(reg->realm, '?') ? "&service=" : "?service=");
        if (rc == 0)
            rc = url_escape(&url, reg->service);
    }
    /* One scope parameter per space-separated scope. */
    char *scopes = strdup(scope);
    if (!scopes)
        rc = FERRY_ENOMEM;
    char *save = NULL;
    bool first_param = !reg->service && !strchr(reg->realm, '?');
    for (char *s = scopes ? strtok_r(scopes, " ", &save) : NULL; rc == 0 && s;
         s = strtok_r(NULL, " ", &save)) {
        rc = fbuf_puts(&url, first_param ? "?scope=" : "&scope=");
        first_param = false;
        if (rc == 0)
            rc = url_escape(&url, s);
    }
    free(scopes);
    if (rc < 0) {
        fbuf_free(&url);
        return ferry_err_set(&op->err, rc, "%s: cannot build the token URL", op->what);
    }
    http_req_t *req = http_req_new("GET", url.data);
    fbuf_free(&url);
    op->token_scope = strdup(scope);
    if (!req || !op->token_scope) {
        http_req_destroy(&req);
        return ferry_err_set(&op->err, FERRY_ENOMEM, "out of memory");
    }
    http_req_body_max(req, REG_TOKEN_BODY_MAX);
    http_req_tls(req, reg->tls_verify, reg->ca_file, reg->ca_pem);
    if (reg->basic_header)
        http_req_header(req, reg->basic_header);
    reg->requests++;
    rc = http_req_start(reg->loop, req, on_token, op);
    if (rc < 0) {
        http_req_destroy(&req);
        return ferry_err_set(&op->err, rc, "%s: cannot start the token request", op->what);
    }
    op->token_req = req;
    return 0;
}

/* ------------------------------------------------------------- operations */

static bool op_replayable(const reg_op_t *op)
{
    if (op->source)
        return op->req == NULL || http_req_bytes_sent(op->req) == 0;
    if (op->sink)
        return op->req == NULL || http_req_bytes_received(op->req) == 0 ||
               http_req_status(op->req) / 100 != 2;
    return true;
}

static void op_finish(reg_op_t *op, int rc)
{
    op->rc = rc;
    if (rc < 0 && !op->err.message[0])
        ferry_err_set(&op->err, rc, "%s: %s", op->what, ferry_code_name(rc));
    op->err.code = rc;
    op->finished = true;
    http_req_destroy(&op->req);
    if (op->done)
        op->done(op, op->ud);
}

static void on_timer_send(void *ud)
{
    reg_op_t *op = ud;
    op->timer = 0;
    op_send(op);
}

static void op_schedule(reg_op_t *op, int64_t delay_ms)
{
    op->timer = http_loop_timer(op->reg->loop, delay_ms, on_timer_send, op);
    if (!op->timer)
        op_finish(op, ferry_err_set(&op->err, FERRY_ENOMEM, "out of memory"));
}

static int names_add(reg_op_t *op, const char *name)
{
    if (op->n_names >= REG_LIST_MAX)
        return ferry_err_set(&op->err, FERRY_ETOOBIG, "%s: more than %d names", op->what,
                             REG_LIST_MAX);
    op->names_bytes += strlen(name) + 1;
    if (op->names_bytes > REG_LIST_BYTES_MAX)
        return ferry_err_set(&op->err, FERRY_ETOOBIG, "%s: the names listed exceed %d MiB",
                             op->what, REG_LIST_BYTES_MAX >> 20);
    if (op->n_names == op->cap_names) {
        size_t cap = op->cap_names ? op->cap_names * 2 : 64;
        char **n = realloc(op->names, cap * sizeof *n);
        if (!n)
            return FERRY_ENOMEM;
        op->names = n;
        op->cap_names = cap;
    }
    op->names[op->n_names] = strdup(name);
    if (!op->names[op->n_names])
        return FERRY_ENOMEM;
    op->n_names++;
    return 0;
}

static char *media_type_bare(const char *content_type)
{
    if (!content_type)
        return NULL;
    size_t n = strcspn(content_type, ";");
    while (n && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
        n--;
    return strndup(content_type, n);
}

static int64_t parse_range_end(const char *range)
{
    /* "0-N" or "bytes=0-N"; "0-0" from an empty upload is reported by some
     * registries as "0--1" or "0-0". Returns -1 when nothing is stored. */
    if (!range)
        return -1;
    if (strncmp(range, "bytes=", 6) == 0)
        range += 6;
    const char *dash = strchr(range, '-');
    if (!dash)
        return -1;
    char *end = NULL;
    long long v = strtoll(dash + 1, &end, 10);
    if (end == dash + 1 || v < 0)
        return -1;
    return v;
}

static int op_set_location(reg_op_t *op, const char *location)
{
    if (!location || !*location)
        return ferry_err_set(&op->err, FERRY_EPROTO, "%s: the registry sent no Location", op->what);
    char *abs = NULL;
    int rc = url_resolve(op->url, location, &abs, &op->err);
    if (rc < 0)
        return rc;
    if (url_is_plain_http(abs) && !url_is_plain_http(op->reg->base_url)) {
        rc = ferry_err_set(&op->err, FERRY_EPROTO,
                           "%s: the upload location is plain http (%.200s) for an https "
                           "registry: refused",
                           op->what, abs);
        free(abs);
        return rc;
    }
    /* Another origin is followed without the registry's credentials (op_send). */
    free(op->location);
    op->location = abs;
    return 0;
}

/* Reads one listing page and follows its Link header. Returns 1 when another
 * page was requested, 0 when the listing is complete, or an error. */
static int op_list_page(reg_op_t *op, http_req_t *req)
{
    const fbuf_t *body = http_req_body(req);
    json_error_t jerr;
    json_t *doc = json_loadb(body->data ? body->data : "", body->len, 0, &jerr);
    const char *key = op->kind == OP_TAGS ? "tags" : "repositories";
    int rc = 0;
    if (!json_is_object(doc)) {
        rc = ferry_err_set(&op->err, FERRY_EPROTO, "%s: the answer is not a JSON object (%s)",
                           op->what, jerr.text);
        goto out;
    }
    json_t *list = json_object_get(doc, key);
    if (list && !json_is_null(list) && !json_is_array(list)) {
        rc = ferry_err_set(&op->err, FERRY_EPROTO, "%s: \"%s\" is not a list", op->what, key);
        goto out;
    }
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (!json_is_string(v)) {
            rc = ferry_err_set(&op->err, FERRY_EPROTO, "%s: %s[%zu] is not a string", op->what, key,
                               i);
            goto out;
        }
        rc = names_add(op, json_string_value(v));
        if (rc < 0)
            goto out;
    }
    char *next = NULL;
    rc = link_next(http_req_header_get(req, "Link"), &next, &op->err);
    if (rc < 0 || !next)
        goto out;
    if (++op->pages >= REG_LIST_PAGES_MAX) {
        free(next);
        rc = ferry_err_set(&op->err, FERRY_ETOOBIG, "%s: more than %d pages; not followed further",
                           op->what, REG_LIST_PAGES_MAX);
        goto out;
    }
    char *abs = NULL;
    rc = url_resolve(op->url, next, &abs, &op->err);
    free(next);
    if (rc < 0)
        goto out;
    if (!url_same_origin(abs, op->reg->base_url)) {
        /* The listing's credentials belong to this registry alone. */
        rc = ferry_err_set(&op->err, FERRY_EPROTO,
                           "%s: the next page link points at another origin (%.200s): refused, "
                           "credentials stay with %s",
                           op->what, abs, op->reg->base_url);
        free(abs);
        goto out;
    }
    if (strcmp(abs, op->url) == 0) {
        free(abs);
        rc = ferry_err_set(&op->err, FERRY_EPROTO, "%s: the next page link points at the same page",
                           op->what);
        goto out;
    }
    free(op->url);
    op->url = abs;
    rc = 1;
out:
    json_decref(doc);
    return rc;
}

static int op_check_digest_header(reg_op_t *op, http_req_t *req, const char *expected)
{
    const char *hdr = http_req_header_get(req, "Docker-Content-Digest");
    if (!hdr || !expected || strncmp(hdr, "sha256:", 7) != 0 ||
        strncmp(expected, "sha256:", 7) != 0)
        return 0;
    if (strcmp(hdr, expected) != 0) {
        const char *type = http_req_header_get(req, "Content-Type");
        if (type && strstr(type, "distribution.manifest.v1"))
            /* Not corruption: schema 1 manifests are signed anew on every read. */
            return ferry_err_set(&op->err, FERRY_EUNSUPPORTED,
                                 "%s is a Docker schema 1 manifest: registries re-sign it on every "
                                 "read (so its digest never holds) and OCI registries no longer "
                                 "accept it; push the image again with a current client (schema 2 "
                                 "or OCI), then migrate it",
                                 op->what);
        return ferry_err_set(&op->err, FERRY_EDIGEST,
                             "%s: the registry reports digest %.80s, expected %s", op->what, hdr,
                             expected);
    }
    return 0;
}

/* A manifest's (or the referrers') 2xx answer: its bytes, media type and
 * digest, checked against what was asked for and what the registry says. */
static int op_complete_manifest(reg_op_t *op, http_req_t *req)
{
    char actual[DIGEST_STR_MAX];
    int rc;
    if (op->kind == OP_MANIFEST_PUT) {
        digest_sha256(op->body, op->body_len, actual);
        if (strchr(op->ref, ':') && strcmp(op->ref, actual) != 0 &&
            strncmp(op->ref, "sha256:", 7) == 0)
            return ferry_err_set(&op->err, FERRY_EDIGEST, "%s: the bytes have digest %s",
                                 op->what, actual);
        rc = op_check_digest_header(op, req, actual);
        if (rc == 0)
            op->digest = strdup(actual);
        return rc;
    }
    op->media_type = media_type_bare(http_req_header_get(req, "Content-Type"));
    if (op->kind == OP_MANIFEST_HEAD) {
        op->exists = true;
        const char *d = http_req_header_get(req, "Docker-Content-Digest");
        if (d && digest_validate(d, NULL) == 0)
            op->digest = strdup(d);
        else if (strchr(op->ref, ':'))
            op->digest = strdup(op->ref);
        const char *cl = http_req_header_get(req, "Content-Length");
        op->size = cl ? strtoll(cl, NULL, 10) : -1;
        return 0;
    }
    op->resp_body = http_req_body_steal(req, &op->resp_body_len);
    if (op->kind == OP_REFERRERS)
        return 0;
    digest_sha256(op->resp_body, op->resp_body_len, actual);
    if (strchr(op->ref, ':')) {
        rc = digest_verify(op->ref, op->resp_body, op->resp_body_len, &op->err);
        if (rc < 0) {
            ferry_err_prefix(&op->err, "%s", op->what);
            return rc;
        }
        op->digest = strdup(op->ref);
    } else {
        rc = op_check_digest_header(op, req, actual);
        if (rc < 0)
            return rc;
        op->digest = strdup(actual);
    }
    return op->digest ? 0 : FERRY_ENOMEM;
}

/* Interprets a final response for op's kind. */
static int op_complete(reg_op_t *op, http_req_t *req)
{
    int status = http_req_status(req);
    const fbuf_t *body = http_req_body(req);
    switch (op->kind) {
    case OP_PING:
        if (status == 200)
            return 0;
        break;
    case OP_CATALOG:
    case OP_TAGS:
        if (status == 200)
            return op_list_page(op, req);
        break;
    case OP_MANIFEST_GET:
    case OP_REFERRERS:
    case OP_MANIFEST_HEAD:
    case OP_MANIFEST_PUT:
        if (status / 100 != 2 || (op->kind != OP_MANIFEST_PUT && status != 200))
            break;
        return op_complete_manifest(op, req);
    case OP_BLOB_HEAD:
        if (status == 404) {
            op->exists = false;
            return 0;
        }
        if (status != 200)
            break;
        op->exists = true;
        {
            const char *cl = http_req_header_get(req, "Content-Length");
            op->size = cl ? strtoll(cl, NULL, 10) : -1;
        }
        return 0;
    case OP_BLOB_GET:
        if (status == 200 || status == 206) {
            const char *cl = http_req_header_get(req, "Content-Length");
            op->size = cl ? strtoll(cl, NULL, 10) : -1;
            if (!op->sink) /* small blobs read into memory (configs) */
                op->resp_body = http_req_body_steal(req, &op->resp_body_len);
            return 0;
        }
        break;
    case OP_UPLOAD_START:
    case OP_MOUNT:
        if (op->kind == OP_MOUNT && status == 201) {
            op->mounted = true;
            op->exists = true;
            return 0;
        }
        if (status != 202)
            break;
        {
            const char *min = http_req_header_get(req, "OCI-Chunk-Min-Length");
            op->chunk_min = min ? strtoll(min, NULL, 10) : 0;
            if (op->chunk_min < 0)
                op->chunk_min = 0;
        }
        return op_set_location(op, http_req_header_get(req, "Location"));
    case OP_PATCH:
    case OP_UPLOAD_STATUS:
        if (status / 100 != 2)
            break;
        op->range_end = parse_range_end(http_req_header_get(req, "Range"));
        {
            const char *loc = http_req_header_get(req, "Location");
            return op_set_location(op, loc && *loc ? loc : op->url);
        }
    case OP_UPLOAD_FINISH:
        if (status != 201 && status != 204)
            break;
        op->digest = op->expect_digest ? strdup(op->expect_digest) : NULL;
        return op_check_digest_header(op, req, op->expect_digest);
    case OP_UPLOAD_CANCEL:
        if (status / 100 == 2 || status == 404)
            return 0;
        break;
    }
    return regerr_from_response(&op->err, op->what, status, body->data, body->len);
}

static void on_response(http_req_t *req, void *ud)
{
    reg_op_t *op = ud;
    reg_t *reg = op->reg;
    int rc = http_req_result(req);
    int status = http_req_status(req);
    op->status = status;
    if (rc < 0) {
        ferry_err_set(&op->err, rc, "%s: %s", op->what, http_req_error(req));
        if (rc == FERRY_EPROTO && strstr(http_req_error(req), "certificate"))
            ferry_err_prefix(&op->err, "TLS");
    } else if (status == 401) {
        /* Learn the scheme, drop the token that failed, and try once more. */
        const char *challenge = http_req_header_get(req, "WWW-Authenticate");
        wwwauth_challenge_t c = {0};
        rc = FERRY_EAUTH;
        if (challenge && wwwauth_parse(challenge, &c, NULL) == 0) {
            if (strcmp(c.scheme, "bearer") == 0 && c.realm && url_is_plain_http(c.realm) &&
                !url_is_plain_http(reg->base_url) && reg->tls_verify) {
                /* The credentials would cross the network in the clear. */
                ferry_err_set(&op->err, FERRY_EAUTH,
                              "%s: the token realm %.200s is plain http for an https registry: "
                              "refused (--insecure %s allows it)",
                              op->what, c.realm, reg->host);
                wwwauth_challenge_clear(&c);
                op->err.http_status = 401;
                op_finish(op, FERRY_EAUTH);
                return;
            }
            if (strcmp(c.scheme, "bearer") == 0 && c.realm) {
                free(reg->realm);
                free(reg->service);
                reg->realm = strdup(c.realm);
                reg->service = c.service ? strdup(c.service) : NULL;
                reg->auth_mode = AUTH_BEARER;
            } else if (strcmp(c.scheme, "basic") == 0) {
                reg->auth_mode = AUTH_BASIC;
            }
        }
        bool was_authed = op->auth_retries > 0;
        wwwauth_challenge_clear(&c);
        if (op->scope)
            token_forget(reg, op->scope);
        if (reg->auth_mode == AUTH_BASIC && !reg->has_creds) {
            ferry_err_set(&op->err, FERRY_EAUTH, "%s: the registry requires credentials", op->what);
        } else if (op->auth_retries < 2 && op_replayable(op)) {
            op->auth_retries++;
            http_req_destroy(&op->req);
            op_send(op);
            return;
        } else if (!op_replayable(op)) {
            rc = FERRY_ERETRY;
            ferry_err_set(&op->err, rc, "%s: authorization expired during the transfer", op->what);
        } else {
            ferry_err_set(&op->err, FERRY_EAUTH, "%s: %s (HTTP 401)", op->what,
                          reg->has_creds ? (was_authed ? "the credentials were refused"
                                                       : "authentication failed")
                                         : "the registry requires credentials");
        }
        op->err.http_status = 401;
    } else {
        rc = op_complete(op, req);
        if (rc == 1) { /* another page */
            http_req_destroy(&op->req);
            op->attempts = 0;
            op_send(op);
            return;
        }
    }
    if (rc == FERRY_ERETRY && op_replayable(op)) {
        int64_t retry_after = -1;
        const char *ra = http_req_header_get(req, "Retry-After");
        if (ra)
            retry_after_parse(ra, time(NULL), &retry_after);
        int64_t delay = retry_delay_ms(&reg->retry, op->attempts, retry_after, &reg->rng);
        if (retry_allowed(&reg->retry, op->attempts, http_now_ms() - op->started_ms, delay)) {
            http_req_destroy(&op->req);
            ferry_err_clear(&op->err);
            op_schedule(op, delay);
            return;
        }
        ferry_err_prefix(&op->err, "after %d attempts", op->attempts);
    }
    op_finish(op, rc);
}

/* Passes a blob body to the caller's sink. A server that ignores Range
 * answers 200 with the whole blob: the bytes before the offset are dropped
 * here, so the sink always sees the blob from the offset it asked for. */
static size_t op_sink(void *ud, const char *data, size_t len)
{
    reg_op_t *op = ud;
    size_t skip = 0;
    if (op->range_from > 0 && http_req_status(op->req) == 200 && op->skipped < op->range_from) {
        int64_t left = op->range_from - op->skipped;
        skip = (int64_t)len < left ? len : (size_t)left;
    }
    if (skip == len) {
        op->skipped += (int64_t)len;
        return len;
    }
    size_t r = op->sink(op->sink_ud, data + skip, len - skip);
    if (r == HTTP_PAUSE)
        return HTTP_PAUSE;
    if (r != len - skip)
        return 0;
    op->skipped += (int64_t)skip;
    return len;
}

/* Sends (or re-sends) op's request, fetching a token first when needed. */
static void op_send(reg_op_t *op)
{
    reg_t *reg = op->reg;
    int rc;
    /* Pace requests under the registry's rate limit: a request that must
     * wait reserves the next free slot and is sent when it comes. */
    if (reg->qps > 0 && !op->slot_reserved) {
        int64_t now = http_now_ms();
        int64_t interval = (int64_t)(1000.0 / reg->qps);
        if (reg->next_slot_ms > now) {
            int64_t wait = reg->next_slot_ms - now;
            reg->next_slot_ms += interval;
            op->slot_reserved = true;
            op_schedule(op, wait);
            return;
        }
        reg->next_slot_ms = now + interval;
    }
    op->slot_reserved = false;

    const char *scope = op->scope ? op->scope : "";
    const char *token = NULL;
    if (reg->auth_mode == AUTH_BEARER && url_same_origin(op->url, reg->base_url)) {
        token = token_valid(reg, scope);
        if (!token) {
            rc = token_fetch(op, scope);
            if (rc < 0)
                op_finish(op, rc);
            return;
        }
    }
    http_req_t *req = http_req_new(op->method, op->url);
    if (!req) {
        op_finish(op, ferry_err_set(&op->err, FERRY_ENOMEM, "out of memory"));
        return;
    }
    http_req_tls(req, reg->tls_verify, reg->ca_file, reg->ca_pem);
    http_req_timeouts(req, 15, 60);
    rc = 0;
    /* Credentials go only to the origin they were given for: an upload
     * Location on another host is followed without them. */
    bool own = url_same_origin(op->url, reg->base_url);
    if (!own)
        token = NULL;
    if (token) {
        char *h = str_printf("Authorization: Bearer %s", token);
        rc = h ? http_req_header(req, h) : FERRY_ENOMEM;
        str_wipe_free(h);
    } else if (own && reg->auth_mode == AUTH_BASIC && reg->basic_header) {
        rc = http_req_header(req, reg->basic_header);
    }
    if (op->kind == OP_MANIFEST_GET || op->kind == OP_MANIFEST_HEAD) {
        char *h = str_printf("Accept: %s", manifest_accept());
        rc = h ? http_req_header(req, h) : FERRY_ENOMEM;
        free(h);
        http_req_body_max(req, MANIFEST_MAX_SIZE);
    } else if (op->kind == OP_REFERRERS) {
        http_req_header(req, "Accept: application/vnd.oci.image.index.v1+json");
        http_req_body_max(req, MANIFEST_MAX_SIZE);
    } else if (op->kind == OP_CATALOG || op->kind == OP_TAGS) {
        http_req_body_max(req, REG_PAGE_MAX);
    }
    if (op->content_type) {
        char *h = str_printf("Content-Type: %s", op->content_type);
        if (!h || http_req_header(req, h) < 0)
            rc = FERRY_ENOMEM;
        free(h);
    }
    if (op->content_range) {
        char *h = str_printf("Content-Range: %s", op->content_range);
        if (!h || http_req_header(req, h) < 0)
            rc = FERRY_ENOMEM;
        free(h);
    }
    if (op->range_from > 0) {
        char *h = str_printf("Range: bytes=%lld-", (long long)op->range_from);
        if (!h || http_req_header(req, h) < 0)
            rc = FERRY_ENOMEM;
        free(h);
    }
    if (op->has_body)
        http_req_body_mem(req, op->body, op->body_len);
    else if (op->source)
        http_req_body_stream(req, op->source_len, op->source, op->source_ud);
    if (op->sink) {
        op->skipped = 0;
        http_req_sink(req, op_sink, op);
    }
    if (op->kind == OP_BLOB_GET || op->kind == OP_BLOB_HEAD)
        http_req_follow(req, true);
    if (rc == 0)
        rc = http_req_start(reg->loop, req, on_response, op);
    if (rc < 0) {
        http_req_destroy(&req);
        op_finish(op, ferry_err_set(&op->err, rc, "%s: cannot start the request", op->what));
        return;
    }
    op->req = req;
    op->attempts++;
    op->requests++;
    reg->requests++;
}

static reg_op_t *op_new(reg_t *reg, int kind, const char *method, char *url, char *what,
                        const char *repo, const char *ref, char *scope, reg_done_fn done, void *ud)
{
    reg_op_t *op = calloc(1, sizeof *op);
    if (!op || !url || !what || (repo && !(op->repo = strdup(repo))) ||
        (ref && !(op->ref = strdup(ref))) || !(op->method = strdup(method))) {
        free(url);
        free(what);
        free(scope);
        if (op) {
            free(op->repo);
            free(op->ref);
            free(op->method);
            free(op);
        }
        return NULL;
    }
    op->reg = reg;
    op->kind = kind;
    op->url = url;
    op->what = what;
    op->scope = scope;
    op->done = done;
    op->ud = ud;
    op->size = -1;
    op->range_end = -1;
    op->started_ms = http_now_ms();
    op->next = reg->ops;
    if (reg->ops)
        reg->ops->prev = op;
    reg->ops = op;
    return op;
}

/* Appends text as URL path bytes: unreserved characters as they are, '/'
 * too when keep_slash (a repository's components), every other byte
 * percent-encoded. Names are checked against the spec's grammar where they
 * enter, so this changes nothing for a valid one; it keeps any other from
 * ever becoming path syntax ("..", "?", "#"). */
static int url_path_append(fbuf_t *b, const char *text, bool keep_slash)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = isalnum(*p) || *p == '-' || *p == '_' || *p == '~' || *p == ':' ||
                     (*p == '.' && !(p[1] == '.' && (p == (const unsigned char *)text || p[-1] == '/'))) ||
                     (*p == '/' && keep_slash);
        int rc = plain ? fbuf_append(b, p, 1) : fbuf_printf(b, "%%%02X", *p);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* base/v2/REPO/PATH[REF][QUERY], each name escaped; NULL when out of memory. */
static char *api_url(const reg_t *reg, const char *repo, const char *path, const char *ref,
                     const char *query)
{
    fbuf_t b;
    fbuf_init(&b, 64 * 1024);
    int rc = fbuf_printf(&b, "%s/v2/", reg->base_url);
    if (rc == 0)
        rc = url_path_append(&b, repo, true);
    if (rc == 0)
        rc = fbuf_printf(&b, "/%s", path);
    if (rc == 0 && ref)
        rc = url_path_append(&b, ref, false);
    if (rc == 0 && query)
        rc = fbuf_printf(&b, "%s", query);
    if (rc < 0) {
        fbuf_free(&b);
        return NULL;
    }
    return b.data;
}

static char *scope_pull(const char *repo)
{
    return str_printf("repository:%s:pull", repo);
}

static char *scope_push(const char *repo)
{
    return str_printf("repository:%s:pull,push", repo);
}

/* Starts op on the next loop turn, so callbacks never run inside the caller. */
static reg_op_t *op_start(reg_op_t *op)
{
    if (op)
        op_schedule(op, 0);
    return op;
}

reg_op_t *reg_ping(reg_t *reg, reg_done_fn done, void *ud)
{
    return op_start(op_new(reg, OP_PING, "GET", str_printf("%s/v2/", reg->base_url),
                           str_printf("GET /v2/ on %s", reg->host), NULL, NULL, NULL, done, ud));
}

reg_op_t *reg_catalog(reg_t *reg, int page_size, reg_done_fn done, void *ud)
{
    char *url = page_size > 0 ? str_printf("%s/v2/_catalog?n=%d", reg->base_url, page_size)
                              : str_printf("%s/v2/_catalog", reg->base_url);
    return op_start(op_new(reg, OP_CATALOG, "GET", url, str_printf("catalog of %s", reg->host),
                           NULL, NULL, strdup("registry:catalog:*"), done, ud));
}

reg_op_t *reg_tags_list(reg_t *reg, const char *repo, int page_size, reg_done_fn done, void *ud)
{
    char query[32] = "";
    if (page_size > 0)
        snprintf(query, sizeof query, "?n=%d", page_size);
    char *url = api_url(reg, repo, "tags/list", NULL, query);
    return op_start(op_new(reg, OP_TAGS, "GET", url, str_printf("tags of %s/%s", reg->host, repo),
                           repo, NULL, scope_pull(repo), done, ud));
}

static const char *ref_sep(const char *ref)
{
    return strchr(ref, ':') ? "@" : ":";
}

reg_op_t *reg_manifest_get(reg_t *reg, const char *repo, const char *ref, reg_done_fn done,
                           void *ud)
{
    return op_start(op_new(reg, OP_MANIFEST_GET, "GET",
                           api_url(reg, repo, "manifests/", ref, NULL),
                           str_printf("manifest %s/%s%s%s", reg->host, repo, ref_sep(ref), ref),
                           repo, ref, scope_pull(repo), done, ud));
}

reg_op_t *reg_manifest_head(reg_t *reg, const char *repo, const char *ref, reg_done_fn done,
                            void *ud)
{
    return op_start(op_new(reg, OP_MANIFEST_HEAD, "HEAD",
                           api_url(reg, repo, "manifests/", ref, NULL),
                           str_printf("manifest %s/%s%s%s", reg->host, repo, ref_sep(ref), ref),
                           repo, ref, scope_pull(repo), done, ud));
}

reg_op_t *reg_manifest_put(reg_t *reg, const char *repo, const char *ref, const char *media_type,
                           const void *body, size_t len, reg_done_fn done, void *ud)
{
    reg_op_t *op = op_new(reg, OP_MANIFEST_PUT, "PUT",
                          api_url(reg, repo, "manifests/", ref, NULL),
                          str_printf("push manifest %s/%s%s%s", reg->host, repo, ref_sep(ref), ref),
                          repo, ref, scope_push(repo), done, ud);
    if (!op)
        return NULL;
    op->has_body = true;
    op->body = body;
    op->body_len = len;
    op->content_type = strdup(media_type);
    return op_start(op);
}

reg_op_t *reg_referrers(reg_t *reg, const char *repo, const char *digest, reg_done_fn done,
                        void *ud)
{
    return op_start(op_new(reg, OP_REFERRERS, "GET",
                           api_url(reg, repo, "referrers/", digest, NULL),
                           str_printf("referrers of %s/%s@%s", reg->host, repo, digest), repo,
                           digest, scope_pull(repo), done, ud));
}

reg_op_t *reg_blob_head(reg_t *reg, const char *repo, const char *digest, reg_done_fn done,
                        void *ud)
{
    return op_start(op_new(reg, OP_BLOB_HEAD, "HEAD",
                           api_url(reg, repo, "blobs/", digest, NULL),
                           str_printf("blob %s/%s@%s", reg->host, repo, digest), repo, digest,
                           scope_pull(repo), done, ud));
}

reg_op_t *reg_blob_get(reg_t *reg, const char *repo, const char *digest, int64_t offset,
                       http_sink_fn sink, void *sink_ud, reg_done_fn done, void *ud)
{
    reg_op_t *op = op_new(reg, OP_BLOB_GET, "GET",
                          api_url(reg, repo, "blobs/", digest, NULL),
                          str_printf("GET blob %s/%s@%s", reg->host, repo, digest), repo, digest,
                          scope_pull(repo), done, ud);
    if (!op)
        return NULL;
    op->range_from = offset;
    op->sink = sink;
    op->sink_ud = sink_ud;
    return op_start(op);
}

reg_op_t *reg_upload_start(reg_t *reg, const char *repo, reg_done_fn done, void *ud)
{
    return op_start(op_new(reg, OP_UPLOAD_START, "POST",
                           api_url(reg, repo, "blobs/uploads/", NULL, NULL),
                           str_printf("start upload to %s/%s", reg->host, repo), repo, NULL,
                           scope_push(repo), done, ud));
}

reg_op_t *reg_blob_mount(reg_t *reg, const char *repo, const char *digest, const char *from_repo,
                         reg_done_fn done, void *ud)
{
    fbuf_t q;
    fbuf_init(&q, 4096);
    char *query = NULL;
    if (fbuf_puts(&q, "?mount=") == 0 && url_path_append(&q, digest, false) == 0 &&
        fbuf_puts(&q, "&from=") == 0 && url_path_append(&q, from_repo, true) == 0)
        query = q.data;
    else
        fbuf_free(&q);
    char *url = query ? api_url(reg, repo, "blobs/uploads/", NULL, query) : NULL;
    free(query);
    return op_start(op_new(
        reg, OP_MOUNT, "POST", url,
        str_printf("mount %s from %s into %s/%s", digest, from_repo, reg->host, repo), repo, digest,
        str_printf("repository:%s:pull,push repository:%s:pull", repo, from_repo), done, ud));
}

static char *location_path(const char *location)
{
    /* Messages name the upload by its path, without the query's state. */
    return strndup(location, strcspn(location, "?"));
}

reg_op_t *reg_upload_patch(reg_t *reg, const char *repo, const char *location, int64_t offset,
                           int64_t length, http_source_fn source, void *source_ud, reg_done_fn done,
                           void *ud)
{
    char *path = location_path(location);
    reg_op_t *op = op_new(reg, OP_PATCH, "PATCH", strdup(location),
                          str_printf("PATCH bytes %lld-%lld of upload to %s/%s", (long long)offset,
                                     (long long)(offset + length - 1), reg->host, repo),
                          repo, NULL, scope_push(repo), done, ud);
    free(path);
    if (!op)
        return NULL;
    op->source = source;
    op->source_ud = source_ud;
    op->source_len = length;
    op->content_type = strdup("application/octet-stream");
    op->content_range =
        str_printf("%lld-%lld", (long long)offset, (long long)(offset + length - 1));
    return op_start(op);
}

reg_op_t *reg_upload_status(reg_t *reg, const char *repo, const char *location, reg_done_fn done,
                            void *ud)
{
    return op_start(op_new(reg, OP_UPLOAD_STATUS, "GET", strdup(location),
                           str_printf("status of upload to %s/%s", reg->host, repo), repo, NULL,
                           scope_push(repo), done, ud));
}

reg_op_t *reg_upload_finish(reg_t *reg, const char *repo, const char *location, const char *digest,
                            int64_t length, http_source_fn source, void *source_ud,
                            reg_done_fn done, void *ud)
{
    fbuf_t url;
    fbuf_init(&url, 64 * 1024);
    int rc = fbuf_puts(&url, location);
    if (rc == 0)
        rc = fbuf_puts(&url, strchr(location, '?') ? "&digest=" : "?digest=");
    if (rc == 0)
        rc = url_escape(&url, digest);
    if (rc < 0) {
        fbuf_free(&url);
        return NULL;
    }
    reg_op_t *op = op_new(reg, OP_UPLOAD_FINISH, "PUT", fbuf_steal(&url),
                          str_printf("upload of %s to %s/%s", digest, reg->host, repo), repo, NULL,
                          scope_push(repo), done, ud);
    if (!op)
        return NULL;
    op->expect_digest = strdup(digest);
    if (source) {
        op->source = source;
        op->source_ud = source_ud;
        op->source_len = length;
        op->content_type = strdup("application/octet-stream");
    } else {
        op->has_body = true;
        op->body = "";
        op->body_len = 0;
    }
    return op_start(op);
}

reg_op_t *reg_upload_cancel(reg_t *reg, const char *repo, const char *location, reg_done_fn done,
                            void *ud)
{
    return op_start(op_new(reg, OP_UPLOAD_CANCEL, "DELETE", strdup(location),
                           str_printf("cancel upload to %s/%s", reg->host, repo), repo, NULL,
                           scope_push(repo), done, ud));
}

/* ---------------------------------------------------------------- results */

int reg_op_wait(reg_op_t *op)
{
    while (!op->finished && op->reg)
        http_loop_run(op->reg->loop, 1000, NULL, 0);
    return op->rc;
}

bool reg_op_finished(const reg_op_t *op)
{
    return op->finished;
}

int reg_op_result(const reg_op_t *op)
{
    return op->rc;
}

const ferry_err_t *reg_op_error(const reg_op_t *op)
{
    return &op->err;
}

int reg_op_status(const reg_op_t *op)
{
    return op->status;
}

const char *reg_op_body(const reg_op_t *op, size_t *len_out)
{
    if (len_out)
        *len_out = op->resp_body_len;
    return op->resp_body;
}

char *reg_op_steal_body(reg_op_t *op, size_t *len_out)
{
    char *b = op->resp_body;
    if (len_out)
        *len_out = op->resp_body_len;
    op->resp_body = NULL;
    op->resp_body_len = 0;
    return b;
}

const char *reg_op_digest(const reg_op_t *op)
{
    return op->digest;
}

const char *reg_op_media_type(const reg_op_t *op)
{
    return op->media_type;
}

int64_t reg_op_size(const reg_op_t *op)
{
    return op->size;
}

bool reg_op_exists(const reg_op_t *op)
{
    return op->exists;
}

bool reg_op_mounted(const reg_op_t *op)
{
    return op->mounted;
}

const char *reg_op_location(const reg_op_t *op)
{
    return op->location;
}

int64_t reg_op_range_end(const reg_op_t *op)
{
    return op->range_end;
}

int64_t reg_op_chunk_min(const reg_op_t *op)
{
    return op->chunk_min;
}

char *const *reg_op_names(const reg_op_t *op, size_t *n_out)
{
    if (n_out)
        *n_out = op->n_names;
    return op->names;
}

void reg_op_resume(reg_op_t *op)
{
    if (op->req)
        http_req_resume(op->req);
}

int reg_op_attempts(const reg_op_t *op)
{
    return op->requests;
}

void reg_op_destroy(reg_op_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    reg_op_t *op = *self_p;
    op_cancel_requests(op);
    op_unlink(op);
    free(op->method);
    free(op->url);
    free(op->what);
    free(op->scope);
    free(op->repo);
    free(op->ref);
    free(op->content_type);
    free(op->content_range);
    free(op->expect_digest);
    free(op->token_scope);
    free(op->resp_body);
    free(op->digest);
    free(op->media_type);
    free(op->location);
    for (size_t i = 0; i < op->n_names; i++)
        free(op->names[i]);
    free(op->names);
    free(op);
    *self_p = NULL;
}
