/* ferry — the coordinator: discovers, plans, dispatches and reports migrations. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/creds.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/ref.h"
#include "coordinator/mig.h"
#include "coordinator/rules.h"
#include "proto/proto.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ferry COMMAND [options]\n"
            "\n"
            "Moves container images between registries: every repository, tag, multi-arch\n"
            "index and OCI artifact, byte for byte, digests unchanged.\n"
            "\n"
            "Commands:\n"
            "  mirror SRC DST        every repository of a registry, or under a path prefix;\n"
            "                        SRC and DST are host[:port][/prefix]\n"
            "  copy SRC_REF DST_REF  one repository (all tags) or one tag or digest:\n"
            "                        host[:port]/repo[:tag|@digest] to host[:port]/repo\n"
            "  sync RULES_FILE       many mappings: ferry's JSON rules, or image-transfer's YAML\n"
            "                        rule file (with --security-file for its credentials)\n"
            "  verify SRC DST        compare every selected tag's digest on both sides\n"
            "                        (SRC/DST as for mirror, or repositories as for copy)\n"
            "  ccr2tcr [flags]       TCR Personal Edition to an Enterprise Edition instance\n"
            "  rewrite ...           point Kubernetes manifests at the new registry (see ferry rewrite --help)\n"
            "  keygen FILE           make a CURVE key pair (FILE and FILE.pub)\n"
            "\n"
            "Options:\n"
            "      --src-creds USER:PASS   source registry credentials\n"
            "      --dst-creds USER:PASS   target registry credentials\n"
            "      --auth-file FILE        Docker config.json for hosts without --*-creds\n"
            "                              (default $DOCKER_CONFIG/config.json or ~/.docker/config.json)\n"
            "      --security-file FILE    image-transfer security YAML (sync)\n"
            "      --insecure HOST[:PORT]  plain HTTP or unverified TLS for this host (repeatable)\n"
            "      --ca-file FILE          CA certificates to verify registries with\n"
            "      --tags REGEX            only tags matching (POSIX extended regex)\n"
            "      --exclude-tags REGEX    leave out tags matching\n"
            "      --latest N              only the N newest tags of each repository\n"
            "      --platform OS/ARCH[/V]  only this platform of multi-arch images (repeatable;\n"
            "                              default all platforms, which keeps index digests)\n"
            "      --jobs N                transfers at once with in-process agents (default 8)\n"
            "      --listen ENDPOINT       wait for remote agents there, e.g. tcp://0.0.0.0:7400\n"
            "      --agents N              remote agents to wait for before starting (default 1)\n"
            "      --server-key FILE       coordinator key pair: CURVE for remote agents\n"
            "      --allow-keys FILE       agent public keys admitted (one per line)\n"
            "      --insecure-control      allow --listen off loopback without CURVE\n"
            "      --journal FILE          record finished work; a re-run resumes from it\n"
            "      --report FILE           write a JSON report of every image\n"
            "      --retries N             retries of a failed transfer (default 3)\n"
            "      --qps N                 registry API requests per second per registry\n"
            "      --no-overwrite          leave target tags that differ from the source\n"
            "      --dry-run               print the plan; write nothing\n"
            "      --progress MODE         auto, plain, json or none (default auto)\n"
            "      --log-level LEVEL       error, warn, info or debug (default info)\n"
            "      --log-json              log one JSON object per line\n"
            "  -h, --help                  show this help and exit\n"
            "  -V, --version               print the version and exit\n"
            "\n"
            "Exit status: 0 everything migrated or already there; 1 some items failed;\n"
            "2 usage or configuration error.\n");
}

enum {
    OPT_SRC_CREDS = 256, OPT_DST_CREDS, OPT_AUTH_FILE, OPT_SECURITY_FILE, OPT_INSECURE, OPT_CA_FILE,
    OPT_TAGS, OPT_EXCLUDE_TAGS, OPT_LATEST, OPT_PLATFORM, OPT_JOBS, OPT_LISTEN, OPT_AGENTS,
    OPT_SERVER_KEY, OPT_ALLOW_KEYS, OPT_INSECURE_CONTROL, OPT_JOURNAL, OPT_REPORT, OPT_RETRIES,
    OPT_QPS, OPT_NO_OVERWRITE, OPT_DRY_RUN, OPT_PROGRESS, OPT_LOG_LEVEL, OPT_LOG_JSON,
    OPT_HEARTBEAT,
};

static const struct option common_options[] = {
    {"src-creds", required_argument, NULL, OPT_SRC_CREDS},
    {"dst-creds", required_argument, NULL, OPT_DST_CREDS},
    {"auth-file", required_argument, NULL, OPT_AUTH_FILE},
    {"security-file", required_argument, NULL, OPT_SECURITY_FILE},
    {"insecure", required_argument, NULL, OPT_INSECURE},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"tags", required_argument, NULL, OPT_TAGS},
    {"exclude-tags", required_argument, NULL, OPT_EXCLUDE_TAGS},
    {"latest", required_argument, NULL, OPT_LATEST},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"jobs", required_argument, NULL, OPT_JOBS},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"agents", required_argument, NULL, OPT_AGENTS},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"allow-keys", required_argument, NULL, OPT_ALLOW_KEYS},
    {"insecure-control", no_argument, NULL, OPT_INSECURE_CONTROL},
    {"journal", required_argument, NULL, OPT_JOURNAL},
    {"report", required_argument, NULL, OPT_REPORT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"qps", required_argument, NULL, OPT_QPS},
    {"no-overwrite", no_argument, NULL, OPT_NO_OVERWRITE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"progress", required_argument, NULL, OPT_PROGRESS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-json", no_argument, NULL, OPT_LOG_JSON},
    {"heartbeat-ms", required_argument, NULL, OPT_HEARTBEAT},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

typedef struct cli {
    mig_opts_t opts;
    creds_t src_creds, dst_creds;
    const char *auth_file;
    const char *security_file;
    security_t *security;
    const char *insecure[64];
    int n_insecure;
    const char *ca_file;
    double qps;
    char *platforms[16];
    int n_platforms;
    bool insecure_control;
    char run_key[DIGEST_STR_MAX];
} cli_t;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ferry: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see ferry --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int parse_long(const char *text, const char *flag, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return usage_error("%s must be a whole number from %ld to %ld, not '%s'", flag, min, max, text);
    *out = v;
    return 0;
}

static int check_readable(const char *path, const char *flag)
{
    if (access(path, R_OK) != 0)
        return usage_error("%s %s: cannot read it: %s", flag, path, strerror(errno));
    return 0;
}

/* Parses the common options; positional arguments stay in argv[optind..]. */
static int parse_options(cli_t *cli, int argc, char **argv)
{
    long v;
    int c;
    ferry_err_t err;
    cli->opts.retries = 3;
    cli->opts.jobs = 8;
    while ((c = getopt_long(argc, argv, "hV", common_options, NULL)) != -1) {
        switch (c) {
        case OPT_SRC_CREDS:
            creds_clear(&cli->src_creds);
            if (creds_parse_userpass(optarg, &cli->src_creds, &err) < 0)
                return usage_error("--src-creds: %s", err.message);
            break;
        case OPT_DST_CREDS:
            creds_clear(&cli->dst_creds);
            if (creds_parse_userpass(optarg, &cli->dst_creds, &err) < 0)
                return usage_error("--dst-creds: %s", err.message);
            break;
        case OPT_AUTH_FILE:
            if (check_readable(optarg, "--auth-file"))
                return 2;
            cli->auth_file = optarg;
            break;
        case OPT_SECURITY_FILE:
            cli->security_file = optarg;
            break;
        case OPT_INSECURE:
            if (cli->n_insecure == 64)
                return usage_error("too many --insecure hosts");
            if (ref_validate_host(optarg, &err) < 0)
                return usage_error("--insecure %s: %s", optarg, err.message);
            cli->insecure[cli->n_insecure++] = optarg;
            break;
        case OPT_CA_FILE:
            if (check_readable(optarg, "--ca-file"))
                return 2;
            cli->ca_file = optarg;
            break;
        case OPT_TAGS:
            cli->opts.include = optarg;
            break;
        case OPT_EXCLUDE_TAGS:
            cli->opts.exclude = optarg;
            break;
        case OPT_LATEST:
            if (parse_long(optarg, "--latest", 0, 1000000, &v))
                return 2;
            cli->opts.latest = (int)v;
            break;
        case OPT_PLATFORM: {
            char *os = NULL, *arch = NULL, *variant = NULL;
            if (platform_parse(optarg, &os, &arch, &variant, &err) < 0)
                return usage_error("--platform: %s", err.message);
            free(os);
            free(arch);
            free(variant);
            if (cli->n_platforms == 16)
                return usage_error("too many --platform values");
            cli->platforms[cli->n_platforms++] = optarg;
            break;
        }
        case OPT_JOBS:
            if (parse_long(optarg, "--jobs", 1, 1024, &v))
                return 2;
            cli->opts.jobs = (int)v;
            break;
        case OPT_LISTEN:
            cli->opts.listen = optarg;
            break;
        case OPT_AGENTS:
            if (parse_long(optarg, "--agents", 1, 10000, &v))
                return 2;
            cli->opts.wait_agents = (int)v;
            break;
        case OPT_SERVER_KEY:
            if (check_readable(optarg, "--server-key"))
                return 2;
            cli->opts.server_key_file = optarg;
            break;
        case OPT_ALLOW_KEYS:
            if (check_readable(optarg, "--allow-keys"))
                return 2;
            cli->opts.allow_keys_file = optarg;
            break;
        case OPT_INSECURE_CONTROL:
            cli->insecure_control = true;
            break;
        case OPT_JOURNAL:
            cli->opts.journal = optarg;
            break;
        case OPT_REPORT:
            cli->opts.report = optarg;
            break;
        case OPT_RETRIES:
            if (parse_long(optarg, "--retries", 0, 100, &v))
                return 2;
            cli->opts.retries = (int)v;
            break;
        case OPT_QPS:
            if (parse_long(optarg, "--qps", 1, 100000, &v))
                return 2;
            cli->qps = (double)v;
            break;
        case OPT_NO_OVERWRITE:
            cli->opts.no_overwrite = true;
            break;
        case OPT_DRY_RUN:
            cli->opts.dry_run = true;
            break;
        case OPT_PROGRESS:
            if (strcmp(optarg, "auto") == 0)
                cli->opts.progress = MIG_PROGRESS_AUTO;
            else if (strcmp(optarg, "plain") == 0)
                cli->opts.progress = MIG_PROGRESS_PLAIN;
            else if (strcmp(optarg, "json") == 0)
                cli->opts.progress = MIG_PROGRESS_JSON;
            else if (strcmp(optarg, "none") == 0)
                cli->opts.progress = MIG_PROGRESS_NONE;
            else
                return usage_error("--progress must be auto, plain, json or none, not '%s'", optarg);
            break;
        case OPT_LOG_LEVEL: {
            int level = log_level_parse(optarg);
            if (level < 0)
                return usage_error("--log-level must be error, warn, info or debug, not '%s'", optarg);
            log_set_level(level);
            break;
        }
        case OPT_LOG_JSON:
            log_set_json(true);
            break;
        case OPT_HEARTBEAT:
            if (parse_long(optarg, "--heartbeat-ms", 100, 60000, &v))
                return 2;
            cli->opts.heartbeat_ms = (int)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("ferry %s\n", FERRY_VERSION);
            exit(0);
        default:
            return usage_error("unknown option");
        }
    }
    cli->opts.platforms = cli->platforms;
    cli->opts.n_platforms = (size_t)cli->n_platforms;
    if (cli->opts.listen) {
        if (!proto_endpoint_is_local(cli->opts.listen) && !cli->opts.server_key_file &&
            !cli->insecure_control)
            return usage_error("--listen %s is not loopback: give --server-key and --allow-keys "
                               "(CURVE), or --insecure-control to send credentials in the clear",
                               cli->opts.listen);
        if (cli->opts.server_key_file && !cli->opts.allow_keys_file)
            return usage_error("--server-key needs --allow-keys (the agents' public keys)");
    }
    if (cli->security_file) {
        if (security_load_yaml(cli->security_file, &cli->security, &err) < 0)
            return usage_error("--security-file: %s", err.message);
    }
    return 0;
}

