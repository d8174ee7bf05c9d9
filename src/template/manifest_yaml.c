/* manifest_yaml.c - YAML text to a jansson tree, with the safety limits of manifest.h.
 *
 * libyaml's event parser drives a recursive descent bounded at MAX_DEPTH levels. Anchors and
 * aliases are refused outright (no "billion laughs"), and scalars are resolved with a small,
 * fixed set of rules instead of YAML 1.1's many implicit types.
 */
#include "base/mem.h"
#include "base/str.h"
#include "template/internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 32
#define STR_TAG   "tag:yaml.org,2002:str"

struct yload {
    yaml_parser_t parser;
    struct err *e;
};

static int yaml_fail_at(struct yload *y, const yaml_mark_t *m, const char *what)
{
    return err_set(y->e, ERR_BAD_REQUEST, "berth.yaml: line %zu column %zu: %s", m->line + 1,
                   m->column + 1, what);
}

/* Reads the next event into ev (the caller deletes it on success). */
static int yaml_next(struct yload *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->parser, ev))
        return 0;
    const yaml_parser_t *p = &y->parser;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        mem_oom();
    case YAML_READER_ERROR:
        return err_set(y->e, ERR_BAD_REQUEST, "berth.yaml: byte %zu: %s", p->problem_offset,
                       problem);
    default:
        return yaml_fail_at(y, &p->problem_mark, problem);
    }
}

/* Refuses anchors (aliases are refused where they appear) and tags other than !!str on
 * scalars. */
static int check_props(struct yload *y, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag, bool scalar)
{
    if (anchor)
        return err_set(y->e, ERR_BAD_REQUEST, "berth.yaml: YAML aliases are not supported");
    if (tag && !(scalar && strcmp((const char *)tag, STR_TAG) == 0))
        return yaml_fail_at(y, &ev->start_mark, "YAML tags other than !!str are not supported");
    return 0;
}

static bool is_integer_text(const char *s, size_t n)
{
    size_t i = (n > 0 && s[0] == '-') ? 1 : 0;
    if (i == n)
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A new JSON value for a scalar event, resolved per manifest.h. */
static json_t *load_scalar(struct yload *y, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (check_props(y, ev, ev->data.scalar.anchor, ev->data.scalar.tag, true) < 0)
        return NULL;
    if (memchr(v, '\0', n)) {
        yaml_fail_at(y, &ev->start_mark, "NUL characters are not allowed");
        return NULL;
    }
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag) {
        if (n == 0 || strcmp(v, "null") == 0 || strcmp(v, "~") == 0)
            return json_null();
        if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
            return json_boolean(v[0] == 't');
        int64_t i;
        if (is_integer_text(v, n) && str_to_int64(v, &i) == 0)
            return json_integer(i);
    }
    json_t *s = json_stringn(v, n);
    if (!s)
        yaml_fail_at(y, &ev->start_mark, "a string is not valid UTF-8");
    return s;
}

static json_t *load_node(struct yload *y, yaml_event_t *ev, int depth);

static json_t *load_sequence(struct yload *y, int depth)
{
    json_t *arr = json_array();
    for (;;) {
        yaml_event_t ev;
        if (yaml_next(y, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        json_t *item = load_node(y, &ev, depth + 1);
        yaml_event_delete(&ev);
        if (!item)
            goto fail;
        json_array_append_new(arr, item);
    }
fail:
    json_decref(arr);
    return NULL;
}

/* Reads one key event and the value after it into obj. 1 at the end of the mapping. */
static int load_pair(struct yload *y, json_t *obj, int depth)
{
    yaml_event_t kev;
    if (yaml_next(y, &kev) < 0)
        return -1;
    int rc = -1;
    json_t *val = NULL;
    if (kev.type == YAML_MAPPING_END_EVENT) {
        rc = 1;
        goto out;
    }
    if (kev.type != YAML_SCALAR_EVENT) {
        yaml_fail_at(y, &kev.start_mark,
                     kev.type == YAML_ALIAS_EVENT ? "YAML aliases are not supported"
                                                  : "mapping keys must be scalars");
        goto out;
    }
    json_t *key = load_scalar(y, &kev);
    if (!key)
        goto out;
    json_decref(key); /* validated; the key is the scalar's text whatever its type */
    const char *k = (const char *)kev.data.scalar.value;
    if (json_object_get(obj, k)) {
        char *q = template_quote(k, kev.data.scalar.length);
        char *what = str_printf("duplicate key %s", q);
        yaml_fail_at(y, &kev.start_mark, what);
        free(what);
        free(q);
        goto out;
    }
    yaml_event_t vev;
    if (yaml_next(y, &vev) < 0)
        goto out;
    val = load_node(y, &vev, depth + 1);
    yaml_event_delete(&vev);
    if (!val)
        goto out;
    json_object_set_new(obj, k, val);
    rc = 0;
out:
    yaml_event_delete(&kev);
    return rc;
}

static json_t *load_mapping(struct yload *y, int depth)
{
    json_t *obj = json_object();
    for (;;) {
        int r = load_pair(y, obj, depth);
        if (r < 0) {
            json_decref(obj);
            return NULL;
        }
        if (r == 1)
            return obj;
    }
}

/* A new JSON value for the node starting with ev (borrowed; the caller deletes it). */
static json_t *load_node(struct yload *y, yaml_event_t *ev, int depth)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return load_scalar(y, ev);
    case YAML_ALIAS_EVENT:
        err_set(y->e, ERR_BAD_REQUEST, "berth.yaml: YAML aliases are not supported");
        return NULL;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        if (check_props(y, ev, seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor,
                        seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag, false) < 0)
            return NULL;
        if (depth > MAX_DEPTH) {
            yaml_fail_at(y, &ev->start_mark, "nesting is deeper than 32 levels");
            return NULL;
        }
        return seq ? load_sequence(y, depth) : load_mapping(y, depth);
    }
    default:
        yaml_fail_at(y, &ev->start_mark, "unexpected YAML event");
        return NULL;
    }
}

/* Reads the stream after STREAM-START: at most one document. */
static json_t *load_stream(struct yload *y)
{
    json_t *root = NULL;
    for (;;) {
        yaml_event_t ev;
        if (yaml_next(y, &ev) < 0)
            goto fail;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return root ? root : json_null();
        }
        if (t == YAML_DOCUMENT_START_EVENT && root) {
            yaml_fail_at(y, &ev.start_mark, "only one YAML document is allowed");
            yaml_event_delete(&ev);
            goto fail;
        }
        if (t != YAML_DOCUMENT_START_EVENT && t != YAML_DOCUMENT_END_EVENT) {
            root = load_node(y, &ev, 1);
            yaml_event_delete(&ev);
            if (!root)
                goto fail;
            continue;
        }
        yaml_event_delete(&ev);
    }
fail:
    json_decref(root);
    return NULL;
}

json_t *manifest_yaml_load(const char *yaml, size_t len, struct err *e)
{
    struct yload y = {.e = e};
    if (!yaml_parser_initialize(&y.parser))
        mem_oom();
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)yaml, len);
    json_t *root = NULL;
    yaml_event_t ev;
    if (yaml_next(&y, &ev) == 0) {
        bool ok = ev.type == YAML_STREAM_START_EVENT;
        yaml_event_delete(&ev);
        root = ok ? load_stream(&y) : NULL;
        if (!ok)
            err_set(e, ERR_BAD_REQUEST, "berth.yaml: not a YAML stream");
    }
    yaml_parser_delete(&y.parser);
    return root;
}
