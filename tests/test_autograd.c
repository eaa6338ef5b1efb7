/* Autograd: gradients on small graphs, reuse, accumulation, freezing, zeroing, memory. */
#include "support.h"

#include "clgan/autograd.h"
#include "clgan/nn.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static clg_var *var_of(int ndim, const int *shape, const float *data, int requires_grad) {
    clg_var *v = NULL;
    CHECK(clg_var_from_host(test_device(), ndim, shape, data, requires_grad, &v));
    return v;
}

static clg_var *random_var(int ndim, const int *shape, uint64_t seed, int requires_grad) {
    size_t n = 1;
    float *data;
    clg_var *v;

    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    data = malloc(n * sizeof *data);
    assert_non_null(data);
    test_fill_uniform(data, n, seed, -1.0f, 1.0f);
    v = var_of(ndim, shape, data, requires_grad);
    free(data);
    return v;
}

/* sum(y * r) for a fixed random r: a loss whose gradient w.r.t. y is r. */
static clg_var *dot_loss(clg_tape *tape, clg_var *y, uint64_t seed) {
    const clg_tensor *t = clg_var_value(y);
    clg_var *r = random_var(clg_tensor_ndim(t), clg_tensor_shape(t), seed, 0), *p, *loss;

    CHECK(clg_ag_mul(tape, y, r, &p));
    CHECK(clg_ag_sum(tape, p, &loss));
    clg_var_release(r);
    clg_var_release(p);
    return loss;
}

/* A small conv module with random weights. */
static clg_module *small_conv(void) {
    clg_module *m;
    CHECK(clg_conv2d_create(test_device(), 2, 3, 3, 1, 1, 1, &m));
    CHECK(clg_module_init_weights(m, CLG_INIT_NORMAL, 0.5f, 7));
    CHECK(clg_tensor_fill(clg_var_value(clg_module_find_param(m, "bias")), 0.1f));
    return m;
}

/* The weight gradient of sum(conv(x) * r) for one input. */
static float *conv_weight_grad(clg_module *m, clg_var *x, uint64_t seed) {
    clg_tape *tape;
    clg_var *y, *loss;
    float *g;

    CHECK(clg_tape_create(&tape));
    clg_module_zero_grad(m);
    CHECK(clg_module_forward(m, tape, x, &y));
    loss = dot_loss(tape, y, seed);
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    g = test_download(clg_var_grad(clg_module_find_param(m, "weight")));
    clg_var_release(y);
    clg_var_release(loss);
    clg_tape_release(tape);
    return g;
}

static void test_module_used_twice_sums_gradients(void **state) {
    int shape[4] = {1, 2, 5, 4};
    clg_module *m = small_conv();
    clg_var *x1 = random_var(4, shape, 1, 0), *x2 = random_var(4, shape, 2, 0);
    clg_var *y1, *y2, *l1, *l2, *loss;
    clg_tape *tape;
    float *g1, *g2, *both, want[54];
    (void)state;

    g1 = conv_weight_grad(m, x1, 11);
    g2 = conv_weight_grad(m, x2, 12);

    CHECK(clg_tape_create(&tape));
    clg_module_zero_grad(m);
    CHECK(clg_module_forward(m, tape, x1, &y1));
    CHECK(clg_module_forward(m, tape, x2, &y2));
    l1 = dot_loss(tape, y1, 11);
    l2 = dot_loss(tape, y2, 12);
    CHECK(clg_ag_add(tape, l1, l2, &loss));
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    assert_int_equal(clg_tape_node_count(tape), 0);
    both = test_download(clg_var_grad(clg_module_find_param(m, "weight")));
    for (int i = 0; i < 54; i++) want[i] = g1[i] + g2[i];
    assert_floats_close(both, want, 54, 1e-5, 1e-6, "two uses");

    free(g1);
    free(g2);
    free(both);
    clg_var_release(y1);
    clg_var_release(y2);
    clg_var_release(l1);
    clg_var_release(l2);
    clg_var_release(loss);
    clg_var_release(x1);
    clg_var_release(x2);
    clg_tape_release(tape);
    clg_module_release(m);
}

static void test_gradients_accumulate_until_zeroed(void **state) {
    clg_module *m = small_conv();
    clg_var *x = random_var(4, (int[]){1, 2, 4, 4}, 3, 0);
    clg_var *w = clg_module_find_param(m, "weight");
    clg_var *y, *loss;
    clg_tape *tape;
    float *once, *twice, want[54];
    (void)state;

    once = conv_weight_grad(m, x, 5); /* zeroes first */
    CHECK(clg_tape_create(&tape));
    CHECK(clg_module_forward(m, tape, x, &y));
    loss = dot_loss(tape, y, 5);
    CHECK(clg_tape_backward(tape, loss, 2.0f)); /* scale 2 on top of the first: 3x */
    twice = test_download(clg_var_grad(w));
    for (int i = 0; i < 54; i++) want[i] = 3.0f * once[i];
    assert_floats_close(twice, want, 54, 1e-5, 1e-6, "accumulated");

    clg_module_zero_grad(m);
    assert_null(clg_var_grad(w));
    assert_null(clg_var_grad(clg_module_find_param(m, "bias")));

    free(once);
    free(twice);
    clg_var_release(y);
    clg_var_release(loss);
    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(m);
}

