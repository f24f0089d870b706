// serve.c — `inferscope serve-bench`: the serving sweep driver. Each point
// builds its workload (bench/serve_workload.h), replays it on the real clock
// against the continuous-batching scheduler (engine/scheduler.h), and writes a
// serve point (reports/schema.h) with per-request latencies, throughput,
// goodput, the scheduler's counters and the per-step time series.
#include "bench/serve.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/nvtx.h"          // defines: is_prof_push, is_prof_pop
#include "base/rng.h"           // defines: is_mix64
#include "bench/bench.h"        // defines: is_bench_out_prepare, is_bench_doc_resume, is_bench_run_env, is_bench_key_done
#include "bench/env.h"          // defines: is_env_capture_backend, is_env_noise_begin, is_env_noise_end
#include "bench/metrics.h"      // defines: is_itl_gaps
#include "bench/sweep.h"        // defines: is_list_free
#include "engine/scheduler.h"
#include "profiles/op_ranges.h" // defines: is_prof_wrap_backend
#include "reports/results.h"
#include "reports/text.h"       // defines: is_json_get

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130

static volatile sig_atomic_t serve_stop_requested;
static void serve_on_signal(int sig) {
    (void)sig;
    serve_stop_requested = 1;
}

// One point of the sweep.
typedef struct serve_point {
    const char *rate;    // as written; NULL for a closed-loop point
    int concurrency;     // closed loop: clients (0: open loop)
    int max_batch_tokens, prefill_chunk;
    const char *policy;
} serve_point;

typedef struct serve_ctx {
    const is_serve_opts *o;
    is_backend *be;
    is_model *m;
    int index, total;
    bool tty;
    char prompt_label[256], output_label[256];
} serve_ctx;

void is_serve_opts_free(is_serve_opts *o) {
    is_list_free(o->rate, o->n_rate);
    is_list_free(o->policy, o->n_policy);
    free(o->concurrency);
    free(o->max_batch_tokens);
    free(o->prefill_chunk);
    memset(o, 0, sizeof *o);
}

// ---- the workload of a point --------------------------------------------------------

static void point_arrival(const is_serve_opts *o, const serve_point *p, is_arrival_spec *a, char *label, size_t n) {
    memset(a, 0, sizeof *a);
    if (p->concurrency > 0) {
        *a = (is_arrival_spec){.kind = IS_ARRIVAL_CLOSED, .concurrency = p->concurrency};
        snprintf(label, n, "closed");
    } else if (!strcmp(p->rate, "inf")) {
        a->kind = IS_ARRIVAL_BURST;
        snprintf(label, n, "burst");
    } else {
        a->rate = strtod(p->rate, NULL);
        a->kind = o->burstiness > 0 ? IS_ARRIVAL_GAMMA : IS_ARRIVAL_POISSON;
        a->burstiness = o->burstiness;
        if (o->burstiness > 0) snprintf(label, n, "gamma:b=%g", o->burstiness);
        else snprintf(label, n, "poisson");
    }
}

// Tokens of a workload file's text: what is_tok_encode gives, with the BOS the
// request will carry.
static int count_tokens(void *user, const char *text, is_err *err) {
    is_tokenizer *tok = user;
    int32_t *ids = NULL;
    int n = is_tok_encode(tok, text, strlen(text), false, &ids, err);
    free(ids);
    return n < 0 ? -1 : n + (is_tok_bos(tok) >= 0);
}

static int point_workload(const serve_ctx *c, const serve_point *p, is_workload *w, is_err *err) {
    const is_serve_opts *o = c->o;
    char label[64];
    is_workload_spec sp = {.n_requests = o->requests, .duration_s = o->duration_s, .prompt_len = o->prompt_len,
                           .out_len = o->output_len, .file = o->workload, .n_prefixes = o->n_prefixes,
                           .prefix_len = o->prefix_len, .max_context = c->m->cfg.max_pos, .seed = o->seed,
                           .count = o->tok ? count_tokens : NULL, .count_user = o->tok};
    point_arrival(o, p, &sp.arrival, label, sizeof label);
    return is_workload_make(&sp, w, err);
}

