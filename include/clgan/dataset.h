/* Unaligned image-folder datasets for CycleGAN, with the reference's preprocessing. */
#ifndef CLGAN_DATASET_H
#define CLGAN_DATASET_H

/*
 * A clg_dataset is the "unaligned" dataset of the PyTorch CycleGAN reference:
 * two folders, <dataroot>/<phase>A and <dataroot>/<phase>B, of unpaired
 * images. Each folder is listed recursively and sorted by path, keeping files
 * whose extension (any case) is one stb_image decodes: png jpg jpeg bmp tga
 * gif psd hdr pic pnm ppm pgm. (The reference also takes tif/tiff; stb_image
 * does not read them, so they are not listed.) clg_dataset_open() lists the
 * folders and checks the options; images are decoded only when needed.
 *
 * An epoch has max(|A|, |B|) items. Item i pairs A[i mod |A|] with
 * B[i mod |B|] when serial_batches is set, and with a B drawn at random
 * otherwise. Unless serial_batches is set, the item order is shuffled anew
 * each epoch, as the reference's DataLoader does. Batches hold batch_size
 * items; like the reference (drop_last false), an epoch's last batch keeps
 * the leftover items and may be smaller. Epochs follow one another forever.
 *
 * Each image is preprocessed as the reference's get_transform: converted to
 * the side's channel count (1: PIL luminance, 3: RGB; transparency on white);
 * resized (load_size square for RESIZE_AND_CROP; width load_size keeping the
 * aspect, height at least crop_size, for the SCALE_WIDTH modes; sides rounded
 * to a multiple of 4 for NONE); randomly cropped to crop_size square for the
 * *CROP modes; mirrored with probability 1/2 unless no_flip; then mapped from
 * [0, 1] to [-1, 1]. An image smaller than the crop is CLG_ERR_SHAPE naming
 * the file. Without a crop, images of different sizes cannot share a batch
 * and are CLG_ERR_SHAPE as well (the reference's collate fails likewise).
 *
 * clg_dataset_next() returns the next batch as N-C-H-W floats: a holds the
 * model's A side (input_nc channels) and b its B side (output_nc channels);
 * direction_btoa swaps the folders, so a then comes from <phase>B. A worker
 * thread decodes and augments the following batch while the caller works on
 * the current one. Errors in the worker (a file that does not decode, wrong
 * sizes) come back from the next clg_dataset_next() call with the file
 * named, after the batches completed before it; the dataset then keeps
 * returning that error. All chance comes from one clg_rng seeded with seed
 * and drawn in a fixed order, so the same options give the same batches
 * whatever the thread timing.
 */

#include <stddef.h>
#include <stdint.h>

#include "clgan/image.h"
#include "clgan/rng.h"
#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum clg_preprocess {
    CLG_PREPROCESS_RESIZE_AND_CROP, /* load_size square, then a random crop_size square */
    CLG_PREPROCESS_CROP,            /* a random crop_size square of the original */
    CLG_PREPROCESS_SCALE_WIDTH,     /* width to load_size, height in proportion (>= crop_size) */
    CLG_PREPROCESS_SCALE_WIDTH_AND_CROP, /* that, then a random crop_size square */
    CLG_PREPROCESS_NONE                  /* only round the sides to a multiple of 4 */
} clg_preprocess;

typedef struct clg_dataset_options {
    const char *dataroot;     /* holds <phase>A and <phase>B */
    const char *phase;        /* "train" */
    int direction_btoa;       /* nonzero: the model's A side comes from <phase>B */
    int input_nc, output_nc;  /* channels of the A and B sides: 1 or 3 (3, 3) */
    int load_size, crop_size; /* (286, 256) */
    clg_preprocess preprocess;
    int no_flip;        /* nonzero: never mirror */
    int serial_batches; /* nonzero: no shuffling, B in order */
    int batch_size;     /* (1) */
    uint64_t seed;
} clg_dataset_options;

/* The reference's training defaults: train, AtoB, 3/3 channels, 286/256, resize_and_crop. */
void clg_dataset_options_default(clg_dataset_options *opts);

/* The mode for a reference --preprocess name ("resize_and_crop", "none", ...). */
clg_status clg_preprocess_parse(const char *name, clg_preprocess *mode);

/* The reference's name of a mode. */
const char *clg_preprocess_name(clg_preprocess mode);

/* A list of file paths; release with clg_path_list_release(). */
typedef struct clg_path_list {
    size_t count;
    char **paths;
} clg_path_list;

/*
 * The image files under folder, recursively, sorted by path. A folder that
 * does not exist, or holds no image, is CLG_ERR_NOT_FOUND naming it.
 */
clg_status clg_dataset_list_images(const char *folder, clg_path_list *list);

void clg_path_list_release(clg_path_list *list);

/*
 * Load path with channels (1 or 3) and apply the preprocessing of opts
 * (resize, crop, flip, drawing from rng in the dataset's order), leaving the
 * values in [0, 1]. For translating single images with training's transform.
 */
clg_status clg_dataset_load_image(const clg_dataset_options *opts, const char *path, int channels,
                                  clg_rng *rng, clg_image *img);

typedef struct clg_dataset clg_dataset;

/* One batch, owned by the dataset and valid until the next clg_dataset_next() or close. */
typedef struct clg_batch {
    int size;                   /* items: batch_size, or fewer in an epoch's last batch */
    int a_shape[4];             /* N, C, H, W of a */
    int b_shape[4];             /* N, C, H, W of b */
    const float *a;             /* the model's A side, in [-1, 1] */
    const float *b;             /* the model's B side, in [-1, 1] */
    const char *const *a_paths; /* size source files of a */
    const char *const *b_paths; /* size source files of b */
    long epoch;                 /* 0 for the first epoch */
    long index;                 /* batch number within the epoch */
    int epoch_done;             /* nonzero for the epoch's last batch */
} clg_batch;

/* List the folders, check the options and start the worker on the first batch. */
clg_status clg_dataset_open(const clg_dataset_options *opts, clg_dataset **ds);

/* Items per epoch: max(|A|, |B|). */
size_t clg_dataset_size(const clg_dataset *ds);

/* Batches per epoch: the size divided by batch_size, rounded up. */
size_t clg_dataset_batches_per_epoch(const clg_dataset *ds);

/* Wait for the next batch. */
clg_status clg_dataset_next(clg_dataset *ds, clg_batch *batch);

/* Stop the worker and free everything; safe on NULL. */
void clg_dataset_close(clg_dataset *ds);

#ifdef __cplusplus
}
#endif

#endif
