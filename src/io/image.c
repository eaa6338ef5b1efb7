/* Host images: stb_image decoding, atomic PNG writing, bicubic resize, crop and flip. */
#include "clgan/image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

/* Larger sides are refused rather than risking size overflow. */
#define MAX_SIDE 65536

/* A decoded file: interleaved samples scaled to [0, 1], components per pixel as stored. */
typedef struct decoded {
    int width, height, components;
    float *samples;
} decoded;

static int valid_size(int width, int height, int channels) {
    return width > 0 && height > 0 && width <= MAX_SIDE && height <= MAX_SIDE && channels >= 1 &&
           channels <= 4;
}

static size_t image_numel(const clg_image *img) {
    return (size_t)img->channels * img->height * img->width;
}

static float clamp01(float v) {
    return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN becomes 0 */
}

clg_status clg_image_create(int width, int height, int channels, clg_image *img) {
    if (!img || !valid_size(width, height, channels))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "image size %dx%dx%d is not valid", width,
                         height, channels);
    img->data = calloc((size_t)channels * height * width, sizeof *img->data);
    if (!img->data)
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory for a %dx%dx%d image", width,
                         height, channels);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return CLG_OK;
}

void clg_image_release(clg_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

/* Read a whole file into a new buffer. */
static clg_status read_file(const char *path, unsigned char **bytes, size_t *size) {
    FILE *f = fopen(path, "rb");
    size_t capacity = 0, used = 0;
    unsigned char *buf = NULL;
    clg_status s = CLG_OK;

    if (!f) return clg_error(CLG_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    do {
        if (used == capacity) {
            size_t grown_capacity = capacity ? capacity * 2 : (size_t)1 << 16;
            unsigned char *grown = realloc(buf, grown_capacity);
            if (!grown) {
                s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to read %s", path);
                break;
            }
            buf = grown;
            capacity = grown_capacity;
        }
        used += fread(buf + used, 1, capacity - used, f);
    } while (used == capacity);
    if (s == CLG_OK && ferror(f))
        s = clg_error(CLG_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (s != CLG_OK) {
        free(buf);
        return s;
    }
    *bytes = buf;
    *size = used;
    return CLG_OK;
}

/* Decode with stb_image: 16-bit files at 16 bits, everything else at 8. */
static clg_status decode(const char *path, const unsigned char *bytes, size_t size, decoded *out) {
    int len = (int)size, w = 0, h = 0, n = 0, wide;
    void *raw;
    size_t count;

    if (size > INT_MAX) return clg_error(CLG_ERR_FORMAT, "cannot decode %s: file too large", path);
    wide = stbi_is_16_bit_from_memory(bytes, len);
    raw = wide ? (void *)stbi_load_16_from_memory(bytes, len, &w, &h, &n, 0)
               : (void *)stbi_load_from_memory(bytes, len, &w, &h, &n, 0);
    if (!raw) return clg_error(CLG_ERR_FORMAT, "cannot decode %s: %s", path, stbi_failure_reason());
    if (!valid_size(w, h, n)) {
        stbi_image_free(raw);
        return clg_error(CLG_ERR_FORMAT,
                         "cannot decode %s: unsupported size %dx%d with %d "
                         "components",
                         path, w, h, n);
    }

    count = (size_t)w * h * n;
    out->samples = malloc(count * sizeof *out->samples);
    if (out->samples) {
        for (size_t i = 0; i < count; i++)
            out->samples[i] = wide ? ((const uint16_t *)raw)[i] * (1.0f / 65535.0f)
                                   : ((const unsigned char *)raw)[i] * (1.0f / 255.0f);
    }
    stbi_image_free(raw);
    if (!out->samples) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to decode %s", path);
    out->width = w;
    out->height = h;
    out->components = n;
    return CLG_OK;
}

/* One pixel: composite alpha on white, then convert its colour to out_channels values. */
static void convert_pixel(const float *in, int components, int out_channels, float *out) {
    int colours = components >= 3 ? 3 : 1;
    float v[3];

    for (int c = 0; c < colours; c++) v[c] = in[c];
    if (components == 2 || components == 4) {
        float alpha = in[components - 1];
        for (int c = 0; c < colours; c++) v[c] = v[c] * alpha + (1.0f - alpha);
    }
    if (out_channels == 1 && colours == 3)
        out[0] = 0.299f * v[0] + 0.587f * v[1] + 0.114f * v[2];
    else
        for (int c = 0; c < out_channels; c++) out[c] = v[colours == 1 ? 0 : c];
}

/* Interleaved samples to planar channels. */
static clg_status to_planar(const decoded *d, int channels, clg_image *img) {
    size_t plane = (size_t)d->width * d->height, stride = plane;
    clg_status s;

    if (channels == 0) channels = d->components >= 3 ? 3 : 1;
    s = clg_image_create(d->width, d->height, channels, img);
    if (s != CLG_OK) return s;
    for (size_t i = 0; i < plane; i++) {
        float px[3];
        convert_pixel(d->samples + i * d->components, d->components, channels, px);
        for (int c = 0; c < channels; c++) img->data[c * stride + i] = px[c];
    }
    return CLG_OK;
}

clg_status clg_image_load(const char *path, int channels, clg_image *img) {
    unsigned char *bytes = NULL;
    size_t size = 0;
    decoded d = {0};
    clg_status s;

    if (!path || !img || (channels != 0 && channels != 1 && channels != 3))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_image_load: channels must be 0, 1 or 3");
    s = read_file(path, &bytes, &size);
    if (s != CLG_OK) return s;
    s = decode(path, bytes, size, &d);
    free(bytes);
    if (s != CLG_OK) return s;
    s = to_planar(&d, channels, img);
    free(d.samples);
    return s;
}

/* Where stb_image_write sends the encoded PNG: a stdio stream that remembers failure. */
typedef struct png_sink {
    FILE *file;
    int failed;
} png_sink;

static void write_to_sink(void *context, void *data, int size) {
    png_sink *sink = context;
    if (!sink->failed && fwrite(data, 1, (size_t)size, sink->file) != (size_t)size)
        sink->failed = 1;
}

/* Planar floats to interleaved, rounded 8-bit samples. */
static unsigned char *pack_bytes(const clg_image *img) {
    size_t plane = (size_t)img->width * img->height;
    unsigned char *bytes = malloc(image_numel(img));

    if (!bytes) return NULL;
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < img->channels; c++)
            bytes[i * img->channels + c] =
                (unsigned char)lrintf(clamp01(img->data[c * plane + i]) * 255.0f);
    return bytes;
}

/* Encode bytes into the new file at tmp; the file is closed on return. */
static clg_status write_png_file(const char *tmp, const char *path, const clg_image *img,
                                 const unsigned char *bytes) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
    png_sink sink = {NULL, 0};
    int ok, closed;

    if (fd < 0) return clg_error(CLG_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    sink.file = fdopen(fd, "wb");
    if (!sink.file) {
        close(fd);
        return clg_error(CLG_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    ok = stbi_write_png_to_func(write_to_sink, &sink, img->width, img->height, img->channels, bytes,
                                img->width * img->channels);
    ok = ok && !sink.failed && fflush(sink.file) == 0 && fsync(fd) == 0;
    closed = fclose(sink.file) == 0;
    if (!ok || !closed)
        return clg_error(CLG_ERR_IO, "cannot write %s: %s", path,
                         errno ? strerror(errno) : "PNG encoding failed");
    return CLG_OK;
}

clg_status clg_image_save_png(const char *path, const clg_image *img) {
    static atomic_uint counter;
    char tmp[4096];
    unsigned char *bytes;
    clg_status s;

    if (!path || !img || !img->data || !valid_size(img->width, img->height, img->channels))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_image_save_png: not a valid image");
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1)) >= (int)sizeof tmp)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "path too long: %s", path);
    bytes = pack_bytes(img);
    if (!bytes) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to encode %s", path);

    errno = 0;
    s = write_png_file(tmp, path, img, bytes);
    free(bytes);
    if (s == CLG_OK && rename(tmp, path) != 0)
        s = clg_error(CLG_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (s != CLG_OK) unlink(tmp);
    return s;
}

/* Put result in dst, releasing the source first when dst is the source. */
static void replace_image(const clg_image *src, clg_image *dst, clg_image *result) {
    if (dst == src) clg_image_release(dst);
    *dst = *result;
}

clg_status clg_image_resize(const clg_image *src, int width, int height, clg_image *dst) {
    clg_image out = {0};
    size_t in_plane, out_plane;
    clg_status s;

    if (!src || !src->data || !dst)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_image_resize: no image");
    s = clg_image_create(width, height, src->channels, &out);
    if (s != CLG_OK) return s;
    in_plane = (size_t)src->width * src->height;
    out_plane = (size_t)width * height;

    if (width == src->width && height == src->height) {
        memcpy(out.data, src->data, image_numel(src) * sizeof *out.data);
        replace_image(src, dst, &out);
        return CLG_OK;
    }
    for (int c = 0; c < src->channels; c++) {
        if (!stbir_resize_float_generic(src->data + c * in_plane, src->width, src->height, 0,
                                        out.data + c * out_plane, width, height, 0, 1,
                                        STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                        STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR, NULL)) {
            clg_image_release(&out);
            return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "no memory to resize an image");
        }
    }
    /* The cubic overshoots at sharp edges; PIL's 8-bit results are clamped, so are ours. */
    for (size_t i = 0; i < image_numel(&out); i++) out.data[i] = clamp01(out.data[i]);
    replace_image(src, dst, &out);
    return CLG_OK;
}

