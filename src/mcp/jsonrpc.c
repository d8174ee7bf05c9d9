/* jsonrpc.c - JSON-RPC 2.0 as MCP uses it: one message per body or line, classified into
 * request, notification, response or invalid (with the error code to answer), and the compact
 * texts of outgoing messages. This is the parser of untrusted input that fuzz_jsonrpc drives. */
#include "mcp/mcp.h"

#include "base/jw.h"

#include <string.h>

static void invalid(struct jsonrpc_msg *m, int code, const char *msg)
{
    m->kind = JSONRPC_INVALID;
    m->error_code = code;
    m->error_msg = msg;
}

/* An id MCP allows: a string or an integer (never null, a fraction, a boolean or a structure). */
static bool id_valid(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id);
}

void jsonrpc_decode(const void *data, size_t len, struct jsonrpc_msg *out)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    /* Any value parses, so that `42` is an invalid request rather than a parse error. */
    out->root = json_loadb(data, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
    if (!out->root) {
        invalid(out, JSONRPC_PARSE_ERROR, "Parse error");
        return;
    }
    if (json_is_array(out->root)) {
        invalid(out, JSONRPC_INVALID_REQUEST,
                "Invalid Request: batches are not supported; send one message at a time");
        return;
    }
    if (!json_is_object(out->root)) {
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: a message must be a JSON object");
        return;
    }
    const json_t *root = out->root;
    const json_t *id = json_object_get(root, "id");
    if (id_valid(id))
        out->id = id;
    const json_t *version = json_object_get(root, "jsonrpc");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
        invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return;
    }
    const json_t *method = json_object_get(root, "method");
    if (method) {
        if (!json_is_string(method)) {
            invalid(out, JSONRPC_INVALID_REQUEST, "Invalid Request: \"method\" must be a string");
            return;
        }
        if (id && !id_valid(id)) {
            invalid(out, JSONRPC_INVALID_REQUEST,
                    "Invalid Request: \"id\" must be a string or an integer");
            return;
        }
        out->method = json_string_value(method);
        const json_t *params = json_object_get(root, "params");
        if (json_is_object(params))
            out->params = params;
        else if (params)
            out->params_invalid = true;
        out->kind = id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
        return;
    }
    const json_t *result = json_object_get(root, "result");
    const json_t *error = json_object_get(root, "error");
    if ((result != NULL) != (error != NULL) && id) {
        /* An error about a request the client could not read carries "id": null. */
        if (id_valid(id) || (error && json_is_null(id))) {
            out->kind = JSONRPC_RESPONSE;
            return;
        }
    }
    invalid(out, JSONRPC_INVALID_REQUEST,
            "Invalid Request: a message needs a \"method\", or an \"id\" with a \"result\" or an "
            "\"error\"");
}

void jsonrpc_msg_clear(struct jsonrpc_msg *m)
{
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

static void begin(struct jw *w, const json_t *id)
{
    jw_init(w);
    jw_object(w);
    jw_kstr(w, "jsonrpc", "2.0");
    jw_key(w, "id");
    if (id)
        jw_json(w, id);
    else
        jw_null(w);
}

char *jsonrpc_error_text(const json_t *id, int code, const char *message, const json_t *data)
{
    struct jw w;
    begin(&w, id);
    jw_key(&w, "error");
    jw_object(&w);
    jw_kint(&w, "code", code);
    jw_kstr(&w, "message", message ? message : "");
    if (data) {
        jw_key(&w, "data");
        jw_json(&w, data);
    }
    jw_object_end(&w);
    jw_object_end(&w);
    return jw_take(&w, NULL);
}

char *jsonrpc_result_text(const json_t *id, const json_t *result)
{
    struct jw w;
    begin(&w, id);
    jw_key(&w, "result");
    if (result) {
        jw_json(&w, result);
    } else {
        jw_object(&w);
        jw_object_end(&w);
    }
    jw_object_end(&w);
    return jw_take(&w, NULL);
}

char *jsonrpc_notification_text(const char *method, const json_t *params)
{
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_kstr(&w, "jsonrpc", "2.0");
    jw_kstr(&w, "method", method);
    if (params) {
        jw_key(&w, "params");
        jw_json(&w, params);
    }
    jw_object_end(&w);
    return jw_take(&w, NULL);
}
