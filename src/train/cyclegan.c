/* The CycleGAN model: networks, one training iteration as the reference, checkpoints. */
#include "clgan/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clgan/image_pool.h"
#include "clgan/report.h"

static const char *const net_names[4] = {"G_A", "G_B", "D_A", "D_B"};

/* The step's images, in clg_cyclegan_visual_names order. */
enum { V_REAL_A, V_FAKE_B, V_REC_A, V_IDT_B, V_REAL_B, V_FAKE_A, V_REC_B, V_IDT_A, V_COUNT };

/* Most loss terms one update reads back at once (the generators' six). */
#define MAX_TERMS 6

struct clg_cyclegan {
    clg_device *device;
    clg_cyclegan_options opts;
    clg_module *net[4];
    clg_adam *opt_g, *opt_d;
    clg_image_pool *pool_fake_a, *pool_fake_b;
    clg_rng rng; /* the pools' draws */
    clg_tape *tape;
    clg_var *visuals[V_COUNT];
    clg_tensor *terms;                 /* [MAX_TERMS]: an update's losses, read back together */
    clg_tensor *term_slots[MAX_TERMS]; /* one-element views of terms */
    clg_cyclegan_counters counters;
};

/* ---- Building ---- */

static clg_status create_generator(clg_cyclegan *cg, int in_nc, int out_nc, uint64_t seed,
                                   clg_module **out) {
    const clg_cyclegan_options *o = &cg->opts;
    clg_resnet_generator_options g;

    clg_resnet_generator_defaults(&g);
    g.input_nc = in_nc;
    g.output_nc = out_nc;
    g.ngf = o->ngf;
    g.n_blocks = (int)o->netG;
    g.norm = o->norm;
    g.use_dropout = !o->no_dropout;
    g.init = (clg_init_options){o->init_type, (float)o->init_gain, seed};
    return clg_resnet_generator_create(cg->device, &g, out);
}

static clg_status create_discriminator(clg_cyclegan *cg, int in_nc, uint64_t seed,
                                       clg_module **out) {
    const clg_cyclegan_options *o = &cg->opts;
    clg_nlayer_discriminator_options d;

    clg_nlayer_discriminator_defaults(&d);
    d.input_nc = in_nc;
    d.ndf = o->ndf;
    d.n_layers = o->netD == CLG_NETD_N_LAYERS ? o->n_layers_D : 3;
    d.norm = o->norm;
    d.init = (clg_init_options){o->init_type, (float)o->init_gain, seed};
    if (o->netD == CLG_NETD_PIXEL) return clg_pixel_discriminator_create(cg->device, &d, out);
    return clg_nlayer_discriminator_create(cg->device, &d, out);
}

static clg_status create_optimisers(clg_cyclegan *cg) {
    clg_adam_params p = {(float)cg->opts.lr, (float)cg->opts.beta1, 0.999f, 1e-8f, 0.0f};
    clg_status s = clg_adam_create(2, cg->net, &p, &cg->opt_g);
    return s == CLG_OK ? clg_adam_create(2, cg->net + 2, &p, &cg->opt_d) : s;
}

