/* daemon.c - the agent's connection to the server: one libevent loop owns the HTTP client;
 * requests run on their own threads and hand results back through an outbox. */
#include "agent/internal.h"

#include "base/flags.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_INFLIGHT   128
#define EXIT_GRACE_MS  5000

static void wake(struct agent *ag)
{
    event_active(ag->wake, 0, 0);
}

/* ---- small HTTP helpers (loop thread) ---- */

struct http_ctx {
    struct agent *ag;
    void (*done)(struct agent *ag, int status, const char *body, size_t len, void *arg);
    void *arg;
};

static void request_done(struct evhttp_request *req, void *arg)
{
    struct http_ctx *c = arg;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    const char *body = "";
    size_t len = 0;
    char *copy = NULL;
    if (req) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        len = evbuffer_get_length(in);
        copy = xmalloc(len + 1);
        evbuffer_copyout(in, copy, len);
        copy[len] = '\0';
        body = copy;
    }
    if (c->done)
        c->done(c->ag, status, body, len, c->arg);
    free(copy);
    free(c);
}

static void send_request(struct agent *ag, enum evhttp_cmd_type method, const char *path,
                         const char *body,
                         void (*done)(struct agent *, int, const char *, size_t, void *), void *arg)
{
    struct http_ctx *c = xcalloc(1, sizeof *c);
    c->ag = ag;
    c->done = done;
    c->arg = arg;
    struct evhttp_request *req = evhttp_request_new(request_done, c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", ag->host_header);
    evhttp_add_header(h, "Berth-Agent-Token", ag->token);
    if (body) {
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    char *full = str_printf("%s/api/v2/workspaceagents/me/%s", ag->prefix, path);
    if (evhttp_make_request(ag->api, req, method, full) != 0) {
        free(c); /* evhttp freed the request */
        if (done)
            done(ag, 0, "", 0, arg);
    }
    free(full);
}

/* ---- outbox: results, logs and lifecycle reports queued by other threads ---- */

void agent_post(struct agent *ag, const char *path, char *body)
{
    struct outbox_item *it = xcalloc(1, sizeof *it);
    it->path = xstrdup(path);
    it->body = body;
    pthread_mutex_lock(&ag->lock);
    if (ag->outbox_tail)
        ag->outbox_tail->next = it;
    else
        ag->outbox_head = it;
    ag->outbox_tail = it;
    pthread_mutex_unlock(&ag->lock);
    wake(ag);
}

void agent_log_line(struct agent *ag, const char *level, const char *source, const char *line,
                    size_t len)
{
    char *clean = utf8_sanitize(line, len, NULL);
    pthread_mutex_lock(&ag->lock);
    if (!ag->pending_logs)
        ag->pending_logs = json_array();
    json_array_append_new(ag->pending_logs, json_pack("{s:s, s:s, s:s}", "output", clean, "level",
                                                      level, "source", source));
    pthread_mutex_unlock(&ag->lock);
    free(clean);
    wake(ag);
}

void agent_set_lifecycle(struct agent *ag, const char *state)
{
    pthread_mutex_lock(&ag->lock);
    str_copy(ag->lifecycle, sizeof ag->lifecycle, state);
    ag->lifecycle_dirty = true;
    pthread_mutex_unlock(&ag->lock);
    log_info("agent", "lifecycle: %s", state);
    wake(ag);
}

void agent_request_exit(struct agent *ag)
{
    pthread_mutex_lock(&ag->lock);
    ag->exit_requested = true;
    pthread_mutex_unlock(&ag->lock);
    wake(ag);
}

static void lifecycle_done(struct agent *ag, int status, const char *body, size_t len, void *arg)
{
    char *state = arg;
    pthread_mutex_lock(&ag->lock);
    ag->lifecycle_posting = false;
    if (status / 100 == 2 && strcmp(state, ag->lifecycle) == 0)
        ag->lifecycle_dirty = false;
    bool again = status / 100 == 2 && ag->lifecycle_dirty; /* it changed meanwhile */
    bool exiting = ag->exit_requested && !ag->lifecycle_dirty;
    pthread_mutex_unlock(&ag->lock);
    if (again)
        wake(ag);
    if (status / 100 != 2)
        log_warn("agent", "lifecycle report %s failed (status %d); will retry", state, status);
    free(state);
    if (exiting)
        event_base_loopexit(ag->base, NULL);
}

static void ignore_done(struct agent *ag, int status, const char *body, size_t len, void *arg)
{
    if (status == 401) {
        log_error("agent", "the server no longer accepts this agent's token; exiting");
        event_base_loopexit(ag->base, NULL);
    }
}

/* Sends what other threads queued, in order: logs before the lifecycle they lead to. */
static void drain(evutil_socket_t fd, short what, void *arg)
{
    struct agent *ag = arg;
    pthread_mutex_lock(&ag->lock);
    struct outbox_item *items = ag->outbox_head;
    ag->outbox_head = ag->outbox_tail = NULL;
    json_t *logs = ag->pending_logs;
    ag->pending_logs = NULL;
    char *state = ag->lifecycle_dirty && !ag->lifecycle_posting ? xstrdup(ag->lifecycle) : NULL;
    if (state)
        ag->lifecycle_posting = true;
    bool exit_now = ag->exit_requested && !ag->lifecycle_dirty;
    pthread_mutex_unlock(&ag->lock);
    while (items) {
        struct outbox_item *next = items->next;
        send_request(ag, EVHTTP_REQ_POST, items->path, items->body, ignore_done, NULL);
        free(items->path);
        free(items->body);
        free(items);
        items = next;
    }
    if (logs) {
        json_t *body = json_pack("{s:o}", "logs", logs);
        char *text = jsonx_dump(body);
        json_decref(body);
        send_request(ag, EVHTTP_REQ_POST, "logs", text, ignore_done, NULL);
        free(text);
    }
    if (state) {
        char *text = str_printf("{\"state\":\"%s\"}", state);
        send_request(ag, EVHTTP_REQ_POST, "lifecycle", text, lifecycle_done, state);
        free(text);
    }
    if (exit_now)
        event_base_loopexit(ag->base, NULL);
}

/* ---- requests from the server ---- */

struct job {
    struct agent *ag;
    json_t *req;
};

static void *request_thread(void *arg)
{
    struct job *j = arg;
    struct agent *ag = j->ag;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    const char *id = jsonx_get_str(j->req, "id", "");
    json_t *result = NULL;
    struct err e = ERR_INIT;
    json_t *reply;
    if (agent_ops_handle(ag->ops, j->req, &result, &e) == 0) {
        reply = json_pack("{s:s, s:o}", "id", id, "result", result);
    } else {
        reply = json_pack("{s:s, s:{s:s, s:s}}", "id", id, "error", "message", err_msg(&e), "kind",
                          err_kind_name(e.kind));
        if (e.detail)
            json_object_set_new(json_object_get(reply, "error"), "detail", json_string(e.detail));
    }
    err_clear(&e);
    agent_post(ag, "results", jsonx_dump(reply));
    json_decref(reply);
    json_decref(j->req);
    free(j);
    pthread_mutex_lock(&ag->lock);
    ag->inflight--;
    pthread_mutex_unlock(&ag->lock);
    return NULL;
}

static void dispatch(struct agent *ag, const char *data)
{
    json_error_t je;
    json_t *req = json_loads(data, 0, &je);
    if (!json_is_object(req)) {
        json_decref(req);
        return;
    }
    pthread_mutex_lock(&ag->lock);
    bool busy = ag->inflight >= MAX_INFLIGHT;
    if (!busy)
        ag->inflight++;
    pthread_mutex_unlock(&ag->lock);
    if (busy) {
        json_t *reply =
            json_pack("{s:s, s:{s:s, s:s}}", "id", jsonx_get_str(req, "id", ""), "error", "message",
                      "the agent is busy", "kind", "ERR_RATE_LIMITED");
        agent_post(ag, "results", jsonx_dump(reply));
        json_decref(reply);
        json_decref(req);
        return;
    }
    struct job *j = xmalloc(sizeof *j);
    j->ag = ag;
    j->req = req;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, request_thread, j) != 0) {
        pthread_mutex_lock(&ag->lock);
        ag->inflight--;
        pthread_mutex_unlock(&ag->lock);
        json_decref(req);
        free(j);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the request stream (SSE) ---- */

static void schedule_reconnect(struct agent *ag)
{
    int64_t ms = ag->backoff_ms;
    ms += (int64_t)secure_uniform((uint32_t)(ms / 2 + 1)) - ms / 4; /* jitter */
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(ag->retry, &tv);
    ag->backoff_ms = ag->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ag->backoff_ms * 2;
}

static void sse_line(struct agent *ag, const char *line)
{
    if (!*line) {
        if (strcmp(ag->sse_event, "request") == 0)
            dispatch(ag, buf_str(&ag->sse_data));
        buf_reset(&ag->sse_data);
        ag->sse_event[0] = '\0';
        return;
    }
    if (str_has_prefix(line, "event: "))
        str_copy(ag->sse_event, sizeof ag->sse_event, line + 7);
    else if (str_has_prefix(line, "data: "))
        buf_puts(&ag->sse_data, line + 6);
}

static void stream_chunk(struct evhttp_request *req, void *arg)
{
    struct agent *ag = arg;
    if (evhttp_request_get_response_code(req) != 200)
        return;
    if (!ag->stream_up) {
        ag->stream_up = true;
        ag->backoff_ms = BACKOFF_MIN_MS;
        log_info("agent", "connected to %s", ag->url);
        pthread_mutex_lock(&ag->lock);
        bool resend = ag->lifecycle_dirty;
        pthread_mutex_unlock(&ag->lock);
        if (resend)
            wake(ag);
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n;
    char *line;
    /* evbuffer_readln keeps a partial last line in the buffer for the next chunk. */
    while ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF)) != NULL) {
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        sse_line(ag, line);
        free(line);
    }
}

