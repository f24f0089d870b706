// test_cuda_plan.c — the CUDA backend's host-side logic, on the CPU: prefill
// tiles, the packed upload of a chunk, block-table strides, the graph cache
// (lookup, least-recently-used eviction, drops by owner), and the KV budget
// taken from a fraction of free memory.
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "engine/inferscope.h"
#include "kernels/cuda/cuda_plan.h"

Test(cuda_plan, tiles_cut_runs_of_one_sequence) {
    // seq 0 x 20, seq 1 x 3, seq 0 x 1, seq 2 x 16: tiles of <= 16 tokens of one sequence
    int32_t seq[40];
    int n = 0;
    for (int i = 0; i < 20; i++) seq[n++] = 0;
    for (int i = 0; i < 3; i++) seq[n++] = 1;
    seq[n++] = 0;
    for (int i = 0; i < 16; i++) seq[n++] = 2;
    int32_t tiles[80];
    int nt = is_cuda_plan_tiles(seq, n, 16, tiles);
    int32_t want[] = {0, 16, 16, 4, 20, 3, 23, 1, 24, 16};
    cr_assert_eq(nt, 5);
    cr_assert_eq(is_cuda_plan_tiles(seq, n, 16, NULL), nt, "counting alone gives the same number");
    for (int i = 0; i < 2 * nt; i++) cr_assert_eq(tiles[i], want[i], "tiles[%d] = %d, expected %d", i, tiles[i], want[i]);
    // every token is in exactly one tile, and a tile never mixes sequences
    int covered = 0;
    for (int k = 0; k < nt; k++) {
        cr_assert_eq(tiles[2 * k], covered);
        for (int t = tiles[2 * k]; t < tiles[2 * k] + tiles[2 * k + 1]; t++) cr_assert_eq(seq[t], seq[tiles[2 * k]]);
        covered += tiles[2 * k + 1];
    }
    cr_assert_eq(covered, n);
    // decode: every token its own sequence, so one tile each
    int32_t dseq[5] = {3, 1, 4, 0, 2};
    cr_assert_eq(is_cuda_plan_tiles(dseq, 5, 16, tiles), 5);
    cr_assert_eq(is_cuda_plan_tiles(dseq, 0, 16, tiles), 0);
}

Test(cuda_plan, strides_are_powers_of_two_from_the_minimum) {
    cr_assert_eq(is_cuda_plan_stride(0), IS_CUDA_MIN_STRIDE);
    cr_assert_eq(is_cuda_plan_stride(1), IS_CUDA_MIN_STRIDE);
    cr_assert_eq(is_cuda_plan_stride(16), 16);
    cr_assert_eq(is_cuda_plan_stride(17), 32);
    cr_assert_eq(is_cuda_plan_stride(1000), 1024);
    cr_assert_eq(is_cuda_plan_stride(8192), 8192);
}

