// cli.c — commands: generate, export, presets. Parses flags strictly: an
// unknown flag, a missing value or a malformed number is a usage error (exit 2)
// naming the flag; a failure while running is exit 1 with one message.
#include "engine/cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/fileio.h" // defines: is_read_file, is_write_file_atomic
#include "engine/inferscope.h"
#include "engine/stop.h"     // defines: is_stop_check, is_stop_cut
#include "engine/strategy.h" // defines: is_strategy_parse, is_strategy_open_draft, ...
#include "engine/tokenizer.h"
#include "kernels/cuda/cuda_probe.h"
#include "profiles/nvtx.h" // defines: is_prof_push, is_prof_pop, is_prof_wrap_backend
#include "profiles/run.h"  // defines: is_prof_parse_flag, is_prof_start, is_prof_finish

#define EXIT_USAGE 2

typedef struct cli_opts {
    const char *model;
    const char *out;
    int dtype;          // -1: automatic
    int threads;
    const char *backend;
    int device;         // CUDA device ordinal
    bool no_graphs;
    uint64_t seed;
    int n_gen;
    int batch;
    int prompt_len;     // synthetic prompt of this many ids (0: off)
    int n_prompts;
    int32_t **prompts;
    int *prompt_lens;
    float temperature;
    int top_k;
    float top_p;
    bool print_ids;
    bool ignore_eos;
    bool quiet;
    bool no_special;
    const char *tokenizer;  // --tokenizer SPEC
    double kv_budget_mib;
    double kv_frac;     // > 0: KV budget as a fraction of free memory
    int block_size;
    int max_batch_tokens;
    const char *strategy;   // --strategy SPEC
    const char *kernel;     // --kernel SPEC (NULL: the backend's defaults)
    float min_p, rep_penalty;
    const char **stop;      // --stop strings
    int n_stop;
    is_prof_opts prof;  // --nvtx-level, --trace
} cli_opts;

int is_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "inferscope %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'inferscope %s --help')\n", cmd);
    return EXIT_USAGE;
}

int is_cli_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int is_cli_parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

// "1,2,3" or "1 2 3" -> ids (malloc'd). Returns the count, or -1 with a message.
static int parse_ids(const char *s, int32_t **out, char *bad, size_t bad_len) {
    int cap = 16, n = 0;
    int32_t *ids = is_xmalloc((size_t)cap * sizeof *ids);
    const char *p = s;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n')) {
            size_t len = strcspn(p, ", \t\n");
            snprintf(bad, bad_len, "'%.*s' is not a token id (a non-negative integer)", (int)(len > 40 ? 40 : len), p);
            free(ids);
            return -1;
        }
        if (n == cap) ids = is_xrealloc(ids, (size_t)(cap *= 2) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        snprintf(bad, bad_len, "no token ids given");
        free(ids);
        return -1;
    }
    *out = ids;
    return n;
}

static void free_prompts(cli_opts *o) {
    for (int i = 0; i < o->n_prompts; i++) free(o->prompts[i]);
    free(o->prompts);
    free(o->prompt_lens);
    o->prompts = NULL;
    o->prompt_lens = NULL;
    o->n_prompts = 0;
}

static void add_prompt(cli_opts *o, int32_t *ids, int n) {
    o->prompts = is_xrealloc(o->prompts, (size_t)(o->n_prompts + 1) * sizeof *o->prompts);
    o->prompt_lens = is_xrealloc(o->prompt_lens, (size_t)(o->n_prompts + 1) * sizeof *o->prompt_lens);
    o->prompts[o->n_prompts] = ids;
    o->prompt_lens[o->n_prompts] = n;
    o->n_prompts++;
}

// Flags shared by the commands; returns 1 when consumed (and *i advanced), 0 when
// not a shared flag, EXIT_USAGE (negated) on error.
#define NEED_VALUE()                                                              \
    do {                                                                          \
        if (*i + 1 >= argc) return -is_cli_usage_error(cmd, "flag %s needs a value", a); \
        v = argv[++*i];                                                           \
    } while (0)

static int parse_common(const char *cmd, int argc, char **argv, int *i, cli_opts *o) {
    const char *a = argv[*i], *v;
    long lv;
    if (!strcmp(a, "--model") || !strcmp(a, "-m")) {
        NEED_VALUE();
        o->model = v;
    } else if (!strcmp(a, "--dtype")) {
        NEED_VALUE();
        is_dtype d;
        if (is_dtype_parse(v, &d)) return -is_cli_usage_error(cmd, "--dtype '%s': expected f32, bf16 or f16", v);
        o->dtype = (int)d;
    } else if (!strcmp(a, "--seed")) {
        NEED_VALUE();
        char *end;
        errno = 0;
        unsigned long long s = strtoull(v, &end, 10);
        if (errno || *end || !*v || v[0] == '-') return -is_cli_usage_error(cmd, "--seed '%s': expected a non-negative integer", v);
        o->seed = s;
    } else if (!strcmp(a, "--threads") || !strcmp(a, "-t")) {
        NEED_VALUE();
        if (is_cli_parse_long(v, 0, 1024, &lv)) return -is_cli_usage_error(cmd, "%s '%s': expected an integer from 0 (all CPUs) to 1024", a, v);
        o->threads = (int)lv;
    } else if (!strcmp(a, "--backend")) {
        NEED_VALUE();
        if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
            return -is_cli_usage_error(cmd, "--backend '%s': expected cpu, cuda or auto", v);
        o->backend = v;
    } else if (!strcmp(a, "--device")) {
        NEED_VALUE();
        if (is_cli_parse_long(v, 0, 1023, &lv)) return -is_cli_usage_error(cmd, "--device '%s': expected a CUDA device ordinal >= 0", v);
        o->device = (int)lv;
    } else if (!strcmp(a, "--no-graphs")) {
        o->no_graphs = true;
    } else {
        return 0;
    }
    return 1;
}

