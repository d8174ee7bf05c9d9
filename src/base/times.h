/* times.h - wall and monotonic clocks, RFC 3339 timestamps, and durations like "10m".
 *
 * Timestamps are int64 microseconds since the Unix epoch, UTC (0 means "unset" in rows).
 * Durations are int64 milliseconds. All functions are thread-safe.
 */
#ifndef BERTH_BASE_TIMES_H
#define BERTH_BASE_TIMES_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TIME_STR_LEN 32 /* room for "2006-01-02T15:04:05.000000Z" and a NUL */

/* Wall clock, microseconds since the epoch. */
int64_t time_now_us(void);
/* Monotonic clock, microseconds (for deadlines and latency). */
int64_t time_mono_us(void);
/* Formats us as RFC 3339 UTC with microseconds: "2026-11-23T23:01:53.123456Z". */
void time_format(int64_t us, char out[TIME_STR_LEN]);
/* Parses RFC 3339 ("Z" or a numeric offset, optional fraction). 0 on success, -1 otherwise. */
int time_parse(const char *s, int64_t *us);
/* Parses a duration: a sequence of <number><unit> with units ms, s, m, h (decimals allowed,
 * e.g. "1.5h", "5m30s"), or a plain "0". Negative durations are refused. 0 on success. */
int duration_parse(const char *s, int64_t *ms);
/* Formats ms the way Go prints durations: "10m0s", "1h0m0s", "1.5s", "500ms", "0s". */
void duration_format(int64_t ms, char *out, size_t size);
/* An absolute CLOCK_MONOTONIC timespec ms milliseconds from now (for condition waits on a
 * monotonic condattr). */
struct timespec time_mono_deadline(int64_t ms);
/* Converts a monotonic microsecond instant to a timespec. */
struct timespec time_mono_ts(int64_t mono_us);

#endif
