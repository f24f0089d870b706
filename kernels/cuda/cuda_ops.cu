// cuda_ops.cu — the row-wise and elementwise ops: embed (quantized tables: cuda_quant.cu), gather_rows, rmsnorm
// (and the residual add fused with it), rope, swiglu, add, bias, BF16 rounding.
// Activations are F32 [rows >= n, cols], row-major.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_LAUNCHED, cuda_grid

#define ROW_THREADS 256
#define EW_THREADS 256

static void check_act(const is_tensor *t, int n) {
    IS_ASSERT(t->dtype == IS_DTYPE_F32);
    IS_ASSERT(n >= 0 && n <= t->rows);
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ float block_sum(float v) {
    __shared__ float part[32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int w = threadIdx.x / 32, lane = threadIdx.x % 32;
    __syncthreads(); // part[] may still be read from a previous call
    if (lane == 0) part[w] = v;
    __syncthreads();
    int nw = blockDim.x / 32;
    v = lane < nw ? part[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// ---- kernels ---------------------------------------------------------------------

// out[i, :] = table[ids[i], :] (one block per row)
template <typename T>
__global__ void embed_kernel(float *out, const T *table, const int32_t *ids, int64_t D) {
    const T *src = table + (int64_t)ids[blockIdx.x] * D;
    float *o = out + (int64_t)blockIdx.x * D;
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x) o[k] = (float)src[k];
}

__global__ void gather_kernel(float *out, const float *x, const int32_t *rows, int64_t D) {
    const float *src = x + (int64_t)rows[blockIdx.x] * D;
    float *o = out + (int64_t)blockIdx.x * D;
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x) o[k] = src[k];
}

// With y != NULL: x += y first. Then out = x * rsqrt(mean(x^2) + eps) * w, products
// in the order of the CPU reference. Each element is read and written by one
// thread only, so out may equal y.
__global__ void rmsnorm_kernel(float *out, float *x, const float *y, const float *w, int64_t D, float eps) {
    float *xr = x + (int64_t)blockIdx.x * D;
    const float *yr = y ? y + (int64_t)blockIdx.x * D : NULL;
    float *o = out + (int64_t)blockIdx.x * D;
    float ss = 0.0f;
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x) {
        float v = xr[k];
        if (yr) {
            v += yr[k];
            xr[k] = v;
        }
        ss += v * v;
    }
    ss = block_sum(ss);
    float r = (float)(1.0 / sqrt((double)ss / (double)D + (double)eps));
    for (int64_t k = threadIdx.x; k < D; k += blockDim.x) o[k] = (xr[k] * r) * w[k];
}

// Rotate-half RoPE on row blockIdx.x: thread i < half takes angle pos * inv_freq[i]
// (double, as on the CPU) and rotates pair (i, i + half) of every head.
__global__ void rope_kernel(float *x, int64_t ld, int n_heads, int head_dim, const int32_t *pos,
                            const float *inv_freq) {
    int half = head_dim / 2;
    float *row = x + (int64_t)blockIdx.x * ld;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        double s, c;
        sincos((double)pos[blockIdx.x] * (double)inv_freq[i], &s, &c);
        float cf = (float)c, sf = (float)s;
        for (int h = 0; h < n_heads; h++) {
            float *v = row + (int64_t)h * head_dim;
            float a = v[i], b = v[i + half];
            v[i] = a * cf - b * sf;
            v[i + half] = b * cf + a * sf;
        }
    }
}

__global__ void swiglu_kernel(float *o, const float *g, const float *u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float gv = g[i];
        o[i] = gv / (1.0f + expf(-gv)) * u[i];
    }
}

__global__ void add_kernel(float *x, const float *y, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

__global__ void bias_kernel(float *out, int64_t ld, const float *bias, int64_t cols, int n) {
    int64_t total = (int64_t)n * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / cols, c = i % cols;
        out[r * ld + c] += bias[c];
    }
}

__global__ void round_bf16_kernel(__nv_bfloat16 *dst, const float *src, int64_t ld, int64_t cols, int rows) {
    int64_t total = (int64_t)rows * cols;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / cols, c = i % cols;
        dst[i] = __float2bfloat16_rn(src[r * ld + c]);
    }
}

// ---- launchers ---------------------------------------------------------------------

void cuda_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n) {
    cuda_backend *cb = cuda_impl(be);
    check_act(out, n);
    IS_ASSERT(table->dtype == IS_DTYPE_F32 || table->dtype == IS_DTYPE_BF16 || is_dtype_quantized(table->dtype));
    IS_ASSERT(out->cols == table->cols);
    if (cb->failed || n == 0) return;
    const int32_t *d_ids = cuda_dev_ints(cb, ids, n);
    if (!d_ids) return;
    if (is_dtype_quantized(table->dtype)) {
        cuda_quant_embed(cb, out, table, d_ids, n); // rows dequantized (cuda_quant.cu)
        return;
    }
    if (table->dtype == IS_DTYPE_F32)
        embed_kernel<float><<<n, ROW_THREADS, 0, cb->stream>>>((float *)out->data, (const float *)table->data, d_ids,
                                                               table->cols);
    else
        embed_kernel<__nv_bfloat16><<<n, ROW_THREADS, 0, cb->stream>>>(
            (float *)out->data, (const __nv_bfloat16 *)table->data, d_ids, table->cols);
    CUDA_LAUNCHED(cb, "embed_kernel");
}

