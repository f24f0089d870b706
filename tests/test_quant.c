// test_quant.c — the reference quantizer and dequantizer of base/quant.c: blocks worked
// out by hand, the layouts byte by byte, round-trip error bounds derived from the
// formats, determinism, and inputs that are not finite.
//
// The oracles are written here from the definitions in base/quant.h, in double where
// a value is compared: a block whose largest |x| is 127 has scale 1; Q4_0's element of
// largest |x| is -8 d; every q is the nearest step to x / d (Q4_0: but for the clamp at
// 15).
#include <criterion/criterion.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/dtype.h" // defines: is_f16_to_f32, is_f32_to_f16, is_dtype_row_bytes
#include "base/quant.h" // defines: is_quantize_row, is_dequantize_row, is_block_q8_0, is_block_q4_0
#include "support/testutil.h" // defines: tu_next, tu_unif


// A row of cols values: uniform [-scale, scale), with every 7th block scaled by 1e-3 and
// every 11th holding one outlier 20x the rest, so scales differ along a row.
static void t_row(float *x, int64_t cols, float scale, uint64_t *seed) {
    for (int64_t k = 0; k < cols; k++) {
        int64_t b = k / 32;
        float v = scale * tu_unif(seed);
        if (b % 7 == 3) v *= 1e-3f;
        if (b % 11 == 5 && k % 32 == 9) v *= 20.0f;
        x[k] = v;
    }
}

// ---- blocks worked by hand --------------------------------------------------------------

Test(quant, q8_0_block_with_max_127_is_its_own_q) {
    // largest |x| is 127: d = 127 / 127 = 1, so q = round(x), halves away from zero
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j * 8 - 127); // -127, -119, ..., 121
    x[31] = 127.0f;
    x[3] = 2.5f;   // -> 3
    x[4] = -2.5f;  // -> -3
    x[5] = 0.49f;  // -> 0
    is_block_q8_0 b;
    is_quantize_row(IS_DTYPE_Q8_0, x, &b, 32);
    cr_assert_eq(b.d, 0x3c00, "d = 1.0 in F16 (0x3c00), got 0x%04x", b.d);
    for (int j = 0; j < 32; j++) {
        int want = j == 3 ? 3 : j == 4 ? -3 : j == 5 ? 0 : (int)x[j];
        cr_assert_eq(b.q[j], want, "q[%d] = %d, want %d", j, b.q[j], want);
    }
    float y[32];
    is_dequantize_row(IS_DTYPE_Q8_0, &b, y, 32);
    for (int j = 0; j < 32; j++) cr_assert_eq(y[j], (float)b.q[j]);
}

Test(quant, q8_0_scale_is_amax_over_127_in_f16) {
    // amax 2.54 at a negative element: d = 2.54 / 127 = 0.02, stored as F16 (rounded)
    float x[32] = {0};
    x[17] = -2.54f;
    x[2] = 1.0f;
    is_block_q8_0 b;
    is_quantize_row(IS_DTYPE_Q8_0, x, &b, 32);
    float d = 2.54f / 127.0f;
    cr_assert_eq(b.d, is_f32_to_f16(d));
    cr_assert_eq(b.q[17], -127);
    cr_assert_eq(b.q[2], (int)roundf(1.0f * (1.0f / d))); // 1 / 0.02 = 50
    cr_assert_eq(b.q[2], 50);
}

