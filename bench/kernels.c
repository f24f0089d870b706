// kernels.c — `inferscope kernels`: micro-benchmarks of each op's kernel
// variants (kernels/backend.h: kernel_ops) over the shapes of model configs.
//
// A group is one (op, model, shape, batch, context); its inputs are allocated
// and filled once (seeded normal values, tensor_fill_normal) and every selected
// variant of the op runs on them in turn: once to validate against a
// reference, then timed (cache flushed before each sample, device timer or host
// clock sync to sync, warm-up excluded, samples until the relative noise is low
// or time runs out), then validated again. A variant that fails validation is
// reported with its NMSE and the tolerance, not timed, and makes the command
// exit 1. Results use bench's schema (reports/results.h) with kernel points, so
// `inferscope compare` reads two runs.
//
// References (what a variant's output is checked against):
// - matmul kinds on the CPU backend: a float64 loop over the same inputs
//   (is_ref_dot, kernels/ref.h), on a subsample (KERN_VAL_ROWS token rows x up
//   to KERN_VAL_COLS output columns): independent of every CPU path (GEMV, our
//   GEMM, BLAS) and exact enough to judge fp32 results;
// - everything else: the CPU backend with its default variant, on the same
//   inputs downloaded from the backend under test (weights, K and V as stored,
//   so in their BF16 form; activations rounded to BF16 first when
//   be->bf16_gemm), for KERN_VAL_ROWS token rows (matmul, all columns) or
//   KERN_VAL_TOKENS queries (attention, every head). The benchmark shape is the
//   full one; only the rows compared are fewer, so lm_head at batch 128 costs
//   the reference 8 rows, not 128.
#include "bench/kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/rng.h"       // defines: is_rng_seed, is_rng_next
#include "base/stats.h"     // defines: is_median
#include "bench/env.h"      // defines: is_env_capture, is_env_set_gpu, is_env_noise_begin, is_env_noise_end
#include "bench/probe.h"    // defines: is_probe_backend_mem, is_probe_mem_json
#include "bench/stoprule.h" // defines: is_stop_noise, is_stop_rule_check
#include "engine/config.h"
#include "engine/inferscope.h" // defines: is_now_s
#include "engine/model.h"      // defines: is_preset_find
#include "kernels/check.h"     // defines: is_nmse, is_check_tolerance, is_check_accept
#include "kernels/ref.h"       // defines: is_ref_dot
#include "reports/results.h"
#include "reports/text.h" // defines: is_json_get, is_json_num

#define EXIT_USAGE 2 // a usage error found once the backend is known
#define KERN_MAX_POINTS 10000   // a sweep past this is refused
#define KERN_MAX_SHAPES 8       // distinct matmul shapes of a model: q, k, v, o, gate, up, down, lm_head
#define KERN_MAX_VARIANTS 32
#define KERN_BLOCK 16           // KV cache block size (tokens)
#define KERN_WARMUP 3           // unmeasured runs before the samples
#define KERN_VAL_ROWS 8         // matmul: token rows compared
#define KERN_VAL_COLS 4096      // matmul against the float64 loop: output columns compared
#define KERN_VAL_TOKENS 32      // attention: queries compared
#define KERN_STREAM_W 1         // fill streams of the inputs
#define KERN_STREAM_X 2
#define KERN_STREAM_K 3
#define KERN_STREAM_V 4
#define KERN_STREAM_Q 5

// ---- options -----------------------------------------------------------------

static const int kern_batch_gemv[] = {1, 8}, kern_batch_matmul[] = {1, 8, 128}, kern_batch_decode[] = {1, 8},
                 kern_batch_prefill[] = {1};
#define KERN_N(a) ((int)(sizeof(a) / sizeof(a)[0]))

// ---- shapes ---------------------------------------------------------------------

typedef struct kern_model {
    const char *spec;  // as given: preset:NAME, NAME or a directory
    is_config cfg;
} kern_model;

// A model's config without its weights: preset:NAME (or a bare preset name), or
// a directory holding config.json.
static int model_config(const char *spec, kern_model *m, is_err *err) {
    m->spec = spec;
    const char *name = strncmp(spec, "preset:", 7) == 0 ? spec + 7 : spec;
    const is_preset *p = is_preset_find(name);
    if (p) {
        m->cfg = p->cfg;
        return 0;
    }
    if (name != spec) return is_errf(err, "--model %s: no such preset (see 'inferscope presets')", spec);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", spec);
    struct stat st;
    if (stat(path, &st) != 0)
        return is_errf(err, "--model %s: neither a preset nor a directory holding config.json", spec);
    if (is_config_load(path, &m->cfg, err) || is_config_validate(&m->cfg, path, err)) return -1;
    return 0;
}

typedef struct kern_shape {
    char tensor[48]; // "q,o", "lm_head", "attn"
    int m, k;        // matmul: w [m, k] (out features, in features)
} kern_shape;

// The distinct [out, in] shapes of one layer's projections and of the lm_head.
static int matmul_shapes(const is_config *c, kern_shape *out) {
    const struct {
        const char *name;
        int m, k;
    } all[] = {{"q", c->n_heads * c->head_dim, c->hidden_size},
               {"k", c->n_kv_heads * c->head_dim, c->hidden_size},
               {"v", c->n_kv_heads * c->head_dim, c->hidden_size},
               {"o", c->hidden_size, c->n_heads * c->head_dim},
               {"gate", c->intermediate_size, c->hidden_size},
               {"up", c->intermediate_size, c->hidden_size},
               {"down", c->hidden_size, c->intermediate_size},
               {"lm_head", c->vocab_size, c->hidden_size}};
    int n = 0;
    for (int i = 0; i < KERN_N(all); i++) {
        int j = 0;
        while (j < n && !(out[j].m == all[i].m && out[j].k == all[i].k)) j++;
        if (j == n) out[n++] = (kern_shape){.m = all[i].m, .k = all[i].k};
        size_t len = strlen(out[j].tensor);
        snprintf(out[j].tensor + len, sizeof out[j].tensor - len, "%s%s", len ? "," : "", all[i].name);
    }
    return n;
}

