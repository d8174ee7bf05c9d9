/* agentconn.c - what the server records about agent connections: token lookup with the
 * workspace's latest build, lifecycle reports, connection times, heartbeats, agent logs. */
#include "base/mem.h"
#include "base/str.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void agent_auth_clear(struct agent_auth *a)
{
    workspace_agent_clear(&a->agent);
    memset(a, 0, sizeof *a);
}

int store_agent_auth(struct store *st, const unsigned char hash[32], struct agent_auth *out,
                     struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT a.id, b.id, b.build_number, b.transition, w.id, w.name, w.owner_id,"
                 " u.username, w.deleted, lb.build_number, lb.transition, lj.job_status,"
                 " (SELECT COALESCE(MAX(build_number), 0) FROM workspace_builds"
                 "   WHERE workspace_id = w.id AND transition = 'start'"
                 "   AND build_number < lb.build_number)"
                 " FROM workspace_agents a"
                 " JOIN workspace_resources r ON r.id = a.resource_id"
                 " JOIN workspace_builds b ON b.job_id = r.job_id"
                 " JOIN workspaces w ON w.id = b.workspace_id"
                 " JOIN users u ON u.id = w.owner_id"
                 " JOIN workspace_builds lb ON lb.workspace_id = w.id AND lb.build_number ="
                 "  (SELECT MAX(build_number) FROM workspace_builds WHERE workspace_id = w.id)"
                 " JOIN provisioner_jobs lj ON lj.id = lb.job_id"
                 " WHERE a.auth_token_hash = ?1",
                 e) < 0)
        return -1;
    db_bind_blob(&q, 1, hash, 32);
    if (db_one(&q, "workspace agent", e) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    char agent_id[UUID_STR_LEN];
    db_col_copy(&q, 0, agent_id, sizeof agent_id);
    db_col_copy(&q, 1, out->build_id, sizeof out->build_id);
    out->build_number = db_col_int(&q, 2);
    transition_parse(db_col_text(&q, 3), &out->build_transition);
    db_col_copy(&q, 4, out->workspace_id, sizeof out->workspace_id);
    db_col_copy(&q, 5, out->workspace_name, sizeof out->workspace_name);
    db_col_copy(&q, 6, out->owner_id, sizeof out->owner_id);
    db_col_copy(&q, 7, out->owner_name, sizeof out->owner_name);
    out->workspace_deleted = db_col_bool(&q, 8);
    out->latest_number = db_col_int(&q, 9);
    transition_parse(db_col_text(&q, 10), &out->latest_transition);
    const char *ls = db_col_text(&q, 11);
    static const char *names[] = {"pending",   "running",  "succeeded",
                                  "canceling", "canceled", "failed"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(ls, names[i]) == 0)
            out->latest_status = (enum job_status)i;
    out->latest_start_before = db_col_int(&q, 12);
    db_end(&q);
    return store_agent_get(st, agent_id, &out->agent, e);
}

int store_agent_location(struct store *st, const char *agent_id, char workspace_id[UUID_STR_LEN],
                         char owner_id[UUID_STR_LEN], char build_id[UUID_STR_LEN], struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT w.id, w.owner_id, b.id FROM workspace_agents a"
                 " JOIN workspace_resources r ON r.id = a.resource_id"
                 " JOIN workspace_builds b ON b.job_id = r.job_id"
                 " JOIN workspaces w ON w.id = b.workspace_id WHERE a.id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, agent_id);
    if (db_one(&q, "workspace agent", e) < 0)
        return -1;
    db_col_copy(&q, 0, workspace_id, UUID_STR_LEN);
    db_col_copy(&q, 1, owner_id, UUID_STR_LEN);
    db_col_copy(&q, 2, build_id, UUID_STR_LEN);
    db_end(&q);
    return 0;
}

