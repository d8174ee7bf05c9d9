/* store.h - typed access to berth's data.
 *
 * One `struct store` is shared by every thread of the process; each thread transparently gets
 * its own database connection (opened on first use, closed when the thread exits or the store
 * closes). Statements are prepared once per connection. Writes are serialized inside the process
 * (so they never spin on the database's busy handler) and run in `BEGIN IMMEDIATE`
 * transactions. The backend is chosen by the URL given to store_open(); callers never see SQL.
 *
 * Errors: ERR_NOT_FOUND when a row does not exist, ERR_CONFLICT on a uniqueness violation,
 * ERR_INTERNAL for anything else (the message says what the database said).
 *
 * Ownership: row structs passed as `out` are filled by the store and owned by the caller, who
 * releases them with the matching *_clear(); lists are released with the *_list_free() given.
 * String arguments are borrowed.
 */
#ifndef BERTH_STORE_STORE_H
#define BERTH_STORE_STORE_H

#include "base/err.h"
#include "store/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* Opens the store at url: "sqlite:<path>" or a plain file path (SQLite, WAL mode), creating the
 * file, and applies pending migrations. "postgres://..." is refused with ERR_BAD_REQUEST until
 * the PostgreSQL backend exists. Returns NULL on failure. Thread-safe once open. */
struct store *store_open(const char *url, struct err *e);
/* Closes every connection. All other threads must have stopped using the store. */
void store_close(struct store *st);
/* The schema version after migrations (the highest applied migration number). */
int store_schema_version(struct store *st);
/* Writes a consistent copy of the whole database to path (which must not exist), while the
 * store keeps serving. ERR_CONFLICT when path exists. */
int store_backup(struct store *st, const char *path, struct err *e);

/* Transactions on the calling thread's connection. Not nested. Between begin and commit the
 * thread holds the process's write lock: keep transactions short and never wait inside one. */
int store_tx_begin(struct store *st, struct err *e);
int store_tx_commit(struct store *st, struct err *e);
/* Rolls back if a transaction is open; safe to call when none is. */
void store_tx_rollback(struct store *st);

/* ---- users ---- */
void user_clear(struct user *u);
int store_user_insert(struct store *st, const struct user *u, struct err *e);
int store_user_get(struct store *st, const char *id, struct user *out, struct err *e);
/* Lookup by e-mail or by username, case-insensitively, among non-deleted users. */
int store_user_get_by_email(struct store *st, const char *email, struct user *out, struct err *e);
int store_user_get_by_username(struct store *st, const char *username, struct user *out,
                               struct err *e);
int store_user_count(struct store *st, int64_t *out, struct err *e);
struct user_list {
    struct user *items;
    size_t n;
};
/* All non-deleted users ordered by creation. */
int store_user_list(struct store *st, struct user_list *out, struct err *e);
void user_list_free(struct user_list *l);

/* ---- API keys ---- */
int store_api_key_insert(struct store *st, const struct api_key *k, struct err *e);
int store_api_key_get(struct store *st, const char *id, struct api_key *out, struct err *e);
/* Records use: last_used, and expires_at (unchanged when 0). */
int store_api_key_touch(struct store *st, const char *id, int64_t last_used, int64_t expires_at,
                        struct err *e);
int store_api_key_delete(struct store *st, const char *id, struct err *e);

/* ---- files ---- */
void file_row_clear(struct file_row *f);
/* Inserts a file; ERR_CONFLICT when a file with the same id (hash) exists. */
int store_file_insert(struct store *st, const struct file_row *f, struct err *e);
/* Gets a file; with_data loads the content into out->data. */
int store_file_get(struct store *st, const char *id, bool with_data, struct file_row *out,
                   struct err *e);

/* ---- templates ---- */
void template_row_clear(struct template_row *t);
int store_template_insert(struct store *st, const struct template_row *t, struct err *e);
int store_template_get(struct store *st, const char *id, struct template_row *out, struct err *e);
/* Lookup by name (case-insensitive) among non-deleted templates. */
int store_template_get_by_name(struct store *st, const char *name, struct template_row *out,
                               struct err *e);