// ---- backend selection ---------------------------------------------------------

is_backend *is_cli_open_backend(const is_cli_backend_opts *bo, bool verbose, char *why_cuda, size_t why_len,
                                is_err *err) {
    char why[512] = "";
    int n_dev = is_cuda_probe(why, sizeof why);
    if (n_dev > 0) snprintf(why, sizeof why, "--backend cpu was asked for (%d CUDA device(s) answer)", n_dev);
    if (n_dev > 0 && bo->device >= n_dev) {
        snprintf(why, sizeof why, "--device %d: only %d CUDA device(s) answer", bo->device, n_dev);
        n_dev = 0;
    }
    is_backend *be = NULL;
    if (!strcmp(bo->which, "cuda") || (!strcmp(bo->which, "auto") && n_dev > 0)) {
        if (n_dev == 0) {
            is_errf(err, "--backend cuda: %s", why);
            return NULL;
        }
        is_err cerr = {{0}};
        be = is_cuda_backend_create(bo->device, &cerr);
        if (!be && !strcmp(bo->which, "cuda")) {
            is_errf(err, "--backend cuda: %s", cerr.msg);
            return NULL;
        }
        if (!be) snprintf(why, sizeof why, "the CUDA backend could not start: %.440s", cerr.msg);
    }
    if (be) {
        be->graphs = be->graphs && !bo->no_graphs;
        if (why_cuda) why_cuda[0] = 0;
        if (verbose) {
            is_device_info di = {0};
            is_err derr = {{0}};
            if (be->device_info && !be->device_info(be, &di, &derr))
                fprintf(stderr, "backend: cuda (device %d: %s, %.1f GiB, sm_%d%d)%s\n", di.ordinal, di.name,
                        di.mem_total_bytes / 1073741824.0, di.cc_major, di.cc_minor,
                        be->graphs ? "" : ", no graphs");
            else
                fprintf(stderr, "backend: cuda\n");
        }
        return be;
    }
    if (why_cuda) snprintf(why_cuda, why_len, "%s", why);
    if (!strcmp(bo->which, "auto") && verbose) fprintf(stderr, "backend: cpu (CUDA off: %s)\n", why);
    return is_cpu_backend_create(bo->threads, err);
}

static is_backend *open_backend(const cli_opts *o, bool verbose, is_err *err) {
    is_cli_backend_opts bo = {.which = o->backend, .threads = o->threads, .device = o->device,
                              .no_graphs = o->no_graphs};
    return is_cli_open_backend(&bo, verbose, NULL, 0, err);
}

// ---- tokenizer -------------------------------------------------------------------

// The tokenizer for o->model: --tokenizer, else the model directory's
// tokenizer.json, else (presets) the built-in GPT-2 vocabulary. A directory with
// no tokenizer.json has none: an error when one is needed for a text prompt.
static int open_tokenizer(const cli_opts *o, bool needed, is_tokenizer **tok, is_err *err) {
    *tok = NULL;
    const char *spec = o->tokenizer;
    char path[2048];
    if (!spec) {
        if (!strncmp(o->model, "preset:", 7)) {
            spec = "builtin";
        } else {
            snprintf(path, sizeof path, "%s/tokenizer.json", o->model);
            struct stat st;
            if (stat(path, &st) == 0) spec = o->model;
        }
    }
    if (!spec) {
        if (!needed || o->print_ids) return 0;
        return is_errf(err, "%s has no tokenizer.json: pass --tokenizer SPEC, or token ids with --prompt-ids",
                       o->model);
    }
    return is_tok_load(spec, tok, err);
}

typedef struct text_sink {
    is_tokenizer *tok;
    is_tok_stream stream;
    char *buf;
    size_t len, cap;
} text_sink;

// Streams the text of each new token to stdout as soon as it is complete UTF-8.
static void sink_feed(void *user, int seq_index, int32_t token) {
    (void)seq_index;
    text_sink *t = user;
    t->len = 0;
    is_prof_push(IS_PROF_DETOKENIZE, 1);
    is_tok_stream_feed(t->tok, &t->stream, token, &t->buf, &t->len, &t->cap);
    is_prof_pop(IS_PROF_DETOKENIZE);
    fwrite(t->buf, 1, t->len, stdout);
    fflush(stdout);
    t->len = 0;
}

// ---- generate ------------------------------------------------------------------

