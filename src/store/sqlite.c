/* sqlite.c - the SQLite backend of the store's driver interface (see db.h).
 *
 * WAL mode, synchronous=NORMAL, foreign keys on, a busy timeout for other processes, one
 * connection per thread (a pthread key), statements prepared once per connection, and one
 * writer at a time inside the process (write_lock) so writers queue on a mutex instead of
 * sleeping in SQLite's busy handler.
 */
#include "store/db.h"
#include "store/store.h"

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t stmt_hash(const char *sql)
{
    uintptr_t v = (uintptr_t)sql;
    v ^= v >> 17;
    v *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(v >> 16);
}

static sqlite3_stmt *stmt_get(const struct db_conn *c, const char *sql)
{
    if (!c->capstmts)
        return NULL;
    size_t mask = c->capstmts - 1;
    for (size_t i = stmt_hash(sql) & mask;; i = (i + 1) & mask) {
        if (c->stmts[i].sql == sql)
            return c->stmts[i].stmt;
        if (!c->stmts[i].sql)
            return NULL;
    }
}

static void stmt_put(struct db_conn *c, const char *sql, sqlite3_stmt *stmt)
{
    if ((c->nstmts + 1) * 2 > c->capstmts) {
        size_t cap = c->capstmts ? c->capstmts * 2 : 64;
        struct stmt_slot *slots = xcalloc(cap, sizeof *slots);
        for (size_t i = 0; i < c->capstmts; i++) {
            if (!c->stmts[i].sql)
                continue;
            size_t j = stmt_hash(c->stmts[i].sql) & (cap - 1);
            while (slots[j].sql)
                j = (j + 1) & (cap - 1);
            slots[j] = c->stmts[i];
        }
        free(c->stmts);
        c->stmts = slots;
        c->capstmts = cap;
    }
    size_t mask = c->capstmts - 1;
    size_t i = stmt_hash(sql) & mask;
    while (c->stmts[i].sql)
        i = (i + 1) & mask;
    c->stmts[i].sql = sql;
    c->stmts[i].stmt = stmt;
    c->nstmts++;
}

static void conn_close(struct db_conn *c)
{
    for (size_t i = 0; i < c->capstmts; i++)
        if (c->stmts[i].sql)
            sqlite3_finalize(c->stmts[i].stmt);
    free(c->stmts);
    sqlite3_close_v2(c->h);
    free(c);
}

static void conn_unlink(struct store *st, struct db_conn *c)
{
    pthread_mutex_lock(&st->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        st->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&st->conns_lock);
}

/* Thread exit: close this thread's connection. */
static void conn_destroy(void *p)
{
    struct db_conn *c = p;
    if (c->in_tx) {
        sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
        c->in_tx = false;
        pthread_mutex_unlock(&c->st->write_lock);
    }
    conn_unlink(c->st, c);
    conn_close(c);
}

static int sql_error(struct err *e, sqlite3 *h, int rc, const char *what)
{
    int ext = h ? sqlite3_extended_errcode(h) : rc;
    const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
    if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
        return err_set(e, ERR_CONFLICT, "%s: %s", what, msg);
    return err_set(e, ERR_INTERNAL, "database error (%s): %s", what, msg);
}

static int exec_simple(sqlite3 *h, const char *sql, struct err *e)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        err_set(e, ERR_INTERNAL, "database error: %s", msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static struct db_conn *conn_open(struct store *st, struct err *e)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(st->path, &h,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             "unix-excl");
    if (rc != SQLITE_OK) {
        err_set(e, ERR_INTERNAL, "open database %s: %s", st->path,
                h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close_v2(h);
        return NULL;
    }
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, 10000);
    if (exec_simple(h,
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                    "PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;",
                    e) < 0) {
        sqlite3_close_v2(h);
        return NULL;
    }
    struct db_conn *c = xcalloc(1, sizeof *c);
    c->st = st;
    c->h = h;
    pthread_mutex_lock(&st->conns_lock);
    c->next = st->conns;
    if (st->conns)
        st->conns->prev = c;
    st->conns = c;
    pthread_mutex_unlock(&st->conns_lock);
    return c;
}

