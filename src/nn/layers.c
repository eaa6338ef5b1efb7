/* The layers: convolutions, normalisation, activations, padding, dropout, pooling, ResnetBlock. */
#include "nn/internal.h"

#include <stdio.h>

static clg_var *param_or_null(const clg_module *m, int i) {
    return i < m->n_params ? m->params[i] : NULL;
}

/* Build a module of class cls; on failure it is released and *out is NULL. */
static clg_status finish(clg_module *m, clg_status s, clg_module **out) {
    if (s != CLG_OK) {
        clg_module_release(m);
        m = NULL;
    }
    *out = m;
    return s;
}

static clg_status check_positive(const char *what, int value) {
    if (value > 0) return CLG_OK;
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s must be positive, got %d", what, value);
}

/* ---- Convolutions ---- */

static clg_status conv2d_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    return clg_ag_conv2d(tape, x, m->params[0], param_or_null(m, 1), &m->cfg.conv, out);
}

static clg_status convt_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    return clg_ag_conv_transpose2d(tape, x, m->params[0], param_or_null(m, 1), &m->cfg.convt, out);
}

const clgi_module_class clgi_conv2d_class = {"Conv2d", conv2d_forward};
const clgi_module_class clgi_conv_transpose2d_class = {"ConvTranspose2d", convt_forward};

/* weight of shape [a, b, k, k] and, with bias, a bias of n. */
static clg_status conv_params(clg_module *m, clg_device *device, int a, int b, int k, int bias,
                              int n) {
    clg_status s = clgi_module_add_param(m, device, "weight", 4, (int[4]){a, b, k, k}, 0.0f);

    if (s == CLG_OK && bias) s = clgi_module_add_param(m, device, "bias", 1, &n, 0.0f);
    return s;
}

static clg_status check_conv(int in_channels, int out_channels, int kernel, int stride,
                             int padding) {
    clg_status s = check_positive("in_channels", in_channels);

    if (s == CLG_OK) s = check_positive("out_channels", out_channels);
    if (s == CLG_OK) s = check_positive("kernel", kernel);
    if (s == CLG_OK) s = check_positive("stride", stride);
    if (s == CLG_OK && padding < 0)
        s = clg_error(CLG_ERR_INVALID_ARGUMENT, "padding %d is negative", padding);
    return s;
}

clg_status clg_conv2d_create(clg_device *device, int in_channels, int out_channels, int kernel,
                             int stride, int padding, int bias, clg_module **out) {
    clg_module *m = NULL;
    clg_status s = check_conv(in_channels, out_channels, kernel, stride, padding);

    if (s == CLG_OK) s = clgi_module_new(&clgi_conv2d_class, &m);
    if (s == CLG_OK) {
        m->cfg.conv = (clg_conv2d_params){stride, padding, CLG_PAD_ZEROS};
        s = conv_params(m, device, out_channels, in_channels, kernel, bias, out_channels);
    }
    return finish(m, s, out);
}

clg_status clg_conv_transpose2d_create(clg_device *device, int in_channels, int out_channels,
                                       int kernel, int stride, int padding, int output_padding,
                                       int bias, clg_module **out) {
    clg_module *m = NULL;
    clg_status s = check_conv(in_channels, out_channels, kernel, stride, padding);

    if (s == CLG_OK && (output_padding < 0 || output_padding >= stride))
        s = clg_error(CLG_ERR_INVALID_ARGUMENT, "output_padding %d must be in [0, stride %d)",
                      output_padding, stride);
    if (s == CLG_OK) s = clgi_module_new(&clgi_conv_transpose2d_class, &m);
    if (s == CLG_OK) {
        m->cfg.convt = (clg_conv_transpose2d_params){stride, padding, output_padding};
        s = conv_params(m, device, in_channels, out_channels, kernel, bias, out_channels);
    }
    return finish(m, s, out);
}

/* ---- Normalisation ---- */

#define NORM_EPS      1e-5f
#define NORM_MOMENTUM 0.1f

static clg_status instance_norm_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    return clg_ag_instance_norm(tape, x, param_or_null(m, 0), param_or_null(m, 1), m->cfg.norm.eps,
                                out);
}

static clg_status batch_norm_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    clg_status s =
        clg_ag_batch_norm(tape, x, m->params[0], m->params[1], m->buffers[0], m->buffers[1],
                          m->training, m->cfg.norm.momentum, m->cfg.norm.eps, out);

    if (s == CLG_OK && m->training) m->num_batches_tracked++;
    return s;
}

