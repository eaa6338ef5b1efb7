/* Tests for safetensors reading, validation, conversion and atomic writing (host only). */
#include "support.h"

#include "clgan/safetensors.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path inside this test's scratch folder. */
static const char *scratch(const char *name) {
    static const char *dir;
    static char path[4096 + 256];

    if (!dir) {
        static char saved[4096];
        snprintf(saved, sizeof saved, "%s", test_scratch_dir("safetensors"));
        dir = saved;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void assert_error_has(const char *needle) {
    if (!strstr(clg_last_error(), needle))
        fail_msg("error \"%s\" lacks \"%s\"", clg_last_error(), needle);
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A file in the official layout: 8-byte LE header length, the header, then data. */
static void write_raw(const char *path, const char *header, const void *data, size_t data_size) {
    size_t n = strlen(header);
    unsigned char *bytes = malloc(8 + n + data_size + 1);

    assert_non_null(bytes);
    for (int b = 0; b < 8; b++) bytes[b] = (unsigned char)((uint64_t)n >> (8 * b));
    memcpy(bytes + 8, header, n);
    if (data_size) memcpy(bytes + 8 + n, data, data_size);
    write_bytes(path, bytes, 8 + n + data_size);
    free(bytes);
}

static int file_exists(const char *path) {
    struct stat info;
    return stat(path, &info) == 0;
}

static void assert_bits_equal(const float *got, const float *want, size_t n, const char *what) {
    if (memcmp(got, want, n * sizeof *got) == 0) return;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof *got))
            fail_msg("%s: element %zu is %.9g, want %.9g", what, i, got[i], want[i]);
}

static void test_round_trip_with_metadata(void **state) {
    const char *path = scratch("round_trip.safetensors");
    int64_t shape_a[4] = {2, 3, 1, 2}, shape_b[1] = {5};
    float a[12], b[5] = {1.0f, -0.0f, INFINITY, 3.5e-42f, -65504.0f};
    clg_safetensors *st, *back;
    (void)state;

    test_fill_uniform(a, 12, 7, -1.0f, 1.0f);
    CHECK(clg_safetensors_create(&st));
    CHECK(clg_safetensors_add(st, "model.1.weight", 4, shape_a, a));
    CHECK(clg_safetensors_add(st, "b \"quoted\"\\name\n", 1, shape_b, b));
    CHECK(clg_safetensors_set_metadata(st, "format", "pt"));
    CHECK(clg_safetensors_set_metadata(st, "note", "tab\there, \"quotes\", \xc3\xa9"));
    CHECK(clg_safetensors_set_metadata(st, "format", "clgan"));
    CHECK(clg_safetensors_write(st, path));
    CHECK(clg_safetensors_read(path, &back));

    assert_int_equal(clg_safetensors_count(back), 2);
    assert_string_equal(clg_safetensors_get(back, 0)->name, "model.1.weight");
    assert_int_equal(clg_safetensors_get(back, 0)->ndim, 4);
    assert_memory_equal(clg_safetensors_get(back, 0)->shape, shape_a, sizeof shape_a);
    assert_bits_equal(clg_safetensors_get(back, 0)->data, a, 12, "a");
    assert_bits_equal(clg_safetensors_find(back, "b \"quoted\"\\name\n")->data, b, 5, "b");
    assert_null(clg_safetensors_find(back, "missing"));
    assert_null(clg_safetensors_get(back, 2));

    const char *key, *value;
    assert_int_equal(clg_safetensors_metadata_count(back), 2);
    CHECK(clg_safetensors_metadata_at(back, 0, &key, &value));
    assert_string_equal(key, "format");
    assert_string_equal(value, "clgan");
    assert_string_equal(clg_safetensors_get_metadata(back, "note"),
                        "tab\there, \"quotes\", \xc3\xa9");
    assert_null(clg_safetensors_get_metadata(back, "absent"));
    clg_safetensors_release(st);
    clg_safetensors_release(back);
}

/* The header is padded to a multiple of 8 and starts with the metadata. */
static void test_written_layout(void **state) {
    const char *path = scratch("layout.safetensors");
    int64_t shape[1] = {3};
    float x[3] = {1, 2, 3};
    unsigned char bytes[256];
    clg_safetensors *st;
    uint64_t n = 0;
    (void)state;

    CHECK(clg_safetensors_create(&st));
    CHECK(clg_safetensors_add(st, "x", 1, shape, x));
    CHECK(clg_safetensors_set_metadata(st, "k", "v"));
    CHECK(clg_safetensors_write(st, path));
    clg_safetensors_release(st);

    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    for (int b = 7; b >= 0; b--) n = (n << 8) | bytes[b];
    assert_int_equal(n % 8, 0);
    assert_int_equal(size, 8 + n + 12);
    assert_memory_equal(bytes + 8, "{\"__metadata__\":{\"k\":\"v\"},\"x\":", 30);
    assert_int_equal(bytes[8 + n + 4], 0x00);
    assert_int_equal(bytes[8 + n + 7], 0x40); /* 2.0f is 0x40000000, little-endian */
}

static void test_scalar_and_empty(void **state) {
    const char *path = scratch("scalar.safetensors");
    int64_t empty_shape[3] = {4, 0, 2};
    float pi = 3.14159f;
    clg_safetensors *st, *back;
    (void)state;

    CHECK(clg_safetensors_create(&st));
    CHECK(clg_safetensors_add(st, "scalar", 0, NULL, &pi));
    CHECK(clg_safetensors_add(st, "empty", 3, empty_shape, NULL));
    CHECK(clg_safetensors_add(st, "after", 0, NULL, &pi));
    CHECK(clg_safetensors_write(st, path));
    CHECK(clg_safetensors_read(path, &back));

    const clg_safetensors_entry *s = clg_safetensors_find(back, "scalar");
    const clg_safetensors_entry *e = clg_safetensors_find(back, "empty");
    assert_int_equal(s->ndim, 0);
    assert_int_equal(s->numel, 1);
    assert_true(s->data[0] == pi);
    assert_int_equal(e->ndim, 3);
    assert_int_equal(e->numel, 0);
    assert_non_null(e->data);
    assert_memory_equal(e->shape, empty_shape, sizeof empty_shape);
    assert_true(clg_safetensors_find(back, "after")->data[0] == pi);
    assert_int_equal(clg_safetensors_metadata_count(back), 0);
    clg_safetensors_release(st);
    clg_safetensors_release(back);
}

/* Every half value against its definition: (-1)^s * 2^(e-15) * (1 + m/1024), or subnormal. */
static void test_half_conversion_exhaustive(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        int sign = h >> 15, exponent = (h >> 10) & 31, mantissa = h & 1023;
        float got = clg_half_to_float((uint16_t)h);
        double want;
        if (exponent == 31) {
            if (mantissa ? !isnan(got) : !(isinf(got) && (signbit(got) != 0) == sign))
                fail_msg("half 0x%04x gives %g", h, got);
            continue;
        }
        want = exponent ? ldexp(1024 + mantissa, exponent - 25) : ldexp(mantissa, -24);
        want = sign ? -want : want;
        if ((double)got != want || (signbit(got) != 0) != sign)
            fail_msg("half 0x%04x gives %.10g, want %.10g", h, got, want);
    }
}

