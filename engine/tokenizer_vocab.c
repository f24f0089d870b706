// tokenizer_vocab.c — the token tables: byte arena, hash maps, id -> bytes, added tokens, byte-level alphabet.
#include "engine/tokenizer_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"  // defines: is_errf, is_xmalloc, is_xcalloc, is_xrealloc, is_xstrdup, IS_ASSERT
#include "base/strbuf.h" // defines: is_strbuf, is_sb_putn

// ---- arena and maps --------------------------------------------------------------

uint32_t is_tok_arena_add(is_tokenizer *t, const void *p, size_t n) {
    if (t->nbytes + n > t->capbytes) {
        size_t c = t->capbytes ? t->capbytes : 4096;
        while (c < t->nbytes + n) c *= 2;
        t->bytes = is_xrealloc(t->bytes, c);
        t->capbytes = c;
    }
    IS_ASSERT(t->nbytes + n < UINT32_MAX);
    uint32_t off = (uint32_t)t->nbytes;
    if (n) memcpy(t->bytes + off, p, n);
    t->nbytes += n;
    return off;
}

void is_tok_bmap_init(is_tok_bmap *m, size_t n) {
    uint32_t cap = 64;
    while (cap < n * 2 + 16) cap *= 2;
    m->s = is_xmalloc(sizeof(is_tok_bslot) * cap);
    for (uint32_t i = 0; i < cap; i++) m->s[i].id = -1;
    m->mask = cap - 1;
    m->count = 0;
}

int32_t is_tok_bmap_put(is_tokenizer *t, is_tok_bmap *m, uint32_t off, uint32_t len, int32_t id) {
    if ((m->count + 1) * 2 > m->mask + 1) {
        is_tok_bmap old = *m;
        is_tok_bmap_init(m, (size_t)(old.mask + 1));
        for (uint32_t i = 0; i <= old.mask; i++)
            if (old.s[i].id >= 0) is_tok_bmap_put(t, m, old.s[i].off, old.s[i].len, old.s[i].id);
        free(old.s);
    }
    const unsigned char *p = t->bytes + off;
    uint64_t h = is_tok_hash_bytes(p, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        is_tok_bslot *s = &m->s[i];
        if (s->id < 0) {
            s->off = off;
            s->len = len;
            s->id = id;
            s->tag = tag;
            m->count++;
            return -1;
        }
        if (s->tag == tag && s->len == len && memcmp(t->bytes + s->off, p, len) == 0) return s->id;
    }
}

