// cuda_gemv.cu — the gemv variants (matmul at few rows, n <= IS_CUDA_GEMV_MAX_N,
// with BF16 weights) and their table at the end: cublas (the default, cuda_blas.cu)
// and custom, a kernel of our own aimed at memory bandwidth.
//
// out[n, M] = x[n, K] . w[M, K]^T (+ bias[M]). Every weight is read once: a lane
// loads 8 BF16 weights (16 bytes) of each of its warp's rows and multiplies them
// with all n activation rows, which the block keeps in shared memory rounded to
// BF16 (the rounding the cuBLAS path does, so the products are the same), GEMV_KT
// columns at a time. fp32 accumulation, then a warp-shuffle sum per (output row,
// activation row). The geometry comes from is_cuda_plan_gemv: rows per warp, and
// split-K over column slices when the row blocks alone leave the device
// under-filled; each slice then writes its partial sums to the backend's variant
// workspace and a second kernel adds them in slice order (no atomics: the result
// does not depend on timing).
//
// When K is not a multiple of 8 (or w is not 16-byte aligned) the rows start at
// unaligned addresses: the scalar instance of the kernel loads weights one at a
// time, with the same sums in the same order.
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_LAUNCHED, is_cuda_plan_gemv

#define GEMV_THREADS (IS_CUDA_GEMV_WARPS * 32)
#define GEMV_KT 2048 // x columns per shared-memory tile: 8 rows x 2048 x 2 bytes = 32 KiB

static_assert(GEMV_KT % (32 * 8) == 0, "a tile is whole passes of 32 lanes x 8 columns");

__device__ __forceinline__ float gemv_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// sum of the 8 products of two groups of 8 BF16 values, fp32
__device__ __forceinline__ float dot8(const uint4 &a, const uint4 &b) {
    const __nv_bfloat162 *a2 = (const __nv_bfloat162 *)&a, *b2 = (const __nv_bfloat162 *)&b;
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 fa = __bfloat1622float2(a2[i]), fb = __bfloat1622float2(b2[i]);
        s = fmaf(fa.x, fb.x, s);
        s = fmaf(fa.y, fb.y, s);
    }
    return s;
}

// 8 weights of row wr at columns c .. c + 7 (absolute), zeros past k_end.
template <bool VEC>
__device__ __forceinline__ uint4 load_w8(const __nv_bfloat16 *wr, int64_t c, int64_t k_end) {
    if (VEC) return __ldg((const uint4 *)(wr + c)); // c % 8 == 0, rows 16-byte aligned, c + 8 <= k_end
    uint4 v;
    __nv_bfloat16 *e = (__nv_bfloat16 *)&v;
#pragma unroll
    for (int i = 0; i < 8; i++) e[i] = c + i < k_end ? wr[c + i] : __float2bfloat16_rn(0.0f);
    return v;
}

