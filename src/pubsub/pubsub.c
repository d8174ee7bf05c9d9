/* pubsub.c - the in-process bus (see pubsub.h). */
#include "pubsub/pubsub.h"

#include "base/map.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct pubsub_sub {
    struct pubsub *ps;
    char *channel;
    pubsub_fn fn;
    void *arg;
    struct pubsub_sub *next, *prev;
};

/* Subscribers of one channel. */
struct channel {
    struct pubsub_sub *head;
};

struct pubsub {
    pthread_mutex_t lock;
    struct map channels; /* name -> struct channel* */
};

struct pubsub_waiter {
    struct pubsub *ps;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t events, seen;
    bool woken;
    struct pubsub_sub **subs;
    size_t nsubs;
};

struct pubsub *pubsub_new(void)
{
    struct pubsub *ps = xcalloc(1, sizeof *ps);
    pthread_mutex_init(&ps->lock, NULL);
    return ps;
}

void pubsub_free(struct pubsub *ps)
{
    if (!ps)
        return;
    map_free(&ps->channels, free);
    pthread_mutex_destroy(&ps->lock);
    free(ps);
}

void pubsub_publish(struct pubsub *ps, const char *channel, const char *payload)
{
    pthread_mutex_lock(&ps->lock);
    struct channel *ch = map_get(&ps->channels, channel);
    for (struct pubsub_sub *s = ch ? ch->head : NULL; s; s = s->next)
        s->fn(channel, payload ? payload : "", s->arg);
    pthread_mutex_unlock(&ps->lock);
}

void pubsub_publishf(struct pubsub *ps, const char *payload, const char *channel_fmt, ...)
{
    va_list ap;
    va_start(ap, channel_fmt);
    char *channel = str_vprintf(channel_fmt, ap);
    va_end(ap);
    pubsub_publish(ps, channel, payload);
    free(channel);
}

struct pubsub_sub *pubsub_subscribe(struct pubsub *ps, const char *channel, pubsub_fn fn, void *arg)
{
    struct pubsub_sub *s = xcalloc(1, sizeof *s);
    s->ps = ps;
    s->channel = xstrdup(channel);
    s->fn = fn;
    s->arg = arg;
    pthread_mutex_lock(&ps->lock);
    struct channel *ch = map_get(&ps->channels, channel);
    if (!ch) {
        ch = xcalloc(1, sizeof *ch);
        map_put(&ps->channels, channel, ch);
    }
    s->next = ch->head;
    if (ch->head)
        ch->head->prev = s;
    ch->head = s;
    pthread_mutex_unlock(&ps->lock);
    return s;
}

void pubsub_unsubscribe(struct pubsub_sub *s)
{
    if (!s)
        return;
    struct pubsub *ps = s->ps;
    pthread_mutex_lock(&ps->lock);
    struct channel *ch = map_get(&ps->channels, s->channel);
    if (ch) {
        if (s->prev)
            s->prev->next = s->next;
        else
            ch->head = s->next;
        if (s->next)
            s->next->prev = s->prev;
        if (!ch->head)
            free(map_del(&ps->channels, s->channel));
    }
    pthread_mutex_unlock(&ps->lock);
    free(s->channel);
    free(s);
}

static void waiter_event(const char *channel, const char *payload, void *arg)
{
    struct pubsub_waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->events++;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

struct pubsub_waiter *pubsub_waiter_new(struct pubsub *ps)
{
    struct pubsub_waiter *w = xcalloc(1, sizeof *w);
    w->ps = ps;
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cond, &attr);
    pthread_condattr_destroy(&attr);
    return w;
}

void pubsub_waiter_add(struct pubsub_waiter *w, const char *channel)
{
    w->subs = xreallocarray(w->subs, w->nsubs + 1, sizeof *w->subs);
    w->subs[w->nsubs++] = pubsub_subscribe(w->ps, channel, waiter_event, w);
}

bool pubsub_waiter_wait(struct pubsub_waiter *w, int64_t timeout_ms)
{
    struct timespec deadline = time_mono_deadline(timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&w->lock);
    while (w->events == w->seen && !w->woken) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &deadline) != 0)
            break;
    }
    bool got = w->events != w->seen;
    w->seen = w->events;
    w->woken = false;
    pthread_mutex_unlock(&w->lock);
    return got;
}

void pubsub_waiter_wake(struct pubsub_waiter *w)
{
    pthread_mutex_lock(&w->lock);
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void pubsub_waiter_free(struct pubsub_waiter *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nsubs; i++)
        pubsub_unsubscribe(w->subs[i]);
    free(w->subs);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
