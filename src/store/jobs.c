/* jobs.c - provisioner jobs and their logs. The status is derived by the database (a generated
 * column) from timestamps and error, exactly as job_status_derive() does. */
#include "base/mem.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define JOB_COLS STORE_JOB_COLS_P("")

void job_clear(struct job *j)
{
    free(j->error);
    free(j->input);
    memset(j, 0, sizeof *j);
}

static enum job_status status_parse(const char *s)
{
    static const char *names[] = {"pending",   "running",  "succeeded",
                                  "canceling", "canceled", "failed"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i]) == 0)
            return (enum job_status)i;
    return JOB_FAILED;
}

void store_job_read(struct db_q *q, int c, struct job *j)
{
    memset(j, 0, sizeof *j);
    db_col_copy(q, c + 0, j->id, sizeof j->id);
    j->type = strcmp(db_col_text(q, c + 1), "workspace_build") == 0 ? JOB_WORKSPACE_BUILD
                                                                    : JOB_TEMPLATE_VERSION_IMPORT;
    j->created_at = db_col_int(q, c + 2);
    j->updated_at = db_col_int(q, c + 3);
    j->started_at = db_col_time(q, c + 4);
    j->canceled_at = db_col_time(q, c + 5);
    j->completed_at = db_col_time(q, c + 6);
    j->error = db_col_dup(q, c + 7);
    db_col_copy(q, c + 8, j->error_code, sizeof j->error_code);
    db_col_copy(q, c + 9, j->initiator_id, sizeof j->initiator_id);
    db_col_copy(q, c + 10, j->file_id, sizeof j->file_id);
    j->input = db_col_dup(q, c + 11);
    db_col_copy(q, c + 12, j->worker_id, sizeof j->worker_id);
    j->logs_length = db_col_int(q, c + 13);
    j->logs_overflowed = db_col_bool(q, c + 14);
    j->status = status_parse(db_col_text(q, c + 15));
}

static void job_read(struct db_q *q, struct job *j)
{
    store_job_read(q, 0, j);
}

int store_job_insert(struct store *st, const struct job *j, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO provisioner_jobs (id, type, created_at, updated_at, initiator_id,"
                 " file_id, input) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, j->id);
    db_bind_text(&q, 2, job_type_name(j->type));
    db_bind_int(&q, 3, j->created_at);
    db_bind_text(&q, 4, j->initiator_id);
    db_bind_text(&q, 5, j->file_id);
    db_bind_text(&q, 6, j->input ? j->input : "{}");
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_job_get(struct store *st, const char *id, struct job *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "SELECT " JOB_COLS " FROM provisioner_jobs WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "provisioner job", e) < 0)
        return -1;
    job_read(&q, out);
    db_end(&q);
    return 0;
}

int store_job_claim(struct store *st, const char *worker_id, int64_t now, struct job *out,
                    struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE provisioner_jobs SET started_at = ?2, updated_at = ?2, worker_id = ?1"
                 " WHERE id = (SELECT id FROM provisioner_jobs"
                 "  WHERE started_at IS NULL AND completed_at IS NULL"
                 "  ORDER BY created_at, id LIMIT 1)"
                 " RETURNING " JOB_COLS,
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, worker_id);
    db_bind_int(&q, 2, now);
    int r = db_step(&q, e);
    if (r > 0) {
        job_read(&q, out);
        while (db_step(&q, NULL) > 0)
            ;
    }
    db_end(&q);
    return r;
}

int store_job_heartbeat(struct store *st, const char *id, const char *worker_id, int64_t now,
                        bool *canceled, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE provisioner_jobs SET updated_at = ?3"
                 " WHERE id = ?1 AND worker_id = ?2 AND completed_at IS NULL"
                 /* Not "RETURNING canceled_at IS NOT NULL": SQLite 3.40 answers 1 for a NULL. */
                 " RETURNING canceled_at",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, worker_id);
    db_bind_int(&q, 3, now);
    int r = db_step(&q, e);
    if (r > 0) {
        *canceled = !db_col_null(&q, 0);
        while (db_step(&q, NULL) > 0)
            ;
    }
    db_end(&q);
    if (r < 0)
        return -1;
    if (r == 0)
        return err_set(e, ERR_CONFLICT, "you don't own this job");
    return 0;
}

int store_job_complete(struct store *st, const char *id, const char *worker_id, int64_t now,
                       const char *error, const char *error_code, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE provisioner_jobs SET completed_at = ?3, updated_at = ?3,"
                 " started_at = COALESCE(started_at, ?3), error = ?4, error_code = ?5"
                 " WHERE id = ?1 AND completed_at IS NULL AND (?2 IS NULL OR worker_id = ?2)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, worker_id);
    db_bind_int(&q, 3, now);
    db_bind_text(&q, 4, error ? error : "");
    db_bind_text(&q, 5, error_code ? error_code : "");
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_CONFLICT, "job %s is already completed or not owned by this worker",
                       id);
    return 0;
}

