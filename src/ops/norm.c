/* Instance and batch normalisation, forward and backward, on the kernels of cl/norm.cl. */
#include "clgan/ops.h"
#include "device/internal.h"

/* Lanes of the per-group reduction: the work-group size never exceeds it (cl/norm.cl). */
#define LANES 256

/* How x [N, C, ...] splits into groups that share statistics (see cl/norm.cl). */
typedef struct norm_layout {
    const char *op;
    int channels, hw, groups; /* groups: N * C planes (instance) or C channels (batch) */
    int outer, outer_stride;  /* planes per group and the stride between them */
    int batch_stats;          /* statistics come from x, not from running averages */
} norm_layout;

static norm_layout layout_of(const char *op, const clg_tensor *x, int instance, int batch_stats) {
    int n = clg_tensor_dim(x, 0), c = clg_tensor_dim(x, 1);
    int hw = (int)(clg_tensor_numel(x) / ((size_t)n * (size_t)c));

    if (instance) return (norm_layout){op, c, hw, n * c, 1, 0, 1};
    return (norm_layout){op, c, hw, c, n, c * hw, batch_stats};
}

/* ---- Checks ---- */

static clg_status check_same(const char *op, const char *name, const clg_tensor *t,
                             const clg_tensor *x) {
    char ts[64], xs[64];

    if (!t || clg_tensor_same_shape(t, x)) return CLG_OK;
    clg_tensor_shape_string(t, ts, sizeof ts);
    clg_tensor_shape_string(x, xs, sizeof xs);
    return clg_error(CLG_ERR_SHAPE, "%s: %s %s does not match x %s", op, name, ts, xs);
}

static clg_status check_len(const char *op, const char *name, const clg_tensor *t, int len) {
    char ts[64];

    if (!t || clg_tensor_numel(t) == (size_t)len) return CLG_OK;
    clg_tensor_shape_string(t, ts, sizeof ts);
    return clg_error(CLG_ERR_SHAPE, "%s: %s %s should hold %d values", op, name, ts, len);
}

static clg_status check_x(const char *op, const clg_tensor *x) {
    char xs[64];

    if (x && clg_tensor_ndim(x) >= 2) return CLG_OK;
    if (!x) return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: x is NULL", op);
    clg_tensor_shape_string(x, xs, sizeof xs);
    return clg_error(CLG_ERR_SHAPE, "%s: x %s needs at least [N, C]", op, xs);
}

static clg_status check_affine(const norm_layout *l, const clg_tensor *w, const clg_tensor *b) {
    clg_status s = check_len(l->op, "weight", w, l->channels);

    if (s == CLG_OK) s = check_len(l->op, "bias", b, l->channels);
    if (s == CLG_OK && (!w) != (!b))
        s = clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: weight and bias go together", l->op);
    return s;
}

/* ---- Launches ---- */

/* One work-group per group of the layout, as many work-items as the device allows. */
static clg_status run_groups(clg_device *dev, const char *name, int groups, int nargs,
                             const clgi_arg *args) {
    clgi_kernel_entry *k;
    size_t local, global;
    clg_status s = clgi_kernel(dev, "norm.cl", name, &k);

    if (s != CLG_OK) return s;
    local = k->max_local < LANES ? k->max_local : LANES;
    global = (size_t)groups * local;
    return clgi_launch(dev, k, 1, &global, &local, nargs, args);
}

/* mean/invstd from x (batch_stats) or from the running averages; running ones move in training. */
static clg_status compute_stats(const norm_layout *l, const clg_tensor *x, clg_tensor *run_mean,
                                clg_tensor *run_var, float momentum, float eps, clg_tensor *mean,
                                clg_tensor *invstd) {
    clg_device *dev = clg_tensor_device(x);
    int has_running = run_mean && run_var;
    clg_tensor *rm = has_running ? run_mean : mean, *rv = has_running ? run_var : invstd;

    if (!l->batch_stats)
        return CLGI_RUN(dev, "norm.cl", "norm_running_stats", 1, (size_t[]){l->channels},
                        CLGI_TENSOR(run_mean), CLGI_TENSOR(run_var), CLGI_INT(l->channels),
                        CLGI_FLOAT(eps), CLGI_TENSOR(mean), CLGI_TENSOR(invstd));
    return run_groups(dev, "norm_stats", l->groups,
                      CLGI_ARGS(CLGI_TENSOR(x), CLGI_INT(l->hw), CLGI_INT(l->outer),
                                CLGI_INT(l->outer_stride), CLGI_FLOAT(eps), CLGI_TENSOR(mean),
                                CLGI_TENSOR(invstd), CLGI_INT(has_running), CLGI_TENSOR(rm),
                                CLGI_TENSOR(rv), CLGI_FLOAT(momentum)));
}

