/* llm_http.c - the providers' transport: one streamed POST over a libcurl easy handle, its SSE
 * events handed to a decoder, time-outs (connect, idle, total), cancellation that aborts the
 * transfer at once, and every failure turned into a message for the person and a retry hint for
 * the loop (see llm.h). */
#include "base/curlx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "chat/llm.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes of one response we read at most (keep-alive comments included): the reply's own caps
 * come first, this ends a server that streams nothing useful forever. */
#define RAW_MAX ((curl_off_t)LLM_RESPONSE_MAX * 4)

/* A libcurl handle and the socket of its connection (one: a provider talks to one host). The
 * socket is recorded so that a cancel can shut it down, which wakes libcurl at once instead of
 * at its next progress call. */
struct llm_conn {
    CURL *curl;
    pthread_mutex_t mu;
    curl_socket_t fd; /* under mu */
};

#define POOL_MAX 32 /* idle handles kept per provider */

struct xfer {
    const struct llm_http *h;
    struct llm_http_result *res;
    struct sse_parser sse;
    CURL *curl;
    long status; /* read at the first body byte */
    bool stream; /* a 2xx answer: its body goes to the parser */
    curl_off_t received;
    int64_t last_byte_us;
    bool idle;        /* the idle time-out ended it */
    bool too_large;   /* a cap ended it */
    curl_socket_t fd; /* the connection's socket, under the cancel's lock */
    char retry_after[64], retry_after_ms[64];
    char content_type[128];
};

void llm_http_result_init(struct llm_http_result *r)
{
    memset(r, 0, sizeof *r);
    buf_init(&r->errbody, LLM_ERRBODY_MAX);
    r->retry_after_ms = -1;
    r->should_retry = -1;
}

void llm_http_result_free(struct llm_http_result *r)
{
    buf_free(&r->errbody);
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- callbacks ---- */

/* A header's value when line is "name: value" (case-insensitive), copied trimmed into out. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t size)
{
    size_t klen = strlen(name);
    if (n <= klen || strncasecmp(line, name, klen) != 0 || line[klen] != ':')
        return false;
    const char *v = line + klen + 1;
    size_t vlen = n - klen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen >= size)
        vlen = size - 1;
    memcpy(out, v, vlen);
    out[vlen] = '\0';
    return true;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    char v[128];
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue, say): forget the previous one's headers. */
        x->retry_after[0] = x->retry_after_ms[0] = x->content_type[0] = '\0';
        x->res->should_retry = -1;
        x->res->request_id[0] = '\0';
    } else if (header_value(line, n, "retry-after", x->retry_after, sizeof x->retry_after) ||
               header_value(line, n, "retry-after-ms", x->retry_after_ms,
                            sizeof x->retry_after_ms)) {
    } else if (header_value(line, n, "content-type", x->content_type, sizeof x->content_type)) {
    } else if (header_value(line, n, "x-should-retry", v, sizeof v)) {
        x->res->should_retry = strcmp(v, "true") == 0 ? 1 : strcmp(v, "false") == 0 ? 0 : -1;
    } else if (header_value(line, n, "request-id", v, sizeof v) ||
               header_value(line, n, "x-request-id", v, sizeof v) ||
               header_value(line, n, "x-generation-id", v, sizeof v)) {
        str_copy(x->res->request_id, sizeof x->res->request_id, v);
    }
    x->last_byte_us = time_mono_us();
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    struct xfer *x = arg;
    size_t n = size * nmemb;
    x->last_byte_us = time_mono_us();
    if (!x->status) {
        curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
        x->stream = x->status >= 200 && x->status < 300;
        /* A JSON answer to a streamed request: a server that ignored "stream", or an error. */
        if (x->stream && strncasecmp(x->content_type, "application/json", 16) == 0) {
            x->stream = false;
            x->res->not_streamed = true;
        }
    }
    x->received += (curl_off_t)n;
    if (x->received > RAW_MAX) {
        x->too_large = true;
        return 0;
    }
    if (!x->stream) {
        /* An error body: keep its start, read the rest away. */
        size_t room = x->res->errbody.max - x->res->errbody.len;
        buf_append(&x->res->errbody, data, n < room ? n : room);
        return n;
    }
    if (sse_feed(&x->sse, data, n) < 0) {
        if (!x->res->stopped)
            x->too_large = true; /* the parser refused a line or event over LLM_EVENT_MAX */
        return 0;
    }
    return n;
}

static int on_sse_event(void *arg, const char *event, const char *data)
{
    struct xfer *x = arg;
    if (x->h->on_event(x->h->arg, event, data) != 0) {
        x->res->stopped = true;
        return -1;
    }
    return 0;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = arg;
    if (tool_cancel_is_set(x->h->cancel)) {
        x->res->canceled = true;
        return 1;
    }
    int64_t idle_ms = x->h->cfg->idle_timeout_ms;
    if (idle_ms > 0 && time_mono_us() - x->last_byte_us > idle_ms * 1000) {
        x->idle = true;
        return 1;
    }
    return 0;
}

