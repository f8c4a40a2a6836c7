/* compat — image-transfer's flags, Go's flag syntax (-flag, --flag,
 * -flag=value, -flag value; booleans take only -flag or -flag=BOOL), each
 * mapped to ferry's options, noted, or refused. */
#include "coordinator/compat.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "coordinator/cli.h"

#define COMPAT_ARGS_MAX 64 /* ferry's translated command line at most */

enum compat_kind {
    CK_MAP,     /* the value goes to ferry's option `ferry` */
    CK_SPECIAL, /* read into the compat state (handled below) */
    CK_NOTE,    /* accepted; ferry says it has no effect */
    CK_REFUSE,  /* refused with `why` */
};

typedef struct compat_flag {
    const char *name;  /* image-transfer's flag, without dashes */
    bool boolean;      /* takes no separate value */
    int kind;          /* enum compat_kind */
    const char *ferry; /* CK_MAP: ferry's option; CK_NOTE, CK_REFUSE: why */
} compat_flag_t;

static const compat_flag_t compat_flags[] = {
    {"ccrToTcr", true, CK_SPECIAL, NULL},
    {"ruleFile", false, CK_SPECIAL, NULL},
    {"secretFile", false, CK_SPECIAL, NULL},  /* ccr mode: --secret-file */
    {"tag-exist-overridden", true, CK_SPECIAL, NULL},
    {"log-format", false, CK_SPECIAL, NULL},
    {"log-output-paths", false, CK_SPECIAL, NULL},
    {"securityFile", false, CK_MAP, "--security-file"},
    {"tcrName", false, CK_MAP, "--tcrName"},
    {"ccrRegion", false, CK_MAP, "--ccrRegionName"},
    {"tcrRegion", false, CK_MAP, "--tcrRegionName"},
    {"ccrTagNums", false, CK_MAP, "--tagNum"},
    {"routines", false, CK_MAP, "--jobs"},
    {"retry", false, CK_MAP, "--retries"},
    {"qps", false, CK_MAP, "--qps"},
    {"log-level", false, CK_MAP, "--log-level"},
    {"log-enable-color", true, CK_NOTE, "ferry's log has no colours"},
    {"log-ignore-caller", true, CK_NOTE, "ferry's log names no caller"},
    {"log-sampling-frequency", false, CK_NOTE, "ferry's log is not sampled"},
    {"registry", false, CK_REFUSE,
     "ferry moves every repository the rules name (ccr2tcr: every namespace); write the "
     "registry into the rule file's references"},
    {"ns", false, CK_REFUSE,
     "ferry moves every repository the rules name (ccr2tcr: every namespace); write the "
     "namespace into the rule file's references, or use `ferry sync`"},
};

/* What the special flags said. */
typedef struct compat_state {
    bool ccr_to_tcr;        /* --ccrToTcr */
    const char *rule_file;  /* --ruleFile */
    const char *secret_file; /* --secretFile */
    bool no_overwrite;      /* --tag-exist-overridden=false */
    bool log_json;          /* --log-format=json */
    char *args[COMPAT_ARGS_MAX]; /* ferry's command line, from args[1] */
    int n_args;
} compat_state_t;

static int compat_push(compat_state_t *s, const char *a, const char *b)
{
    if (s->n_args + 2 >= COMPAT_ARGS_MAX)
        return usage_error("image-transfer: too many flags");
    s->args[s->n_args++] = (char *)a;
    if (b)
        s->args[s->n_args++] = (char *)b;
    return 0;
}

/* Go's boolean values. 0, or usage error 2. */
static int compat_bool(const char *flag, const char *value, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *const no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(value, yes[i]) == 0)
            return *out = true, 0;
        if (strcmp(value, no[i]) == 0)
            return *out = false, 0;
    }
    return usage_error("image-transfer: invalid boolean value '%.40s' for --%s", value, flag);
}

static int compat_special(compat_state_t *s, const compat_flag_t *f, const char *value)
{
    bool on = true;
    if (strcmp(f->name, "ccrToTcr") == 0)
        return compat_bool(f->name, value, &s->ccr_to_tcr);
    if (strcmp(f->name, "tag-exist-overridden") == 0) {
        int rc = compat_bool(f->name, value, &on);
        s->no_overwrite = !on;
        return rc;
    }
    if (strcmp(f->name, "ruleFile") == 0)
        return s->rule_file = value, 0;
    if (strcmp(f->name, "secretFile") == 0)
        return s->secret_file = value, 0;
    if (strcmp(f->name, "log-format") == 0) {
        if (strcmp(value, "json") != 0 && strcmp(value, "console") != 0)
            return usage_error("image-transfer: --log-format is json or console, not '%.40s'",
                               value);
        return s->log_json = strcmp(value, "json") == 0, 0;
    }
    /* log-output-paths: ferry logs to stderr */
    if (strcmp(value, "stderr") != 0 && strcmp(value, "stdout") != 0)
        return usage_error("image-transfer: --log-output-paths %.100s: ferry logs to stderr only "
                           "(redirect it: 2>FILE)",
                           value);
    return 0;
}

