/* loop.c - one turn of a chat: model call (with retries), store the reply, run its tool calls,
 * repeat (see loop.h). The tool batch lives in loop_tools.c, the prompt in loop_context.c. */
#include "chat/loop.h"
#include "chat/loop_internal.h"

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

#define CONTEXT_TIMEOUT_MS 5000 /* reading AGENTS.md through the agent */

#define NO_PROVIDER_TEXT                                                                           \
    "No LLM provider is configured on this server: start berth server with --llm-provider and "    \
    "--llm-model (or BERTH_LLM_PROVIDER and BERTH_LLM_MODEL), then send the message again."

struct chat_loop_limits chat_loop_limits_resolved(const struct chat_loop_limits *l)
{
    struct chat_loop_limits r = l ? *l : (struct chat_loop_limits){0};
    if (r.max_steps <= 0)
        r.max_steps = 100;
    if (r.max_attempts <= 0)
        r.max_attempts = 6;
    if (r.backoff_ms <= 0)
        r.backoff_ms = 1000;
    if (r.backoff_max_ms <= 0)
        r.backoff_max_ms = 30000;
    if (r.max_tool_calls <= 0)
        r.max_tool_calls = 32;
    if (r.max_resumes <= 0)
        r.max_resumes = 3;
    return r;
}

/* ---- the stop switch ---- */

void chat_turn_ctl_init(struct chat_turn_ctl *c)
{
    memset(c, 0, sizeof *c);
    atomic_init(&c->stop, CHAT_TURN_RUN);
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &attr);
    pthread_condattr_destroy(&attr);
}

