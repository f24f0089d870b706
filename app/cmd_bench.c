// cmd_bench.c — `inferscope bench` and `inferscope profile`: their flags (one
// parser: profile is one bench point in full detail) read into an is_bench_opts,
// then bench/bench.c runs it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "app/cmd_profile_metrics.h" // defines: is_profile_metrics_main (profile --list-metrics)
#include "bench/sweep.h"             // defines: is_list_split, is_list_split_strategies
#include "engine/strategy.h"         // defines: is_strategy_parse, is_strategy_format

static const char *bench_help =
    "usage: inferscope bench --model MODEL [axes] [options]\n"
    "\n"
    "Measures every combination of the axes. Lists: '1,8,32'; ranges 'A-B*F' (A, A*F, ... <= B)\n"
    "and 'A-B+S' (A, A+S, ... <= B), mixed freely: '1,4-64*4'.\n"
    "\n"
    "axes\n"
    "  -b, --batch LIST        sequences per batch (default 1)\n"
    "  -p, --prompt-len LIST   prompt tokens per sequence, synthetic ids from --seed (default 512)\n"
    "  -n, --gen-len LIST      tokens generated per sequence (default 128; 1 = prefill only)\n"
    "  -d, --depth LIST        context already in the KV cache before the prompt, filled once per\n"
    "                          point and not timed, as llama-bench -d (default 0)\n"
    "  --strategy LIST         greedy, sample[:t=T,k=K,p=P,minp=M,rep=R,seed=S], beam[:w=W,lp=L],\n"
    "                          spec:k=K,draft=MODEL[,dseed=S][,t=T,...] (default greedy; see README)\n"
    "  --kernel LIST           kernel variants: default, or op=variant joined by '+' (see below)\n"
    "repetitions\n"
    "  -r, --reps N            at least N measured repetitions per point (default 5)\n"
    "  --warmup N              unmeasured runs before them (default 1)\n"
    "  --max-time S            stop repeating after S seconds of a point once -r is reached (default 10)\n"
    "  --max-noise PCT         ... or once the relative standard error of the main metric (decode tok/s,\n"
    "                          or prefill tok/s when -n 1) is under PCT percent (default 1)\n"
    "  --max-reps N            never more than N repetitions (default 100)\n"
    "model and backend\n"
    "  -m, --model MODEL       a Hugging Face directory, a .gguf file or preset:NAME\n"
    "  --dtype LIST            weight dtypes, an axis: f32, bf16, int8 (per output channel), q8_0, q4_0\n"
    "                          (blocks of 32, as GGUF); quantized at load from any model (default: f32 for\n"
    "                          F32 files, the file's type for GGUF, else bf16)\n"
    "  --backend cpu|cuda|auto (default auto: cuda when a device answers); --device N (default 0)\n"
    "  --no-graphs             cuda: launch each step's kernels one by one, no graph replay\n"
    "  -t, --threads N         CPU threads (default 0 = all online CPUs)\n"
    "  --seed S                preset weights, prompts and sampling (default 0)\n"
    "  --block-size N          KV cache block (default 16); --max-batch-tokens N (default 512)\n"
    "output\n"
    "  --out DIR               write results.json (every sample), results.csv, report.md and\n"
    "                          report.html (charts), updated after every point; refuses a DIR\n"
    "                          holding results.json unless --resume\n"
    "                          (skip its finished points; the sweep must be the same) or --force\n"
    "  --format md|csv|json|html  what is printed on stdout at the end (default md; html: the page\n"
    "                          with charts that --out writes as report.html)\n"
    "  --no-probe              skip the bandwidth and matmul probes (no MBU, no MFU)\n"
    "profiling\n"
    IS_APP_PROF_FLAGS_HELP
    "  --no-kernel-table       cuda: no kernel table per phase (by default one extra, untimed repetition\n"
    "                          per point runs under CUPTI activity after the timed ones)\n"
    "  --activity-in-timed-reps cuda: CUPTI activity on through the warm-up and timed repetitions too,\n"
    "                          to measure what it costs (bench/profile-overhead); the point says so\n"
    "  --no-telemetry          no GPU telemetry (by default NVML is sampled every 50 ms through each\n"
    "                          point's timed repetitions: clocks, power, temperature, throttle reasons,\n"
    "                          energy and joules per token; \"unavailable\" with the reason without a driver)\n"
    "\n"
    "Before the sweep the harness measures the peak memory bandwidth (multi-threaded read and copy)\n"
    "and the backend's matmul rate; MBU and MFU are taken against those. Progress goes to stderr.\n"
    "Exit status: 0 all points measured, 1 a point failed, 2 bad usage, 130 interrupted.\n";

