/* router.c - route table: patterns with {param} segments, matched segment by segment without
 * allocating (the request's path is split once, in place). */
#include "base/mem.h"
#include "base/str.h"
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGMENTS 32

/* Splits s in place on '/', storing up to max segment pointers; returns the count, or -1 when
 * there are more. */
static int split_inplace(char *s, char **segs, int max)
{
    int n = 0;
    char *p = s;
    while (*p) {
        while (*p == '/')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == max)
            return -1;
        segs[n++] = p;
        while (*p && *p != '/')
            p++;
    }
    return n;
}

void http_server_route(struct http_server *s, unsigned methods, const char *pattern, unsigned flags,
                       size_t max_body, http_handler_fn fn, void *arg)
{
    s->routes = xreallocarray(s->routes, s->nroutes + 1, sizeof *s->routes);
    struct http_route *rt = &s->routes[s->nroutes++];
    memset(rt, 0, sizeof *rt);
    rt->methods = methods;
    char *copy = xstrdup(pattern);
    char *segs[MAX_SEGMENTS];
    int n = split_inplace(copy, segs, MAX_SEGMENTS);
    rt->nsegments = n < 0 ? 0 : (size_t)n;
    rt->segments = xcalloc(rt->nsegments + 1, sizeof *rt->segments);
    rt->param_names = xcalloc(rt->nsegments + 1, sizeof *rt->param_names);
    for (size_t i = 0; i < rt->nsegments; i++) {
        rt->segments[i] = xstrdup(segs[i]);
        size_t len = strlen(segs[i]);
        if (segs[i][0] == '{' && len >= 2 && segs[i][len - 1] == '}')
            rt->param_names[i] = xstrndup(segs[i] + 1, len - 2);
    }
    free(copy);
    rt->flags = flags;
    rt->max_body = max_body ? max_body : s->cfg.max_body;
    rt->fn = fn;
    rt->arg = arg;
}

void http_route_free(struct http_route *rt)
{
    for (size_t i = 0; i < rt->nsegments; i++) {
        free(rt->segments[i]);
        free(rt->param_names[i]);
    }
    free(rt->segments);
    free(rt->param_names);
}

static bool path_matches(const struct http_route *rt, char **segs, size_t n)
{
    if (rt->nsegments != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!rt->param_names[i] && strcmp(rt->segments[i], segs[i]) != 0)
            return false;
    return true;
}

int http_router_match(struct http_server *s, struct http_request *r)
{
    r->split = xstrdup(r->path);
    char *segs[MAX_SEGMENTS];
    int n = split_inplace(r->split, segs, MAX_SEGMENTS);
    if (n < 0)
        return 404;
    bool path_matched = false;
    for (size_t i = 0; i < s->nroutes; i++) {
        const struct http_route *rt = &s->routes[i];
        if (!path_matches(rt, segs, (size_t)n))
            continue;
        unsigned m = r->method == HTTP_HEAD ? HTTP_GET : r->method; /* HEAD answers like GET */
        if (!(rt->methods & m)) {
            path_matched = true;
            continue;
        }
        r->route = rt;
        r->nparams = 0;
        for (size_t k = 0; k < rt->nsegments && r->nparams < HTTP_MAX_PARAMS; k++) {
            if (!rt->param_names[k])
                continue;
            r->params[r->nparams].name = rt->param_names[k];
            r->params[r->nparams].value = segs[k];
            r->nparams++;
        }
        return 0;
    }
    return path_matched ? 405 : 404;
}
