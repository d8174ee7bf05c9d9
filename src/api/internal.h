/* internal.h - helpers shared by the API handlers (not for use outside src/api/). */
#ifndef BERTH_API_INTERNAL_H
#define BERTH_API_INTERNAL_H

#include "api/api.h"
#include "base/json.h"
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

/* Rendering (new references). */
json_t *render_user(const struct user *u);
json_t *render_job(const struct job *j);
json_t *render_template(const struct template_row *t);
json_t *render_version(const struct template_version *v, const struct job *job);
json_t *render_version_param(const struct version_param *p);
json_t *render_job_log(const struct job_log *l);

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

#endif