static const char *profile_help =
    "usage: inferscope profile --model MODEL [point] [options]\n"
    "       inferscope profile --list-metrics --chip CHIP\n"
    "\n"
    "One point in full detail: timed repetitions (as bench), then the kernel table per phase from\n"
    "one extra untimed repetition under CUPTI activity, then the DRAM counter pass (the CUPTI range\n"
    "profiler replays the work: never inside the timed repetitions), then the trace (host and device\n"
    "tracks). Where CUPTI cannot be used (the CPU backend, no libcupti, no permission, an\n"
    "unsupported chip) the report says which and why, and the rest still runs.\n"
    "\n"
    "point (one value each)\n"
    "  -b, --batch B  -p, --prompt-len P  -n, --gen-len N  -d, --depth D  --strategy S  --kernel K\n"
    "  --backend cpu|cuda|auto  --device N  -t, --threads N  --dtype D  --seed S  --no-graphs\n"
    "options\n"
    "  -r, --reps N            timed repetitions (default 5); --warmup N (default 1)\n"
    "  --counters dram|none    DRAM bytes read and written per prefill and per decode step (default dram)\n"
    "  --trace FILE            Chrome trace-event JSON: NVTX ranges per thread, kernels, copies and sets\n"
    "                          per stream, each tagged with the range that launched it\n"
    "  --nvtx-level N          0 none, 1 phases (default), 2 also every layer and backend op\n"
    "  --out DIR               results.json (bench's schema plus the profile sections), results.csv,\n"
    "                          report.md, report.html; --force replaces them\n"
    "  --no-probe              skip the bandwidth and matmul probes (no MBU, no MFU)\n"
    "  --list-metrics --chip CHIP  the DRAM counters CUPTI collects on CHIP, resolved on the host\n"
    "\n"
    "The report goes to stdout, progress to stderr. Exit status: 0, 1 the run failed, 2 bad usage.\n";

// The flags bench and profile share with other commands.
#define BENCH_FLAGS                                                                                              \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_BACKEND) | IS_FLAG_BIT(IS_FLAG_DEVICE) |                    \
     IS_FLAG_BIT(IS_FLAG_NO_GRAPHS) | IS_FLAG_BIT(IS_FLAG_THREADS) | IS_FLAG_BIT(IS_FLAG_DTYPE) | IS_FLAGS_DTYPE_LIST | \
     IS_FLAG_BIT(IS_FLAG_SEED) | IS_FLAG_BIT(IS_FLAG_BLOCK_SIZE) | IS_FLAG_BIT(IS_FLAG_MAX_BATCH_TOKENS) |         \
     IS_FLAG_BIT(IS_FLAG_STRATEGY) | IS_FLAG_BIT(IS_FLAG_KERNEL) | IS_FLAG_BIT(IS_FLAG_NVTX_LEVEL) |              \
     IS_FLAG_BIT(IS_FLAG_TRACE) | IS_FLAG_BIT(IS_FLAG_OUT) | IS_FLAG_BIT(IS_FLAG_FORMAT) |                        \
     IS_FLAG_BIT(IS_FLAG_BATCH) | IS_FLAG_BIT(IS_FLAG_PROMPT_LEN) | IS_FLAG_BIT(IS_FLAG_GEN_LEN) |                \
     IS_FLAG_BIT(IS_FLAG_DEPTH) | IS_FLAG_BIT(IS_FLAG_REPS) | IS_FLAG_BIT(IS_FLAG_MAX_TIME) |                     \
     IS_FLAG_BIT(IS_FLAG_MAX_NOISE) | IS_FLAG_BIT(IS_FLAG_NO_PROBE) | IS_FLAG_BIT(IS_FLAG_FORCE))

