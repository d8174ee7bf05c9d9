/* cmd_mcp.c - berth mcp [--chat ID]: MCP over stdio, as a bridge to the server's Streamable HTTP
 * endpoint (POST /api/experimental/mcp) with the user's token.
 *
 * stdin and stdout carry newline-delimited JSON-RPC and nothing else; every line written is
 * flushed; logs go to stderr. Each message read is POSTed on a thread of its own, so a
 * tools/call that waits for minutes never holds up ping or notifications/cancelled; the reader
 * goes on once the server has begun to answer, which keeps the server's view in stdin's order
 * (a cancellation always reaches a call the server knows). SSE events (progress, the response)
 * and JSON responses are relayed as lines; 202 answers nothing.
 *
 * Sessions: the Mcp-Session-Id of the initialize response goes with every later message, and
 * MCP-Protocol-Version with the negotiated version. When the server no longer knows the session
 * (it restarted), the bridge initializes again with the client's own initialize, on the chat the
 * session was using (Berth-Chat-Id), and retries once, so the client never notices. Stateless
 * (2026-07-28) messages get the headers that revision wants from their body instead.
 * notifications/cancelled is forwarded and also aborts the request's HTTP exchange (which is how
 * a stateless call is canceled); nothing more of that request is written. At the end of stdin
 * the bridge cancels what is in flight, ends the session (DELETE) and exits 0.
 */
#include "base/buf.h"
#include "base/curlx.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "cli/internal.h"
#include "mcp/mcp.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_INFLIGHT  64
#define RESPONSE_MAX  (64u * 1024 * 1024)
#define START_WAIT_MS 10000 /* how long the reader waits for the server to begin answering */

static const char *usage =
    "usage: berth mcp [--chat ID]\n"
    "\n"
    "Serves MCP (the Model Context Protocol) on stdin and stdout for an MCP client such as\n"
    "Claude Desktop, Claude Code, Cursor or VS Code, with berth's chat tools acting on one chat\n"
    "and its workspace: the chat ID given, or a new chat made by the first tool call. Uses the\n"
    "server and token of `berth login` (or --url/--token, BERTH_URL/BERTH_SESSION_TOKEN).\n";

struct bridge {
    char *endpoint;
    char *token;
    char *chat_id;        /* --chat, or the chat the server reported (Berth-Chat-Id) */
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t cond;  /* a request began or ended */
    char *session_id;
    char *version;
    char *init_line; /* the client's initialize, to start over after a server restart */
    struct pending *pending;
    int inflight;
    pthread_mutex_t out_mu; /* stdout */
    atomic_bool broken;     /* stdout is gone */
    /* Connections to the server, kept open and shared by the exchanges (each on its own thread
     * and libcurl handle) so that a message does not pay for a new connection. */
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
};

/* One message on its way to the server. */
struct pending {
    struct bridge *b;
    char *line;   /* as read */
    json_t *id;   /* a request's id, or NULL */
    char *id_key; /* its compact JSON */
    char *method;
    char *name;         /* tools/call's params.name (stateless Mcp-Name) */
    char *meta_version; /* params._meta's protocol version: stateless */
    bool is_initialize;
    atomic_bool canceled;
    bool started, done; /* under b->lock */
    pthread_t thread;
    struct pending *next;
};

/* What one POST answered. */
struct exchange {
    struct pending *p;
    bool quiet; /* an internal POST: relay nothing */
    long status;
    bool sse;
    char *session_id;
    char *chat_id;
    struct buf body; /* a non-SSE body */
    struct buf line; /* SSE: the line being read */
    struct buf data; /* SSE: the event's data */
};

