/* loop_tools.c - the tool calls of one step, run in parallel on threads of their own.
 *
 * A batch is shared by the turn and its threads (a reference each): the turn waits until every
 * call ended or the turn was stopped; a stopped turn stops waiting at once (its calls are
 * canceled) and the threads finish on their own, the last one freeing the batch and giving the
 * turn's hold back. */
#include "chat/loop_internal.h"

#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

struct call_job {
    struct call_batch *b;
    const struct tool_def *def; /* NULL: answered without running (ans set) */
    char *id, *name;
    json_t *args; /* NULL: none */
    struct tool_cancel cancel;
    struct tool_answer ans;
    bool done, announced;
    bool cut_short; /* it ended in an error after the turn canceled it (an interrupt) */
};

struct call_batch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    size_t n, ndone;
    struct call_job *jobs;
    const struct tool_env *env;
    char chat_id[UUID_STR_LEN];
    char owner_id[UUID_STR_LEN];
    pthread_mutex_t *workspace_mu;
    void (*release)(void *arg, const char *chat_id);
    void *release_arg;
};

json_t *turn_result_part(const char *id, const char *name, bool is_error, json_t *result)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:b}", "type", "tool-result", "tool_call_id", id,
                     "tool_name", name, "result", result, "is_error", is_error);
}

