/* buf — growable byte buffer with a hard cap. */
#include "common/buf.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
