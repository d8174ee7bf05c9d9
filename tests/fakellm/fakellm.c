/* fakellm - a scripted LLM provider for tests and benchmarks.
 *
 * Speaks both streaming APIs berth uses: POST .../chat/completions (OpenAI-compatible Chat
 * Completions, stream=true) and POST .../messages (Anthropic Messages, stream=true). Each
 * request is answered by the next unused turn of a script, in the request's own format.
 *
 *   fakellm --script FILE --url-file FILE [--log FILE]
 *
 * It listens on 127.0.0.1 on a free port and writes its base URL ("http://127.0.0.1:PORT/v1",
 * point BERTH_LLM_BASE_URL at it) to the --url-file (written whole, then renamed into place).
 * Every request body is appended to the --log file as one line of compact JSON (a body that is
 * not JSON is logged as a JSON string), so tests can assert what the model was sent. SIGTERM or
 * SIGINT ends it.
 *
 * The script is a JSON array of turns (or {"turns": [...]}). A turn is an object:
 *
 *   "text": "..." or ["chunk", ...]      text, one stream event per chunk
 *   "reasoning": "..." or [...]          reasoning (reasoning_content / thinking) before the text
 *   "tool_calls": [{"name": "execute",   tool calls after the text; "args" is a string, an
 *                   "args": ...,          array of pieces (one event each) or an object (sent
 *                   "id": "..."}]         compact, whole); "id" defaults to call_N / toolu_N
 *   "finish": "..."                      the stop reason sent (default: tool_calls or stop;
 *                                         tool_use or end_turn)
 *   "status": 429                        answer this HTTP status instead of a stream, with
 *   "retry_after": "1"                     these headers (retry-after, retry-after-ms,
 *   "retry_after_ms": "200"                x-should-retry) and "body" (any JSON; default: the
 *   "should_retry": "false"                API's error object)
 *   "body": {...}
 *   "error_event": {...}                 after the content, an error event carrying this
 *                                         error object, and no stop
 *   "raw": ["data: ...\n\n", ...]         bytes sent as they are after the content (malformed
 *                                         events)
 *   "delay_ms": 100                      wait before answering (a stream or a status)
 *   "chunk_delay_ms": 10                 wait between events
 *   "drop": true                         close the connection after the content, before the stop
 *                                         events ("drop_after": N: after N events instead)
 *   "hang": true                         send the content, then nothing until the client leaves
 *   "match": "text"                      only for a request whose body contains text (a turn
 *                                         that matches is picked before one without a match)
 *   "require_header": "name: value"      answer 401 unless the request has this header
 *   "forbid_header": "name"              answer 400 if the request has this header
 *   "repeat": true                       never used up: answers every later request (zero
 *                                         latency unless delays are set), for benchmarks
 *
 * A request with no turn left gets HTTP 500 with the error "fakellm: no scripted turn left".
 */
#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_MAX (64u * 1024 * 1024)

struct script {
    json_t *turns;
    bool *used;
    size_t next; /* turns before it are used */
    FILE *log;
    long ids; /* tool call ids handed out */
};

static struct script S;
static struct event_base *base;

/* ---- a streamed answer ---- */

struct resp {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    json_t *turn;   /* borrowed from the script */
    json_t *events; /* SSE texts to send, in order */
    size_t content; /* events[0..content) are content; the rest end the stream */
    size_t sent;
    bool anthropic;
    char model[128];
    struct event *timer;
    bool started;
};

static const char *str_or(const char *s)
{
    return s ? s : "";
}

static void resp_free(struct resp *r)
{
    if (r->timer)
        event_free(r->timer);
    json_decref(r->events);
    free(r);
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
    struct resp *r = arg;
    /* A request the client abandoned was detached from its connection and is ours to end (that
     * frees it); one still on the connection is freed with it. */
    if (r->req && evhttp_request_get_connection(r->req) != conn)
        evhttp_send_reply_end(r->req);
    resp_free(r);
}

static void add_event(struct resp *r, const char *name, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT);
    char *ev =
        name ? str_printf("event: %s\ndata: %s\n\n", name, text) : str_printf("data: %s\n\n", text);
    json_array_append_new(r->events, json_string(ev));
    free(text);
    free(ev);
    json_decref(data);
}

