/* tool_process_list.c - process_list: the background processes the agent knows (reference
 * §3.6). */
#include "chat/internal.h"

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req = json_pack("{s:s}", "type", "process_list");
    json_t *r;
    if (tool_agent_request(env, agent_id, req, TOOL_AGENT_CALL_MS, call->cancel, "list processes",
                           &r, out) == 0)
        tool_result(out, r);
    json_decref(req);
}

const struct tool_def tool_process_list = {
    .name = "process_list",
    .description =
        "List the background processes of the chat's workspace: those started by execute with "
        "run_in_background, running or recently finished. Returns {processes: [{process_id, "
        "command, running, exit_code, started_at, duration_ms}]}. Use it to find a process id "
        "for process_output or process_signal.",
    .input_schema = "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}",
    .run = run,
};
