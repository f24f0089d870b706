// dtype.c — dtype names and F16 conversions.
#include "base/dtype.h"

#include <strings.h>

size_t is_dtype_size(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return 4;
    case IS_DTYPE_F16: return 2;
    case IS_DTYPE_BF16: return 2;
    }
    return 0;
}

const char *is_dtype_name(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return "F32";
    case IS_DTYPE_F16: return "F16";
    case IS_DTYPE_BF16: return "BF16";
    }
    return "?";
}

int is_dtype_parse(const char *s, is_dtype *out) {
    if (!strcasecmp(s, "f32") || !strcasecmp(s, "float32")) { *out = IS_DTYPE_F32; return 0; }
    if (!strcasecmp(s, "f16") || !strcasecmp(s, "float16")) { *out = IS_DTYPE_F16; return 0; }
    if (!strcasecmp(s, "bf16") || !strcasecmp(s, "bfloat16")) { *out = IS_DTYPE_BF16; return 0; }
    return -1;
}

float is_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { // subnormal: normalize
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400u));
            man &= 0x3ffu;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

uint16_t is_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t)(sign | 0x7e00u); // NaN
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); // rounds to >= 65520: inf
    if (abs < 0x38800000u) { // below the smallest normal half: subnormal or zero
        if (abs < 0x33000000u) return (uint16_t)sign; // below half of the smallest subnormal
        uint32_t e = abs >> 23;
        uint32_t man = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; // 14..24
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t r = abs + 0xfffu + ((abs >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

void is_dtype_convert(void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n) {
    if (dst_t == src_t) {
        memcpy(dst, src, n * is_dtype_size(src_t));
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v;
        switch (src_t) {
        case IS_DTYPE_F32: memcpy(&v, (const char *)src + 4 * i, 4); break;
        case IS_DTYPE_F16: v = is_f16_to_f32(((const uint16_t *)src)[i]); break;
        default: v = is_bf16_to_f32(((const uint16_t *)src)[i]); break;
        }
        switch (dst_t) {
        case IS_DTYPE_F32: memcpy((char *)dst + 4 * i, &v, 4); break;
        case IS_DTYPE_F16: ((uint16_t *)dst)[i] = is_f32_to_f16(v); break;
        default: ((uint16_t *)dst)[i] = is_f32_to_bf16(v); break;
        }
    }
}
