// test_forward.c — the engine's forward pass against the float64 reference and
// against itself under different batching, paging and chunking.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_forward.h"
#include "support/testutil.h"

static is_backend *be;

static void setup(void) { be = tu_backend(); }
static void teardown(void) { be->destroy(be); }

TestSuite(forward, .init = setup, .fini = teardown);

static void random_tokens(int32_t *t, int n, int vocab, uint64_t seed) {
    is_rng r;
    is_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)(is_rng_next(&r) % (uint64_t)vocab);
}

static is_session *new_session(is_model *m, int block_size, int max_batch_tokens) {
    is_session_opts o = {.kv_budget_mib = 16, .block_size = block_size, .max_seqs = 8,
                         .max_batch_tokens = max_batch_tokens};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    return s;
}

// Logits of every position of tokens, in one forward of a fresh sequence.
static float *forward_all(is_session *s, const int32_t *tokens, int n) {
    int V = is_session_model(s)->cfg.vocab_size;
    is_err err;
    int seq = is_seq_new(s, &err);
    cr_assert_geq(seq, 0, "%s", err.msg);
    int32_t *seqs = malloc((size_t)n * sizeof *seqs);
    bool *want = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        seqs[i] = seq;
        want[i] = true;
    }
    float *logits = malloc((size_t)n * V * sizeof *logits);
    cr_assert_eq(is_forward(s, n, tokens, seqs, want, logits, &err), 0, "%s", err.msg);
    is_seq_free(s, seq);
    free(seqs);
    free(want);
    return logits;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// max |a - b| / max |b|
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d / max_abs(b, n);
}

static void check_against_reference(is_model *m, int n_tokens, uint64_t tok_seed) {
    int V = m->cfg.vocab_size;
    int32_t *tok = malloc((size_t)n_tokens * sizeof *tok);
    random_tokens(tok, n_tokens, V, tok_seed);
    is_session *s = new_session(m, 16, 512);
    float *fast = forward_all(s, tok, n_tokens);
    ref_model *r = ref_model_create(m);
    double *ref = malloc((size_t)n_tokens * V * sizeof *ref);
    ref_forward(r, tok, n_tokens, ref);
    double scale = 0, diff = 0;
    for (size_t i = 0; i < (size_t)n_tokens * V; i++) {
        scale = fmax(scale, fabs(ref[i]));
        diff = fmax(diff, fabs(fast[i] - ref[i]));
    }
    // F32 arithmetic rounds each operation to 2^-24 (6e-8) relative; with dot
    // products of up to a few hundred terms and about ten dependent steps per
    // layer the expected error is ~1e-5 of the logit scale. 1e-4 leaves margin
    // yet catches any indexing or formula mistake, which errs by O(1).
    cr_assert(scale > 0.05, "logits are degenerate (max |logit| %g)", scale);
    cr_assert_leq(diff, 1e-4 * scale, "fast path differs from float64 reference: max |diff| %g, scale %g",
                  diff, scale);
    free(ref);
    ref_model_free(r);
    free(fast);
    is_session_free(s);
    free(tok);
}

Test(forward, tiny_matches_float64_reference) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    check_against_reference(m, 40, 7);
    is_model_free(m);
}

// Odd sizes (not multiples of the SIMD width), q/k/v/o biases, tied embeddings,
// GQA 6:2, plain RoPE: every optional path of the architecture.
Test(forward, odd_shape_bias_tied_matches_float64_reference) {
    is_config c = {.model_type = "llama", .hidden_size = 72, .intermediate_size = 200, .n_layers = 3,
                   .n_heads = 6, .n_kv_heads = 2, .head_dim = 12, .vocab_size = 301, .max_pos = 128,
                   .rms_norm_eps = 1e-6f, .rope_theta = 5000.0, .tie_word_embeddings = true,
                   .qkv_bias = true, .o_bias = true, .bos_token_id = -1};
    is_model *m;
    is_err err;
    cr_assert_eq(is_model_from_config(&c, "odd", IS_DTYPE_F32, 3, be, &m, &err), 0, "%s", err.msg);
    check_against_reference(m, 33, 11);
    is_model_free(m);
}

