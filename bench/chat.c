/* chat.c - the chat tools' start_workspace, through the tool endpoint, beside the REST API.
 *
 * usage: bench_chat URL TOKEN TEMPLATE_ID [calls] [starts]
 *
 * TEMPLATE_ID is the local template with one blocking startup script (`true`). The program
 * creates 10 chats and, for each, a workspace with the create_workspace tool (all at once), and
 * follows each workspace on its watch stream (GET /api/v2/workspaces/{id}/watch). Then:
 *   1. a running workspace: `calls` sequential POST /api/experimental/chats/{id}/tools/
 *      start_workspace on one keep-alive connection (each answers no_build: true), each followed
 *      on the same connection by GET /api/v2/users/me, the cheapest authenticated request, and by
 *      a call of a tool that does not exist (404: what every tool call pays before its tool runs,
 *      a hop to a worker thread and reading the chat). The server logs no request durations, so
 *      its own time for the tool is estimated per call as the tool's round trip minus the GET's.
 *   2. a stopped workspace to the answer: rounds of stopping all 10 at once with the
 *      stop_workspace tool (a stop waits for the agent and its sandbox to be gone, which takes
 *      far longer than a start), then starting them one after the other, timed, half through the
 *      tool (POST .../tools/start_workspace until it answers: the build has ended and the agent
 *      is connected and ready) and half through REST (POST /api/v2/workspaces/{id}/builds
 *      {"transition":"start"} until the watch stream shows the new build's agent ready, and until
 *      it shows all the tool waits for: the build ended and the agent connected and ready),
 *      alternating between rounds so that every workspace serves both. `starts` of each. For the
 *      tool's starts the watch stream also tells when the build ended and the agent became ready,
 *      which says how long the tool took to notice.
 * It ends by stopping every workspace, so that no agent outlives the run. Figures only, never
 * pass/fail.
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "lib/client.h"
#include "lib/watcher.h"
#include "samples.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKSPACES   10 /* stopped together: a stop build takes far longer than a start */
#define WARMUP       20
#define RUNNING_GOAL 1.0   /* ms, server-side, start_workspace on a running workspace */
#define STOPPED_P50  50.0  /* ms, stopped -> answer */
#define STOPPED_P99  200.0 /* ms */

/* ---- the API ---- */

/* A chat tool: the tool's result object when it ran and succeeded (no is_error, no "error"
 * key), else NULL with the reason on stderr. */
static json_t *tool_call(struct client *cl, const char *chat_id, const char *tool, const char *args)
{
    char *path = str_printf("/api/experimental/chats/%s/tools/%s", chat_id, tool);
    json_t *reply = client_call(cl, "POST", path, args);
    free(path);
    if (!reply)
        return NULL;
    json_t *result = json_object_get(reply, "result");
    if (json_is_true(json_object_get(reply, "is_error")) || !json_is_object(result) ||
        json_object_get(result, "error")) {
        char *text = jsonx_dump(reply);
        fprintf(stderr, "%s: %s\n", tool, text);
        free(text);
        json_decref(reply);
        return NULL;
    }
    json_incref(result);
    json_decref(reply);
    return result;
}

/* Whether a start_workspace answer says the agent was waited for and is ready. */
static bool agent_waited(const json_t *r)
{
    return !json_object_get(r, "agent_status") && !json_object_get(r, "startup_scripts");
}

/* ---- the benchmark ---- */

struct chat_ws {
    char chat_id[40], workspace_id[40];
    struct watcher watch;
    bool watched;
};

struct bench {
    const char *url, *token, *template_id;
    int calls, starts;
    struct client cl;
    struct chat_ws cw[WORKSPACES];
    int n;
};

/* One tool call on a thread of its own, with a connection of its own. */
struct call_thread {
    const struct bench *b;
    const char *chat_id, *tool;
    char *args;
    json_t *result; /* NULL: failed */
    int64_t us;
    pthread_t thread;
};

static void *call_main(void *arg)
{
    struct call_thread *t = arg;
    struct client cl;
    client_init(&cl, t->b->url, t->b->token);
    int64_t t0 = time_mono_us();
    t->result = tool_call(&cl, t->chat_id, t->tool, t->args ? t->args : "{}");
    t->us = time_mono_us() - t0;
    client_free(&cl);
    return NULL;
}

