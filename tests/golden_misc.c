/* Golden handlers for norms, activations, arithmetic, reductions, losses, gram, pooling, Adam. */
#include "golden_ops.h"
#include "support.h"

#include <stdio.h>
#include <string.h>

/* Tensors a handler makes itself, released together at its end. */
typedef struct scratch {
    clg_tensor *t[16];
    int count;
} scratch;

static clg_tensor *keep(scratch *s, clg_tensor *t) {
    assert_true(s->count < (int)(sizeof s->t / sizeof s->t[0]));
    s->t[s->count++] = t;
    return t;
}

static clg_tensor *like(scratch *s, const clg_tensor *ref) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create_like(ref, &t));
    return keep(s, t);
}

static clg_tensor *vec(scratch *s, int n) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_create(test_device(), 1, &n, &t));
    return keep(s, t);
}

/* A tensor of ref's shape filled with value. */
static clg_tensor *filled(scratch *s, const clg_tensor *ref, float value) {
    clg_tensor *t = like(s, ref);
    CHECK(clg_tensor_fill(t, value));
    return t;
}

static void release_all(scratch *s) {
    for (int i = 0; i < s->count; i++) clg_tensor_release(s->t[i]);
    s->count = 0;
}

static int op_is(const golden_case *c, const char *op) {
    return strcmp(golden_param(c, "op"), op) == 0;
}

/* The golden tensor name, failing the test when the case lacks it. */
static clg_tensor *need(const golden_case *c, const char *name) {
    clg_tensor *t = golden_tensor(c, name);
    if (!t) fail_msg("%s: no tensor %s", golden_name(c), name);
    return t;
}

/* ---- Normalisation ---- */

void golden_instance_norm(const golden_case *c) {
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *w = golden_tensor(c, "weight"), *b = golden_tensor(c, "bias");
    int planes = clg_tensor_dim(x, 0) * clg_tensor_dim(x, 1);
    clg_tensor *y = like(&s, x), *mean = vec(&s, planes), *invstd = vec(&s, planes);
    clg_tensor *dx = like(&s, x), *dw = w ? like(&s, w) : NULL, *db = b ? like(&s, b) : NULL;
    float eps = (float)golden_param_double(c, "eps", 1e-5);

    CHECK(clg_instance_norm_forward(x, w, b, eps, y, mean, invstd));
    golden_expect(c, "y", y);
    CHECK(clg_instance_norm_backward(x, w, mean, invstd, need(c, "dy"), dx, dw, db, 0));
    golden_expect(c, "dx", dx);
    if (w) golden_expect(c, "dweight", dw);
    if (b) golden_expect(c, "dbias", db);
    release_all(&s);
}

void golden_batch_norm(const golden_case *c) {
    scratch s = {0};
    int training = golden_param_int(c, "training", 1);
    clg_tensor *x = need(c, "x"), *w = need(c, "weight"), *b = need(c, "bias");
    clg_tensor *rm = need(c, training ? "running_mean_before" : "running_mean");
    clg_tensor *rv = need(c, training ? "running_var_before" : "running_var");
    clg_tensor *y = like(&s, x), *mean = like(&s, w), *invstd = like(&s, w);
    clg_tensor *dx = like(&s, x), *dw = like(&s, w), *db = like(&s, b);
    float momentum = (float)golden_param_double(c, "momentum", 0.1);
    float eps = (float)golden_param_double(c, "eps", 1e-5);

    CHECK(clg_batch_norm_forward(x, w, b, rm, rv, training, momentum, eps, y, mean, invstd));
    golden_expect(c, "y", y);
    if (training) {
        golden_expect(c, "running_mean_after", rm);
        golden_expect(c, "running_var_after", rv);
    }
    CHECK(clg_batch_norm_backward(x, w, mean, invstd, training, need(c, "dy"), dx, dw, db, 0));
    golden_expect(c, "dx", dx);
    golden_expect(c, "dweight", dw);
    golden_expect(c, "dbias", db);
    release_all(&s);
}

/* ---- Activations and arithmetic ---- */

void golden_activation(const golden_case *c) {
    static const struct {
        const char *op;
        clg_activation act;
    } kinds[] = {{"relu", CLG_ACT_RELU},
                 {"leaky_relu", CLG_ACT_LEAKY_RELU},
                 {"tanh", CLG_ACT_TANH},
                 {"sigmoid", CLG_ACT_SIGMOID}};
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *y = like(&s, x), *dx = like(&s, x);
    float slope = (float)golden_param_double(c, "negative_slope", 0.0);
    size_t k = 0;

    while (k < sizeof kinds / sizeof kinds[0] && !op_is(c, kinds[k].op)) k++;
    if (k == sizeof kinds / sizeof kinds[0]) fail_msg("%s: unknown activation", golden_name(c));
    CHECK(clg_activation_forward(kinds[k].act, slope, x, y));
    golden_expect(c, "y", y);
    CHECK(clg_activation_backward(kinds[k].act, slope, x, y, need(c, "dy"), dx, 0));
    golden_expect(c, "dx", dx);
    release_all(&s);
}

