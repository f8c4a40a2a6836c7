/* test_report — counts, the JSON report read back with jansson, atomic
 * writes, loading hostile reports, and the summary's exact last line. */
#include "coordinator/report.h"
#include "testlib.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/ferry-test-report-XXXXXX";
static char path[sizeof dir + 64];

static report_t *sample(void)
{
    report_t *r = report_new();
    CHECK(r != NULL);
    CHECK_INT(report_add(r, "image", "a.io/ns/app:1.0", "b.io/ns/app:1.0", "sha256:aaaa",
                         REPORT_MIGRATED, NULL),
              0);
    CHECK_INT(report_add(r, "image", "a.io/ns/app:1.1", "b.io/ns/app:1.1", "sha256:bbbb",
                         REPORT_MIGRATED, NULL),
              0);
    CHECK_INT(report_add(r, "image", "a.io/ns/app:0.9", "b.io/ns/app:0.9", "sha256:cccc",
                         REPORT_SKIPPED, NULL),
              0);
    CHECK_INT(report_add(r, "image", "a.io/ns/app:broken", "b.io/ns/app:broken", NULL,
                         REPORT_FAILED, "copy blob sha256:dead: digest mismatch"),
              0);
    CHECK_INT(report_add(r, "image", "a.io/ns/web:2", "b.io/ns/web:2", "sha256:eeee", REPORT_FAILED,
                         "put manifest: 403 DENIED: \x1b[31mno push\naccess"),
              0);
    CHECK_INT(report_add(r, "repository", "a.io/ns/gone", "b.io/ns/gone", NULL, REPORT_FAILED,
                         "list tags: 404 NAME_UNKNOWN"),
              0);
    CHECK_INT(report_add(r, "namespace", "a.io/locked/x", "b.io/locked/x", NULL, REPORT_FAILED,
                         "create namespace locked: quota exceeded"),
              0);
    CHECK_INT(report_add(r, "namespace", "a.io/locked/y", "b.io/locked/y", NULL, REPORT_FAILED,
                         "create namespace locked: quota exceeded"),
              0);
    CHECK_INT(
        report_add(
            r, "manifest", "a.io/ns/odd:v1", NULL, NULL, REPORT_FAILED,
            "unsupported media type application/vnd.docker.distribution.manifest.v1+prettyjws"),
        0);
    report_add_blob_stats(r, 10, 3, 4, 1536ULL * 1024 * 1024);
    report_add_blob_stats(r, 2, 0, 1, 512ULL * 1024 * 1024);
    return r;
}

static void test_counts(void)
{
    report_t *r = sample();
    report_counts_t c;
    report_counts(r, &c);
    CHECK_INT(c.migrated, 2);
    CHECK_INT(c.skipped, 1);
    CHECK_INT(c.failed, 2);
    CHECK_INT(c.repo_failed, 1);
    CHECK_INT(c.namespace_failed, 2);
    CHECK_INT(c.manifest_failed, 1);
    CHECK_INT(c.blobs_copied, 12);
    CHECK_INT(c.blobs_mounted, 3);
    CHECK_INT(c.blobs_skipped, 5);
    CHECK_INT(c.bytes, 2048ULL * 1024 * 1024);
    CHECK_INT(report_size(r), 9);
    const report_item_t *item = report_item(r, 3);
    CHECK(item != NULL);
    if (item) {
        CHECK_STR(item->kind, "image");
        CHECK_STR(item->source, "a.io/ns/app:broken");
        CHECK(item->digest == NULL);
        CHECK_INT(item->status, REPORT_FAILED);
        CHECK_STR(item->error, "copy blob sha256:dead: digest mismatch");
    }
    CHECK(report_item(r, 9) == NULL);

    /* Strings are copied. */
    char source[] = "a.io/ns/copy:1";
    CHECK_INT(report_add(r, "image", source, NULL, NULL, REPORT_MIGRATED, NULL), 0);
    source[0] = 'X';
    CHECK_STR(report_item(r, 9)->source, "a.io/ns/copy:1");

    CHECK_INT(report_add(r, "tag", "a.io/x", NULL, NULL, REPORT_FAILED, "e"), FERRY_EINVAL);
    CHECK_INT(report_add(r, NULL, "a.io/x", NULL, NULL, REPORT_FAILED, "e"), FERRY_EINVAL);
    CHECK_INT(report_add(r, "image", NULL, NULL, NULL, REPORT_FAILED, "e"), FERRY_EINVAL);
    CHECK_INT(report_add(r, "image", "a.io/x", NULL, NULL, 0, NULL), FERRY_EINVAL);
    CHECK_INT(report_add(r, "image", "a.io/x", NULL, NULL, 4, NULL), FERRY_EINVAL);
    CHECK_INT(report_size(r), 10);
    report_destroy(&r);
    CHECK(r == NULL);
    report_destroy(&r);
    report_destroy(NULL);

    r = report_new();
    report_counts(r, &c);
    CHECK_INT(c.migrated + c.failed + c.skipped + c.bytes, 0);
    report_destroy(&r);
}

