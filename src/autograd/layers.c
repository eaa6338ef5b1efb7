/* Recorded layer operations: convolutions, padding, normalisation, activations, pooling. */
#include "autograd/internal.h"

#include <stdlib.h>

static clg_tensor *value_or_null(const clg_var *v) {
    return v ? v->value : NULL;
}

static clg_tensor *out_grad(const clgi_node *node) {
    return node->out->grad;
}

static clg_status new_tensor(const clg_var *like, const int shape[4], clg_tensor **out) {
    return clg_tensor_create(clg_tensor_device(like->value), 4, shape, out);
}

/* ---- Convolution ---- */

static clg_status conv2d_backward(clgi_node *node) {
    clg_tensor *g[3];
    int acc;
    clg_status s = clgi_ag_grad_slots(node->in, 3, g, &acc);

    if (s != CLG_OK) return s;
    if (!g[0] && !g[1] && !g[2]) return CLG_OK;
    return clg_conv2d_backward(node->in[0]->value, node->in[1]->value, out_grad(node),
                               &node->args.conv, g[0], g[1], g[2], acc);
}

clg_status clg_ag_conv2d(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                         const clg_conv2d_params *p, clg_var **out) {
    clg_var *in[3] = {x, weight, bias};
    clgi_node_args args = {.conv = *p};
    clg_tensor *y = NULL;
    int shape[4];
    clg_status s = clg_conv2d_output_shape(x->value, weight->value, p, shape);

    if (s == CLG_OK) s = new_tensor(x, shape, &y);
    if (s == CLG_OK) s = clg_conv2d_forward(x->value, weight->value, value_or_null(bias), p, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, conv2d_backward, in, 3, NULL, 0, &args, out);
}

static clg_status convt_backward(clgi_node *node) {
    clg_tensor *g[3];
    int acc;
    clg_status s = clgi_ag_grad_slots(node->in, 3, g, &acc);

    if (s != CLG_OK) return s;
    if (!g[0] && !g[1] && !g[2]) return CLG_OK;
    return clg_conv_transpose2d_backward(node->in[0]->value, node->in[1]->value, out_grad(node),
                                         &node->args.convt, g[0], g[1], g[2], acc);
}

clg_status clg_ag_conv_transpose2d(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                                   const clg_conv_transpose2d_params *p, clg_var **out) {
    clg_var *in[3] = {x, weight, bias};
    clgi_node_args args = {.convt = *p};
    clg_tensor *y = NULL;
    int shape[4];
    clg_status s = clg_conv_transpose2d_output_shape(x->value, weight->value, p, shape);

    if (s == CLG_OK) s = new_tensor(x, shape, &y);
    if (s == CLG_OK)
        s = clg_conv_transpose2d_forward(x->value, weight->value, value_or_null(bias), p, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, convt_backward, in, 3, NULL, 0, &args, out);
}

/* ---- Padding ---- */

static clg_status pad_backward(clgi_node *node) {
    clg_tensor *dx;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &dx, &acc);

    if (s != CLG_OK || !dx) return s;
    return clg_pad2d_backward(out_grad(node), node->args.pad.pad, node->args.pad.mode, dx, acc);
}

clg_status clg_ag_pad2d(clg_tape *tape, clg_var *x, int pad, clg_pad_mode mode, clg_var **out) {
    clgi_node_args args = {.pad = {pad, mode}};
    const int *xs = clg_tensor_shape(x->value);
    clg_tensor *y = NULL;
    clg_status s;

    if (clg_tensor_ndim(x->value) != 4)
        return clg_error(CLG_ERR_SHAPE, "pad2d needs an N-C-H-W tensor");
    s = new_tensor(x, (int[4]){xs[0], xs[1], xs[2] + 2 * pad, xs[3] + 2 * pad}, &y);
    if (s == CLG_OK) s = clg_pad2d_forward(x->value, pad, mode, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, pad_backward, &x, 1, NULL, 0, &args, out);
}

/* ---- Normalisation ---- */

