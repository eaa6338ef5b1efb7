/* Sums and means of every element, reduced on the device in a fixed order (cl/reduce.cl). */
#include "clgan/ops.h"
#include "device/internal.h"

/* Partial sums per reduction; equals PARTS in cl/reduce.cl. */
#define PARTS 1024
/* Work-items of the final pass, fewer where the device allows fewer; the result is the same. */
#define FINAL_LOCAL 256

static clg_status check_reduce(const char *op, const clg_tensor *x, const clg_tensor *out) {
    char os[64];

    if (!x || !out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL tensor", op);
    if (clg_tensor_device(x) != clg_tensor_device(out))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensors on two devices", op);
    if (clg_tensor_numel(out) == 1) return CLG_OK;
    clg_tensor_shape_string(out, os, sizeof os);
    return clg_error(CLG_ERR_SHAPE, "%s: out %s should be a [1] tensor", op, os);
}

/* out[0] = scale * sum(x): PARTS strided partial sums, then one tree in local memory. */
static clg_status reduce_all(const char *op, const clg_tensor *x, float scale, clg_tensor *out) {
    clg_device *dev;
    clgi_buffer *partials = NULL;
    clgi_kernel_entry *final;
    size_t local;
    clg_status s = check_reduce(op, x, out);

    if (s != CLG_OK) return s;
    dev = clg_tensor_device(x);
    if ((s = clgi_kernel(dev, "reduce.cl", "sum_final", &final)) != CLG_OK ||
        (s = clgi_buffer_create(dev, PARTS * sizeof(float), &partials)) != CLG_OK)
        return s;
    s = CLGI_RUN(dev, "reduce.cl", "sum_partials", 1, (size_t[]){PARTS}, CLGI_TENSOR(x),
                 CLGI_INT(clg_tensor_numel(x)), CLGI_MEM(partials->mem));
    local = final->max_local < FINAL_LOCAL ? final->max_local : FINAL_LOCAL;
    if (s == CLG_OK)
        s = clgi_launch(dev, final, 1, &local, &local,
                        CLGI_ARGS(CLGI_MEM(partials->mem), CLGI_FLOAT(scale), CLGI_TENSOR(out)));
    clgi_buffer_release(partials);
    return s;
}

clg_status clg_sum(const clg_tensor *x, clg_tensor *out) {
    return reduce_all("sum", x, 1.0f, out);
}

clg_status clg_mean(const clg_tensor *x, clg_tensor *out) {
    return reduce_all("mean", x, x ? (float)(1.0 / (double)clg_tensor_numel(x)) : 1.0f, out);
}

/* dx (+)= scale * dout[0] everywhere: the backward of sum (scale 1) and mean (1 / count). */
static clg_status broadcast_grad(const char *op, const clg_tensor *dout, float scale,
                                 clg_tensor *dx, int accumulate) {
    clg_status s;

    if (!dx) return CLG_OK;
    if ((s = check_reduce(op, dx, dout)) != CLG_OK) return s;
    return CLGI_RUN(clg_tensor_device(dx), "reduce.cl", "broadcast_grad", 1,
                    (size_t[]){clg_tensor_numel(dx)}, CLGI_TENSOR(dout), CLGI_FLOAT(scale),
                    CLGI_TENSOR(dx), CLGI_INT(clg_tensor_numel(dx)), CLGI_INT(accumulate));
}

clg_status clg_sum_backward(const clg_tensor *dout, clg_tensor *dx, int accumulate) {
    return broadcast_grad("sum_backward", dout, 1.0f, dx, accumulate);
}

clg_status clg_mean_backward(const clg_tensor *dout, clg_tensor *dx, int accumulate) {
    float scale = dx ? (float)(1.0 / (double)clg_tensor_numel(dx)) : 1.0f;
    return broadcast_grad("mean_backward", dout, scale, dx, accumulate);
}
