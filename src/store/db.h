/* db.h - the store's internal driver interface (not for use outside store/).
 *
 * Query files (users.c, templates.c, ...) are written once against this interface; each backend
 * implements it. SQL uses numbered parameters `?1`, `?2`, ... and portable syntax (RETURNING,
 * ON CONFLICT); a backend rewrites what it must. A query borrows the calling thread's connection
 * and a statement prepared once per connection (keyed by the SQL string's address, so SQL must
 * be a string literal or otherwise static).
 *
 * Usage: struct db_q q; if (db_query(&q, st, SQL, e) < 0) ...; db_bind_*(&q, 1, ...);
 * while ((r = db_step(&q, e)) > 0) { db_col_*(&q, 0) ... } db_end(&q). db_end must follow every
 * successful db_query. Autocommit writes take the process's write lock between db_query and
 * db_end.
 */
#ifndef BERTH_STORE_DB_H
#define BERTH_STORE_DB_H

#include "base/err.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Prepared statements of a connection, keyed by the address of their SQL text. */
struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
};

struct db_conn {
    struct store *st;
    sqlite3 *h;
    struct stmt_slot *stmts; /* open addressing, power-of-two capacity */
    size_t nstmts, capstmts;
    bool in_tx;
    struct db_conn *next, *prev;
};

struct store {
    char *path;
    pthread_key_t key;
    pthread_mutex_t write_lock; /* one writer at a time inside the process */
    pthread_mutex_t conns_lock;
    struct db_conn *conns;
    int schema_version;
};

struct db_q {
    struct db_conn *c;
    sqlite3_stmt *s;
    bool holds_write_lock;
    bool temp; /* a one-off statement (the cached one was busy): finalized by db_end */
};

/* Column lists shared by query files; P is a table prefix such as "j." or "". */
#define STORE_JOB_COLS_P(P)                                                                        \
    P "id, " P "type, " P "created_at, " P "updated_at, " P "started_at, " P "canceled_at, " P     \
      "completed_at, " P "error, " P "error_code, " P "initiator_id, " P "file_id, " P "input, " P \
      "worker_id, " P "logs_length, " P "logs_overflowed, " P "job_status"
#define STORE_JOB_COLS  STORE_JOB_COLS_P("j.")
#define STORE_JOB_NCOLS 16
#define STORE_BUILD_COLS_P(P)                                                                      \
    P "id, " P "workspace_id, " P "template_version_id, " P "build_number, " P "transition, " P    \
      "initiator_id, " P "provisioner_state, " P "job_id, " P "deadline, " P "max_deadline, " P    \
      "reason, " P "created_at, " P "updated_at"
#define STORE_BUILD_COLS  STORE_BUILD_COLS_P("b.")
#define STORE_BUILD_NCOLS 13

#define STORE_CHAT_COLS_P(P)                                                                       \
    P "id, " P "owner_id, " P "title, " P "status, " P "workspace_id, " P "build_id, " P           \
      "agent_id, " P "created_at, " P "updated_at, " P "last_error, " P "attempts"

struct job;
struct workspace_build;
struct chat;
/* Readers for those column lists, starting at column c. */
void store_job_read(struct db_q *q, int c, struct job *j);
void store_build_read(struct db_q *q, int c, struct workspace_build *b);
/* Reads STORE_CHAT_COLS_P from column 0. */
void store_chat_read(struct db_q *q, struct chat *c);

/* Opens the SQLite backend at path (no migrations). */
struct store *db_sqlite_open(const char *path, struct err *e);
/* The calling thread's connection, opened on first use. */
struct db_conn *db_conn_get(struct store *st, struct err *e);

/* Starts a query into q (caller's storage, used on this thread until db_end). 0 or -1. */
int db_query(struct db_q *q, struct store *st, const char *sql, struct err *e);
void db_bind_text(struct db_q *q, int i, const char *v); /* NULL binds SQL NULL */
void db_bind_int(struct db_q *q, int i, int64_t v);
void db_bind_bool(struct db_q *q, int i, bool v);
void db_bind_time(struct db_q *q, int i, int64_t us); /* 0 binds NULL */
void db_bind_null(struct db_q *q, int i);
void db_bind_blob(struct db_q *q, int i, const void *p, size_t n);
/* 1 when a row is available, 0 when done, -1 on error (e filled). */
int db_step(struct db_q *q, struct err *e);
/* Rows changed by the last completed write. */
int64_t db_changes(struct db_q *q);
/* Column accessors for the current row (0-based). Text is "" for NULL and borrowed until the
 * next step; db_col_dup returns a heap copy (never NULL). */
const char *db_col_text(struct db_q *q, int i);
char *db_col_dup(struct db_q *q, int i);
void db_col_copy(struct db_q *q, int i, char *dst, size_t size);
int64_t db_col_int(struct db_q *q, int i);
bool db_col_bool(struct db_q *q, int i);
int64_t db_col_time(struct db_q *q, int i); /* NULL reads as 0 */
bool db_col_null(struct db_q *q, int i);
const void *db_col_blob(struct db_q *q, int i, size_t *n);
/* Resets the statement and releases the write lock if the query held it. */
void db_end(struct db_q *q);

/* True when the calling thread has a transaction open. */
bool db_tx_active(struct store *st);
/* Opens a transaction unless one is open; *opened says whether this call did (then the caller
 * commits or rolls back). */
int db_tx_ensure(struct store *st, bool *opened, struct err *e);

/* Runs a statement without parameters or rows to completion. */
int db_exec(struct store *st, const char *sql, struct err *e);
/* Runs a query that returns no rows: bind with the callback-free helpers first. Convenience:
 * db_run = db_step until done + db_end; returns changes or -1. */
int64_t db_run(struct db_q *q, struct err *e);
/* A single-row read: 0 and the row ready when found, ERR_NOT_FOUND (-1) when not, -1 on error.
 * On success the caller reads columns and then calls db_end; on failure db_end was called. */
int db_one(struct db_q *q, const char *what, struct err *e);

#endif
