/* Style transfer: the loss and gradient against PyTorch, inputs, conventions and short runs. */
#include "support.h"

#include "clgan/style.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_FILE "tests/golden/networks.safetensors"
#define CASE        "style_transfer"

static clg_safetensors *golden;

static int read_golden(void **state) {
    (void)state;
    golden = test_read_golden(GOLDEN_FILE);
    return golden ? 0 : -1;
}

static int free_golden(void **state) {
    (void)state;
    clg_safetensors_release(golden);
    return 0;
}

static const clg_safetensors_entry *entry(const char *name) {
    char key[128];
    const clg_safetensors_entry *e;

    snprintf(key, sizeof key, CASE ".%s", name);
    e = clg_safetensors_find(golden, key);
    if (!e) fail_msg("no %s in %s", key, GOLDEN_FILE);
    return e;
}

/* A golden [1, 3, H, W] tensor as an image (a copy). */
static clg_image golden_image(const char *name) {
    const clg_safetensors_entry *e = entry(name);
    clg_image img;

    CHECK(clg_image_create((int)e->shape[3], (int)e->shape[2], 3, &img));
    memcpy(img.data, e->data, e->numel * sizeof *img.data);
    return img;
}

static clg_image random_image(int w, int h, int channels, uint64_t seed) {
    clg_image img;
    CHECK(clg_image_create(w, h, channels, &img));
    test_fill_uniform(img.data, (size_t)w * h * channels, seed, 0.0f, 1.0f);
    return img;
}

/* The golden file's tiny VGG-19 (widths / 16) with torchvision's input convention. */
static clg_module *tiny_vgg(void) {
    clg_vgg19_options opt;
    clg_module *vgg;

    clg_vgg19_defaults(&opt);
    opt.channel_divisor = 16;
    CHECK(clg_vgg19_create(test_device(), &opt, &vgg));
    CHECK(clg_module_load_state(vgg, golden, "vgg19_tiny.param."));
    return vgg;
}

static clg_style_options options(double cw, double sw, double tw) {
    clg_style_options o;
    clg_style_options_defaults(&o);
    o.image_size = 0;
    o.content_weight = cw;
    o.style_weight = sw;
    o.tv_weight = tw;
    o.init = CLG_STYLE_INIT_IMAGE;
    return o;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

/* got against the golden scalar name within rtol; returns the relative error. */
static double expect_close(double got, const char *name, double rtol) {
    double want = entry(name)->data[0], err = fabs(got - want) / fabs(want);
    if (err > rtol)
        fail_msg("%s is %.9g, PyTorch's %.9g (relative error %.3g)", name, got, want, err);
    return err;
}

/* The largest |got - want| over the largest |want|. */
static double scaled_error(const float *got, const float *want, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)got[i] - want[i]));
    return worst / max_abs(want, n);
}

/* ---- Against PyTorch ---- */

/* Losses and the gradient with respect to the image, with the given weights, vs dimage_name. */
static void golden_case(double cw, double sw, double tw, const char *dimage_name) {
    clg_image content = golden_image("content"), style = golden_image("style");
    clg_image image = golden_image("image");
    const clg_safetensors_entry *want = entry(dimage_name);
    clg_style_options o = options(cw, sw, tw);
    clg_module *vgg = tiny_vgg();
    float *grad = malloc(want->numel * sizeof *grad);
    clg_style_losses l;
    clg_style *st;
    double err = 0;

    CHECK(clg_style_create(test_device(), vgg, &content, 1, &style, &o, &st));
    CHECK(clg_style_set_image(st, &image));
    CHECK(clg_style_evaluate(st, &l, grad));
    err = fmax(err, expect_close(l.content, "content_loss", 1e-3));
    err = fmax(err, expect_close(l.style, "style_loss", 1e-3));
    err = fmax(err, expect_close(l.tv, "tv_loss", 1e-3));
    if (cw == 1 && sw == 1e3 && tw == 1e-3)
        err = fmax(err, expect_close(l.total, "total_loss", 1e-3));
    assert_floats_close(grad, want->data, want->numel, 1e-3,
                        1e-4 * max_abs(want->data, want->numel), dimage_name);
    printf("golden %-15s losses within %.1e relative, gradient %.1e of its largest value\n",
           dimage_name, err, scaled_error(grad, want->data, want->numel));

    free(grad);
    clg_style_release(st);
    clg_module_release(vgg);
    clg_image_release(&content);
    clg_image_release(&style);
    clg_image_release(&image);
}

static void test_golden_total(void **state) {
    (void)state;
    golden_case(1.0, 1e3, 1e-3, "dimage");
}

