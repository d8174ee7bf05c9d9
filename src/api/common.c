/* common.c - authentication, body parsing and error replies shared by every handler. */
#include "api/internal.h"
#include "base/str.h"
#include "base/uuid.h"

#include <string.h>

void api_fail(struct http_request *req, struct err *e)
{
    if (!e->message)
        err_set(e, ERR_INTERNAL, "Internal error.");
    http_reply_error(req, e);
    err_clear(e);
}

int api_auth(struct api *api, struct http_request *req, struct subject *out)
{
    const char *token = http_request_header(req, "Berth-Session-Token");
    if (!token) {
        const char *authz = http_request_header(req, "Authorization");
        if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
            token = authz + 7;
    }
    struct err e = ERR_INIT;
    if (!token || !*token) {
        err_set(&e, ERR_UNAUTHORIZED,
                "Authentication required: send the header \"Berth-Session-Token: <token>\" or "
                "\"Authorization: Bearer <token>\".");
        api_fail(req, &e);
        return -1;
    }
    if (identity_authenticate(api->id, token, out, &e) < 0) {
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

json_t *api_body(struct http_request *req)
{
    size_t len;
    const char *body = http_request_body(req, &len);
    struct err e = ERR_INIT;
    json_t *o = jsonx_parse_object(body, len, &e);
    if (!o)
        api_fail(req, &e);
    return o;
}

int api_user_param(struct api *api, struct http_request *req, const struct subject *sub,
                   const char *param, struct user *out)
{
    const char *key = http_request_param(req, param);
    struct err e = ERR_INIT;
    int r;
    if (!key || strcmp(key, "me") == 0)
        r = store_user_get(api->st, sub->user_id, out, &e);
    else if (uuid_valid(key))
        r = store_user_get(api->st, key, out, &e);
    else
        r = store_user_get_by_username(api->st, key, out, &e);
    if (r == 0 && out->deleted)
        r = -1;
    struct rbac_object obj = {RBAC_USER, r == 0 ? out->id : NULL, NULL};
    if (r < 0 || !rbac_allowed(sub, RBAC_READ, &obj)) {
        if (r < 0 && !err_is(&e, ERR_NOT_FOUND)) {
            api_fail(req, &e);
            return -1;
        }
        err_clear(&e);
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void buildinfo(struct http_request *req, void *arg)
{
    struct api *api = arg;
    http_reply_json(req, 200, json_pack("{s:s}", "version", api->version));
}

void api_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_GET, "/api/v2/buildinfo", HTTP_ROUTE_INLINE, 0, buildinfo, api);
    api_users_register(srv, api);
    api_files_register(srv, api);
    api_templates_register(srv, api);
    api_versions_register(srv, api);
    api_workspaces_register(srv, api);
    api_builds_register(srv, api);
    api_agents_register(srv, api);
    api_chats_register(srv, api);
    api_deployment_register(srv, api);
    api_mcp_register(srv, api);
}