// The prompt of request i: the file's text tokenized (BOS first), or synthetic
// ids: its shared prefix's (seeded by the prefix id) then its own (seeded by i).
static int request_prompt(const serve_ctx *c, const is_workload *w, int i, int32_t **out, is_err *err) {
    const is_serve_req *r = &w->req[i];
    if (r->prompt) {
        int32_t *ids = NULL;
        is_prof_push(IS_PROF_TOKENIZE, strlen(r->prompt));
        int n = is_tok_encode(c->o->tok, r->prompt, strlen(r->prompt), false, &ids, err);
        is_prof_pop(IS_PROF_TOKENIZE);
        if (n < 0) return -1;
        int bos = is_tok_bos(c->o->tok);
        *out = is_xmalloc(((size_t)n + 1) * sizeof **out);
        if (bos >= 0) (*out)[0] = bos;
        memcpy(*out + (bos >= 0), ids, (size_t)n * sizeof *ids);
        free(ids);
        return n + (bos >= 0);
    }
    uint64_t V = (uint64_t)c->m->cfg.vocab_size, seed = c->o->seed;
    int32_t *ids = is_xmalloc((size_t)r->prompt_len * sizeof *ids);
    int k = 0;
    if (r->prefix_id >= 0)
        for (; k < w->prefix_len && k < r->prompt_len; k++)
            ids[k] = (int32_t)(is_mix64(seed ^ is_mix64(0x5052454649ULL + (uint64_t)r->prefix_id) ^ (uint64_t)k) % V);
    for (int j = 0; k < r->prompt_len; k++, j++)
        ids[k] = (int32_t)(is_mix64(seed ^ is_mix64(0x4f574eULL + ((uint64_t)i << 24)) ^ (uint64_t)j) % V);
    *out = ids;
    return r->prompt_len;
}

// ---- one replay of the workload ---------------------------------------------------------

typedef struct serve_series {
    int n, cap;
    double *t;
    int *prefill, *decode, *running, *waiting, *kv;
} serve_series;

static void series_add(serve_series *s, double t, const is_sched_step_info *in) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->t = is_xrealloc(s->t, (size_t)s->cap * sizeof *s->t);
        int **cols[5] = {&s->prefill, &s->decode, &s->running, &s->waiting, &s->kv};
        for (int k = 0; k < 5; k++) *cols[k] = is_xrealloc(*cols[k], (size_t)s->cap * sizeof(int));
    }
    s->t[s->n] = t;
    s->prefill[s->n] = in->prefill_tokens;
    s->decode[s->n] = in->decode_tokens;
    s->running[s->n] = in->running;
    s->waiting[s->n] = in->waiting;
    s->kv[s->n] = in->kv_blocks_used;
    s->n++;
}

static void series_free(serve_series *s) {
    free(s->t);
    free(s->prefill);
    free(s->decode);
    free(s->running);
    free(s->waiting);
    free(s->kv);
    memset(s, 0, sizeof *s);
}

// What one replay measured.
typedef struct serve_rep {
    int n;
    is_req_timing *req;   // [n], seconds from the replay's start
    double **t_tokens;    // [n][n_out]
    is_serve_summary sum;
    is_sched_stats st;
    int kv_blocks_total;
    double kv_blocks_mean;
    serve_series ts;
} serve_rep;

static void rep_free(serve_rep *r) {
    for (int i = 0; r->t_tokens && i < r->n; i++) free(r->t_tokens[i]);
    free(r->t_tokens);
    free(r->req);
    series_free(&r->ts);
    memset(r, 0, sizeof *r);
}

static void sleep_until(double t) {
    double d = t - is_now_s();
    if (d <= 0) return;
    if (d > 0.05) d = 0.05; // wake now and then: SIGINT, progress
    struct timespec ts = {.tv_sec = (time_t)d, .tv_nsec = (long)((d - floor(d)) * 1e9)};
    nanosleep(&ts, NULL);
}

static void load_label(const serve_point *p, char *buf, size_t n) {
    if (p->concurrency > 0) snprintf(buf, n, "concurrency %d", p->concurrency);
    else snprintf(buf, n, "rate %s", p->rate);
}

