/* internal.h - helpers shared by the API handlers (not for use outside src/api/). */
#ifndef BERTH_API_INTERNAL_H
#define BERTH_API_INTERNAL_H

#include "api/api.h"
#include "base/json.h"
#include "base/jw.h"
#include "rbac/rbac.h"

#include <jansson.h>

/* Authenticates the request (Berth-Session-Token or Authorization: Bearer). On failure replies
 * 401 and returns -1: the handler must return without replying. */
int api_auth(struct api *api, struct http_request *req, struct subject *out);
/* Parses the body as a JSON object; on failure replies 400 and returns NULL. New reference. */
json_t *api_body(struct http_request *req);
/* Replies with e and clears it. */
void api_fail(struct http_request *req, struct err *e);
/* Resolves {user} ("me", a username or an id) to a user the subject may read; replies 404 and
 * returns -1 otherwise. */
int api_user_param(struct api *api, struct http_request *req, const struct subject *sub,
                   const char *param, struct user *out);

/* Rendering: each writes one JSON value. */
void render_user(struct jw *w, const struct user *u);
void render_job(struct jw *w, const struct job *j);
void render_template(struct jw *w, const struct template_row *t);
void render_version(struct jw *w, const struct template_version *v, const struct job *job);
void render_version_param(struct jw *w, const struct version_param *p);
void render_job_log(struct jw *w, const struct job_log *l);

/* What a build's JSON shows beyond the row: its resources and agents (start builds only). */
struct build_detail {
    struct resource_list resources;
    struct agent_list agents;
};
int api_load_build_detail(struct store *st, const struct workspace_build *b, struct build_detail *d,
                          struct err *e);
void build_detail_free(struct build_detail *d);

struct build_render {
    const struct workspace_build *build;
    const struct job *job;
    const struct build_detail *detail; /* may be NULL */
    const char *workspace_name, *owner_id, *owner_name, *version_name, *initiator_name;
};
void render_agent(struct jw *w, const struct workspace_agent *a, int64_t now);
void render_build(struct jw *w, const struct build_render *br, int64_t now);
void render_workspace(struct jw *w, const struct workspace_view *v, const struct build_detail *d,
                      int64_t now);
/* Renders a build of ws (loads its job, names, resources and agents). */
int api_render_build(struct api *api, struct jw *w, const struct workspace_build *b,
                     const struct workspace *ws);
/* Replies with the WorkspaceBuild JSON of b. */
void api_reply_build(struct api *api, struct http_request *req, int status,
                     const struct workspace_build *b);
/* Loads and renders the Workspace with id (no permission check). */
int api_render_workspace(struct api *api, const char *id, struct jw *w, struct err *e);
/* The same for a view already read. */
int api_render_workspace_view(struct api *api, const struct workspace_view *v, struct jw *w,
                              struct err *e);

/* Streams a job's logs after the `after` cursor as SSE until the job ends (log-follow). The
 * caller has checked access to the job. Replies itself. */
void api_follow_job_logs(struct api *api, struct http_request *req, const char *job_id,
                         int64_t after);
/* Replies with a JSON array of the job's logs after the cursor. */
void api_list_job_logs(struct api *api, struct http_request *req, const char *job_id,
                       int64_t after);
/* Handles GET .../logs for a job: validates ?after, then lists or follows. */
void api_job_logs(struct api *api, struct http_request *req, const char *job_id);

/* Route registration per resource file. */
void api_users_register(struct http_server *srv, struct api *api);
void api_files_register(struct http_server *srv, struct api *api);
void api_templates_register(struct http_server *srv, struct api *api);
void api_versions_register(struct http_server *srv, struct api *api);
void api_workspaces_register(struct http_server *srv, struct api *api);
void api_builds_register(struct http_server *srv, struct api *api);
void api_agents_register(struct http_server *srv, struct api *api);
void api_chats_register(struct http_server *srv, struct api *api);
void api_deployment_register(struct http_server *srv, struct api *api);
void api_mcp_register(struct http_server *srv, struct api *api);

#endif