static void test_bfloat16_conversion(void **state) {
    (void)state;
    assert_true(clg_bfloat16_to_float(0x3f80) == 1.0f);
    assert_true(clg_bfloat16_to_float(0xc020) == -2.5f);
    assert_true(clg_bfloat16_to_float(0x0001) == ldexpf(1.0f, -133));
    assert_true(clg_bfloat16_to_float(0x807f) == -ldexpf(127.0f, -133));
    assert_true(isinf(clg_bfloat16_to_float(0x7f80)) && clg_bfloat16_to_float(0x7f80) > 0);
    assert_true(isinf(clg_bfloat16_to_float(0xff80)) && clg_bfloat16_to_float(0xff80) < 0);
    assert_true(isnan(clg_bfloat16_to_float(0x7fc0)));
    assert_true(isnan(clg_bfloat16_to_float(0xff81)));
    assert_true(signbit(clg_bfloat16_to_float(0x8000)));
}

/* F16 and BF16 tensors written by hand, beside an F32 one, read back as the right floats. */
static void test_half_files_by_hand(void **state) {
    const char *path = scratch("halves.safetensors");
    const uint16_t f16[8] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0xfc00, 0x7e00, 0x8000};
    const uint16_t bf16[4] = {0x3f80, 0x4049, 0x0001, 0x7f80};
    const float f32 = -0.75f;
    unsigned char data[28];
    clg_safetensors *st;
    (void)state;

    for (int i = 0; i < 8; i++) data[2 * i] = f16[i] & 0xff, data[2 * i + 1] = f16[i] >> 8;
    for (int i = 0; i < 4; i++) data[16 + 2 * i] = bf16[i] & 0xff, data[17 + 2 * i] = bf16[i] >> 8;
    memcpy(data + 24, (const unsigned char[]){0x00, 0x00, 0x40, 0xbf}, 4);
    write_raw(path,
              "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]},"
              "\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
              "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}",
              data, sizeof data);
    CHECK(clg_safetensors_read(path, &st));

    const float *h = clg_safetensors_find(st, "h")->data;
    const float *b = clg_safetensors_find(st, "b")->data;
    float want_h[6] = {1.0f, -2.0f, ldexpf(1, -24), ldexpf(1023, -24), 65504.0f, -INFINITY};
    float want_b[4] = {1.0f, 3.140625f, ldexpf(1, -133), INFINITY};
    assert_bits_equal(h, want_h, 6, "f16");
    assert_true(isnan(h[6]));
    assert_true(h[7] == 0.0f && signbit(h[7]));
    assert_bits_equal(b, want_b, 4, "bf16");
    assert_true(clg_safetensors_find(st, "s")->data[0] == f32);
    assert_string_equal(clg_safetensors_get(st, 0)->name, "s");
    clg_safetensors_release(st);
}

