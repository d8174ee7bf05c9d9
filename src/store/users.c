/* users.c - users and API keys. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define USER_COLS                                                                                  \
    "id, username, email, hashed_password, roles, status, deleted, created_at, updated_at"

static enum user_status status_parse(const char *s)
{
    return strcmp(s, "suspended") == 0 ? USER_SUSPENDED
           : strcmp(s, "dormant") == 0 ? USER_DORMANT
                                       : USER_ACTIVE;
}

static void user_read(struct db_q *q, struct user *u)
{
    memset(u, 0, sizeof *u);
    db_col_copy(q, 0, u->id, sizeof u->id);
    db_col_copy(q, 1, u->username, sizeof u->username);
    db_col_copy(q, 2, u->email, sizeof u->email);
    db_col_copy(q, 3, u->hashed_password, sizeof u->hashed_password);
    u->roles = (unsigned)db_col_int(q, 4);
    u->status = status_parse(db_col_text(q, 5));
    u->deleted = db_col_bool(q, 6);
    u->created_at = db_col_int(q, 7);
    u->updated_at = db_col_int(q, 8);
}

void user_clear(struct user *u)
{
    memset(u, 0, sizeof *u);
}

int store_user_insert(struct store *st, const struct user *u, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, u->id);
    db_bind_text(&q, 2, u->username);
    db_bind_text(&q, 3, u->email);
    db_bind_text(&q, 4, u->hashed_password);
    db_bind_int(&q, 5, u->roles);
    db_bind_text(&q, 6, user_status_name(u->status));
    db_bind_bool(&q, 7, u->deleted);
    db_bind_int(&q, 8, u->created_at);
    db_bind_int(&q, 9, u->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int user_get_by(struct store *st, const char *sql, const char *key, struct user *out,
                       struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, sql, e) < 0)
        return -1;
    db_bind_text(&q, 1, key);
    if (db_one(&q, "user", e) < 0)
        return -1;
    user_read(&q, out);
    db_end(&q);
    return 0;
}

int store_user_get(struct store *st, const char *id, struct user *out, struct err *e)
{
    return user_get_by(st, "SELECT " USER_COLS " FROM users WHERE id = ?1", id, out, e);
}

int store_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e)
{
    return user_get_by(
        st, "SELECT " USER_COLS " FROM users WHERE lower(email) = lower(?1) AND deleted = 0", email,
        out, e);
}

int store_user_get_by_username(struct store *st, const char *username, struct user *out,
                               struct err *e)
{
    return user_get_by(
        st, "SELECT " USER_COLS " FROM users WHERE lower(username) = lower(?1) AND deleted = 0",
        username, out, e);
}

int store_user_count(struct store *st, int64_t *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT COUNT(*) FROM users WHERE deleted = 0", e) < 0)
        return -1;
    if (db_one(&q, "user count", e) < 0)
        return -1;
    *out = db_col_int(&q, 0);
    db_end(&q);
    return 0;
}

int store_user_list(struct store *st, struct user_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " USER_COLS " FROM users WHERE deleted = 0 ORDER BY created_at, id",
                 e) < 0)
        return -1;
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        user_read(&q, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        user_list_free(out);
        return -1;
    }
    return 0;
}

void user_list_free(struct user_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- API keys ---- */

#define KEY_COLS                                                                                   \
    "id, hashed_secret, user_id, login_type, token_name, lifetime_seconds, expires_at, "           \
    "last_used, created_at, updated_at"

int store_api_key_insert(struct store *st, const struct api_key *k, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO api_keys (" KEY_COLS
                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, k->id);
    db_bind_blob(&q, 2, k->hashed_secret, sizeof k->hashed_secret);
    db_bind_text(&q, 3, k->user_id);
    db_bind_text(&q, 4, k->login_type == LOGIN_TOKEN ? "token" : "password");
    db_bind_text(&q, 5, k->token_name);
    db_bind_int(&q, 6, k->lifetime_seconds);
    db_bind_int(&q, 7, k->expires_at);
    db_bind_int(&q, 8, k->last_used);
    db_bind_int(&q, 9, k->created_at);
    db_bind_int(&q, 10, k->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_api_key_get(struct store *st, const char *id, struct api_key *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " KEY_COLS " FROM api_keys WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "API key", e) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    db_col_copy(&q, 0, out->id, sizeof out->id);
    size_t n;
    const void *h = db_col_blob(&q, 1, &n);
    if (h && n == sizeof out->hashed_secret)
        memcpy(out->hashed_secret, h, n);
    db_col_copy(&q, 2, out->user_id, sizeof out->user_id);
    out->login_type = strcmp(db_col_text(&q, 3), "token") == 0 ? LOGIN_TOKEN : LOGIN_PASSWORD;
    db_col_copy(&q, 4, out->token_name, sizeof out->token_name);
    out->lifetime_seconds = db_col_int(&q, 5);
    out->expires_at = db_col_int(&q, 6);
    out->last_used = db_col_int(&q, 7);
    out->created_at = db_col_int(&q, 8);
    out->updated_at = db_col_int(&q, 9);
    db_end(&q);
    return 0;
}

int store_api_key_touch(struct store *st, const char *id, int64_t last_used, int64_t expires_at,
                        struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE api_keys SET last_used = ?2, updated_at = ?2,"
                 " expires_at = CASE WHEN ?3 = 0 THEN expires_at ELSE ?3 END WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, last_used);
    db_bind_int(&q, 3, expires_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_api_key_delete(struct store *st, const char *id, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "DELETE FROM api_keys WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "API key not found");
}
