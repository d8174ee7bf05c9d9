/* request.c - requests copied out of evhttp (so workers can read them safely) and replies
 * handed back to the request's loop thread. */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "http/internal.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

bool http_on_loop(const struct http_loop *loop)
{
    return pthread_equal(pthread_self(), loop->thread);
}

static enum http_method method_of(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return HTTP_GET;
    case EVHTTP_REQ_POST:
        return HTTP_POST;
    case EVHTTP_REQ_PUT:
        return HTTP_PUT;
    case EVHTTP_REQ_PATCH:
        return HTTP_PATCH;
    case EVHTTP_REQ_DELETE:
        return HTTP_DELETE;
    case EVHTTP_REQ_HEAD:
        return HTTP_HEAD;
    case EVHTTP_REQ_OPTIONS:
        return HTTP_OPTIONS;
    default:
        return 0;
    }
}

const char *http_method_name(enum http_method m)
{
    switch (m) {
    case HTTP_GET:
        return "GET";
    case HTTP_POST:
        return "POST";
    case HTTP_PUT:
        return "PUT";
    case HTTP_PATCH:
        return "PATCH";
    case HTTP_DELETE:
        return "DELETE";
    case HTTP_HEAD:
        return "HEAD";
    case HTTP_OPTIONS:
        return "OPTIONS";
    }
    return "?";
}

static void kv_add(struct http_kv **arr, size_t *n, const char *name, const char *value)
{
    *arr = xreallocarray(*arr, *n + 1, sizeof **arr);
    (*arr)[*n].name = xstrdup(name);
    (*arr)[*n].value = xstrdup(value ? value : "");
    (*n)++;
}

static void kv_free(struct http_kv *arr, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(arr[i].name);
        free(arr[i].value);
    }
    free(arr);
}

/* Splits "a=1&b&c=x%20y" into decoded pairs; a key without '=' has the value "". */
static void parse_query(struct http_request *r, const char *query)
{
    const char *p = query;
    while (*p && r->nquery < 64) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            char *pair = xstrndup(p, len);
            char *eq = strchr(pair, '=');
            if (eq)
                *eq = '\0';
            char *k = evhttp_uridecode(pair, 1, NULL);
            char *v = evhttp_uridecode(eq ? eq + 1 : "", 1, NULL);
            if (k && *k)
                kv_add(&r->query, &r->nquery, k, v ? v : "");
            free(k);
            free(v);
            free(pair);
        }
        if (!amp)
            break;
        p = amp + 1;
    }
}

struct http_request *http_request_new(struct http_loop *loop, struct evhttp_request *ev)
{
    struct http_request *r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->ev = ev;
    r->method = method_of(evhttp_request_get_command(ev));
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    r->path = evhttp_uridecode(path && *path ? path : "/", 0, NULL);
    if (!r->path)
        r->path = xstrdup("/");
    const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
    if (query && *query)
        parse_query(r, query);
    struct evbuffer *in = evhttp_request_get_input_buffer(ev);
    size_t len = evbuffer_get_length(in);
    r->body = xmalloc(len + 1); /* NUL-terminated for convenience */
    if (len)
        evbuffer_remove(in, r->body, len);
    r->body[len] = '\0';
    r->body_len = len;
    struct evhttp_connection *conn = evhttp_request_get_connection(ev);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &addr, &port);
    str_copy(r->peer, sizeof r->peer, addr ? addr : "");
    return r;
}

void http_request_free(struct http_request *r)
{
    if (!r)
        return;
    if (r->data_free)
        r->data_free(r->data);
    free(r->path);
    kv_free(r->query, r->nquery);
    kv_free(r->headers, r->nheaders);
    free(r->split);
    free(r->body);
    free(r->content_type);
    kv_free(r->resp_headers, r->nresp_headers);
    free(r->resp_body);
    free(r);
}

enum http_method http_request_method(const struct http_request *r)
{
    return r->method;
}

const char *http_request_path(const struct http_request *r)
{
    return r->path;
}

const char *http_request_param(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nparams; i++)
        if (strcmp(r->params[i].name, name) == 0)
            return r->params[i].value;
    return NULL;
}

const char *http_request_query(const struct http_request *r, const char *name)
{
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, name) == 0)
            return r->query[i].value;
    return NULL;
}

