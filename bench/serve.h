// serve.h — `inferscope serve-bench`: requests that arrive over time (Poisson or
// gamma at a rate, all at once, or a closed loop of N clients) served by the
// continuous-batching scheduler (engine/scheduler.h) in-process, on the real
// clock. Each point of the sweep (rate or concurrency x token budget x policy x
// prefill chunk) replays the workload; per-request latencies, throughput,
// goodput, preemptions, prefix-cache hits and a per-step time series go to the
// serving result document (reports/schema.h, "kind": "serve").
// The flags are read by app/cmd_serve_bench.c. Declares: is_serve_opts,
// is_serve_run, is_serve_opts_free.
#ifndef IS_BENCH_SERVE_H
#define IS_BENCH_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "bench/serve_metrics.h"  // defines: is_slo
#include "bench/serve_workload.h" // defines: is_workload_spec, is_len_dist
#include "engine/sampler.h"       // defines: is_sampler_params
#include "engine/tokenizer.h"     // defines: is_tokenizer
#include "kernels/backend.h"      // defines: is_backend_opts
#include "profiles/run.h"         // defines: is_prof_opts

typedef struct is_serve_opts {
    const char *model;
    int dtype;                  // an is_dtype, or -1: automatic
    is_backend_opts backend;    // batch_invariant: --batch-invariant
    uint64_t seed;
    // axes: every rate and every concurrency is a load point; x the rest
    char **rate;                // requests/s as written ("2", "0.5", "inf"), Poisson (gamma with burstiness)
    int n_rate;
    int *concurrency, n_concurrency; // closed-loop clients
    int *max_batch_tokens, n_max_batch_tokens;
    int *prefill_chunk, n_prefill_chunk; // 0: the token budget
    char **policy;              // "decode-first", "prefill-first"
    int n_policy;
    double burstiness;          // > 0: gamma arrivals of this shape; 0: Poisson
    // workload
    int requests;               // requests per point (0: duration decides)
    double duration_s;
    const char *prompt_text, *output_text; // the length distributions as written
    is_len_dist prompt_len, output_len;
    const char *workload;       // a JSONL or ShareGPT file, or NULL
    int n_prefixes, prefix_len; // shared prefixes
    const char *tokenizer_spec; // --tokenizer as given (NULL: the model's)
    is_tokenizer *tok;          // for a workload file's text (not owned)
    // engine
    int max_seqs, block_size;
    double kv_budget_mib;
    bool prefix_cache;
    const char *strategy;       // canonical spec: greedy or sample:...
    is_sampler_params sampler;
    bool ignore_eos;            // default true: every request generates its output length
    is_slo slo;
    int reps;                   // replays of the workload per point
    // output
    const char *out, *format;
    bool resume, force;
    is_prof_opts prof;
} is_serve_opts;

void is_serve_opts_free(is_serve_opts *o);

// Runs the sweep; argc/argv: the whole command line, for the results. Returns
// the exit status: 0 every point measured, 1 a point failed or the run could
// not start, 2 a usage error found once the model is known (a request past the
// context or the KV cache, a workload file that does not fit), 130 interrupted.
int is_serve_run(const is_serve_opts *o, int argc, char **argv);

#endif
