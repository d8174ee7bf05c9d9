/* args.c - decoding the members of a tool's arguments object (see internal.h): typed getters
 * that answer the model with `invalid parameters: "<name>" must be ...`, the string map of
 * build parameters, and durations read the way the reference (Go) reads them. */
#include "chat/internal.h"

#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The member (borrowed from args), or NULL when args is NULL or the member is absent or null. */
static json_t *member(const json_t *args, const char *name)
{
    json_t *v = json_is_object(args) ? json_object_get(args, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

static int wrong_type(struct tool_answer *a, const char *name, const char *what)
{
    tool_text_error(a, "invalid parameters: \"%s\" must be %s", name, what);
    return -1;
}

int tool_arg_string(const json_t *args, const char *name, const char **out, struct tool_answer *a)
{
    const json_t *v = member(args, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return wrong_type(a, name, "a string");
    *out = json_string_value(v);
    return 0;
}

/* Whether v is a JSON integer, or a real without a fraction in int64 range; *out its value. */
static bool integral(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    /* 2^63 itself is out of range; every double below it converts exactly. */
    if (!isfinite(d) || d != trunc(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
        return false;
    *out = (int64_t)d;
    return true;
}

int tool_arg_int(const json_t *args, const char *name, bool *present, int64_t *out,
                 struct tool_answer *a)
{
    const json_t *v = member(args, name);
    *present = false;
    if (!v)
        return 0;
    if (!integral(v, out))
        return wrong_type(a, name, "an integer");
    *present = true;
    return 0;
}

int tool_arg_bool(const json_t *args, const char *name, bool *out, struct tool_answer *a)
{
    const json_t *v = member(args, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return wrong_type(a, name, "a boolean");
    *out = json_is_true(v);
    return 0;
}

/* The shortest text of d that reads back as d ("0.1", not "0.10000000000000001"). */
static char *real_text(double d)
{
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    return xstrdup(buf);
}

/* A parameter value as text: strings as they are, numbers and booleans as their JSON text;
 * NULL for any other type. */
static char *param_text(const json_t *v)
{
    int64_t i;
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "true" : "false");
    if (integral(v, &i)) /* 2.0 reads as "2", as a model that wrote 2 meant */
        return str_printf("%lld", (long long)i);
    if (json_is_real(v))
        return real_text(json_real_value(v));
    return NULL;
}

int tool_arg_params(const json_t *args, const char *name, struct build_param_value **out, size_t *n,
                    struct tool_answer *a)
{
    json_t *obj = member(args, name);
    *out = NULL;
    *n = 0;
    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return wrong_type(a, name, "an object");
    size_t count = json_object_size(obj);
    if (count == 0)
        return 0;
    struct build_param_value *p = xcalloc(count, sizeof *p);
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char *value = param_text(v);
        if (!value) {
            tool_params_free(p, k);
            tool_text_error(a, "invalid parameters: \"%s.%s\" must be a string, number or boolean",
                            name, key);
            return -1;
        }
        p[k].name = xstrdup(key);
        p[k].value = value;
        k++;
    }
    *out = p;
    *n = k;
    return 0;
}

void tool_params_free(struct build_param_value *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free((char *)(uintptr_t)p[i].name);
        free((char *)(uintptr_t)p[i].value);
    }
    free(p);
}

/* Why duration_parse refused s (rest: s after its sign), in the words of Go's ParseDuration:
 * a number must be followed by a unit, and a unit runs to the next digit or '.'. */
static char *duration_why(const char *s, const char *rest)
{
    char *q = str_quote(s), *why;
    const char *p = rest;
    if (!*p)
        goto invalid;
    while (*p) {
        bool digits = false;
        while ((*p >= '0' && *p <= '9') || *p == '.') {
            digits |= *p != '.';
            p++;
        }
        if (!digits)
            goto invalid;
        const char *unit = p;
        while (*p && !((*p >= '0' && *p <= '9') || *p == '.'))
            p++;
        if (unit == p) {
            why = str_printf("time: missing unit in duration %s", q);
            free(q);
            return why;
        }
        size_t len = (size_t)(p - unit);
        if (!((len == 2 && memcmp(unit, "ms", 2) == 0) ||
              (len == 1 && (*unit == 's' || *unit == 'm' || *unit == 'h')))) {
            char *u = xstrndup(unit, len), *uq = str_quote(u);
            why = str_printf("time: unknown unit %s in duration %s", uq, q);
            free(uq);
            free(u);
            free(q);
            return why;
        }
    }
invalid:
    /* Every part read well, so the value itself was refused (too large, "1..5s"). */
    why = str_printf("time: invalid duration %s", q);
    free(q);
    return why;
}

int tool_duration(const char *s, int64_t *ms, char **why)
{
    const char *rest = s;
    bool neg = false;
    if (*rest == '-' || *rest == '+')
        neg = *rest++ == '-';
    if (duration_parse(rest, ms) == 0) {
        if (neg)
            *ms = -*ms;
        return 0;
    }
    *why = duration_why(s, rest);
    return -1;
}
