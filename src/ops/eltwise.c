/* Activations and elementwise arithmetic on the kernels of cl/eltwise.cl. */
#include "clgan/ops.h"
#include "device/internal.h"

typedef struct activation_kernels {
    clg_activation act;
    const char *name, *forward, *backward;
} activation_kernels;

static const activation_kernels activations[] = {
    {CLG_ACT_RELU, "relu", "relu_forward", "relu_backward"},
    {CLG_ACT_LEAKY_RELU, "leaky_relu", "leaky_relu_forward", "leaky_relu_backward"},
    {CLG_ACT_TANH, "tanh", "tanh_forward", "tanh_backward"},
    {CLG_ACT_SIGMOID, "sigmoid", "sigmoid_forward", "sigmoid_backward"},
};

static const activation_kernels *find_activation(clg_activation act) {
    for (size_t i = 0; i < sizeof activations / sizeof activations[0]; i++)
        if (activations[i].act == act) return &activations[i];
    return NULL;
}

/* Every tensor given must exist, hold as many elements as a, and live on a's device. */
static clg_status check_like(const char *op, const clg_tensor *a, const clg_tensor *b,
                             const char *b_name) {
    char as[64], bs[64];

    if (!a || !b) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, b_name);
    if (clg_tensor_device(a) != clg_tensor_device(b))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensors on two devices", op);
    if (clg_tensor_numel(a) == clg_tensor_numel(b)) return CLG_OK;
    clg_tensor_shape_string(a, as, sizeof as);
    clg_tensor_shape_string(b, bs, sizeof bs);
    return clg_error(CLG_ERR_SHAPE, "%s: %s %s has another element count than %s", op, b_name, bs,
                     as);
}

/* ---- Activations ---- */

clg_status clg_activation_forward(clg_activation act, float slope, const clg_tensor *x,
                                  clg_tensor *y) {
    const activation_kernels *k = find_activation(act);
    clg_status s;

    if (!k) return clg_error(CLG_ERR_INVALID_ARGUMENT, "activation_forward: unknown kind %d", act);
    if ((s = check_like(k->name, x, y, "y")) != CLG_OK) return s;
    return CLGI_RUN(clg_tensor_device(x), "eltwise.cl", k->forward, 1,
                    (size_t[]){clg_tensor_numel(x)}, CLGI_TENSOR(x), CLGI_TENSOR(y),
                    CLGI_INT(clg_tensor_numel(x)), CLGI_FLOAT(slope));
}

clg_status clg_activation_backward(clg_activation act, float slope, const clg_tensor *x,
                                   const clg_tensor *y, const clg_tensor *dy, clg_tensor *dx,
                                   int accumulate) {
    const activation_kernels *k = find_activation(act);
    clg_status s;

    if (!k) return clg_error(CLG_ERR_INVALID_ARGUMENT, "activation_backward: unknown kind %d", act);
    if (!dx) return CLG_OK;
    if ((s = check_like(k->name, x, y, "y")) != CLG_OK ||
        (s = check_like(k->name, x, dy, "dy")) != CLG_OK ||
        (s = check_like(k->name, x, dx, "dx")) != CLG_OK)
        return s;
    return CLGI_RUN(clg_tensor_device(x), "eltwise.cl", k->backward, 1,
                    (size_t[]){clg_tensor_numel(x)}, CLGI_TENSOR(x), CLGI_TENSOR(y),
                    CLGI_TENSOR(dy), CLGI_TENSOR(dx), CLGI_INT(clg_tensor_numel(x)),
                    CLGI_FLOAT(slope), CLGI_INT(accumulate));
}

/* ---- Arithmetic ---- */

static clg_status binary(const char *op, const clg_tensor *a, const clg_tensor *b,
                         clg_tensor *out) {
    clg_status s;

    if ((s = check_like(op, a, b, "b")) != CLG_OK || (s = check_like(op, a, out, "out")) != CLG_OK)
        return s;
    return CLGI_RUN(clg_tensor_device(a), "eltwise.cl", op, 1, (size_t[]){clg_tensor_numel(a)},
                    CLGI_TENSOR(a), CLGI_TENSOR(b), CLGI_TENSOR(out),
                    CLGI_INT(clg_tensor_numel(a)));
}

clg_status clg_add(const clg_tensor *a, const clg_tensor *b, clg_tensor *out) {
    return binary("add", a, b, out);
}

clg_status clg_sub(const clg_tensor *a, const clg_tensor *b, clg_tensor *out) {
    return binary("sub", a, b, out);
}

clg_status clg_mul(const clg_tensor *a, const clg_tensor *b, clg_tensor *out) {
    return binary("mul", a, b, out);
}

clg_status clg_scale(const clg_tensor *a, float alpha, clg_tensor *out) {
    clg_status s = check_like("scale", a, out, "out");

    if (s != CLG_OK) return s;
    return CLGI_RUN(clg_tensor_device(a), "eltwise.cl", "scale", 1, (size_t[]){clg_tensor_numel(a)},
                    CLGI_TENSOR(a), CLGI_FLOAT(alpha), CLGI_TENSOR(out),
                    CLGI_INT(clg_tensor_numel(a)));
}

clg_status clg_axpy(float alpha, const clg_tensor *x, clg_tensor *y) {
    clg_status s = check_like("axpy", y, x, "x");

    if (s != CLG_OK) return s;
    return CLGI_RUN(clg_tensor_device(y), "eltwise.cl", "axpy", 1, (size_t[]){clg_tensor_numel(y)},
                    CLGI_FLOAT(alpha), CLGI_TENSOR(x), CLGI_TENSOR(y),
                    CLGI_INT(clg_tensor_numel(y)));
}
