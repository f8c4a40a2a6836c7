/* ferry-agent — connects to a ferry coordinator and streams blobs between registries. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zmq.h>

#include "agent/agent.h"
#include "common/log.h"
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
            "Usage: ferry-agent --connect ENDPOINT [options]\n"
            "       ferry-agent keygen [--force] FILE\n"
            "\n"
            "Runs blob and manifest transfer tasks for a ferry coordinator. The agent\n"
            "reconnects on its own when the coordinator goes away; SIGTERM or SIGINT make\n"
            "it take no new tasks, finish those running (within --grace) and disconnect.\n"
            "\n"
            "Options:\n"
            "  -c, --connect ENDPOINT  coordinator endpoint, e.g. tcp://10.0.0.5:7400\n"
            "  -j, --jobs N            transfers at once (default 8, at most 1024)\n"
            "      --id NAME           agent name (default: hostname-pid)\n"
            "      --server-key FILE   coordinator's public key file: turns CURVE on\n"
            "      --key FILE          this agent's key pair file (from `ferry-agent keygen`)\n"
            "      --insecure-control  talk to a non-loopback coordinator without CURVE (the\n"
            "                          coordinator must say --insecure-control too); registry\n"
            "                          coordinator then sends no registry credentials\n"
            "      --auth-file FILE    Docker config.json with the registries' logins, used\n"
            "                          when a task carries none (--insecure-control); default\n"
            "                          $DOCKER_CONFIG/config.json or ~/.docker/config.json\n"
            "      --grace SECONDS     time to finish running tasks when stopping (default 30)\n"
            "      --buffer-mib N      stream buffer per transfer in MiB (default 1)\n"
            "      --chunk-mib N       blobs up to N MiB go in one PUT, larger ones in resumable\n"
            "                          PATCHes of N MiB (default 128)\n"
            "      --log-level LEVEL   error, warn, info or debug (default info)\n"
            "      --log-json          log one JSON object per line\n"
            "  -h, --help              show this help and exit\n"
            "  -V, --version           print the version and exit\n"
            "\n"
            "CURVE is required when the endpoint is not loopback: give --server-key and --key\n"
            "(or --insecure-control).\n"
            "Key files: `ferry-agent keygen FILE` writes FILE (key pair, mode 0600) and\n"
            "FILE.pub (public key, to add to the coordinator's allowlist).\n");
}

static int parse_int(const char *text, const char *flag, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !end || *end || end == text || v < min || v > max) {
        fprintf(stderr, "ferry-agent: %s must be a number from %ld to %ld, not '%s'\n", flag, min,
                max, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* `ferry-agent keygen [--force] FILE`. */
static int keygen(int argc, char **argv)
{
    bool force = argc == 4 && strcmp(argv[2], "--force") == 0;
    const char *file = argc == 3 ? argv[2] : force ? argv[3] : NULL;
    if (file && (strcmp(file, "--help") == 0 || strcmp(file, "-h") == 0)) {
        printf("Usage: ferry-agent keygen [--force] FILE\n"
               "\n"
               "Makes this agent's CURVE key pair: FILE (mode 0600, given to --key) and\n"
               "FILE.pub (one line of it goes on the coordinator's --allow-keys list). An\n"
               "existing pair is kept unless --force is given. Prints the public key.\n");
        return 0;
    }
    if (!file || file[0] == '-') {
        fprintf(stderr, "ferry-agent: usage: ferry-agent keygen [--force] FILE\n");
        return 2;
    }
    char pub[41];
    ferry_err_t err;
    if (proto_keygen_files(file, force, pub, &err) < 0) {
        fprintf(stderr, "ferry-agent: %s\n", err.message);
        return 2;
    }
    printf("%s\n", pub);
    return 0;
}

enum {
    OPT_ID = 256,
    OPT_SERVER_KEY,
    OPT_KEY,
    OPT_GRACE,
    OPT_BUFFER,
    OPT_LOG_LEVEL,
    OPT_LOG_JSON,
    OPT_INSECURE_CONTROL,
    OPT_CHUNK,
    OPT_AUTH_FILE,
};

