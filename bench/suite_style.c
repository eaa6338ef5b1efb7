/* clgan-bench style: one style-transfer optimisation step through VGG-19 to relu5_1. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "clgan/style.h"

/*
 * A step is clg_style_adam_step() with clgan/style.h's default layers:
 * VGG-19 features of the image up to relu5_1, the content loss at relu4_2,
 * Gram losses at relu1_1 ... relu5_1, total variation, the losses read
 * back, backward to the image through the frozen network, and Adam's
 * update of the image. The filters are random (clg_style_vgg_load without
 * a file), which costs the same as trained ones.
 */

static const int FULL[] = {256, 512};
static const int SMALL[] = {32, 64};

/* Convolutions up to relu5_1: input width, output width, the side as a divisor of the size. */
static const int VGG_CONVS[][3] = {
    {3, 64, 1},    {64, 64, 1},   {64, 128, 2},   {128, 128, 2}, {128, 256, 4},
    {256, 256, 4}, {256, 256, 4}, {256, 256, 4},  {256, 512, 8}, {512, 512, 8},
    {512, 512, 8}, {512, 512, 8}, {512, 512, 16},
};

typedef struct style_run {
    clg_module *vgg;
    clg_style *style;
    clg_image content, style_image;
} style_run;

static clg_status style_step(void *user) {
    style_run *r = user;
    clg_style_losses losses;
    return clg_style_adam_step(r->style, &losses);
}

static clg_status random_image(bench *b, int size, clg_image *img) {
    clg_status s = clg_image_create(size, size, 3, img);
    for (size_t i = 0; s == CLG_OK && i < (size_t)3 * size * size; i++)
        img->data[i] = clg_rng_uniform(&b->rng);
    return s;
}

/* Random content and style images of size x size, random filters, Adam from a random start. */
static clg_status setup(bench *b, int size, style_run *r) {
    clg_style_options o;
    clg_status s = clg_style_vgg_load(b->device, NULL, CLG_VGG_POOL_MAX, 1, &r->vgg);

    clg_style_options_defaults(&o);
    o.image_size = size;
    o.optimizer = CLG_STYLE_ADAM;
    o.seed = 1;
    if (s == CLG_OK) s = random_image(b, size, &r->content);
    if (s == CLG_OK) s = random_image(b, size, &r->style_image);
    if (s == CLG_OK)
        s = clg_style_create(b->device, r->vgg, &r->content, 1, &r->style_image, &o, &r->style);
    return s;
}

static void release_run(style_run *r) {
    clg_style_release(r->style);
    clg_module_release(r->vgg);
    clg_image_release(&r->content);
    clg_image_release(&r->style_image);
}

/* Convolution work of a step: each layer's forward and the gradient of its input. */
static double step_flops(int size) {
    double flops = 0;
    for (size_t i = 0; i < sizeof VGG_CONVS / sizeof *VGG_CONVS; i++) {
        double side = (double)size / VGG_CONVS[i][2];
        flops += 2.0 * 2.0 * VGG_CONVS[i][0] * VGG_CONVS[i][1] * 9 * side * side;
    }
    return flops;
}

static void bench_size(bench *b, int size) {
    style_run r = {0};
    char name[64], shapes[64];
    bench_stats st;
    cJSON *params;
    clg_status s = setup(b, size, &r);

    snprintf(name, sizeof name, "adam step %d", size);
    snprintf(shapes, sizeof shapes, "[1, 3, %d, %d] to relu5_1", size, size);
    if (s == CLG_OK) s = bench_measure(b, style_step, &r, &st);
    if (s == CLG_OK) {
        params = cJSON_CreateObject();
        cJSON_AddNumberToObject(params, "size", size);
        cJSON_AddStringToObject(params, "deepest", "relu5_1");
        bench_report(b, "style", name, shapes, params, &st, step_flops(size), 0);
    } else {
        bench_fail(b, "style", name);
    }
    release_run(&r);
}

int bench_suite_style(bench *b) {
    int failures = b->failures;
    const int *sizes = b->opts->small ? SMALL : FULL;
    size_t count = b->opts->small ? sizeof SMALL / sizeof *SMALL : sizeof FULL / sizeof *FULL;

    bench_section(b, "style");
    for (size_t i = 0; i < count; i++) bench_size(b, sizes[i]);
    return b->failures == failures;
}
