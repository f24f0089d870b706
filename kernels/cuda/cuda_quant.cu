// cuda_quant.cu — quantized weight matrices on the device (Q8_0, Q4_0, INT8; layouts
// in base/quant.h): the device quantizer (fills of quantized tensors), dequantization
// (downloads, embed), and the matmul with quantized weights.
//
// A quantized tensor is rows x is_dtype_row_bytes(dtype, cols) bytes, row after row.
// Q8_0 blocks are 34 bytes and Q4_0 blocks 18, so a block (and its F16 scale) is only
// 2-byte aligned, and an INT8 row (an F32 scale, then cols int8) starts at any byte.
//
// Quantizer (fills): reproduces is_quantize_row bit for bit. Every float operation
// of base/quant.c is one IEEE single operation rounded to nearest; here each is
// written as PTX without .ftz (mul.rn, add.rn, div.rn: -ftz=true or --use_fast_math
// would otherwise flush subnormals even in the __f*_rn intrinsics), |x| and the
// maximum are taken on the bits (a non-negative float orders as its bits), roundf is
// CUDA's (exact, halfway away from zero) and the F16 scale is rounded by
// is_f32_to_f16 itself (base/dtype.h: one definition for host and device). The first quantized tensor the backend allocates runs a check of
// these kernels against base/quant.c on hard cases (cuda_quant_prepare), so a build
// that breaks this is refused with a message rather than producing other bytes.
//   Q8_0, Q4_0  a warp per block of 32: lane j holds element j; the block's max |x|
//               by __reduce_max_sync on the bits (Q4_0: the first lane holding it, by
//               ballot); lane j writes q[j] (Q4_0: lanes j < 16 pack q[j] | q[j+16] << 4).
//   INT8        a block of 256 threads per row: max |x| over the row, then q.
// A fill computes each element where it is quantized (std * normal(seed, stream,
// r * cols + k) rounded to BF16, as cuda_fill.cu's BF16 fill computes it): no scratch
// and no host copy at all.
//
// Dequantization: element k of a row is d * q exactly as is_dequantize_row computes it
// (one thread per element; d loaded by the 32 threads of its block from one address).
//
// Matmul, out[n, M] = x[n, K] . dequant(w)^T + bias, x and out F32, fp32 accumulation:
// - n <= IS_CUDA_GEMV_MAX_N (decode), and every row under batch_invariant, in groups of
//   IS_CUDA_GEMV_MAX_N: qgemv_kernel. A block of 4 warps; a warp computes R (1, 2, 4)
//   consecutive output rows for all n activation rows, planned by is_cuda_plan_qgemv
//   (split-K over column slices when the rows alone leave the device under-filled;
//   partials summed in slice order by cuda_gemv_reduce: no atomics). K is walked in
//   tiles of QG_KT = 512 columns: the block stages x (F32, not rounded) in shared
//   memory, and each warp stages the bytes of its R rows' tile in its own shared
//   buffer with 16-byte loads (the bytes before the first 16-byte boundary and after
//   the last one with byte loads; the buffer keeps the source's offset modulo 16, so
//   the 16-byte stores are aligned too). The loads of the next tile are issued into
//   registers before the current tile is computed. Lane l then takes columns 4l + 128s
//   (s < 4): it dequantizes those 4 weights of each row in registers (2-byte reads of
//   the staged block) and multiplies them with x read as float4 (conflict-free), fmaf
//   into per-lane sums, then a warp-shuffle sum per (output row, activation row).
//   Each weight byte is read from memory once for all n rows.
// - more rows (prefill): chunks of weight rows dequantized to BF16 in a scratch of at
//   most CUDA_DEQ_BYTES (reserved by tensor_alloc, so a graph recording never
//   allocates), each chunk multiplied by cuBLAS (BF16 x BF16 -> F32, x rounded to BF16
//   once, as the BF16 path does). Not a fused kernel: cuBLAS's tensor-core GEMM is
//   what the BF16 path already trusts, and the extra pass (reading 1.06 / 0.56 bytes
//   and writing 2 per weight) is small next to the GEMM at prefill sizes; a fused
//   dequantizing GEMM is the next step if profiles show the pass. The BF16 rounding of
//   d * q adds a relative error up to 2^-9 per Q8_0 / Q4_0 weight (the rounding a BF16
//   model's weights carry); INT8 loses nothing: its q (|q| <= 127) is exact in BF16 and
//   the row's scale is applied to the product (out = s_m * (x . q_m) + bias).
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_LAUNCHED, cuda_gemv_reduce, is_quantize_row

extern "C" {
#include "base/rng.h" // defines: is_rng_normal_pair (host and device)
}

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUANT_THREADS 256 // quantizer and dequantizer blocks
#define Q8_BYTES 34       // sizeof(is_block_q8_0)
#define Q4_BYTES 18       // sizeof(is_block_q4_0)
static_assert(IS_QK == 32, "a block is one warp");

// ---- exact float operations (immune to -ftz=true and --use_fast_math) ----------------

