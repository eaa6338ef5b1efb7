/* Ops against plain C references, backward against finite differences, and error checks. */
#include "support.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FD_STEP    1e-2
#define FD_SAMPLES 12

/* ---- Helpers ---- */

static clg_tensor *random_tensor(int ndim, const int *shape, uint64_t seed, float lo, float hi) {
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    float *data = malloc(n * sizeof *data);
    assert_non_null(data);
    test_fill_uniform(data, n, seed, lo, hi);
    clg_tensor *t = test_tensor(ndim, shape, data);
    free(data);
    return t;
}

static clg_tensor *new_like(const clg_tensor *ref) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create_like(ref, &t));
    return t;
}

static clg_tensor *new_vec(int n) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create(test_device(), 1, &n, &t));
    return t;
}

/* Push every value at least margin away from 0, keeping its sign. */
static void away_from_zero(clg_tensor *t, float margin) {
    float *d = test_download(t);
    for (size_t i = 0; i < clg_tensor_numel(t); i++) d[i] += d[i] < 0 ? -margin : margin;
    CHECK(clg_tensor_upload(t, d, clg_tensor_numel(t)));
    free(d);
}

static float read_scalar(const clg_tensor *t) {
    float v = 0.0f;
    CHECK(clg_tensor_download(t, &v, 1));
    return v;
}

/* ---- Finite differences ---- */

/*
 * A scalar function of some input tensors: L = sum(r * y) after forward(),
 * or param * y[0] when r is NULL (losses; param is the upstream gradient,
 * dloss). backward() writes the analytic gradient of
 * L with respect to in[k] into grad (dy = r).
 */
typedef struct fd_case fd_case;
struct fd_case {
    const char *name;
    clg_tensor *in[3], *y, *r;
    int kind;    /* which variant of the op */
    float param; /* its setting */
    void (*forward)(fd_case *c);
    void (*backward)(fd_case *c, int k, clg_tensor *grad, int accumulate);
};

static double fd_value(fd_case *c) {
    double sum = 0.0;
    float *y, *r;

    c->forward(c);
    if (!c->r) return c->param * read_scalar(c->y);
    y = test_download(c->y);
    r = test_download(c->r);
    for (size_t i = 0; i < clg_tensor_numel(c->y); i++) sum += (double)r[i] * y[i];
    free(y);
    free(r);
    return sum;
}

/* Central differences at FD_SAMPLES spread indices of in[k] against the analytic gradient. */
static void fd_check_input(fd_case *c, int k) {
    clg_tensor *x = c->in[k], *grad = new_like(x);
    size_t n = clg_tensor_numel(x);
    float *host = test_download(x), *analytic;

    c->backward(c, k, grad, 0);
    analytic = test_download(grad);
    for (size_t s = 0; s < FD_SAMPLES && s < n; s++) {
        size_t i = s * n / (FD_SAMPLES < n ? FD_SAMPLES : n);
        float keep = host[i];
        double up, down, fd;
        host[i] = keep + (float)FD_STEP;
        CHECK(clg_tensor_upload(x, host, n));
        up = fd_value(c);
        host[i] = keep - (float)FD_STEP;
        CHECK(clg_tensor_upload(x, host, n));
        down = fd_value(c);
        host[i] = keep;
        CHECK(clg_tensor_upload(x, host, n));
        fd = (up - down) / (2.0 * FD_STEP);
        if (fabs(fd - analytic[i]) > 1e-2 * fabs(fd) + 2e-3)
            fail_msg("%s: d/d input %d [%zu]: analytic %.6g, finite differences %.6g", c->name, k,
                     i, analytic[i], fd);
    }
    free(host);
    free(analytic);
    clg_tensor_release(grad);
}