struct template_list {
    struct template_row *items;
    size_t n;
};
/* Non-deleted templates ordered by name. */
int store_template_list(struct store *st, struct template_list *out, struct err *e);
void template_list_free(struct template_list *l);
/* Writes the mutable settings of t (display_name, description, icon, require_active_version,
 * deprecated, default_ttl_ms, activity_bump_ms, allow_user_cancel_workspace_jobs, updated_at). */
int store_template_update(struct store *st, const struct template_row *t, struct err *e);
int store_template_set_active_version(struct store *st, const char *id, const char *version_id,
                                      int64_t now, struct err *e);
int store_template_delete(struct store *st, const char *id, int64_t now, struct err *e);

/* ---- template versions ---- */
void template_version_clear(struct template_version *v);
int store_version_insert(struct store *st, const struct template_version *v, struct err *e);
int store_version_get(struct store *st, const char *id, struct template_version *out,
                      struct err *e);
int store_version_get_by_job(struct store *st, const char *job_id, struct template_version *out,
                             struct err *e);
/* The version of a template with that name (case-insensitive). */
int store_version_get_by_name(struct store *st, const char *template_id, const char *name,
                              struct template_version *out, struct err *e);
struct version_list {
    struct template_version *items;
    size_t n;
};
/* A template's versions, oldest first. */
int store_version_list(struct store *st, const char *template_id, struct version_list *out,
                       struct err *e);
void version_list_free(struct version_list *l);
/* Attaches a version to a template (ERR_CONFLICT when the name is taken there). */
int store_version_set_template(struct store *st, const char *id, const char *template_id,
                               int64_t now, struct err *e);
/* Stores what the import job learned: readme, display_name, description, icon, provision,
 * provision_timeout_ms (from v). */
int store_version_set_import_result(struct store *st, const struct template_version *v,
                                    struct err *e);
int store_version_set_archived(struct store *st, const char *id, bool archived, int64_t now,
                               struct err *e);
/* True when a version of this template already has that name. */
int store_version_name_taken(struct store *st, const char *template_id, const char *name, bool *out,
                             struct err *e);

void version_param_clear(struct version_param *p);
void version_agent_clear(struct version_agent *a);
void version_script_clear(struct version_script *s);
int store_version_param_insert(struct store *st, const char *version_id,
                               const struct version_param *p, struct err *e);
int store_version_agent_insert(struct store *st, const char *version_id,
                               const struct version_agent *a, struct err *e);
int store_version_script_insert(struct store *st, const char *version_id,
                                const struct version_script *s, struct err *e);
struct version_param_list {
    struct version_param *items;
    size_t n;
};
struct version_agent_list {
    struct version_agent *items;
    size_t n;
};
struct version_script_list {
    struct version_script *items;
    size_t n;
};
/* A version's parameters, agents and scripts in display order. */
int store_version_params(struct store *st, const char *version_id, struct version_param_list *out,
                         struct err *e);
int store_version_agents(struct store *st, const char *version_id, struct version_agent_list *out,
                         struct err *e);
int store_version_scripts(struct store *st, const char *version_id, struct version_script_list *out,
                          struct err *e);
void version_param_list_free(struct version_param_list *l);
void version_agent_list_free(struct version_agent_list *l);
void version_script_list_free(struct version_script_list *l);

/* ---- provisioner jobs ---- */
void job_clear(struct job *j);
int store_job_insert(struct store *st, const struct job *j, struct err *e);
int store_job_get(struct store *st, const char *id, struct job *out, struct err *e);
/* Claims the oldest pending job (started_at and completed_at unset): sets started_at =
 * updated_at = now and worker_id. Returns 1 with *out filled, 0 when nothing is pending. One
 * claimer per job, even across threads. */
