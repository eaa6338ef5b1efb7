/* conv2d, conv_transpose2d and pad2d against plain C references and finite differences. */
#include "ops/conv_internal.h"
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RTOL 1e-4
#define ATOL 2e-5 /* times the largest wanted magnitude */

/* ---- Host helpers ---- */

static float *host_random(size_t n, uint64_t seed) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    test_fill_uniform(x, n, seed, -1.0f, 1.0f);
    return x;
}

static float *host_copy(const double *d, size_t n) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (float)d[i];
    return x;
}

static double *host_zeros(size_t n) {
    double *d = calloc(n, sizeof *d);
    assert_non_null(d);
    return d;
}

/* A device tensor of the given shape holding NaN: unwritten elements show. */
static clg_tensor *nan_tensor(int ndim, const int *shape) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create(test_device(), ndim, shape, &t));
    CHECK(clg_tensor_fill(t, NAN));
    return t;
}

static size_t numel4(const int s[4]) {
    return (size_t)s[0] * s[1] * s[2] * s[3];
}

/* The image index read at padded position r (-1: a zero), as PyTorch pads. */
static int source_index(int r, int n, int reflect) {
    if (reflect) return r < 0 ? -r : r >= n ? 2 * (n - 1) - r : r;
    return r >= 0 && r < n ? r : -1;
}

/* Compare with rtol 1e-4 and an absolute floor relative to the largest wanted value. */
static void expect_close(const clg_tensor *t, const float *want, const char *what,
                         const char *name) {
    size_t n = clg_tensor_numel(t);
    float *got = test_download(t);
    double max_abs = 0.0;
    char label[400];

    for (size_t i = 0; i < n; i++) max_abs = fmax(max_abs, fabs(want[i]));
    snprintf(label, sizeof label, "%s %s", what, name);
    assert_floats_close(got, want, n, RTOL, ATOL * max_abs + 1e-7, label);
    free(got);
}

/* want * factor, for checking accumulation. */
static float *scaled(const float *want, size_t n, float factor) {
    float *s = malloc(n * sizeof *s);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++) s[i] = want[i] * factor;
    return s;
}

/* ---- conv2d reference ---- */

typedef struct conv_case {
    int n, cin, h, w, cout, k, stride, pad, reflect, bias;
} conv_case;

typedef struct conv_data {
    int xs[4], ws[4], ys[4];
    float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db; /* the reference results */
} conv_data;

/* The terms of one weight tap (co, ci, kh, kw) of image n, over every output pixel. */
static void conv_reference_tap(const conv_case *c, const conv_data *d, int n, int co, int ci,
                               int kk, double *y, double *dx, double *dw) {
    int kh = kk / c->k, kw = kk % c->k, ho = d->ys[2], wo = d->ys[3];
    size_t wi = (((size_t)co * c->cin + ci) * c->k + kh) * c->k + kw;

    for (int oh = 0; oh < ho; oh++)
        for (int ow = 0; ow < wo; ow++) {
            int ih = source_index(oh * c->stride + kh - c->pad, c->h, c->reflect);
            int iw = source_index(ow * c->stride + kw - c->pad, c->w, c->reflect);
            if (ih < 0 || iw < 0) continue;
            size_t xi = (((size_t)n * c->cin + ci) * c->h + ih) * c->w + iw;
            size_t yi = (((size_t)n * c->cout + co) * ho + oh) * wo + ow;
            y[yi] += (double)d->x[xi] * d->w[wi];
            dx[xi] += (double)d->dy[yi] * d->w[wi];
            dw[wi] += (double)d->dy[yi] * d->x[xi];
        }
}

static void conv_reference(const conv_case *c, conv_data *d) {
    size_t ny = numel4(d->ys), nx = numel4(d->xs), nw = numel4(d->ws);
    double *y = host_zeros(ny), *dx = host_zeros(nx), *dw = host_zeros(nw);
    double *db = host_zeros((size_t)c->cout);

    for (int n = 0; n < c->n; n++)
        for (int co = 0; co < c->cout; co++)
            for (int ci = 0; ci < c->cin; ci++)
                for (int kk = 0; kk < c->k * c->k; kk++)
                    conv_reference_tap(c, d, n, co, ci, kk, y, dx, dw);
    for (size_t i = 0; i < ny; i++) {
        int co = (int)(i / ((size_t)d->ys[2] * d->ys[3]) % (size_t)c->cout);
        if (c->bias) y[i] += d->b[co];
        db[co] += d->dy[i];
    }
    d->y = host_copy(y, ny), d->dx = host_copy(dx, nx), d->dw = host_copy(dw, nw);
    d->db = host_copy(db, (size_t)c->cout);
    free(y), free(dx), free(dw), free(db);
}

