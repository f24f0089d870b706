// test_scheduler.c — continuous batching (engine/scheduler.c): in batch-invariant
// mode every request's logits and tokens are bitwise those of the same prompt run
// alone, whatever the arrivals, chunking, policy, preemptions and prefix-cache
// hits; in the default mode greedy tokens agree wherever the alone run's top-2
// gap is clear; the token budget and request cap hold at every step; no KV block
// leaks; the prefix cache's bookkeeping (hits, eviction) is right.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/scheduler.h"
#include "support/testutil.h"

#define N_REQ 10
#define MAX_GEN 9

static is_backend *be;
static is_model *m;
static int V;

static void setup(void) {
    be = tu_backend();
    m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 7);
    V = m->cfg.vocab_size;
}
static void teardown(void) {
    is_model_free(m);
    be->destroy(be);
}

TestSuite(scheduler, .init = setup, .fini = teardown, .timeout = 600);

// The workload: prompts of 1..70 tokens; requests 6..9 start with one of two
// shared 40-token prefixes, so the prefix cache has something to find.
typedef struct workload {
    int32_t *prompt[N_REQ];
    int len[N_REQ], n_gen[N_REQ];
} workload;

static void make_workload(workload *w, uint64_t seed) {
    is_rng r;
    is_rng_seed(&r, seed);
    int32_t shared[2][40];
    for (int p = 0; p < 2; p++)
        for (int j = 0; j < 40; j++) shared[p][j] = (int32_t)(is_rng_next(&r) % (uint64_t)V);
    for (int i = 0; i < N_REQ; i++) {
        int own = 1 + (int)(is_rng_next(&r) % 30);
        w->len[i] = i >= 6 ? 40 + own : (i == 0 ? 1 : own + (i == 3 ? 40 : 0));
        w->n_gen[i] = 1 + (int)(is_rng_next(&r) % MAX_GEN);
        w->prompt[i] = malloc((size_t)w->len[i] * sizeof(int32_t));
        int j = 0;
        if (i >= 6)
            for (; j < 40; j++) w->prompt[i][j] = shared[i % 2][j];
        for (; j < w->len[i]; j++) w->prompt[i][j] = (int32_t)(is_rng_next(&r) % (uint64_t)V);
    }
}

static void free_workload(workload *w) {
    for (int i = 0; i < N_REQ; i++) free(w->prompt[i]);
}

// What a run saw: every request's tokens and the logits before each.
typedef struct record {
    int32_t tok[N_REQ][MAX_GEN];
    int n_out[N_REQ];
    float *logits[N_REQ]; // [MAX_GEN * V]
    int id_to_req[N_REQ]; // scheduler id -> workload index
    long preemptions, hits, steps;
} record;

static void on_logits(void *user, int id, int index, const float *lg, int vocab) {
    record *rec = user;
    int i = rec->id_to_req[id];
    cr_assert_lt(index, MAX_GEN);
    memcpy(rec->logits[i] + (size_t)index * vocab, lg, (size_t)vocab * sizeof(float));
}

static void record_init(record *rec) {
    memset(rec, 0, sizeof *rec);
    for (int i = 0; i < N_REQ; i++) rec->logits[i] = calloc((size_t)MAX_GEN * V, sizeof(float));
}

static void record_free(record *rec) {
    for (int i = 0; i < N_REQ; i++) free(rec->logits[i]);
}

typedef struct run_cfg {
    int max_seqs, max_batch_tokens, prefill_chunk;
    is_sched_policy policy;
    bool prefix_cache;
    double kv_mib;       // KV budget (small: preemptions)
    int arrive_every;    // submit request k at step k * arrive_every (0: all at once)
    int only;            // >= 0: run this request alone
    float temperature;
} run_cfg;

