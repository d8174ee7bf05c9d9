/* Unit tests for one turn of the chat loop (chat/loop.h) over a real store and pubsub, an
 * in-process scripted provider and test tools beside real ones: a tool call, its result, then
 * the answer; parallel calls; calls the model got wrong; retries and giving up; interrupts
 * while the model streams and while a tool runs; the step limit; no provider; a turn resumed
 * after its worker died; the system prompt and the workspace context. */
#include "testing.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/times.h"
#include "chat/internal.h"
#include "chat/loop.h"
#include "chat/loop_internal.h"
#include "unit/chat/fake.h"
#include "unit/store_fixture.h"

#include <pthread.h>
#include <unistd.h>

/* ---- the scripted provider ---- */

#define MAX_STEPS 16
#define MAX_CALLS 6

struct step {
    const char *text;
    const char *calls[MAX_CALLS][3]; /* id, name, args */
    int fail_status;                 /* > 0: the call fails with this status */
    bool retryable;
    bool block;         /* delivers text, then waits until canceled */
    enum llm_stop stop; /* LLM_STOP_NONE: from the calls */
};

struct provider {
    struct llm_provider p;
    pthread_mutex_t mu;
    struct step steps[MAX_STEPS];
    size_t nsteps, next;
    bool repeat_last; /* past the script, repeat its last step */
    json_t *requests; /* [{system, messages, ntools}] */
    bool streaming;   /* a blocking step is waiting */
};

static int fake_stream(struct llm_provider *lp, const struct llm_request *req,
                       const struct llm_sink *sink, struct tool_cancel *cancel,
                       struct llm_reply *out, struct llm_failure *fail, struct err *e)
{
    struct provider *p = lp->impl;
    pthread_mutex_lock(&p->mu);
    json_array_append_new(p->requests, json_pack("{s:s, s:O, s:I}", "system", req->system,
                                                 "messages", req->messages, "ntools",
                                                 (json_int_t)json_array_size(req->tools)));
    size_t i = p->next < p->nsteps ? p->next++ : p->nsteps - 1;
    if (!p->repeat_last && i == p->nsteps - 1 && p->next > p->nsteps)
        fail_msg("the provider was called past its script");
    if (p->next >= p->nsteps && p->repeat_last)
        p->next = p->nsteps;
    const struct step *s = &p->steps[i];
    pthread_mutex_unlock(&p->mu);
    if (s->text) {
        /* Two deltas, the first ending inside a character when there is one. */
        size_t n = strlen(s->text), half = n / 2;
        sink->text(sink->arg, s->text, half);
        sink->text(sink->arg, s->text + half, n - half);
        buf_puts(&out->text, s->text);
    }
    if (s->fail_status) {
        fail->retryable = s->retryable;
        fail->status = s->fail_status;
        fail->retry_after_ms = 1;
        return err_set(e, ERR_UNAVAILABLE, "the LLM provider answered %d", s->fail_status);
    }
    if (s->block) {
        pthread_mutex_lock(&p->mu);
        p->streaming = true;
        pthread_mutex_unlock(&p->mu);
        while (!tool_cancel_is_set(cancel))
            usleep(1000);
        fail->delivered = true;
        return err_set(e, ERR_CANCELED, "context canceled");
    }
    size_t nc = 0;
    while (nc < MAX_CALLS && s->calls[nc][1])
        nc++;
    if (nc) {
        out->calls = xcalloc(nc, sizeof *out->calls);
        for (size_t k = 0; k < nc; k++) {
            out->calls[k].id = xstrdup(s->calls[k][0]);
            out->calls[k].name = xstrdup(s->calls[k][1]);
            out->calls[k].args = xstrdup(s->calls[k][2]);
        }
        out->ncalls = nc;
    }
    out->stop = s->stop != LLM_STOP_NONE ? s->stop : nc ? LLM_STOP_TOOLS : LLM_STOP_END;
    out->complete = true;
    return 0;
}

