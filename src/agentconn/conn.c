/* conn.c - connected agents: sessions, calls over the request stream, heartbeats, reports. */
#include "agentconn/agentconn.h"

#include "base/json.h"
#include "base/log.h"
#include "base/map.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"
#include "base/uuid.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct agentconn_session {
    char agent_id[UUID_STR_LEN];
    char workspace_id[UUID_STR_LEN];
    struct agentconn_link link;
    int inflight;
};

struct call {
    char id[32];
    char agent_id[UUID_STR_LEN];
    struct agentconn_session *session; /* NULL once the session went away */
    bool done;
    json_t *result;
    struct err err;
    pthread_cond_t cond;
};

struct agentconn {
    struct store *st;
    struct pubsub *ps;
    struct agentconn_config cfg;
    char replica_id[64];
    pthread_mutex_t lock;
    struct map sessions; /* agent id -> current session */
    struct map calls;    /* call id -> struct call */
    uint64_t next_call;
    /* heartbeats waiting to be written */
    pthread_mutex_t seen_lock;
    struct map seen; /* agent id -> int64_t* */
    pthread_t flusher;
    pthread_cond_t flush_cond;
    bool stopping;
};

static void publish(struct agentconn *ac, const char *agent_id, const char *workspace_id,
                    const char *what)
{
    pubsub_publishf(ac->ps, what, "agent:%s", agent_id);
    if (workspace_id && *workspace_id)
        pubsub_publishf(ac->ps, what, "workspace:%s", workspace_id);
}

static void flush_seen(struct agentconn *ac)
{
    pthread_mutex_lock(&ac->seen_lock);
    struct map batch = ac->seen;
    memset(&ac->seen, 0, sizeof ac->seen);
    pthread_mutex_unlock(&ac->seen_lock);
    if (batch.len == 0) {
        map_free(&batch, free);
        return;
    }
    const char **ids = xcalloc(batch.len, sizeof *ids);
    int64_t *times = xcalloc(batch.len, sizeof *times);
    size_t n = 0;
    for (size_t i = 0; i < batch.cap; i++) {
        struct map_slot *s = &batch.slots[i];
        if (!s->key || !s->value)
            continue;
        ids[n] = s->key;
        times[n] = *(int64_t *)s->value;
        n++;
    }
    struct err e = ERR_INIT;
    if (store_agents_seen(ac->st, ids, times, n, &e) < 0)
        log_warn("agentconn", "record heartbeats failed: %s", err_msg(&e));
    err_clear(&e);
    free(ids);
    free(times);
    map_free(&batch, free);
}

static void *flusher_main(void *arg)
{
    struct agentconn *ac = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&ac->lock);
    while (!ac->stopping) {
        struct timespec deadline = time_mono_deadline(ac->cfg.flush_ms);
        pthread_cond_timedwait(&ac->flush_cond, &ac->lock, &deadline);
        pthread_mutex_unlock(&ac->lock);
        flush_seen(ac);
        pthread_mutex_lock(&ac->lock);
    }
    pthread_mutex_unlock(&ac->lock);
    return NULL;
}

static void cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

struct agentconn *agentconn_new(struct store *st, struct pubsub *ps,
                                const struct agentconn_config *cfg)
{
    struct agentconn *ac = xcalloc(1, sizeof *ac);
    ac->st = st;
    ac->ps = ps;
    if (cfg)
        ac->cfg = *cfg;
    if (ac->cfg.flush_ms <= 0)
        ac->cfg.flush_ms = 2000;
    if (ac->cfg.max_inflight <= 0)
        ac->cfg.max_inflight = 64;
    str_copy(ac->replica_id, sizeof ac->replica_id, cfg && cfg->replica_id ? cfg->replica_id : "");
    pthread_mutex_init(&ac->lock, NULL);
    pthread_mutex_init(&ac->seen_lock, NULL);
    cond_init_mono(&ac->flush_cond);
    pthread_create(&ac->flusher, NULL, flusher_main, ac);
    return ac;
}

/* Ends a call with an error; called with the lock held. */
static void fail_call(struct call *c, enum err_kind kind, const char *msg)
{
    if (c->done)
        return;
    err_set(&c->err, kind, "%s", msg);
    c->done = true;
    c->session = NULL;
    pthread_cond_signal(&c->cond);
}

