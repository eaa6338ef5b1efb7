/* The device layer: listing, selection, wrapping, errors, logging and the program cache. */
#include "support.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clgan/opencl.h"

static void test_list_reports_capabilities(void **state) {
    clg_device_info infos[8];
    int count = 0;
    (void)state;

    CHECK(clg_device_list(infos, 8, &count));
    assert_true(count >= 1);
    assert_true(strlen(infos[0].name) > 0);
    assert_true(strlen(infos[0].driver_version) > 0);
    assert_non_null(strstr(infos[0].opencl_c_version, "OpenCL C"));
    assert_true(infos[0].compute_units >= 1);
    assert_true(infos[0].max_alloc_bytes > 0);
    assert_true(infos[0].max_alloc_bytes <= infos[0].global_mem_bytes);
    assert_true(infos[0].max_work_group_size >= 1);
}

static void test_selectors(void **state) {
    clg_device_info info;
    int count = 0, index = -1;
    char upper[64];
    (void)state;

    CHECK(clg_device_list(&info, 1, &count));
    unsetenv("CLGAN_DEVICE");
    CHECK(clg_device_select("0", &index));
    assert_int_equal(index, 0);
    CHECK(clg_device_select("0:0", &index));
    assert_int_equal(index, 0);

    /* A case-insensitive part of the name. */
    snprintf(upper, sizeof upper, "%.4s", info.name);
    for (char *p = upper; *p; p++) *p = (char)toupper((unsigned char)*p);
    CHECK(clg_device_select(upper, &index));
    assert_int_equal(index, 0);

    assert_int_equal(clg_device_select("no-such-device-xyz", &index), CLG_ERR_NO_DEVICE);
    assert_non_null(strstr(clg_last_error(), "no-such-device-xyz"));
    assert_int_equal(clg_device_select("99", &index), CLG_ERR_NO_DEVICE);

    /* CLGAN_DEVICE is used without an explicit selector, and loses to one. */
    setenv("CLGAN_DEVICE", "no-such-device-env", 1);
    assert_int_equal(clg_device_select(NULL, &index), CLG_ERR_NO_DEVICE);
    assert_non_null(strstr(clg_last_error(), "CLGAN_DEVICE"));
    CHECK(clg_device_select("0", &index));
    unsetenv("CLGAN_DEVICE");
}

static void test_wrap_never_releases_callers_objects(void **state) {
    clg_device *own = test_device(), *wrapped = NULL;
    cl_int err;
    cl_context ctx;
    cl_command_queue queue;
    cl_device_id id = clg_device_id(own);
    cl_uint refs_before = 0, refs_after = 0;
    clg_tensor *t;
    float v[3];
    (void)state;

    ctx = clCreateContext(NULL, 1, &id, NULL, NULL, &err);
    assert_int_equal(err, CL_SUCCESS);
    queue = clCreateCommandQueue(ctx, id, 0, &err);
    assert_int_equal(err, CL_SUCCESS);

    clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof refs_before, &refs_before, NULL);
    CHECK(clg_device_wrap(ctx, id, queue, &wrapped));
    CHECK(clg_tensor_create(wrapped, 1, (int[]){3}, &t));
    CHECK(clg_tensor_fill(t, 2.5f));
    CHECK(clg_tensor_download(t, v, 3));
    assert_true(v[0] == 2.5f && v[2] == 2.5f);
    clg_tensor_release(t);
    clg_device_release(wrapped);

    /* Still ours, with exactly the references it had before. */
    assert_int_equal(clGetContextInfo(ctx, CL_CONTEXT_REFERENCE_COUNT, sizeof refs_after,
                                      &refs_after, NULL),
                     CL_SUCCESS);
    assert_int_equal(refs_after, refs_before);
    assert_int_equal(clReleaseCommandQueue(queue), CL_SUCCESS);
    assert_int_equal(clReleaseContext(ctx), CL_SUCCESS);
}

static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(clg_status_name(CLG_OK), "CLG_OK");
    assert_string_equal(clg_status_name(CLG_ERR_BUILD), "CLG_ERR_BUILD");
    assert_string_equal(clg_status_name((clg_status)999), "CLG_ERR_UNKNOWN");
    for (int s = 0; s < CLG_STATUS_COUNT_; s++) assert_non_null(clg_status_name((clg_status)s));
}

static void *fail_in_thread(void *arg) {
    (void)arg;
    clg_error(CLG_ERR_IO, "message from another thread");
    return NULL;
}