clg_status clg_cyclegan_create(clg_device *device, const clg_cyclegan_options *opts,
                               clg_cyclegan **out) {
    clg_cyclegan *cg = calloc(1, sizeof *cg);
    uint64_t seed = opts->seed;
    clg_status s;

    if (!cg) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    cg->device = device;
    cg->opts = *opts;
    clg_rng_seed(&cg->rng, seed ^ 0x706f6f6cull); /* "pool" */

    /* G_A: A to B; G_B: B to A; D_A judges B images; D_B judges A images. */
    s = create_generator(cg, opts->input_nc, opts->output_nc, seed * 4 + 1, &cg->net[CLG_NET_G_A]);
    if (s == CLG_OK)
        s = create_generator(cg, opts->output_nc, opts->input_nc, seed * 4 + 2,
                             &cg->net[CLG_NET_G_B]);
    if (s == CLG_OK)
        s = create_discriminator(cg, opts->output_nc, seed * 4 + 3, &cg->net[CLG_NET_D_A]);
    if (s == CLG_OK)
        s = create_discriminator(cg, opts->input_nc, seed * 4 + 4, &cg->net[CLG_NET_D_B]);
    if (s == CLG_OK) s = create_optimisers(cg);
    if (s == CLG_OK) s = clg_image_pool_create(opts->pool_size, &cg->pool_fake_a);
    if (s == CLG_OK) s = clg_image_pool_create(opts->pool_size, &cg->pool_fake_b);
    if (s == CLG_OK) s = clg_tape_create(&cg->tape);
    if (s == CLG_OK) s = clg_tensor_zeros(device, 1, (int[]){MAX_TERMS}, &cg->terms);
    for (int i = 0; s == CLG_OK && i < MAX_TERMS; i++)
        s = clg_tensor_narrow(cg->terms, i, 1, &cg->term_slots[i]);
    cg->counters.epoch = opts->epoch_count;
    if (s != CLG_OK) {
        clg_cyclegan_release(cg);
        return s;
    }
    *out = cg;
    return CLG_OK;
}

static void release_visuals(clg_cyclegan *cg) {
    for (int i = 0; i < V_COUNT; i++) {
        clg_var_release(cg->visuals[i]);
        cg->visuals[i] = NULL;
    }
}

void clg_cyclegan_release(clg_cyclegan *cg) {
    if (!cg) return;
    release_visuals(cg);
    for (int i = 0; i < MAX_TERMS; i++) clg_tensor_release(cg->term_slots[i]);
    clg_tensor_release(cg->terms);
    clg_tape_release(cg->tape);
    clg_image_pool_release(cg->pool_fake_a);
    clg_image_pool_release(cg->pool_fake_b);
    clg_adam_release(cg->opt_g);
    clg_adam_release(cg->opt_d);
    for (int i = 0; i < 4; i++) clg_module_release(cg->net[i]);
    free(cg);
}

clg_module *clg_cyclegan_net(clg_cyclegan *cg, clg_cyclegan_net_id which) {
    return cg->net[which];
}

clg_cyclegan_counters *clg_cyclegan_counters_of(clg_cyclegan *cg) {
    return &cg->counters;
}

void clg_cyclegan_set_lr(clg_cyclegan *cg, double lr) {
    clg_adam_set_lr(cg->opt_g, (float)lr);
    clg_adam_set_lr(cg->opt_d, (float)lr);
}

/* ---- One iteration ---- */

static clg_status gan_loss(const clg_cyclegan *cg, clg_var *prediction, int real, clg_var **out) {
    if (cg->opts.gan_mode == CLG_GAN_VANILLA)
        return clg_ag_bce_logits_loss_const(cg->tape, prediction, real ? 1.0f : 0.0f, out);
    return clg_ag_mse_loss_const(cg->tape, prediction, real ? 1.0f : 0.0f, out);
}

/* D(x) compared with the real or fake label. */
static clg_status judge(clg_cyclegan *cg, clg_cyclegan_net_id d, clg_var *x, int real,
                        clg_var **loss) {
    clg_var *prediction = NULL;
    clg_status s = clg_module_forward(cg->net[d], cg->tape, x, &prediction);
    if (s == CLG_OK) s = gan_loss(cg, prediction, real, loss);
    clg_var_release(prediction);
    return s;
}

/* Gather an update's loss terms on the device, read them back in one transfer, and check them. */
static clg_status read_losses(clg_cyclegan *cg, int count, clg_var *const *vars,
                              const float *scales, const int *index, float *losses) {
    float values[MAX_TERMS];
    int64_t iter = cg->counters.iter + 1;
    clg_status s = CLG_OK;

    for (int i = 0; s == CLG_OK && i < count; i++)
        s = clg_tensor_copy(cg->term_slots[i], clg_var_value(vars[i]));
    if (s == CLG_OK) s = clg_tensor_download(cg->terms, values, MAX_TERMS);
    if (s != CLG_OK) return s;
    for (int i = 0; i < count; i++) losses[index[i]] += values[i] * scales[i];
    for (int i = 0; i < count; i++) {
        if (!isfinite(losses[index[i]]))
            return clg_error(CLG_ERR_NUMERIC, "iteration %lld: loss %s is %g; nothing was updated",
                             (long long)iter, clg_cyclegan_loss_names[index[i]],
                             (double)losses[index[i]]);
    }
    return CLG_OK;
}

