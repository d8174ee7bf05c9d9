/* map.h - a hash map from NUL-terminated string keys to pointers.
 *
 * Keys are copied; values are borrowed (the map never frees them; map_free takes an optional
 * function to release them). Open addressing with linear probing and tombstones. Not
 * thread-safe: the owner locks around it when shared.
 */
#ifndef BERTH_BASE_MAP_H
#define BERTH_BASE_MAP_H

#include <stddef.h>

struct map_slot {
    char *key; /* NULL = empty; MAP_TOMBSTONE = deleted */
    void *value;
    size_t hash;
};

struct map {
    struct map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t len;  /* live entries */
    size_t used; /* live + tombstones */
};

#define MAP_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* The value for key, or NULL. */
void *map_get(const struct map *m, const char *key);
/* Sets key to value; returns the previous value (or NULL). */
void *map_put(struct map *m, const char *key, void *value);
/* Removes key; returns its value (or NULL). */
void *map_del(struct map *m, const char *key);
/* Calls fn(key, value, arg) for each entry, in no particular order. fn must not change m. */
void map_each(const struct map *m, void (*fn)(const char *key, void *value, void *arg), void *arg);
/* Frees the map's memory, calling free_value on each value when given. */
void map_free(struct map *m, void (*free_value)(void *));

#endif
