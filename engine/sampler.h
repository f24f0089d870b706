// sampler.h — choosing the next token from logits: greedy, or temperature /
// top-k / min-p / top-p sampling with a seeded generator, and a repetition
// penalty over the tokens a sequence has seen.
#ifndef IS_SAMPLER_H
#define IS_SAMPLER_H

#include <stdint.h>

#include "base/rng.h"

typedef struct is_sampler_params {
    float temperature; // <= 0: greedy (argmax, lowest id on ties)
    int top_k;         // <= 0: off
    float top_p;       // >= 1: off
    uint64_t seed;
    float min_p;       // keep tokens with probability >= min_p * the top probability; <= 0: off
    float rep_penalty; // seen tokens' logits: positive ones / penalty, negative ones * penalty; 0 or 1: off
} is_sampler_params;

typedef struct is_sampler {
    is_sampler_params p;
    is_rng rng;
    int vocab;
    float *probs;   // [vocab] scratch
    int32_t *idx;   // [vocab] scratch
    int32_t *seen;  // [vocab] times each id was counted (repetition penalty on only)
} is_sampler;

// stream lets several sequences share one seed and still draw different numbers
// (sequence i of a batch uses stream i).
void is_sampler_init(is_sampler *s, const is_sampler_params *p, int vocab, uint64_t stream);
void is_sampler_free(is_sampler *s);
int32_t is_sampler_sample(is_sampler *s, const float *logits);
// The distribution is_sampler_sample draws from, dense over the vocabulary
// (probs[vocab], zero outside the kept candidates; greedy: one-hot at the argmax).
// Filters apply in the order top-k, min-p, top-p, on softmax(logits / t).
void is_sampler_probs(is_sampler *s, const float *logits, float *probs);
// A draw from a dense distribution whose weights need not sum to 1 (they must
// not all be zero): the lowest id whose cumulative weight exceeds u * total.
int32_t is_sample_dense(is_rng *r, const float *w, int n);
// Repetition penalty: counts tok as seen (delta +1) or unseen again (-1, for
// rolled-back tokens), and applies the penalty to the ids seen. No-ops when
// the penalty is off.
void is_sampler_count(is_sampler *s, int32_t tok, int delta);
void is_sampler_penalize(const is_sampler *s, float *logits);
// argmax with the lowest index on ties
int32_t is_argmax(const float *x, int n);

#endif
