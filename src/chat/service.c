/* service.c - chats for their owners: create, read, list, render, publish binding changes, and
 * run tools for a chat with its workspace lock (see chat.h). */
#include "chat/service.h"
#include "base/json.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define CHAT_TITLE_DEFAULT "New chat"
#define CHAT_TITLE_MAX     256 /* characters */

static void on_chat_updated(void *arg, const struct chat *c)
{
    chat_publish(arg, c);
}

struct chat_service *chat_service_new(const struct chat_service_config *cfg)
{
    struct chat_service *svc = xcalloc(1, sizeof *svc);
    svc->st = cfg->st;
    svc->ps = cfg->ps;
    svc->deps = (struct chat_env_deps){.st = cfg->st, .ps = cfg->ps, .ac = cfg->ac};
    chat_env_init(&svc->env, &svc->deps, &cfg->waits);
    svc->env.on_chat_updated = on_chat_updated;
    svc->env.on_chat_updated_arg = svc;
    svc->loop = cfg->loop;
    str_copy(svc->replica_id, sizeof svc->replica_id,
             cfg->loop.replica_id && *cfg->loop.replica_id ? cfg->loop.replica_id : "local");
    svc->loop.replica_id = svc->replica_id;
    char nonce[17];
    secure_hex(nonce, sizeof nonce - 1);
    str_fmt(svc->worker_id, sizeof svc->worker_id, "%s:%s", svc->replica_id, nonce);
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->publish_mu, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->wake, &attr);
    pthread_condattr_destroy(&attr);
    return svc;
}

