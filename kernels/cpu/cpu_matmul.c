// cpu_matmul.c — out[n, M] = x[n, K] . w[M, K]^T (+ bias[M]); w F32, BF16 or quantized
// (Q8_0, Q4_0, INT8: x . dequant(w)^T), x and out F32, FP32 accumulation.
//
// Three paths (cpu_matmul_with; CPU_MATMUL_AUTO picks by n):
// - GEMV (n < CPU_MATMUL_GEMV_N, decode): memory-bound. Each thread owns a contiguous
//   range of weight rows and streams it once, dotting every weight row with all n
//   input rows (tiles of 4 weight rows x up to 4 input rows, one vector accumulator
//   each). BF16 weights are widened in registers, so they cost half the bytes;
//   quantized ones are dequantized in registers (cpu_quant.c's tiles).
// - our packed GEMM (cpu_gemm.c: the rest of AUTO, and --kernel matmul=gemm): weights
//   and tokens packed into micro-panels, a register-blocked micro-kernel per
//   instruction set, chosen by the CPU's feature bits.
// - OpenBLAS sgemm (--kernel matmul=blas, IS_HAVE_BLAS): each OpenMP thread calls a
//   single-threaded sgemm on its own block of output columns, so only one thread pool
//   ever runs; BF16 weights are widened (quantized ones dequantized) block by block
//   into the thread's scratch first. Not chosen by AUTO: OpenBLAS picks its kernel
//   from a table of CPU model numbers when it loads, and falls back to a generic one
//   several times slower on a CPU it does not know (a Sapphire Rapids read as
//   "Prescott"), which no result would show.
// Measured on TinyLlama-1.1B's projections at n = 512, BF16 weights, 2 threads of a
// 2-vCPU AMD EPYC (Zen 3, AVX2; OpenBLAS 0.3.21 detects it as "Zen"), best of 7 each,
// alternating: the packed GEMM 131-168 GFLOP/s, sgemm 149-176, on a machine whose
// runs drift by 10-20%; at n = 64 89 and 95, at n = 16 39 and 42.
// GEMV and the packed GEMM compute each output element the same way whatever the
// thread count.
#include "kernels/cpu/cpu_internal.h" // defines: v16f, cpu_backend, cpu_matmul_path

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef IS_HAVE_BLAS
#include <cblas.h> // defines: cblas_sgemm, openblas_set_num_threads
#endif

// ---- tiles: dot products of weight rows with input rows ------------------------

// Weight element (row, k) as F32.
CPU_INLINE float mm_w1(const void *w, int bf16, int64_t K, int64_t row, int64_t k) {
    return bf16 ? is_bf16_to_f32(((const uint16_t *)w)[row * K + k]) : ((const float *)w)[row * K + k];
}
CPU_INLINE v16f mm_w16(const void *w, int bf16, int64_t K, int64_t row, int64_t k) {
    return bf16 ? v16f_load_bf16((const uint16_t *)w + row * K + k) : v16f_load((const float *)w + row * K + k);
}

// out[i + a][j + r] = x[i + a] . w[j + r] (+ bias[j + r]) for r < NR, a < NX, over all K.
// NR, NX, bf16 are constants after inlining: the accumulators live in registers.
CPU_INLINE void mm_tile(const void *w, int bf16, int64_t K, int64_t j, const float *x, int64_t i,
                        float *out, int64_t M, const float *bias, int NR, int NX) {
    v16f acc[4][4];
    for (int r = 0; r < NR; r++)
        for (int a = 0; a < NX; a++) acc[r][a] = (v16f){0};
    const float *xr = x + i * K;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        v16f xv[4];
        for (int a = 0; a < NX; a++) xv[a] = v16f_load(xr + a * K + k);
        for (int r = 0; r < NR; r++) {
            v16f wv = mm_w16(w, bf16, K, j + r, k);
            for (int a = 0; a < NX; a++) acc[r][a] += wv * xv[a];
        }
    }
    float s[4][4];
    for (int r = 0; r < NR; r++)
        for (int a = 0; a < NX; a++) s[r][a] = v16f_sum(&acc[r][a]);
    for (; k < K; k++) {
        for (int r = 0; r < NR; r++) {
            float wv = mm_w1(w, bf16, K, j + r, k);
            for (int a = 0; a < NX; a++) s[r][a] += wv * xr[a * K + k];
        }
    }
    for (int a = 0; a < NX; a++)
        for (int r = 0; r < NR; r++) out[(i + a) * M + j + r] = s[r][a] + (bias ? bias[j + r] : 0.0f);
}