static void test_freeze_stops_gradients_at_once(void **state) {
    clg_module *m = small_conv();
    clg_var *x = random_var(4, (int[]){1, 2, 4, 4}, 4, 1), *y, *loss;
    clg_tape *tape;
    (void)state;

    /* Recorded while trainable, frozen before backward: no parameter gradient, dx still flows. */
    CHECK(clg_tape_create(&tape));
    CHECK(clg_module_forward(m, tape, x, &y));
    loss = dot_loss(tape, y, 6);
    clg_module_set_requires_grad(m, 0);
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    assert_null(clg_var_grad(clg_module_find_param(m, "weight")));
    assert_null(clg_var_grad(clg_module_find_param(m, "bias")));
    assert_non_null(clg_var_grad(x));
    clg_var_release(y);
    clg_var_release(loss);

    /* Frozen module on an input that needs no gradient: nothing is recorded. */
    CHECK(clg_var_set_requires_grad(x, 0));
    CHECK(clg_module_forward(m, tape, x, &y));
    assert_int_equal(clg_tape_node_count(tape), 0);
    assert_false(clg_var_requires_grad(y));
    clg_var_release(y);

    /* Unfrozen: recorded again. */
    clg_module_set_requires_grad(m, 1);
    CHECK(clg_module_forward(m, tape, x, &y));
    assert_int_equal(clg_tape_node_count(tape), 1);
    assert_true(clg_var_requires_grad(y));
    assert_int_equal(clg_var_set_requires_grad(y, 0), CLG_ERR_INVALID_ARGUMENT);
    clg_tape_reset(tape);
    assert_false(clg_var_requires_grad(y)); /* its history is gone */

    clg_var_release(y);
    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(m);
}

/* d/dx of sum(x*x - 3x) = 2x - 3 and of mean over a chain through scale and sub. */
static void test_elementwise_chain(void **state) {
    float xs[6] = {-1.5f, -0.5f, 0.0f, 0.25f, 1.0f, 2.0f}, *g, want[6];
    clg_var *x = var_of(1, (int[]){6}, xs, 1), *sq, *x3, *d, *loss;
    clg_tape *tape;
    (void)state;

    CHECK(clg_tape_create(&tape));
    CHECK(clg_ag_mul(tape, x, x, &sq));
    CHECK(clg_ag_scale(tape, x, 3.0f, &x3));
    CHECK(clg_ag_sub(tape, sq, x3, &d));
    CHECK(clg_ag_mean(tape, d, &loss));
    CHECK(clg_tape_backward(tape, loss, 6.0f));
    g = test_download(clg_var_grad(x));
    for (int i = 0; i < 6; i++) want[i] = 2.0f * xs[i] - 3.0f;
    assert_floats_close(g, want, 6, 1e-6, 1e-6, "d(x*x - 3x)");

    free(g);
    clg_var_release(sq);
    clg_var_release(x3);
    clg_var_release(d);
    clg_var_release(loss);
    clg_var_release(x);
    clg_tape_release(tape);
}

/* A deeper graph against central differences on a few inputs. */
static double chain_loss(clg_module *net, clg_var *x, clg_tape *tape, clg_var **loss_out) {
    clg_var *y, *loss;
    float value;

    CHECK(clg_module_forward(net, tape, x, &y));
    loss = dot_loss(tape, y, 21);
    CHECK(clg_tensor_download(clg_var_value(loss), &value, 1));
    clg_var_release(y);
    if (loss_out)
        *loss_out = loss;
    else
        clg_var_release(loss);
    return value;
}

