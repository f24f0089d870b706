// rng.h — seeded random numbers.
//
// is_rng_normal(): counter-based, so element i of a tensor depends only on
// (seed, stream, i): weights can be generated in parallel, in any order, on the
// host or on a device, and the same seed gives the same bytes on every run.
// Normal values come from the Box-Muller transform of two uniforms drawn from a
// splitmix64-style hash of (seed, stream, i / 2).
//
// is_rng (xoshiro256**) is the sequential generator used by samplers.
#ifndef IS_RNG_H
#define IS_RNG_H

#include <math.h>
#include <stdint.h>

// The counter-based generator runs on the host and, compiled by nvcc, on a device.
#ifdef __CUDACC__
#define IS_HOST_DEVICE __host__ __device__
#else
#define IS_HOST_DEVICE
#endif

IS_HOST_DEVICE static inline uint64_t is_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// A stream id from a tensor name (FNV-1a, then mixed).
static inline uint64_t is_rng_stream(const char *name) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return is_mix64(h);
}

// Standard normal values number 2j and 2j+1 of (seed, stream): one Box-Muller pair.
IS_HOST_DEVICE static inline void is_rng_normal_pair(uint64_t seed, uint64_t stream, uint64_t j, float out[2]) {
    uint64_t r = is_mix64(is_mix64(seed ^ 0x9e3779b97f4a7c15ULL) ^ stream ^ is_mix64(j));
    // two 24-bit uniforms; u1 in (0, 1] so log is finite
    float u1 = ((float)(uint32_t)(r >> 40) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = (float)(uint32_t)(r & 0xffffffu) * (1.0f / 16777216.0f);
    float rad = sqrtf(-2.0f * logf(u1));
    float ang = 6.2831853071795864f * u2;
    out[0] = rad * cosf(ang);
    out[1] = rad * sinf(ang);
}

// Standard normal value number i of (seed, stream).
IS_HOST_DEVICE static inline float is_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    float v[2];
    is_rng_normal_pair(seed, stream, i >> 1, v);
    return v[i & 1];
}

typedef struct is_rng {
    uint64_t s[4];
} is_rng;

#ifdef __cplusplus
extern "C" {
#endif
void is_rng_seed(is_rng *r, uint64_t seed);
uint64_t is_rng_next(is_rng *r);
// Uniform in [0, 1) with 53 random bits.
double is_rng_uniform(is_rng *r);
#ifdef __cplusplus
}
#endif

#endif
