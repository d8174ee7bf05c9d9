/* render_ws.c - JSON shapes of workspaces, builds and agents (spec/api.md), and loading what
 * they need. */
#include "agentconn/agentconn.h"
#include "api/internal.h"
#include "base/times.h"
#include "build/build.h"

#include <string.h>

void build_detail_free(struct build_detail *d)
{
    resource_list_free(&d->resources);
    agent_list_free(&d->agents);
}

int api_load_build_detail(struct store *st, const struct workspace_build *b, struct build_detail *d,
                          struct err *e)
{
    memset(d, 0, sizeof *d);
    if (b->transition != TRANSITION_START)
        return 0; /* agents only on start builds */
    if (store_resources_by_job(st, b->job_id, &d->resources, e) < 0)
        return -1;
    if (d->resources.n && store_agents_by_job(st, b->job_id, &d->agents, e) < 0) {
        build_detail_free(d);
        return -1;
    }
    return 0;
}

void render_agent(struct jw *w, const struct workspace_agent *a, int64_t now)
{
    jw_object(w);
    jw_kstr(w, "id", a->id);
    jw_kstr(w, "name", a->name);
    jw_kstr(w, "resource_id", a->resource_id);
    jw_kstr(w, "status", agent_status_name(agentconn_status(a, now)));
    jw_kstr(w, "lifecycle_state", agent_lifecycle_name(a->lifecycle));
    jw_ktime(w, "first_connected_at", a->first_connected_at);
    jw_ktime(w, "last_connected_at", a->last_connected_at);
    jw_ktime(w, "disconnected_at", a->disconnected_at);
    jw_ktime(w, "started_at", a->started_at);
    jw_ktime(w, "ready_at", a->ready_at);
    jw_kstr(w, "directory", a->directory);
    jw_kint(w, "connection_timeout_seconds", a->connection_timeout_seconds);
    jw_kbool(w, "logs_overflowed", a->logs_overflowed);
    jw_ktime(w, "created_at", a->created_at);
    jw_object_end(w);
}

static void render_resources(struct jw *w, const struct build_detail *d, int64_t now)
{
    jw_array(w);
    for (size_t i = 0; d && i < d->resources.n; i++) {
        const struct workspace_resource *r = &d->resources.items[i];
        jw_object(w);
        jw_kstr(w, "id", r->id);
        jw_kstr(w, "name", r->name);
        jw_kstr(w, "type", r->type);
        jw_key(w, "agents");
        jw_array(w);
        for (size_t k = 0; k < d->agents.n; k++)
            if (strcmp(d->agents.items[k].resource_id, r->id) == 0)
                render_agent(w, &d->agents.items[k], now);
        jw_array_end(w);
        jw_object_end(w);
    }
    jw_array_end(w);
}

void render_build(struct jw *w, const struct build_render *br, int64_t now)
{
    const struct workspace_build *b = br->build;
    jw_object(w);
    jw_kstr(w, "id", b->id);
    jw_kstr(w, "workspace_id", b->workspace_id);
    jw_kstr(w, "workspace_name", br->workspace_name);
    jw_kstr(w, "workspace_owner_id", br->owner_id);
    jw_kstr(w, "workspace_owner_name", br->owner_name);
    jw_kint(w, "build_number", b->build_number);
    jw_kstr(w, "transition", transition_name(b->transition));
    jw_kstr(w, "template_version_id", b->template_version_id);
    jw_kstr(w, "template_version_name", br->version_name);
    jw_kstr(w, "initiator_id", b->initiator_id);
    jw_kstr(w, "initiator_name", br->initiator_name);
    jw_kstr(w, "reason", b->reason);
    jw_kstr(w, "status", build_status(b->transition, br->job->status));
    jw_key(w, "job");
    render_job(w, br->job);
    jw_key(w, "resources");
    render_resources(w, br->detail, now);
    jw_ktime(w, "deadline", b->deadline);
    jw_ktime(w, "max_deadline", b->max_deadline);
    jw_ktime(w, "created_at", b->created_at);
    jw_ktime(w, "updated_at", b->updated_at);
    jw_object_end(w);
}

void render_workspace(struct jw *w, const struct workspace_view *v, const struct build_detail *d,
                      int64_t now)
{
    const struct workspace *ws = &v->ws;
    jw_object(w);
    jw_kstr(w, "id", ws->id);
    jw_kstr(w, "name", ws->name);
    jw_kstr(w, "owner_id", ws->owner_id);
    jw_kstr(w, "owner_name", v->owner_name);
    jw_kstr(w, "template_id", ws->template_id);
    jw_kstr(w, "template_name", v->template_name);
    jw_kstr(w, "template_display_name", v->template_display_name);
    jw_kstr(w, "template_icon", v->template_icon);
    jw_kstr(w, "template_active_version_id", v->template_active_version_id);
    jw_kbool(w, "template_require_active_version", v->template_require_active_version);
    jw_kbool(w, "outdated",
             v->has_build &&
                 strcmp(v->build.template_version_id, v->template_active_version_id) != 0);
    jw_key(w, "latest_build");
    if (v->has_build) {
        struct build_render br = {.build = &v->build,
                                  .job = &v->job,
                                  .detail = d,
                                  .workspace_name = ws->name,
                                  .owner_id = ws->owner_id,
                                  .owner_name = v->owner_name,
                                  .version_name = v->build_version_name,
                                  .initiator_name = v->initiator_name};
        render_build(w, &br, now);
    } else {
        jw_null(w);
    }
    jw_kbool(w, "deleted", ws->deleted);
    jw_key(w, "ttl_ms");
    if (ws->has_ttl)
        jw_int(w, ws->ttl_ms);
    else
        jw_null(w);
    jw_key(w, "autostart_schedule");
    jw_str(w, ws->autostart_schedule);
    jw_kstr(w, "automatic_updates", ws->automatic_updates);
    /* Healthy iff every agent of the latest build is. */
    jw_key(w, "health");
    jw_object(w);
    bool healthy = true;
    size_t failing = 0;
    for (size_t i = 0; d && i < d->agents.n; i++)
        if (!agentconn_healthy(&d->agents.items[i], now)) {
            healthy = false;
            failing++;
        }
    jw_kbool(w, "healthy", healthy);
    jw_key(w, "failing_agents");
    jw_array(w);
    for (size_t i = 0; failing && d && i < d->agents.n; i++)
        if (!agentconn_healthy(&d->agents.items[i], now))
            jw_str(w, d->agents.items[i].id);
    jw_array_end(w);
    jw_object_end(w);
    jw_ktime(w, "last_used_at", ws->last_used_at);
    jw_ktime(w, "created_at", ws->created_at);
    jw_ktime(w, "updated_at", ws->updated_at);
    jw_object_end(w);
}

int api_render_workspace_view(struct api *api, const struct workspace_view *v, struct jw *w,
                              struct err *e)
{
    struct build_detail d;
    memset(&d, 0, sizeof d);
    if (v->has_build && api_load_build_detail(api->st, &v->build, &d, e) < 0)
        return -1;
    render_workspace(w, v, &d, time_now_us());
    build_detail_free(&d);
    return 0;
}

int api_render_workspace(struct api *api, const char *id, struct jw *w, struct err *e)
{
    struct workspace_view v;
    if (store_workspace_view(api->st, id, &v, e) < 0)
        return -1;
    int rc = api_render_workspace_view(api, &v, w, e);
    workspace_view_clear(&v);
    return rc;
}
