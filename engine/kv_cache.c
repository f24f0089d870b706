// kv_cache.c — paged KV block manager: block tables, a free list, reference
// counts and copy-on-write (host-side bookkeeping only).
//
// Invariant kept by every operation: a block at table index >= ceil(len / bs)
// of a sequence (reserved but not yet written) is private to that sequence.
// fork shares only the blocks that hold tokens, truncate releases the blocks
// past the new length, and reserve takes fresh blocks. Hence the only shared
// block a write can hit is the partially filled one holding position len.
#include "engine/kv_cache.h"

#include "base/rng.h" // defines: is_mix64

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static is_kv_seq *kv_seq_get(const is_kv_cache *kv, int seq) {
    IS_ASSERT(seq >= 0 && seq < kv->max_seqs);
    IS_ASSERT(kv->seqs[seq].active);
    return &kv->seqs[seq];
}

static int kv_div_up(int a, int b) { return (int)(((int64_t)a + b - 1) / b); }

static void kv_lru_unlink(is_kv_cache *kv, int32_t b) {
    int32_t p = kv->pc_lru_prev[b], n = kv->pc_lru_next[b];
    if (p >= 0) kv->pc_lru_next[p] = n;
    else kv->pc_lru_head = n;
    if (n >= 0) kv->pc_lru_prev[n] = p;
    else kv->pc_lru_tail = p;
    kv->pc_lru_prev[b] = kv->pc_lru_next[b] = -1;
    kv->n_evictable--;
}

static void kv_lru_append(is_kv_cache *kv, int32_t b) {
    kv->pc_lru_prev[b] = kv->pc_lru_tail;
    kv->pc_lru_next[b] = -1;
    if (kv->pc_lru_tail >= 0) kv->pc_lru_next[kv->pc_lru_tail] = b;
    else kv->pc_lru_head = b;
    kv->pc_lru_tail = b;
    kv->n_evictable++;
}

static void kv_block_decref(is_kv_cache *kv, int32_t b);

// Takes the least recently used evictable block out of the prefix cache and
// back to the free list.
static void kv_prefix_evict_one(is_kv_cache *kv) {
    int32_t b = kv->pc_lru_head;
    IS_ASSERT(b >= 0 && kv->pc_cached[b] && kv->refcount[b] == 1);
    kv_lru_unlink(kv, b);
    int32_t *pp = &kv->pc_bucket[kv->pc_key[b] & kv->pc_mask];
    while (*pp != b) {
        IS_ASSERT(*pp >= 0);
        pp = &kv->pc_next[*pp];
    }
    *pp = kv->pc_next[b];
    kv->pc_cached[b] = false;
    kv->n_cached--;
    kv->n_evicted++;
    kv_block_decref(kv, b);
}

static int32_t kv_block_pop(is_kv_cache *kv) {
    if (kv->n_free == 0 && kv->n_evictable > 0) kv_prefix_evict_one(kv);
    IS_ASSERT(kv->n_free > 0);
    int32_t b = kv->free_list[--kv->n_free];
    IS_ASSERT(kv->refcount[b] == 0);
    kv->refcount[b] = 1;
    return b;
}

// One more reference; a cached block a sequence takes is no longer evictable.
static void kv_block_incref(is_kv_cache *kv, int32_t b) {
    IS_ASSERT(b >= 0 && b < kv->n_blocks && kv->refcount[b] > 0);
    if (kv->prefix_on && kv->pc_cached[b] && kv->refcount[b] == 1) kv_lru_unlink(kv, b);
    kv->refcount[b]++;
}

// Drops one reference; a block nobody holds goes back on the free list, and a
// cached block only the cache holds becomes evictable (most recently used).
static void kv_block_decref(is_kv_cache *kv, int32_t b) {
    IS_ASSERT(b >= 0 && b < kv->n_blocks && kv->refcount[b] > 0);
    --kv->refcount[b];
    if (kv->refcount[b] == 1 && kv->prefix_on && kv->pc_cached[b]) kv_lru_append(kv, b);
    if (kv->refcount[b] == 0) {
        IS_ASSERT(kv->n_free < kv->n_blocks);
        kv->free_list[kv->n_free++] = b;
    }
}