static void progress(const serve_ctx *c, const serve_point *p, int done, int n, double elapsed, long out_tokens) {
    char load[64];
    load_label(p, load, sizeof load);
    fprintf(stderr, "%sserve-bench[%d/%d] %s, %s, budget %d: %d/%d requests, %.1f s, %.1f out tok/s%s",
            c->tty ? "\r\033[K" : "", c->index, c->total, load, p->policy, p->max_batch_tokens, done, n, elapsed,
            elapsed > 0 ? out_tokens / elapsed : 0.0, c->tty ? "" : "\n");
}

// Submits request i of w, arrived at t_arr (is_now_s clock).
static int submit(const serve_ctx *c, is_sched *sc, const is_workload *w, int i, int *id_req, is_err *err) {
    int32_t *ids;
    int n = request_prompt(c, w, i, &ids, err);
    if (n < 0) return -1;
    int id = is_sched_submit(sc, ids, n, w->req[i].out_len, (uint64_t)i, err);
    free(ids);
    if (id < 0) return -1;
    id_req[id] = i;
    return 0;
}

// Replays w once on a fresh session. Returns 0, 1 when interrupted, -1 on error.
static int replay(const serve_ctx *c, const serve_point *p, const is_workload *w, serve_rep *out, is_err *err) {
    const is_serve_opts *o = c->o;
    memset(out, 0, sizeof *out);
    int n = w->n;
    is_session_opts so = {.kv_budget_mib = o->kv_budget_mib, .block_size = o->block_size, .max_seqs = o->max_seqs,
                          .max_batch_tokens = p->max_batch_tokens};
    is_session *s = NULL;
    is_sched *sc = NULL;
    int rc = -1;
    int *id_req = is_xmalloc((size_t)n * sizeof *id_req);
    double *t_arr = is_xmalloc((size_t)n * sizeof *t_arr); // by workload index
    if (is_session_create(c->m, &so, &s, err)) goto done;
    is_sched_opts sco = {.max_seqs = o->max_seqs, .max_batch_tokens = p->max_batch_tokens,
                         .prefill_chunk = p->prefill_chunk,
                         .policy = strcmp(p->policy, "prefill-first") ? IS_SCHED_DECODE_FIRST : IS_SCHED_PREFILL_FIRST,
                         .prefix_cache = o->prefix_cache, .ignore_eos = o->ignore_eos, .sampler = o->sampler};
    if (is_sched_create(s, &sco, &sc, err)) goto done;
    out->kv_blocks_total = is_session_kv(s)->n_blocks;
    double t0 = is_now_s(), last_progress = t0, kv_sum = 0;
    int next = 0, done_n = 0, in_flight = 0;
    long out_tokens = 0;
    while (done_n < n) {
        if (serve_stop_requested) {
            rc = 1;
            goto done;
        }
        double now = is_now_s();
        if (p->concurrency > 0) {
            while (next < n && in_flight < p->concurrency) { // a client sends its next request at once
                t_arr[next] = now;
                if (submit(c, sc, w, next, id_req, err)) goto done;
                next++;
                in_flight++;
            }
        } else {
            while (next < n && t0 + w->req[next].t_arrival <= now) {
                t_arr[next] = t0 + w->req[next].t_arrival; // its clock starts at its arrival
                if (submit(c, sc, w, next, id_req, err)) goto done;
                next++;
            }
        }
        if (is_sched_pending(sc) == 0) {
            if (next < n) sleep_until(t0 + w->req[next].t_arrival);
            continue;
        }
        is_sched_step_info info;
        if (is_sched_step(sc, &info, err)) goto done;
        series_add(&out->ts, info.t_end - t0, &info);
        kv_sum += info.kv_blocks_used;
        done_n += info.finished;
        in_flight -= info.finished;
        now = is_now_s();
        if (now - last_progress >= (c->tty ? 0.5 : 10.0)) {
            long toks = 0;
            for (int id = 0; id < is_sched_n_requests(sc); id++) toks += is_sched_request(sc, id)->n_out;
            progress(c, p, done_n, n, now - t0, toks);
            last_progress = now;
        }
    }
    // the requests' timestamps, from the replay's start
    out->n = n;
    out->req = is_xcalloc((size_t)n, sizeof *out->req);
    out->t_tokens = is_xcalloc((size_t)n, sizeof *out->t_tokens);
    for (int id = 0; id < n; id++) {
        const is_sched_req *r = is_sched_request(sc, id);
        int i = id_req[id];
        double *tt = is_xmalloc((size_t)r->n_out * sizeof *tt);
        for (int k = 0; k < r->n_out; k++) tt[k] = r->token_time[k] - t0;
        out->t_tokens[id] = tt;
        out->req[id] = (is_req_timing){.t_arrival = t_arr[i] - t0, .t_scheduled = r->t_scheduled - t0,
                                       .t_first = tt[0], .t_done = r->t_done - t0, .n_prompt = r->n_prompt,
                                       .n_out = r->n_out, .t_tokens = tt};
        out_tokens += r->n_out;
    }
    is_serve_summarize(out->req, n, &o->slo, &out->sum);
    out->st = *is_sched_get_stats(sc);
    out->kv_blocks_mean = out->ts.n ? kv_sum / out->ts.n : 0;
    if (!c->tty) progress(c, p, done_n, n, is_now_s() - t0, out_tokens);
    rc = 0;
done:
    if (c->tty) fputs("\r\033[K", stderr);
    is_sched_free(sc);
    is_session_free(s);
    free(id_req);
    free(t_arr);
    if (rc) rep_free(out);
    return rc;
}

