/* Host images: decoding (alpha, gray, 16-bit, errors), atomic PNG saving, resize, crop, flip. */
#include "support.h"

#include "clgan/image.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

static char scratch[4096];

static const char *scratch_path(const char *name) {
    static char path[4096 + 256];
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    return path;
}

static int setup(void **state) {
    (void)state;
    snprintf(scratch, sizeof scratch, "%s", test_scratch_dir("image"));
    return 0;
}

/* ---- A minimal 16-bit grayscale PNG writer (stored deflate blocks), since stb writes 8 bits. */

static uint32_t crc32_of(const unsigned char *p, size_t n, uint32_t crc) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void write_chunk(FILE *f, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char head[8], tail[4];
    put_be32(head, n);
    memcpy(head + 4, type, 4);
    put_be32(tail, crc32_of(data, n, crc32_of(head + 4, 4, 0)));
    fwrite(head, 1, 8, f);
    if (n > 0) fwrite(data, 1, n, f);
    fwrite(tail, 1, 4, f);
}

/* A zlib stream holding raw in one stored block (raw must be under 65536 bytes). */
static size_t zlib_stored(const unsigned char *raw, size_t n, unsigned char *out) {
    uint32_t a = 1, b = 0;
    size_t len = 0;

    out[len++] = 0x78;
    out[len++] = 0x01;
    out[len++] = 1; /* final block, stored */
    out[len++] = (unsigned char)(n & 0xff);
    out[len++] = (unsigned char)(n >> 8);
    out[len++] = (unsigned char)(~n & 0xff);
    out[len++] = (unsigned char)((~n >> 8) & 0xff);
    memcpy(out + len, raw, n);
    len += n;
    for (size_t i = 0; i < n; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    put_be32(out + len, (b << 16) | a);
    return len + 4;
}

static void write_gray16_png(const char *path, int w, int h, const uint16_t *px) {
    static const unsigned char signature[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    unsigned char ihdr[13] = {0}, raw[4096], z[4200];
    size_t n = 0;
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    put_be32(ihdr, (uint32_t)w);
    put_be32(ihdr + 4, (uint32_t)h);
    ihdr[8] = 16; /* bit depth; colour type 0 (gray) */
    for (int y = 0; y < h; y++) {
        raw[n++] = 0; /* no filter */
        for (int x = 0; x < w; x++) {
            raw[n++] = (unsigned char)(px[y * w + x] >> 8);
            raw[n++] = (unsigned char)(px[y * w + x] & 0xff);
        }
    }
    fwrite(signature, 1, 8, f);
    write_chunk(f, "IHDR", ihdr, 13);
    write_chunk(f, "IDAT", z, (uint32_t)zlib_stored(raw, n, z));
    write_chunk(f, "IEND", NULL, 0);
    fclose(f);
}

/* ---- Loading ---- */

static void rgba_is_composited_on_white(void **state) {
    /* Opaque red, transparent red, half-transparent blue, opaque black at 50% gray. */
    unsigned char px[4][4] = {{255, 0, 0, 255}, {255, 0, 0, 0}, {0, 0, 255, 128}, {0, 0, 0, 255}};
    const char *path = scratch_path("rgba.png");
    clg_image img = {0};
    float a = 128.0f / 255.0f;
    float want[3][4] = {{1, 1, 1 - a, 0}, {0, 1, 1 - a, 0}, {0, 1, 1, 0}};
    (void)state;

    assert_true(stbi_write_png(path, 2, 2, 4, px, 8));
    CHECK(clg_image_load(path, 3, &img));
    assert_int_equal(img.width, 2);
    assert_int_equal(img.height, 2);
    assert_int_equal(img.channels, 3);
    assert_floats_close(img.data, &want[0][0], 12, 0, 1e-6, "RGBA on white");
    clg_image_release(&img);
    assert_null(img.data);
}

static void gray_is_replicated_and_colour_becomes_luminance(void **state) {
    unsigned char gray[3] = {0, 51, 255}, rgb[3] = {255, 128, 10};
    const char *gray_path = scratch_path("gray.png"), *rgb_path = scratch_path("rgb.png");
    clg_image img = {0};
    float want_rgb[9] = {0, 0.2f, 1, 0, 0.2f, 1, 0, 0.2f, 1};
    float lum = (0.299f * 255 + 0.587f * 128 + 0.114f * 10) / 255.0f;
    (void)state;

    assert_true(stbi_write_png(gray_path, 3, 1, 1, gray, 3));
    CHECK(clg_image_load(gray_path, 3, &img));
    assert_int_equal(img.channels, 3);
    assert_floats_close(img.data, want_rgb, 9, 0, 1e-6, "gray to RGB");
    clg_image_release(&img);

    CHECK(clg_image_load(gray_path, 0, &img));
    assert_int_equal(img.channels, 1);
    clg_image_release(&img);

    assert_true(stbi_write_png(rgb_path, 1, 1, 3, rgb, 3));
    CHECK(clg_image_load(rgb_path, 1, &img));
    assert_int_equal(img.channels, 1);
    assert_floats_close(img.data, &lum, 1, 0, 1e-6, "luminance");
    clg_image_release(&img);
}

static void sixteen_bit_png_is_scaled_not_clipped(void **state) {
    uint16_t px[4] = {0, 1000, 32768, 65535};
    float want[4] = {0, 1000.0f / 65535, 32768.0f / 65535, 1};
    const char *path = scratch_path("gray16.png");
    clg_image img = {0};
    (void)state;

    write_gray16_png(path, 2, 2, px);
    CHECK(clg_image_load(path, 1, &img));
    assert_int_equal(img.width, 2);
    assert_floats_close(img.data, want, 4, 1e-6, 1e-7, "16-bit gray");
    clg_image_release(&img);
}

static void corrupt_and_missing_files_are_named(void **state) {
    const char *path = scratch_path("corrupt.png");
    FILE *f = fopen(path, "wb");
    clg_image img = {0};
    (void)state;

    assert_non_null(f);
    fputs("this is not a PNG", f);
    fclose(f);
    assert_int_equal(clg_image_load(path, 3, &img), CLG_ERR_FORMAT);
    assert_non_null(strstr(clg_last_error(), path));
    assert_null(img.data);

    path = scratch_path("missing.png");
    assert_int_equal(clg_image_load(path, 3, &img), CLG_ERR_IO);
    assert_non_null(strstr(clg_last_error(), path));
    assert_non_null(strstr(clg_last_error(), "No such file"));
    assert_int_equal(clg_image_load(path, 2, &img), CLG_ERR_INVALID_ARGUMENT);
}

/* ---- Saving ---- */

static int count_files(const char *folder) {
    DIR *dir = opendir(folder);
    struct dirent *e;
    int n = 0;

    assert_non_null(dir);
    while ((e = readdir(dir)) != NULL) n += e->d_name[0] != '.';
    closedir(dir);
    return n;
}

static void save_png_clamps_rounds_and_leaves_no_temporary(void **state) {
    char folder[4200], path[4300];
    float values[6] = {-0.5f, 0.0f, 0.2f, 0.5f, 1.0f, 7.0f};
    float want[6] = {0, 0, 51.0f / 255, 128.0f / 255, 1, 1};
    clg_image img = {2, 3, 1, values}, back = {0};
    (void)state;

    snprintf(folder, sizeof folder, "%s", test_scratch_dir("image-save"));
    snprintf(path, sizeof path, "%s/out.png", folder);
    CHECK(clg_image_save_png(path, &img));
    assert_int_equal(count_files(folder), 1);
    CHECK(clg_image_load(path, 1, &back));
    assert_int_equal(back.width, 2);
    assert_int_equal(back.height, 3);
    assert_floats_close(back.data, want, 6, 0, 1e-6, "saved PNG");
    clg_image_release(&back);

    snprintf(path, sizeof path, "%s/no-such-folder/out.png", folder);
    assert_int_equal(clg_image_save_png(path, &img), CLG_ERR_IO);
    assert_non_null(strstr(clg_last_error(), "no-such-folder"));
    assert_int_equal(count_files(folder), 1);
}

/* ---- Geometry ---- */

static void crop_and_flip_move_pixels(void **state) {
    clg_image img = {0}, out = {0};
    float want_crop[4] = {5, 6, 9, 10}, want_flip[4] = {6, 5, 10, 9};
    (void)state;

    CHECK(clg_image_create(4, 3, 2, &img));
    for (int i = 0; i < 24; i++) img.data[i] = (float)i;
    CHECK(clg_image_crop(&img, 1, 1, 2, 2, &out));
    assert_int_equal(out.width, 2);
    assert_int_equal(out.height, 2);
    assert_int_equal(out.channels, 2);
    assert_floats_close(out.data, want_crop, 4, 0, 0, "crop, plane 0");
    assert_true(out.data[4] == 17.0f && out.data[7] == 22.0f);
    clg_image_flip_horizontal(&out);
    assert_floats_close(out.data, want_flip, 4, 0, 0, "flip, plane 0");
    clg_image_release(&out);

    assert_int_equal(clg_image_crop(&img, 3, 0, 2, 2, &out), CLG_ERR_SHAPE);
    assert_int_equal(clg_image_crop(&img, 0, -1, 2, 2, &out), CLG_ERR_SHAPE);
    CHECK(clg_image_crop(&img, 0, 0, 4, 1, &img)); /* in place */
    assert_int_equal(img.height, 1);
    assert_true(img.data[3] == 3.0f && img.data[4] == 12.0f);
    clg_image_release(&img);
}

static void resize_keeps_constants_and_stays_in_range(void **state) {
    clg_image img = {0}, out = {0};
    (void)state;

    CHECK(clg_image_create(8, 6, 3, &img));
    for (int i = 0; i < 8 * 6; i++) img.data[i] = 0.25f;
    for (int i = 8 * 6; i < 3 * 8 * 6; i++) img.data[i] = (i / 8 + i) % 2 ? 1.0f : 0.0f;

    CHECK(clg_image_resize(&img, 5, 11, &out));
    assert_int_equal(out.width, 5);
    assert_int_equal(out.height, 11);
    assert_int_equal(out.channels, 3);
    for (int i = 0; i < 5 * 11; i++) assert_true(fabsf(out.data[i] - 0.25f) < 1e-5f);
    for (int i = 0; i < 3 * 5 * 11; i++) assert_true(out.data[i] >= 0.0f && out.data[i] <= 1.0f);
    clg_image_release(&out);

    CHECK(clg_image_resize(&img, 8, 6, &out)); /* same size: an exact copy */
    assert_memory_equal(out.data, img.data, sizeof(float) * 3 * 8 * 6);
    clg_image_release(&out);

    CHECK(clg_image_resize(&img, 4, 3, &img)); /* in place */
    assert_int_equal(img.width, 4);
    assert_true(fabsf(img.data[5] - 0.25f) < 1e-5f);
    assert_int_equal(clg_image_resize(&img, 0, 3, &out), CLG_ERR_INVALID_ARGUMENT);
    clg_image_release(&img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rgba_is_composited_on_white),
        cmocka_unit_test(gray_is_replicated_and_colour_becomes_luminance),
        cmocka_unit_test(sixteen_bit_png_is_scaled_not_clipped),
        cmocka_unit_test(corrupt_and_missing_files_are_named),
        cmocka_unit_test(save_png_clamps_rounds_and_leaves_no_temporary),
        cmocka_unit_test(crop_and_flip_move_pixels),
        cmocka_unit_test(resize_keeps_constants_and_stays_in_range),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
