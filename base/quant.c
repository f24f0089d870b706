// quant.c — the reference quantizer and dequantizer of base/quant.h.
#include "base/quant.h"

#include <math.h>

#include "base/error.h" // defines: IS_ASSERT

static void quantize_q8(const float *x, int64_t n, float *d_out, int8_t *q) {
    float amax = 0.0f;
    for (int64_t j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int64_t j = 0; j < n; j++) {
        float v = roundf(x[j] * id);
        // x * id can exceed 127 by a rounding of the division; NaN goes to 0
        q[j] = (int8_t)(v >= 127.0f ? 127 : v <= -127.0f ? -127 : v == v ? (int)v : 0);
    }
    *d_out = d;
}

static void quantize_q4_block(const float *x, is_block_q4_0 *b) {
    float amax = 0.0f, m = 0.0f;
    for (int j = 0; j < IS_QK; j++)
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            m = x[j];
        }
    float d = m / -8.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t q[IS_QK];
    for (int j = 0; j < IS_QK; j++) {
        float v = x[j] * id + 8.5f; // in [0.5, 16.5] for finite x
        int qi = v >= 15.0f ? 15 : v > 0.0f ? (int)v : 0;
        q[j] = (uint8_t)qi;
    }
    for (int j = 0; j < IS_QK / 2; j++) b->qs[j] = (uint8_t)(q[j] | (q[j + IS_QK / 2] << 4));
    b->d = is_f32_to_f16(d);
}

void is_quantize_row(is_dtype t, const float *x, void *dst, int64_t cols) {
    IS_ASSERT(is_dtype_quantized(t) && is_dtype_row_bytes(t, cols) > 0);
    if (t == IS_DTYPE_I8) {
        float s;
        quantize_q8(x, cols, &s, (int8_t *)dst + 4);
        memcpy(dst, &s, 4);
        return;
    }
    for (int64_t b = 0; b < cols / IS_QK; b++) {
        if (t == IS_DTYPE_Q8_0) {
            is_block_q8_0 *blk = (is_block_q8_0 *)dst + b;
            float d;
            quantize_q8(x + b * IS_QK, IS_QK, &d, blk->q);
            blk->d = is_f32_to_f16(d);
        } else {
            quantize_q4_block(x + b * IS_QK, (is_block_q4_0 *)dst + b);
        }
    }
}

void is_dequantize_row(is_dtype t, const void *src, float *y, int64_t cols) {
    switch (t) {
    case IS_DTYPE_I8: {
        float s;
        memcpy(&s, src, 4);
        const int8_t *q = (const int8_t *)src + 4;
        for (int64_t j = 0; j < cols; j++) y[j] = s * (float)q[j];
        return;
    }
    case IS_DTYPE_Q8_0:
        IS_ASSERT(cols % IS_QK == 0);
        for (int64_t b = 0; b < cols / IS_QK; b++) {
            const is_block_q8_0 *blk = (const is_block_q8_0 *)src + b;
            float d = is_f16_to_f32(blk->d);
            for (int j = 0; j < IS_QK; j++) y[b * IS_QK + j] = d * (float)blk->q[j];
        }
        return;
    case IS_DTYPE_Q4_0:
        IS_ASSERT(cols % IS_QK == 0);
        for (int64_t b = 0; b < cols / IS_QK; b++) {
            const is_block_q4_0 *blk = (const is_block_q4_0 *)src + b;
            float d = is_f16_to_f32(blk->d);
            for (int j = 0; j < IS_QK / 2; j++) {
                y[b * IS_QK + j] = d * (float)((blk->qs[j] & 15) - 8);
                y[b * IS_QK + j + IS_QK / 2] = d * (float)((blk->qs[j] >> 4) - 8);
            }
        }
        return;
    default: is_dtype_convert(y, IS_DTYPE_F32, src, t, (size_t)cols); return;
    }
}