/* A file made by tests/data/safetensors/make_golden.py with PyTorch's own conversions. */
static void test_golden_from_pytorch(void **state) {
    clg_safetensors *st;
    (void)state;

    CHECK(clg_safetensors_read(test_source_path("tests/data/safetensors/golden.safetensors"), &st));
    assert_int_equal(clg_safetensors_count(st), 7);
    assert_string_equal(clg_safetensors_get_metadata(st, "format"), "pt");

    const clg_safetensors_entry *f16 = clg_safetensors_find(st, "b.f16");
    const clg_safetensors_entry *bf16 = clg_safetensors_find(st, "c.bf16");
    assert_int_equal(f16->ndim, 2);
    assert_int_equal(f16->shape[1], 8);
    assert_bits_equal(f16->data, clg_safetensors_find(st, "d.f16_as_f32")->data, 16, "f16");
    assert_bits_equal(bf16->data, clg_safetensors_find(st, "e.bf16_as_f32")->data, 16, "bf16");
    assert_true(clg_safetensors_find(st, "a.f32")->data[2] == 1.0f);
    assert_true(clg_safetensors_find(st, "f.scalar")->data[0] == -1.5f);
    assert_int_equal(clg_safetensors_find(st, "g.empty")->numel, 0);
    clg_safetensors_release(st);
}

struct bad_header {
    const char *header;
    size_t data_size;
    clg_status status;
    const char *tensor; /* a substring naming the tensor, or NULL when none applies */
    const char *reason;
};