void chat_turn_ctl_destroy(struct chat_turn_ctl *c)
{
    free(c->active);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

void chat_turn_ctl_stop(struct chat_turn_ctl *c, enum chat_turn_stop how)
{
    pthread_mutex_lock(&c->mu);
    if ((int)how > atomic_load(&c->stop))
        atomic_store(&c->stop, (int)how);
    for (size_t i = 0; i < c->nactive; i++)
        tool_cancel_trigger(c->active[i]);
    if (c->wait_mu) {
        pthread_mutex_lock(c->wait_mu);
        pthread_cond_broadcast(c->wait_cv);
        pthread_mutex_unlock(c->wait_mu);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

enum chat_turn_stop chat_turn_ctl_state(struct chat_turn_ctl *c)
{
    return (enum chat_turn_stop)atomic_load(&c->stop);
}

void turn_ctl_add(struct chat_turn_ctl *c, struct tool_cancel *cancel)
{
    pthread_mutex_lock(&c->mu);
    if (c->nactive == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->active = xrealloc(c->active, c->cap * sizeof *c->active);
    }
    c->active[c->nactive++] = cancel;
    if (c->stop != CHAT_TURN_RUN)
        tool_cancel_trigger(cancel);
    pthread_mutex_unlock(&c->mu);
}

void turn_ctl_remove(struct chat_turn_ctl *c, struct tool_cancel *cancel)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nactive; i++) {
        if (c->active[i] == cancel) {
            c->active[i] = c->active[--c->nactive];
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* Sleeps ms unless the turn is stopped first; false when it was. */
static bool turn_sleep(struct chat_turn_ctl *c, int64_t ms)
{
    struct timespec deadline = time_mono_deadline(ms);
    pthread_mutex_lock(&c->mu);
    while (c->stop == CHAT_TURN_RUN) {
        if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) != 0)
            break;
    }
    bool run = c->stop == CHAT_TURN_RUN;
    pthread_mutex_unlock(&c->mu);
    return run;
}

/* ---- events and messages ---- */

void turn_publish(const struct chat_turn *t, json_t *ev)
{
    char *payload = jsonx_dump(ev);
    json_decref(ev);
    pubsub_publishf(t->ps, payload, "chat:%s", t->chat->id);
    free(payload);
}

/* Stores a message of the turn (parts: taken) and announces it. */
int turn_store(const struct chat_turn *t, enum chat_role role, json_t *parts, char **error)
{
    struct chat_message m = {0};
    str_copy(m.chat_id, sizeof m.chat_id, t->chat->id);
    m.role = role;
    m.parts = jsonx_dump(parts);
    json_decref(parts);
    m.created_at = time_now_us();
    struct err e = ERR_INIT;
    int rc = store_chat_message_insert(t->st, &m, &e);
    if (rc < 0) {
        *error = str_printf("Could not store the chat's %s message: %s", chat_role_name(role),
                            err_msg(&e));
        err_clear(&e);
    } else {
        turn_publish(t, json_pack("{s:s, s:I}", "kind", "message", "id", (json_int_t)m.id));
    }
    chat_message_clear(&m);
    return rc;
}

/* The conversation as the provider takes it: [{role, parts}], oldest first. */
static json_t *load_conversation(const struct chat_turn *t, char **error)
{
    struct chat_message_list l;
    struct err e = ERR_INIT;
    if (store_chat_messages_after(t->st, t->chat->id, 0, 0, &l, &e) < 0) {
        *error = str_printf("Could not read the chat's messages: %s", err_msg(&e));
        err_clear(&e);
        return NULL;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++) {
        json_t *parts = json_loads(l.items[i].parts, 0, NULL);
        json_array_append_new(arr, json_pack("{s:s, s:o}", "role", chat_role_name(l.items[i].role),
                                             "parts", parts ? parts : json_array()));
    }
    chat_message_list_free(&l);
    return arr;
}

/* A turn resumed after its worker died may end with an assistant message whose tool calls never
 * got results: answer them so the conversation is whole again. */
static int close_dangling_calls(const struct chat_turn *t, char **error)
{
    int64_t last = 0;
    struct err e = ERR_INIT;
    if (store_chat_message_last_id(t->st, t->chat->id, &last, &e) < 0 || last == 0) {
        err_clear(&e);
        return 0;
    }
    struct chat_message_list l;
    if (store_chat_messages_after(t->st, t->chat->id, last - 1, 1, &l, &e) < 0) {
        err_clear(&e);
        return 0;
    }
    json_t *results = json_array();
    if (l.n == 1 && l.items[0].role == CHAT_ROLE_ASSISTANT) {
        json_t *parts = json_loads(l.items[0].parts, 0, NULL);
        size_t i;
        json_t *p;
        json_array_foreach(parts, i, p)
        {
            if (strcmp(jsonx_get_str(p, "type", ""), "tool-call") != 0)
                continue;
            json_array_append_new(results, turn_result_part(jsonx_get_str(p, "tool_call_id", ""),
                                                            jsonx_get_str(p, "tool_name", ""), true,
                                                            json_string(CHAT_TOOL_RESTART_TEXT)));
        }
        json_decref(parts);
    }
    chat_message_list_free(&l);
    if (json_array_size(results) == 0) {
        json_decref(results);
        return 0;
    }
    return turn_store(t, CHAT_ROLE_TOOL, results, error);
}

/* ---- the model call ---- */

struct delta_sink {
    const struct chat_turn *t;
    struct buf pending[2]; /* text, reasoning: bytes held back until a character is whole */
};

static void delta(struct delta_sink *d, int which, const char *s, size_t n)
{
    struct buf *b = &d->pending[which];
    buf_append(b, s, n);
    size_t cut = utf8_cut(b->data, b->len);
    if (cut == 0) {
        if (b->len >= 4) /* not UTF-8 at all: send it cleaned rather than hold it forever */
            cut = b->len;
        else
            return;
    }
    char *clean = utf8_sanitize(b->data, cut, NULL);
    buf_consume(b, cut);
    json_t *part = json_pack("{s:s, s:s}", "type", which ? "reasoning" : "text", "text", clean);
    free(clean);
    turn_publish(d->t, json_pack("{s:s, s:o}", "kind", "message_part", "part", part));
}

static void on_text(void *arg, const char *s, size_t n)
{
    delta(arg, 0, s, n);
}

static void on_reasoning(void *arg, const char *s, size_t n)
{
    delta(arg, 1, s, n);
}

/* The delay before retry `attempt` (1-based): exponential with jitter (between half and all
 * of it), or what the provider asked for when that is longer (at most 5 minutes). */
static int64_t retry_delay(const struct chat_loop_limits *lim, int attempt, int64_t retry_after_ms)
{
    int64_t d = lim->backoff_ms;
    for (int i = 1; i < attempt && d < lim->backoff_max_ms; i++)
        d *= 2;
    if (d > lim->backoff_max_ms)
        d = lim->backoff_max_ms;
    d = d / 2 + (int64_t)secure_uniform((uint32_t)(d / 2 + 1));
    if (retry_after_ms > d)
        d = retry_after_ms < 300000 ? retry_after_ms : 300000;
    return d;
}

/* 0 with reply complete; -1 with *error (the turn fails); -2 when the turn was stopped. */
static int call_model(const struct chat_turn *t, const struct chat_loop_limits *lim,
                      const struct llm_request *req, struct llm_reply *reply, char **error)
{
    struct delta_sink ds = {.t = t};
    buf_init(&ds.pending[0], 0);
    buf_init(&ds.pending[1], 0);
    struct llm_sink sink = {.arg = &ds, .text = on_text, .reasoning = on_reasoning};
    int rc = -1;
    for (int attempt = 1;; attempt++) {
        struct tool_cancel cancel;
        tool_cancel_init(&cancel);
        turn_ctl_add(t->ctl, &cancel);
        struct llm_failure fail = {.retry_after_ms = -1};
        struct err e = ERR_INIT;
        int r = t->provider->stream(t->provider, req, &sink, &cancel, reply, &fail, &e);
        turn_ctl_remove(t->ctl, &cancel);
        tool_cancel_destroy(&cancel);
        if (r == 0) {
            rc = 0;
            break;
        }
        if (chat_turn_ctl_state(t->ctl) != CHAT_TURN_RUN) {
            err_clear(&e);
            rc = -2;
            break;
        }
        const char *msg = e.message ? e.message : "the LLM provider failed";
        if (!fail.retryable || attempt >= lim->max_attempts) {
            *error = attempt > 1 ? str_printf("%s (gave up after %d attempts)", msg, attempt)
                                 : xstrdup(msg);
            err_clear(&e);
            break;
        }
        int64_t delay = retry_delay(lim, attempt, fail.retry_after_ms);
        log_warn("chat", "chat %s: model call failed (attempt %d of %d, retrying in %lld ms): %s",
                 t->chat->id, attempt, lim->max_attempts, (long long)delay, msg);
        turn_publish(t, json_pack("{s:s, s:i, s:I, s:s}", "kind", "retry", "attempt", attempt,
                                  "delay_ms", (json_int_t)delay, "error", msg));
        err_clear(&e);
        llm_reply_clear(reply);
        if (!turn_sleep(t->ctl, delay)) {
            rc = -2;
            break;
        }
    }
    buf_free(&ds.pending[0]);
    buf_free(&ds.pending[1]);
    return rc;
}

/* The assistant message's parts: reasoning, text, tool calls (arguments as JSON when they
 * parse, else the model's text). */
static json_t *reply_parts(const struct llm_reply *r, bool calls)
{
    json_t *parts = json_array();
    if (r->reasoning.len > 0) {
        char *s = utf8_sanitize(r->reasoning.data, r->reasoning.len, NULL);
        json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "reasoning", "text", s));
        free(s);
    }
    if (r->text.len > 0) {
        char *s = utf8_sanitize(r->text.data, r->text.len, NULL);
        json_array_append_new(parts, json_pack("{s:s, s:s}", "type", "text", "text", s));
        free(s);
    }
    for (size_t i = 0; calls && i < r->ncalls; i++) {
        const struct llm_tool_call *c = &r->calls[i];
        json_t *args =
            c->args && *c->args ? json_loads(c->args, JSON_DECODE_ANY, NULL) : json_object();
        if (!args) {
            char *s = utf8_sanitize(c->args, strlen(c->args), NULL);
            args = json_string(s);
            free(s);
        }
        json_array_append_new(parts, json_pack("{s:s, s:s, s:s, s:o}", "type", "tool-call",
                                               "tool_call_id", c->id ? c->id : "", "tool_name",
                                               c->name ? c->name : "", "args", args));
    }
    return parts;
}

