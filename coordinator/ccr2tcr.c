/* ccr2tcr — a whole TCR Personal Edition account (ccr) to an Enterprise
 * Edition instance (tcr), with image-transfer's flags. */
#include "coordinator/ccr2tcr.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/tcapi.h"
#include "coordinator/cli.h"
#include "coordinator/mig.h"

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

int ccr2tcr_main(int argc, char **argv)
{
    ccr_args_t a = {0};
    a.tag_num = 100;
    a.region = "ap-guangzhou";
    cli_t cli = {0};
    cli_extra_t extra = {ccr_options, ccr_handle, ccr_usage, &a, true};
    int rc = cli_parse(&cli, argc, argv, &extra);
    tcapi_t *ccr_api = NULL, *tcr_api = NULL;
    tcapi_instance_t inst = {0};
    char **repos = NULL, **namespaces = NULL, **personal_ns = NULL;
    size_t n_repos = 0, n_namespaces = 0, n_personal_ns = 0;
    char *tcr_user = NULL, *tcr_pass = NULL;
    mig_t *m = NULL;
    ferry_err_t err;
    if (rc)
        goto out;
    rc = 2;
    if (optind < argc) {
        usage_error("ccr2tcr takes no positional argument ('%s')", argv[optind]);
        goto out;
    }
    if (!a.tcr_name || (!a.ccr_auth && !cli.security_file)) {
        usage_error("ccr2tcr needs --tcrName and --ccrAuth (or a --security-file with the "
                    "Personal Edition registry's login)");
        goto out;
    }
    if (a.routines)
        cli.opts.jobs = (int)a.routines;
    /* --tagNum is image-transfer's spelling of --latest: the newest N by
     * push time, after --tags and --exclude-tags. */
    if (cli.opts.latest && a.tag_num_given && cli.opts.latest != a.tag_num) {
        usage_error("--latest %d and --tagNum %ld disagree: give one of them", cli.opts.latest,
                    a.tag_num);
        goto out;
    }
    if (!cli.opts.latest)
        cli.opts.latest = (int)a.tag_num;
    const char *ccr_region = a.ccr_region ? a.ccr_region : a.region;
    const char *tcr_region = a.tcr_region ? a.tcr_region : a.region;
    const char *ccr_id = a.ccr_secret_id ? a.ccr_secret_id : a.secret_id;
    const char *ccr_key = a.ccr_secret_key ? a.ccr_secret_key : a.secret_key;
    const char *tcr_id = a.tcr_secret_id ? a.tcr_secret_id : a.secret_id;
    const char *tcr_key = a.tcr_secret_key ? a.tcr_secret_key : a.secret_key;
    if (!ccr_id || !ccr_key || !tcr_id || !tcr_key) {
        usage_error("ccr2tcr needs API keys: --secretId and --secretKey, or --ccrSecretId/"
                    "--ccrSecretKey and --tcrSecretId/--tcrSecretKey");
        goto out;
    }
    if (a.ccr_auth && creds_parse_userpass(a.ccr_auth, &cli.src_creds, &err) < 0) {
        usage_error("--ccrAuth: %s", err.message);
        goto out;
    }
    if (a.tcr_auth && creds_parse_userpass(a.tcr_auth, &cli.dst_creds, &err) < 0) {
        usage_error("--tcrAuth: %s", err.message);
        goto out;
    }
    ccr_api = api_for(&a, "ccr", ccr_id, ccr_key, ccr_region, NULL);
    tcr_api = api_for(&a, "tcr", tcr_id, tcr_key, tcr_region, NULL);
    if (!ccr_api || !tcr_api)
        goto out;

    /* Everything that can be found wrong is found before any byte moves. */
    if (tcapi_find_instance(tcr_api, a.tcr_name, &inst, &err) < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        goto out;
    }
    if (!inst.status || strcmp(inst.status, "Running") != 0) {
        fprintf(stderr, "ferry: TCR instance %s (%s) in %s is %s, not Running\n", a.tcr_name,
                inst.id, tcr_region, inst.status ? inst.status : "in an unknown state");
        goto out;
    }
    const char *tcr_host = a.tcr_registry ? a.tcr_registry : inst.public_domain;
    const char *ccr_host =
        a.ccr_registry ? a.ccr_registry : tcapi_personal_registry_host(ccr_region);
    if (!tcr_host || !*tcr_host) {
        fprintf(stderr, "ferry: TCR instance %s has no public domain: give --tcr-registry\n",
                a.tcr_name);
        goto out;
    }
    if (!ccr_host) {
        fprintf(stderr,
                "ferry: no Personal Edition registry is known for region %s: give --ccr-registry\n",
                ccr_region);
        goto out;
    }
    if (tcapi_personal_repositories(ccr_api, &repos, &n_repos, &err) < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        goto out;
    }
    if (tcapi_personal_namespaces(ccr_api, &personal_ns, &n_personal_ns, &err) < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        goto out;
    }
    if (tcapi_namespaces(tcr_api, inst.id, &namespaces, &n_namespaces, &err) < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        goto out;
    }
    /* Without a login for the instance (--tcrAuth, a security file's entry),
     * a temporary instance token. */
    if (!a.tcr_auth && !security_lookup(cli.security, tcr_host, "")) {
        if (tcapi_instance_token(tcr_api, inst.id, &tcr_user, &tcr_pass, &err) < 0) {
            fprintf(stderr, "ferry: %s\n", err.message);
            goto out;
        }
        cli.dst_creds.username = tcr_user;
        cli.dst_creds.password = tcr_pass;
        tcr_user = tcr_pass = NULL;
    }
    log_info("ccr %s (%s): %zu repositories; tcr %s (%s, %s)", ccr_host, ccr_region, n_repos,
             a.tcr_name, inst.id, tcr_host);

    char *const run_args[] = {(char *)ccr_host, (char *)tcr_host, (char *)a.tcr_name};
    cli_run_key(&cli, "ccr2tcr", run_args, 3);
    m = mig_new(&cli.opts, &err);
    if (!m) {
        fprintf(stderr, "ferry: %s\n", err.message);
        goto out;
    }
    int src = cli_endpoint(&cli, m, ccr_host, "", true);
    int dst = cli_endpoint(&cli, m, tcr_host, "", false);
    if (src < 0 || dst < 0)
        goto out;

    /* Namespaces first, empty ones too (as the Personal Edition lists them): one
     * that cannot be created fails every repository it holds. */
    char **failed_ns = NULL;
    size_t n_failed_ns = 0;
    char **failed_why = NULL;
    for (size_t i = 0; i < n_personal_ns + n_repos; i++) {
        char *ns =
            i < n_personal_ns ? strdup(personal_ns[i]) : namespace_of(repos[i - n_personal_ns]);
        if (!ns)
            continue;
        if (!strv_has(namespaces, n_namespaces, ns) && !strv_has(failed_ns, n_failed_ns, ns)) {
            if (cli.opts.dry_run) {
                log_info("would create namespace %s", ns);
            } else if (tcapi_create_namespace(tcr_api, inst.id, ns, &err) == 0) {
                log_info("created namespace %s in %s", ns, a.tcr_name);
            } else {
                log_error("cannot create namespace %s in %s: %s", ns, a.tcr_name, err.message);
                char **f = realloc(failed_ns, (n_failed_ns + 1) * sizeof *f);
                char **w = realloc(failed_why, (n_failed_ns + 1) * sizeof *w);
                if (f)
                    failed_ns = f;
                if (w)
                    failed_why = w;
                if (f && w) {
                    failed_ns[n_failed_ns] = strdup(ns);
                    failed_why[n_failed_ns] = strdup(err.message);
                    n_failed_ns++;
                }
                free(ns);
                continue;
            }
            char **nv = realloc(namespaces, (n_namespaces + 1) * sizeof *nv);
            if (nv) {
                namespaces = nv;
                namespaces[n_namespaces++] = strdup(ns);
            }
        }
        free(ns);
    }

    for (size_t i = 0; i < n_repos; i++) {
        char source[600], target[600];
        snprintf(source, sizeof source, "%s/%s", ccr_host, repos[i]);
        snprintf(target, sizeof target, "%s/%s", tcr_host, repos[i]);
        char *ns = namespace_of(repos[i]);
        bool ns_failed = false;
        for (size_t k = 0; ns && k < n_failed_ns; k++) {
            if (strcmp(failed_ns[k], ns) == 0) {
                char why[800];
                snprintf(why, sizeof why, "namespace %s could not be created: %s", ns,
                         failed_why[k]);
                mig_add_failure(m, "namespace", source, target, why);
                ns_failed = true;
            }
        }
        free(ns);
        if (ns_failed)
            continue;
        tcapi_tag_t *tags = NULL;
        size_t n_tags = 0;
        if (tcapi_personal_tags(ccr_api, repos[i], &tags, &n_tags, &err) < 0) {
            if (err.code == FERRY_EAUTH) {
                fprintf(stderr, "ferry: %s\n", err.message);
                goto out_ns;
            }
            log_error("cannot list the tags of %s: %s", source, err.message);
            mig_add_failure(m, "repository", source, target, err.message);
            continue;
        }
        /* Every tag is a candidate with its push time; the run's selection
         * (--tags, --exclude-tags, --latest/--tagNum) chooses. */
        mig_tag_t *cands = calloc(n_tags ? n_tags : 1, sizeof *cands);
        for (size_t k = 0; cands && k < n_tags; k++) {
            cands[k].name = tags[k].name;
            cands[k].time = tags[k].push_ts > 0 ? tags[k].push_ts : -1;
        }
        if (!cands || (n_tags && mig_add_repo_tags(m, src, repos[i], dst, repos[i], cands, n_tags,
                                                   NULL, &err) < 0))
            mig_add_failure(m, "repository", source, target, cands ? err.message : "out of memory");
        free(cands);
        tcapi_tags_free(tags, n_tags);
    }
    rc = mig_run(m);
out_ns:
    for (size_t k = 0; k < n_failed_ns; k++) {
        free(failed_ns[k]);
        free(failed_why[k]);
    }
    free(failed_ns);
    free(failed_why);
out:
    mig_destroy(&m);
    tcapi_strv_free(repos, n_repos);
    tcapi_strv_free(namespaces, n_namespaces);
    tcapi_strv_free(personal_ns, n_personal_ns);
    tcapi_instance_clear(&inst);
    tcapi_destroy(&ccr_api);
    tcapi_destroy(&tcr_api);
    free(tcr_user);
    free(tcr_pass);
    cli_free(&cli);
    return rc;
}