// grid (plan.blocks, plan.split), GEMV_THREADS threads. Warp w of block b computes
// rows m0 .. m0 + R - 1, m0 = (b * warps + w) * R, over columns [y * slice,
// min((y + 1) * slice, K)). part == NULL: out = sum + bias; else part[y][j][m] = sum.
template <int R, bool VEC>
__global__ void __launch_bounds__(GEMV_THREADS)
gemv_kernel(float *out, int64_t out_ld, float *part, const float *x, int64_t x_ld, const __nv_bfloat16 *w,
            const float *bias, int M, int64_t K, int n, int64_t slice) {
    __shared__ __align__(16) __nv_bfloat16 xs[IS_CUDA_GEMV_MAX_N][GEMV_KT]; // x rounded to BF16
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int64_t m0 = ((int64_t)blockIdx.x * IS_CUDA_GEMV_WARPS + warp) * R;
    int64_t k_begin = (int64_t)blockIdx.y * slice, k_end = min(k_begin + slice, K);
    const __nv_bfloat16 *wr[R];
#pragma unroll
    for (int r = 0; r < R; r++) wr[r] = w + (m0 + r < M ? m0 + r : M - 1) * K; // past M: a valid row, never written
    float acc[R][IS_CUDA_GEMV_MAX_N];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) acc[r][j] = 0.0f;
    for (int64_t kt = k_begin; kt < k_end; kt += GEMV_KT) {
        int kw = (int)min((int64_t)GEMV_KT, k_end - kt), kw8 = (kw + 7) & ~7;
        __syncthreads(); // the previous tile is consumed
        for (int i = threadIdx.x; i < n * kw8; i += GEMV_THREADS) {
            int j = i / kw8, c = i % kw8;
            xs[j][c] = __float2bfloat16_rn(c < kw ? x[j * x_ld + kt + c] : 0.0f);
        }
        __syncthreads();
#pragma unroll 2
        for (int c = lane * 8; c < kw; c += 32 * 8) {
            uint4 wv[R];
#pragma unroll
            for (int r = 0; r < R; r++) wv[r] = load_w8<VEC>(wr[r], kt + c, k_end);
#pragma unroll
            for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) {
                if (j >= n) break;
                uint4 xv = *(const uint4 *)&xs[j][c];
#pragma unroll
                for (int r = 0; r < R; r++) acc[r][j] += dot8(wv[r], xv);
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) {
            if (j >= n) break;
            float s = gemv_warp_sum(acc[r][j]);
            int64_t m = m0 + r;
            if (lane == 0 && m < M) {
                if (part) part[((int64_t)blockIdx.y * n + j) * M + m] = s;
                else out[j * out_ld + m] = s + (bias ? bias[m] : 0.0f);
            }
        }
}

// Second pass of split-K: out[j][m] = sum over slices s (in order) of part[s][j][m] + bias[m].
__global__ void gemv_reduce_kernel(float *out, int64_t out_ld, const float *part, const float *bias, int M, int n,
                                   int split) {
    int64_t total = (int64_t)n * M;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = i / M, m = i % M;
        float s = 0.0f;
        for (int k = 0; k < split; k++) s += part[(k * (int64_t)n + j) * M + m];
        out[j * out_ld + m] = s + (bias ? bias[m] : 0.0f);
    }
}

// ---- launcher -------------------------------------------------------------------------

template <bool VEC>
static void gemv_launch(cuda_backend *cb, const is_cuda_gemv_plan *p, float *out, int64_t out_ld, float *part,
                        const float *x, int64_t x_ld, const __nv_bfloat16 *w, const float *bias, int M, int64_t K,
                        int n) {
    dim3 grid((unsigned)p->blocks, (unsigned)p->split);
    switch (p->rows_per_warp) {
    case 4:
        gemv_kernel<4, VEC><<<grid, GEMV_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, bias, M, K, n,
                                                                   p->slice);
        break;
    case 2:
        gemv_kernel<2, VEC><<<grid, GEMV_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, bias, M, K, n,
                                                                   p->slice);
        break;
    default:
        IS_ASSERT(p->rows_per_warp == 1);
        gemv_kernel<1, VEC><<<grid, GEMV_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, bias, M, K, n,
                                                                   p->slice);
        break;
    }
    CUDA_LAUNCHED(cb, VEC ? "gemv_kernel (16-byte loads)" : "gemv_kernel (scalar loads)");
}

