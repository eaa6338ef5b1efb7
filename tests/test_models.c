/* Networks: reference parameter names, initialisation, loading and saving, PyTorch goldens. */
#include "support.h"

#include "clgan/models.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_FILE "tests/golden/networks.safetensors"

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

static const char *param_name(clg_module *m, int i) {
    const char *name = NULL;
    CHECK(clg_module_param_at(m, i, &name, NULL));
    return name;
}

static void expect_shape(clg_module *m, const char *name, int d0, int d1, int d2, int d3) {
    clg_var *v = clg_module_find_param(m, name);
    char got[64], want[64];

    if (!v) fail_msg("no parameter %s", name);
    clg_tensor_shape_string(clg_var_value(v), got, sizeof got);
    if (d2)
        snprintf(want, sizeof want, "[%d, %d, %d, %d]", d0, d1, d2, d3);
    else
        snprintf(want, sizeof want, "[%d]", d0);
    assert_string_equal(got, want);
}

/* ---- Names ---- */

static clg_module *generator(int ngf, int n_blocks, clg_norm_type norm, uint64_t seed) {
    clg_resnet_generator_options opt;
    clg_module *g = NULL;

    clg_resnet_generator_defaults(&opt);
    opt.ngf = ngf;
    opt.n_blocks = n_blocks;
    opt.norm = norm;
    opt.init.seed = seed;
    CHECK(clg_resnet_generator_create(test_device(), &opt, &g));
    return g;
}

static void test_generator_names(void **state) {
    clg_module *g9 = generator(64, 9, CLG_NORM_INSTANCE, 0);
    clg_module *g6 = generator(64, 6, CLG_NORM_INSTANCE, 0);
    int n9 = clg_module_param_count(g9);
    (void)state;

    assert_int_equal(n9, 2 + 2 + 2 + 9 * 4 + 2 + 2 + 2);
    assert_string_equal(param_name(g9, 0), "model.1.weight");
    assert_string_equal(param_name(g9, 1), "model.1.bias");
    assert_string_equal(param_name(g9, 2), "model.4.weight");
    assert_string_equal(param_name(g9, 6), "model.10.conv_block.1.weight");
    assert_string_equal(param_name(g9, 8), "model.10.conv_block.5.weight");
    assert_string_equal(param_name(g9, n9 - 6), "model.19.weight");
    assert_string_equal(param_name(g9, n9 - 1), "model.26.bias");
    expect_shape(g9, "model.1.weight", 64, 3, 7, 7);
    expect_shape(g9, "model.7.weight", 256, 128, 3, 3);
    expect_shape(g9, "model.18.conv_block.5.weight", 256, 256, 3, 3);
    expect_shape(g9, "model.19.weight", 256, 128, 3, 3); /* ConvTranspose2d: [Cin, Cout, k, k] */
    expect_shape(g9, "model.22.weight", 128, 64, 3, 3);
    expect_shape(g9, "model.26.weight", 3, 64, 7, 7);
    expect_shape(g9, "model.26.bias", 3, 0, 0, 0);
    assert_int_equal(clg_module_param_numel(g9), 11378179); /* as the reference prints */
    assert_string_equal(clg_module_get_metadata(g9, "arch"), "resnet_generator");

    assert_int_equal(clg_module_param_count(g6), 2 + 2 + 2 + 6 * 4 + 2 + 2 + 2);
    assert_string_equal(param_name(g6, clg_module_param_count(g6) - 1), "model.23.bias");
    expect_shape(g6, "model.15.conv_block.1.weight", 256, 256, 3, 3);
    clg_module_release(g9);
    clg_module_release(g6);
}