/* The tools as the provider takes them: [{name, description, input_schema}]. */
static json_t *tool_schemas(const struct chat_turn *t)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < t->ntools; i++) {
        json_t *schema = json_loads(t->tools[i]->input_schema, 0, NULL);
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "name", t->tools[i]->name,
                                             "description", t->tools[i]->description,
                                             "input_schema", schema ? schema : json_object()));
    }
    return arr;
}

static enum chat_turn_end stopped(const struct chat_turn *t)
{
    return chat_turn_ctl_state(t->ctl) == CHAT_TURN_ABANDON ? CHAT_TURN_ABANDONED
                                                            : CHAT_TURN_INTERRUPTED;
}

/* Reads AGENTS.md once the chat's agent is ready and a build was not read yet this turn. */
static void refresh_context(const struct chat_turn *t, const struct chat *c, char *read_build)
{
    if (!c->workspace_id[0] || !c->build_id[0] || strcmp(read_build, c->build_id) == 0)
        return;
    char agent[UUID_STR_LEN];
    char *ctx = chat_context_load(t->env, c, CONTEXT_TIMEOUT_MS, agent);
    if (!agent[0])
        return; /* no ready agent yet: try again next step */
    str_copy(read_build, UUID_STR_LEN, c->build_id);
    if (!ctx)
        return; /* no file: keep what is stored (the agent may be unreachable) */
    struct err e = ERR_INIT;
    if (store_chat_context_set(t->st, c->id, ctx, &e) < 0) {
        log_warn("chat", "chat %s: storing the workspace context: %s", c->id, err_msg(&e));
        err_clear(&e);
    }
    free(ctx);
}

