/* Tensors: device buffers with shape, views, transfers, and the buffer reuse pool. */
#include "device/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Released buffers kept for reuse, at most this many bytes in all. */
#define POOL_LIMIT_BYTES (512ull << 20)

/* ---- Buffers and the pool ---- */

static cl_mem pool_take(clg_device *dev, size_t bytes) {
    for (int i = dev->pool_count - 1; i >= 0; i--) {
        if (dev->pool[i].bytes != bytes) continue;
        cl_mem mem = dev->pool[i].mem;
        dev->pool[i] = dev->pool[--dev->pool_count];
        dev->pool_bytes -= bytes;
        return mem;
    }
    return NULL;
}

static int pool_put(clg_device *dev, cl_mem mem, size_t bytes) {
    if (dev->pool_bytes + bytes > POOL_LIMIT_BYTES) return 0;
    if (dev->pool_count == dev->pool_capacity) {
        int capacity = dev->pool_capacity ? dev->pool_capacity * 2 : 64;
        clgi_pooled_buffer *grown = realloc(dev->pool, (size_t)capacity * sizeof *grown);
        if (!grown) return 0;
        dev->pool = grown;
        dev->pool_capacity = capacity;
    }
    dev->pool[dev->pool_count++] = (clgi_pooled_buffer){mem, bytes};
    dev->pool_bytes += bytes;
    return 1;
}

void clg_device_trim(clg_device *dev) {
    for (int i = 0; i < dev->pool_count; i++) clReleaseMemObject(dev->pool[i].mem);
    dev->pool_count = 0;
    dev->pool_bytes = 0;
}

void clgi_pool_release(clg_device *dev) {
    clg_device_trim(dev);
    free(dev->pool);
    dev->pool = NULL;
    dev->pool_capacity = 0;
}

clg_status clgi_buffer_create(clg_device *dev, size_t bytes, clgi_buffer **out) {
    clgi_buffer *b;
    cl_int err = CL_SUCCESS;

    if (bytes > dev->info.max_alloc_bytes)
        return clg_error(CLG_ERR_OUT_OF_DEVICE_MEMORY,
                         "a buffer of %zu bytes (%.1f MiB) exceeds the largest allocation of "
                         "%s, %llu bytes (%.1f MiB)",
                         bytes, bytes / 1048576.0, dev->info.name,
                         (unsigned long long)dev->info.max_alloc_bytes,
                         dev->info.max_alloc_bytes / 1048576.0);
    b = calloc(1, sizeof *b);
    if (!b) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    b->mem = pool_take(dev, bytes);
    if (!b->mem) {
        b->mem = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
        if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) {
            clg_device_trim(dev); /* the pool may hold what we need; try once more */
            b->mem = clCreateBuffer(dev->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
        }
    }
    if (err != CL_SUCCESS) {
        free(b);
        return clgi_cl_error(err, "clCreateBuffer");
    }
    b->device = dev;
    b->bytes = bytes;
    b->refs = 1;
    dev->bytes_live += bytes;
    if (dev->bytes_live > dev->bytes_peak) dev->bytes_peak = dev->bytes_live;
    *out = b;
    return CLG_OK;
}

void clgi_buffer_release(clgi_buffer *b) {
    if (!b || --b->refs > 0) return;
    b->device->bytes_live -= b->bytes;
    if (!pool_put(b->device, b->mem, b->bytes)) clReleaseMemObject(b->mem);
    free(b);
}

/* ---- Shapes ---- */

static clg_status check_shape(int ndim, const int *shape, size_t *numel) {
    if (ndim < 1 || ndim > CLG_MAX_DIMS || !shape)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "a tensor has 1 to %d dimensions, not %d",
                         CLG_MAX_DIMS, ndim);
    *numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1)
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "tensor dimension %d has size %d", i,
                             shape[i]);
        if (*numel > SIZE_MAX / sizeof(float) / (size_t)shape[i])
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "tensor size overflows");
        *numel *= (size_t)shape[i];
    }
    if (*numel > (size_t)INT32_MAX)
        return clg_error(CLG_ERR_UNSUPPORTED, "a tensor of %zu elements exceeds clgan's limit of "
                                              "2^31 - 1 elements", *numel);
    return CLG_OK;
}

static clg_status new_view(clg_device *dev, clgi_buffer *buffer, size_t offset, int ndim,
                           const int *shape, size_t numel, clg_tensor **out) {
    clg_tensor *t = calloc(1, sizeof *t);
    if (!t) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->device = dev;
    t->buffer = buffer;
    t->offset = offset;
    t->ndim = ndim;
    t->numel = numel;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    *out = t;
    return CLG_OK;
}

/* ---- Creation and release ---- */

