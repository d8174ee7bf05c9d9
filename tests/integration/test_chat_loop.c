/* Integration tests for the chat loop: a real server whose model is fakellm (a scripted provider
 * speaking the OpenAI-compatible streaming API), real `local` workspaces, real HTTP.
 *
 * One fakellm serves every test: each test's turns match a marker only its chat's requests
 * carry (the first user message), so tests take their own turns in order. The server runs with
 * an API key in its environment to show where the key goes (the provider's header) and where it
 * never goes (logs, the database, answers, workspaces).
 */
#include "harness.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define API_KEY "sk-berth-test-7f3a9c1e5b"

#define MANUAL_UPDATE_TEXT                                                                         \
    "The workspace needs the template's active version before it can start. Use read_template "    \
    "with this workspace's template_id to inspect the active version's required parameters, "      \
    "then retry start_workspace with a parameters object that supplies any missing or changed "    \
    "values. If the correct value for a parameter is not obvious from its description or "         \
    "defaults, ask the user rather than guessing."

#define INTERRUPTED_TEXT "The user interrupted this tool call before it finished."

struct ctx {
    struct server s;
    char ava[64], mia[64], ben[64];
    char *plain, *pinned; /* template ids */
    char pinned_ws[40];   /* mia's workspace on the pinned template, stopped */
    pid_t fake;
    char fake_url[128];
    char log[300];
    char listen[64];
    const char *extra[16];
};

/* A port nothing listens on now (the server keeps it across restarts, so agents reconnect). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void start_fakellm(struct ctx *c, const char *script)
{
    char *path = fmt("%s/script.json", c->s.dir);
    char *url_file = fmt("%s/fakellm.url", c->s.dir);
    snprintf(c->log, sizeof c->log, "%s/fakellm.log", c->s.dir);
    FILE *f = fopen(path, "w");
    fputs(script, f);
    fclose(f);
    unlink(url_file);
    pid_t pid = fork();
    if (pid == 0) {
        char *err = fmt("%s/fakellm.err", c->s.dir);
        int fd = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 2);
        execl(BERTH_FAKELLM_PATH, "fakellm", "--script", path, "--url-file", url_file, "--log",
              c->log, (char *)NULL);
        _exit(127);
    }
    c->fake = pid;
    for (int i = 0; i < 1000; i++) {
        char *u = read_text(url_file);
        if (u && *u) {
            str_copy(c->fake_url, sizeof c->fake_url, u);
            str_trim(c->fake_url);
            free(u);
            break;
        }
        free(u);
        usleep(10000);
    }
    if (!c->fake_url[0])
        fail_msg("fakellm did not start");
    free(path);
    free(url_file);
}

/* Every test's turns, each matching its test's marker. */
static char *script(struct ctx *c)
{
    return fmt(
        "["
        /* start my workspace: create, execute, answer; then a second turn */
        "{\"match\": \"M-START\", \"require_header\": \"authorization: Bearer " API_KEY "\","
        " \"tool_calls\": [{\"id\": \"call_c\", \"name\": \"create_workspace\", \"args\":"
        " {\"template_id\": \"%s\", \"name\": \"dev\"}}]},"
        "{\"match\": \"M-START\", \"tool_calls\": [{\"id\": \"call_e\", \"name\": \"execute\","
        " \"args\": {\"command\": \"printf 'Run make test.<!-- hidden note -->' > AGENTS.md &&"
        " echo written\"}}]},"
        "{\"match\": \"M-START\", \"text\": [\"Your workspace \", \"dev is \", \"running.\"]},"
        "{\"match\": \"M-START\", \"text\": \"You are welcome.\"},"
        /* the active version needs a parameter: the retry text, then the retry */
        "{\"match\": \"M-PINNED\", \"tool_calls\": [{\"id\": \"s1\", \"name\":"
        " \"start_workspace\", \"args\": {}}]},"
        "{\"match\": \"M-PINNED\", \"tool_calls\": [{\"id\": \"s2\", \"name\":"
        " \"start_workspace\", \"args\": {\"parameters\": {\"team\": \"platform\"}}}]},"
        "{\"match\": \"M-PINNED\", \"text\": \"Started it with team platform.\"},"
        /* 429, then success */
        "{\"match\": \"M-RATE\", \"status\": 429, \"retry_after_ms\": \"50\"},"
        "{\"match\": \"M-RATE\", \"text\": \"Fine now.\"},"
        /* the provider keeps failing */
        "{\"match\": \"M-DOWN\", \"status\": 503},"
        "{\"match\": \"M-DOWN\", \"status\": 503},"
        /* answers the model gets wrong */
        "{\"match\": \"M-BAD\", \"tool_calls\": ["
        " {\"id\": \"b1\", \"name\": \"launch_rockets\", \"args\": {}},"
        " {\"id\": \"b2\", \"name\": \"execute\", \"args\": \"{\\\"command\\\": \"},"
        " {\"id\": \"b3\", \"name\": \"execute\", \"args\": {\"command\": 42}}]},"
        "{\"match\": \"M-BAD\", \"text\": \"Sorry about that.\"},"
        /* a stream event that is not JSON, then a good answer */
        "{\"match\": \"M-RAW\", \"raw\": [\"data: {not json\\n\\n\"]},"
        "{\"match\": \"M-RAW\", \"text\": \"Recovered.\"},"
        /* interrupt while a tool runs */
        "{\"match\": \"M-INTERRUPT\", \"tool_calls\": [{\"id\": \"i1\", \"name\": \"execute\","
        " \"args\": {\"command\": \"sleep 7.5\"}}]},"
        "{\"match\": \"M-INTERRUPT\", \"text\": \"After the interrupt.\"},"
        /* a turn that hangs (queue, then interrupt), then the queued messages' turn */
        "{\"match\": \"M-QUEUE\", \"text\": \"thinking\", \"hang\": true},"
        "{\"match\": \"M-QUEUE\", \"text\": \"Read all twenty.\"},"
        /* berth chat */
        "{\"match\": \"M-CLI \", \"tool_calls\": [{\"id\": \"l1\", \"name\": \"list_templates\","
        " \"args\": {}}]},"
        "{\"match\": \"M-CLI \", \"text\": [\"There is \", \"a template.\"]},"
        "{\"match\": \"M-CLIFAIL\", \"status\": 401},"
        /* the server is killed while the model answers */
        "{\"match\": \"M-KILL\", \"text\": \"slow\", \"delay_ms\": 3000},"
        "{\"match\": \"M-KILL\", \"text\": \"Resumed after the restart.\"},"
        /* the server is killed while a tool runs */
        "{\"match\": \"M-TOOLKILL\", \"tool_calls\": [{\"id\": \"k1\", \"name\": \"execute\","
        " \"args\": {\"command\": \"sleep 4.5\"}}]},"
        "{\"match\": \"M-TOOLKILL\", \"text\": \"Picked up after the restart.\"},"
        /* the server is stopped while a tool runs */
        "{\"match\": \"M-TERM\", \"tool_calls\": [{\"id\": \"t1\", \"name\": \"execute\","
        " \"args\": {\"command\": \"sleep 6.5\"}}]},"
        "{\"match\": \"M-TERM\", \"text\": \"Back after the stop.\"},"
        /* the same loop over the Anthropic Messages API */
        "{\"match\": \"M-ANTH\", \"tool_calls\": [{\"id\": \"toolu_1\", \"name\":"
        " \"list_templates\", \"args\": {}}]},"
        "{\"match\": \"M-ANTH\", \"text\": \"Listed them.\"}"
        "]",
        c->plain);
}