static void test_error_message_is_per_thread(void **state) {
    pthread_t thread;
    (void)state;

    clg_error(CLG_ERR_FORMAT, "message from this thread");
    pthread_create(&thread, NULL, fail_in_thread, NULL);
    pthread_join(thread, NULL);
    assert_string_equal(clg_last_error(), "message from this thread");
    clg_clear_error();
    assert_string_equal(clg_last_error(), "");
}

static int info_lines;
static char last_line[4096];

static void count_log(clg_log_level level, const char *message, void *user) {
    (void)user;
    if (level <= CLG_LOG_INFO) info_lines++;
    snprintf(last_line, sizeof last_line, "%s", message);
}

static void test_logging_is_quiet_until_asked(void **state) {
    clg_device *dev;
    (void)state;

    info_lines = 0;
    clg_log_set_callback(count_log, NULL);
    CHECK(clg_device_open(NULL, &dev));
    clg_device_release(dev);
    clg_log_set_callback(NULL, NULL);
    assert_true(info_lines >= 1);
    assert_non_null(strstr(last_line, clg_device_get_info(test_device())->name));
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[4400];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A kernel that does not compile: CLG_ERR_BUILD with the file and the compiler's log. */
static void test_build_error_carries_log(void **state) {
    const char *dir = test_scratch_dir("broken-kernels");
    clg_device *dev;
    clg_tensor *t;
    (void)state;

    write_file(dir, "common.clh", "/* empty */\n");
    write_file(dir, "tensor.cl",
               "__kernel void fill(__global float *x) { x[0] = undefined_name; }");
    setenv("CLGAN_KERNEL_DIR", dir, 1);
    setenv("CLGAN_CACHE", "0", 1);
    CHECK(clg_device_open(NULL, &dev));
    CHECK(clg_tensor_create(dev, 1, (int[]){4}, &t));
    assert_int_equal(clg_tensor_fill(t, 1.0f), CLG_ERR_BUILD);
    assert_non_null(strstr(clg_last_error(), "tensor.cl"));
    assert_non_null(strstr(clg_last_error(), "undefined_name"));
    clg_tensor_release(t);
    clg_device_release(dev);
    unsetenv("CLGAN_KERNEL_DIR");
    unsetenv("CLGAN_CACHE");
}

static void fill_once(clg_device *dev) {
    clg_tensor *t;
    CHECK(clg_tensor_create(dev, 1, (int[]){4}, &t));
    CHECK(clg_tensor_fill(t, 1.0f));
    CHECK(clg_device_finish(dev));
    clg_tensor_release(t);
}

/* The cache: built once, loaded next time, a damaged entry silently rebuilt. */
static void test_cache_loads_and_survives_damage(void **state) {
    const char *dir = test_scratch_dir("program-cache");
    char cmd[8400];
    clg_device *dev;
    int built, loaded;
    (void)state;

    setenv("CLGAN_CACHE_DIR", dir, 1);
    CHECK(clg_device_open(NULL, &dev));
    assert_string_equal(clg_device_cache_dir(dev), dir);
    fill_once(dev);
    clg_device_cache_stats(dev, &built, &loaded);
    assert_int_equal(built, 1);
    assert_int_equal(loaded, 0);
    clg_device_release(dev);

    CHECK(clg_device_open(NULL, &dev));
    fill_once(dev);
    clg_device_cache_stats(dev, &built, &loaded);
    assert_int_equal(built, 0);
    assert_int_equal(loaded, 1);
    clg_device_release(dev);

    /* Overwrite the middle of every entry. */
    snprintf(cmd, sizeof cmd,
             "for f in '%s'/*.bin; do printf 'garbage' | dd of=\"$f\" bs=1 seek=40 conv=notrunc "
             "status=none; done",
             dir);
    assert_int_equal(system(cmd), 0);
    CHECK(clg_device_open(NULL, &dev));
    fill_once(dev);
    clg_device_cache_stats(dev, &built, &loaded);
    assert_int_equal(built, 1);
    assert_int_equal(loaded, 0);
    clg_device_release(dev);

    setenv("CLGAN_CACHE", "0", 1);
    CHECK(clg_device_open(NULL, &dev));
    assert_string_equal(clg_device_cache_dir(dev), "");
    clg_device_release(dev);
    unsetenv("CLGAN_CACHE");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_reports_capabilities),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_wrap_never_releases_callers_objects),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_error_message_is_per_thread),
        cmocka_unit_test(test_logging_is_quiet_until_asked),
        cmocka_unit_test(test_build_error_carries_log),
        cmocka_unit_test(test_cache_loads_and_survives_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
