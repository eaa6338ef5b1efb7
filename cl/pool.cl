/* 2x2 pooling with stride 2 (floor for odd sizes): max and average, forward and backward. */

/* Row-major index of the first maximum of the window of output (oh, ow) in an h x w plane. */
static int window_argmax(__global const float *plane, int w, int oh, int ow) {
    int best = 2 * oh * w + 2 * ow;
    float m = plane[best];

    for (int k = 1; k < 4; k++) {
        int at = (2 * oh + k / 2) * w + 2 * ow + k % 2;
        float v = plane[at];
        if (v > m || isnan(v)) { /* as PyTorch: a NaN takes the place */
            m = v;
            best = at;
        }
    }
    return best;
}

/* y [planes, ho, wo] from x [planes, h, w]; global id is the output element. */
__kernel void max_pool_forward(CLG_CTENSOR(x), int h, int w, int ho, int wo, int n, CLG_TENSOR(y)) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    int ow = i % wo, oh = (i / wo) % ho, plane = i / (wo * ho);
    __global const float *xp = CLG_AT(x) + (size_t)plane * h * w;
    CLG_AT(y)[i] = xp[window_argmax(xp, w, oh, ow)];
}

__kernel void avg_pool_forward(CLG_CTENSOR(x), int h, int w, int ho, int wo, int n, CLG_TENSOR(y)) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    int ow = i % wo, oh = (i / wo) % ho, plane = i / (wo * ho);
    __global const float *p = CLG_AT(x) + (size_t)plane * h * w + 2 * oh * w + 2 * ow;
    CLG_AT(y)[i] = (p[0] + p[1] + p[w] + p[w + 1]) / 4.0f;
}

/*
 * Backward, one work-item per input element: the gradient of its window's
 * output when it is that window's first maximum (max) or a quarter of it
 * (avg); 0 in the last row or column that odd sizes leave out.
 */
__kernel void pool_backward(int is_max, CLG_CTENSOR(x), CLG_CTENSOR(dy), int h, int w, int ho,
                            int wo, int n, CLG_TENSOR(dx), int accumulate) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    int col = i % w, row = (i / w) % h, plane = i / (w * h);
    int oh = row / 2, ow = col / 2;
    float g = 0.0f;

    if (oh < ho && ow < wo) {
        float d = CLG_AT(dy)[((size_t)plane * ho + oh) * wo + ow];
        if (!is_max)
            g = d / 4.0f;
        else if (window_argmax(CLG_AT(x) + (size_t)plane * h * w, w, oh, ow) == row * w + col)
            g = d;
    }
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + g : g;
}
