/* server.c - listening socket, event-loop threads, dispatch to routes, and each loop's outbox
 * (replies and stream work handed over from other threads). */
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "http/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;

static void evthread_setup(void)
{
    evthread_use_pthreads();
}

struct http_server *http_server_new(const struct http_config *cfg, struct err *e)
{
    pthread_once(&evthread_once, evthread_setup);
    struct http_server *s = xcalloc(1, sizeof *s);
    s->cfg = *cfg;
    s->listen = xstrdup(cfg->listen ? cfg->listen : "127.0.0.1:7080");
    s->cfg.listen = s->listen;
    if (s->cfg.loops <= 0)
        s->cfg.loops = 1;
    if (s->cfg.loops > 64)
        s->cfg.loops = 64;
    if (s->cfg.workers <= 0)
        s->cfg.workers = 16;
    if (!s->cfg.max_body)
        s->cfg.max_body = 1024 * 1024;
    if (!s->cfg.max_upload)
        s->cfg.max_upload = 64 * 1024 * 1024;
    if (!s->cfg.max_headers)
        s->cfg.max_headers = 32 * 1024;
    if (s->cfg.timeout_seconds <= 0)
        s->cfg.timeout_seconds = 60;
    s->fd = -1;
    (void)e;
    return s;
}

const char *http_server_addr(const struct http_server *s)
{
    return s->addr;
}

/* Splits "host:port" ("[::1]:80" for IPv6). */
static int split_listen(const char *listen, char *host, size_t hsize, char *port, size_t psize)
{
    const char *colon;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':')
            return -1;
        if ((size_t)(close - listen - 1) >= hsize)
            return -1;
        memcpy(host, listen + 1, (size_t)(close - listen - 1));
        host[close - listen - 1] = '\0';
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= hsize)
            return -1;
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
    }
    return str_copy(port, psize, colon + 1) < psize && *port ? 0 : -1;
}

static int bind_socket(struct http_server *s, struct err *e)
{
    char host[256], port[16];
    if (split_listen(s->cfg.listen, host, sizeof host, port, sizeof port) < 0)
        return err_set(e, ERR_BAD_REQUEST, "invalid listen address %s (want host:port)",
                       s->cfg.listen);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(*host ? host : NULL, port, &hints, &res);
    if (rc != 0)
        return err_set(e, ERR_BAD_REQUEST, "cannot resolve listen address %s: %s", s->cfg.listen,
                       gai_strerror(rc));
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return err_set(e, ERR_INTERNAL, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* Accepted sockets inherit this: small writes (SSE events, the end of a chunked reply) go
     * out at once instead of waiting for the peer's delayed ACK. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        int err = errno;
        close(fd);
        freeaddrinfo(res);
        return err_set(e, ERR_INTERNAL, "cannot listen on %s: %s", s->cfg.listen, strerror(err));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char ip[INET6_ADDRSTRLEN] = "";
    int p = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        p = ntohs(a->sin6_port);
        snprintf(s->addr, sizeof s->addr, "[%s]:%d", ip, p);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        p = ntohs(a->sin_port);
        snprintf(s->addr, sizeof s->addr, "%s:%d", ip, p);
    }
    s->fd = fd;
    return 0;
}

