// tokenizer_internal.h — pieces of the tokenizer that other engine files may call
// (the embedded built-in vocabulary parses from memory).
#ifndef IS_TOKENIZER_INTERNAL_H
#define IS_TOKENIZER_INTERNAL_H

#include <stddef.h>

#include "engine/tokenizer.h"

// Parses a tiktoken rank file held in memory (data, len bytes; need not be
// NUL-terminated) with the named encoding's pattern and special tokens
// (r50k_base/gpt2, p50k_base, cl100k_base, o200k_base). source_name names the
// data in error messages ("file:line: ...").
int is_tok_load_tiktoken_mem(const char *data, size_t len, const char *encoding,
                             const char *source_name, is_tokenizer **out, is_err *err);

// The regex pattern of a named tiktoken encoding, or NULL when unknown.
const char *is_tok_encoding_pattern(const char *encoding);

#endif
