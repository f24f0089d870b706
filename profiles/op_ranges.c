// op_ranges.c — see op_ranges.h.
#include "profiles/op_ranges.h"

#include <stdlib.h>

#include "base/nvtx.h" // defines: is_prof_push, is_prof_pop

// ---- per-op ranges: a backend that wraps another ----------------------------------
// The wrapper copies the inner backend (so memory calls, impl, name and kernel
// selection work unchanged) and replaces the ops with versions that open a range
// and call the inner op with the inner backend.

typedef struct op_backend {
    is_backend be; // first: the ops get &be and find the rest from it
    is_backend *inner;
} op_backend;

static is_backend *inner_of(is_backend *be) { return ((op_backend *)be)->inner; }

#define IS_OP_RANGE(range, rows, call)          \
    do {                                        \
        is_prof_push(range, (uint64_t)(rows));  \
        call;                                   \
        is_prof_pop(range);                     \
    } while (0)

static void op_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_EMBED, n, in->embed(in, out, table, ids, n));
}
static void op_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n, float eps) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_RMSNORM, n, in->rmsnorm(in, out, x, w, n, eps));
}
static void op_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                      int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_MATMUL, n, in->matmul(in, out, x, w, bias, n));
}
static void op_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
                    const is_tensor *inv_freq) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ROPE, n, in->rope(in, x, n, n_heads, head_dim, pos, inv_freq));
}
static void op_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k, const is_tensor *v,
                        const is_attn_batch *b) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_KV_STORE, b->n_tokens, in->kv_store(in, k_pool, v_pool, k, v, b));
}
static void op_kv_copy(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src, const int32_t *dst,
                       int n, int block_size) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_KV_COPY, n, in->kv_copy_blocks(in, k_pool, v_pool, src, dst, n, block_size));
}
static void op_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                         const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads, int head_dim) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ATTENTION, b->n_tokens,
                in->attention(in, out, q, k_pool, v_pool, b, n_heads, n_kv_heads, head_dim));
}
static void op_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_SWIGLU, n, in->swiglu(in, out, gate, up, n));
}
static void op_add(is_backend *be, is_tensor *x, const is_tensor *y, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_ADD, n, in->add(in, x, y, n));
}
static void op_gather(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_GATHER, n, in->gather_rows(in, out, x, rows, n));
}

static void op_add_rmsnorm(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w,
                           int n, float eps) {
    is_backend *in = inner_of(be);
    IS_OP_RANGE(IS_PROF_OP_RMSNORM, n, in->add_rmsnorm(in, out, x, y, w, n, eps));
}

static void op_destroy(is_backend *be) {
    is_backend *in = inner_of(be);
    free(be);
    in->destroy(in);
}

is_backend *is_prof_wrap_backend(is_backend *inner) {
    if (!inner || is_prof_level < 2) return inner;
    op_backend *w = calloc(1, sizeof *w);
    if (!w) return inner; // no op ranges rather than no run
    w->be = *inner;
    w->inner = inner;
    w->be.destroy = op_destroy;
    w->be.embed = op_embed;
    w->be.rmsnorm = op_rmsnorm;
    w->be.matmul = op_matmul;
    w->be.rope = op_rope;
    w->be.kv_store = op_kv_store;
    w->be.kv_copy_blocks = op_kv_copy;
    w->be.attention = op_attention;
    w->be.swiglu = op_swiglu;
    w->be.add = op_add;
    w->be.gather_rows = op_gather;
    if (inner->add_rmsnorm) w->be.add_rmsnorm = op_add_rmsnorm;
    return &w->be;
}
