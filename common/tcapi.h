/* tcapi — a blocking client of the Tencent Container Registry API (version
 * 2019-09-24): Personal Edition enumeration (the ccr source) and the
 * Enterprise Edition calls the migration needs (the tcr target).
 *
 * Every call is a TC3-signed `POST /` with a JSON body (see common/tc3.h).
 * The client rate-limits itself with a token bucket, retries
 * RequestLimitExceeded with backoff, bounds timeouts and response sizes, and
 * never puts the SecretKey or a registry token in a message. It is meant for
 * the coordinator's planning phase, before transfers start; one client is
 * used by one thread at a time. */
#ifndef FERRY_TCAPI_H
#define FERRY_TCAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct tcapi tcapi_t;

/* Options of a client. Strings are copied by tcapi_new. */
typedef struct tcapi_opts {
    const char *endpoint;   /* "http[s]://host[:port][/]"; NULL = https://tcr.tencentcloudapi.com */
    const char *secret_id;  /* API SecretId, required */
    const char *secret_key; /* API SecretKey, required, never shown */
    const char *session_token; /* STS or CVM role session token (X-TC-Token), or NULL */
    const char *region;     /* X-TC-Region, e.g. "ap-guangzhou", required */
    const char *side;       /* "ccr" or "tcr", names the account in messages; NULL = "tcr" */
    const char *ca_file;    /* CA bundle for https; NULL = system default */
    bool insecure;          /* skip TLS verification (tests only) */
    double qps;             /* client-side rate limit in calls per second; 0 = 10 */
    int max_retries; /* retries of RequestLimitExceeded and transport failures; 0 = 5, <0 = none */
} tcapi_opts_t;

/* Creates a client. NULL on failure with err set: FERRY_EINVAL for a missing
 * or malformed option (the message names it), FERRY_ENOMEM. */
tcapi_t *tcapi_new(const tcapi_opts_t *opts, ferry_err_t *err);

/* Destroys a client; accepts NULL and a NULL *self_p; sets *self_p to NULL. */
void tcapi_destroy(tcapi_t **self_p);

/* Calls `action` with a JSON request object (borrowed; NULL sends {}). On
 * success *response_out is the Response object (new reference, the caller
 * decrefs). Errors, read from Response.Error.Code whatever the HTTP status:
 *  - transient answers, InternalError* (not *ResourceConflict),
 *    RequestLimitExceeded* and ResourceUnavailable*: retried with
 *    exponential backoff and jitter up to max_retries times, signed anew
 *    each time, then FERRY_ERETRY; transport failures (connect, timeout,
 *    HTTP 5xx without an API answer) likewise;
 *  - AuthFailure.* and UnauthorizedOperation*: FERRY_EAUTH, the message names
 *    the side, region and SecretId (never the key) and the code;
 *  - ResourceNotFound*: FERRY_ENOTFOUND; InternalError*: FERRY_ERETRY, except
 *    *ResourceConflict: FERRY_EEXIST; others: FERRY_EINVAL;
 *    all with "Action: Code: Message (RequestId ...)";
 *  - a body that is not a JSON Response: FERRY_EPROTO; above 8 MiB:
 *    FERRY_ETOOBIG. */
int tcapi_call(tcapi_t *api, const char *action, json_t *request, json_t **response_out,
               ferry_err_t *err);

/* Number of HTTP requests made so far (retries included); for tests and stats. */
uint64_t tcapi_requests(const tcapi_t *api);

/* ---- Personal Edition (ccr): item-offset paging, Limit 100 ---- */

/* One tag of a Personal Edition repository. */
typedef struct tcapi_tag {
    char *name;      /* TagName */
    char *digest;    /* TagId "sha256:..."; NULL when the API gave none or an invalid one */
    char *push_time; /* PushTime as the API wrote it ("2019-10-24 14:20:51 +0800 CST"), or "" */
    int64_t push_ts; /* PushTime (else UpdateTime) in Unix seconds; 0 when neither parses */
    int64_t size;    /* SizeByte, 0 when absent */
} tcapi_tag_t;

/* Lists every namespace of the account (DescribeNamespacePersonal). On
 * success *names_out holds *n_out names, sorted and without duplicates
 * (free with tcapi_strv_free). */