Test(cuda_plan, pack_puts_every_array_at_its_offset) {
    // two sequences: 3 tokens of seq 0 (blocks 7, 2), 2 of seq 1 (block 5)
    int32_t tok[5] = {11, 12, 13, 21, 22}, pos[5] = {16, 17, 18, 0, 1}, seq[5] = {0, 0, 0, 1, 1};
    int32_t slot[5] = {2 * 16 + 0, 2 * 16 + 1, 2 * 16 + 2, 5 * 16, 5 * 16 + 1};
    int32_t bt[4] = {7, 2, 5, -1}; // max_blocks 2
    int32_t rows[2] = {2, 4};
    is_attn_batch b = {.n_tokens = 5, .pos = pos, .seq = seq, .slot = slot, .n_seqs = 2, .block_tables = bt,
                       .max_blocks = 2, .block_size = 16};
    int nt = is_cuda_plan_tiles(seq, 5, IS_CUDA_TILE_Q, NULL);
    is_cuda_layout L;
    is_cuda_plan_layout(&L, 5, 2, 2, nt, is_cuda_plan_stride(2));
    cr_assert_eq(L.stride, 16);
    cr_assert(!L.decode, "two tiles for five tokens: the prefill kernel");
    size_t offs[] = {L.off_tok, L.off_pos, L.off_seq, L.off_slot, L.off_rows, L.off_tiles, L.off_bt};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        cr_assert_eq(offs[i] % 4, 0, "array %zu starts on a 16-byte boundary", i);
        if (i) cr_assert_geq(offs[i], offs[i - 1]);
    }
    cr_assert_geq(L.total, L.off_bt + 2 * 16);
    int32_t *buf = malloc(L.total * sizeof *buf);
    memset(buf, 0x7f, L.total * sizeof *buf);
    is_cuda_plan_pack(buf, &L, tok, &b, rows);
    for (int t = 0; t < 5; t++) {
        cr_assert_eq(buf[L.off_tok + t], tok[t]);
        cr_assert_eq(buf[L.off_pos + t], pos[t]);
        cr_assert_eq(buf[L.off_seq + t], seq[t]);
        cr_assert_eq(buf[L.off_slot + t], slot[t]);
    }
    cr_assert_eq(buf[L.off_rows], 2);
    cr_assert_eq(buf[L.off_rows + 1], 4);
    int32_t tiles[] = {0, 3, 3, 2};
    for (int i = 0; i < 4; i++) cr_assert_eq(buf[L.off_tiles + i], tiles[i]);
    // block tables re-strided to 16, padded with -1
    for (int s = 0; s < 2; s++)
        for (int j = 0; j < 16; j++) {
            int32_t want = j < 2 ? bt[s * 2 + j] : -1;
            cr_assert_eq(buf[L.off_bt + s * 16 + j], want, "table %d entry %d", s, j);
        }
    free(buf);
}

Test(cuda_plan, keys_differ_by_shape_and_owner) {
    int a, b;
    is_cuda_layout L1, L2;
    is_cuda_plan_layout(&L1, 4, 4, 4, 4, 16);
    is_cuda_plan_layout(&L2, 4, 4, 4, 4, 32);
    cr_assert(L1.decode);
    is_graph_key k1 = is_cuda_plan_key(&a, &L1, 0), k1b = is_cuda_plan_key(&a, &L1, 0);
    is_graph_key k2 = is_cuda_plan_key(&a, &L2, 0), k3 = is_cuda_plan_key(&b, &L1, 0), k4 = is_cuda_plan_key(&a, &L1, 1);
    is_graph_cache c;
    is_graph_cache_init(&c, 8, NULL, NULL);
    is_graph_cache_put(&c, &k1, &a);
    cr_assert_not_null(is_graph_cache_find(&c, &k1b), "the same shape and owner find the graph");
    cr_assert_null(is_graph_cache_find(&c, &k2), "another stride is another graph");
    cr_assert_null(is_graph_cache_find(&c, &k3), "another owner is another graph");
    cr_assert_null(is_graph_cache_find(&c, &k4), "other kernel variants are another graph");
    is_graph_cache_free(&c);
}

// execs are small integers cast to pointers: destroy counts them by value
static int freed_mask;
static void mask_destroy(void *exec, void *user) {
    (void)user;
    freed_mask |= 1 << (int)(intptr_t)exec;
}

static is_graph_key key_n(const void *owner, int n) {
    is_cuda_layout L;
    is_cuda_plan_layout(&L, n, n, n, n, 16);
    return is_cuda_plan_key(owner, &L, 0);
}

