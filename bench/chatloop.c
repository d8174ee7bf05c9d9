/* chatloop.c - the chat loop's own cost: time per step with a zero-latency model and a cheap
 * tool, and the chats per second the workers sustain.
 *
 * usage: bench_chatloop [turns] [chats] [FAKELLM]
 *
 * Everything runs in this process over a real store (SQLite in a temporary directory) and a
 * real pubsub bus:
 *   1. step overhead: `turns` turns of 10 steps each; every step but the last is a model reply
 *      with one call of a tool that returns {} at once; the model is an in-process provider
 *      that answers instantly. A step's time is from one model call to the next: storing the
 *      reply, running the tool on its thread, storing the result, re-reading the chat, and
 *      loading the conversation and building the next request. Beside it, measured in the same
 *      run: two message inserts alone (what a step stores), so the ratio says how much of a step
 *      is the loop itself beyond its writes.
 *   2. throughput: `chats` chats, each sent one message at once, answered by 1 and by 4 worker
 *      threads; chats/s from the first post to the last chat waiting again. With the
 *      in-process model the turn is one step (a reply) or two (list_templates through the real
 *      tool code and store, then a reply). With
 *      FAKELLM (the test suite's fakellm program) the same runs go through the real
 *      OpenAI-compatible provider over HTTP to a local fakellm answering every request at once.
 * Figures only, never pass/fail.
 */
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"
#include "chat/chat.h"
#include "chat/loop.h"
#include "samples.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEPS 10

/* ---- the in-process model ---- */

struct model {
    struct llm_provider p;
    int tool_steps;          /* replies per turn that call the tool before the text */
    const char *tool;        /* its name */
    _Atomic int64_t last_us; /* the previous call's start (step timing, one turn at a time) */
    struct samples *steps;
    pthread_mutex_t mu;
};

/* Counts the tool results already in the conversation to know which step this is. */
static int results_in(const json_t *messages)
{
    int n = 0;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        if (strcmp(jsonx_get_str(m, "role", ""), "tool") == 0)
            n++;
    }
    return n;
}

static int model_stream(struct llm_provider *lp, const struct llm_request *req,
                        const struct llm_sink *sink, struct tool_cancel *cancel,
                        struct llm_reply *out, struct llm_failure *fail, struct err *e)
{
    struct model *m = lp->impl;
    int64_t now = time_mono_us();
    if (m->steps) {
        int64_t prev = atomic_exchange(&m->last_us, now);
        if (prev && results_in(req->messages) > 0) {
            pthread_mutex_lock(&m->mu);
            samples_add(m->steps, now - prev);
            pthread_mutex_unlock(&m->mu);
        }
    }
    if (results_in(req->messages) < m->tool_steps) {
        out->calls = xcalloc(1, sizeof *out->calls);
        out->calls[0].id = str_printf("call_%d", results_in(req->messages));
        out->calls[0].name = xstrdup(m->tool);
        out->calls[0].args = xstrdup("{}");
        out->ncalls = 1;
        out->stop = LLM_STOP_TOOLS;
    } else {
        const char *text = "Done.";
        if (sink && sink->text)
            sink->text(sink->arg, text, strlen(text));
        buf_puts(&out->text, text);
        out->stop = LLM_STOP_END;
    }
    out->complete = true;
    return 0;
}

static void run_noop(const struct tool_env *env, const struct tool_call *call,
                     struct tool_answer *out)
{
    tool_result(out, json_object());
}

static const struct tool_def noop_def = {"noop", "Does nothing.", "{\"type\":\"object\"}",
                                         run_noop};

/* ---- fixtures ---- */

static struct store *open_store(char *dir, size_t size)
{
    str_copy(dir, size, "/tmp/berth-bench-chatloop-XXXXXX");
    if (!mkdtemp(dir))
        return NULL;
    char *url = str_printf("sqlite:%s/b.db", dir);
    struct err e = ERR_INIT;
    struct store *st = store_open(url, &e);
    free(url);
    if (!st)
        fprintf(stderr, "bench_chatloop: %s\n", err_msg(&e));
    err_clear(&e);
    return st;
}

static void make_user(struct store *st, char id[UUID_STR_LEN])
{
    struct user u = {0};
    uuid_v7(u.id);
    str_copy(u.username, sizeof u.username, "bench");
    str_copy(u.email, sizeof u.email, "bench@example.com");
    str_copy(u.hashed_password, sizeof u.hashed_password, "x");
    u.created_at = u.updated_at = time_now_us();
    struct err e = ERR_INIT;
    if (store_user_insert(st, &u, &e) < 0)
        fprintf(stderr, "bench_chatloop: user: %s\n", err_msg(&e));
    str_copy(id, UUID_STR_LEN, u.id);
}

static void make_chat(struct store *st, const char *owner, struct chat *c)
{
    memset(c, 0, sizeof *c);
    uuid_v7(c->id);
    str_copy(c->owner_id, sizeof c->owner_id, owner);
    c->title = xstrdup("bench");
    c->status = CHAT_WAITING;
    c->created_at = c->updated_at = time_now_us();
    c->attempts = 1;
    struct err e = ERR_INIT;
    store_chat_insert(st, c, &e);
    err_clear(&e);
}

