/* The GEMM tuner: legal CLBlast parameter sets searched near the best, timed on real shapes. */
#include "clgan/tune.h"
#include "device/internal.h"

#include <clblast_c.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Defined in blas_params.c: parameters any device can run, and handing a set to CLBlast. */
const clg_blas_params *clgi_blas_single_item(const char *kernel);
CLBlastStatusCode clgi_blas_override(clg_device *dev, const clg_blas_params *p);

#define MAX_TRIED     4096 /* candidates remembered per kernel, illegal ones included */
#define SAMPLES       16   /* entries of C checked against a double-precision reference */
#define MIN_GAIN      0.03 /* a kernel's best set must be this much faster than before to be kept */
#define PRUNE_RATIO   1.25 /* a candidate this much slower than the best so far stops early */
#define MOVED         0.3  /* |log(time ratio)| above which a shape counts as affected */
#define SENTINEL      1e30f
#define SHORT_S       0.05 /* products faster than this run until this much time has passed... */
#define MAX_RUNS      50   /* ...or this many runs */
#define ROUTING_SHARE 0.1  /* of the search time, for the direct/indirect threshold */

/* ---- Shapes ---- */

/* A convolution as GEMMs: cout x (cin k k) weights over an out x out output grid. */
typedef struct conv_layer {
    int cin, cout, k, out;
    double count; /* per step */
} conv_layer;

/* Forward (NN), weight gradient (NT) and input gradient (TN) of a convolution. */
static int layer_shapes(const conv_layer *l, clg_gemm_shape *out) {
    size_t rows = (size_t)l->cin * l->k * l->k, pix = (size_t)l->out * l->out;

    out[0] = (clg_gemm_shape){0, 0, (size_t)l->cout, pix, rows, l->count};
    out[1] = (clg_gemm_shape){0, 1, (size_t)l->cout, rows, pix, l->count};
    out[2] = (clg_gemm_shape){1, 0, rows, pix, (size_t)l->cout, l->count};
    return 3;
}

static double shape_flops(const clg_gemm_shape *s) {
    return 2.0 * (double)s->m * (double)s->n * (double)s->k;
}

static double shape_weight(const clg_gemm_shape *s) {
    return s->weight > 0 ? s->weight : 1.0;
}

/* Add s to list, merging it into an equal shape already there. */
static int add_shape(clg_gemm_shape *list, int count, const clg_gemm_shape *s) {
    for (int i = 0; i < count; i++) {
        if (list[i].trans_a == s->trans_a && list[i].trans_b == s->trans_b && list[i].m == s->m &&
            list[i].n == s->n && list[i].k == s->k) {
            list[i].weight += s->weight;
            return count;
        }
    }
    list[count] = *s;
    return count + 1;
}

static int by_weighted_flops(const void *a, const void *b) {
    double wa = shape_flops(a) * shape_weight(a), wb = shape_flops(b) * shape_weight(b);
    return wa < wb ? 1 : wa > wb ? -1 : 0;
}

/*
 * Each generator runs three times per step (fake, reconstruction, identity),
 * both directions: 6 passes; each discriminator three times, both: 6. A
 * transposed convolution of the decoder has the shapes of its mirrored
 * encoder convolution with the passes swapped, so those count twice. Layers
 * with at most 8 output channels run without GEMM (see src/ops/conv.c).
 */
int clg_gemm_tune_cyclegan_shapes(int size, int ngf, int ndf, int blocks, clg_gemm_shape *out,
                                  int capacity) {
    const conv_layer layers[] = {
        {3, ngf, 7, size, 6},
        {ngf, 2 * ngf, 3, size / 2, 12},
        {2 * ngf, 4 * ngf, 3, size / 4, 12},
        {4 * ngf, 4 * ngf, 3, size / 4, 12.0 * blocks},
        {3, ndf, 4, size / 2, 6},
        {ndf, 2 * ndf, 4, size / 4, 6},
        {2 * ndf, 4 * ndf, 4, size / 8, 6},
        {4 * ndf, 8 * ndf, 4, size / 8 - 1, 6},
    };
    clg_gemm_shape all[3 * sizeof layers / sizeof layers[0]], three[3];
    int count = 0;

    for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        if (layers[i].out < 1 || layers[i].cout <= 8) continue;
        layer_shapes(&layers[i], three);
        for (int j = 0; j < 3; j++) count = add_shape(all, count, &three[j]);
    }
    qsort(all, (size_t)count, sizeof all[0], by_weighted_flops);
    for (int i = 0; i < count && i < capacity; i++) out[i] = all[i];
    return count;
}