static size_t provider_calls(struct provider *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = json_array_size(p->requests);
    pthread_mutex_unlock(&p->mu);
    return n;
}

/* ---- test tools ---- */

static pthread_mutex_t tmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t tcv; /* on the monotonic clock (main) */
static int barrier_in, hang_in, hang_out;

static void run_echo(const struct tool_env *env, const struct tool_call *call,
                     struct tool_answer *out)
{
    const char *text = jsonx_get_str(call->args, "text", "");
    tool_result(out, json_pack("{s:s}", "echo", text));
}

/* Answers only once two calls are inside at the same time (or says they never were). */
static void run_barrier(const struct tool_env *env, const struct tool_call *call,
                        struct tool_answer *out)
{
    struct timespec deadline = time_mono_deadline(5000);
    pthread_mutex_lock(&tmu);
    barrier_in++;
    pthread_cond_broadcast(&tcv);
    int rc = 0;
    while (barrier_in < 2 && rc == 0)
        rc = pthread_cond_timedwait(&tcv, &tmu, &deadline);
    bool together = barrier_in >= 2;
    pthread_mutex_unlock(&tmu);
    if (together)
        tool_result(out, json_pack("{s:b}", "together", 1));
    else
        tool_text_error(out, "the calls did not run at the same time");
}

/* Waits until canceled (at most 10 s). */
static void run_hang(const struct tool_env *env, const struct tool_call *call,
                     struct tool_answer *out)
{
    pthread_mutex_lock(&tmu);
    hang_in++;
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmu);
    for (int i = 0; i < 10000 && !tool_cancel_is_set(call->cancel); i++)
        usleep(1000);
    tool_text_error(out, "canceled");
    pthread_mutex_lock(&tmu);
    hang_out++;
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmu);
}

static const char *schema = "{\"type\":\"object\",\"properties\":{\"text\":{\"type\":\"string\"}}}";
static const struct tool_def echo_def = {"echo", "Echoes text.", NULL, run_echo};
static const struct tool_def barrier_def = {"barrier", "Meets another call.", NULL, run_barrier};
static const struct tool_def hang_def = {"hang", "Waits until canceled.", NULL, run_hang};

/* ---- fixture ---- */

struct fixture {
    struct fx_store s;
    struct pubsub *ps;
    struct pubsub_sub *sub;
    struct fake *fk;
    struct provider prov;
    struct tool_def defs[4];
    const struct tool_def *tools[4];
    struct chat chat;
    struct chat_turn_ctl ctl;
    struct chat_turn turn;
    pthread_mutex_t emu;
    json_t *events;
    int holds, releases;
};

static void on_event(const char *channel, const char *payload, void *arg)
{
    struct fixture *f = arg;
    pthread_mutex_lock(&f->emu);
    json_array_append_new(f->events, json_loads(payload, 0, NULL));
    pthread_mutex_unlock(&f->emu);
}

static pthread_mutex_t *hold(void *arg, const char *chat_id)
{
    struct fixture *f = arg;
    pthread_mutex_lock(&tmu);
    f->holds++;
    pthread_mutex_unlock(&tmu);
    return NULL;
}

