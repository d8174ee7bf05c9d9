/* chats.c - chats (experimental): create, list, get, watch their status changes, post and read
 * messages, follow one chat's stream, interrupt its turn, and run a chat tool for one of them.
 * Only a chat's owner sees it; everyone else gets 404. */
#include "api/decode.h"
#include "api/internal.h"
#include "base/mem.h"
#include "base/str.h"
#include "chat/chat.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING_MS            15000
#define TOOL_ARGS_MAX_BODY (1024 * 1024) /* a tool's arguments */
#define MESSAGE_MAX_BODY   (512 * 1024)  /* a message: 64 KiB of content, escaped */
#define MESSAGE_PAGE       500           /* messages read at once by a stream */
#define STREAM_QUEUE_MAX   4096          /* live events a slow stream may hold back */

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

/* ---- messages ---- */

static int64_t after_param(struct http_request *req, const char *name, bool *ok)
{
    int64_t after = 0;
    const char *a = http_request_query(req, name);
    *ok = true;
    if (a && *a && (str_to_int64(a, &after) < 0 || after < 0)) {
        struct err e = ERR_INIT;
        jsonx_invalid(&e, name, "must be a non-negative message id");
        api_fail(req, &e);
        *ok = false;
    }
    return after;
}

static void post_message(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    const char *id = http_request_param(req, "id");
    struct err e = ERR_INIT;
    struct chat c;
    if (chat_get(api->chats, &sub, id, &c, &e) < 0) { /* authorize before parsing */
        api_fail(req, &e);
        return;
    }
    chat_clear(&c);
    json_t *body = api_body(req);
    if (!body)
        return;
    const char *content;
    struct chat_message m;
    bool queued = false;
    if (api_decode_chat_message(body, &content, &e) < 0 ||
        chat_post_message(api->chats, &sub, id, content, &m, &queued, &e) < 0) {
        json_decref(body);
        api_fail(req, &e);
        return;
    }
    json_decref(body);
    json_t *j = chat_message_to_json(&m);
    json_object_set_new(j, "queued", json_boolean(queued));
    chat_message_clear(&m);
    http_reply_json(req, 201, j);
}

