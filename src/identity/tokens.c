/* tokens.c - issuing and verifying API tokens, with a short-lived cache on the read path. */
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "identity/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAST_USED_EVERY_US          (3600LL * 1000000) /* write last_used at most hourly */
#define NAMED_TOKEN_DEFAULT_SECONDS (30LL * 24 * 3600)

struct token_cache_entry {
    unsigned char hashed_secret[SECURE_SHA256_LEN];
    struct subject subject;
    int64_t expires_at;
    int64_t last_used;
    int64_t lifetime_seconds;
    enum login_type login_type;
    int64_t cached_until_mono;
};

int identity_issue_token(struct identity *id, const char *user_id, enum login_type type,
                         const char *name, int64_t lifetime_seconds, char token[TOKEN_STR_LEN],
                         struct err *e)
{
    if (lifetime_seconds < 0)
        return err_set(e, ERR_BAD_REQUEST, "Token lifetime must not be negative.");
    if (lifetime_seconds > TOKEN_MAX_LIFETIME_SECONDS)
        return err_set(e, ERR_BAD_REQUEST, "Token lifetime must be at most %lld seconds.",
                       (long long)TOKEN_MAX_LIFETIME_SECONDS);
    if (lifetime_seconds == 0)
        lifetime_seconds =
            type == LOGIN_TOKEN ? NAMED_TOKEN_DEFAULT_SECONDS : SESSION_LIFETIME_SECONDS;
    struct api_key k;
    memset(&k, 0, sizeof k);
    char secret[API_KEY_SECRET_LEN + 1];
    secure_token(k.id, API_KEY_ID_LEN);
    secure_token(secret, API_KEY_SECRET_LEN);
    secure_sha256(secret, API_KEY_SECRET_LEN, k.hashed_secret);
    str_copy(k.user_id, sizeof k.user_id, user_id);
    k.login_type = type;
    str_copy(k.token_name, sizeof k.token_name, name ? name : "");
    k.lifetime_seconds = lifetime_seconds;
    int64_t now = time_now_us();
    k.expires_at = now + lifetime_seconds * 1000000;
    k.last_used = k.created_at = k.updated_at = now;
    if (store_api_key_insert(id->st, &k, e) < 0) {
        if (err_is(e, ERR_CONFLICT)) {
            err_set(e, ERR_CONFLICT, "A token with name \"%s\" already exists.", k.token_name);
            err_add_validation(e, "token_name", "is already in use");
        }
        return -1;
    }
    snprintf(token, TOKEN_STR_LEN, "%s-%s", k.id, secret);
    return 0;
}

static int unauthorized(struct err *e, const char *msg, const char *detail)
{
    err_set(e, ERR_UNAUTHORIZED, "%s", msg);
    if (detail)
        err_detail(e, "%s", detail);
    return -1;
}

/* Splits "<id>-<secret>", checking lengths and characters. */
static bool parse_token(const char *token, char id[API_KEY_ID_LEN + 1],
                        char secret[API_KEY_SECRET_LEN + 1])
{
    if (!token || strlen(token) != API_KEY_ID_LEN + 1 + API_KEY_SECRET_LEN ||
        token[API_KEY_ID_LEN] != '-')
        return false;
    for (size_t i = 0; i < API_KEY_ID_LEN + 1 + API_KEY_SECRET_LEN; i++)
        if (i != API_KEY_ID_LEN && !isalnum((unsigned char)token[i]))
            return false;
    memcpy(id, token, API_KEY_ID_LEN);
    id[API_KEY_ID_LEN] = '\0';
    memcpy(secret, token + API_KEY_ID_LEN + 1, API_KEY_SECRET_LEN);
    secret[API_KEY_SECRET_LEN] = '\0';
    return true;
}

static const char *signed_out =
    "You are signed out or your session has expired. Please sign in again to continue.";

