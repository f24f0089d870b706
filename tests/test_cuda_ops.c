// test_cuda_ops.c — every CUDA op against the CPU backend on the same inputs, the
// whole forward pass against the CPU, graph replay against eager launches, and
// on-device sampling. Without a CUDA device (or in a build without CUDA) every
// test here skips and says why; the host-side logic is in test_cuda_plan.c. Every
// kernel variant (gemv, attn_decode, attn_prefill) is checked the same way, and
// under graph record and replay.
//
// Comparisons are by normalized MSE (kernels/check.h: is_nmse), against the
// tolerance of the check that fits each comparison, the one table that
// `inferscope kernels` uses too (kernels/check.c gives each value and its
// reason); a kernel variant is held to the check its row of its op's table
// names. Outputs are poisoned with NaN before each op, so an element the op
// failed to write fails the comparison. The checks used:
// - data movement (embed, gather, KV store of BF16-exact values, block copy): exact;
// - F32 row and elementwise ops (rmsnorm, rope, swiglu, add): IS_CHECK_ROW_F32;
// - matmul with F32 weights: IS_CHECK_MATMUL_F32;
// - matmul with BF16 weights: the device rounds activations to BF16, so the CPU
//   is given the same rounded activations, and IS_CHECK_MATMUL_BF16 (only fp32
//   summation order differs); the gemv variants as their rows say (the same), also
//   against cuBLAS on the device;
// - attention on BF16-exact K, V: IS_CHECK_ATTENTION, every variant;
// - the forward pass in BF16 (activations rounded before each GEMM, BF16 KV):
//   IS_CHECK_FORWARD_BF16.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/check.h"          // defines: is_nmse, is_check_tolerance
#include "kernels/cuda/cuda_plan.h"  // defines: is_cuda_plan_gemv, is_cuda_plan_split_kv (the variants' plans)
#include "kernels/cuda/cuda_probe.h"
#include "support/testutil.h"

static is_backend *cpu, *gpu;
static char why[1100];

static void setup(void) {
    cpu = tu_backend();
    is_err err = {{0}};
    char probe[512];
    gpu = NULL;
    if (is_cuda_probe(probe, sizeof probe) <= 0) {
        snprintf(why, sizeof why, "no CUDA device here: %s", probe);
        return;
    }
    gpu = is_cuda_backend_create(0, &err);
    if (!gpu) snprintf(why, sizeof why, "the CUDA backend did not start: %s", err.msg);
}

static void teardown(void) {
    if (gpu) gpu->destroy(gpu);
    cpu->destroy(cpu);
}

TestSuite(cuda, .init = setup, .fini = teardown);

#define NEED_GPU()                                              \
    do {                                                        \
        if (!gpu) tu_need_gpu(why);                             \
    } while (0)

static uint64_t rng_state = 12345;
static float unif(void) { // [-1, 1)
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *rand_host(size_t n, float scale) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = scale * unif();
    return h;
}

static is_tensor upload(is_backend *be, is_dtype dt, int64_t rows, int64_t cols, const float *h) {
    is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
    is_err err = {{0}};
    cr_assert_eq(be->tensor_alloc(be, &t, &err), 0, "%s: %s", be->name, err.msg);
    if (h) cr_assert_eq(be->tensor_set(be, &t, h, IS_DTYPE_F32, &err), 0, "%s: %s", be->name, err.msg);
    else be->tensor_fill_const(be, &t, NAN); // poison
    return t;
}

static float *download(is_backend *be, const is_tensor *t, int64_t rows) {
    float *h = malloc((size_t)(rows * t->cols + 1) * sizeof *h);
    is_err err = {{0}};
    cr_assert_eq(be->sync(be, &err), 0, "%s: %s", be->name, err.msg);
    cr_assert_eq(be->tensor_get_f32(be, t, rows, h, &err), 0, "%s: %s", be->name, err.msg);
    return h;
}

#define TOL(check) is_check_tolerance(IS_CHECK_##check)

// x rounded to BF16, as the device rounds activations before a BF16 GEMM (malloc'd).
static float *bf16_rounded(const float *x, size_t n) {
    float *r = malloc((n ? n : 1) * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = is_bf16_to_f32(is_f32_to_bf16(x[i]));
    return r;
}

// The same tensor on both backends from one host array.
typedef struct pair {
    is_tensor c, g;
} pair;
static pair pair_new(is_dtype dt, int64_t rows, int64_t cols, const float *h) {
    return (pair){upload(cpu, dt, rows, cols, h), upload(gpu, dt, rows, cols, h)};
}
static void pair_free(pair *p) {
    cpu->tensor_free(cpu, &p->c);
    gpu->tensor_free(gpu, &p->g);
}
// NMSE of the first rows of p (gpu against cpu).
static double pair_nmse(const pair *p, int64_t rows) {
    float *a = download(cpu, &p->c, rows), *b = download(gpu, &p->g, rows);
    double e = is_nmse(b, a, (size_t)(rows * p->c.cols));
    free(a);
    free(b);
    return e;
}

Test(cuda, upload_download_and_fills) {
    NEED_GPU();
    size_t n = 100003;
    float *h = rand_host(n, 3.0f);
    pair f = pair_new(IS_DTYPE_BF16, 1, (int64_t)n, h);
    float *b = download(gpu, &f.g, 1);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(b[i], is_bf16_to_f32(is_f32_to_bf16(h[i])), "element %zu rounds to BF16 as on the host", i);
    free(b);
    // seeded normal fill: the host's generator on the device, BF16 rounding
    cpu->tensor_fill_normal(cpu, &f.c, 7, 99, 0.02f);
    gpu->tensor_fill_normal(gpu, &f.g, 7, 99, 0.02f);
    float *x = download(cpu, &f.c, 1), *y = download(gpu, &f.g, 1);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) {
        same += x[i] == y[i];
        cr_assert_leq(fabsf(x[i] - y[i]), fabsf(x[i]) * (1.0f / 128) + 1e-12f, "element %zu: %g vs %g", i, y[i], x[i]);
    }
    // logf/cosf of the device library may differ by an ulp, rarely enough to cross a BF16 rounding
    cr_assert_geq(same, n - n / 1000, "%zu of %zu elements identical", same, n);
    free(x);
    free(y);
    pair_free(&f);
    free(h);
}

