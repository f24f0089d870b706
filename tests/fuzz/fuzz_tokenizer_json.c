// fuzz_tokenizer_json.c — a Hugging Face tokenizer.json: loading (vocabulary,
// merges, added tokens, normalizer, pre-tokenizer, post-processor), then encoding
// and decoding. A tokenizer that loads encodes a few fixed texts and the input's
// own first bytes (any bytes) to ids inside its vocabulary, and decodes them.
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tokenizer.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".json");
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    if (is_tok_load_hf(path, &t, &err)) {
        if (!err.msg[0]) abort();
        return 0;
    }
    static const char *const texts[] = {"Hello, world! It's 2026.", "  spaces\t\ttabs\n\nlines ",
                                        "caf\xc3\xa9 cafe\xcc\x81 \xe1\x84\x80\xe1\x85\xa1 \xef\xac\x81",
                                        "<|endoftext|><s></s>", "\xff\xfe invalid \xc3"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) fz_tok_exercise(t, texts[i], strlen(texts[i]));
    fz_tok_exercise(t, (const char *)data, size < 256 ? size : 256);
    is_tok_free(t);
    return 0;
}
