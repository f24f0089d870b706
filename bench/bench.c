// bench.c — `inferscope bench`: every combination of the axes (batch, prompt,
// generated tokens, context depth, strategy, kernel variant) measured with
// warm-up, repetitions until the noise is low or time runs out, per-token
// timestamps, the analytic cost model and the measured peaks; results written
// after every point so an interrupted sweep resumes where it stopped.
#include "bench/bench.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/nvtx.h"        // defines: is_prof_push, is_prof_pop
#include "bench/sweep.h"      // defines: is_list_free
#include "base/stats.h"       // defines: is_median
#include "bench/costmodel.h"  // defines: is_cost_compute
#include "bench/env.h"        // defines: is_env_capture, is_env_noise_begin, is_env_noise_end
#include "bench/metrics.h"    // defines: is_req_metrics_compute, is_itl_gaps
#include "bench/probe.h"      // defines: is_probe_mem, is_probe_matmul, is_probe_mem_json
#include "bench/profile.h"    // defines: is_bench_prof, is_bench_prof_point (kernel tables, counters)
#include "bench/telemetry.h"  // defines: is_bench_telemetry (NVML through the timed repetitions)
#include "engine/inferscope.h"
#include "engine/strategy.h"
#include "profiles/op_ranges.h" // defines: is_prof_wrap_backend
#include "reports/results.h"
#include "reports/text.h" // defines: is_json_get, is_json_num, is_json_str

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

typedef struct bench_point {
    is_dtype dtype;  // the weights' (the outermost axis: the model is reloaded when it changes)
    int batch, prompt, gen, depth;
    const char *strategy, *kernel;
} bench_point;

// ---- interruption ------------------------------------------------------------------
// The first SIGINT/SIGTERM asks the sweep to stop after the repetition in flight (its
// point is dropped, finished points are already on disk); a second one kills at once.
static volatile sig_atomic_t bench_stop_requested;

static void bench_on_signal(int sig) {
    bench_stop_requested = 1;
    signal(sig, SIG_DFL);
}

// ---- a growable array of samples ----------------------------------------------------
typedef struct bench_series {
    double *v;
    int n, cap;
} bench_series;

static void series_push(bench_series *s, double x) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = is_xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    s->v[s->n++] = x;
}

// The metrics of is_metric_defs, then strategy statistics (speculative decoding
// only: per repetition), kept as samples beside them.
enum { M_TTFT, M_TPOT, M_ITL, M_E2E, M_PREFILL_MS, M_DECODE_MS, M_PREFILL_TPS, M_DECODE_TPS,
       M_SPEC_ACCEPT, M_SPEC_PER_STEP, M_SPEC_DRAFT_MS, M_SPEC_VERIFY_MS, M_COUNT };
static const char *const bench_metric_names[M_COUNT] = {
    "ttft_ms",        "tpot_ms",                "itl_ms",        "e2e_ms",        "prefill_ms",     "decode_ms",
    "prefill_tps",    "decode_tps",             "spec_acceptance", "spec_accepted_per_step", "spec_draft_ms",
    "spec_verify_ms"};

// ---- one point ------------------------------------------------------------------------

typedef struct bench_ctx {
    const is_bench_opts *o;
    is_backend *be;
    is_model *m;
    const cJSON *probes;  // mem.peak_gbs, matmul.gflops (may be absent)
    int index, total;     // for progress lines
    bool tty;
    is_bench_prof *prof;  // kernel tables and counters after the timed repetitions
    is_bench_telemetry *tele; // GPU telemetry through the timed repetitions
    cJSON *run_env;       // this run's environment (the document's, or its last resumed_env)
    is_env_noise_mark noise; // how busy the machine was: "noise" in run_env, updated after each point
} bench_ctx;

static void point_label(const bench_point *p, char *buf, size_t n) {
    snprintf(buf, n, "%s b=%d p=%d n=%d d=%d %s %s", is_dtype_name(p->dtype), p->batch, p->prompt, p->gen, p->depth,
             p->strategy, p->kernel);
}

static cJSON *point_config(const bench_ctx *c, const bench_point *p) {
    is_bench_config cfg = {.model = c->o->model, .backend = c->be->name, .dtype = is_dtype_name(p->dtype),
                           .threads = c->be->n_threads, .batch = p->batch, .prompt = p->prompt, .gen = p->gen,
                           .depth = p->depth, .strategy = p->strategy, .kernel = p->kernel};
    return is_schema_config_json(is_schema_bench_fields, is_schema_n_bench_fields, &cfg);
}