Test(forward, bf16_weights_match_float64_reference_of_the_same_weights) {
    // the reference reads the BF16 weights as they are, so only F32 compute error remains
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 1);
    check_against_reference(m, 24, 5);
    is_model_free(m);
}

Test(forward, incremental_decode_equals_recompute) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 2);
    int V = m->cfg.vocab_size, n = 48;
    int32_t tok[48];
    random_tokens(tok, n, V, 3);
    is_session *inc = new_session(m, 4, 512);
    is_err err;
    int seq = is_seq_new(inc, &err);
    float *step = malloc((size_t)V * sizeof *step);
    bool yes = true;
    for (int t = 0; t < n; t++) {
        cr_assert_eq(is_forward(inc, 1, &tok[t], &seq, &yes, step, &err), 0, "%s", err.msg);
        cr_assert_eq(is_seq_len(inc, seq), t + 1);
        if (t % 5 != 4 && t != n - 1) continue; // recompute at every 5th step and the last
        is_session *full = new_session(m, 4, 512);
        float *all = forward_all(full, tok, t + 1);
        // the two runs use different matmul paths (one row vs many): F32 rounding
        // differences only, ~1e-6 of the logit scale; 2e-5 allows for them
        double d = rel_diff(step, all + (size_t)t * V, (size_t)V);
        cr_assert_leq(d, 2e-5, "step %d: incremental vs recompute differ by %g of scale", t, d);
        free(all);
        is_session_free(full);
    }
    free(step);
    is_session_free(inc);
    is_model_free(m);
}

// Prefills three prompts of different lengths in one batch, then decodes them
// together; each must match the same sequence run alone.
static void run_batch(is_model *m, int block_size, int max_batch_tokens, bool together, float *out) {
    int V = m->cfg.vocab_size;
    int lens[3] = {5, 17, 30};
    int32_t prompts[3][30];
    for (int i = 0; i < 3; i++) random_tokens(prompts[i], lens[i], V, 100 + i);
    int32_t next[3][4];
    for (int i = 0; i < 3; i++) random_tokens(next[i], 4, V, 200 + i);
    is_session *s = new_session(m, block_size, max_batch_tokens);
    is_err err;
    // out: per sequence, logits after the prompt and after each of 4 decode steps
    if (together) {
        int seq[3], n = 0;
        int32_t tok[52], sq[52];
        bool want[52];
        for (int i = 0; i < 3; i++) seq[i] = is_seq_new(s, &err);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < lens[i]; j++, n++) {
                tok[n] = prompts[i][j];
                sq[n] = seq[i];
                want[n] = j == lens[i] - 1;
            }
        float *l = malloc((size_t)3 * V * sizeof *l);
        cr_assert_eq(is_forward(s, n, tok, sq, want, l, &err), 0, "%s", err.msg);
        for (int i = 0; i < 3; i++) memcpy(out + ((size_t)i * 5) * V, l + (size_t)i * V, (size_t)V * sizeof *l);
        for (int st = 0; st < 4; st++) {
            bool w3[3] = {true, true, true};
            int32_t t3[3] = {next[0][st], next[1][st], next[2][st]};
            cr_assert_eq(is_forward(s, 3, t3, seq, w3, l, &err), 0, "%s", err.msg);
            for (int i = 0; i < 3; i++)
                memcpy(out + ((size_t)i * 5 + st + 1) * V, l + (size_t)i * V, (size_t)V * sizeof *l);
        }
        free(l);
    } else {
        for (int i = 0; i < 3; i++) {
            int seq = is_seq_new(s, &err);
            int32_t sq[30];
            bool want[30] = {0};
            for (int j = 0; j < lens[i]; j++) sq[j] = seq;
            want[lens[i] - 1] = true;
            cr_assert_eq(is_forward(s, lens[i], prompts[i], sq, want, out + ((size_t)i * 5) * V, &err), 0, "%s", err.msg);
            bool yes = true;
            for (int st = 0; st < 4; st++)
                cr_assert_eq(is_forward(s, 1, &next[i][st], &seq, &yes, out + ((size_t)i * 5 + st + 1) * V, &err), 0);
            is_seq_free(s, seq);
        }
    }
    is_session_free(s);
}