Test(cuda, row_and_elementwise_ops) {
    NEED_GPU();
    const int64_t Ds[] = {16, 64, 577, 4096};
    for (int a = 0; a < 4; a++) {
        int64_t D = Ds[a];
        int n = 7, rows = 9;
        float *hx = rand_host((size_t)(rows * D), 4.0f), *hy = rand_host((size_t)(rows * D), 2.0f);
        float *hw = rand_host((size_t)D, 1.5f);
        pair x = pair_new(IS_DTYPE_F32, rows, D, hx), y = pair_new(IS_DTYPE_F32, rows, D, hy);
        pair w = pair_new(IS_DTYPE_F32, 1, D, hw), o = pair_new(IS_DTYPE_F32, rows, D, NULL);
        cpu->rmsnorm(cpu, &o.c, &x.c, &w.c, n, 1e-5f);
        gpu->rmsnorm(gpu, &o.g, &x.g, &w.g, n, 1e-5f);
        cr_assert_leq(pair_nmse(&o, n), TOL(ROW_F32), "rmsnorm D=%lld", (long long)D);
        // fused add + norm against the CPU's add then norm
        cpu->add(cpu, &x.c, &y.c, n);
        cpu->rmsnorm(cpu, &o.c, &x.c, &w.c, n, 1e-5f);
        gpu->add_rmsnorm(gpu, &o.g, &x.g, &y.g, &w.g, n, 1e-5f);
        cr_assert_leq(pair_nmse(&o, n), TOL(ROW_F32), "add_rmsnorm output D=%lld", (long long)D);
        cr_assert_leq(pair_nmse(&x, rows), TOL(ROW_F32), "add_rmsnorm residual (and rows past n untouched)");
        cpu->swiglu(cpu, &o.c, &x.c, &y.c, n);
        gpu->swiglu(gpu, &o.g, &x.g, &y.g, n);
        cr_assert_leq(pair_nmse(&o, n), TOL(ROW_F32), "swiglu D=%lld", (long long)D);
        // embed (F32 and BF16 tables) and gather
        int32_t ids[7] = {0, 8, 3, 3, 5, 1, 7}, sel[3] = {6, 0, 2};
        for (int dt = 0; dt < 2; dt++) {
            pair tab = pair_new(dt ? IS_DTYPE_BF16 : IS_DTYPE_F32, rows, D, hx);
            cpu->embed(cpu, &o.c, &tab.c, ids, n);
            gpu->embed(gpu, &o.g, &tab.g, ids, n);
            cr_assert_leq(pair_nmse(&o, n), TOL(EXACT), "embed D=%lld dtype %d", (long long)D, dt);
            pair_free(&tab);
        }
        pair g = pair_new(IS_DTYPE_F32, 3, D, NULL);
        cpu->gather_rows(cpu, &g.c, &o.c, sel, 3);
        gpu->gather_rows(gpu, &g.g, &o.g, sel, 3);
        cr_assert_leq(pair_nmse(&g, 3), TOL(EXACT), "gather_rows");
        pair_free(&g);
        pair *all[] = {&x, &y, &w, &o};
        for (int i = 0; i < 4; i++) pair_free(all[i]);
        free(hx);
        free(hy);
        free(hw);
    }
}

Test(cuda, rope_matches_cpu) {
    NEED_GPU();
    const int hds[] = {16, 64, 128};
    for (int a = 0; a < 3; a++) {
        int hd = hds[a], nh = 5, n = 6, half = hd / 2;
        float inv[128];
        for (int i = 0; i < half; i++) inv[i] = (float)pow(500000.0, -2.0 * i / hd);
        int32_t pos[6] = {0, 1, 17, 4095, 32767, 131000};
        float *hx = rand_host((size_t)((n + 1) * nh * hd), 2.0f);
        pair x = pair_new(IS_DTYPE_F32, n + 1, (int64_t)nh * hd, hx), f = pair_new(IS_DTYPE_F32, 1, half, inv);
        cpu->rope(cpu, &x.c, n, nh, hd, pos, &f.c);
        gpu->rope(gpu, &x.g, n, nh, hd, pos, &f.g);
        cr_assert_leq(pair_nmse(&x, n + 1), TOL(ROW_F32), "rope hd=%d", hd);
        pair_free(&x);
        pair_free(&f);
        free(hx);
    }
}

Test(cuda, matmul_matches_cpu) {
    NEED_GPU();
    const int shapes[][3] = {{1, 64, 64}, {5, 77, 130}, {8, 2048, 2048}, {33, 512, 1000}, {300, 256, 3000}};
    for (int s = 0; s < 5; s++)
        for (int dt = 0; dt < 2; dt++) {
            int n = shapes[s][0], K = shapes[s][1], M = shapes[s][2];
            float *hx = rand_host((size_t)(n + 1) * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f);
            float *hb = rand_host((size_t)M, 1.0f), *hxr = bf16_rounded(hx, (size_t)(n + 1) * K);
            // BF16 weights: the device multiplies BF16-rounded activations; so does the CPU here
            pair x = {upload(cpu, IS_DTYPE_F32, n + 1, K, dt ? hxr : hx), upload(gpu, IS_DTYPE_F32, n + 1, K, hx)};
            pair w = pair_new(dt ? IS_DTYPE_BF16 : IS_DTYPE_F32, M, K, hw);
            pair b = pair_new(IS_DTYPE_F32, 1, M, hb), o = pair_new(IS_DTYPE_F32, n + 1, M, NULL);
            cpu->matmul(cpu, &o.c, &x.c, &w.c, s % 2 ? &b.c : NULL, n);
            gpu->matmul(gpu, &o.g, &x.g, &w.g, s % 2 ? &b.g : NULL, n);
            free(hxr);
            double tol = dt ? TOL(MATMUL_BF16) : TOL(MATMUL_F32);
            double e = pair_nmse(&o, n);
            cr_assert_leq(e, tol, "matmul n=%d K=%d M=%d %s: nmse %g", n, K, M, dt ? "bf16" : "f32", e);
            pair *all[] = {&x, &w, &b, &o};
            for (int i = 0; i < 4; i++) pair_free(all[i]);
            free(hx);
            free(hw);
            free(hb);
        }
}

