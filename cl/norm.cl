/* Instance and batch normalisation: per-group statistics, normalising, and the backward. */

/*
 * A group is the set of elements that share statistics: one (n, c) plane for
 * instance norm, one channel across the batch for batch norm. Group g holds
 * count = outer * inner elements; element k of it lives at
 * g * inner + (k / inner) * outer_stride + k % inner. A work-group reduces one
 * group: LANES fixed lanes each sum elements k = lane, lane + LANES, ... in
 * order, then a fixed tree adds the lanes. Work-items share lanes and tree
 * steps by striding, so sums do not depend on the work-group size.
 */
#define LANES 256

typedef struct group_geom {
    int base, inner, outer_stride, count;
} group_geom;

static group_geom geom_of(int g, int inner, int outer, int outer_stride) {
    group_geom q = {g * inner, inner, outer_stride, outer * inner};
    return q;
}

static int elem_at(group_geom q, int k) {
    return q.base + (k / q.inner) * q.outer_stride + k % q.inner;
}

/* Sum the LANES values of buf with a fixed tree; every work-item of the group must call it. */
static float tree_sum(__local float *buf) {
    int lid = get_local_id(0), lsize = get_local_size(0);
    float total;

    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = LANES / 2; s > 0; s >>= 1) {
        for (int j = lid; j < s; j += lsize) buf[j] += buf[j + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    total = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* buf may be refilled after this */
    return total;
}

/* The group's mean (shift 0, power 1) or sum of squared deviations from shift (power 2). */
static float group_sum(__global const float *x, group_geom q, float shift, int power,
                       __local float *buf) {
    for (int lane = get_local_id(0); lane < LANES; lane += get_local_size(0)) {
        float acc = 0.0f;
        for (int k = lane; k < q.count; k += LANES) {
            float d = x[elem_at(q, k)] - shift;
            acc += power == 2 ? d * d : d;
        }
        buf[lane] = acc;
    }
    return tree_sum(buf);
}

/*
 * Statistics of every group: mean and invstd = 1 / sqrt(var + eps) with the
 * biased variance. With has_running, running_mean and running_var move by
 * momentum towards the mean and the unbiased variance (batch norm training).
 */
__kernel void norm_stats(CLG_CTENSOR(x), int inner, int outer, int outer_stride, float eps,
                         CLG_TENSOR(mean), CLG_TENSOR(invstd), int has_running,
                         CLG_TENSOR(running_mean), CLG_TENSOR(running_var), float momentum) {
    __local float buf[LANES];
    int g = get_group_id(0);
    group_geom q = geom_of(g, inner, outer, outer_stride);
    float mu = group_sum(CLG_AT(x), q, 0.0f, 1, buf) / q.count;
    float var = group_sum(CLG_AT(x), q, mu, 2, buf) / q.count;

    if (get_local_id(0) != 0) return;
    CLG_AT(mean)[g] = mu;
    CLG_AT(invstd)[g] = 1.0f / sqrt(var + eps);
    if (!has_running) return;
    float unbiased = q.count > 1 ? var * q.count / (q.count - 1) : var;
    CLG_AT(running_mean)[g] = (1.0f - momentum) * CLG_AT(running_mean)[g] + momentum * mu;
    CLG_AT(running_var)[g] = (1.0f - momentum) * CLG_AT(running_var)[g] + momentum * unbiased;
}

/* Batch norm in evaluation: mean and invstd from the running statistics. */
__kernel void norm_running_stats(CLG_CTENSOR(running_mean), CLG_CTENSOR(running_var), int c,
                                 float eps, CLG_TENSOR(mean), CLG_TENSOR(invstd)) {
    int i = get_global_id(0);
    CLG_GUARD(i, c);
    CLG_AT(mean)[i] = CLG_AT(running_mean)[i];
    CLG_AT(invstd)[i] = 1.0f / sqrt(CLG_AT(running_var)[i] + eps);
}

/* y = (x - mean) * invstd * weight + bias; plane p = i / hw has statistics p % groups. */
__kernel void norm_apply(CLG_CTENSOR(x), int n, int hw, int channels, int groups, CLG_CTENSOR(mean),
                         CLG_CTENSOR(invstd), int affine, CLG_CTENSOR(weight), CLG_CTENSOR(bias),
                         CLG_TENSOR(y)) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    int plane = i / hw, g = plane % groups, c = plane % channels;
    float v = (CLG_AT(x)[i] - CLG_AT(mean)[g]) * CLG_AT(invstd)[g];
    CLG_AT(y)[i] = affine ? v * CLG_AT(weight)[c] + CLG_AT(bias)[c] : v;
}

