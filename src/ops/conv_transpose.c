/* conv_transpose2d: conv2d's data gradient run forward, by CLBlast GEMM and col2im/im2col. */
#include "clgan/ops.h"
#include "ops/conv_internal.h"

/*
 * A transposed convolution of x [N, Cin, H, W] by weight [Cin, Cout, K, K]
 * is the input gradient of a conv2d whose input is the output y
 * [N, Cout, Ho, Wo] and whose output grid is x's H x W. So the forward is a
 * GEMM weight^T x x[n] into columns and a col2im into y; the backward runs
 * im2col over dy and GEMMs against it.
 */

typedef struct convt_dims {
    int n, cin, h, w;
    int cout, k;
    int ho, wo;
} convt_dims;

static clg_status convt_check_params(const clg_tensor *x, const clg_conv_transpose2d_params *p,
                                     const convt_dims *d) {
    char xs[64];

    if (!p || p->stride < 1 || p->padding < 0 || p->output_padding < 0 ||
        p->output_padding >= p->stride)
        return clg_error(
            CLG_ERR_INVALID_ARGUMENT,
            "conv_transpose2d: want stride >= 1, padding >= 0 and 0 <= output_padding < stride");
    if (d->ho < 1 || d->wo < 1) {
        clg_tensor_shape_string(x, xs, sizeof xs);
        return clg_error(CLG_ERR_SHAPE,
                         "conv_transpose2d: input %s with kernel %d, stride %d, padding %d gives "
                         "an empty output",
                         xs, d->k, p->stride, p->padding);
    }
    return CLG_OK;
}

static clg_status convt_dims_of(const clg_tensor *x, const clg_tensor *weight,
                                const clg_conv_transpose2d_params *p, convt_dims *d) {
    clg_status s = clgi_check_conv_operands("conv_transpose2d", x, weight, 0, "[Cin, Cout, K, K]");

    if (s != CLG_OK) return s;

    *d = (convt_dims){.n = clg_tensor_dim(x, 0),
                      .cin = clg_tensor_dim(x, 1),
                      .h = clg_tensor_dim(x, 2),
                      .w = clg_tensor_dim(x, 3),
                      .cout = clg_tensor_dim(weight, 1),
                      .k = clg_tensor_dim(weight, 2)};
    if (p) {
        d->ho = (d->h - 1) * p->stride - 2 * p->padding + d->k + p->output_padding;
        d->wo = (d->w - 1) * p->stride - 2 * p->padding + d->k + p->output_padding;
    }
    return convt_check_params(x, p, d);
}

/* The geometry of the conv2d this is the data gradient of: image y, windows over x's grid. */
static clgi_conv_geom convt_geom(const convt_dims *d, const clg_conv_transpose2d_params *p) {
    return (clgi_conv_geom){.channels = d->cout,
                            .height = d->ho,
                            .width = d->wo,
                            .out_h = d->h,
                            .out_w = d->w,
                            .kernel = d->k,
                            .stride = p->stride,
                            .pad_h = p->padding,
                            .pad_w = p->padding,
                            .reflect = 0};
}

clg_status clg_conv_transpose2d_output_shape(const clg_tensor *x, const clg_tensor *weight,
                                             const clg_conv_transpose2d_params *p,
                                             int out_shape[4]) {
    convt_dims d;
    clg_status s = convt_dims_of(x, weight, p, &d);

    if (s != CLG_OK) return s;
    out_shape[0] = d.n;
    out_shape[1] = d.cout;
    out_shape[2] = d.ho;
    out_shape[3] = d.wo;
    return CLG_OK;
}

/* ---- Forward ---- */

/* y[n] (+)= col2im(weight^T x x[n][:, p0 .. p0 + npix)), with the bias on the first run. */
static clg_status convt_forward_run(const clg_tensor *x, const clg_tensor *weight,
                                    const clg_tensor *bias, const convt_dims *d,
                                    const clgi_conv_geom *g, cl_mem col, int n, int p0, int npix,
                                    clg_tensor *y) {
    clg_device *dev = clg_tensor_device(x);
    size_t rows = clgi_col_rows(g), plane = (size_t)d->h * d->w;
    size_t x_off = clgi_off(x) + (size_t)n * d->cin * plane + p0;
    size_t y_off = clgi_off(y) + (size_t)n * d->cout * d->ho * d->wo;
    clg_status s;

    s = clgi_gemm(dev, 1, 0, rows, npix, d->cin, 1.0f, clgi_mem(weight), clgi_off(weight), rows,
                  clgi_mem(x), x_off, plane, 0.0f, col, 0, npix);
    if (s != CLG_OK) return s;
    return clgi_col2im(dev, g, col, 0, clgi_mem(y), y_off, p0 == 0 ? bias : NULL, p0, npix, p0 > 0);
}

clg_status clg_conv_transpose2d_forward(const clg_tensor *x, const clg_tensor *weight,
                                        const clg_tensor *bias,
                                        const clg_conv_transpose2d_params *p, clg_tensor *y) {
    const char *op = "conv_transpose2d";
    convt_dims d;
    clgi_conv_geom g;
    clgi_col_scratch col;
    clg_status s;

    if ((s = convt_dims_of(x, weight, p, &d)) != CLG_OK ||
        (s = clgi_check_optional(op, "bias", bias, x, 1, (int[]){d.cout})) != CLG_OK ||
        (s = clgi_check_optional(op, "output", y, x, 4, (int[]){d.n, d.cout, d.ho, d.wo})))
        return s;
    if (!y) return clg_error(CLG_ERR_INVALID_ARGUMENT, "conv_transpose2d: no output tensor");

    g = convt_geom(&d, p);
    if ((s = clgi_col_scratch_create(clg_tensor_device(x), &g, &col)) != CLG_OK) return s;

    int plane = d.h * d.w;
    for (int n = 0; n < d.n && s == CLG_OK; n++)
        for (int p0 = 0; p0 < plane && s == CLG_OK; p0 += col.chunk)
            s = convt_forward_run(x, weight, bias, &d, &g, col.buffer->mem, n, p0,
                                  plane - p0 < col.chunk ? plane - p0 : col.chunk, y);
    clgi_col_scratch_release(&col);
    return s;
}

