/* tcapi — blocking TCR API client on one reused curl easy handle: TC3
 * signing, a client-side token bucket, backoff on RequestLimitExceeded,
 * bounded bodies and both paging schemes of the API (item offsets for the
 * Personal Edition, 1-based page numbers for Enterprise Edition lists). */
#include "common/tcapi.h"
#include "common/buf.h"
#include "common/digest.h"
#include "common/tc3.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TCAPI_DEFAULT_ENDPOINT  "https://tcr.tencentcloudapi.com"
#define TCAPI_SERVICE           "tcr"
#define TCAPI_VERSION           "2019-09-24"
#define TCAPI_CONTENT_TYPE      "application/json; charset=utf-8"
#define TCAPI_BODY_MAX          ((size_t)8 << 20) /* cap on one response body */
#define TCAPI_REQUEST_MAX       ((size_t)1 << 20) /* cap on one request body */
#define TCAPI_PAGE_LIMIT        100               /* the API's largest Limit */
#define TCAPI_ITEMS_MAX         1000000           /* cap on any listing, against endless paging */
#define TCAPI_CONNECT_TIMEOUT_S 10L
#define TCAPI_TIMEOUT_S         60L
#define TCAPI_BACKOFF_BASE_MS   250
#define TCAPI_BACKOFF_MAX_MS    8000
#define TCAPI_DEFAULT_QPS       10.0
#define TCAPI_DEFAULT_RETRIES   5
#define TCAPI_CODE_MAX          128 /* longest error code kept */
#define TCAPI_TEXT_MAX          200 /* longest server text quoted in a message */
#define TCAPI_NAME_MAX          255 /* longest namespace, repository or tag name accepted */

struct tcapi {
    CURL *curl;               /* one easy handle, reused so the connection stays open */
    char *url;                /* endpoint with the path "/" */
    char *host;               /* host[:port] of the endpoint, sent and signed as Host */
    char *secret_id;          /* shown in messages */
    char *secret_key;         /* never shown; wiped on destroy */
    char *session_token;      /* X-TC-Token of temporary keys, or NULL; wiped on destroy */
    char *region;             /* X-TC-Region */
    char *side;               /* "ccr" or "tcr", for messages */
    char *ca_file;            /* CA bundle or NULL */
    bool insecure;            /* TLS verification off */
    double qps;               /* token refill rate, calls per second */
    double bucket_size;       /* most tokens the bucket holds (burst) */
    double tokens;            /* tokens available at `refilled` */
    struct timespec refilled; /* CLOCK_MONOTONIC time of the last refill */
    int max_retries;          /* retries per call */
    unsigned jitter_seed;     /* rand_r state for backoff jitter */
    uint64_t requests;        /* HTTP requests made */
};

/* ---- small helpers ---- */

static char *tcapi_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* True when s is 1..max bytes without control characters. */
static bool tcapi_text_ok(const char *s, size_t max)
{
    if (!s || !*s)
        return false;
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* The string member `key` of obj when it is valid text of at most max
 * bytes, else NULL. */
static const char *tcapi_json_text(json_t *obj, const char *key, size_t max)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return tcapi_text_ok(s, max) ? s : NULL;
}

/* Copies server text for a message: control characters become spaces, the
 * text is cut at TCAPI_TEXT_MAX, and text containing the SecretKey is
 * withheld entirely. */
static void tcapi_quote(const tcapi_t *api, const char *in, char out[TCAPI_TEXT_MAX + 1])
{
    if (!in) {
        snprintf(out, TCAPI_TEXT_MAX + 1, "(none)");
        return;
    }
    if (strstr(in, api->secret_key)) {
        snprintf(out, TCAPI_TEXT_MAX + 1, "(withheld: it contained the SecretKey)");
        return;
    }
    size_t i = 0;
    for (; in[i] && i < TCAPI_TEXT_MAX; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[i] = '\0';
}

static void tcapi_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Waits until the token bucket holds a token, then takes it. */
static void tcapi_throttle(tcapi_t *api)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - api->refilled.tv_sec) +
                     (double)(now.tv_nsec - api->refilled.tv_nsec) / 1e9;
    if (elapsed > 0)
        api->tokens += elapsed * api->qps;
    if (api->tokens > api->bucket_size)
        api->tokens = api->bucket_size;
    api->refilled = now;
    if (api->tokens < 1.0) {
        double wait_s = (1.0 - api->tokens) / api->qps;
        tcapi_sleep_ms((long)(wait_s * 1000.0) + 1);
        clock_gettime(CLOCK_MONOTONIC, &api->refilled);
        api->tokens = 1.0;
    }
    api->tokens -= 1.0;
}

/* Sleeps before retry number `attempt` (0-based): exponential with jitter. */
static void tcapi_backoff(tcapi_t *api, int attempt)
{
    long ms = TCAPI_BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && ms < TCAPI_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > TCAPI_BACKOFF_MAX_MS)
        ms = TCAPI_BACKOFF_MAX_MS;
    ms += rand_r(&api->jitter_seed) % (ms / 4 + 1);
    tcapi_sleep_ms(ms);
}

/* ---- client lifecycle ---- */

