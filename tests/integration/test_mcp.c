/* Integration: the MCP endpoint on a real server over raw HTTP (lifecycle, tools, protocol and
 * transport errors, the DNS-rebinding guard, auth, the stateless revision, progress and
 * cancellation of a waiting call), and `berth mcp` over stdio (including a server restart under
 * it). */
#include "harness.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define MCP "/api/experimental/mcp"
#define META                                                                                       \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                       \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define INIT                                                                                       \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"     \
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"it\",\"version\":\"1\"}}}"

struct ctx {
    struct server s;
    char mia[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->mia);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    server_destroy(&c->s);
    free(c);
    return 0;
}

/* ---- raw HTTP ---- */

struct mresp {
    long status;
    struct buf headers;
    struct buf body;
    json_t *json;          /* a JSON body, parsed */
    json_t *events;        /* an SSE body: the data of each event, parsed */
    pthread_mutex_t *lock; /* when another thread watches body */
};

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct mresp *r = arg;
    buf_append(&r->headers, p, size * n);
    return size * n;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct mresp *r = arg;
    if (r->lock)
        pthread_mutex_lock(r->lock);
    buf_append(&r->body, p, size * n);
    if (r->lock)
        pthread_mutex_unlock(r->lock);
    return size * n;
}

/* A response header's value (heap), or NULL. */
static char *header(const struct mresp *r, const char *name)
{
    const char *p = buf_str(&r->headers);
    size_t n = strlen(name);
    while (p && *p) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            while (*v == ' ')
                v++;
            size_t len = eol ? (size_t)(eol - v) : strlen(v);
            while (len && (v[len - 1] == '\r' || v[len - 1] == '\n'))
                len--;
            return strndup(v, len);
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void parse_body(struct mresp *r)
{
    char *ct = header(r, "Content-Type");
    if (ct && strncmp(ct, "text/event-stream", 17) == 0) {
        r->events = json_array();
        const char *p = buf_str(&r->body);
        while ((p = strstr(p, "data: "))) {
            p += 6;
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p) : strlen(p);
            json_error_t je;
            json_t *v = json_loadb(p, len, 0, &je);
            if (!v)
                fail_msg("SSE data is not JSON: %.*s", (int)len, p);
            json_array_append_new(r->events, v);
        }
    } else if (r->body.len) {
        json_error_t je;
        r->json = json_loadb(r->body.data, r->body.len, JSON_DECODE_ANY, &je);
    }
    free(ct);
}

static void mresp_free(struct mresp *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
    json_decref(r->json);
    json_decref(r->events);
    memset(r, 0, sizeof *r);
}

/* A request to the MCP endpoint with the usual headers plus extra ones (NULL-terminated; may be
 * NULL); token NULL sends none. */
static long mcp_http(struct ctx *c, const char *method, const char *token, const char *const *extra,
                     const char *body, struct mresp *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->headers, 0);
    buf_init(&out->body, 0);
    CURL *cu = curl_easy_init();
    char *url = fmt("%s" MCP, c->s.url);
    struct curl_slist *h = NULL;
    bool own_type = false;
    for (int i = 0; extra && extra[i]; i++)
        own_type = own_type || strncasecmp(extra[i], "Content-Type:", 13) == 0;
    if (!own_type)
        h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "Expect:");
    char *auth = token ? fmt("Authorization: Bearer %s", token) : NULL;
    if (auth)
        h = curl_slist_append(h, auth);
    for (int i = 0; extra && extra[i]; i++)
        h = curl_slist_append(h, extra[i]);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
    if (body) {
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    CURLcode rc = curl_easy_perform(cu);
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(cu);
    free(url);
    free(auth);
    if (rc != CURLE_OK && !out->status)
        fail_msg("%s " MCP ": %s", method, curl_easy_strerror(rc));
    parse_body(out);
    return out->status;
}

static long post(struct ctx *c, const char *session, const char *body, struct mresp *out)
{
    char *sh = session ? fmt("Mcp-Session-Id: %s", session) : NULL;
    const char *extra[] = {sh, "MCP-Protocol-Version: 2025-11-25", NULL};
    long st = mcp_http(c, "POST", c->mia, session ? extra : NULL, body, out);
    free(sh);
    return st;
}

/* The one JSON-RPC message of a response: the JSON body, or the last SSE event. */
static const json_t *message(const struct mresp *r)
{
    if (r->json)
        return r->json;
    size_t n = json_array_size(r->events);
    if (!n)
        fail_msg("no message in the response (status %ld): %s", r->status, buf_str(&r->body));
    return json_array_get(r->events, n - 1);
}