static void release(void *arg, const char *chat_id)
{
    struct fixture *f = arg;
    pthread_mutex_lock(&tmu);
    f->releases++;
    pthread_cond_broadcast(&tcv);
    pthread_mutex_unlock(&tmu);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    fx_store_open(&f->s);
    f->ps = pubsub_new();
    f->fk = fake_new();
    pthread_mutex_init(&f->emu, NULL);
    f->events = json_array();
    pthread_mutex_init(&f->prov.mu, NULL);
    f->prov.requests = json_array();
    f->prov.p = (struct llm_provider){.name = "fake", .impl = &f->prov, .stream = fake_stream};
    f->defs[0] = echo_def;
    f->defs[1] = barrier_def;
    f->defs[2] = hang_def;
    f->defs[3] = tool_execute; /* a real tool: argument types are checked */
    for (int i = 0; i < 3; i++)
        f->defs[i].input_schema = schema;
    for (int i = 0; i < 4; i++)
        f->tools[i] = &f->defs[i];
    barrier_in = hang_in = hang_out = 0;

    uuid_v7(f->chat.id);
    str_copy(f->chat.owner_id, sizeof f->chat.owner_id, f->s.admin_id);
    f->chat.title = xstrdup("t");
    f->chat.status = CHAT_WAITING;
    f->chat.created_at = f->chat.updated_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_chat_insert(f->s.st, &f->chat, &e), &e);
    f->chat.attempts = 1;
    char channel[64];
    snprintf(channel, sizeof channel, "chat:%s", f->chat.id);
    f->sub = pubsub_subscribe(f->ps, channel, on_event, f);
    chat_turn_ctl_init(&f->ctl);
    f->turn = (struct chat_turn){
        .st = f->s.st,
        .ps = f->ps,
        .provider = &f->prov.p,
        .env = &f->fk->env,
        .tools = f->tools,
        .ntools = 4,
        .limits = {.backoff_ms = 1, .backoff_max_ms = 2},
        .chat = &f->chat,
        .ctl = &f->ctl,
        .hold = hold,
        .release = release,
        .hold_arg = f,
    };
    *state = f;
    return 0;
}

/* Waits until every tool batch gave its hold back. */
static void wait_released(struct fixture *f)
{
    struct timespec deadline = time_mono_deadline(10000);
    pthread_mutex_lock(&tmu);
    while (f->releases < f->holds)
        if (pthread_cond_timedwait(&tcv, &tmu, &deadline) != 0)
            break;
    int h = f->holds, r = f->releases;
    pthread_mutex_unlock(&tmu);
    assert_int_equal(r, h);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    wait_released(f);
    pubsub_unsubscribe(f->sub);
    chat_turn_ctl_destroy(&f->ctl);
    json_decref(f->prov.requests);
    pthread_mutex_destroy(&f->prov.mu);
    json_decref(f->events);
    pthread_mutex_destroy(&f->emu);
    chat_clear(&f->chat);
    fake_free(f->fk);
    pubsub_free(f->ps);
    fx_store_close(&f->s);
    free(f);
    return 0;
}

static void user_says(struct fixture *f, const char *text)
{
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, f->chat.id);
    m.role = CHAT_ROLE_USER;
    json_t *parts = json_pack("[{s:s, s:s}]", "type", "text", "text", text);
    m.parts = jsonx_dump(parts);
    json_decref(parts);
    m.created_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_chat_message_insert(f->s.st, &m, &e), &e);
    chat_message_clear(&m);
}

static void add_step(struct fixture *f, struct step s)
{
    assert_true(f->prov.nsteps < MAX_STEPS);
    f->prov.steps[f->prov.nsteps++] = s;
}

/* The stored conversation as [{role, parts}]. */
static json_t *conversation(struct fixture *f)
{
    struct chat_message_list l;
    struct err e = ERR_INIT;
    fx_check(store_chat_messages_after(f->s.st, f->chat.id, 0, 0, &l, &e), &e);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:o}", "role", chat_role_name(l.items[i].role),
                                             "parts", json_loads(l.items[i].parts, 0, NULL)));
    chat_message_list_free(&l);
    return arr;
}

static void assert_json(const json_t *v, const char *want)
{
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    if (!json_equal(v, w)) {
        char *got = jsonx_dump(v);
        fail_msg("got %s\nwant %s", got, want);
    }
    json_decref(w);
}

static const char *role_of(const json_t *conv, size_t i)
{
    return jsonx_get_str(json_array_get(conv, i), "role", "");
}

static enum chat_turn_end run(struct fixture *f, char **error)
{
    *error = NULL;
    return chat_turn_run(&f->turn, error);
}

