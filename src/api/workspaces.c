/* workspaces.c - workspaces: create, list, get (by id or owner/name), watch, and their builds. */
#include "api/decode.h"
#include "api/internal.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "build/build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_MS 15000

static void reply_workspace(struct api *api, struct http_request *req, int status, const char *id)
{
    struct jw w;
    jw_init(&w);
    struct err e = ERR_INIT;
    if (api_render_workspace(api, id, &w, &e) < 0) {
        jw_free(&w);
        api_fail(req, &e);
        return;
    }
    http_reply_jw(req, status, &w);
}

/* Loads workspace {param} the subject may read; replies 404 otherwise. */
static int load_workspace(struct api *api, struct http_request *req, const struct subject *sub,
                          struct workspace *ws)
{
    const char *id = http_request_param(req, "id");
    struct err e = ERR_INIT;
    struct rbac_object obj = {RBAC_WORKSPACE, NULL, NULL};
    if (!uuid_valid(id) || store_workspace_get(api->st, id, ws, NULL) < 0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    obj.id = ws->id;
    obj.owner_id = ws->owner_id;
    if (!rbac_allowed(sub, RBAC_READ, &obj)) {
        workspace_clear(ws);
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void create(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct user owner;
    if (api_user_param(api, req, &sub, "user", &owner) < 0)
        return;
    json_t *body = api_body(req);
    if (!body)
        return;
    struct err e = ERR_INIT;
    struct build_param_value params[API_MAX_PARAMS];
    struct workspace_create c;
    struct workspace ws;
    if (api_decode_workspace_create(body, &c, params, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    c.owner_id = owner.id;
    if (workspace_create(api->st, api->ps, &sub, &c, &ws, NULL, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    reply_workspace(api, req, 201, ws.id);
    workspace_clear(&ws);
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    /* One read for the check and the answer: the view holds the owner. */
    const char *id = http_request_param(req, "id");
    struct workspace_view v;
    struct err e = ERR_INIT;
    if (!uuid_valid(id) || store_workspace_view(api->st, id, &v, NULL) < 0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    struct rbac_object obj = {RBAC_WORKSPACE, v.ws.id, v.ws.owner_id};
    struct jw w;
    jw_init(&w);
    if (!rbac_allowed(&sub, RBAC_READ, &obj)) {
        rbac_not_found(&e);
    } else if (api_render_workspace_view(api, &v, &w, &e) == 0) {
        workspace_view_clear(&v);
        http_reply_jw(req, 200, &w);
        return;
    }
    workspace_view_clear(&v);
    jw_free(&w);
    api_fail(req, &e);
}

static void get_by_name(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct user owner;
    if (api_auth(api, req, &sub) < 0 || api_user_param(api, req, &sub, "user", &owner) < 0)
        return;
    struct workspace ws;
    struct err e = ERR_INIT;
    struct rbac_object obj = {RBAC_WORKSPACE, NULL, owner.id};
    if (store_workspace_get_by_name(api->st, owner.id, http_request_param(req, "name"), &ws, NULL) <
        0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    obj.id = ws.id;
    if (!rbac_allowed(&sub, RBAC_READ, &obj)) {
        workspace_clear(&ws);
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    reply_workspace(api, req, 200, ws.id);
    workspace_clear(&ws);
}

/* Filters of GET /workspaces?q=: "owner:<me|name>", "name:<substring>", "template:<name>". */
struct ws_filter {
    char owner_id[UUID_STR_LEN];
    bool owner_missing;
    char name[NAME_MAX_LEN + 1];
    char template_name[NAME_MAX_LEN + 1];
};

static int parse_filter(struct api *api, const struct subject *sub, const char *q,
                        struct ws_filter *f, struct err *e)
{
    memset(f, 0, sizeof *f);
    if (!q)
        return 0;
    char *copy = xstrdup(q);
    int rc = 0;
    for (char *tok = copy; tok && *tok;) {
        char *sp = strchr(tok, ' ');
        if (sp)
            *sp = '\0';
        char *colon = strchr(tok, ':');
        if (*tok && !colon) {
            str_copy(f->name, sizeof f->name, tok);
        } else if (colon) {
            *colon = '\0';
            const char *v = colon + 1;
            if (strcmp(tok, "owner") == 0) {
                struct user u;
                if (strcmp(v, "me") == 0)
                    str_copy(f->owner_id, sizeof f->owner_id, sub->user_id);
                else if (store_user_get_by_username(api->st, v, &u, NULL) == 0)
                    str_copy(f->owner_id, sizeof f->owner_id, u.id);
                else
                    f->owner_missing = true;
            } else if (strcmp(tok, "name") == 0) {
                str_copy(f->name, sizeof f->name, v);
            } else if (strcmp(tok, "template") == 0) {
                str_copy(f->template_name, sizeof f->template_name, v);
            } else {
                rc = jsonx_invalid(e, "q", "unknown filter \"%s\" (use owner:, name:, template:)",
                                   tok);
                break;
            }
        }
        tok = sp ? sp + 1 : NULL;
    }
    free(copy);
    return rc;
}

static void list(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct ws_filter f;
    struct err e = ERR_INIT;
    if (parse_filter(api, &sub, http_request_query(req, "q"), &f, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct workspace_list l = {0};
    if (!f.owner_missing &&
        store_workspace_list(api->st, f.owner_id[0] ? f.owner_id : NULL, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_key(&w, "workspaces");
    jw_array(&w);
    size_t count = 0;
    int64_t now = time_now_us();
    for (size_t i = 0; i < l.n; i++) {
        struct rbac_object obj = {RBAC_WORKSPACE, l.items[i].id, l.items[i].owner_id};
        if (!rbac_allowed(&sub, RBAC_READ, &obj))
            continue;
        if (f.name[0] && !strcasestr(l.items[i].name, f.name))
            continue;
        struct workspace_view v;
        if (store_workspace_view(api->st, l.items[i].id, &v, NULL) < 0)
            continue;
        if (f.template_name[0] && !str_eq_ci(v.template_name, f.template_name)) {
            workspace_view_clear(&v);
            continue;
        }
        struct build_detail d;
        memset(&d, 0, sizeof d);
        if (v.has_build)
            api_load_build_detail(api->st, &v.build, &d, NULL);
        render_workspace(&w, &v, &d, now);
        build_detail_free(&d);
        workspace_view_clear(&v);
        count++;
    }
    jw_array_end(&w);
    jw_kint(&w, "count", (int64_t)count);
    jw_object_end(&w);
    workspace_list_free(&l);
    http_reply_jw(req, 200, &w);
}

/* ---- watch: the whole Workspace on every change ---- */

struct watcher {
    struct api *api;
    struct http_stream *stream;
    struct pubsub_sub *sub_ws, *sub_tpl;
    char id[UUID_STR_LEN];
};

static void watcher_end(struct watcher *wt)
{
    pubsub_unsubscribe(wt->sub_ws);
    pubsub_unsubscribe(wt->sub_tpl);
    http_stream_end(wt->stream);
    free(wt);
}

static void watcher_send(void *arg)
{
    struct watcher *wt = arg;
    struct jw w;
    jw_init(&w);
    struct err e = ERR_INIT;
    if (api_render_workspace(wt->api, wt->id, &w, &e) < 0) {
        err_clear(&e);
        jw_free(&w);
        return;
    }
    char *s = jw_take(&w, NULL);
    http_stream_sse(wt->stream, "data", s);
    free(s);
    jw_free(&w);
}

static void watcher_closed(void *arg)
{
    watcher_end(arg);
}

static void watcher_event(const char *channel, const char *payload, void *arg)
{
    struct watcher *wt = arg;
    http_stream_wake(wt->stream);
}

static void watch(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_workspace(api, req, &sub, &ws) < 0)
        return;
    struct watcher *wt = xcalloc(1, sizeof *wt);
    wt->api = api;
    str_copy(wt->id, sizeof wt->id, ws.id);
    wt->stream =
        http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
    http_stream_on_close(wt->stream, watcher_closed, wt);
    http_stream_on_wake(wt->stream, watcher_send, wt);
    char channel[96];
    snprintf(channel, sizeof channel, "workspace:%s", ws.id);
    wt->sub_ws = pubsub_subscribe(api->ps, channel, watcher_event, wt);
    snprintf(channel, sizeof channel, "template:%s", ws.template_id);
    wt->sub_tpl = pubsub_subscribe(api->ps, channel, watcher_event, wt);
    http_stream_sse(wt->stream, "ping", "{}");
    http_stream_wake(wt->stream); /* the current state, read after subscribing */
    workspace_clear(&ws);
}

/* ---- builds of a workspace ---- */

static void create_build(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_workspace(api, req, &sub, &ws) < 0)
        return;
    json_t *body = api_body(req);
    if (!body) {
        workspace_clear(&ws);
        return;
    }
    struct err e = ERR_INIT;
    struct build_param_value params[API_MAX_PARAMS];
    struct build_request br;
    struct workspace_build b;
    if (api_decode_build_create(body, &br, params, &e) < 0 ||
        build_create(api->st, api->ps, &sub, ws.id, &br, &b, &e) < 0) {
        json_decref(body);
        workspace_clear(&ws);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    workspace_clear(&ws);
    api_reply_build(api, req, 201, &b);
    workspace_build_clear(&b);
}

static void list_builds(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace ws;
    if (api_auth(api, req, &sub) < 0 || load_workspace(api, req, &sub, &ws) < 0)
        return;
    struct build_list l;
    struct err e = ERR_INIT;
    if (store_build_list(api->st, ws.id, &l, &e) < 0) {
        workspace_clear(&ws);
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++)
        api_render_build(api, &w, &l.items[i], &ws);
    jw_array_end(&w);
    build_list_free(&l);
    workspace_clear(&ws);
    http_reply_jw(req, 200, &w);
}

void api_workspaces_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/v2/users/{user}/workspaces", HTTP_ROUTE_INLINE, 0,
                      create, api);
    http_server_route(srv, HTTP_GET, "/api/v2/users/{user}/workspace/{name}", HTTP_ROUTE_INLINE, 0,
                      get_by_name, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaces", HTTP_ROUTE_INLINE, 0, list, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaces/{id}", HTTP_ROUTE_INLINE, 0, get, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaces/{id}/watch", HTTP_ROUTE_INLINE, 0, watch,
                      api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaces/{id}/builds", HTTP_ROUTE_INLINE, 0,
                      create_build, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaces/{id}/builds", HTTP_ROUTE_INLINE, 0,
                      list_builds, api);
}
