// cuda_plan.h — the CUDA backend's host-side planning, plain C so that it is
// built and tested everywhere (no GPU needed): how a forward chunk's host arrays
// are packed into one upload, how prefill attention is cut into query tiles, and
// the cache of recorded graphs keyed by owner and batch shape.
// Declares: is_cuda_layout, is_cuda_plan_*, is_graph_cache, is_graph_cache_*.
#ifndef IS_CUDA_PLAN_H
#define IS_CUDA_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

// Queries per prefill attention tile (tokens of one sequence).
#define IS_CUDA_TILE_Q 16
// Smallest block-table stride of an upload; strides are powers of two from here,
// so a graph recorded for one stride serves every context up to it.
#define IS_CUDA_MIN_STRIDE 16

// Where each array sits in a packed upload, in int32 elements from its start.
typedef struct is_cuda_layout {
    int n_tokens, n_seqs, n_rows, n_tiles;
    int stride;        // block-table entries per sequence (>= the batch's max_blocks)
    bool decode;       // every tile is one token: the decode attention kernel runs
    size_t off_tok, off_pos, off_seq, off_slot, off_rows, off_tiles, off_bt;
    size_t total;      // int32 elements in all
} is_cuda_layout;

// Tiles of the attention batch: runs of consecutive tokens of one sequence, cut
// every tile_q tokens. Writes (first token, count) pairs to tiles (room for 2 *
// n_tokens; may be NULL to count only) and returns the number of tiles.
int is_cuda_plan_tiles(const int32_t *seq, int n_tokens, int tile_q, int32_t *tiles);
// The block-table stride for max_blocks: the next power of two >= max(max_blocks, IS_CUDA_MIN_STRIDE).
int is_cuda_plan_stride(int max_blocks);
// The layout of a chunk (each array starts on a 4-element, 16-byte boundary).
void is_cuda_plan_layout(is_cuda_layout *L, int n_tokens, int n_seqs, int n_rows, int n_tiles, int stride);
// Packs a chunk into dst (L->total elements): tok (NULL: zeros), pos, seq, slot,
// rows (NULL when n_rows is 0), tiles, and the block tables at L->stride (-1 past
// each table). L must come from is_cuda_plan_layout for this b.
void is_cuda_plan_pack(int32_t *dst, const is_cuda_layout *L, const int32_t *tok, const is_attn_batch *b,
                       const int32_t *rows);

// ---- recorded graphs ----
// A graph is valid for one owner (its buffers are baked in) and one shape.
#define IS_GRAPH_KEY_N 8
typedef struct is_graph_key {
    const void *owner;
    int64_t v[IS_GRAPH_KEY_N];
} is_graph_key;

// The key of a chunk laid out as L, with variant: the backend's kernel choices.
is_graph_key is_cuda_plan_key(const void *owner, const is_cuda_layout *L, int64_t variant);

typedef struct is_graph_entry {
    is_graph_key key;
    void *exec;         // the backend's instantiated graph; NULL: shape seen once, not recorded
    uint64_t last_use;
} is_graph_entry;

typedef struct is_graph_cache {
    is_graph_entry *e;
    int n, cap;
    uint64_t clock;
    void (*destroy)(void *exec, void *user); // frees an exec (not called for NULL)
    void *user;
    long n_recorded, n_replayed, n_evicted; // counters for reports and tests
} is_graph_cache;

// A cache of at most cap entries; destroy frees evicted and dropped graphs.
void is_graph_cache_init(is_graph_cache *c, int cap, void (*destroy)(void *exec, void *user), void *user);
void is_graph_cache_free(is_graph_cache *c);
// The entry for key (its last use updated), or NULL.
is_graph_entry *is_graph_cache_find(is_graph_cache *c, const is_graph_key *key);
// Adds key with exec (NULL: only remember that the shape was seen), evicting the
// least recently used entry when full; an entry already there gets exec.
is_graph_entry *is_graph_cache_put(is_graph_cache *c, const is_graph_key *key, void *exec);
// Drops every entry of owner (NULL: every entry).
void is_graph_cache_drop(is_graph_cache *c, const void *owner);

#ifdef __cplusplus
}
#endif

#endif
