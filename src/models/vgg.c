/* VGG-19 feature extractor laid out as torchvision's vgg19().features, with named taps. */
#include "models/internal.h"
#include "nn/internal.h"

#include <stdio.h>
#include <string.h>

#define VGG_LAYERS 37 /* features.0 ... features.36 */
#define POOL       0  /* in the width table: a pooling layer */

/* torchvision's configuration "E": widths of the 3x3 convolutions, POOL for 2x2 pooling. */
static const int vgg19_cfg[] = {64,  64,  POOL, 128, 128,  POOL, 256, 256, 256, 256, POOL,
                                512, 512, 512,  512, POOL, 512,  512, 512, 512, POOL};

static const float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
static const float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

void clg_vgg19_defaults(clg_vgg19_options *opt) {
    *opt = (clg_vgg19_options){
        .channel_divisor = 1,
        .pool = CLG_VGG_POOL_MAX,
        .normalize_input = 0,
        .init = {CLG_INIT_NORMAL, 0.02f, 0},
    };
}

/* The name of features[index]: convB_I, reluB_I or poolB. */
static void layer_name(int index, char *buf, size_t size) {
    int layer = 0, block = 1, conv = 0;

    for (size_t i = 0; i < sizeof vgg19_cfg / sizeof *vgg19_cfg; i++) {
        if (vgg19_cfg[i] == POOL) {
            if (layer == index) snprintf(buf, size, "pool%d", block);
            layer++, block++, conv = 0;
            continue;
        }
        conv++;
        if (layer == index) snprintf(buf, size, "conv%d_%d", block, conv);
        if (layer + 1 == index) snprintf(buf, size, "relu%d_%d", block, conv);
        layer += 2;
    }
}

int clg_vgg19_layer_index(const char *name) {
    char buf[32];

    for (int i = 0; i < VGG_LAYERS && name; i++) {
        layer_name(i, buf, sizeof buf);
        if (!strcmp(buf, name)) return i;
    }
    return -1;
}

/* ---- Normalisation: a fixed 1x1 convolution, diag(1/std) with bias -mean/std ---- */

clg_status clg_vgg19_normalize(clg_tape *tape, clg_var *x, clg_var **out) {
    clg_device *dev = clg_tensor_device(clg_var_value(x));
    clg_conv2d_params p = {1, 0, CLG_PAD_ZEROS};
    float w[9] = {0}, bias[3];
    clg_var *wv = NULL, *bv = NULL;
    clg_status s;

    *out = NULL;
    if (clg_tensor_ndim(clg_var_value(x)) != 4 || clg_tensor_dim(clg_var_value(x), 1) != 3)
        return clg_error(CLG_ERR_SHAPE, "VGG input normalisation needs [N, 3, H, W]");
    for (int c = 0; c < 3; c++) {
        w[c * 3 + c] = 1.0f / imagenet_std[c];
        bias[c] = -imagenet_mean[c] / imagenet_std[c];
    }
    s = clg_var_from_host(dev, 4, (int[4]){3, 3, 1, 1}, w, 0, &wv);
    if (s == CLG_OK) s = clg_var_from_host(dev, 1, (int[1]){3}, bias, 0, &bv);
    if (s == CLG_OK) s = clg_ag_conv2d(tape, x, wv, bv, &p, out);
    clg_var_release(wv);
    clg_var_release(bv);
    return s;
}

/* ---- The network ---- */

static int wants_normalize(const clg_module *vgg) {
    const char *v = clg_module_get_metadata(vgg, "normalize_input");
    return v && !strcmp(v, "1");
}

/* Run features[0..last] on x (normalised first if asked), keeping the wanted outputs. */
static clg_status run_features(clg_module *vgg, clg_tape *tape, clg_var *x, int last,
                               const int *wanted, clg_var **taps) {
    clg_module *features = clg_sequential_child(vgg, 0);
    clg_var *h = NULL;
    clg_status s = CLG_OK;

    if (wants_normalize(vgg))
        s = clg_vgg19_normalize(tape, x, &h);
    else
        h = clg_var_retain(x);
    for (int i = 0; i <= last && s == CLG_OK; i++) {
        clg_var *next = NULL;
        s = clg_module_forward(clg_sequential_child(features, i), tape, h, &next);
        clg_var_release(h);
        h = next;
        if (s == CLG_OK && wanted[i]) taps[i] = clg_var_retain(h);
    }
    clg_var_release(h);
    return s;
}