static int64_t error_code(const struct mresp *r)
{
    return json_integer_value(json_object_get(json_object_get(message(r), "error"), "code"));
}

static const json_t *result(const struct mresp *r)
{
    const json_t *res = json_object_get(message(r), "result");
    if (!res)
        fail_msg("not a result: %s", buf_str(&r->body));
    return res;
}

static char *initialize(struct ctx *c)
{
    struct mresp r;
    assert_int_equal(mcp_http(c, "POST", c->mia, NULL, INIT, &r), 200);
    char *sid = header(&r, "Mcp-Session-Id");
    assert_non_null(sid);
    mresp_free(&r);
    assert_int_equal(
        post(c, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r), 202);
    mresp_free(&r);
    return sid;
}

/* tools/call in a session; the response (SSE) in out. */
static long call(struct ctx *c, const char *session, const char *id, const char *name,
                 const char *args, const char *progress_token, struct mresp *out)
{
    char *meta =
        progress_token ? fmt(",\"_meta\":{\"progressToken\":%s}", progress_token) : strdup("");
    char *body = fmt("{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"%s\",\"arguments\":%s%s}}",
                     id, name, args, meta);
    long st = post(c, session, body, out);
    free(body);
    free(meta);
    return st;
}

/* ---- tests ---- */

static void test_lifecycle(void **state)
{
    struct ctx *c = *state;
    struct mresp r;
    assert_int_equal(mcp_http(c, "POST", c->mia, NULL, INIT, &r), 200);
    char *ct = header(&r, "Content-Type");
    assert_string_equal(ct, "application/json");
    free(ct);
    char *sid = header(&r, "Mcp-Session-Id");
    assert_non_null(sid);
    assert_true(strlen(sid) >= 32);
    for (const char *p = sid; *p; p++)
        assert_true(*p >= 0x21 && *p <= 0x7e);
    const json_t *res = result(&r);
    assert_int_equal(json_integer_value(json_object_get(message(&r), "id")), 0);
    assert_string_equal(jsonx_get_str(res, "protocolVersion", ""), "2025-11-25");
    assert_string_equal(jsonx_get_str(json_object_get(res, "serverInfo"), "name", ""), "berth");
    assert_true(json_is_object(json_object_get(json_object_get(res, "capabilities"), "tools")));
    mresp_free(&r);

    assert_int_equal(
        post(c, sid, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r), 202);
    assert_int_equal(r.body.len, 0);
    mresp_free(&r);
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}", &r),
                     200);
    assert_string_equal(buf_str(&r.body), "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}");
    mresp_free(&r);

    /* tools/list: every chat tool, each with a name, a description and an object schema. */
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", &r),
                     200);
    const json_t *tools = json_object_get(result(&r), "tools");
    assert_int_equal(json_array_size(tools), 12);
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        assert_true(strlen(jsonx_get_str(t, "name", "")) > 0);
        assert_true(strlen(jsonx_get_str(t, "description", "")) > 0);
        assert_string_equal(jsonx_get_str(json_object_get(t, "inputSchema"), "type", ""), "object");
    }
    assert_string_equal(jsonx_get_str(json_array_get(tools, 0), "name", ""), "list_templates");
    mresp_free(&r);

    /* tools/call: an SSE answer with the tool's JSON as text and as structuredContent. */
    assert_int_equal(call(c, sid, "2", "list_templates", "{}", NULL, &r), 200);
    ct = header(&r, "Content-Type");
    assert_string_equal(ct, "text/event-stream");
    free(ct);
    char *chat = header(&r, "Berth-Chat-Id");
    assert_non_null(chat);
    res = result(&r);
    assert_true(json_is_false(json_object_get(res, "isError")));
    const json_t *sc = json_object_get(res, "structuredContent");
    assert_true(json_is_array(json_object_get(sc, "templates")));
    const char *text =
        jsonx_get_str(json_array_get(json_object_get(res, "content"), 0), "text", "");
    json_error_t je;
    json_t *parsed = json_loads(text, 0, &je);
    assert_true(json_equal(parsed, sc));
    json_decref(parsed);
    mresp_free(&r);
    /* The same answer as the REST tool endpoint for the session's chat. */
    char *path = fmt("/api/experimental/chats/%s/tools/list_templates", chat);
    struct resp rest;
    assert_int_equal(http_req(&c->s, "POST", path, c->mia, "{}", &rest), 200);
    assert_int_equal(call(c, sid, "3", "list_templates", "{}", NULL, &r), 200);
    assert_true(json_equal(json_object_get(rest.json, "result"),
                           json_object_get(result(&r), "structuredContent")));
    resp_free(&rest);
    mresp_free(&r);
    free(path);

    /* A text error: isError true. */
    assert_int_equal(call(c, sid, "4", "execute", "{\"command\":\"true\"}", NULL, &r), 200);
    res = result(&r);
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_null(json_object_get(res, "structuredContent"));
    assert_true(
        strlen(jsonx_get_str(json_array_get(json_object_get(res, "content"), 0), "text", "")) > 0);
    mresp_free(&r);
    /* Unknown tool, unknown method, malformed JSON, a batch. */
    assert_int_equal(call(c, sid, "5", "no_such_tool", "{}", NULL, &r), 200);
    assert_int_equal(error_code(&r), -32602);
    mresp_free(&r);
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"nope\"}", &r), 200);
    assert_int_equal(error_code(&r), -32601);
    assert_int_equal(json_integer_value(json_object_get(message(&r), "id")), 6);
    mresp_free(&r);
    assert_int_equal(post(c, sid, "{\"jsonrpc\":", &r), 400);
    assert_int_equal(error_code(&r), -32700);
    assert_true(json_is_null(json_object_get(message(&r), "id")));
    mresp_free(&r);
    assert_int_equal(post(c, sid, "[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}]", &r), 400);
    assert_int_equal(error_code(&r), -32600);
    mresp_free(&r);

    /* GET and other methods: 405 with Allow. */
    const char *methods[] = {"GET", "PUT", "PATCH"};
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(mcp_http(c, methods[k], c->mia, NULL, NULL, &r), 405);
        char *allow = header(&r, "Allow");
        assert_string_equal(allow, "POST, DELETE");
        free(allow);
        mresp_free(&r);
    }
    /* DELETE ends the session. */
    char *sh = fmt("Mcp-Session-Id: %s", sid);
    const char *del[] = {sh, NULL};
    assert_int_equal(mcp_http(c, "DELETE", c->mia, del, NULL, &r), 200);
    mresp_free(&r);
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}", &r), 404);
    assert_int_equal(error_code(&r), -32001);
    mresp_free(&r);
    assert_int_equal(mcp_http(c, "DELETE", c->mia, del, NULL, &r), 404);
    mresp_free(&r);
    assert_int_equal(mcp_http(c, "DELETE", c->mia, NULL, NULL, &r), 400);
    mresp_free(&r);
    free(sh);
    free(chat);
    free(sid);
}

