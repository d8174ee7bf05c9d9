/* tool_start_workspace.c - start_workspace: start the chat's workspace when it is stopped, wait
 * for the build and the agent; idempotent when it already runs. */
#include "chat/internal.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* The answer once the build is done: the agent of the latest build, waited for. build_id NULL
 * when no build was started (then no_build: true). */
static json_t *agent_answer(const struct tool_env *env, const struct tool_call *call,
                            const struct workspace *ws, const char *build_id)
{
    json_t *r = json_object();
    json_object_set_new(r, "started", json_true());
    json_object_set_new(r, "workspace_name", json_string(ws->name));
    struct workspace_agent agent;
    memset(&agent, 0, sizeof agent);
    bool none;
    char *msg = NULL;
    int sel = tool_select_agent(env, ws->id, &agent, &none, &msg);
    /* Agents that cannot be read count as none (reference: "query error or no agents"); only
     * a failed selection is a selection_error. */
    if (sel == -2 || (sel < 0 && none)) {
        json_object_set_new(r, "agent_status", json_string("no_agent"));
    } else if (sel < 0) {
        json_object_set_new(r, "agent_status", json_string("selection_error"));
        json_object_set_new(r, "agent_error", json_string(msg));
    }
    if (build_id && *build_id)
        json_object_set_new(r, "build_id", json_string(build_id));
    else
        json_object_set_new(r, "no_build", json_true());
    if (agent.id[0])
        tool_wait_agent_ready(env, call, agent.id, true, true, r);
    free(msg);
    workspace_agent_clear(&agent);
    return r;
}

static void start_locked(const struct tool_env *env, const struct tool_call *call,
                         const struct build_param_value *params, size_t nparams,
                         struct tool_answer *out)
{
    struct workspace ws;
    struct workspace_build build, started;
    struct job job;
    memset(&ws, 0, sizeof ws);
    memset(&build, 0, sizeof build);
    memset(&started, 0, sizeof started);
    memset(&job, 0, sizeof job);
    struct err e = ERR_INIT;
    char *msg = NULL;
    if (!env->db.chat_get || !call->chat_id || !*call->chat_id) {
        tool_text_error(out, "start_workspace is not properly configured");
        goto out;
    }
    if (tool_load_chat_workspace(env, call, &ws, &build, &job, out) < 0)
        goto out;

    if (job_status_active(job.status)) {
        /* A build is under way: follow it instead of starting another. */
        tool_bind_build(env, call, ws.id, build.id);
        if (tool_wait_build(env, call, build.id, &msg) < 0) {
            char *text = str_printf("waiting for in-progress build: %s", msg);
            tool_build_error(out, text, build.id);
            free(text);
            goto out;
        }
        if (build.transition == TRANSITION_START) {
            tool_result(out, agent_answer(env, call, &ws, build.id));
            tool_chat_updated(env, call, NULL);
            goto out;
        }
        /* It was a stop (or a delete): the workspace is not running yet, so look again and
         * start it (where the reference answered started: true for a stopped workspace). */
        workspace_clear(&ws);
        workspace_build_clear(&build);
        job_clear(&job);
        if (tool_load_chat_workspace(env, call, &ws, &build, &job, out) < 0)
            goto out;
    }
    if (job.status == JOB_SUCCEEDED && build.transition == TRANSITION_START) {
        tool_result(out, agent_answer(env, call, &ws, NULL));
        goto out;
    }

    if (env->ws.start(env->ws.arg, call->owner_id, ws.id, params, nparams, &started, &e) < 0) {
        if (!err_is(&e, ERR_INTERNAL) && *err_msg(&e))
            tool_text_error(out, "%s", err_msg(&e));
        else
            tool_text_error(out, "start workspace: %s", err_msg(&e));
        goto out;
    }
    tool_bind_build(env, call, ws.id, started.id);
    if (tool_wait_build(env, call, started.id, &msg) < 0) {
        char *text = str_printf("workspace start build failed: %s", msg);
        tool_build_error(out, text, started.id);
        free(text);
        goto out;
    }
    json_t *r = agent_answer(env, call, &ws, started.id);
    if (started.template_version_id[0] && build.template_version_id[0] &&
        strcmp(started.template_version_id, build.template_version_id) != 0) {
        json_object_set_new(r, "updated_to_active_version", json_true());
        json_object_set_new(r, "update_reason", json_string("template requires active versions"));
        json_object_set_new(r, "message",
                            json_string("Workspace started and was updated to the active template "
                                        "version because the template requires active "
                                        "versions."));
    }
    tool_result(out, r);
    tool_chat_updated(env, call, NULL);
out:
    free(msg);
    err_clear(&e);
    workspace_clear(&ws);
    workspace_build_clear(&build);
    workspace_build_clear(&started);
    job_clear(&job);
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    struct build_param_value *params = NULL;
    size_t nparams = 0;
    if (tool_arg_params(call->args, "parameters", &params, &nparams, out) < 0)
        return;
    if (!env->ws.start) {
        tool_text_error(out, "workspace starter is not configured");
        tool_params_free(params, nparams);
        return;
    }
    if (call->workspace_mu)
        pthread_mutex_lock(call->workspace_mu);
    start_locked(env, call, params, nparams, out);
    if (call->workspace_mu)
        pthread_mutex_unlock(call->workspace_mu);
    tool_params_free(params, nparams);
}

const struct tool_def tool_start_workspace = {
    .name = "start_workspace",
    .description =
        "Start the chat's workspace if it is stopped, wait for its build and for its agent to be "
        "ready. Idempotent: when the workspace is already running it answers at once with "
        "no_build: true; when a build is under way it waits for that build. If the template "
        "requires its active version, the workspace is moved to it; when that version needs "
        "parameter values the workspace does not have, the answer says which, and you retry "
        "with a parameters object. Use create_workspace first if the chat has no workspace.",
    .input_schema = "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                    "\"type\":\"object\",\"properties\":{\"parameters\":{\"type\":\"object\","
                    "\"description\":\"Build parameter values by name, for parameters the "
                    "template's active version requires; values are strings.\","
                    "\"additionalProperties\":{\"type\":\"string\"}}},"
                    "\"additionalProperties\":false}",
    .run = run,
};
