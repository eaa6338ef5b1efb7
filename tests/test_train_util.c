/* Host-side training helpers: options, learning-rate schedules, loss log, report, progress. */
#include "support.h"

#include "clgan/cyclegan_options.h"
#include "clgan/report.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- Helpers ---- */

static clg_status parse(clg_cyclegan_mode mode, clg_cyclegan_options *o, const char *args) {
    static char buf[4096];
    static char *argv[64];
    int argc = 0;

    snprintf(buf, sizeof buf, "%s", args);
    argv[argc++] = "prog";
    for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " ")) argv[argc++] = t;
    return clg_cyclegan_options_parse(mode, argc, argv, o);
}

/* Parsing fails with status and a message containing want. */
static void expect_error(clg_cyclegan_mode mode, const char *args, clg_status status,
                         const char *want) {
    clg_cyclegan_options o;
    clg_status s = parse(mode, &o, args);

    if (s != status || !strstr(clg_last_error(), want))
        fail_msg("'%s' gave %s '%s'; want %s containing '%s'", args, clg_status_name(s),
                 clg_last_error(), clg_status_name(status), want);
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    char *text;
    long n;

    if (!f) fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc((size_t)n + 1, 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    return text;
}

static size_t count_of(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

/* No "<name>.tmp.*" file is left in dir. */
static void assert_no_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;

    assert_non_null(d);
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) fail_msg("temporary file %s/%s left", dir, e->d_name);
    closedir(d);
}

/* The --help text, in a buffer of its own (freed by the caller). */
static char *help_text(clg_cyclegan_mode mode) {
    char *stream = NULL, *text;
    size_t size = 0;
    FILE *f = open_memstream(&stream, &size);

    assert_non_null(f);
    clg_cyclegan_options_help(mode, "clgan-train", f);
    fclose(f);
    text = strdup(stream);
    free(stream);
    assert_non_null(text);
    return text;
}

/* ---- Options ---- */

/* Every training option with the reference's default, as --help and opt.txt show it. */
static const struct {
    const char *name, *help_default, *text; /* --help's default, opt.txt's value */
} train_defaults[] = {
    {"dataroot", "(required)", "None"},
    {"name", "[default: experiment_name]", "experiment_name"},
    {"checkpoints_dir", "[default: ./checkpoints]", "./checkpoints"},
    {"phase", "[default: train]", "train"},
    {"epoch", "[default: latest]", "latest"},
    {"device", "[default: none]", "None"},
    {"seed", "[default: 0]", "0"},
    {"verbose", "[default: off]", "False"},
    {"input_nc", "[default: 3]", "3"},
    {"output_nc", "[default: 3]", "3"},
    {"ngf", "[default: 64]", "64"},
    {"ndf", "[default: 64]", "64"},
    {"netG", "[default: resnet_9blocks]", "resnet_9blocks"},
    {"netD", "[default: basic]", "basic"},
    {"n_layers_D", "[default: 3]", "3"},
    {"norm", "[default: instance]", "instance"},
    {"init_type", "[default: normal]", "normal"},
    {"init_gain", "[default: 0.02]", "0.02"},
    {"no_dropout", "[default: on]", "True"},
    {"direction", "[default: AtoB]", "AtoB"},
    {"preprocess", "[default: resize_and_crop]", "resize_and_crop"},
    {"load_size", "[default: 286]", "286"},
    {"crop_size", "[default: 256]", "256"},
    {"batch_size", "[default: 1]", "1"},
    {"serial_batches", "[default: off]", "False"},
    {"no_flip", "[default: off]", "False"},
    {"n_epochs", "[default: 100]", "100"},
    {"n_epochs_decay", "[default: 100]", "100"},
    {"epoch_count", "[default: 1]", "1"},
    {"continue_train", "[default: off]", "False"},
    {"init_from", "[default: none]", "None"},
    {"max_iters", "[default: 0]", "0"},
    {"lr", "[default: 0.0002]", "0.0002"},
    {"beta1", "[default: 0.5]", "0.5"},
    {"lr_policy", "[default: linear]", "linear"},
    {"lr_decay_iters", "[default: 50]", "50"},
    {"gan_mode", "[default: lsgan]", "lsgan"},
    {"lambda_A", "[default: 10.0]", "10.0"},
    {"lambda_B", "[default: 10.0]", "10.0"},
    {"lambda_identity", "[default: 0.5]", "0.5"},
    {"pool_size", "[default: 50]", "50"},
    {"print_freq", "[default: 100]", "100"},
    {"save_latest_freq", "[default: 5000]", "5000"},
    {"save_epoch_freq", "[default: 5]", "5"},
};

