// cpu_quant.c — quantized weight matrices (Q8_0, Q4_0, INT8; layouts in base/quant.h)
// on the CPU: the F16 scale table, dequantization of row ranges (the packed GEMM's
// panels, the sgemm scratch, embed) and the GEMV tiles that dequantize in registers.
//
// The GEMV (decode) is what quantization is for: it is memory-bound, and a Q8_0 or
// INT8 weight is ~1 byte, a Q4_0 weight ~0.56, against 2 for BF16. Each weight is
// read once per call and turned into F32 in registers (int8, or a nibble minus 8, as
// an int32 converted), never written to memory. Per block of 32 the products q * x
// are summed into t, and the block's scale joins once: acc += t * d. INT8 has one
// scale per row, applied to the row's sum at the end. So a Q8_0/Q4_0 output is
// sum_b d_b * (sum_j q_bj x_bj) in F32, an INT8 one s * sum_k q_k x_k: the dot product
// of x and the dequantized row up to F32 rounding (d * q is exact in F32: an 11-bit
// scale times a 4- or 8-bit integer).
//
// Per (weight row, input row) the operations are the same whatever tile computes it
// (how many rows share the tile), so an output does not depend on the batch beside it
// or on the thread count.
//
// Measured (n = 1, 2 threads of a 2-vCPU AMD EPYC, Zen 3, on TinyLlama's projections,
// weights streamed from memory; the machine shared, best of 15 calls): BF16 25-33 GB/s
// of weights; Q8_0 and INT8 27-35 GB/s, 1.7-2.5x BF16's weights per second; Q4_0
// 16 GB/s, 1.8-2.4x, bound by the vector instructions per weight (8-lane tiles below).
#include "kernels/cpu/cpu_internal.h" // defines: v16f, cpu_quant_* declarations

#include <pthread.h>
#include <stdlib.h>

#include "base/quant.h" // defines: is_block_q8_0, is_block_q4_0, IS_QK

// ---- F16 scales ---------------------------------------------------------------------
// A table of all 65536 F16 values as F32 (256 KiB), built once from is_f16_to_f32, so it
// is that conversion bit for bit. A matrix's scales span a few binades: the GEMV reads
// a few KiB of it, which stay in L1.
float cpu_f16_table[65536];
static pthread_once_t f16_once = PTHREAD_ONCE_INIT;

static void f16_table_build(void) {
    for (uint32_t h = 0; h < 65536; h++) cpu_f16_table[h] = is_f16_to_f32((uint16_t)h);
}

void cpu_quant_init(void) { pthread_once(&f16_once, f16_table_build); }

CPU_INLINE float q_scale(const void *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return cpu_f16_table[h];
}

// ---- a block's bytes in 8-lane vectors ---------------------------------------------------
// GCC 12 widens a vector of bytes to ints one byte at a time (it finds vpmovsxbd only for
// the low half of a 16-byte vector loaded from memory), so the bytes are taken apart on
// int32 lanes instead: 32 bytes of a block as 8 lanes, and slice c (c < 4) holds byte c
// of every lane, so slice c lane l is element 4l + c of the block. A Q4_0 block's 16
// bytes are loaded into both halves of the 8 lanes; lanes 0-3 take a byte's low nibble
// (element 4l + c < 16), lanes 4-7 its high one (element 16 + 4(l - 4) + c = 4l + c): the
// same permutation. Its nibbles are XORed with 8 first, so that a nibble read as a
// signed 4-bit number is q - 8.
//
// A slice keeps its byte (nibble) in the top bits of the lane, zeros below: shifted up
// and masked, never shifted down, so it is q * 2^24 (Q4_0: (q - 8) * 2^28) as an int32,
// converted to F32 exactly. Masks run on any of Zen 3's four vector pipes, shifts on
// two: this halves the shifts of sign-extending each byte with a shift pair. A product
// with a slice is 2^24 (2^28) times the product with q itself, scaled back once at the
// end: multiplying by a power of two changes no rounding while the values stay normal
// F32 (the scaled sums overflow only for |x| near 2^60).
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef uint32_t v8u __attribute__((vector_size(32)));
typedef uint32_t v8u_u __attribute__((vector_size(32), aligned(1)));
typedef uint32_t v4u_u __attribute__((vector_size(16), aligned(1)));
#define QT_SCALE8 0x1p-24f // 1 / the factor of the Q8_0 and INT8 slices
#define QT_SCALE4 0x1p-28f // of the Q4_0 slices

