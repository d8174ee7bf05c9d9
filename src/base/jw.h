/* jw.h - a streaming JSON writer into a buffer: the fast way to render API responses.
 *
 * Commas and nesting are tracked for the caller: open an object or array, write keys and
 * values, close it. Strings are escaped per RFC 8259 (invalid UTF-8 becomes U+FFFD), so the
 * output is always valid JSON as long as calls nest properly (asserted in debug builds).
 * Not thread-safe per writer; a writer owns its buffer until jw_take.
 */
#ifndef BERTH_BASE_JW_H
#define BERTH_BASE_JW_H

#include "base/buf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 32

struct jw {
    struct buf out;
    int depth;
    bool first[JW_MAX_DEPTH]; /* no element written yet at this depth */
    bool after_key;
};

void jw_init(struct jw *w);
void jw_free(struct jw *w);
/* Hands the JSON text (NUL-terminated) to the caller and resets the writer; *len may be NULL. */
char *jw_take(struct jw *w, size_t *len);

void jw_object(struct jw *w);
void jw_object_end(struct jw *w);
void jw_array(struct jw *w);
void jw_array_end(struct jw *w);
/* An object key; the next call writes its value. */
void jw_key(struct jw *w, const char *key);

void jw_str(struct jw *w, const char *s); /* NULL writes null */
void jw_strn(struct jw *w, const char *s, size_t len);
void jw_int(struct jw *w, int64_t v);
void jw_bool(struct jw *w, bool v);
void jw_null(struct jw *w);
/* An RFC 3339 timestamp string, or null when us == 0. */
void jw_time(struct jw *w, int64_t us);
/* Pre-serialized JSON text inserted as a value (trusted: the caller vouches for it). */
void jw_raw(struct jw *w, const char *json);
/* A jansson value, serialized in place. */
void jw_json(struct jw *w, const json_t *v);

/* key + value shorthands */
void jw_kstr(struct jw *w, const char *key, const char *s);
void jw_kint(struct jw *w, const char *key, int64_t v);
void jw_kbool(struct jw *w, const char *key, bool v);
void jw_ktime(struct jw *w, const char *key, int64_t us);
/* A string, or null when s is NULL or empty. */
void jw_kstr_or_null(struct jw *w, const char *key, const char *s);

#endif