Test(quant, q4_0_largest_element_is_minus_8_d) {
    // m = -16 (largest |x|, negative): d = m / -8 = 2; q = trunc(x / d + 8.5), clamped to 15
    float x[32] = {0};
    x[5] = -16.0f; // q 0: value -8 d = -16
    x[0] = 14.0f;  // 14/2 + 8.5 = 15.5 -> 15: 7 d = 14
    x[1] = 3.0f;   // 1.5 + 8.5 = 10 -> 10: 2 d = 4 (halves go up)
    x[2] = -3.0f;  // -1.5 + 8.5 = 7 -> 7: -1 d = -2
    x[20] = 5.2f;  // 2.6 + 8.5 = 11.1 -> 11 (element 20: high nibble of qs[4])
    is_block_q4_0 b;
    is_quantize_row(IS_DTYPE_Q4_0, x, &b, 32);
    cr_assert_eq(b.d, is_f32_to_f16(2.0f));
    int q[32];
    for (int j = 0; j < 16; j++) {
        q[j] = b.qs[j] & 15;
        q[j + 16] = b.qs[j] >> 4;
    }
    cr_assert_eq(q[5], 0);
    cr_assert_eq(q[0], 15);
    cr_assert_eq(q[1], 10);
    cr_assert_eq(q[2], 7);
    cr_assert_eq(q[20], 11);
    for (int j = 0; j < 32; j++)
        if (j != 5 && j != 0 && j != 1 && j != 2 && j != 20) cr_assert_eq(q[j], 8, "zero maps to 8 at %d", j);
    float y[32];
    is_dequantize_row(IS_DTYPE_Q4_0, &b, y, 32);
    cr_assert_eq(y[5], -16.0f);
    cr_assert_eq(y[0], 14.0f);
    cr_assert_eq(y[1], 4.0f);
    cr_assert_eq(y[2], -2.0f);
}

Test(quant, q4_0_scale_sign_follows_the_largest_element) {
    // m = +16: d = 16 / -8 = -2 (negative), and m still maps to q = 0: -8 * -2 = 16
    float x[32] = {0};
    x[9] = 16.0f;
    x[10] = -6.0f; // -6 / -2 + 8.5 = 11.5 -> 11: 3 * -2 = -6
    is_block_q4_0 b;
    is_quantize_row(IS_DTYPE_Q4_0, x, &b, 32);
    cr_assert_eq(b.d, is_f32_to_f16(-2.0f));
    cr_assert(is_f16_to_f32(b.d) < 0.0f);
    cr_assert_eq(b.qs[9] & 15, 0);
    cr_assert_eq(b.qs[10] & 15, 11);
    float y[32];
    is_dequantize_row(IS_DTYPE_Q4_0, &b, y, 32);
    cr_assert_eq(y[9], 16.0f);
    cr_assert_eq(y[10], -6.0f);
    // ties in |x|: the first element of the largest |x| sets the sign; the other, of the
    // opposite sign, is at +8 steps and clamps to 15 (7 steps): the one error of |d|
    float z[32] = {0};
    z[2] = 5.0f;
    z[7] = -5.0f;
    is_quantize_row(IS_DTYPE_Q4_0, z, &b, 32);
    cr_assert_eq(b.d, is_f32_to_f16(-0.625f));
    cr_assert_eq(b.qs[2] & 15, 0);
    cr_assert_eq(b.qs[7] & 15, 15);
    is_dequantize_row(IS_DTYPE_Q4_0, &b, y, 32);
    cr_assert_eq(y[2], 5.0f);
    cr_assert_eq(y[7], -4.375f);
}

Test(quant, all_zero_blocks) {
    float x[64] = {0};
    x[40] = 1.0f; // second block not zero: each block has its own scale
    is_block_q8_0 b8[2];
    is_block_q4_0 b4[2];
    is_quantize_row(IS_DTYPE_Q8_0, x, b8, 64);
    is_quantize_row(IS_DTYPE_Q4_0, x, b4, 64);
    cr_assert_eq(b8[0].d, 0);
    // Q4_0: d = 0 / -8 = -0, stored as F16 0x8000 (as GGUF's reference quantizer writes it)
    cr_assert_eq(b4[0].d, 0x8000);
    cr_assert_eq(is_f16_to_f32(b4[0].d), 0.0f);
    for (int j = 0; j < 32; j++) cr_assert_eq(b8[0].q[j], 0);
    for (int j = 0; j < 16; j++) cr_assert_eq(b4[0].qs[j], 0x88, "q = 8 (value 0) in both nibbles");
    cr_assert_neq(b8[1].d, 0);
    cr_assert_neq(b4[1].d, 0);
    unsigned char i8[4 + 64];
    float zero[64] = {0};
    is_quantize_row(IS_DTYPE_I8, zero, i8, 64);
    for (int k = 0; k < 4 + 64; k++) cr_assert_eq(i8[k], 0, "INT8 zero row: scale 0, q 0 (byte %d)", k);
    float y[64];
    is_dequantize_row(IS_DTYPE_Q8_0, b8, y, 64);
    for (int j = 0; j < 32; j++) cr_assert_eq(y[j], 0.0f);
    is_dequantize_row(IS_DTYPE_Q4_0, b4, y, 64);
    for (int j = 0; j < 32; j++) cr_assert_eq(y[j], 0.0f);
}