int clg_gemm_tune_default_shapes(clg_gemm_shape *out, int capacity) {
    clg_gemm_shape list[CLG_TUNE_MAX_SHAPES];
    int count = clg_gemm_tune_cyclegan_shapes(256, 64, 64, 9, list, CLG_TUNE_MAX_SHAPES - 1);

    list[count++] = (clg_gemm_shape){0, 0, 1024, 1024, 1024, 1};
    for (int i = 0; i < count && i < capacity; i++) out[i] = list[i];
    return count;
}

void clg_gemm_tune_options_default(clg_gemm_tune_options *o) {
    memset(o, 0, sizeof *o);
    o->budget_s = 120;
    o->repeat = 2;
    o->save = 1;
}

/* ---- Search spaces ---- */

typedef struct axis {
    const char *name;
    int count;
    size_t values[9];
} axis;

/*
 * Where the search starts (hand-picked sets first: Xgemm's first gave 3.6x
 * the default on a two-core EPYC under PoCL, its second was the best this
 * tuner found there for the CycleGAN shapes), which parameters it moves and
 * in what order (XgemmDirect's tile size WGD last: large tiles take PoCL
 * minutes to compile), and which parameters follow others: MDIMA and NDIMB
 * (the shapes that load A and B into local memory) equal MDIMC and NDIMC,
 * and likewise for XgemmDirect.
 */
typedef struct kernel_space {
    const char *kernel;
    int routing;  /* tuned last, in a share of the time kept aside for it */
    double share; /* of the time left when its search starts (Xgemm: until the split is known) */
    int seed_count;
    clg_blas_params seeds[2];
    int axis_count;
    axis axes[12];
    const char *tie_dst[2], *tie_src[2];
} kernel_space;

static const kernel_space spaces[] = {
    {"Xgemm",
     0,
     0.65,
     2,
     {{"Xgemm",
       16,
       {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
        "STRM", "STRN", "VWM", "VWN"},
       {0, 1, 16, 2, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 8, 8}},
      {"Xgemm",
       16,
       {"GEMMK", "KREG", "KWG", "KWI", "MDIMA", "MDIMC", "MWG", "NDIMB", "NDIMC", "NWG", "SA", "SB",
        "STRM", "STRN", "VWM", "VWN"},
       {0, 1, 8, 4, 4, 4, 64, 4, 4, 64, 0, 0, 0, 0, 8, 2}}},
     12,
     {{"NWG", 4, {16, 32, 64, 128}},
      {"MWG", 4, {16, 32, 64, 128}},
      {"VWN", 5, {1, 2, 4, 8, 16}},
      {"VWM", 5, {1, 2, 4, 8, 16}},
      {"KWG", 4, {8, 16, 32, 64}},
      {"NDIMC", 4, {2, 4, 8, 16}},
      {"MDIMC", 4, {2, 4, 8, 16}},
      {"KWI", 4, {1, 2, 4, 8}},
      {"STRN", 2, {0, 1}},
      {"STRM", 2, {0, 1}},
      {"SB", 2, {0, 1}},
      {"SA", 2, {0, 1}}},
     {"MDIMA", "NDIMB"},
     {"MDIMC", "NDIMC"}},
    {"XgemmDirect",
     0,
     1.0,
     2,
     {{"XgemmDirect",
       10,
       {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
       {2, 4, 4, 4, 4, 0, 0, 8, 8, 32}},
      {"XgemmDirect",
       10,
       {"KWID", "MDIMAD", "MDIMCD", "NDIMBD", "NDIMCD", "PADA", "PADB", "VWMD", "VWND", "WGD"},
       {2, 8, 8, 8, 8, 1, 1, 4, 4, 32}}},
     8,
     {{"VWND", 5, {1, 2, 4, 8, 16}},
      {"VWMD", 5, {1, 2, 4, 8, 16}},
      {"NDIMCD", 4, {2, 4, 8, 16}},
      {"MDIMCD", 4, {2, 4, 8, 16}},
      {"KWID", 5, {1, 2, 4, 8, 16}},
      {"PADA", 2, {0, 1}},
      {"PADB", 2, {0, 1}},
      {"WGD", 4, {8, 16, 32, 64}}},
     {"MDIMAD", "NDIMBD"},
     {"MDIMCD", "NDIMCD"}},
    {"GemmRouting",
     1,
     1.0,
     1,
     {{"GemmRouting", 1, {"XGEMM_MIN_INDIRECT_SIZE"}, {384}}},
     1,
     {{"XGEMM_MIN_INDIRECT_SIZE", 9, {64, 128, 192, 256, 384, 512, 768, 1024, 1536}}},
     {NULL, NULL},
     {NULL, NULL}},
};

#define SPACE_COUNT (int)(sizeof spaces / sizeof spaces[0])

static size_t *slot(clg_blas_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->names[i], name) == 0) return &p->values[i];
    return NULL;
}

