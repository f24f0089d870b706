// test_kv_cache.c — the paged KV block manager: allocation, slots, fork and
// copy-on-write, failure without side effects, and a randomized run that checks
// reference counts and reads every token back through the block tables.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kv_cache.h"
#include "base/rng.h"

// --- invariants --------------------------------------------------------------

// refcount[b] equals the number of table entries naming b, plus one when the
// prefix cache holds b; free-list blocks have refcount 0 and appear once; blocks
// past a sequence's tokens are private; the evictable blocks (cached, held by
// the cache alone) are exactly the ones on the LRU list.
static void kv_check(const is_kv_cache *kv) {
    int *refs = calloc((size_t)kv->n_blocks, sizeof *refs);
    int *on_free = calloc((size_t)kv->n_blocks, sizeof *on_free);
    for (int s = 0; s < kv->max_seqs; s++) {
        const is_kv_seq *q = &kv->seqs[s];
        if (!q->active) {
            cr_assert_eq(q->len, 0, "inactive seq %d has len %d", s, q->len);
            cr_assert_eq(q->n_blocks, 0, "inactive seq %d holds %d blocks", s, q->n_blocks);
            continue;
        }
        cr_assert(q->n_blocks <= q->cap_blocks);
        cr_assert(q->len >= 0 && q->len <= q->n_blocks * kv->block_size,
                  "seq %d: len %d, %d blocks", s, q->len, q->n_blocks);
        int filled = (q->len + kv->block_size - 1) / kv->block_size;
        for (int i = 0; i < q->n_blocks; i++) {
            int32_t b = q->blocks[i];
            cr_assert(b >= 0 && b < kv->n_blocks, "seq %d entry %d: block %d", s, i, b);
            refs[b]++;
        }
        for (int i = filled; i < q->n_blocks; i++)
            cr_assert_eq(kv->refcount[q->blocks[i]], 1, "seq %d: reserved block %d is shared", s, i);
    }
    int n_cached = 0, n_evictable = 0;
    for (int b = 0; kv->prefix_on && b < kv->n_blocks; b++)
        if (kv->pc_cached[b]) {
            refs[b]++;
            n_cached++;
            n_evictable += kv->refcount[b] == 1;
        }
    if (kv->prefix_on) {
        cr_assert_eq(n_cached, kv->n_cached);
        cr_assert_eq(n_evictable, kv->n_evictable);
        int on_lru = 0;
        for (int32_t b = kv->pc_lru_head, prev = -1; b >= 0; prev = b, b = kv->pc_lru_next[b], on_lru++) {
            cr_assert(kv->pc_cached[b] && kv->refcount[b] == 1, "block %d on the LRU list is not evictable", b);
            cr_assert_eq(kv->pc_lru_prev[b], prev);
            cr_assert_leq(on_lru, kv->n_blocks);
        }
        cr_assert_eq(on_lru, n_evictable);
    }
    cr_assert(kv->n_free >= 0 && kv->n_free <= kv->n_blocks);
    for (int i = 0; i < kv->n_free; i++) {
        int32_t b = kv->free_list[i];
        cr_assert(b >= 0 && b < kv->n_blocks);
        cr_assert_eq(on_free[b], 0, "block %d twice on the free list", b);
        on_free[b] = 1;
    }
    int n_zero = 0;
    for (int b = 0; b < kv->n_blocks; b++) {
        cr_assert_eq(kv->refcount[b], refs[b], "block %d: refcount %d, %d references", b,
                     kv->refcount[b], refs[b]);
        if (refs[b] == 0) {
            n_zero++;
            cr_assert(on_free[b], "unreferenced block %d is not on the free list", b);
        }
    }
    cr_assert_eq(n_zero, kv->n_free);
    cr_assert_eq(is_kv_n_used(kv), kv->n_blocks - kv->n_free);
    free(refs);
    free(on_free);
}

// A copy of everything a failed call must leave alone.
typedef struct kv_snap {
    int n_free;
    int32_t *refcount, *free_list;
    is_kv_seq *seqs; // blocks[] point into copies
} kv_snap;