static void restart_with_llm(struct ctx *c)
{
    int n = 0;
    c->extra[n++] = "--listen";
    c->extra[n++] = c->listen;
    c->extra[n++] = "--llm-model";
    c->extra[n++] = "fake-model";
    c->extra[n++] = "--llm-base-url";
    c->extra[n++] = c->fake_url;
    c->extra[n++] = "--chat-model-attempts";
    c->extra[n++] = "2";
    c->extra[n] = NULL;
    setenv("BERTH_LLM_API_KEY", API_KEY, 1);
    server_restart(&c->s, c->extra);
    unsetenv("BERTH_LLM_API_KEY");
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:%d", free_port());
    const char *first[] = {"--listen", c->listen, NULL};
    server_start(&c->s, first);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "ava", NULL, c->ava);
    server_create_user(&c->s, "mia", NULL, c->mia);
    server_create_user(&c->s, "ben", NULL, c->ben);
    c->plain = local_template(&c->s, "plain", "");
    server_stop(&c->s);
    char *sc = script(c);
    start_fakellm(c, sc);
    free(sc);
    restart_with_llm(c);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    server_destroy(&c->s);
    if (c->fake) {
        kill(c->fake, SIGTERM);
        waitpid(c->fake, NULL, 0);
    }
    free(c->plain);
    free(c->pinned);
    free(c);
    return 0;
}

/* ---- helpers ---- */

/* A new chat of ava's bound to her workspace "dev" (which the first test creates). */
static json_t *chat_on_dev(struct ctx *c)
{
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/v2/users/me/workspace/dev", c->ava, NULL, &r),
                     200);
    json_t *chat = chat_create(&c->s, c->ava, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
    return chat;
}

/* Posts a message (must answer 201) and returns it. */
static json_t *post(struct ctx *c, const char *token, const char *id, const char *content)
{
    char *path = fmt("/api/experimental/chats/%s/messages", id);
    json_t *body = json_pack("{s:s}", "content", content);
    char *txt = json_dumps(body, 0);
    struct resp r;
    if (http_req(&c->s, "POST", path, token, txt, &r) != 201)
        fail_msg("post message: %ld %s", r.status, r.body);
    json_t *m = json_incref(r.json);
    resp_free(&r);
    free(txt);
    json_decref(body);
    free(path);
    return m;
}

static json_t *messages(struct ctx *c, const char *token, const char *id)
{
    char *path = fmt("/api/experimental/chats/%s/messages", id);
    struct resp r;
    if (http_req(&c->s, "GET", path, token, NULL, &r) != 200)
        fail_msg("messages: %ld %s", r.status, r.body);
    json_t *m = json_incref(r.json);
    resp_free(&r);
    free(path);
    return m;
}

/* Polls the chat until its status is neither pending nor running (timeout_s at most). */
static json_t *wait_turn(struct ctx *c, const char *token, const char *id, int timeout_s)
{
    int64_t deadline = time_mono_us() + (int64_t)timeout_s * 1000000;
    for (;;) {
        json_t *chat = chat_fetch(&c->s, token, id);
        const char *st = jsonx_get_str(chat, "status", "");
        if (strcmp(st, "pending") != 0 && strcmp(st, "running") != 0)
            return chat;
        json_decref(chat);
        if (time_mono_us() > deadline)
            fail_msg("chat %s still %s after %d s", id, st, timeout_s);
        usleep(20000);
    }
}

/* Polls until the chat has at least n messages. */
static json_t *wait_messages(struct ctx *c, const char *token, const char *id, size_t n)
{
    for (int i = 0; i < 1500; i++) {
        json_t *m = messages(c, token, id);
        if (json_array_size(m) >= n)
            return m;
        json_decref(m);
        usleep(20000);
    }
    fail_msg("chat %s never had %zu messages", id, n);
    return NULL;
}

static const json_t *part(const json_t *msgs, size_t msg, size_t i)
{
    return json_array_get(json_object_get(json_array_get(msgs, msg), "parts"), i);
}

static const char *role(const json_t *msgs, size_t i)
{
    return jsonx_get_str(json_array_get(msgs, i), "role", "");
}

static void assert_json_eq(const json_t *got, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    if (!w)
        fail_msg("bad JSON in the test: %s", want);
    if (!json_equal(got, w))
        fail_msg("got %s\nwant %s", json_dumps(got, JSON_COMPACT), want);
    json_decref(w);
}

/* fakellm's request log: the bodies of the requests whose text contains marker, in order. */
static json_t *requests(struct ctx *c, const char *marker)
{
    char *text = read_text(c->log);
    json_t *out = json_array();
    char *line = text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strstr(line, marker))
            json_array_append_new(out, json_loads(line, 0, NULL));
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return out;
}

