/* Tensors: transfers, fill, copy, views, memory accounting and size limits. */
#include "support.h"

#include <stdlib.h>

static void test_round_trip_fill_copy(void **state) {
    float data[2 * 3 * 4 * 5], back[2 * 3 * 4 * 5];
    clg_tensor *a, *b;
    (void)state;

    test_fill_uniform(data, 120, 1, -5, 5);
    a = test_tensor(4, (int[]){2, 3, 4, 5}, data);
    assert_int_equal(clg_tensor_numel(a), 120);
    assert_int_equal(clg_tensor_dim(a, 1), 3);
    assert_int_equal(clg_tensor_dim(a, -1), 5);
    CHECK(clg_tensor_download(a, back, 120));
    assert_memory_equal(back, data, sizeof data);

    CHECK(clg_tensor_create_like(a, &b));
    CHECK(clg_tensor_copy(b, a));
    CHECK(clg_tensor_download(b, back, 120));
    assert_memory_equal(back, data, sizeof data);

    CHECK(clg_tensor_fill(b, -0.75f));
    CHECK(clg_tensor_download(b, back, 120));
    for (int i = 0; i < 120; i++) assert_true(back[i] == -0.75f);
    clg_tensor_release(a);
    clg_tensor_release(b);
}

static void test_zeros_are_zero_even_on_reused_memory(void **state) {
    clg_tensor *t;
    float back[1000];
    (void)state;

    /* Leave garbage in a pooled buffer, then ask for zeros of the same size. */
    CHECK(clg_tensor_create(test_device(), 1, (int[]){1000}, &t));
    CHECK(clg_tensor_fill(t, 123.0f));
    clg_tensor_release(t);
    CHECK(clg_tensor_zeros(test_device(), 1, (int[]){1000}, &t));
    CHECK(clg_tensor_download(t, back, 1000));
    for (int i = 0; i < 1000; i++) assert_true(back[i] == 0.0f);
    clg_tensor_release(t);
}

static void test_views_share_data(void **state) {
    float data[4 * 6], back[12];
    clg_tensor *t, *rows, *flat;
    char shape[64];
    (void)state;

    for (int i = 0; i < 24; i++) data[i] = (float)i;
    t = test_tensor(2, (int[]){4, 6}, data);
    CHECK(clg_tensor_narrow(t, 2, 2, &rows));
    CHECK(clg_tensor_reshape(rows, 3, (int[]){3, 2, 2}, &flat));
    clg_tensor_shape_string(flat, shape, sizeof shape);
    assert_string_equal(shape, "[3, 2, 2]");
    clg_tensor_release(t); /* the views keep the buffer alive */
    CHECK(clg_tensor_download(flat, back, 12));
    for (int i = 0; i < 12; i++) assert_true(back[i] == (float)(12 + i));

    CHECK(clg_tensor_fill(rows, 1.0f));
    CHECK(clg_tensor_download(flat, back, 12));
    assert_true(back[0] == 1.0f && back[11] == 1.0f);

    assert_int_equal(clg_tensor_reshape(rows, 1, (int[]){13}, &t), CLG_ERR_SHAPE);
    assert_int_equal(clg_tensor_narrow(rows, 1, 2, &t), CLG_ERR_INVALID_ARGUMENT);
    clg_tensor_release(rows);
    clg_tensor_release(flat);
}

static void test_bad_arguments(void **state) {
    clg_tensor *t = NULL;
    float v[4];
    (void)state;

    assert_int_equal(clg_tensor_create(test_device(), 0, (int[]){1}, &t), CLG_ERR_INVALID_ARGUMENT);
    assert_int_equal(clg_tensor_create(test_device(), 2, (int[]){3, 0}, &t),
                     CLG_ERR_INVALID_ARGUMENT);
    assert_null(t);
    CHECK(clg_tensor_create(test_device(), 1, (int[]){4}, &t));
    assert_int_equal(clg_tensor_upload(t, v, 3), CLG_ERR_SHAPE);
    assert_non_null(strstr(clg_last_error(), "3 floats"));
    assert_int_equal(clg_tensor_download(t, v, 5), CLG_ERR_SHAPE);
    clg_tensor_release(t);
}

/* Larger than the largest allocation: refused up front, both sizes named. */
static void test_too_large_names_both_sizes(void **state) {
    const clg_device_info *info = clg_device_get_info(test_device());
    int side = 1;
    clg_tensor *t = NULL;
    char limit[64];
    (void)state;

    while ((uint64_t)side * side * 4 * 4 <= info->max_alloc_bytes) side *= 2;
    assert_int_equal(clg_tensor_create(test_device(), 3, (int[]){4, side, side}, &t),
                     CLG_ERR_OUT_OF_DEVICE_MEMORY);
    assert_null(t);
    snprintf(limit, sizeof limit, "%llu bytes", (unsigned long long)info->max_alloc_bytes);
    assert_non_null(strstr(clg_last_error(), limit));
    assert_non_null(strstr(clg_last_error(), "exceeds the largest allocation"));
}

static void test_live_and_peak_bytes(void **state) {
    clg_device *dev = test_device();
    uint64_t base = clg_device_bytes_live(dev);
    clg_tensor *a, *b, *view;
    (void)state;

    clg_device_reset_peak(dev);
    CHECK(clg_tensor_create(dev, 1, (int[]){1000}, &a));
    CHECK(clg_tensor_create(dev, 1, (int[]){500}, &b));
    CHECK(clg_tensor_narrow(a, 0, 10, &view));
    assert_int_equal(clg_device_bytes_live(dev), base + 6000);
    clg_tensor_release(a); /* the view still holds the buffer */
    assert_int_equal(clg_device_bytes_live(dev), base + 6000);
    clg_tensor_release(view);
    clg_tensor_release(b);
    assert_int_equal(clg_device_bytes_live(dev), base);
    assert_int_equal(clg_device_bytes_peak(dev), base + 6000);
    clg_device_trim(dev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_fill_copy),
        cmocka_unit_test(test_zeros_are_zero_even_on_reused_memory),
        cmocka_unit_test(test_views_share_data),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_too_large_names_both_sizes),
        cmocka_unit_test(test_live_and_peak_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
