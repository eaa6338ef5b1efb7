/* clgan-bench: times GEMM, ops, CycleGAN and style transfer on OpenCL devices; table and JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

typedef struct suite {
    const char *name;
    int (*run)(bench *b);
    const char *what;
} suite;

static const suite SUITES[] = {
    {"gemm", bench_suite_gemm, "SGEMM at the networks' shapes and square 512, 1024, 2048"},
    {"ops", bench_suite_ops, "every op forward and backward at CycleGAN's layer shapes"},
    {"cyclegan", bench_suite_cyclegan, "a training iteration and a translated image"},
    {"style", bench_suite_style, "a style-transfer step through VGG-19 to relu5_1"},
};

#define SUITE_COUNT (int)(sizeof SUITES / sizeof SUITES[0])
#define MAX_REPEAT  1000

/* ---- Timing ---- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void summarise(double *t, int n, bench_stats *out) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    out->min_ms = t[0];
    out->max_ms = t[n - 1];
    out->median_ms = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

clg_status bench_measure(bench *b, bench_fn fn, void *user, bench_stats *out) {
    int n = b->opts->repeat;
    double *t = malloc((size_t)n * sizeof *t);
    clg_status s = t ? CLG_OK : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    /* Warm-up: kernels compile and buffers reach the pool here, outside every timing. */
    for (int i = 0; s == CLG_OK && i < b->opts->warmup; i++) s = fn(user);
    if (s == CLG_OK) s = clg_device_finish(b->device);
    clg_device_reset_peak(b->device);

    for (int i = 0; s == CLG_OK && i < n; i++) {
        double t0 = now_ms();
        s = fn(user);
        if (s == CLG_OK) s = clg_device_finish(b->device);
        t[i] = now_ms() - t0;
    }
    if (s == CLG_OK) {
        summarise(t, n, out);
        out->peak_bytes = clg_device_bytes_peak(b->device);
    }
    free(t);
    return s;
}

/* ---- Random data ---- */

float *bench_random_host(bench *b, size_t count, float lo, float hi) {
    float *host = malloc((count ? count : 1) * sizeof *host);
    for (size_t i = 0; host && i < count; i++) host[i] = lo + (hi - lo) * clg_rng_uniform(&b->rng);
    return host;
}

clg_status bench_random_tensor(bench *b, int ndim, const int *shape, float lo, float hi,
                               clg_tensor **out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *host = bench_random_host(b, n, lo, hi);
    if (!host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    clg_status s = clg_tensor_from_host(b->device, ndim, shape, host, out);
    free(host);
    return s;
}

/* ---- The table ---- */

#define ROW_FORMAT "%-30s %-36s %10s %10s %10s %8s %7s %8s\n"

void bench_section(bench *b, const char *suite) {
    const clg_device_info *info = clg_device_get_info(b->device);
    printf("\n== %s on %s (median of %d after %d warm-up) ==\n", suite, info->name, b->opts->repeat,
           b->opts->warmup);
    printf(ROW_FORMAT, "name", "shapes", "median ms", "min ms", "max ms", "GFLOP/s", "GB/s",
           "peak MiB");
    fflush(stdout);
}

static void format_rate(char *buf, size_t size, double amount, double ms) {
    if (amount > 0 && ms > 0)
        snprintf(buf, size, "%.1f", amount / ms * 1e-6);
    else
        snprintf(buf, size, "-");
}

static void print_row(const char *name, const char *shapes, const bench_stats *st, double flops,
                      double bytes) {
    char med[32], lo[32], hi[32], gf[32], gb[32], peak[32];
    snprintf(med, sizeof med, "%.3f", st->median_ms);
    snprintf(lo, sizeof lo, "%.3f", st->min_ms);
    snprintf(hi, sizeof hi, "%.3f", st->max_ms);
    format_rate(gf, sizeof gf, flops, st->median_ms);
    format_rate(gb, sizeof gb, bytes, st->median_ms);
    snprintf(peak, sizeof peak, "%.1f", st->peak_bytes / 1048576.0);
    printf(ROW_FORMAT, name, shapes, med, lo, hi, gf, gb, peak);
    fflush(stdout);
}

/* ---- Results ---- */

static void add_rate(cJSON *o, const char *key, double amount, double ms) {
    if (amount > 0 && ms > 0)
        cJSON_AddNumberToObject(o, key, amount / ms * 1e-6);
    else
        cJSON_AddNullToObject(o, key);
}

void bench_report(bench *b, const char *suite, const char *name, const char *shapes, cJSON *params,
                  const bench_stats *st, double flops, double bytes) {
    const clg_device_info *info = clg_device_get_info(b->device);
    cJSON *o = cJSON_CreateObject();

    print_row(name, shapes, st, flops, bytes);
    if (!o) {
        cJSON_Delete(params);
        return;
    }
    cJSON_AddStringToObject(o, "suite", suite);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "shapes", shapes);
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "device", info->name);
    cJSON_AddStringToObject(o, "platform", info->platform);
    cJSON_AddStringToObject(o, "driver", info->driver_version);
    cJSON_AddNumberToObject(o, "warmup", b->opts->warmup);
    cJSON_AddNumberToObject(o, "repeat", b->opts->repeat);
    cJSON_AddNumberToObject(o, "median_ms", st->median_ms);
    cJSON_AddNumberToObject(o, "min_ms", st->min_ms);
    cJSON_AddNumberToObject(o, "max_ms", st->max_ms);
    add_rate(o, "gflops", flops, st->median_ms);
    add_rate(o, "gbs", bytes, st->median_ms);
    cJSON_AddNumberToObject(o, "peak_mem_bytes", (double)st->peak_bytes);
    cJSON_AddItemToArray(b->results, o);
}