#define TRAIN_OPTION_COUNT (sizeof train_defaults / sizeof train_defaults[0])

static void train_defaults_are_the_reference_ones(void **state) {
    clg_cyclegan_options o;
    (void)state;

    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, &o);
    assert_null(o.dataroot);
    assert_string_equal(o.name, "experiment_name");
    assert_string_equal(o.checkpoints_dir, "./checkpoints");
    assert_string_equal(o.phase, "train");
    assert_string_equal(o.epoch, "latest");
    assert_null(o.device);
    assert_null(o.init_from);
    assert_true(o.seed == 0 && o.max_iters == 0 && !o.verbose && !o.help);
    assert_int_equal(o.netG, CLG_NETG_RESNET_9BLOCKS);
    assert_int_equal(o.netG, 9);
    assert_int_equal(o.netD, CLG_NETD_BASIC);
    assert_int_equal(o.norm, CLG_NORM_INSTANCE);
    assert_int_equal(o.init_type, CLG_INIT_NORMAL);
    assert_true(o.init_gain == 0.02 && o.no_dropout == 1);
    assert_true(o.input_nc == 3 && o.output_nc == 3 && o.ngf == 64 && o.ndf == 64);
    assert_int_equal(o.n_layers_D, 3);
    assert_true(!o.direction_btoa && !o.serial_batches && !o.no_flip && o.batch_size == 1);
    assert_true(o.load_size == 286 && o.crop_size == 256);
    assert_int_equal(o.preprocess, CLG_PREPROCESS_RESIZE_AND_CROP);
    assert_int_equal(o.gan_mode, CLG_GAN_LSGAN);
    assert_true(o.lambda_A == 10.0 && o.lambda_B == 10.0 && o.lambda_identity == 0.5);
    assert_true(o.pool_size == 50 && o.lr == 0.0002 && o.beta1 == 0.5);
    assert_int_equal(o.lr_policy, CLG_LR_LINEAR);
    assert_true(o.lr_decay_iters == 50 && o.n_epochs == 100 && o.n_epochs_decay == 100);
    assert_true(o.epoch_count == 1 && !o.continue_train);
    assert_true(o.save_epoch_freq == 5 && o.save_latest_freq == 5000 && o.print_freq == 100);

    for (size_t i = 0; i < TRAIN_OPTION_COUNT; i++) {
        char text[128];
        CHECK(clg_cyclegan_option_text(&o, train_defaults[i].name, text, sizeof text));
        assert_string_equal(text, train_defaults[i].text);
    }
}

static void test_and_translate_defaults_follow_test_py(void **state) {
    clg_cyclegan_options o;
    (void)state;

    clg_cyclegan_options_default(CLG_CYCLEGAN_TEST, &o);
    assert_string_equal(o.phase, "test");
    assert_string_equal(o.results_dir, "./results");
    assert_true(o.num_test == 50 && o.aspect_ratio == 1.0);
    assert_true(o.load_size == 256 && o.crop_size == 256);
    assert_true(o.batch_size == 1 && o.serial_batches && o.no_flip && o.no_dropout);
    assert_string_equal(o.epoch, "latest");

    clg_cyclegan_options_default(CLG_CYCLEGAN_TRANSLATE, &o);
    assert_null(o.model);
    assert_true(o.load_size == 256 && o.crop_size == 256 && o.no_flip && o.batch_size == 1);
    assert_int_equal(o.netG, CLG_NETG_RESNET_9BLOCKS);
}

