/* agentselect.c - which agent of a workspace a chat works with. */
#include "chat/tool.h"

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool tool_is_chat_agent(const char *name)
{
    size_t n = strlen(name), k = strlen(TOOL_CHAT_AGENT_SUFFIX);
    return n >= k && strcasecmp(name + n - k, TOOL_CHAT_AGENT_SUFFIX) == 0;
}

/* Orders root agents by display order, lower-cased name, name, then id. */
static int cmp_refs(const struct tool_agent_ref *a, const struct tool_agent_ref *b)
{
    if (a->display_order != b->display_order)
        return a->display_order < b->display_order ? -1 : 1;
    int c = strcasecmp(a->name, b->name);
    if (c)
        return c;
    c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->id, b->id);
}

int tool_find_chat_agent(const struct tool_agent_ref *agents, size_t n, char **msg)
{
    /* Indices of the root agents, insertion-sorted (stable, and n is small). */
    size_t *order = xcalloc(n ? n : 1, sizeof *order), roots = 0;
    for (size_t i = 0; i < n; i++) {
        if (agents[i].child)
            continue;
        size_t j = roots++;
        while (j > 0 && cmp_refs(&agents[order[j - 1]], &agents[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    int chosen = -1;
    if (roots == 0) {
        *msg = xstrdup("no eligible workspace agents found");
        goto out;
    }
    size_t matches = 0;
    for (size_t i = 0; i < roots; i++) {
        if (tool_is_chat_agent(agents[order[i]].name)) {
            if (matches++ == 0)
                chosen = (int)order[i];
        }
    }
    if (matches == 0) {
        chosen = (int)order[0];
    } else if (matches > 1) {
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b,
                   "multiple agents match the chat suffix %s: ", "\"" TOOL_CHAT_AGENT_SUFFIX "\"");
        bool first = true;
        for (size_t i = 0; i < roots; i++) {
            if (!tool_is_chat_agent(agents[order[i]].name))
                continue;
            buf_printf(&b, "%s%s", first ? "" : ", ", agents[order[i]].name);
            first = false;
        }
        buf_puts(&b, "; only one agent should use this suffix");
        *msg = buf_take(&b);
        chosen = -1;
    }
out:
    free(order);
    return chosen;
}

int tool_select_agent(const struct tool_env *env, const char *workspace_id,
                      struct workspace_agent *out, bool *no_agents, char **msg)
{
    struct agent_list list = {0};
    struct err e = ERR_INIT;
    *no_agents = false;
    *msg = NULL;
    if (env->db.agents_latest(env->db.arg, workspace_id, &list, &e) < 0) {
        *msg = str_printf("list agents: %s", err_msg(&e));
        err_clear(&e);
        return -2;
    }
    if (list.n == 0) {
        agent_list_free(&list);
        *no_agents = true;
        return -1;
    }
    struct tool_agent_ref *refs = xcalloc(list.n, sizeof *refs);
    for (size_t i = 0; i < list.n; i++)
        refs[i] = (struct tool_agent_ref){list.items[i].id, list.items[i].name,
                                          list.items[i].display_order, false};
    int i = tool_find_chat_agent(refs, list.n, msg);
    free(refs);
    if (i >= 0) {
        *out = list.items[i];
        list.items[i].directory = NULL; /* moved to out */
    }
    agent_list_free(&list);
    return i >= 0 ? 0 : -1;
}