// Token ids drawn uniformly from the vocabulary, one stream per (purpose, sequence).
static void random_ids(int32_t *ids, int n, int vocab, uint64_t seed, uint64_t stream) {
    is_rng r;
    is_rng_seed(&r, seed ^ (0x9e3779b97f4a7c15ULL * (stream + 1)));
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(is_rng_next(&r) % (uint64_t)vocab);
}

// Collects one repetition's samples from a generation.
static void collect_rep(const is_gen_result *res, bench_series *s, double *gap_buf) {
    for (int i = 0; i < res->n_seqs; i++) {
        is_req_metrics rm;
        is_req_metrics_compute(0.0, res->token_time[i], res->n_tokens[i], &rm);
        series_push(&s[M_TTFT], rm.ttft * 1e3);
        series_push(&s[M_E2E], rm.e2e * 1e3);
        if (res->n_tokens[i] >= 2) series_push(&s[M_TPOT], rm.tpot * 1e3);
        int ng = is_itl_gaps(res->token_time[i], res->n_tokens[i], gap_buf);
        for (int g = 0; g < ng; g++) series_push(&s[M_ITL], gap_buf[g] * 1e3);
    }
    series_push(&s[M_PREFILL_MS], res->prefill_s * 1e3);
    series_push(&s[M_PREFILL_TPS], res->prefill_s > 0 ? (double)res->n_prompt_tokens / res->prefill_s : 0.0);
    if (res->n_decode_tokens > 0) {
        series_push(&s[M_DECODE_MS], res->decode_s * 1e3);
        series_push(&s[M_DECODE_TPS], res->decode_s > 0 ? (double)res->n_decode_tokens / res->decode_s : 0.0);
    }
    const is_gen_stats *g = &res->stats;
    if (g->drafted > 0) {
        series_push(&s[M_SPEC_ACCEPT], (double)g->accepted / (double)g->drafted);
        series_push(&s[M_SPEC_PER_STEP], (double)g->accepted / (double)g->rounds);
        series_push(&s[M_SPEC_DRAFT_MS], g->draft_s * 1e3);
        series_push(&s[M_SPEC_VERIFY_MS], g->verify_s * 1e3);
    }
}

static double stat_median(const cJSON *point, const char *metric) {
    return is_json_num(is_json_get(is_json_get(point, "stats"), metric), "median");
}

static double probe_value(const cJSON *probes, const char *probe, const char *field) {
    return is_json_num(is_json_get(probes, probe), field);
}

// The analytic model and what follows from it with the medians and the probes.
static void point_model(const bench_ctx *c, const bench_point *p, const is_session *s, cJSON *point,
                        is_cost *cost_out) {
    is_cost cost;
    is_cost_compute(&c->m->cfg, c->m->wdtype, (double)is_dtype_size(is_session_kv_dtype(s)),
                    p->batch, p->prompt, p->gen, p->depth, &cost);
    *cost_out = cost;
    cJSON *mj = cJSON_AddObjectToObject(point, "model");
    cJSON_AddNumberToObject(mj, "weight_bytes", cost.weight_bytes);
    cJSON_AddNumberToObject(mj, "kv_bytes_per_token", cost.kv_bytes_per_token);
    cJSON_AddNumberToObject(mj, "decode_steps", cost.decode_steps);
    cJSON_AddNumberToObject(mj, "decode_bytes_per_step", cost.decode_bytes_per_step);
    cJSON_AddNumberToObject(mj, "decode_kv_read_bytes_per_step", cost.decode_kv_read_bytes_per_step);
    cJSON_AddNumberToObject(mj, "decode_kv_write_bytes_per_step", cost.decode_kv_write_bytes_per_step);
    cJSON_AddNumberToObject(mj, "decode_flops_per_step", cost.decode_flops_per_step);
    cJSON_AddNumberToObject(mj, "prefill_flops", cost.prefill_flops);

    cJSON *d = cJSON_AddObjectToObject(point, "derived");
    is_derived dv;
    is_cost_derive(&cost, stat_median(point, "prefill_ms"), stat_median(point, "decode_ms"), c->probes, &dv);
    const char *const *key = is_schema_bench_derived;
    is_schema_number(d, key[IS_DERIVED_DECODE_GBS], dv.decode_gbs);
    is_schema_number(d, key[IS_DERIVED_MBU], dv.mbu);
    is_schema_number(d, key[IS_DERIVED_PREFILL_GFLOPS], dv.prefill_gflops);
    is_schema_number(d, key[IS_DERIVED_MFU], dv.mfu);
}

