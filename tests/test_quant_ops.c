// test_quant_ops.c — the CPU backend with quantized weights (Q8_0, Q4_0, INT8): tensor
// memory and fills, embed, and matmul on every path (GEMV, our packed GEMM, OpenBLAS,
// batch-invariant mode) against float64 references, bitwise across thread counts.
//
// A matmul output is checked twice: (a) against x . deq(w) in float64, where deq is
// is_dequantize_row's (what the weights are), within the rounding of F32 accumulation;
// (b) against x . W in float64, W the F32 weights before quantizing, within the error
// the format allows each weight. Outputs are poisoned with NaN first, so an element
// an op fails to write fails the check.
#include <criterion/criterion.h>

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant.h"               // defines: is_quantize_row, is_dequantize_row, is_block_q8_0
#include "kernels/backend.h"          // defines: is_backend, is_tensor, is_cpu_backend_create
#include "kernels/cpu/cpu_internal.h" // defines: cpu_matmul_with, cpu_dequant_range, cpu_f16_table
#include "kernels/ref.h"              // defines: is_ref_dot
#include "support/testutil.h" // defines: tu_next, tu_unif

#define EPS32 (1.0 / 16777216.0) // 2^-24: unit roundoff of F32

static const is_dtype QDT[3] = {IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};

// ---- helpers -----------------------------------------------------------------------


static is_backend *t_backend(int n_threads) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(n_threads, &err);
    cr_assert_not_null(be, "is_cpu_backend_create(%d): %s", n_threads, err.msg);
    return be;
}

static is_tensor t_tensor(is_backend *be, is_dtype dt, int64_t rows, int64_t cols) {
    is_tensor t = {.dtype = dt, .rows = rows, .cols = cols};
    is_err err = {{0}};
    cr_assert_eq(be->tensor_alloc(be, &t, &err), 0, "tensor_alloc %s %lld x %lld: %s", is_dtype_name(dt),
                 (long long)rows, (long long)cols, err.msg);
    return t;
}

// rows x cols F32 values uniform in [-scale, scale): every 7th block of 32 scaled by 1e-3,
// every 11th with one outlier 20x the rest, every 13th all zero, so the scales of a row
// differ (caller frees).
static float *t_values(int64_t rows, int64_t cols, float scale, uint64_t *seed) {
    float *v = malloc((size_t)(rows * cols + 1) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++) {
        int64_t k = i % cols, b = k / 32 + i / cols;
        float x = scale * tu_unif(seed);
        if (b % 7 == 3) x *= 1e-3f;
        if (b % 11 == 5 && k % 32 == 9) x *= 20.0f;
        if (b % 13 == 6) x = 0.0f;
        v[i] = x;
    }
    return v;
}

static is_tensor t_from(is_backend *be, is_dtype dt, int64_t rows, int64_t cols, const float *v) {
    is_tensor t = t_tensor(be, dt, rows, cols);
    is_err err = {{0}};
    cr_assert_eq(be->tensor_set(be, &t, v, IS_DTYPE_F32, &err), 0, "%s", err.msg);
    return t;
}

static float *t_get(is_backend *be, const is_tensor *t) {
    float *h = malloc((size_t)(t->rows * t->cols + 1) * sizeof(float));
    is_err err = {{0}};
    cr_assert_eq(be->tensor_get_f32(be, t, t->rows, h, &err), 0, "%s", err.msg);
    return h;
}

// The reference quantization of rows x cols values: is_quantize_row row by row.
static unsigned char *t_quantize(is_dtype dt, const float *v, int64_t rows, int64_t cols) {
    size_t rb = is_dtype_row_bytes(dt, cols);
    unsigned char *q = malloc(rows * rb + 1);
    for (int64_t r = 0; r < rows && rb > 0; r++) is_quantize_row(dt, v + r * cols, q + r * rb, cols);
    return q;
}