static clg_status instance_norm_backward(clgi_node *node) {
    clg_tensor *g[3];
    int acc;
    clg_status s = clgi_ag_grad_slots(node->in, 3, g, &acc);

    if (s != CLG_OK) return s;
    if (!g[0] && !g[1] && !g[2]) return CLG_OK;
    return clg_instance_norm_backward(node->in[0]->value, value_or_null(node->in[1]),
                                      node->saved[0], node->saved[1], out_grad(node), g[0], g[1],
                                      g[2], acc);
}

/* Statistics tensors of count elements for the backward pass. */
static clg_status make_stats(const clg_var *x, int count, clg_tensor *stats[2]) {
    clg_device *dev = clg_tensor_device(x->value);
    clg_status s = clg_tensor_create(dev, 1, &count, &stats[0]);

    if (s == CLG_OK) s = clg_tensor_create(dev, 1, &count, &stats[1]);
    return s;
}

static void release_all(clg_tensor *y, clg_tensor *stats[2]) {
    clg_tensor_release(y);
    clg_tensor_release(stats[0]);
    clg_tensor_release(stats[1]);
}

clg_status clg_ag_instance_norm(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                                float eps, clg_var **out) {
    clg_var *in[3] = {x, weight, bias};
    clg_tensor *y = NULL, *stats[2] = {NULL, NULL};
    clg_status s = clg_tensor_create_like(x->value, &y);

    if (s == CLG_OK)
        s = make_stats(x, clg_tensor_dim(x->value, 0) * clg_tensor_dim(x->value, 1), stats);
    if (s == CLG_OK)
        s = clg_instance_norm_forward(x->value, value_or_null(weight), value_or_null(bias), eps, y,
                                      stats[0], stats[1]);
    if (s != CLG_OK) {
        release_all(y, stats);
        return s;
    }
    return clgi_ag_finish(tape, y, instance_norm_backward, in, 3, stats, 2, NULL, out);
}

static clg_status batch_norm_backward(clgi_node *node) {
    clg_tensor *g[3];
    int acc;
    clg_status s = clgi_ag_grad_slots(node->in, 3, g, &acc);

    if (s != CLG_OK) return s;
    if (!g[0] && !g[1] && !g[2]) return CLG_OK;
    return clg_batch_norm_backward(node->in[0]->value, value_or_null(node->in[1]), node->saved[0],
                                   node->saved[1], node->args.training, out_grad(node), g[0], g[1],
                                   g[2], acc);
}

clg_status clg_ag_batch_norm(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                             clg_tensor *running_mean, clg_tensor *running_var, int training,
                             float momentum, float eps, clg_var **out) {
    clg_var *in[3] = {x, weight, bias};
    clgi_node_args args = {.training = training};
    clg_tensor *y = NULL, *stats[2] = {NULL, NULL};
    clg_status s = clg_tensor_create_like(x->value, &y);

    if (s == CLG_OK) s = make_stats(x, clg_tensor_dim(x->value, 1), stats);
    if (s == CLG_OK)
        s = clg_batch_norm_forward(x->value, value_or_null(weight), value_or_null(bias),
                                   running_mean, running_var, training, momentum, eps, y, stats[0],
                                   stats[1]);
    if (s != CLG_OK) {
        release_all(y, stats);
        return s;
    }
    return clgi_ag_finish(tape, y, batch_norm_backward, in, 3, stats, 2, &args, out);
}

/* ---- Activations ---- */

static clg_status activation_backward(clgi_node *node) {
    clg_tensor *dx;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &dx, &acc);

    if (s != CLG_OK || !dx) return s;
    return clg_activation_backward(node->args.act.act, node->args.act.slope, node->in[0]->value,
                                   node->out->value, out_grad(node), dx, acc);
}