__device__ __forceinline__ float q_mul(float a, float b) {
    float r;
    asm("mul.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
__device__ __forceinline__ float q_add(float a, float b) {
    float r;
    asm("add.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
__device__ __forceinline__ float q_div(float a, float b) {
    float r;
    asm("div.rn.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
    return r;
}
// |x| as bits, NaN as 0: base/quant.c's fmaxf(amax, fabsf(x)) from amax = 0 never takes a
// NaN, and the maximum of non-negative floats is the maximum of their bits.
__device__ __forceinline__ uint32_t abs_bits(float x) {
    uint32_t u = __float_as_uint(x) & 0x7fffffffu;
    return u > 0x7f800000u ? 0u : u;
}
// d != 0.0f without a flushing compare (a subnormal d is not zero)
__device__ __forceinline__ bool q_nonzero(float d) { return (__float_as_uint(d) & 0x7fffffffu) != 0; }

// F16 bits to F32: exact (F16 subnormals are F32 normals).
__device__ __forceinline__ float f16_value(uint16_t h) { return __half2float(__ushort_as_half(h)); }

// The F32 at p (any alignment), little-endian as on the host.
__device__ __forceinline__ float load_f32_bytes(const uint8_t *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return __uint_as_float(u);
}

// base/quant.c's q of Q8_0 and INT8: roundf(x * id), clamped to [-127, 127], NaN to 0.
__device__ __forceinline__ int q8_of(float x, float id) {
    float v = roundf(q_mul(x, id));
    return v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)v : 0;
}

// ---- the values a quantizer takes: element (r, k) ------------------------------------

// The BF16 fill's value of element r * cols + k (cuda_fill.cu: std * normal, rounded to BF16).
struct src_normal {
    uint64_t seed, stream;
    float std;
    int64_t cols;
    __device__ __forceinline__ float operator()(int64_t r, int64_t k) const {
        uint64_t i = (uint64_t)(r * cols + k);
        float v[2];
        is_rng_normal_pair(seed, stream, i >> 1, v);
        return __bfloat162float(__float2bfloat16_rn(((i & 1) ? v[1] : v[0]) * std));
    }
};

struct src_const {
    float v; // already rounded to BF16
    __device__ __forceinline__ float operator()(int64_t, int64_t) const { return v; }
};

// F32 rows in device memory (the self-check).
struct src_mem {
    const float *p;
    int64_t ld;
    __device__ __forceinline__ float operator()(int64_t r, int64_t k) const { return p[r * ld + k]; }
};

// ---- quantizer kernels -----------------------------------------------------------------

// Q8_0 / Q4_0: warp w (grid-stride) quantizes block b of the tensor: row b / nbr, block
// b % nbr of that row. Lane j holds element j of the block. The loop is warp-uniform.
// Writes: bytes [2, 34) (Q8_0) or [2, 18) (Q4_0) of the block, one per lane (Q4_0:
// lanes < 16), and the F16 scale at the block's start (2-byte aligned: rows and blocks
// have even sizes, the base is checked even by the launcher).
template <int DT, typename Src>
__global__ void __launch_bounds__(QUANT_THREADS)
quant_blocks_kernel(uint8_t *dst, size_t row_bytes, int64_t rows, int64_t cols, Src src) {
    const int lane = threadIdx.x % 32;
    const int64_t nbr = cols / IS_QK, total = rows * nbr;
    const int64_t n_warps = (int64_t)gridDim.x * (QUANT_THREADS / 32);
    for (int64_t b = (int64_t)blockIdx.x * (QUANT_THREADS / 32) + threadIdx.x / 32; b < total; b += n_warps) {
        const int64_t r = b / nbr, kb = b % nbr;
        const float x = src(r, kb * IS_QK + lane);
        const uint32_t key = abs_bits(x);
        const uint32_t kmax = __reduce_max_sync(0xffffffffu, key);
        if (DT == IS_DTYPE_Q8_0) {
            uint8_t *blk = dst + (size_t)r * row_bytes + (size_t)kb * Q8_BYTES;
            const float d = q_div(__uint_as_float(kmax), 127.0f);
            const float id = q_nonzero(d) ? q_div(1.0f, d) : 0.0f;
            blk[2 + lane] = (uint8_t)(int8_t)q8_of(x, id);
            if (lane == 0) *(uint16_t *)blk = is_f32_to_f16(d);
        } else {
            uint8_t *blk = dst + (size_t)r * row_bytes + (size_t)kb * Q4_BYTES;
            // m: the x of largest |x| > 0, the first such (base/quant.c: a strict > from
            // amax = 0); 0 when no |x| > 0
            const unsigned first = __ballot_sync(0xffffffffu, key == kmax);
            float m = __shfl_sync(0xffffffffu, x, __ffs(first) - 1);
            if (kmax == 0) m = 0.0f;
            const float d = q_div(m, -8.0f);
            const float id = q_nonzero(d) ? q_div(1.0f, d) : 0.0f;
            const float v = q_add(q_mul(x, id), 8.5f);
            const int q = v >= 15.0f ? 15 : v > 0.0f ? (int)v : 0;
            const int q_hi = __shfl_down_sync(0xffffffffu, q, 16); // element j + 16 (lanes < 16)
            if (lane < IS_QK / 2) blk[2 + lane] = (uint8_t)(q | (q_hi << 4));
            if (lane == 0) *(uint16_t *)blk = is_f32_to_f16(d);
        }
    }
}

// INT8: block b (grid-stride, block-uniform) quantizes row r: the F32 scale s = max|x| / 127
// at bytes [0, 4) (byte stores: a row starts at any byte), q at [4, 4 + cols).
template <typename Src>
__global__ void __launch_bounds__(QUANT_THREADS)
quant_i8_kernel(uint8_t *dst, size_t row_bytes, int64_t rows, int64_t cols, Src src) {
    __shared__ uint32_t part[QUANT_THREADS / 32];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        uint32_t m = 0;
        for (int64_t k = threadIdx.x; k < cols; k += QUANT_THREADS) m = max(m, abs_bits(src(r, k)));
        m = __reduce_max_sync(0xffffffffu, m);
        __syncthreads(); // part[] of the previous row has been read
        if (lane == 0) part[warp] = m;
        __syncthreads();
        m = 0;
        for (int w = 0; w < QUANT_THREADS / 32; w++) m = max(m, part[w]);
        const float d = q_div(__uint_as_float(m), 127.0f);
        const float id = q_nonzero(d) ? q_div(1.0f, d) : 0.0f;
        uint8_t *row = dst + (size_t)r * row_bytes;
        for (int64_t k = threadIdx.x; k < cols; k += QUANT_THREADS) row[4 + k] = (uint8_t)(int8_t)q8_of(src(r, k), id);
        if (threadIdx.x == 0) {
            const uint32_t u = __float_as_uint(d);
            row[0] = (uint8_t)u;
            row[1] = (uint8_t)(u >> 8);
            row[2] = (uint8_t)(u >> 16);
            row[3] = (uint8_t)(u >> 24);
        }
    }
}

// Quantizes every row of t (device memory) from src.
template <typename Src>
static void quantize_launch(cuda_backend *cb, is_tensor *t, const Src &src, const char *what) {
    if (cb->failed || t->rows == 0 || t->cols == 0) return;
    IS_ASSERT(is_dtype_quantized(t->dtype) && cuda_row_bytes(t) > 0 && (uintptr_t)t->data % 2 == 0);
    uint8_t *dst = (uint8_t *)t->data;
    size_t rb = cuda_row_bytes(t);
    if (t->dtype == IS_DTYPE_I8) {
        unsigned grid = t->rows < 65535 * 16 ? (unsigned)t->rows : 65535u * 16u;
        quant_i8_kernel<Src><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, rb, t->rows, t->cols, src);
    } else {
        int64_t blocks = t->rows * (t->cols / IS_QK);
        unsigned grid = cuda_grid(blocks, QUANT_THREADS / 32); // a warp per block
        if (t->dtype == IS_DTYPE_Q8_0)
            quant_blocks_kernel<IS_DTYPE_Q8_0, Src><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, rb, t->rows, t->cols,
                                                                                          src);
        else
            quant_blocks_kernel<IS_DTYPE_Q4_0, Src><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, rb, t->rows, t->cols,
                                                                                          src);
    }
    CUDA_LAUNCHED(cb, what);
}

