/* ccr2tcr — a whole TCR Personal Edition account (ccr) to an Enterprise
 * Edition instance (tcr), with image-transfer's flags. */
#include "coordinator/ccr2tcr.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tcapi.h"
#include "coordinator/cli.h"
#include "coordinator/mig.h"
#include "coordinator/rules.h"

#define CCR_SECRETS_MAX   8   /* secrets read from files or stdin */
#define RUN_NAME_TEXT_MAX 600 /* "host/ns/repo" */

enum {
    C_TCR_NAME = CLI_EXTRA_BASE,
    C_CCR_REGION,
    C_TCR_REGION,
    C_REGION,
    C_CCR_AUTH,
    C_TCR_AUTH,
    C_SECRET_ID,
    C_SECRET_KEY,
    C_CCR_SECRET_ID,
    C_CCR_SECRET_KEY,
    C_TCR_SECRET_ID,
    C_TCR_SECRET_KEY,
    C_TAG_NUM,
    C_ROUTINES,
    C_ENDPOINT,
    C_CCR_REGISTRY,
    C_TCR_REGISTRY,
    C_API_QPS,
    C_SECRET_TOKEN,
    C_SECRET_FILE,
};

static const struct option ccr_options[] = {
    {"tcrName", required_argument, NULL, C_TCR_NAME},
    {"ccrRegionName", required_argument, NULL, C_CCR_REGION},
    {"tcrRegionName", required_argument, NULL, C_TCR_REGION},
    {"regionName", required_argument, NULL, C_REGION},
    {"ccrAuth", required_argument, NULL, C_CCR_AUTH},
    {"tcrAuth", required_argument, NULL, C_TCR_AUTH},
    {"secretId", required_argument, NULL, C_SECRET_ID},
    {"secretKey", required_argument, NULL, C_SECRET_KEY},
    {"ccrSecretId", required_argument, NULL, C_CCR_SECRET_ID},
    {"ccrSecretKey", required_argument, NULL, C_CCR_SECRET_KEY},
    {"tcrSecretId", required_argument, NULL, C_TCR_SECRET_ID},
    {"tcrSecretKey", required_argument, NULL, C_TCR_SECRET_KEY},
    {"tagNum", required_argument, NULL, C_TAG_NUM},
    {"routines", required_argument, NULL, C_ROUTINES},
    {"tencentcloud-endpoint", required_argument, NULL, C_ENDPOINT},
    {"ccr-registry", required_argument, NULL, C_CCR_REGISTRY},
    {"tcr-registry", required_argument, NULL, C_TCR_REGISTRY},
    {"api-qps", required_argument, NULL, C_API_QPS},
    {"secretToken", required_argument, NULL, C_SECRET_TOKEN},
    {"secret-file", required_argument, NULL, C_SECRET_FILE},
    {NULL, 0, NULL, 0},
};

typedef struct ccr_args {
    const char *tcr_name;
    const char *region, *ccr_region, *tcr_region;
    const char *ccr_auth, *tcr_auth;
    const char *secret_id, *secret_key;
    const char *ccr_secret_id, *ccr_secret_key, *tcr_secret_id, *tcr_secret_key;
    long tag_num;
    bool tag_num_given; /* --tagNum on the command line */
    long routines;
    const char *endpoint;
    const char *ccr_registry, *tcr_registry;
    long api_qps;
    const char *secret_token; /* --secretToken: temporary keys' session token */
    const char *secret_file;  /* --secret-file: both sides' keys (YAML) */
} ccr_args_t;

