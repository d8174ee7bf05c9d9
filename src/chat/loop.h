/* loop.h - one turn of a chat: the model, the tools, repeat (the chat workers' inner part).
 *
 * A turn sends the chat's system prompt, its stored conversation and the tool schemas to the
 * provider, streams the reply (text deltas go to the chat's stream as they arrive), stores the
 * assistant message, runs the tool calls it asks for in parallel (each on its own thread, through
 * the same tool code as the tool endpoint), stores their results as one tool message, and
 * repeats until the model calls no tool or the step limit is reached.
 *
 * Failures of the model call that may be transient (429, 5xx, dropped connections) are retried
 * with exponential backoff and jitter (a provider's retry-after wins when it is longer); after
 * the last attempt the turn fails with the provider's message. A tool call the model got wrong
 * (unknown tool, arguments that are not a JSON object, wrong argument types) becomes a text
 * error result for the model and the loop goes on.
 *
 * Events: on the pubsub channel "chat:<chat id>" the turn publishes (payload: JSON text)
 *   {"kind": "message_part", "part": {"type": "text"|"reasoning", "text": "<delta>"}}
 *   {"kind": "message_part", "part": {"type": "tool-result", ...}}  (as each call ends)
 *   {"kind": "message", "id": <id>}                                  (after a message is stored)
 * Deltas are a live view only: the stored message is the truth.
 *
 * A turn is stopped from another thread through its chat_turn_ctl: an interrupt ends it at once
 * (the partial reply is stored, running tool calls are canceled and answered "interrupted"
 * without waiting for them); an abandon (server shutdown, lost lease) ends it without storing
 * anything more. Tool threads left running finish in the background and then give their hold
 * back (chat_turn.release).
 */
#ifndef BERTH_CHAT_LOOP_H
#define BERTH_CHAT_LOOP_H

#include "chat/provider.h"
#include "chat/tool.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of a turn; 0 fields take the defaults shown. */
struct chat_loop_limits {
    int max_steps;          /* model calls per turn: 100 */
    int max_attempts;       /* tries of one model call: 6 */
    int64_t backoff_ms;     /* the first retry's delay, doubled each time: 1000 */
    int64_t backoff_max_ms; /* 30000 */
    int max_tool_calls;     /* tool calls run per step (more are answered with an error): 32 */
    int max_resumes;        /* claims of one turn (server restarts) before it fails: 3 */
};

/* The limits with defaults filled in. */
struct chat_loop_limits chat_loop_limits_resolved(const struct chat_loop_limits *l);

/* How a turn is stopped from outside. */
enum chat_turn_stop { CHAT_TURN_RUN, CHAT_TURN_INTERRUPT, CHAT_TURN_ABANDON };

/* The stop switch of one running turn. Thread-safe. */
struct chat_turn_ctl {
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* monotonic clock: backoff sleeps */
    _Atomic int stop;            /* enum chat_turn_stop; set under mu, read without it */
    struct tool_cancel **active; /* cancels of the model call and tool calls in progress */
    size_t nactive, cap;
    pthread_mutex_t *wait_mu; /* the tool batch the turn waits on (woken by a stop) */
    pthread_cond_t *wait_cv;
};

void chat_turn_ctl_init(struct chat_turn_ctl *c);
void chat_turn_ctl_destroy(struct chat_turn_ctl *c);
/* Stops the turn: every call in progress is canceled and the turn returns as soon as it notices
 * (at once while it waits). An abandon wins over an interrupt. Idempotent. */
void chat_turn_ctl_stop(struct chat_turn_ctl *c, enum chat_turn_stop how);
/* How the turn was stopped (CHAT_TURN_RUN while it runs). */
enum chat_turn_stop chat_turn_ctl_state(struct chat_turn_ctl *c);

/* What a turn needs (all borrowed for the call, except as noted). */
struct chat_turn {
    struct store *st;
    struct pubsub *ps;
    struct llm_provider *provider;       /* NULL: none configured (the turn fails saying so) */
    const struct tool_env *env;          /* must outlive tool threads (see release) */
    const struct tool_def *const *tools; /* the tools offered (tool_defs() in the server) */
    size_t ntools;
    struct chat_loop_limits limits;
    const struct chat *chat; /* the claimed chat (attempts > 1: resumed) */
    struct chat_turn_ctl *ctl;
    /* A batch of tool calls takes a hold before its threads start and gives it back once the
     * last of them ended (possibly after the turn returned): hold returns the chat's workspace
     * lock for the calls (may be NULL). Both may be NULL. Thread-safe. */
    pthread_mutex_t *(*hold)(void *arg, const char *chat_id);
    void (*release)(void *arg, const char *chat_id);
    void *hold_arg;
};

enum chat_turn_end {
    CHAT_TURN_DONE,        /* the model answered (or was interrupted): the chat waits */
    CHAT_TURN_FAILED,      /* *error (heap) says why, for the person */
    CHAT_TURN_ABANDONED,   /* stopped without an end: leave the chat to be claimed again */
    CHAT_TURN_INTERRUPTED, /* the person interrupted it: the chat waits */
};

/* Runs one turn of t->chat. Blocks until the turn ends (minutes when tools wait). *error is set
 * (heap) only for CHAT_TURN_FAILED. Never touches the chat's status: the caller finishes the
 * turn in the store. */
enum chat_turn_end chat_turn_run(const struct chat_turn *t, char **error);

/* ---- the system prompt and workspace context (loop_context.c) ---- */

#define CHAT_CONTEXT_FILE_MAX (64 * 1024) /* bytes of one AGENTS.md given to the model */

/* Removes <!-- ... --> comments from s in place (an unterminated one runs to the end). */
void chat_strip_html_comments(char *s);
/* Reads AGENTS.md from the home and working directories of the chat's agent (the latest build's
 * chat agent, when it is ready) and returns the rendered <workspace-context> block (heap), or
 * NULL when there is no ready agent or neither file exists. Each file is cut to
 * CHAT_CONTEXT_FILE_MAX bytes (saying so) with HTML comments stripped. *agent_id receives the
 * agent read ("" when none). */
char *chat_context_load(const struct tool_env *env, const struct chat *chat, int64_t timeout_ms,
                        char agent_id[UUID_STR_LEN]);
/* The system prompt for the chat: who the model is, whether a workspace is attached (its name
 * when env can read it), and the workspace context (may be NULL). Heap. */
char *chat_system_prompt(const struct tool_env *env, const struct chat *chat, const char *context);

#endif
