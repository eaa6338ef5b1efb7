/* clgan-bench's shared harness: options, timing, statistics, the table and the JSON results. */
#ifndef CLGAN_BENCH_H
#define CLGAN_BENCH_H

/*
 * A suite is a function that sets up its work on b->device, asks
 * bench_measure() to time it and bench_report() to record it. The harness
 * runs `warmup` untimed calls first (the first call compiles kernels and
 * tunes nothing else), then `repeat` timed calls, each started and stopped
 * with the device's queue finished, and keeps the median, minimum and
 * maximum. Peak device memory is the most memory held by live tensors
 * during the timed calls (clg_device_bytes_peak after a reset), which
 * counts the parameters, optimiser state and activations but not the
 * buffer pool's spare buffers or CLBlast's own scratch.
 *
 * Each report prints one table row at once and appends one object to the
 * run's results, written to --json FILE at the end. An object's "params"
 * describe the work in numbers (shapes, sizes, op kinds), enough for
 * bench/compare_pytorch.py to run the same configuration in PyTorch.
 */

#include <stdint.h>

#include <cJSON.h>

#include "clgan.h"

typedef struct bench_options {
    const char *suite;  /* gemm, ops, cyclegan, style or all */
    const char *device; /* a selector, "all", or NULL for the default device */
    const char *json;   /* where to write the results, or NULL */
    int warmup;         /* untimed calls before timing, at least 1 */
    int repeat;         /* timed calls */
    int small;          /* shrink every size for a quick smoke run */
} bench_options;

typedef struct bench_stats {
    double median_ms, min_ms, max_ms;
    uint64_t peak_bytes;
} bench_stats;

typedef struct bench {
    const bench_options *opts;
    clg_device *device;
    clg_rng rng;
    cJSON *results; /* every measurement of the run, over all devices */
    int failures;
} bench;

/* One call of the work being timed; the harness finishes the queue around it. */
typedef clg_status (*bench_fn)(void *user);

/* Warm up, then time opts->repeat calls of fn. */
clg_status bench_measure(bench *b, bench_fn fn, void *user, bench_stats *out);

/* Print a suite's table header. */
void bench_section(bench *b, const char *suite);

/*
 * Record and print one measurement. params (taken over, may be NULL)
 * describes the work; flops and bytes are per call, 0 when they do not apply.
 */
void bench_report(bench *b, const char *suite, const char *name, const char *shapes, cJSON *params,
                  const bench_stats *st, double flops, double bytes);

/* Print why a measurement failed (clg_last_error) and count it. */
void bench_fail(bench *b, const char *suite, const char *name);

/* Host floats uniform in [lo, hi), from the run's generator; free() them. */
float *bench_random_host(bench *b, size_t count, float lo, float hi);

/* A device tensor uniform in [lo, hi). */
clg_status bench_random_tensor(bench *b, int ndim, const int *shape, float lo, float hi,
                               clg_tensor **out);

int bench_suite_gemm(bench *b);
int bench_suite_ops(bench *b);
int bench_suite_cyclegan(bench *b);
int bench_suite_style(bench *b);

#endif