static void stream_open(struct agent *ag);

static void stream_done(struct evhttp_request *req, void *arg)
{
    struct agent *ag = arg;
    int status = req ? evhttp_request_get_response_code(req) : 0;
    ag->stream_req = NULL;
    if (ag->stream_up)
        log_warn("agent", "lost the connection to the server; reconnecting");
    ag->stream_up = false;
    buf_reset(&ag->sse_data);
    if (status == 401) {
        log_error("agent", "the server refused this agent's token (its build is no longer "
                           "current); exiting");
        event_base_loopexit(ag->base, NULL);
        return;
    }
    if (!ag->shutting_down)
        schedule_reconnect(ag);
}

static void stream_open(struct agent *ag)
{
    if (ag->stream_req || ag->shutting_down)
        return;
    struct evhttp_request *req = evhttp_request_new(stream_done, ag);
    evhttp_request_set_chunked_cb(req, stream_chunk);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", ag->host_header);
    evhttp_add_header(h, "Berth-Agent-Token", ag->token);
    evhttp_add_header(h, "Accept", "text/event-stream");
    char *path = str_printf("%s/api/v2/workspaceagents/me/stream", ag->prefix);
    if (evhttp_make_request(ag->stream_conn, req, EVHTTP_REQ_GET, path) == 0)
        ag->stream_req = req;
    else
        schedule_reconnect(ag);
    free(path);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct agent *ag = arg;
    if (!ag->manifest)
        agent_fetch_manifest(ag);
    else
        stream_open(ag);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct agent *ag = arg;
    send_request(ag, EVHTTP_REQ_POST, "heartbeat", "{}", ignore_done, NULL);
    pthread_mutex_lock(&ag->lock);
    bool resend = ag->lifecycle_dirty;
    pthread_mutex_unlock(&ag->lock);
    if (resend)
        wake(ag);
}

