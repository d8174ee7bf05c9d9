/* stubs_for_merge.c - TEMPORARY: simple working versions of what the chat-tools branch calls but
 * other branches implement (the answer helpers, agent selection and the registry of tool.h,
 * chat_clear of store.h), and empty workspace tools, so this branch links and its tests run.
 * Delete this file when merging. */
#include "chat/internal.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void chat_clear(struct chat *c)
{
    free(c->title);
    memset(c, 0, sizeof *c);
}

void tool_answer_clear(struct tool_answer *a)
{
    free(a->text);
    json_decref(a->result);
    memset(a, 0, sizeof *a);
}

void tool_text_error(struct tool_answer *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = str_vprintf(fmt, ap);
    va_end(ap);
    tool_answer_clear(a);
    a->is_error = true;
    a->text = text;
}

void tool_result(struct tool_answer *a, json_t *obj)
{
    tool_answer_clear(a);
    a->result = obj;
}

void tool_build_error(struct tool_answer *a, const char *msg, const char *build_id)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    if (build_id && build_id[0])
        json_object_set_new(o, "build_id", json_string(build_id));
    tool_result(a, o);
}

char *tool_answer_text(const struct tool_answer *a)
{
    return a->is_error ? xstrdup(a->text ? a->text : "") : jsonx_dump(a->result);
}

bool tool_is_chat_agent(const char *name)
{
    size_t n = strlen(name), k = strlen(TOOL_CHAT_AGENT_SUFFIX);
    return n >= k && strcasecmp(name + n - k, TOOL_CHAT_AGENT_SUFFIX) == 0;
}

static int ref_cmp(const struct tool_agent_ref *x, const struct tool_agent_ref *y)
{
    if (x->display_order != y->display_order)
        return x->display_order < y->display_order ? -1 : 1;
    int c = strcasecmp(x->name, y->name);
    if (c)
        return c;
    c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->id, y->id);
}

int tool_find_chat_agent(const struct tool_agent_ref *agents, size_t n, char **msg)
{
    int best = -1, match = -1;
    size_t matches = 0;
    struct buf names = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (agents[i].child)
            continue;
        if (best < 0 || ref_cmp(&agents[i], &agents[best]) < 0)
            best = (int)i;
        if (tool_is_chat_agent(agents[i].name)) {
            buf_printf(&names, "%s%s", matches ? ", " : "", agents[i].name);
            matches++;
            match = (int)i;
        }
    }
    if (best < 0) {
        *msg = xstrdup("no eligible workspace agents found");
    } else if (matches > 1) {
        *msg = str_printf("multiple agents match the chat suffix \"%s\": %s; only one agent should "
                          "use this suffix",
                          TOOL_CHAT_AGENT_SUFFIX, buf_str(&names));
        best = -1;
    } else if (matches == 1) {
        best = match;
    }
    buf_free(&names);
    return best;
}

int tool_select_agent(const struct tool_env *env, const char *workspace_id,
                      struct workspace_agent *out, bool *no_agents, char **msg)
{
    struct agent_list l = {0};
    struct err e = ERR_INIT;
    *no_agents = false;
    *msg = NULL;
    if (env->db.agents_latest(env->db.arg, workspace_id, &l, &e) < 0) {
        *msg = str_printf("list agents: %s", err_msg(&e));
        err_clear(&e);
        return -1;
    }
    if (l.n == 0) {
        *no_agents = true;
        agent_list_free(&l);
        return -1;
    }
    struct tool_agent_ref *refs = xcalloc(l.n, sizeof *refs);
    for (size_t i = 0; i < l.n; i++)
        refs[i] = (struct tool_agent_ref){l.items[i].id, l.items[i].name, l.items[i].display_order,
                                          false};
    int i = tool_find_chat_agent(refs, l.n, msg);
    if (i >= 0) {
        *out = l.items[i];
        out->directory = xstrdup(l.items[i].directory);
    }
    free(refs);
    agent_list_free(&l);
    return i >= 0 ? 0 : -1;
}

static void run_nothing(const struct tool_env *env, const struct tool_call *call,
                        struct tool_answer *out)
{
    tool_text_error(out, "not available on this branch");
}

#define EMPTY_SCHEMA "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}"
const struct tool_def tool_create_workspace = {"create_workspace", "", EMPTY_SCHEMA, run_nothing};
const struct tool_def tool_start_workspace = {"start_workspace", "", EMPTY_SCHEMA, run_nothing};
const struct tool_def tool_stop_workspace = {"stop_workspace", "", EMPTY_SCHEMA, run_nothing};

static const struct tool_def *const all[] = {
    &tool_list_templates, &tool_read_template, &tool_create_workspace, &tool_start_workspace,
    &tool_stop_workspace, &tool_execute,       &tool_process_output,   &tool_process_list,
    &tool_process_signal, &tool_read_file,     &tool_write_file,       &tool_edit_files,
};

const struct tool_def *tool_defs(size_t *n)
{
    static struct tool_def defs[sizeof all / sizeof all[0]];
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        defs[i] = *all[i];
    *n = sizeof all / sizeof all[0];
    return defs;
}

const struct tool_def *tool_find(const char *name)
{
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

void tool_run(const struct tool_env *env, const char *name, const struct tool_call *call,
              struct tool_answer *out)
{
    memset(out, 0, sizeof *out);
    const struct tool_def *d = tool_find(name);
    if (!d)
        tool_text_error(out, "unknown tool: %s", name);
    else
        d->run(env, call, out);
}
