/* fake.h - an in-memory chat side for the MCP server's unit tests: chats with owners and titles,
 * and tools that answer by name (see fake.c). Thread-safe. */
#ifndef BERTH_TESTS_UNIT_MCP_FAKE_H
#define BERTH_TESTS_UNIT_MCP_FAKE_H

#include "mcp/mcp.h"

#include <pthread.h>

#define FAKE_MAX_CHATS 64

struct fake_chat {
    char id[UUID_STR_LEN];
    char owner[UUID_STR_LEN];
    char title[300];
};

struct fake {
    pthread_mutex_t lock;
    struct fake_chat chats[FAKE_MAX_CHATS];
    int nchats;
    int creates, finds;           /* calls of chat_create and chat_find */
    char last_chat[UUID_STR_LEN]; /* the chat of the last run_tool */
    char *last_args;              /* its arguments (compact JSON, heap) or NULL */
    bool waiting;                 /* a "start_workspace" call is waiting for its cancel */
    struct tool_cancel *cancel;   /* its cancel, while it waits */
    int64_t now_ms;               /* the injected clock */
};

/* Tools: list_templates answers {"templates": []}; execute a text error "command failed: boom";
 * create_workspace the build error {"error": "build failed", "build_id": "b1"};
 * start_workspace reports progress twice, then waits (at most 10 s) until canceled and
 * answers the build error "canceled"; read_file answers {"content": <args.path>}. */
void fake_init(struct fake *f);
void fake_free(struct fake *f);
/* A backend over f. */
struct mcp_backend fake_backend(struct fake *f);
/* Adds a chat owned by owner; its id into id. */
void fake_add_chat(struct fake *f, const char *owner, const char *title, char id[UUID_STR_LEN]);
/* A user subject. */
struct subject fake_user(const char *id);
/* The fake clock for mcp_config.now_ms (arg: the fake). */
int64_t fake_now_ms(void *arg);

#endif