// ---- the sweep ---------------------------------------------------------------------

typedef struct kern_group {
    int op, model;       // indexes into be->kernel_ops and the models
    kern_shape shape;    // matmul kinds
    int batch, context;  // context: positions per sequence (decode: context, prefill: prompt); 0 for matmul
    is_dtype wdtype;     // matmul kinds: the weights' (BF16, F32 or a quantized format)
    int variants[KERN_MAX_VARIANTS], n_variants;
} kern_group;

typedef struct kern_ctx {
    const is_kernels_opts *o;
    is_backend *be;
    is_backend *ref;     // the CPU backend results are checked against (NULL: be is the cpu, matmul only)
    const kern_model *models;
    double peak_gbs;     // NaN without the probe
    int index, total;    // points, for progress lines
} kern_ctx;

static bool kind_is_attn(is_kernel_kind k) { return k == IS_KOP_ATTN_DECODE || k == IS_KOP_ATTN_PREFILL; }

static void shape_text(const kern_ctx *c, const kern_group *g, char *buf, size_t n) {
    const is_kernel_op *op = &c->be->kernel_ops[g->op];
    const is_config *cfg = &c->models[g->model].cfg;
    if (kind_is_attn(op->kind))
        snprintf(buf, n, "heads=%d,kv_heads=%d,head_dim=%d,block=%d", cfg->n_heads, cfg->n_kv_heads, cfg->head_dim,
                 KERN_BLOCK);
    else
        snprintf(buf, n, "m=%d,k=%d", g->shape.m, g->shape.k);
}

// The element type a point's dtype field names: weights (matmul), K and V (attention).
static is_dtype group_dtype(const kern_ctx *c, const kern_group *g) {
    return kind_is_attn(c->be->kernel_ops[g->op].kind) ? c->be->kv_dtype : g->wdtype;
}

static cJSON *point_config(const kern_ctx *c, const kern_group *g, int variant) {
    const is_kernel_op *op = &c->be->kernel_ops[g->op];
    char shape[128];
    shape_text(c, g, shape, sizeof shape);
    is_kernel_config cfg = {.op = op->op, .model = c->models[g->model].spec, .backend = c->be->name,
                            .dtype = is_dtype_name(group_dtype(c, g)), .threads = c->be->n_threads,
                            .tensor = kind_is_attn(op->kind) ? "attn" : g->shape.tensor, .shape = shape,
                            .batch = g->batch, .context = g->context, .variant = op->variants[variant].name};
    return is_schema_config_json(is_schema_kernel_fields, is_schema_n_kernel_fields, &cfg);
}

static void point_label(const kern_ctx *c, const kern_group *g, int variant, char *buf, size_t n) {
    const is_kernel_op *op = &c->be->kernel_ops[g->op];
    char shape[128];
    shape_text(c, g, shape, sizeof shape);
    snprintf(buf, n, "%s %s %s %s %s b=%d%s%.0d %s", op->op, c->models[g->model].spec,
             kind_is_attn(op->kind) ? "attn" : g->shape.tensor, shape, is_dtype_name(group_dtype(c, g)), g->batch,
             g->context ? " ctx=" : "", g->context, op->variants[variant].name);
}

// ---- one group's inputs, run and reference ---------------------------------------------

typedef struct kern_case {
    is_kernel_kind kind;
    is_tensor w, x, out;           // matmul: w [m, k], x [n, k], out [n, m]
    int n;
    is_tensor q, kp, vp;           // attention: q [n_tokens, H*hd], pools [n_slots, KV*hd] (kv_dtype)
    is_attn_batch b;
    int32_t *pos, *seq, *slot, *tables;
    int heads, kv_heads, head_dim;
    // validation: out[rows[i]][cols[j]] against ref[i * n_cols + j]
    int n_rows, n_cols;
    int32_t *rows, *cols;
    float *ref;
    char ref_how[200];
    // the model of the op
    double bytes, flops;           // flops NaN where it means little (decode attention)
} kern_case;

static void case_free(is_backend *be, kern_case *k) {
    is_tensor *t[] = {&k->w, &k->x, &k->out, &k->q, &k->kp, &k->vp};
    for (int i = 0; i < KERN_N(t); i++)
        if (t[i]->data) be->tensor_free(be, t[i]);
    free(k->pos);
    free(k->seq);
    free(k->slot);
    free(k->tables);
    free(k->rows);
    free(k->cols);
    free(k->ref);
    memset(k, 0, sizeof *k);
}

static int tensor_new(is_backend *be, is_tensor *t, is_dtype dt, int64_t rows, int64_t cols, is_err *err) {
    *t = (is_tensor){.dtype = dt, .rows = rows, .cols = cols};
    return be->tensor_alloc(be, t, err);
}

// n evenly spaced indices of [0, total), the first and the last included.
static int32_t *spread(int n, int64_t total) {
    int32_t *v = is_xmalloc((size_t)n * sizeof *v);
    for (int i = 0; i < n; i++) v[i] = n == 1 ? (int32_t)(total - 1) : (int32_t)((int64_t)i * (total - 1) / (n - 1));
    return v;
}

static float *download(is_backend *be, const is_tensor *t, is_err *err) {
    float *h = is_xmalloc((size_t)(t->rows * t->cols) * sizeof *h);
    if (be->tensor_get_f32(be, t, t->rows, h, err)) {
        free(h);
        return NULL;
    }
    return h;
}

// Host rows rows[0..n) of a [.., cols] array, gathered.
static float *gather(const float *h, int64_t cols, const int32_t *rows, int n) {
    float *g = is_xmalloc((size_t)n * (size_t)cols * sizeof *g);
    for (int i = 0; i < n; i++) memcpy(g + (size_t)i * cols, h + (size_t)rows[i] * cols, (size_t)cols * sizeof *g);
    return g;
}

