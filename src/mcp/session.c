/* session.c - the 2025-11-25 sessions: random ids bound to a user, idle expiry, a cap per user,
 * and the calls each has in flight (so that notifications/cancelled and DELETE reach them). */
#include "mcp/internal.h"

#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "base/times.h"

#include <stdlib.h>
#include <string.h>

#define SWEEP_INTERVAL_MS (60 * 1000)

int64_t mcp_now_ms(struct mcp_server *s)
{
    return s->now_ms ? s->now_ms(s->now_arg) : time_mono_us() / 1000;
}

static int *user_count(struct mcp_server *s, const char *user_id)
{
    int *n = map_get(&s->users, user_id);
    if (!n) {
        n = xcalloc(1, sizeof *n);
        map_put(&s->users, user_id, n);
    }
    return n;
}

static void session_free(struct mcp_session *sess)
{
    free(sess->client_name);
    free(sess);
}

void mcp_session_unref(struct mcp_server *s, struct mcp_session *sess)
{
    if (--sess->refs == 0)
        session_free(sess);
}

void mcp_session_end(struct mcp_server *s, struct mcp_session *sess)
{
    if (sess->ended)
        return;
    sess->ended = true;
    map_del(&s->sessions, sess->id);
    int *n = map_get(&s->users, sess->user_id);
    if (n && --*n <= 0)
        free(map_del(&s->users, sess->user_id));
    for (struct mcp_call *c = sess->calls; c; c = c->next)
        mcp_call_cancel(c);
    mcp_session_unref(s, sess);
}

struct lru {
    const char *user_id; /* NULL: any user */
    struct mcp_session *oldest;
};

static void find_lru(const char *key, void *value, void *arg)
{
    struct lru *l = arg;
    struct mcp_session *sess = value;
    if (sess->calls || (l->user_id && strcmp(sess->user_id, l->user_id) != 0))
        return;
    if (!l->oldest || sess->last_used_ms < l->oldest->last_used_ms)
        l->oldest = sess;
}

struct mcp_session *mcp_session_create(struct mcp_server *s, const char *user_id,
                                       const char *version, const char *chat_id,
                                       const char *client_name)
{
    mcp_session_sweep(s);
    int *n = user_count(s, user_id);
    if (*n >= s->max_per_user) {
        struct lru l = {.user_id = user_id};
        map_each(&s->sessions, find_lru, &l);
        if (!l.oldest)
            return NULL;
        mcp_session_end(s, l.oldest);
        n = user_count(s, user_id); /* ending it may have freed the counter */
    }
    struct mcp_session *sess = xcalloc(1, sizeof *sess);
    do
        secure_token(sess->id, MCP_SESSION_ID_LEN);
    while (map_get(&s->sessions, sess->id)); /* never, with 256 bits; cheap to be sure */
    str_copy(sess->user_id, sizeof sess->user_id, user_id);
    str_copy(sess->version, sizeof sess->version, version);
    str_copy(sess->chat_id, sizeof sess->chat_id, chat_id ? chat_id : "");
    sess->client_name = client_name && *client_name ? xstrdup(client_name) : NULL;
    sess->last_used_ms = mcp_now_ms(s);
    sess->refs = 1;
    map_put(&s->sessions, sess->id, sess);
    (*n)++;
    return sess;
}

struct mcp_session *mcp_session_find(struct mcp_server *s, const char *user_id, const char *id)
{
    mcp_session_sweep(s);
    struct mcp_session *sess = id ? map_get(&s->sessions, id) : NULL;
    if (!sess || strcmp(sess->user_id, user_id) != 0)
        return NULL;
    sess->last_used_ms = mcp_now_ms(s);
    return sess;
}

struct expired {
    int64_t before;
    struct mcp_session **list;
    size_t n;
};

static void find_expired(const char *key, void *value, void *arg)
{
    struct expired *x = arg;
    struct mcp_session *sess = value;
    if (!sess->calls && sess->last_used_ms < x->before) {
        x->list = xreallocarray(x->list, x->n + 1, sizeof *x->list);
        x->list[x->n++] = sess;
    }
}

void mcp_session_sweep(struct mcp_server *s)
{
    int64_t now = mcp_now_ms(s);
    if (now - s->last_sweep_ms < SWEEP_INTERVAL_MS && s->last_sweep_ms)
        return;
    s->last_sweep_ms = now;
    struct expired x = {.before = now - s->idle_ms};
    map_each(&s->sessions, find_expired, &x); /* collected first: ending changes the map */
    for (size_t i = 0; i < x.n; i++)
        mcp_session_end(s, x.list[i]);
    free(x.list);
}

static void drop_session(void *value)
{
    struct mcp_session *sess = value;
    sess->ended = true;
    mcp_session_unref(NULL, sess);
}

void mcp_sessions_free(struct mcp_server *s)
{
    map_free(&s->sessions, drop_session);
    map_free(&s->users, free);
}

size_t mcp_session_count(struct mcp_server *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->sessions.len;
    pthread_mutex_unlock(&s->lock);
    return n;
}
