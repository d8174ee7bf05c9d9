/* internal.h - shared state of the identity module (not for use outside src/identity/). */
#ifndef BERTH_IDENTITY_INTERNAL_H
#define BERTH_IDENTITY_INTERNAL_H

#include "base/map.h"
#include "identity/identity.h"

#include <pthread.h>

struct rate_entry {
    int64_t window_start_us;
    int count;
};

struct identity {
    struct store *st;
    struct identity_config cfg;
    /* password hashing slots */
    pthread_mutex_t hash_lock;
    pthread_cond_t hash_cond;
    int hashes_running;
    /* login rate limits */
    pthread_mutex_t rate_lock;
    struct map rate_account; /* lower(email) -> struct rate_entry* (failures) */
    struct map rate_addr;    /* address -> struct rate_entry* (attempts) */
    /* verified tokens */
    pthread_mutex_t cache_lock;
    struct map cache; /* key id -> struct token_cache_entry* */
};

/* Hashes or verifies a password inside a bounded slot (blocks while all slots are busy). */
int identity_hash_password(struct identity *id, const char *password, char *out);
bool identity_verify_password(struct identity *id, const char *hash, const char *password);
/* Drops every cached token of a user (roles or status changed) or one key. */
void identity_cache_forget(struct identity *id, const char *key_id);

#endif
