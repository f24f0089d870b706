// kv_cache.h — the paged KV cache's block manager (host-side bookkeeping only).
//
// The K and V data live in backend pools of n_blocks * block_size slots per
// layer; this module decides which block holds which positions. Each sequence
// has a block table; free blocks sit on a free list; reference counts let
// sequences share blocks (a fork shares the parent's blocks, and a write to a
// shared block first copies it: copy-on-write).
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

#endif
