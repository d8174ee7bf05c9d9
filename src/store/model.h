/* model.h - the rows berth stores, as C structs.
 *
 * Bounded text (ids, names) lives in fixed arrays inside the struct; unbounded text is a heap
 * string owned by the struct and released by the matching *_clear() function (declared in
 * store.h). A cleared struct is all zeroes. Times are microseconds since the epoch, 0 = unset.
 */
#ifndef BERTH_STORE_MODEL_H
#define BERTH_STORE_MODEL_H

#include "base/uuid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NAME_MAX_LEN       64  /* usernames, template, version, workspace, agent names */
#define DISPLAY_MAX_LEN    256 /* display names and script names: 64 characters of UTF-8 */
#define EMAIL_MAX_LEN      254
#define HASH_HEX_LEN       64 /* a file's id */
#define API_KEY_ID_LEN     10
#define API_KEY_SECRET_LEN 22

/* Site roles, stored as a bit set. Every user is a member; these add to it. */
enum role {
    ROLE_OWNER = 1u << 0,
    ROLE_TEMPLATE_ADMIN = 1u << 1,
};

enum user_status { USER_ACTIVE, USER_SUSPENDED, USER_DORMANT };

struct user {
    char id[UUID_STR_LEN];
    char username[NAME_MAX_LEN + 1];
    char email[EMAIL_MAX_LEN + 1];
    char hashed_password[128];
    unsigned roles; /* enum role bits */
    enum user_status status;
    bool deleted;
    int64_t created_at, updated_at;
};

enum login_type { LOGIN_PASSWORD, LOGIN_TOKEN };

struct api_key {
    char id[API_KEY_ID_LEN + 1];
    unsigned char hashed_secret[32];
    char user_id[UUID_STR_LEN];
    enum login_type login_type;
    char token_name[NAME_MAX_LEN + 1];
    int64_t lifetime_seconds;
    int64_t expires_at, last_used, created_at, updated_at;
};

struct file_row {
    char id[HASH_HEX_LEN + 1];
    char mimetype[64];
    char created_by[UUID_STR_LEN];
    int64_t created_at;
    void *data; /* owned; NULL when the content was not requested */
    size_t size;
};

struct template_row {
    char id[UUID_STR_LEN];
    char name[NAME_MAX_LEN + 1];
    char display_name[DISPLAY_MAX_LEN + 1];
    char *description;
    char *icon;
    char active_version_id[UUID_STR_LEN];
    bool require_active_version;
    char *deprecated; /* deprecation message; "" = not deprecated */
    int64_t default_ttl_ms;
    int64_t activity_bump_ms;
    bool allow_user_cancel_workspace_jobs;
    bool deleted;
    char created_by[UUID_STR_LEN];
    int64_t created_at, updated_at;
};

struct template_version {
    char id[UUID_STR_LEN];
    char template_id[UUID_STR_LEN]; /* "" when not attached to a template */
    char name[NAME_MAX_LEN + 1];
    char *message;
    char *readme;
    char file_id[HASH_HEX_LEN + 1];
    char job_id[UUID_STR_LEN];
    char display_name[DISPLAY_MAX_LEN + 1];
    char *description;
    char *icon;
    char *provision;
    int64_t provision_timeout_ms;
    bool archived;
    char created_by[UUID_STR_LEN];
    int64_t created_at, updated_at;
};

struct version_param {
    char name[NAME_MAX_LEN + 1];
    char display_name[DISPLAY_MAX_LEN + 1];
    char *description;
    char type[16]; /* string | number | bool | list(string) */
    bool mutable_;
    char *default_value;
    bool required;
    bool ephemeral;
    char *options; /* JSON array text */
    char *validation_regex;
    char *validation_error;
    bool has_min, has_max;
    int64_t validation_min, validation_max;
    char validation_monotonic[16]; /* "" | increasing | decreasing */
    int display_order;
};

struct version_agent {
    char name[NAME_MAX_LEN + 1];
    char *directory;
    int64_t connection_timeout_seconds;
    int display_order;
};

struct version_script {
    char agent_name[NAME_MAX_LEN + 1];
    char name[DISPLAY_MAX_LEN + 1];
    char *script;
    bool run_on_start, run_on_stop, start_blocks_login;
    int64_t timeout_seconds;
    int display_order;
};

enum job_type { JOB_TEMPLATE_VERSION_IMPORT, JOB_WORKSPACE_BUILD };

/* Derived from the timestamps and error; never stored (see 0001_init.sql). */
enum job_status {
    JOB_PENDING,
    JOB_RUNNING,
    JOB_SUCCEEDED,
    JOB_CANCELING,
    JOB_CANCELED,
    JOB_FAILED,
};

struct job {
    char id[UUID_STR_LEN];
    enum job_type type;
    int64_t created_at, updated_at, started_at, canceled_at, completed_at;
    char *error; /* "" when none */
    char error_code[64];
    char initiator_id[UUID_STR_LEN];
    char file_id[HASH_HEX_LEN + 1];
    char *input;                  /* JSON text */
    char worker_id[UUID_STR_LEN]; /* "" when unclaimed */
    int64_t logs_length;
    bool logs_overflowed;
    enum job_status status;
};