// Bound on |W - deq(W)| for weight k of row w (cols K, quantized bytes qrow), from the
// format (base/quant.h; the derivations are those of tests/test_quant.c):
// - Q8_0: d = amax / 127 of the block, q the nearest step: |W - d q| <= d (1/2 + 2^-16);
//   the stored d16 adds |d - d16| |q| <= 127 |d - d16|.
// - Q4_0: |d| = amax / 8, at most one step |d| off (half a step but for the clamp at 15 of
//   an element of the other sign than the largest); d16 adds 8 |d - d16|.
// - INT8: s = amax / 127 of the row: s (1/2 + 2^-16), and dequantizing rounds s q once
//   (127 s 2^-24).
static double t_weight_bound(is_dtype dt, const float *w, int64_t K, const unsigned char *qrow, int64_t k) {
    int64_t b0 = dt == IS_DTYPE_I8 ? 0 : k / 32 * 32, b1 = dt == IS_DTYPE_I8 ? K : b0 + 32;
    float amax = 0.0f, m = 0.0f;
    for (int64_t i = b0; i < b1; i++)
        if (fabsf(w[i]) > amax) {
            amax = fabsf(w[i]);
            m = w[i];
        }
    if (dt == IS_DTYPE_I8) return amax / 127.0f * (0.5 + ldexp(1.0, -16)) + 127.0 * (amax / 127.0f) * EPS32;
    uint16_t h;
    memcpy(&h, qrow + (size_t)(k / 32) * (dt == IS_DTYPE_Q8_0 ? 34 : 18), 2);
    double d16 = is_f16_to_f32(h);
    if (dt == IS_DTYPE_Q8_0) {
        double d = amax / 127.0f;
        return d * (0.5 + ldexp(1.0, -16)) + 127.0 * fabs(d - d16);
    }
    double d = m / -8.0f;
    return fabs(d) * (1.0 + ldexp(1.0, -18)) + 8.0 * fabs(d - d16);
}

// The longest chain of F32 roundings an output element goes through on path p (what
// the bound of a float64 comparison scales with). The GEMV sums a block's 32 products
// in a few lanes (a chain of at most 8), adds blocks into an 8- or 16-lane accumulator
// (K / 32), then the lanes (4) and the bias; INT8 adds 4 products per 32 columns into
// the accumulator directly (K / 8) and its last K % 32 columns one by one. The GEMM and
// sgemm add the K products of an element one after another in the worst case.
static double t_chain(cpu_matmul_path p, bool invariant, int n, int64_t K) {
    bool gemv = p == CPU_MATMUL_GEMV || (p == CPU_MATMUL_AUTO && (invariant || n < CPU_MATMUL_GEMV_N));
    return gemv ? (double)K / 8.0 + 48.0 : (double)K + 8.0;
}

typedef struct t_case {
    cpu_matmul_path path;
    bool invariant; // be->batch_invariant during the call
    is_dtype dt;
    int n;
    int64_t M, K;
    bool bias;
    uint64_t seed;
} t_case;

