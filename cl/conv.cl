/* Convolution kernels: im2col with fused zero/reflection padding, gathering col2im, bias. */

/* Index into a dimension of size n after reflecting r (PyTorch's reflection, pad < n). */
inline int conv_reflect(int r, int n) {
    if (r < 0) r = -r;
    if (r >= n) r = 2 * (n - 1) - r;
    return r;
}

/* Padded positions along one dimension (size n) whose value is image index i; returns 1-3. */
inline int conv_padded_sources(int i, int n, int pad, int reflect, int *out) {
    int count = 0;

    out[count++] = i + pad;
    if (reflect && i >= 1 && i <= pad) out[count++] = pad - i;
    if (reflect && i <= n - 2 && i >= n - 1 - pad) out[count++] = 2 * (n - 1) - i + pad;
    return count;
}

/*
 * Column row (c, kh, kw), grid pixel q = oh * out_w + ow reads padded position
 * (oh * stride + kh, ow * stride + kw). The column is [C * K * K, npix] for
 * the grid pixels [p0, p0 + npix).
 */
__kernel void im2col(CLG_CTENSOR(x), CLG_TENSOR(col), int C, int H, int W, int out_w, int K,
                     int stride, int pad, int reflect, int p0, int npix) {
    int p = get_global_id(0), row = get_global_id(1);
    CLG_GUARD(p, npix);
    CLG_GUARD(row, C * K * K);

    int q = p0 + p, oh = q / out_w, ow = q - oh * out_w;
    int c = row / (K * K), kk = row - c * (K * K), kh = kk / K, kw = kk - kh * K;
    int ih = oh * stride + kh - pad, iw = ow * stride + kw - pad;
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
 * adds bias[c] when has_bias, and writes or adds the result.
 */
__kernel void col2im(CLG_CTENSOR(col), CLG_TENSOR(x), CLG_CTENSOR(bias), int has_bias, int C,
                     int H, int W, int out_h, int out_w, int K, int stride, int pad, int reflect,
                     int p0, int npix, int accumulate) {
    int iw = get_global_id(0), ih = get_global_id(1), c = get_global_id(2);
    CLG_GUARD(iw, W);
    CLG_GUARD(ih, H);
    CLG_GUARD(c, C);

    int hs[3], ws[3];
    int nh = conv_padded_sources(ih, H, pad, reflect, hs);
    int nw = conv_padded_sources(iw, W, pad, reflect, ws);
    float sum = has_bias ? CLG_AT(bias)[c] : 0.0f;

    for (int a = 0; a < nh; a++)
        for (int b = 0; b < nw; b++)
            sum += conv_gather(CLG_AT(col), c, hs[a], ws[b], K, stride, out_h, out_w, p0, npix);

    size_t i = ((size_t)c * H + ih) * W + iw;
    CLG_AT(x)[i] = accumulate ? CLG_AT(x)[i] + sum : sum;
}

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
