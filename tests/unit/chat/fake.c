/* fake.c - the in-memory tool environment of the chat tools' unit tests (see fake.h). */
#include "testing.h"

#include "fake.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_EPOCH_US 1800000000000000LL /* 2027-01-15: the wall clock at start */
#define FAKE_MONO_US  1000000000LL

static const char *const fn_names[FAKE_FN_COUNT] = {
    "chat_get",
    "chat_bind",
    "chat_bind_agent",
    "workspace_get",
    "build_latest",
    "build_get",
    "job_get",
    "agents_latest",
    "agent_get",
    "agent_build",
    "user_get",
    "templates",
    "template_get",
    "template_owners",
    "version_params",
    "create",
    "start",
    "stop",
    "dial",
    "call",
    "on_chat_updated",
    "wait",
};

const char *fake_fn_name(enum fake_fn fn)
{
    return fn < FAKE_FN_COUNT ? fn_names[fn] : "?";
}

/* ---- calls: counting, failures, hooks ---- */

/* Counts a call of fn; -1 with e set when an injected failure applies. */
static int enter(struct fake *f, enum fake_fn fn, struct err *e)
{
    f->calls[fn]++;
    struct fake_fail *x = &f->fail[fn];
    if (!x->on || f->calls[fn] <= x->skip || (x->times >= 0 && x->failed >= x->times))
        return 0;
    x->failed++;
    err_copy(e, &x->err);
    return -1;
}

static int leave(struct fake *f, enum fake_fn fn, const char *key, int rc)
{
    if (f->after)
        f->after(f, fn, key, f->after_arg);
    return rc;
}

static int not_found(struct err *e, const char *what, const char *id)
{
    return err_set(e, ERR_NOT_FOUND, "%s %s not found", what, id ? id : "(null)");
}

/* ---- deep copies: reads hand these out, as the store does ---- */

static void copy_chat(struct chat *out, const struct chat *c)
{
    *out = *c;
    out->title = xstrdup(c->title);
}

static void copy_workspace(struct workspace *out, const struct workspace *w)
{
    *out = *w;
    out->autostart_schedule = xstrdup(w->autostart_schedule);
}

static void copy_build(struct workspace_build *out, const struct workspace_build *b)
{
    *out = *b;
    out->state = b->state ? xmemdup(b->state, b->state_len) : NULL;
}

static void copy_job(struct job *out, const struct job *j)
{
    *out = *j;
    out->error = xstrdup(j->error);
    out->input = xstrdup(j->input);
}

static void copy_agent(struct workspace_agent *out, const struct workspace_agent *a)
{
    *out = *a;
    out->directory = xstrdup(a->directory);
}

static void copy_template(struct template_row *out, const struct template_row *t)
{
    *out = *t;
    out->description = xstrdup(t->description);
    out->icon = xstrdup(t->icon);
    out->deprecated = xstrdup(t->deprecated);
}

static void copy_param(struct version_param *out, const struct version_param *p)
{
    *out = *p;
    out->description = xstrdup(p->description);
    out->default_value = xstrdup(p->default_value);
    out->options = xstrdup(p->options);
    out->validation_regex = xstrdup(p->validation_regex);
    out->validation_error = xstrdup(p->validation_error);
}

/* ---- lookups ---- */

static struct chat *find_chat(struct fake *f, const char *id)
{
    for (size_t i = 0; id && i < f->nchats; i++)
        if (strcmp(f->chats[i].id, id) == 0)
            return &f->chats[i];
    return NULL;
}

static struct workspace *find_workspace(struct fake *f, const char *id)
{
    for (size_t i = 0; id && i < f->nworkspaces; i++)
        if (strcmp(f->workspaces[i].id, id) == 0)
            return &f->workspaces[i];
    return NULL;
}

static struct workspace_build *find_build(struct fake *f, const char *id)
{
    for (size_t i = 0; id && i < f->nbuilds; i++)
        if (strcmp(f->builds[i].id, id) == 0)
            return &f->builds[i];
    return NULL;
}

struct job *fake_job(struct fake *f, const char *job_id)
{
    for (size_t i = 0; job_id && i < f->njobs; i++)
        if (strcmp(f->jobs[i].id, job_id) == 0)
            return &f->jobs[i];
    return NULL;
}

struct fake_agent *fake_agent_entry(struct fake *f, const char *agent_id)
{
    for (size_t i = 0; agent_id && i < f->nagents; i++)
        if (strcmp(f->agents[i].row.id, agent_id) == 0)
            return &f->agents[i];
    return NULL;
}

