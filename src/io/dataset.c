/* The unaligned image-folder dataset: listing, reference preprocessing, a prefetching worker. */
#include "clgan/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Subfolders deeper than this are not listed (a guard against pathological trees). */
#define MAX_DEPTH 32

typedef enum slot_state { SLOT_FREE, SLOT_READY, SLOT_IN_USE } slot_state;

/* One of the two batch buffers; side 0 is the model's A, side 1 its B. */
typedef struct slot {
    slot_state state;
    int size;
    long epoch, index;
    int epoch_done;
    int shape[2][4];
    float *data[2];
    size_t capacity[2]; /* floats allocated in data */
    const char **paths[2];
} slot;

struct clg_dataset {
    clg_dataset_options opts; /* dataroot and phase are not kept */
    clg_path_list folders[2]; /* <phase>A and <phase>B */
    int folder_channels[2];
    size_t size;
    size_t *order; /* this epoch's item order */

    /* Owned by the worker once it runs. */
    clg_rng rng;
    long epoch, batch_index;
    size_t position;
    unsigned long produced;

    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t changed;
    slot slots[2];
    slot *in_use;
    unsigned long consumed;
    int stop, failed;
    clg_status status;
    char message[4096];

    pthread_t worker;
    int worker_started;
};

static const char *const preprocess_names[] = {
    [CLG_PREPROCESS_RESIZE_AND_CROP] = "resize_and_crop",
    [CLG_PREPROCESS_CROP] = "crop",
    [CLG_PREPROCESS_SCALE_WIDTH] = "scale_width",
    [CLG_PREPROCESS_SCALE_WIDTH_AND_CROP] = "scale_width_and_crop",
    [CLG_PREPROCESS_NONE] = "none",
};

#define PREPROCESS_COUNT (int)(sizeof preprocess_names / sizeof preprocess_names[0])

void clg_dataset_options_default(clg_dataset_options *opts) {
    memset(opts, 0, sizeof *opts);
    opts->phase = "train";
    opts->input_nc = 3;
    opts->output_nc = 3;
    opts->load_size = 286;
    opts->crop_size = 256;
    opts->preprocess = CLG_PREPROCESS_RESIZE_AND_CROP;
    opts->batch_size = 1;
}

clg_status clg_preprocess_parse(const char *name, clg_preprocess *mode) {
    for (int i = 0; name && i < PREPROCESS_COUNT; i++) {
        if (strcmp(name, preprocess_names[i]) == 0) {
            *mode = (clg_preprocess)i;
            return CLG_OK;
        }
    }
    return clg_error(CLG_ERR_INVALID_ARGUMENT,
                     "unknown preprocess '%s' (resize_and_crop, crop, scale_width, "
                     "scale_width_and_crop or none)",
                     name ? name : "(null)");
}

const char *clg_preprocess_name(clg_preprocess mode) {
    if ((int)mode < 0 || (int)mode >= PREPROCESS_COUNT) return "unknown";
    return preprocess_names[mode];
}

/* ---- Listing ---- */

/* folder/name in a new string. */
static char *join_path(const char *folder, const char *name) {
    size_t n = strlen(folder);
    int slash = n > 0 && folder[n - 1] != '/';
    char *path = malloc(n + slash + strlen(name) + 1);

    if (path) sprintf(path, "%s%s%s", folder, slash ? "/" : "", name);
    return path;
}

static int has_image_extension(const char *name) {
    static const char *const extensions[] = {"png", "jpg", "jpeg", "bmp", "tga", "gif",
                                             "psd", "hdr", "pic",  "pnm", "ppm", "pgm"};
    const char *dot = strrchr(name, '.');

    if (!dot) return 0;
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++)
        if (strcasecmp(dot + 1, extensions[i]) == 0) return 1;
    return 0;
}

/* Append path to list, taking ownership of it. */
static clg_status list_append(clg_path_list *list, size_t *capacity, char *path) {
    if (list->count == *capacity) {
        size_t grown = *capacity ? *capacity * 2 : 64;
        char **paths = realloc(list->paths, grown * sizeof *paths);
        if (!paths) {
            free(path);
            return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to list images");
        }
        list->paths = paths;
        *capacity = grown;
    }
    list->paths[list->count++] = path;
    return CLG_OK;
}

static clg_status list_folder(const char *folder, int depth, clg_path_list *list, size_t *capacity);

