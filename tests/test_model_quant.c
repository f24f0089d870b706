// test_model_quant.c — quantized models and GGUF files at the model level: a
// quantized preset is the BF16 preset quantized, its logits stay within each
// format's expected error of the BF16 model's, and a GGUF we write reads back to the
// same model (names, the q/k row layout, Llama 3's RoPE factors, biases).
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant.h"
#include "engine/gguf.h"
#include "engine/model_internal.h" // defines: model_gguf_permute_rows
#include "engine/tokenizer.h"
#include "support/testutil.h"

static is_backend *be;

static void setup(void) { be = tu_backend(); }
static void teardown(void) { be->destroy(be); }

TestSuite(model_quant, .init = setup, .fini = teardown);

#define N_TOK 24

static void random_tokens(int32_t *t, int n, int vocab, uint64_t seed) {
    is_rng r;
    is_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)(is_rng_next(&r) % (uint64_t)vocab);
}

// Logits of every position of N_TOK seeded tokens, in one forward of a fresh sequence.
static float *logits_of(is_model *m) {
    int V = m->cfg.vocab_size;
    is_session_opts o = {.kv_budget_mib = 16, .block_size = 16, .max_seqs = 2, .max_batch_tokens = 64};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    int seq = is_seq_new(s, &err);
    cr_assert_geq(seq, 0, "%s", err.msg);
    int32_t tok[N_TOK], seqs[N_TOK];
    bool want[N_TOK];
    random_tokens(tok, N_TOK, V, 7);
    for (int i = 0; i < N_TOK; i++) {
        seqs[i] = seq;
        want[i] = true;
    }
    float *l = malloc((size_t)N_TOK * V * sizeof *l);
    cr_assert_eq(is_forward(s, N_TOK, tok, seqs, want, l, &err), 0, "%s", err.msg);
    is_session_free(s);
    return l;
}

// sum (a - b)^2 / sum b^2
static double nmse(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return num / den;
}

// The held bytes of a quantized preset's matrices are those of is_quantize_row on
// the BF16 preset's values, row by row (the CPU backend holds them in host memory).
static void expect_quantized_bf16(const char *preset, is_dtype dt) {
    is_model *q = tu_model(be, preset, dt, 3), *b = tu_model(be, preset, IS_DTYPE_BF16, 3);
    is_weight_ref *rq, *rb;
    int n = is_model_weight_refs(q, &rq);
    cr_assert_eq(is_model_weight_refs(b, &rb), n);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        if (rq[i].kind != IS_WKIND_MATRIX) {
            // norms and biases: the BF16 preset's values, in F32
            cr_assert_eq(memcmp(rq[i].t->data, rb[i].t->data, (size_t)rq[i].cols * 4), 0, "%s", rq[i].name);
            continue;
        }
        cr_assert_eq(rq[i].t->dtype, dt);
        int64_t rows = rq[i].rows, cols = rq[i].cols;
        size_t rb_bytes = is_dtype_row_bytes(dt, cols);
        float *f = malloc((size_t)(rows * cols) * sizeof *f);
        char *want = malloc(rb_bytes);
        cr_assert_eq(be->tensor_get_f32(be, rb[i].t, rows, f, NULL), 0);
        for (int64_t r = 0; r < rows; r++) {
            is_quantize_row(dt, f + r * cols, want, cols);
            cr_assert_eq(memcmp(want, (const char *)rq[i].t->data + (size_t)r * rb_bytes, rb_bytes), 0,
                         "%s %s row %lld differs from the BF16 preset quantized", is_dtype_name(dt), rq[i].name,
                         (long long)r);
        }
        checked++;
        free(f);
        free(want);
    }
    cr_assert_gt(checked, 0);
    free(rq);
    free(rb);
    is_model_free(q);
    is_model_free(b);
}

Test(model_quant, preset_is_the_bf16_preset_quantized) {
    expect_quantized_bf16("preset:tiny", IS_DTYPE_Q8_0);
    expect_quantized_bf16("preset:tiny", IS_DTYPE_Q4_0);
    expect_quantized_bf16("preset:tiny", IS_DTYPE_I8);
}

