// decode.h — what the decoding strategies share with is_generate (engine-internal).
// Declares: is_gen_check_request, is_gen_eos, is_gen_result_alloc, is_beam_generate,
// is_spec_generate.
#ifndef IS_DECODE_H
#define IS_DECODE_H

#include "engine/inferscope.h"

// Checks a request against the model's context and the KV cache before any
// work: ids in range, positions within max_position_embeddings, and that
// n_prompts sequences holding len + n_gen - 1 tokens each fit the free blocks.
int is_gen_check_request(is_session *s, int n, const int32_t *const *prompts, const int *lens, int n_gen,
                         const int *seqs, is_err *err);
bool is_gen_eos(const is_config *c, int32_t t);
// Room for n_gen ids and timestamps for each of n sequences.
void is_gen_result_alloc(is_gen_result *res, int n, int n_gen);

// is_generate with opts->beam_width >= 1 (engine/beam.c).
int is_beam_generate(is_session *s, int n, const int32_t *const *prompts, const int *lens, const is_gen_opts *opts,
                     is_gen_callback cb, void *user, is_gen_result *res, is_err *err);
// is_generate with opts->draft set (engine/speculative.c).
int is_spec_generate(is_session *s, int n, const int32_t *const *prompts, const int *lens, const is_gen_opts *opts,
                     is_gen_callback cb, void *user, is_gen_result *res, is_err *err);

#endif