static void kv_seq_grow(is_kv_seq *s, int n_blocks) {
    if (n_blocks <= s->cap_blocks) return;
    int cap = s->cap_blocks ? s->cap_blocks : 4;
    while (cap < n_blocks) cap *= 2;
    s->blocks = is_xrealloc(s->blocks, (size_t)cap * sizeof *s->blocks);
    s->cap_blocks = cap;
}

// Releases table entries [first, n_blocks) of s, last first, so the freed
// blocks come back off the stack in their table order.
static void kv_seq_drop_from(is_kv_cache *kv, is_kv_seq *s, int first) {
    for (int i = s->n_blocks - 1; i >= first; i--) kv_block_decref(kv, s->blocks[i]);
    if (first < s->n_blocks) s->n_blocks = first;
}

int is_kv_init(is_kv_cache *kv, int n_blocks, int block_size, int max_seqs, double budget_mib,
               is_err *err) {
    memset(kv, 0, sizeof *kv);
    if (n_blocks < 1)
        return is_errf(err, "KV cache: n_blocks must be >= 1 (got %d, budget %.1f MiB)", n_blocks,
                       budget_mib);
    if (block_size < 1) return is_errf(err, "KV cache: block_size must be >= 1 (got %d)", block_size);
    if (max_seqs < 1) return is_errf(err, "KV cache: max_seqs must be >= 1 (got %d)", max_seqs);
    if ((int64_t)n_blocks * block_size > INT32_MAX)
        return is_errf(err, "KV cache: %d blocks of %d tokens exceed %d slots", n_blocks, block_size,
                       INT32_MAX);
    kv->n_blocks = n_blocks;
    kv->block_size = block_size;
    kv->max_seqs = max_seqs;
    kv->budget_mib = budget_mib;
    kv->refcount = is_xcalloc((size_t)n_blocks, sizeof *kv->refcount);
    kv->free_list = is_xcalloc((size_t)n_blocks, sizeof *kv->free_list);
    kv->seqs = is_xcalloc((size_t)max_seqs, sizeof *kv->seqs);
    // a stack: the lowest id is on top, so allocation order is deterministic
    for (int i = 0; i < n_blocks; i++) kv->free_list[i] = n_blocks - 1 - i;
    kv->n_free = n_blocks;
    kv->pc_lru_head = kv->pc_lru_tail = -1;
    return 0;
}

void is_kv_free(is_kv_cache *kv) {
    for (int i = 0; i < kv->max_seqs; i++) free(kv->seqs[i].blocks);
    free(kv->seqs);
    free(kv->refcount);
    free(kv->free_list);
    free(kv->pc_key);
    free(kv->pc_pkey);
    free(kv->pc_tokens);
    free(kv->pc_cached);
    free(kv->pc_next);
    free(kv->pc_bucket);
    free(kv->pc_lru_prev);
    free(kv->pc_lru_next);
    memset(kv, 0, sizeof *kv);
}

int is_kv_seq_new(is_kv_cache *kv, is_err *err) {
    for (int i = kv->seq_hint; i < kv->max_seqs; i++) { // the lowest free id
        is_kv_seq *s = &kv->seqs[i];
        if (s->active) continue;
        s->active = true;
        s->len = 0;
        s->n_blocks = 0; // blocks[] keeps its allocation for reuse
        kv->seq_hint = i + 1;
        return i;
    }
    return is_errf(err, "too many sequences: %d active (max_seqs %d)", kv->max_seqs, kv->max_seqs);
}

void is_kv_seq_release(is_kv_cache *kv, int seq) {
    is_kv_seq *s = kv_seq_get(kv, seq);
    kv_seq_drop_from(kv, s, 0);
    s->active = false;
    s->len = 0;
    if (seq < kv->seq_hint) kv->seq_hint = seq;
}

int is_kv_seq_fork(is_kv_cache *kv, int src, is_err *err) {
    kv_seq_get(kv, src);
    int id = is_kv_seq_new(kv, err);
    if (id < 0) return -1;
    const is_kv_seq *s = &kv->seqs[src];
    is_kv_seq *d = &kv->seqs[id];
    // share the blocks holding tokens; src keeps any reserved tail to itself
    int n = kv_div_up(s->len, kv->block_size);
    kv_seq_grow(d, n);
    for (int i = 0; i < n; i++) {
        d->blocks[i] = s->blocks[i];
        kv_block_incref(kv, s->blocks[i]);
    }
    d->n_blocks = n;
    d->len = s->len;
    return id;
}

