/* buf — a growable byte buffer with a hard cap, always NUL-terminated.
 *
 * Every buffer filled from the network or a file has a cap (`max`); an append
 * past it fails with FERRY_ETOOBIG instead of growing without bound. */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stddef.h>

typedef struct fbuf {
    char *data; /* contents, NUL-terminated when not NULL; owned */
    size_t len; /* bytes used, not counting the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* hard limit on len */
} fbuf_t;

void fbuf_init(fbuf_t *b, size_t max);
/* Appends n bytes; FERRY_ETOOBIG past max, FERRY_ENOMEM when allocation fails. */
int fbuf_append(fbuf_t *b, const void *p, size_t n);
int fbuf_puts(fbuf_t *b, const char *s);
int fbuf_printf(fbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Empties the buffer, keeping its memory. */
void fbuf_reset(fbuf_t *b);
/* Frees the memory; the buffer may be used again after fbuf_init. */
void fbuf_free(fbuf_t *b);
/* Returns the contents (NUL-terminated, never NULL unless out of memory) and
 * leaves the buffer empty; the caller frees the result. */
char *fbuf_steal(fbuf_t *b);

#endif
