/* harness.h - integration test helpers: run the real `berth server` on 127.0.0.1:0 with a
 * temporary data dir, talk to it over HTTP (libcurl), run CLI commands, build template
 * directories and archives.
 *
 * The binary comes from $BERTH_BIN (set by CTest). Everything here aborts the test (cmocka
 * fail) on an unexpected failure of the harness itself.
 */
#ifndef BERTH_TESTS_HARNESS_H
#define BERTH_TESTS_HARNESS_H

#include "testing.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct server {
    pid_t pid;
    char dir[256];      /* temporary root: data/, config/, scratch */
    char data_dir[300]; /* <dir>/data */
    char url[128];      /* http://127.0.0.1:PORT */
    char owner_token[64];
    char owner_id[40];
};

/* Starts a server with a fresh temporary directory (extra args may be NULL-terminated list or
 * NULL). */
void server_start(struct server *s, const char *const *extra_args);
/* Starts the server again on the same data dir (after stop or kill). */
void server_restart(struct server *s, const char *const *extra_args);
/* SIGTERM, then asserts a clean exit (status 0: under ASan, no leaks). */
void server_stop(struct server *s);
/* SIGKILL without cleanup (a crash). */
void server_kill(struct server *s);
/* Stops (if running) and removes the temporary directory. */
void server_destroy(struct server *s);
/* Creates the first user (an owner) and logs in: fills owner_token and owner_id. */
void server_bootstrap_owner(struct server *s);
/* Creates a user with roles (NULL-terminated; NULL = member) and returns a session token in
 * token (64 bytes). */
void server_create_user(struct server *s, const char *username, const char *const *roles,
                        char *token);

struct resp {
    long status;
    char *body;
    size_t len;
    json_t *json; /* parsed body or NULL */
};

/* A request with an optional JSON (or raw) body and token. Returns the status. */
long http_req(struct server *s, const char *method, const char *path, const char *token,
              const char *json_body, struct resp *out);
long http_raw(struct server *s, const char *method, const char *path, const char *token,
              const void *body, size_t len, const char *content_type, struct resp *out);
/* Like http_raw with extra header lines ("Name: value", NULL-terminated). */
long http_full(struct server *s, const char *method, const char *path, const char *token,
               const char *const *headers, const void *body, size_t len, const char *content_type,
               struct resp *out);
void resp_free(struct resp *r);
/* The response's "message" (or ""). */
const char *resp_message(const struct resp *r);
/* printf into a static-per-call heap string the test frees. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole SSE stream at path (until the server ends it or timeout_ms passes), returning
 * the data lines of "data" events as a JSON array of parsed values. */
json_t *sse_collect(struct server *s, const char *path, const char *token, long timeout_ms);

/* An SSE stream read by a thread of its own while the test goes on: open it before the actions
 * whose events it should see, then wait for events and stop it. */
struct sse_watch;
/* Opens the stream at path and returns once its first event (of any kind, such as a ping) has
 * arrived, so the server is known to be sending: events published after this are seen. */
struct sse_watch *sse_watch_start(struct server *s, const char *path, const char *token);
/* Like sse_watch_start, recording every event but pings, whatever its name, as
 * {"event": name, "data": parsed data}. */
struct sse_watch *sse_watch_start_all(struct server *s, const char *path, const char *token);
/* Waits until at least n "data" events have arrived (timeout_ms at most); returns how many
 * have. */
size_t sse_watch_wait(struct sse_watch *w, size_t n, long timeout_ms);
/* A copy of the "data" events so far (new reference). */
json_t *sse_watch_events(struct sse_watch *w);
/* Closes the stream, joins the thread and returns the "data" events as a JSON array of parsed
 * values (new reference); w is freed. */
json_t *sse_watch_stop(struct sse_watch *w);

/* Runs `berth <args...>` (NULL-terminated) against the server with the given token (may be
 * NULL) and an isolated config dir; captures stdout and stderr (caller frees). Returns the
 * exit status. stdin_text may be NULL. */
int run_cli(struct server *s, const char *token, const char *stdin_text, const char *const *args,
            char **out, char **err);

/* Writes files (pairs of path, content; NULL-terminated) under a new temp dir; returns its path
 * (heap). An entry whose content starts with "#!" is made executable. */
char *make_dir(struct server *s, const char *const *files);
/* Packs a directory with berth's deterministic tar writer (heap, *len). */
void *pack_dir(const char *dir, size_t *len);
/* Uploads an archive and creates a version; waits for the import job to end and returns the
 * version JSON (new reference). template_id may be NULL. */