/* A turn's "text"-like member as pieces (a string is one piece). New reference. */
static json_t *pieces(const json_t *v)
{
    if (json_is_string(v))
        return json_pack("[O]", v);
    if (json_is_array(v))
        return json_incref((json_t *)(uintptr_t)v);
    if (json_is_object(v)) {
        char *s = json_dumps(v, JSON_COMPACT);
        json_t *a = json_pack("[s]", s);
        free(s);
        return a;
    }
    return json_array();
}

static json_t *openai_chunk(const struct resp *r, json_t *delta, const char *finish)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:[{s:i, s:o, s:s?}]}", "id", "chatcmpl-fake", "object",
                     "chat.completion.chunk", "created", 0, "model", r->model, "choices", "index",
                     0, "delta", delta, "finish_reason", finish);
}

static void openai_events(struct resp *r)
{
    const json_t *t = r->turn;
    add_event(r, NULL,
              openai_chunk(r, json_pack("{s:s, s:s}", "role", "assistant", "content", ""), NULL));
    size_t i;
    json_t *p, *list;
    list = pieces(json_object_get(t, "reasoning"));
    json_array_foreach(list, i, p)
        add_event(r, NULL, openai_chunk(r, json_pack("{s:O}", "reasoning_content", p), NULL));
    json_decref(list);
    list = pieces(json_object_get(t, "text"));
    json_array_foreach(list, i, p)
        add_event(r, NULL, openai_chunk(r, json_pack("{s:O}", "content", p), NULL));
    json_decref(list);
    const json_t *calls = json_object_get(t, "tool_calls");
    const json_t *c;
    json_array_foreach(calls, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        char made[64];
        if (!id) {
            snprintf(made, sizeof made, "call_%ld", ++S.ids);
            id = made;
        }
        add_event(
            r, NULL,
            openai_chunk(r,
                         json_pack("{s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "tool_calls", "index",
                                   (int)i, "id", id, "type", "function", "function", "name",
                                   str_or(json_string_value(json_object_get(c, "name"))),
                                   "arguments", ""),
                         NULL));
        json_t *args = pieces(json_object_get(c, "args"));
        size_t j;
        json_array_foreach(args, j, p)
            add_event(r, NULL,
                      openai_chunk(r,
                                   json_pack("{s:[{s:i, s:{s:O}}]}", "tool_calls", "index", (int)i,
                                             "function", "arguments", p),
                                   NULL));
        json_decref(args);
    }
    r->content = json_array_size(r->events);
    const char *finish = json_string_value(json_object_get(t, "finish"));
    if (!finish)
        finish = json_array_size(calls) ? "tool_calls" : "stop";
    add_event(r, NULL, openai_chunk(r, json_object(), finish));
    add_event(r, NULL,
              json_pack("{s:s, s:s, s:[], s:{s:i, s:i, s:i}}", "id", "chatcmpl-fake", "object",
                        "chat.completion.chunk", "choices", "usage", "prompt_tokens", 10,
                        "completion_tokens", 5, "total_tokens", 15));
    json_array_append_new(r->events, json_string("data: [DONE]\n\n"));
}

static void anthropic_block(struct resp *r, int index, json_t *start, const char *delta_type,
                            const char *key, const json_t *list)
{
    add_event(r, "content_block_start",
              json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", index,
                        "content_block", start));
    size_t i;
    json_t *p;
    json_array_foreach(list, i, p)
        add_event(r, "content_block_delta",
                  json_pack("{s:s, s:i, s:{s:s, s:O}}", "type", "content_block_delta", "index",
                            index, "delta", "type", delta_type, key, p));
    add_event(r, "content_block_stop",
              json_pack("{s:s, s:i}", "type", "content_block_stop", "index", index));
}

