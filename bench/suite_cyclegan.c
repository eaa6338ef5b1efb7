/* clgan-bench cyclegan: milliseconds per training iteration and per translated image. */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "clgan/train.h"

/* One network size: image side, generator width and residual blocks; batch 1. */
typedef struct config {
    int size, ngf, blocks;
} config;

static const config FULL[] = {{64, 16, 3}, {128, 32, 6}, {256, 64, 9}};
static const config SMALL[] = {{32, 8, 2}, {64, 16, 3}};

typedef struct cg_run {
    clg_device *device;
    clg_cyclegan *cg;
    int shape[4];
    float *real_a, *real_b;
    clg_image image; /* the translator's input, values in [0, 1] */
} cg_run;

static clg_status train_step(void *user) {
    cg_run *r = user;
    float losses[CLG_LOSS_COUNT];
    return clg_cyclegan_step(r->cg, r->shape, r->real_a, r->shape, r->real_b, losses);
}

static clg_status translate_image(void *user) {
    cg_run *r = user;
    clg_module *g = clg_cyclegan_net(r->cg, CLG_NET_G_A);
    clg_image out = {0};
    clg_status s = clg_generator_translate(r->device, g, &r->image, &out);
    clg_image_release(&out);
    return s;
}

static cJSON *config_params(const config *c, const char *phase) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "phase", phase);
    cJSON_AddNumberToObject(o, "size", c->size);
    cJSON_AddNumberToObject(o, "ngf", c->ngf);
    cJSON_AddNumberToObject(o, "ndf", c->ngf);
    cJSON_AddNumberToObject(o, "blocks", c->blocks);
    cJSON_AddNumberToObject(o, "batch", 1);
    return o;
}

/* The trainer with the reference's defaults but the config's sizes, and random inputs. */
static clg_status setup(bench *b, const config *c, cg_run *r) {
    clg_cyclegan_options o;
    size_t n = (size_t)3 * c->size * c->size;
    clg_status s;

    r->device = b->device;
    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, &o);
    o.ngf = c->ngf;
    o.ndf = c->ngf;
    o.netG = (clg_netg_type)c->blocks;
    o.load_size = o.crop_size = c->size;
    o.seed = 1;
    r->shape[0] = 1, r->shape[1] = 3, r->shape[2] = r->shape[3] = c->size;
    r->real_a = bench_random_host(b, n, -1.0f, 1.0f);
    r->real_b = bench_random_host(b, n, -1.0f, 1.0f);
    s = clg_image_create(c->size, c->size, 3, &r->image);
    if (s == CLG_OK && (!r->real_a || !r->real_b))
        s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; s == CLG_OK && i < n; i++) r->image.data[i] = 0.5f * (r->real_a[i] + 1.0f);
    return s == CLG_OK ? clg_cyclegan_create(b->device, &o, &r->cg) : s;
}

static void bench_config(bench *b, const config *c) {
    cg_run r = {0};
    char shapes[64], name[64];
    bench_stats st;
    clg_status s = setup(b, c, &r);

    snprintf(shapes, sizeof shapes, "[1, 3, %d, %d] ngf %d, %d blocks", c->size, c->size, c->ngf,
             c->blocks);
    snprintf(name, sizeof name, "train iteration %d", c->size);
    if (s == CLG_OK) s = bench_measure(b, train_step, &r, &st);
    if (s == CLG_OK)
        bench_report(b, "cyclegan", name, shapes, config_params(c, "train"), &st, 0, 0);
    else
        bench_fail(b, "cyclegan", name);

    snprintf(name, sizeof name, "translate image %d", c->size);
    s = r.cg ? bench_measure(b, translate_image, &r, &st) : CLG_ERR_INVALID_ARGUMENT;
    if (s == CLG_OK)
        bench_report(b, "cyclegan", name, shapes, config_params(c, "translate"), &st, 0, 0);
    else
        bench_fail(b, "cyclegan", name);

    clg_cyclegan_release(r.cg);
    clg_image_release(&r.image);
    free(r.real_a);
    free(r.real_b);
}

int bench_suite_cyclegan(bench *b) {
    int failures = b->failures;
    const config *configs = b->opts->small ? SMALL : FULL;
    size_t count = b->opts->small ? sizeof SMALL / sizeof *SMALL : sizeof FULL / sizeof *FULL;

    bench_section(b, "cyclegan");
    for (size_t i = 0; i < count; i++) bench_config(b, &configs[i]);
    return b->failures == failures;
}