static const struct bad_header bad_headers[] = {
    {"{\"w\":", 0, CLG_ERR_FORMAT, NULL, "not valid JSON"},
    {"[1,2]", 0, CLG_ERR_FORMAT, NULL, "not a JSON object"},
    {"{} x", 0, CLG_ERR_FORMAT, NULL, "not valid JSON"},
    {"{\"w\":3}", 0, CLG_ERR_FORMAT, "tensor 'w'", "not a JSON object"},
    {"{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT, "tensor 'w'",
     "dtype is missing"},
    {"{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT, "tensor 'w'",
     "dtype is missing or not a string"},
    {"{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, CLG_ERR_UNSUPPORTED,
     "tensor 'w'", "dtype I64 is not supported"},
    {"{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, CLG_ERR_UNSUPPORTED,
     "tensor 'w'", "dtype F64"},
    {"{\"w\":{\"dtype\":\"Q7\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "unknown dtype 'Q7'"},
    {"{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT, "tensor 'w'",
     "shape is missing"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16, CLG_ERR_FORMAT,
     "tensor 'w'", "shape is missing or not an array"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "shape entry 1 is not a non-negative integer"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "shape entry 0"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, CLG_ERR_FORMAT,
     "tensor 'w'", "shape entry 0"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[9007199254740993],\"data_offsets\":[0,4]}}", 4,
     CLG_ERR_FORMAT, "tensor 'w'", "shape entry 0"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
     CLG_ERR_FORMAT, "tensor 'w'", "9 dimensions"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, CLG_ERR_FORMAT, "tensor 'w'",
     "data_offsets is not an array of two integers"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets is not"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets is not"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets is not"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets is not"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets [8, 4] are not inside the data section (8 bytes)"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[250],\"data_offsets\":[0,1000]}}", 16, CLG_ERR_FORMAT,
     "tensor 'w'", "data_offsets [0, 1000] are not inside"},
    {"{\"model.1.weight\":{\"dtype\":\"F32\",\"shape\":[64,3,7,7],\"data_offsets\":[0,100]}}", 100,
     CLG_ERR_FORMAT, "model.safetensors: tensor 'model.1.weight'",
     "data_offsets [0, 100] do not match shape [64, 3, 7, 7] of F32 (37632 bytes)"},
    {"{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,12]}}", 12, CLG_ERR_FORMAT,
     "tensor 'h'", "do not match shape [3] of F16 (6 bytes)"},
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648,2147483648],"
     "\"data_offsets\":[0,0]}}",
     0, CLG_ERR_FORMAT, "tensor 'w'", "too many elements (overflow)"},
    /* 2^31 * 2^31 elements fit in 64 bits, but their 2^64 bytes do not. */
    {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,0]}}", 0,
     CLG_ERR_FORMAT, "tensor 'w'", "overflow"},
    {"{\"w\":{\"dtype\":\"BF16\",\"shape\":[4503599627370496,4096],\"data_offsets\":[0,0]}}", 0,
     CLG_ERR_FORMAT, "tensor 'w'", "overflow"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, CLG_ERR_FORMAT, "tensor 'b'", "[4, 12] overlap tensor 'a' [0, 8]"},
    {"{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
     20, CLG_ERR_FORMAT, "tensor 'b'", "leave a gap after tensor 'a'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, CLG_ERR_FORMAT,
     "tensor 'a'", "gap at the start"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, CLG_ERR_FORMAT, NULL,
     "tensors cover 8 bytes of the 12-byte data section"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
     8, CLG_ERR_FORMAT, "tensor 'a'", "appears twice"},
    {"{\"__metadata__\":[\"x\"]}", 0, CLG_ERR_FORMAT, NULL, "__metadata__ is not an object"},
    {"{\"__metadata__\":{\"epoch\":3}}", 0, CLG_ERR_FORMAT, NULL,
     "__metadata__ value of 'epoch' is not a string"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, CLG_ERR_FORMAT, NULL, "appears twice"},
};

static void test_malformed_headers(void **state) {
    unsigned char data[128] = {0};
    clg_safetensors *st;
    (void)state;

    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        const struct bad_header *c = &bad_headers[i];
        const char *path = scratch("model.safetensors");
        write_raw(path, c->header, data, c->data_size);
        clg_clear_error();
        if (clg_safetensors_read(path, &st) != c->status)
            fail_msg("case %zu (%s): wrong status; message \"%s\"", i, c->header, clg_last_error());
        assert_null(st);
        assert_error_has(path);
        if (c->tensor) assert_error_has(c->tensor);
        assert_error_has(c->reason);
    }
}