static void apply_ties(const kernel_space *ks, clg_blas_params *p) {
    for (int i = 0; i < 2 && ks->tie_dst[i]; i++) {
        size_t *dst = slot(p, ks->tie_dst[i]), *src = slot(p, ks->tie_src[i]);
        if (dst && src) *dst = *src;
    }
}

/* Move axis a of p by step positions along its values; 0 when it falls off the end. */
static int move(const axis *a, clg_blas_params *p, int step) {
    size_t *v = slot(p, a->name);
    int at = -1;

    for (int i = 0; v && i < a->count; i++)
        if (a->values[i] == *v) at = i;
    if (at < 0 || at + step < 0 || at + step >= a->count) return 0;
    *v = a->values[at + step];
    return 1;
}

/* Candidates already measured or ruled out, as value vectors. */
typedef struct tried_list {
    size_t (*values)[CLG_BLAS_MAX_PARAMS];
    int count;
} tried_list;

static int was_tried(const tried_list *t, const clg_blas_params *p) {
    for (int i = 0; i < t->count; i++)
        if (memcmp(t->values[i], p->values, sizeof t->values[i]) == 0) return 1;
    return 0;
}

static void remember(tried_list *t, const clg_blas_params *p) {
    if (t->count < MAX_TRIED) memcpy(t->values[t->count++], p->values, sizeof t->values[0]);
}

/* Is p new and legal? Illegal ones are remembered and counted, once. */
static int fresh(const clg_device *dev, tried_list *t, const clg_blas_params *p, int *illegal) {
    char why[160];

    if (was_tried(t, p)) return 0;
    remember(t, p);
    if (clg_blas_params_check(p, &dev->info, why, sizeof why)) return 1;
    clg_log(CLG_LOG_DEBUG, "skipping an illegal %s set: %s", p->kernel, why);
    (*illegal)++;
    return 0;
}

/* best moved one step along axis a (and along axis b unless b < 0), ties applied. */
static int neighbour(const kernel_space *ks, const clg_blas_params *best, int a, int step_a, int b,
                     int step_b, clg_blas_params *out) {
    *out = *best;
    if (!move(&ks->axes[a], out, step_a) || (b >= 0 && !move(&ks->axes[b], out, step_b))) return 0;
    apply_ties(ks, out);
    return 1;
}

/*
 * The next untried legal candidate: the seeds, then every set one step from
 * the best along one axis, then one step along each of two axes.
 */
static int next_candidate(const clg_device *dev, const kernel_space *ks,
                          const clg_blas_params *best, tried_list *t, clg_blas_params *out,
                          int *illegal) {
    for (int i = 0; i < ks->seed_count; i++) {
        *out = ks->seeds[i];
        if (fresh(dev, t, out, illegal)) return 1;
    }
    if (!best) return 0;
    for (int a = 0; a < ks->axis_count; a++)
        for (int step = 1; step >= -1; step -= 2)
            if (neighbour(ks, best, a, step, -1, 0, out) && fresh(dev, t, out, illegal)) return 1;
    for (int a = 0; a < ks->axis_count; a++)
        for (int b = a + 1; b < ks->axis_count; b++)
            for (int s = 0; s < 4; s++)
                if (neighbour(ks, best, a, s & 1 ? -1 : 1, b, s & 2 ? -1 : 1, out) &&
                    fresh(dev, t, out, illegal))
                    return 1;
    return 0;
}

/* ---- Measuring ---- */

typedef struct workspace {
    clg_device *dev;
    const clg_gemm_shape *shapes;
    int count, repeat;
    cl_mem a, b, c;
    float *ha, *hb;
} workspace;

typedef enum run_status { RUN_OK, RUN_SLOWER, RUN_FAILED } run_status;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill_random(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((seed >> 40) & 0xffffff) / 8388608.0f - 1.0f;
    }
}

static clg_status device_buffer(workspace *w, size_t floats, const float *host, cl_mem *out) {
    cl_int err;

    *out = clCreateBuffer(w->dev->context, CL_MEM_READ_WRITE, floats * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS) return clgi_cl_error(err, "clCreateBuffer (GEMM tuner)");
    err = host ? clEnqueueWriteBuffer(w->dev->queue, *out, CL_TRUE, 0, floats * sizeof(float), host,
                                      0, NULL, NULL)
               : CL_SUCCESS;
    return err == CL_SUCCESS ? CLG_OK : clgi_cl_error(err, "clEnqueueWriteBuffer (GEMM tuner)");
}

