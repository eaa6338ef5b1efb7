/* conv2d by im2col and CLBlast GEMM, plus the im2col/col2im/bias helpers of the conv family. */
#include "clgan/ops.h"
#include "ops/conv_internal.h"

#include <stdio.h>
#include <string.h>

/* Column buffers stay below this size; a larger image is processed in runs of pixels. */
#define DEFAULT_COL_BUDGET ((size_t)128 << 20)

/*
 * Layers with at most this many output channels use direct kernels: a GEMM
 * with so few rows leaves most of CLBlast's tiles empty. On PoCL the
 * generator's last layer (64 -> 3, 7x7, 256x256) took 3 s forward and 15 s
 * backward through GEMM, about 0.3 s and 0.8 s direct; at 16 channels GEMM
 * is ahead again. Not measured on GPUs.
 */
#define DEFAULT_DIRECT_MAX_COUT 8

/* Partial sums per channel in the bias gradient's first pass. */
#define BIAS_GRAD_PARTS 64

static const clgi_conv_tuning default_tuning = {DEFAULT_COL_BUDGET, DEFAULT_DIRECT_MAX_COUT};
static clgi_conv_tuning tuning = {DEFAULT_COL_BUDGET, DEFAULT_DIRECT_MAX_COUT};

/* ---- Helpers shared by the convolution family ---- */

void clgi_conv_set_tuning(const clgi_conv_tuning *t) {
    tuning = t ? *t : default_tuning;
}

size_t clgi_col_rows(const clgi_conv_geom *g) {
    return (size_t)g->channels * (size_t)g->kernel * (size_t)g->kernel;
}

clg_status clgi_col_scratch_create(clg_device *dev, const clgi_conv_geom *g,
                                   clgi_col_scratch *out) {
    size_t rows = clgi_col_rows(g), pixels = (size_t)g->out_h * (size_t)g->out_w;
    size_t budget = tuning.col_budget;
    size_t chunk;

    if (budget > dev->info.max_alloc_bytes) budget = dev->info.max_alloc_bytes;
    chunk = budget / sizeof(float) / rows;
    if (chunk < 1) chunk = 1;
    if (chunk > pixels) chunk = pixels;
    out->chunk = (int)chunk;
    return clgi_buffer_create(dev, rows * chunk * sizeof(float), &out->buffer);
}

void clgi_col_scratch_release(clgi_col_scratch *s) {
    clgi_buffer_release(s->buffer);
    s->buffer = NULL;
}

clg_status clgi_im2col(clg_device *dev, const clgi_conv_geom *g, cl_mem x, size_t x_off, cl_mem col,
                       size_t col_off, int p0, int npix) {
    size_t global[2] = {(size_t)npix, clgi_col_rows(g)};

    return CLGI_RUN(dev, "conv.cl", "im2col", 2, global, CLGI_MEM(x), CLGI_INT(x_off),
                    CLGI_MEM(col), CLGI_INT(col_off), CLGI_INT(g->channels), CLGI_INT(g->height),
                    CLGI_INT(g->width), CLGI_INT(g->out_w), CLGI_INT(g->kernel),
                    CLGI_INT(g->stride), CLGI_INT(g->pad_h), CLGI_INT(g->pad_w),
                    CLGI_INT(g->reflect), CLGI_INT(p0), CLGI_INT(npix));
}

/* The hull of the image rows that grid pixels [p0, p0 + npix) read, reflections included. */
static void rows_read(const clgi_conv_geom *g, int p0, int npix, int *row0, int *rows) {
    int first = p0 / g->out_w, last = (p0 + npix - 1) / g->out_w, n = g->height;
    int lo = first * g->stride - g->pad_h, hi = last * g->stride + g->kernel - 1 - g->pad_h;
    int top = lo < 0 ? 0 : lo, bottom = hi > n - 1 ? n - 1 : hi;

    if (g->reflect && lo < 0 && -lo > bottom) bottom = -lo < n - 1 ? -lo : n - 1;
    if (g->reflect && hi > n - 1 && 2 * (n - 1) - hi < top)
        top = 2 * (n - 1) - hi > 0 ? 2 * (n - 1) - hi : 0;
    *row0 = top;
    *rows = bottom >= top ? bottom - top + 1 : 0;
}

