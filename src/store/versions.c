/* versions.c - template versions and what their import stored: parameters, agents, scripts. */
#include "base/mem.h"
#include "store/db.h"
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

#define VERSION_COLS                                                                               \
    "id, template_id, name, message, readme, file_id, job_id, display_name, description, icon, "   \
    "provision, provision_timeout_ms, archived, created_by, created_at, updated_at"

void template_version_clear(struct template_version *v)
{
    free(v->message);
    free(v->readme);
    free(v->description);
    free(v->icon);
    free(v->provision);
    memset(v, 0, sizeof *v);
}

static void version_read(struct db_q *q, struct template_version *v)
{
    memset(v, 0, sizeof *v);
    db_col_copy(q, 0, v->id, sizeof v->id);
    db_col_copy(q, 1, v->template_id, sizeof v->template_id);
    db_col_copy(q, 2, v->name, sizeof v->name);
    v->message = db_col_dup(q, 3);
    v->readme = db_col_dup(q, 4);
    db_col_copy(q, 5, v->file_id, sizeof v->file_id);
    db_col_copy(q, 6, v->job_id, sizeof v->job_id);
    db_col_copy(q, 7, v->display_name, sizeof v->display_name);
    v->description = db_col_dup(q, 8);
    v->icon = db_col_dup(q, 9);
    v->provision = db_col_dup(q, 10);
    v->provision_timeout_ms = db_col_int(q, 11);
    v->archived = db_col_bool(q, 12);
    db_col_copy(q, 13, v->created_by, sizeof v->created_by);
    v->created_at = db_col_int(q, 14);
    v->updated_at = db_col_int(q, 15);
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

int store_version_insert(struct store *st, const struct template_version *v, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO template_versions (" VERSION_COLS
                 ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, v->id);
    db_bind_text(&q, 2, v->template_id[0] ? v->template_id : NULL);
    db_bind_text(&q, 3, v->name);
    db_bind_text(&q, 4, or_empty(v->message));
    db_bind_text(&q, 5, or_empty(v->readme));
    db_bind_text(&q, 6, v->file_id);
    db_bind_text(&q, 7, v->job_id);
    db_bind_text(&q, 8, v->display_name);
    db_bind_text(&q, 9, or_empty(v->description));
    db_bind_text(&q, 10, or_empty(v->icon));
    db_bind_text(&q, 11, or_empty(v->provision));
    db_bind_int(&q, 12, v->provision_timeout_ms);
    db_bind_bool(&q, 13, v->archived);
    db_bind_text(&q, 14, v->created_by);
    db_bind_int(&q, 15, v->created_at);
    db_bind_int(&q, 16, v->updated_at);
    return db_run(&q, e) < 0 ? -1 : 0;
}

static int version_get_by(struct store *st, const char *sql, const char *a, const char *b,
                          struct template_version *out, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st, sql, e) < 0)
        return -1;
    db_bind_text(&q, 1, a);
    if (b)
        db_bind_text(&q, 2, b);
    if (db_one(&q, "template version", e) < 0)
        return -1;
    version_read(&q, out);
    db_end(&q);
    return 0;
}

int store_version_get(struct store *st, const char *id, struct template_version *out, struct err *e)
{
    return version_get_by(st, "SELECT " VERSION_COLS " FROM template_versions WHERE id = ?1", id,
                          NULL, out, e);
}

int store_version_get_by_job(struct store *st, const char *job_id, struct template_version *out,
                             struct err *e)
{
    return version_get_by(st, "SELECT " VERSION_COLS " FROM template_versions WHERE job_id = ?1",
                          job_id, NULL, out, e);
}

int store_version_get_by_name(struct store *st, const char *template_id, const char *name,
                              struct template_version *out, struct err *e)
{
    return version_get_by(st,
                          "SELECT " VERSION_COLS " FROM template_versions"
                          " WHERE template_id = ?1 AND lower(name) = lower(?2)",
                          template_id, name, out, e);
}

int store_version_list(struct store *st, const char *template_id, struct version_list *out,
                       struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT " VERSION_COLS " FROM template_versions WHERE template_id = ?1"
                 " ORDER BY created_at, id",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, template_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        version_read(&q, &out->items[out->n++]);
    }
    db_end(&q);
    if (r < 0) {
        version_list_free(out);
        return -1;
    }
    return 0;
}

