// tokenizer.c — byte-level BPE: tiktoken rank files and Hugging Face tokenizer.json,
// PCRE2 pre-tokenization, added/special tokens, decoding and streaming decoding.
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
//
// An is_tokenizer holds scratch buffers: encoding is not thread-safe per tokenizer.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "engine/tokenizer.h"
#include "base/fileio.h" // defines: is_read_file, is_write_file_atomic

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/tokenizer_internal.h"

// ---- encodings -------------------------------------------------------------------
// Patterns as js-tiktoken 1.0.21 ships them.

#define PAT_R50K                                                                       \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define PAT_CL100K                                                                     \
    "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)|"      \
    "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"        \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define O200K_CONTR "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)?"
#define PAT_O200K                                                                      \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    O200K_CONTR                                                                        \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    O200K_CONTR                                                                        \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *text;
    int id;
} special_def;

typedef struct {
    const char *name;
    const char *pattern;
    special_def specials[6];
} encoding_def;

static const encoding_def encodings[] = {
    {"r50k_base", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"gpt2", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"p50k_base", PAT_R50K, {{"<|endoftext|>", 50256}, {NULL, 0}}},
    {"cl100k_base",
     PAT_CL100K,
     {{"<|endoftext|>", 100257},
      {"<|fim_prefix|>", 100258},
      {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260},
      {"<|endofprompt|>", 100276},
      {NULL, 0}}},
    {"o200k_base", PAT_O200K, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}, {NULL, 0}}},
};

static const encoding_def *find_encoding(const char *name) {
    for (size_t i = 0; i < sizeof encodings / sizeof encodings[0]; i++)
        if (strcmp(encodings[i].name, name) == 0) return &encodings[i];
    return NULL;
}

const char *is_tok_encoding_pattern(const char *encoding) {
    const encoding_def *e = find_encoding(encoding);
    return e ? e->pattern : NULL;
}

// ---- hashing ---------------------------------------------------------------------

static inline uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0x100000001B3ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    if (n) memcpy(&v, p, n);
    h = (h ^ v) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h;
}

static inline uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

// bytes -> id, keys stored in the tokenizer's byte arena.
typedef struct {
    uint32_t off, len;
    int32_t id; // -1: empty
    uint32_t tag;
} bslot;

typedef struct {
    bslot *s;
    uint32_t mask, count;
} bmap;

// (left id, right id) -> (rank, merged id)
typedef struct {
    uint64_t key; // UINT64_MAX: empty
    int32_t rank, merged;
} pslot;

typedef struct {
    pslot *s;
    uint32_t mask, count;
} pmap;

typedef struct {
    uint32_t off, len;
    int32_t id;
    bool special;
    unsigned char first;
} added_tok;

typedef struct {
    int32_t rank, pos, mid, end, merged;
} heap_ent;

// cache of pre-token -> ids
typedef struct {
    uint64_t h;
    uint32_t boff, ioff;
    uint16_t blen, nids; // blen 0: empty
} cslot;

#define CACHE_SLOTS (1u << 15)
#define CACHE_MAX_ENTRIES (CACHE_SLOTS / 2)
#define CACHE_MAX_PIECE 255
#define CACHE_BYTES (1u << 21)
#define CACHE_IDS (1u << 19)

enum { MODE_TIKTOKEN, MODE_HF };

struct is_tokenizer {
    int mode;
    char *src; // file or source name
    // byte arena: token bytes and added-token contents
    unsigned char *bytes;
    size_t nbytes, capbytes;
    // id -> bytes (len -1: no token)
    uint32_t *tok_off;
    int32_t *tok_len;
    int vocab_size, tok_cap;
    bmap vocab;          // model vocabulary (ranks)
    int32_t byte_id[256]; // single-byte tokens, -1 missing
    pmap pairs;          // HF merges
    int32_t *merge_l, *merge_r;
    int n_merges;
    bool ignore_merges;
    bool add_prefix_space;
    bool bl_regex; // pre-tokenizer was ByteLevel(use_regex=true)
    int bos;
    // added / special tokens sorted by first byte, then length descending
    added_tok *added;
    int n_added, n_special, n_nonspecial;
    int first_lo[256], first_hi[256];
    unsigned char only_first; // all added tokens start with this byte
    bool one_first;
    // regex
    char *pattern;
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    bool jit;
    // scratch
    int32_t *s_nxt, *s_prv, *s_tok;
    unsigned char *s_alive;
    heap_ent *s_heap;
    int s_cap, s_heapcap;
    int32_t *out;
    size_t out_n, out_cap;
    unsigned char *pfx;
    size_t pfx_cap;
    // cache
    cslot *cache;
    uint32_t cache_count;
    unsigned char *cache_b;
    uint32_t cache_nb;
    int32_t *cache_i;
    uint32_t cache_ni;
};

// ---- arena and maps --------------------------------------------------------------

static uint32_t arena_add(is_tokenizer *t, const void *p, size_t n) {
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

static void bmap_init(bmap *m, size_t n) {
    uint32_t cap = 64;
    while (cap < n * 2 + 16) cap *= 2;
    m->s = is_xmalloc(sizeof(bslot) * cap);
    for (uint32_t i = 0; i < cap; i++) m->s[i].id = -1;
    m->mask = cap - 1;
    m->count = 0;
}

static inline int32_t bmap_get(const is_tokenizer *t, const bmap *m, const unsigned char *p, size_t n) {
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        const bslot *s = &m->s[i];
        if (s->id < 0) return -1;
        if (s->tag == tag && s->len == n && memcmp(t->bytes + s->off, p, n) == 0) return s->id;
    }
}

