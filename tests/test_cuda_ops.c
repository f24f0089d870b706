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
// - quantized weights (Q8_0, Q4_0, INT8; at the end): the bytes of the device's
//   quantizer and dequantizer equal base/quant.c's (bitwise); the matmul against a
//   float64 reference of the very operands each path multiplies (the GEMV at n <= 8:
//   F32 x and the dequantized weights, IS_CHECK_MATMUL_F32; above: x and the weights
//   rounded to BF16 as the cuBLAS path rounds them, IS_CHECK_MATMUL_BF16), never the
//   CPU backend's quantized matmul; a quantized forward pass against an F32 model
//   holding the dequantized weights, IS_CHECK_FORWARD_BF16.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant.h"              // defines: is_quantize_row, is_dequantize_row (the reference)
#include "base/rng.h"                // defines: is_rng_normal, is_rng_stream (the preset generator)
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

// ---- quantized weights (Q8_0, Q4_0, INT8) ------------------------------------------------
// The first quantized tensor each test allocates also runs the backend's own check of
// its quantizer against base/quant.c on hard cases (kernels/cuda/cuda_quant.cu): a
// failure there is an allocation error naming the byte that differs.

static const is_dtype qdts[3] = {IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};

// Host-side (runs without a GPU): the quantized GEMV's plan cuts K only at whole tiles
// (so never inside a 32-element block), into non-empty slices that cover K, and never
// needs more split-K workspace than the backend reserves for the BF16 plans.
Test(cuda, qgemv_plan_slices_are_whole_tiles) {
    const int64_t rows[] = {1, 3, 64, 128, 200, 333, 896, 2048, 4096, 14336, 128256};
    const int64_t cols[] = {32, 64, 800, 1024, 1056, 2048, 4096, 8192, 14336, 16384};
    const int sms[] = {1, 16, 108, 132};
    for (size_t a = 0; a < sizeof rows / sizeof rows[0]; a++)
        for (size_t b = 0; b < sizeof cols / sizeof cols[0]; b++)
            for (size_t c = 0; c < sizeof sms / sizeof sms[0]; c++) {
                is_cuda_gemv_plan p, g;
                is_cuda_plan_qgemv(&p, rows[a], cols[b], IS_CUDA_GEMV_MAX_N, sms[c], IS_CUDA_QGEMV_KT);
                is_cuda_plan_gemv(&g, rows[a], cols[b], IS_CUDA_GEMV_MAX_N, sms[c]);
                cr_assert(p.split >= 1 && p.split <= g.split, "split %d (BF16 plan %d)", p.split, g.split);
                cr_assert_eq(p.rows_per_warp, g.rows_per_warp);
                cr_assert_eq(p.blocks, g.blocks);
                if (p.split == 1) {
                    cr_assert_eq(p.slice, cols[b]);
                } else {
                    cr_assert_eq(p.slice % IS_CUDA_QGEMV_KT, 0, "slice %lld", (long long)p.slice);
                    cr_assert((int64_t)(p.split - 1) * p.slice < cols[b] && (int64_t)p.split * p.slice >= cols[b],
                              "%d slices of %lld cover %lld columns, none empty", p.split, (long long)p.slice,
                              (long long)cols[b]);
                }
                cr_assert_leq(is_cuda_plan_gemv_work(&p, rows[a], IS_CUDA_GEMV_MAX_N),
                              is_cuda_plan_gemv_work_max(sms[c]));
            }
}

// Columns of a test matrix of dtype dt: cols for the block formats, odd_cols for INT8
// (any width: its rows then start at odd addresses).
static int64_t qcols(is_dtype dt, int64_t cols, int64_t odd_cols) { return dt == IS_DTYPE_I8 ? odd_cols : cols; }

// The same float: bitwise, or both NaN (the host's and the device's NaNs have other bits).
static bool same_f32(float a, float b) { return (isnan(a) && isnan(b)) || !memcmp(&a, &b, sizeof a); }

static void assert_same(const float *got, const float *ref, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        cr_assert(same_f32(got[i], ref[i]), "%s: element %zu is %.9g, the reference %.9g", what, i, got[i], ref[i]);
}

