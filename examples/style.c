/* clgan-style: Gatys et al.'s neural style transfer with neural-style's options, on any device. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clgan.h"
#include "clgan/report.h"
#include "clgan/style.h"

#define PROGRAM    "clgan-style"
#define MAX_STYLES 16

_Static_assert(sizeof(clg_style_optimizer) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_style_init) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_vgg_pool) == sizeof(int), "enum size");

/* Everything the command line sets: the library's options and the program's own. */
typedef struct cli {
    clg_style_options style;
    const char *content, *styles, *blend, *output, *init_image, *vgg, *device, *log;
    int pooling, print_iter, save_iter, verbose, help;
} cli;

typedef enum opt_type { T_STRING, T_INT, T_DOUBLE, T_U64, T_FLAG, T_CHOICE } opt_type;

typedef struct option_row {
    const char *name;
    opt_type type;
    size_t offset;
    const char *const *choices; /* T_CHOICE: names of the values 0, 1, ... */
    const char *metavar;
    const char *help;
} option_row;

static const char *const optimizers[] = {"lbfgs", "adam", NULL};
static const char *const inits[] = {"random", "image", NULL};
static const char *const poolings[] = {"max", "avg", NULL};

#define LIB(f, t)  .name = #f, .type = t, .offset = offsetof(cli, style.f)
#define PROG(f, t) .name = #f, .type = t, .offset = offsetof(cli, f)

static const option_row rows[] = {
    {PROG(content, T_STRING), .metavar = "FILE", .help = "the content image (required)"},
    {.name = "style",
     T_STRING,
     offsetof(cli, styles),
     .metavar = "FILE[,FILE...]",
     .help = "one or more style images (required)"},
    {.name = "style_blend_weights",
     T_STRING,
     offsetof(cli, blend),
     .metavar = "W[,W...]",
     .help = "one weight per style image, normalised to sum 1; none: equal"},
    {PROG(output, T_STRING), .metavar = "FILE", .help = "the result, a PNG"},
    {LIB(image_size, T_INT), .metavar = "N", .help = "longest side of the result; 0 keeps it"},
    {LIB(style_scale, T_DOUBLE), .metavar = "X",
     .help = "style images' longest side, relative to image_size"},
    {LIB(content_weight, T_DOUBLE), .metavar = "X", .help = "weight of the content loss"},
    {LIB(style_weight, T_DOUBLE), .metavar = "X", .help = "weight of the style loss"},
    {LIB(tv_weight, T_DOUBLE), .metavar = "X", .help = "weight of the total-variation loss"},
    {LIB(num_iterations, T_INT), .metavar = "N", .help = "optimiser iterations"},
    {LIB(optimizer, T_CHOICE), .choices = optimizers, .metavar = "lbfgs|adam",
     .help = "L-BFGS (liblbfgs, vectors on the host) or Adam (on the device)"},
    {LIB(learning_rate, T_DOUBLE), .metavar = "X", .help = "Adam's step size (image in 0..1)"},
    {LIB(beta1, T_DOUBLE), .metavar = "X", .help = "Adam's beta1"},
    {LIB(lbfgs_num_correction, T_INT), .metavar = "N",
     .help = "L-BFGS's history length (memory: 2 * N * pixels * 3 doubles)"},
    {LIB(init, T_CHOICE), .choices = inits, .metavar = "image|random",
     .help = "start from the content (or --init_image) or from white noise"},
    {PROG(init_image, T_STRING), .metavar = "FILE",
     .help = "start from this image (implies --init image)"},
    {LIB(seed, T_U64), .metavar = "N", .help = "seed of the random start and random VGG filters"},
    {LIB(original_colors, T_FLAG), .metavar = "[0|1]",
     .help = "keep the content's colours, take only luminance from the result"},
    {PROG(pooling, T_CHOICE), .choices = poolings, .metavar = "max|avg",
     .help = "VGG's pooling layers"},
    {LIB(content_layers, T_STRING), .metavar = "LAYERS", .help = "VGG-19 layers of the content"},
    {LIB(style_layers, T_STRING), .metavar = "LAYERS", .help = "VGG-19 layers of the style"},
    {PROG(print_iter, T_INT), .metavar = "N",
     .help = "print the losses every N iterations; 0: never"},
    {PROG(save_iter, T_INT), .metavar = "N",
     .help = "save OUTPUT_<iteration>.png every N iterations; 0: never"},
    {PROG(vgg, T_STRING), .metavar = "FILE",
     .help = "VGG-19 weights (safetensors, torchvision's keys); none: random"},
    {PROG(device, T_STRING), .metavar = "SELECTOR",
     .help = "OpenCL device: index, platform:device or part of a name"},
    {PROG(log, T_STRING), .metavar = "FILE",
     .help = "CSV of iteration,content,style,tv,total (unweighted terms)"},
    {PROG(verbose, T_FLAG), .help = "print the library's log lines"},
};