void cuda_quant_fill_normal(cuda_backend *cb, is_tensor *t, uint64_t seed, uint64_t stream, float std) {
    src_normal s = {seed, stream, std, t->cols};
    quantize_launch(cb, t, s, "quant_fill_normal (quantizer kernel)");
}

void cuda_quant_fill_const(cuda_backend *cb, is_tensor *t, float value) {
    src_const s = {is_bf16_to_f32(is_f32_to_bf16(value))}; // the BF16 fill's value
    quantize_launch(cb, t, s, "quant_fill_const (quantizer kernel)");
}

// ---- dequantization ------------------------------------------------------------------------

// Element k of a row (row: its first byte) as is_dequantize_row gives it; QONLY: the
// integer q alone (INT8's matmul applies the row's scale after the product).
// Reads: Q8_0 the F16 d at block k / 32 (2-byte aligned) and byte 2 + k % 32 of it;
// Q4_0 d and byte 2 + k % 16 (its low nibble for k % 32 < 16, else its high one);
// INT8 bytes [0, 4) and 4 + k. All inside the row for k < cols.
template <int DT, bool QONLY>
__device__ __forceinline__ float deq_at(const uint8_t *row, int64_t k) {
    if (DT == IS_DTYPE_Q8_0) {
        const uint8_t *b = row + (k >> 5) * Q8_BYTES;
        const float q = (float)(int8_t)b[2 + (k & 31)];
        return QONLY ? q : q_mul(f16_value(*(const uint16_t *)b), q);
    } else if (DT == IS_DTYPE_Q4_0) {
        const uint8_t *b = row + (k >> 5) * Q4_BYTES;
        const int j = (int)(k & 31), byte = b[2 + (j & 15)];
        const float q = (float)((j < 16 ? byte & 15 : byte >> 4) - 8);
        return QONLY ? q : q_mul(f16_value(*(const uint16_t *)b), q);
    } else {
        const float q = (float)(int8_t)row[4 + k];
        return QONLY ? q : q_mul(load_f32_bytes(row), q);
    }
}

__device__ __forceinline__ void store_out(float *p, float v) { *p = v; }
__device__ __forceinline__ void store_out(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

// dst[i, k] = element k of row (ids ? ids[i] : r0 + i) of w, i < nr, k < cols: blocks
// (x: columns, grid-stride; y: rows, grid-stride), consecutive threads on consecutive
// columns (coalesced stores; a block's 32 bytes read by 32 neighbouring threads).
template <int DT, typename OutT, bool QONLY>
__global__ void dequant_rows_kernel(OutT *dst, int64_t dst_ld, const uint8_t *w, size_t row_bytes, const int32_t *ids,
                                    int64_t r0, int64_t nr, int64_t cols) {
    for (int64_t i = blockIdx.y; i < nr; i += gridDim.y) {
        const int64_t r = ids ? (int64_t)ids[i] : r0 + i;
        const uint8_t *row = w + (size_t)r * row_bytes;
        OutT *o = dst + i * dst_ld;
        for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < cols; k += (int64_t)gridDim.x * blockDim.x)
            store_out(o + k, deq_at<DT, QONLY>(row, k));
    }
}

template <typename OutT, bool QONLY>
static void dequant_launch(cuda_backend *cb, OutT *dst, int64_t dst_ld, const is_tensor *t, const int32_t *ids,
                           int64_t r0, int64_t nr, const char *what) {
    if (cb->failed || nr == 0 || t->cols == 0) return;
    IS_ASSERT(is_dtype_quantized(t->dtype) && (uintptr_t)t->data % 2 == 0);
    int64_t gx = (t->cols + QUANT_THREADS - 1) / QUANT_THREADS;
    dim3 grid((unsigned)(gx < 65535 ? gx : 65535), (unsigned)(nr < 65535 ? nr : 65535));
    const uint8_t *w = (const uint8_t *)t->data;
    size_t rb = cuda_row_bytes(t);
    switch (t->dtype) {
    case IS_DTYPE_Q8_0:
        dequant_rows_kernel<IS_DTYPE_Q8_0, OutT, QONLY><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, dst_ld, w, rb, ids,
                                                                                            r0, nr, t->cols);
        break;
    case IS_DTYPE_Q4_0:
        dequant_rows_kernel<IS_DTYPE_Q4_0, OutT, QONLY><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, dst_ld, w, rb, ids,
                                                                                            r0, nr, t->cols);
        break;
    default:
        IS_ASSERT(t->dtype == IS_DTYPE_I8);
        dequant_rows_kernel<IS_DTYPE_I8, OutT, QONLY><<<grid, QUANT_THREADS, 0, cb->stream>>>(dst, dst_ld, w, rb, ids,
                                                                                          r0, nr, t->cols);
        break;
    }
    CUDA_LAUNCHED(cb, what);
}

