/* The networks: ResNet generator, PatchGAN and pixel discriminators, VGG-19 features. */
#ifndef CLGAN_MODELS_H
#define CLGAN_MODELS_H

/*
 * Each network is a clg_module (clgan/nn.h) laid out exactly as in
 * pytorch-CycleGAN-and-pix2pix's models/networks.py and torchvision's vgg19,
 * so its parameter names are their state_dict keys and weights move between
 * the two with one safetensors file. Fill an options struct from its
 * *_defaults() function (the reference's defaults), change what you need,
 * and create. A new network is initialised as the reference's init_net
 * (normal(0, 0.02) by default) from options.seed on the host, so one seed
 * gives the same weights on every device, and records its architecture in
 * its metadata ("arch" and the options), which clg_module_save_file()
 * writes and clg_model_load_file() reads back.
 *
 * As in the reference, convolutions followed by a norm layer have a bias
 * only with instance norm: batch norm has its own shift, and with norm
 * "none" the reference also leaves the bias out (its use_bias test compares
 * the Identity factory with InstanceNorm2d). Instance norm is not affine
 * and keeps no running statistics; batch norm is affine with running
 * statistics. Norm "none" puts Identity layers where the norm would be, so
 * indices stay those of the reference.
 *
 * VGG-19 (torchvision's vgg19().features, indices 0 to 36) runs through
 * clg_vgg19_features(), which returns the activations at named layers
 * ("conv1_1", "relu1_1", ..., "pool5") and stops after the deepest one
 * asked for. Its input is normalised by the ImageNet mean and standard
 * deviation only when options.normalize_input is set; clg_vgg19_normalize()
 * does the same step on its own. channel_divisor divides every width (64,
 * 128, 256, 512) for small test networks.
 */

#include <stdint.h>

#include "clgan/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How new weights are drawn: the reference's --init_type and --init_gain, and a seed. */
typedef struct clg_init_options {
    clg_init_type type; /* CLG_INIT_NORMAL */
    float gain;         /* 0.02 */
    uint64_t seed;      /* 0 */
} clg_init_options;

/* ---- ResNet generator (the reference's resnet_9blocks and resnet_6blocks) ---- */

typedef struct clg_resnet_generator_options {
    int input_nc;       /* 3 */
    int output_nc;      /* 3 */
    int ngf;            /* 64 */
    int n_blocks;       /* 9; any n >= 0 */
    clg_norm_type norm; /* CLG_NORM_INSTANCE */
    int use_dropout;    /* 0; Dropout(0.5) inside each block, active in training mode */
    int reflect;        /* 1: reflection padding in the blocks; 0: zero padding */
    clg_init_options init;
} clg_resnet_generator_options;

void clg_resnet_generator_defaults(clg_resnet_generator_options *opt);
clg_status clg_resnet_generator_create(clg_device *device, const clg_resnet_generator_options *opt,
                                       clg_module **out);

/* ---- Discriminators ---- */

typedef struct clg_nlayer_discriminator_options {
    int input_nc;       /* 3 */
    int ndf;            /* 64 */
    int n_layers;       /* 3: the 70x70 PatchGAN */
    clg_norm_type norm; /* CLG_NORM_INSTANCE */
    clg_init_options init;
} clg_nlayer_discriminator_options;

void clg_nlayer_discriminator_defaults(clg_nlayer_discriminator_options *opt);
clg_status clg_nlayer_discriminator_create(clg_device *device,
                                           const clg_nlayer_discriminator_options *opt,
                                           clg_module **out);

/* The 1x1 PixelGAN: the same options, n_layers unused. */
clg_status clg_pixel_discriminator_create(clg_device *device,
                                          const clg_nlayer_discriminator_options *opt,
                                          clg_module **out);

/* ---- VGG-19 features ---- */

typedef enum clg_vgg_pool { CLG_VGG_POOL_MAX = 0, CLG_VGG_POOL_AVG } clg_vgg_pool;

typedef struct clg_vgg19_options {
    int channel_divisor; /* 1; widths become 64/d, 128/d, 256/d, 512/d */
    clg_vgg_pool pool;   /* CLG_VGG_POOL_MAX */
    int normalize_input; /* 0; 1 applies (x - mean) / std first, x in [0, 1] */
    clg_init_options init;
} clg_vgg19_options;

void clg_vgg19_defaults(clg_vgg19_options *opt);
clg_status clg_vgg19_create(clg_device *device, const clg_vgg19_options *opt, clg_module **out);

/* The index in features of a layer name ("relu4_2" is 22), or -1. */
int clg_vgg19_layer_index(const char *name);

/*
 * Activations of vgg (made by clg_vgg19_create) at count named layers, in
 * outs[i] (new references). Layers past the deepest requested are not run.
 */
clg_status clg_vgg19_features(clg_module *vgg, clg_tape *tape, clg_var *x, int count,
                              const char *const *names, clg_var **outs);

/* (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225] per channel of a 3-channel x. */
clg_status clg_vgg19_normalize(clg_tape *tape, clg_var *x, clg_var **out);

/* ---- Any network from a file ---- */

/* Create the network that a file's metadata describes ("arch" and options). */
clg_status clg_model_create_from_metadata(clg_device *device, const clg_safetensors *st,
                                          clg_module **out);

/* Read a file saved by clg_module_save_file(), create its network and load it. */
clg_status clg_model_load_file(clg_device *device, const char *path, clg_module **out);

#ifdef __cplusplus
}
#endif

#endif
