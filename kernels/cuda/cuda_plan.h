// cuda_plan.h — the CUDA backend's host-side planning, plain C so that it is
// built and tested everywhere (no GPU needed): how a forward chunk's host arrays
// are packed into one upload, how prefill attention is cut into query tiles, the
// launch geometry of the kernel variants (custom GEMV, split-KV decode), and the
// cache of recorded graphs keyed by owner and batch shape.
// Declares: is_cuda_layout, is_cuda_plan_*, is_cuda_gemv_plan, is_cuda_split_plan,
// is_graph_cache, is_graph_cache_*.
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

// ---- kernel variants: launch plans ----
// Blocks per SM a variant's launch aims for: enough 16-byte loads in flight to
// keep memory busy, with room for a second block while one drains.
#define IS_CUDA_FILL_PER_SM 4

// gemv=custom (cuda_gemv.cu): out[n, out_rows] = x[n, cols] . w[out_rows, cols]^T,
// n <= IS_CUDA_GEMV_MAX_N. A warp computes rows_per_warp consecutive output rows
// for all n activation rows; a block holds warps such warps; grid (blocks, split).
// With split > 1 block (bx, s) sums columns [s * slice, min((s + 1) * slice, cols))
// into a workspace of split x n x out_rows partials and a second pass adds them.
#define IS_CUDA_GEMV_MAX_N 8
#define IS_CUDA_GEMV_WARPS 4
#define IS_CUDA_GEMV_MIN_SLICE 512 // fewest columns in a slice: two 8-column loads per lane
#define IS_CUDA_GEMV_MAX_SPLIT 16
typedef struct is_cuda_gemv_plan {
    int rows_per_warp; // 1, 2 or 4
    int warps;         // per block
    int blocks;        // grid.x: ceil(out_rows / (rows_per_warp * warps))
    int split;         // grid.y: column slices; 1 when the row blocks alone fill the device
    int64_t slice;     // columns per slice, a multiple of 8 (the last may be shorter); cols when split is 1
} is_cuda_gemv_plan;
// The plan for a shape on a device of sm_count SMs: the most rows per warp that
// still gives IS_CUDA_FILL_PER_SM blocks per SM, split-K only when even one row
// per warp leaves the grid under that, never a slice under IS_CUDA_GEMV_MIN_SLICE
// columns and never an empty slice.
void is_cuda_plan_gemv(is_cuda_gemv_plan *p, int64_t out_rows, int64_t cols, int n, int sm_count);
// Columns per tile of the GEMV of quantized weights (cuda_quant.cu): its split-K
// slices are whole tiles (the granule of is_cuda_plan_qgemv).
#define IS_CUDA_QGEMV_KT 512
// The GEMV of quantized weights (cuda_quant.cu): is_cuda_plan_gemv's plan with the
// column slices of split-K rounded up to whole multiples of granule columns (the
// kernel's tile; a multiple of the format's 32-element blocks, so that no slice cuts
// a block), split shrinking to match: never more partials than is_cuda_plan_gemv's plan.
void is_cuda_plan_qgemv(is_cuda_gemv_plan *p, int64_t out_rows, int64_t cols, int n, int sm_count, int64_t granule);
// Floats of split-K partials a plan needs (0 when split is 1), and the most any
// plan on sm_count SMs needs (the workspace is sized once, outside graph capture).
size_t is_cuda_plan_gemv_work(const is_cuda_gemv_plan *p, int64_t out_rows, int n);
size_t is_cuda_plan_gemv_work_max(int sm_count);

// attn_decode=split_kv (cuda_attention.cu): the context of every (token, head) is
// cut into n_parts partitions, a block each; a second kernel merges them. n_parts
// is planned once for the longest context the chunk admits (the block-table
// stride x block_size: a recorded graph stays right as contexts grow up to it);
// each token's partition length then comes from its own context
// (is_cuda_split_part_len), so its partitions are balanced, and those past its
// context are empty.
#define IS_CUDA_SPLIT_MIN_PART 256 // fewest positions a partition takes: two passes of the block's 4 warps
#define IS_CUDA_SPLIT_MAX_PARTS 256
typedef struct is_cuda_split_plan {
    int n_parts;  // 1: the naive kernel's work, no workspace, no merge
    int part_len; // positions per partition at the planned context, a multiple of block_size
} is_cuda_split_plan;
void is_cuda_plan_split_kv(is_cuda_split_plan *p, int n_tokens, int n_heads, int ctx, int block_size, int sm_count);
// Floats of partials (max, sum and head_dim unnormalized outputs per partition),
// and the most any plan on sm_count SMs needs at head_dim <= IS_MAX_HEAD_DIM.
size_t is_cuda_plan_split_kv_work(const is_cuda_split_plan *p, int n_tokens, int n_heads, int head_dim);
size_t is_cuda_plan_split_kv_work_max(int sm_count);

#ifdef __CUDACC__
#define IS_CUDA_HD __host__ __device__
#else
#define IS_CUDA_HD
#endif
// Positions per partition for a context of ctx over n_parts partitions: ctx / n_parts
// rounded up to whole KV blocks, and at least IS_CUDA_SPLIT_MIN_PART (in whole
// blocks). Partition i covers [i * len, min((i + 1) * len, ctx)); n_parts of them cover ctx.
static inline IS_CUDA_HD int is_cuda_split_part_len(int ctx, int n_parts, int block_size) {
    int len = (ctx + n_parts - 1) / n_parts;
    if (len < IS_CUDA_SPLIT_MIN_PART) len = IS_CUDA_SPLIT_MIN_PART;
    return (len + block_size - 1) / block_size * block_size;
}

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
    bool no_graph;      // a recording of this shape failed: it runs eagerly (exec is NULL)
    uint64_t last_use;
} is_graph_entry;

typedef struct is_graph_cache {
    is_graph_entry *e;
    int n, cap;
    uint64_t clock;
    void (*destroy)(void *exec, void *user); // frees an exec (not called for NULL)
    void *user;
    long n_recorded, n_replayed, n_evicted; // counters for reports and tests
    long n_failed;                          // recordings that failed (is_graph_cache_refuse)
} is_graph_cache;

// A cache of at most cap entries; destroy frees evicted and dropped graphs.
void is_graph_cache_init(is_graph_cache *c, int cap, void (*destroy)(void *exec, void *user), void *user);
void is_graph_cache_free(is_graph_cache *c);
// The entry for key (its last use updated), or NULL.
is_graph_entry *is_graph_cache_find(is_graph_cache *c, const is_graph_key *key);
// Adds key with exec (NULL: only remember that the shape was seen), evicting the
// least recently used entry when full; an entry already there gets exec.
is_graph_entry *is_graph_cache_put(is_graph_cache *c, const is_graph_key *key, void *exec);
// Marks key as a shape whose recording failed: it stays in the cache with
// no_graph set (and no exec), so the backend runs it eagerly from then on, and
// n_failed counts it. An eviction forgets the mark: the shape is tried again.
is_graph_entry *is_graph_cache_refuse(is_graph_cache *c, const is_graph_key *key);
// Drops every entry of owner (NULL: every entry).
void is_graph_cache_drop(is_graph_cache *c, const void *owner);

#ifdef __cplusplus
}
#endif

#endif
