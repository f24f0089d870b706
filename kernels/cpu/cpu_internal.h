// cpu_internal.h — shared by the CPU backend's files; not part of the backend interface.
//
// The backend lives in five files, one op family each:
//   cpu_backend.c   create/destroy, tensor memory, fills, the dispatch table
//   cpu_matmul.c    matmul: GEMV for decode, GEMM (OpenBLAS or our own) for prefill
//   cpu_gemm.c      the packed GEMM (prefill)
//   cpu_quant.c     quantized weights (Q8_0, Q4_0, INT8): dequantization, the GEMV tiles
//   cpu_ops.c       embed, rmsnorm, rope, swiglu, add, gather_rows
//   cpu_attention.c kv_store, kv_copy_blocks, attention
//
// Weight matrices are F32, BF16 or quantized (base/quant.h): a quantized [rows, cols]
// tensor is rows rows of is_dtype_row_bytes(dtype, cols) bytes, one after another
// (is_dtype_size is 0 for them: sizes are per row).
//
// SIMD comes from the compiler: vector extensions that GCC (12 or later) and clang
// share (v16f below, __builtin_shufflevector) in functions built for several targets with
// target_clones, so one binary runs on any x86-64 and uses AVX-512 or AVX2+FMA where
// the CPU has them. No intrinsics.
#ifndef IS_CPU_INTERNAL_H
#define IS_CPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/backend.h"

// Hot kernels get one clone per x86-64 level; the loader picks one at start-up.
// -DCPU_CLONES= builds one version for the compiler's target instead (to test the
// baseline code on a machine that would pick a wider clone). Clang builds one version
// too: it checks the vector ABI of the helpers below before inlining them, and refuses
// a 16-float return into an AVX-512 clone from a helper compiled without AVX-512. The
// clang build is for sanitizers and fuzzing; GCC's is the one that is measured.
#ifndef CPU_CLONES
#if defined(__x86_64__) && !defined(__clang__)
#define CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_CLONES
#endif
#endif
#define CPU_INLINE static inline __attribute__((always_inline))

// 16 floats: one AVX-512 register, two AVX2 registers, four SSE registers.
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4)));       // unaligned: *(v16f_u *)p = v
typedef uint16_t v16h_u __attribute__((vector_size(32), aligned(2)));    // 16 BF16, unaligned
typedef uint32_t v16u __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

// Vector values pass only between always-inlined helpers, never across a real call,
// so the ABI of vector arguments and results, which differs between targets, does not
// matter. GCC warns about returning them (-Wpsabi, silenced here for the files that
// include this header) and notes, with no way to silence it, passing them by value:
// helpers take vector arguments by pointer.
#pragma GCC diagnostic ignored "-Wpsabi"
CPU_INLINE v16f v16f_load(const float *p) { return *(const v16f_u *)p; }
// 16 BF16 values widened to F32 (a BF16 is the upper half of an F32).
CPU_INLINE v16f v16f_load_bf16(const uint16_t *p) {
    v16u u = __builtin_convertvector(*(const v16h_u *)p, v16u) << 16;
    return (v16f)u;
}
// Sum of the 16 lanes.
CPU_INLINE float v16f_sum(const v16f *pv) {
    v16f v = *pv;
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1);
    return v[0] + v[1];
}

CPU_INLINE v16f v16f_max(const v16f *a, const v16f *b) {
    v16i m = (v16i)(*a > *b);
    return (v16f)(((v16i)*a & m) | ((v16i)*b & ~m));
}

