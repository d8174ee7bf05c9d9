/* files.c - uploaded files (template archives), keyed by the hash of their content. */
#include "base/mem.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

void file_row_clear(struct file_row *f)
{
    free(f->data);
    memset(f, 0, sizeof *f);
}

int store_file_insert(struct store *st, const struct file_row *f, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO files (id, mimetype, data, created_by, created_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, f->id);
    db_bind_text(&q, 2, f->mimetype);
    db_bind_blob(&q, 3, f->data, f->size);
    db_bind_text(&q, 4, f->created_by);
    db_bind_int(&q, 5, f->created_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_file_get(struct store *st, const char *id, bool with_data, struct file_row *out,
                   struct err *e)
{
    struct db_q q;
    const char *sql = with_data ? "SELECT id, mimetype, created_by, created_at, length(data), data"
                                  " FROM files WHERE id = ?1"
                                : "SELECT id, mimetype, created_by, created_at, length(data)"
                                  " FROM files WHERE id = ?1";
    if (db_query(&q, st, sql, e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    if (db_one(&q, "file", e) < 0)
        return -1;
    memset(out, 0, sizeof *out);
    db_col_copy(&q, 0, out->id, sizeof out->id);
    db_col_copy(&q, 1, out->mimetype, sizeof out->mimetype);
    db_col_copy(&q, 2, out->created_by, sizeof out->created_by);
    out->created_at = db_col_int(&q, 3);
    out->size = (size_t)db_col_int(&q, 4);
    if (with_data) {
        size_t n;
        const void *p = db_col_blob(&q, 5, &n);
        out->data = xmemdup(p ? p : "", n);
        out->size = n;
    }
    db_end(&q);
    return 0;
}
