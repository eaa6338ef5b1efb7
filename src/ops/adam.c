/* The Adam step of torch.optim.Adam, one kernel launch per parameter (cl/optim.cl). */
#include "clgan/ops.h"
#include "device/internal.h"

#include <math.h>

static clg_status check_adam(const clg_tensor *param, const clg_tensor *t, const char *name) {
    char ps[64], ts[64];

    if (!t) return clg_error(CLG_ERR_INVALID_ARGUMENT, "adam_step: %s is NULL", name);
    if (clg_tensor_device(t) != clg_tensor_device(param))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "adam_step: %s on another device", name);
    if (clg_tensor_numel(t) == clg_tensor_numel(param)) return CLG_OK;
    clg_tensor_shape_string(param, ps, sizeof ps);
    clg_tensor_shape_string(t, ts, sizeof ts);
    return clg_error(CLG_ERR_SHAPE, "adam_step: %s %s does not match param %s", name, ts, ps);
}

clg_status clg_adam_step(const clg_adam_params *p, int step, clg_tensor *param,
                         const clg_tensor *grad, clg_tensor *exp_avg, clg_tensor *exp_avg_sq) {
    double bc1, bc2;
    size_t n;
    clg_status s;

    if (!p || !param || step < 1)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "adam_step: needs params, a parameter and "
                         "step >= 1 (step %d)",
                         step);
    if ((s = check_adam(param, grad, "grad")) != CLG_OK ||
        (s = check_adam(param, exp_avg, "exp_avg")) != CLG_OK ||
        (s = check_adam(param, exp_avg_sq, "exp_avg_sq")) != CLG_OK)
        return s;

    /* Bias corrections in double on the host, as PyTorch computes them in Python floats. */
    bc1 = 1.0 - pow((double)p->beta1, step);
    bc2 = 1.0 - pow((double)p->beta2, step);
    n = clg_tensor_numel(param);
    return CLGI_RUN(clg_tensor_device(param), "optim.cl", "adam_step", 1, (size_t[]){n},
                    CLGI_TENSOR(param), CLGI_TENSOR(grad), CLGI_TENSOR(exp_avg),
                    CLGI_TENSOR(exp_avg_sq), CLGI_INT(n), CLGI_FLOAT(1.0 - (double)p->beta1),
                    CLGI_FLOAT(p->beta2), CLGI_FLOAT(1.0 - (double)p->beta2),
                    CLGI_FLOAT(p->weight_decay), CLGI_FLOAT((double)p->lr / bc1),
                    CLGI_FLOAT(sqrt(bc2)), CLGI_FLOAT(p->eps));
}
