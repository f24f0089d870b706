// strategy.h — decoding strategy spec strings, shared by `generate` and
// `bench --strategy`: "greedy", "sample:t=0.8,k=40,p=0.95,seed=1".
// Declares: is_strategy, is_strategy_parse, is_strategy_format.
#ifndef IS_STRATEGY_H
#define IS_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/error.h"
#include "engine/sampler.h"

typedef enum { IS_STRATEGY_GREEDY, IS_STRATEGY_SAMPLE } is_strategy_kind;

typedef struct is_strategy {
    is_strategy_kind kind;
    is_sampler_params sampler; // greedy: temperature 0
    bool seed_given;           // "seed=" was in the spec (else the run's --seed is used)
} is_strategy;

// Sampling defaults when a key is absent: t=0.8, k=40, p=0.95 (common serving defaults).
#define IS_SAMPLE_DEFAULT_T 0.8f
#define IS_SAMPLE_DEFAULT_K 40
#define IS_SAMPLE_DEFAULT_P 0.95f

// Parses spec; a malformed spec, an unknown strategy or key, or a value out of
// range is an error naming it.
int is_strategy_parse(const char *spec, is_strategy *out, is_err *err);

// Canonical text: every key written, in a fixed order ("sample:t=0.8,k=40,p=0.95,seed=1").
void is_strategy_format(const is_strategy *s, char *buf, size_t n);

#endif