static void test_batch_norm_generator_names(void **state) {
    clg_module *g = generator(8, 2, CLG_NORM_BATCH, 0);
    const char *name;
    clg_tensor *t;
    (void)state;

    /* Convs before BatchNorm2d lose their bias; the norms gain weight, bias and statistics. */
    assert_string_equal(param_name(g, 0), "model.1.weight");
    assert_string_equal(param_name(g, 1), "model.2.weight");
    assert_string_equal(param_name(g, 2), "model.2.bias");
    assert_null(clg_module_find_param(g, "model.1.bias"));
    CHECK(clg_module_state_at(g, 3, &name, &t));
    assert_string_equal(name, "model.2.running_mean");
    CHECK(clg_module_state_at(g, 4, &name, &t));
    assert_string_equal(name, "model.2.running_var");
    clg_module_release(g);
}

/* Norm "none" puts Identity layers in place and, as the reference, drops the biases. */
static void test_none_and_dropout_generator_names(void **state) {
    clg_resnet_generator_options opt;
    clg_module *g;
    (void)state;

    clg_resnet_generator_defaults(&opt);
    opt.ngf = 4;
    opt.n_blocks = 2;
    opt.norm = CLG_NORM_NONE;
    opt.use_dropout = 1;
    CHECK(clg_resnet_generator_create(test_device(), &opt, &g));
    assert_string_equal(param_name(g, 0), "model.1.weight");
    assert_string_equal(param_name(g, 1), "model.4.weight");
    assert_string_equal(param_name(g, 3), "model.10.conv_block.1.weight");
    assert_string_equal(param_name(g, 4), "model.10.conv_block.6.weight"); /* after Dropout */
    assert_string_equal(param_name(g, clg_module_param_count(g) - 1), "model.19.bias");
    assert_int_equal(clg_module_param_count(g), 3 + 2 * 2 + 2 + 2);
    assert_string_equal(clg_module_kind(clg_sequential_child(clg_sequential_child(g, 0), 2)),
                        "Identity");
    clg_module_release(g);
}

static void test_discriminator_names(void **state) {
    static const char *const want[] = {
        "model.0.weight", "model.0.bias",   "model.2.weight", "model.2.bias",    "model.5.weight",
        "model.5.bias",   "model.8.weight", "model.8.bias",   "model.11.weight", "model.11.bias"};
    clg_nlayer_discriminator_options opt;
    clg_module *d, *p;
    (void)state;

    clg_nlayer_discriminator_defaults(&opt);
    CHECK(clg_nlayer_discriminator_create(test_device(), &opt, &d));
    assert_int_equal(clg_module_param_count(d), 10);
    for (int i = 0; i < 10; i++) assert_string_equal(param_name(d, i), want[i]);
    expect_shape(d, "model.8.weight", 512, 256, 4, 4);
    expect_shape(d, "model.11.weight", 1, 512, 4, 4);
    assert_int_equal(clg_module_param_numel(d), 2764737);

    CHECK(clg_pixel_discriminator_create(test_device(), &opt, &p));
    assert_int_equal(clg_module_param_count(p), 6);
    assert_string_equal(param_name(p, 0), "net.0.weight");
    assert_string_equal(param_name(p, 5), "net.5.bias");
    clg_module_release(d);
    clg_module_release(p);
}

static void test_vgg_names_and_layers(void **state) {
    static const int convs[] = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};
    clg_vgg19_options opt;
    clg_module *vgg;
    char want[64];
    (void)state;

    clg_vgg19_defaults(&opt);
    CHECK(clg_vgg19_create(test_device(), &opt, &vgg));
    assert_int_equal(clg_module_param_count(vgg), 32);
    for (int i = 0; i < 16; i++) {
        snprintf(want, sizeof want, "features.%d.weight", convs[i]);
        assert_string_equal(param_name(vgg, 2 * i), want);
    }
    expect_shape(vgg, "features.34.weight", 512, 512, 3, 3);
    assert_int_equal(clg_module_param_numel(vgg), 20024384);
    assert_int_equal(clg_vgg19_layer_index("conv1_1"), 0);
    assert_int_equal(clg_vgg19_layer_index("relu1_1"), 1);
    assert_int_equal(clg_vgg19_layer_index("pool1"), 4);
    assert_int_equal(clg_vgg19_layer_index("relu3_1"), 11);
    assert_int_equal(clg_vgg19_layer_index("relu4_2"), 22);
    assert_int_equal(clg_vgg19_layer_index("relu5_1"), 29);
    assert_int_equal(clg_vgg19_layer_index("conv5_4"), 34);
    assert_int_equal(clg_vgg19_layer_index("pool5"), 36);
    assert_int_equal(clg_vgg19_layer_index("relu6_1"), -1);
    clg_module_release(vgg);
}

