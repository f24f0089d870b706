// strategy.h — decoding strategy spec strings, shared by `generate` and
// `bench --strategy`:
//   greedy
//   sample:t=0.8,k=40,p=0.95,minp=0.05,rep=1.1,seed=1
//   beam:w=4,lp=1.0
//   spec:k=4,draft=MODEL[,dseed=S][,t=T,topk=K,p=P,minp=M,rep=R,seed=S]
// In spec, k is the number of tokens the draft proposes per step and draft is
// a model directory or preset:NAME ("self": the target itself; dseed: the
// weight seed of a preset draft, default the run's --seed); verification
// is greedy unless t > 0 is given, and then samples with the other keys (the
// top-k key is spelled topk there, since k is taken). Values hold no commas.
// Declares: is_strategy, is_strategy_parse, is_strategy_format, is_strategy_open_draft,
// is_strategy_kv_blocks, is_strategy_max_seqs, is_strategy_sessions_open, is_strategy_gen_opts.
#ifndef IS_STRATEGY_H
#define IS_STRATEGY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "engine/inferscope.h"
#include "engine/sampler.h"

typedef enum { IS_STRATEGY_GREEDY, IS_STRATEGY_SAMPLE, IS_STRATEGY_BEAM, IS_STRATEGY_SPEC } is_strategy_kind;

#define IS_STRATEGY_DRAFT_MAX 512

typedef struct is_strategy {
    is_strategy_kind kind;
    is_sampler_params sampler; // greedy, beam: temperature 0; spec: the verification's settings
    bool seed_given;           // "seed=" was in the spec (else the run's --seed is used)
    int beam_width;            // beam: W >= 1
    float length_penalty;      // beam: a hypothesis of n tokens scores (sum of log-probs) / n^lp
    int spec_k;                // spec: tokens drafted per step, >= 1
    char draft[IS_STRATEGY_DRAFT_MAX]; // spec: the draft model
    bool draft_seed_given;     // spec: "dseed=" was in the spec
    uint64_t draft_seed;
} is_strategy;

// Sampling defaults when a key is absent: t=0.8, k=40, p=0.95 (common serving defaults);
// min-p and the repetition penalty are off unless given.
#define IS_SAMPLE_DEFAULT_T 0.8f
#define IS_SAMPLE_DEFAULT_K 40
#define IS_SAMPLE_DEFAULT_P 0.95f
#define IS_BEAM_DEFAULT_W 4
#define IS_BEAM_DEFAULT_LP 1.0f
#define IS_SPEC_DEFAULT_K 4

// Parses spec; a malformed spec, an unknown strategy or key, a missing draft,
// or a value out of range is an error naming it.
int is_strategy_parse(const char *spec, is_strategy *out, is_err *err);

// Canonical text: every key written, in a fixed order (min-p and the penalty
// only when on), so equal strategies print equal: "sample:t=0.8,k=40,p=0.95,seed=1".
void is_strategy_format(const is_strategy *s, char *buf, size_t n);

// The draft model of a spec strategy. "self", or the target's own source with
// no dseed, shares the target's weights (*out = target: not to be freed);
// else the draft is loaded on be in dtype (-1: automatic) with dseed or seed.
// A draft whose vocabulary size differs from the target's is an error.
int is_strategy_open_draft(const is_strategy *st, is_model *target, int dtype, uint64_t seed, is_backend *be,
                           is_model **out, is_err *err);

// KV blocks of block_size tokens that n prompts of lens tokens (after a held
// context of held tokens each) and n_gen generated tokens need under st; a
// spec draft needs as many of its own.
long is_strategy_kv_blocks(const is_strategy *st, int n, const int *lens, long held, int n_gen, int block_size);
// Sequences alive at once for n prompts.
int is_strategy_max_seqs(const is_strategy *st, int n);
// What a run asks of the KV cache: n prompts of lens tokens, each after held
// tokens already in its sequence, and n_gen generated tokens; spare_blocks more.
typedef struct is_strategy_need {
    int n;
    const int *lens;
    long held;
    int n_gen;
    long spare_blocks;
} is_strategy_need;

// The sessions a run of st needs on m: for spec, the draft's session on draft
// (is_strategy_open_draft) first, then the target's. so: the target's options;
// its max_seqs is raised to what st needs; with no KV budget and no fraction of
// free memory, the budget is what need takes. The draft holds what need takes
// unless so gives a budget (a fraction is the target's alone). *draft_session is
// NULL when st is not spec. On error nothing is left open.
int is_strategy_sessions_open(const is_strategy *st, is_model *m, is_model *draft, const is_session_opts *so,
                              const is_strategy_need *need, is_session **target, is_session **draft_session,
                              is_err *err);

// Sets the strategy's fields of go (sampler, beam, spec; draft: its session or NULL).
void is_strategy_gen_opts(const is_strategy *st, is_session *draft, is_gen_opts *go);

#endif
