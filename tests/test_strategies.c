// test_strategies.c — decoding strategies against references: speculative
// greedy equals plain greedy, speculative sampling keeps the target's
// distribution (chi-square), beam search equals an exhaustive search, beams
// share KV blocks and leak none, sampling masks equal a sort-based reference,
// seeded runs repeat; and the strategy spec strings.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/strategy.h"
#include "kernels/ref.h" // defines: is_ref_softmax
#include "support/testutil.h"

static is_backend *be;

static void setup(void) { be = tu_backend(); }
static void teardown(void) { be->destroy(be); }

TestSuite(strategies, .init = setup, .fini = teardown);

// preset:tiny's shape with a vocabulary of vocab ids (EOS = 2), seeded weights
static is_model *small_vocab_model(int vocab, uint64_t seed) {
    is_config c = is_preset_find("tiny")->cfg;
    c.vocab_size = vocab;
    is_model *m;
    is_err err;
    cr_assert_eq(is_model_from_config(&c, "test:small-vocab", IS_DTYPE_F32, seed, be, &m, &err), 0, "%s", err.msg);
    return m;
}

static is_session *session(is_model *m, int block_size, double kv_mib) {
    is_session_opts o = {.kv_budget_mib = kv_mib, .block_size = block_size, .max_seqs = 64};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    return s;
}

static void random_ids(int32_t *t, int n, int vocab, uint64_t seed) {
    is_rng r;
    is_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)(is_rng_next(&r) % (uint64_t)vocab);
}

static void generate(is_session *s, int n, const int32_t *const *prompts, const int *lens, const is_gen_opts *o,
                     is_gen_result *res) {
    is_err err = {{0}};
    cr_assert_eq(is_generate(s, n, prompts, lens, o, NULL, NULL, res, &err), 0, "%s", err.msg);
}

static void assert_no_blocks_held(is_session *s, const char *what) {
    const is_kv_cache *kv = is_session_kv(s);
    cr_assert_eq(kv->n_free, kv->n_blocks, "%s: %d of %d blocks free after the run", what, kv->n_free, kv->n_blocks);
}

// Logits after prompt + ext (a fresh sequence, one forward), into out[V].
static void fresh_logits(is_session *s, const int32_t *prompt, int np, const int32_t *ext, int ne, float *out) {
    int n = np + ne;
    int32_t *tok = malloc((size_t)n * sizeof *tok), *sq = malloc((size_t)n * sizeof *sq);
    bool *want = calloc((size_t)n, 1);
    memcpy(tok, prompt, (size_t)np * sizeof *tok);
    if (ne > 0) memcpy(tok + np, ext, (size_t)ne * sizeof *tok); // ext may be NULL when empty
    is_err err;
    int seq = is_seq_new(s, &err);
    cr_assert_geq(seq, 0, "%s", err.msg);
    for (int i = 0; i < n; i++) sq[i] = seq;
    want[n - 1] = true;
    cr_assert_eq(is_forward(s, n, tok, sq, want, out, &err), 0, "%s", err.msg);
    is_seq_free(s, seq);
    free(tok);
    free(sq);
    free(want);
}

// ---- speculative greedy -------------------------------------------------------------------

