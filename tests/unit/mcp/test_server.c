/* Unit tests of the MCP server without HTTP, over a fake chat side: the 2025-11-25 lifecycle and
 * sessions (negotiation, ping, errors before initialize, unknown or foreign sessions, DELETE,
 * idle expiry, the cap per user), tools/list and tools/call (results, text and build errors,
 * the session's chat, cancellation, progress), and the stateless 2026-07-28 checks in order. */
#include "testing.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "unit/mcp/fake.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALICE "019a7c2e-5b1a-7c3d-8e4f-00000000000a"
#define BOB   "019a7c2e-5b1a-7c3d-8e4f-00000000000b"

#define META                                                                                       \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                       \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"

struct fx {
    struct fake f;
    struct mcp_server *s;
    struct subject alice, bob;
};

static int setup_with(void **state, int max_per_user, int64_t heartbeat_ms)
{
    struct fx *x = calloc(1, sizeof *x);
    fake_init(&x->f);
    x->alice = fake_user(ALICE);
    x->bob = fake_user(BOB);
    struct mcp_config cfg = {
        .backend = fake_backend(&x->f),
        .version = "9.9.9",
        .session_idle_ms = 60 * 60 * 1000,
        .max_sessions_per_user = max_per_user,
        .now_ms = fake_now_ms,
        .now_arg = &x->f,
        .progress_heartbeat_ms = heartbeat_ms,
    };
    x->f.now_ms = 1000;
    x->s = mcp_server_new(&cfg);
    *state = x;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0, 0);
}

static int setup_cap2(void **state)
{
    return setup_with(state, 2, 0);
}

static int setup_heartbeat(void **state)
{
    return setup_with(state, 0, 40);
}

static int teardown(void **state)
{
    struct fx *x = *state;
    mcp_server_free(x->s);
    fake_free(&x->f);
    free(x);
    return 0;
}

/* Posts body with the given headers; returns the reply (caller clears it). */
static struct mcp_reply post_in(struct fx *x, const struct mcp_input *in, const char *body)
{
    struct mcp_reply r;
    mcp_post(x->s, in, body, strlen(body), &r);
    return r;
}

static struct mcp_reply post(struct fx *x, const struct subject *sub, const char *session,
                             const char *body)
{
    struct mcp_input in = {.sub = sub, .session_id = session};
    return post_in(x, &in, body);
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fail_msg("not JSON: %s", text);
    return v;
}

/* The error code of a reply's body (0 when it is a result). */
static int error_code(const struct mcp_reply *r)
{
    assert_non_null(r->body);
    json_t *v = parse(r->body);
    int code = (int)json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
    json_decref(v);
    return code;
}

/* Initializes a session for sub; returns its id (heap). */
static char *initialize(struct fx *x, const struct subject *sub, const char *chat_id)
{
    struct mcp_input in = {.sub = sub, .chat_id = chat_id};
    struct mcp_reply r = post_in(
        x, &in,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"unit\",\"version\":\"1\"}}"
        "}");
    assert_int_equal(r.status, 200);
    assert_int_equal(strlen(r.session_id), MCP_SESSION_ID_LEN);
    char *id = xstrdup(r.session_id);
    mcp_reply_clear(&r);
    return id;
}

/* ---- running calls ---- */

struct run {
    struct mcp_call *call;
    json_t *msgs; /* every message emitted, parsed */
    pthread_t thread;
};

static void collect(void *arg, const char *message)
{
    struct run *run = arg;
    json_array_append_new(run->msgs, parse(message));
}

static void *run_thread(void *arg)
{
    struct run *run = arg;
    mcp_call_run(run->call, collect, run);
    return NULL;
}

/* Runs the call of reply r (taken) to its end; returns the messages (new reference). */
static json_t *run_call(struct mcp_reply *r)
{
    assert_non_null(r->call);
    struct run run = {.call = r->call, .msgs = json_array()};
    r->call = NULL;
    mcp_call_run(run.call, collect, &run);
    mcp_call_free(run.call);
    mcp_reply_clear(r);
    return run.msgs;
}

static json_t *call_tool(struct fx *x, const char *session, const char *name, const char *args)
{
    char *body = str_printf("{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\","
                            "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
                            name, args);
    struct mcp_reply r = post(x, &x->alice, session, body);
    free(body);
    assert_int_equal(r.status, 200);
    json_t *msgs = run_call(&r);
    assert_int_equal(json_array_size(msgs), 1);
    json_t *res = json_incref(json_object_get(json_array_get(msgs, 0), "result"));
    json_decref(msgs);
    return res;
}

