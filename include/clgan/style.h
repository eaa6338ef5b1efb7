/* Neural style transfer (Gatys et al.): losses on VGG-19 features, L-BFGS and Adam on a device. */
#ifndef CLGAN_STYLE_H
#define CLGAN_STYLE_H

/*
 * A clg_style holds one style-transfer problem: a VGG-19 feature extractor
 * (clgan/models.h), the content's features and the styles' Gram matrices
 * (the targets), and the image being optimised, which lives on the device.
 * Fill clg_style_options from clg_style_options_defaults(), change what you
 * need, create, then either clg_style_run() the chosen optimiser to the end
 * or drive it yourself with clg_style_evaluate() and clg_style_adam_step().
 *
 * Sizes. The content is scaled so that its longest side is image_size (0
 * keeps its size); the result has that size. Each style is scaled so that
 * its longest side is style_scale * image_size (with image_size 0, times
 * the content's longest side). Images of any size and of 1 to 4 channels
 * are accepted: gray is replicated, alpha is composited on white (as
 * clg_image_load does). An image must keep at least 2^p pixels on each
 * side, p being the number of poolings before its deepest layer (16 for
 * relu5_1); a smaller one is refused with a message that names it.
 *
 * Losses, on the image x in RGB 0..1:
 *   content = sum over content layers l of mean((F_l(x) - F_l(content))^2)
 *   style   = sum over style layers l of mean((G_l(x) - T_l)^2), where
 *             G_l = F F^T / (C*H*W) of the layer's features [C, H*W] and
 *             T_l = sum_i w_i G_l(style_i), w the blend weights summing to 1
 *   tv      = sum of squared differences between neighbouring pixels of x,
 *             across and down
 *   total   = content_weight * content + style_weight * style
 *             + tv_weight * tv
 * clg_style_losses reports content, style and tv before their weights.
 *
 * Input convention. VGG weights expect their input in one of two forms,
 * named by the metadata key "input_convention" of the weights file, which
 * clg_style_vgg_load() copies onto the module:
 *   "torchvision" (also when the key is absent): RGB in 0..1, minus
 *       [0.485, 0.456, 0.406], divided by [0.229, 0.224, 0.225];
 *   "caffe": BGR in 0..255 minus [103.939, 116.779, 123.68], as the
 *       Caffe VGG-19 that neural-style uses.
 * The style object applies the conversion itself as a fixed 1x1
 * convolution, so give it a VGG made with normalize_input 0 (one made with
 * normalize_input 1 is accepted for the torchvision convention only).
 *
 * Optimisers. L-BFGS runs through liblbfgs (its More-Thuente line search,
 * lbfgs_num_correction pairs of history, no stopping test but a zero
 * gradient): the vector x and the gradient are on the host in double
 * precision; every evaluation uploads x, runs forward and backward on the
 * device and downloads the gradient. Its line search may evaluate more
 * than once per iteration; one that can no longer lower the loss (float
 * rounding near a minimum) ends the run cleanly as CLG_STYLE_STALLED with
 * the best image kept. Adam runs entirely on the device (clg_adam_step).
 * Either way, a loss or gradient of exactly zero ends the run as
 * CLG_STYLE_CONVERGED, and a loss or gradient that is not finite stops it
 * with CLG_ERR_NUMERIC naming the iteration. The image is not clamped to
 * [0, 1] while it is optimised; saving it as PNG clamps.
 *
 * Iterations are numbered from 0, the starting image; iteration k is the
 * image after k optimiser iterations. The callback of clg_style_run() sees
 * every one of them, 0 included, and may stop the run by returning
 * nonzero; clg_style_get_image() inside the callback gives that
 * iteration's image.
 *
 * Defaults. content_weight 1, style_weight 1e6 and tv_weight 1e-4 (on the
 * image in 0..1, with the terms normalised as above) were chosen on the
 * bundled demo, which has no trained weights and so runs seeded random VGG
 * filters (clg_style_vgg_load with no file): data/style/chelsea.png in the
 * texture of gravel.png at 128 pixels, 20 L-BFGS iterations from the
 * content. There the weighted style term falls from about 30 to below 0.2
 * while the content term rises to about 0.15, and the photo stays
 * recognisable under the texture; 1e5 leaves little texture.
 * With random filters, a random start barely brings the content back in
 * tens of iterations: start from the image. These are not neural-style's
 * numbers, which apply to Caffe's 0..255 scale, and trained weights give
 * terms of other sizes: with them, expect to tune style_weight. The tv term
 * is a sum, so it grows with the pixel count where the others do not.
 *
 * The style object borrows the VGG module (release the style first) and
 * freezes its parameters. The per-iteration path allocates only what the
 * autograd operations need, which the device's buffer pool serves.
 */

#include <stdint.h>

#include "clgan/image.h"
#include "clgan/models.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most content layers and the most style layers one problem may have. */
#define CLG_STYLE_MAX_LAYERS 16

typedef enum clg_style_optimizer { CLG_STYLE_LBFGS = 0, CLG_STYLE_ADAM } clg_style_optimizer;

typedef enum clg_style_init {
    CLG_STYLE_INIT_RANDOM = 0, /* white noise: each value uniform in [0, 1) from seed */
    CLG_STYLE_INIT_IMAGE       /* init_image when given, else the content */
} clg_style_init;