struct fake_template *fake_template_entry(struct fake *f, const char *template_id)
{
    for (size_t i = 0; template_id && i < f->ntemplates; i++)
        if (strcmp(f->templates[i].row.id, template_id) == 0)
            return &f->templates[i];
    return NULL;
}

static struct user *find_user(struct fake *f, const char *id)
{
    for (size_t i = 0; id && i < f->nusers; i++)
        if (strcmp(f->users[i].id, id) == 0)
            return &f->users[i];
    return NULL;
}

struct workspace_build *fake_latest_build(struct fake *f, const char *workspace_id)
{
    struct workspace_build *best = NULL;
    for (size_t i = 0; workspace_id && i < f->nbuilds; i++)
        if (strcmp(f->builds[i].workspace_id, workspace_id) == 0 &&
            (!best || f->builds[i].build_number > best->build_number))
            best = &f->builds[i];
    return best;
}

/* Applies the changes due after a read of id (job or agent). */
static void apply_changes(struct fake *f, const char *id, bool is_job)
{
    for (size_t i = 0; i < f->nchanges; i++) {
        struct fake_change *c = &f->changes[i];
        if (c->done || c->is_job != is_job || strcmp(c->id, id) != 0 || ++c->seen < c->reads)
            continue;
        c->done = true;
        if (is_job) {
            fake_job_set(f, fake_job(f, id), c->status, c->error[0] ? c->error : NULL);
        } else {
            struct fake_agent *a = fake_agent_entry(f, id);
            if (a)
                a->row.lifecycle = c->lifecycle;
        }
    }
}

/* ---- the store ---- */

static int db_chat_get(void *arg, const char *chat_id, struct chat *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_CHAT_GET, e);
    struct chat *c = find_chat(f, chat_id);
    if (rc == 0 && !c)
        rc = not_found(e, "chat", chat_id);
    if (rc == 0)
        copy_chat(out, c);
    return leave(f, FAKE_CHAT_GET, chat_id, rc);
}

static void record_binding(struct fake_binding *b, size_t *n, const char *chat_id,
                           const char *workspace_id, const char *build_id, const char *agent_id)
{
    assert_true(*n < FAKE_RECORD_MAX);
    struct fake_binding *r = &b[(*n)++];
    str_copy(r->chat_id, sizeof r->chat_id, chat_id ? chat_id : "");
    str_copy(r->workspace_id, sizeof r->workspace_id, workspace_id ? workspace_id : "");
    str_copy(r->build_id, sizeof r->build_id, build_id ? build_id : "");
    str_copy(r->agent_id, sizeof r->agent_id, agent_id ? agent_id : "");
}

static int db_chat_bind(void *arg, const char *chat_id, const char *workspace_id,
                        const char *build_id, const char *agent_id, struct chat *out, struct err *e)
{
    struct fake *f = arg;
    record_binding(f->binds, &f->nbinds, chat_id, workspace_id, build_id, agent_id);
    int rc = enter(f, FAKE_CHAT_BIND, e);
    struct chat *c = find_chat(f, chat_id);
    if (rc == 0 && !c)
        rc = not_found(e, "chat", chat_id);
    if (rc == 0) {
        str_copy(c->workspace_id, sizeof c->workspace_id, workspace_id ? workspace_id : "");
        str_copy(c->build_id, sizeof c->build_id, build_id ? build_id : "");
        str_copy(c->agent_id, sizeof c->agent_id, agent_id ? agent_id : "");
        c->updated_at = f->now_us;
        if (out)
            copy_chat(out, c);
    }
    return leave(f, FAKE_CHAT_BIND, chat_id, rc);
}

static int db_chat_bind_agent(void *arg, const char *chat_id, const char *build_id,
                              const char *agent_id, struct err *e)
{
    struct fake *f = arg;
    record_binding(f->bind_agents, &f->nbind_agents, chat_id, NULL, build_id, agent_id);
    int rc = enter(f, FAKE_CHAT_BIND_AGENT, e);
    struct chat *c = find_chat(f, chat_id);
    if (rc == 0 && !c)
        rc = not_found(e, "chat", chat_id);
    if (rc == 0) {
        str_copy(c->build_id, sizeof c->build_id, build_id ? build_id : "");
        str_copy(c->agent_id, sizeof c->agent_id, agent_id ? agent_id : "");
    }
    return leave(f, FAKE_CHAT_BIND_AGENT, chat_id, rc);
}

static int db_workspace_get(void *arg, const char *id, struct workspace *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_WORKSPACE_GET, e);
    struct workspace *w = find_workspace(f, id);
    if (rc == 0 && !w)
        rc = not_found(e, "workspace", id);
    if (rc == 0)
        copy_workspace(out, w);
    return leave(f, FAKE_WORKSPACE_GET, id, rc);
}

