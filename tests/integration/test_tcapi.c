/* Integration test of common/tcapi against tests/fixtures/tcapi_double.py, a
 * double of the TCR cloud API that checks TC3 signatures and pages like the
 * real one: enumeration across pages, newest-first tags, instance lookup,
 * namespace creation, tokens, auth failures, rate limiting and faults. */
#include "common/err.h"
#include "common/tcapi.h"
#include "testlib.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef TC_DOUBLE
#error "TC_DOUBLE must name tests/fixtures/tcapi_double.py"
#endif

#define CCR_ID          "AKIDccrTEST0001"
#define CCR_KEY         "ccr-secret-key-0001"
#define TCR_ID          "AKIDtcrTEST0002"
#define TCR_KEY         "tcr-secret-key-0002"
#define REGION          "ap-guangzhou"
#define N_NAMESPACES    105 /* personal namespaces: two pages */
#define N_SMALL_REPOS   130
#define N_TAGS          230 /* tags of ns000/big: three pages */
#define N_EE_NAMESPACES 150
#define TAG_BASE_TS     INT64_C(1571898051) /* 2019-10-24 14:20:51 +0800 */

static pid_t double_pid = -1;
static int double_stdin = -1;
static char work_dir[] = "/tmp/ferry-tcapi-XXXXXX";
static char state_path[64], log_path[64];
static char double_url[128];

static void stop_double(void)
{
    if (double_pid > 0) {
        kill(double_pid, SIGTERM);
        waitpid(double_pid, NULL, 0);
        double_pid = -1;
    }
    if (double_stdin >= 0) {
        close(double_stdin);
        double_stdin = -1;
    }
    if (state_path[0])
        unlink(state_path);
    if (log_path[0])
        unlink(log_path);
    rmdir(work_dir);
}

/* Push time of tag number i: a permutation of hours, so name order, stored
 * order and time order all differ; tags 7 and 8 share one time. */
static int64_t tag_ts(int i)
{
    if (i == 8)
        return tag_ts(7);
    return TAG_BASE_TS + (int64_t)((i * 37) % N_TAGS) * 3600;
}

/* Formats ts as the Personal Edition does, in +0800 or, for odd i, UTC. */
static void tag_time(int i, char out[64])
{
    int64_t ts = tag_ts(i);
    bool utc = i % 2 == 1;
    time_t t = (time_t)(ts + (utc ? 0 : 8 * 3600));
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 64, utc ? "%Y-%m-%d %H:%M:%S +0000 UTC" : "%Y-%m-%d %H:%M:%S +0800 CST", &tm);
}

static json_t *make_state(void)
{
    json_t *state = json_pack("{s:{s:s,s:s},s:[{s:s,s:s,s:s,s:s,s:s},{s:s,s:s,s:s,s:s,s:s},"
                              "{s:s,s:s,s:s,s:s,s:s}],s:{}}",
                              "secrets", CCR_ID, CCR_KEY, TCR_ID, TCR_KEY, "instances",
                              /* a looser match listed first: the client must pick exactly */
                              "id", "tcr-backup01", "name", "prod-backup", "status", "Running",
                              "region", REGION, "public_domain", "prod-backup.tencentcloudcr.com",
                              "id", "tcr-abc12345", "name", "prod", "status", "Running", "region",
                              REGION, "public_domain", "prod.tencentcloudcr.com", "id",
                              "tcr-sh000001", "name", "other", "status", "Running", "region",
                              "ap-shanghai", "public_domain", "other.tencentcloudcr.com", "faults");
    json_t *namespaces = json_array(), *repos = json_object(), *ee = json_array();
    char name[64], ts[64], digest[80];
    for (int i = 0; i < N_NAMESPACES; i++) {
        snprintf(name, sizeof name, "ns%03d", i);
        json_array_append_new(namespaces, json_string(name));
    }
    for (int i = 0; i < N_SMALL_REPOS; i++) {
        snprintf(name, sizeof name, "ns%03d/app%03d", i % 40, i);
        json_object_set_new(
            repos, name,
            json_pack("[{s:s,s:s,s:s,s:i}]", "tag", "latest", "digest",
                      "sha256:0000000000000000000000000000000000000000000000000000000000000001",
                      "push_time", "2020-01-01 08:00:00 +0800 CST", "size", 1));
    }
    json_t *tags = json_array();
    for (int k = 0; k < N_TAGS; k++) {
        int i = (k * 97) % N_TAGS; /* stored order: neither by name nor by time */
        snprintf(name, sizeof name, "v%03d", i);
        snprintf(digest, sizeof digest, "sha256:%064x", i + 16);
        tag_time(i, ts);
        json_array_append_new(tags, json_pack("{s:s,s:s,s:s,s:i}", "tag", name, "digest", digest,
                                              "push_time", ts, "size", 1000 + i));
    }
    json_object_set_new(repos, "ns000/big", tags);
    for (int i = 0; i < N_EE_NAMESPACES; i++) {
        snprintf(name, sizeof name, "team%03d", i);
        json_array_append_new(ee, json_string(name));
    }
    json_object_set_new(state, "personal",
                        json_pack("{s:o,s:o}", "namespaces", namespaces, "repos", repos));
    json_object_set_new(state, "enterprise_namespaces", json_pack("{s:o}", "tcr-abc12345", ee));
    return state;
}

