/* clgan-tune: search CLBlast GEMM parameters for a device and store the best for later runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgan.h"

#define DEFAULT_SHAPES "cyclegan:256:64:9,1024x1024x1024"

static void usage(FILE *out) {
    fprintf(out, "usage: clgan-tune [--device SELECTOR] [--budget SECONDS (120)] [--shapes LIST]\n"
                 "                  [--max-candidates N] [--repeat N (2)] [--dry-run] [--show]\n"
                 "                  [--no-save] [--verbose]\n"
                 "\n"
                 "Searches legal parameter sets of CLBlast's GEMM kernels (Xgemm, XgemmDirect)\n"
                 "for the device within the time budget, timing each on the shapes in LIST, and\n"
                 "stores the fastest in clgan's cache folder; every later clg_device_open() of\n"
                 "that device and driver uses them. CLGAN_TUNED=0 opens devices without them.\n"
                 "\n"
                 "LIST is comma-separated items, each MxNxK with an optional transposition\n"
                 "(nn, nt, tn, tt) and weight (*W), or cyclegan:SIZE:NGF:BLOCKS for the GEMMs\n"
                 "of a CycleGAN step (PatchGAN ndf 64). Default: " DEFAULT_SHAPES ".\n"
                 "--dry-run lists the shapes and first candidates; --show prints the stored\n"
                 "parameters and whether they are in use.\n");
}

/* "MxNxK[nn|nt|tn|tt][*W]" */
static int parse_product(const char *item, clg_gemm_shape *s) {
    char trans[3] = "nn", tail[64] = "";
    unsigned long m, n, k;
    int used = 0;

    memset(s, 0, sizeof *s);
    if (sscanf(item, "%lux%lux%lu%n", &m, &n, &k, &used) != 3 || !m || !n || !k) return 0;
    snprintf(tail, sizeof tail, "%s", item + used);
    if ((tail[0] == 'n' || tail[0] == 't') && (tail[1] == 'n' || tail[1] == 't')) {
        memcpy(trans, tail, 2);
        memmove(tail, tail + 2, strlen(tail + 2) + 1);
    }
    if (tail[0] == '*' && sscanf(tail + 1, "%lf", &s->weight) != 1) return 0;
    if (tail[0] && tail[0] != '*') return 0;
    *s = (clg_gemm_shape){trans[0] == 't', trans[1] == 't', m, n, k, s->weight};
    return 1;
}

/* Append the shapes of one LIST item; returns the new count, or -1 when malformed. */
static int parse_item(const char *item, clg_gemm_shape *shapes, int count) {
    int size, ngf, blocks;
    char tail;

    if (sscanf(item, "cyclegan:%d:%d:%d%c", &size, &ngf, &blocks, &tail) == 3) {
        if (size < 16 || ngf < 1 || blocks < 0) return -1;
        clg_gemm_shape list[CLG_TUNE_MAX_SHAPES];
        int n = clg_gemm_tune_cyclegan_shapes(size, ngf, 64, blocks, list, CLG_TUNE_MAX_SHAPES);
        for (int i = 0; i < n && count < CLG_TUNE_MAX_SHAPES; i++) shapes[count++] = list[i];
        return count;
    }
    if (count >= CLG_TUNE_MAX_SHAPES || !parse_product(item, &shapes[count])) return -1;
    return count + 1;
}

static int parse_shapes(const char *text, clg_gemm_shape *shapes) {
    char copy[1024], *save = NULL;
    int count = 0;

    snprintf(copy, sizeof copy, "%s", text);
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if ((count = parse_item(item, shapes, count)) < 0) {
            fprintf(stderr, "clgan-tune: bad shape \"%s\"\n", item);
            return -1;
        }
    }
    return count;
}

/* The stored file, and whether this open of the device uses it. */
static int show(clg_device *dev) {
    char path[1200], line[512];
    FILE *f;

    if (clg_blas_tuning_path(dev, path, sizeof path) != CLG_OK) {
        fprintf(stderr, "clgan-tune: %s\n", clg_last_error());
        return 1;
    }
    printf("device: %s\nfile: %s\n", clg_device_get_info(dev)->name, path);
    if (!(f = fopen(path, "r"))) {
        printf("no tuned parameters stored: CLBlast's defaults are used\n");
        return 0;
    }
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    fclose(f);
    printf("in use: %s\n", clg_device_tuned(dev) ? "yes" : "no (see the warnings above)");
    return 0;
}

