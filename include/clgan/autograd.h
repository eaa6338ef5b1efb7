/* Reverse-mode automatic differentiation: variables with gradients and a tape of operations. */
#ifndef CLGAN_AUTOGRAD_H
#define CLGAN_AUTOGRAD_H

/*
 * A clg_var is a tensor that may carry a gradient. Parameters and inputs are
 * leaf variables made with clg_var_create(); every clg_ag_* operation makes a
 * new variable for its result. Variables are reference counted: each
 * function that hands one out (an operation's `out`, clg_var_create,
 * clg_var_detach) gives the caller one reference, to drop with
 * clg_var_release(). The tape keeps its own references to what backward
 * needs, so a caller may release intermediate results as soon as it has
 * used them.
 *
 * A clg_tape records operations. When a clg_ag_* call gets a tape and any
 * input requires a gradient, it records a node: the backward function, the
 * input and output variables and the tensors the backward needs (such as
 * normalisation statistics). A result requires a gradient when an input
 * does. With a NULL tape, or when nothing requires a gradient, nothing is
 * recorded: this is the evaluation mode, in which every intermediate tensor
 * is freed as soon as its last reference goes.
 *
 * clg_tape_backward() seeds the gradient of a one-element loss with `scale`
 * and runs the nodes in reverse order of recording. A leaf that requires a
 * gradient gets it added to its .grad, which is allocated on first use and
 * keeps accumulating over backward calls until clg_var_zero_grad(). A
 * variable used by several operations, or a module applied several times,
 * receives the sum of the gradients of every use. Gradients of
 * intermediate results are freed as soon as they have been propagated,
 * and backward releases every node and saved tensor, leaving the tape empty
 * for the next step. clg_tape_reset() drops a recording without running it.
 *
 * Turning requires_grad off on a leaf (freezing) takes effect at once: later
 * operations do not record gradients for it, and a backward already pending
 * skips it. Gradients still flow through a frozen parameter's operations to
 * inputs that require them, as in PyTorch.
 */

#include "clgan/ops.h"
#include "clgan/rng.h"
#include "clgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_var clg_var;
typedef struct clg_tape clg_tape;

/* ---- Variables ---- */

/* A leaf variable that takes ownership of value (the caller must not release it). */
clg_status clg_var_create(clg_tensor *value, int requires_grad, clg_var **out);

/* A leaf variable holding a copy of host data. */
clg_status clg_var_from_host(clg_device *device, int ndim, const int *shape, const float *data,
                             int requires_grad, clg_var **out);

/* Add a reference and return v. */
clg_var *clg_var_retain(clg_var *v);

/* Drop a reference; the value and gradient are freed with the last one. NULL is fine. */
void clg_var_release(clg_var *v);

/* The value tensor (owned by the variable). */
clg_tensor *clg_var_value(const clg_var *v);

/* The accumulated gradient, or NULL when none has been written since the last zeroing. */
clg_tensor *clg_var_grad(const clg_var *v);

int clg_var_requires_grad(const clg_var *v);

/* Freeze (0) or unfreeze (1) a leaf. Refused with CLG_ERR_INVALID_ARGUMENT on a result. */
clg_status clg_var_set_requires_grad(clg_var *v, int requires_grad);

/* Forget the accumulated gradient; its memory is kept for the next one. */
void clg_var_zero_grad(clg_var *v);

/* A new leaf sharing v's value (a view), through which no gradient flows. */
clg_status clg_var_detach(clg_var *v, clg_var **out);

/* ---- The tape ---- */

clg_status clg_tape_create(clg_tape **out);

/* Drop every recorded node and saved tensor. NULL is fine. */
void clg_tape_release(clg_tape *tape);

/* Drop the recording without running backward. */
void clg_tape_reset(clg_tape *tape);

/* Nodes recorded since the last backward or reset. */
int clg_tape_node_count(const clg_tape *tape);

/*
 * Backpropagate from loss (one element), whose gradient is seeded with scale.
 * The tape is empty afterwards, also when backward fails.
 */
clg_status clg_tape_backward(clg_tape *tape, clg_var *loss, float scale);

/* Backpropagate from several losses at once: the sum of scales[i] * losses[i]. */
clg_status clg_tape_backward_many(clg_tape *tape, int count, clg_var *const *losses,
                                  const float *scales);

/* ---- Operations: forward through clgan/ops.h, recorded when tape is not NULL. ---- */

/* bias may be NULL. */
clg_status clg_ag_conv2d(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                         const clg_conv2d_params *p, clg_var **out);
clg_status clg_ag_conv_transpose2d(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                                   const clg_conv_transpose2d_params *p, clg_var **out);
clg_status clg_ag_pad2d(clg_tape *tape, clg_var *x, int pad, clg_pad_mode mode, clg_var **out);

/* weight and bias may be NULL (no affine). */
clg_status clg_ag_instance_norm(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                                float eps, clg_var **out);

/* Running statistics are updated in training, as clg_batch_norm_forward. */
clg_status clg_ag_batch_norm(clg_tape *tape, clg_var *x, clg_var *weight, clg_var *bias,
                             clg_tensor *running_mean, clg_tensor *running_var, int training,
                             float momentum, float eps, clg_var **out);

clg_status clg_ag_activation(clg_tape *tape, clg_activation act, float slope, clg_var *x,
                             clg_var **out);

/* Zero each element with probability p and scale the rest by 1/(1-p); mask drawn from rng. */
clg_status clg_ag_dropout(clg_tape *tape, clg_var *x, float p, clg_rng *rng, clg_var **out);

clg_status clg_ag_max_pool2d(clg_tape *tape, clg_var *x, clg_var **out);
clg_status clg_ag_avg_pool2d(clg_tape *tape, clg_var *x, clg_var **out);

/* Elementwise on equal element counts; the result has a's shape. */
clg_status clg_ag_add(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out);
clg_status clg_ag_sub(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out);
clg_status clg_ag_mul(clg_tape *tape, clg_var *a, clg_var *b, clg_var **out);
clg_status clg_ag_scale(clg_tape *tape, clg_var *a, float alpha, clg_var **out);

/* Reductions and losses give a one-element variable. */
clg_status clg_ag_sum(clg_tape *tape, clg_var *x, clg_var **out);
clg_status clg_ag_mean(clg_tape *tape, clg_var *x, clg_var **out);
clg_status clg_ag_mse_loss(clg_tape *tape, clg_var *x, clg_var *target, clg_var **out);
clg_status clg_ag_mse_loss_const(clg_tape *tape, clg_var *x, float target, clg_var **out);
clg_status clg_ag_l1_loss(clg_tape *tape, clg_var *x, clg_var *target, clg_var **out);
clg_status clg_ag_bce_logits_loss_const(clg_tape *tape, clg_var *x, float target, clg_var **out);
clg_status clg_ag_tv_loss(clg_tape *tape, clg_var *x, clg_var **out);

/* x [N, C, H, W] to [N, C, C], F F^T / (C*H*W). */
clg_status clg_ag_gram(clg_tape *tape, clg_var *x, clg_var **out);

#ifdef __cplusplus
}
#endif

#endif