/* Calls `tool` for every chat at once; adds the time of each call whose result has `key` (may be
 * NULL) to s (may be NULL). The number of calls that failed. */
static int call_all(struct bench *b, const char *tool, const char *key, struct samples *s)
{
    struct call_thread t[WORKSPACES];
    memset(t, 0, sizeof t);
    for (int i = 0; i < b->n; i++) {
        t[i] = (struct call_thread){.b = b, .chat_id = b->cw[i].chat_id, .tool = tool};
        if (strcmp(tool, "create_workspace") == 0)
            t[i].args = str_printf("{\"template_id\":\"%s\",\"name\":\"chat-%d-%06lld\"}",
                                   b->template_id, i, (long long)(time_now_us() % 1000000));
        pthread_create(&t[i].thread, NULL, call_main, &t[i]);
    }
    int failed = 0;
    for (int i = 0; i < b->n; i++) {
        pthread_join(t[i].thread, NULL);
        if (!t[i].result)
            failed++;
        else if (s && (!key || json_object_get(t[i].result, key)))
            samples_add(s, t[i].us);
        json_decref(t[i].result);
        free(t[i].args);
    }
    return failed;
}

/* Creates the chats and their workspaces (create_workspace, all at once) and watches them. */
static int create_chats(struct bench *b)
{
    for (int i = 0; i < WORKSPACES; i++) {
        char *body = str_printf("{\"title\":\"bench %d\"}", i);
        json_t *c = client_call(&b->cl, "POST", "/api/experimental/chats", body);
        free(body);
        if (!c)
            return -1;
        str_copy(b->cw[b->n++].chat_id, sizeof b->cw[0].chat_id, jsonx_get_str(c, "id", ""));
        json_decref(c);
    }
    struct samples create = {0};
    int failed = call_all(b, "create_workspace", "created", &create);
    char what[64];
    str_fmt(what, sizeof what, "create_workspace tool -> answer (%d at once)", b->n);
    samples_print(what, &create);
    free(create.v);
    if (failed)
        return -1;
    for (int i = 0; i < b->n; i++) {
        char *path = str_printf("/api/experimental/chats/%s", b->cw[i].chat_id);
        json_t *c = client_call(&b->cl, "GET", path, NULL);
        free(path);
        str_copy(b->cw[i].workspace_id, sizeof b->cw[i].workspace_id,
                 jsonx_get_str(c, "workspace_id", ""));
        json_decref(c);
        if (!b->cw[i].workspace_id[0])
            return -1;
        watcher_start(&b->cw[i].watch, b->url, b->token, b->cw[i].workspace_id);
        b->cw[i].watched = true;
    }
    return 0;
}

/* A request expected to answer `want`; its round trip in microseconds, or -1. */
static int64_t timed_status(struct client *cl, const char *method, const char *path,
                            const char *body, long want)
{
    struct buf b;
    buf_init(&b, 0);
    int64_t t0 = time_mono_us();
    long status = client_do(cl, method, path, body, &b);
    int64_t us = time_mono_us() - t0;
    if (status != want)
        fprintf(stderr, "%s %s: status %ld %s\n", method, path, status, buf_str(&b));
    buf_free(&b);
    return status == want ? us : -1;
}

/* 1: start_workspace on a running workspace, each call followed on the same connection by
 * GET /users/me (the cheapest authenticated request, on the HTTP loop) and by a call of a tool
 * that does not exist (404 after authenticating, a hop to a worker thread and reading the chat:
 * what every tool call pays before its tool runs). */