void cuda_quant_dequant_f32(cuda_backend *cb, float *dst, const is_tensor *t, int64_t r0, int64_t nr) {
    IS_ASSERT(r0 >= 0 && nr >= 0 && r0 + nr <= t->rows);
    dequant_launch<float, false>(cb, dst, t->cols, t, NULL, r0, nr, "dequant_rows_kernel (F32)");
}

void cuda_quant_embed(cuda_backend *cb, is_tensor *out, const is_tensor *table, const int32_t *d_ids, int n) {
    IS_ASSERT(out->dtype == IS_DTYPE_F32 && out->cols == table->cols && n <= out->rows);
    dequant_launch<float, false>(cb, (float *)out->data, out->cols, table, d_ids, 0, n, "dequant_rows_kernel (embed)");
}

// ---- the GEMV: n <= IS_CUDA_GEMV_MAX_N activation rows ------------------------------------------

#define QG_THREADS (IS_CUDA_GEMV_WARPS * 32)
#define QG_KT IS_CUDA_QGEMV_KT // columns per tile (512): x tile and each row's staged weights
#define QG_SUB (QG_KT / 128) // a lane's 4-column groups per tile (32 lanes x 4 columns a step)
#define QG_TILE_MAX 544  // bytes of a row's tile at most: 16 Q8_0 blocks (Q4_0 288, INT8 512)
#define QG_STAGE 576     // a row's staging buffer: QG_TILE_MAX + up to 15 bytes of offset, in 16s
#define QG_NV 2          // 16-byte loads a lane holds per row tile: ceil(QG_TILE_MAX / 16 / 32)
static_assert(QG_KT % 128 == 0 && QG_KT % IS_QK == 0, "a tile is whole steps and whole blocks");
static_assert(QG_TILE_MAX >= QG_KT / IS_QK * Q8_BYTES && QG_TILE_MAX >= QG_KT, "the largest tile");
static_assert(QG_STAGE >= QG_TILE_MAX + 15 && QG_STAGE % 16 == 0, "room for the offset, 16-byte aligned rows");
static_assert(QG_NV * 32 * 16 >= QG_TILE_MAX, "the loads cover a tile");

// The bytes of columns [k0, k0 + kw) of a row: from byte *off of the row, *nbytes of them.
// k0 and kw are multiples of 32 for Q8_0 and Q4_0 (tiles start at slice starts, which are
// multiples of QG_KT, and end at K or at the next tile).
template <int DT>
__device__ __forceinline__ void tile_span(int64_t k0, int kw, int64_t *off, int *nbytes) {
    if (DT == IS_DTYPE_Q8_0) {
        *off = (k0 / IS_QK) * Q8_BYTES;
        *nbytes = kw / IS_QK * Q8_BYTES;
    } else if (DT == IS_DTYPE_Q4_0) {
        *off = (k0 / IS_QK) * Q4_BYTES;
        *nbytes = kw / IS_QK * Q4_BYTES;
    } else {
        *off = 4 + k0;
        *nbytes = kw;
    }
}

// How nbytes bytes at src split: h head bytes up to the first 16-byte boundary (or all
// of them), nb 16-byte chunks from there, t tail bytes; shift = src % 16. The staging
// buffer holds byte i of the span at shift + i: its chunks then sit at shift + h, a
// multiple of 16 whenever nb > 0 (shift == 0: h == 0; else h == 16 - shift).
struct tile_geom {
    int shift, h, nb, t;
};
__device__ __forceinline__ tile_geom tile_geometry(const uint8_t *src, int nbytes) {
    tile_geom g;
    g.shift = (int)((uintptr_t)src & 15);
    g.h = (16 - g.shift) & 15;
    if (g.h > nbytes) g.h = nbytes;
    g.nb = (nbytes - g.h) / 16;
    g.t = nbytes - g.h - 16 * g.nb;
    return g;
}

// Issues the loads of the tile at k0 (kw columns) of the warp's R rows into registers:
// chunk i (< nb) of row r in lane i % 32's v[r][i / 32]; head byte i (< h < 16) and
// tail byte i (< t < 16) in lane i's hb[r], tb[r]. Every address lies in the span.
template <int DT, int R>
__device__ __forceinline__ void tile_load(uint4 (&v)[R][QG_NV], uint32_t (&hb)[R], uint32_t (&tb)[R],
                                          const uint8_t *const (&wr)[R], int64_t k0, int kw, int lane) {
    int64_t off;
    int nbytes;
    tile_span<DT>(k0, kw, &off, &nbytes);
#pragma unroll
    for (int r = 0; r < R; r++) {
        const uint8_t *src = wr[r] + off;
        const tile_geom g = tile_geometry(src, nbytes);
        const uint4 *body = (const uint4 *)(src + g.h); // 16-byte aligned when g.nb > 0
#pragma unroll
        for (int u = 0; u < QG_NV; u++) {
            const int i = lane + 32 * u;
            if (i < g.nb) v[r][u] = __ldg(body + i);
        }
        hb[r] = lane < g.h ? __ldg(src + lane) : 0u;
        tb[r] = lane < g.t ? __ldg(src + g.h + 16 * g.nb + lane) : 0u;
    }
}

