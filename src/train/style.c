/* Style transfer: targets, the loss and its gradient on the device, Adam and L-BFGS drivers. */
#include "clgan/style.h"

#include <lbfgs.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TERMS (2 * CLG_STYLE_MAX_LAYERS + 1)
#define NAME_SIZE 16

enum { TERM_CONTENT, TERM_STYLE, TERM_TV };

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};
static const float caffe_mean_bgr[3] = {103.939f, 116.779f, 123.68f};
static const int vgg_pool_index[] = {4, 9, 18, 27, 36};

struct clg_style {
    clg_device *device;
    clg_module *vgg;
    clg_style_options opt; /* pointers cleared: what they point to is copied below */
    int width, height;
    size_t numel;      /* 3 * width * height */
    clg_image content; /* scaled, for the original colours */

    /* Layers: every distinct tap once, and where each loss term finds its own. */
    int n_content, n_style, n_taps;
    char taps[2 * CLG_STYLE_MAX_LAYERS][NAME_SIZE];
    const char *tap_names[2 * CLG_STYLE_MAX_LAYERS];
    int content_tap[CLG_STYLE_MAX_LAYERS], style_tap[CLG_STYLE_MAX_LAYERS];
    clg_var *content_target[CLG_STYLE_MAX_LAYERS], *style_target[CLG_STYLE_MAX_LAYERS];
    float scales[MAX_TERMS];

    clg_var *pre_weight, *pre_bias; /* the input convention as a 1x1 conv; NULL: none */
    clg_var *image;                 /* [1, 3, H, W], requires a gradient */
    clg_tape *tape;
    float *host; /* numel floats for uploads and downloads */

    clg_tensor *exp_avg, *exp_avg_sq, *square, *sum; /* Adam's moments; |g|^2 */
    int adam_steps;

    /* A run in progress. */
    clg_style_callback cb;
    void *user;
    int iteration; /* iterations done */
    int current;   /* the iteration an evaluation belongs to */
    int evaluations;
    const lbfgsfloatval_t *accepted; /* L-BFGS's point during its progress callback */
    clg_style_losses evaluated, last;
    clg_status failure;
    int stop;
    clg_style_outcome outcome;
};

void clg_style_options_defaults(clg_style_options *opt) {
    *opt = (clg_style_options){
        .image_size = 512,
        .style_scale = 1.0,
        .content_weight = 1.0,
        .style_weight = 1e6,
        .tv_weight = 1e-4,
        .content_layers = "relu4_2",
        .style_layers = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
        .num_iterations = 1000,
        .optimizer = CLG_STYLE_LBFGS,
        .learning_rate = 0.02,
        .beta1 = 0.99,
        .lbfgs_num_correction = 100,
        .init = CLG_STYLE_INIT_RANDOM,
    };
}

/* ---- Layers ---- */

/* Split a comma-separated list of VGG-19 layer names into names[*count]. */
static clg_status parse_layers(const char *list, const char *what, char (*names)[NAME_SIZE],
                               int *count) {
    const char *p = list ? list : "";

    *count = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (*count == CLG_STYLE_MAX_LAYERS)
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "more than %d %s layers",
                             CLG_STYLE_MAX_LAYERS, what);
        snprintf(names[*count], NAME_SIZE, "%.*s", (int)(len < NAME_SIZE ? len : NAME_SIZE - 1), p);
        if (len >= NAME_SIZE || clg_vgg19_layer_index(names[*count]) < 0)
            return clg_error(CLG_ERR_NOT_FOUND, "%s layer \"%.*s\" is not a VGG-19 layer", what,
                             (int)len, p);
        (*count)++;
        p += len + (p[len] == ',');
    }
    if (*count == 0) return clg_error(CLG_ERR_INVALID_ARGUMENT, "no %s layers", what);
    return CLG_OK;
}

/* The tap of name, added when new. */
static int tap_of(clg_style *st, const char *name) {
    for (int i = 0; i < st->n_taps; i++)
        if (!strcmp(st->taps[i], name)) return i;
    snprintf(st->taps[st->n_taps], NAME_SIZE, "%s", name);
    st->tap_names[st->n_taps] = st->taps[st->n_taps];
    return st->n_taps++;
}