/* ---- Initialisation ---- */

static float *all_params(clg_module *m, size_t *count) {
    size_t total = clg_module_param_numel(m), at = 0;
    float *out = malloc(total * sizeof *out);

    assert_non_null(out);
    for (int i = 0; i < clg_module_param_count(m); i++) {
        clg_var *v;
        CHECK(clg_module_param_at(m, i, NULL, &v));
        CHECK(clg_tensor_download(clg_var_value(v), out + at, clg_tensor_numel(clg_var_value(v))));
        at += clg_tensor_numel(clg_var_value(v));
    }
    *count = total;
    return out;
}

static void test_init_is_deterministic(void **state) {
    clg_module *a = generator(8, 2, CLG_NORM_INSTANCE, 5),
               *b = generator(8, 2, CLG_NORM_INSTANCE, 5);
    clg_module *c = generator(8, 2, CLG_NORM_INSTANCE, 6);
    size_t n, n2;
    float *pa = all_params(a, &n), *pb = all_params(b, &n2), *pc;
    clg_tensor *w = clg_var_value(clg_module_find_param(a, "model.1.weight"));
    float *wv = test_download(w),
          *bias = test_download(clg_var_value(clg_module_find_param(a, "model.1.bias")));
    double sum = 0, sq = 0;
    size_t nw = clg_tensor_numel(w);
    (void)state;

    assert_int_equal(n, n2);
    assert_memory_equal(pa, pb, n * sizeof *pa);
    pc = all_params(c, &n2);
    assert_true(memcmp(pa, pc, n * sizeof *pa) != 0);
    for (size_t i = 0; i < nw; i++) sum += wv[i], sq += (double)wv[i] * wv[i];
    assert_true(fabs(sum / nw) < 0.003);
    assert_true(fabs(sqrt(sq / nw) - 0.02) < 0.002);
    for (int i = 0; i < 8; i++) assert_true(bias[i] == 0.0f);

    free(pa);
    free(pb);
    free(pc);
    free(wv);
    free(bias);
    clg_module_release(a);
    clg_module_release(b);
    clg_module_release(c);
}

static void test_init_schemes(void **state) {
    clg_module *conv, *bn;
    float *w, *bw;
    double sq = 0;
    (void)state;

    /* Orthogonal: rows of the [6, 2*3*3] weight are orthonormal times the gain. */
    CHECK(clg_conv2d_create(test_device(), 2, 6, 3, 1, 1, 1, &conv));
    CHECK(clg_module_init_weights(conv, CLG_INIT_ORTHOGONAL, 1.5f, 3));
    w = test_download(clg_var_value(clg_module_find_param(conv, "weight")));
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            double dot = 0;
            for (int k = 0; k < 18; k++) dot += (double)w[i * 18 + k] * w[j * 18 + k];
            assert_true(fabs(dot - (i == j ? 2.25 : 0.0)) < 1e-4);
        }
    free(w);

    /* Kaiming: std sqrt(2 / fan_in); fan_in 2*3*3. */
    clg_module_release(conv);
    CHECK(clg_conv2d_create(test_device(), 2, 400, 3, 1, 1, 0, &conv));
    CHECK(clg_module_init_weights(conv, CLG_INIT_KAIMING, 0.02f, 3));
    w = test_download(clg_var_value(clg_module_find_param(conv, "weight")));
    for (int i = 0; i < 7200; i++) sq += (double)w[i] * w[i];
    assert_true(fabs(sqrt(sq / 7200) - sqrt(2.0 / 18)) < 0.02);
    free(w);

    /* BatchNorm: weight normal(1, gain), bias 0. */
    CHECK(clg_batch_norm2d_create(test_device(), 64, &bn));
    CHECK(clg_module_init_weights(bn, CLG_INIT_XAVIER, 0.02f, 3));
    bw = test_download(clg_var_value(clg_module_find_param(bn, "weight")));
    for (int i = 0; i < 64; i++) assert_true(fabsf(bw[i] - 1.0f) < 0.1f && bw[i] != 1.0f);
    free(bw);
    clg_module_release(conv);
    clg_module_release(bn);
}

