// tokenizer_internal.h — what the tokenizer's files share (engine-internal): the struct, tables, lookups.
// Declares: is_tok_load_tiktoken_mem, is_tok_encoding_pattern, struct is_tokenizer,
// is_tok_bmap, is_tok_pmap, is_tok_added, the table builders (is_tok_new,
// is_tok_arena_add, is_tok_bmap_put, is_tok_pmap_put, is_tok_table_grow,
// is_tok_add_added, is_tok_finish), the byte-level alphabet (is_tok_bl_decode,
// is_tok_bl_encode), is_tok_bpe and the normalizer (is_tok_norm_step,
// is_tok_norm_parse, is_tok_norm_apply, is_tok_normalize).
//
// An is_tokenizer holds scratch buffers: encoding is not thread-safe per tokenizer.
#ifndef IS_TOKENIZER_INTERNAL_H
#define IS_TOKENIZER_INTERNAL_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/strbuf.h" // defines: is_strbuf
#include "engine/tokenizer.h"

// Parses a tiktoken rank file held in memory (data, len bytes; need not be
// NUL-terminated) with the named encoding's pattern and special tokens
// (r50k_base/gpt2, p50k_base, cl100k_base, o200k_base). source_name names the
// data in error messages ("file:line: ...").
int is_tok_load_tiktoken_mem(const char *data, size_t len, const char *encoding,
                             const char *source_name, is_tokenizer **out, is_err *err);

// The regex pattern of a named tiktoken encoding, or NULL when unknown.
const char *is_tok_encoding_pattern(const char *encoding);

// pat (a pre-tokenizer or Replace regex, PCRE2 syntax) with \s and \S written as
// \p{White_Space} and \P{White_Space}, for PCRE2 with UCP (malloc'd). The
// tokenizers these patterns come from read \s as Unicode's White_Space:
// Hugging Face's through Oniguruma (its \s is CR_Space, the White_Space list),
// tiktoken through the regex crate; PCRE2's \s also matches U+180E (its \h does).
char *is_tok_regex_white_space(const char *pat);
// Compiles the pre-tokenizer regex pat into t (\s as Unicode's White_Space, UTF-8
// with invalid bytes matched by nothing, JIT when it can); where names the source
// in the message when it does not compile.
int is_tok_compile_pattern(is_tokenizer *t, const char *pat, const char *where, is_err *err);

// ---- the tokenizer ---------------------------------------------------------------

// bytes -> id, keys stored in the tokenizer's byte arena.
typedef struct {
    uint32_t off, len;
    int32_t id; // -1: empty
    uint32_t tag;
} is_tok_bslot;

typedef struct {
    is_tok_bslot *s;
    uint32_t mask, count;
} is_tok_bmap;

// (left id, right id) -> (rank, merged id)
typedef struct {
    uint64_t key; // UINT64_MAX: empty
    int32_t rank, merged;
} is_tok_pslot;

typedef struct {
    is_tok_pslot *s;
    uint32_t mask, count;
} is_tok_pmap;

typedef struct {
    uint32_t off, len;   // the content (arena)
    uint32_t moff, mlen; // what is matched in the text: the content, or its normalized form
    int32_t id;
    bool special;
    bool normalized; // matched in the normalized text (tokenizer.json "normalized"), else in the raw text
    unsigned char first; // of what is matched
} is_tok_added;

// One step of a tokenizer.json normalizer; a Sequence is flattened into its steps.
typedef enum {
    IS_TOK_NORM_NFC,
    IS_TOK_NORM_NFD,
    IS_TOK_NORM_NFKC,
    IS_TOK_NORM_NFKD,
    IS_TOK_NORM_LOWERCASE,
    IS_TOK_NORM_REPLACE,
    IS_TOK_NORM_PREPEND,
    IS_TOK_NORM_STRIP,
} is_tok_norm_kind;

typedef struct {
    is_tok_norm_kind kind;
    char *text; // Replace: the content; Prepend: the prefix
    size_t text_len;
    pcre2_code *re; // Replace: the pattern (a String pattern as a literal)
    pcre2_match_data *md;
    bool left, right; // Strip: the sides stripped
} is_tok_norm_step;

enum { IS_TOK_TIKTOKEN, IS_TOK_HF };

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
    is_tok_bmap vocab;    // model vocabulary (ranks)
    int32_t byte_id[256]; // single-byte tokens, -1 missing
    is_tok_pmap pairs;    // HF merges
    int32_t *merge_l, *merge_r;
    int n_merges;
    bool ignore_merges;
    bool add_prefix_space;
    bool bl_regex; // pre-tokenizer was ByteLevel(use_regex=true)
    int bos;
    // added / special tokens sorted by first byte, then length descending
    is_tok_added *added;
    int n_added, added_cap;
    int n_added_of[2][2]; // [normalized][special]: how many
    is_tok_bmap added_by; // content -> id: finds a content given twice
    int first_lo[256], first_hi[256];
    unsigned char only_first; // all added tokens start with this byte
    bool one_first;
    // normalizer (engine/tokenizer_norm.c)
    is_tok_norm_step *norm;
    int n_norm;
    char *norm_json; // as tokenizer.json gave it, for is_tok_save_hf
    is_strbuf norm_out;
    // regex
    char *pattern;
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    bool jit;
    // scratch (engine/tokenizer_bpe.c)
    int32_t *s_nxt, *s_prv, *s_tok;
    unsigned char *s_alive;
    struct is_tok_heap_ent *s_heap;
    int s_cap, s_heapcap;
    int32_t *out;
    size_t out_n, out_cap;
    is_strbuf pfx; // a segment with the prefix space
    // cache of pre-token -> ids (engine/tokenizer_bpe.c)
    struct is_tok_cslot *cache;
    uint32_t cache_count;
    unsigned char *cache_b;
    uint32_t cache_nb;
    int32_t *cache_i;
    uint32_t cache_ni;
};

