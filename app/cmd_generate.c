// cmd_generate.c — `inferscope generate`: a prompt (or a batch) through a
// model; the generated text streams to stdout (or the ids, a line per
// sequence), a timing line goes to stderr.
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"
#include "base/nvtx.h"           // defines: is_prof_push, is_prof_pop
#include "base/rng.h"            // defines: is_rng_seed, is_rng_next
#include "base/strbuf.h"         // defines: is_strbuf
#include "engine/inferscope.h"
#include "engine/stop.h"         // defines: is_stop_check, is_stop_cut
#include "engine/strategy.h"     // defines: is_strategy_parse, is_strategy_open_draft, is_strategy_sessions_open
#include "engine/tokenizer.h"
#include "profiles/op_ranges.h"  // defines: is_prof_wrap_backend
#include "profiles/run.h"        // defines: is_prof_start, is_prof_finish, is_prof_abort

#define GENERATE_FLAGS                                                                                           \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_BACKEND) | IS_FLAG_BIT(IS_FLAG_DEVICE) |                    \
     IS_FLAG_BIT(IS_FLAG_NO_GRAPHS) | IS_FLAG_BIT(IS_FLAG_THREADS) | IS_FLAG_BIT(IS_FLAG_DTYPE) |                 \
     IS_FLAG_BIT(IS_FLAG_SEED) | IS_FLAG_BIT(IS_FLAG_KV_BUDGET) | IS_FLAG_BIT(IS_FLAG_KV_FRAC) |                  \
     IS_FLAG_BIT(IS_FLAG_BLOCK_SIZE) | IS_FLAG_BIT(IS_FLAG_MAX_BATCH_TOKENS) | IS_FLAG_BIT(IS_FLAG_STRATEGY) |     \
     IS_FLAG_BIT(IS_FLAG_KERNEL) | IS_FLAG_BIT(IS_FLAG_NVTX_LEVEL) | IS_FLAG_BIT(IS_FLAG_TRACE) |                 \
     IS_FLAG_BIT(IS_FLAG_BATCH) | IS_FLAG_BIT(IS_FLAG_PROMPT_LEN) | IS_FLAG_BIT(IS_FLAG_GEN_LEN) |                \
     IS_FLAG_BIT(IS_FLAG_TOKENIZER))

typedef struct gen_args {
    is_flags f;
    const char *text;       // --prompt TEXT
    int n_prompts;          // --prompt-ids (repeatable), then the tokenized text or the synthetic prompt
    int32_t **prompts;
    int *prompt_lens;
    long batch, prompt_len, n_gen;
    float temperature, top_p, min_p, rep_penalty;
    int top_k;
    bool print_ids, ignore_eos, quiet, no_special;
    const char **stop;      // --stop strings
    int n_stop;
} gen_args;

static void args_free(gen_args *g) {
    for (int i = 0; i < g->n_prompts; i++) free(g->prompts[i]);
    free(g->prompts);
    free(g->prompt_lens);
    free(g->stop);
    memset(g, 0, sizeof *g);
}

static void add_prompt(gen_args *g, int32_t *ids, int n) {
    g->prompts = is_xrealloc(g->prompts, (size_t)(g->n_prompts + 1) * sizeof *g->prompts);
    g->prompt_lens = is_xrealloc(g->prompt_lens, (size_t)(g->n_prompts + 1) * sizeof *g->prompt_lens);
    g->prompts[g->n_prompts] = ids;
    g->prompt_lens[g->n_prompts] = n;
    g->n_prompts++;
}

