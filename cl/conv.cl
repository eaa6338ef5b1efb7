/* Convolution kernels: im2col with fused zero/reflection padding, gathering col2im, bias. */

/* Index into a dimension of size n after reflecting r (PyTorch's reflection, pad < n). */
inline int conv_reflect(int r, int n) {
    if (r < 0) r = -r;
    if (r >= n) r = 2 * (n - 1) - r;
    return r;
}

/*
 * Padded positions along one dimension (size n, leading pad) that hold image
 * index i: 1 to 3 of them. A reflected position beyond the trailing padding
 * is listed too; no window reads it, so it gathers nothing.
 */
inline int conv_padded_sources(int i, int n, int pad, int reflect, int *out) {
    int count = 0;

    out[count++] = i + pad;
    if (reflect && i >= 1 && i <= pad) out[count++] = pad - i;
    if (reflect && i <= n - 2) out[count++] = 2 * (n - 1) - i + pad;
    return count;
}

/*
 * Column row (c, kh, kw), grid pixel q = oh * out_w + ow reads padded position
 * (oh * stride + kh, ow * stride + kw), which is image pixel (that - pad_h,
 * that - pad_w) or its reflection. The column is [C * K * K, npix] for the
 * grid pixels [p0, p0 + npix).
 */
__kernel void im2col(CLG_CTENSOR(x), CLG_TENSOR(col), int C, int H, int W, int out_w, int K,
                     int stride, int pad_h, int pad_w, int reflect, int p0, int npix) {
    int p = get_global_id(0), row = get_global_id(1);
    CLG_GUARD(p, npix);
    CLG_GUARD(row, C * K * K);

    int q = p0 + p, oh = q / out_w, ow = q - oh * out_w;
    int c = row / (K * K), kk = row - c * (K * K), kh = kk / K, kw = kk - kh * K;
    int ih = oh * stride + kh - pad_h, iw = ow * stride + kw - pad_w;
    float v = 0.0f;

    if (reflect) {
        ih = conv_reflect(ih, H);
        iw = conv_reflect(iw, W);
        v = CLG_AT(x)[(c * H + ih) * W + iw];
    } else if (ih >= 0 && ih < H && iw >= 0 && iw < W) {
        v = CLG_AT(x)[(c * H + ih) * W + iw];
    }
    CLG_AT(col)[(size_t)row * npix + p] = v;
}

/* Sum of the column entries of channel c in pixels [p0, p0 + npix) that read padded (ph, pw). */
inline float conv_gather(__global const float *col, int c, int ph, int pw, int K, int stride,
                         int out_h, int out_w, int p0, int npix) {
    float sum = 0.0f;

    for (int kh = ph % stride; kh < K && kh <= ph; kh += stride) {
        int oh = (ph - kh) / stride;
        if (oh >= out_h) continue;
        for (int kw = pw % stride; kw < K && kw <= pw; kw += stride) {
            int ow = (pw - kw) / stride;
            int q = oh * out_w + ow - p0;
            if (ow >= out_w || q < 0 || q >= npix) continue;
            sum += col[(size_t)((c * K + kh) * K + kw) * npix + q];
        }
    }
    return sum;
}

/*
 * The adjoint of im2col: each image pixel sums every column entry that read
 * it (through up to three padded positions per dimension under reflection),
 * adds bias[c] when has_bias, and writes or adds the result. The launch
 * covers image rows [row0, row0 + rows).
 */
__kernel void col2im(CLG_CTENSOR(col), CLG_TENSOR(x), CLG_CTENSOR(bias), int has_bias, int C, int H,
                     int W, int out_h, int out_w, int K, int stride, int pad_h, int pad_w,
                     int reflect, int p0, int npix, int row0, int rows, int accumulate) {
    int iw = get_global_id(0), ih = get_global_id(1) + row0, c = get_global_id(2);
    CLG_GUARD(iw, W);
    CLG_GUARD(ih, row0 + rows);
    CLG_GUARD(c, C);

    int hs[3], ws[3];
    int nh = conv_padded_sources(ih, H, pad_h, reflect, hs);
    int nw = conv_padded_sources(iw, W, pad_w, reflect, ws);
    float sum = has_bias ? CLG_AT(bias)[c] : 0.0f;

    for (int a = 0; a < nh; a++)
        for (int b = 0; b < nw; b++)
            sum += conv_gather(CLG_AT(col), c, hs[a], ws[b], K, stride, out_h, out_w, p0, npix);

    size_t i = ((size_t)c * H + ih) * W + iw;
    CLG_AT(x)[i] = accumulate ? CLG_AT(x)[i] + sum : sum;
}

