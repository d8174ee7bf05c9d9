/* mcp.c - MCP tools/call round trips over both transports beside the REST tool endpoint, and
 * the sessions per second the Streamable HTTP endpoint sustains.
 *
 * usage: bench_mcp URL TOKEN BERTH_BIN [calls] [seconds]
 *
 * With one chat of the token's user (created here, no workspace: list_templates needs none):
 *   1. `calls` sequential list_templates calls, each way, after WARMUP calls:
 *      - REST: POST /api/experimental/chats/{id}/tools/list_templates (keep-alive connection);
 *      - MCP over HTTP, in a session bound to the chat (Berth-Chat-Id), answered as an SSE
 *        stream (Accept: application/json, text/event-stream: what the SDK clients send), and
 *        again answered as JSON (Accept: application/json);
 *      - MCP over stdio: `berth mcp --chat ID` on pipes, one line out, one line back (the bridge
 *        relays each message to the HTTP endpoint).
 *   2. sessions: for `seconds`, 1 and then 4 clients each opening sessions back to back, each
 *      session being initialize, notifications/initialized, one list_templates call and DELETE
 *      (a new connection per session, like a client that starts afresh); once bound to the chat
 *      (Berth-Chat-Id), once without (each session's call then creates its chat). Beside them,
 *      the same clients calling the REST tool endpoint (one request per round, keep-alive).
 * Figures only, never pass/fail.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "samples.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define MCP_PATH "/api/experimental/mcp"
#define WARMUP   50
#define VERSION  "2025-11-25"
#define INIT                                                                                       \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"     \
    "\"" VERSION "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench\",\"version\":\"1\"}}}"
#define INITIALIZED "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"
#define CALL_FMT                                                                                   \
    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":{\"name\":"               \
    "\"list_templates\",\"arguments\":{}}}"
#define MAX_CLIENTS 8

struct opts {
    const char *url, *token, *berth;
    int calls, seconds;
    char chat[40];
};

/* ---- HTTP over one libcurl handle ---- */

struct http {
    CURL *curl;
    struct buf body, headers;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

static void http_init(struct http *h)
{
    h->curl = curl_easy_init();
    buf_init(&h->body, 0);
    buf_init(&h->headers, 0);
}

static void http_free(struct http *h)
{
    curl_easy_cleanup(h->curl);
    buf_free(&h->body);
    buf_free(&h->headers);
}

/* One request; extra: header lines (NULL-terminated). Returns the status, 0 on no answer. */
static long http_do(struct http *h, const struct opts *o, const char *method, const char *path,
                    const char *const *extra, const char *body)
{
    buf_reset(&h->body);
    buf_reset(&h->headers);
    char *url = str_printf("%s%s", o->url, path);
    char *auth = str_printf("Authorization: Bearer %s", o->token);
    struct curl_slist *hl = curl_slist_append(NULL, auth);
    hl = curl_slist_append(hl, "Content-Type: application/json");
    for (size_t i = 0; extra && extra[i]; i++)
        hl = curl_slist_append(hl, extra[i]);
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->body);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &h->headers);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    if (body)
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    long status = 0;
    if (curl_easy_perform(h->curl) == CURLE_OK)
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    free(auth);
    free(url);
    return status;
}