void http_request_detach(struct http_request *r)
{
    if (r->headers_copied)
        return;
    struct evkeyvalq *hdrs = evhttp_request_get_input_headers(r->ev);
    struct evkeyval *h;
    for (h = TAILQ_FIRST(hdrs); h; h = TAILQ_NEXT(h, next))
        kv_add(&r->headers, &r->nheaders, h->key, h->value);
    r->headers_copied = true;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    if (!r->headers_copied) /* on the loop thread, evhttp's own list is safe to read */
        return r->ev ? evhttp_find_header(evhttp_request_get_input_headers(r->ev), name) : NULL;
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcasecmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

const char *http_request_body(const struct http_request *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

const char *http_request_peer(const struct http_request *r)
{
    return r->peer;
}

void http_request_set_data(struct http_request *r, void *data, void (*free_fn)(void *))
{
    if (r->data_free)
        r->data_free(r->data);
    r->data = data;
    r->data_free = free_fn;
}

void *http_request_data(const struct http_request *r)
{
    return r->data;
}

void http_reply_header(struct http_request *r, const char *name, const char *value)
{
    kv_add(&r->resp_headers, &r->nresp_headers, name, value);
}

/* Applies the stored reply to the evhttp request and sends it; frees r. Loop thread only. */
void http_request_send_now(struct http_request *r)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    if (r->content_type)
        evhttp_add_header(out, "Content-Type", r->content_type);
    for (size_t i = 0; i < r->nresp_headers; i++)
        evhttp_add_header(out, r->resp_headers[i].name, r->resp_headers[i].value);
    struct evbuffer *body = evbuffer_new();
    if (r->resp_len)
        evbuffer_add(body, r->resp_body, r->resp_len);
    evhttp_send_reply(r->ev, r->status, http_status_text(r->status), body);
    evbuffer_free(body);
    http_request_free(r);
}

void http_reply(struct http_request *r, int status, const char *content_type, const void *body,
                size_t len)
{
    r->status = status;
    free(r->content_type);
    r->content_type = xstrdup(content_type);
    free(r->resp_body);
    r->resp_body = len ? xmemdup(body, len) : NULL;
    r->resp_len = len;
    if (http_on_loop(r->loop))
        http_request_send_now(r);
    else
        http_loop_post_request(r->loop, r);
}

static void send_taken(struct http_request *r, int status, const char *content_type, char *body,
                       size_t len)
{
    r->status = status;
    free(r->content_type);
    r->content_type = xstrdup(content_type);
    free(r->resp_body);
    r->resp_body = body;
    r->resp_len = len;
    if (http_on_loop(r->loop))
        http_request_send_now(r);
    else
        http_loop_post_request(r->loop, r);
}

void http_reply_json(struct http_request *r, int status, json_t *body)
{
    if (!body) {
        http_reply(r, status, NULL, NULL, 0);
        return;
    }
    char *s = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(body);
    if (!s) {
        static const char fail[] = "{\"message\":\"Failed to encode the response.\"}";
        http_reply(r, 500, "application/json", fail, sizeof fail - 1);
        return;
    }
    send_taken(r, status, "application/json", s, strlen(s));
}

void http_reply_jw(struct http_request *r, int status, struct jw *w)
{
    size_t len;
    char *body = jw_take(w, &len);
    send_taken(r, status, "application/json", body, len);
}

void http_reply_error(struct http_request *r, const struct err *e)
{
    struct jw w;
    jw_init(&w);
    jw_object(&w);
    jw_kstr(&w, "message", e && e->message ? e->message : "Internal error.");
    if (e && e->detail && *e->detail)
        jw_kstr(&w, "detail", e->detail);
    if (e && e->nvalidations) {
        jw_key(&w, "validations");
        jw_array(&w);
        for (size_t i = 0; i < e->nvalidations; i++) {
            jw_object(&w);
            jw_kstr(&w, "field", e->validations[i].field);
            jw_kstr(&w, "detail", e->validations[i].detail);
            jw_object_end(&w);
        }
        jw_array_end(&w);
    }
    jw_object_end(&w);
    http_reply_jw(r, err_status(e), &w);
}

void http_reply_errorf(struct http_request *r, enum err_kind kind, const char *fmt, ...)
{
    struct err e = ERR_INIT;
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    err_set(&e, kind, "%s", msg);
    free(msg);
    http_reply_error(r, &e);
    err_clear(&e);
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 499:
        return "Client Closed Request";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}
