/* Shared pieces of the convolution family: im2col/col2im passes, bias kernels, shape checks. */
#ifndef CLGAN_OPS_CONV_INTERNAL_H
#define CLGAN_OPS_CONV_INTERNAL_H

#include "clgan/ops.h"
#include "device/internal.h"

/*
 * A K x K window slides over an image of channels x height x width, padded
 * by pad_h rows above and pad_w columns to the left (zeros, or reflection
 * when reflect is set; the grid size sets the padding below and to the
 * right), and stops at the out_h x out_w grid of positions. im2col writes a column matrix
 * [channels * K * K, npix] for the grid pixels [p0, p0 + npix) (row-major
 * pixel index oh * out_w + ow); col2im is its adjoint, gathering for every
 * image pixel the column entries that read it, so no atomics are needed.
 */
typedef struct clgi_conv_geom {
    int channels, height, width;
    int out_h, out_w;
    int kernel, stride, pad_h, pad_w, reflect;
} clgi_conv_geom;

/* A column buffer and how many grid pixels one pass of it holds. */
typedef struct clgi_col_scratch {
    clgi_buffer *buffer;
    int chunk;
} clgi_col_scratch;

/* x [N, Cin, H, W] and a square-kernel weight whose dimension cin_dim is Cin, on one device. */
clg_status clgi_check_conv_operands(const char *op, const clg_tensor *x, const clg_tensor *weight,
                                    int cin_dim, const char *weight_layout);

/* Rows of the column matrix: channels * K * K. */
size_t clgi_col_rows(const clgi_conv_geom *g);

/* A column buffer for g: one image's pixels, or fewer when they exceed the column budget. */
clg_status clgi_col_scratch_create(clg_device *dev, const clgi_conv_geom *g, clgi_col_scratch *out);
void clgi_col_scratch_release(clgi_col_scratch *s);

/* Columns of one image (x starts at x_off floats) for pixels [p0, p0 + npix). */
clg_status clgi_im2col(clg_device *dev, const clgi_conv_geom *g, cl_mem x, size_t x_off, cl_mem col,
                       size_t col_off, int p0, int npix);

/* x (+)= col2im(col) over pixels [p0, p0 + npix), plus bias[c] when bias is not NULL. */
clg_status clgi_col2im(clg_device *dev, const clgi_conv_geom *g, cl_mem col, size_t col_off,
                       cl_mem x, size_t x_off, const clg_tensor *bias, int p0, int npix,
                       int accumulate);

/* y [N, C, H, W] = bias[c] everywhere, or zeros when bias is NULL. */
clg_status clgi_bias_fill(clg_tensor *y, const clg_tensor *bias);

/* dbias [C] (+)= sum of dy [N, C, H, W] over N, H and W. */
clg_status clgi_bias_grad(const clg_tensor *dy, clg_tensor *dbias, int accumulate);

/* CLG_ERR_SHAPE naming op and what unless t has exactly the ndim sizes of shape. */
clg_status clgi_check_shape(const char *op, const char *what, const clg_tensor *t, int ndim,
                            const int *shape);

/* As clgi_check_shape for a tensor that may be NULL, also checking it lives on x's device. */
clg_status clgi_check_optional(const char *op, const char *what, const clg_tensor *t,
                               const clg_tensor *x, int ndim, const int *shape);

/* pad2d with pad = {left, right, top, bottom}, as PyTorch's pad tuple; the public calls wrap it. */
clg_status clgi_pad2d_forward(const clg_tensor *x, const int pad[4], clg_pad_mode mode,
                              clg_tensor *y);
clg_status clgi_pad2d_backward(const clg_tensor *dy, const int pad[4], clg_pad_mode mode,
                               clg_tensor *dx, int accumulate);

/* Choices of algorithm, set for the whole process; tests change them to reach every path. */
typedef struct clgi_conv_tuning {
    size_t col_budget;   /* largest column buffer in bytes; larger images go in runs */
    int direct_max_cout; /* conv2d with at most this many output channels skips GEMM */
} clgi_conv_tuning;

/* Set the tuning; NULL restores the defaults. */
void clgi_conv_set_tuning(const clgi_conv_tuning *t);

#endif