/* accumulate = 1 adds the gradient to what the tensor holds. */
static void fd_check_accumulate(fd_case *c, int k) {
    clg_tensor *g0 = new_like(c->in[k]), *g1 = new_like(c->in[k]);
    size_t n = clg_tensor_numel(g0);
    float *a, *b;

    c->backward(c, k, g0, 0);
    CHECK(clg_tensor_fill(g1, 0.5f));
    c->backward(c, k, g1, 1);
    a = test_download(g0);
    b = test_download(g1);
    for (size_t i = 0; i < n; i++) a[i] += 0.5f;
    assert_floats_close(b, a, n, 1e-6, 1e-6, c->name);
    free(a);
    free(b);
    clg_tensor_release(g0);
    clg_tensor_release(g1);
}

static void fd_run(fd_case *c, int inputs) {
    for (int k = 0; k < inputs; k++) {
        fd_check_input(c, k);
        fd_check_accumulate(c, k);
    }
    for (int k = 0; k < 3; k++) clg_tensor_release(c->in[k]);
    clg_tensor_release(c->y);
    clg_tensor_release(c->r);
}

/* ---- Activations and arithmetic ---- */

static float act_ref(clg_activation act, float slope, float x) {
    switch (act) {
    case CLG_ACT_RELU:
        return x > 0 ? x : 0;
    case CLG_ACT_LEAKY_RELU:
        return x > 0 ? x : slope * x;
    case CLG_ACT_TANH:
        return tanhf(x);
    default:
        return 1.0f / (1.0f + expf(-x));
    }
}

static void act_forward(fd_case *c) {
    CHECK(clg_activation_forward((clg_activation)c->kind, c->param, c->in[0], c->y));
}

static void act_backward(fd_case *c, int k, clg_tensor *grad, int acc) {
    (void)k;
    act_forward(c);
    CHECK(clg_activation_backward((clg_activation)c->kind, c->param, c->in[0], c->y, c->r, grad,
                                  acc));
}

static void test_activations(void **state) {
    static const clg_activation acts[] = {CLG_ACT_RELU, CLG_ACT_LEAKY_RELU, CLG_ACT_TANH,
                                          CLG_ACT_SIGMOID};
    int shape[] = {2, 3, 4, 5};

    (void)state;
    for (int a = 0; a < 4; a++) {
        fd_case c = {"activation", {random_tensor(4, shape, 10 + a, -3, 3)},
                     NULL,         NULL,
                     acts[a],      0.2f,
                     act_forward,  act_backward};
        size_t n = clg_tensor_numel(c.in[0]);
        float *x, *y, *want = malloc(n * sizeof *want);
        away_from_zero(c.in[0], 0.05f);
        c.y = new_like(c.in[0]);
        c.r = random_tensor(4, shape, 20 + a, -1, 1);
        act_forward(&c);
        x = test_download(c.in[0]);
        y = test_download(c.y);
        for (size_t i = 0; i < n; i++) want[i] = act_ref(acts[a], 0.2f, x[i]);
        assert_floats_close(y, want, n, 1e-6, 1e-7, "activation forward");
        free(x), free(y), free(want);
        fd_run(&c, 1);
    }
}

/* tanh and sigmoid saturate to exactly +-1 and 1 (0 or a denormal below) without NaN. */
static void test_activation_extremes(void **state) {
    float x[4] = {100.0f, -100.0f, 1e30f, -1e30f}, *y;
    clg_tensor *t = test_tensor(1, (int[]){4}, x), *out = new_like(t);

    (void)state;
    CHECK(clg_activation_forward(CLG_ACT_TANH, 0, t, out));
    y = test_download(out);
    assert_true(y[0] == 1.0f && y[1] == -1.0f && y[2] == 1.0f && y[3] == -1.0f);
    free(y);
    CHECK(clg_activation_forward(CLG_ACT_SIGMOID, 0, t, out));
    y = test_download(out);
    assert_true(y[0] == 1.0f && y[1] >= 0.0f && y[1] < 1e-40f && y[2] == 1.0f && y[3] == 0.0f);
    free(y);
    clg_tensor_release(t);
    clg_tensor_release(out);
}

