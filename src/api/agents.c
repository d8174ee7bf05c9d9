/* agents.c - workspace agents: the agent's own endpoints (/workspaceagents/me/...: manifest,
 * request stream, results, lifecycle, heartbeat, logs) and the user's (get, logs, exec,
 * requests). */
#include "agentconn/agentconn.h"
#include "api/internal.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PING_MS               15000
#define HEARTBEAT_INTERVAL_MS 10000
#define EXEC_TIMEOUT_MAX_MS   3600000
#define REQUEST_TYPES                                                                              \
    "exec, process_output, process_list, process_signal, read_file, "                              \
    "write_file, edit_files"

/* Authenticates the agent token (Berth-Agent-Token or Authorization: Bearer); replies 401. */
static int agent_auth(struct api *api, struct http_request *req, struct agent_auth *out)
{
    const char *token = http_request_header(req, "Berth-Agent-Token");
    if (!token) {
        const char *authz = http_request_header(req, "Authorization");
        if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
            token = authz + 7;
    }
    struct err e = ERR_INIT;
    if (agentconn_authenticate(api->ac, token, out, &e) < 0) {
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void manifest(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct agent_auth a;
    if (agent_auth(api, req, &a) < 0)
        return;
    struct agent_script_list scripts;
    struct err e = ERR_INIT;
    if (store_agent_scripts(api->st, a.agent.id, &scripts, &e) < 0) {
        agent_auth_clear(&a);
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_kstr(&w, "agent_id", a.agent.id);
    jw_kstr(&w, "name", a.agent.name);
    jw_kstr(&w, "workspace_id", a.workspace_id);
    jw_kstr(&w, "workspace_name", a.workspace_name);
    jw_kstr(&w, "owner_name", a.owner_name);
    jw_kstr(&w, "directory", a.agent.directory);
    jw_kint(&w, "connection_timeout_seconds", a.agent.connection_timeout_seconds);
    jw_kint(&w, "heartbeat_interval_ms", HEARTBEAT_INTERVAL_MS);
    jw_key(&w, "environment");
    jw_object(&w);
    jw_kstr(&w, "BERTH_WORKSPACE_NAME", a.workspace_name);
    jw_kstr(&w, "BERTH_WORKSPACE_OWNER", a.owner_name);
    jw_kstr(&w, "BERTH_WORKSPACE_AGENT", a.agent.name);
    jw_object_end(&w);
    jw_key(&w, "scripts");
    jw_array(&w);
    for (size_t i = 0; i < scripts.n; i++) {
        const struct agent_script *s = &scripts.items[i];
        jw_object(&w);
        jw_kstr(&w, "name", s->name);
        jw_kstr(&w, "script", s->script);
        jw_kbool(&w, "run_on_start", s->run_on_start);
        jw_kbool(&w, "run_on_stop", s->run_on_stop);
        jw_kbool(&w, "start_blocks_login", s->start_blocks_login);
        jw_kint(&w, "timeout_seconds", s->timeout_seconds);
        jw_object_end(&w);
    }
    jw_array_end(&w);
    jw_object_end(&w);
    agent_script_list_free(&scripts);
    agent_auth_clear(&a);
    http_reply_jw(req, 200, &w);
}

/* ---- the request stream ---- */

struct agent_stream {
    struct api *api;
    struct http_stream *stream;
    struct agentconn_session *session;
};

static int stream_send(void *ctx, const char *event, const char *data)
{
    struct agent_stream *as = ctx;
    return http_stream_sse(as->stream, event, data);
}

static void stream_closed(void *arg)
{
    struct agent_stream *as = arg;
    agentconn_detach(as->api->ac, as->session);
    http_stream_end(as->stream);
    free(as);
}

static void stream(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct agent_auth a;
    if (agent_auth(api, req, &a) < 0)
        return;
    struct agent_stream *as = xcalloc(1, sizeof *as);
    as->api = api;
    as->stream =
        http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
    http_stream_on_close(as->stream, stream_closed, as);
    struct agentconn_link link = {stream_send, as};
    as->session = agentconn_attach(api->ac, &a, link);
    http_stream_sse(as->stream, "hello", "{}");
    agent_auth_clear(&a);
}

/* An agent's report with a JSON body: authenticates the agent, parses the body, hands it to fn
 * and answers 204, or the error fn (or the body) gave. */
typedef int (*agent_report_fn)(struct api *api, const struct agent_auth *a, json_t *body,
                               struct err *e);

static void agent_report(struct http_request *req, struct api *api, agent_report_fn fn)
{
    struct agent_auth a;
    if (agent_auth(api, req, &a) < 0)
        return;
    json_t *body = api_body(req); /* NULL: already answered */
    struct err e = ERR_INIT;
    if (body && fn(api, &a, body, &e) < 0)
        api_fail(req, &e);
    else if (body)
        http_reply(req, 204, NULL, NULL, 0);
    json_decref(body);
    agent_auth_clear(&a);
}

static int report_result(struct api *api, const struct agent_auth *a, json_t *body, struct err *e)
{
    const char *id;
    json_t *result = json_object_get(body, "result");
    json_t *error = json_object_get(body, "error");
    if (jsonx_string(body, "id", JSONX_REQUIRED, 64, &id, e) < 0)
        return -1;
    return agentconn_deliver(api->ac, a, id, result, json_is_object(error) ? error : NULL, e);
}

static int report_lifecycle(struct api *api, const struct agent_auth *a, json_t *body,
                            struct err *e)
{
    const char *state;
    if (jsonx_string(body, "state", JSONX_REQUIRED, 64, &state, e) < 0)
        return -1;
    return agentconn_report_lifecycle(api->ac, a, state, e);
}

static int report_logs(struct api *api, const struct agent_auth *a, json_t *body, struct err *e)
{
    json_t *logs;
    if (jsonx_array(body, "logs", JSONX_REQUIRED, 1000, &logs, e) < 0)
        return -1;
    return agentconn_append_logs(api->ac, a, logs, e);
}

static void results(struct http_request *req, void *arg)
{
    agent_report(req, arg, report_result);
}

static void lifecycle(struct http_request *req, void *arg)
{
    agent_report(req, arg, report_lifecycle);
}

static void post_logs(struct http_request *req, void *arg)
{
    agent_report(req, arg, report_logs);
}

static void heartbeat(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct agent_auth a;
    if (agent_auth(api, req, &a) < 0)
        return;
    agentconn_heartbeat(api->ac, &a);
    agent_auth_clear(&a);
    http_reply(req, 204, NULL, NULL, 0);
}

/* ---- the user's side ---- */

/* Loads agent {id} when the subject may read its workspace (404 otherwise); with exec, the
 * subject must also be allowed to run commands in it (403). */
static int load_agent(struct api *api, struct http_request *req, const struct subject *sub,
                      bool exec, struct workspace_agent *agent, char workspace_id[UUID_STR_LEN])
{
    const char *id = http_request_param(req, "id");
    struct err e = ERR_INIT;
    char owner[UUID_STR_LEN], build[UUID_STR_LEN];
    struct rbac_object obj = {RBAC_WORKSPACE, workspace_id, owner};
    if (!uuid_valid(id) ||
        store_agent_location(api->st, id, workspace_id, owner, build, NULL) < 0 ||
        !rbac_allowed(sub, RBAC_READ, &obj) || store_agent_get(api->st, id, agent, NULL) < 0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return -1;
    }
    if (exec && rbac_authorize(sub, RBAC_EXEC, &obj, &e) < 0) {
        workspace_agent_clear(agent);
        api_fail(req, &e);
        return -1;
    }
    return 0;
}

static void get(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_agent agent;
    char ws[UUID_STR_LEN];
    if (api_auth(api, req, &sub) < 0 || load_agent(api, req, &sub, false, &agent, ws) < 0)
        return;
    struct jw w;
    jw_init(&w);
    render_agent(&w, &agent, time_now_us());
    workspace_agent_clear(&agent);
    http_reply_jw(req, 200, &w);
}

/* Sends an agent request on behalf of the user and replies with the agent's result. */
static void call(struct api *api, struct http_request *req, const char *agent_id,
                 const json_t *request, int64_t timeout_ms)
{
    json_t *result = NULL;
    struct err e = ERR_INIT;
    if (agentconn_call(api->ac, agent_id, request, timeout_ms, &result, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    http_reply_json(req, 200, result);
}

static void exec(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_agent agent;
    char ws[UUID_STR_LEN];
    if (api_auth(api, req, &sub) < 0 || load_agent(api, req, &sub, true, &agent, ws) < 0)
        return;
    json_t *body = api_body(req);
    struct err e = ERR_INIT;
    const char *command, *workdir;
    int64_t timeout_ms = 10000;
    if (!body) {
        workspace_agent_clear(&agent);
        return;
    }
    if (jsonx_string(body, "command", JSONX_REQUIRED, 64 * 1024, &command, &e) < 0 ||
        jsonx_string(body, "workdir", JSONX_OPTIONAL, 4096, &workdir, &e) < 0 ||
        jsonx_int(body, "timeout_ms", JSONX_OPTIONAL, &timeout_ms, NULL, &e) < 0)
        goto fail;
    if (!*command) {
        jsonx_invalid(&e, "command", "must not be empty");
        goto fail;
    }
    if (timeout_ms < 1 || timeout_ms > EXEC_TIMEOUT_MAX_MS) {
        jsonx_invalid(&e, "timeout_ms", "must be between 1 and %d", EXEC_TIMEOUT_MAX_MS);
        goto fail;
    }
    json_t *r = json_pack("{s:s, s:s, s:I}", "type", "exec", "command", command, "timeout_ms",
                          (json_int_t)timeout_ms);
    if (workdir)
        json_object_set_new(r, "workdir", json_string(workdir));
    call(api, req, agent.id, r, timeout_ms + 10000);
    json_decref(r);
    json_decref(body);
    workspace_agent_clear(&agent);
    return;
fail:
    json_decref(body);
    workspace_agent_clear(&agent);
    api_fail(req, &e);
}

static void requests(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_agent agent;
    char ws[UUID_STR_LEN];
    if (api_auth(api, req, &sub) < 0 || load_agent(api, req, &sub, true, &agent, ws) < 0)
        return;
    json_t *body = api_body(req);
    struct err e = ERR_INIT;
    const char *type;
    if (!body) {
        workspace_agent_clear(&agent);
        return;
    }
    static const char *const allowed[] = {
        "exec",      "process_output", "process_list", "process_signal",
        "read_file", "write_file",     "edit_files",   NULL};
    bool ok = false;
    if (jsonx_string(body, "type", JSONX_REQUIRED, 64, &type, &e) == 0) {
        for (int i = 0; allowed[i]; i++)
            ok = ok || strcmp(type, allowed[i]) == 0;
        if (!ok)
            jsonx_invalid(&e, "type", "must be one of " REQUEST_TYPES);
    }
    if (!ok) {
        json_decref(body);
        workspace_agent_clear(&agent);
        api_fail(req, &e);
        return;
    }
    /* The agent bounds its own waits; allow a little more for the round trip. */
    int64_t wait = 0;
    jsonx_int(body, strcmp(type, "exec") == 0 ? "timeout_ms" : "wait_ms", JSONX_OPTIONAL, &wait,
              NULL, NULL);
    if (wait < 0 || wait > EXEC_TIMEOUT_MAX_MS)
        wait = EXEC_TIMEOUT_MAX_MS;
    call(api, req, agent.id, body, wait + 30000);
    json_decref(body);
    workspace_agent_clear(&agent);
}

/* ---- agent logs: a JSON page, or a stream until the agent's startup is over ---- */

struct agent_follower {
    struct api *api;
    struct http_stream *stream;
    struct pubsub_sub *sub_logs, *sub_agent;
    char agent_id[UUID_STR_LEN];
    int64_t cursor;
};

static void render_agent_log(struct jw *w, const struct agent_log *l)
{
    jw_object(w);
    jw_kint(w, "id", l->id);
    jw_ktime(w, "created_at", l->created_at);
    jw_kstr(w, "level", l->level);
    jw_kstr(w, "source", l->source);
    jw_kstr(w, "output", l->output);
    jw_object_end(w);
}

static void agent_follower_end(struct agent_follower *f)
{
    pubsub_unsubscribe(f->sub_logs);
    pubsub_unsubscribe(f->sub_agent);
    http_stream_end(f->stream);
    free(f);
}

static void agent_follower_pump(void *arg)
{
    struct agent_follower *f = arg;
    struct workspace_agent a;
    bool done = true;
    if (store_agent_get(f->api->st, f->agent_id, &a, NULL) == 0) {
        done = a.lifecycle != LIFECYCLE_CREATED && a.lifecycle != LIFECYCLE_STARTING;
        workspace_agent_clear(&a);
    }
    struct agent_log_list l;
    if (store_agent_logs_after(f->api->st, f->agent_id, f->cursor, 0, &l, NULL) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            struct jw w;
            jw_init(&w);
            render_agent_log(&w, &l.items[i]);
            char *s = jw_take(&w, NULL);
            http_stream_sse(f->stream, "data", s);
            free(s);
            jw_free(&w);
            f->cursor = l.items[i].id;
        }
        agent_log_list_free(&l);
    }
    if (done)
        agent_follower_end(f);
}

static void agent_follower_closed(void *arg)
{
    agent_follower_end(arg);
}

static void agent_follower_event(const char *channel, const char *payload, void *arg)
{
    struct agent_follower *f = arg;
    http_stream_wake(f->stream);
}

static void logs(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    struct workspace_agent agent;
    char ws[UUID_STR_LEN];
    if (api_auth(api, req, &sub) < 0 || load_agent(api, req, &sub, false, &agent, ws) < 0)
        return;
    int64_t after = 0;
    const char *a = http_request_query(req, "after");
    struct err e = ERR_INIT;
    if (a && *a && (str_to_int64(a, &after) < 0 || after < 0)) {
        workspace_agent_clear(&agent);
        jsonx_invalid(&e, "after", "must be a non-negative log id");
        api_fail(req, &e);
        return;
    }
    const char *follow = http_request_query(req, "follow");
    if (follow && strcmp(follow, "false") != 0 && strcmp(follow, "0") != 0) {
        struct agent_follower *f = xcalloc(1, sizeof *f);
        f->api = api;
        f->cursor = after;
        str_copy(f->agent_id, sizeof f->agent_id, agent.id);
        f->stream =
            http_stream_start(req, 200, "text/event-stream", PING_MS, "event: ping\ndata: {}\n\n");
        http_stream_on_close(f->stream, agent_follower_closed, f);
        http_stream_on_wake(f->stream, agent_follower_pump, f);
        char channel[96];
        snprintf(channel, sizeof channel, "agent:%s:logs", agent.id);
        f->sub_logs = pubsub_subscribe(api->ps, channel, agent_follower_event, f);
        snprintf(channel, sizeof channel, "agent:%s", agent.id);
        f->sub_agent = pubsub_subscribe(api->ps, channel, agent_follower_event, f);
        http_stream_wake(f->stream);
        workspace_agent_clear(&agent);
        return;
    }
    struct agent_log_list l;
    if (store_agent_logs_after(api->st, agent.id, after, 0, &l, &e) < 0) {
        workspace_agent_clear(&agent);
        api_fail(req, &e);
        return;
    }
    struct jw w;
    jw_init(&w);
    jw_array(&w);
    for (size_t i = 0; i < l.n; i++)
        render_agent_log(&w, &l.items[i]);
    jw_array_end(&w);
    agent_log_list_free(&l);
    workspace_agent_clear(&agent);
    http_reply_jw(req, 200, &w);
}

void api_agents_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_GET, "/api/v2/workspaceagents/me/manifest", HTTP_ROUTE_INLINE, 0,
                      manifest, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaceagents/me/stream", HTTP_ROUTE_INLINE, 0,
                      stream, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/me/results", HTTP_ROUTE_INLINE,
                      2 * 1024 * 1024, results, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/me/lifecycle", HTTP_ROUTE_INLINE, 0,
                      lifecycle, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/me/heartbeat", HTTP_ROUTE_INLINE, 0,
                      heartbeat, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/me/logs", HTTP_ROUTE_INLINE, 0,
                      post_logs, api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaceagents/{id}", HTTP_ROUTE_INLINE, 0, get,
                      api);
    http_server_route(srv, HTTP_GET, "/api/v2/workspaceagents/{id}/logs", HTTP_ROUTE_INLINE, 0,
                      logs, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/{id}/exec", HTTP_ROUTE_WORKER, 0,
                      exec, api);
    http_server_route(srv, HTTP_POST, "/api/v2/workspaceagents/{id}/requests", HTTP_ROUTE_WORKER,
                      5 * 1024 * 1024, requests, api);
}
