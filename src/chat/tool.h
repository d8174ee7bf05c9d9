/* tool.h - berth's chat tools: what a model calls to find templates, create, start and stop its
 * workspace, and work inside it.
 *
 * A tool is a plain function over injected dependencies (struct tool_env): the data it reads and
 * writes (struct tool_db, a seam: chat/tool_db.c backs it with the store, unit tests with
 * fakes), the workspace operations (create, start, stop as the chat's owner: chat/workspace_ops.c
 * over build/), the agent connection (dial: wait until reachable; call: send a request), an
 * on-chat-updated callback, a clock, and a way to wait for events. The same code serves the tool
 * endpoint, MCP and the chat loop.
 *
 * Every call answers exactly one of:
 *   - a text error: is_error true, a plain message for the model;
 *   - a result: a JSON object, is_error false;
 *   - a build error: the object {"error": "...", "build_id": "..."} with is_error false, so the
 *     build id survives for a log viewer; clients find the failure by the "error" key.
 * Arguments that do not decode (wrong types, missing required ones) are text errors; a tool call
 * never fails in any other way.
 *
 * Thread-safety: tool_run may be called from any number of threads at once; create_workspace,
 * start_workspace and stop_workspace of one chat serialize on call->workspace_mu, held through
 * their waits. The env and its callbacks must be thread-safe.
 */
#ifndef BERTH_CHAT_TOOL_H
#define BERTH_CHAT_TOOL_H

#include "base/err.h"
#include "build/build.h"
#include "store/store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- answers ---- */

struct tool_answer {
    bool is_error;
    char *text;     /* the text error (heap) when is_error; NULL otherwise */
    json_t *result; /* the result or build error object (owned) when !is_error */
};