static void test_arithmetic(void **state) {
    int shape[] = {3, 7, 5};
    clg_tensor *a = random_tensor(3, shape, 1, -2, 2), *b = random_tensor(3, shape, 2, -2, 2);
    size_t n = clg_tensor_numel(a);
    float *ha = test_download(a), *hb = test_download(b), *want = malloc(n * sizeof *want), *got;

    (void)state;
    CHECK(clg_mul(a, b, b)); /* out aliases b */
    for (size_t i = 0; i < n; i++) want[i] = ha[i] * hb[i];
    got = test_download(b);
    assert_floats_close(got, want, n, 0, 0, "mul in place");
    free(got);
    CHECK(clg_sub(a, b, b));
    CHECK(clg_add(b, a, b));
    CHECK(clg_scale(b, 0.5f, b));
    CHECK(clg_axpy(-2.0f, a, b));
    for (size_t i = 0; i < n; i++) want[i] = ((ha[i] - want[i]) + ha[i]) * 0.5f - 2.0f * ha[i];
    got = test_download(b);
    assert_floats_close(got, want, n, 1e-6, 1e-6, "sub, add, scale, axpy");
    free(got), free(ha), free(hb), free(want);
    clg_tensor_release(a);
    clg_tensor_release(b);
}

/* ---- Reductions ---- */

/* The device's fixed order, on the host: 1024 strided partials, then a halving tree. */
static float fixed_order_sum(const float *x, size_t n) {
    float part[1024];
    for (size_t p = 0; p < 1024; p++) {
        part[p] = 0.0f;
        for (size_t i = p; i < n; i += 1024) part[p] += x[i];
    }
    for (size_t s = 512; s > 0; s /= 2)
        for (size_t j = 0; j < s; j++) part[j] += part[j + s];
    return part[0];
}

static void test_sum_mean(void **state) {
    int sizes[] = {1, 5, 1024, 1025, 100003};

    (void)state;
    for (int k = 0; k < 5; k++) {
        clg_tensor *x = random_tensor(1, &sizes[k], 30 + k, -1, 1), *out = new_vec(1);
        float *h = test_download(x), want = fixed_order_sum(h, (size_t)sizes[k]);
        double exact = 0.0;
        for (int i = 0; i < sizes[k]; i++) exact += h[i];
        CHECK(clg_sum(x, out));
        assert_true(read_scalar(out) == want); /* bit for bit: the order is fixed */
        assert_true(fabs(want - exact) <= 1e-5 * (1 + fabs(exact)));
        CHECK(clg_mean(x, out));
        assert_true(fabs(read_scalar(out) - exact / sizes[k]) <= 1e-6 * (1 + fabs(exact)));
        free(h);
        clg_tensor_release(x);
        clg_tensor_release(out);
    }
}

/* The backward of sum and mean spreads dout[0] (over the count) to every element. */
static void test_sum_mean_backward(void **state) {
    float up = 0.75f;
    clg_tensor *dout = test_tensor(1, (int[]){1}, &up), *dx = new_vec(7);
    float *g;

    (void)state;
    CHECK(clg_sum_backward(dout, dx, 0));
    CHECK(clg_mean_backward(dout, dx, 1));
    g = test_download(dx);
    for (int i = 0; i < 7; i++) assert_float_equal(g[i], 0.75 + 0.75 / 7, 1e-7);
    free(g);
    assert_int_equal(clg_sum_backward(dx, dx, 0), CLG_ERR_SHAPE);
    clg_tensor_release(dout);
    clg_tensor_release(dx);
}

/* ---- Normalisation ---- */

