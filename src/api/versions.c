/* versions.c - template versions: create (import), get, parameters, logs, archive. */
#include "api/decode.h"
#include "api/internal.h"
#include "template/template.h"

#include <stdlib.h>
#include <string.h>

static void reply_version(struct api *api, struct http_request *req, int status,
                          struct template_version *v)
{
    struct job job;
    bool have = store_job_get(api->st, v->job_id, &job, NULL) == 0;
    struct jw w;
    jw_init(&w);
    render_version(&w, v, have ? &job : NULL);
    if (have)
        job_clear(&job);
    template_version_clear(v);
    http_reply_jw(req, status, &w);
}

static void create(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct rbac_object obj = {RBAC_TEMPLATE_VERSION, NULL, NULL};
    if (rbac_authorize(&sub, RBAC_CREATE, &obj, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    json_t *body = api_body(req);
    if (!body)
        return;
    struct template_version_create c;
    struct template_version v;
    if (api_decode_version_create(body, &c, &e) < 0 ||
        template_version_create(api->st, api->ps, &sub, &c, &v, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    reply_version(api, req, 201, &v);
}

/* Loads the {id} version for the subject; replies and returns -1 when hidden. */
static int load(struct api *api, struct http_request *req, const struct subject *sub,
                struct template_version *v)
{
    struct err e = ERR_INIT;
    if (template_version_get(api->st, sub, http_request_param(req, "id"), v, &e) < 0) {
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct template_version v;
    if (api_auth(api, req, &sub) < 0 || load(api, req, &sub, &v) < 0)
        return;
    reply_version(api, req, 200, &v);
}

static void parameters(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct template_version v;
    if (api_auth(api, req, &sub) < 0 || load(api, req, &sub, &v) < 0)
        return;
    struct err e = ERR_INIT;
    struct version_param_list l;
    int r = store_version_params(api->st, v.id, &l, &e);
    template_version_clear(&v);
    if (r < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++)
        render_version_param(&w, &l.items[i]);
    jw_array_end(&w);
    version_param_list_free(&l);
    http_reply_jw(req, 200, &w);
}

static void logs(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct template_version v;
    if (api_auth(api, req, &sub) < 0 || load(api, req, &sub, &v) < 0)
        return;
    char job_id[UUID_STR_LEN];
    memcpy(job_id, v.job_id, sizeof job_id);
    template_version_clear(&v);
    api_job_logs(api, req, job_id);
}

static void set_archived(struct http_request *req, struct api *api, bool archive)
{
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    const char *id = http_request_param(req, "id");
    if (template_version_archive(api->st, &sub, id, archive, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct template_version v;
    if (load(api, req, &sub, &v) < 0)
        return;
    reply_version(api, req, 200, &v);
}

static void archive(struct http_request *req, void *arg)
{
    set_archived(req, arg, true);
}

static void unarchive(struct http_request *req, void *arg)
{
    set_archived(req, arg, false);
}

void api_versions_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/v2/templateversions", HTTP_ROUTE_INLINE, 0, create,
                      api);
    http_server_route(srv, HTTP_GET, "/api/v2/templateversions/{id}", HTTP_ROUTE_INLINE, 0, get,
                      api);
    http_server_route(srv, HTTP_GET, "/api/v2/templateversions/{id}/rich-parameters",
                      HTTP_ROUTE_INLINE, 0, parameters, api);
    http_server_route(srv, HTTP_GET, "/api/v2/templateversions/{id}/logs", HTTP_ROUTE_INLINE, 0,
                      logs, api);
    http_server_route(srv, HTTP_POST, "/api/v2/templateversions/{id}/archive", HTTP_ROUTE_INLINE, 0,
                      archive, api);
    http_server_route(srv, HTTP_POST, "/api/v2/templateversions/{id}/unarchive", HTTP_ROUTE_INLINE,
                      0, unarchive, api);
}
