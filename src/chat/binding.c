/* binding.c - the chat's workspace as the workspace tools see it: loading it, binding a build to
 * the chat, and telling watchers. */
#include "chat/internal.h"

#include <string.h>

/* Loads the chat's live workspace and its latest build and job; text error otherwise. */
int tool_load_chat_workspace(const struct tool_env *env, const struct tool_call *call,
                             struct workspace *ws, struct workspace_build *build, struct job *job,
                             struct tool_answer *out)
{
    struct chat chat;
    memset(&chat, 0, sizeof chat);
    struct err e = ERR_INIT;
    int rc = -1;
    if (env->db.chat_get(env->db.arg, call->chat_id, &chat, &e) < 0) {
        tool_text_error(out, "load chat: %s", err_msg(&e));
        goto out;
    }
    if (!chat.workspace_id[0]) {
        tool_text_error(out, "chat has no workspace; use create_workspace first");
        goto out;
    }
    if (env->db.workspace_get(env->db.arg, chat.workspace_id, ws, &e) < 0) {
        tool_text_error(out, "load workspace: %s", err_msg(&e));
        goto out;
    }
    if (ws->deleted) {
        tool_text_error(out, "workspace was deleted; use create_workspace to make a new one");
        goto out;
    }
    if (env->db.build_latest(env->db.arg, ws->id, build, &e) < 0) {
        tool_text_error(out, "get latest build: %s", err_msg(&e));
        goto out;
    }
    if (env->db.job_get(env->db.arg, build->job_id, job, &e) < 0) {
        tool_text_error(out, "get provisioner job: %s", err_msg(&e));
        goto out;
    }
    rc = 0;
out:
    err_clear(&e);
    chat_clear(&chat);
    return rc;
}

void tool_bind_build(const struct tool_env *env, const struct tool_call *call,
                     const char *workspace_id, const char *build_id)
{
    struct chat updated;
    memset(&updated, 0, sizeof updated);
    if (env->db.chat_bind(env->db.arg, call->chat_id, workspace_id, build_id, NULL, &updated,
                          NULL) == 0)
        tool_chat_updated(env, call, &updated);
    chat_clear(&updated);
}

void tool_chat_updated(const struct tool_env *env, const struct tool_call *call,
                       const struct chat *chat)
{
    if (!env->on_chat_updated)
        return;
    if (chat) {
        env->on_chat_updated(env->on_chat_updated_arg, chat);
        return;
    }
    if (!call->chat_id || !*call->chat_id)
        return;
    struct chat latest;
    memset(&latest, 0, sizeof latest);
    if (env->db.chat_get(env->db.arg, call->chat_id, &latest, NULL) == 0)
        env->on_chat_updated(env->on_chat_updated_arg, &latest);
    chat_clear(&latest);
}
