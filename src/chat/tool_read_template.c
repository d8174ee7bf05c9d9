/* tool_read_template.c - read_template: a template and the parameters of its active version, so
 * the model knows what to pass to create_workspace or start_workspace (reference §3.2). */
#include "chat/internal.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdlib.h>
#include <string.h>

#define PARAM_DESCRIPTION_MAX 300 /* runes */

/* The options of a parameter (a JSON array text) as an array, or NULL when there are none or
 * the text is not a non-empty array of objects. */
static json_t *options_json(const char *text)
{
    if (!text || !text[0])
        return NULL;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    bool ok = json_is_array(v) && json_array_size(v) > 0;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        ok = ok && json_is_object(item);
    }
    if (!ok) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static json_t *param_json(const struct version_param *p)
{
    json_t *o = json_pack("{s:s, s:s, s:b}", "name", p->name, "type", p->type, "required",
                          (int)p->required);
    tool_set_trimmed(o, "display_name", p->display_name, 0);
    tool_set_trimmed(o, "description", p->description, PARAM_DESCRIPTION_MAX);
    if (p->default_value && p->default_value[0])
        json_object_set_new(o, "default", json_string(p->default_value));
    if (p->mutable_)
        json_object_set_new(o, "mutable", json_true());
    if (p->ephemeral)
        json_object_set_new(o, "ephemeral", json_true());
    json_t *options = options_json(p->options);
    if (options)
        json_object_set_new(o, "options", options);
    if (p->validation_regex && p->validation_regex[0])
        json_object_set_new(o, "validation_regex", json_string(p->validation_regex));
    if (p->has_min)
        json_object_set_new(o, "validation_min", json_integer(p->validation_min));
    if (p->has_max)
        json_object_set_new(o, "validation_max", json_integer(p->validation_max));
    return o;
}

static void run(const struct tool_env *env, const struct tool_call *call, struct tool_answer *out)
{
    const char *arg;
    if (tool_arg_string(call->args, "template_id", &arg, out) < 0)
        return;
    char *id = str_trim(xstrdup(arg ? arg : ""));
    struct template_row t = {0};
    struct version_param_list params = {0};
    struct err e = ERR_INIT;

    if (!id[0]) {
        tool_text_error(out, "template_id is required");
        goto done;
    }
    /* The reference parses the id as a UUID and shows the parser's error. */
    if (!uuid_valid(id)) {
        char why[64];
        uuid_invalid_reason(id, why, sizeof why);
        tool_text_error(out, "invalid template_id: %s", why);
        goto done;
    }
    str_lower(id); /* ids are stored in lower case; a UUID's hex digits may come in either */
    if (!tool_template_allowed(env, id) || env->db.template_get(env->db.arg, id, &t, &e) < 0 ||
        t.deleted) {
        tool_text_error(out, "template not found");
        goto done;
    }
    if (env->db.version_params(env->db.arg, t.active_version_id, &params, &e) < 0) {
        tool_text_error(out, "failed to get template parameters: %s", err_msg(&e));
        goto done;
    }

    json_t *info = json_pack("{s:s, s:s, s:s}", "id", t.id, "name", t.name, "active_version_id",
                             t.active_version_id);
    tool_set_trimmed(info, "display_name", t.display_name, 0);
    tool_set_trimmed(info, "description", t.description, 0);
    json_t *list = json_array();
    for (size_t i = 0; i < params.n; i++)
        json_array_append_new(list, param_json(&params.items[i]));
    tool_result(out, json_pack("{s:o, s:o}", "template", info, "parameters", list));

done:
    version_param_list_free(&params);
    template_row_clear(&t);
    err_clear(&e);
    free(id);
}

const struct tool_def tool_read_template = {
    .name = "read_template",
    .description =
        "Show a workspace template and the parameters of its active version. Use it after "
        "list_templates and before create_workspace, to learn which parameters the template "
        "takes, which are required, their defaults, allowed options and limits; also when "
        "start_workspace says the workspace needs the template's active version. Returns "
        "{template: {id, name, active_version_id, display_name?, description?}, parameters: "
        "[{name, type, required, display_name?, description?, default?, mutable?, ephemeral?, "
        "options?, validation_regex?, validation_min?, validation_max?}]}.",
    .input_schema = "{\"type\":\"object\",\"properties\":{"
                    "\"template_id\":{\"type\":\"string\",\"description\":\"The id of the "
                    "template (a UUID), as list_templates returns it.\"}},"
                    "\"required\":[\"template_id\"],\"additionalProperties\":false}",
    .run = run,
};
