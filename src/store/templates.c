/* templates.c - templates. */
#include "base/mem.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define TEMPLATE_COLS                                                                              \
    "id, name, display_name, description, icon, active_version_id, require_active_version, "       \
    "deprecated, default_ttl_ms, activity_bump_ms, allow_user_cancel_workspace_jobs, deleted, "    \
    "created_by, created_at, updated_at"

void template_row_clear(struct template_row *t)
{
    free(t->description);
    free(t->icon);
    free(t->deprecated);
    memset(t, 0, sizeof *t);
}

static void template_read(struct db_q *q, struct template_row *t)
{
    memset(t, 0, sizeof *t);
    db_col_copy(q, 0, t->id, sizeof t->id);
    db_col_copy(q, 1, t->name, sizeof t->name);
    db_col_copy(q, 2, t->display_name, sizeof t->display_name);
    t->description = db_col_dup(q, 3);
    t->icon = db_col_dup(q, 4);
    db_col_copy(q, 5, t->active_version_id, sizeof t->active_version_id);
    t->require_active_version = db_col_bool(q, 6);
    t->deprecated = db_col_dup(q, 7);
    t->default_ttl_ms = db_col_int(q, 8);
    t->activity_bump_ms = db_col_int(q, 9);
    t->allow_user_cancel_workspace_jobs = db_col_bool(q, 10);
    t->deleted = db_col_bool(q, 11);
    db_col_copy(q, 12, t->created_by, sizeof t->created_by);
    t->created_at = db_col_int(q, 13);
    t->updated_at = db_col_int(q, 14);
}

int store_template_insert(struct store *st, const struct template_row *t, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO templates (" TEMPLATE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
                 " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, t->id);
    db_bind_text(&q, 2, t->name);
    db_bind_text(&q, 3, t->display_name);
    db_bind_text(&q, 4, t->description ? t->description : "");
    db_bind_text(&q, 5, t->icon ? t->icon : "");
    db_bind_text(&q, 6, t->active_version_id);
    db_bind_bool(&q, 7, t->require_active_version);
    db_bind_text(&q, 8, t->deprecated ? t->deprecated : "");
    db_bind_int(&q, 9, t->default_ttl_ms);
    db_bind_int(&q, 10, t->activity_bump_ms);
    db_bind_bool(&q, 11, t->allow_user_cancel_workspace_jobs);
    db_bind_bool(&q, 12, t->deleted);
    db_bind_text(&q, 13, t->created_by);
    db_bind_int(&q, 14, t->created_at);
    db_bind_int(&q, 15, t->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int template_get_by(struct store *st, const char *sql, const char *key,
                           struct template_row *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, sql, e) < 0)
        return -1;
    db_bind_text(&q, 1, key);
    if (db_one(&q, "template", e) < 0)
        return -1;
    template_read(&q, out);
    db_end(&q);
    return 0;
}

int store_template_get(struct store *st, const char *id, struct template_row *out, struct err *e)
{
    return template_get_by(st, "SELECT " TEMPLATE_COLS " FROM templates WHERE id = ?1", id, out, e);
}

int store_template_get_by_name(struct store *st, const char *name, struct template_row *out,
                               struct err *e)
{
    return template_get_by(
        st, "SELECT " TEMPLATE_COLS " FROM templates WHERE lower(name) = lower(?1) AND deleted = 0",
        name, out, e);
}

int store_template_list(struct store *st, struct template_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " TEMPLATE_COLS " FROM templates WHERE deleted = 0 ORDER BY lower(name)",
                 e) < 0)
        return -1;
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        template_read(&q, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        template_list_free(out);
        return -1;
    }
    return 0;
}

void template_list_free(struct template_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        template_row_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int store_template_update(struct store *st, const struct template_row *t, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE templates SET display_name = ?2, description = ?3, icon = ?4,"
                 " require_active_version = ?5, deprecated = ?6, default_ttl_ms = ?7,"
                 " activity_bump_ms = ?8, allow_user_cancel_workspace_jobs = ?9, updated_at = ?10"
                 " WHERE id = ?1 AND deleted = 0",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, t->id);
    db_bind_text(&q, 2, t->display_name);
    db_bind_text(&q, 3, t->description ? t->description : "");
    db_bind_text(&q, 4, t->icon ? t->icon : "");
    db_bind_bool(&q, 5, t->require_active_version);
    db_bind_text(&q, 6, t->deprecated ? t->deprecated : "");
    db_bind_int(&q, 7, t->default_ttl_ms);
    db_bind_int(&q, 8, t->activity_bump_ms);
    db_bind_bool(&q, 9, t->allow_user_cancel_workspace_jobs);
    db_bind_int(&q, 10, t->updated_at);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "template not found");
}

int store_template_set_active_version(struct store *st, const char *id, const char *version_id,
                                      int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE templates SET active_version_id = ?2, updated_at = ?3"
                 " WHERE id = ?1 AND deleted = 0",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, version_id);
    db_bind_int(&q, 3, now);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "template not found");
}

int store_template_delete(struct store *st, const char *id, int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE templates SET deleted = 1, updated_at = ?2 WHERE id = ?1 AND deleted = 0",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, now);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "template not found");
}