/* Starts the double and reads its URL; 0 or -1. */
static int start_double(void)
{
    int out_pipe[2], in_pipe[2];
    char line[256] = "";
    json_t *state = NULL, *hello = NULL;
    int rc = -1;

    if (!mkdtemp(work_dir))
        return -1;
    snprintf(state_path, sizeof state_path, "%s/state.json", work_dir);
    snprintf(log_path, sizeof log_path, "%s/calls.jsonl", work_dir);
    state = make_state();
    if (!state || json_dump_file(state, state_path, 0) < 0)
        goto out;
    if (pipe(out_pipe) < 0 || pipe(in_pipe) < 0)
        goto out;
    double_pid = fork();
    if (double_pid < 0)
        goto out;
    if (double_pid == 0) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(in_pipe[0], STDIN_FILENO);
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(in_pipe[0]);
        close(in_pipe[1]);
        execl("/usr/bin/python3", "python3", TC_DOUBLE, "--state", state_path, "--log", log_path,
              "--exit-on-stdin-eof", (char *)NULL);
        _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    double_stdin = in_pipe[1]; /* the double exits when this closes, even if we crash */
    size_t used = 0;
    while (used < sizeof line - 1 && !memchr(line, '\n', used)) {
        struct pollfd pfd = {.fd = out_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, 20000) <= 0)
            break;
        ssize_t n = read(out_pipe[0], line + used, sizeof line - 1 - used);
        if (n <= 0)
            break;
        used += (size_t)n;
        line[used] = '\0';
    }
    close(out_pipe[0]);
    hello = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    const char *url = json_string_value(json_object_get(hello, "url"));
    if (!url || strlen(url) >= sizeof double_url)
        goto out;
    snprintf(double_url, sizeof double_url, "%s", url);
    rc = 0;
out:
    json_decref(state);
    json_decref(hello);
    return rc;
}

static tcapi_t *client(const char *side, const char *id, const char *key, double qps,
                       int max_retries)
{
    tcapi_opts_t opts = {
        .endpoint = double_url,
        .secret_id = id,
        .secret_key = key,
        .region = REGION,
        .side = side,
        .qps = qps,
        .max_retries = max_retries,
    };
    ferry_err_t err;
    ferry_err_clear(&err);
    tcapi_t *api = tcapi_new(&opts, &err);
    if (!api)
        fprintf(stderr, "tcapi_new: %s\n", err.message);
    return api;
}

/* The calls the double logged, as an array of objects (new reference). */
static json_t *read_log(void)
{
    json_t *calls = json_array();
    FILE *f = fopen(log_path, "r");
    if (!f)
        return calls;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        json_t *entry = json_loads(line, 0, NULL);
        if (entry)
            json_array_append_new(calls, entry);
    }
    fclose(f);
    return calls;
}