// rows x cols host floats quantized by the reference (malloc'd bytes), and back.
static uint8_t *host_quantize(is_dtype dt, const float *x, int64_t rows, int64_t cols) {
    size_t rb = is_dtype_row_bytes(dt, cols);
    uint8_t *q = malloc(rb * (size_t)rows + 1);
    for (int64_t r = 0; r < rows; r++) is_quantize_row(dt, x + r * cols, q + (size_t)r * rb, cols);
    return q;
}
static float *host_dequantize(is_dtype dt, const uint8_t *q, int64_t rows, int64_t cols) {
    size_t rb = is_dtype_row_bytes(dt, cols);
    float *y = malloc((size_t)(rows * cols + 1) * sizeof *y);
    for (int64_t r = 0; r < rows; r++) is_dequantize_row(dt, q + (size_t)r * rb, y + r * cols, cols);
    return y;
}

// A device tensor of dtype dt holding the bytes q (tensor_set of its own dtype: a copy).
static is_tensor upload_raw(is_dtype dt, int64_t rows, int64_t cols, const void *q) {
    is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
    is_err err = {{0}};
    cr_assert_eq(gpu->tensor_alloc(gpu, &t, &err), 0, "%s", err.msg);
    cr_assert_eq(gpu->tensor_set(gpu, &t, q, dt, &err), 0, "%s", err.msg);
    return t;
}

// The reference of a quantized tensor's dequantized values after tensor_set from src
// (F32, or x converted to BF16 / F16 first, as the backend sees it).
static float *set_reference(is_dtype dt, const float *x, int64_t rows, int64_t cols) {
    uint8_t *q = host_quantize(dt, x, rows, cols);
    float *y = host_dequantize(dt, q, rows, cols);
    free(q);
    return y;
}

Test(cuda, quant_tensor_set_get_round_trip) {
    NEED_GPU();
    is_err err = {{0}};
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        int64_t rows = 7, cols = qcols(dt, 96, 77);
        size_t n = (size_t)(rows * cols);
        float *h = rand_host(n, 3.0f);
        h[0] = 0.0f, h[5] = 2.9999f, h[6] = -2.9999f; // a tie of the largest |x|, of either sign
        for (int64_t k = 0; k < cols; k++) h[cols + k] = 0.0f; // a row of zeros: scale 0
        const char *name = is_dtype_name(dt);
        // F32 source: quantized on the host by the reference quantizer
        float *ref = set_reference(dt, h, rows, cols);
        is_tensor t = upload(gpu, dt, rows, cols, h);
        float *got = download(gpu, &t, rows);
        assert_same(got, ref, n, name);
        free(got);
        got = download(gpu, &t, 3); // the first rows only
        assert_same(got, ref, (size_t)(3 * cols), name);
        free(got);
        // BF16 and F16 sources: the reference quantizes the values as converted
        for (int s = 0; s < 2; s++) {
            is_dtype st = s ? IS_DTYPE_F16 : IS_DTYPE_BF16;
            uint16_t *h16 = malloc(n * sizeof *h16);
            float *back = malloc(n * sizeof *back);
            is_dtype_convert(h16, st, h, IS_DTYPE_F32, n);
            is_dtype_convert(back, IS_DTYPE_F32, h16, st, n);
            float *ref16 = set_reference(dt, back, rows, cols);
            cr_assert_eq(gpu->tensor_set(gpu, &t, h16, st, &err), 0, "%s", err.msg);
            got = download(gpu, &t, rows);
            assert_same(got, ref16, n, s ? "from F16" : "from BF16");
            free(got);
            free(ref16);
            free(back);
            free(h16);
        }
        // its own dtype: the bytes as they are, through tensor_set and tensor_wrap
        uint8_t *q = host_quantize(dt, h, rows, cols);
        cr_assert_eq(gpu->tensor_set(gpu, &t, q, dt, &err), 0, "%s", err.msg);
        got = download(gpu, &t, rows);
        assert_same(got, ref, n, "raw copy");
        free(got);
        is_tensor wr = {.dtype = dt, .rows = rows, .cols = cols};
        cr_assert_eq(gpu->tensor_wrap(gpu, &wr, q, &err), 0, "%s", err.msg);
        got = download(gpu, &wr, rows);
        assert_same(got, ref, n, "tensor_wrap");
        free(got);
        // plain tensors from quantized bytes: dequantized (F32), then rounded (BF16)
        for (int p = 0; p < 2; p++) {
            is_tensor f = {.dtype = p ? IS_DTYPE_BF16 : IS_DTYPE_F32, .rows = rows, .cols = cols};
            cr_assert_eq(gpu->tensor_alloc(gpu, &f, &err), 0, "%s", err.msg);
            cr_assert_eq(gpu->tensor_set(gpu, &f, q, dt, &err), 0, "%s", err.msg);
            float *want = p ? bf16_rounded(ref, n) : NULL;
            got = download(gpu, &f, rows);
            assert_same(got, p ? want : ref, n, p ? "BF16 tensor from quantized bytes" : "F32 tensor from quantized bytes");
            free(got);
            free(want);
            gpu->tensor_free(gpu, &f);
        }
        gpu->tensor_free(gpu, &wr);
        gpu->tensor_free(gpu, &t);
        free(q);
        free(ref);
        free(h);
    }
    // rows that are not whole blocks are refused, naming the format, the shape and the block
    is_tensor bad = {.dtype = IS_DTYPE_Q4_0, .rows = 4, .cols = 48};
    cr_assert_neq(gpu->tensor_alloc(gpu, &bad, &err), 0);
    cr_assert(strstr(err.msg, "Q4_0") && strstr(err.msg, "4 x 48") && strstr(err.msg, "32"), "message: %s", err.msg);
}

