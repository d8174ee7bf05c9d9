/* embed.h - files compiled into the binary (SQL migrations, built-in templates).
 *
 * Generated sources (cmake/embed_run.cmake) define arrays of these, terminated by an entry whose
 * path is NULL. The data is static and read-only; `data[size]` is a NUL byte so text files can be
 * used as C strings.
 */
#ifndef BERTH_BASE_EMBED_H
#define BERTH_BASE_EMBED_H

#include <stddef.h>

struct embedded_file {
    const char *path;          /* relative path, '/'-separated */
    const unsigned char *data; /* size bytes, then a NUL */
    size_t size;
    unsigned mode; /* 0644 or 0755 */
};

#endif
