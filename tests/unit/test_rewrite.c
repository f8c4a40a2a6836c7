/* test_rewrite — `ferry rewrite` end to end on the fixtures of
 * tests/e2e/rewrite (a Deployment with initContainers, a CronJob, a Pod with
 * ephemeralContainers, a multi-document file with a ConfigMap and a List, a
 * CRLF file, Helm values with repository/tag and registry/repository/tag, a
 * Helm chart whose templates/ is skipped, a malformed file; a report in
 * report_write_json's format): the dry-run diff and notes, the files --write
 * leaves, a second run changing nothing, --pin-digests, --pull-secret, --map
 * and the secret subcommand, each compared byte for byte with a golden file.
 * Then the diff against GNU diff -u, byte order marks and UTF-8, symbolic
 * links (named, and leading out of a searched tree), usage errors and bad
 * reports.
 *
 * The fixtures are found from this file's path as meson compiles it
 * (relative to the build directory, where meson test runs it), or from
 * $FERRY_REWRITE_E2E. FERRY_REWRITE_UPDATE=1 rewrites the golden files
 * instead of comparing them (review the result with git diff). */
#include "coordinator/report.h"
#include "coordinator/rewrite/rewrite.h"
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char e2e[PATH_MAX]; /* tests/e2e/rewrite, absolute */
static char tmp_root[] = "/tmp/ferry-test-rewrite-XXXXXX";
static bool update_golden; /* FERRY_REWRITE_UPDATE=1 */

/* The changed files of the fixture tree, as --write leaves them in golden/written/. */
static const char *const changed_files[] = {"chart/values.yaml", "crlf.yaml",  "cronjob.yaml",
                                            "deploy.yaml",       "multi.yaml", "pod.yaml"};
/* The files --write must leave byte for byte as they are. */
static const char *const unchanged_files[] = {"broken.yaml", "chart/Chart.yaml",
                                              "chart/templates/deployment.yaml", "notes.txt"};

static char *path_join(const char *a, const char *b)
{
    size_t size = strlen(a) + 1 + strlen(b) + 1;
    char *p = malloc(size);
    if (!p)
        abort();
    snprintf(p, size, "%s/%s", a, b);
    return p;
}

/* The whole file, or NULL when it cannot be read. */
static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(data, cap);
            if (!grown)
                abort();
            data = grown;
        }
        size_t n = fread(data + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    data[len] = '\0';
    if (len_out)
        *len_out = len;
    return data;
}

static void spit(const char *path, const char *data)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK(fwrite(data, 1, strlen(data), f) == strlen(data));
    CHECK(fclose(f) == 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Copies a directory tree (regular files and directories, modes kept). */
static void copy_tree(const char *from, const char *to)
{
    struct stat st;
    CHECK(stat(from, &st) == 0);
    if (S_ISDIR(st.st_mode)) {
        CHECK(mkdir(to, st.st_mode & 07777) == 0 || errno == EEXIST);
        DIR *dir = opendir(from);
        CHECK(dir != NULL);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char *a = path_join(from, e->d_name), *b = path_join(to, e->d_name);
            copy_tree(a, b);
            free(a);
            free(b);
        }
        if (dir)
            closedir(dir);
        return;
    }
    char *data = slurp(from, NULL);
    CHECK(data != NULL);
    if (data)
        spit(to, data);
    chmod(to, st.st_mode & 07777);
    free(data);
}

/* Runs rewrite_run on the NULL-terminated arguments after "rewrite"; the
 * output and error texts go to *out and *err (the caller frees them). */
static int run(char **out, char **err, ...)
{
    char *argv[32] = {"rewrite"};
    int argc = 1;
    va_list ap;
    va_start(ap, err);
    for (char *arg; (arg = va_arg(ap, char *)) && argc < 31;)
        argv[argc++] = arg;
    va_end(ap);
    size_t out_len = 0, err_len = 0;
    FILE *out_file = open_memstream(out, &out_len), *err_file = open_memstream(err, &err_len);
    if (!out_file || !err_file)
        abort();
    int status = rewrite_run(argc, argv, out_file, err_file);
    fclose(out_file);
    fclose(err_file);
    return status;
}

