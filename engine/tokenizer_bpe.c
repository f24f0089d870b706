// tokenizer_bpe.c — encoding: special tokens, PCRE2 pre-tokenization and the BPE merge loop.
//
// Encoding (tiktoken semantics): special tokens are split out first, the text
// between them is cut into pre-tokens by the regex (text the regex does not match,
// e.g. invalid UTF-8 bytes, becomes pre-tokens of its own, as Hugging Face's
// "Isolated" split does), and each pre-token is looked up whole (tiktoken, or HF
// with ignore_merges) or merged with BPE: repeatedly merge the adjacent pair of
// lowest rank (leftmost on ties) with a binary heap over a linked list of parts,
// O(n log n) per pre-token. tiktoken ranks a pair by the rank of the merged bytes,
// Hugging Face by the pair's index in "merges". Results for pre-tokens that are not
// whole tokens are cached (bounded; the cache is cleared when full).
#include "engine/tokenizer_internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"  // defines: is_errf, is_xmalloc, is_xrealloc
#include "base/strbuf.h" // defines: is_sb_putn

// ---- BPE -------------------------------------------------------------------------

typedef struct is_tok_heap_ent {
    int32_t rank, pos, mid, end, merged;
} heap_ent;

static void scratch(is_tokenizer *t, int n) {
    if (n + 1 > t->s_cap) {
        int c = t->s_cap ? t->s_cap : 64;
        while (c < n + 1) c *= 2;
        t->s_nxt = is_xrealloc(t->s_nxt, sizeof(int32_t) * (size_t)c);
        t->s_prv = is_xrealloc(t->s_prv, sizeof(int32_t) * (size_t)c);
        t->s_tok = is_xrealloc(t->s_tok, sizeof(int32_t) * (size_t)c);
        t->s_alive = is_xrealloc(t->s_alive, (size_t)c);
        t->s_cap = c;
    }
}