// The decoding strategy: --strategy SPEC, else the sampling flags. Returns 0,
// or a negative exit status after a usage error.
static int cli_strategy(const cli_opts *o, is_strategy *st, const char *cmd) {
    is_err err = {{0}};
    if (o->strategy) {
        if (o->temperature > 0 || o->top_k || o->top_p != 1.0f || o->min_p > 0 || o->rep_penalty > 0)
            return -is_cli_usage_error(cmd, "--strategy cannot be combined with --temperature, --top-k, --top-p, "
                                            "--min-p or --repeat-penalty (give them in the spec)");
        if (is_strategy_parse(o->strategy, st, &err)) return -is_cli_usage_error(cmd, "--strategy: %s", err.msg);
        return 0;
    }
    memset(st, 0, sizeof *st);
    st->kind = o->temperature > 0 ? IS_STRATEGY_SAMPLE : IS_STRATEGY_GREEDY;
    st->sampler = (is_sampler_params){.temperature = o->temperature, .top_k = o->top_k, .top_p = o->top_p,
                                      .min_p = o->min_p, .rep_penalty = o->rep_penalty};
    return 0;
}

// The strategy's statistics on stderr, after the timing line.
static void cli_strategy_line(const is_strategy *st, const is_gen_result *res) {
    char spec[IS_STRATEGY_DRAFT_MAX + 128];
    is_strategy_format(st, spec, sizeof spec);
    const is_gen_stats *g = &res->stats;
    if (st->kind == IS_STRATEGY_SPEC)
        fprintf(stderr, "strategy: %s | acceptance %.3f (%ld of %ld drafted) | %.2f accepted per step over %ld "
                "steps | draft %.1f ms, verify %.1f ms\n", spec, g->drafted ? (double)g->accepted / g->drafted : 0.0,
                g->accepted, g->drafted, g->rounds ? (double)g->accepted / g->rounds : 0.0, g->steps,
                g->draft_s * 1e3, g->verify_s * 1e3);
    else if (st->kind == IS_STRATEGY_BEAM)
        fprintf(stderr, "strategy: %s | %ld steps | best score %.6f\n", spec, g->steps,
                res->hyps && res->hyps[0].n ? res->hyps[0].score[0] : NAN);
}

static const char *generate_help =
    "usage: inferscope generate --model MODEL (--prompt TEXT | --prompt-ids IDS | --prompt-len N) [options]\n"
    "\n"
    "  --model, -m MODEL      a Hugging Face model directory or preset:NAME (see 'inferscope presets')\n"
    "  --prompt-ids IDS       prompt token ids, '1,2,3' or '1 2 3'; repeat for a batch of different prompts\n"
    "  --prompt-len N         a prompt of N token ids drawn from --seed (for timing)\n"
    "  --prompt TEXT          a text prompt, tokenized by the model's tokenizer\n"
    "  --tokenizer SPEC       builtin, a tokenizer.json, a directory holding one, or ENCODING:FILE.tiktoken\n"
    "                         (default: the model directory's tokenizer.json; presets: builtin GPT-2)\n"
    "  --no-special           treat special-token text in the prompt as plain text\n"
    "  -n N                   tokens to generate per sequence (default 16)\n"
    "  --batch B              run B copies of the prompt as one batch (default 1)\n"
    "  --temperature T        0 = greedy (default 0)\n"
    "  --top-k K              keep the K most likely tokens (0 = off)\n"
    "  --top-p P              keep the smallest set with probability >= P (1 = off)\n"
    "  --min-p M              keep tokens with probability >= M x the top one (0 = off)\n"
    "  --repeat-penalty R     divide positive (multiply negative) logits of seen tokens by R (1 = off)\n"
    "  --strategy SPEC        greedy, sample:t=T,k=K,p=P,minp=M,rep=R,seed=S, beam:w=W,lp=L or\n"
    "                         spec:k=K,draft=MODEL[,dseed=S][,t=T,topk=K,p=P,...] (instead of the four\n"
    "                         flags above; see README, 'Decoding strategies')\n"
    "  --stop STR             end a sequence when its text contains STR (repeatable); the text is cut there\n"
    "  --seed S               seed of preset weights, synthetic prompts and sampling (default 0)\n"
    "  --ignore-eos           keep generating after an end-of-sequence token\n"
    "  --backend cpu|cuda|auto  compute backend (default auto: CUDA when a device answers, else cpu)\n"
    "  --device N             CUDA device ordinal (default 0)\n"
    "  --no-graphs            launch every decode step's kernels one by one (no CUDA graph replay)\n"
    "  --kernel SPEC          kernel variants: default, or op=variant joined by '+' (cuda: gemv=custom,\n"
    "                         attn_decode=split_kv, attn_prefill=wide; cpu: matmul=gemv|gemm|blas)\n"
    "  --threads, -t N        CPU threads (default 0 = all online CPUs)\n"
    "  --dtype f32|bf16       weight dtype in memory (default: f32 for F32 files, else bf16)\n"
    "  --kv-budget MIB        KV cache memory in MiB (default: what the batch needs)\n"
    "  --kv-frac F            KV cache memory as a fraction (0, 1] of the memory left after weights\n"
    "                         and activations (device memory on cuda)\n"
    "  --block-size N         tokens per KV cache block (default 16)\n"
    "  --max-batch-tokens N   tokens per forward chunk (default 512)\n"
    "  --print-ids            print generated ids (space-separated, a line per sequence) instead of text;\n"
    "                         beam search adds a line per hypothesis: '# beam H score S logprob L: IDS'\n"
    "  --quiet                no timing line\n"
    IS_PROF_FLAGS_HELP
    "\n"
    "Generated text streams to stdout (batch > 1: each sequence's text after the run, a line\n"
    "each); a timing line goes to stderr. TTFT counts from before the prompt is tokenized.\n";

