/* builds.c - workspace builds: get, cancel, logs, parameters. */
#include "api/internal.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "build/build.h"

#include <stdlib.h>
#include <string.h>

int api_render_build(struct api *api, struct jw *w, const struct workspace_build *b,
                     const struct workspace *ws)
{
    struct job job;
    if (store_job_get(api->st, b->job_id, &job, NULL) < 0) {
        jw_null(w);
        return -1;
    }
    struct user owner, initiator;
    memset(&owner, 0, sizeof owner);
    memset(&initiator, 0, sizeof initiator);
    store_user_get(api->st, ws->owner_id, &owner, NULL);
    store_user_get(api->st, b->initiator_id, &initiator, NULL);
    struct template_version v;
    memset(&v, 0, sizeof v);
    store_version_get(api->st, b->template_version_id, &v, NULL);
    struct build_detail d;
    api_load_build_detail(api->st, b, &d, NULL);
    struct build_render br = {.build = b,
                              .job = &job,
                              .detail = &d,
                              .workspace_name = ws->name,
                              .owner_id = ws->owner_id,
                              .owner_name = owner.username,
                              .version_name = v.name,
                              .initiator_name = initiator.username};
    render_build(w, &br, time_now_us());
    build_detail_free(&d);
    template_version_clear(&v);
    job_clear(&job);
    return 0;
}

void api_reply_build(struct api *api, struct http_request *req, int status,
                     const struct workspace_build *b)
{
    struct workspace ws;
    struct err e = ERR_INIT;
    if (store_workspace_get(api->st, b->workspace_id, &ws, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    api_render_build(api, &w, b, &ws);
    workspace_clear(&ws);
    http_reply_jw(req, status, &w);
}

/* Loads build {id} and its workspace when the subject may read them; replies 404 otherwise. */
static int load_build(struct api *api, struct http_request *req, const struct subject *sub,
                      struct workspace_build *b, struct workspace *ws)
{
    const char *id = http_request_param(req, "id");
    struct err e = ERR_INIT;
    if (!uuid_valid(id) || store_build_get(api->st, id, b, NULL) < 0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    struct rbac_object obj = {RBAC_WORKSPACE, b->workspace_id, NULL};
    if (store_workspace_get(api->st, b->workspace_id, ws, NULL) < 0 ||
        (obj.owner_id = ws->owner_id, !rbac_allowed(sub, RBAC_READ, &obj))) {
        workspace_build_clear(b);
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_build b;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_build(api, req, &sub, &b, &ws) < 0)
        return;
    struct jw w;
    jw_init(&w);
    api_render_build(api, &w, &b, &ws);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    http_reply_jw(req, 200, &w);
}

static void get_by_number(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct user owner;
    if (api_auth(api, req, &sub) < 0 || api_user_param(api, req, &sub, "user", &owner) < 0)
        return;
    struct err e = ERR_INIT;
    struct workspace ws;
    struct workspace_build b;
    int64_t number;
    if (store_workspace_get_by_name(api->st, owner.id, http_request_param(req, "name"), &ws, NULL) <
        0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    struct rbac_object obj = {RBAC_WORKSPACE, ws.id, ws.owner_id};
    if (!rbac_allowed(&sub, RBAC_READ, &obj) ||
        str_to_int64(http_request_param(req, "number"), &number) < 0 ||
        store_build_get_by_number(api->st, ws.id, number, &b, NULL) < 0) {
        workspace_clear(&ws);
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    api_render_build(api, &w, &b, &ws);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    http_reply_jw(req, 200, &w);
}

static void cancel(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_build b;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_build(api, req, &sub, &b, &ws) < 0)
        return;
    struct err e = ERR_INIT;
    struct job job;
    memset(&job, 0, sizeof job);
    struct template_row t;
    memset(&t, 0, sizeof t);
    struct rbac_object obj = {RBAC_WORKSPACE, ws.id, ws.owner_id};
    const char *expect = http_request_query(req, "expect_status");
    if (rbac_authorize(&sub, RBAC_UPDATE, &obj, &e) < 0 ||
        store_job_get(api->st, b.job_id, &job, &e) < 0 ||
        store_template_get(api->st, ws.template_id, &t, &e) < 0)
        goto fail;
    if (expect && strcmp(expect, "running") != 0 && strcmp(expect, "pending") != 0) {
        jsonx_invalid(&e, "expect_status", "must be running or pending");
        goto fail;
    }
    if (job.completed_at) {
        err_set(&e, ERR_BAD_REQUEST, "Job has already completed!");
        goto fail;
    }
    if (job.canceled_at) {
        err_set(&e, ERR_BAD_REQUEST, "Job has already been marked as canceled!");
        goto fail;
    }
    if (expect && strcmp(expect, job_status_name(job.status)) != 0) {
        err_set(&e, ERR_PRECONDITION, "Job is not in the expected state.");
        err_detail(&e, "Expected \"%s\" but the job is \"%s\".", expect,
                   job_status_name(job.status));
        goto fail;
    }
    if (!(expect && strcmp(expect, "pending") == 0) && !t.allow_user_cancel_workspace_jobs &&
        !(sub.roles & ROLE_OWNER)) {
        err_set(&e, ERR_FORBIDDEN, "User is not allowed to cancel workspace builds.");
        err_detail(&e, "The template does not allow its users to cancel builds.");
        goto fail;
    }
    if (provision_cancel(api->st, api->ps, job.id, &e) < 0)
        goto fail;
    pubsub_publishf(api->ps, "cancel", "workspace:%s", ws.id);
    job_clear(&job);
    template_row_clear(&t);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    http_reply_json(req, 200, json_pack("{s:s}", "message", "Job has been marked as canceled..."));
    return;
fail:
    job_clear(&job);
    template_row_clear(&t);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    api_fail(req, &e);
}

static void logs(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_build b;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_build(api, req, &sub, &b, &ws) < 0)
        return;
    char job_id[UUID_STR_LEN];
    str_copy(job_id, sizeof job_id, b.job_id);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    api_job_logs(api, req, job_id);
}

static void parameters(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_build b;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_build(api, req, &sub, &b, &ws) < 0)
        return;
    struct build_param_list l;
    struct err e = ERR_INIT;
    int r = store_build_params(api->st, b.id, &l, &e);
    workspace_build_clear(&b);
    workspace_clear(&ws);
    if (r < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++) {
        jw_object(&w);
        jw_kstr(&w, "name", l.items[i].name);
        jw_kstr(&w, "value", l.items[i].value);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    build_param_list_free(&l);
    http_reply_jw(req, 200, &w);
}

void api_builds_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_GET, "/api/v2/workspacebuilds/{id}", HTTP_ROUTE_INLINE, 0, get,
                      api);
    http_server_route(srv, HTTP_PATCH, "/api/v2/workspacebuilds/{id}/cancel", HTTP_ROUTE_INLINE, 0,
                      cancel, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspacebuilds/{id}/logs", HTTP_ROUTE_INLINE, 0,
                      logs, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspacebuilds/{id}/parameters", HTTP_ROUTE_INLINE,
                      0, parameters, api);
    http_server_route(srv, HTTP_GET, "/api/v2/users/{user}/workspace/{name}/builds/{number}",
                      HTTP_ROUTE_INLINE, 0, get_by_number, api);
}
