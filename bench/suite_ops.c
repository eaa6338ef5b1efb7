/* clgan-bench ops: each op of clgan/ops.h, forward and backward, at CycleGAN layer shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef enum kind { CONV, CONVT, INORM, ACT, MSE, L1, GRAM, MAXPOOL, ADAM } kind;

/* The op's name in the JSON params, PyTorch's word for it. */
static const char *const KIND_NAMES[] = {"conv2d", "conv_transpose2d", "instance_norm",
                                         "act",    "mse_loss",         "l1_loss",
                                         "gram",   "max_pool2d",       "adam"};
static const char *const ACT_NAMES[] = {"relu", "leaky_relu", "tanh", "sigmoid"};

/* One measured op: input [1, c, h, h]; co, k, s, p, op describe convolutions. */
typedef struct row {
    const char *name;
    kind kind;
    int c, h, co, k, s, p, op;
    clg_pad_mode pm;
    clg_activation act;
} row;

static const row ROWS[] = {
    {"conv7x7 reflect", CONV, 3, 256, 64, 7, 1, 3, 0, CLG_PAD_REFLECT, 0},
    {"conv3x3 s2", CONV, 64, 256, 128, 3, 2, 1, 0, CLG_PAD_ZEROS, 0},
    {"conv3x3 s2", CONV, 128, 128, 256, 3, 2, 1, 0, CLG_PAD_ZEROS, 0},
    {"conv3x3 resblock", CONV, 256, 64, 256, 3, 1, 1, 0, CLG_PAD_REFLECT, 0},
    {"convT3x3 s2", CONVT, 256, 64, 128, 3, 2, 1, 1, CLG_PAD_ZEROS, 0},
    {"convT3x3 s2", CONVT, 128, 128, 64, 3, 2, 1, 1, CLG_PAD_ZEROS, 0},
    {"instance_norm", INORM, 64, 256, 0, 0, 0, 0, 0, 0, 0},
    {"instance_norm", INORM, 256, 64, 0, 0, 0, 0, 0, 0, 0},
    {"relu", ACT, 64, 256, 0, 0, 0, 0, 0, 0, CLG_ACT_RELU},
    {"tanh", ACT, 3, 256, 0, 0, 0, 0, 0, 0, CLG_ACT_TANH},
    {"D conv4x4 s2", CONV, 3, 256, 64, 4, 2, 1, 0, CLG_PAD_ZEROS, 0},
    {"D conv4x4 s2", CONV, 64, 128, 128, 4, 2, 1, 0, CLG_PAD_ZEROS, 0},
    {"D conv4x4 s2", CONV, 128, 64, 256, 4, 2, 1, 0, CLG_PAD_ZEROS, 0},
    {"D conv4x4 s1", CONV, 256, 32, 512, 4, 1, 1, 0, CLG_PAD_ZEROS, 0},
    {"D conv4x4 s1", CONV, 512, 31, 1, 4, 1, 1, 0, CLG_PAD_ZEROS, 0},
    {"leaky_relu", ACT, 64, 128, 0, 0, 0, 0, 0, 0, CLG_ACT_LEAKY_RELU},
    {"mse_loss", MSE, 3, 256, 0, 0, 0, 0, 0, 0, 0},
    {"l1_loss", L1, 3, 256, 0, 0, 0, 0, 0, 0, 0},
    {"gram", GRAM, 256, 64, 0, 0, 0, 0, 0, 0, 0},
    {"max_pool2d", MAXPOOL, 64, 256, 0, 0, 0, 0, 0, 0, 0},
    {"adam", ADAM, 256, 256, 0, 3, 0, 0, 0, 0, 0},
};

/* The tensors of one row (unused ones stay NULL) and what one call moves. */
typedef struct ctx {
    const row *r;
    clg_tensor *x, *w, *b, *y, *dy, *dx, *dw, *db, *m, *v;
    double flops_fwd, bytes_fwd, flops_bwd, bytes_bwd;
} ctx;