#define ROW_COUNT (sizeof rows / sizeof rows[0])

static void defaults(cli *o) {
    memset(o, 0, sizeof *o);
    clg_style_options_defaults(&o->style);
    o->output = "out.png";
    o->pooling = CLG_VGG_POOL_MAX;
    o->print_iter = 50;
    o->save_iter = 100;
}

static int fail(const char *what) {
    fprintf(stderr, PROGRAM ": %s: %s\n", what, clg_last_error());
    return 1;
}

/* ---- Options ---- */

static void value_text(const cli *o, const option_row *r, char *buf, size_t size) {
    const void *p = (const char *)o + r->offset;

    switch (r->type) {
    case T_STRING:
        snprintf(buf, size, "%s", *(const char *const *)p ? *(const char *const *)p : "none");
        break;
    case T_INT:
        snprintf(buf, size, "%d", *(const int *)p);
        break;
    case T_FLAG:
        snprintf(buf, size, "%d", *(const int *)p);
        break;
    case T_DOUBLE:
        snprintf(buf, size, "%g", *(const double *)p);
        break;
    case T_U64:
        snprintf(buf, size, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case T_CHOICE:
        snprintf(buf, size, "%s", r->choices[*(const int *)p]);
        break;
    }
}

static void help(FILE *out) {
    cli d;
    char value[256], left[64];

    defaults(&d);
    fprintf(out, "Usage: " PROGRAM " --content FILE --style FILE[,FILE...] [options]\n"
                 "Options are written --name value or --name=value (one dash works too).\n\n");
    for (size_t i = 0; i < ROW_COUNT; i++) {
        value_text(&d, &rows[i], value, sizeof value);
        snprintf(left, sizeof left, "--%s %s", rows[i].name,
                 rows[i].metavar ? rows[i].metavar : "");
        /* The default follows the help, or goes below it when the line would pass 100 columns. */
        if (36 + strlen(rows[i].help) + strlen(value) + 12 <= 100)
            fprintf(out, "  %-33s %s (default: %s)\n", left, rows[i].help, value);
        else
            fprintf(out, "  %-33s %s\n  %-33s (default: %s)\n", left, rows[i].help, "", value);
    }
    fprintf(out, "  %-33s show this list and stop\n", "--help");
}

static int parse_number(const option_row *r, const char *text, void *p) {
    char *end = NULL;

    errno = 0;
    if (r->type == T_DOUBLE) *(double *)p = strtod(text, &end);
    if (r->type == T_U64) *(uint64_t *)p = strtoull(text, &end, 10);
    if (r->type == T_INT || r->type == T_FLAG) {
        long v = strtol(text, &end, 10);
        *(int *)p = (int)v;
        if (v < -1000000000L || v > 1000000000L) errno = ERANGE;
        if (r->type == T_FLAG && v != 0 && v != 1) errno = EINVAL;
    }
    if (r->type == T_DOUBLE && end != text && !isfinite(*(double *)p)) errno = EINVAL;
    if (r->type == T_U64 && strchr(text, '-')) errno = EINVAL;
    return end != text && *end == '\0' && errno == 0;
}

static int set_value(cli *o, const option_row *r, const char *text) {
    void *p = (char *)o + r->offset;

    if (r->type == T_STRING) {
        *(const char **)p = text;
        return 1;
    }
    if (r->type != T_CHOICE) return parse_number(r, text, p);
    for (int i = 0; r->choices[i]; i++) {
        if (strcmp(text, r->choices[i]) != 0) continue;
        *(int *)p = i;
        return 1;
    }
    return 0;
}

static const option_row *find_row(const char *name, size_t len) {
    for (size_t i = 0; i < ROW_COUNT; i++)
        if (strlen(rows[i].name) == len && !strncmp(rows[i].name, name, len)) return &rows[i];
    return NULL;
}

/* One option at argv[*i]; returns 0 after printing why it is wrong. */
static int parse_one(cli *o, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *name = arg + (arg[1] == '-' ? 2 : 1), *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const option_row *r = find_row(name, len);
    const char *value = eq ? eq + 1 : NULL;

    if (!r) {
        fprintf(stderr, PROGRAM ": unknown option %s (see --help)\n", arg);
        return 0;
    }
    /* A flag takes a value only as --flag=V or a following 0 or 1 (neural-style's -flag 1). */
    if (!value && r->type == T_FLAG) {
        int next = *i + 1 < argc && (!strcmp(argv[*i + 1], "0") || !strcmp(argv[*i + 1], "1"));
        value = next ? argv[++*i] : "1";
    }
    if (!value && *i + 1 >= argc) {
        fprintf(stderr, PROGRAM ": %s needs a value\n", arg);
        return 0;
    }
    if (!value) value = argv[++*i];
    if (set_value(o, r, value)) return 1;
    fprintf(stderr, PROGRAM ": --%s does not take \"%s\"%s%s\n", r->name, value,
            r->metavar ? "; expected " : "", r->metavar ? r->metavar : "");
    return 0;
}

/* 0: run; 1: stop with success (--help); 2: a usage error, already printed. */
static int parse(cli *o, int argc, char **argv) {
    defaults(o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "-help")) return 1;
        if (a[0] != '-' || !a[1]) {
            fprintf(stderr, PROGRAM ": unexpected argument \"%s\" (see --help)\n", a);
            return 2;
        }
        if (!parse_one(o, argc, argv, &i)) return 2;
    }
    if (!o->content || !o->styles) {
        fprintf(stderr, PROGRAM ": --content and --style are required (see --help)\n");
        return 2;
    }
    if (o->init_image) o->style.init = CLG_STYLE_INIT_IMAGE;
    return 0;
}