// Stores what tile_load loaded into the warp's staging buffers: byte i of row r's span
// at dst[r][shift + i] (shift + nbytes <= 15 + QG_TILE_MAX < QG_STAGE). sh[r] = shift.
template <int DT, int R>
__device__ __forceinline__ void tile_store(uint8_t (*dst)[QG_STAGE], const uint4 (&v)[R][QG_NV], const uint32_t (&hb)[R],
                                           const uint32_t (&tb)[R], const uint8_t *const (&wr)[R], int64_t k0, int kw,
                                           int lane, int (&sh)[R]) {
    int64_t off;
    int nbytes;
    tile_span<DT>(k0, kw, &off, &nbytes);
#pragma unroll
    for (int r = 0; r < R; r++) {
        const tile_geom g = tile_geometry(wr[r] + off, nbytes);
        uint8_t *d = dst[r] + g.shift;
        uint4 *d4 = (uint4 *)(d + g.h); // 16-byte aligned when g.nb > 0 (dst[r] is)
#pragma unroll
        for (int u = 0; u < QG_NV; u++) {
            const int i = lane + 32 * u;
            if (i < g.nb) d4[i] = v[r][u];
        }
        if (lane < g.h) d[lane] = (uint8_t)hb[r];
        if (lane < g.t) d[g.h + 16 * g.nb + lane] = (uint8_t)tb[r];
        sh[r] = g.shift;
    }
}

// The 4 weights of columns e .. e + 3 (relative to the tile; e % 4 == 0, e < kw) of a
// staged row tile t (byte 0: the tile's first byte), dequantized (s: INT8's row scale).
// Q8_0 / Q4_0: e < kw and kw % 32 == 0, so the 4 columns lie in block e / 32 of the tile;
// its d and q are read as 2-byte words: t is even (an even source offset modulo 16) and
// so are the offsets (34 or 18 per block, 2 + e % 32 or 2 + e % 16 with e % 4 == 0).
// INT8: bytes e .. e + 3 where below kw (the rest weigh 0; x is 0 there too).
template <int DT>
__device__ __forceinline__ void tile_decode(const uint8_t *t, int e, int kw, float s, float (&wv)[4]) {
    if (DT == IS_DTYPE_Q8_0) {
        const uint8_t *b = t + (e / IS_QK) * Q8_BYTES;
        const float d = f16_value(*(const uint16_t *)b);
        const uint32_t q01 = *(const uint16_t *)(b + 2 + (e % IS_QK)), q23 = *(const uint16_t *)(b + 4 + (e % IS_QK));
        wv[0] = q_mul(d, (float)(int8_t)(q01 & 0xffu));
        wv[1] = q_mul(d, (float)(int8_t)(q01 >> 8));
        wv[2] = q_mul(d, (float)(int8_t)(q23 & 0xffu));
        wv[3] = q_mul(d, (float)(int8_t)(q23 >> 8));
    } else if (DT == IS_DTYPE_Q4_0) {
        const uint8_t *b = t + (e / IS_QK) * Q4_BYTES;
        const int j = e % IS_QK, nib = j < 16 ? 0 : 4; // columns j < 16: low nibbles of qs[j..]; else high of qs[j - 16..]
        const float d = f16_value(*(const uint16_t *)b);
        const uint32_t p01 = *(const uint16_t *)(b + 2 + (j & 15)), p23 = *(const uint16_t *)(b + 4 + (j & 15));
        wv[0] = q_mul(d, (float)((int)((p01 >> nib) & 15u) - 8));
        wv[1] = q_mul(d, (float)((int)((p01 >> (8 + nib)) & 15u) - 8));
        wv[2] = q_mul(d, (float)((int)((p23 >> nib) & 15u) - 8));
        wv[3] = q_mul(d, (float)((int)((p23 >> (8 + nib)) & 15u) - 8));
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) wv[i] = e + i < kw ? q_mul(s, (float)(int8_t)t[e + i]) : 0.0f;
    }
}