static double numel(const clg_tensor *t) {
    return t ? (double)clg_tensor_numel(t) : 0.0;
}

static clg_status rand4(bench *b, int n, int c, int h, int w, clg_tensor **out) {
    int shape[4] = {n, c, h, w};
    return bench_random_tensor(b, 4, shape, -0.1f, 0.1f, out);
}

/* Convolution or transposed convolution: weights, output and gradients. */
static clg_status setup_conv(bench *b, const row *r, ctx *c) {
    int shape[4], wc0 = r->kind == CONV ? r->co : r->c, wc1 = r->kind == CONV ? r->c : r->co;
    clg_conv2d_params cp = {r->s, r->p, r->pm};
    clg_conv_transpose2d_params tp = {r->s, r->p, r->op};
    clg_status s = rand4(b, wc0, wc1, r->k, r->k, &c->w);

    if (s == CLG_OK) s = bench_random_tensor(b, 1, &r->co, -0.1f, 0.1f, &c->b);
    if (s == CLG_OK)
        s = r->kind == CONV ? clg_conv2d_output_shape(c->x, c->w, &cp, shape)
                            : clg_conv_transpose2d_output_shape(c->x, c->w, &tp, shape);
    if (s == CLG_OK) s = clg_tensor_create(b->device, 4, shape, &c->y);
    if (s == CLG_OK) s = bench_random_tensor(b, 4, shape, -0.1f, 0.1f, &c->dy);
    if (s == CLG_OK) s = clg_tensor_create_like(c->w, &c->dw);
    if (s == CLG_OK) s = clg_tensor_create_like(c->b, &c->db);
    if (s != CLG_OK) return s;

    double macs =
        numel(r->kind == CONV ? c->y : c->x) * (r->kind == CONV ? r->c : r->co) * r->k * r->k;
    c->flops_fwd = 2.0 * macs;
    c->flops_bwd = 4.0 * macs;
    c->bytes_fwd = 4.0 * (numel(c->x) + numel(c->w) + numel(c->y));
    c->bytes_bwd = 4.0 * (2 * numel(c->x) + 2 * numel(c->w) + numel(c->dy));
    return CLG_OK;
}

/* Elementwise ops, normalisation and losses: an output and an upstream gradient like x. */
static clg_status setup_pointwise(bench *b, const row *r, ctx *c, double n) {
    int one = 1, nc = r->c;
    clg_status s = CLG_OK;

    if (r->kind == MSE || r->kind == L1) {
        s = rand4(b, 1, r->c, r->h, r->h, &c->w);
        if (s == CLG_OK) s = clg_tensor_create(b->device, 1, &one, &c->y);
        c->bytes_fwd = 4.0 * 2 * n, c->bytes_bwd = 4.0 * 3 * n;
        return s;
    }
    s = clg_tensor_create_like(c->x, &c->y);
    if (s == CLG_OK) s = rand4(b, 1, r->c, r->h, r->h, &c->dy);
    if (s == CLG_OK && r->kind == INORM) s = clg_tensor_create(b->device, 1, &nc, &c->m);
    if (s == CLG_OK && r->kind == INORM) s = clg_tensor_create(b->device, 1, &nc, &c->v);
    c->bytes_fwd = 4.0 * (r->kind == INORM ? 3 : 2) * n;
    c->bytes_bwd = 4.0 * 4 * n;
    return s;
}