static void test_malformed_lengths(void **state) {
    const char *path = scratch("short.safetensors");
    unsigned char bytes[16] = {0};
    clg_safetensors *st;
    (void)state;

    write_bytes(path, bytes, 0);
    assert_int_equal(clg_safetensors_read(path, &st), CLG_ERR_FORMAT);
    assert_error_has("short.safetensors: file is 0 bytes, too short");
    write_bytes(path, bytes, 5);
    assert_int_equal(clg_safetensors_read(path, &st), CLG_ERR_FORMAT);
    assert_error_has("file is 5 bytes");

    /* Header lengths past the end of the file, and absurdly large. */
    bytes[0] = 9;
    write_bytes(path, bytes, 16);
    assert_int_equal(clg_safetensors_read(path, &st), CLG_ERR_FORMAT);
    assert_error_has("header length 9 does not fit in the file (16 bytes)");
    bytes[0] = 0, bytes[5] = 1;
    write_bytes(path, bytes, 16);
    assert_int_equal(clg_safetensors_read(path, &st), CLG_ERR_FORMAT);
    assert_error_has("header length 1099511627776");

    /* A NUL byte would hide the rest of the header from the JSON parser. */
    write_raw(path, "{}      ", NULL, 0);
    CHECK(clg_safetensors_read(path, &st));
    clg_safetensors_release(st);
    memcpy(bytes, (const unsigned char[]){8, 0, 0, 0, 0, 0, 0, 0, '{', '}', 0, ' ', 'x'}, 13);
    write_bytes(path, bytes, 16);
    assert_int_equal(clg_safetensors_read(path, &st), CLG_ERR_FORMAT);
    assert_error_has("NUL byte");
}

static void test_unreadable_files(void **state) {
    clg_safetensors *st;
    (void)state;

    assert_int_equal(clg_safetensors_read(scratch("nowhere.safetensors"), &st), CLG_ERR_IO);
    assert_error_has("nowhere.safetensors: cannot open: No such file or directory");
    assert_int_equal(clg_safetensors_read(scratch(""), &st), CLG_ERR_IO);
    assert_error_has("not a regular file");
    assert_int_equal(clg_safetensors_read(NULL, &st), CLG_ERR_INVALID_ARGUMENT);
}

static clg_safetensors *one_tensor(float value, size_t numel) {
    int64_t shape[1] = {(int64_t)numel};
    float *data = malloc(numel * sizeof *data);
    clg_safetensors *st;

    for (size_t i = 0; i < numel; i++) data[i] = value;
    CHECK(clg_safetensors_create(&st));
    CHECK(clg_safetensors_add(st, "x", 1, shape, data));
    free(data);
    return st;
}

static void assert_file_holds(const char *path, float value) {
    clg_safetensors *st;

    CHECK(clg_safetensors_read(path, &st));
    assert_true(clg_safetensors_find(st, "x")->data[0] == value);
    clg_safetensors_release(st);
}

/* A write that fails at any step leaves the previous file, and no temporary file, behind. */
static void test_failed_write_keeps_old_file(void **state) {
    const char *path = scratch("keep.safetensors");
    char saved[4096 + 256], tmp[4096 + 320];
    clg_safetensors *old = one_tensor(1.0f, 4), *new = one_tensor(2.0f, 4096);
    (void)state;

    snprintf(saved, sizeof saved, "%s", path);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", saved, (long)getpid());
    CHECK(clg_safetensors_write(old, saved));

    /* The temporary name is taken by a folder: the file cannot even be created. */
    assert_int_equal(mkdir(tmp, 0700), 0);
    assert_int_equal(clg_safetensors_write(new, saved), CLG_ERR_IO);
    assert_error_has(saved);
    assert_error_has("Is a directory");
    assert_int_equal(rmdir(tmp), 0);
    assert_file_holds(saved, 1.0f);

    /* The file size limit stops the write half way. */
    struct rlimit limit, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &limit), 0);
    small = limit;
    small.rlim_cur = 1024;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    clg_status s = clg_safetensors_write(new, saved);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limit), 0);
    assert_int_equal(s, CLG_ERR_IO);
    assert_error_has("File too large");
    assert_false(file_exists(tmp));
    assert_file_holds(saved, 1.0f);

    CHECK(clg_safetensors_write(new, saved));
    assert_file_holds(saved, 2.0f);
    clg_safetensors_release(old);
    clg_safetensors_release(new);
}