int tcapi_personal_namespaces(tcapi_t *api, char ***names_out, size_t *n_out, ferry_err_t *err);

/* Lists every repository the account owns (DescribeRepositoryOwnerPersonal)
 * as "ns/repo", sorted and without duplicates. FERRY_EPROTO when the API
 * returns a name that is not exactly namespace/repo. */
int tcapi_personal_repositories(tcapi_t *api, char ***repos_out, size_t *n_out, ferry_err_t *err);

/* Lists the account's public repositories (DescribeRepositoryFilterPersonal
 * with Public 1) as "ns/repo", sorted and without duplicates. */
int tcapi_personal_public(tcapi_t *api, char ***repos_out, size_t *n_out, ferry_err_t *err);

/* Lists every tag of one repository "ns/repo" (DescribeImagePersonal),
 * sorted by name without duplicates; free with tcapi_tags_free. */
int tcapi_personal_tags(tcapi_t *api, const char *repo, tcapi_tag_t **tags_out, size_t *n_out,
                        ferry_err_t *err);

void tcapi_tags_free(tcapi_tag_t *tags, size_t n);
void tcapi_strv_free(char **v, size_t n);

/* Sorts tags newest first by push_ts, then by name (ascending), so equal
 * times give a stable order. */
void tcapi_tags_sort_newest(tcapi_tag_t *tags, size_t n);

/* Parses a Personal Edition time, "YYYY-MM-DD hh:mm:ss[.frac] [+hhmm [ZONE]]"
 * (no offset = UTC), into Unix seconds. 0 or FERRY_EINVAL. */
int tcapi_parse_time(const char *text, int64_t *ts_out);

/* The Personal Edition registry host of a region ("ccr.ccs.tencentyun.com"
 * for ap-guangzhou), from the documented prefix table; NULL for a region not
 * in the table. The string is static. */
const char *tcapi_personal_registry_host(const char *region);

/* ---- Enterprise Edition (tcr) ---- */

/* One Enterprise Edition instance; all strings owned, never NULL after a
 * successful tcapi_find_instance. */
typedef struct tcapi_instance {
    char *id;            /* RegistryId "tcr-xxxx" */
    char *name;          /* RegistryName */
    char *status;        /* "Running", ... */
    char *public_domain; /* "<name>.tencentcloudcr.com" */
    char *region;        /* RegionName, or the client's region when absent */
} tcapi_instance_t;

/* Finds the instance whose RegistryName is exactly `name` in the client's
 * region (DescribeInstances with a RegistryName filter). FERRY_ENOTFOUND with
 * "no TCR instance named X in region R". *out is filled only on success;
 * release it with tcapi_instance_clear. */
int tcapi_find_instance(tcapi_t *api, const char *name, tcapi_instance_t *out, ferry_err_t *err);

/* Frees the strings of *i and zeroes it; accepts NULL and a zeroed struct. */
void tcapi_instance_clear(tcapi_instance_t *i);

/* Lists every namespace of an instance (DescribeNamespaces; Offset is a
 * 1-based page number there), sorted and without duplicates. */
int tcapi_namespaces(tcapi_t *api, const char *registry_id, char ***names_out, size_t *n_out,
                     ferry_err_t *err);

/* Creates a namespace, public or private. A name breaking the TCR rules (2-30 of
 * [a-z0-9._-], no leading, trailing or doubled separator) is FERRY_EINVAL
 * without a call. "Already exists" (*.ErrorTcrResourceConflict) counts as
 * success once DescribeNamespaces confirms the namespace is there. */
int tcapi_create_namespace(tcapi_t *api, const char *registry_id, const char *name,
                           bool is_public, ferry_err_t *err);

/* Creates a temporary (one hour) registry login (CreateInstanceToken). On
 * success *username_out and *password_out are owned by the caller; the
 * password is a secret: never log it. *expires_ms_out is its ExpTime (Unix
 * milliseconds), 0 when the answer has none. */
int tcapi_instance_token(tcapi_t *api, const char *registry_id, char **username_out,
                         char **password_out, int64_t *expires_ms_out, ferry_err_t *err);

#endif