Test(strategies, speculative_greedy_equals_greedy) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 11);
    is_model *other = tu_model(be, "preset:tiny", IS_DTYPE_F32, 12); // a different draft
    int V = m->cfg.vocab_size;
    int32_t pa[9], pb[5];
    random_ids(pa, 9, V, 1);
    random_ids(pb, 5, V, 2);
    const int32_t *prompts[] = {pa, pb};
    int lens[] = {9, 5};
    is_session *s = session(m, 4, 4), *ds_self = session(m, 4, 4), *ds_other = session(other, 4, 4);
    is_gen_opts go = {.n_gen = 23, .ignore_eos = true};
    is_gen_result ref;
    generate(s, 2, prompts, lens, &go, &ref);
    int ks[] = {1, 2, 4, 7};
    is_session *drafts[] = {ds_self, ds_other};
    for (int d = 0; d < 2; d++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            is_gen_opts so = go;
            so.draft = drafts[d];
            so.spec_k = ks[ki];
            is_gen_result res;
            generate(s, 2, prompts, lens, &so, &res);
            for (int i = 0; i < 2; i++) {
                cr_assert_eq(res.n_tokens[i], ref.n_tokens[i], "draft %d k %d seq %d: %d tokens, greedy %d", d,
                             ks[ki], i, res.n_tokens[i], ref.n_tokens[i]);
                for (int j = 0; j < ref.n_tokens[i]; j++)
                    cr_assert_eq(res.tokens[i][j], ref.tokens[i][j], "draft %d k %d seq %d token %d: %d, greedy %d",
                                 d, ks[ki], i, j, res.tokens[i][j], ref.tokens[i][j]);
                // tokens of one step share a timestamp, and time never runs back
                for (int j = 1; j < res.n_tokens[i]; j++) cr_assert_geq(res.token_time[i][j], res.token_time[i][j - 1]);
            }
            cr_assert_leq(res.stats.accepted, res.stats.drafted);
            if (d == 0) // the target drafting for itself agrees with itself
                cr_assert_eq(res.stats.accepted, res.stats.drafted, "self-draft accepted %ld of %ld",
                             res.stats.accepted, res.stats.drafted);
            is_gen_result_free(&res);
            assert_no_blocks_held(s, "target");
            assert_no_blocks_held(drafts[d], "draft");
        }
    is_gen_result_free(&ref);
    is_session_free(s);
    is_session_free(ds_self);
    is_session_free(ds_other);
    is_model_free(other);
    is_model_free(m);
}

Test(strategies, speculative_greedy_with_eos_and_penalty_equals_greedy) {
    // a 16-token vocabulary makes EOS (id 2) likely inside a run; with a
    // repetition penalty both paths penalize the same history
    is_model *m = small_vocab_model(16, 21), *dm = small_vocab_model(16, 22);
    int32_t p[6];
    random_ids(p, 6, 16, 5);
    const int32_t *prompts[] = {p};
    int lens[] = {6};
    is_session *s = session(m, 4, 4), *ds = session(dm, 4, 4);
    int eos_runs = 0;
    for (int trial = 0; trial < 8; trial++) {
        is_gen_opts go = {.n_gen = 30, .sampler = {.rep_penalty = trial % 2 ? 1.3f : 0.0f}};
        random_ids(p, 6, 16, 100 + (uint64_t)trial);
        is_gen_result ref, res;
        generate(s, 1, prompts, lens, &go, &ref);
        go.draft = ds;
        go.spec_k = 3;
        generate(s, 1, prompts, lens, &go, &res);
        cr_assert_eq(res.n_tokens[0], ref.n_tokens[0], "trial %d: %d tokens, greedy %d", trial, res.n_tokens[0],
                     ref.n_tokens[0]);
        cr_assert_eq(memcmp(res.tokens[0], ref.tokens[0], (size_t)ref.n_tokens[0] * sizeof(int32_t)), 0, "trial %d",
                     trial);
        eos_runs += ref.n_tokens[0] < 30;
        is_gen_result_free(&ref);
        is_gen_result_free(&res);
    }
    cr_assert_gt(eos_runs, 0, "no run ended at EOS: the stop path went unchecked");
    is_session_free(s);
    is_session_free(ds);
    is_model_free(m);
    is_model_free(dm);
}

// ---- speculative sampling keeps the target's distribution --------------------------------

// Upper 0.999 quantile of chi-square with dof degrees of freedom, Wilson-Hilferty
// approximation (within about 1% for dof >= 3): a correct sampler fails with
// probability about 0.001, and the seeds are fixed, so a pass is reproducible.
static double chi2_999(int dof) {
    double k = dof, z = 3.0902; // standard normal 0.999 quantile
    double a = 1.0 - 2.0 / (9.0 * k) + z * sqrt(2.0 / (9.0 * k));
    return k * a * a * a;
}

