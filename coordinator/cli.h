/* cli — the options every migrating command shares (credentials, insecure
 * hosts, filters, agents, journal, report, progress, ...), parsed once, and
 * the registries they describe. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/creds.h"
#include "common/digest.h"
#include "coordinator/mig.h"
#include "coordinator/rules.h"

/* Options of one command beyond the common ones; their `val` must be at least
 * CLI_EXTRA_BASE. */
#define CLI_EXTRA_BASE 1000

typedef struct cli_extra {
    const struct option *options; /* terminated by a zero entry */
    /* Handles one of them; 0, or an exit code (2) after printing why. */
    int (*handle)(void *ud, int opt, const char *arg);
    void (*usage)(FILE *out); /* the command's --help */
    void *ud;
    bool long_only; /* accept -name as well as --name (image-transfer style) */
} cli_extra_t;

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

/* Set by the signal handler on SIGINT/SIGTERM; every migration watches it. */
extern volatile sig_atomic_t cli_stop_requested;

/* ferry --help (main.c). */
void cli_usage(FILE *out);
/* Prints "ferry: <message> (see ferry --help)" and returns 2. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The help a usage error points at ("ferry --help", "ferry sync --help"). */
extern const char *cli_help_hint;

/* Longest secret read from a file or standard input. */
#define CLI_SECRET_MAX 4096

/* A secret flag's value: the text itself, @FILE (its first line), or - (a
 * line of standard input), so that it need not sit in argv where any local
 * process can read it. *out is new (the caller wipes and frees it). 0, or
 * 2 after a usage message naming the flag. */
int cli_secret(const char *flag, const char *arg, char **out);
/* Parses a whole number within [min, max]; 0, or 2 after a usage error. */
int parse_long(const char *text, const char *flag, long min, long max, long *out);
/* Parses the common options (and extra ones); positional arguments stay at
 * argv[optind..]. 0, or 2 after printing the reason. --help and --version
 * print and exit. */
int cli_parse(cli_t *cli, int argc, char **argv, const cli_extra_t *extra);
/* Registers host with mig, with the credentials that apply to it (given
 * creds, security file, Docker config) and --insecure. The index, or a
 * negative value after printing the reason. */
int cli_endpoint(cli_t *cli, mig_t *m, const char *host, const char *repo, bool source);
/* A key naming this migration for its journal: the command and its
 * positional arguments (after cli_parse: argv + optind), never options. */
void cli_run_key(cli_t *cli, const char *command, char *const *args, int n_args);
void cli_free(cli_t *cli);

#endif
