/* call.c - running a tools/call: the chat it acts on (the session's, created on first use, or a
 * stateless request's), progress notifications while the tool waits, cancellation, and the
 * CallToolResult: the tool's JSON or error text as text content, structuredContent for object
 * results, isError only for text errors. */
#include "mcp/internal.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

#define SESSION_CHAT_TITLE   "MCP session"
#define CLIENT_NAME_MAX_CHAR 100 /* of clientInfo.name in a chat's title */

bool mcp_call_stateless(const struct mcp_call *c)
{
    return c->stateless;
}

bool mcp_call_wants_progress(const struct mcp_call *c)
{
    return c->progress_token != NULL;
}

void mcp_call_no_progress(struct mcp_call *c)
{
    json_decref(c->progress_token);
    c->progress_token = NULL;
}

void mcp_call_cancel(struct mcp_call *c)
{
    c->canceled = true;
    tool_cancel_trigger(&c->cancel);
}

void mcp_call_free(struct mcp_call *c)
{
    if (!c)
        return;
    struct mcp_server *s = c->srv;
    if (c->session) {
        pthread_mutex_lock(&s->lock);
        if (c->prev)
            c->prev->next = c->next;
        else
            c->session->calls = c->next;
        if (c->next)
            c->next->prev = c->prev;
        mcp_session_unref(s, c->session);
        pthread_mutex_unlock(&s->lock);
    }
    tool_cancel_destroy(&c->cancel);
    pthread_mutex_destroy(&c->emit_mu);
    free(c->last_message);
    err_clear(&c->prepare_err);
    json_decref(c->id);
    free(c->id_key);
    free(c->name);
    json_decref(c->args);
    json_decref(c->progress_token);
    free(c);
}

/* ---- the chat ---- */

/* The session's chat, created on its first call. */
static int session_chat(struct mcp_call *c, char chat_id[UUID_STR_LEN], struct err *e)
{
    struct mcp_server *s = c->srv;
    pthread_mutex_lock(&s->chat_mu); /* one creation per session, even with parallel calls */
    pthread_mutex_lock(&s->lock);
    str_copy(chat_id, UUID_STR_LEN, c->session->chat_id);
    char *client = c->session->client_name ? xstrdup(c->session->client_name) : NULL;
    pthread_mutex_unlock(&s->lock);
    int rc = 0;
    if (!chat_id[0]) {
        char *title = NULL;
        if (client) {
            char *cut = utf8_truncate(client, CLIENT_NAME_MAX_CHAR);
            title = str_printf("MCP: %s", cut);
            free(cut);
        }
        struct err te = ERR_INIT;
        rc = s->backend.chat_create(s->backend.arg, &c->sub, title ? title : SESSION_CHAT_TITLE,
                                    chat_id, &te);
        if (rc < 0 && title && err_is(&te, ERR_BAD_REQUEST)) /* a title the chat refuses */
            rc = s->backend.chat_create(s->backend.arg, &c->sub, SESSION_CHAT_TITLE, chat_id, e);
        else if (rc < 0)
            err_move(e, &te);
        err_clear(&te);
        free(title);
        if (rc == 0) {
            pthread_mutex_lock(&s->lock);
            str_copy(c->session->chat_id, sizeof c->session->chat_id, chat_id);
            pthread_mutex_unlock(&s->lock);
        }
    }
    pthread_mutex_unlock(&s->chat_mu);
    free(client);
    return rc;
}

/* The user's default chat for stateless calls: their newest chat titled "MCP", else a new one. */
static int default_chat(struct mcp_call *c, char chat_id[UUID_STR_LEN], struct err *e)
{
    struct mcp_server *s = c->srv;
    pthread_mutex_lock(&s->chat_mu);
    const char *known = map_get(&s->default_chats, c->sub.user_id);
    int rc = 0;
    if (known) {
        str_copy(chat_id, UUID_STR_LEN, known);
    } else {
        struct err fe = ERR_INIT;
        rc = s->backend.chat_find(s->backend.arg, &c->sub, MCP_DEFAULT_CHAT, chat_id, &fe);
        if (rc < 0 && err_is(&fe, ERR_NOT_FOUND))
            rc = s->backend.chat_create(s->backend.arg, &c->sub, MCP_DEFAULT_CHAT, chat_id, e);
        else if (rc < 0)
            err_move(e, &fe);
        err_clear(&fe);
        if (rc == 0)
            free(map_put(&s->default_chats, c->sub.user_id, xstrdup(chat_id)));
    }
    pthread_mutex_unlock(&s->chat_mu);
    return rc;
}

static int resolve_chat(struct mcp_call *c, char chat_id[UUID_STR_LEN], struct err *e)
{
    if (c->session)
        return session_chat(c, chat_id, e);
    if (c->chat_id[0]) {
        str_copy(chat_id, UUID_STR_LEN, c->chat_id);
        return 0;
    }
    return default_chat(c, chat_id, e);
}

/* ---- messages ---- */

static void emit_text(struct mcp_call *c, char *text)
{
    c->emit(c->emit_arg, text);
    free(text);
}

/* Sends notifications/progress; with c->emit_mu held. */
static void send_progress(struct mcp_call *c, const char *message)
{
    json_t *params = json_object();
    json_object_set(params, "progressToken", c->progress_token);
    json_object_set_new(params, "progress", json_integer(++c->progress));
    json_t *msg = json_string(message);
    if (!msg) { /* not UTF-8: the tool relays outside text */
        char *clean = utf8_sanitize(message, strlen(message), NULL);
        msg = json_string(clean);
        free(clean);
    }
    json_object_set_new(params, "message", msg);
    emit_text(c, jsonrpc_notification_text("notifications/progress", params));
    json_decref(params);
    c->last_emit_ms = time_mono_us() / 1000;
}

