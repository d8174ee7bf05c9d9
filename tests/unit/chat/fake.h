/* fake.h - an in-memory struct tool_env for the unit tests of the chat tools.
 *
 * One struct fake holds everything a tool can reach: rows (users, chats, workspaces, builds and
 * their jobs, agents, templates, version parameters), the workspace operations (create, start,
 * stop), the agent connection (dial, call), the on-chat-updated callback and a fake clock. Pass
 * &f->env and &f->call to a tool. Everything a tool does is counted (f->calls[FAKE_...]) and
 * recorded with its arguments; any function can be made to fail; hooks change the state while a
 * tool runs.
 *
 * Typical use:
 *
 *     struct fake *f = fake_new();
 *     struct workspace *ws = fake_workspace(f, "dev");
 *     fake_chat(f, ws->id);                              // f->call.chat_id is this chat
 *     struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
 *     fake_agent(f, b->id, "main");                      // connected and ready
 *     f->handler = my_agent;                             // answers agent.call requests
 *     json_t *r = fake_ok(f, &tool_execute, "{\"command\": \"ls\"}");
 *     ...
 *     fake_free(f);                                      // frees rows, records and answers
 *
 * Rows live in fixed arrays: the pointers the helpers return stay valid until fake_free, and a
 * test may change any field through them (heap strings must be heap: xstrdup). Reads hand out
 * deep copies, as the store does. Ids are fresh UUIDv7s (increasing); overwrite them with
 * str_copy when a test needs particular ones.
 *
 * Not thread-safe: one test thread, and hooks run on it.
 */
#ifndef BERTH_TESTS_UNIT_CHAT_FAKE_H
#define BERTH_TESTS_UNIT_CHAT_FAKE_H

#include "chat/internal.h"

#include "agentconn/agentconn.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX        16 /* rows of each kind */
#define FAKE_RECORD_MAX 32 /* recorded calls of each kind */
#define FAKE_PARAMS_MAX 8  /* parameters recorded per start or create call */

/* Every function of the env, to count calls, inject failures and name them in hooks. */
enum fake_fn {
    FAKE_CHAT_GET,
    FAKE_CHAT_BIND,
    FAKE_CHAT_BIND_AGENT,
    FAKE_WORKSPACE_GET,
    FAKE_BUILD_LATEST,
    FAKE_BUILD_GET,
    FAKE_JOB_GET,
    FAKE_AGENTS_LATEST,
    FAKE_AGENT_GET,
    FAKE_AGENT_BUILD,
    FAKE_USER_GET,
    FAKE_TEMPLATES,
    FAKE_TEMPLATE_GET,
    FAKE_TEMPLATE_OWNERS,
    FAKE_VERSION_PARAMS,
    FAKE_CREATE,
    FAKE_START,
    FAKE_STOP,
    FAKE_DIAL,
    FAKE_CALL,
    FAKE_CHAT_UPDATED,
    FAKE_WAIT,
    FAKE_FN_COUNT
};

/* A row kept with what the real tables hold beside it. */
struct fake_agent {
    struct workspace_agent row;
    char build_id[UUID_STR_LEN]; /* the build the agent belongs to */
};
struct fake_template {
    struct template_row row;
    int64_t owners; /* what template_owners answers */
};
struct fake_param {
    char version_id[UUID_STR_LEN];
    struct version_param row;
};

/* An injected failure: calls after the first `skip` fail, `times` of them (-1: all). */
struct fake_fail {
    bool on;
    int skip, times, failed;
    struct err err; /* what the call fails with (add a detail or validations freely) */
};

/* Recorded calls. */
struct fake_binding { /* chat_bind, chat_bind_agent (no workspace), on_chat_updated */
    char chat_id[UUID_STR_LEN];
    char workspace_id[UUID_STR_LEN];
    char build_id[UUID_STR_LEN];
    char agent_id[UUID_STR_LEN];
};
struct fake_ws_call { /* create, start, stop */
    char owner_id[UUID_STR_LEN];
    char workspace_id[UUID_STR_LEN]; /* start, stop; create: the workspace it made */
    char name[NAME_MAX_LEN + 1];     /* create */
    char template_id[UUID_STR_LEN];  /* create */
    char template_version_id[UUID_STR_LEN];
    bool has_ttl;
    int64_t ttl_ms;
    size_t nparams;
    char *param_names[FAKE_PARAMS_MAX], *param_values[FAKE_PARAMS_MAX]; /* heap */
    char build_id[UUID_STR_LEN]; /* the build it made ("" when it failed) */
};
struct fake_dial {
    char agent_id[UUID_STR_LEN];
    int64_t timeout_ms;
};
struct fake_call {
    char agent_id[UUID_STR_LEN];
    json_t *request; /* a deep copy (owned by the fake) */
    int64_t timeout_ms;
};

