/* Helpers shared by the network builders: appending layers to a Sequential, option text. */
#ifndef CLGAN_MODELS_INTERNAL_H
#define CLGAN_MODELS_INTERNAL_H

#include "clgan/models.h"

/* Appends layers to seq until a step fails; every later step is then skipped. */
typedef struct clgi_builder {
    clg_device *device;
    clg_module *seq;
    clg_status status;
} clgi_builder;

void clgi_build_add(clgi_builder *b, clg_status made, clg_module *layer);
void clgi_build_conv(clgi_builder *b, int cin, int cout, int k, int stride, int pad, int bias);
void clgi_build_convt(clgi_builder *b, int cin, int cout, int k, int stride, int pad, int out_pad,
                      int bias);
/* The reference's norm_layer: InstanceNorm2d (not affine), BatchNorm2d, or Identity. */
void clgi_build_norm(clgi_builder *b, clg_norm_type norm, int channels);
void clgi_build_relu(clgi_builder *b);
void clgi_build_leaky_relu(clgi_builder *b, float slope);

/*
 * A root module whose only child, named child_name, is a new Sequential that
 * *seq points to; forward runs the child. The root is what state_dict keys
 * start from ("model.1.weight").
 */
clg_status clgi_model_root(const char *child_name, clg_module **root, clg_module **seq);

/* Finish a network: init weights, then metadata; release it on any failure. */
clg_status clgi_model_finish(clg_module *root, clg_status status, const clg_init_options *init,
                             clg_module **out);

/* Metadata from a printf format. */
clg_status clgi_model_meta(clg_module *m, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

const char *clgi_norm_name(clg_norm_type norm);
const char *clgi_init_name(clg_init_type type);
/* Write the init options into metadata. */
clg_status clgi_model_meta_init(clg_module *m, const clg_init_options *init);

#endif
