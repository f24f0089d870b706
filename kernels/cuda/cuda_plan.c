// cuda_plan.c — host-side planning of the CUDA backend (see cuda_plan.h).
#include "kernels/cuda/cuda_plan.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"

int is_cuda_plan_tiles(const int32_t *seq, int n_tokens, int tile_q, int32_t *tiles) {
    IS_ASSERT(tile_q >= 1 && n_tokens >= 0);
    int n = 0;
    for (int t = 0; t < n_tokens;) {
        int e = t + 1;
        while (e < n_tokens && e - t < tile_q && seq[e] == seq[t]) e++;
        if (tiles) {
            tiles[2 * n] = t;
            tiles[2 * n + 1] = e - t;
        }
        n++;
        t = e;
    }
    return n;
}

int is_cuda_plan_stride(int max_blocks) {
    IS_ASSERT(max_blocks >= 0 && max_blocks <= (1 << 29));
    int s = IS_CUDA_MIN_STRIDE;
    while (s < max_blocks) s *= 2;
    return s;
}

static size_t round4(size_t x) { return (x + 3) & ~(size_t)3; }

void is_cuda_plan_layout(is_cuda_layout *L, int n_tokens, int n_seqs, int n_rows, int n_tiles, int stride) {
    IS_ASSERT(n_tokens >= 0 && n_seqs >= 0 && n_rows >= 0 && n_tiles >= 0 && stride >= 1);
    memset(L, 0, sizeof *L);
    L->n_tokens = n_tokens;
    L->n_seqs = n_seqs;
    L->n_rows = n_rows;
    L->n_tiles = n_tiles;
    L->stride = stride;
    L->decode = n_tiles == n_tokens;
    size_t o = 0, T = (size_t)n_tokens;
    L->off_tok = o, o = round4(o + T);
    L->off_pos = o, o = round4(o + T);
    L->off_seq = o, o = round4(o + T);
    L->off_slot = o, o = round4(o + T);
    L->off_rows = o, o = round4(o + (size_t)n_rows);
    L->off_tiles = o, o = round4(o + 2 * (size_t)n_tiles);
    L->off_bt = o, o = round4(o + (size_t)n_seqs * (size_t)stride);
    L->total = o;
}

void is_cuda_plan_pack(int32_t *dst, const is_cuda_layout *L, const int32_t *tok, const is_attn_batch *b,
                       const int32_t *rows) {
    IS_ASSERT(b->n_tokens == L->n_tokens && b->n_seqs == L->n_seqs && b->max_blocks <= L->stride);
    memset(dst, 0, L->total * sizeof *dst);
    size_t T = (size_t)L->n_tokens;
    if (tok) memcpy(dst + L->off_tok, tok, T * sizeof *dst);
    memcpy(dst + L->off_pos, b->pos, T * sizeof *dst);
    memcpy(dst + L->off_seq, b->seq, T * sizeof *dst);
    memcpy(dst + L->off_slot, b->slot, T * sizeof *dst);
    if (L->n_rows) memcpy(dst + L->off_rows, rows, (size_t)L->n_rows * sizeof *dst);
    int nt = is_cuda_plan_tiles(b->seq, b->n_tokens, IS_CUDA_TILE_Q, dst + L->off_tiles);
    IS_ASSERT(nt == L->n_tiles);
    for (int s = 0; s < L->n_seqs; s++) {
        int32_t *row = dst + L->off_bt + (size_t)s * (size_t)L->stride;
        memcpy(row, b->block_tables + (size_t)s * (size_t)b->max_blocks, (size_t)b->max_blocks * sizeof *row);
        for (int j = b->max_blocks; j < L->stride; j++) row[j] = -1;
    }
}

is_graph_key is_cuda_plan_key(const void *owner, const is_cuda_layout *L, int64_t variant) {
    is_graph_key k;
    memset(&k, 0, sizeof k);
    k.owner = owner;
    k.v[0] = L->n_tokens;
    k.v[1] = L->n_seqs;
    k.v[2] = L->n_rows;
    k.v[3] = L->n_tiles;
    k.v[4] = L->stride;
    k.v[5] = L->decode;
    k.v[6] = variant;
    return k;
}

// ---- kernel variants: launch plans ----------------------------------------------

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks a launch aims for on sm_count SMs.
static int64_t fill_target(int sm_count) { return (int64_t)IS_CUDA_FILL_PER_SM * (sm_count > 0 ? sm_count : 1); }

void is_cuda_plan_gemv(is_cuda_gemv_plan *p, int64_t out_rows, int64_t cols, int n, int sm_count) {
    IS_ASSERT(out_rows >= 1 && cols >= 1 && n >= 1 && n <= IS_CUDA_GEMV_MAX_N);
    int64_t target = fill_target(sm_count);
    p->warps = IS_CUDA_GEMV_WARPS;
    p->rows_per_warp = 1;
    for (int r = 4; r > 1; r /= 2)
        if (ceil_div(out_rows, (int64_t)r * p->warps) >= target) {
            p->rows_per_warp = r;
            break;
        }
    int64_t blocks = ceil_div(out_rows, (int64_t)p->rows_per_warp * p->warps);
    IS_ASSERT(blocks <= 0x7fffffff);
    p->blocks = (int)blocks;
    int64_t split = 1;
    if (blocks < target) {
        split = ceil_div(target, blocks);
        if (split > cols / IS_CUDA_GEMV_MIN_SLICE) split = cols / IS_CUDA_GEMV_MIN_SLICE;
        if (split > IS_CUDA_GEMV_MAX_SPLIT) split = IS_CUDA_GEMV_MAX_SPLIT;
        if (split < 1) split = 1;
    }
    p->slice = cols;
    if (split > 1) {
        p->slice = ceil_div(ceil_div(cols, split), 8) * 8;
        split = ceil_div(cols, p->slice); // rounding up to 8 columns may leave the last slice empty: drop it
    }
    p->split = (int)split;
    if (p->split == 1) p->slice = cols;
}

