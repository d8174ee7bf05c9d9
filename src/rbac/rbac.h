/* rbac.h - who may do what: subjects, objects, actions and the authorization decision.
 *
 * Roles (every user is a member; roles add to that):
 *   owner           everything;
 *   template-admin  templates, template versions and files (all actions); reads every user,
 *                   workspace and job;
 *   member          itself and its own tokens, workspaces and chats; reads and uses templates
 *                   (a deprecated one cannot be used: the caller checks that), reads the
 *                   versions attached to templates.
 * A workspace agent acts only on its own workspace.
 *
 * Denial hides existence: when the subject may not even read the object the answer is 404
 * ("Resource not found or you do not have access to this resource"), otherwise 403. Creating
 * is always a 403 when denied: nothing exists yet to hide.
 * Pure functions; thread-safe.
 */
#ifndef BERTH_RBAC_RBAC_H
#define BERTH_RBAC_RBAC_H

#include "base/err.h"
#include "base/uuid.h"
#include "store/model.h"

#include <stdbool.h>

enum subject_kind { SUBJECT_USER, SUBJECT_AGENT, SUBJECT_SYSTEM };

struct subject {
    enum subject_kind kind;
    char user_id[UUID_STR_LEN]; /* the user (for an agent: the workspace owner) */
    char username[NAME_MAX_LEN + 1];
    unsigned roles;                  /* enum role bits */
    char workspace_id[UUID_STR_LEN]; /* agents only: the one workspace they may touch */
    char agent_id[UUID_STR_LEN];     /* agents only */
    char api_key_id[API_KEY_ID_LEN + 1];
};

enum rbac_type {
    RBAC_USER,
    RBAC_API_KEY,
    RBAC_FILE,
    RBAC_TEMPLATE,
    RBAC_TEMPLATE_VERSION,
    RBAC_WORKSPACE,
    RBAC_JOB,
    RBAC_CHAT,
};

enum rbac_action {
    RBAC_CREATE,
    RBAC_READ,
    RBAC_UPDATE,
    RBAC_DELETE,
    RBAC_USE,   /* templates: create workspaces from it */
    RBAC_START, /* workspaces */
    RBAC_STOP,
    RBAC_EXEC, /* workspaces: run commands, read and write files */
};

struct rbac_object {
    enum rbac_type type;
    const char *id;       /* may be NULL for "any" (e.g. create) */
    const char *owner_id; /* owner user id for owned objects; NULL when not owned */
};

/* The "system" subject used by background work (autobuild, reaper): allowed everything. */
extern const struct subject RBAC_SYSTEM_SUBJECT;

/* True when s may perform a on o. */
bool rbac_allowed(const struct subject *s, enum rbac_action a, const struct rbac_object *o);
/* 0 when allowed; otherwise -1 with ERR_NOT_FOUND (s may not read o) or ERR_FORBIDDEN. */
int rbac_authorize(const struct subject *s, enum rbac_action a, const struct rbac_object *o,
                   struct err *e);
/* The 404 every hidden resource answers with. Returns -1. */
int rbac_not_found(struct err *e);
/* Parses a role name ("owner", "template-admin", "member"); member is 0 bits. -1 if unknown. */
int rbac_role_parse(const char *name, unsigned *bits);
/* Appends the role names of bits (always including "member") to a new JSON-friendly list:
 * returns the number written into names (at most 3). */
int rbac_role_names(unsigned bits, const char *names[3]);

#endif
