/* The CycleGAN programs' options: one table drives defaults, parsing, --help and opt.txt. */
#include "clgan/cyclegan_options.h"
#include "clgan/report.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Choice options are stored as int; every enum used for one must have int's size. */
_Static_assert(sizeof(clg_netg_type) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_netd_type) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_norm_type) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_init_type) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_gan_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_lr_policy) == sizeof(int), "enum size");
_Static_assert(sizeof(clg_preprocess) == sizeof(int), "enum size");

typedef enum opt_type {
    T_HEADING, /* a line of --help, not an option */
    T_STRING,  /* const char * */
    T_INT,     /* int */
    T_I64,     /* int64_t */
    T_U64,     /* uint64_t */
    T_DOUBLE,  /* double */
    T_FLAG,    /* int, 0 or 1; takes no value unless written --name=value */
    T_CHOICE,  /* int, one of the row's choices */
    T_IGNORED, /* a reference option accepted with a value and otherwise ignored */
    T_IGNORED_FLAG
} opt_type;

typedef enum choice_kind { LISTED, ALIAS, UNSUPPORTED } choice_kind;

typedef struct choice {
    const char *name;
    int value;
    choice_kind kind; /* ALIAS: accepted, not listed; UNSUPPORTED: the reference's, not ours */
} choice;

typedef struct option_row {
    const char *name;
    opt_type type;
    size_t offset;
    unsigned modes;        /* the modes that take it */
    unsigned required;     /* the modes that need it */
    const char *def;       /* the default as text (NULL: none) */
    const char *def_other; /* the default for TEST and TRANSLATE, when it differs */
    const choice *choices; /* CHOICE (and IGNORED when the value is checked) */
    double lo, hi;         /* numbers: the allowed range, when hi > lo */
    const char *metavar;   /* what the value is, for --help */
    const char *help;
} option_row;

#define TRAIN       CLG_CYCLEGAN_TRAIN
#define TEST        CLG_CYCLEGAN_TEST
#define TRANSLATE   CLG_CYCLEGAN_TRANSLATE
#define ALL         (TRAIN | TEST | TRANSLATE)
#define FIELD(f)    .name = #f, .offset = offsetof(clg_cyclegan_options, f)
#define AT_LEAST(x) .lo = (x), .hi = 1e18
#define HEADING(text)                                                                              \
    { .type = T_HEADING, .modes = ALL, .help = text }

static const choice netg_choices[] = {{"resnet_9blocks", CLG_NETG_RESNET_9BLOCKS, LISTED},
                                      {"resnet_6blocks", CLG_NETG_RESNET_6BLOCKS, LISTED},
                                      {"unet_256", 0, UNSUPPORTED},
                                      {"unet_128", 0, UNSUPPORTED},
                                      {NULL, 0, 0}};
static const choice netd_choices[] = {{"basic", CLG_NETD_BASIC, LISTED},
                                      {"n_layers", CLG_NETD_N_LAYERS, LISTED},
                                      {"pixel", CLG_NETD_PIXEL, LISTED},
                                      {NULL, 0, 0}};
static const choice norm_choices[] = {{"instance", CLG_NORM_INSTANCE, LISTED},
                                      {"batch", CLG_NORM_BATCH, LISTED},
                                      {"none", CLG_NORM_NONE, LISTED},
                                      {NULL, 0, 0}};
static const choice init_choices[] = {{"normal", CLG_INIT_NORMAL, LISTED},
                                      {"xavier", CLG_INIT_XAVIER, LISTED},
                                      {"kaiming", CLG_INIT_KAIMING, LISTED},
                                      {"orthogonal", CLG_INIT_ORTHOGONAL, LISTED},
                                      {NULL, 0, 0}};
static const choice gan_choices[] = {{"lsgan", CLG_GAN_LSGAN, LISTED},
                                     {"vanilla", CLG_GAN_VANILLA, LISTED},
                                     {"wgangp", 0, UNSUPPORTED},
                                     {NULL, 0, 0}};
static const choice lr_choices[] = {
    {"linear", CLG_LR_LINEAR, LISTED}, {"step", CLG_LR_STEP, LISTED},
    {"cosine", CLG_LR_COSINE, LISTED}, {"lambda", CLG_LR_LINEAR, ALIAS},
    {"plateau", 0, UNSUPPORTED},       {NULL, 0, 0}};
