/* str.h - string helpers. All functions are thread-safe and allocate with the x-allocators.
 * Returned heap strings are owned by the caller (free()).
 */
#ifndef BERTH_BASE_STR_H
#define BERTH_BASE_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* printf into a new heap string. Never NULL. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *str_vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* Copies src into dst[size] always NUL-terminating, cutting (when it must) before a UTF-8
 * continuation byte; returns strlen(src) (the copy was cut if that is >= size). */
size_t str_copy(char *dst, size_t size, const char *src);
/* snprintf that reports truncation: 0 when it fit, -1 when truncated. */
int str_fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* ASCII case-insensitive equality; NULL equals only NULL. */
bool str_eq_ci(const char *a, const char *b);
/* Equality where NULL and "" are equal. */
bool str_eq(const char *a, const char *b);
/* ASCII lower-casing in place; returns s. */
char *str_lower(char *s);
/* ASCII upper-casing in place; returns s. */
char *str_upper(char *s);
/* Trims ASCII whitespace at both ends in place; returns s. */
char *str_trim(char *s);
/* Strict base-10 integer parse of the whole string (optional leading '-' or '+'); 0 on success. */
int str_to_int64(const char *s, int64_t *out);
/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool utf8_valid(const char *s, size_t len);
/* Length (1-4) of the valid UTF-8 sequence starting at s (at most len bytes), 0 if invalid. */
size_t utf8_seq_len(const char *s, size_t len);
/* The largest n <= len such that s[0..n) ends on a UTF-8 character boundary of valid input. */
size_t utf8_cut(const char *s, size_t len);
/* Replaces invalid UTF-8 sequences with U+FFFD; returns a new NUL-terminated string and its
 * length in *out_len (may be NULL). */
char *utf8_sanitize(const char *s, size_t len, size_t *out_len);
/* s quoted the way Go's %q prints strings: "..." with \\, \", \n, \t, \r escaped and other
 * control bytes or invalid UTF-8 as \xNN. Caller frees. */
char *str_quote(const char *s);
/* Number of code points in valid UTF-8 s (invalid bytes count as one each). */
size_t utf8_count(const char *s);
/* A copy of s cut to at most max code points. */
char *utf8_truncate(const char *s, size_t max);

#endif
