/* tool_process_output.c - process_output: the output of a background process (or a snapshot of
 * it), waiting a while for it to finish first (reference §3.6). */
#include "chat/internal.h"

#include "base/str.h"

#include <stdlib.h>

#define WAIT_DEFAULT_MS 10000
#define WAIT_MAX_MS     300000 /* the agent's limit; longer waits are cut, not refused */

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *id, *wait;
    if (tool_arg_string(call->args, "process_id", &id, out) < 0 ||
        tool_arg_string(call->args, "wait_timeout", &wait, out) < 0)
        return;
    if (!id || !id[0]) {
        tool_text_error(out, "process_id is required");
        return;
    }
    int64_t wait_ms = WAIT_DEFAULT_MS;
    if (wait) {
        char *why = NULL;
        if (tool_duration(wait, &wait_ms, &why) < 0) {
            char *q = str_quote(wait);
            tool_text_error(out, "invalid wait_timeout %s: %s", q, why);
            free(q);
            free(why);
            return;
        }
    }
    if (wait_ms < 0) /* a negative wait is a snapshot, as zero is */
        wait_ms = 0;
    if (wait_ms > WAIT_MAX_MS)
        wait_ms = WAIT_MAX_MS;

    char agent_id[UUID_STR_LEN];
    if (tool_chat_agent(env, call, agent_id, out) < 0)
        return;
    json_t *req = json_pack("{s:s, s:s, s:I}", "type", "process_output", "process_id", id,
                            "wait_ms", (json_int_t)wait_ms);
    json_t *r;
    if (tool_agent_request(env, agent_id, req, wait_ms + TOOL_AGENT_CALL_MARGIN_MS, call->cancel,
                           "get process output", &r, out) == 0) {
        if (json_is_true(json_object_get(r, "running"))) {
            json_object_set_new(r, "success", json_true());
            json_object_set_new(r, "note", json_string("process is still running"));
        } else {
            json_t *code = json_object_get(r, "exit_code");
            json_object_set_new(
                r, "success", json_boolean(json_is_integer(code) && json_integer_value(code) == 0));
        }
        tool_result(out, r);
    }
    json_decref(req);
}

const struct tool_def tool_process_output = {
    .name = "process_output",
    .description =
        "Get the output of a background process started by execute with run_in_background "
        "(its background_process_id) or found with process_list. Waits up to wait_timeout "
        "(default 10s, at most 5m) for the process to exit, then returns {process_id, running, "
        "exit_code, output, truncated, duration_ms, success}; when the process is still running "
        "you get the output so far and note \"process is still running\" (call again to keep "
        "waiting). Use wait_timeout '0s' for an immediate snapshot.",
    .input_schema =
        "{\"type\":\"object\",\"properties\":{"
        "\"process_id\":{\"type\":\"string\",\"description\":\"The id of the process.\"},"
        "\"wait_timeout\":{\"type\":\"string\",\"description\":\"How long to wait for the process "
        "to exit, as a duration such as '30s' (default 10s, at most 5m; '0s' returns at "
        "once).\"}},"
        "\"required\":[\"process_id\"],\"additionalProperties\":false}",
    .run = run,
};