static int bench_running(struct bench *b)
{
    const char *chat = b->cw[0].chat_id;
    char *nothing = str_printf("/api/experimental/chats/%s/tools/no_such_tool", chat);
    struct samples tool = {0}, me = {0}, none = {0}, server = {0};
    int failed = 0;
    for (int i = -WARMUP; i < b->calls; i++) {
        int64_t t0 = time_mono_us();
        json_t *r = tool_call(&b->cl, chat, "start_workspace", "{}");
        int64_t us = time_mono_us() - t0;
        bool ok = r && json_is_true(json_object_get(r, "no_build")) && agent_waited(r);
        json_decref(r);
        int64_t me_us = timed_status(&b->cl, "GET", "/api/v2/users/me", NULL, 200);
        int64_t none_us = timed_status(&b->cl, "POST", nothing, "{}", 404);
        if (i < 0)
            continue;
        if (!ok || me_us < 0 || none_us < 0) {
            failed++;
            continue;
        }
        samples_add(&tool, us);
        samples_add(&me, me_us);
        samples_add(&none, none_us);
        samples_add(&server, us - me_us);
    }
    free(nothing);
    printf("start_workspace on a running workspace: %d sequential calls on one keep-alive "
           "connection (%d failed)\n",
           b->calls, failed);
    samples_print("POST .../tools/start_workspace round trip", &tool);
    samples_print("baseline: GET /api/v2/users/me round trip", &me);
    samples_print("baseline: POST .../tools/no_such_tool (404)", &none);
    printf("  the server logs no request durations: its own time is estimated per call as the\n"
           "  tool's round trip minus the GET's that followed it on the same connection\n");
    samples_print("server-side estimate (tool - GET)", &server);
    double p50 = samples_ms(&server, 0.5), p99 = samples_ms(&server, 0.99);
    printf("  target: server-side <= %.0f ms: p50 %s, p99 %s; the tool's own work past a 404's: "
           "p50 %.3f ms\n",
           RUNNING_GOAL, p50 <= RUNNING_GOAL ? "met" : "missed",
           p99 <= RUNNING_GOAL ? "met" : "missed", samples_ms(&tool, 0.5) - samples_ms(&none, 0.5));
    free(tool.v);
    free(me.v);
    free(none.v);
    free(server.v);
    return failed && failed == b->calls ? -1 : 0;
}

/* How starts through either path are timed, from their request. */
struct start_samples {
    struct samples answer; /* the tool's answer; REST: ready, connected and ended */
    struct samples ready, connected, ended, post;
    struct samples lag; /* the tool's answer after the last of ready, connected, ended */
    int done, failed;
};

static void start_samples_free(struct start_samples *t)
{
    free(t->answer.v);
    free(t->ready.v);
    free(t->connected.v);
    free(t->ended.v);
    free(t->post.v);
    free(t->lag.v);
}

static int64_t last_of(const struct sighting *s)
{
    int64_t m = s->ended_us;
    if (s->ready_us > m)
        m = s->ready_us;
    if (s->connected_us > m)
        m = s->connected_us;
    return m;
}

static void add_sighting(struct start_samples *t, const struct sighting *s, int64_t t0)
{
    samples_add(&t->ready, s->ready_us - t0);
    samples_add(&t->connected, s->connected_us - t0);
    samples_add(&t->ended, s->ended_us - t0);
}

/* Starts a stopped workspace with the tool, timed to its answer. */
static int start_tool(struct bench *b, struct chat_ws *cw, struct start_samples *t)
{
    int64_t t0 = time_mono_us();
    json_t *r = tool_call(&b->cl, cw->chat_id, "start_workspace", "{}");
    int64_t t1 = time_mono_us();
    char build[40];
    str_copy(build, sizeof build, jsonx_get_str(r, "build_id", ""));
    bool ok = r && build[0] && agent_waited(r);
    json_decref(r);
    struct sighting s;
    if (!ok || watcher_wait(&cw->watch, build, true, &s) < 0)
        return -1;
    samples_add(&t->answer, t1 - t0);
    add_sighting(t, &s, t0);
    samples_add(&t->lag, t1 - last_of(&s));
    return 0;
}

/* Starts a stopped workspace through REST, timed to what the watch stream shows. */
static int start_rest(struct bench *b, struct chat_ws *cw, struct start_samples *t)
{
    char *path = str_printf("/api/v2/workspaces/%s/builds", cw->workspace_id);
    int64_t t0 = time_mono_us();
    json_t *r = client_call(&b->cl, "POST", path, "{\"transition\":\"start\"}");
    int64_t t1 = time_mono_us();
    free(path);
    char build[40];
    str_copy(build, sizeof build, jsonx_get_str(r, "id", ""));
    json_decref(r);
    struct sighting s;
    if (!build[0] || watcher_wait(&cw->watch, build, true, &s) < 0)
        return -1;
    samples_add(&t->answer, last_of(&s) - t0);
    samples_add(&t->post, t1 - t0);
    add_sighting(t, &s, t0);
    return 0;
}