/* Operands as large as the largest shape needs, random in [-1, 1). */
static clg_status workspace_create(workspace *w) {
    size_t na = 1, nb = 1, nc = 1;
    clg_status s;

    for (int i = 0; i < w->count; i++) {
        const clg_gemm_shape *g = &w->shapes[i];
        if (g->m * g->k > na) na = g->m * g->k;
        if (g->k * g->n > nb) nb = g->k * g->n;
        if (g->m * g->n > nc) nc = g->m * g->n;
    }
    w->ha = malloc(na * sizeof(float));
    w->hb = malloc(nb * sizeof(float));
    if (!w->ha || !w->hb) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "GEMM tuner: out of memory");
    fill_random(w->ha, na, 1);
    fill_random(w->hb, nb, 2);
    if ((s = device_buffer(w, na, w->ha, &w->a)) != CLG_OK ||
        (s = device_buffer(w, nb, w->hb, &w->b)) != CLG_OK)
        return s;
    return device_buffer(w, nc, NULL, &w->c);
}

static void workspace_release(workspace *w) {
    if (w->a) clReleaseMemObject(w->a);
    if (w->b) clReleaseMemObject(w->b);
    if (w->c) clReleaseMemObject(w->c);
    free(w->ha);
    free(w->hb);
}

static CLBlastStatusCode run_gemm(workspace *w, const clg_gemm_shape *g) {
    CLBlastStatusCode code =
        CLBlastSgemm(CLBlastLayoutRowMajor, g->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
                     g->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, g->m, g->n, g->k, 1.0f,
                     w->a, 0, g->trans_a ? g->m : g->k, w->b, 0, g->trans_b ? g->k : g->n, 0.0f,
                     w->c, 0, g->n, &w->dev->queue, NULL);
    cl_int err = clFinish(w->dev->queue);

    return code != CLBlastSuccess ? code : (CLBlastStatusCode)err;
}

/* Sampled entries of C against a double-precision product of the host operands. */
static int result_correct(workspace *w, const clg_gemm_shape *g) {
    for (int s = 0; s < SAMPLES; s++) {
        size_t i = ((size_t)s * 7919 + 3) % g->m, j = ((size_t)s * 104729 + 11) % g->n;
        double want = 0.0, scale = 0.0;
        float got = 0.0f;

        for (size_t p = 0; p < g->k; p++) {
            double av = g->trans_a ? w->ha[p * g->m + i] : w->ha[i * g->k + p];
            double bv = g->trans_b ? w->hb[j * g->k + p] : w->hb[p * g->n + j];
            want += av * bv;
            scale += fabs(av * bv);
        }
        if (clEnqueueReadBuffer(w->dev->queue, w->c, CL_TRUE, (i * g->n + j) * sizeof(float),
                                sizeof got, &got, 0, NULL, NULL) != CL_SUCCESS ||
            !(fabs(got - want) <= 1e-4 * scale + 1e-6))
            return 0;
    }
    return 1;
}

/* The fastest of at least repeat runs of one shape, its result checked; < 0 when it failed. */
static double time_shape(workspace *w, const clg_gemm_shape *g) {
    float sentinel = SENTINEL;
    double best = INFINITY;

    /* A run that leaves C untouched cannot pass the check. */
    if (clEnqueueFillBuffer(w->dev->queue, w->c, &sentinel, sizeof sentinel, 0,
                            g->m * g->n * sizeof(float), 0, NULL, NULL) != CL_SUCCESS ||
        clFinish(w->dev->queue) != CL_SUCCESS)
        return -1.0;
    /* Short products run more often: their times are noisier. */
    for (int r = 0; r < w->repeat || (r < MAX_RUNS && r * best < SHORT_S); r++) {
        double t0 = now_s();
        CLBlastStatusCode code = run_gemm(w, g);
        double t = now_s() - t0;
        if (code != CLBlastSuccess) {
            clg_log(CLG_LOG_INFO, "  CLBlast failed (%d) on %zux%zux%zu", (int)code, g->m, g->n,
                    g->k);
            return -1.0;
        }
        if (t < best) best = t;
    }
    if (!result_correct(w, g)) {
        clg_log(CLG_LOG_WARN, "  wrong result on %zux%zux%zu: candidate rejected", g->m, g->n,
                g->k);
        return -1.0;
    }
    return best;
}

/* Time the shapes in mask; stop early once their weighted sum passes prune_at. */
static run_status measure(workspace *w, const int *mask, double prune_at, double *times,
                          double *score) {
    *score = 0.0;
    for (int i = 0; i < w->count; i++) {
        if (!mask[i]) continue;
        double t = time_shape(w, &w->shapes[i]);
        if (t < 0) return RUN_FAILED;
        times[i] = t;
        *score += t * shape_weight(&w->shapes[i]);
        if (*score > prune_at) return RUN_SLOWER;
    }
    return RUN_OK;
}

