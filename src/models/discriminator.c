/* The reference CycleGAN's discriminators: the n-layer PatchGAN and the 1x1 PixelGAN. */
#include "models/internal.h"

#define LEAK 0.2f

void clg_nlayer_discriminator_defaults(clg_nlayer_discriminator_options *opt) {
    *opt = (clg_nlayer_discriminator_options){
        .input_nc = 3,
        .ndf = 64,
        .n_layers = 3,
        .norm = CLG_NORM_INSTANCE,
        .init = {CLG_INIT_NORMAL, 0.02f, 0},
    };
}

static clg_status check_options(const clg_nlayer_discriminator_options *opt, int pixel) {
    if (opt->input_nc < 1 || opt->ndf < 1 || (!pixel && opt->n_layers < 1))
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "discriminator: input_nc %d, ndf %d, n_layers %d must be positive",
                         opt->input_nc, opt->ndf, opt->n_layers);
    return CLG_OK;
}

static int nf_mult_of(int n) {
    return n >= 3 ? 8 : 1 << n;
}

/* Conv k4 s2 + LeakyReLU, n_layers - 1 strided blocks, one of stride 1, then the 1-channel map. */
static void build_nlayer(clgi_builder *b, const clg_nlayer_discriminator_options *opt) {
    int ndf = opt->ndf, use_bias = opt->norm == CLG_NORM_INSTANCE, n = 1;

    clgi_build_conv(b, opt->input_nc, ndf, 4, 2, 1, 1);
    clgi_build_leaky_relu(b, LEAK);
    for (; n <= opt->n_layers; n++) {
        int stride = n < opt->n_layers ? 2 : 1;
        clgi_build_conv(b, ndf * nf_mult_of(n - 1), ndf * nf_mult_of(n), 4, stride, 1, use_bias);
        clgi_build_norm(b, opt->norm, ndf * nf_mult_of(n));
        clgi_build_leaky_relu(b, LEAK);
    }
    clgi_build_conv(b, ndf * nf_mult_of(opt->n_layers), 1, 4, 1, 1, 1);
}

static void build_pixel(clgi_builder *b, const clg_nlayer_discriminator_options *opt) {
    int ndf = opt->ndf, use_bias = opt->norm == CLG_NORM_INSTANCE;

    clgi_build_conv(b, opt->input_nc, ndf, 1, 1, 0, 1);
    clgi_build_leaky_relu(b, LEAK);
    clgi_build_conv(b, ndf, ndf * 2, 1, 1, 0, use_bias);
    clgi_build_norm(b, opt->norm, ndf * 2);
    clgi_build_leaky_relu(b, LEAK);
    clgi_build_conv(b, ndf * 2, 1, 1, 1, 0, use_bias);
}

static clg_status describe(clg_module *m, const clg_nlayer_discriminator_options *opt, int pixel) {
    clg_status s =
        clgi_model_meta(m, "arch", pixel ? "pixel_discriminator" : "nlayer_discriminator");

    if (s == CLG_OK) s = clgi_model_meta(m, "input_nc", "%d", opt->input_nc);
    if (s == CLG_OK) s = clgi_model_meta(m, "ndf", "%d", opt->ndf);
    if (s == CLG_OK && !pixel) s = clgi_model_meta(m, "n_layers", "%d", opt->n_layers);
    if (s == CLG_OK) s = clgi_model_meta(m, "norm", "%s", clgi_norm_name(opt->norm));
    return s;
}

static clg_status create(clg_device *device, const clg_nlayer_discriminator_options *opt, int pixel,
                         clg_module **out) {
    clgi_builder b = {device, NULL, check_options(opt, pixel)};
    clg_module *root = NULL;

    *out = NULL;
    if (b.status == CLG_OK) b.status = clgi_model_root(pixel ? "net" : "model", &root, &b.seq);
    if (b.status != CLG_OK) return b.status;
    if (pixel)
        build_pixel(&b, opt);
    else
        build_nlayer(&b, opt);
    if (b.status == CLG_OK) b.status = describe(root, opt, pixel);
    return clgi_model_finish(root, b.status, &opt->init, out);
}

clg_status clg_nlayer_discriminator_create(clg_device *device,
                                           const clg_nlayer_discriminator_options *opt,
                                           clg_module **out) {
    return create(device, opt, 0, out);
}

clg_status clg_pixel_discriminator_create(clg_device *device,
                                          const clg_nlayer_discriminator_options *opt,
                                          clg_module **out) {
    return create(device, opt, 1, out);
}
