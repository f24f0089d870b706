// cmd_serve_bench.c — `inferscope serve-bench`: its flags read into an
// is_serve_opts, then bench/serve.c runs the sweep.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "bench/serve.h"     // defines: is_serve_opts, is_serve_run
#include "bench/sweep.h"     // defines: is_list_split, is_list_parse_ints
#include "engine/strategy.h" // defines: is_strategy_parse, is_strategy_format

static const char *serve_help =
    "usage: inferscope serve-bench --model MODEL [load] [workload] [options]\n"
    "\n"
    "Requests arrive over time and are served in-process by the continuous-batching scheduler:\n"
    "every step builds one batch from the running requests' decode tokens and chunks of prompts\n"
    "still to compute, under a token budget and a cap on running requests; finished requests leave\n"
    "and waiting ones join at every step. Each point replays the workload on the real clock; a\n"
    "request's clock starts at its arrival. Lists: '1,2,4'; integer ranges as in bench.\n"
    "\n"
    "load (each rate and each concurrency is a point)\n"
    "  --rate LIST             requests per second, Poisson arrivals; 'inf': all at once\n"
    "                          (default inf unless --concurrency is given)\n"
    "  --burstiness B          gamma arrivals of shape B instead of Poisson (1 is Poisson; below 1\n"
    "                          burstier, above 1 more regular)\n"
    "  --concurrency LIST      a closed loop of N clients, each sending its next request when its\n"
    "                          previous one finishes\n"
    "workload\n"
    "  --requests N            requests per point (default 64)\n"
    "  --duration S            instead: the requests arriving within S seconds (needs a finite --rate)\n"
    "  -p, --prompt-len DIST   prompt tokens: N, LO:HI (uniform) or lognormal:MEAN:SD (default 128)\n"
    "  -n, --gen-len DIST      output tokens, the same forms (default 64)\n"
    "  --workload FILE         requests from a file: JSONL, one {\"prompt\": TEXT or \"prompt_len\": N,\n"
    "                          \"output_len\": N} per line, or a ShareGPT-style JSON array (first human\n"
    "                          turn as prompt, the reply's token count as output length)\n"
    "  --tokenizer SPEC        for a workload file's text (default: the model's; presets: builtin)\n"
    "  --prefixes N            N shared system prompts (request i starts with prefix i mod N) ...\n"
    "  --prefix-len P          ... of P tokens, before its own prompt (exercises --prefix-cache)\n"
    "scheduler (axes: --max-batch-tokens, --prefill-chunk, --policy)\n"
    "  --max-batch-tokens LIST tokens per step (default 512)\n"
    "  --prefill-chunk LIST    prompt tokens of one request per step (default 0: the step's budget)\n"
    "  --policy LIST           decode-first (running decodes first: steady TPOT) or prefill-first\n"
    "                          (prompt chunks first: earlier first tokens) (default decode-first)\n"
    "  --max-seqs N            running requests at once (default 32)\n"
    "  --prefix-cache          reuse the KV blocks of equal prompt prefixes across requests\n"
    "  --batch-invariant       every op computes a row the same way whatever else is in the batch:\n"
    "                          a request's logits are bitwise those of the prompt run alone\n"
    "  --kv-budget MIB         KV cache memory (default 1024); --block-size N (default 16)\n"
    "  --strategy S            greedy or sample[:t=T,k=K,p=P,minp=M,rep=R,seed=S] (default greedy)\n"
    "  --stop-at-eos           end a request at an EOS token (default: every request generates its\n"
    "                          output length, so the load is what the workload says)\n"
    "model and backend\n"
    "  -m, --model MODEL       a Hugging Face directory, a .gguf file or preset:NAME; --dtype f32|bf16|int8|q8_0|q4_0\n"
    "  --backend cpu|cuda|auto (default auto); --device N; --no-graphs; -t, --threads N\n"
    "  --seed S                preset weights, arrivals, lengths, prompt ids and sampling (default 0)\n"
    "output\n"
    "  --slo ttft=MS,tpot=MS,e2e=MS  service-level objectives for goodput (any subset)\n"
    "  -r, --reps N            replays of the workload per point (default 1)\n"
    "  --out DIR               results.json (every request's latencies, the per-step time series),\n"
    "                          results.csv, report.md, report.html (charts); --resume skips finished\n"
    "                          points, --force replaces\n"
    "  --format md|csv|json|html  what is printed on stdout at the end (default md: the\n"
    "                          latency-throughput table)\n"
    IS_APP_PROF_FLAGS_HELP
    "\n"
    "Metrics (README \"Serving metrics\"): queue time, TTFT (arrival to first token on the host:\n"
    "queue + tokenize + prefill + first sample), TPOT, ITL, E2E with mean, median, p90, p95, p99;\n"
    "requests/s, input and output tok/s, goodput, peak running requests, KV blocks (peak, mean),\n"
    "preemptions, prefix-cache hit rate, the scheduler's own share of step time.\n"
    "Exit status: 0 every point measured, 1 a point failed, 2 bad usage, 130 interrupted.\n";

