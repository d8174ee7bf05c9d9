/* Integration: real `berth agent` processes started by the `local` template's provision program
 * (bubblewrap when it works here): readiness, startup and stop scripts, lifecycle and connection
 * states, exec and file requests, tokens, isolation, floods and server restarts. */
#include "harness.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ctx {
    struct server s;
    char member[64];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->member);
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

/* POST /workspaceagents/{id}/requests; returns the status and the response. */
static long agent_request(struct ctx *c, const char *token, const char *agent_id, const char *body,
                          struct resp *out)
{
    char *path = fmt("/api/v2/workspaceagents/%s/requests", agent_id);
    long st = http_req(&c->s, "POST", path, token, body, out);
    free(path);
    return st;
}

static json_t *exec_ok(struct ctx *c, const char *agent_id, const char *command_json)
{
    char *path = fmt("/api/v2/workspaceagents/%s/exec", agent_id);
    char *body = fmt("{\"command\":%s}", command_json);
    struct resp r;
    if (http_req(&c->s, "POST", path, c->s.owner_token, body, &r) != 200)
        fail_msg("exec %s: %ld %s", command_json, r.status, r.body);
    json_t *res = json_incref(r.json);
    resp_free(&r);
    free(body);
    free(path);
    return res;
}

/* The agent's text logs joined by newlines. */
static char *agent_logs(struct ctx *c, const char *agent_id)
{
    char *path = fmt("/api/v2/workspaceagents/%s/logs", agent_id);
    struct resp r;
    if (http_req(&c->s, "GET", path, c->s.owner_token, NULL, &r) != 200)
        fail_msg("agent logs: %s", r.body);
    struct buf b;
    buf_init(&b, 0);
    size_t i;
    json_t *log;
    json_array_foreach(r.json, i, log)
    {
        buf_puts(&b, jsonx_get_str(log, "output", ""));
        buf_putc(&b, '\n');
    }
    resp_free(&r);
    free(path);
    return buf_take(&b);
}

static const char *ws_dir_of(struct ctx *c, const char *owner, const char *name, char *out,
                             size_t n)
{
    snprintf(out, n, "%s/workspaces/%s/%s", c->s.data_dir, owner, name);
    return out;
}

