/* decode.h - typed decoding of JSON request bodies, field by field, each mistake reported as
 * ERR_BAD_REQUEST "Validation failed." with a validation naming the field.
 *
 * Decoded strings are borrowed from the body (keep the body alive while using them). Pure
 * functions; thread-safe. These are the parsers the JSON fuzz target drives.
 */
#ifndef BERTH_API_DECODE_H
#define BERTH_API_DECODE_H

#include "base/err.h"
#include "build/build.h"
#include "template/template.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct user_create_req {
    const char *email, *username, *password;
    unsigned roles; /* enum role bits */
};

struct login_req {
    const char *email, *password;
};

struct token_req {
    const char *name;
    int64_t lifetime_seconds;
};

int api_decode_user_create(const json_t *body, struct user_create_req *out, struct err *e);
int api_decode_first_user(const json_t *body, struct user_create_req *out, struct err *e);
int api_decode_login(const json_t *body, struct login_req *out, struct err *e);
int api_decode_token(const json_t *body, struct token_req *out, struct err *e);
int api_decode_template_create(const json_t *body, struct template_create *out, struct err *e);
int api_decode_template_patch(const json_t *body, struct template_patch *out, struct err *e);
int api_decode_version_create(const json_t *body, struct template_version_create *out,
                              struct err *e);
#define API_MAX_PARAMS 100

/* POST /users/{user}/workspaces. params points into storage of at least API_MAX_PARAMS items. */
int api_decode_workspace_create(const json_t *body, struct workspace_create *out,
                                struct build_param_value *params, struct err *e);
/* POST /workspaces/{id}/builds. Unknown transitions: 400 `Transition "X" not supported.` */
int api_decode_build_create(const json_t *body, struct build_request *out,
                            struct build_param_value *params, struct err *e);
/* {"id": "..."} of PATCH /templates/{id}/versions. */
int api_decode_promote(const json_t *body, const char **version_id, struct err *e);

struct chat_create_req {
    const char *title;        /* NULL: the default; its length is the chat service's to check */
    const char *workspace_id; /* NULL: none */
};

/* POST /api/experimental/chats: {"title"?, "workspace_id"?}. */
int api_decode_chat_create(const json_t *body, struct chat_create_req *out, struct err *e);
/* POST /api/experimental/chats/{id}/messages: {"content": "..."} (required, a string; its
 * length and emptiness are the chat service's to check). *content is borrowed from body. */
int api_decode_chat_message(const json_t *body, const char **content, struct err *e);
/* The body of POST /api/experimental/chats/{id}/tools/{name}: the tool's arguments object. An
 * empty (or all-whitespace) body is {}. New reference, or NULL with ERR_BAD_REQUEST when the
 * body is not a JSON object. */
json_t *api_decode_tool_args(const char *body, size_t len, struct err *e);

#endif