static void every_type_parses(void **state) {
    clg_cyclegan_options o;
    (void)state;

    CHECK(parse(CLG_CYCLEGAN_TRAIN, &o,
                "--dataroot data/horse2zebra --name=h2z --batch_size 4 --lr=0.001 "
                "--netG resnet_6blocks --norm=batch --no_flip --serial_batches=true "
                "--no_dropout=false --max_iters 123456789012 --seed 18446744073709551615 "
                "--direction BtoA --lr_policy lambda --preprocess none --init_type xavier "
                "--gan_mode vanilla --netD n_layers --n_layers_D 5 --lambda_identity 0 "
                "--gpu_ids -1 --model cycle_gan --display_id 0 --no_html --batch_size 2"));
    assert_false(o.help);
    assert_string_equal(o.dataroot, "data/horse2zebra");
    assert_string_equal(o.name, "h2z");
    assert_int_equal(o.batch_size, 2); /* the last one wins */
    assert_true(o.lr == 0.001);
    assert_int_equal(o.netG, 6);
    assert_int_equal(o.norm, CLG_NORM_BATCH);
    assert_true(o.no_flip && o.serial_batches && !o.no_dropout);
    assert_true(o.max_iters == 123456789012LL);
    assert_true(o.seed == UINT64_MAX);
    assert_true(o.direction_btoa);
    assert_int_equal(o.lr_policy, CLG_LR_LINEAR);
    assert_int_equal(o.preprocess, CLG_PREPROCESS_NONE);
    assert_int_equal(o.init_type, CLG_INIT_XAVIER);
    assert_int_equal(o.gan_mode, CLG_GAN_VANILLA);
    assert_true(o.netD == CLG_NETD_N_LAYERS && o.n_layers_D == 5);
    assert_true(o.lambda_identity == 0.0);

    CHECK(parse(CLG_CYCLEGAN_TRANSLATE, &o,
                "--model g.safetensors --input in.png --output out --preprocess none"));
    assert_string_equal(o.model, "g.safetensors");
    assert_string_equal(o.input, "in.png");
    assert_string_equal(o.output, "out");

    CHECK(parse(CLG_CYCLEGAN_TEST, &o, "--dataroot d --num_test 7 --aspect_ratio 2 --eval"));
    assert_true(o.num_test == 7 && o.aspect_ratio == 2.0);

    /* --help stops parsing before anything is checked. */
    CHECK(parse(CLG_CYCLEGAN_TRAIN, &o, "--batch_size 3 --help --bogus"));
    assert_true(o.help);
}