__device__ __forceinline__ float qg_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// grid (plan.blocks, plan.split), QG_THREADS threads. Warp w of block b computes output
// rows m0 .. m0 + R - 1, m0 = (b * IS_CUDA_GEMV_WARPS + w) * R (rows past M read row
// M - 1 and are never written), over columns [y * slice, min((y + 1) * slice, K)) for
// the n <= IS_CUDA_GEMV_MAX_N rows of x. part == NULL: out[j, m] = sum + bias[m]; else
// part[y][j][m] = sum. Each row's sums do not depend on n (batch-invariant by
// construction): lane l always takes columns 4l + 128s of each tile, in the same order.
// Bounds: x read at [j][k0 + c], j < n, c < kw, k0 + kw <= K <= x_ld; the tile fill
// writes xs[j][c] for j < n, c < QG_KT (0 past kw); decode reads xs[j][e .. e + 3],
// e + 3 < QG_KT, and the staged bytes written for this tile.
template <int DT, int R>
__global__ void __launch_bounds__(QG_THREADS)
qgemv_kernel(float *out, int64_t out_ld, float *part, const float *x, int64_t x_ld, const uint8_t *w, size_t row_bytes,
             const float *bias, int M, int64_t K, int n, int64_t slice) {
    __shared__ __align__(16) float xs[IS_CUDA_GEMV_MAX_N][QG_KT];            // 16 KiB
    __shared__ __align__(16) uint8_t ws[IS_CUDA_GEMV_WARPS][R][QG_STAGE];     // R x 2304 bytes
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t m0 = ((int64_t)blockIdx.x * IS_CUDA_GEMV_WARPS + warp) * R;
    const int64_t k_begin = (int64_t)blockIdx.y * slice, k_end = min(k_begin + slice, K);
    const uint8_t *wr[R];
    float scale[R]; // INT8: the row's F32 scale
#pragma unroll
    for (int r = 0; r < R; r++) {
        wr[r] = w + (size_t)(m0 + r < M ? m0 + r : M - 1) * row_bytes;
        scale[r] = DT == IS_DTYPE_I8 ? load_f32_bytes(wr[r]) : 0.0f;
    }
    float acc[R][IS_CUDA_GEMV_MAX_N];
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) acc[r][j] = 0.0f;
    uint4 v[R][QG_NV];
    uint32_t hb[R], tb[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        hb[r] = tb[r] = 0;
#pragma unroll
        for (int u = 0; u < QG_NV; u++) v[r][u] = make_uint4(0, 0, 0, 0);
    }
    if (k_begin < k_end) tile_load<DT, R>(v, hb, tb, wr, k_begin, (int)min((int64_t)QG_KT, k_end - k_begin), lane);
    for (int64_t k0 = k_begin; k0 < k_end; k0 += QG_KT) {
        const int kw = (int)min((int64_t)QG_KT, k_end - k0);
        __syncthreads(); // every warp is done with the previous tile's xs (and this warp with its ws)
        for (int i = threadIdx.x; i < n * QG_KT; i += QG_THREADS) {
            const int j = i / QG_KT, c = i % QG_KT;
            xs[j][c] = c < kw ? x[j * x_ld + k0 + c] : 0.0f;
        }
        int sh[R];
        tile_store<DT, R>(ws[warp], v, hb, tb, wr, k0, kw, lane, sh);
        __syncthreads(); // xs and ws written
        // the next tile's loads are in flight while this one is computed
        if (k0 + QG_KT < k_end)
            tile_load<DT, R>(v, hb, tb, wr, k0 + QG_KT, (int)min((int64_t)QG_KT, k_end - k0 - QG_KT), lane);
#pragma unroll
        for (int s = 0; s < QG_SUB; s++) {
            const int e = 4 * lane + 128 * s;
            if (e < kw) {
                float wv[R][4];
#pragma unroll
                for (int r = 0; r < R; r++) tile_decode<DT>(ws[warp][r] + sh[r], e, kw, scale[r], wv[r]);
#pragma unroll
                for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) {
                    if (j >= n) break;
                    const float4 xv = *(const float4 *)&xs[j][e];
#pragma unroll
                    for (int r = 0; r < R; r++) {
                        acc[r][j] = fmaf(wv[r][0], xv.x, acc[r][j]);
                        acc[r][j] = fmaf(wv[r][1], xv.y, acc[r][j]);
                        acc[r][j] = fmaf(wv[r][2], xv.z, acc[r][j]);
                        acc[r][j] = fmaf(wv[r][3], xv.w, acc[r][j]);
                    }
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
#pragma unroll
        for (int j = 0; j < IS_CUDA_GEMV_MAX_N; j++) {
            if (j >= n) break;
            const float s = qg_warp_sum(acc[r][j]);
            const int64_t m = m0 + r;
            if (lane == 0 && m < M) {
                if (part) part[((int64_t)blockIdx.y * n + j) * M + m] = s;
                else out[j * out_ld + m] = s + (bias ? bias[m] : 0.0f);
            }
        }
}

template <int DT>
static void qgemv_launch_dt(cuda_backend *cb, const is_cuda_gemv_plan *p, float *out, int64_t out_ld, float *part,
                            const float *x, int64_t x_ld, const uint8_t *w, size_t rb, const float *bias, int M,
                            int64_t K, int n) {
    dim3 grid((unsigned)p->blocks, (unsigned)p->split);
    switch (p->rows_per_warp) {
    case 4:
        qgemv_kernel<DT, 4><<<grid, QG_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, rb, bias, M, K, n,
                                                                 p->slice);
        break;
    case 2:
        qgemv_kernel<DT, 2><<<grid, QG_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, rb, bias, M, K, n,
                                                                 p->slice);
        break;
    default:
        IS_ASSERT(p->rows_per_warp == 1);
        qgemv_kernel<DT, 1><<<grid, QG_THREADS, 0, cb->stream>>>(out, out_ld, part, x, x_ld, w, rb, bias, M, K, n,
                                                                 p->slice);
        break;
    }
    CUDA_LAUNCHED(cb, "qgemv_kernel");
}

// out[j, :] = x[j, :] . dequant(w)^T (+ bias) for j < n <= IS_CUDA_GEMV_MAX_N (out, x:
// device F32 with row strides out_ld, x_ld). Planned for a full group of rows whatever
// n (the plan does not depend on n; a row's result never does).
static void qgemv(cuda_backend *cb, float *out, int64_t out_ld, const float *x, int64_t x_ld, const is_tensor *w,
                  const float *bias, int n) {
    IS_ASSERT(n >= 1 && n <= IS_CUDA_GEMV_MAX_N);
    if (cb->failed) return;
    int M = (int)w->rows;
    int64_t K = w->cols;
    is_cuda_gemv_plan p;
    is_cuda_plan_qgemv(&p, M, K, IS_CUDA_GEMV_MAX_N, cb->info.sm_count, QG_KT);
    IS_ASSERT(p.split == 1 || p.slice % QG_KT == 0);
    float *part = NULL;
    size_t need = is_cuda_plan_gemv_work(&p, M, n) * sizeof(float);
    if (need) {
        // reserved when the backend started, for the largest plan (graph capture must not allocate)
        if (need > cb->work_cap) {
            cuda_note_msg(cb, __FILE__, __LINE__, "quantized gemv: split-K needs %zu bytes of workspace, %zu reserved",
                          need, cb->work_cap);
            return;
        }
        part = (float *)cb->d_work;
    }
    const uint8_t *wd = (const uint8_t *)w->data;
    size_t rb = cuda_row_bytes(w);
    switch (w->dtype) {
    case IS_DTYPE_Q8_0: qgemv_launch_dt<IS_DTYPE_Q8_0>(cb, &p, out, out_ld, part, x, x_ld, wd, rb, bias, M, K, n); break;
    case IS_DTYPE_Q4_0: qgemv_launch_dt<IS_DTYPE_Q4_0>(cb, &p, out, out_ld, part, x, x_ld, wd, rb, bias, M, K, n); break;
    default: qgemv_launch_dt<IS_DTYPE_I8>(cb, &p, out, out_ld, part, x, x_ld, wd, rb, bias, M, K, n); break;
    }
    if (part) cuda_gemv_reduce(cb, out, out_ld, part, bias, M, n, p.split);
}

