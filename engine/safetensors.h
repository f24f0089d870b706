// safetensors.h — memory-mapped reader and streaming writer of .safetensors files.
//
// File layout: 8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section; offsets are relative to the data section.
// Every header field is checked before use: the header length against the file,
// dtypes, shapes, offsets in range, sizes matching shape x dtype, no overlaps.
#ifndef IS_SAFETENSORS_H
#define IS_SAFETENSORS_H

#include <stdint.h>

#include "base/dtype.h"
#include "base/error.h"

#define IS_ST_MAX_DIMS 8

typedef struct is_st_tensor {
    char *name;
    is_dtype dtype;
    int ndim;
    int64_t shape[IS_ST_MAX_DIMS];
    uint64_t begin, end;  // byte offsets in the data section
    const void *data;     // points into the mapping
} is_st_tensor;

typedef struct is_st_file {
    char *path;
    void *map;            // whole file, read-only
    size_t map_size;
    const uint8_t *data;  // start of the data section
    uint64_t data_size;
    is_st_tensor *tensors;
    int n_tensors;
} is_st_file;

int is_st_open(const char *path, is_st_file *f, is_err *err);
void is_st_close(is_st_file *f);
// NULL when absent.
const is_st_tensor *is_st_find(const is_st_file *f, const char *name);
int64_t is_st_numel(const is_st_tensor *t);

// Writer: tensors are described up front; fill() writes tensor i's bytes
// (numel x dtype size) into dst. The file is written under a temporary name in
// the same directory and renamed into place only when complete.
typedef struct is_st_desc {
    const char *name;
    is_dtype dtype;
    int ndim;
    int64_t shape[IS_ST_MAX_DIMS];
} is_st_desc;
typedef int (*is_st_fill_fn)(void *user, int index, void *dst, is_err *err);
int is_st_write(const char *path, const is_st_desc *descs, int n, is_st_fill_fn fill, void *user,
                is_err *err);

#endif