// Inserts key (already in the arena at off); returns the existing id when present.
static int32_t bmap_put(is_tokenizer *t, bmap *m, uint32_t off, uint32_t len, int32_t id) {
    if ((m->count + 1) * 2 > m->mask + 1) {
        bmap old = *m;
        bmap_init(m, (size_t)(old.mask + 1));
        for (uint32_t i = 0; i <= old.mask; i++)
            if (old.s[i].id >= 0) bmap_put(t, m, old.s[i].off, old.s[i].len, old.s[i].id);
        free(old.s);
    }
    const unsigned char *p = t->bytes + off;
    uint64_t h = hash_bytes(p, len);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        bslot *s = &m->s[i];
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

static void pmap_init(pmap *m, size_t n) {
    uint32_t cap = 64;
    while (cap < n * 2 + 16) cap *= 2;
    m->s = is_xmalloc(sizeof(pslot) * cap);
    for (uint32_t i = 0; i < cap; i++) m->s[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->count = 0;
}

static inline const pslot *pmap_get(const pmap *m, int32_t l, int32_t r) {
    if (!m->s) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (uint32_t i = (uint32_t)hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        const pslot *s = &m->s[i];
        if (s->key == UINT64_MAX) return NULL;
        if (s->key == key) return s;
    }
}

// Returns false when the pair is already present.
static bool pmap_put(pmap *m, int32_t l, int32_t r, int32_t rank, int32_t merged) {
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (uint32_t i = (uint32_t)hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        pslot *s = &m->s[i];
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

// ---- construction helpers --------------------------------------------------------

static is_tokenizer *tok_new(int mode, const char *src) {
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
    free(t->pfx);
    free(t->cache);
    free(t->cache_b);
    free(t->cache_i);
    free(t);
}

// Sets the id -> bytes table size to n ids (new ids have no token).
static void tok_table_grow(is_tokenizer *t, int n) {
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

static int compile_pattern(is_tokenizer *t, const char *pat, const char *where, is_err *err) {
    int ec;
    PCRE2_SIZE eo;
    t->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ec, &eo, NULL);
    if (!t->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        return is_errf(err, "%s: pre-tokenizer regex does not compile: %s at offset %zu", where,
                       (const char *)msg, (size_t)eo);
    }
    t->pattern = is_xstrdup(pat);
    t->jit = pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE) == 0;
    t->md = pcre2_match_data_create_from_pattern(t->re, NULL);
    t->mctx = pcre2_match_context_create(NULL);
    if (t->jit) {
        t->jstack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, NULL);
        if (t->jstack) pcre2_jit_stack_assign(t->mctx, NULL, t->jstack);
    }
    return 0;
}

static int cmp_added(const void *a, const void *b) {
    const added_tok *x = a, *y = b;
    if (x->first != y->first) return x->first < y->first ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

// Adds an added/special token (content bytes). Rejects empty contents.
static int add_added(is_tokenizer *t, const char *content, size_t len, int32_t id, bool special,
                     is_err *err) {
    if (len == 0) return is_errf(err, "%s: added token %d has empty content", t->src, id);
    if (id < 0) return is_errf(err, "%s: added token '%s' has negative id %d", t->src, content, id);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->bytes + t->added[i].off, content, len) == 0)
            return is_errf(err, "%s: added token '%s' appears twice", t->src, content);
    t->added = is_xrealloc(t->added, sizeof(added_tok) * (size_t)(t->n_added + 1));
    added_tok *a = &t->added[t->n_added++];
    a->off = arena_add(t, content, len);
    a->len = (uint32_t)len;
    a->id = id;
    a->special = special;
    a->first = (unsigned char)content[0];
    if (special)
        t->n_special++;
    else
        t->n_nonspecial++;
    tok_table_grow(t, id + 1);
    t->tok_off[id] = a->off;
    t->tok_len[id] = (int32_t)len;
    return 0;
}

static void finish_added(is_tokenizer *t) {
    if (t->n_added > 1) qsort(t->added, (size_t)t->n_added, sizeof(added_tok), cmp_added);
    for (int i = 0; i < 256; i++) t->first_lo[i] = t->first_hi[i] = 0;
    for (int i = 0; i < t->n_added; i++) {
        unsigned char f = t->bytes[t->added[i].off];
        if (t->first_hi[f] == 0) t->first_lo[f] = i;
        t->first_hi[f] = i + 1;
    }
    t->one_first = t->n_added > 0;
    if (t->n_added) t->only_first = t->bytes[t->added[0].off];
    for (int i = 0; i < t->n_added; i++)
        if (t->bytes[t->added[i].off] != t->only_first) t->one_first = false;
}

static void finish_common(is_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_id[b] = bmap_get(t, &t->vocab, &c, 1);
    }
    finish_added(t);
}

