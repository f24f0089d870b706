// test_dtype.c — F16 and BF16 conversions: every bit pattern, rounding to nearest
// even, overflow to infinity, subnormals; dtype names and sizes.
//
// Oracles are independent of engine/dtype.c: values from ldexp on the decoded
// fields, and rounding decided by comparing distances in double (exact for these
// formats), plus the compiler's _Float16 conversion where it exists.
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/dtype.h" // defines: is_f16_to_f32, is_f32_to_f16, is_f32_to_bf16, ...

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

// Value of a binary16 pattern: 1 sign, 5 exponent (bias 15), 10 mantissa bits.
static double f16_value(uint16_t h) {
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0x1f) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, -24);
    return s * ldexp(1024 + m, e - 25);
}

// Value of a bfloat16 pattern: 1 sign, 8 exponent (bias 127), 7 mantissa bits.
static double bf16_value(uint16_t h) {
    int e = (h >> 7) & 0xff, m = h & 0x7f;
    double s = (h & 0x8000) ? -1.0 : 1.0;
    if (e == 0xff) return m ? NAN : s * INFINITY;
    if (e == 0) return s * ldexp(m, -133);
    return s * ldexp(128 + m, e - 134);
}

static bool f16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }
static bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f); }

// Nearest representable pattern to x by exhaustive distance over the two
// neighbours (lo, lo + 1) of the same sign; ties go to the even pattern. The
// pattern past the largest finite is infinity, which IEEE rounding reaches
// exactly when x >= max + half an ulp; its "value" for distances is max + 1 ulp.
static uint16_t nearest(double x, double (*value)(uint16_t), uint16_t inf_bits) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs(x);
    uint16_t lo = 0;
    // largest magnitude pattern with value <= a (binary search over magnitudes)
    uint16_t l = 0, h = inf_bits; // value(h) = inf > a
    while (h - l > 1) {
        uint16_t mid = (uint16_t)((l + h) / 2);
        if (value(mid) <= a) l = mid;
        else h = mid;
    }
    lo = l;
    uint16_t hi = (uint16_t)(lo + 1);
    double vlo = value(lo);
    double vhi = hi == inf_bits ? 2 * value(lo) - value((uint16_t)(lo - 1)) : value(hi);
    if (a == vlo) return sign | lo;
    double dlo = a - vlo, dhi = vhi - a;
    if (dlo < dhi) return sign | lo;
    if (dhi < dlo) return sign | hi;
    return sign | ((lo & 1) ? hi : lo);
}

// ---- every bit pattern -----------------------------------------------------------

Test(dtype, f16_all_patterns) {
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = is_f16_to_f32(h);
        double want = f16_value(h);
        if (f16_is_nan(h)) {
            cr_assert(isnan(f), "0x%04x", h);
            uint16_t back = is_f32_to_f16(f);
            cr_assert(f16_is_nan(back), "0x%04x -> 0x%04x", h, back);
            cr_assert_eq(back & 0x8000, h & 0x8000, "NaN sign 0x%04x", h);
            continue;
        }
        cr_assert((double)f == want, "0x%04x: %.9g vs %.9g", h, (double)f, want);
        cr_assert_eq(signbit(f) != 0, (h & 0x8000) != 0, "sign of 0x%04x", h);
        uint16_t back = is_f32_to_f16(f);
        cr_assert_eq(back, h, "0x%04x -> %.9g -> 0x%04x", h, (double)f, back);
    }
}

Test(dtype, bf16_all_patterns) {
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = is_bf16_to_f32(h);
        double want = bf16_value(h);
        if (bf16_is_nan(h)) {
            cr_assert(isnan(f), "0x%04x", h);
            uint16_t back = is_f32_to_bf16(f);
            cr_assert(bf16_is_nan(back), "0x%04x -> 0x%04x", h, back);
            cr_assert_eq(back & 0x8000, h & 0x8000, "NaN sign 0x%04x", h);
            continue;
        }
        cr_assert((double)f == want, "0x%04x: %.9g vs %.9g", h, (double)f, want);
        uint16_t back = is_f32_to_bf16(f);
        cr_assert_eq(back, h, "0x%04x -> %.9g -> 0x%04x", h, (double)f, back);
    }
}

// ---- rounding of f32 inputs --------------------------------------------------------

// Low 16 bits that cover: exact, just above, halfway, just past halfway, and the rest.
static const uint32_t low_bits[] = {0x0000, 0x0001, 0x1000, 0x3fff, 0x7fff, 0x8000,
                                    0x8001, 0xc000, 0xfffe, 0xffff, 0x5a5a};

Test(dtype, f32_to_bf16_matches_oracle) {
    for (uint32_t top = 0; top < 65536; top++) {
        for (size_t j = 0; j < sizeof low_bits / sizeof low_bits[0]; j++) {
            uint32_t u = (top << 16) | low_bits[j];
            float f = from_bits(u);
            uint16_t got = is_f32_to_bf16(f);
            if (isnan(f)) {
                cr_assert(bf16_is_nan(got), "0x%08x -> 0x%04x", u, got);
                continue;
            }
            uint16_t want = nearest((double)f, bf16_value, 0x7f80);
            cr_assert_eq(got, want, "0x%08x (%.9g): got 0x%04x want 0x%04x", u, (double)f, got, want);
        }
    }
}