static const char *generate_help =
    "usage: inferscope generate --model MODEL (--prompt TEXT | --prompt-ids IDS | --prompt-len N) [options]\n"
    "\n"
    "  --model, -m MODEL      a Hugging Face model directory, a .gguf file or preset:NAME (see 'inferscope presets')\n"
    "  --prompt-ids IDS       prompt token ids, '1,2,3' or '1 2 3'; repeat for a batch of different prompts\n"
    "  --prompt-len N         a prompt of N token ids drawn from --seed (for timing)\n"
    "  --prompt TEXT          a text prompt, tokenized by the model's tokenizer\n"
    "  --tokenizer SPEC       builtin, a tokenizer.json, a directory holding one, or ENCODING:FILE.tiktoken\n"
    "                         (default: the model directory's tokenizer.json; presets: builtin GPT-2)\n"
    "  --no-special           treat special-token text in the prompt as plain text\n"
    "  -n, --gen-len N        tokens to generate per sequence (default 16)\n"
    "  -b, --batch B          run B copies of the prompt as one batch (default 1)\n"
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
    "  --dtype D              weight dtype in memory: f32, bf16, int8, q8_0, q4_0 (default: f32 for F32\n"
    "                         files, the file's type for GGUF, else bf16)\n"
    "  --kv-budget MIB        KV cache memory in MiB (default: what the batch needs)\n"
    "  --kv-frac F            KV cache memory as a fraction (0, 1] of the memory left after weights\n"
    "                         and activations (device memory on cuda)\n"
    "  --block-size N         tokens per KV cache block (default 16)\n"
    "  --max-batch-tokens N   tokens per forward chunk (default 512)\n"
    "  --print-ids            print generated ids (space-separated, a line per sequence) instead of text;\n"
    "                         beam search adds a line per hypothesis: '# beam H score S logprob L: IDS'\n"
    "  --quiet                no timing line\n"
    IS_APP_PROF_FLAGS_HELP
    "\n"
    "Generated text streams to stdout (batch > 1: each sequence's text after the run, a line\n"
    "each); a timing line goes to stderr. TTFT counts from before the prompt is tokenized.\n";

