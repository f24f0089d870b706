// fuzz_workload.c — a serve-bench workload file (bench/serve_workload.h): JSONL or
// a ShareGPT-style array, told apart by the first byte as a file without a known
// extension is. is_workload_make builds requests within the limits it promises
// (lengths >= 1, prompt + output within the context, arrivals in order), or
// gives an error with a message and nothing built.
#include <stdlib.h>
#include <string.h>

#include "bench/serve_workload.h"
#include "fuzz.h"

// Whitespace-separated words: a tokenizer stand-in with the counter's contract.
static int count_words(void *user, const char *text, is_err *err) {
    (void)user;
    (void)err;
    int n = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\n' || *p == '\t') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ' && *p != '\n' && *p != '\t') p++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".workload");
    is_workload_spec sp = {.arrival = {.kind = IS_ARRIVAL_POISSON, .rate = 4},
                           .prompt_len = {.kind = IS_LEN_FIXED, .a = 16},
                           .out_len = {.kind = IS_LEN_UNIFORM, .a = 1, .b = 64},
                           .file = path, .max_context = 4096, .seed = 1, .count = count_words};
    is_workload w;
    is_err err = {{0}};
    if (is_workload_make(&sp, &w, &err)) {
        if (!err.msg[0] || w.n != 0 || w.req != NULL) abort();
        return 0;
    }
    for (int i = 0; i < w.n; i++) {
        const is_serve_req *r = &w.req[i];
        if (r->prompt_len < 1 || r->out_len < 1 || (long)r->prompt_len + r->out_len > sp.max_context) abort();
        if (i > 0 && r->t_arrival < w.req[i - 1].t_arrival) abort();
        if (r->prompt && count_words(NULL, r->prompt, &err) != r->prompt_len) abort();
    }
    is_workload_free(&w);
    return 0;
}
