/* Operations on tensors, forward and backward: the building blocks of the networks. */
#ifndef CLGAN_OPS_H
#define CLGAN_OPS_H

/*
 * Each operation is a pair of calls: a forward that writes its output into a
 * tensor the caller created with the right shape (the *_output_shape helpers
 * compute it), and a backward that turns the gradient of the output into
 * gradients of the inputs. Backward calls take an `accumulate` flag: 0
 * overwrites each gradient tensor, 1 adds to what it holds, so that a tensor
 * used several times collects the gradient of every use. A NULL gradient
 * tensor means that gradient is not wanted and is not computed.
 *
 * All tensors of one call live on one device; calls are queued in order on
 * that device and return before the device has finished, except losses and
 * reductions read back to the host.
 *
 * Matrix products go through CLBlast; everything else is a kernel in cl/.
 * Semantics follow PyTorch's functions of the same names.
 */

#include "clgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clg_pad_mode { CLG_PAD_ZEROS = 0, CLG_PAD_REFLECT = 1 } clg_pad_mode;

/* ---- Convolution: x [N, Cin, H, W], weight [Cout, Cin, K, K], bias [Cout] or NULL. ---- */

typedef struct clg_conv2d_params {
    int stride;
    int padding;
    clg_pad_mode pad_mode;
} clg_conv2d_params;

/* out_shape gets [N, Cout, Ho, Wo]; fails with CLG_ERR_SHAPE when the shapes disagree. */
clg_status clg_conv2d_output_shape(const clg_tensor *x, const clg_tensor *weight,
                                   const clg_conv2d_params *p, int out_shape[4]);
clg_status clg_conv2d_forward(const clg_tensor *x, const clg_tensor *weight,
                              const clg_tensor *bias, const clg_conv2d_params *p, clg_tensor *y);
clg_status clg_conv2d_backward(const clg_tensor *x, const clg_tensor *weight,
                               const clg_tensor *dy, const clg_conv2d_params *p, clg_tensor *dx,
                               clg_tensor *dweight, clg_tensor *dbias, int accumulate);

/* ---- Transposed convolution: weight [Cin, Cout, K, K] as PyTorch stores it. ---- */

typedef struct clg_conv_transpose2d_params {
    int stride;
    int padding;
    int output_padding;
} clg_conv_transpose2d_params;

clg_status clg_conv_transpose2d_output_shape(const clg_tensor *x, const clg_tensor *weight,
                                             const clg_conv_transpose2d_params *p,
                                             int out_shape[4]);
clg_status clg_conv_transpose2d_forward(const clg_tensor *x, const clg_tensor *weight,
                                        const clg_tensor *bias,
                                        const clg_conv_transpose2d_params *p, clg_tensor *y);
clg_status clg_conv_transpose2d_backward(const clg_tensor *x, const clg_tensor *weight,
                                         const clg_tensor *dy,
                                         const clg_conv_transpose2d_params *p, clg_tensor *dx,
                                         clg_tensor *dweight, clg_tensor *dbias, int accumulate);

/* ---- Padding by `pad` on every side of H and W. ---- */

clg_status clg_pad2d_forward(const clg_tensor *x, int pad, clg_pad_mode mode, clg_tensor *y);
clg_status clg_pad2d_backward(const clg_tensor *dy, int pad, clg_pad_mode mode, clg_tensor *dx,
                              int accumulate);

/* ---- Normalisation. weight and bias [C] may be NULL (no affine). ---- */

/*
 * Instance norm over each (n, c) plane, eps as given (PyTorch: 1e-5). mean and
 * invstd [N*C] are written for the backward pass. A constant plane gives zeros.
 */
clg_status clg_instance_norm_forward(const clg_tensor *x, const clg_tensor *weight,
                                     const clg_tensor *bias, float eps, clg_tensor *y,
                                     clg_tensor *mean, clg_tensor *invstd);
clg_status clg_instance_norm_backward(const clg_tensor *x, const clg_tensor *weight,
                                      const clg_tensor *mean, const clg_tensor *invstd,
                                      const clg_tensor *dy, clg_tensor *dx, clg_tensor *dweight,
                                      clg_tensor *dbias, int accumulate);

/*
 * Batch norm over (N, H, W) per channel. In training, batch statistics are
 * used, mean and invstd [C] are saved, and running_mean and running_var [C]
 * move by momentum (unbiased variance, as PyTorch). In evaluation the
 * running statistics normalise and mean/invstd receive them.
 */
clg_status clg_batch_norm_forward(const clg_tensor *x, const clg_tensor *weight,
                                  const clg_tensor *bias, clg_tensor *running_mean,
                                  clg_tensor *running_var, int training, float momentum,
                                  float eps, clg_tensor *y, clg_tensor *mean, clg_tensor *invstd);
clg_status clg_batch_norm_backward(const clg_tensor *x, const clg_tensor *weight,
                                   const clg_tensor *mean, const clg_tensor *invstd, int training,
                                   const clg_tensor *dy, clg_tensor *dx, clg_tensor *dweight,
                                   clg_tensor *dbias, int accumulate);