static clg_status setup_layers(clg_style *st, const clg_style_options *opt) {
    char content[CLG_STYLE_MAX_LAYERS][NAME_SIZE], style[CLG_STYLE_MAX_LAYERS][NAME_SIZE];
    clg_status s = parse_layers(opt->content_layers, "content", content, &st->n_content);

    if (s == CLG_OK) s = parse_layers(opt->style_layers, "style", style, &st->n_style);
    if (s != CLG_OK) return s;
    for (int i = 0; i < st->n_content; i++) {
        st->content_tap[i] = tap_of(st, content[i]);
        st->scales[i] = (float)opt->content_weight;
    }
    for (int i = 0; i < st->n_style; i++) {
        st->style_tap[i] = tap_of(st, style[i]);
        st->scales[st->n_content + i] = (float)opt->style_weight;
    }
    st->scales[st->n_content + st->n_style] = (float)opt->tv_weight;
    return CLG_OK;
}

/* The smallest side an image needs for the deepest of names: 2 to the poolings before it. */
static int min_side(int count, const char *const *names) {
    int pools = 0;

    for (int i = 0; i < count; i++) {
        int index = clg_vgg19_layer_index(names[i]), p = 0;
        for (size_t k = 0; k < sizeof vgg_pool_index / sizeof *vgg_pool_index; k++)
            p += vgg_pool_index[k] <= index;
        pools = p > pools ? p : pools;
    }
    return 1 << pools;
}

static clg_status check_size(const clg_image *img, const char *what, int count,
                             const char *const *names) {
    int need = min_side(count, names);

    if (img->width >= need && img->height >= need) return CLG_OK;
    return clg_error(CLG_ERR_SHAPE,
                     "the %s is %dx%d after scaling; its layers need at least %d pixels on each "
                     "side",
                     what, img->width, img->height, need);
}

/* ---- The input convention ---- */

/* The 1x1 convolution that turns RGB 0..1 into what the VGG's weights expect. */
static clg_status setup_convention(clg_style *st) {
    const char *convention = clg_module_get_metadata(st->vgg, "input_convention");
    const char *normalizes = clg_module_get_metadata(st->vgg, "normalize_input");
    int caffe = convention && !strcmp(convention, "caffe"), vgg_does_it;
    float w[9] = {0}, b[3];
    clg_status s;

    if (convention && !caffe && strcmp(convention, "torchvision"))
        return clg_error(CLG_ERR_UNSUPPORTED, "input_convention \"%s\" is not torchvision or caffe",
                         convention);
    vgg_does_it = normalizes && !strcmp(normalizes, "1");
    if (vgg_does_it && caffe)
        return clg_error(
            CLG_ERR_INVALID_ARGUMENT,
            "the VGG normalises its input as torchvision, but its weights are Caffe's");
    if (vgg_does_it) return CLG_OK;
    for (int c = 0; c < 3; c++) {
        if (caffe) {
            w[c * 3 + (2 - c)] = 255.0f; /* output channel c (B, G, R) takes input 2 - c */
            b[c] = -caffe_mean_bgr[c];
        } else {
            w[c * 3 + c] = 1.0f / imagenet_std[c];
            b[c] = -imagenet_mean[c] / imagenet_std[c];
        }
    }
    s = clg_var_from_host(st->device, 4, (int[4]){3, 3, 1, 1}, w, 0, &st->pre_weight);
    return s == CLG_OK ? clg_var_from_host(st->device, 1, (int[1]){3}, b, 0, &st->pre_bias) : s;
}

static clg_status convert_input(clg_style *st, clg_tape *tape, clg_var *x, clg_var **out) {
    static const clg_conv2d_params p = {1, 0, CLG_PAD_ZEROS};

    if (!st->pre_weight) {
        *out = clg_var_retain(x);
        return CLG_OK;
    }
    return clg_ag_conv2d(tape, x, st->pre_weight, st->pre_bias, &p, out);
}

