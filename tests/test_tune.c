/* GEMM tuning: legality rules, the stored file (written, read, damaged), applying it, the tuner. */
#include "support.h"

#include <stdlib.h>
#include <unistd.h>

static char scratch[4096];
static char warnings[4096];

/* Collects warnings, so a test can see that a damaged file was reported. */
static void collect(clg_log_level level, const char *message, void *user) {
    size_t used = strlen(warnings);
    (void)user;
    if (level <= CLG_LOG_WARN) snprintf(warnings + used, sizeof warnings - used, "%s\n", message);
}

/* The tuner's first candidates, so the tests compile CLBlast's kernels for one set only. */
static const clg_blas_params hand_picked = {"Xgemm",
                                            16,
                                            {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG",
                                             "NDIMB", "NDIMC", "NWG", "SA", "SB", "STRM", "STRN",
                                             "VWM", "VWN"},
                                            {0, 1, 16, 2, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 8, 8}};

static const clg_blas_params direct_set = {
    "XgemmDirect",
    10,
    {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
    {2, 4, 4, 4, 4, 0, 0, 8, 8, 32}};

static void set_value(clg_blas_params *p, const char *name, size_t value) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->names[i], name) == 0) p->values[i] = value;
}

static clg_device *open_device(void) {
    clg_device *dev = NULL;
    CHECK(clg_device_open(NULL, &dev));
    return dev;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* ---- GEMM against a C reference (as tests/test_gemm.c) ---- */

typedef struct gemm_case {
    size_t m, n, k;
    int trans_a, trans_b;
    float beta;
} gemm_case;

static void reference(const gemm_case *g, const float *a, const float *b, const float *c0,
                      float *c) {
    for (size_t i = 0; i < g->m; i++) {
        for (size_t j = 0; j < g->n; j++) {
            double acc = 0.0;
            for (size_t p = 0; p < g->k; p++) {
                double av = g->trans_a ? a[p * g->m + i] : a[i * g->k + p];
                double bv = g->trans_b ? b[j * g->k + p] : b[p * g->n + j];
                acc += av * bv;
            }
            c[i * g->n + j] = (float)(acc + (g->beta ? g->beta * c0[i * g->n + j] : 0));
        }
    }
}

static void check_gemm(clg_device *dev, const gemm_case *g) {
    size_t na = g->m * g->k, nb = g->k * g->n, nc = g->m * g->n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c0 = malloc(nc * sizeof *c0), *want = malloc(nc * sizeof *want), *got;
    int sa[2] = {(int)(g->trans_a ? g->k : g->m), (int)(g->trans_a ? g->m : g->k)};
    int sb[2] = {(int)(g->trans_b ? g->n : g->k), (int)(g->trans_b ? g->k : g->n)};
    clg_tensor *ta, *tb, *tc;
    char what[96];

    test_fill_uniform(a, na, g->m + 5, -1.0f, 1.0f);
    test_fill_uniform(b, nb, g->n + 9, -1.0f, 1.0f);
    test_fill_uniform(c0, nc, 7, -1.0f, 1.0f);
    reference(g, a, b, c0, want);
    CHECK(clg_tensor_from_host(dev, 2, sa, a, &ta));
    CHECK(clg_tensor_from_host(dev, 2, sb, b, &tb));
    CHECK(clg_tensor_from_host(dev, 2, (int[]){(int)g->m, (int)g->n}, c0, &tc));
    CHECK(clg_gemm(&(clg_gemm_desc){.trans_a = g->trans_a,
                                    .trans_b = g->trans_b,
                                    .m = g->m,
                                    .n = g->n,
                                    .k = g->k,
                                    .alpha = 1.0f,
                                    .beta = g->beta},
                   ta, tb, tc));
    got = test_download(tc);
    snprintf(what, sizeof what, "tuned gemm %zux%zux%zu ta %d tb %d", g->m, g->n, g->k, g->trans_a,
             g->trans_b);
    assert_floats_close(got, want, nc, 1e-4, 2e-6 * sqrt((double)g->k) * 8, what);
    clg_tensor_release(ta), clg_tensor_release(tb), clg_tensor_release(tc);
    free(a), free(b), free(c0), free(want), free(got);
}

/* Small ones take XgemmDirect, large ones (m n k above 896^3 on PoCL) the indirect Xgemm. */
static void check_gemm_paths(clg_device *dev) {
    static const gemm_case cases[] = {
        {17, 33, 65, 0, 0, 0.0f},    {64, 147, 300, 0, 1, 1.0f},  {147, 300, 64, 1, 0, 0.0f},
        {901, 903, 905, 0, 0, 0.0f}, {905, 902, 907, 1, 1, 2.0f},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_gemm(dev, &cases[i]);
}

/* ---- Tests ---- */

static void test_legality_rules(void **state) {
    clg_blas_params p = hand_picked;
    clg_device_info small = {.max_work_group_size = 8, .local_mem_bytes = 32768};
    char why[160];
    (void)state;

    assert_true(clg_blas_params_check(&hand_picked, NULL, why, sizeof why));
    assert_true(clg_blas_params_check(&direct_set, NULL, why, sizeof why));
    set_value(&p, "MWG", 48); /* not a multiple of MDIMC * VWM = 32 */
    assert_false(clg_blas_params_check(&p, NULL, why, sizeof why));
    assert_non_null(strstr(why, "MWG"));
    p = hand_picked;
    set_value(&p, "KWI", 32); /* KWG 16 is not a multiple of KWI */
    assert_false(clg_blas_params_check(&p, NULL, why, sizeof why));
    p = hand_picked;
    set_value(&p, "MDIMA", 8); /* must follow MDIMC while SA is 0 */
    assert_false(clg_blas_params_check(&p, NULL, why, sizeof why));
    p = hand_picked;
    p.count = 15;
    assert_false(clg_blas_params_check(&p, NULL, why, sizeof why));
    snprintf(p.kernel, sizeof p.kernel, "Xbogus");
    assert_false(clg_blas_params_check(&p, NULL, why, sizeof why));
    assert_false(clg_blas_params_check(&hand_picked, &small, why, sizeof why));
    assert_non_null(strstr(why, "work-items"));
}

/* Damaged, foreign or illegal files: a warning, and CLBlast's defaults. */
static void test_bad_file_ignored(void **state) {
    static const char *const bad[] = {
        "garbage\n",
        "clgan-clblast-params 1\ndevice another device\nvendor x\ndriver y\n",
        "clgan-clblast-params 1\nkernel Xgemm GEMMK=0 KWG=16\n",
        "clgan-clblast-params 1\nkernel Xgemm GEMMK=0 KREG=1 KWG=16 KWI=2 MDIMA=4 MDIMC=4 MWG=48 "
        "NDIMB=4 NDIMC=4 NWG=64 SA=0 SB=0 STRM=0 STRN=0 VWM=8 VWN=8\n",
        "clgan-clblast-params 1\nkernel Xgemm MWG=sixty-four\n",
    };
    clg_device *dev = open_device();
    char path[1200], report[2048];
    (void)state;

    CHECK(clg_blas_tuning_path(dev, path, sizeof path));
    assert_non_null(strstr(path, scratch));
    clg_device_release(dev);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clg_blas_tuning t;
        write_text(path, bad[i]);
        warnings[0] = '\0';
        dev = open_device();
        assert_non_null(strstr(warnings, "ignoring tuned GEMM parameters"));
        assert_int_equal(clg_device_tuned(dev), 0);
        assert_int_equal(clg_blas_tuning_load(dev, &t), CLG_ERR_FORMAT);
        clg_device_describe(clg_device_get_info(dev), report, sizeof report);
        assert_non_null(strstr(report, "CLBlast's own"));
        clg_device_release(dev);
    }
    remove(path);
    dev = open_device();
    assert_int_equal(clg_blas_tuning_load(dev, &(clg_blas_tuning){0}), CLG_ERR_NOT_FOUND);
    clg_device_release(dev);
}

/* Saved, read back equal, applied at the next open, reported, and the products unchanged. */
static void test_saved_file_applied(void **state) {
    clg_blas_tuning saved = {2, {hand_picked, direct_set}}, loaded;
    clg_device *dev = open_device();
    char report[2048];
    (void)state;

    CHECK(clg_blas_tuning_save(dev, &saved, "written by test_tune"));
    clg_device_release(dev);

    warnings[0] = '\0';
    dev = open_device();
    assert_string_equal(warnings, "");
    assert_int_equal(clg_device_tuned(dev), 2);
    assert_int_equal(clg_device_get_info(dev)->blas_tuned, 2);
    clg_device_describe(clg_device_get_info(dev), report, sizeof report);
    assert_non_null(strstr(report, "GEMM parameters   tuned"));
    CHECK(clg_blas_tuning_load(dev, &loaded));
    assert_int_equal(loaded.count, 2);
    assert_memory_equal(&loaded.kernels[0], &hand_picked, sizeof hand_picked);
    assert_memory_equal(&loaded.kernels[1], &direct_set, sizeof direct_set);
    check_gemm_paths(dev);
    clg_device_release(dev);

    setenv("CLGAN_TUNED", "0", 1);
    dev = open_device();
    assert_int_equal(clg_device_tuned(dev), 0);
    clg_device_release(dev);
    unsetenv("CLGAN_TUNED");
}

/* A short search with one candidate per kernel writes a file that the next open uses. */
static void test_tuner_writes_file(void **state) {
    static const clg_gemm_shape shapes[] = {{0, 0, 901, 903, 905, 1}, {0, 1, 200, 190, 180, 1}};
    static clg_gemm_tune_result r;
    clg_gemm_tune_options o;
    clg_blas_tuning loaded;
    clg_device *dev = open_device();
    char path[1200];
    (void)state;

    /* Without a stored file the search starts at its seeds, the sets the last test used. */
    CHECK(clg_blas_tuning_path(dev, path, sizeof path));
    clg_device_release(dev);
    remove(path);
    dev = open_device();
    clg_gemm_tune_options_default(&o);
    o.budget_s = 60;
    o.shapes = shapes;
    o.shape_count = 2;
    o.max_candidates = 1;
    o.keep_best = 1;
    CHECK(clg_gemm_tune(dev, &o, &r));
    assert_int_equal(r.shape_count, 2);
    assert_true(r.tried >= 2);
    assert_int_equal(r.tuning.count, 2);
    assert_string_equal(r.path, path);
    for (int i = 0; i < 2; i++) assert_true(r.before_s[i] > 0 && r.after_s[i] > 0);
    assert_int_equal(clg_device_tuned(dev), 2);
    clg_device_release(dev);

    dev = open_device();
    assert_int_equal(clg_device_tuned(dev), 2);
    CHECK(clg_blas_tuning_load(dev, &loaded));
    assert_memory_equal(&loaded, &r.tuning, sizeof loaded);
    check_gemm_paths(dev);
    clg_device_release(dev);
}

static void test_bad_options(void **state) {
    clg_gemm_tune_options o;
    clg_gemm_tune_result *r = malloc(sizeof *r);
    clg_device *dev = open_device();
    (void)state;

    clg_gemm_tune_options_default(&o);
    o.shapes = (clg_gemm_shape[]){{0, 0, 0, 4, 4, 1}};
    o.shape_count = 1;
    assert_int_equal(clg_gemm_tune(dev, &o, r), CLG_ERR_INVALID_ARGUMENT);
    clg_gemm_tune_options_default(&o);
    o.budget_s = 0;
    assert_int_equal(clg_gemm_tune(dev, &o, r), CLG_ERR_INVALID_ARGUMENT);
    assert_true(clg_gemm_tune_default_shapes(NULL, 0) > 10);
    clg_device_release(dev);
    free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legality_rules),     cmocka_unit_test(test_bad_file_ignored),
        cmocka_unit_test(test_saved_file_applied), cmocka_unit_test(test_tuner_writes_file),
        cmocka_unit_test(test_bad_options),
    };

    /* A scratch cache folder: the suite's shared cache never sees these parameter files. */
    snprintf(scratch, sizeof scratch, "%s", test_scratch_dir("tune"));
    setenv("CLGAN_CACHE_DIR", scratch, 1);
    unsetenv("CLGAN_TUNED");
    clg_log_set_callback(collect, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