// Chi-square statistic of counts against probabilities p, bins with expected
// count under 5 merged into one; *dof gets the degrees of freedom.
static double chi2_merged(const long *counts, const double *p, int n, long draws, int *dof) {
    double chi2 = 0.0, e_rest = 0.0;
    long c_rest = 0;
    int bins = 0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * (double)draws;
        if (e < 5.0) {
            e_rest += e;
            c_rest += counts[i];
            continue;
        }
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
        bins++;
    }
    if (e_rest >= 5.0) {
        chi2 += (c_rest - e_rest) * (c_rest - e_rest) / e_rest;
        bins++;
    } else {
        cr_assert_leq(c_rest, 5 + 10 * (long)ceil(e_rest), "bins of expected count %g drew %ld", e_rest, c_rest);
    }
    *dof = bins - 1;
    return chi2;
}

Test(strategies, speculative_sampling_keeps_the_target_distribution) {
    enum { V = 8, P = 4, DRAWS = 6000 };
    const double t = 0.9;
    is_model *m = small_vocab_model(V, 31), *dm = small_vocab_model(V, 32);
    int32_t prompt[P];
    random_ids(prompt, P, V, 9);
    is_session *s = session(m, 4, 2), *ds = session(dm, 4, 2);
    // reference: the target's softmax, chained over the first three tokens
    double p1[V], p2[V][V], p3[V][V][V], m2[V] = {0}, m3[V] = {0};
    float lg[V];
    fresh_logits(s, prompt, P, NULL, 0, lg);
    is_ref_softmax(IS_REF_F32, lg, V, t, p1);
    for (int x = 0; x < V; x++) {
        int32_t e1[1] = {x};
        fresh_logits(s, prompt, P, e1, 1, lg);
        is_ref_softmax(IS_REF_F32, lg, V, t, p2[x]);
        for (int y = 0; y < V; y++) {
            int32_t e2[2] = {x, y};
            fresh_logits(s, prompt, P, e2, 2, lg);
            is_ref_softmax(IS_REF_F32, lg, V, t, p3[x][y]);
            m2[y] += p1[x] * p2[x][y];
            for (int z = 0; z < V; z++) m3[z] += p1[x] * p2[x][y] * p3[x][y][z];
        }
    }
    // the second token goes through acceptance or the residual draw; the third
    // through a second proposal or the bonus draw
    long c2[V] = {0}, c3[V] = {0}, drafted = 0, accepted = 0;
    const int32_t *prompts[] = {prompt};
    int lens[] = {P};
    for (int r = 0; r < DRAWS; r++) {
        is_gen_opts go = {.n_gen = 3, .ignore_eos = true, .draft = ds, .spec_k = 2,
                          .sampler = {.temperature = (float)t, .top_p = 1.0f, .seed = 1000 + (uint64_t)r}};
        is_gen_result res;
        generate(s, 1, prompts, lens, &go, &res);
        cr_assert_eq(res.n_tokens[0], 3);
        c2[res.tokens[0][1]]++;
        c3[res.tokens[0][2]]++;
        drafted += res.stats.drafted;
        accepted += res.stats.accepted;
        is_gen_result_free(&res);
    }
    double rate = (double)accepted / (double)drafted;
    cr_assert(rate > 0.05 && rate < 0.95, "acceptance %g: both the accept and the reject paths must occur", rate);
    int dof;
    double x2 = chi2_merged(c2, m2, V, DRAWS, &dof);
    cr_assert_geq(dof, 3);
    cr_assert_lt(x2, chi2_999(dof), "second token: chi-square %g over %d dof (limit %g)", x2, dof, chi2_999(dof));
    double x3 = chi2_merged(c3, m3, V, DRAWS, &dof);
    cr_assert_geq(dof, 3);
    cr_assert_lt(x3, chi2_999(dof), "third token: chi-square %g over %d dof (limit %g)", x3, dof, chi2_999(dof));
    assert_no_blocks_held(s, "target");
    assert_no_blocks_held(ds, "draft");
    is_session_free(s);
    is_session_free(ds);
    is_model_free(m);
    is_model_free(dm);
}