void version_list_free(struct version_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        template_version_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

static int update_one(struct db_q *q, struct err *e)
{
    int64_t n = db_run(q, e);
    if (n < 0)
        return -1;
    return n ? 0 : err_set(e, ERR_NOT_FOUND, "template version not found");
}

int store_version_set_template(struct store *st, const char *id, const char *template_id,
                               int64_t now, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE template_versions SET template_id = ?2, updated_at = ?3 WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_text(&q, 2, template_id);
    db_bind_int(&q, 3, now);
    return update_one(&q, e);
}

int store_version_set_import_result(struct store *st, const struct template_version *v,
                                    struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE template_versions SET readme = ?2, display_name = ?3, description = ?4,"
                 " icon = ?5, provision = ?6, provision_timeout_ms = ?7, updated_at = ?8"
                 " WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, v->id);
    db_bind_text(&q, 2, or_empty(v->readme));
    db_bind_text(&q, 3, v->display_name);
    db_bind_text(&q, 4, or_empty(v->description));
    db_bind_text(&q, 5, or_empty(v->icon));
    db_bind_text(&q, 6, or_empty(v->provision));
    db_bind_int(&q, 7, v->provision_timeout_ms);
    db_bind_int(&q, 8, v->updated_at);
    return update_one(&q, e);
}

int store_version_set_archived(struct store *st, const char *id, bool archived, int64_t now,
                               struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "UPDATE template_versions SET archived = ?2, updated_at = ?3 WHERE id = ?1",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, id);
    db_bind_bool(&q, 2, archived);
    db_bind_int(&q, 3, now);
    return update_one(&q, e);
}

int store_version_name_taken(struct store *st, const char *template_id, const char *name, bool *out,
                             struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT EXISTS (SELECT 1 FROM template_versions"
                 " WHERE template_id = ?1 AND lower(name) = lower(?2))",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, template_id);
    db_bind_text(&q, 2, name);
    if (db_one(&q, "version name", e) < 0)
        return -1;
    *out = db_col_bool(&q, 0);
    db_end(&q);
    return 0;
}

/* ---- parameters, agents, scripts ---- */

void version_param_clear(struct version_param *p)
{
    free(p->description);
    free(p->default_value);
    free(p->options);
    free(p->validation_regex);
    free(p->validation_error);
    memset(p, 0, sizeof *p);
}

void version_agent_clear(struct version_agent *a)
{
    free(a->directory);
    memset(a, 0, sizeof *a);
}

void version_script_clear(struct version_script *s)
{
    free(s->script);
    memset(s, 0, sizeof *s);
}