/* Per group: sums[2g] = sum(dy), sums[2g + 1] = sum(dy * xhat). */
__kernel void norm_backward_sums(CLG_CTENSOR(x), CLG_CTENSOR(dy), int inner, int outer,
                                 int outer_stride, CLG_CTENSOR(mean), CLG_CTENSOR(invstd),
                                 __global float *sums) {
    __local float buf[LANES];
    int g = get_group_id(0);
    group_geom q = geom_of(g, inner, outer, outer_stride);
    float mu = CLG_AT(mean)[g], is = CLG_AT(invstd)[g];
    float sum_dy = group_sum(CLG_AT(dy), q, 0.0f, 1, buf);

    for (int lane = get_local_id(0); lane < LANES; lane += get_local_size(0)) {
        float acc = 0.0f;
        for (int k = lane; k < q.count; k += LANES) {
            int e = elem_at(q, k);
            acc += CLG_AT(dy)[e] * (CLG_AT(x)[e] - mu) * is;
        }
        buf[lane] = acc;
    }
    float sum_dyx = tree_sum(buf);
    if (get_local_id(0) == 0) {
        sums[2 * g] = sum_dy;
        sums[2 * g + 1] = sum_dyx;
    }
}

/*
 * dx = weight * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)) with batch
 * statistics (count elements per group), or weight * invstd * dy when the
 * statistics were constants (batch norm in evaluation, batch_stats 0).
 */
__kernel void norm_backward_dx(CLG_CTENSOR(x), CLG_CTENSOR(dy), int n, int hw, int channels,
                               int groups, int count, int batch_stats, CLG_CTENSOR(mean),
                               CLG_CTENSOR(invstd), __global const float *sums, int affine,
                               CLG_CTENSOR(weight), CLG_TENSOR(dx), int accumulate) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    int plane = i / hw, g = plane % groups, c = plane % channels;
    float is = CLG_AT(invstd)[g];
    float scale = affine ? CLG_AT(weight)[c] * is : is;
    float d = CLG_AT(dy)[i];

    if (batch_stats) {
        float xhat = (CLG_AT(x)[i] - CLG_AT(mean)[g]) * is;
        d = d - sums[2 * g] / count - xhat * (sums[2 * g + 1] / count);
    }
    d *= scale;
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + d : d;
}

/* dbias[c] and dweight[c]: the group sums of channel c, over groups c, c + C, ... in order. */
__kernel void norm_backward_affine(__global const float *sums, int channels, int groups,
                                   int has_dweight, CLG_TENSOR(dweight), int has_dbias,
                                   CLG_TENSOR(dbias), int accumulate) {
    int c = get_global_id(0);
    float sdy = 0.0f, sdyx = 0.0f;

    CLG_GUARD(c, channels);
    for (int g = c; g < groups; g += channels) {
        sdy += sums[2 * g];
        sdyx += sums[2 * g + 1];
    }
    if (has_dweight) CLG_AT(dweight)[c] = accumulate ? CLG_AT(dweight)[c] + sdyx : sdyx;
    if (has_dbias) CLG_AT(dbias)[c] = accumulate ? CLG_AT(dbias)[c] + sdy : sdy;
}
