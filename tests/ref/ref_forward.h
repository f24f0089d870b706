// ref_forward.h — a float64 forward pass of a Llama-family model, written
// straightforwardly and separately from the engine's fast path: full causal
// attention recomputed from scratch, no KV cache, no batching, double math
// (the reference ops of kernels/ref.h).
#ifndef IS_REF_FORWARD_H
#define IS_REF_FORWARD_H

#include "engine/model.h"

typedef struct ref_model ref_model;

// Copies the model's weights (from backend memory, through tensor_get_f32) to doubles.
ref_model *ref_model_create(is_model *m);
void ref_model_free(ref_model *r);
// Logits for every position of tokens[0..n): out is [n][vocab_size].
void ref_forward(const ref_model *r, const int32_t *tokens, int n, double *out);
// Greedy continuation computed by full recompute at every step.
void ref_greedy(const ref_model *r, const int32_t *prompt, int n_prompt, int n_gen, int32_t *out,
                double *top2_gap);

#endif