static int db_build_latest(void *arg, const char *workspace_id, struct workspace_build *out,
                           struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_BUILD_LATEST, e);
    struct workspace_build *b = fake_latest_build(f, workspace_id);
    if (rc == 0 && !b)
        rc = not_found(e, "latest build of workspace", workspace_id);
    if (rc == 0)
        copy_build(out, b);
    return leave(f, FAKE_BUILD_LATEST, workspace_id, rc);
}

static int db_build_get(void *arg, const char *id, struct workspace_build *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_BUILD_GET, e);
    struct workspace_build *b = find_build(f, id);
    if (rc == 0 && !b)
        rc = not_found(e, "build", id);
    if (rc == 0)
        copy_build(out, b);
    return leave(f, FAKE_BUILD_GET, id, rc);
}

static int db_job_get(void *arg, const char *id, struct job *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_JOB_GET, e);
    struct job *j = fake_job(f, id);
    if (rc == 0 && !j)
        rc = not_found(e, "job", id);
    if (rc == 0) {
        copy_job(out, j);
        apply_changes(f, id, true);
    }
    return leave(f, FAKE_JOB_GET, id, rc);
}

static int by_display_order(const void *a, const void *b)
{
    const struct workspace_agent *x = a, *y = b;
    if (x->display_order != y->display_order)
        return x->display_order < y->display_order ? -1 : 1;
    return x->created_at < y->created_at ? -1 : x->created_at > y->created_at;
}

static int db_agents_latest(void *arg, const char *workspace_id, struct agent_list *out,
                            struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_AGENTS_LATEST, e);
    if (rc == 0) {
        struct workspace_build *b = fake_latest_build(f, workspace_id);
        out->items = xcalloc(FAKE_MAX, sizeof *out->items);
        out->n = 0;
        for (size_t i = 0; b && i < f->nagents; i++)
            if (strcmp(f->agents[i].build_id, b->id) == 0)
                copy_agent(&out->items[out->n++], &f->agents[i].row);
        qsort(out->items, out->n, sizeof *out->items, by_display_order);
    }
    return leave(f, FAKE_AGENTS_LATEST, workspace_id, rc);
}

static int db_agent_get(void *arg, const char *id, struct workspace_agent *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_AGENT_GET, e);
    struct fake_agent *a = fake_agent_entry(f, id);
    if (rc == 0 && !a)
        rc = not_found(e, "agent", id);
    if (rc == 0) {
        copy_agent(out, &a->row);
        apply_changes(f, id, false);
    }
    return leave(f, FAKE_AGENT_GET, id, rc);
}

static int db_agent_build(void *arg, const char *agent_id, char build_id[UUID_STR_LEN],
                          struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_AGENT_BUILD, e);
    struct fake_agent *a = fake_agent_entry(f, agent_id);
    if (rc == 0 && !a)
        rc = not_found(e, "agent", agent_id);
    if (rc == 0)
        str_copy(build_id, UUID_STR_LEN, a->build_id);
    return leave(f, FAKE_AGENT_BUILD, agent_id, rc);
}

static int db_user_get(void *arg, const char *id, struct user *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_USER_GET, e);
    struct user *u = find_user(f, id);
    if (rc == 0 && !u)
        rc = not_found(e, "user", id);
    if (rc == 0)
        *out = *u;
    return leave(f, FAKE_USER_GET, id, rc);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct template_row *)a)->name, ((const struct template_row *)b)->name);
}

static int db_templates(void *arg, struct template_list *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_TEMPLATES, e);
    if (rc == 0) {
        out->items = xcalloc(FAKE_MAX, sizeof *out->items);
        out->n = 0;
        for (size_t i = 0; i < f->ntemplates; i++)
            if (!f->templates[i].row.deleted)
                copy_template(&out->items[out->n++], &f->templates[i].row);
        qsort(out->items, out->n, sizeof *out->items, by_name);
    }
    return leave(f, FAKE_TEMPLATES, NULL, rc);
}

static int db_template_get(void *arg, const char *id, struct template_row *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_TEMPLATE_GET, e);
    struct fake_template *t = fake_template_entry(f, id);
    if (rc == 0 && !t)
        rc = not_found(e, "template", id);
    if (rc == 0)
        copy_template(out, &t->row);
    return leave(f, FAKE_TEMPLATE_GET, id, rc);
}

static int db_template_owners(void *arg, const char *template_id, int64_t *out, struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_TEMPLATE_OWNERS, e);
    if (rc == 0) {
        struct fake_template *t = fake_template_entry(f, template_id);
        *out = t ? t->owners : 0;
    }
    return leave(f, FAKE_TEMPLATE_OWNERS, template_id, rc);
}