// ---- hashing and lookups (inline: the encoder calls them per byte pair) ----------

static inline uint64_t is_tok_hash_bytes(const unsigned char *p, size_t n) {
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

static inline uint64_t is_tok_hash_u64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

// The id of the bytes p[0..n), or -1.
static inline int32_t is_tok_bmap_get(const is_tokenizer *t, const is_tok_bmap *m, const unsigned char *p,
                                      size_t n) {
    uint64_t h = is_tok_hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        const is_tok_bslot *s = &m->s[i];
        if (s->id < 0) return -1;
        if (s->tag == tag && s->len == n && memcmp(t->bytes + s->off, p, n) == 0) return s->id;
    }
}

// The merge of the pair (l, r), or NULL.
static inline const is_tok_pslot *is_tok_pmap_get(const is_tok_pmap *m, int32_t l, int32_t r) {
    if (!m->s) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    for (uint32_t i = (uint32_t)is_tok_hash_u64(key) & m->mask;; i = (i + 1) & m->mask) {
        const is_tok_pslot *s = &m->s[i];
        if (s->key == UINT64_MAX) return NULL;
        if (s->key == key) return s;
    }
}

// ---- building the tables (engine/tokenizer_vocab.c) ------------------------------

// An empty tokenizer of mode IS_TOK_TIKTOKEN or IS_TOK_HF; src names it in errors.
is_tokenizer *is_tok_new(int mode, const char *src);
// Copies n bytes into the byte arena; returns their offset.
uint32_t is_tok_arena_add(is_tokenizer *t, const void *p, size_t n);
// Room for about n keys.
void is_tok_bmap_init(is_tok_bmap *m, size_t n);
// Inserts key (already in the arena at off); returns the existing id when present, else -1.
int32_t is_tok_bmap_put(is_tokenizer *t, is_tok_bmap *m, uint32_t off, uint32_t len, int32_t id);
void is_tok_pmap_init(is_tok_pmap *m, size_t n);
// Returns false when the pair is already present.
bool is_tok_pmap_put(is_tok_pmap *m, int32_t l, int32_t r, int32_t rank, int32_t merged);
// Sets the id -> bytes table size to n ids (new ids have no token).
void is_tok_table_grow(is_tokenizer *t, int n);
// Adds an added/special token (content bytes) with id, 0 <= id < IS_TOK_MAX_ID
// (the callers check it), matched in the raw text, or in the normalized text when
// normalized (its content is normalized too, by is_tok_finish). Rejects an empty
// content and one given twice.
int is_tok_add_added(is_tokenizer *t, const char *content, size_t len, int32_t id, bool special, bool normalized,
                     is_err *err);
// Once the tables and the normalizer are complete: the single-byte ids, the
// normalized forms of the added tokens that have one and the added-token index.
// Fails when an added token normalizes to nothing.
int is_tok_finish(is_tokenizer *t, is_err *err);

// Decodes a byte-level alphabet string to bytes (out has room for strlen(s));
// returns the length or -1.
long is_tok_bl_decode(const char *s, unsigned char *out);
// Appends the byte-level alphabet form of bytes to out.
void is_tok_bl_encode(is_strbuf *out, const unsigned char *p, size_t n);

// ---- BPE (engine/tokenizer_bpe.c) ------------------------------------------------

// Runs BPE over p[0..n) with pair ranks below max_rank. On return the parts are
// the chain 0 -> s_nxt[0] -> ... -> n with ids in s_tok. -1 when a byte has no token.
int is_tok_bpe(is_tokenizer *t, const unsigned char *p, int n, int32_t max_rank, is_err *err);

// ---- the normalizer (engine/tokenizer_norm.c) -----------------------------------

#define IS_TOK_MAX_NORM_STEPS 64
// A normalized text may be at most this many times its input (plus 64 KiB): NFKD
// grows text at most 11 times (U+FDFA, 3 bytes, decomposes into 33); a hostile
// Replace or Prepend is stopped before it fills memory.
#define IS_TOK_NORM_MAX_GROWTH 32

struct cJSON;
// Parses tokenizer.json's "normalizer" (NULL or null: none) into t->norm: NFC,
// NFD, NFKC, NFKD, Lowercase, Replace (String or Regex pattern), Prepend, Strip,
// and Sequences of them. Another type is an error naming it.
int is_tok_norm_parse(is_tokenizer *t, const struct cJSON *norm, is_err *err);
void is_tok_norm_free(is_tokenizer *t);

// Applies n steps to s[0..len) (any bytes) into out (emptied first), as Hugging
// Face tokenizers does to valid UTF-8; bytes of an invalid sequence pass through
// unchanged and are neither whitespace nor part of a Unicode form's input. -1
// with err when the text outgrows IS_TOK_NORM_MAX_GROWTH or a Replace pattern
// fails to match.
int is_tok_norm_apply(is_tok_norm_step *steps, int n, const char *s, size_t len, is_strbuf *out, is_err *err);
// t's normalizer applied to s[0..len) into out (a copy when it has none).
int is_tok_normalize(is_tokenizer *t, const char *s, size_t len, is_strbuf *out, is_err *err);

#endif