// ---- base64 ----------------------------------------------------------------------

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Decodes standard base64 (padding optional); returns decoded length or -1.
static long b64decode(const char *s, size_t n, unsigned char *out) {
    while (n > 0 && s[n - 1] == '=') n--;
    if (n % 4 == 1) return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

// ---- tiktoken loading ------------------------------------------------------------

int is_tok_load_tiktoken_mem(const char *data, size_t len, const char *encoding,
                             const char *source_name, is_tokenizer **out, is_err *err) {
    *out = NULL;
    const char *src = source_name ? source_name : "tiktoken data";
    const encoding_def *enc = find_encoding(encoding ? encoding : "");
    if (!enc)
        return is_errf(err,
                       "%s: unknown tiktoken encoding '%s' (expected r50k_base, gpt2, p50k_base, "
                       "cl100k_base or o200k_base)",
                       src, encoding ? encoding : "");
    is_tokenizer *t = tok_new(MODE_TIKTOKEN, src);
    t->ignore_merges = true;
    size_t approx = 0;
    for (size_t i = 0; i < len; i++) approx += data[i] == '\n';
    bmap_init(&t->vocab, approx + 1);
    unsigned char *buf = NULL;
    size_t bufcap = 0;
    size_t pos = 0;
    long line = 0;
    int max_rank = -1;
    while (pos < len) {
        line++;
        const char *ls = data + pos;
        const char *nl = memchr(ls, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - ls) : len - pos;
        pos += ll + (nl ? 1 : 0);
        if (ll > 0 && ls[ll - 1] == '\r') ll--;
        if (ll == 0) continue;
        const char *sp = memchr(ls, ' ', ll);
        if (!sp) {
            is_errf(err, "%s:%ld: expected 'base64-token rank', found no rank", src, line);
            goto fail;
        }
        size_t tl = (size_t)(sp - ls);
        if (tl + 1 > bufcap) {
            bufcap = tl + 64;
            buf = is_xrealloc(buf, bufcap);
        }
        long bl = b64decode(ls, tl, buf);
        if (bl <= 0) {
            is_errf(err, "%s:%ld: token '%.*s' is not valid base64", src, line, (int)(tl < 64 ? tl : 64),
                    ls);
            goto fail;
        }
        const char *rs = sp + 1;
        size_t rl = ll - tl - 1;
        long long rank = 0;
        if (rl == 0 || rl > 10) {
            is_errf(err, "%s:%ld: rank '%.*s' is not a number below 2^31", src, line, (int)rl, rs);
            goto fail;
        }
        for (size_t i = 0; i < rl; i++) {
            if (rs[i] < '0' || rs[i] > '9') {
                is_errf(err, "%s:%ld: rank '%.*s' is not a non-negative integer", src, line, (int)rl, rs);
                goto fail;
            }
            rank = rank * 10 + (rs[i] - '0');
        }
        if (rank >= INT_MAX / 2) {
            is_errf(err, "%s:%ld: rank %lld is too large", src, line, rank);
            goto fail;
        }
        int r = (int)rank;
        tok_table_grow(t, r + 1);
        if (t->tok_len[r] >= 0) {
            is_errf(err, "%s:%ld: rank %d appears twice", src, line, r);
            goto fail;
        }
        uint32_t off = arena_add(t, buf, (size_t)bl);
        int32_t prev = bmap_put(t, &t->vocab, off, (uint32_t)bl, r);
        if (prev >= 0) {
            is_errf(err, "%s:%ld: token '%.*s' appears twice (ranks %d and %d)", src, line, (int)tl, ls,
                    prev, r);
            goto fail;
        }
        t->tok_off[r] = off;
        t->tok_len[r] = (int32_t)bl;
        if (r > max_rank) max_rank = r;
    }
    free(buf);
    buf = NULL;
    if (max_rank < 0) {
        is_errf(err, "%s: no tokens in the rank file", src);
        goto fail;
    }
    for (int i = 0; enc->specials[i].text; i++) {
        int id = enc->specials[i].id;
        if (id < t->vocab_size && t->tok_len[id] >= 0) {
            is_errf(err, "%s: rank %d is also the id of %s's special token %s", src, id, enc->name,
                    enc->specials[i].text);
            goto fail;
        }
        if (add_added(t, enc->specials[i].text, strlen(enc->specials[i].text), id, true, err) < 0)
            goto fail;
    }
    char where[600];
    snprintf(where, sizeof where, "%s (encoding %s)", src, enc->name);
    if (compile_pattern(t, enc->pattern, where, err) < 0) goto fail;
    finish_common(t);
    *out = t;
    return 0;
fail:
    free(buf);
    is_tok_free(t);
    return -1;
}

#define TOK_MAX_FILE_BYTES ((size_t)1 << 30) // rank files and tokenizer.json

int is_tok_load_tiktoken(const char *path, const char *encoding, is_tokenizer **out, is_err *err) {
    *out = NULL;
    char *data;
    size_t len;
    if (is_read_file(path, TOK_MAX_FILE_BYTES, &data, &len, err) < 0) return -1;
    int rc = is_tok_load_tiktoken_mem(data, len, encoding, path, out, err);
    free(data);
    return rc;
}

// is_tok_load_builtin: engine/tokenizer_builtin.c (the vocabulary compiled in).

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

// Decodes a byte-level alphabet string to bytes (out has room for strlen(s));
// returns the length or -1.
static long bl_decode(const char *s, unsigned char *out) {
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

// Appends the byte-level alphabet form of bytes to a growing string.
static void bl_encode(const unsigned char *p, size_t n, char **buf, size_t *cap) {
    if (*cap < 2 * n + 1) {
        *cap = 2 * n + 64;
        *buf = is_xrealloc(*buf, *cap);
    }
    char *o = *buf;
    for (size_t i = 0; i < n; i++) {
        int cp = byte_to_cp(p[i]);
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else {
            *o++ = (char)(0xC0 | (cp >> 6));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = 0;
}

// ---- Hugging Face loading --------------------------------------------------------

static const char *jtype(const cJSON *o) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

static bool jbool(const cJSON *o, const char *k, bool dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return dflt;
}

// A ByteLevel pre-tokenizer entry.
static int hf_bytelevel(is_tokenizer *t, const cJSON *o, const char *field, bool *use_regex, is_err *err) {
    *use_regex = jbool(o, "use_regex", true);
    t->add_prefix_space = jbool(o, "add_prefix_space", false) || t->add_prefix_space;
    (void)field;
    (void)err;
    return 0;
}

static int hf_pretok(is_tokenizer *t, const cJSON *pt, const char **pattern, is_err *err) {
    const char *ty = jtype(pt);
    *pattern = NULL;
    if (!ty) return is_errf(err, "%s: pre_tokenizer: missing or null (expected ByteLevel or Sequence)", t->src);
    if (strcmp(ty, "ByteLevel") == 0) {
        bool ur;
        hf_bytelevel(t, pt, "pre_tokenizer", &ur, err);
        if (!ur) return is_errf(err, "%s: pre_tokenizer: ByteLevel with use_regex false and no Split", t->src);
        *pattern = PAT_R50K;
        t->bl_regex = true;
        return 0;
    }
    if (strcmp(ty, "Sequence") != 0)
        return is_errf(err, "%s: pre_tokenizer: unsupported type '%s' (expected ByteLevel or Sequence)",
                       t->src, ty);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!cJSON_IsArray(arr))
        return is_errf(err, "%s: pre_tokenizer.pretokenizers: expected an array", t->src);
    bool saw_bl = false;
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) {
        const char *et = jtype(e);
        if (!et) return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: missing type", t->src, i);
        if (strcmp(et, "Split") == 0) {
            if (*pattern || saw_bl)
                return is_errf(err,
                               "%s: pre_tokenizer.pretokenizers[%d]: only one Split before ByteLevel is "
                               "supported",
                               t->src, i);
            const cJSON *p = cJSON_GetObjectItemCaseSensitive(e, "pattern");
            const cJSON *rx = cJSON_GetObjectItemCaseSensitive(p, "Regex");
            if (!cJSON_IsString(rx))
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d].pattern: expected {\"Regex\": ...}",
                               t->src, i);
            const cJSON *beh = cJSON_GetObjectItemCaseSensitive(e, "behavior");
            if (!cJSON_IsString(beh) || strcmp(beh->valuestring, "Isolated") != 0)
                return is_errf(err,
                               "%s: pre_tokenizer.pretokenizers[%d].behavior: '%s' is not supported "
                               "(expected Isolated)",
                               t->src, i, cJSON_IsString(beh) ? beh->valuestring : "?");
            if (jbool(e, "invert", false))
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d].invert: true is not supported",
                               t->src, i);
            *pattern = rx->valuestring;
        } else if (strcmp(et, "ByteLevel") == 0) {
            if (saw_bl)
                return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: a second ByteLevel", t->src, i);
            bool ur;
            hf_bytelevel(t, e, "pre_tokenizer", &ur, err);
            saw_bl = true;
            if (ur) {
                if (*pattern)
                    return is_errf(err,
                                   "%s: pre_tokenizer.pretokenizers[%d]: ByteLevel with use_regex true "
                                   "after a Split is not supported",
                                   t->src, i);
                *pattern = PAT_R50K;
                t->bl_regex = true;
            }
        } else {
            return is_errf(err, "%s: pre_tokenizer.pretokenizers[%d]: unsupported type '%s'", t->src, i, et);
        }
        i++;
    }
    if (!saw_bl) return is_errf(err, "%s: pre_tokenizer: no ByteLevel step (only byte-level BPE is supported)", t->src);
    if (!*pattern) return is_errf(err, "%s: pre_tokenizer: no regex (Split or ByteLevel use_regex)", t->src);
    if (t->add_prefix_space && !t->bl_regex)
        return is_errf(err, "%s: pre_tokenizer: add_prefix_space with a Split is not supported", t->src);
    return 0;
}