const clgi_module_class clgi_instance_norm2d_class = {"InstanceNorm2d", instance_norm_forward};
const clgi_module_class clgi_batch_norm2d_class = {"BatchNorm2d", batch_norm_forward};

clg_status clg_instance_norm2d_create(clg_device *device, int channels, int affine,
                                      clg_module **out) {
    clg_module *m = NULL;
    clg_status s = check_positive("channels", channels);

    if (s == CLG_OK) s = clgi_module_new(&clgi_instance_norm2d_class, &m);
    if (s == CLG_OK) {
        m->cfg.norm.eps = NORM_EPS;
        m->cfg.norm.momentum = NORM_MOMENTUM;
        if (affine) s = clgi_module_add_param(m, device, "weight", 1, &channels, 1.0f);
        if (s == CLG_OK && affine) s = clgi_module_add_param(m, device, "bias", 1, &channels, 0.0f);
    }
    return finish(m, s, out);
}

clg_status clg_batch_norm2d_create(clg_device *device, int channels, clg_module **out) {
    clg_module *m = NULL;
    clg_status s = check_positive("channels", channels);

    if (s == CLG_OK) s = clgi_module_new(&clgi_batch_norm2d_class, &m);
    if (s != CLG_OK) return finish(m, s, out);
    m->cfg.norm.eps = NORM_EPS;
    m->cfg.norm.momentum = NORM_MOMENTUM;
    m->has_counter = 1;
    s = clgi_module_add_param(m, device, "weight", 1, &channels, 1.0f);
    if (s == CLG_OK) s = clgi_module_add_param(m, device, "bias", 1, &channels, 0.0f);
    if (s == CLG_OK) s = clgi_module_add_buffer(m, device, "running_mean", 1, &channels, 0.0f);
    if (s == CLG_OK) s = clgi_module_add_buffer(m, device, "running_var", 1, &channels, 1.0f);
    return finish(m, s, out);
}

/* ---- Parameterless layers ---- */

static clg_status relu_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    (void)m;
    return clg_ag_activation(tape, CLG_ACT_RELU, 0.0f, x, out);
}

static clg_status leaky_relu_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    return clg_ag_activation(tape, CLG_ACT_LEAKY_RELU, m->cfg.slope, x, out);
}

static clg_status tanh_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    (void)m;
    return clg_ag_activation(tape, CLG_ACT_TANH, 0.0f, x, out);
}

static clg_status identity_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    (void)m;
    (void)tape;
    *out = clg_var_retain(x);
    return CLG_OK;
}

static clg_status pad_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    return clg_ag_pad2d(tape, x, m->cfg.pad, CLG_PAD_REFLECT, out);
}

static clg_status dropout_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    if (!m->training || m->cfg.dropout.p == 0.0f) return identity_forward(m, tape, x, out);
    return clg_ag_dropout(tape, x, m->cfg.dropout.p, &m->cfg.dropout.rng, out);
}

static clg_status max_pool_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    (void)m;
    return clg_ag_max_pool2d(tape, x, out);
}

static clg_status avg_pool_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    (void)m;
    return clg_ag_avg_pool2d(tape, x, out);
}

static const clgi_module_class relu_class = {"ReLU", relu_forward};
static const clgi_module_class leaky_relu_class = {"LeakyReLU", leaky_relu_forward};
static const clgi_module_class tanh_class = {"Tanh", tanh_forward};
static const clgi_module_class identity_class = {"Identity", identity_forward};
static const clgi_module_class pad_class = {"ReflectionPad2d", pad_forward};
static const clgi_module_class dropout_class = {"Dropout", dropout_forward};
static const clgi_module_class max_pool_class = {"MaxPool2d", max_pool_forward};
static const clgi_module_class avg_pool_class = {"AvgPool2d", avg_pool_forward};

clg_status clg_relu_create(clg_module **out) {
    return clgi_module_new(&relu_class, out);
}

clg_status clg_leaky_relu_create(float slope, clg_module **out) {
    clg_status s = clgi_module_new(&leaky_relu_class, out);
    if (s == CLG_OK) (*out)->cfg.slope = slope;
    return s;
}

