/* clgan-cyclegan: train CycleGAN on two image folders, translate images, test on a dataroot. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clgan.h"
#include "clgan/cyclegan_options.h"
#include "clgan/report.h"
#include "clgan/train.h"

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what) {
    fprintf(stderr, "clgan-cyclegan: %s%s%s\n", what, *what ? ": " : "", clg_last_error());
    return 1;
}

/* ---- Training ---- */

typedef struct trainer {
    const clg_cyclegan_options *opts;
    clg_device *device;
    clg_dataset *data;
    clg_cyclegan *cg;
    clg_loss_log *log;
    char dir[4096]; /* <checkpoints_dir>/<name> */
    int64_t total_iters;
    double started;
    int64_t started_iter;
    float last_losses[CLG_LOSS_COUNT];
} trainer;

static void dataset_options(const clg_cyclegan_options *o, clg_dataset_options *d) {
    clg_dataset_options_default(d);
    d->dataroot = o->dataroot;
    d->phase = o->phase;
    d->direction_btoa = o->direction_btoa;
    d->input_nc = o->input_nc;
    d->output_nc = o->output_nc;
    d->load_size = o->load_size;
    d->crop_size = o->crop_size;
    d->preprocess = o->preprocess;
    d->no_flip = o->no_flip;
    d->serial_batches = o->serial_batches;
    d->batch_size = o->batch_size;
    d->seed = o->seed;
}

/* Write the last step's images and rewrite the HTML report. */
static clg_status write_report(trainer *t, int epoch) {
    char path[4400];
    clg_loss_row *rows = NULL;
    size_t count = 0;
    clg_status s = CLG_OK;

    snprintf(path, sizeof path, "%s/web/images", t->dir);
    if ((s = clg_make_dirs(path)) != CLG_OK) return s;
    for (int i = 0; i < CLG_CYCLEGAN_VISUALS; i++) {
        clg_image img;
        if (clg_cyclegan_visual(t->cg, i, &img) != CLG_OK) continue; /* idt_* without identity */
        snprintf(path, sizeof path, "%s/web/images/epoch%03d_%s.png", t->dir, epoch,
                 clg_cyclegan_visual_names[i]);
        s = clg_image_save_png(path, &img);
        clg_image_release(&img);
        if (s != CLG_OK) return s;
    }
    snprintf(path, sizeof path, "%s/loss_log.csv", t->dir);
    if ((s = clg_loss_log_read(path, &rows, &count)) != CLG_OK) return s;
    s = clg_report_update(t->dir,
                          &(clg_report){.title = t->opts->name, .rows = rows, .row_count = count});
    free(rows);
    return s;
}

static clg_status save(trainer *t, const char *label) {
    return clg_cyclegan_save(t->cg, t->dir, label, strcmp(label, "latest") == 0);
}

static void print_progress(trainer *t, const float *losses, int final) {
    const clg_cyclegan_options *o = t->opts;
    clg_cyclegan_counters *c = clg_cyclegan_counters_of(t->cg);
    int64_t per_epoch = (int64_t)clg_dataset_batches_per_epoch(t->data);
    int64_t total = per_epoch * (o->n_epochs + o->n_epochs_decay - o->epoch_count + 1);
    double elapsed = now_seconds() - t->started;
    double rate = (c->iter - t->started_iter) / (elapsed > 0 ? elapsed : 1e-9);
    char line[512];

    if (o->max_iters > 0 && o->max_iters < total) total = o->max_iters;
    clg_progress_format(line, sizeof line, c->epoch, c->iter * o->batch_size, rate * o->batch_size,
                        rate > 0 ? (total - c->iter) / rate : -1, losses);
    if (isatty(STDERR_FILENO) && !final) {
        clg_progress_bar_print(stderr, 100, c->iter, total, line);
        return;
    }
    if (isatty(STDERR_FILENO)) clg_progress_bar_clear(stderr);
    printf("%s\n", line);
    fflush(stdout);
}

