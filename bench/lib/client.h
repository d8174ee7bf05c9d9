/* client.h - berth's REST API over one keep-alive libcurl handle, for the benchmark programs.
 *
 * A client sends the session token and a JSON content type on every request. One client is one
 * connection: use it from one thread at a time. Errors go to stderr (a benchmark prints and goes
 * on); nothing here exits.
 */
#ifndef BERTH_BENCH_CLIENT_H
#define BERTH_BENCH_CLIENT_H

#include "base/buf.h"

#include <curl/curl.h>
#include <jansson.h>

#define CLIENT_TIMEOUT_S 120 /* one request at most (a tool call may wait for builds) */

struct client {
    CURL *curl;
    const char *url; /* borrowed: the server's base URL, without a trailing slash */
    struct curl_slist *headers;
};

/* Sets cl up for url (kept by reference) with token. Free with client_free. */
void client_init(struct client *cl, const char *url, const char *token);
void client_free(struct client *cl);

/* method path [body] -> the HTTP status (0: no answer); the reply's body is appended to *reply.
 * Without a body the request is a GET-style request with method. */
long client_do(struct client *cl, const char *method, const char *path, const char *body,
               struct buf *reply);

/* method path [body] -> the parsed reply (new reference) when the status is 2xx, else NULL with
 * the status and body on stderr. */
json_t *client_call(struct client *cl, const char *method, const char *path, const char *body);

/* POSTs a build with transition ("start", "stop") to the workspace; the new build's id is
 * copied to id. 0, or -1 when the server refused. */
int client_post_build(struct client *cl, const char *workspace_id, const char *transition,
                      char id[40]);

#endif
