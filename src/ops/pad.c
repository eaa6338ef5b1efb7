/* pad2d (zeros or reflection): im2col and col2im with a 1x1 window over all planes at once. */
#include "clgan/ops.h"
#include "ops/conv_internal.h"

/*
 * Padding is a 1x1, stride-1 convolution's im2col: every output pixel reads
 * one padded input position. Treating the N*C planes as channels of one
 * image, the column matrix [N*C, Ho*Wo] is the padded tensor itself, and
 * col2im, which gathers each input pixel's readers, is the gradient.
 * Internally the four sides may differ (PyTorch's left, right, top, bottom);
 * the public calls pad every side alike.
 */

static clg_status pad_check(const char *op, const clg_tensor *x, const int pad[4],
                            clg_pad_mode mode) {
    char xs[64];
    int h = clg_tensor_dim(x, 2), w = clg_tensor_dim(x, 3);

    clg_tensor_shape_string(x, xs, sizeof xs);
    if (clg_tensor_ndim(x) != 4)
        return clg_error(CLG_ERR_SHAPE, "%s: want an [N, C, H, W] tensor, not %s", op, xs);
    if (pad[0] < 0 || pad[1] < 0 || pad[2] < 0 || pad[3] < 0 ||
        (mode != CLG_PAD_ZEROS && mode != CLG_PAD_REFLECT))
        return clg_error(
            CLG_ERR_INVALID_ARGUMENT,
            "%s: padding (%d, %d, %d, %d) must be at least 0 and the mode zeros or reflect", op,
            pad[0], pad[1], pad[2], pad[3]);
    if (mode == CLG_PAD_REFLECT && (pad[0] >= w || pad[1] >= w || pad[2] >= h || pad[3] >= h))
        return clg_error(CLG_ERR_SHAPE,
                         "%s: reflection padding (left %d, right %d, top %d, bottom %d) must be "
                         "smaller than the input %s",
                         op, pad[0], pad[1], pad[2], pad[3], xs);
    return CLG_OK;
}

static clgi_conv_geom pad_geom(const clg_tensor *x, const int pad[4], clg_pad_mode mode) {
    int h = clg_tensor_dim(x, 2), w = clg_tensor_dim(x, 3);

    return (clgi_conv_geom){.channels = clg_tensor_dim(x, 0) * clg_tensor_dim(x, 1),
                            .height = h,
                            .width = w,
                            .out_h = h + pad[2] + pad[3],
                            .out_w = w + pad[0] + pad[1],
                            .kernel = 1,
                            .stride = 1,
                            .pad_h = pad[2],
                            .pad_w = pad[0],
                            .reflect = mode == CLG_PAD_REFLECT};
}

/* The padded shape of x, into shape. */
static const int *padded_shape(const clg_tensor *x, const clgi_conv_geom *g, int shape[4]) {
    shape[0] = clg_tensor_dim(x, 0);
    shape[1] = clg_tensor_dim(x, 1);
    shape[2] = g->out_h;
    shape[3] = g->out_w;
    return shape;
}

clg_status clgi_pad2d_forward(const clg_tensor *x, const int pad[4], clg_pad_mode mode,
                              clg_tensor *y) {
    const char *op = "pad2d";
    clgi_conv_geom g;
    int shape[4];
    clg_status s;

    if (!x || !y) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL tensor", op);
    if ((s = pad_check(op, x, pad, mode)) != CLG_OK) return s;
    g = pad_geom(x, pad, mode);
    if ((s = clgi_check_optional(op, "output", y, x, 4, padded_shape(x, &g, shape))) != CLG_OK)
        return s;

    return clgi_im2col(clg_tensor_device(x), &g, clgi_mem(x), clgi_off(x), clgi_mem(y), clgi_off(y),
                       0, g.out_h * g.out_w);
}

clg_status clgi_pad2d_backward(const clg_tensor *dy, const int pad[4], clg_pad_mode mode,
                               clg_tensor *dx, int accumulate) {
    const char *op = "pad2d backward";
    clgi_conv_geom g;
    int shape[4];
    clg_status s;

    if (!dy) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL output gradient", op);
    if (!dx) return CLG_OK;
    if ((s = pad_check(op, dx, pad, mode)) != CLG_OK) return s;
    g = pad_geom(dx, pad, mode);
    if ((s = clgi_check_optional(op, "output gradient", dy, dx, 4, padded_shape(dx, &g, shape))) !=
        CLG_OK)
        return s;

    return clgi_col2im(clg_tensor_device(dx), &g, clgi_mem(dy), clgi_off(dy), clgi_mem(dx),
                       clgi_off(dx), NULL, 0, g.out_h * g.out_w, accumulate);
}

clg_status clg_pad2d_forward(const clg_tensor *x, int pad, clg_pad_mode mode, clg_tensor *y) {
    return clgi_pad2d_forward(x, (const int[]){pad, pad, pad, pad}, mode, y);
}

clg_status clg_pad2d_backward(const clg_tensor *dy, int pad, clg_pad_mode mode, clg_tensor *dx,
                              int accumulate) {
    return clgi_pad2d_backward(dy, (const int[]){pad, pad, pad, pad}, mode, dx, accumulate);
}