// out[n, w.rows] = x . w^T (+ bias), BF16 w, 1 <= n <= plan_n <= IS_CUDA_GEMV_MAX_N, with
// the launch planned for plan_n rows (the split of K, hence each row's order of
// summation, follows the plan).
static void gemv_custom_planned(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w,
                                const is_tensor *bias, int n, int plan_n) {
    IS_ASSERT(w->dtype == IS_DTYPE_BF16 && x->dtype == IS_DTYPE_F32 && out->dtype == IS_DTYPE_F32);
    IS_ASSERT(n >= 1 && n <= plan_n && plan_n <= IS_CUDA_GEMV_MAX_N && w->rows <= 0x7fffffff);
    if (cb->failed) return;
    int M = (int)w->rows;
    int64_t K = w->cols;
    is_cuda_gemv_plan p;
    is_cuda_plan_gemv(&p, M, K, plan_n, cb->info.sm_count);
    float *part = NULL;
    size_t need = is_cuda_plan_gemv_work(&p, M, n) * sizeof(float);
    if (need) {
        // reserved by kernel_select for the largest plan (graph capture must not allocate)
        if (need > cb->work_cap) {
            cuda_note_msg(cb, __FILE__, __LINE__, "gemv=custom: split-K needs %zu bytes of workspace, %zu reserved",
                          need, cb->work_cap);
            return;
        }
        part = (float *)cb->d_work;
    }
    const float *b = bias ? (const float *)bias->data : NULL;
    // 16-byte loads need every row on a 16-byte boundary: K a multiple of 8 and an aligned base
    bool vec = K % 8 == 0 && (uintptr_t)w->data % 16 == 0;
    if (vec)
        gemv_launch<true>(cb, &p, (float *)out->data, out->cols, part, (const float *)x->data, x->cols,
                          (const __nv_bfloat16 *)w->data, b, M, K, n);
    else
        gemv_launch<false>(cb, &p, (float *)out->data, out->cols, part, (const float *)x->data, x->cols,
                           (const __nv_bfloat16 *)w->data, b, M, K, n);
    if (part) cuda_gemv_reduce(cb, (float *)out->data, out->cols, part, b, M, n, p.split);
}

void cuda_gemv_reduce(cuda_backend *cb, float *out, int64_t out_ld, const float *part, const float *bias, int M, int n,
                      int split) {
    if (cb->failed || n == 0 || M == 0) return;
    gemv_reduce_kernel<<<cuda_grid((int64_t)n * M, 256), 256, 0, cb->stream>>>(out, out_ld, part, bias, M, n, split);
    CUDA_LAUNCHED(cb, "gemv_reduce_kernel");
}

// gemv=custom: out[n, w.rows] = x . w^T (+ bias), BF16 w, 1 <= n <= IS_CUDA_GEMV_MAX_N.
static void gemv_custom(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                        int n) {
    gemv_custom_planned(cb, out, x, w, bias, n, n);
}

// Rows [r0, r0 + n) of t, as a tensor of n rows.
static is_tensor rows_view(const is_tensor *t, int64_t r0, int64_t n) {
    is_tensor v = *t;
    v.data = (char *)t->data + (size_t)r0 * cuda_row_bytes(t);
    v.rows = n;
    v.owned = false;
    return v;
}

void cuda_matmul_invariant(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w,
                           const is_tensor *bias, int n) {
    for (int r0 = 0; r0 < n && !cb->failed; ) {
        int g = w->dtype == IS_DTYPE_BF16 ? (n - r0 < IS_CUDA_GEMV_MAX_N ? n - r0 : IS_CUDA_GEMV_MAX_N) : 1;
        is_tensor o = rows_view(out, r0, g), xi = rows_view(x, r0, g);
        if (w->dtype == IS_DTYPE_BF16) gemv_custom_planned(cb, &o, &xi, w, bias, g, IS_CUDA_GEMV_MAX_N);
        else cuda_gemm(cb, &o, &xi, w, bias, 1);
        r0 += g;
    }
}

// ---- the gemv variants: a BF16 matmul at n <= IS_CUDA_GEMV_MAX_N rows -----------------
// Both round the activations to BF16 and sum the exact BF16 products in fp32, as
// the CPU reference of the same rounded operands does.
static const cuda_variant gemv_cublas_impl = {cuda_gemm, NULL, NULL};
static const cuda_variant gemv_custom_impl = {gemv_custom, NULL, is_cuda_plan_gemv_work_max};

const is_kernel_variant cuda_gemv_variants[] = {
    {"cublas", IS_CHECK_MATMUL_BF16, &gemv_cublas_impl},
    {"custom", IS_CHECK_MATMUL_BF16, &gemv_custom_impl},
    {NULL, IS_CHECK_EXACT, NULL},
};