/* Number of logged calls of `action` (NULL = any) from index `from` on that
 * failed with `code` (NULL = succeeded). */
static int count_calls(size_t from, const char *action, const char *code)
{
    json_t *calls = read_log();
    int n = 0;
    for (size_t i = from; i < json_array_size(calls); i++) {
        json_t *c = json_array_get(calls, i);
        const char *a = json_string_value(json_object_get(c, "action"));
        const char *e = json_string_value(json_object_get(c, "error"));
        if (action && (!a || strcmp(a, action) != 0))
            continue;
        if (code ? (e && strcmp(e, code) == 0) : json_is_true(json_object_get(c, "ok")))
            n++;
    }
    json_decref(calls);
    return n;
}

static size_t log_size(void)
{
    json_t *calls = read_log();
    size_t n = json_array_size(calls);
    json_decref(calls);
    return n;
}

/* POSTs faults to the double's control endpoint; 0 on success. */
static int set_faults(const char *faults_json)
{
    char url[160], body[512];
    snprintf(url, sizeof url, "%s/__control", double_url);
    snprintf(body, sizeof body, "{\"faults\": %s}", faults_json);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (sink)
        fclose(sink);
    return cc == CURLE_OK && status == 200 ? 0 : -1;
}

static void test_pure_helpers(void)
{
    int64_t ts = 0;
    CHECK_INT(tcapi_parse_time("2019-10-24 14:20:51 +0800 CST", &ts), 0);
    CHECK_INT(ts, 1571898051);
    CHECK_INT(tcapi_parse_time("2019-10-24 06:20:51 +0000 UTC", &ts), 0);
    CHECK_INT(ts, 1571898051);
    CHECK_INT(tcapi_parse_time("2019-10-24 06:20:51", &ts), 0);
    CHECK_INT(ts, 1571898051);
    CHECK_INT(tcapi_parse_time("2019-10-24 01:20:51.123456 -0500 EST", &ts), 0);
    CHECK_INT(ts, 1571898051);
    CHECK_INT(tcapi_parse_time("2020-02-29 00:00:00 +0800 CST", &ts), 0);
    CHECK_INT(ts, 1582905600);
    CHECK_INT(tcapi_parse_time("2019-02-29 00:00:00", &ts), FERRY_EINVAL);
    CHECK_INT(tcapi_parse_time("2019-10-24", &ts), FERRY_EINVAL);
    CHECK_INT(tcapi_parse_time("2019-10-24 14:20:51 +0800 CST trailing", &ts), FERRY_EINVAL);
    CHECK_INT(tcapi_parse_time("", &ts), FERRY_EINVAL);
    CHECK_INT(tcapi_parse_time(NULL, &ts), FERRY_EINVAL);

    CHECK_STR(tcapi_personal_registry_host("ap-guangzhou"), "ccr.ccs.tencentyun.com");
    CHECK_STR(tcapi_personal_registry_host("ap-tianjin"), "ccr.ccs.tencentyun.com");
    CHECK_STR(tcapi_personal_registry_host("ap-hongkong"), "hkccr.ccs.tencentyun.com");
    CHECK_STR(tcapi_personal_registry_host("ap-shenzhen-fsi"), "szjrccr.ccs.tencentyun.com");
    CHECK_STR(tcapi_personal_registry_host("na-ashburn"), "useccr.ccs.tencentyun.com");
    CHECK_STR(tcapi_personal_registry_host("eu-moscow"), "ruccr.ccs.tencentyun.com");
    CHECK(tcapi_personal_registry_host("mars-1") == NULL);
    CHECK(tcapi_personal_registry_host(NULL) == NULL);

    tcapi_tag_t tags[] = {
        {.name = (char *)"b", .push_ts = 5},
        {.name = (char *)"a", .push_ts = 5},
        {.name = (char *)"c", .push_ts = 9},
        {.name = (char *)"d", .push_ts = 0},
    };
    tcapi_tags_sort_newest(tags, 4);
    CHECK_STR(tags[0].name, "c");
    CHECK_STR(tags[1].name, "a");
    CHECK_STR(tags[2].name, "b");
    CHECK_STR(tags[3].name, "d");

    ferry_err_t err;
    tcapi_opts_t bad = {
        .secret_id = "id", .secret_key = "key", .region = "ap-guangzhou", .endpoint = "ftp://x"};
    CHECK(tcapi_new(&bad, &err) == NULL);
    CHECK_INT(err.code, FERRY_EINVAL);
    bad.endpoint = "https://h/some/path";
    CHECK(tcapi_new(&bad, &err) == NULL);
    bad.endpoint = NULL;
    bad.region = "ap guangzhou\r\n";
    CHECK(tcapi_new(&bad, &err) == NULL);
    bad.region = "ap-guangzhou";
    bad.secret_key = NULL;
    CHECK(tcapi_new(&bad, &err) == NULL);
    CHECK_CONTAINS(err.message, "SecretKey");
    tcapi_destroy(NULL);
}