// ---- the point's JSON ---------------------------------------------------------------------

static cJSON *point_config(const serve_ctx *c, const serve_point *p) {
    const is_serve_opts *o = c->o;
    char arrival[64];
    is_arrival_spec a;
    point_arrival(o, p, &a, arrival, sizeof arrival);
    is_serve_config cfg = {.model = o->model, .backend = c->be->name, .dtype = is_dtype_name(c->m->wdtype),
                           .threads = c->be->n_threads, .arrival = arrival, .rate = p->rate ? p->rate : "inf",
                           .concurrency = p->concurrency, .requests = o->requests, .prompt = c->prompt_label,
                           .output = c->output_label, .policy = p->policy, .max_batch_tokens = p->max_batch_tokens,
                           .max_seqs = o->max_seqs, .prefill_chunk = p->prefill_chunk,
                           .prefix_cache = o->prefix_cache, .batch_invariant = o->backend.batch_invariant};
    return is_schema_config_json(is_schema_serve_fields, is_schema_n_serve_fields, &cfg);
}

static void push(cJSON *samples, const char *metric, double v) {
    cJSON *a = cJSON_GetObjectItemCaseSensitive(samples, metric);
    if (!a) a = cJSON_AddArrayToObject(samples, metric);
    if (isfinite(v)) cJSON_AddItemToArray(a, cJSON_CreateNumber(v));
}

// One replay's samples into the point's: per request (pooled over replays) and per replay.
static void rep_samples(cJSON *samples, const serve_rep *r) {
    for (int i = 0; i < r->n; i++) {
        const is_req_timing *q = &r->req[i];
        push(samples, "queue_ms", (q->t_scheduled - q->t_arrival) * 1e3);
        push(samples, "ttft_ms", (q->t_first - q->t_arrival) * 1e3);
        if (q->n_out >= 2) push(samples, "tpot_ms", (q->t_done - q->t_first) / (q->n_out - 1) * 1e3);
        push(samples, "e2e_ms", (q->t_done - q->t_arrival) * 1e3);
        if (q->n_out >= 2) {
            double *gaps = is_xmalloc((size_t)q->n_out * sizeof *gaps);
            int ng = is_itl_gaps(q->t_tokens, q->n_out, gaps);
            for (int k = 0; k < ng; k++) push(samples, "itl_ms", gaps[k] * 1e3);
            free(gaps);
        }
    }
    push(samples, "req_per_s", r->sum.req_per_s);
    push(samples, "in_tps", r->sum.in_tok_per_s);
    push(samples, "out_tps", r->sum.out_tok_per_s);
    push(samples, "goodput", r->sum.goodput_req_per_s);
    push(samples, "ttft_p99_ms", r->sum.ttft_ms.p99);
    push(samples, "tpot_p99_ms", r->sum.tpot_ms.p99);
    double step_s = r->st.sched_s + r->st.forward_s + r->st.sample_s;
    push(samples, "sched_share", step_s > 0 ? r->st.sched_s / step_s : NAN);
}

static cJSON *dist_json(const is_dist_summary *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", d->n);
    const char *k[] = {"mean", "median", "p90", "p95", "p99", "min", "max"};
    double v[] = {d->mean, d->median, d->p90, d->p95, d->p99, d->min, d->max};
    for (int i = 0; i < 7; i++) is_schema_number(o, k[i], v[i]);
    return o;
}