int store_job_claim(struct store *st, const char *worker_id, int64_t now, struct job *out,
                    struct err *e);
/* Heartbeat: updated_at = now, only while the job is claimed by worker_id and not completed.
 * *canceled tells whether a cancel was requested. ERR_CONFLICT when the worker no longer owns
 * the job or it completed. */
int store_job_heartbeat(struct store *st, const char *id, const char *worker_id, int64_t now,
                        bool *canceled, struct err *e);
/* Completes a job: completed_at = now, error (may be "" = success). Only once: ERR_CONFLICT when
 * it already completed. When worker_id is non-NULL the worker must own the job. */
int store_job_complete(struct store *st, const char *id, const char *worker_id, int64_t now,
                       const char *error, const char *error_code, struct err *e);
/* Requests cancellation: canceled_at = now, and completed_at = now when no worker claimed it.
 * ERR_CONFLICT when the job already completed or a cancel was already requested. */
int store_job_cancel(struct store *st, const char *id, int64_t now, struct err *e);
struct job_list {
    struct job *items;
    size_t n;
};
/* Incomplete jobs claimed by worker_id (for recovery at start). */
int store_job_list_by_worker(struct store *st, const char *worker_id, struct job_list *out,
                             struct err *e);
/* Up to limit incomplete jobs idle too long: running with updated_at < running_before, or
 * pending with updated_at < pending_before. */
int store_job_list_hung(struct store *st, int64_t running_before, int64_t pending_before, int limit,
                        struct job_list *out, struct err *e);
void job_list_free(struct job_list *l);

/* ---- job logs ---- */
void job_log_clear(struct job_log *l);
/* Appends logs in order; assigns ids (monotone) into logs[i].id and adds their output bytes to
 * the job's logs_length. */
int store_job_logs_insert(struct store *st, const char *job_id, struct job_log *logs, size_t n,
                          struct err *e);
/* Marks the job's logs as overflowed. */
int store_job_logs_overflow(struct store *st, const char *job_id, struct err *e);
struct job_log_list {
    struct job_log *items;
    size_t n;
};
/* Logs of a job with id > after, oldest first, at most limit (0 = all). */
int store_job_logs_after(struct store *st, const char *job_id, int64_t after, int limit,
                         struct job_log_list *out, struct err *e);
void job_log_list_free(struct job_log_list *l);

/* ---- workspaces ---- */
void workspace_clear(struct workspace *w);
/* ERR_CONFLICT when the owner has a live workspace with that name (case-insensitive). */
int store_workspace_insert(struct store *st, const struct workspace *w, struct err *e);
int store_workspace_get(struct store *st, const char *id, struct workspace *out, struct err *e);
/* A live (not deleted) workspace of owner_id by name, case-insensitively. */
int store_workspace_get_by_name(struct store *st, const char *owner_id, const char *name,
                                struct workspace *out, struct err *e);
struct workspace_list {
    struct workspace *items;
    size_t n;
};
/* Live workspaces, of one owner (owner_id non-NULL) or all, ordered by owner then name. */
int store_workspace_list(struct store *st, const char *owner_id, struct workspace_list *out,
                         struct err *e);
void workspace_list_free(struct workspace_list *l);
int store_workspace_set_deleted(struct store *st, const char *id, int64_t now, struct err *e);
/* Live workspaces built from a template. */
int store_workspace_count_by_template(struct store *st, const char *template_id, int64_t *out,
                                      struct err *e);
/* How many distinct users own live workspaces built from a template. */
int store_template_owner_count(struct store *st, const char *template_id, int64_t *out,
                               struct err *e);

