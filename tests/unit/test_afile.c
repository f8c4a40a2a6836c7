/* Unit test of afile: replacing a file whole, and what a planted link or a
 * failure may not do. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/afile.h"
#include "testlib.h"

static char dir[] = "/tmp/ferry-afile-XXXXXX";

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
    return f ? buf : NULL;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    char path[128], victim[128], link[160];
    snprintf(path, sizeof path, "%s/status.json", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    ferry_err_t err;

    /* New, then replaced, with the mode asked for or kept. */
    CHECK_INT(afile_replace(path, "one\n", 4, 0600, &err), 0);
    CHECK_STR(slurp(path), "one\n");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_INT(afile_replace(path, "two\n", 4, AFILE_KEEP_MODE, &err), 0);
    CHECK_STR(slurp(path), "two\n");
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* Links planted at the names a writer used to pick (PATH.tmp.PID, and
     * a guess of a random one) are never written through. */
    FILE *f = fopen(victim, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("untouched\n", f);
        fclose(f);
    }
    snprintf(link, sizeof link, "%s.tmp.%d", path, (int)getpid());
    CHECK_INT(symlink(victim, link), 0);
    CHECK_INT(afile_replace(path, "three\n", 6, 0644, &err), 0);
    CHECK_STR(slurp(victim), "untouched\n");
    CHECK_STR(slurp(path), "three\n");
    unlink(link);

    /* A failure leaves no temporary file and the old file as it was. */
    CHECK_INT(entries(), 2);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no-such-dir/status.json", dir);
    CHECK_INT(afile_replace(missing, "x", 1, 0644, &err), FERRY_EIO);
    CHECK_CONTAINS(err.message, "no-such-dir");
    chmod(dir, 0500);
    if (geteuid() != 0) { /* root writes anyway */
        CHECK_INT(afile_replace(path, "four\n", 5, 0644, &err), FERRY_EIO);
        CHECK_STR(slurp(path), "three\n");
    }
    chmod(dir, 0700);
    CHECK_INT(entries(), 2);

    unlink(path);
    unlink(victim);
    rmdir(dir);
    return test_report();
}
