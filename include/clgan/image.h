/* Host images: loading, saving, resizing, cropping and flipping planar float pictures. */
#ifndef CLGAN_IMAGE_H
#define CLGAN_IMAGE_H

/*
 * A clg_image is a picture in host memory: channels planes of height rows of
 * width floats (C-H-W, the layout of one item of an N-C-H-W tensor), values
 * in [0, 1]. The struct is plain data; clg_image_release() frees its pixels.
 * Functions that produce an image fill a caller's struct, which must not
 * hold pixels the caller still owns (an unset struct, a released one, or the
 * source itself, which is then replaced).
 *
 * clg_image_load() reads every format stb_image reads (PNG, JPEG, BMP, TGA,
 * GIF's first frame, PSD, HDR, PIC, PNM). 8-bit samples are divided by 255,
 * 16-bit ones (PNG, PNM) by 65535; HDR files come tone-mapped by stb_image's
 * default gamma 2.2. Transparent pixels are composited on white. Asking for
 * 3 channels replicates a gray image; asking for 1 converts colour to PIL's
 * luminance L = 0.299 R + 0.587 G + 0.114 B (kept in float, where PIL rounds
 * to 8 bits); asking for 0 keeps 1 or 3 as the file has them.
 *
 * clg_image_save_png() writes 8-bit PNGs (1 to 4 channels), clamping to
 * [0, 1] and rounding, through a temporary file renamed into place, so a
 * failed or interrupted save never leaves a partial file at path.
 *
 * clg_image_resize() is bicubic (Catmull-Rom, the a = -0.5 cubic that PIL's
 * BICUBIC also uses) with edges clamped; it differs from PIL in the last
 * digits near borders and because PIL rounds to 8 bits after each pass.
 * Results are clamped to [0, 1] as PIL's 8-bit results are.
 */

#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct clg_image {
    int width, height, channels;
    float *data; /* channels * height * width floats, plane after plane */
} clg_image;

/* A new black image (all zeros). */
clg_status clg_image_create(int width, int height, int channels, clg_image *img);

/* Decode path into channels (0, 1 or 3) planes. CLG_ERR_IO if unreadable, CLG_ERR_FORMAT if not an
 * image. */
clg_status clg_image_load(const char *path, int channels, clg_image *img);

/* Write img as an 8-bit PNG at path, atomically. */
clg_status clg_image_save_png(const char *path, const clg_image *img);

/* Free the pixels and zero the struct; safe on a zeroed or released struct. */
void clg_image_release(clg_image *img);

/* Bicubic resize to width x height. dst may be src. */
clg_status clg_image_resize(const clg_image *src, int width, int height, clg_image *dst);

/* Copy the width x height rectangle whose top-left corner is (x, y). dst may be src. */
clg_status clg_image_crop(const clg_image *src, int x, int y, int width, int height,
                          clg_image *dst);

/* Mirror left to right, in place. */
void clg_image_flip_horizontal(clg_image *img);

#ifdef __cplusplus
}
#endif

#endif