static void test_personal(tcapi_t *ccr)
{
    ferry_err_t err;
    char **names = NULL;
    size_t n = 0;
    size_t mark = log_size();

    ferry_err_clear(&err);
    CHECK_INT(tcapi_personal_namespaces(ccr, &names, &n, &err), 0);
    CHECK_INT(n, N_NAMESPACES);
    if (n == N_NAMESPACES) {
        CHECK_STR(names[0], "ns000");
        CHECK_STR(names[N_NAMESPACES - 1], "ns104");
    }
    tcapi_strv_free(names, n);
    CHECK_INT(count_calls(mark, "DescribeNamespacePersonal", NULL), 2);

    mark = log_size();
    CHECK_INT(tcapi_personal_repositories(ccr, &names, &n, &err), 0);
    CHECK_INT(n, N_SMALL_REPOS + 1);
    bool big = false, all_paths = true;
    for (size_t i = 0; i < n; i++) {
        big = big || strcmp(names[i], "ns000/big") == 0;
        all_paths = all_paths && strchr(names[i], '/') != NULL;
        if (i)
            CHECK(strcmp(names[i - 1], names[i]) < 0);
    }
    CHECK(big);
    CHECK(all_paths);
    tcapi_strv_free(names, n);
    CHECK_INT(count_calls(mark, "DescribeRepositoryOwnerPersonal", NULL), 2);
}

static void test_tags(tcapi_t *ccr)
{
    ferry_err_t err;
    tcapi_tag_t *tags = NULL;
    size_t n = 0;
    size_t mark = log_size();

    ferry_err_clear(&err);
    CHECK_INT(tcapi_personal_tags(ccr, "ns000/big", &tags, &n, &err), 0);
    CHECK_INT(n, N_TAGS);
    CHECK_INT(count_calls(mark, "DescribeImagePersonal", NULL), 3);
    int checked = 0;
    for (size_t k = 0; k < n; k++) {
        int i = (int)strtol(tags[k].name + 1, NULL, 10);
        char digest[80], when[64];
        snprintf(digest, sizeof digest, "sha256:%064x", i + 16);
        tag_time(i, when);
        if (tags[k].push_ts == tag_ts(i) && tags[k].size == 1000 + i && tags[k].digest &&
            strcmp(tags[k].digest, digest) == 0 && strcmp(tags[k].push_time, when) == 0)
            checked++;
    }
    CHECK_INT(checked, N_TAGS);

    tcapi_tags_sort_newest(tags, n);
    bool ordered = true;
    for (size_t k = 1; k < n; k++)
        if (tags[k - 1].push_ts < tags[k].push_ts ||
            (tags[k - 1].push_ts == tags[k].push_ts && strcmp(tags[k - 1].name, tags[k].name) > 0))
            ordered = false;
    CHECK(ordered);
    /* The newest tag, found from the seed rather than from the client. */
    int newest = -1;
    for (int i = 0; i < N_TAGS; i++)
        if (newest < 0 || tag_ts(i) > tag_ts(newest))
            newest = i;
    char want[16];
    snprintf(want, sizeof want, "v%03d", newest);
    if (n)
        CHECK_STR(tags[0].name, want);
    /* Tags 7 and 8 share a push time: v007 comes right before v008. */
    for (size_t k = 0; k + 1 < n; k++)
        if (strcmp(tags[k].name, "v007") == 0)
            CHECK_STR(tags[k + 1].name, "v008");
    tcapi_tags_free(tags, n);

    CHECK_INT(tcapi_personal_tags(ccr, "ns000/missing", &tags, &n, &err), FERRY_ENOTFOUND);
    CHECK(tags == NULL && n == 0);
    CHECK_CONTAINS(err.message, "ResourceNotFound");
    CHECK_CONTAINS(err.message, "RequestId");
    CHECK_INT(tcapi_personal_tags(ccr, "no-slash", &tags, &n, &err), FERRY_EINVAL);
}