/* ---- Inputs ---- */

/* Split a comma-separated list in place into at most max items. */
static int split(char *list, char **items, int max) {
    int n = 0;

    for (char *p = strtok(list, ","); p; p = strtok(NULL, ",")) {
        if (n == max) return -1;
        items[n++] = p;
    }
    return n;
}

typedef struct inputs {
    clg_image content, init, styles[MAX_STYLES];
    double blend[MAX_STYLES];
    int style_count;
    char *style_list, *blend_list;
} inputs;

static clg_status load_image(const char *path, clg_image *img) {
    clg_status s = clg_image_load(path, 3, img);
    if (s != CLG_OK && !strstr(clg_last_error(), path)) {
        char why[2048];
        snprintf(why, sizeof why, "%s", clg_last_error());
        return clg_error(s, "%s: %s", path, why);
    }
    return s;
}

static clg_status parse_blend(const cli *o, inputs *in) {
    char *items[MAX_STYLES];
    int n;

    if (!o->blend) return CLG_OK;
    in->blend_list = strdup(o->blend);
    n = in->blend_list ? split(in->blend_list, items, MAX_STYLES) : -1;
    if (n != in->style_count)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "--style_blend_weights needs one number per style image (%d)",
                         in->style_count);
    for (int i = 0; i < n; i++) {
        char *end;
        in->blend[i] = strtod(items[i], &end);
        if (end == items[i] || *end || !(in->blend[i] >= 0))
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "blend weight \"%s\" is not a number >= 0",
                             items[i]);
    }
    return CLG_OK;
}

static clg_status load_inputs(cli *o, inputs *in) {
    char *items[MAX_STYLES];
    clg_status s = load_image(o->content, &in->content);

    in->style_list = strdup(o->styles);
    in->style_count = in->style_list ? split(in->style_list, items, MAX_STYLES) : 0;
    if (s == CLG_OK && in->style_count < 1)
        s = clg_error(CLG_ERR_INVALID_ARGUMENT, "--style needs 1 to %d files", MAX_STYLES);
    for (int i = 0; s == CLG_OK && i < in->style_count; i++)
        s = load_image(items[i], &in->styles[i]);
    if (s == CLG_OK) s = parse_blend(o, in);
    if (s == CLG_OK && o->init_image) s = load_image(o->init_image, &in->init);
    o->style.style_blend_weights = o->blend ? in->blend : NULL;
    o->style.init_image = o->init_image ? &in->init : NULL;
    return s;
}

static void release_inputs(inputs *in) {
    clg_image_release(&in->content);
    clg_image_release(&in->init);
    for (int i = 0; i < MAX_STYLES; i++) clg_image_release(&in->styles[i]);
    free(in->style_list);
    free(in->blend_list);
}

/* ---- The run ---- */

typedef struct run_state {
    const cli *o;
    FILE *log;
    clg_status save_status;
    double started;
} run_state;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static clg_status save_result(clg_style *st, const char *path) {
    clg_image img = {0};
    clg_status s = clg_style_get_image(st, &img);

    if (s == CLG_OK) s = clg_image_save_png(path, &img);
    clg_image_release(&img);
    return s;
}

/* OUTPUT_<iteration>.png, with OUTPUT's extension removed. */
static void intermediate_path(const char *output, int iteration, char *buf, size_t size) {
    const char *slash = strrchr(output, '/'), *dot = strrchr(output, '.');
    int stem = dot && (!slash || dot > slash) ? (int)(dot - output) : (int)strlen(output);

    snprintf(buf, size, "%.*s_%d.png", stem, output, iteration);
}