/* The BERTH_AGENT_TOKEN in the environment of process pid (heap; NULL if none). */
static char *agent_token_of(pid_t pid)
{
    char *path = fmt("/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY);
    free(path);
    char buf[16384];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    size_t len = n > 0 ? (size_t)n : 0;
    buf[len] = '\0';
    for (const char *p = buf; len && p < buf + len; p += strlen(p) + 1)
        if (str_has_prefix(p, "BERTH_AGENT_TOKEN="))
            return strdup(p + strlen("BERTH_AGENT_TOKEN="));
    return NULL;
}

/* ---- the new user's walk: ready, exec, files, stop, start ---- */

static void test_create_exec_files_stop_start(void **state)
{
    struct ctx *c = *state;
    char *tid = local_template(&c->s, "walk",
                               "    scripts:\n"
                               "      - {name: hello, run_on_start: true, start_blocks_login: "
                               "true, script: 'echo hello from startup; echo to stderr >&2'}\n"
                               "      - {name: bye, run_on_stop: true, script: 'echo bye > "
                               "stopped.txt'}\n");
    /* The CLI returns once the agent is ready, showing the startup script's output. */
    const char *create[] = {"create", "w1", "-t", "walk", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_cli(&c->s, c->s.owner_token, NULL, create, &out, &err);
    if (rc != 0)
        fail_msg("berth create: %d\n%s\n%s", rc, out, err);
    assert_non_null(strstr(err, "hello from startup"));
    assert_non_null(strstr(out, "Workspace w1 is ready."));
    free(out);
    free(err);

    struct resp r;
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/users/me/workspace/w1", c->s.owner_token, NULL, &r), 200);
    char *ws_id = strdup(jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, ws_id);
    json_t *a = get_agent(&c->s, c->s.owner_token, agent_id);
    assert_string_equal(jsonx_get_str(a, "status", ""), "connected");
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "ready");
    assert_true(json_is_string(json_object_get(a, "started_at")));
    assert_true(json_is_string(json_object_get(a, "ready_at")));
    assert_true(json_is_string(json_object_get(a, "first_connected_at")));
    json_decref(a);
    char *logs = agent_logs(c, agent_id);
    assert_non_null(strstr(logs, "hello from startup"));
    assert_non_null(strstr(logs, "to stderr"));
    free(logs);

    /* berth exec: output, and the command's exit status becomes the CLI's. */
    const char *ex[] = {"exec", "w1", "--", "sh", "-c", "echo hi; exit 3", NULL};
    rc = run_cli(&c->s, c->s.owner_token, NULL, ex, &out, &err);
    assert_int_equal(rc, 3);
    assert_string_equal(out, "hi\n");
    free(out);
    free(err);
    json_t *res = exec_ok(c, agent_id, "\"echo hi; exit 3\"");
    assert_int_equal(json_integer_value(json_object_get(res, "exit_code")), 3);
    assert_string_equal(jsonx_get_str(res, "output", ""), "hi\n");
    assert_true(json_is_false(json_object_get(res, "truncated")));
    assert_true(json_is_false(json_object_get(res, "timed_out")));
    assert_true(json_is_integer(json_object_get(res, "duration_ms")));
    json_decref(res);
    /* The execute environment on an allow-listed base: never the server's. */
    res = exec_ok(c, agent_id, "\"echo $GIT_EDITOR $PAGER $NO_COLOR $BERTH_AGENT_TOKEN.\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "true cat 1 .\n");
    json_decref(res);

    /* A file written through the API is read back. */
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"write_file\",\"path\":\"notes/a.txt\","
                                   "\"content\":\"line one\\nline two\\n\"}",
                                   &r),
                     200);
    assert_int_equal(json_integer_value(json_object_get(r.json, "bytes_written")), 18);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"read_file\",\"path\":\"notes/a.txt\"}", &r),
                     200);
    assert_string_equal(jsonx_get_str(r.json, "content", ""), "line one\nline two\n");
    assert_int_equal(json_integer_value(json_object_get(r.json, "total_lines")), 2);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"read_file\",\"path\":\"notes/a.txt\","
                                   "\"offset\":2,\"limit\":1}",
                                   &r),
                     200);
    assert_string_equal(jsonx_get_str(r.json, "content", ""), "line two\n");
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"read_file\",\"path\":\"notes\"}", &r),
                     200);
    assert_true(json_is_true(json_object_get(r.json, "is_directory")));
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "entries"), 0), "name", ""), "a.txt");
    resp_free(&r);

    /* Stop: the stop script runs, and no agent process is left. */
    char dir[512];
    ws_dir_of(c, "owner", "w1", dir, sizeof dir);
    pid_t pids[4];
    assert_int_equal(agent_pids(dir, pids, 4), 1);
    char *old_token = agent_token_of(pids[0]);
    assert_non_null(old_token);
    const char *stop[] = {"stop", "w1", NULL};
    rc = run_cli(&c->s, c->s.owner_token, NULL, stop, &out, &err);
    if (rc != 0)
        fail_msg("berth stop: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    assert_int_equal(wait_no_agent(dir), 0);
    /* The agent shut down cleanly (under ASan: no leak or error report in its log). */
    char *log_path = fmt("%s/.berth-agent.log", dir);
    char *log = read_text(log_path);
    assert_non_null(log);
    assert_null(strstr(log, "Sanitizer"));
    assert_non_null(strstr(log, "lifecycle: off"));
    free(log);
    free(log_path);
    char *stopped_path = fmt("%s/stopped.txt", dir);
    char *stopped = read_text(stopped_path);
    assert_non_null(stopped);
    assert_string_equal(stopped, "bye\n");
    free(stopped);
    free(stopped_path);
    a = get_agent(&c->s, c->s.owner_token, agent_id);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "off");
    assert_string_equal(jsonx_get_str(a, "status", ""), "disconnected");
    json_decref(a);

    /* Start: a new agent; the old build's token is refused. */
    const char *start[] = {"start", "w1", NULL};
    rc = run_cli(&c->s, c->s.owner_token, NULL, start, &out, &err);
    if (rc != 0)
        fail_msg("berth start: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    char *agent2 = ws_agent_id(&c->s, c->s.owner_token, ws_id);
    assert_string_not_equal(agent2, agent_id);
    a = get_agent(&c->s, c->s.owner_token, agent2);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "ready");
    json_decref(a);
    char *hdr = fmt("Berth-Agent-Token: %s", old_token);
    const char *headers[] = {hdr, NULL};
    assert_int_equal(http_full(&c->s, "GET", "/api/v2/workspaceagents/me/manifest", NULL, headers,
                               NULL, 0, NULL, &r),
                     401);
    assert_string_equal(resp_message(&r), "Workspace agent not authorized.");
    resp_free(&r);
    assert_int_equal(agent_pids(dir, pids, 4), 1);
    char *new_token = agent_token_of(pids[0]);
    assert_string_not_equal(new_token, old_token);
    free(hdr);
    hdr = fmt("Berth-Agent-Token: %s", new_token);
    headers[0] = hdr;
    assert_int_equal(http_full(&c->s, "GET", "/api/v2/workspaceagents/me/manifest", NULL, headers,
                               NULL, 0, NULL, &r),
                     200);
    assert_string_equal(jsonx_get_str(r.json, "name", ""), "main");
    /* The template sets no directory: the agent works where the provision program started it. */
    assert_string_equal(jsonx_get_str(r.json, "directory", "?"), "");
    resp_free(&r);

    /* Delete: the agent is stopped and the directory removed. */
    const char *del[] = {"delete", "w1", "-y", NULL};
    rc = run_cli(&c->s, c->s.owner_token, NULL, del, &out, &err);
    if (rc != 0)
        fail_msg("berth delete: %d\n%s\n%s", rc, out, err);
    free(out);
    free(err);
    assert_int_equal(wait_no_agent(dir), 0);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(http_full(&c->s, "GET", "/api/v2/workspaceagents/me/manifest", NULL, headers,
                               NULL, 0, NULL, &r),
                     401);
    resp_free(&r);
    free(hdr);
    free(new_token);
    free(old_token);
    free(agent2);
    free(agent_id);
    free(ws_id);
    free(tid);
}