clg_status clg_vgg19_features(clg_module *vgg, clg_tape *tape, clg_var *x, int count,
                              const char *const *names, clg_var **outs) {
    clg_var *taps[VGG_LAYERS] = {NULL};
    int wanted[VGG_LAYERS] = {0}, last = -1;
    clg_status s;

    for (int i = 0; i < count; i++) {
        int index = clg_vgg19_layer_index(names[i]);
        outs[i] = NULL;
        if (index < 0)
            return clg_error(CLG_ERR_NOT_FOUND, "VGG-19 has no layer called \"%s\"", names[i]);
        wanted[index] = 1;
        if (index > last) last = index;
    }
    if (clg_sequential_length(vgg) != 1 ||
        clg_sequential_length(clg_sequential_child(vgg, 0)) != VGG_LAYERS)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "not a network made by clg_vgg19_create");
    s = run_features(vgg, tape, x, last, wanted, taps);
    for (int i = 0; i < count && s == CLG_OK; i++)
        outs[i] = clg_var_retain(taps[clg_vgg19_layer_index(names[i])]);
    for (int i = 0; i < VGG_LAYERS; i++) clg_var_release(taps[i]);
    return s;
}

/* ---- Creation ---- */

static clg_status vgg_forward(clg_module *m, clg_tape *tape, clg_var *x, clg_var **out) {
    const char *last = "pool5";
    return clg_vgg19_features(m, tape, x, 1, &last, out);
}

static const clgi_module_class vgg_class = {"VGG", vgg_forward};

static void build_features(clgi_builder *b, const clg_vgg19_options *opt) {
    int cin = 3;

    for (size_t i = 0; i < sizeof vgg19_cfg / sizeof *vgg19_cfg; i++) {
        clg_module *m = NULL;
        int width = vgg19_cfg[i] / opt->channel_divisor;
        if (vgg19_cfg[i] == POOL) {
            clg_status made = opt->pool == CLG_VGG_POOL_AVG ? clg_avg_pool2d_create(&m)
                                                            : clg_max_pool2d_create(&m);
            clgi_build_add(b, made, m);
            continue;
        }
        clgi_build_conv(b, cin, width, 3, 1, 1, 1);
        clgi_build_relu(b);
        cin = width;
    }
}

static clg_status describe(clg_module *m, const clg_vgg19_options *opt) {
    clg_status s = clgi_model_meta(m, "arch", "vgg19_features");

    if (s == CLG_OK) s = clgi_model_meta(m, "channel_divisor", "%d", opt->channel_divisor);
    if (s == CLG_OK)
        s = clgi_model_meta(m, "pool", "%s", opt->pool == CLG_VGG_POOL_AVG ? "avg" : "max");
    if (s == CLG_OK) s = clgi_model_meta(m, "normalize_input", "%d", opt->normalize_input != 0);
    return s;
}

clg_status clg_vgg19_create(clg_device *device, const clg_vgg19_options *opt, clg_module **out) {
    clgi_builder b = {device, NULL, CLG_OK};
    clg_module *root = NULL;

    *out = NULL;
    if (opt->channel_divisor < 1 || 64 % opt->channel_divisor)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "VGG-19 channel_divisor %d must divide 64",
                         opt->channel_divisor);
    b.status = clgi_module_new(&vgg_class, &root);
    if (b.status == CLG_OK) b.status = clg_sequential_create(&b.seq);
    if (b.status == CLG_OK) b.status = clg_sequential_append_named(root, "features", b.seq);
    if (b.status == CLG_OK) build_features(&b, opt);
    if (b.status == CLG_OK) b.status = describe(root, opt);
    return clgi_model_finish(root, b.status, &opt->init, out);
}
