/* internal.h - what the files of src/mcp/ share (not for use outside it). */
#ifndef BERTH_MCP_INTERNAL_H
#define BERTH_MCP_INTERNAL_H

#include "base/map.h"
#include "mcp/mcp.h"

#include <pthread.h>
#include <stdatomic.h>

/* A 2025-11-25 session. Guarded by the server's lock, except chat_id (see chat_mu). */
struct mcp_session {
    char id[MCP_SESSION_ID_LEN + 1];
    char user_id[UUID_STR_LEN];
    char version[16];           /* the negotiated protocol version */
    char chat_id[UUID_STR_LEN]; /* "" until the first tools/call creates the chat */
    char *client_name;          /* clientInfo.name (heap) or NULL: the chat's title */
    int64_t last_used_ms;
    bool initialized;       /* notifications/initialized arrived */
    bool ended;             /* deleted, expired or evicted: out of the table */
    int refs;               /* the table's and one per call */
    struct mcp_call *calls; /* in flight */
};

struct mcp_call {
    struct mcp_server *srv;
    struct mcp_session *session; /* a reference; NULL when stateless */
    struct subject sub;
    json_t *id;             /* the request's id (a reference) */
    char *id_key;           /* its compact JSON, matched against requestId */
    char *name;             /* the tool */
    json_t *args;           /* the arguments object (a reference), or NULL */
    json_t *progress_token; /* a reference, or NULL */
    bool stateless;
    char chat_id[UUID_STR_LEN]; /* stateless: Berth-Chat-Id ("": the default chat) */
    bool prepared;              /* the chat was resolved: resolved_chat, or prepare_err */
    char resolved_chat[UUID_STR_LEN];
    struct err prepare_err;
    struct tool_cancel cancel;
    /* The client canceled it (notifications/cancelled, DELETE, a closed stateless stream): no
     * response then. A cancel from elsewhere (server shutdown) only ends the tool's waits, and
     * the client gets the tool's answer. */
    atomic_bool canceled;
    void (*emit)(void *arg, const char *message);
    void *emit_arg;
    pthread_mutex_t emit_mu; /* serializes emitting; guards what follows */
    int64_t progress;        /* the last progress value sent */
    int64_t last_emit_ms;    /* when the last progress notification went out */
    int64_t started_ms;
    char *last_message;                     /* of the last progress notification (heap) */
    bool finished;                          /* the response went out (or the call was canceled) */
    struct mcp_call *prev, *next;           /* in the session's list */
    struct mcp_call *tick_prev, *tick_next; /* in the server's list of calls with progress */
};

struct mcp_server {
    struct mcp_backend backend;
    char *version;
    int64_t idle_ms;
    int max_per_user;
    int64_t (*now_ms)(void *arg);
    void *now_arg;
    char *tools_json;     /* the tools array of tools/list (compact JSON) */
    pthread_mutex_t lock; /* guards sessions, users, last_sweep_ms and the sessions' fields */
    struct map sessions;  /* id -> struct mcp_session */
    struct map users;     /* user id -> int * (open sessions) */
    int64_t last_sweep_ms;
    pthread_mutex_t chat_mu;  /* serializes creating chats (a session's, a default one) */
    struct map default_chats; /* user id -> heap chat id (under chat_mu) */
    /* Progress heartbeats: a thread that repeats the last progress of calls quiet for longer
     * than heartbeat_ms (ticking is guarded by lock). */
    int64_t heartbeat_ms;
    struct mcp_call *ticking;
    pthread_t ticker;
    pthread_cond_t tick_cond;
    bool stopping;
};

/* call.c */
/* The heartbeat thread's body (arg: the server). */
void *mcp_ticker_main(void *arg);

/* tools.c */
/* The tools array of tools/list (compact JSON, heap): every chat tool in tool_defs order. */
char *mcp_tools_json(void);
/* The instructions sent with initialize and server/discover. */
extern const char mcp_instructions[];

/* session.c (all with s->lock held unless noted) */
int64_t mcp_now_ms(struct mcp_server *s);
/* Creates a session for the user (evicting the user's least recently used idle session when at
 * the cap); NULL when every one of the user's sessions has a call in flight. */
struct mcp_session *mcp_session_create(struct mcp_server *s, const char *user_id,
                                       const char *version, const char *chat_id,
                                       const char *client_name);
/* The user's live session with this id (touching it), or NULL. */
struct mcp_session *mcp_session_find(struct mcp_server *s, const char *user_id, const char *id);
/* Ends a session: out of the table, its calls canceled. */
void mcp_session_end(struct mcp_server *s, struct mcp_session *sess);
void mcp_session_unref(struct mcp_server *s, struct mcp_session *sess);
/* Ends sessions idle for longer than idle_ms (at most once a minute). */
void mcp_session_sweep(struct mcp_server *s);
/* Frees every session (server teardown). */
void mcp_sessions_free(struct mcp_server *s);

#endif
