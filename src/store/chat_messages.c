/* chat_messages.c - a chat's conversation, the messages queued while a turn runs, and the turns
 * chat workers claim with a lease (see store.h, "chat messages and turns"). */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define CHAT_COLS    STORE_CHAT_COLS_P("")
#define MESSAGE_COLS "id, chat_id, role, parts, created_at"

static const char *const role_names[] = {"user", "assistant", "tool"};

const char *chat_role_name(enum chat_role r)
{
    return (size_t)r < sizeof role_names / sizeof role_names[0] ? role_names[r] : "user";
}

int chat_role_parse(const char *s, enum chat_role *out)
{
    for (size_t i = 0; s && i < sizeof role_names / sizeof role_names[0]; i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum chat_role)i;
            return 0;
        }
    }
    return -1;
}

void chat_message_clear(struct chat_message *m)
{
    free(m->parts);
    memset(m, 0, sizeof *m);
}

void chat_message_list_free(struct chat_message_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        chat_message_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static void message_read(struct db_q *q, struct chat_message *m)
{
    memset(m, 0, sizeof *m);
    m->id = db_col_int(q, 0);
    db_col_copy(q, 1, m->chat_id, sizeof m->chat_id);
    chat_role_parse(db_col_text(q, 2), &m->role);
    m->parts = db_col_dup(q, 3);
    m->created_at = db_col_int(q, 4);
}

static int insert_message(struct store *st, struct chat_message *m, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO chat_messages (chat_id, role, parts, created_at)"
                 " VALUES (?1, ?2, ?3, ?4) RETURNING id",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, m->chat_id);
    db_bind_text(&q, 2, chat_role_name(m->role));
    db_bind_text(&q, 3, m->parts ? m->parts : "[]");
    db_bind_int(&q, 4, m->created_at);
    if (db_one(&q, "chat message", e) < 0)
        return -1;
    m->id = db_col_int(&q, 0);
    while (db_step(&q, NULL) > 0)
        ;
    db_end(&q);
    return 0;
}

int store_chat_message_insert(struct store *st, struct chat_message *m, struct err *e)
{
    return insert_message(st, m, e);
}

int store_chat_messages_after(struct store *st, const char *chat_id, int64_t after, int limit,
                              struct chat_message_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " MESSAGE_COLS " FROM chat_messages WHERE chat_id = ?1 AND id > ?2"
                 " ORDER BY id LIMIT ?3",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, chat_id);
    db_bind_int(&q, 2, after);
    db_bind_int(&q, 3, limit > 0 ? limit : -1);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        message_read(&q, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        chat_message_list_free(out);
        return -1;
    }
    return 0;
}

int store_chat_message_last_id(struct store *st, const char *chat_id, int64_t *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT COALESCE(MAX(id), 0) FROM chat_messages WHERE chat_id = ?1", e) <
        0)
        return -1;
    db_bind_text(&q, 1, chat_id);
    if (db_one(&q, "chat message", e) < 0)
        return -1;
    *out = db_col_int(&q, 0);
    db_end(&q);
    return 0;
}

/* The chat's status, read inside the caller's transaction. */
static int status_of(struct store *st, const char *chat_id, enum chat_status *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT status FROM chats WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, chat_id);
    if (db_one(&q, "chat", e) < 0)
        return -1;
    chat_status_parse(db_col_text(&q, 0), out);
    db_end(&q);
    return 0;
}