/* Gram, max pooling and Adam. */
static clg_status setup_other(bench *b, const row *r, ctx *c, double n) {
    int gram_shape[3] = {1, r->c, r->c}, pool[4] = {1, r->c, r->h / 2, r->h / 2};
    const int *xs = clg_tensor_shape(c->x);
    clg_status s = CLG_OK;

    if (r->kind == GRAM) {
        s = clg_tensor_create(b->device, 3, gram_shape, &c->y);
        if (s == CLG_OK) s = bench_random_tensor(b, 3, gram_shape, -0.1f, 0.1f, &c->dy);
        c->flops_fwd = c->flops_bwd = 2.0 * r->c * n;
        c->bytes_fwd = 4.0 * (n + numel(c->y)), c->bytes_bwd = 4.0 * (2 * n + numel(c->y));
    } else if (r->kind == MAXPOOL) {
        s = clg_tensor_create(b->device, 4, pool, &c->y);
        if (s == CLG_OK) s = bench_random_tensor(b, 4, pool, -0.1f, 0.1f, &c->dy);
        c->bytes_fwd = 4.0 * 1.25 * n, c->bytes_bwd = 4.0 * 2.25 * n;
    } else {
        s = bench_random_tensor(b, 4, xs, -0.1f, 0.1f, &c->dy);
        if (s == CLG_OK) s = clg_tensor_zeros(b->device, 4, xs, &c->m);
        if (s == CLG_OK) s = clg_tensor_zeros(b->device, 4, xs, &c->v);
        c->bytes_fwd = 4.0 * 7 * n;
    }
    return s;
}

/* The input (Adam's parameter is a [c, c, k, k] weight) and everything the row needs. */
static clg_status setup(bench *b, const row *r, ctx *c) {
    clg_status s = r->kind == ADAM ? rand4(b, r->c, r->c, r->k, r->k, &c->x)
                                   : rand4(b, 1, r->c, r->h, r->h, &c->x);
    if (s == CLG_OK) s = clg_tensor_create_like(c->x, &c->dx);
    if (s != CLG_OK) return s;
    if (r->kind == CONV || r->kind == CONVT) return setup_conv(b, r, c);
    if (r->kind == INORM || r->kind == ACT || r->kind == MSE || r->kind == L1)
        return setup_pointwise(b, r, c, numel(c->x));
    return setup_other(b, r, c, numel(c->x));
}

static clg_status forward(void *user) {
    ctx *c = user;
    const row *r = c->r;
    clg_conv2d_params cp = {r->s, r->p, r->pm};
    clg_conv_transpose2d_params tp = {r->s, r->p, r->op};
    clg_adam_params ap = {2e-4f, 0.5f, 0.999f, 1e-8f, 0.0f};
    switch (r->kind) {
    case CONV:
        return clg_conv2d_forward(c->x, c->w, c->b, &cp, c->y);
    case CONVT:
        return clg_conv_transpose2d_forward(c->x, c->w, c->b, &tp, c->y);
    case INORM:
        return clg_instance_norm_forward(c->x, NULL, NULL, 1e-5f, c->y, c->m, c->v);
    case ACT:
        return clg_activation_forward(r->act, 0.2f, c->x, c->y);
    case MSE:
        return clg_mse_loss(c->x, c->w, c->y);
    case L1:
        return clg_l1_loss(c->x, c->w, c->y);
    case GRAM:
        return clg_gram_forward(c->x, c->y);
    case MAXPOOL:
        return clg_max_pool2d_forward(c->x, c->y);
    case ADAM:
        return clg_adam_step(&ap, 1, c->x, c->dy, c->m, c->v);
    }
    return CLG_ERR_INVALID_ARGUMENT;
}

static clg_status backward(void *user) {
    ctx *c = user;
    const row *r = c->r;
    clg_conv2d_params cp = {r->s, r->p, r->pm};
    clg_conv_transpose2d_params tp = {r->s, r->p, r->op};
    switch (r->kind) {
    case CONV:
        return clg_conv2d_backward(c->x, c->w, c->dy, &cp, c->dx, c->dw, c->db, 0);
    case CONVT:
        return clg_conv_transpose2d_backward(c->x, c->w, c->dy, &tp, c->dx, c->dw, c->db, 0);
    case INORM:
        return clg_instance_norm_backward(c->x, NULL, c->m, c->v, c->dy, c->dx, NULL, NULL, 0);
    case ACT:
        return clg_activation_backward(r->act, 0.2f, c->x, c->y, c->dy, c->dx, 0);
    case MSE:
        return clg_mse_loss_backward(c->x, c->w, 0.0f, NULL, c->dx, 0);
    case L1:
        return clg_l1_loss_backward(c->x, c->w, NULL, c->dx, 0);
    case GRAM:
        return clg_gram_backward(c->x, c->dy, c->dx, 0);
    case MAXPOOL:
        return clg_max_pool2d_backward(c->x, c->dy, c->dx, 0);
    case ADAM:
        return CLG_OK;
    }
    return CLG_ERR_INVALID_ARGUMENT;
}