// Runs the workload under cfg; checks the budget, the cap and that no block leaks.
static void run(const workload *w, const run_cfg *cfg, record *rec) {
    is_session_opts so = {.kv_budget_mib = cfg->kv_mib > 0 ? cfg->kv_mib : 64, .block_size = 16, .max_seqs = 16,
                          .max_batch_tokens = 64};
    is_session *s;
    is_err err = {{0}};
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
    is_sched_opts o = {.max_seqs = cfg->max_seqs, .max_batch_tokens = cfg->max_batch_tokens,
                       .prefill_chunk = cfg->prefill_chunk, .policy = cfg->policy, .prefix_cache = cfg->prefix_cache,
                       .ignore_eos = true, .sampler = {.temperature = cfg->temperature, .top_k = 50, .top_p = 0.9f,
                                                       .seed = 11},
                       .on_logits = on_logits, .user = rec};
    is_sched *sc;
    cr_assert_eq(is_sched_create(s, &o, &sc, &err), 0, "%s", err.msg);
    int next = 0, step = 0;
    int first = cfg->only >= 0 ? cfg->only : 0, last = cfg->only >= 0 ? cfg->only + 1 : N_REQ;
    next = first;
    while (next < last || is_sched_pending(sc) > 0) {
        while (next < last && (cfg->arrive_every == 0 || step >= (next - first) * cfg->arrive_every)) {
            int id = is_sched_submit(sc, w->prompt[next], w->len[next], w->n_gen[next], (uint64_t)next, &err);
            cr_assert_geq(id, 0, "%s", err.msg);
            rec->id_to_req[id] = next;
            next++;
        }
        is_sched_step_info info;
        cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
        int budget = o.max_batch_tokens > 0 ? o.max_batch_tokens : so.max_batch_tokens;
        cr_assert_leq(info.prefill_tokens + info.decode_tokens, budget, "step %d: over the token budget", step);
        if (o.max_seqs > 0) cr_assert_leq(info.running, o.max_seqs, "step %d: over the request cap", step);
        step++;
        cr_assert_lt(step, 100000, "no progress");
    }
    for (int id = 0; id < is_sched_n_requests(sc); id++) {
        const is_sched_req *r = is_sched_request(sc, id);
        int i = rec->id_to_req[id];
        cr_assert_eq(r->state, IS_REQ_DONE);
        cr_assert_eq(r->n_out, w->n_gen[i], "ignore_eos: every request generates n_gen");
        rec->n_out[i] = r->n_out;
        memcpy(rec->tok[i], r->tokens + r->n_prompt, (size_t)r->n_out * sizeof(int32_t));
        cr_assert(r->t_submit <= r->t_scheduled && r->t_scheduled <= r->token_time[0] &&
                  r->token_time[r->n_out - 1] == r->t_done);
    }
    const is_sched_stats *st = is_sched_get_stats(sc);
    rec->preemptions = st->preemptions;
    rec->hits = st->prefix_hit_tokens;
    rec->steps = st->steps;
    is_sched_free(sc);
    // every block is back: only the prefix cache may hold some, and it lets them go
    const is_kv_cache *kv = is_session_kv(s);
    cr_assert_eq(kv->n_free + kv->n_evictable, kv->n_blocks, "blocks held after the run: %d free, %d cached of %d",
                 kv->n_free, kv->n_evictable, kv->n_blocks);
    is_session_prefix_evict_all(s);
    cr_assert_eq(kv->n_free, kv->n_blocks);
    is_session_free(s);
}

static void alone(const workload *w, const run_cfg *base, record *ref) {
    for (int i = 0; i < N_REQ; i++) {
        run_cfg c = *base;
        c.only = i;
        c.arrive_every = 0;
        c.prefix_cache = false;
        c.kv_mib = 64;
        record one;
        record_init(&one);
        run(w, &c, &one);
        ref->n_out[i] = one.n_out[i];
        memcpy(ref->tok[i], one.tok[i], sizeof ref->tok[i]);
        memcpy(ref->logits[i], one.logits[i], (size_t)MAX_GEN * V * sizeof(float));
        record_free(&one);
    }
}

static void assert_bitwise(const workload *w, const record *ref, const record *got, const char *what) {
    for (int i = 0; i < N_REQ; i++) {
        cr_assert_eq(got->n_out[i], ref->n_out[i], "%s: request %d", what, i);
        for (int t = 0; t < ref->n_out[i]; t++) {
            cr_assert_eq(got->tok[i][t], ref->tok[i][t], "%s: request %d token %d", what, i, t);
            cr_assert(!memcmp(got->logits[i] + (size_t)t * V, ref->logits[i] + (size_t)t * V, (size_t)V * sizeof(float)),
                      "%s: request %d (prompt %d tokens): logits of token %d differ from the run alone", what, i,
                      w->len[i], t);
        }
    }
}

