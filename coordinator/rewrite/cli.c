/* cli — the command line: `ferry rewrite [options] PATH...` and
 * `ferry rewrite secret ...`, their options, usage errors, the summary and
 * the exit status. */
#include "coordinator/rewrite/rw.h"

#include "common/ref.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* Longest Kubernetes object name (a DNS subdomain) and namespace (a label). */
#define RW_K8S_NAME_MAX  253
#define RW_K8S_LABEL_MAX 63

static void rw_usage(FILE *out)
{
    fprintf(out,
            "Usage: ferry rewrite --report REPORT.json [options] PATH...\n"
            "       ferry rewrite --map OLD=NEW [--map OLD=NEW...] [options] PATH...\n"
            "       ferry rewrite secret --registry HOST --creds USER:PASSWORD --name NAME\n"
            "                            [--namespace NAMESPACE]\n"
            "\n"
            "Points Kubernetes manifests and Helm values files at the registry their images\n"
            "were migrated to. Image references are the image fields of the containers,\n"
            "initContainers and ephemeralContainers of Pods, Deployments, StatefulSets,\n"
            "DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs and\n"
            "PodTemplates (also inside a List); and, in a document without apiVersion and\n"
            "kind (Helm values), every \"image:\" string and every mapping with \"repository\"\n"
            "and \"tag\" (and \"registry\", when not empty). Only the text of a rewritten\n"
            "reference changes, in its own quoting style; comments, order, quoting and\n"
            "indentation stay byte for byte. A reference by tag keeps its tag, one pinned\n"
            "by digest keeps its digest.\n"
            "\n"
            "A PATH is a file, or a directory searched recursively for *.yaml and *.yml\n"
            "(hidden entries, symbolic links to directories inside it and the templates/\n"
            "directory beside a Chart.yaml are skipped). A symbolic link found there that\n"
            "leads out of the directory is neither read nor written but reported, unless\n"
            "--follow-symlinks. Without --write nothing is written: the changes go to\n"
            "standard output as a unified diff (apply it with patch -p1).\n"
            "Notes on references left as they are, errors and a summary go to standard\n"
            "error.\n"
            "\n"
            "Options:\n"
            "  -r, --report FILE        the JSON report of a ferry migration: rewrite the\n"
            "                           images it shows migrated, or skipped because already\n"
            "                           there, to its target; leave the others, saying why\n"
            "  -m, --map OLD=NEW        instead of a report: rewrite every reference under\n"
            "                           the prefix OLD (HOST[/PATH]) to NEW; repeatable, the\n"
            "                           longest OLD wins; no NEW may overlap an OLD\n"
            "  -w, --write              apply the changes: each file is replaced atomically\n"
            "                           and keeps its mode; a symbolic link keeps pointing\n"
            "                           at the rewritten file\n"
            "      --pin-digests        with --report: write TAG@DIGEST with the digest\n"
            "                           the report gives\n"
            "      --pull-secret NAME   set imagePullSecrets to just NAME in every pod spec\n"
            "                           where a reference was rewritten\n"
            "      --follow-symlinks    in a directory, follow symbolic links (to files and\n"
            "                           directories) that lead out of it too, and rewrite\n"
            "                           the files they point at\n"
            "  -h, --help               show this help and exit\n"
            "\n"
            "secret prints a kubernetes.io/dockerconfigjson Secret with the credentials\n"
            "for HOST; --creds - reads USER:PASSWORD from the first line of standard input.\n"
            "\n"
            "Exit status: 0 when every file was read (and written); 1 when the report or a\n"
            "file could not be read, parsed or written (that file is left untouched), or a\n"
            "symbolic link out of a searched directory was not followed; 2 for a usage\n"
            "error.\n");
}

/* True for a Kubernetes name: lower-case letters, digits, '-' and (for a DNS
 * subdomain) '.', opening and ending with a letter or digit, at most max
 * characters. */
static bool rw_k8s_name(const char *name, size_t max, bool dots)
{
    size_t n = strlen(name);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i + 1 < n) &&
            !(dots && c == '.' && i > 0 && i + 1 < n))
            return false;
    }
    return true;
}

enum {
    RW_OPT_PIN = 256,
    RW_OPT_PULL_SECRET,
    RW_OPT_FOLLOW_SYMLINKS,
    RW_OPT_VALUE, /* an option of `ferry rewrite secret`: its index says which */
};