static void wait_waiting(struct fake *f, bool want)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&f->lock);
        bool w = f->waiting;
        pthread_mutex_unlock(&f->lock);
        if (w == want)
            return;
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("the fake tool did not %s waiting", want ? "start" : "stop");
}

/* ---- 2025-11-25 ---- */

static void test_initialize(void **state)
{
    struct fx *x = *state;
    const char *versions[][2] = {
        {"2025-11-25", "2025-11-25"}, {"2025-06-18", "2025-06-18"}, {"2025-03-26", "2025-03-26"},
        {"2024-11-05", "2025-11-25"}, {"2026-07-28", "2025-11-25"}, {"banana", "2025-11-25"},
    };
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        char *body = str_printf("{\"jsonrpc\":\"2.0\",\"id\":\"i%zu\",\"method\":\"initialize\","
                                "\"params\":{\"protocolVersion\":\"%s\",\"capabilities\":{}}}",
                                i, versions[i][0]);
        struct mcp_reply r = post(x, &x->alice, NULL, body);
        free(body);
        assert_int_equal(r.status, 200);
        for (const char *p = r.session_id; *p; p++)
            assert_true(*p >= 0x21 && *p <= 0x7e);
        assert_int_equal(strlen(r.session_id), MCP_SESSION_ID_LEN);
        json_t *v = parse(r.body);
        char *want_id = str_printf("i%zu", i);
        assert_string_equal(jsonx_get_str(v, "id", ""), want_id);
        free(want_id);
        json_t *res = json_object_get(v, "result");
        assert_string_equal(jsonx_get_str(res, "protocolVersion", ""), versions[i][1]);
        char *caps = jsonx_dump(json_object_get(res, "capabilities"));
        assert_string_equal(caps, "{\"tools\":{\"listChanged\":false}}");
        free(caps);
        json_t *info = json_object_get(res, "serverInfo");
        assert_string_equal(jsonx_get_str(info, "name", ""), "berth");
        assert_string_equal(jsonx_get_str(info, "version", ""), "9.9.9");
        assert_true(strlen(jsonx_get_str(res, "instructions", "")) > 100);
        assert_null(json_object_get(res, "resultType"));
        json_decref(v);
        mcp_reply_clear(&r);
    }
    assert_int_equal(mcp_session_count(x->s), 6);
    assert_int_equal(x->f.creates, 0); /* chats come with the first tool call */

    /* No protocolVersion: invalid params, and no session. */
    struct mcp_reply r =
        post(x, &x->alice, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
    assert_int_equal(r.status, 200);
    assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
    assert_string_equal(r.session_id, "");
    mcp_reply_clear(&r);
    /* An unsupported MCP-Protocol-Version header: 400. */
    struct mcp_input in = {.sub = &x->alice, .protocol_version = "1999-01-01"};
    r = post_in(x, &in,
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
                "\"protocolVersion\":\"2025-11-25\"}}");
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), MCP_ERR_TRANSPORT);
    mcp_reply_clear(&r);
    assert_int_equal(mcp_session_count(x->s), 6);
}

