/* router.c - route table: patterns with {param} segments, matched segment by segment. */
#include "base/mem.h"
#include "base/str.h"
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

static char **split_path(const char *path, size_t *n)
{
    char **out = NULL;
    *n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        out = xreallocarray(out, *n + 1, sizeof *out);
        out[(*n)++] = xstrndup(p, len);
        p += len;
    }
    return out;
}

static void free_segments(char **segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(segs[i]);
    free(segs);
}

void http_server_route(struct http_server *s, unsigned methods, const char *pattern, unsigned flags,
                       size_t max_body, http_handler_fn fn, void *arg)
{
    s->routes = xreallocarray(s->routes, s->nroutes + 1, sizeof *s->routes);
    struct http_route *rt = &s->routes[s->nroutes++];
    memset(rt, 0, sizeof *rt);
    rt->methods = methods;
    rt->segments = split_path(pattern, &rt->nsegments);
    rt->flags = flags;
    rt->max_body = max_body ? max_body : s->cfg.max_body;
    rt->fn = fn;
    rt->arg = arg;
}

void http_route_free(struct http_route *rt)
{
    free_segments(rt->segments, rt->nsegments);
}

/* Matches path segments against a route; fills params when they match. */
static bool match(const struct http_route *rt, char **segs, size_t n, struct http_request *r)
{
    if (rt->nsegments != n)
        return false;
    size_t np = 0;
    for (size_t i = 0; i < n; i++) {
        const char *pat = rt->segments[i];
        if (pat[0] == '{')
            continue;
        if (strcmp(pat, segs[i]) != 0)
            return false;
    }
    for (size_t i = 0; i < n && np < HTTP_MAX_PARAMS; i++) {
        const char *pat = rt->segments[i];
        if (pat[0] != '{')
            continue;
        size_t len = strlen(pat);
        r->params[np].name = xstrndup(pat + 1, len >= 2 ? len - 2 : 0);
        r->params[np].value = xstrdup(segs[i]);
        np++;
    }
    r->nparams = np;
    return true;
}

int http_router_match(struct http_server *s, struct http_request *r)
{
    size_t n;
    char **segs = split_path(r->path, &n);
    bool path_matched = false;
    int result = 404;
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct http_route *rt = &s->routes[i];
        if (rt->nsegments != n)
            continue;
        if (!(rt->methods & r->method)) {
            /* Check the path alone, to tell 405 from 404. */
            struct http_request probe;
            memset(&probe, 0, sizeof probe);
            if (match(rt, segs, n, &probe))
                path_matched = true;
            for (size_t k = 0; k < probe.nparams; k++) {
                free(probe.params[k].name);
                free(probe.params[k].value);
            }
            continue;
        }
        if (match(rt, segs, n, r)) {
            r->route = rt;
            result = 0;
            break;
        }
    }
    free_segments(segs, n);
    if (result && path_matched)
        result = 405;
    return result;
}
