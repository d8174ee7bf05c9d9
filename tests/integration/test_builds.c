/* Integration: workspaces and builds on a real server: concurrency, require_active_version,
 * visibility, cancel, time-out, lingering children, crash recovery, log following, names. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ctx {
    struct server s;
    char member[64], member2[64], admin[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->member);
    server_create_user(&c->s, "max", NULL, c->member2);
    const char *roles[] = {"template-admin", NULL};
    server_create_user(&c->s, "tad", roles, c->admin);
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

/* A provision program whose start sleeps for $BERTH_PARAM_NAP seconds (default 0), printing
 * its process group id first. */
static const char *const NAP_TEMPLATE[] = {
    "berth.yaml",
    "provision: ./provision\nprovision_timeout: 30s\n"
    "parameters:\n  - {name: nap, type: number, default: 0}\n",
    "provision",
    "#!/bin/sh\n"
    "echo \"pgid $(ps -o pgid= $$ | tr -d ' ')\"\n"
    "if [ \"$1\" = start ] && [ \"$BERTH_PARAM_NAP\" != 0 ]; then sleep \"$BERTH_PARAM_NAP\"; fi\n"
    "echo \"done $1\"\n",
    NULL,
};

/* Creates a workspace (owner token unless token given) and waits for its first build. */
static json_t *workspace(struct ctx *c, const char *token, const char *tid, const char *name,
                         const char *params)
{
    char *body = fmt("{\"name\":\"%s\",\"template_id\":\"%s\",\"rich_parameter_values\":%s}", name,
                     tid, params ? params : "[]");
    struct resp r;
    long st = http_req(&c->s, "POST", "/api/v2/users/me/workspaces", token, body, &r);
    free(body);
    if (st != 201)
        fail_msg("create workspace: %ld %s", st, r.body);
    json_t *ws = json_incref(r.json);
    resp_free(&r);
    return ws;
}

static const char *ws_build_id(const json_t *ws)
{
    return jsonx_get_str(json_object_get(ws, "latest_build"), "id", "");
}

static void test_one_active_build_and_name_reuse(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "nap", NAP_TEMPLATE);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w1",
                           "[{\"name\":\"nap\",\"value\":\"3\"}]");
    const char *id = jsonx_get_str(ws, "id", "");
    struct resp r;
    /* The first build is still running: a second one is refused. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, id, "{\"transition\":\"stop\"}", &r), 409);
    assert_string_equal(resp_message(&r), "A workspace build is already active.");
    resp_free(&r);
    json_t *b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "running");
    json_decref(b);
    /* Delete; the name can then be used again. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, id, "{\"transition\":\"delete\"}", &r),
                     201);
    b = wait_build(&c->s, c->s.owner_token, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    assert_string_equal(jsonx_get_str(b, "status", ""), "deleted");
    json_decref(b);
    char *path = fmt("/api/v2/workspaces/%s", id);
    assert_int_equal(http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r), 200);
    assert_true(json_is_true(json_object_get(r.json, "deleted")));
    resp_free(&r);
    free(path);
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/workspaces?q=owner:me", c->s.owner_token, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
    resp_free(&r);
    /* Builds on the deleted workspace are refused. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, id, "{\"transition\":\"start\"}", &r),
                     409);
    assert_string_equal(resp_message(&r), "Cannot start a deleted workspace!");
    resp_free(&r);
    json_t *again = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w1", NULL);
    assert_string_not_equal(jsonx_get_str(again, "id", ""), id);
    json_decref(wait_build(&c->s, c->s.owner_token, ws_build_id(again)));
    /* Two live workspaces cannot share a name. */
    char *body = fmt("{\"name\":\"W1\",\"template_id\":\"%s\"}", jsonx_get_str(t, "id", ""));
    assert_int_equal(
        http_req(&c->s, "POST", "/api/v2/users/me/workspaces", c->s.owner_token, body, &r), 409);
    assert_string_equal(resp_message(&r), "Workspace \"W1\" already exists.");
    resp_free(&r);
    free(body);
    json_decref(again);
    json_decref(ws);
    json_decref(t);
}