// Runs one matmul case, checks (a) and (b), and returns the output (n x M, caller frees).
static float *t_matmul_case(is_backend *be, const t_case *c) {
    uint64_t seed = c->seed;
    int n = c->n;
    int64_t M = c->M, K = c->K;
    float *hx = t_values(n + 2, K, 1.0f, &seed), *hw = t_values(M, K, 0.5f, &seed), *hb = t_values(1, M, 1.0f, &seed);
    is_tensor x = t_from(be, IS_DTYPE_F32, n + 2, K, hx);
    is_tensor w = t_from(be, c->dt, M, K, hw);
    is_tensor b = t_from(be, IS_DTYPE_F32, 1, M, hb);
    // the weights the backend holds are the reference quantizer's bytes
    unsigned char *qref = t_quantize(c->dt, hw, M, K);
    size_t rb = is_dtype_row_bytes(c->dt, K);
    cr_assert_eq(memcmp(w.data, qref, M * rb), 0, "%s %lld x %lld: tensor_set bytes", is_dtype_name(c->dt),
                 (long long)M, (long long)K);
    float *deq = t_get(be, &w);
    is_tensor out = t_tensor(be, IS_DTYPE_F32, n + 3, M); // spare rows must stay poisoned
    be->tensor_fill_const(be, &out, NAN);
    bool inv = be->batch_invariant;
    be->batch_invariant = c->invariant;
    cpu_matmul_with(be, c->path, &out, &x, &w, c->bias ? &b : NULL, n);
    be->batch_invariant = inv;
    float *ho = t_get(be, &out);
    double chain = t_chain(c->path, c->invariant, n, K);
    double *wb = malloc((size_t)(M * K + 1) * sizeof(double)); // t_weight_bound of every weight
    for (int64_t j = 0; j < M; j++)
        for (int64_t k = 0; k < K; k++) wb[j * K + k] = t_weight_bound(c->dt, hw + j * K, K, qref + j * rb, k);
    for (int i = 0; i < n; i++) {
        for (int64_t j = 0; j < M; j++) {
            double bias = c->bias ? hb[j] : 0.0, mag, mag_w;
            // (a) F32 accumulation: each of the chain's roundings errs by at most 2^-24 of a
            // partial sum, itself at most sum |x_k deq_k| (+ |bias|): error <= chain *
            // 2^-24 * mag to first order. INT8's scale applied at the end is one more
            // rounding, inside the chain's margin. Factor 2 for the second-order terms.
            double ref = is_ref_dot(IS_REF_F32, hx + i * K, deq + j * K, K, bias, &mag);
            double tol = 2.0 * chain * EPS32 * mag + 1e-30;
            float got = ho[i * M + j];
            cr_assert(fabs(got - ref) <= tol,
                      "(a) %s path %d%s n=%d M=%lld K=%lld bias=%d: out[%d][%lld] = %.9g, x.deq(w) %.9g (tol %.3g)",
                      is_dtype_name(c->dt), c->path, c->invariant ? " invariant" : "", n, (long long)M, (long long)K,
                      c->bias, i, (long long)j, got, ref, tol);
            // (b) against the weights before quantizing: |x . (deq - W)| <= sum_k |x_k|
            // * bound(W_k) (t_weight_bound), plus (a)'s tolerance
            double ref_w = is_ref_dot(IS_REF_F32, hx + i * K, hw + j * K, K, bias, &mag_w), qb = 0.0;
            for (int64_t k = 0; k < K; k++) qb += fabs(hx[i * K + k]) * wb[j * K + k];
            cr_assert(fabs(got - ref_w) <= qb + tol,
                      "(b) %s path %d n=%d M=%lld K=%lld: out[%d][%lld] = %.9g, x.W %.9g (bound %.3g)",
                      is_dtype_name(c->dt), c->path, n, (long long)M, (long long)K, i, (long long)j, got, ref_w,
                      qb + tol);
        }
    }
    for (int64_t i = (int64_t)n * M; i < out.rows * M; i++)
        cr_assert(isnan(ho[i]), "matmul wrote element %lld beyond row %d", (long long)i, n);
    be->tensor_free(be, &x);
    be->tensor_free(be, &w);
    be->tensor_free(be, &b);
    be->tensor_free(be, &out);
    free(hx);
    free(hw);
    free(hb);
    free(qref);
    free(deq);
    free(wb);
    return ho;
}

// ---- memory and fills ----------------------------------------------------------------

Test(quant_memory, alloc_refuses_partial_blocks) {
    is_backend *be = t_backend(2);
    const int64_t bad[3] = {33, 48, 1};
    for (int d = 0; d < 2; d++)
        for (int i = 0; i < 3; i++) {
            is_err err = {{0}};
            is_tensor t = {.dtype = QDT[d], .rows = 4, .cols = bad[i]};
            cr_assert_eq(be->tensor_alloc(be, &t, &err), -1, "%s x %lld", is_dtype_name(QDT[d]), (long long)bad[i]);
            cr_assert_null(t.data);
            char cols[32];
            snprintf(cols, sizeof cols, "%lld", (long long)bad[i]);
            cr_assert(strstr(err.msg, is_dtype_name(QDT[d])) && strstr(err.msg, cols) && strstr(err.msg, "32") &&
                          strstr(err.msg, "4 x"),
                      "the message names the dtype, the shape and the block: %s", err.msg);
        }
    // INT8 has no blocks: any width; a quantized tensor takes rows * row bytes
    is_tensor t = t_tensor(be, IS_DTYPE_I8, 3, 33);
    is_tensor q = t_tensor(be, IS_DTYPE_Q4_0, 3, 64);
    memset(t.data, 1, 3 * 37); // the whole of both: valgrind/ASan would see an overrun
    memset(q.data, 1, 3 * 36);
    be->tensor_free(be, &t);
    be->tensor_free(be, &q);
    // a size that overflows is an error, not a wrap-around
    is_err err = {{0}};
    is_tensor big = {.dtype = IS_DTYPE_Q8_0, .rows = (int64_t)1 << 58, .cols = 1 << 10};
    cr_assert_eq(be->tensor_alloc(be, &big, &err), -1);
    cr_assert(strstr(err.msg, "cannot allocate"), "message: %s", err.msg);
    be->destroy(be);
}