// Logits against the BF16 model's, for each format, within an NMSE bound that
// follows from the format's rounding: a weight moves by at most half a step, d/2,
// with d = amax/127 (Q8_0 over 32 weights, INT8 over a row) or amax/8 (Q4_0), so
// the relative noise per weight is about (1/127)/sqrt(12) ~ 0.2% (Q8_0) and
// (1/8)/sqrt(12) ~ 3.6% (Q4_0) of the block's largest weight (~2.5 sigma for 32
// normal weights, ~3.5 sigma for a row of 64-192). Through a few layers that adds
// up to an NMSE of the logits of order 1e-5 (Q8_0), 3e-5 (INT8: one scale per
// row, a larger amax) and 1e-2 (Q4_0); the bounds allow 10x. Measured values are
// printed. Greedy ids agree wherever the BF16 top-2 gap exceeds twice the largest
// logit difference (then no difference can swap them), and such positions exist.
static void expect_close_to_bf16(is_dtype dt, double bound) {
    is_model *q = tu_model(be, "preset:tiny", dt, 5), *b = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 5);
    int V = b->cfg.vocab_size;
    float *lq = logits_of(q), *lb = logits_of(b);
    double e = nmse(lq, lb, (size_t)N_TOK * V);
    cr_log_info("%s: NMSE of logits against BF16 %.3g (bound %.3g)", is_dtype_name(dt), e, bound);
    cr_assert_lt(e, bound, "%s: NMSE %g against BF16 is above %g", is_dtype_name(dt), e, bound);
    cr_assert_gt(e, 0.0, "%s: logits identical to BF16: the weights were not quantized", is_dtype_name(dt));
    int clear = 0;
    for (int t = 0; t < N_TOK; t++) {
        const float *a = lq + (size_t)t * V, *r = lb + (size_t)t * V;
        int ia = 0, ir = 0;
        double maxd = 0;
        for (int v = 0; v < V; v++) {
            if (a[v] > a[ia]) ia = v;
            if (r[v] > r[ir]) ir = v;
            maxd = fmax(maxd, fabs((double)a[v] - r[v]));
        }
        double second = -INFINITY;
        for (int v = 0; v < V; v++)
            if (v != ir) second = fmax(second, r[v]);
        if (r[ir] - second > 2 * maxd) {
            clear++;
            cr_assert_eq(ia, ir, "%s position %d: argmax %d against BF16 %d with a clear gap", is_dtype_name(dt), t,
                         ia, ir);
        }
    }
    if (dt != IS_DTYPE_Q4_0) cr_assert_gt(clear, 0, "%s: no position with a clear top-2 gap", is_dtype_name(dt));
    free(lq);
    free(lb);
    is_model_free(q);
    is_model_free(b);
}

Test(model_quant, logits_within_format_error) {
    expect_close_to_bf16(IS_DTYPE_Q8_0, 1e-4);
    expect_close_to_bf16(IS_DTYPE_I8, 3e-4);
    expect_close_to_bf16(IS_DTYPE_Q4_0, 1e-1);
}

Test(model_quant, bad_dtype_for_shape_is_refused) {
    is_config cfg = is_preset_find("tiny")->cfg;
    cfg.intermediate_size = 200; // not a multiple of 32
    is_model *m = NULL;
    is_err err = {{0}};
    cr_assert_neq(is_model_from_config(&cfg, "test", IS_DTYPE_Q4_0, 1, be, &m, &err), 0);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, "multiple of 32") && strstr(err.msg, "intermediate_size"), "%s", err.msg);
    cr_assert_eq(is_model_check_dtype(&cfg, IS_DTYPE_I8, "test", &err), 0, "%s", err.msg); // one scale per row: any
}

// ---- the q/k row layout -----------------------------------------------------------

