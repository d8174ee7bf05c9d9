/* backend.c - the MCP server's chat side over berth's chat service (chat/chat.h). */
#include "mcp/mcp.h"

#include "base/str.h"
#include "chat/chat.h"

#include <string.h>

static int chat_create_(void *arg, const struct subject *sub, const char *title,
                        char out[UUID_STR_LEN], struct err *e)
{
    struct chat c;
    if (chat_create(arg, sub, title, NULL, &c, e) < 0)
        return -1;
    str_copy(out, UUID_STR_LEN, c.id);
    chat_clear(&c);
    return 0;
}

static int chat_check_(void *arg, const struct subject *sub, const char *chat_id, struct err *e)
{
    struct chat c;
    if (chat_get(arg, sub, chat_id, &c, e) < 0)
        return -1;
    chat_clear(&c);
    return 0;
}

static int chat_find_(void *arg, const struct subject *sub, const char *title,
                      char out[UUID_STR_LEN], struct err *e)
{
    struct chat_list l;
    if (chat_list(arg, sub, &l, e) < 0)
        return -1;
    int rc = err_set(e, ERR_NOT_FOUND, "no chat titled \"%s\"", title);
    for (size_t i = 0; i < l.n; i++) { /* most recently updated first */
        if (l.items[i].title && strcmp(l.items[i].title, title) == 0) {
            err_clear(e);
            str_copy(out, UUID_STR_LEN, l.items[i].id);
            rc = 0;
            break;
        }
    }
    chat_list_free(&l);
    return rc;
}

static int run_tool_(void *arg, const struct subject *sub, const char *chat_id, const char *name,
                     const json_t *args, struct tool_cancel *cancel,
                     void (*progress)(void *parg, const char *message), void *progress_arg,
                     struct tool_answer *out, struct err *e)
{
    return chat_run_tool(arg, sub, chat_id, name, args, cancel, progress, progress_arg, out, e);
}

void mcp_backend_chat(struct mcp_backend *b, struct chat_service *svc)
{
    memset(b, 0, sizeof *b);
    b->arg = svc;
    b->chat_create = chat_create_;
    b->chat_check = chat_check_;
    b->chat_find = chat_find_;
    b->run_tool = run_tool_;
}
