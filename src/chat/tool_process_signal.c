/* tool_process_signal.c - process_signal: stops a background process (reference §3.6). */
#include "chat/internal.h"

#include "base/str.h"

#include <stdlib.h>
#include <string.h>

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *id, *signal;
    if (tool_arg_string(call->args, "process_id", &id, out) < 0 ||
        tool_arg_string(call->args, "signal", &signal, out) < 0)
        return;
    if (!id || !id[0]) {
        tool_text_error(out, "process_id is required");
        return;
    }
    if (!signal || (strcmp(signal, "terminate") != 0 && strcmp(signal, "kill") != 0)) {
        tool_text_error(out, "signal must be \"terminate\" or \"kill\"");
        return;
    }
    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req =
        json_pack("{s:s, s:s, s:s}", "type", "process_signal", "process_id", id, "signal", signal);
    json_t *r;
    if (tool_agent_request(env, agent_id, req, TOOL_AGENT_CALL_MS, call->cancel, "signal process",
                           &r, out) == 0) {
        tool_result(out, json_pack("{s:b, s:s+++}", "success", 1, "message", "signal \"", signal,
                                   "\" sent to process ", id));
        json_decref(r);
    }
    json_decref(req);
}

const struct tool_def tool_process_signal = {
    .name = "process_signal",
    .description =
        "Send a signal to a background process of the chat's workspace: \"terminate\" (SIGTERM) "
        "asks it to stop cleanly, \"kill\" (SIGKILL) forces it. The signal goes to the whole "
        "process group. Use the background_process_id from execute or an id from process_list. "
        "Returns {success, message}.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"process_id\":{\"type\":\"string\",\"description\":\"The id of the process.\"},"
        "\"signal\":{\"type\":\"string\",\"enum\":[\"terminate\",\"kill\"],\"description\":"
        "\"terminate to stop it gracefully, kill to force it.\"}},"
        "\"required\":[\"process_id\",\"signal\"],\"additionalProperties\":false}",
    .run = run,
};