clg_status clg_tanh_create(clg_module **out) {
    return clgi_module_new(&tanh_class, out);
}

clg_status clg_identity_create(clg_module **out) {
    return clgi_module_new(&identity_class, out);
}

clg_status clg_reflection_pad2d_create(int pad, clg_module **out) {
    clg_status s;

    if (pad < 0) return clg_error(CLG_ERR_INVALID_ARGUMENT, "padding %d is negative", pad);
    s = clgi_module_new(&pad_class, out);
    if (s == CLG_OK) (*out)->cfg.pad = pad;
    return s;
}

clg_status clg_dropout_create(float p, uint64_t seed, clg_module **out) {
    clg_status s;

    if (!(p >= 0.0f && p < 1.0f))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "dropout probability %g is not in [0, 1)",
                         (double)p);
    s = clgi_module_new(&dropout_class, out);
    if (s != CLG_OK) return s;
    (*out)->cfg.dropout.p = p;
    clg_rng_seed(&(*out)->cfg.dropout.rng, seed);
    return CLG_OK;
}

clg_status clg_max_pool2d_create(clg_module **out) {
    return clgi_module_new(&max_pool_class, out);
}

clg_status clg_avg_pool2d_create(clg_module **out) {
    return clgi_module_new(&avg_pool_class, out);
}

/* ---- ResnetBlock: x + conv_block(x) ---- */

static clg_status resnet_block_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    clg_var *h = NULL;
    clg_status s = clg_module_forward(m->children[0], tape, x, &h);

    if (s == CLG_OK) s = clg_ag_add(tape, x, h, out);
    clg_var_release(h);
    return s;
}

static const clgi_module_class resnet_block_class = {"ResnetBlock", resnet_block_forward};

/* A norm layer for dim channels: the reference's get_norm_layer (none is Identity). */
static clg_status norm_layer(clg_device *device, clg_norm_type norm, int dim, clg_module **out) {
    switch (norm) {
    case CLG_NORM_INSTANCE:
        return clg_instance_norm2d_create(device, dim, 0, out);
    case CLG_NORM_BATCH:
        return clg_batch_norm2d_create(device, dim, out);
    case CLG_NORM_NONE:
        return clg_identity_create(out);
    }
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown norm type %d", (int)norm);
}

/* Append [pad,] conv 3x3, norm to the conv block. */
static clg_status block_conv(clg_module *seq, clg_device *device, int dim, clg_norm_type norm,
                             int use_bias, int reflect) {
    clg_module *m = NULL;
    clg_status s = CLG_OK;

    if (reflect) s = clg_reflection_pad2d_create(1, &m);
    if (s == CLG_OK && reflect) s = clg_sequential_append(seq, m);
    if (s == CLG_OK) s = clg_conv2d_create(device, dim, dim, 3, 1, reflect ? 0 : 1, use_bias, &m);
    if (s == CLG_OK) s = clg_sequential_append(seq, m);
    if (s == CLG_OK) s = norm_layer(device, norm, dim, &m);
    if (s == CLG_OK) s = clg_sequential_append(seq, m);
    return s;
}

static clg_status block_middle(clg_module *seq, int use_dropout, uint64_t seed) {
    clg_module *m = NULL;
    clg_status s = clg_relu_create(&m);

    if (s == CLG_OK) s = clg_sequential_append(seq, m);
    if (s == CLG_OK && use_dropout) s = clg_dropout_create(0.5f, seed, &m);
    if (s == CLG_OK && use_dropout) s = clg_sequential_append(seq, m);
    return s;
}

clg_status clg_resnet_block_create(clg_device *device, int dim, clg_norm_type norm, int use_dropout,
                                   int use_bias, int reflect, uint64_t seed, clg_module **out) {
    clg_module *m = NULL, *seq = NULL;
    clg_status s = check_positive("dim", dim);

    if (s == CLG_OK) s = clgi_module_new(&resnet_block_class, &m);
    if (s == CLG_OK) s = clg_sequential_create(&seq);
    if (s == CLG_OK) s = clg_sequential_append_named(m, "conv_block", seq);
    if (s == CLG_OK) s = block_conv(seq, device, dim, norm, use_bias, reflect);
    if (s == CLG_OK) s = block_middle(seq, use_dropout, seed);
    if (s == CLG_OK) s = block_conv(seq, device, dim, norm, use_bias, reflect);
    return finish(m, s, out);
}
