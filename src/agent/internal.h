/* internal.h - shared state of the agent daemon (not for use outside src/agent/). */
#ifndef BERTH_AGENT_INTERNAL_H
#define BERTH_AGENT_INTERNAL_H

#include "agent/agent.h"
#include "agent/ops.h"
#include "base/buf.h"

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct outbox_item {
    char *path; /* under /api/v2/workspaceagents/me/ */
    char *body; /* JSON, owned */
    struct outbox_item *next;
};

struct agent {
    char *url, *token;
    char *host, *prefix;
    int port;
    char host_header[300];
    struct event_base *base;
    struct evhttp_connection *api, *stream_conn;
    struct evhttp_request *stream_req;
    bool stream_up;
    struct buf sse_data;
    char sse_event[64];
    struct event *wake, *retry, *heartbeat, *exit_timer;
    int64_t backoff_ms;
    json_t *manifest;
    struct agent_ops *ops;
    char **base_env;
    char *directory;
    pthread_t scripts_thread;
    bool scripts_started;
    pthread_t stop_thread;
    bool stop_started;
    bool shutting_down; /* loop thread only */
    /* shared with other threads, under lock */
    pthread_mutex_t lock;
    struct outbox_item *outbox_head, *outbox_tail;
    json_t *pending_logs;
    char lifecycle[32];
    bool lifecycle_dirty, lifecycle_posting;
    bool exit_requested;
    int inflight;
};

/* daemon.c: queue work for the loop (any thread). body is taken. */
void agent_post(struct agent *ag, const char *path, char *body);
void agent_log_line(struct agent *ag, const char *level, const char *source, const char *line,
                    size_t len);
void agent_set_lifecycle(struct agent *ag, const char *state);
/* Exits the loop once the current lifecycle state has been reported. */
void agent_request_exit(struct agent *ag);
void agent_fetch_manifest(struct agent *ag);

/* lifecycle.c */
/* The manifest arrived: set up the request handlers and start the startup scripts. Loop. */
void agent_start(struct agent *ag);
/* SIGTERM: run the stop scripts on a thread, then report off and request the exit. Loop. */
void agent_stop(struct agent *ag);
/* Seconds the stop scripts may take (for the exit safety timer). */
int agent_stop_budget_s(struct agent *ag);
/* After the loop ended: joins the script threads and frees the handlers. */
void agent_finish(struct agent *ag);

#endif