/* Splits "scheme://host[:port][/]" into the POST URL and the Host value. */
static int tcapi_parse_endpoint(tcapi_t *api, const char *endpoint, ferry_err_t *err)
{
    const char *rest;
    if (strncmp(endpoint, "https://", 8) == 0)
        rest = endpoint + 8;
    else if (strncmp(endpoint, "http://", 7) == 0)
        rest = endpoint + 7;
    else
        return ferry_err_set(err, FERRY_EINVAL,
                             "API endpoint '%.200s' must start with https:// or http://", endpoint);
    size_t host_len = strcspn(rest, "/?#");
    const char *path = rest + host_len;
    if (host_len == 0 || (path[0] && strcmp(path, "/") != 0) || memchr(rest, '@', host_len))
        return ferry_err_set(err, FERRY_EINVAL,
                             "API endpoint '%.200s' must be scheme://host[:port] with no path, "
                             "query or user",
                             endpoint);
    api->host = strndup(rest, host_len);
    size_t url_len = (size_t)(path - endpoint);
    api->url = malloc(url_len + 2);
    if (!api->host || !api->url)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    memcpy(api->url, endpoint, url_len);
    memcpy(api->url + url_len, "/", 2);
    return 0;
}

static bool tcapi_region_ok(const char *region)
{
    if (!tcapi_text_ok(region, 64))
        return false;
    for (const char *p = region; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

tcapi_t *tcapi_new(const tcapi_opts_t *opts, ferry_err_t *err)
{
    tcapi_t *api = NULL;
    int rc = 0;

    if (!opts) {
        ferry_err_set(err, FERRY_EINVAL, "TCR API client: no options");
        return NULL;
    }
    const char *side = opts->side ? opts->side : "tcr";
    if (!tcapi_text_ok(side, 16)) {
        ferry_err_set(err, FERRY_EINVAL, "TCR API client: invalid side name");
        return NULL;
    }
    if (!tcapi_text_ok(opts->secret_id, 128) || strchr(opts->secret_id, ' ')) {
        ferry_err_set(err, FERRY_EINVAL, "%s API: SecretId is missing or malformed", side);
        return NULL;
    }
    if (!tcapi_text_ok(opts->secret_key, 256)) {
        ferry_err_set(err, FERRY_EINVAL,
                      "%s API: SecretKey for SecretId %s is missing or malformed", side,
                      opts->secret_id);
        return NULL;
    }
    if (!tcapi_region_ok(opts->region)) {
        ferry_err_set(err, FERRY_EINVAL, "%s API: region '%.64s' is missing or malformed", side,
                      opts->region ? opts->region : "");
        return NULL;
    }
    if (!(opts->qps >= 0 && opts->qps <= 1e6)) { /* also refuses NaN */
        ferry_err_set(err, FERRY_EINVAL, "%s API: qps must be a positive number", side);
        return NULL;
    }

    api = calloc(1, sizeof *api);
    if (!api) {
        ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        return NULL;
    }
    if ((rc = tcapi_parse_endpoint(api, opts->endpoint ? opts->endpoint : TCAPI_DEFAULT_ENDPOINT,
                                   err)) < 0)
        goto out;
    api->secret_id = tcapi_strdup(opts->secret_id);
    api->secret_key = tcapi_strdup(opts->secret_key);
    api->region = tcapi_strdup(opts->region);
    api->side = tcapi_strdup(side);
    api->ca_file = opts->ca_file ? tcapi_strdup(opts->ca_file) : NULL;
    api->session_token = opts->session_token ? tcapi_strdup(opts->session_token) : NULL;
    api->curl = curl_easy_init();
    if (!api->secret_id || !api->secret_key || !api->region || !api->side ||
        (opts->ca_file && !api->ca_file) || (opts->session_token && !api->session_token) ||
        !api->curl) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    api->insecure = opts->insecure;
    api->qps = opts->qps > 0 ? opts->qps : TCAPI_DEFAULT_QPS;
    api->bucket_size = api->qps < 1.0 ? 1.0 : api->qps;
    api->tokens = api->bucket_size;
    clock_gettime(CLOCK_MONOTONIC, &api->refilled);
    api->max_retries = opts->max_retries == 0  ? TCAPI_DEFAULT_RETRIES
                       : opts->max_retries < 0 ? 0
                                               : opts->max_retries;
    api->jitter_seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)api;
out:
    if (rc < 0)
        tcapi_destroy(&api);
    return api;
}

void tcapi_destroy(tcapi_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tcapi_t *api = *self_p;
    if (api->curl)
        curl_easy_cleanup(api->curl);
    if (api->secret_key) {
        memset(api->secret_key, 0, strlen(api->secret_key));
        free(api->secret_key);
    }
    if (api->session_token) {
        memset(api->session_token, 0, strlen(api->session_token));
        free(api->session_token);
    }
    free(api->url);
    free(api->host);
    free(api->secret_id);
    free(api->region);
    free(api->side);
    free(api->ca_file);
    free(api);
    *self_p = NULL;
}

uint64_t tcapi_requests(const tcapi_t *api)
{
    return api ? api->requests : 0;
}

/* ---- one HTTP exchange ---- */

static size_t tcapi_on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    fbuf_t *body = userdata;
    size_t n = size * nmemb;
    return fbuf_append(body, data, n) < 0 ? 0 : n;
}

static bool tcapi_curl_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* POSTs body as `action` and collects the response into *resp. 0 when an
 * HTTP response arrived (any status, in *status_out); FERRY_ERETRY for a
 * transport failure worth retrying; FERRY_ETOOBIG, FERRY_EPROTO, FERRY_EINVAL
 * or FERRY_ENOMEM otherwise. */
