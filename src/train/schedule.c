/* Learning-rate schedules as the reference's get_scheduler(): linear, step and cosine. */
#include "clgan/cyclegan_options.h"

#include <math.h>

/* LambdaLR with the reference's linear rule; epoch_count shifts it so a resumed run continues. */
static double linear_lr(const clg_cyclegan_options *o, int steps) {
    int past = steps + o->epoch_count - o->n_epochs;

    return o->lr * (1.0 - (past > 0 ? past : 0) / (double)(o->n_epochs_decay + 1));
}

/* StepLR(step_size lr_decay_iters, gamma 0.1), multiplied step by step as PyTorch does. */
static double step_lr(const clg_cyclegan_options *o, int steps) {
    double lr = o->lr;

    for (int t = 1; t <= steps; t++)
        if (o->lr_decay_iters > 0 && t % o->lr_decay_iters == 0) lr *= 0.1;
    return lr;
}

/* Python's a % m for m > 0: never negative. */
static int py_mod(int a, int m) {
    return ((a % m) + m) % m;
}

/* CosineAnnealingLR(T_max n_epochs, eta_min 0), with PyTorch's recursive update. */
static double cosine_lr(const clg_cyclegan_options *o, int steps) {
    const double pi = 3.14159265358979323846;
    int t_max = o->n_epochs;
    double lr = o->lr;

    if (t_max < 1) return lr; /* PyTorch divides by zero here; the parser refuses it */
    for (int t = 1; t <= steps; t++) {
        if (py_mod(t - 1 - t_max, 2 * t_max) == 0)
            lr = lr + o->lr * (1.0 - cos(pi / t_max)) / 2.0;
        else
            lr = (1.0 + cos(pi * t / t_max)) / (1.0 + cos(pi * (t - 1) / t_max)) * lr;
    }
    return lr;
}

double clg_lr_after_steps(const clg_cyclegan_options *opts, int steps) {
    if (steps < 0) steps = 0;
    switch (opts->lr_policy) {
    case CLG_LR_STEP:
        return step_lr(opts, steps);
    case CLG_LR_COSINE:
        return cosine_lr(opts, steps);
    default:
        return linear_lr(opts, steps);
    }
}

double clg_lr_for_epoch(const clg_cyclegan_options *opts, int epoch) {
    return clg_lr_after_steps(opts, epoch - opts->epoch_count);
}