// generate's own flags (the shared ones: app/flags.c). Returns 0, -1 after
// --help, or the exit status of a usage error.
static int generate_parse(int argc, char **argv, gen_args *g) {
    const char *cmd = "generate";
    memset(g, 0, sizeof *g);
    is_flags_init(&g->f);
    g->top_p = 1.0f;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int c = is_flags_parse(cmd, GENERATE_FLAGS, argc, argv, &i, &g->f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(generate_help, stdout);
            return -1;
        }
        if (!strcmp(a, "--print-ids")) g->print_ids = true;
        else if (!strcmp(a, "--ignore-eos")) g->ignore_eos = true;
        else if (!strcmp(a, "--no-special")) g->no_special = true;
        else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) g->quiet = true;
        else {
            bool temp_old = !strcmp(a, "--temp");
            bool valued = !strcmp(a, "--prompt") || !strcmp(a, "--prompt-ids") || !strcmp(a, "--temperature") ||
                          temp_old || !strcmp(a, "--top-k") || !strcmp(a, "--top-p") || !strcmp(a, "--min-p") ||
                          !strcmp(a, "--repeat-penalty") || !strcmp(a, "--stop");
            if (!valued) return is_app_usage(cmd, "unknown flag '%s'", a);
            if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
            if (temp_old) is_app_deprecated(cmd, a, "--temperature");
            const char *v = argv[++i];
            long lv;
            double dv;
            if (!strcmp(a, "--prompt")) {
                g->text = v;
            } else if (!strcmp(a, "--prompt-ids")) {
                int32_t *ids;
                char bad[128];
                int n = is_app_parse_ids(v, &ids, bad, sizeof bad);
                if (n < 0) return is_app_usage(cmd, "--prompt-ids: %s", bad);
                add_prompt(g, ids, n);
            } else if (!strcmp(a, "--top-k")) {
                if (is_app_parse_long(v, 0, INT32_MAX, &lv)) return is_app_usage(cmd, "--top-k '%s': expected an integer >= 0", v);
                g->top_k = (int)lv;
            } else if (!strcmp(a, "--top-p")) {
                if (is_app_parse_double(v, 1e-9, 1, &dv)) return is_app_usage(cmd, "--top-p '%s': expected a number in (0, 1]", v);
                g->top_p = (float)dv;
            } else if (!strcmp(a, "--min-p")) {
                if (is_app_parse_double(v, 0, 1, &dv)) return is_app_usage(cmd, "--min-p '%s': expected a number in [0, 1]", v);
                g->min_p = (float)dv;
            } else if (!strcmp(a, "--repeat-penalty")) {
                if (is_app_parse_double(v, 1e-3, 1e3, &dv))
                    return is_app_usage(cmd, "--repeat-penalty '%s': expected a number in [0.001, 1000]", v);
                g->rep_penalty = (float)dv;
            } else if (!strcmp(a, "--stop")) {
                if (!*v) return is_app_usage(cmd, "--stop: the string is empty");
                g->stop = is_xrealloc(g->stop, (size_t)(g->n_stop + 1) * sizeof *g->stop);
                g->stop[g->n_stop++] = v;
            } else { // --temperature
                if (is_app_parse_double(v, 0, 1e6, &dv)) return is_app_usage(cmd, "--temperature '%s': expected a number >= 0", v);
                g->temperature = (float)dv;
            }
        }
    }
    if (is_flags_int(cmd, &g->f, IS_FLAG_GEN_LEN, 1, INT32_MAX, 16, &g->n_gen) ||
        is_flags_int(cmd, &g->f, IS_FLAG_BATCH, 1, IS_MAX_BATCH, 0, &g->batch) ||
        is_flags_int(cmd, &g->f, IS_FLAG_PROMPT_LEN, 1, INT32_MAX, 0, &g->prompt_len))
        return IS_EXIT_USAGE;
    if (!g->f.model) return is_app_usage(cmd, "--model is required (a model directory, a .gguf file or preset:NAME)");
    if ((g->prompt_len > 0) + (g->n_prompts > 0) + (g->text != NULL) > 1)
        return is_app_usage(cmd, "--prompt, --prompt-ids and --prompt-len cannot be combined");
    if (!g->prompt_len && !g->n_prompts && !g->text)
        return is_app_usage(cmd, "a prompt is required: --prompt TEXT, --prompt-ids IDS or --prompt-len N");
    if (g->n_prompts > 1 && g->batch && g->batch != g->n_prompts)
        return is_app_usage(cmd, "--batch %ld does not match the %d prompts given with --prompt-ids", g->batch,
                            g->n_prompts);
    return 0;
}

// The decoding strategy: --strategy SPEC, else the sampling flags. Returns 0,
// or the exit status of a usage error.
static int generate_strategy(const gen_args *g, is_strategy *st) {
    const char *cmd = "generate";
    is_err err = {{0}};
    if (g->f.strategy) {
        if (g->temperature > 0 || g->top_k || g->top_p != 1.0f || g->min_p > 0 || g->rep_penalty > 0)
            return is_app_usage(cmd, "--strategy cannot be combined with --temperature, --top-k, --top-p, "
                                     "--min-p or --repeat-penalty (give them in the spec)");
        if (is_strategy_parse(g->f.strategy, st, &err)) return is_app_usage(cmd, "--strategy: %s", err.msg);
        return 0;
    }
    memset(st, 0, sizeof *st);
    st->kind = g->temperature > 0 ? IS_STRATEGY_SAMPLE : IS_STRATEGY_GREEDY;
    st->sampler = (is_sampler_params){.temperature = g->temperature, .top_k = g->top_k, .top_p = g->top_p,
                                      .min_p = g->min_p, .rep_penalty = g->rep_penalty};
    return 0;
}