/* The system message's content of an OpenAI-format request. */
static const char *system_text(const json_t *req)
{
    const json_t *m = json_array_get(json_object_get(req, "messages"), 0);
    assert_string_equal(jsonx_get_str(m, "role", ""), "system");
    return jsonx_get_str(m, "content", "");
}

/* ---- the main story ---- */

static void test_start_my_workspace(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ava, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    char *stream = fmt("/api/experimental/chats/%s/stream", id);
    struct sse_watch *w = sse_watch_start_all(&c->s, stream, c->ava);

    json_t *m = post(c, c->ava, id, "M-START start my workspace");
    assert_int_equal(json_object_size(m), 5);
    assert_true(json_integer_value(json_object_get(m, "id")) > 0);
    assert_string_equal(jsonx_get_str(m, "role", ""), "user");
    assert_true(json_is_string(json_object_get(m, "created_at")));
    assert_true(json_is_false(json_object_get(m, "queued")));
    assert_json_eq(json_object_get(m, "parts"),
                   "[{\"type\": \"text\", \"text\": \"M-START start my workspace\"}]");
    json_decref(m);

    json_t *done = wait_turn(c, c->ava, id, 120);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    assert_true(json_is_null(json_object_get(done, "last_error")));
    const char *ws_id = jsonx_get_str(done, "workspace_id", "");
    assert_true(*ws_id);

    json_t *msgs = messages(c, c->ava, id);
    assert_int_equal(json_array_size(msgs), 6);
    const char *roles[] = {"user", "assistant", "tool", "assistant", "tool", "assistant"};
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(role(msgs, i), roles[i]);
        const json_t *mi = json_array_get(msgs, i);
        assert_int_equal(json_object_size(mi), 4);
        if (i > 0)
            assert_true(json_integer_value(json_object_get(mi, "id")) >
                        json_integer_value(json_object_get(json_array_get(msgs, i - 1), "id")));
    }
    char *want = fmt("{\"type\": \"tool-call\", \"tool_call_id\": \"call_c\", \"tool_name\": "
                     "\"create_workspace\", \"args\": {\"template_id\": \"%s\", \"name\": "
                     "\"dev\"}}",
                     c->plain);
    assert_json_eq(part(msgs, 1, 0), want);
    free(want);
    const json_t *created = part(msgs, 2, 0);
    assert_int_equal(json_object_size(created), 5);
    assert_string_equal(jsonx_get_str(created, "type", ""), "tool-result");
    assert_string_equal(jsonx_get_str(created, "tool_call_id", ""), "call_c");
    assert_string_equal(jsonx_get_str(created, "tool_name", ""), "create_workspace");
    assert_true(json_is_false(json_object_get(created, "is_error")));
    const json_t *cres = json_object_get(created, "result");
    assert_true(json_is_true(json_object_get(cres, "created")));
    assert_string_equal(jsonx_get_str(cres, "workspace_name", ""), "ava/dev");
    assert_string_equal(jsonx_get_str(part(msgs, 3, 0), "tool_name", ""), "execute");
    const json_t *exec = part(msgs, 4, 0);
    assert_string_equal(jsonx_get_str(exec, "tool_call_id", ""), "call_e");
    assert_true(json_is_false(json_object_get(exec, "is_error")));
    const json_t *eres = json_object_get(exec, "result");
    assert_true(json_is_true(json_object_get(eres, "success")));
    assert_int_equal(json_integer_value(json_object_get(eres, "exit_code")), 0);
    assert_string_equal(jsonx_get_str(eres, "output", ""), "written\n");
    assert_json_eq(json_object_get(json_array_get(msgs, 5), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Your workspace dev is running.\"}]");

    /* The stream: the status first, then every stored message once, in order, the text as it
     * arrived, the tool results as they ended, and the status changes up to waiting. */
    sse_watch_wait(w, 1000, 1500);
    json_t *evs = sse_watch_stop(w);
    json_t *ids = json_array();
    struct buf text;
    buf_init(&text, 0);
    json_t *statuses = json_array();
    int live_results = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(evs, i, ev)
    {
        const char *name = jsonx_get_str(ev, "event", "");
        const json_t *d = json_object_get(ev, "data");
        if (strcmp(name, "message") == 0) {
            json_array_append(ids, json_object_get(d, "id"));
        } else if (strcmp(name, "message_part") == 0) {
            const json_t *p = json_object_get(d, "part");
            if (strcmp(jsonx_get_str(p, "type", ""), "text") == 0)
                buf_puts(&text, jsonx_get_str(p, "text", ""));
            else if (strcmp(jsonx_get_str(p, "type", ""), "tool-result") == 0)
                live_results++;
        } else if (strcmp(name, "status_change") == 0) {
            const char *st = jsonx_get_str(json_object_get(d, "chat"), "status", "");
            size_t n = json_array_size(statuses);
            if (!n || strcmp(json_string_value(json_array_get(statuses, n - 1)), st) != 0)
                json_array_append_new(statuses, json_string(st));
        } else {
            fail_msg("unexpected event %s", name);
        }
    }
    assert_string_equal(jsonx_get_str(json_array_get(evs, 0), "event", ""), "status_change");
    json_t *want_ids = json_array();
    json_array_foreach(msgs, i, ev) json_array_append(want_ids, json_object_get(ev, "id"));
    assert_true(json_equal(ids, want_ids));
    assert_string_equal(buf_str(&text), "Your workspace dev is running.");
    assert_int_equal(live_results, 2);
    assert_json_eq(statuses, "[\"waiting\", \"pending\", \"running\", \"waiting\"]");
    buf_free(&text);
    json_decref(statuses);
    json_decref(want_ids);
    json_decref(ids);
    json_decref(evs);

    /* What the model was sent: the tools, the system prompt, then the conversation with each
     * tool result under its call id. The key went in the header fakellm required. */
    json_t *reqs = requests(c, "M-START");
    assert_int_equal(json_array_size(reqs), 3);
    const json_t *r0 = json_array_get(reqs, 0);
    assert_string_equal(jsonx_get_str(r0, "model", ""), "fake-model");
    assert_int_equal(json_array_size(json_object_get(r0, "tools")), 12);
    assert_non_null(strstr(system_text(r0), "No workspace is attached to this chat."));
    const json_t *r2 = json_array_get(reqs, 2);
    assert_non_null(strstr(system_text(r2), "A workspace is attached to this chat: \"dev\""));
    const json_t *rmsgs = json_object_get(r2, "messages");
    const json_t *last = json_array_get(rmsgs, json_array_size(rmsgs) - 1);
    assert_string_equal(jsonx_get_str(last, "role", ""), "tool");
    assert_string_equal(jsonx_get_str(last, "tool_call_id", ""), "call_e");
    json_decref(reqs);

    /* The next turn reads the AGENTS.md the command wrote, without its comment. */
    json_decref(post(c, c->ava, id, "thanks"));
    json_decref(wait_turn(c, c->ava, id, 60));
    reqs = requests(c, "M-START");
    assert_int_equal(json_array_size(reqs), 4);
    const char *sys = system_text(json_array_get(reqs, 3));
    assert_non_null(strstr(sys, "<workspace-context>"));
    assert_non_null(strstr(sys, "/AGENTS.md\nRun make test.\n</workspace-context>"));
    assert_null(strstr(sys, "hidden note"));
    json_decref(reqs);

    /* Resuming the stream after a message id sends only what came after it. */
    json_int_t after = json_integer_value(json_object_get(json_array_get(msgs, 3), "id"));
    char *resume = fmt("/api/experimental/chats/%s/stream?after_id=%lld", id, (long long)after);
    w = sse_watch_start_all(&c->s, resume, c->ava);
    sse_watch_wait(w, 1000, 500);
    evs = sse_watch_stop(w);
    json_t *got = json_array();
    json_array_foreach(evs, i, ev)
    {
        if (strcmp(jsonx_get_str(ev, "event", ""), "message") == 0)
            json_array_append(got, json_object_get(json_object_get(ev, "data"), "id"));
    }
    json_t *all = messages(c, c->ava, id);
    assert_int_equal(json_array_size(all), 8);
    assert_int_equal(json_array_size(got), 4);
    for (size_t k = 0; k < 4; k++)
        assert_true(
            json_equal(json_array_get(got, k), json_object_get(json_array_get(all, 4 + k), "id")));
    json_decref(all);
    json_decref(got);
    json_decref(evs);
    free(resume);

    /* The key reached neither the workspace, nor the answers, nor the logs, nor the database. */
    char *path = fmt("/api/experimental/chats/%s/tools/execute", id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", path, c->ava, "{\"command\": \"env; ps eww -A\"}", &r),
                     200);
    assert_null(strstr(r.body, API_KEY));
    assert_non_null(strstr(r.body, "HOME="));
    resp_free(&r);
    free(path);
    char *logtext = fmt("%s/server.log", c->s.dir);
    char *slog = read_text(logtext);
    assert_non_null(slog);
    assert_null(strstr(slog, API_KEY));
    free(slog);
    free(logtext);
    const char *dbs[] = {"berth.db", "berth.db-wal"};
    for (size_t k = 0; k < 2; k++) {
        char *p = fmt("%s/%s", c->s.data_dir, dbs[k]);
        FILE *f = fopen(p, "rb");
        if (f) {
            char buf[65536];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                assert_null(memmem(buf, n, API_KEY, strlen(API_KEY)));
            fclose(f);
        }
        free(p);
    }
    char *envp = fmt("/proc/%d/environ", (int)c->s.pid);
    FILE *ef = fopen(envp, "rb");
    if (ef) {
        char buf[65536];
        size_t n = fread(buf, 1, sizeof buf, ef);
        assert_null(memmem(buf, n, API_KEY, strlen(API_KEY)));
        fclose(ef);
    }
    free(envp);

    free(stream);
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

/* start_workspace pinned to an active version that needs a parameter: the model reads the
 * retry text and retries with parameters, which starts the workspace. */
static void test_start_needs_active_version(void **state)
{
    struct ctx *c = *state;
    c->pinned = local_template(&c->s, "pinned", "");
    char *path = fmt("/api/v2/templates/%s", c->pinned);
    struct resp r;
    if (http_req(&c->s, "PATCH", path, c->s.owner_token, "{\"require_active_version\":true}", &r) !=
        200)
        fail_msg("patch template: %ld %s", r.status, r.body);
    resp_free(&r);
    free(path);
    json_t *ws = create_ws(&c->s, c->mia, c->pinned, "pinned");
    const char *ws_id = jsonx_get_str(ws, "id", "");
    run_build(&c->s, c->mia, ws_id, "stop");
    char *yaml = local_manifest("parameters:\n  - name: team\n    type: string\n"
                                "    description: The team that owns the workspace.\n",
                                "");
    char *program = local_provision();
    const char *files[] = {"berth.yaml", yaml, "provision", program, NULL};
    json_t *v = add_version(&c->s, c->pinned, files);
    promote(&c->s, c->pinned, jsonx_get_str(v, "id", ""));
    json_decref(v);
    free(yaml);
    free(program);

    json_t *chat = chat_create(&c->s, c->mia, ws_id);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->mia, id, "M-PINNED start it please"));
    json_t *done = wait_turn(c, c->mia, id, 120);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->mia, id);
    assert_int_equal(json_array_size(msgs), 6);
    const json_t *first = part(msgs, 2, 0);
    assert_true(json_is_true(json_object_get(first, "is_error")));
    assert_string_equal(jsonx_get_str(first, "tool_name", ""), "start_workspace");
    assert_string_equal(jsonx_get_str(first, "result", ""),
                        MANUAL_UPDATE_TEXT "\n\nParameter \"team\" is required but not provided");
    assert_json_eq(part(msgs, 3, 0),
                   "{\"type\": \"tool-call\", \"tool_call_id\": \"s2\", \"tool_name\": "
                   "\"start_workspace\", \"args\": {\"parameters\": {\"team\": \"platform\"}}}");
    const json_t *second = part(msgs, 4, 0);
    assert_true(json_is_false(json_object_get(second, "is_error")));
    const json_t *res = json_object_get(second, "result");
    assert_true(json_is_true(json_object_get(res, "started")));
    assert_true(json_is_true(json_object_get(res, "updated_to_active_version")));
    /* The model read the retry text as the tool's answer. */
    json_t *reqs = requests(c, "M-PINNED");
    assert_int_equal(json_array_size(reqs), 3);
    const json_t *rm = json_object_get(json_array_get(reqs, 1), "messages");
    const json_t *tool = json_array_get(rm, json_array_size(rm) - 1);
    assert_string_equal(jsonx_get_str(tool, "tool_call_id", ""), "s1");
    assert_non_null(strstr(jsonx_get_str(tool, "content", ""), MANUAL_UPDATE_TEXT));
    json_decref(reqs);
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
    json_decref(ws);
}