enum log_source { LOG_SOURCE_PROVISIONER_DAEMON, LOG_SOURCE_PROVISIONER };
enum job_log_level { JOB_LOG_TRACE, JOB_LOG_DEBUG, JOB_LOG_INFO, JOB_LOG_WARN, JOB_LOG_ERROR };

struct job_log {
    int64_t id;
    int64_t created_at;
    enum log_source source;
    enum job_log_level level;
    char stage[129];
    char *output;
};

enum transition { TRANSITION_START, TRANSITION_STOP, TRANSITION_DELETE };

struct workspace {
    char id[UUID_STR_LEN];
    char owner_id[UUID_STR_LEN];
    char template_id[UUID_STR_LEN];
    char name[NAME_MAX_LEN + 1];
    bool deleted;
    char *autostart_schedule; /* NULL = off */
    bool has_ttl;
    int64_t ttl_ms;
    int64_t last_used_at, dormant_at, deleting_at;
    char automatic_updates[16]; /* always | never */
    int64_t created_at, updated_at;
};

struct workspace_build {
    char id[UUID_STR_LEN];
    char workspace_id[UUID_STR_LEN];
    char template_version_id[UUID_STR_LEN];
    int64_t build_number;
    enum transition transition;
    char initiator_id[UUID_STR_LEN];
    void *state; /* provisioner state, owned; may be NULL when empty */
    size_t state_len;
    char job_id[UUID_STR_LEN];
    int64_t deadline, max_deadline;
    char reason[32];
    int64_t created_at, updated_at;
};

struct build_param {
    char name[NAME_MAX_LEN + 1];
    char *value;
};

struct workspace_resource {
    char id[UUID_STR_LEN];
    char job_id[UUID_STR_LEN];
    enum transition transition;
    char type[64];
    char name[NAME_MAX_LEN + 1];
    int64_t created_at;
};

enum agent_lifecycle {
    LIFECYCLE_CREATED,
    LIFECYCLE_STARTING,
    LIFECYCLE_START_TIMEOUT,
    LIFECYCLE_START_ERROR,
    LIFECYCLE_READY,
    LIFECYCLE_SHUTTING_DOWN,
    LIFECYCLE_SHUTDOWN_TIMEOUT,
    LIFECYCLE_SHUTDOWN_ERROR,
    LIFECYCLE_OFF,
};

struct workspace_agent {
    char id[UUID_STR_LEN];
    char resource_id[UUID_STR_LEN];
    char name[NAME_MAX_LEN + 1];
    unsigned char auth_token_hash[32];
    char *directory;
    int64_t first_connected_at, last_connected_at, disconnected_at;
    int64_t connection_timeout_seconds;
    enum agent_lifecycle lifecycle;
    int64_t started_at, ready_at;
    int64_t logs_length;
    bool logs_overflowed;
    int display_order;
    int64_t created_at, updated_at;
};

struct agent_script {
    char name[DISPLAY_MAX_LEN + 1];
    char *script;
    bool run_on_start, run_on_stop, start_blocks_login;
    int64_t timeout_seconds;
    int display_order;
};

enum chat_status { CHAT_WAITING, CHAT_PENDING, CHAT_RUNNING, CHAT_ERROR };

/* A chat: a conversation of its owner with a model, bound to at most one workspace. */
struct chat {
    char id[UUID_STR_LEN];
    char owner_id[UUID_STR_LEN];
    char *title;
    enum chat_status status;
    char workspace_id[UUID_STR_LEN]; /* "" = none */
    char build_id[UUID_STR_LEN];     /* "" = none */
    char agent_id[UUID_STR_LEN];     /* "" = none */
    int64_t created_at, updated_at;
    char *last_error; /* what ended the last turn (status error); NULL otherwise */
    int attempts;     /* claims of the current turn (> 1: resumed after its worker died) */
};

#define CHAT_WORKER_ID_LEN 112 /* "<replica id>:<nonce>" and a NUL */

enum chat_role { CHAT_ROLE_USER, CHAT_ROLE_ASSISTANT, CHAT_ROLE_TOOL };

/* A message of a chat's conversation (or a queued user message). */
struct chat_message {
    int64_t id; /* monotone over all chats */
    char chat_id[UUID_STR_LEN];
    enum chat_role role;
    char *parts; /* JSON array text (heap) */
    int64_t created_at;
};

/* Names used on the wire and in SQL for the enums above (static strings). */
const char *transition_name(enum transition t);
/* Parses "start", "stop", "delete"; -1 when unknown. */
int transition_parse(const char *s, enum transition *out);
const char *agent_lifecycle_name(enum agent_lifecycle l);
int agent_lifecycle_parse(const char *s, enum agent_lifecycle *out);
const char *job_status_name(enum job_status s);
const char *job_type_name(enum job_type t);
const char *log_source_name(enum log_source s);
const char *job_log_level_name(enum job_log_level l);
const char *user_status_name(enum user_status s);
/* True for pending, running and canceling. */
bool job_status_active(enum job_status s);
/* True for succeeded, canceled and failed. */
bool job_status_terminal(enum job_status s);
/* The status of a job from its timestamps and error, as the store derives it. */
enum job_status job_status_derive(const struct job *j);

#endif