static void user_message(struct store *st, const char *chat_id)
{
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, chat_id);
    m.role = CHAT_ROLE_USER;
    m.parts = xstrdup("[{\"type\":\"text\",\"text\":\"go\"}]");
    m.created_at = time_now_us();
    struct err e = ERR_INIT;
    store_chat_message_insert(st, &m, &e);
    err_clear(&e);
    chat_message_clear(&m);
}

/* ---- 1. step overhead ---- */

static void step_overhead(struct store *st, struct pubsub *ps, const char *owner, int turns)
{
    struct samples steps = {0}, writes = {0};
    struct model m = {.tool_steps = STEPS - 1, .tool = "noop", .steps = &steps};
    pthread_mutex_init(&m.mu, NULL);
    m.p = (struct llm_provider){.name = "bench", .impl = &m, .stream = model_stream};
    const struct tool_def *tools[] = {&noop_def};
    struct tool_env env = {0};
    for (int t = 0; t < turns; t++) {
        struct chat c;
        make_chat(st, owner, &c);
        user_message(st, c.id);
        struct chat_turn_ctl ctl;
        chat_turn_ctl_init(&ctl);
        struct chat_turn turn = {.st = st,
                                 .ps = ps,
                                 .provider = &m.p,
                                 .env = &env,
                                 .tools = tools,
                                 .ntools = 1,
                                 .chat = &c,
                                 .ctl = &ctl};
        atomic_store(&m.last_us, 0);
        char *error = NULL;
        if (chat_turn_run(&turn, &error) != CHAT_TURN_DONE)
            fprintf(stderr, "bench_chatloop: turn: %s\n", error ? error : "?");
        free(error);
        chat_turn_ctl_destroy(&ctl);

        /* The baseline: what a step writes, alone (two messages of the same size). */
        for (int s = 0; s < STEPS - 1; s++) {
            int64_t t0 = time_mono_us();
            struct chat_message a = {0}, r = {0};
            str_copy(a.chat_id, sizeof a.chat_id, c.id);
            a.role = CHAT_ROLE_ASSISTANT;
            a.parts = xstrdup("[{\"type\":\"tool-call\",\"tool_call_id\":\"call_0\",\"tool_name\":"
                              "\"noop\",\"args\":{}}]");
            a.created_at = time_now_us();
            r = a;
            r.role = CHAT_ROLE_TOOL;
            r.parts = xstrdup("[{\"type\":\"tool-result\",\"tool_call_id\":\"call_0\",\"tool_name\""
                              ":\"noop\",\"result\":{},\"is_error\":false}]");
            struct err e = ERR_INIT;
            store_chat_message_insert(st, &a, &e);
            store_chat_message_insert(st, &r, &e);
            err_clear(&e);
            chat_message_clear(&a);
            chat_message_clear(&r);
            samples_add(&writes, time_mono_us() - t0);
        }
        chat_clear(&c);
    }
    samples_sort(&steps);
    samples_sort(&writes);
    printf("step overhead (in-process model answering at once, a tool returning {}):\n");
    samples_print("one step (model call to model call)", &steps);
    samples_print("baseline: the step's two message inserts", &writes);
    printf("  ratio step / inserts: p50 %.2fx  p99 %.2fx\n",
           samples_ms(&steps, 0.5) / samples_ms(&writes, 0.5),
           samples_ms(&steps, 0.99) / samples_ms(&writes, 0.99));
    free(steps.v);
    free(writes.v);
    pthread_mutex_destroy(&m.mu);
}

/* ---- 2. throughput of the workers ---- */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void on_status(const char *channel, const char *payload, void *arg)
{
    struct waiter *w = arg;
    if (!strstr(payload, "\"status\":\"waiting\"") && !strstr(payload, "\"status\":\"error\""))
        return;
    pthread_mutex_lock(&w->mu);
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static double throughput(struct store *st, struct pubsub *ps, struct agentconn *ac,
                         struct llm_provider *p, const char *owner, int workers, int chats)
{
    struct chat_service_config cfg = {.st = st, .ps = ps, .ac = ac};
    cfg.loop = (struct chat_loop_config){
        .provider = p, .workers = workers, .replica_id = "bench", .poll_ms = 1000};
    struct chat_service *svc = chat_service_new(&cfg);
    struct err e = ERR_INIT;
    if (chat_service_start(svc, &e) < 0) {
        fprintf(stderr, "bench_chatloop: %s\n", err_msg(&e));
        err_clear(&e);
        chat_service_free(svc);
        return 0;
    }
    struct subject sub = {.kind = SUBJECT_USER};
    str_copy(sub.user_id, sizeof sub.user_id, owner);
    char(*ids)[UUID_STR_LEN] = xcalloc((size_t)chats, UUID_STR_LEN);
    for (int i = 0; i < chats; i++) {
        struct chat c;
        if (chat_create(svc, &sub, "bench", NULL, &c, &e) < 0) {
            fprintf(stderr, "bench_chatloop: %s\n", err_msg(&e));
            err_clear(&e);
            continue;
        }
        str_copy(ids[i], UUID_STR_LEN, c.id);
        chat_clear(&c);
    }
    struct waiter w = {.done = 0};
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.cv, NULL);
    char channel[96];
    snprintf(channel, sizeof channel, "chat:owner:%s", owner);
    struct pubsub_sub *s = pubsub_subscribe(ps, channel, on_status, &w);
    int64_t t0 = time_mono_us();
    for (int i = 0; i < chats; i++) {
        struct chat_message m;
        bool queued;
        if (chat_post_message(svc, &sub, ids[i], "go", &m, &queued, &e) < 0) {
            fprintf(stderr, "bench_chatloop: post: %s\n", err_msg(&e));
            err_clear(&e);
            continue;
        }
        chat_message_clear(&m);
    }
    pthread_mutex_lock(&w.mu);
    while (w.done < chats)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    double secs = (double)(time_mono_us() - t0) / 1e6;
    pubsub_unsubscribe(s);
    chat_service_shutdown(svc);
    chat_service_free(svc);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
    free(ids);
    return chats / secs;
}

