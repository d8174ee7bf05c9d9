/* builder.c - the workspace builder and workspace creation (see build.h for the rules). */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "build/build.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MIN_MS 60000LL
#define TTL_MAX_MS (30LL * 24 * 3600 * 1000)

const char *build_status(enum transition t, enum job_status s)
{
    switch (s) {
    case JOB_PENDING:
        return "pending";
    case JOB_RUNNING:
        return t == TRANSITION_START ? "starting" : t == TRANSITION_STOP ? "stopping" : "deleting";
    case JOB_SUCCEEDED:
        return t == TRANSITION_START ? "running" : t == TRANSITION_STOP ? "stopped" : "deleted";
    case JOB_CANCELING:
        return "canceling";
    case JOB_CANCELED:
        return "canceled";
    case JOB_FAILED:
        return "failed";
    }
    return "failed";
}

bool workspace_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 32 || name[0] == '-' || name[n - 1] == '-')
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

/* Start/stop need update, delete needs delete: 404 when the subject cannot even read. */
static int authorize(const struct subject *sub, const struct workspace *ws, enum transition t,
                     struct err *e)
{
    struct rbac_object obj = {RBAC_WORKSPACE, ws->id, ws->owner_id};
    enum rbac_action a = t == TRANSITION_DELETE ? RBAC_DELETE : RBAC_UPDATE;
    if (rbac_allowed(sub, a, &obj))
        return 0;
    if (rbac_allowed(sub, RBAC_READ, &obj))
        return err_set(e, ERR_FORBIDDEN, "You do not have permission to %s this workspace.",
                       t == TRANSITION_DELETE ? "delete" : "update");
    return rbac_not_found(e);
}

/* The version the build uses, checked against the workspace's template and its import. */
static int choose_version(struct store *st, const struct workspace *ws,
                          const struct template_row *t, const struct workspace_build *last,
                          const struct build_request *req, struct template_version *v,
                          struct err *e)
{
    const char *vid = req->template_version_id && *req->template_version_id
                          ? req->template_version_id
                      : req->use_active_version || !last ? t->active_version_id
                                                         : last->template_version_id;
    if (!uuid_valid(vid) || store_version_get(st, vid, v, NULL) < 0)
        return err_set(e, ERR_BAD_REQUEST, "template version does not exist");
    if (strcmp(v->template_id, ws->template_id) != 0) {
        template_version_clear(v);
        return err_set(e, ERR_BAD_REQUEST, "template version doesn't match template");
    }
    struct job job;
    if (store_job_get(st, v->job_id, &job, e) < 0) {
        template_version_clear(v);
        return -1;
    }
    int rc = 0;
    if (job.status == JOB_PENDING || job.status == JOB_RUNNING) {
        rc = err_set(e, ERR_NOT_ACCEPTABLE,
                     "The provided template version is %s. Wait for it to complete importing!",
                     job_status_name(job.status));
    } else if (job.status == JOB_FAILED || job.status == JOB_CANCELED) {
        char *qn = str_quote(v->name);
        char *qe = str_quote(job.status == JOB_CANCELED ? "job was canceled" : job.error);
        rc = err_set(e, ERR_BAD_REQUEST,
                     "The provided template version %s has failed to import: %s. You cannot build "
                     "workspaces with it!",
                     qn, qe);
        free(qn);
        free(qe);
    }
    job_clear(&job);
    if (rc < 0)
        template_version_clear(v);
    return rc;
}

