/* The history of generated images that CycleGAN's discriminators are trained on. */
#ifndef CLGAN_IMAGE_POOL_H
#define CLGAN_IMAGE_POOL_H

/*
 * A clg_image_pool keeps up to capacity generated images (Shrivastava et
 * al.), as the reference's ImagePool: while the pool is filling, each image
 * of a batch is stored and returned as it is; once full, each image is, with
 * probability 1/2, swapped with a stored one chosen at random (the stored
 * one is returned), else returned as it is. A capacity of 0 returns the
 * batch unchanged. Chance comes from the caller's clg_rng.
 *
 * The stored images can be saved and restored so that a resumed training
 * run draws exactly what an uninterrupted one would.
 */

#include "clgan/rng.h"
#include "clgan/safetensors.h"
#include "clgan/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_image_pool clg_image_pool;

clg_status clg_image_pool_create(int capacity, clg_image_pool **out);
void clg_image_pool_release(clg_image_pool *pool);

/* Images stored so far. */
int clg_image_pool_count(const clg_image_pool *pool);

/* A new tensor of images [N, C, H, W] to train on, drawn from images and the pool. */
clg_status clg_image_pool_query(clg_image_pool *pool, clg_rng *rng, clg_tensor *images,
                                clg_tensor **out);

/* Add the stored images to st as "<prefix>.<i>"; restore them from st (count from metadata). */
clg_status clg_image_pool_save(const clg_image_pool *pool, const char *prefix, clg_safetensors *st);
clg_status clg_image_pool_load(clg_image_pool *pool, clg_device *device, const char *prefix,
                               const clg_safetensors *st);

#ifdef __cplusplus
}
#endif

#endif