// Batch-invariant mode: every row of an n-row matmul is bitwise the row computed
// alone (n = 1), for BF16 and F32 weights, and still close to the CPU.
Test(cuda, batch_invariant_matmul_rows_equal_alone) {
    NEED_GPU();
    gpu->batch_invariant = true;
    const int n = 37, K = 320, M = 1000;
    for (int dt = 0; dt < 2; dt++) {
        float *hx = rand_host((size_t)n * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f), *hb = rand_host(M, 1.0f);
        is_tensor x = upload(gpu, IS_DTYPE_F32, n, K, hx), w = upload(gpu, dt ? IS_DTYPE_BF16 : IS_DTYPE_F32, M, K, hw);
        is_tensor b = upload(gpu, IS_DTYPE_F32, 1, M, hb), o = upload(gpu, IS_DTYPE_F32, n, M, NULL);
        gpu->matmul(gpu, &o, &x, &w, &b, n);
        float *all = download(gpu, &o, n);
        for (int r = 0; r < n; r += 6) {
            is_tensor x1 = upload(gpu, IS_DTYPE_F32, 1, K, hx + (size_t)r * K), o1 = upload(gpu, IS_DTYPE_F32, 1, M, NULL);
            gpu->matmul(gpu, &o1, &x1, &w, &b, 1);
            float *one = download(gpu, &o1, 1);
            cr_assert(!memcmp(one, all + (size_t)r * M, (size_t)M * sizeof(float)),
                      "%s weights: row %d of %d differs from the row alone", dt ? "bf16" : "f32", r, n);
            free(one);
            gpu->tensor_free(gpu, &x1);
            gpu->tensor_free(gpu, &o1);
        }
        free(all);
        is_tensor *ts[] = {&x, &w, &b, &o};
        for (int i = 0; i < 4; i++) gpu->tensor_free(gpu, ts[i]);
        free(hx);
        free(hw);
        free(hb);
    }
    gpu->batch_invariant = false;
}

// A paged cache of n_seqs sequences with lens[i] positions on both backends, K and V
// values BF16-exact (so the CPU's F32 pools hold what the device's BF16 pools hold),
// blocks in a shuffled order. Then a batch (pos, seq) is attended on both.
// pad: block-table entries past the longest sequence (unused), which widen the
// chunk's stride and so the context split_kv plans for.
static void attention_case_pad(int n_seqs, const int *lens, const int *n_query, int H, int KV, int hd, int bs,
                               int pad) {
    int kv_dim = KV * hd, total = 0, max_blocks = 0;
    for (int s = 0; s < n_seqs; s++) {
        total += lens[s];
        int nb = (lens[s] + bs - 1) / bs;
        if (nb > max_blocks) max_blocks = nb;
    }
    max_blocks += pad;
    int n_blocks = n_seqs * max_blocks + 3;
    int32_t *perm = malloc((size_t)n_blocks * sizeof *perm), *tables = malloc((size_t)n_seqs * max_blocks * sizeof *tables);
    for (int i = 0; i < n_blocks; i++) perm[i] = i;
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = (int)((unif() + 1) * 0.5f * (float)(i + 1)) % (i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < n_seqs * max_blocks; i++) tables[i] = perm[i];
    // store every position of every sequence
    int32_t *pos = malloc((size_t)total * sizeof *pos), *seq = malloc((size_t)total * sizeof *seq);
    int32_t *slot = malloc((size_t)total * sizeof *slot);
    int k = 0;
    for (int s = 0; s < n_seqs; s++)
        for (int p = 0; p < lens[s]; p++, k++) {
            pos[k] = p;
            seq[k] = s;
            slot[k] = tables[s * max_blocks + p / bs] * bs + p % bs;
        }
    float *hk = rand_host((size_t)total * kv_dim, 1.0f), *hv = rand_host((size_t)total * kv_dim, 1.0f);
    for (size_t i = 0; i < (size_t)total * kv_dim; i++) {
        hk[i] = is_bf16_to_f32(is_f32_to_bf16(hk[i]));
        hv[i] = is_bf16_to_f32(is_f32_to_bf16(hv[i]));
    }
    is_tensor kc = upload(cpu, IS_DTYPE_F32, (int64_t)n_blocks * bs, kv_dim, NULL);
    is_tensor vc = upload(cpu, IS_DTYPE_F32, (int64_t)n_blocks * bs, kv_dim, NULL);
    is_tensor kg = upload(gpu, IS_DTYPE_BF16, (int64_t)n_blocks * bs, kv_dim, NULL);
    is_tensor vg = upload(gpu, IS_DTYPE_BF16, (int64_t)n_blocks * bs, kv_dim, NULL);
    pair kin = pair_new(IS_DTYPE_F32, total, kv_dim, hk), vin = pair_new(IS_DTYPE_F32, total, kv_dim, hv);
    is_attn_batch st = {.n_tokens = total, .pos = pos, .seq = seq, .slot = slot, .n_seqs = n_seqs,
                        .block_tables = tables, .max_blocks = max_blocks, .block_size = bs};
    cpu->kv_store(cpu, &kc, &vc, &kin.c, &vin.c, &st);
    gpu->kv_store(gpu, &kg, &vg, &kin.g, &vin.g, &st);
    // the queries: the last n_query[s] positions of each sequence
    int nq = 0;
    for (int s = 0; s < n_seqs; s++) nq += n_query[s];
    int32_t *qpos = malloc((size_t)nq * sizeof *qpos), *qseq = malloc((size_t)nq * sizeof *qseq);
    k = 0;
    for (int s = 0; s < n_seqs; s++)
        for (int i = 0; i < n_query[s]; i++, k++) {
            qpos[k] = lens[s] - n_query[s] + i;
            qseq[k] = s;
        }
    float *hq = rand_host((size_t)nq * H * hd, 1.0f);
    pair q = pair_new(IS_DTYPE_F32, nq, (int64_t)H * hd, hq), o = pair_new(IS_DTYPE_F32, nq, (int64_t)H * hd, NULL);
    is_attn_batch b = {.n_tokens = nq, .pos = qpos, .seq = qseq, .slot = slot, .n_seqs = n_seqs,
                       .block_tables = tables, .max_blocks = max_blocks, .block_size = bs};
    cpu->attention(cpu, &o.c, &q.c, &kc, &vc, &b, H, KV, hd);
    gpu->attention(gpu, &o.g, &q.g, &kg, &vg, &b, H, KV, hd);
    double e = pair_nmse(&o, nq);
    cr_assert_leq(e, TOL(ATTENTION), "attention %d seqs (first len %d, %d queries) H=%d KV=%d hd=%d bs=%d: nmse %g", n_seqs,
                  lens[0], nq, H, KV, hd, bs, e);
    // the pools: KV stored exactly (BF16-exact values) in the slots written
    float *pc = download(cpu, &kc, kc.rows), *pg = download(gpu, &kg, kg.rows);
    for (int t = 0; t < total; t++)
        cr_assert_eq(memcmp(pc + (size_t)slot[t] * kv_dim, pg + (size_t)slot[t] * kv_dim, (size_t)kv_dim * 4), 0,
                     "K of token %d stored exactly", t);
    // copy-on-write block copies: block of table entry 0 to the spare blocks
    int32_t src[2] = {tables[0], tables[max_blocks > 1 ? 1 : 0]}, dst[2] = {perm[n_blocks - 1], perm[n_blocks - 2]};
    cpu->kv_copy_blocks(cpu, &kc, &vc, src, dst, 2, bs);
    gpu->kv_copy_blocks(gpu, &kg, &vg, src, dst, 2, bs);
    free(pg);
    pg = download(gpu, &kg, kg.rows);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(memcmp(pg + (size_t)dst[i] * bs * kv_dim, pg + (size_t)src[i] * bs * kv_dim,
                            (size_t)bs * kv_dim * 4), 0, "block %d copied to %d", src[i], dst[i]);
    free(pc);
    free(pg);
    pair_free(&kin);
    pair_free(&vin);
    pair_free(&q);
    pair_free(&o);
    cpu->tensor_free(cpu, &kc);
    cpu->tensor_free(cpu, &vc);
    gpu->tensor_free(gpu, &kg);
    gpu->tensor_free(gpu, &vg);
    free(perm);
    free(tables);
    free(pos);
    free(seq);
    free(slot);
    free(qpos);
    free(qseq);
    free(hk);
    free(hv);
    free(hq);
}