struct fail_arg {
    struct agentconn_session *s; /* NULL: every call */
    enum err_kind kind;
    const char *msg;
};

static void fail_matching(const char *key, void *value, void *arg)
{
    struct call *c = value;
    struct fail_arg *fa = arg;
    if (!fa->s || c->session == fa->s)
        fail_call(c, fa->kind, fa->msg);
}

void agentconn_free(struct agentconn *ac)
{
    if (!ac)
        return;
    pthread_mutex_lock(&ac->lock);
    ac->stopping = true;
    struct fail_arg fa = {NULL, ERR_UNAVAILABLE, "The server is shutting down."};
    map_each(&ac->calls, fail_matching, &fa);
    pthread_cond_broadcast(&ac->flush_cond);
    pthread_mutex_unlock(&ac->lock);
    pthread_join(ac->flusher, NULL);
    flush_seen(ac);
    map_free(&ac->sessions, free);
    map_free(&ac->calls, NULL); /* calls belong to their waiting threads */
    map_free(&ac->seen, free);
    pthread_cond_destroy(&ac->flush_cond);
    pthread_mutex_destroy(&ac->seen_lock);
    pthread_mutex_destroy(&ac->lock);
    free(ac);
}

int agentconn_authenticate(struct agentconn *ac, const char *token, struct agent_auth *out,
                           struct err *e)
{
    if (!token || !uuid_valid(token))
        return err_set(e, ERR_UNAUTHORIZED, "Workspace agent token invalid.");
    char lower[UUID_STR_LEN];
    str_copy(lower, sizeof lower, token);
    str_lower(lower);
    unsigned char hash[32];
    secure_sha256(lower, strlen(lower), hash);
    struct err le = ERR_INIT;
    if (store_agent_auth(ac->st, hash, out, &le) < 0) {
        if (!err_is(&le, ERR_NOT_FOUND))
            return err_move(e, &le);
        err_clear(&le);
        return err_set(e, ERR_UNAUTHORIZED, "Workspace agent not authorized.");
    }
    bool latest =
        out->build_number == out->latest_number && out->build_transition == TRANSITION_START;
    /* While a newer build runs (a stop, or a start replacing the agents), the agents it is
     * ending may still report shutting_down and off. */
    bool being_stopped =
        job_status_active(out->latest_status) && out->build_number == out->latest_start_before;
    if (out->workspace_deleted || !(latest || being_stopped)) {
        agent_auth_clear(out);
        return err_set(e, ERR_UNAUTHORIZED, "Workspace agent not authorized.");
    }
    return 0;
}

struct agentconn_session *agentconn_attach(struct agentconn *ac, const struct agent_auth *a,
                                           struct agentconn_link link)
{
    struct agentconn_session *s = xcalloc(1, sizeof *s);
    str_copy(s->agent_id, sizeof s->agent_id, a->agent.id);
    str_copy(s->workspace_id, sizeof s->workspace_id, a->workspace_id);
    s->link = link;
    pthread_mutex_lock(&ac->lock);
    struct agentconn_session *old = map_put(&ac->sessions, s->agent_id, s);
    if (old) {
        struct fail_arg fa = {old, ERR_DISCONNECTED,
                              "The agent reconnected before answering; retry the request."};
        map_each(&ac->calls, fail_matching, &fa);
    }
    pthread_mutex_unlock(&ac->lock);
    struct err e = ERR_INIT;
    if (store_agent_connected(ac->st, s->agent_id, time_now_us(), ac->replica_id, &e) < 0)
        log_warn("agentconn", "record connection of agent %s failed: %s", s->agent_id, err_msg(&e));
    err_clear(&e);
    log_debug("agentconn", "agent %s connected (workspace %s)", s->agent_id, s->workspace_id);
    publish(ac, s->agent_id, s->workspace_id, "connected");
    return s;
}

