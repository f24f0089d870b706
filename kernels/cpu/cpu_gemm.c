// cpu_gemm.c — our packed GEMM for prefill: out[n, M] = x[n, K] . w[M, K]^T (+ bias[M]),
// w F32 or BF16 (widened while it is packed: BF16 is exact in F32) or quantized
// (dequantized while it is packed, to the values of is_dequantize_row), fp32 FMA.
//
// The scheme of BLIS and GotoBLAS: a thread owns a range of weight rows (output
// columns); for each block of KC columns of k it packs a panel of its weight rows
// as [KC][NR] micro-panels (the weights transposed, so a k step reads NR of them
// in a row), then for each block of MC tokens packs their [KC][MR] micro-panels,
// and the micro-kernel multiplies one of each into an MR x NR tile of out whose
// accumulators stay in registers for all KC steps: per k, NR weights loaded as
// vectors, MR token values broadcast, MR x NR/16 fused multiply-adds.
//
// One micro-kernel per instruction set, chosen from the CPU's own feature bits at
// start-up (never from a library's table of CPU models), all from one generic body
// (gemm_micro) with its tile shape and the target it is compiled for:
//   avx512 (x86-64-v4: 32 vector registers): 12 tokens x 32 weight rows, 24 accumulators;
//   avx2   (x86-64-v3: 16 registers, FMA):    6 x 16, 12 accumulators (two per row);
//   sse    (any x86-64, no FMA):             4 x 12, 12 accumulators (three per row).
// Measured on one core of a 2-vCPU AMD EPYC (Zen 3, AVX2) whose FMA loop reaches
// about 100 GFLOP/s: the avx2 micro-kernel alone 84-95 GFLOP/s, the sse one 35.
// Every output element is the same sum in the same order whichever thread computes
// it (k blocks in order, k in order within a block).
#include "kernels/cpu/cpu_internal.h" // defines: v16f, cpu_backend, cpu_gemm_kernel

#include <omp.h>
#include <stdlib.h>

#define GEMM_KC 256 // k columns per packed block: an MR x KC and a KC x NR micro-panel fit L1 and L2
_Static_assert(GEMM_KC % 32 == 0, "k blocks start on a Q8_0/Q4_0 block");

// ---- the micro-kernel ----------------------------------------------------------------

// Vectors of the width of each instruction set's registers: GCC lowers a vector
// wider than the target's registers through memory, so each kernel uses its own.
typedef float v4f __attribute__((vector_size(16)));
typedef float v4f_u __attribute__((vector_size(16), aligned(4)));
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));

// c[r][j] (+)= sum_k a[k][r] * b[k][j] for r < MR, j < NRV * W: a is a [kc][MR]
// micro-panel, b a [kc][NRV * W] one; beta 0 overwrites c, 1 adds to it. One body
// for each vector type VT of W floats (C has no templates); MR and NRV are
// constants after inlining and every loop over them is unrolled, so acc is MR x NRV
// vector registers. s - 0 is the broadcast of s (0 + s would cost an add of 0).
#define GEMM_MICRO(name, VT, VT_U, W)                                                                           \
    CPU_INLINE void name(int64_t kc, const float *restrict a, const float *restrict b, float *restrict c,    \
                         int64_t ldc, int beta, int MR, int NRV) {                                           \
        VT acc[12][3];                                                                                       \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NRV; v++) \
            acc[r][v] = beta ? *(const VT_U *)(c + r * ldc + v * W) : (VT){0};                             \
        for (int64_t k = 0; k < kc; k++) {                                                                   \
            VT bv[3];                                                                                        \
            _Pragma("GCC unroll 3") for (int v = 0; v < NRV; v++) bv[v] = *(const VT_U *)(b + (k * NRV + v) * W); \
            _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {                                        \
                VT av = a[k * MR + r] - (VT){0};                                                            \
                _Pragma("GCC unroll 3") for (int v = 0; v < NRV; v++) acc[r][v] += av * bv[v];             \
            }                                                                                                \
        }                                                                                                    \
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) _Pragma("GCC unroll 3") for (int v = 0; v < NRV; v++) \
            *(VT_U *)(c + r * ldc + v * W) = acc[r][v];                                                      \
    }

GEMM_MICRO(gemm_micro16, v16f, v16f_u, 16)
GEMM_MICRO(gemm_micro8, v8f, v8f_u, 8)
GEMM_MICRO(gemm_micro4, v4f, v4f_u, 4)

typedef void (*gemm_micro_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int beta);

