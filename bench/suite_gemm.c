/* clgan-bench gemm: SGEMM rates at the shapes CycleGAN and VGG-19 hand to CLBlast, and squares. */
#include <stdio.h>

#include "bench.h"

/*
 * A convolution layer as the ops run it: per image, im2col columns of
 * col_c * k * k rows by side * side pixels, multiplied with the weights.
 * col_c is the input width of a convolution and the output width of a
 * transposed one; side is the convolution's output side and the
 * transposed convolution's input side. Sizes are those of a 256x256 image
 * through the reference generator (ngf 64), the 70x70 PatchGAN and VGG-19;
 * --small quarters every side and the squares.
 */
typedef struct layer {
    const char *name;
    int cin, cout, k, side, transposed;
} layer;

static const layer LAYERS[] = {
    {"G c7s1-64", 3, 64, 7, 256, 0},     {"G d128", 64, 128, 3, 128, 0},
    {"G d256", 128, 256, 3, 64, 0},      {"G R256", 256, 256, 3, 64, 0},
    {"G u128", 256, 128, 3, 64, 1},      {"G u64", 128, 64, 3, 128, 1},
    {"G c7s1-3", 64, 3, 7, 256, 0},      {"D C64", 3, 64, 4, 128, 0},
    {"D C128", 64, 128, 4, 64, 0},       {"D C256", 128, 256, 4, 32, 0},
    {"D C512", 256, 512, 4, 31, 0},      {"D out", 512, 1, 4, 30, 0},
    {"VGG conv1_1", 3, 64, 3, 256, 0},   {"VGG conv1_2", 64, 64, 3, 256, 0},
    {"VGG conv2_1", 64, 128, 3, 128, 0}, {"VGG conv2_2", 128, 128, 3, 128, 0},
    {"VGG conv3_1", 128, 256, 3, 64, 0}, {"VGG conv3_2", 256, 256, 3, 64, 0},
    {"VGG conv4_1", 256, 512, 3, 32, 0}, {"VGG conv4_2", 512, 512, 3, 32, 0},
    {"VGG conv5_1", 512, 512, 3, 16, 0},
};

/* Gram matrices of the style layers at 256x256: F [c, side*side] times its transpose. */
typedef struct gram_layer {
    const char *name;
    int c, side;
} gram_layer;

static const gram_layer GRAMS[] = {
    {"gram relu1_1", 64, 256}, {"gram relu2_1", 128, 128}, {"gram relu3_1", 256, 64},
    {"gram relu4_1", 512, 32}, {"gram relu5_1", 512, 16},
};

static const int SQUARES[] = {512, 1024, 2048};

/* One product: C [m, n] = op(A) op(B), with k the inner size. */
typedef struct product {
    int trans_a, trans_b, m, n, k;
} product;

typedef struct gemm_run {
    clg_gemm_desc desc;
    clg_tensor *a, *b, *c;
} gemm_run;

static clg_status run_gemm(void *user) {
    gemm_run *r = user;
    return clg_gemm(&r->desc, r->a, r->b, r->c);
}

static cJSON *product_params(const product *p, const char *role) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "role", role);
    cJSON_AddNumberToObject(o, "m", p->m);
    cJSON_AddNumberToObject(o, "n", p->n);
    cJSON_AddNumberToObject(o, "k", p->k);
    cJSON_AddNumberToObject(o, "trans_a", p->trans_a);
    cJSON_AddNumberToObject(o, "trans_b", p->trans_b);
    return o;
}

/* Time one product on random operands and report it under name. */
static void bench_product(bench *b, const char *name, const char *role, const product *p) {
    int sa[2] = {p->trans_a ? p->k : p->m, p->trans_a ? p->m : p->k};
    int sb[2] = {p->trans_b ? p->n : p->k, p->trans_b ? p->k : p->n};
    int sc[2] = {p->m, p->n};
    gemm_run r = {{p->trans_a, p->trans_b, (size_t)p->m, (size_t)p->n, (size_t)p->k, 1.0f, 0.0f, 0,
                   0, 0, 0, 0, 0, 0},
                  NULL,
                  NULL,
                  NULL};
    char full[96], shapes[64];
    bench_stats st;
    double mnk = (double)p->m * p->n * p->k;
    clg_status s = bench_random_tensor(b, 2, sa, -1.0f, 1.0f, &r.a);

    snprintf(full, sizeof full, "%s %s", name, role);
    snprintf(shapes, sizeof shapes, "%c%c %dx%dx%d", p->trans_a ? 'T' : 'N', p->trans_b ? 'T' : 'N',
             p->m, p->n, p->k);
    if (s == CLG_OK) s = bench_random_tensor(b, 2, sb, -1.0f, 1.0f, &r.b);
    if (s == CLG_OK) s = clg_tensor_create(b->device, 2, sc, &r.c);
    if (s == CLG_OK) s = bench_measure(b, run_gemm, &r, &st);
    if (s == CLG_OK)
        bench_report(b, "gemm", full, shapes, product_params(p, role), &st, 2.0 * mnk,
                     4.0 * ((double)p->m * p->k + (double)p->k * p->n + (double)p->m * p->n));
    else
        bench_fail(b, "gemm", full);
    clg_tensor_release(r.a);
    clg_tensor_release(r.b);
    clg_tensor_release(r.c);
}

/* The three products of a layer: forward, gradient of the input, gradient of the weights. */
static void bench_layer(bench *b, const layer *l) {
    int side = b->opts->small ? (l->side + 3) / 4 : l->side;
    int rows = (l->transposed ? l->cout : l->cin) * l->k * l->k;
    int other = l->transposed ? l->cin : l->cout, npix = side * side;
    product weights_cols = {0, 0, other, npix, rows}; /* W [other, rows] x cols */
    product weights_t = {1, 0, rows, npix, other};    /* W^T x [other, npix] */
    product grad_w = {0, 1, other, rows, npix};       /* [other, npix] x cols^T */

    bench_product(b, l->name, "fwd", l->transposed ? &weights_t : &weights_cols);
    bench_product(b, l->name, "dgrad", l->transposed ? &weights_cols : &weights_t);
    bench_product(b, l->name, "wgrad", &grad_w);
}

static void bench_gram(bench *b, const gram_layer *g) {
    int side = b->opts->small ? g->side / 4 : g->side, hw = side * side;
    product fwd = {0, 1, g->c, g->c, hw}, bwd = {0, 0, g->c, hw, g->c};
    bench_product(b, g->name, "fwd", &fwd);
    bench_product(b, g->name, "bwd", &bwd);
}

int bench_suite_gemm(bench *b) {
    int failures = b->failures;
    char name[32];

    bench_section(b, "gemm");
    for (size_t i = 0; i < sizeof SQUARES / sizeof *SQUARES; i++) {
        int n = b->opts->small ? SQUARES[i] / 4 : SQUARES[i];
        product p = {0, 0, n, n, n};
        snprintf(name, sizeof name, "square %d", n);
        bench_product(b, name, "NN", &p);
    }
    for (size_t i = 0; i < sizeof LAYERS / sizeof *LAYERS; i++) bench_layer(b, &LAYERS[i]);
    for (size_t i = 0; i < sizeof GRAMS / sizeof *GRAMS; i++) bench_gram(b, &GRAMS[i]);
    return b->failures == failures;
}
