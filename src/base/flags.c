/* flags.c - command-line flag parsing (see flags.h). */
#include "base/flags.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

static int set_value(const struct flag *f, const char *value, const char *origin, struct err *e)
{
    switch (f->type) {
    case FLAG_STRING: {
        char **t = f->target;
        free(*t);
        *t = xstrdup(value);
        return 0;
    }
    case FLAG_BOOL: {
        bool *t = f->target;
        if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
            strcmp(value, "yes") == 0)
            *t = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
            *t = false;
        else
            return err_set(e, ERR_BAD_REQUEST, "%s: --%s wants true or false, not \"%s\"", origin,
                           f->name, value);
        return 0;
    }
    case FLAG_INT: {
        int64_t v;
        if (str_to_int64(value, &v) < 0 || v < -2147483647 || v > 2147483647)
            return err_set(e, ERR_BAD_REQUEST, "%s: --%s wants a number, not \"%s\"", origin,
                           f->name, value);
        *(int *)f->target = (int)v;
        return 0;
    }
    case FLAG_LIST: {
        struct flag_list *l = f->target;
        l->items = xreallocarray(l->items, l->n + 1, sizeof *l->items);
        l->items[l->n++] = xstrdup(value);
        return 0;
    }
    }
    return 0;
}

static const struct flag *find_long(const struct flag *flags, size_t n, const char *name,
                                    size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
            return &flags[i];
    return NULL;
}

int flags_parse(const struct flag *flags, size_t nflags, int argc, char **argv, int first,
                char ***pos, int *npos, int *ndash, struct err *e)
{
    for (size_t i = 0; i < nflags; i++) {
        const char *v = flags[i].env ? getenv(flags[i].env) : NULL;
        if (v && *v && flags[i].type != FLAG_LIST && set_value(&flags[i], v, flags[i].env, e) < 0)
            return -1;
    }
    *pos = xcalloc((size_t)(argc > 0 ? argc : 1), sizeof **pos);
    *npos = 0;
    *ndash = -1;
    bool dash = false;
    for (int i = first; i < argc; i++) {
        char *a = argv[i];
        if (dash || a[0] != '-' || a[1] == '\0') {
            (*pos)[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            dash = true;
            *ndash = *npos;
            continue;
        }
        const struct flag *f = NULL;
        const char *value = NULL;
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            f = find_long(flags, nflags, name, eq ? (size_t)(eq - name) : strlen(name));
            if (eq)
                value = eq + 1;
        } else if (a[2] == '\0') {
            for (size_t k = 0; k < nflags; k++)
                if (flags[k].short_name == a[1])
                    f = &flags[k];
        }
        if (!f) {
            free(*pos);
            *pos = NULL;
            return err_set(e, ERR_BAD_REQUEST, "unknown flag %s", a);
        }
        if (!value && f->type != FLAG_BOOL) {
            if (i + 1 >= argc) {
                free(*pos);
                *pos = NULL;
                return err_set(e, ERR_BAD_REQUEST, "flag %s needs a value", a);
            }
            value = argv[++i];
        }
        if (set_value(f, value, "flag", e) < 0) {
            free(*pos);
            *pos = NULL;
            return -1;
        }
    }
    return 0;
}

void flags_usage(FILE *out, const struct flag *flags, size_t nflags)
{
    for (size_t i = 0; i < nflags; i++) {
        const struct flag *f = &flags[i];
        char left[64];
        if (f->short_name)
            snprintf(left, sizeof left, "-%c, --%s%s%s", f->short_name, f->name, f->arg ? " " : "",
                     f->arg ? f->arg : "");
        else
            snprintf(left, sizeof left, "    --%s%s%s", f->name, f->arg ? " " : "",
                     f->arg ? f->arg : "");
        fprintf(out, "  %-34s %s", left, f->help ? f->help : "");
        if (f->env)
            fprintf(out, " [$%s]", f->env);
        fputc('\n', out);
    }
}

void flag_list_free(struct flag_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}