/* evhttp's callback for every request. */
static void on_request(struct evhttp_request *ev, void *arg)
{
    struct http_loop *loop = arg;
    struct http_server *s = loop->srv;
    struct http_request *r = http_request_new(loop, ev);
    if (!r->method) {
        http_reply_errorf(r, ERR_METHOD, "Method not allowed.");
        return;
    }
    int m = http_router_match(s, r);
    if (m == 404) {
        http_reply_errorf(r, ERR_NOT_FOUND, "Route not found: %s %s", http_method_name(r->method),
                          r->path);
        return;
    }
    if (m == 405) {
        http_reply_errorf(r, ERR_METHOD, "Method %s is not allowed on %s.",
                          http_method_name(r->method), r->path);
        return;
    }
    if (r->body_len > r->route->max_body) {
        struct err e = ERR_INIT;
        err_set(&e, ERR_TOO_LARGE, "Request body too large.");
        err_detail(&e, "The body has %zu bytes; this endpoint accepts at most %zu.", r->body_len,
                   r->route->max_body);
        http_reply_header(r, "Connection", "close");
        http_reply_error(r, &e);
        err_clear(&e);
        return;
    }
    if (r->route->flags & HTTP_ROUTE_WORKER) {
        http_request_detach(r);
        http_workers_submit(s->workers, r);
    } else
        r->route->fn(r, r->route->arg);
}

int http_request_defer(struct http_request *r, http_handler_fn fn, void *arg)
{
    r->defer_fn = fn;
    r->defer_arg = arg;
    http_request_detach(r);
    if (http_workers_try_submit(r->loop->srv->workers, r) < 0) {
        r->defer_fn = NULL;
        r->defer_arg = NULL;
        return -1;
    }
    return 0;
}

static void drain_outbox(evutil_socket_t fd, short what, void *arg)
{
    struct http_loop *loop = arg;
    pthread_mutex_lock(&loop->lock);
    struct http_request *reqs = loop->outbox_req;
    struct http_stream *streams = loop->outbox_stream;
    loop->outbox_req = NULL;
    loop->outbox_stream = NULL;
    pthread_mutex_unlock(&loop->lock);
    /* Oldest first: the lists were built by pushing at the head. */
    struct http_request *rev = NULL;
    while (reqs) {
        struct http_request *next = reqs->next;
        reqs->next = rev;
        rev = reqs;
        reqs = next;
    }
    while (rev) {
        struct http_request *next = rev->next;
        http_request_send_now(rev);
        rev = next;
    }
    struct http_stream *srev = NULL;
    while (streams) {
        struct http_stream *next = streams->next;
        streams->next = srev;
        srev = streams;
        streams = next;
    }
    while (srev) {
        struct http_stream *next = srev->next;
        http_stream_run(srev);
        srev = next;
    }
}

void http_loop_post_request(struct http_loop *loop, struct http_request *r)
{
    pthread_mutex_lock(&loop->lock);
    r->next = loop->outbox_req;
    loop->outbox_req = r;
    pthread_mutex_unlock(&loop->lock);
    event_active(loop->wake, 0, 0);
}

void http_loop_post_stream(struct http_loop *loop, struct http_stream *st)
{
    pthread_mutex_lock(&loop->lock);
    if (!st->queued) {
        /* The outbox holds a reference until the run it queues is over: the caller's may be
         * dropped (and the loop's, by a run already under way) before that run. */
        atomic_fetch_add(&st->refs, 1);
        st->queued = true;
        st->next = loop->outbox_stream;
        loop->outbox_stream = st;
    }
    pthread_mutex_unlock(&loop->lock);
    event_active(loop->wake, 0, 0);
}

#define ACCEPT_PAUSE_MS 100

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    evconnlistener_enable(arg);
}

/* Out of descriptors: accept() would fail at once again, so stop accepting for a moment
 * (connections wait in the backlog) instead of spinning; other errors are logged. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    static _Atomic int64_t last_us;
    int64_t now = time_mono_us();
    bool say = now - last_us > 10 * 1000000LL;
    if (say)
        last_us = now;
    if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (say)
            log_warn("http", "cannot accept connections: %s; pausing %d ms at a time",
                     strerror(err), ACCEPT_PAUSE_MS);
        evconnlistener_disable(l);
        struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
        event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, on_resume, l, &tv);
    } else if (say) {
        log_warn("http", "accept failed: %s", strerror(err));
    }
}

static void *loop_main(void *arg)
{
    struct http_loop *loop = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* libevent's own messages go to berth's log, at most one a second (a failing call in a loop
 * must not fill the disk). */