static int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate";
    cli_opts o = {.dtype = -1, .backend = "auto", .n_gen = 16, .batch = 0, .top_p = 1.0f, .prof = IS_PROF_OPTS_INIT};
    int rc = EXIT_USAGE;
    const char *text_prompt = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v;
        long lv;
        double dv;
        int *ip = &i;
        int c = parse_common(cmd, argc, argv, ip, &o);
        if (c < 0) goto out;
        if (c > 0) continue;
        char pbad[256];
        if ((c = is_prof_parse_flag(argc, argv, ip, &o.prof, pbad, sizeof pbad)) < 0) {
            is_cli_usage_error(cmd, "%s", pbad);
            goto out;
        }
        if (c > 0) continue;
#undef NEED_VALUE
#define NEED_VALUE()                                                          \
    do {                                                                      \
        if (i + 1 >= argc) {                                                  \
            is_cli_usage_error(cmd, "flag %s needs a value", a);                     \
            goto out;                                                         \
        }                                                                     \
        v = argv[++i];                                                        \
    } while (0)
#define BAD(...)                      \
    do {                              \
        is_cli_usage_error(cmd, __VA_ARGS__); \
        goto out;                     \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(generate_help, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--prompt")) {
            NEED_VALUE();
            text_prompt = v;
        } else if (!strcmp(a, "--prompt-ids")) {
            NEED_VALUE();
            int32_t *ids;
            char bad[128];
            int n = parse_ids(v, &ids, bad, sizeof bad);
            if (n < 0) BAD("--prompt-ids: %s", bad);
            add_prompt(&o, ids, n);
        } else if (!strcmp(a, "--prompt-len")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 1, INT32_MAX, &lv)) BAD("--prompt-len '%s': expected a positive integer", v);
            o.prompt_len = (int)lv;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 1, INT32_MAX, &lv)) BAD("%s '%s': expected a positive integer", a, v);
            o.n_gen = (int)lv;
        } else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 1, 1 << 20, &lv)) BAD("%s '%s': expected a positive integer", a, v);
            o.batch = (int)lv;
        } else if (!strcmp(a, "--temperature") || !strcmp(a, "--temp")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 0, 1e6, &dv)) BAD("%s '%s': expected a number >= 0", a, v);
            o.temperature = (float)dv;
        } else if (!strcmp(a, "--top-k")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 0, INT32_MAX, &lv)) BAD("--top-k '%s': expected an integer >= 0", v);
            o.top_k = (int)lv;
        } else if (!strcmp(a, "--top-p")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 1e-9, 1, &dv)) BAD("--top-p '%s': expected a number in (0, 1]", v);
            o.top_p = (float)dv;
        } else if (!strcmp(a, "--min-p")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 0, 1, &dv)) BAD("--min-p '%s': expected a number in [0, 1]", v);
            o.min_p = (float)dv;
        } else if (!strcmp(a, "--repeat-penalty")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 1e-3, 1e3, &dv)) BAD("--repeat-penalty '%s': expected a number in [0.001, 1000]", v);
            o.rep_penalty = (float)dv;
        } else if (!strcmp(a, "--strategy")) {
            NEED_VALUE();
            o.strategy = v;
        } else if (!strcmp(a, "--stop")) {
            NEED_VALUE();
            if (!*v) BAD("--stop: the string is empty");
            o.stop = is_xrealloc(o.stop, (size_t)(o.n_stop + 1) * sizeof *o.stop);
            o.stop[o.n_stop++] = v;
        } else if (!strcmp(a, "--kv-budget")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 1e-6, 1 << 30, &dv)) BAD("--kv-budget '%s': expected a positive size in MiB", v);
            o.kv_budget_mib = dv;
        } else if (!strcmp(a, "--kernel")) {
            NEED_VALUE();
            if (!*v) BAD("--kernel: expected default or op=variant items joined by '+'");
            o.kernel = v;
        } else if (!strcmp(a, "--kv-frac")) {
            NEED_VALUE();
            if (is_cli_parse_double(v, 1e-6, 1, &dv)) BAD("--kv-frac '%s': expected a fraction in (0, 1]", v);
            o.kv_frac = dv;
        } else if (!strcmp(a, "--block-size")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 1, 1 << 16, &lv)) BAD("--block-size '%s': expected an integer from 1 to 65536", v);
            o.block_size = (int)lv;
        } else if (!strcmp(a, "--max-batch-tokens")) {
            NEED_VALUE();
            if (is_cli_parse_long(v, 1, 1 << 20, &lv)) BAD("--max-batch-tokens '%s': expected a positive integer", v);
            o.max_batch_tokens = (int)lv;
        } else if (!strcmp(a, "--tokenizer")) {
            NEED_VALUE();
            o.tokenizer = v;
        } else if (!strcmp(a, "--no-special")) {
            o.no_special = true;
        } else if (!strcmp(a, "--print-ids")) {
            o.print_ids = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            o.ignore_eos = true;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o.quiet = true;
        } else {
            BAD("unknown flag '%s'", a);
        }
    }
    if (!o.model) BAD("--model is required (a model directory or preset:NAME)");
    if ((o.prompt_len > 0) + (o.n_prompts > 0) + (text_prompt != NULL) > 1)
        BAD("--prompt, --prompt-ids and --prompt-len cannot be combined");
    if (!o.prompt_len && !o.n_prompts && !text_prompt)
        BAD("a prompt is required: --prompt TEXT, --prompt-ids IDS or --prompt-len N");
    if (o.n_prompts > 1 && o.batch && o.batch != o.n_prompts)
        BAD("--batch %d does not match the %d prompts given with --prompt-ids", o.batch, o.n_prompts);
    is_strategy strat;
    if (cli_strategy(&o, &strat, cmd) < 0) goto out;
    rc = 1;

    is_err err = {{0}};
    is_prof_start(&o.prof);
    is_backend *be = is_prof_wrap_backend(open_backend(&o, !o.quiet, &err));
    is_model *m = NULL;
    is_session *s = NULL, *ds = NULL;
    is_model *dm = NULL; // the spec draft (may be m itself)
    is_gen_result res = {0};
    is_tokenizer *tok = NULL;
    bool in_request = false;
    if (!be) goto fail;
    if (o.kernel && is_kernel_spec_apply(be, o.kernel, &err)) {
        is_err_prefix(&err, "--kernel");
        goto fail;
    }
    is_model_opts mo = {.dtype = o.dtype, .seed = o.seed};
    if (is_model_load(o.model, &mo, be, &m, &err)) goto fail;
    if (strat.kind == IS_STRATEGY_SPEC && is_strategy_open_draft(&strat, m, o.dtype, o.seed, be, &dm, &err)) goto fail;
    if (open_tokenizer(&o, text_prompt != NULL || !o.print_ids || o.n_stop > 0, &tok, &err)) goto fail;
    if (o.n_stop > 0 && !tok) {
        is_errf(&err, "--stop needs a tokenizer to read the text: pass --tokenizer SPEC");
        goto fail;
    }
    double t_submit = is_now_s(); // TTFT counts tokenization
    is_prof_push(IS_PROF_REQUEST, (uint64_t)(o.n_prompts > 1 ? o.n_prompts : o.batch ? o.batch : 1));
    in_request = true;
    if (text_prompt) {
        int32_t *ids;
        is_prof_push(IS_PROF_TOKENIZE, strlen(text_prompt));
        int n = is_tok_encode(tok, text_prompt, strlen(text_prompt), !o.no_special, &ids, &err);
        is_prof_pop(IS_PROF_TOKENIZE);
        if (n < 0) goto fail;
        int bos = is_tok_bos(tok);
        if (bos >= 0) {
            ids = is_xrealloc(ids, (size_t)(n + 1) * sizeof *ids);
            memmove(ids + 1, ids, (size_t)n * sizeof *ids);
            ids[0] = bos;
            n++;
        }
        if (n == 0) {
            free(ids);
            is_errf(&err, "--prompt: the text encodes to no tokens");
            goto fail;
        }
        add_prompt(&o, ids, n);
    }
    if (o.prompt_len > m->cfg.max_pos) {
        is_errf(&err, "--prompt-len %d is longer than the context of %d tokens (max_position_embeddings)",
                o.prompt_len, m->cfg.max_pos);
        goto fail;
    }
    if (o.prompt_len) { // ids drawn uniformly from the vocabulary
        int32_t *ids = is_xmalloc((size_t)o.prompt_len * sizeof *ids);
        is_rng r;
        is_rng_seed(&r, o.seed ^ 0x70726f6d7074ULL);
        for (int j = 0; j < o.prompt_len; j++) ids[j] = (int32_t)(is_rng_next(&r) % (uint64_t)m->cfg.vocab_size);
        add_prompt(&o, ids, o.prompt_len);
    }
    int batch = o.n_prompts > 1 ? o.n_prompts : (o.batch ? o.batch : 1);
    const int32_t **prompts = is_xmalloc((size_t)batch * sizeof *prompts);
    int *lens = is_xmalloc((size_t)batch * sizeof *lens);
    for (int b = 0; b < batch; b++) {
        int src = o.n_prompts > 1 ? b : 0;
        prompts[b] = o.prompts[src];
        lens[b] = o.prompt_lens[src];
    }
    if (o.kv_budget_mib > 0 && o.kv_frac > 0) {
        is_errf(&err, "--kv-budget and --kv-frac cannot be combined");
        goto fail;
    }
    int bs = o.block_size > 0 ? o.block_size : IS_DEFAULT_BLOCK_SIZE;
    // default KV budget: what this request needs (longer requests are refused later)
    int n_gen_fit = o.n_gen < m->cfg.max_pos ? o.n_gen : m->cfg.max_pos;
    double blocks = (double)is_strategy_kv_blocks(&strat, batch, lens, 0, n_gen_fit, bs);
    int max_seqs = is_strategy_max_seqs(&strat, batch);
    bool kv_given = o.kv_budget_mib > 0 || o.kv_frac > 0;
    is_session_opts so = {.kv_budget_mib = kv_given ? o.kv_budget_mib : blocks * is_kv_block_mib(&m->cfg, bs, be->kv_dtype),
                          .kv_mem_fraction = o.kv_frac, .block_size = o.block_size,
                          .max_seqs = max_seqs > 64 ? max_seqs : 64, .max_batch_tokens = o.max_batch_tokens};
    int grc = -1;
    if (dm) {
        // the draft holds what it needs unless --kv-budget says otherwise; with --kv-frac
        // the fraction is the target's, taken from what the draft leaves
        is_session_opts dso = so;
        dso.kv_mem_fraction = 0;
        if (o.kv_budget_mib <= 0) dso.kv_budget_mib = blocks * is_kv_block_mib(&dm->cfg, bs, be->kv_dtype);
        if (is_session_create(dm, &dso, &ds, &err)) {
            is_err_prefix(&err, "spec draft");
            goto fail;
        }
    }
    if (!is_session_create(m, &so, &s, &err)) {
        is_gen_opts go = {.n_gen = o.n_gen, .ignore_eos = o.ignore_eos, .t_submit = t_submit};
        is_strategy_gen_opts(&strat, ds, &go);
        if (!strat.seed_given) go.sampler.seed = o.seed;
        is_stop_strings stops = {.tok = tok, .s = o.stop, .n = o.n_stop};
        if (o.n_stop > 0) {
            go.stop = is_stop_check;
            go.stop_user = &stops;
        }
        text_sink sink = {.tok = tok};
        is_tok_stream_init(&sink.stream);
        bool stream = tok && !o.print_ids && batch == 1 && o.n_stop == 0;
        grc = is_generate(s, batch, prompts, lens, &go, stream ? sink_feed : NULL, &sink, &res, &err);
        if (stream && !grc) {
            is_prof_push(IS_PROF_DETOKENIZE, 0);
            is_tok_stream_flush(&sink.stream, &sink.buf, &sink.len, &sink.cap);
            is_prof_pop(IS_PROF_DETOKENIZE);
            fwrite(sink.buf, 1, sink.len, stdout);
            putchar('\n');
        }
        free(sink.buf);
    }
    free(prompts);
    free(lens);
    if (grc) goto fail;
    if (!tok || o.print_ids) {
        for (int b = 0; b < res.n_seqs; b++) {
            for (int j = 0; j < res.n_tokens[b]; j++) printf(j ? " %d" : "%d", res.tokens[b][j]);
            putchar('\n');
            for (int h = 0; res.hyps && h < res.hyps[b].n; h++) {
                printf("# beam %d score %.6f logprob %.6f:", h, res.hyps[b].score[h], res.hyps[b].logprob[h]);
                for (int j = 0; j < res.hyps[b].len[h]; j++) printf(" %d", res.hyps[b].tokens[h][j]);
                putchar('\n');
            }
        }
    } else if (batch > 1 || o.n_stop > 0) {
        is_stop_strings stops = {.tok = tok, .s = o.stop, .n = o.n_stop};
        for (int b = 0; b < res.n_seqs; b++) {
            char *text;
            size_t len;
            is_prof_push(IS_PROF_DETOKENIZE, (uint64_t)res.n_tokens[b]);
            int drc = is_tok_decode(tok, res.tokens[b], res.n_tokens[b], true, &text, &len, &err);
            is_prof_pop(IS_PROF_DETOKENIZE);
            if (drc) goto fail;
            len = is_stop_cut(&stops, text, len);
            fwrite(text, 1, len, stdout);
            putchar('\n');
            free(text);
        }
    }
    fflush(stdout);
    is_prof_pop(IS_PROF_REQUEST);
    in_request = false;
    if (!o.quiet) {
        double ttft_ms = res.t_first * 1e3;
        char where[160];
        is_device_info di = {0};
        is_err derr = {{0}};
        if (be->device_info && !be->device_info(be, &di, &derr))
            snprintf(where, sizeof where, "%s%s", di.name, be->graphs ? ", graphs" : ", no graphs");
        else
            snprintf(where, sizeof where, "%d threads", be->n_threads);
        fprintf(stderr,
                "timing: TTFT %.1f ms | prefill %ld tok in %.1f ms, %.1f tok/s | decode %ld tok in %.1f ms, "
                "%.2f tok/s | E2E %.1f ms | batch %d, %s (%s), %s weights\n",
                ttft_ms, res.n_prompt_tokens, res.prefill_s * 1e3,
                res.prefill_s > 0 ? (double)res.n_prompt_tokens / res.prefill_s : 0.0, res.n_decode_tokens,
                res.decode_s * 1e3, res.decode_s > 0 ? (double)res.n_decode_tokens / res.decode_s : 0.0,
                res.t_done * 1e3, res.n_seqs, be->name, where, is_dtype_name(m->wdtype));
        cli_strategy_line(&strat, &res);
    }
    if (is_prof_finish(&o.prof, o.quiet, &err)) goto fail;
    rc = 0;
    goto cleanup;
