/* Listing OpenCL devices, choosing one, and opening or wrapping its context and queue. */
#include "device/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLATFORMS 16
#define MAX_DEVICES_PER_PLATFORM 32

/* Every (platform, device) pair in enumeration order, the order of clg_device_list. */
typedef struct device_ref {
    cl_platform_id platform;
    cl_device_id device;
    int platform_index;
    int device_index;
} device_ref;

static clg_status enumerate(device_ref *refs, int capacity, int *count) {
    cl_platform_id platforms[MAX_PLATFORMS];
    cl_uint nplat = 0;
    cl_int err = clGetPlatformIDs(MAX_PLATFORMS, platforms, &nplat);

    *count = 0;
    if (err == -1001 || (err == CL_SUCCESS && nplat == 0))
        return clg_error(CLG_ERR_NO_DEVICE, "no OpenCL platform is installed (is an ICD such as "
                                            "pocl-opencl-icd present in /etc/OpenCL/vendors?)");
    if (err != CL_SUCCESS) return clgi_cl_error(err, "clGetPlatformIDs");
    if (nplat > MAX_PLATFORMS) nplat = MAX_PLATFORMS;

    for (cl_uint p = 0; p < nplat; p++) {
        cl_device_id ids[MAX_DEVICES_PER_PLATFORM];
        cl_uint ndev = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, MAX_DEVICES_PER_PLATFORM, ids,
                           &ndev) != CL_SUCCESS)
            continue; /* a platform without devices is not an error */
        if (ndev > MAX_DEVICES_PER_PLATFORM) ndev = MAX_DEVICES_PER_PLATFORM;
        for (cl_uint d = 0; d < ndev && *count < capacity; d++)
            refs[(*count)++] = (device_ref){platforms[p], ids[d], (int)p, (int)d};
    }
    if (*count == 0) return clg_error(CLG_ERR_NO_DEVICE, "no OpenCL device found");
    return CLG_OK;
}