/* ---- startup outcomes ---- */

static void test_failing_startup_script(void **state)
{
    struct ctx *c = *state;
    char *tid = local_template(&c->s, "failing",
                               "    scripts:\n"
                               "      - {name: setup, run_on_start: true, start_blocks_login: "
                               "true, script: 'echo setting up; echo it broke >&2; exit 7'}\n"
                               "      - {name: never, run_on_start: true, start_blocks_login: "
                               "true, script: 'echo should not run'}\n");
    const char *create[] = {"create", "wf", "-t", "failing", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_cli(&c->s, c->s.owner_token, NULL, create, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "a startup script of agent main failed (start_error)"));
    assert_non_null(strstr(err, "it broke"));
    free(out);
    free(err);
    struct resp r;
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/users/me/workspace/wf", c->s.owner_token, NULL, &r), 200);
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    json_t *a = get_agent(&c->s, c->s.owner_token, agent_id);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "start_error");
    assert_true(json_is_string(json_object_get(a, "ready_at"))); /* startup has ended */
    json_decref(a);
    char *logs = agent_logs(c, agent_id);
    assert_non_null(strstr(logs, "setting up"));
    assert_non_null(strstr(logs, "it broke"));
    assert_null(strstr(logs, "should not run"));
    free(logs);
    free(agent_id);
    free(tid);
}

static void test_slow_startup_script(void **state)
{
    struct ctx *c = *state;
    char *tid = local_template(&c->s, "slow",
                               "    scripts:\n"
                               "      - {name: slow, run_on_start: true, start_blocks_login: "
                               "true, timeout: 1s, script: 'echo waiting; sleep 987601'}\n");
    json_t *ws = create_ws(&c->s, c->s.owner_token, tid, "ws-slow");
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""));
    json_t *a =
        wait_agent_field(&c->s, c->s.owner_token, agent_id, "lifecycle_state", "start_timeout");
    assert_string_equal(jsonx_get_str(a, "status", ""), "connected");
    json_decref(a);
    char *logs = agent_logs(c, agent_id);
    assert_non_null(strstr(logs, "waiting"));
    free(logs);
    /* The timed-out script was killed, its whole process group with it. */
    for (int i = 0; i < 250 && sleep_alive("987601"); i++)
        usleep(20000);
    assert_false(sleep_alive("987601"));
    free(agent_id);
    json_decref(ws);
    free(tid);
}