/* Compares text with golden/NAME byte for byte (or writes it there when
 * updating). */
static void check_golden(const char *name, const char *text)
{
    char *golden_dir = path_join(e2e, "golden");
    char *path = path_join(golden_dir, name);
    if (update_golden) {
        /* mkdir -p of the file's directory. */
        for (char *slash = strchr(path + strlen(golden_dir) + 1, '/'); slash;
             slash = strchr(slash + 1, '/')) {
            char *parent = strndup(path, (size_t)(slash - path));
            mkdir(parent, 0755);
            free(parent);
        }
        spit(path, text);
    } else {
        char *expected = slurp(path, NULL);
        test_checks++;
        if (!expected || strcmp(expected, text) != 0) {
            test_failures++;
            fprintf(stderr, "golden/%s differs; got:\n%s\n--- (end)\n", name, text);
        }
        free(expected);
    }
    free(path);
    free(golden_dir);
}

/* A scratch copy of the fixtures (in/ and report.json) in a new directory,
 * which becomes the working directory; returns its path. */
static char *scratch(const char *name)
{
    char *dir = path_join(tmp_root, name);
    CHECK(mkdir(dir, 0755) == 0);
    char *in_from = path_join(e2e, "in"), *in_to = path_join(dir, "in");
    char *report_from = path_join(e2e, "report.json"), *report_to = path_join(dir, "report.json");
    copy_tree(in_from, in_to);
    copy_tree(report_from, report_to);
    CHECK(chdir(dir) == 0);
    free(in_from);
    free(in_to);
    free(report_from);
    free(report_to);
    return dir;
}

static bool has_temp_files(const char *dir)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "find '%s' -name '*.ferry-*' | grep -q .", dir) < 0)
        abort();
    int found = system(cmd) == 0;
    free(cmd);
    return found;
}

static void test_dry_run(void)
{
    char *out = NULL, *err = NULL;
    char *deploy = path_join(e2e, "in/deploy.yaml");
    char *before = slurp(deploy, NULL);
    CHECK(chdir(e2e) == 0);
    /* The fixture for CRLF endings must really have them. */
    char *crlf = slurp("in/crlf.yaml", NULL);
    CHECK(crlf && strstr(crlf, "image: ccr.ccs.tencentyun.com/shop/batch:5\r\n"));
    free(crlf);

    CHECK_INT(run(&out, &err, "--report", "report.json", "in", NULL), 1);
    check_golden("dry-run.out", out);
    check_golden("dry-run.err", err);
    /* Nothing written. */
    char *after = slurp(deploy, NULL);
    CHECK(before && after && strcmp(before, after) == 0);
    CHECK(!has_temp_files(e2e));
    free(out);
    free(err);
    free(before);
    free(after);
    free(deploy);
}