/* ---- The search ---- */

/*
 * CLBlast runs a product on XgemmDirect when m * n * k is below a threshold
 * cubed, else on Xgemm. Which shapes fall on which side is learnt from the
 * first Xgemm candidate: the shapes it speeds up or slows down take Xgemm.
 * Each kernel is then judged on its own shapes only, so the noise of the
 * others does not hide its gains (and they need not be run).
 */
typedef struct tuner {
    clg_device *dev;
    const clg_gemm_tune_options *opts;
    workspace ws;
    clg_blas_tuning stored; /* the parameters applied at open, if any */
    clg_gemm_tune_result *result;
    double start, search_end;
    double current[CLG_TUNE_MAX_SHAPES]; /* each shape's time with the parameters in use */
    double flops;                        /* weighted, over every shape */
    double candidate_s;             /* the longest a candidate took so far, compiling included */
    int order[CLG_TUNE_MAX_SHAPES]; /* shapes by m * n * k, smallest first */
    int split;                      /* order[0 .. split) take XgemmDirect; -1: not known */
} tuner;

static double score_of(const tuner *t, const double *times, const int *mask) {
    double sum = 0.0;
    for (int i = 0; i < t->ws.count; i++)
        if (mask[i]) sum += times[i] * shape_weight(&t->ws.shapes[i]);
    return sum;
}

static double flops_of(const tuner *t, const int *mask) {
    double sum = 0.0;
    for (int i = 0; i < t->ws.count; i++)
        if (mask[i]) sum += shape_flops(&t->ws.shapes[i]) * shape_weight(&t->ws.shapes[i]);
    return sum;
}

/* The shapes a kernel's parameters affect, as far as is known. */
static int kernel_mask(const tuner *t, const char *kernel, int *mask) {
    int direct = strcmp(kernel, "XgemmDirect") == 0, count = 0;

    for (int i = 0; i < t->ws.count; i++) {
        int side = i < t->split ? 1 : 0;
        mask[t->order[i]] = t->split < 0 || strcmp(kernel, "GemmRouting") == 0 || side == direct;
        count += mask[t->order[i]];
    }
    return count;
}

static double mnk(const clg_gemm_shape *s) {
    return (double)s->m * (double)s->n * (double)s->k;
}

static void sort_by_size(tuner *t) {
    for (int i = 0; i < t->ws.count; i++) t->order[i] = i;
    for (int i = 1; i < t->ws.count; i++)
        for (int j = i;
             j > 0 && mnk(&t->ws.shapes[t->order[j]]) < mnk(&t->ws.shapes[t->order[j - 1]]); j--) {
            int tmp = t->order[j];
            t->order[j] = t->order[j - 1];
            t->order[j - 1] = tmp;
        }
}

/*
 * Shapes whose time moved by more than a third under the first Xgemm candidate
 * take Xgemm. The split point is where the fewest shapes disagree; with no
 * moved shape, or a quarter disagreeing, it stays unknown.
 */
static void learn_split(tuner *t, const double *times) {
    int n = t->ws.count, moved[CLG_TUNE_MAX_SHAPES], best = -1, best_cost = n + 1, any = 0;

    for (int i = 0; i < n; i++) {
        int s = t->order[i];
        moved[i] = fabs(log(times[s] / t->current[s])) > MOVED;
        any |= moved[i];
    }
    for (int split = 0; split <= n; split++) {
        int cost = 0;
        for (int i = 0; i < n; i++) cost += i < split ? moved[i] : !moved[i];
        if (cost < best_cost) best_cost = cost, best = split;
    }
    if (!any || best_cost > n / 4) {
        clg_log(CLG_LOG_INFO, "cannot tell which shapes take XgemmDirect: all are measured");
        return;
    }
    t->split = best;
    clg_log(CLG_LOG_INFO, "%d of %d shapes take XgemmDirect (m*n*k up to %.0f^3)", best, n,
            best ? cbrt(mnk(&t->ws.shapes[t->order[best - 1]])) : 0.0);
}

static const clg_blas_params *stored_for(const tuner *t, const char *kernel) {
    for (int i = 0; i < t->stored.count; i++)
        if (strcmp(t->stored.kernels[i].kernel, kernel) == 0) return &t->stored.kernels[i];
    return NULL;
}

static void describe(const clg_blas_params *p, char *buf, size_t size) {
    size_t used = 0;

    buf[0] = '\0';
    for (int i = 0; i < p->count && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%zu", i ? " " : "", p->names[i],
                                 p->values[i]);
}

