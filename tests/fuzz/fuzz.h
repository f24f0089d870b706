// fuzz.h — shared by the fuzz targets (tests/fuzz/fuzz_*.c). Each target defines
// LLVMFuzzerTestOneInput: libFuzzer drives it in a fuzzing build (ci/fuzz), and
// replay.c drives it over corpus and regression files in every build (ctest
// fuzz_replay_*), so the inputs that once crashed stay tested without a fuzzer.
#ifndef IS_FUZZ_H
#define IS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "engine/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Writes data to this process's scratch file (for loaders that take a path) and
// returns its path; the name ends with suffix (".json", ".safetensors", ...).
const char *fz_write_tmp(const uint8_t *data, size_t size, const char *suffix);
// data as a NUL-terminated string (malloc'd; embedded NULs stay).
char *fz_cstr(const uint8_t *data, size_t size);
// Encodes text with and without special tokens: every id inside the vocabulary,
// decoded (placeholders allowed) and streamed back; then ids at and past the
// vocabulary's ends decoded as placeholders.
void fz_tok_exercise(is_tokenizer *t, const char *text, size_t len);

#endif
