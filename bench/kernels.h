// kernels.h — `inferscope kernels`: each op's kernel variants timed side by side
// over shapes taken from model configs, each variant validated against a
// reference first (kernels/check.h). The flags are read by the command line
// (app/cmd_kernels.c) into an is_kernels_opts. Declares: is_kernels_opts,
// is_kernels_run, is_kernels_opts_free.
#ifndef IS_BENCH_KERNELS_H
#define IS_BENCH_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "bench/stoprule.h"  // defines: is_stop_rule
#include "kernels/backend.h" // defines: is_backend

#define IS_KERNELS_MAX_SAMPLES 100000 // samples of one variant at most (rule.max_n)

typedef struct is_kernels_opts {
    int threads;               // CPU threads of the reference backend (0: all)
    const char *model_list;    // as given (the sweep's "model")
    char **models;
    int n_models;
    char **ops;                // NULL: every op of the backend
    int n_ops;
    char **kernel;             // specs restricting the variants timed; NULL: all
    int n_kernel;
    int *batch, n_batch;       // NULL: the kind's default
    int *context, n_context;   // attn_decode: positions per sequence (--depth)
    int *prompt, n_prompt;     // attn_prefill: prompt tokens per sequence
    int wdtype[IS_DTYPE_COUNT], n_wdtype; // matmul kinds: weight dtypes (--dtype), an axis; 0: BF16
    is_stop_rule rule;         // samples per variant: --reps, --max-time, --max-noise
    uint64_t seed;
    bool no_probe, force;
    const char *out, *format;
} is_kernels_opts;

void is_kernels_opts_free(is_kernels_opts *o);

// The sweep of o on be: checks everything first (ops, specs, models, the point
// count, --out), then measures. why_cuda: why the CUDA backend is not used (NULL
// or "" when it is, or it was not asked for); argc/argv: the command line, for
// the results. Returns 0, 1 (a point failed: validation or an error), 2 (a usage
// error found against the backend, message in err) or -1 (err set); *out_doc:
// the result document (also on 1; caller frees), else NULL.
int is_kernels_run(const is_kernels_opts *o, is_backend *be, const char *why_cuda, int argc, char **argv,
                   cJSON **out_doc, is_err *err);

#endif
