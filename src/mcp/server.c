/* server.c - one POSTed message in, one answer out: classification (stateless 2026-07-28 or
 * a 2025-11-25 session), the checks in the order mcp.h lists them, and the methods initialize,
 * ping, server/discover and tools/list (tools/call is prepared here and run by call.c). */
#include "mcp/internal.h"

#include "base/json.h"
#include "base/jw.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define TOOLS_TTL_MS (5 * 60 * 1000) /* how long clients may cache discover and tools/list */

static const char *const legacy_versions[] = {"2025-11-25", "2025-06-18", "2025-03-26"};

bool mcp_version_legacy(const char *v)
{
    for (size_t i = 0; v && i < sizeof legacy_versions / sizeof legacy_versions[0]; i++)
        if (strcmp(v, legacy_versions[i]) == 0)
            return true;
    return false;
}

json_t *mcp_versions_json(void)
{
    json_t *a = json_array();
    json_array_append_new(a, json_string(MCP_VERSION_STATELESS));
    for (size_t i = 0; i < sizeof legacy_versions / sizeof legacy_versions[0]; i++)
        json_array_append_new(a, json_string(legacy_versions[i]));
    return a;
}

struct mcp_server *mcp_server_new(const struct mcp_config *cfg)
{
    struct mcp_server *s = xcalloc(1, sizeof *s);
    s->backend = cfg->backend;
    s->version = xstrdup(cfg->version ? cfg->version : "0");
    s->idle_ms = cfg->session_idle_ms > 0 ? cfg->session_idle_ms : MCP_SESSION_IDLE_MS;
    s->max_per_user =
        cfg->max_sessions_per_user > 0 ? cfg->max_sessions_per_user : MCP_SESSIONS_PER_USER;
    s->now_ms = cfg->now_ms;
    s->now_arg = cfg->now_arg;
    s->tools_json = mcp_tools_json();
    s->heartbeat_ms =
        cfg->progress_heartbeat_ms ? cfg->progress_heartbeat_ms : MCP_PROGRESS_HEARTBEAT_MS;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->chat_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->tick_cond, &attr);
    pthread_condattr_destroy(&attr);
    if (s->heartbeat_ms > 0 && pthread_create(&s->ticker, NULL, mcp_ticker_main, s) != 0)
        s->heartbeat_ms = -1;
    return s;
}

void mcp_server_free(struct mcp_server *s)
{
    if (!s)
        return;
    if (s->heartbeat_ms > 0) {
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_signal(&s->tick_cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->ticker, NULL);
    }
    pthread_cond_destroy(&s->tick_cond);
    mcp_sessions_free(s);
    map_free(&s->default_chats, free);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->chat_mu);
    free(s->tools_json);
    free(s->version);
    free(s);
}

void mcp_reply_clear(struct mcp_reply *r)
{
    free(r->body);
    if (r->call)
        mcp_call_free(r->call);
    memset(r, 0, sizeof *r);
}

/* ---- answers ---- */

static void reply_error(struct mcp_reply *out, int status, const json_t *id, int code,
                        const char *message, const json_t *data)
{
    out->status = status;
    out->body = jsonrpc_error_text(id, code, message, data);
}