static int hf_bos(is_tokenizer *t, const cJSON *pp, is_err *err) {
    if (!pp || cJSON_IsNull(pp)) return 0;
    const char *ty = jtype(pp);
    if (!ty) return is_errf(err, "%s: post_processor: missing type", t->src);
    if (strcmp(ty, "ByteLevel") == 0) return 0;
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *e, *arr = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        if (!cJSON_IsArray(arr)) return is_errf(err, "%s: post_processor.processors: expected an array", t->src);
        cJSON_ArrayForEach(e, arr) if (hf_bos(t, e, err) < 0) return -1;
        return 0;
    }
    if (strcmp(ty, "TemplateProcessing") != 0)
        return is_errf(err, "%s: post_processor: unsupported type '%s'", t->src, ty);
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    if (!cJSON_IsArray(single)) return is_errf(err, "%s: post_processor.single: expected an array", t->src);
    const cJSON *first = cJSON_GetArrayItem(single, 0);
    const cJSON *stok = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
    if (!stok) return 0; // starts with the sequence: no BOS
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(stok, "id");
    if (!cJSON_IsString(name)) return is_errf(err, "%s: post_processor.single[0].SpecialToken.id: expected a string", t->src);
    const cJSON *sts = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(sts, name->valuestring);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(st, "ids");
    const cJSON *id0 = cJSON_GetArrayItem(ids, 0);
    if (!cJSON_IsNumber(id0) || cJSON_GetArraySize(ids) != 1)
        return is_errf(err, "%s: post_processor.special_tokens['%s'].ids: expected one id", t->src,
                       name->valuestring);
    t->bos = id0->valueint;
    return 0;
}

