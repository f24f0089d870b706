// rng.c — xoshiro256** for samplers, seeded through splitmix64.
#include "base/rng.h"

void is_rng_seed(is_rng *r, uint64_t seed) {
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {
        z += 0x9e3779b97f4a7c15ULL;
        r->s[i] = is_mix64(z);
    }
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t is_rng_next(is_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double is_rng_uniform(is_rng *r) { return (double)(is_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }
