// cuda_probe_nocuda.c — the probe and the backend's entry points in a build
// without CUDA (INFERSCOPE_CUDA=OFF or no nvcc at configure time).
#include <stdio.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_probe.h"

#define IS_NO_CUDA_WHY "this binary was built without CUDA (INFERSCOPE_CUDA=OFF or no nvcc found)"

int is_cuda_probe(char *why, size_t why_len) {
    snprintf(why, why_len, IS_NO_CUDA_WHY);
    return 0;
}

is_backend *is_cuda_backend_create(int device, is_err *err) {
    (void)device;
    is_errf(err, IS_NO_CUDA_WHY);
    return NULL;
}

void is_cuda_graph_counts(const struct is_backend *be, long *recorded, long *replayed) {
    (void)be;
    *recorded = 0;
    *replayed = 0;
}

long is_cuda_graph_failed(const struct is_backend *be) {
    (void)be;
    return 0;
}

void is_cuda_break_next_capture(struct is_backend *be) { (void)be; }