int store_agent_set_lifecycle(struct store *st, const char *id, enum agent_lifecycle state,
                              int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE workspace_agents SET lifecycle_state = ?2, updated_at = ?3,"
                 " started_at = CASE WHEN ?2 = 'starting' THEN ?3"
                 "  WHEN ?2 IN ('ready', 'start_timeout', 'start_error')"
                 "  THEN COALESCE(started_at, ?3) ELSE started_at END,"
                 " ready_at = CASE WHEN ?2 = 'starting' THEN NULL"
                 "  WHEN ?2 IN ('ready', 'start_timeout', 'start_error') THEN ?3"
                 "  ELSE ready_at END,"
                 " disconnected_at = CASE WHEN ?2 = 'off' THEN ?3 ELSE disconnected_at END"
                 " WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, agent_lifecycle_name(state));
    db_bind_int(&q, 3, now);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_agent_connected(struct store *st, const char *id, int64_t now, const char *replica,
                          struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE workspace_agents SET first_connected_at = COALESCE(first_connected_at,"
                 " ?2), last_connected_at = ?2, disconnected_at = NULL,"
                 " last_connected_replica_id = ?3, updated_at = ?2 WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, now);
    db_bind_text(&q, 3, replica);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_agent_disconnected(struct store *st, const char *id, int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE workspace_agents SET disconnected_at = ?2, updated_at = ?2 WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, now);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_agents_seen(struct store *st, const char *const *ids, const int64_t *times, size_t n,
                      struct err *e)
{
    if (n == 0)
        return 0;
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct db_q q;
        if (db_query(&q, st,
                     "UPDATE workspace_agents SET last_connected_at = ?2"
                     " WHERE id = ?1 AND (last_connected_at IS NULL OR last_connected_at < ?2)",
                     e) < 0)
            goto fail;
        db_bind_text(&q, 1, ids[i]);
        db_bind_int(&q, 2, times[i]);
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

void agent_log_clear(struct agent_log *l)
{
    free(l->output);
    memset(l, 0, sizeof *l);
}

int store_agent_logs_insert(struct store *st, const char *agent_id, struct agent_log *logs,
                            size_t n, int64_t max_bytes, struct err *e)
{
    if (n == 0)
        return 0;
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    struct db_q q;
    if (db_query(&q, st, "SELECT logs_length, logs_overflowed FROM workspace_agents WHERE id = ?1",
                 e) < 0)
        goto fail;
    db_bind_text(&q, 1, agent_id);
    if (db_one(&q, "workspace agent", e) < 0)
        goto fail;
    int64_t length = db_col_int(&q, 0);
    bool overflowed = db_col_bool(&q, 1);
    db_end(&q);
    for (size_t i = 0; i < n && !overflowed; i++) {
        const char *out = logs[i].output ? logs[i].output : "";
        int64_t len = (int64_t)strlen(out);
        bool last = length + len > max_bytes;
        if (last) {
            overflowed = true;
            out = "Startup logs exceeded 1 MiB; further lines are not recorded.";
            len = 0;
        }
        if (db_query(
                &q, st,
                "INSERT INTO workspace_agent_logs (agent_id, created_at, level, source, output)"
                " VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                e) < 0)
            goto fail;
        db_bind_text(&q, 1, agent_id);
        db_bind_int(&q, 2, logs[i].created_at);
        db_bind_text(&q, 3, last ? "warn" : logs[i].level[0] ? logs[i].level : "info");
        db_bind_text(&q, 4, logs[i].source);
        db_bind_text(&q, 5, out);
        if (db_one(&q, "log", e) < 0)
            goto fail;
        logs[i].id = db_col_int(&q, 0);
        while (db_step(&q, NULL) > 0)
            ;
        db_end(&q);
        length += len;
    }
    if (db_query(&q, st,
                 "UPDATE workspace_agents SET logs_length = ?2, logs_overflowed = ?3 WHERE id = ?1",
                 e) < 0)
        goto fail;
    db_bind_text(&q, 1, agent_id);
    db_bind_int(&q, 2, length);
    db_bind_bool(&q, 3, overflowed);
    if (db_run(&q, e) < 0)
        goto fail;
    if (opened && store_tx_commit(st, e) < 0)
        return -1;
    return 0;
fail:
    if (opened)
        store_tx_rollback(st);
    return -1;
}

int store_agent_logs_after(struct store *st, const char *agent_id, int64_t after, int limit,
                           struct agent_log_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT id, created_at, level, source, output FROM workspace_agent_logs"
                 " WHERE agent_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, agent_id);
    db_bind_int(&q, 2, after);
    db_bind_int(&q, 3, limit > 0 ? limit : -1);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct agent_log *l = &out->items[out->n++];
        memset(l, 0, sizeof *l);
        l->id = db_col_int(&q, 0);
        l->created_at = db_col_int(&q, 1);
        db_col_copy(&q, 2, l->level, sizeof l->level);
        db_col_copy(&q, 3, l->source, sizeof l->source);
        l->output = db_col_dup(&q, 4);
    }
    db_end(&q);
    if (r < 0) {
        agent_log_list_free(out);
        return -1;
    }
    return 0;
}

void agent_log_list_free(struct agent_log_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        agent_log_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