static int tcapi_post(tcapi_t *api, const char *action, const char *body, size_t body_len,
                      fbuf_t *resp, long *status_out, ferry_err_t *err)
{
    struct curl_slist *headers = NULL, *h;
    char *authorization = NULL;
    char curl_msg[CURL_ERROR_SIZE] = "";
    fbuf_t line;
    int rc;

    fbuf_init(&line, 16 * 1024);
    fbuf_reset(resp);
    *status_out = 0;
    int64_t now = (int64_t)time(NULL);
    tc3_request_t sig = {
        .secret_id = api->secret_id,
        .secret_key = api->secret_key,
        .service = TCAPI_SERVICE,
        .host = api->host,
        .content_type = TCAPI_CONTENT_TYPE,
        .timestamp = now,
        .body = body,
        .body_len = body_len,
    };
    if ((rc = tc3_sign(&sig, &authorization, err)) < 0)
        goto out;

    const char *fixed[][2] = {
        {"Host", api->host},
        {"Content-Type", TCAPI_CONTENT_TYPE},
        {"Authorization", authorization},
        {"X-TC-Action", action},
        {"X-TC-Version", TCAPI_VERSION},
        {"X-TC-Region", api->region},
        {"X-TC-Language", "en-US"},
        {"Expect", ""},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        fbuf_reset(&line);
        if ((rc = fbuf_printf(&line, "%s:%s%s", fixed[i][0], fixed[i][1][0] ? " " : "",
                              fixed[i][1])) < 0 ||
            !(h = curl_slist_append(headers, line.data))) {
            rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
            goto out;
        }
        headers = h;
    }
    fbuf_reset(&line);
    if ((rc = fbuf_printf(&line, "X-TC-Timestamp: %lld", (long long)now)) < 0 ||
        !(h = curl_slist_append(headers, line.data))) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    headers = h;
    if (api->session_token) {
        /* Temporary keys (STS, a CVM role) are signed as usual and carry
         * their session token. */
        fbuf_reset(&line);
        if ((rc = fbuf_printf(&line, "X-TC-Token: %s", api->session_token)) < 0 ||
            !(h = curl_slist_append(headers, line.data))) {
            rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
            goto out;
        }
        headers = h;
    }

    CURL *c = api->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, api->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tcapi_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_msg);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, TCAPI_CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, TCAPI_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)TCAPI_BODY_MAX);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (api->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, api->ca_file);
    if (api->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    api->requests++;
    CURLcode cc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status_out);
    if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) {
        rc = ferry_err_set(err, FERRY_ETOOBIG, "%s API %s: response larger than %zu bytes",
                           api->side, action, TCAPI_BODY_MAX);
    } else if (cc != CURLE_OK) {
        rc = ferry_err_set(err, tcapi_curl_retryable(cc) ? FERRY_ERETRY : FERRY_EPROTO,
                           "%s API %s at %s: %s", api->side, action, api->host,
                           curl_msg[0] ? curl_msg : curl_easy_strerror(cc));
    } else {
        rc = 0;
    }
out:
    curl_slist_free_all(headers);
    free(authorization);
    fbuf_free(&line);
    return rc;
}

/* ---- calls and errors ---- */

/* The FERRY_E* code for an API error code. */
static int tcapi_map_code(const char *code)
{
    if (strncmp(code, "AuthFailure", 11) == 0 || strncmp(code, "UnauthorizedOperation", 21) == 0)
        return FERRY_EAUTH;
    if (strncmp(code, "ResourceNotFound", 16) == 0)
        return FERRY_ENOTFOUND;
    if (strstr(code, "ResourceConflict"))
        return FERRY_EEXIST;
    if (strncmp(code, "InternalError", 13) == 0 || strncmp(code, "RequestLimitExceeded", 20) == 0 ||
        strncmp(code, "ResourceUnavailable", 19) == 0)
        return FERRY_ERETRY;
    return FERRY_EINVAL;
}

/* An answer worth asking again: the service was busy or failed inside
 * (InternalError*, but not a conflict), rate-limited, or unavailable. */
static bool tcapi_transient(const char *code)
{
    return (strncmp(code, "InternalError", 13) == 0 && !strstr(code, "ResourceConflict")) ||
           strncmp(code, "RequestLimitExceeded", 20) == 0 ||
           strncmp(code, "ResourceUnavailable", 19) == 0;
}

/* The error for an API answer with Response.Error, after attempts tries. */
static int tcapi_error(const tcapi_t *api, const char *action, const char *code,
                       const char *message, const char *request_id, int attempts, ferry_err_t *err)
{
    int ferry_code = tcapi_map_code(code);
    if (ferry_code == FERRY_EAUTH)
        return ferry_err_set(err, FERRY_EAUTH,
                             "%s API credentials rejected (SecretId %s, region %s) on %s: %s: %s "
                             "(RequestId %s)",
                             api->side, api->secret_id, api->region, action, code, message,
                             request_id);
    if (tcapi_transient(code))
        return ferry_err_set(err, FERRY_ERETRY, "%s API %s: %s: %s (RequestId %s), after %d attempts",
                             api->side, action, code, message, request_id, attempts);
    return ferry_err_set(err, ferry_code, "%s API %s: %s: %s (RequestId %s)", api->side, action,
                         code, message, request_id);
}

/* Like tcapi_call; also copies the API error code (or "") into code_out
 * when it is not NULL. */
