/* Fuzz target: JSON-RPC messages through the decoder and the MCP server's checks and methods
 * (in a session, and as stateless requests whose headers mirror the body), over a chat side that
 * answers every tool with its own arguments. */
#include "base/json.h"
#include "base/str.h"
#include "mcp/mcp.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER "019a7c2e-5b1a-7c3d-8e4f-00000000000a"
#define CHAT "019a7c2e-5b1a-7c3d-8e4f-0000000000c1"

static int chat_create_(void *arg, const struct subject *sub, const char *title,
                        char out[UUID_STR_LEN], struct err *e)
{
    str_copy(out, UUID_STR_LEN, CHAT);
    return 0;
}

static int chat_check_(void *arg, const struct subject *sub, const char *chat_id, struct err *e)
{
    return strcmp(chat_id, CHAT) == 0 ? 0 : err_set(e, ERR_NOT_FOUND, "not found");
}

static int chat_find_(void *arg, const struct subject *sub, const char *title,
                      char out[UUID_STR_LEN], struct err *e)
{
    return err_set(e, ERR_NOT_FOUND, "none");
}

static int run_tool_(void *arg, const struct subject *sub, const char *chat_id, const char *name,
                     const json_t *args, struct tool_cancel *cancel,
                     void (*progress)(void *parg, const char *message), void *progress_arg,
                     struct tool_answer *out, struct err *e)
{
    if (progress)
        progress(progress_arg, name);
    if (args && json_object_size(args) % 3 == 1)
        tool_text_error(out, "%s", name);
    else if (args && json_object_size(args) % 3 == 2)
        tool_build_error(out, name, "b");
    else
        tool_result(out, args ? json_deep_copy(args) : json_object());
    return 0;
}

static void emit(void *arg, const char *message)
{
    size_t *n = arg;
    *n += strlen(message);
}

static struct mcp_server *srv;
static char session[MCP_SESSION_ID_LEN + 1];
static struct subject sub;

static void init(void)
{
    struct mcp_config cfg = {.version = "fuzz"};
    cfg.backend.chat_create = chat_create_;
    cfg.backend.chat_check = chat_check_;
    cfg.backend.chat_find = chat_find_;
    cfg.backend.run_tool = run_tool_;
    srv = mcp_server_new(&cfg);
    sub.kind = SUBJECT_USER;
    str_copy(sub.user_id, sizeof sub.user_id, USER);
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
                       "\"protocolVersion\":\"2025-11-25\"}}";
    struct mcp_input in = {.sub = &sub};
    struct mcp_reply r;
    mcp_post(srv, &in, body, strlen(body), &r);
    str_copy(session, sizeof session, r.session_id);
    mcp_reply_clear(&r);
}

static void post(const struct mcp_input *in, const uint8_t *data, size_t size)
{
    struct mcp_reply r;
    mcp_post(srv, in, data, size, &r);
    if (r.call) {
        size_t n = 0;
        mcp_call_run(r.call, emit, &n);
    }
    mcp_reply_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!srv)
        init();
    struct jsonrpc_msg m;
    jsonrpc_decode(data, size, &m);
    char *text = jsonrpc_error_text(m.id, -1, m.error_msg, m.params);
    free(text);
    const json_t *meta = json_object_get(m.params, "_meta");
    struct mcp_input in = {
        .sub = &sub,
        .protocol_version = jsonx_get_str(meta, MCP_META_PROTOCOL_VERSION, NULL),
        .method = m.method,
        .name = jsonx_get_str(m.params, "name", NULL),
        .chat_id = size % 2 ? CHAT : NULL,
    };
    post(&in, data, size); /* stateless, with the headers the body implies */
    struct mcp_input legacy = {.sub = &sub, .session_id = session};
    post(&legacy, data, size);
    jsonrpc_msg_clear(&m);
    /* An initialize in the input makes a session: the cap keeps their number bounded. */
    return 0;
}