static int db_version_params(void *arg, const char *version_id, struct version_param_list *out,
                             struct err *e)
{
    struct fake *f = arg;
    int rc = enter(f, FAKE_VERSION_PARAMS, e);
    if (rc == 0) {
        out->items = xcalloc(FAKE_MAX * 2, sizeof *out->items);
        out->n = 0;
        for (size_t i = 0; i < f->nparams; i++)
            if (strcmp(f->params[i].version_id, version_id) == 0)
                copy_param(&out->items[out->n++], &f->params[i].row);
    }
    return leave(f, FAKE_VERSION_PARAMS, version_id, rc);
}

/* ---- workspace operations ---- */

static struct fake_ws_call *record_ws_call(struct fake_ws_call *calls, size_t *n,
                                           const char *owner_id, const char *workspace_id,
                                           const struct build_param_value *params, size_t np)
{
    assert_true(*n < FAKE_RECORD_MAX);
    struct fake_ws_call *c = &calls[(*n)++];
    str_copy(c->owner_id, sizeof c->owner_id, owner_id ? owner_id : "");
    str_copy(c->workspace_id, sizeof c->workspace_id, workspace_id ? workspace_id : "");
    assert_true(np <= FAKE_PARAMS_MAX);
    for (size_t i = 0; i < np; i++) {
        c->param_names[i] = xstrdup(params[i].name);
        c->param_values[i] = xstrdup(params[i].value);
    }
    c->nparams = np;
    return c;
}

/* The next build of a workspace made by a workspace operation: its job as new_job_status and
 * new_job_error say, with the agents new_agents names. */
static struct workspace_build *new_build(struct fake *f, const char *workspace_id,
                                         enum transition t)
{
    struct workspace_build *b = fake_build(f, workspace_id, t, f->new_job_status);
    if (f->new_job_status == JOB_FAILED && f->new_job_error)
        fake_job_set(f, fake_job(f, b->job_id), JOB_FAILED, f->new_job_error);
    for (size_t i = 0; t == TRANSITION_START && f->new_agents && f->new_agents[i]; i++)
        fake_agent(f, b->id, f->new_agents[i]);
    return b;
}

static int ws_create(void *arg, const char *owner_id, const struct workspace_create *req,
                     struct workspace *ws, struct workspace_build *build, struct err *e)
{
    struct fake *f = arg;
    struct fake_ws_call *c =
        record_ws_call(f->creates, &f->ncreates, owner_id, NULL, req->params, req->nparams);
    str_copy(c->name, sizeof c->name, req->name ? req->name : "");
    str_copy(c->template_id, sizeof c->template_id, req->template_id ? req->template_id : "");
    str_copy(c->template_version_id, sizeof c->template_version_id,
             req->template_version_id ? req->template_version_id : "");
    c->has_ttl = req->has_ttl;
    c->ttl_ms = req->ttl_ms;
    int rc = enter(f, FAKE_CREATE, e);
    if (rc == 0) {
        struct workspace *w = fake_workspace(f, req->name, req->template_id);
        str_copy(w->owner_id, sizeof w->owner_id, owner_id);
        w->has_ttl = req->has_ttl;
        w->ttl_ms = req->ttl_ms;
        struct workspace_build *b = new_build(f, w->id, TRANSITION_START);
        struct fake_template *t = fake_template_entry(f, req->template_id);
        const char *version = req->template_version_id ? req->template_version_id
                              : t                      ? t->row.active_version_id
                                                       : "";
        str_copy(b->template_version_id, sizeof b->template_version_id, version);
        str_copy(c->workspace_id, sizeof c->workspace_id, w->id);
        str_copy(c->build_id, sizeof c->build_id, b->id);
        copy_workspace(ws, w);
        copy_build(build, b);
    }
    return leave(f, FAKE_CREATE, req->name, rc);
}

static int ws_start(void *arg, const char *owner_id, const char *workspace_id,
                    const struct build_param_value *params, size_t nparams,
                    struct workspace_build *out, struct err *e)
{
    struct fake *f = arg;
    struct fake_ws_call *c =
        record_ws_call(f->starts, &f->nstarts, owner_id, workspace_id, params, nparams);
    int rc = enter(f, FAKE_START, e);
    if (rc == 0 && !find_workspace(f, workspace_id))
        rc = not_found(e, "workspace", workspace_id);
    if (rc == 0) {
        struct workspace_build *b = new_build(f, workspace_id, TRANSITION_START);
        if (f->start_version_id[0])
            str_copy(b->template_version_id, sizeof b->template_version_id, f->start_version_id);
        str_copy(c->template_version_id, sizeof c->template_version_id, b->template_version_id);
        str_copy(c->build_id, sizeof c->build_id, b->id);
        copy_build(out, b);
    }
    return leave(f, FAKE_START, workspace_id, rc);
}