static void test_instances(tcapi_t *tcr)
{
    ferry_err_t err;
    tcapi_instance_t inst;

    ferry_err_clear(&err);
    CHECK_INT(tcapi_find_instance(tcr, "prod", &inst, &err), 0);
    CHECK_STR(inst.id, "tcr-abc12345");
    CHECK_STR(inst.name, "prod");
    CHECK_STR(inst.status, "Running");
    CHECK_STR(inst.public_domain, "prod.tencentcloudcr.com");
    CHECK_STR(inst.region, REGION);
    tcapi_instance_clear(&inst);
    CHECK(inst.id == NULL);
    tcapi_instance_clear(&inst);

    CHECK_INT(tcapi_find_instance(tcr, "nope", &inst, &err), FERRY_ENOTFOUND);
    CHECK_STR(err.message, "no TCR instance named nope in region ap-guangzhou");
    CHECK(inst.id == NULL);
    /* "other" exists, but in ap-shanghai. */
    CHECK_INT(tcapi_find_instance(tcr, "other", &inst, &err), FERRY_ENOTFOUND);
    CHECK_CONTAINS(err.message, "other");
}

static bool has_name(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

static void test_namespaces(tcapi_t *tcr)
{
    ferry_err_t err;
    char **names = NULL;
    size_t n = 0;
    size_t mark = log_size();

    ferry_err_clear(&err);
    CHECK_INT(tcapi_namespaces(tcr, "tcr-abc12345", &names, &n, &err), 0);
    CHECK_INT(n, N_EE_NAMESPACES);
    CHECK(has_name(names, n, "team000") && has_name(names, n, "team149"));
    tcapi_strv_free(names, n);
    CHECK_INT(count_calls(mark, "DescribeNamespaces", NULL), 2);

    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "newteam", false, &err), 0);
    CHECK_INT(tcapi_namespaces(tcr, "tcr-abc12345", &names, &n, &err), 0);
    CHECK_INT(n, N_EE_NAMESPACES + 1);
    CHECK(has_name(names, n, "newteam"));
    tcapi_strv_free(names, n);

    /* Already exists, under both documented codes: success. */
    mark = log_size();
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "newteam", false, &err), 0);
    CHECK_INT(count_calls(mark, "CreateNamespace", "InternalError.ErrorTcrResourceConflict"), 1);
    CHECK_INT(set_faults("{\"conflict_code\": \"FailedOperation.ErrorTcrResourceConflict\"}"), 0);
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "team042", false, &err), 0);
    CHECK_INT(count_calls(mark, "CreateNamespace", "FailedOperation.ErrorTcrResourceConflict"), 1);
    /* A conflict for a namespace that is not listed is not believed. */
    CHECK_INT(set_faults("{\"conflict_unlisted\": [\"ghost\"]}"), 0);
    CHECK(tcapi_create_namespace(tcr, "tcr-abc12345", "ghost", false, &err) < 0);
    CHECK_CONTAINS(err.message, "ghost");
    CHECK_CONTAINS(err.message, "not listed");

    /* A configured failure is a clear, non-retried error. */
    CHECK_INT(set_faults("{\"create_namespace_fail\": [\"broken\"]}"), 0);
    mark = log_size();
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "broken", false, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "CreateNamespace");
    CHECK_CONTAINS(err.message, "FailedOperation");
    CHECK_CONTAINS(err.message, "broken");
    CHECK_CONTAINS(err.message, "RequestId");
    CHECK_INT(count_calls(mark, "CreateNamespace", "FailedOperation"), 1);

    /* Invalid names never reach the API. */
    mark = log_size();
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "-bad", false, &err), FERRY_EINVAL);
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "a", false, &err), FERRY_EINVAL);
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "a..b", false, &err), FERRY_EINVAL);
    CHECK_INT(tcapi_create_namespace(tcr, "tcr-abc12345", "Upper", false, &err), FERRY_EINVAL);
    CHECK_INT(log_size(), mark);

    CHECK_INT(tcapi_namespaces(tcr, "tcr-unknown", &names, &n, &err), FERRY_ENOTFOUND);
    CHECK(names == NULL && n == 0);
}

