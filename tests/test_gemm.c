/* GEMM through CLBlast against a plain C reference, on the shapes the networks use. */
#include "support.h"

#include <math.h>
#include <stdlib.h>

typedef struct gemm_case {
    size_t m, n, k;
    int trans_a, trans_b;
    float alpha, beta;
} gemm_case;

/* C = alpha op(A) op(B) + beta C in double, row-major, packed. */
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
            c[i * g->n + j] = (float)(g->alpha * acc + (g->beta ? g->beta * c0[i * g->n + j] : 0));
        }
    }
}

static void run_case(const gemm_case *g) {
    size_t na = g->m * g->k, nb = g->k * g->n, nc = g->m * g->n;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
    float *c0 = malloc(nc * sizeof *c0), *want = malloc(nc * sizeof *want);
    int sa[2] = {(int)(g->trans_a ? g->k : g->m), (int)(g->trans_a ? g->m : g->k)};
    int sb[2] = {(int)(g->trans_b ? g->n : g->k), (int)(g->trans_b ? g->k : g->n)};
    clg_tensor *ta, *tb, *tc;
    float *got;
    char what[96];

    test_fill_uniform(a, na, g->m * 7 + 1, -1.0f, 1.0f);
    test_fill_uniform(b, nb, g->n * 13 + 2, -1.0f, 1.0f);
    /* With beta 0 the old C is garbage (NaN here) that must never be read. */
    for (size_t i = 0; i < nc; i++) c0[i] = g->beta ? (float)i / (float)nc : NAN;
    reference(g, a, b, c0, want);

    ta = test_tensor(2, sa, a);
    tb = test_tensor(2, sb, b);
    tc = test_tensor(2, (int[]){(int)g->m, (int)g->n}, c0);
    CHECK(clg_gemm(&(clg_gemm_desc){.trans_a = g->trans_a, .trans_b = g->trans_b, .m = g->m,
                                    .n = g->n, .k = g->k, .alpha = g->alpha, .beta = g->beta},
                   ta, tb, tc));
    got = test_download(tc);
    snprintf(what, sizeof what, "gemm %zux%zux%zu ta %d tb %d", g->m, g->n, g->k, g->trans_a,
             g->trans_b);
    assert_floats_close(got, want, nc, 1e-4, 2e-6 * sqrt((double)g->k) * 8, what);

    clg_tensor_release(ta);
    clg_tensor_release(tb);
    clg_tensor_release(tc);
    free(a), free(b), free(c0), free(want), free(got);
}

static void test_small_and_odd(void **state) {
    (void)state;
    run_case(&(gemm_case){1, 1, 1, 0, 0, 1.0f, 0.0f});
    run_case(&(gemm_case){17, 33, 65, 0, 0, 1.0f, 0.0f});
    run_case(&(gemm_case){17, 33, 65, 1, 1, 0.5f, 2.0f});
}

static void test_network_shapes(void **state) {
    (void)state;
    run_case(&(gemm_case){64, 1961, 147, 0, 0, 1.0f, 0.0f});
    run_case(&(gemm_case){256, 140, 2304, 0, 0, 1.0f, 1.0f});
    run_case(&(gemm_case){64, 147, 1961, 0, 1, 1.0f, 0.0f});
    run_case(&(gemm_case){64, 147, 1961, 1, 0, -1.0f, 0.0f});
}

static void test_large_square(void **state) {
    (void)state;
    run_case(&(gemm_case){1152, 1152, 1152, 0, 0, 1.0f, 0.0f});
}

/* Offsets from views, leading dimensions and strided batches. */
static void test_batched_views(void **state) {
    enum { BATCH = 3, M = 5, N = 4, K = 6 };
    float a[BATCH * M * K], b[BATCH * K * N], want[BATCH * M * N];
    clg_tensor *ta, *tb, *tc, *tail;
    float *got;
    (void)state;

    test_fill_uniform(a, BATCH * M * K, 3, -1, 1);
    test_fill_uniform(b, BATCH * K * N, 4, -1, 1);
    for (int t = 0; t < BATCH; t++)
        reference(&(gemm_case){M, N, K, 0, 0, 1.0f, 0.0f}, a + t * M * K, b + t * K * N, NULL,
                  want + t * M * N);
    ta = test_tensor(3, (int[]){BATCH, M, K}, a);
    tb = test_tensor(3, (int[]){BATCH, K, N}, b);
    CHECK(clg_tensor_create(test_device(), 3, (int[]){BATCH + 1, M, N}, &tc));
    CHECK(clg_tensor_fill(tc, NAN));
    CHECK(clg_tensor_narrow(tc, 1, BATCH, &tail));
    CHECK(clg_gemm(&(clg_gemm_desc){.m = M, .n = N, .k = K, .alpha = 1, .batch = BATCH}, ta, tb,
                   tail));
    got = test_download(tail);
    assert_floats_close(got, want, BATCH * M * N, 1e-5, 1e-6, "batched gemm into a view");
    clg_tensor_release(tail);
    clg_tensor_release(ta), clg_tensor_release(tb), clg_tensor_release(tc);
    free(got);
}

static void test_operand_too_small(void **state) {
    clg_tensor *a, *b, *c;
    (void)state;

    CHECK(clg_tensor_create(test_device(), 2, (int[]){4, 4}, &a));
    CHECK(clg_tensor_create(test_device(), 2, (int[]){4, 4}, &b));
    CHECK(clg_tensor_create(test_device(), 2, (int[]){4, 4}, &c));
    assert_int_equal(clg_gemm(&(clg_gemm_desc){.m = 4, .n = 4, .k = 5, .alpha = 1}, a, b, c),
                     CLG_ERR_SHAPE);
    assert_non_null(strstr(clg_last_error(), "operand A"));
    assert_int_equal(clg_gemm(&(clg_gemm_desc){.m = 0, .n = 4, .k = 4}, a, b, c),
                     CLG_ERR_INVALID_ARGUMENT);
    clg_tensor_release(a), clg_tensor_release(b), clg_tensor_release(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_and_odd),   cmocka_unit_test(test_network_shapes),
        cmocka_unit_test(test_large_square),    cmocka_unit_test(test_batched_views),
        cmocka_unit_test(test_operand_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
