// test_bench.c — the benchmark harness's pieces: metric definitions on synthetic
// timestamps, the bytes/FLOPs model against hand-computed values, the list
// syntax of the axes, strategy specs, kernel variant specs, and generation that
// continues a pre-filled context (--depth).
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/costmodel.h"
#include "bench/metrics.h"
#include "bench/sweep.h"
#include "engine/inferscope.h"
#include "engine/strategy.h"
#include "support/testutil.h"

// ---- metrics ---------------------------------------------------------------------------
// Times are exact binary fractions, so the checks hold to the last bit (1e-12 leaves
// room for the subtractions' rounding anyway).
#define T_EPS 1e-12

Test(metrics, single_token_steps) {
    // submitted at 0.5; tokens at 1.0, 1.25, 1.5, 2.0
    double t[] = {1.0, 1.25, 1.5, 2.0}, gaps[4];
    is_req_metrics m;
    is_req_metrics_compute(0.5, t, 4, &m);
    cr_assert_float_eq(m.ttft, 0.5, T_EPS);
    cr_assert_float_eq(m.e2e, 1.5, T_EPS);
    cr_assert_float_eq(m.tpot, (2.0 - 1.0) / 3, T_EPS);
    cr_assert_eq(is_itl_gaps(t, 4, gaps), 3);
    cr_assert_float_eq(gaps[0], 0.25, T_EPS);
    cr_assert_float_eq(gaps[1], 0.25, T_EPS);
    cr_assert_float_eq(gaps[2], 0.5, T_EPS);
}

Test(metrics, step_delivering_several_tokens) {
    // one step delivers three tokens at 1.5 (as a speculative step would): TPOT
    // spreads the time over the tokens, ITL keeps the zero gaps and the long one
    double t[] = {1.0, 1.5, 1.5, 1.5, 2.5}, gaps[5];
    is_req_metrics m;
    is_req_metrics_compute(0.0, t, 5, &m);
    cr_assert_float_eq(m.ttft, 1.0, T_EPS);
    cr_assert_float_eq(m.tpot, 1.5 / 4, T_EPS);
    cr_assert_float_eq(m.e2e, 2.5, T_EPS);
    cr_assert_eq(is_itl_gaps(t, 5, gaps), 4);
    double want[] = {0.5, 0.0, 0.0, 1.0};
    for (int i = 0; i < 4; i++) cr_assert_float_eq(gaps[i], want[i], T_EPS, "gap %d", i);
    // TPOT is not the mean ITL pooled over requests when requests differ in length:
    // here it is per request; the mean of the gaps equals it for one request
    double mean = (gaps[0] + gaps[1] + gaps[2] + gaps[3]) / 4;
    cr_assert_float_eq(mean, m.tpot, T_EPS);
}

Test(metrics, one_token) {
    double t[] = {0.75}, gaps[1];
    is_req_metrics m;
    is_req_metrics_compute(0.25, t, 1, &m);
    cr_assert_float_eq(m.ttft, 0.5, T_EPS);
    cr_assert_float_eq(m.e2e, 0.5, T_EPS);
    cr_assert(isnan(m.tpot), "TPOT of a one-token request is undefined");
    cr_assert_eq(is_itl_gaps(t, 1, gaps), 0);
}