static kv_snap kv_snap_take(const is_kv_cache *kv) {
    kv_snap s = {.n_free = kv->n_free};
    s.refcount = malloc((size_t)kv->n_blocks * sizeof *s.refcount);
    s.free_list = malloc((size_t)kv->n_blocks * sizeof *s.free_list);
    memcpy(s.refcount, kv->refcount, (size_t)kv->n_blocks * sizeof *s.refcount);
    memcpy(s.free_list, kv->free_list, (size_t)kv->n_blocks * sizeof *s.free_list);
    s.seqs = malloc((size_t)kv->max_seqs * sizeof *s.seqs);
    for (int i = 0; i < kv->max_seqs; i++) {
        s.seqs[i] = kv->seqs[i];
        s.seqs[i].blocks = malloc((size_t)(kv->seqs[i].n_blocks + 1) * sizeof(int32_t));
        if (kv->seqs[i].n_blocks)
            memcpy(s.seqs[i].blocks, kv->seqs[i].blocks, (size_t)kv->seqs[i].n_blocks * sizeof(int32_t));
    }
    return s;
}

static void kv_snap_expect_same(const kv_snap *s, const is_kv_cache *kv) {
    cr_assert_eq(kv->n_free, s->n_free);
    cr_assert(!memcmp(kv->refcount, s->refcount, (size_t)kv->n_blocks * sizeof *s->refcount));
    cr_assert(!memcmp(kv->free_list, s->free_list, (size_t)kv->n_free * sizeof *s->free_list));
    for (int i = 0; i < kv->max_seqs; i++) {
        const is_kv_seq *a = &s->seqs[i], *b = &kv->seqs[i];
        cr_assert_eq(a->active, b->active, "seq %d", i);
        cr_assert_eq(a->len, b->len, "seq %d", i);
        cr_assert_eq(a->n_blocks, b->n_blocks, "seq %d", i);
        if (a->n_blocks)
            cr_assert(!memcmp(a->blocks, b->blocks, (size_t)a->n_blocks * sizeof(int32_t)), "seq %d", i);
    }
}

static void kv_snap_free(kv_snap *s, int max_seqs) {
    for (int i = 0; i < max_seqs; i++) free(s->seqs[i].blocks);
    free(s->seqs);
    free(s->refcount);
    free(s->free_list);
}

// Reserve and mark written, expecting success and no copy.
static void kv_grow(is_kv_cache *kv, int seq, int new_len) {
    is_kv_copy cp[1];
    int n_cp = 0;
    is_err err = {0};
    cr_assert_eq(is_kv_seq_reserve(kv, seq, new_len, cp, &n_cp, &err), 0, "%s", err.msg);
    cr_assert_eq(n_cp, 0);
    is_kv_seq_set_len(kv, seq, new_len);
}

// --- deterministic cases -----------------------------------------------------

Test(kv_cache, init_rejects_bad_sizes) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 0, 16, 4, 1.0, &err), -1);
    cr_assert(strstr(err.msg, "n_blocks"), "%s", err.msg);
    cr_assert_eq(is_kv_init(&kv, 8, 0, 4, 1.0, &err), -1);
    cr_assert(strstr(err.msg, "block_size"), "%s", err.msg);
    cr_assert_eq(is_kv_init(&kv, 8, 16, 0, 1.0, &err), -1);
    cr_assert(strstr(err.msg, "max_seqs"), "%s", err.msg);
    is_kv_free(&kv); // safe after a failed init
}