/* Everything the Workspace JSON needs, read in one query. Strings are owned by the view. */
struct workspace_view {
    struct workspace ws;
    char owner_name[NAME_MAX_LEN + 1];
    char template_name[NAME_MAX_LEN + 1];
    char template_display_name[DISPLAY_MAX_LEN + 1];
    char template_icon[256];
    char template_active_version_id[UUID_STR_LEN];
    bool template_require_active_version;
    bool has_build;
    struct workspace_build build; /* the latest build */
    char build_version_name[NAME_MAX_LEN + 1];
    char initiator_name[NAME_MAX_LEN + 1];
    struct job job; /* the latest build's job */
};
void workspace_view_clear(struct workspace_view *v);
int store_workspace_view(struct store *st, const char *id, struct workspace_view *out,
                         struct err *e);

/* ---- builds ---- */
void workspace_build_clear(struct workspace_build *b);
/* ERR_CONFLICT when (workspace, build_number) exists. */
int store_build_insert(struct store *st, const struct workspace_build *b, struct err *e);
int store_build_get(struct store *st, const char *id, struct workspace_build *out, struct err *e);
int store_build_get_by_job(struct store *st, const char *job_id, struct workspace_build *out,
                           struct err *e);
int store_build_get_by_number(struct store *st, const char *workspace_id, int64_t number,
                              struct workspace_build *out, struct err *e);
/* The build with the highest number; ERR_NOT_FOUND when the workspace has none. */
int store_build_latest(struct store *st, const char *workspace_id, struct workspace_build *out,
                       struct err *e);
struct build_list {
    struct workspace_build *items;
    size_t n;
};
/* A workspace's builds, newest first. */
int store_build_list(struct store *st, const char *workspace_id, struct build_list *out,
                     struct err *e);
void build_list_free(struct build_list *l);
/* Replaces a build's provisioner state (len 0 = empty). */
int store_build_set_state(struct store *st, const char *id, const void *state, size_t len,
                          struct err *e);
void build_param_clear(struct build_param *p);
struct build_param_list {
    struct build_param *items;
    size_t n;
};
int store_build_params_insert(struct store *st, const char *build_id,
                              const struct build_param *params, size_t n, struct err *e);
/* A build's parameters ordered by name. */
int store_build_params(struct store *st, const char *build_id, struct build_param_list *out,
                       struct err *e);
void build_param_list_free(struct build_param_list *l);

/* ---- resources and agents ---- */
int store_resource_insert(struct store *st, const struct workspace_resource *r, struct err *e);
struct resource_list {
    struct workspace_resource *items;
    size_t n;
};
int store_resources_by_job(struct store *st, const char *job_id, struct resource_list *out,
                           struct err *e);
void resource_list_free(struct resource_list *l);
void workspace_agent_clear(struct workspace_agent *a);
int store_agent_insert(struct store *st, const struct workspace_agent *a, struct err *e);
int store_agent_get(struct store *st, const char *id, struct workspace_agent *out, struct err *e);
/* The agent whose token hashes to hash; ERR_NOT_FOUND otherwise. */
int store_agent_get_by_token(struct store *st, const unsigned char hash[32],
                             struct workspace_agent *out, struct err *e);
struct agent_list {
    struct workspace_agent *items;
    size_t n;
};
/* Agents of a resource, in display order. */
int store_agents_by_resource(struct store *st, const char *resource_id, struct agent_list *out,
                             struct err *e);
/* Agents of every resource of a job, in display order. */
int store_agents_by_job(struct store *st, const char *job_id, struct agent_list *out,
                        struct err *e);
void agent_list_free(struct agent_list *l);
void agent_script_clear(struct agent_script *s);
int store_agent_script_insert(struct store *st, const char *agent_id, const struct agent_script *s,
                              struct err *e);
struct agent_script_list {
    struct agent_script *items;
    size_t n;
};
int store_agent_scripts(struct store *st, const char *agent_id, struct agent_script_list *out,
                        struct err *e);
void agent_script_list_free(struct agent_script_list *l);

/* Who an agent token belongs to: the agent, its build and workspace, and the workspace's
 * latest build (for the "only the latest start build's agents" rule). */
