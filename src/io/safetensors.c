/* Named float32 tensors in memory, read from and atomically written to .safetensors files. */
#include "clgan/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define METADATA_KEY "__metadata__"

/* JSON numbers are doubles; integers at or above 2^53 may have been rounded, so refuse them. */
#define JSON_INT_LIMIT 9007199254740992.0

/* Room for "[d0, d1, ...]" with 8 dimensions of 20 digits. */
#define SHAPE_TEXT 200

struct tensor {
    clg_safetensors_entry pub;
    char *name;
    float *data;
};

struct metadata {
    char *key;
    char *value;
};

struct clg_safetensors {
    struct tensor **tensors;
    size_t count, capacity;
    struct metadata *metadata;
    size_t metadata_count, metadata_capacity;
};

/* ---- conversions ---- */

float clg_half_to_float(uint16_t bits) {
    uint32_t sign = (uint32_t)(bits >> 15) << 31;
    uint32_t exponent = (bits >> 10) & 0x1f;
    uint32_t mantissa = bits & 0x3ff;
    uint32_t out;
    float value;

    /* Zero and subnormals: mantissa * 2^-24, exact in float. */
    if (exponent == 0) {
        value = (float)mantissa * 0x1p-24f;
        return sign ? -value : value;
    }

    /* Infinity and NaN keep their payload; normal numbers rebias the exponent. */
    if (exponent == 0x1f)
        out = sign | 0x7f800000u | (mantissa << 13);
    else
        out = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
    memcpy(&value, &out, sizeof value);
    return value;
}

float clg_bfloat16_to_float(uint16_t bits) {
    uint32_t out = (uint32_t)bits << 16;
    float value;

    memcpy(&value, &out, sizeof value);
    return value;
}

static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ---- the collection ---- */

static char *copy_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

/* Make room for need items in *items, doubling its capacity. */
static int grow(void **items, size_t *capacity, size_t need, size_t item_size) {
    size_t cap = *capacity ? *capacity : 8;
    void *bigger;

    if (need <= *capacity) return 0;
    while (cap < need) cap *= 2;
    bigger = realloc(*items, cap * item_size);
    if (!bigger) return -1;
    *items = bigger;
    *capacity = cap;
    return 0;
}

/* The element count of shape, 0 when any dimension is 0; -1 when numel * elem_size overflows. */
static int shape_numel(int ndim, const int64_t *shape, size_t elem_size, size_t *numel) {
    size_t n = 1;

    for (int i = 0; i < ndim; i++)
        if (shape[i] == 0) {
            *numel = 0;
            return 0;
        }
    for (int i = 0; i < ndim; i++) {
        if ((uint64_t)shape[i] > SIZE_MAX / elem_size / n) return -1;
        n *= (size_t)shape[i];
    }
    *numel = n;
    return 0;
}

static void shape_text(char *out, size_t size, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(out, size, "[");

    for (int i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (used < size) snprintf(out + used, size - used, "]");
}

clg_status clg_safetensors_create(clg_safetensors **out) {
    if (!out) return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_safetensors_create: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "clg_safetensors_create: no memory");
    return CLG_OK;
}

static void tensor_free(struct tensor *t) {
    if (!t) return;
    free(t->name);
    free(t->data);
    free(t);
}

void clg_safetensors_release(clg_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->count; i++) tensor_free(st->tensors[i]);
    for (size_t i = 0; i < st->metadata_count; i++) {
        free(st->metadata[i].key);
        free(st->metadata[i].value);
    }
    free(st->tensors);
    free(st->metadata);
    free(st);
}

/* Append a zero-filled tensor; the caller has checked the name and shape. */
static clg_status tensor_append(clg_safetensors *st, const char *name, int ndim,
                                const int64_t *shape, size_t numel, struct tensor **out) {
    struct tensor *t = calloc(1, sizeof *t);

    if (!t || grow((void **)&st->tensors, &st->capacity, st->count + 1, sizeof *st->tensors))
        goto no_memory;
    t->name = copy_string(name);
    t->data = calloc(numel ? numel : 1, sizeof *t->data);
    if (!t->name || !t->data) goto no_memory;

    t->pub.name = t->name;
    t->pub.ndim = ndim;
    if (ndim > 0) memcpy(t->pub.shape, shape, (size_t)ndim * sizeof *shape);
    t->pub.numel = numel;
    t->pub.data = t->data;
    st->tensors[st->count++] = t;
    *out = t;
    return CLG_OK;

no_memory:
    tensor_free(t);
    return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "tensor '%s': no memory for %zu floats", name,
                     numel);
}