static void test_write_to_bad_places(void **state) {
    clg_safetensors *st = one_tensor(1.0f, 2);
    char folder[4096 + 256], tmp[4096 + 320];
    (void)state;

    assert_int_equal(clg_safetensors_write(st, scratch("missing/x.safetensors")), CLG_ERR_IO);
    assert_error_has("missing/x.safetensors");
    assert_error_has("No such file or directory");

    /* Renaming a file over a folder fails after the data is written; the temporary goes. */
    snprintf(folder, sizeof folder, "%s", scratch("folder"));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", folder, (long)getpid());
    assert_int_equal(mkdir(folder, 0700), 0);
    assert_int_equal(clg_safetensors_write(st, folder), CLG_ERR_IO);
    assert_error_has("cannot rename");
    assert_false(file_exists(tmp));
    clg_safetensors_release(st);
}

static void test_add_errors(void **state) {
    int64_t shape[9] = {2, 2, 1, 1, 1, 1, 1, 1, 1}, negative[1] = {-3};
    int64_t huge[2] = {INT64_C(1) << 40, INT64_C(1) << 40};
    float data[4] = {0};
    clg_safetensors *st;
    (void)state;

    CHECK(clg_safetensors_create(&st));
    CHECK(clg_safetensors_add(st, "w", 2, shape, data));
    assert_int_equal(clg_safetensors_add(st, "w", 2, shape, data), CLG_ERR_INVALID_ARGUMENT);
    assert_error_has("'w' is already present");
    assert_int_equal(clg_safetensors_add(st, "__metadata__", 1, shape, data),
                     CLG_ERR_INVALID_ARGUMENT);
    assert_int_equal(clg_safetensors_add(st, "", 1, shape, data), CLG_ERR_INVALID_ARGUMENT);
    assert_int_equal(clg_safetensors_add(st, "v", 9, shape, data), CLG_ERR_INVALID_ARGUMENT);
    assert_error_has("ndim 9");
    assert_int_equal(clg_safetensors_add(st, "v", 1, negative, data), CLG_ERR_INVALID_ARGUMENT);
    assert_error_has("negative");
    assert_int_equal(clg_safetensors_add(st, "v", 2, huge, data), CLG_ERR_INVALID_ARGUMENT);
    assert_error_has("too large");
    assert_int_equal(clg_safetensors_add(st, "v", 1, shape, NULL), CLG_ERR_INVALID_ARGUMENT);
    assert_int_equal(clg_safetensors_count(st), 1);
    assert_int_equal(clg_safetensors_set_metadata(st, NULL, "x"), CLG_ERR_INVALID_ARGUMENT);
    clg_safetensors_release(st);
    clg_safetensors_release(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_with_metadata),
        cmocka_unit_test(test_written_layout),
        cmocka_unit_test(test_scalar_and_empty),
        cmocka_unit_test(test_half_conversion_exhaustive),
        cmocka_unit_test(test_bfloat16_conversion),
        cmocka_unit_test(test_half_files_by_hand),
        cmocka_unit_test(test_golden_from_pytorch),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_malformed_lengths),
        cmocka_unit_test(test_unreadable_files),
        cmocka_unit_test(test_failed_write_keeps_old_file),
        cmocka_unit_test(test_write_to_bad_places),
        cmocka_unit_test(test_add_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