// Input rows [i0, i1) against weight rows [j0, j1): weight rows outer, so each group of
// 4 weight rows is read from memory once and reused from L1/L2 for all input rows.
CPU_INLINE void mm_block(const void *w, int bf16, int64_t K, const float *x, int64_t i0, int64_t i1,
                         float *out, int64_t M, const float *bias, int64_t j0, int64_t j1) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4) {
        int64_t i = i0;
        for (; i + 4 <= i1; i += 4) mm_tile(w, bf16, K, j, x, i, out, M, bias, 4, 4);
        switch (i1 - i) {
        case 3: mm_tile(w, bf16, K, j, x, i, out, M, bias, 4, 3); break;
        case 2: mm_tile(w, bf16, K, j, x, i, out, M, bias, 4, 2); break;
        case 1: mm_tile(w, bf16, K, j, x, i, out, M, bias, 4, 1); break;
        default: break;
        }
    }
    for (; j < j1; j++) {
        int64_t i = i0;
        for (; i + 4 <= i1; i += 4) mm_tile(w, bf16, K, j, x, i, out, M, bias, 1, 4);
        switch (i1 - i) {
        case 3: mm_tile(w, bf16, K, j, x, i, out, M, bias, 1, 3); break;
        case 2: mm_tile(w, bf16, K, j, x, i, out, M, bias, 1, 2); break;
        case 1: mm_tile(w, bf16, K, j, x, i, out, M, bias, 1, 1); break;
        default: break;
        }
    }
}

CPU_CLONES static void mm_block_f32(const float *w, int64_t K, const float *x, int64_t i0, int64_t i1,
                                    float *out, int64_t M, const float *bias, int64_t j0, int64_t j1) {
    mm_block(w, 0, K, x, i0, i1, out, M, bias, j0, j1);
}

CPU_CLONES static void mm_block_bf16(const uint16_t *w, int64_t K, const float *x, int64_t i0,
                                     int64_t i1, float *out, int64_t M, const float *bias, int64_t j0,
                                     int64_t j1) {
    mm_block(w, 1, K, x, i0, i1, out, M, bias, j0, j1);
}

// ---- the same tiles on AVX2 ---------------------------------------------------------
// On a CPU with AVX2 but no AVX-512 the 16-lane vectors above do not fit a register:
// GCC keeps arrays of them in memory, and the GEMV ran at half the memory bandwidth.
// Here each 16-lane accumulator is two 8-lane halves in registers, one input row at
// a time (4 weight rows: 8 accumulators, while the 4 rows' weights stay in L1 for
// the next input row), summed by the tree of v16f_sum.
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));
typedef uint16_t v8h_u __attribute__((vector_size(16), aligned(2)));
typedef uint32_t v8u __attribute__((vector_size(32)));

CPU_INLINE v8f mm_w8(const void *w, int bf16, int64_t K, int64_t row, int64_t k) {
    if (!bf16) return *(const v8f_u *)((const float *)w + row * K + k);
    v8u u = __builtin_convertvector(*(const v8h_u *)((const uint16_t *)w + row * K + k), v8u) << 16;
    return (v8f)u;
}

// v16f_sum of the vector whose lanes 0-7 are lo and 8-15 are hi.
CPU_INLINE float mm_sum8(const v8f *lo, const v8f *hi) {
    v8f v = *lo + *hi;
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1);
    return v[0] + v[1];
}