// tensor_set from F32, BF16, F16 (converted to F32, then is_quantize_row per row), from
// the tensor's own dtype (copied), tensor_get_f32 (is_dequantize_row per row), wrap.
Test(quant_memory, set_get_wrap_round_trip) {
    is_backend *be1 = t_backend(1), *be2 = t_backend(2);
    uint64_t seed = 77;
    const int64_t R = 300, Cs[3] = {32 * 7, 32 * 5, 131}; // R * C above CPU_PAR_MIN: parallel rows
    for (int d = 0; d < 3; d++) {
        is_dtype dt = QDT[d];
        int64_t C = Cs[d];
        size_t rb = is_dtype_row_bytes(dt, C);
        float *v = t_values(R, C, 2.0f, &seed);
        unsigned char *qref = t_quantize(dt, v, R, C);
        is_tensor a = t_from(be1, dt, R, C, v), b = t_from(be2, dt, R, C, v);
        cr_assert_eq(memcmp(a.data, qref, R * rb), 0, "%s: 1 thread = is_quantize_row", is_dtype_name(dt));
        cr_assert_eq(memcmp(b.data, qref, R * rb), 0, "%s: 2 threads = is_quantize_row", is_dtype_name(dt));
        // get: is_dequantize_row of each row, bitwise; the first n_rows only
        float *back = calloc((size_t)(R * C), sizeof(float)), *want = malloc((size_t)C * sizeof(float));
        is_err err = {{0}};
        cr_assert_eq(be2->tensor_get_f32(be2, &b, R - 1, back, &err), 0);
        for (int64_t r = 0; r < R - 1; r++) {
            is_dequantize_row(dt, qref + r * rb, want, C);
            cr_assert_eq(memcmp(back + r * C, want, (size_t)C * sizeof(float)), 0, "%s row %lld", is_dtype_name(dt),
                         (long long)r);
        }
        for (int64_t k = (R - 1) * C; k < R * C; k++) cr_assert_eq(back[k], 0.0f, "get wrote past n_rows");
        // from BF16 and F16: each value widened, then quantized
        uint16_t *h = malloc((size_t)(R * C) * sizeof(uint16_t));
        float *w16 = malloc((size_t)(R * C) * sizeof(float));
        for (int s = 0; s < 2; s++) {
            is_dtype st = s ? IS_DTYPE_F16 : IS_DTYPE_BF16;
            for (int64_t i = 0; i < R * C; i++) {
                h[i] = s ? is_f32_to_f16(v[i]) : is_f32_to_bf16(v[i]);
                w16[i] = s ? is_f16_to_f32(h[i]) : is_bf16_to_f32(h[i]);
            }
            unsigned char *q16 = t_quantize(dt, w16, R, C);
            cr_assert_eq(be2->tensor_set(be2, &b, h, st, &err), 0);
            cr_assert_eq(memcmp(b.data, q16, R * rb), 0, "%s from %s", is_dtype_name(dt), is_dtype_name(st));
            free(q16);
        }
        // from its own dtype: the bytes as they are
        cr_assert_eq(be2->tensor_set(be2, &b, qref, dt, &err), 0);
        cr_assert_eq(memcmp(b.data, qref, R * rb), 0, "%s raw copy", is_dtype_name(dt));
        // wrap aliases, and the aliased matrix is what a matmul reads
        is_tensor wr = {.dtype = dt, .rows = R, .cols = C};
        cr_assert_eq(be2->tensor_wrap(be2, &wr, qref, &err), 0);
        cr_assert_eq(wr.data, (void *)qref);
        cr_assert(!wr.owned);
        is_tensor x = t_from(be2, IS_DTYPE_F32, 1, C, v), o1 = t_tensor(be2, IS_DTYPE_F32, 1, R),
                  o2 = t_tensor(be2, IS_DTYPE_F32, 1, R);
        be2->matmul(be2, &o1, &x, &wr, NULL, 1);
        be2->matmul(be2, &o2, &x, &a, NULL, 1);
        cr_assert_eq(memcmp(o1.data, o2.data, (size_t)R * sizeof(float)), 0);
        be2->tensor_free(be2, &wr);
        cr_assert_eq(qref[0], qref[0], "freeing a wrapped tensor leaves its memory alone");
        be2->tensor_free(be2, &x);
        be2->tensor_free(be2, &o1);
        be2->tensor_free(be2, &o2);
        be1->tensor_free(be1, &a);
        be2->tensor_free(be2, &b);
        free(v);
        free(qref);
        free(back);
        free(want);
        free(h);
        free(w16);
    }
    // a plain tensor from quantized bytes: dequantized, then rounded to its dtype
    float v[64];
    for (int k = 0; k < 64; k++) v[k] = 0.1f * (float)(k - 30);
    unsigned char q[68];
    is_quantize_row(IS_DTYPE_Q8_0, v, q, 64);
    float deq[64];
    is_dequantize_row(IS_DTYPE_Q8_0, q, deq, 64);
    is_tensor p = t_tensor(be2, IS_DTYPE_BF16, 1, 64);
    is_err err = {{0}};
    cr_assert_eq(be2->tensor_set(be2, &p, q, IS_DTYPE_Q8_0, &err), 0);
    for (int k = 0; k < 64; k++) cr_assert_eq(((uint16_t *)p.data)[k], is_f32_to_bf16(deq[k]));
    be2->tensor_free(be2, &p);
    be1->destroy(be1);
    be2->destroy(be2);
}

