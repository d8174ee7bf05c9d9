/* internal.h - shared structures of the http module (not for use outside src/http/). */
#ifndef BERTH_HTTP_INTERNAL_H
#define BERTH_HTTP_INTERNAL_H

#include "base/buf.h"
#include "http/http.h"

#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdatomic.h>

struct http_kv {
    char *name;
    char *value;
};

/* A captured path parameter: both strings are borrowed (route pattern, request's split path). */
struct http_param {
    const char *name;
    const char *value;
};

struct http_route {
    unsigned methods;
    char **segments;    /* pattern split on '/'; "{x}" captures */
    char **param_names; /* for each segment, the capture's name or NULL */
    size_t nsegments;
    unsigned flags;
    size_t max_body;
    http_handler_fn fn;
    void *arg;
};

struct http_loop {
    struct http_server *srv;
    int index;
    struct event_base *base;
    struct evhttp *evh;
    pthread_t thread;
    struct event *wake; /* drains the outbox */
    pthread_mutex_t lock;
    struct http_request *outbox_req;   /* replies ready to send */
    struct http_stream *outbox_stream; /* streams with work to do */
};

#define HTTP_MAX_PARAMS 8

struct http_request {
    struct http_loop *loop;
    struct evhttp_request *ev;
    const struct http_route *route;
    enum http_method method;
    char *path;
    struct http_kv *query;
    size_t nquery;
    struct http_kv *headers; /* copied only when a worker runs the handler */
    size_t nheaders;
    bool headers_copied;
    char *split; /* the path split in place into segments (NUL-separated) */
    struct http_param params[HTTP_MAX_PARAMS];
    size_t nparams;
    char *body;
    size_t body_len;
    char peer[64];
    void *data;
    void (*data_free)(void *);
    /* the reply */
    int status;
    char *content_type;
    struct http_kv *resp_headers;
    size_t nresp_headers;
    char *resp_body;
    size_t resp_len;
    struct http_request *next; /* outbox or worker queue */
    http_handler_fn defer_fn;  /* set by http_request_defer: run instead of the route's */
    void *defer_arg;
};

struct http_stream {
    struct http_request *req;
    struct http_loop *loop;
    pthread_mutex_t lock;
    atomic_int refs; /* the caller's handle, the loop's, and one while queued in the outbox */
    int status;
    char *content_type;
    struct buf pending;
    bool started, end_requested, ended, closed;
    bool queued;
    http_stream_close_fn on_close;
    void *on_close_arg;
    http_stream_close_fn on_wake;
    void *on_wake_arg;
    http_stream_close_fn on_free;
    void *on_free_arg;
    bool wake_pending;
    struct event *heartbeat_ev;
    int64_t heartbeat_ms;
    char *heartbeat;
    struct http_stream *next; /* outbox */
};

struct http_workers;

struct http_server {
    struct http_config cfg;
    char *listen; /* owned copy of cfg.listen */
    struct http_route *routes;
    size_t nroutes;
    struct http_loop *loops;
    int nloops;
    int fd;
    char addr[80];
    struct http_workers *workers;
    bool started;
};

/* router.c */
/* Finds the route for method+path, capturing params into r. 0 found; 404 or 405 otherwise. */
int http_router_match(struct http_server *s, struct http_request *r);
void http_route_free(struct http_route *rt);

/* request.c */
struct http_request *http_request_new(struct http_loop *loop, struct evhttp_request *ev);
/* Copies what a worker thread needs from evhttp (the headers). Loop thread. */
void http_request_detach(struct http_request *r);
void http_request_free(struct http_request *r);
/* Sends the reply stored in r on its loop thread and frees r. */
void http_request_send_now(struct http_request *r);
bool http_on_loop(const struct http_loop *loop);

/* stream.c */
/* Runs pending stream work on the loop thread. */
void http_stream_run(struct http_stream *s);

/* loop.c */
void http_loop_post_request(struct http_loop *loop, struct http_request *r);
void http_loop_post_stream(struct http_loop *loop, struct http_stream *s);

/* workers.c */
struct http_workers *http_workers_new(int n);
void http_workers_submit(struct http_workers *w, struct http_request *r);
/* As http_workers_submit, but -1 without replying when the pool is stopping. */
int http_workers_try_submit(struct http_workers *w, struct http_request *r);
void http_workers_stop(struct http_workers *w);
void http_workers_free(struct http_workers *w);

#endif
