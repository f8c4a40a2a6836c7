/* strmap — a string-keyed hash map sized for large migration plans.
 *
 * Open addressing with linear probing and backward-shift deletion (no
 * tombstones). A slot is 20 bytes (key pointer, value, 32-bit hash in a side
 * array) and the load stays between 3/8 and 3/4, so an entry costs 27-53
 * bytes of table plus its key, stored once in its own allocation. Not thread
 * safe. */
#ifndef FERRY_STRMAP_H
#define FERRY_STRMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strmap strmap_t;

/* Returns a new, empty map, or NULL when out of memory. */
strmap_t *strmap_new(void);

/* Frees the map and every key; calls free_value (when not NULL) on each value.
 * Accepts NULL and a NULL *self_p, and nulls the pointer. */
void strmap_destroy(strmap_t **self_p, void (*free_value)(void *));

/* Inserts key → value, or replaces the value of an existing key. The map
 * copies the key (on insertion only); the value is stored as is and is owned
 * by the caller until strmap_destroy hands it to free_value. When old_out is
 * not NULL it receives the replaced value, or NULL for a new key. 0, or
 * FERRY_ENOMEM with the map unchanged. */
int strmap_put(strmap_t *m, const char *key, void *value, void **old_out);

/* Returns the value of key, or NULL when absent (or stored as NULL: use
 * strmap_has to tell apart). */
void *strmap_get(const strmap_t *m, const char *key);

bool strmap_has(const strmap_t *m, const char *key);

/* Returns the map's own copy of key, stable until the key is removed or the
 * map destroyed, or NULL when absent: lets callers intern strings. */
const char *strmap_key(const strmap_t *m, const char *key);

/* Removes key, freeing the map's copy of it; its value goes to *value_out
 * (when not NULL) and becomes the caller's. 0, or FERRY_ENOTFOUND. */
int strmap_remove(strmap_t *m, const char *key, void **value_out);

size_t strmap_size(const strmap_t *m);

/* Iterates over the entries in no particular order:
 *     for (size_t it = 0; strmap_next(m, &it, &key, &value);)
 * key_out and value_out may be NULL. The map must not be changed during an
 * iteration, except that strmap_put may replace the value of an existing key. */
bool strmap_next(const strmap_t *m, size_t *iter, const char **key_out, void **value_out);

#endif
