/* strmap — open-addressing string map: linear probing, backward-shift
 * deletion, power-of-two capacity, load factor at most 3/4. */
#include "common/strmap.h"

#include "common/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STRMAP_MIN_CAPACITY 16

typedef struct strmap_slot {
    char *key;   /* owned copy; NULL marks an empty slot */
    void *value; /* caller's value */
} strmap_slot_t;

struct strmap {
    strmap_slot_t *slots; /* capacity slots */
    uint32_t *hashes;     /* hash of each occupied slot's key, so growth never rehashes strings */
    size_t capacity;      /* a power of two, 0 before the first insertion */
    size_t size;          /* occupied slots */
};

/* FNV-1a over the bytes, then a 64-bit finalizer so the low bits used as
 * index are well mixed. */
static uint32_t strmap_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

strmap_t *strmap_new(void)
{
    return calloc(1, sizeof(strmap_t));
}

void strmap_destroy(strmap_t **self_p, void (*free_value)(void *))
{
    if (!self_p || !*self_p)
        return;
    strmap_t *m = *self_p;
    for (size_t i = 0; i < m->capacity; i++) {
        if (!m->slots[i].key)
            continue;
        free(m->slots[i].key);
        if (free_value)
            free_value(m->slots[i].value);
    }
    free(m->slots);
    free(m->hashes);
    free(m);
    *self_p = NULL;
}

/* Index of key's slot, or of the empty slot where it would go. The table must
 * have at least one empty slot. */
static size_t strmap_find(const strmap_t *m, const char *key, uint32_t hash)
{
    size_t mask = m->capacity - 1;
    size_t i = hash & mask;
    while (m->slots[i].key) {
        if (m->hashes[i] == hash && strcmp(m->slots[i].key, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

static int strmap_grow(strmap_t *m)
{
    size_t capacity = m->capacity ? m->capacity * 2 : STRMAP_MIN_CAPACITY;
    if (capacity > SIZE_MAX / sizeof(strmap_slot_t))
        return FERRY_ENOMEM;
    strmap_slot_t *slots = calloc(capacity, sizeof *slots);
    uint32_t *hashes = malloc(capacity * sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return FERRY_ENOMEM;
    }
    size_t mask = capacity - 1;
    for (size_t i = 0; i < m->capacity; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = m->hashes[i] & mask;
        while (slots[j].key)
            j = (j + 1) & mask;
        slots[j] = m->slots[i];
        hashes[j] = m->hashes[i];
    }
    free(m->slots);
    free(m->hashes);
    m->slots = slots;
    m->hashes = hashes;
    m->capacity = capacity;
    return 0;
}

int strmap_put(strmap_t *m, const char *key, void *value, void **old_out)
{
    uint32_t hash = strmap_hash(key);
    if (old_out)
        *old_out = NULL;
    if (m->capacity) {
        size_t i = strmap_find(m, key, hash);
        if (m->slots[i].key) {
            if (old_out)
                *old_out = m->slots[i].value;
            m->slots[i].value = value;
            return 0;
        }
    }
    /* Grow before inserting so the load stays at most 3/4. */
    if ((m->size + 1) * 4 > m->capacity * 3 && strmap_grow(m) != 0)
        return FERRY_ENOMEM;
    size_t len = strlen(key);
    char *copy = malloc(len + 1);
    if (!copy)
        return FERRY_ENOMEM;
    memcpy(copy, key, len + 1);
    size_t i = strmap_find(m, key, hash);
    m->slots[i].key = copy;
    m->slots[i].value = value;
    m->hashes[i] = hash;
    m->size++;
    return 0;
}

/* Index of key's slot, or SIZE_MAX when absent. */
static size_t strmap_lookup(const strmap_t *m, const char *key)
{
    if (!m->size)
        return SIZE_MAX;
    size_t i = strmap_find(m, key, strmap_hash(key));
    return m->slots[i].key ? i : SIZE_MAX;
}

void *strmap_get(const strmap_t *m, const char *key)
{
    size_t i = strmap_lookup(m, key);
    return i == SIZE_MAX ? NULL : m->slots[i].value;
}

bool strmap_has(const strmap_t *m, const char *key)
{
    return strmap_lookup(m, key) != SIZE_MAX;
}

const char *strmap_key(const strmap_t *m, const char *key)
{
    size_t i = strmap_lookup(m, key);
    return i == SIZE_MAX ? NULL : m->slots[i].key;
}

int strmap_remove(strmap_t *m, const char *key, void **value_out)
{
    if (value_out)
        *value_out = NULL;
    size_t hole = strmap_lookup(m, key);
    if (hole == SIZE_MAX)
        return FERRY_ENOTFOUND;
    if (value_out)
        *value_out = m->slots[hole].value;
    free(m->slots[hole].key);
    m->slots[hole].key = NULL;
    m->size--;
    /* Backward shift: move later members of the probe run into the hole when
     * their home slot does not lie cyclically in (hole, j]. */
    size_t mask = m->capacity - 1;
    for (size_t j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
        size_t home = m->hashes[j] & mask;
        bool stays = hole < j ? (home > hole && home <= j) : (home > hole || home <= j);
        if (stays)
            continue;
        m->slots[hole] = m->slots[j];
        m->hashes[hole] = m->hashes[j];
        m->slots[j].key = NULL;
        hole = j;
    }
    return 0;
}

size_t strmap_size(const strmap_t *m)
{
    return m->size;
}

bool strmap_next(const strmap_t *m, size_t *iter, const char **key_out, void **value_out)
{
    for (size_t i = *iter; i < m->capacity; i++) {
        if (!m->slots[i].key)
            continue;
        if (key_out)
            *key_out = m->slots[i].key;
        if (value_out)
            *value_out = m->slots[i].value;
        *iter = i + 1;
        return true;
    }
    *iter = m->capacity;
    return false;
}