struct agent_auth {
    struct workspace_agent agent;
    char build_id[UUID_STR_LEN];
    int64_t build_number;
    enum transition build_transition;
    char workspace_id[UUID_STR_LEN];
    char workspace_name[NAME_MAX_LEN + 1];
    char owner_id[UUID_STR_LEN];
    char owner_name[NAME_MAX_LEN + 1];
    bool workspace_deleted;
    int64_t latest_number;
    enum transition latest_transition;
    enum job_status latest_status;
    int64_t latest_start_before; /* the highest start build number below the latest, or 0 */
};
void agent_auth_clear(struct agent_auth *a);
/* ERR_NOT_FOUND when no agent has a token with that hash. */
int store_agent_auth(struct store *st, const unsigned char hash[32], struct agent_auth *out,
                     struct err *e);
/* Where an agent lives: its workspace, owner and build. ERR_NOT_FOUND for unknown agents. */
int store_agent_location(struct store *st, const char *agent_id, char workspace_id[UUID_STR_LEN],
                         char owner_id[UUID_STR_LEN], char build_id[UUID_STR_LEN], struct err *e);
/* Applies a lifecycle report: "starting" sets started_at and clears ready_at; ready,
 * start_timeout and start_error set ready_at (and started_at when unset); "off" sets
 * disconnected_at. */
int store_agent_set_lifecycle(struct store *st, const char *id, enum agent_lifecycle state,
                              int64_t now, struct err *e);
/* The agent's request stream opened: first_connected_at (once), last_connected_at, the replica,
 * and disconnected_at cleared. */
int store_agent_connected(struct store *st, const char *id, int64_t now, const char *replica,
                          struct err *e);
/* The stream closed: disconnected_at = now. */
int store_agent_disconnected(struct store *st, const char *id, int64_t now, struct err *e);
/* Heartbeats of many agents in one transaction: last_connected_at = each time. */
int store_agents_seen(struct store *st, const char *const *ids, const int64_t *times, size_t n,
                      struct err *e);

struct agent_log {
    int64_t id;
    int64_t created_at;
    char level[8];
    char source[NAME_MAX_LEN + 1];
    char *output;
};
void agent_log_clear(struct agent_log *l);
/* Appends logs; the agent's logs stop at max_bytes (then one notice and logs_overflowed).
 * Assigns ids. */
int store_agent_logs_insert(struct store *st, const char *agent_id, struct agent_log *logs,
                            size_t n, int64_t max_bytes, struct err *e);
struct agent_log_list {
    struct agent_log *items;
    size_t n;
};
int store_agent_logs_after(struct store *st, const char *agent_id, int64_t after, int limit,
                           struct agent_log_list *out, struct err *e);
void agent_log_list_free(struct agent_log_list *l);

/* ---- chats ---- */
void chat_clear(struct chat *c);
const char *chat_status_name(enum chat_status s);
int chat_status_parse(const char *s, enum chat_status *out);
int store_chat_insert(struct store *st, const struct chat *c, struct err *e);
int store_chat_get(struct store *st, const char *id, struct chat *out, struct err *e);
struct chat_list {
    struct chat *items;
    size_t n;
};
/* The owner's chats, most recently updated first. */
int store_chat_list(struct store *st, const char *owner_id, struct chat_list *out, struct err *e);
void chat_list_free(struct chat_list *l);
/* Overwrites workspace, build and agent ("" or NULL = none) and updated_at = now; out (may be
 * NULL) receives the updated row. ERR_NOT_FOUND for an unknown chat. */
int store_chat_bind(struct store *st, const char *id, const char *workspace_id,
                    const char *build_id, const char *agent_id, int64_t now, struct chat *out,
                    struct err *e);
/* Sets build and agent only, leaving updated_at alone. */
int store_chat_bind_agent(struct store *st, const char *id, const char *build_id,
                          const char *agent_id, struct err *e);