int store_chat_post(struct store *st, struct chat_message *m, int max_queued, bool *queued,
                    struct err *e)
{
    *queued = false;
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    enum chat_status status;
    struct db_q q;
    if (status_of(st, m->chat_id, &status, e) < 0)
        goto fail;
    if (status == CHAT_RUNNING) {
        if (db_query(&q, st, "SELECT COUNT(*) FROM chat_queued_messages WHERE chat_id = ?1", e) < 0)
            goto fail;
        db_bind_text(&q, 1, m->chat_id);
        if (db_one(&q, "queued messages", e) < 0)
            goto fail;
        int64_t n = db_col_int(&q, 0);
        db_end(&q);
        if (n >= max_queued) {
            err_set(e, ERR_CONFLICT,
                    "This chat already has %d queued messages; wait for the current turn to end.",
                    max_queued);
            goto fail;
        }
        if (db_query(&q, st,
                     "INSERT INTO chat_queued_messages (chat_id, parts, created_at)"
                     " VALUES (?1, ?2, ?3) RETURNING id",
                     e) < 0)
            goto fail;
        db_bind_text(&q, 1, m->chat_id);
        db_bind_text(&q, 2, m->parts ? m->parts : "[]");
        db_bind_int(&q, 3, m->created_at);
        if (db_one(&q, "queued message", e) < 0)
            goto fail;
        m->id = db_col_int(&q, 0);
        while (db_step(&q, NULL) > 0)
            ;
        db_end(&q);
        *queued = true;
    } else {
        if (insert_message(st, m, e) < 0)
            goto fail;
        if (db_query(&q, st,
                     "UPDATE chats SET status = 'pending', last_error = NULL, attempts = 0,"
                     " updated_at = ?2 WHERE id = ?1",
                     e) < 0)
            goto fail;
        db_bind_text(&q, 1, m->chat_id);
        db_bind_int(&q, 2, m->created_at);
        if (db_run(&q, e) < 0)
            goto fail;
    }
    if (opened && store_tx_commit(st, e) < 0)
        return -1;
    return 0;
fail:
    if (opened)
        store_tx_rollback(st);
    return -1;
}

int store_chat_claim(struct store *st, const char *worker_id, const char *replica_id, int64_t now,
                     int64_t lease_ms, struct chat *out, struct err *e)
{
    struct db_q q;
    /* In the SET list, status and attempts are the row's values before the update. */
    if (db_query(&q, st,
                 "UPDATE chats SET status = 'running', worker_id = ?1,"
                 " lease_expires_at = ?3 + ?4 * 1000, interrupt_requested_at = NULL,"
                 " attempts = CASE WHEN status = 'running' THEN attempts + 1 ELSE 1 END"
                 " WHERE id = (SELECT id FROM chats WHERE status = 'pending'"
                 "  OR (status = 'running' AND (lease_expires_at < ?3"
                 "   OR (substr(worker_id, 1, length(?2) + 1) = ?2 || ':' AND worker_id <> ?1)))"
                 "  ORDER BY updated_at, id LIMIT 1)"
                 " RETURNING " CHAT_COLS,
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, worker_id);
    db_bind_text(&q, 2, replica_id);
    db_bind_int(&q, 3, now);
    db_bind_int(&q, 4, lease_ms);
    int r = db_step(&q, e);
    if (r > 0) {
        store_chat_read(&q, out);
        while (db_step(&q, NULL) > 0)
            ;
    }
    db_end(&q);
    return r;
}

int store_chat_heartbeat(struct store *st, const char *id, const char *worker_id, int64_t now,
                         int64_t lease_ms, bool *interrupted, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE chats SET lease_expires_at = ?3 + ?4 * 1000"
                 " WHERE id = ?1 AND worker_id = ?2 AND status = 'running'"
                 " RETURNING interrupt_requested_at",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, worker_id);
    db_bind_int(&q, 3, now);
    db_bind_int(&q, 4, lease_ms);
    int r = db_step(&q, e);
    if (r > 0) {
        if (interrupted)
            *interrupted = !db_col_null(&q, 0);
        while (db_step(&q, NULL) > 0)
            ;
    }
    db_end(&q);
    if (r < 0)
        return -1;
    if (r == 0)
        return err_set(e, ERR_CONFLICT, "the chat's turn is no longer this worker's");
    return 0;
}

