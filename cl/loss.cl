/* Loss terms: fixed-count partial sums of each loss (summed by cl/reduce.cl), and gradients. */

/* Equals PARTS in cl/reduce.cl and src/ops/loss.c: partial p sums terms p, p + PARTS, ... */
#define PARTS 1024

enum { LOSS_MSE = 0, LOSS_L1 = 1, LOSS_BCE = 2, LOSS_TV = 3 };

/* log(1 + exp(-|v|)) + max(v, 0) - v * t: binary cross-entropy of logit v, never overflowing. */
static float bce_term(float v, float t) {
    return fmax(v, 0.0f) - v * t + log1p(exp(-fabs(v)));
}

/* Squared differences with the right and lower neighbours of element i of an h x w plane. */
static float tv_term(__global const float *x, int i, int h, int w) {
    int col = i % w, row = (i / w) % h;
    float sum = 0.0f, d;

    if (col + 1 < w) {
        d = x[i + 1] - x[i];
        sum += d * d;
    }
    if (row + 1 < h) {
        d = x[i + w] - x[i];
        sum += d * d;
    }
    return sum;
}

/* Term i of the loss; target is t[i] when has_target, else tval. */
static float loss_term(int kind, __global const float *x, __global const float *t, int has_target,
                       float tval, int i, int h, int w) {
    float target = has_target ? t[i] : tval, d = x[i] - target;

    switch (kind) {
    case LOSS_MSE:
        return d * d;
    case LOSS_L1:
        return fabs(d);
    case LOSS_BCE:
        return bce_term(x[i], target);
    default:
        return tv_term(x, i, h, w);
    }
}

/* partials[p] = scale * (sum of terms p, p + PARTS, ...). */
__kernel void loss_partials(int kind, CLG_CTENSOR(x), CLG_CTENSOR(t), int has_target, float tval,
                            int n, int h, int w, float scale, CLG_TENSOR(partials)) {
    int p = get_global_id(0);
    float acc = 0.0f;

    CLG_GUARD(p, PARTS);
    for (int i = p; i < n; i += PARTS)
        acc += loss_term(kind, CLG_AT(x), CLG_AT(t), has_target, tval, i, h, w);
    CLG_AT(partials)[p] = scale * acc;
}

/* d(term)/dx[i] for the elementwise losses: 2 d (mse), sign(d) (l1), sigmoid(x) - t (bce). */
static float loss_grad(int kind, float v, float target) {
    float d = v - target, e;

    switch (kind) {
    case LOSS_MSE:
        return 2.0f * d;
    case LOSS_L1:
        return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
    default:
        e = exp(-fabs(v));
        return (v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e)) - target;
    }
}

/* The upstream gradient of a loss, read on the device (1 when there is none). */
#define CLG_DLOSS(name) (has_##name ? CLG_AT(name)[0] : 1.0f)

/* dx (+)= dloss * scale * d(term)/dx, scale = 1 / n for the mean losses. */
__kernel void loss_backward(int kind, CLG_CTENSOR(x), CLG_CTENSOR(t), int has_target, float tval,
                            int n, CLG_CTENSOR(dloss), int has_dloss, float scale, CLG_TENSOR(dx),
                            int accumulate) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    float target = has_target ? CLG_AT(t)[i] : tval;
    float g = CLG_DLOSS(dloss) * scale * loss_grad(kind, CLG_AT(x)[i], target);
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + g : g;
}

/* Total variation: dx (+)= 2 dloss * sum of (x - neighbour) over the neighbours that exist. */
__kernel void tv_backward(CLG_CTENSOR(x), int n, int h, int w, CLG_CTENSOR(dloss), int has_dloss,
                          CLG_TENSOR(dx), int accumulate) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    __global const float *p = CLG_AT(x);
    int col = i % w, row = (i / w) % h;
    float v = p[i], g = 0.0f;

    if (col > 0) g += v - p[i - 1];
    if (col + 1 < w) g -= p[i + 1] - v;
    if (row > 0) g += v - p[i - w];
    if (row + 1 < h) g -= p[i + w] - v;
    g *= 2.0f * CLG_DLOSS(dloss);
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + g : g;
}