// A quantized preset is quantize(the BF16 preset): row r of the quantized fill is
// is_quantize_row of the values the BF16 fill gives elements r * cols ... Same bytes on
// 1, 2 and 3 threads.
Test(quant_fill, normal_is_the_bf16_fill_quantized) {
    is_backend *be[3] = {t_backend(1), t_backend(2), t_backend(3)};
    const int64_t R = 257, Cs[3] = {32 * 9, 32 * 5, 129}; // odd widths: pairs straddle rows in INT8
    for (int d = 0; d < 3; d++) {
        is_dtype dt = QDT[d];
        int64_t C = Cs[d];
        size_t rb = is_dtype_row_bytes(dt, C);
        is_tensor bf = t_tensor(be[1], IS_DTYPE_BF16, R, C);
        be[1]->tensor_fill_normal(be[1], &bf, 42, 9, 0.02f);
        float *v = t_get(be[1], &bf);
        unsigned char *want = t_quantize(dt, v, R, C);
        for (int t = 0; t < 3; t++) {
            is_tensor q = t_tensor(be[t], dt, R, C);
            be[t]->tensor_fill_normal(be[t], &q, 42, 9, 0.02f);
            cr_assert_eq(memcmp(q.data, want, R * rb), 0, "%s fill on %d threads", is_dtype_name(dt), t + 1);
            be[t]->tensor_free(be[t], &q);
        }
        // fill_const: every row the quantized row of the value
        is_tensor c = t_tensor(be[1], dt, R, C);
        be[1]->tensor_fill_const(be[1], &c, -0.75f);
        float *row = malloc((size_t)C * sizeof(float));
        for (int64_t k = 0; k < C; k++) row[k] = -0.75f;
        unsigned char *qc = t_quantize(dt, row, 1, C);
        for (int64_t r = 0; r < R; r++)
            cr_assert_eq(memcmp((unsigned char *)c.data + r * rb, qc, rb), 0, "%s const row %lld", is_dtype_name(dt),
                         (long long)r);

        free(row);
        free(qc);
        be[1]->tensor_free(be[1], &c);
        be[1]->tensor_free(be[1], &bf);
        free(v);
        free(want);
    }
    for (int t = 0; t < 3; t++) be[t]->destroy(be[t]);
}