static void progress(const bench_ctx *c, const bench_point *p, int reps, double main_median, const char *unit,
                     double noise, bool final) {
    char label[256];
    point_label(p, label, sizeof label);
    if (c->tty) {
        fprintf(stderr, "\r\033[K[%d/%d] %s: %d reps, %.2f %s, noise %.2f%%%s", c->index, c->total, label, reps,
                main_median, unit, noise * 100, final ? "\n" : "");
    } else if (final) {
        fprintf(stderr, "[%d/%d] %s: %d reps, %.2f %s, noise %.2f%%\n", c->index, c->total, label, reps,
                main_median, unit, noise * 100);
    }
    fflush(stderr);
}


// Measures one point into point (config already set). Returns 0, -1 on an error
// (message in err: the point is recorded as failed), or 1 when interrupted.
static int point_run(bench_ctx *c, const bench_point *p, cJSON *point, is_err *err) {
    const is_bench_opts *o = c->o;
    const is_config *cfg = &c->m->cfg;
    is_strategy strat;
    if (is_strategy_parse(p->strategy, &strat, err)) return -1;
    if (!strat.seed_given) strat.sampler.seed = o->seed;
    if (is_kernel_spec_apply(c->be, p->kernel, err)) return -1;

    int *plens = is_xmalloc((size_t)p->batch * sizeof *plens);
    for (int b = 0; b < p->batch; b++) plens[b] = p->prompt;
    // what the strategy needs, and one block per sequence to spare
    is_strategy_need need = {.n = p->batch, .lens = plens, .held = p->depth, .n_gen = p->gen, .spare_blocks = p->batch};
    is_session_opts so = {.block_size = o->block_size, .max_batch_tokens = o->max_batch_tokens};
    is_session *s = NULL, *ds = NULL;
    is_model *dm = NULL; // the spec draft (may be the target itself)
    if (strat.kind == IS_STRATEGY_SPEC && is_strategy_open_draft(&strat, c->m, (int)c->m->wdtype, o->seed, c->be, &dm, err)) {
        free(plens);
        return -1;
    }
    int src = is_strategy_sessions_open(&strat, c->m, dm, &so, &need, &s, &ds, err);
    free(plens);
    if (src) {
        if (dm != c->m) is_model_free(dm);
        return -1;
    }

    int rc = -1;
    bool act_timed = false; // CUPTI activity on through the timed repetitions
    int32_t **prompts = is_xcalloc((size_t)p->batch, sizeof *prompts);
    int *lens = is_xmalloc((size_t)p->batch * sizeof *lens);
    int *seqs = NULL;
    bench_series series[M_COUNT] = {{0}};
    double *gaps = is_xmalloc((size_t)p->gen * sizeof *gaps);
    for (int b = 0; b < p->batch; b++) {
        prompts[b] = is_xmalloc((size_t)p->prompt * sizeof **prompts);
        lens[b] = p->prompt;
        random_ids(prompts[b], p->prompt, cfg->vocab_size, o->seed, 2 * (uint64_t)b);
    }
    if (p->depth > 0) { // the context every repetition starts from: filled once, not timed
        seqs = is_xmalloc((size_t)p->batch * sizeof *seqs);
        for (int b = 0; b < p->batch; b++) seqs[b] = -1;
        long n = (long)p->batch * p->depth;
        int32_t *tok = is_xmalloc((size_t)n * sizeof *tok), *tseq = is_xmalloc((size_t)n * sizeof *tseq);
        for (int b = 0; b < p->batch; b++) {
            if ((seqs[b] = is_seq_new(s, err)) < 0) {
                free(tok);
                free(tseq);
                goto done;
            }
            random_ids(tok + (long)b * p->depth, p->depth, cfg->vocab_size, o->seed, 2 * (uint64_t)b + 1);
            for (int j = 0; j < p->depth; j++) tseq[(long)b * p->depth + j] = seqs[b];
        }
        is_prof_push(IS_PROF_CONTEXT_FILL, (uint64_t)n);
        int frc = is_forward(s, (int)n, tok, tseq, NULL, NULL, err);
        is_prof_pop(IS_PROF_CONTEXT_FILL);
        free(tok);
        free(tseq);
        if (frc) goto done;
    }
    is_gen_opts go = {.n_gen = p->gen, .ignore_eos = true, .seqs = seqs};
    is_strategy_gen_opts(&strat, ds, &go);
    int main_m = p->gen > 1 ? M_DECODE_TPS : M_PREFILL_TPS;
    const char *unit = "tok/s";
    if (o->activity_timed && c->prof) act_timed = is_bench_prof_timed_begin(c->prof);
    double t0 = is_now_s();
    for (int w = 0; w < o->warmup; w++) {
        is_gen_result res;
        is_prof_push(IS_PROF_REQUEST, (uint64_t)p->batch);
        int grc = is_generate(s, p->batch, (const int32_t *const *)prompts, lens, &go, NULL, NULL, &res, err);
        is_prof_pop(IS_PROF_REQUEST);
        if (grc) goto done;
        is_gen_result_free(&res);
        if (bench_stop_requested) {
            rc = 1;
            goto done;
        }
    }
    is_bench_telemetry_begin(c->tele);
    double t_meas = is_now_s(), tokens = 0;
    int reps = 0;
    const char *stop = NULL;
    double noise = 0;
    while (!stop) {
        is_gen_result res;
        is_prof_push(IS_PROF_REQUEST, (uint64_t)p->batch);
        int grc = is_generate(s, p->batch, (const int32_t *const *)prompts, lens, &go, NULL, NULL, &res, err);
        is_prof_pop(IS_PROF_REQUEST);
        if (grc) goto done;
        collect_rep(&res, series, gaps);
        for (int i = 0; i < res.n_seqs; i++) tokens += res.n_tokens[i];
        is_gen_result_free(&res);
        reps++;
        if (bench_stop_requested) {
            rc = 1;
            goto done;
        }
        const bench_series *ms = &series[main_m];
        noise = is_stop_noise(ms->v, ms->n);
        progress(c, p, reps, is_median(ms->v, ms->n), unit, isfinite(noise) ? noise : 0, false);
        stop = is_stop_rule_check(&o->rule, reps, noise, is_now_s() - t_meas);
    }
    double elapsed = is_now_s() - t0;
    is_bench_telemetry_end(c->tele);
    if (act_timed) {
        is_bench_prof_timed_end(c->prof, c->be, point);
        act_timed = false;
    }
    progress(c, p, reps, is_median(series[main_m].v, series[main_m].n), unit, isfinite(noise) ? noise : 0, true);

    is_schema_run run = {.warmup = o->warmup, .reps = reps, .stop = stop, .noise = noise, .elapsed_s = elapsed};
    cJSON *samples = is_schema_point_ok(point, &run);
    for (int k = 0; k < M_COUNT; k++)
        if (series[k].n > 0)
            cJSON_AddItemToObject(samples, bench_metric_names[k], cJSON_CreateDoubleArray(series[k].v, series[k].n));
    is_results_point_finish(point, o->seed);
    is_cost cost;
    point_model(c, p, s, point, &cost);
    // after the timed repetitions, never inside them: the kernel table's extra
    // repetition and (profile) the counter pass
    is_bench_work work = {.s = s, .batch = p->batch, .prompts = prompts, .lens = lens, .go = &go, .cost = &cost,
                          .prompt = p->prompt, .depth = p->depth, .gen = p->gen};
    if (c->prof) is_bench_prof_point(c->prof, c->be, &work, point);
    is_bench_telemetry_point(c->tele, point, tokens);
    rc = 0;
done:
    is_bench_telemetry_end(c->tele); // an interrupted or failed point: its window is dropped
    if (act_timed) is_bench_prof_timed_end(c->prof, c->be, NULL);
    for (int k = 0; k < M_COUNT; k++) free(series[k].v);
    for (int b = 0; b < p->batch; b++) free(prompts[b]);
    free(prompts);
    free(lens);
    free(gaps);
    if (seqs)
        for (int b = 0; b < p->batch; b++)
            if (seqs[b] >= 0) is_seq_free(s, seqs[b]);
    free(seqs);
    is_session_free(s);
    is_session_free(ds);
    if (dm != c->m) is_model_free(dm);
    is_err ignored;
    is_kernel_spec_apply(c->be, "default", &ignored);
    return rc;
}

