/* mcp.c - the MCP endpoint, Streamable HTTP: POST|DELETE /api/experimental/mcp (GET and other
 * methods 405), guarded against DNS rebinding, authenticated like REST, with the protocol itself
 * in mcp/. Requests are answered as application/json, except tools/call, which runs on a worker
 * and answers as an SSE stream (progress notifications, keep-alive comments every 15 s, then the
 * response) unless the client does not accept text/event-stream. Also serves the OAuth
 * protected-resource metadata (RFC 9728) that the 401's WWW-Authenticate header points to. */
#include "api/internal.h"

#include "base/mem.h"
#include "base/str.h"
#include "mcp/mcp.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MCP_PATH        "/api/experimental/mcp"
#define MCP_MAX_BODY    (1024 * 1024)
#define KEEPALIVE_MS    15000
#define KEEPALIVE       ": keep-alive\n\n"
#define METADATA_PATH   "/.well-known/oauth-protected-resource"
#define ALLOWED_METHODS "POST, DELETE"

static void reply_rpc_error(struct http_request *req, int status, int code, const char *message)
{
    char *body = jsonrpc_error_text(NULL, code, message, NULL);
    http_reply(req, status, "application/json", body, strlen(body));
    free(body);
}

/* ---- DNS rebinding guard ---- */

/* The host of "host[:port]" ("[v6][:port]" keeps its brackets) into out; -1 when malformed. */
static int host_of(const char *hostport, size_t len, char *out, size_t size)
{
    size_t end;
    if (len && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', len);
        if (!close)
            return -1;
        end = (size_t)(close - hostport) + 1;
    } else {
        const char *colon = memchr(hostport, ':', len);
        end = colon ? (size_t)(colon - hostport) : len;
    }
    if (end == 0 || end >= size)
        return -1;
    if (end < len) { /* a port: ":" and digits only */
        if (hostport[end] != ':' || end + 1 == len)
            return -1;
        for (size_t i = end + 1; i < len; i++)
            if (hostport[i] < '0' || hostport[i] > '9')
                return -1;
    }
    memcpy(out, hostport, end);
    out[end] = '\0';
    return 0;
}

/* The authority ("host[:port]") of an absolute URL: its start and length; -1 without one. */
static int authority_of(const char *url, const char **start, size_t *len)
{
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p)
        return -1;
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* user info is not part of the host */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    *start = p;
    *len = n;
    return 0;
}

/* Whether hostport names a loopback name (any port) or the access URL's host. */
static bool host_allowed(const struct api *api, const char *hostport, size_t len)
{
    char host[256];
    if (host_of(hostport, len, host, sizeof host) < 0)
        return false;
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
        strcasecmp(host, "[::1]") == 0)
        return true;
    const char *a;
    size_t alen;
    char access[256];
    return authority_of(api->access_url, &a, &alen) == 0 &&
           host_of(a, alen, access, sizeof access) == 0 && strcasecmp(host, access) == 0;
}

/* 0 when Host (required) and Origin (when present) pass; -1 after replying 403. */
static int guard(const struct api *api, struct http_request *req)
{
    const char *host = http_request_header(req, "Host");
    const char *origin = http_request_header(req, "Origin");
    const char *why = NULL;
    if (!host || !host_allowed(api, host, strlen(host))) {
        why = "Forbidden: the Host header must name localhost, 127.0.0.1, [::1] or this server's "
              "access URL host";
    } else if (origin) {
        const char *a;
        size_t alen;
        if (authority_of(origin, &a, &alen) < 0 || !host_allowed(api, a, alen))
            why = "Forbidden: the Origin header must name localhost, 127.0.0.1, [::1] or this "
                  "server's access URL host";
    }
    if (!why)
        return 0;
    reply_rpc_error(req, 403, MCP_ERR_TRANSPORT, why);
    return -1;
}

/* ---- authentication ---- */