static int ws_stop(void *arg, const char *owner_id, const char *workspace_id,
                   struct workspace_build *out, struct err *e)
{
    struct fake *f = arg;
    struct fake_ws_call *c = record_ws_call(f->stops, &f->nstops, owner_id, workspace_id, NULL, 0);
    int rc = enter(f, FAKE_STOP, e);
    if (rc == 0 && !find_workspace(f, workspace_id))
        rc = not_found(e, "workspace", workspace_id);
    if (rc == 0) {
        struct workspace_build *b = new_build(f, workspace_id, TRANSITION_STOP);
        str_copy(c->build_id, sizeof c->build_id, b->id);
        copy_build(out, b);
    }
    return leave(f, FAKE_STOP, workspace_id, rc);
}

/* ---- the agent connection, the callback and the clock ---- */

static void advance(struct fake *f, int64_t ms)
{
    f->now_us += ms * 1000;
    f->mono_us += ms * 1000;
}

static int agent_dial(void *arg, const char *agent_id, int64_t timeout_ms,
                      struct tool_cancel *cancel, struct err *e)
{
    struct fake *f = arg;
    assert_true(f->ndials < FAKE_RECORD_MAX);
    struct fake_dial *d = &f->dials[f->ndials++];
    str_copy(d->agent_id, sizeof d->agent_id, agent_id);
    d->timeout_ms = timeout_ms;
    int rc = enter(f, FAKE_DIAL, e);
    if (rc == 0 && f->dial_handler)
        rc = f->dial_handler(f, agent_id, e);
    if (rc < 0)
        advance(f, timeout_ms); /* a failed dial waited its whole time */
    return leave(f, FAKE_DIAL, agent_id, rc);
}

static int agent_call(void *arg, const char *agent_id, const json_t *request, int64_t timeout_ms,
                      struct tool_cancel *cancel, json_t **result, struct err *e)
{
    struct fake *f = arg;
    assert_true(f->nagent_calls < FAKE_RECORD_MAX);
    struct fake_call *c = &f->agent_calls[f->nagent_calls++];
    str_copy(c->agent_id, sizeof c->agent_id, agent_id);
    c->request = json_deep_copy(request);
    c->timeout_ms = timeout_ms;
    *result = NULL;
    int rc = enter(f, FAKE_CALL, e);
    if (rc == 0) {
        if (f->handler)
            rc = f->handler(f, agent_id, request, result, e);
        else
            *result = json_object();
    }
    return leave(f, FAKE_CALL, agent_id, rc);
}

static void chat_updated(void *arg, const struct chat *chat)
{
    struct fake *f = arg;
    record_binding(f->updates, &f->nupdates, chat->id, chat->workspace_id, chat->build_id,
                   chat->agent_id);
    f->calls[FAKE_CHAT_UPDATED]++;
    leave(f, FAKE_CHAT_UPDATED, chat->id, 0);
}

static int64_t clock_now(void *arg)
{
    return ((struct fake *)arg)->now_us;
}

static int64_t clock_mono(void *arg)
{
    return ((struct fake *)arg)->mono_us;
}

static void *clock_watch(void *arg, const char *const *channels)
{
    struct fake *f = arg;
    for (size_t i = 0; f->wait_channels[i]; i++) {
        free((char *)(uintptr_t)f->wait_channels[i]);
        f->wait_channels[i] = NULL;
    }
    for (size_t i = 0; channels && channels[i] && i + 1 < sizeof f->wait_channels / sizeof(char *);
         i++)
        f->wait_channels[i] = xstrdup(channels[i]);
    return f;
}

static bool clock_wait(void *arg, void *watch, int64_t timeout_ms, struct tool_cancel *cancel)
{
    struct fake *f = arg;
    (void)watch;
    f->calls[FAKE_WAIT]++;
    advance(f, timeout_ms);
    if (f->on_wait)
        f->on_wait(f, timeout_ms, f->on_wait_arg);
    leave(f, FAKE_WAIT, NULL, 0);
    return !(cancel && atomic_load(&cancel->canceled));
}

static void clock_unwatch(void *arg, void *watch)
{
    (void)arg;
    (void)watch;
}

/* ---- life cycle ---- */