/* ---- Backward ---- */

typedef struct convt_grads {
    const clg_tensor *x, *weight, *dy;
    clg_tensor *dx, *dweight;
    float dx_beta; /* 0 overwrites dx (one run per image), 1 adds */
    int accumulate;
} convt_grads;

/* dx and dweight contributions of input pixels [p0, p0 + npix) of image n. */
static clg_status convt_backward_run(const convt_grads *a, const convt_dims *d,
                                     const clgi_conv_geom *g, cl_mem col, int n, int p0, int npix) {
    clg_device *dev = clg_tensor_device(a->x);
    size_t rows = clgi_col_rows(g), plane = (size_t)d->h * d->w;
    size_t x_run = (size_t)n * d->cin * plane + p0;
    size_t dy_off = clgi_off(a->dy) + (size_t)n * d->cout * d->ho * d->wo;
    float dw_beta = n == 0 && p0 == 0 && !a->accumulate ? 0.0f : 1.0f;
    clg_status s = clgi_im2col(dev, g, clgi_mem(a->dy), dy_off, col, 0, p0, npix);

    /* dx[n] run = weight x im2col(dy[n]) */
    if (s == CLG_OK && a->dx)
        s = clgi_gemm(dev, 0, 0, d->cin, npix, rows, 1.0f, clgi_mem(a->weight), clgi_off(a->weight),
                      rows, col, 0, npix, a->dx_beta, clgi_mem(a->dx), clgi_off(a->dx) + x_run,
                      plane);

    /* dweight (+)= x[n] run x im2col(dy[n])^T */
    if (s == CLG_OK && a->dweight)
        s = clgi_gemm(dev, 0, 1, d->cin, rows, npix, 1.0f, clgi_mem(a->x), clgi_off(a->x) + x_run,
                      plane, col, 0, npix, dw_beta, clgi_mem(a->dweight), clgi_off(a->dweight),
                      rows);
    return s;
}

static clg_status convt_check_grads(const convt_grads *a, const convt_dims *d,
                                    const clg_tensor *dbias) {
    const char *op = "conv_transpose2d";
    clg_status s;

    if ((s = clgi_check_optional(op, "output gradient", a->dy, a->x, 4,
                                 (int[]){d->n, d->cout, d->ho, d->wo})) != CLG_OK ||
        (s = clgi_check_optional(op, "input gradient", a->dx, a->x, 4, clg_tensor_shape(a->x))) ||
        (s = clgi_check_optional(op, "weight gradient", a->dweight, a->x, 4,
                                 clg_tensor_shape(a->weight))) ||
        (s = clgi_check_optional(op, "bias gradient", dbias, a->x, 1, (int[]){d->cout})))
        return s;
    if (!a->dy) return clg_error(CLG_ERR_INVALID_ARGUMENT, "conv_transpose2d: no output gradient");
    return CLG_OK;
}

/* dx's GEMMs write runs of columns: overwriting needs a cleared dx when an image takes several. */
static clg_status convt_prepare_dx(convt_grads *a, int chunk, int plane) {
    a->dx_beta = a->accumulate ? 1.0f : 0.0f;
    if (!a->dx || a->accumulate || chunk >= plane) return CLG_OK;
    a->dx_beta = 1.0f;
    return clg_tensor_fill(a->dx, 0.0f);
}

clg_status clg_conv_transpose2d_backward(const clg_tensor *x, const clg_tensor *weight,
                                         const clg_tensor *dy, const clg_conv_transpose2d_params *p,
                                         clg_tensor *dx, clg_tensor *dweight, clg_tensor *dbias,
                                         int accumulate) {
    convt_grads a = {x, weight, dy, dx, dweight, 0.0f, accumulate};
    convt_dims d;
    clgi_conv_geom g;
    clgi_col_scratch col;
    clg_status s;

    if ((s = convt_dims_of(x, weight, p, &d)) != CLG_OK ||
        (s = convt_check_grads(&a, &d, dbias)) != CLG_OK)
        return s;
    if (dbias && (s = clgi_bias_grad(dy, dbias, accumulate)) != CLG_OK) return s;
    if (!dx && !dweight) return CLG_OK;

    g = convt_geom(&d, p);
    if ((s = clgi_col_scratch_create(clg_tensor_device(x), &g, &col)) != CLG_OK) return s;

    int plane = d.h * d.w;
    s = convt_prepare_dx(&a, col.chunk, plane);
    for (int n = 0; n < d.n && s == CLG_OK; n++)
        for (int p0 = 0; p0 < plane && s == CLG_OK; p0 += col.chunk)
            s = convt_backward_run(&a, &d, &g, col.buffer->mem, n, p0,
                                   plane - p0 < col.chunk ? plane - p0 : col.chunk);
    clgi_col_scratch_release(&col);
    return s;
}