static const choice direction_choices[] = {{"AtoB", 0, LISTED}, {"BtoA", 1, LISTED}, {NULL, 0, 0}};
static const choice preprocess_choices[] = {
    {"resize_and_crop", CLG_PREPROCESS_RESIZE_AND_CROP, LISTED},
    {"crop", CLG_PREPROCESS_CROP, LISTED},
    {"scale_width", CLG_PREPROCESS_SCALE_WIDTH, LISTED},
    {"scale_width_and_crop", CLG_PREPROCESS_SCALE_WIDTH_AND_CROP, LISTED},
    {"none", CLG_PREPROCESS_NONE, LISTED},
    {NULL, 0, 0}};
static const choice model_choices[] = {
    {"cycle_gan", 0, LISTED}, {"test", 0, UNSUPPORTED}, {"pix2pix", 0, UNSUPPORTED}, {NULL, 0, 0}};

static const option_row rows[] = {
    HEADING("Experiment"),
    {FIELD(dataroot), .type = T_STRING, .modes = TRAIN | TEST, .required = TRAIN | TEST,
     .metavar = "DIR",
     .help = "folder of the images: <phase>A and <phase>B inside it (trainA, testB, ...)"},
    {FIELD(name), .type = T_STRING, .modes = TRAIN | TEST, .def = "experiment_name",
     .metavar = "NAME",
     .help = "the experiment; its weights, log and web page live in <checkpoints_dir>/<name>"},
    {FIELD(checkpoints_dir), .type = T_STRING, .modes = TRAIN | TEST, .def = "./checkpoints",
     .metavar = "DIR", .help = "folder that holds the experiments"},
    {FIELD(results_dir), .type = T_STRING, .modes = TEST, .def = "./results", .metavar = "DIR",
     .help = "translated test images go to <results_dir>/<name>/<phase>_<epoch>"},
    {.name = "model",
     .type = T_IGNORED,
     .modes = TRAIN | TEST,
     .def = "cycle_gan",
     .choices = model_choices,
     .metavar = "NAME",
     .help = "the model; clgan has cycle_gan only"},
    {FIELD(model), .type = T_STRING, .modes = TRANSLATE, .required = TRANSLATE, .metavar = "FILE",
     .help = "a generator's weights, such as <checkpoints_dir>/<name>/latest_net_G_A.safetensors"},
    {FIELD(input), .type = T_STRING, .modes = TRANSLATE, .required = TRANSLATE, .metavar = "PATH",
     .help = "an image, or a folder of images, to translate"},
    {FIELD(output), .type = T_STRING, .modes = TRANSLATE, .required = TRANSLATE, .metavar = "DIR",
     .help = "folder the translated images are written to"},
    {FIELD(phase), .type = T_STRING, .modes = TRAIN | TEST, .def = "train", .def_other = "test",
     .metavar = "NAME", .help = "which image folders to read: <dataroot>/<phase>A and <phase>B"},
    {FIELD(epoch), .type = T_STRING, .modes = TRAIN | TEST, .def = "latest", .metavar = "EPOCH",
     .help = "the saved weights to load: 'latest' or an epoch number"},
    {FIELD(device), .type = T_STRING, .modes = ALL, .metavar = "DEVICE",
     .help = "OpenCL device: an index, platform:device, or part of its name "
             "(otherwise $CLGAN_DEVICE, else the first GPU)"},
    {FIELD(seed), .type = T_U64, .modes = ALL, .def = "0", .metavar = "N",
     .help = "seed of every random draw (weights, image order, crops, flips, image pool); "
             "one seed repeats a run"},
    {FIELD(verbose), .type = T_FLAG, .modes = ALL, .def = "false",
     .help = "report more as it goes"},

    HEADING("Networks"),
    {FIELD(input_nc), .type = T_INT, .modes = ALL, .def = "3", .lo = 1, .hi = 4, .metavar = "N",
     .help = "channels of the A images: 3 for colour, 1 for grey"},
    {FIELD(output_nc), .type = T_INT, .modes = ALL, .def = "3", .lo = 1, .hi = 4, .metavar = "N",
     .help = "channels of the B images: 3 for colour, 1 for grey"},
    {FIELD(ngf), .type = T_INT, .modes = ALL, .def = "64", AT_LEAST(1), .metavar = "N",
     .help = "generator filters in its last convolution"},
    {FIELD(ndf), .type = T_INT, .modes = TRAIN, .def = "64", AT_LEAST(1), .metavar = "N",
     .help = "discriminator filters in its first convolution"},
    {FIELD(netG), .type = T_CHOICE, .modes = ALL, .def = "resnet_9blocks", .choices = netg_choices,
     .metavar = "NAME", .help = "generator: a ResNet of 9 or 6 residual blocks"},
    {FIELD(netD), .type = T_CHOICE, .modes = TRAIN, .def = "basic", .choices = netd_choices,
     .metavar = "NAME",
     .help = "discriminator: basic is the 70x70 PatchGAN, n_layers one of n_layers_D layers, "
             "pixel a 1x1 PatchGAN"},
    {FIELD(n_layers_D), .type = T_INT, .modes = TRAIN, .def = "3", AT_LEAST(1), .metavar = "N",
     .help = "discriminator layers, used with --netD n_layers"},
    {FIELD(norm), .type = T_CHOICE, .modes = ALL, .def = "instance", .choices = norm_choices,
     .metavar = "NAME", .help = "normalisation layers"},
    {FIELD(init_type), .type = T_CHOICE, .modes = TRAIN, .def = "normal", .choices = init_choices,
     .metavar = "NAME", .help = "how new weights are drawn"},
    {FIELD(init_gain), .type = T_DOUBLE, .modes = TRAIN, .def = "0.02", AT_LEAST(0), .metavar = "X",
     .help = "scale of the normal, xavier and orthogonal draws"},
    {FIELD(no_dropout), .type = T_FLAG, .modes = ALL, .def = "true",
     .help = "leave dropout out of the generator (the CycleGAN default; --no_dropout=false "
             "puts it in)"},

    HEADING("Data"),
    {.name = "direction",
     .offset = offsetof(clg_cyclegan_options, direction_btoa),
     .type = T_CHOICE,
     .modes = TRAIN | TEST,
     .def = "AtoB",
     .choices = direction_choices,
     .metavar = "NAME",
     .help = "BtoA swaps the folders: the model's A side is read from <phase>B"},
    {FIELD(preprocess), .type = T_CHOICE, .modes = ALL, .def = "resize_and_crop",
     .choices = preprocess_choices, .metavar = "MODE", .help = "how images are resized and cut"},
    {FIELD(load_size), .type = T_INT, .modes = ALL, .def = "286", .def_other = "256", AT_LEAST(1),
     .metavar = "N", .help = "images are first scaled to this size"},
    {FIELD(crop_size), .type = T_INT, .modes = ALL, .def = "256", AT_LEAST(1), .metavar = "N",
     .help = "then cut to a square of this size"},
    {FIELD(batch_size), .type = T_INT, .modes = TRAIN, .def = "1", AT_LEAST(1), .metavar = "N",
     .help = "images per step"},
    {FIELD(serial_batches), .type = T_FLAG, .modes = TRAIN, .def = "false", .def_other = "true",
     .help = "take images in order and pair them in order, instead of at random"},
    {FIELD(no_flip), .type = T_FLAG, .modes = TRAIN, .def = "false", .def_other = "true",
     .help = "never mirror images (they are mirrored half the time otherwise)"},
    {FIELD(num_test), .type = T_INT, .modes = TEST, .def = "50", AT_LEAST(1), .metavar = "N",
     .help = "how many test images to translate"},
    {FIELD(aspect_ratio), .type = T_DOUBLE, .modes = TEST, .def = "1.0", .lo = 1e-6, .hi = 1e6,
     .metavar = "X", .help = "width / height of the saved results"},

    HEADING("Training"),
    {FIELD(n_epochs), .type = T_INT, .modes = TRAIN, .def = "100", AT_LEAST(0), .metavar = "N",
     .help = "epochs at the initial learning rate"},
    {FIELD(n_epochs_decay), .type = T_INT, .modes = TRAIN, .def = "100", AT_LEAST(0),
     .metavar = "N", .help = "epochs over which the rate then falls towards zero"},
    {FIELD(epoch_count), .type = T_INT, .modes = TRAIN, .def = "1", AT_LEAST(1), .metavar = "N",
     .help = "number of the first epoch; to resume after epoch N give N+1"},
    {FIELD(continue_train), .type = T_FLAG, .modes = TRAIN, .def = "false",
     .help = "resume: load the weights named by --epoch"},
    {FIELD(init_from), .type = T_STRING, .modes = TRAIN, .metavar = "DIR",
     .help = "start from the weights in DIR instead of random ones"},
    {FIELD(max_iters), .type = T_I64, .modes = TRAIN, .def = "0", AT_LEAST(0), .metavar = "N",
     .help = "stop after this many iterations; 0 for no limit"},
    {FIELD(lr), .type = T_DOUBLE, .modes = TRAIN, .def = "0.0002", AT_LEAST(0), .metavar = "X",
     .help = "initial learning rate of Adam"},
    {FIELD(beta1), .type = T_DOUBLE, .modes = TRAIN, .def = "0.5", .lo = 0, .hi = 1, .metavar = "X",
     .help = "Adam's first momentum coefficient"},
    {FIELD(lr_policy), .type = T_CHOICE, .modes = TRAIN, .def = "linear", .choices = lr_choices,
     .metavar = "NAME", .help = "how the learning rate changes from epoch to epoch"},
    {FIELD(lr_decay_iters), .type = T_INT, .modes = TRAIN, .def = "50", AT_LEAST(1), .metavar = "N",
     .help = "with --lr_policy step: epochs between divisions of the rate by 10"},
    {FIELD(gan_mode), .type = T_CHOICE, .modes = TRAIN, .def = "lsgan", .choices = gan_choices,
     .metavar = "NAME", .help = "GAN loss: least squares, or cross-entropy (vanilla)"},
    {FIELD(lambda_A), .type = T_DOUBLE, .modes = TRAIN, .def = "10.0", AT_LEAST(0), .metavar = "X",
     .help = "weight of the cycle loss A -> B -> A"},
    {FIELD(lambda_B), .type = T_DOUBLE, .modes = TRAIN, .def = "10.0", AT_LEAST(0), .metavar = "X",
     .help = "weight of the cycle loss B -> A -> B"},
    {FIELD(lambda_identity), .type = T_DOUBLE, .modes = TRAIN, .def = "0.5", AT_LEAST(0),
     .metavar = "X",
     .help = "weight of the identity loss, relative to lambda_A and lambda_B; 0 leaves it out"},
    {FIELD(pool_size), .type = T_INT, .modes = TRAIN, .def = "50", AT_LEAST(0), .metavar = "N",
     .help = "generated images kept to show the discriminators; 0 keeps none"},
    {FIELD(print_freq), .type = T_INT, .modes = TRAIN, .def = "100", AT_LEAST(1), .metavar = "N",
     .help = "print and log the losses every N iterations"},
    {FIELD(save_latest_freq), .type = T_INT, .modes = TRAIN, .def = "5000", AT_LEAST(1),
     .metavar = "N", .help = "save the 'latest' weights every N iterations"},
    {FIELD(save_epoch_freq), .type = T_INT, .modes = TRAIN, .def = "5", AT_LEAST(1), .metavar = "N",
     .help = "keep the weights of every Nth epoch"},

    HEADING("Reference options that are accepted and have no effect"),
    {.name = "gpu_ids",
     .type = T_IGNORED,
     .modes = TRAIN | TEST,
     .metavar = "IDS",
     .help = "choose the device with --device"},
    {.name = "num_threads",
     .type = T_IGNORED,
     .modes = TRAIN | TEST,
     .metavar = "N",
     .help = "one worker thread prepares the images"},
    {.name = "display_id",
     .type = T_IGNORED,
     .modes = TRAIN,
     .metavar = "N",
     .help = "there is no visdom display; see <checkpoints_dir>/<name>/web/index.html"},
    {.name = "display_freq",
     .type = T_IGNORED,
     .modes = TRAIN,
     .metavar = "N",
     .help = "images are shown on the web page at every save"},
    {.name = "display_port",
     .type = T_IGNORED,
     .modes = TRAIN,
     .metavar = "N",
     .help = "there is no visdom display"},
    {.name = "update_html_freq",
     .type = T_IGNORED,
     .modes = TRAIN,
     .metavar = "N",
     .help = "the web page is rewritten at every save"},
    {.name = "no_html",
     .type = T_IGNORED_FLAG,
     .modes = TRAIN,
     .help = "the web page is always written"},
    {.name = "eval",
     .type = T_IGNORED_FLAG,
     .modes = TEST,
     .help = "testing always runs the networks in evaluation mode"},
};