/* y of instance norm (groups = planes, outer 1) or batch norm (groups = C) in double. */
static void norm_ref(const float *x, int n, int c, int hw, int instance, const float *w,
                     const float *b, float eps, float *y) {
    int groups = instance ? n * c : c, outer = instance ? 1 : n;
    for (int g = 0; g < groups; g++) {
        double sum = 0, sq = 0, mean, invstd;
        int ch = g % c, count = outer * hw;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < hw; i++) sum += x[(size_t)(g + o * c) * hw + i];
        mean = sum / count;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < hw; i++) {
                double d = x[(size_t)(g + o * c) * hw + i] - mean;
                sq += d * d;
            }
        invstd = 1.0 / sqrt(sq / count + eps);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < hw; i++) {
                size_t at = (size_t)(g + o * c) * hw + i;
                y[at] = (float)((x[at] - mean) * invstd * (w ? w[ch] : 1) + (b ? b[ch] : 0));
            }
    }
}

static void inorm_forward(fd_case *c) {
    int planes = clg_tensor_dim(c->y, 0) * clg_tensor_dim(c->y, 1);
    clg_tensor *mean = new_vec(planes), *invstd = new_vec(planes);
    CHECK(clg_instance_norm_forward(c->in[0], c->in[1], c->in[2], c->param, c->y, mean, invstd));
    clg_tensor_release(mean);
    clg_tensor_release(invstd);
}

static void inorm_backward(fd_case *c, int k, clg_tensor *grad, int acc) {
    int planes = clg_tensor_dim(c->y, 0) * clg_tensor_dim(c->y, 1);
    clg_tensor *mean = new_vec(planes), *invstd = new_vec(planes);
    CHECK(clg_instance_norm_forward(c->in[0], c->in[1], c->in[2], c->param, c->y, mean, invstd));
    CHECK(clg_instance_norm_backward(c->in[0], c->in[1], mean, invstd, c->r, k == 0 ? grad : NULL,
                                     k == 1 ? grad : NULL, k == 2 ? grad : NULL, acc));
    clg_tensor_release(mean);
    clg_tensor_release(invstd);
}

/* Batch norm in training (kind 1) or evaluation (kind 0, running statistics 0.1 and 1.5). */
static void bnorm_run(fd_case *c, int k, clg_tensor *grad, int acc) {
    int ch = clg_tensor_dim(c->y, 1), training = c->kind;
    clg_tensor *mean = new_vec(ch), *invstd = new_vec(ch), *rm = new_vec(ch), *rv = new_vec(ch);
    CHECK(clg_tensor_fill(rm, 0.1f));
    CHECK(clg_tensor_fill(rv, 1.5f));
    CHECK(clg_batch_norm_forward(c->in[0], c->in[1], c->in[2], rm, rv, training, 0.1f, 1e-5f, c->y,
                                 mean, invstd));
    if (grad)
        CHECK(clg_batch_norm_backward(c->in[0], c->in[1], mean, invstd, training, c->r,
                                      k == 0 ? grad : NULL, k == 1 ? grad : NULL,
                                      k == 2 ? grad : NULL, acc));
    clg_tensor_release(mean), clg_tensor_release(invstd);
    clg_tensor_release(rm), clg_tensor_release(rv);
}

static void bnorm_forward(fd_case *c) {
    bnorm_run(c, 0, NULL, 0);
}

/* A norm case on x [2, 3, 4, 5] with weight and bias [3]. */
static fd_case norm_case(const char *name, int batch, int training, uint64_t seed) {
    int shape[] = {2, 3, 4, 5};
    fd_case c = {name,
                 {NULL},
                 NULL,
                 NULL,
                 training,
                 1e-5f,
                 batch ? bnorm_forward : inorm_forward,
                 batch ? bnorm_run : inorm_backward};
    c.in[0] = random_tensor(4, shape, seed, -2, 3);
    c.in[1] = random_tensor(1, (int[]){3}, seed + 1, 0.5f, 1.5f);
    c.in[2] = random_tensor(1, (int[]){3}, seed + 2, -0.5f, 0.5f);
    c.y = new_like(c.in[0]);
    c.r = random_tensor(4, shape, seed + 3, -1, 1);
    return c;
}

