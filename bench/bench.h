// bench.h — `inferscope bench`: the static-batch sweep driver, and `inferscope
// profile`: one point of it in full detail (kernel tables, DRAM counters, device
// tracks). The flags are read by the command line (app/cmd_bench.c) into an
// is_bench_opts. Declares: is_bench_opts, is_bench_run, is_bench_opts_free,
// is_bench_out_prepare, is_bench_sweep_diff, is_bench_doc_resume, is_bench_run_env,
// is_bench_key_done.
#ifndef IS_BENCH_BENCH_H
#define IS_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "bench/stoprule.h"  // defines: is_stop_rule
#include "kernels/backend.h" // defines: is_backend_opts
#include "profiles/run.h"    // defines: is_prof_opts

typedef struct is_bench_opts {
    const char *model;
    int dtype[IS_DTYPE_COUNT]; // the weight dtype axis: is_dtype values (the model is loaded
    int n_dtype;               // once per dtype), or one -1: automatic
    is_backend_opts backend;
    uint64_t seed;
    // the axes: every combination is a point
    int *batch, n_batch;
    int *prompt, n_prompt;
    int *gen, n_gen;
    int *depth, n_depth;
    char **strategy;        // canonical specs (is_strategy_format)
    int n_strategy;
    char **kernel;
    int n_kernel;
    // repetitions: rule.min_n (--reps), rule.max_n (--max-reps), --max-time, --max-noise
    is_stop_rule rule;
    int warmup;
    int block_size, max_batch_tokens; // <= 0: the engine's defaults
    const char *out;        // NULL: no result files
    const char *format;     // md, csv, json: what is printed on stdout at the end
    bool resume, force, no_probe;
    is_prof_opts prof;      // --nvtx-level, --trace
    bool profile;           // `inferscope profile`: one point, counters, device tracks in the trace
    bool no_kernel_table;   // --no-kernel-table
    bool activity_timed;    // --activity-in-timed-reps (bench/profile-overhead)
    bool no_telemetry;      // bench --no-telemetry: no NVML sampling (bench/telemetry.h)
    const char *counters;   // profile --counters dram|none
} is_bench_opts;

void is_bench_opts_free(is_bench_opts *o);

// Runs the sweep of o. argc/argv: the whole command line, recorded in the
// results. Returns the exit status: 0 every point measured, 1 a point failed or
// the run could not start, 2 a usage error found once the model is known (a
// kernel spec the backend lacks, a point past the model's context), 130
// interrupted (finished points are in o->out; --resume continues).
int is_bench_run(const is_bench_opts *o, int argc, char **argv);

// What the drivers with result directories share (bench, serve-bench):
// Refuses an --out whose results.json would be overwritten by accident (unless
// resume or force); removes temporary files a killed run left there; loads the
// file for resume (*prev NULL when there is none yet).
int is_bench_out_prepare(const char *out, bool resume, bool force, cJSON **prev, is_err *err);
// The first key whose value differs between two sweep objects (NULL: equal), for
// the --resume message.
const char *is_bench_sweep_diff(const cJSON *a, const cJSON *b);
// --resume: the document *prev continues (*prev is taken: NULL after) when its
// sweep equals sweep, this run's environment appended to its resumed_env; NULL
// with err naming the first differing key otherwise (*prev kept). sweep is freed.
cJSON *is_bench_doc_resume(cJSON **prev, cJSON *sweep, const char *out, int argc, char **argv, is_backend *be,
                           const char *why_cuda, is_err *err);
// The environment of this run: the document's "env", or its last resumed_env.
cJSON *is_bench_run_env(cJSON *doc);
// Whether doc holds a point whose key (is_results_point_key) is key.
bool is_bench_key_done(const cJSON *doc, const char *key);

#endif
