/* Integration: the chat tools on a real server, through POST
 * /api/experimental/chats/{id}/tools/{name}, with workspaces of the `local` template (real
 * agents): create, start and stop with their chat bindings and watch events, the template's
 * active version (automatic update, and the parameters it may need), failed and in-progress
 * builds, the exec, file and process tools, bad input, and start and stop called at once. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WATCH_PATH "/api/experimental/chats/watch"

/* The retry text of a start that needs parameters of the template's active version. */
#define MANUAL_UPDATE_TEXT                                                                         \
    "The workspace needs the template's active version before it can start. Use read_template "    \
    "with this workspace's template_id to inspect the active version's required parameters, "      \
    "then retry start_workspace with a parameters object that supplies any missing or changed "    \
    "values. If the correct value for a parameter is not obvious from its description or "         \
    "defaults, ask the user rather than guessing."

#define NO_AGENT_TEXT                                                                              \
    "workspace has no running agent: the workspace is likely stopped. Use the start_workspace "    \
    "tool to start it"

struct ctx {
    struct server s;
    /* Members (not template admins), each the owner of the chats of some tests. */
    char ava[64], mia[64], ben[64], max[64];
    char *plain; /* the plain local template's id */
    /* The workspace of the active-version tests (mia's), shared by its two steps. */
    char pinned_chat[40], pinned_tid[40];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "ava", NULL, c->ava);
    server_create_user(&c->s, "mia", NULL, c->mia);
    server_create_user(&c->s, "ben", NULL, c->ben);
    server_create_user(&c->s, "max", NULL, c->max);
    c->plain = local_template(&c->s, "plain", "");
    *state = c;
    return 0;
}

/* Lets held builds of the "gated" template go on (see hold()). */
static void release_holds(struct ctx *c)
{
    const char *transitions[] = {"start", "stop", "delete"};
    for (size_t i = 0; i < 3; i++) {
        char *path = fmt("%s/hold-%s", c->s.dir, transitions[i]);
        unlink(path);
        free(path);
    }
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    release_holds(c);
    server_destroy(&c->s);
    free(c->plain);
    free(c);
    return 0;
}

/* ---- helpers ---- */

/* POSTs a tool call (args: JSON text). The answer must be 200 {"is_error": bool, "result"}:
 * a string when is_error, an object otherwise. Returns the answer (new reference). */
static json_t *call_tool(struct ctx *c, const char *token, const char *chat_id, const char *name,
                         const char *args)
{
    char *path = fmt("/api/experimental/chats/%s/tools/%s", chat_id, name);
    struct resp r;
    long st = http_req(&c->s, "POST", path, token, args, &r);
    free(path);
    if (st != 200)
        fail_msg("%s %s: %ld %s", name, args, st, r.body);
    const json_t *is_error = json_object_get(r.json, "is_error");
    const json_t *result = json_object_get(r.json, "result");
    if (json_object_size(r.json) != 2 || !json_is_boolean(is_error) ||
        (json_is_true(is_error) ? !json_is_string(result) : !json_is_object(result)))
        fail_msg("%s %s: not a tool answer: %s", name, args, r.body);
    json_t *answer = json_incref(r.json);
    resp_free(&r);
    return answer;
}

/* A call that must answer a result without an "error" key; returns the result (new ref). */
static json_t *tool_ok(struct ctx *c, const char *token, const char *chat_id, const char *name,
                       const char *args)
{
    json_t *a = call_tool(c, token, chat_id, name, args);
    json_t *result = json_object_get(a, "result");
    if (json_is_true(json_object_get(a, "is_error")) || json_object_get(result, "error")) {
        char *text = jsonx_dump(a);
        fail_msg("%s %s failed: %s", name, args, text);
    }
    json_incref(result);
    json_decref(a);
    return result;
}

/* A call that must answer a text error; returns the text (heap). */
static char *tool_error(struct ctx *c, const char *token, const char *chat_id, const char *name,
                        const char *args)
{
    json_t *a = call_tool(c, token, chat_id, name, args);
    if (!json_is_true(json_object_get(a, "is_error"))) {
        char *text = jsonx_dump(a);
        fail_msg("%s %s: expected a text error, got %s", name, args, text);
    }
    char *text = strdup(json_string_value(json_object_get(a, "result")));
    json_decref(a);
    return text;
}

/* The workspace's builds, newest first (new reference). */
static json_t *list_builds(struct ctx *c, const char *token, const char *ws_id)
{
    char *path = fmt("/api/v2/workspaces/%s/builds", ws_id);
    struct resp r;
    if (http_req(&c->s, "GET", path, token, NULL, &r) != 200)
        fail_msg("list builds: %ld %s", r.status, r.body);
    json_t *builds = json_incref(r.json);
    resp_free(&r);
    free(path);
    return builds;
}

static size_t count_builds(struct ctx *c, const char *token, const char *ws_id)
{
    json_t *b = list_builds(c, token, ws_id);
    size_t n = json_array_size(b);
    json_decref(b);
    return n;
}

static json_t *get_build(struct ctx *c, const char *token, const char *build_id)
{
    char *path = fmt("/api/v2/workspacebuilds/%s", build_id);
    struct resp r;
    if (http_req(&c->s, "GET", path, token, NULL, &r) != 200)
        fail_msg("get build: %ld %s", r.status, r.body);
    json_t *b = json_incref(r.json);
    resp_free(&r);
    free(path);
    return b;
}

static const char *job_status(const json_t *build)
{
    return jsonx_get_str(json_object_get(build, "job"), "status", "");
}

/* The id of the workspace the chat is bound to (heap). */
static char *chat_workspace(struct ctx *c, const char *token, const char *chat_id)
{
    json_t *chat = chat_fetch(&c->s, token, chat_id);
    char *id = strdup(jsonx_get_str(chat, "workspace_id", ""));
    json_decref(chat);
    if (!*id)
        fail_msg("chat %s has no workspace", chat_id);
    return id;
}