__attribute__((target("arch=x86-64-v4"))) static void micro_avx512(int64_t kc, const float *a, const float *b,
                                                                   float *c, int64_t ldc, int beta) {
    gemm_micro16(kc, a, b, c, ldc, beta, 12, 2);
}
__attribute__((target("arch=x86-64-v3"))) static void micro_avx2(int64_t kc, const float *a, const float *b,
                                                                 float *c, int64_t ldc, int beta) {
    gemm_micro8(kc, a, b, c, ldc, beta, 6, 2);
}
static void micro_sse(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int beta) {
    gemm_micro4(kc, a, b, c, ldc, beta, 4, 3);
}
// The bodies of the kernels above compiled for any x86-64 (slowly: a vector wider
// than the registers goes through memory): the tests run them on every machine, so
// each kernel's arithmetic, packing and edges are checked where the CPU lacks the
// instructions of the fast build.
static void micro_avx512_portable(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int beta) {
    gemm_micro16(kc, a, b, c, ldc, beta, 12, 2);
}
static void micro_avx2_portable(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, int beta) {
    gemm_micro8(kc, a, b, c, ldc, beta, 6, 2);
}

static bool have_avx512(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl");
}
static bool have_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static bool have_any(void) { return true; }

static const struct gemm_kernel_def {
    cpu_gemm_kernel info;
    gemm_micro_fn micro;
    bool (*usable)(void);
} gemm_kernels[CPU_GEMM_N_KERNELS] = {
    [CPU_GEMM_AVX512] = {{"avx512", "fma_f32_avx512", 12, 32, 96}, micro_avx512, have_avx512},
    [CPU_GEMM_AVX2] = {{"avx2", "fma_f32_avx2", 6, 16, 72}, micro_avx2, have_avx2},
    [CPU_GEMM_SSE] = {{"sse", "f32_sse", 4, 12, 64}, micro_sse, have_any},
    [CPU_GEMM_AVX512_PORTABLE] = {{"avx512-portable", "f32_sse", 12, 32, 96}, micro_avx512_portable, have_any},
    [CPU_GEMM_AVX2_PORTABLE] = {{"avx2-portable", "f32_sse", 6, 16, 72}, micro_avx2_portable, have_any},
};

const cpu_gemm_kernel *cpu_gemm_kernel_info(cpu_gemm_kernel_id id) {
    return (unsigned)id < CPU_GEMM_N_KERNELS ? &gemm_kernels[id].info : NULL;
}

bool cpu_gemm_kernel_usable(cpu_gemm_kernel_id id) {
    return (unsigned)id < CPU_GEMM_N_KERNELS && gemm_kernels[id].usable();
}

cpu_gemm_kernel_id cpu_gemm_best(void) {
    return have_avx512() ? CPU_GEMM_AVX512 : have_avx2() ? CPU_GEMM_AVX2 : CPU_GEMM_SSE;
}

// ---- packing -------------------------------------------------------------------------

// Weight rows [j0, j0 + nr) x columns [k0, k0 + kc) as a [kc][NR] micro-panel; rows
// past M (nr < NR) are zeros. In steps of 16 k: a row's 16 values are one read, and
// the 16 x NR block written stays in L1.
// A quantized w: each row's kc values dequantized at once into t (k0 and kc are whole
// Q8_0/Q4_0 blocks, as K and GEMM_KC are), then scattered into the panel (kc x NR floats,
// 16-32 KiB: in L1).
static void pack_w_quant(float *restrict dst, const is_tensor *w, int64_t j0, int nr, int NR, int64_t k0,
                         int64_t kc) {
    float t[GEMM_KC];
    for (int j = 0; j < NR; j++) {
        if (j < nr) cpu_dequant_range(w->dtype, cpu_qrow(w, j0 + j), k0, kc, t);
        for (int64_t k = 0; k < kc; k++) dst[k * NR + j] = j < nr ? t[k] : 0.0f;
    }
}

static void pack_w(float *restrict dst, const is_tensor *w, int64_t j0, int nr, int NR, int64_t k0, int64_t kc) {
    if (is_dtype_quantized(w->dtype)) {
        pack_w_quant(dst, w, j0, nr, NR, k0, kc);
        return;
    }
    int64_t K = w->cols;
    for (int64_t kb = 0; kb < kc; kb += 16) {
        int64_t ke = kb + 16 < kc ? kb + 16 : kc;
        for (int j = 0; j < NR; j++) {
            if (j >= nr) {
                for (int64_t k = kb; k < ke; k++) dst[k * NR + j] = 0.0f;
            } else if (w->dtype == IS_DTYPE_BF16) {
                const uint16_t *s = (const uint16_t *)w->data + (j0 + j) * K + k0;
                for (int64_t k = kb; k < ke; k++) dst[k * NR + j] = is_bf16_to_f32(s[k]);
            } else {
                const float *s = (const float *)w->data + (j0 + j) * K + k0;
                for (int64_t k = kb; k < ke; k++) dst[k * NR + j] = s[k];
            }
        }
    }
}