// The canonical form of each strategy of the list, so equal strategies match in compare.
static int strategies_parse(const char *cmd, const char *list, is_bench_opts *o) {
    is_err err = {{0}};
    char **specs;
    int n_specs;
    if (is_list_split_strategies("--strategy", list, &specs, &n_specs, &err)) return is_app_usage(cmd, "%s", err.msg);
    o->strategy = is_xcalloc((size_t)n_specs, sizeof *o->strategy);
    for (int i = 0; i < n_specs; i++) {
        is_strategy st;
        char buf[256];
        if (is_strategy_parse(specs[i], &st, &err)) {
            is_list_free(specs, n_specs);
            return is_app_usage(cmd, "--strategy: %s", err.msg);
        }
        is_strategy_format(&st, buf, sizeof buf);
        o->strategy[o->n_strategy++] = is_xstrdup(buf);
    }
    is_list_free(specs, n_specs);
    return 0;
}

int is_app_bench_parse(int argc, char **argv, bool profile, is_bench_opts *o) {
    const char *cmd = profile ? "profile" : "bench";
    is_flags f;
    is_flags_init(&f);
    f.reps = 5;
    f.max_time_s = 10;
    f.max_noise = 0.01;
    long max_reps = profile ? 5 : 100, warmup = 1;
    memset(o, 0, sizeof *o);
    o->profile = profile;
    o->counters = "dram";
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(profile ? profile_help : bench_help, stdout);
            return -1;
        }
        int c = is_flags_parse(cmd, BENCH_FLAGS, argc, argv, &i, &f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--resume")) {
            o->resume = true;
            continue;
        }
        if (!profile && !strcmp(a, "--no-kernel-table")) {
            o->no_kernel_table = true;
            continue;
        }
        if (!profile && !strcmp(a, "--activity-in-timed-reps")) {
            o->activity_timed = true;
            continue;
        }
        if (!profile && !strcmp(a, "--no-telemetry")) {
            o->no_telemetry = true;
            continue;
        }
        bool own = !strcmp(a, "--warmup") || !strcmp(a, "--max-reps") || (profile && !strcmp(a, "--counters"));
        if (!own) return is_app_usage(cmd, a[0] == '-' ? "unknown flag '%s'" : "unexpected argument '%s'", a);
        if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--counters")) {
            if (strcmp(v, "dram") && strcmp(v, "none"))
                return is_app_usage(cmd, "--counters '%s': expected dram (DRAM bytes per phase) or none", v);
            o->counters = v;
        } else if (!strcmp(a, "--warmup")) {
            if (is_app_parse_long(v, 0, 1000, &warmup))
                return is_app_usage(cmd, "%s '%s': expected an integer from 0 to 1000", a, v);
        } else if (is_app_parse_long(v, 1, 1000000, &max_reps)) {
            return is_app_usage(cmd, "%s '%s': expected an integer from 1 to 1000000", a, v);
        }
    }
    if (profile && f.given[IS_FLAG_REPS]) max_reps = f.reps; // profile: exactly N timed repetitions
    o->model = f.model;
    o->n_dtype = f.n_dtypes > 0 ? f.n_dtypes : 1;
    for (int i = 0; i < o->n_dtype; i++) o->dtype[i] = f.n_dtypes > 0 ? f.dtypes[i] : -1;
    o->backend = (is_backend_opts){.which = f.backend, .threads = f.threads, .device = f.device,
                                   .no_graphs = f.no_graphs};
    o->seed = f.seed;
    o->rule = (is_stop_rule){.min_n = f.reps, .max_n = (int)max_reps, .max_time_s = f.max_time_s,
                             .max_noise = f.max_noise, .max_n_stop = "max_reps"};
    o->warmup = (int)warmup;
    o->block_size = f.block_size;
    o->max_batch_tokens = f.max_batch_tokens;
    o->out = f.out;
    o->format = f.format;
    o->force = f.force;
    o->no_probe = f.no_probe;
    o->prof = (is_prof_opts){.trace = f.trace, .nvtx_level = f.nvtx_level};
    if (!o->model) return is_app_usage(cmd, "--model is required (a model directory, a .gguf file or preset:NAME)");
    if (o->resume && !o->out) return is_app_usage(cmd, "--resume needs --out DIR (the sweep to continue)");
    if (o->resume && o->force) return is_app_usage(cmd, "--resume and --force cannot be combined");
    if (o->rule.max_n < o->rule.min_n)
        return is_app_usage(cmd, "--max-reps %d is below --reps %d", o->rule.max_n, o->rule.min_n);
    is_err err = {{0}};
    if (is_flags_list(cmd, &f, IS_FLAG_BATCH, "1", 1, IS_MAX_BATCH, &o->batch, &o->n_batch) ||
        is_flags_list(cmd, &f, IS_FLAG_PROMPT_LEN, "512", 1, 1 << 24, &o->prompt, &o->n_prompt) ||
        is_flags_list(cmd, &f, IS_FLAG_GEN_LEN, "128", 1, 1 << 24, &o->gen, &o->n_gen) ||
        is_flags_list(cmd, &f, IS_FLAG_DEPTH, "0", 0, 1 << 24, &o->depth, &o->n_depth))
        return IS_EXIT_USAGE;
    if (is_list_split("--kernel", f.kernel ? f.kernel : "default", &o->kernel, &o->n_kernel, &err))
        return is_app_usage(cmd, "%s", err.msg);
    if (strategies_parse(cmd, f.strategy ? f.strategy : "greedy", o)) return IS_EXIT_USAGE;
    double n_points = (double)o->n_dtype * o->n_batch * o->n_prompt * o->n_gen * o->n_depth * o->n_strategy * o->n_kernel;
    if (profile && n_points != 1) {
        const char *axis = o->n_dtype > 1 ? "--dtype" : o->n_batch > 1 ? "--batch" : o->n_prompt > 1 ? "--prompt-len" : o->n_gen > 1 ? "--gen-len"
                           : o->n_depth > 1 ? "--depth" : o->n_strategy > 1 ? "--strategy" : "--kernel";
        return is_app_usage(cmd, "profile measures one point: %s has several values (use bench for a sweep)", axis);
    }
    if (n_points > 100000) return is_app_usage(cmd, "the sweep has %.0f points; at most 100000", n_points);
    return 0;
}

static int bench_or_profile(int argc, char **argv, bool profile) {
    is_bench_opts o;
    int rc = is_app_bench_parse(argc - 2, argv + 2, profile, &o);
    if (!rc) rc = is_bench_run(&o, argc, argv);
    else if (rc < 0) rc = 0; // --help
    is_bench_opts_free(&o);
    return rc;
}

int is_cmd_bench(int argc, char **argv) { return bench_or_profile(argc, argv, false); }

int is_cmd_profile(int argc, char **argv) {
    for (int i = 2; i < argc; i++) // the host-side listing: app/cmd_profile_metrics.c
        if (!strcmp(argv[i], "--list-metrics") || !strcmp(argv[i], "--chip")) return is_profile_metrics_main(argc, argv);
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(profile_help, stdout);
            return 0;
        }
    return bench_or_profile(argc, argv, true);
}
