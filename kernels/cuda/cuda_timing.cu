// cuda_timing.cu — device-measured timing of a region (two events on the
// backend's stream) and a last-level-cache flush between timed samples, for
// `inferscope kernels`.
//
// The flush writes a device buffer of max(2 x L2, CUDA_FLUSH_MIN) with a kernel,
// allocated on first use and kept until destroy (a fresh allocation per sample
// would time the allocator, not the op). A kernel rather than cudaMemsetAsync: a
// memset may be served without moving lines that an access policy window keeps
// persisting in L2, and the op would then read them from L2 at more than the
// DRAM peak.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_OK, cuda_take_error

#define CUDA_FLUSH_MIN ((size_t)64 << 20)
#define CUDA_FLUSH_THREADS 256

// ---- kernels ----------------------------------------------------------------

// p[i] = v over n 16-byte words, grid-stride.
static __global__ void cuda_flush_kernel(uint4 *p, size_t n, unsigned v) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) p[i] = make_uint4(v, v, v, v);
}

// ---- entry points -----------------------------------------------------------

int cuda_timer_begin(is_backend *be, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    // each made when missing: a failed second create must not leave t_begin alone for the next call
    if ((!cb->t_begin && !CUDA_OK(cb, cudaEventCreate(&cb->t_begin))) ||
        (!cb->t_end && !CUDA_OK(cb, cudaEventCreate(&cb->t_end))))
        return cuda_take_error(cb, err);
    CUDA_OK(cb, cudaEventRecord(cb->t_begin, cb->stream));
    return cuda_take_error(cb, err);
}

int cuda_timer_end(is_backend *be, double *ms, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    IS_ASSERT(cb->t_begin && cb->t_end); // timer_begin came first
    float t = 0;
    *ms = 0;
    if (CUDA_OK(cb, cudaEventRecord(cb->t_end, cb->stream)) && CUDA_OK(cb, cudaEventSynchronize(cb->t_end)) &&
        CUDA_OK(cb, cudaEventElapsedTime(&t, cb->t_begin, cb->t_end)))
        *ms = (double)t;
    return cuda_take_error(cb, err);
}

int cuda_flush_cache(is_backend *be, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(!cb->capturing);
    if (!cb->d_flush) {
        size_t bytes = 2 * (size_t)(cb->info.l2_bytes > 0 ? cb->info.l2_bytes : 0);
        if (bytes < CUDA_FLUSH_MIN) bytes = CUDA_FLUSH_MIN;
        bytes &= ~(size_t)15;
        if (!CUDA_OK(cb, cudaMalloc(&cb->d_flush, bytes))) {
            cb->d_flush = NULL;
            return cuda_take_error(cb, err);
        }
        cb->flush_bytes = bytes;
    }
    size_t n = cb->flush_bytes / sizeof(uint4);
    cuda_flush_kernel<<<cuda_grid((int64_t)n, CUDA_FLUSH_THREADS), CUDA_FLUSH_THREADS, 0, cb->stream>>>(
        (uint4 *)cb->d_flush, n, ++cb->flush_count);
    CUDA_LAUNCHED(cb, "cuda_flush_kernel");
    return cuda_take_error(cb, err);
}

void cuda_timing_free(cuda_backend *cb) {
    if (cb->t_begin) CUDA_OK(cb, cudaEventDestroy(cb->t_begin));
    if (cb->t_end) CUDA_OK(cb, cudaEventDestroy(cb->t_end));
    if (cb->d_flush) CUDA_OK(cb, cudaFree(cb->d_flush));
    cb->t_begin = cb->t_end = NULL;
    cb->d_flush = NULL;
    cb->flush_bytes = 0;
}
