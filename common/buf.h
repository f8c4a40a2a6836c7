/* buf — a growable byte buffer with a hard cap, always NUL-terminated.
 *
 * Every buffer filled from the network or a file has a cap (`max`); an append
 * past it fails with FERRY_ETOOBIG instead of growing without bound. */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

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

/* fbuf_read_file flags */
#define FBUF_FILE_REGULAR 1 /* refuse anything but a regular file */
#define FBUF_FILE_SECRET  2 /* wipe every copy of the bytes left behind */

/* Reads the whole file at path, at most max bytes, into a new NUL-terminated
 * buffer: *out (caller frees; wipes it first with FBUF_FILE_SECRET) and
 * *len_out. Returns 0, or FERRY_ENOTFOUND (no such file), FERRY_EIO (cannot
 * open or read it, not a regular file), FERRY_ETOOBIG (more than max bytes),
 * FERRY_ENOMEM; err->message then holds the reason alone ("not a regular
 * file", "larger than N bytes", strerror's text) for the caller to frame. */
int fbuf_read_file(const char *path, size_t max, int flags, char **out, size_t *len_out,
                   ferry_err_t *err);

/* Room for one more element in an array of n elements of elem bytes with
 * *cap allocated (doubling, from 8; overflow-checked): returns the array,
 * moved perhaps, with *cap updated, or NULL when out of memory (the old
 * array is then still valid and unchanged). */
void *array_grow(void *arr, size_t n, size_t *cap, size_t elem);

#endif