/* The value of a response header (copied into out), or false. */
static bool header_value(const struct http *h, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    const char *p = buf_str(&h->headers);
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = (size_t)(p + len - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (vlen >= cap)
                return false;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return true;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return false;
}

/* Whether a tools/call answer (a JSON body, or the last data line of an SSE body) is a result
 * with isError false. */
static bool call_ok(const char *body)
{
    const char *json = body;
    const char *data = strstr(body, "data: ");
    if (data) {
        const char *next;
        while ((next = strstr(data + 6, "\ndata: ")))
            data = next + 1;
        json = data + 6;
    }
    json_t *v = json_loads(json, JSON_DISABLE_EOF_CHECK, NULL);
    bool ok = v && json_is_false(json_object_get(json_object_get(v, "result"), "isError"));
    json_decref(v);
    return ok;
}

/* A failed request, on stderr: the first few only (a server that went away would fail every
 * request of the run), then a note that the rest are counted, not shown. */
#define TELL_MAX 10
static atomic_int told;

__attribute__((format(printf, 1, 2))) static void tell(const char *fmt, ...)
{
    int n = atomic_fetch_add(&told, 1);
    if (n > TELL_MAX)
        return;
    if (n == TELL_MAX) {
        fputs("(further failures are counted, not shown)\n", stderr);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* An MCP session over HTTP: initialize (bound to the chat when chat is non-NULL) and
 * notifications/initialized; the session id in sid (64 bytes). */
static int mcp_open(struct http *h, const struct opts *o, const char *chat, char *sid)
{
    char chat_h[80];
    const char *extra[] = {"Accept: application/json, text/event-stream", NULL, NULL};
    if (chat) {
        str_fmt(chat_h, sizeof chat_h, "Berth-Chat-Id: %s", chat);
        extra[1] = chat_h;
    }
    long st = http_do(h, o, "POST", MCP_PATH, extra, INIT);
    if (st != 200 || !header_value(h, "Mcp-Session-Id", sid, 64)) {
        tell("initialize: %ld %s\n", st, buf_str(&h->body));
        return -1;
    }
    char sh[96];
    str_fmt(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
    const char *more[] = {sh, "MCP-Protocol-Version: " VERSION,
                          "Accept: application/json, text/event-stream", NULL};
    st = http_do(h, o, "POST", MCP_PATH, more, INITIALIZED);
    if (st != 202) {
        tell("notifications/initialized: %ld %s\n", st, buf_str(&h->body));
        return -1;
    }
    return 0;
}

static int mcp_call(struct http *h, const struct opts *o, const char *sid, const char *accept,
                    int id)
{
    char sh[96], body[256];
    str_fmt(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
    str_fmt(body, sizeof body, CALL_FMT, id);
    const char *extra[] = {sh, "MCP-Protocol-Version: " VERSION, accept, NULL};
    long st = http_do(h, o, "POST", MCP_PATH, extra, body);
    if (st != 200 || !call_ok(buf_str(&h->body))) {
        tell("tools/call: %ld %s\n", st, buf_str(&h->body));
        return -1;
    }
    return 0;
}

static int mcp_close(struct http *h, const struct opts *o, const char *sid)
{
    char sh[96];
    str_fmt(sh, sizeof sh, "Mcp-Session-Id: %s", sid);
    const char *extra[] = {sh, "MCP-Protocol-Version: " VERSION, NULL};
    long st = http_do(h, o, "DELETE", MCP_PATH, extra, NULL);
    if (st != 200) {
        tell("DELETE: %ld %s\n", st, buf_str(&h->body));
        return -1;
    }
    return 0;
}

static int rest_call(struct http *h, const struct opts *o)
{
    char path[128];
    str_fmt(path, sizeof path, "/api/experimental/chats/%s/tools/list_templates", o->chat);
    long st = http_do(h, o, "POST", path, NULL, "{}");
    json_t *v = st == 200 ? json_loads(buf_str(&h->body), 0, NULL) : NULL;
    bool ok = v && json_is_false(json_object_get(v, "is_error"));
    json_decref(v);
    if (!ok) {
        tell("REST list_templates: %ld %s\n", st, buf_str(&h->body));
        return -1;
    }
    return 0;
}

/* ---- `berth mcp` on pipes ---- */

struct stdio_mcp {
    pid_t pid;
    int in, out;
    struct buf pending;
};

static int stdio_start(struct stdio_mcp *p, const struct opts *o)
{
    int to[2], from[2];
    if (pipe(to) != 0 || pipe(from) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(to[0], 0);
        dup2(from[1], 1);
        close(to[0]);
        close(to[1]);
        close(from[0]);
        close(from[1]);
        setenv("BERTH_URL", o->url, 1);
        setenv("BERTH_SESSION_TOKEN", o->token, 1);
        execl(o->berth, o->berth, "mcp", "--chat", o->chat, (char *)NULL);
        _exit(127);
    }
    close(to[0]);
    close(from[1]);
    p->pid = pid;
    p->in = to[1];
    p->out = from[0];
    buf_init(&p->pending, 0);
    return 0;
}

/* Writes one line and reads lines until the response with "id":id; its text in out. */
static int stdio_roundtrip(struct stdio_mcp *p, const char *line, int id, struct buf *out)
{
    size_t len = strlen(line);
    char *msg = str_printf("%s\n", line);
    size_t off = 0;
    while (off < len + 1) {
        ssize_t n = write(p->in, msg + off, len + 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(msg);
            return -1;
        }
        off += (size_t)n;
    }
    free(msg);
    char want[32];
    str_fmt(want, sizeof want, "\"id\":%d", id);
    for (;;) {
        const char *s = buf_str(&p->pending);
        const char *nl = strchr(s, '\n');
        if (nl) {
            size_t llen = (size_t)(nl - s);
            buf_reset(out);
            buf_append(out, s, llen);
            buf_consume(&p->pending, llen + 1);
            if (strstr(buf_str(out), want))
                return 0;
            continue; /* something else (a notification) */
        }
        struct pollfd pf = {.fd = p->out, .events = POLLIN};
        if (poll(&pf, 1, 60000) <= 0)
            return -1;
        char chunk[65536];
        ssize_t n = read(p->out, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf_append(&p->pending, chunk, (size_t)n);
    }
}

static void stdio_stop(struct stdio_mcp *p)
{
    close(p->in);
    int status;
    waitpid(p->pid, &status, 0);
    close(p->out);
    buf_free(&p->pending);
}

/* ---- 1: round trips ---- */

static int bench_latency(struct opts *o)
{
    struct samples rest = {0}, sse = {0}, json = {0}, pipe_s = {0};
    struct http h;
    http_init(&h);
    int rc = -1;
    char sid[64];
    for (int i = 0; i < WARMUP + o->calls; i++) {
        int64_t t0 = time_mono_us();
        if (rest_call(&h, o) < 0)
            goto out;
        if (i >= WARMUP)
            samples_add(&rest, time_mono_us() - t0);
    }
    if (mcp_open(&h, o, o->chat, sid) < 0)
        goto out;
    const char *accepts[] = {"Accept: application/json, text/event-stream",
                             "Accept: application/json"};
    struct samples *into[] = {&sse, &json};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < WARMUP + o->calls; i++) {
            int64_t t0 = time_mono_us();
            if (mcp_call(&h, o, sid, accepts[k], i + 1) < 0)
                goto out;
            if (i >= WARMUP)
                samples_add(into[k], time_mono_us() - t0);
        }
    if (mcp_close(&h, o, sid) < 0)
        goto out;

    struct stdio_mcp p;
    if (stdio_start(&p, o) < 0)
        goto out;
    struct buf line;
    buf_init(&line, 0);
    bool ok = stdio_roundtrip(&p, INIT, 0, &line) == 0 && strstr(buf_str(&line), "\"result\"");
    if (ok) {
        /* A notification has no answer: write it alone. */
        ok = write(p.in, INITIALIZED "\n", strlen(INITIALIZED) + 1) ==
             (ssize_t)strlen(INITIALIZED) + 1;
    }
    for (int i = 0; ok && i < WARMUP + o->calls; i++) {
        char msg[256];
        str_fmt(msg, sizeof msg, CALL_FMT, i + 1);
        int64_t t0 = time_mono_us();
        if (stdio_roundtrip(&p, msg, i + 1, &line) < 0 || !call_ok(buf_str(&line))) {
            tell("stdio tools/call: %s\n", buf_str(&line));
            ok = false;
            break;
        }
        if (i >= WARMUP)
            samples_add(&pipe_s, time_mono_us() - t0);
    }
    stdio_stop(&p);
    buf_free(&line);
    if (!ok)
        goto out;

    printf("tools/call list_templates round trip, %d sequential calls each (after %d warm-up)\n",
           o->calls, WARMUP);
    samples_print("REST POST .../tools/list_templates", &rest);
    samples_print("MCP HTTP, SSE answer (as SDK clients ask)", &sse);
    samples_print("MCP HTTP, JSON answer", &json);
    samples_print("MCP stdio (berth mcp, relayed over HTTP)", &pipe_s);
    double r50 = samples_ms(&rest, 0.5), r99 = samples_ms(&rest, 0.99);
    printf("  p50 vs REST: HTTP SSE %.2fx, HTTP JSON %.2fx, stdio %.2fx\n",
           samples_ms(&sse, 0.5) / r50, samples_ms(&json, 0.5) / r50,
           samples_ms(&pipe_s, 0.5) / r50);
    printf("  p99 vs REST: HTTP SSE %.2fx, HTTP JSON %.2fx, stdio %.2fx\n",
           samples_ms(&sse, 0.99) / r99, samples_ms(&json, 0.99) / r99,
           samples_ms(&pipe_s, 0.99) / r99);
    rc = 0;
out:
    http_free(&h);
    free(rest.v);
    free(sse.v);
    free(json.v);
    free(pipe_s.v);
    return rc;
}

/* ---- 2: sessions per second ---- */

enum round_kind { ROUND_SESSION_CHAT, ROUND_SESSION_NEW_CHAT, ROUND_REST };

struct worker {
    struct opts *o;
    enum round_kind kind;
    int64_t until_us;
    pthread_t thread;
    struct samples lat;
    int done, failed;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct http h;
    http_init(&h);
    while (time_mono_us() < w->until_us) {
        int64_t t0 = time_mono_us();
        int rc;
        if (w->kind == ROUND_REST) {
            rc = rest_call(&h, w->o);
        } else {
            /* A new connection per session. */
            curl_easy_setopt(h.curl, CURLOPT_FRESH_CONNECT, 1L);
            char sid[64];
            rc = mcp_open(&h, w->o, w->kind == ROUND_SESSION_CHAT ? w->o->chat : NULL, sid);
            curl_easy_setopt(h.curl, CURLOPT_FRESH_CONNECT, 0L);
            if (rc == 0)
                rc = mcp_call(&h, w->o, sid, "Accept: application/json, text/event-stream", 1);
            if (rc == 0)
                rc = mcp_close(&h, w->o, sid);
        }
        if (rc == 0) {
            w->done++;
            samples_add(&w->lat, time_mono_us() - t0);
        } else {
            w->failed++;
        }
    }
    http_free(&h);
    return NULL;
}

/* Runs n workers of kind for the configured time; returns the rounds per second. */
static double run_workers(struct opts *o, enum round_kind kind, int n, struct samples *lat,
                          int *failed)
{
    struct worker w[MAX_CLIENTS];
    memset(w, 0, sizeof w);
    int64_t t0 = time_mono_us();
    int64_t until = t0 + (int64_t)o->seconds * 1000000;
    for (int i = 0; i < n; i++) {
        w[i] = (struct worker){.o = o, .kind = kind, .until_us = until};
        pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
    }
    int done = 0;
    *failed = 0;
    for (int i = 0; i < n; i++) {
        pthread_join(w[i].thread, NULL);
        done += w[i].done;
        *failed += w[i].failed;
        for (size_t k = 0; k < w[i].lat.n; k++)
            samples_add(lat, w[i].lat.v[k]);
        free(w[i].lat.v);
    }
    double secs = (double)(time_mono_us() - t0) / 1e6;
    return done / secs;
}

static void bench_sessions(struct opts *o)
{
    printf("MCP HTTP sessions (initialize + initialized + one list_templates call + DELETE: four "
           "requests on a new connection each) beside REST tool calls, %d s per line\n",
           o->seconds);
    printf("  %-52s %10s %10s %10s %7s\n", "", "per second", "p50 ms", "p99 ms", "failed");
    const int counts[] = {1, 4};
    for (size_t c = 0; c < 2; c++) {
        struct {
            const char *what;
            enum round_kind kind;
        } rows[] = {
            {"REST list_templates calls (keep-alive)", ROUND_REST},
            {"sessions bound to a chat (Berth-Chat-Id)", ROUND_SESSION_CHAT},
            {"sessions each creating its chat", ROUND_SESSION_NEW_CHAT},
        };
        double base = 0;
        for (size_t r = 0; r < 3; r++) {
            struct samples lat = {0};
            int failed;
            double rate = run_workers(o, rows[r].kind, counts[c], &lat, &failed);
            samples_sort(&lat);
            char what[96];
            str_fmt(what, sizeof what, "%d client%s: %s", counts[c], counts[c] > 1 ? "s" : "",
                    rows[r].what);
            printf("  %-52s %10.0f %10.3f %10.3f %7d", what, rate, samples_ms(&lat, 0.5),
                   samples_ms(&lat, 0.99), failed);
            if (r == 0)
                base = rate;
            else if (base > 0)
                printf("  %5.1f%% of REST", 100.0 * rate / base);
            printf("\n");
            free(lat.v);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_mcp URL TOKEN BERTH_BIN [calls] [seconds]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct opts o = {.url = argv[1],
                     .token = argv[2],
                     .berth = argv[3],
                     .calls = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1000,
                     .seconds = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 5};
    if (o.calls < 1 || o.seconds < 1) {
        fprintf(stderr, "bench_mcp: calls and seconds must be positive\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct http h;
    http_init(&h);
    long st = http_do(&h, &o, "POST", "/api/experimental/chats", NULL, "{\"title\":\"bench mcp\"}");
    json_t *chat = st == 201 ? json_loads(buf_str(&h.body), 0, NULL) : NULL;
    http_free(&h);
    if (!chat) {
        fprintf(stderr, "bench_mcp: create chat: %ld\n", st);
        return 1;
    }
    str_copy(o.chat, sizeof o.chat, jsonx_get_str(chat, "id", ""));
    json_decref(chat);
    int rc = bench_latency(&o);
    if (rc == 0) {
        printf("\n");
        bench_sessions(&o);
    }
    curl_global_cleanup();
    return rc < 0 ? 1 : 0;
}