static void test_session_errors(void **state)
{
    struct ctx *c = *state;
    struct mresp r;
    /* A request before initialize (no session): 400. */
    assert_int_equal(mcp_http(c, "POST", c->mia, NULL,
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", &r),
                     400);
    assert_int_equal(error_code(&r), -32000);
    assert_int_equal(json_integer_value(json_object_get(message(&r), "id")), 1);
    mresp_free(&r);
    char *sid = initialize(c);
    /* Unknown session: 404; another user's session is unknown to them. */
    assert_int_equal(
        post(c, "no-such-session", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r), 404);
    mresp_free(&r);
    char *sh = fmt("Mcp-Session-Id: %s", sid);
    const char *extra[] = {sh, NULL};
    assert_int_equal(mcp_http(c, "POST", c->s.owner_token, extra,
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
                     404);
    mresp_free(&r);
    /* A wrong MCP-Protocol-Version: 400. */
    const char *bad_version[] = {sh, "MCP-Protocol-Version: 1999-01-01", NULL};
    assert_int_equal(mcp_http(c, "POST", c->mia, bad_version,
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r),
                     400);
    mresp_free(&r);
    /* The server keeps serving the session. */
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &r), 200);
    mresp_free(&r);
    /* Not JSON content: 415. Over 1 MiB: 413. */
    const char *form[] = {sh, "Content-Type: text/plain", NULL};
    assert_int_equal(mcp_http(c, "POST", c->mia, form, "{}", &r), 415);
    mresp_free(&r);
    size_t big = 1024 * 1024 + 10;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    assert_int_equal(post(c, sid, huge, &r), 413);
    mresp_free(&r);
    free(huge);
    free(sh);
    free(sid);
}

