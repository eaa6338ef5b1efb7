/* clgan-bench-ops: times each op of clgan/ops.h, forward and backward, at CycleGAN layer shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgan.h"

typedef enum kind { CONV, CONVT, INORM, ACT, MSE, L1, GRAM, MAXPOOL, ADAM } kind;

/* One measured op: input [n, c, h, w]; co, k, s, p, op describe convolutions. */
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

/* The tensors of one row; unused ones stay NULL. */
typedef struct ctx {
    clg_tensor *x, *w, *b, *y, *dy, *dx, *dw, *db, *m, *v;
    double flops_fwd, bytes_fwd, flops_bwd, bytes_bwd;
} ctx;

typedef struct opts {
    int repeat, warmup, small;
    const char *device;
} opts;

static clg_rng g_rng;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int fail(const char *what) {
    fprintf(stderr, "clgan-bench-ops: %s: %s\n", what, clg_last_error());
    return 0;
}

/* A tensor of the given shape holding uniform values in [-0.1, 0.1). */
static int rand_tensor(clg_device *dev, int ndim, const int *shape, clg_tensor **out) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *host = malloc(n * sizeof *host);
    if (!host) return 0;
    for (size_t i = 0; i < n; i++) host[i] = 0.2f * clg_rng_uniform(&g_rng) - 0.1f;
    clg_status st = clg_tensor_from_host(dev, ndim, shape, host, out);
    free(host);
    return st == CLG_OK;
}

static int rand4(clg_device *dev, int n, int c, int h, int w, clg_tensor **out) {
    int shape[4] = {n, c, h, w};
    return rand_tensor(dev, 4, shape, out);
}

static double numel(const clg_tensor *t) {
    return t ? (double)clg_tensor_numel(t) : 0.0;
}

/* Convolution or transposed convolution: weights, output and gradients. */
static int setup_conv(clg_device *dev, const row *r, ctx *c) {
    int shape[4], wc0 = r->kind == CONV ? r->co : r->c, wc1 = r->kind == CONV ? r->c : r->co;
    if (!rand4(dev, wc0, wc1, r->k, r->k, &c->w) || !rand_tensor(dev, 1, &r->co, &c->b)) return 0;
    clg_conv2d_params cp = {r->s, r->p, r->pm};
    clg_conv_transpose2d_params tp = {r->s, r->p, r->op};
    clg_status st = r->kind == CONV ? clg_conv2d_output_shape(c->x, c->w, &cp, shape)
                                    : clg_conv_transpose2d_output_shape(c->x, c->w, &tp, shape);
    if (st != CLG_OK || clg_tensor_create(dev, 4, shape, &c->y) != CLG_OK) return 0;
    if (!rand_tensor(dev, 4, shape, &c->dy) || clg_tensor_create_like(c->x, &c->dx) != CLG_OK ||
        clg_tensor_create_like(c->w, &c->dw) != CLG_OK ||
        clg_tensor_create_like(c->b, &c->db) != CLG_OK)
        return 0;
    double macs =
        numel(r->kind == CONV ? c->y : c->x) * (r->kind == CONV ? r->c : r->co) * r->k * r->k;
    c->flops_fwd = 2.0 * macs;
    c->flops_bwd = 4.0 * macs;
    c->bytes_fwd = 4.0 * (numel(c->x) + numel(c->w) + numel(c->y));
    c->bytes_bwd = 4.0 * (2 * numel(c->x) + 2 * numel(c->w) + numel(c->dy));
    return 1;
}

