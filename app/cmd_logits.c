// cmd_logits.c — `inferscope logits`: one forward pass over a prompt, run as one
// sequence, and the logits of the positions asked for written as JSON (what an
// outside oracle compares with: ci/hf-oracle.py).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/fileio.h"  // defines: is_write_file_atomic
#include "base/strbuf.h"  // defines: is_strbuf, is_sb_printf
#include "engine/inferscope.h"

#define LOGITS_FLAGS                                                                                             \
    (IS_FLAG_BIT(IS_FLAG_MODEL) | IS_FLAG_BIT(IS_FLAG_BACKEND) | IS_FLAG_BIT(IS_FLAG_DEVICE) |                    \
     IS_FLAG_BIT(IS_FLAG_NO_GRAPHS) | IS_FLAG_BIT(IS_FLAG_THREADS) | IS_FLAG_BIT(IS_FLAG_DTYPE) |                 \
     IS_FLAG_BIT(IS_FLAG_SEED) | IS_FLAG_BIT(IS_FLAG_KV_BUDGET) | IS_FLAG_BIT(IS_FLAG_KV_FRAC) |                  \
     IS_FLAG_BIT(IS_FLAG_BLOCK_SIZE) | IS_FLAG_BIT(IS_FLAG_MAX_BATCH_TOKENS) | IS_FLAG_BIT(IS_FLAG_KERNEL) |       \
     IS_FLAG_BIT(IS_FLAG_OUT))

static const char *logits_help =
    "usage: inferscope logits --model MODEL --prompt-ids IDS [--positions last|all] [-o FILE] [options]\n"
    "\n"
    "Runs the prompt through the model as one sequence in one forward pass and writes the\n"
    "logits of the positions asked for as JSON:\n"
    "  {\"model\", \"backend\", \"dtype\", \"vocab_size\": V, \"prompt_ids\": [...], \"positions\": [...],\n"
    "   \"logits\": [[V numbers] per position]}\n"
    "Numbers are printed with 9 significant digits (each float32 reads back exactly); a value\n"
    "that is not finite is written as null, with a warning.\n"
    "\n"
    "  --model, -m MODEL      a Hugging Face model directory, a .gguf file or preset:NAME (see 'inferscope presets')\n"
    "  --prompt-ids IDS       the prompt's token ids, '1,2,3' or '1 2 3'\n"
    "  --positions last|all   the last position (default) or every position of the prompt\n"
    "  -o, --out FILE         write the JSON there (through a temporary name); '-' or none: stdout\n"
    "  --seed S               seed of preset weights (default 0)\n"
    "  --backend cpu|cuda|auto  compute backend (default auto: CUDA when a device answers, else cpu)\n"
    "  --device N             CUDA device ordinal (default 0)\n"
    "  --no-graphs            no CUDA graph replay\n"
    "  --kernel SPEC          kernel variants, as in generate\n"
    "  --threads, -t N        CPU threads (default 0 = all online CPUs)\n"
    "  --dtype D              weight dtype in memory: f32, bf16, int8, q8_0, q4_0 (default: f32 for F32\n"
    "                         files, the file's type for GGUF, else bf16)\n"
    "  --kv-budget MIB        KV cache memory in MiB (default: what the prompt needs)\n"
    "  --kv-frac F            KV cache memory as a fraction (0, 1] of the memory left\n"
    "  --block-size N         tokens per KV cache block (default 16)\n"
    "  --max-batch-tokens N   tokens per forward chunk (default 512)\n";

typedef struct logits_args {
    is_flags f;
    int32_t *ids; // --prompt-ids
    int n_ids;
    bool all;     // --positions all
} logits_args;

// Returns 0, -1 after --help, or the exit status of a usage error.
static int logits_parse(int argc, char **argv, logits_args *g) {
    const char *cmd = "logits";
    is_flags_init(&g->f);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int c = is_flags_parse(cmd, LOGITS_FLAGS, argc, argv, &i, &g->f);
        if (c < 0) return IS_EXIT_USAGE;
        if (c > 0) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(logits_help, stdout);
            return -1;
        }
        if (strcmp(a, "--prompt-ids") && strcmp(a, "--positions")) return is_app_usage(cmd, "unknown flag '%s'", a);
        if (i + 1 >= argc) return is_app_usage(cmd, "flag %s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--positions")) {
            if (strcmp(v, "last") && strcmp(v, "all"))
                return is_app_usage(cmd, "--positions '%s': expected last or all", v);
            g->all = !strcmp(v, "all");
            continue;
        }
        if (g->ids) return is_app_usage(cmd, "--prompt-ids given twice: logits runs one sequence");
        char bad[128];
        g->n_ids = is_app_parse_ids(v, &g->ids, bad, sizeof bad);
        if (g->n_ids < 0) {
            g->ids = NULL;
            return is_app_usage(cmd, "--prompt-ids: %s", bad);
        }
    }
    if (!g->f.model) return is_app_usage(cmd, "--model is required (a model directory, a .gguf file or preset:NAME)");
    if (!g->ids) return is_app_usage(cmd, "--prompt-ids IDS is required");
    if (g->f.kv_budget_mib > 0 && g->f.kv_frac > 0)
        return is_app_usage(cmd, "--kv-budget and --kv-frac cannot be combined");
    return 0;
}

// The prompt against the model: every id in the vocabulary, no longer than the context.
static int check_prompt(const logits_args *g, const is_config *c, is_err *err) {
    if (g->n_ids > c->max_pos)
        return is_errf(err, "--prompt-ids: %d ids are longer than the context of %d tokens (max_position_embeddings)",
                       g->n_ids, c->max_pos);
    for (int i = 0; i < g->n_ids; i++)
        if (g->ids[i] >= c->vocab_size)
            return is_errf(err, "--prompt-ids: token id %d (position %d) is out of range for a vocabulary of %d",
                           g->ids[i], i, c->vocab_size);
    return 0;
}