static void test_require_active_version(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "rav", NAP_TEMPLATE);
    const char *tid = jsonx_get_str(t, "id", "");
    const char *v1 = jsonx_get_str(t, "active_version_id", "");
    json_t *ws = workspace(c, c->member, tid, "mine", NULL);
    const char *id = jsonx_get_str(ws, "id", "");
    json_decref(wait_build(&c->s, c->member, ws_build_id(ws)));
    struct resp r;
    assert_int_equal(post_build(&c->s, c->member, id, "{\"transition\":\"stop\"}", &r), 201);
    json_decref(wait_build(&c->s, c->member, jsonx_get_str(r.json, "id", "")));
    resp_free(&r);
    /* v2 becomes active and the template requires it. */
    json_t *v2 = add_version(&c->s, tid, NAP_TEMPLATE);
    promote(&c->s, tid, jsonx_get_str(v2, "id", ""));
    char *tp = fmt("/api/v2/templates/%s", tid);
    assert_int_equal(
        http_req(&c->s, "PATCH", tp, c->s.owner_token, "{\"require_active_version\":true}", &r),
        200);
    resp_free(&r);
    free(tp);
    /* The member's start on v1, implicitly (previous build's version) or explicitly: 403. */
    assert_int_equal(post_build(&c->s, c->member, id, "{\"transition\":\"start\"}", &r), 403);
    resp_free(&r);
    char *body = fmt("{\"transition\":\"start\",\"template_version_id\":\"%s\"}", v1);
    assert_int_equal(post_build(&c->s, c->member, id, body, &r), 403);
    resp_free(&r);
    /* Stop and delete are never restricted. */
    assert_int_equal(post_build(&c->s, c->member, id, "{\"transition\":\"stop\"}", &r), 201);
    json_decref(wait_build(&c->s, c->member, jsonx_get_str(r.json, "id", "")));
    resp_free(&r);
    /* On the active version the member's start passes. */
    char *good = fmt("{\"transition\":\"start\",\"template_version_id\":\"%s\"}",
                     jsonx_get_str(v2, "id", ""));
    assert_int_equal(post_build(&c->s, c->member, id, good, &r), 201);
    json_t *b = wait_build(&c->s, c->member, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    assert_string_equal(jsonx_get_str(b, "template_version_id", ""), jsonx_get_str(v2, "id", ""));
    json_decref(b);
    /* A template admin may start another workspace on the old version. */
    json_t *ws2 = workspace(c, c->admin, tid, "adm", NULL);
    json_decref(wait_build(&c->s, c->admin, ws_build_id(ws2)));
    const char *id2 = jsonx_get_str(ws2, "id", "");
    assert_int_equal(post_build(&c->s, c->admin, id2, "{\"transition\":\"stop\"}", &r), 201);
    json_decref(wait_build(&c->s, c->admin, jsonx_get_str(r.json, "id", "")));
    resp_free(&r);
    assert_int_equal(post_build(&c->s, c->admin, id2, body, &r), 201);
    json_decref(wait_build(&c->s, c->admin, jsonx_get_str(r.json, "id", "")));
    resp_free(&r);
    /* Versions of another template are refused. */
    json_t *other = make_template(&c->s, "other", NAP_TEMPLATE);
    char *cross = fmt("{\"transition\":\"stop\",\"template_version_id\":\"%s\"}",
                      jsonx_get_str(other, "active_version_id", ""));
    assert_int_equal(post_build(&c->s, c->admin, id2, cross, &r), 400);
    assert_string_equal(resp_message(&r), "template version doesn't match template");
    resp_free(&r);
    assert_int_equal(post_build(&c->s, c->admin, id2, "{\"transition\":\"reboot\"}", &r), 400);
    assert_string_equal(resp_message(&r), "Transition \"reboot\" not supported.");
    resp_free(&r);
    free(cross);
    free(body);
    free(good);
    json_decref(other);
    json_decref(ws2);
    json_decref(v2);
    json_decref(ws);
    json_decref(t);
}

