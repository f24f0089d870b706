// fuzz_safetensors.c — a .safetensors file: header length, JSON header, dtypes,
// shapes and data offsets. Whatever it holds, is_st_open gives a tensor table
// whose every entry lies inside the file, or an error; then every tensor's bytes
// are read, so an offset the checks let through is caught by the sanitizer.
#include <stdio.h>
#include <stdlib.h>

#include "engine/safetensors.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".safetensors");
    is_st_file f;
    is_err err = {{0}};
    if (is_st_open(path, &f, &err)) {
        if (!err.msg[0]) abort(); // an error must say what was wrong
        return 0;
    }
    unsigned sum = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const is_st_tensor *t = &f.tensors[i];
        if (is_st_numel(t) < 0 || t->end < t->begin) abort();
        const unsigned char *p = t->data;
        for (uint64_t b = 0; b < t->end - t->begin; b++) sum += p[b];
        if (is_st_find(&f, t->name) == NULL) abort();
    }
    is_st_close(&f);
    return (int)(sum & 0); // sum keeps the reads; the return is always 0
}
