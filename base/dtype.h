// dtype.h — element types of weights and their conversions (F32, F16, BF16), and
// the quantized formats of weight matrices (Q8_0, Q4_0, INT8; layouts in base/quant.h).
#ifndef IS_DTYPE_H
#define IS_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum is_dtype {
    IS_DTYPE_F32 = 0,
    IS_DTYPE_F16 = 1,
    IS_DTYPE_BF16 = 2,
    // Quantized weight matrices, stored row by row (base/quant.h): a row of cols
    // elements takes is_dtype_row_bytes(t, cols) bytes.
    IS_DTYPE_Q8_0 = 3, // blocks of 32 along a row: f16 scale + 32 int8 (GGUF Q8_0)
    IS_DTYPE_Q4_0 = 4, // blocks of 32 along a row: f16 scale + 32 4-bit values (GGUF Q4_0)
    IS_DTYPE_I8 = 5,   // per output channel (row): f32 scale + cols int8
} is_dtype;
#define IS_DTYPE_COUNT 6

// Bytes of one element of a plain dtype (F32, F16, BF16); 0 for a quantized one,
// whose size is per row (is_dtype_row_bytes).
size_t is_dtype_size(is_dtype t);
// Whether t is one of the quantized formats.
static inline int is_dtype_quantized(is_dtype t) {
    return t == IS_DTYPE_Q8_0 || t == IS_DTYPE_Q4_0 || t == IS_DTYPE_I8;
}
// Elements per block along a row: 32 for Q8_0 and Q4_0, 1 for the rest. A row of a
// block format holds a whole number of blocks.
int64_t is_dtype_block(is_dtype t);
// Bytes of one row of cols elements; 0 when cols is not a whole number of blocks.
size_t is_dtype_row_bytes(is_dtype t, int64_t cols);
// Safetensors spelling: "F32", "F16", "BF16"; then "Q8_0", "Q4_0", "INT8".
const char *is_dtype_name(is_dtype t);
// Accepts the safetensors spelling and the CLI spelling ("f32", "bf16", "f16",
// "q8_0", "q4_0", "int8"). Returns 0 on success, -1 for an unknown name.
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

// Functions the CUDA backend's device code shares with the host (one definition,
// so the bits agree).
#ifdef __CUDACC__
#define IS_HOST_DEVICE __host__ __device__
#else
#define IS_HOST_DEVICE
#endif

// Round to nearest even, overflow to infinity, subnormals kept, NaN quiet.
static inline IS_HOST_DEVICE uint16_t is_f32_to_f16(float f) {
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

// Converts n elements between any two plain dtypes (same dtype: memcpy).
void is_dtype_convert(void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n);

#endif
