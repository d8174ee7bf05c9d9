/* builds.c - workspace builds and their parameters. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define BUILD_COLS STORE_BUILD_COLS_P("")

void workspace_build_clear(struct workspace_build *b)
{
    free(b->state);
    memset(b, 0, sizeof *b);
}

void store_build_read(struct db_q *q, int c, struct workspace_build *b)
{
    memset(b, 0, sizeof *b);
    db_col_copy(q, c + 0, b->id, sizeof b->id);
    db_col_copy(q, c + 1, b->workspace_id, sizeof b->workspace_id);
    db_col_copy(q, c + 2, b->template_version_id, sizeof b->template_version_id);
    b->build_number = db_col_int(q, c + 3);
    transition_parse(db_col_text(q, c + 4), &b->transition);
    db_col_copy(q, c + 5, b->initiator_id, sizeof b->initiator_id);
    size_t n;
    const void *state = db_col_blob(q, c + 6, &n);
    if (n) {
        b->state = xmemdup(state, n);
        b->state_len = n;
    }
    db_col_copy(q, c + 7, b->job_id, sizeof b->job_id);
    b->deadline = db_col_int(q, c + 8);
    b->max_deadline = db_col_int(q, c + 9);
    db_col_copy(q, c + 10, b->reason, sizeof b->reason);
    b->created_at = db_col_int(q, c + 11);
    b->updated_at = db_col_int(q, c + 12);
}

int store_build_insert(struct store *st, const struct workspace_build *b, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO workspace_builds (" BUILD_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6,"
                 " ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, b->id);
    db_bind_text(&q, 2, b->workspace_id);
    db_bind_text(&q, 3, b->template_version_id);
    db_bind_int(&q, 4, b->build_number);
    db_bind_text(&q, 5, transition_name(b->transition));
    db_bind_text(&q, 6, b->initiator_id);
    db_bind_blob(&q, 7, b->state, b->state_len);
    db_bind_text(&q, 8, b->job_id);
    db_bind_int(&q, 9, b->deadline);
    db_bind_int(&q, 10, b->max_deadline);
    db_bind_text(&q, 11, b->reason[0] ? b->reason : "initiator");
    db_bind_int(&q, 12, b->created_at);
    db_bind_int(&q, 13, b->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int build_one(struct db_q *q, struct workspace_build *out, struct err *e)
{
    if (db_one(q, "workspace build", e) < 0)
        return -1;
    store_build_read(q, 0, out);
    db_end(q);
    return 0;
}

int store_build_get(struct store *st, const char *id, struct workspace_build *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " BUILD_COLS " FROM workspace_builds WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    return build_one(&q, out, e);
}

int store_build_get_by_job(struct store *st, const char *job_id, struct workspace_build *out,
                           struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " BUILD_COLS " FROM workspace_builds WHERE job_id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, job_id);
    return build_one(&q, out, e);
}

int store_build_get_by_number(struct store *st, const char *workspace_id, int64_t number,
                              struct workspace_build *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " BUILD_COLS " FROM workspace_builds"
                 " WHERE workspace_id = ?1 AND build_number = ?2",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, workspace_id);
    db_bind_int(&q, 2, number);
    return build_one(&q, out, e);
}

int store_build_latest(struct store *st, const char *workspace_id, struct workspace_build *out,
                       struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " BUILD_COLS " FROM workspace_builds WHERE workspace_id = ?1"
                 " ORDER BY build_number DESC LIMIT 1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, workspace_id);
    return build_one(&q, out, e);
}

int store_build_list(struct store *st, const char *workspace_id, struct build_list *out,
                     struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " BUILD_COLS " FROM workspace_builds WHERE workspace_id = ?1"
                 " ORDER BY build_number DESC",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, workspace_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        store_build_read(&q, 0, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        build_list_free(out);
        return -1;
    }
    return 0;
}

void build_list_free(struct build_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        workspace_build_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

int store_build_set_state(struct store *st, const char *id, const void *state, size_t len,
                          struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "UPDATE workspace_builds SET provisioner_state = ?2 WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_blob(&q, 2, state, len);
    return db_run(&q, e) < 0 ? -1 : 0;
}

void build_param_clear(struct build_param *p)
{
    free(p->value);
    memset(p, 0, sizeof *p);
}

int store_build_params_insert(struct store *st, const char *build_id,
                              const struct build_param *params, size_t n, struct err *e)
{
    for (size_t i = 0; i < n; i++) {
        struct db_q q;
        if (db_query(&q, st,
                     "INSERT INTO workspace_build_parameters (workspace_build_id, name, value)"
                     " VALUES (?1, ?2, ?3)",
                     e) < 0)
            return -1;
        db_bind_text(&q, 1, build_id);
        db_bind_text(&q, 2, params[i].name);
        db_bind_text(&q, 3, params[i].value ? params[i].value : "");
        if (db_run(&q, e) < 0)
            return -1;
    }
    return 0;
}

int store_build_params(struct store *st, const char *build_id, struct build_param_list *out,
                       struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT name, value FROM workspace_build_parameters"
                 " WHERE workspace_build_id = ?1 ORDER BY name",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, build_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct build_param *p = &out->items[out->n++];
        memset(p, 0, sizeof *p);
        db_col_copy(&q, 0, p->name, sizeof p->name);
        p->value = db_col_dup(&q, 1);
    }
    db_end(&q);
    if (r < 0) {
        build_param_list_free(out);
        return -1;
    }
    return 0;
}

void build_param_list_free(struct build_param_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        build_param_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