static void test_golden_terms(void **state) {
    (void)state;
    golden_case(1.0, 0.0, 0.0, "dimage_content");
    golden_case(0.0, 1.0, 0.0, "dimage_style");
    golden_case(0.0, 0.0, 1.0, "dimage_tv");
}

/* ---- Input conventions, exactly: conv1_1 made the identity shows the converted input ---- */

static clg_module *identity_vgg(const char *convention) {
    clg_module *vgg = tiny_vgg();
    clg_var *w = clg_module_find_param(vgg, "features.0.weight");
    clg_var *b = clg_module_find_param(vgg, "features.0.bias");
    float weight[4 * 3 * 3 * 3] = {0}, bias[4] = {0};

    for (int c = 0; c < 3; c++) weight[(c * 3 + c) * 9 + 4] = 1.0f; /* centre tap, channel c */
    CHECK(clg_tensor_upload(clg_var_value(w), weight, 4 * 3 * 3 * 3));
    CHECK(clg_tensor_upload(clg_var_value(b), bias, 4));
    CHECK(clg_module_set_metadata(vgg, "input_convention", convention));
    return vgg;
}

/* What the VGG should see: 4 channels (the fourth zero) of converted input. */
static void convert(const clg_image *x, int caffe, float *out) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    static const float bgr_mean[3] = {103.939f, 116.779f, 123.68f};
    size_t plane = (size_t)x->width * x->height;

    memset(out + 3 * plane, 0, plane * sizeof *out);
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < plane; i++)
            out[c * plane + i] = caffe ? 255.0f * x->data[(2 - c) * plane + i] - bgr_mean[c]
                                       : (x->data[c * plane + i] - mean[c]) / std[c];
}

/* mse(gram(a), gram(b)) and mse(a, b) of [4, plane] features, in double. */
static void host_losses(const float *a, const float *b, size_t plane, double *style,
                        double *content) {
    double sum = 0;

    *content = 0;
    for (size_t i = 0; i < 4 * plane; i++) *content += (a[i] - b[i]) * (double)(a[i] - b[i]);
    *content /= 4.0 * plane;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            double ga = 0, gb = 0;
            for (size_t k = 0; k < plane; k++) {
                ga += (double)a[i * plane + k] * a[j * plane + k];
                gb += (double)b[i * plane + k] * b[j * plane + k];
            }
            sum += (ga - gb) * (ga - gb) / (16.0 * plane * plane);
        }
    *style = sum / 16.0;
}

static void check_convention(const char *convention, int caffe) {
    clg_image content = random_image(12, 10, 3, 1), style = random_image(12, 10, 3, 2);
    clg_image image = random_image(12, 10, 3, 3);
    size_t plane = 12 * 10;
    float *fx = malloc(4 * plane * sizeof *fx), *fc = malloc(4 * plane * sizeof *fc);
    float *fs = malloc(4 * plane * sizeof *fs);
    clg_module *vgg = identity_vgg(convention);
    clg_style_options o = options(1, 1, 0);
    double style_want, content_want, unused;
    clg_style_losses l;
    clg_style *st;

    o.content_layers = o.style_layers = "conv1_1";
    CHECK(clg_style_create(test_device(), vgg, &content, 1, &style, &o, &st));
    CHECK(clg_style_set_image(st, &image));
    CHECK(clg_style_evaluate(st, &l, NULL));
    convert(&image, caffe, fx);
    convert(&content, caffe, fc);
    convert(&style, caffe, fs);
    host_losses(fx, fc, plane, &unused, &content_want);
    host_losses(fx, fs, plane, &style_want, &unused);
    if (fabs(l.content - content_want) > 1e-4 * content_want ||
        fabs(l.style - style_want) > 1e-4 * style_want)
        fail_msg("%s: content %g style %g, want %g and %g", convention, l.content, l.style,
                 content_want, style_want);

    free(fx), free(fc), free(fs);
    clg_style_release(st);
    clg_module_release(vgg);
    clg_image_release(&content), clg_image_release(&style), clg_image_release(&image);
}

static void test_input_conventions(void **state) {
    (void)state;
    check_convention("torchvision", 0);
    check_convention("caffe", 1);
}

/* ---- Style images: alpha, other sizes, blends ---- */

static double style_loss_of(clg_module *vgg, const clg_image *content, int count,
                            const clg_image *styles, const clg_image *image, int *w, int *h) {
    clg_style_options o = options(1, 1, 1);
    clg_style_losses l;
    clg_style *st;

    CHECK(clg_style_create(test_device(), vgg, content, count, styles, &o, &st));
    CHECK(clg_style_set_image(st, image));
    CHECK(clg_style_evaluate(st, &l, NULL));
    if (w) clg_style_size(st, w, h);
    clg_style_release(st);
    assert_true(isfinite(l.style) && l.style > 0);
    return l.style;
}

