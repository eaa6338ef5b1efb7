/* Tuning CLBlast's GEMM kernels for a device, and the stored parameters applied at device open. */
#ifndef CLGAN_TUNE_H
#define CLGAN_TUNE_H

/*
 * Every matrix product in clgan is a CLBlast SGEMM. CLBlast ships kernel
 * parameters for the devices its authors measured; on others (PoCL on a
 * CPU, new GPUs) its defaults can be several times slower than the device
 * allows. clg_gemm_tune() searches parameter sets of CLBlast's two GEMM
 * kernels (Xgemm, the indirect kernel for large products, and XgemmDirect
 * for small ones) and, where this CLBlast allows it, the size at which
 * CLBlast switches between them (kernel "GemmRouting"; CLBlast 1.5 has no
 * such parameters, and says "CLBlast: Run-time error: -2041" on standard
 * error when asked whether it has). Each candidate is checked against the
 * kernel's legality rules first, run on the shapes the networks use with the
 * queue finished before the clock stops, and checked against a double-
 * precision reference on sampled entries; the fastest candidate per kernel
 * is kept if it beats the parameters in use before by 3%.
 *
 * The result is stored in the program cache folder (see clgan/device.h) as
 * clblast-<hash of device name, vendor and driver version>.txt, a short
 * text file written atomically. clg_device_open() applies it to the device
 * it opens and says so in the device report (clg_device_info.blas_tuned).
 * A stored file that does not parse, or holds an illegal parameter set, is
 * ignored with a warning and CLBlast's defaults stay. Set CLGAN_TUNED=0 to
 * open devices without the stored parameters (to measure the defaults);
 * delete the file to forget them. The clgan-tune program runs the tuner.
 *
 * The budget is checked before each candidate starts; one that has started
 * finishes. CLBlast compiles its kernels for every new set (seconds on PoCL,
 * minutes when the CPU is shared; PoCL's own cache makes a second run fast),
 * so a search can end later than its budget. Which shapes run on which kernel
 * is learnt from the first Xgemm candidate, and each kernel is then judged on
 * its own shapes.
 *
 * Parameters change speed only: any legal set computes the same products up
 * to float rounding. On a device whose work-groups are smaller than CLBlast
 * needs, the library's single-item parameters keep priority and stored sets
 * that need larger work-groups are skipped.
 *
 * Known limit: CLBlast keeps overridden parameters per device for the rest
 * of the process and has no call that restores its defaults. So once a set
 * is applied (at open, or by the tuner while it searches) it stays in use in
 * this process, even on a device opened later with CLGAN_TUNED=0; and when
 * CLBlast's defaults beat every candidate of a kernel, the tuner leaves the
 * best candidate applied in this process but stores nothing for the kernel.
 */

#include <stddef.h>

#include "clgan/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLG_BLAS_MAX_PARAMS  16
#define CLG_BLAS_MAX_KERNELS 4
#define CLG_TUNE_MAX_SHAPES  64

/* One CLBlast kernel's parameters, as CLBlastOverrideParameters takes them. */
typedef struct clg_blas_params {
    char kernel[32]; /* "Xgemm", "XgemmDirect" or "GemmRouting" */
    int count;
    char names[CLG_BLAS_MAX_PARAMS][32];
    size_t values[CLG_BLAS_MAX_PARAMS];
} clg_blas_params;

/* Parameter sets for several kernels: what the stored file holds. */
typedef struct clg_blas_tuning {
    int count;
    clg_blas_params kernels[CLG_BLAS_MAX_KERNELS];
} clg_blas_tuning;

/*
 * Is p a complete, legal set for its kernel? With info, also whether its
 * work-group and local memory fit that device. Returns 1 or 0; when 0, why
 * (if not NULL) gets the first rule broken.
 */
int clg_blas_params_check(const clg_blas_params *p, const clg_device_info *info, char *why,
                          size_t why_size);