clg_status clg_ag_activation(clg_tape *tape, clg_activation act, float slope, clg_var *x,
                             clg_var **out) {
    clgi_node_args args = {.act = {act, slope}};
    clg_tensor *y = NULL;
    clg_status s = clg_tensor_create_like(x->value, &y);

    if (s == CLG_OK) s = clg_activation_forward(act, slope, x->value, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, activation_backward, &x, 1, NULL, 0, &args, out);
}

/* ---- Dropout: a host-drawn mask of 0 and 1/(1-p), multiplied in. ---- */

static clg_status dropout_backward(clgi_node *node) {
    clg_tensor *dx, *tmp = NULL;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &dx, &acc);

    if (s != CLG_OK || !dx) return s;
    if (!acc) return clg_mul(out_grad(node), node->saved[0], dx);
    s = clg_tensor_create_like(dx, &tmp);
    if (s == CLG_OK) s = clg_mul(out_grad(node), node->saved[0], tmp);
    if (s == CLG_OK) s = clg_axpy(1.0f, tmp, dx);
    clg_tensor_release(tmp);
    return s;
}

static clg_status dropout_mask(const clg_tensor *x, float p, clg_rng *rng, clg_tensor **mask) {
    size_t n = clg_tensor_numel(x);
    float *host = malloc(n * sizeof *host);
    float keep = 1.0f / (1.0f - p);
    clg_status s;

    if (!host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for a mask");
    for (size_t i = 0; i < n; i++) host[i] = clg_rng_uniform(rng) < p ? 0.0f : keep;
    s = clg_tensor_from_host(clg_tensor_device(x), clg_tensor_ndim(x), clg_tensor_shape(x), host,
                             mask);
    free(host);
    return s;
}

clg_status clg_ag_dropout(clg_tape *tape, clg_var *x, float p, clg_rng *rng, clg_var **out) {
    clg_tensor *y = NULL, *mask = NULL;
    clg_status s;

    if (!(p >= 0.0f && p < 1.0f))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "dropout probability %g is not in [0, 1)",
                         (double)p);
    s = dropout_mask(x->value, p, rng, &mask);
    if (s == CLG_OK) s = clg_tensor_create_like(x->value, &y);
    if (s == CLG_OK) s = clg_mul(x->value, mask, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        clg_tensor_release(mask);
        return s;
    }
    return clgi_ag_finish(tape, y, dropout_backward, &x, 1, &mask, 1, NULL, out);
}

/* ---- Pooling, 2x2 stride 2 ---- */

static clg_status max_pool_backward(clgi_node *node) {
    clg_tensor *dx;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &dx, &acc);

    if (s != CLG_OK || !dx) return s;
    return clg_max_pool2d_backward(node->in[0]->value, out_grad(node), dx, acc);
}

static clg_status avg_pool_backward(clgi_node *node) {
    clg_tensor *dx;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &dx, &acc);

    if (s != CLG_OK || !dx) return s;
    return clg_avg_pool2d_backward(out_grad(node), dx, acc);
}

static clg_status pool(clg_tape *tape, clg_var *x, int is_max, clg_var **out) {
    const int *xs = clg_tensor_shape(x->value);
    clg_tensor *y = NULL;
    clg_status s;

    if (clg_tensor_ndim(x->value) != 4 || xs[2] < 2 || xs[3] < 2)
        return clg_error(CLG_ERR_SHAPE, "2x2 pooling needs an N-C-H-W tensor of at least 2x2");
    s = new_tensor(x, (int[4]){xs[0], xs[1], xs[2] / 2, xs[3] / 2}, &y);
    if (s == CLG_OK)
        s = is_max ? clg_max_pool2d_forward(x->value, y) : clg_avg_pool2d_forward(x->value, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, is_max ? max_pool_backward : avg_pool_backward, &x, 1, NULL, 0,
                          NULL, out);
}

clg_status clg_ag_max_pool2d(clg_tape *tape, clg_var *x, clg_var **out) {
    return pool(tape, x, 1, out);
}

clg_status clg_ag_avg_pool2d(clg_tape *tape, clg_var *x, clg_var **out) {
    return pool(tape, x, 0, out);
}