/* The access URL without trailing slashes (heap). */
static char *base_url(const struct api *api)
{
    char *u = xstrdup(api->access_url ? api->access_url : "");
    size_t n = strlen(u);
    while (n && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

/* As api_auth, but a failure is a JSON-RPC error with the WWW-Authenticate header MCP clients
 * look for. */
static int auth(struct api *api, struct http_request *req, struct subject *sub)
{
    const char *token = http_request_header(req, "Berth-Session-Token");
    if (!token) {
        const char *authz = http_request_header(req, "Authorization");
        if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
            token = authz + 7;
    }
    struct err e = ERR_INIT;
    if (token && *token && identity_authenticate(api->id, token, sub, &e) == 0)
        return 0;
    char *base = base_url(api);
    char *challenge = str_printf("Bearer resource_metadata=\"%s" METADATA_PATH "\"%s", base,
                                 token && *token ? ", error=\"invalid_token\"" : "");
    http_reply_header(req, "WWW-Authenticate", challenge);
    free(challenge);
    free(base);
    if (e.message)
        reply_rpc_error(req, 401, MCP_ERR_TRANSPORT, e.message);
    else
        reply_rpc_error(req, 401, MCP_ERR_TRANSPORT,
                        "Authentication required: send the header \"Authorization: Bearer "
                        "<token>\" or \"Berth-Session-Token: <token>\".");
    err_clear(&e);
    return -1;
}

/* ---- tools/call on a worker ---- */

struct call_job {
    struct mcp_call *call;
    bool sse;
};

/* An SSE response's state; freed with the stream (http_stream_on_free), so that on_close never
 * sees it freed. */
struct sse_call {
    struct http_stream *stream;
    struct mcp_call *call;
};

static void sse_emit(void *arg, const char *message)
{
    struct sse_call *sc = arg;
    http_stream_sse(sc->stream, "message", message);
}

/* A stateless call's client went away: that cancels the call. Loop thread. */
static void sse_closed(void *arg)
{
    struct sse_call *sc = arg;
    mcp_call_cancel(sc->call);
}

static void sse_free(void *arg)
{
    struct sse_call *sc = arg;
    mcp_call_free(sc->call);
    free(sc);
}

static void json_emit(void *arg, const char *message)
{
    char **response = arg;
    free(*response);
    *response = xstrdup(message);
}

static void run_call(struct http_request *req, void *arg)
{
    struct call_job *j = arg;
    struct mcp_call *call = j->call;
    bool sse = j->sse;
    free(j);
    const char *chat_id = mcp_call_prepare(call);
    if (chat_id) /* so that a client can come back to the chat (berth mcp does) */
        http_reply_header(req, "Berth-Chat-Id", chat_id);
    if (!sse) {
        char *last = NULL;
        mcp_call_no_progress(call); /* JSON carries one message: the response */
        mcp_call_run(call, json_emit, &last);
        mcp_call_free(call);
        if (last)
            http_reply(req, 200, "application/json", last, strlen(last));
        else /* canceled: no response to send */
            http_reply(req, 202, NULL, NULL, 0);
        free(last);
        return;
    }
    struct sse_call *sc = xcalloc(1, sizeof *sc);
    sc->call = call;
    sc->stream = http_stream_start(req, 200, "text/event-stream", KEEPALIVE_MS, KEEPALIVE);
    if (mcp_call_stateless(call))
        http_stream_on_close(sc->stream, sse_closed, sc);
    http_stream_on_free(sc->stream, sse_free, sc);
    mcp_call_run(call, sse_emit, sc);
    http_stream_end(sc->stream); /* sc and the call are freed with the stream */
}

/* Whether the client takes an SSE answer (no Accept header: yes). */
static bool accepts_sse(struct http_request *req)
{
    const char *accept = http_request_header(req, "Accept");
    return !accept || strcasestr(accept, "text/event-stream") || strstr(accept, "*/*");
}

/* ---- the endpoint ---- */

static void post(struct api *api, struct http_request *req, const struct subject *sub)
{
    const char *ct = http_request_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "application/json", 16) != 0) {
        reply_rpc_error(req, 415, MCP_ERR_TRANSPORT,
                        "Unsupported Media Type: Content-Type must be application/json");
        return;
    }
    struct mcp_input in = {
        .sub = sub,
        .session_id = http_request_header(req, "Mcp-Session-Id"),
        .protocol_version = http_request_header(req, "MCP-Protocol-Version"),
        .method = http_request_header(req, "Mcp-Method"),
        .name = http_request_header(req, "Mcp-Name"),
        .chat_id = http_request_header(req, "Berth-Chat-Id"),
    };
    size_t len;
    const char *body = http_request_body(req, &len);
    struct mcp_reply r;
    mcp_post(api->mcp, &in, body, len, &r);
    if (r.call) {
        struct call_job *j = xcalloc(1, sizeof *j);
        j->call = r.call;
        j->sse = accepts_sse(req);
        r.call = NULL;
        if (http_request_defer(req, run_call, j) < 0) {
            mcp_call_free(j->call);
            free(j);
            reply_rpc_error(req, 503, JSONRPC_INTERNAL_ERROR, "The server is shutting down.");
        }
        mcp_reply_clear(&r);
        return;
    }
    if (r.session_id[0])
        http_reply_header(req, "Mcp-Session-Id", r.session_id);
    if (r.body)
        http_reply(req, r.status, "application/json", r.body, strlen(r.body));
    else
        http_reply(req, r.status, NULL, NULL, 0);
    mcp_reply_clear(&r);
}

