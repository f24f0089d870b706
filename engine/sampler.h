// sampler.h — choosing the next token from logits: greedy, or temperature /
// top-k / top-p sampling with a seeded generator.
#ifndef IS_SAMPLER_H
#define IS_SAMPLER_H

#include <stdint.h>

#include "engine/rng.h"

typedef struct is_sampler_params {
    float temperature; // <= 0: greedy (argmax, lowest id on ties)
    int top_k;         // <= 0: off
    float top_p;       // >= 1: off
    uint64_t seed;
} is_sampler_params;

typedef struct is_sampler {
    is_sampler_params p;
    is_rng rng;
    int vocab;
    float *probs;   // [vocab] scratch
    int32_t *idx;   // [vocab] scratch
} is_sampler;

// stream lets several sequences share one seed and still draw different numbers
// (sequence i of a batch uses stream i).
void is_sampler_init(is_sampler *s, const is_sampler_params *p, int vocab, uint64_t stream);
void is_sampler_free(is_sampler *s);
int32_t is_sampler_sample(is_sampler *s, const float *logits);
// argmax with the lowest index on ties
int32_t is_argmax(const float *x, int n);

#endif