struct db_conn *db_conn_get(struct store *st, struct err *e)
{
    struct db_conn *c = pthread_getspecific(st->key);
    if (c)
        return c;
    c = conn_open(st, e);
    if (c)
        pthread_setspecific(st->key, c);
    return c;
}

/* Process-wide settings, before the first connection: no memory statistics (they take a global
 * mutex on every allocation, which every thread's connection would contend for). */
static void configure_once(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

struct store *db_sqlite_open(const char *path, struct err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, configure_once);
    struct store *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&st->write_lock, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&st->conns_lock, NULL);
    if (pthread_key_create(&st->key, conn_destroy) != 0) {
        free(st->path);
        free(st);
        err_set(e, ERR_INTERNAL, "pthread_key_create failed");
        return NULL;
    }
    if (!db_conn_get(st, e)) {
        pthread_key_delete(st->key);
        free(st->path);
        free(st);
        return NULL;
    }
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    /* This thread's connection, then any left by threads that have already exited. */
    struct db_conn *mine = pthread_getspecific(st->key);
    if (mine) {
        pthread_setspecific(st->key, NULL);
        conn_destroy(mine);
    }
    pthread_mutex_lock(&st->conns_lock);
    struct db_conn *c = st->conns;
    st->conns = NULL;
    pthread_mutex_unlock(&st->conns_lock);
    while (c) {
        struct db_conn *next = c->next;
        conn_close(c);
        c = next;
    }
    pthread_key_delete(st->key);
    pthread_mutex_destroy(&st->write_lock);
    pthread_mutex_destroy(&st->conns_lock);
    free(st->path);
    free(st);
}

int store_tx_begin(struct store *st, struct err *e)
{
    struct db_conn *c = db_conn_get(st, e);
    if (!c)
        return -1;
    if (c->in_tx)
        return err_set(e, ERR_INTERNAL, "transaction already open on this thread");
    pthread_mutex_lock(&st->write_lock);
    if (exec_simple(c->h, "BEGIN IMMEDIATE", e) < 0) {
        pthread_mutex_unlock(&st->write_lock);
        return -1;
    }
    c->in_tx = true;
    return 0;
}

int store_tx_commit(struct store *st, struct err *e)
{
    struct db_conn *c = pthread_getspecific(st->key);
    if (!c || !c->in_tx)
        return err_set(e, ERR_INTERNAL, "no transaction open on this thread");
    int r = exec_simple(c->h, "COMMIT", e);
    if (r < 0)
        sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
    c->in_tx = false;
    pthread_mutex_unlock(&st->write_lock);
    return r;
}

void store_tx_rollback(struct store *st)
{
    struct db_conn *c = pthread_getspecific(st->key);
    if (!c || !c->in_tx)
        return;
    sqlite3_exec(c->h, "ROLLBACK", NULL, NULL, NULL);
    c->in_tx = false;
    pthread_mutex_unlock(&st->write_lock);
}

int db_query(struct db_q *q, struct store *st, const char *sql, struct err *e)
{
    memset(q, 0, sizeof *q);
    struct db_conn *c = db_conn_get(st, e);
    if (!c)
        return -1;
    sqlite3_stmt *s = stmt_get(c, sql);
    if (s && sqlite3_stmt_busy(s)) {
        /* The cached statement is in use further up this thread's stack: use a fresh one. */
        s = NULL;
        q->temp = true;
    }
    if (!s) {
        int rc =
            sqlite3_prepare_v3(c->h, sql, -1, q->temp ? 0 : SQLITE_PREPARE_PERSISTENT, &s, NULL);
        if (rc != SQLITE_OK)
            return sql_error(e, c->h, rc, "prepare");
        if (!q->temp)
            stmt_put(c, sql, s);
    }
    q->c = c;
    q->s = s;
    if (!c->in_tx && !sqlite3_stmt_readonly(s)) {
        pthread_mutex_lock(&st->write_lock);
        q->holds_write_lock = true;
    }
    return 0;
}