clg_status clg_image_crop(const clg_image *src, int x, int y, int width, int height,
                          clg_image *dst) {
    clg_image out = {0};
    clg_status s;

    if (!src || !src->data || !dst)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_image_crop: no image");
    if (x < 0 || y < 0 || width <= 0 || height <= 0 || x > src->width - width ||
        y > src->height - height)
        return clg_error(CLG_ERR_SHAPE, "crop %dx%d at (%d, %d) does not fit in a %dx%d image",
                         width, height, x, y, src->width, src->height);
    s = clg_image_create(width, height, src->channels, &out);
    if (s != CLG_OK) return s;

    for (int c = 0; c < src->channels; c++)
        for (int row = 0; row < height; row++)
            memcpy(out.data + ((size_t)c * height + row) * width,
                   src->data + ((size_t)c * src->height + y + row) * src->width + x,
                   (size_t)width * sizeof *out.data);
    replace_image(src, dst, &out);
    return CLG_OK;
}

void clg_image_flip_horizontal(clg_image *img) {
    size_t rows = (size_t)img->channels * img->height;

    for (size_t r = 0; r < rows; r++) {
        float *row = img->data + r * img->width;
        for (int i = 0, j = img->width - 1; i < j; i++, j--) {
            float t = row[i];
            row[i] = row[j];
            row[j] = t;
        }
    }
}