/* One step: the model call and the reply stored; 1 when tools are to run (calls in *reply),
 * 0 when the turn is done, -1 with *error, -2 when stopped. */
static int model_step(const struct chat_turn *t, const struct chat_loop_limits *lim,
                      const json_t *tools, char *read_build, struct llm_reply *reply, char **error)
{
    struct chat c;
    struct err e = ERR_INIT;
    if (store_chat_get(t->st, t->chat->id, &c, &e) < 0) {
        *error = str_printf("Could not read the chat: %s", err_msg(&e));
        err_clear(&e);
        return -1;
    }
    refresh_context(t, &c, read_build);
    char *context = NULL;
    if (store_chat_context_get(t->st, c.id, &context, &e) < 0)
        err_clear(&e);
    char *system = chat_system_prompt(t->env, &c, context);
    free(context);
    chat_clear(&c);
    json_t *messages = load_conversation(t, error);
    if (!messages) {
        free(system);
        return -1;
    }
    struct llm_request req = {.system = system, .messages = messages, .tools = tools};
    int rc = call_model(t, lim, &req, reply, error);
    free(system);
    json_decref(messages);
    if (rc == -2) {
        /* Keep what the person already saw of an interrupted reply. */
        if (chat_turn_ctl_state(t->ctl) == CHAT_TURN_INTERRUPT &&
            (reply->text.len > 0 || reply->reasoning.len > 0)) {
            char *ignored = NULL;
            turn_store(t, CHAT_ROLE_ASSISTANT, reply_parts(reply, false), &ignored);
            free(ignored);
        }
        return -2;
    }
    if (rc < 0)
        return -1;
    bool calls = reply->ncalls > 0;
    json_t *parts = reply_parts(reply, calls);
    if (json_array_size(parts) == 0 &&
        (reply->stop == LLM_STOP_MAX || reply->stop == LLM_STOP_REFUSAL)) {
        json_decref(parts);
        *error = xstrdup(reply->stop == LLM_STOP_MAX
                             ? "The model reached its output token limit before it answered."
                             : "The model refused to answer.");
        return -1;
    }
    if (json_array_size(parts) == 0)
        json_decref(parts);
    else if (turn_store(t, CHAT_ROLE_ASSISTANT, parts, error) < 0)
        return -1;
    return calls ? 1 : 0;
}

enum chat_turn_end chat_turn_run(const struct chat_turn *t, char **error)
{
    *error = NULL;
    struct chat_loop_limits lim = chat_loop_limits_resolved(&t->limits);
    if (!t->provider) {
        *error = xstrdup(NO_PROVIDER_TEXT);
        return CHAT_TURN_FAILED;
    }
    if (t->chat->attempts > lim.max_resumes) {
        char *ignored = NULL;
        close_dangling_calls(t, &ignored);
        free(ignored);
        *error = str_printf("The turn was cut short by server restarts %d times; send the message "
                            "again to retry.",
                            t->chat->attempts - 1);
        return CHAT_TURN_FAILED;
    }
    if (close_dangling_calls(t, error) < 0)
        return CHAT_TURN_FAILED;
    json_t *tools = tool_schemas(t);
    char read_build[UUID_STR_LEN] = "";
    enum chat_turn_end end = CHAT_TURN_FAILED;
    int step;
    for (step = 0; step < lim.max_steps; step++) {
        if (chat_turn_ctl_state(t->ctl) != CHAT_TURN_RUN) {
            end = stopped(t);
            break;
        }
        struct llm_reply reply;
        llm_reply_init(&reply);
        int r = model_step(t, &lim, tools, read_build, &reply, error);
        if (r == 1) {
            json_t *results = NULL;
            r = chat_turn_run_tools(t, &lim, reply.calls, reply.ncalls, &results);
            if (chat_turn_ctl_state(t->ctl) == CHAT_TURN_ABANDON) {
                json_decref(results); /* whoever resumes the turn answers the calls */
                r = -2;
            } else if (turn_store(t, CHAT_ROLE_TOOL, results, error) < 0)
                r = -1;
            else if (r == 0)
                r = 1; /* next step */
        }
        llm_reply_clear(&reply);
        if (r == 1)
            continue;
        end = r == 0 ? CHAT_TURN_DONE : r == -1 ? CHAT_TURN_FAILED : stopped(t);
        break;
    }
    if (step == lim.max_steps)
        *error = str_printf("The model kept calling tools for %d steps without answering; the "
                            "turn was stopped at the step limit. Send a message to continue.",
                            lim.max_steps);
    json_decref(tools);
    if (end != CHAT_TURN_FAILED) {
        free(*error);
        *error = NULL;
    }
    return end;
}