static void test_rate_limited_then_answers(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-RATE hello"));
    json_t *done = wait_turn(c, c->ben, id, 60);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 2);
    assert_json_eq(json_object_get(json_array_get(msgs, 1), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Fine now.\"}]");
    json_t *reqs = requests(c, "M-RATE");
    assert_int_equal(json_array_size(reqs), 2);
    json_decref(reqs);
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

static void test_provider_down_ends_in_error(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-DOWN hello"));
    json_t *done = wait_turn(c, c->ben, id, 60);
    assert_string_equal(jsonx_get_str(done, "status", ""), "error");
    const char *err = jsonx_get_str(done, "last_error", "");
    if (!str_has_prefix(err, "the LLM provider") ||
        !str_has_suffix(err, " (gave up after 2 attempts)"))
        fail_msg("last_error: %s", err);
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 1);
    json_decref(msgs);
    /* The server goes on: the chat takes the next message. */
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->ben, NULL, &r), 200);
    resp_free(&r);
    json_decref(done);
    json_decref(chat);
}

static void test_bad_tool_calls_reach_the_model_as_errors(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-BAD do things"));
    json_t *done = wait_turn(c, c->ben, id, 60);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 4);
    assert_json_eq(json_object_get(json_array_get(msgs, 2), "parts"),
                   "[{\"type\": \"tool-result\", \"tool_call_id\": \"b1\", \"tool_name\": "
                   "\"launch_rockets\", \"result\": \"unknown tool \\\"launch_rockets\\\"\", "
                   "\"is_error\": true},"
                   " {\"type\": \"tool-result\", \"tool_call_id\": \"b2\", \"tool_name\": "
                   "\"execute\", \"result\": \"invalid parameters: the arguments are not valid "
                   "JSON (unexpected token near end of file)\", \"is_error\": true},"
                   " {\"type\": \"tool-result\", \"tool_call_id\": \"b3\", \"tool_name\": "
                   "\"execute\", \"result\": \"invalid parameters: \\\"command\\\" must be a "
                   "string\", \"is_error\": true}]");
    assert_json_eq(json_object_get(json_array_get(msgs, 3), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Sorry about that.\"}]");
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

/* A provider answer that is not valid JSON ends the turn with a clear error; the chat takes the
 * next message. */
static void test_provider_answer_not_json(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-RAW hello"));
    json_t *done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "error");
    const char *err = jsonx_get_str(done, "last_error", "");
    assert_string_equal(err, "the LLM provider sent a stream event that is not a JSON object "
                             "(string or '}' expected near 'not')");
    json_decref(done);
    json_decref(post(c, c->ben, id, "try again"));
    done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    assert_true(json_is_null(json_object_get(done, "last_error")));
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 3);
    assert_json_eq(json_object_get(json_array_get(msgs, 2), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Recovered.\"}]");
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

static void test_interrupt_mid_tool(void **state)
{
    struct ctx *c = *state;
    /* ava's chat from the first test has a running workspace. */
    struct resp r;
    json_t *chat = chat_on_dev(c);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ava, id, "M-INTERRUPT wait a while"));
    json_decref(wait_messages(c, c->ava, id, 2)); /* the call is stored: the tool runs */
    for (int i = 0; i < 500 && !sleep_alive("7.5"); i++)
        usleep(10000);
    assert_true(sleep_alive("7.5"));
    char *path = fmt("/api/experimental/chats/%s/interrupt", id);
    int64_t t0 = time_mono_us();
    assert_int_equal(http_req(&c->s, "POST", path, c->ava, NULL, &r), 200);
    resp_free(&r);
    json_t *done = wait_turn(c, c->ava, id, 10);
    assert_true(time_mono_us() - t0 < 3000000); /* at once, not after the command's 7.5 s */
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    /* The command itself is stopped in the workspace, long before its 7.5 s are up. */
    for (int i = 0; i < 300 && sleep_alive("7.5"); i++)
        usleep(10000);
    assert_false(sleep_alive("7.5"));
    json_t *msgs = messages(c, c->ava, id);
    assert_int_equal(json_array_size(msgs), 3);
    assert_json_eq(part(msgs, 2, 0),
                   "{\"type\": \"tool-result\", \"tool_call_id\": \"i1\", \"tool_name\": "
                   "\"execute\", \"result\": \"" INTERRUPTED_TEXT "\", \"is_error\": true}");
    /* An interrupt of a chat that waits changes nothing. */
    assert_int_equal(http_req(&c->s, "POST", path, c->ava, NULL, &r), 200);
    assert_string_equal(jsonx_get_str(r.json, "status", ""), "waiting");
    resp_free(&r);
    /* The chat goes on. */
    json_decref(post(c, c->ava, id, "and now?"));
    json_decref(wait_turn(c, c->ava, id, 30));
    json_decref(msgs);
    msgs = messages(c, c->ava, id);
    assert_json_eq(json_object_get(json_array_get(msgs, 4), "parts"),
                   "[{\"type\": \"text\", \"text\": \"After the interrupt.\"}]");
    free(path);
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

