/* status.c - agent connection status derived from timestamps (see agentconn.h). */
#include "agentconn/agentconn.h"

enum agent_status agentconn_status(const struct workspace_agent *a, int64_t now_us)
{
    if (!a->first_connected_at) {
        if (a->connection_timeout_seconds > 0 &&
            now_us - a->created_at > a->connection_timeout_seconds * 1000000)
            return AGENT_TIMEOUT;
        return AGENT_CONNECTING;
    }
    if (a->disconnected_at && a->disconnected_at >= a->last_connected_at)
        return AGENT_DISCONNECTED;
    if (now_us - a->last_connected_at > AGENT_INACTIVE_TIMEOUT_US)
        return AGENT_DISCONNECTED;
    return AGENT_CONNECTED;
}

const char *agent_status_name(enum agent_status s)
{
    switch (s) {
    case AGENT_CONNECTING:
        return "connecting";
    case AGENT_CONNECTED:
        return "connected";
    case AGENT_DISCONNECTED:
        return "disconnected";
    case AGENT_TIMEOUT:
        return "timeout";
    }
    return "connecting";
}

bool agentconn_healthy(const struct workspace_agent *a, int64_t now_us)
{
    if (agentconn_status(a, now_us) != AGENT_CONNECTED)
        return false;
    return a->lifecycle != LIFECYCLE_START_ERROR && a->lifecycle != LIFECYCLE_SHUTTING_DOWN &&
           a->lifecycle != LIFECYCLE_SHUTDOWN_ERROR && a->lifecycle != LIFECYCLE_SHUTDOWN_TIMEOUT &&
           a->lifecycle != LIFECYCLE_OFF;
}