/* The events of a kind, in order. */
static json_t *events_of(struct fixture *f, const char *kind)
{
    json_t *out = json_array();
    pthread_mutex_lock(&f->emu);
    size_t i;
    json_t *ev;
    json_array_foreach(f->events, i, ev)
    {
        if (strcmp(jsonx_get_str(ev, "kind", ""), kind) == 0)
            json_array_append(out, ev);
    }
    pthread_mutex_unlock(&f->emu);
    return out;
}

/* ---- tests ---- */

static void test_tool_call_then_answer(void **state)
{
    struct fixture *f = *state;
    user_says(f, "say hi");
    add_step(f, (struct step){.text = "Let me check.",
                              .calls = {{"call_1", "echo", "{\"text\": \"hi\"}"}}});
    add_step(f, (struct step){.text = "It said hi \xc3\xa9."});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    assert_null(error);
    json_t *conv = conversation(f);
    assert_json(conv,
                "[{\"role\": \"user\", \"parts\": [{\"type\": \"text\", \"text\": \"say hi\"}]},"
                " {\"role\": \"assistant\", \"parts\": [{\"type\": \"text\", \"text\": \"Let me "
                "check.\"}, {\"type\": \"tool-call\", \"tool_call_id\": \"call_1\", "
                "\"tool_name\": \"echo\", \"args\": {\"text\": \"hi\"}}]},"
                " {\"role\": \"tool\", \"parts\": [{\"type\": \"tool-result\", \"tool_call_id\": "
                "\"call_1\", \"tool_name\": \"echo\", \"result\": {\"echo\": \"hi\"}, "
                "\"is_error\": false}]},"
                " {\"role\": \"assistant\", \"parts\": [{\"type\": \"text\", \"text\": \"It said "
                "hi \xc3\xa9.\"}]}]");
    /* The provider saw the system prompt, the tools and the growing conversation. */
    assert_int_equal(provider_calls(&f->prov), 2);
    json_t *r0 = json_array_get(f->prov.requests, 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "ntools")), 4);
    assert_non_null(
        strstr(jsonx_get_str(r0, "system", ""), "No workspace is attached to this chat."));
    assert_int_equal(json_array_size(json_object_get(r0, "messages")), 1);
    json_t *r1 = json_array_get(f->prov.requests, 1);
    json_t *msgs = json_object_get(r1, "messages");
    assert_int_equal(json_array_size(msgs), 3);
    json_t *want3 = json_array();
    for (size_t i = 0; i < 3; i++)
        json_array_append(want3, json_array_get(conv, i));
    assert_true(json_equal(msgs, want3));
    json_decref(want3);
    json_decref(conv);
    /* Deltas arrived whole-character, in order; the live tool result; three stored messages. */
    json_t *parts = events_of(f, "message_part");
    struct buf text;
    buf_init(&text, 0);
    size_t i;
    json_t *ev;
    int results = 0;
    json_array_foreach(parts, i, ev)
    {
        json_t *p = json_object_get(ev, "part");
        if (strcmp(jsonx_get_str(p, "type", ""), "text") == 0)
            buf_puts(&text, jsonx_get_str(p, "text", ""));
        else if (strcmp(jsonx_get_str(p, "type", ""), "tool-result") == 0)
            results++;
    }
    assert_string_equal(buf_str(&text), "Let me check.It said hi \xc3\xa9.");
    buf_free(&text);
    assert_int_equal(results, 1);
    json_decref(parts);
    json_t *stored = events_of(f, "message");
    assert_int_equal(json_array_size(stored), 3);
    json_decref(stored);
}

static void test_parallel_calls(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    add_step(f, (struct step){.calls = {{"a", "barrier", "{}"}, {"b", "barrier", ""}}});
    add_step(f, (struct step){.text = "done"});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    json_t *conv = conversation(f);
    json_t *tool = json_object_get(json_array_get(conv, 2), "parts");
    assert_json(tool, "[{\"type\": \"tool-result\", \"tool_call_id\": \"a\", \"tool_name\": "
                      "\"barrier\", \"result\": {\"together\": true}, \"is_error\": false},"
                      " {\"type\": \"tool-result\", \"tool_call_id\": \"b\", \"tool_name\": "
                      "\"barrier\", \"result\": {\"together\": true}, \"is_error\": false}]");
    json_decref(conv);
}