Test(forward, sequence_in_batch_equals_sequence_alone) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 4);
    size_t n = (size_t)15 * m->cfg.vocab_size;
    float *batched = malloc(n * sizeof(float)), *alone = malloc(n * sizeof(float));
    run_batch(m, 16, 512, true, batched);
    run_batch(m, 16, 512, false, alone);
    // same math; only the matmul path (rows batched or not) may reorder F32 sums
    double d = rel_diff(batched, alone, n);
    cr_assert_leq(d, 2e-5, "batched vs alone differ by %g of scale", d);
    free(batched);
    free(alone);
    is_model_free(m);
}

Test(forward, small_pages_and_chunks_equal_one_large_block) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 5);
    size_t n = (size_t)15 * m->cfg.vocab_size;
    float *big = malloc(n * sizeof(float)), *small = malloc(n * sizeof(float));
    run_batch(m, 256, 512, true, big); // every sequence fits one block
    int sizes[] = {1, 3, 16};
    for (int i = 0; i < 3; i++) {
        run_batch(m, sizes[i], 512, true, small);
        double d = rel_diff(small, big, n);
        cr_assert_leq(d, 1e-6, "block size %d vs one block: %g", sizes[i], d);
    }
    // prefill split into chunks of 7 tokens: chunks attend to earlier chunks through the cache
    run_batch(m, 4, 7, true, small);
    double d = rel_diff(small, big, n);
    cr_assert_leq(d, 2e-5, "chunked prefill vs whole: %g", d);
    free(big);
    free(small);
    is_model_free(m);
}

Test(forward, fork_shares_prefix_and_copies_on_write) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 6);
    int V = m->cfg.vocab_size;
    int32_t prefix[10], a[3], b[3];
    random_tokens(prefix, 10, V, 1);
    random_tokens(a, 3, V, 2);
    random_tokens(b, 3, V, 3);
    is_session *s = new_session(m, 4, 512);
    const is_kv_cache *kv = is_session_kv(s);
    is_err err;
    int pa = is_seq_new(s, &err);
    int32_t sq[10];
    for (int i = 0; i < 10; i++) sq[i] = pa;
    cr_assert_eq(is_forward(s, 10, prefix, sq, NULL, NULL, &err), 0, "%s", err.msg);
    int used_before = is_kv_n_used(kv);
    int pb = is_seq_fork(s, pa, &err);
    cr_assert_geq(pb, 0, "%s", err.msg);
    cr_assert_eq(is_kv_n_used(kv), used_before, "a fork must not take blocks");
    float *la = malloc((size_t)V * sizeof *la), *lb = malloc((size_t)V * sizeof *lb);
    bool yes = true;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(is_forward(s, 1, &a[i], &pa, &yes, la, &err), 0, "%s", err.msg);
        cr_assert_eq(is_forward(s, 1, &b[i], &pb, &yes, lb, &err), 0, "%s", err.msg);
    }
    // each branch equals a fresh recompute of its whole sequence
    int32_t fa[13], fb[13];
    memcpy(fa, prefix, sizeof prefix);
    memcpy(fb, prefix, sizeof prefix);
    memcpy(fa + 10, a, sizeof a);
    memcpy(fb + 10, b, sizeof b);
    is_session *f = new_session(m, 4, 512);
    float *ra = forward_all(f, fa, 13), *rb = forward_all(f, fb, 13);
    cr_assert_leq(rel_diff(la, ra + (size_t)12 * V, (size_t)V), 2e-5);
    cr_assert_leq(rel_diff(lb, rb + (size_t)12 * V, (size_t)V), 2e-5);
    // in use: the 2 full prefix blocks (shared), the partial third block (kept by
    // b once a copied it), a's private copy of it, and one new block each for
    // position 12
    cr_assert_eq(is_kv_n_used(kv), used_before + 3, "blocks in use %d, expected %d", is_kv_n_used(kv),
                 used_before + 3);
    is_seq_free(s, pa);
    is_seq_free(s, pb);
    cr_assert_eq(kv->n_free, kv->n_blocks, "blocks leaked: %d of %d free", kv->n_free, kv->n_blocks);
    free(ra);
    free(rb);
    free(la);
    free(lb);
    is_session_free(f);
    is_session_free(s);
    is_model_free(m);
}