static void errors_name_the_option_and_value(void **state) {
    const clg_cyclegan_mode train = CLG_CYCLEGAN_TRAIN;
    (void)state;

    expect_error(train, "--dataroot d --netG resnet_7blocks", CLG_ERR_INVALID_ARGUMENT,
                 "--netG: 'resnet_7blocks' is not one of resnet_9blocks, resnet_6blocks");
    expect_error(train, "--dataroot d --batch_size two", CLG_ERR_INVALID_ARGUMENT,
                 "--batch_size: 'two' is not an integer");
    expect_error(train, "--dataroot d --batch_size 0", CLG_ERR_INVALID_ARGUMENT,
                 "--batch_size: '0' must be at least 1");
    expect_error(train, "--dataroot d --lr 2e-4x", CLG_ERR_INVALID_ARGUMENT,
                 "--lr: '2e-4x' is not a number");
    expect_error(train, "--dataroot d --lr nan", CLG_ERR_INVALID_ARGUMENT, "--lr: 'nan'");
    expect_error(train, "--dataroot d --no_flip=maybe", CLG_ERR_INVALID_ARGUMENT,
                 "--no_flip: 'maybe' is not true or false");
    expect_error(train, "--dataroot d --seed -3", CLG_ERR_INVALID_ARGUMENT, "--seed: '-3'");
    expect_error(train, "--dataroot d --frobnicate 3", CLG_ERR_INVALID_ARGUMENT,
                 "unknown option --frobnicate");
    expect_error(train, "--dataroot d --lamda_A 3", CLG_ERR_INVALID_ARGUMENT,
                 "unknown option --lamda_A (did you mean --lambda_A?)");
    expect_error(train, "--dataroot d --num_test 3", CLG_ERR_INVALID_ARGUMENT,
                 "--num_test is an option for testing, not for training");
    expect_error(CLG_CYCLEGAN_TEST, "--dataroot d --lr 1", CLG_ERR_INVALID_ARGUMENT,
                 "--lr is an option for training, not for testing");
    expect_error(train, "--dataroot d --name", CLG_ERR_INVALID_ARGUMENT, "--name needs a value");
    expect_error(train, "--dataroot d --name --lr 1", CLG_ERR_INVALID_ARGUMENT,
                 "--name needs a value");
    expect_error(train, "--name x", CLG_ERR_INVALID_ARGUMENT, "--dataroot is required");
    expect_error(CLG_CYCLEGAN_TRANSLATE, "--model m --input i", CLG_ERR_INVALID_ARGUMENT,
                 "--output is required");
    expect_error(train, "--dataroot d stray", CLG_ERR_INVALID_ARGUMENT,
                 "unexpected argument 'stray'");
    expect_error(train, "--dataroot d --lr_policy plateau", CLG_ERR_UNSUPPORTED,
                 "--lr_policy: 'plateau' is a choice of the reference that clgan does not");
    expect_error(train, "--dataroot d --gan_mode wgangp", CLG_ERR_UNSUPPORTED, "'wgangp'");
    expect_error(train, "--dataroot d --model pix2pix", CLG_ERR_UNSUPPORTED, "--model");
    expect_error(train, "--dataroot d --lr_policy cosine --n_epochs 0", CLG_ERR_INVALID_ARGUMENT,
                 "--lr_policy cosine needs --n_epochs");
}

static void help_lists_every_option_with_its_default(void **state) {
    char *text = help_text(CLG_CYCLEGAN_TRAIN);
    (void)state;

    for (size_t i = 0; i < TRAIN_OPTION_COUNT; i++) {
        char want[128];
        const char *at, *next;

        snprintf(want, sizeof want, "  --%s ", train_defaults[i].name);
        at = strstr(text, want);
        if (!at) fail_msg("--help does not list --%s:\n%s", train_defaults[i].name, text);
        /* The default follows on the option's own lines, before the next option. */
        next = strstr(at + 3, "\n  --");
        at = strstr(at, train_defaults[i].help_default);
        if (!at || (next && at > next))
            fail_msg("--%s: no '%s' in its help", train_defaults[i].name,
                     train_defaults[i].help_default);
    }
    assert_non_null(strstr(text, "(one of resnet_9blocks, resnet_6blocks)"));
    assert_non_null(strstr(text, "(one of linear, step, cosine)"));
    assert_non_null(strstr(text, "--help"));
    assert_null(strstr(text, "--num_test"));
    for (char *line = text; line; line = strchr(line, '\n')) {
        char *end = strchr(++line, '\n');
        if (end && end - line > 100) fail_msg("help line over 100 columns: %.*s", 100, line);
    }
    free(text);

    text = help_text(CLG_CYCLEGAN_TEST);
    assert_non_null(strstr(text, "--num_test N"));
    assert_non_null(strstr(text, "[default: 50]"));
    assert_null(strstr(text, "--lr "));
    assert_null(strstr(text, "Training:"));
    free(text);
}