static void chat_mutex_free(void *p)
{
    struct chat_mutex *m = p;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void chat_service_free(struct chat_service *svc)
{
    if (!svc)
        return;
    chat_workers_stop(svc); /* when shutdown was skipped */
    chat_workers_drain(svc);
    assert(!svc->inflight && svc->mutexes.len == 0); /* every caller has stopped */
    map_free(&svc->mutexes, chat_mutex_free);
    pthread_cond_destroy(&svc->wake);
    pthread_mutex_destroy(&svc->publish_mu);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}

void chat_service_shutdown(struct chat_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->closing = true;
    for (struct inflight *n = svc->inflight; n; n = n->next)
        tool_cancel_trigger(n->cancel);
    pthread_mutex_unlock(&svc->lock);
    chat_workers_stop(svc);
}

/* ---- the per-chat workspace locks ---- */

pthread_mutex_t *chat_workspace_mu_get_locked(struct chat_service *svc, const char *chat_id)
{
    struct chat_mutex *m = map_get(&svc->mutexes, chat_id);
    if (!m) {
        m = xcalloc(1, sizeof *m);
        pthread_mutex_init(&m->mu, NULL);
        map_put(&svc->mutexes, chat_id, m);
    }
    m->refs++;
    return &m->mu;
}

void chat_workspace_mu_put_locked(struct chat_service *svc, const char *chat_id)
{
    struct chat_mutex *m = map_get(&svc->mutexes, chat_id);
    assert(m && m->refs > 0);
    if (m && --m->refs == 0)
        chat_mutex_free(map_del(&svc->mutexes, chat_id));
}

pthread_mutex_t *chat_workspace_mu_get(struct chat_service *svc, const char *chat_id)
{
    pthread_mutex_lock(&svc->lock);
    pthread_mutex_t *mu = chat_workspace_mu_get_locked(svc, chat_id);
    pthread_mutex_unlock(&svc->lock);
    return mu;
}

void chat_workspace_mu_put(struct chat_service *svc, const char *chat_id)
{
    pthread_mutex_lock(&svc->lock);
    chat_workspace_mu_put_locked(svc, chat_id);
    pthread_mutex_unlock(&svc->lock);
}

size_t chat_workspace_mu_count(struct chat_service *svc)
{
    pthread_mutex_lock(&svc->lock);
    size_t n = svc->mutexes.len;
    pthread_mutex_unlock(&svc->lock);
    return n;
}

/* ---- chats ---- */

/* Only the owner sees a chat (not even a site owner sees another user's chats); background
 * work acts as the system subject and sees every chat. */
static bool chat_visible(const struct subject *sub, const struct chat *c)
{
    if (sub->kind == SUBJECT_SYSTEM)
        return true;
    return sub->kind == SUBJECT_USER && sub->user_id[0] && strcmp(sub->user_id, c->owner_id) == 0;
}

/* The workspace a chat may be bound to: ERR_NOT_FOUND when it is missing, deleted or not
 * readable; ERR_FORBIDDEN when the subject may read it but not run commands in it. */
static int load_workspace(struct chat_service *svc, const struct subject *sub, const char *id,
                          struct workspace *ws, struct err *e)
{
    struct err le = ERR_INIT;
    if (!uuid_valid(id))
        return rbac_not_found(e);
    if (store_workspace_get(svc->st, id, ws, &le) < 0) {
        if (!err_is(&le, ERR_NOT_FOUND))
            return err_move(e, &le);
        err_clear(&le);
        return rbac_not_found(e);
    }
    struct rbac_object obj = {RBAC_WORKSPACE, ws->id, ws->owner_id};
    if (ws->deleted || !rbac_allowed(sub, RBAC_READ, &obj)) {
        workspace_clear(ws);
        return rbac_not_found(e);
    }
    /* The chat's tools run commands in the workspace: reading it is not enough (403, since
     * the caller can see it). */
    if (rbac_authorize(sub, RBAC_EXEC, &obj, e) < 0) {
        workspace_clear(ws);
        return -1;
    }
    return 0;
}

int chat_create(struct chat_service *svc, const struct subject *sub, const char *title,
                const char *workspace_id, struct chat *out, struct err *e)
{
    if (sub->kind != SUBJECT_USER || !sub->user_id[0])
        return err_set(e, ERR_FORBIDDEN, "Only users can create chats.");
    struct rbac_object obj = {RBAC_CHAT, NULL, sub->user_id};
    if (rbac_authorize(sub, RBAC_CREATE, &obj, e) < 0)
        return -1;
    if (!title || !*title)
        title = CHAT_TITLE_DEFAULT;
    if (!utf8_valid(title, strlen(title)))
        return jsonx_invalid(e, "title", "must be valid UTF-8");
    if (utf8_count(title) > CHAT_TITLE_MAX)
        return jsonx_invalid(e, "title", "must be at most %d characters", CHAT_TITLE_MAX);

    struct chat c = {0};
    uuid_v7(c.id);
    str_copy(c.owner_id, sizeof c.owner_id, sub->user_id);
    c.status = CHAT_WAITING;
    if (workspace_id && *workspace_id) {
        struct workspace ws;
        if (load_workspace(svc, sub, workspace_id, &ws, e) < 0)
            return -1;
        str_copy(c.workspace_id, sizeof c.workspace_id, ws.id);
        workspace_clear(&ws);
        struct workspace_build b;
        struct err le = ERR_INIT;
        if (store_build_latest(svc->st, c.workspace_id, &b, &le) == 0) {
            str_copy(c.build_id, sizeof c.build_id, b.id);
            workspace_build_clear(&b);
        } else if (!err_is(&le, ERR_NOT_FOUND)) {
            return err_move(e, &le);
        }
        err_clear(&le);
    }
    c.title = xstrdup(title);
    c.created_at = c.updated_at = time_now_us();
    if (store_chat_insert(svc->st, &c, e) < 0) {
        chat_clear(&c);
        return -1;
    }
    if (out)
        *out = c;
    else
        chat_clear(&c);
    return 0;
}

int chat_get(struct chat_service *svc, const struct subject *sub, const char *id, struct chat *out,
             struct err *e)
{
    if (!id || !uuid_valid(id))
        return rbac_not_found(e);
    struct err le = ERR_INIT;
    if (store_chat_get(svc->st, id, out, &le) < 0) {
        if (!err_is(&le, ERR_NOT_FOUND))
            return err_move(e, &le);
        err_clear(&le);
        return rbac_not_found(e);
    }
    if (!chat_visible(sub, out)) {
        chat_clear(out);
        return rbac_not_found(e);
    }
    return 0;
}

int chat_list(struct chat_service *svc, const struct subject *sub, struct chat_list *out,
              struct err *e)
{
    memset(out, 0, sizeof *out);
    if (sub->kind != SUBJECT_USER || !sub->user_id[0])
        return 0; /* only users own chats */
    return store_chat_list(svc->st, sub->user_id, out, e);
}

/* An id, or null when unbound. */
static json_t *id_json(const char *id)
{
    return id && *id ? json_string(id) : json_null();
}

/* A string as JSON, with invalid UTF-8 replaced rather than dropped. */
static json_t *text_json(const char *s)
{
    if (!s)
        return json_string("");
    json_t *v = json_string(s);
    if (v)
        return v;
    char *clean = utf8_sanitize(s, strlen(s), NULL);
    v = json_string(clean);
    free(clean);
    return v;
}

json_t *chat_to_json(const struct chat *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "owner_id", json_string(c->owner_id));
    json_object_set_new(o, "title", text_json(c->title));
    json_object_set_new(o, "status", json_string(chat_status_name(c->status)));
    json_object_set_new(o, "workspace_id", id_json(c->workspace_id));
    json_object_set_new(o, "build_id", id_json(c->build_id));
    json_object_set_new(o, "agent_id", id_json(c->agent_id));
    json_object_set_new(o, "created_at", jsonx_time(c->created_at));
    json_object_set_new(o, "updated_at", jsonx_time(c->updated_at));
    json_object_set_new(o, "last_error",
                        c->status == CHAT_ERROR && c->last_error ? text_json(c->last_error)
                                                                 : json_null());
    return o;
}