CPU_INLINE v8f q_load8(const float *p) { return *(const v8f_u *)p; }
CPU_INLINE float q_sum8(const v8f *pv) {
    v8f v = *pv;
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 2, 3, 0, 1);
    return v[0] + v[1];
}
// Slices of 32 int8 (Q8_0, INT8): s[c] lane l = p[4l + c] * 2^24.
CPU_INLINE void q_slices_i8(const void *p, v8f s[4]) {
    v8u v = *(const v8u_u *)p;
    const v8u m = (v8u){0} + 0xff000000u;
    s[0] = __builtin_convertvector((v8i)(v << 24), v8f);
    s[1] = __builtin_convertvector((v8i)((v << 16) & m), v8f);
    s[2] = __builtin_convertvector((v8i)((v << 8) & m), v8f);
    s[3] = __builtin_convertvector((v8i)(v & m), v8f);
}
// Slices of a Q4_0 block's 16 bytes: s[c] lane l = (q[4l + c] - 8) * 2^28.
CPU_INLINE void q_slices_q4(const uint8_t *qs, v8f s[4]) {
    const v4u_u *h = (const v4u_u *)qs; // element by element: GCC then loads it with vbroadcasti128
    v8u v = (v8u){(*h)[0], (*h)[1], (*h)[2], (*h)[3], (*h)[0], (*h)[1], (*h)[2], (*h)[3]} ^ 0x88888888u;
    const v8u m = (v8u){0} + 0xf0000000u;
    s[0] = __builtin_convertvector((v8i)((v << (v8u){28, 28, 28, 28, 24, 24, 24, 24}) & m), v8f);
    s[1] = __builtin_convertvector((v8i)((v << (v8u){20, 20, 20, 20, 16, 16, 16, 16}) & m), v8f);
    s[2] = __builtin_convertvector((v8i)((v << (v8u){12, 12, 12, 12, 8, 8, 8, 8}) & m), v8f);
    s[3] = __builtin_convertvector((v8i)((v << (v8u){4, 4, 4, 4, 0, 0, 0, 0}) & m), v8f);
}

// ---- dequantizing row ranges ----------------------------------------------------------

const void *cpu_qrow(const is_tensor *w, int64_t r) {
    return (const char *)w->data + (size_t)r * is_dtype_row_bytes(w->dtype, w->cols);
}

// dst[0, kn) = elements [k0, k0 + kn) of one row; for Q8_0 and Q4_0 k0 and kn are
// multiples of 32. The products are those of is_dequantize_row (d * q exact, s * q one
// rounding), so the values are its own bit for bit.
CPU_CLONES void cpu_dequant_range(is_dtype t, const void *restrict row, int64_t k0, int64_t kn, float *restrict dst) {
    if (t == IS_DTYPE_I8) {
        float s;
        memcpy(&s, row, 4);
        const int8_t *q = (const int8_t *)row + 4 + k0;
        for (int64_t k = 0; k < kn; k++) dst[k] = s * (float)q[k];
        return;
    }
    IS_ASSERT(k0 % IS_QK == 0 && kn % IS_QK == 0);
    for (int64_t b = 0; b < kn / IS_QK; b++) {
        float *y = dst + b * IS_QK;
        if (t == IS_DTYPE_Q8_0) {
            const is_block_q8_0 *blk = (const is_block_q8_0 *)row + k0 / IS_QK + b;
            float d = q_scale(&blk->d);
            for (int j = 0; j < IS_QK; j++) y[j] = d * (float)blk->q[j];
        } else {
            IS_ASSERT(t == IS_DTYPE_Q4_0);
            const is_block_q4_0 *blk = (const is_block_q4_0 *)row + k0 / IS_QK + b;
            float d = q_scale(&blk->d);
            // the block's slices, times d 2^-28 (exact: a power of two times an F16), put
            // back in element order: slice c lane l is element 4l + c, a 4 x 8 transpose
            // (GCC vectorizes the plain loop poorly: 0.6-0.8 ns a weight, this 0.1)
            v8f sl[4];
            q_slices_q4(blk->qs, sl);
            float ds = d * QT_SCALE4;
            for (int c = 0; c < 4; c++) sl[c] *= ds;
            v8f a = __builtin_shufflevector(sl[0], sl[1], 0, 8, 1, 9, 4, 12, 5, 13);   // e0 e1 e4 e5 | e16 e17 e20 e21
            v8f b2 = __builtin_shufflevector(sl[2], sl[3], 0, 8, 1, 9, 4, 12, 5, 13);  // e2 e3 e6 e7 | e18 ...
            v8f c2 = __builtin_shufflevector(sl[0], sl[1], 2, 10, 3, 11, 6, 14, 7, 15); // e8 e9 e12 e13 | e24 ...
            v8f d2 = __builtin_shufflevector(sl[2], sl[3], 2, 10, 3, 11, 6, 14, 7, 15); // e10 e11 e14 e15 | e26 ...
            v8f p0 = __builtin_shufflevector(a, b2, 0, 1, 8, 9, 4, 5, 12, 13);          // e0-e3 | e16-e19
            v8f p1 = __builtin_shufflevector(a, b2, 2, 3, 10, 11, 6, 7, 14, 15);        // e4-e7 | e20-e23
            v8f p2 = __builtin_shufflevector(c2, d2, 0, 1, 8, 9, 4, 5, 12, 13);         // e8-e11 | e24-e27
            v8f p3 = __builtin_shufflevector(c2, d2, 2, 3, 10, 11, 6, 7, 14, 15);       // e12-e15 | e28-e31
            *(v8f_u *)y = __builtin_shufflevector(p0, p1, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8f_u *)(y + 8) = __builtin_shufflevector(p2, p3, 0, 1, 2, 3, 8, 9, 10, 11);
            *(v8f_u *)(y + 16) = __builtin_shufflevector(p0, p1, 4, 5, 6, 7, 12, 13, 14, 15);
            *(v8f_u *)(y + 24) = __builtin_shufflevector(p2, p3, 4, 5, 6, 7, 12, 13, 14, 15);
        }
    }
}

