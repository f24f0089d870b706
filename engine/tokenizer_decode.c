// tokenizer_decode.c — decoding ids to bytes, and the streaming decoder that emits valid UTF-8.
#include "engine/tokenizer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"  // defines: is_errf, is_xmalloc, IS_ASSERT
#include "base/strbuf.h" // defines: is_strbuf, is_sb_putn

// ---- decoding --------------------------------------------------------------------

int is_tok_decode(const is_tokenizer *t, const int32_t *ids, int n, bool placeholders, char **out,
                  size_t *len, is_err *err) {
    *out = NULL;
    *len = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id >= 0 && id < t->vocab_size && t->tok_len[id] >= 0) {
            total += (size_t)t->tok_len[id];
        } else if (placeholders) {
            total += 24;
        } else if (id < 0 || id >= t->vocab_size) {
            return is_errf(err, "id %d is out of range (vocabulary of %d)", id, t->vocab_size);
        } else {
            return is_errf(err, "id %d has no token in the vocabulary", id);
        }
    }
    char *o = malloc(total + 1);
    if (!o) return is_errf(err, "out of memory decoding %d ids", n);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id >= 0 && id < t->vocab_size && t->tok_len[id] >= 0) {
            memcpy(o + k, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]);
            k += (size_t)t->tok_len[id];
        } else {
            k += (size_t)snprintf(o + k, 24, "<|id:%d|>", id);
        }
    }
    o[k] = 0;
    *out = o;
    *len = k;
    return 0;
}

// ---- streaming -------------------------------------------------------------------

static const char REPL[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

// Emits valid UTF-8 from p[0..n), U+FFFD per maximal invalid subpart (the
// Unicode / WHATWG practice). Returns the number of bytes consumed: a trailing
// incomplete but so far valid sequence is left unconsumed unless final. Appends to
// out on every path (nothing, when n is 0), so out->p is set on return.
static size_t utf8_emit(const unsigned char *p, size_t n, bool final, is_strbuf *out) {
    size_t i = 0, run = 0; // run: start of pending valid bytes
    while (i < n) {
        unsigned char b = p[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        int need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 1;
        else if (b == 0xE0) need = 2, lo = 0xA0;
        else if (b >= 0xE1 && b <= 0xEC) need = 2;
        else if (b == 0xED) need = 2, hi = 0x9F;
        else if (b >= 0xEE && b <= 0xEF) need = 2;
        else if (b == 0xF0) need = 3, lo = 0x90;
        else if (b >= 0xF1 && b <= 0xF3) need = 3;
        else if (b == 0xF4) need = 3, hi = 0x8F;
        else need = 0;
        if (need == 0) {
            is_sb_putn(out, (const char *)p + run, i - run);
            is_sb_putn(out, REPL, 3);
            run = ++i;
            continue;
        }
        int k = 1;
        bool bad = false;
        while (k <= need) {
            if (i + (size_t)k >= n) break;
            unsigned char c = p[i + (size_t)k];
            if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
                bad = true;
                break;
            }
            k++;
        }
        if (k > need) {
            i += (size_t)k;
            continue;
        }
        if (!bad && !final) { // incomplete at the end: hold it back
            is_sb_putn(out, (const char *)p + run, i - run);
            return i;
        }
        is_sb_putn(out, (const char *)p + run, i - run);
        is_sb_putn(out, REPL, 3);
        i += (size_t)k;
        run = i;
    }
    is_sb_putn(out, (const char *)p + run, n - run);
    return n;
}

void is_tok_stream_init(is_tok_stream *s) { memset(s, 0, sizeof *s); }

static void stream_bytes(is_tok_stream *s, const unsigned char *p, size_t n, is_strbuf *out) {
    size_t np = (size_t)s->n_pending, total = np + n;
    unsigned char small[256];
    unsigned char *tmp = total <= sizeof small ? small : is_xmalloc(total);
    memcpy(tmp, s->pending, np);
    if (n) memcpy(tmp + np, p, n);
    size_t used = utf8_emit(tmp, total, false, out);
    size_t rest = total - used;
    IS_ASSERT(rest <= 3);
    memcpy(s->pending, tmp + used, rest);
    s->n_pending = (int)rest;
    if (tmp != small) free(tmp);
}

void is_tok_stream_feed(const is_tokenizer *t, is_tok_stream *s, int32_t id, is_strbuf *out) {
    if (id >= 0 && id < t->vocab_size && t->tok_len[id] >= 0) {
        stream_bytes(s, t->bytes + t->tok_off[id], (size_t)t->tok_len[id], out);
    } else {
        char ph[32];
        int n = snprintf(ph, sizeof ph, "<|id:%d|>", id);
        stream_bytes(s, (const unsigned char *)ph, (size_t)n, out);
    }
}

void is_tok_stream_flush(is_tok_stream *s, is_strbuf *out) {
    utf8_emit(s->pending, (size_t)s->n_pending, true, out);
    s->n_pending = 0;
}

