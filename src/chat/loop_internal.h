/* loop_internal.h - what the files of the chat loop share (loop.c, loop_tools.c). Not for use
 * outside src/chat/ (and its unit tests). */
#ifndef BERTH_CHAT_LOOP_INTERNAL_H
#define BERTH_CHAT_LOOP_INTERNAL_H

#include "chat/loop.h"

#include <jansson.h>

/* What the model reads for a tool call the person interrupted, and for one whose server was
 * killed while it ran. */
#define CHAT_TOOL_INTERRUPTED_TEXT "The user interrupted this tool call before it finished."
#define CHAT_TOOL_RESTART_TEXT                                                                     \
    "The server restarted while this tool call ran, so its outcome is unknown. Check the "         \
    "workspace's state before trying again."

/* Registers a call's cancel with the turn (triggered at once when the turn is already stopped),
 * and removes it. */
void turn_ctl_add(struct chat_turn_ctl *c, struct tool_cancel *cancel);
void turn_ctl_remove(struct chat_turn_ctl *c, struct tool_cancel *cancel);
/* Publishes ev (taken) on "chat:<id>". */
void turn_publish(const struct chat_turn *t, json_t *ev);
/* Stores a message of the turn (parts taken) and publishes {"kind": "message", "id"}; -1 with
 * *error (heap) when the store failed. */
int turn_store(const struct chat_turn *t, enum chat_role role, json_t *parts, char **error);
/* {type: "tool-result", tool_call_id, tool_name, result (taken), is_error}. */
json_t *turn_result_part(const char *id, const char *name, bool is_error, json_t *result);
/* Runs the calls in parallel and waits for them (or for the turn to stop); *results receives the
 * tool message's parts, one tool-result per call in call order (calls the turn stopped waiting
 * for are answered CHAT_TOOL_INTERRUPTED_TEXT). 0 when every call ended, -2 when the turn was
 * stopped. */
int chat_turn_run_tools(const struct chat_turn *t, const struct chat_loop_limits *lim,
                        const struct llm_tool_call *calls, size_t n, json_t **results);

#endif