static void on_libevent_log(int severity, const char *msg)
{
    static _Atomic int64_t last_us;
    int64_t now = time_mono_us();
    if (severity < EVENT_LOG_WARN || now - last_us < 1000000)
        return;
    last_us = now;
    log_write(severity == EVENT_LOG_ERR ? LOG_ERROR : LOG_WARN, "libevent", "%s", msg);
}

int http_server_start(struct http_server *s, struct err *e)
{
    event_set_log_callback(on_libevent_log);
    if (bind_socket(s, e) < 0)
        return -1;
    s->workers = http_workers_new(s->cfg.workers);
    s->nloops = s->cfg.loops;
    s->loops = xcalloc((size_t)s->nloops, sizeof *s->loops);
    for (int i = 0; i < s->nloops; i++) {
        struct http_loop *loop = &s->loops[i];
        loop->srv = s;
        loop->index = i;
        pthread_mutex_init(&loop->lock, NULL);
        /* The changelist coalesces evhttp's many enable/disable calls per request into at most
         * one epoll_ctl per descriptor and loop iteration. */
        struct event_config *ec = event_config_new();
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        loop->base = event_base_new_with_config(ec);
        event_config_free(ec);
        loop->evh = evhttp_new(loop->base);
        evhttp_set_max_body_size(loop->evh, (ev_ssize_t)s->cfg.max_upload);
        /* A body over the limit is read (and dropped) before the 413 goes out: a client still
         * sending when the connection closed would see a reset instead of the answer. The
         * request time-out bounds how long that takes. */
        evhttp_set_flags(loop->evh, EVHTTP_SERVER_LINGERING_CLOSE);
        evhttp_set_max_headers_size(loop->evh, (ev_ssize_t)s->cfg.max_headers);
        evhttp_set_timeout(loop->evh, s->cfg.timeout_seconds);
        evhttp_set_allowed_methods(loop->evh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                                  EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |
                                                  EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
        evhttp_set_gencb(loop->evh, on_request, loop);
        loop->wake = event_new(loop->base, -1, EV_PERSIST, drain_outbox, loop);
        int fd = i == 0 ? s->fd : fcntl(s->fd, F_DUPFD_CLOEXEC, 0);
        struct evhttp_bound_socket *bound =
            fd < 0 ? NULL : evhttp_accept_socket_with_handle(loop->evh, fd);
        if (!bound)
            return err_set(e, ERR_INTERNAL, "cannot accept on %s", s->addr);
        evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(bound), on_accept_error);
    }
    for (int i = 0; i < s->nloops; i++)
        pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]);
    s->started = true;
    return 0;
}

void http_server_stop(struct http_server *s)
{
    if (!s || !s->started)
        return;
    /* Workers first: their replies still need the loops. */
    http_workers_stop(s->workers);
    for (int i = 0; i < s->nloops; i++)
        event_base_loopexit(s->loops[i].base, NULL);
    for (int i = 0; i < s->nloops; i++)
        pthread_join(s->loops[i].thread, NULL);
    for (int i = 0; i < s->nloops; i++) {
        struct http_loop *loop = &s->loops[i];
        drain_outbox(-1, 0, loop);
        evhttp_free(loop->evh); /* open streams learn they are closed and end */
        drain_outbox(-1, 0, loop);
        event_free(loop->wake);
        event_base_free(loop->base);
        pthread_mutex_destroy(&loop->lock);
    }
    free(s->loops);
    s->loops = NULL;
    http_workers_free(s->workers);
    s->workers = NULL;
    s->nloops = 0;
    s->started = false;
}

void http_server_free(struct http_server *s)
{
    if (!s)
        return;
    http_server_stop(s);
    for (size_t i = 0; i < s->nroutes; i++)
        http_route_free(&s->routes[i]);
    free(s->routes);
    free(s->listen);
    free(s);
}
