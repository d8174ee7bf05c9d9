/* client.c - berth's REST API over one keep-alive libcurl handle (see client.h). */
#include "client.h"

#include "base/json.h"
#include "base/str.h"

#include <stdio.h>
#include <stdlib.h>

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

void client_init(struct client *cl, const char *url, const char *token)
{
    cl->curl = curl_easy_init();
    cl->url = url;
    char *auth = str_printf("Berth-Session-Token: %s", token);
    cl->headers = curl_slist_append(NULL, auth);
    cl->headers = curl_slist_append(cl->headers, "Content-Type: application/json");
    free(auth);
}

void client_free(struct client *cl)
{
    curl_easy_cleanup(cl->curl);
    curl_slist_free_all(cl->headers);
}

long client_do(struct client *cl, const char *method, const char *path, const char *body,
               struct buf *reply)
{
    char *url = str_printf("%s%s", cl->url, path);
    curl_easy_setopt(cl->curl, CURLOPT_URL, url);
    curl_easy_setopt(cl->curl, CURLOPT_HTTPHEADER, cl->headers);
    curl_easy_setopt(cl->curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(cl->curl, CURLOPT_WRITEDATA, reply);
    if (body)
        curl_easy_setopt(cl->curl, CURLOPT_POSTFIELDS, body);
    else
        curl_easy_setopt(cl->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(cl->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(cl->curl, CURLOPT_TIMEOUT, (long)CLIENT_TIMEOUT_S);
    long status = 0;
    if (curl_easy_perform(cl->curl) == CURLE_OK)
        curl_easy_getinfo(cl->curl, CURLINFO_RESPONSE_CODE, &status);
    free(url);
    return status;
}

json_t *client_call(struct client *cl, const char *method, const char *path, const char *body)
{
    struct buf b;
    buf_init(&b, 0);
    long status = client_do(cl, method, path, body, &b);
    json_t *v = NULL;
    if (status / 100 == 2) {
        json_error_t je;
        v = json_loadb(b.data ? b.data : "", b.len, 0, &je);
    } else {
        fprintf(stderr, "%s %s: status %ld %s\n", method, path, status, buf_str(&b));
    }
    buf_free(&b);
    return v;
}

int client_post_build(struct client *cl, const char *workspace_id, const char *transition,
                      char id[40])
{
    char *path = str_printf("/api/v2/workspaces/%s/builds", workspace_id);
    char *body = str_printf("{\"transition\":\"%s\"}", transition);
    json_t *b = client_call(cl, "POST", path, body);
    str_copy(id, 40, jsonx_get_str(b, "id", ""));
    json_decref(b);
    free(body);
    free(path);
    return id[0] ? 0 : -1;
}