static void test_alpha_style(void **state) {
    const char *path = NULL;
    clg_module *vgg = tiny_vgg();
    clg_image content = random_image(32, 32, 3, 4), image = random_image(32, 32, 3, 5);
    clg_image rgba = random_image(32, 32, 4, 6), loaded = {0}, clear, white;
    double a, b, c, d;
    char file[4200];
    (void)state;

    /* Through a PNG file with an alpha channel, and as a 4-channel image: the same target. */
    path = test_scratch_dir("style_alpha");
    snprintf(file, sizeof file, "%s/rgba.png", path);
    for (size_t i = 0; i < 32 * 32 * 4; i++) rgba.data[i] = roundf(rgba.data[i] * 255) / 255;
    CHECK(clg_image_save_png(file, &rgba));
    CHECK(clg_image_load(file, 3, &loaded));
    a = style_loss_of(vgg, &content, 1, &rgba, &image, NULL, NULL);
    b = style_loss_of(vgg, &content, 1, &loaded, &image, NULL, NULL);
    assert_true(fabs(a - b) <= 1e-4 * a);

    /* Fully transparent is white. */
    clear = random_image(32, 32, 4, 7);
    memset(clear.data + 3 * 32 * 32, 0, 32 * 32 * sizeof(float));
    white = random_image(32, 32, 3, 8);
    for (size_t i = 0; i < 3 * 32 * 32; i++) white.data[i] = 1.0f;
    c = style_loss_of(vgg, &content, 1, &clear, &image, NULL, NULL);
    d = style_loss_of(vgg, &content, 1, &white, &image, NULL, NULL);
    assert_true(fabs(c - d) <= 1e-5 * d);
    printf("alpha: file and 4-channel image agree (%.6g, %.6g); transparent is white\n", a, b);

    clg_image_release(&content), clg_image_release(&image), clg_image_release(&rgba);
    clg_image_release(&loaded), clg_image_release(&clear), clg_image_release(&white);
    clg_module_release(vgg);
}

static void test_sizes_and_blend(void **state) {
    clg_module *vgg = tiny_vgg();
    clg_image content = random_image(40, 20, 3, 9), image = random_image(40, 20, 3, 10);
    clg_image styles[2] = {random_image(57, 33, 1, 11), random_image(18, 31, 3, 12)};
    clg_style_options o = options(1, 1, 1);
    double blend[2] = {3, 1}, one, both;
    clg_style_losses l;
    clg_style *st;
    clg_image out;
    int w = 0, h = 0;
    (void)state;

    /* A gray style of another size; the result keeps the content's size. */
    one = style_loss_of(vgg, &content, 1, styles, &image, &w, &h);
    assert_int_equal(w, 40);
    assert_int_equal(h, 20);
    both = style_loss_of(vgg, &content, 2, styles, &image, NULL, NULL);
    assert_true(fabs(one - both) > 1e-6 * one);

    /* Blend weights 1, 0 are the first style alone. */
    o.style_blend_weights = (double[2]){1, 0};
    CHECK(clg_style_create(test_device(), vgg, &content, 2, styles, &o, &st));
    CHECK(clg_style_set_image(st, &image));
    CHECK(clg_style_evaluate(st, &l, NULL));
    assert_true(fabs(l.style - one) <= 1e-5 * one);
    clg_style_release(st);

    /* image_size scales the content; a blend of two styles; the result has the scaled size. */
    o.image_size = 32;
    o.style_blend_weights = blend;
    CHECK(clg_style_create(test_device(), vgg, &content, 2, styles, &o, &st));
    CHECK(clg_style_evaluate(st, &l, NULL));
    CHECK(clg_style_get_image(st, &out));
    assert_int_equal(out.width, 32);
    assert_int_equal(out.height, 16);
    assert_int_equal(out.channels, 3);
    clg_image_release(&out);
    clg_style_release(st);

    /* Too small for relu5_1 after scaling: refused, naming the image. */
    o.image_size = 24;
    assert_int_equal(clg_style_create(test_device(), vgg, &content, 2, styles, &o, &st),
                     CLG_ERR_SHAPE);
    assert_non_null(strstr(clg_last_error(), "content"));
    o.image_size = 0;
    o.style_layers = "relu1_1,relu9_9";
    assert_int_equal(clg_style_create(test_device(), vgg, &content, 2, styles, &o, &st),
                     CLG_ERR_NOT_FOUND);

    clg_image_release(&content), clg_image_release(&image);
    clg_image_release(&styles[0]), clg_image_release(&styles[1]);
    clg_module_release(vgg);
}