struct fake *fake_new(void)
{
    struct fake *f = xcalloc(1, sizeof *f);
    f->now_us = FAKE_EPOCH_US;
    f->mono_us = FAKE_MONO_US;
    f->new_job_status = JOB_PENDING;
    f->env = (struct tool_env){
        .db = {.arg = f,
               .chat_get = db_chat_get,
               .chat_bind = db_chat_bind,
               .chat_bind_agent = db_chat_bind_agent,
               .workspace_get = db_workspace_get,
               .build_latest = db_build_latest,
               .build_get = db_build_get,
               .job_get = db_job_get,
               .agents_latest = db_agents_latest,
               .agent_get = db_agent_get,
               .agent_build = db_agent_build,
               .user_get = db_user_get,
               .templates = db_templates,
               .template_get = db_template_get,
               .template_owners = db_template_owners,
               .version_params = db_version_params},
        .ws = {.arg = f, .create = ws_create, .start = ws_start, .stop = ws_stop},
        .agent = {.arg = f, .dial = agent_dial, .call = agent_call},
        .clock = {.arg = f,
                  .now_us = clock_now,
                  .mono_us = clock_mono,
                  .watch = clock_watch,
                  .wait = clock_wait,
                  .unwatch = clock_unwatch},
        .on_chat_updated = chat_updated,
        .on_chat_updated_arg = f,
    };
    f->owner = fake_user(f, "testuser");
    f->call.owner_id = f->owner->id;
    return f;
}

static void free_ws_calls(struct fake_ws_call *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < c[i].nparams; k++) {
            free(c[i].param_names[k]);
            free(c[i].param_values[k]);
        }
}

void fake_free(struct fake *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nchats; i++)
        chat_clear(&f->chats[i]);
    for (size_t i = 0; i < f->nworkspaces; i++)
        workspace_clear(&f->workspaces[i]);
    for (size_t i = 0; i < f->nbuilds; i++)
        workspace_build_clear(&f->builds[i]);
    for (size_t i = 0; i < f->njobs; i++)
        job_clear(&f->jobs[i]);
    for (size_t i = 0; i < f->nagents; i++)
        workspace_agent_clear(&f->agents[i].row);
    for (size_t i = 0; i < f->ntemplates; i++)
        template_row_clear(&f->templates[i].row);
    for (size_t i = 0; i < f->nparams; i++)
        version_param_clear(&f->params[i].row);
    for (size_t i = 0; i < FAKE_FN_COUNT; i++)
        err_clear(&f->fail[i].err);
    free_ws_calls(f->creates, f->ncreates);
    free_ws_calls(f->starts, f->nstarts);
    free_ws_calls(f->stops, f->nstops);
    for (size_t i = 0; i < f->nagent_calls; i++)
        json_decref(f->agent_calls[i].request);
    for (size_t i = 0; f->wait_channels[i]; i++)
        free((char *)(uintptr_t)f->wait_channels[i]);
    for (size_t i = 0; i < f->nanswers; i++)
        tool_answer_clear(&f->answers[i]);
    for (size_t i = 0; i < f->nargs; i++)
        json_decref(f->args[i]);
    free(f);
}

/* ---- rows ---- */

struct user *fake_user(struct fake *f, const char *username)
{
    assert_true(f->nusers < FAKE_MAX);
    struct user *u = &f->users[f->nusers++];
    uuid_v7(u->id);
    str_copy(u->username, sizeof u->username, username);
    str_fmt(u->email, sizeof u->email, "%s@example.com", username);
    u->created_at = u->updated_at = f->now_us;
    return u;
}

struct chat *fake_chat(struct fake *f, const char *workspace_id)
{
    assert_true(f->nchats < FAKE_MAX);
    struct chat *c = &f->chats[f->nchats++];
    uuid_v7(c->id);
    str_copy(c->owner_id, sizeof c->owner_id, f->owner->id);
    c->title = xstrdup("test chat");
    str_copy(c->workspace_id, sizeof c->workspace_id, workspace_id ? workspace_id : "");
    c->created_at = c->updated_at = f->now_us;
    f->call.chat_id = c->id;
    return c;
}

struct workspace *fake_workspace(struct fake *f, const char *name, const char *template_id)
{
    assert_true(f->nworkspaces < FAKE_MAX);
    struct workspace *w = &f->workspaces[f->nworkspaces++];
    uuid_v7(w->id);
    str_copy(w->owner_id, sizeof w->owner_id, f->owner->id);
    str_copy(w->template_id, sizeof w->template_id, template_id ? template_id : "");
    str_copy(w->name, sizeof w->name, name ? name : "");
    str_copy(w->automatic_updates, sizeof w->automatic_updates, "never");
    w->created_at = w->updated_at = f->now_us;
    return w;
}