static void check_norm_forward(fd_case *c, int batch) {
    float *x = test_download(c->in[0]), *w = test_download(c->in[1]);
    float *b = test_download(c->in[2]), *y, want[120];

    c->forward(c);
    y = test_download(c->y);
    norm_ref(x, 2, 3, 20, !batch, w, b, 1e-5f, want);
    assert_floats_close(y, want, 120, 1e-5, 1e-5, c->name);
    free(x), free(w), free(b), free(y);
}

static void test_instance_norm(void **state) {
    fd_case c = norm_case("instance_norm", 0, 1, 40);

    (void)state;
    check_norm_forward(&c, 0);
    fd_run(&c, 3);
}

static void test_batch_norm(void **state) {
    fd_case train = norm_case("batch_norm train", 1, 1, 50);
    fd_case eval = norm_case("batch_norm eval", 1, 0, 60);

    (void)state;
    check_norm_forward(&train, 1);
    fd_run(&train, 3);
    fd_run(&eval, 3);
}

/* Running statistics: momentum 0.1 towards the batch mean and the unbiased variance. */
static void test_batch_norm_running(void **state) {
    float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}, *m, *v;
    clg_tensor *t = test_tensor(4, (int[]){2, 2, 1, 2}, x), *y = new_like(t);
    clg_tensor *rm = new_vec(2), *rv = new_vec(2);

    (void)state;
    CHECK(clg_tensor_fill(rm, 1.0f));
    CHECK(clg_tensor_fill(rv, 2.0f));
    CHECK(clg_batch_norm_forward(t, NULL, NULL, rm, rv, 1, 0.1f, 1e-5f, y, NULL, NULL));
    m = test_download(rm);
    v = test_download(rv);
    /* channel 0: 1, 2, 10, 20 (mean 8.25, unbiased variance 232.75 / 3); 1: 3, 4, 30, 40 */
    assert_floats_close(m, (float[]){0.9f + 0.825f, 0.9f + 1.925f}, 2, 1e-6, 0, "running_mean");
    assert_floats_close(v, (float[]){1.8f + 23.275f / 3, 1.8f + 104.275f / 3}, 2, 1e-6, 0,
                        "running_var");
    free(m), free(v);
    clg_tensor_release(t), clg_tensor_release(y), clg_tensor_release(rm), clg_tensor_release(rv);
}

/* A constant plane normalises to zeros, and its gradients stay finite. */
static void test_instance_norm_constant(void **state) {
    float x[32], *y, *dx;
    clg_tensor *t, *out, *mean = new_vec(2), *invstd = new_vec(2), *dy, *grad;

    (void)state;
    for (int i = 0; i < 32; i++) x[i] = i < 16 ? 0.3f : (float)i;
    t = test_tensor(4, (int[]){1, 2, 4, 4}, x);
    out = new_like(t), grad = new_like(t);
    dy = random_tensor(4, (int[]){1, 2, 4, 4}, 70, -1, 1);
    CHECK(clg_instance_norm_forward(t, NULL, NULL, 1e-5f, out, mean, invstd));
    CHECK(clg_instance_norm_backward(t, NULL, mean, invstd, dy, grad, NULL, NULL, 0));
    y = test_download(out);
    dx = test_download(grad);
    for (int i = 0; i < 32; i++) assert_true(isfinite(y[i]) && isfinite(dx[i]));
    for (int i = 0; i < 16; i++) assert_true(fabsf(y[i]) < 1e-3f);
    free(y), free(dx);
    clg_tensor_release(t), clg_tensor_release(out), clg_tensor_release(mean);
    clg_tensor_release(invstd), clg_tensor_release(dy), clg_tensor_release(grad);
}

/* ---- Losses ---- */