static void test_guard_and_auth(void **state)
{
    struct ctx *c = *state;
    struct mresp r;
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"; /* no session needed */
    const char *forbidden[][2] = {
        {"Host: evil.example.com", NULL},
        {"Host: evil.example.com:80", "Origin: http://evil.example.com"},
        {"Origin: http://evil.example.com", NULL},
        {"Origin: http://localhost.evil.example.com:3000", NULL},
        {"Origin: null", NULL},
        {"Host: 127.0.0.2", NULL},
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        const char *extra[] = {forbidden[i][0], forbidden[i][1], NULL};
        assert_int_equal(mcp_http(c, "POST", c->mia, extra, ping, &r), 403);
        assert_int_equal(error_code(&r), -32000);
        mresp_free(&r);
    }
    const char *allowed[][2] = {
        {"Origin: http://localhost:6274", NULL},
        {"Origin: http://127.0.0.1:1", NULL},
        {"Origin: https://[::1]:8443", "Host: [::1]:9"},
        {"Host: localhost:1234", "Origin: http://LOCALHOST"},
        {"Host: 127.0.0.1", NULL},
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        const char *extra[] = {allowed[i][0], allowed[i][1], NULL};
        if (mcp_http(c, "POST", c->mia, extra, ping, &r) != 200)
            fail_msg("%s %s: %ld", allowed[i][0], allowed[i][1] ? allowed[i][1] : "", r.status);
        mresp_free(&r);
    }
    /* No token, a bad one: 401 pointing at the resource metadata. */
    assert_int_equal(mcp_http(c, "POST", NULL, NULL, INIT, &r), 401);
    char *www = header(&r, "WWW-Authenticate");
    char *want =
        fmt("Bearer resource_metadata=\"%s/.well-known/oauth-protected-resource\"", c->s.url);
    assert_string_equal(www, want);
    free(www);
    mresp_free(&r);
    assert_int_equal(mcp_http(c, "POST", "Xq3Rk9tLm2-Vb7NcW4pZs8HdJ1fYaE6gU", NULL, INIT, &r), 401);
    www = header(&r, "WWW-Authenticate");
    assert_true(str_has_prefix(www, want));
    free(www);
    free(want);
    mresp_free(&r);
    /* Berth-Session-Token works too. */
    char *tok = fmt("Berth-Session-Token: %s", c->mia);
    const char *extra[] = {tok, NULL};
    assert_int_equal(mcp_http(c, "POST", NULL, extra, ping, &r), 200);
    mresp_free(&r);
    free(tok);
    struct resp meta;
    assert_int_equal(
        http_req(&c->s, "GET", "/.well-known/oauth-protected-resource", NULL, NULL, &meta), 200);
    char *resource = fmt("%s" MCP, c->s.url);
    assert_string_equal(jsonx_get_str(meta.json, "resource", ""), resource);
    free(resource);
    resp_free(&meta);

    /* The access URL's host passes, on any port. */
    struct server other;
    const char *args[] = {"--access-url", "https://berth.example.com", NULL};
    server_start(&other, args);
    server_bootstrap_owner(&other);
    struct ctx oc;
    memset(&oc, 0, sizeof oc);
    oc.s = other;
    str_copy(oc.mia, sizeof oc.mia, other.owner_token);
    const char *hosts[] = {"Host: berth.example.com", "Host: BERTH.example.com:8443"};
    for (size_t i = 0; i < 2; i++) {
        const char *h[] = {hosts[i], "Origin: https://berth.example.com", NULL};
        assert_int_equal(mcp_http(&oc, "POST", oc.mia, h, ping, &r), 200);
        mresp_free(&r);
    }
    const char *h[] = {"Host: example.com", NULL};
    assert_int_equal(mcp_http(&oc, "POST", oc.mia, h, ping, &r), 403);
    mresp_free(&r);
    server_destroy(&oc.s);
}

static long post_modern(struct ctx *c, const char *version, const char *method, const char *name,
                        const char *body, struct mresp *out)
{
    char *v = version ? fmt("MCP-Protocol-Version: %s", version) : NULL;
    char *m = method ? fmt("Mcp-Method: %s", method) : NULL;
    char *n = name ? fmt("Mcp-Name: %s", name) : NULL;
    const char *extra[4] = {NULL};
    int k = 0;
    if (v)
        extra[k++] = v;
    if (m)
        extra[k++] = m;
    if (n)
        extra[k++] = n;
    long st = mcp_http(c, "POST", c->mia, extra, body, out);
    free(v);
    free(m);
    free(n);
    return st;
}