// f32 -> f16 by the oracle over f32 patterns spread across every exponent: the
// top 16 bits exhaustively, with low bits that hit f16's halfway points
// (f16 keeps 10 of f32's 23 mantissa bits: halfway is bit 12 of the f32).
Test(dtype, f32_to_f16_matches_oracle) {
    static const uint32_t low13[] = {0x0000, 0x0001, 0x0fff, 0x1000, 0x1001, 0x1fff};
    for (uint32_t top = 0; top < 65536; top++) {
        for (size_t j = 0; j < sizeof low13 / sizeof low13[0]; j++) {
            for (uint32_t b = 0; b < 2; b++) { // bit 13: the f16 lsb, for ties to even
                uint32_t u = (top << 16) | (b << 13) | low13[j] | ((top & 1) << 14);
                float f = from_bits(u);
                uint16_t got = is_f32_to_f16(f);
                if (isnan(f)) {
                    cr_assert(f16_is_nan(got), "0x%08x -> 0x%04x", u, got);
                    continue;
                }
                uint16_t want = nearest((double)f, f16_value, 0x7c00);
                cr_assert_eq(got, want, "0x%08x (%.9g): got 0x%04x want 0x%04x", u, (double)f, got,
                             want);
            }
        }
    }
}

#ifdef __FLT16_MAX__
// The compiler's own conversion (libgcc or F16C), on a strided sweep of all f32.
Test(dtype, f32_to_f16_matches_compiler) {
    for (uint64_t u = 0; u <= 0xffffffffu; u += 4093) {
        float f = from_bits((uint32_t)u);
        if (isnan(f)) continue;
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, 2);
        uint16_t got = is_f32_to_f16(f);
        cr_assert_eq(got, want, "0x%08x (%.9g): got 0x%04x want 0x%04x", (uint32_t)u, (double)f, got,
                     want);
    }
}
#endif

Test(dtype, bf16_rounding_cases) {
    // halfway between 1.0 (0x3f80) and the next (0x3f81): ties to even 0x3f80
    cr_assert_eq(is_f32_to_bf16(from_bits(0x3f808000)), 0x3f80);
    // halfway between 0x3f81 and 0x3f82: ties to even 0x3f82
    cr_assert_eq(is_f32_to_bf16(from_bits(0x3f818000)), 0x3f82);
    cr_assert_eq(is_f32_to_bf16(from_bits(0x3f808001)), 0x3f81); // just past halfway
    cr_assert_eq(is_f32_to_bf16(from_bits(0x3f807fff)), 0x3f80); // just below
    cr_assert_eq(is_f32_to_bf16(from_bits(0xbf818000)), 0xbf82); // negative tie
    // overflow: FLT_MAX rounds up to infinity, the largest bf16 stays
    cr_assert_eq(is_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);
    cr_assert_eq(is_f32_to_bf16(from_bits(0x7f7f7fff)), 0x7f7f);
    cr_assert_eq(is_f32_to_bf16(INFINITY), 0x7f80);
    cr_assert_eq(is_f32_to_bf16(-INFINITY), 0xff80);
    // subnormals round like everything else; zero signs survive
    cr_assert_eq(is_f32_to_bf16(from_bits(0x00008000)), 0x0000);
    cr_assert_eq(is_f32_to_bf16(from_bits(0x00018000)), 0x0002);
    cr_assert_eq(is_f32_to_bf16(from_bits(0x00010000)), 0x0001);
    cr_assert_eq(is_f32_to_bf16(-0.0f), 0x8000);
    cr_assert(bf16_is_nan(is_f32_to_bf16(NAN)));
    // a NaN whose payload sits only in the low 16 bits stays NaN, not infinity
    cr_assert(bf16_is_nan(is_f32_to_bf16(from_bits(0x7f800001))));
}