static const compat_flag_t *compat_find(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof compat_flags / sizeof *compat_flags; i++)
        if (strlen(compat_flags[i].name) == len && strncmp(compat_flags[i].name, name, len) == 0)
            return &compat_flags[i];
    return NULL;
}

/* One flag at argv[*i] (and its value, which may be argv[*i + 1]). */
static int compat_flag(compat_state_t *s, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const compat_flag_t *f = compat_find(name, len);
    if (!f)
        return usage_error("image-transfer: unknown flag '%.*s' (see ferry image-transfer --help)",
                           (int)(len < 60 ? len : 60), name);
    const char *value = eq ? eq + 1 : NULL;
    if (!value && f->boolean)
        value = "true";
    if (!value) {
        if (*i + 1 >= argc)
            return usage_error("image-transfer: --%s needs a value", f->name);
        value = argv[++*i];
    }
    switch (f->kind) {
    case CK_MAP:
        return compat_push(s, f->ferry, value);
    case CK_NOTE:
        log_info("image-transfer flag --%s has no effect: %s", f->name, f->ferry);
        return 0;
    case CK_REFUSE:
        return usage_error("image-transfer: --%s is not supported: %s", f->name, f->ferry);
    default:
        return compat_special(s, f, value);
    }
}

static void compat_usage(void)
{
    printf("Usage: ferry image-transfer --ruleFile=RULES.yaml --securityFile=SECURITY.yaml [flags]\n"
           "       ferry image-transfer --ccrToTcr=true --securityFile=SECURITY.yaml "
           "--secretFile=SECRET.yaml --tcrName=NAME [flags]\n"
           "\n"
           "image-transfer's own command line, run by ferry: the generic mode is `ferry sync`,\n"
           "the ccr mode `ferry ccr2tcr`. --ccrRegion/--tcrRegion, --ccrTagNums, --routines,\n"
           "--retry, --qps (which ferry honours), --tag-exist-overridden=false (--no-overwrite),\n"
           "--log-level and --log-format=json map to ferry's options; --registry and --ns are\n"
           "refused; the other --log-* flags have no effect and say so. After --, ferry's own\n"
           "options (ferry --help) follow as they are.\n"
           "Unlike image-transfer, ferry exits 1 when any job failed, and --ccrTagNums 0\n"
           "means every tag.\n");
}

int compat_main(int argc, char **argv, int (*run)(int argc, char **argv))
{
    compat_state_t s = {0};
    int rc = 0;
    s.n_args = 2; /* args[0] the subcommand, args[1] the rule file (sync) */
    int i = 1;
    for (; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++; /* ferry's own options follow, as they are */
            break;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
            strcmp(argv[i], "-help") == 0) {
            compat_usage();
            return 0;
        }
        if (argv[i][0] != '-' || !argv[i][1])
            rc = usage_error("image-transfer takes flags only ('%.60s')", argv[i]);
        else
            rc = compat_flag(&s, argc, argv, &i);
    }
    if (!rc && s.ccr_to_tcr && s.rule_file)
        rc = usage_error("image-transfer: --ruleFile is for the generic mode, not --ccrToTcr");
    if (!rc && !s.ccr_to_tcr && (!s.rule_file || s.secret_file))
        rc = usage_error(s.secret_file ? "image-transfer: --secretFile needs --ccrToTcr=true"
                                       : "image-transfer: give --ruleFile (or --ccrToTcr=true)");
    if (!rc && s.ccr_to_tcr && s.secret_file)
        rc = compat_push(&s, "--secret-file", s.secret_file);
    for (; i < argc && rc == 0; i++)
        rc = compat_push(&s, argv[i], NULL);
    if (!rc && s.no_overwrite)
        rc = compat_push(&s, "--no-overwrite", NULL);
    if (!rc && s.log_json)
        rc = compat_push(&s, "--log-json", NULL);
    if (!rc) {
        s.args[0] = s.ccr_to_tcr ? "ccr2tcr" : "sync";
        char **args = s.args;
        int n = s.n_args;
        if (s.ccr_to_tcr) { /* no rule file slot */
            args[1] = args[0];
            args++;
            n--;
        } else {
            args[1] = (char *)s.rule_file;
        }
        args[n] = NULL;
        rc = run(n, args);
    }
    return rc;
}
