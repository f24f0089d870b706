// gguf.h — memory-mapped reader and streaming writer of GGUF files (version 2 and 3),
// the single-file format of llama.cpp; and the mapping of a GGUF's metadata onto a
// model config and a tokenizer, in both directions.
//
// File layout (little-endian): magic "GGUF", u32 version, u64 tensor count, u64
// metadata count; the metadata key/value pairs (key: u64 length + bytes; u32 value
// type; the value: a scalar, a string, or an array of one element type with a u64
// count); the tensor infos (name, u32 n_dims <= 4, u64 dims ne[0..n_dims) with
// ne[0] the innermost (a row's length), u32 ggml type, u64 offset into the data
// section); padding to the alignment (general.alignment, default 32); the data
// section, each tensor at an aligned offset.
//
// Every count, length, dim and offset is checked before it is used (the format has
// a history of parser overflows): the reader never reads past the mapping, never
// allocates from an unchecked count, and refuses a file naming the field and what
// was wrong (truncated, a count larger than the file could hold, a dim or a size
// that overflows, an offset past the end or unaligned, overlapping tensors, an
// unknown value type or tensor type, a duplicate key or tensor name).
#ifndef IS_GGUF_H
#define IS_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/dtype.h"
#include "base/error.h"

#define IS_GGUF_MAX_DIMS 4
#define IS_GGUF_DEFAULT_ALIGNMENT 32

// Metadata value types (the file's numbering).
typedef enum is_gguf_type {
    IS_GGUF_U8 = 0, IS_GGUF_I8 = 1, IS_GGUF_U16 = 2, IS_GGUF_I16 = 3, IS_GGUF_U32 = 4,
    IS_GGUF_I32 = 5, IS_GGUF_F32 = 6, IS_GGUF_BOOL = 7, IS_GGUF_STRING = 8, IS_GGUF_ARRAY = 9,
    IS_GGUF_U64 = 10, IS_GGUF_I64 = 11, IS_GGUF_F64 = 12,
} is_gguf_type;

// Tensor types (ggml's numbering) that the engine holds; others are read (their
// sizes are known, so the file is still checked) but a model that needs them is
// refused by name.
enum {
    IS_GGML_F32 = 0, IS_GGML_F16 = 1, IS_GGML_Q4_0 = 2, IS_GGML_Q8_0 = 8, IS_GGML_BF16 = 30,
};

typedef struct is_gguf_kv {
    char *key;            // NUL-terminated copy
    is_gguf_type type;
    is_gguf_type arr_type; // element type when type == IS_GGUF_ARRAY
    uint64_t n;            // array: element count; string: byte length; other scalars: 1
    const uint8_t *data;   // the value's bytes in the mapping (array: its first element)
    const uint64_t *str_off; // array of strings: offset of element i's u64 length from data (malloc'd); else NULL
} is_gguf_kv;

typedef struct is_gguf_tensor {
    char *name;                     // NUL-terminated copy
    uint32_t ggml_type;
    int n_dims;
    int64_t ne[IS_GGUF_MAX_DIMS];   // ne[0]: elements per row; unused dims are 1
    uint64_t offset;                // in the data section
    uint64_t nbytes;
    const void *data;               // in the mapping
} is_gguf_tensor;

typedef struct is_gguf {
    char *path;
    void *map;
    size_t map_size;
    uint32_t version;
    uint32_t alignment;
    is_gguf_kv *kv;
    int64_t n_kv;
    is_gguf_tensor *tensors;
    int64_t n_tensors;
    const uint8_t *data;            // data section
    uint64_t data_size;
    // private: kv and tensor indices sorted by key and name (is_gguf_find and
    // is_gguf_find_tensor are binary searches; duplicates are found side by side)
    int64_t *kv_sorted;
    int64_t *tensor_sorted;
} is_gguf;