/* Loads a key and its user from the store into a cache entry. */
static int load_entry(struct identity *id, const char *key_id, struct token_cache_entry *ent,
                      struct err *e)
{
    struct api_key k;
    struct err le = ERR_INIT;
    if (store_api_key_get(id->st, key_id, &k, &le) < 0) {
        bool missing = err_is(&le, ERR_NOT_FOUND);
        err_move(e, &le);
        return missing ? unauthorized(e, "Invalid API key.", "API key not found.") : -1;
    }
    struct user u;
    if (store_user_get(id->st, k.user_id, &u, &le) < 0) {
        bool missing = err_is(&le, ERR_NOT_FOUND);
        err_move(e, &le);
        return missing ? unauthorized(e, "Invalid API key.", "The key's user no longer exists.")
                       : -1;
    }
    memset(ent, 0, sizeof *ent);
    memcpy(ent->hashed_secret, k.hashed_secret, sizeof ent->hashed_secret);
    ent->subject.kind = SUBJECT_USER;
    str_copy(ent->subject.user_id, sizeof ent->subject.user_id, u.id);
    str_copy(ent->subject.username, sizeof ent->subject.username, u.username);
    str_copy(ent->subject.api_key_id, sizeof ent->subject.api_key_id, k.id);
    ent->subject.roles = u.roles;
    ent->expires_at = k.expires_at;
    ent->last_used = k.last_used;
    ent->lifetime_seconds = k.lifetime_seconds;
    ent->login_type = k.login_type;
    if (u.deleted || u.status == USER_SUSPENDED)
        ent->expires_at = 0; /* never valid; cached so repeated attempts stay cheap */
    return 0;
}

int identity_authenticate(struct identity *id, const char *token, struct subject *out,
                          struct err *e)
{
    char key_id[API_KEY_ID_LEN + 1], secret[API_KEY_SECRET_LEN + 1];
    if (!parse_token(token, key_id, secret))
        return unauthorized(e, "Invalid API key.",
                            "The token must look like <10-character id>-<22-character secret>.");
    int64_t mono = time_mono_us();
    struct token_cache_entry ent;
    pthread_mutex_lock(&id->cache_lock);
    struct token_cache_entry *c = map_get(&id->cache, key_id);
    bool hit = c && c->cached_until_mono > mono;
    if (hit)
        ent = *c;
    pthread_mutex_unlock(&id->cache_lock);
    if (!hit) {
        if (load_entry(id, key_id, &ent, e) < 0)
            return -1;
        ent.cached_until_mono = mono + id->cfg.token_cache_ms * 1000;
        pthread_mutex_lock(&id->cache_lock);
        struct token_cache_entry *slot = map_get(&id->cache, key_id);
        if (!slot) {
            slot = xmalloc(sizeof *slot);
            map_put(&id->cache, key_id, slot);
        }
        *slot = ent;
        pthread_mutex_unlock(&id->cache_lock);
    }
    unsigned char h[SECURE_SHA256_LEN];
    secure_sha256(secret, API_KEY_SECRET_LEN, h);
    if (!secure_equal(h, ent.hashed_secret, sizeof h))
        return unauthorized(e, "Invalid API key.", "API key secret is invalid.");
    int64_t now = time_now_us();
    if (ent.expires_at == 0)
        return unauthorized(e, "Your account is suspended or deleted.", NULL);
    if (now >= ent.expires_at) {
        char ts[TIME_STR_LEN];
        time_format(ent.expires_at, ts);
        err_set(e, ERR_UNAUTHORIZED, "%s", signed_out);
        return err_detail(e, "API key expired at \"%s\".", ts);
    }
    if (now - ent.last_used >= LAST_USED_EVERY_US) {
        /* Record use (and slide a session's expiry) at most once an hour. */
        int64_t expires =
            ent.login_type == LOGIN_PASSWORD ? now + ent.lifetime_seconds * 1000000 : 0;
        struct err te = ERR_INIT;
        if (store_api_key_touch(id->st, key_id, now, expires, &te) < 0)
            log_warn("identity", "record token use failed key=%s: %s", key_id, err_msg(&te));
        err_clear(&te);
        pthread_mutex_lock(&id->cache_lock);
        struct token_cache_entry *slot = map_get(&id->cache, key_id);
        if (slot) {
            slot->last_used = now;
            if (expires)
                slot->expires_at = expires;
        }
        pthread_mutex_unlock(&id->cache_lock);
    }
    *out = ent.subject;
    return 0;
}

void identity_cache_forget(struct identity *id, const char *key_id)
{
    pthread_mutex_lock(&id->cache_lock);
    free(map_del(&id->cache, key_id));
    pthread_mutex_unlock(&id->cache_lock);
}

int identity_revoke_token(struct identity *id, const char *key_id, struct err *e)
{
    int r = store_api_key_delete(id->st, key_id, e);
    identity_cache_forget(id, key_id);
    return r;
}