static void test_bad_calls_are_errors_for_the_model(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    add_step(f, (struct step){.calls = {{"1", "nope", "{}"},
                                        {"2", "echo", "{not json"},
                                        {"3", "echo", "[1, 2]"},
                                        {"4", "execute", "{\"command\": 5}"}}});
    add_step(f, (struct step){.text = "sorry"});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 4);
    /* The model's arguments are kept as it wrote them when they are not JSON. */
    json_t *call2 = json_array_get(json_object_get(json_array_get(conv, 1), "parts"), 1);
    assert_string_equal(jsonx_get_str(call2, "args", ""), "{not json");
    json_t *tool = json_object_get(json_array_get(conv, 2), "parts");
    const char *want[] = {
        "unknown tool \"nope\"",
        "invalid parameters: the arguments are not valid JSON (string or '}' expected near 'not')",
        "invalid parameters: the arguments must be a JSON object",
        "invalid parameters: \"command\" must be a string",
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *p = json_array_get(tool, i);
        assert_true(json_is_true(json_object_get(p, "is_error")));
        assert_string_equal(jsonx_get_str(p, "result", ""), want[i]);
    }
    json_decref(conv);
    assert_int_equal(provider_calls(&f->prov), 2);
}

static void test_retries_then_success(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    add_step(f, (struct step){.fail_status = 429, .retryable = true});
    add_step(f, (struct step){.fail_status = 503, .retryable = true});
    add_step(f, (struct step){.text = "ok"});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    assert_int_equal(provider_calls(&f->prov), 3);
    json_t *retries = events_of(f, "retry");
    assert_int_equal(json_array_size(retries), 2);
    assert_string_equal(jsonx_get_str(json_array_get(retries, 0), "error", ""),
                        "the LLM provider answered 429");
    json_decref(retries);
}

static void test_retries_then_fail(void **state)
{
    struct fixture *f = *state;
    f->turn.limits.max_attempts = 3;
    user_says(f, "go");
    add_step(f, (struct step){.fail_status = 500, .retryable = true});
    f->prov.repeat_last = true;
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "the LLM provider answered 500 (gave up after 3 attempts)");
    free(error);
    assert_int_equal(provider_calls(&f->prov), 3);
    /* Nothing was stored beyond the person's message. */
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 1);
    json_decref(conv);
}

static void test_permanent_failure_is_not_retried(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    add_step(f, (struct step){.fail_status = 401});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "the LLM provider answered 401");
    free(error);
    assert_int_equal(provider_calls(&f->prov), 1);
}

static void test_empty_replies(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    add_step(f, (struct step){.stop = LLM_STOP_MAX});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "The model reached its output token limit before it answered.");
    free(error);
    add_step(f, (struct step){.stop = LLM_STOP_REFUSAL});
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "The model refused to answer.");
    free(error);
    /* An empty reply that simply ends is the end of the turn, with nothing stored. */
    add_step(f, (struct step){.stop = LLM_STOP_END});
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 1);
    json_decref(conv);
}

static void test_no_provider(void **state)
{
    struct fixture *f = *state;
    f->turn.provider = NULL;
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(
        error, "No LLM provider is configured on this server: start berth server with "
               "--llm-provider and --llm-model (or BERTH_LLM_PROVIDER and BERTH_LLM_MODEL), then "
               "send the message again.");
    free(error);
}

static void test_step_limit(void **state)
{
    struct fixture *f = *state;
    f->turn.limits.max_steps = 3;
    user_says(f, "loop");
    add_step(f, (struct step){.calls = {{"x", "echo", "{}"}}});
    f->prov.repeat_last = true;
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "The model kept calling tools for 3 steps without answering; the "
                               "turn was stopped at the step limit. Send a message to continue.");
    free(error);
    assert_int_equal(provider_calls(&f->prov), 3);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 7); /* user, then 3 x (assistant, tool) */
    json_decref(conv);
}

