/* Recorded elementwise arithmetic, reductions, losses and the Gram matrix. */
#include "autograd/internal.h"

static clg_tensor *out_grad(const clgi_node *node) {
    return node->out->grad;
}

/* grad of input i (+)= alpha * dy. */
static clg_status pass_grad(clgi_node *node, int i, float alpha) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[i], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return clgi_ag_copy_grad(g, out_grad(node), alpha, acc);
}

static clg_status same_count(const clg_var *a, const clg_var *b, const char *what) {
    if (clg_tensor_numel(a->value) == clg_tensor_numel(b->value)) return CLG_OK;
    return clg_error(CLG_ERR_SHAPE, "%s of %zu and %zu elements", what, clg_tensor_numel(a->value),
                     clg_tensor_numel(b->value));
}

typedef clg_status (*binary_fn)(const clg_tensor *, const clg_tensor *, clg_tensor *);

static clg_status binary(clg_tape *tape, clg_var *a, clg_var *b, binary_fn fn,
                         clgi_backward_fn backward, const char *what, clg_var **out) {
    clg_var *in[2] = {a, b};
    clg_tensor *y = NULL;
    clg_status s = same_count(a, b, what);

    if (s == CLG_OK) s = clg_tensor_create_like(a->value, &y);
    if (s == CLG_OK) s = fn(a->value, b->value, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, backward, in, 2, NULL, 0, NULL, out);
}

/* ---- Elementwise ---- */

static clg_status add_backward(clgi_node *node) {
    clg_status s = pass_grad(node, 0, 1.0f);
    return s != CLG_OK ? s : pass_grad(node, 1, 1.0f);
}

static clg_status sub_backward(clgi_node *node) {
    clg_status s = pass_grad(node, 0, 1.0f);
    return s != CLG_OK ? s : pass_grad(node, 1, -1.0f);
}

/* grad of input i (+)= dy * other. */
static clg_status mul_grad(clgi_node *node, int i) {
    const clg_tensor *other = node->in[1 - i]->value;
    clg_tensor *g, *tmp = NULL;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[i], &g, &acc);

    if (s != CLG_OK || !g) return s;
    if (!acc) return clg_mul(out_grad(node), other, g);
    s = clg_tensor_create_like(g, &tmp);
    if (s == CLG_OK) s = clg_mul(out_grad(node), other, tmp);
    if (s == CLG_OK) s = clg_axpy(1.0f, tmp, g);
    clg_tensor_release(tmp);
    return s;
}

static clg_status mul_backward(clgi_node *node) {
    clg_status s = mul_grad(node, 0);
    return s != CLG_OK ? s : mul_grad(node, 1);
}

static clg_status scale_backward(clgi_node *node) {
    return pass_grad(node, 0, node->args.value);
}

clg_status clg_ag_add(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out) {
    return binary(tape, a, b, clg_add, add_backward, "add", out);
}

clg_status clg_ag_sub(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out) {
    return binary(tape, a, b, clg_sub, sub_backward, "sub", out);
}

clg_status clg_ag_mul(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out) {
    return binary(tape, a, b, clg_mul, mul_backward, "mul", out);
}

clg_status clg_ag_scale(clg_tape *tape, clg_var *a, float alpha, clg_var **out) {
    clgi_node_args args = {.value = alpha};
    clg_tensor *y = NULL;
    clg_status s = clg_tensor_create_like(a->value, &y);

    if (s == CLG_OK) s = clg_scale(a->value, alpha, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, scale_backward, &a, 1, NULL, 0, &args, out);
}

/* ---- Scalar results: reductions and losses ---- */

typedef clg_status (*scalar_forward_fn)(clgi_node *like, clg_var *const *in, clg_tensor *y);

/* A one-element result of a forward over inputs, recorded with backward and args. */
static clg_status scalar_op(clg_tape *tape, clg_var *const *in, int n_in, clgi_backward_fn backward,
                            const clgi_node_args *args, scalar_forward_fn forward, clg_var **out) {
    clgi_node tmp = {.args = *args};
    clg_tensor *y = NULL;
    clg_status s = clg_tensor_create(clg_tensor_device(in[0]->value), 1, (int[1]){1}, &y);

    if (s == CLG_OK) s = forward(&tmp, in, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, backward, in, n_in, NULL, 0, args, out);
}

static clg_status sum_forward(clgi_node *node, clg_var *const *in, clg_tensor *y) {
    return node->args.value != 0.0f ? clg_mean(in[0]->value, y) : clg_sum(in[0]->value, y);
}

static clg_status sum_backward(clgi_node *node) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return node->args.value != 0.0f ? clg_mean_backward(out_grad(node), g, acc)
                                    : clg_sum_backward(out_grad(node), g, acc);
}

clg_status clg_ag_sum(clg_tape *tape, clg_var *x, clg_var **out) {
    clgi_node_args args = {.value = 0.0f};
    return scalar_op(tape, &x, 1, sum_backward, &args, sum_forward, out);
}