/* Reports a getopt failure. */
static void rw_bad_option(FILE *errout, int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        fprintf(errout, "ferry rewrite: %s needs a value (see --help)\n", arg);
    else
        fprintf(errout, "ferry rewrite: unknown option %s (see --help)\n", arg);
}

/* ---------------------------------------------------------------------------
 * ferry rewrite secret */

/* The values `ferry rewrite secret` takes, indexed as rw_secret_options. */
enum { RW_SECRET_REGISTRY, RW_SECRET_CREDS, RW_SECRET_NAME, RW_SECRET_NAMESPACE, RW_SECRET_N };

static const struct option rw_secret_options[] = {
    [RW_SECRET_REGISTRY] = {"registry", required_argument, NULL, RW_OPT_VALUE},
    [RW_SECRET_CREDS] = {"creds", required_argument, NULL, RW_OPT_VALUE},
    [RW_SECRET_NAME] = {"name", required_argument, NULL, RW_OPT_VALUE},
    [RW_SECRET_NAMESPACE] = {"namespace", required_argument, NULL, RW_OPT_VALUE},
    [RW_SECRET_N] = {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Parses the options of `ferry rewrite secret` into values[RW_SECRET_N] and
 * checks them. Returns -1 to go on, or the exit status: 0 after --help, 2
 * for a usage error (printed). No message holds --creds. */
static int rw_secret_options_parse(int argc, char **argv, FILE *out, FILE *errout,
                                   const char **values)
{
    ferry_err_t err = {0};
    int c, index = 0;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", rw_secret_options, &index)) != -1) {
        if (c == RW_OPT_VALUE) {
            values[index] = optarg;
        } else if (c == 'h') {
            rw_usage(out);
            return 0;
        } else {
            rw_bad_option(errout, c, argv);
            return 2;
        }
    }
    const char *registry = values[RW_SECRET_REGISTRY], *name = values[RW_SECRET_NAME],
               *namespace = values[RW_SECRET_NAMESPACE];
    if (optind < argc)
        fprintf(errout, "ferry rewrite secret: unexpected argument %s (see --help)\n",
                argv[optind]);
    else if (!registry || !values[RW_SECRET_CREDS] || !name)
        fprintf(errout, "ferry rewrite secret: --registry, --creds and --name are required "
                        "(see --help)\n");
    else if (ref_validate_host(registry, &err) != 0)
        fprintf(errout, "ferry rewrite secret: --registry: %s\n", err.message);
    else if (!rw_k8s_name(name, RW_K8S_NAME_MAX, true))
        fprintf(errout,
                "ferry rewrite secret: --name %s: not a Kubernetes name (lower-case "
                "letters, digits, '-' and '.')\n",
                name);
    else if (namespace && !rw_k8s_name(namespace, RW_K8S_LABEL_MAX, false))
        fprintf(errout,
                "ferry rewrite secret: --namespace %s: not a Kubernetes namespace "
                "(lower-case letters, digits and '-', at most %d)\n",
                namespace, RW_K8S_LABEL_MAX);
    else
        return -1;
    return 2;
}

static int rw_secret_main(int argc, char **argv, FILE *out, FILE *errout)
{
    const char *values[RW_SECRET_N] = {NULL};
    const size_t line_size = CREDS_TEXT_MAX + 2;
    char *line = NULL;
    creds_t creds = {0};
    ferry_err_t err = {0};
    int status = rw_secret_options_parse(argc, argv, out, errout, values);
    if (status >= 0)
        return status;
    const char *creds_text = values[RW_SECRET_CREDS];
    status = 2;
    if (strcmp(creds_text, "-") == 0) {
        line = calloc(1, line_size);
        if (!line || !fgets(line, (int)line_size, stdin)) {
            fprintf(errout, "ferry rewrite secret: cannot read USER:PASSWORD from standard "
                            "input\n");
            status = 1;
            goto out;
        }
        line[strcspn(line, "\r\n")] = '\0';
        creds_text = line;
    }
    if (creds_parse_userpass(creds_text, &creds, &err) != 0) {
        fprintf(errout, "ferry rewrite secret: --creds: %s\n", err.message);
        goto out;
    }
    status = 1;
    if (rw_secret_write(out, values[RW_SECRET_REGISTRY], &creds, values[RW_SECRET_NAME],
                        values[RW_SECRET_NAMESPACE], &err) != 0) {
        fprintf(errout, "ferry rewrite secret: %s\n", err.message);
        goto out;
    }
    status = 0;
out:
    if (line) {
        explicit_bzero(line, line_size);
        free(line);
    }
    creds_clear(&creds);
    return status;
}

/* ---------------------------------------------------------------------------
 * ferry rewrite */

/* What is wrong with the options of a run, or NULL. */
static const char *rw_options_problem(const rw_run_t *run, const char *report_path, int paths)
{
    if (paths == 0)
        return "no PATH given";
    if (!report_path && run->n_maps == 0)
        return "give --report REPORT.json or --map OLD=NEW";
    if (report_path && run->n_maps > 0)
        return "--report and --map exclude each other";
    if (run->pin_digests && !report_path)
        return "--pin-digests takes the digests from --report";
    return NULL;
}

/* The last line on errout: what was found and done. */
static void rw_summary(const rw_run_t *run)
{
    fprintf(run->errout,
            "ferry rewrite: %zu references: %zu %s, %zu up to date, %zu left; %zu of %zu files %s",
            run->found, run->rewritten, run->write ? "rewritten" : "to rewrite", run->up_to_date,
            run->left, run->files_changed, run->files, run->write ? "changed" : "to change");
    if (run->files_failed)
        fprintf(run->errout, ", %zu failed", run->files_failed);
    if (run->links_refused)
        fprintf(run->errout, ", %zu symbolic %s out of a searched directory not followed",
                run->links_refused, run->links_refused == 1 ? "link" : "links");
    fprintf(run->errout, "%s\n", run->write ? "" : " (dry run: --write applies the changes)");
}

int rewrite_run(int argc, char **argv, FILE *out, FILE *errout)
{
    static const struct option options[] = {
        {"report", required_argument, NULL, 'r'},
        {"map", required_argument, NULL, 'm'},
        {"write", no_argument, NULL, 'w'},
        {"pin-digests", no_argument, NULL, RW_OPT_PIN},
        {"pull-secret", required_argument, NULL, RW_OPT_PULL_SECRET},
        {"follow-symlinks", no_argument, NULL, RW_OPT_FOLLOW_SYMLINKS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    rw_run_t run = {.out = out, .errout = errout};
    const char *report_path = NULL;
    ferry_err_t err = {0};
    int c, status = 2;

    if (argc >= 2 && strcmp(argv[1], "secret") == 0)
        return rw_secret_main(argc - 1, argv + 1, out, errout);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:m:wh", options, NULL)) != -1) {
        switch (c) {
        case 'r':
            report_path = optarg;
            break;
        case 'm':
            if (rw_map_add(&run, optarg, &err) != 0) {
                fprintf(errout, "ferry rewrite: %s\n", err.message);
                goto out;
            }
            break;
        case 'w':
            run.write = true;
            break;
        case RW_OPT_PIN:
            run.pin_digests = true;
            break;
        case RW_OPT_PULL_SECRET:
            run.pull_secret = optarg;
            break;
        case RW_OPT_FOLLOW_SYMLINKS:
            run.follow_symlinks = true;
            break;
        case 'h':
            rw_usage(out);
            status = 0;
            goto out;
        default:
            rw_bad_option(errout, c, argv);
            goto out;
        }
    }
    const char *problem = rw_options_problem(&run, report_path, argc - optind);
    if (problem) {
        fprintf(errout, "ferry rewrite: %s (see --help)\n", problem);
        goto out;
    }
    if (run.pull_secret && !rw_k8s_name(run.pull_secret, RW_K8S_NAME_MAX, true)) {
        fprintf(errout,
                "ferry rewrite: --pull-secret %s: not a Kubernetes name (lower-case "
                "letters, digits, '-' and '.')\n",
                run.pull_secret);
        goto out;
    }
    status = 1;
    if (report_path && rw_report_load(&run, report_path, &err) != 0) {
        rw_sanitize(err.message);
        fprintf(errout, "ferry rewrite: %s\n", err.message);
        goto out;
    }
    for (int i = optind; i < argc; i++)
        rw_path_run(&run, argv[i]);
    rw_summary(&run);
    status = run.files_failed || run.links_refused ? 1 : 0;
out:
    for (size_t i = 0; i < run.n_maps; i++) {
        free(run.maps[i].old_prefix);
        free(run.maps[i].new_prefix);
    }
    strmap_destroy(&run.by_tag, NULL);
    strmap_destroy(&run.by_digest, NULL);
    strmap_destroy(&run.target_names, NULL);
    report_destroy(&run.report);
    return status;
}

int rewrite_main(int argc, char **argv)
{
    return rewrite_run(argc, argv, stdout, stderr);
}