/* ---- Loading and saving ---- */

static void test_load_reports_mismatches(void **state) {
    clg_module *g = generator(8, 3, CLG_NORM_INSTANCE, 1),
               *h = generator(4, 2, CLG_NORM_INSTANCE, 1);
    float *before, *after;
    size_t n;
    const char *msg;
    (void)state;

    before = all_params(g, &n);
    assert_int_equal(clg_module_load_state(g, golden, "resnet_g_instance.param."),
                     CLG_ERR_NOT_FOUND);
    msg = clg_last_error();
    assert_non_null(strstr(msg, "missing: resnet_g_instance.param.model.12.conv_block.1.weight"));
    assert_non_null(strstr(msg, "model.12.conv_block.5.bias"));
    after = all_params(g, &n);
    assert_memory_equal(before, after, n * sizeof *before); /* nothing loaded */

    assert_int_equal(clg_module_load_state(h, golden, "resnet_g_instance.param."), CLG_ERR_SHAPE);
    msg = clg_last_error();
    assert_non_null(strstr(msg, "resnet_g_instance.param.model.1.weight is [8, 3, 7, 7] in the "
                                "file but [4, 3, 7, 7] in the network"));
    free(before);
    free(after);
    clg_module_release(g);
    clg_module_release(h);
}

/* Old checkpoints: "module." prefixes and instance-norm statistics are accepted. */
static void test_load_old_checkpoint_keys(void **state) {
    clg_nlayer_discriminator_options opt;
    clg_safetensors *st;
    clg_module *d;
    float stats[16] = {0}, *got;
    size_t n;
    (void)state;

    clg_nlayer_discriminator_defaults(&opt);
    opt.ndf = 8;
    CHECK(clg_nlayer_discriminator_create(test_device(), &opt, &d));
    CHECK(clg_safetensors_create(&st));
    for (size_t i = 0; i < clg_safetensors_count(golden); i++) {
        const clg_safetensors_entry *e = clg_safetensors_get(golden, i);
        char name[256];
        if (strncmp(e->name, "nlayer_d.param.", 15)) continue;
        snprintf(name, sizeof name, "module.%s", e->name + 15);
        CHECK(clg_safetensors_add(st, name, e->ndim, e->shape, e->data));
    }
    CHECK(clg_safetensors_add(st, "model.3.running_mean", 1, (int64_t[]){16}, stats));
    CHECK(clg_safetensors_add(st, "model.3.running_var", 1, (int64_t[]){16}, stats));
    CHECK(clg_module_load_state(d, st, NULL));
    got = test_download(clg_var_value(clg_module_find_param(d, "model.11.weight")));
    n = clg_safetensors_find(golden, "nlayer_d.param.model.11.weight")->numel;
    assert_memory_equal(got, clg_safetensors_find(golden, "nlayer_d.param.model.11.weight")->data,
                        n * sizeof *got);

    /* The same statistics on a conv are an error. */
    CHECK(clg_safetensors_add(st, "model.2.running_var", 1, (int64_t[]){16}, stats));
    assert_int_equal(clg_module_load_state(d, st, NULL), CLG_ERR_NOT_FOUND);
    assert_non_null(strstr(clg_last_error(), "unexpected: model.2.running_var"));
    free(got);
    clg_safetensors_release(st);
    clg_module_release(d);
}