static void handle(struct http_request *req, void *arg)
{
    struct api *api = arg;
    if (guard(api, req) < 0)
        return;
    struct subject sub;
    if (auth(api, req, &sub) < 0)
        return;
    enum http_method m = http_request_method(req);
    if (m == HTTP_POST) {
        post(api, req, &sub);
    } else if (m == HTTP_DELETE) {
        char *body = NULL;
        int status =
            mcp_session_delete(api->mcp, &sub, http_request_header(req, "Mcp-Session-Id"), &body);
        if (body)
            http_reply(req, status, "application/json", body, strlen(body));
        else
            http_reply(req, status, NULL, NULL, 0);
        free(body);
    } else {
        /* GET would open a stream for server-initiated messages: berth sends none. */
        http_reply_header(req, "Allow", ALLOWED_METHODS);
        char *msg = str_printf("Method not allowed: %s (use POST, or DELETE to end a session)",
                               http_method_name(m));
        reply_rpc_error(req, 405, MCP_ERR_TRANSPORT, msg);
        free(msg);
    }
}

/* RFC 9728 protected-resource metadata. berth has no OAuth authorization server (tokens come
 * from `berth login` or the API), so authorization_servers, which is optional, is left out. */
static void resource_metadata(struct http_request *req, void *arg)
{
    struct api *api = arg;
    char *base = base_url(api);
    char *resource = str_printf("%s" MCP_PATH, base);
    json_t *o = json_pack("{s:s, s:[s], s:s}", "resource", resource, "bearer_methods_supported",
                          "header", "resource_name", "berth");
    free(resource);
    free(base);
    http_reply_json(req, 200, o);
}

void api_mcp_register(struct http_server *srv, struct api *api)
{
    unsigned all =
        HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_PATCH | HTTP_DELETE | HTTP_HEAD | HTTP_OPTIONS;
    http_server_route(srv, all, MCP_PATH, HTTP_ROUTE_INLINE, MCP_MAX_BODY, handle, api);
    http_server_route(srv, HTTP_GET, METADATA_PATH, HTTP_ROUTE_INLINE, 0, resource_metadata, api);
    http_server_route(srv, HTTP_GET, METADATA_PATH MCP_PATH, HTTP_ROUTE_INLINE, 0,
                      resource_metadata, api);
}