static clg_status check_add_arguments(const clg_safetensors *st, const char *name, int ndim,
                                      const int64_t *shape) {
    const char *fn = "clg_safetensors_add";

    if (!st || !name || (ndim > 0 && !shape))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: st, name or shape is NULL", fn);
    if (!name[0] || !strcmp(name, METADATA_KEY))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: '%s' is not a usable tensor name", fn,
                         name);
    if (ndim < 0 || ndim > CLG_SAFETENSORS_MAX_DIMS)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensor '%s': ndim %d is not in 0..%d", fn,
                         name, ndim, CLG_SAFETENSORS_MAX_DIMS);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0)
            return clg_error(CLG_ERR_INVALID_ARGUMENT,
                             "%s: tensor '%s': dimension %d is negative (%" PRId64 ")", fn, name, i,
                             shape[i]);
    if (clg_safetensors_find(st, name))
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "%s: tensor '%s' is already present", fn, name);
    return CLG_OK;
}

clg_status clg_safetensors_add(clg_safetensors *st, const char *name, int ndim,
                               const int64_t *shape, const float *data) {
    struct tensor *t;
    size_t numel;
    clg_status s = check_add_arguments(st, name, ndim, shape);

    if (s != CLG_OK) return s;
    if (shape_numel(ndim, shape, sizeof(float), &numel))
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "clg_safetensors_add: tensor '%s': shape is too large", name);
    if (numel > 0 && !data)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_safetensors_add: tensor '%s': data is NULL",
                         name);

    s = tensor_append(st, name, ndim, shape, numel, &t);
    if (s != CLG_OK) return s;
    if (numel > 0) memcpy(t->data, data, numel * sizeof *data);
    return CLG_OK;
}

static struct metadata *metadata_find(const clg_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->metadata_count; i++)
        if (!strcmp(st->metadata[i].key, key)) return &st->metadata[i];
    return NULL;
}

clg_status clg_safetensors_set_metadata(clg_safetensors *st, const char *key, const char *value) {
    struct metadata *m;
    char *copy;

    if (!st || !key || !value)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_safetensors_set_metadata: NULL argument");
    copy = copy_string(value);
    if (!copy) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "metadata '%s': no memory", key);

    /* An existing key keeps its place; a new one goes at the end. */
    m = metadata_find(st, key);
    if (m) {
        free(m->value);
        m->value = copy;
        return CLG_OK;
    }
    if (grow((void **)&st->metadata, &st->metadata_capacity, st->metadata_count + 1,
             sizeof *st->metadata) ||
        !(st->metadata[st->metadata_count].key = copy_string(key))) {
        free(copy);
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "metadata '%s': no memory", key);
    }
    st->metadata[st->metadata_count++].value = copy;
    return CLG_OK;
}

const char *clg_safetensors_get_metadata(const clg_safetensors *st, const char *key) {
    const struct metadata *m = st && key ? metadata_find(st, key) : NULL;
    return m ? m->value : NULL;
}

size_t clg_safetensors_metadata_count(const clg_safetensors *st) {
    return st ? st->metadata_count : 0;
}

clg_status clg_safetensors_metadata_at(const clg_safetensors *st, size_t index, const char **key,
                                       const char **value) {
    if (!st || !key || !value || index >= st->metadata_count)
        return clg_error(CLG_ERR_INVALID_ARGUMENT,
                         "clg_safetensors_metadata_at: index %zu out of range or NULL argument",
                         index);
    *key = st->metadata[index].key;
    *value = st->metadata[index].value;
    return CLG_OK;
}

size_t clg_safetensors_count(const clg_safetensors *st) {
    return st ? st->count : 0;
}

const clg_safetensors_entry *clg_safetensors_get(const clg_safetensors *st, size_t index) {
    if (!st || index >= st->count) return NULL;
    return &st->tensors[index]->pub;
}

