/* Neural-network modules with named parameters, as PyTorch's torch.nn. */
#ifndef CLGAN_NN_H
#define CLGAN_NN_H

/*
 * A clg_module is a layer or a container of layers. Layers own their
 * parameters (leaf clg_var, see clgan/autograd.h) and buffers (batch-norm
 * running statistics); containers own their children. Every module has a
 * forward: clg_module_forward(m, tape, x, &y) runs it on x and records on
 * tape (NULL: evaluation without recording). A module may be applied any
 * number of times in one step; its parameters collect the gradients of
 * every use.
 *
 * Names. A parameter's name is its path from the module it is listed from,
 * exactly as PyTorch's state_dict key: children of a Sequential are named
 * by their index, counting parameterless layers (ReLU, padding, ...), and a
 * child may be given a name ("model", "conv_block", "features"). So a
 * ResNet generator lists model.1.weight ... model.10.conv_block.1.weight
 * ... and VGG-19 lists features.0.weight. clg_module_param_at() walks
 * parameters in state_dict order; clg_module_state_at() walks parameters
 * and buffers (running_mean, running_var) the same way.
 *
 * Modes. clg_module_set_training() switches batch norm between batch and
 * running statistics and turns dropout on and off, for a module and all its
 * children. clg_module_set_requires_grad(m, 0) freezes every parameter at
 * once; clg_module_zero_grad() forgets accumulated gradients.
 *
 * Weights. clg_module_init_weights() draws weights as the reference
 * CycleGAN's init_weights: convolution weights from the chosen scheme with
 * biases zero, batch-norm weights from normal(1, gain) with biases zero.
 * Numbers come from the seeded host generator (clgan/rng.h), so one seed
 * gives the same weights on every device. clg_module_load_state() copies a
 * safetensors collection in after checking that every name and shape
 * matches, naming every missing, unexpected or mis-shaped tensor, and loads
 * nothing otherwise; clg_module_save_file() writes the state and the
 * module's metadata (architecture and options) atomically.
 */

#include <stdint.h>

#include "clgan/autograd.h"
#include "clgan/safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_module clg_module;

typedef enum clg_norm_type { CLG_NORM_NONE = 0, CLG_NORM_INSTANCE, CLG_NORM_BATCH } clg_norm_type;

typedef enum clg_init_type {
    CLG_INIT_NORMAL = 0, /* normal(0, gain) */
    CLG_INIT_XAVIER,     /* xavier_normal_ with gain */
    CLG_INIT_KAIMING,    /* kaiming_normal_(a=0, mode=fan_in); gain unused */
    CLG_INIT_ORTHOGONAL  /* orthogonal_ with gain */
} clg_init_type;

/* ---- Layers. Parameters are created zero (batch-norm weight one); see init_weights. ---- */

/* padding is zero padding of `padding` on each side; bias 0 leaves the bias out. */
clg_status clg_conv2d_create(clg_device *device, int in_channels, int out_channels, int kernel,
                             int stride, int padding, int bias, clg_module **out);
clg_status clg_conv_transpose2d_create(clg_device *device, int in_channels, int out_channels,
                                       int kernel, int stride, int padding, int output_padding,
                                       int bias, clg_module **out);

/* eps 1e-5. Affine adds weight and bias; no running statistics (PyTorch's default). */
clg_status clg_instance_norm2d_create(clg_device *device, int channels, int affine,
                                      clg_module **out);
/* Affine, with running statistics; eps 1e-5, momentum 0.1. */
clg_status clg_batch_norm2d_create(clg_device *device, int channels, clg_module **out);

clg_status clg_relu_create(clg_module **out);
clg_status clg_leaky_relu_create(float slope, clg_module **out);
clg_status clg_tanh_create(clg_module **out);
clg_status clg_identity_create(clg_module **out);
clg_status clg_reflection_pad2d_create(int pad, clg_module **out);
/* Active in training mode only; the mask comes from a host generator seeded with seed. */
clg_status clg_dropout_create(float p, uint64_t seed, clg_module **out);
/* 2x2 windows, stride 2. */
clg_status clg_max_pool2d_create(clg_module **out);
clg_status clg_avg_pool2d_create(clg_module **out);

