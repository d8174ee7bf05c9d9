/* agent.c - the agent the exec and file tools act on (see internal.h), and sending it requests.
 *
 * The chat remembers its agent (chat.agent_id), but a binding goes stale when the workspace is
 * stopped and started outside the tools: the new build has new agents. So the bound agent is
 * used only while it belongs to the workspace's latest build; otherwise the latest build's chat
 * agent is chosen again and remembered. An agent that is not connected cannot run anything, so
 * it is refused with a text that tells the model what to do.
 */
#include "chat/internal.h"

#include "rbac/rbac.h"

#include "agentconn/agentconn.h"
#include "base/buf.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* Whether the chat's bound agent still exists and belongs to the workspace's latest build; when
 * it does, *agent holds its row. Lookup failures only mean "no". */
static bool bound_agent_current(const struct tool_env *env, const struct chat *chat,
                                struct workspace_agent *agent)
{
    if (!chat->agent_id[0])
        return false;
    struct err e = ERR_INIT;
    char agent_build[UUID_STR_LEN];
    struct workspace_build latest = {0};
    bool ok = env->db.agent_get(env->db.arg, chat->agent_id, agent, &e) == 0;
    ok = ok && env->db.agent_build(env->db.arg, chat->agent_id, agent_build, &e) == 0;
    ok = ok && env->db.build_latest(env->db.arg, chat->workspace_id, &latest, &e) == 0;
    ok = ok && strcmp(agent_build, latest.id) == 0;
    workspace_build_clear(&latest);
    err_clear(&e);
    if (!ok)
        workspace_agent_clear(agent);
    return ok;
}

/* Chooses the latest build's chat agent into *agent and remembers it on the chat. */
static int choose_agent(const struct tool_env *env, const struct chat *chat,
                        struct workspace_agent *agent, struct tool_answer *a)
{
    bool no_agents = false;
    char *msg = NULL;
    if (tool_select_agent(env, chat->workspace_id, agent, &no_agents, &msg) < 0) {
        if (no_agents)
            tool_text_error(a, "workspace has no running agent: the workspace is likely stopped. "
                               "Use the start_workspace tool to start it");
        else
            tool_text_error(a, "find chat agent: %s", msg ? msg : "");
        free(msg);
        return -1;
    }
    /* Remembering is an optimisation: a failure only means choosing again next time. */
    struct err e = ERR_INIT;
    char build_id[UUID_STR_LEN];
    if (env->db.agent_build(env->db.arg, agent->id, build_id, &e) == 0)
        env->db.chat_bind_agent(env->db.arg, chat->id, build_id, agent->id, &e);
    err_clear(&e);
    return 0;
}

/* Whether the chat's owner may not run commands in the chat's workspace (text error set then):
 * a chat is bound only to such workspaces, but roles and workspaces change afterwards. */
static bool may_not_exec(const struct tool_env *env, const struct tool_call *call,
                         const struct chat *chat, struct tool_answer *a)
{
    struct workspace ws = {0};
    struct user owner = {0};
    struct err e = ERR_INIT;
    bool refused = true;
    if (env->db.workspace_get(env->db.arg, chat->workspace_id, &ws, &e) < 0) {
        tool_text_error(a, "load workspace: %s", err_msg(&e));
    } else if (ws.deleted) {
        tool_text_error(a, "workspace was deleted; use create_workspace to make a new one");
    } else if (env->db.user_get(env->db.arg, call->owner_id, &owner, &e) < 0) {
        tool_text_error(a, "load user authorization: %s", err_msg(&e));
    } else {
        struct subject sub = {.kind = SUBJECT_USER, .roles = owner.roles};
        str_copy(sub.user_id, sizeof sub.user_id, owner.id);
        struct rbac_object obj = {RBAC_WORKSPACE, ws.id, ws.owner_id};
        refused = !rbac_allowed(&sub, RBAC_EXEC, &obj);
        if (refused)
            tool_text_error(a, "you may not run commands in workspace %s", ws.name);
    }
    err_clear(&e);
    user_clear(&owner);
    workspace_clear(&ws);
    return refused;
}

int tool_chat_agent(const struct tool_env *env, const struct tool_call *call,
                    char agent_id[UUID_STR_LEN], struct tool_answer *a)
{
    static const char no_workspace[] =
        "no workspace is associated with this chat. Use the create_workspace tool to create one";
    agent_id[0] = '\0';
    if (!call->chat_id || !call->chat_id[0]) {
        tool_text_error(a, "%s", no_workspace);
        return -1;
    }
    struct chat chat = {0};
    struct workspace_agent agent = {0};
    struct err e = ERR_INIT;
    int rc = -1;
    if (env->db.chat_get(env->db.arg, call->chat_id, &chat, &e) < 0) {
        tool_text_error(a, "load chat: %s", err_msg(&e));
        goto done;
    }
    if (!chat.workspace_id[0]) {
        tool_text_error(a, "%s", no_workspace);
        goto done;
    }
    if (may_not_exec(env, call, &chat, a))
        goto done;
    if (!bound_agent_current(env, &chat, &agent) && choose_agent(env, &chat, &agent, a) < 0)
        goto done;

    switch (agentconn_status(&agent, env->clock.now_us(env->clock.arg))) {
    case AGENT_DISCONNECTED:
    case AGENT_TIMEOUT:
        tool_text_error(a, "workspace agent is disconnected and cannot execute tools. Stop and "
                           "then start the workspace with the stop_workspace and "
                           "start_workspace tools");
        goto done;
    case AGENT_CONNECTING:
        tool_text_error(a, "workspace agent is not connected yet; use start_workspace to wait "
                           "for it");
        goto done;
    case AGENT_CONNECTED:
        break;
    }
    str_copy(agent_id, UUID_STR_LEN, agent.id);
    rc = 0;

done:
    workspace_agent_clear(&agent);
    chat_clear(&chat);
    err_clear(&e);
    return rc;
}

int tool_agent_request(const struct tool_env *env, const char *agent_id, const json_t *request,
                       int64_t timeout_ms, struct tool_cancel *cancel, const char *prefix,
                       json_t **result, struct tool_answer *a)
{
    struct err e = ERR_INIT;
    *result = NULL;
    if (env->agent.call(env->agent.arg, agent_id, request, timeout_ms, cancel, result, &e) == 0)
        return 0;
    struct buf b = BUF_INIT;
    if (prefix)
        buf_printf(&b, "%s: ", prefix);
    buf_puts(&b, err_msg(&e));
    if (e.detail && e.detail[0])
        buf_printf(&b, ": %s", e.detail);
    for (size_t i = 0; i < e.nvalidations; i++)
        buf_printf(&b, "\n- %s: %s", e.validations[i].field, e.validations[i].detail);
    tool_text_error(a, "%s", buf_str(&b));
    buf_free(&b);
    err_clear(&e);
    return -1;
}