Test(cuda_plan, cache_evicts_the_least_recently_used) {
    int owner;
    is_graph_cache c;
    freed_mask = 0;
    is_graph_cache_init(&c, 3, mask_destroy, NULL);
    is_graph_key k[5];
    for (int i = 1; i <= 4; i++) k[i] = key_n(&owner, i);
    is_graph_cache_put(&c, &k[1], (void *)(intptr_t)1);
    is_graph_cache_put(&c, &k[2], (void *)(intptr_t)2);
    is_graph_cache_put(&c, &k[3], (void *)(intptr_t)3);
    cr_assert_not_null(is_graph_cache_find(&c, &k[1])); // 1 is now the most recent; 2 the least
    is_graph_cache_put(&c, &k[4], (void *)(intptr_t)4);
    cr_assert_eq(freed_mask, 1 << 2, "the least recently used graph (2) is destroyed, got mask %#x", freed_mask);
    cr_assert_eq(c.n_evicted, 1);
    cr_assert_null(is_graph_cache_find(&c, &k[2]));
    cr_assert_not_null(is_graph_cache_find(&c, &k[1]));
    cr_assert_not_null(is_graph_cache_find(&c, &k[4]));
    cr_assert_eq(c.n, 3);
    is_graph_cache_free(&c);
    cr_assert_eq(freed_mask, (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4), "freeing the cache destroys the rest");
}

Test(cuda_plan, seen_once_then_recorded_and_drop_by_owner) {
    int a, b;
    is_graph_cache c;
    freed_mask = 0;
    is_graph_cache_init(&c, 8, mask_destroy, NULL);
    is_graph_key ka = key_n(&a, 1), kb = key_n(&b, 1);
    is_graph_cache_put(&c, &ka, NULL); // first sighting: no graph yet
    is_graph_entry *e = is_graph_cache_find(&c, &ka);
    cr_assert_not_null(e);
    cr_assert_null(e->exec, "a shape seen once holds no graph");
    is_graph_cache_put(&c, &ka, (void *)(intptr_t)5); // recorded
    cr_assert_eq(c.n, 1, "recording updates the entry, it adds none");
    cr_assert_eq((intptr_t)is_graph_cache_find(&c, &ka)->exec, 5);
    is_graph_cache_put(&c, &kb, (void *)(intptr_t)6);
    is_graph_cache_drop(&c, &a);
    cr_assert_eq(freed_mask, 1 << 5, "dropping owner a destroys its graph only");
    cr_assert_null(is_graph_cache_find(&c, &ka));
    cr_assert_not_null(is_graph_cache_find(&c, &kb));
    is_graph_cache_drop(&c, NULL);
    cr_assert_eq(c.n, 0);
    cr_assert_eq(freed_mask, (1 << 5) | (1 << 6));
    is_graph_cache_free(&c);
}

Test(cuda_plan, kv_budget_from_a_fraction_of_free_memory) {
    cr_assert_float_eq(is_kv_budget_from_free(8.0 * 1048576.0 * 1024, 0.5), 4096.0, 1e-9);
    cr_assert_eq(is_kv_budget_from_free(1e9, 0), 0);
    cr_assert_eq(is_kv_budget_from_free(1e9, 1.5), 0, "a fraction above 1 is refused");
    cr_assert_eq(is_kv_budget_from_free(-1, 0.5), 0, "unknown free memory gives no budget");
    // a session sized by fraction on the CPU: its KV cache holds what the fraction gives
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(1, &err);
    cr_assert_not_null(be, "%s", err.msg);
    is_model *m;
    is_model_opts mo = {.dtype = IS_DTYPE_F32};
    cr_assert_eq(is_model_load("preset:tiny", &mo, be, &m, &err), 0, "%s", err.msg);
    is_session *s;
    is_session_opts so = {.kv_mem_fraction = 1e-5, .max_batch_tokens = 64};
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
    cr_assert_gt(is_session_kv_capacity_tokens(s), 0);
    is_session_free(s);
    so.kv_mem_fraction = 2;
    cr_assert_neq(is_session_create(m, &so, &s, &err), 0);
    cr_assert(strstr(err.msg, "--kv-frac") != NULL, "message names the flag: %s", err.msg);
    is_model_free(m);
    be->destroy(be);
}
