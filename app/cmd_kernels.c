// cmd_kernels.c — `inferscope kernels`: its flags read into an is_kernels_opts,
// then bench/kernels.c runs the sweep.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "bench/kernels.h" // defines: is_kernels_opts, is_kernels_run
#include "bench/sweep.h"   // defines: is_list_split, is_list_free
#include "reports/results.h"

static const char *kernels_help =
    "usage: inferscope kernels [axes] [options]\n"
    "\n"
    "Times every variant of each op with alternatives (--kernel op=variant) on the shapes of model\n"
    "configs (no weights are loaded), each variant validated against a reference first and again\n"
    "after its timed runs; a variant that fails is reported with its NMSE, not timed, and the exit\n"
    "status is 1. Lists: '1,8,32'; ranges 'A-B*F' and 'A-B+S' as in bench.\n"
    "\n"
    "axes\n"
    "  -m, --model LIST        preset:NAME, NAME or a directory with config.json, comma-separated\n"
    "                          (default preset:llama-3.2-1b,preset:llama-3.1-8b)\n"
    "  --ops LIST              the ops to time (default: every op of the backend with variants)\n"
    "  --dtype LIST            matmul kinds: weight dtypes, an axis (bf16, f32, int8, q8_0, q4_0; default\n"
    "                          bf16), each variant validated and timed on each\n"
    "  --kernel LIST           the variants to time: items op=variant (or 'default', each op's\n"
    "                          default) joined by '+', specs comma-separated; ops not named: all\n"
    "  -b, --batch LIST        rows (matmul: tokens; attention: sequences) (default: 1,8 for gemv,\n"
    "                          1,8,128 for matmul, 1,8 for attn_decode, 1 for attn_prefill)\n"
    "  -d, --depth LIST        attn_decode: positions per sequence (default 512,4096)\n"
    "  -p, --prompt-len LIST   attn_prefill: prompt tokens per sequence (default 512,2048)\n"
    "repetitions\n"
    "  -r, --reps N            at least N timed samples per variant (default 20), after 3 warm-up runs\n"
    "  --max-time S            stop sampling after S seconds once -r is reached (default 1)\n"
    "  --max-noise PCT         ... or once the relative standard error of the time is under PCT percent\n"
    "                          (default 1)\n"
    "backend\n"
    "  --backend cpu|cuda|auto (default auto: cuda when a device answers); --device N (default 0)\n"
    "  -t, --threads N         CPU threads (default 0 = all online CPUs)\n"
    "  --seed S                input values (default 0)\n"
    "output\n"
    "  --out DIR               write results.json (every sample), results.csv, report.md and\n"
    "                          report.html (charts); refuses a DIR holding results.json unless --force\n"
    "  --format md|csv|json|html  what is printed on stdout at the end (default md: a table per point\n"
    "                          with the winner of each shape marked)\n"
    "  --no-probe              skip the bandwidth probe (no % of peak)\n"
    "\n"
    "Each sample: the last-level cache flushed, then the op timed on the device (CUDA events) or on\n"
    "the host from sync to sync. Reported: median time with its 95% bootstrap interval, bytes the op\n"
    "moves (matmul: weights + activations in and out; attention: K and V of every position + q in\n"
    "and out), GB/s, % of the peak the bench copy probe measures, GFLOP/s (matmul, prefill).\n"
    "Compare two runs with 'inferscope compare BASE/results.json NEW/results.json' (time_us).\n"
    "Exit status: 0 every variant validated and timed, 1 a variant failed, 2 bad usage.\n";

#define KERNELS_FLAGS                                                                                            \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_BACKEND) | IS_FLAG_BIT(IS_FLAG_DEVICE) |                    \
     IS_FLAG_BIT(IS_FLAG_THREADS) | IS_FLAG_BIT(IS_FLAG_SEED) | IS_FLAG_BIT(IS_FLAG_KERNEL) |                     \
     IS_FLAG_BIT(IS_FLAG_OUT) | IS_FLAG_BIT(IS_FLAG_FORMAT) | IS_FLAG_BIT(IS_FLAG_BATCH) |                        \
     IS_FLAG_BIT(IS_FLAG_PROMPT_LEN) | IS_FLAG_BIT(IS_FLAG_DEPTH) | IS_FLAG_BIT(IS_FLAG_REPS) |                   \
     IS_FLAG_BIT(IS_FLAG_MAX_TIME) | IS_FLAG_BIT(IS_FLAG_MAX_NOISE) | IS_FLAG_BIT(IS_FLAG_NO_PROBE) |             \
     IS_FLAG_BIT(IS_FLAG_FORCE) | IS_FLAG_BIT(IS_FLAG_DTYPE) | IS_FLAGS_DTYPE_LIST)

