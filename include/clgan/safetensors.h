/* Named float32 tensors and string metadata, read from and written to .safetensors files. */
#ifndef CLGAN_SAFETENSORS_H
#define CLGAN_SAFETENSORS_H

/*
 * A clg_safetensors is an in-memory collection of named float32 tensors on
 * the host, plus string metadata, mirroring one .safetensors file: an
 * 8-byte little-endian header length, a JSON header that maps each tensor
 * name to its dtype, shape and byte range (and "__metadata__" to a flat
 * object of strings), then the raw little-endian tensor bytes. Parameter
 * names follow PyTorch's state_dict keys, so files saved with
 * safetensors.torch.save_file load here and ours load there.
 *
 * Build one with clg_safetensors_create() and clg_safetensors_add(), which
 * copies the caller's data, then save it with clg_safetensors_write(). The
 * write goes to "<path>.tmp.<pid>", is flushed and synced, and is renamed
 * over path only when complete: a crash or an error never leaves a
 * half-written file, and on failure the previous file at path is untouched.
 * Tensors are written in the order they were added, after the metadata.
 *
 * clg_safetensors_read() checks the whole header before it reads any data:
 * the header length, the JSON, every entry's dtype, shape and data_offsets,
 * and that the tensors tile the data section exactly, without overlap, gap
 * or arithmetic overflow. A fault returns CLG_ERR_FORMAT with a message
 * that names the file and the tensor; CLG_ERR_IO means the file could not
 * be opened or read. F32, F16 and BF16 tensors are read, the last two
 * converted to float32; any other dtype (F64, I64, ...) gives
 * CLG_ERR_UNSUPPORTED naming the tensor and the dtype. Tensors keep the
 * order of the header.
 *
 * clg_safetensors_get() and clg_safetensors_find() return pointers into
 * the collection that stay valid until it is released. Nothing here
 * touches an OpenCL device; uploading a tensor is the caller's step.
 */

#include <stddef.h>
#include <stdint.h>

#include "clgan/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most dimensions a tensor may have. */
#define CLG_SAFETENSORS_MAX_DIMS 8

/* The largest JSON header clg_safetensors_read() accepts, in bytes. */
#define CLG_SAFETENSORS_MAX_HEADER 100000000u

typedef struct clg_safetensors clg_safetensors;

/* One tensor of a collection. A 0-d tensor has numel 1; data is never NULL. */
typedef struct clg_safetensors_entry {
    const char *name;
    int ndim;
    int64_t shape[CLG_SAFETENSORS_MAX_DIMS];
    size_t numel;
    const float *data;
} clg_safetensors_entry;

/* A new, empty collection. */
clg_status clg_safetensors_create(clg_safetensors **out);

/* Free the collection and every tensor in it. NULL is allowed. */
void clg_safetensors_release(clg_safetensors *st);

/*
 * Append a copy of data (numel floats, the product of shape) under name.
 * ndim is 0..8; data may be NULL only when numel is 0. A duplicate name, or
 * the reserved name "__metadata__", is CLG_ERR_INVALID_ARGUMENT.
 */
clg_status clg_safetensors_add(clg_safetensors *st, const char *name, int ndim,
                               const int64_t *shape, const float *data);

/* Set a metadata string, replacing any earlier value of key in place. */
clg_status clg_safetensors_set_metadata(clg_safetensors *st, const char *key, const char *value);

/* The metadata value of key, or NULL when absent. */
const char *clg_safetensors_get_metadata(const clg_safetensors *st, const char *key);

/* The number of metadata pairs, and the pair at index in insertion order. */
size_t clg_safetensors_metadata_count(const clg_safetensors *st);
clg_status clg_safetensors_metadata_at(const clg_safetensors *st, size_t index, const char **key,
                                       const char **value);

/* The number of tensors, the tensor at index (NULL when out of range), the tensor named name. */
size_t clg_safetensors_count(const clg_safetensors *st);
const clg_safetensors_entry *clg_safetensors_get(const clg_safetensors *st, size_t index);
const clg_safetensors_entry *clg_safetensors_find(const clg_safetensors *st, const char *name);

/* Read and validate a .safetensors file into a new collection. */
clg_status clg_safetensors_read(const char *path, clg_safetensors **out);

/* Write the collection to path atomically (temporary file, fsync, rename). */
clg_status clg_safetensors_write(const clg_safetensors *st, const char *path);

/* IEEE half and bfloat16 bit patterns to float, exact for every value (subnormals, inf, NaN). */
float clg_half_to_float(uint16_t bits);
float clg_bfloat16_to_float(uint16_t bits);

#ifdef __cplusplus
}
#endif

#endif