clg_status clgi_col2im(clg_device *dev, const clgi_conv_geom *g, cl_mem col, size_t col_off,
                       cl_mem x, size_t x_off, const clg_tensor *bias, int p0, int npix,
                       int accumulate) {
    cl_mem bias_mem = bias ? clgi_mem(bias) : col;
    cl_int bias_off = bias ? clgi_off(bias) : 0;
    int row0 = 0, rows = g->height;

    /* Adding onto x, rows that no window of this run reads can be skipped. */
    if (accumulate) rows_read(g, p0, npix, &row0, &rows);
    size_t global[3] = {(size_t)g->width, (size_t)rows, (size_t)g->channels};

    return CLGI_RUN(dev, "conv.cl", "col2im", 3, global, CLGI_MEM(col), CLGI_INT(col_off),
                    CLGI_MEM(x), CLGI_INT(x_off), CLGI_MEM(bias_mem), CLGI_INT(bias_off),
                    CLGI_INT(bias != NULL), CLGI_INT(g->channels), CLGI_INT(g->height),
                    CLGI_INT(g->width), CLGI_INT(g->out_h), CLGI_INT(g->out_w), CLGI_INT(g->kernel),
                    CLGI_INT(g->stride), CLGI_INT(g->pad_h), CLGI_INT(g->pad_w),
                    CLGI_INT(g->reflect), CLGI_INT(p0), CLGI_INT(npix), CLGI_INT(row0),
                    CLGI_INT(rows), CLGI_INT(accumulate));
}

clg_status clgi_bias_fill(clg_tensor *y, const clg_tensor *bias) {
    int channels = clg_tensor_dim(y, 1), plane = clg_tensor_dim(y, 2) * clg_tensor_dim(y, 3);
    const clg_tensor *b = bias ? bias : y;

    return CLGI_RUN(clg_tensor_device(y), "conv.cl", "bias_fill", 1,
                    (size_t[]){clg_tensor_numel(y)}, CLGI_TENSOR(y), CLGI_TENSOR(b),
                    CLGI_INT(bias != NULL), CLGI_INT(channels), CLGI_INT(plane),
                    CLGI_INT(clg_tensor_numel(y)));
}

clg_status clgi_bias_grad(const clg_tensor *dy, clg_tensor *dbias, int accumulate) {
    clg_device *dev = clg_tensor_device(dy);
    int n = clg_tensor_dim(dy, 0), c = clg_tensor_dim(dy, 1);
    int plane = clg_tensor_dim(dy, 2) * clg_tensor_dim(dy, 3);
    int parts = plane < BIAS_GRAD_PARTS ? plane : BIAS_GRAD_PARTS;
    clgi_buffer *partial;
    clg_status s;

    if ((s = clgi_buffer_create(dev, (size_t)c * parts * sizeof(float), &partial)) != CLG_OK)
        return s;

    s = CLGI_RUN(dev, "conv.cl", "bias_grad_partial", 2, ((size_t[]){(size_t)parts, (size_t)c}),
                 CLGI_TENSOR(dy), CLGI_MEM(partial->mem), CLGI_INT(0), CLGI_INT(n), CLGI_INT(c),
                 CLGI_INT(plane), CLGI_INT(parts));
    if (s == CLG_OK)
        s = CLGI_RUN(dev, "conv.cl", "bias_grad_finish", 1, (size_t[]){(size_t)c},
                     CLGI_MEM(partial->mem), CLGI_INT(0), CLGI_TENSOR(dbias), CLGI_INT(c),
                     CLGI_INT(parts), CLGI_INT(accumulate));

    clgi_buffer_release(partial);
    return s;
}