/* Features of a host image at count layers, without recording. */
static clg_status features_of(clg_style *st, const clg_image *img, int count,
                              const char *const *names, clg_var **outs) {
    clg_var *x = NULL, *converted = NULL;
    clg_status s =
        clg_var_from_host(st->device, 4, (int[4]){1, 3, img->height, img->width}, img->data, 0, &x);

    if (s == CLG_OK) s = convert_input(st, NULL, x, &converted);
    if (s == CLG_OK) s = clg_vgg19_features(st->vgg, NULL, converted, count, names, outs);
    clg_var_release(converted);
    clg_var_release(x);
    return s;
}

/* ---- Targets ---- */

static clg_status content_targets(clg_style *st) {
    const char *names[CLG_STYLE_MAX_LAYERS];

    for (int i = 0; i < st->n_content; i++) names[i] = st->tap_names[st->content_tap[i]];
    return features_of(st, &st->content, st->n_content, names, st->content_target);
}

/* target += weight * gram(features) for every style layer. */
static clg_status add_style_grams(clg_style *st, const clg_image *style, float weight,
                                  const char *const *names) {
    clg_var *f[CLG_STYLE_MAX_LAYERS] = {NULL};
    clg_status s = features_of(st, style, st->n_style, names, f);

    for (int i = 0; s == CLG_OK && i < st->n_style; i++) {
        clg_var *g = NULL;
        s = clg_ag_gram(NULL, f[i], &g);
        if (s == CLG_OK && !st->style_target[i]) {
            clg_tensor *t = NULL;
            s = clg_tensor_zeros(st->device, 3, clg_tensor_shape(clg_var_value(g)), &t);
            if (s == CLG_OK) s = clg_var_create(t, 0, &st->style_target[i]);
        }
        if (s == CLG_OK) s = clg_axpy(weight, clg_var_value(g), clg_var_value(st->style_target[i]));
        clg_var_release(g);
    }
    for (int i = 0; i < st->n_style; i++) clg_var_release(f[i]);
    return s;
}

static clg_status blend_weights(const clg_style_options *opt, int count, float *w) {
    double total = 0;

    for (int i = 0; i < count; i++) {
        double v = opt->style_blend_weights ? opt->style_blend_weights[i] : 1.0;
        if (!(v >= 0) || !isfinite(v))
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "style blend weight %d is %g", i + 1, v);
        total += v;
    }
    if (total <= 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "the style blend weights sum to zero");
    for (int i = 0; i < count; i++)
        w[i] = (float)((opt->style_blend_weights ? opt->style_blend_weights[i] : 1.0) / total);
    return CLG_OK;
}

static clg_status style_targets(clg_style *st, const clg_style_options *opt, int count,
                                const clg_image *styles) {
    int base = st->opt.image_size > 0 ? st->opt.image_size
                                      : (st->width > st->height ? st->width : st->height);
    int side = (int)ceil(st->opt.style_scale * base);
    const char *names[CLG_STYLE_MAX_LAYERS];
    float *w = malloc((size_t)count * sizeof *w);
    clg_status s = w ? blend_weights(opt, count, w)
                     : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    for (int i = 0; i < st->n_style; i++) names[i] = st->tap_names[st->style_tap[i]];
    for (int i = 0; s == CLG_OK && i < count; i++) {
        clg_image scaled = {0};
        char what[32];
        snprintf(what, sizeof what, "style image %d", i + 1);
        s = clg_style_prepare_image(&styles[i], side, &scaled);
        if (s == CLG_OK) s = check_size(&scaled, what, st->n_style, names);
        if (s == CLG_OK && w[i] > 0) s = add_style_grams(st, &scaled, w[i], names);
        clg_image_release(&scaled);
    }
    free(w);
    return s;
}

/* ---- Creation ---- */