static bool host_insecure(const cli_t *cli, const char *host)
{
    for (int i = 0; i < cli->n_insecure; i++)
        if (strcmp(cli->insecure[i], host) == 0)
            return true;
    return false;
}

/* Registers a registry with the credentials that apply to it. */
static int endpoint_for(cli_t *cli, mig_t *m, const char *host, const char *repo, bool source)
{
    mig_endpoint_opts_t o = {0};
    ferry_err_t err;
    o.host = host;
    o.ca_file = cli->ca_file;
    o.qps = cli->qps;
    bool insecure = host_insecure(cli, host);
    creds_t from_file = {0};
    const creds_t *given = source ? &cli->src_creds : &cli->dst_creds;
    if (given->username) {
        o.username = given->username;
        o.password = given->password;
    } else if (cli->security) {
        const security_entry_t *e = security_lookup(cli->security, host, repo);
        if (e) {
            o.username = e->username;
            o.password = e->password;
            insecure |= e->insecure;
        }
    }
    if (!o.username) {
        char *path = cli->auth_file ? strdup(cli->auth_file) : creds_default_config_path();
        if (path && (cli->auth_file || access(path, R_OK) == 0)) {
            int rc = creds_from_docker_config(path, host, &from_file, &err);
            if (rc < 0 && rc != FERRY_ENOTFOUND) {
                free(path);
                return usage_error("%s", err.message);
            }
            o.username = from_file.username;
            o.password = from_file.password;
        }
        free(path);
    }
    if (insecure) {
        o.plain_http = true;
        o.tls_insecure = true;
    }
    int idx = mig_endpoint(m, &o, &err);
    creds_clear(&from_file);
    if (idx < 0) {
        fprintf(stderr, "ferry: %s: %s\n", host, err.message);
        return -2;
    }
    return idx;
}