Test(strategies, seeded_runs_repeat_and_seeds_differ) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 41), *dm = tu_model(be, "preset:tiny", IS_DTYPE_F32, 42);
    int32_t p[7];
    random_ids(p, 7, m->cfg.vocab_size, 3);
    const int32_t *prompts[] = {p, p};
    int lens[] = {7, 7};
    is_session *s = session(m, 4, 4), *ds = session(dm, 4, 4);
    is_sampler_params sp = {.temperature = 1.2f, .top_k = 100, .top_p = 0.97f, .min_p = 0.01f, .rep_penalty = 1.1f};
    for (int spec = 0; spec < 2; spec++) {
        is_gen_result a, b, c;
        is_gen_opts go = {.n_gen = 24, .ignore_eos = true, .sampler = sp, .draft = spec ? ds : NULL, .spec_k = 3};
        go.sampler.seed = 5;
        generate(s, 2, prompts, lens, &go, &a);
        generate(s, 2, prompts, lens, &go, &b);
        go.sampler.seed = 6;
        generate(s, 2, prompts, lens, &go, &c);
        int diff_seed = 0, diff_stream = 0;
        for (int j = 0; j < 24; j++) {
            cr_assert_eq(a.tokens[0][j], b.tokens[0][j], "spec %d: token %d differs between equal seeds", spec, j);
            cr_assert_eq(a.tokens[1][j], b.tokens[1][j]);
            diff_seed += a.tokens[0][j] != c.tokens[0][j];
            diff_stream += a.tokens[0][j] != a.tokens[1][j];
        }
        cr_assert_gt(diff_seed, 0, "spec %d: seeds 5 and 6 drew the same 24 tokens", spec);
        cr_assert_gt(diff_stream, 0, "spec %d: two sequences of one batch drew the same 24 tokens", spec);
        is_gen_result_free(&a);
        is_gen_result_free(&b);
        is_gen_result_free(&c);
    }
    is_session_free(s);
    is_session_free(ds);
    is_model_free(m);
    is_model_free(dm);
}

// ---- beam search --------------------------------------------------------------------------

typedef struct hyp {
    int32_t tok[8];
    int len;
    double logprob, score;
} hyp;

static int hyp_cmp(const void *a, const void *b) {
    double x = ((const hyp *)a)->score, y = ((const hyp *)b)->score;
    return (x < y) - (x > y);
}

// Every sequence of up to L tokens that ends at EOS or at length L, scored from
// a fresh forward of each prefix; returns the count.
static int enumerate(is_session *s, const int32_t *prompt, int np, int V, int L, double lp, hyp *out) {
    int n = 0;
    hyp stack[512];
    int top = 0;
    stack[top++] = (hyp){.len = 0, .logprob = 0};
    float *lg = malloc((size_t)V * sizeof *lg);
    while (top) {
        hyp h = stack[--top];
        fresh_logits(s, prompt, np, h.tok, h.len, lg);
        double mx = -INFINITY, z = 0;
        for (int v = 0; v < V; v++) mx = fmax(mx, lg[v]);
        for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
        for (int v = 0; v < V; v++) {
            hyp c = h;
            c.tok[c.len++] = v;
            c.logprob += lg[v] - mx - log(z);
            if (v == 2 || c.len == L) {
                c.score = c.logprob / pow(c.len, lp);
                out[n++] = c;
            } else {
                cr_assert_lt(top, 512);
                stack[top++] = c;
            }
        }
    }
    free(lg);
    qsort(out, (size_t)n, sizeof *out, hyp_cmp);
    return n;
}