static cJSON *int_series(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

// The "serve" and "timeseries" sections, from the last replay.
static void rep_sections(cJSON *point, const is_serve_opts *o, const serve_rep *r) {
    cJSON *s = cJSON_AddObjectToObject(point, "serve");
    is_schema_number(s, "duration_s", r->sum.duration_s);
    cJSON_AddNumberToObject(s, "n_requests", r->sum.n_requests);
    cJSON_AddNumberToObject(s, "n_good", r->sum.n_good);
    cJSON *slo = cJSON_AddObjectToObject(s, "slo");
    if (o->slo.ttft_ms > 0) cJSON_AddNumberToObject(slo, "ttft_ms", o->slo.ttft_ms);
    if (o->slo.tpot_ms > 0) cJSON_AddNumberToObject(slo, "tpot_ms", o->slo.tpot_ms);
    if (o->slo.e2e_ms > 0) cJSON_AddNumberToObject(slo, "e2e_ms", o->slo.e2e_ms);
    cJSON_AddNumberToObject(s, "steps", (double)r->st.steps);
    cJSON_AddNumberToObject(s, "preemptions", (double)r->st.preemptions);
    if (o->prefix_cache && r->st.prefix_lookup_tokens > 0)
        cJSON_AddNumberToObject(s, "prefix_hit_rate", (double)r->st.prefix_hit_tokens / r->st.prefix_lookup_tokens);
    else
        cJSON_AddNullToObject(s, "prefix_hit_rate");
    cJSON_AddNumberToObject(s, "peak_running", r->st.peak_running);
    cJSON_AddNumberToObject(s, "kv_blocks_total", r->kv_blocks_total);
    cJSON_AddNumberToObject(s, "kv_blocks_peak", r->st.peak_kv_blocks);
    is_schema_number(s, "kv_blocks_mean", r->kv_blocks_mean);
    double step_s = r->st.sched_s + r->st.forward_s + r->st.sample_s;
    is_schema_number(s, "sched_share", step_s > 0 ? r->st.sched_s / step_s : NAN);
    cJSON *sum = cJSON_AddObjectToObject(s, "summary");
    cJSON_AddItemToObject(sum, "queue_ms", dist_json(&r->sum.queue_ms));
    cJSON_AddItemToObject(sum, "ttft_ms", dist_json(&r->sum.ttft_ms));
    cJSON_AddItemToObject(sum, "tpot_ms", dist_json(&r->sum.tpot_ms));
    cJSON_AddItemToObject(sum, "itl_ms", dist_json(&r->sum.itl_ms));
    cJSON_AddItemToObject(sum, "e2e_ms", dist_json(&r->sum.e2e_ms));
    cJSON *ts = cJSON_AddObjectToObject(point, "timeseries");
    cJSON *t = cJSON_AddArrayToObject(ts, "t_s");
    for (int i = 0; i < r->ts.n; i++) cJSON_AddItemToArray(t, cJSON_CreateNumber(r->ts.t[i]));
    cJSON_AddItemToObject(ts, "prefill_tokens", int_series(r->ts.prefill, r->ts.n));
    cJSON_AddItemToObject(ts, "decode_tokens", int_series(r->ts.decode, r->ts.n));
    cJSON_AddItemToObject(ts, "running", int_series(r->ts.running, r->ts.n));
    cJSON_AddItemToObject(ts, "waiting", int_series(r->ts.waiting, r->ts.n));
    cJSON_AddItemToObject(ts, "kv_blocks", int_series(r->ts.kv, r->ts.n));
}

// Runs point p into `point` (its config already there). 0, 1 interrupted, -1 error.
static int point_run(const serve_ctx *c, const serve_point *p, cJSON *point, is_err *err) {
    const is_serve_opts *o = c->o;
    is_workload w;
    if (point_workload(c, p, &w, err)) return -1;
    double t0 = is_now_s();
    cJSON *samples = cJSON_CreateObject();
    serve_rep r = {0};
    int rc = 0;
    for (int rep = 0; rep < o->reps && !rc; rep++) {
        rep_free(&r);
        rc = replay(c, p, &w, &r, err);
        if (!rc) rep_samples(samples, &r);
    }
    if (rc) {
        cJSON_Delete(samples);
        is_workload_free(&w);
        return rc;
    }
    is_schema_run run = {.warmup = 0, .reps = o->reps, .stop = "reps", .noise = NAN, .elapsed_s = is_now_s() - t0};
    cJSON *dst = is_schema_point_ok(point, &run);
    cJSON *it = samples->child;
    while (it) { // move the arrays into the point's "samples"
        cJSON *nx = it->next;
        cJSON_DetachItemViaPointer(samples, it);
        cJSON_AddItemToObject(dst, it->string, it);
        it = nx;
    }
    cJSON_Delete(samples);
    is_results_point_finish(point, o->seed);
    rep_sections(point, o, &r);
    char load[64];
    load_label(p, load, sizeof load);
    fprintf(stderr, "%sserve-bench[%d/%d] %s, %s, budget %d: %d requests in %.1f s, %.2f req/s, %.1f out tok/s, "
            "TTFT p50 %.1f ms p99 %.1f ms, TPOT p50 %.2f ms, %ld preemptions\n", c->tty ? "\r\033[K" : "", c->index,
            c->total, load, p->policy, p->max_batch_tokens, r.sum.n_requests, r.sum.duration_s, r.sum.req_per_s,
            r.sum.out_tok_per_s, r.sum.ttft_ms.median, r.sum.ttft_ms.p99, r.sum.tpot_ms.median, r.st.preemptions);
    rep_free(&r);
    is_workload_free(&w);
    return 0;
}

// ---- the sweep --------------------------------------------------------------------------

static cJSON *str_array(char **v, int n) { return cJSON_CreateStringArray((const char *const *)v, n); }

static cJSON *int_array(const int *v, int n) { return int_series(v, n); }

static cJSON *sweep_json(const serve_ctx *c) {
    const is_serve_opts *o = c->o;
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "model", o->model);
    cJSON_AddStringToObject(s, "command", "serve-bench");
    cJSON *axes = cJSON_AddObjectToObject(s, "axes");
    cJSON_AddItemToObject(axes, "rate", str_array(o->rate, o->n_rate));
    cJSON_AddItemToObject(axes, "concurrency", int_array(o->concurrency, o->n_concurrency));
    cJSON_AddItemToObject(axes, "max_batch_tokens", int_array(o->max_batch_tokens, o->n_max_batch_tokens));
    cJSON_AddItemToObject(axes, "prefill_chunk", int_array(o->prefill_chunk, o->n_prefill_chunk));
    cJSON_AddItemToObject(axes, "policy", str_array(o->policy, o->n_policy));
    cJSON_AddStringToObject(s, "backend", c->be->name);
    cJSON_AddStringToObject(s, "dtype", is_dtype_name(c->m->wdtype));
    cJSON_AddNumberToObject(s, "threads", c->be->n_threads);
    cJSON_AddNumberToObject(s, "requests", o->requests);
    cJSON_AddNumberToObject(s, "duration_s", o->duration_s);
    cJSON_AddNumberToObject(s, "burstiness", o->burstiness);
    cJSON_AddStringToObject(s, "prompt", c->prompt_label);
    cJSON_AddStringToObject(s, "output", c->output_label);
    cJSON_AddNumberToObject(s, "prefixes", o->n_prefixes);
    cJSON_AddNumberToObject(s, "prefix_len", o->prefix_len);
    cJSON_AddNumberToObject(s, "max_seqs", o->max_seqs);
    cJSON_AddNumberToObject(s, "block_size", o->block_size);
    cJSON_AddNumberToObject(s, "kv_budget_mib", o->kv_budget_mib);
    cJSON_AddBoolToObject(s, "prefix_cache", o->prefix_cache);
    cJSON_AddBoolToObject(s, "batch_invariant", o->backend.batch_invariant);
    cJSON_AddBoolToObject(s, "ignore_eos", o->ignore_eos);
    cJSON_AddStringToObject(s, "strategy", o->strategy);
    cJSON *slo = cJSON_AddObjectToObject(s, "slo");
    if (o->slo.ttft_ms > 0) cJSON_AddNumberToObject(slo, "ttft_ms", o->slo.ttft_ms);
    if (o->slo.tpot_ms > 0) cJSON_AddNumberToObject(slo, "tpot_ms", o->slo.tpot_ms);
    if (o->slo.e2e_ms > 0) cJSON_AddNumberToObject(slo, "e2e_ms", o->slo.e2e_ms);
    cJSON_AddNumberToObject(s, "reps_min", o->reps);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddStringToObject(s, "main_metric", "out_tps");
    return s;
}