void fake_job_set(struct fake *f, struct job *j, enum job_status s, const char *error)
{
    assert_non_null(j);
    j->started_at = j->canceled_at = j->completed_at = 0;
    free(j->error);
    j->error = xstrdup("");
    int64_t now = f->now_us;
    switch (s) {
    case JOB_PENDING:
        break;
    case JOB_RUNNING:
        j->started_at = now;
        break;
    case JOB_SUCCEEDED:
        j->started_at = j->completed_at = now;
        break;
    case JOB_CANCELING:
        j->started_at = j->canceled_at = now;
        break;
    case JOB_CANCELED:
        j->started_at = j->canceled_at = j->completed_at = now;
        break;
    case JOB_FAILED:
        j->started_at = j->completed_at = now;
        free(j->error);
        j->error = xstrdup(error ? error : "build failed");
        break;
    }
    if (error && s != JOB_FAILED) {
        free(j->error);
        j->error = xstrdup(error);
    }
    j->updated_at = now;
    j->status = s;
}

struct workspace_build *fake_build(struct fake *f, const char *workspace_id, enum transition t,
                                   enum job_status s)
{
    assert_true(f->nbuilds < FAKE_MAX && f->njobs < FAKE_MAX);
    struct workspace_build *prev = fake_latest_build(f, workspace_id);
    struct workspace_build *b = &f->builds[f->nbuilds++];
    struct job *j = &f->jobs[f->njobs++];
    uuid_v7(j->id);
    j->type = JOB_WORKSPACE_BUILD;
    j->created_at = f->now_us;
    j->input = xstrdup("{}");
    str_copy(j->initiator_id, sizeof j->initiator_id, f->owner->id);
    fake_job_set(f, j, s, NULL);
    uuid_v7(b->id);
    str_copy(b->workspace_id, sizeof b->workspace_id, workspace_id);
    if (prev)
        str_copy(b->template_version_id, sizeof b->template_version_id, prev->template_version_id);
    b->build_number = prev ? prev->build_number + 1 : 1;
    b->transition = t;
    str_copy(b->initiator_id, sizeof b->initiator_id, f->owner->id);
    str_copy(b->job_id, sizeof b->job_id, j->id);
    str_copy(b->reason, sizeof b->reason, "initiator");
    b->created_at = b->updated_at = f->now_us;
    return b;
}

struct workspace_agent *fake_agent(struct fake *f, const char *build_id, const char *name)
{
    assert_true(f->nagents < FAKE_MAX);
    struct fake_agent *fa = &f->agents[f->nagents++];
    struct workspace_agent *a = &fa->row;
    str_copy(fa->build_id, sizeof fa->build_id, build_id);
    uuid_v7(a->id);
    uuid_v7(a->resource_id);
    str_copy(a->name, sizeof a->name, name);
    a->directory = xstrdup("/home/testuser");
    a->created_at = a->updated_at = f->now_us;
    a->first_connected_at = a->last_connected_at = f->now_us;
    a->lifecycle = LIFECYCLE_READY;
    a->started_at = a->ready_at = f->now_us;
    return a;
}

void fake_agent_status(struct fake *f, struct workspace_agent *a, enum agent_status s)
{
    int64_t now = f->now_us;
    a->disconnected_at = 0;
    a->connection_timeout_seconds = 0;
    switch (s) {
    case AGENT_CONNECTING:
        a->first_connected_at = a->last_connected_at = 0;
        a->created_at = now;
        break;
    case AGENT_TIMEOUT:
        a->first_connected_at = a->last_connected_at = 0;
        a->connection_timeout_seconds = 120;
        a->created_at = now - 121 * 1000000LL;
        break;
    case AGENT_CONNECTED:
        a->first_connected_at = a->last_connected_at = now;
        break;
    case AGENT_DISCONNECTED:
        a->first_connected_at = now - 600 * 1000000LL;
        a->last_connected_at = now - 60 * 1000000LL;
        a->disconnected_at = now - 60 * 1000000LL;
        break;
    }
    assert_int_equal(agentconn_status(a, now), s);
}

struct template_row *fake_template(struct fake *f, const char *name)
{
    assert_true(f->ntemplates < FAKE_MAX);
    struct template_row *t = &f->templates[f->ntemplates++].row;
    uuid_v7(t->id);
    uuid_v7(t->active_version_id);
    str_copy(t->name, sizeof t->name, name);
    t->description = xstrdup("");
    t->icon = xstrdup("");
    t->deprecated = xstrdup("");
    str_copy(t->created_by, sizeof t->created_by, f->owner->id);
    t->created_at = t->updated_at = f->now_us;
    return t;
}

struct version_param *fake_param(struct fake *f, const char *version_id, const char *name)
{
    assert_true(f->nparams < sizeof f->params / sizeof f->params[0]);
    struct fake_param *p = &f->params[f->nparams++];
    str_copy(p->version_id, sizeof p->version_id, version_id);
    str_copy(p->row.name, sizeof p->row.name, name);
    str_copy(p->row.type, sizeof p->row.type, "string");
    return &p->row;
}

