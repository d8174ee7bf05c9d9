/* service.h - what the chat service's files share: the real dependencies of the tools
 * (env.c, tool_db.c) and the per-chat workspace locks (service.c). Not for use outside
 * src/chat/ (and its unit tests). */
#ifndef BERTH_CHAT_SERVICE_H
#define BERTH_CHAT_SERVICE_H

#include "agentconn/agentconn.h"
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