static serve_point *points_build(const is_serve_opts *o, int *total) {
    int loads = o->n_rate + o->n_concurrency;
    *total = loads * o->n_max_batch_tokens * o->n_prefill_chunk * o->n_policy;
    serve_point *pts = is_xcalloc((size_t)*total, sizeof *pts);
    int k = 0;
    for (int pol = 0; pol < o->n_policy; pol++)
        for (int b = 0; b < o->n_max_batch_tokens; b++)
            for (int ch = 0; ch < o->n_prefill_chunk; ch++)
                for (int l = 0; l < loads; l++) {
                    serve_point *p = &pts[k++];
                    p->policy = o->policy[pol];
                    p->max_batch_tokens = o->max_batch_tokens[b];
                    p->prefill_chunk = o->prefill_chunk[ch];
                    if (l < o->n_rate) p->rate = o->rate[l];
                    else p->concurrency = o->concurrency[l - o->n_rate];
                }
    return pts;
}

// Before anything runs or is written: the workload fits the model's context and
// the KV cache (one request at least must fit it whole).
static int check_workload(const serve_ctx *c, const serve_point *p, is_err *err) {
    const is_serve_opts *o = c->o;
    is_workload w;
    if (point_workload(c, p, &w, err)) return -1;
    int bs = o->block_size > 0 ? o->block_size : IS_DEFAULT_BLOCK_SIZE;
    double kv_mib = o->kv_budget_mib > 0 ? o->kv_budget_mib : IS_DEFAULT_KV_BUDGET_MIB;
    double block_mib = is_kv_block_mib(&c->m->cfg, bs, c->be->kv_dtype);
    long blocks = (long)(kv_mib / block_mib + 1e-9);
    int rc = 0;
    for (int i = 0; i < w.n && !rc; i++) {
        long total = (long)w.req[i].prompt_len + w.req[i].out_len - 1;
        if ((total + bs - 1) / bs > blocks)
            rc = is_errf(err, "request %d (%d prompt + %d output tokens) needs %ld KV blocks of %d tokens; a KV budget "
                         "of %.0f MiB holds %ld: raise --kv-budget or shorten the requests", i, w.req[i].prompt_len,
                         w.req[i].out_len, (total + bs - 1) / bs, bs, kv_mib, blocks);
    }
    is_workload_free(&w);
    return rc;
}

