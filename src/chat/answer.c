/* answer.c - tool answers (text error, result, build error) and call cancellation. */
#include "chat/tool.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdlib.h>

void tool_answer_clear(struct tool_answer *a)
{
    free(a->text);
    json_decref(a->result);
    a->text = NULL;
    a->result = NULL;
    a->is_error = false;
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
    a->result = obj ? obj : json_object();
}

void tool_build_error(struct tool_answer *a, const char *msg, const char *build_id)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg));
    if (build_id && *build_id)
        json_object_set_new(o, "build_id", json_string(build_id));
    tool_result(a, o);
}

char *tool_answer_text(const struct tool_answer *a)
{
    if (a->is_error)
        return xstrdup(a->text ? a->text : "");
    char *s = a->result ? json_dumps(a->result, JSON_COMPACT) : NULL;
    return s ? s : xstrdup("{}");
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

bool tool_cancel_arm(struct tool_cancel *c, void (*wake)(void *arg), void *arg)
{
    if (!c)
        return true;
    pthread_mutex_lock(&c->lock);
    bool ok = !atomic_load(&c->canceled);
    if (ok) {
        c->wake = wake;
        c->wake_arg = arg;
    }
    pthread_mutex_unlock(&c->lock);
    return ok;
}

void tool_cancel_disarm(struct tool_cancel *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->wake = NULL;
    c->wake_arg = NULL;
    pthread_mutex_unlock(&c->lock);
}