/* 2: stopped -> answer, through the tool and through REST, in rounds. */
static void bench_stopped(struct bench *b)
{
    struct start_samples tool = {0}, rest = {0};
    struct samples stop = {0};
    int stop_failed = 0;
    for (int round = 0; tool.done + tool.failed < b->starts || rest.done + rest.failed < b->starts;
         round++) {
        stop_failed += call_all(b, "stop_workspace", "build_id", &stop);
        for (int i = 0; i < b->n; i++) {
            bool by_tool = (i + round) % 2 == 0;
            if (by_tool && tool.done + tool.failed >= b->starts)
                by_tool = false;
            else if (!by_tool && rest.done + rest.failed >= b->starts)
                by_tool = true;
            struct start_samples *t = by_tool ? &tool : &rest;
            if (t->done + t->failed >= b->starts)
                break;
            if ((by_tool ? start_tool(b, &b->cw[i], t) : start_rest(b, &b->cw[i], t)) == 0)
                t->done++;
            else
                t->failed++;
        }
    }
    printf("start_workspace on a stopped workspace to the answer, beside REST (%d workspaces, "
           "round-robin)\n",
           b->n);
    printf("  %d starts through each, one at a time (tool %d failed, REST %d failed); target: "
           "p50 <= %.0f ms, p99 <= %.0f ms\n",
           b->starts, tool.failed, rest.failed, STOPPED_P50, STOPPED_P99);
    samples_print("tool: POST .../start_workspace -> answer", &tool.answer);
    samples_print("tool:   agent lifecycle ready (watch stream)", &tool.ready);
    samples_print("tool:   agent stream connected (watch stream)", &tool.connected);
    samples_print("tool:   build ended (watch stream)", &tool.ended);
    samples_print("tool:   answer after the last of the three", &tool.lag);
    samples_print("REST: POST /builds -> agent lifecycle ready", &rest.ready);
    samples_print("REST: POST /builds -> agent stream connected", &rest.connected);
    samples_print("REST: POST /builds -> build ended", &rest.ended);
    samples_print("REST: -> ready, connected and ended (as tool)", &rest.answer);
    samples_print("REST: POST /builds round trip", &rest.post);
    double tool50 = samples_ms(&tool.answer, 0.5), tool99 = samples_ms(&tool.answer, 0.99);
    double ready50 = samples_ms(&rest.ready, 0.5), all50 = samples_ms(&rest.answer, 0.5);
    printf("  tool answer p50 / REST ready p50: %.2fx; / REST ready, connected and ended p50: "
           "%.2fx\n",
           ready50 > 0 ? tool50 / ready50 : 0, all50 > 0 ? tool50 / all50 : 0);
    printf("  target for the tool: p50 %.1f ms %s, p99 %.1f ms %s\n", tool50,
           tool50 <= STOPPED_P50 ? "met" : "missed", tool99,
           tool99 <= STOPPED_P99 ? "met" : "missed");
    char what[64];
    str_fmt(what, sizeof what, "stop_workspace tool -> answer (%d at once)", b->n);
    samples_print(what, &stop);
    if (stop_failed)
        printf("  (%d stop_workspace calls failed)\n", stop_failed);
    start_samples_free(&tool);
    start_samples_free(&rest);
    free(stop.v);
}

static int run(struct bench *b)
{
    printf("chat tools through the local template (%d chats, a workspace each)\n", WORKSPACES);
    if (create_chats(b) < 0)
        return -1;
    printf("\n");
    if (bench_running(b) < 0)
        return -1;
    printf("\n");
    bench_stopped(b);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_chat URL TOKEN TEMPLATE_ID [calls] [starts]\n");
        return 2;
    }
    struct bench b = {.url = argv[1],
                      .token = argv[2],
                      .template_id = argv[3],
                      .calls = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 1000,
                      .starts = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 100};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    client_init(&b.cl, b.url, b.token);
    int rc = run(&b);
    /* Every chat's workspace is stopped, so that no agent outlives the run. */
    if (b.n && call_all(&b, "stop_workspace", NULL, NULL))
        fprintf(stderr, "bench_chat: some workspaces could not be stopped\n");
    for (int i = 0; i < b.n; i++)
        if (b.cw[i].watched)
            watcher_stop(&b.cw[i].watch);
    client_free(&b.cl);
    curl_global_cleanup();
    return rc < 0 ? 1 : 0;
}