static void labels(serve_ctx *c) {
    const is_serve_opts *o = c->o;
    if (o->workload) {
        const char *base = strrchr(o->workload, '/');
        snprintf(c->prompt_label, sizeof c->prompt_label, "file:%s", base ? base + 1 : o->workload);
        snprintf(c->output_label, sizeof c->output_label, "file:%s", base ? base + 1 : o->workload);
    } else {
        snprintf(c->prompt_label, sizeof c->prompt_label, "%s%s", o->prompt_text,
                 o->n_prefixes > 0 ? "+prefix" : "");
        snprintf(c->output_label, sizeof c->output_label, "%s", o->output_text);
    }
    if (o->n_prefixes > 0) {
        size_t n = strlen(c->prompt_label);
        snprintf(c->prompt_label + n, sizeof c->prompt_label - n, ":%dx%d", o->n_prefixes, o->prefix_len);
    }
}

int is_serve_run(const is_serve_opts *o, int argc, char **argv) {
    int rc = 1, failed = 0, total = 0;
    is_err err = {{0}};
    is_backend *be = NULL;
    is_model *m = NULL;
    cJSON *doc = NULL, *prev = NULL;
    serve_point *points = NULL;
    char why_cuda[512];
    is_prof_opts prof = o->prof;
    serve_ctx c = {.o = o, .tty = isatty(2) == 1};
    if (is_bench_out_prepare(o->out, o->resume, o->force, &prev, &err)) goto fail;
    is_prof_start(&prof);
    be = is_prof_wrap_backend(is_backend_open(&o->backend, true, why_cuda, sizeof why_cuda, &err));
    if (!be) {
        if (!strcmp(o->backend.which, "cuda")) is_err_prefix(&err, "--backend cuda");
        goto fail;
    }
    is_model_opts mo = {.dtype = o->dtype, .seed = o->seed};
    if (is_model_load(o->model, &mo, be, &m, &err)) goto fail;
    c.be = be;
    c.m = m;
    labels(&c);
    points = points_build(o, &total);
    c.total = total;
    rc = EXIT_USAGE;
    for (int i = 0; i < total; i++) // lengths do not depend on the load: the first point of each load kind
        if ((i == 0 || points[i].concurrency != points[0].concurrency) && check_workload(&c, &points[i], &err))
            goto fail;
    rc = 1;
    cJSON *sweep = sweep_json(&c);
    if (prev) {
        if (!(doc = is_bench_doc_resume(&prev, sweep, o->out, argc, argv, be, why_cuda, &err))) goto fail;
    } else {
        cJSON *probes = cJSON_CreateObject();
        cJSON_AddStringToObject(probes, "skipped", "serve-bench measures latency and throughput: no peak probes");
        doc = is_results_new(is_env_capture_backend(argc, argv, be, why_cuda), sweep, probes);
        cJSON_AddStringToObject(doc, "kind", "serve");
    }
    if (o->out && is_results_write_dir(o->out, doc, &err)) goto fail;
    cJSON *run_env = is_bench_run_env(doc);
    is_env_noise_mark noise;
    is_env_noise_begin(run_env, &noise);
    fprintf(stderr, "serve-bench: %d points on %s, %s backend, %d threads, %s weights%s\n", total, o->model, be->name,
            be->n_threads, is_dtype_name(m->wdtype), o->backend.batch_invariant ? ", batch-invariant" : "");
    signal(SIGINT, serve_on_signal);
    signal(SIGTERM, serve_on_signal);
    int interrupted = 0;
    char key[2048];
    for (int i = 0; i < total && !interrupted; i++) {
        c.index = i + 1;
        cJSON *point = cJSON_CreateObject();
        cJSON_AddStringToObject(point, "kind", "serve");
        cJSON_AddItemToObject(point, "config", point_config(&c, &points[i]));
        if (!is_results_point_key(point, key, sizeof key) && is_bench_key_done(doc, key)) {
            cJSON_Delete(point);
            continue;
        }
        is_err perr = {{0}};
        int prc = point_run(&c, &points[i], point, &perr);
        if (prc == 1) {
            cJSON_Delete(point);
            interrupted = 1;
            break;
        }
        if (prc < 0) {
            fprintf(stderr, "%sserve-bench[%d/%d]: failed: %s\n", c.tty ? "\r\033[K" : "", c.index, total, perr.msg);
            cJSON_Delete(point);
            point = is_schema_point_error("serve", point_config(&c, &points[i]), perr.msg);
            failed++;
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(doc, "points"), point);
        is_env_noise_end(run_env, &noise);
        if (o->out && is_results_write_dir(o->out, doc, &err)) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            goto fail;
        }
        if (serve_stop_requested) interrupted = 1;
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (interrupted) {
        fprintf(stderr, "\nserve-bench: interrupted; %s\n",
                o->out ? "finished points are in --out; run the same command with --resume to continue"
                       : "nothing was saved (no --out)");
        rc = EXIT_INTERRUPTED;
        goto cleanup;
    }
    char *text = is_results_to_format(doc, o->format);
    fputs(text, stdout);
    free(text);
    if (o->out) fprintf(stderr, "serve-bench: results in %s (results.json, results.csv, report.md, report.html)\n", o->out);
    if (is_prof_finish_with(&prof, NULL, 0, false, &err)) goto fail;
    rc = failed ? 1 : 0;
    if (failed) fprintf(stderr, "serve-bench: %d of %d points failed (see their error in the results)\n", failed, total);
    goto cleanup;
fail:
    fprintf(stderr, "inferscope serve-bench: %s\n", err.msg);
cleanup:
    is_prof_abort(&prof);
    cJSON_Delete(doc);
    cJSON_Delete(prev);
    free(points);
    is_model_free(m);
    if (be) be->destroy(be);
    return rc;
}
