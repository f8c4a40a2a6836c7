/* files — the PATHs of `ferry rewrite`: a file named itself, or a directory
 * searched for YAML files; and each file's run from reading to writing. */
#include "coordinator/rewrite/rw.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Directory levels searched below a PATH. */
#define RW_DIR_DEPTH_MAX 64

/* Reads, parses, decides and shows (and with --write writes) one file. An
 * error is printed and counted; the file is then left untouched. */
static void rw_file_run(rw_run_t *run, const char *path)
{
    rw_file_t f = {0};
    fbuf_t fresh;
    ferry_err_t err = {0};
    bool changed = false;
    int rc;
    fbuf_init(&fresh, REWRITE_FILE_MAX + (size_t)REWRITE_FILE_MAX / 2);
    run->files++;
    rc = rw_file_read(&f, path, &err);
    if (!rc)
        rc = rw_file_parse(&f, &err);
    if (!rc) {
        rc = rw_file_scan(run, &f);
        if (rc)
            ferry_err_set(&err, rc, "%s: error: out of memory", path);
    }
    if (!rc)
        rc = rw_file_apply(&f, &fresh, &err);
    if (!rc) {
        rw_print_notes(&f, run->errout);
        rc = rw_file_commit(run, &f, &fresh, &changed, &err);
    }
    if (!rc && changed)
        run->files_changed++;
    if (rc) {
        fprintf(run->errout, "%s; file left untouched\n", err.message);
        run->files_failed++;
    }
    fflush(run->out);
    fbuf_free(&fresh);
    rw_file_free(&f);
}

static int rw_name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rw_yaml_name(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
           (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

/* A PATH: a file (of any name) or a directory searched for *.yaml and *.yml
 * in name order, skipping hidden entries, symbolic links to directories, and
 * the templates/ of a Helm chart (Go templates, not YAML). */
static void rw_visit(rw_run_t *run, const char *path, int depth)
{
    struct stat st;
    DIR *dir = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (stat(path, &st) != 0) {
        fprintf(run->errout, "%s: error: %s\n", path, strerror(errno));
        run->files++;
        run->files_failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        rw_file_run(run, path);
        return;
    }
    if (depth >= RW_DIR_DEPTH_MAX) {
        fprintf(run->errout, "%s: error: more than %d directory levels; not searched\n", path,
                RW_DIR_DEPTH_MAX);
        run->files++;
        run->files_failed++;
        return;
    }
    dir = opendir(path);
    if (!dir) {
        fprintf(run->errout, "%s: error: %s\n", path, strerror(errno));
        run->files++;
        run->files_failed++;
        return;
    }
    bool chart = false;
    for (struct dirent *entry; (entry = readdir(dir));) {
        if (strcmp(entry->d_name, "Chart.yaml") == 0)
            chart = true;
        if (entry->d_name[0] == '.')
            continue;
        char **grown = rw_grow(names, &cap, n + 1, sizeof *grown);
        char *child =
            grown ? rw_concat(path, path[strlen(path) - 1] == '/' ? "" : "/", entry->d_name, NULL)
                  : NULL;
        if (grown)
            names = grown;
        if (!child) {
            fprintf(run->errout, "%s: error: out of memory\n", path);
            run->files_failed++;
            goto out;
        }
        names[n++] = child;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, rw_name_compare);
    for (size_t i = 0; i < n; i++) {
        struct stat link_st;
        const char *base = strrchr(names[i], '/') + 1;
        if (lstat(names[i], &link_st) != 0 || stat(names[i], &st) != 0)
            continue; /* gone, or a dangling link */
        if (S_ISDIR(st.st_mode)) {
            if (!S_ISLNK(link_st.st_mode) && !(chart && strcmp(base, "templates") == 0))
                rw_visit(run, names[i], depth + 1);
        } else if (S_ISREG(st.st_mode) && rw_yaml_name(base)) {
            rw_file_run(run, names[i]);
        }
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dir);
}

void rw_path_run(rw_run_t *run, const char *path)
{
    rw_visit(run, path, 0);
}
