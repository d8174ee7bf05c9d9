/* wait.c - waiting for a build to end and for an agent to be ready, woken by events with a
 * slow poll as backstop, within the reference's deadlines. */
#include "chat/tool.h"

#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000LL

struct tool_waits tool_waits_resolved(const struct tool_waits *w)
{
    struct tool_waits r = w ? *w : (struct tool_waits){0};
    if (r.build_timeout_ms <= 0)
        r.build_timeout_ms = 10 * 60 * MS;
    if (r.build_poll_ms <= 0)
        r.build_poll_ms = 2 * MS;
    if (r.dial_timeout_ms <= 0)
        r.dial_timeout_ms = 2 * 60 * MS;
    if (r.dial_attempt_ms <= 0)
        r.dial_attempt_ms = 5 * MS;
    if (r.dial_interval_ms <= 0)
        r.dial_interval_ms = 2 * MS;
    if (r.lifecycle_timeout_ms <= 0)
        r.lifecycle_timeout_ms = 10 * 60 * MS;
    if (r.lifecycle_poll_ms <= 0)
        r.lifecycle_poll_ms = 2 * MS;
    return r;
}

static int64_t now_ms(const struct tool_env *env)
{
    return env->clock.mono_us(env->clock.arg) / 1000;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void progress(const struct tool_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const struct tool_call *call, const char *fmt, ...)
{
    if (!call->progress)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    call->progress(call->progress_arg, msg);
    free(msg);
}

/* One look at the build: 1 = still going, 0 = succeeded, -1 = ended otherwise (*msg set). */
static int build_state(const struct tool_env *env, const struct tool_call *call,
                       const char *build_id, enum job_status *last, char **msg)
{
    struct workspace_build b;
    struct job j;
    struct err e = ERR_INIT;
    memset(&b, 0, sizeof b);
    memset(&j, 0, sizeof j);
    int rc = -1;
    if (env->db.build_get(env->db.arg, build_id, &b, &e) < 0) {
        *msg = str_printf("get build: %s", err_msg(&e));
        goto out;
    }
    if (env->db.job_get(env->db.arg, b.job_id, &j, &e) < 0) {
        *msg = str_printf("get provisioner job: %s", err_msg(&e));
        goto out;
    }
    if (j.status != *last) {
        progress(call, "Build #%lld is %s", (long long)b.build_number, job_status_name(j.status));
        *last = j.status;
    }
    switch (j.status) {
    case JOB_SUCCEEDED:
        rc = 0;
        break;
    case JOB_FAILED:
        *msg = xstrdup(j.error && *j.error ? j.error : "build failed");
        break;
    case JOB_CANCELED:
        *msg = xstrdup("build was canceled");
        break;
    case JOB_PENDING:
    case JOB_RUNNING:
    case JOB_CANCELING:
        rc = 1;
        break;
    default:
        *msg = str_printf("unexpected job status: %s", job_status_name(j.status));
        break;
    }
out:
    err_clear(&e);
    workspace_build_clear(&b);
    job_clear(&j);
    return rc;
}

int tool_wait_build(const struct tool_env *env, const struct tool_call *call, const char *build_id,
                    char **msg)
{
    struct tool_waits w = tool_waits_resolved(&env->waits);
    int64_t deadline = now_ms(env) + w.build_timeout_ms;
    /* Job changes are published on the workspace's channel; watch it before the first look. */
    char *channel = NULL;
    struct workspace_build b;
    memset(&b, 0, sizeof b);
    if (env->db.build_get(env->db.arg, build_id, &b, NULL) == 0)
        channel = str_printf("workspace:%s", b.workspace_id);
    workspace_build_clear(&b);
    const char *channels[] = {channel, NULL};
    void *watch = channel ? env->clock.watch(env->clock.arg, channels) : NULL;
    enum job_status last = (enum job_status) - 1;
    *msg = NULL;
    int rc;
    for (;;) {
        rc = build_state(env, call, build_id, &last, msg);
        if (rc <= 0)
            break;
        int64_t left = deadline - now_ms(env);
        if (left <= 0) {
            *msg = xstrdup("timed out waiting for workspace build: context deadline exceeded");
            rc = -1;
            break;
        }
        bool woke = watch ? env->clock.wait(env->clock.arg, watch, min64(left, w.build_poll_ms),
                                            call->cancel)
                          : !tool_cancel_is_set(call->cancel);
        if (!woke || tool_cancel_is_set(call->cancel)) {
            *msg = xstrdup("timed out waiting for workspace build: context canceled");
            rc = -1;
            break;
        }
    }
    if (watch)
        env->clock.unwatch(env->clock.arg, watch);
    free(channel);
    return rc < 0 ? -1 : 0;
}

/* Phase 1: until the agent is reachable. Returns false (and fills result) when it never was. */
static bool dial_agent(const struct tool_env *env, const struct tool_call *call,
                       const struct tool_waits *w, const char *agent_id, json_t *result)
{
    int64_t deadline = now_ms(env) + w->dial_timeout_ms;
    const char *channels[] = {NULL, NULL};
    char *channel = str_printf("agent:%s", agent_id);
    channels[0] = channel;
    void *watch = env->clock.watch(env->clock.arg, channels);
    struct err e = ERR_INIT;
    bool ok = false;
    for (;;) {
        /* The first attempt happens even when the call is already canceled. */
        int64_t left = deadline - now_ms(env);
        err_clear(&e);
        if (env->agent.dial(env->agent.arg, agent_id,
                            min64(w->dial_attempt_ms, left > 0 ? left : 1), call->cancel,
                            &e) == 0) {
            ok = true;
            break;
        }
        left = deadline - now_ms(env);
        if (left <= 0 || tool_cancel_is_set(call->cancel))
            break;
        if (!env->clock.wait(env->clock.arg, watch, min64(w->dial_interval_ms, left), call->cancel))
            break;
    }
    if (!ok) {
        json_object_set_new(result, "agent_status", json_string("not_ready"));
        json_object_set_new(result, "agent_error",
                            json_string(*err_msg(&e) ? err_msg(&e) : "agent is not reachable"));
    }
    err_clear(&e);
    env->clock.unwatch(env->clock.arg, watch);
    free(channel);
    return ok;
}

/* Phase 2: until startup ends. */
static void wait_lifecycle(const struct tool_env *env, const struct tool_call *call,
                           const struct tool_waits *w, const char *agent_id, json_t *result)
{
    int64_t deadline = now_ms(env) + w->lifecycle_timeout_ms;
    char *channel = str_printf("agent:%s", agent_id);
    const char *channels[] = {channel, NULL};
    void *watch = env->clock.watch(env->clock.arg, channels);
    enum agent_lifecycle last = (enum agent_lifecycle) - 1;
    for (;;) {
        struct workspace_agent a;
        memset(&a, 0, sizeof a);
        if (env->db.agent_get(env->db.arg, agent_id, &a, NULL) == 0) {
            enum agent_lifecycle lc = a.lifecycle;
            if (lc != last) {
                progress(call, "Agent %s is %s", a.name, agent_lifecycle_name(lc));
                last = lc;
            }
            workspace_agent_clear(&a);
            if (lc == LIFECYCLE_READY)
                break;
            if (lc != LIFECYCLE_CREATED && lc != LIFECYCLE_STARTING) {
                json_object_set_new(result, "startup_scripts",
                                    json_string("startup_scripts_failed"));
                json_object_set_new(result, "lifecycle_state",
                                    json_string(agent_lifecycle_name(lc)));
                break;
            }
        } /* a failed read is retried at the next poll */
        int64_t left = deadline - now_ms(env);
        if (left <= 0) {
            json_object_set_new(result, "startup_scripts", json_string("startup_scripts_timeout"));
            break;
        }
        if (!env->clock.wait(env->clock.arg, watch, min64(w->lifecycle_poll_ms, left),
                             call->cancel) ||
            tool_cancel_is_set(call->cancel)) {
            json_object_set_new(result, "startup_scripts", json_string("startup_scripts_unknown"));
            break;
        }
    }
    env->clock.unwatch(env->clock.arg, watch);
    free(channel);
}

void tool_wait_agent_ready(const struct tool_env *env, const struct tool_call *call,
                           const char *agent_id, bool dial, bool lifecycle, json_t *result)
{
    struct tool_waits w = tool_waits_resolved(&env->waits);
    if (dial && env->agent.dial && !dial_agent(env, call, &w, agent_id, result))
        return;
    if (lifecycle)
        wait_lifecycle(env, call, &w, agent_id, result);
}