// ---- cost model --------------------------------------------------------------------------
// preset:tinyllama-1.1b: D 2048, F 5632, 22 layers, 32 heads, 4 KV heads, head_dim 64,
// vocab 32000, untied, no biases. By hand:
//   one layer's matrices: q 2048*2048 + k,v 2*2048*256 + o 2048*2048 + gate,up,down 3*2048*5632
//     = 4194304 + 1048576 + 4194304 + 34603008 = 44040192
//   22 layers: 968884224; lm_head 32000*2048 = 65536000; matrices 1034420224
//   vectors (F32): 22 * 2 * 2048 + 2048 = 92160
//   (check: + embedding 65536000 = 1100048384, TinyLlama's published parameter count)
//   BF16 weight bytes: 1034420224 * 2 + 92160 * 4 = 2069209088
//   KV per token, F32 cache: 2 * 22 * 256 * 4 = 45056 bytes
// point B = 2, P = 128, G = 33, d = 64:
//   32 decode steps; step s reads 2 * (64 + 128 + s) tokens of KV; mean context
//   64 + 128 + 33/2 = 208.5 -> KV read 2 * 208.5 * 45056 = 18788352 per step
//   KV written 2 * 45056 = 90112; embedding rows 2 * 2048 * 2 = 8192
//   bytes per step: 2069209088 + 8192 + 18788352 + 90112 = 2088095744
//   prefill FLOPs: 2 * 968884224 * 2 * 128 + 2 * 65536000 * 2
//     + 4 * 32 * 64 * 22 * 2 * (128 * 64 + 128 * 129 / 2)
//     = 496068722688 + 262144000 + 180224 * 2 * 16448 = 502259515392
//   decode FLOPs per step: 2 * 1034420224 * 2 + 180224 * 2 * 208.5 = 4212834304
Test(costmodel, tinyllama_by_hand) {
    const is_preset *p = is_preset_find("tinyllama-1.1b");
    cr_assert_not_null(p);
    is_cost c;
    is_cost_compute(&p->cfg, IS_DTYPE_BF16, 4.0, 2, 128, 33, 64, &c);
    // every value is an integer below 2^53: exact in double
    cr_assert_eq(c.weight_bytes, 2069209088.0);
    cr_assert_eq(c.kv_bytes_per_token, 45056.0);
    cr_assert_eq(c.decode_steps, 32);
    cr_assert_eq(c.decode_kv_read_bytes_per_step, 18788352.0);
    cr_assert_eq(c.decode_kv_write_bytes_per_step, 90112.0);
    cr_assert_eq(c.decode_bytes_per_step, 2088095744.0);
    cr_assert_eq(c.prefill_flops, 502259515392.0);
    cr_assert_eq(c.decode_flops_per_step, 4212834304.0);
    // the whole model but the embedding table is what is_config_n_params counts less it
    double mat_and_vec = is_config_n_params(&p->cfg) - 32000.0 * 2048;
    cr_assert_eq(mat_and_vec, 1034420224.0 + 92160.0);
}

// The same model's weights in the quantized formats, by hand: 1034420224 matrix
// weights (968884224 in the layers + the 32000 x 2048 lm_head), in 426240 rows
// (22 x (2048 + 2 x 256 + 2 x 5632 + 2048 + 2048) + 32000), and 368640 bytes of F32
// vectors.
//   Q8_0: 34 bytes per 32 weights: 1034420224 / 32 x 34 = 1099071488 (+ vectors 1099440128)
//   Q4_0: 18 bytes per 32: 581861376 (+ vectors 582230016)
//   INT8: 1 per weight + a 4-byte scale per row: 1034420224 + 4 x 426240 (+ vectors 1036493824)
// Two embedding rows a step (batch 2): Q8_0 2 x 64 x 34 = 4352 bytes.
Test(costmodel, quantized_formats_by_hand) {
    const is_preset *p = is_preset_find("tinyllama-1.1b");
    is_cost c;
    is_cost_compute(&p->cfg, IS_DTYPE_Q8_0, 4.0, 2, 128, 33, 64, &c);
    cr_assert_eq(c.weight_bytes, 1099440128.0);
    cr_assert_eq(c.decode_bytes_per_step, 1099440128.0 + 4352 + 18788352.0 + 90112.0);
    is_cost_compute(&p->cfg, IS_DTYPE_Q4_0, 4.0, 2, 128, 33, 64, &c);
    cr_assert_eq(c.weight_bytes, 582230016.0);
    is_cost_compute(&p->cfg, IS_DTYPE_I8, 4.0, 2, 128, 33, 64, &c);
    cr_assert_eq(c.weight_bytes, 1036493824.0);
    // FLOPs do not depend on the format
    cr_assert_eq(c.prefill_flops, 502259515392.0);
}

Test(costmodel, prefill_only_and_tied) {
    const is_preset *p = is_preset_find("llama-3.2-1b"); // tied embeddings: lm_head is the table, read once
    is_cost c;
    is_cost_compute(&p->cfg, IS_DTYPE_BF16, 2.0, 1, 16, 1, 0, &c);
    cr_assert_eq(c.decode_steps, 0);
    cr_assert_eq(c.decode_bytes_per_step, 0.0);
    // 16 layers of 2048*2048*2 + 2*2048*512 + 3*2048*8192 = 60817408; lm_head 128256*2048
    double mats = 16 * 60817408.0 + 128256.0 * 2048;
    cr_assert_eq(c.weight_bytes, mats * 2 + (16 * 2 * 2048 + 2048) * 4.0);
    double attn = 4.0 * 32 * 64 * 16 * (16 * 17 / 2);
    cr_assert_eq(c.prefill_flops, 2 * 16 * 60817408.0 * 16 + 2 * 128256.0 * 2048 + attn);
}

