/* admin.c - creating, reading and changing templates: policy, promotion, archiving. */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "template/template.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define DESCRIPTION_MAX 1024
#define ICON_MAX        256
#define TTL_MAX_MS      (30LL * 24 * 3600 * 1000)

bool template_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > NAME_MAX_LEN || name[0] == '-' || name[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '-') {
            if (name[i + 1] == '-')
                return false;
        } else if (!isalnum((unsigned char)name[i])) {
            return false;
        }
    }
    return true;
}

bool template_version_readable(const struct subject *sub, const struct template_version *v)
{
    struct rbac_object obj = {RBAC_TEMPLATE_VERSION, v->id, v->template_id};
    if (rbac_allowed(sub, RBAC_READ, &obj))
        return true;
    return strcmp(v->created_by, sub->user_id) == 0;
}

int template_get(struct store *st, const struct subject *sub, const char *id,
                 struct template_row *out, struct err *e)
{
    struct rbac_object obj = {RBAC_TEMPLATE, id, NULL};
    if (!rbac_allowed(sub, RBAC_READ, &obj) || !uuid_valid(id))
        return rbac_not_found(e);
    struct err ge = ERR_INIT;
    if (store_template_get(st, id, out, &ge) < 0) {
        if (err_is(&ge, ERR_NOT_FOUND)) {
            err_clear(&ge);
            return rbac_not_found(e);
        }
        return err_move(e, &ge);
    }
    if (out->deleted) {
        template_row_clear(out);
        return rbac_not_found(e);
    }
    return 0;
}

int template_version_get(struct store *st, const struct subject *sub, const char *id,
                         struct template_version *out, struct err *e)
{
    if (!uuid_valid(id))
        return rbac_not_found(e);
    struct err ge = ERR_INIT;
    if (store_version_get(st, id, out, &ge) < 0) {
        if (err_is(&ge, ERR_NOT_FOUND)) {
            err_clear(&ge);
            return rbac_not_found(e);
        }
        return err_move(e, &ge);
    }
    if (!template_version_readable(sub, out)) {
        template_version_clear(out);
        return rbac_not_found(e);
    }
    return 0;
}

static int check_text(const char *field, const char *v, size_t max, struct err *e)
{
    if (v && strlen(v) > max)
        return jsonx_invalid(e, field, "must be at most %zu bytes", max);
    return 0;
}

static int check_ttl(int64_t ttl, struct err *e)
{
    if (ttl < 0 || ttl > TTL_MAX_MS)
        return jsonx_invalid(e, "default_ttl_ms", "must be between 0 and %lld (30 days)",
                             (long long)TTL_MAX_MS);
    return 0;
}

int template_create(struct store *st, const struct subject *sub, const struct template_create *req,
                    struct template_row *out, struct err *e)
{
    struct rbac_object obj = {RBAC_TEMPLATE, NULL, NULL};
    if (rbac_authorize(sub, RBAC_CREATE, &obj, e) < 0)
        return -1;
    if (!req->name || !*req->name)
        return jsonx_invalid(e, "name", "is required");
    if (!template_name_valid(req->name))
        return jsonx_invalid(e, "name",
                             "must be 1 to 64 letters, digits and single hyphens, not starting "
                             "or ending with a hyphen");
    if (req->display_name && strlen(req->display_name) > NAME_MAX_LEN)
        return jsonx_invalid(e, "display_name", "must be at most %d bytes", NAME_MAX_LEN);
    if (check_text("description", req->description, DESCRIPTION_MAX, e) < 0 ||
        check_text("icon", req->icon, ICON_MAX, e) < 0 || check_ttl(req->default_ttl_ms, e) < 0)
        return -1;
    if (!req->version_id || !*req->version_id)
        return jsonx_invalid(e, "template_version_id", "is required");
    struct template_version v;
    if (!uuid_valid(req->version_id) || store_version_get(st, req->version_id, &v, NULL) < 0)
        return jsonx_invalid(e, "template_version_id", "no template version has this id");
    struct template_row t;
    memset(&t, 0, sizeof t);
    struct job job;
    memset(&job, 0, sizeof job);
    int rc = -1;
    if (v.template_id[0]) {
        jsonx_invalid(e, "template_version_id", "the version already belongs to a template");
        goto out;
    }
    if (store_job_get(st, v.job_id, &job, e) < 0)
        goto out;
    if (job.status != JOB_SUCCEEDED) {
        err_set(e, ERR_BAD_REQUEST, "The template version's import has not succeeded.");
        err_detail(e, "Its import job is %s%s%s.", job_status_name(job.status),
                   job.error && *job.error ? ": " : "", job.error ? job.error : "");
        goto out;
    }
    uuid_v7(t.id);
    str_copy(t.name, sizeof t.name, req->name);
    str_copy(t.display_name, sizeof t.display_name,
             req->display_name ? req->display_name : v.display_name);
    t.description = xstrdup(req->description ? req->description : v.description);
    t.icon = xstrdup(req->icon ? req->icon : v.icon);
    t.deprecated = xstrdup("");
    str_copy(t.active_version_id, sizeof t.active_version_id, v.id);
    t.require_active_version = req->require_active_version;
    t.default_ttl_ms = req->default_ttl_ms;
    t.activity_bump_ms = 3600000;
    t.allow_user_cancel_workspace_jobs = true;
    str_copy(t.created_by, sizeof t.created_by, sub->user_id);
    t.created_at = t.updated_at = time_now_us();
    if (store_tx_begin(st, e) < 0)
        goto out;
    struct err ie = ERR_INIT;
    if (store_template_insert(st, &t, &ie) < 0) {
        store_tx_rollback(st);
        if (err_is(&ie, ERR_CONFLICT)) {
            err_clear(&ie);
            err_set(e, ERR_CONFLICT, "A template named \"%s\" already exists.", t.name);
            err_add_validation(e, "name", "is already in use");
        } else {
            err_move(e, &ie);
        }
        goto out;
    }
    if (store_version_set_template(st, v.id, t.id, t.created_at, e) < 0 ||
        store_tx_commit(st, e) < 0) {
        store_tx_rollback(st);
        goto out;
    }
    if (out) {
        *out = t;
        memset(&t, 0, sizeof t);
    }
    rc = 0;
out:
    template_row_clear(&t);
    job_clear(&job);
    template_version_clear(&v);
    return rc;
}