/* ---- Direct kernels, for layers with so few output channels that GEMM tiles go to waste ---- */

/*
 * The forward and weight-gradient kernels give each work-item four output
 * channels, co0 .. co0 + 3, so every input value loaded serves four sums.
 * Channels past Cout repeat the last one and are not written.
 */

/* The image index at padded position r: reflected, or -1 in zero padding. */
inline int conv_source(int r, int n, int reflect) {
    if (reflect) return conv_reflect(r, n);
    return r >= 0 && r < n ? r : -1;
}

/* Offsets of output channels co0 .. co0 + 3 (clamped to Cout - 1), each step floats apart. */
inline int4 conv_channel_offsets(int co0, int Cout, int step) {
    int4 co = min((int4)(co0, co0 + 1, co0 + 2, co0 + 3), (int4)(Cout - 1));
    return co * step;
}

/* Store the four sums of channels co0 .. co0 + 3 that exist, at base + channel * step. */
inline void conv_store4(__global float *base, float4 v, int co0, int Cout, size_t step,
                        int accumulate) {
    float s[4] = {v.x, v.y, v.z, v.w};
    for (int j = 0; j < 4 && co0 + j < Cout; j++) {
        __global float *out = base + (co0 + j) * step;
        *out = accumulate ? *out + s[j] : s[j];
    }
}

/* y[n, co, q] = bias[co] + the sum over ci, kh, kw of weight times the padded input. */
__kernel void conv_direct_forward(CLG_CTENSOR(x), CLG_CTENSOR(w), CLG_CTENSOR(bias), int has_bias,
                                  CLG_TENSOR(y), int N, int Cin, int H, int W, int Cout, int out_h,
                                  int out_w, int K, int stride, int pad, int reflect) {
    int groups = (Cout + 3) / 4, q = get_global_id(0), ng = get_global_id(1);
    CLG_GUARD(q, out_h * out_w);
    CLG_GUARD(ng, N * groups);

    int n = ng / groups, co0 = (ng - n * groups) * 4, oh = q / out_w, ow = q - oh * out_w;
    int4 f = conv_channel_offsets(co0, Cout, Cin * K * K);
    __global const float *image = CLG_AT(x) + (size_t)n * Cin * H * W;
    float4 sum = 0.0f;

    /* Taps outside, channels inside: the padded position is resolved once per tap. */
    for (int kh = 0; kh < K; kh++) {
        int ih = conv_source(oh * stride + kh - pad, H, reflect);
        if (ih < 0) continue;
        for (int kw = 0; kw < K; kw++) {
            int iw = conv_source(ow * stride + kw - pad, W, reflect);
            if (iw < 0) continue;
            __global const float *px = image + ih * W + iw;
            __global const float *wk = CLG_AT(w) + kh * K + kw;
            for (int ci = 0; ci < Cin; ci++, px += H * W, wk += K * K)
                sum += *px * (float4)(wk[f.x], wk[f.y], wk[f.z], wk[f.w]);
        }
    }
    if (has_bias) {
        int4 b = conv_channel_offsets(co0, Cout, 1);
        __global const float *bp = CLG_AT(bias);
        sum += (float4)(bp[b.x], bp[b.y], bp[b.z], bp[b.w]);
    }
    conv_store4(CLG_AT(y) + (size_t)n * Cout * out_h * out_w + q, sum, co0, Cout,
                (size_t)out_h * out_w, 0);
}

/* The sum over output channels and windows reading padded (ph, pw) of weight times dy. */
inline float conv_gather_direct(__global const float *dy, __global const float *w, int ci, int Cin,
                                int Cout, int ph, int pw, int K, int stride, int out_h, int out_w) {
    size_t plane = (size_t)out_h * out_w, filter = (size_t)Cin * K * K;
    float sum = 0.0f;

    for (int kh = ph % stride; kh < K && kh <= ph; kh += stride) {
        int oh = (ph - kh) / stride;
        if (oh >= out_h) continue;
        for (int kw = pw % stride; kw < K && kw <= pw; kw += stride) {
            int ow = (pw - kw) / stride;
            if (ow >= out_w) continue;
            __global const float *wk = w + (ci * K + kh) * K + kw;
            __global const float *g = dy + oh * out_w + ow;
            for (int co = 0; co < Cout; co++) sum += wk[co * filter] * g[co * plane];
        }
    }
    return sum;
}