static int hf_parse(is_tokenizer *t, const cJSON *root, is_err *err) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return is_errf(err, "%s: model: missing", t->src);
    const char *mt = jtype(model);
    if (!mt && cJSON_GetObjectItemCaseSensitive(model, "merges")) mt = "BPE";
    if (!mt || strcmp(mt, "BPE") != 0)
        return is_errf(err, "%s: model.type: '%s' is not supported (expected BPE)", t->src, mt ? mt : "(none)");
    if (jbool(model, "byte_fallback", false))
        return is_errf(err, "%s: model.byte_fallback: true is not supported (byte-level BPE only)", t->src);
    const cJSON *cp = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    if (cJSON_IsString(cp) && cp->valuestring[0])
        return is_errf(err, "%s: model.continuing_subword_prefix: not supported", t->src);
    const cJSON *ews = cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix");
    if (cJSON_IsString(ews) && ews->valuestring[0])
        return is_errf(err, "%s: model.end_of_word_suffix: not supported", t->src);
    t->ignore_merges = jbool(model, "ignore_merges", false);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return is_errf(err, "%s: model.vocab: expected an object", t->src);
    int nv = cJSON_GetArraySize(vocab);
    bmap_init(&t->vocab, (size_t)nv);
    unsigned char *buf = NULL;
    size_t cap = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= INT_MAX / 2 ||
            e->valuedouble != (double)e->valueint) {
            free(buf);
            return is_errf(err, "%s: model.vocab['%s']: expected a non-negative integer id", t->src, e->string);
        }
        size_t sl = strlen(e->string);
        if (sl + 1 > cap) {
            cap = sl + 64;
            buf = is_xrealloc(buf, cap);
        }
        long bl = bl_decode(e->string, buf);
        if (bl <= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: token '%s' is not in the byte-level alphabet", t->src, e->string);
        }
        int id = e->valueint;
        tok_table_grow(t, id + 1);
        if (t->tok_len[id] >= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: id %d appears twice (at '%s')", t->src, id, e->string);
        }
        uint32_t off = arena_add(t, buf, (size_t)bl);
        if (bmap_put(t, &t->vocab, off, (uint32_t)bl, id) >= 0) {
            free(buf);
            return is_errf(err, "%s: model.vocab: token '%s' appears twice", t->src, e->string);
        }
        t->tok_off[id] = off;
        t->tok_len[id] = (int32_t)bl;
    }
    // merges
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    int nm = cJSON_IsArray(merges) ? cJSON_GetArraySize(merges) : 0;
    if (merges && !cJSON_IsArray(merges) && !cJSON_IsNull(merges)) {
        free(buf);
        return is_errf(err, "%s: model.merges: expected an array", t->src);
    }
    pmap_init(&t->pairs, (size_t)nm);
    t->merge_l = is_xmalloc(sizeof(int32_t) * (size_t)(nm + 1));
    t->merge_r = is_xmalloc(sizeof(int32_t) * (size_t)(nm + 1));
    int rank = 0;
    cJSON_ArrayForEach(e, merges) {
        char *a = NULL, *b = NULL, *tmp = NULL;
        if (cJSON_IsString(e)) {
            tmp = is_xstrdup(e->valuestring);
            char *sp = strchr(tmp, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(tmp);
                free(buf);
                return is_errf(err, "%s: model.merges[%d]: '%s' is not 'left right'", t->src, rank, e->valuestring);
            }
            *sp = 0;
            a = tmp;
            b = sp + 1;
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            a = cJSON_GetArrayItem(e, 0)->valuestring;
            b = cJSON_GetArrayItem(e, 1)->valuestring;
        } else {
            free(buf);
            return is_errf(err, "%s: model.merges[%d]: expected \"a b\" or [\"a\", \"b\"]", t->src, rank);
        }
        size_t la = strlen(a), lb = strlen(b);
        if (la + lb + 1 > cap) {
            cap = la + lb + 64;
            buf = is_xrealloc(buf, cap);
        }
        long ba = bl_decode(a, buf);
        int32_t ia = ba > 0 ? bmap_get(t, &t->vocab, buf, (size_t)ba) : -1;
        size_t oa = ba > 0 ? (size_t)ba : 0;
        long bb = bl_decode(b, buf + oa);
        int32_t ib = bb > 0 ? bmap_get(t, &t->vocab, buf + oa, (size_t)bb) : -1;
        int32_t im = (ia >= 0 && ib >= 0) ? bmap_get(t, &t->vocab, buf, oa + (size_t)bb) : -1;
        if (ia < 0 || ib < 0 || im < 0) {
            int rc = is_errf(err, "%s: model.merges[%d]: '%s' is not in the vocabulary", t->src, rank,
                             ia < 0 ? a : ib < 0 ? b : "(the merged token)");
            if (ia >= 0 && ib >= 0)
                is_errf(err, "%s: model.merges[%d]: the merge of '%s' and '%s' is not in the vocabulary", t->src,
                        rank, a, b);
            free(tmp);
            free(buf);
            return rc;
        }
        free(tmp);
        if (pmap_put(&t->pairs, ia, ib, rank, im)) {
            t->merge_l[t->n_merges] = ia;
            t->merge_r[t->n_merges] = ib;
            t->n_merges++;
        }
        rank++;
    }
    free(buf);
    // added tokens
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return is_errf(err, "%s: added_tokens: expected an array", t->src);
    int ai = 0;
    cJSON_ArrayForEach(e, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(e, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content))
            return is_errf(err, "%s: added_tokens[%d]: expected id and content", t->src, ai);
        bool special = jbool(e, "special", false);
        if (add_added(t, content->valuestring, strlen(content->valuestring), id->valueint, special, err) < 0)
            return -1;
        ai++;
    }
    // normalizer: none, or NFC (accepted, not applied: inputs are taken as already NFC)
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (norm && !cJSON_IsNull(norm)) {
        const char *nt = jtype(norm);
        if (!nt || strcmp(nt, "NFC") != 0)
            return is_errf(err, "%s: normalizer: unsupported type '%s'", t->src, nt ? nt : "?");
    }
    const char *pattern;
    if (hf_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), &pattern, err) < 0) return -1;
    if (hf_bos(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), err) < 0) return -1;
    if (t->bos >= t->vocab_size) return is_errf(err, "%s: post_processor: BOS id %d is not a token", t->src, t->bos);
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "decoder");
    if (dec && !cJSON_IsNull(dec)) {
        const char *dt = jtype(dec);
        if (!dt || strcmp(dt, "ByteLevel") != 0)
            return is_errf(err, "%s: decoder: unsupported type '%s' (expected ByteLevel)", t->src, dt ? dt : "?");
    }
    if (compile_pattern(t, pattern, t->src, err) < 0) return -1;
    finish_common(t);
    return 0;
}

