/* render.c - JSON shapes of the API's objects (spec/api.md). */
#include "api/internal.h"

json_t *render_user(const struct user *u)
{
    const char *names[3];
    int n = rbac_role_names(u->roles, names);
    json_t *roles = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(roles, json_string(names[i]));
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:o}", "id", u->id, "username", u->username,
                     "email", u->email, "roles", roles, "status", user_status_name(u->status),
                     "created_at", jsonx_time(u->created_at));
}

json_t *render_job(const struct job *j)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "id", j->id, "type",
        job_type_name(j->type), "status", job_status_name(j->status), "error",
        j->error ? j->error : "", "error_code", j->error_code, "created_at",
        jsonx_time(j->created_at), "started_at", jsonx_time(j->started_at), "completed_at",
        jsonx_time(j->completed_at), "canceled_at", jsonx_time(j->canceled_at), "worker_id",
        j->worker_id[0] ? json_string(j->worker_id) : json_null(), "file_id", j->file_id);
}

json_t *render_template(const struct template_row *t)
{
    const char *dep = t->deprecated ? t->deprecated : "";
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:s, s:I, s:I, s:b, s:s, s:o, "
        "s:o}",
        "id", t->id, "name", t->name, "display_name", t->display_name, "description",
        t->description ? t->description : "", "icon", t->icon ? t->icon : "", "active_version_id",
        t->active_version_id, "require_active_version", t->require_active_version, "deprecated",
        dep[0] != '\0', "deprecation_message", dep, "default_ttl_ms", (json_int_t)t->default_ttl_ms,
        "activity_bump_ms", (json_int_t)t->activity_bump_ms, "allow_user_cancel_workspace_jobs",
        t->allow_user_cancel_workspace_jobs, "created_by_id", t->created_by, "created_at",
        jsonx_time(t->created_at), "updated_at", jsonx_time(t->updated_at));
}

json_t *render_version(const struct template_version *v, const struct job *job)
{
    json_t *o = json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:b, s:s, s:s, s:I, s:s, s:o, s:o}", "id", v->id, "template_id",
        v->template_id[0] ? json_string(v->template_id) : json_null(), "name", v->name, "message",
        v->message ? v->message : "", "readme", v->readme ? v->readme : "", "archived", v->archived,
        "file_id", v->file_id, "provision", v->provision ? v->provision : "",
        "provision_timeout_ms", (json_int_t)v->provision_timeout_ms, "created_by_id", v->created_by,
        "created_at", jsonx_time(v->created_at), "updated_at", jsonx_time(v->updated_at));
    json_object_set_new(o, "job", job ? render_job(job) : json_null());
    return o;
}

json_t *render_version_param(const struct version_param *p)
{
    json_error_t je;
    json_t *options = json_loads(p->options ? p->options : "[]", 0, &je);
    if (!options)
        options = json_array();
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:b, s:b, s:o, s:s, s:s, s:o, s:o, s:s, "
                     "s:i}",
                     "name", p->name, "display_name", p->display_name, "description",
                     p->description ? p->description : "", "type", p->type, "mutable", p->mutable_,
                     "default_value", p->default_value ? p->default_value : "", "required",
                     p->required, "ephemeral", p->ephemeral, "options", options, "validation_regex",
                     p->validation_regex ? p->validation_regex : "", "validation_error",
                     p->validation_error ? p->validation_error : "", "validation_min",
                     p->has_min ? json_integer(p->validation_min) : json_null(), "validation_max",
                     p->has_max ? json_integer(p->validation_max) : json_null(),
                     "validation_monotonic", p->validation_monotonic, "display_order",
                     p->display_order);
}

json_t *render_job_log(const struct job_log *l)
{
    return json_pack("{s:I, s:o, s:s, s:s, s:s, s:s}", "id", (json_int_t)l->id, "created_at",
                     jsonx_time(l->created_at), "log_source", log_source_name(l->source),
                     "log_level", job_log_level_name(l->level), "stage", l->stage, "output",
                     l->output ? l->output : "");
}