// out[i][j + r] = x[i] . w[j + r] (+ bias[j + r]) for r < NR: mm_tile's arithmetic with NX = 1.
CPU_INLINE void mm_tile8(const void *w, int bf16, int64_t K, int64_t j, const float *x, int64_t i, float *out,
                         int64_t M, const float *bias, int NR) {
    v8f lo[4], hi[4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) lo[r] = hi[r] = (v8f){0};
    const float *xr = x + i * K;
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        v8f xl = *(const v8f_u *)(xr + k), xh = *(const v8f_u *)(xr + k + 8);
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            lo[r] += mm_w8(w, bf16, K, j + r, k) * xl;
            hi[r] += mm_w8(w, bf16, K, j + r, k + 8) * xh;
        }
    }
    float s[4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) s[r] = mm_sum8(&lo[r], &hi[r]);
    for (; k < K; k++)
        for (int r = 0; r < NR; r++) s[r] += mm_w1(w, bf16, K, j + r, k) * xr[k];
    for (int r = 0; r < NR; r++) out[i * M + j + r] = s[r] + (bias ? bias[j + r] : 0.0f);
}

CPU_INLINE void mm_block8(const void *w, int bf16, int64_t K, const float *x, int64_t i0, int64_t i1, float *out,
                          int64_t M, const float *bias, int64_t j0, int64_t j1) {
    int64_t j = j0;
    for (; j + 4 <= j1; j += 4)
        for (int64_t i = i0; i < i1; i++) mm_tile8(w, bf16, K, j, x, i, out, M, bias, 4);
    for (; j < j1; j++)
        for (int64_t i = i0; i < i1; i++) mm_tile8(w, bf16, K, j, x, i, out, M, bias, 1);
}

__attribute__((target("arch=x86-64-v3"))) static void mm_block8_f32(const float *w, int64_t K, const float *x,
                                                                    int64_t i0, int64_t i1, float *out, int64_t M,
                                                                    const float *bias, int64_t j0, int64_t j1) {
    mm_block8(w, 0, K, x, i0, i1, out, M, bias, j0, j1);
}

__attribute__((target("arch=x86-64-v3"))) static void mm_block8_bf16(const uint16_t *w, int64_t K, const float *x,
                                                                     int64_t i0, int64_t i1, float *out, int64_t M,
                                                                     const float *bias, int64_t j0, int64_t j1) {
    mm_block8(w, 1, K, x, i0, i1, out, M, bias, j0, j1);
}

// avx2: the CPU has AVX2 and FMA but no AVX-512 (the packed GEMM's choice says so).
static void mm_block_any(const is_tensor *w, bool avx2, const float *x, int64_t i0, int64_t i1, float *out,
                         const float *bias, int64_t j0, int64_t j1) {
    bool bf16 = w->dtype == IS_DTYPE_BF16;
    if (avx2 && bf16) mm_block8_bf16(w->data, w->cols, x, i0, i1, out, w->rows, bias, j0, j1);
    else if (avx2) mm_block8_f32(w->data, w->cols, x, i0, i1, out, w->rows, bias, j0, j1);
    else if (bf16) mm_block_bf16(w->data, w->cols, x, i0, i1, out, w->rows, bias, j0, j1);
    else mm_block_f32(w->data, w->cols, x, i0, i1, out, w->rows, bias, j0, j1);
}

// This thread's share [*j0, *j1) of M weight rows, in whole units of `unit` rows.
static void mm_thread_range(int64_t M, int64_t unit, int64_t *j0, int64_t *j1) {
    int tid = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t units = (M + unit - 1) / unit;
    *j0 = units * tid / T * unit;
    *j1 = units * (tid + 1) / T * unit;
    if (*j1 > M) *j1 = M;
    if (*j0 > M) *j0 = M;
}

// ---- GEMV: small n -------------------------------------------------------------

static void mm_gemv(const cpu_backend *cb, float *out, const float *x, const is_tensor *w,
                    const float *bias, int n) {
    int64_t M = w->rows, K = w->cols;
    int nt = M * K >= CPU_PAR_MIN ? cb->n_threads : 1;
    // quantized weights: 8-lane tiles wherever AVX2 and FMA are (cpu_quant.c), so with
    // AVX-512 too; they keep a permuted copy of x in the thread's scratch
    bool avx2 = cb->gemm_kernel == CPU_GEMM_AVX2, quant_avx2 = avx2 || cb->gemm_kernel == CPU_GEMM_AVX512;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t j0, j1;
        mm_thread_range(M, 4, &j0, &j1);
        float *scratch = cb->scratch + (size_t)omp_get_thread_num() * cb->scratch_floats;
        if (j0 < j1 && is_dtype_quantized(w->dtype))
            cpu_gemv_quant(w, quant_avx2, scratch, cb->scratch_floats, x, 0, n, out, bias, j0, j1);
        else if (j0 < j1)
            mm_block_any(w, avx2, x, 0, n, out, bias, j0, j1);
    }
}