static void device_string(cl_device_id id, cl_device_info what, char *buf, size_t size) {
    buf[0] = '\0';
    if (clGetDeviceInfo(id, what, size, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
    buf[size - 1] = '\0';
}

static uint64_t device_ulong(cl_device_id id, cl_device_info what) {
    cl_ulong v = 0;
    clGetDeviceInfo(id, what, sizeof v, &v, NULL);
    return v;
}

static unsigned device_uint(cl_device_id id, cl_device_info what) {
    cl_uint v = 0;
    clGetDeviceInfo(id, what, sizeof v, &v, NULL);
    return v;
}

static void fill_info(const device_ref *ref, int index, clg_device_info *info) {
    cl_device_type type = 0;
    char extensions[8192];

    memset(info, 0, sizeof *info);
    info->index = index;
    info->platform_index = ref->platform_index;
    info->device_index = ref->device_index;
    clGetDeviceInfo(ref->device, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CLG_DEVICE_GPU
                 : (type & CL_DEVICE_TYPE_CPU)         ? CLG_DEVICE_CPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLG_DEVICE_ACCELERATOR
                                                       : CLG_DEVICE_OTHER;
    device_string(ref->device, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(ref->device, CL_DEVICE_VENDOR, info->vendor, sizeof info->vendor);
    device_string(ref->device, CL_DRIVER_VERSION, info->driver_version,
                  sizeof info->driver_version);
    device_string(ref->device, CL_DEVICE_OPENCL_C_VERSION, info->opencl_c_version,
                  sizeof info->opencl_c_version);
    clGetPlatformInfo(ref->platform, CL_PLATFORM_NAME, sizeof info->platform, info->platform,
                      NULL);
    info->platform[sizeof info->platform - 1] = '\0';

    info->compute_units = device_uint(ref->device, CL_DEVICE_MAX_COMPUTE_UNITS);
    info->clock_mhz = device_uint(ref->device, CL_DEVICE_MAX_CLOCK_FREQUENCY);
    info->global_mem_bytes = device_ulong(ref->device, CL_DEVICE_GLOBAL_MEM_SIZE);
    info->local_mem_bytes = device_ulong(ref->device, CL_DEVICE_LOCAL_MEM_SIZE);
    info->max_alloc_bytes = device_ulong(ref->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
    clGetDeviceInfo(ref->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof info->max_work_group_size,
                    &info->max_work_group_size, NULL);
    if (info->max_work_group_size == 0) info->max_work_group_size = 1;

    device_string(ref->device, CL_DEVICE_EXTENSIONS, extensions, sizeof extensions);
    info->has_fp16 = strstr(extensions, "cl_khr_fp16") != NULL;
    info->has_fp64 = strstr(extensions, "cl_khr_fp64") != NULL;
}

clg_status clg_device_list(clg_device_info *infos, int capacity, int *count) {
    device_ref refs[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int n = 0;
    clg_status s;

    if (!count || (capacity > 0 && !infos))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_device_list: NULL argument");
    s = enumerate(refs, MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM, &n);
    *count = n;
    if (s != CLG_OK) return s;
    for (int i = 0; i < n && i < capacity; i++) fill_info(&refs[i], i, &infos[i]);
    return CLG_OK;
}

static int contains_ignoring_case(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* Parse "N" or "P:D"; returns 1 for an index, 2 for a pair, 0 for a name. */
static int parse_index(const char *s, int *a, int *b) {
    char tail;
    if (sscanf(s, "%d:%d%c", a, b, &tail) == 2) return 2;
    if (sscanf(s, "%d%c", a, &tail) == 1) return 1;
    return 0;
}

static clg_status match_selector(const char *selector, const char *origin,
                                 const clg_device_info *infos, int n, int *index) {
    int a = 0, b = 0;
    int kind = parse_index(selector, &a, &b);

    for (int i = 0; i < n; i++) {
        const clg_device_info *d = &infos[i];
        int hit = kind == 1   ? d->index == a
                  : kind == 2 ? (d->platform_index == a && d->device_index == b)
                              : (contains_ignoring_case(d->name, selector) ||
                                 contains_ignoring_case(d->vendor, selector) ||
                                 contains_ignoring_case(d->platform, selector));
        if (hit) {
            *index = i;
            return CLG_OK;
        }
    }
    return clg_error(CLG_ERR_NO_DEVICE,
                     "no OpenCL device matches %s \"%s\" (%d devices; clgan-devices lists them)",
                     origin, selector, n);
}

clg_status clg_device_select(const char *selector, int *index) {
    clg_device_info infos[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int n = 0;
    const char *env = getenv("CLGAN_DEVICE");
    clg_status s = clg_device_list(infos, MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM, &n);

    if (s != CLG_OK) return s;
    if (selector && *selector) return match_selector(selector, "device", infos, n, index);
    if (env && *env) return match_selector(env, "CLGAN_DEVICE", infos, n, index);
    *index = 0;
    for (int i = 0; i < n; i++) {
        if (infos[i].type == CLG_DEVICE_GPU) {
            *index = i;
            break;
        }
    }
    return CLG_OK;
}

/* Build options per device: strict IEEE arithmetic, no fast-math. */
static void choose_build_options(clg_device *dev) {
    snprintf(dev->build_options, sizeof dev->build_options, "-cl-std=CL1.2%s",
             dev->info.has_fp16 ? " -DCLG_HAS_FP16=1" : "");
}

clg_status clgi_cache_init(clg_device *dev);
void clgi_blas_configure(clg_device *dev);

static clg_status finish_open(clg_device *dev) {
    char report[2048];

    choose_build_options(dev);
    clgi_cache_init(dev);
    clgi_blas_configure(dev);
    clg_device_describe(&dev->info, report, sizeof report);
    clg_log(CLG_LOG_INFO, "using device %d: %s", dev->info.index, report);
    return CLG_OK;
}

clg_status clg_device_open(const char *selector, clg_device **out) {
    device_ref refs[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int n = 0, index = 0;
    cl_int err;
    clg_device *dev;
    clg_status s;

    if (!out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_device_open: out is NULL");
    *out = NULL;
    if ((s = clg_device_select(selector, &index)) != CLG_OK) return s;
    if ((s = enumerate(refs, MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM, &n)) != CLG_OK) return s;

    dev = calloc(1, sizeof *dev);
    if (!dev) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "clg_device_open: out of memory");
    dev->platform = refs[index].platform;
    dev->id = refs[index].device;
    dev->owns_context = 1;
    fill_info(&refs[index], index, &dev->info);

    dev->context = clCreateContext(NULL, 1, &dev->id, NULL, NULL, &err);
    if (err != CL_SUCCESS) {
        free(dev);
        return clgi_cl_error(err, "clCreateContext");
    }
    dev->queue = clCreateCommandQueue(dev->context, dev->id, 0, &err);
    if (err != CL_SUCCESS) {
        clReleaseContext(dev->context);
        free(dev);
        return clgi_cl_error(err, "clCreateCommandQueue");
    }
    *out = dev;
    return finish_open(dev);
}

clg_status clg_device_wrap(cl_context context, cl_device_id device, cl_command_queue queue,
                           clg_device **out) {
    device_ref refs[MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM];
    int n = 0, index = -1;
    clg_device *dev;

    if (!context || !device || !queue || !out)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_device_wrap: NULL argument");
    *out = NULL;
    enumerate(refs, MAX_PLATFORMS * MAX_DEVICES_PER_PLATFORM, &n);
    for (int i = 0; i < n; i++)
        if (refs[i].device == device) index = i;

    dev = calloc(1, sizeof *dev);
    if (!dev) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "clg_device_wrap: out of memory");
    dev->id = device;
    clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof dev->platform, &dev->platform, NULL);
    dev->context = context;
    dev->queue = queue;
    dev->owns_context = 0;
    fill_info(&(device_ref){dev->platform, device, index < 0 ? 0 : refs[index].platform_index,
                            index < 0 ? 0 : refs[index].device_index},
              index, &dev->info);
    *out = dev;
    return finish_open(dev);
}

void clgi_programs_release(clg_device *dev);
void clgi_pool_release(clg_device *dev);

void clg_device_release(clg_device *dev) {
    if (!dev) return;
    if (dev->queue) clFinish(dev->queue);
    clgi_programs_release(dev);
    clgi_pool_release(dev);
    if (dev->bytes_live)
        clg_log(CLG_LOG_WARN, "device released with %llu bytes still held by tensors",
                (unsigned long long)dev->bytes_live);
    if (dev->owns_context) {
        clReleaseCommandQueue(dev->queue);
        clReleaseContext(dev->context);
    }
    free(dev);
}

const clg_device_info *clg_device_get_info(const clg_device *dev) {
    return &dev->info;
}

clg_status clg_device_finish(clg_device *dev) {
    cl_int err = clFinish(dev->queue);
    return err == CL_SUCCESS ? CLG_OK : clgi_cl_error(err, "clFinish");
}

static const char *type_name(clg_device_type type) {
    switch (type) {
    case CLG_DEVICE_GPU: return "GPU";
    case CLG_DEVICE_CPU: return "CPU";
    case CLG_DEVICE_ACCELERATOR: return "accelerator";
    default: return "other";
    }
}

void clg_device_describe(const clg_device_info *d, char *buf, size_t size) {
    snprintf(buf, size,
             "%s (%s, %s)\n"
             "  platform          %s (%d:%d)\n"
             "  driver            %s\n"
             "  OpenCL C          %s\n"
             "  compute units     %u at %u MHz\n"
             "  global memory     %.1f MiB\n"
             "  local memory      %.1f KiB\n"
             "  largest buffer    %.1f MiB\n"
             "  work-group size   %zu\n"
             "  fp16 / fp64       %s / %s\n"
             "  GEMM parameters   %s",
             d->name, d->vendor, type_name(d->type), d->platform, d->platform_index,
             d->device_index, d->driver_version, d->opencl_c_version, d->compute_units,
             d->clock_mhz, d->global_mem_bytes / 1048576.0, d->local_mem_bytes / 1024.0,
             d->max_alloc_bytes / 1048576.0, d->max_work_group_size, d->has_fp16 ? "yes" : "no",
             d->has_fp64 ? "yes" : "no", d->blas_tuned ? "tuned (clgan-tune)" : "CLBlast's own");
}

void clg_device_cache_stats(const clg_device *dev, int *built, int *loaded) {
    if (built) *built = dev->programs_built;
    if (loaded) *loaded = dev->programs_loaded;
}

uint64_t clg_device_bytes_live(const clg_device *dev) {
    return dev->bytes_live;
}

uint64_t clg_device_bytes_peak(const clg_device *dev) {
    return dev->bytes_peak;
}

void clg_device_reset_peak(clg_device *dev) {
    dev->bytes_peak = dev->bytes_live;
}

const char *clg_device_cache_dir(const clg_device *dev) {
    return dev->cache_dir;
}

cl_context clg_device_context(const clg_device *dev) {
    return dev->context;
}

cl_command_queue clg_device_queue(const clg_device *dev) {
    return dev->queue;
}

cl_device_id clg_device_id(const clg_device *dev) {
    return dev->id;
}