static void release_vars(int count, clg_var **vars) {
    for (int i = 0; i < count; i++) {
        clg_var_release(vars[i]);
        vars[i] = NULL;
    }
}

/* The generators' forward passes, kept as the step's visuals. */
static clg_status forward(clg_cyclegan *cg) {
    clg_var **v = cg->visuals;
    clg_status s = clg_module_forward(cg->net[CLG_NET_G_A], cg->tape, v[V_REAL_A], &v[V_FAKE_B]);

    if (s == CLG_OK)
        s = clg_module_forward(cg->net[CLG_NET_G_B], cg->tape, v[V_FAKE_B], &v[V_REC_A]);
    if (s == CLG_OK)
        s = clg_module_forward(cg->net[CLG_NET_G_B], cg->tape, v[V_REAL_B], &v[V_FAKE_A]);
    if (s == CLG_OK)
        s = clg_module_forward(cg->net[CLG_NET_G_A], cg->tape, v[V_FAKE_A], &v[V_REC_B]);
    if (s == CLG_OK && cg->opts.lambda_identity > 0) {
        s = clg_module_forward(cg->net[CLG_NET_G_A], cg->tape, v[V_REAL_B], &v[V_IDT_A]);
        if (s == CLG_OK)
            s = clg_module_forward(cg->net[CLG_NET_G_B], cg->tape, v[V_REAL_A], &v[V_IDT_B]);
    }
    return s;
}

/* The generators' update with both discriminators frozen. */
static clg_status generator_step(clg_cyclegan *cg, float *losses) {
    const clg_cyclegan_options *o = &cg->opts;
    clg_var **v = cg->visuals;
    clg_var *terms[6] = {0};
    int index[6] = {CLG_LOSS_G_A,     CLG_LOSS_G_B,   CLG_LOSS_CYCLE_A,
                    CLG_LOSS_CYCLE_B, CLG_LOSS_IDT_A, CLG_LOSS_IDT_B};
    float scales[6] = {1.0f,
                       1.0f,
                       (float)o->lambda_A,
                       (float)o->lambda_B,
                       (float)(o->lambda_identity * o->lambda_B),
                       (float)(o->lambda_identity * o->lambda_A)};
    int count = o->lambda_identity > 0 ? 6 : 4;
    clg_status s;

    clg_module_set_requires_grad(cg->net[CLG_NET_D_A], 0);
    clg_module_set_requires_grad(cg->net[CLG_NET_D_B], 0);
    s = judge(cg, CLG_NET_D_A, v[V_FAKE_B], 1, &terms[0]);
    if (s == CLG_OK) s = judge(cg, CLG_NET_D_B, v[V_FAKE_A], 1, &terms[1]);
    if (s == CLG_OK) s = clg_ag_l1_loss(cg->tape, v[V_REC_A], v[V_REAL_A], &terms[2]);
    if (s == CLG_OK) s = clg_ag_l1_loss(cg->tape, v[V_REC_B], v[V_REAL_B], &terms[3]);
    if (s == CLG_OK && count == 6) s = clg_ag_l1_loss(cg->tape, v[V_IDT_A], v[V_REAL_B], &terms[4]);
    if (s == CLG_OK && count == 6) s = clg_ag_l1_loss(cg->tape, v[V_IDT_B], v[V_REAL_A], &terms[5]);
    if (s == CLG_OK) s = read_losses(cg, count, terms, scales, index, losses);

    if (s == CLG_OK) {
        clg_adam_zero_grad(cg->opt_g);
        s = clg_tape_backward_many(cg->tape, count, terms, scales);
    }
    if (s == CLG_OK) s = clg_adam_update(cg->opt_g);
    clg_tape_reset(cg->tape);
    release_vars(6, terms);
    clg_module_set_requires_grad(cg->net[CLG_NET_D_A], 1);
    clg_module_set_requires_grad(cg->net[CLG_NET_D_B], 1);
    return s;
}