// ---- GEMM with OpenBLAS ------------------------------------------------------------

// Widens rows [j0, j0 + rows) x columns [k0, k0 + kb) of a BF16 matrix with K columns
// into dst[rows][kb].
CPU_CLONES static void mm_bf16_block_to_f32(float *dst, const uint16_t *w, int64_t K, int64_t j0,
                                            int64_t rows, int64_t k0, int64_t kb) {
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *s = w + (j0 + r) * K + k0;
        float *d = dst + r * kb;
        int64_t k = 0;
        for (; k + 16 <= kb; k += 16) *(v16f_u *)(d + k) = v16f_load_bf16(s + k);
        for (; k < kb; k++) d[k] = is_bf16_to_f32(s[k]);
    }
}

#ifdef IS_HAVE_BLAS
// Dequantizes rows [j0, j0 + rows) x columns [k0, k0 + kb) of a quantized matrix into
// dst[rows][kb] (k0, kb whole blocks).
static void mm_quant_block_to_f32(float *dst, const is_tensor *w, int64_t j0, int64_t rows, int64_t k0,
                                  int64_t kb) {
    for (int64_t r = 0; r < rows; r++) cpu_dequant_range(w->dtype, cpu_qrow(w, j0 + r), k0, kb, dst + r * kb);
}

static void mm_gemm_blas(const cpu_backend *cb, float *out, const float *x, const is_tensor *w,
                         const float *bias, int n) {
    int64_t M = w->rows, K = w->cols;
    int nt = M >= 64 ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int64_t j0, j1;
        mm_thread_range(M, 16, &j0, &j1);
        if (j1 > j0 && w->dtype == IS_DTYPE_F32) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)(j1 - j0), (int)K, 1.0f, x,
                        (int)K, (const float *)w->data + j0 * K, (int)K, 0.0f, out + j0, (int)M);
        } else if (j1 > j0) {
            // BF16 (quantized): widen (dequantize) [rb rows x kb columns] blocks into this
            // thread's scratch; kb in whole blocks of the format.
            float *buf = cb->scratch + (size_t)omp_get_thread_num() * cb->scratch_floats;
            int64_t cap = (int64_t)cb->scratch_floats, blk = is_dtype_block(w->dtype);
            int64_t kb = K < cap / 16 ? K : cap / 16 / blk * blk;
            int64_t rb = cap / kb;
            if (rb > 16) rb -= rb % 16;
            for (int64_t jb = j0; jb < j1; jb += rb) {
                int64_t rows = jb + rb < j1 ? rb : j1 - jb;
                for (int64_t k0 = 0; k0 < K; k0 += kb) {
                    int64_t kn = k0 + kb < K ? kb : K - k0;
                    if (w->dtype == IS_DTYPE_BF16) mm_bf16_block_to_f32(buf, w->data, K, jb, rows, k0, kn);
                    else mm_quant_block_to_f32(buf, w, jb, rows, k0, kn);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, (int)rows, (int)kn, 1.0f,
                                x + k0, (int)K, buf, (int)kn, k0 ? 1.0f : 0.0f, out + jb, (int)M);
                }
            }
        }
        if (bias && j1 > j0) {
            for (int64_t i = 0; i < n; i++)
                for (int64_t j = j0; j < j1; j++) out[i * M + j] += bias[j];
        }
    }
}
#endif

void cpu_matmul_init_blas(int n_threads) {
#ifdef IS_HAVE_BLAS
    // Our OpenMP threads each call a single-threaded sgemm: BLAS threads of its own
    // would compete with them for the same cores.
    (void)n_threads;
    openblas_set_num_threads(1);
#else
    (void)n_threads;
#endif
}