static void test_agent_killed_becomes_disconnected(void **state)
{
    struct ctx *c = *state;
    char *tid = local_template(&c->s, "killed", "");
    json_t *ws = create_ws(&c->s, c->s.owner_token, tid, "ws-killed");
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""));
    json_decref(wait_agent_field(&c->s, c->s.owner_token, agent_id, "lifecycle_state", "ready"));
    char dir[512];
    ws_dir_of(c, "owner", "ws-killed", dir, sizeof dir);
    pid_t pids[4];
    assert_int_equal(agent_pids(dir, pids, 4), 1);
    kill(pids[0], SIGKILL);
    /* Its stream closes with it: disconnected well within the 30 s inactivity window. */
    json_t *a = wait_agent_field(&c->s, c->s.owner_token, agent_id, "status", "disconnected");
    assert_true(json_is_string(json_object_get(a, "disconnected_at")));
    json_decref(a);
    /* A request to a disconnected agent is a clear error, not a hang. */
    char *path = fmt("/api/v2/workspaceagents/%s/exec", agent_id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token, "{\"command\":\"true\"}", &r),
                     503);
    assert_string_equal(resp_message(&r), "The workspace agent is not connected.");
    resp_free(&r);
    free(path);
    run_build(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""), "stop");
    free(agent_id);
    json_decref(ws);
    free(tid);
}

static void test_agent_that_never_starts_times_out(void **state)
{
    struct ctx *c = *state;
    const char *files[] = {
        "berth.yaml",
        "provision: ./provision\nagents:\n  - name: main\n    connection_timeout: 2s\n",
        "provision",
        "#!/bin/sh\necho no agent today\n",
        NULL,
    };
    json_t *t = make_template(&c->s, "absent", files);
    json_t *ws = create_ws(&c->s, c->s.owner_token, jsonx_get_str(t, "id", ""), "ws-absent");
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""));
    json_t *a = get_agent(&c->s, c->s.owner_token, agent_id);
    assert_string_equal(jsonx_get_str(a, "status", ""), "connecting");
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "created");
    json_decref(a);
    a = wait_agent_field(&c->s, c->s.owner_token, agent_id, "status", "timeout");
    json_decref(a);
    /* berth start on it says why it is not ready. */
    const char *start[] = {"restart", "ws-absent", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_cli(&c->s, c->s.owner_token, NULL, start, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "agent main never connected (its connection time-out is 2s)"));
    free(out);
    free(err);
    free(agent_id);
    json_decref(ws);
    json_decref(t);
}

/* ---- requests ---- */

/* A ready workspace from a plain local template (created once per test that needs one). */
static char *ready_agent(struct ctx *c, const char *name)
{
    static char *tid;
    if (!tid)
        tid = local_template(&c->s, "plain", "");
    json_t *ws = create_ws(&c->s, c->s.owner_token, tid, name);
    char *agent_id = ws_agent_id(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""));
    json_decref(wait_agent_field(&c->s, c->s.owner_token, agent_id, "lifecycle_state", "ready"));
    json_decref(ws);
    return agent_id;
}

static void test_exec_timeout_kills_the_group(void **state)
{
    struct ctx *c = *state;
    char *agent_id = ready_agent(c, "ws-exec");
    char *path = fmt("/api/v2/workspaceagents/%s/exec", agent_id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token,
                              "{\"command\":\"echo started; sleep 987602 & sleep 987603\","
                              "\"timeout_ms\":300}",
                              &r),
                     200);
    assert_true(json_is_true(json_object_get(r.json, "timed_out")));
    assert_string_equal(jsonx_get_str(r.json, "output", ""), "started\n");
    resp_free(&r);
    for (int i = 0; i < 250 && (sleep_alive("987602") || sleep_alive("987603")); i++)
        usleep(20000);
    assert_false(sleep_alive("987602"));
    assert_false(sleep_alive("987603"));

    /* Output over the cap is cut to at most 32 KiB of valid UTF-8. */
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token,
                              "{\"command\":\"printf x; yes \\u00e9\\u00e9\\u00e9 | head -c "
                              "100000\"}",
                              &r),
                     200);
    assert_true(json_is_true(json_object_get(r.json, "truncated")));
    const char *output = jsonx_get_str(r.json, "output", "");
    size_t len = strlen(output);
    assert_true(len <= 32 * 1024);
    assert_true(len > 30 * 1024);
    assert_true(utf8_valid(output, len));
    assert_null(strstr(output, "\xef\xbf\xbd")); /* cut at a boundary, not replaced */
    resp_free(&r);

    /* Bad requests get clear errors. */
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token, "{\"command\":\"\"}", &r),
                     400);
    assert_string_equal(resp_message(&r), "Validation failed.");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token,
                              "{\"command\":\"true\",\"timeout_ms\":0}", &r),
                     400);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, "{\"type\":\"format_disk\"}", &r),
                     400);
    assert_non_null(strstr(r.body, "exec, process_output"));
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"read_file\",\"path\":\"no/such/file\"}", &r),
                     404);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"process_output\",\"process_id\":\"nope\"}", &r),
                     404);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, "{\"type\":\"read_file\"}", &r),
                     400);
    resp_free(&r);
    free(path);
    free(agent_id);
}