void cuda_gather_rows(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n) {
    cuda_backend *cb = cuda_impl(be);
    check_act(out, n);
    IS_ASSERT(x->dtype == IS_DTYPE_F32 && x->cols == out->cols);
    IS_ASSERT(out->data != x->data); // rows are copied in parallel: no compaction in place
    if (cb->failed || n == 0) return;
    const int32_t *d_rows = cuda_dev_ints(cb, rows, n);
    if (!d_rows) return;
    gather_kernel<<<n, ROW_THREADS, 0, cb->stream>>>((float *)out->data, (const float *)x->data, d_rows, x->cols);
    CUDA_LAUNCHED(cb, "gather_kernel");
}

static void norm_launch(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w, int n,
                        float eps) {
    cuda_backend *cb = cuda_impl(be);
    check_act(out, n);
    check_act(x, n);
    IS_ASSERT(w->dtype == IS_DTYPE_F32 && w->rows * w->cols == x->cols && out->cols == x->cols);
    if (cb->failed || n == 0) return;
    rmsnorm_kernel<<<n, ROW_THREADS, 0, cb->stream>>>((float *)out->data, (float *)x->data,
                                                      y ? (const float *)y->data : NULL, (const float *)w->data,
                                                      x->cols, eps);
    CUDA_LAUNCHED(cb, "rmsnorm_kernel");
}

void cuda_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n, float eps) {
    // x is only read when there is no y
    norm_launch(be, out, (is_tensor *)x, NULL, w, n, eps);
}

void cuda_add_rmsnorm(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w, int n,
                      float eps) {
    check_act(y, n);
    IS_ASSERT(y->cols == x->cols && out->data != x->data);
    norm_launch(be, out, x, y, w, n, eps);
}

void cuda_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
               const is_tensor *inv_freq) {
    cuda_backend *cb = cuda_impl(be);
    check_act(x, n);
    IS_ASSERT(head_dim > 0 && head_dim % 2 == 0 && head_dim <= IS_MAX_HEAD_DIM);
    IS_ASSERT(n_heads > 0 && (int64_t)n_heads * head_dim <= x->cols);
    IS_ASSERT(inv_freq->dtype == IS_DTYPE_F32 && inv_freq->rows * inv_freq->cols == head_dim / 2);
    if (cb->failed || n == 0) return;
    const int32_t *d_pos = cuda_dev_ints(cb, pos, n);
    if (!d_pos) return;
    int threads = head_dim / 2 < 32 ? 32 : head_dim / 2;
    rope_kernel<<<n, threads, 0, cb->stream>>>((float *)x->data, x->cols, n_heads, head_dim, d_pos,
                                               (const float *)inv_freq->data);
    CUDA_LAUNCHED(cb, "rope_kernel");
}

void cuda_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n) {
    cuda_backend *cb = cuda_impl(be);
    check_act(out, n);
    check_act(gate, n);
    check_act(up, n);
    IS_ASSERT(gate->cols == out->cols && up->cols == out->cols);
    int64_t total = (int64_t)n * out->cols;
    if (cb->failed || total == 0) return;
    swiglu_kernel<<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, cb->stream>>>(
        (float *)out->data, (const float *)gate->data, (const float *)up->data, total);
    CUDA_LAUNCHED(cb, "swiglu_kernel");
}

void cuda_add(is_backend *be, is_tensor *x, const is_tensor *y, int n) {
    cuda_backend *cb = cuda_impl(be);
    check_act(x, n);
    check_act(y, n);
    IS_ASSERT(x->cols == y->cols);
    int64_t total = (int64_t)n * x->cols;
    if (cb->failed || total == 0) return;
    add_kernel<<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, cb->stream>>>((float *)x->data, (const float *)y->data,
                                                                         total);
    CUDA_LAUNCHED(cb, "add_kernel");
}

void cuda_add_bias(cuda_backend *cb, float *out, int64_t ld, const float *bias, int64_t cols, int n) {
    int64_t total = (int64_t)n * cols;
    if (cb->failed || total == 0) return;
    bias_kernel<<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, cb->stream>>>(out, ld, bias, cols, n);
    CUDA_LAUNCHED(cb, "bias_kernel");
}

void cuda_round_bf16(cuda_backend *cb, __nv_bfloat16 *dst, const float *src, int64_t ld, int64_t cols, int rows) {
    int64_t total = (int64_t)rows * cols;
    if (cb->failed || total == 0) return;
    round_bf16_kernel<<<cuda_grid(total, EW_THREADS), EW_THREADS, 0, cb->stream>>>(dst, src, ld, cols, rows);
    CUDA_LAUNCHED(cb, "round_bf16_kernel");
}