// ---- layouts -------------------------------------------------------------------------

Test(quant, layouts_byte_by_byte) {
    cr_assert_eq(is_dtype_row_bytes(IS_DTYPE_Q8_0, 64), 68);
    cr_assert_eq(is_dtype_row_bytes(IS_DTYPE_Q4_0, 64), 36);
    cr_assert_eq(is_dtype_row_bytes(IS_DTYPE_I8, 5), 9);
    cr_assert_eq(is_dtype_row_bytes(IS_DTYPE_Q8_0, 33), 0, "not a whole number of blocks");
    // Q4_0: d = -1 (m = 8 at element 0): q = 8 - x for integer x in [-7, 8]. Element j < 16 goes
    // to the low nibble of qs[j], element j + 16 to its high nibble; d is the first 2 bytes
    // (little-endian F16), then the 16 bytes of qs; the second block follows at byte 18.
    float x[64];
    for (int j = 0; j < 64; j++) x[j] = (float)((j * 5) % 15 - 7); // in [-7, 7]
    x[0] = 8.0f;
    x[32] = 8.0f;
    unsigned char row[36];
    is_quantize_row(IS_DTYPE_Q4_0, x, row, 64);
    for (int blk = 0; blk < 2; blk++) {
        const unsigned char *p = row + 18 * blk;
        uint16_t d = (uint16_t)(p[0] | p[1] << 8);
        cr_assert_eq(d, is_f32_to_f16(-1.0f), "block %d: d little-endian at bytes 0-1", blk);
        for (int j = 0; j < 16; j++) {
            int lo = (int)(8.0f - x[32 * blk + j]), hi = (int)(8.0f - x[32 * blk + j + 16]);
            cr_assert_eq(p[2 + j], lo | hi << 4, "block %d byte %d: %02x, want %02x", blk, j, p[2 + j], lo | hi << 4);
        }
    }
    // Q8_0: 2 bytes of d, then 32 int8 in element order
    float x8[32];
    for (int j = 0; j < 32; j++) x8[j] = (float)(j * 8 - 127); // -127 .. 121
    x8[31] = 127.0f;                                              // amax 127: d = 1
    unsigned char r8[34];
    is_quantize_row(IS_DTYPE_Q8_0, x8, r8, 32);
    cr_assert_eq(r8[0] | r8[1] << 8, 0x3c00);
    for (int j = 0; j < 32; j++) cr_assert_eq((int8_t)r8[2 + j], (int)x8[j]);
    // INT8: the F32 scale (amax / 127), then cols int8
    float xi[5] = {254.0f, -2.0f, 1.0f, 0.0f, -127.0f}; // s = 2: q = 127, -1, 1 (0.5 rounds away), 0, -64
    unsigned char ri[9];
    is_quantize_row(IS_DTYPE_I8, xi, ri, 5);
    float s;
    memcpy(&s, ri, 4);
    cr_assert_eq(s, 2.0f);
    const int want[5] = {127, -1, 1, 0, -64};
    for (int j = 0; j < 5; j++) cr_assert_eq((int8_t)ri[4 + j], want[j], "INT8 q[%d]", j);
}

// ---- round trips ------------------------------------------------------------------------

