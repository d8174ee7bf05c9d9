/* common.c - flag parsing with the global flags, error printing, tables and JSON output. */
#include "base/json.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/times.h"
#include "cli/internal.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_parse(int argc, char **argv, int first, const char *usage, const struct flag *flags,
              size_t nflags, struct cli_globals *g, char ***pos, int *npos, int *ndash)
{
    memset(g, 0, sizeof *g);
    bool help = false;
    const struct flag globals[] = {
        {"url", 0, FLAG_STRING, &g->url, NULL, "URL", "the server (default: from berth login)"},
        {"token", 0, FLAG_STRING, &g->token, NULL, "TOKEN", "the session token"},
        {"output", 'o', FLAG_STRING, &g->output, NULL, "FORMAT", "json for the API's JSON"},
        {"help", 'h', FLAG_BOOL, &help, NULL, NULL, "show this help"},
    };
    size_t nglobals = sizeof globals / sizeof globals[0];
    struct flag *all = xcalloc(nflags + nglobals, sizeof *all);
    if (nflags)
        memcpy(all, flags, nflags * sizeof *flags);
    memcpy(all + nflags, globals, sizeof globals);
    struct err e = ERR_INIT;
    int r = flags_parse(all, nflags + nglobals, argc, argv, first, pos, npos, ndash, &e);
    if (r == 0 && help) {
        fputs(usage, stdout);
        fputs("\nflags:\n", stdout);
        flags_usage(stdout, all, nflags + nglobals);
        free(*pos);
        *pos = NULL;
        r = 1;
    } else if (r == 0 && g->output && strcmp(g->output, "json") != 0 &&
               strcmp(g->output, "text") != 0) {
        err_set(&e, ERR_BAD_REQUEST, "-o wants json or text, not \"%s\"", g->output);
        r = -1;
    }
    if (r < 0) {
        fprintf(stderr, "berth: %s\n%s", err_msg(&e), usage);
        err_clear(&e);
        free(*pos);
        *pos = NULL;
    }
    free(all);
    return r;
}

void cli_globals_free(struct cli_globals *g)
{
    free(g->url);
    free(g->token);
    free(g->output);
    memset(g, 0, sizeof *g);
}

int cli_fail(struct err *e)
{
    fprintf(stderr, "berth: %s\n", e->message ? e->message : "failed");
    if (e->detail && *e->detail)
        fprintf(stderr, "  %s\n", e->detail);
    for (size_t i = 0; i < e->nvalidations; i++) {
        if (e->detail && strstr(e->detail, e->validations[i].detail))
            continue;
        fprintf(stderr, "  %s: %s\n", e->validations[i].field, e->validations[i].detail);
    }
    err_clear(e);
    return 1;
}

int cli_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = str_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "berth: %s\n%s", msg, usage);
    free(msg);
    return 2;
}

bool cli_json(const struct cli_globals *g)
{
    return g->output && strcmp(g->output, "json") == 0;
}

void cli_print_json(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        puts(s);
    free(s);
}

void table_init(struct table *t, size_t ncols, const char **headers)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->headers = headers;
}

void table_add(struct table *t, ...)
{
    va_list ap;
    va_start(ap, t);
    char **row = xcalloc(t->ncols, sizeof *row);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        row[i] = xstrdup(s ? s : "");
    }
    va_end(ap);
    t->rows = xreallocarray(t->rows, t->nrows + 1, sizeof *t->rows);
    t->rows[t->nrows++] = row;
}

void table_print(struct table *t)
{
    size_t *w = xcalloc(t->ncols, sizeof *w);
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = utf8_count(t->headers[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = utf8_count(t->rows[r][c]);
            if (n > w[c])
                w[c] = n;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        printf("%-*s%s", c + 1 < t->ncols ? (int)w[c] : 0, t->headers[c],
               c + 1 < t->ncols ? "  " : "\n");
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->rows[r][c];
            size_t pad = w[c] - utf8_count(s);
            printf("%s", s);
            if (c + 1 < t->ncols)
                printf("%*s  ", (int)pad, "");
            free(t->rows[r][c]);
        }
        putchar('\n');
        free(t->rows[r]);
    }
    free(t->rows);
    free(w);
    t->rows = NULL;
    t->nrows = 0;
}

int cli_template_by_name(struct client *c, const char *name, json_t **out, struct err *e)
{
    json_t *list;
    if (client_json(c, "GET", "/api/v2/templates", NULL, &list, NULL, e) < 0)
        return -1;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        if (str_eq_ci(jsonx_get_str(t, "name", ""), name)) {
            *out = json_incref(t);
            json_decref(list);
            return 0;
        }
    }
    json_decref(list);
    return err_set(e, ERR_NOT_FOUND, "template \"%s\" not found", name);
}

void cli_age(const char *rfc3339, char *buf, size_t size)
{
    int64_t us;
    if (!rfc3339 || time_parse(rfc3339, &us) < 0) {
        str_copy(buf, size, "-");
        return;
    }
    int64_t s = (time_now_us() - us) / 1000000;
    if (s < 60)
        snprintf(buf, size, "%llds ago", (long long)(s < 0 ? 0 : s));
    else if (s < 3600)
        snprintf(buf, size, "%lldm ago", (long long)(s / 60));
    else if (s < 86400)
        snprintf(buf, size, "%lldh ago", (long long)(s / 3600));
    else
        snprintf(buf, size, "%lldd ago", (long long)(s / 86400));
}