const clg_safetensors_entry *clg_safetensors_find(const clg_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    for (size_t i = 0; i < st->count; i++)
        if (!strcmp(st->tensors[i]->name, name)) return &st->tensors[i]->pub;
    return NULL;
}

/* ---- reading ---- */

struct dtype {
    const char *name;
    size_t size;
};

static const struct dtype dtype_f32 = {"F32", 4};
static const struct dtype dtype_f16 = {"F16", 2};
static const struct dtype dtype_bf16 = {"BF16", 2};

/* Valid safetensors dtypes that this reader does not convert. */
static const char *const unsupported_dtypes[] = {
    "F64", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
};

/* One header entry, checked but not yet read. */
struct spec {
    const char *name;
    const struct dtype *dtype;
    int ndim;
    int64_t shape[CLG_SAFETENSORS_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;
};

struct reader {
    const char *path;
    FILE *file;
    uint64_t file_size, header_size, data_size;
    char *header;
    cJSON *root;
    const cJSON *metadata;
    struct spec *specs;
    size_t count;
};

static clg_status format_error(const struct reader *r, const char *name, const char *what) {
    if (name) return clg_error(CLG_ERR_FORMAT, "%s: tensor '%s': %s", r->path, name, what);
    return clg_error(CLG_ERR_FORMAT, "%s: %s", r->path, what);
}

static clg_status io_error(const struct reader *r, const char *what) {
    return clg_error(CLG_ERR_IO, "%s: %s: %s", r->path, what, strerror(errno));
}

static clg_status reader_open(struct reader *r) {
    struct stat info;

    r->file = fopen(r->path, "rb");
    if (!r->file) return io_error(r, "cannot open");
    if (fstat(fileno(r->file), &info)) return io_error(r, "cannot stat");
    if (!S_ISREG(info.st_mode)) return clg_error(CLG_ERR_IO, "%s: not a regular file", r->path);
    r->file_size = (uint64_t)info.st_size;
    return CLG_OK;
}

/* Read exactly size bytes at offset; a short read means the file changed or failed. */
static clg_status read_at(struct reader *r, uint64_t offset, void *buffer, size_t size) {
    if (size == 0) return CLG_OK;
    if (fseeko(r->file, (off_t)offset, SEEK_SET)) return io_error(r, "cannot seek");
    if (fread(buffer, 1, size, r->file) == size) return CLG_OK;
    if (ferror(r->file)) return io_error(r, "cannot read");
    return clg_error(CLG_ERR_IO, "%s: file ended at byte %" PRIu64 " (did it change while read?)",
                     r->path, offset + size);
}

static clg_status read_header_size(struct reader *r) {
    unsigned char bytes[8];
    char what[160];
    clg_status s;

    if (r->file_size < 8) {
        snprintf(what, sizeof what, "file is %" PRIu64 " bytes, too short for a safetensors header",
                 r->file_size);
        return format_error(r, NULL, what);
    }
    s = read_at(r, 0, bytes, 8);
    if (s != CLG_OK) return s;

    r->header_size = load_le64(bytes);
    if (r->header_size > CLG_SAFETENSORS_MAX_HEADER || r->header_size > r->file_size - 8) {
        snprintf(what, sizeof what,
                 "header length %" PRIu64 " does not fit in the file (%" PRIu64
                 " bytes) or exceeds %u",
                 r->header_size, r->file_size, CLG_SAFETENSORS_MAX_HEADER);
        return format_error(r, NULL, what);
    }
    r->data_size = r->file_size - 8 - r->header_size;
    return CLG_OK;
}

static clg_status parse_header(struct reader *r) {
    const char *end = NULL;
    char what[120];
    clg_status s;

    r->header = malloc((size_t)r->header_size + 1);
    if (!r->header)
        return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for header", r->path);
    s = read_at(r, 8, r->header, (size_t)r->header_size);
    if (s != CLG_OK) return s;
    r->header[r->header_size] = '\0';

    /* cJSON stops at a NUL byte, which would hide whatever follows it. */
    if (strlen(r->header) != r->header_size)
        return format_error(r, NULL, "header contains a NUL byte");
    r->root = cJSON_ParseWithOpts(r->header, &end, 1);
    if (!r->root) {
        snprintf(what, sizeof what, "header is not valid JSON (error near byte %td)",
                 end ? end - r->header : (ptrdiff_t)0);
        return format_error(r, NULL, what);
    }
    if (!cJSON_IsObject(r->root)) return format_error(r, NULL, "header is not a JSON object");
    return CLG_OK;
}

static clg_status check_metadata(struct reader *r, const cJSON *item) {
    const cJSON *pair;
    char what[200];

    if (r->metadata) return format_error(r, NULL, "__metadata__ appears twice");
    if (!cJSON_IsObject(item)) return format_error(r, NULL, "__metadata__ is not an object");
    cJSON_ArrayForEach(pair, item) {
        if (cJSON_IsString(pair)) continue;
        snprintf(what, sizeof what, "__metadata__ value of '%.120s' is not a string", pair->string);
        return format_error(r, NULL, what);
    }
    r->metadata = item;
    return CLG_OK;
}

/* A JSON number that is an exact non-negative integer below 2^53. */
static int json_uint(const cJSON *item, uint64_t *out) {
    double d;

    if (!cJSON_IsNumber(item)) return 0;
    d = item->valuedouble;
    if (!(d >= 0.0 && d < JSON_INT_LIMIT) || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static clg_status parse_dtype(struct reader *r, struct spec *sp, const cJSON *item) {
    const char *name = cJSON_GetStringValue(item);
    const struct dtype *known[] = {&dtype_f32, &dtype_f16, &dtype_bf16};
    char what[200];

    if (!name) return format_error(r, sp->name, "dtype is missing or not a string");
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(name, known[i]->name)) {
            sp->dtype = known[i];
            return CLG_OK;
        }
    for (size_t i = 0; i < sizeof unsupported_dtypes / sizeof unsupported_dtypes[0]; i++)
        if (!strcmp(name, unsupported_dtypes[i]))
            return clg_error(CLG_ERR_UNSUPPORTED,
                             "%s: tensor '%s': dtype %s is not supported (only F32, F16, BF16)",
                             r->path, sp->name, name);
    snprintf(what, sizeof what, "unknown dtype '%.60s'", name);
    return format_error(r, sp->name, what);
}

static clg_status parse_shape(struct reader *r, struct spec *sp, const cJSON *item) {
    const cJSON *dim;
    uint64_t value;
    char what[120];

    if (!cJSON_IsArray(item)) return format_error(r, sp->name, "shape is missing or not an array");
    if (cJSON_GetArraySize(item) > CLG_SAFETENSORS_MAX_DIMS) {
        snprintf(what, sizeof what, "shape has %d dimensions, more than %d",
                 cJSON_GetArraySize(item), CLG_SAFETENSORS_MAX_DIMS);
        return format_error(r, sp->name, what);
    }
    sp->ndim = 0;
    cJSON_ArrayForEach(dim, item) {
        if (!json_uint(dim, &value)) {
            snprintf(what, sizeof what, "shape entry %d is not a non-negative integer", sp->ndim);
            return format_error(r, sp->name, what);
        }
        sp->shape[sp->ndim++] = (int64_t)value;
    }
    return CLG_OK;
}

static clg_status parse_offsets(struct reader *r, struct spec *sp, const cJSON *item) {
    char what[160];

    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) != 2 ||
        !json_uint(cJSON_GetArrayItem(item, 0), &sp->begin) ||
        !json_uint(cJSON_GetArrayItem(item, 1), &sp->end))
        return format_error(r, sp->name, "data_offsets is not an array of two integers");
    if (sp->begin > sp->end || sp->end > r->data_size) {
        snprintf(what, sizeof what,
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] are not inside the data section (%" PRIu64
                 " bytes)",
                 sp->begin, sp->end, r->data_size);
        return format_error(r, sp->name, what);
    }
    return CLG_OK;
}