static int tcapi_call_code(tcapi_t *api, const char *action, json_t *request, json_t **response_out,
                           char code_out[TCAPI_CODE_MAX], ferry_err_t *err)
{
    json_t *empty = NULL, *root = NULL;
    char *body = NULL;
    fbuf_t resp;
    int rc;

    fbuf_init(&resp, TCAPI_BODY_MAX);
    *response_out = NULL;
    if (code_out)
        code_out[0] = '\0';
    if (!api || !tcapi_text_ok(action, 64) ||
        strspn(action, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(action))
        return ferry_err_set(err, FERRY_EINVAL, "TCR API: invalid action name");
    if (request && !json_is_object(request))
        return ferry_err_set(err, FERRY_EINVAL, "%s API %s: the request must be a JSON object",
                             api->side, action);
    if (!request && !(request = empty = json_object())) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    body = json_dumps(request, JSON_COMPACT);
    if (!body) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "%s API %s: cannot encode the request", api->side,
                           action);
        goto out;
    }
    size_t body_len = strlen(body);
    if (body_len > TCAPI_REQUEST_MAX) {
        rc = ferry_err_set(err, FERRY_ETOOBIG, "%s API %s: request larger than %zu bytes",
                           api->side, action, TCAPI_REQUEST_MAX);
        goto out;
    }

    for (int attempt = 0;; attempt++) {
        long status = 0;
        bool last = attempt >= api->max_retries;
        json_decref(root);
        root = NULL;
        tcapi_throttle(api);
        rc = tcapi_post(api, action, body, body_len, &resp, &status, err);
        if (rc == FERRY_ERETRY && !last) {
            tcapi_backoff(api, attempt);
            continue;
        }
        if (rc < 0) {
            if (rc == FERRY_ERETRY && err)
                ferry_err_prefix(err, "gave up after %d attempt(s)", attempt + 1);
            goto out;
        }
        if (err)
            err->http_status = (int)status;

        root = json_loadb(resp.data ? resp.data : "", resp.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *response = json_object_get(root, "Response");
        if (!json_is_object(response)) {
            if ((status >= 500 || status == 429) && !last) {
                tcapi_backoff(api, attempt);
                continue;
            }
            rc = ferry_err_set(err, status >= 500 || status == 429 ? FERRY_ERETRY : FERRY_EPROTO,
                               "%s API %s: HTTP %ld without a JSON Response object", api->side,
                               action, status);
            if (err)
                err->http_status = (int)status;
            goto out;
        }
        json_t *error = json_object_get(response, "Error");
        if (!error) {
            if (status != 200) {
                rc = ferry_err_set(err, FERRY_EPROTO, "%s API %s: HTTP %ld without an Error",
                                   api->side, action, status);
                if (err)
                    err->http_status = (int)status;
                goto out;
            }
            *response_out = json_incref(response);
            rc = 0;
            goto out;
        }

        const char *code = tcapi_json_text(error, "Code", TCAPI_CODE_MAX - 1);
        char message[TCAPI_TEXT_MAX + 1], request_id[TCAPI_TEXT_MAX + 1];
        tcapi_quote(api, json_string_value(json_object_get(error, "Message")), message);
        tcapi_quote(api, json_string_value(json_object_get(response, "RequestId")), request_id);
        if (!code) {
            rc = ferry_err_set(err, FERRY_EPROTO, "%s API %s: Response.Error without a valid Code",
                               api->side, action);
            goto out;
        }
        if (code_out)
            snprintf(code_out, TCAPI_CODE_MAX, "%s", code);
        if (tcapi_transient(code) && !last) {
            tcapi_backoff(api, attempt); /* and signed again, with a new timestamp */
            continue;
        }
        rc = tcapi_error(api, action, code, message, request_id, attempt + 1, err);
        if (err)
            err->http_status = (int)status;
        goto out;
    }
out:
    json_decref(root);
    json_decref(empty);
    free(body);
    fbuf_free(&resp);
    return rc;
}

int tcapi_call(tcapi_t *api, const char *action, json_t *request, json_t **response_out,
               ferry_err_t *err)
{
    return tcapi_call_code(api, action, request, response_out, NULL, err);
}

/* ---- paging ---- */

/* Called for each item of a page; 0 to go on, 1 to stop listing, or a
 * negative FERRY_E* code (with err set) to fail. */
typedef int (*tcapi_item_fn)(void *ctx, json_t *item, ferry_err_t *err);

/* How one list action pages. */
typedef struct tcapi_pager {
    const char *action;    /* API action */
    const char *data_key;  /* object holding the list ("Data"), NULL = Response itself */
    const char *count_key; /* total count member */
    const char *list_key;  /* array member */
    bool page_numbers;     /* Offset is a 1-based page number, not an item offset */
} tcapi_pager_t;

/* Lists every item of an action. `request` (owned by the caller) gets its
 * Offset and Limit set on each page. Stops when the total is reached, on an
 * empty page, on a short page with page numbers, or when fn says so. */
static int tcapi_list(tcapi_t *api, const tcapi_pager_t *pager, json_t *request, tcapi_item_fn fn,
                      void *ctx, ferry_err_t *err)
{
    json_t *response = NULL;
    int64_t offset = pager->page_numbers ? 1 : 0;
    size_t collected = 0;
    int rc = 0;

    for (;;) {
        if (json_object_set_new(request, "Offset", json_integer(offset)) < 0 ||
            json_object_set_new(request, "Limit", json_integer(TCAPI_PAGE_LIMIT)) < 0) {
            rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
            goto out;
        }
        json_decref(response);
        response = NULL;
        if ((rc = tcapi_call(api, pager->action, request, &response, err)) < 0)
            goto out;
        json_t *data = pager->data_key ? json_object_get(response, pager->data_key) : response;
        json_t *count = json_object_get(data, pager->count_key);
        json_t *list = json_object_get(data, pager->list_key);
        if (!json_is_object(data) || !json_is_integer(count) || json_integer_value(count) < 0 ||
            (list && !json_is_null(list) && !json_is_array(list))) {
            rc = ferry_err_set(err, FERRY_EPROTO, "%s API %s: response lacks %s%s%s and %s",
                               api->side, pager->action, pager->data_key ? pager->data_key : "",
                               pager->data_key ? "." : "", pager->count_key, pager->list_key);
            goto out;
        }
        size_t n = json_is_array(list) ? json_array_size(list) : 0;
        if (n > TCAPI_PAGE_LIMIT) {
            rc = ferry_err_set(err, FERRY_EPROTO, "%s API %s: %zu items on a page of at most %d",
                               api->side, pager->action, n, TCAPI_PAGE_LIMIT);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            rc = fn(ctx, json_array_get(list, i), err);
            if (rc < 0)
                goto out;
            if (rc > 0) {
                rc = 0;
                goto out;
            }
        }
        collected += n;
        if (collected > TCAPI_ITEMS_MAX) {
            rc = ferry_err_set(err, FERRY_ETOOBIG, "%s API %s: more than %d items", api->side,
                               pager->action, TCAPI_ITEMS_MAX);
            goto out;
        }
        if (n == 0 || collected >= (size_t)json_integer_value(count) ||
            (pager->page_numbers && n < TCAPI_PAGE_LIMIT))
            break;
        offset = pager->page_numbers ? offset + 1 : offset + (int64_t)n;
    }
out:
    json_decref(response);
    return rc;
}