/* ---- Runs ---- */

typedef struct record {
    int count, last;
    double first, final;
} record;

static int on_iteration(clg_style *st, const clg_style_losses *l, void *user) {
    record *r = user;
    (void)st;
    assert_int_equal(l->iteration, r->count);
    if (r->count++ == 0) r->first = l->total;
    r->final = l->total;
    r->last = l->iteration;
    return 0;
}

static void short_run(clg_style_optimizer optimizer, const char *name) {
    clg_module *vgg = tiny_vgg();
    clg_image content = random_image(32, 32, 3, 13), style = random_image(32, 32, 3, 14);
    clg_style_options o = options(1, 1e3, 1e-3);
    clg_style_outcome outcome;
    record r = {0, 0, 0, 0};
    clg_style *st;

    o.optimizer = optimizer;
    o.num_iterations = 5;
    o.learning_rate = 0.01;
    CHECK(clg_style_create(test_device(), vgg, &content, 1, &style, &o, &st));
    CHECK(clg_style_run(st, on_iteration, &r, &outcome));
    printf("%s: total loss %.6g at iteration 0, %.6g at %d\n", name, r.first, r.final, r.last);
    assert_int_equal(r.last, 5);
    assert_int_equal(outcome, CLG_STYLE_FINISHED);
    assert_true(r.final < 0.9 * r.first);
    assert_true(clg_style_last_losses(st)->total == r.final);
    clg_style_release(st);
    clg_image_release(&content), clg_image_release(&style);
    clg_module_release(vgg);
}

static void test_short_runs_lower_the_loss(void **state) {
    (void)state;
    short_run(CLG_STYLE_LBFGS, "L-BFGS");
    short_run(CLG_STYLE_ADAM, "Adam");
}

/* The content alone, starting from it: a loss of zero ends at once as converged. */
static void test_zero_loss_converges(void **state) {
    clg_module *vgg = tiny_vgg();
    clg_image content = random_image(32, 32, 3, 15), style = random_image(32, 32, 3, 16);
    clg_style_options o = options(1, 0, 0);
    (void)state;

    for (int opt = CLG_STYLE_LBFGS; opt <= CLG_STYLE_ADAM; opt++) {
        clg_style_outcome outcome;
        record r = {0, 0, 0, 0};
        clg_style *st;
        o.optimizer = opt;
        CHECK(clg_style_create(test_device(), vgg, &content, 1, &style, &o, &st));
        CHECK(clg_style_run(st, on_iteration, &r, &outcome));
        assert_int_equal(outcome, CLG_STYLE_CONVERGED);
        assert_int_equal(r.count, 1);
        assert_true(r.final == 0.0);
        clg_style_release(st);
    }
    clg_image_release(&content), clg_image_release(&style);
    clg_module_release(vgg);
}

/* A NaN in the image stops the run with CLG_ERR_NUMERIC naming iteration 0. */
static void test_nan_stops(void **state) {
    clg_module *vgg = tiny_vgg();
    clg_image content = random_image(32, 32, 3, 17), style = random_image(32, 32, 3, 18);
    clg_style_options o = options(1, 1, 1);
    (void)state;

    for (int opt = CLG_STYLE_LBFGS; opt <= CLG_STYLE_ADAM; opt++) {
        clg_image bad = random_image(32, 32, 3, 19);
        clg_style *st;
        bad.data[100] = NAN;
        o.optimizer = opt;
        CHECK(clg_style_create(test_device(), vgg, &content, 1, &style, &o, &st));
        CHECK(clg_style_set_image(st, &bad));
        assert_int_equal(clg_style_run(st, NULL, NULL, NULL), CLG_ERR_NUMERIC);
        assert_non_null(strstr(clg_last_error(), "iteration 0"));
        clg_style_release(st);
        clg_image_release(&bad);
    }
    clg_image_release(&content), clg_image_release(&style);
    clg_module_release(vgg);
}