Test(dtype, f16_rounding_cases) {
    cr_assert_eq(is_f32_to_f16(1.0f), 0x3c00);
    cr_assert_eq(is_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);      // tie: to even 1.0
    cr_assert_eq(is_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);  // tie: to even 1 + 2^-9
    cr_assert_eq(is_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01);
    cr_assert_eq(is_f32_to_f16(-1.0f - 0x1p-11f), 0xbc00);
    // overflow: 65504 is the largest; 65520 is halfway to 2^16 and goes to infinity
    cr_assert_eq(is_f32_to_f16(65504.0f), 0x7bff);
    cr_assert_eq(is_f32_to_f16(65519.99f), 0x7bff);
    cr_assert_eq(is_f32_to_f16(65520.0f), 0x7c00);
    cr_assert_eq(is_f32_to_f16(1e10f), 0x7c00);
    cr_assert_eq(is_f32_to_f16(-1e10f), 0xfc00);
    cr_assert_eq(is_f32_to_f16(INFINITY), 0x7c00);
    cr_assert_eq(is_f32_to_f16(-INFINITY), 0xfc00);
    // subnormals: 2^-24 is the smallest; half of it ties to zero, 3/4 rounds up
    cr_assert_eq(is_f32_to_f16(0x1p-24f), 0x0001);
    cr_assert_eq(is_f32_to_f16(0x1p-25f), 0x0000);
    cr_assert_eq(is_f32_to_f16(0x1.8p-25f), 0x0001);
    cr_assert_eq(is_f32_to_f16(3 * 0x1p-25f), 0x0002);      // 1.5 units: tie to even 2
    cr_assert_eq(is_f32_to_f16(5 * 0x1p-25f), 0x0002);      // 2.5 units: tie to even 2
    cr_assert_eq(is_f32_to_f16(1023 * 0x1p-24f), 0x03ff);   // largest subnormal
    cr_assert_eq(is_f32_to_f16(1023.5f * 0x1p-24f), 0x0400); // tie into the smallest normal
    cr_assert_eq(is_f32_to_f16(0x1p-14f), 0x0400);
    cr_assert_eq(is_f32_to_f16(0x1p-30f), 0x0000);
    cr_assert_eq(is_f32_to_f16(-0x1p-24f), 0x8001);
    cr_assert_eq(is_f32_to_f16(-0.0f), 0x8000);
    cr_assert(f16_is_nan(is_f32_to_f16(NAN)));
    // and back
    cr_assert(is_f16_to_f32(0x0001) == 0x1p-24f);
    cr_assert(is_f16_to_f32(0x03ff) == 1023 * 0x1p-24f);
    cr_assert(is_f16_to_f32(0x7bff) == 65504.0f);
    cr_assert(isinf(is_f16_to_f32(0x7c00)) && is_f16_to_f32(0x7c00) > 0);
    cr_assert(isinf(is_f16_to_f32(0xfc00)) && is_f16_to_f32(0xfc00) < 0);
    cr_assert(isnan(is_f16_to_f32(0x7e00)));
    cr_assert_eq(to_bits(is_f16_to_f32(0x8000)), 0x80000000u);
}

// ---- names, sizes, bulk conversion ----------------------------------------------------

Test(dtype, names_and_sizes) {
    cr_assert_eq(is_dtype_size(IS_DTYPE_F32), 4);
    cr_assert_eq(is_dtype_size(IS_DTYPE_F16), 2);
    cr_assert_eq(is_dtype_size(IS_DTYPE_BF16), 2);
    cr_assert_str_eq(is_dtype_name(IS_DTYPE_F32), "F32");
    cr_assert_str_eq(is_dtype_name(IS_DTYPE_F16), "F16");
    cr_assert_str_eq(is_dtype_name(IS_DTYPE_BF16), "BF16");
    const char *names[] = {"F32", "f32", "float32", "F16", "f16", "float16", "BF16", "bf16", "bfloat16"};
    const is_dtype want[] = {IS_DTYPE_F32, IS_DTYPE_F32, IS_DTYPE_F32, IS_DTYPE_F16, IS_DTYPE_F16,
                             IS_DTYPE_F16, IS_DTYPE_BF16, IS_DTYPE_BF16, IS_DTYPE_BF16};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        is_dtype t;
        cr_assert_eq(is_dtype_parse(names[i], &t), 0, "%s", names[i]);
        cr_assert_eq(t, want[i], "%s", names[i]);
    }
    is_dtype t;
    cr_assert_eq(is_dtype_parse("F64", &t), -1);
    cr_assert_eq(is_dtype_parse("", &t), -1);
}

Test(dtype, convert_bulk) {
    float src[6] = {1.0f, -2.5f, 0x1p-24f, 65504.0f, 1.0f + 0x1p-8f, 3.0e38f};
    uint16_t h[6], b[6];
    float back[6];
    is_dtype_convert(h, IS_DTYPE_F16, src, IS_DTYPE_F32, 6);
    is_dtype_convert(b, IS_DTYPE_BF16, src, IS_DTYPE_F32, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(h[i], is_f32_to_f16(src[i]), "f16 %d", i);
        cr_assert_eq(b[i], is_f32_to_bf16(src[i]), "bf16 %d", i);
    }
    // f16 -> bf16 goes through f32
    uint16_t hb[6];
    is_dtype_convert(hb, IS_DTYPE_BF16, h, IS_DTYPE_F16, 6);
    for (int i = 0; i < 6; i++) cr_assert_eq(hb[i], is_f32_to_bf16(is_f16_to_f32(h[i])), "%d", i);
    is_dtype_convert(back, IS_DTYPE_F32, b, IS_DTYPE_BF16, 6);
    for (int i = 0; i < 6; i++) cr_assert(back[i] == is_bf16_to_f32(b[i]), "%d", i);
    float same[6];
    is_dtype_convert(same, IS_DTYPE_F32, src, IS_DTYPE_F32, 6);
    cr_assert_eq(memcmp(same, src, sizeof src), 0);
}