/* ---- Activations. Backward takes the forward's input x and output y. ---- */

typedef enum clg_activation {
    CLG_ACT_RELU,
    CLG_ACT_LEAKY_RELU,
    CLG_ACT_TANH,
    CLG_ACT_SIGMOID
} clg_activation;

/* slope is used by CLG_ACT_LEAKY_RELU only. y may be x (in place) for the forward. */
clg_status clg_activation_forward(clg_activation act, float slope, const clg_tensor *x,
                                  clg_tensor *y);
clg_status clg_activation_backward(clg_activation act, float slope, const clg_tensor *x,
                                   const clg_tensor *y, const clg_tensor *dy, clg_tensor *dx,
                                   int accumulate);

/* ---- Elementwise, on tensors of equal element count. out may alias an input. ---- */

clg_status clg_add(const clg_tensor *a, const clg_tensor *b, clg_tensor *out);
clg_status clg_sub(const clg_tensor *a, const clg_tensor *b, clg_tensor *out);
clg_status clg_mul(const clg_tensor *a, const clg_tensor *b, clg_tensor *out);
clg_status clg_scale(const clg_tensor *a, float alpha, clg_tensor *out);
/* y += alpha * x */
clg_status clg_axpy(float alpha, const clg_tensor *x, clg_tensor *y);

/* Sum or mean of every element, reduced on the device, into a [1] tensor. */
clg_status clg_sum(const clg_tensor *x, clg_tensor *out);
clg_status clg_mean(const clg_tensor *x, clg_tensor *out);

/* Their backward: every element of dx (+)= dout[0] (divided by the count for the mean). */
clg_status clg_sum_backward(const clg_tensor *dout, clg_tensor *dx, int accumulate);
clg_status clg_mean_backward(const clg_tensor *dout, clg_tensor *dx, int accumulate);

/* ---- Losses: the value (mean over elements unless noted) goes into a [1] tensor. ---- */

/*
 * Backward of a loss: dx (+)= dloss[0] * d(loss)/dx, where dloss is the
 * one-element gradient of the loss on the device (NULL means 1), so a
 * backward pass never waits for the host. target may be NULL for the
 * *_const forms, which compare with one value everywhere (GAN labels).
 */
clg_status clg_mse_loss(const clg_tensor *x, const clg_tensor *target, clg_tensor *loss);
clg_status clg_mse_loss_const(const clg_tensor *x, float target, clg_tensor *loss);
clg_status clg_mse_loss_backward(const clg_tensor *x, const clg_tensor *target, float target_value,
                                 const clg_tensor *dloss, clg_tensor *dx, int accumulate);

clg_status clg_l1_loss(const clg_tensor *x, const clg_tensor *target, clg_tensor *loss);
clg_status clg_l1_loss_backward(const clg_tensor *x, const clg_tensor *target,
                                const clg_tensor *dloss, clg_tensor *dx, int accumulate);

/* Binary cross-entropy with logits against a constant label, mean over elements. */
clg_status clg_bce_logits_loss_const(const clg_tensor *x, float target, clg_tensor *loss);
clg_status clg_bce_logits_loss_backward(const clg_tensor *x, float target,
                                        const clg_tensor *dloss, clg_tensor *dx,
                                        int accumulate);

/* Total variation: sum of squared differences of neighbours, across and down (not a mean). */
clg_status clg_tv_loss(const clg_tensor *x, clg_tensor *loss);
clg_status clg_tv_loss_backward(const clg_tensor *x, const clg_tensor *dloss, clg_tensor *dx,
                                int accumulate);

/* ---- Gram matrix: x [N, C, H, W] to gram [N, C, C] = F F^T / (C*H*W). ---- */

clg_status clg_gram_forward(const clg_tensor *x, clg_tensor *gram);
clg_status clg_gram_backward(const clg_tensor *x, const clg_tensor *dgram, clg_tensor *dx,
                             int accumulate);

/* ---- Pooling, 2x2 window, stride 2 (VGG). Max pool's backward uses the input. ---- */

clg_status clg_max_pool2d_forward(const clg_tensor *x, clg_tensor *y);
clg_status clg_max_pool2d_backward(const clg_tensor *x, const clg_tensor *dy, clg_tensor *dx,
                                   int accumulate);
clg_status clg_avg_pool2d_forward(const clg_tensor *x, clg_tensor *y);
clg_status clg_avg_pool2d_backward(const clg_tensor *dy, clg_tensor *dx, int accumulate);

/* ---- Adam, as torch.optim.Adam (weight decay added to the gradient). ---- */

typedef struct clg_adam_params {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
} clg_adam_params;

/* One step for one parameter; step counts from 1 and sets the bias correction. */
clg_status clg_adam_step(const clg_adam_params *p, int step, clg_tensor *param,
                         const clg_tensor *grad, clg_tensor *exp_avg, clg_tensor *exp_avg_sq);

#ifdef __cplusplus
}
#endif

#endif