Test(kv_cache, allocation_across_block_boundaries) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 2, 1.0, &err), 0, "%s", err.msg);
    cr_assert_eq(kv.n_free, 8);
    int s = is_kv_seq_new(&kv, &err);
    cr_assert_eq(s, 0);
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 0), 0);
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 1), 1);
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 4), 1);
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 5), 2);
    kv_grow(&kv, s, 4); // exactly one block
    cr_assert_eq(kv.seqs[s].n_blocks, 1);
    cr_assert_eq(kv.seqs[s].len, 4);
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 5), 1);
    kv_grow(&kv, s, 5); // position 4 opens block 2
    cr_assert_eq(kv.seqs[s].n_blocks, 2);
    kv_grow(&kv, s, 8); // fills it, no new block
    cr_assert_eq(kv.seqs[s].n_blocks, 2);
    kv_grow(&kv, s, 13);
    cr_assert_eq(kv.seqs[s].n_blocks, 4);
    cr_assert_eq(is_kv_n_used(&kv), 4);
    // lowest ids first
    for (int i = 0; i < 4; i++) cr_assert_eq(kv.seqs[s].blocks[i], i);
    kv_check(&kv);
    // reserve does not change len; a shorter reserve is a no-op
    cr_assert_eq(is_kv_blocks_needed(&kv, s, 3), 0);
    is_kv_copy cp[1];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, s, 20, cp, &n_cp, &err), 0);
    cr_assert_eq(kv.seqs[s].len, 13);
    cr_assert_eq(kv.seqs[s].n_blocks, 5);
    kv_check(&kv);
    is_kv_seq_release(&kv, s);
    cr_assert_eq(kv.n_free, 8);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, slots_map_to_blocks) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 2, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err), b = is_kv_seq_new(&kv, &err);
    cr_assert_eq(a, 0);
    cr_assert_eq(b, 1);
    kv_grow(&kv, a, 4); // a: block 0
    kv_grow(&kv, b, 6); // b: blocks 1, 2
    kv_grow(&kv, a, 7); // a: blocks 0, 3
    int32_t want_a[] = {0, 1, 2, 3, 12, 13, 14};
    for (int p = 0; p < 7; p++) cr_assert_eq(is_kv_slot(&kv, a, p), want_a[p], "a pos %d", p);
    int32_t want_b[] = {4, 5, 6, 7, 8, 9, 10, 11};
    for (int p = 0; p < 8; p++) cr_assert_eq(is_kv_slot(&kv, b, p), want_b[p], "b pos %d", p);
    // a freed block is reused first (top of the stack)
    is_kv_seq_release(&kv, b);
    kv_grow(&kv, a, 9);
    cr_assert_eq(kv.seqs[a].blocks[2], 1);
    cr_assert_eq(is_kv_slot(&kv, a, 8), 4);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, too_many_sequences) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 4, 4, 2, 1.0, &err), 0);
    cr_assert_eq(is_kv_seq_new(&kv, &err), 0);
    cr_assert_eq(is_kv_seq_new(&kv, &err), 1);
    cr_assert_eq(is_kv_seq_new(&kv, &err), -1);
    cr_assert(strstr(err.msg, "too many sequences: 2 active (max_seqs 2)"), "%s", err.msg);
    err.msg[0] = 0;
    cr_assert_eq(is_kv_seq_fork(&kv, 0, &err), -1);
    cr_assert(strstr(err.msg, "too many sequences"), "%s", err.msg);
    is_kv_seq_release(&kv, 0);
    cr_assert_eq(is_kv_seq_new(&kv, &err), 0); // the freed slot is reused
    is_kv_free(&kv);
}

Test(kv_cache, reserve_that_does_not_fit_changes_nothing) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 6, 4, 3, 12.5, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 10); // 3 blocks
    int b = is_kv_seq_fork(&kv, a, &err);
    int c = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, c, 5); // 2 blocks, 1 free
    kv_check(&kv);

    kv_snap snap = kv_snap_take(&kv);
    is_kv_copy cp[1] = {{-7, -7}};
    int n_cp = 0;
    // c needs 2 more blocks (up to 16 tokens), 1 is free
    cr_assert_eq(is_kv_blocks_needed(&kv, c, 16), 2);
    cr_assert_eq(is_kv_seq_reserve(&kv, c, 16, cp, &n_cp, &err), -1);
    cr_assert(strstr(err.msg, "KV cache full: sequence 2 needs 2 more blocks of 4 tokens, 1 free"),
              "%s", err.msg);
    cr_assert(strstr(err.msg, "12.5 MiB"), "%s", err.msg);
    cr_assert_eq(n_cp, 0);
    cr_assert_eq(cp[0].src, -7);
    kv_snap_expect_same(&snap, &kv);

    // b writes into its shared last block and opens another: CoW + 1 = 2 > 1 free
    cr_assert_eq(is_kv_blocks_needed(&kv, b, 13), 2);
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 13, cp, &n_cp, &err), -1);
    cr_assert(strstr(err.msg, "sequence 1 needs 2 more blocks"), "%s", err.msg);
    kv_snap_expect_same(&snap, &kv);
    kv_snap_free(&snap, kv.max_seqs);

    // the copy alone fits
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 12, cp, &n_cp, &err), 0, "%s", err.msg);
    cr_assert_eq(n_cp, 1);
    cr_assert_eq(kv.n_free, 0);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, fork_shares_blocks) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 7);
    int b = is_kv_seq_fork(&kv, a, &err);
    cr_assert_eq(b, 1);
    cr_assert_eq(kv.seqs[b].len, 7);
    cr_assert_eq(kv.seqs[b].n_blocks, 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(kv.seqs[b].blocks[i], kv.seqs[a].blocks[i]);
        cr_assert_eq(kv.refcount[kv.seqs[a].blocks[i]], 2);
    }
    for (int p = 0; p < 7; p++) cr_assert_eq(is_kv_slot(&kv, a, p), is_kv_slot(&kv, b, p));
    cr_assert_eq(is_kv_n_used(&kv), 2);
    kv_check(&kv);
    // releasing one owner keeps the blocks for the other
    is_kv_seq_release(&kv, a);
    cr_assert_eq(is_kv_n_used(&kv), 2);
    cr_assert_eq(kv.refcount[kv.seqs[b].blocks[0]], 1);
    kv_check(&kv);
    is_kv_seq_release(&kv, b);
    cr_assert_eq(kv.n_free, 8);
    is_kv_free(&kv);
}