// Batch-invariant mode: the same bits under every schedule, for greedy and sampling.
static void invariant_under_schedules(float temperature) {
    be->batch_invariant = true;
    workload w;
    make_workload(&w, 3);
    run_cfg base = {.only = -1, .temperature = temperature};
    record ref;
    record_init(&ref);
    alone(&w, &base, &ref);
    const struct {
        const char *what;
        run_cfg c;
    } cases[] = {
        {"all at once, decode-first, chunks of 7", {.max_batch_tokens = 32, .prefill_chunk = 7, .only = -1}},
        {"staggered, prefill-first, chunks of 64",
         {.max_batch_tokens = 64, .policy = IS_SCHED_PREFILL_FIRST, .arrive_every = 2, .only = -1}},
        {"a cap of 3 requests", {.max_seqs = 3, .max_batch_tokens = 48, .prefill_chunk = 16, .only = -1}},
        {"prefix cache, staggered", {.max_batch_tokens = 64, .prefix_cache = true, .arrive_every = 3, .only = -1}},
        // 5 blocks of 16 tokens (the longest request needs 5): requests take blocks from each other
        {"a KV cache of 5 blocks: preemptions", {.max_batch_tokens = 64, .prefill_chunk = 16, .kv_mib = 0.0, .only = -1}},
    };
    // preset:tiny's KV block of 16 tokens: 2 layers x 2 (K, V) x 2 kv heads x 16 dims x 4 bytes x 16 tokens = 8 KiB
    double block_mib = is_kv_block_mib(&m->cfg, 16, IS_DTYPE_F32);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        run_cfg c = cases[k].c;
        c.temperature = temperature;
        if (k == 4) c.kv_mib = 5 * block_mib;
        record got;
        record_init(&got);
        run(&w, &c, &got);
        assert_bitwise(&w, &ref, &got, cases[k].what);
        if (k == 3) cr_assert_gt(got.hits, 0, "the shared prefixes were found in the cache");
        if (k == 4) cr_assert_gt(got.preemptions, 0, "5 blocks force preemptions");
        record_free(&got);
    }
    record_free(&ref);
    free_workload(&w);
}

Test(scheduler, batch_invariant_greedy_is_bitwise_alone) { invariant_under_schedules(0.0f); }

Test(scheduler, batch_invariant_sampling_is_bitwise_alone) { invariant_under_schedules(0.8f); }

// A static batch (is_generate) gives the same greedy tokens as the scheduler in
// batch-invariant mode: stream i is prompt i in both.
Test(scheduler, batch_invariant_equals_static_batch) {
    be->batch_invariant = true;
    workload w;
    make_workload(&w, 5);
    record got;
    record_init(&got);
    run_cfg c = {.max_batch_tokens = 64, .prefill_chunk = 16, .arrive_every = 1, .only = -1};
    run(&w, &c, &got);
    is_session_opts so = {.kv_budget_mib = 64, .block_size = 16, .max_seqs = 16, .max_batch_tokens = 64};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
    for (int i = 0; i < N_REQ; i++) {
        // a static batch of N_REQ prompts, all generating request i's count: compare request i only
        is_gen_opts go = {.n_gen = w.n_gen[i], .ignore_eos = true};
        is_gen_result res;
        cr_assert_eq(is_generate(s, N_REQ, (const int32_t *const *)w.prompt, w.len, &go, NULL, NULL, &res, &err), 0,
                     "%s", err.msg);
        cr_assert_eq(res.n_tokens[i], w.n_gen[i]);
        for (int t = 0; t < w.n_gen[i]; t++)
            cr_assert_eq(res.tokens[i][t], got.tok[i][t], "request %d token %d: static batch vs scheduler", i, t);
        is_gen_result_free(&res);
    }
    is_session_free(s);
    record_free(&got);
    free_workload(&w);
}