// ---- the matmul above the GEMV's rows --------------------------------------------------------

// INT8 after the GEMM of x and q: out[j, m] = s_m * out[j, m] + bias[m] (s_m at the
// start of row m of w, any alignment).
__global__ void i8_scale_kernel(float *out, int64_t ld, const uint8_t *w, size_t row_bytes, const float *bias, int M,
                                int n) {
    int64_t total = (int64_t)n * M;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = i / M, m = i % M;
        float *o = out + j * ld + m;
        *o = load_f32_bytes(w + (size_t)m * row_bytes) * *o + (bias ? bias[m] : 0.0f);
    }
}

// Chunks of rows of w dequantized to BF16 in the scratch (INT8: q alone), each through
// cuBLAS against x rounded to BF16; then the bias (INT8: with the row scales).
static void quant_gemm(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                       int n) {
    int M = (int)w->rows;
    int64_t K = w->cols;
    size_t row16 = (size_t)K * sizeof(__nv_bfloat16);
    if (!cb->d_deq || cb->deq_cap < row16) {
        cuda_note_msg(cb, __FILE__, __LINE__, "quantized matmul: the dequantization scratch holds %zu bytes, a %s row "
                      "of %lld needs %zu (tensor_alloc reserves it)", cb->deq_cap, is_dtype_name(w->dtype),
                      (long long)K, row16);
        return;
    }
    const __nv_bfloat16 *a = cuda_act_bf16(cb, x, n);
    if (!a) return;
    __nv_bfloat16 *deq = (__nv_bfloat16 *)cb->d_deq;
    int64_t chunk = (int64_t)(cb->deq_cap / row16);
    bool i8 = w->dtype == IS_DTYPE_I8;
    for (int64_t m0 = 0; m0 < M && !cb->failed; m0 += chunk) {
        int64_t mc = M - m0 < chunk ? M - m0 : chunk;
        // stream order: this chunk's dequantization waits for the previous chunk's GEMM
        if (i8) dequant_launch<__nv_bfloat16, true>(cb, deq, K, w, NULL, m0, mc, "dequant_rows_kernel (INT8 q, BF16)");
        else dequant_launch<__nv_bfloat16, false>(cb, deq, K, w, NULL, m0, mc, "dequant_rows_kernel (BF16)");
        cuda_blas_gemm_bf16(cb, (float *)out->data + m0, out->cols, a, deq, (int)mc, n, (int)K);
    }
    const float *b = bias ? (const float *)bias->data : NULL;
    if (i8) {
        if (cb->failed) return;
        i8_scale_kernel<<<cuda_grid((int64_t)n * M, QUANT_THREADS), QUANT_THREADS, 0, cb->stream>>>(
            (float *)out->data, out->cols, (const uint8_t *)w->data, cuda_row_bytes(w), b, M, n);
        CUDA_LAUNCHED(cb, "i8_scale_kernel");
    } else if (b) {
        cuda_add_bias(cb, (float *)out->data, out->cols, b, M, n);
    }
}

void cuda_quant_matmul(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                       int n, bool batch_invariant) {
    IS_ASSERT(is_dtype_quantized(w->dtype) && cuda_row_bytes(w) > 0 && (uintptr_t)w->data % 2 == 0);
    IS_ASSERT(w->rows >= 1 && w->rows <= 0x7fffffff && w->cols <= 0x7fffffff);
    IS_ASSERT(x->dtype == IS_DTYPE_F32 && out->dtype == IS_DTYPE_F32 && x->cols == w->cols && out->cols == w->rows);
    if (cb->failed || n == 0) return;
    const float *b = bias ? (const float *)bias->data : NULL;
    if (n <= IS_CUDA_GEMV_MAX_N || batch_invariant) {
        // groups of IS_CUDA_GEMV_MAX_N rows: under batch_invariant every row computed as alone
        for (int r0 = 0; r0 < n && !cb->failed; r0 += IS_CUDA_GEMV_MAX_N) {
            int g = n - r0 < IS_CUDA_GEMV_MAX_N ? n - r0 : IS_CUDA_GEMV_MAX_N;
            qgemv(cb, (float *)out->data + (int64_t)r0 * out->cols, out->cols,
                  (const float *)x->data + (int64_t)r0 * x->cols, x->cols, w, b, g);
        }
        return;
    }
    quant_gemm(cb, out, x, w, bias, n);
}

// ---- preparation: the scratch, and the check against base/quant.c ------------------------------

#define QC_ROWS 8
#define QC_COLS 64

// Rows that exercise every branch of base/quant.c: ties of the largest |x| (of either
// sign), products landing on halfway points, zeros of both signs, subnormals, F16
// overflow of the scale, infinities and NaN, and a wide range of magnitudes.
static void check_rows(float *h) {
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < QC_ROWS * QC_COLS; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        h[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0) * 0.7f;
    }
    float *r0 = h, *r1 = h + QC_COLS, *r2 = h + 2 * QC_COLS, *r3 = h + 3 * QC_COLS;
    float *r4 = h + 4 * QC_COLS, *r5 = h + 5 * QC_COLS, *r6 = h + 6 * QC_COLS;
    r0[5] = 0.75f, r0[20] = -0.75f;   // a tie, the positive first
    r0[40] = -2.0f, r0[50] = 2.0f;    // a tie, the negative first
    r1[0] = 127.0f;                   // d = 1: x is x * id
    const float halves[] = {0.5f, -0.5f, 2.5f, -2.5f, 126.5f, -126.5f, 1.5f, -3.5f};
    for (int i = 0; i < 8; i++) r1[1 + i] = halves[i];
    r1[32] = -8.0f; // Q4_0: d = 1, v = x + 8.5 on every quarter
    for (int i = 1; i < 32; i++) r1[32 + i] = -8.0f + 0.5f * (float)(i % 32);
    for (int i = 0; i < QC_COLS; i++) r2[i] = i % 3 == 0 ? -0.0f : 0.0f;
    const float tiny[] = {1e-40f, -3e-41f, 1.4e-45f, -1e-38f, 5e-39f};
    for (int i = 0; i < QC_COLS; i++) r3[i] = tiny[i % 5] * (float)(1 + i % 7);
    const float huge[] = {1e6f, -7e5f, 3e38f, -3.4e38f, 65504.0f * 127.0f, -9e6f};
    for (int i = 0; i < QC_COLS; i++) r4[i] = huge[i % 6] / (float)(1 + i % 4);
    r5[3] = NAN, r5[17] = -NAN, r5[33] = INFINITY, r5[44] = -INFINITY, r5[45] = INFINITY;
    for (int i = 0; i < QC_COLS; i++) r6[i] = ldexpf(i % 2 ? -1.0f : 1.0f, (i * 37) % 60 - 30) * (1.0f + i / 64.0f);
    // row 7: the random values as they are
}