/* A fake image from the pool, as a variable with no gradient. */
static clg_status pooled_fake(clg_cyclegan *cg, clg_image_pool *pool, clg_var *fake,
                              clg_var **out) {
    clg_tensor *drawn = NULL;
    clg_status s = clg_image_pool_query(pool, &cg->rng, clg_var_value(fake), &drawn);
    return s == CLG_OK ? clg_var_create(drawn, 0, out) : s;
}

/* Both discriminators' updates on real images and pooled fakes; each loss halved. */
static clg_status discriminator_step(clg_cyclegan *cg, float *losses) {
    clg_var **v = cg->visuals;
    clg_var *fake_b = NULL, *fake_a = NULL, *terms[4] = {0};
    int index[4] = {CLG_LOSS_D_A, CLG_LOSS_D_A, CLG_LOSS_D_B, CLG_LOSS_D_B};
    float scales[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    clg_status s = pooled_fake(cg, cg->pool_fake_b, v[V_FAKE_B], &fake_b);

    if (s == CLG_OK) s = judge(cg, CLG_NET_D_A, v[V_REAL_B], 1, &terms[0]);
    if (s == CLG_OK) s = judge(cg, CLG_NET_D_A, fake_b, 0, &terms[1]);
    if (s == CLG_OK) s = pooled_fake(cg, cg->pool_fake_a, v[V_FAKE_A], &fake_a);
    if (s == CLG_OK) s = judge(cg, CLG_NET_D_B, v[V_REAL_A], 1, &terms[2]);
    if (s == CLG_OK) s = judge(cg, CLG_NET_D_B, fake_a, 0, &terms[3]);
    if (s == CLG_OK) s = read_losses(cg, 4, terms, scales, index, losses);

    if (s == CLG_OK) {
        clg_adam_zero_grad(cg->opt_d);
        s = clg_tape_backward_many(cg->tape, 4, terms, scales);
    }
    if (s == CLG_OK) s = clg_adam_update(cg->opt_d);
    clg_tape_reset(cg->tape);
    release_vars(4, terms);
    clg_var_release(fake_a);
    clg_var_release(fake_b);
    return s;
}

clg_status clg_cyclegan_step(clg_cyclegan *cg, const int a_shape[4], const float *real_a,
                             const int b_shape[4], const float *real_b,
                             float losses[CLG_LOSS_COUNT]) {
    clg_status s;

    memset(losses, 0, CLG_LOSS_COUNT * sizeof *losses);
    release_visuals(cg);
    s = clg_var_from_host(cg->device, 4, a_shape, real_a, 0, &cg->visuals[V_REAL_A]);
    if (s == CLG_OK)
        s = clg_var_from_host(cg->device, 4, b_shape, real_b, 0, &cg->visuals[V_REAL_B]);
    for (int i = 0; i < 4; i++) clg_module_set_training(cg->net[i], 1);

    if (s == CLG_OK) s = forward(cg);
    if (s == CLG_OK) s = generator_step(cg, losses);
    if (s == CLG_OK) s = discriminator_step(cg, losses);
    clg_tape_reset(cg->tape);
    if (s == CLG_OK) cg->counters.iter++;
    return s;
}

clg_status clg_cyclegan_visual(clg_cyclegan *cg, int index, clg_image *out) {
    clg_tensor *t, *first = NULL;
    clg_status s;

    memset(out, 0, sizeof *out);
    if (index < 0 || index >= V_COUNT || !cg->visuals[index])
        return clg_error(CLG_ERR_NOT_FOUND, "no %s image from the last step",
                         index >= 0 && index < V_COUNT ? clg_cyclegan_visual_names[index] : "such");
    t = clg_var_value(cg->visuals[index]);
    s = clg_tensor_narrow(t, 0, 1, &first);
    if (s == CLG_OK)
        s = clg_image_create(clg_tensor_dim(t, 3), clg_tensor_dim(t, 2), clg_tensor_dim(t, 1), out);
    if (s == CLG_OK) s = clg_tensor_download(first, out->data, clg_tensor_numel(first));
    clg_tensor_release(first);
    if (s != CLG_OK) {
        clg_image_release(out);
        return s;
    }
    for (size_t i = 0; i < (size_t)out->width * out->height * out->channels; i++)
        out->data[i] = (out->data[i] + 1.0f) * 0.5f;
    return CLG_OK;
}

/* ---- Checkpoints ---- */

static void net_path(const char *dir, const char *label, int net, char *path, size_t size) {
    snprintf(path, size, "%s/%s_net_%s.safetensors", dir, label, net_names[net]);
}

static clg_status save_train_state(clg_cyclegan *cg, const char *path) {
    clg_safetensors *st = NULL;
    char text[128];
    clg_status s = clg_safetensors_create(&st);

    if (s == CLG_OK) s = clg_adam_save(cg->opt_g, "optimizer_G", st);
    if (s == CLG_OK) s = clg_adam_save(cg->opt_d, "optimizer_D", st);
    if (s == CLG_OK) s = clg_image_pool_save(cg->pool_fake_a, "fake_A_pool", st);
    if (s == CLG_OK) s = clg_image_pool_save(cg->pool_fake_b, "fake_B_pool", st);
    snprintf(text, sizeof text, "%016llx%016llx%016llx%016llx", (unsigned long long)cg->rng.s[0],
             (unsigned long long)cg->rng.s[1], (unsigned long long)cg->rng.s[2],
             (unsigned long long)cg->rng.s[3]);
    if (s == CLG_OK) s = clg_safetensors_set_metadata(st, "pool_rng", text);
    snprintf(text, sizeof text, "%lld %lld %d", (long long)cg->counters.iter,
             (long long)cg->counters.batches, cg->counters.epoch);
    if (s == CLG_OK) s = clg_safetensors_set_metadata(st, "counters", text);
    if (s == CLG_OK) s = clg_safetensors_write(st, path);
    clg_safetensors_release(st);
    return s;
}

clg_status clg_cyclegan_save(clg_cyclegan *cg, const char *dir, const char *label,
                             int with_train_state) {
    char path[4096];
    clg_status s = clg_make_dirs(dir);

    for (int i = 0; s == CLG_OK && i < 4; i++) {
        net_path(dir, label, i, path, sizeof path);
        s = clg_module_save_file(cg->net[i], path);
    }
    snprintf(path, sizeof path, "%s/%s_train_state.safetensors", dir, label);
    if (s == CLG_OK && with_train_state) s = save_train_state(cg, path);
    return s;
}

clg_status clg_cyclegan_load_nets(clg_cyclegan *cg, const char *dir, const char *label) {
    char path[4096];
    for (int i = 0; i < 4; i++) {
        clg_status s;
        net_path(dir, label, i, path, sizeof path);
        if ((s = clg_module_load_file(cg->net[i], path)) != CLG_OK) return s;
    }
    return CLG_OK;
}

static clg_status parse_train_state(clg_cyclegan *cg, const clg_safetensors *st, const char *path) {
    const char *rng = clg_safetensors_get_metadata(st, "pool_rng");
    const char *counters = clg_safetensors_get_metadata(st, "counters");
    unsigned long long r[4];
    long long iter, batches;
    int epoch;

    if (!rng || !counters ||
        sscanf(rng, "%16llx%16llx%16llx%16llx", &r[0], &r[1], &r[2], &r[3]) != 4 ||
        sscanf(counters, "%lld %lld %d", &iter, &batches, &epoch) != 3)
        return clg_error(CLG_ERR_FORMAT, "%s: missing or malformed pool_rng or counters", path);
    for (int i = 0; i < 4; i++) cg->rng.s[i] = r[i];
    cg->counters = (clg_cyclegan_counters){iter, batches, epoch};
    return CLG_OK;
}

clg_status clg_cyclegan_resume(clg_cyclegan *cg, const char *dir, const char *label) {
    char path[4096];
    clg_safetensors *st = NULL;
    clg_status s = clg_cyclegan_load_nets(cg, dir, label);

    snprintf(path, sizeof path, "%s/%s_train_state.safetensors", dir, label);
    if (s == CLG_OK) s = clg_safetensors_read(path, &st);
    if (s == CLG_OK) s = clg_adam_load(cg->opt_g, "optimizer_G", st);
    if (s == CLG_OK) s = clg_adam_load(cg->opt_d, "optimizer_D", st);
    if (s == CLG_OK) s = clg_image_pool_load(cg->pool_fake_a, cg->device, "fake_A_pool", st);
    if (s == CLG_OK) s = clg_image_pool_load(cg->pool_fake_b, cg->device, "fake_B_pool", st);
    if (s == CLG_OK) s = parse_train_state(cg, st, path);
    clg_safetensors_release(st);
    return s;
}

/* ---- Translation ---- */

/* Copy in to a [1, C, H', W'] host array in [-1, 1], H' and W' multiples of 4, reflected. */
static float *pad_to_multiple_of_4(const clg_image *in, int *ph, int *pw) {
    int h = (in->height + 3) / 4 * 4, w = (in->width + 3) / 4 * 4;
    float *out = malloc((size_t)in->channels * h * w * sizeof *out);

    if (!out) return NULL;
    for (int c = 0; c < in->channels; c++) {
        for (int y = 0; y < h; y++) {
            int sy = y < in->height ? y : 2 * (in->height - 1) - y;
            for (int x = 0; x < w; x++) {
                int sx = x < in->width ? x : 2 * (in->width - 1) - x;
                float v = in->data[((size_t)c * in->height + sy) * in->width + sx];
                out[((size_t)c * h + y) * w + x] = v * 2.0f - 1.0f;
            }
        }
    }
    *ph = h;
    *pw = w;
    return out;
}

static clg_status crop_output(const clg_tensor *y, int h, int w, const clg_image *in,
                              clg_image *out) {
    size_t n = clg_tensor_numel(y);
    int channels = clg_tensor_dim(y, 1);
    float *host = malloc(n * sizeof *host);
    clg_status s = host ? clg_tensor_download(y, host, n)
                        : clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");

    if (s == CLG_OK) s = clg_image_create(in->width, in->height, channels, out);
    for (int c = 0; s == CLG_OK && c < channels; c++)
        for (int yy = 0; yy < in->height; yy++)
            for (int x = 0; x < in->width; x++)
                out->data[((size_t)c * in->height + yy) * in->width + x] =
                    (host[((size_t)c * h + yy) * w + x] + 1.0f) * 0.5f;
    free(host);
    return s;
}

clg_status clg_generator_translate(clg_device *device, clg_module *generator, const clg_image *in,
                                   clg_image *out) {
    const char *input_nc = clg_module_get_metadata(generator, "input_nc");
    clg_var *x = NULL, *y = NULL;
    int h = 0, w = 0;
    float *padded;
    clg_status s;

    memset(out, 0, sizeof *out);
    if (input_nc && atoi(input_nc) != in->channels)
        return clg_error(CLG_ERR_SHAPE, "the image has %d channels; the generator takes %s",
                         in->channels, input_nc);
    if (in->width < 8 || in->height < 8)
        return clg_error(CLG_ERR_SHAPE,
                         "a %dx%d image is too small for the generator: it needs at least 8 "
                         "pixels on each side",
                         in->width, in->height);
    padded = pad_to_multiple_of_4(in, &h, &w);
    if (!padded) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    clg_module_set_training(generator, 0);
    s = clg_var_from_host(device, 4, (int[]){1, in->channels, h, w}, padded, 0, &x);
    free(padded);
    if (s == CLG_OK) s = clg_module_forward(generator, NULL, x, &y);
    if (s == CLG_OK) s = crop_output(clg_var_value(y), h, w, in, out);
    clg_var_release(x);
    clg_var_release(y);
    return s;
}
