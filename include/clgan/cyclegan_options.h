/* The CycleGAN programs' options, parsed like the reference's, and its learning-rate schedules. */
#ifndef CLGAN_CYCLEGAN_OPTIONS_H
#define CLGAN_CYCLEGAN_OPTIONS_H

/*
 * clg_cyclegan_options holds every option of the CycleGAN programs, named
 * and defaulted as in the PyTorch reference (pytorch-CycleGAN-and-pix2pix:
 * base_options.py, train_options.py, test_options.py, and cycle_gan's own
 * defaults), plus a few of clgan's own (device, seed, max_iters, init_from,
 * and the translator's model, input and output). Three programs share it;
 * each accepts the options of its mode only:
 *
 *   CLG_CYCLEGAN_TRAIN      train.py's options
 *   CLG_CYCLEGAN_TEST       test.py's options (phase test, load_size 256 so
 *                           nothing is cropped, num_test 50, results_dir)
 *   CLG_CYCLEGAN_TRANSLATE  one generator file run over an image or folder
 *
 * clg_cyclegan_options_parse() reads "--name value", "--name=value" and
 * flags ("--no_flip"; "--no_flip=false" turns a flag off again). The last
 * occurrence of an option wins. A bad value, an unknown option, or one that
 * belongs to another mode is CLG_ERR_INVALID_ARGUMENT with a message naming
 * the option and the value; a choice the reference offers but clgan does not
 * implement (--lr_policy plateau, --gan_mode wgangp, --netG unet_256) is
 * CLG_ERR_UNSUPPORTED. "--help" or "-h" sets help and stops parsing: print
 * clg_cyclegan_options_help() and exit. A few reference options that make
 * no sense here (--gpu_ids, --display_id, ...) are accepted with a warning
 * so reference command lines keep working.
 *
 * Strings in the struct point into argv or to static text: keep argv alive
 * as long as the options. Nothing needs to be released.
 *
 * Reference details kept on purpose:
 * - no_dropout is on by default: the reference's cycle_gan model sets it,
 *   since the CycleGAN paper used no dropout. "--no_dropout=false" turns
 *   dropout (p 0.5 in each ResNet block) on.
 * - In test mode batch_size is 1, and serial_batches and no_flip are on, as
 *   test.py forces them; the test program does not accept those options.
 * - lr_policy's reference name for the linear decay is "linear" (older
 *   versions said "lambda", which is accepted as the same thing).
 *
 * clg_cyclegan_options_write() saves the options as the reference's opt.txt
 * (one "name: value" line each, sorted, with "[default: x]" where a value
 * was changed); the reference names that file <phase>_opt.txt inside
 * <checkpoints_dir>/<name>.
 *
 * Learning rates follow the reference's get_scheduler(); see clg_lr_after_steps().
 */

#include <stdint.h>
#include <stdio.h>

#include "clgan/dataset.h"
#include "clgan/nn.h"
#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clg_cyclegan_mode {
    CLG_CYCLEGAN_TRAIN = 1,
    CLG_CYCLEGAN_TEST = 2,
    CLG_CYCLEGAN_TRANSLATE = 4
} clg_cyclegan_mode;

/* The generator: a ResNet with this many residual blocks. */
typedef enum clg_netg_type {
    CLG_NETG_RESNET_6BLOCKS = 6,
    CLG_NETG_RESNET_9BLOCKS = 9
} clg_netg_type;

/* The discriminator: basic is the 70x70 PatchGAN, n_layers one with n_layers_D layers. */
typedef enum clg_netd_type { CLG_NETD_BASIC, CLG_NETD_N_LAYERS, CLG_NETD_PIXEL } clg_netd_type;

/* The GAN objective: least squares (MSE against 1 and 0) or cross-entropy on logits. */
typedef enum clg_gan_mode { CLG_GAN_LSGAN, CLG_GAN_VANILLA } clg_gan_mode;

typedef enum clg_lr_policy { CLG_LR_LINEAR, CLG_LR_STEP, CLG_LR_COSINE } clg_lr_policy;

