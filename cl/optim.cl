/* Optimiser steps: Adam as torch.optim.Adam, one kernel per parameter tensor. */

/*
 * g = grad + weight_decay * param; exp_avg moves towards g by w1 = 1 - beta1
 * (as torch's lerp), exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) g^2, and
 * param -= step_size * exp_avg / (sqrt(exp_avg_sq) / bc2_sqrt + eps), with
 * step_size = lr / (1 - beta1^step) and bc2_sqrt = sqrt(1 - beta2^step)
 * computed on the host.
 */
__kernel void adam_step(CLG_TENSOR(param), CLG_CTENSOR(grad), CLG_TENSOR(exp_avg),
                        CLG_TENSOR(exp_avg_sq), int n, float w1, float beta2, float one_m_beta2,
                        float weight_decay, float step_size, float bc2_sqrt, float eps) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    float p = CLG_AT(param)[i];
    float g = CLG_AT(grad)[i];
    float m = CLG_AT(exp_avg)[i], v = CLG_AT(exp_avg_sq)[i];

    if (weight_decay != 0.0f) g += weight_decay * p;
    m = fabs(w1) < 0.5f ? m + w1 * (g - m) : g - (g - m) * (1.0f - w1);
    v = v * beta2 + one_m_beta2 * g * g;
    CLG_AT(exp_avg)[i] = m;
    CLG_AT(exp_avg_sq)[i] = v;
    CLG_AT(param)[i] = p - step_size * (m / (sqrt(v) / bc2_sqrt + eps));
}