static void manifest_done(struct agent *ag, int status, const char *body, size_t len, void *arg)
{
    if (status == 401) {
        log_error("agent", "the server refused this agent's token: %s", body);
        event_base_loopexit(ag->base, NULL);
        return;
    }
    json_error_t je;
    json_t *m = status == 200 ? json_loadb(body, len, 0, &je) : NULL;
    if (!json_is_object(m)) {
        json_decref(m);
        log_warn("agent", "cannot read the manifest from %s (status %d); retrying", ag->url,
                 status);
        schedule_reconnect(ag);
        return;
    }
    ag->manifest = m;
    agent_start(ag);
    stream_open(ag);
    int64_t hb = json_integer_value(json_object_get(m, "heartbeat_interval_ms"));
    if (hb <= 0)
        hb = 10000;
    struct timeval tv = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    event_add(ag->heartbeat, &tv);
}

void agent_fetch_manifest(struct agent *ag)
{
    send_request(ag, EVHTTP_REQ_GET, "manifest", NULL, manifest_done, NULL);
}

static void on_sigterm(evutil_socket_t fd, short what, void *arg)
{
    struct agent *ag = arg;
    if (ag->shutting_down)
        return;
    ag->shutting_down = true;
    log_info("agent", "shutting down");
    agent_stop(ag);
    struct timeval tv = {EXIT_GRACE_MS / 1000 + agent_stop_budget_s(ag), 0};
    event_add(ag->exit_timer, &tv);
}

static void on_exit_timer(evutil_socket_t fd, short what, void *arg)
{
    struct agent *ag = arg;
    log_warn("agent", "could not report the shutdown to the server; exiting anyway");
    event_base_loopexit(ag->base, NULL);
}

/* Splits BERTH_URL into host, port and path prefix (http only). */
static int parse_url(struct agent *ag, const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    if (!u)
        return -1;
    const char *scheme = evhttp_uri_get_scheme(u);
    const char *host = evhttp_uri_get_host(u);
    int rc = -1;
    if (scheme && strcmp(scheme, "http") == 0 && host && *host) {
        ag->host = xstrdup(host);
        ag->port = evhttp_uri_get_port(u) > 0 ? evhttp_uri_get_port(u) : 80;
        const char *path = evhttp_uri_get_path(u);
        ag->prefix = xstrdup(path ? path : "");
        size_t n = strlen(ag->prefix);
        while (n && ag->prefix[n - 1] == '/')
            ag->prefix[--n] = '\0';
        snprintf(ag->host_header, sizeof ag->host_header, "%s:%d", ag->host, ag->port);
        rc = 0;
    }
    evhttp_uri_free(u);
    return rc;
}

