// fuzz_tiktoken.c — a tiktoken rank file ("base64-token rank" per line) under
// each encoding's pattern and special tokens. A file that loads encodes a fixed
// text to ids inside its vocabulary, and the input's first bytes to ids that
// decode back to exactly those bytes.
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".tiktoken");
    // the encoding by the input's length: each pattern gets its share of inputs
    static const char *const enc[] = {"r50k_base", "p50k_base", "cl100k_base", "o200k_base"};
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    if (is_tok_load_tiktoken(path, enc[size % 4], &t, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    fz_tok_exercise(t, "Hello world, 123 456789!\n<|endoftext|>", 38);
    // a rank file is lossless: any bytes, encoded as text, decode to themselves
    size_t len = size < 200 ? size : 200;
    int32_t *ids = NULL;
    int n = is_tok_encode(t, (const char *)data, len, false, &ids, &err);
    if (n < 0) {
        if (!err.msg[0]) abort();
    } else {
        char *out = NULL;
        size_t out_len = 0;
        if (is_tok_decode(t, ids, n, false, &out, &out_len, &err) || out_len != len || memcmp(out, data, len))
            abort();
        free(out);
        free(ids);
    }
    is_tok_free(t);
    return 0;
}
