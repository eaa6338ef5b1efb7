/* Networks rebuilt from the architecture and options stored in a file's metadata. */
#include "models/internal.h"

#include <stdlib.h>
#include <string.h>

/* An integer option; absent keys keep *value, malformed ones fail. */
static clg_status meta_int(const clg_safetensors *st, const char *key, int *value) {
    const char *text = clg_safetensors_get_metadata(st, key);
    char *end;
    long v;

    if (!text) return CLG_OK;
    if (!strcmp(text, "True") || !strcmp(text, "true"))
        v = 1;
    else if (!strcmp(text, "False") || !strcmp(text, "false"))
        v = 0;
    else {
        v = strtol(text, &end, 10);
        if (end == text || *end)
            return clg_error(CLG_ERR_FORMAT, "metadata %s is \"%s\", not an integer", key, text);
    }
    *value = (int)v;
    return CLG_OK;
}

static clg_status meta_norm(const clg_safetensors *st, clg_norm_type *norm) {
    static const clg_norm_type norms[] = {CLG_NORM_INSTANCE, CLG_NORM_BATCH, CLG_NORM_NONE};
    const char *text = clg_safetensors_get_metadata(st, "norm");

    for (size_t i = 0; text && i < sizeof norms / sizeof *norms; i++)
        if (!strcmp(text, clgi_norm_name(norms[i]))) {
            *norm = norms[i];
            return CLG_OK;
        }
    return text ? clg_error(CLG_ERR_UNSUPPORTED, "norm \"%s\" is not instance, batch or none", text)
                : CLG_OK;
}

static clg_status make_generator(clg_device *device, const clg_safetensors *st, clg_module **out) {
    clg_resnet_generator_options opt;
    const char *pad = clg_safetensors_get_metadata(st, "padding_type");
    clg_status s;

    clg_resnet_generator_defaults(&opt);
    s = meta_int(st, "input_nc", &opt.input_nc);
    if (s == CLG_OK) s = meta_int(st, "output_nc", &opt.output_nc);
    if (s == CLG_OK) s = meta_int(st, "ngf", &opt.ngf);
    if (s == CLG_OK) s = meta_int(st, "n_blocks", &opt.n_blocks);
    if (s == CLG_OK) s = meta_int(st, "use_dropout", &opt.use_dropout);
    if (s == CLG_OK) s = meta_norm(st, &opt.norm);
    if (s == CLG_OK && pad && strcmp(pad, "reflect") && strcmp(pad, "zero"))
        s = clg_error(CLG_ERR_UNSUPPORTED, "padding_type \"%s\" is not reflect or zero", pad);
    opt.reflect = !pad || !strcmp(pad, "reflect");
    return s == CLG_OK ? clg_resnet_generator_create(device, &opt, out) : s;
}

static clg_status make_discriminator(clg_device *device, const clg_safetensors *st, int pixel,
                                     clg_module **out) {
    clg_nlayer_discriminator_options opt;
    clg_status s;

    clg_nlayer_discriminator_defaults(&opt);
    s = meta_int(st, "input_nc", &opt.input_nc);
    if (s == CLG_OK) s = meta_int(st, "ndf", &opt.ndf);
    if (s == CLG_OK) s = meta_int(st, "n_layers", &opt.n_layers);
    if (s == CLG_OK) s = meta_norm(st, &opt.norm);
    if (s != CLG_OK) return s;
    return pixel ? clg_pixel_discriminator_create(device, &opt, out)
                 : clg_nlayer_discriminator_create(device, &opt, out);
}

static clg_status make_vgg(clg_device *device, const clg_safetensors *st, clg_module **out) {
    clg_vgg19_options opt;
    const char *pool = clg_safetensors_get_metadata(st, "pool");
    clg_status s;

    clg_vgg19_defaults(&opt);
    s = meta_int(st, "channel_divisor", &opt.channel_divisor);
    if (s == CLG_OK) s = meta_int(st, "normalize_input", &opt.normalize_input);
    opt.pool = pool && !strcmp(pool, "avg") ? CLG_VGG_POOL_AVG : CLG_VGG_POOL_MAX;
    return s == CLG_OK ? clg_vgg19_create(device, &opt, out) : s;
}

clg_status clg_model_create_from_metadata(clg_device *device, const clg_safetensors *st,
                                          clg_module **out) {
    const char *arch = clg_safetensors_get_metadata(st, "arch");

    *out = NULL;
    if (!arch) return clg_error(CLG_ERR_FORMAT, "no \"arch\" in the metadata");
    if (!strcmp(arch, "resnet_generator")) return make_generator(device, st, out);
    if (!strcmp(arch, "nlayer_discriminator")) return make_discriminator(device, st, 0, out);
    if (!strcmp(arch, "pixel_discriminator")) return make_discriminator(device, st, 1, out);
    if (!strcmp(arch, "vgg19_features")) return make_vgg(device, st, out);
    return clg_error(CLG_ERR_UNSUPPORTED, "unknown architecture \"%s\"", arch);
}

clg_status clg_model_load_file(clg_device *device, const char *path, clg_module **out) {
    clg_safetensors *st = NULL;
    clg_status s = clg_safetensors_read(path, &st);

    *out = NULL;
    if (s == CLG_OK) s = clg_model_create_from_metadata(device, st, out);
    if (s == CLG_OK) s = clg_module_load_state(*out, st, NULL);
    if (s != CLG_OK && st) {
        char why[4096];
        strncpy(why, clg_last_error(), sizeof why - 1);
        why[sizeof why - 1] = '\0';
        clg_error(s, "%s: %s", path, why);
        clg_module_release(*out);
        *out = NULL;
    }
    clg_safetensors_release(st);
    return s;
}