static bool same_f32(float a, float b) { return (a != a && b != b) || !memcmp(&a, &b, sizeof a); }

// Quantizes check_rows on the device in every format and compares the bytes with
// is_quantize_row; dequantizes is_quantize_row's bytes on the device and compares with
// is_dequantize_row. Uses the stage (outside any graph recording, synchronously).
static int quant_self_check(cuda_backend *cb, is_err *err) {
    const size_t in_off = 0, q_off = 16384, ref_off = 32768, deq_off = 49152;
    float h[QC_ROWS * QC_COLS], deq_dev[QC_ROWS * QC_COLS], deq_ref[QC_ROWS * QC_COLS];
    uint8_t ref[QC_ROWS * 68], got[QC_ROWS * 68];
    check_rows(h);
    const is_dtype dts[] = {IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};
    for (int di = 0; di < 3 && !cb->failed; di++) {
        is_dtype dt = dts[di];
        size_t rb = is_dtype_row_bytes(dt, QC_COLS), bytes = rb * QC_ROWS;
        for (int r = 0; r < QC_ROWS; r++) {
            is_quantize_row(dt, h + r * QC_COLS, ref + r * rb, QC_COLS);
            is_dequantize_row(dt, ref + r * rb, deq_ref + r * QC_COLS, QC_COLS);
        }
        char *hs = (char *)cb->h_stage, *ds = (char *)cb->d_stage;
        memcpy(hs + in_off, h, sizeof h);
        memcpy(hs + ref_off, ref, bytes);
        CUDA_OK(cb, cudaMemcpyAsync(ds, hs, ref_off + bytes, cudaMemcpyHostToDevice, cb->stream));
        is_tensor tq = {dt, QC_ROWS, QC_COLS, ds + q_off, false}, tr = {dt, QC_ROWS, QC_COLS, ds + ref_off, false};
        src_mem src = {(const float *)(ds + in_off), QC_COLS};
        quantize_launch(cb, &tq, src, "quantizer check");
        dequant_launch<float, false>(cb, (float *)(ds + deq_off), QC_COLS, &tr, NULL, 0, QC_ROWS, "dequantizer check");
        CUDA_OK(cb, cudaMemcpyAsync(hs + q_off, ds + q_off, deq_off + sizeof deq_dev - q_off, cudaMemcpyDeviceToHost,
                                    cb->stream));
        if (!CUDA_OK(cb, cudaStreamSynchronize(cb->stream)) || cb->failed) break;
        memcpy(got, hs + q_off, bytes);
        memcpy(deq_dev, hs + deq_off, sizeof deq_dev);
        for (size_t i = 0; i < bytes; i++)
            if (got[i] != ref[i])
                return is_errf(err, "cuda device %d: the device quantizer does not reproduce base/quant.c (%s, check row "
                               "%zu, byte %zu: 0x%02x, the reference 0x%02x); was kernels/cuda/cuda_quant.cu built with "
                               "fast math or with subnormals flushed to zero?", cb->device, is_dtype_name(dt), i / rb, i % rb, got[i],
                               ref[i]);
        for (int i = 0; i < QC_ROWS * QC_COLS; i++)
            if (!same_f32(deq_dev[i], deq_ref[i]))
                return is_errf(err, "cuda device %d: the device dequantizer does not reproduce base/quant.c (%s, check "
                               "row %d, element %d: %.9g, the reference %.9g)", cb->device, is_dtype_name(dt),
                               i / QC_COLS, i % QC_COLS, deq_dev[i], deq_ref[i]);
    }
    return cuda_take_error(cb, err);
}

int cuda_quant_prepare(cuda_backend *cb, const is_tensor *t, is_err *err) {
    IS_ASSERT(!cb->capturing && is_dtype_quantized(t->dtype));
    if (cb->failed) return cuda_take_error(cb, err);
    if (!cb->quant_checked) {
        if (quant_self_check(cb, err)) return -1;
        cb->quant_checked = true;
    }
    // the scratch: a chunk of t's rows in BF16, at most CUDA_DEQ_BYTES (at least one row)
    size_t row16 = (size_t)t->cols * sizeof(__nv_bfloat16), need = (size_t)t->rows * row16;
    if (need > CUDA_DEQ_BYTES) need = row16 > CUDA_DEQ_BYTES ? row16 : CUDA_DEQ_BYTES;
    if (need <= cb->deq_cap) return 0;
    cuda_graphs_invalidate(cb); // graphs hold the old scratch
    if (cb->d_deq) CUDA_OK(cb, cudaFree(cb->d_deq));
    cb->d_deq = NULL;
    cb->deq_cap = 0;
    if (!CUDA_OK(cb, cudaMalloc(&cb->d_deq, need))) {
        cb->d_deq = NULL;
        cuda_take_error(cb, err);
        is_err_prefix(err, "cannot reserve the %.1f MiB dequantization scratch of the quantized matmul",
                      (double)need / 1048576.0);
        return -1;
    }
    cb->deq_cap = need;
    return 0;
}