// fill_normal of a quantized tensor is the BF16 fill of the same shape quantized row by
// row, bit for bit: the device's BF16 fill is downloaded and quantized by base/quant.c.
// (Many BF16 values tie, so blocks whose largest |x| appears twice, of either sign, are
// common among the 8192 blocks.) Then constant fills through the edge cases of the
// quantizer: zeros of both signs, subnormals, a scale that overflows F16, inf, NaN.
Test(cuda, quant_fill_is_the_bf16_fill_quantized) {
    NEED_GPU();
    is_err err = {{0}};
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        int64_t rows = 64, cols = qcols(dt, 4096, 1001);
        size_t n = (size_t)(rows * cols);
        is_tensor b16 = upload(gpu, IS_DTYPE_BF16, rows, cols, NULL);
        gpu->tensor_fill_normal(gpu, &b16, 7, 99, 0.02f);
        float *v = download(gpu, &b16, rows);
        float *ref = set_reference(dt, v, rows, cols);
        is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
        cr_assert_eq(gpu->tensor_alloc(gpu, &t, &err), 0, "%s", err.msg);
        gpu->tensor_fill_normal(gpu, &t, 7, 99, 0.02f);
        float *got = download(gpu, &t, rows);
        assert_same(got, ref, n, is_dtype_name(dt));
        free(got);
        free(ref);
        free(v);
        gpu->tensor_free(gpu, &b16);
        gpu->tensor_free(gpu, &t);
        const float consts[] = {0.0f, -0.0f, 1.0f, -3.25f, 0.02f, 1e-40f, -3e-39f, -7e5f, 1e7f, 3e38f, INFINITY, NAN};
        int64_t crow = 3;
        is_tensor c = {.dtype = dt, .rows = crow, .cols = cols};
        cr_assert_eq(gpu->tensor_alloc(gpu, &c, &err), 0, "%s", err.msg);
        float *row = malloc((size_t)(crow * cols) * sizeof *row);
        for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
            float bv = is_bf16_to_f32(is_f32_to_bf16(consts[i])); // the value the BF16 fill would hold
            for (int64_t k = 0; k < crow * cols; k++) row[k] = bv;
            float *cref = set_reference(dt, row, crow, cols);
            gpu->tensor_fill_const(gpu, &c, consts[i]);
            got = download(gpu, &c, crow);
            char what[64];
            snprintf(what, sizeof what, "%s fill_const(%g)", is_dtype_name(dt), (double)consts[i]);
            assert_same(got, cref, (size_t)(crow * cols), what);
            free(got);
            free(cref);
        }
        free(row);
        gpu->tensor_free(gpu, &c);
    }
}