/* Does this CLBlast know the kernel? Asking with no parameters changes nothing. */
static int kernel_supported(clg_device *dev, const char *kernel) {
    return CLBlastOverrideParameters(dev->id, kernel, CLBlastPrecisionSingle, 0, NULL, NULL) ==
           CLBlastMissingOverrideParameter;
}

/* One kernel's search: its shapes, its best candidate, whether CLBlast was handed any. */
typedef struct phase {
    const char *kernel;
    int mask[CLG_TUNE_MAX_SHAPES];
    clg_blas_params best;
    double best_score;
    double best_times[CLG_TUNE_MAX_SHAPES];
    int found, touched;
} phase;

static void try_candidate(tuner *t, const clg_blas_params *cand, phase *ph) {
    double times[CLG_TUNE_MAX_SHAPES], score = 0.0;
    char text[400];
    CLBlastStatusCode code = clgi_blas_override(t->dev, cand);
    run_status rs;

    describe(cand, text, sizeof text);
    t->result->tried++;
    ph->touched = 1;
    if (code != CLBlastSuccess) {
        t->result->failed++;
        clg_log(CLG_LOG_INFO, "%s %s: refused by CLBlast (%d)", cand->kernel, text, (int)code);
        return;
    }
    memcpy(times, t->current, sizeof times); /* shapes outside the mask are not affected */
    rs = measure(&t->ws, ph->mask, ph->found ? ph->best_score * PRUNE_RATIO : INFINITY, times,
                 &score);
    if (rs == RUN_FAILED) t->result->failed++;
    if (rs == RUN_OK)
        clg_log(CLG_LOG_INFO, "%s %s: %.1f GFLOP/s%s", cand->kernel, text,
                flops_of(t, ph->mask) / score * 1e-9,
                ph->found && score >= ph->best_score ? "" : " (best so far)");
    else
        clg_log(CLG_LOG_INFO, "%s %s: %s", cand->kernel, text,
                rs == RUN_SLOWER ? "slower than the best, stopped early" : "failed");
    if (rs != RUN_OK || (ph->found && score >= ph->best_score)) return;
    ph->best = *cand;
    ph->best_score = score;
    memcpy(ph->best_times, times, sizeof times);
    ph->found = 1;
}

/* Record p as the kernel's tuned set in the result. */
static void keep(tuner *t, const clg_blas_params *p) {
    clg_blas_tuning *tu = &t->result->tuning;
    if (tu->count < CLG_BLAS_MAX_KERNELS) tu->kernels[tu->count++] = *p;
}

/* Leave the kernel on the best parameters known, and say what the state now is. */
static void finish_phase(tuner *t, const phase *ph) {
    const clg_blas_params *stored = stored_for(t, ph->kernel);
    double before = score_of(t, t->current, ph->mask);
    int better = ph->found && (ph->best_score < before * (1.0 - MIN_GAIN) || t->opts->keep_best);

    if (better) {
        clgi_blas_override(t->dev, &ph->best);
        keep(t, &ph->best);
        memcpy(t->current, ph->best_times, sizeof t->current);
        clg_log(CLG_LOG_INFO, "%s: %.1f -> %.1f GFLOP/s on its shapes", ph->kernel,
                flops_of(t, ph->mask) / before * 1e-9,
                flops_of(t, ph->mask) / ph->best_score * 1e-9);
    } else if (stored) {
        if (ph->touched) clgi_blas_override(t->dev, stored);
        keep(t, stored);
    } else if (ph->found) {
        clgi_blas_override(t->dev, &ph->best);
        memcpy(t->current, ph->best_times, sizeof t->current);
        clg_log(CLG_LOG_INFO,
                "%s: no candidate beat CLBlast's defaults by %.0f%%; nothing stored (this "
                "process keeps the best candidate: CLBlast cannot restore its defaults)",
                ph->kernel, MIN_GAIN * 100);
    } else if (ph->touched && clgi_blas_single_item(ph->kernel)) {
        clgi_blas_override(t->dev, clgi_blas_single_item(ph->kernel));
        clg_log(CLG_LOG_WARN,
                "%s: every candidate failed; single-item parameters are in use "
                "until the process ends",
                ph->kernel);
    }
}

/* Once the first Xgemm candidate has run, the split is known: judge Xgemm on its shapes. */
static int maybe_learn_split(tuner *t, phase *ph) {
    if (t->split >= 0 || !ph->found || strcmp(ph->kernel, "Xgemm") != 0) return 0;
    learn_split(t, ph->best_times);
    kernel_mask(t, ph->kernel, ph->mask);
    ph->best_score = score_of(t, ph->best_times, ph->mask);
    return t->split >= 0;
}