/* Asserts the agent of the workspace's latest build is ready (the tool waited for it). */
static void assert_agent_ready(struct ctx *c, const char *token, const char *ws_id)
{
    char *agent_id = ws_agent_id(&c->s, token, ws_id);
    json_t *a = get_agent(&c->s, token, agent_id);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "ready");
    assert_string_equal(jsonx_get_str(a, "status", ""), "connected");
    json_decref(a);
    free(agent_id);
}

/* Asserts a start or create answer carries no sign of an agent that is not ready. */
static void assert_no_agent_trouble(const json_t *result)
{
    const char *keys[] = {"agent_status", "agent_error", "startup_scripts", "lifecycle_state"};
    for (size_t i = 0; i < 4; i++)
        if (json_object_get(result, keys[i]))
            fail_msg("unexpected %s in %s", keys[i], jsonx_dump(result));
}

/* A chat of token's user with a ready workspace made by create_workspace; fills chat_id and
 * ws_id (40 bytes each). */
static void chat_with_workspace(struct ctx *c, const char *token, const char *tid, const char *name,
                                char *chat_id, char *ws_id)
{
    json_t *chat = chat_create(&c->s, token, NULL);
    str_copy(chat_id, 40, jsonx_get_str(chat, "id", ""));
    json_decref(chat);
    char *args = fmt("{\"template_id\":\"%s\",\"name\":\"%s\"}", tid, name);
    json_t *res = tool_ok(c, token, chat_id, "create_workspace", args);
    free(args);
    assert_true(json_is_true(json_object_get(res, "created")));
    assert_no_agent_trouble(res);
    json_decref(res);
    char *id = chat_workspace(c, token, chat_id);
    str_copy(ws_id, 40, id);
    free(id);
}

/* ---- no workspace ---- */

static void test_start_without_a_workspace(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ava, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    char *text = tool_error(c, c->ava, id, "start_workspace", "{}");
    assert_string_equal(text, "chat has no workspace; use create_workspace first");
    free(text);
    text = tool_error(c, c->ava, id, "stop_workspace", "{}");
    assert_string_equal(text, "chat has no workspace; use create_workspace first");
    free(text);
    text = tool_error(c, c->ava, id, "execute", "{\"command\":\"true\"}");
    assert_string_equal(text, "no workspace is associated with this chat. Use the "
                              "create_workspace tool to create one");
    free(text);
    /* Nothing was bound. */
    json_t *again = chat_fetch(&c->s, c->ava, id);
    assert_true(json_is_null(json_object_get(again, "workspace_id")));
    assert_true(json_is_null(json_object_get(again, "build_id")));
    json_decref(again);
    json_decref(chat);
}

/* ---- create, again, start (running), stop, start; and the watch stream ---- */

/* The build id of a status_change event of chat_id ("" when unbound); fails on anything else. */
static const char *event_build(const json_t *ev, const char *chat_id, const char *ws_id)
{
    assert_string_equal(jsonx_get_str(ev, "kind", ""), "status_change");
    const json_t *chat = json_object_get(ev, "chat");
    assert_string_equal(jsonx_get_str(chat, "id", ""), chat_id);
    assert_string_equal(jsonx_get_str(chat, "workspace_id", ""), ws_id);
    return jsonx_get_str(chat, "build_id", "");
}

/* The build ids of the events with repeats of the same one in a row collapsed (a binding change
 * is published, then the chat once more when the agent is ready). */
static json_t *event_builds(const json_t *events, const char *chat_id, const char *ws_id)
{
    json_t *seq = json_array();
    size_t i;
    const json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *b = event_build(ev, chat_id, ws_id);
        const char *last = json_string_value(json_array_get(seq, json_array_size(seq) - 1));
        if (!last || strcmp(last, b) != 0)
            json_array_append_new(seq, json_string(b));
    }
    return seq;
}

