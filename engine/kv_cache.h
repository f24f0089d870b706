// kv_cache.h — the paged KV cache's block manager (host-side bookkeeping only).
//
// The K and V data live in backend pools of n_blocks * block_size slots per
// layer; this module decides which block holds which positions. Each sequence
// has a block table; free blocks sit on a free list; reference counts let
// sequences share blocks (a fork shares the parent's blocks, and a write to a
// shared block first copies it: copy-on-write).
//
// Prefix cache (opt-in, is_kv_prefix_enable): a full block can be registered
// under the tokens it holds and the block before it; the cache then holds one
// reference of its own, so the block outlives its sequence. A new sequence
// finds the longest chain of registered blocks that matches its tokens from
// position 0 and shares them instead of computing them again. A registered
// block that only the cache holds is evictable: it stays until a block is
// needed and none is free, then the least recently used one is taken back.
#ifndef IS_KV_CACHE_H
#define IS_KV_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct is_kv_seq {
    bool active;
    int len;          // tokens stored
    int n_blocks;     // blocks in the table
    int cap_blocks;   // allocated length of blocks[]
    int32_t *blocks;  // physical block ids, in position order
} is_kv_seq;

typedef struct is_kv_cache {
    int n_blocks;       // blocks in the pool
    int block_size;     // tokens per block
    int32_t *refcount;  // [n_blocks]; 0 = free
    int32_t *free_list; // stack of free block ids
    int n_free;
    int max_seqs;
    is_kv_seq *seqs;    // [max_seqs]
    int seq_hint;       // every sequence id below it is active
    double budget_mib;  // for messages
    // prefix cache (all NULL / 0 until is_kv_prefix_enable)
    bool prefix_on;
    uint64_t *pc_key;      // [n_blocks] key of a registered block (is_kv_prefix_key)
    uint64_t *pc_pkey;     // [n_blocks] key of the block before it (0 for a sequence's first block)
    int32_t *pc_tokens;    // [n_blocks * block_size] the tokens it holds
    bool *pc_cached;       // [n_blocks] registered
    int32_t *pc_next;      // [n_blocks] next block in its hash bucket, -1 ends
    int32_t *pc_bucket;    // [pc_mask + 1] first block of each bucket, -1 when empty
    uint32_t pc_mask;
    int32_t *pc_lru_prev, *pc_lru_next; // evictable blocks, least recently used first
    int32_t pc_lru_head, pc_lru_tail;
    int n_evictable;       // registered blocks held by the cache alone
    int n_cached;          // registered blocks
    long n_evicted;        // blocks taken back from the cache since enable
} is_kv_cache;

// A pending block copy (copy-on-write): the caller copies src's data to dst
// in the backend pools before writing to dst.
typedef struct is_kv_copy {
    int32_t src, dst;
} is_kv_copy;

int is_kv_init(is_kv_cache *kv, int n_blocks, int block_size, int max_seqs, double budget_mib,
               is_err *err);
void is_kv_free(is_kv_cache *kv);

// A new empty sequence; returns its id, or -1 (with err) when max_seqs are active.
int is_kv_seq_new(is_kv_cache *kv, is_err *err);
// Drops a sequence and releases its blocks (decrementing shared ones).
void is_kv_seq_release(is_kv_cache *kv, int seq);
// A new sequence sharing all of src's blocks; returns its id or -1.
int is_kv_seq_fork(is_kv_cache *kv, int src, is_err *err);

// Makes room for positions [len, new_len) of seq so they can be written: appends
// blocks and replaces a shared last block by a private copy (recorded in
// copies[*n_copies++], room for at least 1 per call). Does not change len.
// On failure (pool exhausted) nothing changes and err says how many blocks were
// needed and how many were free.
int is_kv_seq_reserve(is_kv_cache *kv, int seq, int new_len, is_kv_copy *copies, int *n_copies,
                      is_err *err);
// Blocks that reserving new_len for seq would take from the free list.
int is_kv_blocks_needed(const is_kv_cache *kv, int seq, int new_len);
// Sets the stored length (after the backend wrote positions up to new_len).
void is_kv_seq_set_len(is_kv_cache *kv, int seq, int new_len);
// Shrinks seq to len tokens, releasing blocks past it.
void is_kv_seq_truncate(is_kv_cache *kv, int seq, int len);
// Physical slot of position pos of seq (block * block_size + offset).
int32_t is_kv_slot(const is_kv_cache *kv, int seq, int pos);
int is_kv_n_used(const is_kv_cache *kv); // blocks with refcount > 0
// Blocks a reservation can take: free ones plus evictable cached ones.
int is_kv_n_available(const is_kv_cache *kv);

// ---- prefix cache ----
// Turns the prefix cache on (idempotent).
void is_kv_prefix_enable(is_kv_cache *kv);
// The key of a block holding tokens[0 .. block_size) after a block whose key is
// parent_key (0 for the first block of a sequence).
uint64_t is_kv_prefix_key(uint64_t parent_key, const int32_t *tokens, int block_size);
// Registers table entry bi of seq, a full block holding tokens[0 .. block_size),
// whose predecessor has key parent_key (entry bi - 1, or none when bi is 0).
// Returns its key. When an equal block (same tokens after the same registered
// parent) is already registered, nothing changes. Needs the prefix cache on.
uint64_t is_kv_prefix_register(is_kv_cache *kv, int seq, int bi, uint64_t parent_key, const int32_t *tokens);
// Appends to the empty sequence seq the longest chain of registered blocks that
// holds tokens[0 .. n_tokens) from position 0, at most max_blocks of them;
// each gains a reference. Returns the blocks shared (the sequence's length is
// then that many blocks); 0 with the cache off.
int is_kv_prefix_attach(is_kv_cache *kv, int seq, const int32_t *tokens, int n_tokens, int max_blocks);
// Takes every evictable block back (blocks still shared by sequences stay).
void is_kv_prefix_evict_all(is_kv_cache *kv);

#endif