static clg_status check_options(const clg_style_options *o, int style_count) {
    if (style_count < 1) return clg_error(CLG_ERR_INVALID_ARGUMENT, "no style image");
    if ((o->optimizer != CLG_STYLE_LBFGS && o->optimizer != CLG_STYLE_ADAM) ||
        (o->init != CLG_STYLE_INIT_RANDOM && o->init != CLG_STYLE_INIT_IMAGE))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown optimizer or init");
    if (o->image_size < 0 || !(o->style_scale > 0) || o->num_iterations < 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "image_size and num_iterations must be at least 0, style_scale above 0");
    if (!isfinite(o->content_weight) || !isfinite(o->style_weight) || !isfinite(o->tv_weight))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "a loss weight is not finite");
    if (o->optimizer == CLG_STYLE_ADAM && !(o->learning_rate > 0 && o->beta1 >= 0 && o->beta1 < 1))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "Adam needs learning_rate > 0, 0 <= beta1 < 1");
    if (o->optimizer == CLG_STYLE_LBFGS && o->lbfgs_num_correction < 1)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "lbfgs_num_correction must be at least 1");
    return CLG_OK;
}

static clg_status setup_image(clg_style *st) {
    clg_image noise = {0};
    clg_rng rng;
    clg_status s;

    st->numel = (size_t)3 * st->width * st->height;
    st->host = malloc(st->numel * sizeof *st->host);
    if (!st->host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    s = clg_var_from_host(st->device, 4, (int[4]){1, 3, st->height, st->width}, st->content.data, 1,
                          &st->image);
    if (s != CLG_OK || st->opt.init == CLG_STYLE_INIT_IMAGE) return s;

    clg_rng_seed(&rng, st->opt.seed);
    for (size_t i = 0; i < st->numel; i++) st->host[i] = clg_rng_uniform(&rng);
    noise = (clg_image){st->width, st->height, 3, st->host};
    return clg_style_set_image(st, &noise);
}

static clg_status setup(clg_style *st, const clg_image *content, int style_count,
                        const clg_image *styles, const clg_style_options *opt) {
    clg_status s = check_options(opt, style_count);

    if (s == CLG_OK) s = setup_layers(st, opt);
    if (s == CLG_OK) s = clg_style_prepare_image(content, opt->image_size, &st->content);
    if (s == CLG_OK) s = check_size(&st->content, "content", st->n_taps, st->tap_names);
    if (s != CLG_OK) return s;
    st->width = st->content.width;
    st->height = st->content.height;
    if ((size_t)st->width * st->height > (INT_MAX - 16) / 3)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "a %dx%d image is too large", st->width,
                         st->height);
    clg_module_set_requires_grad(st->vgg, 0);
    s = setup_convention(st);
    if (s == CLG_OK) s = content_targets(st);
    if (s == CLG_OK) s = style_targets(st, opt, style_count, styles);
    if (s == CLG_OK) s = clg_tape_create(&st->tape);
    if (s == CLG_OK) s = setup_image(st);
    if (s == CLG_OK && opt->init == CLG_STYLE_INIT_IMAGE && opt->init_image)
        s = clg_style_set_image(st, opt->init_image);
    return s;
}

clg_status clg_style_create(clg_device *device, clg_module *vgg, const clg_image *content,
                            int style_count, const clg_image *styles, const clg_style_options *opt,
                            clg_style **out) {
    clg_style *st = calloc(1, sizeof *st);
    clg_status s;

    *out = NULL;
    if (!st) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    st->device = device;
    st->vgg = vgg;
    st->opt = *opt;
    st->opt.content_layers = st->opt.style_layers = NULL;
    st->opt.style_blend_weights = NULL;
    st->opt.init_image = NULL;
    s = setup(st, content, style_count, styles, opt);
    if (s != CLG_OK) {
        clg_style_release(st);
        return s;
    }
    *out = st;
    return CLG_OK;
}

void clg_style_release(clg_style *st) {
    if (!st) return;
    for (int i = 0; i < CLG_STYLE_MAX_LAYERS; i++) {
        clg_var_release(st->content_target[i]);
        clg_var_release(st->style_target[i]);
    }
    clg_var_release(st->pre_weight);
    clg_var_release(st->pre_bias);
    clg_var_release(st->image);
    clg_tape_release(st->tape);
    clg_tensor_release(st->exp_avg);
    clg_tensor_release(st->exp_avg_sq);
    clg_tensor_release(st->square);
    clg_tensor_release(st->sum);
    clg_image_release(&st->content);
    free(st->host);
    free(st);
}