// Counts the elements of got equal to ref (same_f32) and asserts that every other one
// lies within 2 quantization steps of ref (a step: the largest |ref| of its block, or
// of its row for INT8, over 127; over 7 for Q4_0).
static size_t quant_close(is_dtype dt, const float *got, const float *ref, int64_t rows, int64_t cols,
                          const char *what) {
    size_t same = 0;
    int64_t blk = dt == IS_DTYPE_I8 ? cols : 32;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t b0 = 0; b0 < cols; b0 += blk) {
            const float *g = got + r * cols + b0, *f = ref + r * cols + b0;
            float amax = 0;
            for (int64_t k = 0; k < blk; k++) amax = fmaxf(amax, fabsf(f[k]));
            float step = amax / (dt == IS_DTYPE_Q4_0 ? 7.0f : 127.0f);
            for (int64_t k = 0; k < blk; k++) {
                if (same_f32(g[k], f[k])) {
                    same++;
                    continue;
                }
                cr_assert_leq(fabsf(g[k] - f[k]), 2.05f * step + 1e-30f, "%s: row %lld column %lld: %g against %g",
                              what, (long long)r, (long long)(b0 + k), (double)g[k], (double)f[k]);
            }
        }
    return same;
}

// The quantized preset fill against the host's generator quantized on the host, and
// against the CPU backend's fill of the same tensor. The device's logf / cosf may
// differ by an ulp from the host's, rarely enough to cross a BF16 rounding (the BF16
// fill test above allows 1 element in 1000): an element differing there changes its
// own q, or its whole block when it is the block's largest. So: at least 99% of the
// elements identical, the others within 2 quantization steps. The count is logged:
// a first GPU run shows whether they are in fact all identical.
Test(cuda, quant_fill_matches_host_generator_and_cpu) {
    NEED_GPU();
    is_err err = {{0}};
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        int64_t rows = 48, cols = qcols(dt, 2048, 1001);
        size_t n = (size_t)(rows * cols);
        uint64_t stream = is_rng_stream("model.layers.0.mlp.down_proj.weight");
        float *v = malloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++) v[i] = is_bf16_to_f32(is_f32_to_bf16(0.02f * is_rng_normal(5, stream, i)));
        float *ref = set_reference(dt, v, rows, cols);
        is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
        cr_assert_eq(gpu->tensor_alloc(gpu, &t, &err), 0, "%s", err.msg);
        gpu->tensor_fill_normal(gpu, &t, 5, stream, 0.02f);
        float *got = download(gpu, &t, rows);
        size_t same = quant_close(dt, got, ref, rows, cols, is_dtype_name(dt));
        cr_log_info("%s fill: %zu of %zu elements identical to the host generator's", is_dtype_name(dt), same, n);
        cr_assert_geq(same, n - n / 100, "%s: %zu of %zu elements identical to the host generator's",
                      is_dtype_name(dt), same, n);
        // the CPU backend's fill of the same tensor
        is_tensor c = {.dtype = dt, .rows = rows, .cols = cols};
        cr_assert_eq(cpu->tensor_alloc(cpu, &c, &err), 0, "%s", err.msg);
        cpu->tensor_fill_normal(cpu, &c, 5, stream, 0.02f);
        float *cv = download(cpu, &c, rows);
        same = quant_close(dt, got, cv, rows, cols, "against the CPU backend");
        cr_log_info("%s fill: %zu of %zu elements identical to the CPU backend's", is_dtype_name(dt), same, n);
        cr_assert_geq(same, n - n / 100, "%s: %zu of %zu elements identical to the CPU backend's", is_dtype_name(dt),
                      same, n);
        cpu->tensor_free(cpu, &c);
        gpu->tensor_free(gpu, &t);
        free(cv);
        free(got);
        free(ref);
        free(v);
    }
}

Test(cuda, quant_embed_dequantizes_rows) {
    NEED_GPU();
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        int64_t rows = 9, cols = qcols(dt, 576, 577);
        float *h = rand_host((size_t)(rows * cols), 2.0f);
        uint8_t *q = host_quantize(dt, h, rows, cols);
        float *ref = host_dequantize(dt, q, rows, cols);
        is_tensor tab = upload_raw(dt, rows, cols, q), o = upload(gpu, IS_DTYPE_F32, 8, cols, NULL);
        int32_t ids[7] = {0, 8, 3, 3, 5, 1, 7};
        gpu->embed(gpu, &o, &tab, ids, 7);
        float *got = download(gpu, &o, 8);
        for (int i = 0; i < 7; i++) assert_same(got + i * cols, ref + ids[i] * cols, (size_t)cols, "embed row");
        for (int64_t k = 0; k < cols; k++) cr_assert(isnan(got[7 * cols + k]), "row 7 past n stays poisoned");
        gpu->tensor_free(gpu, &tab);
        gpu->tensor_free(gpu, &o);
        free(got);
        free(ref);
        free(q);
        free(h);
    }
}

