/* files — the PATHs of `ferry rewrite`: a file named itself, or a directory
 * searched for YAML files, where a symbolic link leading out of the directory
 * is refused unless --follow-symlinks; and each file's run from reading to
 * writing. */
#include "coordinator/rewrite/rw.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Directory levels searched below a PATH. */
#define RW_DIR_DEPTH_MAX 64

/* The directories being searched, innermost first, so that a followed link
 * leading back to one of them is not searched again. */
typedef struct rw_dir_chain {
    dev_t dev;                     /* the directory's device */
    ino_t ino;                     /* and inode */
    const struct rw_dir_chain *up; /* the directory holding it, or NULL */
} rw_dir_chain_t;

/* What a directory search does with one of its entries. */
enum rw_entry { RW_ENTRY_SKIP, RW_ENTRY_FILE, RW_ENTRY_DIR };

/* Reads, parses, decides and shows (and with --write writes) one file; root
 * as rw_file_t's. An error is printed and counted; the file is then left
 * untouched. */
static void rw_file_run(rw_run_t *run, const char *path, const char *root)
{
    rw_file_t f = {.root = root};
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

/* Prints "PATH: error: " and the message for a PATH or directory that
 * cannot be searched, and counts it as a file that failed. */
static void rw_path_failed(rw_run_t *run, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void rw_path_failed(rw_run_t *run, const char *path, const char *fmt, ...)
{
    va_list ap;
    fprintf(run->errout, "%s: error: ", path);
    va_start(ap, fmt);
    vfprintf(run->errout, fmt, ap);
    va_end(ap);
    fputc('\n', run->errout);
    run->files++;
    run->files_failed++;
}

/* Decides an entry of a directory searched below root (a real path): a
 * *.yaml or *.yml file is read, a directory searched, except the templates/
 * of a Helm chart (Go templates, not YAML). A symbolic link is followed when
 * its target lies in root, but for a link to a directory there (its files are
 * found where it points). A link out of root is refused, printed and counted,
 * unless --follow-symlinks. */
static enum rw_entry rw_entry_decide(rw_run_t *run, const char *path, const char *root, bool chart)
{
    struct stat st, link_st;
    const char *base = strrchr(path, '/') + 1;
    if (lstat(path, &link_st) != 0 || stat(path, &st) != 0)
        return RW_ENTRY_SKIP; /* gone, or a dangling link */
    bool dir = S_ISDIR(st.st_mode);
    if (dir && chart && strcmp(base, "templates") == 0)
        return RW_ENTRY_SKIP;
    if (!dir && !(S_ISREG(st.st_mode) && rw_yaml_name(base)))
        return RW_ENTRY_SKIP;
    if (!S_ISLNK(link_st.st_mode))
        return dir ? RW_ENTRY_DIR : RW_ENTRY_FILE;
    char *target = realpath(path, NULL);
    if (!target)
        return RW_ENTRY_SKIP; /* gone meanwhile */
    enum rw_entry entry = dir ? RW_ENTRY_SKIP : RW_ENTRY_FILE;
    if (!rw_under(target, root)) {
        if (run->follow_symlinks) {
            entry = dir ? RW_ENTRY_DIR : RW_ENTRY_FILE;
        } else {
            rw_sanitize(target);
            fprintf(run->errout,
                    "%s: error: a symbolic link to %s, out of the searched directory; not "
                    "followed (--follow-symlinks follows it)\n",
                    path, target);
            run->links_refused++;
            entry = RW_ENTRY_SKIP;
        }
    }
    free(target);
    return entry;
}

/* Searches the directory path below root for *.yaml and *.yml in name order,
 * skipping hidden entries; each entry as rw_entry_decide says. */
static void rw_visit(rw_run_t *run, const char *path, const char *root, const rw_dir_chain_t *up,
                     int depth)
{
    struct stat st;
    DIR *dir = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (depth >= RW_DIR_DEPTH_MAX) {
        rw_path_failed(run, path, "more than %d directory levels; not searched", RW_DIR_DEPTH_MAX);
        return;
    }
    if (stat(path, &st) != 0 || !(dir = opendir(path))) {
        rw_path_failed(run, path, "%s", strerror(errno));
        return;
    }
    for (const rw_dir_chain_t *d = up; d; d = d->up)
        if (d->dev == st.st_dev && d->ino == st.st_ino)
            goto out; /* a followed link back to a directory being searched */
    rw_dir_chain_t here = {.dev = st.st_dev, .ino = st.st_ino, .up = up};
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
        switch (rw_entry_decide(run, names[i], root, chart)) {
        case RW_ENTRY_DIR:
            rw_visit(run, names[i], root, &here, depth + 1);
            break;
        case RW_ENTRY_FILE:
            rw_file_run(run, names[i], run->follow_symlinks ? NULL : root);
            break;
        case RW_ENTRY_SKIP:
            break;
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
    struct stat st;
    char *root = NULL;
    if (stat(path, &st) != 0 || (S_ISDIR(st.st_mode) && !(root = realpath(path, NULL)))) {
        rw_path_failed(run, path, "%s", strerror(errno));
        return;
    }
    if (root)
        rw_visit(run, path, root, NULL, 0);
    else
        rw_file_run(run, path, NULL);
    free(root);
}