static void conv_data_make(const conv_case *c, conv_data *d, uint64_t seed) {
    int ho = (c->h + 2 * c->pad - c->k) / c->stride + 1;
    int wo = (c->w + 2 * c->pad - c->k) / c->stride + 1;

    memcpy(d->xs, (int[]){c->n, c->cin, c->h, c->w}, sizeof d->xs);
    memcpy(d->ws, (int[]){c->cout, c->cin, c->k, c->k}, sizeof d->ws);
    memcpy(d->ys, (int[]){c->n, c->cout, ho, wo}, sizeof d->ys);
    d->x = host_random(numel4(d->xs), seed);
    d->w = host_random(numel4(d->ws), seed + 1);
    d->b = host_random((size_t)c->cout, seed + 2);
    d->dy = host_random(numel4(d->ys), seed + 3);
    conv_reference(c, d);
}

static void conv_data_free(conv_data *d) {
    free(d->x), free(d->w), free(d->b), free(d->dy);
    free(d->y), free(d->dx), free(d->dw), free(d->db);
}

/* ---- conv2d on the device ---- */

/*
 * Choose the algorithm: GEMM over whole images (chunk 0), GEMM over runs of
 * chunk pixels (the column has `rows` rows), or the direct kernels.
 */
static void set_path(size_t rows, int chunk, int direct) {
    clgi_conv_tuning t = {chunk ? rows * (size_t)chunk * sizeof(float) : (size_t)1 << 30,
                          direct ? 1 << 30 : 0};
    clgi_conv_set_tuning(&t);
}

static void conv_case_name(const conv_case *c, int chunk, int direct, char *buf, size_t size) {
    snprintf(buf, size, "conv2d %dx%dx%dx%d -> %d k%d s%d p%d %s%s %s %d", c->n, c->cin, c->h, c->w,
             c->cout, c->k, c->stride, c->pad, c->reflect ? "reflect" : "zeros",
             c->bias ? " bias" : "", direct ? "direct" : "gemm chunk", chunk);
}

/*
 * Forward, then backward three times: overwrite (into NaN), accumulate, and
 * with only the weight gradient wanted, which must leave dx alone.
 */
static void conv_check_device(const conv_case *c, const conv_data *d, int chunk, int direct) {
    clg_conv2d_params p = {c->stride, c->pad, c->reflect ? CLG_PAD_REFLECT : CLG_PAD_ZEROS};
    clg_tensor *x = test_tensor(4, d->xs, d->x), *w = test_tensor(4, d->ws, d->w);
    clg_tensor *b = c->bias ? test_tensor(1, &c->cout, d->b) : NULL;
    clg_tensor *dy = test_tensor(4, d->ys, d->dy), *y = nan_tensor(4, d->ys);
    clg_tensor *dx = nan_tensor(4, d->xs), *dw = nan_tensor(4, d->ws);
    clg_tensor *db = nan_tensor(1, &c->cout);
    size_t nx = numel4(d->xs), nw = numel4(d->ws);
    char what[160];

    conv_case_name(c, chunk, direct, what, sizeof what);
    set_path((size_t)c->cin * c->k * c->k, chunk, direct);
    CHECK(clg_conv2d_forward(x, w, b, &p, y));
    expect_close(y, d->y, what, "y");

    CHECK(clg_conv2d_backward(x, w, dy, &p, dx, dw, c->bias ? db : NULL, 0));
    expect_close(dx, d->dx, what, "dx");
    expect_close(dw, d->dw, what, "dweight");
    if (c->bias) expect_close(db, d->db, what, "dbias");

    float *dx2 = scaled(d->dx, nx, 2), *dw2 = scaled(d->dw, nw, 2);
    float *dw3 = scaled(d->dw, nw, 3), *db2 = scaled(d->db, (size_t)c->cout, 2);
    CHECK(clg_conv2d_backward(x, w, dy, &p, dx, dw, c->bias ? db : NULL, 1));
    expect_close(dx, dx2, what, "dx accumulated");
    expect_close(dw, dw2, what, "dweight accumulated");
    if (c->bias) expect_close(db, db2, what, "dbias accumulated");
    CHECK(clg_conv2d_backward(x, w, dy, &p, NULL, dw, NULL, 1));
    expect_close(dw, dw3, what, "dweight alone");
    expect_close(dx, dx2, what, "dx untouched");

    clgi_conv_set_tuning(NULL);
    free(dx2), free(dw2), free(dw3), free(db2);
    clg_tensor_release(x), clg_tensor_release(w), clg_tensor_release(b);
    clg_tensor_release(dy), clg_tensor_release(y), clg_tensor_release(dx);
    clg_tensor_release(dw), clg_tensor_release(db);
}