/* Releases the answer's text and result; the struct may be reused. */
void tool_answer_clear(struct tool_answer *a);
/* Sets a text error (printf format), replacing whatever a held. */
void tool_text_error(struct tool_answer *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets a result; takes the reference to obj (a JSON object). */
void tool_result(struct tool_answer *a, json_t *obj);
/* Sets the build error {"error": msg, "build_id": build_id} (build_id omitted when NULL or
 * empty). */
void tool_build_error(struct tool_answer *a, const char *msg, const char *build_id);
/* The answer as the model reads it: the text of a text error, the compact JSON of a result.
 * Heap string owned by the caller. */
char *tool_answer_text(const struct tool_answer *a);

/* ---- cancellation ---- */

/* Set by another thread (an interrupted turn, an MCP notifications/cancelled) to stop a call's
 * waits at once. tool_cancel_init before use; tool_cancel_destroy after the call ended. */
struct tool_cancel {
    atomic_bool canceled;
    pthread_mutex_t lock;
    void (*wake)(void *arg); /* wakes the call's current wait; set by the waiting code */
    void *wake_arg;
};

void tool_cancel_init(struct tool_cancel *c);
void tool_cancel_destroy(struct tool_cancel *c);
/* Marks the call canceled and wakes its current wait. Thread-safe; idempotent. */
void tool_cancel_trigger(struct tool_cancel *c);
/* True once triggered. c may be NULL (never canceled). */
bool tool_cancel_is_set(struct tool_cancel *c);
/* Before a wait: makes wake(arg) what a trigger calls (under c's lock, so the wait it wakes must
 * outlive tool_cancel_disarm). False, with nothing registered, when c is canceled already. c may
 * be NULL (true). */
bool tool_cancel_arm(struct tool_cancel *c, void (*wake)(void *arg), void *arg);
/* After the wait: a trigger wakes nothing any more. c may be NULL. */
void tool_cancel_disarm(struct tool_cancel *c);

/* ---- dependencies ---- */

/* The data the tools read and write. Each function fills out (caller clears it with the store's
 * *_clear / *_list_free) and returns 0, or returns -1 with e set (ERR_NOT_FOUND when the row does
 * not exist). Strings are borrowed. Thread-safe. */
struct tool_db {
    void *arg;
    int (*chat_get)(void *arg, const char *chat_id, struct chat *out, struct err *e);
    /* UpdateChatWorkspaceBinding: overwrites all three of workspace, build and agent ("" or NULL
     * = none) and updated_at; out receives the updated chat. */
    int (*chat_bind)(void *arg, const char *chat_id, const char *workspace_id, const char *build_id,
                     const char *agent_id, struct chat *out, struct err *e);
    /* Sets only build and agent (the agent resolved for the exec and file tools). */
    int (*chat_bind_agent)(void *arg, const char *chat_id, const char *build_id,
                           const char *agent_id, struct err *e);
    int (*workspace_get)(void *arg, const char *id, struct workspace *out, struct err *e);
    int (*build_latest)(void *arg, const char *workspace_id, struct workspace_build *out,
                        struct err *e);
    int (*build_get)(void *arg, const char *id, struct workspace_build *out, struct err *e);
    int (*job_get)(void *arg, const char *id, struct job *out, struct err *e);
    /* The agents of the workspace's latest build, in display order (none: an empty list). */
    int (*agents_latest)(void *arg, const char *workspace_id, struct agent_list *out,
                         struct err *e);
    int (*agent_get)(void *arg, const char *id, struct workspace_agent *out, struct err *e);
    /* The build an agent belongs to. */
    int (*agent_build)(void *arg, const char *agent_id, char build_id[UUID_STR_LEN], struct err *e);
    int (*user_get)(void *arg, const char *id, struct user *out, struct err *e);
    /* Every template that is not deleted (deprecated ones included), ordered by name. */
    int (*templates)(void *arg, struct template_list *out, struct err *e);
    int (*template_get)(void *arg, const char *id, struct template_row *out, struct err *e);
    /* How many distinct owners have live workspaces of the template. */
    int (*template_owners)(void *arg, const char *template_id, int64_t *out, struct err *e);
    int (*version_params)(void *arg, const char *version_id, struct version_param_list *out,
                          struct err *e);
};

/* Workspace operations as the chat's owner. Failures keep the builder's kind, status and message
 * (a user-facing message, shown to the model as is), except failures below the builder
 * (ERR_INTERNAL), which the tools wrap. Thread-safe. */
struct tool_workspace_ops {
    void *arg;
    /* Creates a workspace and its first build. */
    int (*create)(void *arg, const char *owner_id, const struct workspace_create *req,
                  struct workspace *ws, struct workspace_build *build, struct err *e);
    /* Starts the workspace. When its template requires the active version the build is pinned
     * to it; a parameter-validation failure of such a pinned start whose version differs from
     * the previous build's is ERR_PARAM_VALIDATION with message TOOL_MANUAL_UPDATE_TEXT, a blank
     * line and the builder's detail. No build is created on failure. */
    int (*start)(void *arg, const char *owner_id, const char *workspace_id,
                 const struct build_param_value *params, size_t nparams,
                 struct workspace_build *out, struct err *e);
    int (*stop)(void *arg, const char *owner_id, const char *workspace_id,
                struct workspace_build *out, struct err *e);
};

#define TOOL_MANUAL_UPDATE_TEXT                                                                    \
    "The workspace needs the template's active version before it can start. Use read_template "    \
    "with this workspace's template_id to inspect the active version's required parameters, "      \
    "then retry start_workspace with a parameters object that supplies any missing or changed "    \
    "values. If the correct value for a parameter is not obvious from its description or "         \
    "defaults, ask the user rather than guessing."

/* The connection to workspace agents. Thread-safe. */
struct tool_agent {
    void *arg;
    /* Returns 0 once the agent is reachable (has a live connection), waiting at most
     * timeout_ms; -1 with e set otherwise (ERR_UNAVAILABLE, ERR_TIMEOUT, ERR_CANCELED). */
    int (*dial)(void *arg, const char *agent_id, int64_t timeout_ms, struct tool_cancel *cancel,
                struct err *e);
    /* Sends a request (see agent/ops.h) and waits for the answer (*result: a new reference).
     * When cancel (may be NULL) fires, returns ERR_CANCELED at once and asks the agent to stop
     * the request (a running command is terminated). */
    int (*call)(void *arg, const char *agent_id, const json_t *request, int64_t timeout_ms,
                struct tool_cancel *cancel, json_t **result, struct err *e);
};

/* Time and waiting. Thread-safe (a watch handle is used by one thread). */
struct tool_clock {
    void *arg;
    int64_t (*now_us)(void *arg);  /* wall clock (agent status) */
    int64_t (*mono_us)(void *arg); /* monotonic clock (deadlines) */
    /* Starts watching channels (NULL-terminated pubsub names) and returns a handle. Events are
     * counted from now on, so a caller watches first, then reads the state, then waits: nothing
     * published in between is missed. */
    void *(*watch)(void *arg, const char *const *channels);
    /* Blocks until an event arrived on the watched channels since the previous wait (or the
     * watch), timeout_ms passed, or the call was canceled. Returns false when canceled. */
    bool (*wait)(void *arg, void *watch, int64_t timeout_ms, struct tool_cancel *cancel);
    void (*unwatch)(void *arg, void *watch);
};

/* Deadlines and backstop polls in milliseconds; 0 takes the default shown. */
struct tool_waits {
    int64_t build_timeout_ms;     /* 10 min: a build to end */
    int64_t build_poll_ms;        /* 2 s: re-read the build even without an event */
    int64_t dial_timeout_ms;      /* 2 min: the agent to become reachable */
    int64_t dial_attempt_ms;      /* 5 s: one dial attempt */
    int64_t dial_interval_ms;     /* 2 s: between dial attempts */
    int64_t lifecycle_timeout_ms; /* 10 min: startup scripts to finish */
    int64_t lifecycle_poll_ms;    /* 2 s: re-read the agent even without an event */
};

struct tool_env {
    struct tool_db db;
    struct tool_workspace_ops ws;
    struct tool_agent agent;
    struct tool_clock clock;
    struct tool_waits waits;
    /* Called with the chat after every binding change and once more after the agent is ready
     * (so a chat loop can load workspace context). May be NULL. */
    void (*on_chat_updated)(void *arg, const struct chat *chat);
    void *on_chat_updated_arg;
    /* Template ids chat workspaces may use (NULL-terminated); NULL or empty allows all. */
    const char *const *template_allowlist;
};

/* One call of a tool. */
struct tool_call {
    const char *chat_id;           /* the chat the call acts for ("" or NULL: none) */
    const char *owner_id;          /* the chat's owner: every action runs as this user */
    pthread_mutex_t *workspace_mu; /* the chat's workspace lock (may be NULL) */
    const json_t *args;            /* the arguments object (borrowed; NULL = {}) */
    struct tool_cancel *cancel;    /* may be NULL */
    /* Progress while a tool waits (build log lines, agent state); may be NULL. */
    void (*progress)(void *arg, const char *message);
    void *progress_arg;
};

struct tool_def {
    const char *name;
    const char *description;  /* what the model reads */
    const char *input_schema; /* JSON Schema 2020-12 of the arguments (JSON text) */
    void (*run)(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out);
};

/* Every tool in a stable order (workspace tools first): an array of *n pointers. Static
 * storage. */
const struct tool_def *const *tool_defs(size_t *n);
/* The tool named name, or NULL. */
const struct tool_def *tool_find(const char *name);
/* Runs a tool: out is cleared first and always filled. An unknown name is a text error. */
void tool_run(const struct tool_env *env, const char *name, const struct tool_call *call,
              struct tool_answer *out);

/* ---- helpers shared by the tools (and unit-tested on their own) ---- */

/* The waits with defaults filled in. */
struct tool_waits tool_waits_resolved(const struct tool_waits *w);

/* waitForBuild: 0 when the build's job succeeded; otherwise -1 and *msg (heap) says why:
 * the job's error or "build failed", "build was canceled", "unexpected job status: <s>",
 * "get build: <e>", "get provisioner job: <e>", or "timed out waiting for workspace build:
 * context deadline exceeded" (or "context canceled"). */
int tool_wait_build(const struct tool_env *env, const struct tool_call *call, const char *build_id,
                    char **msg);

/* waitForAgentReady: merges into result what keeps the agent from being ready; nothing when
 * it is ready. With dial (phase 1): {agent_status: "not_ready", agent_error} when it never became
 * reachable. With lifecycle (phase 2): {startup_scripts: "startup_scripts_failed",
 * lifecycle_state} when startup ended otherwise than ready, "startup_scripts_timeout" past the
 * deadline, "startup_scripts_unknown" when canceled. */
void tool_wait_agent_ready(const struct tool_env *env, const struct tool_call *call,
                           const char *agent_id, bool dial, bool lifecycle, json_t *result);

/* An agent as agent selection sees it. */
struct tool_agent_ref {
    const char *id;
    const char *name;
    int display_order;
    bool child; /* a sub-agent (never chosen) */
};

#define TOOL_CHAT_AGENT_SUFFIX "-berth-chat"

/* Whether name ends in "-berth-chat", case-insensitively. */
bool tool_is_chat_agent(const char *name);
/* FindChatAgent: among root agents, the one whose name ends in the suffix, else the first by
 * (display order, lower-cased name, name, id). Returns its index, or -1 with *msg (heap):
 * "no eligible workspace agents found" or "multiple agents match the chat suffix
 * \"-berth-chat\": <names, ", ">; only one agent should use this suffix". */
int tool_find_chat_agent(const struct tool_agent_ref *agents, size_t n, char **msg);

/* The agent of the latest build chosen for the chat (selection over agents_latest): 0 with
 * out filled (caller clears it); -1 with *no_agents when the build has none; -1 with *msg
 * (heap, caller frees) when selection failed (tool_find_chat_agent's message); -2 with *msg
 * "list agents: <e>" when the agents could not be read (start and create report that as the
 * reference does: no agent, or nothing). */
int tool_select_agent(const struct tool_env *env, const char *workspace_id,
                      struct workspace_agent *out, bool *no_agents, char **msg);

/* Binds the chat to (workspace, build, no agent) and, when that worked, publishes the updated
 * chat; a failed binding is not an error for the tool (it goes on without it). */
void tool_bind_build(const struct tool_env *env, const struct tool_call *call,
                     const char *workspace_id, const char *build_id);

/* Publishes a chat after a change through env->on_chat_updated (re-reading it when chat is
 * NULL). */
void tool_chat_updated(const struct tool_env *env, const struct tool_call *call,
                       const struct chat *chat);

#endif