static curl_socket_t on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct llm_conn *c = arg;
    curl_socket_t fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd != CURL_SOCKET_BAD) {
        pthread_mutex_lock(&c->mu);
        c->fd = fd;
        pthread_mutex_unlock(&c->mu);
    }
    return fd;
}

static int on_close(void *arg, curl_socket_t fd)
{
    struct llm_conn *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->fd == fd)
        c->fd = CURL_SOCKET_BAD;
    pthread_mutex_unlock(&c->mu);
    return close(fd);
}

/* tool_cancel_trigger's wake-up, called under the cancel's lock. */
static void wake(void *arg)
{
    struct llm_conn *c = arg;
    pthread_mutex_lock(&c->mu);
    if (c->fd != CURL_SOCKET_BAD)
        shutdown(c->fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->mu);
}

/* ---- handles ---- */

void llm_pool_init(struct llm_pool *p)
{
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
}

static void conn_free(struct llm_conn *c)
{
    curl_easy_cleanup(c->curl); /* closes its connection through on_close */
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void llm_pool_free(struct llm_pool *p)
{
    for (size_t i = 0; i < p->nidle; i++)
        conn_free(p->idle[i]);
    free(p->idle);
    pthread_mutex_destroy(&p->mu);
}

/* An idle handle of the pool (reset, its connection kept) or a new one; NULL when libcurl
 * cannot make one. */
static struct llm_conn *conn_get(struct llm_pool *p)
{
    struct llm_conn *c = NULL;
    if (p) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle)
            c = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->mu);
    }
    if (c) {
        curl_easy_reset(c->curl);
    } else {
        CURL *curl = curl_easy_init();
        if (!curl)
            return NULL;
        c = xcalloc(1, sizeof *c);
        c->curl = curl;
        c->fd = CURL_SOCKET_BAD;
        pthread_mutex_init(&c->mu, NULL);
    }
    /* Set at once and kept after the transfer: libcurl may close the connection later. */
    curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETFUNCTION, on_open);
    curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_CLOSESOCKETFUNCTION, on_close);
    curl_easy_setopt(c->curl, CURLOPT_CLOSESOCKETDATA, c);
    return c;
}

