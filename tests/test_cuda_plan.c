// test_cuda_plan.c — the CUDA backend's host-side logic, on the CPU: prefill
// tiles, the packed upload of a chunk, block-table strides, the graph cache
// (lookup, least-recently-used eviction, drops by owner), the launch plans of the
// kernel variants (custom GEMV, split-KV decode), and the KV budget taken from a
// fraction of free memory.
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

// A shape whose recording failed is remembered as eager (no graph, counted) until
// it is evicted: then it is a new shape, tried again.
Test(cuda_plan, a_refused_shape_stays_eager_until_evicted) {
    int owner;
    is_graph_cache c;
    freed_mask = 0;
    is_graph_cache_init(&c, 2, mask_destroy, NULL);
    is_graph_key k1 = key_n(&owner, 1), k2 = key_n(&owner, 2), k3 = key_n(&owner, 3);
    is_graph_cache_put(&c, &k1, NULL); // seen once
    is_graph_entry *e = is_graph_cache_refuse(&c, &k1);
    cr_assert_eq(c.n, 1, "refusing a seen shape updates its entry");
    cr_assert(e->no_graph);
    cr_assert_null(e->exec);
    cr_assert_eq(c.n_failed, 1);
    cr_assert(is_graph_cache_find(&c, &k1)->no_graph, "the mark stays on later lookups");
    is_graph_cache_put(&c, &k2, (void *)(intptr_t)2);
    cr_assert(!is_graph_cache_find(&c, &k2)->no_graph, "another shape is not marked");
    is_graph_cache_put(&c, &k3, (void *)(intptr_t)3); // evicts k1, the least recently used
    cr_assert_eq(freed_mask, 0, "an eager entry has no graph to destroy");
    cr_assert_null(is_graph_cache_find(&c, &k1));
    e = is_graph_cache_put(&c, &k1, NULL); // evicts k2
    cr_assert(!e->no_graph, "an evicted mark is forgotten: the shape is new again");
    cr_assert_eq(freed_mask, 1 << 2);
    is_graph_cache_free(&c);
}

// ---- kernel variant plans ----

// Walks a GEMV plan's grid as the kernel does and counts how often each output row
// and each column is summed: every (row, column) exactly once.
static void check_gemv_plan(int64_t M, int64_t K, int n, int sms) {
    is_cuda_gemv_plan p;
    is_cuda_plan_gemv(&p, M, K, n, sms);
    int rpb = p.rows_per_warp * p.warps;
    cr_assert(p.rows_per_warp == 1 || p.rows_per_warp == 2 || p.rows_per_warp == 4, "rows per warp %d", p.rows_per_warp);
    cr_assert_eq(p.warps, IS_CUDA_GEMV_WARPS);
    cr_assert_geq(p.split, 1);
    cr_assert_leq(p.split, IS_CUDA_GEMV_MAX_SPLIT);
    unsigned char *rows = calloc((size_t)M, 1);
    for (int64_t b = 0; b < p.blocks; b++)
        for (int w = 0; w < p.warps; w++)
            for (int r = 0; r < p.rows_per_warp; r++) {
                int64_t m = b * rpb + (int64_t)w * p.rows_per_warp + r;
                if (m < M) rows[m]++;
            }
    for (int64_t m = 0; m < M; m++) cr_assert_eq(rows[m], 1, "%lld x %lld: row %lld covered %d times", (long long)M, (long long)K, (long long)m, rows[m]);
    cr_assert_lt((int64_t)(p.blocks - 1) * rpb, M, "%lld x %lld: no block without rows", (long long)M, (long long)K);
    free(rows);
    // column slices: aligned to 8, cover [0, K) exactly once, none empty
    int64_t covered = 0;
    for (int s = 0; s < p.split; s++) {
        int64_t k0 = s * p.slice, k1 = k0 + p.slice < K ? k0 + p.slice : K;
        cr_assert_eq(k0, covered);
        cr_assert_gt(k1, k0, "%lld x %lld: slice %d of %d is empty", (long long)M, (long long)K, s, p.split);
        if (p.split > 1) {
            cr_assert_eq(k0 % 8, 0, "slice %d starts on an 8-column boundary", s);
            cr_assert_geq(k1 - k0, s + 1 < p.split ? IS_CUDA_GEMV_MIN_SLICE : 1);
        }
        covered = k1;
    }
    cr_assert_eq(covered, K);
    int64_t target = (int64_t)IS_CUDA_FILL_PER_SM * sms;
    if (p.split > 1) {
        // split only when the rows alone under-fill the device, at one row per warp
        cr_assert_lt(p.blocks, target, "%lld x %lld split though %d blocks fill the device", (long long)M, (long long)K, p.blocks);
        cr_assert_eq(p.rows_per_warp, 1);
    } else if (p.blocks < target) {
        // not split although under-filled: only because a slice would be too short
        cr_assert_lt(K / IS_CUDA_GEMV_MIN_SLICE, 2, "%lld x %lld under-filled (%d blocks) yet not split", (long long)M, (long long)K, p.blocks);
    }
    if (p.rows_per_warp > 1) cr_assert_geq(p.blocks, target, "more rows per warp only when the grid stays full");
    size_t work = is_cuda_plan_gemv_work(&p, M, n);
    cr_assert_eq(work, p.split > 1 ? (size_t)p.split * n * M : 0);
    cr_assert_leq(work, is_cuda_plan_gemv_work_max(sms), "%lld x %lld n=%d: workspace past the maximum", (long long)M, (long long)K, n);
}