// ---- lists -------------------------------------------------------------------------------

static void expect_list(const char *s, const int *want, int n_want) {
    int *v, n;
    is_err err;
    cr_assert_eq(is_list_parse_ints("-b", s, 0, 1 << 24, &v, &n, &err), 0, "%s: %s", s, err.msg);
    cr_assert_eq(n, n_want, "%s: %d values", s, n);
    for (int i = 0; i < n; i++) cr_assert_eq(v[i], want[i], "%s: value %d", s, i);
    free(v);
}

static void expect_list_error(const char *s, const char *needle) {
    int *v, n;
    is_err err = {{0}};
    cr_assert_eq(is_list_parse_ints("-p", s, 1, 1 << 24, &v, &n, &err), -1, "'%s' accepted", s);
    cr_assert(strstr(err.msg, needle), "'%s': message '%s' lacks '%s'", s, err.msg, needle);
    cr_assert(strstr(err.msg, "-p"), "message names the flag: %s", err.msg);
    cr_assert_null(v);
}

// MBU and MFU from synthetic medians and probes: each is the model's figure over
// the probed ceiling (the read bandwidth; the compute peak of the matmul's unit,
// never the engine's own matmul rate), and a refused or missing ceiling gives none.
Test(costmodel, derived_against_the_probed_ceilings) {
    is_cost cost = {.decode_steps = 10, .decode_bytes_per_step = 2e9, .prefill_flops = 4e12};
    cJSON *probes = cJSON_Parse("{\"mem\": {\"peak_gbs\": 50, \"copy_gbs\": 90}, "
                                "\"compute\": {\"peak_gflops\": 2000, \"matmul_unit\": \"fma_f32_avx2\"}, "
                                "\"matmul\": {\"gflops\": 1500}}");
    cr_assert_not_null(probes);
    is_derived d;
    // prefill of 4e12 FLOPs in 2.5 s: 1600 GFLOP/s, 80% of the peak (not 107% of the matmul rate)
    is_cost_derive(&cost, 2500, 1000, probes, &d);
    cr_assert_float_eq(d.prefill_gflops, 1600, 1e-9);
    cr_assert_float_eq(d.mfu, 0.8, 1e-12);
    // decode: 10 steps x 2e9 bytes in 1 s: 20 GB/s, 40% of the read ceiling (not of the copy figure)
    cr_assert_float_eq(d.decode_gbs, 20, 1e-9);
    cr_assert_float_eq(d.mbu, 0.4, 1e-12);
    // the bound: any prefill no faster than the peak reads at most 100%
    for (double ms = 2000; ms <= 64000; ms *= 2) {
        is_cost_derive(&cost, ms, 1000, probes, &d);
        cr_assert(d.mfu <= 1.0 && d.mfu > 0, "%g ms: MFU %g", ms, d.mfu);
    }
    // no compute peak (refused, or not measured): no MFU, whatever the matmul rate
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(probes, "compute"), "peak_gflops");
    is_cost_derive(&cost, 2500, 1000, probes, &d);
    cr_assert(isnan(d.mfu), "MFU %g without a peak", d.mfu);
    cr_assert_float_eq(d.mbu, 0.4, 1e-12);
    // no decode steps: no decode figures
    cost.decode_steps = 0;
    is_cost_derive(&cost, 2500, NAN, probes, &d);
    cr_assert(isnan(d.decode_gbs) && isnan(d.mbu));
    cJSON_Delete(probes);
}

Test(lists, values_and_ranges) {
    expect_list("1,8,32", (int[]){1, 8, 32}, 3);
    expect_list("128-2048*2", (int[]){128, 256, 512, 1024, 2048}, 5);
    expect_list("128-1000*2", (int[]){128, 256, 512}, 3);
    expect_list("128-512+128", (int[]){128, 256, 384, 512}, 4);
    expect_list("1,4-16*4,100", (int[]){1, 4, 16, 100}, 4);
    expect_list("0", (int[]){0}, 1);
    expect_list("7-7*2", (int[]){7}, 1);
}