// ---- the sweep description (compared on --resume) -----------------------------------------

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *sweep_json(const is_bench_opts *o, const is_backend *be, const is_model *m) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "model", o->model);
    if (o->profile) cJSON_AddStringToObject(s, "command", "profile"); // the report's title
    cJSON *axes = cJSON_AddObjectToObject(s, "axes");
    cJSON_AddItemToObject(axes, "batch", int_array(o->batch, o->n_batch));
    cJSON_AddItemToObject(axes, "prompt", int_array(o->prompt, o->n_prompt));
    cJSON_AddItemToObject(axes, "gen", int_array(o->gen, o->n_gen));
    cJSON_AddItemToObject(axes, "depth", int_array(o->depth, o->n_depth));
    cJSON_AddItemToObject(axes, "strategy", cJSON_CreateStringArray((const char *const *)o->strategy, o->n_strategy));
    cJSON_AddItemToObject(axes, "kernel", cJSON_CreateStringArray((const char *const *)o->kernel, o->n_kernel));
    cJSON_AddStringToObject(s, "backend", be->name);
    char dtypes[128] = "";
    for (int i = 0; i < o->n_dtype; i++) // automatic: the dtype it came to
        snprintf(dtypes + strlen(dtypes), sizeof dtypes - strlen(dtypes), "%s%s", i ? "," : "",
                 is_dtype_name(o->dtype[i] >= 0 ? (is_dtype)o->dtype[i] : m->wdtype));
    cJSON_AddStringToObject(s, "dtype", dtypes);
    cJSON_AddNumberToObject(s, "threads", be->n_threads);
    cJSON_AddNumberToObject(s, "reps_min", o->rule.min_n);
    cJSON_AddNumberToObject(s, "max_reps", o->rule.max_n);
    cJSON_AddNumberToObject(s, "warmup", o->warmup);
    cJSON_AddNumberToObject(s, "max_time_s", o->rule.max_time_s);
    cJSON_AddNumberToObject(s, "max_noise", o->rule.max_noise);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddNumberToObject(s, "block_size", o->block_size > 0 ? o->block_size : IS_DEFAULT_BLOCK_SIZE);
    cJSON_AddStringToObject(s, "main_metric", "decode_tps (prefill_tps where gen = 1)");
    cJSON_AddStringToObject(s, "noise", "relative standard error of the mean of the main metric over repetitions");
    return s;
}

