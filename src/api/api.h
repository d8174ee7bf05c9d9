/* api.h - the HTTP API: routes under /api/v2 (and /api/experimental), one file per resource.
 *
 * Handlers parse and validate the request, authenticate and authorize the caller, call the
 * domain, and render JSON in the shapes of spec/api.md. Errors are rendered from `struct err`
 * ({message, detail, validations} with the kind's status). No SQL lives here.
 *
 * Ownership: api_register borrows `api` for the life of the HTTP server.
 */
#ifndef BERTH_API_API_H
#define BERTH_API_API_H

#include "http/http.h"
#include "identity/identity.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

struct agentconn;
struct chat_service;
struct mcp_server;

struct api {
    struct store *st;
    struct pubsub *ps;
    struct identity *id;
    struct agentconn *ac;
    struct chat_service *chats;
    struct mcp_server *mcp; /* the MCP endpoint's protocol state */
    const char *access_url; /* how users and agents reach the server */
    const char *data_dir;   /* where backups go (<data dir>/backups) */
    const char *version;
};

/* Adds every route to the server. */
void api_register(struct http_server *srv, struct api *api);

#endif