// The strategy's statistics on stderr, after the timing line.
static void strategy_line(const is_strategy *st, const is_gen_result *res) {
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

static int open_tokenizer(const gen_args *g, bool needed, is_tokenizer **tok, is_err *err) {
    return is_app_open_tokenizer(g->f.tokenizer, g->f.model, needed && !g->print_ids,
                                 "pass --tokenizer SPEC, or token ids with --prompt-ids", tok, err);
}

// The prompt of --prompt (tokenized, BOS first when the tokenizer has one) or
// --prompt-len (ids drawn uniformly from the vocabulary), added to g's prompts.
static int generate_prompt(gen_args *g, const is_model *m, is_tokenizer *tok, is_err *err) {
    if (g->text) {
        int32_t *ids;
        is_prof_push(IS_PROF_TOKENIZE, strlen(g->text));
        int n = is_tok_encode(tok, g->text, strlen(g->text), !g->no_special, &ids, err);
        is_prof_pop(IS_PROF_TOKENIZE);
        if (n < 0) return -1;
        int bos = is_tok_bos(tok);
        if (bos >= 0) {
            ids = is_xrealloc(ids, (size_t)(n + 1) * sizeof *ids);
            memmove(ids + 1, ids, (size_t)n * sizeof *ids);
            ids[0] = bos;
            n++;
        }
        if (n == 0) {
            free(ids);
            return is_errf(err, "--prompt: the text encodes to no tokens");
        }
        add_prompt(g, ids, n);
    }
    if (g->prompt_len > m->cfg.max_pos)
        return is_errf(err, "--prompt-len %ld is longer than the context of %d tokens (max_position_embeddings)",
                       g->prompt_len, m->cfg.max_pos);
    if (g->prompt_len) {
        // the KV cache these tokens need must fit the budget (or the memory a default
        // budget is taken from) before the ids are drawn: a --prompt-len of 10^9 with a
        // long context once took 3.8 GB of ids before the KV check refused it
        long batch = g->batch ? g->batch : 1;
        double need = (double)batch * (double)(g->prompt_len + g->n_gen) *
                      is_kv_block_mib(&m->cfg, 1, m->be->kv_dtype) * 1048576.0;
        double cap = g->f.kv_budget_mib * 1048576.0, total;
        const char *of = "the KV budget";
        if (cap <= 0) {
            if (is_backend_free_memory(m->be, &cap, &total, err)) return -1;
            of = "the memory available";
        }
        if (cap > 0 && need > cap)
            return is_errf(err, "--prompt-len %ld: the batch does not fit the KV cache: %ld sequence(s) of %ld "
                           "tokens (%ld generated) need %.3g GiB, more than %s (%.3g GiB)", g->prompt_len, batch,
                           g->prompt_len + g->n_gen, g->n_gen, need / 1073741824.0, of, cap / 1073741824.0);
        int32_t *ids = is_xmalloc((size_t)g->prompt_len * sizeof *ids);
        is_rng r;
        is_rng_seed(&r, g->f.seed ^ 0x70726f6d7074ULL);
        for (long j = 0; j < g->prompt_len; j++) ids[j] = (int32_t)(is_rng_next(&r) % (uint64_t)m->cfg.vocab_size);
        add_prompt(g, ids, (int)g->prompt_len);
    }
    return 0;
}

typedef struct text_sink {
    is_tokenizer *tok;
    is_tok_stream stream;
    is_strbuf text; // the text of one token, then of the flush
} text_sink;

// Streams the text of each new token to stdout as soon as it is complete UTF-8.
static void sink_feed(void *user, int seq_index, int32_t token) {
    (void)seq_index;
    text_sink *t = user;
    is_sb_clear(&t->text);
    is_prof_push(IS_PROF_DETOKENIZE, 1);
    is_tok_stream_feed(t->tok, &t->stream, token, &t->text);
    is_prof_pop(IS_PROF_DETOKENIZE);
    fwrite(t->text.p, 1, t->text.n, stdout);
    fflush(stdout);
    is_sb_clear(&t->text);
}

// What a finished run prints on stdout: the ids (a line per sequence, and per beam
// hypothesis), or each sequence's text when it was not streamed.
static int print_output(const gen_args *g, is_tokenizer *tok, const is_gen_result *res, is_err *err) {
    if (!tok || g->print_ids) {
        for (int b = 0; b < res->n_seqs; b++) {
            for (int j = 0; j < res->n_tokens[b]; j++) printf(j ? " %d" : "%d", res->tokens[b][j]);
            putchar('\n');
            for (int h = 0; res->hyps && h < res->hyps[b].n; h++) {
                printf("# beam %d score %.6f logprob %.6f:", h, res->hyps[b].score[h], res->hyps[b].logprob[h]);
                for (int j = 0; j < res->hyps[b].len[h]; j++) printf(" %d", res->hyps[b].tokens[h][j]);
                putchar('\n');
            }
        }
    } else if (res->n_seqs > 1 || g->n_stop > 0) {
        is_stop_strings stops = {.tok = tok, .s = g->stop, .n = g->n_stop};
        for (int b = 0; b < res->n_seqs; b++) {
            char *text;
            size_t len;
            is_prof_push(IS_PROF_DETOKENIZE, (uint64_t)res->n_tokens[b]);
            int drc = is_tok_decode(tok, res->tokens[b], res->n_tokens[b], true, &text, &len, err);
            is_prof_pop(IS_PROF_DETOKENIZE);
            if (drc) return -1;
            len = is_stop_cut(&stops, text, len);
            fwrite(text, 1, len, stdout);
            putchar('\n');
            free(text);
        }
    }
    fflush(stdout);
    return 0;
}

static void timing_line(is_backend *be, const is_model *m, const is_gen_result *res) {
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
            res->t_first * 1e3, res->n_prompt_tokens, res->prefill_s * 1e3,
            res->prefill_s > 0 ? (double)res->n_prompt_tokens / res->prefill_s : 0.0, res->n_decode_tokens,
            res->decode_s * 1e3, res->decode_s > 0 ? (double)res->n_decode_tokens / res->decode_s : 0.0,
            res->t_done * 1e3, res->n_seqs, be->name, where, is_dtype_name(m->wdtype));
}

