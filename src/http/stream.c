/* stream.c - chunked responses (SSE) fed from any thread, flushed on the request's loop.
 *
 * A stream has two references: the caller's (dropped by http_stream_end) and the loop's
 * (dropped once the response has ended on the loop), and one more while it waits in its loop's
 * outbox (dropped when the run it waits for is over). Bytes queue in `pending` under the
 * stream's lock and are moved to evhttp by http_stream_run on the loop thread.
 */
#include "base/mem.h"
#include "base/str.h"
#include "http/internal.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_MAX_BACKLOG (8u * 1024 * 1024) /* bytes queued for a client that is not reading */

static void stream_release(struct http_stream *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->on_free)
        s->on_free(s->on_free_arg);
    buf_free(&s->pending);
    free(s->content_type);
    free(s->heartbeat);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

struct http_stream *http_stream_start(struct http_request *r, int status, const char *content_type,
                                      int64_t heartbeat_ms, const char *heartbeat)
{
    struct http_stream *s = xcalloc(1, sizeof *s);
    s->req = r;
    s->loop = r->loop;
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 2);
    s->status = status;
    s->content_type = xstrdup(content_type);
    buf_init(&s->pending, STREAM_MAX_BACKLOG);
    s->heartbeat_ms = heartbeat_ms;
    s->heartbeat = heartbeat_ms > 0 && heartbeat ? xstrdup(heartbeat) : NULL;
    http_loop_post_stream(s->loop, s);
    return s;
}

void http_stream_on_close(struct http_stream *s, http_stream_close_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    s->on_close = fn;
    s->on_close_arg = arg;
    pthread_mutex_unlock(&s->lock);
}

void http_stream_on_free(struct http_stream *s, http_stream_close_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    s->on_free = fn;
    s->on_free_arg = arg;
    pthread_mutex_unlock(&s->lock);
}

void http_stream_on_wake(struct http_stream *s, http_stream_close_fn fn, void *arg)
{
    pthread_mutex_lock(&s->lock);
    s->on_wake = fn;
    s->on_wake_arg = arg;
    pthread_mutex_unlock(&s->lock);
}

void http_stream_wake(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->wake_pending = true;
    pthread_mutex_unlock(&s->lock);
    http_loop_post_stream(s->loop, s);
}

int http_stream_send(struct http_stream *s, const void *data, size_t len)
{
    pthread_mutex_lock(&s->lock);
    if (s->closed || s->end_requested) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    if (buf_append(&s->pending, data, len) < 0) {
        pthread_mutex_unlock(&s->lock);
        return -1;
    }
    pthread_mutex_unlock(&s->lock);
    http_loop_post_stream(s->loop, s);
    return 0;
}

int http_stream_sse(struct http_stream *s, const char *event, const char *data)
{
    struct buf b;
    buf_init(&b, 0);
    if (event && *event)
        buf_printf(&b, "event: %s\n", event);
    const char *p = data ? data : "";
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        buf_puts(&b, "data: ");
        buf_append(&b, p, len);
        buf_putc(&b, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    buf_putc(&b, '\n');
    int r = http_stream_send(s, b.data, b.len);
    buf_free(&b);
    return r;
}

bool http_stream_closed(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    bool c = s->closed || s->end_requested;
    pthread_mutex_unlock(&s->lock);
    return c;
}

void http_stream_end(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    s->end_requested = true;
    pthread_mutex_unlock(&s->lock);
    http_loop_post_stream(s->loop, s);
    stream_release(s);
}

/* Marks the stream closed and tells its owner, once. Loop thread. */
static void stream_lost(struct http_stream *s)
{
    pthread_mutex_lock(&s->lock);
    bool notify = !s->closed && !s->end_requested;
    s->closed = true;
    http_stream_close_fn fn = s->on_close;
    void *arg = s->on_close_arg;
    pthread_mutex_unlock(&s->lock);
    if (s->heartbeat_ev) {
        event_free(s->heartbeat_ev);
        s->heartbeat_ev = NULL;
    }
    if (notify && fn)
        fn(arg);
}

static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
    struct http_stream *s = arg;
    /* A request still queued on the connection is freed with it right after this callback
     * (server shutdown); one the client abandoned was detached and stays ours to end. */
    if (s->req && s->req->ev && evhttp_request_get_connection(s->req->ev) == conn)
        s->req->ev = NULL;
    stream_lost(s);
}

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct http_stream *s = arg;
    http_stream_send(s, s->heartbeat, strlen(s->heartbeat));
}