struct runner {
    struct fixture *f;
    enum chat_turn_end end;
    char *error;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->end = chat_turn_run(&r->f->turn, &r->error);
    return NULL;
}

static void test_interrupt_mid_tool(void **state)
{
    struct fixture *f = *state;
    user_says(f, "wait");
    add_step(f, (struct step){.calls = {{"h", "hang", "{}"}, {"e", "echo", "{\"text\":\"x\"}"}}});
    struct runner r = {.f = f};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    struct timespec deadline = time_mono_deadline(5000);
    pthread_mutex_lock(&tmu);
    while (hang_in == 0)
        if (pthread_cond_timedwait(&tcv, &tmu, &deadline) != 0)
            fail_msg("the tool never started");
    pthread_mutex_unlock(&tmu);
    /* and the echo has ended (its result went out live) */
    bool echoed = false;
    for (int i = 0; i < 5000 && !echoed; i++) {
        json_t *parts = events_of(f, "message_part");
        size_t k;
        json_t *ev;
        json_array_foreach(parts, k, ev)
        {
            if (strcmp(jsonx_get_str(json_object_get(ev, "part"), "tool_call_id", ""), "e") == 0)
                echoed = true;
        }
        json_decref(parts);
        if (!echoed)
            usleep(1000);
    }
    assert_true(echoed);
    int64_t t0 = time_mono_us();
    chat_turn_ctl_stop(&f->ctl, CHAT_TURN_INTERRUPT);
    pthread_join(th, NULL);
    assert_true(time_mono_us() - t0 < 2000000);
    assert_int_equal(r.end, CHAT_TURN_INTERRUPTED);
    assert_null(r.error);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 3);
    json_t *tool = json_object_get(json_array_get(conv, 2), "parts");
    json_t *h = json_array_get(tool, 0);
    assert_true(json_is_true(json_object_get(h, "is_error")));
    /* Canceled at once: either it ended as canceled or the turn stopped waiting for it. */
    const char *res = jsonx_get_str(h, "result", "");
    if (strcmp(res, "canceled") != 0)
        assert_string_equal(res, "The user interrupted this tool call before it finished.");
    assert_json(json_array_get(tool, 1),
                "{\"type\": \"tool-result\", \"tool_call_id\": \"e\", \"tool_name\": \"echo\", "
                "\"result\": {\"echo\": \"x\"}, \"is_error\": false}");
    json_decref(conv);
    wait_released(f);
    assert_int_equal(hang_out, 1);
}

static void test_interrupt_while_streaming(void **state)
{
    struct fixture *f = *state;
    user_says(f, "talk");
    add_step(f, (struct step){.text = "partial", .block = true});
    struct runner r = {.f = f};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&f->prov.mu);
        bool s = f->prov.streaming;
        pthread_mutex_unlock(&f->prov.mu);
        if (s)
            break;
        usleep(1000);
    }
    chat_turn_ctl_stop(&f->ctl, CHAT_TURN_INTERRUPT);
    pthread_join(th, NULL);
    assert_int_equal(r.end, CHAT_TURN_INTERRUPTED);
    json_t *conv = conversation(f);
    assert_json(json_array_get(conv, 1),
                "{\"role\": \"assistant\", \"parts\": [{\"type\": \"text\", \"text\": "
                "\"partial\"}]}");
    json_decref(conv);
}

static void test_abandon_stores_nothing_more(void **state)
{
    struct fixture *f = *state;
    user_says(f, "talk");
    add_step(f, (struct step){.text = "partial", .block = true});
    struct runner r = {.f = f};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    for (int i = 0; i < 5000 && provider_calls(&f->prov) == 0; i++)
        usleep(1000);
    chat_turn_ctl_stop(&f->ctl, CHAT_TURN_ABANDON);
    pthread_join(th, NULL);
    assert_int_equal(r.end, CHAT_TURN_ABANDONED);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 1);
    json_decref(conv);
}

