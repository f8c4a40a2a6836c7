/* buf — growable byte buffer with a hard cap. */
#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fbuf_init(fbuf_t *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int fbuf_reserve(fbuf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return FERRY_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return FERRY_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int fbuf_append(fbuf_t *b, const void *p, size_t n)
{
    int rc = fbuf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int fbuf_puts(fbuf_t *b, const char *s)
{
    return fbuf_append(b, s, strlen(s));
}

int fbuf_printf(fbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return FERRY_EINVAL;
    int rc = fbuf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void fbuf_reset(fbuf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void fbuf_free(fbuf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

char *fbuf_steal(fbuf_t *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

/* Moves the n bytes at *data into a new allocation of cap bytes; the old one
 * is wiped first when secret. */
static int read_grow(char **data, size_t n, size_t cap, bool secret)
{
    char *grown = malloc(cap);
    if (!grown)
        return FERRY_ENOMEM;
    if (n)
        memcpy(grown, *data, n);
    if (secret && *data)
        explicit_bzero(*data, n);
    free(*data);
    *data = grown;
    return 0;
}

int fbuf_read_file(const char *path, size_t max, int flags, char **out, size_t *len_out,
                   ferry_err_t *err)
{
    bool secret = flags & FBUF_FILE_SECRET;
    char *data = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *len_out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ferry_err_set(err, errno == ENOENT ? FERRY_ENOTFOUND : FERRY_EIO, "%s",
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = ferry_err_set(err, FERRY_EIO, "%s", strerror(errno));
        goto out;
    }
    bool regular = S_ISREG(st.st_mode);
    if (!regular && (flags & FBUF_FILE_REGULAR)) {
        rc = ferry_err_set(err, FERRY_EIO, "not a regular file");
        goto out;
    }
    if (regular && (uint64_t)st.st_size > max)
        goto too_big;
    /* The size seen, plus room to notice growth and for the NUL; a pipe or
     * device starts small and doubles. */
    cap = (regular ? (size_t)st.st_size : 4095) + 2;
    if ((rc = read_grow(&data, 0, cap, secret)) < 0)
        goto oom;
    for (;;) {
        if (len + 1 == cap) {
            if (len > max)
                goto too_big;
            size_t grown = cap > max / 2 ? max + 2 : cap * 2;
            if ((rc = read_grow(&data, len, grown, secret)) < 0)
                goto oom;
            cap = grown;
        }
        ssize_t got = read(fd, data + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = ferry_err_set(err, FERRY_EIO, "%s", strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    if (len > max)
        goto too_big;
    data[len] = '\0';
    *out = data;
    *len_out = len;
    data = NULL;
    goto out;
too_big:
    rc = ferry_err_set(err, FERRY_ETOOBIG, "larger than %zu bytes", max);
    goto out;
oom:
    rc = ferry_err_set(err, FERRY_ENOMEM, "out of memory");
out:
    if (data) {
        if (secret)
            explicit_bzero(data, cap);
        free(data);
    }
    close(fd);
    return rc;
}

void *array_grow(void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t grown = *cap ? *cap * 2 : 8;
    if (grown < *cap || elem == 0 || grown > SIZE_MAX / elem)
        return NULL;
    void *bigger = realloc(arr, grown * elem);
    if (bigger)
        *cap = grown;
    return bigger;
}
