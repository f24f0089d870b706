// stop.h — stop strings: a sequence ends once its detokenized text contains
// one of them; the text shown is cut before the first match.
// Declares: is_stop_strings, is_stop_check (an is_gen_stop_fn), is_stop_cut.
#ifndef IS_STOP_H
#define IS_STOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

typedef struct is_stop_strings {
    const is_tokenizer *tok;
    const char *const *s;  // [n] non-empty strings
    int n;
} is_stop_strings;

// is_gen_stop_fn for user = is_stop_strings: true when the text of tokens holds a stop string.
bool is_stop_check(void *user, int seq_index, const int32_t *tokens, int n_tokens);
// Length of text up to its first stop string (len when none).
size_t is_stop_cut(const is_stop_strings *st, const char *text, size_t len);

#endif