static void ccr_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: ferry ccr2tcr --tcrName NAME --ccrAuth USER:PASS [--tcrAuth USER:PASS]\n"
        "                     [--secretId ID --secretKey KEY | --ccrSecretId .. --tcrSecretId ..]\n"
        "                     [options]\n"
        "\n"
        "Migrates every namespace, repository and tag of a TCR Personal Edition account\n"
        "(ccr) to an Enterprise Edition instance (tcr), creating missing namespaces first.\n"
        "Accepts image-transfer's flags as its users type them (-flag or --flag).\n"
        "\n"
        "  --tcrName NAME              Enterprise Edition instance name (required)\n"
        "  --regionName REGION         region of both sides (default ap-guangzhou)\n"
        "  --ccrRegionName REGION      Personal Edition region (default --regionName)\n"
        "  --tcrRegionName REGION      Enterprise Edition region (default --regionName)\n"
        "  --ccrAuth USER:PASS         Personal Edition registry login (required)\n"
        "  --tcrAuth USER:PASS         Enterprise Edition registry login; without it a\n"
        "                              temporary instance token is obtained through the API\n"
        "  --secretId ID, --secretKey KEY   API key of both sides\n"
        "  --ccrSecretId, --ccrSecretKey    API key of the Personal Edition side\n"
        "  --tcrSecretId, --tcrSecretKey    API key of the Enterprise Edition side\n"
        "  --tagNum N                  the N most recently pushed tags of each repository\n"
        "                              (default 100; 0 = all); the same as --latest N\n"
        "  --tags REGEX, --exclude-tags REGEX   tags to take or leave out (before the\n"
        "                              newest N are counted), as in every subcommand\n"
        "  --routines N                transfers at once (same as --jobs)\n"
        "  --tencentcloud-endpoint URL Tencent Cloud API endpoint (default\n"
        "                              https://tcr.tencentcloudapi.com)\n"
        "  --ccr-registry HOST         Personal Edition registry host (default by region)\n"
        "  --tcr-registry HOST         Enterprise Edition registry host (custom domain or\n"
        "                              VPC endpoint; default the instance's public domain)\n"
        "  --api-qps N                 Tencent Cloud API calls per second (default 10)\n"
        "  --secretToken TOKEN         session token of temporary keys (STS, a CVM role)\n"
        "  --secret-file FILE          both sides' keys as image-transfer's --secretFile:\n"
        "                              {ccr: {secretId, secretKey}, tcr: {secretId, secretKey}}\n"
        "Keys and logins need not be in argv: TENCENTCLOUD_SECRET_ID,\n"
        "TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_SESSION_TOKEN, FERRY_CCR_AUTH and\n"
        "FERRY_TCR_AUTH stand in for --secretId, --secretKey, --secretToken, --ccrAuth and\n"
        "--tcrAuth, and each secret flag takes @FILE (its first line) or - (standard input).\n"
        "International accounts: --tencentcloud-endpoint https://tcr.intl.tencentcloudapi.com\n"
        "\n"
        "ferry's own options apply too: --jobs, --listen, --agents, --server-key,\n"
        "--allow-keys, --journal, --report, --retries, --qps, --progress, --dry-run,\n"
        "--insecure HOST, --ca-file, --log-level (see ferry --help).\n"
        "\n"
        "The last line is image-transfer's:\n"
        "################# Finished, X transfer jobs failed, Y normal urlPair generate failed, "
        "Z jobs generate failed #################\n"
        "Exit status: 0 all migrated; 1 some failed; 2 usage, configuration or API key error.\n");
}