static void reply_errorf(struct mcp_reply *out, int status, const json_t *id, int code,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void reply_errorf(struct mcp_reply *out, int status, const json_t *id, int code,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    reply_error(out, status, id, code, msg, NULL);
    free(msg);
}

/* Writes {"jsonrpc":"2.0","id":<id>,"result": and opens the result object. */
static void result_begin(struct jw *w, const json_t *id, bool stateless)
{
    jw_init(w);
    jw_object(w);
    jw_kstr(w, "jsonrpc", "2.0");
    jw_key(w, "id");
    jw_json(w, id);
    jw_key(w, "result");
    jw_object(w);
    if (stateless)
        jw_kstr(w, "resultType", "complete");
}

static void server_info(struct jw *w, const struct mcp_server *s)
{
    jw_object(w);
    jw_kstr(w, "name", MCP_SERVER_NAME);
    jw_kstr(w, "version", s->version);
    jw_object_end(w);
}

/* Closes the result (with _meta serverInfo when stateless) and the message; replies 200. */
static void result_end(struct jw *w, const struct mcp_server *s, bool stateless,
                       struct mcp_reply *out)
{
    if (stateless) {
        jw_key(w, "_meta");
        jw_object(w);
        jw_key(w, MCP_META_SERVER_INFO);
        server_info(w, s);
        jw_object_end(w);
    }
    jw_object_end(w);
    jw_object_end(w);
    out->status = 200;
    out->body = jw_take(w, NULL);
}

/* ---- methods ---- */

static void capabilities(struct jw *w, bool stateless)
{
    jw_key(w, "capabilities");
    jw_object(w);
    jw_key(w, "tools");
    jw_object(w);
    if (!stateless) /* 2026-07-28 announces list changes elsewhere: say nothing */
        jw_kbool(w, "listChanged", false);
    jw_object_end(w);
    jw_object_end(w);
}

static void do_discover(struct mcp_server *s, const struct jsonrpc_msg *m, struct mcp_reply *out)
{
    struct jw w;
    result_begin(&w, m->id, true);
    jw_key(&w, "supportedVersions");
    json_t *versions = mcp_versions_json();
    jw_json(&w, versions);
    json_decref(versions);
    capabilities(&w, true);
    jw_kstr(&w, "instructions", mcp_instructions);
    jw_kint(&w, "ttlMs", TOOLS_TTL_MS);
    jw_kstr(&w, "cacheScope", "public"); /* the same for every user */
    result_end(&w, s, true, out);
}

static void do_tools_list(struct mcp_server *s, const struct jsonrpc_msg *m, bool stateless,
                          struct mcp_reply *out)
{
    const json_t *cursor = json_object_get(m->params, "cursor");
    if (m->params_invalid || (cursor && !json_is_null(cursor))) {
        /* Every tool fits one page: berth never hands out a cursor. */
        reply_error(out, 200, m->id, JSONRPC_INVALID_PARAMS,
                    m->params_invalid ? "Invalid params: params must be an object"
                                      : "Invalid params: unknown cursor",
                    NULL);
        return;
    }
    struct jw w;
    result_begin(&w, m->id, stateless);
    jw_key(&w, "tools");
    jw_raw(&w, s->tools_json);
    if (stateless) {
        jw_kint(&w, "ttlMs", TOOLS_TTL_MS);
        jw_kstr(&w, "cacheScope", "public");
    }
    result_end(&w, s, stateless, out);
}

static void do_ping(struct mcp_server *s, const struct jsonrpc_msg *m, struct mcp_reply *out)
{
    struct jw w;
    result_begin(&w, m->id, false);
    result_end(&w, s, false, out); /* exactly {} */
}

/* Checks Berth-Chat-Id: 0, or -1 after replying 404 (or 500 when the check itself failed). */
static int check_chat(struct mcp_server *s, const struct mcp_input *in, const json_t *id,
                      struct mcp_reply *out)
{
    struct err e = ERR_INIT;
    if (s->backend.chat_check(s->backend.arg, in->sub, in->chat_id, &e) == 0)
        return 0;
    if (err_is(&e, ERR_NOT_FOUND))
        reply_errorf(out, 404, id, JSONRPC_INVALID_PARAMS,
                     "Chat not found: Berth-Chat-Id must name one of your chats (\"%s\").",
                     in->chat_id);
    else
        reply_errorf(out, 500, id, JSONRPC_INTERNAL_ERROR, "Cannot read the chat: %s", err_msg(&e));
    err_clear(&e);
    return -1;
}

static void do_initialize(struct mcp_server *s, const struct mcp_input *in,
                          const struct jsonrpc_msg *m, struct mcp_reply *out)
{
    if (in->protocol_version && !mcp_version_legacy(in->protocol_version)) {
        reply_errorf(out, 400, m->id, MCP_ERR_TRANSPORT,
                     "Bad Request: Unsupported protocol version: %s (supported versions: "
                     "2025-11-25, 2025-06-18, 2025-03-26)",
                     in->protocol_version);
        return;
    }
    const char *requested = jsonx_get_str(m->params, "protocolVersion", NULL);
    if (!requested) {
        reply_error(out, 200, m->id, JSONRPC_INVALID_PARAMS,
                    "Invalid params: initialize needs protocolVersion (a string)", NULL);
        return;
    }
    if (in->chat_id && check_chat(s, in, m->id, out) < 0)
        return;
    const char *version = mcp_version_legacy(requested) ? requested : MCP_VERSION_LATEST;
    const char *client = jsonx_get_str(json_object_get(m->params, "clientInfo"), "name", NULL);
    pthread_mutex_lock(&s->lock);
    struct mcp_session *sess =
        mcp_session_create(s, in->sub->user_id, version, in->chat_id, client);
    if (sess)
        str_copy(out->session_id, sizeof out->session_id, sess->id);
    pthread_mutex_unlock(&s->lock);
    if (!sess) {
        reply_errorf(out, 429, m->id, MCP_ERR_TRANSPORT,
                     "Too many MCP sessions: all %d of yours have calls in flight; end one "
                     "(DELETE) or wait for a call to finish.",
                     s->max_per_user);
        return;
    }
    struct jw w;
    result_begin(&w, m->id, false);
    jw_kstr(&w, "protocolVersion", version);
    capabilities(&w, false);
    jw_key(&w, "serverInfo");
    server_info(&w, s);
    jw_kstr(&w, "instructions", mcp_instructions);
    result_end(&w, s, false, out);
}

/* The progress token of params._meta (a string or an integer), or NULL. */
static const json_t *progress_token(const json_t *params)
{
    const json_t *t = json_object_get(json_object_get(params, "_meta"), "progressToken");
    return json_is_string(t) || json_is_integer(t) ? t : NULL;
}

static void do_tools_call(struct mcp_server *s, const struct mcp_input *in,
                          const struct jsonrpc_msg *m, struct mcp_session *sess,
                          struct mcp_reply *out)
{
    const json_t *name = json_object_get(m->params, "name");
    if (!json_is_string(name)) {
        reply_error(out, 200, m->id, JSONRPC_INVALID_PARAMS,
                    "Invalid params: tools/call needs params {name, arguments?} with name a "
                    "string",
                    NULL);
        return;
    }
    if (!tool_find(json_string_value(name))) {
        reply_errorf(out, 200, m->id, JSONRPC_INVALID_PARAMS, "Unknown tool: %s",
                     json_string_value(name));
        return;
    }
    const json_t *args = json_object_get(m->params, "arguments");
    if (json_is_null(args))
        args = NULL;
    if (args && !json_is_object(args)) {
        reply_error(out, 200, m->id, JSONRPC_INVALID_PARAMS,
                    "Invalid params: arguments must be an object", NULL);
        return;
    }
    if (!sess && in->chat_id && check_chat(s, in, m->id, out) < 0)
        return;
    struct mcp_call *c = xcalloc(1, sizeof *c);
    c->srv = s;
    c->sub = *in->sub;
    c->id = json_deep_copy(m->id);
    c->id_key = jsonx_dump(m->id);
    c->name = xstrdup(json_string_value(name));
    c->args = args ? json_deep_copy(args) : NULL;
    const json_t *token = progress_token(m->params);
    c->progress_token = token ? json_deep_copy(token) : NULL;
    c->stateless = !sess;
    if (!sess && in->chat_id)
        str_copy(c->chat_id, sizeof c->chat_id, in->chat_id);
    tool_cancel_init(&c->cancel);
    pthread_mutex_init(&c->emit_mu, NULL);
    if (sess) { /* in the session's table from now on: notifications/cancelled finds it */
        pthread_mutex_lock(&s->lock);
        c->session = sess;
        sess->refs++;
        c->next = sess->calls;
        if (c->next)
            c->next->prev = c;
        sess->calls = c;
        if (sess->ended)
            mcp_call_cancel(c);
        pthread_mutex_unlock(&s->lock);
    }
    out->status = 200;
    out->call = c;
}

/* ---- 2026-07-28 ---- */

/* Decodes a header value sent as "=?base64?<base64>?=" (non-ASCII values); other values are
 * returned as copies. Heap; NULL for NULL or a malformed encoding. */
static char *header_value(const char *v)
{
    if (!v)
        return NULL;
    size_t n = strlen(v);
    if (n < 12 || strncmp(v, "=?base64?", 9) != 0 || strcmp(v + n - 2, "?=") != 0)
        return xstrdup(v);
    const char *p = v + 9, *end = v + n - 2;
    char *out = xmalloc((size_t)(end - p) + 1);
    size_t len = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; p < end && *p != '='; p++) {
        const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *k = strchr(alphabet, *p);
        if (!k || !*p) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)(k - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[len] = '\0';
    if (strlen(out) != len) { /* an embedded NUL */
        free(out);
        return NULL;
    }
    return out;
}

/* -32020 unless the header is present and equal to the body's value. */
static int header_matches(struct mcp_reply *out, const json_t *id, const char *header,
                          const char *raw, const char *body_value)
{
    char *v = header_value(raw);
    bool ok = v && strcmp(v, body_value) == 0;
    free(v);
    if (ok)
        return 0;
    if (!raw)
        reply_errorf(out, 400, id, MCP_ERR_HEADER_MISMATCH,
                     "Header mismatch: %s is required and must be \"%s\"", header, body_value);
    else
        reply_errorf(out, 400, id, MCP_ERR_HEADER_MISMATCH,
                     "Header mismatch: %s does not match the body (\"%s\")", header, body_value);
    return -1;
}

static void post_stateless(struct mcp_server *s, const struct mcp_input *in,
                           const struct jsonrpc_msg *m, struct mcp_reply *out)
{
    if (m->kind != JSONRPC_REQUEST) { /* never answered */
        out->status = 202;
        return;
    }
    const json_t *meta = json_object_get(m->params, "_meta");
    const json_t *version = json_object_get(meta, MCP_META_PROTOCOL_VERSION);
    const json_t *caps = json_object_get(meta, MCP_META_CLIENT_CAPS);
    if (!json_is_string(version) || !json_is_object(caps)) {
        reply_errorf(out, 400, m->id, JSONRPC_INVALID_PARAMS,
                     "Invalid params: _meta needs \"%s\" (a string) and \"%s\" (an object)",
                     MCP_META_PROTOCOL_VERSION, MCP_META_CLIENT_CAPS);
        return;
    }
    const char *v = json_string_value(version);
    if (header_matches(out, m->id, "MCP-Protocol-Version", in->protocol_version, v) < 0 ||
        header_matches(out, m->id, "Mcp-Method", in->method, m->method) < 0)
        return;
    const json_t *name = json_object_get(m->params, "name");
    if (strcmp(m->method, "tools/call") == 0 && json_is_string(name) &&
        header_matches(out, m->id, "Mcp-Name", in->name, json_string_value(name)) < 0)
        return;
    if (strcmp(v, MCP_VERSION_STATELESS) != 0) {
        json_t *data = json_object();
        json_object_set_new(data, "supported", mcp_versions_json());
        json_object_set_new(data, "requested", json_string(v));
        char *msg = str_printf("Unsupported protocol version: %s", v);
        reply_error(out, 400, m->id, MCP_ERR_UNSUPPORTED_VERSION, msg, data);
        free(msg);
        json_decref(data);
        return;
    }
    if (strcmp(m->method, "server/discover") == 0)
        do_discover(s, m, out);
    else if (strcmp(m->method, "tools/list") == 0)
        do_tools_list(s, m, true, out);
    else if (strcmp(m->method, "tools/call") == 0)
        do_tools_call(s, in, m, NULL, out);
    else
        reply_errorf(out, 404, m->id, JSONRPC_METHOD_NOT_FOUND, "Method not found: %s", m->method);
}

/* ---- 2025-11-25 sessions ---- */

static void cancel_request(struct mcp_server *s, struct mcp_session *sess, const json_t *params)
{
    const json_t *rid = json_object_get(params, "requestId");
    if (!json_is_string(rid) && !json_is_integer(rid))
        return;
    char *key = jsonx_dump(rid);
    for (struct mcp_call *c = sess->calls; c; c = c->next)
        if (strcmp(c->id_key, key) == 0)
            mcp_call_cancel(c); /* unknown or finished ids: nothing to do */
    free(key);
}

static void post_session(struct mcp_server *s, const struct mcp_input *in,
                         const struct jsonrpc_msg *m, struct mcp_reply *out)
{
    bool request = m->kind == JSONRPC_REQUEST;
    if (request && strcmp(m->method, "initialize") == 0) {
        do_initialize(s, in, m, out);
        return;
    }
    if (!in->session_id) {
        if (request && strcmp(m->method, "ping") == 0) {
            do_ping(s, m, out);
            return;
        }
        reply_error(out, 400, m->id, MCP_ERR_TRANSPORT,
                    "Bad Request: Server not initialized: send initialize first, then the "
                    "Mcp-Session-Id header it returns with every request",
                    NULL);
        return;
    }
    pthread_mutex_lock(&s->lock);
    struct mcp_session *sess = mcp_session_find(s, in->sub->user_id, in->session_id);
    if (!sess) {
        pthread_mutex_unlock(&s->lock);
        reply_error(out, 404, m->id, MCP_ERR_SESSION_NOT_FOUND, "Session not found", NULL);
        return;
    }
    if (in->protocol_version && !mcp_version_legacy(in->protocol_version)) {
        pthread_mutex_unlock(&s->lock);
        reply_errorf(out, 400, m->id, MCP_ERR_TRANSPORT,
                     "Bad Request: Unsupported protocol version: %s (supported versions: "
                     "2025-11-25, 2025-06-18, 2025-03-26)",
                     in->protocol_version);
        return;
    }
    if (m->kind == JSONRPC_NOTIFICATION) {
        if (strcmp(m->method, "notifications/initialized") == 0)
            sess->initialized = true;
        else if (strcmp(m->method, "notifications/cancelled") == 0)
            cancel_request(s, sess, m->params);
    }
    sess->refs++; /* kept alive while the request is answered without the lock */
    pthread_mutex_unlock(&s->lock);
    if (!request)
        out->status = 202; /* notifications (known or not) and responses */
    else if (strcmp(m->method, "ping") == 0)
        do_ping(s, m, out);
    else if (strcmp(m->method, "tools/list") == 0)
        do_tools_list(s, m, false, out);
    else if (strcmp(m->method, "tools/call") == 0)
        do_tools_call(s, in, m, sess, out);
    else
        reply_errorf(out, 200, m->id, JSONRPC_METHOD_NOT_FOUND, "Method not found: %s", m->method);
    pthread_mutex_lock(&s->lock);
    mcp_session_unref(s, sess);
    pthread_mutex_unlock(&s->lock);
}

void mcp_post(struct mcp_server *s, const struct mcp_input *in, const void *body, size_t len,
              struct mcp_reply *out)
{
    memset(out, 0, sizeof *out);
    struct jsonrpc_msg m;
    jsonrpc_decode(body, len, &m);
    if (m.kind == JSONRPC_INVALID) {
        reply_error(out, 400, m.id, m.error_code, m.error_msg, NULL);
    } else if (m.kind != JSONRPC_RESPONSE &&
               json_is_string(json_object_get(json_object_get(m.params, "_meta"),
                                              MCP_META_PROTOCOL_VERSION))) {
        post_stateless(s, in, &m, out);
    } else if (m.kind != JSONRPC_RESPONSE &&
               json_object_get(json_object_get(m.params, "_meta"), MCP_META_PROTOCOL_VERSION)) {
        /* The key names the stateless revision, but not with a string. */
        if (m.kind == JSONRPC_REQUEST)
            reply_errorf(out, 400, m.id, JSONRPC_INVALID_PARAMS,
                         "Invalid params: _meta \"%s\" must be a string",
                         MCP_META_PROTOCOL_VERSION);
        else
            out->status = 202;
    } else if (in->protocol_version && strcmp(in->protocol_version, MCP_VERSION_STATELESS) == 0) {
        if (m.kind == JSONRPC_REQUEST)
            reply_errorf(out, 400, m.id, JSONRPC_INVALID_PARAMS,
                         "Invalid params: MCP-Protocol-Version %s needs params._meta with "
                         "\"%s\" and \"%s\"",
                         MCP_VERSION_STATELESS, MCP_META_PROTOCOL_VERSION, MCP_META_CLIENT_CAPS);
        else
            out->status = 202;
    } else {
        post_session(s, in, &m, out);
    }
    jsonrpc_msg_clear(&m);
}

int mcp_session_delete(struct mcp_server *s, const struct subject *sub, const char *session_id,
                       char **body)
{
    *body = NULL;
    if (!session_id) {
        *body = jsonrpc_error_text(NULL, MCP_ERR_TRANSPORT,
                                   "Bad Request: Mcp-Session-Id header is required", NULL);
        return 400;
    }
    pthread_mutex_lock(&s->lock);
    struct mcp_session *sess = mcp_session_find(s, sub->user_id, session_id);
    if (sess)
        mcp_session_end(s, sess);
    pthread_mutex_unlock(&s->lock);
    if (!sess) {
        *body = jsonrpc_error_text(NULL, MCP_ERR_SESSION_NOT_FOUND, "Session not found", NULL);
        return 404;
    }
    return 200;
}