static void batch_unref(struct call_batch *b)
{
    pthread_mutex_lock(&b->mu);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (!last)
        return;
    for (size_t i = 0; i < b->n; i++) {
        struct call_job *j = &b->jobs[i];
        free(j->id);
        free(j->name);
        json_decref(j->args);
        tool_cancel_destroy(&j->cancel);
        tool_answer_clear(&j->ans);
    }
    free(b->jobs);
    if (b->release)
        b->release(b->release_arg, b->chat_id);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static void job_done(struct call_job *j)
{
    struct call_batch *b = j->b;
    pthread_mutex_lock(&b->mu);
    j->done = true;
    j->cut_short = j->ans.is_error && tool_cancel_is_set(&j->cancel);
    b->ndone++;
    pthread_cond_broadcast(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static void *job_main(void *arg)
{
    struct call_job *j = arg;
    struct call_batch *b = j->b;
    struct tool_call call = {
        .chat_id = b->chat_id,
        .owner_id = b->owner_id,
        .workspace_mu = b->workspace_mu,
        .args = j->args,
        .cancel = &j->cancel,
    };
    struct tool_answer ans = {0};
    j->def->run(b->env, &call, &ans);
    if (!ans.is_error && !ans.result)
        tool_result(&ans, json_object());
    pthread_mutex_lock(&b->mu);
    j->ans = ans; /* read by the turn once done is set, under the lock */
    pthread_mutex_unlock(&b->mu);
    job_done(j);
    batch_unref(b);
    return NULL;
}

static const struct tool_def *find_tool(const struct chat_turn *t, const char *name)
{
    for (size_t i = 0; name && i < t->ntools; i++)
        if (strcmp(t->tools[i]->name, name) == 0)
            return t->tools[i];
    return NULL;
}

/* Decides how a call runs: a tool with decoded arguments, or an answer at once (unknown tool,
 * arguments that are not a JSON object). */
static void job_prepare(const struct chat_turn *t, struct call_job *j,
                        const struct llm_tool_call *c, bool over_limit, int limit)
{
    j->id = xstrdup(c->id ? c->id : "");
    j->name = xstrdup(c->name ? c->name : "");
    tool_cancel_init(&j->cancel);
    if (over_limit) {
        tool_text_error(&j->ans,
                        "too many tool calls in one step: at most %d run at once; call "
                        "this one again",
                        limit);
        return;
    }
    const struct tool_def *def = find_tool(t, j->name);
    if (!def) {
        tool_text_error(&j->ans, "unknown tool \"%s\"", j->name);
        return;
    }
    if (c->args && *c->args) {
        json_error_t je;
        j->args = json_loads(c->args, JSON_DECODE_ANY, &je);
        if (!j->args) {
            tool_text_error(&j->ans, "invalid parameters: the arguments are not valid JSON (%s)",
                            je.text);
            return;
        }
        if (json_is_null(j->args)) {
            json_decref(j->args);
            j->args = NULL;
        } else if (!json_is_object(j->args)) {
            tool_text_error(&j->ans, "invalid parameters: the arguments must be a JSON object");
            return;
        }
    }
    j->def = def;
}

/* The result part of a finished job (or of one the turn stopped waiting for). Lock held. */
static json_t *job_part(const struct call_job *j)
{
    if (!j->done || j->cut_short) /* what the canceled tool said is not news to the model */
        return turn_result_part(j->id, j->name, true, json_string(CHAT_TOOL_INTERRUPTED_TEXT));
    if (j->ans.is_error)
        return turn_result_part(j->id, j->name, true, json_string(j->ans.text ? j->ans.text : ""));
    return turn_result_part(j->id, j->name, false,
                            json_deep_copy(j->ans.result ? j->ans.result : json_object()));
}

int chat_turn_run_tools(const struct chat_turn *t, const struct chat_loop_limits *lim,
                        const struct llm_tool_call *calls, size_t n, json_t **results)
{
    struct call_batch *b = xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    b->n = n;
    b->jobs = xcalloc(n ? n : 1, sizeof *b->jobs);
    b->env = t->env;
    str_copy(b->chat_id, sizeof b->chat_id, t->chat->id);
    str_copy(b->owner_id, sizeof b->owner_id, t->chat->owner_id);
    b->refs = 1;
    b->workspace_mu = t->hold ? t->hold(t->hold_arg, b->chat_id) : NULL;
    b->release = t->release;
    b->release_arg = t->hold_arg;

    for (size_t i = 0; i < n; i++) {
        struct call_job *j = &b->jobs[i];
        j->b = b;
        job_prepare(t, j, &calls[i], i >= (size_t)lim->max_tool_calls, lim->max_tool_calls);
        if (!j->def) {
            j->done = true;
            b->ndone++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct call_job *j = &b->jobs[i];
        if (!j->def)
            continue;
        turn_ctl_add(t->ctl, &j->cancel);
        pthread_mutex_lock(&b->mu);
        b->refs++;
        pthread_mutex_unlock(&b->mu);
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &attr, job_main, j) != 0)
            job_main(j); /* no thread to spare: run it here */
        pthread_attr_destroy(&attr);
    }

    /* Wait, announcing each result as it arrives. */
    pthread_mutex_lock(&t->ctl->mu);
    t->ctl->wait_mu = &b->mu;
    t->ctl->wait_cv = &b->cv;
    pthread_mutex_unlock(&t->ctl->mu);
    pthread_mutex_lock(&b->mu);
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            struct call_job *j = &b->jobs[i];
            if (j->done && !j->announced) {
                j->announced = true;
                json_t *part = job_part(j);
                turn_publish(t, json_pack("{s:s, s:o}", "kind", "message_part", "part", part));
            }
        }
        if (b->ndone == n || chat_turn_ctl_state(t->ctl) != CHAT_TURN_RUN)
            break;
        pthread_cond_wait(&b->cv, &b->mu);
    }
    json_t *parts = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(parts, job_part(&b->jobs[i]));
    bool all = b->ndone == n;
    pthread_mutex_unlock(&b->mu);
    pthread_mutex_lock(&t->ctl->mu);
    t->ctl->wait_mu = NULL;
    t->ctl->wait_cv = NULL;
    pthread_mutex_unlock(&t->ctl->mu);
    for (size_t i = 0; i < n; i++)
        if (b->jobs[i].def)
            turn_ctl_remove(t->ctl, &b->jobs[i].cancel);
    batch_unref(b);
    *results = parts;
    return all ? 0 : -2;
}