static int on_iteration(clg_style *st, const clg_style_losses *l, void *user) {
    run_state *r = user;
    const cli *o = r->o;
    char path[4200];

    if (r->log)
        fprintf(r->log, "%d,%.9g,%.9g,%.9g,%.9g\n", l->iteration, l->content, l->style, l->tv,
                l->total);
    if (o->print_iter > 0 && l->iteration % o->print_iter == 0) {
        printf("iteration %d/%d: content %.6g  style %.6g  tv %.6g  total %.6g  (%.1f s)\n",
               l->iteration, o->style.num_iterations, l->content, l->style, l->tv, l->total,
               now_seconds() - r->started);
        fflush(stdout);
    }
    if (o->save_iter > 0 && l->iteration > 0 && l->iteration % o->save_iter == 0) {
        intermediate_path(o->output, l->iteration, path, sizeof path);
        r->save_status = save_result(st, path);
    }
    return r->save_status != CLG_OK;
}

static void say_outcome(clg_style_outcome outcome, const clg_style_losses *l) {
    static const char *const text[] = {"finished", "converged (a loss or gradient of zero)",
                                       "stopped: L-BFGS's line search found no lower loss",
                                       "stopped"};

    printf("%s at iteration %d: total loss %.6g\n", text[outcome], l->iteration, l->total);
}

static clg_status optimise(const cli *o, clg_style *st) {
    run_state r = {o, NULL, CLG_OK, now_seconds()};
    clg_style_outcome outcome = CLG_STYLE_FINISHED;
    clg_status s = CLG_OK;

    if (o->log && !(r.log = fopen(o->log, "w")))
        return clg_error(CLG_ERR_IO, "%s: cannot write: %s", o->log, strerror(errno));
    if (r.log) fprintf(r.log, "iteration,content,style,tv,total\n");
    s = clg_style_run(st, on_iteration, &r, &outcome);
    if (s == CLG_OK) s = r.save_status;
    if (r.log && fclose(r.log) != 0 && s == CLG_OK)
        s = clg_error(CLG_ERR_IO, "%s: cannot write: %s", o->log, strerror(errno));
    if (s == CLG_OK) say_outcome(outcome, clg_style_last_losses(st));
    return s;
}

static clg_status open_vgg(const cli *o, clg_device *dev, clg_module **vgg) {
    fflush(stdout);
    if (!o->vgg)
        fprintf(stderr,
                PROGRAM ": no --vgg given: using seeded random VGG-19 filters (seed %llu).\n"
                        "They synthesise texture but are no substitute for the pretrained weights\n"
                        "(README gives the one-line conversion of torchvision's VGG-19).\n",
                (unsigned long long)o->style.seed);
    return clg_style_vgg_load(dev, o->vgg, (clg_vgg_pool)o->pooling, o->style.seed, vgg);
}

/* Make the folder that path is in, when it names one. */
static clg_status make_parent(const char *path) {
    const char *slash = path ? strrchr(path, '/') : NULL;
    char dir[4096];

    if (!slash || slash == path) return CLG_OK;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    return clg_make_dirs(dir);
}

static int run(cli *o) {
    clg_device *dev = NULL;
    clg_module *vgg = NULL;
    clg_style *st = NULL;
    inputs in = {0};
    int w = 0, h = 0;
    clg_status s = clg_device_open(o->device, &dev);

    if (s == CLG_OK) printf("device: %s\n", clg_device_get_info(dev)->name);
    if (s == CLG_OK) s = open_vgg(o, dev, &vgg);
    if (s == CLG_OK) s = load_inputs(o, &in);
    if (s == CLG_OK) s = make_parent(o->output);
    if (s == CLG_OK) s = make_parent(o->log);
    if (s == CLG_OK)
        s = clg_style_create(dev, vgg, &in.content, in.style_count, in.styles, &o->style, &st);
    if (s == CLG_OK) clg_style_size(st, &w, &h);
    if (s == CLG_OK) s = optimise(o, st);
    if (s == CLG_OK) s = save_result(st, o->output);
    if (s == CLG_OK) printf("result: %s (%dx%d)\n", o->output, w, h);
    clg_style_release(st);
    release_inputs(&in);
    clg_module_release(vgg);
    clg_device_release(dev);
    return s == CLG_OK ? 0 : fail("style transfer stopped");
}

int main(int argc, char **argv) {
    cli o;
    int parsed = parse(&o, argc, argv);

    if (parsed == 1) help(stdout);
    if (parsed) return parsed == 1 ? 0 : 2;
    if (o.verbose) clg_log_set_callback(clg_log_stderr, NULL);
    return run(&o);
}