Test(strategies, beam_equals_exhaustive_search) {
    // W = V^(L-1): the beams can hold every prefix, so beam search is exact and
    // its W hypotheses must be the W best of all sequences
    enum { V = 5, L = 3, W = 25, P = 5 };
    is_model *m = small_vocab_model(V, 51);
    is_session *s = session(m, 4, 4);
    const double lps[] = {0.0, 1.0, 2.5};
    for (int pi = 0; pi < 2; pi++) {
        int32_t prompt[P];
        random_ids(prompt, P, V, 60 + (uint64_t)pi);
        hyp all[V * V * V];
        for (size_t li = 0; li < sizeof lps / sizeof lps[0]; li++) {
            int n_all = enumerate(s, prompt, P, V, L, lps[li], all);
            int eos_hyps = 0;
            for (int h = 0; h < W; h++) eos_hyps += all[h].len < L;
            const int32_t *prompts[] = {prompt};
            int lens[] = {P};
            is_gen_opts go = {.n_gen = L, .beam_width = W, .length_penalty = (float)lps[li]};
            is_gen_result res;
            generate(s, 1, prompts, lens, &go, &res);
            const is_beam_hyps *bh = &res.hyps[0];
            cr_assert_eq(bh->n, W, "%d hypotheses of %d", bh->n, W);
            cr_assert_geq(n_all, W);
            for (int h = 0; h < W; h++) {
                // scores from incremental decoding on shared, copied-on-write blocks
                // against fresh recomputes: F32 rounding, about 1e-6 of a log-prob
                cr_assert_eq(bh->len[h], all[h].len, "lp %g hyp %d: length %d, exhaustive %d", lps[li], h, bh->len[h],
                             all[h].len);
                for (int j = 0; j < all[h].len; j++)
                    cr_assert_eq(bh->tokens[h][j], all[h].tok[j], "lp %g hyp %d token %d", lps[li], h, j);
                cr_assert_float_eq(bh->score[h], all[h].score, 1e-4, "lp %g hyp %d: score %g, exhaustive %g", lps[li],
                                   h, bh->score[h], all[h].score);
            }
            cr_assert_eq(res.n_tokens[0], all[0].len);
            cr_assert_eq(memcmp(res.tokens[0], all[0].tok, (size_t)all[0].len * sizeof(int32_t)), 0);
            if (li == 0) cr_assert_gt(eos_hyps, 0, "no EOS among the best: lengths untested");
            is_gen_result_free(&res);
            assert_no_blocks_held(s, "beam");
        }
    }
    is_session_free(s);
    is_model_free(m);
}

Test(strategies, beam_width_1_is_greedy) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 61);
    int32_t p[10];
    random_ids(p, 10, m->cfg.vocab_size, 7);
    const int32_t *prompts[] = {p};
    int lens[] = {10};
    is_session *s = session(m, 4, 4);
    is_gen_opts go = {.n_gen = 20, .ignore_eos = true};
    is_gen_result ref, res;
    generate(s, 1, prompts, lens, &go, &ref);
    go.beam_width = 1;
    generate(s, 1, prompts, lens, &go, &res);
    cr_assert_eq(res.n_tokens[0], 20);
    cr_assert_eq(memcmp(res.tokens[0], ref.tokens[0], 20 * sizeof(int32_t)), 0);
    is_gen_result_free(&ref);
    is_gen_result_free(&res);
    is_session_free(s);
    is_model_free(m);
}

Test(strategies, beams_share_prompt_blocks_and_leak_none) {
    // 32 prompt tokens in blocks of 4: 8 blocks shared by 4 beams, each adding at
    // most 2 (its new tokens and a copy). A budget of exactly 8 + 4 * 2 blocks
    // holds them; beams with private prompt copies would need 4 * 9.
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 71);
    int32_t p[2][32];
    random_ids(p[0], 32, m->cfg.vocab_size, 8);
    random_ids(p[1], 32, m->cfg.vocab_size, 9);
    const int32_t *prompts[] = {p[0], p[1]};
    int lens[] = {32, 32};
    is_session *s = session(m, 4, 2 * 16 * is_kv_block_mib(&m->cfg, 4, m->be->kv_dtype));
    cr_assert_eq(is_session_kv(s)->n_blocks, 32);
    is_gen_opts go = {.n_gen = 5, .ignore_eos = true, .beam_width = 4, .length_penalty = 1.0f};
    is_gen_result res;
    generate(s, 2, prompts, lens, &go, &res);
    cr_assert_eq(res.n_tokens[0], 5);
    cr_assert_eq(res.hyps[1].n, 4);
    for (int i = 0; i < 2; i++) // the best hypothesis first
        for (int h = 1; h < res.hyps[i].n; h++) cr_assert_geq(res.hyps[i].score[h - 1], res.hyps[i].score[h]);
    is_gen_result_free(&res);
    assert_no_blocks_held(s, "beam");
    // one more beam does not fit: a clear error, nothing held
    go.beam_width = 6;
    is_err err = {{0}};
    cr_assert_eq(is_generate(s, 2, prompts, lens, &go, NULL, NULL, &res, &err), -1);
    cr_assert(strstr(err.msg, "beam:w=6 does not fit the KV cache"), "%s", err.msg);
    assert_no_blocks_held(s, "refused beam");
    is_session_free(s);
    is_model_free(m);
}

