// fuzz_util.c — the scratch file and string copy of fuzz.h.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/strbuf.h"
#include "fuzz.h"

static char scratch[4096];

static void remove_scratch(void) {
    if (scratch[0]) unlink(scratch);
}

const char *fz_write_tmp(const uint8_t *data, size_t size, const char *suffix) {
    if (!scratch[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/inferscope-fuzz-%ld%s", dir && *dir ? dir : "/tmp", (long)getpid(),
                 suffix);
        atexit(remove_scratch);
    }
    FILE *f = fopen(scratch, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
        perror(scratch);
        abort(); // the harness cannot run: not a finding in the code under test
    }
    return scratch;
}

char *fz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

void fz_tok_exercise(is_tokenizer *t, const char *text, size_t len) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids = NULL;
        is_err err = {{0}};
        int n = is_tok_encode(t, text, len, special, &ids, &err);
        if (n < 0) {
            if (!err.msg[0]) abort();
            continue;
        }
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= is_tok_vocab_size(t)) abort();
        char *out = NULL;
        size_t out_len = 0;
        if (is_tok_decode(t, ids, n, true, &out, &out_len, &err) == 0) free(out);
        is_tok_stream s;
        is_tok_stream_init(&s);
        is_strbuf sb = {0};
        for (int i = 0; i < n; i++) is_tok_stream_feed(t, &s, ids[i], &sb);
        is_tok_stream_flush(&s, &sb);
        free(is_sb_take(&sb));
        free(ids);
    }
    // ids at and past the vocabulary's ends decode as placeholders, not as reads
    int32_t edge[] = {0, -1, is_tok_vocab_size(t) - 1, is_tok_vocab_size(t), INT32_MAX};
    char *out = NULL;
    size_t out_len;
    is_err err = {{0}};
    if (is_tok_decode(t, edge, 5, true, &out, &out_len, &err) == 0) free(out);
}