static void test_token(tcapi_t *tcr)
{
    ferry_err_t err;
    char *user = NULL, *password = NULL;
    ferry_err_clear(&err);
    int64_t expires_ms = 0;
    CHECK_INT(tcapi_instance_token(tcr, "tcr-abc12345", &user, &password, &expires_ms, &err), 0);
    CHECK(expires_ms > 0);
    CHECK(user && *user);
    CHECK(password && strlen(password) >= 32);
    free(user);
    free(password);
    CHECK_INT(tcapi_instance_token(tcr, "tcr-unknown", &user, &password, &expires_ms, &err), FERRY_ENOTFOUND);
    CHECK(user == NULL && password == NULL);
}

static void test_auth_failures(void)
{
    ferry_err_t err;
    tcapi_instance_t inst;
    const char *wrong_key = "wrong-secret-key-XYZ";
    tcapi_t *bad = client("tcr", TCR_ID, wrong_key, 0, 0);
    size_t mark = log_size();
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    ferry_err_clear(&err);
    CHECK_INT(tcapi_find_instance(bad, "prod", &inst, &err), FERRY_EAUTH);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(t1.tv_sec - t0.tv_sec < 2);
    CHECK_INT(log_size() - mark, 1); /* fails fast: no retry */
    CHECK_CONTAINS(err.message, "tcr");
    CHECK_CONTAINS(err.message, TCR_ID);
    CHECK_CONTAINS(err.message, "AuthFailure.SignatureFailure");
    CHECK(strstr(err.message, wrong_key) == NULL);
    CHECK(strstr(err.message, TCR_KEY) == NULL);
    tcapi_destroy(&bad);
    CHECK(bad == NULL);

    char **names = NULL;
    size_t n = 0;
    bad = client("ccr", "AKIDunknown", CCR_KEY, 0, 0);
    CHECK_INT(tcapi_personal_namespaces(bad, &names, &n, &err), FERRY_EAUTH);
    tcapi_strv_free(names, n);
    CHECK_CONTAINS(err.message, "ccr");
    CHECK_CONTAINS(err.message, "AKIDunknown");
    CHECK_CONTAINS(err.message, "AuthFailure.SecretIdNotFound");
    CHECK(strstr(err.message, CCR_KEY) == NULL);
    tcapi_destroy(&bad);
}

static void test_rate_limit(tcapi_t *tcr)
{
    ferry_err_t err;
    tcapi_instance_t inst;

    CHECK_INT(set_faults("{\"rate_limit\": 3}"), 0);
    size_t mark = log_size();
    ferry_err_clear(&err);
    CHECK_INT(tcapi_find_instance(tcr, "prod", &inst, &err), 0);
    CHECK_STR(inst.id, "tcr-abc12345");
    tcapi_instance_clear(&inst);
    CHECK_INT(count_calls(mark, "DescribeInstances", "RequestLimitExceeded"), 3);
    CHECK_INT(count_calls(mark, "DescribeInstances", NULL), 1);

    /* More limiting than retries: FERRY_ERETRY after 1 + max_retries calls. */
    tcapi_t *impatient = client("tcr", TCR_ID, TCR_KEY, 0, 1);
    CHECK_INT(set_faults("{\"rate_limit\": 5}"), 0);
    mark = log_size();
    CHECK_INT(tcapi_find_instance(impatient, "prod", &inst, &err), FERRY_ERETRY);
    CHECK_CONTAINS(err.message, "RequestLimitExceeded");
    CHECK_INT(count_calls(mark, "DescribeInstances", "RequestLimitExceeded"), 2);
    CHECK_INT(tcapi_requests(impatient), 2);
    CHECK_INT(set_faults("{\"rate_limit\": 0}"), 0);
    tcapi_destroy(&impatient);
}

