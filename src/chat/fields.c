/* fields.c - small helpers for building tool results (see internal.h). */
#include "chat/internal.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>

void tool_set_trimmed(json_t *obj, const char *key, const char *text, size_t max_runes)
{
    char *t = str_trim(xstrdup(text ? text : ""));
    if (t[0]) {
        char *v = max_runes ? utf8_truncate(t, max_runes) : xstrdup(t);
        json_object_set_new(obj, key, json_string(v));
        free(v);
    }
    free(t);
}

bool tool_template_allowed(const struct tool_env *env, const char *template_id)
{
    const char *const *list = env->template_allowlist;
    if (!list || !list[0])
        return true;
    for (; *list; list++)
        if (str_eq_ci(*list, template_id))
            return true;
    return false;
}
