/* Losses with their value reduced on the device, and their gradients (cl/loss.cl). */
#include "clgan/ops.h"
#include "device/internal.h"

/* Partial sums per loss; equals PARTS in cl/loss.cl. */
#define PARTS 1024

/* Equal to the enum in cl/loss.cl. */
typedef enum loss_kind { LOSS_MSE = 0, LOSS_L1 = 1, LOSS_BCE = 2, LOSS_TV = 3 } loss_kind;

static clg_status check_pair(const char *op, const char *name, const clg_tensor *x,
                             const clg_tensor *t) {
    char xs[64], ts[64];

    if (!t || clg_tensor_numel(t) == clg_tensor_numel(x)) return CLG_OK;
    clg_tensor_shape_string(x, xs, sizeof xs);
    clg_tensor_shape_string(t, ts, sizeof ts);
    return clg_error(CLG_ERR_SHAPE, "%s: %s %s does not match x %s", op, name, ts, xs);
}

static clg_status check_loss(const char *op, const clg_tensor *x, const clg_tensor *target,
                             const clg_tensor *loss) {
    char ls[64];

    if (!x || !loss) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: NULL tensor", op);
    if (clg_tensor_numel(loss) != 1) {
        clg_tensor_shape_string(loss, ls, sizeof ls);
        return clg_error(CLG_ERR_SHAPE, "%s: loss %s should be a [1] tensor", op, ls);
    }
    return check_pair(op, "target", x, target);
}

/* loss[0] = scale * (sum of the loss terms), via PARTS partial sums and clg_sum. */
static clg_status loss_value(const char *op, loss_kind kind, const clg_tensor *x,
                             const clg_tensor *target, float target_value, int mean,
                             clg_tensor *loss) {
    clg_tensor *partials = NULL;
    const clg_tensor *t = target ? target : x;
    size_t n;
    float scale;
    clg_status s = check_loss(op, x, target, loss);

    if (s != CLG_OK) return s;
    n = clg_tensor_numel(x);
    scale = mean ? (float)(1.0 / (double)n) : 1.0f;
    s = clg_tensor_create(clg_tensor_device(x), 1, (const int[]){PARTS}, &partials);
    if (s != CLG_OK) return s;
    s = CLGI_RUN(clg_tensor_device(x), "loss.cl", "loss_partials", 1, (size_t[]){PARTS},
                 CLGI_INT(kind), CLGI_TENSOR(x), CLGI_TENSOR(t), CLGI_INT(target != NULL),
                 CLGI_FLOAT(target_value), CLGI_INT(n), CLGI_INT(clg_tensor_dim(x, -2)),
                 CLGI_INT(clg_tensor_dim(x, -1)), CLGI_FLOAT(scale), CLGI_TENSOR(partials));
    if (s == CLG_OK) s = clg_sum(partials, loss);
    clg_tensor_release(partials);
    return s;
}

/* The upstream gradient of a loss: one element, or NULL for 1. */
static clg_status check_dloss(const char *op, const clg_tensor *dloss) {
    if (!dloss || clg_tensor_numel(dloss) == 1) return CLG_OK;
    return clg_error(CLG_ERR_SHAPE, "%s: the loss gradient has %zu elements, not 1", op,
                     clg_tensor_numel(dloss));
}

/* dx (+)= dloss / n * d(term)/dx for the mean losses. */
static clg_status loss_grad(const char *op, loss_kind kind, const clg_tensor *x,
                            const clg_tensor *target, float target_value, const clg_tensor *dloss,
                            clg_tensor *dx, int accumulate) {
    const clg_tensor *t = target ? target : x;
    size_t n;
    clg_status s;

    if (!x) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: x is NULL", op);
    if (!dx) return CLG_OK;
    if ((s = check_pair(op, "target", x, target)) != CLG_OK ||
        (s = check_pair(op, "dx", x, dx)) != CLG_OK || (s = check_dloss(op, dloss)) != CLG_OK)
        return s;
    n = clg_tensor_numel(x);
    return CLGI_RUN(clg_tensor_device(x), "loss.cl", "loss_backward", 1, (size_t[]){n},
                    CLGI_INT(kind), CLGI_TENSOR(x), CLGI_TENSOR(t), CLGI_INT(target != NULL),
                    CLGI_FLOAT(target_value), CLGI_INT(n), CLGI_TENSOR(dloss ? dloss : x),
                    CLGI_INT(dloss != NULL), CLGI_FLOAT((float)(1.0 / (double)n)), CLGI_TENSOR(dx),
                    CLGI_INT(accumulate));
}

