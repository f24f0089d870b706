// model.h — a Llama-family model's weights in backend memory, loaded from a
// Hugging Face directory (config.json + safetensors, one file or shards) or
// generated from a preset with seeded random weights.
#ifndef IS_MODEL_H
#define IS_MODEL_H

#include <stdint.h>

#include "engine/config.h"
#include "engine/safetensors.h"
#include "kernels/backend.h"

typedef struct is_layer {
    is_tensor attn_norm;    // (1, D) F32
    is_tensor wq;           // (H * hd, D)
    is_tensor wk;           // (KV * hd, D)
    is_tensor wv;           // (KV * hd, D)
    is_tensor wo;           // (D, H * hd)
    is_tensor bq, bk, bv;   // (1, H*hd), (1, KV*hd) x2, F32; data NULL unless qkv_bias
    is_tensor bo;           // (1, D) F32; data NULL unless o_bias
    is_tensor ffn_norm;     // (1, D) F32
    is_tensor w_gate;       // (F, D)
    is_tensor w_up;         // (F, D)
    is_tensor w_down;       // (D, F)
} is_layer;

typedef struct is_model {
    is_config cfg;
    char source[1024];      // "preset:NAME" or the directory
    is_dtype wdtype;        // dtype of the matrices in backend memory (F32, BF16, or quantized: INT8, Q8_0, Q4_0)
    is_dtype file_dtype;    // dtype found in the files (presets: wdtype)
    uint64_t seed;          // presets only
    is_backend *be;
    is_tensor embed;        // (V, D) in wdtype
    is_tensor out_norm;     // (1, D) F32
    is_tensor lm_head;      // (V, D); aliases embed when tie_word_embeddings (owned = false)
    is_layer *layers;       // [n_layers]
    float *rope_inv_freq;   // [hd / 2] host
    is_tensor rope_freq;    // (1, hd / 2) F32: the same in backend memory
    is_st_file *files;      // mapped safetensors kept open while tensors alias them
    int n_files;
    struct is_gguf *gguf;   // a mapped GGUF file kept open likewise (NULL when none)
} is_model;

// How a named weight maps onto the model: the Hugging Face tensor name, where it
// lives, and its expected shape. kind: matrix (wdtype), vector (F32, norms and
// biases). init: how presets fill it.
typedef enum { IS_WKIND_MATRIX, IS_WKIND_VECTOR } is_wkind;
typedef struct is_weight_ref {
    char name[96];
    is_tensor *t;
    is_wkind kind;
    int64_t rows, cols;   // Hugging Face shape [rows, cols] (vectors: [cols], rows = 1)
    float init_const;     // presets: vectors that are norms are filled with this
    bool is_norm;
} is_weight_ref;

// Every weight of a model with config cfg (the lm_head only when not tied).
// Returns the count; refs is malloc'd.
int is_model_weight_refs(is_model *m, is_weight_ref **refs);

typedef struct is_model_opts {
    int dtype;       // -1: automatic (F32 files: F32, F16/BF16 files and presets: BF16, GGUF: the type of
                     // its first layer's attn_q), else is_dtype (quantized ones: quantized at load)
    uint64_t seed;   // presets
} is_model_opts;

// spec: a directory holding config.json and model.safetensors (or
// model.safetensors.index.json with shards), a GGUF file (a name ending in .gguf:
// architecture llama or qwen2; F32, F16, BF16, Q8_0 and Q4_0 tensors), or "preset:NAME".
int is_model_load(const char *spec, const is_model_opts *opts, is_backend *be, is_model **out,
                  is_err *err);
void is_model_free(is_model *m);
// Bytes of weights in backend memory.
double is_model_weight_bytes(const is_model *m);
// Whether a model of config cfg can hold its matrices in dtype t (F32, BF16, or a
// quantized format whose blocks divide every row); an error naming source otherwise.
int is_model_check_dtype(const is_config *cfg, is_dtype t, const char *source, is_err *err);
// Bytes of a rows x cols weight held in dtype t (quantized formats: their scales included).
double is_model_tensor_bytes(is_dtype t, int64_t rows, int64_t cols);
// Host memory available for new allocations (MemAvailable), in bytes; -1 when unknown.
double is_host_mem_available(void);
// Free and total bytes where be's tensors live: the device's (mem_info) for a
// device backend, else the host's MemAvailable (-1 when unknown) and total -1.
int is_backend_free_memory(is_backend *be, double *free_bytes, double *total_bytes, is_err *err);

// Writes config.json and model.safetensors (dtype F32, F16 or BF16) into dir,
// creating it when needed. Files are written to temporary names and renamed.
int is_model_export(is_model *m, const char *dir, is_dtype dtype, is_err *err);
// Writes the model as one GGUF file (architecture llama or qwen2, the names and q/k
// row layout llama.cpp reads) with matrices in dtype (F32, F16, BF16, Q8_0 or Q4_0;
// norms and biases F32), Llama 3's RoPE scaling as rope_freqs.weight, and tok's
// vocabulary (NULL: none). A model held in dtype is written byte for byte as held
// (m on the cpu backend); otherwise each row is converted or quantized
// (base/quant.h). Written under a temporary name and renamed when complete.
struct is_tokenizer;
int is_model_export_gguf(is_model *m, const char *path, is_dtype dtype, const struct is_tokenizer *tok,
                         is_err *err);

// ---- presets ----
typedef struct is_preset {
    const char *name;
    const char *description;
    is_config cfg;
} is_preset;

const is_preset *is_preset_find(const char *name);
int is_preset_count(void);
const is_preset *is_preset_at(int i);
// Builds a model with the given config and random weights: matrices and
// embeddings normal(0, 0.02), biases normal(0, 0.02), norm weights 1.0.
int is_model_from_config(const is_config *cfg, const char *source, is_dtype dtype, uint64_t seed,
                         is_backend *be, is_model **out, is_err *err);

#endif
