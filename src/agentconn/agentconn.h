/* agentconn.h - the server side of workspace agents: their connection status, derived at read
 * time from timestamps (never stored).
 *
 * Status: never connected -> "timeout" once the connection time-out passed (0 = never), else
 * "connecting"; disconnected_at >= last_connected_at -> "disconnected"; silent for more than the
 * inactivity window (30 s) -> "disconnected"; otherwise "connected". Pure; thread-safe.
 */
#ifndef BERTH_AGENTCONN_AGENTCONN_H
#define BERTH_AGENTCONN_AGENTCONN_H

#include "store/model.h"

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

#endif
