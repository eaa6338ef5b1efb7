/* The CycleGAN trainer: PyTorch's losses, determinism, save and resume, NaN and translation. */
#include "support.h"

#include "clgan/report.h"
#include "clgan/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_FILE "tests/golden/cyclegan.safetensors"
#define SIDE        32
#define PIXELS      (3 * SIDE * SIDE)

static const int image_shape[4] = {1, 3, SIDE, SIDE};
static const char *const net_prefixes[4] = {"G_A.", "G_B.", "D_A.", "D_B."};

/* The golden file's loss names in our clg_cyclegan_loss order. */
static const char *const golden_loss_names[CLG_LOSS_COUNT] = {"D_A", "G_A", "cycle_A", "idt_A",
                                                              "D_B", "G_B", "cycle_B", "idt_B"};

/* The golden run's configuration: see tests/golden/README.md. */
static void small_options(clg_cyclegan_options *o, int pool_size, uint64_t seed) {
    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, o);
    o->input_nc = 3;
    o->output_nc = 3;
    o->ngf = 8;
    o->ndf = 8;
    o->netG = (clg_netg_type)2;
    o->netD = CLG_NETD_N_LAYERS;
    o->n_layers_D = 3;
    o->norm = CLG_NORM_INSTANCE;
    o->no_dropout = 1;
    o->gan_mode = CLG_GAN_LSGAN;
    o->lambda_A = 10.0;
    o->lambda_B = 10.0;
    o->lambda_identity = 0.5;
    o->lr = 2e-4;
    o->beta1 = 0.5;
    o->pool_size = pool_size;
    o->seed = seed;
}

static clg_cyclegan *new_trainer(int pool_size, uint64_t seed) {
    clg_cyclegan_options o;
    clg_cyclegan *cg = NULL;

    small_options(&o, pool_size, seed);
    CHECK(clg_cyclegan_create(test_device(), &o, &cg));
    return cg;
}

/* Images in [-1, 1] for step i of a run. */
static void fill_inputs(float *a, float *b, int step) {
    test_fill_uniform(a, PIXELS, 100 + 2 * step, -1.0f, 1.0f);
    test_fill_uniform(b, PIXELS, 101 + 2 * step, -1.0f, 1.0f);
}

static void run_steps(clg_cyclegan *cg, int first, int count, float losses[][CLG_LOSS_COUNT]) {
    static float a[PIXELS], b[PIXELS];
    for (int i = 0; i < count; i++) {
        fill_inputs(a, b, first + i);
        CHECK(clg_cyclegan_step(cg, image_shape, a, image_shape, b, losses[i]));
    }
}

/* ---- Golden: three iterations against PyTorch ---- */

static const float *golden_tensor(const clg_safetensors *st, const char *name, size_t numel) {
    const clg_safetensors_entry *e = clg_safetensors_find(st, name);
    if (!e) fail_msg("%s has no tensor %s", GOLDEN_FILE, name);
    if (e->numel != numel)
        fail_msg("%s: %s has %zu elements, want %zu", GOLDEN_FILE, name, e->numel, numel);
    return e->data;
}

/* Our visuals, back in [-1, 1], against the golden images of iteration i. */
static void compare_visuals(clg_cyclegan *cg, const clg_safetensors *st, int iter) {
    static const char *const names[] = {"fake_B", "rec_A", "fake_A", "rec_B", "idt_A", "idt_B"};
    char key[64];

    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        int index = -1;
        for (int v = 0; v < CLG_CYCLEGAN_VISUALS; v++)
            if (strcmp(clg_cyclegan_visual_names[v], names[n]) == 0) index = v;
        assert_true(index >= 0);

        clg_image img;
        CHECK(clg_cyclegan_visual(cg, index, &img));
        assert_int_equal(img.width * img.height * img.channels, PIXELS);
        for (int i = 0; i < PIXELS; i++) img.data[i] = img.data[i] * 2.0f - 1.0f;
        snprintf(key, sizeof key, "iter%d.%s", iter, names[n]);
        assert_floats_close(img.data, golden_tensor(st, key, PIXELS), PIXELS, 1e-3, 1e-4, key);
        clg_image_release(&img);
    }
}

static void test_golden_losses(void **state) {
    clg_safetensors *st = NULL;
    clg_cyclegan *cg = new_trainer(0, 1);
    float losses[CLG_LOSS_COUNT], want[CLG_LOSS_COUNT];
    char key[64];
    (void)state;

    CHECK(clg_safetensors_read(test_source_path(GOLDEN_FILE), &st));
    for (int n = 0; n < 4; n++)
        CHECK(clg_module_load_state(clg_cyclegan_net(cg, (clg_cyclegan_net_id)n), st,
                                    net_prefixes[n]));

    for (int iter = 0; iter < 3; iter++) {
        snprintf(key, sizeof key, "iter%d.real_A", iter);
        const float *a = golden_tensor(st, key, PIXELS);
        snprintf(key, sizeof key, "iter%d.real_B", iter);
        const float *b = golden_tensor(st, key, PIXELS);
        CHECK(clg_cyclegan_step(cg, image_shape, a, image_shape, b, losses));

        for (int l = 0; l < CLG_LOSS_COUNT; l++) {
            snprintf(key, sizeof key, "iter%d.loss_%s", iter, golden_loss_names[l]);
            want[l] = golden_tensor(st, key, 1)[0];
            print_message("iter %d %-8s %.7g (PyTorch %.7g)\n", iter, golden_loss_names[l],
                          (double)losses[l], (double)want[l]);
        }
        compare_visuals(cg, st, iter);
        snprintf(key, sizeof key, "iteration %d losses", iter);
        assert_floats_close(losses, want, CLG_LOSS_COUNT, 1e-3, 0.0, key);
    }
    assert_int_equal(clg_cyclegan_counters_of(cg)->iter, 3);
    clg_cyclegan_release(cg);
    clg_safetensors_release(st);
}

