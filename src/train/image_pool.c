/* The image history pool of CycleGAN's discriminator updates. */
#include "clgan/image_pool.h"

#include <stdio.h>
#include <stdlib.h>

struct clg_image_pool {
    int capacity;
    int count;
    clg_tensor **images; /* each [1, C, H, W] */
};

clg_status clg_image_pool_create(int capacity, clg_image_pool **out) {
    clg_image_pool *pool;

    if (capacity < 0)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "pool size must not be negative (%d)", capacity);
    pool = calloc(1, sizeof *pool);
    if (pool && capacity > 0) pool->images = calloc((size_t)capacity, sizeof *pool->images);
    if (!pool || (capacity > 0 && !pool->images)) {
        free(pool);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    pool->capacity = capacity;
    *out = pool;
    return CLG_OK;
}

void clg_image_pool_release(clg_image_pool *pool) {
    if (!pool) return;
    for (int i = 0; i < pool->count; i++) clg_tensor_release(pool->images[i]);
    free(pool->images);
    free(pool);
}

int clg_image_pool_count(const clg_image_pool *pool) {
    return pool->count;
}

/* A stored copy of one image. */
static clg_status copy_image(clg_tensor *image, clg_tensor **out) {
    clg_status s = clg_tensor_create_like(image, out);
    if (s == CLG_OK && (s = clg_tensor_copy(*out, image)) != CLG_OK) {
        clg_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

/* Decide what to return for one image, writing it into slot (a view of the result). */
static clg_status query_one(clg_image_pool *pool, clg_rng *rng, clg_tensor *image,
                            clg_tensor *slot) {
    clg_status s;
    int i;

    if (pool->count < pool->capacity) {
        s = copy_image(image, &pool->images[pool->count]);
        if (s == CLG_OK) pool->count++;
        return s == CLG_OK ? clg_tensor_copy(slot, image) : s;
    }
    if (clg_rng_uniform(rng) <= 0.5f) return clg_tensor_copy(slot, image);

    /* Return a stored image and keep this one in its place. */
    i = (int)clg_rng_below(rng, (uint64_t)pool->capacity);
    if ((s = clg_tensor_copy(slot, pool->images[i])) != CLG_OK) return s;
    return clg_tensor_copy(pool->images[i], image);
}

clg_status clg_image_pool_query(clg_image_pool *pool, clg_rng *rng, clg_tensor *images,
                                clg_tensor **out) {
    clg_status s = clg_tensor_create_like(images, out);

    for (int n = 0; s == CLG_OK && n < clg_tensor_dim(images, 0); n++) {
        clg_tensor *image = NULL, *slot = NULL;
        s = clg_tensor_narrow(images, n, 1, &image);
        if (s == CLG_OK) s = clg_tensor_narrow(*out, n, 1, &slot);
        if (s == CLG_OK)
            s = pool->capacity == 0 ? clg_tensor_copy(slot, image)
                                    : query_one(pool, rng, image, slot);
        clg_tensor_release(image);
        clg_tensor_release(slot);
    }
    if (s != CLG_OK) {
        clg_tensor_release(*out);
        *out = NULL;
    }
    return s;
}

clg_status clg_image_pool_save(const clg_image_pool *pool, const char *prefix,
                               clg_safetensors *st) {
    char name[256], count[32];
    clg_status s = CLG_OK;

    for (int i = 0; s == CLG_OK && i < pool->count; i++) {
        clg_tensor *t = pool->images[i];
        size_t n = clg_tensor_numel(t);
        float *host = malloc(n * sizeof *host);
        int64_t shape[4];

        if (!host) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int d = 0; d < 4; d++) shape[d] = clg_tensor_dim(t, d);
        snprintf(name, sizeof name, "%s.%d", prefix, i);
        s = clg_tensor_download(t, host, n);
        if (s == CLG_OK) s = clg_safetensors_add(st, name, 4, shape, host);
        free(host);
    }
    snprintf(name, sizeof name, "%s.count", prefix);
    snprintf(count, sizeof count, "%d", pool->count);
    return s == CLG_OK ? clg_safetensors_set_metadata(st, name, count) : s;
}

clg_status clg_image_pool_load(clg_image_pool *pool, clg_device *device, const char *prefix,
                               const clg_safetensors *st) {
    char name[256];
    const char *count_text;
    int count;

    snprintf(name, sizeof name, "%s.count", prefix);
    count_text = clg_safetensors_get_metadata(st, name);
    count = count_text ? atoi(count_text) : 0;
    if (count < 0 || count > pool->capacity)
        return clg_error(CLG_ERR_FORMAT, "saved pool %s holds %d images; this pool holds %d",
                         prefix, count, pool->capacity);
    for (int i = 0; i < count; i++) {
        const clg_safetensors_entry *e;
        int shape[4];
        clg_status s;

        snprintf(name, sizeof name, "%s.%d", prefix, i);
        e = clg_safetensors_find(st, name);
        if (!e || e->ndim != 4)
            return clg_error(CLG_ERR_FORMAT, "saved pool image %s is missing or not 4-D", name);
        for (int d = 0; d < 4; d++) shape[d] = (int)e->shape[d];
        clg_tensor_release(pool->images[i]);
        pool->images[i] = NULL;
        s = clg_tensor_from_host(device, 4, shape, e->data, &pool->images[i]);
        if (s != CLG_OK) return s;
    }
    for (int i = count; i < pool->count; i++) {
        clg_tensor_release(pool->images[i]);
        pool->images[i] = NULL;
    }
    pool->count = count;
    return CLG_OK;
}