int agent_main(int argc, char **argv)
{
    char *url = NULL, *token = NULL, *log_level = NULL;
    bool help = false;
    const struct flag flags[] = {
        {"url", 0, FLAG_STRING, &url, "BERTH_URL", "URL", "the server"},
        {"token", 0, FLAG_STRING, &token, "BERTH_AGENT_TOKEN", "TOKEN", "this agent's token"},
        {"log-level", 0, FLAG_STRING, &log_level, "BERTH_LOG_LEVEL", "LEVEL", "default info"},
        {"help", 'h', FLAG_BOOL, &help, NULL, NULL, "show this help"},
    };
    char **pos;
    int npos, ndash;
    struct err e = ERR_INIT;
    int status = 1;
    if (flags_parse(flags, sizeof flags / sizeof flags[0], argc, argv, 2, &pos, &npos, &ndash, &e) <
        0) {
        fprintf(stderr, "berth agent: %s\n", err_msg(&e));
        err_clear(&e);
        return 2;
    }
    free(pos);
    if (help) {
        printf("usage: berth agent\n\nRuns inside a workspace: dials the server and serves "
               "its requests.\n\nflags:\n");
        flags_usage(stdout, flags, sizeof flags / sizeof flags[0]);
        status = 0;
        goto out;
    }
    enum log_level lvl = LOG_INFO;
    if (log_level)
        log_level_parse(log_level, &lvl);
    log_configure(lvl, false);
    /* The token must not reach the commands this agent runs. */
    unsetenv("BERTH_AGENT_TOKEN");
    if (!url || !token) {
        fprintf(stderr, "berth agent: BERTH_URL and BERTH_AGENT_TOKEN must be set\n");
        status = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    struct agent *ag = xcalloc(1, sizeof *ag);
    ag->url = url;
    ag->token = token;
    if (parse_url(ag, url) < 0) {
        fprintf(stderr, "berth agent: BERTH_URL must be an http:// URL, not %s\n", url);
        free(ag);
        status = 2;
        goto out;
    }
    pthread_mutex_init(&ag->lock, NULL);
    buf_init(&ag->sse_data, 64 * 1024 * 1024);
    ag->backoff_ms = BACKOFF_MIN_MS;
    ag->base = event_base_new();
    ag->api = evhttp_connection_base_new(ag->base, NULL, ag->host, (ev_uint16_t)ag->port);
    ag->stream_conn = evhttp_connection_base_new(ag->base, NULL, ag->host, (ev_uint16_t)ag->port);
    evhttp_connection_set_timeout(ag->api, 30);
    evhttp_connection_set_timeout(ag->stream_conn, 45); /* the server pings every 15 s */
    ag->wake = event_new(ag->base, -1, EV_PERSIST, drain, ag);
    ag->retry = evtimer_new(ag->base, on_retry, ag);
    ag->heartbeat = event_new(ag->base, -1, EV_PERSIST, on_heartbeat, ag);
    ag->exit_timer = evtimer_new(ag->base, on_exit_timer, ag);
    struct event *term = evsignal_new(ag->base, SIGTERM, on_sigterm, ag);
    struct event *intr = evsignal_new(ag->base, SIGINT, on_sigterm, ag);
    event_add(term, NULL);
    event_add(intr, NULL);
    log_info("agent", "starting (server %s)", url);
    agent_fetch_manifest(ag);
    event_base_dispatch(ag->base);
    agent_finish(ag);
    event_free(term);
    event_free(intr);
    event_free(ag->wake);
    event_free(ag->retry);
    event_free(ag->heartbeat);
    event_free(ag->exit_timer);
    evhttp_connection_free(ag->api);
    evhttp_connection_free(ag->stream_conn);
    event_base_free(ag->base);
    json_decref(ag->manifest);
    json_decref(ag->pending_logs);
    while (ag->outbox_head) {
        struct outbox_item *next = ag->outbox_head->next;
        free(ag->outbox_head->path);
        free(ag->outbox_head->body);
        free(ag->outbox_head);
        ag->outbox_head = next;
    }
    buf_free(&ag->sse_data);
    free(ag->host);
    free(ag->prefix);
    pthread_mutex_destroy(&ag->lock);
    free(ag);
    status = 0;
out:
    free(url);
    free(token);
    free(log_level);
    return status;
}