Test(lists, bad_input) {
    expect_list_error("", "empty");
    expect_list_error("1,,2", "empty item");
    expect_list_error("8,", "empty item");
    expect_list_error("abc", "not a number");
    expect_list_error("2048-128*2", "produces no values");
    expect_list_error("1-8*1", "factor");
    expect_list_error("1-8+0", "outside");
    expect_list_error("0", "outside");
    expect_list_error("1-8", "needs a step");
    expect_list_error("4.5", "not a number");
}

Test(lists, strategies_keep_their_commas) {
    char **v;
    int n;
    is_err err;
    cr_assert_eq(is_list_split_strategies("--strategy", "greedy,sample:t=0.8,k=40,p=0.9,sample", &v, &n, &err), 0);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v[0], "greedy");
    cr_assert_str_eq(v[1], "sample:t=0.8,k=40,p=0.9");
    cr_assert_str_eq(v[2], "sample");
    is_list_free(v, n);
    cr_assert_eq(is_list_split_strategies("--strategy", "greedy,,sample", &v, &n, &err), -1);
}

// ---- strategies ----------------------------------------------------------------------------

Test(strategy, parse_and_format) {
    is_strategy s;
    is_err err;
    char buf[128];
    cr_assert_eq(is_strategy_parse("greedy", &s, &err), 0);
    cr_assert_eq(s.kind, IS_STRATEGY_GREEDY);
    cr_assert_eq(s.sampler.temperature, 0.0f);
    cr_assert_eq(is_strategy_parse("sample", &s, &err), 0);
    cr_assert_eq(s.sampler.temperature, IS_SAMPLE_DEFAULT_T);
    cr_assert_eq(s.sampler.top_k, IS_SAMPLE_DEFAULT_K);
    is_strategy_format(&s, buf, sizeof buf);
    cr_assert_str_eq(buf, "sample:t=0.8,k=40,p=0.95");
    cr_assert_eq(is_strategy_parse("sample:p=0.5,t=1.5,seed=7", &s, &err), 0, "%s", err.msg);
    is_strategy_format(&s, buf, sizeof buf);
    cr_assert_str_eq(buf, "sample:t=1.5,k=40,p=0.5,seed=7");
    // the canonical form parses back to itself
    is_strategy s2;
    cr_assert_eq(is_strategy_parse(buf, &s2, &err), 0);
    cr_assert_eq(memcmp(&s.sampler, &s2.sampler, sizeof s.sampler), 0);
}