static void test_before_initialize(void **state)
{
    struct fx *x = *state;
    /* Requests and notifications need a session... */
    const char *need[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"x\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
    };
    for (size_t i = 0; i < 3; i++) {
        struct mcp_reply r = post(x, &x->alice, NULL, need[i]);
        assert_int_equal(r.status, 400);
        assert_int_equal(error_code(&r), MCP_ERR_TRANSPORT);
        assert_non_null(strstr(r.body, "Server not initialized"));
        mcp_reply_clear(&r);
    }
    /* ...but ping is answered any time. */
    struct mcp_reply r =
        post(x, &x->alice, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    mcp_reply_clear(&r);
}

static void test_session_checks(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}";
    struct mcp_reply r = post(x, &x->alice, sid, ping);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}");
    mcp_reply_clear(&r);
    /* Unknown, or another user's: 404 -32001. */
    const struct subject *subs[] = {&x->alice, &x->bob};
    const char *ids[] = {"nope", sid};
    for (size_t i = 0; i < 2; i++) {
        r = post(x, subs[i], ids[i], ping);
        assert_int_equal(r.status, 404);
        assert_int_equal(error_code(&r), MCP_ERR_SESSION_NOT_FOUND);
        assert_non_null(strstr(r.body, "\"id\":\"p\""));
        mcp_reply_clear(&r);
    }
    /* MCP-Protocol-Version: any supported one passes, others are 400. */
    struct mcp_input in = {.sub = &x->alice, .session_id = sid, .protocol_version = "2025-03-26"};
    r = post_in(x, &in, ping);
    assert_int_equal(r.status, 200);
    mcp_reply_clear(&r);
    in.protocol_version = "2099-01-01";
    r = post_in(x, &in, ping);
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), MCP_ERR_TRANSPORT);
    mcp_reply_clear(&r);
    /* The 2026 version without _meta: -32602. */
    in.protocol_version = "2026-07-28";
    r = post_in(x, &in, ping);
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
    mcp_reply_clear(&r);

    /* Notifications (known or not) and responses: 202, no body. */
    const char *quiet[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\",\"params\":{}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":9}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}",
    };
    for (size_t i = 0; i < 4; i++) {
        r = post(x, &x->alice, sid, quiet[i]);
        assert_int_equal(r.status, 202);
        assert_null(r.body);
        mcp_reply_clear(&r);
    }
    /* Unknown methods, and methods of capabilities not declared. */
    const char *methods[] = {"nope", "prompts/list", "resources/list", "logging/setLevel",
                             "server/discover"};
    for (size_t i = 0; i < 5; i++) {
        char *body = str_printf("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"%s\"}", methods[i]);
        r = post(x, &x->alice, sid, body);
        free(body);
        assert_int_equal(r.status, 200);
        assert_int_equal(error_code(&r), JSONRPC_METHOD_NOT_FOUND);
        mcp_reply_clear(&r);
    }
    /* Malformed input: 400 with the right code, the id when readable. */
    r = post(x, &x->alice, sid, "{oops");
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), JSONRPC_PARSE_ERROR);
    assert_non_null(strstr(r.body, "\"id\":null"));
    mcp_reply_clear(&r);
    r = post(x, &x->alice, sid, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), JSONRPC_INVALID_REQUEST);
    mcp_reply_clear(&r);
    r = post(x, &x->alice, sid, "{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":7}");
    assert_int_equal(r.status, 400);
    assert_int_equal(error_code(&r), JSONRPC_INVALID_REQUEST);
    assert_non_null(strstr(r.body, "\"id\":77"));
    mcp_reply_clear(&r);

    /* DELETE: missing header 400, then the session is gone. */
    char *body = NULL;
    assert_int_equal(mcp_session_delete(x->s, &x->alice, NULL, &body), 400);
    free(body);
    assert_int_equal(mcp_session_delete(x->s, &x->bob, sid, &body), 404);
    free(body);
    assert_int_equal(mcp_session_delete(x->s, &x->alice, sid, &body), 200);
    assert_null(body);
    assert_int_equal(mcp_session_delete(x->s, &x->alice, sid, &body), 404);
    free(body);
    r = post(x, &x->alice, sid, ping);
    assert_int_equal(r.status, 404);
    mcp_reply_clear(&r);
    free(sid);
}

static void test_tools_list(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    struct mcp_reply r =
        post(x, &x->alice, sid, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    assert_int_equal(r.status, 200);
    json_t *v = parse(r.body);
    json_t *res = json_object_get(v, "result");
    assert_int_equal(json_object_size(res), 1); /* tools; no nextCursor */
    json_t *tools = json_object_get(res, "tools");
    size_t n;
    const struct tool_def *const *defs = tool_defs(&n);
    assert_int_equal(n, 12);
    assert_int_equal(json_array_size(tools), n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tools, i);
        assert_string_equal(jsonx_get_str(t, "name", ""), defs[i]->name);
        assert_string_equal(jsonx_get_str(t, "description", ""), defs[i]->description);
        assert_true(strlen(defs[i]->description) > 0);
        json_t *schema = parse(defs[i]->input_schema);
        assert_true(json_equal(json_object_get(t, "inputSchema"), schema));
        assert_string_equal(jsonx_get_str(schema, "type", ""), "object");
        json_decref(schema);
        assert_null(json_object_get(t, "outputSchema"));
        json_t *ann = json_object_get(t, "annotations");
        assert_true(json_is_object(ann));
        assert_true(json_is_boolean(json_object_get(ann, "readOnlyHint")));
        for (const char *p = defs[i]->name; *p; p++)
            assert_non_null(strchr("abcdefghijklmnopqrstuvwxyz_", *p));
    }
    json_t *lt = json_object_get(json_array_get(tools, 0), "annotations");
    assert_true(json_is_true(json_object_get(lt, "readOnlyHint")));
    json_decref(v);
    mcp_reply_clear(&r);

    /* The same list in the same order every time; a cursor berth never gave is -32602. */
    r = post(
        x, &x->alice, sid,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"cursor\":null}}");
    assert_int_equal(r.status, 200);
    assert_int_equal(error_code(&r), 0);
    mcp_reply_clear(&r);
    r = post(
        x, &x->alice, sid,
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"cursor\":\"x\"}}");
    assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
    mcp_reply_clear(&r);
    free(sid);
}