static void attention_case(int n_seqs, const int *lens, const int *n_query, int H, int KV, int hd, int bs) {
    attention_case_pad(n_seqs, lens, n_query, H, KV, hd, bs, 0);
}

Test(cuda, decode_attention_matches_cpu) {
    NEED_GPU();
    int lens[4] = {1, 37, 300, 3000}, one[4] = {1, 1, 1, 1};
    attention_case(4, lens, one, 8, 2, 64, 16);
    attention_case(4, lens, one, 4, 4, 128, 16);
    attention_case(4, lens, one, 4, 2, 16, 7);
    int l1[1] = {4100}, q1[1] = {1};
    attention_case(1, l1, q1, 32, 8, 128, 16);
}

Test(cuda, prefill_attention_matches_cpu) {
    NEED_GPU();
    int lens[3] = {40, 17, 2100}, nq[3] = {40, 17, 600};
    attention_case(3, lens, nq, 8, 2, 64, 16);
    attention_case(3, lens, nq, 6, 3, 128, 32);
    int l2[2] = {5, 33}, q2[2] = {3, 1}; // a continued sequence and a decode token in one batch
    attention_case(2, l2, q2, 4, 2, 16, 4);
}

Test(cuda, sampling_on_the_device) {
    NEED_GPU();
    enum { ROWS = 32, V = 1000 };
    float *h = rand_host((size_t)ROWS * V, 5.0f);
    h[3 * V + 17] = h[3 * V + 400] = 100.0f; // a tie: the lower id wins
    h[5 * V + 2] = NAN;                       // NaN counts as -inf
    is_tensor lg = upload(gpu, IS_DTYPE_F32, ROWS, V, h);
    is_sample_req req[ROWS];
    int32_t ids[ROWS];
    is_err err = {{0}};
    for (int r = 0; r < ROWS; r++) req[r] = (is_sample_req){.temperature = 0, .seed = 1, .stream = (uint64_t)r};
    cr_assert_eq(gpu->sample(gpu, &lg, ROWS, req, ids, &err), 0, "%s", err.msg);
    for (int r = 0; r < ROWS; r++) cr_assert_eq(ids[r], is_argmax(h + (size_t)r * V, V), "greedy row %d", r);
    cr_assert_eq(ids[3], 17);
    // top-k = 1 is greedy at any temperature; top-k = 5 draws only among the 5 best
    for (int r = 0; r < ROWS; r++) req[r] = (is_sample_req){.temperature = 1.5f, .top_k = 1, .top_p = 1, .seed = 2};
    cr_assert_eq(gpu->sample(gpu, &lg, ROWS, req, ids, &err), 0, "%s", err.msg);
    for (int r = 0; r < ROWS; r++) cr_assert_eq(ids[r], is_argmax(h + (size_t)r * V, V), "top-k 1 row %d", r);
    for (int rep = 0; rep < 20; rep++) {
        for (int r = 0; r < ROWS; r++)
            req[r] = (is_sample_req){.temperature = 3.0f, .top_k = 5, .top_p = 1, .seed = 3, .counter = (uint64_t)rep};
        cr_assert_eq(gpu->sample(gpu, &lg, ROWS, req, ids, &err), 0, "%s", err.msg);
        for (int r = 0; r < ROWS; r++) {
            const float *x = h + (size_t)r * V;
            int better = 0;
            for (int i = 0; i < V; i++) better += x[i] > x[ids[r]];
            cr_assert_lt(better, 5, "row %d: id %d has %d better ids, outside the top 5", r, ids[r], better);
        }
    }
    gpu->tensor_free(gpu, &lg);
    free(h);
    // the distribution: 8 logits, T = 1, top-p 0.9 (the nucleus drops the two
    // smallest); 32 x 400 draws, chi-square with 5 degrees of freedom, p = 0.001 cut 20.52
    float x8[8] = {2.0f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -3.0f, -4.0f};
    double w[8], tot = 0;
    for (int i = 0; i < 8; i++) tot += w[i] = exp(x8[i] - 2.0);
    // best-first mass reaches 0.9 at index 5 here (checked below), so ids 6, 7 are cut
    double cum = 0;
    int keep = 0;
    while (cum < 0.9 * tot) cum += w[keep++];
    cr_assert_eq(keep, 6);
    float *rows8 = malloc(ROWS * 8 * sizeof *rows8);
    for (int r = 0; r < ROWS; r++) memcpy(rows8 + r * 8, x8, sizeof x8);
    is_tensor l8 = upload(gpu, IS_DTYPE_F32, ROWS, 8, rows8);
    long count[8] = {0}, draws = 0;
    for (int rep = 0; rep < 400; rep++) {
        for (int r = 0; r < ROWS; r++)
            req[r] = (is_sample_req){.temperature = 1, .top_p = 0.9f, .seed = 11, .stream = (uint64_t)r,
                                     .counter = (uint64_t)rep};
        cr_assert_eq(gpu->sample(gpu, &l8, ROWS, req, ids, &err), 0, "%s", err.msg);
        for (int r = 0; r < ROWS; r++, draws++) count[ids[r]]++;
    }
    cr_assert_eq(count[6] + count[7], 0, "ids outside the nucleus are never drawn");
    double chi = 0;
    for (int i = 0; i < keep; i++) {
        double e = (double)draws * w[i] / cum;
        chi += (count[i] - e) * (count[i] - e) / e;
    }
    cr_assert_lt(chi, 20.52, "chi-square %.2f over %ld draws", chi, draws);
    gpu->tensor_free(gpu, &l8);
    free(rows8);
}