static void test_write(void)
{
    char *out = NULL, *err = NULL;
    char *dir = scratch("write");
    CHECK(chmod("in/deploy.yaml", 0640) == 0);

    CHECK_INT(run(&out, &err, "--report", "report.json", "--write", "in", NULL), 1);
    /* The same diff as the dry run. */
    check_golden("dry-run.out", out);
    check_golden("write.err", err);
    free(out);
    free(err);
    for (size_t i = 0; i < sizeof changed_files / sizeof changed_files[0]; i++) {
        char *path = path_join("in", changed_files[i]);
        char *golden = path_join("written", changed_files[i]);
        char *text = slurp(path, NULL);
        CHECK(text != NULL);
        if (text)
            check_golden(golden, text);
        free(text);
        free(golden);
        free(path);
    }
    for (size_t i = 0; i < sizeof unchanged_files / sizeof unchanged_files[0]; i++) {
        char *path = path_join("in", unchanged_files[i]);
        char *original_path = path_join(e2e, path);
        char *text = slurp(path, NULL), *original = slurp(original_path, NULL);
        CHECK(text && original && strcmp(text, original) == 0);
        free(text);
        free(original);
        free(original_path);
        free(path);
    }
    struct stat st;
    CHECK(stat("in/deploy.yaml", &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK(!has_temp_files(dir));

    /* A second run changes nothing and prints no diff. */
    char *deploy = slurp("in/deploy.yaml", NULL);
    CHECK_INT(run(&out, &err, "--report", "report.json", "--write", "in", NULL), 1);
    CHECK_STR(out, "");
    check_golden("write-again.err", err);
    char *again = slurp("in/deploy.yaml", NULL);
    CHECK(deploy && again && strcmp(deploy, again) == 0);
    free(deploy);
    free(again);
    free(out);
    free(err);
    free(dir);
}

static void test_pin_digests(void)
{
    char *out = NULL, *err = NULL;
    CHECK(chdir(e2e) == 0);
    CHECK_INT(run(&out, &err, "--report", "report.json", "--pin-digests", "in/deploy.yaml",
                  "in/pod.yaml", "in/chart/values.yaml", NULL),
              0);
    check_golden("pin.out", out);
    check_golden("pin.err", err);
    free(out);
    free(err);
}

static void test_pull_secret(void)
{
    char *out = NULL, *err = NULL;
    CHECK(chdir(e2e) == 0);
    CHECK_INT(run(&out, &err, "--report", "report.json", "--pull-secret", "tcr-pull",
                  "in/deploy.yaml", "in/pod.yaml", "in/cronjob.yaml", "in/crlf.yaml",
                  "in/multi.yaml", NULL),
              0);
    check_golden("pull-secret.out", out);
    check_golden("pull-secret.err", err);
    free(out);
    free(err);

    /* Written, then run again: nothing more to do. */
    char *dir = scratch("pull-secret");
    CHECK_INT(run(&out, &err, "--report", "report.json", "--pull-secret", "tcr-pull", "--write",
                  "--pin-digests", "in/deploy.yaml", "in/crlf.yaml", NULL),
              0);
    CHECK(strstr(out, "+      - name: tcr-pull\r\n") != NULL);
    free(out);
    free(err);
    CHECK_INT(run(&out, &err, "--report", "report.json", "--pull-secret", "tcr-pull", "--write",
                  "--pin-digests", "in/deploy.yaml", "in/crlf.yaml", NULL),
              0);
    CHECK_STR(out, "");
    CHECK_CONTAINS(err, "0 rewritten, 4 up to date, 3 left; 0 of 2 files changed");
    free(out);
    free(err);
    free(dir);
}

static void test_map(void)
{
    char *out = NULL, *err = NULL;
    CHECK(chdir(e2e) == 0);
    CHECK_INT(run(&out, &err, "--map", "ccr.ccs.tencentyun.com/shop=demo.tencentcloudcr.com/shop",
                  "-m", "docker.io/library=demo.tencentcloudcr.com/mirror", "in/deploy.yaml",
                  "in/multi.yaml", NULL),
              0);
    check_golden("map.out", out);
    check_golden("map.err", err);
    free(out);
    free(err);
}

static void test_secret(void)
{
    char *out = NULL, *err = NULL;
    CHECK_INT(run(&out, &err, "secret", "--registry", "demo.tencentcloudcr.com", "--creds",
                  "tcr$user:pa\"ss:w\\rd", "--name", "tcr-pull", "--namespace", "shop", NULL),
              0);
    check_golden("secret.yaml", out);
    CHECK_STR(err, "");
    free(out);
    free(err);

    /* The password never reaches a message. */
    CHECK_INT(run(&out, &err, "secret", "--registry", "a.io", "--creds", "user:s3cret", "--name",
                  "Bad_Name", NULL),
              2);
    CHECK_STR(out, "");
    CHECK_CONTAINS(err, "--name Bad_Name: not a Kubernetes name");
    CHECK(strstr(err, "s3cret") == NULL);
    free(out);
    free(err);
    CHECK_INT(
        run(&out, &err, "secret", "--registry", "a.io", "--creds", "nocolon", "--name", "x", NULL),
        2);
    CHECK(strstr(err, "nocolon") == NULL);
    free(out);
    free(err);
    CHECK_INT(run(&out, &err, "secret", "--registry", "a.io", "--name", "x", NULL), 2);
    CHECK_CONTAINS(err, "are required");
    free(out);
    free(err);
}

/* ---- the diff ---- */

static char *diff_text(const char *old_text, const char *new_text)
{
    fbuf_t b;
    fbuf_init(&b, 1 << 20);
    CHECK_INT(rewrite_diff(&b, "./f.yaml", old_text, strlen(old_text), new_text, strlen(new_text)),
              0);
    char *text = b.data ? fbuf_steal(&b) : strdup("");
    return text;
}

static void test_diff_cases(void)
{
    char *d = diff_text("a\nb\n", "a\nb\n");
    CHECK_STR(d, "");
    free(d);
    d = diff_text("a\nb\nc\n", "a\nB\nc\n");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    free(d);
    d = diff_text("a\nb", "a\nc");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of "
                 "file\n+c\n\\ No newline at end of file\n");
    free(d);
    d = diff_text("", "x\n");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -0,0 +1 @@\n+x\n");
    free(d);
    d = diff_text("x\n", "");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -1 +0,0 @@\n-x\n");
    free(d);
    /* Changes 6 lines apart share a hunk; 7 apart do not. */
    d = diff_text("1\n2\n3\n4\n5\n6\n7\n8\n", "X\n2\n3\n4\n5\n6\n7\nY\n");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n"
                 "-8\n+Y\n");
    free(d);
    d = diff_text("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "X\n2\n3\n4\n5\n6\n7\n8\nY\n");
    CHECK_STR(d, "--- a/f.yaml\n+++ b/f.yaml\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n"
                 "@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+Y\n");
    free(d);
}

static unsigned long long rng_state = 88172645463325252ULL;

static unsigned int rng(unsigned int bound)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned int)(rng_state % bound);
}

