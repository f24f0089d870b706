// fuzz_gguf.c — a GGUF file: header, metadata (every value type, arrays of strings),
// tensor infos and the data section. Whatever it holds, is_gguf_open gives tables
// whose every entry lies inside the mapping, or an error that says what was wrong;
// then every getter runs on every key, every array element is read, every tensor's
// bytes are read (so a length or offset the checks let through is caught by the
// sanitizer), and the config and the tokenizer are built from the metadata, the
// tokenizer then encoding and decoding a few texts.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/config.h"
#include "engine/gguf.h"
#include "fuzz.h"

static unsigned touch(const void *p, size_t n) {
    const unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++) s += b[i];
    return s;
}

// Every typed read of kv: each returns 0, or -1 with a message.
static unsigned read_kv(const is_gguf *g, const is_gguf_kv *kv) {
    unsigned sum = 0;
    is_err err = {{0}};
    uint64_t u;
    int64_t s;
    double d;
    bool b;
    const char *str;
    size_t len;
    const is_gguf_kv *arr;
    int rc[6];
    for (int i = 0; i < 6; i++) {
        err.msg[0] = '\0';
        switch (i) {
        case 0: rc[i] = is_gguf_get_u64(g, kv->key, &u, &err); break;
        case 1: rc[i] = is_gguf_get_i64(g, kv->key, &s, &err); break;
        case 2: rc[i] = is_gguf_get_f64(g, kv->key, &d, &err); break;
        case 3: rc[i] = is_gguf_get_bool(g, kv->key, &b, &err); break;
        case 4: rc[i] = is_gguf_get_str(g, kv->key, &str, &len, &err); break;
        default: rc[i] = is_gguf_get_arr(g, kv->key, IS_GGUF_ARRAY, &arr, &err); break;
        }
        if (rc[i] == 1 || (rc[i] < 0 && !err.msg[0])) abort(); // the key is there; an error says why
    }
    if (rc[4] == 0) sum += touch(str, len);
    if (rc[5] != 0) return sum;
    if (arr != kv) abort();
    for (uint64_t i = 0; i < arr->n; i++) {
        const char *e = is_gguf_arr_str(arr, i, &len);
        if (e) sum += touch(e, len);
        else if (len) abort();
        sum += (unsigned)is_gguf_arr_int(arr, i);
        double f = is_gguf_arr_f64(arr, i);
        sum += isfinite(f) ? 1u : 0u;
    }
    // past the end: nothing
    if (is_gguf_arr_str(arr, arr->n, &len) || len || is_gguf_arr_int(arr, arr->n) != 0) abort();
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write_tmp(data, size, ".gguf");
    is_gguf g;
    is_err err = {{0}};
    if (is_gguf_open(path, &g, &err)) {
        if (!err.msg[0]) abort(); // an error must say what was wrong
        return 0;
    }
    unsigned sum = 0;
    for (int64_t i = 0; i < g.n_kv; i++) {
        if (is_gguf_find(&g, g.kv[i].key) != &g.kv[i]) abort(); // keys are unique
        sum += read_kv(&g, &g.kv[i]);
    }
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const is_gguf_tensor *t = &g.tensors[i];
        if (is_gguf_find_tensor(&g, t->name) != t) abort();
        if (t->n_dims < 1 || t->n_dims > IS_GGUF_MAX_DIMS || t->offset > g.data_size ||
            t->nbytes > g.data_size - t->offset || (const uint8_t *)t->data != g.data + t->offset)
            abort();
        for (int d = 0; d < IS_GGUF_MAX_DIMS; d++)
            if (t->ne[d] < 0) abort();
        sum += touch(t->data, (size_t)t->nbytes);
        sum += (unsigned)strlen(is_gguf_type_name(t->ggml_type)) + (unsigned)is_gguf_dtype(t->ggml_type);
    }
    is_config cfg;
    err.msg[0] = '\0';
    if (is_gguf_config(&g, &cfg, &err) != 0 && !err.msg[0]) abort();
    is_tokenizer *tok = NULL;
    err.msg[0] = '\0';
    if (is_gguf_tokenizer(&g, &tok, &err) != 0) {
        if (!err.msg[0] || tok) abort();
    } else {
        static const char *const texts[] = {"Hello, world! It's 2026.", "  spaces\t\ttabs\n\nlines 12345",
                                            "<|endoftext|><|begin_of_text|>[TOOL]", "\xff\xfe invalid \xc3"};
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) fz_tok_exercise(tok, texts[i], strlen(texts[i]));
        is_tok_free(tok);
    }
    is_gguf_close(&g);
    return (int)(sum & 0); // sum keeps the reads; the return is always 0
}
