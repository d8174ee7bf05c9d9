/* tool_create_workspace.c - create_workspace: create a workspace for the chat from a template,
 * wait for its build and agent; idempotent per chat (an existing building or running workspace
 * is returned instead). */
#include "chat/internal.h"

#include "agentconn/agentconn.h"

#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/uuid.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define NAME_SEED_MAX 27

/* A workspace name from seed: lower-cased, runs of other characters turned into one "-", cut
 * to 27 characters, "-" trimmed, then "-" and 4 random hex digits. */
static char *generated_name(const char *seed)
{
    char base[NAME_SEED_MAX + 1];
    size_t n = 0;
    for (const char *p = seed; *p && n < NAME_SEED_MAX; p++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*p);
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            base[n++] = (char)ch;
        else if (n > 0 && base[n - 1] != '-')
            base[n++] = '-';
    }
    while (n > 0 && base[n - 1] == '-')
        n--;
    base[n] = '\0';
    char hex[5];
    secure_hex(hex, 4);
    char *name = str_printf("%s-%s", n ? base : "workspace", hex);
    if (!workspace_name_valid(name)) {
        free(name);
        char rnd[13];
        secure_hex(rnd, 12);
        name = str_printf("ws-%s", rnd);
    }
    return name;
}

/* The agent a check looks at: the chat agent, else the first of the latest build. */
static int pick_agent(const struct tool_env *env, const char *workspace_id,
                      struct workspace_agent *out)
{
    bool none;
    char *msg = NULL;
    int rc = tool_select_agent(env, workspace_id, out, &none, &msg);
    free(msg);
    if (rc == 0 || none)
        return rc;
    struct agent_list list = {0};
    if (env->db.agents_latest(env->db.arg, workspace_id, &list, NULL) < 0 || list.n == 0) {
        agent_list_free(&list);
        return -1;
    }
    *out = list.items[0];
    list.items[0].directory = NULL;
    agent_list_free(&list);
    return 0;
}

static json_t *existing(const struct workspace *ws, const char *status, const char *message)
{
    json_t *r = json_object();
    json_object_set_new(r, "created", json_false());
    json_object_set_new(r, "workspace_name", json_string(ws->name));
    json_object_set_new(r, "status", json_string(status));
    json_object_set_new(r, "message", json_string(message));
    return r;
}

/* checkExistingWorkspace: 1 when the chat's workspace answers the call (out set), 0 when a new
 * workspace should be created, -1 on failure (out set). */
static int check_existing(const struct tool_env *env, const struct tool_call *call,
                          struct tool_answer *out)
{
    if (!call->chat_id || !*call->chat_id)
        return 0;
    struct chat chat;
    struct workspace ws;
    struct workspace_build build;
    struct job job;
    struct workspace_agent agent;
    memset(&chat, 0, sizeof chat);
    memset(&ws, 0, sizeof ws);
    memset(&build, 0, sizeof build);
    memset(&job, 0, sizeof job);
    memset(&agent, 0, sizeof agent);
    struct err e = ERR_INIT;
    char *msg = NULL;
    int rc = 0;
    if (env->db.chat_get(env->db.arg, call->chat_id, &chat, &e) < 0) {
        tool_text_error(out, "load chat: %s", err_msg(&e));
        rc = -1;
        goto out;
    }
    if (!chat.workspace_id[0])
        goto out;
    if (env->db.workspace_get(env->db.arg, chat.workspace_id, &ws, &e) < 0) {
        if (err_is(&e, ERR_NOT_FOUND))
            goto out;
        tool_text_error(out, "load workspace: %s", err_msg(&e));
        rc = -1;
        goto out;
    }
    if (ws.deleted || env->db.build_latest(env->db.arg, ws.id, &build, NULL) < 0 ||
        env->db.job_get(env->db.arg, build.job_id, &job, NULL) < 0)
        goto out;

    if (job_status_active(job.status)) {
        tool_bind_build(env, call, ws.id, build.id);
        if (tool_wait_build(env, call, build.id, &msg) < 0) {
            char *text = str_printf("existing workspace build failed: %s", msg);
            tool_build_error(out, text, build.id);
            free(text);
            rc = -1;
            goto out;
        }
        json_t *r = existing(&ws, "already_exists", "workspace build completed");
        json_object_set_new(r, "build_id", json_string(build.id));
        if (pick_agent(env, ws.id, &agent) == 0)
            tool_wait_agent_ready(env, call, agent.id, true, true, r);
        tool_result(out, r);
        rc = 1;
        goto out;
    }
    if (job.status != JOB_SUCCEEDED)
        goto out; /* failed or canceled: make a new one */
    if (build.transition == TRANSITION_STOP) {
        tool_result(
            out, existing(&ws, "stopped", "workspace is stopped; use start_workspace to start it"));
        rc = 1;
        goto out;
    }
    if (build.transition != TRANSITION_START || pick_agent(env, ws.id, &agent) < 0)
        goto out;
    switch (agentconn_status(&agent, env->clock.now_us(env->clock.arg))) {
    case AGENT_CONNECTED: {
        json_t *r =
            existing(&ws, "already_exists", "workspace is already running and recently connected");
        tool_wait_agent_ready(env, call, agent.id, false, true, r);
        tool_result(out, r);
        rc = 1;
        break;
    }
    case AGENT_CONNECTING: {
        json_t *r =
            existing(&ws, "already_exists", "workspace exists and the agent is still connecting");
        tool_wait_agent_ready(env, call, agent.id, true, true, r);
        tool_result(out, r);
        rc = 1;
        break;
    }
    default:
        break; /* disconnected or timed out: make a new one */
    }
out:
    free(msg);
    err_clear(&e);
    chat_clear(&chat);
    workspace_clear(&ws);
    workspace_build_clear(&build);
    job_clear(&job);
    workspace_agent_clear(&agent);
    return rc;
}