static void test_background_process(void **state)
{
    struct ctx *c = *state;
    char *agent_id = ready_agent(c, "ws-bg");
    struct resp r;
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"exec\",\"background\":true,\"command\":"
                                   "\"echo first; sleep 0.2; echo second; sleep 987604\"}",
                                   &r),
                     200);
    char *pid = strdup(jsonx_get_str(r.json, "process_id", ""));
    assert_true(*pid);
    resp_free(&r);

    char *body = fmt("{\"type\":\"process_output\",\"process_id\":\"%s\",\"wait_ms\":300}", pid);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, body, &r), 200);
    free(body);
    assert_true(json_is_true(json_object_get(r.json, "running")));
    assert_non_null(strstr(jsonx_get_str(r.json, "output", ""), "first\n"));
    resp_free(&r);
    /* The output keeps coming while it runs. */
    for (int i = 0; i < 100; i++) {
        body = fmt("{\"type\":\"process_output\",\"process_id\":\"%s\"}", pid);
        assert_int_equal(agent_request(c, c->s.owner_token, agent_id, body, &r), 200);
        free(body);
        bool both = strstr(jsonx_get_str(r.json, "output", ""), "second\n") != NULL;
        resp_free(&r);
        if (both)
            break;
        usleep(50000);
    }
    assert_int_equal(
        agent_request(c, c->s.owner_token, agent_id, "{\"type\":\"process_list\"}", &r), 200);
    const json_t *p = json_array_get(json_object_get(r.json, "processes"), 0);
    assert_string_equal(jsonx_get_str(p, "process_id", ""), pid);
    assert_true(json_is_true(json_object_get(p, "running")));
    resp_free(&r);

    body = fmt("{\"type\":\"process_signal\",\"process_id\":\"%s\",\"signal\":\"terminate\"}", pid);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, body, &r), 200);
    free(body);
    assert_true(json_is_true(json_object_get(r.json, "sent")));
    resp_free(&r);
    body = fmt("{\"type\":\"process_output\",\"process_id\":\"%s\",\"wait_ms\":5000}", pid);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, body, &r), 200);
    free(body);
    assert_true(json_is_false(json_object_get(r.json, "running")));
    assert_non_null(strstr(jsonx_get_str(r.json, "output", ""), "first\nsecond\n"));
    resp_free(&r);
    for (int i = 0; i < 250 && sleep_alive("987604"); i++)
        usleep(20000);
    assert_false(sleep_alive("987604"));
    body = fmt("{\"type\":\"process_signal\",\"process_id\":\"%s\",\"signal\":\"hup\"}", pid);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id, body, &r), 400);
    free(body);
    resp_free(&r);
    free(pid);
    free(agent_id);
}

