/* GEMM through CLBlast: operand checks, CLBlast status to clg_status, beta == 0 safety. */
#include "clgan/blas.h"
#include "device/internal.h"

#include <clblast_c.h>
#include <stdio.h>

static const char *clblast_name(CLBlastStatusCode code) {
    switch (code) {
    case CLBlastNotImplemented:
        return "not implemented";
    case CLBlastInvalidDimension:
        return "invalid dimension (m, n and k must be positive)";
    case CLBlastInvalidLeadDimA:
        return "leading dimension of A too small";
    case CLBlastInvalidLeadDimB:
        return "leading dimension of B too small";
    case CLBlastInvalidLeadDimC:
        return "leading dimension of C too small";
    case CLBlastInsufficientMemoryA:
        return "buffer of A too small";
    case CLBlastInsufficientMemoryB:
        return "buffer of B too small";
    case CLBlastInsufficientMemoryC:
        return "buffer of C too small";
    case CLBlastInvalidBatchCount:
        return "invalid batch count";
    case CLBlastInvalidLocalMemUsage:
        return "kernel needs more local memory than the device has";
    case CLBlastDatabaseError:
        return "no tuning database entry for this device";
    case CLBlastInvalidOverrideKernel:
        return "invalid kernel for parameter override";
    case CLBlastMissingOverrideParameter:
        return "missing override parameter";
    case CLBlastUnknownError:
        return "unknown error";
    case CLBlastUnexpectedError:
        return "unexpected error";
    default:
        return clgi_cl_error_name((cl_int)code);
    }
}

static clg_status clblast_status(CLBlastStatusCode code, const char *routine, size_t m, size_t n,
                                 size_t k) {
    if (code == CLBlastSuccess) return CLG_OK;
    return clg_error(CLG_ERR_BLAS, "CLBlast %s (m %zu, n %zu, k %zu) failed: %s (%d)", routine, m,
                     n, k, clblast_name(code), (int)code);
}

static CLBlastTranspose trans(int t) {
    return t ? CLBlastTransposeYes : CLBlastTransposeNo;
}

/* C is overwritten when beta is 0: clear it so garbage (NaN) times zero cannot leak in. */
static clg_status clear_if_overwritten(clg_device *dev, float beta, cl_mem c, size_t c_off,
                                       size_t count) {
    float zero = 0.0f;
    cl_int err;

    if (beta != 0.0f) return CLG_OK;
    err = clEnqueueFillBuffer(dev->queue, c, &zero, sizeof zero, c_off * sizeof(float),
                              count * sizeof(float), 0, NULL, NULL);
    return err == CL_SUCCESS ? CLG_OK : clgi_cl_error(err, "clEnqueueFillBuffer");
}

clg_status clgi_gemm(clg_device *dev, int trans_a, int trans_b, size_t m, size_t n, size_t k,
                     float alpha, cl_mem a, size_t a_off, size_t lda, cl_mem b, size_t b_off,
                     size_t ldb, float beta, cl_mem c, size_t c_off, size_t ldc) {
    clg_status s = clear_if_overwritten(dev, beta, c, c_off, (m - 1) * ldc + n);
    if (s != CLG_OK) return s;
    return clblast_status(CLBlastSgemm(CLBlastLayoutRowMajor, trans(trans_a), trans(trans_b), m, n,
                                       k, alpha, a, a_off, lda, b, b_off, ldb, beta, c, c_off, ldc,
                                       &dev->queue, NULL),
                          "SGEMM", m, n, k);
}

clg_status clgi_gemm_batched(clg_device *dev, int trans_a, int trans_b, size_t m, size_t n,
                             size_t k, float alpha, cl_mem a, size_t a_off, size_t lda,
                             size_t a_stride, cl_mem b, size_t b_off, size_t ldb, size_t b_stride,
                             float beta, cl_mem c, size_t c_off, size_t ldc, size_t c_stride,
                             size_t batch) {
    clg_status s;

    if (batch == 1)
        return clgi_gemm(dev, trans_a, trans_b, m, n, k, alpha, a, a_off, lda, b, b_off, ldb, beta,
                         c, c_off, ldc);
    s = clear_if_overwritten(dev, beta, c, c_off, (batch - 1) * c_stride + (m - 1) * ldc + n);
    if (s != CLG_OK) return s;
    return clblast_status(
        CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, trans(trans_a), trans(trans_b), m, n, k,
                                   alpha, a, a_off, lda, a_stride, b, b_off, ldb, b_stride, beta, c,
                                   c_off, ldc, c_stride, batch, &dev->queue, NULL),
        "SGEMM strided batched", m, n, k);
}

/* Does a rows x cols operand with leading dimension ld, batch copies stride apart, fit in t? */
static clg_status check_operand(const char *name, const clg_tensor *t, size_t rows, size_t cols,
                                size_t ld, size_t stride, size_t batch) {
    size_t need = (batch - 1) * stride + (rows - 1) * ld + cols;

    if (ld < cols)
        return clg_error(CLG_ERR_SHAPE, "GEMM operand %s: leading dimension %zu < row length %zu",
                         name, ld, cols);
    if (need > clg_tensor_numel(t))
        return clg_error(CLG_ERR_SHAPE,
                         "GEMM operand %s needs %zu floats (%zu x %zu, ld %zu, batch %zu) but its "
                         "tensor holds %zu",
                         name, need, rows, cols, ld, batch, clg_tensor_numel(t));
    return CLG_OK;
}

clg_status clg_gemm(const clg_gemm_desc *d, const clg_tensor *a, const clg_tensor *b,
                    clg_tensor *c) {
    size_t a_rows = d->trans_a ? d->k : d->m, a_cols = d->trans_a ? d->m : d->k;
    size_t b_rows = d->trans_b ? d->n : d->k, b_cols = d->trans_b ? d->k : d->n;
    size_t lda = d->lda ? d->lda : a_cols, ldb = d->ldb ? d->ldb : b_cols;
    size_t ldc = d->ldc ? d->ldc : d->n;
    size_t batch = d->batch ? d->batch : 1;
    size_t sa = d->stride_a ? d->stride_a : a_rows * lda;
    size_t sb = d->stride_b ? d->stride_b : b_rows * ldb;
    size_t sc = d->stride_c ? d->stride_c : d->m * ldc;
    clg_device *dev = clg_tensor_device(c);
    clg_status s;

    if (d->m == 0 || d->n == 0 || d->k == 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "GEMM sizes must be positive (m %zu, n %zu, "
                         "k %zu)",
                         d->m, d->n, d->k);
    if (clg_tensor_device(a) != dev || clg_tensor_device(b) != dev)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "GEMM operands live on different devices");
    if ((s = check_operand("A", a, a_rows, a_cols, lda, sa, batch)) != CLG_OK ||
        (s = check_operand("B", b, b_rows, b_cols, ldb, sb, batch)) != CLG_OK ||
        (s = check_operand("C", c, d->m, d->n, ldc, sc, batch)) != CLG_OK)
        return s;
    return clgi_gemm_batched(dev, d->trans_a, d->trans_b, d->m, d->n, d->k, d->alpha, clgi_mem(a),
                             (size_t)clgi_off(a), lda, sa, clgi_mem(b), (size_t)clgi_off(b), ldb,
                             sb, d->beta, clgi_mem(c), (size_t)clgi_off(c), ldc, sc, batch);
}