// The prompt as one sequence in a session sized for it (unless a budget is
// given); the logits of the rows asked for into logits ([n_rows][V]).
static int logits_forward(const logits_args *g, is_model *m, float *logits, is_err *err) {
    int n = g->n_ids, bs = g->f.block_size > 0 ? g->f.block_size : IS_DEFAULT_BLOCK_SIZE;
    is_session_opts so = {.kv_budget_mib = g->f.kv_budget_mib, .kv_mem_fraction = g->f.kv_frac, .block_size = bs,
                          .max_seqs = 1, .max_batch_tokens = g->f.max_batch_tokens};
    if (so.kv_budget_mib <= 0 && so.kv_mem_fraction <= 0)
        so.kv_budget_mib = (double)((n + bs - 1) / bs) * is_kv_block_mib(&m->cfg, bs, m->be->kv_dtype);
    is_session *s = NULL;
    if (is_session_create(m, &so, &s, err)) return -1;
    int rc = -1, seq = is_seq_new(s, err);
    int32_t *seqs = is_xmalloc((size_t)n * sizeof *seqs);
    bool *want = is_xmalloc((size_t)n * sizeof *want);
    for (int i = 0; i < n; i++) {
        seqs[i] = seq;
        want[i] = g->all || i == n - 1;
    }
    if (seq >= 0 && !is_forward(s, n, g->ids, seqs, want, logits, err)) rc = 0;
    free(seqs);
    free(want);
    is_session_free(s);
    return rc;
}

static void put_json_string(is_strbuf *b, const char *s) {
    cJSON *j = cJSON_CreateString(s);
    char *q = cJSON_PrintUnformatted(j);
    is_sb_puts(b, q);
    cJSON_free(q);
    cJSON_Delete(j);
}

// The document; returns how many logits were not finite (written as null).
static long logits_json(const logits_args *g, const is_model *m, const char *backend, const float *logits,
                        is_strbuf *b) {
    int V = m->cfg.vocab_size, n_rows = g->all ? g->n_ids : 1;
    long bad = 0;
    is_sb_puts(b, "{\"model\": ");
    put_json_string(b, g->f.model);
    is_sb_puts(b, ", \"backend\": ");
    put_json_string(b, backend);
    is_sb_printf(b, ", \"dtype\": \"%s\", \"vocab_size\": %d,\n \"prompt_ids\": [", is_dtype_name(m->wdtype), V);
    for (int i = 0; i < g->n_ids; i++) is_sb_printf(b, i ? ", %d" : "%d", g->ids[i]);
    is_sb_puts(b, "],\n \"positions\": [");
    for (int r = 0; r < n_rows; r++) is_sb_printf(b, r ? ", %d" : "%d", g->all ? r : g->n_ids - 1);
    is_sb_puts(b, "],\n \"logits\": [");
    for (int r = 0; r < n_rows; r++) {
        is_sb_puts(b, r ? ",\n  [" : "\n  [");
        for (int v = 0; v < V; v++) {
            float x = logits[(size_t)r * V + v];
            if (v) is_sb_puts(b, ", ");
            if (isfinite(x)) is_sb_printf(b, "%.9g", (double)x);
            else {
                is_sb_puts(b, "null");
                bad++;
            }
        }
        is_sb_puts(b, "]");
    }
    is_sb_puts(b, "]}\n");
    return bad;
}

// The document to -o FILE (a temporary name, then renamed) or to stdout.
static int logits_write(const char *out, const is_strbuf *b, is_err *err) {
    if (out && strcmp(out, "-")) return is_write_file_atomic(out, b->p, b->n, err);
    if (fwrite(b->p, 1, b->n, stdout) != b->n || fflush(stdout) != 0)
        return is_errf(err, "writing the logits to stdout failed");
    return 0;
}

int is_cmd_logits(int argc, char **argv) {
    logits_args g = {0};
    int rc = logits_parse(argc, argv, &g);
    if (rc) {
        free(g.ids);
        return rc < 0 ? 0 : rc;
    }
    is_err err = {{0}};
    is_backend *be = is_app_open_backend(&g.f, true, NULL, 0, &err);
    is_model *m = NULL;
    float *logits = NULL;
    is_strbuf doc = {0};
    rc = 1;
    if (!be) goto done;
    if (g.f.kernel && is_kernel_spec_apply(be, g.f.kernel, &err)) {
        is_err_prefix(&err, "--kernel");
        goto done;
    }
    is_model_opts mo = {.dtype = g.f.dtype, .seed = g.f.seed};
    if (is_model_load(g.f.model, &mo, be, &m, &err) || check_prompt(&g, &m->cfg, &err)) goto done;
    size_t n_rows = g.all ? (size_t)g.n_ids : 1;
    logits = is_xmalloc(n_rows * (size_t)m->cfg.vocab_size * sizeof *logits);
    if (logits_forward(&g, m, logits, &err)) goto done;
    long bad = logits_json(&g, m, be->name, logits, &doc);
    if (bad) fprintf(stderr, "inferscope logits: warning: %ld logits are not finite (written as null)\n", bad);
    if (logits_write(g.f.out, &doc, &err)) goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "inferscope logits: %s\n", err.msg);
    free(doc.p);
    free(logits);
    is_model_free(m);
    if (be) be->destroy(be);
    free(g.ids);
    return rc;
}