Test(strategy, bad_specs) {
    const char *bad[][2] = {{"", "empty"},           {"greedy:t=1", "no parameters"}, {"beem", "unknown strategy"},
                            {"sample:", "nothing after"}, {"sample:t", "key=value"},  {"sample:t=-1", "t=-1"},
                            {"sample:k=1.5", "integer"}, {"sample:p=0", "p=0"},        {"sample:q=1", "unknown key"},
                            {"sample:t=1,t=2", "twice"}, {"sample:seed=-3", "seed"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        is_strategy s;
        is_err err = {{0}};
        cr_assert_eq(is_strategy_parse(bad[i][0], &s, &err), -1, "'%s' accepted", bad[i][0]);
        cr_assert(strstr(err.msg, bad[i][1]), "'%s': '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    }
}

// ---- kernel variants -----------------------------------------------------------------------

Test(kernels, spec_errors_and_selection_gives_same_logits) {
    is_backend *be = tu_backend();
    is_err err = {{0}};
    cr_assert_eq(is_kernel_spec_check(be, "default", &err), 0);
    cr_assert_eq(is_kernel_spec_check(be, "matmul=gemv", &err), 0, "%s", err.msg);
    cr_assert_eq(is_kernel_spec_check(be, "attention=x", &err), -1);
    cr_assert(strstr(err.msg, "no op 'attention'") && strstr(err.msg, "matmul=auto|gemv|gemm"), "%s", err.msg);
    cr_assert_eq(is_kernel_spec_check(be, "matmul=fast", &err), -1);
    cr_assert(strstr(err.msg, "no variant 'fast'"), "%s", err.msg);
    cr_assert_eq(is_kernel_spec_check(be, "matmul=gemv+matmul=gemm", &err), -1);
    cr_assert(strstr(err.msg, "twice"), "%s", err.msg);
    cr_assert_eq(is_kernel_spec_check(be, "matmul", &err), -1);

    // a prefill of 40 tokens goes through our GEMM by default; forced GEMV computes the
    // same sums in another order: F32 rounding, 1e-4 relative to the logit scale
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    int V = m->cfg.vocab_size, n = 40;
    int32_t tok[40], seqv[40];
    bool want[40] = {0};
    want[n - 1] = true;
    for (int i = 0; i < n; i++) tok[i] = (i * 37 + 5) % V;
    float *a = malloc(sizeof(float) * V), *b = malloc(sizeof(float) * V);
    const char *specs[] = {"default", "matmul=gemv"};
    float *outs[] = {a, b};
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(is_kernel_spec_apply(be, specs[k], &err), 0);
        is_session *s;
        is_session_opts so = {0};
        cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
        int sq = is_seq_new(s, &err);
        for (int i = 0; i < n; i++) seqv[i] = sq;
        cr_assert_eq(is_forward(s, n, tok, seqv, want, outs[k], &err), 0, "%s", err.msg);
        is_session_free(s);
    }
    float scale = 0;
    for (int i = 0; i < V; i++) scale = fmaxf(scale, fabsf(a[i]));
    for (int i = 0; i < V; i++) cr_assert(fabsf(a[i] - b[i]) <= 1e-4f * scale, "logit %d: %g vs %g", i, a[i], b[i]);
    free(a);
    free(b);
    is_model_free(m);
    be->destroy(be);
}

// ---- continuing a context (bench --depth) ------------------------------------------------------

Test(generate, continued_context_equals_one_long_prompt) {
    is_backend *be = tu_backend();
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 3);
    is_err err = {{0}};
    int V = m->cfg.vocab_size, depth = 21, plen = 9, gen = 6;
    int32_t ctx[30];
    for (int i = 0; i < depth + plen; i++) ctx[i] = (i * 53 + 11) % V;
    is_session *s;
    is_session_opts so = {0};
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0);
    // reference: the whole context as one prompt
    const int32_t *pr[1] = {ctx};
    int lens[1] = {depth + plen};
    is_gen_opts go = {.n_gen = gen, .ignore_eos = true};
    is_gen_result ref, got;
    cr_assert_eq(is_generate(s, 1, pr, lens, &go, NULL, NULL, &ref, &err), 0, "%s", err.msg);
    // the first depth tokens pre-filled, then the prompt generated after them, twice
    int sq = is_seq_new(s, &err);
    int32_t seqv[21];
    for (int i = 0; i < depth; i++) seqv[i] = sq;
    cr_assert_eq(is_forward(s, depth, ctx, seqv, NULL, NULL, &err), 0, "%s", err.msg);
    int free_before = is_session_kv(s)->n_free;
    pr[0] = ctx + depth;
    lens[0] = plen;
    go.seqs = &sq;
    for (int rep = 0; rep < 2; rep++) {
        cr_assert_eq(is_generate(s, 1, pr, lens, &go, NULL, NULL, &got, &err), 0, "%s", err.msg);
        cr_assert_eq(got.n_tokens[0], gen);
        for (int j = 0; j < gen; j++) cr_assert_eq(got.tokens[0][j], ref.tokens[0][j], "rep %d token %d", rep, j);
        cr_assert_eq(got.n_prompt_tokens, plen, "only the prompt counts as prefill");
        is_gen_result_free(&got);
        // the sequence is back at its depth, its later blocks returned
        cr_assert_eq(is_seq_len(s, sq), depth);
        cr_assert_eq(is_session_kv(s)->n_free, free_before);
    }
    // a continued request past the context is refused and leaves the sequence alone
    int32_t longp[1] = {1};
    pr[0] = longp;
    lens[0] = 1;
    go.n_gen = m->cfg.max_pos;
    cr_assert_eq(is_generate(s, 1, pr, lens, &go, NULL, NULL, &got, &err), -1);
    cr_assert(strstr(err.msg, "exceed the context"), "%s", err.msg);
    cr_assert_eq(is_seq_len(s, sq), depth);
    is_gen_result_free(&ref);
    is_session_free(s);
    is_model_free(m);
    be->destroy(be);
}