/* The builder proper; runs inside the caller's transaction. */
static int build_in_tx(struct store *st, const struct subject *sub, const struct workspace *ws,
                       const struct build_request *req, struct workspace_build *out, struct err *e)
{
    struct template_row t;
    memset(&t, 0, sizeof t);
    struct workspace_build last;
    memset(&last, 0, sizeof last);
    struct template_version v;
    memset(&v, 0, sizeof v);
    struct version_param_list defs = {0};
    struct build_param_list prev = {0}, resolved = {0};
    struct job job;
    memset(&job, 0, sizeof job);
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    int rc = -1;
    bool have_last = false;

    if (authorize(sub, ws, req->transition, e) < 0)
        goto out;
    struct rbac_object tobj = {RBAC_TEMPLATE, ws->template_id, NULL};
    if (req->orphan && !rbac_allowed(sub, RBAC_UPDATE, &tobj)) {
        err_set(e, ERR_FORBIDDEN, "Only template managers may provide custom state");
        goto out;
    }
    if (store_template_get(st, ws->template_id, &t, e) < 0)
        goto out;
    struct err le = ERR_INIT;
    if (store_build_latest(st, ws->id, &last, &le) == 0) {
        have_last = true;
    } else if (!err_is(&le, ERR_NOT_FOUND)) {
        err_move(e, &le);
        goto out;
    }
    err_clear(&le);
    if (choose_version(st, ws, &t, have_last ? &last : NULL, req, &v, e) < 0)
        goto out;
    if (have_last) {
        struct job lj;
        if (store_job_get(st, last.job_id, &lj, e) < 0)
            goto out;
        bool active = job_status_active(lj.status);
        job_clear(&lj);
        if (active) {
            err_set(e, ERR_CONFLICT, "A workspace build is already active.");
            goto out;
        }
        if (store_build_params(st, last.id, &prev, e) < 0)
            goto out;
    }
    if (store_version_params(st, v.id, &defs, e) < 0 ||
        build_resolve_params(&defs, req->params, req->nparams, have_last ? &prev : NULL, &resolved,
                             e) < 0)
        goto out;
    if (req->transition == TRANSITION_START && t.require_active_version &&
        strcmp(v.id, t.active_version_id) != 0 && !rbac_allowed(sub, RBAC_UPDATE, &tobj)) {
        err_set(e, ERR_FORBIDDEN,
                "The template requires the active version: only template administrators may "
                "start a workspace on another version.");
        err_detail(e, "Start on the active version (template_version_id %s).", t.active_version_id);
        goto out;
    }

    struct job ij; /* the version's import job: builds run the archive it imported */
    if (store_job_get(st, v.job_id, &ij, e) < 0)
        goto out;
    int64_t now = time_now_us();
    uuid_v7(job.id);
    uuid_v7(b.id);
    job.type = JOB_WORKSPACE_BUILD;
    job.created_at = now;
    str_copy(job.initiator_id, sizeof job.initiator_id,
             sub->user_id[0] ? sub->user_id : ws->owner_id);
    str_copy(job.file_id, sizeof job.file_id, ij.file_id);
    job_clear(&ij);
    char input[128];
    snprintf(input, sizeof input, "{\"workspace_build_id\":\"%s\"}", b.id);
    job.input = xstrdup(input);
    str_copy(b.workspace_id, sizeof b.workspace_id, ws->id);
    str_copy(b.template_version_id, sizeof b.template_version_id, v.id);
    b.build_number = have_last ? last.build_number + 1 : 1;
    b.transition = req->transition;
    str_copy(b.initiator_id, sizeof b.initiator_id, job.initiator_id);
    if (have_last && !req->orphan && last.state_len) {
        b.state = last.state;
        b.state_len = last.state_len;
        last.state = NULL;
        last.state_len = 0;
    }
    str_copy(b.job_id, sizeof b.job_id, job.id);
    str_copy(b.reason, sizeof b.reason, req->reason ? req->reason : "initiator");
    b.created_at = b.updated_at = now;
    struct err ie = ERR_INIT;
    if (store_job_insert(st, &job, e) < 0)
        goto out;
    if (store_build_insert(st, &b, &ie) < 0) {
        if (err_is(&ie, ERR_CONFLICT)) {
            err_clear(&ie);
            err_set(e, ERR_CONFLICT, "A workspace build is already active.");
        } else {
            err_move(e, &ie);
        }
        goto out;
    }
    if (store_build_params_insert(st, b.id, resolved.items, resolved.n, e) < 0)
        goto out;
    if (out) {
        *out = b;
        memset(&b, 0, sizeof b);
    }
    rc = 0;
out:
    template_row_clear(&t);
    workspace_build_clear(&last);
    template_version_clear(&v);
    version_param_list_free(&defs);
    build_param_list_free(&prev);
    build_param_list_free(&resolved);
    job_clear(&job);
    workspace_build_clear(&b);
    return rc;
}

static void announce(struct pubsub *ps, const struct workspace_build *b)
{
    provision_post(ps, b->job_id);
    pubsub_publishf(ps, "build", "workspace:%s", b->workspace_id);
}

int build_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                 const char *workspace_id, const struct build_request *req,
                 struct workspace_build *out, struct err *e)
{
    if (req->orphan && req->transition != TRANSITION_DELETE)
        return err_set(e, ERR_BAD_REQUEST, "Orphan is only permitted when deleting a workspace.");
    if (!workspace_id || !uuid_valid(workspace_id))
        return rbac_not_found(e);
    struct workspace ws;
    memset(&ws, 0, sizeof ws);
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    if (store_tx_begin(st, e) < 0)
        return -1;
    struct err ge = ERR_INIT;
    if (store_workspace_get(st, workspace_id, &ws, &ge) < 0) {
        if (err_is(&ge, ERR_NOT_FOUND)) {
            err_clear(&ge);
            rbac_not_found(e);
        } else {
            err_move(e, &ge);
        }
        goto fail;
    }
    struct rbac_object obj = {RBAC_WORKSPACE, ws.id, ws.owner_id};
    if (!rbac_allowed(sub, RBAC_READ, &obj)) {
        rbac_not_found(e);
        goto fail;
    }
    if (ws.deleted) {
        err_set(e, ERR_CONFLICT, "Cannot %s a deleted workspace!",
                transition_name(req->transition));
        goto fail;
    }
    if (build_in_tx(st, sub, &ws, req, &b, e) < 0 || store_tx_commit(st, e) < 0)
        goto fail;
    workspace_clear(&ws);
    announce(ps, &b);
    if (out)
        *out = b;
    else
        workspace_build_clear(&b);
    return 0;
fail:
    store_tx_rollback(st);
    workspace_clear(&ws);
    return -1;
}

