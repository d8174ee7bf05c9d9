/* mcp.h - berth's MCP server, without the transport: JSON-RPC 2.0 messages, the MCP lifecycle of
 * revision 2025-11-25 (negotiating down to 2025-06-18 and 2025-03-26) and of the stateless
 * revision 2026-07-28 on the same code, and the chat tools (chat/tool.h) as MCP tools.
 *
 * The HTTP transport (api/mcp.c, POST|DELETE /api/experimental/mcp) hands each POSTed message
 * to mcp_post together with what it read from the request headers; mcp_post answers at once
 * (an HTTP status and at most one JSON-RPC message) or, for tools/call, hands back a call to
 * run on a worker thread (mcp_call_run), which emits progress notifications and then the
 * response. `berth mcp` (cli/cmd_mcp.c) bridges stdio to that endpoint.
 *
 * Sessions (2025-11-25 and older): initialize creates one, bound to the authenticated user and
 * to one chat: the chat named by the Berth-Chat-Id header (which must be the user's), or else a
 * new chat created by the session's first tools/call (titled "MCP: <clientInfo.name>"). A
 * session ends with DELETE, after MCP_SESSION_IDLE_MS without a request (never while a call
 * runs), or when the user opens more than MCP_SESSIONS_PER_USER sessions (the least recently
 * used idle one goes).
 *
 * Stateless requests (2026-07-28: params._meta carries io.modelcontextprotocol/protocolVersion)
 * ignore sessions. A tools/call acts on the chat named by Berth-Chat-Id, or else on the user's
 * default MCP chat: the most recently updated of their chats titled "MCP", created on first use.
 *
 * Thread-safety: everything here may be called from any thread; a call object is used by one
 * thread at a time except mcp_call_cancel, which any thread may call while it runs.
 */
#ifndef BERTH_MCP_MCP_H
#define BERTH_MCP_MCP_H

#include "base/err.h"
#include "base/uuid.h"
#include "chat/tool.h"
#include "rbac/rbac.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct chat_service;

/* ---- protocol constants ---- */

#define MCP_VERSION_LATEST    "2025-11-25" /* what initialize counter-offers */
#define MCP_VERSION_STATELESS "2026-07-28"
#define MCP_SERVER_NAME       "berth"

/* JSON-RPC 2.0 error codes. */
#define JSONRPC_PARSE_ERROR      (-32700)
#define JSONRPC_INVALID_REQUEST  (-32600)
#define JSONRPC_METHOD_NOT_FOUND (-32601)
#define JSONRPC_INVALID_PARAMS   (-32602)
#define JSONRPC_INTERNAL_ERROR   (-32603)
/* Implementation-defined codes, as the TypeScript SDK uses them on Streamable HTTP: a request
 * the transport refuses (no session yet, a bad header, a method not allowed), and an unknown
 * session. */
#define MCP_ERR_TRANSPORT         (-32000)
#define MCP_ERR_SESSION_NOT_FOUND (-32001)
/* 2026-07-28: a header missing or not matching the body; a protocol version not supported. */
#define MCP_ERR_HEADER_MISMATCH     (-32020)
#define MCP_ERR_UNSUPPORTED_VERSION (-32022)

/* The _meta keys of 2026-07-28. */
#define MCP_META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define MCP_META_CLIENT_CAPS      "io.modelcontextprotocol/clientCapabilities"
#define MCP_META_SERVER_INFO      "io.modelcontextprotocol/serverInfo"

#define MCP_SESSION_ID_LEN        43 /* random [A-Za-z0-9]: about 256 bits */
#define MCP_SESSION_IDLE_MS       (60LL * 60 * 1000)
#define MCP_SESSIONS_PER_USER     32
#define MCP_DEFAULT_CHAT          "MCP" /* the stateless default chat's title */
#define MCP_PROGRESS_HEARTBEAT_MS 15000
#define MCP_PROGRESS_HEARTBEAT_MS 15000

/* True for a version initialize accepts as is (2025-11-25, 2025-06-18, 2025-03-26). */
bool mcp_version_legacy(const char *v);
/* Every version the server speaks, newest first, as a new JSON array (server/discover's
 * supportedVersions and -32022's data.supported). */
json_t *mcp_versions_json(void);

/* ---- JSON-RPC 2.0 messages ---- */

