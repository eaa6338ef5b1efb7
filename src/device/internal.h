/* Library-internal view of devices and tensors: kernels, launches, buffers, GEMM. */
#ifndef CLGAN_DEVICE_INTERNAL_H
#define CLGAN_DEVICE_INTERNAL_H

/*
 * Code in src/ that dispatches kernels uses this header. A kernel is named by
 * its file in cl/ and its function name; the program is compiled (or loaded
 * from the disk cache) the first time one of its kernels is asked for.
 *
 * Kernel conventions: every tensor argument is passed as two arguments, the
 * buffer and the offset in floats where the tensor begins (CLGI_TENSOR does
 * both), and every kernel checks its global id against the real size, since
 * launches round the global size up to a multiple of the work-group size.
 * cl/common.clh is prepended to every program.
 *
 * A device and its tensors are used from one thread at a time.
 */

#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#include "clgan/device.h"
#include "clgan/opencl.h"
#include "clgan/tensor.h"

typedef struct clgi_kernel_entry {
    char name[64];
    cl_kernel kernel;
    size_t max_local; /* the smaller of the kernel's and the device's work-group limit */
} clgi_kernel_entry;

typedef struct clgi_program_entry {
    char file[64];
    cl_program program;
    clgi_kernel_entry **kernels; /* each allocated alone: entry pointers stay valid */
    int kernel_count;
} clgi_program_entry;

typedef struct clgi_pooled_buffer {
    cl_mem mem;
    size_t bytes;
} clgi_pooled_buffer;

struct clg_device {
    cl_platform_id platform;
    cl_device_id id;
    cl_context context;
    cl_command_queue queue;
    int owns_context; /* false for a wrapped caller's context and queue */
    clg_device_info info;

    char build_options[512];
    char cache_dir[1024]; /* "" when the disk cache is off */
    int programs_built;
    int programs_loaded;
    clgi_program_entry *programs;
    int program_count;

    clgi_pooled_buffer *pool; /* released buffers kept for reuse, matched by exact size */
    int pool_count;
    int pool_capacity;
    uint64_t pool_bytes;

    uint64_t bytes_live;
    uint64_t bytes_peak;
};

/* A shared device buffer; freed (or pooled) when its last tensor lets go. */
typedef struct clgi_buffer {
    clg_device *device;
    cl_mem mem;
    size_t bytes;
    int refs;
} clgi_buffer;

struct clg_tensor {
    clg_device *device;
    clgi_buffer *buffer;
    size_t offset; /* in floats */
    int ndim;
    int shape[CLG_MAX_DIMS];
    size_t numel;
};

/* Set the thread's message to "<what>: <OpenCL error name>" and return CLG_ERR_OPENCL. */
clg_status clgi_cl_error(cl_int err, const char *what);
const char *clgi_cl_error_name(cl_int err);

/* The kernel named name in cl/file, building or loading its program on first use. */
clg_status clgi_kernel(clg_device *device, const char *file, const char *name,
                       clgi_kernel_entry **out);

/* Kernel arguments: CLGI_TENSOR(t) expands to two (buffer, offset); the rest to one. */
typedef struct clgi_arg {
    size_t size;
    const void *value;
} clgi_arg;

cl_mem clgi_mem(const clg_tensor *t);
cl_int clgi_off(const clg_tensor *t);

#define CLGI_MEM(m)    ((clgi_arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define CLGI_INT(v)    ((clgi_arg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define CLGI_FLOAT(v)  ((clgi_arg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
#define CLGI_LOCAL(b)  ((clgi_arg){(size_t)(b), NULL})
#define CLGI_TENSOR(t) CLGI_MEM(clgi_mem(t)), CLGI_INT(clgi_off(t))

/*
 * Set args and enqueue kernel over global (dims 1 to 3). local NULL lets the
 * library choose a work-group shape within the kernel's and device's limits;
 * an explicit local is checked against those limits. Global sizes are
 * rounded up to a multiple of the work-group size.
 */
clg_status clgi_launch(clg_device *device, clgi_kernel_entry *kernel, int dims,
                       const size_t *global, const size_t *local, int nargs, const clgi_arg *args);

/* Look up file/name and launch it with a library-chosen work-group shape. */
clg_status clgi_run(clg_device *device, const char *file, const char *name, int dims,
                    const size_t *global, int nargs, const clgi_arg *args);

#define CLGI_ARGS(...) (int)(sizeof((clgi_arg[]){__VA_ARGS__}) / sizeof(clgi_arg)), \
                       (clgi_arg[]){__VA_ARGS__}

/* Example: CLGI_RUN(dev, "eltwise.cl", "relu_forward", 1, (size_t[]){n},
 *                   CLGI_TENSOR(x), CLGI_TENSOR(y), CLGI_INT(n)); */
#define CLGI_RUN(device, file, name, dims, global, ...) \
    clgi_run((device), (file), (name), (dims), (global), CLGI_ARGS(__VA_ARGS__))

/* Device buffers with live/peak accounting and reuse. */
clg_status clgi_buffer_create(clg_device *device, size_t bytes, clgi_buffer **out);
void clgi_buffer_release(clgi_buffer *buffer);

/*
 * Row-major single-precision GEMM through CLBlast on raw buffers:
 * C = alpha * op(A) * op(B) + beta * C, op(A) m x k, op(B) k x n, offsets in
 * floats. With beta == 0, C is never read (it may hold garbage).
 */
clg_status clgi_gemm(clg_device *device, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                     float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                     size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc);

/* batch independent GEMMs, operand i starting stride floats after operand i - 1. */
clg_status clgi_gemm_batched(clg_device *device, int trans_a, int trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                             size_t a_stride, cl_mem b, size_t b_off, size_t ldb, size_t b_stride,
                             float beta, cl_mem c, size_t c_off, size_t ldc, size_t c_stride,
                             size_t batch);

#endif