static void test_save_and_load_round_trip(void **state) {
    const char *dir = test_scratch_dir("models-save");
    char path[4200];
    clg_module *g = generator(4, 1, CLG_NORM_BATCH, 3), *back;
    float *a, *b;
    size_t n, n2;
    clg_var *x, *y;
    float data[2 * 3 * 8 * 8];
    (void)state;

    /* Move the running statistics, then save. */
    test_fill_uniform(data, 384, 4, -1, 1);
    CHECK(clg_var_from_host(test_device(), 4, (int[]){2, 3, 8, 8}, data, 0, &x));
    CHECK(clg_module_forward(g, NULL, x, &y));
    snprintf(path, sizeof path, "%s/g.safetensors", dir);
    CHECK(clg_module_save_file(g, path));
    CHECK(clg_model_load_file(test_device(), path, &back));
    assert_string_equal(clg_module_get_metadata(back, "norm"), "batch");
    assert_string_equal(clg_module_get_metadata(back, "n_blocks"), "1");
    assert_int_equal(clg_module_state_count(back), clg_module_state_count(g));
    for (int i = 0; i < clg_module_state_count(g); i++) {
        const char *na, *nb;
        clg_tensor *ta, *tb;
        CHECK(clg_module_state_at(g, i, &na, &ta));
        CHECK(clg_module_state_at(back, i, &nb, &tb));
        assert_string_equal(na, nb);
        a = test_download(ta);
        b = test_download(tb);
        assert_memory_equal(a, b, clg_tensor_numel(ta) * sizeof *a);
        free(a);
        free(b);
    }
    a = all_params(g, &n);
    b = all_params(back, &n2);
    assert_int_equal(n, n2);
    free(a);
    free(b);
    clg_var_release(x);
    clg_var_release(y);
    clg_module_release(g);
    clg_module_release(back);
}

/* ---- PyTorch goldens ---- */

/* Largest |got - want| over the largest |want|: the error relative to the tensor's scale. */
static double scaled_error(const float *got, const float *want, size_t n) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        worst = d > worst ? d : worst;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    return scale > 0 ? worst / scale : worst;
}

typedef struct golden_errors {
    double y, dx, grad;
    char grad_key[128];
} golden_errors;

static const clg_safetensors_entry *golden_entry(const char *c, const char *name) {
    char key[512];
    const clg_safetensors_entry *e;

    snprintf(key, sizeof key, "%s.%s", c, name);
    e = clg_safetensors_find(golden, key);
    if (!e) fail_msg("golden tensor %s is missing", key);
    return e;
}

/* Compare t with golden c.name: rtol, plus atol as a fraction of the largest |want|. */
static double compare(const char *c, const char *name, const clg_tensor *t, double rtol,
                      double atol_scale) {
    const clg_safetensors_entry *e = golden_entry(c, name);
    float *got = test_download(t);
    double scale = 0, err;
    char what[256];

    assert_int_equal(e->numel, clg_tensor_numel(t));
    for (size_t i = 0; i < e->numel; i++)
        scale = fabs(e->data[i]) > scale ? fabs(e->data[i]) : scale;
    snprintf(what, sizeof what, "%s.%s", c, name);
    assert_floats_close(got, e->data, e->numel, rtol, atol_scale * scale, what);
    err = scaled_error(got, e->data, e->numel);
    free(got);
    return err;
}

static clg_var *golden_var(const char *c, const char *name, int requires_grad) {
    const clg_safetensors_entry *e = golden_entry(c, name);
    int shape[4];
    clg_var *v;

    for (int i = 0; i < e->ndim; i++) shape[i] = (int)e->shape[i];
    CHECK(clg_var_from_host(test_device(), e->ndim, shape, e->data, requires_grad, &v));
    return v;
}

