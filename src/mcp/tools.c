/* tools.c - the chat tools as MCP tools (tools/list): names, descriptions and input schemas
 * exactly as chat/tool.h defines them, plus MCP annotations, and the server's instructions. */
#include "mcp/internal.h"

#include "base/jw.h"
#include "base/log.h"

#include <string.h>

/* MCP's behaviour hints for the tools berth knows. A tool missing here gets none (clients then
 * assume the most cautious: not read-only, destructive, not idempotent, open world). */
struct annotation {
    const char *name;
    const char *title;
    bool read_only, destructive, idempotent, open_world;
};

static const struct annotation annotations[] = {
    {"list_templates", "List templates", true, false, true, false},
    {"read_template", "Read a template", true, false, true, false},
    /* Creates at most one workspace per chat, but a second call after a failed build makes a
     * new one: not idempotent. Only adds: not destructive. */
    {"create_workspace", "Create the workspace", false, false, false, false},
    {"start_workspace", "Start the workspace", false, false, true, false},
    /* Ends whatever runs in the workspace (files stay). */
    {"stop_workspace", "Stop the workspace", false, true, true, false},
    /* Any command: it may change or delete anything and reach any network. */
    {"execute", "Run a command", false, true, false, true},
    {"process_output", "Read a process's output", true, false, true, false},
    {"process_list", "List background processes", true, false, true, false},
    {"process_signal", "Signal a process", false, true, false, false},
    {"read_file", "Read a file", true, false, true, false},
    /* Replaces the whole file; the same content twice leaves the same file. */
    {"write_file", "Write a file", false, true, true, false},
    {"edit_files", "Edit files", false, true, false, false},
};

static const struct annotation *annotation_of(const char *name)
{
    for (size_t i = 0; i < sizeof annotations / sizeof annotations[0]; i++)
        if (strcmp(annotations[i].name, name) == 0)
            return &annotations[i];
    return NULL;
}

const char mcp_instructions[] =
    "berth runs development workspaces. These tools act on one berth chat and the workspace "
    "bound to it: in a session, the chat named by the Berth-Chat-Id header or a new chat "
    "created by the first tool call; in a stateless request, the chat named by Berth-Chat-Id or "
    "your chat titled \"MCP\". Find a template with list_templates and read_template, then "
    "create_workspace (or start_workspace for a stopped one): both wait until the workspace is "
    "built and its agent is ready, which can take minutes, and report progress while they "
    "wait. Work inside the workspace with execute, process_list, process_output, "
    "process_signal, read_file, write_file and edit_files, and stop_workspace when done. Tool "
    "failures come back as results with isError: true and a message to act on; a failed build "
    "is a result with an \"error\" and the \"build_id\" whose logs explain it.";

char *mcp_tools_json(void)
{
    size_t n;
    const struct tool_def *const *defs = tool_defs(&n);
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < n; i++) {
        const struct tool_def *t = defs[i];
        json_error_t je;
        json_t *schema = json_loads(t->input_schema, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(schema)) { /* a bug in the tool: chat's unit tests prevent it */
            log_error("mcp", "tool %s: input schema is not a JSON object: %s", t->name, je.text);
            json_decref(schema);
            schema = json_pack("{s:s}", "type", "object");
        }
        jw_object(&w);
        jw_kstr(&w, "name", t->name);
        jw_kstr(&w, "description", t->description);
        jw_key(&w, "inputSchema");
        jw_json(&w, schema);
        json_decref(schema);
        const struct annotation *a = annotation_of(t->name);
        if (a) {
            jw_key(&w, "annotations");
            jw_object(&w);
            jw_kstr(&w, "title", a->title);
            jw_kbool(&w, "readOnlyHint", a->read_only);
            if (!a->read_only) { /* meaningful only for tools that change something */
                jw_kbool(&w, "destructiveHint", a->destructive);
                jw_kbool(&w, "idempotentHint", a->idempotent);
            }
            jw_kbool(&w, "openWorldHint", a->open_world);
            jw_object_end(&w);
        }
        jw_object_end(&w);
    }
    jw_array_end(&w);
    return jw_take(&w, NULL);
}