static inline bool heap_less(const heap_ent *a, const heap_ent *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(is_tokenizer *t, int *hn, heap_ent e) {
    if (*hn >= t->s_heapcap) {
        t->s_heapcap = t->s_heapcap ? t->s_heapcap * 2 : 64;
        t->s_heap = is_xrealloc(t->s_heap, sizeof(heap_ent) * (size_t)t->s_heapcap);
    }
    heap_ent *h = t->s_heap;
    int i = (*hn)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!heap_less(&e, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
}

static heap_ent heap_pop(is_tokenizer *t, int *hn) {
    heap_ent *h = t->s_heap;
    heap_ent top = h[0];
    heap_ent last = h[--(*hn)];
    int n = *hn, i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n > 0) h[i] = last;
    return top;
}

// Pushes the pair of parts [pos, mid) + [mid, end) when it merges below max_rank.
static inline void push_pair(is_tokenizer *t, const unsigned char *p, int *hn, int pos, int mid, int end,
                             int32_t max_rank) {
    int32_t rank, merged;
    if (t->mode == IS_TOK_TIKTOKEN) {
        rank = is_tok_bmap_get(t, &t->vocab, p + pos, (size_t)(end - pos));
        merged = rank;
    } else {
        const is_tok_pslot *s = is_tok_pmap_get(&t->pairs, t->s_tok[pos], t->s_tok[mid]);
        if (!s) return;
        rank = s->rank;
        merged = s->merged;
    }
    if (rank < 0 || rank >= max_rank) return;
    heap_push(t, hn, (heap_ent){rank, pos, mid, end, merged});
}

int is_tok_bpe(is_tokenizer *t, const unsigned char *p, int n, int32_t max_rank, is_err *err) {
    scratch(t, n);
    int32_t *nxt = t->s_nxt, *prv = t->s_prv, *tok = t->s_tok;
    unsigned char *alive = t->s_alive;
    for (int i = 0; i < n; i++) {
        nxt[i] = i + 1;
        prv[i] = i - 1;
        alive[i] = 1;
        tok[i] = t->byte_id[p[i]];
        if (tok[i] < 0) return is_errf(err, "%s: byte 0x%02x has no token in the vocabulary", t->src, p[i]);
    }
    int hn = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(t, p, &hn, i, i + 1, i + 2, max_rank);
    while (hn > 0) {
        heap_ent e = heap_pop(t, &hn);
        if (!alive[e.pos] || nxt[e.pos] != e.mid || !alive[e.mid] || nxt[e.mid] != e.end) continue;
        alive[e.mid] = 0;
        nxt[e.pos] = e.end;
        if (e.end < n) prv[e.end] = e.pos;
        tok[e.pos] = e.merged;
        if (e.pos > 0) push_pair(t, p, &hn, prv[e.pos], e.pos, e.end, max_rank);
        if (e.end < n) push_pair(t, p, &hn, e.pos, e.end, nxt[e.end], max_rank);
    }
    return 0;
}

// ---- encoding --------------------------------------------------------------------

// cache of pre-token -> ids
typedef struct is_tok_cslot {
    uint64_t h;
    uint32_t boff, ioff;
    uint16_t blen, nids; // blen 0: empty
} cslot;

#define CACHE_SLOTS (1u << 15)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_PIECE 255
#define CACHE_BYTES (1u << 21)
#define CACHE_IDS (1u << 19)

static inline void out_push(is_tokenizer *t, int32_t id) {
    if (t->out_n == t->out_cap) {
        t->out_cap = t->out_cap ? t->out_cap * 2 : 1024;
        t->out = is_xrealloc(t->out, sizeof(int32_t) * t->out_cap);
    }
    t->out[t->out_n++] = id;
}

static void cache_clear(is_tokenizer *t) {
    if (!t->cache) {
        t->cache = is_xmalloc(sizeof(cslot) * CACHE_SLOTS);
        t->cache_b = is_xmalloc(CACHE_BYTES);
        t->cache_i = is_xmalloc(sizeof(int32_t) * CACHE_IDS);
    }
    for (uint32_t i = 0; i < CACHE_SLOTS; i++) t->cache[i].blen = 0;
    t->cache_count = t->cache_nb = t->cache_ni = 0;
}

static int encode_piece(is_tokenizer *t, const unsigned char *p, size_t n, is_err *err) {
    if (t->ignore_merges || n == 1) {
        int32_t id = is_tok_bmap_get(t, &t->vocab, p, n);
        if (id >= 0) {
            out_push(t, id);
            return 0;
        }
    }
    if (n > INT_MAX / 4) return is_errf(err, "pre-token of %zu bytes is too long", n);
    cslot *slot = NULL;
    uint64_t h = 0;
    if (n <= CACHE_MAX_PIECE) {
        if (!t->cache) cache_clear(t);
        h = is_tok_hash_bytes(p, n);
        for (uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
            cslot *s = &t->cache[i];
            if (s->blen == 0) {
                slot = s;
                break;
            }
            if (s->h == h && s->blen == n && memcmp(t->cache_b + s->boff, p, n) == 0) {
                for (int k = 0; k < s->nids; k++) out_push(t, t->cache_i[s->ioff + k]);
                return 0;
            }
        }
    }
    if (is_tok_bpe(t, p, (int)n, INT32_MAX, err) < 0) return -1;
    size_t first = t->out_n;
    for (int i = 0; i < (int)n; i = t->s_nxt[i]) out_push(t, t->s_tok[i]);
    if (slot) {
        size_t k = t->out_n - first;
        if (t->cache_count >= CACHE_MAX_ENTRIES || t->cache_nb + n > CACHE_BYTES ||
            t->cache_ni + k > CACHE_IDS) {
            cache_clear(t);
            for (uint32_t i = (uint32_t)h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1))
                if (t->cache[i].blen == 0) {
                    slot = &t->cache[i];
                    break;
                }
        }
        slot->h = h;
        slot->boff = t->cache_nb;
        slot->ioff = t->cache_ni;
        slot->blen = (uint16_t)n;
        slot->nids = (uint16_t)k;
        memcpy(t->cache_b + t->cache_nb, p, n);
        memcpy(t->cache_i + t->cache_ni, t->out + first, sizeof(int32_t) * k);
        t->cache_nb += (uint32_t)n;
        t->cache_ni += (uint32_t)k;
        t->cache_count++;
    }
    return 0;
}