static void test_create_start_stop_start(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ava, NULL);
    const char *chat_id = jsonx_get_str(chat, "id", "");
    struct sse_watch *w = sse_watch_start(&c->s, WATCH_PATH, c->ava);
    struct sse_watch *other = sse_watch_start(&c->s, WATCH_PATH, c->max);

    char *args = fmt("{\"template_id\":\"%s\",\"name\":\"walk\"}", c->plain);
    json_t *res = tool_ok(c, c->ava, chat_id, "create_workspace", args);
    assert_true(json_is_true(json_object_get(res, "created")));
    assert_string_equal(jsonx_get_str(res, "workspace_name", ""), "ava/walk");
    char *b1 = strdup(jsonx_get_str(res, "build_id", ""));
    assert_true(*b1);
    assert_no_agent_trouble(res);
    json_decref(res);
    char *ws_id = chat_workspace(c, c->ava, chat_id);
    json_t *got = chat_fetch(&c->s, c->ava, chat_id);
    assert_string_equal(jsonx_get_str(got, "build_id", ""), b1);
    json_decref(got);
    json_t *b = get_build(c, c->ava, b1);
    assert_string_equal(jsonx_get_str(b, "workspace_id", ""), ws_id);
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    assert_agent_ready(c, c->ava, ws_id);
    assert_int_equal(count_builds(c, c->ava, ws_id), 1);

    /* Again: the same workspace, no new build. */
    res = tool_ok(c, c->ava, chat_id, "create_workspace", args);
    assert_true(json_is_false(json_object_get(res, "created")));
    assert_string_equal(jsonx_get_str(res, "status", ""), "already_exists");
    assert_string_equal(jsonx_get_str(res, "message", ""),
                        "workspace is already running and recently connected");
    json_decref(res);
    assert_int_equal(count_builds(c, c->ava, ws_id), 1);
    char *same = chat_workspace(c, c->ava, chat_id);
    assert_string_equal(same, ws_id);
    free(same);

    /* Start on a running workspace: nothing to build. */
    res = tool_ok(c, c->ava, chat_id, "start_workspace", "{}");
    assert_true(json_is_true(json_object_get(res, "started")));
    assert_true(json_is_true(json_object_get(res, "no_build")));
    assert_null(json_object_get(res, "build_id"));
    assert_string_equal(jsonx_get_str(res, "workspace_name", ""), "walk");
    assert_no_agent_trouble(res);
    json_decref(res);
    assert_int_equal(count_builds(c, c->ava, ws_id), 1);

    res = tool_ok(c, c->ava, chat_id, "stop_workspace", "{}");
    assert_true(json_is_true(json_object_get(res, "stopped")));
    char *b2 = strdup(jsonx_get_str(res, "build_id", ""));
    assert_true(*b2);
    assert_string_not_equal(b2, b1);
    json_decref(res);
    b = get_build(c, c->ava, b2);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "stop");
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    /* Stopping again builds nothing. */
    res = tool_ok(c, c->ava, chat_id, "stop_workspace", "{}");
    assert_true(json_is_true(json_object_get(res, "no_build")));
    json_decref(res);
    assert_int_equal(count_builds(c, c->ava, ws_id), 2);

    res = tool_ok(c, c->ava, chat_id, "start_workspace", "{}");
    assert_true(json_is_true(json_object_get(res, "started")));
    char *b3 = strdup(jsonx_get_str(res, "build_id", ""));
    assert_true(*b3);
    assert_string_not_equal(b3, b1);
    assert_string_not_equal(b3, b2);
    assert_null(json_object_get(res, "no_build"));
    assert_null(json_object_get(res, "updated_to_active_version")); /* same version */
    assert_no_agent_trouble(res);
    json_decref(res);
    got = chat_fetch(&c->s, c->ava, chat_id);
    assert_string_equal(jsonx_get_str(got, "build_id", ""), b3);
    assert_string_equal(jsonx_get_str(got, "workspace_id", ""), ws_id);
    json_decref(got);
    b = get_build(c, c->ava, b3);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "start");
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    assert_agent_ready(c, c->ava, ws_id);
    assert_int_equal(count_builds(c, c->ava, ws_id), 3);

    /* The watch stream saw each binding, in order: create, stop, start. The tools answer after
     * publishing, so the last event is on its way; wait for it. */
    int64_t deadline = time_mono_us() + 30 * 1000000LL;
    for (;;) {
        json_t *events = sse_watch_events(w);
        json_t *seq = event_builds(events, chat_id, ws_id);
        const char *last = json_string_value(json_array_get(seq, json_array_size(seq) - 1));
        bool done = last && strcmp(last, b3) == 0;
        size_t n = json_array_size(events);
        json_decref(seq);
        json_decref(events);
        if (done || time_mono_us() > deadline)
            break;
        sse_watch_wait(w, n + 1, 1000);
    }
    json_t *events = sse_watch_stop(w);
    json_t *seq = event_builds(events, chat_id, ws_id);
    json_t *want = json_pack("[s, s, s]", b1, b2, b3);
    if (!json_equal(seq, want))
        fail_msg("watch: builds %s, want %s", jsonx_dump(seq), jsonx_dump(want));
    json_decref(want);
    json_decref(seq);
    json_decref(events);
    /* Another user's stream, open all along, saw none of it. */
    events = sse_watch_stop(other);
    assert_int_equal(json_array_size(events), 0);
    json_decref(events);

    free(b1);
    free(b2);
    free(b3);
    free(ws_id);
    free(args);
    json_decref(chat);
}

/* ---- the exec, file and process tools ---- */

