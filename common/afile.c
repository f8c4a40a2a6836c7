/* afile — a temporary file beside the target, then rename. */
#include "common/afile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AFILE_PATH_MAX 4096

/* fsyncs the directory holding path, so the rename survives a crash. */
static void afile_sync_dir(const char *path)
{
    char copy[AFILE_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static int afile_write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int afile_replace(const char *path, const void *data, size_t len, int mode, ferry_err_t *err)
{
    char tmp[AFILE_PATH_MAX];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ferry_err_set(err, FERRY_EIO, "cannot write %.200s: path too long", path);
    struct stat st;
    if (mode == AFILE_KEEP_MODE)
        mode = lstat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int)(st.st_mode & 07777) : 0644;
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL: never an existing file or link */
    if (fd < 0)
        return ferry_err_set(err, FERRY_EIO, "cannot create a temporary file beside %s: %s", path,
                             strerror(errno));
    int rc = 0;
    if (fchmod(fd, (mode_t)mode) != 0 || afile_write_all(fd, data, len) != 0 || fsync(fd) != 0)
        rc = ferry_err_set(err, FERRY_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = ferry_err_set(err, FERRY_EIO, "cannot write %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ferry_err_set(err, FERRY_EIO, "cannot replace %s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(tmp);
    else
        afile_sync_dir(path);
    return rc;
}
