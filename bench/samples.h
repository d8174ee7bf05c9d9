/* samples.h - latency samples and their percentiles, shared by the benchmark programs.
 *
 * Header-only: each bench C file is a program of its own. Samples are microseconds; figures are
 * printed in milliseconds, nearest-rank percentiles.
 */
#ifndef BERTH_BENCH_SAMPLES_H
#define BERTH_BENCH_SAMPLES_H

#include "base/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct samples {
    int64_t *v;
    size_t n, cap;
};

static inline void samples_add(struct samples *s, int64_t us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = xreallocarray(s->v, s->cap, sizeof *s->v);
    }
    s->v[s->n++] = us;
}

static inline int samples_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static inline void samples_sort(struct samples *s)
{
    qsort(s->v, s->n, sizeof *s->v, samples_cmp);
}

/* The p-quantile (0..1) of sorted samples, in ms; 0 when there are none. */
static inline double samples_ms(const struct samples *s, double p)
{
    if (!s->n)
        return 0;
    return (double)s->v[(size_t)(p * (double)(s->n - 1) + 0.5)] / 1000.0;
}

/* Sorts the samples and prints one line: what, p50, p90, p99, max and the count. */
static inline void samples_print(const char *what, struct samples *s)
{
    samples_sort(s);
    printf("  %-46s p50 %8.3f  p90 %8.3f  p99 %8.3f  max %8.3f ms  (n=%zu)\n", what,
           samples_ms(s, 0.5), samples_ms(s, 0.9), samples_ms(s, 0.99), samples_ms(s, 1.0), s->n);
}

#endif