static void opt_txt_marks_changed_values(void **state) {
    const char *dir = test_scratch_dir("opts");
    char path[4300];
    clg_cyclegan_options o;
    char *text;
    (void)state;

    CHECK(parse(CLG_CYCLEGAN_TRAIN, &o, "--dataroot ./d --lr 0.001 --netG resnet_6blocks"));
    snprintf(path, sizeof path, "%s/exp/train_opt.txt", dir);
    CHECK(clg_cyclegan_options_write(&o, path));
    text = read_text(path);
    assert_true(strncmp(text, "----------------- Options ---------------\n", 42) == 0);
    assert_non_null(strstr(text, "\n----------------- End -------------------\n"));
    assert_non_null(strstr(text, "                       lr: 0.001                         "
                                 "\t[default: 0.0002]\n"));
    assert_non_null(strstr(text, "                     netG: resnet_6blocks                "
                                 "\t[default: resnet_9blocks]\n"));
    assert_non_null(strstr(text, "                 dataroot: ./d                           "
                                 "\t[default: None]\n"));
    assert_non_null(strstr(text, "               no_dropout: True                          \n"));
    assert_non_null(strstr(text, "                 lambda_A: 10.0                          \n"));
    /* Sorted by name as Python sorts: upper case before lower. */
    assert_true(strstr(text, " batch_size:") < strstr(text, " beta1:"));
    assert_true(strstr(text, " n_layers_D:") < strstr(text, " name:"));
    assert_true(strstr(text, " netD:") < strstr(text, " netG:"));
    assert_int_equal(count_of(text, "\n"), TRAIN_OPTION_COUNT + 2);
    free(text);
    snprintf(path, sizeof path, "%s/exp", dir);
    assert_no_temporaries(path);
}

/* ---- Learning rates: values printed by PyTorch 1.13's schedulers (see the notes). ---- */

static void assert_lr(const clg_cyclegan_options *o, int epoch, double want) {
    double got = clg_lr_for_epoch(o, epoch);
    if (fabs(got - want) > 1e-15 * fabs(want) + 1e-300)
        fail_msg("epoch %d: lr %.17g, want %.17g", epoch, got, want);
}

static void linear_schedule_matches_lambda_lr(void **state) {
    clg_cyclegan_options o;
    (void)state;

    /*
     * for epoch in range(epoch_count, n_epochs + n_epochs_decay + 1): train at the
     * optimizer's lr, then scheduler.step(), with LambdaLR and the reference's rule.
     */
    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, &o);
    assert_lr(&o, 1, 0.0002);
    assert_lr(&o, 100, 0.0002);
    assert_lr(&o, 101, 0.00019801980198019803);
    assert_lr(&o, 150, 0.00010099009900990099);
    assert_lr(&o, 200, 1.980198019801982e-06);
    assert_true(clg_lr_after_steps(&o, 0) == 0.0002);

    /* Resuming at epoch 51 continues the same curve. */
    o.epoch_count = 51;
    assert_lr(&o, 51, 0.0002);
    assert_lr(&o, 101, 0.00019801980198019803);
    assert_lr(&o, 200, 1.980198019801982e-06);

    o.epoch_count = 1;
    o.n_epochs = 3;
    o.n_epochs_decay = 4;
    assert_lr(&o, 3, 0.0002);
    assert_lr(&o, 4, 0.00016);
    assert_lr(&o, 6, 8e-05);
    assert_lr(&o, 7, 3.999999999999999e-05);
}