fail:
    if (in_request) is_prof_pop(IS_PROF_REQUEST);
    is_prof_abort(&o.prof);
    fprintf(stderr, "inferscope generate: %s\n", err.msg);
    rc = 1;
cleanup:
    is_tok_free(tok);
    is_gen_result_free(&res);
    is_session_free(s);
    is_session_free(ds);
    if (dm != m) is_model_free(dm);
    is_model_free(m);
    if (be) be->destroy(be);
out:
    free(o.stop);
    free_prompts(&o);
    return rc;
}

// ---- export --------------------------------------------------------------------

static const char *export_help =
    "usage: inferscope export --model MODEL --out DIR [--dtype f32|bf16|f16] [--seed S]\n"
    "\n"
    "Writes MODEL (a directory or preset:NAME) as a Hugging Face directory: config.json,\n"
    "model.safetensors in the chosen dtype (default bf16) and tokenizer.json (the model's, or the\n"
    "built-in GPT-2 vocabulary for a preset). Files are written under temporary names and\n"
    "renamed when complete.\n";

// tokenizer.json beside the weights: a copy of the model directory's, or for a
// preset the built-in vocabulary written in the Hugging Face format.
static int export_tokenizer(const char *model, const char *dir, is_err *err) {
    char src[2048], dst[2048];
    snprintf(dst, sizeof dst, "%s/tokenizer.json", dir);
    if (!strncmp(model, "preset:", 7)) {
        is_tokenizer *tok;
        if (is_tok_load_builtin(&tok, err)) return -1;
        int rc = is_tok_save_hf(tok, dst, err);
        is_tok_free(tok);
        return rc;
    }
    snprintf(src, sizeof src, "%s/tokenizer.json", model);
    struct stat st;
    if (stat(src, &st) != 0) return 0; // the model has none
    size_t len;
    char *data;
    if (is_read_file(src, (size_t)1 << 30, &data, &len, err)) return -1;
    int rc = is_write_file_atomic(dst, data, len, err);
    free(data);
    return rc;
}

