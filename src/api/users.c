/* users.c - the first user, login and logout, users, and API tokens. */
#include "api/decode.h"
#include "api/internal.h"
#include "base/str.h"

#include <string.h>

static void first_user(struct http_request *req, void *arg)
{
    struct api *api = arg;
    json_t *body = api_body(req);
    if (!body)
        return;
    struct user_create_req in;
    struct err e = ERR_INIT;
    struct user u;
    if (api_decode_first_user(body, &in, &e) < 0 ||
        identity_create_first_user(api->id, in.email, in.username, in.password, &u, &e) < 0)
        goto fail;
    json_decref(body);
    http_reply_json(req, 201, json_pack("{s:s}", "user_id", u.id));
    return;
fail:
    json_decref(body);
    api_fail(req, &e);
}

static void has_first_user(struct http_request *req, void *arg)
{
    struct api *api = arg;
    int64_t n;
    struct err e = ERR_INIT;
    if (store_user_count(api->st, &n, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    if (n == 0) {
        err_set(&e, ERR_NOT_FOUND, "The initial user has not been created!");
        api_fail(req, &e);
        return;
    }
    http_reply_json(req, 200,
                    json_pack("{s:s}", "message", "The initial user has already been created!"));
}

static void login(struct http_request *req, void *arg)
{
    struct api *api = arg;
    json_t *body = api_body(req);
    if (!body)
        return;
    struct login_req in;
    struct err e = ERR_INIT;
    char token[TOKEN_STR_LEN];
    if (api_decode_login(body, &in, &e) < 0 ||
        identity_login(api->id, in.email, in.password, http_request_peer(req), token, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    http_reply_json(req, 201, json_pack("{s:s}", "session_token", token));
}

static void logout(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    if (identity_revoke_token(api->id, sub.api_key_id, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    http_reply_json(req, 200, json_pack("{s:s}", "message", "You've been logged out!"));
}

static void get_user(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct user u;
    if (api_user_param(api, req, &sub, "user", &u) < 0)
        return;
    struct jw w;
    jw_init(&w);
    render_user(&w, &u);
    http_reply_jw(req, 200, &w);
}

static void list_users(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct user_list l;
    struct err e = ERR_INIT;
    if (store_user_list(api->st, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_key(&w, "users");
    jw_array(&w);
    size_t count = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct rbac_object obj = {RBAC_USER, l.items[i].id, NULL};
        if (rbac_allowed(&sub, RBAC_READ, &obj)) {
            render_user(&w, &l.items[i]);
            count++;
        }
    }
    jw_array_end(&w);
    jw_kint(&w, "count", (int64_t)count);
    jw_object_end(&w);
    user_list_free(&l);
    http_reply_jw(req, 200, &w);
}

static void create_user(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct rbac_object obj = {RBAC_USER, NULL, NULL};
    if (rbac_authorize(&sub, RBAC_CREATE, &obj, &e) < 0)
        goto fail;
    body = api_body(req);
    if (!body)
        return;
    struct user_create_req in;
    struct user u;
    if (api_decode_user_create(body, &in, &e) < 0 ||
        identity_create_user(api->id, in.email, in.username, in.password, in.roles, &u, &e) < 0)
        goto fail;
    json_decref(body);
    struct jw w;
    jw_init(&w);
    render_user(&w, &u);
    http_reply_jw(req, 201, &w);
    return;
fail:
    json_decref(body);
    api_fail(req, &e);
}

static void create_token(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct user u;
    if (api_user_param(api, req, &sub, "user", &u) < 0)
        return;
    struct err e = ERR_INIT;
    json_t *body = NULL;
    struct rbac_object obj = {RBAC_API_KEY, NULL, u.id};
    if (rbac_authorize(&sub, RBAC_CREATE, &obj, &e) < 0)
        goto fail;
    body = api_body(req);
    if (!body)
        return;
    struct token_req in;
    char token[TOKEN_STR_LEN];
    if (api_decode_token(body, &in, &e) < 0 ||
        identity_issue_token(api->id, u.id, LOGIN_TOKEN, in.name, in.lifetime_seconds, token, &e) <
            0)
        goto fail;
    json_decref(body);
    http_reply_json(req, 201, json_pack("{s:s}", "key", token));
    return;
fail:
    json_decref(body);
    api_fail(req, &e);
}

static void delete_key(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct user u;
    if (api_user_param(api, req, &sub, "user", &u) < 0)
        return;
    struct err e = ERR_INIT;
    const char *key_id = http_request_param(req, "id");
    struct api_key k;
    struct rbac_object obj = {RBAC_API_KEY, key_id, u.id};
    if (store_api_key_get(api->st, key_id, &k, NULL) < 0 || strcmp(k.user_id, u.id) != 0 ||
        !rbac_allowed(&sub, RBAC_DELETE, &obj)) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    if (identity_revoke_token(api->id, k.id, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    http_reply(req, 204, NULL, NULL, 0);
}

void api_users_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_GET, "/api/v2/users/first", HTTP_ROUTE_INLINE, 0, has_first_user,
                      api);
    http_server_route(srv, HTTP_POST, "/api/v2/users/first", HTTP_ROUTE_WORKER, 0, first_user, api);
    http_server_route(srv, HTTP_POST, "/api/v2/users/login", HTTP_ROUTE_WORKER, 0, login, api);
    http_server_route(srv, HTTP_POST, "/api/v2/users/logout", HTTP_ROUTE_INLINE, 0, logout, api);
    http_server_route(srv, HTTP_GET, "/api/v2/users", HTTP_ROUTE_INLINE, 0, list_users, api);
    http_server_route(srv, HTTP_POST, "/api/v2/users", HTTP_ROUTE_WORKER, 0, create_user, api);
    http_server_route(srv, HTTP_GET, "/api/v2/users/{user}", HTTP_ROUTE_INLINE, 0, get_user, api);
    http_server_route(srv, HTTP_POST, "/api/v2/users/{user}/keys/tokens", HTTP_ROUTE_INLINE, 0,
                      create_token, api);
    http_server_route(srv, HTTP_DELETE, "/api/v2/users/{user}/keys/{id}", HTTP_ROUTE_INLINE, 0,
                      delete_key, api);
}
