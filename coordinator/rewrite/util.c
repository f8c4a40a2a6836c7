/* util — the small helpers every file of `ferry rewrite` uses: growing an
 * array, joining strings, making text safe to print. */
#include "coordinator/rewrite/rw.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Grows an array to hold need elements of size bytes. Returns the array, which
 * may have moved, or NULL when out of memory (the old array is untouched). */
void *rw_grow(void *array, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return array;
    size_t new_cap = *cap ? *cap : 8;
    while (new_cap < need)
        new_cap *= 2;
    if (new_cap > SIZE_MAX / size)
        return NULL;
    void *grown = realloc(array, new_cap * size);
    if (grown)
        *cap = new_cap;
    return grown;
}

/* A new string "a" "b" ... of the given parts, or NULL when out of memory. */
char *rw_concat(const char *first, ...)
{
    va_list ap;
    size_t len = 0;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        len += strlen(s);
    va_end(ap);
    char *text = malloc(len + 1);
    if (!text)
        return NULL;
    char *p = text;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *)) {
        size_t n = strlen(s);
        memcpy(p, s, n);
        p += n;
    }
    va_end(ap);
    *p = '\0';
    return text;
}

/* Replaces control characters by '?', so text from a report or a file
 * cannot drive the terminal. */
void rw_sanitize(char *text)
{
    for (unsigned char *p = (unsigned char *)text; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            *p = '?';
}

bool rw_under(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 &&
           (name[n] == '\0' || name[n] == '/' || (n > 0 && prefix[n - 1] == '/'));
}
