/* render.c - JSON shapes of the API's objects (spec/api.md), written with the streaming
 * writer (base/jw.h). */
#include "api/internal.h"

void render_user(struct jw *w, const struct user *u)
{
    const char *names[3];
    int n = rbac_role_names(u->roles, names);
    jw_object(w);
    jw_kstr(w, "id", u->id);
    jw_kstr(w, "username", u->username);
    jw_kstr(w, "email", u->email);
    jw_key(w, "roles");
    jw_array(w);
    for (int i = 0; i < n; i++)
        jw_str(w, names[i]);
    jw_array_end(w);
    jw_kstr(w, "status", user_status_name(u->status));
    jw_ktime(w, "created_at", u->created_at);
    jw_object_end(w);
}

void render_job(struct jw *w, const struct job *j)
{
    jw_object(w);
    jw_kstr(w, "id", j->id);
    jw_kstr(w, "type", job_type_name(j->type));
    jw_kstr(w, "status", job_status_name(j->status));
    jw_kstr(w, "error", j->error);
    jw_kstr(w, "error_code", j->error_code);
    jw_ktime(w, "created_at", j->created_at);
    jw_ktime(w, "started_at", j->started_at);
    jw_ktime(w, "completed_at", j->completed_at);
    jw_ktime(w, "canceled_at", j->canceled_at);
    jw_kstr_or_null(w, "worker_id", j->worker_id);
    jw_kstr(w, "file_id", j->file_id);
    jw_object_end(w);
}

void render_template(struct jw *w, const struct template_row *t)
{
    const char *dep = t->deprecated ? t->deprecated : "";
    jw_object(w);
    jw_kstr(w, "id", t->id);
    jw_kstr(w, "name", t->name);
    jw_kstr(w, "display_name", t->display_name);
    jw_kstr(w, "description", t->description);
    jw_kstr(w, "icon", t->icon);
    jw_kstr(w, "active_version_id", t->active_version_id);
    jw_kbool(w, "require_active_version", t->require_active_version);
    jw_kbool(w, "deprecated", dep[0] != '\0');
    jw_kstr(w, "deprecation_message", dep);
    jw_kint(w, "default_ttl_ms", t->default_ttl_ms);
    jw_kint(w, "activity_bump_ms", t->activity_bump_ms);
    jw_kbool(w, "allow_user_cancel_workspace_jobs", t->allow_user_cancel_workspace_jobs);
    jw_kstr(w, "created_by_id", t->created_by);
    jw_ktime(w, "created_at", t->created_at);
    jw_ktime(w, "updated_at", t->updated_at);
    jw_object_end(w);
}

void render_version(struct jw *w, const struct template_version *v, const struct job *job)
{
    jw_object(w);
    jw_kstr(w, "id", v->id);
    jw_kstr_or_null(w, "template_id", v->template_id);
    jw_kstr(w, "name", v->name);
    jw_kstr(w, "message", v->message);
    jw_kstr(w, "readme", v->readme);
    jw_kbool(w, "archived", v->archived);
    jw_kstr(w, "file_id", v->file_id);
    jw_kstr(w, "provision", v->provision);
    jw_kint(w, "provision_timeout_ms", v->provision_timeout_ms);
    jw_kstr(w, "created_by_id", v->created_by);
    jw_ktime(w, "created_at", v->created_at);
    jw_ktime(w, "updated_at", v->updated_at);
    jw_key(w, "job");
    if (job)
        render_job(w, job);
    else
        jw_null(w);
    jw_object_end(w);
}

void render_version_param(struct jw *w, const struct version_param *p)
{
    jw_object(w);
    jw_kstr(w, "name", p->name);
    jw_kstr(w, "display_name", p->display_name);
    jw_kstr(w, "description", p->description);
    jw_kstr(w, "type", p->type);
    jw_kbool(w, "mutable", p->mutable_);
    jw_kstr(w, "default_value", p->default_value);
    jw_kbool(w, "required", p->required);
    jw_kbool(w, "ephemeral", p->ephemeral);
    /* Options are stored as JSON written by the import; parse to re-emit them safely. */
    json_error_t je;
    json_t *options = json_loads(p->options ? p->options : "[]", 0, &je);
    jw_key(w, "options");
    if (json_is_array(options))
        jw_json(w, options);
    else
        jw_raw(w, "[]");
    json_decref(options);
    jw_kstr(w, "validation_regex", p->validation_regex);
    jw_kstr(w, "validation_error", p->validation_error);
    jw_key(w, "validation_min");
    if (p->has_min)
        jw_int(w, p->validation_min);
    else
        jw_null(w);
    jw_key(w, "validation_max");
    if (p->has_max)
        jw_int(w, p->validation_max);
    else
        jw_null(w);
    jw_kstr(w, "validation_monotonic", p->validation_monotonic);
    jw_kint(w, "display_order", p->display_order);
    jw_object_end(w);
}

void render_job_log(struct jw *w, const struct job_log *l)
{
    jw_object(w);
    jw_kint(w, "id", l->id);
    jw_ktime(w, "created_at", l->created_at);
    jw_kstr(w, "log_source", log_source_name(l->source));
    jw_kstr(w, "log_level", job_log_level_name(l->level));
    jw_kstr(w, "stage", l->stage);
    jw_kstr(w, "output", l->output);
    jw_object_end(w);
}
