/* buf.h - a growable byte buffer with a hard cap (for anything holding outside input).
 *
 * The data is always NUL-terminated after len bytes, so text can be used as a C string.
 * A buffer is owned by whoever declared it; release with buf_free(). Not thread-safe.
 */
#ifndef BERTH_BASE_BUF_H
#define BERTH_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len; 0 means unlimited */
};

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Initializes an empty buffer that refuses to grow past max bytes (0 = unlimited). */
void buf_init(struct buf *b, size_t max);
/* Appends n bytes. Returns 0, or -1 (buffer unchanged) when the cap would be exceeded. */
int buf_append(struct buf *b, const void *p, size_t n);
/* Appends a NUL-terminated string. Same return as buf_append. */
int buf_puts(struct buf *b, const char *s);
/* Appends one byte. Same return as buf_append. */
int buf_putc(struct buf *b, char c);
/* Appends printf output. Same return as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is empty (same cap) afterwards. */
void buf_free(struct buf *b);
/* The contents as a C string ("" when empty). Borrowed; valid until the next change. */
const char *buf_str(const struct buf *b);
/* Hands the NUL-terminated contents to the caller (never NULL) and empties the buffer. */
char *buf_take(struct buf *b);

#endif
