/* login.c - password login with per-account and per-address limits. */
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "identity/internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW_US     (60LL * 1000000)
#define RATE_SWEEP_AT 10000

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[SECURE_PASSWORD_HASH_MAX];

/* A hash to verify against when the e-mail is unknown, so both mistakes cost the same. */
static void make_dummy_hash(void)
{
    char pw[33];
    secure_token(pw, 32);
    if (secure_password_hash(pw, dummy_hash) < 0)
        dummy_hash[0] = '\0';
}

static void sweep(struct map *m, int64_t now)
{
    if (m->len < RATE_SWEEP_AT)
        return;
    struct map fresh = MAP_INIT;
    for (size_t i = 0; i < m->cap; i++) {
        struct map_slot *s = &m->slots[i];
        if (!s->key || !s->value)
            continue;
        struct rate_entry *r = s->value;
        if (now - r->window_start_us < WINDOW_US) {
            map_put(&fresh, s->key, r);
            s->value = NULL;
        }
    }
    map_free(m, free);
    *m = fresh;
}

/* Current count in the window for key (0 when none or expired). */
static int rate_count(struct map *m, const char *key, int64_t now)
{
    struct rate_entry *r = map_get(m, key);
    if (!r || now - r->window_start_us >= WINDOW_US)
        return 0;
    return r->count;
}

static void rate_add(struct map *m, const char *key, int64_t now)
{
    struct rate_entry *r = map_get(m, key);
    if (!r) {
        sweep(m, now);
        r = xcalloc(1, sizeof *r);
        map_put(m, key, r);
    }
    if (now - r->window_start_us >= WINDOW_US) {
        r->window_start_us = now;
        r->count = 0;
    }
    r->count++;
}

int identity_login(struct identity *id, const char *email, const char *password, const char *peer,
                   char token[TOKEN_STR_LEN], struct err *e)
{
    if (!email || !*email || !password || !*password)
        return err_set(e, ERR_UNAUTHORIZED, "Incorrect email or password.");
    char account[EMAIL_MAX_LEN + 1];
    str_copy(account, sizeof account, email);
    str_lower(account);
    int64_t now = time_mono_us();
    pthread_mutex_lock(&id->rate_lock);
    bool limited =
        rate_count(&id->rate_account, account, now) >= id->cfg.login_failures_per_min ||
        rate_count(&id->rate_addr, peer ? peer : "", now) >= id->cfg.login_attempts_per_addr;
    if (!limited)
        rate_add(&id->rate_addr, peer ? peer : "", now);
    pthread_mutex_unlock(&id->rate_lock);
    if (limited) {
        log_warn("identity", "login rate limited account=%s addr=%s", account, peer ? peer : "");
        return err_set(e, ERR_RATE_LIMITED,
                       "Too many login attempts. Wait a minute before trying again.");
    }

    struct user u;
    struct err le = ERR_INIT;
    bool found = store_user_get_by_email(id->st, email, &u, &le) == 0;
    if (!found && !err_is(&le, ERR_NOT_FOUND))
        return err_move(e, &le);
    err_clear(&le);
    bool ok;
    if (found) {
        ok = identity_verify_password(id, u.hashed_password, password);
    } else {
        pthread_once(&dummy_once, make_dummy_hash);
        identity_verify_password(id, dummy_hash, password);
        ok = false;
    }
    if (!ok) {
        pthread_mutex_lock(&id->rate_lock);
        rate_add(&id->rate_account, account, time_mono_us());
        pthread_mutex_unlock(&id->rate_lock);
        return err_set(e, ERR_UNAUTHORIZED, "Incorrect email or password.");
    }
    if (u.status == USER_SUSPENDED)
        return err_set(e, ERR_UNAUTHORIZED,
                       "Your account is suspended. Contact an admin to reactivate your account.");
    return identity_issue_token(id, u.id, LOGIN_PASSWORD, NULL, 0, token, e);
}