/* Random texts of distinct lines, edited at random, against GNU diff -u
 * (distinct lines leave one shortest script, so the hunks must agree). */
static void test_diff_against_gnu(void)
{
    if (access("/usr/bin/diff", X_OK) != 0) {
        fprintf(stderr, "skipping the comparison with GNU diff: /usr/bin/diff not found\n");
        return;
    }
    char *a_path = path_join(tmp_root, "a"), *b_path = path_join(tmp_root, "b");
    for (int round = 0; round < 150; round++) {
        fbuf_t a, b;
        fbuf_init(&a, 1 << 20);
        fbuf_init(&b, 1 << 20);
        unsigned int lines = rng(40), fresh = 1000;
        for (unsigned int i = 0; i < lines; i++) {
            fbuf_printf(&a, "line %u\n", i);
            switch (rng(8)) {
            case 0: /* deleted */
                break;
            case 1: /* replaced */
                fbuf_printf(&b, "new %u\n", fresh++);
                break;
            case 2: /* something inserted before */
                fbuf_printf(&b, "new %u\nline %u\n", fresh++, i);
                break;
            default:
                fbuf_printf(&b, "line %u\n", i);
            }
        }
        if (rng(4) == 0)
            fbuf_printf(&b, "tail %u\n", fresh++);
        /* Sometimes no newline at the end of one or both. */
        if (a.len && rng(5) == 0)
            a.data[--a.len] = '\0';
        if (b.len && rng(5) == 0)
            b.data[--b.len] = '\0';
        const char *a_text = a.data ? a.data : "", *b_text = b.data ? b.data : "";
        spit(a_path, a_text);
        spit(b_path, b_text);
        char *cmd = NULL, *gnu = NULL;
        if (asprintf(&cmd, "diff -u '%s' '%s' | tail -n +3", a_path, b_path) < 0)
            abort();
        FILE *p = popen(cmd, "r");
        CHECK(p != NULL);
        size_t gnu_len = 0, gnu_cap = 0;
        FILE *mem = open_memstream(&gnu, &gnu_cap);
        for (int c; p && (c = fgetc(p)) != EOF;)
            fputc(c, mem);
        fclose(mem);
        if (p)
            pclose(p);
        gnu_len = strlen(gnu);
        char *mine = diff_text(a_text, b_text);
        /* Drop our two header lines. */
        const char *body = mine;
        for (int k = 0; k < 2 && *body; k++)
            body = strchr(body, '\n') ? strchr(body, '\n') + 1 : body + strlen(body);
        test_checks++;
        if (strlen(body) != gnu_len || strcmp(body, gnu) != 0) {
            test_failures++;
            fprintf(stderr, "round %d: diff differs from GNU diff\n--- ours:\n%s--- GNU:\n%s",
                    round, body, gnu);
        }
        free(mine);
        free(gnu);
        free(cmd);
        fbuf_free(&a);
        fbuf_free(&b);
    }
    free(a_path);
    free(b_path);
}

