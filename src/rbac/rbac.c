/* rbac.c - the role table and the 404-or-403 decision (see rbac.h). */
#include "rbac/rbac.h"

#include <string.h>

const struct subject RBAC_SYSTEM_SUBJECT = {.kind = SUBJECT_SYSTEM, .roles = ROLE_OWNER};

static bool owns(const struct subject *s, const struct rbac_object *o)
{
    return o->owner_id && s->user_id[0] && strcmp(o->owner_id, s->user_id) == 0;
}

static bool template_admin_allowed(enum rbac_action a, const struct rbac_object *o)
{
    switch (o->type) {
    case RBAC_TEMPLATE:
    case RBAC_TEMPLATE_VERSION:
    case RBAC_FILE:
        return true;
    case RBAC_USER:
    case RBAC_WORKSPACE:
    case RBAC_JOB:
        return a == RBAC_READ;
    default:
        return false;
    }
}

static bool member_allowed(const struct subject *s, enum rbac_action a, const struct rbac_object *o)
{
    switch (o->type) {
    case RBAC_USER:
        return o->id && strcmp(o->id, s->user_id) == 0 && (a == RBAC_READ || a == RBAC_UPDATE);
    case RBAC_API_KEY:
    case RBAC_WORKSPACE:
    case RBAC_CHAT:
        return owns(s, o) || (a == RBAC_CREATE && (!o->owner_id || owns(s, o)));
    case RBAC_TEMPLATE:
        return a == RBAC_READ || a == RBAC_USE;
    case RBAC_TEMPLATE_VERSION:
        /* Versions attached to a template (owner_id carries the template id) are readable. */
        return a == RBAC_READ && o->owner_id && o->owner_id[0];
    case RBAC_JOB:
        return a == RBAC_READ && owns(s, o);
    case RBAC_FILE:
        return false;
    }
    return false;
}

static bool agent_allowed(const struct subject *s, enum rbac_action a, const struct rbac_object *o)
{
    if (o->type != RBAC_WORKSPACE || !o->id)
        return false;
    return strcmp(o->id, s->workspace_id) == 0 && (a == RBAC_READ || a == RBAC_UPDATE);
}

bool rbac_allowed(const struct subject *s, enum rbac_action a, const struct rbac_object *o)
{
    if (!s)
        return false;
    if (s->kind == SUBJECT_SYSTEM)
        return true;
    if (s->kind == SUBJECT_AGENT)
        return agent_allowed(s, a, o);
    if (s->roles & ROLE_OWNER)
        return true;
    if ((s->roles & ROLE_TEMPLATE_ADMIN) && template_admin_allowed(a, o))
        return true;
    return member_allowed(s, a, o);
}

int rbac_not_found(struct err *e)
{
    return err_set(e, ERR_NOT_FOUND,
                   "Resource not found or you do not have access to this resource");
}

int rbac_authorize(const struct subject *s, enum rbac_action a, const struct rbac_object *o,
                   struct err *e)
{
    if (rbac_allowed(s, a, o))
        return 0;
    /* Creating hides nothing (the thing does not exist yet); otherwise 403 only for what the
     * subject may see. */
    if (a == RBAC_CREATE || (a != RBAC_READ && rbac_allowed(s, RBAC_READ, o)))
        return err_set(e, ERR_FORBIDDEN, "Forbidden.");
    return rbac_not_found(e);
}

int rbac_role_parse(const char *name, unsigned *bits)
{
    if (strcmp(name, "owner") == 0)
        *bits = ROLE_OWNER;
    else if (strcmp(name, "template-admin") == 0)
        *bits = ROLE_TEMPLATE_ADMIN;
    else if (strcmp(name, "member") == 0)
        *bits = 0;
    else
        return -1;
    return 0;
}

int rbac_role_names(unsigned bits, const char *names[3])
{
    int n = 0;
    if (bits & ROLE_OWNER)
        names[n++] = "owner";
    if (bits & ROLE_TEMPLATE_ADMIN)
        names[n++] = "template-admin";
    names[n++] = "member";
    return n;
}
