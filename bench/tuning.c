/* clgan-bench-tuning: GEMM GFLOP/s and a CycleGAN step, with CLBlast's defaults, then tuned. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgan.h"
#include "clgan/train.h"

#define MAX_SHAPES 32

typedef struct opts {
    const char *device;
    double budget;
    int steps, warmup, repeat, size, ngf, blocks, stored, save;
} opts;

/* What one setting (defaults, then tuned) measured. */
typedef struct figures {
    double gemm_s[MAX_SHAPES];
    double step_ms[16];
    double step_median_ms;
} figures;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "clgan-bench-tuning: %s: %s\n", what, clg_last_error());
    return 0;
}

static double gflops(const clg_gemm_shape *s, double seconds) {
    return 2.0 * (double)s->m * (double)s->n * (double)s->k / seconds * 1e-9;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *x, int n) {
    double sorted[16];
    memcpy(sorted, x, (size_t)n * sizeof *x);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

/* A tensor of uniform values in [-1, 1). */
static int random_tensor(clg_device *dev, int rows, int cols, clg_rng *rng, clg_tensor **out) {
    size_t n = (size_t)rows * cols;
    float *host = malloc(n * sizeof *host);
    int ok;

    if (!host) return 0;
    for (size_t i = 0; i < n; i++) host[i] = 2.0f * clg_rng_uniform(rng) - 1.0f;
    ok = clg_tensor_from_host(dev, 2, (int[]){rows, cols}, host, out) == CLG_OK;
    free(host);
    return ok;
}

/* The fastest of repeat runs (after one warm-up) of one shape, the queue finished each time. */
static double time_gemm(clg_device *dev, const clg_gemm_shape *s, int repeat, clg_rng *rng) {
    clg_gemm_desc d = {.trans_a = s->trans_a,
                       .trans_b = s->trans_b,
                       .m = s->m,
                       .n = s->n,
                       .k = s->k,
                       .alpha = 1.0f};
    clg_tensor *a = NULL, *b = NULL, *c = NULL;
    double best = -1.0;

    if (random_tensor(dev, (int)(s->trans_a ? s->k : s->m), (int)(s->trans_a ? s->m : s->k), rng,
                      &a) &&
        random_tensor(dev, (int)(s->trans_b ? s->n : s->k), (int)(s->trans_b ? s->k : s->n), rng,
                      &b) &&
        clg_tensor_create(dev, 2, (int[]){(int)s->m, (int)s->n}, &c) == CLG_OK &&
        clg_gemm(&d, a, b, c) == CLG_OK && clg_device_finish(dev) == CLG_OK) {
        for (int r = 0; r < repeat; r++) {
            double t0 = now_s();
            if (clg_gemm(&d, a, b, c) != CLG_OK || clg_device_finish(dev) != CLG_OK) break;
            if (best < 0 || now_s() - t0 < best) best = now_s() - t0;
        }
    }
    if (best < 0) fail("GEMM");
    clg_tensor_release(a), clg_tensor_release(b), clg_tensor_release(c);
    return best;
}

/* Random [-1, 1) images for both domains. */
static float *random_images(size_t n, clg_rng *rng) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; x && i < n; i++) x[i] = 2.0f * clg_rng_uniform(rng) - 1.0f;
    return x;
}

/* Warm-up steps, then each timed step in milliseconds. */
static int time_steps(clg_cyclegan *cg, const opts *o, clg_rng *rng, figures *f) {
    int shape[4] = {1, 3, o->size, o->size};
    size_t n = (size_t)3 * o->size * o->size;
    float *a = random_images(n, rng), *b = random_images(n, rng), losses[CLG_LOSS_COUNT];
    int ok = a && b;

    for (int i = 0; ok && i < o->warmup + o->steps; i++) {
        double t0 = now_s();
        ok = clg_cyclegan_step(cg, shape, a, shape, b, losses) == CLG_OK;
        if (i >= o->warmup) f->step_ms[i - o->warmup] = (now_s() - t0) * 1e3;
    }
    free(a), free(b);
    if (!ok) return fail("CycleGAN step");
    f->step_median_ms = median(f->step_ms, o->steps);
    return 1;
}

static int measure(clg_device *dev, clg_cyclegan *cg, const opts *o, const clg_gemm_shape *shapes,
                   int count, figures *f) {
    clg_rng rng;

    clg_rng_seed(&rng, 7);
    for (int i = 0; i < count; i++)
        if ((f->gemm_s[i] = time_gemm(dev, &shapes[i], o->repeat, &rng)) < 0) return 0;
    return time_steps(cg, o, &rng, f);
}

/* Switch to tuned parameters: the stored file, or a search within the budget. */
static int tune(clg_device *dev, const opts *o, const clg_gemm_shape *shapes, int count) {
    clg_gemm_tune_options to;
    clg_gemm_tune_result *r;
    clg_blas_tuning stored;
    int ok;

    if (o->stored) {
        ok = clg_blas_tuning_load(dev, &stored) == CLG_OK &&
             clg_blas_tuning_apply(dev, &stored) == CLG_OK;
        return ok ? 1 : fail("stored parameters");
    }
    clg_gemm_tune_options_default(&to);
    to.budget_s = o->budget;
    to.shapes = shapes;
    to.shape_count = count;
    to.save = o->save;
    if (!(r = malloc(sizeof *r))) return 0;
    ok = clg_gemm_tune(dev, &to, r) == CLG_OK;
    if (ok) {
        printf("tuning: %d candidates, %d illegal skipped, %d failed, %.0f s\n", r->tried,
               r->illegal, r->failed, r->elapsed_s);
        for (int k = 0; k < r->tuning.count; k++) {
            printf("  %s:", r->tuning.kernels[k].kernel);
            for (int i = 0; i < r->tuning.kernels[k].count; i++)
                printf(" %s=%zu", r->tuning.kernels[k].names[i], r->tuning.kernels[k].values[i]);
            printf("\n");
        }
    }
    free(r);
    return ok ? 1 : fail("tuning");
}