/* One iteration: the batch, the step, the log row and the periodic saves. */
static clg_status iterate(trainer *t, int *epoch_done) {
    const clg_cyclegan_options *o = t->opts;
    clg_cyclegan_counters *c = clg_cyclegan_counters_of(t->cg);
    float losses[CLG_LOSS_COUNT];
    clg_loss_row row;
    clg_batch batch;
    clg_status s = clg_dataset_next(t->data, &batch);

    if (s != CLG_OK) return s;
    c->batches++;
    clg_cyclegan_set_lr(t->cg, clg_lr_for_epoch(o, c->epoch));
    s = clg_cyclegan_step(t->cg, batch.a_shape, batch.a, batch.b_shape, batch.b, losses);
    if (s != CLG_OK) return s;

    memcpy(t->last_losses, losses, sizeof t->last_losses);
    row.iter = c->iter;
    row.epoch = c->epoch;
    memcpy(row.loss, losses, sizeof row.loss);
    if ((s = clg_loss_log_append(t->log, &row)) != CLG_OK) return s;
    if (c->iter % o->print_freq == 0) print_progress(t, losses, 0);
    if ((c->iter * o->batch_size) % o->save_latest_freq == 0 && (s = save(t, "latest")) != CLG_OK)
        return s;
    *epoch_done = batch.epoch_done;
    return CLG_OK;
}

static clg_status end_epoch(trainer *t) {
    clg_cyclegan_counters *c = clg_cyclegan_counters_of(t->cg);
    char label[32];
    int finished = c->epoch;
    clg_status s = CLG_OK;

    c->epoch++;
    if (finished % t->opts->save_epoch_freq != 0) return CLG_OK;
    snprintf(label, sizeof label, "%d", finished);
    printf("saving the model at the end of epoch %d, iters %lld\n", finished,
           (long long)c->iter * t->opts->batch_size);
    if ((s = save(t, "latest")) == CLG_OK) s = save(t, label);
    return s == CLG_OK ? write_report(t, finished) : s;
}

static int training_done(const trainer *t) {
    const clg_cyclegan_options *o = t->opts;
    const clg_cyclegan_counters *c = clg_cyclegan_counters_of(t->cg);
    if (o->max_iters > 0 && c->iter >= o->max_iters) return 1;
    return c->epoch > o->n_epochs + o->n_epochs_decay;
}

/* Restore a stopped run, or start from given weights; then replay the data drawn so far. */
static clg_status prepare(trainer *t) {
    const clg_cyclegan_options *o = t->opts;
    clg_cyclegan_counters *c = clg_cyclegan_counters_of(t->cg);
    clg_status s = CLG_OK;
    clg_batch skipped;

    if (o->continue_train) {
        s = clg_cyclegan_resume(t->cg, t->dir, o->epoch);
        if (s == CLG_OK)
            printf("resuming %s at iteration %lld, epoch %d\n", t->dir, (long long)c->iter,
                   c->epoch);
    } else if (o->init_from) {
        s = clg_cyclegan_load_nets(t->cg, o->init_from, "latest");
    }
    for (int64_t i = 0; s == CLG_OK && i < c->batches; i++) s = clg_dataset_next(t->data, &skipped);
    return s;
}

static clg_status open_trainer(trainer *t) {
    const clg_cyclegan_options *o = t->opts;
    clg_dataset_options d;
    char path[4400];
    clg_status s;

    snprintf(t->dir, sizeof t->dir, "%s/%s", o->checkpoints_dir, o->name);
    dataset_options(o, &d);
    s = clg_device_open(o->device, &t->device);
    if (s == CLG_OK) s = clg_dataset_open(&d, &t->data);
    if (s == CLG_OK) s = clg_cyclegan_create(t->device, o, &t->cg);
    if (s == CLG_OK) s = prepare(t);
    snprintf(path, sizeof path, "%s/train_opt.txt", t->dir);
    if (s == CLG_OK) s = clg_cyclegan_options_write(o, path);
    snprintf(path, sizeof path, "%s/loss_log.csv", t->dir);
    if (s == CLG_OK) s = clg_loss_log_open(path, clg_cyclegan_counters_of(t->cg)->iter, &t->log);
    return s;
}

static void close_trainer(trainer *t) {
    clg_loss_log_close(t->log);
    clg_cyclegan_release(t->cg);
    clg_dataset_close(t->data);
    clg_device_release(t->device);
}