static void test_original_colors(void **state) {
    clg_image content = random_image(5, 4, 3, 20), image = random_image(5, 4, 3, 21), out;
    size_t plane = 20;
    (void)state;

    for (size_t i = 0; i < 3 * plane; i++) { /* keep away from the clamp */
        content.data[i] = 0.3f + 0.4f * content.data[i];
        image.data[i] = 0.3f + 0.4f * image.data[i];
    }
    CHECK(clg_style_original_colors(&content, &image, &out));
    for (size_t i = 0; i < plane; i++) {
        const float *c = content.data, *x = image.data, *o = out.data;
        double y_out = 0.299 * o[i] + 0.587 * o[plane + i] + 0.114 * o[2 * plane + i];
        double y_img = 0.299 * x[i] + 0.587 * x[plane + i] + 0.114 * x[2 * plane + i];
        assert_true(fabs(y_out - y_img) < 1e-6);
        assert_true(fabs((o[2 * plane + i] - o[i]) - (c[2 * plane + i] - c[i])) < 1e-6);
    }
    clg_image_release(&content), clg_image_release(&image), clg_image_release(&out);
}

/* ---- VGG weights from a file with torchvision's keys ---- */

/* The tiny VGG as torchvision names it, plus a classifier key to ignore; metadata optional. */
static void write_tiny_vgg(const char *path, const char *convention) {
    clg_safetensors *st;
    size_t prefix = strlen("vgg19_tiny.param.");
    int64_t shape[2] = {2, 2};
    float zeros[4] = {0};

    CHECK(clg_safetensors_create(&st));
    for (size_t i = 0; i < clg_safetensors_count(golden); i++) {
        const clg_safetensors_entry *e = clg_safetensors_get(golden, i);
        if (strncmp(e->name, "vgg19_tiny.param.", prefix)) continue;
        CHECK(clg_safetensors_add(st, e->name + prefix, e->ndim, e->shape, e->data));
    }
    CHECK(clg_safetensors_add(st, "classifier.0.weight", 2, shape, zeros));
    if (convention) CHECK(clg_safetensors_set_metadata(st, "input_convention", convention));
    CHECK(clg_safetensors_write(st, path));
    clg_safetensors_release(st);
}

static void test_vgg_load(void **state) {
    const char *dir = test_scratch_dir("style_vgg");
    char path[4200];
    clg_module *vgg = NULL, *want = tiny_vgg();
    (void)state;

    snprintf(path, sizeof path, "%s/vgg.safetensors", dir);
    write_tiny_vgg(path, "caffe");
    CHECK(clg_style_vgg_load(test_device(), path, CLG_VGG_POOL_AVG, 0, &vgg));
    assert_string_equal(clg_module_get_metadata(vgg, "input_convention"), "caffe");
    assert_string_equal(clg_module_get_metadata(vgg, "channel_divisor"), "16");
    assert_string_equal(clg_module_get_metadata(vgg, "pool"), "avg");
    for (int i = 0; i < clg_module_param_count(want); i++) {
        const char *name;
        clg_var *p;
        float *got, *expect;
        CHECK(clg_module_param_at(want, i, &name, &p));
        got = test_download(clg_var_value(clg_module_find_param(vgg, name)));
        expect = test_download(clg_var_value(p));
        assert_memory_equal(got, expect, clg_tensor_numel(clg_var_value(p)) * sizeof(float));
        free(got), free(expect);
    }
    clg_module_release(vgg);

    write_tiny_vgg(path, "bgr_0_255");
    assert_int_equal(clg_style_vgg_load(test_device(), path, CLG_VGG_POOL_MAX, 0, &vgg),
                     CLG_ERR_UNSUPPORTED);
    assert_non_null(strstr(clg_last_error(), path));
    write_tiny_vgg(path, NULL);
    CHECK(clg_style_vgg_load(test_device(), path, CLG_VGG_POOL_MAX, 0, &vgg));
    assert_string_equal(clg_module_get_metadata(vgg, "input_convention"), "torchvision");
    clg_module_release(vgg);
    clg_module_release(want);
}

int main(int argc, char **argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_total),
        cmocka_unit_test(test_golden_terms),
        cmocka_unit_test(test_input_conventions),
        cmocka_unit_test(test_alpha_style),
        cmocka_unit_test(test_sizes_and_blend),
        cmocka_unit_test(test_short_runs_lower_the_loss),
        cmocka_unit_test(test_zero_loss_converges),
        cmocka_unit_test(test_nan_stops),
        cmocka_unit_test(test_original_colors),
        cmocka_unit_test(test_vgg_load),
    };

    /* test_style_cli.sh asks for the tiny VGG as a weights file: --write-vgg PATH. */
    if (argc == 3 && !strcmp(argv[1], "--write-vgg")) {
        if (read_golden(NULL)) return 1;
        write_tiny_vgg(argv[2], NULL);
        free_golden(NULL);
        return 0;
    }
    return cmocka_run_group_tests(tests, read_golden, free_golden);
}