static void anthropic_events(struct resp *r)
{
    const json_t *t = r->turn;
    add_event(r, "message_start",
              json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:{s:i, s:i}}}", "type",
                        "message_start", "message", "id", "msg_fake", "type", "message", "role",
                        "assistant", "model", r->model, "content", "stop_reason", "usage",
                        "input_tokens", 10, "output_tokens", 1));
    add_event(r, "ping", json_pack("{s:s}", "type", "ping"));
    int index = 0;
    json_t *list = pieces(json_object_get(t, "reasoning"));
    if (json_array_size(list))
        anthropic_block(r, index++, json_pack("{s:s, s:s}", "type", "thinking", "thinking", ""),
                        "thinking_delta", "thinking", list);
    json_decref(list);
    list = pieces(json_object_get(t, "text"));
    if (json_array_size(list))
        anthropic_block(r, index++, json_pack("{s:s, s:s}", "type", "text", "text", ""),
                        "text_delta", "text", list);
    json_decref(list);
    const json_t *calls = json_object_get(t, "tool_calls");
    size_t i;
    const json_t *c;
    json_array_foreach(calls, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        char made[64];
        if (!id) {
            snprintf(made, sizeof made, "toolu_%ld", ++S.ids);
            id = made;
        }
        json_t *args = pieces(json_object_get(c, "args"));
        anthropic_block(r, index++,
                        json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id", id, "name",
                                  str_or(json_string_value(json_object_get(c, "name"))), "input"),
                        "input_json_delta", "partial_json", args);
        json_decref(args);
    }
    r->content = json_array_size(r->events);
    const char *finish = json_string_value(json_object_get(t, "finish"));
    if (!finish)
        finish = json_array_size(calls) ? "tool_use" : "end_turn";
    add_event(r, "message_delta",
              json_pack("{s:s, s:{s:s, s:n}, s:{s:i}}", "type", "message_delta", "delta",
                        "stop_reason", finish, "stop_sequence", "usage", "output_tokens", 5));
    add_event(r, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

/* Inserts error_event and raw bytes after the content; an error event ends the stream. */
static void add_extras(struct resp *r)
{
    json_t *tail = json_array();
    for (size_t i = r->content; i < json_array_size(r->events); i++)
        json_array_append(tail, json_array_get(r->events, i));
    while (json_array_size(r->events) > r->content)
        json_array_remove(r->events, r->content);
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(r->turn, "raw"), i, p)
    {
        if (json_is_string(p))
            json_array_append(r->events, p);
    }
    const json_t *err = json_object_get(r->turn, "error_event");
    if (err) {
        if (r->anthropic)
            add_event(r, "error", json_pack("{s:s, s:O}", "type", "error", "error", err));
        else
            add_event(r, NULL, json_pack("{s:O}", "error", err));
        r->content = json_array_size(r->events);
    } else {
        r->content = json_array_size(r->events);
        json_array_extend(r->events, tail);
    }
    json_decref(tail);
}