static void test_workspace_tools(void **state)
{
    struct ctx *c = *state;
    char chat_id[40], ws_id[40];
    chat_with_workspace(c, c->ava, c->plain, "tools", chat_id, ws_id);
    const char *id = chat_id;

    json_t *res = tool_ok(c, c->ava, id, "execute", "{\"command\":\"echo hi; exit 3\"}");
    assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 3);
    assert_string_equal(jsonx_get_str(res, "output", ""), "hi\n");
    assert_true(json_is_false(json_object_get(res, "success")));
    assert_true(json_is_integer(json_object_get(res, "wall_duration_ms")));
    json_decref(res);
    res = tool_ok(c, c->ava, id, "execute", "{\"command\":\"echo $PAGER $GIT_EDITOR\"}");
    assert_string_equal(jsonx_get_str(res, "output", ""), "cat true\n");
    assert_true(json_is_true(json_object_get(res, "success")));
    json_decref(res);
    /* The chat now remembers the agent it ran on. */
    json_t *chat = chat_fetch(&c->s, c->ava, id);
    char *agent_id = ws_agent_id(&c->s, c->ava, ws_id);
    assert_string_equal(jsonx_get_str(chat, "agent_id", ""), agent_id);
    free(agent_id);
    json_decref(chat);

    /* Files. */
    res = tool_ok(c, c->ava, id, "write_file",
                  "{\"path\":\"notes/a.txt\",\"content\":\"one\\ntwo\\n\"}");
    assert_true(json_is_true(json_object_get(res, "ok")));
    json_decref(res);
    res = tool_ok(c, c->ava, id, "read_file", "{\"path\":\"notes/a.txt\"}");
    assert_string_equal(jsonx_get_str(res, "content", ""), "one\ntwo\n");
    assert_int_equal(json_integer_value(json_object_get(res, "total_lines")), 2);
    assert_int_equal(json_integer_value(json_object_get(res, "lines_read")), 2);
    assert_int_equal(json_integer_value(json_object_get(res, "file_size")), 8);
    json_decref(res);
    res =
        tool_ok(c, c->ava, id, "read_file", "{\"path\":\"notes/a.txt\",\"offset\":2,\"limit\":1}");
    assert_string_equal(jsonx_get_str(res, "content", ""), "two\n");
    json_decref(res);
    res = tool_ok(c, c->ava, id, "read_file", "{\"path\":\"notes\"}");
    assert_true(json_is_true(json_object_get(res, "is_directory")));
    assert_string_equal(jsonx_get_str(res, "content", ""), "1\ta.txt\n");
    assert_int_equal(json_integer_value(json_object_get(res, "total_entries")), 1);
    json_decref(res);
    res = tool_ok(c, c->ava, id, "edit_files",
                  "{\"files\":[{\"path\":\"notes/a.txt\",\"edits\":[{\"search\":\"two\","
                  "\"replace\":\"TWO\"}]}]}");
    assert_true(json_is_true(json_object_get(res, "ok")));
    json_decref(res);
    res = tool_ok(c, c->ava, id, "execute", "{\"command\":\"cat notes/a.txt\"}");
    assert_string_equal(jsonx_get_str(res, "output", ""), "one\nTWO\n");
    assert_string_equal(
        jsonx_get_str(res, "note", ""),
        "Consider using read_file instead of dumping file contents with shell commands.");
    json_decref(res);
    /* An edit whose search text is missing changes nothing and says so. */
    char *text = tool_error(c, c->ava, id, "edit_files",
                            "{\"files\":[{\"path\":\"notes/a.txt\",\"edits\":[{\"search\":"
                            "\"three\",\"replace\":\"3\"}]}]}");
    assert_non_null(strstr(text, "notes/a.txt"));
    free(text);

    /* A background process: its output, the list, a signal. */
    res = tool_ok(c, c->ava, id, "execute",
                  "{\"command\":\"echo started; sleep 987611\",\"run_in_background\":true}");
    assert_true(json_is_true(json_object_get(res, "success")));
    char *pid = strdup(jsonx_get_str(res, "background_process_id", ""));
    assert_true(*pid);
    json_decref(res);
    char *args = fmt("{\"process_id\":\"%s\",\"wait_timeout\":\"200ms\"}", pid);
    bool started = false;
    for (int i = 0; i < 100 && !started; i++) {
        res = tool_ok(c, c->ava, id, "process_output", args);
        assert_true(json_is_true(json_object_get(res, "running")));
        assert_true(json_is_true(json_object_get(res, "success")));
        assert_string_equal(jsonx_get_str(res, "note", ""), "process is still running");
        started = strcmp(jsonx_get_str(res, "output", ""), "started\n") == 0;
        json_decref(res);
    }
    assert_true(started);
    free(args);
    res = tool_ok(c, c->ava, id, "process_list", "{}");
    const json_t *p = json_array_get(json_object_get(res, "processes"), 0);
    assert_string_equal(jsonx_get_str(p, "process_id", ""), pid);
    assert_true(json_is_true(json_object_get(p, "running")));
    json_decref(res);
    for (int i = 0; i < 250 && !sleep_alive("987611"); i++)
        usleep(20000);
    assert_true(sleep_alive("987611"));
    args = fmt("{\"process_id\":\"%s\",\"signal\":\"kill\"}", pid);
    res = tool_ok(c, c->ava, id, "process_signal", args);
    free(args);
    assert_true(json_is_true(json_object_get(res, "success")));
    char *msg = fmt("signal \"kill\" sent to process %s", pid);
    assert_string_equal(jsonx_get_str(res, "message", ""), msg);
    free(msg);
    json_decref(res);
    args = fmt("{\"process_id\":\"%s\",\"wait_timeout\":\"30s\"}", pid);
    res = tool_ok(c, c->ava, id, "process_output", args);
    free(args);
    assert_true(json_is_false(json_object_get(res, "running")));
    assert_null(json_object_get(res, "note"));
    assert_true(json_is_false(json_object_get(res, "success"))); /* killed */
    json_decref(res);
    for (int i = 0; i < 250 && sleep_alive("987611"); i++)
        usleep(20000);
    assert_false(sleep_alive("987611"));

    /* Stopped: every agent tool says to start it. */
    json_decref(tool_ok(c, c->ava, id, "stop_workspace", "{}"));
    args = fmt("{\"process_id\":\"%s\",\"wait_timeout\":\"0s\"}", pid);
    char *signal = fmt("{\"process_id\":\"%s\",\"signal\":\"terminate\"}", pid);
    const char *calls[][2] = {
        {"execute", "{\"command\":\"echo hi\"}"},
        {"execute", "{\"command\":\"sleep 1\",\"run_in_background\":true}"},
        {"read_file", "{\"path\":\"notes/a.txt\"}"},
        {"write_file", "{\"path\":\"b.txt\",\"content\":\"x\"}"},
        {"edit_files", "{\"files\":[{\"path\":\"notes/a.txt\",\"edits\":[{\"search\":\"one\","
                       "\"replace\":\"1\"}]}]}"},
        {"process_output", args},
        {"process_list", "{}"},
        {"process_signal", signal},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        text = tool_error(c, c->ava, id, calls[i][0], calls[i][1]);
        if (strcmp(text, NO_AGENT_TEXT) != 0)
            fail_msg("%s on a stopped workspace: %s", calls[i][0], text);
        free(text);
    }
    free(signal);
    free(args);
    free(pid);

    /* Started again outside the tools: the chat's remembered agent belongs to an old build, and
     * the tools move to the new build's agent. */
    run_build(&c->s, c->ava, ws_id, "start");
    char *agent2 = ws_agent_id(&c->s, c->ava, ws_id);
    json_decref(wait_agent_field(&c->s, c->ava, agent2, "lifecycle_state", "ready"));
    res = tool_ok(c, c->ava, id, "read_file", "{\"path\":\"notes/a.txt\"}");
    assert_string_equal(jsonx_get_str(res, "content", ""), "one\nTWO\n");
    json_decref(res);
    chat = chat_fetch(&c->s, c->ava, id);
    assert_string_equal(jsonx_get_str(chat, "agent_id", ""), agent2);
    json_decref(chat);
    free(agent2);
}

/* ---- the template requires its active version ---- */

/* PATCH /templates/{id} (owner). */
static void patch_template(struct ctx *c, const char *tid, const char *body)
{
    char *path = fmt("/api/v2/templates/%s", tid);
    struct resp r;
    if (http_req(&c->s, "PATCH", path, c->s.owner_token, body, &r) != 200)
        fail_msg("patch template: %ld %s", r.status, r.body);
    resp_free(&r);
    free(path);
}

/* Pushes a version of the local template with top-level yaml and promotes it; returns its id
 * (heap). */