// Index of the table entry that writing [len, new_len) must copy first, or -1.
static int kv_cow_index(const is_kv_cache *kv, const is_kv_seq *s, int new_len) {
    if (new_len <= s->len || s->len % kv->block_size == 0) return -1;
    int i = s->len / kv->block_size;
    if (i < s->n_blocks && kv->refcount[s->blocks[i]] > 1) return i;
    return -1;
}

int is_kv_blocks_needed(const is_kv_cache *kv, int seq, int new_len) {
    const is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(new_len >= 0);
    int n = kv_div_up(new_len, kv->block_size) - s->n_blocks;
    if (n < 0) n = 0;
    if (kv_cow_index(kv, s, new_len) >= 0) n++;
    return n;
}

int is_kv_seq_reserve(is_kv_cache *kv, int seq, int new_len, is_kv_copy *copies, int *n_copies,
                      is_err *err) {
    is_kv_seq *s = kv_seq_get(kv, seq);
    int need = is_kv_blocks_needed(kv, seq, new_len);
    if (need > is_kv_n_available(kv))
        return is_errf(err,
                       "KV cache full: sequence %d needs %d more blocks of %d tokens, %d free "
                       "(budget %.1f MiB)",
                       seq, need, kv->block_size, is_kv_n_available(kv), kv->budget_mib);
    int ci = kv_cow_index(kv, s, new_len);
    if (ci >= 0) {
        IS_ASSERT(copies && n_copies);
        int32_t old = s->blocks[ci];
        int32_t b = kv_block_pop(kv);
        kv_block_decref(kv, old); // still held by another sequence
        s->blocks[ci] = b;
        copies[*n_copies] = (is_kv_copy){.src = old, .dst = b};
        (*n_copies)++;
    }
    int n = kv_div_up(new_len, kv->block_size);
    kv_seq_grow(s, n);
    while (s->n_blocks < n) s->blocks[s->n_blocks++] = kv_block_pop(kv);
    return 0;
}

void is_kv_seq_set_len(is_kv_cache *kv, int seq, int new_len) {
    is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(new_len >= 0 && (int64_t)new_len <= (int64_t)s->n_blocks * kv->block_size);
    if (new_len < s->len) {
        // a shorter length drops tokens: release as truncate does, which keeps
        // blocks past the length private (see the invariant at the top)
        is_kv_seq_truncate(kv, seq, new_len);
        return;
    }
    s->len = new_len;
}

void is_kv_seq_truncate(is_kv_cache *kv, int seq, int len) {
    is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(len >= 0 && len <= s->len);
    kv_seq_drop_from(kv, s, kv_div_up(len, kv->block_size));
    s->len = len;
}

int32_t is_kv_slot(const is_kv_cache *kv, int seq, int pos) {
    const is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(pos >= 0 && (int64_t)pos < (int64_t)s->n_blocks * kv->block_size);
    return s->blocks[pos / kv->block_size] * kv->block_size + pos % kv->block_size;
}

int is_kv_n_used(const is_kv_cache *kv) { return kv->n_blocks - kv->n_free; }

int is_kv_n_available(const is_kv_cache *kv) { return kv->n_free + kv->n_evictable; }

// ---- prefix cache ---------------------------------------------------------------------
// Registered blocks sit in a hash table chained through pc_next, keyed by
// is_kv_prefix_key. A match needs the same key, the same parent key and the same
// tokens: two different prefixes would have to agree on a 64-bit key to be
// confused.