// The request: prompts tokenized (or drawn), sessions opened for the strategy,
// generated with the text streaming when it can. TTFT counts from t_submit,
// before tokenization.
static int generate_run(gen_args *g, const is_strategy *strat, is_model *m, is_model *dm,
                        is_tokenizer *tok, is_gen_result *res, is_err *err) {
    double t_submit = is_now_s();
    int n_req = g->n_prompts > 1 ? g->n_prompts : g->batch ? (int)g->batch : 1;
    is_prof_push(IS_PROF_REQUEST, (uint64_t)n_req);
    int rc = -1;
    const int32_t **prompts = NULL;
    int *lens = NULL;
    is_session *s = NULL, *ds = NULL;
    if (generate_prompt(g, m, tok, err)) goto done;
    int batch = g->n_prompts > 1 ? g->n_prompts : n_req;
    prompts = is_xmalloc((size_t)batch * sizeof *prompts);
    lens = is_xmalloc((size_t)batch * sizeof *lens);
    for (int b = 0; b < batch; b++) {
        int src = g->n_prompts > 1 ? b : 0;
        prompts[b] = g->prompts[src];
        lens[b] = g->prompt_lens[src];
    }
    if (g->f.kv_budget_mib > 0 && g->f.kv_frac > 0) {
        is_errf(err, "--kv-budget and --kv-frac cannot be combined");
        goto done;
    }
    // the KV budget by default: what this request needs (longer requests are refused later)
    is_session_opts so = {.kv_budget_mib = g->f.kv_budget_mib, .kv_mem_fraction = g->f.kv_frac,
                          .block_size = g->f.block_size, .max_seqs = 64, .max_batch_tokens = g->f.max_batch_tokens};
    is_strategy_need need = {.n = batch, .lens = lens, .n_gen = g->n_gen < m->cfg.max_pos ? (int)g->n_gen : m->cfg.max_pos};
    if (is_strategy_sessions_open(strat, m, dm, &so, &need, &s, &ds, err)) goto done;
    is_gen_opts go = {.n_gen = (int)g->n_gen, .ignore_eos = g->ignore_eos, .t_submit = t_submit};
    is_strategy_gen_opts(strat, ds, &go);
    if (!strat->seed_given) go.sampler.seed = g->f.seed;
    is_stop_strings stops = {.tok = tok, .s = g->stop, .n = g->n_stop};
    if (g->n_stop > 0) {
        go.stop = is_stop_check;
        go.stop_user = &stops;
    }
    text_sink sink = {.tok = tok};
    is_tok_stream_init(&sink.stream);
    bool stream = tok && !g->print_ids && batch == 1 && g->n_stop == 0;
    int grc = is_generate(s, batch, prompts, lens, &go, stream ? sink_feed : NULL, &sink, res, err);
    if (stream && !grc) {
        is_prof_push(IS_PROF_DETOKENIZE, 0);
        is_tok_stream_flush(&sink.stream, &sink.text);
        is_prof_pop(IS_PROF_DETOKENIZE);
        fwrite(sink.text.p, 1, sink.text.n, stdout);
        putchar('\n');
    }
    free(sink.text.p);
    if (grc || print_output(g, tok, res, err)) goto done;
    rc = 0;
done:
    is_prof_pop(IS_PROF_REQUEST);
    free(prompts);
    free(lens);
    is_session_free(s);
    is_session_free(ds);
    return rc;
}