// A tensor of the reference backend holding the host F32 values h, converted to dt.
static int ref_upload(is_backend *ref, is_tensor *t, is_dtype dt, int64_t rows, int64_t cols, const float *h,
                      is_err *err) {
    if (tensor_new(ref, t, dt, rows, cols, err)) return -1;
    return ref->tensor_set(ref, t, h, IS_DTYPE_F32, err);
}

static int matmul_reference(const kern_ctx *c, kern_case *k, is_err *err) {
    is_backend *be = c->be;
    int64_t m = k->w.rows, kk = k->w.cols;
    k->n_rows = k->n < KERN_VAL_ROWS ? k->n : KERN_VAL_ROWS;
    k->rows = spread(k->n_rows, k->n);
    float *hx = download(be, &k->x, err), *hw = hx ? download(be, &k->w, err) : NULL;
    if (!hw) {
        free(hx);
        return -1;
    }
    if (be->bf16_gemm) // the backend multiplies BF16 activations: so does the reference
        for (int64_t i = 0; i < k->x.rows * kk; i++) hx[i] = is_bf16_to_f32(is_f32_to_bf16(hx[i]));
    float *xs = gather(hx, kk, k->rows, k->n_rows);
    free(hx);
    int rc = 0;
    if (!strcmp(be->name, "cpu")) {
        k->n_cols = m < KERN_VAL_COLS ? (int)m : KERN_VAL_COLS;
        k->cols = spread(k->n_cols, m);
        k->ref = is_xmalloc((size_t)k->n_rows * k->n_cols * sizeof *k->ref);
        for (int i = 0; i < k->n_rows; i++)
            for (int j = 0; j < k->n_cols; j++) {
                const float *xr = xs + (size_t)i * kk, *wr = hw + (size_t)k->cols[j] * kk;
                k->ref[(size_t)i * k->n_cols + j] = (float)is_ref_dot(IS_REF_F32, xr, wr, kk, 0.0, NULL);
            }
        snprintf(k->ref_how, sizeof k->ref_how, "float64 loop, %d of %d rows x %d of %lld columns", k->n_rows,
                 k->n, k->n_cols, (long long)m);
    } else {
        is_backend *r = c->ref;
        is_tensor w = {0}, x = {0}, o = {0};
        k->n_cols = (int)m;
        k->cols = spread(k->n_cols, m);
        // the weights as stored: BF16 exactly; a quantized format's values in F32 (a
        // scale times a small integer is not always a BF16)
        rc = ref_upload(r, &w, k->w.dtype == IS_DTYPE_BF16 ? IS_DTYPE_BF16 : IS_DTYPE_F32, m, kk, hw, err) || ref_upload(r, &x, IS_DTYPE_F32, k->n_rows, kk, xs, err) ||
             tensor_new(r, &o, IS_DTYPE_F32, k->n_rows, m, err);
        if (!rc) {
            is_kernel_spec_apply(r, "default", err);
            r->matmul(r, &o, &x, &w, NULL, k->n_rows);
            k->ref = is_xmalloc((size_t)k->n_rows * m * sizeof *k->ref);
            rc = r->sync(r, err) || r->tensor_get_f32(r, &o, k->n_rows, k->ref, err);
        }
        is_tensor *t[] = {&w, &x, &o};
        for (int i = 0; i < 3; i++)
            if (t[i]->data) r->tensor_free(r, t[i]);
        snprintf(k->ref_how, sizeof k->ref_how, "cpu backend, default variant, %d of %d rows, every column%s",
                 k->n_rows, k->n, be->bf16_gemm ? ", activations rounded to BF16" : "");
    }
    free(xs);
    free(hw);
    return rc ? -1 : 0;
}

static int attention_reference(const kern_ctx *c, kern_case *k, is_err *err) {
    is_backend *be = c->be, *r = c->ref;
    int nt = k->b.n_tokens, qd = k->heads * k->head_dim;
    k->n_rows = nt < KERN_VAL_TOKENS ? nt : KERN_VAL_TOKENS;
    k->rows = spread(k->n_rows, nt);
    k->n_cols = qd;
    k->cols = spread(qd, qd);
    float *hq = download(be, &k->q, err), *hk = hq ? download(be, &k->kp, err) : NULL;
    float *hv = hk ? download(be, &k->vp, err) : NULL;
    int rc = hv ? 0 : -1;
    is_tensor q = {0}, kp = {0}, vp = {0}, o = {0};
    int32_t *pos = is_xmalloc((size_t)k->n_rows * sizeof *pos), *seq = is_xmalloc((size_t)k->n_rows * sizeof *seq);
    int32_t *slot = is_xmalloc((size_t)k->n_rows * sizeof *slot);
    for (int i = 0; i < k->n_rows; i++) {
        pos[i] = k->pos[k->rows[i]];
        seq[i] = k->seq[k->rows[i]];
        slot[i] = k->slot[k->rows[i]];
    }
    // the compared queries alone: each attends to positions 0..pos of its sequence, all stored
    is_attn_batch sub = k->b;
    sub.n_tokens = k->n_rows;
    sub.pos = pos;
    sub.seq = seq;
    sub.slot = slot;
    if (!rc) {
        float *qs = gather(hq, qd, k->rows, k->n_rows);
        rc = ref_upload(r, &q, IS_DTYPE_F32, k->n_rows, qd, qs, err) ||
             ref_upload(r, &kp, IS_DTYPE_F32, k->kp.rows, k->kp.cols, hk, err) ||
             ref_upload(r, &vp, IS_DTYPE_F32, k->vp.rows, k->vp.cols, hv, err) ||
             tensor_new(r, &o, IS_DTYPE_F32, k->n_rows, qd, err);
        free(qs);
    }
    if (!rc) {
        is_kernel_spec_apply(r, "default", err);
        r->attention(r, &o, &q, &kp, &vp, &sub, k->heads, k->kv_heads, k->head_dim);
        k->ref = is_xmalloc((size_t)k->n_rows * qd * sizeof *k->ref);
        rc = r->sync(r, err) || r->tensor_get_f32(r, &o, k->n_rows, k->ref, err);
    }
    is_tensor *t[] = {&q, &kp, &vp, &o};
    for (int i = 0; i < 4; i++)
        if (t[i]->data) r->tensor_free(r, t[i]);
    free(hq);
    free(hk);
    free(hv);
    free(pos);
    free(seq);
    free(slot);
    snprintf(k->ref_how, sizeof k->ref_how, "cpu backend, default variant, %d of %d queries, K and V as stored (%s)",
             k->n_rows, nt, is_dtype_name(be->kv_dtype));
    return rc ? -1 : 0;
}