clg_status clg_tensor_create(clg_device *dev, int ndim, const int *shape, clg_tensor **out) {
    size_t numel = 0;
    clgi_buffer *buffer;
    clg_status s;

    if (!dev || !out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_tensor_create: NULL argument");
    *out = NULL;
    if ((s = check_shape(ndim, shape, &numel)) != CLG_OK) return s;
    if ((s = clgi_buffer_create(dev, numel * sizeof(float), &buffer)) != CLG_OK) return s;
    s = new_view(dev, buffer, 0, ndim, shape, numel, out);
    if (s != CLG_OK) clgi_buffer_release(buffer);
    return s;
}

clg_status clg_tensor_create4(clg_device *dev, int n, int c, int h, int w, clg_tensor **out) {
    return clg_tensor_create(dev, 4, (const int[]){n, c, h, w}, out);
}

clg_status clg_tensor_zeros(clg_device *dev, int ndim, const int *shape, clg_tensor **out) {
    clg_status s = clg_tensor_create(dev, ndim, shape, out);
    if (s == CLG_OK && (s = clg_tensor_fill(*out, 0.0f)) != CLG_OK) {
        clg_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

clg_status clg_tensor_create_like(const clg_tensor *src, clg_tensor **out) {
    return clg_tensor_create(src->device, src->ndim, src->shape, out);
}

clg_status clg_tensor_from_host(clg_device *dev, int ndim, const int *shape, const float *data,
                                clg_tensor **out) {
    clg_status s = clg_tensor_create(dev, ndim, shape, out);
    if (s == CLG_OK && (s = clg_tensor_upload(*out, data, (*out)->numel)) != CLG_OK) {
        clg_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

void clg_tensor_release(clg_tensor *t) {
    if (!t) return;
    clgi_buffer_release(t->buffer);
    free(t);
}

/* ---- Views ---- */

clg_status clg_tensor_reshape(clg_tensor *src, int ndim, const int *shape, clg_tensor **out) {
    size_t numel = 0;
    clg_status s = check_shape(ndim, shape, &numel);

    if (s != CLG_OK) return s;
    if (numel != src->numel) {
        char have[64];
        clg_tensor_shape_string(src, have, sizeof have);
        return clg_error(CLG_ERR_SHAPE, "cannot reshape %s (%zu elements) to %zu elements", have,
                         src->numel, numel);
    }
    if ((s = new_view(src->device, src->buffer, src->offset, ndim, shape, numel, out)) == CLG_OK)
        src->buffer->refs++;
    return s;
}

clg_status clg_tensor_narrow(clg_tensor *src, int start, int count, clg_tensor **out) {
    int shape[CLG_MAX_DIMS];
    size_t row = src->numel / (size_t)src->shape[0];
    clg_status s;

    if (start < 0 || count < 1 || start + count > src->shape[0])
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "rows [%d, %d) are outside 0..%d", start,
                         start + count, src->shape[0]);
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = count;
    s = new_view(src->device, src->buffer, src->offset + (size_t)start * row, src->ndim, shape,
                 row * (size_t)count, out);
    if (s == CLG_OK) src->buffer->refs++;
    return s;
}

/* ---- Transfers ---- */

static clg_status check_count(const clg_tensor *t, size_t count, const char *what) {
    if (count == t->numel) return CLG_OK;
    return clg_error(CLG_ERR_SHAPE, "%s: %zu floats given for a tensor of %zu", what, count,
                     t->numel);
}

clg_status clg_tensor_upload(clg_tensor *t, const float *data, size_t count) {
    clg_status s = check_count(t, count, "clg_tensor_upload");
    cl_int err;

    if (s != CLG_OK) return s;
    err = clEnqueueWriteBuffer(t->device->queue, t->buffer->mem, CL_TRUE,
                               t->offset * sizeof(float), count * sizeof(float), data, 0, NULL,
                               NULL);
    return err == CL_SUCCESS ? CLG_OK : clgi_cl_error(err, "clEnqueueWriteBuffer");
}

clg_status clg_tensor_download(const clg_tensor *t, float *data, size_t count) {
    clg_status s = check_count(t, count, "clg_tensor_download");
    cl_int err;

    if (s != CLG_OK) return s;
    err = clEnqueueReadBuffer(t->device->queue, t->buffer->mem, CL_TRUE, t->offset * sizeof(float),
                              count * sizeof(float), data, 0, NULL, NULL);
    return err == CL_SUCCESS ? CLG_OK : clgi_cl_error(err, "clEnqueueReadBuffer");
}

clg_status clg_tensor_fill(clg_tensor *t, float value) {
    return CLGI_RUN(t->device, "tensor.cl", "fill", 1, (size_t[]){t->numel}, CLGI_TENSOR(t),
                    CLGI_INT(t->numel), CLGI_FLOAT(value));
}

clg_status clg_tensor_copy(clg_tensor *dst, const clg_tensor *src) {
    if (src->numel != dst->numel)
        return clg_error(CLG_ERR_SHAPE, "clg_tensor_copy: %zu elements into %zu", src->numel,
                         dst->numel);
    if (src->device != dst->device)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_tensor_copy: tensors on two devices");
    return CLGI_RUN(dst->device, "tensor.cl", "copy", 1, (size_t[]){dst->numel},
                    CLGI_TENSOR(dst), CLGI_TENSOR(src), CLGI_INT(dst->numel));
}

/* ---- Accessors ---- */

int clg_tensor_ndim(const clg_tensor *t) {
    return t->ndim;
}

int clg_tensor_dim(const clg_tensor *t, int i) {
    if (i < 0) i += t->ndim;
    return i >= 0 && i < t->ndim ? t->shape[i] : 1;
}

const int *clg_tensor_shape(const clg_tensor *t) {
    return t->shape;
}

size_t clg_tensor_numel(const clg_tensor *t) {
    return t->numel;
}

clg_device *clg_tensor_device(const clg_tensor *t) {
    return t->device;
}

void clg_tensor_shape_string(const clg_tensor *t, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ", %d" : "%d", t->shape[i]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

int clg_tensor_same_shape(const clg_tensor *a, const clg_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

cl_mem clg_tensor_buffer(const clg_tensor *t, size_t *offset) {
    if (offset) *offset = t->offset;
    return t->buffer->mem;
}

cl_mem clgi_mem(const clg_tensor *t) {
    return t->buffer->mem;
}

cl_int clgi_off(const clg_tensor *t) {
    return (cl_int)t->offset;
}