void is_tok_pmap_init(is_tok_pmap *m, size_t n) {
    uint32_t cap = 64;
    while (cap < n * 2 + 16) cap *= 2;
    m->s = is_xmalloc(sizeof(is_tok_pslot) * cap);
    for (uint32_t i = 0; i < cap; i++) m->s[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->count = 0;
}

bool is_tok_pmap_put(is_tok_pmap *m, int32_t l, int32_t r, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (uint32_t i = (uint32_t)is_tok_hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        is_tok_pslot *s = &m->s[i];
        if (s->key == UINT64_MAX) {
            s->key = key;
            s->rank = rank;
            s->merged = merged;
            m->count++;
            return true;
        }
        if (s->key == key) return false;
    }
}

// ---- the tokenizer and its tables ------------------------------------------------

is_tokenizer *is_tok_new(int mode, const char *src) {
    is_tokenizer *t = is_xcalloc(1, sizeof *t);
    t->mode = mode;
    t->src = is_xstrdup(src ? src : "");
    t->bos = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = -1;
    return t;
}

void is_tok_free(is_tokenizer *t) {
    if (!t) return;
    free(t->src);
    free(t->bytes);
    free(t->tok_off);
    free(t->tok_len);
    free(t->vocab.s);
    free(t->pairs.s);
    free(t->merge_l);
    free(t->merge_r);
    free(t->added);
    free(t->added_by.s);
    is_tok_norm_free(t);
    free(t->pattern);
    if (t->md) pcre2_match_data_free(t->md);
    if (t->mctx) pcre2_match_context_free(t->mctx);
    if (t->jstack) pcre2_jit_stack_free(t->jstack);
    if (t->re) pcre2_code_free(t->re);
    free(t->s_nxt);
    free(t->s_prv);
    free(t->s_tok);
    free(t->s_alive);
    free(t->s_heap);
    free(t->out);
    free(t->pfx.p);
    free(t->cache);
    free(t->cache_b);
    free(t->cache_i);
    free(t);
}

int is_tok_vocab_size(const is_tokenizer *t) { return t->vocab_size; }
int is_tok_bos(const is_tokenizer *t) { return t->bos; }

void is_tok_table_grow(is_tokenizer *t, int n) {
    if (n <= t->vocab_size) return;
    if (n > t->tok_cap) {
        int c = t->tok_cap ? t->tok_cap : 1024;
        while (c < n) c = c > INT_MAX / 2 ? n : c * 2;
        t->tok_off = is_xrealloc(t->tok_off, sizeof(uint32_t) * (size_t)c);
        t->tok_len = is_xrealloc(t->tok_len, sizeof(int32_t) * (size_t)c);
        t->tok_cap = c;
    }
    for (int i = t->vocab_size; i < n; i++) {
        t->tok_off[i] = 0;
        t->tok_len[i] = -1;
    }
    t->vocab_size = n;
}

// ---- added and special tokens ----------------------------------------------------

// Sorted by first byte, then length descending (longest match first), then id.
static int cmp_added(const void *a, const void *b) {
    const is_tok_added *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->mlen != y->mlen) return x->mlen > y->mlen ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int is_tok_add_added(is_tokenizer *t, const char *content, size_t len, int32_t id, bool special, bool normalized,
                     is_err *err) {
    IS_ASSERT(id >= 0 && id < IS_TOK_MAX_ID); // the loaders check ids
    if (len == 0) return is_errf(err, "%s: added token %d has empty content", t->src, id);
    if (!t->added_by.s) is_tok_bmap_init(&t->added_by, 64);
    uint32_t off = is_tok_arena_add(t, content, len);
    if (is_tok_bmap_put(t, &t->added_by, off, (uint32_t)len, id) >= 0) {
        t->nbytes -= len; // the copy is not kept
        return is_errf(err, "%s: added token '%.*s' appears twice", t->src, (int)(len < 200 ? len : 200), content);
    }
    if (t->n_added == t->added_cap) {
        t->added_cap = t->added_cap ? t->added_cap * 2 : 64;
        t->added = is_xrealloc(t->added, sizeof(is_tok_added) * (size_t)t->added_cap);
    }
    is_tok_added *a = &t->added[t->n_added++];
    a->off = a->moff = off;
    a->len = a->mlen = (uint32_t)len;
    a->id = id;
    a->special = special;
    a->normalized = normalized;
    t->n_added_of[normalized][special]++;
    is_tok_table_grow(t, id + 1);
    t->tok_off[id] = a->off;
    t->tok_len[id] = (int32_t)len;
    return 0;
}

// What each added token matches: with a normalizer, a normalized token matches
// the normalized form of its content (Hugging Face normalizes it as it
// normalizes the text).
static int match_added(is_tokenizer *t, is_err *err) {
    for (int i = 0; i < t->n_added; i++) {
        is_tok_added *a = &t->added[i];
        if (a->normalized && t->n_norm > 0) {
            if (is_tok_normalize(t, (const char *)t->bytes + a->off, a->len, &t->norm_out, err) < 0) return -1;
            if (t->norm_out.n == 0)
                return is_errf(err, "%s: added token %d ('%.*s'): its content normalizes to nothing", t->src,
                               a->id, (int)(a->len < 200 ? a->len : 200), (const char *)t->bytes + a->off);
            a->moff = is_tok_arena_add(t, t->norm_out.p, t->norm_out.n);
            a->mlen = (uint32_t)t->norm_out.n;
        }
        a->first = t->bytes[a->moff];
    }
    return 0;
}

static void finish_added(is_tokenizer *t) {
    if (t->n_added > 1) qsort(t->added, (size_t)t->n_added, sizeof(is_tok_added), cmp_added);
    for (int i = 0; i < 256; i++) t->first_lo[i] = t->first_hi[i] = 0;
    for (int i = 0; i < t->n_added; i++) {
        unsigned char f = t->added[i].first;
        if (t->first_hi[f] == 0) t->first_lo[f] = i;
        t->first_hi[f] = i + 1;
    }
    t->one_first = t->n_added > 0;
    if (t->n_added) t->only_first = t->added[0].first;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].first != t->only_first) t->one_first = false;
}

int is_tok_finish(is_tokenizer *t, is_err *err) {
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_id[b] = is_tok_bmap_get(t, &t->vocab, &c, 1);
    }
    if (match_added(t, err) < 0) return -1;
    finish_added(t);
    return 0;
}

// ---- byte-level alphabet ---------------------------------------------------------

// Bytes 33-126, 161-172 and 174-255 are their own code points; the other 68
// bytes map to 256, 257, ... in byte order (0-32, then 127-160, then 173).
static inline int byte_to_cp(int b) {
    if (b <= 32) return 256 + b;
    if (b >= 127 && b <= 160) return 256 + 33 + (b - 127);
    if (b == 173) return 256 + 67;
    return b;
}

// The byte of a byte-level code point, or -1.
static inline int cp_to_byte(int cp) {
    if (cp < 0 || cp > 256 + 67) return -1;
    if (cp >= 256) {
        int k = cp - 256;
        return k <= 32 ? k : k <= 66 ? 127 + (k - 33) : 173;
    }
    return byte_to_cp(cp) == cp ? cp : -1;
}

long is_tok_bl_decode(const char *s, unsigned char *out) {
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;
    while (*p) {
        int cp;
        if (p[0] < 0x80) {
            cp = p[0];
            p += 1;
        } else if ((p[0] & 0xE0) == 0xC0 && (p[1] & 0xC0) == 0x80) {
            cp = ((p[0] & 0x1F) << 6) | (p[1] & 0x3F);
            p += 2;
        } else {
            return -1;
        }
        int b = cp_to_byte(cp);
        if (b < 0) return -1;
        out[n++] = (unsigned char)b;
    }
    return n;
}

void is_tok_bl_encode(is_strbuf *out, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        int cp = byte_to_cp(p[i]);
        char u[2] = {(char)cp, 0};
        size_t k = 1;
        if (cp >= 0x80) {
            u[0] = (char)(0xC0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3F));
            k = 2;
        }
        is_sb_putn(out, u, k);
    }
}