static const conv_case conv_cases[] = {
    {2, 3, 7, 6, 4, 3, 1, 1, 0, 1}, {2, 3, 7, 6, 4, 3, 1, 1, 1, 1}, {1, 2, 9, 8, 3, 3, 2, 1, 1, 0},
    {2, 3, 8, 8, 5, 7, 1, 3, 1, 1}, {1, 4, 8, 7, 2, 1, 1, 0, 0, 1}, {2, 2, 5, 5, 3, 4, 3, 2, 0, 1},
    {1, 3, 6, 6, 2, 5, 2, 4, 0, 0}, {1, 2, 5, 6, 3, 3, 1, 4, 1, 1}, {1, 3, 4, 4, 2, 3, 1, 3, 1, 0},
    {2, 2, 9, 7, 3, 4, 2, 1, 1, 1},
};

static void test_conv2d_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
        conv_data d;
        conv_data_make(&conv_cases[i], &d, 100 + i);
        conv_check_device(&conv_cases[i], &d, 0, 0);
        conv_check_device(&conv_cases[i], &d, 5, 0); /* several passes per image */
        conv_check_device(&conv_cases[i], &d, 0, 1);
        conv_data_free(&d);
    }
}

/* A layer big enough for CLBlast's tiled (indirect) GEMM, also split into uneven passes. */
static void test_conv2d_large(void **state) {
    conv_case c = {1, 64, 48, 48, 64, 3, 1, 1, 1, 1};
    conv_data d;

    (void)state;
    conv_data_make(&c, &d, 7);
    conv_check_device(&c, &d, 0, 0);
    conv_check_device(&c, &d, 700, 0);
    conv_check_device(&c, &d, 0, 1);
    conv_data_free(&d);
}

/* ---- Directional finite differences ---- */

typedef void (*forward_fn)(const void *params, clg_tensor *const *in, clg_tensor *out);

static double dot_r(const clg_tensor *out, const float *r) {
    float *y = test_download(out);
    double sum = 0.0;
    for (size_t i = 0; i < clg_tensor_numel(out); i++) sum += (double)y[i] * r[i];
    free(y);
    return sum;
}

/* Upload base + t * dir into each input. */
static void shift_inputs(int count, clg_tensor *const *in, float *const *base, float *const *dir,
                         double t) {
    for (int i = 0; i < count; i++) {
        size_t n = clg_tensor_numel(in[i]);
        float *v = malloc(n * sizeof *v);
        assert_non_null(v);
        for (size_t j = 0; j < n; j++) v[j] = (float)(base[i][j] + t * dir[i][j]);
        CHECK(clg_tensor_upload(in[i], v, n));
        free(v);
    }
}

/*
 * The central difference of f = sum(r * forward(in)) along random directions
 * against sum over inputs of <grad, dir>, where grad came from backward with
 * dy = r. The ops are linear in each input, so the difference is exact but
 * for rounding and eps can be large.
 */