static char *push_local_version(struct ctx *c, const char *tid, const char *top_yaml)
{
    char *yaml = local_manifest(top_yaml, "");
    char *program = local_provision();
    const char *files[] = {"berth.yaml", yaml, "provision", program, NULL};
    json_t *v = add_version(&c->s, tid, files);
    if (strcmp(jsonx_get_str(json_object_get(v, "job"), "status", ""), "succeeded") != 0)
        fail_msg("import: %s", jsonx_dump(v));
    char *id = strdup(jsonx_get_str(v, "id", ""));
    promote(&c->s, tid, id);
    json_decref(v);
    free(program);
    free(yaml);
    return id;
}

/* A member's workspace stopped on version 1; version 2 is promoted; start_workspace moves it to
 * version 2, which the member could not have started the old one on anyway. */
static void test_stopped_workspace_reports_auto_update(void **state)
{
    struct ctx *c = *state;
    char *tid = local_template(&c->s, "pinned", "");
    patch_template(c, tid, "{\"require_active_version\":true}");
    char chat_id[40], ws_id[40];
    chat_with_workspace(c, c->mia, tid, "pinned", chat_id, ws_id);
    json_decref(tool_ok(c, c->mia, chat_id, "stop_workspace", "{}"));
    json_t *builds = list_builds(c, c->mia, ws_id);
    char *v1 = strdup(jsonx_get_str(json_array_get(builds, 0), "template_version_id", ""));
    json_decref(builds);

    char *v2 = push_local_version(c, tid, "description: version two\n");
    assert_string_not_equal(v1, v2);
    size_t n = count_builds(c, c->mia, ws_id);
    json_t *res = tool_ok(c, c->mia, chat_id, "start_workspace", "{}");
    assert_true(json_is_true(json_object_get(res, "started")));
    assert_true(json_is_true(json_object_get(res, "updated_to_active_version")));
    assert_string_equal(jsonx_get_str(res, "update_reason", ""),
                        "template requires active versions");
    assert_string_equal(jsonx_get_str(res, "message", ""),
                        "Workspace started and was updated to the active template version "
                        "because the template requires active versions.");
    assert_no_agent_trouble(res);
    json_t *b = get_build(c, c->mia, jsonx_get_str(res, "build_id", ""));
    assert_string_equal(jsonx_get_str(b, "template_version_id", ""), v2);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "start");
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    json_decref(res);
    assert_int_equal(count_builds(c, c->mia, ws_id), n + 1);
    assert_agent_ready(c, c->mia, ws_id);

    str_copy(c->pinned_chat, sizeof c->pinned_chat, chat_id);
    str_copy(c->pinned_tid, sizeof c->pinned_tid, tid);
    free(v1);
    free(v2);
    free(tid);
}

/* Then version 3 adds a required parameter without a default: the start says how to recover,
 * builds nothing, and the retry with the value starts the workspace on version 3. */