// Q8_0: d = amax / 127 (F32), q = round(x / d) up to the roundings of 1 / d and x * (1 / d)
// (2^-24 relative each, on |x / d| <= 127: below 2^-16 of a step), so |x - d q| <=
// d (1/2 + 2^-16); the stored d16 differs from d by at most 2^-11 d where d is a normal
// F16 (11 bits kept), 2^-25 where it is subnormal, which adds |d - d16| |q|. The product
// d16 * q is exact in F32 (11 + 8 bits).
Test(quant, q8_0_round_trip_bound_and_nearest_q) {
    enum { C = 32 * 40 };
    uint64_t seed = 3;
    float x[C], y[C];
    is_block_q8_0 b[C / 32];
    for (int rep = 0; rep < 50; rep++) {
        t_row(x, C, rep % 2 ? 3.0f : 0.01f, &seed);
        is_quantize_row(IS_DTYPE_Q8_0, x, b, C);
        is_dequantize_row(IS_DTYPE_Q8_0, b, y, C);
        for (int blk = 0; blk < C / 32; blk++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[blk * 32 + j]));
            double d = (double)(amax / 127.0f), d16 = is_f16_to_f32(b[blk].d);
            cr_assert_eq(b[blk].d, is_f32_to_f16(amax / 127.0f));
            cr_assert_leq(fabs(d - d16), d >= ldexp(1.0, -14) ? ldexp(d, -11) : ldexp(1.0, -25));
            for (int j = 0; j < 32; j++) {
                int k = blk * 32 + j, q = b[blk].q[j];
                cr_assert(fabs(x[k] / d - q) <= 0.5 + ldexp(1.0, -16), "q[%d] = %d is not nearest to %.9g", k, q,
                          x[k] / d);
                double bound = d * (0.5 + ldexp(1.0, -16)) + fabs(d - d16) * abs(q);
                cr_assert(fabs((double)x[k] - y[k]) <= bound, "Q8_0 element %d: %g -> %g (bound %g)", k, x[k], y[k],
                          bound);
                cr_assert_eq(y[k], (float)(d16 * q), "dequantized = d16 * q exactly");
            }
        }
    }
}

// Q4_0: |d| = amax / 8 and x / d in [-8, 8]; q = trunc(x / d + 8.5) is the nearest step
// (halves up) except that x / d in (7.5, 8] (an element of the sign opposite to the
// largest one, as large) clamps to 15: |x - d (q - 8)| <= |d| / 2 (+ the rounding of
// x * (1 / d) + 8.5: below 2^-18 of a step), |d| at the clamp; the F16 rounding of d adds
// |d - d16| |q - 8| <= 8 |d - d16|.
Test(quant, q4_0_round_trip_bound) {
    enum { C = 32 * 40 };
    uint64_t seed = 4;
    float x[C], y[C];
    is_block_q4_0 b[C / 32];
    for (int rep = 0; rep < 50; rep++) {
        t_row(x, C, rep % 2 ? 3.0f : 0.01f, &seed);
        is_quantize_row(IS_DTYPE_Q4_0, x, b, C);
        is_dequantize_row(IS_DTYPE_Q4_0, b, y, C);
        for (int blk = 0; blk < C / 32; blk++) {
            float amax = 0.0f, m = 0.0f;
            for (int j = 0; j < 32; j++)
                if (fabsf(x[blk * 32 + j]) > amax) {
                    amax = fabsf(x[blk * 32 + j]);
                    m = x[blk * 32 + j];
                }
            double d = (double)(m / -8.0f), d16 = is_f16_to_f32(b[blk].d);
            cr_assert_eq(b[blk].d, is_f32_to_f16(m / -8.0f));
            for (int j = 0; j < 32; j++) {
                int k = blk * 32 + j;
                int q = j < 16 ? b[blk].qs[j] & 15 : b[blk].qs[j - 16] >> 4;
                double r = x[k] / d;
                bool clamp = r > 7.5;
                double step = clamp ? 1.0 : 0.5 + ldexp(1.0, -18);
                cr_assert(fabs(r - (q - 8)) <= step, "q[%d] = %d for x/d = %.9g", k, q, r);
                double bound = fabs(d) * step + 8 * fabs(d - d16);
                cr_assert(fabs((double)x[k] - y[k]) <= bound, "Q4_0 element %d: %g -> %g (bound %g)", k, x[k], y[k],
                          bound);
                cr_assert_eq(y[k], (float)(d16 * (q - 8)));
            }
        }
    }
}