void clg_style_size(const clg_style *st, int *width, int *height) {
    *width = st->width;
    *height = st->height;
}

const clg_style_losses *clg_style_last_losses(const clg_style *st) {
    return &st->last;
}

/* ---- The image ---- */

clg_status clg_style_set_image(clg_style *st, const clg_image *img) {
    clg_image rgb = {0};
    clg_status s = clg_style_prepare_image(img, 0, &rgb);

    if (s == CLG_OK && (rgb.width != st->width || rgb.height != st->height))
        s = clg_image_resize(&rgb, st->width, st->height, &rgb);
    if (s == CLG_OK) s = clg_tensor_upload(clg_var_value(st->image), rgb.data, st->numel);
    clg_image_release(&rgb);
    return s;
}

clg_status clg_style_get_image(clg_style *st, clg_image *out) {
    clg_status s = clg_image_create(st->width, st->height, 3, out);

    if (s == CLG_OK && st->accepted)
        for (size_t i = 0; i < st->numel; i++) out->data[i] = (float)st->accepted[i];
    else if (s == CLG_OK)
        s = clg_tensor_download(clg_var_value(st->image), out->data, st->numel);
    if (s == CLG_OK && st->opt.original_colors)
        s = clg_style_original_colors(&st->content, out, out);
    if (s != CLG_OK) clg_image_release(out);
    return s;
}

/* ---- The loss and its gradient ---- */

static void release_vars(int count, clg_var **vars) {
    for (int i = 0; i < count; i++) {
        clg_var_release(vars[i]);
        vars[i] = NULL;
    }
}

static clg_status style_term(clg_style *st, clg_var *features, int i, clg_var **out) {
    clg_var *g = NULL;
    clg_status s = clg_ag_gram(st->tape, features, &g);

    if (s == CLG_OK) s = clg_ag_mse_loss(st->tape, g, st->style_target[i], out);
    clg_var_release(g);
    return s;
}

/* Record the forward pass and every loss term: content layers, style layers, tv. */
static clg_status forward(clg_style *st, clg_var **terms) {
    clg_var *x = NULL, *taps[2 * CLG_STYLE_MAX_LAYERS] = {NULL};
    int k = 0;
    clg_status s = convert_input(st, st->tape, st->image, &x);

    if (s == CLG_OK) s = clg_vgg19_features(st->vgg, st->tape, x, st->n_taps, st->tap_names, taps);
    for (int i = 0; s == CLG_OK && i < st->n_content; i++)
        s = clg_ag_mse_loss(st->tape, taps[st->content_tap[i]], st->content_target[i], &terms[k++]);
    for (int i = 0; s == CLG_OK && i < st->n_style; i++)
        s = style_term(st, taps[st->style_tap[i]], i, &terms[k++]);
    if (s == CLG_OK) s = clg_ag_tv_loss(st->tape, st->image, &terms[k]);
    release_vars(st->n_taps, taps);
    clg_var_release(x);
    return s;
}

static int term_kind(const clg_style *st, int i) {
    return i < st->n_content                 ? TERM_CONTENT
           : i < st->n_content + st->n_style ? TERM_STYLE
                                             : TERM_TV;
}

static const char *term_name(const clg_style *st, int i, char *buf, size_t size) {
    static const char *const kinds[] = {"content", "style", "tv"};
    int kind = term_kind(st, i);
    int tap = kind == TERM_CONTENT ? st->content_tap[i]
              : kind == TERM_STYLE ? st->style_tap[i - st->n_content]
                                   : -1;

    snprintf(buf, size, "%s loss%s%s", kinds[kind], tap >= 0 ? " at " : "",
             tap >= 0 ? st->tap_names[tap] : "");
    return buf;
}