// head_dim 4, 2 heads, one byte per row: Hugging Face rows (h, half j, i) ->
// GGUF rows (h, i, j): [a0 a1 b0 b1 | c0 c1 d0 d1] -> [a0 b0 a1 b1 | c0 d0 c1 d1].
Test(model_quant, gguf_row_permutation_by_hand) {
    const char hf[8] = {'a', 'A', 'b', 'B', 'c', 'C', 'd', 'D'}; // half 0: a A, half 1: b B
    char gg[8], back[8];
    model_gguf_permute_rows(gg, hf, 2, 4, 1, true);
    cr_assert_eq(memcmp(gg, "abABcdCD", 8), 0, "%.8s", gg);
    model_gguf_permute_rows(back, gg, 2, 4, 1, false);
    cr_assert_eq(memcmp(back, hf, 8), 0);
}

Test(model_quant, gguf_names) {
    char n[128];
    cr_assert(model_gguf_name("model.layers.11.self_attn.k_proj.weight", n, sizeof n));
    cr_assert_str_eq(n, "blk.11.attn_k.weight");
    cr_assert(model_gguf_name("model.layers.0.mlp.down_proj.weight", n, sizeof n));
    cr_assert_str_eq(n, "blk.0.ffn_down.weight");
    cr_assert(model_gguf_name("lm_head.weight", n, sizeof n));
    cr_assert_str_eq(n, "output.weight");
    cr_assert_not(model_gguf_name("model.layers.0.self_attn.rotary_emb.inv_freq", n, sizeof n));
}

// ---- GGUF round trips ----------------------------------------------------------------

static char dir[256];

static void gguf_dir(void) { tu_mkdtemp(dir, sizeof dir); }

// Exports src (held in dt, or F32 for F16) to a GGUF in dt, loads it back with the
// automatic dtype; the logits must be those of src held in the loaded dtype.
static void expect_gguf_round_trip(const char *preset, const is_config *cfg, is_dtype file_dt, is_dtype held_dt,
                                   double tol) {
    is_model *src = NULL;
    is_err err = {{0}};
    is_dtype src_dt = file_dt == IS_DTYPE_F16 ? IS_DTYPE_F32 : file_dt;
    if (preset) src = tu_model(be, preset, src_dt, 9);
    else cr_assert_eq(is_model_from_config(cfg, "custom", src_dt, 9, be, &src, &err), 0, "%s", err.msg);
    char path[512];
    snprintf(path, sizeof path, "%s/m-%s.gguf", dir, is_dtype_name(file_dt));
    is_tokenizer *tok;
    cr_assert_eq(is_tok_load_builtin(&tok, &err), 0, "%s", err.msg);
    cr_assert_eq(is_model_export_gguf(src, path, file_dt, tok, &err), 0, "%s", err.msg);
    is_tok_free(tok);
    is_model *back = NULL;
    is_model_opts mo = {.dtype = -1};
    cr_assert_eq(is_model_load(path, &mo, be, &back, &err), 0, "%s", err.msg);
    cr_assert_eq(back->wdtype, held_dt, "%s file held in %s", is_dtype_name(file_dt), is_dtype_name(back->wdtype));
    cr_assert_eq(back->cfg.hidden_size, src->cfg.hidden_size);
    cr_assert_eq(back->cfg.n_kv_heads, src->cfg.n_kv_heads);
    cr_assert_eq(back->cfg.qkv_bias, src->cfg.qkv_bias);
    cr_assert_eq(back->cfg.tie_word_embeddings, src->cfg.tie_word_embeddings);
    cr_assert_str_eq(back->cfg.model_type, src->cfg.model_type);
    for (int i = 0; i < src->cfg.head_dim / 2; i++) // RoPE frequencies (Llama 3 factors: a division apart)
        cr_assert_leq(fabsf(back->rope_inv_freq[i] - src->rope_inv_freq[i]), 1e-6f * src->rope_inv_freq[i],
                      "inv_freq[%d] %g vs %g", i, (double)back->rope_inv_freq[i], (double)src->rope_inv_freq[i]);
    is_model *ref = src;
    if (held_dt != src_dt) { // src in the dtype the file was loaded into
        is_model_opts ro = {.dtype = (int)held_dt, .seed = 9};
        if (preset) cr_assert_eq(is_model_load(preset, &ro, be, &ref, &err), 0, "%s", err.msg);
        else cr_assert_eq(is_model_from_config(cfg, "custom", held_dt, 9, be, &ref, &err), 0, "%s", err.msg);
    }
    int V = src->cfg.vocab_size;
    float *a = logits_of(back), *b = logits_of(ref);
    double e = nmse(a, b, (size_t)N_TOK * V);
    cr_assert_leq(e, tol, "%s GGUF: NMSE %g of logits against the source", is_dtype_name(file_dt), e);
    free(a);
    free(b);
    if (ref != src) is_model_free(ref);
    is_model_free(back);
    is_model_free(src);
}