/* dx[n, ci, ih, iw] (+)= the sum of weight times dy over every window that read the pixel. */
__kernel void conv_direct_backward_data(CLG_CTENSOR(dy), CLG_CTENSOR(w), CLG_TENSOR(dx), int N,
                                        int Cin, int H, int W, int Cout, int out_h, int out_w,
                                        int K, int stride, int pad, int reflect, int accumulate) {
    int iw = get_global_id(0), ih = get_global_id(1), nc = get_global_id(2);
    CLG_GUARD(iw, W);
    CLG_GUARD(ih, H);
    CLG_GUARD(nc, N * Cin);

    int n = nc / Cin, ci = nc - n * Cin;
    __global const float *g = CLG_AT(dy) + (size_t)n * Cout * out_h * out_w;
    int hs[3], ws[3];
    int nh = conv_padded_sources(ih, H, pad, reflect, hs);
    int nw = conv_padded_sources(iw, W, pad, reflect, ws);
    float sum = 0.0f;

    for (int a = 0; a < nh; a++)
        for (int b = 0; b < nw; b++)
            sum += conv_gather_direct(g, CLG_AT(w), ci, Cin, Cout, hs[a], ws[b], K, stride, out_h,
                                      out_w);

    size_t i = ((size_t)nc * H + ih) * W + iw;
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + sum : sum;
}

/* dw[co, ci, kh, kw] (+)= the sum over images and output pixels of dy times the padded input. */
__kernel void conv_direct_backward_weight(CLG_CTENSOR(x), CLG_CTENSOR(dy), CLG_TENSOR(dw), int N,
                                          int Cin, int H, int W, int Cout, int out_h, int out_w,
                                          int K, int stride, int pad, int reflect, int accumulate) {
    int groups = (Cout + 3) / 4, r = get_global_id(0), g = get_global_id(1);
    CLG_GUARD(r, Cin * K * K);
    CLG_GUARD(g, groups);

    int ci = r / (K * K), kh = (r / K) % K, kw = r % K, co0 = g * 4;
    int4 f = conv_channel_offsets(co0, Cout, out_h * out_w);
    float4 sum = 0.0f;

    for (int n = 0; n < N; n++) {
        __global const float *plane = CLG_AT(x) + ((size_t)n * Cin + ci) * H * W;
        __global const float *grad = CLG_AT(dy) + (size_t)n * Cout * out_h * out_w;
        for (int oh = 0; oh < out_h; oh++) {
            int ih = conv_source(oh * stride + kh - pad, H, reflect);
            if (ih < 0) continue;
            for (int ow = 0; ow < out_w; ow++) {
                int iw = conv_source(ow * stride + kw - pad, W, reflect);
                __global const float *gp = grad + oh * out_w + ow;
                if (iw >= 0)
                    sum += plane[ih * W + iw] * (float4)(gp[f.x], gp[f.y], gp[f.z], gp[f.w]);
            }
        }
    }
    conv_store4(CLG_AT(dw) + r, sum, co0, Cout, (size_t)Cin * K * K, accumulate);
}

/* ---- Bias ---- */

/* y [N, C, HW] = bias[c], or zero when has_bias is 0. */
__kernel void bias_fill(CLG_TENSOR(y), CLG_CTENSOR(bias), int has_bias, int C, int HW, int n) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);

    CLG_AT(y)[i] = has_bias ? CLG_AT(bias)[(i / HW) % C] : 0.0f;
}

/* partial[c, r] = sum over images n and pixels i = r, r + parts, ... of dy [N, C, HW]. */
__kernel void bias_grad_partial(CLG_CTENSOR(dy), CLG_TENSOR(partial), int N, int C, int HW,
                                int parts) {
    int r = get_global_id(0), c = get_global_id(1);
    CLG_GUARD(r, parts);
    CLG_GUARD(c, C);

    float sum = 0.0f;
    for (int n = 0; n < N; n++) {
        __global const float *plane = CLG_AT(dy) + ((size_t)n * C + c) * HW;
        for (int i = r; i < HW; i += parts) sum += plane[i];
    }
    CLG_AT(partial)[c * parts + r] = sum;
}

/* db[c] (+)= the sum of partial[c, 0 .. parts). */
__kernel void bias_grad_finish(CLG_CTENSOR(partial), CLG_TENSOR(db), int C, int parts,
                               int accumulate) {
    int c = get_global_id(0);
    CLG_GUARD(c, C);

    float sum = 0.0f;
    for (int r = 0; r < parts; r++) sum += CLG_AT(partial)[c * parts + r];
    CLG_AT(db)[c] = accumulate ? CLG_AT(db)[c] + sum : sum;
}
