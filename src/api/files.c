/* files.c - uploading template archives and downloading them again. */
#include "api/internal.h"
#include "template/template.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UPLOAD_MAX (64u * 1024 * 1024)

static void upload(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    const char *ct = http_request_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "application/x-tar", 17) != 0 &&
        strncasecmp(ct, "application/octet-stream", 24) != 0) {
        err_set(&e, ERR_BAD_REQUEST, "Unsupported content type \"%s\".", ct);
        err_detail(&e, "Upload a tar archive with Content-Type: application/x-tar.");
        api_fail(req, &e);
        return;
    }
    size_t len;
    const char *body = http_request_body(req, &len);
    char hash[HASH_HEX_LEN + 1];
    bool created;
    if (template_file_upload(api->st, &sub, body, len, hash, &created, &e) < 0) {
        api_fail(req, &e);
        return;
    }
    http_reply_json(req, created ? 201 : 200, json_pack("{s:s}", "hash", hash));
}

static void download(struct http_request *req, void *arg)
{
    struct api *api = arg;
    struct subject sub;
    if (api_auth(api, req, &sub) < 0)
        return;
    struct err e = ERR_INIT;
    const char *id = http_request_param(req, "id");
    struct rbac_object obj = {RBAC_FILE, id, NULL};
    struct file_row f;
    if (!rbac_allowed(&sub, RBAC_READ, &obj) || store_file_get(api->st, id, true, &f, NULL) < 0) {
        rbac_not_found(&e);
        api_fail(req, &e);
        return;
    }
    http_reply(req, 200, f.mimetype, f.data, f.size);
    file_row_clear(&f);
}

void api_files_register(struct http_server *srv, struct api *api)
{
    http_server_route(srv, HTTP_POST, "/api/v2/files", HTTP_ROUTE_WORKER, UPLOAD_MAX, upload, api);
    http_server_route(srv, HTTP_GET, "/api/v2/files/{id}", HTTP_ROUTE_WORKER, 0, download, api);
}