static void test_edits_are_all_or_nothing(void **state)
{
    struct ctx *c = *state;
    char *agent_id = ready_agent(c, "ws-edit");
    struct resp r;
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"write_file\",\"path\":\"a.txt\",\"content\":"
                                   "\"alpha beta\\n\"}",
                                   &r),
                     200);
    resp_free(&r);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"write_file\",\"path\":\"b.txt\",\"content\":"
                                   "\"gamma\\n\"}",
                                   &r),
                     200);
    resp_free(&r);
    /* The second file's search text is missing: neither file changes. */
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"edit_files\",\"files\":["
                                   "{\"path\":\"a.txt\",\"edits\":[{\"search\":\"alpha\","
                                   "\"replace\":\"ALPHA\"}]},"
                                   "{\"path\":\"b.txt\",\"edits\":[{\"search\":\"delta\","
                                   "\"replace\":\"DELTA\"}]}]}",
                                   &r),
                     400);
    assert_non_null(strstr(r.body, "b.txt"));
    resp_free(&r);
    json_t *res = exec_ok(c, agent_id, "\"cat a.txt b.txt\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "alpha beta\ngamma\n");
    json_decref(res);
    assert_int_equal(agent_request(c, c->s.owner_token, agent_id,
                                   "{\"type\":\"edit_files\",\"files\":["
                                   "{\"path\":\"a.txt\",\"edits\":[{\"search\":\"alpha\","
                                   "\"replace\":\"ALPHA\"}]},"
                                   "{\"path\":\"b.txt\",\"edits\":[{\"search\":\"gamma\","
                                   "\"replace\":\"GAMMA\"}]}]}",
                                   &r),
                     200);
    resp_free(&r);
    res = exec_ok(c, agent_id, "\"cat a.txt b.txt\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "ALPHA beta\nGAMMA\n");
    json_decref(res);
    free(agent_id);
}

/* ---- tokens and access ---- */

static void test_tokens_and_access(void **state)
{
    struct ctx *c = *state;
    char *agent_id = ready_agent(c, "ws-tokens");
    struct resp r;
    assert_int_equal(http_full(&c->s, "GET", "/api/v2/workspaceagents/me/manifest", NULL, NULL,
                               NULL, 0, NULL, &r),
                     401);
    assert_string_equal(resp_message(&r), "Workspace agent token invalid.");
    resp_free(&r);
    const char *garbage[] = {"Berth-Agent-Token: not-a-token", NULL};
    assert_int_equal(http_full(&c->s, "POST", "/api/v2/workspaceagents/me/heartbeat", NULL, garbage,
                               NULL, 0, NULL, &r),
                     401);
    assert_string_equal(resp_message(&r), "Workspace agent token invalid.");
    resp_free(&r);
    const char *unknown[] = {"Authorization: Bearer 0192a4f6-7b1c-7d2e-8f3a-123456789abc", NULL};
    assert_int_equal(http_full(&c->s, "GET", "/api/v2/workspaceagents/me/stream", NULL, unknown,
                               NULL, 0, NULL, &r),
                     401);
    assert_string_equal(resp_message(&r), "Workspace agent not authorized.");
    resp_free(&r);
    /* A user's session token is not an agent token. */
    char *session = fmt("Berth-Agent-Token: %s", c->s.owner_token);
    const char *sh[] = {session, NULL};
    assert_int_equal(
        http_full(&c->s, "GET", "/api/v2/workspaceagents/me/manifest", NULL, sh, NULL, 0, NULL, &r),
        401);
    resp_free(&r);
    free(session);

    /* Another user cannot see the agent (404), let alone run commands in it. */
    char *path = fmt("/api/v2/workspaceagents/%s", agent_id);
    assert_int_equal(http_req(&c->s, "GET", path, c->member, NULL, &r), 404);
    resp_free(&r);
    free(path);
    path = fmt("/api/v2/workspaceagents/%s/exec", agent_id);
    assert_int_equal(http_req(&c->s, "POST", path, c->member, "{\"command\":\"id\"}", &r), 404);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", path, NULL, "{\"command\":\"id\"}", &r), 401);
    resp_free(&r);
    free(path);
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/workspaceagents/not-a-uuid", c->s.owner_token, NULL, &r),
        404);
    resp_free(&r);
    free(agent_id);
}

/* ---- a flood to one agent leaves another served ---- */

static size_t discard(char *p, size_t s, size_t n, void *a)
{
    (void)p;
    (void)a;
    return s * n;
}