// The same weights: only the RoPE frequencies of Llama 3 scaling (a factor per
// frequency in the file) may differ, by an F32 rounding: NMSE 1e-10 allows it.
Test(model_quant, gguf_round_trip_llama, .init = gguf_dir) {
    expect_gguf_round_trip("preset:tiny", NULL, IS_DTYPE_F32, IS_DTYPE_F32, 1e-10);
    expect_gguf_round_trip("preset:tiny", NULL, IS_DTYPE_BF16, IS_DTYPE_BF16, 1e-10);
    expect_gguf_round_trip("preset:tiny", NULL, IS_DTYPE_Q8_0, IS_DTYPE_Q8_0, 1e-10);
    expect_gguf_round_trip("preset:tiny", NULL, IS_DTYPE_Q4_0, IS_DTYPE_Q4_0, 1e-10);
    // F16 holds the F32 model's values to 11 bits: the logits move by ~1e-7 of their energy
    expect_gguf_round_trip("preset:tiny", NULL, IS_DTYPE_F16, IS_DTYPE_BF16, 1e-4);
    tu_rm_rf(dir);
}

// qwen2: q/k/v biases, tied embeddings, rows not permuted (llama.cpp rotates halves there).
Test(model_quant, gguf_round_trip_qwen2, .init = gguf_dir) {
    is_config cfg = is_preset_find("tiny")->cfg;
    snprintf(cfg.model_type, sizeof cfg.model_type, "qwen2");
    cfg.qkv_bias = true;
    cfg.tie_word_embeddings = true;
    cfg.rope_scaling = IS_ROPE_SCALING_NONE;
    expect_gguf_round_trip(NULL, &cfg, IS_DTYPE_BF16, IS_DTYPE_BF16, 0.0);
    expect_gguf_round_trip(NULL, &cfg, IS_DTYPE_Q8_0, IS_DTYPE_Q8_0, 0.0);
    tu_rm_rf(dir);
}

// A BF16 file loaded with --dtype q8_0 is the preset loaded with --dtype q8_0.
Test(model_quant, gguf_quantized_at_load, .init = gguf_dir) {
    is_err err = {{0}};
    is_model *src = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 9);
    char path[512];
    snprintf(path, sizeof path, "%s/bf16.gguf", dir);
    cr_assert_eq(is_model_export_gguf(src, path, IS_DTYPE_BF16, NULL, &err), 0, "%s", err.msg);
    is_model *q = NULL, *ref = tu_model(be, "preset:tiny", IS_DTYPE_Q8_0, 9);
    is_model_opts mo = {.dtype = IS_DTYPE_Q8_0};
    cr_assert_eq(is_model_load(path, &mo, be, &q, &err), 0, "%s", err.msg);
    cr_assert_eq(q->wdtype, IS_DTYPE_Q8_0);
    float *a = logits_of(q), *b = logits_of(ref);
    double e = nmse(a, b, (size_t)N_TOK * q->cfg.vocab_size);
    cr_assert_leq(e, 1e-10, "NMSE %g", e);
    free(a);
    free(b);
    is_model_free(q);
    is_model_free(ref);
    is_model_free(src);
    tu_rm_rf(dir);
}