static size_t dir_entries(void)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_json(void)
{
    ferry_err_t err = {0};
    report_t *r = sample();
    snprintf(path, sizeof path, "%s/report.json", dir);
    /* An old report is replaced whole. */
    FILE *f = fopen(path, "w");
    fputs("old contents", f);
    fclose(f);
    CHECK_INT(report_write_json(r, path, 1714557600.25, 1714557723.5, &err), 0);
    CHECK_INT(dir_entries(), 1); /* no temporary file left */
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);

    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL);
    if (root) {
        CHECK_INT(json_integer_value(json_object_get(root, "version")), 1);
        CHECK_STR(json_string_value(json_object_get(root, "started")), "2024-05-01T10:00:00.250Z");
        CHECK_STR(json_string_value(json_object_get(root, "finished")), "2024-05-01T10:02:03.500Z");
        CHECK(json_real_value(json_object_get(root, "duration_s")) == 123.25);
        json_t *counts = json_object_get(root, "counts");
        CHECK_INT(json_integer_value(json_object_get(counts, "migrated")), 2);
        CHECK_INT(json_integer_value(json_object_get(counts, "skipped")), 1);
        CHECK_INT(json_integer_value(json_object_get(counts, "failed")), 2);
        CHECK_INT(json_integer_value(json_object_get(counts, "repositories_failed")), 1);
        CHECK_INT(json_integer_value(json_object_get(counts, "namespaces_failed")), 2);
        CHECK_INT(json_integer_value(json_object_get(counts, "manifests_failed")), 1);
        CHECK_INT(json_integer_value(json_object_get(counts, "blobs_copied")), 12);
        CHECK_INT(json_integer_value(json_object_get(counts, "blobs_mounted")), 3);
        CHECK_INT(json_integer_value(json_object_get(counts, "blobs_skipped")), 5);
        CHECK_INT(json_integer_value(json_object_get(counts, "bytes")), 2048LL * 1024 * 1024);
        json_t *items = json_object_get(root, "items");
        CHECK_INT(json_array_size(items), 9);
        json_t *item = json_array_get(items, 4);
        CHECK_STR(json_string_value(json_object_get(item, "kind")), "image");
        CHECK_STR(json_string_value(json_object_get(item, "source")), "a.io/ns/web:2");
        CHECK_STR(json_string_value(json_object_get(item, "target")), "b.io/ns/web:2");
        CHECK_STR(json_string_value(json_object_get(item, "digest")), "sha256:eeee");
        CHECK_STR(json_string_value(json_object_get(item, "status")), "failed");
        CHECK_STR(json_string_value(json_object_get(item, "error")),
                  "put manifest: 403 DENIED: \x1b[31mno push\naccess");
        item = json_array_get(items, 0);
        CHECK_STR(json_string_value(json_object_get(item, "status")), "migrated");
        CHECK(json_is_null(json_object_get(item, "error")));
        item = json_array_get(items, 8);
        CHECK_STR(json_string_value(json_object_get(item, "kind")), "manifest");
        CHECK(json_is_null(json_object_get(item, "target")));
        CHECK(json_is_null(json_object_get(item, "digest")));
        json_decref(root);
    }

    /* Loading it back gives the same items. */
    report_t *loaded = NULL;
    CHECK_INT(report_load_json(path, &loaded, &err), 0);
    CHECK_INT(loaded ? report_size(loaded) : 0, 9);
    if (loaded) {
        for (size_t i = 0; i < report_size(r); i++) {
            const report_item_t *a = report_item(r, i), *b = report_item(loaded, i);
            CHECK_STR(b->kind, a->kind);
            CHECK_STR(b->source, a->source);
            CHECK_STR(b->target, a->target);
            CHECK_STR(b->digest, a->digest);
            CHECK_INT(b->status, a->status);
            CHECK_STR(b->error, a->error);
        }
        report_counts_t c;
        report_counts(loaded, &c);
        CHECK_INT(c.failed, 2);
        CHECK_INT(c.bytes, 0);
    }
    report_destroy(&loaded);

    /* An unwritable place: an error, and nothing left behind. */
    char bad[sizeof path + 16];
    snprintf(bad, sizeof bad, "%s/missing/report.json", dir);
    CHECK_INT(report_write_json(r, bad, 0, 0, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "cannot create a temporary file beside");
    CHECK_CONTAINS(err.message, "No such file or directory");
    /* A directory in the way of the rename. */
    snprintf(bad, sizeof bad, "%s/adir", dir);
    CHECK(mkdir(bad, 0755) == 0);
    CHECK_INT(report_write_json(r, bad, 0, 0, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "cannot write report");
    rmdir(bad);
    CHECK_INT(dir_entries(), 1);
    report_destroy(&r);
}

static const char *load_fails(const char *text, int code)
{
    static ferry_err_t err;
    ferry_err_clear(&err);
    char bad_path[sizeof path];
    snprintf(bad_path, sizeof bad_path, "%s/bad.json", dir);
    FILE *f = fopen(bad_path, "w");
    fputs(text, f);
    fclose(f);
    report_t *r = (report_t *)&err;
    CHECK_INT(report_load_json(bad_path, &r, &err), code);
    CHECK(r == NULL);
    unlink(bad_path);
    return err.message;
}

static void test_load_bad(void)
{
    ferry_err_t err = {0};
    report_t *r = NULL;
    CHECK_INT(report_load_json("/nonexistent/report.json", &r, &err), FERRY_EIO);
    CHECK_STR(err.message, "cannot read /nonexistent/report.json: No such file or directory");
    const char *m;
    m = load_fails("{\"version\": 1,\n \"items\": [}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "bad.json:2:");
    m = load_fails("{\"version\": 2, \"items\": []}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "not a ferry report of version 1");
    m = load_fails("{\"version\": 1}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "\"items\" must be a list");
    m = load_fails("{\"version\": 1, \"items\": [{\"kind\": \"image\", \"source\": \"a.io/x\", "
                   "\"status\": \"done\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "items[0].status: unknown status 'done'");
    m = load_fails("{\"version\": 1, \"items\": [{\"kind\": \"image\", \"source\": \"a.io/x\", "
                   "\"status\": \"failed\"},"
                   " {\"kind\": \"blob\", \"source\": \"a.io/x\", \"status\": \"failed\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "items[1].kind: unknown kind 'blob'");
    m = load_fails("{\"version\": 1, \"items\": [{\"kind\": \"image\", \"status\": \"failed\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "items[0].source: must be a string");
    m = load_fails("{\"version\": 1, \"items\": [{\"kind\": \"image\", \"source\": \"a\", "
                   "\"target\": 7, \"status\": \"failed\"}]}",
                   FERRY_EINVAL);
    CHECK_CONTAINS(m, "items[0].target: must be a string");
    m = load_fails("{\"version\": 1, \"items\": [7]}", FERRY_EINVAL);
    CHECK_CONTAINS(m, "items[0]: must be an object");

    /* Past the cap: a sparse file of zeros, refused before it is parsed. */
    snprintf(path, sizeof path, "%s/huge.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"version\": 1, \"items\": [", f);
    fclose(f);
    CHECK(truncate(path, REPORT_FILE_MAX + 10) == 0);
    /* Spaces are valid JSON whitespace, so the parser keeps reading. */
    f = fopen(path, "r+");
    char spaces[65536];
    memset(spaces, ' ', sizeof spaces);
    fseek(f, 24, SEEK_SET);
    for (size_t done = 24; done < (size_t)REPORT_FILE_MAX + 10; done += sizeof spaces)
        fwrite(spaces, 1, sizeof spaces, f);
    fclose(f);
    CHECK_INT(report_load_json(path, &r, &err), FERRY_ETOOBIG);
    CHECK_CONTAINS(err.message, "huge.json is larger than 268435456 bytes");
    unlink(path);
}

static void test_summary(void)
{
    report_t *r = sample();
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    report_print_summary(r, out, 83.0);
    fclose(out);
    CHECK_CONTAINS(text, "Images: 2 migrated, 1 already present, 2 failed\n");
    CHECK_CONTAINS(text, "Blobs: 12 copied, 3 mounted, 5 already present\n");
    CHECK_CONTAINS(text, "Transferred: 2.0 GiB in 1m23s (24.7 MiB/s)\n");
    CHECK_CONTAINS(text, "Failures (6):\n");
    CHECK_CONTAINS(text, "  image a.io/ns/app:broken -> b.io/ns/app:broken: copy blob sha256:dead: "
                         "digest mismatch\n");
    /* Control characters from a registry cannot reach the terminal. */
    CHECK_CONTAINS(
        text,
        "  image a.io/ns/web:2 -> b.io/ns/web:2: put manifest: 403 DENIED: ?[31mno push?access\n");
    CHECK(strchr(text, '\x1b') == NULL);
    CHECK_CONTAINS(text,
                   "  repository a.io/ns/gone -> b.io/ns/gone: list tags: 404 NAME_UNKNOWN\n");
    CHECK_CONTAINS(
        text,
        "  namespace a.io/locked/x -> b.io/locked/x: create namespace locked: quota exceeded\n");
    CHECK_CONTAINS(
        text,
        "  namespace a.io/locked/y -> b.io/locked/y: create namespace locked: quota exceeded\n");
    CHECK_CONTAINS(text, "  manifest a.io/ns/odd:v1: unsupported media type");
    /* Successes are not listed. */
    CHECK(strstr(text, "a.io/ns/app:1.0") == NULL);
    /* The very last line, exactly. */
    const char *last =
        "################# Finished, 2 transfer jobs failed, 3 normal urlPair generate failed, "
        "1 jobs generate failed #################\n";
    CHECK(len >= strlen(last) && strcmp(text + len - strlen(last), last) == 0);
    if (len >= strlen(last))
        CHECK_STR(text + len - strlen(last), last);
    free(text);
    report_destroy(&r);

    /* An empty migration. */
    r = report_new();
    out = open_memstream(&text, &len);
    report_print_summary(r, out, 0);
    fclose(out);
    CHECK_CONTAINS(text, "Transferred: 0 B in 0.0s\n");
    CHECK(strstr(text, "Failures") == NULL);
    CHECK_CONTAINS(
        text,
        "\n################# Finished, 0 transfer jobs failed, 0 normal urlPair generate failed, "
        "0 jobs generate failed #################\n");
    free(text);
    report_destroy(&r);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_counts();
    test_json();
    test_load_bad();
    test_summary();
    snprintf(path, sizeof path, "%s/report.json", dir);
    unlink(path);
    rmdir(dir);
    return test_report();
}
