/* client.c - HTTP requests to the server for the CLI (see client.h). */
#include "cli/client.h"

#include "base/buf.h"
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"

#include "base/curlx.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESPONSE_MAX (256u * 1024 * 1024)

char *cli_config_path(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg)
        return str_printf("%s/berth/config.json", xdg);
    const char *home = getenv("HOME");
    return str_printf("%s/.config/berth/config.json", home ? home : ".");
}

int cli_config_read(char **url, char **token)
{
    *url = *token = NULL;
    char *path = cli_config_path();
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    free(path);
    if (!o)
        return -1;
    *url = xstrdup(jsonx_get_str(o, "url", NULL));
    *token = xstrdup(jsonx_get_str(o, "token", NULL));
    json_decref(o);
    return 0;
}

int cli_config_write(const char *url, const char *token, struct err *e)
{
    char *path = cli_config_path();
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    char *parent = xstrdup(dir);
    char *pslash = strrchr(parent, '/');
    if (pslash) {
        *pslash = '\0';
        mkdir(parent, 0755);
    }
    free(parent);
    mkdir(dir, 0700);
    free(dir);
    json_t *o = json_pack("{s:s, s:s}", "url", url, "token", token);
    char *s = json_dumps(o, JSON_INDENT(2));
    json_decref(o);
    char *tmp = str_printf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = -1;
    if (fd >= 0) {
        size_t len = strlen(s);
        if (write(fd, s, len) == (ssize_t)len && write(fd, "\n", 1) == 1)
            r = 0;
        close(fd);
    }
    if (r == 0 && rename(tmp, path) < 0)
        r = -1;
    if (r < 0)
        err_set(e, ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
    free(tmp);
    free(s);
    free(path);
    return r;
}

int client_open(struct client *c, const struct cli_globals *g, bool need_token, struct err *e)
{
    memset(c, 0, sizeof *c);
    char *cfg_url = NULL, *cfg_token = NULL;
    cli_config_read(&cfg_url, &cfg_token);
    const char *env_url = getenv("BERTH_URL");
    const char *env_token = getenv("BERTH_SESSION_TOKEN");
    const char *url = g && g->url ? g->url : env_url && *env_url ? env_url : cfg_url;
    /* The saved token belongs to the saved server: never send it anywhere else. */
    const char *saved = cfg_url && url && str_eq(url, cfg_url) ? cfg_token : NULL;
    const char *token = g && g->token ? g->token : env_token && *env_token ? env_token : saved;
    c->token_saved = token && token == saved;
    if (!url) {
        free(cfg_url);
        free(cfg_token);
        return err_set(e, ERR_BAD_REQUEST,
                       "no server: run `berth login URL` first, or pass --url or set BERTH_URL");
    }
    if (need_token && !token) {
        free(cfg_url);
        free(cfg_token);
        return err_set(e, ERR_BAD_REQUEST,
                       "not logged in: run `berth login %s`, or pass --token or set "
                       "BERTH_SESSION_TOKEN",
                       url);
    }
    c->url = xstrdup(url);
    size_t n = strlen(c->url);
    while (n && c->url[n - 1] == '/')
        c->url[--n] = '\0';
    c->token = xstrdup(token);
    free(cfg_url);
    free(cfg_token);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c->curl = curl_easy_init();
    if (!c->curl)
        return err_set(e, ERR_INTERNAL, "cannot initialize libcurl");
    return 0;
}

void client_close(struct client *c)
{
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->url);
    free(c->token);
    memset(c, 0, sizeof *c);
}

char *client_escape(const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~')
            buf_putc(&b, (char)*p);
        else
            buf_printf(&b, "%%%02X", *p);
    }
    return buf_take(&b);
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

static enum err_kind kind_of(long status)
{
    switch (status) {
    case 400:
        return ERR_BAD_REQUEST;
    case 401:
        return ERR_UNAUTHORIZED;
    case 403:
        return ERR_FORBIDDEN;
    case 404:
        return ERR_NOT_FOUND;
    case 405:
        return ERR_METHOD;
    case 406:
        return ERR_NOT_ACCEPTABLE;
    case 409:
        return ERR_CONFLICT;
    case 412:
        return ERR_PRECONDITION;
    case 413:
        return ERR_TOO_LARGE;
    case 429:
        return ERR_RATE_LIMITED;
    case 503:
        return ERR_UNAVAILABLE;
    case 504:
        return ERR_TIMEOUT;
    default:
        return ERR_INTERNAL;
    }
}

/* Turns an error response into e. */
static int response_error(long status, const struct buf *body, struct err *e)
{
    json_error_t je;
    json_t *o = body->len ? json_loadb(body->data, body->len, 0, &je) : NULL;
    const char *msg = jsonx_get_str(o, "message", NULL);
    if (msg)
        err_set(e, kind_of(status), "%s", msg);
    else
        err_set(e, kind_of(status), "the server answered %ld", status);
    err_set_status(e, (int)status);
    const char *detail = jsonx_get_str(o, "detail", NULL);
    if (detail && *detail)
        err_detail(e, "%s", detail);
    json_t *vals = json_object_get(o, "validations");
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v)
        err_add_validation(e, jsonx_get_str(v, "field", ""), "%s", jsonx_get_str(v, "detail", ""));
    json_decref(o);
    return -1;
}

static struct curl_slist *headers(struct client *c, const char *content_type, const char *accept)
{
    struct curl_slist *h = NULL;
    if (c->token) {
        char *t = str_printf("Berth-Session-Token: %s", c->token);
        h = curl_slist_append(h, t);
        free(t);
    }
    if (content_type) {
        char *t = str_printf("Content-Type: %s", content_type);
        h = curl_slist_append(h, t);
        free(t);
    }
    char *a = str_printf("Accept: %s", accept);
    h = curl_slist_append(h, a);
    free(a);
    h = curl_slist_append(h, "Expect:");
    return h;
}

