/* CLBlast kernel parameters chosen per device: legal work-group shapes on small-limit devices. */
#include "device/internal.h"

#include <clblast_c.h>

/* CLBlast's default kernels use work-groups of up to this many items. */
#define CLBLAST_DEFAULT_GROUP 256

typedef struct param_set {
    const char *kernel;
    int count;
    const char *names[16];
    size_t values[16];
} param_set;

/* One work-item per group everywhere: slow, but legal on any device. */
static const param_set single_item_params[] = {
    {"Xgemm",
     16,
     {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
      "STRM", "STRN", "VWM", "VWN"},
     {0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1}},
    {"XgemmDirect",
     10,
     {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
     {1, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"Copy", 4, {"COPY_DIMX", "COPY_DIMY", "COPY_VW", "COPY_WPT"}, {1, 1, 1, 1}},
    {"Pad", 4, {"PAD_DIMX", "PAD_DIMY", "PAD_WPTX", "PAD_WPTY"}, {1, 1, 1, 1}},
    {"Transpose", 4, {"TRA_DIM", "TRA_PAD", "TRA_SHUFFLE", "TRA_WPT"}, {1, 0, 0, 1}},
    {"Padtranspose", 3, {"PADTRA_PAD", "PADTRA_TILE", "PADTRA_WPT"}, {0, 1, 1}},
};

/*
 * CLBlast launches fixed work-group shapes and fails with CL_INVALID_WORK_ITEM_SIZE
 * on a device that allows fewer items (PoCL with POCL_MAX_WORK_GROUP_SIZE, some
 * embedded GPUs). There, use parameters that need one item per group.
 */
void clgi_blas_configure(clg_device *dev) {
    size_t count = sizeof single_item_params / sizeof single_item_params[0];

    if (dev->info.max_work_group_size >= CLBLAST_DEFAULT_GROUP) return;
    for (size_t i = 0; i < count; i++) {
        const param_set *p = &single_item_params[i];
        CLBlastStatusCode code =
            CLBlastOverrideParameters(dev->id, p->kernel, CLBlastPrecisionSingle, (size_t)p->count,
                                      (const char **)p->names, p->values);
        if (code != CLBlastSuccess)
            clg_log(CLG_LOG_WARN, "CLBlast refused parameters for %s (%d)", p->kernel, (int)code);
    }
    clg_log(CLG_LOG_INFO, "work-groups limited to %zu items: CLBlast uses single-item kernels",
            dev->info.max_work_group_size);
}