#define ROW_COUNT (sizeof rows / sizeof rows[0])

static const char *mode_word(unsigned modes) {
    if (modes & TRAIN) return "training";
    if (modes & TEST) return "testing";
    return "translating";
}

static const char *row_default(const option_row *row, clg_cyclegan_mode mode) {
    return mode != TRAIN && row->def_other ? row->def_other : row->def;
}

static int is_option(const option_row *row) {
    return row->type != T_HEADING;
}

static int stores_value(const option_row *row) {
    return row->type != T_HEADING && row->type != T_IGNORED && row->type != T_IGNORED_FLAG;
}

static void *field(clg_cyclegan_options *opts, const option_row *row) {
    return (char *)opts + row->offset;
}

static const void *cfield(const clg_cyclegan_options *opts, const option_row *row) {
    return (const char *)opts + row->offset;
}

/* ---- Values ---- */

static clg_status bad_value(const option_row *row, const char *text, const char *what) {
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s: '%s' is not %s", row->name, text, what);
}

static clg_status check_range(const option_row *row, const char *text, double v) {
    if (row->hi <= row->lo) return CLG_OK;
    if (v < row->lo)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s: '%s' must be at least %g", row->name,
                         text, row->lo);
    if (v > row->hi)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s: '%s' must be at most %g", row->name, text,
                         row->hi);
    return CLG_OK;
}