// Allocates and fills the group's inputs on the backend under test, and computes
// the reference output and the op's bytes and FLOPs.
static int case_setup(const kern_ctx *c, const kern_group *g, kern_case *k, is_err *err) {
    is_backend *be = c->be;
    const is_config *cfg = &c->models[g->model].cfg;
    uint64_t seed = c->o->seed;
    memset(k, 0, sizeof *k);
    k->kind = be->kernel_ops[g->op].kind;
    if (!kind_is_attn(k->kind)) {
        int64_t m = g->shape.m, kk = g->shape.k;
        k->n = g->batch;
        if (tensor_new(be, &k->w, g->wdtype, m, kk, err) || tensor_new(be, &k->x, IS_DTYPE_F32, k->n, kk, err) ||
            tensor_new(be, &k->out, IS_DTYPE_F32, k->n, m, err))
            return -1;
        be->tensor_fill_normal(be, &k->w, seed, KERN_STREAM_W, 0.02f);
        be->tensor_fill_normal(be, &k->x, seed, KERN_STREAM_X, 1.0f);
        // bytes: weights once (in their format, scales included), activations in (F32) and
        // out (F32); FLOPs: 2 per multiply-add
        k->bytes = (double)m * is_dtype_row_bytes(g->wdtype, kk) + 4.0 * k->n * kk + 4.0 * k->n * m;
        k->flops = 2.0 * k->n * m * kk;
        if (be->sync(be, err)) return -1;
        return matmul_reference(c, k, err);
    }
    int B = g->batch, C = g->context, H = cfg->n_heads, KV = cfg->n_kv_heads, hd = cfg->head_dim;
    bool prefill = k->kind == IS_KOP_ATTN_PREFILL;
    int mb = (C + KERN_BLOCK - 1) / KERN_BLOCK, n_blocks = B * mb;
    int nt = prefill ? B * C : B;
    k->heads = H;
    k->kv_heads = KV;
    k->head_dim = hd;
    // a paged cache whose blocks lie in a shuffled order, as after many allocations and frees
    k->tables = is_xmalloc((size_t)n_blocks * sizeof *k->tables);
    for (int i = 0; i < n_blocks; i++) k->tables[i] = i;
    is_rng rng;
    is_rng_seed(&rng, seed ^ 0x6b65726e656c73ULL);
    for (int i = n_blocks - 1; i > 0; i--) {
        int j = (int)(is_rng_next(&rng) % (uint64_t)(i + 1)), t = k->tables[i];
        k->tables[i] = k->tables[j];
        k->tables[j] = t;
    }
    k->pos = is_xmalloc((size_t)nt * sizeof *k->pos);
    k->seq = is_xmalloc((size_t)nt * sizeof *k->seq);
    k->slot = is_xmalloc((size_t)nt * sizeof *k->slot);
    for (int t = 0; t < nt; t++) {
        k->seq[t] = prefill ? t / C : t;
        k->pos[t] = prefill ? t % C : C - 1;
        int s = k->seq[t], p = k->pos[t];
        k->slot[t] = k->tables[s * mb + p / KERN_BLOCK] * KERN_BLOCK + p % KERN_BLOCK;
    }
    k->b = (is_attn_batch){.n_tokens = nt, .pos = k->pos, .seq = k->seq, .slot = k->slot, .n_seqs = B,
                           .block_tables = k->tables, .max_blocks = mb, .block_size = KERN_BLOCK};
    int64_t slots = (int64_t)n_blocks * KERN_BLOCK;
    if (tensor_new(be, &k->q, IS_DTYPE_F32, nt, (int64_t)H * hd, err) ||
        tensor_new(be, &k->out, IS_DTYPE_F32, nt, (int64_t)H * hd, err) ||
        tensor_new(be, &k->kp, be->kv_dtype, slots, (int64_t)KV * hd, err) ||
        tensor_new(be, &k->vp, be->kv_dtype, slots, (int64_t)KV * hd, err))
        return -1;
    be->tensor_fill_normal(be, &k->q, seed, KERN_STREAM_Q, 1.0f);
    be->tensor_fill_normal(be, &k->kp, seed, KERN_STREAM_K, 1.0f);
    be->tensor_fill_normal(be, &k->vp, seed, KERN_STREAM_V, 1.0f);
    // bytes: K and V of every position of every sequence read once (decode: the
    // context; prefill: the prompt, counted once per sequence, not once per query
    // tile that reads it again), plus q in and out (F32)
    double kv_elem = (double)is_dtype_size(be->kv_dtype);
    k->bytes = 2.0 * B * C * KV * hd * kv_elem + 2.0 * 4.0 * nt * H * hd;
    // FLOPs (prefill only): QK^T and AV, 4 x heads x head_dim per (query, key) pair,
    // causal: sum over positions p of p + 1 keys
    k->flops = prefill ? 4.0 * H * hd * B * ((double)C * (C + 1) / 2) : NAN;
    if (be->sync(be, err)) return -1;
    return attention_reference(c, k, err);
}