/* ---- edge cases ---- */

static void test_encodings_and_links(void)
{
    char *out = NULL, *err = NULL;
    char *dir = path_join(tmp_root, "edges");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(chdir(dir) == 0);
    char *report = path_join(e2e, "report.json");

    /* A byte order mark and multi-byte characters before the reference: the
     * splice lands on the right bytes. */
    spit("bom.yaml", "\xef\xbb\xbf# caf\xc3\xa9 \xe2\x82\xac\napiVersion: v1\nkind: Pod\nspec:\n"
                     "  containers:\n  - name: \xc3\xa9\n    image: ccr.ccs.tencentyun.com/shop/"
                     "web:1.4.2 # \xc3\xa9t\xc3\xa9\n");
    /* Through a symbolic link: the target is rewritten, the link stays. */
    spit("real.yaml", "image: ccr.ccs.tencentyun.com/shop/web:1.4.2\n");
    CHECK(symlink("real.yaml", "link.yaml") == 0);
    CHECK_INT(run(&out, &err, "--report", report, "--write", "bom.yaml", "link.yaml", NULL), 0);
    free(out);
    free(err);
    char *bom = slurp("bom.yaml", NULL), *real = slurp("real.yaml", NULL);
    CHECK_STR(bom, "\xef\xbb\xbf# caf\xc3\xa9 \xe2\x82\xac\napiVersion: v1\nkind: Pod\nspec:\n"
                   "  containers:\n  - name: \xc3\xa9\n    image: demo.tencentcloudcr.com/shop/"
                   "web:1.4.2 # \xc3\xa9t\xc3\xa9\n");
    CHECK_STR(real, "image: demo.tencentcloudcr.com/shop/web:1.4.2\n");
    struct stat st;
    CHECK(lstat("link.yaml", &st) == 0 && S_ISLNK(st.st_mode));
    free(bom);
    free(real);

    /* Nesting deeper than the limit is an error, the file untouched. */
    fbuf_t deep;
    fbuf_init(&deep, 1 << 20);
    for (int i = 0; i < REWRITE_DEPTH_MAX + 1; i++)
        fbuf_puts(&deep, "[");
    for (int i = 0; i < REWRITE_DEPTH_MAX + 1; i++)
        fbuf_puts(&deep, "]");
    fbuf_puts(&deep, "\n");
    spit("deep.yaml", deep.data);
    CHECK_INT(run(&out, &err, "--report", report, "--write", "deep.yaml", NULL), 1);
    CHECK_CONTAINS(err,
                   "deep.yaml:1:257: error: nested deeper than 256 levels; file left untouched");
    char *deep_after = slurp("deep.yaml", NULL);
    CHECK_STR(deep_after, deep.data);
    free(deep_after);
    fbuf_free(&deep);
    free(out);
    free(err);

    /* A block scalar is no form the splicer edits: left, with a note. */
    spit("block.yaml", "image: >-\n  ccr.ccs.tencentyun.com/shop/web:1.4.2\n");
    CHECK_INT(run(&out, &err, "--report", report, "block.yaml", "missing.yaml", NULL), 1);
    CHECK_STR(out, "");
    CHECK_CONTAINS(err, "block.yaml:1:8: left ccr.ccs.tencentyun.com/shop/web:1.4.2: written in a "
                        "form ferry does not edit");
    CHECK_CONTAINS(err, "missing.yaml: error: No such file or directory");
    free(out);
    free(err);
    free(report);
    free(dir);
}