int is_tok_load_hf(const char *path, is_tokenizer **out, is_err *err) {
    *out = NULL;
    char *data;
    size_t len;
    if (is_read_file(path, TOK_MAX_FILE_BYTES, &data, &len, err) < 0) return -1;
    cJSON *root = cJSON_ParseWithLength(data, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        long at = (ep && ep >= data && ep <= data + len) ? (long)(ep - data) : -1;
        free(data);
        return is_errf(err, "%s: not valid JSON (near byte %ld)", path, at);
    }
    free(data);
    is_tokenizer *t = tok_new(MODE_HF, path);
    int rc = hf_parse(t, root, err);
    cJSON_Delete(root);
    if (rc < 0) {
        is_tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int is_tok_load(const char *spec, is_tokenizer **out, is_err *err) {
    *out = NULL;
    if (!spec || !*spec) return is_errf(err, "tokenizer: empty spec");
    if (strcmp(spec, "builtin") == 0) return is_tok_load_builtin(out, err);
    const char *colon = strchr(spec, ':');
    if (colon) {
        char enc[64];
        size_t n = (size_t)(colon - spec);
        if (n < sizeof enc) {
            memcpy(enc, spec, n);
            enc[n] = 0;
            if (find_encoding(enc)) return is_tok_load_tiktoken(colon + 1, enc, out, err);
        }
    }
    size_t sl = strlen(spec);
    if (sl >= 5 && strcmp(spec + sl - 5, ".json") == 0) return is_tok_load_hf(spec, out, err);
    struct stat st;
    if (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t pl = sl + sizeof "/tokenizer.json";
        char *p = is_xmalloc(pl);
        snprintf(p, pl, "%s/tokenizer.json", spec);
        int rc = is_tok_load_hf(p, out, err);
        free(p);
        return rc;
    }
    return is_errf(err,
                   "tokenizer '%s': expected 'builtin', a tokenizer.json, a directory holding one, or "
                   "ENCODING:PATH (r50k_base, p50k_base, cl100k_base, o200k_base)",
                   spec);
}

int is_tok_vocab_size(const is_tokenizer *t) { return t->vocab_size; }
int is_tok_bos(const is_tokenizer *t) { return t->bos; }

// ---- BPE -------------------------------------------------------------------------

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
    if (t->mode == MODE_TIKTOKEN) {
        rank = bmap_get(t, &t->vocab, p + pos, (size_t)(end - pos));
        merged = rank;
    } else {
        const pslot *s = pmap_get(&t->pairs, t->s_tok[pos], t->s_tok[mid]);
        if (!s) return;
        rank = s->rank;
        merged = s->merged;
    }
    if (rank < 0 || rank >= max_rank) return;
    heap_push(t, hn, (heap_ent){rank, pos, mid, end, merged});
}

// Runs BPE over p[0..n) with pair ranks below max_rank. On return the parts are
// the chain 0 -> s_nxt[0] -> ... -> n with ids in s_tok. -1 when a byte has no token.
static int bpe(is_tokenizer *t, const unsigned char *p, int n, int32_t max_rank, is_err *err) {
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
        int32_t id = bmap_get(t, &t->vocab, p, n);
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
        h = hash_bytes(p, n);
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
    if (bpe(t, p, (int)n, INT32_MAX, err) < 0) return -1;
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
        if (t->pfx_cap < n + 1) {
            t->pfx_cap = n + 1 + 256;
            t->pfx = is_xrealloc(t->pfx, t->pfx_cap);
        }
        t->pfx[0] = ' ';
        memcpy(t->pfx + 1, s, n);
        s = t->pfx;
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

// Finds the leftmost-longest added token at or after pos; returns its start or len.
static size_t find_added(const is_tokenizer *t, const unsigned char *s, size_t len, size_t pos,
                         bool allow_special, int *which) {
    for (size_t i = pos; i < len; i++) {
        if (t->one_first) {
            const unsigned char *q = memchr(s + i, t->only_first, len - i);
            if (!q) return len;
            i = (size_t)(q - s);
        }
        unsigned char c = s[i];
        for (int k = t->first_lo[c]; k < t->first_hi[c]; k++) {
            const added_tok *a = &t->added[k];
            if (a->special && !allow_special) continue;
            if (a->len <= len - i && memcmp(s + i, t->bytes + a->off, a->len) == 0) {
                *which = k;
                return i;
            }
        }
    }
    return len;
}

int is_tok_encode(is_tokenizer *t, const char *text, size_t len, bool allow_special, int32_t **ids,
                  is_err *err) {
    *ids = NULL;
    const unsigned char *s = (const unsigned char *)text;
    t->out_n = 0;
    bool scan = allow_special ? t->n_added > 0 : t->n_nonspecial > 0;
    size_t pos = 0;
    while (pos < len) {
        int which = -1;
        size_t at = scan ? find_added(t, s, len, pos, allow_special, &which) : len;
        if (encode_segment(t, s + pos, at - pos, err) < 0) return -1;
        if (at >= len) break;
        out_push(t, t->added[which].id);
        pos = at + t->added[which].len;
    }
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
    t->out_n = 0;
    return n;
}

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

static void sbuf_put(char **buf, size_t *len, size_t *cap, const void *p, size_t n) {
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *len + n + 1) c *= 2;
        *buf = is_xrealloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = 0;
}

static const char REPL[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

// Emits valid UTF-8 from p[0..n), U+FFFD per maximal invalid subpart (the
// Unicode / WHATWG practice). Returns the number of bytes consumed: a trailing
// incomplete but so far valid sequence is left unconsumed unless final.
static size_t utf8_emit(const unsigned char *p, size_t n, bool final, char **buf, size_t *len, size_t *cap) {
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
            sbuf_put(buf, len, cap, p + run, i - run);
            sbuf_put(buf, len, cap, REPL, 3);
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
            sbuf_put(buf, len, cap, p + run, i - run);
            return i;
        }
        sbuf_put(buf, len, cap, p + run, i - run);
        sbuf_put(buf, len, cap, REPL, 3);
        i += (size_t)k;
        run = i;
    }
    sbuf_put(buf, len, cap, p + run, n - run);
    return n;
}

