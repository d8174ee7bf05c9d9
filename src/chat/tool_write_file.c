/* tool_write_file.c - write_file: creates or replaces a file of the chat's workspace (reference
 * §3.6). */
#include "chat/internal.h"

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *path, *content;
    if (tool_arg_string(call->args, "path", &path, out) < 0 ||
        tool_arg_string(call->args, "content", &content, out) < 0)
        return;
    if (!path || !path[0]) {
        tool_text_error(out, "path is required");
        return;
    }
    if (!content) {
        tool_text_error(out, "content is required (an empty string writes an empty file)");
        return;
    }
    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req =
        json_pack("{s:s, s:s, s:s}", "type", "write_file", "path", path, "content", content);
    json_t *r;
    if (tool_agent_request(env, agent_id, req, TOOL_AGENT_CALL_MS, call->cancel, NULL, &r, out) ==
        0) {
        tool_result(out, json_pack("{s:b}", "ok", 1));
        json_decref(r);
    }
    json_decref(req);
}

const struct tool_def tool_write_file = {
    .name = "write_file",
    .description =
        "Write a file of the chat's workspace: creates it (with any missing parent directories) "
        "or replaces its whole content, atomically. Returns {ok: true}. To change part of an "
        "existing file use edit_files instead.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"path\":{\"type\":\"string\",\"description\":\"The file, absolute or relative to the "
        "workspace's directory.\"},"
        "\"content\":{\"type\":\"string\",\"description\":\"The file's new content, all of "
        "it.\"}},"
        "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
    .run = run,
};
