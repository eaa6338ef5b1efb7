/* 2x2, stride-2 max and average pooling, forward and backward (cl/pool.cl). */
#include "clgan/ops.h"
#include "device/internal.h"

/* x [..., H, W] pooled to y [..., H / 2, W / 2] (floor), planes being every leading index. */
typedef struct pool_dims {
    int h, w, ho, wo;
    size_t planes;
} pool_dims;

static clg_status check_pool(const char *op, const clg_tensor *x, const clg_tensor *y,
                             pool_dims *d) {
    char xs[64], ys[64];
    int ok;

    if (!x || !y) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL tensor", op);
    clg_tensor_shape_string(x, xs, sizeof xs);
    clg_tensor_shape_string(y, ys, sizeof ys);
    d->h = clg_tensor_dim(x, -2);
    d->w = clg_tensor_dim(x, -1);
    d->ho = d->h / 2;
    d->wo = d->w / 2;
    d->planes = clg_tensor_numel(x) / ((size_t)d->h * (size_t)d->w);
    ok = clg_tensor_ndim(x) >= 2 && clg_tensor_ndim(y) == clg_tensor_ndim(x) && d->ho > 0 &&
         d->wo > 0 && clg_tensor_dim(y, -2) == d->ho && clg_tensor_dim(y, -1) == d->wo &&
         clg_tensor_numel(y) == d->planes * (size_t)d->ho * (size_t)d->wo;
    if (!ok) return clg_error(CLG_ERR_SHAPE, "%s: x %s cannot pool 2x2 into y %s", op, xs, ys);
    if (clg_tensor_device(x) != clg_tensor_device(y))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensors on two devices", op);
    return CLG_OK;
}

static clg_status pool_forward(const char *op, const char *kernel, const clg_tensor *x,
                               clg_tensor *y) {
    pool_dims d;
    clg_status s = check_pool(op, x, y, &d);
    size_t n;

    if (s != CLG_OK) return s;
    n = clg_tensor_numel(y);
    return CLGI_RUN(clg_tensor_device(x), "pool.cl", kernel, 1, (size_t[]){n}, CLGI_TENSOR(x),
                    CLGI_INT(d.h), CLGI_INT(d.w), CLGI_INT(d.ho), CLGI_INT(d.wo), CLGI_INT(n),
                    CLGI_TENSOR(y));
}

/* dx from dy; x is only read for max pooling (ref stands in for it otherwise). */
static clg_status pool_backward(const char *op, int is_max, const clg_tensor *ref,
                                const clg_tensor *x, const clg_tensor *dy, clg_tensor *dx,
                                int accumulate) {
    pool_dims d;
    clg_status s;
    size_t n;

    if (!dx) return CLG_OK;
    if ((s = check_pool(op, ref, dy, &d)) != CLG_OK) return s;
    if (x && !clg_tensor_same_shape(x, dx)) {
        char xs[64], ds[64];
        clg_tensor_shape_string(x, xs, sizeof xs);
        clg_tensor_shape_string(dx, ds, sizeof ds);
        return clg_error(CLG_ERR_SHAPE, "%s: dx %s does not match x %s", op, ds, xs);
    }
    n = clg_tensor_numel(dx);
    return CLGI_RUN(clg_tensor_device(dx), "pool.cl", "pool_backward", 1, (size_t[]){n},
                    CLGI_INT(is_max), CLGI_TENSOR(x ? x : dx), CLGI_TENSOR(dy), CLGI_INT(d.h),
                    CLGI_INT(d.w), CLGI_INT(d.ho), CLGI_INT(d.wo), CLGI_INT(n), CLGI_TENSOR(dx),
                    CLGI_INT(accumulate));
}

clg_status clg_max_pool2d_forward(const clg_tensor *x, clg_tensor *y) {
    return pool_forward("max_pool2d_forward", "max_pool_forward", x, y);
}

clg_status clg_max_pool2d_backward(const clg_tensor *x, const clg_tensor *dy, clg_tensor *dx,
                                   int accumulate) {
    if (!x) return clg_error(CLG_ERR_INVALID_ARGUMENT, "max_pool2d_backward: x is NULL");
    return pool_backward("max_pool2d_backward", 1, x, x, dy, dx, accumulate);
}

clg_status clg_avg_pool2d_forward(const clg_tensor *x, clg_tensor *y) {
    return pool_forward("avg_pool2d_forward", "avg_pool_forward", x, y);
}

clg_status clg_avg_pool2d_backward(const clg_tensor *dy, clg_tensor *dx, int accumulate) {
    return pool_backward("avg_pool2d_backward", 0, dx, NULL, dy, dx, accumulate);
}