enum jsonrpc_kind {
    JSONRPC_INVALID,      /* answer error_code (-32700 or -32600) with id (or null) */
    JSONRPC_REQUEST,      /* method and id: answer exactly once */
    JSONRPC_NOTIFICATION, /* method, no id: never answered, not even with an error */
    JSONRPC_RESPONSE,     /* result or error with an id: a client's answer (berth sends no
                           * requests, so these are accepted and dropped) */
};

struct jsonrpc_msg {
    enum jsonrpc_kind kind;
    json_t *root;          /* the parsed message (owned), NULL when it was not JSON */
    const json_t *id;      /* borrowed from root: a string or an integer; NULL when absent or
                            * unusable (then answers carry "id": null) */
    const char *method;    /* borrowed; requests and notifications */
    const json_t *params;  /* borrowed: the params object, NULL when absent (or invalid) */
    bool params_invalid;   /* params present but not an object (answer -32602) */
    int error_code;        /* JSONRPC_INVALID: JSONRPC_PARSE_ERROR or JSONRPC_INVALID_REQUEST */
    const char *error_msg; /* JSONRPC_INVALID: what is wrong (static) */
};

/* Decodes one message (one POST body, one stdio line). A batch (a JSON array) is
 * JSONRPC_INVALID with -32600: no revision berth speaks allows batches. Never fails otherwise:
 * out is always filled; release with jsonrpc_msg_clear. */
void jsonrpc_decode(const void *data, size_t len, struct jsonrpc_msg *out);
void jsonrpc_msg_clear(struct jsonrpc_msg *m);

/* Compact JSON texts of outgoing messages (heap, caller frees). id NULL writes "id": null;
 * otherwise it is echoed with its JSON type. data (borrowed) may be NULL. */
char *jsonrpc_error_text(const json_t *id, int code, const char *message, const json_t *data);
/* result is borrowed. */
char *jsonrpc_result_text(const json_t *id, const json_t *result);
/* params is borrowed (NULL: none). */
char *jsonrpc_notification_text(const char *method, const json_t *params);

/* ---- the chat side ---- */

/* What the MCP server needs from chats and tools (chat/chat.h); a seam for unit tests. Every
 * function is thread-safe and fills e on failure (ERR_NOT_FOUND for a chat that is not the
 * subject's). */
struct mcp_backend {
    void *arg;
    /* Creates a chat for the subject; out receives its id. */
    int (*chat_create)(void *arg, const struct subject *sub, const char *title,
                       char out[UUID_STR_LEN], struct err *e);
    /* 0 when chat_id is the subject's chat. */
    int (*chat_check)(void *arg, const struct subject *sub, const char *chat_id, struct err *e);
    /* The subject's most recently updated chat with exactly this title; ERR_NOT_FOUND if none. */
    int (*chat_find)(void *arg, const struct subject *sub, const char *title,
                     char out[UUID_STR_LEN], struct err *e);
    /* chat_run_tool (chat/chat.h). */
    int (*run_tool)(void *arg, const struct subject *sub, const char *chat_id, const char *name,
                    const json_t *args, struct tool_cancel *cancel,
                    void (*progress)(void *parg, const char *message), void *progress_arg,
                    struct tool_answer *out, struct err *e);
};

/* The backend over berth's chat service (borrowed; it must outlive the MCP server). */
void mcp_backend_chat(struct mcp_backend *b, struct chat_service *svc);

/* ---- the server ---- */

struct mcp_server;
struct mcp_call;

struct mcp_config {
    struct mcp_backend backend;
    const char *version;          /* serverInfo.version (copied) */
    int64_t session_idle_ms;      /* 0: MCP_SESSION_IDLE_MS */
    int max_sessions_per_user;    /* 0: MCP_SESSIONS_PER_USER */
    int64_t (*now_ms)(void *arg); /* a monotonic clock for idle expiry; NULL: the real one */
    void *now_arg;
    /* While a call that asked for progress waits, its last progress is sent again (with the
     * time waited) after this long without one, so that clients which reset their time-out on
     * progress never give up on a long build. 0: MCP_PROGRESS_HEARTBEAT_MS; < 0: never. */
    int64_t progress_heartbeat_ms;
};

/* A new server. Never NULL. */
struct mcp_server *mcp_server_new(const struct mcp_config *cfg);
/* Frees the server and its sessions; every call must have been freed first. */
void mcp_server_free(struct mcp_server *s);

/* What the transport read from the request. Strings are borrowed; any may be NULL (absent). */
struct mcp_input {
    const struct subject *sub;    /* the authenticated user */
    const char *session_id;       /* Mcp-Session-Id */
    const char *protocol_version; /* MCP-Protocol-Version */
    const char *method;           /* Mcp-Method */
    const char *name;             /* Mcp-Name */
    const char *chat_id;          /* Berth-Chat-Id */
};

