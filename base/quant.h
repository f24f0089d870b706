// quant.h — the quantized formats of weight matrices: their layouts, and the one
// reference quantizer and dequantizer every backend, loader and writer agrees with.
//
// Weight-only quantization: a matrix [rows = out_features, cols = in_features] is
// stored row after row, each row on its own (a row never shares a block with the
// next), so a backend splits work by rows and gathers embedding rows directly.
//
//   IS_DTYPE_Q8_0  cols/32 blocks is_block_q8_0 {f16 d; int8 q[32]}: x = d * q
//                  (34 bytes per 32 weights: 8.5 bits each; GGUF's Q8_0)
//   IS_DTYPE_Q4_0  cols/32 blocks is_block_q4_0 {f16 d; uint8 qs[16]}: element j < 16
//                  is qs[j] & 15, element j + 16 is qs[j] >> 4; x = d * (q - 8)
//                  (18 bytes per 32 weights: 4.5 bits each; GGUF's Q4_0)
//   IS_DTYPE_I8    one f32 scale s, then cols int8 q: x = s * q (per output channel,
//                  symmetric; 4 + cols bytes per row)
//
// Quantizing (as GGUF's reference quantizers do, so files we write hold the values
// llama.cpp would have written):
//   Q8_0, I8  amax = max |x| over the block (I8: the row); d = amax / 127;
//             q = roundf(x * (d != 0 ? 1 / d : 0)) (half away from zero), in [-127, 127]
//   Q4_0      m = the x of largest |x| in the block (the first such), sign kept;
//             d = m / -8; q = min(15, (int)(x * (d != 0 ? 1 / d : 0) + 8.5f)) (truncated)
// Every operation is one IEEE float operation rounded to nearest, so a device that
// quantizes gets the same bytes. d is stored as F16 (round to nearest even) after
// the q are computed from the F32 d; dequantizing uses the stored F16.
#ifndef IS_QUANT_H
#define IS_QUANT_H

#include <stdint.h>

#include "base/dtype.h"

#define IS_QK 32 // elements per block of Q8_0 and Q4_0

typedef struct is_block_q8_0 {
    uint16_t d;        // F16 scale
    int8_t q[IS_QK];
} is_block_q8_0;       // 34 bytes

typedef struct is_block_q4_0 {
    uint16_t d;        // F16 scale
    uint8_t qs[IS_QK / 2];
} is_block_q4_0;       // 18 bytes

#ifdef __cplusplus // the CUDA backend's files include this header too
static_assert(sizeof(is_block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(is_block_q4_0) == 18, "Q4_0 block is 18 bytes");
#else
_Static_assert(sizeof(is_block_q8_0) == 34, "Q8_0 block is 34 bytes");
_Static_assert(sizeof(is_block_q4_0) == 18, "Q4_0 block is 18 bytes");
#endif

// Quantizes one row of cols F32 values x into dst (is_dtype_row_bytes(t, cols) bytes);
// t is Q8_0, Q4_0 or I8 and cols a whole number of blocks.
void is_quantize_row(is_dtype t, const float *x, void *dst, int64_t cols);
// Dequantizes one row of a quantized dtype (or converts one row of a plain one) to F32.
void is_dequantize_row(is_dtype t, const void *src, float *y, int64_t cols);

#endif
