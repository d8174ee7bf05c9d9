/* internal.h - declarations shared by the files of the template module, not part of its API.
 *
 * Other modules include tarball.h and manifest.h only. Everything here follows the module's
 * conventions: strings returned are owned by the caller, errors are ERR_BAD_REQUEST with a
 * "<key path>: <what is wrong>" message, and nothing keeps global state (thread-safe).
 */
#ifndef BERTH_TEMPLATE_INTERNAL_H
#define BERTH_TEMPLATE_INTERNAL_H

#include "base/err.h"
#include "template/manifest.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* s[0..len) as a double-quoted string for messages: JSON escapes for quotes, backslashes and
 * control characters, invalid UTF-8 replaced, cut after 200 bytes with "...". Caller frees. */
char *template_quote(const char *s, size_t len);

/* The description of an errno value ("No such file or directory"); static storage, thread-safe
 * (unlike strerror). */
const char *template_errno_text(int errnum);

/* Opens path (relative and normalized, see tarball.h) beneath the directory dirfd without
 * following symbolic links: every segment is opened relative to its parent with O_NOFOLLOW, the
 * last one with flags | O_NOFOLLOW | O_CLOEXEC and mode. With mkdirs, missing intermediate
 * directories are created (0755). Returns a new descriptor, or -1 with errno set. */
int tarball_open_beneath(int dirfd, const char *path, int flags, unsigned mode, bool mkdirs);

/* Normalizes a relative archive path (see tarball.h) into *out (caller frees; "" for the root).
 * -1 with *why ("it is an absolute path", "it contains a \"..\" path segment", "it has an
 * empty path") when it is unsafe. */
int tarball_path_normalize(const char *raw, char **out, const char **why);

/* Converts YAML text into a new JSON tree (see manifest.h for the scalar rules); the root is
 * JSON null for an empty document. NULL with ERR_BAD_REQUEST on syntax errors, aliases, tags
 * other than !!str, duplicate keys, NUL characters or nesting deeper than 32 levels. */
json_t *manifest_yaml_load(const char *yaml, size_t len, struct err *e);

/* "<path>.<key>", or key alone when path is "". Caller frees. */
char *manifest_path_key(const char *path, const char *key);
/* "<path>[<i>]", followed by " (<name>)" when item is a mapping whose "name" is a short,
 * printable, non-empty string. Caller frees. */
char *manifest_path_item(const char *path, size_t i, const json_t *item);
/* Fails with "<path>.<key>: unknown key" for the first key of obj not in allowed (a
 * NULL-terminated list). */
int manifest_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                        struct err *e);
/* Fails with ERR_BAD_REQUEST "<path>.<key>: <fmt...>" (key may be NULL: "<path>: ...").
 * Returns -1. */
int manifest_fail(struct err *e, const char *path, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A JSON value as shown in messages: strings quoted (template_quote), other values as compact
 * JSON (3, true). Caller frees. */
char *manifest_value_text(const json_t *v);
/* Optional string member: absent or null gives "". Longer than max_chars code points (0 = no
 * limit) is an error. *out is owned by the caller (NULL on failure). */
int manifest_get_string(const json_t *obj, const char *path, const char *key, size_t max_chars,
                        char **out, struct err *e);
/* Optional boolean member; absent or null keeps *out. */
int manifest_get_bool(const json_t *obj, const char *path, const char *key, bool *out,
                      struct err *e);
/* Optional duration member ("10m", "90s", "0" or the integer 0); absent or null keeps *out and
 * sets *present false (present may be NULL). */
int manifest_get_duration(const json_t *obj, const char *path, const char *key, int64_t *out,
                          bool *present, struct err *e);
/* Optional sequence member of at most max items: *out borrowed, NULL when absent or null. */
int manifest_get_list(const json_t *obj, const char *path, const char *key, size_t max,
                      json_t **out, struct err *e);

/* Validates the "parameters" sequence (borrowed, may be NULL) into m->params. */
int manifest_parse_params(const json_t *list, struct manifest *m, struct err *e);
/* Frees one parameter's strings and options. */
void manifest_param_free(struct manifest_param *p);

#endif
