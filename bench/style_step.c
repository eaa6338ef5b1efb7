/* clgan-bench-style_step: times one style-transfer step through VGG-19 to relu5_1, by phase. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgan.h"
#include "clgan/style.h"

typedef struct opts {
    int repeat, warmup, small;
    const char *device;
} opts;

/* One measured phase: what it runs on a prepared problem. */
typedef struct phase {
    const char *name;
    clg_status (*run)(clg_style *st, clg_module *vgg, clg_var *x, float *grad);
} phase;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- Phases ---- */

static clg_status forward_only(clg_style *st, clg_module *vgg, clg_var *x, float *grad) {
    const char *layer = "relu5_1";
    clg_var *out = NULL;
    clg_status s = clg_vgg19_features(vgg, NULL, x, 1, &layer, &out);
    (void)st, (void)grad;
    clg_var_release(out);
    return s;
}

static clg_status evaluate_on_device(clg_style *st, clg_module *vgg, clg_var *x, float *grad) {
    clg_style_losses l;
    (void)vgg, (void)x, (void)grad;
    return clg_style_evaluate(st, &l, NULL);
}

static clg_status evaluate_to_host(clg_style *st, clg_module *vgg, clg_var *x, float *grad) {
    clg_style_losses l;
    (void)vgg, (void)x;
    return clg_style_evaluate(st, &l, grad);
}

static clg_status adam_step(clg_style *st, clg_module *vgg, clg_var *x, float *grad) {
    clg_style_losses l;
    (void)vgg, (void)x, (void)grad;
    return clg_style_adam_step(st, &l);
}

static const phase PHASES[] = {
    {"forward to relu5_1 (no tape)", forward_only},
    {"loss + gradient on the device", evaluate_on_device},
    {"... + gradient to host (L-BFGS)", evaluate_to_host},
    {"Adam step (loss, gradient, update)", adam_step},
};

#define PHASE_COUNT (sizeof PHASES / sizeof PHASES[0])

/* The median of o->repeat timed runs after o->warmup untimed ones; the device finishes each. */
static clg_status time_phase(const opts *o, const phase *p, clg_device *dev, clg_style *st,
                             clg_module *vgg, clg_var *x, float *grad, double *median) {
    double *t = malloc((size_t)o->repeat * sizeof *t);
    clg_status s = t ? CLG_OK : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    for (int i = 0; s == CLG_OK && i < o->warmup + o->repeat; i++) {
        double start = now_ms();
        s = p->run(st, vgg, x, grad);
        if (s == CLG_OK) s = clg_device_finish(dev);
        if (i >= o->warmup) t[i - o->warmup] = now_ms() - start;
    }
    if (s == CLG_OK) {
        qsort(t, (size_t)o->repeat, sizeof *t, cmp_double);
        *median = t[o->repeat / 2];
    }
    free(t);
    return s;
}

/* ---- One size ---- */

static clg_image noise(int size, uint64_t seed) {
    clg_image img = {0};
    clg_rng rng;

    if (clg_image_create(size, size, 3, &img) != CLG_OK) return img;
    clg_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)size * size * 3; i++) img.data[i] = clg_rng_uniform(&rng);
    return img;
}

static clg_status bench_size(const opts *o, clg_device *dev, clg_module *vgg, int size) {
    clg_image content = noise(size, 1), style = noise(size, 2);
    clg_style_options so;
    clg_style *st = NULL;
    clg_var *x = NULL;
    float *grad = malloc((size_t)size * size * 3 * sizeof *grad);
    clg_status s = content.data && style.data && grad
                       ? CLG_OK
                       : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    clg_style_options_defaults(&so);
    so.image_size = size;
    so.optimizer = CLG_STYLE_ADAM;
    if (s == CLG_OK) s = clg_style_create(dev, vgg, &content, 1, &style, &so, &st);
    if (s == CLG_OK) s = clg_var_from_host(dev, 4, (int[4]){1, 3, size, size}, content.data, 0, &x);
    clg_device_reset_peak(dev);
    for (size_t i = 0; s == CLG_OK && i < PHASE_COUNT; i++) {
        double ms = 0;
        s = time_phase(o, &PHASES[i], dev, st, vgg, x, grad, &ms);
        if (s == CLG_OK) printf("%4dx%-4d %-36s %10.1f ms\n", size, size, PHASES[i].name, ms);
        fflush(stdout);
    }
    if (s == CLG_OK)
        printf("%4dx%-4d %-36s %10.1f MiB\n", size, size, "device memory at peak",
               clg_device_bytes_peak(dev) / 1048576.0);
    clg_var_release(x);
    clg_style_release(st);
    clg_image_release(&content);
    clg_image_release(&style);
    free(grad);
    return s;
}

/* ---- Main ---- */

static int parse(int argc, char **argv, opts *o) {
    *o = (opts){3, 1, 0, NULL};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--small"))
            o->small = 1;
        else if (!strcmp(a, "--repeat") && v)
            o->repeat = atoi(argv[++i]);
        else if (!strcmp(a, "--warmup") && v)
            o->warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--device") && v)
            o->device = argv[++i];
        else
            return 0;
    }
    return o->repeat >= 1 && o->warmup >= 0;
}

int main(int argc, char **argv) {
    static const int full[] = {256, 512}, small[] = {128};
    clg_device *dev = NULL;
    clg_module *vgg = NULL;
    opts o;
    clg_status s;

    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: clgan-bench-style_step [--small] [--repeat N] [--warmup N] "
                        "[--device SELECTOR]\n"
                        "  times a style-transfer step at 256x256 and 512x512 (--small: 128x128)\n"
                        "  through VGG-19 (random filters) with the default layers\n");
        return 2;
    }
    s = clg_device_open(o.device, &dev);
    if (s == CLG_OK) s = clg_style_vgg_load(dev, NULL, CLG_VGG_POOL_MAX, 0, &vgg);
    if (s == CLG_OK)
        printf("device: %s; median of %d after %d warm-up, device finished before each stop\n",
               clg_device_get_info(dev)->name, o.repeat, o.warmup);
    for (int i = 0; s == CLG_OK && i < (o.small ? 1 : 2); i++)
        s = bench_size(&o, dev, vgg, o.small ? small[i] : full[i]);
    if (s != CLG_OK) fprintf(stderr, "clgan-bench-style_step: %s\n", clg_last_error());
    clg_module_release(vgg);
    clg_device_release(dev);
    return s == CLG_OK ? 0 : 1;
}