/* Finds the template of a creation request and checks that the subject may use it. */
static int creation_template(struct store *st, const struct subject *sub,
                             const struct workspace_create *req, struct template_row *t,
                             struct err *e)
{
    const char *tid = req->template_id;
    struct template_version v;
    memset(&v, 0, sizeof v);
    if (req->template_version_id && *req->template_version_id) {
        if (!uuid_valid(req->template_version_id) ||
            store_version_get(st, req->template_version_id, &v, NULL) < 0 || !v.template_id[0]) {
            template_version_clear(&v);
            return jsonx_invalid(e, "template_version_id", "no template version has this id");
        }
        if (tid && *tid && strcmp(tid, v.template_id) != 0) {
            template_version_clear(&v);
            return err_set(e, ERR_BAD_REQUEST, "template version doesn't match template");
        }
        tid = v.template_id;
    }
    if (!tid || !*tid) {
        template_version_clear(&v);
        return jsonx_invalid(e, "template_id", "template_id or template_version_id is required");
    }
    struct rbac_object obj = {RBAC_TEMPLATE, tid, NULL};
    int r = 0;
    if (!uuid_valid(tid) || store_template_get(st, tid, t, NULL) < 0 || t->deleted ||
        !rbac_allowed(sub, RBAC_READ, &obj))
        r = jsonx_invalid(e, req->template_version_id ? "template_version_id" : "template_id",
                          "no template has this id");
    else if (!rbac_allowed(sub, RBAC_USE, &obj))
        r = err_set(e, ERR_FORBIDDEN, "You do not have permission to use this template.");
    else if (t->deprecated && *t->deprecated)
        r = err_set(e, ERR_BAD_REQUEST,
                    "Template \"%s\" has been deprecated, and cannot be used to create a new "
                    "workspace.",
                    t->name);
    template_version_clear(&v);
    return r;
}

int workspace_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                     const struct workspace_create *req, struct workspace *out,
                     struct workspace_build *build_out, struct err *e)
{
    if (!req->name || !*req->name)
        return jsonx_invalid(e, "name", "is required");
    if (!workspace_name_valid(req->name))
        return jsonx_invalid(e, "name",
                             "must be 1 to 32 letters, digits and single hyphens, not starting or "
                             "ending with a hyphen");
    if (req->has_ttl && req->ttl_ms != 0 && (req->ttl_ms < TTL_MIN_MS || req->ttl_ms > TTL_MAX_MS))
        return jsonx_invalid(e, "ttl_ms",
                             "must be between 60000 (1 minute) and 2592000000 (30 days)");
    const char *owner = req->owner_id ? req->owner_id : sub->user_id;
    struct rbac_object wobj = {RBAC_WORKSPACE, NULL, owner};
    if (rbac_authorize(sub, RBAC_CREATE, &wobj, e) < 0)
        return -1;
    struct template_row t;
    memset(&t, 0, sizeof t);
    if (creation_template(st, sub, req, &t, e) < 0) {
        template_row_clear(&t);
        return -1;
    }
    struct workspace ws;
    memset(&ws, 0, sizeof ws);
    uuid_v7(ws.id);
    str_copy(ws.owner_id, sizeof ws.owner_id, owner);
    str_copy(ws.template_id, sizeof ws.template_id, t.id);
    str_copy(ws.name, sizeof ws.name, req->name);
    ws.autostart_schedule = req->autostart_schedule ? xstrdup(req->autostart_schedule) : NULL;
    ws.has_ttl = req->has_ttl && req->ttl_ms > 0;
    ws.ttl_ms = req->ttl_ms;
    if (!req->has_ttl && t.default_ttl_ms > 0) {
        ws.has_ttl = true;
        ws.ttl_ms = t.default_ttl_ms;
    }
    str_copy(ws.automatic_updates, sizeof ws.automatic_updates, "never");
    ws.created_at = ws.updated_at = ws.last_used_at = time_now_us();
    template_row_clear(&t);

    struct build_request br = {.transition = TRANSITION_START,
                               .template_version_id = req->template_version_id,
                               .params = req->params,
                               .nparams = req->nparams};
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    if (store_tx_begin(st, e) < 0)
        goto fail_notx;
    struct workspace other;
    if (store_workspace_get_by_name(st, owner, req->name, &other, NULL) == 0) {
        workspace_clear(&other);
        err_set(e, ERR_CONFLICT, "Workspace \"%s\" already exists.", req->name);
        err_add_validation(e, "name", "This value is already in use and should be unique.");
        goto fail;
    }
    if (store_workspace_insert(st, &ws, e) < 0 || build_in_tx(st, sub, &ws, &br, &b, e) < 0 ||
        store_tx_commit(st, e) < 0)
        goto fail;
    announce(ps, &b);
    if (out)
        *out = ws;
    else
        workspace_clear(&ws);
    if (build_out)
        *build_out = b;
    else
        workspace_build_clear(&b);
    return 0;
fail:
    store_tx_rollback(st);
fail_notx:
    workspace_clear(&ws);
    return -1;
}