struct mcp_reply {
    int status; /* the HTTP status: 200 with body, 202 without, or a 4xx with an error body */
    char *body; /* one JSON-RPC message (heap), or NULL */
    /* Set when initialize created a session: send it as Mcp-Session-Id. */
    char session_id[MCP_SESSION_ID_LEN + 1];
    /* A tools/call to run off the event loop (status and body unset): run it with
     * mcp_call_run, then free it with mcp_call_free. */
    struct mcp_call *call;
};

/* Handles one POSTed message (body[0..len)). Fast: no waiting, at most a few store reads and,
 * for a stateless call naming Berth-Chat-Id, a check of that chat. Statuses, in the order the
 * checks run:
 *   - 400 -32700 not JSON; 400 -32600 a batch or not a JSON-RPC message;
 *   - stateless (params._meta names a protocol version): 400 -32602 a _meta field missing or
 *     of the wrong type; 400 -32020 MCP-Protocol-Version, Mcp-Method or (tools/call) Mcp-Name
 *     missing or different from the body; 400 -32022 a version other than 2026-07-28 (data
 *     {supported, requested}); 404 -32601 a method that is not server/discover, tools/list or
 *     tools/call (initialize and ping included); then the method's answer;
 *   - no _meta version but MCP-Protocol-Version 2026-07-28: 400 -32602;
 *   - initialize: MCP-Protocol-Version present and unsupported: 400 -32000; 404 -32602 when
 *     Berth-Chat-Id is not the user's chat; else 200 and a new session;
 *   - anything else: 400 -32000 without Mcp-Session-Id ("Server not initialized"), 404 -32001
 *     for a session that does not exist, ended or is another user's, 400 -32000 for an
 *     unsupported MCP-Protocol-Version; then notifications and responses 202, requests 200 with
 *     their answer (JSON-RPC errors such as -32601 and -32602 included) or a call.
 * Error bodies echo the request's id when it could be read. */
void mcp_post(struct mcp_server *s, const struct mcp_input *in, const void *body, size_t len,
              struct mcp_reply *out);
void mcp_reply_clear(struct mcp_reply *r);

/* DELETE: ends the session (cancelling its calls). 200 with *body NULL, or 400 (no header) /
 * 404 (unknown, or another user's) with *body a JSON-RPC error (heap). */
int mcp_session_delete(struct mcp_server *s, const struct subject *sub, const char *session_id,
                       char **body);
/* How many sessions are open (for tests and metrics). */
size_t mcp_session_count(struct mcp_server *s);

/* ---- calls ---- */

/* True for a stateless (2026-07-28) call: closing its response stream cancels it. */
bool mcp_call_stateless(const struct mcp_call *c);
/* True when the request carried params._meta.progressToken. */
bool mcp_call_wants_progress(const struct mcp_call *c);
/* Resolves the chat the call acts on (creating the session's chat, or the user's default chat,
 * on first use) and returns its id, or NULL when that failed (mcp_call_run then answers with the
 * error). mcp_call_run does it too when it was not done: call it first to tell the client the
 * chat (the HTTP transport's Berth-Chat-Id response header). Blocks on the store: worker. */
const char *mcp_call_prepare(struct mcp_call *c);
/* Sends no progress notifications for this call (for a transport that can carry only the
 * response). Before mcp_call_run. */
void mcp_call_no_progress(struct mcp_call *c);
/* Runs the tool on the calling thread (it may wait for minutes), calling emit(arg, message) for
 * each outgoing message: notifications/progress while the tool waits (only when the request
 * asked for progress: the tool's own, and heartbeats), then the response. A call its client
 * canceled (mcp_call_cancel, notifications/cancelled, DELETE) emits nothing more: no response
 * at all; a call whose waits were ended otherwise (chat_service_shutdown) answers with what the
 * tool made of it. emit is called from this thread and from the server's
 * heartbeat thread, never twice at once for a call, and never after mcp_call_run returned. */
void mcp_call_run(struct mcp_call *c, void (*emit)(void *arg, const char *message), void *arg);
/* Cancels the call (its waits end at once and it sends no response). Any thread; idempotent;
 * harmless once the call ended. */
void mcp_call_cancel(struct mcp_call *c);
/* Frees a call (after it ran, or instead of running it). */
void mcp_call_free(struct mcp_call *c);

#endif
