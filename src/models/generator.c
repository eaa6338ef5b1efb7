/* The reference CycleGAN's ResNet generator (resnet_9blocks, resnet_6blocks, any n_blocks). */
#include "models/internal.h"

void clg_resnet_generator_defaults(clg_resnet_generator_options *opt) {
    *opt = (clg_resnet_generator_options){
        .input_nc = 3,
        .output_nc = 3,
        .ngf = 64,
        .n_blocks = 9,
        .norm = CLG_NORM_INSTANCE,
        .use_dropout = 0,
        .reflect = 1,
        .init = {CLG_INIT_NORMAL, 0.02f, 0},
    };
}

static clg_status check_options(const clg_resnet_generator_options *opt) {
    if (opt->input_nc < 1 || opt->output_nc < 1 || opt->ngf < 1 || opt->n_blocks < 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "resnet generator: input_nc %d, output_nc %d, ngf %d, n_blocks %d "
                         "(channels must be positive, n_blocks at least 0)",
                         opt->input_nc, opt->output_nc, opt->ngf, opt->n_blocks);
    return CLG_OK;
}

static void add_pad(clgi_builder *b, int pad) {
    clg_module *m = NULL;
    if (b->status != CLG_OK) return;
    clg_status made = clg_reflection_pad2d_create(pad, &m);
    clgi_build_add(b, made, m);
}

static void add_blocks(clgi_builder *b, const clg_resnet_generator_options *opt, int use_bias) {
    for (int i = 0; i < opt->n_blocks && b->status == CLG_OK; i++) {
        clg_module *m = NULL;
        uint64_t seed = opt->init.seed * 1000003u + (uint64_t)i + 1u; /* each block's dropout */
        clg_status s = clg_resnet_block_create(b->device, opt->ngf * 4, opt->norm, opt->use_dropout,
                                               use_bias, opt->reflect, seed, &m);
        clgi_build_add(b, s, m);
    }
}

/* Layers exactly as the reference, so Sequential indices (and keys) agree. */
static void build_layers(clgi_builder *b, const clg_resnet_generator_options *opt) {
    int ngf = opt->ngf, use_bias = opt->norm == CLG_NORM_INSTANCE;
    clg_module *m = NULL;

    add_pad(b, 3);
    clgi_build_conv(b, opt->input_nc, ngf, 7, 1, 0, use_bias);
    clgi_build_norm(b, opt->norm, ngf);
    clgi_build_relu(b);
    for (int mult = 1; mult <= 2; mult *= 2) { /* downsampling */
        clgi_build_conv(b, ngf * mult, ngf * mult * 2, 3, 2, 1, use_bias);
        clgi_build_norm(b, opt->norm, ngf * mult * 2);
        clgi_build_relu(b);
    }
    add_blocks(b, opt, use_bias);
    for (int mult = 4; mult >= 2; mult /= 2) { /* upsampling */
        clgi_build_convt(b, ngf * mult, ngf * mult / 2, 3, 2, 1, 1, use_bias);
        clgi_build_norm(b, opt->norm, ngf * mult / 2);
        clgi_build_relu(b);
    }
    add_pad(b, 3);
    clgi_build_conv(b, ngf, opt->output_nc, 7, 1, 0, 1);
    if (b->status == CLG_OK) {
        clg_status made = clg_tanh_create(&m);
        clgi_build_add(b, made, m);
    }
}

static clg_status describe(clg_module *m, const clg_resnet_generator_options *opt) {
    clg_status s = clgi_model_meta(m, "arch", "resnet_generator");

    if (s == CLG_OK) s = clgi_model_meta(m, "input_nc", "%d", opt->input_nc);
    if (s == CLG_OK) s = clgi_model_meta(m, "output_nc", "%d", opt->output_nc);
    if (s == CLG_OK) s = clgi_model_meta(m, "ngf", "%d", opt->ngf);
    if (s == CLG_OK) s = clgi_model_meta(m, "n_blocks", "%d", opt->n_blocks);
    if (s == CLG_OK) s = clgi_model_meta(m, "norm", "%s", clgi_norm_name(opt->norm));
    if (s == CLG_OK) s = clgi_model_meta(m, "use_dropout", "%d", opt->use_dropout != 0);
    if (s == CLG_OK)
        s = clgi_model_meta(m, "padding_type", "%s", opt->reflect ? "reflect" : "zero");
    return s;
}

clg_status clg_resnet_generator_create(clg_device *device, const clg_resnet_generator_options *opt,
                                       clg_module **out) {
    clgi_builder b = {device, NULL, check_options(opt)};
    clg_module *root = NULL;

    *out = NULL;
    if (b.status == CLG_OK) b.status = clgi_model_root("model", &root, &b.seq);
    if (b.status != CLG_OK) return b.status;
    build_layers(&b, opt);
    if (b.status == CLG_OK) b.status = describe(root, opt);
    return clgi_model_finish(root, b.status, &opt->init, out);
}