static int ccr_handle(void *ud, int opt, const char *arg)
{
    ccr_args_t *a = ud;
    switch (opt) {
    case C_TCR_NAME:
        a->tcr_name = arg;
        break;
    case C_CCR_REGION:
        a->ccr_region = arg;
        break;
    case C_TCR_REGION:
        a->tcr_region = arg;
        break;
    case C_REGION:
        a->region = arg;
        break;
    case C_CCR_AUTH:
        a->ccr_auth = arg;
        break;
    case C_TCR_AUTH:
        a->tcr_auth = arg;
        break;
    case C_SECRET_ID:
        a->secret_id = arg;
        break;
    case C_SECRET_KEY:
        a->secret_key = arg;
        break;
    case C_CCR_SECRET_ID:
        a->ccr_secret_id = arg;
        break;
    case C_CCR_SECRET_KEY:
        a->ccr_secret_key = arg;
        break;
    case C_TCR_SECRET_ID:
        a->tcr_secret_id = arg;
        break;
    case C_TCR_SECRET_KEY:
        a->tcr_secret_key = arg;
        break;
    case C_TAG_NUM:
        a->tag_num_given = true;
        return parse_long(arg, "--tagNum", 0, 1000000, &a->tag_num);
    case C_ROUTINES:
        return parse_long(arg, "--routines", 1, 1024, &a->routines);
    case C_ENDPOINT:
        a->endpoint = arg;
        break;
    case C_CCR_REGISTRY:
        a->ccr_registry = arg;
        break;
    case C_TCR_REGISTRY:
        a->tcr_registry = arg;
        break;
    case C_API_QPS:
        return parse_long(arg, "--api-qps", 1, 1000, &a->api_qps);
    case C_SECRET_TOKEN:
        a->secret_token = arg;
        break;
    case C_SECRET_FILE:
        a->secret_file = arg;
        break;
    }
    return 0;
}

static tcapi_t *api_for(const ccr_args_t *a, const char *side, const char *id, const char *key,
                        const char *region, const char *ca_file)
{
    tcapi_opts_t o = {0};
    o.endpoint = a->endpoint;
    o.secret_id = id;
    o.secret_key = key;
    o.session_token = a->secret_token;
    o.region = region;
    o.side = side;
    o.ca_file = ca_file;
    o.qps = (double)a->api_qps;
    ferry_err_t err;
    tcapi_t *api = tcapi_new(&o, &err);
    if (!api)
        fprintf(stderr, "ferry: %s API: %s\n", side, err.message);
    return api;
}

/* The namespace part of "ns/repo". */
static char *namespace_of(const char *repo)
{
    const char *slash = strchr(repo, '/');
    return slash ? strndup(repo, (size_t)(slash - repo)) : strdup(repo);
}

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* The run's state while ccr2tcr prepares the migration. */
typedef struct ccr_run {
    ccr_args_t a;
    cli_t cli;
    const char *ccr_region, *tcr_region;
    const char *ccr_id, *ccr_key, *tcr_id, *tcr_key;
    tcapi_t *ccr_api, *tcr_api;
    tcapi_instance_t inst;
    const char *ccr_host, *tcr_host;
    char **repos, **namespaces, **personal_ns, **public_repos;
    size_t n_repos, n_namespaces, n_personal_ns, n_public;
    char **failed_ns, **failed_why; /* namespaces that could not be created, and why */
    size_t n_failed_ns;
    char *owned[CCR_SECRETS_MAX]; /* secrets read from files, stdin or the environment; wiped */
    int n_owned;
    api_keys_t keys; /* --secret-file */
    double token_expires; /* the temporary instance token's ExpTime (Unix s), 0 none */
    mig_t *m;
} ccr_run_t;

/* mig_renew_fn: a new temporary instance token. */
static int ccr_renew(void *ud, char **user, char **pass, double *expires)
{
    ccr_run_t *r = ud;
    int64_t expires_ms = 0;
    ferry_err_t err;
    int rc = tcapi_instance_token(r->tcr_api, r->inst.id, user, pass, &expires_ms, &err);
    if (rc < 0)
        log_warn("renewing the instance token: %s", err.message);
    *expires = (double)expires_ms / 1000.0;
    return rc;
}

/* A secret flag's value from @FILE, - or the text itself; owned by the run. */
static int ccr_secret(ccr_run_t *r, const char *flag, const char **field)
{
    if (!*field || (strcmp(*field, "-") != 0 && (*field)[0] != '@'))
        return 0;
    if (r->n_owned >= CCR_SECRETS_MAX)
        return usage_error("too many secrets from files");
    int rc = cli_secret(flag, *field, &r->owned[r->n_owned]);
    if (rc == 0)
        *field = r->owned[r->n_owned++];
    return rc;
}