static void check_directional(forward_fn fwd, const void *params, int count, clg_tensor *const *in,
                              clg_tensor *const *grad, clg_tensor *out, const float *r,
                              const char *what) {
    float *base[4], *dir[4];
    double analytic = 0.0, eps = 0.25;

    for (int i = 0; i < count; i++) {
        size_t n = clg_tensor_numel(in[i]);
        float *g = test_download(grad[i]);
        base[i] = test_download(in[i]);
        dir[i] = host_random(n, 900 + (uint64_t)i);
        for (size_t j = 0; j < n; j++) analytic += (double)g[j] * dir[i][j];
        free(g);
    }

    shift_inputs(count, in, base, dir, eps);
    fwd(params, in, out);
    double plus = dot_r(out, r);
    shift_inputs(count, in, base, dir, -eps);
    fwd(params, in, out);
    double numeric = (plus - dot_r(out, r)) / (2 * eps);
    shift_inputs(count, in, base, dir, 0);

    if (fabs(numeric - analytic) > 1e-3 * (fabs(analytic) + 1.0))
        fail_msg("%s: finite difference %.8g, gradient %.8g", what, numeric, analytic);
    for (int i = 0; i < count; i++) free(base[i]), free(dir[i]);
}

static void conv2d_fd_forward(const void *params, clg_tensor *const *in, clg_tensor *out) {
    CHECK(clg_conv2d_forward(in[0], in[1], in[2], params, out));
}

static void test_conv2d_finite_difference(void **state) {
    conv_case c = {2, 3, 9, 8, 4, 3, 2, 2, 1, 1};
    clg_conv2d_params p = {c.stride, c.pad, CLG_PAD_REFLECT};
    conv_data d;
    float *r;

    (void)state;
    conv_data_make(&c, &d, 31);
    r = d.dy;
    clg_tensor *in[3] = {test_tensor(4, d.xs, d.x), test_tensor(4, d.ws, d.w),
                         test_tensor(1, &c.cout, d.b)};
    clg_tensor *grad[3] = {nan_tensor(4, d.xs), nan_tensor(4, d.ws), nan_tensor(1, &c.cout)};
    clg_tensor *dy = test_tensor(4, d.ys, r), *y = nan_tensor(4, d.ys);

    for (int direct = 0; direct < 2; direct++) {
        set_path(0, 0, direct);
        CHECK(clg_conv2d_backward(in[0], in[1], dy, &p, grad[0], grad[1], grad[2], 0));
        check_directional(conv2d_fd_forward, &p, 3, in, grad, y, r,
                          direct ? "conv2d direct" : "conv2d gemm");
    }
    clgi_conv_set_tuning(NULL);

    for (int i = 0; i < 3; i++) clg_tensor_release(in[i]), clg_tensor_release(grad[i]);
    clg_tensor_release(dy), clg_tensor_release(y);
    conv_data_free(&d);
}

/* ---- conv_transpose2d ---- */

typedef struct convt_case {
    int n, cin, h, w, cout, k, stride, pad, out_pad, bias;
} convt_case;

static void convt_shapes(const convt_case *c, conv_data *d) {
    int ho = (c->h - 1) * c->stride - 2 * c->pad + c->k + c->out_pad;
    int wo = (c->w - 1) * c->stride - 2 * c->pad + c->k + c->out_pad;

    memcpy(d->xs, (int[]){c->n, c->cin, c->h, c->w}, sizeof d->xs);
    memcpy(d->ws, (int[]){c->cin, c->cout, c->k, c->k}, sizeof d->ws);
    memcpy(d->ys, (int[]){c->n, c->cout, ho, wo}, sizeof d->ys);
}