/* "a, b, c": the listed choices. */
static void choice_list(const choice *c, char *buf, size_t size) {
    size_t len = 0;

    buf[0] = '\0';
    for (; c->name; c++) {
        if (c->kind != LISTED) continue;
        snprintf(buf + len, size - len, "%s%s", len ? ", " : "", c->name);
        len = strlen(buf);
    }
}

static clg_status parse_choice(const option_row *row, const char *text, int *value) {
    char list[256];

    choice_list(row->choices, list, sizeof list);
    for (const choice *c = row->choices; c->name; c++) {
        if (strcmp(c->name, text) != 0) continue;
        if (c->kind == UNSUPPORTED)
            return clg_error(CLG_ERR_UNSUPPORTED,
                             "--%s: '%s' is a choice of the reference that clgan does not "
                             "implement; use one of %s",
                             row->name, text, list);
        *value = c->value;
        return CLG_OK;
    }
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s: '%s' is not one of %s", row->name, text,
                     list);
}

static clg_status parse_flag(const option_row *row, const char *text, int *value) {
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};

    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcasecmp(text, yes[i]) == 0) return *value = 1, CLG_OK;
        if (strcasecmp(text, no[i]) == 0) return *value = 0, CLG_OK;
    }
    return bad_value(row, text, "true or false");
}