static void step_and_cosine_match_pytorch(void **state) {
    clg_cyclegan_options o;
    (void)state;

    clg_cyclegan_options_default(CLG_CYCLEGAN_TRAIN, &o);
    o.lr_policy = CLG_LR_STEP;
    assert_lr(&o, 1, 0.0002);
    assert_lr(&o, 50, 0.0002);
    assert_lr(&o, 51, 2e-05);
    assert_lr(&o, 100, 2e-05);
    assert_lr(&o, 101, 2.0000000000000003e-06);
    assert_lr(&o, 151, 2.0000000000000004e-07);
    assert_lr(&o, 200, 2.0000000000000004e-07);

    o.lr_policy = CLG_LR_COSINE;
    assert_lr(&o, 1, 0.0002);
    assert_lr(&o, 2, 0.00019995065603657316);
    assert_lr(&o, 26, 0.00017071067811865484);
    assert_lr(&o, 51, 0.00010000000000000011);
    assert_lr(&o, 100, 4.934396342684008e-08);
    assert_true(clg_lr_for_epoch(&o, 101) == 0.0);
    assert_lr(&o, 102, 4.934396342684e-08);
    assert_lr(&o, 151, 9.999999999999999e-05);
    assert_lr(&o, 200, 0.00019995065603657333);
}

/* ---- Loss log ---- */

static clg_loss_row make_row(int64_t iter, int epoch) {
    clg_loss_row r = {.iter = iter, .epoch = epoch};
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++)
        r.loss[k] = 0.125f * (float)k + (float)iter / 1e4f;
    return r;
}

static void loss_log_appends_reads_and_truncates(void **state) {
    const char *dir = test_scratch_dir("losslog");
    char path[4300];
    clg_loss_log *log;
    clg_loss_row *rows = NULL;
    size_t n = 0;
    char *text;
    (void)state;

    snprintf(path, sizeof path, "%s/loss_log.csv", dir);
    assert_int_equal(clg_loss_log_read(path, &rows, &n), CLG_ERR_NOT_FOUND);

    CHECK(clg_loss_log_open(path, 0, &log));
    for (int i = 1; i <= 15; i++) {
        clg_loss_row r = make_row(100 * i, (i + 4) / 5);
        CHECK(clg_loss_log_append(log, &r));
    }
    /* Rows are flushed as they are written: another reader sees them before close. */
    text = read_text(path);
    assert_true(strncmp(text, "iter,epoch,D_A,G_A,cycle_A,idt_A,D_B,G_B,cycle_B,idt_B\n", 55) == 0);
    assert_int_equal(count_of(text, "\n"), 16);
    free(text);
    clg_loss_log_close(log);

    CHECK(clg_loss_log_read(path, &rows, &n));
    assert_int_equal(n, 15);
    assert_true(rows[14].iter == 1500 && rows[14].epoch == 3);
    free(rows);

    /* Resume after iteration 300: the later rows go, new ones follow. */
    CHECK(clg_loss_log_open(path, 300, &log));
    {
        clg_loss_row r = make_row(400, 1);
        CHECK(clg_loss_log_append(log, &r));
    }
    clg_loss_log_close(log);
    CHECK(clg_loss_log_read(path, &rows, &n));
    assert_int_equal(n, 4);
    assert_true(rows[2].iter == 300 && rows[2].epoch == 1);
    assert_true(rows[3].iter == 400 && rows[3].epoch == 1);
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++)
        assert_true(rows[3].loss[k] == make_row(400, 1).loss[k]);
    free(rows);
    assert_no_temporaries(dir);

    /* A fresh run (keep 0) starts the file over. */
    CHECK(clg_loss_log_open(path, 0, &log));
    clg_loss_log_close(log);
    CHECK(clg_loss_log_read(path, &rows, &n));
    assert_int_equal(n, 0);
    free(rows);
}

static void loss_log_rejects_damaged_files(void **state) {
    const char *dir = test_scratch_dir("losslog-bad");
    char path[4300];
    clg_loss_log *log = NULL;
    clg_loss_row *rows = NULL;
    size_t n;
    FILE *f;
    (void)state;

    snprintf(path, sizeof path, "%s/loss_log.csv", dir);
    f = fopen(path, "w");
    fputs("iter,epoch,D_A,G_A,cycle_A,idt_A,D_B,G_B,cycle_B,idt_B\n100,1,1,2,3,4,5,6,7,8\n"
          "200,1,1,2,3\n",
          f);
    fclose(f);
    assert_int_equal(clg_loss_log_read(path, &rows, &n), CLG_ERR_FORMAT);
    assert_non_null(strstr(clg_last_error(), "line 3"));
    assert_int_equal(clg_loss_log_open(path, 1000, &log), CLG_ERR_FORMAT);
    assert_null(log);

    f = fopen(path, "w");
    fputs("step,loss\n", f);
    fclose(f);
    assert_int_equal(clg_loss_log_read(path, &rows, &n), CLG_ERR_FORMAT);
    assert_non_null(strstr(clg_last_error(), "line 1"));
}