// x [n, K] . dequant(w)^T (+ bias) in float64 over the operands the device multiplies:
// the GEMV (n <= IS_CUDA_GEMV_MAX_N, or every row under batch_invariant) F32 x and the
// dequantized weights; the cuBLAS path x rounded to BF16 and, for Q8_0 and Q4_0, the
// dequantized weights rounded to BF16 (INT8's q are exact in BF16 and its scale is
// applied after the product). malloc'd [n, M].
static float *quant_reference(is_dtype dt, const float *x, const float *wd, const float *bias, int n, int K, int M,
                              bool gemv) {
    size_t nx = (size_t)n * K, nw = (size_t)M * K;
    float *xr = gemv ? NULL : bf16_rounded(x, nx);
    float *wr = gemv || dt == IS_DTYPE_I8 ? NULL : bf16_rounded(wd, nw);
    const float *xa = xr ? xr : x, *wa = wr ? wr : wd;
    float *out = malloc((size_t)n * M * sizeof *out);
    for (int j = 0; j < n; j++)
        for (int m = 0; m < M; m++) {
            double s = bias ? bias[m] : 0.0;
            const float *xj = xa + (size_t)j * K, *wm = wa + (size_t)m * K;
            for (int k = 0; k < K; k++) s += (double)xj[k] * (double)wm[k];
            out[(size_t)j * M + m] = (float)s;
        }
    free(xr);
    free(wr);
    return out;
}

// The GEMV at n <= 8 sees F32 x and the exact dequantized weights: only fp32 summation
// order differs (IS_CHECK_MATMUL_F32). Above 8 rows the activations and (Q8_0, Q4_0)
// the weights are rounded to BF16 for cuBLAS, and the reference rounds them the same:
// again only summation order (IS_CHECK_MATMUL_BF16). Row n (past the rows asked for)
// must stay poisoned.
static void quant_matmul_case(is_dtype dt, int n, int K, int M, bool with_bias) {
    float *hx = rand_host((size_t)(n + 1) * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f);
    float *hb = rand_host((size_t)M, 1.0f);
    uint8_t *q = host_quantize(dt, hw, M, K);
    float *wd = host_dequantize(dt, q, M, K);
    is_tensor w = upload_raw(dt, M, K, q), x = upload(gpu, IS_DTYPE_F32, n + 1, K, hx);
    is_tensor b = upload(gpu, IS_DTYPE_F32, 1, M, hb), o = upload(gpu, IS_DTYPE_F32, n + 1, M, NULL);
    gpu->matmul(gpu, &o, &x, &w, with_bias ? &b : NULL, n);
    float *got = download(gpu, &o, n + 1);
    bool gemv = n <= IS_CUDA_GEMV_MAX_N || gpu->batch_invariant;
    float *ref = quant_reference(dt, hx, wd, with_bias ? hb : NULL, n, K, M, gemv);
    double e = is_nmse(got, ref, (size_t)n * M), tol = gemv ? TOL(MATMUL_F32) : TOL(MATMUL_BF16);
    cr_assert_leq(e, tol, "%s matmul n=%d K=%d M=%d bias %d (%s): nmse %g", is_dtype_name(dt), n, K, M, with_bias,
                  gemv ? "gemv" : "dequantized BF16 + cuBLAS", e);
    for (int m = 0; m < M; m++) cr_assert(isnan(got[(size_t)n * M + m]), "row %d past n stays poisoned", n);
    is_tensor *all[] = {&w, &x, &b, &o};
    for (int i = 0; i < 4; i++) gpu->tensor_free(gpu, all[i]);
    free(got);
    free(ref);
    free(wd);
    free(q);
    free(hx);
    free(hw);
    free(hb);
}

