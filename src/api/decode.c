/* decode.c - JSON request bodies into typed requests (see decode.h). */
#include "api/decode.h"

#include "base/json.h"
#include "rbac/rbac.h"

#include <string.h>

#define FIELD_MAX 4096 /* generous cap for short string fields */

int api_decode_first_user(const json_t *body, struct user_create_req *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "email", JSONX_REQUIRED, FIELD_MAX, &out->email, e) < 0 ||
        jsonx_string(body, "username", JSONX_REQUIRED, FIELD_MAX, &out->username, e) < 0 ||
        jsonx_string(body, "password", JSONX_REQUIRED, FIELD_MAX, &out->password, e) < 0)
        return -1;
    return 0;
}

int api_decode_user_create(const json_t *body, struct user_create_req *out, struct err *e)
{
    if (api_decode_first_user(body, out, e) < 0)
        return -1;
    json_t *roles;
    if (jsonx_array(body, "roles", JSONX_OPTIONAL, 8, &roles, e) < 0)
        return -1;
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r)
    {
        unsigned b;
        if (!json_is_string(r) || rbac_role_parse(json_string_value(r), &b) < 0)
            return jsonx_invalid(e, "roles",
                                 "each role must be one of \"owner\", \"template-admin\", "
                                 "\"member\"");
        out->roles |= b;
    }
    return 0;
}

int api_decode_login(const json_t *body, struct login_req *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "email", JSONX_REQUIRED, FIELD_MAX, &out->email, e) < 0 ||
        jsonx_string(body, "password", JSONX_REQUIRED, FIELD_MAX, &out->password, e) < 0)
        return -1;
    return 0;
}

int api_decode_token(const json_t *body, struct token_req *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "token_name", JSONX_OPTIONAL, NAME_MAX_LEN, &out->name, e) < 0 ||
        jsonx_int(body, "lifetime_seconds", JSONX_OPTIONAL, &out->lifetime_seconds, NULL, e) < 0)
        return -1;
    return 0;
}

int api_decode_template_create(const json_t *body, struct template_create *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "name", JSONX_REQUIRED, FIELD_MAX, &out->name, e) < 0 ||
        jsonx_string(body, "display_name", JSONX_OPTIONAL, FIELD_MAX, &out->display_name, e) < 0 ||
        jsonx_string(body, "description", JSONX_OPTIONAL, FIELD_MAX, &out->description, e) < 0 ||
        jsonx_string(body, "icon", JSONX_OPTIONAL, FIELD_MAX, &out->icon, e) < 0 ||
        jsonx_string(body, "template_version_id", JSONX_REQUIRED, FIELD_MAX, &out->version_id, e) <
            0 ||
        jsonx_bool(body, "require_active_version", JSONX_OPTIONAL, &out->require_active_version,
                   NULL, e) < 0 ||
        jsonx_int(body, "default_ttl_ms", JSONX_OPTIONAL, &out->default_ttl_ms, NULL, e) < 0)
        return -1;
    return 0;
}

static int patch_str(const json_t *body, const char *key, bool *has, const char **out,
                     struct err *e)
{
    if (jsonx_string(body, key, JSONX_OPTIONAL, FIELD_MAX, out, e) < 0)
        return -1;
    *has = *out != NULL;
    return 0;
}

int api_decode_template_patch(const json_t *body, struct template_patch *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (patch_str(body, "display_name", &out->has_display_name, &out->display_name, e) < 0 ||
        patch_str(body, "description", &out->has_description, &out->description, e) < 0 ||
        patch_str(body, "icon", &out->has_icon, &out->icon, e) < 0 ||
        patch_str(body, "deprecation_message", &out->has_deprecation_message,
                  &out->deprecation_message, e) < 0 ||
        jsonx_bool(body, "require_active_version", JSONX_OPTIONAL, &out->require_active_version,
                   &out->has_require_active_version, e) < 0 ||
        jsonx_int(body, "default_ttl_ms", JSONX_OPTIONAL, &out->default_ttl_ms,
                  &out->has_default_ttl_ms, e) < 0)
        return -1;
    return 0;
}

int api_decode_version_create(const json_t *body, struct template_version_create *out,
                              struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "file_id", JSONX_REQUIRED, 128, &out->file_id, e) < 0 ||
        jsonx_string(body, "template_id", JSONX_OPTIONAL, 64, &out->template_id, e) < 0 ||
        jsonx_string(body, "name", JSONX_OPTIONAL, FIELD_MAX, &out->name, e) < 0 ||
        jsonx_string(body, "message", JSONX_OPTIONAL, 0, &out->message, e) < 0)
        return -1;
    return 0;
}

int api_decode_promote(const json_t *body, const char **version_id, struct err *e)
{
    return jsonx_string(body, "id", JSONX_REQUIRED, 64, version_id, e);
}