int template_update(struct store *st, const struct subject *sub, const char *template_id,
                    const struct template_patch *patch, struct template_row *out, struct err *e)
{
    struct template_row t;
    if (template_get(st, sub, template_id, &t, e) < 0)
        return -1;
    struct rbac_object obj = {RBAC_TEMPLATE, t.id, NULL};
    int rc = -1;
    if (rbac_authorize(sub, RBAC_UPDATE, &obj, e) < 0)
        goto out;
    if (patch->has_display_name) {
        if (strlen(patch->display_name) > NAME_MAX_LEN) {
            jsonx_invalid(e, "display_name", "must be at most %d bytes", NAME_MAX_LEN);
            goto out;
        }
        str_copy(t.display_name, sizeof t.display_name, patch->display_name);
    }
    if (patch->has_description) {
        if (check_text("description", patch->description, DESCRIPTION_MAX, e) < 0)
            goto out;
        free(t.description);
        t.description = xstrdup(patch->description);
    }
    if (patch->has_icon) {
        if (check_text("icon", patch->icon, ICON_MAX, e) < 0)
            goto out;
        free(t.icon);
        t.icon = xstrdup(patch->icon);
    }
    if (patch->has_deprecation_message) {
        if (check_text("deprecation_message", patch->deprecation_message, DESCRIPTION_MAX, e) < 0)
            goto out;
        free(t.deprecated);
        t.deprecated = xstrdup(patch->deprecation_message);
    }
    if (patch->has_require_active_version)
        t.require_active_version = patch->require_active_version;
    if (patch->has_default_ttl_ms) {
        if (check_ttl(patch->default_ttl_ms, e) < 0)
            goto out;
        t.default_ttl_ms = patch->default_ttl_ms;
    }
    t.updated_at = time_now_us();
    if (store_template_update(st, &t, e) < 0)
        goto out;
    if (out) {
        *out = t;
        memset(&t, 0, sizeof t);
    }
    rc = 0;
out:
    template_row_clear(&t);
    return rc;
}

int template_promote(struct store *st, struct pubsub *ps, const struct subject *sub,
                     const char *template_id, const char *version_id, struct err *e)
{
    struct template_row t;
    if (template_get(st, sub, template_id, &t, e) < 0)
        return -1;
    struct rbac_object obj = {RBAC_TEMPLATE, t.id, NULL};
    struct template_version v;
    memset(&v, 0, sizeof v);
    struct job job;
    memset(&job, 0, sizeof job);
    int rc = -1;
    if (rbac_authorize(sub, RBAC_UPDATE, &obj, e) < 0)
        goto out;
    if (!version_id || !*version_id) {
        jsonx_invalid(e, "id", "is required");
        goto out;
    }
    if (!uuid_valid(version_id) || store_version_get(st, version_id, &v, NULL) < 0) {
        jsonx_invalid(e, "id", "no template version has this id");
        goto out;
    }
    if (strcmp(v.template_id, t.id) != 0) {
        err_set(e, ERR_BAD_REQUEST, "The template version does not belong to this template.");
        goto out;
    }
    if (v.archived) {
        err_set(e, ERR_BAD_REQUEST, "The template version is archived.");
        err_detail(e, "Unarchive it before promoting it.");
        goto out;
    }
    if (store_job_get(st, v.job_id, &job, e) < 0)
        goto out;
    if (job.status != JOB_SUCCEEDED) {
        err_set(e, ERR_FORBIDDEN,
                "Only versions that have been built successfully can be "
                "promoted.");
        err_detail(e, "Version %s's import job is %s%s%s.", v.name, job_status_name(job.status),
                   job.error && *job.error ? ": " : "", job.error ? job.error : "");
        goto out;
    }
    if (store_template_set_active_version(st, t.id, v.id, time_now_us(), e) < 0)
        goto out;
    pubsub_publishf(ps, "promoted", "template:%s", t.id);
    rc = 0;
out:
    job_clear(&job);
    template_version_clear(&v);
    template_row_clear(&t);
    return rc;
}

int template_version_archive(struct store *st, const struct subject *sub, const char *version_id,
                             bool archive, struct err *e)
{
    struct template_version v;
    if (template_version_get(st, sub, version_id, &v, e) < 0)
        return -1;
    struct rbac_object obj = {RBAC_TEMPLATE_VERSION, v.id, v.template_id};
    int rc = -1;
    if (rbac_authorize(sub, RBAC_UPDATE, &obj, e) < 0)
        goto out;
    if (archive && v.template_id[0]) {
        struct template_row t;
        if (store_template_get(st, v.template_id, &t, e) < 0)
            goto out;
        bool active = strcmp(t.active_version_id, v.id) == 0;
        template_row_clear(&t);
        if (active) {
            err_set(e, ERR_BAD_REQUEST, "The active version cannot be archived.");
            err_detail(e, "Promote another version first.");
            goto out;
        }
    }
    rc = store_version_set_archived(st, v.id, archive, time_now_us(), e);
out:
    template_version_clear(&v);
    return rc;
}