/* Take one folder entry: an image file is appended, a real subfolder is listed. */
static clg_status list_entry(const char *folder, const char *name, int depth, clg_path_list *list,
                             size_t *capacity) {
    struct stat st, lst;
    char *path;
    clg_status s = CLG_OK;

    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) return CLG_OK;
    path = join_path(folder, name);
    if (!path) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to list images");

    /* Like os.walk: linked files count, linked folders are not entered; broken links skipped. */
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && has_image_extension(name))
        return list_append(list, capacity, path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && lstat(path, &lst) == 0 &&
        !S_ISLNK(lst.st_mode) && depth < MAX_DEPTH)
        s = list_folder(path, depth + 1, list, capacity);
    free(path);
    return s;
}

static clg_status list_folder(const char *folder, int depth, clg_path_list *list,
                              size_t *capacity) {
    DIR *dir = opendir(folder);
    struct dirent *entry;
    clg_status s = CLG_OK;

    if (!dir && (errno == ENOENT || errno == ENOTDIR))
        return clg_error(CLG_ERR_NOT_FOUND, "image folder %s does not exist", folder);
    if (!dir) return clg_error(CLG_ERR_IO, "cannot open folder %s: %s", folder, strerror(errno));
    while (s == CLG_OK && (entry = readdir(dir)) != NULL)
        s = list_entry(folder, entry->d_name, depth, list, capacity);
    closedir(dir);
    return s;
}

