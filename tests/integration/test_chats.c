/* Integration: chats on a real server: create (defaults, title rules, binding to a workspace),
 * owner-only list and get, the watch stream, and the tool endpoint's errors. */
#include "harness.h"

#include "base/json.h"
#include "base/str.h"
#include "base/times.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ctx {
    struct server s;
    char mia[64], max[64];
    char mia_id[40], max_id[40];
};

static void user_id(struct server *s, const char *token, char *out)
{
    struct resp r;
    assert_int_equal(http_req(s, "GET", "/api/v2/users/me", token, NULL, &r), 200);
    str_copy(out, 40, jsonx_get_str(r.json, "id", ""));
    resp_free(&r);
}

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    server_start(&c->s, NULL);
    server_bootstrap_owner(&c->s);
    server_create_user(&c->s, "mia", NULL, c->mia);
    server_create_user(&c->s, "max", NULL, c->max);
    user_id(&c->s, c->mia, c->mia_id);
    user_id(&c->s, c->max, c->max_id);
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

/* POST /api/experimental/chats with body; expects 201 and returns the Chat (new reference). */
static json_t *create_chat(struct ctx *c, const char *token, const char *body)
{
    struct resp r;
    long st = http_req(&c->s, "POST", "/api/experimental/chats", token, body, &r);
    if (st != 201)
        fail_msg("create chat: %ld %s", st, r.body);
    json_t *chat = json_incref(r.json);
    resp_free(&r);
    return chat;
}

static void assert_time(const json_t *chat, const char *key)
{
    int64_t us;
    assert_int_equal(time_parse(jsonx_get_str(chat, key, ""), &us), 0);
    assert_true(us > 0);
}

static void test_create(void **state)
{
    struct ctx *c = *state;
    json_t *chat = create_chat(c, c->mia, "{}");
    const char *keys[] = {"id",       "owner_id", "title",      "status",     "workspace_id",
                          "build_id", "agent_id", "created_at", "updated_at", "last_error"};
    assert_int_equal(json_object_size(chat), 10);
    for (size_t i = 0; i < 10; i++)
        assert_non_null(json_object_get(chat, keys[i]));
    assert_string_equal(jsonx_get_str(chat, "owner_id", ""), c->mia_id);
    assert_string_equal(jsonx_get_str(chat, "title", ""), "New chat");
    assert_string_equal(jsonx_get_str(chat, "status", ""), "waiting");
    assert_true(json_is_null(json_object_get(chat, "workspace_id")));
    assert_true(json_is_null(json_object_get(chat, "build_id")));
    assert_true(json_is_null(json_object_get(chat, "agent_id")));
    assert_time(chat, "created_at");
    assert_string_equal(jsonx_get_str(chat, "updated_at", ""),
                        jsonx_get_str(chat, "created_at", ""));
    json_decref(chat);

    /* A title; unknown fields are ignored; no body at all is not an object. */
    chat = create_chat(c, c->mia, "{\"title\":\"Fix the build\",\"colour\":\"blue\"}");
    assert_string_equal(jsonx_get_str(chat, "title", ""), "Fix the build");
    json_decref(chat);

    /* At most 256 characters (not bytes). */
    char title[1100];
    size_t n = 0;
    for (int i = 0; i < 256; i++) {
        memcpy(title + n, "ü", 2);
        n += 2;
    }
    title[n] = '\0';
    char *body = fmt("{\"title\":\"%s\"}", title);
    chat = create_chat(c, c->mia, body);
    assert_string_equal(jsonx_get_str(chat, "title", ""), title);
    json_decref(chat);
    free(body);
    body = fmt("{\"title\":\"%sx\"}", title);
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", c->mia, body, &r), 400);
    assert_string_equal(resp_message(&r), "Validation failed.");
    json_t *v = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v, "field", ""), "title");
    assert_string_equal(jsonx_get_str(v, "detail", ""), "must be at most 256 characters");
    resp_free(&r);
    free(body);

    assert_int_equal(
        http_req(&c->s, "POST", "/api/experimental/chats", c->mia, "{\"title\":5}", &r), 400);
    v = json_array_get(json_object_get(r.json, "validations"), 0);
    assert_string_equal(jsonx_get_str(v, "field", ""), "title");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", c->mia, "[]", &r), 400);
    assert_string_equal(resp_message(&r), "Request body must be a JSON object.");
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", c->mia, "{", &r), 400);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", NULL, "{}", &r), 401);
    resp_free(&r);

    /* Nothing was created by the refused requests. */
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->mia, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 3);
    resp_free(&r);
}