static int train(const clg_cyclegan_options *opts) {
    trainer t = {.opts = opts};
    clg_status s = open_trainer(&t);

    if (s == CLG_OK) {
        printf("training on %s: %zu images per epoch, checkpoints in %s\n",
               clg_device_get_info(t.device)->name, clg_dataset_size(t.data), t.dir);
        t.started = now_seconds();
        t.started_iter = clg_cyclegan_counters_of(t.cg)->iter;
    }
    while (s == CLG_OK && !training_done(&t)) {
        int epoch_done = 0;
        s = iterate(&t, &epoch_done);
        if (s == CLG_OK && epoch_done) s = end_epoch(&t);
    }
    if (s == CLG_OK) s = save(&t, "latest");
    if (s == CLG_OK) s = write_report(&t, clg_cyclegan_counters_of(t.cg)->epoch);
    if (s == CLG_OK) {
        if (clg_cyclegan_counters_of(t.cg)->iter % opts->print_freq != 0)
            print_progress(&t, t.last_losses, 1);
        printf("done: checkpoints in %s, report in %s/web/index.html\n", t.dir, t.dir);
    }
    close_trainer(&t);
    return s == CLG_OK ? 0 : fail("training stopped");
}

/* ---- Translation ---- */

static clg_status load_generator(clg_device *dev, const clg_cyclegan_options *o, const char *path,
                                 int in_nc, int out_nc, clg_module **g) {
    clg_safetensors *st = NULL;
    clg_resnet_generator_options go;
    clg_status s = clg_safetensors_read(path, &st);

    /* A file with clgan's metadata describes its network; a bare PyTorch one needs the options. */
    if (s == CLG_OK && clg_safetensors_get_metadata(st, "arch"))
        s = clg_model_create_from_metadata(dev, st, g);
    else if (s == CLG_OK) {
        clg_resnet_generator_defaults(&go);
        go.input_nc = in_nc;
        go.output_nc = out_nc;
        go.ngf = o->ngf;
        go.n_blocks = (int)o->netG;
        go.norm = o->norm;
        s = clg_resnet_generator_create(dev, &go, g);
    }
    if (s == CLG_OK) s = clg_module_load_state(*g, st, "");
    clg_safetensors_release(st);
    return s;
}

static const char *base_name(const char *path, char *buf, size_t size) {
    const char *slash = strrchr(path, '/');
    char *dot;
    snprintf(buf, size, "%s", slash ? slash + 1 : path);
    if ((dot = strrchr(buf, '.')) != NULL) *dot = '\0';
    return buf;
}

/* Translate one file into <folder>/<base><suffix>.png. */
static clg_status translate_file(clg_device *dev, clg_module *g, int channels, const char *path,
                                 const char *folder, const char *suffix) {
    clg_image in = {0}, out = {0};
    char base[1024], target[4096 + 1100];
    clg_status s = clg_image_load(path, channels, &in);

    if (s == CLG_OK) s = clg_generator_translate(dev, g, &in, &out);
    snprintf(target, sizeof target, "%s/%s%s.png", folder, base_name(path, base, sizeof base),
             suffix);
    if (s == CLG_OK) s = clg_image_save_png(target, &out);
    if (s != CLG_OK && !strstr(clg_last_error(), path)) {
        char message[2048];
        snprintf(message, sizeof message, "%s", clg_last_error());
        clg_error(s, "%s: %s", path, message);
    }
    clg_image_release(&in);
    clg_image_release(&out);
    return s;
}

static int is_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int translate(const clg_cyclegan_options *o) {
    clg_device *dev = NULL;
    clg_module *g = NULL;
    clg_path_list list = {0};
    int channels = o->input_nc;
    clg_status s = clg_device_open(o->device, &dev);

    if (s == CLG_OK) s = load_generator(dev, o, o->model, o->input_nc, o->output_nc, &g);
    if (s == CLG_OK && clg_module_get_metadata(g, "input_nc"))
        channels = atoi(clg_module_get_metadata(g, "input_nc"));
    if (s == CLG_OK) s = clg_make_dirs(o->output);
    if (s == CLG_OK && is_folder(o->input)) {
        s = clg_dataset_list_images(o->input, &list);
        for (size_t i = 0; s == CLG_OK && i < list.count; i++)
            s = translate_file(dev, g, channels, list.paths[i], o->output, "");
        if (s == CLG_OK) printf("translated %zu images into %s\n", list.count, o->output);
    } else if (s == CLG_OK) {
        s = translate_file(dev, g, channels, o->input, o->output, "");
        if (s == CLG_OK) printf("translated %s into %s\n", o->input, o->output);
    }
    clg_path_list_release(&list);
    clg_module_release(g);
    clg_device_release(dev);
    return s == CLG_OK ? 0 : fail("translate");
}