clg_status clgi_check_shape(const char *op, const char *what, const clg_tensor *t, int ndim,
                            const int *shape) {
    char have[64], want[64];
    size_t used = 0;

    if (clg_tensor_ndim(t) == ndim && !memcmp(clg_tensor_shape(t), shape, ndim * sizeof *shape))
        return CLG_OK;

    clg_tensor_shape_string(t, have, sizeof have);
    for (int i = 0; i < ndim && used < sizeof want; i++)
        used += (size_t)snprintf(want + used, sizeof want - used, "%s%d", i ? ", " : "[", shape[i]);
    if (used < sizeof want) snprintf(want + used, sizeof want - used, "]");
    return clg_error(CLG_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, what, have, want);
}

clg_status clgi_check_optional(const char *op, const char *what, const clg_tensor *t,
                               const clg_tensor *x, int ndim, const int *shape) {
    if (!t) return CLG_OK;
    if (clg_tensor_device(t) != clg_tensor_device(x))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: %s lives on another device", op, what);
    return clgi_check_shape(op, what, t, ndim, shape);
}

/* ---- conv2d shapes ---- */

typedef struct conv_dims {
    int n, cin, h, w;
    int cout, k;
    int ho, wo;
} conv_dims;

static clg_status conv2d_check_params(const clg_tensor *x, const clg_conv2d_params *p,
                                      const conv_dims *d) {
    char xs[64];

    clg_tensor_shape_string(x, xs, sizeof xs);
    if (!p || p->stride < 1 || p->padding < 0 ||
        (p->pad_mode != CLG_PAD_ZEROS && p->pad_mode != CLG_PAD_REFLECT))
        return clg_error(
            CLG_ERR_INVALID_ARGUMENT,
            "conv2d: stride must be at least 1, padding at least 0, and pad_mode zeros or reflect");
    if (p->pad_mode == CLG_PAD_REFLECT && (p->padding >= d->h || p->padding >= d->w))
        return clg_error(
            CLG_ERR_SHAPE,
            "conv2d: reflection padding %d needs an input larger than that in H and W, not %s",
            p->padding, xs);
    if (d->h + 2 * p->padding < d->k || d->w + 2 * p->padding < d->k)
        return clg_error(CLG_ERR_SHAPE,
                         "conv2d: input %s padded by %d is smaller than the %dx%d kernel", xs,
                         p->padding, d->k, d->k);
    return CLG_OK;
}

clg_status clgi_check_conv_operands(const char *op, const clg_tensor *x, const clg_tensor *weight,
                                    int cin_dim, const char *weight_layout) {
    char xs[64], ws[64];

    clg_tensor_shape_string(x, xs, sizeof xs);
    clg_tensor_shape_string(weight, ws, sizeof ws);
    if (clg_tensor_ndim(x) != 4 || clg_tensor_ndim(weight) != 4 ||
        clg_tensor_dim(weight, cin_dim) != clg_tensor_dim(x, 1) ||
        clg_tensor_dim(weight, 2) != clg_tensor_dim(weight, 3))
        return clg_error(CLG_ERR_SHAPE,
                         "%s: input %s and weight %s disagree (want input [N, Cin, H, W] and "
                         "weight %s)",
                         op, xs, ws, weight_layout);
    if (clg_tensor_device(x) != clg_tensor_device(weight))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: input and weight on two devices", op);
    return CLG_OK;
}

