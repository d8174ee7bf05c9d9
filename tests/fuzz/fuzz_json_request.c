/* Fuzz target: JSON request bodies through the API's decoders (every request type). */
#include "api/decode.h"
#include "base/json.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e = ERR_INIT;
    json_t *args = api_decode_tool_args((const char *)data, size, &e);
    err_clear(&e);
    json_decref(args);
    json_t *body = jsonx_parse_object(data, size, &e);
    err_clear(&e);
    if (!body)
        return 0;
    struct user_create_req u;
    api_decode_user_create(body, &u, &e);
    err_clear(&e);
    api_decode_first_user(body, &u, &e);
    err_clear(&e);
    struct login_req l;
    api_decode_login(body, &l, &e);
    err_clear(&e);
    struct token_req t;
    api_decode_token(body, &t, &e);
    err_clear(&e);
    struct template_create tc;
    api_decode_template_create(body, &tc, &e);
    err_clear(&e);
    struct template_patch tp;
    api_decode_template_patch(body, &tp, &e);
    err_clear(&e);
    struct template_version_create vc;
    api_decode_version_create(body, &vc, &e);
    err_clear(&e);
    struct build_param_value params[API_MAX_PARAMS];
    struct workspace_create wc;
    api_decode_workspace_create(body, &wc, params, &e);
    err_clear(&e);
    struct build_request br;
    api_decode_build_create(body, &br, params, &e);
    err_clear(&e);
    const char *id;
    api_decode_promote(body, &id, &e);
    err_clear(&e);
    struct chat_create_req cc;
    api_decode_chat_create(body, &cc, &e);
    err_clear(&e);
    json_decref(body);
    return 0;
}
