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
#include "chat/loop.h"
#include "chat/provider.h"
#include "chat/tool.h"
#include "pubsub/pubsub.h"
#include "rbac/rbac.h"
#include "store/store.h"

#include <jansson.h>

struct chat_service;

/* The chat workers: threads that claim pending chats and run their turns (chat/loop.h). */
struct chat_loop_config {
    struct llm_provider *provider; /* borrowed; NULL: none configured (turns fail saying so) */
    int workers;                   /* worker threads; 0: none (messages are stored, unanswered) */
    const char *replica_id; /* worker ids are "<replica id>:<process nonce>"; NULL: "local" */
    int64_t lease_ms;       /* a claim holds this long without heartbeats; 0: 60000 */
    int64_t heartbeat_ms;   /* 0: a quarter of the lease */
    int64_t poll_ms;        /* the backstop claim poll (posts wake workers at once); 0:
                               5000 */
    struct chat_loop_limits limits;
};

struct chat_service_config {
    struct store *st;        /* borrowed */
    struct pubsub *ps;       /* borrowed */
    struct agentconn *ac;    /* borrowed */
    struct tool_waits waits; /* 0 fields take the defaults */
    struct chat_loop_config loop;
};

/* A new service (free with chat_service_free after every caller stopped). Never NULL. */
struct chat_service *chat_service_new(const struct chat_service_config *cfg);
/* Starts the chat workers (cfg->loop.workers threads and a heartbeat thread). ERR_INTERNAL when
 * a thread cannot be created. Call once. */
int chat_service_start(struct chat_service *svc, struct err *e);
/* Server shutdown, before the threads that run tools are joined: cancels every tool call in
 * progress (its waits end at once) and refuses later ones with ERR_UNAVAILABLE; stops the
 * workers, giving running turns back unfinished (pending: the next start claims them). */
void chat_service_shutdown(struct chat_service *svc);
/* Waits for the tool threads of turns given back (a call waiting for an agent ends when the
 * agent's stream closes: free after the HTTP server stopped), then frees the service. */
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
 * updated_at, last_error} (ids null when unbound; last_error null unless status is error). New
 * reference. */
json_t *chat_to_json(const struct chat *c);
/* Publishes {"kind": "status_change", "chat": ...} on "chat:owner:<owner id>" and on
 * "chat:<chat id>" (the chat's own stream). */
void chat_publish(struct chat_service *svc, const struct chat *c);

/* ---- messages and turns ---- */

#define CHAT_MESSAGE_MAX_BYTES (64 * 1024) /* one message's content */
#define CHAT_QUEUE_MAX         20          /* messages waiting while a turn runs */

/* Adds the subject's message to the chat: it joins the conversation and the chat becomes
 * pending (a worker is woken), or, while a turn runs, it waits in the queue (*queued) and joins
 * when the turn ends. out receives the stored message (clear with chat_message_clear).
 * ERR_NOT_FOUND (not the subject's chat), ERR_BAD_REQUEST naming "content" (empty, over
 * CHAT_MESSAGE_MAX_BYTES, not UTF-8), ERR_CONFLICT when CHAT_QUEUE_MAX messages already wait. */
int chat_post_message(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                      const char *content, struct chat_message *out, bool *queued, struct err *e);
/* The subject's chat's messages with id > after, oldest first (at most limit; 0: all). */
int chat_messages(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                  int64_t after, int limit, struct chat_message_list *out, struct err *e);
/* A message as JSON: {id, role, created_at, parts}. New reference. */
json_t *chat_message_to_json(const struct chat_message *m);
/* Stops the subject's chat's turn: a running turn ends at once (its tool calls are canceled and
 * answered as interrupted; the chat then waits); a pending chat waits again. out receives the
 * chat as it is now. */
int chat_interrupt(struct chat_service *svc, const struct subject *sub, const char *chat_id,
                   struct chat *out, struct err *e);

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