Test(cuda_plan, gemv_covers_every_row_and_column_once) {
    const int64_t shapes[][2] = {{1, 1},       {7, 13},     {64, 64},     {77, 130},    {512, 2048},
                                 {2048, 8192}, {2048, 2048}, {8192, 2048}, {128256, 2048}, {3, 100000},
                                 {1000, 1001}, {4096, 14336}, {151936, 896}, {896, 4864}, {17, 511}};
    const int sms[] = {1, 108, 132, 170};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int d = 0; d < 4; d++)
            for (int n = 1; n <= IS_CUDA_GEMV_MAX_N; n += 3) check_gemv_plan(shapes[s][0], shapes[s][1], n, sms[d]);
    // random shapes
    uint64_t st = 99;
    for (int i = 0; i < 300; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t M = 1 + (int64_t)((st >> 20) % 20000), K = 1 + (int64_t)((st >> 40) % 20000);
        check_gemv_plan(M, K, 1 + (int)(st % IS_CUDA_GEMV_MAX_N), 132);
    }
}

Test(cuda_plan, gemv_splits_only_short_wide_matrices) {
    is_cuda_gemv_plan p;
    // an LM head (128256 rows) fills 132 SMs many times over: 4 rows per warp, no split
    is_cuda_plan_gemv(&p, 128256, 2048, 1, 132);
    cr_assert_eq(p.split, 1);
    cr_assert_eq(p.rows_per_warp, 4);
    // a down projection 2048 x 8192: 512 blocks of 4 rows, under 4 x 132: split in two
    is_cuda_plan_gemv(&p, 2048, 8192, 1, 132);
    cr_assert_eq(p.rows_per_warp, 1);
    cr_assert_eq(p.blocks, 512);
    cr_assert_eq(p.split, 2);
    cr_assert_eq(p.slice, 4096);
    // a K/V projection 512 x 2048: 128 blocks; 5 slices wanted, 4 allowed (512 columns each)
    is_cuda_plan_gemv(&p, 512, 2048, 4, 132);
    cr_assert_eq(p.split, 4);
    cr_assert_eq(p.slice, 512);
    // too narrow to split
    is_cuda_plan_gemv(&p, 64, 1000, 8, 132);
    cr_assert_eq(p.split, 1);
    cr_assert_eq(p.slice, 1000);
    // the same shape on one SM is already full
    is_cuda_plan_gemv(&p, 2048, 8192, 1, 1);
    cr_assert_eq(p.split, 1);
}

// The partitions a token of context ctx gets under plan p, as the kernels walk them:
// they cover [0, ctx) exactly once, each a whole number of KV blocks.
static int used_parts(const is_cuda_split_plan *p, int ctx, int bs) {
    int len = is_cuda_split_part_len(ctx, p->n_parts, bs), covered = 0, used = 0;
    cr_assert_eq(len % bs, 0, "partition length %d is whole blocks of %d", len, bs);
    for (int i = 0; i < p->n_parts; i++) {
        int p0 = i * len, p1 = p0 + len < ctx ? p0 + len : ctx;
        if (p0 >= ctx) continue; // empty: the token is shorter than the planned context
        cr_assert_eq(p0, covered);
        covered = p1;
        used++;
    }
    cr_assert_eq(covered, ctx, "context %d covered to %d by %d partitions of %d", ctx, covered, p->n_parts, len);
    return used;
}