/* The part of the time spent now that goes to the shapes in mask, kept within 10% to 90%. */
static double time_share(const tuner *t, const int *mask) {
    int all[CLG_TUNE_MAX_SHAPES];
    double share;

    for (int i = 0; i < CLG_TUNE_MAX_SHAPES; i++) all[i] = 1;
    share = score_of(t, t->current, mask) / score_of(t, t->current, all);
    return share < 0.1 ? 0.1 : share > 0.9 ? 0.9 : share;
}

/* Search one kernel until end, or its share of the time until end. */
static void run_phase(tuner *t, const kernel_space *ks, double end) {
    double start = now_s(), deadline = start + (end - start) * ks->share;
    const clg_blas_params *stored = stored_for(t, ks->kernel);
    tried_list tried = {malloc(MAX_TRIED * sizeof *tried.values), 0};
    phase ph = {.kernel = ks->kernel};
    clg_blas_params cand;
    int max = t->opts->max_candidates, n = 0;

    if (!tried.values) return;
    if (kernel_mask(t, ks->kernel, ph.mask) == 0) {
        clg_log(CLG_LOG_INFO, "%s: no shape takes it; not tuned", ks->kernel);
        free(tried.values);
        return;
    }
    if (stored) remember(&tried, stored);

    /* A candidate starts only if one as slow as the slowest so far still fits the budget. */
    while (now_s() < deadline && now_s() + t->candidate_s < t->search_end &&
           (max <= 0 || n < max) &&
           next_candidate(t->dev, ks, ph.found ? &ph.best : stored, &tried, &cand,
                          &t->result->illegal)) {
        double t0 = now_s();
        try_candidate(t, &cand, &ph);
        if (maybe_learn_split(t, &ph)) deadline = start + (end - start) * time_share(t, ph.mask);
        if (now_s() - t0 > t->candidate_s) t->candidate_s = now_s() - t0;
        n++;
    }
    free(tried.values);
    finish_phase(t, &ph);
}

/* Log the shapes and the first candidates of each kernel; measure nothing. */
static void dry_run(tuner *t) {
    char text[400];

    for (int i = 0; i < t->ws.count; i++) {
        const clg_gemm_shape *g = &t->ws.shapes[i];
        clg_log(CLG_LOG_INFO, "shape %zux%zux%zu %s%s weight %g (%.2f GFLOP)", g->m, g->n, g->k,
                g->trans_a ? "T" : "N", g->trans_b ? "T" : "N", shape_weight(g),
                shape_flops(g) * 1e-9);
    }
    for (int k = 0; k < SPACE_COUNT; k++) {
        tried_list tried = {malloc(MAX_TRIED * sizeof *tried.values), 0};
        clg_blas_params cand, first;
        int legal = 0;

        if (!tried.values) return;
        if (!kernel_supported(t->dev, spaces[k].kernel)) {
            clg_log(CLG_LOG_INFO, "%s: this CLBlast has no such parameters", spaces[k].kernel);
            free(tried.values);
            continue;
        }
        while (legal < 8 && next_candidate(t->dev, &spaces[k], legal ? &first : NULL, &tried, &cand,
                                           &t->result->illegal)) {
            if (legal++ == 0) first = cand;
            describe(&cand, text, sizeof text);
            clg_log(CLG_LOG_INFO, "%s candidate %d: %s", spaces[k].kernel, legal, text);
        }
        free(tried.values);
    }
}

static clg_status check_options(const clg_gemm_tune_options *o, const clg_gemm_shape *shapes,
                                int count) {
    if (count < 1 || count > CLG_TUNE_MAX_SHAPES)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "GEMM tuner: %d shapes (1 to %d allowed)", count,
                         CLG_TUNE_MAX_SHAPES);
    for (int i = 0; i < count; i++)
        if (shapes[i].m == 0 || shapes[i].n == 0 || shapes[i].k == 0)
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "GEMM tuner: shape %d has a zero size", i);
    if (!(o->budget_s > 0))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "GEMM tuner: the budget must be positive");
    return CLG_OK;
}

/* The stored sets in use now are where the search continues from. */
static void load_stored(tuner *t) {
    clg_blas_tuning all;

    if (!t->dev->info.blas_tuned || clg_blas_tuning_load(t->dev, &all) != CLG_OK) return;
    for (int i = 0; i < all.count; i++)
        if (clg_blas_params_check(&all.kernels[i], &t->dev->info, NULL, 0))
            t->stored.kernels[t->stored.count++] = all.kernels[i];
}

