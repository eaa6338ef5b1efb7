/* Network building blocks shared by the models: layer appending, roots, metadata. */
#include "models/internal.h"

#include <stdarg.h>
#include <stdio.h>

void clgi_build_add(clgi_builder *b, clg_status made, clg_module *layer) {
    if (b->status != CLG_OK) {
        clg_module_release(layer);
        return;
    }
    b->status = made != CLG_OK ? made : clg_sequential_append(b->seq, layer);
}

void clgi_build_conv(clgi_builder *b, int cin, int cout, int k, int stride, int pad, int bias) {
    clg_module *m = NULL;
    if (b->status != CLG_OK) return;
    clg_status made = clg_conv2d_create(b->device, cin, cout, k, stride, pad, bias, &m);
    clgi_build_add(b, made, m);
}

void clgi_build_convt(clgi_builder *b, int cin, int cout, int k, int stride, int pad, int out_pad,
                      int bias) {
    clg_module *m = NULL;
    if (b->status != CLG_OK) return;
    clg_status made =
        clg_conv_transpose2d_create(b->device, cin, cout, k, stride, pad, out_pad, bias, &m);
    clgi_build_add(b, made, m);
}

void clgi_build_norm(clgi_builder *b, clg_norm_type norm, int channels) {
    clg_module *m = NULL;
    clg_status s;

    if (b->status != CLG_OK) return;
    switch (norm) {
    case CLG_NORM_INSTANCE:
        s = clg_instance_norm2d_create(b->device, channels, 0, &m);
        break;
    case CLG_NORM_BATCH:
        s = clg_batch_norm2d_create(b->device, channels, &m);
        break;
    case CLG_NORM_NONE:
        s = clg_identity_create(&m);
        break;
    default:
        s = clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown norm type %d", (int)norm);
    }
    clgi_build_add(b, s, m);
}

void clgi_build_relu(clgi_builder *b) {
    clg_module *m = NULL;
    if (b->status != CLG_OK) return;
    clg_status made = clg_relu_create(&m);
    clgi_build_add(b, made, m);
}

void clgi_build_leaky_relu(clgi_builder *b, float slope) {
    clg_module *m = NULL;
    if (b->status != CLG_OK) return;
    clg_status made = clg_leaky_relu_create(slope, &m);
    clgi_build_add(b, made, m);
}

clg_status clgi_model_root(const char *child_name, clg_module **root, clg_module **seq) {
    clg_status s = clg_sequential_create(root);

    *seq = NULL;
    if (s == CLG_OK) s = clg_sequential_create(seq);
    if (s == CLG_OK) s = clg_sequential_append_named(*root, child_name, *seq);
    if (s != CLG_OK) {
        clg_module_release(*root);
        *root = *seq = NULL;
    }
    return s;
}

clg_status clgi_model_meta(clg_module *m, const char *key, const char *fmt, ...) {
    char value[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return clg_module_set_metadata(m, key, value);
}

const char *clgi_norm_name(clg_norm_type norm) {
    switch (norm) {
    case CLG_NORM_INSTANCE:
        return "instance";
    case CLG_NORM_BATCH:
        return "batch";
    case CLG_NORM_NONE:
        return "none";
    }
    return "unknown";
}

const char *clgi_init_name(clg_init_type type) {
    static const char *const names[] = {"normal", "xavier", "kaiming", "orthogonal"};
    return (int)type >= 0 && type <= CLG_INIT_ORTHOGONAL ? names[type] : "unknown";
}

clg_status clgi_model_meta_init(clg_module *m, const clg_init_options *init) {
    clg_status s = clgi_model_meta(m, "init_type", "%s", clgi_init_name(init->type));

    if (s == CLG_OK) s = clgi_model_meta(m, "init_gain", "%.9g", (double)init->gain);
    if (s == CLG_OK) s = clgi_model_meta(m, "seed", "%llu", (unsigned long long)init->seed);
    return s;
}

clg_status clgi_model_finish(clg_module *root, clg_status status, const clg_init_options *init,
                             clg_module **out) {
    if (status == CLG_OK)
        status = clg_module_init_weights(root, init->type, init->gain, init->seed);
    if (status == CLG_OK) status = clgi_model_meta_init(root, init);
    if (status != CLG_OK) {
        clg_module_release(root);
        root = NULL;
    }
    *out = root;
    return status;
}