Test(forward, f32_and_bf16_weights_give_close_logits) {
    is_model *m32 = tu_model(be, "preset:tiny", IS_DTYPE_F32, 8);
    is_model *m16 = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 8);
    int32_t tok[20];
    random_tokens(tok, 20, m32->cfg.vocab_size, 9);
    is_session *s32 = new_session(m32, 16, 512), *s16 = new_session(m16, 16, 512);
    float *l32 = forward_all(s32, tok, 20), *l16 = forward_all(s16, tok, 20);
    size_t n = (size_t)20 * m32->cfg.vocab_size;
    double d = rel_diff(l16, l32, n);
    // BF16 keeps 8 significant bits: each weight is off by up to 2^-9 (0.2%)
    // relative, errors of random sign that partly cancel in dot products;
    // through two layers the logits move by well under 2% of their scale.
    cr_assert_leq(d, 0.02, "bf16 vs f32 logits differ by %g of scale", d);
    cr_assert_gt(d, 0.0, "bf16 weights gave identical logits: were they rounded at all?");
    free(l32);
    free(l16);
    is_session_free(s32);
    is_session_free(s16);
    is_model_free(m32);
    is_model_free(m16);
}

Test(forward, greedy_matches_stored_float64_expectation) {
    // fixture written by tests/tools/make_greedy_fixture.c from ref_greedy():
    // the float64 reference, never the code under test
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny_greedy.txt", IS_TEST_FIXTURES);
    char *text = tu_read_file(path, NULL);
    cr_assert_not_null(text, "missing fixture %s", path);
    unsigned long long seed;
    int n_prompt, n_gen;
    double gap;
    char *p = text;
    int used;
    cr_assert_eq(sscanf(p, "preset tiny f32 seed %llu prompt %d gen %d min_top2_gap %lf%n", &seed, &n_prompt,
                        &n_gen, &gap, &used), 4, "bad fixture header");
    p += used;
    int32_t prompt[256], expect[256];
    cr_assert(n_prompt <= 256 && n_gen <= 256);
    for (int i = 0; i < n_prompt; i++, p += used) cr_assert_eq(sscanf(p, "%d%n", &prompt[i], &used), 1);
    for (int i = 0; i < n_gen; i++, p += used) cr_assert_eq(sscanf(p, "%d%n", &expect[i], &used), 1);
    // the expectation is only meaningful if no step was a near tie
    cr_assert_gt(gap, 1e-4, "fixture has a near tie (gap %g): regenerate with another seed", gap);
    free(text);

    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, seed);
    is_session *s = new_session(m, 16, 512);
    const int32_t *prompts[1] = {prompt};
    int lens[1] = {n_prompt};
    is_gen_opts go = {.n_gen = n_gen, .ignore_eos = true};
    is_gen_result res;
    is_err err;
    cr_assert_eq(is_generate(s, 1, prompts, lens, &go, NULL, NULL, &res, &err), 0, "%s", err.msg);
    cr_assert_eq(res.n_tokens[0], n_gen);
    for (int i = 0; i < n_gen; i++)
        cr_assert_eq(res.tokens[0][i], expect[i], "token %d: got %d, float64 reference %d", i,
                     res.tokens[0][i], expect[i]);
    is_gen_result_free(&res);
    is_session_free(s);
    is_model_free(m);
}

