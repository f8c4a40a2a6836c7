/* cli — the options every migrating command shares, and how they turn into
 * registries with their credentials. */
#include "coordinator/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/ref.h"
#include "proto/proto.h"
#include "coordinator/tagfilter.h"

enum {
    OPT_SRC_CREDS = 256,
    OPT_DST_CREDS,
    OPT_AUTH_FILE,
    OPT_SECURITY_FILE,
    OPT_INSECURE,
    OPT_CA_FILE,
    OPT_TAGS,
    OPT_EXCLUDE_TAGS,
    OPT_LATEST,
    OPT_PLATFORM,
    OPT_JOBS,
    OPT_LISTEN,
    OPT_AGENTS,
    OPT_AGENTS_TIMEOUT,
    OPT_STRICT,
    OPT_SERVER_KEY,
    OPT_ALLOW_KEYS,
    OPT_INSECURE_CONTROL,
    OPT_JOURNAL,
    OPT_REPORT,
    OPT_RETRIES,
    OPT_QPS,
    OPT_NO_OVERWRITE,
    OPT_DRY_RUN,
    OPT_PROGRESS,
    OPT_LOG_LEVEL,
    OPT_LOG_JSON,
    OPT_HEARTBEAT,
    OPT_METRICS_FILE,
    OPT_STATUS_FILE,
    OPT_CHUNK_MIB,
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
    {"agents-timeout", required_argument, NULL, OPT_AGENTS_TIMEOUT},
    {"strict", no_argument, NULL, OPT_STRICT},
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
    {"metrics-file", required_argument, NULL, OPT_METRICS_FILE},
    {"chunk-mib", required_argument, NULL, OPT_CHUNK_MIB},
    {"status-file", required_argument, NULL, OPT_STATUS_FILE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* An ipc:// socket authenticates its peers when only the user can reach
 * it: its directory is the user's own and closed to others. */
static bool cli_ipc_private(const char *endpoint)
{
    char *path = strdup(endpoint + strlen("ipc://"));
    if (!path)
        return false;
    char *slash = strrchr(path, '/');
    if (slash)
        *slash = '\0';
    struct stat st;
    bool ok = slash && *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
              st.st_uid == geteuid() && (st.st_mode & 077) == 0;
    free(path);
    return ok;
}

/* Every --listen authenticates its agents: CURVE, or an ipc:// socket in a
 * private directory. --insecure-control lets any peer connect, and TASKs
 * then carry no registry credentials (agents use their own). */
static int cli_listen_check(cli_t *cli)
{
    const char *listen = cli->opts.listen;
    bool ipc = strncmp(listen, "ipc://", 6) == 0;
    if (cli->opts.server_key_file || strncmp(listen, "inproc://", 9) == 0)
        return 0;
    if (ipc && cli_ipc_private(listen))
        return 0;
    if (cli->insecure_control) {
        cli->opts.insecure_control = true;
        return 0;
    }
    if (ipc)
        return usage_error("--listen %s: its directory must be yours and closed to others "
                           "(chmod 700), or give --server-key and --allow-keys (CURVE)",
                           listen);
    return usage_error("--listen %s: agents must authenticate, or any local process gets the "
                       "registries' credentials: give --server-key and --allow-keys (CURVE), an "
                       "ipc:// socket in a directory only you can open, or --insecure-control "
                       "(TASKs then carry no credentials: agents use their own --auth-file)",
                       listen);
}

const char *cli_help_hint = "ferry --help";

int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("ferry: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see %s)\n", cli_help_hint);
    va_end(ap);
    return 2;
}

int parse_long(const char *text, const char *flag, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return usage_error("%s must be a whole number from %ld to %ld, not '%s'", flag, min, max,
                           text);
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
volatile sig_atomic_t cli_stop_requested;

int cli_secret(const char *flag, const char *arg, char **out)
{
    *out = NULL;
    if (strcmp(arg, "-") != 0 && arg[0] != '@') {
        *out = strdup(arg);
        return *out ? 0 : usage_error("out of memory");
    }
    FILE *f = strcmp(arg, "-") == 0 ? stdin : fopen(arg + 1, "r");
    if (!f)
        return usage_error("%s %s: cannot read it: %s", flag, arg, strerror(errno));
    char line[CLI_SECRET_MAX + 2];
    bool ok = fgets(line, sizeof line, f) != NULL;
    if (f != stdin)
        fclose(f);
    size_t len = ok ? strcspn(line, "\r\n") : 0;
    int rc = 0;
    if (!ok || len == 0)
        rc = usage_error("%s %s: no value in it", flag, arg);
    else if (len > CLI_SECRET_MAX)
        rc = usage_error("%s %s: longer than %d bytes", flag, arg, CLI_SECRET_MAX);
    else if (!(*out = strndup(line, len)))
        rc = usage_error("out of memory");
    explicit_bzero(line, sizeof line);
    return rc;
}

/* USER:PASS for a registry from a flag's value (or @FILE, or - for stdin). */
static int cli_creds(const char *flag, const char *arg, creds_t *out)
{
    char *text = NULL;
    int rc = cli_secret(flag, arg, &text);
    ferry_err_t err;
    creds_clear(out);
    if (rc == 0 && creds_parse_userpass(text, out, &err) < 0)
        rc = usage_error("%s: %s", flag, err.message);
    if (text) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
    return rc;
}

/* FERRY_SRC_CREDS and FERRY_DST_CREDS: the flags' values from the
 * environment (the flags win); not on any command line. */
static int cli_creds_env(cli_t *cli)
{
    const char *names[] = {"FERRY_SRC_CREDS", "FERRY_DST_CREDS"};
    creds_t *slots[] = {&cli->src_creds, &cli->dst_creds};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(names[i]);
        if (v && *v && !slots[i]->username) {
            int rc = cli_creds(names[i], v, slots[i]);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* The options that only store their value: a row each. */
enum cli_kind { CK_STR, CK_FILE, CK_INT, CK_TRUE };
typedef struct cli_simple {
    int opt;          /* OPT_* */
    int kind;         /* enum cli_kind */
    size_t offset;    /* the field in cli_t */
    const char *flag; /* for messages */
    long min, max;    /* CK_INT bounds */
} cli_simple_t;

#define CLI_FIELD(f) offsetof(cli_t, f)
static const cli_simple_t cli_simple[] = {
    {OPT_AUTH_FILE, CK_FILE, CLI_FIELD(auth_file), "--auth-file", 0, 0},
    {OPT_SECURITY_FILE, CK_STR, CLI_FIELD(security_file), "--security-file", 0, 0},
    {OPT_CA_FILE, CK_FILE, CLI_FIELD(ca_file), "--ca-file", 0, 0},
    {OPT_TAGS, CK_STR, CLI_FIELD(opts.include), "--tags", 0, 0},
    {OPT_EXCLUDE_TAGS, CK_STR, CLI_FIELD(opts.exclude), "--exclude-tags", 0, 0},
    {OPT_LATEST, CK_INT, CLI_FIELD(opts.latest), "--latest", 0, 1000000},
    {OPT_JOBS, CK_INT, CLI_FIELD(opts.jobs), "--jobs", 1, 1024},
    {OPT_LISTEN, CK_STR, CLI_FIELD(opts.listen), "--listen", 0, 0},
    {OPT_AGENTS, CK_INT, CLI_FIELD(opts.wait_agents), "--agents", 1, 10000},
    {OPT_STRICT, CK_TRUE, CLI_FIELD(opts.strict), "--strict", 0, 0},
    {OPT_AGENTS_TIMEOUT, CK_INT, CLI_FIELD(opts.agents_timeout_s), "--agents-timeout", 1, 86400},
    {OPT_SERVER_KEY, CK_FILE, CLI_FIELD(opts.server_key_file), "--server-key", 0, 0},
    {OPT_ALLOW_KEYS, CK_FILE, CLI_FIELD(opts.allow_keys_file), "--allow-keys", 0, 0},
    {OPT_INSECURE_CONTROL, CK_TRUE, CLI_FIELD(insecure_control), "--insecure-control", 0, 0},
    {OPT_JOURNAL, CK_STR, CLI_FIELD(opts.journal), "--journal", 0, 0},
    {OPT_REPORT, CK_STR, CLI_FIELD(opts.report), "--report", 0, 0},
    {OPT_RETRIES, CK_INT, CLI_FIELD(opts.retries), "--retries", 0, 100},
    {OPT_NO_OVERWRITE, CK_TRUE, CLI_FIELD(opts.no_overwrite), "--no-overwrite", 0, 0},
    {OPT_DRY_RUN, CK_TRUE, CLI_FIELD(opts.dry_run), "--dry-run", 0, 0},
    {OPT_CHUNK_MIB, CK_INT, CLI_FIELD(opts.chunk_mib), "--chunk-mib", 1, 4096},
    {OPT_METRICS_FILE, CK_STR, CLI_FIELD(opts.metrics_file), "--metrics-file", 0, 0},
    {OPT_STATUS_FILE, CK_STR, CLI_FIELD(opts.status_file), "--status-file", 0, 0},
    {OPT_HEARTBEAT, CK_INT, CLI_FIELD(opts.heartbeat_ms), "--heartbeat-ms", 100, 60000},
};

/* A row of cli_simple into cli; 0, or 2 after a usage message. */
static int cli_store(cli_t *cli, const cli_simple_t *row, const char *arg)
{
    char *field = (char *)cli + row->offset;
    long v = 0;
    switch (row->kind) {
    case CK_FILE:
        if (check_readable(arg, row->flag))
            return 2;
        /* fall through */
    case CK_STR:
        memcpy(field, &arg, sizeof arg);
        return 0;
    case CK_INT:
        if (parse_long(arg, row->flag, row->min, row->max, &v))
            return 2;
        *(int *)(void *)field = (int)v;
        return 0;
    default:
        *(bool *)(void *)field = true;
        return 0;
    }
}

static const int cli_progress_modes[] = {MIG_PROGRESS_AUTO, MIG_PROGRESS_PLAIN, MIG_PROGRESS_JSON,
                                         MIG_PROGRESS_NONE};
static const char *const cli_progress_names[] = {"auto", "plain", "json", "none"};

/* The options that do more than store a value; 0, or 2. */
static int cli_option(cli_t *cli, int c, char *arg, const cli_extra_t *extra)
{
    ferry_err_t err;
    long v = 0;
    for (size_t i = 0; i < sizeof cli_simple / sizeof *cli_simple; i++)
        if (cli_simple[i].opt == c)
            return cli_store(cli, &cli_simple[i], arg);
    switch (c) {
    case OPT_SRC_CREDS:
    case OPT_DST_CREDS:
        return cli_creds(c == OPT_SRC_CREDS ? "--src-creds" : "--dst-creds", arg,
                         c == OPT_SRC_CREDS ? &cli->src_creds : &cli->dst_creds);
    case OPT_INSECURE:
        if (cli->n_insecure == 64)
            return usage_error("too many --insecure hosts");
        if (ref_validate_host(arg, &err) < 0)
            return usage_error("--insecure %s: %s", arg, err.message);
        cli->insecure[cli->n_insecure++] = arg;
        return 0;
    case OPT_PLATFORM:
        if (platform_parse(arg, NULL, NULL, NULL, &err) < 0)
            return usage_error("--platform: %s", err.message);
        if (cli->n_platforms == 16)
            return usage_error("too many --platform values");
        cli->platforms[cli->n_platforms++] = arg;
        return 0;
    case OPT_QPS:
        if (parse_long(arg, "--qps", 1, 100000, &v))
            return 2;
        cli->qps = (double)v;
        return 0;
    case OPT_PROGRESS:
        for (size_t i = 0; i < 4; i++)
            if (strcmp(arg, cli_progress_names[i]) == 0)
                return cli->opts.progress = cli_progress_modes[i], 0;
        return usage_error("--progress must be auto, plain, json or none, not '%s'", arg);
    case OPT_LOG_LEVEL:
        if (log_level_parse(arg) < 0)
            return usage_error("--log-level must be error, warn, info or debug, not '%s'", arg);
        log_set_level(log_level_parse(arg));
        return 0;
    case OPT_LOG_JSON:
        log_set_json(true);
        return 0;
    case 'h':
        if (extra && extra->usage)
            extra->usage(stdout);
        else
            cli_usage(stdout);
        exit(0);
    case 'V':
        printf("ferry %s\n", FERRY_VERSION);
        exit(0);
    default:
        return usage_error("unknown option");
    }
}

int cli_parse(cli_t *cli, int argc, char **argv, const cli_extra_t *extra)
{
    int c;
    ferry_err_t err;
    cli->opts.retries = 3;
    cli->opts.jobs = 8;
    cli->opts.stop = &cli_stop_requested;
    struct option all[128];
    size_t n = 0;
    for (const struct option *o = common_options; o->name && n < 96; o++)
        all[n++] = *o;
    for (const struct option *o = extra ? extra->options : NULL; o && o->name && n < 127; o++)
        all[n++] = *o;
    memset(&all[n], 0, sizeof all[n]);
    for (;;) {
        c = extra && extra->long_only ? getopt_long_only(argc, argv, "hV", all, NULL)
                                      : getopt_long(argc, argv, "hV", all, NULL);
        if (c == -1)
            break;
        if (c >= CLI_EXTRA_BASE && extra) {
            int rc = extra->handle(extra->ud, c, optarg);
            if (rc)
                return rc;
            continue;
        }
        int rc = cli_option(cli, c, optarg, extra);
        if (rc)
            return rc;
    }
    int env_rc = cli_creds_env(cli);
    if (env_rc)
        return env_rc;
    cli->opts.platforms = cli->platforms;
    cli->opts.n_platforms = (size_t)cli->n_platforms;
    if (cli->opts.listen) {
        int rc = cli_listen_check(cli);
        if (rc)
            return rc;
        if (cli->opts.server_key_file && !cli->opts.allow_keys_file)
            return usage_error("--server-key needs --allow-keys (the agents' public keys)");
    }
    if (cli->security_file) {
        if (security_load_yaml(cli->security_file, &cli->security, &err) < 0)
            return usage_error("--security-file: %s", err.message);
    }
    return 0;
}

/* --insecure HOST[:PORT] covers host: the same "host:port", or a HOST
 * given without a port on any of its ports. */
static bool host_insecure(const cli_t *cli, const char *host)
{
    for (int i = 0; i < cli->n_insecure; i++) {
        const char *want = cli->insecure[i];
        size_t n = strlen(want);
        if (strcmp(want, host) == 0)
            return true;
        bool want_has_port = strrchr(want, ':') && want[n - 1] != ']';
        if (!want_has_port && strncmp(host, want, n) == 0 && host[n] == ':')
            return true;
    }
    return false;
}

int cli_endpoint(cli_t *cli, mig_t *m, const char *host, const char *repo, bool source)
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
    /* TLS without verification where the registry speaks TLS, plain HTTP
     * where it does not (told apart when the registry is first asked). */
    o.insecure = insecure;
    int idx = mig_endpoint(m, &o, &err);
    creds_clear(&from_file);
    if (idx < 0) {
        fprintf(stderr, "ferry: %s: %s\n", host, err.message);
        return -2;
    }
    return idx;
}

void cli_run_key(cli_t *cli, const char *command, char *const *args, int n_args)
{
    /* The journal belongs to one migration: the command and what it moves,
     * not options such as --jobs or --report that a re-run may change. */
    fbuf_t b;
    fbuf_init(&b, 1 << 20);
    fbuf_puts(&b, command);
    for (int i = 0; i < n_args; i++) {
        fbuf_puts(&b, "\n");
        fbuf_puts(&b, args[i]);
    }
    digest_sha256(b.data ? b.data : "", b.len, cli->run_key);
    fbuf_free(&b);
    cli->opts.run_key = cli->run_key;
}

void cli_free(cli_t *cli)
{
    creds_clear(&cli->src_creds);
    creds_clear(&cli->dst_creds);
    security_destroy(&cli->security);
}