// ---- kernel variants ---------------------------------------------------------------------

static void select_variants(const char *spec) {
    is_err err = {{0}};
    cr_assert_eq(is_kernel_spec_apply(gpu, spec, &err), 0, "--kernel %s: %s", spec, err.msg);
}

// The row of op's table for variant name.
static const is_kernel_variant *variant_row(const char *op, const char *name) {
    for (int i = 0; i < gpu->n_kernel_ops; i++)
        for (int v = 0; !strcmp(gpu->kernel_ops[i].op, op) && gpu->kernel_ops[i].variants[v].name; v++)
            if (!strcmp(gpu->kernel_ops[i].variants[v].name, name)) return &gpu->kernel_ops[i].variants[v];
    cr_assert_fail("no variant %s=%s", op, name);
    return NULL;
}

static int device_sms(void) {
    is_device_info info;
    is_err err = {{0}};
    cr_assert_eq(gpu->device_info(gpu, &info, &err), 0, "%s", err.msg);
    return info.sm_count;
}

Test(cuda, variants_are_registered_with_their_kinds) {
    NEED_GPU();
    const struct {
        const char *op, *v0, *v1;
        is_kernel_kind kind;
    } want[] = {{"gemv", "cublas", "custom", IS_KOP_GEMV},
                {"attn_decode", "naive", "split_kv", IS_KOP_ATTN_DECODE},
                {"attn_prefill", "tiled", "wide", IS_KOP_ATTN_PREFILL}};
    cr_assert_eq(gpu->n_kernel_ops, 3);
    for (int i = 0; i < 3; i++) {
        const is_kernel_op *k = &gpu->kernel_ops[i];
        cr_assert_str_eq(k->op, want[i].op);
        cr_assert_str_eq(k->variants[0].name, want[i].v0, "%s: the default first", k->op);
        cr_assert_str_eq(k->variants[1].name, want[i].v1);
        cr_assert_null(k->variants[2].name);
        is_check c = want[i].kind == IS_KOP_GEMV ? IS_CHECK_MATMUL_BF16 : IS_CHECK_ATTENTION;
        for (int v = 0; v < 2; v++) {
            cr_assert_eq(k->variants[v].check, c, "%s=%s: its check", k->op, k->variants[v].name);
            cr_assert_not_null(k->variants[v].impl, "%s=%s: how it runs", k->op, k->variants[v].name);
        }
        cr_assert_eq(k->kind, want[i].kind);
        cr_assert(k->doc && strlen(k->doc) > 0 && !strchr(k->doc, '\n'), "%s: a one-line doc", k->op);
    }
    is_err err = {{0}};
    cr_assert_neq(is_kernel_spec_apply(gpu, "gemv=fast", &err), 0);
    cr_assert(strstr(err.msg, "custom"), "the message lists the variants: %s", err.msg);
}

// gemv=custom against the CPU (given the activations rounded to BF16, as the
// device rounds them) and against cuBLAS on the device (the same BF16 products
// with fp32 sums: only the order of the sums differs), by the check its row names.
static void gemv_case(int n, int K, int M, bool with_bias) {
    float *hx = rand_host((size_t)(n + 1) * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f);
    float *hb = rand_host((size_t)M, 1.0f), *hxr = bf16_rounded(hx, (size_t)(n + 1) * K);
    pair x = {upload(cpu, IS_DTYPE_F32, n + 1, K, hxr), upload(gpu, IS_DTYPE_F32, n + 1, K, hx)};
    pair w = pair_new(IS_DTYPE_BF16, M, K, hw);
    pair b = pair_new(IS_DTYPE_F32, 1, M, hb), o = pair_new(IS_DTYPE_F32, n + 1, M, NULL);
    cpu->matmul(cpu, &o.c, &x.c, &w.c, with_bias ? &b.c : NULL, n);
    select_variants("gemv=custom");
    gpu->matmul(gpu, &o.g, &x.g, &w.g, with_bias ? &b.g : NULL, n);
    double tol = is_check_tolerance(variant_row("gemv", "custom")->check);
    double e = pair_nmse(&o, n);
    cr_assert_leq(e, tol, "gemv=custom n=%d K=%d M=%d bias %d: nmse %g against the CPU", n, K, M, with_bias, e);
    float *custom = download(gpu, &o.g, n + 1);
    for (int64_t i = (int64_t)n * M; i < (int64_t)(n + 1) * M; i++)
        cr_assert(isnan(custom[i]), "row %d past n stays poisoned (element %lld)", n, (long long)i);
    select_variants("default");
    gpu->tensor_fill_const(gpu, &o.g, NAN);
    gpu->matmul(gpu, &o.g, &x.g, &w.g, with_bias ? &b.g : NULL, n);
    float *cublas = download(gpu, &o.g, n);
    e = is_nmse(custom, cublas, (size_t)n * M);
    cr_assert_leq(e, tol, "gemv=custom n=%d K=%d M=%d: nmse %g against cuBLAS", n, K, M, e);
    free(custom);
    free(cublas);
    pair *all[] = {&x, &w, &b, &o};
    for (int i = 0; i < 4; i++) pair_free(all[i]);
    free(hx);
    free(hxr);
    free(hw);
    free(hb);
}

Test(cuda, gemv_custom_matches_cpu_and_cublas) {
    NEED_GPU();
    // odd shapes: columns not a multiple of 8 (scalar loads), rows not a multiple of rows per warp
    const int odd[][2] = {{130, 77}, {1001, 1000}, {264, 129}, {7, 3}, {4104, 333}};
    for (int s = 0; s < 5; s++)
        for (int n = 1; n <= IS_CUDA_GEMV_MAX_N; n++) gemv_case(n, odd[s][0], odd[s][1], (n + s) % 2);
    // short and wide: split-K on this device's SM count (checked); an LM head: many rows, no split
    const int wide[][2] = {{8192, 2048}, {2048, 512}, {2048, 128256}};
    int sms = device_sms(), n_split = 0;
    for (int s = 0; s < 3; s++) {
        is_cuda_gemv_plan p;
        is_cuda_plan_gemv(&p, wide[s][1], wide[s][0], 1, sms);
        n_split += p.split > 1;
        const int ns[] = {1, 3, 8};
        for (int i = 0; i < 3; i++) gemv_case(ns[i], wide[s][0], wide[s][1], i != 1);
    }
    cr_assert_geq(n_split, 1, "at least one shape took split-K on %d SMs", sms);
    // F32 weights go to cuBLAS under gemv=custom too: the F32 tolerance holds
    select_variants("gemv=custom");
    float *hx = rand_host(4 * 300, 1.0f), *hw = rand_host(300 * 200, 0.1f);
    pair x = pair_new(IS_DTYPE_F32, 4, 300, hx), w = pair_new(IS_DTYPE_F32, 200, 300, hw);
    pair o = pair_new(IS_DTYPE_F32, 4, 200, NULL);
    cpu->matmul(cpu, &o.c, &x.c, &w.c, NULL, 4);
    gpu->matmul(gpu, &o.g, &x.g, &w.g, NULL, 4);
    cr_assert_leq(pair_nmse(&o, 4), TOL(MATMUL_F32), "F32 weights under gemv=custom: the F32 GEMM");
    select_variants("default");
    pair_free(&x);
    pair_free(&w);
    pair_free(&o);
    free(hx);
    free(hw);
}