/* A growing vector of owned strings. */
typedef struct tcapi_strv {
    char **v;   /* strings, owned */
    size_t n;   /* used */
    size_t cap; /* allocated */
} tcapi_strv_t;

static int tcapi_strv_push(tcapi_strv_t *sv, const char *s, ferry_err_t *err)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        char **v = realloc(sv->v, cap * sizeof *v);
        if (!v)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        sv->v = v;
        sv->cap = cap;
    }
    if (!(sv->v[sv->n] = tcapi_strdup(s)))
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    sv->n++;
    return 0;
}

static int tcapi_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts, drops duplicates and hands the vector to the caller. */
static void tcapi_strv_finish(tcapi_strv_t *sv, char ***out, size_t *n_out)
{
    size_t kept = 0;
    if (sv->n)
        qsort(sv->v, sv->n, sizeof *sv->v, tcapi_strcmp_p);
    for (size_t i = 0; i < sv->n; i++) {
        if (kept && strcmp(sv->v[kept - 1], sv->v[i]) == 0)
            free(sv->v[i]);
        else
            sv->v[kept++] = sv->v[i];
    }
    *out = sv->v;
    *n_out = kept;
    sv->v = NULL;
    sv->n = sv->cap = 0;
}

void tcapi_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Context of the string-list callbacks. */
typedef struct tcapi_names_ctx {
    tcapi_t *api;       /* for messages */
    const char *action; /* for messages */
    const char *key;    /* member holding the name */
    bool repo_path;     /* the name must be exactly "ns/repo" */
    tcapi_strv_t names; /* collected names */
} tcapi_names_ctx_t;

static int tcapi_collect_name(void *ctx, json_t *item, ferry_err_t *err)
{
    tcapi_names_ctx_t *nc = ctx;
    const char *name = tcapi_json_text(item, nc->key, TCAPI_NAME_MAX);
    if (!name)
        return ferry_err_set(err, FERRY_EPROTO, "%s API %s: an item without a valid %s",
                             nc->api->side, nc->action, nc->key);
    if (nc->repo_path) {
        const char *slash = strchr(name, '/');
        if (!slash || slash == name || !slash[1] || strchr(slash + 1, '/'))
            return ferry_err_set(err, FERRY_EPROTO,
                                 "%s API %s: repository '%s' is not namespace/repo", nc->api->side,
                                 nc->action, name);
    }
    return tcapi_strv_push(&nc->names, name, err);
}

/* Lists names with a pager into a sorted vector. */
static int tcapi_list_names(tcapi_t *api, const tcapi_pager_t *pager, json_t *request,
                            const char *key, bool repo_path, char ***names_out, size_t *n_out,
                            ferry_err_t *err)
{
    tcapi_names_ctx_t nc = {
        .api = api, .action = pager->action, .key = key, .repo_path = repo_path};
    int rc;

    *names_out = NULL;
    *n_out = 0;
    if (!request) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcapi_list(api, pager, request, tcapi_collect_name, &nc, err)) < 0)
        goto out;
    tcapi_strv_finish(&nc.names, names_out, n_out);
out:
    tcapi_strv_free(nc.names.v, nc.names.n);
    json_decref(request);
    return rc;
}

/* ---- Personal Edition ---- */

int tcapi_personal_namespaces(tcapi_t *api, char ***names_out, size_t *n_out, ferry_err_t *err)
{
    static const tcapi_pager_t pager = {"DescribeNamespacePersonal", "Data", "NamespaceCount",
                                        "NamespaceInfo", false};
    return tcapi_list_names(api, &pager, json_pack("{s:s}", "Namespace", ""), "Namespace", false,
                            names_out, n_out, err);
}

int tcapi_personal_repositories(tcapi_t *api, char ***repos_out, size_t *n_out, ferry_err_t *err)
{
    static const tcapi_pager_t pager = {"DescribeRepositoryOwnerPersonal", "Data", "TotalCount",
                                        "RepoInfo", false};
    return tcapi_list_names(api, &pager, json_object(), "RepoName", true, repos_out, n_out, err);
}

int tcapi_personal_public(tcapi_t *api, char ***repos_out, size_t *n_out, ferry_err_t *err)
{
    static const tcapi_pager_t pager = {"DescribeRepositoryFilterPersonal", "Data", "TotalCount",
                                        "RepoInfo", false};
    return tcapi_list_names(api, &pager, json_pack("{s:i}", "Public", 1), "RepoName", true,
                            repos_out, n_out, err);
}