void agentconn_detach(struct agentconn *ac, struct agentconn_session *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&ac->lock);
    bool current = map_get(&ac->sessions, s->agent_id) == s;
    if (current)
        map_del(&ac->sessions, s->agent_id);
    struct fail_arg fa = {s, ERR_DISCONNECTED, "The agent disconnected before answering."};
    map_each(&ac->calls, fail_matching, &fa);
    pthread_mutex_unlock(&ac->lock);
    if (current) {
        struct err e = ERR_INIT;
        if (store_agent_disconnected(ac->st, s->agent_id, time_now_us(), &e) < 0)
            log_warn("agentconn", "record disconnection of agent %s failed: %s", s->agent_id,
                     err_msg(&e));
        err_clear(&e);
        log_debug("agentconn", "agent %s disconnected", s->agent_id);
        publish(ac, s->agent_id, s->workspace_id, "disconnected");
    }
    free(s);
}

bool agentconn_connected(struct agentconn *ac, const char *agent_id)
{
    pthread_mutex_lock(&ac->lock);
    bool c = map_get(&ac->sessions, agent_id) != NULL;
    pthread_mutex_unlock(&ac->lock);
    return c;
}

void agentconn_heartbeat(struct agentconn *ac, const struct agent_auth *a)
{
    int64_t *t = xmalloc(sizeof *t);
    *t = time_now_us();
    pthread_mutex_lock(&ac->seen_lock);
    free(map_put(&ac->seen, a->agent.id, t));
    pthread_mutex_unlock(&ac->seen_lock);
}

int agentconn_report_lifecycle(struct agentconn *ac, const struct agent_auth *a, const char *state,
                               struct err *e)
{
    enum agent_lifecycle l;
    if (!state || agent_lifecycle_parse(state, &l) < 0)
        return jsonx_invalid(e, "state",
                             "must be one of created, starting, start_timeout, start_error, "
                             "ready, shutting_down, shutdown_timeout, shutdown_error, off");
    if (store_agent_set_lifecycle(ac->st, a->agent.id, l, time_now_us(), e) < 0)
        return -1;
    log_debug("agentconn", "agent %s is %s", a->agent.id, state);
    publish(ac, a->agent.id, a->workspace_id, "lifecycle");
    return 0;
}

int agentconn_append_logs(struct agentconn *ac, const struct agent_auth *a, const json_t *logs,
                          struct err *e)
{
    if (!json_is_array(logs))
        return jsonx_invalid(e, "logs", "must be an array");
    size_t n = json_array_size(logs);
    if (n > 1000)
        return jsonx_invalid(e, "logs", "must have at most 1000 items");
    struct agent_log *items = xcalloc(n ? n : 1, sizeof *items);
    int64_t now = time_now_us();
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(logs, i);
        const char *out = jsonx_get_str(l, "output", NULL);
        if (!out) {
            jsonx_invalid(e, "logs", "item %zu: output must be a string", i);
            goto out;
        }
        size_t len = strlen(out);
        items[i].output = xstrndup(out, len > 4096 ? utf8_cut(out, 4096) : len);
        items[i].created_at = now;
        str_copy(items[i].level, sizeof items[i].level, jsonx_get_str(l, "level", "info"));
        str_copy(items[i].source, sizeof items[i].source, jsonx_get_str(l, "source", ""));
    }
    if (store_agent_logs_insert(ac->st, a->agent.id, items, n, AGENT_LOGS_MAX, e) < 0)
        goto out;
    pubsub_publishf(ac->ps, "logs", "agent:%s:logs", a->agent.id);
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(items[i].output);
    free(items);
    return rc;
}

static enum err_kind kind_named(const char *name)
{
    for (int k = ERR_NONE; k <= ERR_TIMEOUT; k++)
        if (name && strcmp(err_kind_name((enum err_kind)k), name) == 0)
            return (enum err_kind)k;
    return ERR_INTERNAL;
}

int agentconn_deliver(struct agentconn *ac, const struct agent_auth *a, const char *call_id,
                      const json_t *result, const json_t *error, struct err *e)
{
    if (!call_id)
        return jsonx_invalid(e, "id", "is required");
    pthread_mutex_lock(&ac->lock);
    struct call *c = map_get(&ac->calls, call_id);
    int rc = 0;
    if (c && strcmp(c->agent_id, a->agent.id) != 0) {
        rc = err_set(e, ERR_FORBIDDEN, "This call was not sent to this agent.");
    } else if (c && !c->done) {
        if (error) {
            err_set(&c->err, kind_named(jsonx_get_str(error, "kind", NULL)), "%s",
                    jsonx_get_str(error, "message", "the agent failed the request"));
            const char *detail = jsonx_get_str(error, "detail", NULL);
            if (detail)
                err_detail(&c->err, "%s", detail);
        } else {
            c->result = json_deep_copy(result ? result : json_null());
        }
        c->done = true;
        pthread_cond_signal(&c->cond);
    }
    pthread_mutex_unlock(&ac->lock);
    return rc;
}

