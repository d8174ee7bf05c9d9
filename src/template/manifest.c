/* manifest.c - berth.yaml validation: the top level, agents and scripts, and the field helpers
 * shared with manifest_params.c. The YAML itself is read by manifest_yaml.c.
 */
#include "template/manifest.h"

#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "template/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS     64
#define MAX_AGENTS         32
#define MAX_SCRIPTS        64
#define SCRIPT_MAX_BYTES   (64 * 1024)
#define DAY_MS             (24 * 3600 * 1000LL)
#define DEFAULT_PROVISION  600000
#define DEFAULT_CONNECTION 120000
#define DURATION_HINT      "like 90s, 10m or 1h30m"

/* True when s can appear unquoted in a key path: short, printable ASCII, no brackets. */
static bool label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_CHARS)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '[' || c == ']' || c == '.')
            return false;
    }
    return true;
}

char *manifest_path_key(const char *path, const char *key)
{
    if (!label_ok(key)) {
        char *q = template_quote(key, strlen(key));
        char *p = *path ? str_printf("%s.%s", path, q) : xstrdup(q);
        free(q);
        return p;
    }
    return *path ? str_printf("%s.%s", path, key) : xstrdup(key);
}

char *manifest_path_item(const char *path, size_t i, const json_t *item)
{
    const char *name = json_is_object(item) ? jsonx_get_str(item, "name", NULL) : NULL;
    if (name && label_ok(name))
        return str_printf("%s[%zu] (%s)", path, i, name);
    return str_printf("%s[%zu]", path, i);
}

int manifest_fail(struct err *e, const char *path, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = str_vprintf(fmt, ap);
    va_end(ap);
    char *where = key ? manifest_path_key(path, key) : xstrdup(path);
    err_set(e, ERR_BAD_REQUEST, "%s: %s", where, what);
    free(where);
    free(what);
    return -1;
}

char *manifest_value_text(const json_t *v)
{
    if (json_is_string(v))
        return template_quote(json_string_value(v), json_string_length(v));
    return jsonx_dump(v);
}

int manifest_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                        struct err *e)
{
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)(uintptr_t)obj, key, val)
    {
        bool known = false;
        for (size_t i = 0; allowed[i] && !known; i++)
            known = strcmp(key, allowed[i]) == 0;
        if (!known)
            return manifest_fail(e, path, key, "unknown key");
    }
    return 0;
}

int manifest_get_string(const json_t *obj, const char *path, const char *key, size_t max_chars,
                        char **out, struct err *e)
{
    *out = NULL;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = xstrdup("");
        return 0;
    }
    if (!json_is_string(v))
        return manifest_fail(e, path, key, "must be a string");
    size_t n = utf8_count(json_string_value(v));
    if (max_chars && n > max_chars)
        return manifest_fail(e, path, key, "must be at most %zu characters (it has %zu)", max_chars,
                             n);
    *out = xstrdup(json_string_value(v));
    return 0;
}

int manifest_get_bool(const json_t *obj, const char *path, const char *key, bool *out,
                      struct err *e)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return manifest_fail(e, path, key, "must be a boolean");
    *out = json_is_true(v);
    return 0;
}

int manifest_get_duration(const json_t *obj, const char *path, const char *key, int64_t *out,
                          bool *present, struct err *e)
{
    if (present)
        *present = false;
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    int64_t ms;
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        ms = 0;
    } else if (!json_is_string(v) && !json_is_integer(v)) {
        return manifest_fail(e, path, key, "must be a duration (" DURATION_HINT ")");
    } else if (!json_is_string(v) || duration_parse(json_string_value(v), &ms) < 0) {
        char *t = manifest_value_text(v);
        manifest_fail(e, path, key, "%s is not a duration (" DURATION_HINT ")", t);
        free(t);
        return -1;
    }
    *out = ms;
    if (present)
        *present = true;
    return 0;
}

int manifest_get_list(const json_t *obj, const char *path, const char *key, size_t max,
                      json_t **out, struct err *e)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return manifest_fail(e, path, key, "must be a list");
    if (json_array_size(v) > max)
        return manifest_fail(e, path, key, "must have at most %zu items (it has %zu)", max,
                             json_array_size(v));
    *out = v;
    return 0;
}