#define SERVE_FLAGS                                                                                              \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_BACKEND) | IS_FLAG_BIT(IS_FLAG_DEVICE) |                    \
     IS_FLAG_BIT(IS_FLAG_NO_GRAPHS) | IS_FLAG_BIT(IS_FLAG_THREADS) | IS_FLAG_BIT(IS_FLAG_DTYPE) |                 \
     IS_FLAG_BIT(IS_FLAG_SEED) | IS_FLAG_BIT(IS_FLAG_KV_BUDGET) | IS_FLAG_BIT(IS_FLAG_BLOCK_SIZE) |               \
     IS_FLAG_BIT(IS_FLAG_STRATEGY) | IS_FLAG_BIT(IS_FLAG_NVTX_LEVEL) | IS_FLAG_BIT(IS_FLAG_TRACE) |               \
     IS_FLAG_BIT(IS_FLAG_OUT) | IS_FLAG_BIT(IS_FLAG_FORMAT) | IS_FLAG_BIT(IS_FLAG_PROMPT_LEN) |                   \
     IS_FLAG_BIT(IS_FLAG_GEN_LEN) | IS_FLAG_BIT(IS_FLAG_REPS) | IS_FLAG_BIT(IS_FLAG_FORCE) |                      \
     IS_FLAG_BIT(IS_FLAG_TOKENIZER))

// The rates of --rate: finite numbers > 0 (as written, for the results) or "inf".
static int rates_parse(const char *s, is_serve_opts *o) {
    is_err err = {{0}};
    if (is_list_split("--rate", s, &o->rate, &o->n_rate, &err)) return is_app_usage("serve-bench", "%s", err.msg);
    for (int i = 0; i < o->n_rate; i++) {
        double v;
        if (!strcmp(o->rate[i], "inf")) continue;
        if (is_app_parse_double(o->rate[i], 1e-6, 1e6, &v))
            return is_app_usage("serve-bench", "--rate '%s': expected requests per second (> 0, at most 1e6) or inf",
                                o->rate[i]);
    }
    return 0;
}

static int int_list(const char *flag, const char *s, long lo, long hi, int **out, int *n) {
    is_err err = {{0}};
    if (is_list_parse_ints(flag, s, lo, hi, out, n, &err)) return is_app_usage("serve-bench", "%s", err.msg);
    return 0;
}