static void test_queue_limit_and_interrupt(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-QUEUE think hard"));
    for (int i = 0; i < 500; i++) {
        json_t *ch = chat_fetch(&c->s, c->ben, id);
        bool running = strcmp(jsonx_get_str(ch, "status", ""), "running") == 0;
        json_decref(ch);
        if (running)
            break;
        usleep(10000);
    }
    for (int i = 0; i < 20; i++) {
        char *text = fmt("queued %d", i);
        json_t *m = post(c, c->ben, id, text);
        assert_true(json_is_true(json_object_get(m, "queued")));
        json_decref(m);
        free(text);
    }
    char *path = fmt("/api/experimental/chats/%s/messages", id);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", path, c->ben, "{\"content\": \"one more\"}", &r), 409);
    assert_string_equal(resp_message(&r), "The chat already has 20 messages waiting for the "
                                          "running turn; wait for it to end or interrupt it.");
    resp_free(&r);
    char *ipath = fmt("/api/experimental/chats/%s/interrupt", id);
    assert_int_equal(http_req(&c->s, "POST", ipath, c->ben, NULL, &r), 200);
    resp_free(&r);
    /* The interrupted turn keeps the text it streamed; the queued messages join and start the
     * next turn. */
    json_t *msgs = wait_messages(c, c->ben, id, 23);
    json_decref(wait_turn(c, c->ben, id, 30));
    json_decref(msgs);
    msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 23);
    assert_json_eq(json_object_get(json_array_get(msgs, 1), "parts"),
                   "[{\"type\": \"text\", \"text\": \"thinking\"}]");
    for (int i = 0; i < 20; i++) {
        char *want = fmt("[{\"type\": \"text\", \"text\": \"queued %d\"}]", i);
        assert_string_equal(role(msgs, 2 + (size_t)i), "user");
        assert_json_eq(json_object_get(json_array_get(msgs, 2 + (size_t)i), "parts"), want);
        free(want);
    }
    assert_json_eq(json_object_get(json_array_get(msgs, 22), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Read all twenty.\"}]");
    json_decref(msgs);
    free(ipath);
    free(path);
    json_decref(chat);
}

