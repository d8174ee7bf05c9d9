/* loop_context.c - what the model is told before the conversation: the system prompt and the
 * workspace context read from AGENTS.md files through the chat's agent (see loop.h). */
#include "chat/internal.h"
#include "chat/loop.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

#define CONTEXT_LINES_MAX 10000 /* the agent's read_file limit */

void chat_strip_html_comments(char *s)
{
    char *w = s;
    const char *r = s;
    while (*r) {
        if (strncmp(r, "<!--", 4) == 0) {
            const char *end = strstr(r + 4, "-->");
            if (!end)
                break;
            r = end + 3;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

/* The agent's answer to one request, or NULL. */
static json_t *agent_request(const struct tool_env *env, const char *agent_id, json_t *req,
                             int64_t timeout_ms)
{
    json_t *res = NULL;
    struct err e = ERR_INIT;
    int rc = env->agent.call(env->agent.arg, agent_id, req, timeout_ms, NULL, &res, &e);
    json_decref(req);
    err_clear(&e);
    if (rc < 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

/* Appends one file's section to out when it exists and has content after comments are gone. */
static bool add_file(const struct tool_env *env, const char *agent_id, const char *path,
                     int64_t timeout_ms, struct buf *out)
{
    json_t *res = agent_request(
        env, agent_id,
        json_pack("{s:s, s:s, s:i}", "type", "read_file", "path", path, "limit", CONTEXT_LINES_MAX),
        timeout_ms);
    const char *content = res ? jsonx_get_str(res, "content", NULL) : NULL;
    if (!content || json_is_true(json_object_get(res, "is_directory"))) {
        json_decref(res);
        return false;
    }
    size_t len = strlen(content);
    bool truncated = len > CHAT_CONTEXT_FILE_MAX || json_is_true(json_object_get(res, "truncated"));
    char *text = xstrndup(
        content, utf8_cut(content, len > CHAT_CONTEXT_FILE_MAX ? CHAT_CONTEXT_FILE_MAX : len));
    json_decref(res);
    chat_strip_html_comments(text);
    str_trim(text);
    bool added = *text != '\0';
    if (added)
        buf_printf(out, "\nSource: %s%s\n%s\n", path, truncated ? " (truncated to 64KiB)" : "",
                   text);
    free(text);
    return added;
}

char *chat_context_load(const struct tool_env *env, const struct chat *chat, int64_t timeout_ms,
                        char agent_id[UUID_STR_LEN])
{
    agent_id[0] = '\0';
    if (!chat->workspace_id[0])
        return NULL;
    struct workspace_agent agent;
    bool no_agents = false;
    char *msg = NULL;
    if (tool_select_agent(env, chat->workspace_id, &agent, &no_agents, &msg) < 0) {
        free(msg);
        return NULL;
    }
    if (agent.lifecycle != LIFECYCLE_READY) {
        workspace_agent_clear(&agent);
        return NULL;
    }
    str_copy(agent_id, UUID_STR_LEN, agent.id);
    /* Where the agent's home and working directory are (commands run in the latter). */
    char *home = NULL, *cwd = NULL;
    json_t *res = agent_request(env, agent.id,
                                json_pack("{s:s, s:s, s:I}", "type", "exec", "command",
                                          "printf '%s\\n%s' \"$HOME\" \"$PWD\"", "timeout_ms",
                                          (json_int_t)timeout_ms),
                                timeout_ms);
    const char *out = res ? jsonx_get_str(res, "output", "") : "";
    const char *nl = strchr(out, '\n');
    if (*out == '/' && nl) {
        home = xstrndup(out, (size_t)(nl - out));
        if (nl[1] == '/' && !strchr(nl + 1, '\n'))
            cwd = xstrdup(nl + 1);
    }
    json_decref(res);

    const char *dir = agent.directory && *agent.directory ? agent.directory : cwd;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<workspace-context>\n");
    if (dir)
        buf_printf(&b, "Working Directory: %s\n", dir);
    bool any = false;
    char *home_file = home ? str_printf("%s/AGENTS.md", home) : NULL;
    char *dir_file = dir ? str_printf("%s/AGENTS.md", dir) : xstrdup("AGENTS.md");
    if (home_file)
        any |= add_file(env, agent.id, home_file, timeout_ms, &b);
    if (!home_file || strcmp(home_file, dir_file) != 0)
        any |= add_file(env, agent.id, dir_file, timeout_ms, &b);
    buf_puts(&b, "</workspace-context>");
    free(home_file);
    free(dir_file);
    free(home);
    free(cwd);
    workspace_agent_clear(&agent);
    if (!any) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b);
}

char *chat_system_prompt(const struct tool_env *env, const struct chat *chat, const char *context)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b,
             "You are the assistant of a berth chat. berth is a self-hosted control plane for "
             "development workspaces. You work for the chat's owner in their workspace through the "
             "tools you are given: find templates, create, start and stop the workspace, run "
             "commands, and read, write and edit files. Act rather than describe; keep answers "
             "short and say what you did. When a tool fails, read its message: it says what to "
             "do next.\n\n");
    if (chat->workspace_id[0]) {
        struct workspace ws;
        struct err e = ERR_INIT;
        if (env->db.workspace_get(env->db.arg, chat->workspace_id, &ws, &e) == 0) {
            buf_printf(&b,
                       "A workspace is attached to this chat: \"%s\" (id %s). Use it; start it "
                       "with start_workspace when it is stopped.\n",
                       ws.name, ws.id);
            workspace_clear(&ws);
        } else {
            err_clear(&e);
            buf_printf(&b, "A workspace is attached to this chat (id %s).\n", chat->workspace_id);
        }
    } else {
        buf_puts(&b, "No workspace is attached to this chat. When the task needs one, find a "
                     "template with list_templates and create it with create_workspace.\n");
    }
    if (context && *context)
        buf_printf(&b, "\nThe workspace's instructions (AGENTS.md):\n%s\n", context);
    return buf_take(&b);
}
