/* Style transfer's inputs: images made RGB and scaled, original colours, VGG-19 weights. */
#include "clgan/style.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const float luma[3] = {0.299f, 0.587f, 0.114f};

/* ---- Images ---- */

/* in (1 to 4 channels) as RGB in out (unset): gray replicated, alpha composited on white. */
static clg_status to_rgb(const clg_image *in, clg_image *out) {
    size_t plane = (size_t)in->width * in->height;
    int colour = in->channels >= 3, has_alpha = in->channels == 2 || in->channels == 4;
    const float *alpha = has_alpha ? in->data + plane * (in->channels - 1) : NULL;
    clg_status s;

    if (in->channels < 1 || in->channels > 4 || !in->data)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "an image of %d channels is not gray or colour",
                         in->channels);
    if ((s = clg_image_create(in->width, in->height, 3, out)) != CLG_OK) return s;
    for (int c = 0; c < 3; c++) {
        const float *src = in->data + plane * (colour ? c : 0);
        float *dst = out->data + plane * c;
        for (size_t i = 0; i < plane; i++)
            dst[i] = alpha ? src[i] * alpha[i] + (1.0f - alpha[i]) : src[i];
    }
    return CLG_OK;
}

clg_status clg_style_prepare_image(const clg_image *in, int longest_side, clg_image *out) {
    clg_image rgb = {0};
    int longest = in->width > in->height ? in->width : in->height;
    int w = in->width, h = in->height;
    clg_status s = to_rgb(in, &rgb);

    if (s == CLG_OK && longest_side > 0 && longest_side != longest) {
        double f = (double)longest_side / longest;
        w = in->width == longest ? longest_side : (int)lround(in->width * f);
        h = in->height == longest ? longest_side : (int)lround(in->height * f);
        s = clg_image_resize(&rgb, w < 1 ? 1 : w, h < 1 ? 1 : h, &rgb);
    }
    if (s != CLG_OK) {
        clg_image_release(&rgb);
        return s;
    }
    if (out == in) clg_image_release(out);
    *out = rgb;
    return CLG_OK;
}

clg_status clg_style_original_colors(const clg_image *content, const clg_image *image,
                                     clg_image *out) {
    size_t plane = (size_t)image->width * image->height;
    clg_image made;
    float *data;

    if (content->channels != 3 || image->channels != 3 || content->width != image->width ||
        content->height != image->height)
        return clg_error(CLG_ERR_SHAPE, "original colours need two RGB images of one size");
    data = malloc(plane * 3 * sizeof *data);
    if (!data) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    /* Luminance is linear with weights summing to 1: adding the same d to R, G and B moves Y by
     * d and keeps U and V. */
    for (size_t i = 0; i < plane; i++) {
        float d = 0.0f;
        for (int c = 0; c < 3; c++)
            d += luma[c] * (image->data[plane * c + i] - content->data[plane * c + i]);
        for (int c = 0; c < 3; c++)
            data[plane * c + i] = fminf(fmaxf(content->data[plane * c + i] + d, 0.0f), 1.0f);
    }
    made = (clg_image){image->width, image->height, 3, data};
    if (out == image) clg_image_release(out);
    *out = made;
    return CLG_OK;
}

/* ---- VGG-19 weights ---- */

static clg_status random_vgg(clg_device *device, clg_vgg_pool pool, uint64_t seed,
                             clg_module **out) {
    clg_vgg19_options opt;

    clg_vgg19_defaults(&opt);
    opt.pool = pool;
    opt.init = (clg_init_options){CLG_INIT_KAIMING, 1.0f, seed};
    clg_log(CLG_LOG_WARN,
            "VGG-19 with seeded random filters (seed %llu): they synthesise texture but are no "
            "substitute for trained weights",
            (unsigned long long)seed);
    return clg_vgg19_create(device, &opt, out);
}

/* The width divisor that features.0.weight's shape tells. */
static clg_status width_divisor(const clg_safetensors *st, const char *path, int *divisor) {
    const clg_safetensors_entry *e = clg_safetensors_find(st, "features.0.weight");

    if (!e)
        return clg_error(CLG_ERR_NOT_FOUND,
                         "%s: no features.0.weight; is it torchvision's VGG-19 (features.N.weight "
                         "and .bias)?",
                         path);
    if (e->ndim != 4 || e->shape[0] < 1 || 64 % e->shape[0] || e->shape[1] != 3)
        return clg_error(CLG_ERR_SHAPE, "%s: features.0.weight has an unexpected shape", path);
    *divisor = (int)(64 / e->shape[0]);
    return CLG_OK;
}

/* st's features.* tensors in a new collection, or st itself when it has nothing else. */
static clg_status features_only(const clg_safetensors *st, clg_safetensors **copy) {
    size_t n = clg_safetensors_count(st), kept = 0;
    clg_status s = CLG_OK;

    *copy = NULL;
    for (size_t i = 0; i < n; i++)
        kept += strncmp(clg_safetensors_get(st, i)->name, "features.", 9) == 0;
    if (kept == n) return CLG_OK;
    s = clg_safetensors_create(copy);
    for (size_t i = 0; s == CLG_OK && i < n; i++) {
        const clg_safetensors_entry *e = clg_safetensors_get(st, i);
        if (strncmp(e->name, "features.", 9)) continue;
        s = clg_safetensors_add(*copy, e->name, e->ndim, e->shape, e->data);
    }
    return s;
}

static clg_status read_convention(const clg_safetensors *st, const char *path,
                                  const char **convention) {
    const char *v = clg_safetensors_get_metadata(st, "input_convention");

    *convention = v ? v : "torchvision";
    if (!strcmp(*convention, "torchvision") || !strcmp(*convention, "caffe")) return CLG_OK;
    return clg_error(CLG_ERR_UNSUPPORTED,
                     "%s: input_convention \"%s\" is neither \"torchvision\" nor \"caffe\"", path,
                     v);
}

static clg_status load_vgg(clg_device *device, const char *path, const clg_safetensors *st,
                           clg_vgg_pool pool, clg_module **out) {
    clg_safetensors *copy = NULL;
    const char *convention = NULL;
    clg_vgg19_options opt;
    clg_status s;

    clg_vgg19_defaults(&opt);
    opt.pool = pool;
    s = read_convention(st, path, &convention);
    if (s == CLG_OK) s = width_divisor(st, path, &opt.channel_divisor);
    if (s == CLG_OK) s = features_only(st, &copy);
    if (s == CLG_OK) s = clg_vgg19_create(device, &opt, out);
    if (s == CLG_OK) s = clg_module_load_state(*out, copy ? copy : st, NULL);
    if (s == CLG_OK) s = clg_module_set_metadata(*out, "input_convention", convention);
    clg_safetensors_release(copy);
    return s;
}

clg_status clg_style_vgg_load(clg_device *device, const char *path, clg_vgg_pool pool,
                              uint64_t seed, clg_module **out) {
    clg_safetensors *st = NULL;
    clg_status s;

    *out = NULL;
    if (!path) return random_vgg(device, pool, seed, out);
    s = clg_safetensors_read(path, &st);
    if (s == CLG_OK) s = load_vgg(device, path, st, pool, out);
    if (s != CLG_OK && st && !strstr(clg_last_error(), path)) {
        char why[4096];
        snprintf(why, sizeof why, "%s", clg_last_error());
        clg_error(s, "%s: %s", path, why);
    }
    if (s != CLG_OK) {
        clg_module_release(*out);
        *out = NULL;
    }
    clg_safetensors_release(st);
    return s;
}
