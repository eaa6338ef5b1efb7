/* clgan-gemm: multiply two random matrices on a device, check the result, report GFLOP/s. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgan.h"
#include "clgan/rng.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void usage(FILE *out) {
    fprintf(out, "usage: clgan-gemm [--size N (512)] [--repeat R (5)] [--device SELECTOR]\n"
                 "                  [--verbose]\n"
                 "Multiplies two random N x N matrices with CLBlast on the device, checks\n"
                 "sampled entries against the CPU, and prints the time and GFLOP/s.\n");
}

/* The largest relative error over a sample of entries of C = A B. */
static double sampled_error(const float *a, const float *b, const float *c, int n) {
    double worst = 0.0;
    for (int s = 0; s < 64; s++) {
        int i = (s * 7919) % n, j = (s * 104729 + 13) % n;
        double want = 0.0, scale = 0.0;
        for (int p = 0; p < n; p++) {
            want += (double)a[i * n + p] * b[p * n + j];
            scale += fabs((double)a[i * n + p] * b[p * n + j]);
        }
        double err = fabs(c[i * n + j] - want) / (scale + 1e-30);
        if (err > worst) worst = err;
    }
    return worst;
}

static int run(const char *selector, int n, int repeat) {
    size_t count = (size_t)n * n;
    float *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
    float *c = malloc(count * sizeof *c);
    clg_device *dev = NULL;
    clg_tensor *ta = NULL, *tb = NULL, *tc = NULL;
    clg_gemm_desc desc = {.m = n, .n = n, .k = n, .alpha = 1.0f};
    clg_rng rng;
    double t0, best = 1e30;
    int rc = 1;

    clg_rng_seed(&rng, 1);
    for (size_t i = 0; a && b && i < count; i++) {
        a[i] = clg_rng_uniform(&rng) * 2 - 1;
        b[i] = clg_rng_uniform(&rng) * 2 - 1;
    }
    if (!a || !b || !c) goto done;
    if (clg_device_open(selector, &dev) != CLG_OK ||
        clg_tensor_from_host(dev, 2, (int[]){n, n}, a, &ta) != CLG_OK ||
        clg_tensor_from_host(dev, 2, (int[]){n, n}, b, &tb) != CLG_OK ||
        clg_tensor_create(dev, 2, (int[]){n, n}, &tc) != CLG_OK ||
        clg_gemm(&desc, ta, tb, tc) != CLG_OK || clg_device_finish(dev) != CLG_OK)
        goto done;

    for (int r = 0; r < repeat; r++) {
        t0 = now_seconds();
        if (clg_gemm(&desc, ta, tb, tc) != CLG_OK || clg_device_finish(dev) != CLG_OK) goto done;
        if (now_seconds() - t0 < best) best = now_seconds() - t0;
    }
    if (clg_tensor_download(tc, c, count) != CLG_OK) goto done;
    printf("device: %s\n", clg_device_get_info(dev)->name);
    printf("%d x %d x %d SGEMM: best of %d runs %.2f ms, %.1f GFLOP/s, max sampled error %.1e\n",
           n, n, n, repeat, best * 1e3, 2.0 * n * n * (double)n / best * 1e-9,
           sampled_error(a, b, c, n));
    rc = 0;
done:
    if (rc) fprintf(stderr, "clgan-gemm: %s\n", clg_last_error());
    clg_tensor_release(ta), clg_tensor_release(tb), clg_tensor_release(tc);
    clg_device_release(dev);
    free(a), free(b), free(c);
    return rc;
}

int main(int argc, char **argv) {
    const char *selector = NULL;
    int n = 512, repeat = 5;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) n = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) selector = argv[++i];
        else if (strcmp(argv[i], "--verbose") == 0) clg_log_set_callback(clg_log_stderr, NULL);
        else {
            int help = strcmp(argv[i], "--help") == 0;
            usage(help ? stdout : stderr);
            return help ? 0 : 2;
        }
    }
    if (n < 1 || n > 16384 || repeat < 1) {
        fprintf(stderr, "clgan-gemm: --size must be 1..16384 and --repeat at least 1\n");
        return 2;
    }
    return run(selector, n, repeat);
}