static void list_messages(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    bool ok;
    int64_t after = after_param(req, "after_id", &ok);
    if (!ok)
        return;
    struct chat_message_list l;
    struct err e = ERR_INIT;
    if (chat_messages(api->chats, &sub, http_request_param(req, "id"), after, 0, &l, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, chat_message_to_json(&l.items[i]));
    chat_message_list_free(&l);
    http_reply_json(req, 200, arr);
}

static void interrupt(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct chat c;
    struct err e = ERR_INIT;
    if (chat_interrupt(api->chats, &sub, http_request_param(req, "id"), &c, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    reply_chat(req, 200, &c);
    chat_clear(&c);
}

/* ---- one chat's stream ----
 * Subscribe to "chat:<id>" first, then send the stored messages after the cursor and the chat's
 * status. Live events are queued by the pubsub callback and sent in order by the pump on the
 * stream's loop: a {"kind": "message"} event reads the store after the cursor (so a message is
 * sent once, in id order, whichever notification brings it), everything else (text deltas,
 * tool results as they end, retries, status changes) is sent as it came. */

struct chat_streamer {
    struct api *api;
    struct http_stream *stream;
    struct pubsub_sub *sub;
    char chat_id[UUID_STR_LEN];
    int64_t cursor;
    bool started;
    pthread_mutex_t mu; /* guards the queue */
    char **queue;
    size_t nqueue, cap;
    bool overflow;
};

static void streamer_end(struct chat_streamer *s)
{
    pubsub_unsubscribe(s->sub); /* no callback runs after this */
    http_stream_end(s->stream);
    for (size_t i = 0; i < s->nqueue; i++)
        free(s->queue[i]);
    free(s->queue);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void streamer_closed(void *arg)
{
    streamer_end(arg);
}

/* Sends the stored messages after the cursor. -1 when the store failed. */
static int streamer_messages(struct chat_streamer *s)
{
    for (;;) {
        struct chat_message_list l;
        struct err e = ERR_INIT;
        if (store_chat_messages_after(s->api->st, s->chat_id, s->cursor, MESSAGE_PAGE, &l, &e) <
            0) {
            err_clear(&e);
            return -1;
        }
        for (size_t i = 0; i < l.n; i++) {
            json_t *j = chat_message_to_json(&l.items[i]);
            char *txt = jsonx_dump(j);
            json_decref(j);
            http_stream_sse(s->stream, "message", txt);
            free(txt);
            s->cursor = l.items[i].id;
        }
        size_t n = l.n;
        chat_message_list_free(&l);
        if (n < MESSAGE_PAGE)
            return 0;
    }
}

static void streamer_pump(void *arg)
{
    struct chat_streamer *s = arg;
    if (!s->started) {
        s->started = true;
        /* The status first: a chat that waits now had its turn's messages stored already. */
        struct chat c;
        struct err e = ERR_INIT;
        if (store_chat_get(s->api->st, s->chat_id, &c, &e) < 0) {
            err_clear(&e);
            streamer_end(s);
            return;
        }
        json_t *ev = json_pack("{s:s, s:o}", "kind", "status_change", "chat", chat_to_json(&c));
        chat_clear(&c);
        if (streamer_messages(s) < 0) {
            json_decref(ev);
            streamer_end(s);
            return;
        }
        char *txt = jsonx_dump(ev);
        json_decref(ev);
        http_stream_sse(s->stream, "status_change", txt);
        free(txt);
    }
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool overflow = s->overflow;
        char **q = s->queue;
        size_t n = s->nqueue;
        s->queue = NULL;
        s->nqueue = s->cap = 0;
        pthread_mutex_unlock(&s->mu);
        if (n == 0 && !overflow)
            return;
        bool failed = false;
        for (size_t i = 0; i < n; i++) {
            json_t *ev = json_loads(q[i], 0, NULL);
            const char *kind = jsonx_get_str(ev, "kind", "");
            if (!failed) {
                if (strcmp(kind, "message") == 0)
                    failed = streamer_messages(s) < 0;
                else if (*kind)
                    http_stream_sse(s->stream, kind, q[i]);
            }
            json_decref(ev);
            free(q[i]);
        }
        free(q);
        if (failed || overflow) { /* the client resumes from the last message id it saw */
            streamer_end(s);
            return;
        }
    }
}

static void streamer_event(const char *channel, const char *payload, void *arg)
{
    struct chat_streamer *s = arg;
    pthread_mutex_lock(&s->mu);
    if (s->nqueue >= STREAM_QUEUE_MAX) {
        s->overflow = true;
    } else {
        if (s->nqueue == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 16;
            s->queue = xrealloc(s->queue, s->cap * sizeof *s->queue);
        }
        s->queue[s->nqueue++] = xstrdup(payload ? payload : "");
    }
    pthread_mutex_unlock(&s->mu);
    http_stream_wake(s->stream);
}

static void stream_chat(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    bool ok;
    int64_t after = after_param(req, "after_id", &ok);
    if (!ok)
        return;
    struct chat c;
    struct err e = ERR_INIT;
    if (chat_get(api->chats, &sub, http_request_param(req, "id"), &c, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    struct chat_streamer *s = xcalloc(1, sizeof *s);
    s->api = api;
    str_copy(s->chat_id, sizeof s->chat_id, c.id);
    chat_clear(&c);
    s->cursor = after;
    pthread_mutex_init(&s->mu, NULL);
    s->stream =
        http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
    http_stream_on_close(s->stream, streamer_closed, s);
    http_stream_on_wake(s->stream, streamer_pump, s);
    char channel[96];
    snprintf(channel, sizeof channel, "chat:%s", s->chat_id);
    s->sub = pubsub_subscribe(api->ps, channel, streamer_event, s);
    http_stream_wake(s->stream); /* the backlog, read after subscribing */
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
    http_server_route(srv, HTTP_POST, "/api/experimental/chats/{id}/messages", HTTP_ROUTE_INLINE,
                      MESSAGE_MAX_BODY, post_message, api);
    http_server_route(srv, HTTP_GET, "/api/experimental/chats/{id}/messages", HTTP_ROUTE_INLINE, 0,
                      list_messages, api);
    http_server_route(srv, HTTP_GET, "/api/experimental/chats/{id}/stream", HTTP_ROUTE_INLINE, 0,
                      stream_chat, api);
    http_server_route(srv, HTTP_POST, "/api/experimental/chats/{id}/interrupt", HTTP_ROUTE_INLINE,
                      0, interrupt, api);
    http_server_route(srv, HTTP_POST, "/api/experimental/chats/{id}/tools/{name}",
                      HTTP_ROUTE_WORKER, TOOL_ARGS_MAX_BODY, run_tool, api);
}