static clg_module *small_net(void) {
    clg_module *seq, *m;
    CHECK(clg_sequential_create(&seq));
    CHECK(clg_reflection_pad2d_create(1, &m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_conv2d_create(test_device(), 2, 4, 3, 1, 0, 1, &m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_instance_norm2d_create(test_device(), 4, 1, &m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_leaky_relu_create(0.2f, &m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_conv_transpose2d_create(test_device(), 4, 2, 3, 2, 1, 1, 1, &m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_tanh_create(&m));
    CHECK(clg_sequential_append(seq, m));
    CHECK(clg_module_init_weights(seq, CLG_INIT_NORMAL, 0.3f, 9));
    return seq;
}

static void test_chain_matches_finite_differences(void **state) {
    int shape[4] = {1, 2, 5, 6};
    float host[60], *g;
    clg_module *net = small_net();
    clg_var *x = random_var(4, shape, 8, 1), *loss;
    clg_tape *tape;
    (void)state;

    CHECK(clg_tape_create(&tape));
    chain_loss(net, x, tape, &loss);
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    clg_var_release(loss);
    g = test_download(clg_var_grad(x));
    CHECK(clg_tensor_download(clg_var_value(x), host, 60));

    for (int i = 0; i < 60; i += 7) {
        const float h = 1e-2f, keep = host[i];
        double up, down, fd;
        host[i] = keep + h;
        CHECK(clg_tensor_upload(clg_var_value(x), host, 60));
        up = chain_loss(net, x, NULL, NULL);
        host[i] = keep - h;
        CHECK(clg_tensor_upload(clg_var_value(x), host, 60));
        down = chain_loss(net, x, NULL, NULL);
        host[i] = keep;
        fd = (up - down) / (2.0 * h);
        if (fabs(fd - g[i]) > 2e-3 + 2e-2 * fabs(fd))
            fail_msg("dx[%d] = %g, finite differences %g", i, g[i], fd);
    }
    free(g);
    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(net);
}

static void test_memory_released(void **state) {
    clg_device *dev = test_device();
    clg_module *net = small_net();
    clg_var *x = random_var(4, (int[]){1, 2, 8, 8}, 10, 0), *y, *loss;
    clg_tape *tape;
    uint64_t before, with_grads;
    (void)state;

    CHECK(clg_tape_create(&tape));
    chain_loss(net, x, tape, &loss); /* warm: parameter gradients get allocated */
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    clg_var_release(loss);
    with_grads = clg_device_bytes_live(dev);

    chain_loss(net, x, tape, &loss);
    assert_true(clg_tape_node_count(tape) > 0);
    assert_true(clg_device_bytes_live(dev) > with_grads); /* saved intermediates */
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    clg_var_release(loss);
    assert_int_equal(clg_device_bytes_live(dev), with_grads);

    /* Evaluation without a tape keeps nothing but the output. */
    before = clg_device_bytes_live(dev);
    CHECK(clg_module_forward(net, NULL, x, &y));
    assert_false(clg_var_requires_grad(y));
    assert_int_equal(clg_device_bytes_live(dev), before + 2 * 16 * 16 * sizeof(float));
    clg_var_release(y);
    assert_int_equal(clg_device_bytes_live(dev), before);

    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(net);
}

static void test_backward_errors(void **state) {
    clg_var *x = random_var(1, (int[]){4}, 12, 0), *s;
    clg_tape *tape;
    (void)state;

    CHECK(clg_tape_create(&tape));
    CHECK(clg_ag_sum(tape, x, &s));
    assert_int_equal(clg_tape_node_count(tape), 0);
    assert_int_equal(clg_tape_backward(tape, s, 1.0f), CLG_ERR_INVALID_ARGUMENT);
    CHECK(clg_var_set_requires_grad(x, 1));
    assert_int_equal(clg_tape_backward(tape, x, 1.0f), CLG_ERR_SHAPE);
    clg_var_release(s);
    clg_var_release(x);
    clg_tape_release(tape);
}

static void test_dropout_train_and_eval(void **state) {
    enum { N = 4096 };
    float *ones = malloc(N * sizeof *ones), *a, *b, *g;
    clg_module *d1, *d2;
    clg_var *x, *y1, *y2, *loss;
    clg_tape *tape;
    int zeros = 0;
    (void)state;

    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    x = var_of(4, (int[]){1, 4, 32, 32}, ones, 1);
    CHECK(clg_dropout_create(0.5f, 42, &d1));
    CHECK(clg_dropout_create(0.5f, 42, &d2));
    CHECK(clg_tape_create(&tape));
    CHECK(clg_module_forward(d1, tape, x, &y1));
    CHECK(clg_module_forward(d2, NULL, x, &y2));
    a = test_download(clg_var_value(y1));
    b = test_download(clg_var_value(y2));
    assert_memory_equal(a, b, N * sizeof *a); /* same seed, same mask */
    for (int i = 0; i < N; i++) {
        assert_true(a[i] == 0.0f || a[i] == 2.0f);
        zeros += a[i] == 0.0f;
    }
    assert_true(zeros > N * 0.45 && zeros < N * 0.55);

    CHECK(clg_ag_sum(tape, y1, &loss));
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    g = test_download(clg_var_grad(x));
    assert_memory_equal(g, a, N * sizeof *g); /* the mask itself */

    clg_var_release(y2);
    clg_module_set_training(d2, 0);
    CHECK(clg_module_forward(d2, NULL, x, &y2));
    assert_ptr_equal(y2, x); /* identity in evaluation */

    free(ones);
    free(a);
    free(b);
    free(g);
    clg_var_release(loss);
    clg_var_release(y1);
    clg_var_release(y2);
    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(d1);
    clg_module_release(d2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_used_twice_sums_gradients),
        cmocka_unit_test(test_gradients_accumulate_until_zeroed),
        cmocka_unit_test(test_freeze_stops_gradients_at_once),
        cmocka_unit_test(test_elementwise_chain),
        cmocka_unit_test(test_chain_matches_finite_differences),
        cmocka_unit_test(test_memory_released),
        cmocka_unit_test(test_backward_errors),
        cmocka_unit_test(test_dropout_train_and_eval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