// ---- sampling masks -------------------------------------------------------------------------

static const double *ref_key;
static int ref_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (ref_key[i] != ref_key[j]) return ref_key[i] > ref_key[j] ? -1 : 1;
    return i - j;
}

// Straightforward reference of top-k, then min-p, then top-p on softmax(x / t):
// sort, cut, renormalize.
static void ref_filtered(const float *x, int V, double t, int k, double minp, double top_p, double *out) {
    double *p = malloc((size_t)V * sizeof *p);
    int *order = malloc((size_t)V * sizeof *order);
    is_ref_softmax(IS_REF_F32, x, V, t, p);
    for (int i = 0; i < V; i++) order[i] = i;
    ref_key = p;
    qsort(order, (size_t)V, sizeof *order, ref_cmp);
    int n = k > 0 && k < V ? k : V;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (!(minp > 0) || p[order[i]] >= minp * p[order[0]]) order[m++] = order[i];
    double z = 0;
    for (int i = 0; i < m; i++) z += p[order[i]];
    int keep = m;
    if (top_p < 1) {
        double acc = 0;
        for (keep = 0; keep < m;) {
            acc += p[order[keep++]];
            if (acc >= top_p * z) break;
        }
    }
    double kz = 0;
    for (int i = 0; i < keep; i++) kz += p[order[i]];
    for (int i = 0; i < V; i++) out[i] = 0;
    for (int i = 0; i < keep; i++) out[order[i]] = p[order[i]] / kz;
    free(p);
    free(order);
}

Test(strategies, masks_match_a_sorting_reference) {
    enum { V = 300 };
    float x[V], probs[V];
    double ref[V];
    for (int trial = 0; trial < 60; trial++) {
        for (int i = 0; i < V; i++) x[i] = 3.0f * is_rng_normal(500 + (uint64_t)trial, 1, (uint64_t)i);
        is_sampler_params p = {.temperature = 0.5f + 0.05f * (float)(trial % 20),
                               .top_k = trial % 3 == 0 ? 0 : 5 + trial,
                               .min_p = trial % 4 == 1 ? 0.0f : 0.002f * (float)(trial % 7 + 1),
                               .top_p = trial % 5 == 2 ? 1.0f : 0.6f + 0.005f * (float)trial,
                               .seed = 1};
        is_sampler s;
        is_sampler_init(&s, &p, V, 0);
        is_sampler_probs(&s, x, probs);
        ref_filtered(x, V, p.temperature, p.top_k, p.min_p, p.top_p, ref);
        for (int i = 0; i < V; i++) {
            // the support must match exactly; values within F32 rounding of a
            // renormalized softmax (1e-5 relative)
            cr_assert_eq(probs[i] > 0, ref[i] > 0, "trial %d id %d: kept %d, reference %d (p %g)", trial, i,
                         probs[i] > 0, ref[i] > 0, ref[i]);
            cr_assert_float_eq(probs[i], ref[i], 1e-5 * fmax(ref[i], 1e-3), "trial %d id %d", trial, i);
        }
        // a draw always lands in the support
        for (int d = 0; d < 50; d++) cr_assert_gt(ref[is_sampler_sample(&s, x)], 0.0);
        is_sampler_free(&s);
    }
}

Test(strategies, repetition_penalty_scales_seen_logits) {
    enum { V = 6 };
    is_sampler_params p = {.temperature = 0.0f, .rep_penalty = 2.0f};
    is_sampler s;
    is_sampler_init(&s, &p, V, 0);
    float x[V] = {4.0f, -1.0f, 3.0f, 0.5f, -2.0f, 1.0f};
    const float want[V] = {2.0f, -2.0f, 3.0f, 0.5f, -2.0f, 1.0f};
    is_sampler_count(&s, 0, 1);
    is_sampler_count(&s, 1, 1);
    is_sampler_count(&s, 0, 1); // twice: penalized once
    is_sampler_count(&s, 4, 1);
    is_sampler_count(&s, 4, -1); // rolled back
    is_sampler_penalize(&s, x);
    for (int i = 0; i < V; i++) cr_assert_eq(x[i], want[i], "id %d: %g, expected %g", i, x[i], want[i]);
    cr_assert_eq(is_sampler_sample(&s, x), 2, "greedy after the penalty");
    is_sampler_free(&s);
}

