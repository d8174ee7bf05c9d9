/* json.c - strict parsing and field access over jansson (see json.h). */
#include "base/json.h"

#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

json_t *jsonx_parse(const void *data, size_t len, struct err *e)
{
    json_error_t je;
    json_t *v = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!v) {
        err_set(e, ERR_BAD_REQUEST, "Request body must be valid JSON.");
        err_detail(e, "line %d column %d: %s", je.line, je.column, je.text);
    }
    return v;
}

json_t *jsonx_parse_object(const void *data, size_t len, struct err *e)
{
    json_t *v = jsonx_parse(data, len, e);
    if (v && !json_is_object(v)) {
        json_decref(v);
        err_set(e, ERR_BAD_REQUEST, "Request body must be a JSON object.");
        return NULL;
    }
    return v;
}

int jsonx_invalid(struct err *e, const char *field, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *d = str_vprintf(fmt, ap);
    va_end(ap);
    err_set(e, ERR_BAD_REQUEST, "Validation failed.");
    err_detail(e, "%s: %s", field, d);
    err_add_validation(e, field, "%s", d);
    free(d);
    return -1;
}

/* Looks up key; 1 when present and not null, 0 when absent (or an error when required). */
static int lookup(const json_t *obj, const char *key, enum jsonx_need need, json_t **v,
                  struct err *e)
{
    *v = json_object_get(obj, key);
    if (!*v || json_is_null(*v)) {
        *v = NULL;
        if (need == JSONX_REQUIRED)
            return jsonx_invalid(e, key, "is required");
        return 0;
    }
    return 1;
}

int jsonx_string(const json_t *obj, const char *key, enum jsonx_need need, size_t maxlen,
                 const char **out, struct err *e)
{
    json_t *v;
    *out = NULL;
    int r = lookup(obj, key, need, &v, e);
    if (r <= 0)
        return r;
    if (!json_is_string(v))
        return jsonx_invalid(e, key, "must be a string");
    if (maxlen && json_string_length(v) > maxlen)
        return jsonx_invalid(e, key, "must be at most %zu bytes", maxlen);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return jsonx_invalid(e, key, "must not contain NUL characters");
    *out = json_string_value(v);
    return 0;
}

int jsonx_int(const json_t *obj, const char *key, enum jsonx_need need, int64_t *out, bool *present,
              struct err *e)
{
    json_t *v;
    if (present)
        *present = false;
    int r = lookup(obj, key, need, &v, e);
    if (r <= 0)
        return r;
    if (!json_is_integer(v))
        return jsonx_invalid(e, key, "must be an integer");
    *out = (int64_t)json_integer_value(v);
    if (present)
        *present = true;
    return 0;
}

int jsonx_bool(const json_t *obj, const char *key, enum jsonx_need need, bool *out, bool *present,
               struct err *e)
{
    json_t *v;
    if (present)
        *present = false;
    int r = lookup(obj, key, need, &v, e);
    if (r <= 0)
        return r;
    if (!json_is_boolean(v))
        return jsonx_invalid(e, key, "must be a boolean");
    *out = json_is_true(v);
    if (present)
        *present = true;
    return 0;
}

int jsonx_array(const json_t *obj, const char *key, enum jsonx_need need, size_t maxlen,
                json_t **out, struct err *e)
{
    json_t *v;
    *out = NULL;
    int r = lookup(obj, key, need, &v, e);
    if (r <= 0)
        return r;
    if (!json_is_array(v))
        return jsonx_invalid(e, key, "must be an array");
    if (maxlen && json_array_size(v) > maxlen)
        return jsonx_invalid(e, key, "must have at most %zu items", maxlen);
    *out = v;
    return 0;
}

int jsonx_object(const json_t *obj, const char *key, enum jsonx_need need, json_t **out,
                 struct err *e)
{
    json_t *v;
    *out = NULL;
    int r = lookup(obj, key, need, &v, e);
    if (r <= 0)
        return r;
    if (!json_is_object(v))
        return jsonx_invalid(e, key, "must be an object");
    *out = v;
    return 0;
}

json_t *jsonx_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *jsonx_time(int64_t us)
{
    if (!us)
        return json_null();
    char ts[TIME_STR_LEN];
    time_format(us, ts);
    return json_string(ts);
}

char *jsonx_dump(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return xstrdup("null");
    return s;
}

const char *jsonx_get_str(const json_t *obj, const char *key, const char *def)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : def;
}
