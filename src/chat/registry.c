/* registry.c - the list of chat tools and running one by name. */
#include "chat/internal.h"

#include <string.h>

static const struct tool_def *const all[] = {
    &tool_list_templates, &tool_read_template, &tool_create_workspace, &tool_start_workspace,
    &tool_stop_workspace, &tool_execute,       &tool_process_output,   &tool_process_list,
    &tool_process_signal, &tool_read_file,     &tool_write_file,       &tool_edit_files,
};

const struct tool_def *const *tool_defs(size_t *n)
{
    *n = sizeof all / sizeof all[0];
    return all;
}

const struct tool_def *tool_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void tool_run(const struct tool_env *env, const char *name, const struct tool_call *call,
              struct tool_answer *out)
{
    tool_answer_clear(out);
    const struct tool_def *t = tool_find(name);
    if (!t) {
        tool_text_error(out, "unknown tool \"%s\"", name ? name : "");
        return;
    }
    if (call->args && !json_is_object(call->args)) {
        tool_text_error(out, "invalid parameters: the arguments must be a JSON object");
        return;
    }
    t->run(env, call, out);
    if (!out->is_error && !out->result)
        tool_result(out, json_object());
}