static void test_stateless(void **state)
{
    struct ctx *c = *state;
    struct mresp r;
    assert_int_equal(post_modern(c, "2026-07-28", "server/discover", NULL,
                                 "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"server/discover\","
                                 "\"params\":{" META "}}",
                                 &r),
                     200);
    const json_t *res = result(&r);
    assert_string_equal(jsonx_get_str(res, "resultType", ""), "complete");
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(res, "supportedVersions"), 0)),
        "2026-07-28");
    assert_true(json_is_integer(json_object_get(res, "ttlMs")));
    assert_non_null(json_object_get(res, "cacheScope"));
    assert_null(header(&r, "Mcp-Session-Id"));
    mresp_free(&r);
    /* Missing _meta fields: 400 -32602 (clientInfo is not required). */
    assert_int_equal(post_modern(c, "2026-07-28", "tools/list", NULL,
                                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                                 "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
                                 "protocolVersion\":\"2026-07-28\"}}}",
                                 &r),
                     400);
    assert_int_equal(error_code(&r), -32602);
    mresp_free(&r);
    /* Header mismatch: 400 -32020. */
    assert_int_equal(post_modern(c, "2026-07-28", "tools/call", NULL,
                                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                                 "\"params\":{" META "}}",
                                 &r),
                     400);
    assert_int_equal(error_code(&r), -32020);
    mresp_free(&r);
    /* v999: 400 -32022 with data. */
    assert_int_equal(post_modern(c, "v999.0.0", "tools/list", NULL,
                                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                                 "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
                                 "protocolVersion\":\"v999.0.0\",\"io.modelcontextprotocol/"
                                 "clientCapabilities\":{}}}}",
                                 &r),
                     400);
    assert_int_equal(error_code(&r), -32022);
    const json_t *data = json_object_get(json_object_get(message(&r), "error"), "data");
    assert_string_equal(jsonx_get_str(data, "requested", ""), "v999.0.0");
    assert_true(json_array_size(json_object_get(data, "supported")) >= 1);
    mresp_free(&r);
    /* initialize (and ping) with modern _meta: 404 -32601. */
    assert_int_equal(post_modern(c, "2026-07-28", "initialize", NULL,
                                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                                 "\"params\":{\"protocolVersion\":\"2025-11-25\",\"capabilities\":"
                                 "{}," META "}}",
                                 &r),
                     404);
    assert_int_equal(error_code(&r), -32601);
    mresp_free(&r);
    /* A call: resultType, and the user's "MCP" chat. */
    assert_int_equal(post_modern(c, "2026-07-28", "tools/call", "list_templates",
                                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                                 "\"params\":{\"name\":\"list_templates\",\"arguments\":{}," META
                                 "}}",
                                 &r),
                     200);
    res = result(&r);
    assert_string_equal(jsonx_get_str(res, "resultType", ""), "complete");
    assert_true(json_is_false(json_object_get(res, "isError")));
    mresp_free(&r);
    struct resp chats;
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->mia, NULL, &chats), 200);
    assert_int_equal(json_array_size(chats.json), 1);
    assert_string_equal(jsonx_get_str(json_array_get(chats.json, 0), "title", ""), "MCP");
    resp_free(&chats);
}

/* Template files whose start build sleeps (seconds). */
static json_t *sleepy_template(struct ctx *c, const char *name, int seconds)
{
    char *prov = fmt("#!/bin/sh\nif [ \"$1\" = start ]; then sleep %d; fi\necho \"provision $1\"\n",
                     seconds);
    const char *files[] = {"berth.yaml", "provision: ./provision\n", "provision", prov, NULL};
    json_t *t = make_template(&c->s, name, files);
    free(prov);
    return t;
}

/* Checks the progress notifications before a response: the token echoed, progress rising. */
static size_t check_progress(const struct mresp *r, const char *token)
{
    size_t n = json_array_size(r->events), count = 0;
    int64_t last = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        const json_t *ev = json_array_get(r->events, i);
        assert_string_equal(jsonx_get_str(ev, "method", ""), "notifications/progress");
        const json_t *p = json_object_get(ev, "params");
        assert_string_equal(jsonx_get_str(p, "progressToken", ""), token);
        int64_t v = json_integer_value(json_object_get(p, "progress"));
        assert_true(v > last);
        last = v;
        assert_true(strlen(jsonx_get_str(p, "message", "")) > 0);
        count++;
    }
    return count;
}

static void test_progress(void **state)
{
    struct ctx *c = *state;
    json_t *t = sleepy_template(c, "quick", 1);
    char *args = fmt("{\"template_id\":\"%s\"}", jsonx_get_str(t, "id", ""));
    char *sid = initialize(c);
    struct mresp r;
    assert_int_equal(call(c, sid, "1", "create_workspace", args, "\"create\"", &r), 200);
    assert_true(check_progress(&r, "create") >= 1);
    const json_t *res = result(&r);
    assert_true(json_is_false(json_object_get(res, "isError")));
    assert_true(
        json_is_true(json_object_get(json_object_get(res, "structuredContent"), "created")));
    mresp_free(&r);
    assert_int_equal(call(c, sid, "2", "stop_workspace", "{}", NULL, &r), 200);
    assert_int_equal(json_array_size(r.events), 1); /* no token, no progress */
    assert_true(
        json_is_true(json_object_get(json_object_get(result(&r), "structuredContent"), "stopped")));
    mresp_free(&r);
    assert_int_equal(call(c, sid, "3", "start_workspace", "{}", "\"start\"", &r), 200);
    assert_true(check_progress(&r, "start") >= 1);
    res = result(&r);
    assert_true(json_is_false(json_object_get(res, "isError")));
    assert_true(
        json_is_true(json_object_get(json_object_get(res, "structuredContent"), "started")));
    mresp_free(&r);
    free(sid);
    free(args);
    json_decref(t);
}