static void report(const opts *o, const clg_gemm_shape *shapes, int count, const figures *before,
                   const figures *after, int tuned) {
    printf("\nGEMM parameters after: %s\n", tuned ? "tuned" : "CLBlast's own (nothing better)");
    printf("%-24s %12s %12s %8s\n", "SGEMM M x N x K op", "default GF/s", "tuned GF/s", "ratio");
    for (int i = 0; i < count; i++) {
        char name[64];
        snprintf(name, sizeof name, "%zux%zux%zu %c%c", shapes[i].m, shapes[i].n, shapes[i].k,
                 shapes[i].trans_a ? 't' : 'n', shapes[i].trans_b ? 't' : 'n');
        printf("%-24s %12.1f %12.1f %7.2fx\n", name, gflops(&shapes[i], before->gemm_s[i]),
               gflops(&shapes[i], after->gemm_s[i]), before->gemm_s[i] / after->gemm_s[i]);
    }
    printf("\nCycleGAN step (%dx%d, ngf %d, %d blocks), median of %d ms:\n", o->size, o->size,
           o->ngf, o->blocks, o->steps);
    for (int i = 0; i < o->steps; i++)
        printf("  step %d: default %.0f, tuned %.0f\n", i + 1, before->step_ms[i],
               after->step_ms[i]);
    printf("default %.0f ms, tuned %.0f ms, ratio %.2fx\n", before->step_median_ms,
           after->step_median_ms, before->step_median_ms / after->step_median_ms);
}

static int parse(int argc, char **argv, opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--device") == 0 && v)
            o->device = argv[++i];
        else if (strcmp(argv[i], "--budget") == 0 && v)
            o->budget = atof(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && v)
            o->steps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--warmup") == 0 && v)
            o->warmup = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && v)
            o->repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--size") == 0 && v)
            o->size = atoi(argv[++i]);
        else if (strcmp(argv[i], "--ngf") == 0 && v)
            o->ngf = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stored") == 0)
            o->stored = 1;
        else if (strcmp(argv[i], "--save") == 0)
            o->save = 1;
        else if (strcmp(argv[i], "--verbose") == 0)
            clg_log_set_callback(clg_log_stderr, NULL);
        else
            return 0;
    }
    return o->steps >= 1 && o->steps <= 16 && o->warmup >= 0 && o->repeat >= 1 && o->size >= 32 &&
           o->size % 8 == 0 && o->ngf >= 1 && o->budget > 0;
}

int main(int argc, char **argv) {
    opts o = {NULL, 120, 3, 1, 3, 128, 32, 6, 0, 0};
    clg_gemm_shape shapes[MAX_SHAPES] = {{0, 0, 1024, 1024, 1024, 1}};
    static figures before, after;
    clg_cyclegan_options co;
    clg_cyclegan *cg = NULL;
    clg_device *dev = NULL;
    int count, ok;

    if (!parse(argc, argv, &o)) {
        fprintf(stderr,
                "usage: clgan-bench-tuning [--budget SECONDS (120)] [--steps N (3)] [--warmup N "
                "(1)]\n  [--repeat N (3)] [--size PIXELS (128)] [--ngf N (32)] [--stored] [--save]"
                "\n  [--device SELECTOR] [--verbose]\n"
                "Measures SGEMM (1024^3 and the step's GEMMs) and a CycleGAN training step\n"
                "with CLBlast's defaults, then tunes (or with --stored, applies the stored\n"
                "parameters) and measures again in the same process.\n");
        return 2;
    }
    count =
        1 + clg_gemm_tune_cyclegan_shapes(o.size, o.ngf, 64, o.blocks, shapes + 1, MAX_SHAPES - 1);
    if (count > MAX_SHAPES) count = MAX_SHAPES;

    /* Open without stored parameters: CLBlast keeps whatever it was given for the whole run. */
    setenv("CLGAN_TUNED", "0", 1);
    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, &co);
    co.ngf = o.ngf;
    co.netG = (clg_netg_type)o.blocks;
    co.crop_size = co.load_size = o.size;
    ok = clg_device_open(o.device, &dev) == CLG_OK && clg_cyclegan_create(dev, &co, &cg) == CLG_OK;
    if (!ok) fail("setup");
    printf("device: %s\n", ok ? clg_device_get_info(dev)->name : "-");
    ok = ok && measure(dev, cg, &o, shapes, count, &before);
    ok = ok && tune(dev, &o, shapes, count);
    ok = ok && measure(dev, cg, &o, shapes, count, &after);
    if (ok) report(&o, shapes, count, &before, &after, clg_device_tuned(dev));
    clg_cyclegan_release(cg);
    clg_device_release(dev);
    return ok ? 0 : 1;
}