void bench_fail(bench *b, const char *suite, const char *name) {
    fprintf(stderr, "clgan-bench: %s: %s: %s\n", suite, name, clg_last_error());
    b->failures++;
}

/* Write text to path through a temporary file renamed into place. */
static int write_atomically(const char *path, const char *text) {
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    FILE *f;
    int ok;

    if (!tmp) return 0;
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = f && fclose(f) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) remove(tmp);
    free(tmp);
    return ok;
}

static int write_json(const bench *b) {
    char *text = cJSON_Print(b->results);
    int ok = text && write_atomically(b->opts->json, text);
    if (!ok) fprintf(stderr, "clgan-bench: cannot write %s\n", b->opts->json);
    cJSON_free(text);
    return ok;
}

/* ---- Devices and suites ---- */

static void run_suites(bench *b) {
    for (int i = 0; i < SUITE_COUNT; i++) {
        if (strcmp(b->opts->suite, "all") != 0 && strcmp(b->opts->suite, SUITES[i].name) != 0)
            continue;
        clg_rng_seed(&b->rng, 1234);
        SUITES[i].run(b);
        if (clg_device_bytes_live(b->device) > 0)
            fprintf(stderr, "clgan-bench: warning: %llu bytes of tensors outlived the %s suite\n",
                    (unsigned long long)clg_device_bytes_live(b->device), SUITES[i].name);
        if (b->opts->json) write_json(b); /* a long run keeps what it measured so far */
        clg_device_trim(b->device);
    }
}

static void print_device(const clg_device *dev) {
    const clg_device_info *info = clg_device_get_info(dev);
    printf("device %d: %s (%s), platform %s, driver %s, %u compute units, %.1f GiB\n", info->index,
           info->name, info->vendor, info->platform, info->driver_version, info->compute_units,
           info->global_mem_bytes / 1073741824.0);
}

static void bench_device(bench *b, const char *selector) {
    int built = 0, loaded = 0;

    if (clg_device_open(selector, &b->device) != CLG_OK) {
        bench_fail(b, "device", selector ? selector : "default");
        return;
    }
    print_device(b->device);
    run_suites(b);
    clg_device_cache_stats(b->device, &built, &loaded);
    printf("\nclgan programs compiled: %d, loaded from the cache: %d, each in a warm-up\n", built,
           loaded);
    clg_device_release(b->device);
    b->device = NULL;
}