/* The file that holds the device's tuned parameters (it may not exist). */
clg_status clg_blas_tuning_path(const clg_device *device, char *path, size_t size);

/* Read the device's stored parameters: CLG_ERR_NOT_FOUND without a file, CLG_ERR_FORMAT. */
clg_status clg_blas_tuning_load(const clg_device *device, clg_blas_tuning *out);

/* Store parameters for the device (temporary file, then rename); note is a comment line. */
clg_status clg_blas_tuning_save(const clg_device *device, const clg_blas_tuning *tuning,
                                const char *note);

/* Hand the sets to CLBlast for this device now; sets the device fits are counted in blas_tuned. */
clg_status clg_blas_tuning_apply(clg_device *device, const clg_blas_tuning *tuning);

/* Number of CLBlast kernels running tuned parameters on the device (0: CLBlast's own). */
int clg_device_tuned(const clg_device *device);

/* ---- The tuner ---- */

/* One product C = op(A) op(B), op(A) m x k, as clg_gemm_desc describes it. */
typedef struct clg_gemm_shape {
    int trans_a, trans_b;
    size_t m, n, k;
    double weight; /* how often it runs per training step; 0 counts as 1 */
} clg_gemm_shape;

typedef struct clg_gemm_tune_options {
    double budget_s;              /* wall-clock seconds for the whole search (120) */
    const clg_gemm_shape *shapes; /* NULL: clg_gemm_tune_default_shapes() */
    int shape_count;              /* at most CLG_TUNE_MAX_SHAPES */
    int max_candidates; /* per kernel, baseline excluded; 0: as many as the budget allows */
    int repeat;         /* runs per shape and candidate, the fastest counts (2, at least 2) */
    int dry_run;        /* log the shapes and the first candidates, measure nothing */
    int save;           /* store the result for later device opens (1) */
    int keep_best;      /* keep each kernel's best set even if not faster than before (0) */
} clg_gemm_tune_options;

typedef struct clg_gemm_tune_result {
    clg_blas_tuning tuning; /* the kernels whose best set beat the parameters in use before */
    int shape_count;
    clg_gemm_shape shapes[CLG_TUNE_MAX_SHAPES];
    double before_s[CLG_TUNE_MAX_SHAPES]; /* fastest run per shape with the parameters before */
    double after_s[CLG_TUNE_MAX_SHAPES];  /* and with the parameters in use at the end */
    int tried;                            /* candidates measured */
    int illegal;                          /* skipped by the legality rules */
    int failed;                           /* refused by CLBlast, failed to run, or wrong */
    double elapsed_s;
    char path[1024]; /* where the result was stored; "" when it was not */
} clg_gemm_tune_result;

void clg_gemm_tune_options_default(clg_gemm_tune_options *options);

/*
 * The GEMMs of one CycleGAN training step (batch 1) on size x size images:
 * two ResNet generators with ngf filters and blocks residual blocks, two
 * PatchGANs with ndf filters; forward, weight and input gradients, each
 * weighted by how often it runs. Writes up to capacity shapes, largest
 * share of the work first, and returns how many there are.
 */
int clg_gemm_tune_cyclegan_shapes(int size, int ngf, int ndf, int blocks, clg_gemm_shape *out,
                                  int capacity);

/* The tuner's default: clg_gemm_tune_cyclegan_shapes(256, 64, 64, 9) and 1024^3 (weight 1). */
int clg_gemm_tune_default_shapes(clg_gemm_shape *out, int capacity);

/*
 * Search parameters for the device within the budget, apply the best ones,
 * and store them unless options->save is 0. Progress goes to the log at
 * CLG_LOG_INFO. options NULL means the defaults.
 */
clg_status clg_gemm_tune(clg_device *device, const clg_gemm_tune_options *options,
                         clg_gemm_tune_result *result);

#ifdef __cplusplus
}
#endif

#endif