Test(kv_cache, write_after_fork_mid_block_copies_once) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 6); // blocks 0, 1; block 1 half full
    int b = is_kv_seq_fork(&kv, a, &err);
    cr_assert_eq(is_kv_blocks_needed(&kv, b, 7), 1);
    is_kv_copy cp[2];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 8, cp, &n_cp, &err), 0, "%s", err.msg);
    cr_assert_eq(n_cp, 1);
    cr_assert_eq(cp[0].src, 1);
    cr_assert_eq(cp[0].dst, 2);
    cr_assert_eq(kv.seqs[b].blocks[0], 0); // the full block stays shared
    cr_assert_eq(kv.seqs[b].blocks[1], 2); // the writer's private copy
    cr_assert_eq(kv.seqs[a].blocks[1], 1); // the other keeps the original
    cr_assert_eq(kv.refcount[0], 2);
    cr_assert_eq(kv.refcount[1], 1);
    cr_assert_eq(kv.refcount[2], 1);
    cr_assert_eq(kv.seqs[b].len, 6);
    is_kv_seq_set_len(&kv, b, 8);
    kv_check(&kv);
    // a's block is private now: writing needs no copy
    cr_assert_eq(is_kv_blocks_needed(&kv, a, 8), 0);
    kv_grow(&kv, a, 8);
    // a second reserve of b at a block boundary opens a fresh block, no copy
    n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 9, cp, &n_cp, &err), 0);
    cr_assert_eq(n_cp, 0);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, parent_writing_after_fork_gets_the_copy) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 3);
    int b = is_kv_seq_fork(&kv, a, &err);
    is_kv_copy cp[1];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, a, 4, cp, &n_cp, &err), 0);
    cr_assert_eq(n_cp, 1);
    cr_assert_eq(cp[0].src, 0);
    cr_assert_eq(cp[0].dst, 1);
    cr_assert_eq(kv.seqs[a].blocks[0], 1);
    cr_assert_eq(kv.seqs[b].blocks[0], 0);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, fork_at_block_boundary_needs_no_copy) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 8);
    int b = is_kv_seq_fork(&kv, a, &err);
    cr_assert_eq(is_kv_blocks_needed(&kv, b, 9), 1);
    is_kv_copy cp[1];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 9, cp, &n_cp, &err), 0);
    cr_assert_eq(n_cp, 0);
    cr_assert_eq(kv.seqs[b].n_blocks, 3);
    cr_assert_eq(kv.seqs[b].blocks[2], 2);
    cr_assert_eq(kv.refcount[0], 2);
    cr_assert_eq(kv.refcount[1], 2);
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, fork_does_not_share_reserved_tail) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    is_kv_copy cp[1];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, a, 12, cp, &n_cp, &err), 0);
    is_kv_seq_set_len(&kv, a, 4); // block 0 written, blocks 1 and 2 reserved
    int b = is_kv_seq_fork(&kv, a, &err);
    cr_assert_eq(kv.seqs[b].n_blocks, 1);
    cr_assert_eq(kv.refcount[1], 1);
    // both write position 4 onwards into blocks of their own
    kv_grow(&kv, a, 5);
    kv_grow(&kv, b, 5);
    cr_assert_neq(is_kv_slot(&kv, a, 4), is_kv_slot(&kv, b, 4));
    kv_check(&kv);
    is_kv_free(&kv);
}