static clg_status conv2d_dims(const clg_tensor *x, const clg_tensor *weight,
                              const clg_conv2d_params *p, conv_dims *d) {
    clg_status s = clgi_check_conv_operands("conv2d", x, weight, 1, "[Cout, Cin, K, K]");

    if (s != CLG_OK) return s;

    *d = (conv_dims){.n = clg_tensor_dim(x, 0),
                     .cin = clg_tensor_dim(x, 1),
                     .h = clg_tensor_dim(x, 2),
                     .w = clg_tensor_dim(x, 3),
                     .cout = clg_tensor_dim(weight, 0),
                     .k = clg_tensor_dim(weight, 2)};
    if ((s = conv2d_check_params(x, p, d)) != CLG_OK) return s;
    d->ho = (d->h + 2 * p->padding - d->k) / p->stride + 1;
    d->wo = (d->w + 2 * p->padding - d->k) / p->stride + 1;
    return CLG_OK;
}

/* The im2col geometry: the input image, windows over the output grid. */
static clgi_conv_geom conv2d_geom(const conv_dims *d, const clg_conv2d_params *p) {
    return (clgi_conv_geom){.channels = d->cin,
                            .height = d->h,
                            .width = d->w,
                            .out_h = d->ho,
                            .out_w = d->wo,
                            .kernel = d->k,
                            .stride = p->stride,
                            .pad_h = p->padding,
                            .pad_w = p->padding,
                            .reflect = p->pad_mode == CLG_PAD_REFLECT};
}

clg_status clg_conv2d_output_shape(const clg_tensor *x, const clg_tensor *weight,
                                   const clg_conv2d_params *p, int out_shape[4]) {
    conv_dims d;
    clg_status s = conv2d_dims(x, weight, p, &d);

    if (s != CLG_OK) return s;
    out_shape[0] = d.n;
    out_shape[1] = d.cout;
    out_shape[2] = d.ho;
    out_shape[3] = d.wo;
    return CLG_OK;
}

/* ---- conv2d by direct kernels, for few output channels ---- */

/* The sizes and geometry that every direct kernel takes after its tensors. */
#define DIRECT_ARGS(d, p)                                                                          \
    CLGI_INT((d)->n), CLGI_INT((d)->cin), CLGI_INT((d)->h), CLGI_INT((d)->w), CLGI_INT((d)->cout), \
        CLGI_INT((d)->ho), CLGI_INT((d)->wo), CLGI_INT((d)->k), CLGI_INT((p)->stride),             \
        CLGI_INT((p)->padding), CLGI_INT((p)->pad_mode == CLG_PAD_REFLECT)

static int use_direct(const conv_dims *d) {
    return d->cout <= tuning.direct_max_cout;
}

static clg_status conv2d_direct_forward(const clg_tensor *x, const clg_tensor *weight,
                                        const clg_tensor *bias, const conv_dims *d,
                                        const clg_conv2d_params *p, clg_tensor *y) {
    const clg_tensor *b = bias ? bias : weight;
    size_t global[2] = {(size_t)d->ho * d->wo, (size_t)d->n * ((d->cout + 3) / 4)};

    return CLGI_RUN(clg_tensor_device(x), "conv.cl", "conv_direct_forward", 2, global,
                    CLGI_TENSOR(x), CLGI_TENSOR(weight), CLGI_TENSOR(b), CLGI_INT(bias != NULL),
                    CLGI_TENSOR(y), DIRECT_ARGS(d, p));
}

/* ---- conv2d forward ---- */

/* y[n][:, p0 .. p0 + npix) += weight x im2col(x[n]) for one run of output pixels. */
static clg_status conv2d_forward_run(const clg_tensor *x, const clg_tensor *weight,
                                     const conv_dims *d, const clgi_conv_geom *g,
                                     const clgi_col_scratch *col, int n, int p0, int npix,
                                     clg_tensor *y) {
    clg_device *dev = clg_tensor_device(x);
    size_t rows = clgi_col_rows(g), plane = (size_t)d->ho * d->wo;
    size_t x_off = clgi_off(x) + (size_t)n * d->cin * d->h * d->w;
    size_t y_off = clgi_off(y) + (size_t)n * d->cout * plane + p0;
    clg_status s = clgi_im2col(dev, g, clgi_mem(x), x_off, col->buffer->mem, 0, p0, npix);

    if (s != CLG_OK) return s;
    return clgi_gemm(dev, 0, 0, d->cout, npix, rows, 1.0f, clgi_mem(weight), clgi_off(weight), rows,
                     col->buffer->mem, 0, npix, 1.0f, clgi_mem(y), y_off, plane);
}