void is_kv_prefix_enable(is_kv_cache *kv) {
    if (kv->prefix_on) return;
    int n = kv->n_blocks;
    uint32_t buckets = 16;
    while (buckets < (uint32_t)n && buckets < (1u << 30)) buckets <<= 1;
    kv->pc_key = is_xcalloc((size_t)n, sizeof *kv->pc_key);
    kv->pc_pkey = is_xcalloc((size_t)n, sizeof *kv->pc_pkey);
    kv->pc_tokens = is_xcalloc((size_t)n * (size_t)kv->block_size, sizeof *kv->pc_tokens);
    kv->pc_cached = is_xcalloc((size_t)n, sizeof *kv->pc_cached);
    kv->pc_next = is_xmalloc((size_t)n * sizeof *kv->pc_next);
    kv->pc_lru_prev = is_xmalloc((size_t)n * sizeof *kv->pc_lru_prev);
    kv->pc_lru_next = is_xmalloc((size_t)n * sizeof *kv->pc_lru_next);
    kv->pc_bucket = is_xmalloc((size_t)buckets * sizeof *kv->pc_bucket);
    for (int i = 0; i < n; i++) kv->pc_next[i] = kv->pc_lru_prev[i] = kv->pc_lru_next[i] = -1;
    for (uint32_t i = 0; i < buckets; i++) kv->pc_bucket[i] = -1;
    kv->pc_mask = buckets - 1;
    kv->pc_lru_head = kv->pc_lru_tail = -1;
    kv->prefix_on = true;
}

uint64_t is_kv_prefix_key(uint64_t parent_key, const int32_t *tokens, int block_size) {
    uint64_t h = is_mix64(parent_key ^ 0x6a09e667f3bcc909ULL);
    for (int i = 0; i < block_size; i++) h = is_mix64(h ^ (uint64_t)(uint32_t)tokens[i]);
    return h ? h : 1; // 0 stands for "no parent"
}

// The registered block with this key, parent key and tokens, or -1.
static int32_t kv_prefix_find(const is_kv_cache *kv, uint64_t key, uint64_t pkey, const int32_t *tokens) {
    for (int32_t b = kv->pc_bucket[key & kv->pc_mask]; b >= 0; b = kv->pc_next[b])
        if (kv->pc_key[b] == key && kv->pc_pkey[b] == pkey &&
            !memcmp(kv->pc_tokens + (size_t)b * kv->block_size, tokens, (size_t)kv->block_size * sizeof *tokens))
            return b;
    return -1;
}

uint64_t is_kv_prefix_register(is_kv_cache *kv, int seq, int bi, uint64_t parent_key, const int32_t *tokens) {
    IS_ASSERT(kv->prefix_on);
    is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(bi >= 0 && bi < s->n_blocks && (int64_t)(bi + 1) * kv->block_size <= s->len);
    uint64_t key = is_kv_prefix_key(parent_key, tokens, kv->block_size);
    int32_t b = s->blocks[bi];
    if (kv->pc_cached[b] || kv_prefix_find(kv, key, parent_key, tokens) >= 0) return key;
    kv->pc_key[b] = key;
    kv->pc_pkey[b] = parent_key;
    memcpy(kv->pc_tokens + (size_t)b * kv->block_size, tokens, (size_t)kv->block_size * sizeof *tokens);
    kv->pc_cached[b] = true;
    kv->n_cached++;
    uint32_t h = (uint32_t)(key & kv->pc_mask);
    kv->pc_next[b] = kv->pc_bucket[h];
    kv->pc_bucket[h] = b;
    kv->refcount[b]++; // the cache's own reference (the sequence holds one: not evictable)
    return key;
}

int is_kv_prefix_attach(is_kv_cache *kv, int seq, const int32_t *tokens, int n_tokens, int max_blocks) {
    is_kv_seq *s = kv_seq_get(kv, seq);
    IS_ASSERT(s->len == 0 && s->n_blocks == 0);
    if (!kv->prefix_on) return 0;
    int bs = kv->block_size, n = 0;
    uint64_t key = 0;
    while (n < max_blocks && (int64_t)(n + 1) * bs <= n_tokens) {
        const int32_t *t = tokens + (size_t)n * bs;
        uint64_t k = is_kv_prefix_key(key, t, bs);
        int32_t b = kv_prefix_find(kv, k, key, t);
        if (b < 0) break;
        kv_seq_grow(s, n + 1);
        kv_block_incref(kv, b);
        s->blocks[n++] = b;
        key = k;
    }
    s->n_blocks = n;
    s->len = n * bs;
    return n;
}

void is_kv_prefix_evict_all(is_kv_cache *kv) {
    while (kv->n_evictable > 0) kv_prefix_evict_one(kv);
}
