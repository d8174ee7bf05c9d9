/* stubs_for_merge.c - TEMPORARY: minimal stand-ins for the parts of chat/tool.h implemented on
 * another branch (answers, cancellation, the tool registry and tool_run), so that this branch
 * links and its tests run. DELETE THIS FILE when merging with the branch that has the tools.
 *
 * The registry is empty: every tool name is unknown, and tool_run answers the text error
 * "not implemented". */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "chat/tool.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void tool_answer_clear(struct tool_answer *a)
{
    free(a->text);
    json_decref(a->result);
    memset(a, 0, sizeof *a);
}

void tool_text_error(struct tool_answer *a, const char *fmt, ...)
{
    tool_answer_clear(a);
    va_list ap;
    va_start(ap, fmt);
    a->text = str_vprintf(fmt, ap);
    va_end(ap);
    a->is_error = true;
}

void tool_result(struct tool_answer *a, json_t *obj)
{
    tool_answer_clear(a);
    a->result = obj;
}

void tool_build_error(struct tool_answer *a, const char *msg, const char *build_id)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    if (build_id && *build_id)
        json_object_set_new(o, "build_id", json_string(build_id));
    tool_result(a, o);
}

char *tool_answer_text(const struct tool_answer *a)
{
    if (a->is_error)
        return xstrdup(a->text ? a->text : "");
    return a->result ? jsonx_dump(a->result) : xstrdup("{}");
}

void tool_cancel_init(struct tool_cancel *c)
{
    atomic_init(&c->canceled, false);
    pthread_mutex_init(&c->lock, NULL);
    c->wake = NULL;
    c->wake_arg = NULL;
}

void tool_cancel_destroy(struct tool_cancel *c)
{
    pthread_mutex_destroy(&c->lock);
}

void tool_cancel_trigger(struct tool_cancel *c)
{
    atomic_store(&c->canceled, true);
    pthread_mutex_lock(&c->lock);
    if (c->wake)
        c->wake(c->wake_arg);
    pthread_mutex_unlock(&c->lock);
}

bool tool_cancel_is_set(struct tool_cancel *c)
{
    return c && atomic_load(&c->canceled);
}

const struct tool_def *tool_defs(size_t *n)
{
    *n = 0;
    return NULL;
}

const struct tool_def *tool_find(const char *name)
{
    (void)name;
    return NULL;
}

void tool_run(const struct tool_env *env, const char *name, const struct tool_call *call,
              struct tool_answer *out)
{
    (void)env;
    (void)call;
    tool_text_error(out, "tool %s: not implemented", name);
}
