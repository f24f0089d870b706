// stop.c — stop strings on the detokenized text.
#include "engine/stop.h"

#include <stdlib.h>
#include <string.h>

// first occurrence of needle in hay[0, len), or NULL
static const char *stop_find(const char *hay, size_t len, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = 0; m <= len && i <= len - m; i++)
        if (!memcmp(hay + i, needle, m)) return hay + i;
    return NULL;
}

size_t is_stop_cut(const is_stop_strings *st, const char *text, size_t len) {
    size_t cut = len;
    for (int i = 0; i < st->n; i++) {
        const char *f = stop_find(text, len, st->s[i]);
        if (f && (size_t)(f - text) < cut) cut = (size_t)(f - text);
    }
    return cut;
}

bool is_stop_check(void *user, int seq_index, const int32_t *tokens, int n_tokens) {
    (void)seq_index;
    const is_stop_strings *st = user;
    char *text;
    size_t len;
    is_err err;
    if (st->n == 0 || is_tok_decode(st->tok, tokens, n_tokens, true, &text, &len, &err)) return false;
    bool hit = is_stop_cut(st, text, len) < len;
    free(text);
    return hit;
}
