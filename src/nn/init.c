/* Weight initialisation as the reference CycleGAN's init_weights, drawn on the host. */
#include "nn/internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct init_job {
    clg_init_type type;
    float gain;
    clg_rng rng;
} init_job;

/* PyTorch's fans: dimension 1 times the receptive field in, dimension 0 times it out. */
static void fans(const clg_tensor *w, double *fan_in, double *fan_out) {
    const int *shape = clg_tensor_shape(w);
    double receptive = 1.0;

    for (int i = 2; i < clg_tensor_ndim(w); i++) receptive *= shape[i];
    *fan_in = (clg_tensor_ndim(w) > 1 ? shape[1] : 1) * receptive;
    *fan_out = shape[0] * receptive;
}

static void fill_normal(clg_rng *rng, float *x, size_t n, float mean, float std) {
    for (size_t i = 0; i < n; i++) x[i] = clg_rng_normal(rng, mean, std);
}

/*
 * Orthogonal rows (or columns) of a rows x cols matrix, as torch.nn.init.orthogonal_: a normal
 * matrix, tall side first, made orthonormal by modified Gram-Schmidt, which gives the Q of a QR
 * with a positive diagonal in R, the sign convention orthogonal_ applies.
 */
static clg_status fill_orthogonal(clg_rng *rng, float *x, size_t rows, size_t cols, float gain) {
    size_t tall = rows > cols ? rows : cols, wide = rows > cols ? cols : rows;
    double *q = malloc(tall * wide * sizeof *q); /* column j at q + j * tall */

    if (!q) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for init");
    for (size_t i = 0; i < rows * cols; i++) {
        size_t r = i / cols, c = i % cols; /* element (r, c) of the drawn rows x cols matrix */
        float v = clg_rng_normal(rng, 0.0f, 1.0f);
        if (rows > cols)
            q[c * tall + r] = v;
        else
            q[r * tall + c] = v; /* transposed, as orthogonal_ does for wide matrices */
    }
    for (size_t j = 0; j < wide; j++) {
        double *qj = q + j * tall, norm = 0.0;
        for (size_t k = 0; k < j; k++) {
            double dot = 0.0, *qk = q + k * tall;
            for (size_t i = 0; i < tall; i++) dot += qk[i] * qj[i];
            for (size_t i = 0; i < tall; i++) qj[i] -= dot * qk[i];
        }
        for (size_t i = 0; i < tall; i++) norm += qj[i] * qj[i];
        norm = norm > 0.0 ? 1.0 / sqrt(norm) : 0.0;
        for (size_t i = 0; i < tall; i++) qj[i] *= norm;
    }
    for (size_t i = 0; i < rows * cols; i++) {
        size_t r = i / cols, c = i % cols;
        x[i] = gain * (float)(rows > cols ? q[c * tall + r] : q[r * tall + c]);
    }
    free(q);
    return CLG_OK;
}

static clg_status draw_weight(init_job *job, const clg_tensor *w, float *x) {
    size_t n = clg_tensor_numel(w), rows = (size_t)clg_tensor_dim(w, 0);
    double fan_in, fan_out;

    fans(w, &fan_in, &fan_out);
    switch (job->type) {
    case CLG_INIT_NORMAL:
        fill_normal(&job->rng, x, n, 0.0f, job->gain);
        return CLG_OK;
    case CLG_INIT_XAVIER:
        fill_normal(&job->rng, x, n, 0.0f, (float)(job->gain * sqrt(2.0 / (fan_in + fan_out))));
        return CLG_OK;
    case CLG_INIT_KAIMING:
        fill_normal(&job->rng, x, n, 0.0f, (float)sqrt(2.0 / fan_in));
        return CLG_OK;
    case CLG_INIT_ORTHOGONAL:
        return fill_orthogonal(&job->rng, x, rows, n / rows, job->gain);
    }
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown init type %d", (int)job->type);
}

/* Draw a parameter on the host and upload it: a weight by the job's scheme, or normal(1, gain). */
static clg_status draw_param(init_job *job, clg_var *v, int batch_norm) {
    clg_tensor *t = clg_var_value(v);
    size_t n = clg_tensor_numel(t);
    float *x = malloc(n * sizeof *x);
    clg_status s = CLG_OK;

    if (!x) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory for init");
    if (batch_norm)
        fill_normal(&job->rng, x, n, 1.0f, job->gain);
    else
        s = draw_weight(job, t, x);
    if (s == CLG_OK) s = clg_tensor_upload(t, x, n);
    free(x);
    return s;
}

static clg_status init_visit(clg_module *m, const char *path, void *user) {
    int conv = m->cls == &clgi_conv2d_class || m->cls == &clgi_conv_transpose2d_class;
    int bn = m->cls == &clgi_batch_norm2d_class;
    clg_status s = CLG_OK;

    (void)path;
    if (conv || bn) s = draw_param(user, m->params[0], bn);
    if (s == CLG_OK && (conv || bn) && m->n_params > 1)
        s = clg_tensor_fill(clg_var_value(m->params[1]), 0.0f);
    return s;
}

clg_status clg_module_init_weights(clg_module *m, clg_init_type type, float gain, uint64_t seed) {
    init_job job = {type, gain, {{0}}};

    if ((int)type < CLG_INIT_NORMAL || type > CLG_INIT_ORTHOGONAL)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown init type %d", (int)type);
    clg_rng_seed(&job.rng, seed);
    return clgi_module_walk(m, init_visit, &job);
}