static int compare_paths(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void clg_path_list_release(clg_path_list *list) {
    if (!list) return;
    for (size_t i = 0; i < list->count; i++) free(list->paths[i]);
    free(list->paths);
    list->paths = NULL;
    list->count = 0;
}

clg_status clg_dataset_list_images(const char *folder, clg_path_list *list) {
    size_t capacity = 0;
    clg_status s;

    if (!folder || !list) return clg_error(CLG_ERR_INVALID_ARGUMENT, "no folder to list");
    memset(list, 0, sizeof *list);
    s = list_folder(folder, 0, list, &capacity);
    if (s == CLG_OK && list->count == 0)
        s = clg_error(CLG_ERR_NOT_FOUND, "no image files in %s", folder);
    if (s != CLG_OK) {
        clg_path_list_release(list);
        return s;
    }
    qsort(list->paths, list->count, sizeof *list->paths, compare_paths);
    return CLG_OK;
}

/* ---- Preprocessing, as the reference's get_transform ---- */

static int has_crop(clg_preprocess mode) {
    return mode == CLG_PREPROCESS_RESIZE_AND_CROP || mode == CLG_PREPROCESS_CROP ||
           mode == CLG_PREPROCESS_SCALE_WIDTH_AND_CROP;
}

/* The reference's __scale_width: width to load_size, height in proportion, at least crop. */
static clg_status scale_width(const clg_dataset_options *o, clg_image *img) {
    long long height = (long long)o->load_size * img->height / img->width;

    if (img->width == o->load_size && img->height >= o->crop_size) return CLG_OK;
    if (height < o->crop_size) height = o->crop_size;
    return clg_image_resize(img, o->load_size, (int)height, img);
}

/* Python's round(n / 4) * 4, which rounds halves to even. */
static int round_to_multiple_of_4(int n) {
    int q = n / 4, r = n % 4;
    if (r > 2 || (r == 2 && q % 2 == 1)) q++;
    return q * 4;
}

/* The reference's __make_power_2 with base 4. */
static clg_status make_multiple_of_4(const char *path, clg_image *img) {
    int w = round_to_multiple_of_4(img->width), h = round_to_multiple_of_4(img->height);

    if (w == 0 || h == 0)
        return clg_error(CLG_ERR_SHAPE, "%s is %dx%d, too small to round to a multiple of 4", path,
                         img->width, img->height);
    return clg_image_resize(img, w, h, img);
}

/* torchvision's RandomCrop: the top row is drawn first, then the left column. */
static clg_status random_crop(const clg_dataset_options *o, const char *path, clg_rng *rng,
                              clg_image *img) {
    int size = o->crop_size, top = 0, left = 0;

    if (img->width < size || img->height < size)
        return clg_error(CLG_ERR_SHAPE, "%s is %dx%d after resizing, smaller than the %dx%d crop",
                         path, img->width, img->height, size, size);
    if (img->width == size && img->height == size) return CLG_OK;
    top = (int)clg_rng_below(rng, (uint64_t)(img->height - size + 1));
    left = (int)clg_rng_below(rng, (uint64_t)(img->width - size + 1));
    return clg_image_crop(img, left, top, size, size, img);
}

static clg_status transform(const clg_dataset_options *o, const char *path, clg_rng *rng,
                            clg_image *img) {
    clg_status s = CLG_OK;

    if (o->preprocess == CLG_PREPROCESS_RESIZE_AND_CROP)
        s = clg_image_resize(img, o->load_size, o->load_size, img);
    else if (o->preprocess == CLG_PREPROCESS_SCALE_WIDTH ||
             o->preprocess == CLG_PREPROCESS_SCALE_WIDTH_AND_CROP)
        s = scale_width(o, img);
    if (s == CLG_OK && has_crop(o->preprocess)) s = random_crop(o, path, rng, img);
    if (s == CLG_OK && o->preprocess == CLG_PREPROCESS_NONE) s = make_multiple_of_4(path, img);
    if (s == CLG_OK && !o->no_flip && clg_rng_uniform(rng) < 0.5f) clg_image_flip_horizontal(img);
    return s;
}

clg_status clg_dataset_load_image(const clg_dataset_options *opts, const char *path, int channels,
                                  clg_rng *rng, clg_image *img) {
    clg_status s;

    if (!opts || !path || !rng || !img || (channels != 1 && channels != 3))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_dataset_load_image: bad arguments");
    s = clg_image_load(path, channels, img);
    if (s == CLG_OK) s = transform(opts, path, rng, img);
    if (s != CLG_OK) clg_image_release(img);
    return s;
}

/* ---- Batches ---- */

/* Copy item k of one side into the slot, mapped to [-1, 1]; every item must share a shape. */
static clg_status store_item(const clg_dataset *ds, slot *sl, int side, int k, const clg_image *img,
                             const char *path) {
    int *shape = sl->shape[side];
    size_t numel = (size_t)img->channels * img->height * img->width;
    float *out;

    if (k == 0) {
        size_t need = numel * (size_t)ds->opts.batch_size;
        if (need > sl->capacity[side]) {
            float *grown = realloc(sl->data[side], need * sizeof *grown);
            if (!grown) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a batch");
            sl->data[side] = grown;
            sl->capacity[side] = need;
        }
        shape[1] = img->channels;
        shape[2] = img->height;
        shape[3] = img->width;
    } else if (shape[2] != img->height || shape[3] != img->width) {
        return clg_error(CLG_ERR_SHAPE,
                         "%s is %dx%d after preprocessing but %s in the same batch is %dx%d; "
                         "use a crop or batch_size 1",
                         path, img->width, img->height, sl->paths[side][0], shape[3], shape[2]);
    }
    out = sl->data[side] + numel * k;
    for (size_t i = 0; i < numel; i++) out[i] = img->data[i] * 2.0f - 1.0f;
    sl->paths[side][k] = path;
    return CLG_OK;
}

/* Load, transform and store one image of folder f (0: <phase>A, 1: <phase>B). */
static clg_status load_item(clg_dataset *ds, slot *sl, int folder, size_t file, int k) {
    const char *path = ds->folders[folder].paths[file];
    int side = folder ^ (ds->opts.direction_btoa != 0);
    clg_image img = {0};
    clg_status s;

    s = clg_dataset_load_image(&ds->opts, path, ds->folder_channels[folder], &ds->rng, &img);
    if (s == CLG_OK) s = store_item(ds, sl, side, k, &img, path);
    clg_image_release(&img);
    return s;
}

static int stop_requested(clg_dataset *ds) {
    int stop;
    pthread_mutex_lock(&ds->lock);
    stop = ds->stop;
    pthread_mutex_unlock(&ds->lock);
    return stop;
}

/* Move past a finished batch of n items, starting a new epoch at the end. */
static void advance(clg_dataset *ds, slot *sl, int n) {
    sl->epoch = ds->epoch;
    sl->index = ds->batch_index++;
    ds->position += (size_t)n;
    sl->epoch_done = ds->position == ds->size;
    if (sl->epoch_done) {
        ds->position = 0;
        ds->epoch++;
        ds->batch_index = 0;
    }
}

/* Fill a slot with the next batch; random numbers are drawn in item order. */
static clg_status fill_batch(clg_dataset *ds, slot *sl) {
    size_t left = ds->size - ds->position, count_a = ds->folders[0].count;
    size_t count_b = ds->folders[1].count;
    int n = left < (size_t)ds->opts.batch_size ? (int)left : ds->opts.batch_size;
    clg_status s = CLG_OK;

    if (ds->position == 0 && !ds->opts.serial_batches)
        clg_rng_shuffle(&ds->rng, ds->order, ds->size);
    for (int k = 0; k < n && s == CLG_OK && !stop_requested(ds); k++) {
        size_t item = ds->order[ds->position + (size_t)k];
        size_t b =
            ds->opts.serial_batches ? item % count_b : (size_t)clg_rng_below(&ds->rng, count_b);
        s = load_item(ds, sl, 0, item % count_a, k);
        if (s == CLG_OK) s = load_item(ds, sl, 1, b, k);
    }
    sl->size = n;
    for (int side = 0; side < 2; side++) sl->shape[side][0] = n;
    if (s == CLG_OK) advance(ds, sl, n);
    return s;
}

/* Wait until the slot for the next batch is free; NULL when asked to stop. */
static slot *wait_for_free_slot(clg_dataset *ds) {
    slot *sl = &ds->slots[ds->produced % 2];

    pthread_mutex_lock(&ds->lock);
    while (sl->state != SLOT_FREE && !ds->stop) pthread_cond_wait(&ds->changed, &ds->lock);
    if (ds->stop) sl = NULL;
    pthread_mutex_unlock(&ds->lock);
    return sl;
}

/* Hand a filled slot (or the failure) to the consumer; 0 when the worker should end. */
static int publish(clg_dataset *ds, slot *sl, clg_status s) {
    int go_on;

    pthread_mutex_lock(&ds->lock);
    if (s == CLG_OK && !ds->stop) {
        sl->state = SLOT_READY;
        ds->produced++;
    } else if (s != CLG_OK) {
        ds->failed = 1;
        ds->status = s;
        snprintf(ds->message, sizeof ds->message, "%s", clg_last_error());
    }
    go_on = s == CLG_OK && !ds->stop;
    pthread_cond_broadcast(&ds->changed);
    pthread_mutex_unlock(&ds->lock);
    return go_on;
}

static void *worker_main(void *arg) {
    clg_dataset *ds = arg;
    slot *sl;

    while ((sl = wait_for_free_slot(ds)) != NULL)
        if (!publish(ds, sl, fill_batch(ds, sl))) break;
    return NULL;
}

/* ---- Opening and the consumer side ---- */

static clg_status check_options(const clg_dataset_options *o) {
    if (!o->dataroot) return clg_error(CLG_ERR_INVALID_ARGUMENT, "dataset: no dataroot");
    if ((o->input_nc != 1 && o->input_nc != 3) || (o->output_nc != 1 && o->output_nc != 3))
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "dataset: input_nc %d and output_nc %d must "
                         "be 1 or 3",
                         o->input_nc, o->output_nc);
    if ((int)o->preprocess < 0 || (int)o->preprocess >= PREPROCESS_COUNT)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "dataset: unknown preprocess %d",
                         (int)o->preprocess);
    if (o->batch_size < 1 || o->load_size < 1 || o->crop_size < 1)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "dataset: batch_size %d, load_size %d and "
                         "crop_size %d must be positive",
                         o->batch_size, o->load_size, o->crop_size);
    if ((o->preprocess == CLG_PREPROCESS_RESIZE_AND_CROP ||
         o->preprocess == CLG_PREPROCESS_SCALE_WIDTH_AND_CROP) &&
        o->load_size < o->crop_size)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "dataset: load_size %d is smaller than "
                         "crop_size %d",
                         o->load_size, o->crop_size);
    return CLG_OK;
}

