/* store.c - opening the store, applying migrations, and the model's enum names. */
#include "store/store.h"

#include "base/embed.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "store/db.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct embedded_file store_sqlite_migrations[];
extern const size_t store_sqlite_migrations_count;

/* A migration file is named NNNN_description.sql; returns NNNN or -1. */
static int migration_number(const char *path)
{
    char num[8] = {0};
    size_t i = 0;
    while (path[i] >= '0' && path[i] <= '9' && i < sizeof num - 1) {
        num[i] = path[i];
        i++;
    }
    int64_t v;
    if (i == 0 || path[i] != '_' || str_to_int64(num, &v) < 0)
        return -1;
    return (int)v;
}

static int migrate(struct store *st, struct err *e)
{
    if (db_exec(st,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL"
                ") STRICT",
                e) < 0)
        return -1;
    struct db_q q;
    if (db_query(&q, st, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", e) < 0)
        return -1;
    if (db_one(&q, "schema version", e) < 0)
        return -1;
    int current = (int)db_col_int(&q, 0);
    db_end(&q);

    int latest = 0;
    for (size_t i = 0; i < store_sqlite_migrations_count; i++) {
        const struct embedded_file *f = &store_sqlite_migrations[i];
        int n = migration_number(f->path);
        if (n < 0)
            return err_set(e, ERR_INTERNAL, "bad migration file name %s", f->path);
        if (n > latest)
            latest = n;
        if (n <= current)
            continue;
        if (store_tx_begin(st, e) < 0)
            return -1;
        if (db_exec(st, (const char *)f->data, e) < 0) {
            store_tx_rollback(st);
            return err_prefix(e, "migration %s", f->path);
        }
        if (db_query(
                &q, st,
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                e) < 0) {
            store_tx_rollback(st);
            return -1;
        }
        db_bind_int(&q, 1, n);
        db_bind_text(&q, 2, f->path);
        db_bind_int(&q, 3, time_now_us());
        if (db_run(&q, e) < 0 || store_tx_commit(st, e) < 0) {
            store_tx_rollback(st);
            return -1;
        }
        log_info("store", "applied migration %s", f->path);
        current = n;
    }
    if (current > latest)
        return err_set(e, ERR_INTERNAL,
                       "the database schema (version %d) is newer than this berth (version %d)",
                       current, latest);
    st->schema_version = current;
    return 0;
}

struct store *store_open(const char *url, struct err *e)
{
    if (!url || !*url) {
        err_set(e, ERR_BAD_REQUEST, "no database given");
        return NULL;
    }
    if (str_has_prefix(url, "postgres://") || str_has_prefix(url, "postgresql://")) {
        err_set(e, ERR_BAD_REQUEST,
                "PostgreSQL is not supported yet: run with the embedded SQLite store");
        return NULL;
    }
    const char *path = str_has_prefix(url, "sqlite:") ? url + strlen("sqlite:") : url;
    struct store *st = db_sqlite_open(path, e);
    if (!st)
        return NULL;
    if (migrate(st, e) < 0) {
        store_close(st);
        return NULL;
    }
    return st;
}

int store_schema_version(struct store *st)
{
    return st->schema_version;
}

const char *job_status_name(enum job_status s)
{
    static const char *names[] = {"pending",   "running",  "succeeded",
                                  "canceling", "canceled", "failed"};
    return (size_t)s < sizeof names / sizeof names[0] ? names[s] : "unknown";
}

const char *job_type_name(enum job_type t)
{
    return t == JOB_WORKSPACE_BUILD ? "workspace_build" : "template_version_import";
}

const char *log_source_name(enum log_source s)
{
    return s == LOG_SOURCE_PROVISIONER ? "provisioner" : "provisioner_daemon";
}

const char *job_log_level_name(enum job_log_level l)
{
    static const char *names[] = {"trace", "debug", "info", "warn", "error"};
    return (size_t)l < sizeof names / sizeof names[0] ? names[l] : "info";
}

const char *user_status_name(enum user_status s)
{
    return s == USER_SUSPENDED ? "suspended" : s == USER_DORMANT ? "dormant" : "active";
}

bool job_status_active(enum job_status s)
{
    return s == JOB_PENDING || s == JOB_RUNNING || s == JOB_CANCELING;
}

bool job_status_terminal(enum job_status s)
{
    return s == JOB_SUCCEEDED || s == JOB_CANCELED || s == JOB_FAILED;
}

enum job_status job_status_derive(const struct job *j)
{
    bool failed = j->error && *j->error;
    if (j->completed_at)
        return failed ? JOB_FAILED : j->canceled_at ? JOB_CANCELED : JOB_SUCCEEDED;
    if (failed)
        return JOB_FAILED;
    if (j->canceled_at)
        return JOB_CANCELING;
    return j->started_at ? JOB_RUNNING : JOB_PENDING;
}

const char *transition_name(enum transition t)
{
    return t == TRANSITION_STOP ? "stop" : t == TRANSITION_DELETE ? "delete" : "start";
}

int transition_parse(const char *s, enum transition *out)
{
    if (!s)
        return -1;
    if (strcmp(s, "start") == 0)
        *out = TRANSITION_START;
    else if (strcmp(s, "stop") == 0)
        *out = TRANSITION_STOP;
    else if (strcmp(s, "delete") == 0)
        *out = TRANSITION_DELETE;
    else
        return -1;
    return 0;
}

static const char *lifecycle_names[] = {
    "created",       "starting",         "start_timeout",  "start_error", "ready",
    "shutting_down", "shutdown_timeout", "shutdown_error", "off",
};

const char *agent_lifecycle_name(enum agent_lifecycle l)
{
    return (size_t)l < sizeof lifecycle_names / sizeof lifecycle_names[0] ? lifecycle_names[l]
                                                                          : "created";
}

int agent_lifecycle_parse(const char *s, enum agent_lifecycle *out)
{
    for (size_t i = 0; s && i < sizeof lifecycle_names / sizeof lifecycle_names[0]; i++) {
        if (strcmp(s, lifecycle_names[i]) == 0) {
            *out = (enum agent_lifecycle)i;
            return 0;
        }
    }
    return -1;
}

int store_backup(struct store *st, const char *path, struct err *e)
{
    if (access(path, F_OK) == 0)
        return err_set(e, ERR_CONFLICT, "%s already exists", path);
    struct db_q q;
    if (db_query(&q, st, "VACUUM INTO ?", e) < 0)
        return -1;
    db_bind_text(&q, 1, path);
    return db_run(&q, e) < 0 ? -1 : 0;
}