static void test_flood_does_not_starve_others(void **state)
{
    struct ctx *c = *state;
    char *busy = ready_agent(c, "ws-busy");
    char *calm = ready_agent(c, "ws-calm");
    enum { FLOOD = 100 };
    CURLM *m = curl_multi_init();
    CURL *easy[FLOOD];
    char *url = fmt("%s/api/v2/workspaceagents/%s/exec", c->s.url, busy);
    char *hdr = fmt("Berth-Session-Token: %s", c->s.owner_token);
    struct curl_slist *h = curl_slist_append(NULL, hdr);
    h = curl_slist_append(h, "Content-Type: application/json");
    for (int i = 0; i < FLOOD; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, "{\"command\":\"sleep 3\"}");
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(easy[i], CURLOPT_TIMEOUT, 60L);
        curl_multi_add_handle(m, easy[i]);
    }
    /* Get every flood request on the wire before asking the calm agent. */
    int running = FLOOD;
    int64_t until = time_mono_us() + 500000;
    while (time_mono_us() < until) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    json_t *res = exec_ok(c, calm, "\"echo calm\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "calm\n");
    json_decref(res);
    curl_multi_perform(m, &running);
    assert_true(running > 0); /* the calm agent answered while the flood was still running */
    while (running > 0) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int ok = 0, busy_refusals = 0;
    for (int i = 0; i < FLOOD; i++) {
        long st = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &st);
        ok += st == 200;
        busy_refusals += st == 429;
        curl_multi_remove_handle(m, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    /* Each one either ran or was refused as busy (the per-agent limit); none was lost. */
    assert_int_equal(ok + busy_refusals, FLOOD);
    assert_true(ok >= 1);
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    free(hdr);
    free(url);
    res = exec_ok(c, busy, "\"echo still here\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "still here\n");
    json_decref(res);
    free(busy);
    free(calm);
}

/* ---- isolation inside bubblewrap ---- */

static void test_sandbox_hides_the_data_dir(void **state)
{
    struct ctx *c = *state;
    char *a1 = ready_agent(c, "ws-iso-one");
    char *a2 = ready_agent(c, "ws-iso-two");
    char *probe_path = fmt("%s/workspaces/.bwrap", c->s.data_dir);
    char *probe = read_text(probe_path);
    free(probe_path);
    if (!probe || strcmp(probe, "yes\n") != 0) {
        free(probe);
        free(a1);
        free(a2);
        skip(); /* bubblewrap does not work on this host: workspaces run as plain processes */
    }
    free(probe);
    json_t *res = exec_ok(c, a2, "\"echo secret > mine.txt\"");
    json_decref(res);
    char *cmd = fmt("\"cat %s/berth.db\"", c->s.data_dir);
    res = exec_ok(c, a1, cmd);
    assert_int_not_equal(json_integer_value(json_object_get(res, "exit_code")), 0);
    assert_null(strstr(jsonx_get_str(res, "output", ""), "SQLite format"));
    json_decref(res);
    free(cmd);
    cmd = fmt("\"cat %s/workspaces/owner/ws-iso-two/mine.txt\"", c->s.data_dir);
    res = exec_ok(c, a1, cmd);
    assert_int_not_equal(json_integer_value(json_object_get(res, "exit_code")), 0);
    assert_null(strstr(jsonx_get_str(res, "output", ""), "secret"));
    json_decref(res);
    free(cmd);
    cmd = fmt("\"ls %s %s/workspaces/owner\"", c->s.data_dir, c->s.data_dir);
    res = exec_ok(c, a1, cmd);
    char *want =
        fmt("%s:\nworkspaces\n\n%s/workspaces/owner:\nws-iso-one\n", c->s.data_dir, c->s.data_dir);
    assert_string_equal(jsonx_get_str(res, "output", ""), want);
    free(want);
    json_decref(res);
    free(cmd);
    /* No capabilities, even when the server runs as root. */
    res = exec_ok(c, a1, "\"grep CapEff /proc/self/status\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "CapEff:\t0000000000000000\n");
    json_decref(res);
    /* Its own PID namespace: the server is not among its processes. */
    res = exec_ok(c, a1, "\"ls /proc | grep -c '^[0-9]'\"");
    assert_true(strtol(jsonx_get_str(res, "output", "0"), NULL, 10) < 10);
    json_decref(res);
    free(a1);
    free(a2);
}

/* ---- the server restarts; workspaces keep running ---- */

static void test_agents_reconnect_after_server_restart(void **state)
{
    struct ctx *c = *state;
    char *agent_id = ready_agent(c, "ws-restart");
    char dir[512];
    ws_dir_of(c, "owner", "ws-restart", dir, sizeof dir);
    pid_t before[4], after[4];
    assert_int_equal(agent_pids(dir, before, 4), 1);
    /* The agents know the server by its URL: the new one listens on the same address. */
    char *listen = fmt("%s", c->s.url + strlen("http://"));
    const char *same[] = {"--listen", listen, NULL};
    server_stop(&c->s);
    server_restart(&c->s, same);
    free(listen);
    assert_int_equal(agent_pids(dir, after, 4), 1);
    assert_int_equal(before[0], after[0]);
    json_decref(wait_agent_field(&c->s, c->s.owner_token, agent_id, "status", "connected"));
    json_t *res = exec_ok(c, agent_id, "\"echo back\"");
    assert_string_equal(jsonx_get_str(res, "output", ""), "back\n");
    json_decref(res);
    json_t *a = get_agent(&c->s, c->s.owner_token, agent_id);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "ready");
    json_decref(a);
    free(agent_id);
}

static void test_start_on_a_running_workspace_replaces_the_agent(void **state)
{
    struct ctx *c = *state;
    char *first = ready_agent(c, "ws-again");
    char dir[512];
    ws_dir_of(c, "owner", "ws-again", dir, sizeof dir);
    pid_t before[4], after[4];
    assert_int_equal(agent_pids(dir, before, 4), 1);
    struct resp r;
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/users/me/workspace/ws-again", c->s.owner_token, NULL, &r),
        200);
    char *ws_id = strdup(jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    run_build(&c->s, c->s.owner_token, ws_id, "start");
    char *second = ws_agent_id(&c->s, c->s.owner_token, ws_id);
    assert_string_not_equal(first, second);
    json_decref(wait_agent_field(&c->s, c->s.owner_token, second, "lifecycle_state", "ready"));
    /* One agent: the old one was stopped (it reported off), not left to find its token gone. */
    assert_int_equal(agent_pids(dir, after, 4), 1);
    assert_int_not_equal(before[0], after[0]);
    json_t *a = get_agent(&c->s, c->s.owner_token, first);
    assert_string_equal(jsonx_get_str(a, "lifecycle_state", ""), "off");
    json_decref(a);
    free(ws_id);
    free(first);
    free(second);
}

/* Behind a TLS proxy (an https access URL) local agents dial the plain listener. */
static void test_https_access_url_agents_dial_the_listener(void **state)
{
    (void)state;
    struct server other;
    const char *args[] = {"--access-url", "https://berth.example.invalid", NULL};
    server_start(&other, args);
    server_bootstrap_owner(&other);
    char *tid = local_template(&other, "proxied", "");
    json_t *ws = create_ws(&other, other.owner_token, tid, "behind-proxy");
    char *agent_id = ws_agent_id(&other, other.owner_token, jsonx_get_str(ws, "id", ""));
    json_decref(wait_agent_field(&other, other.owner_token, agent_id, "lifecycle_state", "ready"));
    run_build(&other, other.owner_token, jsonx_get_str(ws, "id", ""), "delete");
    free(agent_id);
    json_decref(ws);
    free(tid);
    server_destroy(&other);
}

/* Stops every workspace this test file started so no agent outlives the server. */
static void test_zz_stop_everything(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    assert_int_equal(
        http_req(&c->s, "GET", "/api/v2/workspaces?q=owner:me", c->s.owner_token, NULL, &r), 200);
    size_t i;
    json_t *ws;
    json_array_foreach(json_object_get(r.json, "workspaces"), i, ws)
    {
        const char *tr = jsonx_get_str(json_object_get(ws, "latest_build"), "transition", "");
        if (strcmp(tr, "start") == 0)
            run_build(&c->s, c->s.owner_token, jsonx_get_str(ws, "id", ""), "delete");
    }
    resp_free(&r);
    char *root = fmt("%s/workspaces/owner", c->s.data_dir);
    assert_int_equal(wait_no_agent(root), 0);
    free(root);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_exec_files_stop_start),
        cmocka_unit_test(test_failing_startup_script),
        cmocka_unit_test(test_slow_startup_script),
        cmocka_unit_test(test_agent_killed_becomes_disconnected),
        cmocka_unit_test(test_agent_that_never_starts_times_out),
        cmocka_unit_test(test_exec_timeout_kills_the_group),
        cmocka_unit_test(test_background_process),
        cmocka_unit_test(test_edits_are_all_or_nothing),
        cmocka_unit_test(test_tokens_and_access),
        cmocka_unit_test(test_flood_does_not_starve_others),
        cmocka_unit_test(test_sandbox_hides_the_data_dir),
        cmocka_unit_test(test_agents_reconnect_after_server_restart),
        cmocka_unit_test(test_start_on_a_running_workspace_replaces_the_agent),
        cmocka_unit_test(test_https_access_url_agents_dial_the_listener),
        cmocka_unit_test(test_zz_stop_everything),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