/* add, sub, mul (da, db from dy) and scale (dx = alpha dy). */
void golden_eltwise(const golden_case *c) {
    scratch s = {0};
    clg_tensor *dy = need(c, "dy"), *y = like(&s, dy), *da = like(&s, dy), *db = like(&s, dy);
    float alpha = (float)golden_param_double(c, "alpha", 1.0);
    clg_tensor *a, *b;

    if (op_is(c, "scale")) {
        CHECK(clg_scale(need(c, "x"), alpha, y));
        CHECK(clg_scale(dy, alpha, da));
        golden_expect(c, "y", y);
        golden_expect(c, "dx", da);
        release_all(&s);
        return;
    }
    a = need(c, "a");
    b = need(c, "b");
    if (op_is(c, "add")) {
        CHECK(clg_add(a, b, y));
        CHECK(clg_tensor_copy(da, dy));
        CHECK(clg_tensor_copy(db, dy));
    } else if (op_is(c, "sub")) {
        CHECK(clg_sub(a, b, y));
        CHECK(clg_tensor_copy(da, dy));
        CHECK(clg_scale(dy, -1.0f, db));
    } else {
        CHECK(clg_mul(a, b, y));
        CHECK(clg_mul(dy, b, da));
        CHECK(clg_mul(dy, a, db));
    }
    golden_expect(c, "y", y);
    golden_expect(c, "da", da);
    golden_expect(c, "db", db);
    release_all(&s);
}

/* sum and mean into [1]; their gradient is dy (over n for the mean) everywhere. */
void golden_reduce(const golden_case *c) {
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *y = vec(&s, 1);
    const float *dy = golden_host(c, "dy", NULL);
    int mean = op_is(c, "mean");
    double n = (double)clg_tensor_numel(x);

    CHECK(mean ? clg_mean(x, y) : clg_sum(x, y));
    golden_expect(c, "y", y);
    assert_non_null(dy);
    golden_expect(c, "dx", filled(&s, x, (float)(mean ? dy[0] / n : dy[0])));
    release_all(&s);
}

/* ---- Losses ---- */

void golden_loss(const golden_case *c) {
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *t = golden_tensor(c, "target");
    clg_tensor *loss = vec(&s, 1), *dx = like(&s, x), *dt = t ? like(&s, t) : NULL;
    clg_tensor *dloss = vec(&s, 1);
    float label = (float)golden_param_double(c, "target", 0.0);

    CHECK(clg_tensor_fill(dloss, (float)golden_param_double(c, "upstream", 1.0)));
    if (op_is(c, "mse_loss")) {
        CHECK(clg_mse_loss(x, t, loss));
        CHECK(clg_mse_loss_backward(x, t, 0.0f, dloss, dx, 0));
        CHECK(clg_mse_loss_backward(t, x, 0.0f, dloss, dt, 0)); /* symmetric in x and t */
    } else if (op_is(c, "mse_loss_const")) {
        CHECK(clg_mse_loss_const(x, label, loss));
        CHECK(clg_mse_loss_backward(x, NULL, label, dloss, dx, 0));
    } else if (op_is(c, "l1_loss")) {
        CHECK(clg_l1_loss(x, t, loss));
        CHECK(clg_l1_loss_backward(x, t, dloss, dx, 0));
        CHECK(clg_l1_loss_backward(t, x, dloss, dt, 0));
    } else if (op_is(c, "bce_with_logits_const")) {
        CHECK(clg_bce_logits_loss_const(x, label, loss));
        CHECK(clg_bce_logits_loss_backward(x, label, dloss, dx, 0));
    } else {
        CHECK(clg_tv_loss(x, loss));
        CHECK(clg_tv_loss_backward(x, dloss, dx, 0));
    }
    golden_expect(c, "loss", loss);
    golden_expect(c, "dx", dx);
    if (t) golden_expect(c, "dtarget", dt);
    release_all(&s);
}

/* ---- Gram, pooling ---- */

void golden_gram(const golden_case *c) {
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *dy = need(c, "dy"), *y = like(&s, dy), *dx = like(&s, x);

    CHECK(clg_gram_forward(x, y));
    golden_expect(c, "y", y);
    CHECK(clg_gram_backward(x, dy, dx, 0));
    golden_expect(c, "dx", dx);
    release_all(&s);
}

void golden_pool(const golden_case *c) {
    scratch s = {0};
    clg_tensor *x = need(c, "x"), *dy = need(c, "dy"), *y = like(&s, dy), *dx = like(&s, x);
    int is_max = op_is(c, "max_pool2d");

    CHECK(is_max ? clg_max_pool2d_forward(x, y) : clg_avg_pool2d_forward(x, y));
    golden_expect(c, "y", y);
    CHECK(is_max ? clg_max_pool2d_backward(x, dy, dx, 0) : clg_avg_pool2d_backward(dy, dx, 0));
    golden_expect(c, "dx", dx);
    release_all(&s);
}

/* ---- Adam: several steps from param0, checking param and both moments after each ---- */

void golden_adam(const golden_case *c) {
    scratch s = {0};
    clg_adam_params p = {
        (float)golden_param_double(c, "lr", 1e-3), (float)golden_param_double(c, "beta1", 0.9),
        (float)golden_param_double(c, "beta2", 0.999), (float)golden_param_double(c, "eps", 1e-8),
        (float)golden_param_double(c, "weight_decay", 0.0)};
    clg_tensor *param = need(c, "param0");
    clg_tensor *m = filled(&s, param, 0.0f), *v = filled(&s, param, 0.0f);
    int steps = golden_param_int(c, "steps", 0);
    char name[64];

    assert_true(steps > 0);
    for (int i = 1; i <= steps; i++) {
        snprintf(name, sizeof name, "step%d.grad", i);
        CHECK(clg_adam_step(&p, i, param, need(c, name), m, v));
        snprintf(name, sizeof name, "step%d.param", i);
        golden_expect(c, name, param);
        snprintf(name, sizeof name, "step%d.exp_avg", i);
        golden_expect(c, name, m);
        snprintf(name, sizeof name, "step%d.exp_avg_sq", i);
        golden_expect(c, name, v);
    }
    release_all(&s);
}
