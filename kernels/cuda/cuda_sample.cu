// cuda_sample.cu — choosing the next token on the device, so only ids cross to
// the host: argmax (lowest id on ties, NaN as -inf) and temperature / top-k /
// top-p sampling with the semantics of engine/sampler.c.
//
// One block per row. Every logit gets a 64-bit key, (order-preserving bits of the
// value) << 32 | (~id), so keys are distinct and a larger key ranks first, ties
// going to the lower id as on the host. Weights w = exp((x - max) / T) are held in
// 32.32 fixed point, so sums are exact integers and the choice does not depend on
// the order threads add in. Top-k is a radix select of the k-th key (8 passes of
// 8 bits); top-p a weighted radix select of the key where the best-first mass
// reaches p of the top-k mass; the token is then drawn, in id order, from the
// candidates at or above both cuts with u from a hash of (seed, stream, counter).
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_OK, CUDA_LAUNCHED

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <math.h>
#include <string.h>

extern "C" {
#include "base/rng.h" // defines: is_mix64 (host and device)
}

#define SMP_THREADS 1024
#define SMP_ONE 4294967296.0 // 2^32: weight 1.0 in fixed point

__device__ __forceinline__ uint64_t smp_key(float v, int id) {
    if (isnan(v)) v = -INFINITY;
    if (v == 0.0f) v = 0.0f; // -0 ranks with +0
    uint32_t u = __float_as_uint(v);
    u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ((uint64_t)u << 32) | (uint64_t)(0xffffffffu - (uint32_t)id);
}

__device__ __forceinline__ uint64_t smp_weight(float v, float mx, float inv_t) {
    if (isnan(v)) return 0;
    return (uint64_t)(expf((v - mx) * inv_t) * SMP_ONE); // in [0, 2^32]
}

struct smp_max_op {
    __device__ uint64_t operator()(uint64_t a, uint64_t b) const { return a > b ? a : b; }
};

typedef cub::BlockReduce<uint64_t, SMP_THREADS> smp_reduce;
typedef cub::BlockScan<uint64_t, SMP_THREADS> smp_scan;

// The largest key c with (count, or weight when weighted) of {keys >= c, keys >= floor}
// reaching target: 8 passes of 8 bits, each a histogram in shared memory.
__device__ uint64_t smp_select(const float *x, int V, float mx, float inv_t, uint64_t floor, uint64_t target,
                               bool weighted, unsigned long long *hist, uint64_t *shared_out) {
    uint64_t prefix = 0, mask = 0, above = 0;
    for (int shift = 56; shift >= 0; shift -= 8) {
        for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
        __syncthreads();
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            uint64_t k = smp_key(x[i], i);
            if (k >= floor && (k & mask) == prefix)
                atomicAdd(&hist[(k >> shift) & 255], (unsigned long long)(weighted ? smp_weight(x[i], mx, inv_t) : 1));
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int d = 255;
            for (; d > 0; d--) {
                if (above + hist[d] >= target) break;
                above += hist[d];
            }
            shared_out[0] = prefix | ((uint64_t)d << shift);
            shared_out[1] = above;
        }
        __syncthreads();
        prefix = shared_out[0];
        above = shared_out[1];
        mask |= (uint64_t)255 << shift;
        __syncthreads();
    }
    return prefix;
}