static void test_tools_call(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    /* A result: the JSON as text, and structuredContent. */
    json_t *res = call_tool(x, sid, "list_templates", "{}");
    json_t *content = json_object_get(res, "content");
    assert_int_equal(json_array_size(content), 1);
    json_t *c0 = json_array_get(content, 0);
    assert_string_equal(jsonx_get_str(c0, "type", ""), "text");
    assert_string_equal(jsonx_get_str(c0, "text", ""), "{\"templates\":[]}");
    char *sc = jsonx_dump(json_object_get(res, "structuredContent"));
    assert_string_equal(sc, "{\"templates\":[]}");
    free(sc);
    assert_true(json_is_false(json_object_get(res, "isError")));
    json_decref(res);
    /* The session's chat was created by that call, titled after the client, and is reused. */
    assert_int_equal(x->f.creates, 1);
    assert_string_equal(x->f.chats[0].title, "MCP: unit");
    assert_string_equal(x->f.last_chat, x->f.chats[0].id);
    /* A text error: isError true, no structuredContent. */
    res = call_tool(x, sid, "execute", "{\"command\":\"x\"}");
    assert_true(json_is_true(json_object_get(res, "isError")));
    assert_null(json_object_get(res, "structuredContent"));
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(res, "content"), 0), "text", ""),
        "command failed: boom");
    json_decref(res);
    /* A build error is a result: isError false, with structuredContent. */
    res = call_tool(x, sid, "create_workspace", "{}");
    assert_true(json_is_false(json_object_get(res, "isError")));
    assert_string_equal(jsonx_get_str(json_object_get(res, "structuredContent"), "build_id", ""),
                        "b1");
    json_decref(res);
    /* Arguments reach the tool; absent arguments are none. */
    res = call_tool(x, sid, "read_file", "{\"path\":\"/etc/x\"}");
    assert_string_equal(x->f.last_args, "{\"path\":\"/etc/x\"}");
    json_decref(res);
    res = call_tool(x, sid, "read_file", "null");
    assert_null(x->f.last_args);
    json_decref(res);
    assert_int_equal(x->f.creates, 1);
    assert_string_equal(x->f.last_chat, x->f.chats[0].id);

    /* Protocol errors: unknown tool, arguments not an object, no name. */
    const char *bad[] = {
        "{\"name\":\"no_such_tool\"}",
        "{\"name\":\"execute\",\"arguments\":[1]}",
        "{\"name\":\"execute\",\"arguments\":\"x\"}",
        "{\"arguments\":{}}",
        "{\"name\":5}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *body = str_printf(
            "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":%s}", bad[i]);
        struct mcp_reply r = post(x, &x->alice, sid, body);
        free(body);
        assert_int_equal(r.status, 200);
        assert_null(r.call);
        assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
        mcp_reply_clear(&r);
    }
    struct mcp_reply r =
        post(x, &x->alice, sid, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\"}");
    assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
    mcp_reply_clear(&r);
    free(sid);
}

static void test_chat_header(void **state)
{
    struct fx *x = *state;
    char mine[UUID_STR_LEN], bobs[UUID_STR_LEN];
    fake_add_chat(&x->f, ALICE, "mine", mine);
    fake_add_chat(&x->f, BOB, "bob's", bobs);
    char *sid = initialize(x, &x->alice, mine);
    json_decref(call_tool(x, sid, "list_templates", "{}"));
    assert_string_equal(x->f.last_chat, mine);
    assert_int_equal(x->f.creates, 0);
    free(sid);
    /* Someone else's chat, or none at all: 404, and no session. */
    const char *others[] = {bobs, "019a7c2e-5b1a-7c3d-8e4f-0123456789ab"};
    for (size_t i = 0; i < 2; i++) {
        struct mcp_input in = {.sub = &x->alice, .chat_id = others[i]};
        struct mcp_reply r = post_in(x, &in,
                                     "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                                     "\"params\":{\"protocolVersion\":\"2025-11-25\"}}");
        assert_int_equal(r.status, 404);
        assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
        assert_string_equal(r.session_id, "");
        mcp_reply_clear(&r);
    }
    assert_int_equal(mcp_session_count(x->s), 1);
}

