/* tool_edit_files.c - edit_files: search/replace edits over several files of the chat's
 * workspace, applied all or nothing by the agent (reference §3.6). The agent validates the
 * edits and names the field of a bad one (files[i].edits[j].search, ...). */
#include "chat/internal.h"

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const json_t *files = json_is_object(call->args) ? json_object_get(call->args, "files") : NULL;
    if (files && !json_is_null(files) && !json_is_array(files)) {
        tool_text_error(out, "invalid parameters: \"files\" must be an array");
        return;
    }
    if (json_array_size(files) == 0) {
        tool_text_error(out, "files is required");
        return;
    }
    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req = json_pack("{s:s, s:O}", "type", "edit_files", "files", files);
    json_t *r;
    if (tool_agent_request(env, agent_id, req, TOOL_AGENT_CALL_MS, call->cancel, NULL, &r, out) ==
        0) {
        tool_result(out, json_pack("{s:b}", "ok", 1));
        json_decref(r);
    }
    json_decref(req);
}

const struct tool_def tool_edit_files = {
    .name = "edit_files",
    .description =
        "Change files of the chat's workspace by replacing text: for each file, a list of edits "
        "applied in order, each replacing the exact search text by replace. The search text must "
        "occur exactly once in the file unless replace_all is set, so include enough surrounding "
        "lines to make it unique. All edits of all files apply together or, when any fails, none "
        "does (the error says which edit and why). Returns {ok: true}. Read the file with "
        "read_file first; use write_file to create a file or replace all of it.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"files\":{\"type\":\"array\",\"minItems\":1,\"description\":\"The files to change and "
        "their edits.\",\"items\":{\"type\":\"object\",\"properties\":{"
        "\"path\":{\"type\":\"string\",\"description\":\"The file, absolute or relative to the "
        "workspace's directory.\"},"
        "\"edits\":{\"type\":\"array\",\"minItems\":1,\"description\":\"The edits of this file, "
        "applied in order.\",\"items\":{\"type\":\"object\",\"properties\":{"
        "\"search\":{\"type\":\"string\",\"description\":\"The exact text to find (not "
        "empty).\"},"
        "\"replace\":{\"type\":\"string\",\"description\":\"The text to put in its place.\"},"
        "\"replace_all\":{\"type\":\"boolean\",\"description\":\"Replace every occurrence "
        "instead of requiring exactly one (default false).\"}},"
        "\"required\":[\"search\",\"replace\"],\"additionalProperties\":false}}},"
        "\"required\":[\"path\",\"edits\"],\"additionalProperties\":false}}},"
        "\"required\":[\"files\"],\"additionalProperties\":false}",
    .run = run,
};