clg_status clg_mse_loss(const clg_tensor *x, const clg_tensor *target, clg_tensor *loss) {
    if (!target) return clg_error(CLG_ERR_INVALID_ARGUMENT, "mse_loss: target is NULL");
    return loss_value("mse_loss", LOSS_MSE, x, target, 0.0f, 1, loss);
}

clg_status clg_mse_loss_const(const clg_tensor *x, float target, clg_tensor *loss) {
    return loss_value("mse_loss_const", LOSS_MSE, x, NULL, target, 1, loss);
}

clg_status clg_mse_loss_backward(const clg_tensor *x, const clg_tensor *target, float target_value,
                                 const clg_tensor *dloss, clg_tensor *dx, int accumulate) {
    return loss_grad("mse_loss_backward", LOSS_MSE, x, target, target_value, dloss, dx, accumulate);
}

clg_status clg_l1_loss(const clg_tensor *x, const clg_tensor *target, clg_tensor *loss) {
    if (!target) return clg_error(CLG_ERR_INVALID_ARGUMENT, "l1_loss: target is NULL");
    return loss_value("l1_loss", LOSS_L1, x, target, 0.0f, 1, loss);
}

clg_status clg_l1_loss_backward(const clg_tensor *x, const clg_tensor *target,
                                const clg_tensor *dloss, clg_tensor *dx, int accumulate) {
    if (!target) return clg_error(CLG_ERR_INVALID_ARGUMENT, "l1_loss_backward: target is NULL");
    return loss_grad("l1_loss_backward", LOSS_L1, x, target, 0.0f, dloss, dx, accumulate);
}

clg_status clg_bce_logits_loss_const(const clg_tensor *x, float target, clg_tensor *loss) {
    return loss_value("bce_logits_loss_const", LOSS_BCE, x, NULL, target, 1, loss);
}

clg_status clg_bce_logits_loss_backward(const clg_tensor *x, float target, const clg_tensor *dloss,
                                        clg_tensor *dx, int accumulate) {
    return loss_grad("bce_logits_loss_backward", LOSS_BCE, x, NULL, target, dloss, dx, accumulate);
}

clg_status clg_tv_loss(const clg_tensor *x, clg_tensor *loss) {
    return loss_value("tv_loss", LOSS_TV, x, NULL, 0.0f, 0, loss);
}

clg_status clg_tv_loss_backward(const clg_tensor *x, const clg_tensor *dloss, clg_tensor *dx,
                                int accumulate) {
    size_t n;
    clg_status s;

    if (!x) return clg_error(CLG_ERR_INVALID_ARGUMENT, "tv_loss_backward: x is NULL");
    if (!dx) return CLG_OK;
    if ((s = check_pair("tv_loss_backward", "dx", x, dx)) != CLG_OK ||
        (s = check_dloss("tv_loss_backward", dloss)) != CLG_OK)
        return s;
    n = clg_tensor_numel(x);
    return CLGI_RUN(clg_tensor_device(x), "loss.cl", "tv_backward", 1, (size_t[]){n},
                    CLGI_TENSOR(x), CLGI_INT(n), CLGI_INT(clg_tensor_dim(x, -2)),
                    CLGI_INT(clg_tensor_dim(x, -1)), CLGI_TENSOR(dloss ? dloss : x),
                    CLGI_INT(dloss != NULL), CLGI_TENSOR(dx), CLGI_INT(accumulate));
}