static void test_abandon_mid_tool_leaves_the_calls_unanswered(void **state)
{
    struct fixture *f = *state;
    user_says(f, "wait");
    add_step(f, (struct step){.calls = {{"h", "hang", "{}"}}});
    struct runner r = {.f = f};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, run_thread, &r), 0);
    struct timespec deadline = time_mono_deadline(5000);
    pthread_mutex_lock(&tmu);
    while (hang_in == 0)
        if (pthread_cond_timedwait(&tcv, &tmu, &deadline) != 0)
            fail_msg("the tool never started");
    pthread_mutex_unlock(&tmu);
    chat_turn_ctl_stop(&f->ctl, CHAT_TURN_ABANDON);
    pthread_join(th, NULL);
    assert_int_equal(r.end, CHAT_TURN_ABANDONED);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 2); /* the resumed turn answers the call */
    assert_string_equal(role_of(conv, 1), "assistant");
    json_decref(conv);
    wait_released(f);
}

static void test_resumed_turn_answers_dangling_calls(void **state)
{
    struct fixture *f = *state;
    user_says(f, "go");
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, f->chat.id);
    m.role = CHAT_ROLE_ASSISTANT;
    m.parts = xstrdup("[{\"type\": \"tool-call\", \"tool_call_id\": \"c9\", \"tool_name\": "
                      "\"execute\", \"args\": {\"command\": \"make\"}}]");
    m.created_at = time_now_us();
    struct err e = ERR_INIT;
    fx_check(store_chat_message_insert(f->s.st, &m, &e), &e);
    chat_message_clear(&m);
    f->chat.attempts = 2;
    add_step(f, (struct step){.text = "resumed"});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    json_t *conv = conversation(f);
    assert_int_equal(json_array_size(conv), 4);
    assert_json(json_array_get(conv, 2),
                "{\"role\": \"tool\", \"parts\": [{\"type\": \"tool-result\", \"tool_call_id\": "
                "\"c9\", \"tool_name\": \"execute\", \"result\": \"The server restarted while "
                "this tool call ran, so its outcome is unknown. Check the workspace's state "
                "before trying again.\", \"is_error\": true}]}");
    json_decref(conv);

    /* Past the resume limit the turn fails instead. */
    f->chat.attempts = 4;
    assert_int_equal(run(f, &error), CHAT_TURN_FAILED);
    assert_string_equal(error, "The turn was cut short by server restarts 3 times; send the "
                               "message again to retry.");
    free(error);
}

static void test_strip_html_comments(void **state)
{
    char s[] = "a<!-- x -->b<!--\nmulti\n-->c<!-- open";
    chat_strip_html_comments(s);
    assert_string_equal(s, "abc");
    char t[] = "no comments -- here -->";
    chat_strip_html_comments(t);
    assert_string_equal(t, "no comments -- here -->");
}

/* The agent: $HOME is /home/dev; the home AGENTS.md has a comment, the working directory's
 * says where the code is. */
static int agents_md(struct fake *fk, const char *agent_id, const json_t *req, json_t **result,
                     struct err *e)
{
    const char *type = jsonx_get_str(req, "type", "");
    if (strcmp(type, "exec") == 0) {
        *result = json_pack("{s:i, s:s}", "exit_code", 0, "output", "/home/dev\n/home/dev");
        return 0;
    }
    const char *path = jsonx_get_str(req, "path", "");
    if (strcmp(path, "/home/dev/AGENTS.md") == 0) {
        *result =
            json_pack("{s:s, s:s}", "path", path, "content", "Be brief.<!-- private note -->\n");
        return 0;
    }
    if (strcmp(path, "/work/AGENTS.md") == 0) {
        *result = json_pack("{s:s, s:s}", "path", path, "content", "Code is in src/.");
        return 0;
    }
    return err_set(e, ERR_NOT_FOUND, "no such file");
}

