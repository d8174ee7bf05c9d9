/* pubsub.h - in-process publish/subscribe on named channels: a wake-up, never the truth.
 *
 * Channels: "workspace:<id>", "job:<id>:logs", "chat:owner:<id>", "agent:<id>", "jobs:posted".
 * Publishers send a short payload (copied); subscribers re-read the store. Two ways to listen:
 * - a callback, run synchronously on the publisher's thread with the registry locked: it must
 *   be quick, must not block and must not call pubsub itself (typically it queues work and
 *   wakes a loop);
 * - a waiter, which counts events and lets a thread block until one arrives or a deadline.
 * Thread-safe. Unsubscribing returns only once the callback can no longer run.
 */
#ifndef BERTH_PUBSUB_PUBSUB_H
#define BERTH_PUBSUB_PUBSUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pubsub;
struct pubsub_sub;
struct pubsub_waiter;

typedef void (*pubsub_fn)(const char *channel, const char *payload, void *arg);

/* A new, empty bus. Caller frees with pubsub_free once nothing uses it. */
struct pubsub *pubsub_new(void);
void pubsub_free(struct pubsub *ps);
/* Publishes payload (may be NULL, meaning "") to every subscriber of channel. */
void pubsub_publish(struct pubsub *ps, const char *channel, const char *payload);
/* printf-style channel name. */
void pubsub_publishf(struct pubsub *ps, const char *payload, const char *channel_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Subscribes fn(channel, payload, arg) to channel. Never NULL. */
struct pubsub_sub *pubsub_subscribe(struct pubsub *ps, const char *channel, pubsub_fn fn,
                                    void *arg);
/* Removes and frees a subscription (NULL is ignored). */
void pubsub_unsubscribe(struct pubsub_sub *sub);

/* A waiter on one or more channels (add with pubsub_waiter_add). Owned by the caller; free with
 * pubsub_waiter_free. Used by a single thread. */
struct pubsub_waiter *pubsub_waiter_new(struct pubsub *ps);
void pubsub_waiter_add(struct pubsub_waiter *w, const char *channel);
/* Blocks until an event arrived since the previous wait (or since creation), the waiter was
 * woken with pubsub_waiter_wake, or timeout_ms passed. Returns true when woken by an event. */
bool pubsub_waiter_wait(struct pubsub_waiter *w, int64_t timeout_ms);
/* Wakes a waiter from another thread (e.g. on cancellation). */
void pubsub_waiter_wake(struct pubsub_waiter *w);
void pubsub_waiter_free(struct pubsub_waiter *w);

#endif
