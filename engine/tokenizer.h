// tokenizer.h — byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM, Mistral-Nemo …):
// Hugging Face tokenizer.json or tiktoken rank files, pre-tokenizer regexes
// through PCRE2, added and special tokens, exact byte round trips, and a
// streaming detokenizer that holds back incomplete UTF-8.
#ifndef IS_TOKENIZER_H
#define IS_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/strbuf.h" // defines: is_strbuf

typedef struct is_tokenizer is_tokenizer;

// Limits on what the loaders accept (README, "Tokenizer limits"), so that any
// file, broken or hostile, is refused in bounded time and memory with a message
// naming the field and the limit:
//   ids and ranks below 2^22 (4,194,304): the largest vocabularies in use have
//     about 262,144 entries (Gemma 3; o200k_base 200,019, Llama 3 128,256), 16
//     times less; the id -> token tables are sized by the largest id, 8 bytes an
//     id, so they never take more than 32 MiB whatever the file holds;
//   at most 2^21 merges (Llama 3 has 280,147, Qwen2 151,387);
//   files of at most 64 MiB (the largest tokenizer.json in use, Gemma 3's, is
//     about 33 MB; o200k_base's rank file 3.6 MB);
//   a tokenizer.json of at most 2^22 JSON values (Llama 3's has about a million),
//     counted before the file is parsed: the parsed tree costs 80 to 170 bytes a
//     value, so a file at the limits takes some 350 to 700 MB to load or refuse.
#define IS_TOK_MAX_ID (1 << 22)
#define IS_TOK_MAX_MERGES (1 << 21)
#define IS_TOK_MAX_FILE_BYTES ((size_t)64 << 20)
#define IS_TOK_MAX_JSON_VALUES (1 << 22)

// A Hugging Face tokenizer.json (model type BPE, ByteLevel pre-tokenizer/decoder,
// optional Split regex, added tokens, ignore_merges, BOS post-processing).
int is_tok_load_hf(const char *path, is_tokenizer **out, is_err *err);
// A tiktoken rank file ("base64-token rank" per line) with a named pattern and
// its special tokens: r50k_base (GPT-2), p50k_base, cl100k_base, o200k_base.
int is_tok_load_tiktoken(const char *path, const char *encoding, is_tokenizer **out, is_err *err);
// The built-in GPT-2 vocabulary (data/gpt2.tiktoken, compiled into the binary).
int is_tok_load_builtin(is_tokenizer **out, is_err *err);
// spec: "builtin", a tokenizer.json path, a model directory holding tokenizer.json,
// or ENCODING:PATH for a tiktoken rank file (e.g. cl100k_base:/x/cl100k_base.tiktoken).
int is_tok_load(const char *spec, is_tokenizer **out, is_err *err);
void is_tok_free(is_tokenizer *t);

// Ids 0..vocab_size-1 (ranks, added and special tokens).
int is_tok_vocab_size(const is_tokenizer *t);
// BOS id to prepend (tokenizer.json post-processor), or -1.
int is_tok_bos(const is_tokenizer *t);

// Encodes len bytes of text (any bytes, not only valid UTF-8). Special tokens are
// matched before pre-tokenization when allow_special, else treated as text.
// Returns the number of ids (*ids malloc'd), or -1 with err.
int is_tok_encode(is_tokenizer *t, const char *text, size_t len, bool allow_special, int32_t **ids,
                  is_err *err);

// The raw bytes of ids (malloc'd, NUL-terminated, length in *len). An id outside
// the vocabulary is an error naming it, unless placeholders is set: then it
// decodes as the visible text "<|id:N|>".
int is_tok_decode(const is_tokenizer *t, const int32_t *ids, int n, bool placeholders, char **out,
                  size_t *len, is_err *err);

// Streaming detokenizer: feed ids one at a time, get valid UTF-8 text back.
// Bytes of an incomplete character wait for the next id; invalid sequences come
// out as U+FFFD; flush emits U+FFFD for an incomplete tail. Ids outside the
// vocabulary come out as "<|id:N|>".
typedef struct is_tok_stream {
    unsigned char pending[8];
    int n_pending;
} is_tok_stream;

void is_tok_stream_init(is_tok_stream *s);
// Appends the text completed by id to out. Both calls leave out->p set
// (NUL-terminated), also when they append nothing.
void is_tok_stream_feed(const is_tokenizer *t, is_tok_stream *s, int32_t id, is_strbuf *out);
// Appends what is still pending (U+FFFD for an incomplete tail) to out.
void is_tok_stream_flush(is_tok_stream *s, is_strbuf *out);

// Writes a Hugging Face tokenizer.json equivalent to t (vocab in the byte-level
// alphabet, merges derived from ranks, added/special tokens, the pre-tokenizer
// regex) to path, through a temporary file and a rename.
int is_tok_save_hf(const is_tokenizer *t, const char *path, is_err *err);

#endif