static int serve_parse(int argc, char **argv, is_serve_opts *o) {
    const char *cmd = "serve-bench";
    is_flags f;
    is_flags_init(&f);
    f.reps = 1;
    memset(o, 0, sizeof *o);
    const char *rate = NULL, *conc = NULL, *mbt = "512", *chunk = "0", *policy = "decode-first", *slo = NULL;
    long requests = -1, max_seqs = 32, prefixes = 0, prefix_len = 0;
    double duration = 0, burst = 0;
    bool stop_at_eos = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(serve_help, stdout);
            return -1;
        }
        int c = is_flags_parse(cmd, SERVE_FLAGS, argc, argv, &i, &f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--resume")) o->resume = true;
        else if (!strcmp(a, "--prefix-cache")) o->prefix_cache = true;
        else if (!strcmp(a, "--batch-invariant")) o->backend.batch_invariant = true;
        else if (!strcmp(a, "--stop-at-eos")) stop_at_eos = true;
        else {
            static const char *const own[] = {"--rate", "--concurrency", "--burstiness", "--requests", "--duration",
                                              "--workload", "--prefixes", "--prefix-len", "--max-batch-tokens",
                                              "--prefill-chunk", "--policy", "--max-seqs", "--slo"};
            bool known = false;
            for (size_t k = 0; k < sizeof own / sizeof own[0]; k++) known |= !strcmp(a, own[k]);
            if (!known) return is_app_usage(cmd, a[0] == '-' ? "unknown flag '%s'" : "unexpected argument '%s'", a);
            if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--rate")) rate = v;
            else if (!strcmp(a, "--concurrency")) conc = v;
            else if (!strcmp(a, "--max-batch-tokens")) mbt = v;
            else if (!strcmp(a, "--prefill-chunk")) chunk = v;
            else if (!strcmp(a, "--policy")) policy = v;
            else if (!strcmp(a, "--slo")) slo = v;
            else if (!strcmp(a, "--workload")) o->workload = v;
            else if (!strcmp(a, "--burstiness") ? is_app_parse_double(v, 1e-3, 1e3, &burst)
                     : !strcmp(a, "--duration") ? is_app_parse_double(v, 1e-3, 1e6, &duration)
                     : !strcmp(a, "--requests") ? is_app_parse_long(v, 1, 1000000, &requests)
                     : !strcmp(a, "--max-seqs") ? is_app_parse_long(v, 1, 4096, &max_seqs)
                     : !strcmp(a, "--prefixes") ? is_app_parse_long(v, 1, 100000, &prefixes)
                                                : is_app_parse_long(v, 1, 1 << 24, &prefix_len))
                return is_app_usage(cmd, "%s '%s': expected %s", a, v,
                                    !strcmp(a, "--burstiness") ? "a gamma shape from 0.001 to 1000"
                                    : !strcmp(a, "--duration") ? "seconds (> 0)"
                                                                : "a positive whole number");
        }
    }
    if (!f.model) return is_app_usage(cmd, "--model is required (a model directory, a .gguf file or preset:NAME)");
    o->model = f.model;
    o->tokenizer_spec = f.tokenizer;
    o->dtype = f.dtype;
    o->backend.which = f.backend;
    o->backend.threads = f.threads;
    o->backend.device = f.device;
    o->backend.no_graphs = f.no_graphs;
    o->seed = f.seed;
    o->kv_budget_mib = f.kv_budget_mib;
    o->block_size = f.block_size;
    o->max_seqs = (int)max_seqs;
    o->reps = f.reps;
    o->out = f.out;
    o->format = f.format;
    o->force = f.force;
    o->prof = (is_prof_opts){.trace = f.trace, .nvtx_level = f.nvtx_level};
    o->ignore_eos = !stop_at_eos;
    o->burstiness = burst;
    o->n_prefixes = (int)prefixes;
    o->prefix_len = (int)prefix_len;
    if (o->resume && !o->out) return is_app_usage(cmd, "--resume needs --out DIR (the sweep to continue)");
    if (o->resume && o->force) return is_app_usage(cmd, "--resume and --force cannot be combined");
    if ((prefixes > 0) != (prefix_len > 0)) return is_app_usage(cmd, "--prefixes and --prefix-len go together");
    if (prefixes > 0 && o->workload) return is_app_usage(cmd, "--prefixes: shared prefixes are for synthetic prompts, "
                                                               "not a --workload file");
    if (duration > 0 && requests > 0) return is_app_usage(cmd, "--requests and --duration: give one");
    o->duration_s = duration;
    o->requests = duration > 0 ? 0 : requests > 0 ? (int)requests : o->workload ? 0 : 64;
    if ((rate || !conc) && rates_parse(rate ? rate : "inf", o)) return IS_EXIT_USAGE;
    if (conc && int_list("--concurrency", conc, 1, 4096, &o->concurrency, &o->n_concurrency)) return IS_EXIT_USAGE;
    if (duration > 0) {
        if (conc) return is_app_usage(cmd, "--duration needs arrivals at a rate, not --concurrency");
        for (int i = 0; i < o->n_rate; i++)
            if (!strcmp(o->rate[i], "inf")) return is_app_usage(cmd, "--duration needs a finite --rate, not inf");
    }
    if (int_list("--max-batch-tokens", mbt, 1, 1 << 20, &o->max_batch_tokens, &o->n_max_batch_tokens) ||
        int_list("--prefill-chunk", chunk, 0, 1 << 20, &o->prefill_chunk, &o->n_prefill_chunk))
        return IS_EXIT_USAGE;
    for (int i = 0; i < o->n_max_batch_tokens; i++)
        if (o->max_batch_tokens[i] < o->max_seqs)
            return is_app_usage(cmd, "--max-batch-tokens %d is below --max-seqs %d: every running request's decode "
                                "token must fit one step", o->max_batch_tokens[i], o->max_seqs);
    is_err err = {{0}};
    if (is_list_split("--policy", policy, &o->policy, &o->n_policy, &err)) return is_app_usage(cmd, "%s", err.msg);
    for (int i = 0; i < o->n_policy; i++)
        if (strcmp(o->policy[i], "decode-first") && strcmp(o->policy[i], "prefill-first"))
            return is_app_usage(cmd, "--policy '%s': expected decode-first or prefill-first", o->policy[i]);
    o->prompt_text = f.prompt_len ? f.prompt_len : "128";
    o->output_text = f.gen_len ? f.gen_len : "64";
    if (is_len_dist_parse(o->prompt_text, "--prompt-len", &o->prompt_len, &err) ||
        is_len_dist_parse(o->output_text, "--gen-len", &o->output_len, &err))
        return is_app_usage(cmd, "%s", err.msg);
    if (slo && is_slo_parse(slo, &o->slo, &err)) return is_app_usage(cmd, "%s", err.msg);
    is_strategy st;
    const char *spec = f.strategy ? f.strategy : "greedy";
    if (is_strategy_parse(spec, &st, &err)) return is_app_usage(cmd, "--strategy: %s", err.msg);
    if (st.kind != IS_STRATEGY_GREEDY && st.kind != IS_STRATEGY_SAMPLE)
        return is_app_usage(cmd, "--strategy %s: serve-bench serves greedy and sample requests; beam search and "
                            "speculative decoding run in bench", spec);
    if (!st.seed_given) st.sampler.seed = o->seed;
    o->sampler = st.sampler;
    static char canon[256];
    is_strategy_format(&st, canon, sizeof canon);
    o->strategy = canon;
    return 0;
}

int is_cmd_serve_bench(int argc, char **argv) {
    is_serve_opts o;
    int rc = serve_parse(argc - 2, argv + 2, &o);
    if (rc) {
        is_serve_opts_free(&o);
        return rc < 0 ? 0 : rc;
    }
    is_err err = {{0}};
    is_tokenizer *tok = NULL;
    if (o.workload && is_app_open_tokenizer(o.tokenizer_spec, o.model, true, "pass --tokenizer SPEC", &tok, &err)) {
        fprintf(stderr, "inferscope serve-bench: %s\n", err.msg);
        is_serve_opts_free(&o);
        return 1;
    }
    o.tok = tok;
    rc = is_serve_run(&o, argc, argv);
    if (tok) is_tok_free(tok);
    is_serve_opts_free(&o);
    return rc;
}
