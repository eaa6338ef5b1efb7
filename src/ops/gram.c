/* Gram matrices of feature maps, G = F F^T / (C*H*W) per image, through CLBlast. */
#include "clgan/ops.h"
#include "device/internal.h"

typedef struct gram_dims {
    size_t n, c, hw;
} gram_dims;

static clg_status check_gram(const char *op, const clg_tensor *x, const clg_tensor *gram,
                             gram_dims *d) {
    char xs[64], gs[64];

    if (!x || !gram) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL tensor", op);
    clg_tensor_shape_string(x, xs, sizeof xs);
    clg_tensor_shape_string(gram, gs, sizeof gs);
    if (clg_tensor_ndim(x) != 4)
        return clg_error(CLG_ERR_SHAPE, "%s: x %s is not [N, C, H, W]", op, xs);
    d->n = (size_t)clg_tensor_dim(x, 0);
    d->c = (size_t)clg_tensor_dim(x, 1);
    d->hw = (size_t)clg_tensor_dim(x, 2) * (size_t)clg_tensor_dim(x, 3);
    if (clg_tensor_numel(gram) != d->n * d->c * d->c || clg_tensor_dim(gram, -1) != (int)d->c)
        return clg_error(CLG_ERR_SHAPE, "%s: gram %s should be [%zu, %zu, %zu] for x %s", op, gs,
                         d->n, d->c, d->c, xs);
    if (clg_tensor_device(x) != clg_tensor_device(gram))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensors on two devices", op);
    return CLG_OK;
}

clg_status clg_gram_forward(const clg_tensor *x, clg_tensor *gram) {
    gram_dims d;
    clg_status s = check_gram("gram_forward", x, gram, &d);
    float alpha;

    if (s != CLG_OK) return s;
    alpha = (float)(1.0 / ((double)d.c * (double)d.hw));
    return clgi_gemm_batched(clg_tensor_device(x), 0, 1, d.c, d.c, d.hw, alpha, clgi_mem(x),
                             clgi_off(x), d.hw, d.c * d.hw, clgi_mem(x), clgi_off(x), d.hw,
                             d.c * d.hw, 0.0f, clgi_mem(gram), clgi_off(gram), d.c, d.c * d.c, d.n);
}

/* dF = (dG + dG^T) F / (C*H*W): one product with dG, a second with dG^T added to it. */
clg_status clg_gram_backward(const clg_tensor *x, const clg_tensor *dgram, clg_tensor *dx,
                             int accumulate) {
    const char *op = "gram_backward";
    gram_dims d;
    clg_status s = check_gram(op, x, dgram, &d);
    float alpha;

    if (s != CLG_OK || !dx) return s;
    if (!clg_tensor_same_shape(x, dx)) {
        char xs[64], ds[64];
        clg_tensor_shape_string(x, xs, sizeof xs);
        clg_tensor_shape_string(dx, ds, sizeof ds);
        return clg_error(CLG_ERR_SHAPE, "%s: dx %s does not match x %s", op, ds, xs);
    }
    alpha = (float)(1.0 / ((double)d.c * (double)d.hw));
    for (int trans = 0; trans < 2 && s == CLG_OK; trans++)
        s = clgi_gemm_batched(clg_tensor_device(x), trans, 0, d.c, d.hw, d.c, alpha,
                              clgi_mem(dgram), clgi_off(dgram), d.c, d.c * d.c, clgi_mem(x),
                              clgi_off(x), d.hw, d.c * d.hw, trans || accumulate ? 1.0f : 0.0f,
                              clgi_mem(dx), clgi_off(dx), d.hw, d.c * d.hw, d.n);
    return s;
}