// Whether split_kv splits a decode batch of n_tokens whose tables are max_blocks long.
static int split_parts(int n_tokens, int H, int max_blocks, int bs) {
    is_cuda_split_plan p;
    is_cuda_plan_split_kv(&p, n_tokens, H, is_cuda_plan_stride(max_blocks) * bs, bs, device_sms());
    return p.n_parts;
}

Test(cuda, decode_split_kv_matches_cpu) {
    NEED_GPU();
    select_variants("attn_decode=split_kv");
    int one[5] = {1, 1, 1, 1, 1};
    // batch 1 at short contexts, the tables padded so that the plan splits (partitions past the context empty)
    const int shorts[] = {1, 15, 16, 17};
    for (int i = 0; i < 4; i++) {
        int len[1] = {shorts[i]};
        cr_assert_gt(split_parts(1, 8, 300, 16), 1, "the padded case splits");
        attention_case_pad(1, len, one, 8, 2, 64, 16, 299);
        attention_case_pad(1, len, one, 32, 8, 128, 16, 299);
    }
    // batch 1 at 4100 positions: every partition used; GQA 32:8, head_dim 128 and 64
    int l1[1] = {4100};
    cr_assert_gt(split_parts(1, 32, 257, 16), 1);
    attention_case(1, l1, one, 32, 8, 128, 16);
    attention_case(1, l1, one, 16, 2, 64, 16);
    // several sequences of different lengths in one batch, an odd block size
    int lens[5] = {1, 15, 16, 17, 4100};
    cr_assert_gt(split_parts(5, 8, 257, 16), 1);
    attention_case(5, lens, one, 8, 2, 64, 16);
    attention_case(5, lens, one, 4, 4, 128, 16);
    attention_case(5, lens, one, 4, 2, 16, 7);
    select_variants("default");
}

Test(cuda, prefill_wide_matches_cpu) {
    NEED_GPU();
    select_variants("attn_prefill=wide");
    // several sequences, lengths not multiples of the 16- or 64-query tiles, GQA, head_dim 64 and 128
    int lens[3] = {40, 17, 2100}, nq[3] = {40, 17, 600};
    attention_case(3, lens, nq, 8, 2, 64, 16);
    attention_case(3, lens, nq, 6, 3, 128, 32);
    attention_case(3, lens, nq, 4, 4, 128, 16);
    // short sequences: a block's four tiles span several sequences
    int l4[5] = {5, 33, 20, 70, 1}, q4[5] = {5, 33, 20, 70, 1};
    attention_case(5, l4, q4, 8, 2, 64, 16);
    attention_case(5, l4, q4, 8, 4, 128, 7);
    // continued sequences (queries at the end of a stored context) and a decode token in one batch
    int l2[3] = {300, 33, 90}, q2[3] = {100, 1, 64};
    attention_case(3, l2, q2, 8, 2, 128, 16);
    // a head_dim wide is not built for runs tiled
    attention_case(3, lens, nq, 4, 2, 16, 4);
    select_variants("default");
}

// A fixed schedule on one session: prompts of 300, 520 and 40 tokens, then steps
// steps, each a decode step of those three and a 100-token prompt into a fourth
// sequence (emptied first), so both chunk shapes repeat and are recorded and
// replayed. spec_a runs the first steps / 2 steps, spec_b the rest (selected with
// graphs of spec_a recorded for the same shapes). Fed tokens do not depend on the
// outputs. Logits of every step (three decode rows, the prompt's last) go to out
// (steps x 4 x V); *recorded gets the graphs recorded after the switch.
static void variant_schedule(is_model *m, const char *spec_a, const char *spec_b, bool graphs, int steps,
                             float *out, long *recorded) {
    int V = m->cfg.vocab_size;
    is_session_opts o = {.kv_budget_mib = 256, .max_seqs = 8, .max_batch_tokens = 256, .block_size = 16};
    is_session *s;
    is_err err = {{0}};
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    gpu->graphs = graphs;
    select_variants(spec_a);
    int plen[4] = {300, 520, 40, 100}, sq[4];
    int32_t tok[520], seqv[520];
    bool want[520];
    long rec0 = 0, rep0, rec1, rep1;
    for (int q = 0; q < 4; q++) {
        sq[q] = is_seq_new(s, &err);
        cr_assert_geq(sq[q], 0, "%s", err.msg);
    }
    for (int step = -1; step < steps; step++) {
        if (step == steps / 2) {
            is_cuda_graph_counts(gpu, &rec0, &rep0);
            select_variants(spec_b);
        }
        for (int q = step < 0 ? 0 : 3; q < (step < 0 ? 3 : 4); q++) { // prompts
            if (q == 3) is_seq_truncate(s, sq[3], 0);
            for (int i = 0; i < plen[q]; i++) {
                tok[i] = (int32_t)((unsigned)(i * 7919 + q * 131 + step * 17 + 13) % (unsigned)V);
                seqv[i] = sq[q];
                want[i] = q == 3 && i == plen[q] - 1;
            }
            float *row = step < 0 ? NULL : out + ((size_t)step * 4 + 3) * V;
            cr_assert_eq(is_forward(s, plen[q], tok, seqv, want, row, &err), 0, "%s", err.msg);
        }
        if (step < 0) continue;
        for (int q = 0; q < 3; q++) {
            tok[q] = (int32_t)((unsigned)(step * 31 + q * 7 + 5) % (unsigned)V);
            seqv[q] = sq[q];
            want[q] = true;
        }
        cr_assert_eq(is_forward(s, 3, tok, seqv, want, out + (size_t)step * 4 * V, &err), 0, "%s", err.msg);
    }
    is_cuda_graph_counts(gpu, &rec1, &rep1);
    *recorded = rec1 - rec0;
    select_variants("default");
    gpu->graphs = true;
    is_session_free(s);
}