/* The byte range must hold exactly numel elements of the dtype, computed without overflow. */
static clg_status check_size(struct reader *r, struct spec *sp) {
    char shape[SHAPE_TEXT], what[400];

    shape_text(shape, sizeof shape, sp->ndim, sp->shape);
    if (shape_numel(sp->ndim, sp->shape, sizeof(float), &sp->numel)) {
        snprintf(what, sizeof what, "shape %s of %s has too many elements (overflow)", shape,
                 sp->dtype->name);
        return format_error(r, sp->name, what);
    }
    if (sp->end - sp->begin == (uint64_t)sp->numel * sp->dtype->size) return CLG_OK;
    snprintf(what, sizeof what,
             "data_offsets [%" PRIu64 ", %" PRIu64 "] do not match shape %s of %s (%" PRIu64
             " bytes)",
             sp->begin, sp->end, shape, sp->dtype->name, (uint64_t)sp->numel * sp->dtype->size);
    return format_error(r, sp->name, what);
}

static clg_status parse_spec(struct reader *r, struct spec *sp, const cJSON *item) {
    clg_status s;

    sp->name = item->string;
    if (!cJSON_IsObject(item)) return format_error(r, sp->name, "entry is not a JSON object");
    s = parse_dtype(r, sp, cJSON_GetObjectItemCaseSensitive(item, "dtype"));
    if (s == CLG_OK) s = parse_shape(r, sp, cJSON_GetObjectItemCaseSensitive(item, "shape"));
    if (s == CLG_OK)
        s = parse_offsets(r, sp, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"));
    if (s == CLG_OK) s = check_size(r, sp);
    return s;
}

static clg_status parse_entries(struct reader *r) {
    const cJSON *item;
    clg_status s;

    r->specs = calloc((size_t)cJSON_GetArraySize(r->root) + 1, sizeof *r->specs);
    if (!r->specs) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", r->path);

    cJSON_ArrayForEach(item, r->root) {
        if (!strcmp(item->string, METADATA_KEY))
            s = check_metadata(r, item);
        else
            s = parse_spec(r, &r->specs[r->count++], item);
        if (s != CLG_OK) return s;
    }
    return CLG_OK;
}

static int compare_names(const void *a, const void *b) {
    const struct spec *x = *(const struct spec *const *)a, *y = *(const struct spec *const *)b;
    return strcmp(x->name, y->name);
}

static int compare_offsets(const void *a, const void *b) {
    const struct spec *x = *(const struct spec *const *)a, *y = *(const struct spec *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static clg_status check_unique_names(struct reader *r, const struct spec **sorted) {
    qsort(sorted, r->count, sizeof *sorted, compare_names);
    for (size_t i = 1; i < r->count; i++)
        if (!strcmp(sorted[i - 1]->name, sorted[i]->name))
            return format_error(r, sorted[i]->name, "name appears twice in the header");
    return CLG_OK;
}

static clg_status layout_error(struct reader *r, const struct spec *sp, const struct spec *prev) {
    char what[400];

    if (!prev)
        snprintf(what, sizeof what,
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] leave a gap at the start of the data",
                 sp->begin, sp->end);
    else
        snprintf(what, sizeof what,
                 "data_offsets [%" PRIu64 ", %" PRIu64 "] %s tensor '%.200s' [%" PRIu64 ", %" PRIu64
                 "]",
                 sp->begin, sp->end, sp->begin < prev->end ? "overlap" : "leave a gap after",
                 prev->name, prev->begin, prev->end);
    return format_error(r, sp->name, what);
}

/* In offset order the tensors must tile the data section: no overlap, no gap, nothing after. */
static clg_status check_layout(struct reader *r, const struct spec **sorted) {
    uint64_t covered = 0;
    char what[200];

    qsort(sorted, r->count, sizeof *sorted, compare_offsets);
    for (size_t i = 0; i < r->count; i++) {
        if (sorted[i]->begin != covered)
            return layout_error(r, sorted[i], i ? sorted[i - 1] : NULL);
        covered = sorted[i]->end;
    }
    if (covered == r->data_size) return CLG_OK;
    snprintf(what, sizeof what,
             "tensors cover %" PRIu64 " bytes of the %" PRIu64 "-byte data section; the rest "
             "belongs to no tensor",
             covered, r->data_size);
    return format_error(r, NULL, what);
}

static clg_status check_specs(struct reader *r) {
    const struct spec **sorted = malloc((r->count + 1) * sizeof *sorted);
    clg_status s;

    if (!sorted) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", r->path);
    for (size_t i = 0; i < r->count; i++) sorted[i] = &r->specs[i];
    s = check_unique_names(r, sorted);
    if (s == CLG_OK) s = check_layout(r, sorted);
    free(sorted);
    return s;
}

/*
 * Convert the raw little-endian bytes at the start of data into floats in place. 16-bit
 * values go from last to first, so no value is overwritten before it is read.
 */
static void convert_in_place(float *data, size_t numel, const struct dtype *dtype) {
    unsigned char *bytes = (unsigned char *)data;

    if (dtype == &dtype_f32) {
        for (size_t i = 0; i < numel; i++) {
            const unsigned char *p = bytes + 4 * i;
            uint32_t u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&data[i], &u, sizeof u);
        }
        return;
    }
    for (size_t i = numel; i-- > 0;) {
        uint16_t u = (uint16_t)(bytes[2 * i] | bytes[2 * i + 1] << 8);
        data[i] = dtype == &dtype_f16 ? clg_half_to_float(u) : clg_bfloat16_to_float(u);
    }
}

static clg_status load_tensors(struct reader *r, clg_safetensors *st) {
    const cJSON *pair;
    clg_status s;

    cJSON_ArrayForEach(pair, r->metadata) {
        s = clg_safetensors_set_metadata(st, pair->string, pair->valuestring);
        if (s != CLG_OK) return s;
    }
    for (size_t i = 0; i < r->count; i++) {
        const struct spec *sp = &r->specs[i];
        struct tensor *t;
        s = tensor_append(st, sp->name, sp->ndim, sp->shape, sp->numel, &t);
        if (s == CLG_OK)
            s = read_at(r, 8 + r->header_size + sp->begin, t->data, (size_t)(sp->end - sp->begin));
        if (s != CLG_OK) return s;
        convert_in_place(t->data, sp->numel, sp->dtype);
    }
    return CLG_OK;
}

clg_status clg_safetensors_read(const char *path, clg_safetensors **out) {
    struct reader r = {.path = path};
    clg_safetensors *st = NULL;
    clg_status s;

    if (!path || !out)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_safetensors_read: path or out is NULL");
    *out = NULL;
    s = reader_open(&r);
    if (s == CLG_OK) s = read_header_size(&r);
    if (s == CLG_OK) s = parse_header(&r);
    if (s == CLG_OK) s = parse_entries(&r);
    if (s == CLG_OK) s = check_specs(&r);
    if (s == CLG_OK) s = clg_safetensors_create(&st);
    if (s == CLG_OK) s = load_tensors(&r, st);

    if (s == CLG_OK)
        *out = st;
    else
        clg_safetensors_release(st);
    if (r.file) fclose(r.file);
    cJSON_Delete(r.root);
    free(r.header);
    free(r.specs);
    return s;
}

/* ---- writing ---- */

struct text {
    char *data;
    size_t size, capacity;
    int failed;
};

static void text_append(struct text *t, const char *s, size_t n) {
    if (t->failed || grow((void **)&t->data, &t->capacity, t->size + n + 1, 1)) {
        t->failed = 1;
        return;
    }
    memcpy(t->data + t->size, s, n);
    t->size += n;
}

static void text_puts(struct text *t, const char *s) {
    text_append(t, s, strlen(s));
}

/* A JSON string literal; bytes >= 0x80 pass through, so UTF-8 names stay as they are. */
static void text_json_string(struct text *t, const char *s) {
    char escape[8];

    text_puts(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            escape[0] = '\\';
            escape[1] = (char)c;
            text_append(t, escape, 2);
        } else if (c < 0x20) {
            snprintf(escape, sizeof escape, "\\u%04x", c);
            text_puts(t, escape);
        } else {
            text_append(t, s, 1);
        }
    }
    text_puts(t, "\"");
}