static int cmd_export(int argc, char **argv) {
    const char *cmd = "export";
    cli_opts o = {.dtype = IS_DTYPE_BF16, .backend = "cpu"};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int c = parse_common(cmd, argc, argv, &i, &o);
        if (c < 0) return EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(export_help, stdout);
            return 0;
        } else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (i + 1 >= argc) return is_cli_usage_error(cmd, "flag %s needs a value", a);
            o.out = argv[++i];
        } else {
            return is_cli_usage_error(cmd, "unknown flag '%s'", a);
        }
    }
    if (!o.model) return is_cli_usage_error(cmd, "--model is required (a model directory or preset:NAME)");
    if (!o.out) return is_cli_usage_error(cmd, "--out DIR is required");
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(o.threads, &err);
    is_model *m = NULL;
    int rc = 1;
    if (be) {
        // hold the weights in f32 unless the export is bf16: no double rounding
        is_model_opts mo = {.dtype = o.dtype == IS_DTYPE_BF16 ? IS_DTYPE_BF16 : IS_DTYPE_F32, .seed = o.seed};
        if (!is_model_load(o.model, &mo, be, &m, &err) && !is_model_export(m, o.out, (is_dtype)o.dtype, &err) &&
            !export_tokenizer(o.model, o.out, &err)) {
            fprintf(stderr, "exported %s to %s (%s)\n", o.model, o.out, is_dtype_name((is_dtype)o.dtype));
            rc = 0;
        }
    }
    if (rc) fprintf(stderr, "inferscope export: %s\n", err.msg);
    is_model_free(m);
    if (be) be->destroy(be);
    return rc;
}

