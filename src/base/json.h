/* json.h - helpers over jansson: strict parsing and typed field access that reports the field.
 *
 * jansson's reference rules apply: functions named _new or documented as "new reference" hand
 * the caller a reference; "borrowed" results live as long as their parent. Field getters fill
 * `struct err` with ERR_BAD_REQUEST, message "Validation failed." and one validation naming the
 * field, so every wrong type or missing field reaches the client as a 400 naming the problem.
 * Thread-safe (jansson objects themselves are not shared across threads unlocked).
 */
#ifndef BERTH_BASE_JSON_H
#define BERTH_BASE_JSON_H

#include "base/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum jsonx_need { JSONX_OPTIONAL, JSONX_REQUIRED };

/* Parses data[0..len) as one JSON value (duplicate keys refused). New reference, or NULL with
 * ERR_BAD_REQUEST "Request body must be valid JSON." and the parser's position in the detail. */
json_t *jsonx_parse(const void *data, size_t len, struct err *e);
/* As jsonx_parse, and the value must be an object ("Request body must be a JSON object."). */
json_t *jsonx_parse_object(const void *data, size_t len, struct err *e);

/* String field. Absent or null: *out = NULL (an error when required). Longer than maxlen bytes
 * (0 = no limit): an error. *out is borrowed from obj. */
int jsonx_string(const json_t *obj, const char *key, enum jsonx_need need, size_t maxlen,
                 const char **out, struct err *e);
/* Integer field; *present tells whether it was given (may be NULL). */
int jsonx_int(const json_t *obj, const char *key, enum jsonx_need need, int64_t *out, bool *present,
              struct err *e);
/* Boolean field; *present tells whether it was given (may be NULL). */
int jsonx_bool(const json_t *obj, const char *key, enum jsonx_need need, bool *out, bool *present,
               struct err *e);
/* Array field (borrowed, or NULL when absent/null and optional), at most maxlen items. */
int jsonx_array(const json_t *obj, const char *key, enum jsonx_need need, size_t maxlen,
                json_t **out, struct err *e);
/* Object field (borrowed, or NULL when absent/null and optional). */
int jsonx_object(const json_t *obj, const char *key, enum jsonx_need need, json_t **out,
                 struct err *e);
/* A validation failure for `field` with the given detail: ERR_BAD_REQUEST, "Validation failed.".
 * Returns -1. */
int jsonx_invalid(struct err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new JSON string for s, or JSON null when s is NULL. */
json_t *jsonx_str_or_null(const char *s);
/* A new JSON string with the RFC 3339 form of us, or null when us == 0. */
json_t *jsonx_time(int64_t us);
/* Compact serialization (keys in insertion order). Caller frees. Never NULL. */
char *jsonx_dump(const json_t *v);
/* A borrowed string member or def when absent or not a string. */
const char *jsonx_get_str(const json_t *obj, const char *key, const char *def);

#endif