static void header_metadata(struct text *t, const clg_safetensors *st) {
    text_puts(t, "\"" METADATA_KEY "\":{");
    for (size_t i = 0; i < st->metadata_count; i++) {
        if (i) text_puts(t, ",");
        text_json_string(t, st->metadata[i].key);
        text_puts(t, ":");
        text_json_string(t, st->metadata[i].value);
    }
    text_puts(t, "}");
}

static void header_tensor(struct text *t, const struct tensor *tensor, uint64_t begin) {
    char number[48];

    text_json_string(t, tensor->name);
    text_puts(t, ":{\"dtype\":\"F32\",\"shape\":[");
    for (int i = 0; i < tensor->pub.ndim; i++) {
        snprintf(number, sizeof number, "%s%" PRId64, i ? "," : "", tensor->pub.shape[i]);
        text_puts(t, number);
    }
    snprintf(number, sizeof number, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", begin,
             begin + (uint64_t)tensor->pub.numel * 4);
    text_puts(t, number);
}

/* The JSON header, padded with spaces so the data starts 8-byte aligned. */
static int build_header(const clg_safetensors *st, struct text *t) {
    uint64_t offset = 0;

    text_puts(t, "{");
    if (st->metadata_count) header_metadata(t, st);
    for (size_t i = 0; i < st->count; i++) {
        if (i || st->metadata_count) text_puts(t, ",");
        header_tensor(t, st->tensors[i], offset);
        offset += (uint64_t)st->tensors[i]->pub.numel * 4;
    }
    text_puts(t, "}");
    while (!t->failed && t->size % 8) text_puts(t, " ");
    return t->failed ? -1 : 0;
}