// INT8: one F32 scale s = amax / 127 per row, q = round(x / s): |x - s q| <= s (1/2 +
// 2^-16), and dequantizing rounds s * q once more (2^-24 relative).
Test(quant, int8_round_trip_bound) {
    enum { C = 1001 };
    uint64_t seed = 5;
    float x[C], y[C];
    unsigned char row[4 + C];
    for (int rep = 0; rep < 50; rep++) {
        t_row(x, C, rep % 2 ? 3.0f : 0.01f, &seed);
        is_quantize_row(IS_DTYPE_I8, x, row, C);
        is_dequantize_row(IS_DTYPE_I8, row, y, C);
        float amax = 0.0f, s;
        for (int k = 0; k < C; k++) amax = fmaxf(amax, fabsf(x[k]));
        memcpy(&s, row, 4);
        cr_assert_eq(s, amax / 127.0f);
        for (int k = 0; k < C; k++) {
            int q = (int8_t)row[4 + k];
            double bound = s * (0.5 + ldexp(1.0, -16)) + fabs((double)s * q) * ldexp(1.0, -24);
            cr_assert(fabs((double)x[k] - y[k]) <= bound, "INT8 element %d: %g -> %g (bound %g)", k, x[k], y[k],
                      bound);
        }
    }
}

// ---- determinism, plain dtypes, inputs that are not finite -----------------------------------

Test(quant, deterministic_and_alignment_free) {
    enum { C = 32 * 9 };
    uint64_t seed = 6;
    float x[C + 1];
    t_row(x + 1, C, 1.0f, &seed); // the row at another address (4 bytes on)
    float xa[C];
    memcpy(xa, x + 1, sizeof xa);
    const is_dtype dts[3] = {IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};
    for (int d = 0; d < 3; d++) {
        unsigned char a[4 + 34 * 9], b[4 + 34 * 9];
        _Alignas(16) unsigned char c[16 + 34 * 9];
        size_t n = is_dtype_row_bytes(dts[d], C);
        is_quantize_row(dts[d], xa, a, C);
        is_quantize_row(dts[d], xa, b, C);
        // another source address, and a destination off 16-byte alignment (by 2 bytes:
        // a Q8_0/Q4_0 block is a struct with an F16, 2-byte aligned; INT8 rows by 1)
        int off = dts[d] == IS_DTYPE_I8 ? 1 : 2;
        is_quantize_row(dts[d], x + 1, c + off, C);
        cr_assert_eq(memcmp(a, b, n), 0, "%s: same input, same bytes", is_dtype_name(dts[d]));
        cr_assert_eq(memcmp(a, c + off, n), 0, "%s: alignment does not matter", is_dtype_name(dts[d]));
    }
}

Test(quant, dequantize_plain_dtypes_converts) {
    float src[5] = {1.5f, -2.0f, 0.1f, 65504.0f, -0.0f}, y[5];
    is_dequantize_row(IS_DTYPE_F32, src, y, 5);
    cr_assert_eq(memcmp(src, y, sizeof y), 0);
    uint16_t h[5];
    for (int i = 0; i < 5; i++) h[i] = is_f32_to_bf16(src[i]);
    is_dequantize_row(IS_DTYPE_BF16, h, y, 5);
    for (int i = 0; i < 5; i++) cr_assert_eq(y[i], is_bf16_to_f32(h[i]));
}

Test(quant, nan_and_inf_do_not_crash) {
    // Any bytes may come out; the quantizer must not fault or hit undefined conversions
    // (a float out of int range), and finite blocks beside them keep their values.
    const float bad[4] = {NAN, INFINITY, -INFINITY, 3e38f};
    const is_dtype dts[3] = {IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};
    for (int v = 0; v < 4; v++)
        for (int d = 0; d < 3; d++) {
            float x[64], y[64];
            for (int k = 0; k < 64; k++) x[k] = (float)(k % 13) - 6.0f;
            x[5] = bad[v];
            x[20] = -bad[v];
            unsigned char row[4 + 64 + 68];
            is_quantize_row(dts[d], x, row, 64);
            is_dequantize_row(dts[d], row, y, 64);
            if (dts[d] != IS_DTYPE_I8) { // the second block is untouched by the first
                float ref[64];
                float xr[64];
                for (int k = 0; k < 64; k++) xr[k] = k < 32 ? 0.0f : x[k];
                unsigned char r2[68];
                is_quantize_row(dts[d], xr, r2, 64);
                is_dequantize_row(dts[d], r2, ref, 64);
                for (int k = 32; k < 64; k++)
                    cr_assert_eq(y[k], ref[k], "%s bad %d: element %d", is_dtype_name(dts[d]), v, k);
            }
        }
}