clg_status clg_conv2d_forward(const clg_tensor *x, const clg_tensor *weight, const clg_tensor *bias,
                              const clg_conv2d_params *p, clg_tensor *y) {
    conv_dims d;
    clgi_conv_geom g;
    clgi_col_scratch col;
    clg_status s;

    if ((s = conv2d_dims(x, weight, p, &d)) != CLG_OK ||
        (s = clgi_check_optional("conv2d", "bias", bias, x, 1, (int[]){d.cout})) != CLG_OK ||
        (s = clgi_check_optional("conv2d", "output", y, x, 4, (int[]){d.n, d.cout, d.ho, d.wo})) !=
            CLG_OK)
        return s;
    if (!y) return clg_error(CLG_ERR_INVALID_ARGUMENT, "conv2d: no output tensor");
    if (use_direct(&d)) return conv2d_direct_forward(x, weight, bias, &d, p, y);
    g = conv2d_geom(&d, p);

    /* The GEMMs add onto the bias (or zeros). */
    if ((s = clgi_bias_fill(y, bias)) != CLG_OK) return s;
    if ((s = clgi_col_scratch_create(clg_tensor_device(x), &g, &col)) != CLG_OK) return s;

    int plane = d.ho * d.wo;
    for (int n = 0; n < d.n && s == CLG_OK; n++)
        for (int p0 = 0; p0 < plane && s == CLG_OK; p0 += col.chunk)
            s = conv2d_forward_run(x, weight, &d, &g, &col, n, p0,
                                   plane - p0 < col.chunk ? plane - p0 : col.chunk, y);
    clgi_col_scratch_release(&col);
    return s;
}

/* ---- conv2d backward ---- */

typedef struct conv2d_grads {
    const clg_tensor *x, *weight, *dy;
    clg_tensor *dx, *dweight;
    int accumulate;
} conv2d_grads;

/* dweight and dx contributions of output pixels [p0, p0 + npix) of image n. */
static clg_status conv2d_backward_run(const conv2d_grads *a, const conv_dims *d,
                                      const clgi_conv_geom *g, const clgi_col_scratch *col, int n,
                                      int p0, int npix) {
    clg_device *dev = clg_tensor_device(a->x);
    cl_mem cm = col->buffer->mem;
    size_t rows = clgi_col_rows(g), plane = (size_t)d->ho * d->wo;
    size_t image = (size_t)n * d->cin * d->h * d->w;
    size_t dy_off = clgi_off(a->dy) + (size_t)n * d->cout * plane + p0;
    int first = n == 0 && p0 == 0;
    clg_status s = CLG_OK;

    /* dweight (+)= dy[n] x im2col(x[n])^T */
    if (a->dweight) {
        float beta = first && !a->accumulate ? 0.0f : 1.0f;
        if ((s = clgi_im2col(dev, g, clgi_mem(a->x), clgi_off(a->x) + image, cm, 0, p0, npix)) !=
                CLG_OK ||
            (s = clgi_gemm(dev, 0, 1, d->cout, rows, npix, 1.0f, clgi_mem(a->dy), dy_off, plane, cm,
                           0, npix, beta, clgi_mem(a->dweight), clgi_off(a->dweight), rows)))
            return s;
    }

    /* dx (+)= col2im(weight^T x dy[n]) */
    if (a->dx) {
        if ((s = clgi_gemm(dev, 1, 0, rows, npix, d->cout, 1.0f, clgi_mem(a->weight),
                           clgi_off(a->weight), rows, clgi_mem(a->dy), dy_off, plane, 0.0f, cm, 0,
                           npix)) != CLG_OK)
            return s;
        s = clgi_col2im(dev, g, cm, 0, clgi_mem(a->dx), clgi_off(a->dx) + image, NULL, p0, npix,
                        a->accumulate || p0 > 0);
    }
    return s;
}