struct bg_call {
    struct ctx *c;
    const char *session;
    const char *body;
    struct mresp r;
    pthread_mutex_t lock;
    pthread_t thread;
    int64_t ended_us;
};

static void *bg_call_run(void *arg)
{
    struct bg_call *b = arg;
    char *sh = fmt("Mcp-Session-Id: %s", b->session);
    const char *extra[] = {sh, NULL};
    CURL *cu = curl_easy_init();
    char *url = fmt("%s" MCP, b->c->s.url);
    char *auth = fmt("Authorization: Bearer %s", b->c->mia);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, extra[0]);
    buf_init(&b->r.headers, 0);
    buf_init(&b->r.body, 0);
    b->r.lock = &b->lock;
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, b->body);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, &b->r);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b->r);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 120L);
    curl_easy_perform(cu);
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &b->r.status);
    b->ended_us = time_mono_us();
    curl_slist_free_all(h);
    curl_easy_cleanup(cu);
    free(url);
    free(auth);
    free(sh);
    return NULL;
}

static bool bg_saw(struct bg_call *b, const char *what)
{
    pthread_mutex_lock(&b->lock);
    bool seen = strstr(buf_str(&b->r.body), what) != NULL;
    pthread_mutex_unlock(&b->lock);
    return seen;
}

static void test_cancel(void **state)
{
    struct ctx *c = *state;
    json_t *t = sleepy_template(c, "sleepy", 30);
    char *sid = initialize(c);
    char *body = fmt("{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"tools/call\",\"params\":{"
                     "\"name\":\"create_workspace\",\"arguments\":{\"template_id\":\"%s\"},"
                     "\"_meta\":{\"progressToken\":\"p\"}}}",
                     jsonx_get_str(t, "id", ""));
    struct bg_call b = {.c = c, .session = sid, .body = body};
    pthread_mutex_init(&b.lock, NULL);
    assert_int_equal(pthread_create(&b.thread, NULL, bg_call_run, &b), 0);
    /* The build runs: progress arrives while the call waits. */
    int64_t deadline = time_mono_us() + 20 * 1000000LL;
    while (!bg_saw(&b, "notifications/progress") && time_mono_us() < deadline)
        usleep(20000);
    assert_true(bg_saw(&b, "notifications/progress"));
    usleep(300000);
    assert_false(bg_saw(&b, "\"id\":77"));
    /* Cancel it: the call stops waiting at once and answers nothing. */
    struct mresp r;
    int64_t t0 = time_mono_us();
    assert_int_equal(post(c, sid,
                          "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":"
                          "{\"requestId\":77,\"reason\":\"test\"}}",
                          &r),
                     202);
    mresp_free(&r);
    pthread_join(b.thread, NULL);
    assert_true((b.ended_us - t0) / 1000 < 5000);
    assert_int_equal(b.r.status, 200);
    assert_false(bg_saw(&b, "\"id\":77"));
    /* The session goes on serving. */
    assert_int_equal(post(c, sid, "{\"jsonrpc\":\"2.0\",\"id\":78,\"method\":\"ping\"}", &r), 200);
    mresp_free(&r);
    mresp_free(&b.r);
    pthread_mutex_destroy(&b.lock);
    free(body);
    free(sid);
    json_decref(t);
}

/* ---- stdio ---- */

struct proc {
    pid_t pid;
    int in, out;
    struct buf pending; /* read but not yet returned */
};