/* Keys and logins from files, standard input and the environment, so none
 * need sit in argv: TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY and
 * TENCENTCLOUD_SESSION_TOKEN (Tencent's own tools read these), FERRY_CCR_AUTH
 * and FERRY_TCR_AUTH; flags win. 0, or 2. */
static int ccr_secrets(ccr_run_t *r)
{
    ccr_args_t *a = &r->a;
    const struct {
        const char *env;
        const char **field;
    } env[] = {{"TENCENTCLOUD_SECRET_ID", &a->secret_id},
               {"TENCENTCLOUD_SECRET_KEY", &a->secret_key},
               {"TENCENTCLOUD_SESSION_TOKEN", &a->secret_token},
               {"FERRY_CCR_AUTH", &a->ccr_auth},
               {"FERRY_TCR_AUTH", &a->tcr_auth}};
    for (size_t i = 0; i < sizeof env / sizeof env[0]; i++) {
        const char *v = getenv(env[i].env);
        if (!*env[i].field && v && *v)
            *env[i].field = v;
    }
    ferry_err_t err;
    if (a->secret_file && api_keys_load_yaml(&r->keys, a->secret_file, &err) < 0)
        return usage_error("--secret-file: %s", err.message);
    if (!a->ccr_secret_id && r->keys.ccr_id) {
        a->ccr_secret_id = r->keys.ccr_id;
        a->ccr_secret_key = r->keys.ccr_key;
    }
    if (!a->tcr_secret_id && r->keys.tcr_id) {
        a->tcr_secret_id = r->keys.tcr_id;
        a->tcr_secret_key = r->keys.tcr_key;
    }
    const struct {
        const char *flag;
        const char **field;
    } flags[] = {{"--ccrAuth", &a->ccr_auth},          {"--tcrAuth", &a->tcr_auth},
                 {"--secretKey", &a->secret_key},      {"--ccrSecretKey", &a->ccr_secret_key},
                 {"--tcrSecretKey", &a->tcr_secret_key}, {"--secretToken", &a->secret_token}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        int rc = ccr_secret(r, flags[i].flag, flags[i].field);
        if (rc)
            return rc;
    }
    return 0;
}

/* The flags' meaning checked, keys and logins in place. 0, or 2. */
static int ccr_check(ccr_run_t *r, int argc, char **argv)
{
    ccr_args_t *a = &r->a;
    ferry_err_t err;
    if (optind < argc)
        return usage_error("ccr2tcr takes no positional argument ('%s')", argv[optind]);
    int rc = ccr_secrets(r);
    if (rc)
        return rc;
    if (!a->tcr_name || (!a->ccr_auth && !r->cli.security_file))
        return usage_error("ccr2tcr needs --tcrName and --ccrAuth (or a --security-file with the "
                           "Personal Edition registry's login)");
    if (a->routines)
        r->cli.opts.jobs = (int)a->routines;
    /* --tagNum is image-transfer's spelling of --latest: the newest N by
     * push time, after --tags and --exclude-tags. */
    if (r->cli.opts.latest && a->tag_num_given && r->cli.opts.latest != a->tag_num)
        return usage_error("--latest %d and --tagNum %ld disagree: give one of them",
                           r->cli.opts.latest, a->tag_num);
    if (!r->cli.opts.latest)
        r->cli.opts.latest = (int)a->tag_num;
    r->ccr_region = a->ccr_region ? a->ccr_region : a->region;
    r->tcr_region = a->tcr_region ? a->tcr_region : a->region;
    r->ccr_id = a->ccr_secret_id ? a->ccr_secret_id : a->secret_id;
    r->ccr_key = a->ccr_secret_key ? a->ccr_secret_key : a->secret_key;
    r->tcr_id = a->tcr_secret_id ? a->tcr_secret_id : a->secret_id;
    r->tcr_key = a->tcr_secret_key ? a->tcr_secret_key : a->secret_key;
    if (!r->ccr_id || !r->ccr_key || !r->tcr_id || !r->tcr_key)
        return usage_error("ccr2tcr needs API keys: --secretId and --secretKey (or "
                           "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY), --ccrSecretId/"
                           "--ccrSecretKey and --tcrSecretId/--tcrSecretKey, or --secret-file");
    if (a->ccr_auth && creds_parse_userpass(a->ccr_auth, &r->cli.src_creds, &err) < 0)
        return usage_error("--ccrAuth: %s", err.message);
    if (a->tcr_auth && creds_parse_userpass(a->tcr_auth, &r->cli.dst_creds, &err) < 0)
        return usage_error("--tcrAuth: %s", err.message);
    return 0;
}