void is_tok_stream_init(is_tok_stream *s) { memset(s, 0, sizeof *s); }

static void stream_bytes(is_tok_stream *s, const unsigned char *p, size_t n, char **buf, size_t *len,
                         size_t *cap) {
    if (!*buf) sbuf_put(buf, len, cap, "", 0);
    size_t np = (size_t)s->n_pending, total = np + n;
    unsigned char small[256];
    unsigned char *tmp = total <= sizeof small ? small : is_xmalloc(total);
    memcpy(tmp, s->pending, np);
    if (n) memcpy(tmp + np, p, n);
    size_t used = utf8_emit(tmp, total, false, buf, len, cap);
    size_t rest = total - used;
    IS_ASSERT(rest <= 3);
    memcpy(s->pending, tmp + used, rest);
    s->n_pending = (int)rest;
    if (tmp != small) free(tmp);
}

void is_tok_stream_feed(const is_tokenizer *t, is_tok_stream *s, int32_t id, char **buf, size_t *len,
                        size_t *cap) {
    if (id >= 0 && id < t->vocab_size && t->tok_len[id] >= 0) {
        stream_bytes(s, t->bytes + t->tok_off[id], (size_t)t->tok_len[id], buf, len, cap);
    } else {
        char ph[32];
        int n = snprintf(ph, sizeof ph, "<|id:%d|>", id);
        stream_bytes(s, (const unsigned char *)ph, (size_t)n, buf, len, cap);
    }
}

void is_tok_stream_flush(is_tok_stream *s, char **buf, size_t *len, size_t *cap) {
    if (!*buf) sbuf_put(buf, len, cap, "", 0);
    if (s->n_pending > 0) utf8_emit(s->pending, (size_t)s->n_pending, true, buf, len, cap);
    s->n_pending = 0;
}

// ---- saving as tokenizer.json ----------------------------------------------------

typedef struct {
    char *p;
    size_t n, cap;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n + 1) c *= 2;
        b->p = is_xrealloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, long v) {
    char tmp[64];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    sb_put(b, tmp, (size_t)n);
}

