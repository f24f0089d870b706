// dtype.c — dtype names and F16 conversions.
#include "base/dtype.h"

#include "base/error.h" // defines: IS_ASSERT

#include <strings.h>

size_t is_dtype_size(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return 4;
    case IS_DTYPE_F16: return 2;
    case IS_DTYPE_BF16: return 2;
    case IS_DTYPE_Q8_0:
    case IS_DTYPE_Q4_0:
    case IS_DTYPE_I8: return 0;
    }
    return 0;
}

int64_t is_dtype_block(is_dtype t) {
    return t == IS_DTYPE_Q8_0 || t == IS_DTYPE_Q4_0 ? 32 : 1;
}

size_t is_dtype_row_bytes(is_dtype t, int64_t cols) {
    if (cols < 0 || cols % is_dtype_block(t)) return 0;
    switch (t) {
    case IS_DTYPE_Q8_0: return (size_t)(cols / 32) * 34;
    case IS_DTYPE_Q4_0: return (size_t)(cols / 32) * 18;
    case IS_DTYPE_I8: return 4 + (size_t)cols;
    default: return (size_t)cols * is_dtype_size(t);
    }
}

const char *is_dtype_name(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return "F32";
    case IS_DTYPE_F16: return "F16";
    case IS_DTYPE_BF16: return "BF16";
    case IS_DTYPE_Q8_0: return "Q8_0";
    case IS_DTYPE_Q4_0: return "Q4_0";
    case IS_DTYPE_I8: return "INT8";
    }
    return "?";
}

int is_dtype_parse(const char *s, is_dtype *out) {
    if (!strcasecmp(s, "f32") || !strcasecmp(s, "float32")) { *out = IS_DTYPE_F32; return 0; }
    if (!strcasecmp(s, "f16") || !strcasecmp(s, "float16")) { *out = IS_DTYPE_F16; return 0; }
    if (!strcasecmp(s, "bf16") || !strcasecmp(s, "bfloat16")) { *out = IS_DTYPE_BF16; return 0; }
    if (!strcasecmp(s, "q8_0")) { *out = IS_DTYPE_Q8_0; return 0; }
    if (!strcasecmp(s, "q4_0")) { *out = IS_DTYPE_Q4_0; return 0; }
    if (!strcasecmp(s, "int8") || !strcasecmp(s, "i8")) { *out = IS_DTYPE_I8; return 0; }
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

void is_dtype_convert(void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n) {
    IS_ASSERT(!is_dtype_quantized(dst_t) && !is_dtype_quantized(src_t));
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