static void test_bad_input(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    char *path = fmt("/api/experimental/chats/%s/messages", id);
    struct resp r;
    const char *bodies[] = {"{\"content\": \"\"}", "{\"content\": \"  \\n \"}", "{}",
                            "{\"content\": 7}", "not json"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(http_req(&c->s, "POST", path, c->ben, bodies[i], &r), 400);
        if (i < 4) {
            const json_t *v = json_array_get(json_object_get(r.json, "validations"), 0);
            assert_string_equal(jsonx_get_str(v, "field", ""), "content");
        }
        resp_free(&r);
    }
    assert_int_equal(http_req(&c->s, "POST", path, c->ben, "{\"content\": \"\"}", &r), 400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "detail", ""),
        "must not be empty");
    resp_free(&r);
    /* 64 KiB is the most; the body's own limit answers 413. */
    size_t big = 64 * 1024 + 1;
    char *content = malloc(big + 1);
    memset(content, 'a', big);
    content[big] = '\0';
    char *body = fmt("{\"content\": \"%s\"}", content);
    assert_int_equal(http_req(&c->s, "POST", path, c->ben, body, &r), 400);
    assert_string_equal(
        jsonx_get_str(json_array_get(json_object_get(r.json, "validations"), 0), "detail", ""),
        "must be at most 65536 bytes (got 65537)");
    resp_free(&r);
    free(body);
    free(content);
    size_t huge = 600 * 1024;
    content = malloc(huge + 1);
    memset(content, 'a', huge);
    content[huge] = '\0';
    body = fmt("{\"content\": \"%s\"}", content);
    assert_int_equal(http_req(&c->s, "POST", path, c->ben, body, &r), 413);
    resp_free(&r);
    free(body);
    free(content);
    /* Nothing was stored. */
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 0);
    json_decref(msgs);
    /* Someone else's chat does not exist for them. */
    const char *methods[] = {"POST", "GET", "GET", "POST"};
    char *paths[] = {fmt("/api/experimental/chats/%s/messages", id),
                     fmt("/api/experimental/chats/%s/messages", id),
                     fmt("/api/experimental/chats/%s/stream", id),
                     fmt("/api/experimental/chats/%s/interrupt", id)};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(http_req(&c->s, methods[i], paths[i], c->ava,
                                  i == 0 ? "{\"content\": \"hi\"}" : NULL, &r),
                         404);
        resp_free(&r);
        free(paths[i]);
    }
    /* Bad model settings stop the server at start, naming what is wrong. */
    char *dd = fmt("%s/other-data", c->s.dir);
    const char *bad_provider[] = {"server", "--data-dir",  dd,  "--llm-provider",
                                  "gemini", "--llm-model", "x", NULL};
    char *out, *errtext;
    assert_int_equal(run_cli(&c->s, NULL, NULL, bad_provider, &out, &errtext), 2);
    assert_string_equal(errtext, "berth server: unknown LLM provider \"gemini\": use \"openai\" "
                                 "(OpenAI-compatible servers) or \"anthropic\"\n");
    free(out);
    free(errtext);
    const char *no_model[] = {"server", "--data-dir", dd, "--llm-base-url", "http://x/v1", NULL};
    assert_int_equal(run_cli(&c->s, NULL, NULL, no_model, &out, &errtext), 2);
    assert_string_equal(errtext,
                        "berth server: no LLM model: set BERTH_LLM_MODEL or --llm-model\n");
    free(out);
    free(errtext);
    free(dd);
    char *bad = fmt("/api/experimental/chats/%s/messages?after_id=-1", id);
    assert_int_equal(http_req(&c->s, "GET", bad, c->ben, NULL, &r), 400);
    resp_free(&r);
    free(bad);
    free(path);
    json_decref(chat);
}