// A JSON string literal of UTF-8 text (bytes >= 0x80 are copied as they are).
static void sb_json(strbuf *b, const char *s, size_t n) {
    sb_put(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            sb_put(b, e, 6);
        } else {
            sb_put(b, (const char *)&c, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static void sb_token(strbuf *b, const is_tokenizer *t, int32_t id, char **tmp, size_t *tcap) {
    bl_encode(t->bytes + t->tok_off[id], (size_t)t->tok_len[id], tmp, tcap);
    sb_json(b, *tmp, strlen(*tmp));
}

static bool is_model_token(const is_tokenizer *t, int32_t id) {
    if (t->tok_len[id] <= 0) return false;
    return bmap_get(t, &t->vocab, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]) == id;
}

int is_tok_save_hf(const is_tokenizer *t, const char *path, is_err *err) {
    strbuf b = {0};
    char *tmp = NULL;
    size_t tcap = 0;
    // merges: stored (HF) or derived from the ranks (tiktoken)
    int32_t *ml = t->merge_l, *mr = t->merge_r;
    int nm = t->n_merges;
    bool own = false;
    if (t->mode == MODE_TIKTOKEN) {
        is_tokenizer w = *t; // private scratch for bpe()
        w.s_nxt = w.s_prv = w.s_tok = NULL;
        w.s_alive = NULL;
        w.s_heap = NULL;
        w.s_cap = w.s_heapcap = 0;
        ml = is_xmalloc(sizeof(int32_t) * (size_t)t->vocab_size);
        mr = is_xmalloc(sizeof(int32_t) * (size_t)t->vocab_size);
        own = true;
        nm = 0;
        for (int32_t id = 0; id < t->vocab_size; id++) {
            if (t->tok_len[id] < 2 || !is_model_token(t, id)) continue;
            const unsigned char *p = t->bytes + t->tok_off[id];
            if (bpe(&w, p, t->tok_len[id], id, NULL) < 0) continue;
            int second = w.s_nxt[0];
            if (second >= t->tok_len[id] || w.s_nxt[second] != t->tok_len[id]) continue; // not 2 parts
            ml[nm] = w.s_tok[0];
            mr[nm] = w.s_tok[second];
            nm++;
        }
        free(w.s_nxt);
        free(w.s_prv);
        free(w.s_tok);
        free(w.s_alive);
        free(w.s_heap);
    }
    sb_str(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [");
    // added tokens in id order
    {
        int *order = is_xmalloc(sizeof(int) * (size_t)(t->n_added + 1));
        for (int i = 0; i < t->n_added; i++) order[i] = i;
        for (int i = 1; i < t->n_added; i++) { // insertion sort: few tokens
            int v = order[i], j = i - 1;
            while (j >= 0 && t->added[order[j]].id > t->added[v].id) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = v;
        }
        for (int i = 0; i < t->n_added; i++) {
            const added_tok *a = &t->added[order[i]];
            sb_str(&b, i ? ",\n    {\"id\": " : "\n    {\"id\": ");
            sb_fmt(&b, "%ld", a->id);
            sb_str(&b, ", \"content\": ");
            sb_json(&b, (const char *)t->bytes + a->off, a->len);
            sb_str(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
                       "\"special\": ");
            sb_str(&b, a->special ? "true}" : "false}");
        }
        free(order);
    }
    sb_str(&b, "\n  ],\n  \"normalizer\": null,\n  \"pre_tokenizer\": ");
    if (t->bl_regex) {
        sb_str(&b, "{\"type\": \"ByteLevel\", \"add_prefix_space\": ");
        sb_str(&b, t->add_prefix_space ? "true" : "false");
        sb_str(&b, ", \"trim_offsets\": true, \"use_regex\": true}");
    } else {
        sb_str(&b, "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": ");
        sb_json(&b, t->pattern, strlen(t->pattern));
        sb_str(&b, "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                   "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}");
    }
    sb_str(&b, ",\n  \"post_processor\": ");
    const added_tok *bos = NULL;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id == t->bos) bos = &t->added[i];
    if (bos) {
        strbuf nm_ = {0};
        sb_json(&nm_, (const char *)t->bytes + bos->off, bos->len);
        sb_str(&b, "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": ");
        sb_str(&b, nm_.p);
        sb_str(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": "
                   "[{\"SpecialToken\": {\"id\": ");
        sb_str(&b, nm_.p);
        sb_str(&b, ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
                   "{\"id\": ");
        sb_str(&b, nm_.p);
        sb_str(&b, ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {");
        sb_str(&b, nm_.p);
        sb_str(&b, ": {\"id\": ");
        sb_str(&b, nm_.p);
        sb_fmt(&b, ", \"ids\": [%ld], \"tokens\": [", t->bos);
        sb_str(&b, nm_.p);
        sb_str(&b, "]}}}");
        free(nm_.p);
    } else {
        sb_str(&b, "null");
    }
    sb_str(&b, ",\n  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
               "\"use_regex\": true},\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    "
               "\"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": "
               "null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": ");
    sb_str(&b, t->ignore_merges ? "true" : "false");
    sb_str(&b, ",\n    \"vocab\": {");
    bool first = true;
    for (int32_t id = 0; id < t->vocab_size; id++) {
        if (!is_model_token(t, id)) continue;
        sb_str(&b, first ? "\n      " : ",\n      ");
        first = false;
        sb_token(&b, t, id, &tmp, &tcap);
        sb_fmt(&b, ": %ld", id);
    }
    sb_str(&b, "\n    },\n    \"merges\": [");
    strbuf pair = {0};
    for (int i = 0; i < nm; i++) {
        sb_str(&b, i ? ",\n      " : "\n      ");
        // "left right": byte-level strings never contain a space
        bl_encode(t->bytes + t->tok_off[ml[i]], (size_t)t->tok_len[ml[i]], &tmp, &tcap);
        pair.n = 0;
        sb_str(&pair, tmp);
        sb_str(&pair, " ");
        bl_encode(t->bytes + t->tok_off[mr[i]], (size_t)t->tok_len[mr[i]], &tmp, &tcap);
        sb_str(&pair, tmp);
        sb_json(&b, pair.p, pair.n);
    }
    free(pair.p);
    sb_str(&b, "\n    ]\n  }\n}\n");
    free(tmp);
    if (own) {
        free(ml);
        free(mr);
    }
    int rc = is_write_file_atomic(path, b.p, b.n, err);
    free(b.p);
    return rc;
}