static cJSON *probes_json(const is_bench_opts *o, is_backend *be, is_dtype wdtype, is_err *err) {
    cJSON *p = cJSON_CreateObject();
    if (o->no_probe) {
        cJSON_AddStringToObject(p, "skipped", "--no-probe: MBU and MFU are not computed");
        return p;
    }
    is_mem_probe mp;
    is_matmul_probe xp;
    cJSON *compute = NULL;
    if (is_probe_backend_mem(be, &mp, err) || is_probe_matmul(be, wdtype, &xp, err) ||
        !(compute = is_probe_backend_compute(be, &xp, err))) {
        cJSON_Delete(p);
        return NULL;
    }
    cJSON_AddItemToObject(p, "mem", is_probe_mem_json(&mp));
    cJSON_AddItemToObject(p, "compute", compute);
    cJSON *xj = cJSON_AddObjectToObject(p, "matmul");
    cJSON_AddNumberToObject(xj, "gflops", xp.gflops);
    cJSON_AddNumberToObject(xj, "m", xp.m);
    cJSON_AddNumberToObject(xj, "n", xp.n);
    cJSON_AddNumberToObject(xj, "k", xp.k);
    cJSON_AddNumberToObject(xj, "reps", xp.reps);
    cJSON_AddStringToObject(xj, "method", xp.method);
    cJSON_AddStringToObject(xj, "what", "the engine's own matmul rate at this shape (achieved matmul), not a peak");
    return p;
}

cJSON *is_bench_doc_resume(cJSON **prev, cJSON *sweep, const char *out, int argc, char **argv, is_backend *be,
                           const char *why_cuda, is_err *err) {
    const char *diff = is_bench_sweep_diff(cJSON_GetObjectItemCaseSensitive(*prev, "sweep"), sweep);
    cJSON_Delete(sweep);
    if (diff) {
        is_errf(err, "%s/results.json holds another sweep ('%s' differs): --resume continues the same command; "
                "use another --out", out, diff);
        return NULL;
    }
    cJSON *doc = *prev; // its env, probes and finished points are kept; this run's env is added
    *prev = NULL;
    cJSON *resumed = cJSON_GetObjectItemCaseSensitive(doc, "resumed_env");
    if (!resumed) resumed = cJSON_AddArrayToObject(doc, "resumed_env");
    cJSON_AddItemToArray(resumed, is_env_capture_backend(argc, argv, be, why_cuda));
    return doc;
}

cJSON *is_bench_run_env(cJSON *doc) {
    cJSON *resumed = cJSON_GetObjectItemCaseSensitive(doc, "resumed_env");
    return resumed ? cJSON_GetArrayItem(resumed, cJSON_GetArraySize(resumed) - 1)
                   : cJSON_GetObjectItemCaseSensitive(doc, "env");
}

const char *is_bench_sweep_diff(const cJSON *a, const cJSON *b) {
    const cJSON *it;
    cJSON_ArrayForEach(it, a) {
        const cJSON *other = cJSON_GetObjectItemCaseSensitive(b, it->string);
        if (!other || !cJSON_Compare(it, other, true)) return it->string;
    }
    cJSON_ArrayForEach(it, b) if (!cJSON_GetObjectItemCaseSensitive(a, it->string)) return it->string;
    return NULL;
}