static void case_run(is_backend *be, kern_case *k) {
    if (kind_is_attn(k->kind))
        be->attention(be, &k->out, &k->q, &k->kp, &k->vp, &k->b, k->heads, k->kv_heads, k->head_dim);
    else
        be->matmul(be, &k->out, &k->x, &k->w, NULL, k->n);
}

// Uploads the batch arrays once (device backends), so timed attention calls do not.
static void case_begin(is_backend *be, kern_case *k) {
    if (kind_is_attn(k->kind) && be->batch_begin) be->batch_begin(be, NULL, &k->b, NULL, 0, NULL);
}

static int case_end(is_backend *be, kern_case *k, is_err *err) {
    if (kind_is_attn(k->kind) && be->batch_end && be->batch_end(be, err)) return -1;
    return be->sync(be, err);
}

// NMSE of the output as it is now against the reference.
static int case_nmse(is_backend *be, kern_case *k, double *nmse, is_err *err) {
    float *h = download(be, &k->out, err);
    if (!h) return -1;
    float *got = is_xmalloc((size_t)k->n_rows * k->n_cols * sizeof *got);
    for (int i = 0; i < k->n_rows; i++)
        for (int j = 0; j < k->n_cols; j++)
            got[(size_t)i * k->n_cols + j] = h[(size_t)k->rows[i] * k->out.cols + k->cols[j]];
    *nmse = is_nmse(got, k->ref, (size_t)k->n_rows * k->n_cols);
    free(got);
    free(h);
    return 0;
}

// Runs the op once on an output poisoned with NaN (an element it fails to write
// fails the check) and compares.
static int case_validate(is_backend *be, kern_case *k, double *nmse, is_err *err) {
    be->tensor_fill_const(be, &k->out, NAN);
    case_begin(be, k);
    case_run(be, k);
    if (case_end(be, k, err)) return -1;
    return case_nmse(be, k, nmse, err);
}

// ---- timing ----------------------------------------------------------------------------

typedef struct kern_samples {
    double *us;
    int n, cap;
    const char *stop;
    double noise;
} kern_samples;

static int case_time(const kern_ctx *c, kern_case *k, kern_samples *s, is_err *err) {
    is_backend *be = c->be;
    bool dev_timer = be->timer_begin && be->timer_end;
    // Device timers measure between their events: the warm-up runs queued before
    // need no wait, and no sync may come in between (a sync ends the batch that
    // case_begin uploaded, and attention would upload its arrays again per call).
    // The host clock is for backends whose ops run as they are called (cpu).
    case_begin(be, k);
    for (int w = 0; w < KERN_WARMUP; w++) case_run(be, k);
    if (!dev_timer && be->sync(be, err)) return -1;
    double t_meas = is_now_s();
    s->stop = NULL;
    while (!s->stop) {
        if (be->flush_cache && be->flush_cache(be, err)) return -1;
        double us;
        if (dev_timer) {
            double ms;
            if (be->timer_begin(be, err)) return -1;
            case_run(be, k);
            if (be->timer_end(be, &ms, err)) return -1;
            us = ms * 1e3;
        } else {
            if (be->sync(be, err)) return -1;
            double t0 = is_now_s();
            case_run(be, k);
            if (be->sync(be, err)) return -1;
            us = (is_now_s() - t0) * 1e6;
        }
        if (s->n == s->cap) {
            s->cap = s->cap ? 2 * s->cap : 64;
            s->us = is_xrealloc(s->us, (size_t)s->cap * sizeof *s->us);
        }
        s->us[s->n++] = us;
        s->noise = is_stop_noise(s->us, s->n);
        s->stop = is_stop_rule_check(&c->o->rule, s->n, s->noise, is_now_s() - t_meas);
    }
    return case_end(be, k, err);
}

// ---- one group ----------------------------------------------------------------------------

static cJSON *validation_json(const kern_case *k, double before, double after, double tol) {
    cJSON *v = cJSON_CreateObject();
    is_schema_number(v, "nmse", before);
    if (!isnan(after)) is_schema_number(v, "nmse_after", after);
    cJSON_AddNumberToObject(v, "tolerance", tol);
    cJSON_AddStringToObject(v, "reference", k->ref_how);
    return v;
}

static cJSON *error_point(const kern_ctx *c, const kern_group *g, int variant, const char *msg) {
    return is_schema_point_error("kernel", point_config(c, g, variant), msg);
}