int store_job_cancel(struct store *st, const char *id, int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE provisioner_jobs SET canceled_at = ?2, updated_at = ?2,"
                 " completed_at = CASE WHEN started_at IS NULL THEN ?2 ELSE completed_at END,"
                 " started_at = COALESCE(started_at, CASE WHEN started_at IS NULL THEN ?2 END)"
                 " WHERE id = ?1 AND completed_at IS NULL AND canceled_at IS NULL",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_int(&q, 2, now);
    int64_t n = db_run(&q, e);
    if (n < 0)
        return -1;
    if (n == 0)
        return err_set(e, ERR_CONFLICT, "job %s is already completed or canceled", id);
    return 0;
}

static int job_list(struct db_q *q, struct job_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    int r;
    while ((r = db_step(q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        job_read(q, &out->items[out->n++]);
    }
    db_end(q);
    if (r < 0) {
        job_list_free(out);
        return -1;
    }
    return 0;
}

int store_job_list_by_worker(struct store *st, const char *worker_id, struct job_list *out,
                             struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " JOB_COLS " FROM provisioner_jobs"
                 " WHERE worker_id = ?1 AND completed_at IS NULL ORDER BY created_at",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, worker_id);
    return job_list(&q, out, e);
}

int store_job_list_hung(struct store *st, int64_t running_before, int64_t pending_before, int limit,
                        struct job_list *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " JOB_COLS " FROM provisioner_jobs WHERE completed_at IS NULL AND"
                 " ((started_at IS NOT NULL AND updated_at < ?1) OR"
                 "  (started_at IS NULL AND updated_at < ?2))"
                 " ORDER BY updated_at LIMIT ?3",
                 e) < 0)
        return -1;
    db_bind_int(&q, 1, running_before);
    db_bind_int(&q, 2, pending_before);
    db_bind_int(&q, 3, limit);
    return job_list(&q, out, e);
}

void job_list_free(struct job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* ---- logs ---- */

void job_log_clear(struct job_log *l)
{
    free(l->output);
    memset(l, 0, sizeof *l);
}

int store_job_logs_insert(struct store *st, const char *job_id, struct job_log *logs, size_t n,
                          struct err *e)
{
    if (n == 0)
        return 0;
    bool opened;
    if (db_tx_ensure(st, &opened, e) < 0)
        return -1;
    int64_t bytes = 0;
    struct db_q q;
    for (size_t i = 0; i < n; i++) {
        if (db_query(&q, st,
                     "INSERT INTO provisioner_job_logs (job_id, created_at, source, level, stage,"
                     " output) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                     e) < 0)
            goto fail;
        db_bind_text(&q, 1, job_id);
        db_bind_int(&q, 2, logs[i].created_at);
        db_bind_text(&q, 3, log_source_name(logs[i].source));
        db_bind_text(&q, 4, job_log_level_name(logs[i].level));
        db_bind_text(&q, 5, logs[i].stage);
        db_bind_text(&q, 6, logs[i].output ? logs[i].output : "");
        if (db_one(&q, "log", e) < 0)
            goto fail;
        logs[i].id = db_col_int(&q, 0);
        while (db_step(&q, NULL) > 0)
            ;
        db_end(&q);
        bytes += logs[i].output ? (int64_t)strlen(logs[i].output) : 0;
    }
    if (db_query(&q, st, "UPDATE provisioner_jobs SET logs_length = logs_length + ?2 WHERE id = ?1",
                 e) < 0)
        goto fail;
    db_bind_text(&q, 1, job_id);
    db_bind_int(&q, 2, bytes);
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

int store_job_logs_overflow(struct store *st, const char *job_id, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, "UPDATE provisioner_jobs SET logs_overflowed = 1 WHERE id = ?1", e) < 0)
        return -1;
    db_bind_text(&q, 1, job_id);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_job_logs_after(struct store *st, const char *job_id, int64_t after, int limit,
                         struct job_log_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT id, created_at, source, level, stage, output FROM provisioner_job_logs"
                 " WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, job_id);
    db_bind_int(&q, 2, after);
    db_bind_int(&q, 3, limit > 0 ? limit : -1);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct job_log *l = &out->items[out->n++];
        memset(l, 0, sizeof *l);
        l->id = db_col_int(&q, 0);
        l->created_at = db_col_int(&q, 1);
        l->source = strcmp(db_col_text(&q, 2), "provisioner") == 0 ? LOG_SOURCE_PROVISIONER
                                                                   : LOG_SOURCE_PROVISIONER_DAEMON;
        const char *lv = db_col_text(&q, 3);
        l->level = strcmp(lv, "error") == 0   ? JOB_LOG_ERROR
                   : strcmp(lv, "warn") == 0  ? JOB_LOG_WARN
                   : strcmp(lv, "debug") == 0 ? JOB_LOG_DEBUG
                   : strcmp(lv, "trace") == 0 ? JOB_LOG_TRACE
                                              : JOB_LOG_INFO;
        db_col_copy(&q, 4, l->stage, sizeof l->stage);
        l->output = db_col_dup(&q, 5);
    }
    db_end(&q);
    if (r < 0) {
        job_log_list_free(out);
        return -1;
    }
    return 0;
}

void job_log_list_free(struct job_log_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        job_log_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