static int encode_segment(is_tokenizer *t, const unsigned char *s, size_t n, is_err *err) {
    if (n == 0) return 0;
    if (t->add_prefix_space && s[0] != ' ') {
        t->pfx.n = 0;
        is_sb_putn(&t->pfx, " ", 1);
        is_sb_putn(&t->pfx, (const char *)s, n);
        s = (const unsigned char *)t->pfx.p;
        n++;
    }
    size_t gap = 0, off = 0;
    while (off < n) {
        int rc = t->jit ? pcre2_jit_match(t->re, s, n, off, 0, t->md, t->mctx)
                        : pcre2_match(t->re, s, n, off, 0, t->md, t->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return is_errf(err, "%s: pre-tokenizer regex failed at byte %zu: %s", t->src, off, (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->md);
        size_t ms = ov[0], me = ov[1];
        if (me <= ms) { // empty match: step over one character
            off = ms + 1;
            while (off < n && (s[off] & 0xC0) == 0x80) off++;
            continue;
        }
        if (ms > gap && encode_piece(t, s + gap, ms - gap, err) < 0) return -1;
        if (encode_piece(t, s + ms, me - ms, err) < 0) return -1;
        gap = off = me;
    }
    if (gap < n && encode_piece(t, s + gap, n - gap, err) < 0) return -1;
    return 0;
}

// The added tokens an encoding pass looks for: all of them (no normalizer); or,
// as Hugging Face's AddedVocabulary::extract_and_normalize does, those matched in
// the raw text, then, in the normalized text between them, the normalized ones.
enum { ADDED_ALL, ADDED_RAW, ADDED_NORMALIZED };

static bool in_pass(const is_tok_added *a, int pass) {
    return pass == ADDED_ALL || a->normalized == (pass == ADDED_NORMALIZED);
}

// Whether pass has any added token to look for.
static bool pass_scans(const is_tokenizer *t, int pass, bool allow_special) {
    for (int norm = 0; norm < 2; norm++)
        if (pass == ADDED_ALL || norm == (pass == ADDED_NORMALIZED))
            if (t->n_added_of[norm][0] > 0 || (allow_special && t->n_added_of[norm][1] > 0)) return true;
    return false;
}

// Finds the leftmost-longest added token of pass at or after pos; returns its start or len.
static size_t find_added(const is_tokenizer *t, const unsigned char *s, size_t len, size_t pos,
                         bool allow_special, int pass, int *which) {
    for (size_t i = pos; i < len; i++) {
        if (t->one_first) {
            const unsigned char *q = memchr(s + i, t->only_first, len - i);
            if (!q) return len;
            i = (size_t)(q - s);
        }
        unsigned char c = s[i];
        for (int k = t->first_lo[c]; k < t->first_hi[c]; k++) {
            const is_tok_added *a = &t->added[k];
            if ((a->special && !allow_special) || !in_pass(a, pass)) continue;
            if (a->mlen <= len - i && memcmp(s + i, t->bytes + a->moff, a->mlen) == 0) {
                *which = k;
                return i;
            }
        }
    }
    return len;
}

// Encodes s[0..len): its added tokens of pass, and the text between them: that
// text normalized first in the raw pass, else pre-tokenized and merged.
static int encode_text(is_tokenizer *t, const unsigned char *s, size_t len, bool allow_special, int pass,
                       is_err *err) {
    bool scan = pass_scans(t, pass, allow_special);
    size_t pos = 0;
    while (pos < len) {
        int which = -1;
        size_t at = scan ? find_added(t, s, len, pos, allow_special, pass, &which) : len;
        if (at > pos) {
            if (pass == ADDED_RAW) {
                // the nested pass reads norm_out and never normalizes again
                if (is_tok_normalize(t, (const char *)s + pos, at - pos, &t->norm_out, err) < 0 ||
                    encode_text(t, (const unsigned char *)t->norm_out.p, t->norm_out.n, allow_special,
                                ADDED_NORMALIZED, err) < 0)
                    return -1;
            } else if (encode_segment(t, s + pos, at - pos, err) < 0) {
                return -1;
            }
        }
        if (at >= len) break;
        out_push(t, t->added[which].id);
        pos = at + t->added[which].mlen;
    }
    return 0;
}

int is_tok_encode(is_tokenizer *t, const char *text, size_t len, bool allow_special, int32_t **ids,
                  is_err *err) {
    *ids = NULL;
    t->out_n = 0;
    if (encode_text(t, (const unsigned char *)text, len, allow_special, t->n_norm > 0 ? ADDED_RAW : ADDED_ALL,
                    err) < 0)
        return -1;
    if (t->out_n > INT_MAX) return is_errf(err, "too many tokens");
    int32_t *res = malloc(sizeof(int32_t) * (t->out_n ? t->out_n : 1));
    if (!res) return is_errf(err, "out of memory for %zu token ids", t->out_n);
    memcpy(res, t->out, sizeof(int32_t) * t->out_n);
    *ids = res;
    int n = (int)t->out_n;
    if (t->out_cap > (1u << 20)) { // do not hold on to huge buffers
        free(t->out);
        t->out = NULL;
        t->out_cap = 0;
    }
    if (t->norm_out.cap > (1u << 22)) {
        free(t->norm_out.p);
        t->norm_out = (is_strbuf){0};
    }
    t->out_n = 0;
    return n;
}

