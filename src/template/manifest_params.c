/* manifest_params.c - validation of berth.yaml's parameters: names, types, defaults, options
 * and validation rules (regex, min/max, monotonic), each error naming the key path.
 */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "template/internal.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS  64
#define MAX_OPTIONS     64
#define REGEX_MAX_BYTES 1024
#define REGEX_MAX_UNITS 1000 /* pattern size after expanding {n,m}: glibc's regcomp copies */
#define REGEX_MAX_NEST  32

static const char *const param_types[] = {"string", "number", "bool", "list(string)", NULL};

static bool is_integer_text(const char *s)
{
    size_t i = s[0] == '-' ? 1 : 0;
    if (!s[i])
        return false;
    for (; s[i]; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* [a-z][a-z0-9_]* */
static bool param_name_valid(const char *s)
{
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return false;
    for (size_t i = 1; s[i]; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* A scalar as text (3 -> "3", true -> "true"); NULL for null, collections and absence. */
static char *scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return str_printf("%lld", (long long)json_integer_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "true" : "false");
    return NULL;
}

/* Fails with "<path>.<key>: <quoted s> <what>". */
static int value_fail(struct err *e, const char *path, const char *key, const char *s,
                      const char *what)
{
    char *q = template_quote(s, strlen(s));
    manifest_fail(e, path, key, "%s %s", q, what);
    free(q);
    return -1;
}

/* Fails with "<path>.<key>: duplicate <what> <quoted s>". */
static int dup_fail(struct err *e, const char *path, const char *key, const char *what,
                    const char *s)
{
    char *q = template_quote(s, strlen(s));
    manifest_fail(e, path, key, "duplicate %s %s", what, q);
    free(q);
    return -1;
}

/* A new array when s is a JSON array of strings, else NULL. */
static json_t *string_list(const char *s)
{
    json_t *arr = json_loads(s, JSON_REJECT_DUPLICATES, NULL);
    bool ok = json_is_array(arr);
    for (size_t i = 0; ok && i < json_array_size(arr); i++)
        ok = json_is_string(json_array_get(arr, i));
    if (!ok) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* Checks that v (a value of parameter type) is well-formed: an integer for number,
 * true/false for bool. List defaults are checked by parse_default. */
static int check_typed(const char *type, const char *v, const char *path, const char *key,
                       struct err *e)
{
    int64_t n;
    if (strcmp(type, "number") == 0 && (!is_integer_text(v) || str_to_int64(v, &n) < 0))
        return value_fail(e, path, key, v, "is not an integer");
    if (strcmp(type, "bool") == 0 && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return value_fail(e, path, key, v, "is not true or false");
    return 0;
}

/* The ']' closing the bracket expression that starts at p, or NULL when unterminated. */
static const char *bracket_end(const char *p)
{
    const char *q = p + 1;
    q += (*q == '^');
    q += (*q == ']');
    while (*q && *q != ']') {
        if (q[0] == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
            char close = q[1];
            const char *r = q + 2;
            while (*r && !(r[0] == close && r[1] == ']'))
                r++;
            if (!*r)
                return NULL;
            q = r + 2;
        } else {
            q++;
        }
    }
    return *q ? q : NULL;
}

/* Reads a bound "{n}", "{n,}", "{,m}" or "{n,m}" at p. Returns its '}' with *copies set to how
 * many copies of the repeated expression glibc makes (m, or n + 1 for "{n,}"; saturated), or
 * NULL when p does not start a bound. */
static const char *bound_end(const char *p, uint64_t *copies)
{
    const char *q = p + 1;
    uint64_t lo = 0, hi = 0;
    bool digits = false, comma = false, hi_digits = false;
    for (; *q >= '0' && *q <= '9'; q++, digits = true)
        lo = lo > REGEX_MAX_UNITS ? lo : lo * 10 + (uint64_t)(*q - '0');
    if (*q == ',') {
        comma = true;
        for (q++; *q >= '0' && *q <= '9'; q++, digits = hi_digits = true)
            hi = hi > REGEX_MAX_UNITS ? hi : hi * 10 + (uint64_t)(*q - '0');
    }
    if (*q != '}' || !digits)
        return NULL;
    *copies = (comma && !hi_digits) ? lo + 1 : (hi > lo ? hi : lo);
    return q;
}

/* What regex_check found. */
enum regex_shape { REGEX_OK, REGEX_TOO_BIG, REGEX_BACKREF };

/* Estimates the size of an extended regex once glibc's regcomp has expanded its repetitions
 * (it copies the repeated expression: "x{n,m}" m times, "x+" as "xx*"; alternatives add up; a
 * bracket expression or an escape is one unit), and finds back-references (which make
 * matching exponential). Malformed patterns are left to regcomp. */
static enum regex_shape regex_check(const char *re)
{
    uint64_t sum[REGEX_MAX_NEST + 1] = {0}, last = 0, copies;
    int depth = 0;
    for (const char *p = re; *p; p++) {
        const char *end;
        uint64_t atom = 1;
        if (*p == '(') {
            if (++depth > REGEX_MAX_NEST)
                return REGEX_TOO_BIG;
            sum[depth] = 0;
            last = 0;
            continue;
        } else if (*p == ')' && depth > 0) {
            atom = sum[depth] ? sum[depth] : 1;
            depth--;
        } else if (*p == '+') {
            sum[depth] += last; /* "x+" is compiled as "xx*" */
            last *= 2;
            atom = 0;
        } else if (*p == '{' && (end = bound_end(p, &copies)) != NULL) {
            sum[depth] += last * (copies ? copies - 1 : 0);
            last *= copies ? copies : 1;
            p = end;
            atom = 0;
        } else if (*p == '[') {
            if (!(end = bracket_end(p)))
                return REGEX_OK;
            p = end;
        } else if (*p == '\\' && p[1] >= '1' && p[1] <= '9') {
            return REGEX_BACKREF;
        } else if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '|' || *p == '*' || *p == '?') {
            atom = 0;
        }
        if (atom) {
            sum[depth] += atom;
            last = atom;
        }
        if (sum[depth] > REGEX_MAX_UNITS || last > REGEX_MAX_UNITS)
            return REGEX_TOO_BIG;
    }
    return REGEX_OK;
}

static int parse_regex(const json_t *val, const char *vpath, struct manifest_param *p,
                       struct err *e)
{
    const json_t *v = json_object_get(val, "regex");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return manifest_fail(e, vpath, "regex", "must be a string");
    const char *re = json_string_value(v);
    if (!*re)
        return 0;
    if (strcmp(p->type, "string") != 0)
        return manifest_fail(e, vpath, "regex", "only string parameters may set a regex");
    if (!*p->validation_error)
        return manifest_fail(e, vpath, "error", "a regex needs error text");
    if (strlen(re) > REGEX_MAX_BYTES)
        return manifest_fail(e, vpath, "regex", "must be at most %d bytes", REGEX_MAX_BYTES);
    enum regex_shape shape = regex_check(re);
    if (shape == REGEX_BACKREF)
        return value_fail(e, vpath, "regex", re, "uses back-references, which are not supported");
    if (shape == REGEX_TOO_BIG)
        return value_fail(e, vpath, "regex", re, "is too complex (repetitions are too large)");
    regex_t rx;
    int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
        char why[256];
        regerror(rc, &rx, why, sizeof why);
        char *q = template_quote(re, strlen(re));
        manifest_fail(e, vpath, "regex", "%s is not a valid regular expression: %s", q, why);
        free(q);
        return -1;
    }
    regfree(&rx);
    p->validation_regex = xstrdup(re);
    return 0;
}

/* An optional integer bound (min or max) that only number parameters may set. */
static int parse_bound(const json_t *val, const char *vpath, const char *key,
                       const struct manifest_param *p, bool *has, int64_t *out, struct err *e)
{
    const json_t *v = json_object_get(val, key);
    if (!v || json_is_null(v))
        return 0;
    if (strcmp(p->type, "number") != 0)
        return manifest_fail(e, vpath, key, "only number parameters may set %s", key);
    if (!json_is_integer(v))
        return manifest_fail(e, vpath, key, "must be an integer");
    *has = true;
    *out = json_integer_value(v);
    return 0;
}

static int parse_validation(const json_t *item, const char *path, struct manifest_param *p,
                            struct err *e)
{
    static const char *const keys[] = {"regex", "error", "min", "max", "monotonic", NULL};
    const json_t *val = json_object_get(item, "validation");
    if (!val || json_is_null(val)) {
        p->validation_error = xstrdup("");
        p->monotonic = xstrdup("");
        return 0;
    }
    char *vpath = manifest_path_key(path, "validation");
    int rc = -1;
    if (!json_is_object(val)) {
        manifest_fail(e, vpath, NULL, "must be a mapping");
        goto out;
    }
    if (manifest_check_keys(val, vpath, keys, e) < 0 ||
        manifest_get_string(val, vpath, "error", 0, &p->validation_error, e) < 0 ||
        parse_regex(val, vpath, p, e) < 0 ||
        parse_bound(val, vpath, "min", p, &p->has_min, &p->min, e) < 0 ||
        parse_bound(val, vpath, "max", p, &p->has_max, &p->max, e) < 0)
        goto out;
    if (p->has_min && p->has_max && p->min > p->max) {
        manifest_fail(e, vpath, "min", "%lld is greater than max %lld", (long long)p->min,
                      (long long)p->max);
        goto out;
    }
    const json_t *mono = json_object_get(val, "monotonic");
    if (mono && !json_is_null(mono) && strcmp(p->type, "number") != 0) {
        manifest_fail(e, vpath, "monotonic", "only number parameters may set monotonic");
        goto out;
    }
    if (manifest_get_string(val, vpath, "monotonic", 0, &p->monotonic, e) < 0)
        goto out;
    if (*p->monotonic && strcmp(p->monotonic, "increasing") != 0 &&
        strcmp(p->monotonic, "decreasing") != 0) {
        value_fail(e, vpath, "monotonic", p->monotonic, "is not increasing or decreasing");
        goto out;
    }
    rc = 0;
out:
    free(vpath);
    return rc;
}

/* An option's name or value: a required scalar, as text. */
static int option_text(const json_t *opt, const char *opath, const char *key, char **out,
                       struct err *e)
{
    const json_t *v = json_object_get(opt, key);
    if (!v || json_is_null(v))
        return manifest_fail(e, opath, key, "is required");
    *out = scalar_text(v);
    if (!*out)
        return manifest_fail(e, opath, key, "must be a string, number or boolean");
    return 0;
}

static int parse_option(const json_t *opt, const char *opath, const struct manifest_param *p,
                        struct manifest_option *o, struct err *e)
{
    static const char *const keys[] = {"name", "value", "description", "icon", NULL};
    if (!json_is_object(opt))
        return manifest_fail(e, opath, NULL, "must be a mapping");
    if (manifest_check_keys(opt, opath, keys, e) < 0 ||
        option_text(opt, opath, "name", &o->name, e) < 0)
        return -1;
    if (!*o->name)
        return manifest_fail(e, opath, "name", "must not be empty");
    if (option_text(opt, opath, "value", &o->value, e) < 0 ||
        check_typed(p->type, o->value, opath, "value", e) < 0 ||
        manifest_get_string(opt, opath, "description", 0, &o->description, e) < 0 ||
        manifest_get_string(opt, opath, "icon", 0, &o->icon, e) < 0)
        return -1;
    for (const struct manifest_option *prev = p->options; prev < o; prev++) {
        if (strcmp(prev->name, o->name) == 0)
            return dup_fail(e, opath, "name", "option name", o->name);
        if (strcmp(prev->value, o->value) == 0)
            return dup_fail(e, opath, "value", "option value", o->value);
    }
    return 0;
}

static int parse_options(const json_t *item, const char *path, struct manifest_param *p,
                         struct err *e)
{
    json_t *list;
    if (manifest_get_list(item, path, "options", MAX_OPTIONS, &list, e) < 0)
        return -1;
    size_t n = json_array_size(list);
    p->options = xcalloc(n, sizeof *p->options);
    p->noptions = n;
    char *lpath = manifest_path_key(path, "options");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *opath = str_printf("%s[%zu]", lpath, i);
        rc = parse_option(json_array_get(list, i), opath, p, &p->options[i], e);
        free(opath);
    }
    free(lpath);
    return rc;
}

/* Checks one default value (a list element for list(string)) against options and rules. */
static int check_default_value(const struct manifest_param *p, const char *path, const char *v,
                               struct err *e)
{
    bool listed = p->noptions == 0;
    for (size_t i = 0; i < p->noptions && !listed; i++)
        listed = strcmp(p->options[i].value, v) == 0;
    if (!listed)
        return value_fail(e, path, "default", v, "is not one of the options");
    if (*p->validation_regex) {
        regex_t rx;
        if (regcomp(&rx, p->validation_regex, REG_EXTENDED | REG_NOSUB) != 0)
            return manifest_fail(e, path, "default", "cannot be checked against the regex");
        int nomatch = regexec(&rx, v, 0, NULL, 0);
        regfree(&rx);
        if (nomatch) {
            char *re = template_quote(p->validation_regex, strlen(p->validation_regex));
            char *q = template_quote(v, strlen(v));
            manifest_fail(e, path, "default", "%s does not match the regex %s", q, re);
            free(q);
            free(re);
            return -1;
        }
    }
    int64_t n = 0;
    if (strcmp(p->type, "number") == 0 && str_to_int64(v, &n) == 0) {
        if (p->has_min && n < p->min)
            return manifest_fail(e, path, "default", "%s is less than the minimum %lld", v,
                                 (long long)p->min);
        if (p->has_max && n > p->max)
            return manifest_fail(e, path, "default", "%s is greater than the maximum %lld", v,
                                 (long long)p->max);
    }
    return 0;
}

/* Reads "default" into p->default_value (NULL when absent) and checks it. */
static int parse_default(const json_t *item, const char *path, struct manifest_param *p,
                         struct err *e)
{
    const json_t *v = json_object_get(item, "default");
    bool is_list = strcmp(p->type, "list(string)") == 0;
    if (!v || json_is_null(v))
        return 0;
    json_t *elems = NULL;
    int rc = -1;
    if (json_is_array(v) && is_list) {
        elems = json_array();
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (!json_is_string(json_array_get(v, i))) {
                manifest_fail(e, path, "default", "must be a list of strings");
                goto out;
            }
            json_array_append(elems, json_array_get(v, i));
        }
    } else if (json_is_array(v)) {
        manifest_fail(e, path, "default", "a list is only valid for list(string) parameters");
        goto out;
    } else {
        char *text = scalar_text(v);
        if (!text) {
            manifest_fail(e, path, "default", "must be a string, number or boolean");
            goto out;
        }
        p->default_value = text;
        if (check_typed(p->type, text, path, "default", e) < 0)
            goto out;
        if (is_list && !(elems = string_list(text))) {
            value_fail(e, path, "default", text, "is not a JSON array of strings");
            goto out;
        }
    }
    if (is_list) {
        free(p->default_value);
        p->default_value = jsonx_dump(elems);
        for (size_t i = 0; i < json_array_size(elems); i++)
            if (check_default_value(p, path, json_string_value(json_array_get(elems, i)), e) < 0)
                goto out;
    } else if (check_default_value(p, path, p->default_value, e) < 0) {
        goto out;
    }
    rc = 0;
out:
    json_decref(elems);
    return rc;
}

static int parse_type(const json_t *item, const char *path, struct manifest_param *p, struct err *e)
{
    const json_t *v = json_object_get(item, "type");
    if (!v || json_is_null(v))
        return manifest_fail(e, path, "type", "is required");
    if (!json_is_string(v))
        return manifest_fail(e, path, "type", "must be a string");
    for (size_t i = 0; param_types[i]; i++)
        if (strcmp(json_string_value(v), param_types[i]) == 0) {
            p->type = xstrdup(param_types[i]);
            return 0;
        }
    return value_fail(e, path, "type", json_string_value(v),
                      "is not a valid type (string, number, bool or list(string))");
}

static int parse_param(const json_t *item, const char *path, struct manifest_param *p,
                       struct err *e)
{
    static const char *const keys[] = {
        "name",    "display_name", "description", "type",       "default",
        "mutable", "ephemeral",    "options",     "validation", NULL};
    if (!json_is_object(item))
        return manifest_fail(e, path, NULL, "must be a mapping");
    if (manifest_check_keys(item, path, keys, e) < 0)
        return -1;
    const json_t *name = json_object_get(item, "name");
    if (!name || json_is_null(name))
        return manifest_fail(e, path, "name", "is required");
    if (!json_is_string(name))
        return manifest_fail(e, path, "name", "must be a string");
    if (utf8_count(json_string_value(name)) > NAME_MAX_CHARS)
        return value_fail(e, path, "name", json_string_value(name), "is longer than 64 characters");
    if (!param_name_valid(json_string_value(name)))
        return value_fail(e, path, "name", json_string_value(name),
                          "is not a valid parameter name (a lower-case letter, then lower-case "
                          "letters, digits and underscores)");
    p->name = xstrdup(json_string_value(name));
    p->mutable_ = true;
    if (manifest_get_string(item, path, "display_name", 0, &p->display_name, e) < 0 ||
        manifest_get_string(item, path, "description", 0, &p->description, e) < 0 ||
        parse_type(item, path, p, e) < 0 ||
        manifest_get_bool(item, path, "mutable", &p->mutable_, e) < 0 ||
        manifest_get_bool(item, path, "ephemeral", &p->ephemeral, e) < 0 ||
        parse_validation(item, path, p, e) < 0)
        return -1;
    if (!p->validation_regex)
        p->validation_regex = xstrdup("");
    if (parse_options(item, path, p, e) < 0 || parse_default(item, path, p, e) < 0)
        return -1;
    p->required = p->default_value == NULL;
    if (p->ephemeral && p->required)
        return manifest_fail(e, path, "ephemeral", "an ephemeral parameter needs a default");
    return 0;
}

int manifest_parse_params(const json_t *list, struct manifest *m, struct err *e)
{
    size_t n = json_array_size(list);
    m->params = xcalloc(n, sizeof *m->params);
    m->nparams = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        char *path = manifest_path_item("parameters", i, item);
        int rc = parse_param(item, path, &m->params[i], e);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(m->params[j].name, m->params[i].name) == 0)
                rc = dup_fail(e, path, "name", "parameter name", m->params[i].name);
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void manifest_param_free(struct manifest_param *p)
{
    free(p->name);
    free(p->display_name);
    free(p->description);
    free(p->type);
    free(p->default_value);
    for (size_t i = 0; i < p->noptions; i++) {
        free(p->options[i].name);
        free(p->options[i].value);
        free(p->options[i].description);
        free(p->options[i].icon);
    }
    free(p->options);
    free(p->validation_regex);
    free(p->validation_error);
    free(p->monotonic);
    memset(p, 0, sizeof *p);
}