// ---- embed and dequantization --------------------------------------------------------

Test(quant_ops, embed_dequantizes_rows) {
    is_backend *be = t_backend(2);
    uint64_t seed = 5;
    const int64_t V = 70, Ds[3] = {32 * 3, 32 * 40, 37};
    const int32_t ids[9] = {0, 69, 7, 7, 3, 20, 68, 1, 0};
    for (int d = 0; d < 3; d++) {
        int64_t D = Ds[d];
        float *v = t_values(V, D, 1.0f, &seed);
        is_tensor table = t_from(be, QDT[d], V, D, v);
        size_t rb = is_dtype_row_bytes(QDT[d], D);
        for (int n = 1; n <= 9; n += 8) { // 9 x 1280 runs parallel
            is_tensor out = t_tensor(be, IS_DTYPE_F32, n + 2, D);
            be->tensor_fill_const(be, &out, NAN);
            be->embed(be, &out, &table, ids, n);
            float *ho = t_get(be, &out), *want = malloc((size_t)D * sizeof(float));
            for (int i = 0; i < n; i++) {
                is_dequantize_row(QDT[d], (const unsigned char *)table.data + ids[i] * rb, want, D);
                cr_assert_eq(memcmp(ho + i * D, want, (size_t)D * sizeof(float)), 0, "%s embed row %d (id %d)",
                             is_dtype_name(QDT[d]), i, ids[i]);
            }
            for (int64_t k = (int64_t)n * D; k < (n + 2) * D; k++) cr_assert(isnan(ho[k]), "embed wrote past n");
            free(ho);
            free(want);
            be->tensor_free(be, &out);
        }
        be->tensor_free(be, &table);
        free(v);
    }
    be->destroy(be);
}

// cpu_dequant_range (GEMM packing, sgemm scratch, embed) is is_dequantize_row bit for bit
// on any whole-block range, with scales of every kind (subnormal, zero, huge); the F16
// table it reads is is_f16_to_f32 for all 65536 patterns.
Test(quant_ops, dequant_range_and_f16_table) {
    is_backend *be = t_backend(1); // builds the table
    for (uint32_t h = 0; h < 65536; h++) {
        float f = is_f16_to_f32((uint16_t)h);
        cr_assert_eq(memcmp(&cpu_f16_table[h], &f, 4), 0, "table[0x%04x]", h);
    }
    uint64_t seed = 9;
    enum { C = 32 * 12 };
    for (int d = 0; d < 3; d++) {
        is_dtype dt = QDT[d];
        unsigned char row[4 + 34 * 12];
        for (int rep = 0; rep < 20; rep++) {
            for (size_t i = 0; i < sizeof row; i++) row[i] = (unsigned char)tu_next(&seed); // any bytes
            if (dt == IS_DTYPE_I8) {
                float s = rep % 3 ? 1e-3f * tu_unif(&seed) : 3e38f;
                memcpy(row, &s, 4);
            }
            float want[C], got[C];
            is_dequantize_row(dt, row, want, C);
            for (int64_t k0 = 0; k0 < C; k0 += 32 * (1 + rep % 3))
                for (int64_t kn = 32; k0 + kn <= C; kn += 96) {
                    cpu_dequant_range(dt, row, k0, kn, got);
                    for (int64_t k = 0; k < kn; k++)
                        cr_assert(memcmp(&got[k], &want[k0 + k], 4) == 0 || (isnan(got[k]) && isnan(want[k0 + k])),
                                  "%s [%lld, +%lld) element %lld: %g vs %g", is_dtype_name(dt), (long long)k0,
                                  (long long)kn, (long long)k, got[k], want[k0 + k]);
                }
        }
    }
    be->destroy(be);
}

