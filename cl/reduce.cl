/* Deterministic sums: fixed-count partial sums, then one fixed-shape tree in local memory. */

/*
 * The partial count is fixed, and so is every addition: partial p sums
 * elements p, p + PARTS, p + 2 * PARTS, ... in order, and the final tree adds
 * buf[j + s] to buf[j] for halving s. Work-items share the tree's additions
 * by striding, so the result does not depend on the work-group size.
 */
#define PARTS 1024

__kernel void sum_partials(CLG_CTENSOR(x), int n, __global float *partials) {
    int p = get_global_id(0);
    float acc = 0.0f;

    CLG_GUARD(p, PARTS);
    for (int i = p; i < n; i += PARTS) acc += CLG_AT(x)[i];
    partials[p] = acc;
}

/* One work-group of any size: out[0] = scale * (sum of the PARTS partials). */
__kernel void sum_final(__global const float *partials, float scale, CLG_TENSOR(out)) {
    __local float buf[PARTS];
    int lid = get_local_id(0), lsize = get_local_size(0);

    for (int j = lid; j < PARTS; j += lsize) buf[j] = partials[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = PARTS / 2; s > 0; s >>= 1) {
        for (int j = lid; j < s; j += lsize) buf[j] += buf[j + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) CLG_AT(out)[0] = scale * buf[0];
}

/* dx (+)= scale * dout[0] in every element. */
__kernel void broadcast_grad(CLG_CTENSOR(dout), float scale, CLG_TENSOR(dx), int n,
                             int accumulate) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    float g = scale * CLG_AT(dout)[0];
    CLG_AT(dx)[i] = accumulate ? CLG_AT(dx)[i] + g : g;
}
