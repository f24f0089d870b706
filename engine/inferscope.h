// inferscope.h — the public C API: load a model, open a session (KV cache and
// scratch on a backend), run forward passes over batches of sequences, generate.
// The CLI (engine/cli.c) is a thin layer over these calls.
#ifndef INFERSCOPE_H
#define INFERSCOPE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "engine/kv_cache.h"
#include "engine/model.h"
#include "engine/sampler.h"
#include "kernels/backend.h"

typedef struct is_session_opts {
    double kv_budget_mib;   // KV cache memory; <= 0: default (IS_DEFAULT_KV_BUDGET_MIB)
    int block_size;         // tokens per KV block; <= 0: IS_DEFAULT_BLOCK_SIZE
    int max_seqs;           // sequences alive at once; <= 0: 64
    int max_batch_tokens;   // tokens per forward chunk (longer batches are split); <= 0: 512
    double kv_mem_fraction; // > 0: the KV budget is this fraction of the backend's free memory
                            // after the activations (replaces kv_budget_mib); must be <= 1
} is_session_opts;

#define IS_DEFAULT_KV_BUDGET_MIB 1024.0
#define IS_DEFAULT_BLOCK_SIZE 16

// MiB of one KV block of block_size tokens (K and V, every layer, in kv_dtype:
// the backend's kv_dtype).
double is_kv_block_mib(const is_config *c, int block_size, is_dtype kv_dtype);
// MiB of KV budget that fraction (0, 1] of free_bytes gives; 0 when either is out of range.
double is_kv_budget_from_free(double free_bytes, double fraction);

typedef struct is_session is_session;

int is_session_create(is_model *m, const is_session_opts *opts, is_session **out, is_err *err);
void is_session_free(is_session *s);
const is_kv_cache *is_session_kv(const is_session *s);
is_model *is_session_model(const is_session *s);
int is_session_kv_capacity_tokens(const is_session *s);
is_dtype is_session_kv_dtype(const is_session *s); // element type of the K and V pools

// Sequences: ids index the KV cache's sequences.
int is_seq_new(is_session *s, is_err *err);
void is_seq_free(is_session *s, int seq);
int is_seq_len(const is_session *s, int seq);
int is_seq_fork(is_session *s, int seq, is_err *err);
void is_seq_truncate(is_session *s, int seq, int len);

// The prefix cache of the session's KV cache (engine/kv_cache.h, is_kv_prefix_*):
// off until enabled; the scheduler (engine/scheduler.h) drives it.
void is_session_prefix_enable(is_session *s);
int is_seq_prefix_attach(is_session *s, int seq, const int32_t *tokens, int n_tokens, int max_blocks);
uint64_t is_seq_prefix_register(is_session *s, int seq, int bi, uint64_t parent_key, const int32_t *tokens);
void is_session_prefix_evict_all(is_session *s);
int is_session_kv_available(const is_session *s); // blocks free or evictable
int is_session_block_size(const is_session *s);
int is_session_max_batch_tokens(const is_session *s);
int is_session_kv_blocks_needed(const is_session *s, int seq, int new_len);

// Appends tok[i] to sequence seq[i] for i < n (tokens of one sequence take
// consecutive positions in the order given) and runs the model over them, in
// chunks of max_batch_tokens. For every i with want[i] set (want NULL: none),
// writes vocab_size logits to the next row of logits. Checks first that every
// position fits max_position_embeddings and the KV cache; on error nothing is
// appended.
int is_forward(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
               float *logits, is_err *err);
// As is_forward, but for every i with want[i] the backend samples the next token
// from the logits under the next entry of req and only its id comes back, to the
// next entry of ids. Only for backends that sample (is_session_samples_on_backend).
int is_forward_sample(is_session *s, int n, const int32_t *tok, const int32_t *seq, const bool *want,
                      const is_sample_req *req, int32_t *ids, is_err *err);
bool is_session_samples_on_backend(const is_session *s);

// ---- generation ----
// Called after each generated token of a sequence with all its tokens so far;
// returns true to end that sequence there (stop strings).
typedef bool (*is_gen_stop_fn)(void *user, int seq_index, const int32_t *tokens, int n_tokens);

typedef struct is_gen_opts {
    int n_gen;                 // tokens to generate per sequence (>= 1)
    bool ignore_eos;           // keep going past an EOS token
    is_sampler_params sampler; // sequence i samples from stream i of the seed
    double t_submit;           // is_now_s() when the request arrived (before tokenizing); 0: on entry
    // NULL: each prompt starts a new sequence, freed at the end. Otherwise the
    // n_prompts sequences to continue: each already holds a context (a pre-filled
    // depth), the prompt is appended after it, and at the end (or on error) the
    // sequence is truncated back to the length it had on entry, not freed.
    const int *seqs;
    // strategies beyond sampling (engine/beam.c, engine/speculative.c); 0/NULL: off
    int beam_width;            // beam search with this many beams (sampler unused)
    float length_penalty;      // beam: hypotheses of n tokens score (sum of log-probs) / n^length_penalty
    is_session *draft;         // speculative decoding: the draft model's session (same vocabulary)
    int spec_k;                // speculative: tokens the draft proposes per step (>= 1)
    is_gen_stop_fn stop;       // NULL: no stop check
    void *stop_user;
} is_gen_opts;

// Statistics of a strategy's steps (zero where they do not apply).
typedef struct is_gen_stats {
    long steps;            // decode steps after the prefill (speculative: draft + verify rounds)
    long rounds;           // speculative: draft + verify rounds summed over sequences (steps x running)
    long drafted;          // speculative: tokens proposed by the draft
    long accepted;         // speculative: proposals the target accepted
    double draft_s;        // speculative: wall time of the draft's forwards (its prefill included)
    double verify_s;       // speculative: wall time of the target's verification forwards
} is_gen_stats;

// Beam search: the finished hypotheses of one prompt, best first.
typedef struct is_beam_hyps {
    int n;
    int32_t **tokens;      // [n][len[h]]
    int *len;
    double *score;         // sum of log-probs / len^length_penalty
    double *logprob;       // sum of log-probs
} is_beam_hyps;

typedef struct is_gen_result {
    int n_seqs;
    int32_t **tokens;      // [n_seqs][n_tokens[i]] generated ids
    int *n_tokens;
    double **token_time;   // [n_seqs][n_tokens[i]] seconds since t_submit when each id reached the host
    // timings, seconds since t_submit (before the first forward)
    double t_first;        // first generated ids of the whole batch on the host (TTFT)
    double t_done;
    double prefill_s;      // wall time of the prefill forward(s)
    double decode_s;       // wall time from t_first to t_done
    long n_prompt_tokens;  // summed over the batch
    long n_decode_tokens;  // generated after the first, summed over the batch
    is_gen_stats stats;
    is_beam_hyps *hyps;    // beam search: [n_seqs]; else NULL
} is_gen_result;

// Called after every step with the ids just produced (NULL: none).
typedef void (*is_gen_callback)(void *user, int seq_index, int32_t token);

// Runs each prompt as its own sequence: one batched prefill, then decode steps
// over the sequences still running. Sequences are freed at the end. With
// beam_width or draft set, runs beam search or speculative decoding instead;
// tokens delivered by one step share their timestamp.
int is_generate(is_session *s, int n_prompts, const int32_t *const *prompts, const int *prompt_lens,
                const is_gen_opts *opts, is_gen_callback cb, void *user, is_gen_result *res,
                is_err *err);
void is_gen_result_free(is_gen_result *res);

double is_now_s(void); // monotonic clock, seconds

#endif
