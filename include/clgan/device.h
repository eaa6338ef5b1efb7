/* OpenCL devices: listing, choosing, opening, capabilities and the program cache. */
#ifndef CLGAN_DEVICE_H
#define CLGAN_DEVICE_H

/*
 * A clg_device is one OpenCL device with its context and in-order queue.
 * Every tensor lives on one device and every operation runs on its queue.
 *
 * Choosing a device. clg_device_open(selector) takes, in order: the selector
 * you pass; else the CLGAN_DEVICE environment variable; else the first GPU;
 * else the first device of any kind. A selector is an index into
 * clg_device_list ("1"), a platform and device index ("0:2"), or a
 * case-insensitive part of the device or vendor name ("nvidia", "pthread").
 *
 * Kernel programs are compiled on first use, once per device, and their
 * binaries are cached on disk ($XDG_CACHE_HOME/clgan, or ~/.cache/clgan;
 * CLGAN_CACHE_DIR moves it, CLGAN_CACHE=0 turns it off). A second process on
 * the same device loads them instead of compiling; clg_device_cache_stats()
 * tells how many programs were built and how many loaded.
 *
 * Applications that already have an OpenCL context and queue hand them to
 * clg_device_wrap() in clgan/opencl.h; clgan then never releases them.
 */

#include <stddef.h>
#include <stdint.h>

#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_device clg_device;

typedef enum clg_device_type {
    CLG_DEVICE_CPU = 1,
    CLG_DEVICE_GPU = 2,
    CLG_DEVICE_ACCELERATOR = 4,
    CLG_DEVICE_OTHER = 8
} clg_device_type;

typedef struct clg_device_info {
    int index;          /* position in clg_device_list */
    int platform_index; /* platform and device within it, as in "0:2" */
    int device_index;
    clg_device_type type;
    char name[256];
    char vendor[256];
    char platform[256];
    char driver_version[128];
    char opencl_c_version[128];
    unsigned compute_units;
    unsigned clock_mhz;
    uint64_t global_mem_bytes;
    uint64_t local_mem_bytes;
    uint64_t max_alloc_bytes;
    size_t max_work_group_size;
    int has_fp16;
    int has_fp64;
    int blas_tuned; /* CLBlast kernels on tuned parameters (clgan/tune.h); 0: CLBlast's own */
} clg_device_info;

/* Every device of every platform. Fills up to capacity entries; *count gets the total. */
clg_status clg_device_list(clg_device_info *infos, int capacity, int *count);

/* Index into clg_device_list of the device that selector (or the defaults) choose. */
clg_status clg_device_select(const char *selector, int *index);

/* Open the chosen device with its own context and queue. selector may be NULL. */
clg_status clg_device_open(const char *selector, clg_device **out);

/* Release a device. Tensors on it must have been released first. NULL is allowed. */
void clg_device_release(clg_device *device);

const clg_device_info *clg_device_get_info(const clg_device *device);

/* Wait until every command queued on the device has finished. */
clg_status clg_device_finish(clg_device *device);

/* Write a multi-line description of the device's capabilities into buf. */
void clg_device_describe(const clg_device_info *info, char *buf, size_t size);

/* Programs compiled by this process for the device, and programs loaded from the disk cache. */
void clg_device_cache_stats(const clg_device *device, int *built, int *loaded);

/* Device memory held by live tensors now, and the most held at once since open or reset. */
uint64_t clg_device_bytes_live(const clg_device *device);
uint64_t clg_device_bytes_peak(const clg_device *device);
void clg_device_reset_peak(clg_device *device);

/* Release buffers kept for reuse by released tensors. */
void clg_device_trim(clg_device *device);

/* The folder used for the program cache, or "" when caching is off. */
const char *clg_device_cache_dir(const clg_device *device);

#ifdef __cplusplus
}
#endif

#endif