int is_gguf_open(const char *path, is_gguf *g, is_err *err);
void is_gguf_close(is_gguf *g);
// NULL when absent.
const is_gguf_kv *is_gguf_find(const is_gguf *g, const char *key);
const is_gguf_tensor *is_gguf_find_tensor(const is_gguf *g, const char *name);

// Typed reads of a key. Each returns 0 with the value, 1 when the key is absent
// (err untouched), -1 with an error naming the key when it has another type or a
// value out of range.
int is_gguf_get_u64(const is_gguf *g, const char *key, uint64_t *out, is_err *err); // any integer type, >= 0
int is_gguf_get_i64(const is_gguf *g, const char *key, int64_t *out, is_err *err);  // any integer type
int is_gguf_get_f64(const is_gguf *g, const char *key, double *out, is_err *err);   // F32, F64 or an integer
int is_gguf_get_bool(const is_gguf *g, const char *key, bool *out, is_err *err);
// A string value: *s points into the mapping (not NUL-terminated), *len its length.
int is_gguf_get_str(const is_gguf *g, const char *key, const char **s, size_t *len, is_err *err);
// An array of elem_type (elem_type IS_GGUF_ARRAY: any); *kv for the element reads below.
int is_gguf_get_arr(const is_gguf *g, const char *key, is_gguf_type elem_type, const is_gguf_kv **kv,
                    is_err *err);
// Element i (< kv->n) of an array: a string (pointer into the mapping and length), an
// integer (any integer element type), a float (F32 or F64; an integer element is
// converted). An index past the end or an element of another kind gives NULL (with
// *len 0), 0 or NaN.
const char *is_gguf_arr_str(const is_gguf_kv *kv, uint64_t i, size_t *len);
int64_t is_gguf_arr_int(const is_gguf_kv *kv, uint64_t i);
double is_gguf_arr_f64(const is_gguf_kv *kv, uint64_t i);

// The dtype of a ggml tensor type, or -1 when the engine does not hold it.
int is_gguf_dtype(uint32_t ggml_type);
// The ggml type of a dtype (F32, F16, BF16, Q8_0, Q4_0); -1 for INT8, which GGUF has not.
int is_gguf_ggml_type(is_dtype t);
// ggml's name of a tensor type ("Q6_K"), "unknown" for one it does not know.
const char *is_gguf_type_name(uint32_t ggml_type);

