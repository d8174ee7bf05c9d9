/* service.h - what the chat service's files share: the real dependencies of the tools
 * (env.c, tool_db.c) and the per-chat workspace locks (service.c). Not for use outside
 * src/chat/ (and its unit tests). */
#ifndef BERTH_CHAT_SERVICE_H
#define BERTH_CHAT_SERVICE_H

#include "agentconn/agentconn.h"
#include "base/map.h"
#include "chat/chat.h"
#include "chat/internal.h"
#include "chat/tool.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

#include <pthread.h>
#include <stddef.h>

/* What the real environment reaches (all borrowed). */
struct chat_env_deps {
    struct store *st;
    struct pubsub *ps;
    struct agentconn *ac;
    struct chat_ws_ctx ws; /* the workspace operations' context (filled by chat_env_init) */
};

/* A chat's workspace lock, shared by the calls acting for the chat at the moment. */
struct chat_mutex {
    pthread_mutex_t mu; /* first: callers hold a pointer to it */
    int refs;
};

/* A tool call in progress, so that shutdown can cancel it. Lives on the caller's stack. */
struct inflight {
    struct tool_cancel *cancel;
    struct inflight *prev, *next;
};

/* A turn this process runs (workers.c), so that interrupts, heartbeats and shutdown reach it.
 * Lives on its worker's stack. */
struct chat_active {
    char chat_id[UUID_STR_LEN];
    struct chat_turn_ctl ctl;
    struct chat_active *prev, *next;
};

struct chat_service {
    struct store *st;
    struct pubsub *ps;
    struct chat_env_deps deps;
    struct tool_env env;
    struct chat_loop_config loop; /* strings copied below */
    char replica_id[64];
    char worker_id[CHAT_WORKER_ID_LEN];
    /* Held from a status change in the store to its event, so that events of one chat are
     * published in the order of the changes (posts, claims, ends of turns, interrupts). */
    pthread_mutex_t publish_mu;
    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t wake;  /* workers: a chat may be claimable; shutdown: batches ended */
    struct map mutexes;   /* chat id -> struct chat_mutex */
    struct inflight *inflight;
    struct chat_active *active;
    uint64_t posts; /* wake-ups sent to the workers */
    int batches;    /* tool batches of turns whose threads still run */
    bool closing;
    pthread_t *threads; /* the workers, then the heartbeat thread */
    int nthreads;
};

/* Locked variants of chat_workspace_mu_get/_put (svc->lock held). */
pthread_mutex_t *chat_workspace_mu_get_locked(struct chat_service *svc, const char *chat_id);
void chat_workspace_mu_put_locked(struct chat_service *svc, const char *chat_id);
/* Wakes the workers: a chat may have become claimable. */
void chat_workers_wake(struct chat_service *svc);
/* Interrupts the turn of chat_id when this process runs it; false when it does not. */
bool chat_workers_interrupt(struct chat_service *svc, const char *chat_id);
/* Stops the workers (running turns are abandoned and released) and joins them (workers.c). */
void chat_workers_stop(struct chat_service *svc);
/* Waits until the tool threads of abandoned turns have ended. */
void chat_workers_drain(struct chat_service *svc);

/* The tools' data over the store (tool_db.c): arg is st. */
void chat_tool_db_init(struct tool_db *db, struct store *st);

/* Fills env with the real dependencies (env.c): the store-backed db; the agent connection
 * (dial waits for agentconn_connected, woken by "agent:<id>" events; call is agentconn_call);
 * the system clocks and pubsub waits; the given waits (copied; 0 fields take the defaults
 * wherever the tools resolve them). The workspace operations and on_chat_updated are left for
 * the caller. deps is borrowed and must outlive env. */
void chat_env_init(struct tool_env *env, struct chat_env_deps *deps,
                   const struct tool_waits *waits);

/* The chat's workspace lock: create_workspace, start_workspace and stop_workspace of one chat
 * serialize on it, whoever calls them (the tool endpoint, MCP, the chat loop). _get takes a
 * reference (never NULL; the lock is created on first use), _put gives it back once the call
 * ended; the lock is freed with its last reference. Thread-safe. */
pthread_mutex_t *chat_workspace_mu_get(struct chat_service *svc, const char *chat_id);
void chat_workspace_mu_put(struct chat_service *svc, const char *chat_id);
/* How many chats have a workspace lock right now (for tests). */
size_t chat_workspace_mu_count(struct chat_service *svc);

#endif