void agentconn_abort_init(struct agentconn_abort *a)
{
    a->fired = false;
    a->call = NULL;
}

void agentconn_abort_fire(struct agentconn *ac, struct agentconn_abort *a)
{
    pthread_mutex_lock(&ac->lock);
    a->fired = true;
    if (a->call)
        pthread_cond_signal(&((struct call *)a->call)->cond);
    pthread_mutex_unlock(&ac->lock);
}

int agentconn_call(struct agentconn *ac, const char *agent_id, const json_t *request,
                   int64_t timeout_ms, json_t **result, struct err *e)
{
    return agentconn_call_abortable(ac, agent_id, request, timeout_ms, NULL, result, e);
}

int agentconn_call_abortable(struct agentconn *ac, const char *agent_id, const json_t *request,
                             int64_t timeout_ms, struct agentconn_abort *abort, json_t **result,
                             struct err *e)
{
    struct call c;
    memset(&c, 0, sizeof c);
    cond_init_mono(&c.cond);
    str_copy(c.agent_id, sizeof c.agent_id, agent_id);
    pthread_mutex_lock(&ac->lock);
    struct agentconn_session *s = map_get(&ac->sessions, agent_id);
    if (!s || ac->stopping) {
        pthread_mutex_unlock(&ac->lock);
        pthread_cond_destroy(&c.cond);
        return err_set(e, ERR_UNAVAILABLE, "The workspace agent is not connected.");
    }
    if (s->inflight >= ac->cfg.max_inflight) {
        int n = s->inflight;
        pthread_mutex_unlock(&ac->lock);
        pthread_cond_destroy(&c.cond);
        err_set(e, ERR_RATE_LIMITED, "The workspace agent is busy.");
        return err_detail(e, "%d requests are already in flight; retry later.", n);
    }
    snprintf(c.id, sizeof c.id, "c%llu", (unsigned long long)++ac->next_call);
    c.session = s;
    s->inflight++;
    map_put(&ac->calls, c.id, &c);
    json_t *msg = json_deep_copy(request);
    json_object_set_new(msg, "id", json_string(c.id));
    char *text = jsonx_dump(msg);
    json_decref(msg);
    /* Sent under the lock: once agentconn_detach returns, nothing uses the link again. */
    int sent = s->link.send(s->link.ctx, "request", text);
    free(text);

    struct timespec deadline = time_mono_deadline(timeout_ms);
    if (sent < 0)
        fail_call(&c, ERR_DISCONNECTED, "The agent disconnected before answering.");
    if (abort)
        abort->call = &c;
    while (!c.done) {
        if (abort && abort->fired) {
            /* Tell the agent to stop the request; its late answer finds no call and is dropped. */
            if (c.session) {
                char *cancel = str_printf("{\"type\":\"cancel\",\"id\":\"%s-cancel\","
                                          "\"call_id\":\"%s\"}",
                                          c.id, c.id);
                c.session->link.send(c.session->link.ctx, "request", cancel);
                free(cancel);
            }
            err_set(&c.err, ERR_CANCELED, "The request to the workspace agent was canceled.");
            c.done = true;
            break;
        }
        if (pthread_cond_timedwait(&c.cond, &ac->lock, &deadline) != 0 && !c.done) {
            char d[32];
            duration_format(timeout_ms, d, sizeof d);
            err_set(&c.err, ERR_TIMEOUT, "The workspace agent did not answer within %s.", d);
            c.done = true;
        }
    }
    if (abort)
        abort->call = NULL;
    map_del(&ac->calls, c.id);
    /* A session that went away cleared c.session (and was freed): only a live one counts. */
    if (c.session)
        c.session->inflight--;
    pthread_mutex_unlock(&ac->lock);
    pthread_cond_destroy(&c.cond);
    if (c.err.kind != ERR_NONE)
        return err_move(e, &c.err);
    *result = c.result;
    return 0;
}
