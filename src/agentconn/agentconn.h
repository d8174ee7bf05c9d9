/* agentconn.h - the server side of workspace agents: authentication, the request channel,
 * lifecycle and log reports, heartbeats, and the connection status derived at read time.
 *
 * An agent authenticates with its build's token (a UUID; only its SHA-256 is stored). Only the
 * agents of a live workspace's latest build are accepted, and while a newer build runs (a stop,
 * a delete, or a start that replaces them), the agents of the start build before it (so they can
 * report shutting_down and off). The agent keeps one stream open on which the server sends
 * requests; it posts results back. agentconn_call() is how other modules talk to an agent: it sends
 * a request and waits for the result, with distinct errors for "not connected" (ERR_UNAVAILABLE),
 * "no answer in time" (ERR_TIMEOUT) and "went away while we waited" (ERR_DISCONNECTED).
 *
 * Changes publish "agent:<id>" and "workspace:<workspace id>"; new agent logs publish
 * "agent:<id>:logs". Thread-safe.
 *
 * Status: never connected -> "timeout" once the connection time-out passed (0 = never), else
 * "connecting"; disconnected_at >= last_connected_at -> "disconnected"; silent for more than the
 * inactivity window (30 s) -> "disconnected"; otherwise "connected". Pure; thread-safe.
 */
#ifndef BERTH_AGENTCONN_AGENTCONN_H
#define BERTH_AGENTCONN_AGENTCONN_H

#include "base/err.h"
#include "pubsub/pubsub.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define AGENT_INACTIVE_TIMEOUT_US (30LL * 1000000)

enum agent_status {
    AGENT_CONNECTING,
    AGENT_CONNECTED,
    AGENT_DISCONNECTED,
    AGENT_TIMEOUT,
};

enum agent_status agentconn_status(const struct workspace_agent *a, int64_t now_us);
const char *agent_status_name(enum agent_status s);
/* Healthy: connected, and neither start_error nor shutting down (start_timeout is healthy). */
bool agentconn_healthy(const struct workspace_agent *a, int64_t now_us);

#define AGENT_LOGS_MAX (1024 * 1024)

struct agentconn;
struct agentconn_session;

/* How the server reaches a connected agent (provided by the HTTP layer: an SSE stream).
 * send is thread-safe and returns -1 once the agent is gone. */
struct agentconn_link {
    int (*send)(void *ctx, const char *event, const char *data);
    void *ctx;
};

struct agentconn_config {
    const char *replica_id;
    int64_t flush_ms; /* heartbeat batch interval (default 2000) */
    int max_inflight; /* concurrent calls per agent (default 64) */
};

/* Borrows st and ps. Starts the heartbeat flusher thread. */
struct agentconn *agentconn_new(struct store *st, struct pubsub *ps,
                                const struct agentconn_config *cfg);
/* Fails every pending call, flushes heartbeats and stops the flusher. */
void agentconn_free(struct agentconn *ac);

/* Resolves an agent token. 401 "Workspace agent token invalid." when it is not a UUID;
 * 401 "Workspace agent not authorized." when the agent may not connect (not the latest build,
 * workspace deleted, unknown token). */
int agentconn_authenticate(struct agentconn *ac, const char *token, struct agent_auth *out,
                           struct err *e);
/* The agent opened its request stream: it is connected until agentconn_detach. A previous
 * session of the same agent is replaced (its pending calls fail as disconnected). */
struct agentconn_session *agentconn_attach(struct agentconn *ac, const struct agent_auth *a,
                                           struct agentconn_link link);
/* The stream closed: disconnected now, pending calls fail. Frees the session. */
void agentconn_detach(struct agentconn *ac, struct agentconn_session *s);
/* Records that the agent is alive (written in batches). */
void agentconn_heartbeat(struct agentconn *ac, const struct agent_auth *a);
/* A lifecycle report: "starting", "ready", "start_error", ... ERR_BAD_REQUEST when unknown. */
int agentconn_report_lifecycle(struct agentconn *ac, const struct agent_auth *a, const char *state,
                               struct err *e);
/* Appends startup script output (each item {output, level?, source?}); capped at 1 MiB. */
int agentconn_append_logs(struct agentconn *ac, const struct agent_auth *a, const json_t *logs,
                          struct err *e);
/* Sends request (a JSON object with "type"; borrowed) to the agent and waits up to timeout_ms
 * for its answer. On success *result is a new reference. The agent's own failures come back as
 * errors of the kind it reported. Blocks: call from a worker thread. */
int agentconn_call(struct agentconn *ac, const char *agent_id, const json_t *request,
                   int64_t timeout_ms, json_t **result, struct err *e);

/* Lets another thread abort a call in progress. Zero it (or agentconn_abort_init) before the
 * call; it belongs to one call at a time. */
struct agentconn_abort {
    bool fired; /* under the agentconn's lock */
    void *call; /* the call waiting, under the agentconn's lock */
};
void agentconn_abort_init(struct agentconn_abort *a);
/* Aborts the call using a (now, or as soon as it starts): it returns ERR_CANCELED at once, and
 * the agent is asked to stop the request ({"type": "cancel", "call_id"}: a running command's
 * process group is terminated). Thread-safe; idempotent. */
void agentconn_abort_fire(struct agentconn *ac, struct agentconn_abort *a);
/* agentconn_call that abort (may be NULL) can end early. */
int agentconn_call_abortable(struct agentconn *ac, const char *agent_id, const json_t *request,
                             int64_t timeout_ms, struct agentconn_abort *abort, json_t **result,
                             struct err *e);
/* The agent's answer to call id: result (borrowed) or error ({message, kind?}). Unknown or
 * finished calls are ignored (0); ERR_FORBIDDEN when the call was sent to another agent. */
int agentconn_deliver(struct agentconn *ac, const struct agent_auth *a, const char *call_id,
                      const json_t *result, const json_t *error, struct err *e);
/* True when the agent has an open request stream on this server. */
bool agentconn_connected(struct agentconn *ac, const char *agent_id);

#endif