/* [{name, value}] into params (at most API_MAX_PARAMS). */
static int decode_params(const json_t *body, struct build_param_value *params, size_t *n,
                         struct err *e)
{
    json_t *arr;
    *n = 0;
    if (jsonx_array(body, "rich_parameter_values", JSONX_OPTIONAL, API_MAX_PARAMS, &arr, e) < 0)
        return -1;
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item)
    {
        if (!json_is_object(item))
            return jsonx_invalid(e, "rich_parameter_values",
                                 "item %zu must be an object {\"name\", \"value\"}", i);
        json_t *name = json_object_get(item, "name"), *value = json_object_get(item, "value");
        if (!json_is_string(name) || !json_string_length(name))
            return jsonx_invalid(e, "rich_parameter_values", "item %zu: name must be a string", i);
        if (!json_is_string(value))
            return jsonx_invalid(e, "rich_parameter_values",
                                 "item %zu (%s): value must be a string", i,
                                 json_string_value(name));
        if (json_string_length(value) > 64 * 1024)
            return jsonx_invalid(e, "rich_parameter_values",
                                 "item %zu (%s): value must be at most 65536 bytes", i,
                                 json_string_value(name));
        params[*n].name = json_string_value(name);
        params[*n].value = json_string_value(value);
        (*n)++;
    }
    return 0;
}

int api_decode_workspace_create(const json_t *body, struct workspace_create *out,
                                struct build_param_value *params, struct err *e)
{
    memset(out, 0, sizeof *out);
    out->params = params;
    if (jsonx_string(body, "name", JSONX_REQUIRED, FIELD_MAX, &out->name, e) < 0 ||
        jsonx_string(body, "template_id", JSONX_OPTIONAL, 64, &out->template_id, e) < 0 ||
        jsonx_string(body, "template_version_id", JSONX_OPTIONAL, 64, &out->template_version_id,
                     e) < 0 ||
        jsonx_int(body, "ttl_ms", JSONX_OPTIONAL, &out->ttl_ms, &out->has_ttl, e) < 0 ||
        jsonx_string(body, "autostart_schedule", JSONX_OPTIONAL, 256, &out->autostart_schedule, e) <
            0 ||
        decode_params(body, params, &out->nparams, e) < 0)
        return -1;
    if (out->autostart_schedule && !*out->autostart_schedule)
        out->autostart_schedule = NULL;
    return 0;
}

static const char *const reasons[] = {
    "initiator", "cli", "dashboard", "ssh_connection", "vscode_connection", "jetbrains_connection",
    NULL};

int api_decode_build_create(const json_t *body, struct build_request *out,
                            struct build_param_value *params, struct err *e)
{
    memset(out, 0, sizeof *out);
    out->params = params;
    const char *transition;
    if (jsonx_string(body, "transition", JSONX_REQUIRED, FIELD_MAX, &transition, e) < 0 ||
        jsonx_string(body, "template_version_id", JSONX_OPTIONAL, 64, &out->template_version_id,
                     e) < 0 ||
        jsonx_bool(body, "orphan", JSONX_OPTIONAL, &out->orphan, NULL, e) < 0 ||
        jsonx_string(body, "reason", JSONX_OPTIONAL, 64, &out->reason, e) < 0 ||
        decode_params(body, params, &out->nparams, e) < 0)
        return -1;
    if (transition_parse(transition, &out->transition) < 0)
        return err_set(e, ERR_BAD_REQUEST, "Transition \"%s\" not supported.", transition);
    if (out->template_version_id && !*out->template_version_id)
        out->template_version_id = NULL;
    if (out->reason) {
        bool ok = false;
        for (int i = 0; reasons[i]; i++)
            ok = ok || strcmp(out->reason, reasons[i]) == 0;
        if (!ok)
            return jsonx_invalid(e, "reason",
                                 "must be one of initiator, cli, dashboard, ssh_connection, "
                                 "vscode_connection, jetbrains_connection");
        if (out->transition == TRANSITION_DELETE)
            return jsonx_invalid(e, "reason", "is only allowed for start and stop builds");
    }
    if (json_object_get(body, "state"))
        return jsonx_invalid(e, "state", "custom provisioner state is not supported");
    return 0;
}

int api_decode_chat_create(const json_t *body, struct chat_create_req *out, struct err *e)
{
    memset(out, 0, sizeof *out);
    if (jsonx_string(body, "title", JSONX_OPTIONAL, 0, &out->title, e) < 0 ||
        jsonx_string(body, "workspace_id", JSONX_OPTIONAL, 64, &out->workspace_id, e) < 0)
        return -1;
    if (out->workspace_id && !*out->workspace_id)
        out->workspace_id = NULL;
    return 0;
}

int api_decode_chat_message(const json_t *body, const char **content, struct err *e)
{
    *content = NULL;
    return jsonx_string(body, "content", JSONX_REQUIRED, 0, content, e);
}

json_t *api_decode_tool_args(const char *body, size_t len, struct err *e)
{
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len)
        return json_object();
    return jsonx_parse_object(body, len, e);
}
