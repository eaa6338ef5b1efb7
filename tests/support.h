/* Shared helpers for the cmocka tests: the device, data paths and float comparisons. */
#ifndef CLGAN_TEST_SUPPORT_H
#define CLGAN_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clgan.h"

/* The device the tests run on (CLGAN_DEVICE or the default), opened once per process. */
clg_device *test_device(void);

/* Fail the test with the library's message unless status is CLG_OK. */
#define CHECK(call) test_check((call), #call, __FILE__, __LINE__)
void test_check(clg_status status, const char *expr, const char *file, int line);

/* A path under the source tree, such as test_source_path("tests/golden/ops.safetensors"). */
const char *test_source_path(const char *relative);

/* Read a golden file under the source tree; NULL (with the reason on stderr) on failure. */
clg_safetensors *test_read_golden(const char *relative);

/* A fresh, empty scratch folder under the build tree, unique to this process and name. */
const char *test_scratch_dir(const char *name);

/*
 * Every |got - want| <= atol + rtol * |want|; on failure prints the first
 * offending index and the largest relative error, and fails the test.
 */
void assert_floats_close(const float *got, const float *want, size_t n, double rtol, double atol,
                         const char *what);

/* Deterministic pseudo-random floats in [lo, hi) from seed. */
void test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Download a tensor into a new malloc'd array (the caller frees). */
float *test_download(const clg_tensor *t);

/* Upload host data into a new tensor of the given shape. */
clg_tensor *test_tensor(int ndim, const int *shape, const float *data);

#endif
