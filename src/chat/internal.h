/* internal.h - what the chat module's files share: the tool definitions, argument decoding and
 * the resolution of the chat's agent. Not for use outside src/chat/. */
#ifndef BERTH_CHAT_INTERNAL_H
#define BERTH_CHAT_INTERNAL_H

#include "chat/tool.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* One definition per tool, each in its own file (tool_<name>.c). */
extern const struct tool_def tool_list_templates;
extern const struct tool_def tool_read_template;
extern const struct tool_def tool_create_workspace;
extern const struct tool_def tool_start_workspace;
extern const struct tool_def tool_stop_workspace;
extern const struct tool_def tool_execute;
extern const struct tool_def tool_process_output;
extern const struct tool_def tool_process_list;
extern const struct tool_def tool_process_signal;
extern const struct tool_def tool_read_file;
extern const struct tool_def tool_write_file;
extern const struct tool_def tool_edit_files;

/* ---- arguments (args.c) ----
 * Each decoder reads one member of the arguments object (args may be NULL: no arguments). An
 * absent or null member leaves the output at its "absent" value and returns 0; a member of the
 * wrong type sets the text error `invalid parameters: "<name>" must be <what>` on a and
 * returns -1. Strings are borrowed from args. */

/* A string; *out = NULL when absent. */
int tool_arg_string(const json_t *args, const char *name, const char **out, struct tool_answer *a);
/* An integer (a JSON integer, or a real with no fraction); *present = false when absent. */
int tool_arg_int(const json_t *args, const char *name, bool *present, int64_t *out,
                 struct tool_answer *a);
/* A boolean; *out unchanged when absent. */
int tool_arg_bool(const json_t *args, const char *name, bool *out, struct tool_answer *a);
/* An object whose values are strings, numbers or booleans (numbers and booleans are taken as
 * their JSON text). On success *out is a heap array of *n pairs (names and values heap too;
 * free with tool_params_free), NULL/0 when absent. */
int tool_arg_params(const json_t *args, const char *name, struct build_param_value **out, size_t *n,
                    struct tool_answer *a);
void tool_params_free(struct build_param_value *p, size_t n);
/* A duration argument the way Go's time.ParseDuration reads it, over duration_parse's units (ms,
 * s, m, h, decimals, "0") with an optional leading sign: 0 and *ms (may be negative), or -1 and
 * *why (heap) in Go's words: `time: invalid duration "<s>"`, `time: missing unit in duration
 * "<s>"`, `time: unknown unit "<u>" in duration "<s>"`. */
int tool_duration(const char *s, int64_t *ms, char **why);

/* ---- results (fields.c) ---- */

/* Sets obj[key] to text with surrounding whitespace trimmed, cut to max_runes code points when
 * max_runes > 0; nothing when text is NULL or only whitespace. */
void tool_set_trimmed(json_t *obj, const char *key, const char *text, size_t max_runes);
/* Whether env->template_allowlist lets chats use the template (NULL or empty allows all). */
bool tool_template_allowed(const struct tool_env *env, const char *template_id);

/* ---- the chat's agent (agent.c) ----
 * The agent the exec and file tools act on: the chat's bound agent when it belongs to the
 * workspace's latest build, else the chat agent of the latest build (tool_select_agent), then
 * remembered on the chat (chat_bind_agent). A disconnected or timed-out agent is refused. On
 * failure sets the text error on a (the reference's texts: "no workspace is associated with this
 * chat. Use the create_workspace tool to create one", "workspace has no running agent: the
 * workspace is likely stopped. Use the start_workspace tool to start it", "find chat agent:
 * <e>", ...) and returns -1. */
int tool_chat_agent(const struct tool_env *env, const struct tool_call *call,
                    char agent_id[UUID_STR_LEN], struct tool_answer *a);

/* How long the exec and file tools wait for the agent's answer: TOOL_AGENT_CALL_MS for quick
 * requests; a request that itself waits (a foreground command, a process_output wait) gets its
 * own time plus TOOL_AGENT_CALL_MARGIN_MS. */
#define TOOL_AGENT_CALL_MS        60000
#define TOOL_AGENT_CALL_MARGIN_MS 30000

/* Sends request to the agent (env->agent.call; cancel, may be NULL, ends it early and stops the
 * request in the workspace). On failure sets the text error on a and returns -1: "<prefix>: "
 * when prefix is non-NULL, then the error's message, ": <detail>" when it has one, and
 * "\n- <field>: <detail>" per validation (the agent's "Validation failed." names the field). On
 * success *result is a new reference. */
int tool_agent_request(const struct tool_env *env, const char *agent_id, const json_t *request,
                       int64_t timeout_ms, struct tool_cancel *cancel, const char *prefix,
                       json_t **result, struct tool_answer *a);

/* Loads the chat's workspace (live) with its latest build and job for start and stop; on
 * failure sets the reference's text error ("load chat: <e>", "chat has no workspace; use
 * create_workspace first", "load workspace: <e>", "workspace was deleted; use create_workspace
 * to make a new one", "get latest build: <e>", "get provisioner job: <e>") and returns -1. */
int tool_load_chat_workspace(const struct tool_env *env, const struct tool_call *call,
                             struct workspace *ws, struct workspace_build *build, struct job *job,
                             struct tool_answer *out);

/* ---- workspace operations as the chat's owner (workspace_ops.c) ---- */

struct chat_ws_ctx {
    struct store *st;
    struct pubsub *ps;
};

/* Fills ops with the real create/start/stop over build/ (see struct tool_workspace_ops). ctx is
 * borrowed and must outlive ops. */
void chat_workspace_ops(struct tool_workspace_ops *ops, struct chat_ws_ctx *ctx);

#endif