void chat_publish(struct chat_service *svc, const struct chat *c)
{
    json_t *ev = json_object();
    json_object_set_new(ev, "kind", json_string("status_change"));
    json_object_set_new(ev, "chat", chat_to_json(c));
    char *payload = jsonx_dump(ev);
    json_decref(ev);
    pubsub_publishf(svc->ps, payload, "chat:owner:%s", c->owner_id);
    pubsub_publishf(svc->ps, payload, "chat:%s", c->id);
    free(payload);
}

/* ---- tools ---- */

int chat_run_tool(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                  const char *name, const json_t *args, struct tool_cancel *cancel,
                  void (*progress)(void *arg, const char *message), void *progress_arg,
                  struct tool_answer *out, struct err *e)
{
    pthread_mutex_lock(&svc->lock);
    bool closing = svc->closing;
    pthread_mutex_unlock(&svc->lock);
    if (closing)
        return err_set(e, ERR_UNAVAILABLE, "The server is shutting down.");
    if (args && !json_is_object(args))
        return err_set(e, ERR_BAD_REQUEST, "Tool arguments must be a JSON object.");
    struct chat c;
    if (chat_get(svc, sub, chat_id, &c, e) < 0)
        return -1;
    if (!name || !tool_find(name)) {
        chat_clear(&c);
        return err_set(e, ERR_NOT_FOUND, "Tool \"%s\" not found.", name ? name : "");
    }
    /* A call without a cancel of its own still gets one, so that shutdown can end its waits. */
    struct tool_cancel own;
    bool owned = !cancel;
    if (owned) {
        tool_cancel_init(&own);
        cancel = &own;
    }
    struct inflight node = {.cancel = cancel};
    pthread_mutex_lock(&svc->lock);
    if (svc->closing) { /* shutdown began while the chat was read */
        pthread_mutex_unlock(&svc->lock);
        if (owned)
            tool_cancel_destroy(&own);
        chat_clear(&c);
        return err_set(e, ERR_UNAVAILABLE, "The server is shutting down.");
    }
    node.next = svc->inflight;
    if (node.next)
        node.next->prev = &node;
    svc->inflight = &node;
    pthread_mutex_t *mu = chat_workspace_mu_get_locked(svc, c.id);
    pthread_mutex_unlock(&svc->lock);

    struct tool_call call = {
        .chat_id = c.id,
        .owner_id = c.owner_id,
        .workspace_mu = mu,
        .args = args,
        .cancel = cancel,
        .progress = progress,
        .progress_arg = progress_arg,
    };
    tool_run(&svc->env, name, &call, out);

    pthread_mutex_lock(&svc->lock);
    if (node.prev)
        node.prev->next = node.next;
    else
        svc->inflight = node.next;
    if (node.next)
        node.next->prev = node.prev;
    chat_workspace_mu_put_locked(svc, c.id);
    pthread_mutex_unlock(&svc->lock);
    if (owned)
        tool_cancel_destroy(&own);
    chat_clear(&c);
    return 0;
}

const struct tool_env *chat_tool_env(struct chat_service *svc)
{
    return &svc->env;
}
