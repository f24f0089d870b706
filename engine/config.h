// config.h — model hyper-parameters, read from a Hugging Face config.json.
#ifndef IS_CONFIG_H
#define IS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

#define IS_MAX_EOS 8

// Upper bounds on config.json's sizes, far above any released Llama-family model
// (at most 126 layers, 128 heads, hidden 16384, FFN 53248, vocabulary 262144,
// context 10M) and low enough that a hostile file cannot make the loader allocate
// or loop without bound before the weights are checked against it.
#define IS_CONFIG_MAX_LAYERS 1024
#define IS_CONFIG_MAX_HEADS 1024
#define IS_CONFIG_MAX_HIDDEN 65536
#define IS_CONFIG_MAX_FFN (1 << 20)
#define IS_CONFIG_MAX_VOCAB (1 << 22)
#define IS_CONFIG_MAX_POS (1 << 26)

typedef enum is_rope_scaling {
    IS_ROPE_SCALING_NONE = 0,  // plain RoPE ("default" or absent)
    IS_ROPE_SCALING_LLAMA3 = 1, // Llama 3.1 frequency-dependent scaling
    IS_ROPE_SCALING_LINEAR = 2, // positions divided by factor
} is_rope_scaling;

typedef struct is_config {
    char model_type[32];      // "llama", "qwen2", "mistral", ...
    int hidden_size;          // D
    int intermediate_size;    // F (SwiGLU hidden)
    int n_layers;             // num_hidden_layers
    int n_heads;              // num_attention_heads
    int n_kv_heads;           // num_key_value_heads (GQA); = n_heads when absent
    int head_dim;             // head_dim, or hidden_size / n_heads when absent
    int vocab_size;           // V
    int max_pos;              // max_position_embeddings
    float rms_norm_eps;
    double rope_theta;
    is_rope_scaling rope_scaling;
    double rope_factor;           // rope_scaling.factor
    double rope_low_freq_factor;  // llama3 only
    double rope_high_freq_factor; // llama3 only
    int rope_orig_max_pos;        // rope_scaling.original_max_position_embeddings
    bool tie_word_embeddings;
    bool qkv_bias;            // q/k/v projections carry a bias (attention_bias, or Qwen2)
    bool o_bias;              // o_proj carries a bias (attention_bias in Llama)
    int bos_token_id;         // -1 when absent
    int eos_token_ids[IS_MAX_EOS];
    int n_eos;
} is_config;

// Parses config.json text. source names the file in messages.
int is_config_parse(const char *text, size_t len, const char *source, is_config *cfg, is_err *err);
// Reads and parses a config.json file.
int is_config_load(const char *path, is_config *cfg, is_err *err);
// Checks that sizes are positive and consistent (heads divide, head_dim even, ...).
int is_config_validate(const is_config *cfg, const char *source, is_err *err);
// Serializes to Hugging Face config.json text (malloc'd, NUL-terminated).
// torch_dtype is written as given ("float32", "bfloat16", "float16").
char *is_config_to_json(const is_config *cfg, const char *torch_dtype);

// RoPE inverse frequencies, head_dim/2 of them, with rope scaling applied.
void is_config_rope_inv_freq(const is_config *cfg, double *inv_freq);

// Parameter count: every weight (embedding, and lm_head unless tied, included).
double is_config_n_params(const is_config *cfg);

#endif