void cpu_gemm_describe(const cpu_backend *cb, is_gemm_info *out) {
    memset(out, 0, sizeof *out);
    const cpu_gemm_kernel *k = cpu_gemm_kernel_info((cpu_gemm_kernel_id)cb->gemm_kernel);
    snprintf(out->impl, sizeof out->impl, "packed GEMM, %s micro-kernel (%d x %d tiles); GEMV below %d rows",
             k->name, k->mr, k->nr, CPU_MATMUL_GEMV_N);
    snprintf(out->unit, sizeof out->unit, "%s", k->unit);
    snprintf(out->chosen_by, sizeof out->chosen_by, "the CPU's feature bits (%s)",
             cb->gemm_kernel == CPU_GEMM_AVX512 ? "avx512f, avx512bw, avx512cd, avx512dq, avx512vl"
             : cb->gemm_kernel == CPU_GEMM_AVX2 ? "avx2, fma" : "no AVX2: the baseline");
#ifdef IS_HAVE_BLAS
    const char *core = openblas_get_corename(), *config = openblas_get_config(), *forced = getenv("OPENBLAS_CORETYPE");
    snprintf(out->blas, sizeof out->blas, "OpenBLAS (the matmul variant blas): core %s (%s), %s", core ? core : "?",
             forced && *forced ? "OPENBLAS_CORETYPE" : "OpenBLAS's own pick from the CPU's model number",
             config ? config : "");
#endif
}

// ---- entry points -------------------------------------------------------------------

void cpu_matmul_with(is_backend *be, cpu_matmul_path path, is_tensor *out, const is_tensor *x,
                     const is_tensor *w, const is_tensor *bias, int n) {
    IS_ASSERT(out->dtype == IS_DTYPE_F32 && x->dtype == IS_DTYPE_F32);
    IS_ASSERT(w->dtype == IS_DTYPE_F32 || w->dtype == IS_DTYPE_BF16 || is_dtype_quantized(w->dtype));
    IS_ASSERT(is_dtype_row_bytes(w->dtype, w->cols) > 0 || w->cols == 0); // whole blocks
    IS_ASSERT(x->cols == w->cols && out->cols == w->rows);
    IS_ASSERT(n >= 0 && n <= x->rows && n <= out->rows);
    IS_ASSERT(w->rows <= INT32_MAX && w->cols <= INT32_MAX);
    IS_ASSERT(out->data != x->data);
    if (bias) IS_ASSERT(bias->dtype == IS_DTYPE_F32 && bias->rows * bias->cols == w->rows);
    if (n == 0 || w->rows == 0) return;
    const cpu_backend *cb = cpu_impl(be);
    const float *bv = bias ? (const float *)bias->data : NULL;
    // batch-invariant: the GEMV for every n (its tiles compute each row alike
    // whatever n); the packed GEMM's edge tiles would differ from its full ones
    if (path == CPU_MATMUL_AUTO)
        path = n < CPU_MATMUL_GEMV_N || be->batch_invariant ? CPU_MATMUL_GEMV : CPU_MATMUL_GEMM_OWN;
    if (w->cols == 0) path = CPU_MATMUL_GEMV; // out = bias (or 0): no BLAS corner cases
    switch (path) {
    case CPU_MATMUL_GEMV: mm_gemv(cb, out->data, x->data, w, bv, n); break;
#ifdef IS_HAVE_BLAS
    case CPU_MATMUL_GEMM_BLAS: mm_gemm_blas(cb, out->data, x->data, w, bv, n); break;
#else
    case CPU_MATMUL_GEMM_BLAS: // built without BLAS: our own GEMM
#endif
    case CPU_MATMUL_GEMM_OWN:
    default: cpu_gemm(cb, (cpu_gemm_kernel_id)cb->gemm_kernel, out->data, x->data, w, bv, n); break;
    }
}

void cpu_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w,
                const is_tensor *bias, int n) {
    cpu_matmul_with(be, (cpu_matmul_path)cpu_impl(be)->matmul_path, out, x, w, bias, n);
}