static void test_members_cannot_see_each_other(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "priv", NAP_TEMPLATE);
    json_t *ws = workspace(c, c->member, jsonx_get_str(t, "id", ""), "secret", NULL);
    json_decref(wait_build(&c->s, c->member, ws_build_id(ws)));
    const char *id = jsonx_get_str(ws, "id", "");
    struct resp r;
    char *paths[] = {fmt("/api/v2/workspaces/%s", id), fmt("/api/v2/workspaces/%s/builds", id),
                     fmt("/api/v2/workspacebuilds/%s", ws_build_id(ws)),
                     fmt("/api/v2/workspacebuilds/%s/logs", ws_build_id(ws)),
                     fmt("/api/v2/users/mia/workspace/secret")};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        assert_int_equal(http_req(&c->s, "GET", paths[i], c->member2, NULL, &r), 404);
        resp_free(&r);
        assert_int_equal(http_req(&c->s, "GET", paths[i], c->member, NULL, &r), 200);
        resp_free(&r);
        free(paths[i]);
    }
    assert_int_equal(post_build(&c->s, c->member2, id, "{\"transition\":\"stop\"}", &r), 404);
    resp_free(&r);
    /* A template admin reads but may not build. */
    assert_int_equal(post_build(&c->s, c->admin, id, "{\"transition\":\"stop\"}", &r), 403);
    assert_string_equal(resp_message(&r), "You do not have permission to update this workspace.");
    resp_free(&r);
    /* Members list only their own. */
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/workspaces", c->member2, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 0);
    resp_free(&r);
    json_decref(ws);
    json_decref(t);
}

static bool group_alive(pid_t pgid)
{
    return kill(-pgid, 0) == 0 || errno != ESRCH;
}

/* The pgid the provision program printed in the build's logs. */
static pid_t logged_pgid(struct ctx *c, const char *build_id)
{
    char *path = fmt("/api/v2/workspacebuilds/%s/logs", build_id);
    pid_t pgid = 0;
    for (int i = 0; i < 500 && !pgid; i++) {
        struct resp r;
        http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r);
        size_t k;
        json_t *l;
        json_array_foreach(r.json, k, l)
        {
            const char *out = jsonx_get_str(l, "output", "");
            if (str_has_prefix(out, "pgid "))
                pgid = (pid_t)strtol(out + 5, NULL, 10);
        }
        resp_free(&r);
        if (!pgid)
            usleep(10000);
    }
    free(path);
    return pgid;
}

static void test_cancel_kills_the_process_group(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "cancel", NAP_TEMPLATE);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w",
                           "[{\"name\":\"nap\",\"value\":\"60\"}]");
    pid_t pgid = logged_pgid(c, ws_build_id(ws));
    assert_true(pgid > 0);
    assert_true(group_alive(pgid));
    char *path = fmt("/api/v2/workspacebuilds/%s/cancel", ws_build_id(ws));
    struct resp r;
    assert_int_equal(http_req(&c->s, "PATCH", path, c->s.owner_token, NULL, &r), 200);
    resp_free(&r);
    json_t *b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "canceled");
    assert_string_equal(jsonx_get_str(json_object_get(b, "job"), "error", ""), "");
    json_decref(b);
    for (int i = 0; i < 200 && group_alive(pgid); i++)
        usleep(10000);
    assert_false(group_alive(pgid));
    /* Canceling again is refused. */
    assert_int_equal(http_req(&c->s, "PATCH", path, c->s.owner_token, NULL, &r), 400);
    assert_string_equal(resp_message(&r), "Job has already completed!");
    resp_free(&r);
    free(path);
    json_decref(ws);
    json_decref(t);
}

