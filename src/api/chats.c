/* chats.c - chats (experimental): create, list, get, watch their status changes, and run a
 * chat tool for one of them. Only a chat's owner sees it; everyone else gets 404. */
#include "api/decode.h"
#include "api/internal.h"
#include "base/mem.h"
#include "base/str.h"
#include "chat/chat.h"

#include <stdio.h>
#include <stdlib.h>

#define PING_MS            15000
#define TOOL_ARGS_MAX_BODY (1024 * 1024) /* a tool's arguments */

static void reply_chat(struct http_request *req, int status, const struct chat *c)
{
    http_reply_json(req, status, chat_to_json(c));
}

static void create(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    json_t *body = api_body(req);
    if (!body)
        return;
    struct err e = ERR_INIT;
    struct chat_create_req cr;
    struct chat c;
    if (api_decode_chat_create(body, &cr, &e) < 0 ||
        chat_create(api->chats, &sub, cr.title, cr.workspace_id, &c, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    reply_chat(req, 201, &c);
    chat_clear(&c);
}

static void list(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct chat_list l;
    struct err e = ERR_INIT;
    if (chat_list(api->chats, &sub, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, chat_to_json(&l.items[i]));
    chat_list_free(&l);
    http_reply_json(req, 200, arr);
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct chat c;
    struct err e = ERR_INIT;
    if (chat_get(api->chats, &sub, http_request_param(req, "id"), &c, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    reply_chat(req, 200, &c);
    chat_clear(&c);
}

/* ---- watch: each status_change event of the caller's chats ---- */

struct watcher {
    struct http_stream *stream;
    struct pubsub_sub *sub;
};

/* The event's payload is already the JSON to send; the stream queues it under its own lock,
 * so this is quick enough for a pubsub callback. */
static void watcher_event(const char *channel, const char *payload, void *arg)
{
    struct watcher *w = arg;
    http_stream_sse(w->stream, "data", payload);
}

/* The client went away (or the server is stopping): on the stream's loop. */
static void watcher_closed(void *arg)
{
    struct watcher *w = arg;
    pubsub_unsubscribe(w->sub); /* no event callback runs after this */
    http_stream_end(w->stream);
    free(w);
}

static void watch(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct watcher *w = xcalloc(1, sizeof *w);
    w->stream =
        http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
    http_stream_on_close(w->stream, watcher_closed, w);
    char channel[96];
    snprintf(channel, sizeof channel, "chat:owner:%s", sub.user_id);
    w->sub = pubsub_subscribe(api->ps, channel, watcher_event, w);
    http_stream_sse(w->stream, "ping", "{}"); /* headers and a first event at once */
}

/* ---- tools ---- */

/* Runs on a worker: a tool may wait for minutes (a build, an agent). */
static void run_tool(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    const char *id = http_request_param(req, "id");
    const char *name = http_request_param(req, "name");
    struct err e = ERR_INIT;
    struct chat c;
    if (chat_get(api->chats, &sub, id, &c, &e) < 0) { /* authorize before parsing */
        api_fail(req, &e);
        return;
    }
    chat_clear(&c);
    size_t len;
    const char *body = http_request_body(req, &len);
    json_t *args = api_decode_tool_args(body, len, &e);
    if (!args) {
        api_fail(req, &e);
        return;
    }
    struct tool_answer a = {0};
    int rc = chat_run_tool(api->chats, &sub, id, name, args, NULL, NULL, NULL, &a, &e);
    json_decref(args);
    if (rc < 0) {
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_kbool(&w, "is_error", a.is_error);
    jw_key(&w, "result");
    if (a.is_error) {
        jw_str(&w, a.text ? a.text : "");
    } else if (a.result) {
        jw_json(&w, a.result);
    } else {
        jw_object(&w);
        jw_object_end(&w);
    }
    jw_object_end(&w);
    tool_answer_clear(&a);
    http_reply_jw(req, 200, &w);
}

void api_chats_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/experimental/chats", HTTP_ROUTE_INLINE, 0, create, api);
    http_server_route(srv, HTTP_GET, "/api/experimental/chats", HTTP_ROUTE_INLINE, 0, list, api);
    /* Before {id}: routes match in the order they were added. */
    http_server_route(srv, HTTP_GET, "/api/experimental/chats/watch", HTTP_ROUTE_INLINE, 0, watch,
                      api);
    http_server_route(srv, HTTP_GET, "/api/experimental/chats/{id}", HTTP_ROUTE_INLINE, 0, get,
                      api);
    http_server_route(srv, HTTP_POST, "/api/experimental/chats/{id}/tools/{name}",
                      HTTP_ROUTE_WORKER, TOOL_ARGS_MAX_BODY, run_tool, api);
}