static void test_context_and_system_prompt(void **state)
{
    struct fixture *f = *state;
    struct workspace_agent *a = fake_running(f->fk, "main");
    free(a->directory);
    a->directory = xstrdup("/work");
    f->fk->handler = agents_md;
    struct chat *c = &f->fk->chats[f->fk->nchats - 1];
    char agent[UUID_STR_LEN];
    char *ctx = chat_context_load(&f->fk->env, c, 1000, agent);
    assert_string_equal(agent, a->id);
    assert_string_equal(ctx, "<workspace-context>\n"
                             "Working Directory: /work\n"
                             "\nSource: /home/dev/AGENTS.md\nBe brief.\n"
                             "\nSource: /work/AGENTS.md\nCode is in src/.\n"
                             "</workspace-context>");
    char *sys = chat_system_prompt(&f->fk->env, c, ctx);
    char *want =
        str_printf("A workspace is attached to this chat: \"dev\" (id %s).", c->workspace_id);
    assert_non_null(strstr(sys, want));
    assert_non_null(strstr(sys, "The workspace's instructions (AGENTS.md):\n<workspace-context>"));
    free(want);
    free(sys);
    free(ctx);

    /* An agent that is not ready yet: nothing is read. */
    a->lifecycle = LIFECYCLE_STARTING;
    ctx = chat_context_load(&f->fk->env, c, 1000, agent);
    assert_null(ctx);
    assert_string_equal(agent, "");
}

static void test_context_reaches_the_model(void **state)
{
    struct fixture *f = *state;
    /* Real rows for the chat's binding; the fake answers for them under the same ids. */
    char tid[UUID_STR_LEN], vid[UUID_STR_LEN], ws[UUID_STR_LEN], build[UUID_STR_LEN];
    fx_template(&f->s, "tpl", tid, vid);
    fx_workspace(&f->s, f->s.admin_id, tid, "dev", ws);
    fx_build(&f->s, ws, vid, f->s.admin_id, 1, TRANSITION_START, build, NULL);
    struct workspace_agent *a = fake_running(f->fk, "main");
    free(a->directory);
    a->directory = xstrdup("/work");
    struct fake_agent *fa = fake_agent_entry(f->fk, a->id);
    struct workspace_build *b = &f->fk->builds[f->fk->nbuilds - 1];
    str_copy(f->fk->workspaces[f->fk->nworkspaces - 1].id, UUID_STR_LEN, ws);
    str_copy(b->workspace_id, UUID_STR_LEN, ws);
    str_copy(b->id, UUID_STR_LEN, build);
    str_copy(fa->build_id, UUID_STR_LEN, build);
    f->fk->handler = agents_md;
    struct err e = ERR_INIT;
    fx_check(store_chat_bind(f->s.st, f->chat.id, ws, build, "", time_now_us(), NULL, &e), &e);
    user_says(f, "hi");
    add_step(f, (struct step){.text = "hello"});
    char *error;
    assert_int_equal(run(f, &error), CHAT_TURN_DONE);
    const char *sys = jsonx_get_str(json_array_get(f->prov.requests, 0), "system", "");
    assert_non_null(strstr(sys, "Code is in src/."));
    char *stored = NULL;
    fx_check(store_chat_context_get(f->s.st, f->chat.id, &stored, &e), &e);
    assert_non_null(stored);
    assert_non_null(strstr(stored, "Source: /work/AGENTS.md"));
    free(stored);
}

int main(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&tcv, &attr);
    pthread_condattr_destroy(&attr);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tool_call_then_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_calls_are_errors_for_the_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_then_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retries_then_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_permanent_failure_is_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_provider, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_step_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_mid_tool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupt_while_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_stores_nothing_more, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon_mid_tool_leaves_the_calls_unanswered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resumed_turn_answers_dangling_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strip_html_comments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_and_system_prompt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_context_reaches_the_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
