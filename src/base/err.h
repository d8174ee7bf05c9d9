/* err.h - errors with a kind, an HTTP status, a message, a detail and field validations.
 *
 * Fallible functions return 0 on success and a negative value on failure, filling an optional
 * `struct err *` (NULL means the caller does not care). The kind is what callers test ("is this
 * a parameter-validation failure?"), never the text. Messages that users or models read are the
 * exact strings of the spec.
 *
 * Ownership: a struct err owns its strings; release them with err_clear(). Setting an error that
 * is already set replaces it. Not thread-safe per object (each thread uses its own).
 */
#ifndef BERTH_BASE_ERR_H
#define BERTH_BASE_ERR_H

#include <stdbool.h>
#include <stddef.h>

enum err_kind {
    ERR_NONE = 0,
    ERR_BAD_REQUEST,      /* 400: the request is malformed or makes no sense */
    ERR_PARAM_VALIDATION, /* 400: a build parameter failed validation */
    ERR_UNAUTHORIZED,     /* 401: no or bad credentials */
    ERR_FORBIDDEN,        /* 403: the caller may see the thing but not do this */
    ERR_NOT_FOUND,        /* 404: missing, or hidden from the caller */
    ERR_METHOD,           /* 405: method not allowed on this path */
    ERR_NOT_ACCEPTABLE,   /* 406: e.g. a template version still importing */
    ERR_CONFLICT,         /* 409: uniqueness or state conflict */
    ERR_PRECONDITION,     /* 412: an expected state did not hold */
    ERR_TOO_LARGE,        /* 413: input over a size limit */
    ERR_RATE_LIMITED,     /* 429: too many attempts */
    ERR_CANCELED,         /* 499: the operation was canceled by its caller */
    ERR_INTERNAL,         /* 500: a bug or an unexpected failure below */
    ERR_UNAVAILABLE,      /* 503: a dependency (agent, database) cannot be reached now */
    ERR_DISCONNECTED,     /* 503: the peer went away while the operation ran */
    ERR_TIMEOUT,          /* 504: a deadline passed */
};

struct err_validation {
    char *field;
    char *detail;
};

struct err {
    enum err_kind kind;
    int status; /* HTTP status; 0 means the kind's default */
    char *message;
    char *detail;
    struct err_validation *validations;
    size_t nvalidations;
};

#define ERR_INIT                                                                                   \
    {                                                                                              \
        0                                                                                          \
    }

/* Sets kind and message (printf format), clearing whatever e held. e may be NULL.
 * Always returns -1 so callers can write `return err_set(e, ...)`. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sets or replaces the detail. e may be NULL. Returns -1. */
int err_detail(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a validation {field, detail}. e may be NULL. */
void err_add_validation(struct err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Overrides the HTTP status of the error (e.g. 406 for a bad-request-like kind). */
void err_set_status(struct err *e, int status);
/* Prefixes the message: "<prefix>: <message>". e may be NULL. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the strings and resets e to ERR_INIT. e may be NULL. */
void err_clear(struct err *e);
/* Moves src into dst (dst cleared first); src becomes empty. Either may be NULL. Returns -1. */
int err_move(struct err *dst, struct err *src);
/* Copies src into dst (deep). */
void err_copy(struct err *dst, const struct err *src);
/* True when e is set and of the given kind. */
bool err_is(const struct err *e, enum err_kind kind);
/* The HTTP status of the error: its explicit status or its kind's default. */
int err_status(const struct err *e);
/* The default HTTP status of a kind. */
int err_kind_status(enum err_kind kind);
/* A stable name for the kind, e.g. "ERR_NOT_FOUND". Static storage. */
const char *err_kind_name(enum err_kind kind);
/* The message, or "" when unset. Borrowed from e. */
const char *err_msg(const struct err *e);

#endif