void is_kernels_opts_free(is_kernels_opts *o) {
    is_list_free(o->models, o->n_models);
    is_list_free(o->ops, o->n_ops);
    is_list_free(o->kernel, o->n_kernel);
    free(o->batch);
    free(o->context);
    free(o->prompt);
    memset(o, 0, sizeof *o);
}

// Parses argv (after "kernels") into o and the backend flags into f; returns 0,
// or an exit status (help: -1).
static int kernels_parse(int argc, char **argv, is_kernels_opts *o, is_flags *f) {
    const char *cmd = "kernels", *ops = NULL;
    is_flags_init(f);
    f->reps = 20;
    f->max_time_s = 1;
    f->max_noise = 0.01;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(kernels_help, stdout);
            return -1;
        }
        int c = is_flags_parse(cmd, KERNELS_FLAGS, argc, argv, &i, f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (strcmp(a, "--ops")) return is_app_usage(cmd, a[0] == '-' ? "unknown flag '%s'" : "unexpected argument '%s'", a);
        if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
        ops = argv[++i];
    }
    o->threads = f->threads;
    o->model_list = f->model ? f->model : "preset:llama-3.2-1b,preset:llama-3.1-8b";
    o->rule = (is_stop_rule){.min_n = f->reps, .max_n = IS_KERNELS_MAX_SAMPLES, .max_time_s = f->max_time_s,
                             .max_noise = f->max_noise, .max_n_stop = "max_samples"};
    o->seed = f->seed;
    o->n_wdtype = f->n_dtypes;
    for (int i = 0; i < f->n_dtypes; i++) o->wdtype[i] = f->dtypes[i];
    o->no_probe = f->no_probe;
    o->force = f->force;
    o->out = f->out;
    o->format = f->format;
    is_err err = {{0}};
    if (is_list_split("--model", o->model_list, &o->models, &o->n_models, &err) ||
        (ops && is_list_split("--ops", ops, &o->ops, &o->n_ops, &err)) ||
        (f->kernel && is_list_split("--kernel", f->kernel, &o->kernel, &o->n_kernel, &err)))
        return is_app_usage(cmd, "%s", err.msg);
    if ((f->given[IS_FLAG_BATCH] && is_flags_list(cmd, f, IS_FLAG_BATCH, NULL, 1, 1 << 16, &o->batch, &o->n_batch)) ||
        is_flags_list(cmd, f, IS_FLAG_DEPTH, "512,4096", 1, 1 << 24, &o->context, &o->n_context) ||
        is_flags_list(cmd, f, IS_FLAG_PROMPT_LEN, "512,2048", 1, 1 << 20, &o->prompt, &o->n_prompt))
        return IS_EXIT_USAGE;
    return 0;
}

int is_kernels_sweep(is_backend *be, int argc, char **argv, cJSON **doc, is_err *err) {
    is_kernels_opts o;
    is_flags f;
    *doc = NULL;
    int rc = kernels_parse(argc, argv, &o, &f);
    if (rc) {
        is_kernels_opts_free(&o);
        is_errf(err, "kernels: %s", rc < 0 ? "--help is not a sweep" : "bad arguments (the message is on stderr)");
        return IS_EXIT_USAGE;
    }
    rc = is_kernels_run(&o, be, NULL, argc, argv, doc, err);
    is_kernels_opts_free(&o);
    return rc;
}

int is_cmd_kernels(int argc, char **argv) {
    is_kernels_opts o;
    is_flags f;
    int rc = kernels_parse(argc - 2, argv + 2, &o, &f);
    if (rc) {
        is_kernels_opts_free(&o);
        return rc < 0 ? 0 : rc;
    }
    is_err err = {{0}};
    char why_cuda[512] = "";
    cJSON *doc = NULL;
    f.no_graphs = false;
    is_backend *be = is_app_open_backend(&f, true, why_cuda, sizeof why_cuda, &err);
    rc = be ? is_kernels_run(&o, be, why_cuda, argc, argv, &doc, &err) : 1;
    if (rc < 0 || rc == IS_EXIT_USAGE || !be) {
        fprintf(stderr, "inferscope kernels: %s\n", err.msg);
        if (rc < 0) rc = 1;
    } else {
        char *text = is_results_to_format(doc, o.format);
        fputs(text, stdout);
        free(text);
        if (o.out)
            fprintf(stderr, "kernels: results in %s (results.json, results.csv, report.md, report.html)\n", o.out);
    }
    cJSON_Delete(doc);
    if (be) be->destroy(be);
    is_kernels_opts_free(&o);
    return rc;
}