/* Measure the parameters in use before the search: the "before" figures. */
static clg_status measure_before(tuner *t) {
    clg_gemm_tune_result *r = t->result;
    int all[CLG_TUNE_MAX_SHAPES];
    double score;

    for (int i = 0; i < CLG_TUNE_MAX_SHAPES; i++) all[i] = 1;
    if (measure(&t->ws, all, INFINITY, r->before_s, &score) != RUN_OK)
        return clg_error(CLG_ERR_BLAS, "GEMM tuner: the parameters in use fail on the shapes");
    memcpy(t->current, r->before_s, sizeof t->current);
    clg_log(CLG_LOG_INFO, "before: %.1f GFLOP/s over %d shapes (weighted)", t->flops / score * 1e-9,
            r->shape_count);
    return CLG_OK;
}

/* Xgemm, then XgemmDirect with the time Xgemm left, then the routing threshold in its own share. */
static void search(tuner *t) {
    int supported[SPACE_COUNT];
    double kernels_end = t->search_end;

    for (int k = 0; k < SPACE_COUNT; k++) {
        supported[k] = kernel_supported(t->dev, spaces[k].kernel);
        if (!supported[k])
            clg_log(CLG_LOG_INFO, "%s: this CLBlast has no such parameters", spaces[k].kernel);
        else if (spaces[k].routing)
            kernels_end -= ROUTING_SHARE * (t->search_end - now_s());
    }
    for (int k = 0; k < SPACE_COUNT; k++)
        if (supported[k]) run_phase(t, &spaces[k], spaces[k].routing ? t->search_end : kernels_end);
}

/* The final state measured afresh over every shape: the search's figures favour lucky runs. */
static void measure_after(tuner *t) {
    clg_gemm_tune_result *r = t->result;
    int all[CLG_TUNE_MAX_SHAPES];
    double score, before = 0.0, after;
    char note[200];

    for (int i = 0; i < CLG_TUNE_MAX_SHAPES; i++) all[i] = 1;
    clg_blas_tuning_apply(t->dev, &r->tuning);
    if (measure(&t->ws, all, INFINITY, r->after_s, &score) != RUN_OK)
        memcpy(r->after_s, t->current, sizeof r->after_s);
    before = score_of(t, r->before_s, all);
    after = score_of(t, r->after_s, all);
    snprintf(note, sizeof note, "Weighted over %d shapes: %.1f -> %.1f GFLOP/s.", r->shape_count,
             t->flops / before * 1e-9, t->flops / after * 1e-9);
    clg_log(CLG_LOG_INFO, "after: %.1f GFLOP/s (%d candidates, %d illegal, %d failed)",
            t->flops / after * 1e-9, r->tried, r->illegal, r->failed);
    if (!t->opts->save || r->tuning.count == 0) return;
    if (clg_blas_tuning_save(t->dev, &r->tuning, note) == CLG_OK)
        clg_blas_tuning_path(t->dev, r->path, sizeof r->path);
    else
        clg_log(CLG_LOG_WARN, "%s", clg_last_error());
}

clg_status clg_gemm_tune(clg_device *dev, const clg_gemm_tune_options *options,
                         clg_gemm_tune_result *result) {
    clg_gemm_tune_options defaults;
    const clg_gemm_tune_options *o = options ? options : &defaults;
    tuner t = {.dev = dev, .opts = o, .result = result, .start = now_s(), .split = -1};
    clg_status s;

    clg_gemm_tune_options_default(&defaults);
    memset(result, 0, sizeof *result);
    result->shape_count = o->shapes
                              ? o->shape_count
                              : clg_gemm_tune_default_shapes(result->shapes, CLG_TUNE_MAX_SHAPES);
    if ((s = check_options(o, o->shapes ? o->shapes : result->shapes, result->shape_count)))
        return s;
    if (o->shapes) memcpy(result->shapes, o->shapes, sizeof *o->shapes * (size_t)o->shape_count);
    t.ws = (workspace){.dev = dev,
                       .shapes = result->shapes,
                       .count = result->shape_count,
                       .repeat = o->repeat < 2 ? 2 : o->repeat};
    for (int i = 0; i < result->shape_count; i++)
        t.flops += shape_flops(&result->shapes[i]) * shape_weight(&result->shapes[i]);
    sort_by_size(&t);

    if (o->dry_run) {
        dry_run(&t);
        return CLG_OK;
    }
    load_stored(&t);
    if ((s = workspace_create(&t.ws)) == CLG_OK && (s = measure_before(&t)) == CLG_OK) {
        /* Keep time for the final measurement: at most as long as the first. */
        double first = 0.0;
        for (int i = 0; i < result->shape_count; i++) first += result->before_s[i] * t.ws.repeat;
        t.search_end = t.start + o->budget_s - first;
        search(&t);
        measure_after(&t);
    }
    workspace_release(&t.ws);
    result->elapsed_s = now_s() - t.start;
    return s;
}
