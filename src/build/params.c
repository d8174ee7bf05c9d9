/* params.c - classic parameter resolution and validation, with the reference's messages.
 *
 * For each parameter the target version declares: provided = the request's value; prev = the
 * previous build's. An immutable parameter may not change once set; a required one must come
 * from the request or the previous build; the value is provided ?? (ephemeral ? none : prev) ??
 * default, then validated. berth also checks that a number parameter holds an integer even
 * when it declares no validation (the reference skips that check).
 */
#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "build/build.h"

#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

/* A parameter failure: kind ERR_PARAM_VALIDATION, the reference's message and detail. */
static int param_fail(struct err *e, const char *name, char *detail)
{
    err_set(e, ERR_PARAM_VALIDATION, "Unable to validate parameter \"%s\"", name);
    err_detail(e, "%s", detail);
    err_add_validation(e, name, "%s", detail);
    free(detail);
    return -1;
}

/* Go's strconv.Atoi on int: optional sign, decimal digits, within int64. */
static bool parse_int(const char *s, int64_t *out)
{
    return str_to_int64(s, out) == 0;
}

static char *options_text(const json_t *options)
{
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '[');
    size_t i;
    json_t *o;
    json_array_foreach(options, i, o)
    {
        if (i)
            buf_putc(&b, ' ');
        buf_puts(&b, jsonx_get_str(o, "value", ""));
    }
    buf_putc(&b, ']');
    return buf_take(&b);
}

static bool option_has(const json_t *options, const char *value)
{
    size_t i;
    json_t *o;
    json_array_foreach(options, i, o)
    {
        if (strcmp(jsonx_get_str(o, "value", ""), value) == 0)
            return true;
    }
    return false;
}

/* {min}, {max} and {value} in the template's own error text. */
static char *render_error(const struct version_param *p, const char *value)
{
    struct buf b;
    buf_init(&b, 0);
    for (const char *s = p->validation_error; *s; s++) {
        if (str_has_prefix(s, "{min}")) {
            buf_printf(&b, "%lld", (long long)(p->has_min ? p->validation_min : 0));
            s += 4;
        } else if (str_has_prefix(s, "{max}")) {
            buf_printf(&b, "%lld", (long long)(p->has_max ? p->validation_max : 0));
            s += 4;
        } else if (str_has_prefix(s, "{value}")) {
            buf_puts(&b, value);
            s += 6;
        } else {
            buf_putc(&b, *s);
        }
    }
    return buf_take(&b);
}

/* The type and validation rules (the provider's Validation.Valid). NULL when the value is
 * valid, else the message (caller frees). */
static char *check_rules(const struct version_param *p, const char *value)
{
    bool has_error_text = p->validation_error && *p->validation_error;
    if (strcmp(p->type, "bool") == 0) {
        if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
            return xstrdup("boolean value can be either \"true\" or \"false\"");
        return NULL;
    }
    if (strcmp(p->type, "string") == 0) {
        if (!p->validation_regex || !*p->validation_regex)
            return NULL;
        if (!has_error_text)
            return xstrdup("an error must be specified with a regex validation");
        regex_t re;
        if (regcomp(&re, p->validation_regex, REG_EXTENDED | REG_NOSUB) != 0) {
            char *q = str_quote(p->validation_regex);
            char *m = str_printf("compile regex %s: invalid expression", q);
            free(q);
            return m;
        }
        int rc = regexec(&re, value, 0, NULL, 0);
        regfree(&re);
        if (rc == 0)
            return NULL;
        char *qv = str_quote(value), *qr = str_quote(p->validation_regex);
        char *m = str_printf("%s (value %s does not match %s)", p->validation_error, qv, qr);
        free(qv);
        free(qr);
        return m;
    }
    if (strcmp(p->type, "number") == 0) {
        int64_t n;
        if (!parse_int(value, &n)) {
            if (has_error_text)
                return render_error(p, value);
            char *q = str_quote(value);
            char *m = str_printf("value %s is not a number", q);
            free(q);
            return m;
        }
        if (p->has_min && n < p->validation_min)
            return has_error_text ? render_error(p, value)
                                  : str_printf("value %lld is less than the minimum %lld",
                                               (long long)n, (long long)p->validation_min);
        if (p->has_max && n > p->validation_max)
            return has_error_text ? render_error(p, value)
                                  : str_printf("value %lld is more than the maximum %lld",
                                               (long long)n, (long long)p->validation_max);
        return NULL;
    }
    if (strcmp(p->type, "list(string)") == 0) {
        json_error_t je;
        json_t *v = json_loads(value, JSON_DECODE_ANY, &je);
        bool ok = json_is_array(v);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) ok = ok && json_is_string(item);
        json_decref(v);
        if (ok)
            return NULL;
        char *q = str_quote(value);
        char *m = str_printf("value %s is not valid list of strings", q);
        free(q);
        return m;
    }
    return NULL;
}