static int is_cancelled(const cJSON *meta, const char *key) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(meta, "cancelled_bias_keys"), *item;
    cJSON_ArrayForEach(item, list) if (!strcmp(item->valuestring, key)) return 1;
    return 0;
}

static clg_module *golden_network(const cJSON *meta) {
    const char *arch = cJSON_GetObjectItemCaseSensitive(meta, "arch")->valuestring;
    const char *norm = cJSON_GetObjectItemCaseSensitive(meta, "norm")->valuestring;
    clg_norm_type nt = !strcmp(norm, "batch") ? CLG_NORM_BATCH : CLG_NORM_INSTANCE;
    clg_nlayer_discriminator_options d;
    clg_module *m = NULL;

#define META_INT(key) cJSON_GetObjectItemCaseSensitive(meta, key)->valueint
    if (!strcmp(arch, "resnet_generator"))
        return generator(META_INT("ngf"), META_INT("n_blocks"), nt, 0);
    clg_nlayer_discriminator_defaults(&d);
    d.ndf = META_INT("ndf");
    d.norm = nt;
    if (!strcmp(arch, "pixel_discriminator")) {
        CHECK(clg_pixel_discriminator_create(test_device(), &d, &m));
        return m;
    }
    d.n_layers = META_INT("n_layers");
    CHECK(clg_nlayer_discriminator_create(test_device(), &d, &m));
#undef META_INT
    return m;
}

/* Parameter gradients against the golden; cancelled biases only need to be tiny. */
static void compare_grads(const char *c, const cJSON *meta, clg_module *m, golden_errors *err) {
    for (int i = 0; i < clg_module_param_count(m); i++) {
        const char *name;
        clg_var *v;
        char key[256];
        double e;
        CHECK(clg_module_param_at(m, i, &name, &v));
        snprintf(key, sizeof key, "grad.%s", name);
        assert_non_null(clg_var_grad(v));
        if (is_cancelled(meta, name)) {
            float *g = test_download(clg_var_grad(v));
            for (size_t k = 0; k < clg_tensor_numel(clg_var_value(v)); k++)
                if (fabsf(g[k]) > 1e-3f) fail_msg("%s.%s[%zu] = %g, want ~0", c, key, k, g[k]);
            free(g);
            continue;
        }
        e = compare(c, key, clg_var_grad(v), 1e-4, 1e-5);
        if (e > err->grad) {
            err->grad = e;
            snprintf(err->grad_key, sizeof err->grad_key, "%s", name);
        }
    }
}

static void compare_buffers(const char *c, const cJSON *meta, clg_module *m) {
    const cJSON *item;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(meta, "buffer_keys")) {
        char key[256];
        for (int i = 0; i < clg_module_state_count(m); i++) {
            const char *name;
            clg_tensor *t;
            CHECK(clg_module_state_at(m, i, &name, &t));
            if (strcmp(name, item->valuestring)) continue;
            snprintf(key, sizeof key, "buffer_after.%s", name);
            compare(c, key, t, 1e-4, 1e-5);
        }
    }
}

