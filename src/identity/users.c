/* users.c - creating users, and the bounded password hashing they and logins need. */
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "identity/internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct identity *identity_new(struct store *st, const struct identity_config *cfg)
{
    struct identity *id = xcalloc(1, sizeof *id);
    id->st = st;
    if (cfg)
        id->cfg = *cfg;
    if (id->cfg.hash_concurrency <= 0)
        id->cfg.hash_concurrency = 2;
    if (id->cfg.login_failures_per_min <= 0)
        id->cfg.login_failures_per_min = 10;
    if (id->cfg.login_attempts_per_addr <= 0)
        id->cfg.login_attempts_per_addr = 60;
    if (id->cfg.token_cache_ms <= 0)
        id->cfg.token_cache_ms = 10000;
    pthread_mutex_init(&id->hash_lock, NULL);
    pthread_cond_init(&id->hash_cond, NULL);
    pthread_mutex_init(&id->rate_lock, NULL);
    pthread_mutex_init(&id->cache_lock, NULL);
    return id;
}

void identity_free(struct identity *id)
{
    if (!id)
        return;
    map_free(&id->rate_account, free);
    map_free(&id->rate_addr, free);
    map_free(&id->cache, free);
    pthread_mutex_destroy(&id->hash_lock);
    pthread_cond_destroy(&id->hash_cond);
    pthread_mutex_destroy(&id->rate_lock);
    pthread_mutex_destroy(&id->cache_lock);
    free(id);
}

static void slot_acquire(struct identity *id)
{
    pthread_mutex_lock(&id->hash_lock);
    while (id->hashes_running >= id->cfg.hash_concurrency)
        pthread_cond_wait(&id->hash_cond, &id->hash_lock);
    id->hashes_running++;
    pthread_mutex_unlock(&id->hash_lock);
}

static void slot_release(struct identity *id)
{
    pthread_mutex_lock(&id->hash_lock);
    id->hashes_running--;
    pthread_cond_signal(&id->hash_cond);
    pthread_mutex_unlock(&id->hash_lock);
}

int identity_hash_password(struct identity *id, const char *password, char *out)
{
    slot_acquire(id);
    int r = secure_password_hash(password, out);
    slot_release(id);
    return r;
}

bool identity_verify_password(struct identity *id, const char *hash, const char *password)
{
    slot_acquire(id);
    bool ok = secure_password_verify(hash, password);
    slot_release(id);
    return ok;
}

static bool username_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 32 || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '-') {
            if (s[i + 1] == '-')
                return false;
        } else if (!isalnum((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool email_valid(const char *s)
{
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n < 3 || n > EMAIL_MAX_LEN || !at || at == s || !at[1] || strchr(at + 1, '@'))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
            return false;
    return true;
}

static int invalid(struct err *e, const char *field, const char *detail)
{
    err_set(e, ERR_BAD_REQUEST, "Validation failed.");
    err_detail(e, "%s: %s", field, detail);
    err_add_validation(e, field, "%s", detail);
    return -1;
}

int identity_check_new_user(const char *email, const char *username, const char *password,
                            struct err *e)
{
    if (!username || !*username)
        return invalid(e, "username", "is required");
    if (!username_valid(username))
        return invalid(e, "username",
                       "must be 1 to 32 letters, digits and single hyphens, not starting or "
                       "ending with a hyphen");
    if (!email || !*email)
        return invalid(e, "email", "is required");
    if (!email_valid(email))
        return invalid(e, "email", "must be a valid e-mail address");
    if (!password || !*password)
        return invalid(e, "password", "is required");
    size_t n = strlen(password);
    if (n < 8)
        return invalid(e, "password", "must be at least 8 characters");
    if (n > 256)
        return invalid(e, "password", "must be at most 256 bytes");
    return 0;
}

/* Inserts a user inside the caller's transaction, reporting which field clashes. */
static int insert_user(struct identity *id, struct user *u, struct err *e)
{
    struct user other;
    if (store_user_get_by_email(id->st, u->email, &other, NULL) == 0) {
        err_set(e, ERR_CONFLICT, "A user with this email already exists.");
        err_add_validation(e, "email", "is already in use");
        return -1;
    }
    if (store_user_get_by_username(id->st, u->username, &other, NULL) == 0) {
        err_set(e, ERR_CONFLICT, "A user with this username already exists.");
        err_add_validation(e, "username", "is already in use");
        return -1;
    }
    return store_user_insert(id->st, u, e);
}

static int create(struct identity *id, bool first, const char *email, const char *username,
                  const char *password, unsigned roles, struct user *out, struct err *e)
{
    if (identity_check_new_user(email, username, password, e) < 0)
        return -1;
    struct user u;
    memset(&u, 0, sizeof u);
    uuid_v7(u.id);
    str_copy(u.username, sizeof u.username, username);
    str_copy(u.email, sizeof u.email, email);
    u.roles = roles;
    u.status = USER_ACTIVE;
    u.created_at = u.updated_at = time_now_us();
    if (identity_hash_password(id, password, u.hashed_password) < 0)
        return err_set(e, ERR_INTERNAL, "hash password failed");
    if (store_tx_begin(id->st, e) < 0)
        return -1;
    if (first) {
        int64_t n;
        if (store_user_count(id->st, &n, e) < 0)
            goto fail;
        if (n > 0) {
            err_set(e, ERR_CONFLICT, "The initial user has already been created.");
            goto fail;
        }
    }
    if (insert_user(id, &u, e) < 0 || store_tx_commit(id->st, e) < 0)
        goto fail;
    if (out)
        *out = u;
    return 0;
fail:
    store_tx_rollback(id->st);
    return -1;
}

int identity_create_first_user(struct identity *id, const char *email, const char *username,
                               const char *password, struct user *out, struct err *e)
{
    return create(id, true, email, username, password, ROLE_OWNER, out, e);
}

int identity_create_user(struct identity *id, const char *email, const char *username,
                         const char *password, unsigned roles, struct user *out, struct err *e)
{
    return create(id, false, email, username, password, roles, out, e);
}