Test(cuda_plan, split_kv_partitions_cover_the_context) {
    const int bss[] = {1, 7, 16, 32}, sms[] = {1, 132};
    const int toks[] = {1, 3, 8, 64, 256}, heads[] = {1, 8, 32};
    const int ctxs[] = {1, 15, 16, 17, 255, 256, 257, 1000, 4100, 8192, 131072};
    for (int a = 0; a < 4; a++)
        for (int d = 0; d < 2; d++)
            for (int t = 0; t < 5; t++)
                for (int h = 0; h < 3; h++)
                    for (int c = 0; c < 11; c++) {
                        int bs = bss[a], ctx = ctxs[c];
                        is_cuda_split_plan p;
                        is_cuda_plan_split_kv(&p, toks[t], heads[h], ctx, bs, sms[d]);
                        cr_assert_geq(p.n_parts, 1);
                        cr_assert_leq(p.n_parts, IS_CUDA_SPLIT_MAX_PARTS);
                        cr_assert_eq(p.part_len, is_cuda_split_part_len(ctx, p.n_parts, bs));
                        cr_assert_eq(p.part_len % bs, 0);
                        cr_assert_geq(p.part_len, IS_CUDA_SPLIT_MIN_PART);
                        // at the planned context no partition is empty
                        cr_assert_eq(used_parts(&p, ctx, bs), p.n_parts, "ctx %d bs %d: an empty partition", ctx, bs);
                        // shorter contexts (later tokens of a batch) are covered too
                        for (int c2 = 1; c2 <= ctx; c2 += 1 + ctx / 7) cr_assert_leq(used_parts(&p, c2, bs), p.n_parts);
                        int64_t blocks = (int64_t)toks[t] * heads[h], target = (int64_t)IS_CUDA_FILL_PER_SM * sms[d];
                        if (blocks >= target) cr_assert_eq(p.n_parts, 1, "a full grid is not split");
                        if (p.n_parts > 1) cr_assert_lt(blocks * (p.n_parts - 1), target, "no more partitions than fill the device");
                        size_t work = is_cuda_plan_split_kv_work(&p, toks[t], heads[h], IS_MAX_HEAD_DIM);
                        cr_assert_leq(work, is_cuda_plan_split_kv_work_max(sms[d]));
                    }
}

Test(cuda_plan, split_kv_fills_the_device_at_small_batch_and_long_context) {
    is_cuda_split_plan p;
    // one sequence, 32 heads, 8192 positions on 132 SMs: 528 blocks wanted, 17 partitions
    is_cuda_plan_split_kv(&p, 1, 32, 8192, 16, 132);
    cr_assert_eq(p.n_parts, 17);
    cr_assert_eq(p.part_len, 496);
    // short context: one partition, the naive kernel's work
    is_cuda_plan_split_kv(&p, 1, 32, 256, 16, 132);
    cr_assert_eq(p.n_parts, 1);
    // a large batch fills the device by itself
    is_cuda_plan_split_kv(&p, 64, 32, 8192, 16, 132);
    cr_assert_eq(p.n_parts, 1);
    cr_assert_eq(is_cuda_plan_split_kv_work(&p, 64, 32, 128), 0, "no workspace without a split");
    // a token of 4100 positions under that 17-partition plan: 256-position partitions, all used
    is_cuda_plan_split_kv(&p, 1, 32, 8192, 16, 132);
    cr_assert_eq(is_cuda_split_part_len(4100, p.n_parts, 16), 256);
    cr_assert_eq(used_parts(&p, 4100, 16), 17);
    cr_assert_eq(used_parts(&p, 300, 16), 2);
}

// One sequence of 128K positions over 8 heads: 8 blocks, far from filling a device,
// so the context is split; the partition count (grid.z of the decode kernel and the
// merge kernel's shared array) stays within IS_CUDA_SPLIT_MAX_PARTS however many SMs
// ask for more.
Test(cuda_plan, split_kv_at_128k_context_one_sequence_eight_heads) {
    const int ctx = 131072, bs = 16;
    is_cuda_split_plan p;
    // 132 SMs want 528 blocks: 66 partitions of 2000 positions (1986 rounded to blocks)
    is_cuda_plan_split_kv(&p, 1, 8, ctx, bs, 132);
    cr_assert_eq(p.n_parts, 66);
    cr_assert_eq(p.part_len, 2000);
    cr_assert_eq(used_parts(&p, ctx, bs), 66);
    // 1024 SMs would want 512 partitions: clamped to the cap, 512 positions each
    is_cuda_plan_split_kv(&p, 1, 8, ctx, bs, 1024);
    cr_assert_eq(p.n_parts, IS_CUDA_SPLIT_MAX_PARTS);
    cr_assert_eq(p.part_len, ctx / IS_CUDA_SPLIT_MAX_PARTS);
    cr_assert_eq(used_parts(&p, ctx, bs), IS_CUDA_SPLIT_MAX_PARTS);
    cr_assert_eq(used_parts(&p, 1, bs), 1, "a one-position token uses the first partition only");
    cr_assert_leq(is_cuda_plan_split_kv_work(&p, 1, 8, IS_MAX_HEAD_DIM), is_cuda_plan_split_kv_work_max(1024));
    // the longest context the decode launcher plans for (1 << 30 positions) stays capped too
    is_cuda_plan_split_kv(&p, 1, 8, 1 << 30, bs, 1024);
    cr_assert_eq(p.n_parts, IS_CUDA_SPLIT_MAX_PARTS);
    cr_assert_geq((int64_t)p.n_parts * p.part_len, (int64_t)1 << 30);
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
    cr_assert(strstr(err.msg, "fraction") && strstr(err.msg, "(0, 1]"), "message names the option: %s", err.msg);
    is_model_free(m);
    be->destroy(be);
}