static clg_status parse_integer(const option_row *row, const char *text, long long *v) {
    char *end;

    errno = 0;
    *v = strtoll(text, &end, 10);
    if (end == text || *end || errno == ERANGE) return bad_value(row, text, "an integer");
    return check_range(row, text, (double)*v);
}

static clg_status parse_u64(const option_row *row, const char *text, uint64_t *v) {
    char *end;

    errno = 0;
    *v = strtoull(text, &end, 10);
    if (end == text || *end || errno == ERANGE || strchr(text, '-'))
        return bad_value(row, text, "a whole number of 0 or more");
    return CLG_OK;
}

static clg_status parse_double(const option_row *row, const char *text, double *v) {
    char *end;

    errno = 0;
    *v = strtod(text, &end);
    if (end == text || *end || errno == ERANGE || !isfinite(*v))
        return bad_value(row, text, "a number");
    return check_range(row, text, *v);
}

static clg_status parse_int(const option_row *row, const char *text, int *out) {
    long long v;
    clg_status s = parse_integer(row, text, &v);

    if (s == CLG_OK && (v < INT_MIN || v > INT_MAX))
        return bad_value(row, text, "an integer that fits in an int");
    if (s == CLG_OK) *out = (int)v;
    return s;
}

static clg_status parse_i64(const option_row *row, const char *text, int64_t *out) {
    long long v;
    clg_status s = parse_integer(row, text, &v);

    if (s == CLG_OK) *out = (int64_t)v;
    return s;
}

/* Store text as row's value in opts; text NULL stores "no value" (strings only). */
static clg_status set_value(clg_cyclegan_options *opts, const option_row *row, const char *text) {
    int ignored;

    if (row->type == T_STRING) {
        if (text && !*text)
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s needs a value", row->name);
        *(const char **)field(opts, row) = text;
        return CLG_OK;
    }
    if (!text) return CLG_OK;
    switch (row->type) {
    case T_INT:
        return parse_int(row, text, field(opts, row));
    case T_I64:
        return parse_i64(row, text, field(opts, row));
    case T_U64:
        return parse_u64(row, text, field(opts, row));
    case T_DOUBLE:
        return parse_double(row, text, field(opts, row));
    case T_FLAG:
        return parse_flag(row, text, field(opts, row));
    case T_CHOICE:
        return parse_choice(row, text, field(opts, row));
    case T_IGNORED:
        return row->choices ? parse_choice(row, text, &ignored) : CLG_OK;
    case T_IGNORED_FLAG:
        return parse_flag(row, text, &ignored);
    default:
        return CLG_OK;
    }
}