void db_bind_text(struct db_q *q, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(q->s, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(q->s, i);
}

void db_bind_int(struct db_q *q, int i, int64_t v)
{
    sqlite3_bind_int64(q->s, i, v);
}

void db_bind_bool(struct db_q *q, int i, bool v)
{
    sqlite3_bind_int(q->s, i, v ? 1 : 0);
}

void db_bind_time(struct db_q *q, int i, int64_t us)
{
    if (us)
        sqlite3_bind_int64(q->s, i, us);
    else
        sqlite3_bind_null(q->s, i);
}

void db_bind_null(struct db_q *q, int i)
{
    sqlite3_bind_null(q->s, i);
}

void db_bind_blob(struct db_q *q, int i, const void *p, size_t n)
{
    sqlite3_bind_blob64(q->s, i, n ? p : "", n, SQLITE_TRANSIENT);
}

int db_step(struct db_q *q, struct err *e)
{
    int rc = sqlite3_step(q->s);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return sql_error(e, q->c->h, rc, "step");
}

int64_t db_changes(struct db_q *q)
{
    return sqlite3_changes64(q->c->h);
}

const char *db_col_text(struct db_q *q, int i)
{
    const unsigned char *t = sqlite3_column_text(q->s, i);
    return t ? (const char *)t : "";
}

char *db_col_dup(struct db_q *q, int i)
{
    return xstrdup(db_col_text(q, i));
}

void db_col_copy(struct db_q *q, int i, char *dst, size_t size)
{
    str_copy(dst, size, db_col_text(q, i));
}

int64_t db_col_int(struct db_q *q, int i)
{
    return sqlite3_column_int64(q->s, i);
}

bool db_col_bool(struct db_q *q, int i)
{
    return sqlite3_column_int64(q->s, i) != 0;
}

int64_t db_col_time(struct db_q *q, int i)
{
    return sqlite3_column_type(q->s, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(q->s, i);
}

bool db_col_null(struct db_q *q, int i)
{
    return sqlite3_column_type(q->s, i) == SQLITE_NULL;
}

const void *db_col_blob(struct db_q *q, int i, size_t *n)
{
    const void *p = sqlite3_column_blob(q->s, i);
    *n = (size_t)sqlite3_column_bytes(q->s, i);
    return p;
}

void db_end(struct db_q *q)
{
    if (!q->s)
        return;
    if (q->temp) {
        sqlite3_finalize(q->s);
    } else {
        sqlite3_reset(q->s);
        sqlite3_clear_bindings(q->s);
    }
    if (q->holds_write_lock)
        pthread_mutex_unlock(&q->c->st->write_lock);
    memset(q, 0, sizeof *q);
}

int db_exec(struct store *st, const char *sql, struct err *e)
{
    struct db_conn *c = db_conn_get(st, e);
    if (!c)
        return -1;
    bool lock = !c->in_tx;
    if (lock)
        pthread_mutex_lock(&st->write_lock);
    int r = exec_simple(c->h, sql, e);
    if (lock)
        pthread_mutex_unlock(&st->write_lock);
    return r;
}

int64_t db_run(struct db_q *q, struct err *e)
{
    int r;
    while ((r = db_step(q, e)) > 0)
        ;
    int64_t changes = r < 0 ? -1 : db_changes(q);
    db_end(q);
    return changes;
}

int db_one(struct db_q *q, const char *what, struct err *e)
{
    int r = db_step(q, e);
    if (r > 0)
        return 0;
    db_end(q);
    if (r == 0)
        return err_set(e, ERR_NOT_FOUND, "%s not found", what);
    return -1;
}

bool db_tx_active(struct store *st)
{
    struct db_conn *c = pthread_getspecific(st->key);
    return c && c->in_tx;
}

int db_tx_ensure(struct store *st, bool *opened, struct err *e)
{
    *opened = false;
    if (db_tx_active(st))
        return 0;
    if (store_tx_begin(st, e) < 0)
        return -1;
    *opened = true;
    return 0;
}