static clg_status conv2d_direct_backward(const conv2d_grads *a, const conv_dims *d,
                                         const clg_conv2d_params *p) {
    clg_device *dev = clg_tensor_device(a->x);
    size_t data_global[3] = {(size_t)d->w, (size_t)d->h, (size_t)d->n * d->cin};
    size_t weight_global[2] = {(size_t)d->cin * d->k * d->k, (size_t)(d->cout + 3) / 4};
    clg_status s = CLG_OK;

    if (a->dx)
        s = CLGI_RUN(dev, "conv.cl", "conv_direct_backward_data", 3, data_global,
                     CLGI_TENSOR(a->dy), CLGI_TENSOR(a->weight), CLGI_TENSOR(a->dx),
                     DIRECT_ARGS(d, p), CLGI_INT(a->accumulate));
    if (s == CLG_OK && a->dweight)
        s = CLGI_RUN(dev, "conv.cl", "conv_direct_backward_weight", 2, weight_global,
                     CLGI_TENSOR(a->x), CLGI_TENSOR(a->dy), CLGI_TENSOR(a->dweight),
                     DIRECT_ARGS(d, p), CLGI_INT(a->accumulate));
    return s;
}

static clg_status conv2d_check_grads(const conv2d_grads *a, const conv_dims *d,
                                     const clg_tensor *dbias) {
    clg_status s;

    if ((s = clgi_check_optional("conv2d", "output gradient", a->dy, a->x, 4,
                                 (int[]){d->n, d->cout, d->ho, d->wo})) != CLG_OK ||
        (s = clgi_check_optional("conv2d", "input gradient", a->dx, a->x, 4,
                                 clg_tensor_shape(a->x))) ||
        (s = clgi_check_optional("conv2d", "weight gradient", a->dweight, a->x, 4,
                                 clg_tensor_shape(a->weight))) ||
        (s = clgi_check_optional("conv2d", "bias gradient", dbias, a->x, 1, (int[]){d->cout})))
        return s;
    if (!a->dy) return clg_error(CLG_ERR_INVALID_ARGUMENT, "conv2d: no output gradient");
    return CLG_OK;
}

clg_status clg_conv2d_backward(const clg_tensor *x, const clg_tensor *weight, const clg_tensor *dy,
                               const clg_conv2d_params *p, clg_tensor *dx, clg_tensor *dweight,
                               clg_tensor *dbias, int accumulate) {
    conv2d_grads a = {x, weight, dy, dx, dweight, accumulate};
    conv_dims d;
    clgi_conv_geom g;
    clgi_col_scratch col;
    clg_status s;

    if ((s = conv2d_dims(x, weight, p, &d)) != CLG_OK ||
        (s = conv2d_check_grads(&a, &d, dbias)) != CLG_OK)
        return s;
    if (dbias && (s = clgi_bias_grad(dy, dbias, accumulate)) != CLG_OK) return s;
    if (!dx && !dweight) return CLG_OK;
    if (use_direct(&d)) return conv2d_direct_backward(&a, &d, p);

    g = conv2d_geom(&d, p);
    if ((s = clgi_col_scratch_create(clg_tensor_device(x), &g, &col)) != CLG_OK) return s;

    int plane = d.ho * d.wo;
    for (int n = 0; n < d.n && s == CLG_OK; n++)
        for (int p0 = 0; p0 < plane && s == CLG_OK; p0 += col.chunk)
            s = conv2d_backward_run(&a, &d, &g, &col, n, p0,
                                    plane - p0 < col.chunk ? plane - p0 : col.chunk);
    clgi_col_scratch_release(&col);
    return s;
}