/* List <dataroot>/<phase>A and <phase>B. */
static clg_status list_folders(clg_dataset *ds, const clg_dataset_options *o) {
    const char *phase = o->phase ? o->phase : "train";
    char name[1024];
    clg_status s = CLG_OK;

    for (int f = 0; f < 2 && s == CLG_OK; f++) {
        char *folder;
        snprintf(name, sizeof name, "%s%c", phase, f == 0 ? 'A' : 'B');
        folder = join_path(o->dataroot, name);
        if (!folder) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a path");
        s = clg_dataset_list_images(folder, &ds->folders[f]);
        free(folder);
    }
    return s;
}

/* Allocate the item order and the slots' path arrays. */
static clg_status allocate_buffers(clg_dataset *ds) {
    int n = ds->opts.batch_size;

    ds->order = malloc(ds->size * sizeof *ds->order);
    if (!ds->order) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a dataset");
    for (size_t i = 0; i < ds->size; i++) ds->order[i] = i;
    for (int k = 0; k < 2; k++) {
        for (int side = 0; side < 2; side++) {
            ds->slots[k].paths[side] = calloc((size_t)n, sizeof(const char *));
            if (!ds->slots[k].paths[side])
                return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a dataset");
        }
    }
    return CLG_OK;
}

/* Everything but the thread, which is started last. */
static clg_status setup(clg_dataset *ds, const clg_dataset_options *opts) {
    clg_status s = check_options(opts);
    int btoa = opts->direction_btoa != 0;

    if (s == CLG_OK) s = list_folders(ds, opts);
    if (s != CLG_OK) return s;
    ds->opts = *opts;
    ds->opts.dataroot = NULL;
    ds->opts.phase = NULL;
    ds->folder_channels[0] = btoa ? opts->output_nc : opts->input_nc;
    ds->folder_channels[1] = btoa ? opts->input_nc : opts->output_nc;
    ds->size =
        ds->folders[0].count > ds->folders[1].count ? ds->folders[0].count : ds->folders[1].count;
    clg_rng_seed(&ds->rng, opts->seed);
    return allocate_buffers(ds);
}