/* A change applied once a row was read `reads` times (by job_get or agent_get). */
struct fake_change {
    char id[UUID_STR_LEN];
    int reads, seen;
    bool done;
    bool is_job;
    enum job_status status; /* jobs */
    char error[256];
    enum agent_lifecycle lifecycle; /* agents */
};

struct fake {
    struct tool_env env;   /* every function's arg is the fake */
    struct tool_call call; /* owner_id: the owner; chat_id: the last chat fake_chat made */

    struct user users[FAKE_MAX];
    size_t nusers;
    struct user *owner; /* users[0], made by fake_new */
    struct chat chats[FAKE_MAX];
    size_t nchats;
    struct workspace workspaces[FAKE_MAX];
    size_t nworkspaces;
    struct workspace_build builds[FAKE_MAX];
    size_t nbuilds;
    struct job jobs[FAKE_MAX];
    size_t njobs;
    struct fake_agent agents[FAKE_MAX];
    size_t nagents;
    struct fake_template templates[FAKE_MAX];
    size_t ntemplates;
    struct fake_param params[FAKE_MAX * 2];
    size_t nparams;
    const char *allowlist[FAKE_MAX + 1]; /* env.template_allowlist points here after fake_allow */
    size_t nallow;

    /* The clock: wait() advances both clocks by its timeout at once, so deadlines pass
     * instantly, then runs on_wait. */
    int64_t now_us, mono_us;
    const char *wait_channels[8]; /* the channels of the last watch (copied; NULL-terminated) */
    void (*on_wait)(struct fake *f, int64_t timeout_ms, void *arg);
    void *on_wait_arg;

    int calls[FAKE_FN_COUNT];
    struct fake_fail fail[FAKE_FN_COUNT];
    /* Runs after every call of the env (fn; key: the id it was called with, or NULL), after its
     * answer was copied out: a change made here is seen by the next call. */
    void (*after)(struct fake *f, enum fake_fn fn, const char *key, void *arg);
    void *after_arg;
    struct fake_change changes[FAKE_MAX];
    size_t nchanges;

    /* What the workspace operations make: builds whose jobs have this status (default
     * pending; new_job_error: the job's error when it is JOB_FAILED, NULL: "build failed"), on
     * this version (start; "" = the previous build's). new_agents (NULL-terminated names, NULL:
     * none) are the agents each build made by create or start gets, in that order, made as
     * fake_agent makes them (connected, ready). */
    enum job_status new_job_status;
    const char *new_job_error;
    char start_version_id[UUID_STR_LEN];
    const char *const *new_agents;

    /* The agent: answers agent.call (NULL: an empty object); dial succeeds unless it fails by
     * fake_fail or dial_handler (a failing dial advances the clocks by its timeout). */
    int (*handler)(struct fake *f, const char *agent_id, const json_t *request, json_t **result,
                   struct err *e);
    void *handler_arg;
    int (*dial_handler)(struct fake *f, const char *agent_id, struct err *e);

    struct fake_binding binds[FAKE_RECORD_MAX];
    size_t nbinds;
    struct fake_binding bind_agents[FAKE_RECORD_MAX];
    size_t nbind_agents;
    struct fake_binding updates[FAKE_RECORD_MAX]; /* on_chat_updated */
    size_t nupdates;
    struct fake_ws_call creates[FAKE_RECORD_MAX], starts[FAKE_RECORD_MAX], stops[FAKE_RECORD_MAX];
    size_t ncreates, nstarts, nstops;
    struct fake_dial dials[FAKE_RECORD_MAX];
    size_t ndials;
    struct fake_call agent_calls[FAKE_RECORD_MAX];
    size_t nagent_calls;