int client_raw(struct client *c, const char *method, const char *path, const void *body, size_t len,
               const char *content_type, json_t **out, long *status, struct err *e)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    char *url = str_printf("%s%s", c->url, path);
    struct buf resp;
    buf_init(&resp, RESPONSE_MAX);
    struct curl_slist *h = headers(c, body ? content_type : NULL, "application/json");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    int r = 0;
    if (rc != CURLE_OK) {
        r = err_set(e, ERR_UNAVAILABLE, "cannot reach %s: %s", c->url, curl_easy_strerror(rc));
    } else if (code < 200 || code >= 300) {
        r = response_error(code, &resp, e);
    } else if (out) {
        *out = NULL;
        if (resp.len) {
            json_error_t je;
            *out = json_loadb(resp.data, resp.len, JSON_DECODE_ANY, &je);
            if (!*out)
                r = err_set(e, ERR_INTERNAL, "the server sent invalid JSON: %s", je.text);
        }
    }
    if (status)
        *status = code;
    buf_free(&resp);
    free(url);
    return r;
}

int client_json(struct client *c, const char *method, const char *path, const json_t *body,
                json_t **out, long *status, struct err *e)
{
    char *s = body ? jsonx_dump(body) : NULL;
    int r = client_raw(c, method, path, s, s ? strlen(s) : 0, "application/json", out, status, e);
    free(s);
    return r;
}

struct sse_state {
    void (*progress)(void *arg);
    int64_t last_progress_us;
    struct buf line;
    struct buf data;
    char event[64];
    int (*fn)(const char *event, const char *data, void *arg);
    void *arg;
    bool stopped;
    long status;
    struct buf errbody;
};

/* Handles one complete line of the event stream. */
static void sse_line(struct sse_state *s, const char *line)
{
    if (*line == '\0') {
        if (s->data.len || s->event[0]) {
            if (s->fn(s->event[0] ? s->event : "message", buf_str(&s->data), s->arg))
                s->stopped = true;
        }
        buf_reset(&s->data);
        s->event[0] = '\0';
        return;
    }
    if (line[0] == ':')
        return;
    const char *colon = strchr(line, ':');
    size_t klen = colon ? (size_t)(colon - line) : strlen(line);
    const char *value = colon ? colon + 1 : "";
    if (*value == ' ')
        value++;
    if (klen == 5 && strncmp(line, "event", 5) == 0) {
        str_copy(s->event, sizeof s->event, value);
    } else if (klen == 4 && strncmp(line, "data", 4) == 0) {
        if (s->data.len)
            buf_putc(&s->data, '\n');
        buf_puts(&s->data, value);
    }
}

static size_t sse_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sse_state *s = arg;
    size_t n = size * nmemb;
    if (s->status < 200 || s->status >= 300)
        return buf_append(&s->errbody, ptr, n) < 0 ? 0 : n;
    for (size_t i = 0; i < n; i++) {
        char ch = ptr[i];
        if (ch == '\n') {
            char *l = buf_take(&s->line);
            size_t len = strlen(l);
            if (len && l[len - 1] == '\r')
                l[len - 1] = '\0';
            sse_line(s, l);
            free(l);
            if (s->stopped)
                return 0;
        } else if (buf_putc(&s->line, ch) < 0) {
            return 0;
        }
    }
    return n;
}

static size_t sse_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct sse_state *s = arg;
    if (size * nmemb > 5 && strncmp(ptr, "HTTP/", 5) == 0) {
        const char *sp = strchr(ptr, ' ');
        if (sp)
            s->status = strtol(sp + 1, NULL, 10);
    }
    return size * nmemb;
}

static int sse_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                        curl_off_t ulnow)
{
    struct sse_state *s = arg;
    int64_t now = time_mono_us();
    if (s->progress && now - s->last_progress_us >= 100000) {
        s->last_progress_us = now;
        s->progress(s->arg);
    }
    return 0;
}

int client_sse(struct client *c, const char *path,
               int (*fn)(const char *event, const char *data, void *arg), void *arg, struct err *e)
{
    return client_sse_progress(c, path, fn, NULL, arg, 0, e);
}

int client_sse_progress(struct client *c, const char *path,
                        int (*fn)(const char *event, const char *data, void *arg),
                        void (*progress)(void *arg), void *arg, long timeout_ms, struct err *e)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    char *url = str_printf("%s%s", c->url, path);
    struct sse_state s;
    memset(&s, 0, sizeof s);
    buf_init(&s.line, 16 * 1024 * 1024);
    buf_init(&s.data, 16 * 1024 * 1024);
    buf_init(&s.errbody, 1024 * 1024);
    s.fn = fn;
    s.arg = arg;
    s.progress = progress;
    struct curl_slist *h = headers(c, NULL, "text/event-stream");
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, sse_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &s);
    if (progress) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, sse_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &s);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    if (timeout_ms > 0)
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(h);
    int r = 0;
    if (rc == CURLE_OPERATION_TIMEDOUT && timeout_ms > 0)
        rc = CURLE_OK; /* the caller's time limit, not a failure */
    if (s.status && (s.status < 200 || s.status >= 300))
        r = response_error(s.status, &s.errbody, e);
    else if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && s.stopped))
        r = err_set(e, ERR_UNAVAILABLE, "stream from %s broke: %s", c->url, curl_easy_strerror(rc));
    buf_free(&s.line);
    buf_free(&s.data);
    buf_free(&s.errbody);
    free(url);
    return r;
}