// Each variant, and all at once, under graph record + replay equals eager launches
// (bit for bit: the same kernels with the same arguments in the same order), also
// when the variant is selected after graphs of the default were recorded for the
// same shapes: the schedule that switches then lies on its eager twin, which after
// the switch differs from the default's (else the check could not tell). Not so
// attn_prefill=wide alone: it does tiled's fp32 operations in tiled's order (the
// same dot products, softmax steps and V sums, only other warps), so its logits
// equal the default's and only the count of graphs recorded anew shows the switch.
Test(cuda, variants_under_graphs_equal_eager) {
    NEED_GPU();
    enum { STEPS = 12 };
    is_model *m = tu_model(gpu, "preset:smollm2-135m", IS_DTYPE_BF16, 3);
    size_t nl = (size_t)STEPS * 4 * m->cfg.vocab_size, half = nl / 2;
    float *eager = malloc(nl * sizeof *eager), *graphed = malloc(nl * sizeof *graphed);
    float *base = malloc(nl * sizeof *base);
    long rec;
    const char *specs[] = {"gemv=custom", "attn_decode=split_kv", "attn_prefill=wide",
                           "gemv=custom+attn_decode=split_kv+attn_prefill=wide"};
    const bool changes[] = {true, true, false, true}; // the logits differ from the default's
    variant_schedule(m, "default", "default", false, STEPS, base, &rec);
    for (int i = 0; i < 4; i++) {
        variant_schedule(m, specs[i], specs[i], false, STEPS, eager, &rec);
        variant_schedule(m, specs[i], specs[i], true, STEPS, graphed, &rec);
        cr_assert_eq(memcmp(eager, graphed, nl * sizeof *eager), 0, "%s: graph replay equals eager", specs[i]);
        // switching after graphs of the default were recorded
        variant_schedule(m, "default", specs[i], false, STEPS, eager, &rec);
        variant_schedule(m, "default", specs[i], true, STEPS, graphed, &rec);
        cr_assert_geq(rec, 2, "%s: both shapes recorded anew after the switch (%ld graphs)", specs[i], rec);
        if (changes[i])
            cr_assert_gt(is_nmse(base + half, eager + half, nl - half), 0, "%s changes the logits after the switch",
                         specs[i]);
        cr_assert_eq(memcmp(eager, graphed, nl * sizeof *eager), 0,
                     "%s selected after graphs were recorded: graph replay equals eager", specs[i]);
    }
    free(eager);
    free(graphed);
    free(base);
    is_model_free(m);
}

// ---- the whole engine ------------------------------------------------------------------

static is_session *open_session(is_model *m) {
    is_session_opts o = {.kv_budget_mib = 64, .max_seqs = 8, .max_batch_tokens = 256};
    is_session *s;
    is_err err = {{0}};
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    return s;
}

// Logits of a prompt and of greedy steps on both backends (the CPU's choice fed to
// both), compared by NMSE; the device's argmax must equal the CPU's wherever the
// CPU's top-2 gap exceeds gap_tol.
static void forward_case(const char *spec, int prompt_len, int steps, double gap_tol) {
    is_model *mc = tu_model(cpu, spec, IS_DTYPE_BF16, 5), *mg = tu_model(gpu, spec, IS_DTYPE_BF16, 5);
    is_session *sc = open_session(mc), *sg = open_session(mg);
    int V = mc->cfg.vocab_size;
    float *lc = malloc((size_t)V * sizeof *lc), *lg = malloc((size_t)V * sizeof *lg);
    int32_t *prompt = malloc((size_t)prompt_len * sizeof *prompt), *seqv = malloc((size_t)prompt_len * sizeof *seqv);
    bool *want = calloc((size_t)prompt_len, sizeof *want);
    is_err err = {{0}};
    int qc = is_seq_new(sc, &err), qg = is_seq_new(sg, &err);
    for (int i = 0; i < prompt_len; i++) {
        prompt[i] = (int32_t)((unsigned)(i * 7919 + 13) % (unsigned)V);
        seqv[i] = 0;
    }
    want[prompt_len - 1] = true;
    int32_t sq[1] = {qc};
    for (int i = 0; i < prompt_len; i++) seqv[i] = qc;
    cr_assert_eq(is_forward(sc, prompt_len, prompt, seqv, want, lc, &err), 0, "%s", err.msg);
    for (int i = 0; i < prompt_len; i++) seqv[i] = qg;
    cr_assert_eq(is_forward(sg, prompt_len, prompt, seqv, want, lg, &err), 0, "%s", err.msg);
    int checked = 0;
    for (int step = 0;; step++) {
        double e = is_nmse(lg, lc, (size_t)V);
        cr_assert_leq(e, TOL(FORWARD_BF16), "%s step %d: logits nmse %g", spec, step, e);
        int32_t tc = is_argmax(lc, V), tg = is_argmax(lg, V);
        float top1 = lc[tc], top2 = -INFINITY;
        for (int i = 0; i < V; i++)
            if (i != tc && lc[i] > top2) top2 = lc[i];
        if (top1 - top2 > gap_tol) {
            cr_assert_eq(tg, tc, "%s step %d: device picks %d, CPU %d (gap %g)", spec, step, tg, tc, top1 - top2);
            checked++;
        }
        if (step == steps) break;
        bool w1 = true;
        sq[0] = qc;
        cr_assert_eq(is_forward(sc, 1, &tc, sq, &w1, lc, &err), 0, "%s", err.msg);
        sq[0] = qg;
        cr_assert_eq(is_forward(sg, 1, &tc, sq, &w1, lg, &err), 0, "%s", err.msg);
    }
    cr_assert_geq(checked, 1, "%s: at least one step had a clear top-2 gap", spec);
    free(lc);
    free(lg);
    free(prompt);
    free(seqv);
    free(want);
    is_session_free(sc);
    is_session_free(sg);
    is_model_free(mc);
    is_model_free(mg);
}

Test(cuda, forward_matches_cpu_tiny) {
    NEED_GPU();
    forward_case("preset:tiny", 40, 12, 0.05);
}

Test(cuda, forward_matches_cpu_smollm2) {
    NEED_GPU();
    forward_case("preset:smollm2-135m", 100, 8, 0.05);
}