int is_bench_out_prepare(const char *out, bool resume, bool force, cJSON **prev, is_err *err) {
    *prev = NULL;
    if (!out) return 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/results.json", out);
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && !resume && !force)
        return is_errf(err, "%s already exists: pass --resume to continue that sweep, --force to replace it, or "
                            "another --out", path);
    is_results_write_dir_clean(out); // what a run killed in the middle of a write left
    // --resume with nothing finished yet: a fresh start
    return resume && exists ? is_results_load(path, prev, err) : 0;
}

bool is_bench_key_done(const cJSON *doc, const char *key) {
    const cJSON *p;
    char k[1024];
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        if (!is_results_point_key(p, k, sizeof k) && !strcmp(k, key)) return true;
    }
    return false;
}

void is_bench_opts_free(is_bench_opts *o) {
    free(o->batch);
    free(o->prompt);
    free(o->gen);
    free(o->depth);
    is_list_free(o->strategy, o->n_strategy);
    is_list_free(o->kernel, o->n_kernel);
    memset(o, 0, sizeof *o);
}

// Before anything is measured: every spec draft loads and shares the model's
// vocabulary. Returns 0, or -1 with the message in err.
static int check_drafts(const is_bench_opts *o, is_backend *be, is_model *m, is_err *err) {
    for (int st = 0; st < o->n_strategy; st++) {
        is_strategy sp;
        is_model *dm = NULL;
        if (is_strategy_parse(o->strategy[st], &sp, err)) return -1;
        if (sp.kind == IS_STRATEGY_SPEC && is_strategy_open_draft(&sp, m, (int)m->wdtype, o->seed, be, &dm, err)) {
            is_err_prefix(err, "--strategy %s", o->strategy[st]);
            return -1;
        }
        if (dm && dm != m) is_model_free(dm);
    }
    return 0;
}

// Every combination of the axes, checked against the model's context. *points
// (malloc'd) and *total; NULL and a usage error in err when a point does not fit.
static bench_point *points_build(const is_bench_opts *o, const is_model *m, int *total, is_err *err) {
    *total = o->n_dtype * o->n_batch * o->n_prompt * o->n_gen * o->n_depth * o->n_strategy * o->n_kernel;
    bench_point *points = is_xcalloc((size_t)*total, sizeof *points);
    int np = 0;
    for (int dt = 0; dt < o->n_dtype; dt++)
    for (int k = 0; k < o->n_kernel; k++)
        for (int st = 0; st < o->n_strategy; st++)
            for (int b = 0; b < o->n_batch; b++)
                for (int p = 0; p < o->n_prompt; p++)
                    for (int d = 0; d < o->n_depth; d++)
                        for (int g = 0; g < o->n_gen; g++) {
                            bench_point *pt = &points[np++];
                            *pt = (bench_point){o->dtype[dt] >= 0 ? (is_dtype)o->dtype[dt] : m->wdtype, o->batch[b],
                                                o->prompt[p], o->gen[g], o->depth[d], o->strategy[st], o->kernel[k]};
                            long need = (long)pt->depth + pt->prompt + pt->gen - 1;
                            if (need > m->cfg.max_pos) {
                                is_errf(err, "depth %d + prompt %d + %d generated tokens need a context of %ld, more "
                                        "than the model's %d (max_position_embeddings)", pt->depth, pt->prompt,
                                        pt->gen, need, m->cfg.max_pos);
                                free(points);
                                return NULL;
                            }
                        }
    return points;
}

// The result document: prev (--resume; the same sweep, this run's environment
// added to resumed_env) or a new one with this machine's probes. NULL on error.
static cJSON *doc_open(const is_bench_opts *o, is_backend *be, const is_model *m, cJSON **prev, const char *why_cuda,
                       int argc, char **argv, is_err *err) {
    const char *cmd = o->profile ? "profile" : "bench";
    cJSON *sweep = sweep_json(o, be, m), *doc;
    if (*prev) {
        if (!(doc = is_bench_doc_resume(prev, sweep, o->out, argc, argv, be, why_cuda, err))) return NULL;
    } else {
        fprintf(stderr, "%s: measuring peak bandwidth and matmul rate...\n", cmd);
        // the achieved-matmul probe multiplies plain weights: BF16 for a quantized model
        cJSON *probes = probes_json(o, be, is_dtype_quantized(m->wdtype) ? IS_DTYPE_BF16 : m->wdtype, err);
        if (!probes) {
            cJSON_Delete(sweep);
            return NULL;
        }
        doc = is_results_new(is_env_capture_backend(argc, argv, be, why_cuda), sweep, probes);
    }
    const cJSON *probes = cJSON_GetObjectItemCaseSensitive(doc, "probes"), *compute = is_json_get(probes, "compute");
    double peak = probe_value(probes, "mem", "peak_gbs"), mm = probe_value(probes, "matmul", "gflops");
    double cpk = probe_value(probes, "compute", "peak_gflops");
    if (isfinite(peak))
        fprintf(stderr, "%s: peak bandwidth %.1f GB/s (%s)\n", cmd, peak, is_json_str(is_json_get(probes, "mem"), "method"));
    if (isfinite(cpk))
        fprintf(stderr, "%s: compute peak %.1f GFLOP/s of %s (MFU is taken against it)\n", cmd, cpk,
                is_json_str(compute, "matmul_unit"));
    else if (compute)
        fprintf(stderr, "%s: no compute peak, no MFU: %s\n", cmd, is_json_str(compute, "peak_refused"));
    if (isfinite(mm))
        fprintf(stderr, "%s: %s %.1f GFLOP/s (%s)\n", cmd, compute ? "achieved matmul" : "matmul peak", mm,
                is_json_str(is_json_get(probes, "matmul"), "method"));
    return doc;
}