static void test_manual_update_required(void **state)
{
    struct ctx *c = *state;
    if (!c->pinned_chat[0])
        fail_msg("needs the workspace of test_stopped_workspace_reports_auto_update");
    const char *chat_id = c->pinned_chat;
    char *ws_id = chat_workspace(c, c->mia, chat_id);
    char *v3 = push_local_version(c, c->pinned_tid,
                                  "parameters:\n  - name: team\n    type: string\n"
                                  "    description: The team that owns the workspace.\n");
    json_t *res = tool_ok(c, c->mia, chat_id, "stop_workspace", "{}");
    char *stop_id = strdup(jsonx_get_str(res, "build_id", ""));
    json_decref(res);
    size_t n = count_builds(c, c->mia, ws_id);

    char *text = tool_error(c, c->mia, chat_id, "start_workspace", "{}");
    size_t len = strlen(MANUAL_UPDATE_TEXT);
    if (strncmp(text, MANUAL_UPDATE_TEXT, len) != 0)
        fail_msg("start_workspace: %s", text);
    assert_string_equal(text + len, "\n\nParameter \"team\" is required but not provided");
    free(text);
    assert_int_equal(count_builds(c, c->mia, ws_id), n);
    json_t *chat = chat_fetch(&c->s, c->mia, chat_id);
    assert_string_equal(jsonx_get_str(chat, "build_id", ""), stop_id);
    json_decref(chat);

    res =
        tool_ok(c, c->mia, chat_id, "start_workspace", "{\"parameters\":{\"team\":\"platform\"}}");
    assert_true(json_is_true(json_object_get(res, "started")));
    assert_true(json_is_true(json_object_get(res, "updated_to_active_version")));
    assert_no_agent_trouble(res);
    const char *build_id = jsonx_get_str(res, "build_id", "");
    json_t *b = get_build(c, c->mia, build_id);
    assert_string_equal(jsonx_get_str(b, "template_version_id", ""), v3);
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    char *path = fmt("/api/v2/workspacebuilds/%s/parameters", build_id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", path, c->mia, NULL, &r), 200);
    json_t *want = json_pack("[{s:s, s:s}]", "name", "team", "value", "platform");
    assert_true(json_equal(r.json, want));
    json_decref(want);
    resp_free(&r);
    free(path);
    json_decref(res);
    assert_int_equal(count_builds(c, c->mia, ws_id), n + 1);
    assert_agent_ready(c, c->mia, ws_id);
    free(stop_id);
    free(v3);
    free(ws_id);
}

/* ---- a start build that fails ---- */

static void test_failed_start_build(void **state)
{
    struct ctx *c = *state;
    char *program = local_provision_with(
        "if [ \"$1\" = start ] && [ \"${BERTH_PARAM_FAIL:-false}\" = true ]; then\n"
        "    echo 'cannot start: the disk is on fire'\n"
        "    exit 4\n"
        "fi");
    char *tid = local_template_with(
        &c->s, "fragile", "parameters:\n  - name: fail\n    type: bool\n    default: false\n", "",
        program);
    free(program);
    char chat_id[40], ws_id[40];
    chat_with_workspace(c, c->ben, tid, "fragile", chat_id, ws_id);
    json_decref(tool_ok(c, c->ben, chat_id, "stop_workspace", "{}"));

    json_t *a =
        call_tool(c, c->ben, chat_id, "start_workspace", "{\"parameters\":{\"fail\":\"true\"}}");
    assert_true(json_is_false(json_object_get(a, "is_error")));
    const json_t *res = json_object_get(a, "result");
    assert_int_equal(json_object_size(res), 2);
    const char *error = jsonx_get_str(res, "error", "");
    if (!str_has_prefix(error, "workspace start build failed: "))
        fail_msg("error: %s", error);
    const char *build_id = jsonx_get_str(res, "build_id", "");
    json_t *b = get_build(c, c->ben, build_id);
    assert_string_equal(job_status(b), "failed");
    assert_string_equal(jsonx_get_str(b, "workspace_id", ""), ws_id);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "start");
    json_decref(b);
    json_t *chat = chat_fetch(&c->s, c->ben, chat_id);
    assert_string_equal(jsonx_get_str(chat, "build_id", ""), build_id);
    json_decref(chat);
    /* The build's logs hold the program's output. */
    char *path = fmt("/api/v2/workspacebuilds/%s/logs", build_id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", path, c->ben, NULL, &r), 200);
    bool found = false;
    size_t i;
    json_t *log;
    json_array_foreach(r.json, i, log)
    {
        found = found ||
                strcmp(jsonx_get_str(log, "output", ""), "cannot start: the disk is on fire") == 0;
    }
    if (!found)
        fail_msg("logs: %s", r.body);
    resp_free(&r);
    free(path);

    /* A failed latest build is no obstacle: the next start builds again (the value is given
     * again, as the failed build's is carried over otherwise). */
    json_t *res2 =
        tool_ok(c, c->ben, chat_id, "start_workspace", "{\"parameters\":{\"fail\":false}}");
    assert_true(json_is_true(json_object_get(res2, "started")));
    assert_string_not_equal(jsonx_get_str(res2, "build_id", ""), build_id);
    assert_no_agent_trouble(res2);
    json_decref(res2);
    assert_agent_ready(c, c->ben, ws_id);
    json_decref(a);
    free(tid);
}

/* ---- a build already in progress ---- */

struct pending_call {
    struct ctx *c;
    const char *token, *chat_id, *name, *args;
    pthread_barrier_t *go; /* when set, waited on before the call is sent */
    pthread_t thread;
    atomic_bool done;
    struct resp r;
};

static void *pending_main(void *arg)
{
    struct pending_call *p = arg;
    char *path = fmt("/api/experimental/chats/%s/tools/%s", p->chat_id, p->name);
    if (p->go)
        pthread_barrier_wait(p->go);
    http_req(&p->c->s, "POST", path, p->token, p->args, &p->r);
    free(path);
    atomic_store(&p->done, true);
    return NULL;
}

/* Starts a tool call on a thread of its own (no assertions there: the caller checks p->r). */
static void pending_start(struct pending_call *p)
{
    atomic_store(&p->done, false);
    memset(&p->r, 0, sizeof p->r);
    if (pthread_create(&p->thread, NULL, pending_main, p) != 0)
        fail_msg("pthread_create failed");
}

/* Holds the "gated" template's builds of a transition: its program waits while the file
 * <dir>/hold-<transition> exists (a minute at most). Returns the file's path (heap). */
static char *hold(struct ctx *c, const char *transition)
{
    char *path = fmt("%s/hold-%s", c->s.dir, transition);
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("create %s", path);
    fclose(f);
    return path;
}

/* Posts a `transition` build through REST and holds it, calls the tool while it is held, waits
 * until the chat is bound to the held build (the tool found it), checks the tool is still
 * waiting, releases the build, and returns the tool's answer (new reference); *held_id gets
 * the held build's id (heap). */
static json_t *call_during_build(struct ctx *c, const char *chat_id, const char *ws_id,
                                 const char *transition, const char *tool, const char *args,
                                 char **held_id)
{
    char *file = hold(c, transition);
    char *body = fmt("{\"transition\":\"%s\"}", transition);
    struct resp r;
    if (post_build(&c->s, c->ben, ws_id, body, &r) != 201)
        fail_msg("%s build: %ld %s", transition, r.status, r.body);
    free(body);
    char *held = strdup(jsonx_get_str(r.json, "id", ""));
    resp_free(&r);

    struct pending_call p = {
        .c = c, .token = c->ben, .chat_id = chat_id, .name = tool, .args = args};
    pending_start(&p);
    int64_t deadline = time_mono_us() + 30 * 1000000LL;
    bool bound = false;
    while (!bound && time_mono_us() < deadline) {
        json_t *chat = chat_fetch(&c->s, c->ben, chat_id);
        bound = strcmp(jsonx_get_str(chat, "build_id", ""), held) == 0;
        json_decref(chat);
        if (!bound)
            usleep(20000);
    }
    /* The build cannot end while it is held, so the tool is still waiting for it. */
    bool done_early = atomic_load(&p.done);
    json_t *b = get_build(c, c->ben, held);
    const char *st = job_status(b);
    bool active = strcmp(st, "pending") == 0 || strcmp(st, "running") == 0;
    json_decref(b);
    unlink(file);
    free(file);
    pthread_join(p.thread, NULL);
    assert_true(bound);
    assert_true(active);
    assert_false(done_early);
    if (p.r.status != 200 || !json_is_false(json_object_get(p.r.json, "is_error")) ||
        json_object_get(json_object_get(p.r.json, "result"), "error"))
        fail_msg("%s: %ld %s", tool, p.r.status, p.r.body);
    json_t *res = json_incref(json_object_get(p.r.json, "result"));
    resp_free(&p.r);
    b = get_build(c, c->ben, held);
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    *held_id = held;
    return res;
}

static void assert_chat_build(struct ctx *c, const char *chat_id, const char *build_id)
{
    json_t *chat = chat_fetch(&c->s, c->ben, chat_id);
    assert_string_equal(jsonx_get_str(chat, "build_id", ""), build_id);
    json_decref(chat);
}

/* Builds posted through REST, held until the chat shows the tool found them: the tools wait for
 * them instead of starting builds of their own beside them. */
static void test_in_progress_build_is_followed(void **state)
{
    struct ctx *c = *state;
    char *prelude =
        fmt("hold='%s/hold-'\"$1\"\n"
            "n=0\n"
            "while [ -e \"$hold\" ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done",
            c->s.dir);
    char *program = local_provision_with(prelude);
    free(prelude);
    char *tid = local_template_with(&c->s, "gated", "", "", program);
    free(program);
    char chat_id[40], ws_id[40];
    chat_with_workspace(c, c->ben, tid, "gated", chat_id, ws_id);
    json_decref(tool_ok(c, c->ben, chat_id, "stop_workspace", "{}"));

    /* A start in progress: start_workspace answers with it. */
    char *held;
    json_t *res = call_during_build(c, chat_id, ws_id, "start", "start_workspace", "{}", &held);
    assert_true(json_is_true(json_object_get(res, "started")));
    assert_string_equal(jsonx_get_str(res, "build_id", ""), held);
    assert_null(json_object_get(res, "no_build"));
    assert_no_agent_trouble(res);
    json_decref(res);
    assert_chat_build(c, chat_id, held);
    assert_int_equal(count_builds(c, c->ben, ws_id), 3); /* create, stop, the held start */
    assert_agent_ready(c, c->ben, ws_id);
    free(held);

    /* A stop in progress: start_workspace waits for it, then starts the workspace again. */
    res = call_during_build(c, chat_id, ws_id, "stop", "start_workspace", "{}", &held);
    assert_true(json_is_true(json_object_get(res, "started")));
    const char *started = jsonx_get_str(res, "build_id", "");
    assert_string_not_equal(started, held);
    json_t *b = get_build(c, c->ben, started);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "start");
    assert_int_equal(json_integer_value(json_object_get(b, "build_number")), 5);
    json_decref(b);
    assert_no_agent_trouble(res);
    assert_chat_build(c, chat_id, started);
    assert_int_equal(count_builds(c, c->ben, ws_id), 5);
    assert_agent_ready(c, c->ben, ws_id);
    json_decref(res);
    free(held);

    /* A start in progress: create_workspace answers with the chat's workspace once it is built. */
    char *args = fmt("{\"template_id\":\"%s\",\"name\":\"gated\"}", tid);
    res = call_during_build(c, chat_id, ws_id, "start", "create_workspace", args, &held);
    free(args);
    assert_true(json_is_false(json_object_get(res, "created")));
    assert_string_equal(jsonx_get_str(res, "status", ""), "already_exists");
    assert_string_equal(jsonx_get_str(res, "message", ""), "workspace build completed");
    assert_string_equal(jsonx_get_str(res, "build_id", ""), held);
    assert_no_agent_trouble(res);
    json_decref(res);
    assert_int_equal(count_builds(c, c->ben, ws_id), 6);
    free(held);

    /* A start in progress: stop_workspace waits for it, then stops the workspace. */
    res = call_during_build(c, chat_id, ws_id, "start", "stop_workspace", "{}", &held);
    assert_true(json_is_true(json_object_get(res, "stopped")));
    const char *stopped = jsonx_get_str(res, "build_id", "");
    assert_string_not_equal(stopped, held);
    b = get_build(c, c->ben, stopped);
    assert_string_equal(jsonx_get_str(b, "transition", ""), "stop");
    assert_string_equal(job_status(b), "succeeded");
    json_decref(b);
    assert_chat_build(c, chat_id, stopped);
    assert_int_equal(count_builds(c, c->ben, ws_id), 8);
    json_decref(res);
    free(held);
    free(tid);
}

