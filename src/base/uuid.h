/* uuid.h - UUIDv7 identifiers (48-bit millisecond time, then randomness) as lower-case text.
 *
 * IDs sort by creation time, which keeps B-tree inserts local. Thread-safe; within one process,
 * IDs generated in the same millisecond still increase (a counter in the random bits).
 */
#ifndef BERTH_BASE_UUID_H
#define BERTH_BASE_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_STR_LEN 37 /* 36 characters and a NUL */

/* Writes a new UUIDv7, e.g. "019a7c2e-5b1a-7c3d-8e4f-0123456789ab". */
void uuid_v7(char out[UUID_STR_LEN]);
/* True when s is a canonical 8-4-4-4-12 hex UUID (any version, either case). */
bool uuid_valid(const char *s);
/* Why s is not a UUID, for error messages: "invalid UUID length: <n>" or "invalid UUID format"
 * (written to out, n bytes). */
void uuid_invalid_reason(const char *s, char *out, size_t n);

#endif