static void bench_all_devices(bench *b) {
    int count = 0;
    char index[16];

    if (clg_device_list(NULL, 0, &count) != CLG_OK || count == 0) {
        bench_fail(b, "device", "all");
        return;
    }
    for (int i = 0; i < count; i++) {
        snprintf(index, sizeof index, "%d", i);
        bench_device(b, index);
    }
}

/* ---- Command line ---- */

static void usage(FILE *out) {
    fprintf(out, "usage: clgan-bench [SUITE] [--small] [--device SELECTOR|all] [--warmup N]\n"
                 "                   [--repeat N] [--json FILE] [--verbose]\n\n"
                 "suites (default all):\n");
    for (int i = 0; i < SUITE_COUNT; i++)
        fprintf(out, "  %-9s %s\n", SUITES[i].name, SUITES[i].what);
    fprintf(out,
            "  %-9s every suite above\n\n"
            "  --small     shrink every size: a smoke run of a minute or so on a CPU\n"
            "  --device    an index, platform:device or part of a name; all runs each\n"
            "  --warmup    untimed calls first (default 2, at least 1: kernels compile)\n"
            "  --repeat    timed calls; median, min and max are kept (default 5)\n"
            "  --json      write one object per measurement to FILE\n"
            "  --verbose   the library's log on standard error\n",
            "all");
}

static int known_suite(const char *name) {
    if (!strcmp(name, "all")) return 1;
    for (int i = 0; i < SUITE_COUNT; i++)
        if (!strcmp(name, SUITES[i].name)) return 1;
    return 0;
}

static int parse_number(const char *text, int lo, int hi, int *out) {
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int parse_option(bench_options *o, int *verbose, const char *a, const char *v, int *used) {
    *used = 1;
    if (!strcmp(a, "--small")) return (o->small = 1);
    if (!strcmp(a, "--verbose")) return (*verbose = 1);
    *used = 2;
    if (!v) return 0;
    if (!strcmp(a, "--device")) return (o->device = v) != NULL;
    if (!strcmp(a, "--json")) return (o->json = v) != NULL;
    if (!strcmp(a, "--warmup")) return parse_number(v, 1, MAX_REPEAT, &o->warmup);
    if (!strcmp(a, "--repeat")) return parse_number(v, 1, MAX_REPEAT, &o->repeat);
    return 0;
}

static int parse_args(int argc, char **argv, bench_options *o, int *verbose) {
    int i = 1, used = 0;
    if (i < argc && argv[i][0] != '-') {
        if (!known_suite(argv[i])) {
            fprintf(stderr, "clgan-bench: unknown suite '%s'\n", argv[i]);
            return 0;
        }
        o->suite = argv[i++];
    }
    for (; i < argc; i += used) {
        if (!parse_option(o, verbose, argv[i], i + 1 < argc ? argv[i + 1] : NULL, &used)) {
            fprintf(stderr, "clgan-bench: bad option or value: %s%s%s\n", argv[i],
                    i + 1 < argc ? " " : "", i + 1 < argc ? argv[i + 1] : "");
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    bench_options o = {"all", NULL, NULL, 2, 5, 0};
    bench b = {.opts = &o};
    int verbose = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    }
    if (!parse_args(argc, argv, &o, &verbose)) {
        fprintf(stderr, "clgan-bench --help lists the suites and options\n");
        return 2;
    }
    if (o.json && !write_atomically(o.json, "[]")) {
        fprintf(stderr, "clgan-bench: cannot write %s\n", o.json);
        return 2;
    }
    if (verbose) clg_log_set_callback(clg_log_stderr, NULL);
    if (!(b.results = cJSON_CreateArray())) return 1;

    if (o.device && !strcmp(o.device, "all"))
        bench_all_devices(&b);
    else
        bench_device(&b, o.device);

    if (o.json && !write_json(&b)) b.failures++;
    cJSON_Delete(b.results);
    if (b.failures) fprintf(stderr, "clgan-bench: %d failure(s); see above\n", b.failures);
    return b.failures ? 1 : 0;
}