static void run_network_case(const char *c) {
    uint64_t live = clg_device_bytes_live(test_device());
    cJSON *meta = cJSON_Parse(clg_safetensors_get_metadata(golden, c));
    clg_module *m = golden_network(meta);
    clg_var *x = golden_var(c, "x", 1), *r = golden_var(c, "r", 0), *y, *p, *loss;
    golden_errors err = {0, 0, 0, ""};
    char prefix[128];
    clg_tape *tape;

    snprintf(prefix, sizeof prefix, "%s.param.", c);
    CHECK(clg_module_load_state(m, golden, prefix));
    CHECK(clg_tape_create(&tape));
    CHECK(clg_module_forward(m, tape, x, &y));
    err.y = compare(c, "y", clg_var_value(y), 1e-4, 1e-5);
    CHECK(clg_ag_mul(tape, y, r, &p));
    CHECK(clg_ag_sum(tape, p, &loss));
    CHECK(clg_tape_backward(tape, loss, 1.0f));
    err.dx = compare(c, "dx", clg_var_grad(x), 1e-4, 1e-5);
    compare_grads(c, meta, m, &err);
    compare_buffers(c, meta, m);
    printf("golden %-18s y %.2e  dx %.2e  worst grad %.2e (%s), errors over max |want|\n", c, err.y,
           err.dx, err.grad, err.grad_key);

    cJSON_Delete(meta);
    clg_var_release(x);
    clg_var_release(r);
    clg_var_release(y);
    clg_var_release(p);
    clg_var_release(loss);
    clg_tape_release(tape);
    clg_module_release(m);
    assert_int_equal(clg_device_bytes_live(test_device()), live); /* no device memory leaked */
}

static void test_golden_resnet_instance(void **state) {
    (void)state;
    run_network_case("resnet_g_instance");
}

static void test_golden_resnet_batch(void **state) {
    (void)state;
    run_network_case("resnet_g_batch");
}

static void test_golden_resnet_6blocks(void **state) {
    (void)state;
    run_network_case("resnet_6blocks");
}

static void test_golden_nlayer(void **state) {
    (void)state;
    run_network_case("nlayer_d");
}

static void test_golden_pixel(void **state) {
    (void)state;
    run_network_case("pixel_d");
}

static clg_module *golden_vgg(void) {
    clg_vgg19_options opt;
    clg_module *vgg;

    clg_vgg19_defaults(&opt);
    opt.channel_divisor = 16;
    CHECK(clg_vgg19_create(test_device(), &opt, &vgg));
    CHECK(clg_module_load_state(vgg, golden, "vgg19_tiny.param."));
    return vgg;
}

static void test_golden_vgg(void **state) {
    static const char *const taps[] = {"relu1_1", "relu2_1", "relu3_1",
                                       "relu4_1", "relu4_2", "relu5_1"};
    clg_module *vgg = golden_vgg();
    clg_var *x = golden_var("vgg19_tiny", "x", 1), *outs[6], *terms[6];
    float scales[6] = {1, 1, 1, 1, 1, 1};
    double worst = 0, dx;
    clg_tape *tape;
    (void)state;

    CHECK(clg_tape_create(&tape));
    CHECK(clg_vgg19_features(vgg, tape, x, 6, taps, outs));
    for (int i = 0; i < 6; i++) {
        char rname[32];
        clg_var *r, *p;
        double e = compare("vgg19_tiny", taps[i], clg_var_value(outs[i]), 1e-4, 1e-5);
        worst = e > worst ? e : worst;
        snprintf(rname, sizeof rname, "r_%s", taps[i]);
        r = golden_var("vgg19_tiny", rname, 0);
        CHECK(clg_ag_mul(tape, outs[i], r, &p));
        CHECK(clg_ag_sum(tape, p, &terms[i]));
        clg_var_release(r);
        clg_var_release(p);
    }
    CHECK(clg_tape_backward_many(tape, 6, terms, scales));
    dx = compare("vgg19_tiny", "dx", clg_var_grad(x), 1e-4, 1e-5);
    printf("golden %-18s taps %.2e  dx %.2e, errors over max |want|\n", "vgg19_tiny", worst, dx);
    for (int i = 0; i < 6; i++) {
        clg_var_release(outs[i]);
        clg_var_release(terms[i]);
    }
    clg_var_release(x);
    clg_tape_release(tape);
    clg_module_release(vgg);
}