// Shapes: K a multiple of 256 (every row 16-byte aligned) or not (rows at 2-byte
// boundaries, head and tail bytes staged one by one), K past one 512-column tile with a
// short last tile, M not a multiple of the rows per block, a short and wide matrix that
// takes split-K (checked on this device), a wider one; INT8 also at odd K.
Test(cuda, quant_matmul_matches_float64_reference) {
    NEED_GPU();
    const int shapes[][2] = {{64, 64}, {800, 333}, {4096, 200}, {1056, 129}, {2048, 1000}, {77, 130}, {1001, 77}};
    const int ns[] = {1, 4, 8, 33, 300};
    int sms = device_sms(), n_split = 0;
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < 7; s++) {
            int K = shapes[s][0], M = shapes[s][1];
            if (K % 32 && qdts[d] != IS_DTYPE_I8) continue;
            is_cuda_gemv_plan p;
            is_cuda_plan_qgemv(&p, M, K, IS_CUDA_GEMV_MAX_N, sms, IS_CUDA_QGEMV_KT);
            n_split += p.split > 1;
            for (int i = 0; i < 5; i++) quant_matmul_case(qdts[d], ns[i], K, M, (i + s) % 2);
        }
    cr_assert_geq(n_split, 1, "at least one shape took split-K on %d SMs", sms);
}

// Batch-invariant mode: each row of a 37-row matmul is bitwise the row computed alone,
// for every format (the GEMV in groups of 8 rows, planned for a full group).
Test(cuda, quant_batch_invariant_rows_equal_alone) {
    NEED_GPU();
    gpu->batch_invariant = true;
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        const int n = 37, K = (int)qcols(dt, 800, 1001), M = 333;
        float *hx = rand_host((size_t)n * K, 1.0f), *hw = rand_host((size_t)M * K, 0.1f), *hb = rand_host(M, 1.0f);
        uint8_t *q = host_quantize(dt, hw, M, K);
        is_tensor x = upload(gpu, IS_DTYPE_F32, n, K, hx), w = upload_raw(dt, M, K, q);
        is_tensor b = upload(gpu, IS_DTYPE_F32, 1, M, hb), o = upload(gpu, IS_DTYPE_F32, n, M, NULL);
        gpu->matmul(gpu, &o, &x, &w, &b, n);
        float *all = download(gpu, &o, n);
        float *wd = host_dequantize(dt, q, M, K), *ref = quant_reference(dt, hx, wd, hb, n, K, M, true);
        double e = is_nmse(all, ref, (size_t)n * M);
        cr_assert_leq(e, TOL(MATMUL_F32), "%s batch-invariant matmul: nmse %g", is_dtype_name(dt), e);
        for (int r = 0; r < n; r += 6) {
            is_tensor x1 = upload(gpu, IS_DTYPE_F32, 1, K, hx + (size_t)r * K), o1 = upload(gpu, IS_DTYPE_F32, 1, M, NULL);
            gpu->matmul(gpu, &o1, &x1, &w, &b, 1);
            float *one = download(gpu, &o1, 1);
            cr_assert(!memcmp(one, all + (size_t)r * M, (size_t)M * sizeof(float)),
                      "%s weights: row %d of %d differs from the row alone", is_dtype_name(dt), r, n);
            free(one);
            gpu->tensor_free(gpu, &x1);
            gpu->tensor_free(gpu, &o1);
        }
        is_tensor *ts[] = {&x, &w, &b, &o};
        for (int i = 0; i < 4; i++) gpu->tensor_free(gpu, ts[i]);
        free(all);
        free(wd);
        free(ref);
        free(q);
        free(hx);
        free(hw);
        free(hb);
    }
    gpu->batch_invariant = false;
}