/* Write the floats little-endian, a block at a time. */
static int write_floats(FILE *f, const float *data, size_t numel) {
    unsigned char block[16384];
    size_t per_block = sizeof block / 4;

    for (size_t start = 0; start < numel; start += per_block) {
        size_t n = numel - start < per_block ? numel - start : per_block;
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &data[start + i], sizeof u);
            for (int b = 0; b < 4; b++) block[4 * i + b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(block, 4, n, f) != n) return -1;
    }
    return 0;
}

static int write_contents(FILE *f, const clg_safetensors *st, const struct text *header) {
    unsigned char size[8];

    for (int b = 0; b < 8; b++) size[b] = (unsigned char)((uint64_t)header->size >> (8 * b));
    if (fwrite(size, 1, 8, f) != 8 || fwrite(header->data, 1, header->size, f) != header->size)
        return -1;
    for (size_t i = 0; i < st->count; i++)
        if (write_floats(f, st->tensors[i]->data, st->tensors[i]->pub.numel)) return -1;
    return 0;
}

/* Write, flush and sync the temporary file; on failure errno says why. */
static int write_temporary(const char *tmp, const clg_safetensors *st, const struct text *header) {
    FILE *f = fopen(tmp, "wb");
    int failed, saved;

    if (!f) return -1;
    failed = write_contents(f, st, header) || fflush(f) || fsync(fileno(f));
    saved = errno;
    if (fclose(f) && !failed) return -1;
    errno = saved;
    return failed ? -1 : 0;
}

