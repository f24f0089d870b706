// model_internal.h — what the model's loaders share (model.c: presets and Hugging Face
// directories; model_gguf.c: GGUF files); not part of the engine's interface.
#ifndef IS_MODEL_INTERNAL_H
#define IS_MODEL_INTERNAL_H

#include "engine/model.h"

// A model with config cfg and no weights yet: the layer table and the host RoPE
// frequencies (cfg's scaling applied).
is_model *model_new(const is_config *cfg, const char *source, is_backend *be);
// Copies the RoPE frequencies into backend memory (the rope op reads them there).
int model_rope_upload(is_model *m, is_err *err);
// Sets lm_head to alias the embedding table when the embeddings are tied.
void model_tie(is_model *m);
// The dtype a weight is held in: matrices in the model's, vectors in F32.
is_dtype model_ref_dtype(const is_model *m, const is_weight_ref *w);
// Bytes of every weight in its held dtype; an error naming the first matrix whose
// rows are not a whole number of the format's blocks.
int model_refs_bytes(const is_model *m, const is_weight_ref *refs, int n, double *bytes, is_err *err);
// Refuses a model whose weights cannot fit (new_bytes freshly allocated on the host,
// all_bytes on a device).
int model_check_fit(const is_model *m, double new_bytes, double all_bytes, is_err *err);
// Loads a GGUF file (model_gguf.c).
int model_load_gguf(const char *path, const is_model_opts *opts, is_backend *be, is_model **out, is_err *err);
// The GGUF name of a Hugging Face weight name ("model.layers.3.self_attn.q_proj.weight"
// -> "blk.3.attn_q.weight"); false when it has none.
bool model_gguf_name(const char *hf, char *out, size_t n);
// Whether the rows of weight hf are stored permuted in a GGUF of architecture llama:
// llama.cpp rotates adjacent pairs, so its converter interleaves the two halves of
// each head's rows of q and k (Hugging Face rotates halves).
bool model_gguf_permuted(const is_config *cfg, const char *hf);
// Row permutation between the two layouts, for a matrix of n_heads heads of
// head_dim rows, row_bytes each: to_gguf moves Hugging Face row h*hd + j*hd/2 + i to
// GGUF row h*hd + 2i + j; !to_gguf the inverse.
void model_gguf_permute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes, bool to_gguf);

#endif