static void test_create_bound_to_a_workspace(void **state)
{
    struct ctx *c = *state;
    json_t *t = make_template(&c->s, "chatty", MINIMAL_TEMPLATE);
    char *body = fmt("{\"name\":\"dev\",\"template_id\":\"%s\"}", jsonx_get_str(t, "id", ""));
    struct resp r;
    assert_int_equal(http_req(&c->s, "POST", "/api/v2/users/me/workspaces", c->mia, body, &r), 201);
    free(body);
    json_t *ws = json_incref(r.json);
    resp_free(&r);
    const char *ws_id = jsonx_get_str(ws, "id", "");
    const char *build_id = jsonx_get_str(json_object_get(ws, "latest_build"), "id", "");
    assert_true(*build_id);

    body = fmt("{\"workspace_id\":\"%s\"}", ws_id);
    json_t *chat = create_chat(c, c->mia, body);
    assert_string_equal(jsonx_get_str(chat, "workspace_id", ""), ws_id);
    assert_string_equal(jsonx_get_str(chat, "build_id", ""), build_id);
    assert_true(json_is_null(json_object_get(chat, "agent_id")));
    assert_string_equal(jsonx_get_str(chat, "status", ""), "waiting");
    json_decref(chat);

    /* Someone else's workspace, an unknown one, and a malformed id are all 404. */
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", c->max, body, &r), 404);
    assert_string_equal(resp_message(&r),
                        "Resource not found or you do not have access to this resource");
    resp_free(&r);
    /* A template admin can read mia's workspace but may not run commands in it: 403. */
    const char *roles[] = {"template-admin", NULL};
    char tad[64];
    server_create_user(&c->s, "tad", roles, tad);
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", tad, body, &r), 403);
    resp_free(&r);
    free(body);
    const char *bad[] = {"{\"workspace_id\":\"019a7c2e-5b1a-7c3d-8e4f-0123456789ab\"}",
                         "{\"workspace_id\":\"nope\"}"};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats", c->mia, bad[i], &r),
                         404);
        resp_free(&r);
    }
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->max, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 0);
    resp_free(&r);
    json_decref(wait_build(&c->s, c->mia, build_id));
    json_decref(ws);
    json_decref(t);
}

static void test_list_and_get_are_the_owners(void **state)
{
    struct ctx *c = *state;
    json_t *a1 = create_chat(c, c->mia, "{\"title\":\"one\"}");
    json_t *a2 = create_chat(c, c->mia, "{\"title\":\"two\"}");
    json_t *b1 = create_chat(c, c->max, "{\"title\":\"max\"}");
    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->mia, NULL, &r), 200);
    assert_true(json_is_array(r.json));
    assert_int_equal(json_array_size(r.json), 2);
    assert_true(json_equal(json_array_get(r.json, 0), a2)); /* newest first */
    assert_true(json_equal(json_array_get(r.json, 1), a1));
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->max, NULL, &r), 200);
    assert_int_equal(json_array_size(r.json), 1);
    assert_true(json_equal(json_array_get(r.json, 0), b1));
    resp_free(&r);
    /* Not even the site owner sees another user's chats. */
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", c->s.owner_token, NULL, &r),
                     200);
    assert_int_equal(json_array_size(r.json), 0);
    resp_free(&r);

    char *path = fmt("/api/experimental/chats/%s", jsonx_get_str(a1, "id", ""));
    assert_int_equal(http_req(&c->s, "GET", path, c->mia, NULL, &r), 200);
    assert_true(json_equal(r.json, a1));
    resp_free(&r);
    const char *others[] = {c->max, c->s.owner_token};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(http_req(&c->s, "GET", path, others[i], NULL, &r), 404);
        assert_string_equal(resp_message(&r),
                            "Resource not found or you do not have access to this resource");
        resp_free(&r);
    }
    assert_int_equal(http_req(&c->s, "GET", path, NULL, NULL, &r), 401);
    resp_free(&r);
    free(path);
    assert_int_equal(http_req(&c->s, "GET",
                              "/api/experimental/chats/019a7c2e-5b1a-7c3d-8e4f-0123456789ab",
                              c->mia, NULL, &r),
                     404);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats", NULL, NULL, &r), 401);
    resp_free(&r);
    json_decref(a1);
    json_decref(a2);
    json_decref(b1);
}