// ---- matmul ---------------------------------------------------------------------------

// Every dtype on every path, n in {1, 3, 8, 17, 64}, K a multiple of 32 but not of 256
// (the GEMM's k blocks end in a part block; INT8 also gets K not a multiple of 32), with
// and without bias.
Test(quant_matmul, every_path_against_references) {
    is_backend *be = t_backend(2);
    const int ns[5] = {1, 3, 8, 17, 64};
    const int64_t Ks[3] = {32 * 9, 32 * 21, 32 * 65}; // 288, 672, 2080
    const int64_t Ms[3] = {37, 130, 5};
    struct {
        cpu_matmul_path p;
        bool inv;
    } paths[4] = {{CPU_MATMUL_GEMV, false}, {CPU_MATMUL_GEMM_OWN, false}, {CPU_MATMUL_GEMM_BLAS, false},
                  {CPU_MATMUL_AUTO, true}};
    uint64_t seed = 1000;
    int c = 0;
    for (int d = 0; d < 3; d++)
        for (int p = 0; p < 4; p++)
            for (int ni = 0; ni < 5; ni++)
                for (int ki = 0; ki < 3; ki++) {
                    t_case tc = {.path = paths[p].p, .invariant = paths[p].inv, .dt = QDT[d], .n = ns[ni],
                                 .M = Ms[(ni + ki + p) % 3], .K = Ks[ki], .bias = (c++ & 1) != 0, .seed = seed++};
                    if (tc.K > 1000 && tc.n == 64 && tc.M > 100) tc.M = 37; // keep the float64 reference quick
                    if (QDT[d] == IS_DTYPE_I8 && ki == 1) tc.K += 13;       // INT8: a tail past the last 32
                    free(t_matmul_case(be, &tc));
                }
    be->destroy(be);
}

// The GEMV's two tile kinds (8 lanes where AVX2 is, 16 lanes else: chosen by naming the
// packed GEMM's kernel, as the GEMV does), and the packed GEMM with every micro-kernel this
// CPU runs (its portable builds too), on shapes with partial tiles and k blocks.
Test(quant_matmul, gemv_tile_kinds_and_gemm_kernels) {
    is_backend *be = t_backend(2);
    uint64_t seed = 2000;
    const int shapes[4][3] = {{1, 301, 32 * 11}, {3, 64, 32 * 70}, {15, 7, 32}, {5, 130, 32 * 9}};
    const cpu_gemm_kernel_id kinds[2] = {CPU_GEMM_AVX2, CPU_GEMM_SSE};
    int orig = cpu_impl(be)->gemm_kernel;
    for (int kd = 0; kd < 2; kd++) {
        if (!cpu_gemm_kernel_usable(kinds[kd])) continue;
        cpu_impl(be)->gemm_kernel = kinds[kd];
        for (int d = 0; d < 3; d++)
            for (int s = 0; s < 4; s++) {
                t_case tc = {CPU_MATMUL_GEMV, false, QDT[d], shapes[s][0], shapes[s][1], shapes[s][2], s & 1, seed++};
                free(t_matmul_case(be, &tc));
            }
    }
    int ran = 0;
    for (int id = 0; id < CPU_GEMM_N_KERNELS; id++) {
        if (!cpu_gemm_kernel_usable((cpu_gemm_kernel_id)id)) continue;
        cpu_impl(be)->gemm_kernel = id;
        for (int d = 0; d < 3; d++) {
            t_case tc = {CPU_MATMUL_GEMM_OWN, false, QDT[d], 13, 33, 32 * 19, d & 1, seed++};
            free(t_matmul_case(be, &tc));
            t_case tc2 = {CPU_MATMUL_GEMM_OWN, false, QDT[d], 97, 70, 32 * 8, !(d & 1), seed++};
            free(t_matmul_case(be, &tc2));
        }
        ran++;
    }
    cr_assert_geq(ran, 3);
    cpu_impl(be)->gemm_kernel = orig;
    be->destroy(be);
}