static void test_timeout_and_lingering_children(void **state)
{
    struct ctx *c = *state;
    const char *slow[] = {"berth.yaml", "provision: ./provision\nprovision_timeout: 1s\n",
                          "provision", "#!/bin/sh\necho starting\nsleep 30\n", NULL};
    json_t *t = make_template(&c->s, "slow", slow);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w", NULL);
    json_t *b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "failed");
    assert_string_equal(jsonx_get_str(json_object_get(b, "job"), "error", ""),
                        "provision program timed out after 1s");
    json_decref(b);
    json_decref(ws);
    json_decref(t);
    /* A program that leaves a child holding its output still ends the build when it exits. */
    const char *bg[] = {"berth.yaml", "provision: ./provision\n", "provision",
                        "#!/bin/sh\nsleep 30 &\necho left a child\nexit 0\n", NULL};
    t = make_template(&c->s, "bg", bg);
    int64_t t0 = time_mono_us();
    ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w2", NULL);
    b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "running");
    assert_true(time_mono_us() - t0 < 20 * 1000000LL);
    json_decref(b);
    json_decref(ws);
    json_decref(t);
    /* A failing program: its last stderr line is in the error, and the state is saved. */
    const char *failing[] = {"berth.yaml", "provision: ./provision\n", "provision",
                             "#!/bin/sh\necho partial > \"$BERTH_STATE_FILE\"\n"
                             "echo first problem >&2\necho out\necho boom >&2\nexit 3\n",
                             NULL};
    t = make_template(&c->s, "failing", failing);
    ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w3", NULL);
    b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "failed");
    assert_string_equal(jsonx_get_str(json_object_get(b, "job"), "error", ""),
                        "provision program exited with status 3: boom");
    char *path = fmt("/api/v2/workspacebuilds/%s/logs", ws_build_id(ws));
    struct resp r;
    http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r);
    bool saw_error_level = false;
    size_t i;
    json_t *l;
    json_array_foreach(r.json, i, l)
    {
        if (strcmp(jsonx_get_str(l, "output", ""), "boom") == 0)
            saw_error_level = strcmp(jsonx_get_str(l, "log_level", ""), "error") == 0;
    }
    assert_true(saw_error_level);
    resp_free(&r);
    free(path);
    json_decref(b);
    json_decref(ws);
    json_decref(t);
}

static void test_logs_followed_from_the_middle(void **state)
{
    struct ctx *c = *state;
    const char *lines[] = {"berth.yaml", "provision: ./provision\n", "provision",
                           "#!/bin/sh\ni=1\nwhile [ $i -le 40 ]; do echo \"line $i\"; "
                           "sleep 0.02; i=$((i+1)); done\n",
                           NULL};
    json_t *t = make_template(&c->s, "lines", lines);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w", NULL);
    const char *bid = ws_build_id(ws);
    /* Wait for some lines, then follow from the tenth log. */
    char *path = fmt("/api/v2/workspacebuilds/%s/logs", bid);
    int64_t cursor = 0, all = 0;
    for (int i = 0; i < 500; i++) {
        struct resp r;
        http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r);
        size_t n = json_array_size(r.json);
        if (n >= 12) {
            cursor = json_integer_value(json_object_get(json_array_get(r.json, 10), "id"));
            resp_free(&r);
            break;
        }
        resp_free(&r);
        usleep(10000);
    }
    assert_true(cursor > 0);
    char *follow = fmt("/api/v2/workspacebuilds/%s/logs?after=%lld&follow", bid, (long long)cursor);
    json_t *events = sse_collect(&c->s, follow, c->s.owner_token, 30000);
    /* Complete and in order: ids strictly increasing after the cursor, ending with line 40. */
    int64_t prev = cursor;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        int64_t id = json_integer_value(json_object_get(ev, "id"));
        assert_true(id > prev);
        prev = id;
    }
    json_t *last = json_array_get(events, json_array_size(events) - 1);
    assert_string_equal(jsonx_get_str(last, "output", ""), "line 40");
    /* Everything after the cursor, nothing before: compare with a plain read. */
    char *after = fmt("/api/v2/workspacebuilds/%s/logs?after=%lld", bid, (long long)cursor);
    struct resp r;
    http_req(&c->s, "GET", after, c->s.owner_token, NULL, &r);
    all = (int64_t)json_array_size(r.json);
    assert_int_equal((int64_t)json_array_size(events), all);
    resp_free(&r);
    json_decref(events);
    free(after);
    free(follow);
    free(path);
    json_decref(ws);
    json_decref(t);
}

