/* chats.c - chats and their workspace binding. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define CHAT_COLS STORE_CHAT_COLS_P("")
#define CHAT_INSERT_COLS                                                                           \
    "id, owner_id, title, status, workspace_id, build_id, agent_id, created_at, updated_at"

static const char *const status_names[] = {"waiting", "pending", "running", "error"};

const char *chat_status_name(enum chat_status s)
{
    return (size_t)s < sizeof status_names / sizeof status_names[0] ? status_names[s] : "waiting";
}

int chat_status_parse(const char *s, enum chat_status *out)
{
    for (size_t i = 0; s && i < sizeof status_names / sizeof status_names[0]; i++) {
        if (strcmp(s, status_names[i]) == 0) {
            *out = (enum chat_status)i;
            return 0;
        }
    }
    return -1;
}

void chat_clear(struct chat *c)
{
    free(c->title);
    free(c->last_error);
    memset(c, 0, sizeof *c);
}

/* An id to bind: "" means none (SQL NULL). */
static const char *id_or_null(const char *id)
{
    return id && *id ? id : NULL;
}

void store_chat_read(struct db_q *q, struct chat *c)
{
    memset(c, 0, sizeof *c);
    db_col_copy(q, 0, c->id, sizeof c->id);
    db_col_copy(q, 1, c->owner_id, sizeof c->owner_id);
    c->title = db_col_dup(q, 2);
    chat_status_parse(db_col_text(q, 3), &c->status);
    db_col_copy(q, 4, c->workspace_id, sizeof c->workspace_id);
    db_col_copy(q, 5, c->build_id, sizeof c->build_id);
    db_col_copy(q, 6, c->agent_id, sizeof c->agent_id);
    c->created_at = db_col_int(q, 7);
    c->updated_at = db_col_int(q, 8);
    c->last_error = db_col_null(q, 9) ? NULL : db_col_dup(q, 9);
    c->attempts = (int)db_col_int(q, 10);
}

int store_chat_insert(struct store *st, const struct chat *c, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO chats (" CHAT_INSERT_COLS
                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, c->id);
    db_bind_text(&q, 2, c->owner_id);
    db_bind_text(&q, 3, c->title ? c->title : "");
    db_bind_text(&q, 4, chat_status_name(c->status));
    db_bind_text(&q, 5, id_or_null(c->workspace_id));
    db_bind_text(&q, 6, id_or_null(c->build_id));
    db_bind_text(&q, 7, id_or_null(c->agent_id));
    db_bind_int(&q, 8, c->created_at);
    db_bind_int(&q, 9, c->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_chat_get(struct store *st, const char *id, struct chat *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " CHAT_COLS " FROM chats WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "chat", e) < 0)
        return -1;
    store_chat_read(&q, out);
    db_end(&q);
    return 0;
}

int store_chat_list(struct store *st, const char *owner_id, struct chat_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " CHAT_COLS " FROM chats WHERE owner_id = ?1"
                 " ORDER BY updated_at DESC, id DESC",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, owner_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        store_chat_read(&q, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        chat_list_free(out);
        return -1;
    }
    return 0;
}

void chat_list_free(struct chat_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        chat_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int store_chat_bind(struct store *st, const char *id, const char *workspace_id,
                    const char *build_id, const char *agent_id, int64_t now, struct chat *out,
                    struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE chats SET workspace_id = ?2, build_id = ?3, agent_id = ?4, updated_at = ?5"
                 " WHERE id = ?1 RETURNING " CHAT_COLS,
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, id_or_null(workspace_id));
    db_bind_text(&q, 3, id_or_null(build_id));
    db_bind_text(&q, 4, id_or_null(agent_id));
    db_bind_int(&q, 5, now);
    if (db_one(&q, "chat", e) < 0)
        return -1;
    if (out)
        store_chat_read(&q, out);
    db_end(&q);
    return 0;
}

int store_chat_bind_agent(struct store *st, const char *id, const char *build_id,
                          const char *agent_id, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "UPDATE chats SET build_id = ?2, agent_id = ?3 WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, id_or_null(build_id));
    db_bind_text(&q, 3, id_or_null(agent_id));
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "chat not found");
    return 0;
}
