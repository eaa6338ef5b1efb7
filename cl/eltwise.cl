/* Elementwise kernels: activations forward and backward, arithmetic, scale and axpy. */

/* Write v to out[i], or add it to what out[i] holds when accumulating. */
#define STORE(out, i, v, accumulate) CLG_AT(out)[i] = (accumulate) ? CLG_AT(out)[i] + (v) : (v)

/* ---- Activations: forward y = f(x); backward dx (+)= dy * f'(x), written with x or y ---- */

#define ACTIVATION(name, fwd, bwd)                                                                 \
    __kernel void name##_forward(CLG_CTENSOR(x), CLG_TENSOR(y), int n, float slope) {              \
        int i = get_global_id(0);                                                                  \
        CLG_GUARD(i, n);                                                                           \
        float v = CLG_AT(x)[i];                                                                    \
        CLG_AT(y)[i] = (fwd);                                                                      \
    }                                                                                              \
    __kernel void name##_backward(CLG_CTENSOR(x), CLG_CTENSOR(y), CLG_CTENSOR(dy), CLG_TENSOR(dx), \
                                  int n, float slope, int accumulate) {                            \
        int i = get_global_id(0);                                                                  \
        CLG_GUARD(i, n);                                                                           \
        float v = CLG_AT(x)[i], out = CLG_AT(y)[i], d = CLG_AT(dy)[i];                             \
        STORE(dx, i, (bwd), accumulate);                                                           \
    }

/* The logistic function without overflow: exp only ever of a non-positive number. */
static float stable_sigmoid(float v) {
    float e = exp(-fabs(v));
    return v >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* tanh through expm1: accurate near 0 and exactly +-1 once it rounds there (some tanh don't). */
static float exact_tanh(float v) {
    float em = expm1(-2.0f * fabs(v));
    return copysign(-em / (2.0f + em), v);
}

/* Derivatives at 0 follow PyTorch: relu' = 0, leaky_relu' = slope. NaN passes through. */
// clang-format off
ACTIVATION(relu, v <= 0.0f ? 0.0f : v, v > 0.0f ? d : 0.0f)
ACTIVATION(leaky_relu, v <= 0.0f ? v * slope : v, v > 0.0f ? d : d * slope)
ACTIVATION(tanh, exact_tanh(v), d * (1.0f - out * out))
ACTIVATION(sigmoid, stable_sigmoid(v), d * out * (1.0f - out))
// clang-format on

/* ---- Arithmetic ---- */

#define BINARY(name, expr)                                                                         \
    __kernel void name(CLG_CTENSOR(a), CLG_CTENSOR(b), CLG_TENSOR(out), int n) {                   \
        int i = get_global_id(0);                                                                  \
        CLG_GUARD(i, n);                                                                           \
        float p = CLG_AT(a)[i], q = CLG_AT(b)[i];                                                  \
        CLG_AT(out)[i] = (expr);                                                                   \
    }

// clang-format off
BINARY(add, p + q)
BINARY(sub, p - q)
BINARY(mul, p * q)
// clang-format on

__kernel void scale(CLG_CTENSOR(a), float alpha, CLG_TENSOR(out), int n) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    CLG_AT(out)[i] = alpha * CLG_AT(a)[i];
}

__kernel void axpy(float alpha, CLG_CTENSOR(x), CLG_TENSOR(y), int n) {
    int i = get_global_id(0);
    CLG_GUARD(i, n);
    CLG_AT(y)[i] += alpha * CLG_AT(x)[i];
}