/* Read the terms back, sum them by kind, and refuse a value that is not finite. */
static clg_status read_terms(clg_style *st, clg_var *const *terms, int count, clg_style_losses *l) {
    double sums[3] = {0, 0, 0};

    for (int i = 0; i < count; i++) {
        float v = 0.0f;
        char name[64];
        clg_status s = clg_tensor_download(clg_var_value(terms[i]), &v, 1);
        if (s != CLG_OK) return s;
        if (!isfinite(v))
            return clg_error(CLG_ERR_NUMERIC, "iteration %d: the %s is %g", st->current,
                             term_name(st, i, name, sizeof name), (double)v);
        sums[term_kind(st, i)] += v;
    }
    *l = (clg_style_losses){st->current, sums[TERM_CONTENT], sums[TERM_STYLE], sums[TERM_TV], 0};
    l->total = st->opt.content_weight * l->content + st->opt.style_weight * l->style +
               st->opt.tv_weight * l->tv;
    return CLG_OK;
}

/* Backward from the weighted terms; terms weighted zero are left out. */
static clg_status backward(clg_style *st, clg_var *const *terms, int count) {
    clg_var *used[MAX_TERMS];
    float scales[MAX_TERMS];
    int n = 0;

    for (int i = 0; i < count; i++) {
        if (st->scales[i] == 0.0f) continue;
        used[n] = terms[i];
        scales[n++] = st->scales[i];
    }
    clg_var_zero_grad(st->image);
    if (n == 0) {
        clg_tape_reset(st->tape);
        return CLG_OK;
    }
    return clg_tape_backward_many(st->tape, n, used, scales);
}

/* The gradient on the device; NULL when it is zero (nothing flowed back). */
static clg_tensor *device_gradient(const clg_style *st) {
    return clg_var_grad(st->image);
}

clg_status clg_style_evaluate(clg_style *st, clg_style_losses *losses, float *grad) {
    clg_var *terms[MAX_TERMS] = {NULL};
    int count = st->n_content + st->n_style + 1;
    clg_status s = forward(st, terms);

    if (s == CLG_OK) s = read_terms(st, terms, count, losses);
    if (s == CLG_OK) s = backward(st, terms, count);
    clg_tape_reset(st->tape);
    release_vars(count, terms);
    if (s != CLG_OK || !grad) return s;
    if (!device_gradient(st)) {
        memset(grad, 0, st->numel * sizeof *grad);
        return CLG_OK;
    }
    return clg_tensor_download(device_gradient(st), grad, st->numel);
}

/* ---- Adam ---- */

static clg_status ensure_adam(clg_style *st) {
    clg_tensor *value = clg_var_value(st->image);
    clg_status s = CLG_OK;

    if (st->exp_avg) return CLG_OK;
    s = clg_tensor_zeros(st->device, 4, clg_tensor_shape(value), &st->exp_avg);
    if (s == CLG_OK) s = clg_tensor_zeros(st->device, 4, clg_tensor_shape(value), &st->exp_avg_sq);
    if (s == CLG_OK) s = clg_tensor_create_like(value, &st->square);
    if (s == CLG_OK) s = clg_tensor_create(st->device, 1, (int[1]){1}, &st->sum);
    return s;
}

static clg_status adam_update(clg_style *st) {
    clg_adam_params p = {(float)st->opt.learning_rate, (float)st->opt.beta1, 0.999f, 1e-8f, 0.0f};
    clg_tensor *g = device_gradient(st);

    if (!g) return CLG_OK; /* a zero gradient: nothing to add to the moments' decay */
    return clg_adam_step(&p, ++st->adam_steps, clg_var_value(st->image), g, st->exp_avg,
                         st->exp_avg_sq);
}

clg_status clg_style_adam_step(clg_style *st, clg_style_losses *losses) {
    clg_status s = ensure_adam(st);

    st->current = st->iteration;
    if (s == CLG_OK) s = clg_style_evaluate(st, losses, NULL);
    if (s == CLG_OK) s = adam_update(st);
    if (s == CLG_OK) {
        st->last = *losses;
        st->iteration++;
    }
    return s;
}

/* The squared norm of the device gradient, with its iteration named when it is not finite. */
static clg_status gradient_norm2(clg_style *st, double *norm2) {
    clg_tensor *g = device_gradient(st);
    float v = 0.0f;
    clg_status s = CLG_OK;

    if (g) s = clg_mul(g, g, st->square);
    if (g && s == CLG_OK) s = clg_sum(st->square, st->sum);
    if (g && s == CLG_OK) s = clg_tensor_download(st->sum, &v, 1);
    if (s == CLG_OK && !isfinite(v))
        return clg_error(CLG_ERR_NUMERIC, "iteration %d: the gradient is not finite", st->current);
    *norm2 = v;
    return s;
}