/* Checks a required name member against the length limit; *out borrowed from obj. */
static int get_name(const json_t *obj, const char *path, const char **out, struct err *e)
{
    const json_t *v = json_object_get(obj, "name");
    if (!v || json_is_null(v))
        return manifest_fail(e, path, "name", "is required");
    if (!json_is_string(v))
        return manifest_fail(e, path, "name", "must be a string");
    if (utf8_count(json_string_value(v)) > NAME_MAX_CHARS) {
        char *t = manifest_value_text(v);
        manifest_fail(e, path, "name", "%s is longer than %d characters", t, NAME_MAX_CHARS);
        free(t);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* [a-z0-9](-?[a-z0-9])* */
static bool agent_name_valid(const char *s)
{
    if (!*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && s[i - 1] != '-' && s[i + 1] != '\0'))
            return false;
    }
    return true;
}

static int parse_script(const json_t *item, const char *path, struct manifest_script *s,
                        struct err *e)
{
    static const char *const keys[] = {
        "name", "script", "run_on_start", "run_on_stop", "start_blocks_login", "timeout", NULL};
    if (!json_is_object(item))
        return manifest_fail(e, path, NULL, "must be a mapping");
    if (manifest_check_keys(item, path, keys, e) < 0)
        return -1;
    const char *name;
    if (get_name(item, path, &name, e) < 0)
        return -1;
    if (!*name)
        return manifest_fail(e, path, "name", "must not be empty");
    s->name = xstrdup(name);
    const json_t *body = json_object_get(item, "script");
    if (!body || json_is_null(body))
        return manifest_fail(e, path, "script", "is required");
    if (!json_is_string(body))
        return manifest_fail(e, path, "script", "must be a string");
    if (json_string_length(body) > SCRIPT_MAX_BYTES)
        return manifest_fail(e, path, "script", "must be at most %d bytes (it has %zu)",
                             SCRIPT_MAX_BYTES, json_string_length(body));
    s->script = xstrdup(json_string_value(body));
    if (manifest_get_bool(item, path, "run_on_start", &s->run_on_start, e) < 0 ||
        manifest_get_bool(item, path, "run_on_stop", &s->run_on_stop, e) < 0 ||
        manifest_get_bool(item, path, "start_blocks_login", &s->start_blocks_login, e) < 0 ||
        manifest_get_duration(item, path, "timeout", &s->timeout_ms, NULL, e) < 0)
        return -1;
    if (!s->run_on_start && !s->run_on_stop)
        return manifest_fail(e, path, NULL, "run_on_start or run_on_stop must be true");
    return 0;
}

static int parse_scripts(const json_t *list, const char *path, struct manifest_agent *a,
                         struct err *e)
{
    size_t n = json_array_size(list);
    a->scripts = xcalloc(n, sizeof *a->scripts);
    a->nscripts = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        char *ipath = manifest_path_item(path, i, item);
        int rc = parse_script(item, ipath, &a->scripts[i], e);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp(a->scripts[j].name, a->scripts[i].name) == 0) {
                char *q = template_quote(a->scripts[i].name, strlen(a->scripts[i].name));
                rc = manifest_fail(e, ipath, "name", "duplicate script name %s", q);
                free(q);
            }
        free(ipath);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int parse_agent(const json_t *item, const char *path, struct manifest_agent *a,
                       struct err *e)
{
    static const char *const keys[] = {"name", "directory", "connection_timeout", "scripts", NULL};
    if (!json_is_object(item))
        return manifest_fail(e, path, NULL, "must be a mapping");
    if (manifest_check_keys(item, path, keys, e) < 0)
        return -1;
    const char *name;
    if (get_name(item, path, &name, e) < 0)
        return -1;
    if (!agent_name_valid(name)) {
        char *q = template_quote(name, strlen(name));
        manifest_fail(e, path, "name",
                      "%s is not a valid agent name (lower-case letters, digits and single "
                      "hyphens)",
                      q);
        free(q);
        return -1;
    }
    a->name = xstrdup(name);
    a->connection_timeout_ms = DEFAULT_CONNECTION;
    json_t *scripts;
    char *spath = manifest_path_key(path, "scripts");
    int rc = -1;
    if (manifest_get_string(item, path, "directory", 0, &a->directory, e) < 0 ||
        manifest_get_duration(item, path, "connection_timeout", &a->connection_timeout_ms, NULL,
                              e) < 0 ||
        manifest_get_list(item, path, "scripts", MAX_SCRIPTS, &scripts, e) < 0 ||
        parse_scripts(scripts, spath, a, e) < 0)
        goto out;
    rc = 0;
out:
    free(spath);
    return rc;
}