/* Everything but convolutions: memory-bound ops and gram. */
static int setup_other(clg_device *dev, const row *r, ctx *c) {
    int one = 1, h = r->h, gram_shape[3] = {1, r->c, r->c}, pool[4] = {1, r->c, h / 2, h / 2};
    double n = numel(c->x);
    int ok = clg_tensor_create_like(c->x, &c->dx) == CLG_OK;
    if (r->kind == INORM) {
        int nc = r->c;
        ok = ok && clg_tensor_create_like(c->x, &c->y) == CLG_OK &&
             rand4(dev, 1, r->c, h, h, &c->dy);
        ok = ok && clg_tensor_create(dev, 1, &nc, &c->m) == CLG_OK &&
             clg_tensor_create(dev, 1, &nc, &c->v) == CLG_OK;
        c->bytes_fwd = 4.0 * 3 * n, c->bytes_bwd = 4.0 * 4 * n;
    } else if (r->kind == ACT) {
        ok = ok && clg_tensor_create_like(c->x, &c->y) == CLG_OK &&
             rand4(dev, 1, r->c, h, h, &c->dy);
        c->bytes_fwd = 4.0 * 2 * n, c->bytes_bwd = 4.0 * 4 * n;
    } else if (r->kind == MSE || r->kind == L1) {
        ok = ok && rand4(dev, 1, r->c, h, h, &c->w) &&
             clg_tensor_create(dev, 1, &one, &c->y) == CLG_OK;
        c->bytes_fwd = 4.0 * 2 * n, c->bytes_bwd = 4.0 * 3 * n;
    } else if (r->kind == GRAM) {
        ok = ok && clg_tensor_create(dev, 3, gram_shape, &c->y) == CLG_OK &&
             rand_tensor(dev, 3, gram_shape, &c->dy);
        c->flops_fwd = c->flops_bwd = 2.0 * r->c * n;
        c->bytes_fwd = 4.0 * (n + numel(c->y)), c->bytes_bwd = 4.0 * (2 * n + numel(c->y));
    } else if (r->kind == MAXPOOL) {
        ok = ok && clg_tensor_create(dev, 4, pool, &c->y) == CLG_OK &&
             rand_tensor(dev, 4, pool, &c->dy);
        c->bytes_fwd = 4.0 * 1.25 * n, c->bytes_bwd = 4.0 * 2.25 * n;
    } else if (r->kind == ADAM) {
        ok = ok && rand_tensor(dev, 4, clg_tensor_shape(c->x), &c->dy) &&
             clg_tensor_zeros(dev, 4, clg_tensor_shape(c->x), &c->m) == CLG_OK &&
             clg_tensor_zeros(dev, 4, clg_tensor_shape(c->x), &c->v) == CLG_OK;
        c->bytes_fwd = 4.0 * 7 * n;
    }
    return ok;
}

static int setup(clg_device *dev, const row *r, int small, ctx *c) {
    int h = small && r->kind != ADAM ? (r->h + 1) / 2 : r->h;
    int ok = r->kind == ADAM ? rand4(dev, r->c, r->c, r->k, r->k, &c->x)
                             : rand4(dev, 1, r->c, h, h, &c->x);
    row rs = *r;
    rs.h = h;
    if (!ok) return 0;
    return r->kind == CONV || r->kind == CONVT ? setup_conv(dev, &rs, c) : setup_other(dev, &rs, c);
}