__global__ void __launch_bounds__(SMP_THREADS)
sample_kernel(const float *logits, int64_t ld, int V, const is_sample_req *reqs, int32_t *ids) {
    __shared__ typename smp_reduce::TempStorage red;
    __shared__ typename smp_scan::TempStorage scan;
    __shared__ unsigned long long hist[256];
    __shared__ uint64_t sh[4];
    const float *x = logits + blockIdx.x * ld;
    is_sample_req req = reqs[blockIdx.x];
    // argmax: the largest key
    uint64_t best = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        uint64_t k = smp_key(x[i], i);
        best = k > best ? k : best;
    }
    best = smp_reduce(red).Reduce(best, smp_max_op());
    if (threadIdx.x == 0) sh[0] = best;
    __syncthreads();
    best = sh[0];
    int arg = (int)(0xffffffffu - (uint32_t)(best & 0xffffffffu));
    float mx = x[arg];
    if (req.temperature <= 0.0f || isnan(mx) || isinf(mx)) { // greedy, or nothing finite to weigh
        if (threadIdx.x == 0) ids[blockIdx.x] = arg;
        return;
    }
    float inv_t = 1.0f / req.temperature;
    uint64_t cut = 0; // candidates: keys >= cut
    if (req.top_k > 0 && req.top_k < V) cut = smp_select(x, V, mx, inv_t, 0, (uint64_t)req.top_k, false, hist, sh);
    if (req.top_p < 1.0f) {
        uint64_t total = 0;
        for (int i = threadIdx.x; i < V; i += blockDim.x)
            if (smp_key(x[i], i) >= cut) total += smp_weight(x[i], mx, inv_t);
        __syncthreads();
        total = smp_reduce(red).Sum(total);
        if (threadIdx.x == 0) sh[0] = total;
        __syncthreads();
        total = sh[0];
        uint64_t target = (uint64_t)ceil((double)req.top_p * (double)total);
        if (target < 1) target = 1;
        __syncthreads();
        uint64_t pc = smp_select(x, V, mx, inv_t, cut, target, true, hist, sh);
        if (pc > cut) cut = pc;
    }
    // mass of the candidates, then the draw in id order
    uint64_t mass = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (smp_key(x[i], i) >= cut) mass += smp_weight(x[i], mx, inv_t);
    __syncthreads();
    mass = smp_reduce(red).Sum(mass);
    if (threadIdx.x == 0) {
        uint64_t h = is_mix64(is_mix64(req.seed ^ 0x5bd1e9955bd1e995ULL) ^ is_mix64(req.stream + 1) ^
                              is_mix64(req.counter * 0x9e3779b97f4a7c15ULL + 7));
        double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
        uint64_t target = (uint64_t)(u * (double)mass);
        sh[0] = target < mass ? target : mass - 1; // weight of the chosen token spans target
        sh[1] = 0;                                  // running prefix of earlier chunks
        sh[2] = (uint64_t)arg;                      // fallback (never used when mass > 0)
        sh[3] = 0;                                  // found
    }
    __syncthreads();
    uint64_t target = sh[0];
    for (int base = 0; base < V; base += blockDim.x) {
        int i = base + threadIdx.x;
        uint64_t w = 0;
        if (i < V && smp_key(x[i], i) >= cut) w = smp_weight(x[i], mx, inv_t);
        uint64_t incl, chunk_total;
        smp_scan(scan).InclusiveSum(w, incl, chunk_total);
        uint64_t run = sh[1];
        // the token whose span [run + incl - w, run + incl) holds target
        if (w > 0 && run + incl - w <= target && target < run + incl) {
            sh[2] = (uint64_t)i;
            sh[3] = 1;
        }
        __syncthreads();
        if (sh[3]) break;
        if (threadIdx.x == 0) sh[1] = run + chunk_total;
        __syncthreads();
    }
    if (threadIdx.x == 0) ids[blockIdx.x] = (int32_t)sh[2];
}

int cuda_sample(is_backend *be, const is_tensor *logits, int n, const is_sample_req *req, int32_t *ids, is_err *err) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(logits->dtype == IS_DTYPE_F32 && n >= 0 && n <= logits->rows);
    IS_ASSERT(!cb->capturing);
    if (n == 0) return 0;
    if (n > cb->sample_cap && !cb->failed) {
        int cap = n < 64 ? 64 : n;
        if (cb->h_req) CUDA_OK(cb, cudaFreeHost(cb->h_req));
        if (cb->h_ids) CUDA_OK(cb, cudaFreeHost(cb->h_ids));
        if (cb->d_req) CUDA_OK(cb, cudaFree(cb->d_req));
        if (cb->d_ids) CUDA_OK(cb, cudaFree(cb->d_ids));
        cb->h_req = NULL, cb->h_ids = NULL, cb->d_req = NULL, cb->d_ids = NULL;
        cb->sample_cap = 0;
        if (CUDA_OK(cb, cudaMallocHost((void **)&cb->h_req, (size_t)cap * sizeof *cb->h_req)) &&
            CUDA_OK(cb, cudaMallocHost((void **)&cb->h_ids, (size_t)cap * sizeof *cb->h_ids)) &&
            CUDA_OK(cb, cudaMalloc((void **)&cb->d_req, (size_t)cap * sizeof *cb->d_req)) &&
            CUDA_OK(cb, cudaMalloc((void **)&cb->d_ids, (size_t)cap * sizeof *cb->d_ids)))
            cb->sample_cap = cap;
    }
    if (!cb->failed) {
        memcpy(cb->h_req, req, (size_t)n * sizeof *req);
        if (CUDA_OK(cb, cudaMemcpyAsync(cb->d_req, cb->h_req, (size_t)n * sizeof *req, cudaMemcpyHostToDevice,
                                        cb->stream))) {
            sample_kernel<<<n, SMP_THREADS, 0, cb->stream>>>((const float *)logits->data, logits->cols,
                                                             (int)logits->cols, cb->d_req, cb->d_ids);
            if (CUDA_LAUNCHED(cb, "sample_kernel") &&
                CUDA_OK(cb, cudaMemcpyAsync(cb->h_ids, cb->d_ids, (size_t)n * sizeof *ids, cudaMemcpyDeviceToHost,
                                            cb->stream)) &&
                CUDA_OK(cb, cudaStreamSynchronize(cb->stream)))
                memcpy(ids, cb->h_ids, (size_t)n * sizeof *ids);
        }
    }
    if (cb->failed) {
        cb->failed = false;
        return is_errf(err, "cuda device %d: sampling: %s", cb->device, cb->errmsg);
    }
    return 0;
}