/* kind: 0 mse, 1 mse against 0.7, 2 l1, 3 bce against 1, 4 bce against 0, 5 tv. */
static void loss_forward(fd_case *c) {
    switch (c->kind) {
    case 0:
        CHECK(clg_mse_loss(c->in[0], c->in[1], c->y));
        break;
    case 1:
        CHECK(clg_mse_loss_const(c->in[0], 0.7f, c->y));
        break;
    case 2:
        CHECK(clg_l1_loss(c->in[0], c->in[1], c->y));
        break;
    case 3:
        CHECK(clg_bce_logits_loss_const(c->in[0], 1.0f, c->y));
        break;
    case 4:
        CHECK(clg_bce_logits_loss_const(c->in[0], 0.0f, c->y));
        break;
    default:
        CHECK(clg_tv_loss(c->in[0], c->y));
        break;
    }
}

static void loss_backward(fd_case *c, int k, clg_tensor *grad, int acc) {
    clg_tensor *x = c->in[k], *t = c->in[1 - k]; /* both losses with a target are symmetric */
    clg_tensor *up = test_tensor(1, (int[]){1}, &c->param);

    switch (c->kind) {
    case 0:
        CHECK(clg_mse_loss_backward(x, t, 0, up, grad, acc));
        break;
    case 1:
        CHECK(clg_mse_loss_backward(x, NULL, 0.7f, up, grad, acc));
        break;
    case 2:
        CHECK(clg_l1_loss_backward(x, t, up, grad, acc));
        break;
    case 3:
        CHECK(clg_bce_logits_loss_backward(x, 1.0f, up, grad, acc));
        break;
    case 4:
        CHECK(clg_bce_logits_loss_backward(x, 0.0f, up, grad, acc));
        break;
    default:
        CHECK(clg_tv_loss_backward(x, up, grad, acc));
        break;
    }
    clg_tensor_release(up);
}

static double loss_ref(int kind, const float *x, const float *t, int h, int w, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - (kind == 1 ? 0.7 : t[i]), z = x[i];
        if (kind == 0 || kind == 1) sum += d * d;
        if (kind == 2) sum += fabs(d);
        if (kind == 3 || kind == 4) sum += fmax(z, 0) - z * (kind == 3) + log1p(exp(-fabs(z)));
        if (kind == 5 && (int)(i % w) + 1 < w) sum += pow(x[i + 1] - x[i], 2);
        if (kind == 5 && (int)(i / w % h) + 1 < h) sum += pow(x[i + w] - x[i], 2);
    }
    return kind == 5 ? sum : sum / n;
}

static void test_losses(void **state) {
    int shape[] = {2, 3, 5, 7};

    (void)state;
    for (int kind = 0; kind < 6; kind++) {
        fd_case c = {"loss",       {random_tensor(4, shape, 80 + kind, -3, 3)},
                     new_vec(1),   NULL,
                     kind,         1.5f,
                     loss_forward, loss_backward};
        float *x, *t;
        double want;
        c.in[1] = random_tensor(4, shape, 90 + kind, -3, 3);
        if (kind == 2) { /* keep |x - t| >= 0.1, away from l1's kink */
            CHECK(clg_sub(c.in[0], c.in[1], c.in[0]));
            away_from_zero(c.in[0], 0.1f);
            CHECK(clg_add(c.in[0], c.in[1], c.in[0]));
        }
        x = test_download(c.in[0]);
        t = test_download(c.in[1]);
        want = loss_ref(kind, x, t, 5, 7, 210);
        loss_forward(&c);
        assert_true(fabs(read_scalar(c.y) - want) <= 1e-5 * fabs(want) + 1e-6);
        free(x), free(t);
        fd_run(&c, kind == 0 || kind == 2 ? 2 : 1);
    }
}