static const struct option agent_options[] = {
    {"connect", required_argument, NULL, 'c'},
    {"jobs", required_argument, NULL, 'j'},
    {"id", required_argument, NULL, OPT_ID},
    {"server-key", required_argument, NULL, OPT_SERVER_KEY},
    {"key", required_argument, NULL, OPT_KEY},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"buffer-mib", required_argument, NULL, OPT_BUFFER},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-json", no_argument, NULL, OPT_LOG_JSON},
    {"insecure-control", no_argument, NULL, OPT_INSECURE_CONTROL},
    {"chunk-mib", required_argument, NULL, OPT_CHUNK},
    {"auth-file", required_argument, NULL, OPT_AUTH_FILE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/* What the command line asked for beyond the agent's options. */
typedef struct agent_args {
    agent_opts_t opts;
    const char *server_key_file, *key_file;
    bool insecure_control;
} agent_args_t;

/* One option into a; 0, 1 for --help/--version (done), or 2. */
static int agent_option(agent_args_t *a, int c, const char *arg)
{
    long v = 0;
    switch (c) {
    case 'c':
        a->opts.endpoint = arg;
        return 0;
    case 'j':
        return parse_int(arg, "--jobs", 1, 1024, &v) < 0 ? 2 : (a->opts.jobs = (int)v, 0);
    case OPT_ID:
        a->opts.agent_id = arg;
        return 0;
    case OPT_SERVER_KEY:
        a->server_key_file = arg;
        return 0;
    case OPT_KEY:
        a->key_file = arg;
        return 0;
    case OPT_GRACE:
        return parse_int(arg, "--grace", 1, 86400, &v) < 0 ? 2 : (a->opts.grace_ms = (int)v * 1000, 0);
    case OPT_BUFFER:
        if (parse_int(arg, "--buffer-mib", 1, 256, &v) < 0)
            return 2;
        a->opts.xfer.buffer_size = (size_t)v * 1024 * 1024;
        return 0;
    case OPT_LOG_LEVEL:
        if (log_level_parse(arg) < 0) {
            fprintf(stderr, "ferry-agent: --log-level must be error, warn, info or debug\n");
            return 2;
        }
        log_set_level(log_level_parse(arg));
        return 0;
    case OPT_LOG_JSON:
        log_set_json(true);
        return 0;
    case OPT_INSECURE_CONTROL:
        a->insecure_control = true;
        return 0;
    case OPT_CHUNK:
        if (parse_int(arg, "--chunk-mib", 1, 4096, &v) < 0)
            return 2;
        a->opts.xfer.monolithic_max = a->opts.xfer.chunk_size = (int64_t)v << 20;
        return 0;
    case OPT_AUTH_FILE:
        a->opts.auth_file = arg;
        return 0;
    case 'h':
        usage(stdout);
        return 1;
    case 'V':
        printf("ferry-agent %s\n", FERRY_VERSION);
        return 1;
    default:
        fprintf(stderr, "Try 'ferry-agent --help'.\n");
        return 2;
    }
}

/* The CURVE keys, or the reason there are none. 0, or 2. */
static int agent_keys(agent_args_t *a, char server_pub[41], char pub[41], char sec[41])
{
    ferry_err_t err;
    if (!a->server_key_file) {
        if (proto_endpoint_is_local(a->opts.endpoint) || a->insecure_control)
            return 0;
        fprintf(stderr,
                "ferry-agent: %s is not a loopback endpoint: CURVE is required; give --server-key "
                "and --key (or --insecure-control)\n",
                a->opts.endpoint);
        return 2;
    }
    if (!a->key_file) {
        fprintf(stderr, "ferry-agent: --server-key needs --key (make one with `ferry-agent "
                        "keygen FILE`)\n");
        return 2;
    }
    if (proto_key_read(a->server_key_file, server_pub, NULL, &err) < 0 ||
        proto_key_read(a->key_file, pub, sec, &err) < 0) {
        fprintf(stderr, "ferry-agent: %s\n", err.message);
        return 2;
    }
    a->opts.server_public = server_pub;
    a->opts.public_key = pub;
    a->opts.secret_key = sec;
    return 0;
}

int main(int argc, char **argv)
{
    log_init("ferry-agent");
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* a core file would hold registry credentials */
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return keygen(argc, argv);
    agent_args_t a = {0};
    int c;
    while ((c = getopt_long(argc, argv, "c:j:hV", agent_options, NULL)) != -1) {
        int rc = agent_option(&a, c, optarg);
        if (rc)
            return rc == 1 ? 0 : rc;
    }
    if (optind < argc) {
        fprintf(stderr, "ferry-agent: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!a.opts.endpoint) {
        fprintf(stderr, "ferry-agent: --connect ENDPOINT is required (see --help)\n");
        return 2;
    }
    char server_pub[41] = "", pub[41] = "", sec[41] = "";
    if (agent_keys(&a, server_pub, pub, sec))
        return 2;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    a.opts.stop = &stop_requested;
    ferry_err_t err;
    void *ctx = zmq_ctx_new();
    agent_t *agent = ctx ? agent_new(ctx, &a.opts, &err) : NULL;
    if (!agent) {
        fprintf(stderr, "ferry-agent: %s\n", ctx ? err.message : "cannot create a ZeroMQ context");
        if (ctx)
            zmq_ctx_term(ctx);
        return 2;
    }
    int rc = agent_run(agent);
    agent_destroy(&agent);
    zmq_ctx_term(ctx);
    return rc < 0 ? 2 : 0;
}