static int report(clg_style *st, const clg_style_losses *l) {
    st->last = *l;
    return st->cb ? st->cb(st, l, st->user) : 0;
}

static clg_status run_adam(clg_style *st) {
    clg_status s = ensure_adam(st);

    for (st->iteration = 0; s == CLG_OK; st->iteration++) {
        clg_style_losses l;
        double norm2 = 0;
        st->current = st->iteration;
        s = clg_style_evaluate(st, &l, NULL);
        if (s == CLG_OK) s = gradient_norm2(st, &norm2);
        if (s != CLG_OK) break;
        if (report(st, &l))
            st->outcome = CLG_STYLE_STOPPED;
        else if (l.total == 0 || norm2 == 0)
            st->outcome = CLG_STYLE_CONVERGED;
        else if (st->iteration == st->opt.num_iterations)
            st->outcome = CLG_STYLE_FINISHED;
        else {
            s = adam_update(st);
            continue;
        }
        break;
    }
    return s;
}

/* ---- L-BFGS through liblbfgs ---- */

static lbfgsfloatval_t lbfgs_evaluate(void *instance, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                                      const int n, const lbfgsfloatval_t step) {
    clg_style *st = instance;
    clg_style_losses l;
    clg_status s;
    (void)step;

    /* After a failure or a stop, a zero gradient makes liblbfgs end at once. */
    memset(g, 0, (size_t)n * sizeof *g);
    if (st->failure != CLG_OK || st->stop) return st->evaluated.total;
    for (size_t i = 0; i < st->numel; i++) st->host[i] = (float)x[i];
    st->current = st->evaluations++ == 0 ? 0 : st->iteration + 1;
    s = clg_tensor_upload(clg_var_value(st->image), st->host, st->numel);
    if (s == CLG_OK) s = clg_style_evaluate(st, &l, st->host);
    for (size_t i = 0; s == CLG_OK && i < st->numel; i++) {
        if (!isfinite(st->host[i]))
            s = clg_error(CLG_ERR_NUMERIC, "iteration %d: the gradient is not finite", st->current);
        g[i] = st->host[i];
    }
    if (s != CLG_OK) {
        st->failure = s;
        memset(g, 0, (size_t)n * sizeof *g);
        return 0;
    }
    st->evaluated = l;
    if (st->current == 0 && (st->stop = report(st, &l)) != 0) memset(g, 0, (size_t)n * sizeof *g);
    return l.total;
}

static int lbfgs_progress(void *instance, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                          const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                          const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                          int ls) {
    clg_style *st = instance;
    clg_style_losses l = st->evaluated; /* the line search's last evaluation is the accepted x */
    int stop;
    (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)ls;

    st->iteration = k;
    if (st->failure != CLG_OK) return LBFGSERR_CANCELED;
    l.iteration = k;
    st->accepted = x;
    stop = report(st, &l);
    st->accepted = NULL;
    if (stop)
        st->outcome = CLG_STYLE_STOPPED;
    else if (l.total == 0)
        st->outcome = CLG_STYLE_CONVERGED;
    return stop || l.total == 0;
}

/* liblbfgs's line-search failures: the run ends with the best point so far. */
static const struct {
    int code;
    const char *why;
} lbfgs_stalls[] = {
    {LBFGSERR_ROUNDING_ERROR, "rounding errors prevent further progress"},
    {LBFGSERR_MINIMUMSTEP, "the step became smaller than the minimum"},
    {LBFGSERR_MAXIMUMSTEP, "the step became larger than the maximum"},
    {LBFGSERR_MAXIMUMLINESEARCH, "the line search reached its most evaluations"},
    {LBFGSERR_WIDTHTOOSMALL, "the interval of uncertainty became too small"},
    {LBFGSERR_INCREASEGRADIENT, "the search direction does not descend"},
    {LBFGSERR_INCORRECT_TMINMAX, "the line search's interval is inconsistent"},
    {LBFGSERR_OUTOFINTERVAL, "the step left the interval of uncertainty"},
};