/* Logits of +-100 and +-1e4: finite losses and gradients. */
static void test_bce_extremes(void **state) {
    float x[4] = {100, -100, 1e4f, -1e4f}, *dx;
    clg_tensor *t = test_tensor(1, (int[]){4}, x), *loss = new_vec(1), *grad = new_like(t);

    (void)state;
    CHECK(clg_bce_logits_loss_const(t, 1.0f, loss));
    assert_true(fabs(read_scalar(loss) - (100 + 1e4) / 4.0) < 1e-2);
    CHECK(clg_bce_logits_loss_backward(t, 1.0f, NULL, grad, 0));
    dx = test_download(grad);
    assert_floats_close(dx, (float[]){0, -0.25f, 0, -0.25f}, 4, 1e-6, 1e-7, "bce dx");
    free(dx);
    clg_tensor_release(t), clg_tensor_release(loss), clg_tensor_release(grad);
}

/* ---- Gram and pooling ---- */

static void gram_forward(fd_case *c) {
    CHECK(clg_gram_forward(c->in[0], c->y));
}

static void gram_backward(fd_case *c, int k, clg_tensor *grad, int acc) {
    (void)k;
    CHECK(clg_gram_backward(c->in[0], c->r, grad, acc));
}

static void test_gram(void **state) {
    int shape[] = {2, 3, 4, 5}, gshape[] = {2, 3, 3};
    fd_case c = {
        "gram",       {random_tensor(4, shape, 100, -1, 1)}, NULL, NULL, 0, 0, gram_forward,
        gram_backward};
    float *x = test_download(c.in[0]), *g, want[18];

    (void)state;
    CHECK(clg_tensor_create(test_device(), 3, gshape, &c.y));
    c.r = random_tensor(3, gshape, 101, -1, 1);
    for (int n = 0; n < 2; n++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                double sum = 0;
                for (int k = 0; k < 20; k++)
                    sum += x[(n * 3 + i) * 20 + k] * x[(n * 3 + j) * 20 + k];
                want[(n * 3 + i) * 3 + j] = (float)(sum / 60);
            }
    gram_forward(&c);
    g = test_download(c.y);
    assert_floats_close(g, want, 18, 1e-5, 1e-6, "gram forward");
    free(x), free(g);
    fd_run(&c, 1);
}

static void pool_forward(fd_case *c) {
    CHECK(c->kind ? clg_max_pool2d_forward(c->in[0], c->y)
                  : clg_avg_pool2d_forward(c->in[0], c->y));
}

static void pool_backward(fd_case *c, int k, clg_tensor *grad, int acc) {
    (void)k;
    CHECK(c->kind ? clg_max_pool2d_backward(c->in[0], c->r, grad, acc)
                  : clg_avg_pool2d_backward(c->r, grad, acc));
}

/* x [1, 2, 5, 7] holding distinct values 0.05 apart, so that FD_STEP never changes a maximum. */
static void test_pooling(void **state) {
    float x[70], want[12], *y;

    (void)state;
    for (int i = 0; i < 70; i++) x[i] = 0.05f * (float)((i * 37) % 70) - 1.5f;
    for (int is_max = 0; is_max < 2; is_max++) {
        fd_case c = {"pool",       {test_tensor(4, (int[]){1, 2, 5, 7}, x)},
                     NULL,         NULL,
                     is_max,       0,
                     pool_forward, pool_backward};
        CHECK(clg_tensor_create4(test_device(), 1, 2, 2, 3, &c.y));
        c.r = random_tensor(4, (int[]){1, 2, 2, 3}, 110, -1, 1);
        for (int i = 0; i < 12; i++) {
            const float *p = x + (i / 6) * 35 + (i / 3 % 2) * 14 + (i % 3) * 2;
            want[i] = is_max ? fmaxf(fmaxf(p[0], p[1]), fmaxf(p[7], p[8]))
                             : (p[0] + p[1] + p[7] + p[8]) / 4;
        }
        pool_forward(&c);
        y = test_download(c.y);
        assert_floats_close(y, want, 12, 1e-6, 0, is_max ? "max_pool2d" : "avg_pool2d");
        free(y);
        fd_run(&c, 1);
    }
}

/* ---- Adam ---- */