// ---- writer ----
// Metadata and tensor infos are added first, then is_gguf_write streams the file:
// header, metadata, infos, padding, then each tensor's bytes from fill (nbytes of
// them: rows x is_dtype_row_bytes(dtype, ne[0])), each padded to the alignment. The
// file is written under a temporary name in the same directory and renamed into
// place only when complete; on error nothing is left behind. As llama.cpp's gguf-py
// writer: version 3, keys in the order first set (a key set again keeps its place
// and takes the new value), alignment 32 unless general.alignment is set (a u32
// power of two), zero padding after the infos and after every tensor, even the
// last. A misuse of the set/add calls (a bad name, dtype or rank) is reported by
// is_gguf_write. Tensor names are at most 63 bytes, llama.cpp's limit.
typedef struct is_gguf_writer is_gguf_writer;
is_gguf_writer *is_gguf_writer_new(void);
void is_gguf_writer_free(is_gguf_writer *w);
void is_gguf_set_u32(is_gguf_writer *w, const char *key, uint32_t v);
void is_gguf_set_i32(is_gguf_writer *w, const char *key, int32_t v);
void is_gguf_set_u64(is_gguf_writer *w, const char *key, uint64_t v);
void is_gguf_set_f32(is_gguf_writer *w, const char *key, float v);
void is_gguf_set_bool(is_gguf_writer *w, const char *key, bool v);
void is_gguf_set_str(is_gguf_writer *w, const char *key, const char *v);
void is_gguf_set_arr_str(is_gguf_writer *w, const char *key, const char *const *v, const size_t *len, uint64_t n);
void is_gguf_set_arr_i32(is_gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
void is_gguf_set_arr_f32(is_gguf_writer *w, const char *key, const float *v, uint64_t n);
// ne in GGUF order (ne[0] = elements per row). dtype F32, F16, BF16, Q8_0 or Q4_0.
void is_gguf_add_tensor(is_gguf_writer *w, const char *name, is_dtype dtype, int n_dims, const int64_t *ne);
typedef int (*is_gguf_fill_fn)(void *user, int index, void *dst, uint64_t nbytes, is_err *err);
int is_gguf_write(is_gguf_writer *w, const char *path, is_gguf_fill_fn fill, void *user, is_err *err);

// ---- model metadata (engine/gguf_model.c) ----
struct is_config;
struct is_tokenizer;
// The config of general.architecture "llama" or "qwen2": {arch}.embedding_length,
// .feed_forward_length, .block_count, .attention.head_count(_kv), .attention.key_length,
// .attention.layer_norm_rms_epsilon, .rope.freq_base, .context_length, the vocab
// size (from {arch}.vocab_size, else the token list, else token_embd's rows); tied
// embeddings when there is no output.weight; qkv bias when blk.0.attn_q.bias is
// present, o bias when blk.0.attn_output.bias is; bos/eos from tokenizer.ggml.*
// (eot and eom ids, which llama.cpp also stops at, become more EOS ids). RoPE
// scaling "linear" (or the older {arch}.rope.scale_linear) is read; another kind is
// refused by name; Llama 3's scaling comes as the tensor rope_freqs.weight, which
// the model loader reads (the config says none). value_length and
// rope.dimension_count must equal the head size. Another architecture is refused
// by name.
int is_gguf_config(const is_gguf *g, struct is_config *cfg, is_err *err);
// The tokenizer of tokenizer.ggml.model "gpt2" (byte-level BPE): tokens (normal ones
// in the byte-level alphabet; control (3) ones become special added tokens,
// user-defined (4) ones plain added tokens, both as raw text; unused (5) ids have
// no token), merges ranked by index, the pre-tokenizer regex named by
// tokenizer.ggml.pre (GPT-2's for gpt-2, phi-2, mpt, olmo and default or absent —
// llama.cpp's "default" also cuts punctuation runs and digit triples out, which is
// not done here; Llama 3's for llama-bpe, llama3, llama-v3, dbrx, smaug-bpe;
// Qwen2's for qwen2, deepseek-r1-qwen, stablelm2; SmolLM's for smollm, starcoder,
// refact), merges ignored for whole-token pieces as llama.cpp does for llama-bpe;
// BOS added when tokenizer.ggml.add_bos_token is true (absent: llama.cpp's default
// for the pre-tokenizer, true for llama-bpe). Another model kind ("llama":
// SentencePiece) or an unknown pre-tokenizer is refused by name.
int is_gguf_tokenizer(const is_gguf *g, struct is_tokenizer **out, is_err *err);
// The writer's side: the config's keys (u32 sizes, f32 floats, as gguf-py writes
// them; tokenizer.ggml.bos_token_id and the first EOS id as eos_token_id; no key for
// Llama 3 RoPE scaling: the caller writes rope_freqs.weight), and a tokenizer as
// kind "gpt2" with the pre-tokenizer name llama.cpp knows for its regex (gpt-2,
// llama-bpe — smaug-bpe when merges are not ignored —, qwen2, smollm; an error
// naming the regex when it has none, or when the tokenizer has a normalizer or a
// prefix space), the token list padded to cfg's vocab_size with unused "[PADn]"
// tokens (cfg may be NULL; a tokenizer with more ids than cfg's vocab_size is
// written whole, a file llama.cpp would refuse), merges (a tiktoken vocabulary's derived from its ranks),
// bos/eos ids and add_bos_token.
int is_gguf_put_config(is_gguf_writer *w, const struct is_config *cfg, const char *name, is_err *err);
int is_gguf_put_tokenizer(is_gguf_writer *w, const struct is_tokenizer *tok, const struct is_config *cfg,
                          is_err *err);

#endif