// Each output element is the same sum in the same order on 1, 2 or 3 threads.
Test(quant_matmul, thread_count_invariance) {
    is_backend *bes[3] = {t_backend(1), t_backend(2), t_backend(3)};
    const cpu_matmul_path paths[2] = {CPU_MATMUL_GEMV, CPU_MATMUL_GEMM_OWN};
    for (int d = 0; d < 3; d++)
        for (int p = 0; p < 2; p++)
            for (int n = 1; n <= 9; n += 8) {
                // M * K above CPU_PAR_MIN (the GEMV and the GEMM go parallel), M not a multiple of 4
                t_case tc = {paths[p], false, QDT[d], n, 301, 32 * 11, true, 5 + (uint64_t)d};
                float *o[3];
                for (int t = 0; t < 3; t++) o[t] = t_matmul_case(bes[t], &tc);
                for (int t = 1; t < 3; t++)
                    cr_assert_eq(memcmp(o[0], o[t], (size_t)n * 301 * sizeof(float)), 0,
                                 "%s path %d n=%d: 1 vs %d threads", is_dtype_name(QDT[d]), paths[p], n, t + 1);
                for (int t = 0; t < 3; t++) free(o[t]);
            }
    for (int t = 0; t < 3; t++) bes[t]->destroy(bes[t]);
}

// Batch-invariant mode: a row's output is the same bits alone (n = 1), at the head of a
// batch of 17 and inside a batch of 64 (so whatever tile computes it), on every path
// the mode chooses (AUTO), whatever the other rows hold.
Test(quant_matmul, batch_invariant_rows) {
    is_backend *be = t_backend(2);
    be->batch_invariant = true;
    uint64_t seed = 3000;
    const int64_t M = 67, K = 32 * 13;
    for (int d = 0; d < 3; d++) {
        float *hw = t_values(M, K, 0.5f, &seed), *hx = t_values(64, K, 1.0f, &seed);
        is_tensor w = t_from(be, QDT[d], M, K, hw);
        is_tensor x = t_from(be, IS_DTYPE_F32, 64, K, hx);
        is_tensor one = t_tensor(be, IS_DTYPE_F32, 1, K), out = t_tensor(be, IS_DTYPE_F32, 64, M),
                  o1 = t_tensor(be, IS_DTYPE_F32, 1, M);
        be->matmul(be, &out, &x, &w, NULL, 64);
        float *all64 = t_get(be, &out);
        be->matmul(be, &out, &x, &w, NULL, 17);
        float *all17 = t_get(be, &out);
        const int rows[4] = {0, 5, 16, 63};
        for (int r = 0; r < 4; r++) {
            is_err err = {{0}};
            cr_assert_eq(be->tensor_set(be, &one, hx + rows[r] * K, IS_DTYPE_F32, &err), 0);
            be->matmul(be, &o1, &one, &w, NULL, 1);
            const float *alone = o1.data;
            cr_assert_eq(memcmp(alone, all64 + rows[r] * M, (size_t)M * sizeof(float)), 0, "%s row %d: alone vs in 64",
                         is_dtype_name(QDT[d]), rows[r]);
            if (rows[r] < 17)
                cr_assert_eq(memcmp(alone, all17 + rows[r] * M, (size_t)M * sizeof(float)), 0,
                             "%s row %d: alone vs in 17", is_dtype_name(QDT[d]), rows[r]);
        }
        free(all64);
        free(all17);
        free(hw);
        free(hx);
        be->tensor_free(be, &w);
        be->tensor_free(be, &x);
        be->tensor_free(be, &one);
        be->tensor_free(be, &out);
        be->tensor_free(be, &o1);
    }
    be->destroy(be);
}

Test(quant_matmul, zero_inner_dimension_gives_bias) {
    is_backend *be = t_backend(2);
    for (int d = 0; d < 3; d++) {
        t_case tc = {CPU_MATMUL_AUTO, false, QDT[d], 3, 20, 0, true, 11};
        free(t_matmul_case(be, &tc));
        t_case tc2 = {CPU_MATMUL_GEMM_BLAS, false, QDT[d], 40, 20, 0, false, 12};
        free(t_matmul_case(be, &tc2));
    }
    be->destroy(be);
}