// ---- strategy specs and bad input -------------------------------------------------------------

Test(strategies, specs_parse_and_format_canonically) {
    const char *in[][2] = {
        {"sample:t=0.8,k=40,p=0.95,minp=0.05,seed=1", "sample:t=0.8,k=40,p=0.95,minp=0.05,seed=1"},
        {"sample:seed=1,minp=0.05,rep=1.1", "sample:t=0.8,k=40,p=0.95,minp=0.05,rep=1.1,seed=1"},
        {"beam", "beam:w=4,lp=1"},
        {"beam:lp=0.5,w=2", "beam:w=2,lp=0.5"},
        {"spec:draft=self", "spec:k=4,draft=self"},
        {"spec:draft=preset:tiny,k=2,dseed=7", "spec:k=2,draft=preset:tiny,dseed=7"},
        {"spec:k=3,draft=preset:tiny,t=1,seed=4", "spec:k=3,draft=preset:tiny,t=1,topk=40,p=0.95,seed=4"},
        {"spec:k=3,draft=self,topk=5,seed=4", "spec:k=3,draft=self"}, // greedy: sampling keys unused
    };
    for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
        is_strategy s, s2;
        is_err err = {{0}};
        char buf[256], buf2[256];
        cr_assert_eq(is_strategy_parse(in[i][0], &s, &err), 0, "'%s': %s", in[i][0], err.msg);
        is_strategy_format(&s, buf, sizeof buf);
        cr_assert_str_eq(buf, in[i][1]);
        cr_assert_eq(is_strategy_parse(buf, &s2, &err), 0, "'%s': %s", buf, err.msg);
        is_strategy_format(&s2, buf2, sizeof buf2);
        cr_assert_str_eq(buf2, buf, "the canonical form must parse back to itself");
    }
}

