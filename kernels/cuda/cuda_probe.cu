// cuda_probe.cu — asks the CUDA runtime (linked statically; it loads the driver
// library at run time) how many devices answer.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <stdio.h>

#include "kernels/cuda/cuda_probe.h"

extern "C" int is_cuda_probe(char *why, size_t why_len) {
    // without the driver library cudart reports an "insufficient driver"; say it plainly
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        snprintf(why, why_len, "no CUDA driver on this machine (libcuda.so.1 not found)");
        return 0;
    }
    dlclose(driver);
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, why_len, "no usable CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        (void)cudaGetLastError(); // clear the sticky error state
        return 0;
    }
    if (n == 0) snprintf(why, why_len, "no CUDA device found");
    return n;
}