Test(forward, refuses_positions_past_the_context_and_a_full_cache) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    is_session *s = new_session(m, 16, 512);
    is_err err;
    int seq = is_seq_new(s, &err);
    int n = m->cfg.max_pos + 1;
    int32_t *tok = calloc((size_t)n, sizeof *tok), *sq = malloc((size_t)n * sizeof *sq);
    for (int i = 0; i < n; i++) sq[i] = seq;
    cr_assert_eq(is_forward(s, n, tok, sq, NULL, NULL, &err), -1);
    cr_assert(strstr(err.msg, "max_position_embeddings"), "message: %s", err.msg);
    cr_assert_eq(is_seq_len(s, seq), 0, "a refused forward must not append");
    is_session_free(s);

    // a cache of 2 blocks of 16 tokens refuses a 40-token prompt, unchanged
    double block_mib = 16.0 * m->cfg.n_layers * 2 * m->cfg.n_kv_heads * m->cfg.head_dim * 4 / 1048576.0;
    is_session_opts o = {.kv_budget_mib = 2.5 * block_mib, .block_size = 16, .max_seqs = 4};
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    seq = is_seq_new(s, &err);
    cr_assert_eq(is_forward(s, 40, tok, sq, NULL, NULL, &err), -1);
    cr_assert(strstr(err.msg, "KV cache full"), "message: %s", err.msg);
    cr_assert_eq(is_seq_len(s, seq), 0);
    cr_assert_eq(is_session_kv(s)->n_free, 2);
    cr_assert_eq(is_forward(s, 32, tok, sq, NULL, NULL, &err), 0, "32 tokens fit: %s", err.msg);
    free(tok);
    free(sq);
    is_session_free(s);
    is_model_free(m);
}

// ---- the batch protocol: a failed graph recording is issued again ----
// The CPU backend has no graphs; these stand-ins give it a batch_begin and a
// batch_end that answers IS_BATCH_AGAIN (as the CUDA backend does when a
// recording fails) for the first again_left chunks' first tries.
static int n_begin, n_end, n_embed, again_left;
static bool again_always;
static void (*cpu_embed)(is_backend *, is_tensor *, const is_tensor *, const int32_t *, int);

static is_batch_mode stand_in_begin(is_backend *b, const int32_t *tok, const is_attn_batch *ab, const int32_t *rows,
                                    int n_rows, const void *owner) {
    (void)b, (void)tok, (void)ab, (void)rows, (void)n_rows;
    cr_assert_not_null(owner, "be->graphs is set: a chunk that fits one lm_head call offers its owner");
    n_begin++;
    return IS_BATCH_ISSUE;
}

static int stand_in_end(is_backend *b, is_err *err) {
    (void)b, (void)err;
    n_end++;
    if (again_always) return IS_BATCH_AGAIN;
    if (again_left > 0 && n_end % 2 == 1) { // the chunk's first try
        again_left--;
        return IS_BATCH_AGAIN;
    }
    return 0;
}

static void counting_embed(is_backend *b, is_tensor *out, const is_tensor *table, const int32_t *ids, int n) {
    n_embed++;
    cpu_embed(b, out, table, ids, n);
}

Test(forward, a_chunk_whose_recording_failed_is_issued_again_and_gives_the_same_logits) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 4);
    int V = m->cfg.vocab_size;
    int32_t tok[12];
    random_tokens(tok, 12, V, 9);
    is_session *s = new_session(m, 16, 512);
    float *plain = forward_all(s, tok, 12);
    is_session_free(s);

    cpu_embed = be->embed;
    be->embed = counting_embed;
    be->batch_begin = stand_in_begin;
    be->batch_end = stand_in_end;
    be->graphs = true;
    n_begin = n_end = n_embed = 0;
    again_left = 1;
    again_always = false;
    s = new_session(m, 16, 512);
    float *again = forward_all(s, tok, 12);
    // one chunk: begun, issued and ended twice, the second time for real
    cr_assert_eq(n_begin, 2);
    cr_assert_eq(n_end, 2);
    cr_assert_eq(n_embed, 2, "the chunk's ops were issued again");
    cr_assert_eq(again_left, 0);
    cr_assert(!memcmp(plain, again, (size_t)12 * V * sizeof *plain), "logits after a re-issued chunk differ");

    // a backend that never stops asking: an error naming it, not a loop
    again_always = true;
    is_err err;
    int32_t seq = is_seq_new(s, &err), seqs[1] = {seq};
    bool yes = true;
    float *row = malloc((size_t)V * sizeof *row);
    cr_assert_eq(is_forward(s, 1, tok, seqs, &yes, row, &err), -1);
    cr_assert(strstr(err.msg, "graph recording failed twice"), "message: %s", err.msg);
    is_session_free(s);
    be->embed = cpu_embed;
    be->batch_begin = NULL;
    be->batch_end = NULL;
    be->graphs = false;
    free(row);
    free(again);
    free(plain);
    is_model_free(m);
}
