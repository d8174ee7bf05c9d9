/* mem.h - allocation that never returns NULL.
 *
 * berth treats out-of-memory as fatal (like Redis and h2o): every x-allocator aborts the
 * process with a message on failure, so callers never check for NULL. Thread-safe.
 */
#ifndef BERTH_BASE_MEM_H
#define BERTH_BASE_MEM_H

#include <stddef.h>

/* malloc(n); never NULL (n == 0 allocates 1 byte). Caller frees. */
void *xmalloc(size_t n);
/* calloc(count, size) with overflow check; never NULL. Caller frees. */
void *xcalloc(size_t count, size_t size);
/* realloc(p, n); never NULL. Takes p, returns the (possibly moved) block. */
void *xrealloc(void *p, size_t n);
/* reallocarray(p, count, size) with overflow check; never NULL. */
void *xreallocarray(void *p, size_t count, size_t size);
/* strdup(s); s may be NULL (returns NULL). Caller frees. */
char *xstrdup(const char *s);
/* strndup(s, n); never NULL for non-NULL s. Caller frees. */
char *xstrndup(const char *s, size_t n);
/* Duplicates n bytes of p and appends a NUL byte. Caller frees. */
void *xmemdup(const void *p, size_t n);
/* Aborts the process after printing "berth: out of memory". */
_Noreturn void mem_oom(void);

#endif
