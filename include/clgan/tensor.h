/* Tensors: float32 arrays of up to four dimensions (N-C-H-W) on one device. */
#ifndef CLGAN_TENSOR_H
#define CLGAN_TENSOR_H

/*
 * A clg_tensor is a dense, row-major float32 array of one to four
 * dimensions on one device; images are N-C-H-W. A tensor owns a device
 * buffer, or is a view that shares another tensor's buffer (a reshape, or a
 * run of rows along the first dimension). Views keep the buffer alive: the
 * buffer goes back to the device when its last tensor is released.
 *
 * New tensors have undefined contents (many devices do not clear memory);
 * use clg_tensor_zeros or fill one before reading it. A tensor larger than
 * the device's largest allocation is refused before any OpenCL call, with a
 * message naming both sizes.
 */

#include <stddef.h>

#include "clgan/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_MAX_DIMS 4

typedef struct clg_tensor clg_tensor;

/* A new tensor of the given shape (ndim 1 to 4, every size at least 1), contents undefined. */
clg_status clg_tensor_create(clg_device *device, int ndim, const int *shape, clg_tensor **out);

/* Shorthand for a four-dimensional N-C-H-W tensor. */
clg_status clg_tensor_create4(clg_device *device, int n, int c, int h, int w, clg_tensor **out);

/* A new tensor filled with zeros. */
clg_status clg_tensor_zeros(clg_device *device, int ndim, const int *shape, clg_tensor **out);

/* A new tensor of src's shape on src's device, contents undefined. */
clg_status clg_tensor_create_like(const clg_tensor *src, clg_tensor **out);

/* A new tensor holding a copy of host data (count must equal the element count). */
clg_status clg_tensor_from_host(clg_device *device, int ndim, const int *shape, const float *data,
                                clg_tensor **out);

/* Release a tensor; the buffer is freed (or kept for reuse) with its last view. NULL is fine. */
void clg_tensor_release(clg_tensor *tensor);

/* A view of the same data with another shape of equal element count. */
clg_status clg_tensor_reshape(clg_tensor *src, int ndim, const int *shape, clg_tensor **out);

/* A view of rows [start, start + count) along the first dimension. */
clg_status clg_tensor_narrow(clg_tensor *src, int start, int count, clg_tensor **out);

/* Copy count floats from the host; count must equal the element count. Blocks until done. */
clg_status clg_tensor_upload(clg_tensor *tensor, const float *data, size_t count);

/* Copy count floats to the host; count must equal the element count. Blocks until done. */
clg_status clg_tensor_download(const clg_tensor *tensor, float *data, size_t count);

clg_status clg_tensor_fill(clg_tensor *tensor, float value);

/* Copy src into dst; both must have the same element count. */
clg_status clg_tensor_copy(clg_tensor *dst, const clg_tensor *src);

int clg_tensor_ndim(const clg_tensor *tensor);
/* Size of dimension i; negative i counts from the end. Out-of-range dimensions are 1. */
int clg_tensor_dim(const clg_tensor *tensor, int i);
const int *clg_tensor_shape(const clg_tensor *tensor);
size_t clg_tensor_numel(const clg_tensor *tensor);
clg_device *clg_tensor_device(const clg_tensor *tensor);

/* Write the shape as "[2, 3, 32, 32]" into buf. */
void clg_tensor_shape_string(const clg_tensor *tensor, char *buf, size_t size);

/* True when a and b have the same number of dimensions and sizes. */
int clg_tensor_same_shape(const clg_tensor *a, const clg_tensor *b);

#ifdef __cplusplus
}
#endif

#endif