static void test_cancel(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    struct mcp_reply r = post(x, &x->alice, sid,
                              "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"tools/call\",\"params\":"
                              "{\"name\":\"start_workspace\",\"_meta\":{\"progressToken\":7}}}");
    assert_non_null(r.call);
    assert_true(mcp_call_wants_progress(r.call));
    assert_false(mcp_call_stateless(r.call));
    struct run run = {.call = r.call, .msgs = json_array()};
    r.call = NULL;
    assert_int_equal(pthread_create(&run.thread, NULL, run_thread, &run), 0);
    wait_waiting(&x->f, true);
    /* Another id, of another type, and another session's: nothing happens. */
    const char *misses[] = {
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
        "cancelled\",\"params\":{\"requestId\":43}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":"
        "\"42\"}}",
    };
    for (size_t i = 0; i < 2; i++) {
        struct mcp_reply n = post(x, &x->alice, sid, misses[i]);
        assert_int_equal(n.status, 202);
        mcp_reply_clear(&n);
    }
    char *other = initialize(x, &x->alice, NULL);
    struct mcp_reply n = post(x, &x->alice, other,
                              "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                              "\"params\":{\"requestId\":42}}");
    mcp_reply_clear(&n);
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&x->f.lock);
    assert_true(x->f.waiting);
    pthread_mutex_unlock(&x->f.lock);
    /* The right one ends the wait, and the call answers nothing. */
    n = post(x, &x->alice, sid,
             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
             "\"requestId\":42,\"reason\":\"user\"}}");
    assert_int_equal(n.status, 202);
    mcp_reply_clear(&n);
    pthread_join(run.thread, NULL);
    mcp_call_free(run.call);
    mcp_reply_clear(&r);
    /* Two progress notifications (before the cancel), then nothing. */
    assert_int_equal(json_array_size(run.msgs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(run.msgs, i);
        assert_string_equal(jsonx_get_str(m, "method", ""), "notifications/progress");
        assert_null(json_object_get(m, "id"));
        json_t *p = json_object_get(m, "params");
        assert_int_equal(json_integer_value(json_object_get(p, "progressToken")), 7);
        assert_int_equal(json_integer_value(json_object_get(p, "progress")), (json_int_t)i + 1);
        assert_true(strlen(jsonx_get_str(p, "message", "")) > 0);
    }
    json_decref(run.msgs);
    free(other);
    free(sid);
}

/* A call that waits long without news repeats its last progress, with the time waited. */
static void test_progress_heartbeat(void **state)
{
    struct fx *x = *state; /* heartbeats after 40 ms */
    char *sid = initialize(x, &x->alice, NULL);
    struct mcp_reply r =
        post(x, &x->alice, sid,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
             "{\"name\":\"start_workspace\",\"_meta\":{\"progressToken\":\"h\"}}}");
    struct run run = {.call = r.call, .msgs = json_array()};
    r.call = NULL;
    assert_int_equal(pthread_create(&run.thread, NULL, run_thread, &run), 0);
    wait_waiting(&x->f, true);
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    mcp_call_cancel(run.call);
    pthread_join(run.thread, NULL);
    size_t n = json_array_size(run.msgs);
    assert_true(n >= 4); /* the tool's two, and heartbeats */
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_object_get(json_array_get(run.msgs, i), "params");
        assert_int_equal(json_integer_value(json_object_get(p, "progress")), (json_int_t)i + 1);
        assert_string_equal(jsonx_get_str(p, "progressToken", ""), "h");
        if (i >= 2)
            assert_true(
                str_has_prefix(jsonx_get_str(p, "message", ""), "Build #1 is running (waiting, "));
    }
    /* Nothing after the call ended. */
    nanosleep(&ts, NULL);
    assert_int_equal(json_array_size(run.msgs), n);
    json_decref(run.msgs);
    mcp_call_free(run.call);
    mcp_reply_clear(&r);
    free(sid);
}

/* Waits ended by the server (its shutdown), not by the client: the client gets the answer. */
static void test_shutdown_answers(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    struct mcp_reply r = post(x, &x->alice, sid,
                              "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":"
                              "{\"name\":\"start_workspace\"}}");
    struct run run = {.call = r.call, .msgs = json_array()};
    r.call = NULL;
    assert_int_equal(pthread_create(&run.thread, NULL, run_thread, &run), 0);
    wait_waiting(&x->f, true);
    pthread_mutex_lock(&x->f.lock);
    tool_cancel_trigger(x->f.cancel); /* what chat_service_shutdown does */
    pthread_mutex_unlock(&x->f.lock);
    pthread_join(run.thread, NULL);
    assert_int_equal(json_array_size(run.msgs), 1);
    json_t *res = json_object_get(json_array_get(run.msgs, 0), "result");
    assert_string_equal(jsonx_get_str(json_object_get(res, "structuredContent"), "error", ""),
                        "canceled");
    json_decref(run.msgs);
    mcp_call_free(run.call);
    mcp_reply_clear(&r);
    free(sid);
}