static int64_t turn_int(const json_t *t, const char *key)
{
    const json_t *v = json_object_get(t, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void arm(struct resp *r, int64_t ms);

static void drop_now(struct evhttp_connection *conn, void *arg)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
    if (bev)
        shutdown(bufferevent_getfd(bev), SHUT_RDWR); /* on_close cleans up */
}

static void send_event(struct resp *r, size_t i, bool last_before_drop)
{
    const char *text = json_string_value(json_array_get(r->events, i));
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    if (last_before_drop)
        evhttp_send_reply_chunk_with_cb(r->req, b, drop_now, NULL);
    else
        evhttp_send_reply_chunk(r->req, b);
    evbuffer_free(b);
}

/* Sends what is due; called at the start and from the timer. */
static void pump(struct resp *r)
{
    const json_t *t = r->turn;
    size_t total = json_array_size(r->events);
    bool drop = json_is_true(json_object_get(t, "drop")) || json_object_get(t, "drop_after");
    size_t stop_at = total;
    if (drop)
        stop_at = json_object_get(t, "drop_after") ? (size_t)turn_int(t, "drop_after") : r->content;
    if (json_is_true(json_object_get(t, "hang")) && stop_at > r->content)
        stop_at = r->content;
    if (stop_at > total)
        stop_at = total;
    int64_t gap = turn_int(t, "chunk_delay_ms");
    while (r->sent < stop_at) {
        send_event(r, r->sent, drop && r->sent + 1 == stop_at);
        r->sent++;
        if (gap > 0 && r->sent < stop_at) {
            arm(r, gap);
            return;
        }
    }
    if (drop) {
        if (stop_at == 0) {
            struct evbuffer *b = evbuffer_new();
            evhttp_send_reply_chunk_with_cb(r->req, b, drop_now, NULL);
            evbuffer_free(b);
        }
        return; /* on_close ends it */
    }
    if (json_is_true(json_object_get(t, "hang")))
        return; /* until the client leaves */
    evhttp_connection_set_closecb(r->conn, NULL, NULL);
    evhttp_send_reply_end(r->req);
    resp_free(r);
}

static void send_status(struct resp *r);

static void start(struct resp *r)
{
    r->started = true;
    if (turn_int(r->turn, "status")) {
        send_status(r);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, r->anthropic ? "request-id" : "x-request-id", "req_fake");
    evhttp_send_reply_start(r->req, 200, "OK");
    pump(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct resp *r = arg;
    if (!r->started)
        start(r);
    else
        pump(r);
}

static void arm(struct resp *r, int64_t ms)
{
    if (!r->timer)
        r->timer = evtimer_new(base, on_timer, r);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

/* ---- requests ---- */

static void reply_json(struct evhttp_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, status, "Scripted", b);
    evbuffer_free(b);
    free(text);
    json_decref(body);
}

static json_t *error_body(bool anthropic, const char *type, const char *msg)
{
    if (anthropic)
        return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type, "message",
                         msg);
    return json_pack("{s:{s:s, s:s}}", "error", "type", type, "message", msg);
}

/* Answers the turn's HTTP status (a JSON body and retry headers) and ends the response. */
static void send_status(struct resp *r)
{
    const json_t *t = r->turn;
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    static const char *const hdrs[][2] = {{"retry_after", "retry-after"},
                                          {"retry_after_ms", "retry-after-ms"},
                                          {"should_retry", "x-should-retry"}};
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string_value(json_object_get(t, hdrs[i][0]));
        if (v)
            evhttp_add_header(h, hdrs[i][1], v);
    }
    const json_t *b = json_object_get(t, "body");
    int status = (int)turn_int(t, "status");
    char msg[64];
    snprintf(msg, sizeof msg, "fakellm: scripted HTTP %d", status);
    evhttp_connection_set_closecb(r->conn, NULL, NULL);
    reply_json(r->req, status,
               b ? json_incref((json_t *)(uintptr_t)b)
                 : error_body(r->anthropic, r->anthropic ? "api_error" : "server_error", msg));
    resp_free(r);
}

/* The turn for a request: the first unused one whose match the body contains, else the first
 * unused one without a match; -1 when none. */
static long pick(const char *body)
{
    long found = -1;
    for (int pass = 0; pass < 2 && found < 0; pass++)
        for (size_t i = S.next; i < json_array_size(S.turns) && found < 0; i++) {
            const json_t *t = json_array_get(S.turns, i);
            const char *match = json_string_value(json_object_get(t, "match"));
            if (!S.used[i] && (pass == 0 ? match && strstr(body, match) : !match))
                found = (long)i;
        }
    if (found < 0)
        return -1;
    if (!json_is_true(json_object_get(json_array_get(S.turns, (size_t)found), "repeat")))
        S.used[found] = true;
    while (S.next < json_array_size(S.turns) && S.used[S.next])
        S.next++;
    return found;
}

static void log_body(const char *body, size_t len)
{
    if (!S.log)
        return;
    json_t *v = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (!v)
        v = json_stringn_nocheck(body, len);
    char *line = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    fprintf(S.log, "%s\n", line ? line : "null");
    fflush(S.log);
    free(line);
    json_decref(v);
}