/* What compare_pytorch.py needs to run the same op: kind, direction, input shape, settings. */
static cJSON *row_params(const row *r, const ctx *c, const char *dir) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "op", r->kind == ACT ? ACT_NAMES[r->act] : KIND_NAMES[r->kind]);
    cJSON_AddStringToObject(o, "dir", dir);
    cJSON_AddItemToObject(o, "x", cJSON_CreateIntArray(clg_tensor_shape(c->x), 4));
    if (r->kind == CONV || r->kind == CONVT) {
        cJSON_AddNumberToObject(o, "cout", r->co);
        cJSON_AddNumberToObject(o, "kernel", r->k);
        cJSON_AddNumberToObject(o, "stride", r->s);
        cJSON_AddNumberToObject(o, "padding", r->p);
        cJSON_AddNumberToObject(o, "output_padding", r->op);
        cJSON_AddStringToObject(o, "pad_mode", r->pm == CLG_PAD_REFLECT ? "reflect" : "zeros");
    }
    if (r->kind == ACT && r->act == CLG_ACT_LEAKY_RELU) cJSON_AddNumberToObject(o, "slope", 0.2);
    return o;
}

static void release_ctx(ctx *c) {
    clg_tensor *all[] = {c->x, c->w, c->b, c->y, c->dy, c->dx, c->dw, c->db, c->m, c->v};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clg_tensor_release(all[i]);
}

/* Time one direction of a row and report it. */
static clg_status bench_direction(bench *b, ctx *c, const char *dir, const char *shapes) {
    int fwd = strcmp(dir, "bwd") != 0;
    char name[64];
    bench_stats st;
    clg_status s = bench_measure(b, fwd ? forward : backward, c, &st);

    snprintf(name, sizeof name, "%s %s", c->r->name, dir);
    if (s == CLG_OK)
        bench_report(b, "ops", name, shapes, row_params(c->r, c, dir), &st,
                     fwd ? c->flops_fwd : c->flops_bwd, fwd ? c->bytes_fwd : c->bytes_bwd);
    return s;
}

/* Set up, then time forward and backward of one row (Adam has a step only). */
static void bench_row(bench *b, const row *full) {
    row r = *full;
    ctx c = {.r = &r};
    char xs[64], ys[64], shapes[140];
    clg_status s;

    if (b->opts->small && r.kind != ADAM) r.h = (r.h + 1) / 2;
    s = setup(b, &r, &c);
    if (s == CLG_OK) {
        clg_tensor_shape_string(c.x, xs, sizeof xs);
        clg_tensor_shape_string(r.kind == ADAM ? c.x : c.y, ys, sizeof ys);
        snprintf(shapes, sizeof shapes, "%s->%s", xs, ys);
        s = bench_direction(b, &c, r.kind == ADAM ? "step" : "fwd", shapes);
    }
    if (s == CLG_OK && r.kind != ADAM) s = bench_direction(b, &c, "bwd", shapes);
    if (s != CLG_OK) bench_fail(b, "ops", r.name);
    release_ctx(&c);
}

int bench_suite_ops(bench *b) {
    int failures = b->failures;
    bench_section(b, "ops");
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++) bench_row(b, &ROWS[i]);
    return b->failures == failures;
}