static clg_status apply_norm(const norm_layout *l, const clg_tensor *x, const clg_tensor *mean,
                             const clg_tensor *invstd, const clg_tensor *weight,
                             const clg_tensor *bias, clg_tensor *y) {
    const clg_tensor *w = weight ? weight : x, *b = bias ? bias : x;
    size_t n = clg_tensor_numel(x);

    return CLGI_RUN(clg_tensor_device(x), "norm.cl", "norm_apply", 1, (size_t[]){n}, CLGI_TENSOR(x),
                    CLGI_INT(n), CLGI_INT(l->hw), CLGI_INT(l->channels), CLGI_INT(l->groups),
                    CLGI_TENSOR(mean), CLGI_TENSOR(invstd), CLGI_INT(weight != NULL),
                    CLGI_TENSOR(w), CLGI_TENSOR(b), CLGI_TENSOR(y));
}

/* ---- Forward ---- */

static clg_status norm_forward(const norm_layout *l, const clg_tensor *x, const clg_tensor *weight,
                               const clg_tensor *bias, clg_tensor *run_mean, clg_tensor *run_var,
                               float momentum, float eps, clg_tensor *y, clg_tensor *mean,
                               clg_tensor *invstd) {
    clg_tensor *own_mean = NULL, *own_invstd = NULL;
    clg_status s = check_affine(l, weight, bias);

    if (s == CLG_OK) s = check_same(l->op, "y", y, x);
    if (s == CLG_OK && !y) s = clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: y is NULL", l->op);
    if (s == CLG_OK) s = check_len(l->op, "mean", mean, l->groups);
    if (s == CLG_OK) s = check_len(l->op, "invstd", invstd, l->groups);
    if (s != CLG_OK) return s;

    /* Statistics nobody asked to keep go into scratch tensors. */
    if (!mean) s = clg_tensor_create(clg_tensor_device(x), 1, &l->groups, &own_mean);
    if (s == CLG_OK && !invstd)
        s = clg_tensor_create(clg_tensor_device(x), 1, &l->groups, &own_invstd);
    mean = mean ? mean : own_mean;
    invstd = invstd ? invstd : own_invstd;

    if (s == CLG_OK) s = compute_stats(l, x, run_mean, run_var, momentum, eps, mean, invstd);
    if (s == CLG_OK) s = apply_norm(l, x, mean, invstd, weight, bias, y);
    clg_tensor_release(own_mean);
    clg_tensor_release(own_invstd);
    return s;
}

clg_status clg_instance_norm_forward(const clg_tensor *x, const clg_tensor *weight,
                                     const clg_tensor *bias, float eps, clg_tensor *y,
                                     clg_tensor *mean, clg_tensor *invstd) {
    const char *op = "instance_norm_forward";
    clg_status s = check_x(op, x);
    norm_layout l;

    if (s != CLG_OK) return s;
    l = layout_of(op, x, 1, 1);
    return norm_forward(&l, x, weight, bias, NULL, NULL, 0.0f, eps, y, mean, invstd);
}

clg_status clg_batch_norm_forward(const clg_tensor *x, const clg_tensor *weight,
                                  const clg_tensor *bias, clg_tensor *running_mean,
                                  clg_tensor *running_var, int training, float momentum, float eps,
                                  clg_tensor *y, clg_tensor *mean, clg_tensor *invstd) {
    const char *op = "batch_norm_forward";
    clg_status s = check_x(op, x);
    norm_layout l;

    if (s != CLG_OK) return s;
    l = layout_of(op, x, 0, training);
    if ((s = check_len(op, "running_mean", running_mean, l.channels)) != CLG_OK ||
        (s = check_len(op, "running_var", running_var, l.channels)) != CLG_OK)
        return s;
    if ((!running_mean) != (!running_var) || (!training && !running_mean))
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "%s: running_mean and running_var go together, and evaluation needs them",
                         op);
    return norm_forward(&l, x, weight, bias, running_mean, running_var, momentum, eps, y, mean,
                        invstd);
}

/* ---- Backward ---- */

static clg_status check_backward(const norm_layout *l, const clg_tensor *x,
                                 const clg_tensor *weight, const clg_tensor *mean,
                                 const clg_tensor *invstd, const clg_tensor *dy,
                                 const clg_tensor *dx, const clg_tensor *dweight,
                                 const clg_tensor *dbias) {
    clg_status s = check_len(l->op, "weight", weight, l->channels);

    if (!mean || !invstd || !dy)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: mean, invstd and dy are required", l->op);
    if (s == CLG_OK) s = check_len(l->op, "mean", mean, l->groups);
    if (s == CLG_OK) s = check_len(l->op, "invstd", invstd, l->groups);
    if (s == CLG_OK) s = check_same(l->op, "dy", dy, x);
    if (s == CLG_OK) s = check_same(l->op, "dx", dx, x);
    if (s == CLG_OK) s = check_len(l->op, "dweight", dweight, l->channels);
    if (s == CLG_OK) s = check_len(l->op, "dbias", dbias, l->channels);
    return s;
}

