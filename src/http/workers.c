/* workers.c - the pool of threads that run handlers which may block.
 *
 * The pool keeps `min` threads and grows whenever queued work outnumbers idle threads (up to
 * HTTP_WORKERS_MAX), so hundreds of handlers may wait at once (for a build, an agent) without
 * starving quick ones. Extra threads exit after being idle for a while and are joined later.
 */
#include "base/mem.h"
#include "base/times.h"
#include "http/internal.h"

#include <signal.h>
#include <stdlib.h>

#define HTTP_WORKERS_MAX    1024
#define HTTP_WORKER_IDLE_MS 30000
#define HTTP_WORKER_STACK   (256 * 1024)

struct worker_thread {
    pthread_t thread;
    bool done; /* exited (or exiting): join it */
    struct http_workers *pool;
    struct worker_thread *next;
};

struct http_workers {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* work arrived or stopping */
    struct http_request *head, *tail;
    size_t queued;
    bool stopping;
    int min;
    int alive;
    int idle;
    struct worker_thread *threads;
};

static void *worker_main(void *arg)
{
    struct worker_thread *self = arg;
    struct http_workers *w = self->pool;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping) {
            w->idle++;
            struct timespec deadline = time_mono_deadline(HTTP_WORKER_IDLE_MS);
            int rc = pthread_cond_timedwait(&w->cond, &w->lock, &deadline);
            w->idle--;
            if (rc != 0 && !w->head && w->alive > w->min)
                goto out;
        }
        if (!w->head)
            goto out;
        struct http_request *r = w->head;
        w->head = r->next;
        if (!w->head)
            w->tail = NULL;
        w->queued--;
        r->next = NULL;
        pthread_mutex_unlock(&w->lock);
        if (r->defer_fn)
            r->defer_fn(r, r->defer_arg);
        else
            r->route->fn(r, r->route->arg);
        pthread_mutex_lock(&w->lock);
    }
out:
    w->alive--;
    self->done = true;
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Joins threads that have exited; called with the lock held. */
static void reap(struct http_workers *w)
{
    struct worker_thread **p = &w->threads;
    while (*p) {
        struct worker_thread *t = *p;
        if (t->done) {
            pthread_join(t->thread, NULL);
            *p = t->next;
            free(t);
        } else {
            p = &t->next;
        }
    }
}

/* Starts one more thread; called with the lock held. */
static void spawn(struct http_workers *w)
{
    struct worker_thread *t = xcalloc(1, sizeof *t);
    t->pool = w;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, HTTP_WORKER_STACK);
    if (pthread_create(&t->thread, &attr, worker_main, t) == 0) {
        w->alive++;
        t->next = w->threads;
        w->threads = t;
    } else {
        free(t);
    }
    pthread_attr_destroy(&attr);
}

struct http_workers *http_workers_new(int n)
{
    struct http_workers *w = xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    w->min = n;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < n; i++)
        spawn(w);
    pthread_mutex_unlock(&w->lock);
    return w;
}

void http_workers_submit(struct http_workers *w, struct http_request *r)
{
    if (http_workers_try_submit(w, r) < 0)
        http_reply_errorf(r, ERR_UNAVAILABLE, "The server is shutting down.");
}

int http_workers_try_submit(struct http_workers *w, struct http_request *r)
{
    pthread_mutex_lock(&w->lock);
    if (w->stopping) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    r->next = NULL;
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    w->queued++;
    reap(w);
    if (w->queued > (size_t)w->idle && w->alive < HTTP_WORKERS_MAX)
        spawn(w);
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* Lets queued requests finish and joins every thread; later submissions get 503. */
void http_workers_stop(struct http_workers *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    struct worker_thread *t = w->threads;
    w->threads = NULL;
    pthread_mutex_unlock(&w->lock);
    while (t) {
        struct worker_thread *next = t->next;
        pthread_join(t->thread, NULL);
        free(t);
        t = next;
    }
}

void http_workers_free(struct http_workers *w)
{
    if (!w)
        return;
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