static int parse_agents(const json_t *root, struct manifest *m, struct err *e)
{
    json_t *list;
    if (manifest_get_list(root, "", "agents", MAX_AGENTS, &list, e) < 0)
        return -1;
    size_t n = json_array_size(list);
    m->agents = xcalloc(n, sizeof *m->agents);
    m->nagents = n;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(list, i);
        char *path = manifest_path_item("agents", i, item);
        int rc = parse_agent(item, path, &m->agents[i], e);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (str_eq_ci(m->agents[j].name, m->agents[i].name)) {
                char *q = template_quote(m->agents[i].name, strlen(m->agents[i].name));
                rc = manifest_fail(e, path, "name", "duplicate agent name %s", q);
                free(q);
            }
        free(path);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int parse_provision(const json_t *root, struct manifest *m, struct err *e)
{
    const json_t *v = json_object_get(root, "provision");
    if (!v || json_is_null(v))
        return manifest_fail(e, "provision", NULL, "is required");
    if (!json_is_string(v))
        return manifest_fail(e, "provision", NULL, "must be a string");
    if (!*json_string_value(v))
        return manifest_fail(e, "provision", NULL, "must not be empty");
    const char *why = "it names the archive root";
    if (tarball_path_normalize(json_string_value(v), &m->provision, &why) < 0 || !*m->provision) {
        char *t = manifest_value_text(v);
        manifest_fail(e, "provision", NULL, "%s must be a relative path inside the archive: %s", t,
                      why);
        free(t);
        return -1;
    }
    bool present;
    m->provision_timeout_ms = DEFAULT_PROVISION;
    if (manifest_get_duration(root, "", "provision_timeout", &m->provision_timeout_ms, &present,
                              e) < 0)
        return -1;
    if (present && (m->provision_timeout_ms <= 0 || m->provision_timeout_ms > DAY_MS)) {
        char *t = manifest_value_text(json_object_get(root, "provision_timeout"));
        manifest_fail(e, "provision_timeout", NULL, "%s must be more than 0 and at most 24h", t);
        free(t);
        return -1;
    }
    return 0;
}

int manifest_parse(const char *yaml, size_t len, struct manifest *out, struct err *e)
{
    static const char *const keys[] = {"display_name",      "description", "icon",   "provision",
                                       "provision_timeout", "parameters",  "agents", NULL};
    memset(out, 0, sizeof *out);
    if (len > MANIFEST_MAX_BYTES)
        return err_set(e, ERR_BAD_REQUEST, "berth.yaml: larger than 1 MiB (%zu bytes)", len);
    json_t *root = manifest_yaml_load(yaml, len, e);
    if (!root)
        return -1;
    int rc = -1;
    json_t *params;
    if (json_is_null(root)) {
        json_decref(root);
        root = json_object();
    }
    if (!json_is_object(root)) {
        err_set(e, ERR_BAD_REQUEST, "berth.yaml: the top level must be a mapping");
        goto out;
    }
    if (manifest_check_keys(root, "", keys, e) < 0 ||
        manifest_get_string(root, "", "display_name", 64, &out->display_name, e) < 0 ||
        manifest_get_string(root, "", "description", 1024, &out->description, e) < 0 ||
        manifest_get_string(root, "", "icon", 256, &out->icon, e) < 0 ||
        parse_provision(root, out, e) < 0 ||
        manifest_get_list(root, "", "parameters", 100, &params, e) < 0 ||
        manifest_parse_params(params, out, e) < 0 || parse_agents(root, out, e) < 0)
        goto out;
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        manifest_free(out);
    return rc;
}

void manifest_free(struct manifest *m)
{
    if (!m)
        return;
    free(m->display_name);
    free(m->description);
    free(m->icon);
    free(m->provision);
    for (size_t i = 0; i < m->nparams; i++)
        manifest_param_free(&m->params[i]);
    free(m->params);
    for (size_t i = 0; i < m->nagents; i++) {
        struct manifest_agent *a = &m->agents[i];
        for (size_t j = 0; j < a->nscripts; j++) {
            free(a->scripts[j].name);
            free(a->scripts[j].script);
        }
        free(a->scripts);
        free(a->name);
        free(a->directory);
    }
    free(m->agents);
    memset(m, 0, sizeof *m);
}
