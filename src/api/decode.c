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