// A quantized preset against an F32 model on the device whose matrices hold the
// quantized model's dequantized weights (downloaded, uploaded as F32): a prompt of 40
// tokens (the cuBLAS path: BF16 activations and, Q8_0 / Q4_0, BF16-rounded weights)
// and greedy steps (the GEMV: F32 activations, exact weights), by the BF16 forward
// check; the argmax must agree wherever the F32 model's top-2 gap exceeds 0.05.
Test(cuda, quant_forward_matches_f32_of_dequantized_weights) {
    NEED_GPU();
    is_err err = {{0}};
    for (int d = 0; d < 3; d++) {
        is_dtype dt = qdts[d];
        is_model *mq = tu_model(gpu, "preset:tiny", dt, 5), *mf = tu_model(gpu, "preset:tiny", IS_DTYPE_F32, 5);
        is_weight_ref *rq, *rf;
        int nq = is_model_weight_refs(mq, &rq), nf = is_model_weight_refs(mf, &rf);
        cr_assert_eq(nq, nf);
        for (int i = 0; i < nq; i++) {
            if (rq[i].kind != IS_WKIND_MATRIX) continue;
            cr_assert_eq(rq[i].t->dtype, dt, "%s held in %s", rq[i].name, is_dtype_name(dt));
            float *v = download(gpu, rq[i].t, rq[i].t->rows);
            cr_assert_eq(gpu->tensor_set(gpu, rf[i].t, v, IS_DTYPE_F32, &err), 0, "%s", err.msg);
            free(v);
        }
        free(rq);
        free(rf);
        is_session *sq = open_session(mq), *sf = open_session(mf);
        int V = mq->cfg.vocab_size, plen = 40;
        float *lq = malloc((size_t)V * sizeof *lq), *lf = malloc((size_t)V * sizeof *lf);
        int32_t prompt[40], seqv[40];
        bool want[40] = {false};
        int qq = is_seq_new(sq, &err), qf = is_seq_new(sf, &err);
        cr_assert(qq >= 0 && qf >= 0, "%s", err.msg);
        for (int i = 0; i < plen; i++) prompt[i] = (int32_t)((unsigned)(i * 7919 + 13) % (unsigned)V);
        want[plen - 1] = true;
        for (int i = 0; i < plen; i++) seqv[i] = qq;
        cr_assert_eq(is_forward(sq, plen, prompt, seqv, want, lq, &err), 0, "%s", err.msg);
        for (int i = 0; i < plen; i++) seqv[i] = qf;
        cr_assert_eq(is_forward(sf, plen, prompt, seqv, want, lf, &err), 0, "%s", err.msg);
        int checked = 0;
        for (int step = 0;; step++) {
            double e = is_nmse(lq, lf, (size_t)V);
            cr_assert_leq(e, TOL(FORWARD_BF16), "%s step %d: logits nmse %g", is_dtype_name(dt), step, e);
            int32_t tf = is_argmax(lf, V), tq = is_argmax(lq, V);
            float top2 = -INFINITY;
            for (int i = 0; i < V; i++)
                if (i != tf && lf[i] > top2) top2 = lf[i];
            if (lf[tf] - top2 > 0.05f) {
                cr_assert_eq(tq, tf, "%s step %d: %d against the F32 model's %d", is_dtype_name(dt), step, tq, tf);
                checked++;
            }
            if (step == 8) break;
            bool w1 = true;
            int32_t s1 = qq;
            cr_assert_eq(is_forward(sq, 1, &tf, &s1, &w1, lq, &err), 0, "%s", err.msg);
            s1 = qf;
            cr_assert_eq(is_forward(sf, 1, &tf, &s1, &w1, lf, &err), 0, "%s", err.msg);
        }
        cr_log_info("%s forward: %d of 9 steps had a clear top-2 gap", is_dtype_name(dt), checked);
        free(lq);
        free(lf);
        is_session_free(sq);
        is_session_free(sf);
        is_model_free(mq);
        is_model_free(mf);
    }
}

// Quantized weights under graph record and replay (the GEMV's split-K workspace and the
// dequantization scratch reserved before any recording) give the eager tokens.
Test(cuda, quant_graph_replay_equals_eager_launches) {
    NEED_GPU();
    enum { N = 24 };
    for (int d = 0; d < 3; d++) {
        is_model *m = tu_model(gpu, "preset:tiny", qdts[d], 3);
        int32_t eager[3 * N], graphed[3 * N];
        gpu->graphs = false;
        greedy_tokens(m, N, eager);
        long rec, rep;
        greedy_graphed(m, N, graphed, &rec, &rep);
        cr_assert_gt(rec, 0, "%s: decode steps were recorded as graphs", is_dtype_name(qdts[d]));
        cr_assert_gt(rep, 0, "%s: and replayed", is_dtype_name(qdts[d]));
        same_tokens(graphed, eager, 3 * N, is_dtype_name(qdts[d]));
        is_model_free(m);
    }
}