// Frees the model and loads it again with its matrices in dtype (the next point's).
static int model_switch(bench_ctx *ctx, is_dtype dtype, is_err *err) {
    is_model_free(ctx->m);
    ctx->m = NULL;
    is_model_opts mo = {.dtype = (int)dtype, .seed = ctx->o->seed};
    fprintf(stderr, "%s: loading %s with %s weights\n", ctx->o->profile ? "profile" : "bench", ctx->o->model,
            is_dtype_name(dtype));
    return is_model_load(ctx->o->model, &mo, ctx->be, &ctx->m, err) ? -1 : 0;
}

// Measures every point of the sweep not already in doc, writing --out after
// each. Returns 0 (every point measured, *failed of them with an error), 1 when
// interrupted, or -1 when --out could not be written (err).
static int sweep_run(bench_ctx *ctx, const bench_point *points, cJSON *doc, int *failed, is_err *err) {
    const is_bench_opts *o = ctx->o;
    const char *cmd = o->profile ? "profile" : "bench";
    int total = ctx->total, todo = 0;
    char key[1024];
    bool *skip = is_xcalloc((size_t)total, sizeof *skip);
    for (int i = 0; i < total; i++) {
        cJSON *probe_pt = cJSON_CreateObject();
        cJSON_AddItemToObject(probe_pt, "config", point_config(ctx, &points[i]));
        is_results_point_key(probe_pt, key, sizeof key);
        skip[i] = is_bench_key_done(doc, key);
        todo += !skip[i];
        cJSON_Delete(probe_pt);
    }
    fprintf(stderr, "%s: %d points (dtype %d x batch %d x prompt %d x gen %d x depth %d x strategy %d x kernel %d) "
            "on %s, %s backend, %d threads\n", cmd, total, o->n_dtype, o->n_batch, o->n_prompt, o->n_gen, o->n_depth,
            o->n_strategy, o->n_kernel, o->model, ctx->be->name, ctx->be->n_threads);
    if (todo < total) fprintf(stderr, "%s: resuming: %d finished, %d to go\n", cmd, total - todo, todo);
    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    int done = total - todo, rc = 0;
    *failed = 0;
    for (int i = 0; i < total && !rc; i++) {
        if (skip[i]) continue;
        if (points[i].dtype != ctx->m->wdtype && (rc = model_switch(ctx, points[i].dtype, err)) != 0) break;
        ctx->index = ++done;
        cJSON *point = cJSON_CreateObject();
        cJSON_AddItemToObject(point, "config", point_config(ctx, &points[i]));
        is_err perr = {{0}};
        int prc = point_run(ctx, &points[i], point, &perr);
        if (prc == 1) {
            cJSON_Delete(point);
            rc = 1;
            break;
        }
        if (prc < 0) {
            char label[256];
            point_label(&points[i], label, sizeof label);
            fprintf(stderr, "%s[%d/%d] %s: failed: %s\n", ctx->tty ? "\r\033[K" : "", ctx->index, total, label,
                    perr.msg);
            cJSON_Delete(point);
            point = is_schema_point_error(NULL, point_config(ctx, &points[i]), perr.msg);
            (*failed)++;
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, "points"), point);
        is_env_noise_end(ctx->run_env, &ctx->noise);
        if (o->out && is_results_write_dir(o->out, doc, err)) rc = -1;
        else if (bench_stop_requested) rc = 1;
    }
    free(skip);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

