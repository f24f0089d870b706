// presets.c — synthetic models with the exact shapes of public checkpoints.
//
// Shapes are the published config.json values of each model; weights are seeded
// random (see is_model_from_config), so every benchmark runs with no download.
#include <string.h>

#include "engine/model.h"

#define LLAMA3_ROPE(f) \
    .rope_scaling = IS_ROPE_SCALING_LLAMA3, .rope_factor = (f), .rope_low_freq_factor = 1.0, \
    .rope_high_freq_factor = 4.0, .rope_orig_max_pos = 8192

static const is_preset presets[] = {
    {"tiny", "test model: 2 layers, D=64, GQA 4:2, Llama-3 RoPE scaling, 512-token vocab",
     {.model_type = "llama", .hidden_size = 64, .intermediate_size = 192, .n_layers = 2,
      .n_heads = 4, .n_kv_heads = 2, .head_dim = 16, .vocab_size = 512, .max_pos = 256,
      .rms_norm_eps = 1e-5f, .rope_theta = 10000.0, .rope_scaling = IS_ROPE_SCALING_LLAMA3,
      .rope_factor = 8.0, .rope_low_freq_factor = 1.0, .rope_high_freq_factor = 4.0,
      .rope_orig_max_pos = 64, .bos_token_id = 1, .eos_token_ids = {2}, .n_eos = 1}},
    {"smollm2-135m", "shape of HuggingFaceTB/SmolLM2-135M",
     {.model_type = "llama", .hidden_size = 576, .intermediate_size = 1536, .n_layers = 30,
      .n_heads = 9, .n_kv_heads = 3, .head_dim = 64, .vocab_size = 49152, .max_pos = 8192,
      .rms_norm_eps = 1e-5f, .rope_theta = 100000.0, .tie_word_embeddings = true,
      .bos_token_id = 0, .eos_token_ids = {0}, .n_eos = 1}},
    {"qwen2.5-0.5b", "shape of Qwen/Qwen2.5-0.5B (q/k/v bias, tied embeddings)",
     {.model_type = "qwen2", .hidden_size = 896, .intermediate_size = 4864, .n_layers = 24,
      .n_heads = 14, .n_kv_heads = 2, .head_dim = 64, .vocab_size = 151936, .max_pos = 32768,
      .rms_norm_eps = 1e-6f, .rope_theta = 1000000.0, .tie_word_embeddings = true,
      .qkv_bias = true, .bos_token_id = 151643, .eos_token_ids = {151643}, .n_eos = 1}},
    {"tinyllama-1.1b", "shape of TinyLlama/TinyLlama-1.1B (Llama 2 architecture)",
     {.model_type = "llama", .hidden_size = 2048, .intermediate_size = 5632, .n_layers = 22,
      .n_heads = 32, .n_kv_heads = 4, .head_dim = 64, .vocab_size = 32000, .max_pos = 2048,
      .rms_norm_eps = 1e-5f, .rope_theta = 10000.0, .bos_token_id = 1, .eos_token_ids = {2},
      .n_eos = 1}},
    {"llama-3.2-1b", "shape of meta-llama/Llama-3.2-1B",
     {.model_type = "llama", .hidden_size = 2048, .intermediate_size = 8192, .n_layers = 16,
      .n_heads = 32, .n_kv_heads = 8, .head_dim = 64, .vocab_size = 128256, .max_pos = 131072,
      .rms_norm_eps = 1e-5f, .rope_theta = 500000.0, LLAMA3_ROPE(32.0),
      .tie_word_embeddings = true, .bos_token_id = 128000, .eos_token_ids = {128001}, .n_eos = 1}},
    {"llama-3.2-3b", "shape of meta-llama/Llama-3.2-3B",
     {.model_type = "llama", .hidden_size = 3072, .intermediate_size = 8192, .n_layers = 28,
      .n_heads = 24, .n_kv_heads = 8, .head_dim = 128, .vocab_size = 128256, .max_pos = 131072,
      .rms_norm_eps = 1e-5f, .rope_theta = 500000.0, LLAMA3_ROPE(32.0),
      .tie_word_embeddings = true, .bos_token_id = 128000, .eos_token_ids = {128001}, .n_eos = 1}},
    {"llama-3.1-8b", "shape of meta-llama/Llama-3.1-8B",
     {.model_type = "llama", .hidden_size = 4096, .intermediate_size = 14336, .n_layers = 32,
      .n_heads = 32, .n_kv_heads = 8, .head_dim = 128, .vocab_size = 128256, .max_pos = 131072,
      .rms_norm_eps = 1e-5f, .rope_theta = 500000.0, LLAMA3_ROPE(8.0),
      .bos_token_id = 128000, .eos_token_ids = {128001}, .n_eos = 1}},
};

int is_preset_count(void) { return (int)(sizeof presets / sizeof presets[0]); }

const is_preset *is_preset_at(int i) {
    return (i >= 0 && i < is_preset_count()) ? &presets[i] : NULL;
}

const is_preset *is_preset_find(const char *name) {
    for (int i = 0; i < is_preset_count(); i++)
        if (!strcmp(presets[i].name, name)) return &presets[i];
    return NULL;
}