void is_cuda_plan_qgemv(is_cuda_gemv_plan *p, int64_t out_rows, int64_t cols, int n, int sm_count, int64_t granule) {
    IS_ASSERT(granule >= 1);
    is_cuda_plan_gemv(p, out_rows, cols, n, sm_count);
    if (p->split > 1) {
        p->slice = ceil_div(p->slice, granule) * granule; // >= the slice planned: split only shrinks
        p->split = (int)ceil_div(cols, p->slice);         // every slice non-empty, the last possibly short
    }
    if (p->split == 1) p->slice = cols;
}

size_t is_cuda_plan_gemv_work(const is_cuda_gemv_plan *p, int64_t out_rows, int n) {
    return p->split > 1 ? (size_t)p->split * (size_t)n * (size_t)out_rows : 0;
}

// split > 1 only when blocks < target at one row per warp, and split <=
// ceil(target / blocks), so split * blocks < 2 * target and out_rows <= blocks * warps.
size_t is_cuda_plan_gemv_work_max(int sm_count) {
    return 2 * (size_t)fill_target(sm_count) * IS_CUDA_GEMV_WARPS * IS_CUDA_GEMV_MAX_N;
}

void is_cuda_plan_split_kv(is_cuda_split_plan *p, int n_tokens, int n_heads, int ctx, int block_size,
                           int sm_count) {
    IS_ASSERT(n_tokens >= 1 && n_heads >= 1 && ctx >= 1 && block_size >= 1);
    int64_t target = fill_target(sm_count), blocks = (int64_t)n_tokens * n_heads;
    int64_t parts = blocks < target ? ceil_div(target, blocks) : 1;
    if (parts > IS_CUDA_SPLIT_MAX_PARTS) parts = IS_CUDA_SPLIT_MAX_PARTS;
    int len = is_cuda_split_part_len(ctx, (int)parts, block_size);
    // a partition is at least IS_CUDA_SPLIT_MIN_PART long: a short context takes fewer
    p->n_parts = (int)ceil_div(ctx, len);
    p->part_len = len;
}

size_t is_cuda_plan_split_kv_work(const is_cuda_split_plan *p, int n_tokens, int n_heads, int head_dim) {
    if (p->n_parts <= 1) return 0;
    return (size_t)n_tokens * (size_t)n_heads * (size_t)p->n_parts * (size_t)(head_dim + 2);
}

// n_parts > 1 only when blocks < target, and n_parts <= ceil(target / blocks), so
// n_parts * blocks < 2 * target.
size_t is_cuda_plan_split_kv_work_max(int sm_count) {
    return 2 * (size_t)fill_target(sm_count) * (IS_MAX_HEAD_DIM + 2);
}

// ---- graph cache ----------------------------------------------------------------

static bool key_eq(const is_graph_key *a, const is_graph_key *b) {
    return a->owner == b->owner && !memcmp(a->v, b->v, sizeof a->v);
}

void is_graph_cache_init(is_graph_cache *c, int cap, void (*destroy)(void *, void *), void *user) {
    IS_ASSERT(cap >= 1);
    memset(c, 0, sizeof *c);
    c->cap = cap;
    c->e = is_xcalloc((size_t)cap, sizeof *c->e);
    c->destroy = destroy;
    c->user = user;
}

static void entry_release(is_graph_cache *c, is_graph_entry *e) {
    if (e->exec && c->destroy) c->destroy(e->exec, c->user);
    e->exec = NULL;
}

void is_graph_cache_free(is_graph_cache *c) {
    if (!c->e) return;
    is_graph_cache_drop(c, NULL);
    free(c->e);
    c->e = NULL;
}

is_graph_entry *is_graph_cache_find(is_graph_cache *c, const is_graph_key *key) {
    for (int i = 0; i < c->n; i++)
        if (key_eq(&c->e[i].key, key)) {
            c->e[i].last_use = ++c->clock;
            return &c->e[i];
        }
    return NULL;
}

is_graph_entry *is_graph_cache_put(is_graph_cache *c, const is_graph_key *key, void *exec) {
    is_graph_entry *e = is_graph_cache_find(c, key);
    if (e) {
        if (e->exec != exec) entry_release(c, e);
        e->exec = exec;
        return e;
    }
    if (c->n < c->cap) {
        e = &c->e[c->n++];
    } else {
        e = &c->e[0];
        for (int i = 1; i < c->n; i++)
            if (c->e[i].last_use < e->last_use) e = &c->e[i];
        entry_release(c, e);
        c->n_evicted++;
    }
    e->key = *key;
    e->exec = exec;
    e->no_graph = false;
    e->last_use = ++c->clock;
    return e;
}

is_graph_entry *is_graph_cache_refuse(is_graph_cache *c, const is_graph_key *key) {
    is_graph_entry *e = is_graph_cache_put(c, key, NULL);
    e->no_graph = true;
    c->n_failed++;
    return e;
}

void is_graph_cache_drop(is_graph_cache *c, const void *owner) {
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        if (!owner || c->e[i].key.owner == owner) {
            entry_release(c, &c->e[i]);
        } else {
            c->e[k++] = c->e[i];
        }
    }
    c->n = k;
}
