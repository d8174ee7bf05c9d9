/* agents.c - workspace resources, agents and their scripts. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

int store_resource_insert(struct store *st, const struct workspace_resource *r, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO workspace_resources (id, job_id, transition, type, name, created_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, r->id);
    db_bind_text(&q, 2, r->job_id);
    db_bind_text(&q, 3, transition_name(r->transition));
    db_bind_text(&q, 4, r->type);
    db_bind_text(&q, 5, r->name);
    db_bind_int(&q, 6, r->created_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_resources_by_job(struct store *st, const char *job_id, struct resource_list *out,
                           struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT id, job_id, transition, type, name, created_at FROM workspace_resources"
                 " WHERE job_id = ?1 ORDER BY created_at, id",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, job_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct workspace_resource *res = &out->items[out->n++];
        memset(res, 0, sizeof *res);
        db_col_copy(&q, 0, res->id, sizeof res->id);
        db_col_copy(&q, 1, res->job_id, sizeof res->job_id);
        transition_parse(db_col_text(&q, 2), &res->transition);
        db_col_copy(&q, 3, res->type, sizeof res->type);
        db_col_copy(&q, 4, res->name, sizeof res->name);
        res->created_at = db_col_int(&q, 5);
    }
    db_end(&q);
    if (r < 0) {
        resource_list_free(out);
        return -1;
    }
    return 0;
}

void resource_list_free(struct resource_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
}

#define AGENT_COLS_P(P)                                                                            \
    P "id, " P "resource_id, " P "name, " P "auth_token_hash, " P "directory, " P                  \
      "first_connected_at, " P "last_connected_at, " P "disconnected_at, " P                       \
      "connection_timeout_seconds, " P "lifecycle_state, " P "started_at, " P "ready_at, " P       \
      "logs_length, " P "logs_overflowed, " P "display_order, " P "created_at, " P "updated_at"

void workspace_agent_clear(struct workspace_agent *a)
{
    free(a->directory);
    memset(a, 0, sizeof *a);
}

static void agent_read(struct db_q *q, struct workspace_agent *a)
{
    memset(a, 0, sizeof *a);
    db_col_copy(q, 0, a->id, sizeof a->id);
    db_col_copy(q, 1, a->resource_id, sizeof a->resource_id);
    db_col_copy(q, 2, a->name, sizeof a->name);
    size_t n;
    const void *h = db_col_blob(q, 3, &n);
    if (h && n == sizeof a->auth_token_hash)
        memcpy(a->auth_token_hash, h, n);
    a->directory = db_col_dup(q, 4);
    a->first_connected_at = db_col_time(q, 5);
    a->last_connected_at = db_col_time(q, 6);
    a->disconnected_at = db_col_time(q, 7);
    a->connection_timeout_seconds = db_col_int(q, 8);
    agent_lifecycle_parse(db_col_text(q, 9), &a->lifecycle);
    a->started_at = db_col_time(q, 10);
    a->ready_at = db_col_time(q, 11);
    a->logs_length = db_col_int(q, 12);
    a->logs_overflowed = db_col_bool(q, 13);
    a->display_order = (int)db_col_int(q, 14);
    a->created_at = db_col_int(q, 15);
    a->updated_at = db_col_int(q, 16);
}

int store_agent_insert(struct store *st, const struct workspace_agent *a, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO workspace_agents (id, resource_id, name, auth_token_hash, directory,"
                 " connection_timeout_seconds, lifecycle_state, display_order, created_at,"
                 " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, a->id);
    db_bind_text(&q, 2, a->resource_id);
    db_bind_text(&q, 3, a->name);
    db_bind_blob(&q, 4, a->auth_token_hash, sizeof a->auth_token_hash);
    db_bind_text(&q, 5, a->directory ? a->directory : "");
    db_bind_int(&q, 6, a->connection_timeout_seconds);
    db_bind_text(&q, 7, agent_lifecycle_name(a->lifecycle));
    db_bind_int(&q, 8, a->display_order);
    db_bind_int(&q, 9, a->created_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int agent_one(struct db_q *q, struct workspace_agent *out, struct err *e)
{
    if (db_one(q, "workspace agent", e) < 0)
        return -1;
    agent_read(q, out);
    db_end(q);
    return 0;
}

int store_agent_get(struct store *st, const char *id, struct workspace_agent *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " AGENT_COLS_P("") " FROM workspace_agents WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    return agent_one(&q, out, e);
}

int store_agent_get_by_token(struct store *st, const unsigned char hash[32],
                             struct workspace_agent *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " AGENT_COLS_P("") " FROM workspace_agents WHERE auth_token_hash = ?1",
                 e) < 0)
        return -1;
    db_bind_blob(&q, 1, hash, 32);
    return agent_one(&q, out, e);
}

static int agent_list(struct db_q *q, struct agent_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    int r;
    while ((r = db_step(q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        agent_read(q, &out->items[out->n++]);
    }
    db_end(q);
    if (r < 0) {
        agent_list_free(out);
        return -1;
    }
    return 0;
}

int store_agents_by_resource(struct store *st, const char *resource_id, struct agent_list *out,
                             struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " AGENT_COLS_P("") " FROM workspace_agents WHERE resource_id = ?1"
                                            " ORDER BY display_order, lower(name), name, id",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, resource_id);
    return agent_list(&q, out, e);
}

int store_agents_by_job(struct store *st, const char *job_id, struct agent_list *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " AGENT_COLS_P(
                     "a.") " FROM workspace_agents a"
                           " JOIN workspace_resources r ON r.id = a.resource_id WHERE r.job_id = ?1"
                           " ORDER BY a.display_order, lower(a.name), a.name, a.id",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, job_id);
    return agent_list(&q, out, e);
}

void agent_list_free(struct agent_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        workspace_agent_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void agent_script_clear(struct agent_script *s)
{
    free(s->script);
    memset(s, 0, sizeof *s);
}

int store_agent_script_insert(struct store *st, const char *agent_id, const struct agent_script *s,
                              struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO workspace_agent_scripts (agent_id, name, script, run_on_start,"
                 " run_on_stop, start_blocks_login, timeout_seconds, display_order)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, agent_id);
    db_bind_text(&q, 2, s->name);
    db_bind_text(&q, 3, s->script ? s->script : "");
    db_bind_bool(&q, 4, s->run_on_start);
    db_bind_bool(&q, 5, s->run_on_stop);
    db_bind_bool(&q, 6, s->start_blocks_login);
    db_bind_int(&q, 7, s->timeout_seconds);
    db_bind_int(&q, 8, s->display_order);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_agent_scripts(struct store *st, const char *agent_id, struct agent_script_list *out,
                        struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT name, script, run_on_start, run_on_stop, start_blocks_login,"
                 " timeout_seconds, display_order FROM workspace_agent_scripts"
                 " WHERE agent_id = ?1 ORDER BY display_order, name",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, agent_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct agent_script *s = &out->items[out->n++];
        memset(s, 0, sizeof *s);
        db_col_copy(&q, 0, s->name, sizeof s->name);
        s->script = db_col_dup(&q, 1);
        s->run_on_start = db_col_bool(&q, 2);
        s->run_on_stop = db_col_bool(&q, 3);
        s->start_blocks_login = db_col_bool(&q, 4);
        s->timeout_seconds = db_col_int(&q, 5);
        s->display_order = (int)db_col_int(&q, 6);
    }
    db_end(&q);
    if (r < 0) {
        agent_script_list_free(out);
        return -1;
    }
    return 0;
}

void agent_script_list_free(struct agent_script_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        agent_script_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