// Token rows [i0, i0 + mr) x columns [k0, k0 + kc) of x as a [kc][MR] micro-panel;
// rows past n (mr < MR) are zeros. In steps of 16 k, as pack_w.
static void pack_x(float *restrict dst, const float *x, int64_t K, int64_t i0, int mr, int MR, int64_t k0,
                   int64_t kc) {
    for (int64_t kb = 0; kb < kc; kb += 16) {
        int64_t ke = kb + 16 < kc ? kb + 16 : kc;
        for (int r = 0; r < MR; r++) {
            const float *s = x + (i0 + r) * K + k0;
            for (int64_t k = kb; k < ke; k++) dst[k * MR + r] = r < mr ? s[k] : 0.0f;
        }
    }
}

// ---- the blocked loops ------------------------------------------------------------------

// This thread's weight rows [j0, j1): out[:, j0:j1] over every k block. scratch holds
// the packed weights (nc_max x KC) then one MR x KC token panel per token block and
// an MR x NR tile for the edges.
static void gemm_thread(const struct gemm_kernel_def *kd, float *scratch, size_t scratch_floats, float *out,
                        const float *x, const is_tensor *w, const float *bias, int n, int64_t j0, int64_t j1) {
    const int MR = kd->info.mr, NR = kd->info.nr, MC = kd->info.mc;
    const int64_t M = w->rows, K = w->cols;
    size_t xa_floats = (size_t)MC * GEMM_KC, tile_floats = (size_t)MR * NR;
    int64_t nc_max = (int64_t)((scratch_floats - xa_floats - tile_floats) / GEMM_KC);
    nc_max -= nc_max % NR;
    IS_ASSERT(nc_max >= NR);
    float *wp = scratch, *xp = scratch + (size_t)nc_max * GEMM_KC, *tile = xp + xa_floats;
    for (int64_t jc = j0; jc < j1; jc += nc_max) {
        int64_t nc = j1 - jc < nc_max ? j1 - jc : nc_max;
        for (int64_t pc = 0; pc < K; pc += GEMM_KC) {
            int64_t kc = K - pc < GEMM_KC ? K - pc : GEMM_KC;
            for (int64_t jr = 0; jr < nc; jr += NR) {
                int nr = nc - jr < NR ? (int)(nc - jr) : NR;
                pack_w(wp + jr * kc, w, jc + jr, nr, NR, pc, kc);
            }
            for (int64_t ic = 0; ic < n; ic += MC) {
                int64_t mc = n - ic < MC ? n - ic : MC;
                for (int64_t ir = 0; ir < mc; ir += MR) {
                    int mr = mc - ir < MR ? (int)(mc - ir) : MR;
                    pack_x(xp + ir * kc, x, K, ic + ir, mr, MR, pc, kc);
                }
                for (int64_t jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? (int)(nc - jr) : NR;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? (int)(mc - ir) : MR;
                        float *c = out + (ic + ir) * M + jc + jr;
                        if (mr == MR && nr == NR) {
                            kd->micro(kc, xp + ir * kc, wp + jr * kc, c, M, pc > 0);
                            continue;
                        }
                        // an edge tile: through a full-size tile of its own
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < nr; j++) tile[r * NR + j] = pc > 0 ? c[r * M + j] : 0.0f;
                        kd->micro(kc, xp + ir * kc, wp + jr * kc, tile, NR, 1);
                        for (int r = 0; r < mr; r++)
                            for (int j = 0; j < nr; j++) c[r * M + j] = tile[r * NR + j];
                    }
                }
            }
        }
    }
    if (bias)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = j0; j < j1; j++) out[i * M + j] += bias[j];
}

size_t cpu_gemm_scratch_floats(void) {
    // the largest kernel's token panel and edge tile, and at least 4 of its weight micro-panels
    return (size_t)96 * GEMM_KC + 12 * 32 + (size_t)4 * 32 * GEMM_KC;
}

void cpu_gemm(const cpu_backend *cb, cpu_gemm_kernel_id id, float *out, const float *x, const is_tensor *w,
              const float *bias, int n) {
    IS_ASSERT(cpu_gemm_kernel_usable(id));
    IS_ASSERT(cb->scratch_floats >= cpu_gemm_scratch_floats());
    const struct gemm_kernel_def *kd = &gemm_kernels[id];
    int64_t M = w->rows, NR = kd->info.nr;
    int nt = M * w->cols * n >= CPU_PAR_MIN ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), T = omp_get_num_threads();
        int64_t units = (M + NR - 1) / NR, j0 = units * tid / T * NR, j1 = units * (tid + 1) / T * NR;
        if (j1 > M) j1 = M;
        if (j0 < j1)
            gemm_thread(kd, cb->scratch + (size_t)tid * cb->scratch_floats, cb->scratch_floats, out, x, w, bias, n,
                        j0, j1);
    }
}