/* What liblbfgs's return code means for the run. */
static clg_status lbfgs_outcome(clg_style *st, int ret) {
    if (st->failure != CLG_OK) return st->failure;
    if (st->stop) st->outcome = CLG_STYLE_STOPPED;
    if (st->stop || ret == 1) return CLG_OK; /* our progress callback stopped it */
    if (ret == LBFGS_SUCCESS || ret == LBFGS_ALREADY_MINIMIZED) {
        st->outcome = CLG_STYLE_CONVERGED;
        return CLG_OK;
    }
    if (ret == LBFGSERR_MAXIMUMITERATION) return CLG_OK;
    for (size_t i = 0; i < sizeof lbfgs_stalls / sizeof *lbfgs_stalls; i++) {
        if (ret != lbfgs_stalls[i].code) continue;
        st->outcome = CLG_STYLE_STALLED;
        clg_log(CLG_LOG_INFO,
                "L-BFGS ended after iteration %d: its line search found no lower "
                "loss (%s)",
                st->iteration, lbfgs_stalls[i].why);
        return CLG_OK;
    }
    if (ret == LBFGSERR_OUTOFMEMORY)
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "L-BFGS ran out of host memory");
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "liblbfgs refused to run (code %d)", ret);
}

static clg_status run_lbfgs(clg_style *st) {
    int n = (int)((st->numel + 15) / 16 * 16); /* liblbfgs may want a multiple of 16 */
    lbfgsfloatval_t *x = lbfgs_malloc(n), fx = 0;
    lbfgs_parameter_t p;
    clg_status s;
    int ret;

    if (!x) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for L-BFGS");
    s = clg_tensor_download(clg_var_value(st->image), st->host, st->numel);
    for (int i = 0; i < n; i++) x[i] = (size_t)i < st->numel ? st->host[i] : 0.0;
    lbfgs_parameter_init(&p);
    p.m = st->opt.lbfgs_num_correction;
    p.epsilon = 0; /* converged only at a gradient of exactly zero */
    p.max_iterations = st->opt.num_iterations;
    ret = s == CLG_OK ? lbfgs(n, x, &fx, lbfgs_evaluate, lbfgs_progress, st, &p) : 0;
    if (s == CLG_OK) s = lbfgs_outcome(st, ret);

    /* liblbfgs leaves the best point in x, which the device may not hold. */
    for (size_t i = 0; s == CLG_OK && i < st->numel; i++) st->host[i] = (float)x[i];
    if (s == CLG_OK) s = clg_tensor_upload(clg_var_value(st->image), st->host, st->numel);
    lbfgs_free(x);
    return s;
}

static clg_status evaluate_only(clg_style *st) {
    clg_style_losses l;
    clg_status s;

    st->current = 0;
    s = clg_style_evaluate(st, &l, NULL);
    if (s == CLG_OK && report(st, &l)) st->outcome = CLG_STYLE_STOPPED;
    return s;
}

clg_status clg_style_run(clg_style *st, clg_style_callback cb, void *user,
                         clg_style_outcome *outcome) {
    clg_status s = CLG_OK;

    st->cb = cb;
    st->user = user;
    st->iteration = st->evaluations = st->stop = 0;
    st->failure = CLG_OK;
    st->outcome = CLG_STYLE_FINISHED;
    st->adam_steps = 0; /* a run starts Adam afresh */
    if (st->exp_avg) s = clg_tensor_fill(st->exp_avg, 0.0f);
    if (s == CLG_OK && st->exp_avg_sq) s = clg_tensor_fill(st->exp_avg_sq, 0.0f);
    if (s == CLG_OK && st->opt.num_iterations == 0)
        s = evaluate_only(st);
    else if (s == CLG_OK && st->opt.optimizer == CLG_STYLE_ADAM)
        s = run_adam(st);
    else if (s == CLG_OK)
        s = run_lbfgs(st);
    st->cb = NULL;
    if (outcome) *outcome = st->outcome;
    return s;
}