int is_cmd_generate(int argc, char **argv) {
    gen_args g;
    int rc = generate_parse(argc, argv, &g);
    is_strategy strat;
    if (!rc) rc = generate_strategy(&g, &strat);
    if (rc) {
        args_free(&g);
        return rc < 0 ? 0 : rc;
    }
    is_err err = {{0}};
    is_prof_opts prof = {.trace = g.f.trace, .nvtx_level = g.f.nvtx_level};
    is_prof_start(&prof);
    is_backend *be = is_prof_wrap_backend(is_app_open_backend(&g.f, !g.quiet, NULL, 0, &err));
    is_model *m = NULL, *dm = NULL; // dm: the spec draft (may be m itself)
    is_gen_result res = {0};
    is_tokenizer *tok = NULL;
    rc = 1;
    if (!be) goto fail;
    if (g.f.kernel && is_kernel_spec_apply(be, g.f.kernel, &err)) {
        is_err_prefix(&err, "--kernel");
        goto fail;
    }
    is_model_opts mo = {.dtype = g.f.dtype, .seed = g.f.seed};
    if (is_model_load(g.f.model, &mo, be, &m, &err)) goto fail;
    if (strat.kind == IS_STRATEGY_SPEC && is_strategy_open_draft(&strat, m, g.f.dtype, g.f.seed, be, &dm, &err))
        goto fail;
    if (open_tokenizer(&g, g.text != NULL || !g.print_ids || g.n_stop > 0, &tok, &err)) goto fail;
    if (g.n_stop > 0 && !tok) {
        is_errf(&err, "--stop needs a tokenizer to read the text: pass --tokenizer SPEC");
        goto fail;
    }
    if (generate_run(&g, &strat, m, dm, tok, &res, &err)) goto fail;
    if (!g.quiet) {
        timing_line(be, m, &res);
        strategy_line(&strat, &res);
    }
    if (is_prof_finish(&prof, g.quiet, &err)) goto fail;
    rc = 0;
    goto cleanup;
fail:
    is_prof_abort(&prof);
    fprintf(stderr, "inferscope generate: %s\n", err.msg);
cleanup:
    is_tok_free(tok);
    is_gen_result_free(&res);
    if (dm != m) is_model_free(dm);
    is_model_free(m);
    if (be) be->destroy(be);
    args_free(&g);
    return rc;
}
