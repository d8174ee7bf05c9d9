/* map.c - string-keyed open-addressing hash map (see map.h). */
#include "base/map.h"

#include "base/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone_key;
#define MAP_TOMBSTONE (&tombstone_key)

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29));
}

static struct map_slot *find(const struct map *m, const char *key, size_t h)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct map_slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != MAP_TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static void rehash(struct map *m, size_t cap)
{
    struct map_slot *old = m->slots;
    size_t oldcap = m->cap;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->used = m->len;
    size_t mask = cap - 1;
    for (size_t i = 0; i < oldcap; i++) {
        struct map_slot *s = &old[i];
        if (!s->key || s->key == MAP_TOMBSTONE)
            continue;
        size_t j = s->hash & mask;
        while (m->slots[j].key)
            j = (j + 1) & mask;
        m->slots[j] = *s;
    }
    free(old);
}

void *map_get(const struct map *m, const char *key)
{
    struct map_slot *s = find(m, key, hash_str(key));
    return s ? s->value : NULL;
}

void *map_put(struct map *m, const char *key, void *value)
{
    size_t h = hash_str(key);
    struct map_slot *s = find(m, key, h);
    if (s) {
        void *prev = s->value;
        s->value = value;
        return prev;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->len * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t mask = m->cap - 1;
    size_t i = h & mask;
    while (m->slots[i].key && m->slots[i].key != MAP_TOMBSTONE)
        i = (i + 1) & mask;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i].key = xstrdup(key);
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->len++;
    return NULL;
}

void *map_del(struct map *m, const char *key)
{
    struct map_slot *s = find(m, key, hash_str(key));
    if (!s)
        return NULL;
    void *v = s->value;
    free(s->key);
    s->key = MAP_TOMBSTONE;
    s->value = NULL;
    m->len--;
    return v;
}

void map_each(const struct map *m, void (*fn)(const char *key, void *value, void *arg), void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct map_slot *s = &m->slots[i];
        if (s->key && s->key != MAP_TOMBSTONE)
            fn(s->key, s->value, arg);
    }
}

void map_free(struct map *m, void (*free_value)(void *))
{
    for (size_t i = 0; i < m->cap; i++) {
        struct map_slot *s = &m->slots[i];
        if (s->key && s->key != MAP_TOMBSTONE) {
            if (free_value)
                free_value(s->value);
            free(s->key);
        }
    }
    free(m->slots);
    memset(m, 0, sizeof *m);
}