static void make_run_key(cli_t *cli, int argc, char **argv)
{
    /* The journal belongs to one migration: its command and positional arguments. */
    fbuf_t b;
    fbuf_init(&b, 1 << 20);
    for (int i = 0; i < argc; i++) {
        if (argv[i][0] == '-')
            continue;
        fbuf_puts(&b, argv[i]);
        fbuf_puts(&b, "\n");
    }
    digest_sha256(b.data ? b.data : "", b.len, cli->run_key);
    fbuf_free(&b);
    cli->opts.run_key = cli->run_key;
}

static void cli_free(cli_t *cli)
{
    creds_clear(&cli->src_creds);
    creds_clear(&cli->dst_creds);
    security_destroy(&cli->security);
}

/* Adds a mapping from parsed rule-like source and target texts. */
static int add_mapping(cli_t *cli, mig_t *m, const char *src_text, const char *dst_text,
                       char *const *tags, size_t n_tags)
{
    ferry_err_t err;
    ref_t *src = NULL, *dst = NULL;
    int rc = 2;
    if (ref_parse(&src, src_text, &err) < 0) {
        /* A registry or a prefix: mirror through the catalog. */
        if (ref_parse_location(&src, src_text, &err) < 0) {
            usage_error("source '%s': %s", src_text, err.message);
            goto out;
        }
        if (ref_parse_location(&dst, dst_text, &err) < 0) {
            usage_error("target '%s': %s", dst_text, err.message);
            goto out;
        }
        int s = endpoint_for(cli, m, src->registry, src->repository, true);
        int d = endpoint_for(cli, m, dst->registry, dst->repository, false);
        if (s < 0 || d < 0)
            goto out;
        mig_add_catalog(m, s, src->repository, d, dst->repository);
        rc = 0;
        goto out;
    }
    if (ref_parse(&dst, dst_text, &err) < 0) {
        usage_error("target '%s': %s", dst_text, err.message);
        goto out;
    }
    if (dst->digest || (dst->tag && (!src->tag || strcmp(dst->tag, src->tag) != 0))) {
        usage_error("target '%s' must name a repository (the tag comes from the source)", dst_text);
        goto out;
    }
    int s = endpoint_for(cli, m, src->registry, src->repository, true);
    int d = endpoint_for(cli, m, dst->registry, dst->repository, false);
    if (s < 0 || d < 0)
        goto out;
    if (n_tags)
        rc = mig_add_repo_tags(m, s, src->repository, d, dst->repository, tags, n_tags, &err);
    else
        rc = mig_add_repo(m, s, src->repository, d, dst->repository,
                          src->digest ? src->digest : src->tag, &err);
    if (rc < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        rc = 2;
    }
out:
    ref_destroy(&src);
    ref_destroy(&dst);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int cmd_migrate(const char *cmd, int argc, char **argv)
{
    cli_t cli = {0};
    int rc = parse_options(&cli, argc, argv);
    if (rc) {
        cli_free(&cli);
        return rc;
    }
    int npos = argc - optind;
    bool is_sync = strcmp(cmd, "sync") == 0;
    if ((is_sync && npos != 1) || (!is_sync && npos != 2)) {
        cli_free(&cli);
        return usage_error("%s needs %s", cmd, is_sync ? "one RULES_FILE" : "SRC and DST");
    }
    make_run_key(&cli, argc, argv);
    cli.opts.stop = &stop_requested;
    ferry_err_t err;
    mig_t *m = mig_new(&cli.opts, &err);
    if (!m) {
        cli_free(&cli);
        return usage_error("%s", err.message);
    }
    if (is_sync) {
        const char *path = argv[optind];
        rules_t *rules = NULL;
        int lr = ends_with(path, ".json") ? rules_load_json(path, &rules, &err)
                                          : rules_load_yaml(path, &rules, &err);
        if (lr < 0) {
            rc = usage_error("%s", err.message);
            goto out;
        }
        if (rules->n == 0) {
            rules_destroy(&rules);
            rc = usage_error("%s holds no rules", path);
            goto out;
        }
        for (size_t i = 0; i < rules->n && rc == 0; i++)
            rc = add_mapping(&cli, m, rules->items[i].source, rules->items[i].target,
                             rules->items[i].tags, rules->items[i].n_tags);
        rules_destroy(&rules);
    } else {
        rc = add_mapping(&cli, m, argv[optind], argv[optind + 1], NULL, 0);
    }
    if (rc)
        goto out;
    rc = strcmp(cmd, "verify") == 0 ? mig_verify(m) : mig_run(m);
out:
    mig_destroy(&m);
    cli_free(&cli);
    return rc;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("usage: ferry keygen FILE");
    char pub[41], sec[41];
    ferry_err_t err;
    if (proto_keygen(pub, sec) < 0) {
        fprintf(stderr, "ferry: cannot generate a key pair (libzmq without CURVE?)\n");
        return 2;
    }
    char pub_path[4096];
    snprintf(pub_path, sizeof pub_path, "%s.pub", argv[1]);
    if (proto_key_write(argv[1], pub, sec, &err) < 0 || proto_key_write(pub_path, pub, NULL, &err) < 0) {
        fprintf(stderr, "ferry: %s\n", err.message);
        return 2;
    }
    printf("%s\n", pub);
    return 0;
}

int main(int argc, char **argv)
{
    log_init("ferry");
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ferry %s\n", FERRY_VERSION);
        return 0;
    }
    if (strcmp(cmd, "mirror") == 0 || strcmp(cmd, "copy") == 0 || strcmp(cmd, "sync") == 0 ||
        strcmp(cmd, "verify") == 0)
        return cmd_migrate(cmd, argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    return usage_error("unknown command '%s'", cmd);
}