/* The tool's progress callback: notifications/progress with a count that rises by one. */
static void on_progress(void *arg, const char *message)
{
    struct mcp_call *c = arg;
    pthread_mutex_lock(&c->emit_mu);
    if (!c->finished && !c->canceled) {
        send_progress(c, message);
        free(c->last_message);
        c->last_message = xstrdup(message);
    }
    pthread_mutex_unlock(&c->emit_mu);
}

/* Emits the call's last message and stops its progress. */
static void finish(struct mcp_call *c, char *text)
{
    pthread_mutex_lock(&c->emit_mu);
    c->finished = true;
    if (text && !c->canceled) /* a canceled request gets no response */
        c->emit(c->emit_arg, text);
    pthread_mutex_unlock(&c->emit_mu);
    free(text);
}

static void tick_add(struct mcp_call *c)
{
    struct mcp_server *s = c->srv;
    if (!c->progress_token || s->heartbeat_ms <= 0)
        return;
    c->started_ms = c->last_emit_ms = time_mono_us() / 1000;
    pthread_mutex_lock(&s->lock);
    c->tick_next = s->ticking;
    if (c->tick_next)
        c->tick_next->tick_prev = c;
    s->ticking = c;
    pthread_mutex_unlock(&s->lock);
}

static void tick_remove(struct mcp_call *c)
{
    struct mcp_server *s = c->srv;
    if (!c->progress_token || s->heartbeat_ms <= 0)
        return;
    pthread_mutex_lock(&s->lock);
    if (c->tick_prev)
        c->tick_prev->tick_next = c->tick_next;
    else
        s->ticking = c->tick_next;
    if (c->tick_next)
        c->tick_next->tick_prev = c->tick_prev;
    c->tick_prev = c->tick_next = NULL;
    pthread_mutex_unlock(&s->lock);
}

void *mcp_ticker_main(void *arg)
{
    struct mcp_server *s = arg;
    int64_t period = s->heartbeat_ms / 4 > 0 ? s->heartbeat_ms / 4 : 1;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        struct timespec deadline = time_mono_deadline(period);
        pthread_cond_timedwait(&s->tick_cond, &s->lock, &deadline);
        int64_t now = time_mono_us() / 1000;
        /* A call stays on the list (and alive) until tick_remove, which takes s->lock. */
        for (struct mcp_call *c = s->ticking; c && !s->stopping; c = c->tick_next) {
            pthread_mutex_lock(&c->emit_mu);
            if (!c->finished && !c->canceled && now - c->last_emit_ms >= s->heartbeat_ms) {
                char *msg =
                    str_printf("%s (waiting, %llds)", c->last_message ? c->last_message : "Working",
                               (long long)((now - c->started_ms) / 1000));
                send_progress(c, msg);
                free(msg);
            }
            pthread_mutex_unlock(&c->emit_mu);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static json_t *server_info_meta(const struct mcp_server *s)
{
    return json_pack("{s:{s:s, s:s}}", MCP_META_SERVER_INFO, "name", MCP_SERVER_NAME, "version",
                     s->version);
}

static char *result_text(struct mcp_call *c, const struct tool_answer *a)
{
    json_t *r = json_object();
    if (c->stateless)
        json_object_set_new(r, "resultType", json_string("complete"));
    char *text = tool_answer_text(a);
    json_t *t = json_string(text);
    if (!t) {
        char *clean = utf8_sanitize(text, strlen(text), NULL);
        t = json_string(clean);
        free(clean);
    }
    free(text);
    json_object_set_new(r, "content", json_pack("[{s:s, s:o}]", "type", "text", "text", t));
    if (!a->is_error && json_is_object(a->result))
        json_object_set(r, "structuredContent", a->result);
    json_object_set_new(r, "isError", json_boolean(a->is_error));
    if (c->stateless)
        json_object_set_new(r, "_meta", server_info_meta(c->srv));
    char *msg = jsonrpc_result_text(c->id, r);
    json_decref(r);
    return msg;
}

static char *failure_text(struct mcp_call *c, const struct err *e)
{
    int code = JSONRPC_INTERNAL_ERROR;
    if (err_is(e, ERR_NOT_FOUND) || err_is(e, ERR_BAD_REQUEST))
        code = JSONRPC_INVALID_PARAMS; /* the chat is gone or not the caller's */
    return jsonrpc_error_text(c->id, code, *err_msg(e) ? err_msg(e) : "Internal error", NULL);
}

const char *mcp_call_prepare(struct mcp_call *c)
{
    if (!c->prepared && !c->canceled) {
        c->prepared = true;
        if (resolve_chat(c, c->resolved_chat, &c->prepare_err) < 0) {
            c->resolved_chat[0] = '\0';
            err_prefix(&c->prepare_err, "Cannot create the chat the tools act on");
        }
    }
    return c->resolved_chat[0] ? c->resolved_chat : NULL;
}

void mcp_call_run(struct mcp_call *c, void (*emit)(void *arg, const char *message), void *arg)
{
    c->emit = emit;
    c->emit_arg = arg;
    if (c->canceled)
        return;
    const char *chat_id = mcp_call_prepare(c);
    if (!chat_id) {
        finish(c, failure_text(c, &c->prepare_err));
        return;
    }
    struct err e = ERR_INIT;
    struct tool_answer a = {0};
    tick_add(c);
    int rc =
        c->srv->backend.run_tool(c->srv->backend.arg, &c->sub, chat_id, c->name, c->args,
                                 &c->cancel, c->progress_token ? on_progress : NULL, c, &a, &e);
    finish(c, c->canceled ? NULL : rc < 0 ? failure_text(c, &e) : result_text(c, &a));
    tick_remove(c);
    tool_answer_clear(&a);
    err_clear(&e);
}
