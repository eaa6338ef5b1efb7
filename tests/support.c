/* Shared helpers for the cmocka tests. */
#include "support.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static clg_device *shared_device;

static void release_shared_device(void) {
    clg_device_release(shared_device);
    shared_device = NULL;
}

clg_device *test_device(void) {
    if (!shared_device) {
        clg_status s = clg_device_open(NULL, &shared_device);
        if (s != CLG_OK) {
            fprintf(stderr, "cannot open a device: %s\n", clg_last_error());
            abort();
        }
        atexit(release_shared_device);
    }
    return shared_device;
}

void test_check(clg_status status, const char *expr, const char *file, int line) {
    if (status == CLG_OK) return;
    fprintf(stderr, "%s:%d: %s returned %s: %s\n", file, line, expr, clg_status_name(status),
            clg_last_error());
    fail();
}

const char *test_source_path(const char *relative) {
    static char path[4096];
    const char *root = getenv("CLGAN_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", relative);
    return path;
}

clg_safetensors *test_read_golden(const char *relative) {
    clg_safetensors *st = NULL;
    if (clg_safetensors_read(test_source_path(relative), &st) != CLG_OK)
        fprintf(stderr, "cannot read %s: %s\n", relative, clg_last_error());
    return st;
}

const char *test_scratch_dir(const char *name) {
    static char path[4096];
    const char *root = getenv("CLGAN_BINARY_DIR");
    char cmd[8400];

    snprintf(path, sizeof path, "%s/test-scratch/%s-%ld", root ? root : "/tmp", name,
             (long)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) fail_msg("cannot make scratch folder %s", path);
    return path;
}

void assert_floats_close(const float *got, const float *want, size_t n, double rtol, double atol,
                         const char *what) {
    size_t first_bad = n, worst = 0;
    double worst_rel = 0.0;

    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        double rel = diff / (fabs((double)want[i]) + 1e-30);
        int ok = diff <= atol + rtol * fabs((double)want[i]);
        if (!ok && first_bad == n) first_bad = i;
        if (!ok && rel > worst_rel) {
            worst_rel = rel;
            worst = i;
        }
        if (isnan(got[i]) != isnan(want[i])) first_bad = first_bad < i ? first_bad : i;
    }
    if (first_bad == n) return;
    fail_msg("%s: element %zu is %.9g, want %.9g; worst at %zu: %.9g vs %.9g (rel %.3g)", what,
             first_bad, got[first_bad], want[first_bad], worst, got[worst], want[worst],
             worst_rel);
}

void test_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

float *test_download(const clg_tensor *t) {
    size_t n = clg_tensor_numel(t);
    float *data = malloc(n * sizeof *data);
    assert_non_null(data);
    CHECK(clg_tensor_download(t, data, n));
    return data;
}

clg_tensor *test_tensor(int ndim, const int *shape, const float *data) {
    clg_tensor *t = NULL;
    CHECK(clg_tensor_from_host(test_device(), ndim, shape, data, &t));
    return t;
}
