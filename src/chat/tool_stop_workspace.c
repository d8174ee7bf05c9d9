/* tool_stop_workspace.c - stop_workspace: stop the chat's workspace and wait for the build;
 * idempotent when it is already stopped. */
#include "chat/internal.h"

#include "base/str.h"

#include <stdlib.h>
#include <string.h>

static json_t *stopped(const struct workspace *ws, const char *build_id)
{
    json_t *r = json_object();
    json_object_set_new(r, "stopped", json_true());
    json_object_set_new(r, "workspace_name", json_string(ws->name));
    if (build_id)
        json_object_set_new(r, "build_id", json_string(build_id));
    else
        json_object_set_new(r, "no_build", json_true());
    return r;
}

static void stop_locked(const struct tool_env *env, const struct tool_call *call,
                        struct tool_answer *out)
{
    struct workspace ws;
    struct workspace_build build, stop;
    struct job job;
    memset(&ws, 0, sizeof ws);
    memset(&build, 0, sizeof build);
    memset(&stop, 0, sizeof stop);
    memset(&job, 0, sizeof job);
    struct err e = ERR_INIT;
    char *msg = NULL;
    if (!env->db.chat_get || !call->chat_id || !*call->chat_id) {
        tool_text_error(out, "stop_workspace is not properly configured");
        goto out;
    }
    if (tool_load_chat_workspace(env, call, &ws, &build, &job, out) < 0)
        goto out;
    if (job_status_active(job.status)) {
        tool_bind_build(env, call, ws.id, build.id);
        char in_progress[UUID_STR_LEN];
        str_copy(in_progress, sizeof in_progress, build.id);
        int waited = tool_wait_build(env, call, build.id, &msg);
        workspace_clear(&ws);
        workspace_build_clear(&build);
        job_clear(&job);
        if (tool_load_chat_workspace(env, call, &ws, &build, &job, out) < 0)
            goto out;
        /* The wait's failure matters only while the build still runs. */
        if (waited < 0 && !job_status_terminal(job.status)) {
            char *text = str_printf("waiting for in-progress build: %s", msg);
            tool_build_error(out, text, in_progress);
            free(text);
            goto out;
        }
    }
    if (job.status == JOB_SUCCEEDED && build.transition == TRANSITION_STOP) {
        tool_result(out, stopped(&ws, NULL));
        goto out;
    }
    if (env->ws.stop(env->ws.arg, call->owner_id, ws.id, &stop, &e) < 0) {
        if (err_is(&e, ERR_INTERNAL) || !*err_msg(&e)) {
            tool_text_error(out, "stop workspace: %s", err_msg(&e));
        } else {
            json_t *r = json_object();
            json_object_set_new(r, "error", json_string(err_msg(&e)));
            if (e.detail && *e.detail)
                json_object_set_new(r, "detail", json_string(e.detail));
            json_object_set_new(r, "status", json_integer(err_status(&e)));
            tool_result(out, r);
        }
        goto out;
    }
    tool_bind_build(env, call, ws.id, stop.id);
    free(msg);
    msg = NULL;
    if (tool_wait_build(env, call, stop.id, &msg) < 0) {
        char *text = str_printf("workspace stop build failed: %s", msg);
        tool_build_error(out, text, stop.id);
        free(text);
        goto out;
    }
    tool_chat_updated(env, call, NULL);
    tool_result(out, stopped(&ws, stop.id));
out:
    free(msg);
    err_clear(&e);
    workspace_clear(&ws);
    workspace_build_clear(&build);
    workspace_build_clear(&stop);
    job_clear(&job);
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    if (!env->ws.stop) {
        tool_text_error(out, "workspace stopper is not configured");
        return;
    }
    if (call->workspace_mu)
        pthread_mutex_lock(call->workspace_mu);
    stop_locked(env, call, out);
    if (call->workspace_mu)
        pthread_mutex_unlock(call->workspace_mu);
}

const struct tool_def tool_stop_workspace = {
    .name = "stop_workspace",
    .description = "Stop the chat's workspace and wait until its stop build has finished. "
                   "Idempotent: when the workspace is already stopped it answers at once with "
                   "no_build: true; when a build is under way it waits for it first. Files in "
                   "the workspace are kept; start_workspace brings it back.",
    .input_schema = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                    "\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
    .run = run,
};
