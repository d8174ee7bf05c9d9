/* workspace_ops.c - create, start and stop a workspace as the chat's owner, through the real
 * workspace builder. A start on a template that requires the active version is pinned to it
 * (as automatic builds do), and a parameter failure caused by that pin says how to recover. */
#include "chat/internal.h"

#include "base/str.h"

#include <stdlib.h>
#include <string.h>

/* The owner as an authorization subject: "load user authorization: <e>" or "chat owner <id> is
 * not active" when the owner cannot act. */
static int owner_subject(struct store *st, const char *owner_id, struct subject *sub, struct err *e)
{
    struct user u;
    memset(&u, 0, sizeof u);
    struct err le = ERR_INIT;
    if (store_user_get(st, owner_id, &u, &le) < 0) {
        err_set(e, ERR_INTERNAL, "load user authorization: %s", err_msg(&le));
        err_clear(&le);
        return -1;
    }
    int rc = 0;
    if (u.deleted || u.status != USER_ACTIVE) {
        rc = err_set(e, ERR_INTERNAL, "chat owner %s is not active", owner_id);
    } else {
        memset(sub, 0, sizeof *sub);
        sub->kind = SUBJECT_USER;
        str_copy(sub->user_id, sizeof sub->user_id, u.id);
        str_copy(sub->username, sizeof sub->username, u.username);
        sub->roles = u.roles;
    }
    user_clear(&u);
    return rc;
}

static int ws_create(void *arg, const char *owner_id, const struct workspace_create *req,
                     struct workspace *ws, struct workspace_build *build, struct err *e)
{
    struct chat_ws_ctx *c = arg;
    struct subject sub;
    if (owner_subject(c->st, owner_id, &sub, e) < 0)
        return -1;
    struct workspace_create r = *req;
    r.owner_id = owner_id;
    return workspace_create(c->st, c->ps, &sub, &r, ws, build, e);
}

/* Whether the start will be pinned to a version other than the previous build's: sets
 * *active to the template's active version when the template requires it ("" otherwise). */
static int pinned_version(struct store *st, const char *workspace_id, char active[UUID_STR_LEN],
                          bool *changed, struct err *e)
{
    struct workspace ws;
    struct template_row t;
    struct workspace_build latest;
    memset(&ws, 0, sizeof ws);
    memset(&t, 0, sizeof t);
    memset(&latest, 0, sizeof latest);
    active[0] = '\0';
    *changed = false;
    int rc = -1;
    struct err le = ERR_INIT;
    if (store_workspace_get(st, workspace_id, &ws, &le) < 0) {
        err_set(e, ERR_INTERNAL, "get workspace: %s", err_msg(&le));
        goto out;
    }
    if (store_template_get(st, ws.template_id, &t, &le) < 0) {
        err_set(e, ERR_INTERNAL, "get template: %s", err_msg(&le));
        goto out;
    }
    rc = 0;
    if (!t.require_active_version)
        goto out;
    if (store_build_latest(st, workspace_id, &latest, &le) < 0) {
        rc = err_set(e, ERR_INTERNAL, "get latest workspace build: %s", err_msg(&le));
        goto out;
    }
    str_copy(active, UUID_STR_LEN, t.active_version_id);
    *changed = strcmp(latest.template_version_id, t.active_version_id) != 0;
out:
    err_clear(&le);
    workspace_clear(&ws);
    template_row_clear(&t);
    workspace_build_clear(&latest);
    return rc;
}

static int ws_start(void *arg, const char *owner_id, const char *workspace_id,
                    const struct build_param_value *params, size_t nparams,
                    struct workspace_build *out, struct err *e)
{
    struct chat_ws_ctx *c = arg;
    struct subject sub;
    char active[UUID_STR_LEN];
    bool changed;
    if (owner_subject(c->st, owner_id, &sub, e) < 0 ||
        pinned_version(c->st, workspace_id, active, &changed, e) < 0)
        return -1;
    struct build_request req = {
        .transition = TRANSITION_START,
        .template_version_id = active[0] ? active : NULL,
        .params = params,
        .nparams = nparams,
    };
    if (build_create(c->st, c->ps, &sub, workspace_id, &req, out, e) == 0)
        return 0;
    if (!err_is(e, ERR_PARAM_VALIDATION))
        return -1;
    /* The builder's detail names the parameter: the model needs it to know what to ask. */
    const char *detail = e->detail && *e->detail ? e->detail : err_msg(e);
    char *msg = changed ? str_printf("%s\n\n%s", TOOL_MANUAL_UPDATE_TEXT, detail)
                        : str_printf("%s: %s", err_msg(e), detail);
    if (!changed && !(e->detail && *e->detail)) {
        free(msg);
        return -1;
    }
    free(e->message);
    e->message = msg;
    return -1;
}

static int ws_stop(void *arg, const char *owner_id, const char *workspace_id,
                   struct workspace_build *out, struct err *e)
{
    struct chat_ws_ctx *c = arg;
    struct subject sub;
    if (owner_subject(c->st, owner_id, &sub, e) < 0)
        return -1;
    struct build_request req = {.transition = TRANSITION_STOP};
    return build_create(c->st, c->ps, &sub, workspace_id, &req, out, e);
}

void chat_workspace_ops(struct tool_workspace_ops *ops, struct chat_ws_ctx *ctx)
{
    ops->arg = ctx;
    ops->create = ws_create;
    ops->start = ws_start;
    ops->stop = ws_stop;
}