static void test_adam(void **state) {
    clg_adam_params p = {1e-2f, 0.9f, 0.99f, 1e-8f, 0.1f};
    int n = 50;
    clg_tensor *param = random_tensor(1, &n, 120, -1, 1), *grad = new_vec(n);
    clg_tensor *m = new_vec(n), *v = new_vec(n);
    float *hp = test_download(param), *got;
    double rm[50] = {0}, rv[50] = {0}, rp[50];

    (void)state;
    for (int i = 0; i < n; i++) rp[i] = hp[i];
    CHECK(clg_tensor_fill(m, 0)), CHECK(clg_tensor_fill(v, 0));
    for (int step = 1; step <= 3; step++) {
        float g[50];
        test_fill_uniform(g, 50, 130 + step, -1, 1);
        CHECK(clg_tensor_upload(grad, g, 50));
        CHECK(clg_adam_step(&p, step, param, grad, m, v));
        for (int i = 0; i < n; i++) {
            double gi = g[i] + 0.1 * rp[i];
            rm[i] = 0.9 * rm[i] + 0.1 * gi;
            rv[i] = 0.99 * rv[i] + 0.01 * gi * gi;
            rp[i] -= 1e-2 / (1 - pow(0.9, step)) * rm[i] /
                     (sqrt(rv[i]) / sqrt(1 - pow(0.99, step)) + 1e-8);
            hp[i] = (float)rp[i];
        }
    }
    got = test_download(param);
    assert_floats_close(got, hp, 50, 1e-5, 1e-6, "adam param");
    free(got), free(hp);
    clg_tensor_release(param), clg_tensor_release(grad);
    clg_tensor_release(m), clg_tensor_release(v);
}

/* ---- Errors ---- */

static void expect_shape_error(clg_status s, const char *op) {
    assert_int_equal(s, CLG_ERR_SHAPE);
    if (!strstr(clg_last_error(), op)) fail_msg("message \"%s\" lacks %s", clg_last_error(), op);
}

static void test_shape_errors(void **state) {
    clg_tensor *a = new_vec(6), *b = new_vec(5), *one = new_vec(1), *x, *y;

    (void)state;
    CHECK(clg_tensor_create4(test_device(), 1, 2, 4, 4, &x));
    CHECK(clg_tensor_create4(test_device(), 1, 2, 3, 2, &y));
    expect_shape_error(clg_add(a, b, a), "add");
    expect_shape_error(clg_sum(a, b), "sum");
    expect_shape_error(clg_mse_loss(a, b, one), "mse_loss");
    expect_shape_error(clg_max_pool2d_forward(x, y), "max_pool2d");
    expect_shape_error(clg_instance_norm_forward(x, a, a, 1e-5f, y, NULL, NULL), "instance_norm");
    expect_shape_error(clg_gram_forward(x, a), "gram");
    expect_shape_error(clg_adam_step(&(clg_adam_params){0}, 1, a, b, a, a), "adam");
    /* A NULL gradient is not computed, and not an error. */
    CHECK(clg_activation_backward(CLG_ACT_RELU, 0, a, a, a, NULL, 0));
    CHECK(clg_tv_loss_backward(x, NULL, NULL, 0));
    clg_tensor_release(a), clg_tensor_release(b), clg_tensor_release(one);
    clg_tensor_release(x), clg_tensor_release(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activations),
        cmocka_unit_test(test_activation_extremes),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_sum_mean),
        cmocka_unit_test(test_sum_mean_backward),
        cmocka_unit_test(test_instance_norm),
        cmocka_unit_test(test_instance_norm_constant),
        cmocka_unit_test(test_batch_norm),
        cmocka_unit_test(test_batch_norm_running),
        cmocka_unit_test(test_losses),
        cmocka_unit_test(test_bce_extremes),
        cmocka_unit_test(test_gram),
        cmocka_unit_test(test_pooling),
        cmocka_unit_test(test_adam),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
