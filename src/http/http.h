/* http.h - berth's HTTP server over libevent's evhttp.
 *
 * Threads: N event-loop threads (each its own event_base and evhttp, all accepting on one
 * listening socket) and a pool of worker threads. A route's handler runs either inline on the
 * loop (fast handlers: a few store reads and some JSON) or, with HTTP_ROUTE_WORKER, on a worker
 * (anything that may wait: password hashing, archive parsing, waits for builds). A loop never
 * blocks. Replies may be sent from any thread; they are handed to the request's loop.
 *
 * Limits: header bytes, body bytes (per route, default 1 MiB; oversized bodies get 413), and a
 * read/write time-out per connection.
 *
 * Ownership: a `struct http_request` belongs to the server; a handler borrows it until it sends
 * exactly one reply (http_reply*) or starts a stream. After that the handler must not touch it.
 * Strings returned by accessors are borrowed from the request.
 */
#ifndef BERTH_HTTP_HTTP_H
#define BERTH_HTTP_HTTP_H

#include "base/err.h"
#include "base/jw.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_server;
struct http_request;
struct http_stream;

enum http_method {
    HTTP_GET = 1 << 0,
    HTTP_POST = 1 << 1,
    HTTP_PUT = 1 << 2,
    HTTP_PATCH = 1 << 3,
    HTTP_DELETE = 1 << 4,
    HTTP_HEAD = 1 << 5,
    HTTP_OPTIONS = 1 << 6,
};

enum http_route_flags {
    HTTP_ROUTE_INLINE = 0,
    HTTP_ROUTE_WORKER = 1 << 0, /* the handler may block: run it on a worker thread */
};

typedef void (*http_handler_fn)(struct http_request *req, void *arg);

struct http_config {
    const char *listen;  /* "host:port"; port 0 picks a free port */
    int loops;           /* event loop threads (default 1) */
    int workers;         /* worker threads (default 16) */
    size_t max_body;     /* default per-route body limit (default 1 MiB) */
    size_t max_upload;   /* the largest body any route accepts (default 64 MiB) */
    size_t max_headers;  /* header bytes (default 32 KiB) */
    int timeout_seconds; /* read/write time-out (default 60) */
};

/* Creates a server (not yet listening). NULL with e filled on bad configuration. */
struct http_server *http_server_new(const struct http_config *cfg, struct err *e);
/* Adds a route. pattern: "/api/v2/templates/{id}/versions" ({name} matches one segment).
 * methods: a mask of enum http_method. max_body 0 = the server default. Call before start. */
void http_server_route(struct http_server *s, unsigned methods, const char *pattern, unsigned flags,
                       size_t max_body, http_handler_fn fn, void *arg);
/* Binds, then starts the loop and worker threads. 0, or -1 with e filled. */
int http_server_start(struct http_server *s, struct err *e);
/* The bound address "host:port" (valid after start). */
const char *http_server_addr(const struct http_server *s);
/* Stops accepting, finishes the workers, closes connections and joins every thread. */
void http_server_stop(struct http_server *s);
/* Frees a stopped (or never started) server. */
void http_server_free(struct http_server *s);

/* ---- request ---- */
enum http_method http_request_method(const struct http_request *r);
/* The decoded path, without the query. */
const char *http_request_path(const struct http_request *r);
/* A path parameter captured by {name} in the route, or NULL. */
const char *http_request_param(const struct http_request *r, const char *name);
/* A decoded query parameter, or NULL when absent ("" when present without a value). */
const char *http_request_query(const struct http_request *r, const char *name);
/* A request header (case-insensitive name), or NULL. */
const char *http_request_header(const struct http_request *r, const char *name);
/* The body (NUL-terminated for convenience) and its length. Never NULL. */
const char *http_request_body(const struct http_request *r, size_t *len);
/* The client's address ("127.0.0.1"). */
const char *http_request_peer(const struct http_request *r);
/* Attaches handler data (e.g. the authenticated subject) released with free_fn when the request
 * ends. */
void http_request_set_data(struct http_request *r, void *data, void (*free_fn)(void *));
void *http_request_data(const struct http_request *r);

/* From an inline handler (on the loop thread): hands the request to a worker thread, which
 * calls fn(r, arg); for handlers that learn only from the request itself whether they will
 * block. 0 when queued (the request now belongs to fn); -1 when the server is stopping (nothing
 * was sent: the caller still owns the request and must reply). */
int http_request_defer(struct http_request *r, http_handler_fn fn, void *arg);

/* ---- replies (exactly one per request, from any thread) ---- */
/* Adds a response header; call before the reply. */
void http_reply_header(struct http_request *r, const char *name, const char *value);
void http_reply(struct http_request *r, int status, const char *content_type, const void *body,
                size_t len);
/* Replies with body serialized compactly; takes the reference to body (may be NULL: no body). */
void http_reply_json(struct http_request *r, int status, json_t *body);
/* Replies with the writer's JSON (taken; the writer is reset). */
void http_reply_jw(struct http_request *r, int status, struct jw *w);
/* Replies {"message", "detail"?, "validations"?} with the error's status. */
void http_reply_error(struct http_request *r, const struct err *e);
/* Replies with a new error of the given kind and message. */
void http_reply_errorf(struct http_request *r, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- streams (chunked responses: SSE) ---- */
typedef void (*http_stream_close_fn)(void *arg);

/* Starts a chunked response with the given status and content type; the request now belongs
 * to the stream. heartbeat_ms > 0 sends heartbeat (bytes, copied) that often while the stream
 * is open (an SSE comment or ping event). Any thread. Never NULL. */
struct http_stream *http_stream_start(struct http_request *r, int status, const char *content_type,
                                      int64_t heartbeat_ms, const char *heartbeat);
/* Sets the function called (on the loop thread) when the client goes away before the stream
 * ended. Set it right after start. */
void http_stream_on_close(struct http_stream *s, http_stream_close_fn fn, void *arg);
/* Queues bytes for the client; any thread. -1 when the stream is closed or its backlog is over
 * the cap (the stream is then closed). */
int http_stream_send(struct http_stream *s, const void *data, size_t len);
/* Sends one SSE event: "event: <event>\ndata: <data>\n\n" (data may hold newlines). */
int http_stream_sse(struct http_stream *s, const char *event, const char *data);
/* Sets the function called once when the stream is freed: after the caller's http_stream_end
 * and the loop's last use of it, so no on_close or on_wake call is running or will run (the
 * place to free what those callbacks use). Runs on whichever thread let go last. Set it right
 * after start. */
void http_stream_on_free(struct http_stream *s, http_stream_close_fn fn, void *arg);
/* Sets a function to run on the stream's loop thread after http_stream_wake; set right after
 * start. The function may send and may end the stream. */
void http_stream_on_wake(struct http_stream *s, http_stream_close_fn fn, void *arg);
/* Schedules the wake function (coalesced); any thread, including pubsub callbacks. */
void http_stream_wake(struct http_stream *s);
/* True once the client went away or the stream was ended. */
bool http_stream_closed(struct http_stream *s);
/* Ends the response (after queued bytes) and releases the caller's handle; any thread. */
void http_stream_end(struct http_stream *s);

/* ---- helpers ---- */
/* "GET", "POST", ... for a single method bit. */
const char *http_method_name(enum http_method m);
/* The standard reason phrase for a status. */
const char *http_status_text(int status);

#endif
