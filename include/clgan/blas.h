/* Matrix products through CLBlast on tensors: GEMM and strided batched GEMM. */
#ifndef CLGAN_BLAS_H
#define CLGAN_BLAS_H

/*
 * Row-major single-precision GEMM, C = alpha * op(A) * op(B) + beta * C, where
 * op(A) is m x k and op(B) is k x n; a transposed operand is stored as its
 * transpose (A^T is k x m with leading dimension lda). The leading dimension
 * is the distance in floats between rows as stored. Every operand must fit
 * inside its tensor; a violation is CLG_ERR_SHAPE naming the operand. With
 * beta == 0 the old contents of C are never read.
 *
 * The batched form multiplies batch independent triples, each operand
 * stride floats after the one before (the Gram matrices of a batch).
 */

#include "clgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_gemm_desc {
    int trans_a, trans_b;
    size_t m, n, k;
    float alpha, beta;
    size_t lda, ldb, ldc;                   /* 0 means packed: the stored row length */
    size_t stride_a, stride_b, stride_c;    /* batched only; 0 means packed */
    size_t batch;                           /* 0 or 1 means a single product */
} clg_gemm_desc;

clg_status clg_gemm(const clg_gemm_desc *desc, const clg_tensor *a, const clg_tensor *b,
                    clg_tensor *c);

#ifdef __cplusplus
}
#endif

#endif
