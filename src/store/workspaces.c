/* workspaces.c - workspaces, and the one-query view the Workspace JSON is rendered from. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define WS_COLS                                                                                    \
    "w.id, w.owner_id, w.template_id, w.name, w.deleted, w.autostart_schedule, w.ttl_ms, "         \
    "w.last_used_at, w.dormant_at, w.deleting_at, w.automatic_updates, w.created_at, "             \
    "w.updated_at"
#define WS_NCOLS 13

void workspace_clear(struct workspace *w)
{
    free(w->autostart_schedule);
    memset(w, 0, sizeof *w);
}

/* Reads WS_COLS starting at column c. */
static void ws_read(struct db_q *q, int c, struct workspace *w)
{
    memset(w, 0, sizeof *w);
    db_col_copy(q, c + 0, w->id, sizeof w->id);
    db_col_copy(q, c + 1, w->owner_id, sizeof w->owner_id);
    db_col_copy(q, c + 2, w->template_id, sizeof w->template_id);
    db_col_copy(q, c + 3, w->name, sizeof w->name);
    w->deleted = db_col_bool(q, c + 4);
    w->autostart_schedule = db_col_null(q, c + 5) ? NULL : db_col_dup(q, c + 5);
    w->has_ttl = !db_col_null(q, c + 6);
    w->ttl_ms = db_col_int(q, c + 6);
    w->last_used_at = db_col_int(q, c + 7);
    w->dormant_at = db_col_time(q, c + 8);
    w->deleting_at = db_col_time(q, c + 9);
    db_col_copy(q, c + 10, w->automatic_updates, sizeof w->automatic_updates);
    w->created_at = db_col_int(q, c + 11);
    w->updated_at = db_col_int(q, c + 12);
}

int store_workspace_insert(struct store *st, const struct workspace *w, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO workspaces (id, owner_id, template_id, name, deleted,"
                 " autostart_schedule, ttl_ms, last_used_at, automatic_updates, created_at,"
                 " updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?8, ?9, ?10)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, w->id);
    db_bind_text(&q, 2, w->owner_id);
    db_bind_text(&q, 3, w->template_id);
    db_bind_text(&q, 4, w->name);
    db_bind_text(&q, 5, w->autostart_schedule);
    if (w->has_ttl)
        db_bind_int(&q, 6, w->ttl_ms);
    else
        db_bind_null(&q, 6);
    db_bind_int(&q, 7, w->last_used_at);
    db_bind_text(&q, 8, w->automatic_updates[0] ? w->automatic_updates : "never");
    db_bind_int(&q, 9, w->created_at);
    db_bind_int(&q, 10, w->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int ws_one(struct db_q *q, struct workspace *out, struct err *e)
{
    if (db_one(q, "workspace", e) < 0)
        return -1;
    ws_read(q, 0, out);
    db_end(q);
    return 0;
}

int store_workspace_get(struct store *st, const char *id, struct workspace *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " WS_COLS " FROM workspaces w WHERE w.id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    return ws_one(&q, out, e);
}

int store_workspace_get_by_name(struct store *st, const char *owner_id, const char *name,
                                struct workspace *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " WS_COLS " FROM workspaces w"
                 " WHERE w.owner_id = ?1 AND lower(w.name) = lower(?2) AND w.deleted = 0",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, owner_id);
    db_bind_text(&q, 2, name);
    return ws_one(&q, out, e);
}

int store_workspace_list(struct store *st, const char *owner_id, struct workspace_list *out,
                         struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " WS_COLS " FROM workspaces w"
                 " WHERE w.deleted = 0 AND (?1 IS NULL OR w.owner_id = ?1)"
                 " ORDER BY w.owner_id, lower(w.name)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, owner_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        ws_read(&q, 0, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        workspace_list_free(out);
        return -1;
    }
    return 0;
}

void workspace_list_free(struct workspace_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        workspace_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int store_workspace_set_deleted(struct store *st, const char *id, int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "UPDATE workspaces SET deleted = 1, updated_at = ?2 WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, now);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_workspace_count_by_template(struct store *st, const char *template_id, int64_t *out,
                                      struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT COUNT(*) FROM workspaces WHERE template_id = ?1 AND deleted = 0",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, template_id);
    if (db_one(&q, "count", e) < 0)
        return -1;
    *out = db_col_int(&q, 0);
    db_end(&q);
    return 0;
}

int store_template_owner_count(struct store *st, const char *template_id, int64_t *out,
                               struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT COUNT(*) FROM (SELECT DISTINCT owner_id FROM workspaces"
                 " WHERE template_id = ?1 AND deleted = 0)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, template_id);
    if (db_one(&q, "count", e) < 0)
        return -1;
    *out = db_col_int(&q, 0);
    db_end(&q);
    return 0;
}

void workspace_view_clear(struct workspace_view *v)
{
    workspace_clear(&v->ws);
    workspace_build_clear(&v->build);
    job_clear(&v->job);
    memset(v, 0, sizeof *v);
}

int store_workspace_view(struct store *st, const char *id, struct workspace_view *out,
                         struct err *e)
{
    struct db_q q;
    if (db_query(
            &q, st,
            "SELECT " WS_COLS ", u.username, t.name, t.display_name, t.icon,"
            " t.active_version_id, t.require_active_version, v.name, iu.username, " STORE_BUILD_COLS
            ", " STORE_JOB_COLS " FROM workspaces w"
            " JOIN users u ON u.id = w.owner_id"
            " JOIN templates t ON t.id = w.template_id"
            " LEFT JOIN workspace_builds b ON b.workspace_id = w.id AND b.build_number ="
            "  (SELECT MAX(build_number) FROM workspace_builds WHERE workspace_id = w.id)"
            " LEFT JOIN template_versions v ON v.id = b.template_version_id"
            " LEFT JOIN users iu ON iu.id = b.initiator_id"
            " LEFT JOIN provisioner_jobs j ON j.id = b.job_id"
            " WHERE w.id = ?1",
            e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "workspace", e) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    ws_read(&q, 0, &out->ws);
    int c = WS_NCOLS;
    db_col_copy(&q, c++, out->owner_name, sizeof out->owner_name);
    db_col_copy(&q, c++, out->template_name, sizeof out->template_name);
    db_col_copy(&q, c++, out->template_display_name, sizeof out->template_display_name);
    db_col_copy(&q, c++, out->template_icon, sizeof out->template_icon);
    db_col_copy(&q, c++, out->template_active_version_id, sizeof out->template_active_version_id);
    out->template_require_active_version = db_col_bool(&q, c++);
    db_col_copy(&q, c++, out->build_version_name, sizeof out->build_version_name);
    db_col_copy(&q, c++, out->initiator_name, sizeof out->initiator_name);
    out->has_build = !db_col_null(&q, c);
    if (out->has_build) {
        store_build_read(&q, c, &out->build);
        store_job_read(&q, c + STORE_BUILD_NCOLS, &out->job);
    }
    db_end(&q);
    return 0;
}
