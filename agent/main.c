/* ferry-agent — connects to a ferry coordinator and streams blobs between registries. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
            "       ferry-agent keygen FILE\n"
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
            "                          credentials then cross the network in the clear\n"
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

static int keygen(const char *path)
{
    char pub[41];
    ferry_err_t err;
    if (proto_keygen_files(path, pub, &err) < 0) {
        fprintf(stderr, "ferry-agent: %s\n", err.message);
        return 1;
    }
    printf("%s\n", pub);
    return 0;
}

int main(int argc, char **argv)
{
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
    };
    static const struct option options[] = {
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
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    log_init("ferry-agent");
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0) {
        if (argc != 3) {
            fprintf(stderr, "ferry-agent: usage: ferry-agent keygen FILE\n");
            return 2;
        }
        return keygen(argv[2]);
    }
    agent_opts_t opts = {0};
    const char *server_key_file = NULL, *key_file = NULL;
    bool insecure_control = false;
    long v = 0;
    int c;
    while ((c = getopt_long(argc, argv, "c:j:hV", options, NULL)) != -1) {
        switch (c) {
        case 'c':
            opts.endpoint = optarg;
            break;
        case 'j':
            if (parse_int(optarg, "--jobs", 1, 1024, &v) < 0)
                return 2;
            opts.jobs = (int)v;
            break;
        case OPT_ID:
            opts.agent_id = optarg;
            break;
        case OPT_SERVER_KEY:
            server_key_file = optarg;
            break;
        case OPT_KEY:
            key_file = optarg;
            break;
        case OPT_GRACE:
            if (parse_int(optarg, "--grace", 1, 86400, &v) < 0)
                return 2;
            opts.grace_ms = (int)v * 1000;
            break;
        case OPT_BUFFER:
            if (parse_int(optarg, "--buffer-mib", 1, 256, &v) < 0)
                return 2;
            opts.xfer.buffer_size = (size_t)v * 1024 * 1024;
            break;
        case OPT_LOG_LEVEL: {
            int level = log_level_parse(optarg);
            if (level < 0) {
                fprintf(stderr, "ferry-agent: --log-level must be error, warn, info or debug\n");
                return 2;
            }
            log_set_level(level);
            break;
        }
        case OPT_LOG_JSON:
            log_set_json(true);
            break;
        case OPT_INSECURE_CONTROL:
            insecure_control = true;
            break;
        case OPT_CHUNK:
            if (parse_int(optarg, "--chunk-mib", 1, 4096, &v) < 0)
                return 2;
            opts.xfer.monolithic_max = opts.xfer.chunk_size = (int64_t)v << 20;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("ferry-agent %s\n", FERRY_VERSION);
            return 0;
        default:
            fprintf(stderr, "Try 'ferry-agent --help'.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferry-agent: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!opts.endpoint) {
        fprintf(stderr, "ferry-agent: --connect ENDPOINT is required (see --help)\n");
        return 2;
    }
    char server_pub[41] = "", pub[41] = "", sec[41] = "";
    ferry_err_t err;
    if (server_key_file) {
        if (!key_file) {
            fprintf(stderr, "ferry-agent: --server-key needs --key (make one with `ferry-agent "
                            "keygen FILE`)\n");
            return 2;
        }
        if (proto_key_read(server_key_file, server_pub, NULL, &err) < 0 ||
            proto_key_read(key_file, pub, sec, &err) < 0) {
            fprintf(stderr, "ferry-agent: %s\n", err.message);
            return 2;
        }
        opts.server_public = server_pub;
        opts.public_key = pub;
        opts.secret_key = sec;
    } else if (!proto_endpoint_is_local(opts.endpoint) && !insecure_control) {
        fprintf(stderr,
                "ferry-agent: %s is not a loopback endpoint: CURVE is required; give --server-key "
                "and --key (or --insecure-control)\n",
                opts.endpoint);
        return 2;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    opts.stop = &stop_requested;

    void *ctx = zmq_ctx_new();
    agent_t *agent = ctx ? agent_new(ctx, &opts, &err) : NULL;
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