/* ---- Determinism ---- */

static void test_same_seed_same_losses(void **state) {
    float first[2][CLG_LOSS_COUNT], second[2][CLG_LOSS_COUNT];
    clg_cyclegan *cg;
    (void)state;

    cg = new_trainer(4, 7);
    run_steps(cg, 0, 2, first);
    clg_cyclegan_release(cg);
    cg = new_trainer(4, 7);
    run_steps(cg, 0, 2, second);
    clg_cyclegan_release(cg);

    for (int i = 0; i < 2; i++)
        for (int l = 0; l < CLG_LOSS_COUNT; l++) {
            if (first[i][l] != second[i][l])
                fail_msg("step %d loss %s: %.9g then %.9g", i + 1, golden_loss_names[l],
                         (double)first[i][l], (double)second[i][l]);
            assert_true(isfinite(first[i][l]));
        }
}

/* ---- Save and resume ---- */

static void test_save_resume(void **state) {
    const char *scratch = test_scratch_dir("cyclegan-resume");
    float before[2][CLG_LOSS_COUNT], want[2][CLG_LOSS_COUNT], got[2][CLG_LOSS_COUNT];
    char dir[4200];
    clg_cyclegan *cg;
    (void)state;

    snprintf(dir, sizeof dir, "%s", scratch);
    cg = new_trainer(4, 11);
    run_steps(cg, 0, 2, before);
    CHECK(clg_cyclegan_save(cg, dir, "latest", 1));
    run_steps(cg, 2, 2, want);
    clg_cyclegan_release(cg);

    /* A trainer seeded differently: everything that matters must come from the files. */
    cg = new_trainer(4, 99);
    CHECK(clg_cyclegan_resume(cg, dir, "latest"));
    assert_int_equal(clg_cyclegan_counters_of(cg)->iter, 2);
    run_steps(cg, 2, 2, got);
    assert_int_equal(clg_cyclegan_counters_of(cg)->iter, 4);
    clg_cyclegan_release(cg);

    assert_floats_close(got[0], want[0], CLG_LOSS_COUNT, 1e-6, 0.0, "first step after resume");
    assert_floats_close(got[1], want[1], CLG_LOSS_COUNT, 1e-6, 0.0, "second step after resume");
}

/* ---- Errors ---- */

static void test_nan_input(void **state) {
    static float a[PIXELS], b[PIXELS];
    float losses[CLG_LOSS_COUNT];
    clg_cyclegan *cg = new_trainer(0, 3);
    clg_status s;
    (void)state;

    fill_inputs(a, b, 0);
    for (int i = 0; i < PIXELS; i++) a[i] = NAN;
    s = clg_cyclegan_step(cg, image_shape, a, image_shape, b, losses);
    print_message("NaN input: %s: %s\n", clg_status_name(s), clg_last_error());
    assert_int_equal(s, CLG_ERR_NUMERIC);
    assert_non_null(strstr(clg_last_error(), "iteration 1"));

    int named = 0;
    for (int l = 0; l < CLG_LOSS_COUNT; l++)
        if (strstr(clg_last_error(), clg_cyclegan_loss_names[l])) named = 1;
    assert_true(named);
    assert_int_equal(clg_cyclegan_counters_of(cg)->iter, 0);
    clg_cyclegan_release(cg);
}

/* ---- Translation ---- */

static void test_translate_sizes(void **state) {
    clg_cyclegan *cg = new_trainer(0, 5);
    clg_module *g = clg_cyclegan_net(cg, CLG_NET_G_A);
    clg_image in = {0}, out = {0}, tiny = {0}, none = {0};
    (void)state;

    CHECK(clg_image_create(53, 37, 3, &in));
    test_fill_uniform(in.data, (size_t)3 * 37 * 53, 21, 0.0f, 1.0f);
    CHECK(clg_generator_translate(test_device(), g, &in, &out));
    assert_int_equal(out.width, 53);
    assert_int_equal(out.height, 37);
    assert_int_equal(out.channels, 3);
    for (size_t i = 0; i < (size_t)3 * 37 * 53; i++) {
        if (!(out.data[i] >= 0.0f && out.data[i] <= 1.0f))
            fail_msg("pixel %zu is %g, outside [0, 1]", i, (double)out.data[i]);
    }

    CHECK(clg_image_create(5, 5, 3, &tiny));
    assert_int_equal(clg_generator_translate(test_device(), g, &tiny, &none), CLG_ERR_SHAPE);
    print_message("5x5 image: %s\n", clg_last_error());
    assert_non_null(strstr(clg_last_error(), "5x5"));
    assert_null(none.data);

    clg_image_release(&in);
    clg_image_release(&out);
    clg_image_release(&tiny);
    clg_cyclegan_release(cg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_losses),   cmocka_unit_test(test_same_seed_same_losses),
        cmocka_unit_test(test_save_resume),     cmocka_unit_test(test_nan_input),
        cmocka_unit_test(test_translate_sizes),
    };
    test_device();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