static clg_status forward(const row *r, ctx *c) {
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

static clg_status backward(const row *r, ctx *c) {
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

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef clg_status (*op_fn)(const row *r, ctx *c);

/* Median milliseconds of `repeat` runs of fn, each ended by clg_device_finish; < 0 on error. */
static double time_op(clg_device *dev, op_fn fn, const row *r, ctx *c, int repeat) {
    double t[64];
    int n = repeat < 64 ? repeat : 64;
    for (int i = 0; i < n; i++) {
        if (clg_device_finish(dev) != CLG_OK) return -1.0;
        double t0 = now_ms();
        if (fn(r, c) != CLG_OK || clg_device_finish(dev) != CLG_OK) return -1.0;
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void print_line(const char *name, const char *shape, const char *dir, double ms,
                       double flops, double bytes) {
    char gf[32] = "-";
    if (flops > 0) snprintf(gf, sizeof gf, "%.1f", flops / ms * 1e-6);
    printf("%-18s %-40s %-4s %10.3f %9s %8.2f\n", name, shape, dir, ms, gf, bytes / ms * 1e-6);
}

static void release_ctx(ctx *c) {
    clg_tensor *all[] = {c->x, c->w, c->b, c->y, c->dy, c->dx, c->dw, c->db, c->m, c->v};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clg_tensor_release(all[i]);
}

/* Set up, warm up (kernels compile here), then time forward and backward of one row. */
static int bench_row(clg_device *dev, const row *r, const opts *o) {
    ctx c = {0};
    char xs[64], ys[64], shape[140];
    int ok = setup(dev, r, o->small, &c);
    for (int i = 0; ok && i < o->warmup; i++)
        ok = forward(r, &c) == CLG_OK && backward(r, &c) == CLG_OK;
    ok = ok && clg_device_finish(dev) == CLG_OK;
    if (ok) {
        clg_tensor_shape_string(c.x, xs, sizeof xs);
        clg_tensor_shape_string(r->kind == ADAM ? c.x : c.y, ys, sizeof ys);
        snprintf(shape, sizeof shape, "%s->%s", xs, ys);
        double f = time_op(dev, forward, r, &c, o->repeat);
        double b = r->kind == ADAM ? 0.0 : time_op(dev, backward, r, &c, o->repeat);
        ok = f >= 0 && b >= 0;
        if (ok)
            print_line(r->name, shape, r->kind == ADAM ? "step" : "fwd", f, c.flops_fwd,
                       c.bytes_fwd);
        if (ok && r->kind != ADAM) print_line(r->name, shape, "bwd", b, c.flops_bwd, c.bytes_bwd);
    }
    if (!ok) fail(r->name);
    release_ctx(&c);
    return ok;
}

/* The device's own SGEMM rate: C = A B with n x n matrices. */
static int bench_gemm(clg_device *dev, int n, const opts *o) {
    int shape[2] = {n, n}, ok;
    clg_tensor *a = NULL, *b = NULL, *c = NULL;
    clg_gemm_desc d = {0, 0, (size_t)n, (size_t)n, (size_t)n, 1.0f, 0.0f, 0, 0, 0, 0, 0, 0, 0};
    double t[64], ms;
    int reps = o->repeat < 64 ? o->repeat : 64;
    ok = rand_tensor(dev, 2, shape, &a) && rand_tensor(dev, 2, shape, &b) &&
         clg_tensor_create(dev, 2, shape, &c) == CLG_OK;
    for (int i = 0; ok && i < o->warmup; i++) ok = clg_gemm(&d, a, b, c) == CLG_OK;
    ok = ok && clg_device_finish(dev) == CLG_OK;
    for (int i = 0; ok && i < reps; i++) {
        double t0 = now_ms();
        ok = clg_gemm(&d, a, b, c) == CLG_OK && clg_device_finish(dev) == CLG_OK;
        t[i] = now_ms() - t0;
    }
    if (ok) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        ms = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
        printf("SGEMM %dx%dx%d: %.3f ms, %.1f GFLOP/s\n\n", n, n, n, ms,
               2.0 * n * n * (double)n / ms * 1e-6);
    } else {
        fail("clg_gemm");
    }
    clg_tensor_release(a), clg_tensor_release(b), clg_tensor_release(c);
    return ok;
}

static int parse_args(int argc, char **argv, opts *o) {
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
    if (o->warmup < 1) o->warmup = 1; /* kernel compilation must stay out of the timings */
    return o->repeat >= 1;
}

int main(int argc, char **argv) {
    opts o = {5, 1, 0, NULL};
    clg_device *dev = NULL;
    int ok = 1;
    if (!parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: clgan-bench-ops [--repeat N] [--warmup N] [--device SELECTOR] "
                        "[--small]\n");
        return 2;
    }
    if (clg_device_open(o.device, &dev) != CLG_OK) return !fail("clg_device_open") ? 1 : 0;
    clg_rng_seed(&g_rng, 1234);
    printf("device: %s, %s images, median of %d after %d warm-up\n", clg_device_get_info(dev)->name,
           o.small ? "quarter-size" : "256x256", o.repeat, o.warmup);
    ok = bench_gemm(dev, 1024, &o);
    printf("%-18s %-40s %-4s %10s %9s %8s\n", "op", "shape", "dir", "ms", "GFLOP/s", "GB/s");
    for (size_t i = 0; i < sizeof ROWS / sizeof ROWS[0]; i++)
        ok = bench_row(dev, &ROWS[i], &o) && ok;
    clg_device_release(dev);
    return ok ? 0 : 1;
}