// Validates, times and re-validates one variant on the group's inputs. Returns
// the point (status "error" with the reason when it failed).
static cJSON *variant_run(kern_ctx *c, const kern_group *g, int variant, kern_case *k, bool *invalid) {
    is_backend *be = c->be;
    is_err err = {{0}};
    char msg[600];
    is_check check = be->kernel_ops[g->op].variants[variant].check; // the variant's row says

    double tol = is_check_tolerance(check), before = NAN, after = NAN;
    be->kernel_select(be, g->op, variant);
    if (case_validate(be, k, &before, &err)) return error_point(c, g, variant, err.msg);
    if (!is_check_accept(before, check)) {
        snprintf(msg, sizeof msg, "validation failed: NMSE %.3g against the reference (%s), tolerance %.3g; not timed",
                 before, k->ref_how, tol);
        cJSON *p = error_point(c, g, variant, msg);
        cJSON_AddItemToObject(p, "validation", validation_json(k, before, NAN, tol));
        *invalid = true;
        return p;
    }
    kern_samples s = {0};
    double t0 = is_now_s();
    if (case_time(c, k, &s, &err)) {
        free(s.us);
        return error_point(c, g, variant, err.msg);
    }
    double elapsed = is_now_s() - t0;
    // the output of the last timed run must still match
    if (case_nmse(be, k, &after, &err)) {
        free(s.us);
        return error_point(c, g, variant, err.msg);
    }
    if (!is_check_accept(after, check)) {
        snprintf(msg, sizeof msg, "validation after the timed runs failed: NMSE %.3g (before: %.3g), tolerance %.3g",
                 after, before, tol);
        cJSON *p = error_point(c, g, variant, msg);
        cJSON_AddItemToObject(p, "validation", validation_json(k, before, after, tol));
        free(s.us);
        *invalid = true;
        return p;
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", "kernel");
    cJSON_AddItemToObject(p, "config", point_config(c, g, variant));
    is_schema_run run = {.warmup = KERN_WARMUP, .reps = s.n, .stop = s.stop, .noise = s.noise, .elapsed_s = elapsed};
    cJSON *samples = is_schema_point_ok(p, &run);
    cJSON_AddItemToObject(samples, "time_us", cJSON_CreateDoubleArray(s.us, s.n));
    free(s.us);
    is_results_point_finish(p, c->o->seed);
    cJSON_AddItemToObject(p, "validation", validation_json(k, before, after, tol));
    cJSON *mj = cJSON_AddObjectToObject(p, "model");
    cJSON_AddNumberToObject(mj, "bytes", k->bytes);
    is_schema_number(mj, "flops", k->flops);
    double sec = is_json_num(is_json_get(is_json_get(p, "stats"), "time_us"), "median") / 1e6;
    cJSON *d = cJSON_AddObjectToObject(p, "derived");
    double gbs = sec > 0 ? k->bytes / sec / 1e9 : NAN;
    const char *const *key = is_schema_kernel_derived;
    is_schema_number(d, key[IS_KDERIVED_GBS], gbs);
    is_schema_number(d, key[IS_KDERIVED_PEAK_FRAC], gbs / c->peak_gbs);
    is_schema_number(d, key[IS_KDERIVED_GFLOPS], sec > 0 ? k->flops / sec / 1e9 : NAN);
    return p;
}

// Runs every variant of g, appends its points to points and marks the winner.
// Returns the number of variants that failed validation or could not run.
static int group_run(kern_ctx *c, const kern_group *g, cJSON *points, bool *any_invalid) {
    is_backend *be = c->be;
    kern_case k;
    is_err err = {{0}};
    int bad = 0;
    int first = cJSON_GetArraySize(points);
    bool setup_failed = case_setup(c, g, &k, &err) != 0;
    for (int v = 0; v < g->n_variants; v++) {
        int var = g->variants[v];
        c->index++;
        char label[512];
        point_label(c, g, var, label, sizeof label);
        cJSON *p;
        if (setup_failed) p = error_point(c, g, var, err.msg);
        else p = variant_run(c, g, var, &k, any_invalid);
        const char *status = is_json_str(p, "status");
        if (status && !strcmp(status, "ok")) {
            const cJSON *d = is_json_get(p, "derived");
            fprintf(stderr, "[%d/%d] %s: %d samples, %.2f us, %.1f GB/s, NMSE %.2g\n", c->index, c->total, label,
                    (int)is_json_num(p, "reps"),
                    is_json_num(is_json_get(is_json_get(p, "stats"), "time_us"), "median"),
                    is_json_num(d, is_schema_kernel_derived[IS_KDERIVED_GBS]),
                    is_json_num(is_json_get(p, "validation"), "nmse"));
        } else {
            fprintf(stderr, "[%d/%d] %s: %s\n", c->index, c->total, label, is_json_str(p, "error"));
            bad++;
        }
        cJSON_AddItemToArray(points, p);
    }
    if (!setup_failed) be->kernel_select(be, g->op, 0);
    case_free(be, &k);
    // the winner: the lowest median time among the variants that validated
    cJSON *best = NULL;
    double best_t = INFINITY;
    for (int i = first; i < cJSON_GetArraySize(points); i++) {
        cJSON *p = cJSON_GetArrayItem(points, i);
        double t = is_json_num(is_json_get(is_json_get(p, "stats"), "time_us"), "median");
        if (isfinite(t) && t < best_t) {
            best_t = t;
            best = p;
        }
    }
    for (int i = first; i < cJSON_GetArraySize(points); i++) {
        cJSON *p = cJSON_GetArrayItem(points, i);
        cJSON_AddBoolToObject(p, "winner", p == best);
    }
    return bad;
}

// Variants to time per op: sel[op][variant]. From the --kernel specs (each checked
// against the backend first; named[op]: a spec names op); an op no spec names gets
// all its variants.
static int variants_select(const is_kernels_opts *o, const is_backend *be, bool sel[][KERN_MAX_VARIANTS], bool *named,
                           is_err *err) {
    for (int s = 0; s < o->n_kernel; s++) {
        if (is_kernel_spec_check(be, o->kernel[s], err)) {
            is_err_prefix(err, "--kernel");
            return -1;
        }
        if (!strcmp(o->kernel[s], "default")) {
            for (int op = 0; op < be->n_kernel_ops; op++) named[op] = sel[op][0] = true;
            continue;
        }
        for (const char *p = o->kernel[s]; p;) { // checked: op=variant items joined by '+'
            const char *end = strchr(p, '+'), *eq = strchr(p, '=');
            size_t len = end ? (size_t)(end - p) : strlen(p), op_len = (size_t)(eq - p);
            for (int op = 0; op < be->n_kernel_ops; op++) {
                const is_kernel_op *k = &be->kernel_ops[op];
                if (strlen(k->op) != op_len || memcmp(k->op, p, op_len)) continue;
                for (int v = 0; k->variants[v].name; v++)
                    if (strlen(k->variants[v].name) == len - op_len - 1 &&
                        !memcmp(k->variants[v].name, eq + 1, len - op_len - 1))
                        named[op] = sel[op][v] = true;
            }
            p = end ? end + 1 : NULL;
        }
    }
    for (int op = 0; op < be->n_kernel_ops; op++)
        if (!named[op])
            for (int v = 0; be->kernel_ops[op].variants[v].name && v < KERN_MAX_VARIANTS; v++) sel[op][v] = true;
    return 0;
}

// The ops to time (indexes into be->kernel_ops), from --ops.
static int ops_select(const is_kernels_opts *o, const is_backend *be, bool *use, is_err *err) {
    char avail[512] = "";
    for (int op = 0; op < be->n_kernel_ops; op++) {
        size_t n = strlen(avail);
        snprintf(avail + n, sizeof avail - n, "%s%s", op ? ", " : "", be->kernel_ops[op].op);
        use[op] = o->n_ops == 0;
    }
    if (be->n_kernel_ops == 0)
        return is_errf(err, "the %s backend has no op with kernel variants: nothing to time", be->name);
    for (int i = 0; i < o->n_ops; i++) {
        int found = -1;
        for (int op = 0; op < be->n_kernel_ops; op++)
            if (!strcmp(be->kernel_ops[op].op, o->ops[i])) found = op;
        if (found < 0)
            return is_errf(err, "--ops: the %s backend has no op '%s' with variants (it has: %s)", be->name, o->ops[i],
                           avail);
        use[found] = true;
    }
    return 0;
}

// The groups of the sweep: ops x models x shapes x batch x context. *n_points:
// groups x variants. Stops counting past KERN_MAX_POINTS.
static kern_group *groups_build(const is_kernels_opts *o, const is_backend *be, const kern_model *models, const bool *use,
                                bool sel[][KERN_MAX_VARIANTS], int *n_groups, long *n_points) {
    int cap = 64, n = 0;
    kern_group *g = is_xmalloc((size_t)cap * sizeof *g);
    *n_points = 0;
    for (int op = 0; op < be->n_kernel_ops && *n_points <= KERN_MAX_POINTS; op++) {
        if (!use[op]) continue;
        const is_kernel_op *k = &be->kernel_ops[op];
        const int *bl = o->batch, *cl = NULL;
        int nb = o->n_batch, nc = 1;
        if (!bl) {
            bl = k->kind == IS_KOP_GEMV ? kern_batch_gemv : k->kind == IS_KOP_MATMUL ? kern_batch_matmul
                 : k->kind == IS_KOP_ATTN_DECODE ? kern_batch_decode : kern_batch_prefill;
            nb = k->kind == IS_KOP_GEMV ? KERN_N(kern_batch_gemv) : k->kind == IS_KOP_MATMUL ? KERN_N(kern_batch_matmul)
                 : k->kind == IS_KOP_ATTN_DECODE ? KERN_N(kern_batch_decode) : KERN_N(kern_batch_prefill);
        }
        if (k->kind == IS_KOP_ATTN_DECODE) {
            cl = o->context;
            nc = o->n_context;
        } else if (k->kind == IS_KOP_ATTN_PREFILL) {
            cl = o->prompt;
            nc = o->n_prompt;
        }
        int nv = 0;
        kern_group proto = {.op = op};
        for (int v = 0; k->variants[v].name && v < KERN_MAX_VARIANTS; v++)
            if (sel[op][v]) proto.variants[nv++] = v;
        proto.n_variants = nv;
        for (int m = 0; m < o->n_models && *n_points <= KERN_MAX_POINTS; m++) {
            kern_shape shapes[KERN_MAX_SHAPES];
            int ns = 1;
            if (kind_is_attn(k->kind)) shapes[0] = (kern_shape){.tensor = "attn"};
            else ns = matmul_shapes(&models[m].cfg, shapes);
            // the weight dtype axis applies to matmul kinds (attention reads K and V)
            int ndt = kind_is_attn(k->kind) ? 1 : (o->n_wdtype > 0 ? o->n_wdtype : 1);
            for (int dt = 0; dt < ndt; dt++)
            for (int s = 0; s < ns; s++)
                for (int b = 0; b < nb; b++)
                    for (int c = 0; c < nc && *n_points <= KERN_MAX_POINTS; c++) {
                        if (n == cap) g = is_xrealloc(g, (size_t)(cap *= 2) * sizeof *g);
                        g[n] = proto;
                        g[n].wdtype = o->n_wdtype > 0 && !kind_is_attn(k->kind) ? (is_dtype)o->wdtype[dt] : IS_DTYPE_BF16;
                        g[n].model = m;
                        g[n].shape = shapes[s];
                        g[n].batch = bl[b];
                        g[n].context = cl ? cl[c] : 0;
                        *n_points += nv;
                        n++;
                    }
        }
    }
    *n_groups = n;
    return g;
}

static cJSON *sweep_json(const is_kernels_opts *o, const is_backend *be, const bool *use) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "command", "kernels");
    cJSON_AddStringToObject(s, "model", o->model_list);
    cJSON *ops = cJSON_AddArrayToObject(s, "ops");
    for (int op = 0; op < be->n_kernel_ops; op++)
        if (use[op]) cJSON_AddItemToArray(ops, cJSON_CreateString(be->kernel_ops[op].op));
    cJSON *axes = cJSON_AddObjectToObject(s, "axes");
    if (o->batch) cJSON_AddItemToObject(axes, "batch", cJSON_CreateIntArray(o->batch, o->n_batch));
    else cJSON_AddStringToObject(axes, "batch", "default per kind: gemv 1,8; matmul 1,8,128; attn_decode 1,8; attn_prefill 1");
    cJSON_AddItemToObject(axes, "context", cJSON_CreateIntArray(o->context, o->n_context));
    cJSON_AddItemToObject(axes, "prompt", cJSON_CreateIntArray(o->prompt, o->n_prompt));
    if (o->kernel) cJSON_AddItemToObject(axes, "kernel", cJSON_CreateStringArray((const char *const *)o->kernel, o->n_kernel));
    if (o->n_wdtype > 0) { // absent: BF16 (as every file written before the axis)
        cJSON *dts = cJSON_AddArrayToObject(axes, "dtype");
        for (int i = 0; i < o->n_wdtype; i++) cJSON_AddItemToArray(dts, cJSON_CreateString(is_dtype_name((is_dtype)o->wdtype[i])));
    }
    cJSON_AddStringToObject(s, "backend", be->name);
    cJSON_AddNumberToObject(s, "threads", be->n_threads);
    cJSON_AddNumberToObject(s, "reps_min", o->rule.min_n);
    cJSON_AddNumberToObject(s, "warmup", KERN_WARMUP);
    cJSON_AddNumberToObject(s, "max_time_s", o->rule.max_time_s);
    cJSON_AddNumberToObject(s, "max_noise", o->rule.max_noise);
    cJSON_AddNumberToObject(s, "seed", (double)o->seed);
    cJSON_AddNumberToObject(s, "block_size", KERN_BLOCK);
    cJSON_AddStringToObject(s, "main_metric", "time_us");
    cJSON_AddStringToObject(s, "timer", be->timer_begin && be->timer_end ? "device (backend timer)"
                                                                         : "host clock, sync to sync");
    cJSON_AddBoolToObject(s, "cache_flush", be->flush_cache != NULL);
    cJSON_AddStringToObject(s, "noise", "relative standard error of the mean of time_us over samples");
    return s;
}

