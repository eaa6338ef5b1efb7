/* Setting kernel arguments and enqueueing kernels with a legal work-group shape. */
#include "device/internal.h"

#include <stdio.h>

/* The library's preferred work-group size for elementwise kernels. */
#define PREFERRED_LOCAL 256

static size_t round_up(size_t n, size_t multiple) {
    return (n + multiple - 1) / multiple * multiple;
}

/* A power of two no larger than limit. */
static size_t floor_pow2(size_t limit) {
    size_t p = 1;
    while (p * 2 <= limit) p *= 2;
    return p;
}

/* Choose a work-group shape whose product stays within limit. */
static void choose_local(int dims, size_t limit, size_t *local) {
    size_t budget = floor_pow2(limit < PREFERRED_LOCAL ? limit : PREFERRED_LOCAL);

    local[0] = local[1] = local[2] = 1;
    if (dims == 1) {
        local[0] = budget;
        return;
    }
    /* 2-D and 3-D: square-ish in x and y, 1 in z. */
    local[0] = local[1] = 1;
    while (local[0] * local[1] * 2 <= budget) {
        if (local[0] <= local[1]) local[0] *= 2;
        else local[1] *= 2;
    }
}

static clg_status set_args(clgi_kernel_entry *k, int nargs, const clgi_arg *args) {
    for (int i = 0; i < nargs; i++) {
        cl_int err = clSetKernelArg(k->kernel, (cl_uint)i, args[i].size, args[i].value);
        if (err != CL_SUCCESS) {
            char what[128];
            snprintf(what, sizeof what, "clSetKernelArg(%s, argument %d)", k->name, i);
            return clgi_cl_error(err, what);
        }
    }
    return CLG_OK;
}

clg_status clgi_launch(clg_device *dev, clgi_kernel_entry *k, int dims, const size_t *global,
                       const size_t *local, int nargs, const clgi_arg *args) {
    size_t l[3], g[3];
    size_t product = 1;
    cl_int err;
    clg_status s;

    if (dims < 1 || dims > 3)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: %d dimensions", k->name, dims);
    for (int i = 0; i < dims; i++)
        if (global[i] == 0) return CLG_OK; /* nothing to do */
    if ((s = set_args(k, nargs, args)) != CLG_OK) return s;

    if (local) {
        for (int i = 0; i < dims; i++) product *= (l[i] = local[i]);
        if (product > k->max_local)
            return clg_error(CLG_ERR_UNSUPPORTED,
                             "%s: work-group of %zu items exceeds this kernel's limit %zu on %s",
                             k->name, product, k->max_local, dev->info.name);
    } else {
        choose_local(dims, k->max_local, l);
    }
    for (int i = 0; i < dims; i++) g[i] = round_up(global[i], l[i]);

    err = clEnqueueNDRangeKernel(dev->queue, k->kernel, (cl_uint)dims, NULL, g, l, 0, NULL, NULL);
    if (err != CL_SUCCESS) {
        char what[128];
        snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", k->name);
        return clgi_cl_error(err, what);
    }
    return CLG_OK;
}

clg_status clgi_run(clg_device *dev, const char *file, const char *name, int dims,
                    const size_t *global, int nargs, const clgi_arg *args) {
    clgi_kernel_entry *k;
    clg_status s = clgi_kernel(dev, file, name, &k);
    return s != CLG_OK ? s : clgi_launch(dev, k, dims, global, NULL, nargs, args);
}