static double gflops(const clg_gemm_shape *s, double seconds) {
    return 2.0 * (double)s->m * (double)s->n * (double)s->k / seconds * 1e-9;
}

static void report(const clg_gemm_tune_result *r) {
    printf("%-22s %8s %12s %12s %8s\n", "shape (M x N x K op)", "weight", "before GF/s",
           "after GF/s", "speed-up");
    for (int i = 0; i < r->shape_count; i++) {
        const clg_gemm_shape *s = &r->shapes[i];
        char name[64];
        snprintf(name, sizeof name, "%zux%zux%zu %c%c", s->m, s->n, s->k, s->trans_a ? 't' : 'n',
                 s->trans_b ? 't' : 'n');
        printf("%-22s %8g %12.1f %12.1f %7.2fx\n", name, s->weight > 0 ? s->weight : 1.0,
               gflops(s, r->before_s[i]), gflops(s, r->after_s[i]), r->before_s[i] / r->after_s[i]);
    }
    printf("%d candidates measured, %d illegal skipped, %d failed, %.0f s\n", r->tried, r->illegal,
           r->failed, r->elapsed_s);
    for (int k = 0; k < r->tuning.count; k++) {
        printf("%s:", r->tuning.kernels[k].kernel);
        for (int i = 0; i < r->tuning.kernels[k].count; i++)
            printf(" %s=%zu", r->tuning.kernels[k].names[i], r->tuning.kernels[k].values[i]);
        printf("\n");
    }
    if (r->tuning.count == 0)
        printf("nothing beat the parameters in use; nothing stored\n");
    else
        printf("stored: %s\n", r->path[0] ? r->path : "no (--no-save or no cache folder)");
}

typedef struct args {
    const char *device, *shapes;
    clg_gemm_tune_options opts;
    int show;
} args;

/* 0: run; 1: stop with status 0 (help); 2: usage error. */
static int parse_args(int argc, char **argv, args *a) {
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--device") == 0 && next)
            a->device = argv[++i];
        else if (strcmp(argv[i], "--budget") == 0 && next)
            a->opts.budget_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--shapes") == 0 && next)
            a->shapes = argv[++i];
        else if (strcmp(argv[i], "--max-candidates") == 0 && next)
            a->opts.max_candidates = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && next)
            a->opts.repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dry-run") == 0)
            a->opts.dry_run = 1;
        else if (strcmp(argv[i], "--show") == 0)
            a->show = 1;
        else if (strcmp(argv[i], "--no-save") == 0)
            a->opts.save = 0;
        else if (strcmp(argv[i], "--verbose") == 0)
            clg_log_set_level(CLG_LOG_DEBUG);
        else {
            usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 1 : 2;
        }
    }
    if (a->opts.budget_s > 0) return 0;
    fprintf(stderr, "clgan-tune: --budget must be a positive number of seconds\n");
    return 2;
}

int main(int argc, char **argv) {
    static clg_gemm_shape shapes[CLG_TUNE_MAX_SHAPES];
    static clg_gemm_tune_result result;
    args a = {.shapes = DEFAULT_SHAPES};
    clg_device *dev = NULL;
    int rc;

    clg_gemm_tune_options_default(&a.opts);
    clg_log_set_callback(clg_log_stderr, NULL);
    clg_log_set_level(CLG_LOG_INFO);
    if ((rc = parse_args(argc, argv, &a)) != 0) return rc == 1 ? 0 : 2;
    if ((a.opts.shape_count = parse_shapes(a.shapes, shapes)) <= 0) return 2;
    a.opts.shapes = shapes;

    if (clg_device_open(a.device, &dev) != CLG_OK) {
        fprintf(stderr, "clgan-tune: %s\n", clg_last_error());
        return 1;
    }
    if (a.show)
        rc = show(dev);
    else if (clg_gemm_tune(dev, &a.opts, &result) != CLG_OK) {
        fprintf(stderr, "clgan-tune: %s\n", clg_last_error());
        rc = 1;
    } else if (!a.opts.dry_run)
        report(&result);
    clg_device_release(dev);
    return rc;
}