typedef struct clg_cyclegan_options {
    clg_cyclegan_mode mode;
    int help; /* --help was given; nothing after it was read */

    /* Where things are. */
    const char *dataroot;        /* holds trainA, trainB, testA, testB (required: train, test) */
    const char *name;            /* "experiment_name": <checkpoints_dir>/<name> */
    const char *checkpoints_dir; /* "./checkpoints" */
    const char *results_dir;     /* test: "./results" */
    const char *phase;           /* "train"; test: "test" */
    const char *epoch;           /* weights to load: "latest" or an epoch number */
    const char *init_from;       /* train: a folder of weights to start from (NULL) */
    const char *model;           /* translate: a generator .safetensors file (required) */
    const char *input;           /* translate: an image or a folder of images (required) */
    const char *output;          /* translate: the folder for the results (required) */
    const char *device;          /* an OpenCL device selector (NULL: CLGAN_DEVICE or default) */
    uint64_t seed;               /* every random draw comes from it (0) */
    int verbose;

    /* The networks. */
    int input_nc, output_nc; /* 3, 3 */
    int ngf, ndf;            /* 64, 64 */
    clg_netg_type netG;      /* resnet_9blocks */
    clg_netd_type netD;      /* basic */
    int n_layers_D;          /* 3 */
    clg_norm_type norm;      /* instance */
    clg_init_type init_type; /* normal */
    double init_gain;        /* 0.02 */
    int no_dropout;          /* 1 (see above) */

    /* The data. */
    int direction_btoa;        /* --direction BtoA */
    int serial_batches;        /* train: 0; test: 1 */
    int batch_size;            /* 1 */
    int load_size, crop_size;  /* 286, 256; test and translate: 256, 256 */
    clg_preprocess preprocess; /* resize_and_crop */
    int no_flip;               /* train: 0; test: 1 */

    /* Training. */
    clg_gan_mode gan_mode;   /* lsgan */
    double lambda_A;         /* 10: cycle loss A -> B -> A */
    double lambda_B;         /* 10: cycle loss B -> A -> B */
    double lambda_identity;  /* 0.5, times lambda_A or lambda_B; 0 leaves identity out */
    int pool_size;           /* 50 */
    double lr, beta1;        /* 0.0002, 0.5 */
    clg_lr_policy lr_policy; /* linear */
    int lr_decay_iters;      /* 50: epochs between step decays */
    int n_epochs;            /* 100 at the initial rate */
    int n_epochs_decay;      /* 100 decaying to zero */
    int epoch_count;         /* 1: the number of the first epoch */
    int save_epoch_freq;     /* 5 epochs */
    int save_latest_freq;    /* 5000 iterations */
    int print_freq;          /* 100 iterations */
    int continue_train;      /* load <epoch> weights and carry on */
    int64_t max_iters;       /* stop after this many iterations (0: no limit) */

    /* Testing. */
    int num_test;        /* 50 images */
    double aspect_ratio; /* 1.0: result width / height */
} clg_cyclegan_options;

/* The defaults of mode: the reference's, with test.py's changes for TEST and TRANSLATE. */
void clg_cyclegan_options_default(clg_cyclegan_mode mode, clg_cyclegan_options *opts);

/*
 * Fill opts with mode's defaults, then apply argv[1 .. argc-1]. On success
 * either opts->help is set, or every required option of the mode is there.
 */
clg_status clg_cyclegan_options_parse(clg_cyclegan_mode mode, int argc, char **argv,
                                      clg_cyclegan_options *opts);

/* "Usage: <program> [options]" and every option of mode with its default and choices. */
void clg_cyclegan_options_help(clg_cyclegan_mode mode, const char *program, FILE *out);

/* Write the options, as the reference's opt.txt, to path atomically (folders made as needed). */
clg_status clg_cyclegan_options_write(const clg_cyclegan_options *opts, const char *path);

/* The reference's name of an option's current value ("resnet_9blocks", "0.0002", "True"). */
clg_status clg_cyclegan_option_text(const clg_cyclegan_options *opts, const char *option, char *buf,
                                    size_t size);

/*
 * Learning rates, as the reference's get_scheduler(opt), for an Adam whose
 * initial rate is opts->lr, after the scheduler has been stepped `steps`
 * times since it was made (PyTorch's last_epoch):
 *   linear  lr * (1 - max(0, steps + epoch_count - n_epochs) / (n_epochs_decay + 1))
 *   step    lr * 0.1^floor(steps / lr_decay_iters)                    (StepLR)
 *   cosine  lr * (1 + cos(pi * steps / n_epochs)) / 2   (CosineAnnealingLR, T_max n_epochs,
 *           eta_min 0; past T_max it rises again, as PyTorch's does)
 * Step and cosine are computed step by step as PyTorch updates them, so the
 * doubles agree with the reference's to the last bit or nearly. Only linear
 * looks at epoch_count, so only linear carries on where it was when a run is
 * resumed with --epoch_count; step and cosine start over, as in the reference.
 */
double clg_lr_after_steps(const clg_cyclegan_options *opts, int steps);

/*
 * The learning rate used while training epoch `epoch`, numbered as the
 * reference's train.py loop (epoch_count, epoch_count + 1, ... up to
 * n_epochs + n_epochs_decay): clg_lr_after_steps(opts, epoch - epoch_count).
 * This is the convention of stepping the scheduler once at the end of each
 * epoch: the first epoch runs at the initial rate and, with the defaults,
 * epochs 1-100 run at lr, epoch 101 at lr * 100/101 and epoch 200 at
 * lr * 1/101. (Reference versions of 2020-2024 stepped at the start of each
 * epoch instead, one step ahead: clg_lr_after_steps(opts, epoch - epoch_count + 1).)
 */
double clg_lr_for_epoch(const clg_cyclegan_options *opts, int epoch);

#ifdef __cplusplus
}
#endif

#endif