// Default mode (the packed GEMM at prefill sizes, GEMV below): rows differ in
// their last bits between batch shapes, so greedy tokens are compared only while
// the alone run's top-2 logit gap exceeds 1e-3 — about 100 times the largest
// difference between the two matmul paths on this model's logits (measured
// below and asserted), so a flip below it is rounding, not a scheduler bug.
Test(scheduler, default_mode_greedy_agrees_where_gap_is_clear) {
    be->batch_invariant = false;
    workload w;
    make_workload(&w, 9);
    run_cfg base = {.only = -1};
    record ref, got;
    record_init(&ref);
    record_init(&got);
    alone(&w, &base, &ref);
    run_cfg c = {.max_batch_tokens = 64, .prefill_chunk = 32, .only = -1};
    run(&w, &c, &got);
    int compared = 0;
    double max_diff = 0;
    for (int i = 0; i < N_REQ; i++) {
        for (int t = 0; t < ref.n_out[i]; t++) {
            const float *a = ref.logits[i] + (size_t)t * V, *b = got.logits[i] + (size_t)t * V;
            float top = -INFINITY, second = -INFINITY;
            for (int v = 0; v < V; v++) {
                if (a[v] > top) {
                    second = top;
                    top = a[v];
                } else if (a[v] > second) {
                    second = a[v];
                }
                double d = fabs((double)a[v] - b[v]);
                if (d > max_diff) max_diff = d;
            }
            if (top - second <= 1e-3f) break; // past a near tie the two runs may go different ways
            cr_assert_eq(got.tok[i][t], ref.tok[i][t], "request %d token %d: gap %.3g", i, t, top - second);
            compared++;
        }
    }
    cr_assert_lt(max_diff, 1e-5, "the matmul paths differ by %.3g in a logit", max_diff);
    cr_assert_gt(compared, N_REQ, "enough tokens compared (%d)", compared);
    record_free(&ref);
    record_free(&got);
    free_workload(&w);
}

// Decode-first puts every running decode in the batch before prompt chunks;
// prefill-first gives a long waiting prompt the budget first.
Test(scheduler, policies_compose_steps_as_documented) {
    be->batch_invariant = false;
    is_session_opts so = {.kv_budget_mib = 64, .block_size = 16, .max_seqs = 16, .max_batch_tokens = 64};
    int32_t shortp[4] = {1, 2, 3, 4}, longp[200];
    for (int j = 0; j < 200; j++) longp[j] = (int32_t)(j * 7 % V);
    for (int pol = 0; pol < 2; pol++) {
        is_session *s;
        is_err err;
        cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
        is_sched_opts o = {.max_batch_tokens = 32, .policy = (is_sched_policy)pol, .ignore_eos = true};
        is_sched *sc;
        cr_assert_eq(is_sched_create(s, &o, &sc, &err), 0, "%s", err.msg);
        for (int i = 0; i < 4; i++) cr_assert_geq(is_sched_submit(sc, shortp, 4, 20, (uint64_t)i, &err), 0);
        is_sched_step_info info;
        cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg); // the 4 prompts: 16 tokens
        cr_assert_eq(info.prefill_tokens, 16);
        cr_assert_eq(info.running, 4);
        cr_assert_geq(is_sched_submit(sc, longp, 200, 2, 9, &err), 0);
        cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
        if (pol == IS_SCHED_DECODE_FIRST) {
            cr_assert_eq(info.decode_tokens, 4, "decode-first: every running decode");
            cr_assert_eq(info.prefill_tokens, 28, "and the rest of the budget to the prompt");
        } else {
            cr_assert_eq(info.prefill_tokens, 32, "prefill-first: the prompt takes the whole budget");
            cr_assert_eq(info.decode_tokens, 0);
        }
        is_sched_free(sc);
        is_session_free(s);
    }
}