    struct tool_answer answers[FAKE_RECORD_MAX]; /* kept by fake_ok / fake_error */
    size_t nanswers;
    json_t *args[FAKE_RECORD_MAX];
    size_t nargs;
};

/* A fake with one user (f->owner) and the clock at a fixed instant. Free with fake_free. */
struct fake *fake_new(void);
void fake_free(struct fake *f);
const char *fake_fn_name(enum fake_fn fn);

/* ---- rows ---- */
struct user *fake_user(struct fake *f, const char *username);
/* A chat of the owner bound to workspace_id (NULL: none); f->call.chat_id becomes its id. */
struct chat *fake_chat(struct fake *f, const char *workspace_id);
/* A workspace of the owner on template_id (NULL: none). */
struct workspace *fake_workspace(struct fake *f, const char *name, const char *template_id);
/* The workspace's next build (number previous + 1, the previous build's version) and its job
 * in the given status (fake_job_set). */
struct workspace_build *fake_build(struct fake *f, const char *workspace_id, enum transition t,
                                   enum job_status s);
/* The workspace's latest build, or NULL. */
struct workspace_build *fake_latest_build(struct fake *f, const char *workspace_id);
struct job *fake_job(struct fake *f, const char *job_id);
/* Sets a job's status the way the store derives it (timestamps, and error for failed). */
void fake_job_set(struct fake *f, struct job *j, enum job_status s, const char *error);
/* An agent of the build: created and connected now, lifecycle ready, display order 0. */
struct workspace_agent *fake_agent(struct fake *f, const char *build_id, const char *name);
/* Sets the connection times so that agentconn_status gives s at f->now_us. */
void fake_agent_status(struct fake *f, struct workspace_agent *a, enum agent_status s);
struct fake_agent *fake_agent_entry(struct fake *f, const char *agent_id);
/* A template with a fresh active version id. */
struct template_row *fake_template(struct fake *f, const char *name);
struct fake_template *fake_template_entry(struct fake *f, const char *template_id);
/* A parameter of a version: type "string", nothing else set. */
struct version_param *fake_param(struct fake *f, const char *version_id, const char *name);
/* A running workspace "dev" with a chat bound to it (f->call.chat_id), its succeeded start build
 * and one connected, ready agent named agent_name, which is returned. */
struct workspace_agent *fake_running(struct fake *f, const char *agent_name);
/* Adds a template id to the allowlist (which then restricts the templates). */
void fake_allow(struct fake *f, const char *template_id);

/* ---- behaviour ---- */
/* Makes every call of fn fail with kind and message. */
void fake_fail(struct fake *f, enum fake_fn fn, enum err_kind kind, const char *msg);
/* Makes `times` calls of fn (-1: all) fail after the first `skip` succeeded. */
void fake_fail_n(struct fake *f, enum fake_fn fn, int skip, int times, enum err_kind kind,
                 const char *msg);
/* After job_get read the job `reads` times, its status becomes s (with error, may be NULL):
 * "the job is completed after the tool reads it". */
void fake_job_after_reads(struct fake *f, const char *job_id, int reads, enum job_status s,
                          const char *error);
/* After agent_get read the agent `reads` times, its lifecycle becomes l. */
void fake_agent_after_reads(struct fake *f, const char *agent_id, int reads,
                            enum agent_lifecycle l);

/* ---- running tools (cmocka assertions) ---- */
/* Runs def with args (JSON text; NULL: no arguments) as f->call; out is filled. */
void fake_run(struct fake *f, const struct tool_def *def, const char *args,
              struct tool_answer *out);
/* Runs def and asserts a result (not a text error); returns it (owned by the fake). */
json_t *fake_ok(struct fake *f, const struct tool_def *def, const char *args);
/* Runs def and asserts a text error; returns its text (owned by the fake). */
const char *fake_error(struct fake *f, const struct tool_def *def, const char *args);

/* ---- result accessors (cmocka assertions: the member must exist with that type) ---- */
const char *fake_str(const json_t *obj, const char *key);
int64_t fake_int(const json_t *obj, const char *key);
bool fake_bool(const json_t *obj, const char *key);
/* Asserts that obj has exactly these members (NULL-terminated list, any order). */
void fake_keys(const json_t *obj, ...) __attribute__((sentinel));

#endif