// Copies of a good file with one tensor left out or with its dims swapped (the same
// bytes): each refused, naming the tensor.
typedef struct copy_ctx {
    const void **data;
} copy_ctx;

static int copy_fill(void *user, int index, void *dst, uint64_t nbytes, is_err *err) {
    (void)err;
    memcpy(dst, ((copy_ctx *)user)->data[index], (size_t)nbytes);
    return 0;
}

static void write_broken(const char *good, const char *out, const is_config *cfg, const char *skip,
                         const char *swap) {
    is_err err = {{0}};
    is_gguf g;
    cr_assert_eq(is_gguf_open(good, &g, &err), 0, "%s", err.msg);
    is_gguf_writer *w = is_gguf_writer_new();
    cr_assert_eq(is_gguf_put_config(w, cfg, "tiny", &err), 0, "%s", err.msg);
    copy_ctx c = {calloc((size_t)g.n_tensors, sizeof *c.data)};
    int nt = 0;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const is_gguf_tensor *t = &g.tensors[i];
        if (skip && !strcmp(t->name, skip)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (swap && !strcmp(t->name, swap)) {
            ne[0] = t->ne[1];
            ne[1] = t->ne[0];
        }
        is_gguf_add_tensor(w, t->name, (is_dtype)is_gguf_dtype(t->ggml_type), t->n_dims, ne);
        c.data[nt++] = t->data;
    }
    cr_assert_eq(is_gguf_write(w, out, copy_fill, &c, &err), 0, "%s", err.msg);
    free(c.data);
    is_gguf_writer_free(w);
    is_gguf_close(&g);
}

static void expect_refused(const char *path, const char *needle) {
    is_model *m = NULL;
    is_err err = {{0}};
    is_model_opts mo = {.dtype = -1};
    cr_assert_neq(is_model_load(path, &mo, be, &m, &err), 0, "%s loaded", path);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

Test(model_quant, gguf_bad_tensors_are_refused_by_name, .init = gguf_dir) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    is_err err = {{0}};
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s/good.gguf", dir);
    snprintf(bad, sizeof bad, "%s/bad.gguf", dir);
    cr_assert_eq(is_model_export_gguf(m, good, IS_DTYPE_F32, NULL, &err), 0, "%s", err.msg);
    write_broken(good, bad, &m->cfg, "blk.1.ffn_up.weight", NULL);
    expect_refused(bad, "'blk.1.ffn_up.weight' is missing");
    write_broken(good, bad, &m->cfg, NULL, "blk.0.ffn_down.weight");
    expect_refused(bad, "blk.0.ffn_down.weight");
    // the copy with nothing changed loads: the refusals above are the changes'
    write_broken(good, bad, &m->cfg, NULL, NULL);
    is_model *ok = NULL;
    is_model_opts mo = {.dtype = -1};
    cr_assert_eq(is_model_load(bad, &mo, be, &ok, &err), 0, "%s", err.msg);
    is_model_free(ok);
    // a type the engine does not hold is named as ggml names it
    cr_assert_lt(is_gguf_dtype(14), 0);
    cr_assert_str_eq(is_gguf_type_name(14), "Q6_K");
    // an F32 file loaded as INT8 (GGUF has no INT8): quantized at load
    is_model *q = NULL;
    mo.dtype = IS_DTYPE_I8;
    cr_assert_eq(is_model_load(good, &mo, be, &q, &err), 0, "%s", err.msg);
    cr_assert_eq(q->wdtype, IS_DTYPE_I8);
    is_model_free(q);
    // exporting INT8 to GGUF is refused with the formats it takes
    cr_assert_neq(is_model_export_gguf(m, bad, IS_DTYPE_I8, NULL, &err), 0);
    cr_assert(strstr(err.msg, "Q8_0") && strstr(err.msg, "INT8"), "%s", err.msg);
    is_model_free(m);
    tu_rm_rf(dir);
}