static bool has_header(struct evhttp_request *req, const char *want)
{
    const char *colon = strchr(want, ':');
    if (!colon)
        return false;
    char name[128];
    str_fmt(name, sizeof name, "%.*s", (int)(colon - want), want);
    const char *value = colon + 1;
    while (*value == ' ')
        value++;
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), name);
    return got && strcmp(got, value) == 0;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    bool anthropic = path && str_has_suffix(path, "/messages");
    bool openai = path && str_has_suffix(path, "/chat/completions");
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST || (!anthropic && !openai)) {
        reply_json(req, 404,
                   error_body(false, "not_found",
                              "fakellm: POST .../chat/completions "
                              "or .../messages"));
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *body = xmalloc(len + 1);
    evbuffer_remove(in, body, len);
    body[len] = '\0';
    log_body(body, len);
    long ix = pick(body);
    if (ix < 0) {
        free(body);
        reply_json(req, 500,
                   error_body(anthropic, anthropic ? "api_error" : "server_error",
                              "fakellm: no scripted turn left"));
        return;
    }
    json_t *t = json_array_get(S.turns, (size_t)ix);
    const char *need = json_string_value(json_object_get(t, "require_header"));
    if (need && !has_header(req, need)) {
        char msg[300];
        snprintf(msg, sizeof msg, "fakellm: the request lacks the header %.200s", need);
        free(body);
        reply_json(
            req, 401,
            error_body(anthropic, anthropic ? "authentication_error" : "invalid_api_key", msg));
        return;
    }
    const char *forbid = json_string_value(json_object_get(t, "forbid_header"));
    if (forbid && evhttp_find_header(evhttp_request_get_input_headers(req), forbid)) {
        char msg[300];
        snprintf(msg, sizeof msg, "fakellm: the request has the header %.200s", forbid);
        free(body);
        reply_json(req, 400, error_body(anthropic, "invalid_request_error", msg));
        return;
    }
    struct resp *r = xcalloc(1, sizeof *r);
    r->req = req;
    r->conn = evhttp_request_get_connection(req);
    r->turn = t;
    r->anthropic = anthropic;
    r->events = json_array();
    json_t *parsed = json_loads(body, 0, NULL);
    str_copy(r->model, sizeof r->model,
             str_or(json_string_value(json_object_get(parsed, "model"))));
    json_decref(parsed);
    free(body);

    if (!turn_int(t, "status")) {
        if (anthropic)
            anthropic_events(r);
        else
            openai_events(r);
        add_extras(r);
    }
    evhttp_connection_set_closecb(r->conn, on_close, r);
    int64_t delay = turn_int(t, "delay_ms");
    if (delay > 0)
        arm(r, delay);
    else
        start(r);
}

/* ---- main ---- */

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(base);
}

static int usage(void)
{
    fprintf(stderr, "usage: fakellm --script FILE --url-file FILE [--log FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *script = NULL, *url_file = NULL, *log = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--script") == 0)
            script = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--url-file") == 0)
            url_file = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--log") == 0)
            log = argv[++i];
        else
            return usage();
    }
    if (!script || !url_file)
        return usage();
    json_error_t je;
    json_t *doc = json_load_file(script, 0, &je);
    if (!doc) {
        fprintf(stderr, "fakellm: %s:%d: %s\n", script, je.line, je.text);
        return 1;
    }
    S.turns = json_is_object(doc) ? json_incref(json_object_get(doc, "turns")) : json_incref(doc);
    json_decref(doc);
    if (!json_is_array(S.turns)) {
        fprintf(stderr, "fakellm: the script must be an array of turns or {\"turns\": [...]}\n");
        return 1;
    }
    for (size_t i = 0; i < json_array_size(S.turns); i++)
        if (!json_is_object(json_array_get(S.turns, i))) {
            fprintf(stderr, "fakellm: turn %zu is not an object\n", i);
            return 1;
        }
    S.used = xcalloc(json_array_size(S.turns) + 1, sizeof *S.used);
    if (log && !(S.log = fopen(log, "a"))) {
        fprintf(stderr, "fakellm: %s: %s\n", log, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(http, on_request, NULL);
    struct evhttp_bound_socket *sock = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!sock) {
        fprintf(stderr, "fakellm: cannot listen on 127.0.0.1\n");
        return 1;
    }
    /* Before the URL is written: a test may stop fakellm as soon as it has read it. */
    struct event *term = evsignal_new(base, SIGTERM, on_signal, NULL);
    struct event *intr = evsignal_new(base, SIGINT, on_signal, NULL);
    event_add(term, NULL);
    event_add(intr, NULL);
    struct sockaddr_in sa;
    socklen_t salen = sizeof sa;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&sa, &salen);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", url_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "http://127.0.0.1:%d/v1\n", ntohs(sa.sin_port)) < 0 || fclose(f) != 0 ||
        rename(tmp, url_file) != 0) {
        fprintf(stderr, "fakellm: cannot write %s: %s\n", url_file, strerror(errno));
        return 1;
    }
    event_base_dispatch(base);
    event_free(term);
    event_free(intr);
    evhttp_free(http);
    event_base_free(base);
    if (S.log)
        fclose(S.log);
    free(S.used);
    json_decref(S.turns);
    return 0;
}