clg_status clg_dataset_open(const clg_dataset_options *opts, clg_dataset **out) {
    clg_dataset *ds;
    clg_status s;
    int err;

    if (!opts || !out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_dataset_open: no options");
    *out = NULL;
    ds = calloc(1, sizeof *ds);
    if (!ds) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a dataset");
    pthread_mutex_init(&ds->lock, NULL);
    pthread_cond_init(&ds->changed, NULL);

    s = setup(ds, opts);
    if (s == CLG_OK && (err = pthread_create(&ds->worker, NULL, worker_main, ds)) != 0)
        s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "cannot start the dataset worker: %s",
                      strerror(err));
    ds->worker_started = s == CLG_OK;
    if (s != CLG_OK) {
        clg_dataset_close(ds);
        return s;
    }
    *out = ds;
    return CLG_OK;
}

size_t clg_dataset_size(const clg_dataset *ds) {
    return ds ? ds->size : 0;
}

size_t clg_dataset_batches_per_epoch(const clg_dataset *ds) {
    size_t n = ds ? (size_t)ds->opts.batch_size : 1;
    return ds ? (ds->size + n - 1) / n : 0;
}

static void describe_batch(const slot *sl, clg_batch *batch) {
    batch->size = sl->size;
    memcpy(batch->a_shape, sl->shape[0], sizeof batch->a_shape);
    memcpy(batch->b_shape, sl->shape[1], sizeof batch->b_shape);
    batch->a = sl->data[0];
    batch->b = sl->data[1];
    batch->a_paths = (const char *const *)sl->paths[0];
    batch->b_paths = (const char *const *)sl->paths[1];
    batch->epoch = sl->epoch;
    batch->index = sl->index;
    batch->epoch_done = sl->epoch_done;
}

clg_status clg_dataset_next(clg_dataset *ds, clg_batch *batch) {
    slot *sl;

    if (!ds || !batch) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_dataset_next: no dataset");
    pthread_mutex_lock(&ds->lock);
    if (ds->in_use) {
        ds->in_use->state = SLOT_FREE;
        ds->in_use = NULL;
        pthread_cond_broadcast(&ds->changed);
    }
    sl = &ds->slots[ds->consumed % 2];
    while (sl->state != SLOT_READY && !ds->failed) pthread_cond_wait(&ds->changed, &ds->lock);
    if (sl->state != SLOT_READY) {
        clg_status s = clg_error(ds->status, "%s", ds->message);
        pthread_mutex_unlock(&ds->lock);
        return s;
    }
    sl->state = SLOT_IN_USE;
    ds->in_use = sl;
    ds->consumed++;
    pthread_mutex_unlock(&ds->lock);
    describe_batch(sl, batch);
    return CLG_OK;
}

void clg_dataset_close(clg_dataset *ds) {
    if (!ds) return;
    if (ds->worker_started) {
        pthread_mutex_lock(&ds->lock);
        ds->stop = 1;
        pthread_cond_broadcast(&ds->changed);
        pthread_mutex_unlock(&ds->lock);
        pthread_join(ds->worker, NULL);
    }
    for (int k = 0; k < 2; k++) {
        for (int side = 0; side < 2; side++) {
            free(ds->slots[k].data[side]);
            free(ds->slots[k].paths[side]);
        }
    }
    clg_path_list_release(&ds->folders[0]);
    clg_path_list_release(&ds->folders[1]);
    free(ds->order);
    pthread_cond_destroy(&ds->changed);
    pthread_mutex_destroy(&ds->lock);
    free(ds);
}