static void test_cli(void **state)
{
    struct ctx *c = *state;
    char *out, *err;
    const char *mk[] = {"chat", "new", "--title", "from the cli", NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, mk, &out, &err), 0);
    char id[64];
    str_copy(id, sizeof id, out);
    str_trim(id);
    assert_int_equal(strlen(id), 36);
    free(out);
    free(err);

    const char *send[] = {"chat", "send", id, "M-CLI what templates are there?", NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, send, &out, &err), 0);
    const char *want1 = "  -> list_templates {}\n  <- list_templates: {\"templates\":[";
    if (strncmp(out, want1, strlen(want1)) != 0 || !str_has_suffix(out, "\nThere is a template.\n"))
        fail_msg("chat send printed:\n%s", out);
    assert_string_equal(err, "");
    free(out);
    free(err);

    const char *list[] = {"chat", "list", NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, list, &out, &err), 0);
    char *row = fmt("%s  from the cli", id);
    assert_non_null(strstr(out, row));
    assert_true(str_has_prefix(out, "ID "));
    free(row);
    free(out);
    free(err);

    const char *show[] = {"chat", "show", id, NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, show, &out, &err), 0);
    char *head = fmt("%s  from the cli  [waiting]\nuser: M-CLI what templates are there?\n"
                     "  -> list_templates {}\n  <- list_templates: {",
                     id);
    if (!str_has_prefix(out, head) || !str_has_suffix(out, "\nassistant: There is a template.\n"))
        fail_msg("chat show printed:\n%s", out);
    free(head);
    free(out);
    free(err);

    /* A failed turn: exit status 1 and the chat's error. */
    const char *fail[] = {"chat", "send", id, "M-CLIFAIL again", NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, fail, &out, &err), 1);
    if (!str_has_prefix(err, "berth: the LLM provider answered HTTP 401"))
        fail_msg("chat send failed with:\n%s", err);
    free(out);
    free(err);

    const char *none[] = {"chat", "show", "nope", NULL};
    assert_int_equal(run_cli(&c->s, c->ben, NULL, none, &out, &err), 1);
    assert_string_equal(err, "berth: chat \"nope\" not found\n");
    free(out);
    free(err);
}

/* A provision program's environment holds none of the server's LLM settings. */
static void test_provision_env_has_no_key(void **state)
{
    struct ctx *c = *state;
    const char *files[] = {"berth.yaml", "provision: ./provision\n", "provision",
                           "#!/bin/sh\nenv\n", NULL};
    json_t *t = make_template(&c->s, "envdump", files);
    json_t *ws = create_ws(&c->s, c->ben, jsonx_get_str(t, "id", ""), "envdump");
    char *path = fmt("/api/v2/workspaces/%s", jsonx_get_str(ws, "id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", path, c->ben, NULL, &r), 200);
    const char *build = jsonx_get_str(json_object_get(r.json, "latest_build"), "id", "");
    char *logs = fmt("/api/v2/workspacebuilds/%s/logs", build);
    struct resp l;
    assert_int_equal(http_req(&c->s, "GET", logs, c->ben, NULL, &l), 200);
    assert_non_null(strstr(l.body, "BERTH_WORKSPACE_NAME=envdump"));
    assert_null(strstr(l.body, API_KEY));
    assert_null(strstr(l.body, "BERTH_LLM"));
    resp_free(&l);
    resp_free(&r);
    free(logs);
    free(path);
    json_decref(ws);
    json_decref(t);
}

/* The server is SIGKILLed while the model answers: after the restart the turn is claimed again
 * and finished, never left running. */