static void test_qps(void)
{
    tcapi_t *slow = client("tcr", TCR_ID, TCR_KEY, 4, 0);
    struct timespec t0, t1;
    json_t *response = NULL;
    int ok = 0;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 9; i++) {
        if (tcapi_call(slow, "DescribeInstances", NULL, &response, NULL) == 0)
            ok++;
        json_decref(response);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK_INT(ok, 9);
    /* A bucket of 4 refilled at 4/s: the last 5 calls wait at least 1.25 s. */
    CHECK(elapsed >= 1.2);
    tcapi_destroy(&slow);
}

static void test_call_errors(tcapi_t *tcr)
{
    ferry_err_t err;
    json_t *response = NULL;

    ferry_err_clear(&err);
    CHECK_INT(tcapi_call(tcr, "DescribeEverything", NULL, &response, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "InvalidAction");
    CHECK(response == NULL);

    json_t *req = json_pack("{s:s,s:i}", "RegistryId", "tcr-abc12345", "Bogus", 1);
    CHECK_INT(tcapi_call(tcr, "DescribeNamespaces", req, &response, &err), FERRY_EINVAL);
    CHECK_CONTAINS(err.message, "UnknownParameter");
    json_decref(req);

    req = json_array();
    CHECK_INT(tcapi_call(tcr, "DescribeNamespaces", req, &response, &err), FERRY_EINVAL);
    json_decref(req);
    CHECK_INT(tcapi_call(tcr, "Bad Action", NULL, &response, &err), FERRY_EINVAL);

    req = json_pack("{s:s}", "RegistryId", "tcr-abc12345");
    CHECK_INT(tcapi_call(tcr, "DescribeNamespaces", req, &response, &err), 0);
    CHECK(json_is_integer(json_object_get(response, "TotalCount")));
    CHECK(json_is_string(json_object_get(response, "RequestId")));
    json_decref(response);
    json_decref(req);

    /* Nothing listens: a transport failure, retryable. */
    tcapi_opts_t opts = {.endpoint = "http://127.0.0.1:1",
                         .secret_id = TCR_ID,
                         .secret_key = TCR_KEY,
                         .region = REGION,
                         .max_retries = -1};
    tcapi_t *dead = tcapi_new(&opts, &err);
    CHECK(dead != NULL);
    CHECK_INT(tcapi_call(dead, "DescribeInstances", NULL, &response, &err), FERRY_ERETRY);
    CHECK(strstr(err.message, TCR_KEY) == NULL);
    tcapi_destroy(&dead);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(stop_double);
    test_pure_helpers();
    if (start_double() < 0) {
        fprintf(stderr, "cannot start %s\n", TC_DOUBLE);
        return 1;
    }
    tcapi_t *ccr = client("ccr", CCR_ID, CCR_KEY, 50, 0);
    tcapi_t *tcr = client("tcr", TCR_ID, TCR_KEY, 50, 0);
    CHECK(ccr && tcr);
    if (ccr && tcr) {
        test_personal(ccr);
        test_tags(ccr);
        test_instances(tcr);
        test_namespaces(tcr);
        test_token(tcr);
        test_auth_failures();
        test_rate_limit(tcr);
        test_qps();
        test_call_errors(tcr);
    }
    tcapi_destroy(&ccr);
    tcapi_destroy(&tcr);
    int rc = test_report();
    stop_double();
    curl_global_cleanup();
    return rc;
}