/* One line on stderr for what stops the run before it starts; returns 2. */
static int ccr_stop(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int ccr_stop(const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_error("%s", text);
    return 2;
}

/* The instance, both registry hosts, the account's repositories and
 * namespaces, and a login for the instance. 0, or 2. */
static int ccr_discover(ccr_run_t *r)
{
    ccr_args_t *a = &r->a;
    ferry_err_t err;
    if (tcapi_find_instance(r->tcr_api, a->tcr_name, &r->inst, &err) < 0)
        return ccr_stop("%s", err.message);
    if (!r->inst.status || strcmp(r->inst.status, "Running") != 0)
        return ccr_stop("TCR instance %s (%s) in %s is %s, not Running", a->tcr_name, r->inst.id,
                        r->tcr_region, r->inst.status ? r->inst.status : "in an unknown state");
    r->tcr_host = a->tcr_registry ? a->tcr_registry : r->inst.public_domain;
    r->ccr_host = a->ccr_registry ? a->ccr_registry : tcapi_personal_registry_host(r->ccr_region);
    if (!r->tcr_host || !*r->tcr_host)
        return ccr_stop("TCR instance %s has no public domain: give --tcr-registry", a->tcr_name);
    if (!r->ccr_host)
        return ccr_stop("no Personal Edition registry is known for region %s: give --ccr-registry",
                        r->ccr_region);
    if (tcapi_personal_repositories(r->ccr_api, &r->repos, &r->n_repos, &err) < 0 ||
        tcapi_personal_namespaces(r->ccr_api, &r->personal_ns, &r->n_personal_ns, &err) < 0 ||
        tcapi_personal_public(r->ccr_api, &r->public_repos, &r->n_public, &err) < 0 ||
        tcapi_namespaces(r->tcr_api, r->inst.id, &r->namespaces, &r->n_namespaces, &err) < 0)
        return ccr_stop("%s", err.message);
    /* Without a login for the instance (--tcrAuth, a security file's entry),
     * a temporary instance token. */
    if (!a->tcr_auth && !security_lookup(r->cli.security, r->tcr_host, "")) {
        char *user = NULL, *pass = NULL;
        int64_t expires_ms = 0;
        if (tcapi_instance_token(r->tcr_api, r->inst.id, &user, &pass, &expires_ms, &err) < 0)
            return ccr_stop("%s", err.message);
        creds_clear(&r->cli.dst_creds);
        r->cli.dst_creds.username = user;
        r->cli.dst_creds.password = pass;
        r->token_expires = (double)expires_ms / 1000.0;
    }
    log_info("ccr %s (%s): %zu repositories; tcr %s (%s, %s)", r->ccr_host, r->ccr_region,
             r->n_repos, a->tcr_name, r->inst.id, r->tcr_host);
    return 0;
}

/* A Personal namespace is public when its repositories are (all of them);
 * *mixed when some are and some are not. */
static bool ccr_ns_public(const ccr_run_t *r, const char *ns, bool *mixed)
{
    size_t pub = 0, all = 0, len = strlen(ns);
    for (size_t i = 0; i < r->n_repos; i++) {
        if (strncmp(r->repos[i], ns, len) != 0 || r->repos[i][len] != '/')
            continue;
        all++;
        pub += strv_has(r->public_repos, r->n_public, r->repos[i]);
    }
    *mixed = pub && pub < all;
    return all && pub == all;
}

/* Namespaces first, empty ones too (as the Personal Edition lists them),
 * public where the Personal one's repositories are: one that cannot be
 * created fails every repository it holds. */
static void ccr_namespaces(ccr_run_t *r)
{
    ferry_err_t err;
    for (size_t i = 0; i < r->n_personal_ns + r->n_repos; i++) {
        char *ns = i < r->n_personal_ns ? strdup(r->personal_ns[i])
                                        : namespace_of(r->repos[i - r->n_personal_ns]);
        if (!ns || strv_has(r->namespaces, r->n_namespaces, ns) ||
            strv_has(r->failed_ns, r->n_failed_ns, ns)) {
            free(ns);
            continue;
        }
        bool mixed = false, pub = ccr_ns_public(r, ns, &mixed);
        if (mixed)
            log_warn("namespace %s holds public and private repositories: created private", ns);
        if (r->cli.opts.dry_run) {
            log_info("would create %s namespace %s", pub ? "public" : "private", ns);
        } else if (tcapi_create_namespace(r->tcr_api, r->inst.id, ns, pub, &err) == 0) {
            log_info("created %s namespace %s in %s", pub ? "public" : "private", ns,
                     r->a.tcr_name);
        } else {
            log_error("cannot create namespace %s in %s: %s", ns, r->a.tcr_name, err.message);
            char **f = realloc(r->failed_ns, (r->n_failed_ns + 1) * sizeof *f);
            char **w = f ? realloc(r->failed_why, (r->n_failed_ns + 1) * sizeof *w) : NULL;
            if (f)
                r->failed_ns = f;
            if (w) {
                r->failed_why = w;
                r->failed_ns[r->n_failed_ns] = ns;
                r->failed_why[r->n_failed_ns++] = strdup(err.message);
                continue;
            }
        }
        char **nv = realloc(r->namespaces, (r->n_namespaces + 1) * sizeof *nv);
        if (nv) {
            r->namespaces = nv;
            r->namespaces[r->n_namespaces++] = ns;
        } else {
            free(ns);
        }
    }
}

/* A repository whose namespace could not be created: counted, with why. */
static bool ccr_ns_failed(ccr_run_t *r, const char *repo, const char *source, const char *target)
{
    char *ns = namespace_of(repo);
    bool failed = false;
    for (size_t k = 0; ns && k < r->n_failed_ns && !failed; k++) {
        if (strcmp(r->failed_ns[k], ns) != 0)
            continue;
        char why[800];
        snprintf(why, sizeof why, "namespace %s could not be created: %s", ns, r->failed_why[k]);
        mig_add_failure(r->m, "namespace", source, target, why);
        failed = true;
    }
    free(ns);
    return failed;
}

/* One repository's tags into the migration; a repository the account may
 * not read (a sub-account without rights on it) is a counted failure, and
 * only a refusal of the account itself stops the run (2). */
static int ccr_repo(ccr_run_t *r, const char *repo, int src, int dst)
{
    char source[RUN_NAME_TEXT_MAX], target[RUN_NAME_TEXT_MAX];
    snprintf(source, sizeof source, "%s/%s", r->ccr_host, repo);
    snprintf(target, sizeof target, "%s/%s", r->tcr_host, repo);
    if (ccr_ns_failed(r, repo, source, target))
        return 0;
    tcapi_tag_t *tags = NULL;
    size_t n_tags = 0;
    ferry_err_t err;
    if (tcapi_personal_tags(r->ccr_api, repo, &tags, &n_tags, &err) < 0) {
        bool denied_here = err.code == FERRY_EAUTH && strstr(err.message, "UnauthorizedOperation");
        if (err.code == FERRY_EAUTH && !denied_here)
            return ccr_stop("%s", err.message);
        log_error("cannot list the tags of %s: %s", source, err.message);
        mig_add_failure(r->m, "repository", source, target, err.message);
        return 0;
    }
    /* Every tag is a candidate with its push time; the run's selection
     * (--tags, --exclude-tags, --latest/--tagNum) chooses. */
    mig_tag_t *cands = calloc(n_tags ? n_tags : 1, sizeof *cands);
    for (size_t k = 0; cands && k < n_tags; k++) {
        cands[k].name = tags[k].name;
        cands[k].time = tags[k].push_ts > 0 ? tags[k].push_ts : -1;
    }
    if (!cands ||
        (n_tags && mig_add_repo_tags(r->m, src, repo, dst, repo, cands, n_tags, NULL, &err) < 0))
        mig_add_failure(r->m, "repository", source, target, cands ? err.message : "out of memory");
    free(cands);
    tcapi_tags_free(tags, n_tags);
    return 0;
}

static void ccr_run_free(ccr_run_t *r)
{
    mig_destroy(&r->m);
    tcapi_strv_free(r->repos, r->n_repos);
    tcapi_strv_free(r->namespaces, r->n_namespaces);
    tcapi_strv_free(r->personal_ns, r->n_personal_ns);
    tcapi_strv_free(r->public_repos, r->n_public);
    tcapi_strv_free(r->failed_ns, r->n_failed_ns);
    tcapi_strv_free(r->failed_why, r->n_failed_ns);
    tcapi_instance_clear(&r->inst);
    tcapi_destroy(&r->ccr_api);
    tcapi_destroy(&r->tcr_api);
    for (int i = 0; i < r->n_owned; i++) {
        explicit_bzero(r->owned[i], strlen(r->owned[i]));
        free(r->owned[i]);
    }
    api_keys_clear(&r->keys);
    cli_free(&r->cli);
}

int ccr2tcr_main(int argc, char **argv)
{
    ccr_run_t r = {0};
    r.a.tag_num = 100;
    r.a.region = "ap-guangzhou";
    cli_extra_t extra = {ccr_options, ccr_handle, ccr_usage, &r.a, true};
    cli_help_hint = "ferry ccr2tcr --help";
    int rc = cli_parse(&r.cli, argc, argv, &extra);
    if (rc == 0)
        rc = ccr_check(&r, argc, argv);
    if (rc == 0) {
        r.ccr_api = api_for(&r.a, "ccr", r.ccr_id, r.ccr_key, r.ccr_region, NULL);
        r.tcr_api = api_for(&r.a, "tcr", r.tcr_id, r.tcr_key, r.tcr_region, NULL);
        rc = r.ccr_api && r.tcr_api ? ccr_discover(&r) : 2;
    }
    int src = -1, dst = -1;
    if (rc == 0) {
        char *const run_args[] = {(char *)r.ccr_host, (char *)r.tcr_host, (char *)r.a.tcr_name};
        cli_run_key(&r.cli, "ccr2tcr", run_args, 3);
        ferry_err_t err;
        if (!(r.m = mig_new(&r.cli.opts, &err)))
            rc = ccr_stop("%s", err.message);
    }
    if (rc == 0) {
        src = cli_endpoint(&r.cli, r.m, r.ccr_host, "", true);
        dst = cli_endpoint(&r.cli, r.m, r.tcr_host, "", false);
        rc = src < 0 || dst < 0 ? 2 : 0;
        if (rc == 0 && r.token_expires > 0) /* the temporary token lives an hour */
            mig_endpoint_expires(r.m, dst, r.token_expires, ccr_renew, &r);
    }
    if (rc == 0)
        ccr_namespaces(&r);
    for (size_t i = 0; rc == 0 && i < r.n_repos; i++)
        rc = ccr_repo(&r, r.repos[i], src, dst);
    if (rc == 0)
        rc = mig_run(r.m);
    ccr_run_free(&r);
    return rc;
}