typedef struct clg_style_options {
    int image_size;                    /* 512; the result's longest side, 0 keeps the content's */
    double style_scale;                /* 1.0 */
    const double *style_blend_weights; /* NULL: equal; else one per style, normalised to sum 1 */
    double content_weight;             /* 1 */
    double style_weight;               /* 1e6 */
    double tv_weight;                  /* 1e-4 */
    const char *content_layers;        /* "relu4_2"; comma-separated VGG-19 layer names */
    const char *style_layers;          /* "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1" */
    int num_iterations;                /* 1000 */
    clg_style_optimizer optimizer;     /* CLG_STYLE_LBFGS */
    double learning_rate;              /* 0.02: Adam's step on the image in 0..1 (neural-style's
                                          10 on 0..255 would be 0.04) */
    double beta1;                      /* 0.99: Adam's, as neural-style; beta2 0.999, eps 1e-8 */
    int lbfgs_num_correction;          /* 100: L-BFGS's history (2 * this * pixels * 3 doubles) */
    clg_style_init init;               /* CLG_STYLE_INIT_RANDOM */
    const clg_image *init_image;       /* NULL; scaled to the result's size */
    uint64_t seed;                     /* 0; draws the random starting image */
    int original_colors;               /* 0; 1 keeps the content's colours (see get_image) */
} clg_style_options;

/* The loss terms at one image, before their weights, and the weighted total. */
typedef struct clg_style_losses {
    int iteration;
    double content, style, tv, total;
} clg_style_losses;

/* How a run ended. */
typedef enum clg_style_outcome {
    CLG_STYLE_FINISHED = 0, /* num_iterations done */
    CLG_STYLE_CONVERGED,    /* the loss or the gradient became exactly zero */
    CLG_STYLE_STALLED,      /* L-BFGS's line search found no lower loss; the best image is kept */
    CLG_STYLE_STOPPED       /* the callback asked to stop */
} clg_style_outcome;

typedef struct clg_style clg_style;

/* Called at every iteration of clg_style_run; return nonzero to stop. */
typedef int (*clg_style_callback)(clg_style *st, const clg_style_losses *losses, void *user);

void clg_style_options_defaults(clg_style_options *opt);

/*
 * VGG-19 features for style transfer. path: a safetensors file with
 * torchvision's keys (features.N.weight and .bias; other keys such as
 * classifier.* are ignored), its widths taken from features.0.weight (64,
 * or 64/d for a small network), its "input_convention" read from the
 * metadata. path NULL: random filters (Kaiming normal, zero biases) drawn
 * from seed, with a warning in the log; they synthesise texture but are no
 * substitute for trained weights. pool chooses max or average pooling.
 */
clg_status clg_style_vgg_load(clg_device *device, const char *path, clg_vgg_pool pool,
                              uint64_t seed, clg_module **out);

/*
 * Set up the problem: the targets from content and style_count styles, the
 * starting image from opt->init. vgg must stay alive until the release;
 * what opt's pointers point to is used during the call only.
 */
clg_status clg_style_create(clg_device *device, clg_module *vgg, const clg_image *content,
                            int style_count, const clg_image *styles, const clg_style_options *opt,
                            clg_style **out);
void clg_style_release(clg_style *st);

/* The size of the result (the content after scaling). */
void clg_style_size(const clg_style *st, int *width, int *height);

/* Replace the image being optimised by img (scaled to the result's size). */
clg_status clg_style_set_image(clg_style *st, const clg_image *img);

/* The image being optimised, 3 channels; with original_colors, the content's colours. */
clg_status clg_style_get_image(clg_style *st, clg_image *out);

/*
 * The losses at the current image, and their gradient with respect to it,
 * kept on the device and copied into grad (width*height*3 floats, C-H-W)
 * when grad is not NULL. losses->iteration is left as the run's counter.
 */
clg_status clg_style_evaluate(clg_style *st, clg_style_losses *losses, float *grad);

/* One Adam step on the device: evaluate (losses at the image before the step), then update. */
clg_status clg_style_adam_step(clg_style *st, clg_style_losses *losses);

/*
 * Run the optimiser for num_iterations from the current image, calling cb
 * (which may be NULL) at iterations 0, 1, ... The image is left at the
 * result; *outcome (may be NULL) tells why the run ended.
 */
clg_status clg_style_run(clg_style *st, clg_style_callback cb, void *user,
                         clg_style_outcome *outcome);

/* The last losses reported by clg_style_run or clg_style_adam_step. */
const clg_style_losses *clg_style_last_losses(const clg_style *st);

/*
 * Any image of 1 to 4 channels as 3-channel RGB (gray replicated, alpha
 * composited on white), scaled so that its longest side is longest_side
 * (0 keeps the size). out may be in.
 */
clg_status clg_style_prepare_image(const clg_image *in, int longest_side, clg_image *out);

/*
 * image with the colours of content (both RGB, the same size): each pixel
 * moves by the difference of their luminances (0.299 R + 0.587 G + 0.114 B),
 * which keeps content's chrominance (YUV's U and V) and image's luminance;
 * values are clamped to [0, 1]. out may be image.
 */
clg_status clg_style_original_colors(const clg_image *content, const clg_image *image,
                                     clg_image *out);

#ifdef __cplusplus
}
#endif

#endif
