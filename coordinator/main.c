/* ferry — the coordinator: discovers, plans, dispatches and reports migrations. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/creds.h"
#include "common/digest.h"
#include "common/log.h"
#include "common/ref.h"
#include "coordinator/ccr2tcr.h"
#include "coordinator/cli.h"
#include "coordinator/compat.h"
#include "coordinator/metrics.h"
#include "coordinator/mig.h"
#include "coordinator/rewrite/rewrite.h"
#include "coordinator/rules.h"
#include "coordinator/watch.h"
#include "proto/proto.h"

static void on_signal(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

static void cli_options_usage(FILE *out);

void cli_usage(FILE *out)
{
    fprintf(
        out,
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
        "  verify mirror|copy|sync ARGS  compare exactly what that command copies (a\n"
        "                        prefix mirror too), signature tags included; tags only\n"
        "                        the target has are listed as extra\n");
    fprintf(out,
        "  ccr2tcr [flags]       TCR Personal Edition to an Enterprise Edition instance\n"
        "  image-transfer FLAGS  image-transfer's own command line (--ruleFile, --ccrToTcr,\n"
        "                        --securityFile, --secretFile ...); see its --help\n"
        "  rewrite ...           point Kubernetes manifests at the new registry (see ferry rewrite "
        "--help)\n"
        "  status STATUS_FILE    progress of a migration run with --status-file\n"
        "  keygen [--force] FILE make a CURVE key pair (FILE and FILE.pub); an existing\n"
        "                        pair is kept unless --force\n"
        "\n"
        "Each command has its own --help with examples (ferry sync --help shows the rules\n"
        "formats).\n"
        "\n");
    cli_options_usage(out);
}

/* The options every migrating command takes. */
static void cli_options_usage(FILE *out)
{
    fprintf(out,
        "Options:\n"
        "      --src-creds USER:PASS   source registry credentials (@FILE: its first line;\n"
        "                              -: a line of standard input; or FERRY_SRC_CREDS)\n"
        "      --dst-creds USER:PASS   target registry credentials (likewise; FERRY_DST_CREDS)\n"
        "      --auth-file FILE        Docker config.json for hosts without --*-creds\n"
        "                              (default $DOCKER_CONFIG/config.json or "
        "~/.docker/config.json)\n"
        "      --security-file FILE    image-transfer security YAML (sync)\n"
        "      --insecure HOST[:PORT]  TLS without verification for this host, or plain HTTP\n"
        "                              where it does not speak TLS; HOST alone covers all its\n"
        "                              ports (repeatable)\n"
        "      --ca-file FILE          CA certificates to verify registries with\n"
        "      --tags REGEX            only tags matching (POSIX extended regex)\n"
        "      --exclude-tags REGEX    leave out tags matching\n"
        "      --latest N              only the N newest tags of each repository\n"
        "      --platform OS/ARCH[/V]  only this platform of multi-arch images (repeatable;\n"
        "                              default all platforms, which keeps index digests)\n"
        "      --jobs N                transfers at once with in-process agents (default 8)\n"
        "      --listen ENDPOINT       wait for remote agents there, e.g. tcp://0.0.0.0:7400\n"
        "      --strict                verify: tags only the target has are differences\n"
        "      --agents N              remote agents to wait for before starting (default 1)\n"
        "      --agents-timeout SECONDS  give up (exit 2, naming who joined) when they are\n"
        "                              not all there by then\n"
        "      --server-key FILE       coordinator key pair: CURVE for remote agents\n"
        "      --allow-keys FILE       agent public keys admitted (one per line)\n"
        "      --insecure-control      allow --listen without authenticating agents (CURVE or\n"
        "                              a private ipc:// socket); TASKs then carry no registry\n"
        "                              credentials: agents use their own --auth-file\n"
        "      --heartbeat-ms N        agent liveness interval: an agent silent for 3 of\n"
        "                              them is lost and its tasks requeued (default 1000)\n"
        "      --journal FILE          record finished work; a re-run resumes from it and\n"
        "                              asks the target nothing about tags it recorded\n"
        "      --report FILE           write a JSON report of every image\n"
        "      --metrics-file FILE     keep FILE up to date in the Prometheus text format\n"
        "                              (for node exporter's textfile collector)\n"
        "      --status-file FILE      keep a JSON status in FILE, for `ferry status FILE`\n"
        "");
    fprintf(out,
        "      --watch INTERVAL        mirror, copy, sync: after the first pass, a pass every\n"
        "                              INTERVAL (90, 30s, 5m, 2h) until SIGTERM/SIGINT\n"
        "                              (exit 0) or --until; use it with --journal\n"
        "      --until TIME            with --watch: stop at TIME (RFC 3339, or +INTERVAL)\n"
        "      --http HOST:PORT        with --watch: POST /events takes the registry's push\n"
        "                              notifications (and Harbor's webhooks) to copy a push\n"
        "                              within seconds; GET /metrics, /healthz, /status\n"
        "      --http-token TOKEN      the Authorization value events must carry (@FILE reads\n"
        "                              it from FILE); required when HOST is not loopback\n"
        "      --retries N             retries of a failed transfer (default 3)\n"
        "      --qps N                 registry API requests per second per registry\n"
        "      --chunk-mib N           blobs up to N MiB go in one PUT, larger ones in PATCHes\n"
        "                              of N MiB, resumable (default 128; in-process agents)\n"
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

/* How add_mapping reads a source: copy and verify take a reference first
 * (a location when it is not one); mirror always takes a location
 * "host[:port][/prefix]"; a sync rule takes a reference, except that a
 * source of one path component with no tag, digest or tag list is a
 * namespace, as in image-transfer's rule files ("host/ns": every repository
 * under ns, and ns itself). */
enum map_mode { MAP_REFERENCE = 0, MAP_LOCATION, MAP_RULE };

/* A rule's explicit tags, as candidates of unknown time. */
static int add_tags(mig_t *m, int s, const char *src_repo, int d, const char *dst_repo,
                    char *const *tags, size_t n_tags, const mig_select_t *sel, ferry_err_t *err)
{
    mig_tag_t *cands = calloc(n_tags, sizeof *cands);
    if (!cands)
        return ferry_err_set(err, FERRY_ENOMEM, "out of memory");
    for (size_t i = 0; i < n_tags; i++)
        cands[i] = (mig_tag_t){tags[i], -1};
    int rc = mig_add_repo_tags(m, s, src_repo, d, dst_repo, cands, n_tags, sel, err);
    free(cands);
    return rc;
}

/* A mapping's usage error, prefixed with where it came from (a rules
 * file's rule) when it came from one. Returns 2. */
static int mapping_error(const char *where, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int mapping_error(const char *where, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return where ? usage_error("%s: %s", where, text) : usage_error("%s", text);
}

/* Adds a mapping from parsed rule-like source and target texts; where names
 * the rule in errors (NULL on the command line). */
static int add_mapping(cli_t *cli, mig_t *m, int mode, const char *src_text, const char *dst_text,
                       char *const *tags, size_t n_tags, const mig_select_t *sel, const char *where)
{
    ferry_err_t err;
    ref_t *src = NULL, *dst = NULL;
    int rc = 2;
    bool location = mode == MAP_LOCATION || ref_parse(&src, src_text, &err) < 0;
    if (!location && mode == MAP_RULE && !src->tag && !src->digest && !n_tags &&
        !strchr(src->repository, '/')) {
        ref_destroy(&src);
        location = true;
    }
    if (location) {
        /* A registry or a prefix: mirror through the catalog. */
        if (ref_parse_location(&src, src_text, &err) < 0) {
            mapping_error(where, "source '%s': %s", src_text, err.message);
            goto out;
        }
        if (ref_parse_location(&dst, dst_text, &err) < 0) {
            mapping_error(where, "target '%s': %s", dst_text, err.message);
            goto out;
        }
        int s = cli_endpoint(cli, m, src->registry, src->repository, true);
        int d = cli_endpoint(cli, m, dst->registry, dst->repository, false);
        if (s < 0 || d < 0)
            goto out;
        rc = mig_add_catalog(m, s, src->repository, d, dst->repository, sel, &err);
        if (rc < 0)
            rc = mapping_error(where, "%s", err.message);
        goto out;
    }
    if (ref_parse(&dst, dst_text, &err) < 0) {
        mapping_error(where, "target '%s': %s", dst_text, err.message);
        goto out;
    }
    if (dst->digest || (dst->tag && !src->tag && !src->digest)) {
        mapping_error(where,
                      "target '%s': a target names a repository, or a tag when the source names "
                      "one image (a rename)",
                      dst_text);
        goto out;
    }
    int s = cli_endpoint(cli, m, src->registry, src->repository, true);
    int d = cli_endpoint(cli, m, dst->registry, dst->repository, false);
    if (s < 0 || d < 0)
        goto out;
    if (n_tags)
        rc = add_tags(m, s, src->repository, d, dst->repository, tags, n_tags, sel, &err);
    else
        rc = mig_add_repo(m, s, src->repository, d, dst->repository,
                          src->digest ? src->digest : src->tag,
                          dst->tag && (!src->tag || strcmp(dst->tag, src->tag) != 0) ? dst->tag
                                                                                      : NULL,
                          sel, &err);
    if (rc < 0)
        rc = mapping_error(where, "%s", err.message);
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

/* A rule's own tag and platform selection, or NULL when it has none (the
 * command line's applies). */
static const mig_select_t *rule_select(const rule_t *r, mig_select_t *out)
{
    if (!r->include && !r->exclude && !r->latest && !r->n_platforms)
        return NULL;
    out->include = r->include;
    out->exclude = r->exclude;
    out->latest = r->latest;
    out->platforms = r->platforms;
    out->n_platforms = r->n_platforms;
    return out;
}

/* ferry mirror|copy|sync|verify --help: the command, examples, the options. */
static void mirror_usage(FILE *out)
{
    fputs("Usage: ferry mirror SRC DST [options]\n"
          "\n"
          "Every repository of a registry (SRC = host[:port]), or under a path prefix\n"
          "(host[:port]/prefix), to another registry or prefix: DST/REST for SRC/REST.\n"
          "\n"
          "Examples:\n"
          "  ferry mirror registry.example.com registry.internal:5000/mirror --journal m.journal\n"
          "  ferry mirror src.example.com/team-b dst.example.com/team-b --tags '^v' --latest 5\n"
          "  ferry mirror src.example.com dst.example.com --watch 10m --http 127.0.0.1:8080\n"
          "\n",
          out);
    cli_options_usage(out);
}

static void copy_usage(FILE *out)
{
    fputs("Usage: ferry copy SRC_REF DST_REF [options]\n"
          "\n"
          "One repository (every tag the selection takes), or one tag or digest:\n"
          "host[:port]/repo[:tag|@digest] to host[:port]/repo[:tag] (a tag on the target\n"
          "renames a single image).\n"
          "\n"
          "Examples:\n"
          "  ferry copy src.example.com/team/app dst.example.com/team/app --tags '^v[0-9]' --latest 10\n"
          "  ferry copy src.example.com/team/app:1.2 dst.example.com/team/app\n"
          "  ferry copy src.example.com/team/app:latest dst.example.com/team/app:prod\n"
          "\n",
          out);
    cli_options_usage(out);
}

static void sync_usage(FILE *out)
{
    fputs("Usage: ferry sync RULES_FILE [options]\n"
          "\n"
          "Many mappings from a file: ferry's JSON rules (RULES_FILE ending in .json) or\n"
          "image-transfer's YAML rule file (any other name).\n"
          "\n"
          "JSON rules:\n"
          "  {\"rules\": [\n"
          "    {\"source\": \"src.example.com/team/app\", \"target\": \"dst.example.com/team/app\",\n"
          "     \"tags\": {\"include\": \"^v\", \"exclude\": \"rc\", \"latest\": 5},\n"
          "     \"platforms\": [\"linux/amd64\"]},\n"
          "    {\"source\": \"src.example.com/tools\", \"target\": \"dst.example.com/tools\",\n"
          "     \"tags\": [\"1.0\", \"2.0\"]},\n"
          "    {\"source\": \"src.example.com/solo/app:latest\",\n"
          "     \"target\": \"dst.example.com/sync/app:prod\"},\n"
          "    {\"source\": \"src.example.com/team-b\", \"target\": \"dst.example.com/b\"}]}\n"
          "  Only source and target are required; a source of one path component or a\n"
          "  prefix with no tag mirrors everything under it; a target tag renames.\n"
          "\n"
          "image-transfer's YAML rule file (--ruleFile):\n"
          "  src.example.com/team/web: dst.example.com/team/web\n"
          "  src.example.com/team/api:v1,v2: dst.example.com/team/api\n"
          "  src.example.com/team/web:latest: dst.example.com/team/web:prod\n"
          "\n"
          "Its security file (--security-file, image-transfer's --securityFile):\n"
          "  src.example.com:\n"
          "    username: reader\n"
          "    password: secret\n"
          "  dst.example.com/team:\n"
          "    username: pusher\n"
          "    password: secret\n"
          "    insecure: false\n"
          "\n"
          "Examples:\n"
          "  ferry sync rules.json --journal sync.journal\n"
          "  ferry sync transfer-rule.yaml --security-file registry-secret.yaml\n"
          "\n",
          out);
    cli_options_usage(out);
}

static void verify_usage(FILE *out)
{
    fputs("Usage: ferry verify SRC DST [options]\n"
          "       ferry verify mirror|copy|sync ARGS [options]\n"
          "\n"
          "Compares every selected tag's manifest digest on both sides, and the signature\n"
          "tags that travel with each; lists tags only the target has as extra (counted as\n"
          "differences with --strict). Exit 0 only when everything matches. The second\n"
          "form takes exactly what that command takes (a prefix mirror, renames).\n"
          "\n"
          "Examples:\n"
          "  ferry verify mirror src.example.com/team-b dst.example.com/pfx\n"
          "  ferry verify sync rules.json\n"
          "\n",
          out);
    cli_options_usage(out);
}

/* What mirror, copy, sync and verify were asked: enough to build the
 * migration again for each pass of --watch. */
typedef struct job {
    cli_t *cli;
    const char *shape;   /* mirror, copy or sync (verify reads as one of them) */
    char *const *args;   /* the positional arguments */
    const rules_t *rules; /* sync's rules */
} job_t;

/* Adds the job's mappings to m. 0, or 2 with a message. */
static int job_mappings(const job_t *j, mig_t *m)
{
    if (strcmp(j->shape, "sync") != 0)
        return add_mapping(j->cli, m, strcmp(j->shape, "mirror") == 0 ? MAP_LOCATION : MAP_REFERENCE,
                           j->args[0], j->args[1], NULL, 0, NULL, NULL);
    int rc = 0;
    for (size_t i = 0; i < j->rules->n && rc == 0; i++) {
        mig_select_t sel;
        const rule_t *r = &j->rules->items[i];
        char where[512];
        if (r->line)
            snprintf(where, sizeof where, "%s:%zu (%.100s: %.100s)", j->args[0], r->line,
                     r->source, r->target);
        else
            snprintf(where, sizeof where, "%s: rules[%zu] (%.100s -> %.100s)", j->args[0], i,
                     r->source, r->target);
        rc = add_mapping(j->cli, m, MAP_RULE, r->source, r->target, r->tags, r->n_tags,
                         rule_select(r, &sel), where);
    }
    return rc;
}

/* Builds the job's migration; for a pass of --watch, with the pass's own
 * options. watch_build_fn. */
static int job_build(void *ud, const watch_pass_t *pass, mig_t **out)
{
    const job_t *j = ud;
    mig_opts_t opts = j->cli->opts;
    if (pass) {
        opts.only = pass->only;
        opts.on_publish = pass->on_publish;
        opts.publish_ud = pass->publish_ud;
        opts.pass_summary = true;
    }
    ferry_err_t err;
    mig_t *m = mig_new(&opts, &err);
    if (!m)
        return usage_error("%s", err.message);
    int rc = job_mappings(j, m);
    if (rc)
        mig_destroy(&m);
    *out = m;
    return rc;
}

static int cmd_migrate(const char *cmd, int argc, char **argv)
{
    watch_opts_t wo = {.stop = &cli_stop_requested};
    bool watching = false;
    int rc = watch_take_args(&argc, argv, &wo, &watching);
    if (rc)
        return rc;
    cli_t cli = {0};
    void (*usage)(FILE *) = strcmp(cmd, "mirror") == 0 ? mirror_usage
                            : strcmp(cmd, "copy") == 0 ? copy_usage
                            : strcmp(cmd, "sync") == 0 ? sync_usage
                                                       : verify_usage;
    static const struct option none[] = {{NULL, 0, NULL, 0}};
    cli_extra_t help = {none, NULL, usage, NULL, false};
    char hint[64];
    snprintf(hint, sizeof hint, "ferry %s --help", cmd);
    cli_help_hint = hint;
    rc = cli_parse(&cli, argc, argv, &help);
    if (rc) {
        cli_free(&cli);
        return rc;
    }
    /* `verify mirror|copy|sync ...` compares what that command copies;
     * plain `verify SRC DST` reads its arguments as copy does. */
    bool verify = strcmp(cmd, "verify") == 0;
    const char *shape = cmd;
    if (verify && optind < argc &&
        (strcmp(argv[optind], "mirror") == 0 || strcmp(argv[optind], "copy") == 0 ||
         strcmp(argv[optind], "sync") == 0))
        shape = argv[optind++];
    int npos = argc - optind;
    bool is_sync = strcmp(shape, "sync") == 0;
    if ((is_sync && npos != 1) || (!is_sync && npos != 2)) {
        cli_free(&cli);
        return usage_error("%s needs %s", cmd, is_sync ? "one RULES_FILE" : "SRC and DST");
    }
    if (verify && watching) {
        cli_free(&cli);
        return usage_error("verify compares once: --watch is for mirror, copy and sync");
    }
    cli_run_key(&cli, cmd, argv + optind, argc - optind);
    ferry_err_t err;
    mig_t *m = NULL;
    rules_t *rules = NULL; /* sync: the rules' selections are borrowed until the end */
    if (is_sync) {
        const char *path = argv[optind];
        int lr = ends_with(path, ".json") ? rules_load_json(path, &rules, &err)
                                          : rules_load_yaml(path, &rules, &err);
        if (lr < 0) {
            rc = usage_error("%s", err.message);
            goto out;
        }
        if (rules->n == 0) {
            rc = usage_error("%s holds no rules", path);
            goto out;
        }
    }
    job_t job = {&cli, shape, argv + optind, rules};
    if (watching)
        rc = watch_run(&wo, job_build, &job);
    else if ((rc = job_build(&job, NULL, &m)) == 0)
        rc = verify ? mig_verify(m) : mig_run(m);
out:
    mig_destroy(&m);
    rules_destroy(&rules);
    cli_free(&cli);
    return rc;
}

static int cmd_keygen(int argc, char **argv)
{
    bool force = argc == 3 && strcmp(argv[1], "--force") == 0;
    const char *file = argc == 2 ? argv[1] : force ? argv[2] : NULL;
    if (file && (strcmp(file, "--help") == 0 || strcmp(file, "-h") == 0)) {
        printf("Usage: ferry keygen [--force] FILE\n"
               "\n"
               "Makes a CURVE key pair for the control channel: FILE (the secret key, mode\n"
               "0600) and FILE.pub (the public key, for the agents' --server-key). An existing\n"
               "pair is kept unless --force is given. Prints the public key.\n");
        return 0;
    }
    if (!file || file[0] == '-')
        return usage_error("usage: ferry keygen [--force] FILE");
    char pub[41];
    ferry_err_t err;
    if (proto_keygen_files(file, force, pub, &err) < 0)
        return usage_error("keygen: %s", err.message);
    printf("%s\n", pub);
    return 0;
}

/* Runs one subcommand: argv[0] is its name. */
static int run_command(int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        cli_usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("ferry %s\n", FERRY_VERSION);
        return 0;
    }
    if (strcmp(cmd, "mirror") == 0 || strcmp(cmd, "copy") == 0 || strcmp(cmd, "sync") == 0 ||
        strcmp(cmd, "verify") == 0)
        return cmd_migrate(cmd, argc, argv);
    if (strcmp(cmd, "ccr2tcr") == 0)
        return ccr2tcr_main(argc, argv);
    if (strcmp(cmd, "image-transfer") == 0)
        return compat_main(argc, argv, run_command);
    if (strcmp(cmd, "rewrite") == 0)
        return rewrite_main(argc, argv);
    if (strcmp(cmd, "status") == 0)
        return metrics_status_main(argc, argv);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc, argv);
    return usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    log_init("ferry");
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* a core file would hold registry credentials */
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        cli_usage(stderr);
        return 2;
    }
    const char *self = strrchr(argv[0], '/');
    if (strcmp(self ? self + 1 : argv[0], "image-transfer") == 0)
        return compat_main(argc, argv, run_command);
    return run_command(argc - 1, argv + 1);
}
