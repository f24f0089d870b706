// cuda_fill.cu — seeded normal fills (the host's counter-based generator, so a
// preset's weights are generated where they live), constant fills, and dtype
// conversion on the device. Fills of quantized tensors are in cuda_quant.cu.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_LAUNCHED, cuda_grid

extern "C" {
#include "base/rng.h" // defines: is_rng_normal_pair (host and device)
}

#define FILL_THREADS 256

__device__ __forceinline__ float load_as_f32(const void *p, is_dtype t, int64_t i) {
    if (t == IS_DTYPE_F32) return ((const float *)p)[i];
    if (t == IS_DTYPE_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    return __half2float(((const __half *)p)[i]);
}

// Round to nearest even in every case (as engine/dtype.c on the host).
__device__ __forceinline__ void store_from_f32(void *p, is_dtype t, int64_t i, float v) {
    if (t == IS_DTYPE_F32) ((float *)p)[i] = v;
    else if (t == IS_DTYPE_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v);
    else ((__half *)p)[i] = __float2half_rn(v);
}

// ---- kernels ---------------------------------------------------------------------

// Element i = std * normal(seed, stream, i): one Box-Muller pair per j, elements 2j, 2j+1.
__global__ void fill_normal_kernel(void *d, is_dtype t, int64_t n, uint64_t seed, uint64_t stream, float std) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < (n + 1) / 2;
         j += (int64_t)gridDim.x * blockDim.x) {
        float v[2];
        is_rng_normal_pair(seed, stream, (uint64_t)j, v);
        store_from_f32(d, t, 2 * j, v[0] * std);
        if (2 * j + 1 < n) store_from_f32(d, t, 2 * j + 1, v[1] * std);
    }
}

__global__ void fill_const_kernel(void *d, is_dtype t, int64_t n, float value) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        store_from_f32(d, t, i, value);
}

__global__ void convert_kernel(void *dst, is_dtype dt, const void *src, is_dtype st, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        store_from_f32(dst, dt, i, load_as_f32(src, st, i));
}

// ---- launchers ---------------------------------------------------------------------

// A quantized t: the BF16 fill's values quantized on the device (cuda_quant.cu).
void cuda_fill_normal(is_backend *be, is_tensor *t, uint64_t seed, uint64_t stream, float std) {
    cuda_backend *cb = cuda_impl(be);
    if (is_dtype_quantized(t->dtype)) {
        cuda_quant_fill_normal(cb, t, seed, stream, std);
        return;
    }
    int64_t n = cuda_numel(t);
    if (cb->failed || n == 0) return;
    fill_normal_kernel<<<cuda_grid((n + 1) / 2, FILL_THREADS), FILL_THREADS, 0, cb->stream>>>(t->data, t->dtype, n,
                                                                                          seed, stream, std);
    CUDA_LAUNCHED(cb, "fill_normal_kernel");
}

void cuda_fill_const(is_backend *be, is_tensor *t, float value) {
    cuda_backend *cb = cuda_impl(be);
    if (is_dtype_quantized(t->dtype)) {
        cuda_quant_fill_const(cb, t, value);
        return;
    }
    int64_t n = cuda_numel(t);
    if (cb->failed || n == 0) return;
    fill_const_kernel<<<cuda_grid(n, FILL_THREADS), FILL_THREADS, 0, cb->stream>>>(t->data, t->dtype, n, value);
    CUDA_LAUNCHED(cb, "fill_const_kernel");
}

void cuda_convert(cuda_backend *cb, void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n) {
    if (cb->failed || n == 0) return;
    convert_kernel<<<cuda_grid((int64_t)n, FILL_THREADS), FILL_THREADS, 0, cb->stream>>>(dst, dst_t, src, src_t,
                                                                                     (int64_t)n);
    CUDA_LAUNCHED(cb, "convert_kernel");
}