int store_chat_finish(struct store *st, const char *id, const char *worker_id, const char *error,
                      int64_t now, bool *requeued, struct chat *out, struct err *e)
{
    *requeued = false;
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE chats SET worker_id = NULL, lease_expires_at = NULL,"
                 " interrupt_requested_at = NULL, attempts = 0, updated_at = ?3,"
                 " status = CASE WHEN EXISTS (SELECT 1 FROM chat_queued_messages"
                 "  WHERE chat_id = ?1) THEN 'pending' WHEN ?4 IS NULL THEN 'waiting'"
                 "  ELSE 'error' END,"
                 " last_error = CASE WHEN EXISTS (SELECT 1 FROM chat_queued_messages"
                 "  WHERE chat_id = ?1) THEN NULL ELSE ?4 END"
                 " WHERE id = ?1 AND worker_id = ?2 AND status = 'running'"
                 " RETURNING " CHAT_COLS,
                 e) < 0)
        goto fail;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, worker_id);
    db_bind_int(&q, 3, now);
    db_bind_text(&q, 4, error);
    int r = db_step(&q, e);
    struct chat c;
    if (r > 0) {
        store_chat_read(&q, &c);
        while (db_step(&q, NULL) > 0)
            ;
    }
    db_end(&q);
    if (r < 0)
        goto fail;
    if (r == 0) {
        err_set(e, ERR_CONFLICT, "the chat's turn is no longer this worker's");
        goto fail;
    }
    if (c.status == CHAT_PENDING) {
        /* The queued messages join the conversation in the order they were sent. */
        if (db_query(&q, st,
                     "INSERT INTO chat_messages (chat_id, role, parts, created_at)"
                     " SELECT chat_id, 'user', parts, created_at FROM chat_queued_messages"
                     " WHERE chat_id = ?1 ORDER BY id",
                     e) < 0)
            goto fail_chat;
        db_bind_text(&q, 1, id);
        if (db_run(&q, e) < 0)
            goto fail_chat;
        if (db_query(&q, st, "DELETE FROM chat_queued_messages WHERE chat_id = ?1", e) < 0)
            goto fail_chat;
        db_bind_text(&q, 1, id);
        if (db_run(&q, e) < 0)
            goto fail_chat;
        *requeued = true;
    }
    if (opened && store_tx_commit(st, e) < 0) {
        chat_clear(&c);
        *requeued = false;
        return -1;
    }
    if (out)
        *out = c;
    else
        chat_clear(&c);
    return 0;
fail_chat:
    chat_clear(&c);
    *requeued = false;
fail:
    if (opened)
        store_tx_rollback(st);
    return -1;
}

int store_chat_release(struct store *st, const char *id, const char *worker_id, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE chats SET status = 'pending', worker_id = NULL, lease_expires_at = NULL"
                 " WHERE id = ?1 AND worker_id = ?2 AND status = 'running'",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, worker_id);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_CONFLICT, "the chat's turn is no longer this worker's");
    return 0;
}

int store_chat_interrupt(struct store *st, const char *id, int64_t now, enum chat_status *was,
                         struct err *e)
{
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    struct db_q q;
    if (status_of(st, id, was, e) < 0)
        goto fail;
    if (*was == CHAT_PENDING || *was == CHAT_RUNNING) {
        if (db_query(&q, st,
                     "UPDATE chats SET"
                     " status = CASE WHEN status = 'pending' THEN 'waiting' ELSE status END,"
                     " updated_at = CASE WHEN status = 'pending' THEN ?2 ELSE updated_at END,"
                     " interrupt_requested_at = CASE WHEN status = 'running' THEN ?2 END"
                     " WHERE id = ?1",
                     e) < 0)
            goto fail;
        db_bind_text(&q, 1, id);
        db_bind_int(&q, 2, now);
        if (db_run(&q, e) < 0)
            goto fail;
    }
    if (opened && store_tx_commit(st, e) < 0)
        return -1;
    return 0;
fail:
    if (opened)
        store_tx_rollback(st);
    return -1;
}

int store_chat_context_get(struct store *st, const char *id, char **out, struct err *e)
{
    *out = NULL;
    struct db_q q;
    if (db_query(&q, st, "SELECT context FROM chats WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "chat", e) < 0)
        return -1;
    if (!db_col_null(&q, 0))
        *out = db_col_dup(&q, 0);
    db_end(&q);
    return 0;
}

int store_chat_context_set(struct store *st, const char *id, const char *context, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "UPDATE chats SET context = ?2 WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, context);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_NOT_FOUND, "chat not found");
    return 0;
}

int store_chat_queued_count(struct store *st, const char *id, int64_t *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT COUNT(*) FROM chat_queued_messages WHERE chat_id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "queued messages", e) < 0)
        return -1;
    *out = db_col_int(&q, 0);
    db_end(&q);
    return 0;
}