/* ---- watch ---- */

struct sse_head {
    char content_type[128];
    char data[4096];
    size_t len;
    bool got_ping;
};

static size_t head_header(char *p, size_t size, size_t n, void *arg)
{
    struct sse_head *h = arg;
    size_t len = size * n;
    if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t i = 13;
        while (i < len && p[i] == ' ')
            i++;
        size_t end = len;
        while (end > i && (p[end - 1] == '\r' || p[end - 1] == '\n'))
            end--;
        size_t k = end - i < sizeof h->content_type - 1 ? end - i : sizeof h->content_type - 1;
        memcpy(h->content_type, p + i, k);
        h->content_type[k] = '\0';
    }
    return len;
}

/* Keeps the first bytes; stops the transfer once the first ping event is complete. */
static size_t head_write(char *p, size_t size, size_t n, void *arg)
{
    struct sse_head *h = arg;
    size_t len = size * n;
    size_t k = len < sizeof h->data - 1 - h->len ? len : sizeof h->data - 1 - h->len;
    memcpy(h->data + h->len, p, k);
    h->len += k;
    h->data[h->len] = '\0';
    if (strstr(h->data, "event: ping\ndata: {}\n\n")) {
        h->got_ping = true;
        return 0; /* enough: abort */
    }
    return len;
}

/* Opens the watch stream and reads until its first event (or timeout_ms). Returns the status. */
static long watch_head(struct ctx *c, const char *token, struct sse_head *h, long timeout_ms)
{
    memset(h, 0, sizeof *h);
    CURL *cu = curl_easy_init();
    char *url = fmt("%s/api/experimental/chats/watch", c->s.url);
    char *hdr = fmt("Berth-Session-Token: %s", token);
    struct curl_slist *hl = curl_slist_append(NULL, hdr);
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, head_header);
    curl_easy_setopt(cu, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, head_write);
    curl_easy_setopt(cu, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(cu);
    free(url);
    free(hdr);
    return status;
}

struct held_watch {
    struct ctx *c;
    pthread_t thread;
    json_t *events;
};

static void *hold_watch(void *arg)
{
    struct held_watch *w = arg;
    w->events = sse_collect(&w->c->s, "/api/experimental/chats/watch", w->c->mia, 20000);
    return NULL;
}

/* The stream answers at once with SSE headers and a ping event (the heartbeat, every 15 s).
 * Its status_change events come from binding changes, which only the chat tools make:
 * test_chat_tools.c follows them through create, stop and start. */
static void test_watch(void **state)
{
    struct ctx *c = *state;
    struct sse_head h;
    int64_t t0 = time_mono_us();
    assert_int_equal(watch_head(c, c->mia, &h, 10000), 200);
    assert_true(h.got_ping);
    assert_true((time_mono_us() - t0) / 1000 < 10000); /* not the time-out */
    assert_string_equal(h.content_type, "text/event-stream");
    /* "watch" is a route of its own, never a chat id. */
    assert_null(strstr(h.data, "Resource not found"));

    struct resp r;
    assert_int_equal(http_req(&c->s, "GET", "/api/experimental/chats/watch", NULL, NULL, &r), 401);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", "/api/experimental/chats/watch", c->mia, "{}", &r),
                     405);
    resp_free(&r);

    /* A stream still open when the server stops ends cleanly (the server exits 0: under ASan,
     * without leaks). */
    struct held_watch w = {.c = c};
    assert_int_equal(pthread_create(&w.thread, NULL, hold_watch, &w), 0);
    assert_int_equal(watch_head(c, c->mia, &h, 10000), 200); /* the server is serving streams */
    struct timespec ts = {0, 300 * 1000000L};
    nanosleep(&ts, NULL);
    t0 = time_mono_us();
    server_stop(&c->s);
    pthread_join(w.thread, NULL);
    assert_true((time_mono_us() - t0) / 1000 < 15000);
    assert_true(json_is_array(w.events));
    assert_int_equal(json_array_size(w.events), 0); /* no data events: nothing was bound */
    json_decref(w.events);
}