static void test_sigkill_mid_turn(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-KILL take your time"));
    for (int i = 0; i < 500; i++) {
        json_t *reqs = requests(c, "M-KILL");
        size_t n = json_array_size(reqs);
        json_decref(reqs);
        if (n > 0)
            break;
        usleep(10000);
    }
    json_t *ch = chat_fetch(&c->s, c->ben, id);
    assert_string_equal(jsonx_get_str(ch, "status", ""), "running");
    json_decref(ch);
    server_kill(&c->s);
    restart_with_llm(c);
    json_t *done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 2);
    assert_json_eq(json_object_get(json_array_get(msgs, 1), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Resumed after the restart.\"}]");
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

/* Polls the chat's agent with a cheap command through the tool endpoint until it answers (the
 * agent reconnects after a restart of the server). */
static void wait_agent_reachable(struct ctx *c, const char *token, const char *chat_id)
{
    char *path = fmt("/api/experimental/chats/%s/tools/execute", chat_id);
    bool ok = false;
    for (int i = 0; i < 600 && !ok; i++) {
        struct resp r;
        if (http_req(&c->s, "POST", path, token, "{\"command\": \"true\"}", &r) == 200)
            ok = json_is_false(json_object_get(r.json, "is_error"));
        resp_free(&r);
        if (!ok)
            usleep(50000);
    }
    free(path);
    if (!ok)
        fail_msg("the chat's agent never answered");
}

/* The server is stopped (SIGTERM) while a tool runs: it stops at once, gives the turn back, and
 * the next start answers the call as cut short and goes on. */
static void test_sigterm_mid_tool(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_on_dev(c);
    const char *id = jsonx_get_str(chat, "id", "");
    wait_agent_reachable(c, c->ava, id);
    json_decref(post(c, c->ava, id, "M-TERM wait"));
    json_decref(wait_messages(c, c->ava, id, 2));
    for (int i = 0; i < 500 && !sleep_alive("6.5"); i++)
        usleep(10000);
    assert_true(sleep_alive("6.5"));
    int64_t t0 = time_mono_us();
    server_stop(&c->s); /* asserts a clean exit */
    assert_true(time_mono_us() - t0 < 4000000);
    restart_with_llm(c);
    json_t *done = wait_turn(c, c->ava, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ava, id);
    assert_int_equal(json_array_size(msgs), 4);
    assert_string_equal(jsonx_get_str(part(msgs, 2, 0), "result", ""),
                        "The server restarted while this tool call ran, so its outcome is "
                        "unknown. Check the workspace's state before trying again.");
    assert_json_eq(json_object_get(json_array_get(msgs, 3), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Back after the stop.\"}]");
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

/* The server is SIGKILLed while a tool runs: after the restart the call is answered as cut
 * short and the model is asked again. */
static void test_sigkill_mid_tool(void **state)
{
    struct ctx *c = *state;
    json_t *chat = chat_on_dev(c);
    const char *id = jsonx_get_str(chat, "id", "");
    wait_agent_reachable(c, c->ava, id);
    json_decref(post(c, c->ava, id, "M-TOOLKILL wait"));
    json_decref(wait_messages(c, c->ava, id, 2));
    for (int i = 0; i < 500 && !sleep_alive("4.5"); i++)
        usleep(10000);
    if (!sleep_alive("4.5")) {
        json_t *m = messages(c, c->ava, id);
        fail_msg("the command never ran: %s", json_dumps(m, 0));
    }
    server_kill(&c->s);
    restart_with_llm(c);
    json_t *done = wait_turn(c, c->ava, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ava, id);
    assert_int_equal(json_array_size(msgs), 4);
    assert_json_eq(part(msgs, 2, 0),
                   "{\"type\": \"tool-result\", \"tool_call_id\": \"k1\", \"tool_name\": "
                   "\"execute\", \"result\": \"The server restarted while this tool call ran, so "
                   "its outcome is unknown. Check the workspace's state before trying again.\", "
                   "\"is_error\": true}");
    assert_json_eq(json_object_get(json_array_get(msgs, 3), "parts"),
                   "[{\"type\": \"text\", \"text\": \"Picked up after the restart.\"}]");
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

static void test_anthropic(void **state)
{
    struct ctx *c = *state;
    server_stop(&c->s);
    const char *extra[] = {"--listen",       c->listen,     "--llm-provider",
                           "anthropic",      "--llm-model", "fake-claude",
                           "--llm-base-url", c->fake_url,   NULL};
    server_restart(&c->s, extra);
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "M-ANTH list them"));
    json_t *done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "waiting");
    json_t *msgs = messages(c, c->ben, id);
    assert_int_equal(json_array_size(msgs), 4);
    assert_string_equal(jsonx_get_str(part(msgs, 2, 0), "tool_call_id", ""), "toolu_1");
    assert_true(json_is_false(json_object_get(part(msgs, 2, 0), "is_error")));
    json_t *reqs = requests(c, "M-ANTH");
    assert_int_equal(json_array_size(reqs), 2);
    const json_t *r1 = json_array_get(reqs, 1);
    assert_string_equal(jsonx_get_str(r1, "model", ""), "fake-claude");
    assert_non_null(strstr(jsonx_get_str(r1, "system", ""), "No workspace is attached"));
    const json_t *rm = json_object_get(r1, "messages");
    const json_t *last = json_array_get(rm, json_array_size(rm) - 1);
    assert_string_equal(jsonx_get_str(last, "role", ""), "user");
    const json_t *block = json_array_get(json_object_get(last, "content"), 0);
    assert_string_equal(jsonx_get_str(block, "type", ""), "tool_result");
    assert_string_equal(jsonx_get_str(block, "tool_use_id", ""), "toolu_1");
    json_decref(reqs);
    json_decref(msgs);
    json_decref(done);
    json_decref(chat);
}

/* A provider nobody answers at: retried, then the chat ends in error saying so. */
static void test_provider_unreachable(void **state)
{
    struct ctx *c = *state;
    server_stop(&c->s);
    char *url = fmt("http://127.0.0.1:%d/v1", free_port());
    const char *extra[] = {
        "--listen", c->listen, "--llm-model", "m", "--llm-base-url", url, "--chat-model-attempts",
        "2",        NULL};
    server_restart(&c->s, extra);
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "is anyone there?"));
    json_t *done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "error");
    const char *err = jsonx_get_str(done, "last_error", "");
    if (!str_has_prefix(err, "cannot reach the LLM provider: ") ||
        !str_has_suffix(err, " (gave up after 2 attempts)"))
        fail_msg("last_error: %s", err);
    json_decref(done);
    json_decref(chat);
    free(url);
}

/* Without a provider the chat says so. */
static void test_no_provider(void **state)
{
    struct ctx *c = *state;
    server_stop(&c->s);
    const char *extra[] = {"--listen", c->listen, NULL};
    server_restart(&c->s, extra);
    json_t *chat = chat_create(&c->s, c->ben, NULL);
    const char *id = jsonx_get_str(chat, "id", "");
    json_decref(post(c, c->ben, id, "anyone there?"));
    json_t *done = wait_turn(c, c->ben, id, 30);
    assert_string_equal(jsonx_get_str(done, "status", ""), "error");
    assert_string_equal(jsonx_get_str(done, "last_error", ""),
                        "No LLM provider is configured on this server: start berth server with "
                        "--llm-provider and --llm-model (or BERTH_LLM_PROVIDER and "
                        "BERTH_LLM_MODEL), then send the message again.");
    json_decref(done);
    json_decref(chat);
}

static void test_cleanup_workspaces(void **state)
{
    struct ctx *c = *state;
    struct resp r;
    const char *owners[] = {c->ava, c->mia};
    const char *names[] = {"dev", "pinned"};
    for (size_t i = 0; i < 2; i++) {
        char *path = fmt("/api/v2/users/me/workspace/%s", names[i]);
        if (http_req(&c->s, "GET", path, owners[i], NULL, &r) == 200)
            run_build(&c->s, owners[i], jsonx_get_str(r.json, "id", ""), "delete");
        resp_free(&r);
        free(path);
    }
    assert_int_equal(wait_no_agent(c->s.dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_my_workspace),
        cmocka_unit_test(test_start_needs_active_version),
        cmocka_unit_test(test_rate_limited_then_answers),
        cmocka_unit_test(test_provider_down_ends_in_error),
        cmocka_unit_test(test_bad_tool_calls_reach_the_model_as_errors),
        cmocka_unit_test(test_provider_answer_not_json),
        cmocka_unit_test(test_interrupt_mid_tool),
        cmocka_unit_test(test_queue_limit_and_interrupt),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_provision_env_has_no_key),
        cmocka_unit_test(test_sigterm_mid_tool),
        cmocka_unit_test(test_sigkill_mid_tool),
        cmocka_unit_test(test_sigkill_mid_turn),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_provider_unreachable),
        cmocka_unit_test(test_no_provider),
        cmocka_unit_test(test_cleanup_workspaces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