/* ---- chat messages and turns ----
 * A chat's conversation is a list of messages (role user, assistant or tool; parts a JSON array
 * text) with ids monotone over all chats. A person's message makes the chat `pending`; a chat
 * worker claims a pending chat (`running`, with a lease it extends by heartbeats), runs the
 * turn, and finishes it (`waiting`, or `error` with last_error). Messages sent while a turn runs
 * are queued and join the conversation when it ends, making the chat pending again. A running
 * turn whose lease expired, or that a previous process of the same replica had claimed, may be
 * claimed again (attempts counts the claims). */
const char *chat_role_name(enum chat_role r);
int chat_role_parse(const char *s, enum chat_role *out);
void chat_message_clear(struct chat_message *m);
struct chat_message_list {
    struct chat_message *items;
    size_t n;
};
void chat_message_list_free(struct chat_message_list *l);
/* Appends m (chat_id, role, parts, created_at) to its chat's conversation; m->id receives its
 * id. */
int store_chat_message_insert(struct store *st, struct chat_message *m, struct err *e);
/* The chat's messages with id > after, oldest first, at most limit (0 = all). */
int store_chat_messages_after(struct store *st, const char *chat_id, int64_t after, int limit,
                              struct chat_message_list *out, struct err *e);
/* The id of the chat's last message (0 when it has none). */
int store_chat_message_last_id(struct store *st, const char *chat_id, int64_t *out, struct err *e);
/* A person's message m (chat_id, parts, created_at; role user): when the chat is running it is
 * queued (*queued; m->id is the queue entry's id) unless max_queued are already waiting
 * (ERR_CONFLICT); otherwise it joins the conversation (m->id) and the chat becomes pending,
 * last_error cleared, updated_at = m->created_at. ERR_NOT_FOUND for an unknown chat. */
int store_chat_post(struct store *st, struct chat_message *m, int max_queued, bool *queued,
                    struct err *e);
/* Claims the pending chat updated longest ago, or a running one whose lease expired before now
 * or whose worker id is another process's of replica_id ("<replica_id>:..."): status running,
 * worker_id, lease until now + lease_ms, interrupt request cleared, attempts + 1 when it was
 * running (else 1). Returns 1 with *out filled, 0 when there is nothing to claim. */
int store_chat_claim(struct store *st, const char *worker_id, const char *replica_id, int64_t now,
                     int64_t lease_ms, struct chat *out, struct err *e);
/* Extends the lease to now + lease_ms; *interrupted (may be NULL) tells whether an interrupt was
 * requested. ERR_CONFLICT when the worker no longer holds the chat. */
int store_chat_heartbeat(struct store *st, const char *id, const char *worker_id, int64_t now,
                         int64_t lease_ms, bool *interrupted, struct err *e);
/* Ends the worker's turn: when messages were queued they join the conversation and the chat is
 * pending again (*requeued); otherwise waiting (error NULL) or error with last_error = error.
 * updated_at = now. out (may be NULL) receives the chat. ERR_CONFLICT when the worker no longer
 * holds it. */
int store_chat_finish(struct store *st, const char *id, const char *worker_id, const char *error,
                      int64_t now, bool *requeued, struct chat *out, struct err *e);
/* Gives a running turn back unfinished (server shutdown): pending, no worker. ERR_CONFLICT when
 * the worker no longer holds it. */
int store_chat_release(struct store *st, const char *id, const char *worker_id, struct err *e);
/* An interrupt: a pending chat becomes waiting; a running one gets interrupt_requested_at = now
 * (its worker stops the turn); otherwise nothing. *was receives the status before. */
int store_chat_interrupt(struct store *st, const char *id, int64_t now, enum chat_status *was,
                         struct err *e);
/* The chat's workspace context (*out heap, NULL when none is stored). */
int store_chat_context_get(struct store *st, const char *id, char **out, struct err *e);
/* Stores the workspace context (NULL = none), leaving updated_at alone. */
int store_chat_context_set(struct store *st, const char *id, const char *context, struct err *e);
/* How many messages wait in the chat's queue. */
int store_chat_queued_count(struct store *st, const char *id, int64_t *out, struct err *e);

#endif