// ---- GEMV tiles ----------------------------------------------------------------------
// Two kinds, as for BF16 in cpu_matmul.c: 8-lane tiles for CPUs with AVX2 and FMA
// (those with AVX-512 too: the byte slicing above gains nothing from 16 lanes, where a
// block fills half a vector), and 16-lane tiles for the rest.
//
// Per block and (weight row, input row) both compute t = the sum of the block's 32
// products q x, then acc += t * d (INT8: acc += q x, the row's scale once at the end);
// each kind in its own fixed order, whatever the tile's shape.

// Prefetches this tile's share of the rows after it (the next tile's, which follow
// this tile's in memory) while block b of nb is read: NR rows of rb bytes spread over
// nb blocks, so the next tile's rows are in L2 when it starts. The hardware prefetcher
// alone falls behind on rows of 1-6 KiB: each is a new stream to detect (measured:
// Q8_0 at n = 1 ran at 15-19 GB/s without this, 28-31 with it).
CPU_INLINE void qt_prefetch(const char *next, size_t rows_bytes, int64_t nb, int64_t b) {
    if (!next) return;
    size_t step = rows_bytes / (size_t)nb;
    for (size_t o = (size_t)b * step & ~(size_t)63; o < (size_t)(b + 1) * step; o += 64)
        __builtin_prefetch(next + o, 0, 2); // read, into L2 (L1 keeps x)
}
// The rows after a tile of NR rows at j, when they are as many (NULL at the end).
CPU_INLINE const char *qt_next(const char *w, size_t rb, int64_t j, int NR, int64_t M, int64_t nb) {
    return nb > 0 && j + 2 * NR <= M ? w + (size_t)(j + NR) * rb : NULL;
}

// ---- 16-lane tiles (CPUs without AVX2) ----------------------------------------------------
// Block b of a row as 32 floats: q (Q8_0, INT8) or q - 8 (Q4_0), its scale apart. A plain
// loop: GCC 12 widens int8 vectors with __builtin_convertvector one byte at a time, but
// vectorizes this.
CPU_INLINE void q_block_f32(int DT, const char *row, int64_t b, float *restrict qf) {
    if (DT == IS_DTYPE_Q4_0) {
        const is_block_q4_0 *blk = (const is_block_q4_0 *)row + b;
        for (int j = 0; j < IS_QK / 2; j++) qf[j] = (float)((blk->qs[j] & 15) - 8);
        for (int j = 0; j < IS_QK / 2; j++) qf[j + IS_QK / 2] = (float)((blk->qs[j] >> 4) - 8);
        return;
    }
    const int8_t *q = DT == IS_DTYPE_Q8_0 ? ((const is_block_q8_0 *)row + b)->q : (const int8_t *)row + 4 + b * IS_QK;
    for (int j = 0; j < IS_QK; j++) qf[j] = (float)q[j];
}