int store_version_param_insert(struct store *st, const char *version_id,
                               const struct version_param *p, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO template_version_parameters (template_version_id, name, display_name,"
                 " description, type, mutable, default_value, required, ephemeral, options,"
                 " validation_regex, validation_error, validation_min, validation_max,"
                 " validation_monotonic, display_order) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
                 " ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    db_bind_text(&q, 2, p->name);
    db_bind_text(&q, 3, p->display_name);
    db_bind_text(&q, 4, or_empty(p->description));
    db_bind_text(&q, 5, p->type);
    db_bind_bool(&q, 6, p->mutable_);
    db_bind_text(&q, 7, or_empty(p->default_value));
    db_bind_bool(&q, 8, p->required);
    db_bind_bool(&q, 9, p->ephemeral);
    db_bind_text(&q, 10, p->options ? p->options : "[]");
    db_bind_text(&q, 11, or_empty(p->validation_regex));
    db_bind_text(&q, 12, or_empty(p->validation_error));
    if (p->has_min)
        db_bind_int(&q, 13, p->validation_min);
    else
        db_bind_null(&q, 13);
    if (p->has_max)
        db_bind_int(&q, 14, p->validation_max);
    else
        db_bind_null(&q, 14);
    db_bind_text(&q, 15, p->validation_monotonic);
    db_bind_int(&q, 16, p->display_order);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_version_agent_insert(struct store *st, const char *version_id,
                               const struct version_agent *a, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO template_version_agents (template_version_id, name, directory,"
                 " connection_timeout_seconds, display_order) VALUES (?1, ?2, ?3, ?4, ?5)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    db_bind_text(&q, 2, a->name);
    db_bind_text(&q, 3, or_empty(a->directory));
    db_bind_int(&q, 4, a->connection_timeout_seconds);
    db_bind_int(&q, 5, a->display_order);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_version_script_insert(struct store *st, const char *version_id,
                                const struct version_script *s, struct err *e)
{
    struct db_q q;
    if (db_query(&q, st,
                 "INSERT INTO template_version_agent_scripts (template_version_id, agent_name,"
                 " name, script, run_on_start, run_on_stop, start_blocks_login, timeout_seconds,"
                 " display_order) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    db_bind_text(&q, 2, s->agent_name);
    db_bind_text(&q, 3, s->name);
    db_bind_text(&q, 4, or_empty(s->script));
    db_bind_bool(&q, 5, s->run_on_start);
    db_bind_bool(&q, 6, s->run_on_stop);
    db_bind_bool(&q, 7, s->start_blocks_login);
    db_bind_int(&q, 8, s->timeout_seconds);
    db_bind_int(&q, 9, s->display_order);
    return db_run(&q, e) < 0 ? -1 : 0;
}

int store_version_params(struct store *st, const char *version_id, struct version_param_list *out,
                         struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT name, display_name, description, type, mutable, default_value, required,"
                 " ephemeral, options, validation_regex, validation_error, validation_min,"
                 " validation_max, validation_monotonic, display_order"
                 " FROM template_version_parameters WHERE template_version_id = ?1"
                 " ORDER BY display_order, name",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct version_param *p = &out->items[out->n++];
        memset(p, 0, sizeof *p);
        db_col_copy(&q, 0, p->name, sizeof p->name);
        db_col_copy(&q, 1, p->display_name, sizeof p->display_name);
        p->description = db_col_dup(&q, 2);
        db_col_copy(&q, 3, p->type, sizeof p->type);
        p->mutable_ = db_col_bool(&q, 4);
        p->default_value = db_col_dup(&q, 5);
        p->required = db_col_bool(&q, 6);
        p->ephemeral = db_col_bool(&q, 7);
        p->options = db_col_dup(&q, 8);
        p->validation_regex = db_col_dup(&q, 9);
        p->validation_error = db_col_dup(&q, 10);
        p->has_min = !db_col_null(&q, 11);
        p->validation_min = db_col_int(&q, 11);
        p->has_max = !db_col_null(&q, 12);
        p->validation_max = db_col_int(&q, 12);
        db_col_copy(&q, 13, p->validation_monotonic, sizeof p->validation_monotonic);
        p->display_order = (int)db_col_int(&q, 14);
    }
    db_end(&q);
    if (r < 0) {
        version_param_list_free(out);
        return -1;
    }
    return 0;
}

int store_version_agents(struct store *st, const char *version_id, struct version_agent_list *out,
                         struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT name, directory, connection_timeout_seconds, display_order"
                 " FROM template_version_agents WHERE template_version_id = ?1"
                 " ORDER BY display_order, name",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct version_agent *a = &out->items[out->n++];
        memset(a, 0, sizeof *a);
        db_col_copy(&q, 0, a->name, sizeof a->name);
        a->directory = db_col_dup(&q, 1);
        a->connection_timeout_seconds = db_col_int(&q, 2);
        a->display_order = (int)db_col_int(&q, 3);
    }
    db_end(&q);
    if (r < 0) {
        version_agent_list_free(out);
        return -1;
    }
    return 0;
}

int store_version_scripts(struct store *st, const char *version_id, struct version_script_list *out,
                          struct err *e)
{
    memset(out, 0, sizeof *out);
    struct db_q q;
    if (db_query(&q, st,
                 "SELECT agent_name, name, script, run_on_start, run_on_stop, start_blocks_login,"
                 " timeout_seconds, display_order FROM template_version_agent_scripts"
                 " WHERE template_version_id = ?1 ORDER BY agent_name, display_order, name",
                 e) < 0)
        return -1;
    db_bind_text(&q, 1, version_id);
    int r;
    while ((r = db_step(&q, e)) > 0) {
        out->items = xreallocarray(out->items, out->n + 1, sizeof *out->items);
        struct version_script *s = &out->items[out->n++];
        memset(s, 0, sizeof *s);
        db_col_copy(&q, 0, s->agent_name, sizeof s->agent_name);
        db_col_copy(&q, 1, s->name, sizeof s->name);
        s->script = db_col_dup(&q, 2);
        s->run_on_start = db_col_bool(&q, 3);
        s->run_on_stop = db_col_bool(&q, 4);
        s->start_blocks_login = db_col_bool(&q, 5);
        s->timeout_seconds = db_col_int(&q, 6);
        s->display_order = (int)db_col_int(&q, 7);
    }
    db_end(&q);
    if (r < 0) {
        version_script_list_free(out);
        return -1;
    }
    return 0;
}

void version_param_list_free(struct version_param_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        version_param_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void version_agent_list_free(struct version_agent_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        version_agent_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void version_script_list_free(struct version_script_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        version_script_clear(&l->items[i]);
    free(l->items);
    memset(l, 0, sizeof *l);
}