/* Scatter form: y[n, co, i*s + kh - p, j*s + kw - p] += x[n, ci, i, j] * w[ci, co, kh, kw]. */
static void convt_reference(const convt_case *c, conv_data *d) {
    size_t ny = numel4(d->ys), nx = numel4(d->xs), nw = numel4(d->ws);
    double *y = host_zeros(ny), *dx = host_zeros(nx), *dw = host_zeros(nw);
    double *db = host_zeros((size_t)c->cout);
    int ho = d->ys[2], wo = d->ys[3];

    for (int n = 0; n < c->n; n++)
        for (int ci = 0; ci < c->cin; ci++)
            for (int i = 0; i < c->h; i++)
                for (int j = 0; j < c->w; j++)
                    for (int co = 0; co < c->cout; co++)
                        for (int kh = 0; kh < c->k; kh++)
                            for (int kw = 0; kw < c->k; kw++) {
                                int oh = i * c->stride + kh - c->pad;
                                int ow = j * c->stride + kw - c->pad;
                                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                                size_t xi = (((size_t)n * c->cin + ci) * c->h + i) * c->w + j;
                                size_t wi = (((size_t)ci * c->cout + co) * c->k + kh) * c->k + kw;
                                size_t yi = (((size_t)n * c->cout + co) * ho + oh) * wo + ow;
                                y[yi] += (double)d->x[xi] * d->w[wi];
                                dx[xi] += (double)d->dy[yi] * d->w[wi];
                                dw[wi] += (double)d->dy[yi] * d->x[xi];
                            }
    for (size_t i = 0; i < ny; i++) {
        int co = (int)(i / ((size_t)ho * wo) % (size_t)c->cout);
        if (c->bias) y[i] += d->b[co];
        db[co] += d->dy[i];
    }
    d->y = host_copy(y, ny), d->dx = host_copy(dx, nx), d->dw = host_copy(dw, nw);
    d->db = host_copy(db, (size_t)c->cout);
    free(y), free(dx), free(dw), free(db);
}

static void convt_check_device(const convt_case *c, const conv_data *d, int chunk) {
    clg_conv_transpose2d_params p = {c->stride, c->pad, c->out_pad};
    clg_tensor *x = test_tensor(4, d->xs, d->x), *w = test_tensor(4, d->ws, d->w);
    clg_tensor *b = c->bias ? test_tensor(1, &c->cout, d->b) : NULL;
    clg_tensor *dy = test_tensor(4, d->ys, d->dy), *y = nan_tensor(4, d->ys);
    clg_tensor *dx = nan_tensor(4, d->xs), *dw = nan_tensor(4, d->ws);
    clg_tensor *db = nan_tensor(1, &c->cout);
    size_t nx = numel4(d->xs), nw = numel4(d->ws);
    int shape[4];
    char what[160];

    snprintf(what, sizeof what, "conv_transpose2d %dx%dx%dx%d -> %d k%d s%d p%d op%d chunk %d",
             c->n, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad, c->out_pad, chunk);
    CHECK(clg_conv_transpose2d_output_shape(x, w, &p, shape));
    assert_memory_equal(shape, d->ys, sizeof shape);
    set_path((size_t)c->cout * c->k * c->k, chunk, 0);

    CHECK(clg_conv_transpose2d_forward(x, w, b, &p, y));
    expect_close(y, d->y, what, "y");
    CHECK(clg_conv_transpose2d_backward(x, w, dy, &p, dx, dw, c->bias ? db : NULL, 0));
    expect_close(dx, d->dx, what, "dx");
    expect_close(dw, d->dw, what, "dweight");
    if (c->bias) expect_close(db, d->db, what, "dbias");

    float *dx2 = scaled(d->dx, nx, 2), *dw2 = scaled(d->dw, nw, 2);
    CHECK(clg_conv_transpose2d_backward(x, w, dy, &p, dx, NULL, NULL, 1));
    CHECK(clg_conv_transpose2d_backward(x, w, dy, &p, NULL, dw, NULL, 1));
    expect_close(dx, dx2, what, "dx accumulated");
    expect_close(dw, dw2, what, "dweight accumulated");

    clgi_conv_set_tuning(NULL);
    free(dx2), free(dw2);
    clg_tensor_release(x), clg_tensor_release(w), clg_tensor_release(b);
    clg_tensor_release(dy), clg_tensor_release(y), clg_tensor_release(dx);
    clg_tensor_release(dw), clg_tensor_release(db);
}

static const convt_case convt_cases[] = {
    {2, 3, 4, 5, 2, 3, 2, 1, 1, 1}, {1, 4, 3, 3, 3, 3, 1, 1, 0, 0}, {2, 2, 3, 4, 3, 4, 2, 1, 0, 1},
    {1, 2, 2, 3, 2, 5, 3, 0, 2, 1}, {1, 3, 5, 5, 2, 1, 1, 0, 0, 1}, {1, 2, 4, 3, 3, 3, 2, 2, 1, 1},
};