static cJSON *probes_json(const is_kernels_opts *o, is_backend *be, double *peak, is_err *err) {
    cJSON *p = cJSON_CreateObject();
    *peak = NAN;
    if (o->no_probe) {
        cJSON_AddStringToObject(p, "skipped", "--no-probe: % of peak is not computed");
        return p;
    }
    is_mem_probe mp;
    if (is_probe_backend_mem(be, &mp, err)) {
        cJSON_Delete(p);
        return NULL;
    }
    cJSON_AddItemToObject(p, "mem", is_probe_mem_json(&mp));
    *peak = mp.peak_gbs;
    return p;
}

// The sweep of o on be: checks everything first (ops, specs, models, the point
// count, --out), then measures. Returns 0, 1 (a point failed), EXIT_USAGE or -1
// (err set); *out_doc: the document (also on 1), else NULL.
int is_kernels_run(const is_kernels_opts *o, is_backend *be, const char *why_cuda, int argc, char **argv,
                   cJSON **out_doc, is_err *err) {
    *out_doc = NULL;
    int rc = EXIT_USAGE;
    kern_ctx ctx = {.o = o, .be = be};
    kern_model *models = is_xcalloc((size_t)o->n_models, sizeof *models);
    kern_group *groups = NULL;
    bool use[64] = {false}, named[64] = {false}, sel[64][KERN_MAX_VARIANTS] = {{false}};
    IS_ASSERT(be->n_kernel_ops <= 64);
    for (int m = 0; m < o->n_models; m++)
        if (model_config(o->models[m], &models[m], err)) goto done;
    if (ops_select(o, be, use, err) || variants_select(o, be, sel, named, err)) goto done;
    for (int op = 0; op < be->n_kernel_ops; op++)
        if (o->n_ops && !use[op] && named[op]) {
            is_errf(err, "--kernel names op '%s', which --ops leaves out", be->kernel_ops[op].op);
            goto done;
        }
    int n_groups;
    long n_points;
    groups = groups_build(o, be, models, use, sel, &n_groups, &n_points);
    if (n_points > KERN_MAX_POINTS) {
        is_errf(err, "the sweep has more than %d points (ops x models x shapes x batch x context x variants); "
                "narrow --ops, --model, --batch, --context, --prompt-len or --kernel", KERN_MAX_POINTS);
        goto done;
    }
    rc = -1;
    if (o->out && !o->force) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/results.json", o->out);
        if (stat(path, &st) == 0) {
            is_errf(err, "%s already exists: pass --force to replace it, or another --out", path);
            goto done;
        }
    }
    // the CPU backend results are checked against (matmul on the CPU: the float64 loop instead)
    bool any_attn = false;
    for (int op = 0; op < be->n_kernel_ops; op++) any_attn |= use[op] && kind_is_attn(be->kernel_ops[op].kind);
    if (strcmp(be->name, "cpu") != 0 || any_attn) {
        ctx.ref = is_cpu_backend_create(o->threads, err);
        if (!ctx.ref) goto done;
    }
    fprintf(stderr, "kernels: %ld points (%d shapes x their variants) on the %s backend, %d threads\n", n_points,
            n_groups, be->name, be->n_threads);
    double peak = NAN;
    if (!o->no_probe) fprintf(stderr, "kernels: measuring peak bandwidth...\n");
    cJSON *probes = probes_json(o, be, &peak, err);
    if (!probes) goto done;
    if (isfinite(peak))
        fprintf(stderr, "kernels: peak bandwidth %.1f GB/s (%s)\n", peak, is_json_str(is_json_get(probes, "mem"), "method"));
    cJSON *env = is_env_capture_backend(argc, argv, be, why_cuda);
    cJSON *doc = is_results_new(env, sweep_json(o, be, use), probes);
    cJSON_AddStringToObject(doc, "kind", "kernels");
    ctx.models = models;
    ctx.peak_gbs = peak;
    ctx.total = (int)n_points;
    cJSON *points = cJSON_GetObjectItemCaseSensitive(doc, "points");
    int failed = 0;
    bool invalid = false;
    is_env_noise_mark noise;
    is_env_noise_begin(env, &noise);
    for (int i = 0; i < n_groups; i++) {
        failed += group_run(&ctx, &groups[i], points, &invalid);
        is_env_noise_end(env, &noise);
        if (o->out && is_results_write_dir(o->out, doc, err)) {
            cJSON_Delete(doc);
            goto done;
        }
    }
    if (failed)
        fprintf(stderr, "kernels: %d of %ld points failed%s (see their error in the results)\n", failed, n_points,
                invalid ? ", validation included" : "");
    *out_doc = doc;
    rc = failed ? 1 : 0;
done:
    free(groups);
    free(models);
    if (ctx.ref) ctx.ref->destroy(ctx.ref);
    return rc;
}