/* Days from 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static int64_t tcapi_days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Reads exactly n digits at *p into *out and advances *p. */
static bool tcapi_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int tcapi_parse_time(const char *text, int64_t *ts_out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day, hour, minute, second, off_h = 0, off_m = 0, sign = 0;
    const char *p = text;

    if (!p || !tcapi_digits(&p, 4, &year) || *p++ != '-' || !tcapi_digits(&p, 2, &month) ||
        *p++ != '-' || !tcapi_digits(&p, 2, &day) || (*p != ' ' && *p != 'T') || !*p++ ||
        !tcapi_digits(&p, 2, &hour) || *p++ != ':' || !tcapi_digits(&p, 2, &minute) ||
        *p++ != ':' || !tcapi_digits(&p, 2, &second))
        return FERRY_EINVAL;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return FERRY_EINVAL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == ' ')
        p++;
    if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (!tcapi_digits(&p, 2, &off_h))
            return FERRY_EINVAL;
        if (*p == ':')
            p++;
        if (!tcapi_digits(&p, 2, &off_m))
            return FERRY_EINVAL;
        if (*p == ' ') {
            p++;
            while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
                p++;
        }
    } else if (*p == 'Z') {
        p++;
    }
    if (*p)
        return FERRY_EINVAL;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month < 1 || month > 12 || day < 1 || day > mdays[month - 1] ||
        (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60 ||
        off_h > 14 || off_m > 59)
        return FERRY_EINVAL;
    int64_t ts =
        tcapi_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
    ts -= sign * (off_h * 3600 + off_m * 60);
    *ts_out = ts;
    return 0;
}

/* A growing vector of tags. */
typedef struct tcapi_tags_ctx {
    tcapi_t *api;     /* for messages */
    const char *repo; /* for messages */
    tcapi_tag_t *v;   /* tags, owned */
    size_t n;         /* used */
    size_t cap;       /* allocated */
} tcapi_tags_ctx_t;

static int tcapi_collect_tag(void *ctx, json_t *item, ferry_err_t *err)
{
    tcapi_tags_ctx_t *tc = ctx;
    const char *name = tcapi_json_text(item, "TagName", 128);
    if (!name || strpbrk(name, "/:@ "))
        return ferry_err_set(err, FERRY_EPROTO,
                             "%s API DescribeImagePersonal %s: a tag without a "
                             "valid TagName",
                             tc->api->side, tc->repo);
    if (tc->n == tc->cap) {
        size_t cap = tc->cap ? tc->cap * 2 : 64;
        tcapi_tag_t *v = realloc(tc->v, cap * sizeof *v);
        if (!v)
            return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        tc->v = v;
        tc->cap = cap;
    }
    tcapi_tag_t *tag = &tc->v[tc->n];
    memset(tag, 0, sizeof *tag);
    const char *digest = tcapi_json_text(item, "TagId", DIGEST_STR_MAX - 1);
    const char *push_time = tcapi_json_text(item, "PushTime", 64);
    const char *update_time = tcapi_json_text(item, "UpdateTime", 64);
    json_t *size = json_object_get(item, "SizeByte");
    tag->name = tcapi_strdup(name);
    tag->push_time = tcapi_strdup(push_time ? push_time : "");
    if (digest && digest_validate(digest, NULL) < 0)
        digest = NULL; /* informative only: the manifest is read from the registry anyway */
    tag->digest = digest ? tcapi_strdup(digest) : NULL;
    tc->n++; /* counted now so that a failure below frees what was set */
    if (!tag->name || !tag->push_time || (digest && !tag->digest))
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    if (tcapi_parse_time(push_time, &tag->push_ts) < 0 &&
        tcapi_parse_time(update_time, &tag->push_ts) < 0)
        tag->push_ts = 0;
    if (json_is_integer(size) && json_integer_value(size) >= 0)
        tag->size = json_integer_value(size);
    else if (json_is_real(size) && json_real_value(size) >= 0 && json_real_value(size) < 9.0e18)
        tag->size = (int64_t)json_real_value(size);
    return 0;
}

static int tcapi_tag_cmp_name(const void *a, const void *b)
{
    return strcmp(((const tcapi_tag_t *)a)->name, ((const tcapi_tag_t *)b)->name);
}

static void tcapi_tag_free_fields(tcapi_tag_t *t)
{
    free(t->name);
    free(t->digest);
    free(t->push_time);
}

int tcapi_personal_tags(tcapi_t *api, const char *repo, tcapi_tag_t **tags_out, size_t *n_out,
                        ferry_err_t *err)
{
    static const tcapi_pager_t pager = {"DescribeImagePersonal", "Data", "TagCount", "TagInfo",
                                        false};
    tcapi_tags_ctx_t tc = {.api = api, .repo = repo};
    json_t *request = NULL;
    int rc;

    *tags_out = NULL;
    *n_out = 0;
    if (!tcapi_text_ok(repo, TCAPI_NAME_MAX) || !strchr(repo, '/'))
        return ferry_err_set(err, FERRY_EINVAL, "invalid Personal Edition repository name");
    tc.repo = repo;
    if (!(request = json_pack("{s:s}", "RepoName", repo))) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcapi_list(api, &pager, request, tcapi_collect_tag, &tc, err)) < 0)
        goto out;
    size_t kept = 0;
    if (tc.n)
        qsort(tc.v, tc.n, sizeof *tc.v, tcapi_tag_cmp_name);
    for (size_t i = 0; i < tc.n; i++) {
        if (kept && strcmp(tc.v[kept - 1].name, tc.v[i].name) == 0)
            tcapi_tag_free_fields(&tc.v[i]);
        else
            tc.v[kept++] = tc.v[i];
    }
    *tags_out = tc.v;
    *n_out = kept;
    tc.v = NULL;
    tc.n = 0;