static void test_conv_transpose2d_reference(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof convt_cases / sizeof convt_cases[0]; i++) {
        const convt_case *c = &convt_cases[i];
        conv_data d;
        convt_shapes(c, &d);
        d.x = host_random(numel4(d.xs), 200 + i);
        d.w = host_random(numel4(d.ws), 300 + i);
        d.b = host_random((size_t)c->cout, 400 + i);
        d.dy = host_random(numel4(d.ys), 500 + i);
        convt_reference(c, &d);
        convt_check_device(c, &d, 0);
        convt_check_device(c, &d, 3);
        conv_data_free(&d);
    }
}

static void convt_fd_forward(const void *params, clg_tensor *const *in, clg_tensor *out) {
    CHECK(clg_conv_transpose2d_forward(in[0], in[1], in[2], params, out));
}

static void test_conv_transpose2d_finite_difference(void **state) {
    convt_case c = {2, 3, 4, 5, 2, 3, 2, 1, 1, 1};
    clg_conv_transpose2d_params p = {c.stride, c.pad, c.out_pad};
    conv_data d;

    (void)state;
    convt_shapes(&c, &d);
    float *x = host_random(numel4(d.xs), 1), *w = host_random(numel4(d.ws), 2);
    float *b = host_random((size_t)c.cout, 3), *r = host_random(numel4(d.ys), 4);
    clg_tensor *in[3] = {test_tensor(4, d.xs, x), test_tensor(4, d.ws, w),
                         test_tensor(1, &c.cout, b)};
    clg_tensor *grad[3] = {nan_tensor(4, d.xs), nan_tensor(4, d.ws), nan_tensor(1, &c.cout)};
    clg_tensor *dy = test_tensor(4, d.ys, r), *y = nan_tensor(4, d.ys);

    CHECK(clg_conv_transpose2d_backward(in[0], in[1], dy, &p, grad[0], grad[1], grad[2], 0));
    check_directional(convt_fd_forward, &p, 3, in, grad, y, r, "conv_transpose2d");

    for (int i = 0; i < 3; i++) clg_tensor_release(in[i]), clg_tensor_release(grad[i]);
    clg_tensor_release(dy), clg_tensor_release(y);
    free(x), free(w), free(b), free(r);
}

/* ---- pad2d ---- */

typedef struct pad_case {
    int n, c, h, w;
    int pad[4]; /* left, right, top, bottom */
    int reflect;
} pad_case;

static void pad_reference(const pad_case *c, const float *x, const float *dy, float *y, float *dx) {
    int ho = c->h + c->pad[2] + c->pad[3], wo = c->w + c->pad[0] + c->pad[1];
    double *acc = host_zeros((size_t)c->n * c->c * c->h * c->w);

    for (int p = 0; p < c->n * c->c; p++)
        for (int oh = 0; oh < ho; oh++)
            for (int ow = 0; ow < wo; ow++) {
                int ih = source_index(oh - c->pad[2], c->h, c->reflect);
                int iw = source_index(ow - c->pad[0], c->w, c->reflect);
                size_t yi = ((size_t)p * ho + oh) * wo + ow;
                y[yi] = 0.0f;
                if (ih < 0 || iw < 0) continue;
                size_t xi = ((size_t)p * c->h + ih) * c->w + iw;
                y[yi] = x[xi];
                acc[xi] += dy[yi];
            }
    for (size_t i = 0; i < (size_t)c->n * c->c * c->h * c->w; i++) dx[i] = (float)acc[i];
    free(acc);
}