/* The real OpenAI-compatible provider pointed at a fakellm answering every request at once. */
static struct llm_provider *fakellm_provider(const char *bin, const char *dir, pid_t *pid)
{
    char *script = str_printf("%s/script.json", dir);
    char *urlf = str_printf("%s/fakellm.url", dir);
    FILE *f = fopen(script, "w");
    fputs("[{\"text\": \"Done.\", \"repeat\": true}]", f);
    fclose(f);
    *pid = fork();
    if (*pid == 0) {
        execl(bin, "fakellm", "--script", script, "--url-file", urlf, (char *)NULL);
        _exit(127);
    }
    char url[256] = "";
    for (int i = 0; i < 500 && !url[0]; i++) {
        FILE *u = fopen(urlf, "r");
        if (u) {
            if (!fgets(url, sizeof url, u))
                url[0] = '\0';
            fclose(u);
        }
        if (!url[0])
            usleep(10000);
    }
    str_trim(url);
    free(script);
    free(urlf);
    if (!url[0])
        return NULL;
    struct llm_config cfg = {.provider = "openai", .base_url = url, .model = "bench"};
    struct err e = ERR_INIT;
    struct llm_provider *p = llm_provider_new(&cfg, &e);
    if (!p)
        fprintf(stderr, "bench_chatloop: %s\n", err_msg(&e));
    err_clear(&e);
    return p;
}

int main(int argc, char **argv)
{
    int turns = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 200;
    int chats = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 500;
    const char *fakellm = argc > 3 ? argv[3] : NULL;
    signal(SIGPIPE, SIG_IGN);
    log_configure(LOG_WARN, false); /* the store's and workers' start-up lines are not figures */
    char dir[64];
    struct store *st = open_store(dir, sizeof dir);
    if (!st)
        return 1;
    struct pubsub *ps = pubsub_new();
    struct agentconn_config acc = {.replica_id = "bench"};
    struct agentconn *ac = agentconn_new(st, ps, &acc);
    char owner[UUID_STR_LEN];
    make_user(st, owner);

    step_overhead(st, ps, owner, turns);

    printf("chats per second (%d chats, one message each, posted at once):\n", chats);
    struct model m1 = {.tool_steps = 0}, m2 = {.tool_steps = 1, .tool = "list_templates"};
    m1.p = (struct llm_provider){.name = "bench", .impl = &m1, .stream = model_stream};
    m2.p = (struct llm_provider){.name = "bench", .impl = &m2, .stream = model_stream};
    int counts[] = {1, 4};
    for (size_t i = 0; i < 2; i++) {
        printf(
            "  %d worker%s, in-process model: one step %.0f chats/s, tool + reply %.0f chats/s\n",
            counts[i], counts[i] > 1 ? "s" : "",
            throughput(st, ps, ac, &m1.p, owner, counts[i], chats),
            throughput(st, ps, ac, &m2.p, owner, counts[i], chats));
    }
    if (fakellm) {
        pid_t pid = 0;
        struct llm_provider *p = fakellm_provider(fakellm, dir, &pid);
        if (p) {
            for (size_t i = 0; i < 2; i++)
                printf("  %d worker%s, OpenAI-compatible provider over HTTP to fakellm: %.0f "
                       "chats/s\n",
                       counts[i], counts[i] > 1 ? "s" : "",
                       throughput(st, ps, ac, p, owner, counts[i], chats));
            llm_provider_free(p);
        }
        if (pid > 0) {
            kill(pid, SIGTERM);
            waitpid(pid, NULL, 0);
        }
    }
    agentconn_free(ac);
    pubsub_free(ps);
    store_close(st);
    char *cmd = str_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_chatloop: could not remove %s\n", dir);
    free(cmd);
    return 0;
}