/* ---- Report ---- */

static void report_has_a_chart_and_rows_of_images_newest_first(void **state) {
    const char *dir = test_scratch_dir("report");
    char path[4300], old[4300];
    clg_loss_row *rows = calloc(5000, sizeof *rows);
    int epochs[] = {5, 15, 10};
    clg_report r = {
        .title = "h2z <test>", .rows = rows, .row_count = 5000, .epochs = epochs, .epoch_count = 3};
    char *text, *p;
    FILE *f;
    (void)state;

    for (int i = 0; i < 5000; i++) rows[i] = make_row(i + 1, i / 500 + 1);
    rows[7].loss[2] = NAN;

    /* index.html is a hard link to another file: an atomic update leaves that file alone. */
    snprintf(path, sizeof path, "%s/web", dir);
    CHECK(clg_make_dirs(path));
    snprintf(old, sizeof old, "%s/web/old.html", dir);
    f = fopen(old, "w");
    fputs("old page\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/web/index.html", dir);
    assert_int_equal(link(old, path), 0);

    CHECK(clg_report_update(dir, &r));
    text = read_text(old);
    assert_string_equal(text, "old page\n");
    free(text);
    snprintf(old, sizeof old, "%s/web", dir);
    assert_no_temporaries(old);

    text = read_text(path);
    assert_int_equal(count_of(text, "<svg"), 1);
    assert_int_equal(count_of(text, "<polyline"), 8);
    assert_non_null(strstr(text, "h2z &lt;test&gt;"));
    assert_null(strstr(text, "<script"));
    assert_null(strstr(text, "src=\"http"));
    assert_null(strstr(text, "href=\"http"));
    assert_null(strstr(text, "@import"));
    for (int k = 0; k < CLG_CYCLEGAN_LOSSES; k++) {
        char want[64];
        snprintf(want, sizeof want, "data-loss=\"%s\"", clg_cyclegan_loss_names[k]);
        p = strstr(text, want);
        assert_non_null(p);
        /* At most 1000 points per curve ("x,y " each). */
        p = strstr(p, "points=\"");
        assert_true(count_of(p, ",") - count_of(strstr(p, "\"/>"), ",") == 1000);
        snprintf(want, sizeof want, ">%s</text>", clg_cyclegan_loss_names[k]);
        assert_non_null(strstr(text, want)); /* the legend */
    }
    /* Rows newest first, each with the eight visuals in the reference's order. */
    assert_true(strstr(text, "epoch 15") < strstr(text, "epoch 10"));
    assert_true(strstr(text, "epoch 10") < strstr(text, "epoch 5<"));
    assert_non_null(strstr(text, "src=\"images/epoch015_real_A.png\""));
    assert_true(strstr(text, "epoch005_real_A.png") < strstr(text, "epoch005_fake_B.png"));
    assert_true(strstr(text, "epoch005_rec_B.png") < strstr(text, "epoch005_idt_A.png"));
    assert_int_equal(count_of(text, "<img "), 24);
    free(text);
    free(rows);
}