// out[i + a][j + r] = x[i + a] . deq(w[j + r]) (+ bias[j + r]) for r < NR, a < NX; DT, NR,
// NX constants after inlining. rb: bytes per weight row. A block: t = q[0:16] x[0:16];
// t += q[16:32] x[16:32]; acc += t * d (INT8: acc += q x over 32 columns, then the
// scalar tail, times s at the end).
CPU_INLINE void qt_tile16(const char *w, size_t rb, int DT, int64_t K, int64_t j, const float *x, int64_t i,
                          float *out, int64_t M, const float *bias, int NR, int NX) {
    v16f acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) acc[r][a] = (v16f){0};
    const float *xr = x + i * K;
    int64_t nb = K / IS_QK;
    const char *next = qt_next(w, rb, j, NR, M, nb);
    for (int64_t b = 0; b < nb; b++) {
        qt_prefetch(next, (size_t)NR * rb, nb, b);
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const char *row = w + (size_t)(j + r) * rb;
            float qf[IS_QK] __attribute__((aligned(64)));
            q_block_f32(DT, row, b, qf);
            v16f q0 = v16f_load(qf), q1 = v16f_load(qf + 16);
            float d = DT == IS_DTYPE_I8 ? 1.0f : q_scale(row + (size_t)b * (DT == IS_DTYPE_Q8_0 ? 34 : 18));
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                const float *xk = xr + a * K + b * IS_QK;
                if (DT == IS_DTYPE_I8) {
                    acc[r][a] += q0 * v16f_load(xk);
                    acc[r][a] += q1 * v16f_load(xk + 16);
                } else {
                    v16f t = q0 * v16f_load(xk);
                    t += q1 * v16f_load(xk + 16);
                    acc[r][a] += t * d;
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
        const char *row = w + (size_t)(j + r) * rb;
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            float s = v16f_sum(&acc[r][a]);
            if (DT == IS_DTYPE_I8) {
                const int8_t *q = (const int8_t *)row + 4;
                for (int64_t k = nb * IS_QK; k < K; k++) s += (float)q[k] * xr[a * K + k];
                float sc;
                memcpy(&sc, row, 4);
                s *= sc;
            }
            out[(i + a) * M + j + r] = s + (bias ? bias[j + r] : 0.0f);
        }
    }
}

// ---- 8-lane tiles (AVX2) ------------------------------------------------------------------
// As in cpu_matmul.c: where AVX2 is the widest unit a 16-lane vector is two registers
// and GCC keeps arrays of them in memory, so these tiles hold 8-lane vectors: a block's
// slices (above). x is permuted to match them once per call (qt_permute_x), so the
// products pair up without a shuffle.
//
// Per block and (weight row, input row): t0 = s0 xp[0:8]; t0 += s1 xp[8:16]; t1 = s2
// xp[16:24]; t1 += s3 xp[24:32]; acc += (t0 + t1) * d (two chains: the products of a
// block are not all serial). INT8: acc += s_c xp[8c:8c+8] for c in order. The row's sum
// times 2^-24 (2^-28) at the end.
//
// Costs per 32 weights (Zen 3): Q8_0 and INT8 3 shifts, 3 masks, 4 conversions, 5-6
// multiply-adds; Q4_0 a XOR, 4 shifts, 4 masks, 4 conversions, 6 multiply-adds, and the
// scale's broadcast: 7-8 cycles measured, so a core turns 12-14 G Q4_0 weights/s into
// products (7-8 GB/s), about half of its share of the memory bandwidth (15-17 GB/s);
// Q8_0 and INT8 (14-16 G weights/s a core, 15-16 GB/s) keep up with memory. Measured
// with the weights in L2; with K = 5632 ~15% less: x (22 KiB) no longer stays in L1
// beside the weights streaming through (taking the columns in ranges of 2048, each
// through all the rows, kept it there but gained nothing measurable with the weights
// coming from memory).

// xp[i][8c + l] = x[i][32b + 4l + c] within each whole block b of 32 columns: rows rows of
// K columns (stride K) to rows of K32 = K / 32 * 32 (stride K32).
static void qt_permute_x(float *restrict xp, const float *restrict x, int64_t K, int64_t K32, int64_t rows) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t b = 0; b < K32; b += 32)
            for (int c = 0; c < 4; c++)
                for (int l = 0; l < 8; l++) xp[i * K32 + b + 8 * c + l] = x[i * K + b + 4 * l + c];
}