/*
 * The reference's ResnetBlock: out = x + conv_block(x), conv_block being
 * [pad 1, conv 3x3, norm, ReLU, (Dropout 0.5), pad 1, conv 3x3, norm] with
 * reflection padding (reflect 1) or the convolutions' zero padding (0).
 */
clg_status clg_resnet_block_create(clg_device *device, int dim, clg_norm_type norm, int use_dropout,
                                   int use_bias, int reflect, uint64_t seed, clg_module **out);

/* ---- Containers ---- */

clg_status clg_sequential_create(clg_module **out);

/*
 * Append child under the next index. The sequence owns it from now on, also when the call
 * fails, except when child already belongs to a container (CLG_ERR_INVALID_ARGUMENT).
 */
clg_status clg_sequential_append(clg_module *seq, clg_module *child);

/* Append child under a name of its own (such as "model"), owned as above. */
clg_status clg_sequential_append_named(clg_module *seq, const char *name, clg_module *child);

int clg_sequential_length(const clg_module *seq);
clg_module *clg_sequential_child(const clg_module *seq, int index);

/* ---- Every module ---- */

/* Run m on x; *out gets a new reference. */
clg_status clg_module_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out);

/* Release a module with its children, parameters and buffers. NULL is fine. */
void clg_module_release(clg_module *m);

/* PyTorch's class name: "Conv2d", "Sequential", "ResnetBlock", ... */
const char *clg_module_kind(const clg_module *m);

int clg_module_param_count(clg_module *m);
/* The parameter at index in state_dict order; name stays valid until m changes. */
clg_status clg_module_param_at(clg_module *m, int index, const char **name, clg_var **var);
/* The parameter called name, or NULL. */
clg_var *clg_module_find_param(clg_module *m, const char *name);
/* Elements in all parameters. */
size_t clg_module_param_numel(clg_module *m);

/* Parameters and float buffers (running statistics) in state_dict order. */
int clg_module_state_count(clg_module *m);
clg_status clg_module_state_at(clg_module *m, int index, const char **name, clg_tensor **tensor);

void clg_module_set_requires_grad(clg_module *m, int requires_grad);
void clg_module_set_training(clg_module *m, int training);
int clg_module_is_training(const clg_module *m);
void clg_module_zero_grad(clg_module *m);

/* Draw every weight as the reference's init_weights(init_type, init_gain). */
clg_status clg_module_init_weights(clg_module *m, clg_init_type type, float gain, uint64_t seed);

/* ---- State: loading and saving ---- */

/*
 * Load every parameter and buffer from st. Only keys starting with prefix
 * (NULL or "" for all) are considered, with prefix and a leading "module."
 * removed. Instance-norm running statistics of old checkpoints are dropped
 * with a log notice; num_batches_tracked is optional. Any missing,
 * unexpected or mis-shaped tensor fails the call with every one named
 * (CLG_ERR_NOT_FOUND, or CLG_ERR_SHAPE when only shapes differ) and
 * nothing is loaded.
 */
clg_status clg_module_load_state(clg_module *m, const clg_safetensors *st, const char *prefix);
clg_status clg_module_load_file(clg_module *m, const char *path);

/* Add the state to st as prefix + name (num_batches_tracked as a 0-d float). */
clg_status clg_module_add_state(clg_module *m, clg_safetensors *st, const char *prefix);

/* Write the state and the module's metadata to path atomically. */
clg_status clg_module_save_file(clg_module *m, const char *path);

/* String metadata kept with the module and written by save (architecture, options). */
clg_status clg_module_set_metadata(clg_module *m, const char *key, const char *value);
const char *clg_module_get_metadata(const clg_module *m, const char *key);

#ifdef __cplusplus
}
#endif

#endif