static void conn_put(struct llm_pool *p, struct llm_conn *c)
{
    if (p) {
        pthread_mutex_lock(&p->mu);
        if (p->nidle < POOL_MAX) {
            if (!p->idle)
                p->idle = xcalloc(POOL_MAX, sizeof *p->idle);
            p->idle[p->nidle++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (c)
        conn_free(c);
}

/* ---- the request ---- */

int llm_http_post(const struct llm_http *h, struct llm_http_result *res, struct err *e)
{
    pthread_once(&global_once, global_init);
    struct xfer x;
    memset(&x, 0, sizeof x);
    x.h = h;
    x.res = res;
    x.last_byte_us = time_mono_us();
    struct llm_conn *conn = conn_get(h->pool);
    if (!conn)
        return err_set(e, ERR_INTERNAL, "cannot start an HTTP request (libcurl)");
    sse_init(&x.sse, on_sse_event, &x);
    CURL *curl = x.curl = conn->curl;
    struct curl_slist *hl = NULL;
    for (const char *const *p = h->headers; *p; p++)
        hl = curl_slist_append(hl, *p);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip for large bodies */
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, h->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, h->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)h->len);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "berth/" BERTH_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg->connect_timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)h->cfg->total_timeout_ms);
    /* CURLOPT_VERBOSE stays off: it would print the key's header. */

    CURLcode rc = CURLE_ABORTED_BY_CALLBACK;
    if (tool_cancel_arm(h->cancel, wake, conn))
        rc = curl_easy_perform(curl);
    tool_cancel_disarm(h->cancel);
    if (tool_cancel_is_set(h->cancel))
        res->canceled = true;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
    res->retry_after_ms = llm_retry_after(x.retry_after_ms, x.retry_after, (int64_t)time(NULL));
    if (res->canceled || res->stopped) {
        /* the caller knows why */
    } else if (rc == CURLE_OK) {
        res->clean_eof = true;
    } else {
        res->transport_failed = true;
        res->timed_out = x.idle || rc == CURLE_OPERATION_TIMEDOUT;
        int64_t idle = h->cfg->idle_timeout_ms;
        if (x.idle && idle % 1000 == 0)
            str_fmt(res->transport_error, sizeof res->transport_error, "no data for %lld s",
                    (long long)(idle / 1000));
        else if (x.idle)
            str_fmt(res->transport_error, sizeof res->transport_error, "no data for %lld ms",
                    (long long)idle);
        else if (x.too_large)
            str_fmt(res->transport_error, sizeof res->transport_error,
                    "the response went over berth's size limits");
        else
            str_fmt(res->transport_error, sizeof res->transport_error, "%s",
                    errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    /* Nothing of this request may outlive it in the handle. */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    for (struct curl_slist *l = hl; l; l = l->next)
        sodium_memzero(l->data, strlen(l->data)); /* one of them holds the key */
    curl_slist_free_all(hl);
    conn_put(h->pool, conn);
    sse_free(&x.sse);
    return 0;
}

/* ---- one streamed call ---- */

struct call {
    struct llm_decoder dec;
    bool anthropic;
    struct err err; /* the decoder's failure */
    bool failed;
};

static int decode_event(void *arg, const char *event, const char *data)
{
    struct call *c = arg;
    int rc = c->anthropic ? llm_anthropic_event(&c->dec, event, data, &c->err)
                          : llm_openai_event(&c->dec, event, data, &c->err);
    if (rc < 0)
        c->failed = true;
    return rc < 0 ? -1 : 0;
}

/* Sets e to the redacted message (printf format). Returns -1. */
static int fail_with(struct err *e, enum err_kind kind, const char *api_key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_with(struct err *e, enum err_kind kind, const char *api_key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    char *clean = llm_redact(msg, api_key);
    err_set(e, kind, "%s", clean);
    free(msg);
    free(clean);
    return -1;
}

int llm_stream_call(const struct llm_config *cfg, struct llm_pool *pool, const char *url,
                    const char *const *headers, const char *body, bool anthropic,
                    const struct llm_sink *sink, struct tool_cancel *cancel, struct llm_reply *out,
                    struct llm_failure *fail, struct err *e)
{
    memset(fail, 0, sizeof *fail);
    fail->retry_after_ms = -1;
    struct call c;
    memset(&c, 0, sizeof c);
    c.anthropic = anthropic;
    llm_decoder_init(&c.dec, out, sink);
    struct llm_http h = {
        .url = url,
        .headers = headers,
        .body = body,
        .len = strlen(body),
        .cfg = cfg,
        .cancel = cancel,
        .pool = pool,
        .on_event = decode_event,
        .arg = &c,
    };
    struct llm_http_result res;
    llm_http_result_init(&res);
    int rc = llm_http_post(&h, &res, e);
    if (rc < 0)
        goto out;
    fail->status = (int)res.status;
    fail->retry_after_ms = res.retry_after_ms;
    llm_decoder_end(&c.dec, anthropic, res.clean_eof && !c.failed);
    fail->delivered = c.dec.delivered;
    bool ok_status = res.status >= 200 && res.status < 300;
    if (res.canceled) {
        rc = err_set(e, ERR_CANCELED, "the LLM request was canceled");
    } else if (res.status && !ok_status) {
        char *msg = llm_error_message(buf_str(&res.errbody), res.errbody.len, cfg->api_key);
        rc = fail_with(e, ERR_UNAVAILABLE, cfg->api_key, "the LLM provider answered HTTP %ld%s%s",
                       res.status, *msg ? ": " : "", msg);
        free(msg);
        fail->retryable =
            res.should_retry == 1 ||
            (res.should_retry != 0 &&
             llm_status_retryable(res.status, buf_str(&res.errbody), res.errbody.len));
    } else if (res.not_streamed) {
        char *msg = llm_error_message(buf_str(&res.errbody), res.errbody.len, cfg->api_key);
        rc = fail_with(e, ERR_UNAVAILABLE, cfg->api_key,
                       "the LLM provider answered HTTP %ld without a stream%s%s", res.status,
                       *msg ? ": " : "", msg);
        free(msg);
    } else if (c.failed) {
        rc = fail_with(e, c.err.kind ? c.err.kind : ERR_UNAVAILABLE, cfg->api_key, "%s",
                       err_msg(&c.err));
        fail->retryable = c.dec.error && c.dec.error_retryable && !c.dec.delivered;
    } else if (res.transport_failed) {
        if (!res.status)
            rc = fail_with(e, res.timed_out ? ERR_TIMEOUT : ERR_UNAVAILABLE, cfg->api_key,
                           "cannot reach the LLM provider: %s", res.transport_error);
        else
            rc = fail_with(e, res.timed_out ? ERR_TIMEOUT : ERR_UNAVAILABLE, cfg->api_key,
                           "the LLM provider's stream broke off: %s", res.transport_error);
        fail->retryable = !c.dec.delivered;
    } else if (!out->complete) {
        rc = err_set(e, ERR_UNAVAILABLE,
                     "the LLM provider's stream ended before the reply was complete");
        fail->retryable = !c.dec.delivered;
    }
    if (rc < 0 && !res.canceled)
        log_warn("chat", "LLM request to %s failed%s%s: %s", url,
                 res.request_id[0] ? ", request id " : "", res.request_id, err_msg(e));
out:
    err_clear(&c.err);
    llm_decoder_free(&c.dec);
    llm_http_result_free(&res);
    return rc;
}