/* Make the rename itself durable; a failure here is not worth failing the write for. */
static void sync_parent_folder(const char *path) {
    const char *slash = strrchr(path, '/');
    char *folder = slash ? malloc((size_t)(slash - path) + 2) : copy_string(".");
    int fd;

    if (!folder) return;
    if (slash) {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        memcpy(folder, path, n);
        folder[n] = '\0';
    }
    fd = open(folder, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(folder);
}

static clg_status write_atomically(const clg_safetensors *st, const char *path,
                                   const struct text *header) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    clg_status s = CLG_OK;

    if (!tmp) return clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory", path);
    snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());

    if (write_temporary(tmp, st, header))
        s = clg_error(CLG_ERR_IO, "%s: cannot write '%s': %s", path, tmp, strerror(errno));
    else if (rename(tmp, path))
        s = clg_error(CLG_ERR_IO, "%s: cannot rename '%s' over it: %s", path, tmp, strerror(errno));

    if (s != CLG_OK)
        unlink(tmp);
    else
        sync_parent_folder(path);
    free(tmp);
    return s;
}

clg_status clg_safetensors_write(const clg_safetensors *st, const char *path) {
    struct text header = {0};
    clg_status s;

    if (!st || !path)
        return clg_error(CLG_ERR_INVALID_ARGUMENT, "clg_safetensors_write: st or path is NULL");
    if (build_header(st, &header))
        s = clg_error(CLG_ERR_OUT_OF_HOST_MEMORY, "%s: no memory for the header", path);
    else
        s = write_atomically(st, path, &header);
    free(header.data);
    return s;
}