clg_status clg_ag_mean(clg_tape *tape, clg_var *x, clg_var **out) {
    clgi_node_args args = {.value = 1.0f};
    return scalar_op(tape, &x, 1, sum_backward, &args, sum_forward, out);
}

/* Mean squared error and mean absolute error: symmetric in x and target. */

static clg_status pair_forward(clgi_node *node, clg_var *const *in, clg_tensor *y) {
    if (node->args.value != 0.0f) return clg_l1_loss(in[0]->value, in[1]->value, y);
    return clg_mse_loss(in[0]->value, in[1]->value, y);
}

static clg_status pair_backward(clgi_node *node) {
    const clg_tensor *dloss = out_grad(node);
    clg_status s = CLG_OK;

    for (int i = 0; i < 2 && s == CLG_OK; i++) {
        const clg_tensor *x = node->in[i]->value, *t = node->in[1 - i]->value;
        clg_tensor *g;
        int acc;
        s = clgi_ag_grad_slot(node->in[i], &g, &acc);
        if (s != CLG_OK || !g) continue;
        s = node->args.value != 0.0f ? clg_l1_loss_backward(x, t, dloss, g, acc)
                                     : clg_mse_loss_backward(x, t, 0.0f, dloss, g, acc);
    }
    return s;
}

static clg_status pair_loss(clg_tape *tape, clg_var *x, clg_var *target, int l1, clg_var **out) {
    clg_var *in[2] = {x, target};
    clgi_node_args args = {.value = l1 ? 1.0f : 0.0f};
    clg_status s = same_count(x, target, l1 ? "l1 loss" : "mse loss");

    if (s != CLG_OK) return s;
    return scalar_op(tape, in, 2, pair_backward, &args, pair_forward, out);
}

clg_status clg_ag_mse_loss(clg_tape *tape, clg_var *x, clg_var *target, clg_var **out) {
    return pair_loss(tape, x, target, 0, out);
}

clg_status clg_ag_l1_loss(clg_tape *tape, clg_var *x, clg_var *target, clg_var **out) {
    return pair_loss(tape, x, target, 1, out);
}

/* Losses against a constant label. */

static clg_status mse_const_forward(clgi_node *node, clg_var *const *in, clg_tensor *y) {
    return clg_mse_loss_const(in[0]->value, node->args.value, y);
}

static clg_status mse_const_backward(clgi_node *node) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return clg_mse_loss_backward(node->in[0]->value, NULL, node->args.value, out_grad(node), g,
                                 acc);
}

clg_status clg_ag_mse_loss_const(clg_tape *tape, clg_var *x, float target, clg_var **out) {
    clgi_node_args args = {.value = target};
    return scalar_op(tape, &x, 1, mse_const_backward, &args, mse_const_forward, out);
}

static clg_status bce_forward(clgi_node *node, clg_var *const *in, clg_tensor *y) {
    return clg_bce_logits_loss_const(in[0]->value, node->args.value, y);
}

static clg_status bce_backward(clgi_node *node) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return clg_bce_logits_loss_backward(node->in[0]->value, node->args.value, out_grad(node), g,
                                        acc);
}

clg_status clg_ag_bce_logits_loss_const(clg_tape *tape, clg_var *x, float target, clg_var **out) {
    clgi_node_args args = {.value = target};
    return scalar_op(tape, &x, 1, bce_backward, &args, bce_forward, out);
}

static clg_status tv_forward(clgi_node *node, clg_var *const *in, clg_tensor *y) {
    (void)node;
    return clg_tv_loss(in[0]->value, y);
}

static clg_status tv_backward(clgi_node *node) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return clg_tv_loss_backward(node->in[0]->value, out_grad(node), g, acc);
}

clg_status clg_ag_tv_loss(clg_tape *tape, clg_var *x, clg_var **out) {
    clgi_node_args args = {.value = 0.0f};
    return scalar_op(tape, &x, 1, tv_backward, &args, tv_forward, out);
}

/* ---- Gram matrix ---- */

static clg_status gram_backward(clgi_node *node) {
    clg_tensor *g;
    int acc;
    clg_status s = clgi_ag_grad_slot(node->in[0], &g, &acc);

    if (s != CLG_OK || !g) return s;
    return clg_gram_backward(node->in[0]->value, out_grad(node), g, acc);
}

clg_status clg_ag_gram(clg_tape *tape, clg_var *x, clg_var **out) {
    int n = clg_tensor_dim(x->value, 0), c = clg_tensor_dim(x->value, 1);
    clg_tensor *y = NULL;
    clg_status s;

    if (clg_tensor_ndim(x->value) != 4) return clg_error(CLG_ERR_SHAPE, "gram needs N-C-H-W");
    s = clg_tensor_create(clg_tensor_device(x->value), 3, (int[3]){n, c, c}, &y);
    if (s == CLG_OK) s = clg_gram_forward(x->value, y);
    if (s != CLG_OK) {
        clg_tensor_release(y);
        return s;
    }
    return clgi_ag_finish(tape, y, gram_backward, &x, 1, NULL, 0, NULL, out);
}