static void test_delete_cancels(void **state)
{
    struct fx *x = *state;
    char *sid = initialize(x, &x->alice, NULL);
    struct mcp_reply r = post(x, &x->alice, sid,
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                              "{\"name\":\"start_workspace\"}}");
    assert_false(mcp_call_wants_progress(r.call));
    struct run run = {.call = r.call, .msgs = json_array()};
    r.call = NULL;
    assert_int_equal(pthread_create(&run.thread, NULL, run_thread, &run), 0);
    wait_waiting(&x->f, true);
    char *body = NULL;
    assert_int_equal(mcp_session_delete(x->s, &x->alice, sid, &body), 200);
    pthread_join(run.thread, NULL);
    assert_int_equal(json_array_size(run.msgs), 0); /* no progress was asked for, no response */
    json_decref(run.msgs);
    mcp_call_free(run.call); /* the last reference to the ended session */
    assert_int_equal(mcp_session_count(x->s), 0);
    free(sid);
}

static void test_expiry(void **state)
{
    struct fx *x = *state;
    char *idle = initialize(x, &x->alice, NULL);
    char *busy = initialize(x, &x->alice, NULL);
    struct mcp_reply r = post(x, &x->alice, busy,
                              "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                              "{\"name\":\"list_templates\"}}");
    assert_non_null(r.call);
    pthread_mutex_lock(&x->f.lock);
    x->f.now_ms += 2 * 60 * 60 * 1000;
    pthread_mutex_unlock(&x->f.lock);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    struct mcp_reply p = post(x, &x->alice, idle, ping);
    assert_int_equal(p.status, 404); /* idle for two hours: gone */
    mcp_reply_clear(&p);
    p = post(x, &x->alice, busy, ping);
    assert_int_equal(p.status, 200); /* a call in flight keeps it */
    mcp_reply_clear(&p);
    mcp_reply_clear(&r);
    free(idle);
    free(busy);
}

static void test_cap_per_user(void **state)
{
    struct fx *x = *state; /* at most 2 */
    char *a = initialize(x, &x->alice, NULL);
    pthread_mutex_lock(&x->f.lock);
    x->f.now_ms += 10;
    pthread_mutex_unlock(&x->f.lock);
    char *b = initialize(x, &x->alice, NULL);
    char *bob = initialize(x, &x->bob, NULL);
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    pthread_mutex_lock(&x->f.lock);
    x->f.now_ms += 10;
    pthread_mutex_unlock(&x->f.lock);
    struct mcp_reply r = post(x, &x->alice, a, ping); /* a is now the most recent */
    mcp_reply_clear(&r);
    char *c = initialize(x, &x->alice, NULL); /* evicts b, the least recently used */
    assert_int_equal(mcp_session_count(x->s), 3);
    r = post(x, &x->alice, b, ping);
    assert_int_equal(r.status, 404);
    mcp_reply_clear(&r);
    const char *alive[] = {a, c};
    for (size_t i = 0; i < 2; i++) {
        r = post(x, &x->alice, alive[i], ping);
        assert_int_equal(r.status, 200);
        mcp_reply_clear(&r);
    }
    r = post(x, &x->bob, bob, ping);
    assert_int_equal(r.status, 200);
    mcp_reply_clear(&r);
    /* When every session has a call in flight, a new one is refused. */
    struct mcp_reply ca = post(x, &x->alice, a,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                               "{\"name\":\"list_templates\"}}");
    struct mcp_reply cc = post(x, &x->alice, c,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                               "{\"name\":\"list_templates\"}}");
    r = post(x, &x->alice, NULL,
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
             "\"protocolVersion\":\"2025-11-25\"}}");
    assert_int_equal(r.status, 429);
    mcp_reply_clear(&r);
    mcp_reply_clear(&ca);
    mcp_reply_clear(&cc);
    free(a);
    free(b);
    free(c);
    free(bob);
}

/* ---- 2026-07-28 ---- */

static struct mcp_reply post_modern(struct fx *x, const char *version, const char *method,
                                    const char *name, const char *body)
{
    struct mcp_input in = {
        .sub = &x->alice, .protocol_version = version, .method = method, .name = name};
    return post_in(x, &in, body);
}

static void test_stateless_discover_and_list(void **state)
{
    struct fx *x = *state;
    struct mcp_reply r =
        post_modern(x, "2026-07-28", "server/discover", NULL,
                    "{\"jsonrpc\":\"2.0\",\"id\":\"server-discover-probe-1\",\"method\":\"server/"
                    "discover\",\"params\":{" META "}}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.session_id, "");
    json_t *v = parse(r.body);
    assert_string_equal(jsonx_get_str(v, "id", ""), "server-discover-probe-1");
    json_t *res = json_object_get(v, "result");
    assert_string_equal(jsonx_get_str(res, "resultType", ""), "complete");
    json_t *versions = mcp_versions_json();
    assert_true(json_equal(json_object_get(res, "supportedVersions"), versions));
    json_decref(versions);
    assert_true(json_is_object(json_object_get(json_object_get(res, "capabilities"), "tools")));
    assert_true(json_integer_value(json_object_get(res, "ttlMs")) > 0);
    assert_string_equal(jsonx_get_str(res, "cacheScope", ""), "public");
    json_t *info = json_object_get(json_object_get(res, "_meta"), MCP_META_SERVER_INFO);
    assert_string_equal(jsonx_get_str(info, "name", ""), "berth");
    json_decref(v);
    mcp_reply_clear(&r);

    r = post_modern(x, "2026-07-28", "tools/list", NULL,
                    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{" META
                    "}}");
    assert_int_equal(r.status, 200);
    v = parse(r.body);
    res = json_object_get(v, "result");
    assert_string_equal(jsonx_get_str(res, "resultType", ""), "complete");
    assert_int_equal(json_array_size(json_object_get(res, "tools")), 12);
    assert_true(json_is_integer(json_object_get(res, "ttlMs")));
    assert_string_equal(jsonx_get_str(res, "cacheScope", ""), "public");
    assert_non_null(json_object_get(json_object_get(res, "_meta"), MCP_META_SERVER_INFO));
    json_decref(v);
    mcp_reply_clear(&r);
    assert_int_equal(mcp_session_count(x->s), 0);
}

static void test_stateless_checks_in_order(void **state)
{
    struct fx *x = *state;
    /* 1. _meta fields (clientInfo is never required). */
    const char *metas[] = {
        "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}",
        "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
        "\"io.modelcontextprotocol/clientCapabilities\":[]}",
        "{\"io.modelcontextprotocol/protocolVersion\":7,"
        "\"io.modelcontextprotocol/clientCapabilities\":{}}",
    };
    for (size_t i = 0; i < 3; i++) {
        char *body = str_printf(
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":%s}}",
            metas[i]);
        struct mcp_reply r = post_modern(x, "2026-07-28", "tools/list", NULL, body);
        free(body);
        assert_int_equal(r.status, 400);
        assert_int_equal(error_code(&r), JSONRPC_INVALID_PARAMS);
        mcp_reply_clear(&r);
    }
    /* 2. headers against the body: version, method, and the tool's name. */
    const char *list =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}";
    struct {
        const char *version, *method, *name;
    } heads[] = {
        {NULL, "tools/list", NULL},
        {"2025-11-25", "tools/list", NULL},
        {"2026-07-28", NULL, NULL},
        {"2026-07-28", "tools/call", NULL},
    };
    for (size_t i = 0; i < 4; i++) {
        struct mcp_reply r = post_modern(x, heads[i].version, heads[i].method, NULL, list);
        assert_int_equal(r.status, 400);
        assert_int_equal(error_code(&r), MCP_ERR_HEADER_MISMATCH);
        mcp_reply_clear(&r);
    }
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"list_templates\"," META "}}";
    struct mcp_reply r = post_modern(x, "2026-07-28", "tools/call", NULL, call);
    assert_int_equal(error_code(&r), MCP_ERR_HEADER_MISMATCH);
    mcp_reply_clear(&r);
    r = post_modern(x, "2026-07-28", "tools/call", "execute", call);
    assert_int_equal(error_code(&r), MCP_ERR_HEADER_MISMATCH);
    mcp_reply_clear(&r);
    /* Header values may come base64-encoded. */
    r = post_modern(x, "2026-07-28", "tools/call", "=?base64?bGlzdF90ZW1wbGF0ZXM=?=", call);
    assert_int_equal(r.status, 200);
    assert_non_null(r.call);
    assert_true(mcp_call_stateless(r.call));
    mcp_reply_clear(&r);
    /* 3. the version: -32022 with data {supported, requested}. */
    r = post_modern(x, "v999.0.0", "tools/list", NULL,
                    "{\"jsonrpc\":\"2.0\",\"id\":\"v\",\"method\":\"tools/list\",\"params\":{"
                    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"v999.0.0\","
                    "\"io.modelcontextprotocol/clientCapabilities\":{}}}}");
    assert_int_equal(r.status, 400);
    json_t *v = parse(r.body);
    assert_string_equal(jsonx_get_str(v, "id", ""), "v");
    json_t *err = json_object_get(v, "error");
    assert_int_equal(json_integer_value(json_object_get(err, "code")), MCP_ERR_UNSUPPORTED_VERSION);
    json_t *data = json_object_get(err, "data");
    assert_string_equal(jsonx_get_str(data, "requested", ""), "v999.0.0");
    json_t *versions = mcp_versions_json();
    assert_true(json_equal(json_object_get(data, "supported"), versions));
    json_decref(versions);
    json_decref(v);
    mcp_reply_clear(&r);
    /* 4. the method: 404 -32601, initialize and ping included. */
    const char *methods[] = {"initialize", "ping", "logging/setLevel", "unknown/method",
                             "prompts/list"};
    for (size_t i = 0; i < 5; i++) {
        char *body = str_printf("{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"%s\",\"params\":{"
                                "\"protocolVersion\":\"2025-11-25\"," META "}}",
                                methods[i]);
        r = post_modern(x, "2026-07-28", methods[i], NULL, body);
        free(body);
        assert_int_equal(r.status, 404);
        assert_int_equal(error_code(&r), JSONRPC_METHOD_NOT_FOUND);
        assert_non_null(strstr(r.body, "\"id\":9"));
        mcp_reply_clear(&r);
    }
    assert_int_equal(mcp_session_count(x->s), 0);
    /* Notifications are never answered. */
    r = post_modern(x, NULL, NULL, NULL,
                    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
                    "\"requestId\":1," META "}}");
    assert_int_equal(r.status, 202);
    assert_null(r.body);
    mcp_reply_clear(&r);
}

static void test_stateless_calls(void **state)
{
    struct fx *x = *state;
    const char *call = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                       "\"name\":\"list_templates\",\"arguments\":{}," META "}}";
    /* Without Berth-Chat-Id: the user's chat titled "MCP", created once. */
    for (int i = 0; i < 2; i++) {
        struct mcp_reply r = post_modern(x, "2026-07-28", "tools/call", "list_templates", call);
        json_t *msgs = run_call(&r);
        json_t *res = json_object_get(json_array_get(msgs, 0), "result");
        assert_string_equal(jsonx_get_str(res, "resultType", ""), "complete");
        assert_true(json_is_false(json_object_get(res, "isError")));
        assert_non_null(json_object_get(json_object_get(res, "_meta"), MCP_META_SERVER_INFO));
        json_decref(msgs);
    }
    assert_int_equal(x->f.creates, 1);
    assert_string_equal(x->f.chats[0].title, "MCP");
    assert_string_equal(x->f.last_chat, x->f.chats[0].id);
    /* With it: that chat; someone else's is 404 at once. */
    char mine[UUID_STR_LEN], bobs[UUID_STR_LEN];
    fake_add_chat(&x->f, ALICE, "mine", mine);
    fake_add_chat(&x->f, BOB, "bob's", bobs);
    struct mcp_input in = {.sub = &x->alice,
                           .protocol_version = "2026-07-28",
                           .method = "tools/call",
                           .name = "list_templates",
                           .chat_id = mine};
    struct mcp_reply r = post_in(x, &in, call);
    json_decref(run_call(&r));
    assert_string_equal(x->f.last_chat, mine);
    in.chat_id = bobs;
    r = post_in(x, &in, call);
    assert_int_equal(r.status, 404);
    assert_null(r.call);
    mcp_reply_clear(&r);
    /* The default chat of an earlier life is found again (by title), not created anew. */
    mcp_server_free(x->s);
    struct mcp_config cfg = {.backend = fake_backend(&x->f), .version = "1"};
    x->s = mcp_server_new(&cfg);
    r = post_modern(x, "2026-07-28", "tools/call", "list_templates", call);
    json_decref(run_call(&r));
    assert_int_equal(x->f.creates, 1);
    assert_string_equal(x->f.last_chat, x->f.chats[0].id);
    /* Canceled (the stream closed): no response. */
    r = post_modern(x, "2026-07-28", "tools/call", "start_workspace",
                    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
                    "\"name\":\"start_workspace\"," META "}}");
    struct run run = {.call = r.call, .msgs = json_array()};
    r.call = NULL;
    assert_int_equal(pthread_create(&run.thread, NULL, run_thread, &run), 0);
    wait_waiting(&x->f, true);
    mcp_call_cancel(run.call);
    pthread_join(run.thread, NULL);
    assert_int_equal(json_array_size(run.msgs), 0);
    json_decref(run.msgs);
    mcp_call_free(run.call);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_initialize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_initialize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tools_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress_heartbeat, setup_heartbeat, teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_cancels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cap_per_user, setup_cap2, teardown),
        cmocka_unit_test_setup_teardown(test_stateless_discover_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stateless_checks_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stateless_calls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