/* ---- Test: translate a dataroot's testA with G_A and testB with G_B ---- */

static clg_status test_side(clg_device *dev, const clg_cyclegan_options *o, const char *net,
                            const char *side, int in_nc, int out_nc, const char *results) {
    char path[4400], folder[4400];
    const char *suffix = strcmp(net, "G_A") == 0 ? "_fake_B" : "_fake_A";
    clg_module *g = NULL;
    clg_path_list list = {0};
    clg_status s;

    snprintf(path, sizeof path, "%s/%s/%s_net_%s.safetensors", o->checkpoints_dir, o->name,
             o->epoch, net);
    snprintf(folder, sizeof folder, "%s/%s%s", o->dataroot, o->phase, side);
    s = load_generator(dev, o, path, in_nc, out_nc, &g);
    if (s == CLG_OK) s = clg_dataset_list_images(folder, &list);
    for (size_t i = 0; s == CLG_OK && i < list.count && (int)i < o->num_test; i++)
        s = translate_file(dev, g, in_nc, list.paths[i], results, suffix);
    if (s == CLG_OK)
        printf("%s: translated %zu images of %s into %s\n", net,
               list.count < (size_t)o->num_test ? list.count : (size_t)o->num_test, folder,
               results);
    clg_path_list_release(&list);
    clg_module_release(g);
    return s;
}

static int test(const clg_cyclegan_options *o) {
    clg_device *dev = NULL;
    char results[4400];
    clg_status s = clg_device_open(o->device, &dev);

    snprintf(results, sizeof results, "%s/%s/%s_%s/images", o->results_dir, o->name, o->phase,
             o->epoch);
    if (s == CLG_OK) s = clg_make_dirs(results);
    if (s == CLG_OK) s = test_side(dev, o, "G_A", "A", o->input_nc, o->output_nc, results);
    if (s == CLG_OK) s = test_side(dev, o, "G_B", "B", o->output_nc, o->input_nc, results);
    clg_device_release(dev);
    return s == CLG_OK ? 0 : fail("test");
}

/* ---- Main ---- */

static void usage(FILE *out) {
    fprintf(out, "usage: clgan-cyclegan train|translate|test [options]\n"
                 "       clgan-cyclegan COMMAND --help   lists the options of COMMAND\n"
                 "\n"
                 "  train      train CycleGAN on <dataroot>/trainA and trainB\n"
                 "  translate  run a generator on an image or a folder of images\n"
                 "  test       translate <dataroot>/testA and testB with a trained model\n");
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        clg_cyclegan_mode mode;
        int (*run)(const clg_cyclegan_options *);
    } commands[] = {{"train", CLG_CYCLEGAN_TRAIN, train},
                    {"translate", CLG_CYCLEGAN_TRANSLATE, translate},
                    {"test", CLG_CYCLEGAN_TEST, test}};
    clg_cyclegan_options opts;
    char program[64];

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0) continue;
        snprintf(program, sizeof program, "clgan-cyclegan %s", commands[i].name);
        if (clg_cyclegan_options_parse(commands[i].mode, argc - 1, argv + 1, &opts) != CLG_OK) {
            fprintf(stderr, "%s: %s\n", program, clg_last_error());
            return 2;
        }
        if (opts.help) {
            clg_cyclegan_options_help(commands[i].mode, program, stdout);
            return 0;
        }
        if (opts.verbose) clg_log_set_callback(clg_log_stderr, NULL);
        return commands[i].run(&opts);
    }
    fprintf(stderr, "clgan-cyclegan: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
