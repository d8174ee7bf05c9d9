/* build.h - workspaces and the workspace builder.
 *
 * The builder turns "start/stop/delete this workspace" into a build row and a pending
 * provisioner job, enforcing the rules of the reference builder in order: authorization, the
 * version (explicit, else the previous build's; the active one for a new workspace), the
 * version's import status, one active build per workspace, parameter resolution and validation
 * (request > previous unless ephemeral > default), require_active_version for starts, the
 * build number (previous + 1, in the same transaction) and the carried-over state. The job is
 * posted and the change published only after the transaction commits.
 *
 * Errors carry the reference's statuses and exact messages. Every parameter failure has kind
 * ERR_PARAM_VALIDATION: message `Unable to validate parameter "<name>"`, detail the rule's
 * text, one validation {field: <name>, detail: <text>}. Thread-safe.
 *
 * Pubsub: "workspace:<id>" (payload "build") after a build is created.
 */
#ifndef BERTH_BUILD_BUILD_H
#define BERTH_BUILD_BUILD_H

#include "base/err.h"
#include "provision/provision.h"
#include "pubsub/pubsub.h"
#include "rbac/rbac.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct build_param_value {
    const char *name;
    const char *value;
};

struct build_request {
    enum transition transition;
    const char *template_version_id; /* NULL: the previous build's version */
    bool use_active_version;         /* pin to the template's active version (autobuild, chat) */
    const struct build_param_value *params; /* rich parameter values from the request */
    size_t nparams;
    bool orphan;        /* delete without running against the previous state */
    const char *reason; /* NULL = "initiator" */
};

/* Creates the next build of a workspace. sub may be the system subject (no checks). out (may
 * be NULL) receives the build. */
int build_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                 const char *workspace_id, const struct build_request *req,
                 struct workspace_build *out, struct err *e);

struct workspace_create {
    const char *owner_id;            /* the owner (NULL: the subject) */
    const char *name;                /* required */
    const char *template_id;         /* one of these two is required */
    const char *template_version_id; /* a specific version instead of the active one */
    const struct build_param_value *params;
    size_t nparams;
    bool has_ttl;
    int64_t ttl_ms;
    const char *autostart_schedule;
};

/* Creates a workspace and its first build (a start) in one transaction. 409 with a validation
 * on "name" when the owner already has a live workspace of that name; 400 when the template is
 * deprecated. */
int workspace_create(struct store *st, struct pubsub *ps, const struct subject *sub,
                     const struct workspace_create *req, struct workspace *out,
                     struct workspace_build *build_out, struct err *e);

/* Workspace names: [a-zA-Z0-9](-?[a-zA-Z0-9])*, at most 32 characters. */
bool workspace_name_valid(const char *name);

/* The public status of a build from its transition and job status: pending, starting,
 * running, stopping, stopped, deleting, deleted, canceling, canceled, failed. */
const char *build_status(enum transition t, enum job_status s);

/* ---- parameters (params.c) ---- */

/* Resolves and validates a version's parameters for a build. defs: the target version's
 * parameters; req: the request's values (names not declared are dropped; the last of a
 * duplicated name wins); prev: the previous build's values (none for a first build). On success
 * *out holds one value per declared parameter (caller frees with build_param_list_free). */
int build_resolve_params(const struct version_param_list *defs, const struct build_param_value *req,
                         size_t nreq, const struct build_param_list *prev,
                         struct build_param_list *out, struct err *e);

/* ---- the provisioner handler for workspace builds (runner.c) ---- */

struct build_runner {
    struct store *st;
    struct pubsub *ps;
    char *access_url;      /* BERTH_URL for provision programs and agents */
    char *berth_bin;       /* BERTH_BIN: absolute path of this binary */
    char *workspaces_dir;  /* BERTH_WORKSPACES_DIR */
    char *scratch_dir;     /* where per-build scratch copies of archives go */
    int64_t kill_grace_ms; /* SIGTERM -> SIGKILL on cancel and time-out (default 10 s) */
};

/* The provisioner's handler for workspace_build jobs (arg: struct build_runner *). */
int build_job_run(struct job_ctx *ctx, void *arg, struct err *e);
/* Repairs a build whose job was failed without its handler (reaper, restart): an empty state
 * takes the previous build's; the workspace's watchers are told. */
void build_job_abandoned(struct store *st, const struct job *job, void *arg);

#endif