/* ---- bad input ---- */

static void test_bad_input(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ava, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    struct resp r;

    char *path = fmt("/api/experimental/chats/%s/tools/launch_rockets", id);
    assert_int_equal(http_req(&c->s, "POST", path, c->ava, "{}", &r), 404);
    assert_string_equal(resp_message(&r), "Tool \"launch_rockets\" not found.");
    resp_free(&r);
    free(path);

    /* Wrong types name the argument. */
    const char *wrong[][3] = {
        {"execute", "{\"command\":5}", "invalid parameters: \"command\" must be a string"},
        {"execute", "{\"command\":\"true\",\"run_in_background\":\"yes\"}",
         "invalid parameters: \"run_in_background\" must be a boolean"},
        {"start_workspace", "{\"parameters\":\"x\"}",
         "invalid parameters: \"parameters\" must be an object"},
        {"start_workspace", "{\"parameters\":{\"team\":[1]}}",
         "invalid parameters: \"parameters.team\" must be a string, number or boolean"},
        {"create_workspace", "{\"template_id\":7}",
         "invalid parameters: \"template_id\" must be a string"},
        {"read_file", "{\"path\":\"a\",\"offset\":\"2\"}",
         "invalid parameters: \"offset\" must be an integer"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char *text = tool_error(c, c->ava, id, wrong[i][0], wrong[i][1]);
        if (strcmp(text, wrong[i][2]) != 0)
            fail_msg("%s %s: %s", wrong[i][0], wrong[i][1], text);
        free(text);
    }
    /* Missing required arguments. */
    const char *missing[][3] = {
        {"execute", "{}", "command is required"},
        {"execute", "{\"command\":\"\"}", "command is required"},
        {"create_workspace", "{}", "template_id is required; use list_templates to find one"},
        {"read_file", "{}", "path is required"},
        {"write_file", "{\"content\":\"x\"}", "path is required"},
        {"edit_files", "{}", "files is required"},
        {"process_output", "{}", "process_id is required"},
    };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        char *text = tool_error(c, c->ava, id, missing[i][0], missing[i][1]);
        if (strcmp(text, missing[i][2]) != 0)
            fail_msg("%s %s: %s", missing[i][0], missing[i][1], text);
        free(text);
    }
    char *text = tool_error(c, c->ava, id, "create_workspace", "{\"template_id\":\"nope\"}");
    assert_true(str_has_prefix(text, "invalid template_id: "));
    free(text);

    /* Another user's chat, whatever the tool. */
    path = fmt("/api/experimental/chats/%s/tools/start_workspace", id);
    assert_int_equal(http_req(&c->s, "POST", path, c->max, "{}", &r), 404);
    assert_string_equal(resp_message(&r),
                        "Resource not found or you do not have access to this resource");
    resp_free(&r);
    /* A body that is not a JSON object. */
    const char *bodies[] = {"[]", "\"start\"", "3", "null", "{\"parameters\":"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(http_req(&c->s, "POST", path, c->ava, bodies[i], &r), 400);
        resp_free(&r);
    }
    free(path);
    /* None of it bound anything. */
    json_t *again = chat_fetch(&c->s, c->ava, id);
    assert_true(json_is_null(json_object_get(again, "workspace_id")));
    json_decref(again);
    json_decref(chat);
}

