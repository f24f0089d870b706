// tokenizer_builtin.c — the built-in GPT-2 vocabulary (data/gpt2.tiktoken; see
// data/README.md), compiled into the binary so presets turn ids into text with
// no download and no data files to find at run time.
#include "engine/tokenizer.h"
#include "engine/tokenizer_internal.h"

__asm__(".section .rodata\n"
        ".balign 16\n"
        ".hidden is_builtin_vocab_start\n"
        ".globl is_builtin_vocab_start\n"
        "is_builtin_vocab_start:\n"
        ".incbin \"" IS_BUILTIN_VOCAB_PATH "\"\n"
        ".hidden is_builtin_vocab_end\n"
        ".globl is_builtin_vocab_end\n"
        "is_builtin_vocab_end:\n"
        ".previous\n");

extern const char is_builtin_vocab_start[];
extern const char is_builtin_vocab_end[];

int is_tok_load_builtin(is_tokenizer **out, is_err *err) {
    size_t len = (size_t)(is_builtin_vocab_end - is_builtin_vocab_start);
    return is_tok_load_tiktoken_mem(is_builtin_vocab_start, len, "r50k_base", "builtin GPT-2 vocabulary",
                                    out, err);
}
