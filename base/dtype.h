// dtype.h — element types of weights and their conversions (F32, F16, BF16).
#ifndef IS_DTYPE_H
#define IS_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum is_dtype {
    IS_DTYPE_F32 = 0,
    IS_DTYPE_F16 = 1,
    IS_DTYPE_BF16 = 2,
} is_dtype;

size_t is_dtype_size(is_dtype t);
// Safetensors spelling: "F32", "F16", "BF16".
const char *is_dtype_name(is_dtype t);
// Accepts the safetensors spelling and the CLI spelling ("f32", "bf16", "f16").
// Returns 0 on success, -1 for an unknown name.
int is_dtype_parse(const char *s, is_dtype *out);

static inline float is_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Round to nearest even; NaN stays NaN (quiet).
static inline uint16_t is_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float is_f16_to_f32(uint16_t h);
// Round to nearest even, overflow to infinity, subnormals kept.
uint16_t is_f32_to_f16(float f);

// Converts n elements between any two dtypes (same dtype: memcpy).
void is_dtype_convert(void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n);

#endif