Test(scheduler, prefix_cache_reuses_and_evicts) {
    be->batch_invariant = true;
    double block_mib = is_kv_block_mib(&m->cfg, 16, IS_DTYPE_F32);
    is_session_opts so = {.kv_budget_mib = 10 * block_mib, .block_size = 16, .max_seqs = 4, .max_batch_tokens = 64};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
    is_sched_opts o = {.prefix_cache = true, .ignore_eos = true};
    is_sched *sc;
    cr_assert_eq(is_sched_create(s, &o, &sc, &err), 0, "%s", err.msg);
    int32_t p[50];
    for (int j = 0; j < 50; j++) p[j] = (int32_t)(j * 13 % V);
    is_sched_step_info info;
    // first: 50 prompt tokens, 3 full blocks registered; the same prompt again finds all 3 (48 tokens)
    int a = is_sched_submit(sc, p, 50, 1, 0, &err);
    while (is_sched_pending(sc)) cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(is_session_kv(s)->n_cached, 3);
    int b = is_sched_submit(sc, p, 50, 1, 0, &err);
    while (is_sched_pending(sc)) cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(is_sched_request(sc, b)->n_cached, 48);
    cr_assert_eq(is_sched_request(sc, a)->tokens[50], is_sched_request(sc, b)->tokens[50], "same next token");
    // a prompt that differs in its second block shares only the first
    p[20] = (p[20] + 1) % V;
    int c = is_sched_submit(sc, p, 50, 1, 0, &err);
    while (is_sched_pending(sc)) cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(is_sched_request(sc, c)->n_cached, 16);
    // a long unrelated request needs the whole cache: cached blocks are evicted, nothing fails
    int32_t q[150];
    for (int j = 0; j < 150; j++) q[j] = (int32_t)((j * 31 + 5) % V);
    int d = is_sched_submit(sc, q, 150, 5, 1, &err);
    while (is_sched_pending(sc)) cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
    cr_assert_eq(is_sched_request(sc, d)->n_out, 5);
    cr_assert_gt(is_session_kv(s)->n_evicted, 0, "the cache gave blocks back");
    const is_sched_stats *st = is_sched_get_stats(sc);
    cr_assert_eq(st->prefix_hit_tokens, 48 + 16);
    cr_assert_eq(st->prefix_lookup_tokens, 50 + 50 + 50 + 150);
    is_sched_free(sc);
    is_session_prefix_evict_all(s);
    cr_assert_eq(is_session_kv(s)->n_free, is_session_kv(s)->n_blocks);
    is_session_free(s);
}

Test(scheduler, submit_refuses_what_can_never_run) {
    double block_mib = is_kv_block_mib(&m->cfg, 16, IS_DTYPE_F32);
    is_session_opts so = {.kv_budget_mib = 4 * block_mib, .block_size = 16, .max_seqs = 4, .max_batch_tokens = 64};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &so, &s, &err), 0, "%s", err.msg);
    is_sched *sc;
    cr_assert_eq(is_sched_create(s, NULL, &sc, &err), 0, "%s", err.msg);
    int32_t p[100] = {0};
    cr_assert_eq(is_sched_submit(sc, p, 0, 4, 0, &err), -1);
    cr_assert(strstr(err.msg, "empty"), "%s", err.msg);
    cr_assert_eq(is_sched_submit(sc, p, 4, 0, 0, &err), -1);
    p[2] = V;
    cr_assert_eq(is_sched_submit(sc, p, 4, 4, 0, &err), -1);
    cr_assert(strstr(err.msg, "out of range"), "%s", err.msg);
    p[2] = 0;
    cr_assert_eq(is_sched_submit(sc, p, 60, 10, 0, &err), -1, "69 tokens need 5 blocks of a 4-block cache");
    cr_assert(strstr(err.msg, "KV"), "%s", err.msg);
    cr_assert_eq(is_sched_submit(sc, p, 60, 5, 0, &err), 0, "64 tokens fit 4 blocks exactly");
    is_sched_step_info info;
    while (is_sched_pending(sc)) cr_assert_eq(is_sched_step(sc, &info, &err), 0, "%s", err.msg);
    is_sched_free(sc);
    cr_assert_eq(is_sched_create(s, &(is_sched_opts){.max_seqs = 5}, &sc, &err), -1);
    cr_assert(strstr(err.msg, "4 sequences"), "%s", err.msg);
    is_session_free(s);
}