/* An attacker's tree: links leading out of it, to a file and to a
 * directory. Without --follow-symlinks neither is read nor written, each is
 * reported and the run fails; a link inside the tree is still followed. With
 * --follow-symlinks both are rewritten, and the links stay links. */
static void test_symlinks_out_of_tree(void)
{
    static const char *const old_ref = "image: ccr.ccs.tencentyun.com/shop/web:1.4.2\n";
    static const char *const new_ref = "image: demo.tencentcloudcr.com/shop/web:1.4.2\n";
    char *out = NULL, *err = NULL;
    char *dir = path_join(tmp_root, "links");
    char *report = path_join(e2e, "report.json");
    CHECK(mkdir(dir, 0755) == 0);
    CHECK(chdir(dir) == 0);
    CHECK(mkdir("tree", 0755) == 0);
    CHECK(mkdir("victim-dir", 0755) == 0);
    spit("victim.yaml", old_ref);
    spit("victim-dir/app.yaml", old_ref);
    spit("tree/own.yaml", old_ref);
    CHECK(symlink("../victim.yaml", "tree/escape.yaml") == 0);
    CHECK(symlink("../victim-dir", "tree/escape-dir") == 0);
    CHECK(symlink("own.yaml", "tree/alias.yaml") == 0);

    /* A dry run reads nothing through the links either. */
    CHECK_INT(run(&out, &err, "--report", report, "tree", NULL), 1);
    CHECK(strstr(out, "escape") == NULL);
    CHECK_CONTAINS(out, "+++ b/tree/alias.yaml");
    free(out);
    free(err);

    CHECK_INT(run(&out, &err, "--report", report, "--write", "tree", NULL), 1);
    CHECK_CONTAINS(err, "tree/escape.yaml: error: a symbolic link to ");
    CHECK_CONTAINS(err, "tree/escape-dir: error: a symbolic link to ");
    CHECK_CONTAINS(err, "not followed (--follow-symlinks follows it)");
    CHECK_CONTAINS(err, "2 symbolic links out of a searched directory not followed");
    char *victim = slurp("victim.yaml", NULL), *victim_app = slurp("victim-dir/app.yaml", NULL);
    char *own = slurp("tree/own.yaml", NULL);
    CHECK_STR(victim, old_ref);
    CHECK_STR(victim_app, old_ref);
    CHECK_STR(own, new_ref);
    free(victim);
    free(victim_app);
    free(own);
    free(out);
    free(err);

    CHECK_INT(run(&out, &err, "--report", report, "--write", "--follow-symlinks", "tree", NULL), 0);
    CHECK(strstr(err, "not followed") == NULL);
    victim = slurp("victim.yaml", NULL);
    victim_app = slurp("victim-dir/app.yaml", NULL);
    CHECK_STR(victim, new_ref);
    CHECK_STR(victim_app, new_ref);
    struct stat st;
    CHECK(lstat("tree/escape.yaml", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(lstat("tree/escape-dir", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(!has_temp_files(dir));
    free(victim);
    free(victim_app);
    free(out);
    free(err);

    /* A link back up the tree is searched once, not until the depth limit. */
    CHECK(symlink("..", "victim-dir/loop") == 0);
    spit("victim-dir/app.yaml", old_ref);
    CHECK_INT(run(&out, &err, "--report", report, "--follow-symlinks", "victim-dir", NULL), 0);
    CHECK(strstr(err, "directory levels") == NULL);
    free(out);
    free(err);
    free(report);
    free(dir);
}

static void test_usage_and_reports(void)
{
    char *out = NULL, *err = NULL;
    CHECK(chdir(e2e) == 0);

    CHECK_INT(run(&out, &err, "--help", NULL), 0);
    static const char *const options[] = {
        "--report FILE",      "--map OLD=NEW",     "--write", "--pin-digests",
        "--pull-secret NAME", "secret --registry", "--creds", "--namespace",
        "--follow-symlinks",  "Exit status"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        CHECK_CONTAINS(out, options[i]);
    free(out);
    free(err);

    struct {
        const char *args[6];
        const char *message;
    } usage[] = {
        {{NULL}, "no PATH given"},
        {{"in", NULL}, "give --report REPORT.json or --map OLD=NEW"},
        {{"--report", "report.json", "--map", "a.io=b.io", "in", NULL}, "exclude each other"},
        {{"--map", "a.io=b.io", "--pin-digests", "in", NULL}, "--pin-digests takes the digests"},
        {{"--map", "a.io", "in", NULL}, "--map a.io: write OLD=NEW"},
        {{"--map", "a.io=a.io/mirror", "in", NULL}, "overlaps"},
        {{"--report", "report.json", "--pull-secret", "Not_A_Name", "in", NULL},
         "not a Kubernetes name"},
        {{"--frobnicate", "in", NULL}, "unknown option --frobnicate"},
        {{"--report", NULL}, "--report needs a value"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        const char *const *a = usage[i].args;
        CHECK_INT(run(&out, &err, a[0], a[1], a[2], a[3], a[4], a[5]), 2);
        CHECK_CONTAINS(err, usage[i].message);
        CHECK_STR(out, "");
        free(out);
        free(err);
    }

    /* Reports that cannot be used: exit 1, no file read. */
    char *missing = path_join(tmp_root, "missing.json");
    CHECK_INT(run(&out, &err, "--report", missing, "in", NULL), 1);
    CHECK_CONTAINS(err, "cannot read");
    CHECK_STR(out, "");
    free(out);
    free(err);
    char *no_images = path_join(tmp_root, "no-images.json");
    report_t *r = report_new();
    CHECK(r != NULL);
    CHECK_INT(report_add(r, "repository", "ccr.ccs.tencentyun.com/shop/gone", NULL, NULL,
                         REPORT_FAILED, "list tags: 404"),
              0);
    CHECK_INT(report_write_json(r, no_images, 1, 2, NULL), 0);
    report_destroy(&r);
    CHECK_INT(run(&out, &err, "--report", no_images, "in", NULL), 1);
    CHECK_CONTAINS(err, "the report has no image items");
    CHECK_STR(out, "");
    free(out);
    free(err);
    char *garbage = path_join(tmp_root, "garbage.json");
    spit(garbage, "{\"version\": 1, \"items\": [\n");
    CHECK_INT(run(&out, &err, "--report", garbage, "in", NULL), 1);
    CHECK_CONTAINS(err, "garbage.json:");
    free(out);
    free(err);
    free(garbage);
    free(no_images);
    free(missing);
}

static bool find_fixtures(void)
{
    const char *env = getenv("FERRY_REWRITE_E2E");
    char *path = NULL;
    if (env && *env) {
        path = strdup(env);
    } else {
        const char *file = __FILE__;
        const char *slash = strrchr(file, '/');
        if (asprintf(&path, "%.*s/../e2e/rewrite", slash ? (int)(slash - file) : 1,
                     slash ? file : ".") < 0)
            abort();
    }
    bool found = path && realpath(path, e2e) != NULL;
    if (!found)
        fprintf(stderr,
                "cannot find tests/e2e/rewrite at %s: run under meson test or set "
                "FERRY_REWRITE_E2E\n",
                path ? path : "?");
    free(path);
    return found;
}

int main(void)
{
    if (!find_fixtures())
        return 1;
    update_golden =
        getenv("FERRY_REWRITE_UPDATE") && strcmp(getenv("FERRY_REWRITE_UPDATE"), "1") == 0;
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    char start[PATH_MAX];
    if (!getcwd(start, sizeof start))
        return 1;
    test_dry_run();
    test_write();
    test_pin_digests();
    test_pull_secret();
    test_map();
    test_secret();
    test_diff_cases();
    test_diff_against_gnu();
    test_encodings_and_links();
    test_symlinks_out_of_tree();
    test_usage_and_reports();
    if (chdir(start) != 0)
        perror("chdir");
    remove_tree(tmp_root);
    return test_report();
}