out:
    tcapi_tags_free(tc.v, tc.n);
    json_decref(request);
    return rc;
}

void tcapi_tags_free(tcapi_tag_t *tags, size_t n)
{
    if (!tags)
        return;
    for (size_t i = 0; i < n; i++)
        tcapi_tag_free_fields(&tags[i]);
    free(tags);
}

static int tcapi_tag_cmp_newest(const void *a, const void *b)
{
    const tcapi_tag_t *x = a, *y = b;
    if (x->push_ts != y->push_ts)
        return x->push_ts > y->push_ts ? -1 : 1;
    return strcmp(x->name, y->name);
}

void tcapi_tags_sort_newest(tcapi_tag_t *tags, size_t n)
{
    if (tags && n > 1)
        qsort(tags, n, sizeof *tags, tcapi_tag_cmp_newest);
}

const char *tcapi_personal_registry_host(const char *region)
{
    static const char *const table[][2] = {
        {"ap-guangzhou", "ccr.ccs.tencentyun.com"},
        {"ap-shanghai", "ccr.ccs.tencentyun.com"},
        {"ap-nanjing", "ccr.ccs.tencentyun.com"},
        {"ap-beijing", "ccr.ccs.tencentyun.com"},
        {"ap-shenzhen", "ccr.ccs.tencentyun.com"},
        {"ap-chongqing", "ccr.ccs.tencentyun.com"},
        {"ap-chengdu", "ccr.ccs.tencentyun.com"},
        {"ap-tianjin", "ccr.ccs.tencentyun.com"},
        {"ap-hongkong", "hkccr.ccs.tencentyun.com"},
        {"ap-shenzhen-fsi", "szjrccr.ccs.tencentyun.com"},
        {"ap-shanghai-fsi", "shjrccr.ccs.tencentyun.com"},
        {"ap-beijing-fsi", "bjjrccr.ccs.tencentyun.com"},
        {"ap-singapore", "sgccr.ccs.tencentyun.com"},
        {"ap-seoul", "krccr.ccs.tencentyun.com"},
        {"ap-tokyo", "jpccr.ccs.tencentyun.com"},
        {"ap-mumbai", "inccr.ccs.tencentyun.com"},
        {"ap-bangkok", "thccr.ccs.tencentyun.com"},
        {"na-toronto", "caccr.ccs.tencentyun.com"},
        {"na-siliconvalley", "uswccr.ccs.tencentyun.com"},
        {"na-ashburn", "useccr.ccs.tencentyun.com"},
        {"eu-frankfurt", "deccr.ccs.tencentyun.com"},
        {"eu-moscow", "ruccr.ccs.tencentyun.com"},
    };
    if (!region)
        return NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i][0], region) == 0)
            return table[i][1];
    return NULL;
}

/* ---- Enterprise Edition ---- */

static char *tcapi_dup_or(json_t *item, const char *key, const char *fallback)
{
    const char *s = tcapi_json_text(item, key, TCAPI_NAME_MAX);
    return tcapi_strdup(s ? s : fallback);
}

/* Context of the DescribeInstances callback. */
typedef struct tcapi_find_ctx {
    tcapi_t *api;           /* for messages and the default region */
    const char *name;       /* wanted RegistryName */
    tcapi_instance_t found; /* filled when found */
    bool matched;           /* found holds the instance */
} tcapi_find_ctx_t;

static int tcapi_match_instance(void *ctx, json_t *item, ferry_err_t *err)
{
    tcapi_find_ctx_t *fc = ctx;
    const char *name = tcapi_json_text(item, "RegistryName", TCAPI_NAME_MAX);
    if (!name || strcmp(name, fc->name) != 0)
        return 0; /* the filter may match loosely: keep looking */
    const char *id = tcapi_json_text(item, "RegistryId", 64);
    if (!id)
        return ferry_err_set(err, FERRY_EPROTO,
                             "%s API DescribeInstances: instance %s has no valid RegistryId",
                             fc->api->side, fc->name);
    fc->matched = true;
    fc->found.id = tcapi_strdup(id);
    fc->found.name = tcapi_strdup(name);
    fc->found.status = tcapi_dup_or(item, "Status", "");
    fc->found.public_domain = tcapi_dup_or(item, "PublicDomain", "");
    fc->found.region = tcapi_dup_or(item, "RegionName", fc->api->region);
    if (!fc->found.id || !fc->found.name || !fc->found.status || !fc->found.public_domain ||
        !fc->found.region)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    return 1;
}

int tcapi_find_instance(tcapi_t *api, const char *name, tcapi_instance_t *out, ferry_err_t *err)
{
    static const tcapi_pager_t pager = {"DescribeInstances", NULL, "TotalCount", "Registries",
                                        false};
    tcapi_find_ctx_t fc = {.api = api, .name = name};
    json_t *request = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (!tcapi_text_ok(name, 64))
        return ferry_err_set(err, FERRY_EINVAL, "invalid TCR instance name");
    request = json_pack("{s:[{s:s,s:[s]}]}", "Filters", "Name", "RegistryName", "Values", name);
    if (!request) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcapi_list(api, &pager, request, tcapi_match_instance, &fc, err)) < 0)
        goto out;
    if (!fc.matched) {
        rc = ferry_err_set(err, FERRY_ENOTFOUND, "no TCR instance named %s in region %s", name,
                           api->region);
        goto out;
    }
    *out = fc.found;
    memset(&fc.found, 0, sizeof fc.found);
out:
    tcapi_instance_clear(&fc.found);
    json_decref(request);
    return rc;
}