// ---- tokenize --------------------------------------------------------------------

static const char *tokenize_help =
    "usage: inferscope tokenize --tokenizer SPEC (--text T | --file F) [--no-special] [--time R]\n"
    "       inferscope tokenize --decode --tokenizer SPEC --ids \"1 2 3\"\n"
    "\n"
    "SPEC: builtin (GPT-2), a tokenizer.json, a directory holding one, or ENCODING:FILE for a\n"
    "tiktoken rank file (r50k_base, p50k_base, cl100k_base, o200k_base). Encoding prints the ids\n"
    "space-separated on one line; decoding prints the text. --time R encodes R more times and\n"
    "prints the median encode throughput (one thread) on stderr.\n";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Encodes text reps more times (after the first, whose time the caller prints)
// and prints the median throughput of one thread on stderr.
static int time_encode(is_tokenizer *tok, const char *text, size_t len, bool special, int reps, int n_ids,
                       is_err *err) {
    double *t = is_xmalloc((size_t)reps * sizeof *t);
    for (int r = 0; r < reps; r++) {
        int32_t *ids;
        double t0 = is_now_s();
        int n = is_tok_encode(tok, text, len, special, &ids, err);
        t[r] = is_now_s() - t0;
        free(ids);
        if (n < 0) {
            free(t);
            return -1;
        }
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    double med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    fprintf(stderr, "encode: %zu bytes -> %d ids, median %.3f ms of %d runs, %.2f MB/s (one thread)\n", len,
            n_ids, med * 1e3, reps, med > 0 ? (double)len / med / 1e6 : 0.0);
    free(t);
    return 0;
}

static int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize";
    const char *spec = NULL, *text = NULL, *file = NULL, *ids_arg = NULL, *time_arg = NULL;
    bool decode = false, no_special = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--tokenizer") ? &spec
                           : !strcmp(a, "--text")    ? &text
                           : !strcmp(a, "--file")    ? &file
                           : !strcmp(a, "--ids")     ? &ids_arg
                           : !strcmp(a, "--time")    ? &time_arg
                                                     : NULL;
        if (dst) {
            if (i + 1 >= argc) return is_cli_usage_error(cmd, "flag %s needs a value", a);
            *dst = argv[++i];
        } else if (!strcmp(a, "--decode")) {
            decode = true;
        } else if (!strcmp(a, "--no-special")) {
            no_special = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(tokenize_help, stdout);
            return 0;
        } else {
            return is_cli_usage_error(cmd, "unknown flag '%s'", a);
        }
    }
    if (!spec) return is_cli_usage_error(cmd, "--tokenizer SPEC is required (builtin, a tokenizer.json, ...)");
    long reps = 0;
    if (time_arg && (is_cli_parse_long(time_arg, 1, 1000, &reps) || decode))
        return is_cli_usage_error(cmd, "--time '%s': expected a repetition count from 1 to 1000 (encoding only)", time_arg);
    if (decode ? !ids_arg : (!text == !file))
        return is_cli_usage_error(cmd, decode ? "--decode needs --ids" : "give exactly one of --text and --file");
    is_err err = {{0}};
    is_tokenizer *tok = NULL;
    int rc = 1;
    char *buf = NULL;
    int32_t *ids = NULL;
    if (is_tok_load(spec, &tok, &err)) goto done;
    if (decode) {
        char bad[128];
        int n = parse_ids(ids_arg, &ids, bad, sizeof bad);
        if (n < 0) {
            is_tok_free(tok);
            return is_cli_usage_error(cmd, "--ids: %s", bad);
        }
        size_t len;
        if (is_tok_decode(tok, ids, n, false, &buf, &len, &err)) goto done;
        fwrite(buf, 1, len, stdout);
        putchar('\n');
    } else {
        size_t len = text ? strlen(text) : 0;
        if (file && is_read_file(file, (size_t)1 << 32, &buf, &len, &err)) goto done;
        const char *in = text ? text : buf;
        double t0 = is_now_s();
        int n = is_tok_encode(tok, in, len, !no_special, &ids, &err);
        double first = is_now_s() - t0;
        if (n < 0) goto done;
        if (reps > 0) {
            fprintf(stderr, "encode: first run (empty pre-token cache) %.3f ms, %.2f MB/s\n", first * 1e3,
                    first > 0 ? (double)len / first / 1e6 : 0.0);
            if (time_encode(tok, in, len, !no_special, (int)reps, n, &err)) goto done;
        }
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "inferscope tokenize: %s\n", err.msg);
    free(buf);
    free(ids);
    is_tok_free(tok);
    return rc;
}