static void report_finds_saved_epochs_and_handles_no_rows(void **state) {
    const char *dir = test_scratch_dir("report-scan");
    char path[4300];
    const char *labels[] = {"real_A", "fake_B"};
    clg_report r = {.title = "scan", .labels = labels, .label_count = 2};
    char *text;
    (void)state;

    CHECK(clg_report_update(dir, &r)); /* makes web/images */
    for (int e = 1; e <= 3; e++) {
        FILE *f;
        snprintf(path, sizeof path, "%s/web/images/epoch%03d_real_A.png", dir, e * 2);
        f = fopen(path, "w");
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/web/images/notes.txt", dir);
    fclose(fopen(path, "w"));
    CHECK(clg_report_update(dir, &r));
    snprintf(path, sizeof path, "%s/web/index.html", dir);
    text = read_text(path);
    assert_int_equal(count_of(text, "<polyline"), 8);
    assert_int_equal(count_of(text, "<h3>"), 3);
    assert_true(strstr(text, "epoch 6") < strstr(text, "epoch 4"));
    assert_true(strstr(text, "epoch 4") < strstr(text, "epoch 2"));
    assert_non_null(strstr(text, "images/epoch002_fake_B.png"));
    assert_int_equal(count_of(text, "<img "), 6);
    free(text);
}

/* ---- Progress ---- */

static void progress_line_and_bar(void **state) {
    float losses[CLG_CYCLEGAN_LOSSES] = {0.2514f, 0.6123f, 1.5f, 0.75f, 0.25f, 0.5f, 2.0f, 1.0f};
    char line[512], small[16];
    int n;
    (void)state;

    n = clg_progress_format(line, sizeof line, 3, 400, 12.34, 754.0, losses);
    assert_string_equal(line, "(epoch: 3, iters: 400, 12.3 img/s, time left 0:12:34) D_A: 0.251 "
                              "G_A: 0.612 cycle_A: 1.500 idt_A: 0.750 D_B: 0.250 G_B: 0.500 "
                              "cycle_B: 2.000 idt_B: 1.000");
    assert_int_equal(n, (int)strlen(line));
    assert_int_equal(clg_progress_format(small, sizeof small, 3, 400, 12.34, 754.0, losses), n);
    assert_int_equal(strlen(small), sizeof small - 1);
    clg_progress_format(line, sizeof line, 1, 1, 0.0, -1.0, NULL);
    assert_string_equal(line, "(epoch: 1, iters: 1, 0.0 img/s, time left ?)");

    clg_format_duration(90061.4, line, sizeof line);
    assert_string_equal(line, "25:01:01");

    n = clg_progress_bar_format(line, sizeof line, 80, 47, 100, "epoch 3");
    assert_string_equal(line, "\r[############..............]  47% 47/100 epoch 3\033[K");
    assert_int_equal(n, (int)strlen(line));
    /* Long text is cut so the line fits the terminal. */
    n = clg_progress_bar_format(line, sizeof line, 60, 1, 2,
                                "a very long status text that would wrap the terminal line");
    assert_true(strlen(line) - strlen("\r") - strlen("\033[K") <= 59);
    assert_non_null(strstr(line, "]  50% 1/2 a very"));
    clg_progress_bar_format(line, sizeof line, 80, 5, 0, "warming up");
    assert_string_equal(line, "\r5 warming up\033[K");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(train_defaults_are_the_reference_ones),
        cmocka_unit_test(test_and_translate_defaults_follow_test_py),
        cmocka_unit_test(every_type_parses),
        cmocka_unit_test(errors_name_the_option_and_value),
        cmocka_unit_test(help_lists_every_option_with_its_default),
        cmocka_unit_test(opt_txt_marks_changed_values),
        cmocka_unit_test(linear_schedule_matches_lambda_lr),
        cmocka_unit_test(step_and_cosine_match_pytorch),
        cmocka_unit_test(loss_log_appends_reads_and_truncates),
        cmocka_unit_test(loss_log_rejects_damaged_files),
        cmocka_unit_test(report_has_a_chart_and_rows_of_images_newest_first),
        cmocka_unit_test(report_finds_saved_epochs_and_handles_no_rows),
        cmocka_unit_test(progress_line_and_bar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