static void mcp_spawn(struct ctx *c, struct proc *p, const char *const *args)
{
    int in[2], out[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0); /* never inherited by servers started later */
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    char *cfg = fmt("%s/mcp-config", c->s.dir);
    char *errlog = fmt("%s/mcp.err", c->s.dir);
    const char *argv[8] = {getenv("BERTH_BIN"), "mcp"};
    int n = 2;
    for (int i = 0; args && args[i] && n < 7; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    p->pid = fork();
    if (p->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        int e = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(e, 2);
        close(in[1]);
        close(out[0]);
        setenv("XDG_CONFIG_HOME", cfg, 1);
        setenv("BERTH_URL", c->s.url, 1);
        setenv("BERTH_SESSION_TOKEN", c->mia, 1);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    p->in = in[1];
    p->out = out[0];
    buf_init(&p->pending, 0);
    free(cfg);
    free(errlog);
}

static void send_line(struct proc *p, const char *line)
{
    size_t len = strlen(line);
    assert_int_equal(write(p->in, line, len), (ssize_t)len);
    assert_int_equal(write(p->in, "\n", 1), 1);
}

/* The next line from the process's stdout, parsed (waits at most timeout_ms). */
static json_t *read_msg(struct proc *p, int timeout_ms)
{
    int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        char *nl = p->pending.len ? memchr(p->pending.data, '\n', p->pending.len) : NULL;
        if (nl) {
            size_t len = (size_t)(nl - p->pending.data);
            json_error_t je;
            json_t *v = json_loadb(p->pending.data, len, 0, &je);
            if (!v)
                fail_msg("stdout has a line that is not JSON: %.*s", (int)len, p->pending.data);
            buf_consume(&p->pending, len + 1);
            return v;
        }
        int left = (int)((deadline - time_mono_us()) / 1000);
        if (left <= 0)
            fail_msg("no message from berth mcp within %d ms", timeout_ms);
        struct pollfd pfd = {.fd = p->out, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        char chunk[65536];
        ssize_t n = read(p->out, chunk, sizeof chunk);
        if (n <= 0)
            fail_msg("berth mcp closed stdout");
        buf_append(&p->pending, chunk, (size_t)n);
    }
}

/* The next message that is not a notification. */
static json_t *read_response(struct proc *p, int timeout_ms)
{
    for (;;) {
        json_t *v = read_msg(p, timeout_ms);
        if (json_object_get(v, "id"))
            return v;
        json_decref(v);
    }
}

/* Closes stdin and expects exit status 0 within timeout_ms. */
static void mcp_finish(struct proc *p, int timeout_ms)
{
    close(p->in);
    int64_t deadline = time_mono_us() + (int64_t)timeout_ms * 1000;
    int status = 0;
    while (waitpid(p->pid, &status, WNOHANG) == 0) {
        if (time_mono_us() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            fail_msg("berth mcp did not exit after stdin closed");
        }
        usleep(10000);
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Nothing but MCP on stdout, up to the end. */
    char chunk[4096];
    ssize_t n;
    while ((n = read(p->out, chunk, sizeof chunk)) > 0)
        buf_append(&p->pending, chunk, (size_t)n);
    const char *s = buf_str(&p->pending);
    while (*s) {
        const char *nl = strchr(s, '\n');
        assert_non_null(nl);
        json_error_t je;
        json_t *v = json_loadb(s, (size_t)(nl - s), 0, &je);
        assert_non_null(v);
        json_decref(v);
        s = nl + 1;
    }
    close(p->out);
    buf_free(&p->pending);
}

static void test_stdio(void **state)
{
    struct ctx *c = *state;
    struct proc p;
    mcp_spawn(c, &p, NULL);
    send_line(&p, INIT);
    json_t *v = read_response(&p, 10000);
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 0);
    assert_string_equal(jsonx_get_str(json_object_get(v, "result"), "protocolVersion", ""),
                        "2025-11-25");
    json_decref(v);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    /* A line that is not JSON: -32700 with id null, at once. */
    send_line(&p, "this is not json");
    v = read_msg(&p, 10000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "error"), "code")),
                     -32700);
    assert_true(json_is_null(json_object_get(v, "id")));
    json_decref(v);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"id\":\"l\",\"method\":\"tools/list\"}");
    v = read_response(&p, 10000);
    assert_string_equal(jsonx_get_str(v, "id", ""), "l");
    assert_int_equal(json_array_size(json_object_get(json_object_get(v, "result"), "tools")), 12);
    json_decref(v);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
                  "\"list_templates\",\"arguments\":{}}}");
    v = read_response(&p, 30000);
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 2);
    json_t *res = json_object_get(v, "result");
    assert_true(json_is_false(json_object_get(res, "isError")));
    assert_true(json_is_object(json_object_get(res, "structuredContent")));
    json_decref(v);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"}");
    v = read_response(&p, 10000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "error"), "code")),
                     -32601);
    json_decref(v);
    mcp_finish(&p, 10000);

    /* A request before initialize gets the server's answer, with its id. */
    mcp_spawn(c, &p, NULL);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\"}");
    v = read_response(&p, 10000);
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 9);
    assert_non_null(json_object_get(v, "error"));
    json_decref(v);
    mcp_finish(&p, 10000);
}

