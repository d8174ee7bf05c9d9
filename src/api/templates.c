/* templates.c - templates: create, list, get, patch, versions, promote. */
#include "api/decode.h"
#include "api/internal.h"
#include "template/template.h"

#include <stdlib.h>
#include <string.h>

static void reply_template(struct http_request *req, int status, struct template_row *t)
{
    struct jw w;
    jw_init(&w);
    render_template(&w, t);
    template_row_clear(t);
    http_reply_jw(req, status, &w);
}

static void create(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct rbac_object obj = {RBAC_TEMPLATE, NULL, NULL};
    if (rbac_authorize(&sub, RBAC_CREATE, &obj, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    json_t *body = api_body(req);
    if (!body)
        return;
    struct template_create c;
    memset(&c, 0, sizeof c);
    struct template_row t;
    if (jsonx_string(body, "name", JSONX_REQUIRED, 0, &c.name, &e) < 0 ||
        jsonx_string(body, "display_name", JSONX_OPTIONAL, 0, &c.display_name, &e) < 0 ||
        jsonx_string(body, "description", JSONX_OPTIONAL, 0, &c.description, &e) < 0 ||
        jsonx_string(body, "icon", JSONX_OPTIONAL, 0, &c.icon, &e) < 0 ||
        jsonx_string(body, "template_version_id", JSONX_REQUIRED, 0, &c.version_id, &e) < 0 ||
        jsonx_bool(body, "require_active_version", JSONX_OPTIONAL, &c.require_active_version, NULL,
                   &e) < 0 ||
        jsonx_int(body, "default_ttl_ms", JSONX_OPTIONAL, &c.default_ttl_ms, NULL, &e) < 0 ||
        template_create(api->st, &sub, &c, &t, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    reply_template(req, 201, &t);
}

static void list(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct template_list l;
    if (store_template_list(api->st, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++) {
        struct rbac_object obj = {RBAC_TEMPLATE, l.items[i].id, NULL};
        if (rbac_allowed(&sub, RBAC_READ, &obj))
            render_template(&w, &l.items[i]);
    }
    jw_array_end(&w);
    template_list_free(&l);
    http_reply_jw(req, 200, &w);
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct template_row t;
    if (template_get(api->st, &sub, http_request_param(req, "id"), &t, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    reply_template(req, 200, &t);
}

static void patch(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct template_row t;
    const char *id = http_request_param(req, "id");
    if (template_get(api->st, &sub, id, &t, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct rbac_object obj = {RBAC_TEMPLATE, t.id, NULL};
    template_row_clear(&t);
    if (rbac_authorize(&sub, RBAC_UPDATE, &obj, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    json_t *body = api_body(req);
    if (!body)
        return;
    struct template_patch p;
    if (api_decode_template_patch(body, &p, &e) < 0 ||
        template_update(api->st, &sub, id, &p, &t, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    reply_template(req, 200, &t);
}

static void versions(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    struct template_row t;
    if (template_get(api->st, &sub, http_request_param(req, "id"), &t, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct version_list l;
    if (store_version_list(api->st, t.id, &l, &e) < 0) {
        template_row_clear(&t);
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++) {
        struct job job;
        bool have = store_job_get(api->st, l.items[i].job_id, &job, NULL) == 0;
        render_version(&w, &l.items[i], have ? &job : NULL);
        if (have)
            job_clear(&job);
    }
    jw_array_end(&w);
    version_list_free(&l);
    template_row_clear(&t);
    http_reply_jw(req, 200, &w);
}

static void promote(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    const char *id = http_request_param(req, "id");
    struct template_row t;
    if (template_get(api->st, &sub, id, &t, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    template_row_clear(&t);
    json_t *body = api_body(req);
    if (!body)
        return;
    const char *version_id;
    if (api_decode_promote(body, &version_id, &e) < 0 ||
        template_promote(api->st, api->ps, &sub, id, version_id, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    if (template_get(api->st, &sub, id, &t, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    reply_template(req, 200, &t);
}

void api_templates_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/v2/templates", HTTP_ROUTE_INLINE, 0, create, api);
    http_server_route(srv, HTTP_GET, "/api/v2/templates", HTTP_ROUTE_INLINE, 0, list, api);
    http_server_route(srv, HTTP_GET, "/api/v2/templates/{id}", HTTP_ROUTE_INLINE, 0, get, api);
    http_server_route(srv, HTTP_PATCH, "/api/v2/templates/{id}", HTTP_ROUTE_INLINE, 0, patch, api);
    http_server_route(srv, HTTP_GET, "/api/v2/templates/{id}/versions", HTTP_ROUTE_INLINE, 0,
                      versions, api);
    http_server_route(srv, HTTP_PATCH, "/api/v2/templates/{id}/versions", HTTP_ROUTE_INLINE, 0,
                      promote, api);
}