int is_bench_run(const is_bench_opts *in, int argc, char **argv) {
    is_bench_opts o = *in; // o.prof records whether the capture started
    const char *bench_cmd = o.profile ? "profile" : "bench";
    int rc = 1, failed = 0, total = 0;
    is_err err = {{0}};
    is_backend *be = NULL;
    is_model *m = NULL;
    cJSON *doc = NULL, *prev = NULL;
    bench_point *points = NULL;
    char why_cuda[512];
    is_bench_telemetry tele = {.why = "not opened"};
    is_bench_prof bprof = {.tables = !o.no_kernel_table, .counters = o.profile && !strcmp(o.counters, "dram"),
                           .keep_device = o.prof.trace != NULL, .device = o.backend.device};
    if (is_bench_out_prepare(o.out, o.resume, o.force, &prev, &err)) goto fail;
    is_prof_start(&o.prof);
    be = is_prof_wrap_backend(is_backend_open(&o.backend, true, why_cuda, sizeof why_cuda, &err));
    if (!be) {
        if (!strcmp(o.backend.which, "cuda")) is_err_prefix(&err, "--backend cuda");
        goto fail;
    }
    is_bench_prof_check(&bprof, be, why_cuda);
    is_bench_telemetry_open(&tele, o.no_telemetry, be, o.backend.device);
    if (*tele.why && !o.no_telemetry) fprintf(stderr, "%s: GPU telemetry: %s\n", bench_cmd, tele.why);
    if (bprof.tables && *bprof.tables_why) fprintf(stderr, "%s: kernel tables: %s\n", bench_cmd, bprof.tables_why);
    if (bprof.counters && *bprof.counters_why) fprintf(stderr, "%s: counters: %s\n", bench_cmd, bprof.counters_why);
    for (int k = 0; k < o.n_kernel; k++) // every kernel spec exists on this backend, before the model loads
        if (is_kernel_spec_check(be, o.kernel[k], &err)) {
            is_err_prefix(&err, "--kernel");
            rc = EXIT_USAGE;
            goto fail;
        }
    is_model_opts mo = {.dtype = o.dtype[0], .seed = o.seed};
    if (is_model_load(o.model, &mo, be, &m, &err)) goto fail;
    for (int i = 1; i < o.n_dtype; i++) // every format fits the shape before anything is measured
        if (is_model_check_dtype(&m->cfg, (is_dtype)o.dtype[i], o.model, &err)) {
            rc = EXIT_USAGE;
            goto fail;
        }
    if (check_drafts(&o, be, m, &err)) goto fail;
    rc = EXIT_USAGE;
    if (!(points = points_build(&o, m, &total, &err))) goto fail;
    rc = 1;
    if (!(doc = doc_open(&o, be, m, &prev, why_cuda, argc, argv, &err))) goto fail;
    if (o.out && is_results_write_dir(o.out, doc, &err)) goto fail;
    bench_ctx ctx = {.o = &o, .be = be, .m = m, .probes = cJSON_GetObjectItemCaseSensitive(doc, "probes"),
                     .total = total, .tty = isatty(2) == 1, .prof = &bprof, .tele = &tele};
    ctx.run_env = is_bench_run_env(doc);
    is_env_noise_begin(ctx.run_env, &ctx.noise);
    int src = sweep_run(&ctx, points, doc, &failed, &err);
    m = ctx.m; // the model of the last dtype swept (freed below)
    if (src < 0) goto fail;
    if (src > 0) {
        fprintf(stderr, "\nbench: interrupted; %s\n",
                o.out ? "finished points are in --out; run the same command with --resume to continue"
                      : "nothing was saved (no --out)");
        rc = EXIT_INTERRUPTED;
        goto cleanup;
    }
    char *text = is_results_to_format(doc, o.format);
    fputs(text, stdout);
    free(text);
    if (o.out) fprintf(stderr, "%s: results in %s (results.json, results.csv, report.md, report.html)\n", bench_cmd, o.out);
    if (is_prof_finish_with(&o.prof, bprof.trace_dev.dev, bprof.trace_dev.n_dev, false, &err)) goto fail;
    rc = failed ? 1 : 0;
    if (failed) fprintf(stderr, "%s: %d of %d points failed (see their error in the results)\n", bench_cmd, failed, total);
    goto cleanup;
fail:
    fprintf(stderr, "inferscope %s: %s\n", bench_cmd, err.msg);
cleanup:
    is_prof_abort(&o.prof); // nothing left to drop after a finished trace
    is_bench_prof_free(&bprof);
    is_bench_telemetry_close(&tele);
    cJSON_Delete(doc);
    cJSON_Delete(prev);
    free(points);
    is_model_free(m);
    if (be) be->destroy(be);
    return rc;
}