/* Creates the workspace (the lock is held) and waits for it. */
static void create_locked(const struct tool_env *env, const struct tool_call *call,
                          const char *template_id, const char *name_arg,
                          const struct build_param_value *params, size_t nparams,
                          struct tool_answer *out)
{
    int existing_rc = check_existing(env, call, out);
    if (existing_rc != 0)
        return;
    struct template_row t;
    struct workspace ws;
    struct workspace_build build;
    struct user owner;
    struct workspace_agent agent;
    memset(&t, 0, sizeof t);
    memset(&ws, 0, sizeof ws);
    memset(&build, 0, sizeof build);
    memset(&owner, 0, sizeof owner);
    memset(&agent, 0, sizeof agent);
    struct err e = ERR_INIT;
    char *name = NULL, *msg = NULL;
    if (env->db.template_get(env->db.arg, template_id, &t, &e) < 0) {
        tool_text_error(out, "look up template: %s", err_msg(&e));
        goto out;
    }
    name = xstrdup(name_arg ? name_arg : "");
    str_trim(name);
    if (!*name || !workspace_name_valid(name)) {
        char *g = generated_name(*name ? name : t.name);
        free(name);
        name = g;
    }
    struct workspace_create req = {
        .name = name, .template_id = template_id, .params = params, .nparams = nparams};
    if (env->ws.create(env->ws.arg, call->owner_id, &req, &ws, &build, &e) < 0) {
        if (e.detail && *e.detail)
            tool_text_error(out, "%s: %s", err_msg(&e), e.detail);
        else
            tool_text_error(out, "%s", err_msg(&e));
        goto out;
    }
    if (call->chat_id && *call->chat_id)
        tool_bind_build(env, call, ws.id, build.id);
    if (build.id[0] && tool_wait_build(env, call, build.id, &msg) < 0) {
        char *text = str_printf("workspace build failed: %s", msg);
        tool_build_error(out, text, build.id);
        free(text);
        goto out;
    }
    json_t *r = json_object();
    json_object_set_new(r, "created", json_true());
    /* "<owner>/<name>"; the bare name when the owner cannot be read (not "/<name>"). */
    if (env->db.user_get(env->db.arg, call->owner_id, &owner, NULL) == 0 && owner.username[0])
        json_object_set_new(r, "workspace_name", json_sprintf("%s/%s", owner.username, ws.name));
    else
        json_object_set_new(r, "workspace_name", json_string(ws.name));
    if (build.id[0])
        json_object_set_new(r, "build_id", json_string(build.id));
    bool none;
    int sel = tool_select_agent(env, ws.id, &agent, &none, &msg);
    if (sel == 0) {
        tool_wait_agent_ready(env, call, agent.id, true, true, r);
    } else if (sel == -1) {
        json_object_set_new(r, "agent_status", json_string(none ? "no_agent" : "selection_error"));
        if (!none)
            json_object_set_new(r, "agent_error", json_string(msg));
    } /* -2: the agents could not be read; the reference adds nothing then */
    tool_result(out, r);
    tool_chat_updated(env, call, NULL);
out:
    free(name);
    free(msg);
    err_clear(&e);
    template_row_clear(&t);
    workspace_clear(&ws);
    workspace_build_clear(&build);
    user_clear(&owner);
    workspace_agent_clear(&agent);
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *arg, *name;
    struct build_param_value *params = NULL;
    size_t nparams = 0;
    if (tool_arg_string(call->args, "template_id", &arg, out) < 0 ||
        tool_arg_string(call->args, "name", &name, out) < 0 ||
        tool_arg_params(call->args, "parameters", &params, &nparams, out) < 0)
        return;
    /* Like read_template: surrounding blanks go, and the hex digits may come in either case. */
    char *template_id = str_lower(str_trim(xstrdup(arg ? arg : "")));
    if (!env->ws.create)
        tool_text_error(out, "workspace creator is not configured");
    else if (!*template_id)
        tool_text_error(out, "template_id is required; use list_templates to find one");
    else if (!uuid_valid(template_id)) {
        char why[64];
        uuid_invalid_reason(template_id, why, sizeof why);
        tool_text_error(out, "invalid template_id: %s", why);
    } else if (!tool_template_allowed(env, template_id))
        tool_text_error(out, "template not available for chat workspaces; use list_templates to "
                             "find allowed templates");
    else {
        if (call->workspace_mu)
            pthread_mutex_lock(call->workspace_mu);
        create_locked(env, call, template_id, name, params, nparams, out);
        if (call->workspace_mu)
            pthread_mutex_unlock(call->workspace_mu);
    }
    free(template_id);
    tool_params_free(params, nparams);
}

const struct tool_def tool_create_workspace = {
    .name = "create_workspace",
    .description =
        "Create a workspace for this chat from a template and wait until it is built and its "
        "agent is ready. Take template_id from list_templates and parameter values from "
        "read_template. A name is generated when none is given. Idempotent: if the chat already "
        "has a workspace that is building or running, that workspace is returned instead of a "
        "new one; a stopped one is reported so you can use start_workspace.",
    .input_schema =
        "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
        "\"properties\":{\"template_id\":{\"type\":\"string\",\"description\":\"The template's "
        "id, from list_templates.\"},\"name\":{\"type\":\"string\",\"description\":\"A name for "
        "the workspace (letters, digits and single hyphens, at most 32 characters); generated "
        "when omitted.\"},\"parameters\":{\"type\":\"object\",\"description\":\"Build parameter "
        "values by name, from read_template.\",\"additionalProperties\":{\"type\":\"string\"}}},"
        "\"required\":[\"template_id\"],\"additionalProperties\":false}",
    .run = run,
};
