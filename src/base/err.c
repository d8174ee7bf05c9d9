/* err.c - error values with kinds (see err.h). */
#include "base/err.h"

#include "base/mem.h"
#include "base/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
} kinds[] = {
    [ERR_NONE] = {"ERR_NONE", 200},
    [ERR_BAD_REQUEST] = {"ERR_BAD_REQUEST", 400},
    [ERR_PARAM_VALIDATION] = {"ERR_PARAM_VALIDATION", 400},
    [ERR_UNAUTHORIZED] = {"ERR_UNAUTHORIZED", 401},
    [ERR_FORBIDDEN] = {"ERR_FORBIDDEN", 403},
    [ERR_NOT_FOUND] = {"ERR_NOT_FOUND", 404},
    [ERR_METHOD] = {"ERR_METHOD", 405},
    [ERR_NOT_ACCEPTABLE] = {"ERR_NOT_ACCEPTABLE", 406},
    [ERR_CONFLICT] = {"ERR_CONFLICT", 409},
    [ERR_PRECONDITION] = {"ERR_PRECONDITION", 412},
    [ERR_TOO_LARGE] = {"ERR_TOO_LARGE", 413},
    [ERR_RATE_LIMITED] = {"ERR_RATE_LIMITED", 429},
    [ERR_CANCELED] = {"ERR_CANCELED", 499},
    [ERR_INTERNAL] = {"ERR_INTERNAL", 500},
    [ERR_UNAVAILABLE] = {"ERR_UNAVAILABLE", 503},
    [ERR_DISCONNECTED] = {"ERR_DISCONNECTED", 503},
    [ERR_TIMEOUT] = {"ERR_TIMEOUT", 504},
};

void err_clear(struct err *e)
{
    if (!e)
        return;
    free(e->message);
    free(e->detail);
    for (size_t i = 0; i < e->nvalidations; i++) {
        free(e->validations[i].field);
        free(e->validations[i].detail);
    }
    free(e->validations);
    memset(e, 0, sizeof *e);
}

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
    if (!e)
        return -1;
    err_clear(e);
    va_list ap;
    va_start(ap, fmt);
    e->message = str_vprintf(fmt, ap);
    va_end(ap);
    e->kind = kind;
    return -1;
}

int err_detail(struct err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *d = str_vprintf(fmt, ap);
    va_end(ap);
    free(e->detail);
    e->detail = d;
    return -1;
}

void err_add_validation(struct err *e, const char *field, const char *fmt, ...)
{
    if (!e)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *d = str_vprintf(fmt, ap);
    va_end(ap);
    e->validations = xreallocarray(e->validations, e->nvalidations + 1, sizeof *e->validations);
    e->validations[e->nvalidations].field = xstrdup(field);
    e->validations[e->nvalidations].detail = d;
    e->nvalidations++;
}

void err_set_status(struct err *e, int status)
{
    if (e)
        e->status = status;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    if (!e)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *p = str_vprintf(fmt, ap);
    va_end(ap);
    char *m = str_printf("%s: %s", p, e->message ? e->message : "");
    free(p);
    free(e->message);
    e->message = m;
    return -1;
}

int err_move(struct err *dst, struct err *src)
{
    if (!dst) {
        err_clear(src);
        return -1;
    }
    err_clear(dst);
    if (src) {
        *dst = *src;
        memset(src, 0, sizeof *src);
    }
    return -1;
}

void err_copy(struct err *dst, const struct err *src)
{
    if (!dst)
        return;
    err_clear(dst);
    if (!src)
        return;
    dst->kind = src->kind;
    dst->status = src->status;
    dst->message = xstrdup(src->message);
    dst->detail = xstrdup(src->detail);
    for (size_t i = 0; i < src->nvalidations; i++)
        err_add_validation(dst, src->validations[i].field, "%s", src->validations[i].detail);
}

bool err_is(const struct err *e, enum err_kind kind)
{
    return e && e->kind == kind;
}

int err_kind_status(enum err_kind kind)
{
    if ((size_t)kind >= sizeof kinds / sizeof kinds[0])
        return 500;
    return kinds[kind].status;
}

int err_status(const struct err *e)
{
    if (!e)
        return 500;
    if (e->status)
        return e->status;
    return err_kind_status(e->kind);
}

const char *err_kind_name(enum err_kind kind)
{
    if ((size_t)kind >= sizeof kinds / sizeof kinds[0])
        return "ERR_UNKNOWN";
    return kinds[kind].name;
}

const char *err_msg(const struct err *e)
{
    return e && e->message ? e->message : "";
}