static void test_server_killed_mid_build(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "crash", NAP_TEMPLATE);
    json_t *done = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "done", NULL);
    json_decref(wait_build(&c->s, c->s.owner_token, ws_build_id(done)));
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w",
                           "[{\"name\":\"nap\",\"value\":\"60\"}]");
    pid_t pgid = logged_pgid(c, ws_build_id(ws));
    assert_true(pgid > 0);
    server_kill(&c->s);
    kill(-pgid, SIGKILL); /* the orphaned provision program, as a host reboot would */
    server_restart(&c->s, NULL);
    json_t *b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "failed");
    assert_string_equal(
        jsonx_get_str(json_object_get(b, "job"), "error", ""),
        "The server restarted while this job was running; the job was interrupted.");
    json_decref(b);
    /* Every stored row is still there. */
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/workspaces", c->s.owner_token, NULL, &r), 200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "count")), 2);
    resp_free(&r);
    /* And the workspace can be built again. */
    assert_int_equal(post_build(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""),
                                "{\"transition\":\"stop\"}", &r),
                     201);
    json_t *b2 = wait_build(&c->s, c->s.owner_token, jsonx_get_str(r.json, "id", ""));
    assert_string_equal(jsonx_get_str(b2, "status", ""), "stopped");
    resp_free(&r);
    json_decref(b2);
    json_decref(ws);
    json_decref(done);
    json_decref(t);
}

static void test_server_stopped_mid_build(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "shutdown", NAP_TEMPLATE);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w",
                           "[{\"name\":\"nap\",\"value\":\"60\"}]");
    assert_true(logged_pgid(c, ws_build_id(ws)) > 0);
    server_stop(&c->s); /* SIGTERM: the build is interrupted, never recorded as succeeded */
    server_restart(&c->s, NULL);
    json_t *b = wait_build(&c->s, c->s.owner_token, ws_build_id(ws));
    assert_string_equal(jsonx_get_str(b, "status", ""), "failed");
    assert_string_equal(jsonx_get_str(json_object_get(b, "job"), "error", ""),
                        "The server shut down while this job was running.");
    json_decref(b);
    json_decref(ws);
    json_decref(t);
}

static void test_watch_streams_each_change(void **state)
{
    struct ctx *c = *state;
    const char *slowstop[] = {"berth.yaml", "provision: ./provision\n", "provision",
                              "#!/bin/sh\n[ \"$1\" = stop ] && sleep 1\necho ok\n", NULL};
    json_t *t = make_template(&c->s, "watch", slowstop);
    json_t *ws = workspace(c, c->s.owner_token, jsonx_get_str(t, "id", ""), "w", NULL);
    json_decref(wait_build(&c->s, c->s.owner_token, ws_build_id(ws)));
    struct resp r;
    assert_int_equal(post_build(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""),
                                "{\"transition\":\"stop\"}", &r),
                     201);
    resp_free(&r);
    char *path = fmt("/api/v2/workspaces/%s/watch", jsonx_get_str(ws, "id", ""));
    json_t *events = sse_collect(&c->s, path, c->s.owner_token, 3000);
    free(path);
    assert_true(json_array_size(events) >= 2);
    const char *first =
        jsonx_get_str(json_object_get(json_array_get(events, 0), "latest_build"), "status", "");
    assert_true(strcmp(first, "pending") == 0 || strcmp(first, "stopping") == 0);
    json_t *last = json_array_get(events, json_array_size(events) - 1);
    assert_string_equal(jsonx_get_str(json_object_get(last, "latest_build"), "status", ""),
                        "stopped");
    assert_string_equal(jsonx_get_str(last, "id", ""), jsonx_get_str(ws, "id", ""));
    json_decref(events);
    json_decref(ws);
    json_decref(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_active_build_and_name_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_require_active_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_members_cannot_see_each_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_kills_the_process_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout_and_lingering_children, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs_followed_from_the_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_killed_mid_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_stopped_mid_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_streams_each_change, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