/* ---- Defaults and parsing ---- */

void clg_cyclegan_options_default(clg_cyclegan_mode mode, clg_cyclegan_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->mode = mode;
    for (size_t i = 0; i < ROW_COUNT; i++) {
        clg_status s;
        if (!stores_value(&rows[i])) continue;
        s = set_value(opts, &rows[i], row_default(&rows[i], mode));
        (void)s; /* the table's defaults are valid: the tests parse every one */
    }
}

static const option_row *find_row(const char *name, size_t len, unsigned mode) {
    for (size_t i = 0; i < ROW_COUNT; i++)
        if (is_option(&rows[i]) && (rows[i].modes & mode) && strlen(rows[i].name) == len &&
            strncmp(rows[i].name, name, len) == 0)
            return &rows[i];
    return NULL;
}

/* Edit distance between a and b (b of len bytes), for suggestions; stops counting at 9. */
static int distance(const char *a, const char *b, size_t len) {
    int prev[64], cur[64];
    size_t n = strlen(a);

    if (n >= 64 || len >= 64) return 9;
    for (size_t j = 0; j <= len; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= len; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (len + 1) * sizeof *prev);
    }
    return prev[len];
}

static clg_status unknown_option(const char *name, size_t len, clg_cyclegan_mode mode) {
    const option_row *best = NULL;
    int best_d = 3;

    for (size_t i = 0; i < ROW_COUNT; i++) {
        if (!is_option(&rows[i]) || strlen(rows[i].name) != len || strncmp(rows[i].name, name, len))
            continue;
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%.*s is an option for %s, not for %s",
                         (int)len, name, mode_word(rows[i].modes), mode_word(mode));
    }
    for (size_t i = 0; i < ROW_COUNT; i++) {
        int d =
            is_option(&rows[i]) && (rows[i].modes & mode) ? distance(rows[i].name, name, len) : 9;
        if (d < best_d) best = &rows[i], best_d = d;
    }
    if (best)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown option --%.*s (did you mean --%s?)",
                         (int)len, name, best->name);
    return clg_error(CLG_ERR_INVALID_ARGUMENT, "unknown option --%.*s (see --help)", (int)len,
                     name);
}

static int takes_value(const option_row *row) {
    return row->type != T_FLAG && row->type != T_IGNORED_FLAG;
}

/* Apply argv[*i] (and its value, moving *i past it). */
static clg_status parse_one(clg_cyclegan_options *opts, int argc, char **argv, int *i) {
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '='), *value;
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const option_row *row;

    if (strncmp(arg, "--", 2) != 0 || len == 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "unexpected argument '%s' (options are written --name value)", arg);
    row = find_row(name, len, opts->mode);
    if (!row) return unknown_option(name, len, opts->mode);

    if (eq)
        value = eq + 1;
    else if (!takes_value(row))
        value = "true";
    else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        value = argv[++*i];
    else
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s needs a value", row->name);

    if (row->type == T_IGNORED || row->type == T_IGNORED_FLAG) {
        if (!row->choices)
            clg_log(CLG_LOG_WARN, "--%s is accepted for the reference's sake and ignored: %s",
                    row->name, row->help);
    }
    return set_value(opts, row, value);
}

static clg_status check_required(const clg_cyclegan_options *opts) {
    for (size_t i = 0; i < ROW_COUNT; i++) {
        const option_row *row = &rows[i];
        if (!(row->required & opts->mode) || row->type != T_STRING) continue;
        if (!*(const char *const *)cfield(opts, row))
            return clg_error(CLG_ERR_INVALID_ARGUMENT, "--%s is required (see --help)", row->name);
    }
    return CLG_OK;
}