static struct evhttp_connection *stream_conn(struct http_stream *s)
{
    return s->req && s->req->ev ? evhttp_request_get_connection(s->req->ev) : NULL;
}

static void stream_begin(struct http_stream *s)
{
    struct evhttp_request *ev = s->req->ev;
    struct evkeyvalq *out = evhttp_request_get_output_headers(ev);
    if (s->content_type)
        evhttp_add_header(out, "Content-Type", s->content_type);
    evhttp_add_header(out, "Cache-Control", "no-cache");
    evhttp_add_header(out, "X-Accel-Buffering", "no");
    for (size_t i = 0; i < s->req->nresp_headers; i++)
        evhttp_add_header(out, s->req->resp_headers[i].name, s->req->resp_headers[i].value);
    evhttp_send_reply_start(ev, s->status, http_status_text(s->status));
    s->started = true;
    struct evhttp_connection *conn = stream_conn(s);
    if (!conn) {
        stream_lost(s); /* the client left before the stream began */
        return;
    }
    evhttp_connection_set_closecb(conn, on_conn_close, s);
    if (s->heartbeat) {
        s->heartbeat_ev = event_new(s->loop->base, -1, EV_PERSIST, on_heartbeat, s);
        struct timeval tv = {(time_t)(s->heartbeat_ms / 1000),
                             (suseconds_t)(s->heartbeat_ms % 1000) * 1000};
        event_add(s->heartbeat_ev, &tv);
    }
}

/* One run's work: starts the response, delivers a wake-up, sends what is pending, and ends the
 * response when asked (dropping the loop's reference). Loop thread. */
static void stream_step(struct http_stream *s)
{
    if (!s->started)
        stream_begin(s);

    pthread_mutex_lock(&s->lock);
    bool wake = s->wake_pending && !s->end_requested && !s->closed;
    s->wake_pending = false;
    http_stream_close_fn wake_fn = s->on_wake;
    void *wake_arg = s->on_wake_arg;
    pthread_mutex_unlock(&s->lock);
    if (wake && wake_fn)
        wake_fn(wake_arg); /* may queue bytes or request the end: handled below */

    pthread_mutex_lock(&s->lock);
    struct buf data = s->pending;
    buf_init(&s->pending, STREAM_MAX_BACKLOG);
    bool end = s->end_requested;
    bool closed = s->closed;
    pthread_mutex_unlock(&s->lock);

    struct evhttp_connection *conn = stream_conn(s);
    if (!closed && conn && data.len) {
        struct evbuffer *chunk = evbuffer_new();
        evbuffer_add(chunk, data.data, data.len);
        evhttp_send_reply_chunk(s->req->ev, chunk);
        evbuffer_free(chunk);
        struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
        if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > STREAM_MAX_BACKLOG)
            stream_lost(s); /* the client is not reading: stop feeding it */
    }
    buf_free(&data);
    if (!end)
        return;

    s->ended = true;
    if (s->heartbeat_ev) {
        event_free(s->heartbeat_ev);
        s->heartbeat_ev = NULL;
    }
    conn = stream_conn(s);
    if (conn)
        evhttp_connection_set_closecb(conn, NULL, NULL);
    if (s->req->ev)
        evhttp_send_reply_end(s->req->ev); /* frees the evhttp request, even when detached */
    s->req->ev = NULL;
    http_request_free(s->req);
    s->req = NULL;
    stream_release(s); /* the loop's; the outbox's keeps s alive until the run is over */
}

void http_stream_run(struct http_stream *s)
{
    pthread_mutex_lock(&s->loop->lock);
    s->queued = false;
    pthread_mutex_unlock(&s->loop->lock);
    if (!s->ended) /* runs queued after the end have nothing left to do */
        stream_step(s);
    stream_release(s); /* the outbox's */
}