static void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void log_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("berth mcp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Writes one message as one line. Compact JSON has no newline; anything else is re-encoded. */
static void write_line(struct bridge *b, const char *msg)
{
    char *compact = NULL;
    if (strchr(msg, '\n')) {
        json_error_t je;
        json_t *v = json_loads(msg, JSON_DECODE_ANY, &je);
        if (!v)
            return;
        compact = jsonx_dump(v);
        json_decref(v);
        msg = compact;
    }
    pthread_mutex_lock(&b->out_mu);
    if (!b->broken &&
        (fputs(msg, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)) {
        b->broken = true;
        log_err("cannot write to stdout: %s", strerror(errno));
    }
    pthread_mutex_unlock(&b->out_mu);
    free(compact);
}

static void write_error(struct bridge *b, const json_t *id, int code, const char *msg)
{
    char *text = jsonrpc_error_text(id, code, msg, NULL);
    write_line(b, text);
    free(text);
}

/* ---- one POST ---- */

static void mark_started(struct pending *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->b->lock);
    p->started = true;
    pthread_cond_broadcast(&p->b->cond);
    pthread_mutex_unlock(&p->b->lock);
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    const char *v = line + n + 1;
    const char *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return xstrndup(v, (size_t)(end - v));
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct exchange *x = arg;
    size_t len = size * nmemb;
    char *v;
    if (len > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        const char *sp = memchr(ptr, ' ', len);
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
    } else if ((v = header_value(ptr, len, "Content-Type"))) {
        x->sse = strncasecmp(v, "text/event-stream", 17) == 0;
        free(v);
    } else if ((v = header_value(ptr, len, "Mcp-Session-Id"))) {
        free(x->session_id);
        x->session_id = v;
    } else if ((v = header_value(ptr, len, "Berth-Chat-Id"))) {
        free(x->chat_id);
        x->chat_id = v;
    } else if (len <= 2 && x->status >= 200) { /* the end of the final header block */
        mark_started(x->p);
    }
    return len;
}

static bool canceled(const struct exchange *x)
{
    return x->p && x->p->canceled;
}

/* One complete SSE line: relays each event's data as a message. */
static void sse_line(struct exchange *x, const char *l)
{
    if (!*l) {
        if (x->data.len && !x->quiet && !canceled(x))
            write_line(x->p->b, buf_str(&x->data));
        buf_reset(&x->data);
        return;
    }
    if (strncmp(l, "data:", 5) != 0)
        return; /* comments (keep-alives), event names, ids */
    l += l[5] == ' ' ? 6 : 5;
    if (x->data.len)
        buf_putc(&x->data, '\n');
    buf_puts(&x->data, l);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct exchange *x = arg;
    size_t n = size * nmemb;
    if (canceled(x))
        return 0;
    if (!x->sse || x->status != 200)
        return buf_append(&x->body, ptr, n) < 0 ? 0 : n;
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] != '\n') {
            if (buf_putc(&x->line, ptr[i]) < 0)
                return 0;
            continue;
        }
        if (x->line.len && x->line.data[x->line.len - 1] == '\r')
            x->line.data[--x->line.len] = '\0';
        sse_line(x, buf_str(&x->line));
        buf_reset(&x->line);
    }
    return n;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    return canceled(arg) ? 1 : 0; /* abort: for a stateless call, that cancels it */
}