static void pad_check_case(const pad_case *c, uint64_t seed) {
    int xs[4] = {c->n, c->c, c->h, c->w};
    int ys[4] = {c->n, c->c, c->h + c->pad[2] + c->pad[3], c->w + c->pad[0] + c->pad[1]};
    clg_pad_mode mode = c->reflect ? CLG_PAD_REFLECT : CLG_PAD_ZEROS;
    float *x = host_random(numel4(xs), seed), *dy = host_random(numel4(ys), seed + 1);
    float *y = malloc(numel4(ys) * sizeof *y), *dx = malloc(numel4(xs) * sizeof *dx);
    clg_tensor *tx = test_tensor(4, xs, x), *tdy = test_tensor(4, ys, dy);
    clg_tensor *ty = nan_tensor(4, ys), *tdx = nan_tensor(4, xs);
    int even = c->pad[0] == c->pad[1] && c->pad[1] == c->pad[2] && c->pad[2] == c->pad[3];
    char what[128];

    snprintf(what, sizeof what, "pad2d %dx%dx%dx%d (%d %d %d %d) %s", c->n, c->c, c->h, c->w,
             c->pad[0], c->pad[1], c->pad[2], c->pad[3], c->reflect ? "reflect" : "zeros");
    pad_reference(c, x, dy, y, dx);
    CHECK(even ? clg_pad2d_forward(tx, c->pad[0], mode, ty)
               : clgi_pad2d_forward(tx, c->pad, mode, ty));
    CHECK(even ? clg_pad2d_backward(tdy, c->pad[0], mode, tdx, 0)
               : clgi_pad2d_backward(tdy, c->pad, mode, tdx, 0));
    expect_close(ty, y, what, "y");
    expect_close(tdx, dx, what, "dx");

    float *dx2 = scaled(dx, numel4(xs), 2);
    CHECK(clgi_pad2d_backward(tdy, c->pad, mode, tdx, 1));
    expect_close(tdx, dx2, what, "dx accumulated");

    free(x), free(dy), free(y), free(dx), free(dx2);
    clg_tensor_release(tx), clg_tensor_release(tdy), clg_tensor_release(ty);
    clg_tensor_release(tdx);
}

static void test_pad2d_reference(void **state) {
    static const pad_case cases[] = {
        {2, 3, 5, 4, {2, 2, 2, 2}, 1}, {1, 2, 3, 3, {2, 2, 2, 2}, 1}, {2, 1, 4, 6, {3, 3, 3, 3}, 0},
        {1, 1, 2, 2, {0, 0, 0, 0}, 1}, {1, 2, 6, 5, {1, 1, 1, 1}, 1}, {1, 3, 5, 7, {1, 2, 0, 3}, 1},
        {2, 2, 4, 5, {3, 0, 2, 1}, 0}, {1, 1, 1, 1, {2, 2, 2, 2}, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) pad_check_case(&cases[i], 60 + i);
}

/* ---- Shape errors ---- */

static void expect_status(clg_status got, clg_status want, const char *what) {
    if (got != want)
        fail_msg("%s: got %s, want %s (%s)", what, clg_status_name(got), clg_status_name(want),
                 clg_last_error());
}

static void test_shape_errors(void **state) {
    clg_device *dev = test_device();
    clg_tensor *x, *w, *y, *wt;
    clg_conv2d_params p = {1, 1, CLG_PAD_REFLECT};

    (void)state;
    CHECK(clg_tensor_create4(dev, 1, 3, 4, 4, &x));
    CHECK(clg_tensor_create4(dev, 8, 2, 3, 3, &w));
    CHECK(clg_tensor_create4(dev, 1, 8, 4, 4, &y));
    CHECK(clg_tensor_create4(dev, 3, 8, 3, 3, &wt));

    expect_status(clg_conv2d_forward(x, w, NULL, &p, y), CLG_ERR_SHAPE, "channel mismatch");
    assert_non_null(strstr(clg_last_error(), "[8, 2, 3, 3]"));
    expect_status(clg_conv2d_forward(x, wt, NULL, &p, y), CLG_ERR_SHAPE, "wrong output");
    p.padding = 4;
    expect_status(clg_conv2d_forward(x, wt, NULL, &p, y), CLG_ERR_SHAPE, "reflection too wide");
    expect_status(
        clg_conv_transpose2d_forward(x, wt, NULL, &(clg_conv_transpose2d_params){2, 1, 2}, y),
        CLG_ERR_INVALID_ARGUMENT, "output_padding >= stride");
    expect_status(clg_pad2d_forward(x, 4, CLG_PAD_REFLECT, y), CLG_ERR_SHAPE, "pad2d reflect");
    expect_status(clg_pad2d_forward(x, 1, CLG_PAD_ZEROS, y), CLG_ERR_SHAPE, "pad2d output");

    clg_tensor_release(x), clg_tensor_release(w), clg_tensor_release(y);
    clg_tensor_release(wt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_reference),
        cmocka_unit_test(test_conv2d_large),
        cmocka_unit_test(test_conv2d_finite_difference),
        cmocka_unit_test(test_conv_transpose2d_reference),
        cmocka_unit_test(test_conv_transpose2d_finite_difference),
        cmocka_unit_test(test_pad2d_reference),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