Test(kv_cache, truncate_releases_and_cow_in_shared_block) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, 8, 4, 3, 1.0, &err), 0);
    int a = is_kv_seq_new(&kv, &err);
    kv_grow(&kv, a, 10); // blocks 0, 1, 2
    int b = is_kv_seq_fork(&kv, a, &err);
    is_kv_seq_truncate(&kv, b, 6); // drops b's reference to block 2
    cr_assert_eq(kv.seqs[b].n_blocks, 2);
    cr_assert_eq(kv.seqs[b].len, 6);
    cr_assert_eq(kv.refcount[2], 1);
    kv_check(&kv);
    // b's len is mid-way through shared block 1
    cr_assert_eq(is_kv_blocks_needed(&kv, b, 7), 1);
    is_kv_copy cp[1];
    int n_cp = 0;
    cr_assert_eq(is_kv_seq_reserve(&kv, b, 7, cp, &n_cp, &err), 0);
    cr_assert_eq(n_cp, 1);
    cr_assert_eq(cp[0].src, 1);
    cr_assert_eq(cp[0].dst, 3);
    is_kv_seq_truncate(&kv, a, 0);
    cr_assert_eq(kv.seqs[a].n_blocks, 0);
    kv_check(&kv);
    cr_assert_eq(is_kv_n_used(&kv), 2); // b's blocks 0 and 3
    // set_len below len releases like truncate
    is_kv_seq_set_len(&kv, b, 3);
    cr_assert_eq(kv.seqs[b].n_blocks, 1);
    cr_assert_eq(is_kv_n_used(&kv), 1);
    kv_check(&kv);
    is_kv_free(&kv);
}

// --- randomized --------------------------------------------------------------

// Runs random operations on a cache and a shadow pool: tokens written through
// is_kv_slot (after applying the requested copies) must read back as each
// sequence's own token list, whatever was shared, copied or freed.
static void kv_random_run(uint64_t seed, int n_blocks, int block_size, int max_seqs, int steps) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, n_blocks, block_size, max_seqs, 3.0, &err), 0);
    const int cap = n_blocks * block_size;
    int *pool = calloc((size_t)cap, sizeof *pool);     // the "backend" slots
    int *model = calloc((size_t)max_seqs * cap, sizeof *model); // tokens per seq
    is_kv_copy *cp = malloc(4 * sizeof *cp);
    is_rng rng;
    is_rng_seed(&rng, seed);
    int token = 1, n_fail = 0, n_copy = 0, n_fork = 0;

    for (int step = 0; step < steps; step++) {
        int active[64], n_active = 0;
        for (int s = 0; s < max_seqs; s++)
            if (kv.seqs[s].active) active[n_active++] = s;
        int op = (int)(is_rng_next(&rng) % 10);
        int s = n_active ? active[is_rng_next(&rng) % (uint64_t)n_active] : -1;
        if (s < 0 || op == 0) { // new
            int id = is_kv_seq_new(&kv, &err);
            cr_assert_eq(id < 0, n_active == max_seqs);
        } else if (op <= 4) { // reserve, write, set_len
            int len = kv.seqs[s].len;
            int add = 1 + (int)(is_rng_next(&rng) % (uint64_t)(2 * block_size + 1));
            int extra = (is_rng_next(&rng) % 4 == 0) ? (int)(is_rng_next(&rng) % (uint64_t)block_size) : 0;
            int need = is_kv_blocks_needed(&kv, s, len + add + extra);
            kv_snap snap = kv_snap_take(&kv);
            int n_cp = 0;
            int rc = is_kv_seq_reserve(&kv, s, len + add + extra, cp, &n_cp, &err);
            if (rc < 0) {
                cr_assert_gt(need, snap.n_free);
                cr_assert(strstr(err.msg, "KV cache full"), "%s", err.msg);
                cr_assert_eq(n_cp, 0);
                kv_snap_expect_same(&snap, &kv);
                n_fail++;
            } else {
                cr_assert_leq(need, snap.n_free);
                cr_assert_eq(kv.n_free, snap.n_free - need, "step %d", step);
                cr_assert_leq(n_cp, 1);
                n_copy += n_cp;
                for (int i = 0; i < n_cp; i++)
                    memcpy(pool + cp[i].dst * block_size, pool + cp[i].src * block_size,
                           (size_t)block_size * sizeof *pool);
                for (int p = len; p < len + add; p++) {
                    pool[is_kv_slot(&kv, s, p)] = token;
                    model[s * cap + p] = token++;
                }
                is_kv_seq_set_len(&kv, s, len + add);
            }
            kv_snap_free(&snap, max_seqs);
        } else if (op <= 6) { // fork
            int id = is_kv_seq_fork(&kv, s, &err);
            if (id >= 0) {
                memcpy(model + id * cap, model + s * cap, (size_t)kv.seqs[s].len * sizeof *model);
                n_fork++;
            } else {
                cr_assert_eq(n_active, max_seqs);
            }
        } else if (op <= 8) { // truncate
            is_kv_seq_truncate(&kv, s, (int)(is_rng_next(&rng) % (uint64_t)(kv.seqs[s].len + 1)));
        } else { // release
            is_kv_seq_release(&kv, s);
        }
        kv_check(&kv);
        for (int q = 0; q < max_seqs; q++)
            for (int p = 0; p < kv.seqs[q].len; p++)
                cr_assert_eq(pool[is_kv_slot(&kv, q, p)], model[q * cap + p],
                             "step %d seq %d pos %d", step, q, p);
    }
    for (int q = 0; q < max_seqs; q++)
        if (kv.seqs[q].active) is_kv_seq_release(&kv, q);
    kv_check(&kv);
    cr_assert_eq(kv.n_free, n_blocks);
    cr_assert_eq(is_kv_n_used(&kv), 0);
    // the run exercised the interesting paths
    cr_assert_gt(n_fail, 0);
    if (block_size > 1) cr_assert_gt(n_copy, 0); // with 1-token blocks no block is ever partly filled
    cr_assert_gt(n_fork, 0);
    free(cp);
    free(pool);
    free(model);
    is_kv_free(&kv);
}