/* Header values that are not plain ASCII travel as "=?base64?...?=" (2026-07-28). */
static char *header_safe(const char *v)
{
    bool plain = true;
    for (const unsigned char *p = (const unsigned char *)v; *p && plain; p++)
        plain = *p >= 0x20 && *p < 0x7f;
    if (plain)
        return xstrdup(v);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "=?base64?");
    size_t n = strlen(v);
    const unsigned char *s = (const unsigned char *)v;
    for (size_t i = 0; i < n; i += 3) {
        unsigned acc = (unsigned)s[i] << 16 | (i + 1 < n ? (unsigned)s[i + 1] << 8 : 0) |
                       (i + 2 < n ? s[i + 2] : 0);
        buf_putc(&b, alphabet[acc >> 18 & 63]);
        buf_putc(&b, alphabet[acc >> 12 & 63]);
        buf_putc(&b, i + 1 < n ? alphabet[acc >> 6 & 63] : '=');
        buf_putc(&b, i + 2 < n ? alphabet[acc & 63] : '=');
    }
    buf_puts(&b, "?=");
    return buf_take(&b);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *arg)
{
    (void)h;
    (void)access;
    struct bridge *b = arg;
    pthread_mutex_lock(&b->share_mu[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *arg)
{
    (void)h;
    struct bridge *b = arg;
    pthread_mutex_unlock(&b->share_mu[data]);
}

/* The connection cache the exchanges share (NULL when libcurl cannot share: every exchange
 * then opens its own connection). */
static void share_init(struct bridge *b)
{
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&b->share_mu[i], NULL);
    b->share = curl_share_init();
    if (b->share &&
        (curl_share_setopt(b->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
         curl_share_setopt(b->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
         curl_share_setopt(b->share, CURLSHOPT_USERDATA, b) != CURLSHE_OK ||
         curl_share_setopt(b->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK)) {
        curl_share_cleanup(b->share);
        b->share = NULL;
    }
}

static void share_free(struct bridge *b)
{
    if (b->share)
        curl_share_cleanup(b->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&b->share_mu[i]);
}

static struct curl_slist *add_header(struct curl_slist *h, const char *name, const char *value)
{
    char *safe = header_safe(value);
    char *line = str_printf("%s: %s", name, safe);
    h = curl_slist_append(h, line);
    free(line);
    free(safe);
    return h;
}

/* POSTs body (or DELETEs when body is NULL) with the headers the message needs; x is filled.
 * Returns the curl result. */
static CURLcode send_message(struct bridge *b, const struct pending *p, const char *body,
                             const char *session_id, struct exchange *x)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return CURLE_FAILED_INIT;
    struct curl_slist *h = NULL;
    h = add_header(h, "Berth-Session-Token", b->token);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "Expect:");
    pthread_mutex_lock(&b->lock);
    if (b->chat_id)
        h = add_header(h, "Berth-Chat-Id", b->chat_id);
    pthread_mutex_unlock(&b->lock);
    if (p && p->meta_version) { /* stateless: the headers mirror the body */
        h = add_header(h, "MCP-Protocol-Version", p->meta_version);
        h = add_header(h, "Mcp-Method", p->method);
        if (p->name)
            h = add_header(h, "Mcp-Name", p->name);
    } else {
        if (session_id)
            h = add_header(h, "Mcp-Session-Id", session_id);
        if (b->version && !(p && p->is_initialize))
            h = add_header(h, "MCP-Protocol-Version", b->version);
    }
    buf_init(&x->body, RESPONSE_MAX);
    buf_init(&x->line, RESPONSE_MAX);
    buf_init(&x->data, RESPONSE_MAX);
    curl_easy_setopt(curl, CURLOPT_URL, b->endpoint);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    if (b->share)
        curl_easy_setopt(curl, CURLOPT_SHARE, b->share);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    /* A stream carries a keep-alive every 15 s: a minute of silence is a dead connection. */
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    curl_easy_cleanup(curl);
    return rc;
}

static void exchange_free(struct exchange *x)
{
    free(x->session_id);
    free(x->chat_id);
    buf_free(&x->body);
    buf_free(&x->line);
    buf_free(&x->data);
    memset(x, 0, sizeof *x);
}

/* Whether a 404's body says the session is unknown (-32001). */
static bool session_lost(const struct exchange *x)
{
    if (x->status != 404 || !x->body.len)
        return false;
    json_error_t je;
    json_t *o = json_loadb(x->body.data, x->body.len, 0, &je);
    json_t *code = json_object_get(json_object_get(o, "error"), "code");
    bool lost = json_integer_value(code) == MCP_ERR_SESSION_NOT_FOUND;
    json_decref(o);
    return lost;
}

/* Takes what an initialize's answer says: the session id and the negotiated version. */
static void keep_session(struct bridge *b, const struct exchange *x)
{
    json_error_t je;
    json_t *o = x->body.len ? json_loadb(x->body.data, x->body.len, 0, &je) : NULL;
    const char *v = jsonx_get_str(json_object_get(o, "result"), "protocolVersion", NULL);
    pthread_mutex_lock(&b->lock);
    if (x->session_id) {
        free(b->session_id);
        b->session_id = xstrdup(x->session_id);
    }
    if (v) {
        free(b->version);
        b->version = xstrdup(v);
    }
    pthread_mutex_unlock(&b->lock);
    json_decref(o);
}

/* The server forgot session `lost` (a restart): initialize again, unless another thread did. */
static void reinitialize(struct bridge *b, const char *lost)
{
    pthread_mutex_lock(&b->lock);
    bool mine = b->init_line && b->session_id && strcmp(b->session_id, lost) == 0;
    char *init = mine ? xstrdup(b->init_line) : NULL;
    pthread_mutex_unlock(&b->lock);
    if (!mine)
        return;
    log_err("the server lost the session; starting a new one");
    struct pending p = {.b = b, .is_initialize = true, .method = "initialize"};
    struct exchange x = {.quiet = true};
    if (send_message(b, &p, init, NULL, &x) == CURLE_OK && x.status == 200 && x.session_id) {
        keep_session(b, &x);
        struct exchange n = {.quiet = true};
        send_message(b, NULL, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                     x.session_id, &n);
        exchange_free(&n);
    }
    exchange_free(&x);
    free(init);
}

/* Relays a non-SSE answer: a JSON-RPC message as it is; anything else, for a request, as an
 * error the client can match. */
static void relay_body(struct pending *p, struct exchange *x)
{
    struct bridge *b = p->b;
    json_error_t je;
    json_t *o = x->body.len ? json_loadb(x->body.data, x->body.len, 0, &je) : NULL;
    const json_t *err = json_object_get(o, "error");
    if (json_is_object(o) && (json_object_get(o, "result") || err)) {
        if (p->id && json_is_null(json_object_get(o, "id"))) /* a transport error: give it ours */
            json_object_set(o, "id", p->id);
        if (p->id) {
            char *text = jsonx_dump(o);
            write_line(b, text);
            free(text);
        } else {
            log_err("%s: %s", p->method, jsonx_get_str(err, "message", "refused"));
        }
    } else if (p->id) {
        const char *msg = jsonx_get_str(o, "message", NULL);
        char *text = str_printf("The berth server answered %ld%s%s", x->status, msg ? ": " : "",
                                msg ? msg : "");
        write_error(b, p->id, MCP_ERR_TRANSPORT, text);
        free(text);
    } else if (x->status >= 300) {
        log_err("%s: the server answered %ld", p->method, x->status);
    }
    json_decref(o);
}

static void *forward(void *arg)
{
    struct pending *p = arg;
    struct bridge *b = p->b;
    for (int attempt = 0; attempt < 2; attempt++) {
        pthread_mutex_lock(&b->lock);
        char *session = b->session_id ? xstrdup(b->session_id) : NULL;
        pthread_mutex_unlock(&b->lock);
        struct exchange x = {.p = p};
        CURLcode rc = send_message(b, p, p->line, p->is_initialize ? NULL : session, &x);
        if (x.chat_id && !p->meta_version) { /* the session's chat: kept for a new session */
            pthread_mutex_lock(&b->lock);
            free(b->chat_id);
            b->chat_id = xstrdup(x.chat_id);
            pthread_mutex_unlock(&b->lock);
        }
        bool retry = false;
        if (p->canceled) {
            /* nothing more for a canceled request */
        } else if (rc != CURLE_OK) {
            log_err("cannot reach %s: %s", b->endpoint, curl_easy_strerror(rc));
            if (p->id)
                write_error(b, p->id, MCP_ERR_TRANSPORT, "The berth server cannot be reached.");
        } else if (attempt == 0 && session && !p->meta_version && session_lost(&x)) {
            reinitialize(b, session);
            retry = true;
        } else {
            if (p->is_initialize && x.status == 200)
                keep_session(b, &x);
            if (!(x.sse && x.status == 200) && x.status != 202)
                relay_body(p, &x);
        }
        exchange_free(&x);
        free(session);
        if (!retry)
            break;
    }
    pthread_mutex_lock(&b->lock);
    p->started = p->done = true;
    b->inflight--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

/* ---- the reader ---- */

static void pending_free(struct pending *p)
{
    free(p->line);
    json_decref(p->id);
    free(p->id_key);
    free(p->method);
    free(p->name);
    free(p->meta_version);
    free(p);
}

/* Joins finished threads (with b->lock held). */
static void reap(struct bridge *b, bool all)
{
    struct pending **pp = &b->pending;
    while (*pp) {
        struct pending *p = *pp;
        if (!p->done && !all) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        pthread_mutex_unlock(&b->lock);
        pthread_join(p->thread, NULL);
        pending_free(p);
        pthread_mutex_lock(&b->lock);
    }
}

/* notifications/cancelled: the request's exchange is aborted and nothing more of it written. */
static void cancel_pending(struct bridge *b, const json_t *params)
{
    const json_t *rid = json_object_get(params, "requestId");
    if (!json_is_string(rid) && !json_is_integer(rid))
        return;
    char *key = jsonx_dump(rid);
    pthread_mutex_lock(&b->lock);
    for (struct pending *p = b->pending; p; p = p->next)
        if (p->id_key && !p->done && strcmp(p->id_key, key) == 0)
            p->canceled = true;
    pthread_mutex_unlock(&b->lock);
    free(key);
}

static void handle_line(struct bridge *b, char *line)
{
    struct jsonrpc_msg m;
    jsonrpc_decode(line, strlen(line), &m);
    if (m.kind == JSONRPC_INVALID) { /* answered here: no need to ask the server */
        write_error(b, m.id, m.error_code, m.error_msg);
        jsonrpc_msg_clear(&m);
        return;
    }
    struct pending *p = xcalloc(1, sizeof *p);
    p->b = b;
    p->line = xstrdup(line);
    p->method = xstrdup(m.method ? m.method : "response");
    if (m.kind == JSONRPC_REQUEST) {
        p->id = json_deep_copy(m.id);
        p->id_key = jsonx_dump(m.id);
    }
    const char *v =
        jsonx_get_str(json_object_get(m.params, "_meta"), MCP_META_PROTOCOL_VERSION, NULL);
    p->meta_version = v ? xstrdup(v) : NULL;
    const char *name = jsonx_get_str(m.params, "name", NULL);
    if (!name)
        name = jsonx_get_str(m.params, "uri", NULL); /* resources/read */
    p->name = name ? xstrdup(name) : NULL;
    p->is_initialize = m.kind == JSONRPC_REQUEST && strcmp(m.method, "initialize") == 0 && !v;
    if (m.kind == JSONRPC_NOTIFICATION && strcmp(m.method, "notifications/cancelled") == 0)
        cancel_pending(b, m.params);
    jsonrpc_msg_clear(&m);

    pthread_mutex_lock(&b->lock);
    if (p->is_initialize) {
        free(b->init_line);
        b->init_line = xstrdup(line);
    }
    while (b->inflight >= MAX_INFLIGHT)
        pthread_cond_wait(&b->cond, &b->lock);
    reap(b, false);
    b->inflight++;
    p->next = b->pending;
    b->pending = p;
    if (pthread_create(&p->thread, NULL, forward, p) != 0) {
        b->inflight--;
        b->pending = p->next;
        pthread_mutex_unlock(&b->lock);
        log_err("cannot start a thread");
        if (p->id)
            write_error(b, p->id, JSONRPC_INTERNAL_ERROR, "berth mcp cannot start a thread");
        pending_free(p);
        return;
    }
    /* Wait until the server has begun to answer (an initialize: until it has answered, since
     * what follows needs its session). */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += START_WAIT_MS / 1000;
    while (!(p->is_initialize ? p->done : p->started))
        if (pthread_cond_timedwait(&b->cond, &b->lock, &deadline) != 0)
            break;
    pthread_mutex_unlock(&b->lock);
}

int cmd_mcp(int argc, char **argv)
{
    char *chat = NULL;
    const struct flag flags[] = {
        {"chat", 0, FLAG_STRING, &chat, NULL, "ID", "act on this chat of yours (default: new)"},
    };
    struct cli_globals g;
    char **pos = NULL;
    int npos, ndash;
    int r = cli_parse(argc, argv, 2, usage, flags, 1, &g, &pos, &npos, &ndash);
    if (r != 0) {
        free(chat);
        return r < 0 ? 2 : 0;
    }
    free(pos);
    if (npos > 0) {
        cli_globals_free(&g);
        free(chat);
        return cli_usage_error(usage, "mcp takes no arguments");
    }
    struct client c;
    struct err e = ERR_INIT;
    if (client_open(&c, &g, true, &e) < 0) { /* resolves the server and token; curl is ready */
        client_close(&c);
        cli_globals_free(&g);
        free(chat);
        return cli_fail(&e);
    }
    signal(SIGPIPE, SIG_IGN);
    struct bridge b;
    memset(&b, 0, sizeof b);
    b.endpoint = str_printf("%s/api/experimental/mcp", c.url);
    b.token = xstrdup(c.token);
    b.chat_id = chat;
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    pthread_mutex_init(&b.out_mu, NULL);
    share_init(&b);
    client_close(&c);
    cli_globals_free(&g);

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!b.broken && (n = getline(&line, &cap, stdin)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            handle_line(&b, line);
    }
    free(line);

    /* The client is done: stop what is in flight and end the session. */
    pthread_mutex_lock(&b.lock);
    for (struct pending *p = b.pending; p; p = p->next)
        p->canceled = true;
    reap(&b, true);
    char *session = b.session_id ? xstrdup(b.session_id) : NULL;
    pthread_mutex_unlock(&b.lock);
    if (session) {
        struct exchange x = {.quiet = true};
        send_message(&b, NULL, NULL, session, &x);
        exchange_free(&x);
        free(session);
    }
    free(b.endpoint);
    free(b.token);
    free(b.chat_id);
    free(b.session_id);
    free(b.version);
    free(b.init_line);
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    pthread_mutex_destroy(&b.out_mu);
    share_free(&b);
    return 0;
}