Test(strategies, bad_specs_name_what_is_wrong) {
    const char *bad[][2] = {{"beam:w=0", "w=0"},          {"beam:w=2.5", "integer"},      {"beam:k=2", "unknown key 'k'"},
                            {"spec:k=0,draft=self", "k=0"}, {"spec:k=2", "needs draft"}, {"spec", "needs a draft"},
                            {"spec:k=2,draft=", "draft needs a model"}, {"sample:minp=2", "minp=2"},
                            {"sample:rep=0", "rep=0"},    {"spec:k=2,draft=self,k=3", "twice"},
                            {"beam:w=2,lp=x", "lp=x"},   {"spec:k=2,draft=self,dseed=-1", "dseed"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        is_strategy s;
        is_err err = {{0}};
        cr_assert_eq(is_strategy_parse(bad[i][0], &s, &err), -1, "'%s' accepted", bad[i][0]);
        cr_assert(strstr(err.msg, bad[i][1]), "'%s': '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    }
}

Test(strategies, a_draft_with_another_vocabulary_is_refused) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 81), *dm = small_vocab_model(100, 82);
    is_session *s = session(m, 4, 2), *ds = session(dm, 4, 2);
    int32_t p[3] = {1, 2, 3};
    const int32_t *prompts[] = {p};
    int lens[] = {3};
    is_gen_opts go = {.n_gen = 4, .draft = ds, .spec_k = 2};
    is_gen_result res;
    is_err err = {{0}};
    cr_assert_eq(is_generate(s, 1, prompts, lens, &go, NULL, NULL, &res, &err), -1);
    cr_assert(strstr(err.msg, "vocabulary has 100 tokens, the target's 512"), "%s", err.msg);
    assert_no_blocks_held(s, "target");
    is_session_free(s);
    is_session_free(ds);
    is_model_free(m);
    is_model_free(dm);
}

Test(strategies, cli_runs_strategies_and_refuses_bad_ones) {
    struct {
        const char *strategy;
        int status;
        const char *in_err;
    } cases[] = {
        {"beam:w=0", 2, "w=0"},
        {"spec:k=0,draft=self", 2, "k=0"},
        {"spec:k=2,draft=preset:smollm2-135m", 1, "must share the target's vocabulary"},
        {"beam:w=4", 1, "does not fit the KV cache"},
        {"nucleus", 2, "unknown strategy"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"generate", "-m", "preset:tiny", "--prompt-len", "40", "-n", "8", "--strategy",
                              cases[i].strategy, "--kv-budget", "0.02", "--print-ids", NULL};
        tu_run r = tu_run_cli(args);
        cr_assert_eq(r.status, cases[i].status, "%s: exit %d, stderr %s", cases[i].strategy, r.status, r.err);
        cr_assert(strstr(r.err, cases[i].in_err), "%s: %s", cases[i].strategy, r.err);
        tu_run_free(&r);
    }
    // the same ids from greedy, speculative greedy and a width-1 beam
    const char *specs[] = {"greedy", "spec:k=3,draft=self", "spec:k=2,draft=preset:tiny,dseed=9", "beam:w=1"};
    char *first = NULL;
    for (size_t i = 0; i < 4; i++) {
        const char *args[] = {"generate", "-m", "preset:tiny", "--prompt-len", "12", "-n", "12", "--ignore-eos",
                              "--strategy", specs[i], "--print-ids", "-q", NULL};
        tu_run r = tu_run_cli(args);
        cr_assert_eq(r.status, 0, "%s: %s", specs[i], r.err);
        char *nl = strchr(r.out, '\n');
        cr_assert(nl);
        *nl = 0;
        if (!first) first = strdup(r.out);
        else cr_assert_str_eq(r.out, first, "%s", specs[i]);
        tu_run_free(&r);
    }
    free(first);
}

Test(strategies, bench_sweeps_strategies_with_their_statistics) {
    char dir[256];
    tu_mkdtemp(dir, sizeof dir);
    char out[300];
    snprintf(out, sizeof out, "%s/run", dir);
    const char *args[] = {"bench", "-m", "preset:tiny", "-p", "8", "-n", "6", "-r", "2", "--max-reps", "2",
                          "--warmup", "0", "--no-probe", "--strategy",
                          "greedy,spec:k=3,draft=self,spec:k=2,draft=preset:tiny,dseed=5,beam:w=2",
                          "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    char path[400];
    snprintf(path, sizeof path, "%s/results.json", out);
    size_t len;
    char *text = tu_read_file(path, &len);
    cr_assert(text);
    cJSON *doc = cJSON_Parse(text);
    cr_assert(doc);
    const cJSON *pt;
    int n_pts = 0;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItem(doc, "points")) {
        const char *st = cJSON_GetObjectItem(cJSON_GetObjectItem(pt, "config"), "strategy")->valuestring;
        cr_assert_str_eq(cJSON_GetObjectItem(pt, "status")->valuestring, "ok", "%s", st);
        const cJSON *acc = cJSON_GetObjectItem(cJSON_GetObjectItem(pt, "samples"), "spec_acceptance");
        cr_assert_eq(acc != NULL, strncmp(st, "spec:", 5) == 0, "%s: speculative statistics only for spec", st);
        const cJSON *v;
        cJSON_ArrayForEach(v, acc) { // the target drafting for itself accepts everything
            if (strstr(st, "draft=self")) cr_assert_eq(v->valuedouble, 1.0, "%s", st);
            else cr_assert(v->valuedouble >= 0 && v->valuedouble <= 1, "%s", st);
        }
        n_pts++;
    }
    cr_assert_eq(n_pts, 4);
    cJSON_Delete(doc);
    free(text);
    // a draft with another vocabulary: refused before anything is written
    snprintf(out, sizeof out, "%s/bad", dir);
    const char *bad[] = {"bench", "-m", "preset:tiny", "-p", "8", "-n", "4", "--no-probe", "--strategy",
                         "spec:k=2,draft=preset:smollm2-135m", "--out", out, NULL};
    r = tu_run_cli(bad);
    cr_assert_eq(r.status, 1, "%s", r.err);
    cr_assert(strstr(r.err, "must share the target's vocabulary"), "%s", r.err);
    snprintf(path, sizeof path, "%s/results.json", out);
    char *none = tu_read_file(path, &len);
    cr_assert_null(none, "a results file was written for a refused sweep");
    tu_run_free(&r);
    tu_rm_rf(dir);
}