/* The session's chat survives a server restart under `berth mcp`: the bridge starts a new
 * session on the same chat, and the client sees nothing. */
static void test_stdio_server_restart(void **state)
{
    struct ctx *c = *state;
    json_t *t = sleepy_template(c, "quick", 0);
    struct proc p;
    mcp_spawn(c, &p, NULL);
    send_line(&p, INIT);
    json_decref(read_response(&p, 10000));
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    char *line = fmt("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
                     "\"create_workspace\",\"arguments\":{\"template_id\":\"%s\"},\"_meta\":{"
                     "\"progressToken\":1}}}",
                     jsonx_get_str(t, "id", ""));
    send_line(&p, line);
    free(line);
    json_t *v = read_response(&p, 60000);
    assert_true(json_is_false(json_object_get(json_object_get(v, "result"), "isError")));
    json_decref(v);

    const char *port = strrchr(c->s.url, ':') + 1;
    char *listen = fmt("127.0.0.1:%s", port);
    const char *args[] = {"--listen", listen, NULL};
    server_stop(&c->s);
    server_restart(&c->s, args);
    free(listen);
    send_line(&p, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
                  "\"stop_workspace\",\"arguments\":{}}}");
    v = read_response(&p, 60000);
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 2);
    json_t *res = json_object_get(v, "result");
    assert_true(json_is_false(json_object_get(res, "isError")));
    assert_true(
        json_is_true(json_object_get(json_object_get(res, "structuredContent"), "stopped")));
    json_decref(v);
    mcp_finish(&p, 10000);
    json_decref(t);
}

/* ---- many short SSE answers at once ---- */

#define BURST_THREADS 4
#define BURST_CALLS   250

struct burst {
    struct ctx *c;
    char *session;
    int ok;            /* answers that were a 200 SSE stream ending in the call's result */
    char failure[256]; /* the first answer that was not */
};

static size_t burst_collect(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* One keep-alive connection making BURST_CALLS tools/call requests whose answers are SSE
 * streams, each started and ended by a worker thread while the loop thread flushes it. */
static void *burst_main(void *arg)
{
    struct burst *b = arg;
    CURL *cu = curl_easy_init();
    char *url = fmt("%s" MCP, b->c->s.url);
    char *auth = fmt("Authorization: Bearer %s", b->c->mia);
    char *sid = fmt("Mcp-Session-Id: %s", b->session);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "MCP-Protocol-Version: 2025-11-25");
    h = curl_slist_append(h, auth);
    h = curl_slist_append(h, sid);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, burst_collect);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT, 60L);
    struct buf body;
    buf_init(&body, 0);
    for (int i = 0; i < BURST_CALLS; i++) {
        char *req = fmt("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                        "{\"name\":\"list_templates\",\"arguments\":{}}}",
                        i);
        char *want = fmt("\"id\":%d,\"result\":", i);
        buf_reset(&body);
        curl_easy_setopt(cu, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(cu, CURLOPT_POSTFIELDS, req);
        CURLcode rc = curl_easy_perform(cu);
        long status = 0;
        curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status == 200 && strstr(buf_str(&body), want))
            b->ok++;
        else if (!b->failure[0])
            snprintf(b->failure, sizeof b->failure, "call %d: %s, status %ld: %.120s", i,
                     curl_easy_strerror(rc), status, buf_str(&body));
        free(want);
        free(req);
    }
    buf_free(&body);
    curl_slist_free_all(h);
    curl_easy_cleanup(cu);
    free(sid);
    free(auth);
    free(url);
    return NULL;
}

/* A stream ended by its worker while the loop is still flushing it must neither be lost nor
 * freed twice: many short SSE answers at once all arrive whole, and the server goes on (under
 * ASan, a stream used after it was freed fails the run). */
static void test_many_short_sse_answers(void **state)
{
    struct ctx *c = *state;
    struct burst b[BURST_THREADS];
    pthread_t t[BURST_THREADS];
    for (int i = 0; i < BURST_THREADS; i++) {
        b[i] = (struct burst){.c = c, .session = initialize(c)};
        pthread_create(&t[i], NULL, burst_main, &b[i]);
    }
    for (int i = 0; i < BURST_THREADS; i++) {
        pthread_join(t[i], NULL);
        if (b[i].failure[0])
            fail_msg("%s", b[i].failure);
        assert_int_equal(b[i].ok, BURST_CALLS);
        free(b[i].session);
    }
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/buildinfo", NULL, NULL, &r), 200);
    resp_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stateless, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stdio_server_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_short_sse_answers, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