json_t *push_version(struct server *s, const char *token, const char *dir, const char *template_id);
/* Polls GET /templateversions/{id} until its job is no longer pending or running. */
json_t *wait_version(struct server *s, const char *token, const char *version_id);
/* Pushes files as a new template named name (a version imported and promoted by creating the
 * template) with the owner token; returns the Template JSON (new reference). */
json_t *make_template(struct server *s, const char *name, const char *const *files);
/* Pushes files as a new version of an existing template (not promoted); returns the version. */
json_t *add_version(struct server *s, const char *template_id, const char *const *files);
/* Promotes a version (owner token). */
void promote(struct server *s, const char *template_id, const char *version_id);
/* Polls GET /workspacebuilds/{id} until its job is terminal; returns the build (new ref). */
json_t *wait_build(struct server *s, const char *token, const char *build_id);
/* POST /workspaces/{id}/builds with body; returns the status, response in out. */
long post_build(struct server *s, const char *token, const char *workspace_id, const char *body,
                struct resp *out);

/* The whole content of a file (heap), or NULL when it cannot be read. */
char *read_text(const char *path);
/* The built-in `local` template's provision program, from the source tree (heap). */
char *local_provision(void);

/* ---- workspaces of the `local` template: real agents ----
 * The `local` provision program starts a real `berth agent` process per workspace (in
 * bubblewrap when it works here). A test file that creates such workspaces deletes them at its
 * end and checks with wait_no_agent that no agent process outlives it. */

/* The local template's provision program with prelude (shell lines, may be "") run before it,
 * with the program's arguments ($1 is the transition). Heap. */
char *local_provision_with(const char *prelude);
/* A berth.yaml for it: top_yaml (top-level keys such as a parameters list, may be ""), then one
 * agent "main" (30 s connection time-out) whose entry ends with agent_yaml (its indented keys,
 * may be ""). Heap. */
char *local_manifest(const char *top_yaml, const char *agent_yaml);
/* Creates template name from local_manifest(top_yaml, agent_yaml) and provision (NULL: the local
 * template's own program) with the owner token; returns its id (heap). */
char *local_template_with(struct server *s, const char *name, const char *top_yaml,
                          const char *agent_yaml, const char *provision);
/* local_template_with without top-level keys, with the local template's program. */
char *local_template(struct server *s, const char *name, const char *agent_yaml);
/* Creates workspace name of template tid as the token's user and waits for its first build,
 * which must succeed. Returns the Workspace as created (new reference). */
json_t *create_ws(struct server *s, const char *token, const char *tid, const char *name);
/* Posts a build {"transition": transition} and waits for it; it must succeed. */
void run_build(struct server *s, const char *token, const char *ws_id, const char *transition);
/* The id of the first agent of a build (JSON WorkspaceBuild); heap. */
char *build_agent_id(const json_t *build);
/* The first agent of the workspace's latest build; heap. */
char *ws_agent_id(struct server *s, const char *token, const char *ws_id);
/* POST /api/experimental/chats as the token's user, bound to workspace_id when non-NULL (must
 * answer 201); the Chat, new reference. */
json_t *chat_create(struct server *s, const char *token, const char *workspace_id);
/* GET /api/experimental/chats/{id} (must answer 200); the Chat, new reference. */
json_t *chat_fetch(struct server *s, const char *token, const char *chat_id);
/* GET /workspaceagents/{id} (must answer 200); new reference. */
json_t *get_agent(struct server *s, const char *token, const char *agent_id);
/* Polls the agent until its field equals want (60 s at most, then the test fails); returns the
 * agent JSON (new reference). */
json_t *wait_agent_field(struct server *s, const char *token, const char *agent_id,
                         const char *field, const char *want);

/* Host pids (at most max) of `berth agent` processes whose HOME is dir or below it, in and out
 * of a sandbox. Returns how many. */
int agent_pids(const char *dir, pid_t *pids, int max);
/* Waits until no agent process of dir is left (10 s at most); returns how many are left. */
int wait_no_agent(const char *dir);
/* Whether a live (not zombie) process whose command line is exactly "sleep <arg>" exists. */
bool sleep_alive(const char *arg);

/* Removes a directory tree. */
void rmrf(const char *path);

/* A minimal valid berth.yaml plus an executable provision program, for make_dir. */
extern const char *const MINIMAL_TEMPLATE[];

#endif