struct workspace_agent *fake_running(struct fake *f, const char *agent_name)
{
    struct workspace *ws = fake_workspace(f, "dev", NULL);
    fake_chat(f, ws->id);
    struct workspace_build *b = fake_build(f, ws->id, TRANSITION_START, JOB_SUCCEEDED);
    return fake_agent(f, b->id, agent_name);
}

void fake_allow(struct fake *f, const char *template_id)
{
    assert_true(f->nallow < FAKE_MAX);
    f->allowlist[f->nallow++] = template_id;
    f->allowlist[f->nallow] = NULL;
    f->env.template_allowlist = f->allowlist;
}

/* ---- behaviour ---- */

void fake_fail_n(struct fake *f, enum fake_fn fn, int skip, int times, enum err_kind kind,
                 const char *msg)
{
    struct fake_fail *x = &f->fail[fn];
    x->on = true;
    x->skip = skip;
    x->times = times;
    x->failed = 0;
    err_set(&x->err, kind, "%s", msg);
}

void fake_fail(struct fake *f, enum fake_fn fn, enum err_kind kind, const char *msg)
{
    fake_fail_n(f, fn, 0, -1, kind, msg);
}

static struct fake_change *new_change(struct fake *f, const char *id, int reads)
{
    assert_true(f->nchanges < FAKE_MAX);
    struct fake_change *c = &f->changes[f->nchanges++];
    memset(c, 0, sizeof *c);
    str_copy(c->id, sizeof c->id, id);
    c->reads = reads;
    return c;
}

void fake_job_after_reads(struct fake *f, const char *job_id, int reads, enum job_status s,
                          const char *error)
{
    struct fake_change *c = new_change(f, job_id, reads);
    c->is_job = true;
    c->status = s;
    str_copy(c->error, sizeof c->error, error ? error : "");
}

void fake_agent_after_reads(struct fake *f, const char *agent_id, int reads, enum agent_lifecycle l)
{
    new_change(f, agent_id, reads)->lifecycle = l;
}

/* ---- running tools ---- */

void fake_run(struct fake *f, const struct tool_def *def, const char *args, struct tool_answer *out)
{
    json_t *a = NULL;
    if (args) {
        json_error_t je;
        a = json_loads(args, 0, &je);
        if (!a)
            fail_msg("bad test arguments %s: %s", args, je.text);
        assert_true(f->nargs < FAKE_RECORD_MAX);
        f->args[f->nargs++] = a;
    }
    f->call.args = a;
    memset(out, 0, sizeof *out);
    def->run(&f->env, &f->call, out);
    assert_true(out->is_error ? out->text != NULL && out->result == NULL
                              : out->text == NULL && json_is_object(out->result));
}

static struct tool_answer *keep(struct fake *f, const struct tool_def *def, const char *args)
{
    assert_true(f->nanswers < FAKE_RECORD_MAX);
    struct tool_answer *a = &f->answers[f->nanswers++];
    fake_run(f, def, args, a);
    return a;
}

json_t *fake_ok(struct fake *f, const struct tool_def *def, const char *args)
{
    struct tool_answer *a = keep(f, def, args);
    if (a->is_error)
        fail_msg("%s %s: unexpected text error: %s", def->name, args ? args : "", a->text);
    return a->result;
}

const char *fake_error(struct fake *f, const struct tool_def *def, const char *args)
{
    struct tool_answer *a = keep(f, def, args);
    if (!a->is_error) {
        char *s = jsonx_dump(a->result);
        fail_msg("%s %s: expected a text error, got %s", def->name, args ? args : "", s);
    }
    return a->text;
}

/* ---- accessors ---- */

static json_t *get(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!v) {
        char *s = jsonx_dump(obj);
        fail_msg("no \"%s\" in %s", key, s);
    }
    return v;
}

const char *fake_str(const json_t *obj, const char *key)
{
    json_t *v = get(obj, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

int64_t fake_int(const json_t *obj, const char *key)
{
    json_t *v = get(obj, key);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

bool fake_bool(const json_t *obj, const char *key)
{
    json_t *v = get(obj, key);
    assert_true(json_is_boolean(v));
    return json_is_true(v);
}

void fake_keys(const json_t *obj, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, obj);
    for (const char *k; (k = va_arg(ap, const char *)); n++)
        get(obj, k);
    va_end(ap);
    if (json_object_size(obj) != n) {
        char *s = jsonx_dump(obj);
        fail_msg("expected %zu members, got %s", n, s);
    }
}
