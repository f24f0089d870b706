// cuda_probe_nocuda.c — the probe in a build without CUDA (INFERSCOPE_CUDA=OFF
// or no nvcc at configure time).
#include <stdio.h>

#include "kernels/cuda/cuda_probe.h"

int is_cuda_probe(char *why, size_t why_len) {
    snprintf(why, why_len, "this binary was built without CUDA (INFERSCOPE_CUDA=OFF or no nvcc found)");
    return 0;
}
