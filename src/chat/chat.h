/* chat.h - chats: the service the REST API, MCP and the chat loop share.
 *
 * A chat belongs to its owner and only the owner sees it (anyone else gets ERR_NOT_FOUND, as if
 * it did not exist). A chat is bound to at most one workspace (workspace, build and agent ids);
 * the chat tools (chat/tool.h) change the binding, and every change is published as the event
 * {"kind": "status_change", "chat": <Chat>} on the pubsub channel "chat:owner:<owner id>"
 * (the payload is the event's JSON text).
 *
 * The service builds the tools' environment over the real store, builder, agent connections
 * and pubsub (chat/env.c), and keeps one workspace lock per chat so create_workspace,
 * start_workspace and stop_workspace of one chat never overlap, whoever calls them (the tool
 * endpoint, MCP sessions, the chat loop).
 *
 * Thread-safe.
 */
#ifndef BERTH_CHAT_CHAT_H
#define BERTH_CHAT_CHAT_H

#include "agentconn/agentconn.h"
#include "base/err.h"
#include "chat/tool.h"
#include "pubsub/pubsub.h"
#include "rbac/rbac.h"
#include "store/store.h"

#include <jansson.h>

struct chat_service;

struct chat_service_config {
    struct store *st;        /* borrowed */
    struct pubsub *ps;       /* borrowed */
    struct agentconn *ac;    /* borrowed */
    struct tool_waits waits; /* 0 fields take the defaults */
};

/* A new service (free with chat_service_free after every caller stopped). Never NULL. */
struct chat_service *chat_service_new(const struct chat_service_config *cfg);
/* Server shutdown, before the threads that run tools are joined: cancels every tool call in
 * progress (its waits end at once) and refuses later ones with ERR_UNAVAILABLE. */
void chat_service_shutdown(struct chat_service *svc);
void chat_service_free(struct chat_service *svc);

/* Creates a chat owned by the subject (status waiting). title may be NULL (then "New chat");
 * at most 256 characters. workspace_id may be NULL; when given, the subject must be able to run
 * commands in the workspace (ERR_NOT_FOUND when it cannot even read it, ERR_FORBIDDEN when it can
 * only read it) and the chat starts bound to it and its latest build. */
int chat_create(struct chat_service *svc, const struct subject *sub, const char *title,
                const char *workspace_id, struct chat *out, struct err *e);
/* The subject's chat (ERR_NOT_FOUND when it is not theirs or does not exist). */
int chat_get(struct chat_service *svc, const struct subject *sub, const char *id, struct chat *out,
             struct err *e);
/* The subject's chats, most recently updated first. */
int chat_list(struct chat_service *svc, const struct subject *sub, struct chat_list *out,
              struct err *e);

/* The chat as JSON: {id, owner_id, title, status, workspace_id, build_id, agent_id, created_at,
 * updated_at} (ids null when unbound). New reference. */
json_t *chat_to_json(const struct chat *c);
/* Publishes {"kind": "status_change", "chat": ...} on "chat:owner:<owner id>". */
void chat_publish(struct chat_service *svc, const struct chat *c);

/* Runs tool name for the subject's chat with args (a JSON object, borrowed; NULL = {}).
 * ERR_NOT_FOUND for an unknown chat (or not the subject's) or an unknown tool, ERR_BAD_REQUEST
 * when args is not an object, ERR_UNAVAILABLE after chat_service_shutdown; otherwise 0 and out
 * (zeroed, or holding an earlier answer: it is cleared first) holds the tool's answer. The call
 * runs as the chat's owner with the chat's workspace lock. cancel, progress may be NULL. Blocks
 * for as long as the tool waits: call from a worker thread. */
int chat_run_tool(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                  const char *name, const json_t *args, struct tool_cancel *cancel,
                  void (*progress)(void *arg, const char *message), void *progress_arg,
                  struct tool_answer *out, struct err *e);

/* The tools' environment over the real dependencies (for the chat loop and MCP). Borrowed; valid
 * until chat_service_free. */
const struct tool_env *chat_tool_env(struct chat_service *svc);

#endif