/* ---- start and stop at once ---- */

/* Two create_workspace calls of one chat at once make one workspace: the second finds the
 * first's. */
static void test_create_twice_at_once(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *chat_id = jsonx_get_str(chat, "id", "");
    char *args = fmt("{\"template_id\":\"%s\",\"name\":\"twice\"}", c->plain);
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 2);
    struct pending_call calls[2];
    for (int i = 0; i < 2; i++) {
        calls[i] = (struct pending_call){.c = c,
                                         .token = c->ben,
                                         .chat_id = chat_id,
                                         .name = "create_workspace",
                                         .args = args,
                                         .go = &go};
        pending_start(&calls[i]);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(calls[i].thread, NULL);
    pthread_barrier_destroy(&go);
    int created = 0, existing = 0;
    for (int i = 0; i < 2; i++) {
        struct resp *r = &calls[i].r;
        const json_t *res = json_object_get(r->json, "result");
        if (r->status != 200 || !json_is_false(json_object_get(r->json, "is_error")) ||
            json_object_get(res, "error"))
            fail_msg("create_workspace: %ld %s", r->status, r->body);
        created += json_is_true(json_object_get(res, "created"));
        existing += strcmp(jsonx_get_str(res, "status", ""), "already_exists") == 0;
        assert_no_agent_trouble(res);
    }
    for (int i = 0; i < 2; i++)
        resp_free(&calls[i].r);
    assert_int_equal(created, 1);
    assert_int_equal(existing, 1);
    char *ws_id = chat_workspace(c, c->ben, chat_id);
    assert_int_equal(count_builds(c, c->ben, ws_id), 1);
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/workspaces?q=owner:me", c->ben, NULL, &r),
                     200);
    size_t named = 0, i;
    json_t *ws;
    json_array_foreach(json_object_get(r.json, "workspaces"), i, ws)
    {
        named += str_has_prefix(jsonx_get_str(ws, "name", ""), "twice");
    }
    assert_int_equal(named, 1);
    resp_free(&r);
    free(ws_id);
    free(args);
    json_decref(chat);
}

/* A model that calls start_workspace and stop_workspace at once, twice each, all sent together:
 * the chat's calls take turns, so each sees the previous one's outcome and none meets another's
 * build ("A workspace build is already active."). */
static void test_start_and_stop_at_once(void **state)
{
    struct ctx *c = *state;
    char chat_id[40], ws_id[40];
    chat_with_workspace(c, c->ben, c->plain, "racy", chat_id, ws_id);
    enum { CALLS = 4, ROUNDS = 4 };
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, CALLS);
        struct pending_call calls[CALLS];
        for (int i = 0; i < CALLS; i++) {
            calls[i] = (struct pending_call){.c = c,
                                             .token = c->ben,
                                             .chat_id = chat_id,
                                             .name = i % 2 ? "stop_workspace" : "start_workspace",
                                             .args = "{}",
                                             .go = &go};
            pending_start(&calls[i]);
        }
        for (int i = 0; i < CALLS; i++)
            pthread_join(calls[i].thread, NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < CALLS; i++) {
            struct resp *r = &calls[i].r;
            const json_t *res = json_object_get(r->json, "result");
            if (r->status != 200 || !json_is_false(json_object_get(r->json, "is_error")) ||
                !json_is_object(res) || json_object_get(res, "error"))
                fail_msg("round %d, %s: %ld %s", round, calls[i].name, r->status, r->body);
        }
        for (int i = 0; i < CALLS; i++)
            resp_free(&calls[i].r);
    }
    /* One build after another: consecutive numbers, each ended. */
    json_t *builds = list_builds(c, c->ben, ws_id);
    size_t n = json_array_size(builds);
    assert_true(n >= 1 + ROUNDS); /* the first, and at least one per round */
    size_t i;
    json_t *b;
    json_array_foreach(builds, i, b)
    {
        if (json_integer_value(json_object_get(b, "build_number")) != (json_int_t)(n - i) ||
            strcmp(job_status(b), "succeeded") != 0)
            fail_msg("builds: %s", jsonx_dump(builds));
    }
    json_decref(builds);
}

/* ---- cleanup ---- */

/* Deletes every workspace of this file (waiting for builds still running) so that no agent
 * outlives the server. */
static void test_zz_delete_everything(void **state)
{
    struct ctx *c = *state;
    release_holds(c);
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/workspaces", c->s.owner_token, NULL, &r), 200);
    assert_true(json_array_size(json_object_get(r.json, "workspaces")) > 0);
    size_t i;
    json_t *ws;
    json_array_foreach(json_object_get(r.json, "workspaces"), i, ws)
    {
        const char *latest = jsonx_get_str(json_object_get(ws, "latest_build"), "id", "");
        json_decref(wait_build(&c->s, c->s.owner_token, latest));
        run_build(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""), "delete");
    }
    resp_free(&r);
    char *root = fmt("%s/workspaces", c->s.data_dir);
    assert_int_equal(wait_no_agent(root), 0);
    free(root);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_without_a_workspace),
        cmocka_unit_test(test_create_start_stop_start),
        cmocka_unit_test(test_workspace_tools),
        cmocka_unit_test(test_stopped_workspace_reports_auto_update),
        cmocka_unit_test(test_manual_update_required),
        cmocka_unit_test(test_failed_start_build),
        cmocka_unit_test(test_in_progress_build_is_followed),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_create_twice_at_once),
        cmocka_unit_test(test_start_and_stop_at_once),
        cmocka_unit_test(test_zz_delete_everything),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