static clg_status backward_dx(const norm_layout *l, const clg_tensor *x, const clg_tensor *weight,
                              const clg_tensor *mean, const clg_tensor *invstd,
                              const clg_tensor *dy, cl_mem sums, clg_tensor *dx, int accumulate) {
    const clg_tensor *w = weight ? weight : x;
    size_t n = clg_tensor_numel(x);
    int count = l->outer * l->hw;

    return CLGI_RUN(clg_tensor_device(x), "norm.cl", "norm_backward_dx", 1, (size_t[]){n},
                    CLGI_TENSOR(x), CLGI_TENSOR(dy), CLGI_INT(n), CLGI_INT(l->hw),
                    CLGI_INT(l->channels), CLGI_INT(l->groups), CLGI_INT(count),
                    CLGI_INT(l->batch_stats), CLGI_TENSOR(mean), CLGI_TENSOR(invstd),
                    CLGI_MEM(sums), CLGI_INT(weight != NULL), CLGI_TENSOR(w), CLGI_TENSOR(dx),
                    CLGI_INT(accumulate));
}

static clg_status backward_affine(const norm_layout *l, const clg_tensor *x, cl_mem sums,
                                  clg_tensor *dweight, clg_tensor *dbias, int accumulate) {
    const clg_tensor *dw = dweight ? dweight : x, *db = dbias ? dbias : x;

    return CLGI_RUN(clg_tensor_device(x), "norm.cl", "norm_backward_affine", 1,
                    (size_t[]){l->channels}, CLGI_MEM(sums), CLGI_INT(l->channels),
                    CLGI_INT(l->groups), CLGI_INT(dweight != NULL), CLGI_TENSOR(dw),
                    CLGI_INT(dbias != NULL), CLGI_TENSOR(db), CLGI_INT(accumulate));
}

static clg_status norm_backward(const norm_layout *l, const clg_tensor *x, const clg_tensor *weight,
                                const clg_tensor *mean, const clg_tensor *invstd,
                                const clg_tensor *dy, clg_tensor *dx, clg_tensor *dweight,
                                clg_tensor *dbias, int accumulate) {
    clg_device *dev = clg_tensor_device(x);
    clgi_buffer *sums = NULL;
    clg_status s = check_backward(l, x, weight, mean, invstd, dy, dx, dweight, dbias);

    if (s != CLG_OK || (!dx && !dweight && !dbias)) return s;

    /* Per-group sum(dy) and sum(dy * xhat), shared by dx and the affine gradients. */
    s = clgi_buffer_create(dev, 2 * (size_t)l->groups * sizeof(float), &sums);
    if (s == CLG_OK)
        s = run_groups(dev, "norm_backward_sums", l->groups,
                       CLGI_ARGS(CLGI_TENSOR(x), CLGI_TENSOR(dy), CLGI_INT(l->hw),
                                 CLGI_INT(l->outer), CLGI_INT(l->outer_stride), CLGI_TENSOR(mean),
                                 CLGI_TENSOR(invstd), CLGI_MEM(sums->mem)));
    if (s == CLG_OK && dx)
        s = backward_dx(l, x, weight, mean, invstd, dy, sums->mem, dx, accumulate);
    if (s == CLG_OK && (dweight || dbias))
        s = backward_affine(l, x, sums->mem, dweight, dbias, accumulate);
    clgi_buffer_release(sums);
    return s;
}

clg_status clg_instance_norm_backward(const clg_tensor *x, const clg_tensor *weight,
                                      const clg_tensor *mean, const clg_tensor *invstd,
                                      const clg_tensor *dy, clg_tensor *dx, clg_tensor *dweight,
                                      clg_tensor *dbias, int accumulate) {
    const char *op = "instance_norm_backward";
    clg_status s = check_x(op, x);
    norm_layout l;

    if (s != CLG_OK) return s;
    l = layout_of(op, x, 1, 1);
    return norm_backward(&l, x, weight, mean, invstd, dy, dx, dweight, dbias, accumulate);
}

clg_status clg_batch_norm_backward(const clg_tensor *x, const clg_tensor *weight,
                                   const clg_tensor *mean, const clg_tensor *invstd, int training,
                                   const clg_tensor *dy, clg_tensor *dx, clg_tensor *dweight,
                                   clg_tensor *dbias, int accumulate) {
    const char *op = "batch_norm_backward";
    clg_status s = check_x(op, x);
    norm_layout l;

    if (s != CLG_OK) return s;
    l = layout_of(op, x, 0, training);
    return norm_backward(&l, x, weight, mean, invstd, dy, dx, dweight, dbias, accumulate);
}