/* The style-transfer loss through the VGG with its input normalisation, against PyTorch. */
static clg_var *style_total(clg_module *vgg, clg_tape *tape, clg_var *image, clg_var *content_f,
                            clg_var *const *style_g) {
    static const char *const layers[] = {"relu1_1", "relu2_1", "relu3_1",
                                         "relu4_1", "relu5_1", "relu4_2"};
    clg_var *f[6], *x, *total, *term, *sum;

    CHECK(clg_vgg19_normalize(tape, image, &x));
    CHECK(clg_vgg19_features(vgg, tape, x, 6, layers, f));
    CHECK(clg_ag_mse_loss(tape, f[5], content_f, &total));
    for (int i = 0; i < 5; i++) {
        clg_var *g, *l;
        CHECK(clg_ag_gram(tape, f[i], &g));
        CHECK(clg_ag_mse_loss(tape, g, style_g[i], &l));
        CHECK(clg_ag_scale(tape, l, 1e3f, &term));
        CHECK(clg_ag_add(tape, total, term, &sum));
        clg_var_release(g);
        clg_var_release(l);
        clg_var_release(term);
        clg_var_release(total);
        total = sum;
    }
    CHECK(clg_ag_tv_loss(tape, image, &term));
    CHECK(clg_ag_scale(tape, term, 1e-3f, &sum));
    clg_var_release(term);
    CHECK(clg_ag_add(tape, total, sum, &term));
    clg_var_release(total);
    clg_var_release(sum);
    for (int i = 0; i < 6; i++) clg_var_release(f[i]);
    clg_var_release(x);
    return term;
}

static void test_golden_style_transfer(void **state) {
    static const char *const layers[] = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
    const char *c = "style_transfer", *relu42 = "relu4_2";
    clg_module *vgg = golden_vgg();
    clg_var *content = golden_var(c, "content", 0), *image = golden_var(c, "image", 1);
    clg_var *cx, *content_f, *grams[5], *total;
    double e_loss, e_dx;
    clg_tape *tape;
    (void)state;

    CHECK(clg_vgg19_normalize(NULL, content, &cx));
    CHECK(clg_vgg19_features(vgg, NULL, cx, 1, &relu42, &content_f));
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "style_gram_%s", layers[i]);
        grams[i] = golden_var(c, name, 0);
    }
    CHECK(clg_tape_create(&tape));
    total = style_total(vgg, tape, image, content_f, grams);
    e_loss = compare(c, "total_loss", clg_var_value(total), 1e-4, 0);
    CHECK(clg_tape_backward(tape, total, 1.0f));
    e_dx = compare(c, "dimage", clg_var_grad(image), 1e-4, 1e-5);
    printf("golden %-18s loss %.2e  dimage %.2e, errors over max |want|\n", c, e_loss, e_dx);

    for (int i = 0; i < 5; i++) clg_var_release(grams[i]);
    clg_var_release(cx);
    clg_var_release(content_f);
    clg_var_release(content);
    clg_var_release(image);
    clg_var_release(total);
    clg_tape_release(tape);
    clg_module_release(vgg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generator_names),
        cmocka_unit_test(test_batch_norm_generator_names),
        cmocka_unit_test(test_none_and_dropout_generator_names),
        cmocka_unit_test(test_discriminator_names),
        cmocka_unit_test(test_vgg_names_and_layers),
        cmocka_unit_test(test_init_is_deterministic),
        cmocka_unit_test(test_init_schemes),
        cmocka_unit_test(test_load_reports_mismatches),
        cmocka_unit_test(test_load_old_checkpoint_keys),
        cmocka_unit_test(test_save_and_load_round_trip),
        cmocka_unit_test(test_golden_resnet_instance),
        cmocka_unit_test(test_golden_resnet_batch),
        cmocka_unit_test(test_golden_resnet_6blocks),
        cmocka_unit_test(test_golden_nlayer),
        cmocka_unit_test(test_golden_pixel),
        cmocka_unit_test(test_golden_vgg),
        cmocka_unit_test(test_golden_style_transfer),
    };
    return cmocka_run_group_tests(tests, read_golden, free_golden);
}