static void greedy_tokens(is_model *m, int n_gen, int32_t *out) {
    is_session *s = open_session(m);
    int32_t p[3][20];
    const int32_t *prompts[3] = {p[0], p[1], p[2]};
    int lens[3] = {20, 7, 13};
    for (int b = 0; b < 3; b++)
        for (int i = 0; i < 20; i++) p[b][i] = (int32_t)((b * 131 + i * 17) % m->cfg.vocab_size);
    is_gen_opts go = {.n_gen = n_gen, .ignore_eos = true};
    is_gen_result res;
    is_err err = {{0}};
    cr_assert_eq(is_generate(s, 3, prompts, lens, &go, NULL, NULL, &res, &err), 0, "%s", err.msg);
    for (int b = 0; b < 3; b++) {
        cr_assert_eq(res.n_tokens[b], n_gen);
        memcpy(out + b * n_gen, res.tokens[b], (size_t)n_gen * sizeof *out);
    }
    is_gen_result_free(&res);
    is_session_free(s);
}

// greedy_tokens with graphs on; *recorded and *replayed: the graphs it recorded and replayed.
static void greedy_graphed(is_model *m, int n_gen, int32_t *out, long *recorded, long *replayed) {
    long rec0, rep0, rec1, rep1;
    gpu->graphs = true;
    is_cuda_graph_counts(gpu, &rec0, &rep0);
    greedy_tokens(m, n_gen, out);
    is_cuda_graph_counts(gpu, &rec1, &rep1);
    *recorded = rec1 - rec0;
    *replayed = rep1 - rep0;
}

static void same_tokens(const int32_t *got, const int32_t *eager, int n, const char *what) {
    for (int i = 0; i < n; i++) cr_assert_eq(got[i], eager[i], "token %d: %s %d, eager %d", i, what, got[i], eager[i]);
}

Test(cuda, graph_replay_equals_eager_launches) {
    NEED_GPU();
    enum { N = 40 };
    is_model *m = tu_model(gpu, "preset:tiny", IS_DTYPE_BF16, 3);
    int32_t eager[3 * N], graphed[3 * N];
    gpu->graphs = false;
    greedy_tokens(m, N, eager);
    long rec, rep;
    greedy_graphed(m, N, graphed, &rec, &rep);
    cr_assert_gt(rec, 0, "decode steps were recorded as graphs");
    cr_assert_gt(rep, N / 2, "and replayed (%ld replays)", rep);
    same_tokens(graphed, eager, 3 * N, "graph");
    is_model_free(m);
}

// A recording that fails (forced: a stream synchronize while capturing, which a
// capture forbids) fails neither that chunk nor later ones of its shape: the
// chunk is issued again eagerly, the shape stays eager, and the tokens equal
// eager launches.
Test(cuda, failed_graph_recording_falls_back_to_eager_launches) {
    NEED_GPU();
    enum { N = 24 };
    is_model *m = tu_model(gpu, "preset:tiny", IS_DTYPE_BF16, 3);
    int32_t eager[3 * N], fallback[3 * N];
    gpu->graphs = false;
    greedy_tokens(m, N, eager);
    long failed0 = is_cuda_graph_failed(gpu), rec, rep;
    is_cuda_break_next_capture(gpu);
    greedy_graphed(m, N, fallback, &rec, &rep);
    cr_assert_eq(is_cuda_graph_failed(gpu) - failed0, 1, "exactly the broken recording failed");
    same_tokens(fallback, eager, 3 * N, "after a failed recording");
    // the backend is not left broken: a new session's shapes record and replay
    greedy_graphed(m, N, fallback, &rec, &rep);
    cr_assert_gt(rec, 0, "graphs are recorded again after a failure");
    cr_assert_gt(rep, 0, "and replayed");
    cr_assert_eq(is_cuda_graph_failed(gpu) - failed0, 1, "and no other recording failed");
    same_tokens(fallback, eager, 3 * N, "graphs");
    is_model_free(m);
}

Test(cuda, kv_budget_past_device_memory_is_a_clear_error) {
    NEED_GPU();
    is_model *m = tu_model(gpu, "preset:tiny", IS_DTYPE_BF16, 3);
    is_session_opts o = {.kv_budget_mib = 64.0 * 1024 * 1024, .max_batch_tokens = 64};
    is_session *s = NULL;
    is_err err = {{0}};
    cr_assert_neq(is_session_create(m, &o, &s, &err), 0);
    cr_assert(strstr(err.msg, "KV budget") && strstr(err.msg, "free"), "message: %s", err.msg);
    is_model_free(m);
}

// The device timer and the L2 flush (inferscope kernels): a region of one matmul
// times positive and no longer than the host saw it take; an empty region times
// less than that matmul; the flush (allocated once) runs and leaves the op's result
// as it was. No speed is asserted beyond that order.
Test(cuda, timer_and_flush) {
    NEED_GPU();
    is_err err = {{0}};
    cr_assert_not_null(gpu->timer_begin);
    cr_assert_not_null(gpu->timer_end);
    cr_assert_not_null(gpu->flush_cache);
    int n = 64, K = 4096, M = 4096;
    float *hx = rand_host((size_t)n * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f);
    is_tensor x = upload(gpu, IS_DTYPE_F32, n, K, hx), w = upload(gpu, IS_DTYPE_BF16, M, K, hw);
    is_tensor o = upload(gpu, IS_DTYPE_F32, n, M, NULL);
    gpu->matmul(gpu, &o, &x, &w, NULL, n); // warm-up (cuBLAS heuristics, the activation buffer)
    float *before = download(gpu, &o, n);
    for (int i = 0; i < 3; i++) cr_assert_eq(gpu->flush_cache(gpu, &err), 0, "%s", err.msg);
    double ms_op = 0, ms_empty = 0;
    double t0 = is_now_s();
    cr_assert_eq(gpu->timer_begin(gpu, &err), 0, "%s", err.msg);
    gpu->matmul(gpu, &o, &x, &w, NULL, n);
    cr_assert_eq(gpu->timer_end(gpu, &ms_op, &err), 0, "%s", err.msg);
    double host_ms = (is_now_s() - t0) * 1e3;
    cr_assert(ms_op > 0 && ms_op <= host_ms + 1e-3, "device %g ms, host %g ms", ms_op, host_ms);
    cr_assert_eq(gpu->timer_begin(gpu, &err), 0, "%s", err.msg);
    cr_assert_eq(gpu->timer_end(gpu, &ms_empty, &err), 0, "%s", err.msg);
    cr_assert(ms_empty >= 0 && ms_empty < ms_op, "empty region %g ms, matmul %g ms", ms_empty, ms_op);
    float *after = download(gpu, &o, n);
    cr_assert_eq(memcmp(before, after, (size_t)n * M * sizeof *after), 0, "the flush touched no tensor");
    is_tensor *all[] = {&x, &w, &o};
    for (int i = 0; i < 3; i++) gpu->tensor_free(gpu, all[i]);
    free(hx);
    free(hw);
    free(before);
    free(after);
}