// ---- presets, help ---------------------------------------------------------------

static int cmd_presets(void) {
    printf("%-16s %9s %6s %6s %5s %4s %7s  %s\n", "preset", "params", "D", "F", "layers", "kv", "vocab",
           "description");
    for (int i = 0; i < is_preset_count(); i++) {
        const is_preset *p = is_preset_at(i);
        double n = is_config_n_params(&p->cfg);
        printf("%-16s %8.3gM %6d %6d %5d %4d %7d  %s\n", p->name, n / 1e6, p->cfg.hidden_size,
               p->cfg.intermediate_size, p->cfg.n_layers, p->cfg.n_kv_heads, p->cfg.vocab_size,
               p->description);
    }
    return 0;
}

static const char *main_help =
    "usage: inferscope COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  generate   run a prompt (or a batch) through a model and print the generated ids and timing\n"
    "  bench      sweep batch, prompt, generation length, depth, strategy and kernel; TTFT, TPOT, ITL,\n"
    "             tok/s, GB/s, MBU, MFU with confidence intervals; results.json/csv and report.md\n"
    "  kernels    each op's kernel variants on model shapes, validated first; time, GB/s, % of peak,\n"
    "             the winner per shape; the same result files as bench\n"
    "  compare    two bench (or two kernels) result files: ratio per point, verdict, exit 1 on a slowdown\n"
    "  profile    one bench point under CUPTI: kernel table per phase, DRAM counters, trace;\n"
    "             --list-metrics --chip CHIP: the DRAM counters CUPTI collects on a chip (host side)\n"
    "  export     write a model or preset as a Hugging Face directory (config.json + model.safetensors)\n"
    "  tokenize   text to token ids and back\n"
    "  presets    list the built-in model shapes (preset:NAME)\n"
    "  version    print the version and build\n"
    "\n"
    "'inferscope COMMAND --help' describes a command's options.\n";

int is_cli_main(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_help, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "generate")) return cmd_generate(argc - 2, argv + 2);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "presets")) {
        if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
            puts("usage: inferscope presets\n\nLists the built-in model shapes, used as --model preset:NAME.");
            return 0;
        }
        if (argc > 2) return is_cli_usage_error(cmd, "takes no arguments, got '%s'", argv[2]);
        return cmd_presets();
    }
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        char why[256];
        int n = is_cuda_probe(why, sizeof why);
        printf("inferscope %s (commit %s, %s build)\n", IS_VERSION, IS_GIT_COMMIT, IS_BUILD_TYPE);
        if (n) printf("CUDA devices: %d\n", n);
        else printf("CUDA: %s\n", why);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    fprintf(stderr, "inferscope: unknown command '%s'\n\n", cmd);
    fputs(main_help, stderr);
    return EXIT_USAGE;
}