clg_status clg_cyclegan_options_parse(clg_cyclegan_mode mode, int argc, char **argv,
                                      clg_cyclegan_options *opts) {
    clg_status s = CLG_OK;

    if (!opts || (argc > 0 && !argv) || (mode != TRAIN && mode != TEST && mode != TRANSLATE))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_cyclegan_options_parse: bad arguments");
    clg_cyclegan_options_default(mode, opts);
    for (int i = 1; s == CLG_OK && i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            opts->help = 1;
            return CLG_OK;
        }
        s = parse_one(opts, argc, argv, &i);
    }
    if (s == CLG_OK) s = check_required(opts);
    if (s == CLG_OK && mode == TRAIN && opts->lr_policy == CLG_LR_COSINE && opts->n_epochs < 1)
        s = clg_error(CLG_ERR_INVALID_ARGUMENT,
                      "--lr_policy cosine needs --n_epochs of 1 or more (its period)");
    return s;
}

/* ---- Text of values: --help, opt.txt ---- */

/* A double as Python's str() writes it: the shortest text that reads back the same. */
static void python_float(double v, char *buf, size_t size) {
    char tmp[48];
    int digits = 1, exp10;

    for (; digits < 17; digits++) {
        snprintf(tmp, sizeof tmp, "%.*e", digits - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    snprintf(tmp, sizeof tmp, "%.*e", digits - 1, v);
    exp10 = atoi(strchr(tmp, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        snprintf(buf, size, "%s", tmp);
        return;
    }
    snprintf(buf, size, "%.*f", digits - 1 - exp10 > 0 ? digits - 1 - exp10 : 0, v);
    if (!strchr(buf, '.') && strlen(buf) + 3 <= size) strcat(buf, ".0");
}

static const char *choice_name(const choice *c, int value) {
    for (; c->name; c++)
        if (c->kind == LISTED && c->value == value) return c->name;
    return "?";
}

/* The value of row in opts, as the reference would print it. */
static void value_text(const clg_cyclegan_options *opts, const option_row *row, char *buf,
                       size_t size) {
    const void *p = cfield(opts, row);
    const char *s;

    switch (row->type) {
    case T_STRING:
        s = *(const char *const *)p;
        snprintf(buf, size, "%s", s ? s : "None");
        break;
    case T_INT:
        snprintf(buf, size, "%d", *(const int *)p);
        break;
    case T_I64:
        snprintf(buf, size, "%" PRId64, *(const int64_t *)p);
        break;
    case T_U64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)p);
        break;
    case T_DOUBLE:
        python_float(*(const double *)p, buf, size);
        break;
    case T_FLAG:
        snprintf(buf, size, "%s", *(const int *)p ? "True" : "False");
        break;
    case T_CHOICE:
        snprintf(buf, size, "%s", choice_name(row->choices, *(const int *)p));
        break;
    default:
        snprintf(buf, size, "%s", row->def ? row->def : "");
    }
}

clg_status clg_cyclegan_option_text(const clg_cyclegan_options *opts, const char *option, char *buf,
                                    size_t size) {
    const option_row *row;

    if (!opts || !option || !buf || size == 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_cyclegan_option_text: bad arguments");
    row = find_row(option, strlen(option), opts->mode);
    if (!row || !stores_value(row))
        return clg_error(CLG_ERR_NOT_FOUND, "no option --%s when %s", option,
                         mode_word(opts->mode));
    value_text(opts, row, buf, size);
    return CLG_OK;
}

/* ---- --help ---- */

/* Start a new line at `indent` unless `width` more columns fit after *col. */
static void make_room(FILE *out, int width, int indent, int *col) {
    if (*col > indent && *col + 1 + width > 100) {
        fprintf(out, "\n%*s", indent, "");
        *col = indent;
    } else if (*col > indent) {
        fputc(' ', out);
        (*col)++;
    }
}

/* Write text's words, wrapping at column 100 with a hanging indent; *col is the column. */
static void wrap(FILE *out, const char *text, int indent, int *col) {
    while (*text) {
        size_t word = strcspn(text, " ");
        make_room(out, (int)word, indent, col);
        fprintf(out, "%.*s", (int)word, text);
        *col += (int)word;
        text += word;
        while (*text == ' ') text++;
    }
}

/* Write text whole, on a new line when it does not fit on this one. */
static void place(FILE *out, const char *text, int indent, int *col) {
    if (!*text) return;
    make_room(out, (int)strlen(text), indent, col);
    fputs(text, out);
    *col += (int)strlen(text);
}

static void help_default(const option_row *row, clg_cyclegan_mode mode, char *buf, size_t n) {
    const char *def = row_default(row, mode);

    if (row->required & mode)
        snprintf(buf, n, "(required)");
    else if (row->type == T_FLAG)
        snprintf(buf, n, "[default: %s]", strcmp(def, "true") ? "off" : "on");
    else if (row->type == T_IGNORED || row->type == T_IGNORED_FLAG)
        buf[0] = '\0';
    else
        snprintf(buf, n, "[default: %s]", def ? def : "none");
}

static void help_row(const option_row *row, clg_cyclegan_mode mode, FILE *out) {
    char head[64], tail[400], list[256];
    int col;

    if (row->type == T_HEADING) {
        fprintf(out, "\n%s:\n", row->help);
        return;
    }
    snprintf(head, sizeof head, "  --%s%s%s", row->name, takes_value(row) ? " " : "",
             takes_value(row) ? row->metavar : "");
    fputs(head, out);
    col = (int)strlen(head);
    if (col > 29) {
        fprintf(out, "\n%30s", "");
    } else {
        fprintf(out, "%*s", 30 - col, "");
    }
    col = 30;
    wrap(out, row->help, 30, &col);
    if (row->type == T_CHOICE) {
        choice_list(row->choices, list, sizeof list);
        snprintf(tail, sizeof tail, "(one of %s)", list);
        if (strlen(tail) <= 100 - 30)
            place(out, tail, 30, &col);
        else
            wrap(out, tail, 30, &col);
    }
    help_default(row, mode, tail, sizeof tail);
    place(out, tail, 30, &col);
    fputc('\n', out);
}

void clg_cyclegan_options_help(clg_cyclegan_mode mode, const char *program, FILE *out) {
    fprintf(out, "Usage: %s [options]\n", program ? program : "clgan");
    fprintf(out, "Options are written --name value, --name=value, or --flag (--flag=false).\n");
    for (size_t i = 0; i < ROW_COUNT; i++) {
        /* A heading shows when some option under it belongs to this mode. */
        if (rows[i].type == T_HEADING) {
            size_t j = i + 1;
            while (j < ROW_COUNT && rows[j].type != T_HEADING && !(rows[j].modes & mode)) j++;
            if (j < ROW_COUNT && rows[j].type != T_HEADING) help_row(&rows[i], mode, out);
            continue;
        }
        if (rows[i].modes & mode) help_row(&rows[i], mode, out);
    }
    fprintf(out, "\n  --help, -h                  show this list and stop\n");
}

/* ---- opt.txt ---- */

static int by_name(const void *a, const void *b) {
    return strcmp((*(const option_row *const *)a)->name, (*(const option_row *const *)b)->name);
}

static void write_options(FILE *f, const clg_cyclegan_options *opts) {
    const option_row *sorted[ROW_COUNT];
    clg_cyclegan_options defaults;
    char value[512], def[512];
    size_t n = 0;

    clg_cyclegan_options_default(opts->mode, &defaults);
    for (size_t i = 0; i < ROW_COUNT; i++)
        if (stores_value(&rows[i]) && (rows[i].modes & opts->mode)) sorted[n++] = &rows[i];
    qsort(sorted, n, sizeof *sorted, by_name);

    fputs("----------------- Options ---------------\n", f);
    for (size_t i = 0; i < n; i++) {
        value_text(opts, sorted[i], value, sizeof value);
        value_text(&defaults, sorted[i], def, sizeof def);
        fprintf(f, "%25s: %-30s", sorted[i]->name, value);
        if (strcmp(value, def) != 0) fprintf(f, "\t[default: %s]", def);
        fputc('\n', f);
    }
    fputs("----------------- End -------------------\n", f);
}

/* Make the folder that will hold path. */
static clg_status make_parent(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    clg_status s;

    if (!slash || slash == path) return CLG_OK;
    dir = strndup(path, (size_t)(slash - path));
    if (!dir) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    s = clg_make_dirs(dir);
    free(dir);
    return s;
}

clg_status clg_cyclegan_options_write(const clg_cyclegan_options *opts, const char *path) {
    char *text = NULL;
    size_t size = 0;
    FILE *f;
    clg_status s;

    if (!opts || !path)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_cyclegan_options_write: bad arguments");
    s = make_parent(path);
    if (s != CLG_OK) return s;
    f = open_memstream(&text, &size);
    if (!f) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    write_options(f, opts);
    if (fclose(f))
        s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    else
        s = clg_file_write_atomic(path, text, size);
    free(text);
    return s;
}