/* validateBuildParameter: NULL when valid, else the rule's text (caller frees). */
static char *validate(const struct version_param *p, const char *resolved, const char *prev)
{
    if (p->required && (!resolved || !*resolved))
        return xstrdup("parameter value is required");
    const char *value =
        resolved && *resolved ? resolved : (p->default_value ? p->default_value : "");
    if (prev && *prev && strcmp(p->type, "number") == 0 && p->validation_monotonic[0]) {
        int64_t pv, cv;
        if (!parse_int(prev, &pv))
            return str_printf("previous parameter value is not a number: %s", prev);
        if (!parse_int(value, &cv))
            return str_printf("current parameter value is not a number: %s", value);
        if (strcmp(p->validation_monotonic, "increasing") == 0 && pv > cv)
            return str_printf("parameter value must be equal or greater than previous value: %lld",
                              (long long)pv);
        if (strcmp(p->validation_monotonic, "decreasing") == 0 && pv < cv)
            return str_printf("parameter value must be equal or lower than previous value: %lld",
                              (long long)pv);
    }
    json_error_t je;
    json_t *options = json_loads(p->options ? p->options : "[]", 0, &je);
    if (json_array_size(options) > 0) {
        bool matched;
        if (strcmp(p->type, "list(string)") == 0) {
            /* A multi-select: every element must be an option value. */
            json_t *v = json_loads(value, 0, &je);
            matched = json_is_array(v);
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) matched =
                matched && json_is_string(item) && option_has(options, json_string_value(item));
            json_decref(v);
        } else {
            matched = option_has(options, value);
        }
        char *m = NULL;
        if (!matched) {
            char *opts = options_text(options);
            m = str_printf("parameter value must match one of options: %s", opts);
            free(opts);
        }
        json_decref(options);
        return m;
    }
    json_decref(options);
    return check_rules(p, value);
}

static const char *find_req(const struct build_param_value *req, size_t n, const char *name)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++)
        if (req[i].name && strcmp(req[i].name, name) == 0)
            found = req[i].value ? req[i].value : "";
    return found;
}

static const char *find_prev(const struct build_param_list *prev, const char *name)
{
    for (size_t i = 0; prev && i < prev->n; i++)
        if (strcmp(prev->items[i].name, name) == 0)
            return prev->items[i].value ? prev->items[i].value : "";
    return NULL;
}

int build_resolve_params(const struct version_param_list *defs, const struct build_param_value *req,
                         size_t nreq, const struct build_param_list *prev,
                         struct build_param_list *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    out->items = xcalloc(defs->n ? defs->n : 1, sizeof *out->items);
    for (size_t i = 0; i < defs->n; i++) {
        const struct version_param *p = &defs->items[i];
        const char *provided = find_req(req, nreq, p->name);
        const char *previous = find_prev(prev, p->name);
        char *detail = NULL;
        if (!p->mutable_ && provided && previous && strcmp(provided, previous) != 0) {
            detail = str_printf("Parameter \"%s\" is not mutable, so it can't be updated after "
                                "creating a workspace.",
                                p->name);
            goto fail;
        }
        if (p->required && !provided && !previous) {
            detail = str_printf("Parameter \"%s\" is required but not provided", p->name);
            goto fail;
        }
        const char *resolved = provided;
        if (!resolved && !p->ephemeral)
            resolved = previous;
        if (!resolved)
            resolved = p->default_value ? p->default_value : "";
        char *why = validate(p, resolved, previous);
        if (why) {
            const char *label = p->display_name[0] ? p->display_name : p->name;
            char *ql = str_quote(label);
            detail = str_printf("can't validate build parameter %s: %s", ql, why);
            free(ql);
            free(why);
            goto fail;
        }
        str_copy(out->items[out->n].name, sizeof out->items[out->n].name, p->name);
        out->items[out->n].value = xstrdup(resolved);
        out->n++;
        continue;
    fail:
        build_param_list_free(out);
        return param_fail(e, p->name, detail);
    }
    return 0;
}