Test(kv_cache, random_operations_keep_invariants_bs4) { kv_random_run(1, 24, 4, 6, 4000); }
Test(kv_cache, random_operations_keep_invariants_bs1) { kv_random_run(2, 40, 1, 5, 3000); }
Test(kv_cache, random_operations_keep_invariants_bs7) { kv_random_run(3, 16, 7, 8, 4000); }

// --- prefix cache, randomized ----------------------------------------------------
// Sequences draw tokens from 3 ids, so prefixes repeat; every full block is
// registered as it fills (as the scheduler does) and new sequences attach the
// longest registered chain of their tokens. A slot of the shadow pool holds a
// hash of the whole prefix up to its position (what real K and V depend on): a
// shared block must read back as the sharing sequence's own prefix hashes.

static uint64_t prefix_hash(const int32_t *t, int n) {
    uint64_t h = 0x1234;
    for (int i = 0; i < n; i++) h = is_mix64(h ^ (uint64_t)(t[i] + 1));
    return h;
}

static void kv_prefix_random_run(uint64_t seed, int n_blocks, int bs, int max_seqs, int steps) {
    is_kv_cache kv;
    is_err err = {0};
    cr_assert_eq(is_kv_init(&kv, n_blocks, bs, max_seqs, 3.0, &err), 0);
    is_kv_prefix_enable(&kv);
    const int cap = n_blocks * bs;
    uint64_t *pool = calloc((size_t)cap, sizeof *pool);
    int32_t *tok = calloc((size_t)max_seqs * cap, sizeof *tok); // tokens per seq
    int *n_reg = calloc((size_t)max_seqs, sizeof *n_reg);
    uint64_t *key = calloc((size_t)max_seqs, sizeof *key);
    is_kv_copy cp[4];
    is_rng rng;
    is_rng_seed(&rng, seed);
    long hits = 0, evicted_seen = 0;
    for (int step = 0; step < steps; step++) {
        int active[64], n_active = 0;
        for (int q = 0; q < max_seqs; q++)
            if (kv.seqs[q].active) active[n_active++] = q;
        int op = (int)(is_rng_next(&rng) % 10);
        int s = n_active ? active[is_rng_next(&rng) % (uint64_t)n_active] : -1;
        if (s < 0 || op <= 1) { // a new sequence that looks its tokens up in the cache
            int id = is_kv_seq_new(&kv, &err);
            if (id < 0) continue;
            int L = 1 + (int)(is_rng_next(&rng) % (uint64_t)(3 * bs));
            for (int i = 0; i < L; i++) tok[id * cap + i] = (int32_t)(is_rng_next(&rng) % 3 == 0 ? 1 : i % 2);
            int m = is_kv_prefix_attach(&kv, id, tok + id * cap, L, (L - 1) / bs);
            cr_assert_eq(kv.seqs[id].len, m * bs);
            hits += m;
            n_reg[id] = m;
            key[id] = 0;
            for (int b = 0; b < m; b++) key[id] = is_kv_prefix_key(key[id], tok + id * cap + b * bs, bs);
        } else if (op <= 5) { // write: the next tokens, then register the blocks they filled
            int len = kv.seqs[s].len, add = 1 + (int)(is_rng_next(&rng) % (uint64_t)(2 * bs));
            int n_cp = 0;
            if (is_kv_seq_reserve(&kv, s, len + add, cp, &n_cp, &err) < 0) {
                cr_assert(strstr(err.msg, "KV cache full"), "%s", err.msg);
                kv_check(&kv);
                continue;
            }
            for (int i = 0; i < n_cp; i++)
                memcpy(pool + cp[i].dst * bs, pool + cp[i].src * bs, (size_t)bs * sizeof *pool);
            for (int p = len; p < len + add; p++) {
                if (p >= len) tok[s * cap + p] = (int32_t)(is_rng_next(&rng) % 3 == 0 ? 1 : p % 2);
                pool[is_kv_slot(&kv, s, p)] = prefix_hash(tok + s * cap, p + 1);
            }
            is_kv_seq_set_len(&kv, s, len + add);
            while ((n_reg[s] + 1) * bs <= kv.seqs[s].len) {
                key[s] = is_kv_prefix_register(&kv, s, n_reg[s], key[s], tok + s * cap + n_reg[s] * bs);
                n_reg[s]++;
            }
        } else if (op == 6) { // fork
            int id = is_kv_seq_fork(&kv, s, &err);
            if (id >= 0) {
                memcpy(tok + id * cap, tok + s * cap, (size_t)kv.seqs[s].len * sizeof *tok);
                n_reg[id] = kv.seqs[s].len / bs < n_reg[s] ? kv.seqs[s].len / bs : n_reg[s];
                key[id] = 0;
                for (int b = 0; b < n_reg[id]; b++) key[id] = is_kv_prefix_key(key[id], tok + id * cap + b * bs, bs);
            }
        } else if (op == 7) { // truncate (a cached block written again is copied first)
            int len = (int)(is_rng_next(&rng) % (uint64_t)(kv.seqs[s].len + 1));
            is_kv_seq_truncate(&kv, s, len);
            if (n_reg[s] > len / bs) {
                n_reg[s] = len / bs;
                key[s] = 0;
                for (int b = 0; b < n_reg[s]; b++) key[s] = is_kv_prefix_key(key[s], tok + s * cap + b * bs, bs);
            }
        } else if (op == 8) {
            is_kv_seq_release(&kv, s);
        } else if (is_rng_next(&rng) % 8 == 0) {
            is_kv_prefix_evict_all(&kv);
            cr_assert_eq(kv.n_evictable, 0);
        }
        evicted_seen = kv.n_evicted;
        kv_check(&kv);
        for (int q = 0; q < max_seqs; q++)
            for (int p = 0; p < kv.seqs[q].len; p++)
                cr_assert_eq(pool[is_kv_slot(&kv, q, p)], prefix_hash(tok + q * cap, p + 1),
                             "step %d seq %d pos %d: a shared block holds another prefix", step, q, p);
    }
    for (int q = 0; q < max_seqs; q++)
        if (kv.seqs[q].active) is_kv_seq_release(&kv, q);
    kv_check(&kv);
    cr_assert_eq(kv.n_free + kv.n_evictable, n_blocks, "only the cache holds blocks after every release");
    is_kv_prefix_evict_all(&kv);
    cr_assert_eq(kv.n_free, n_blocks, "no block leaks");
    cr_assert_gt(hits, 0, "the run found prefixes in the cache");
    cr_assert_gt(evicted_seen, 0, "the run evicted blocks");
    free(pool);
    free(tok);
    free(n_reg);
    free(key);
    is_kv_free(&kv);
}

Test(kv_cache, prefix_cache_random_operations_bs4) { kv_prefix_random_run(11, 24, 4, 6, 4000); }
Test(kv_cache, prefix_cache_random_operations_bs2) { kv_prefix_random_run(12, 16, 2, 8, 4000); }