// out[i + a][j + r] for r < NR, a < NX as qt_tile16, from xp (x permuted, rows of K32
// from input row ic on; x itself for INT8's columns past K32).
CPU_INLINE void qt_tile8(const char *w, size_t rb, int DT, int64_t K, int64_t j, const float *x, const float *xp,
                         int64_t ic, int64_t i, float *out, int64_t M, const float *bias, int NR, int NX) {
    v8f acc[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++)
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) acc[r][a] = (v8f){0};
    int64_t nb = K / IS_QK, K32 = nb * IS_QK;
    const float *xpr = xp + (i - ic) * K32;
    const char *next = qt_next(w, rb, j, NR, M, nb);
    for (int64_t b = 0; b < nb; b++) {
        qt_prefetch(next, (size_t)NR * rb, nb, b);
#pragma GCC unroll 4
        for (int r = 0; r < NR; r++) {
            const char *row = w + (size_t)(j + r) * rb;
            v8f s[4];
            float d = 1.0f;
            if (DT == IS_DTYPE_Q8_0) {
                const is_block_q8_0 *blk = (const is_block_q8_0 *)row + b;
                d = q_scale(&blk->d);
                q_slices_i8(blk->q, s);
            } else if (DT == IS_DTYPE_Q4_0) {
                const is_block_q4_0 *blk = (const is_block_q4_0 *)row + b;
                d = q_scale(&blk->d);
                q_slices_q4(blk->qs, s);
            } else {
                q_slices_i8(row + 4 + b * IS_QK, s);
            }
#pragma GCC unroll 4
            for (int a = 0; a < NX; a++) {
                const float *xk = xpr + a * K32 + b * IS_QK;
                if (DT == IS_DTYPE_I8) {
#pragma GCC unroll 4
                    for (int c = 0; c < 4; c++) acc[r][a] += s[c] * q_load8(xk + 8 * c);
                } else {
                    v8f t0 = s[0] * q_load8(xk), t1 = s[2] * q_load8(xk + 16);
                    t0 += s[1] * q_load8(xk + 8);
                    t1 += s[3] * q_load8(xk + 24);
                    acc[r][a] += (t0 + t1) * d;
                }
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < NR; r++) {
        const char *row = w + (size_t)(j + r) * rb;
#pragma GCC unroll 4
        for (int a = 0; a < NX; a++) {
            float s = q_sum8(&acc[r][a]) * (DT == IS_DTYPE_Q4_0 ? QT_SCALE4 : QT_SCALE8);
            if (DT == IS_DTYPE_I8) {
                const int8_t *q = (const int8_t *)row + 4;
                const float *xr = x + (i + a) * K;
                for (int64_t k = K32; k < K; k++) s += (float)q[k] * xr[k];
                float sc;
                memcpy(&sc, row, 4);
                s *= sc;
            }
            out[(i + a) * M + j + r] = s + (bias ? bias[j + r] : 0.0f);
        }
    }
}

// Input rows [i0, i1) against weight rows [j0, j1) with tile TILE (its leading arguments
// given, then j, i, NR, NX): one input row: tiles of 4 weight rows (4 streams of
// weights, 4 independent sums); more: tiles of 2 weight rows x up to 4 input rows, each
// block dequantized once for all of them. Weight rows outer, so a row group is read
// from memory once.
#define QT_BLOCK(TILE, ...)                                                                                  \
    do {                                                                                                     \
        int64_t j = j0;                                                                                      \
        if (i1 - i0 == 1) {                                                                                  \
            for (; j + 4 <= j1; j += 4) TILE(__VA_ARGS__, j, i0, 4, 1);                                       \
        } else {                                                                                             \
            for (; j + 2 <= j1; j += 2) {                                                                    \
                int64_t i = i0;                                                                              \
                for (; i + 4 <= i1; i += 4) TILE(__VA_ARGS__, j, i, 2, 4);                                    \
                switch (i1 - i) {                                                                            \
                case 3: TILE(__VA_ARGS__, j, i, 2, 3); break;                                                 \
                case 2: TILE(__VA_ARGS__, j, i, 2, 2); break;                                                 \
                case 1: TILE(__VA_ARGS__, j, i, 2, 1); break;                                                 \
                default: break;                                                                              \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
        for (; j < j1; j++) {                                                                                \
            int64_t i = i0;                                                                                  \
            for (; i + 4 <= i1; i += 4) TILE(__VA_ARGS__, j, i, 1, 4);                                        \
            switch (i1 - i) {                                                                                \
            case 3: TILE(__VA_ARGS__, j, i, 1, 3); break;                                                     \
            case 2: TILE(__VA_ARGS__, j, i, 1, 2); break;                                                     \
            case 1: TILE(__VA_ARGS__, j, i, 1, 1); break;                                                     \
            default: break;                                                                                  \
            }                                                                                                \
        }                                                                                                    \
    } while (0)

// The tiles with their arguments in QT_BLOCK's order.
#define QT_T16(w, rb, DT, K, x, out, M, bias, j, i, NR, NX) qt_tile16(w, rb, DT, K, j, x, i, out, M, bias, NR, NX)
#define QT_T8(w, rb, DT, K, x, xp, ic, out, M, bias, j, i, NR, NX) \
    qt_tile8(w, rb, DT, K, j, x, xp, ic, i, out, M, bias, NR, NX)

// One function per dtype and kind, so DT is a constant in each body.
#define QT_FN16(name, DTV)                                                                                   \
    CPU_CLONES static void name(const char *w, size_t rb, int64_t K, const float *x, int64_t i0, int64_t i1, \
                                float *out, int64_t M, const float *bias, int64_t j0, int64_t j1) {         \
        QT_BLOCK(QT_T16, w, rb, DTV, K, x, out, M, bias);                                                    \
    }
#define QT_FN8(name, DTV)                                                                                    \
    __attribute__((target("arch=x86-64-v3"))) static void name(                                             \
        const char *w, size_t rb, int64_t K, const float *x, const float *xp, int64_t ic, int64_t i0,        \
        int64_t i1, float *out, int64_t M, const float *bias, int64_t j0, int64_t j1) {                     \
        QT_BLOCK(QT_T8, w, rb, DTV, K, x, xp, ic, out, M, bias);                                             \
    }
QT_FN16(qt_block16_q8, IS_DTYPE_Q8_0)
QT_FN16(qt_block16_q4, IS_DTYPE_Q4_0)
QT_FN16(qt_block16_i8, IS_DTYPE_I8)
QT_FN8(qt_block8_q8, IS_DTYPE_Q8_0)
QT_FN8(qt_block8_q4, IS_DTYPE_Q4_0)
QT_FN8(qt_block8_i8, IS_DTYPE_I8)

void cpu_gemv_quant(const is_tensor *w, bool avx2, float *scratch, size_t scratch_floats, const float *x,
                    int64_t i0, int64_t i1, float *out, const float *bias, int64_t j0, int64_t j1) {
    size_t rb = is_dtype_row_bytes(w->dtype, w->cols);
    const char *wd = w->data;
    int64_t K = w->cols, M = w->rows;
    if (!avx2) {
        switch (w->dtype) {
        case IS_DTYPE_Q8_0: qt_block16_q8(wd, rb, K, x, i0, i1, out, M, bias, j0, j1); break;
        case IS_DTYPE_Q4_0: qt_block16_q4(wd, rb, K, x, i0, i1, out, M, bias, j0, j1); break;
        default: qt_block16_i8(wd, rb, K, x, i0, i1, out, M, bias, j0, j1); break;
        }
        return;
    }
    // x permuted into this thread's scratch, as many input rows at a time as fit
    int64_t K32 = K / IS_QK * IS_QK;
    int64_t fit = K32 ? (int64_t)(scratch_floats / (size_t)K32) : i1 - i0;
    float *xp = scratch, *own = NULL;
    if (fit < 1) { // a row longer than the scratch (no model has one)
        xp = own = is_xmalloc((size_t)K32 * sizeof(float));
        fit = 1;
    }
    for (int64_t ic = i0; ic < i1; ic += fit) {
        int64_t ie = i1 - ic < fit ? i1 : ic + fit;
        qt_permute_x(xp, x + ic * K, K, K32, ie - ic);
        switch (w->dtype) {
        case IS_DTYPE_Q8_0: qt_block8_q8(wd, rb, K, x, xp, ic, ic, ie, out, M, bias, j0, j1); break;
        case IS_DTYPE_Q4_0: qt_block8_q4(wd, rb, K, x, xp, ic, ic, ie, out, M, bias, j0, j1); break;
        default: qt_block8_i8(wd, rb, K, x, xp, ic, ic, ie, out, M, bias, j0, j1); break;
        }
    }
    free(own);
}