void tcapi_instance_clear(tcapi_instance_t *i)
{
    if (!i)
        return;
    free(i->id);
    free(i->name);
    free(i->status);
    free(i->public_domain);
    free(i->region);
    memset(i, 0, sizeof *i);
}

static const tcapi_pager_t tcapi_namespaces_pager = {"DescribeNamespaces", NULL, "TotalCount",
                                                     "NamespaceList", true};

int tcapi_namespaces(tcapi_t *api, const char *registry_id, char ***names_out, size_t *n_out,
                     ferry_err_t *err)
{
    if (!tcapi_text_ok(registry_id, 64)) {
        *names_out = NULL;
        *n_out = 0;
        return ferry_err_set(err, FERRY_EINVAL, "invalid TCR instance id");
    }
    return tcapi_list_names(api, &tcapi_namespaces_pager,
                            json_pack("{s:s}", "RegistryId", registry_id), "Name", false, names_out,
                            n_out, err);
}

/* True when name follows the TCR namespace rules. */
static bool tcapi_namespace_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 2 || n > 30)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool sep = c == '.' || c == '_' || c == '-';
        if (!sep && !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return false;
        if (sep && (i == 0 || i == n - 1 || name[i - 1] == '.' || name[i - 1] == '_' ||
                    name[i - 1] == '-'))
            return false;
    }
    return true;
}

/* Context of the exact-name namespace lookup. */
typedef struct tcapi_ns_ctx {
    const char *name; /* wanted */
    bool found;       /* seen */
} tcapi_ns_ctx_t;

static int tcapi_match_namespace(void *ctx, json_t *item, ferry_err_t *err)
{
    tcapi_ns_ctx_t *nc = ctx;
    const char *name = json_string_value(json_object_get(item, "Name"));
    if (name && strcmp(name, nc->name) == 0) {
        nc->found = true;
        return 1;
    }
    return 0;
}

int tcapi_create_namespace(tcapi_t *api, const char *registry_id, const char *name,
                           bool is_public, ferry_err_t *err)
{
    char code[TCAPI_CODE_MAX];
    json_t *request = NULL, *response = NULL, *lookup = NULL;
    ferry_err_t create_err;
    int rc;

    if (!tcapi_text_ok(registry_id, 64))
        return ferry_err_set(err, FERRY_EINVAL, "invalid TCR instance id");
    if (!tcapi_namespace_name_ok(name))
        return ferry_err_set(err, FERRY_EINVAL,
                             "namespace '%.64s' is not valid in TCR: 2-30 characters of "
                             "[a-z0-9._-], no leading, trailing or doubled separator",
                             name ? name : "");
    request =
        json_pack("{s:s,s:s,s:b}", "RegistryId", registry_id, "NamespaceName", name, "IsPublic",
                  is_public);
    if (!request) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    ferry_err_clear(&create_err);
    rc = tcapi_call_code(api, "CreateNamespace", request, &response, code, &create_err);
    if (rc == 0)
        goto out;
    const char *dot = strchr(code, '.');
    if (!dot || strcmp(dot, ".ErrorTcrResourceConflict") != 0 ||
        (strncmp(code, "InternalError.", 14) != 0 && strncmp(code, "FailedOperation.", 16) != 0)) {
        if (err)
            *err = create_err;
        goto out;
    }
    /* "Already exists": believe it only once the namespace is listed. */
    tcapi_ns_ctx_t nc = {.name = name};
    lookup = json_pack("{s:s,s:s}", "RegistryId", registry_id, "NamespaceName", name);
    if (!lookup) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcapi_list(api, &tcapi_namespaces_pager, lookup, tcapi_match_namespace, &nc, err)) <
        0) {
        ferry_err_prefix(err, "checking namespace %s after %s", name, code);
        goto out;
    }
    if (!nc.found) {
        rc = create_err.code;
        if (err) {
            *err = create_err;
            ferry_err_prefix(err, "namespace %s is reported to exist but is not listed", name);
        }
        goto out;
    }
    rc = 0;
out:
    json_decref(request);
    json_decref(response);
    json_decref(lookup);
    return rc;
}

int tcapi_instance_token(tcapi_t *api, const char *registry_id, char **username_out,
                         char **password_out, int64_t *expires_ms_out, ferry_err_t *err)
{
    json_t *request = NULL, *response = NULL;
    int rc;

    *username_out = NULL;
    *password_out = NULL;
    *expires_ms_out = 0;
    if (!tcapi_text_ok(registry_id, 64))
        return ferry_err_set(err, FERRY_EINVAL, "invalid TCR instance id");
    request = json_pack("{s:s,s:s}", "RegistryId", registry_id, "TokenType", "temp");
    if (!request) {
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcapi_call(api, "CreateInstanceToken", request, &response, err)) < 0)
        goto out;
    const char *username = tcapi_json_text(response, "Username", 256);
    const char *token = tcapi_json_text(response, "Token", 16384);
    if (!username || !token) {
        rc = ferry_err_set(err, FERRY_EPROTO,
                           "%s API CreateInstanceToken for %s: response lacks Username or Token",
                           api->side, registry_id);
        goto out;
    }
    /* ExpTime: Unix milliseconds; a temporary token lives an hour. */
    json_t *exp = json_object_get(response, "ExpTime");
    *expires_ms_out = json_is_integer(exp) && json_integer_value(exp) > 0 ? json_integer_value(exp)
                                                                          : 0;
    *username_out = tcapi_strdup(username);
    *password_out = tcapi_strdup(token);
    if (!*username_out || !*password_out) {
        free(*username_out);
        free(*password_out);
        *username_out = *password_out = NULL;
        rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
        goto out;
    }
    rc = 0;
out:
    json_decref(request);
    json_decref(response);
    return rc;
}
