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
#include "coordinator/ccr2tcr.h"
#include "coordinator/cli.h"
#include "coordinator/metrics.h"
#include "coordinator/mig.h"
#include "coordinator/rewrite/rewrite.h"
#include "coordinator/rules.h"
#include "proto/proto.h"

static void on_signal(int sig)
{
    (void)sig;
    cli_stop_requested = 1;
}

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
        "  ccr2tcr [flags]       TCR Personal Edition to an Enterprise Edition instance\n"
        "  rewrite ...           point Kubernetes manifests at the new registry (see ferry rewrite "
        "--help)\n"
        "  status STATUS_FILE    progress of a migration run with --status-file\n"
        "  keygen FILE           make a CURVE key pair (FILE and FILE.pub)\n"
        "\n"
        "Options:\n"
        "      --src-creds USER:PASS   source registry credentials\n"
        "      --dst-creds USER:PASS   target registry credentials\n"
        "      --auth-file FILE        Docker config.json for hosts without --*-creds\n"
        "                              (default $DOCKER_CONFIG/config.json or "
        "~/.docker/config.json)\n"
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
        "      --heartbeat-ms N        agent liveness interval: an agent silent for 3 of\n"
        "                              them is lost and its tasks requeued (default 1000)\n"
        "      --journal FILE          record finished work; a re-run resumes from it and\n"
        "                              asks the target nothing about tags it recorded\n"
        "      --report FILE           write a JSON report of every image\n"
        "      --metrics-file FILE     keep FILE up to date in the Prometheus text format\n"
        "                              (for node exporter's textfile collector)\n"
        "      --status-file FILE      keep a JSON status in FILE, for `ferry status FILE`\n"
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

/* Adds a mapping from parsed rule-like source and target texts. */
static int add_mapping(cli_t *cli, mig_t *m, int mode, const char *src_text, const char *dst_text,
                       char *const *tags, size_t n_tags, const mig_select_t *sel)
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
            usage_error("source '%s': %s", src_text, err.message);
            goto out;
        }
        if (ref_parse_location(&dst, dst_text, &err) < 0) {
            usage_error("target '%s': %s", dst_text, err.message);
            goto out;
        }
        int s = cli_endpoint(cli, m, src->registry, src->repository, true);
        int d = cli_endpoint(cli, m, dst->registry, dst->repository, false);
        if (s < 0 || d < 0)
            goto out;
        rc = mig_add_catalog(m, s, src->repository, d, dst->repository, sel, &err);
        if (rc < 0) {
            usage_error("%s", err.message);
            rc = 2;
        }
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
    int s = cli_endpoint(cli, m, src->registry, src->repository, true);
    int d = cli_endpoint(cli, m, dst->registry, dst->repository, false);
    if (s < 0 || d < 0)
        goto out;
    if (n_tags)
        rc = mig_add_repo_tags(m, s, src->repository, d, dst->repository, tags, n_tags, sel, &err);
    else
        rc = mig_add_repo(m, s, src->repository, d, dst->repository,
                          src->digest ? src->digest : src->tag, sel, &err);
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

static int cmd_migrate(const char *cmd, int argc, char **argv)
{
    cli_t cli = {0};
    int rc = cli_parse(&cli, argc, argv, NULL);
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
    m = mig_new(&cli.opts, &err);
    if (!m) {
        rc = usage_error("%s", err.message);
        goto out;
    }
    if (is_sync) {
        for (size_t i = 0; i < rules->n && rc == 0; i++) {
            mig_select_t sel;
            const rule_t *r = &rules->items[i];
            rc = add_mapping(&cli, m, MAP_RULE, r->source, r->target, r->tags, r->n_tags,
                             rule_select(r, &sel));
        }
    } else {
        rc = add_mapping(&cli, m, strcmp(cmd, "mirror") == 0 ? MAP_LOCATION : MAP_REFERENCE,
                         argv[optind], argv[optind + 1], NULL, 0, NULL);
    }
    if (rc)
        goto out;
    rc = strcmp(cmd, "verify") == 0 ? mig_verify(m) : mig_run(m);
out:
    mig_destroy(&m);
    rules_destroy(&rules);
    cli_free(&cli);
    return rc;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 2)
        return usage_error("usage: ferry keygen FILE");
    char pub[41];
    ferry_err_t err;
    if (proto_keygen_files(argv[1], pub, &err) < 0) {
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
        cli_usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
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
        return cmd_migrate(cmd, argc - 1, argv + 1);
    if (strcmp(cmd, "ccr2tcr") == 0)
        return ccr2tcr_main(argc - 1, argv + 1);
    if (strcmp(cmd, "rewrite") == 0)
        return rewrite_main(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return metrics_status_main(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    return usage_error("unknown command '%s'", cmd);
}