/* ---- the tool endpoint ---- */

static void test_tool_endpoint_errors(void **state)
{
    struct ctx *c = *state;
    json_t *chat = create_chat(c, c->mia, "{}");
    const char *id = jsonx_get_str(chat, "id", "");
    struct resp r;

    char *path = fmt("/api/experimental/chats/%s/tools/no_such_tool", id);
    assert_int_equal(http_req(&c->s, "POST", path, c->mia, "{}", &r), 404);
    assert_string_equal(resp_message(&r), "Tool \"no_such_tool\" not found.");
    resp_free(&r);
    /* An empty body is {}: the call gets as far as the tool lookup. */
    assert_int_equal(http_raw(&c->s, "POST", path, c->mia, NULL, 0, NULL, &r), 404);
    assert_string_equal(resp_message(&r), "Tool \"no_such_tool\" not found.");
    resp_free(&r);
    free(path);

    path = fmt("/api/experimental/chats/%s/tools/list_templates", id);
    const char *hidden = "Resource not found or you do not have access to this resource";
    assert_int_equal(http_req(&c->s, "POST", path, c->max, "{}", &r), 404);
    assert_string_equal(resp_message(&r), hidden);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", path, c->s.owner_token, "{}", &r), 404);
    assert_string_equal(resp_message(&r), hidden);
    resp_free(&r);
    assert_int_equal(http_req(&c->s, "POST", path, NULL, "{}", &r), 401);
    resp_free(&r);
    const char *not_objects[] = {"[]", "\"x\"", "42", "null", "{"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(http_req(&c->s, "POST", path, c->mia, not_objects[i], &r), 400);
        resp_free(&r);
    }
    assert_int_equal(http_req(&c->s, "POST", path, c->mia, "[1]", &r), 400);
    assert_string_equal(resp_message(&r), "Request body must be a JSON object.");
    resp_free(&r);
    /* Arguments over 1 MiB are refused before anything runs. */
    size_t big = 1024 * 1024 + 16;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = '\0';
    assert_int_equal(http_raw(&c->s, "POST", path, c->mia, huge, big, "application/json", &r), 413);
    resp_free(&r);
    free(huge);
    free(path);

    path = fmt("/api/experimental/chats/019a7c2e-5b1a-7c3d-8e4f-0123456789ab/tools/list_templates");
    assert_int_equal(http_req(&c->s, "POST", path, c->mia, "{}", &r), 404);
    assert_string_equal(resp_message(&r), hidden);
    resp_free(&r);
    free(path);
    json_decref(chat);
}

/* With the tools linked in, a call that ran answers 200 {is_error, result}; skipped while the
 * registry is empty. */
static void test_tool_endpoint_runs_a_tool(void **state)
{
    struct ctx *c = *state;
    json_t *chat = create_chat(c, c->mia, "{}");
    char *path =
        fmt("/api/experimental/chats/%s/tools/list_templates", jsonx_get_str(chat, "id", ""));
    json_decref(chat);
    struct resp r;
    long st = http_raw(&c->s, "POST", path, c->mia, NULL, 0, NULL, &r);
    free(path);
    if (st == 404 && strcmp(resp_message(&r), "Tool \"list_templates\" not found.") == 0) {
        resp_free(&r);
        skip();
    }
    assert_int_equal(st, 200);
    assert_int_equal(json_object_size(r.json), 2);
    assert_true(json_is_false(json_object_get(r.json, "is_error")));
    assert_true(json_is_object(json_object_get(r.json, "result")));
    resp_free(&r);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_bound_to_a_workspace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_and_get_are_the_owners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_endpoint_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tool_endpoint_runs_a_tool, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
