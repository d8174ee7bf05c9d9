/* env.c - the tools' real environment: the store-backed data, agent connections, the system
 * clocks, and waits woken by pubsub events (and by cancellation). */
#include "base/str.h"
#include "base/times.h"
#include "chat/service.h"

#include <stdio.h>
#include <string.h>

/* How often a dial re-checks the connection without an event (a backstop only: connecting
 * publishes "agent:<id>"). */
#define DIAL_POLL_MS 2000

/* ---- cancellation of a wait ----
 * A wait registers its waiter as the call's wake-up under the cancel's lock, unless the call is
 * already canceled; tool_cancel_trigger then wakes it at once. The registration is removed
 * before the waiter is freed. */

static void wake_waiter(void *arg)
{
    pubsub_waiter_wake(arg);
}

/* ---- the agent connection ---- */

static int agent_dial(void *arg, const char *agent_id, int64_t timeout_ms,
                      struct tool_cancel *cancel, struct err *e)
{
    struct chat_env_deps *d = arg;
    /* Subscribe before the first check so a connection in between still wakes us. */
    struct pubsub_waiter *w = pubsub_waiter_new(d->ps);
    char channel[64];
    snprintf(channel, sizeof channel, "agent:%s", agent_id);
    pubsub_waiter_add(w, channel);
    bool armed = tool_cancel_arm(cancel, wake_waiter, w);
    int64_t deadline = time_mono_us() + (timeout_ms > 0 ? timeout_ms : 0) * 1000;
    int rc = 0;
    for (;;) {
        if (agentconn_connected(d->ac, agent_id))
            break;
        if (!armed || tool_cancel_is_set(cancel)) {
            rc = err_set(e, ERR_CANCELED, "context canceled");
            break;
        }
        int64_t left_us = deadline - time_mono_us();
        if (left_us <= 0) {
            char d_text[32];
            duration_format(timeout_ms, d_text, sizeof d_text);
            rc = err_set(e, ERR_TIMEOUT, "agent did not connect within %s", d_text);
            break;
        }
        int64_t left_ms = (left_us + 999) / 1000; /* never wake before the deadline */
        pubsub_waiter_wait(w, left_ms < DIAL_POLL_MS ? left_ms : DIAL_POLL_MS);
    }
    if (armed)
        tool_cancel_disarm(cancel);
    pubsub_waiter_free(w);
    return rc;
}

struct call_abort {
    struct agentconn *ac;
    struct agentconn_abort abort;
};

static void abort_call(void *arg)
{
    struct call_abort *ca = arg;
    agentconn_abort_fire(ca->ac, &ca->abort);
}

static int agent_call(void *arg, const char *agent_id, const json_t *request, int64_t timeout_ms,
                      struct tool_cancel *cancel, json_t **result, struct err *e)
{
    struct chat_env_deps *d = arg;
    struct call_abort ca = {.ac = d->ac};
    agentconn_abort_init(&ca.abort);
    if (!tool_cancel_arm(cancel, abort_call, &ca))
        return err_set(e, ERR_CANCELED, "context canceled");
    int rc = agentconn_call_abortable(d->ac, agent_id, request, timeout_ms, &ca.abort, result, e);
    tool_cancel_disarm(cancel);
    return rc;
}

/* ---- time ---- */

static int64_t clock_now_us(void *arg)
{
    (void)arg;
    return time_now_us();
}

static int64_t clock_mono_us(void *arg)
{
    (void)arg;
    return time_mono_us();
}

static void *clock_watch(void *arg, const char *const *channels)
{
    struct chat_env_deps *d = arg;
    struct pubsub_waiter *w = pubsub_waiter_new(d->ps);
    for (size_t i = 0; channels && channels[i]; i++)
        pubsub_waiter_add(w, channels[i]);
    return w;
}

static bool clock_wait(void *arg, void *watch, int64_t timeout_ms, struct tool_cancel *cancel)
{
    (void)arg;
    struct pubsub_waiter *w = watch;
    bool armed = tool_cancel_arm(cancel, wake_waiter, w);
    if (armed) {
        pubsub_waiter_wait(w, timeout_ms);
        tool_cancel_disarm(cancel);
    }
    return armed && !tool_cancel_is_set(cancel);
}

static void clock_unwatch(void *arg, void *watch)
{
    (void)arg;
    pubsub_waiter_free(watch);
}

void chat_env_init(struct tool_env *env, struct chat_env_deps *deps, const struct tool_waits *waits)
{
    memset(env, 0, sizeof *env);
    chat_tool_db_init(&env->db, deps->st);
    deps->ws = (struct chat_ws_ctx){deps->st, deps->ps};
    chat_workspace_ops(&env->ws, &deps->ws);
    env->agent.arg = deps;
    env->agent.dial = agent_dial;
    env->agent.call = agent_call;
    env->clock.arg = deps;
    env->clock.now_us = clock_now_us;
    env->clock.mono_us = clock_mono_us;
    env->clock.watch = clock_watch;
    env->clock.wait = clock_wait;
    env->clock.unwatch = clock_unwatch;
    if (waits)
        env->waits = *waits;
}