// Lane i of the result = sum of the 16 lanes of v[i]: a transpose folded into the adds
// (30 shuffles and 15 adds for 16 horizontal sums).
CPU_INLINE v16f v16f_sum16(const v16f *v) {
    v16f a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) // [v2i lanes 0..7 + 8..15 | v2i+1 likewise]: 8 partial sums each
        a[i] = __builtin_shufflevector(v[2 * i], v[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
               __builtin_shufflevector(v[2 * i], v[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int i = 0; i < 4; i++) // 4 partial sums of each of 4 vectors
        b[i] = __builtin_shufflevector(a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
               __builtin_shufflevector(a[2 * i], a[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    for (int i = 0; i < 2; i++) // 2 partial sums of each of 8 vectors
        c[i] = __builtin_shufflevector(b[2 * i], b[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
               __builtin_shufflevector(b[2 * i], b[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    return __builtin_shufflevector(c[0], c[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
           __builtin_shufflevector(c[0], c[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

// e^x on 16 lanes, within 2 ulp of expf: e^x = 2^n e^r with n = round(x / ln 2) and
// |r| <= ln(2)/2, e^r by its Taylor series to degree 7 (truncation < 2^-27). Below
// -87.3 the result is 0 (the F32 subnormals are not worth the lanes); above 88.37 it is
// inf (so 2^n stays a normal F32; expf itself overflows only from 88.72).
CPU_INLINE v16f v16f_exp(const v16f *px) {
    const float ln2_hi = 0.693359375f;            // 355/512: n * ln2_hi is exact
    const float ln2_lo = -2.12194440054690583e-4f; // ln 2 - ln2_hi
    const v16f lo = (v16f){0} - 87.3f, minus_hi = (v16f){0} - 88.37f;
    v16f x = *px;
    v16i under = (v16i)(x < lo), over = (v16i)(x > -minus_hi);
    x = v16f_max(&x, &lo);
    x = -x;
    x = -v16f_max(&x, &minus_hi);
    v16f n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; // round to nearest
    v16f r = (x - n * ln2_hi) - n * ln2_lo;
    v16f p = (v16f){0} + (1.0f / 5040.0f);
    p = p * r + (1.0f / 720.0f);
    p = p * r + (1.0f / 120.0f);
    p = p * r + (1.0f / 24.0f);
    p = p * r + (1.0f / 6.0f);
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    v16i e = (__builtin_convertvector(n, v16i) + 127) << 23;
    v16f y = p * (v16f)e;
    y = (v16f)((v16i)y & ~under);
    return (v16f)(((v16i)y & ~over) | ((v16i)((v16f){0} + __builtin_inff()) & over));
}

typedef struct cpu_backend {
    int n_threads;
    int matmul_path;  // cpu_matmul_path chosen with --kernel matmul=...; CPU_MATMUL_AUTO by default
    int gemm_kernel;  // cpu_gemm_kernel_id of the packed GEMM: cpu_gemm_best()
    // Per-thread scratch for blocks of BF16 or quantized weights turned into F32 (before
    // an sgemm, or for our own GEMM): [n_threads][scratch_floats], 64-byte aligned.
    float *scratch;
    size_t scratch_floats;
    // flush_cache: a buffer larger than the last-level cache, allocated on first use
    float *flush;
    size_t flush_floats;
    volatile float flush_sink; // one value read back, so the writes cannot be dropped
} cpu_backend;

static inline cpu_backend *cpu_impl(const is_backend *be) { return (cpu_backend *)be->impl; }

// Parallel regions smaller than this many elements of work run on one thread.
#define CPU_PAR_MIN 32768

// ---- cpu_matmul.c ----
typedef enum cpu_matmul_path {
    CPU_MATMUL_AUTO = 0,  // by n: GEMV below CPU_MATMUL_GEMV_N rows, else our packed GEMM
    CPU_MATMUL_GEMV,      // dot-product tiles, weights streamed once per call
    CPU_MATMUL_GEMM_OWN,  // our packed GEMM (cpu_gemm.c), its kernel chosen by the CPU's features
    CPU_MATMUL_GEMM_BLAS, // OpenBLAS sgemm (CPU_MATMUL_GEMM_OWN when built without BLAS)
} cpu_matmul_path;

// AUTO: n < CPU_MATMUL_GEMV_N takes the GEMV (it streams the weights once; the GEMM
// packs them first), the rest our packed GEMM. Measured: see cpu_matmul.c.
#define CPU_MATMUL_GEMV_N 16

void cpu_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w,
                const is_tensor *bias, int n);
// matmul with the path forced: the tests and benchmarks reach every path through it.
void cpu_matmul_with(is_backend *be, cpu_matmul_path path, is_tensor *out, const is_tensor *x,
                     const is_tensor *w, const is_tensor *bias, int n);
// What the matmul runs on (is_backend.gemm_info).
void cpu_gemm_describe(const cpu_backend *cb, is_gemm_info *out);
// Sets the BLAS library's own thread count for this backend's use (no-op without BLAS).
void cpu_matmul_init_blas(int n_threads);

// ---- cpu_gemm.c ----
// The packed GEMM's micro-kernels: one per instruction set (chosen by the CPU's
// feature bits), and portable builds of the wide shapes for the tests.
typedef enum cpu_gemm_kernel_id {
    CPU_GEMM_AVX512,          // x86-64-v4
    CPU_GEMM_AVX2,            // x86-64-v3
    CPU_GEMM_SSE,             // any x86-64
    CPU_GEMM_AVX512_PORTABLE, // the avx512 kernel's body, built for any x86-64
    CPU_GEMM_AVX2_PORTABLE,   // the avx2 kernel's body, built for any x86-64
    CPU_GEMM_N_KERNELS
} cpu_gemm_kernel_id;

typedef struct cpu_gemm_kernel {
    const char *name; // "avx2"
    const char *unit; // the compute unit it runs on, as the peak probe names it ("fma_f32_avx2")
    int mr, nr, mc;   // tile: mr tokens x nr weight rows; mc tokens per packed block
} cpu_gemm_kernel;

const cpu_gemm_kernel *cpu_gemm_kernel_info(cpu_gemm_kernel_id id);
bool cpu_gemm_kernel_usable(cpu_gemm_kernel_id id); // this CPU has its instructions
cpu_gemm_kernel_id cpu_gemm_best(void);            // the widest usable
// Floats of per-thread scratch the packed GEMM needs at least.
size_t cpu_gemm_scratch_floats(void);
// out[n, M] = x[n, K] . w[M, K]^T (+ bias) with kernel id (usable on this CPU).
void cpu_gemm(const cpu_backend *cb, cpu_gemm_kernel_id id, float *out, const float *x, const is_tensor *w,
              const float *bias, int n);

// ---- cpu_quant.c ----
// Builds cpu_f16_table once (is_cpu_backend_create calls it; thread-safe).
void cpu_quant_init(void);
// Every F16 bit pattern as F32, equal to is_f16_to_f32 (valid after cpu_quant_init).
extern float cpu_f16_table[65536];
// Row r of a quantized matrix.
const void *cpu_qrow(const is_tensor *w, int64_t r);
// dst[0, kn) = elements [k0, k0 + kn) of one quantized row of dtype t, bit for bit the
// values of is_dequantize_row; k0 and kn whole blocks (multiples of 32 for Q8_0, Q4_0).
void cpu_dequant_range(is_dtype t, const void *row, int64_t k0, int64_t kn, float *dst);
// The GEMV on a quantized w: out[i][j] = x[i] . deq(w[j]) (+ bias[j]) for i in [i0, i1),
// j in [j0, j1); out [., w->rows], x [., w->cols]. avx2: 8-lane tiles (the CPU has AVX2
// and FMA), which keep a permuted copy of x in scratch (the calling thread's own), else
// 16-lane ones.
void cpu_gemv_quant(const is_tensor *w, bool avx2, float *scratch, size_t scratch_floats, const float *x,
                    int64_t i0, int64_t i1, float *out, const float *bias, int64_t j0, int64_t j1);

// ---- cpu_ops.c ----
void cpu_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n);
void cpu_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n,
                 float eps);
void cpu_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
              const is_tensor *inv_freq);
void cpu_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n);
void cpu_add(is_backend *be, is_tensor *x, const is_tensor *y, int n);
void cpu_gather_rows(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n);

// ---- cpu_attention.c ----
void cpu_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k,
                  const is_tensor *v, const is_attn_batch *b);
void cpu_kv_copy_blocks(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src,
                        const int32_t *dst, int n, int block_size);
void cpu_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                   const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads,
                   int head_dim);

#endif
