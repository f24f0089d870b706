// model_gguf.c — a model from a GGUF file (llama.cpp's format): config and weights,
// the tensor names and the q/k row layout converted to ours.
//
// Weights are held in one dtype (is_model.wdtype), as for every model, so the cost
// model counts exactly what is read: by default the type of blk.0.attn_q.weight (a
// Q8_0 or Q4_0 file stays quantized; F16 is held in BF16; F32 in F32 on a backend
// that multiplies in F32), and a matrix of another type in the file (a Q8_0 file
// with an F16 token_embd) is converted to it at load. A tensor of a type the engine
// does not hold (Q6_K, ...) is refused by name.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/quant.h"            // defines: is_dequantize_row
#include "engine/gguf.h"           // defines: is_gguf_open, is_gguf_config, is_gguf_find_tensor
#include "engine/model_internal.h" // defines: model_new, model_check_fit, model_gguf_name

// ---- names and the q/k row layout ------------------------------------------------

bool model_gguf_name(const char *hf, char *out, size_t n) {
    static const struct { const char *hf, *gguf; } top[] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
    };
    static const struct { const char *hf, *gguf; } layer[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"self_attn.o_proj.bias", "attn_output.bias"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(hf, top[i].hf)) return (size_t)snprintf(out, n, "%s", top[i].gguf) < n;
    int l, used = 0;
    if (sscanf(hf, "model.layers.%d.%n", &l, &used) != 1 || used == 0) return false;
    for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
        if (!strcmp(hf + used, layer[i].hf)) return (size_t)snprintf(out, n, "blk.%d.%s", l, layer[i].gguf) < n;
    return false;
}

bool model_gguf_permuted(const is_config *cfg, const char *hf) {
    if (strcmp(cfg->model_type, "llama") != 0) return false; // qwen2: llama.cpp rotates halves, as we do
    return strstr(hf, ".self_attn.q_proj.") || strstr(hf, ".self_attn.k_proj.");
}

void model_gguf_permute_rows(void *dst, const void *src, int n_heads, int head_dim, size_t row_bytes, bool to_gguf) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++)
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < half; i++) {
                size_t hf = (size_t)h * head_dim + (size_t)j * half + i, gg = (size_t)h * head_dim + 2 * (size_t)i + j;
                size_t d = to_gguf ? gg : hf, s = to_gguf ? hf : gg;
                memcpy((char *)dst + d * row_bytes, (const char *)src + s * row_bytes, row_bytes);
            }
}

// Heads of a permuted weight: q has n_heads, k n_kv_heads.
static int permuted_heads(const is_config *cfg, const char *hf) {
    return strstr(hf, ".q_proj.") ? cfg->n_heads : cfg->n_kv_heads;
}

// ---- loading ---------------------------------------------------------------------

// Llama 3's RoPE frequency factors: rope_freqs.weight, one per frequency, divides it.
static int gguf_rope_factors(is_model *m, const is_gguf *g, is_err *err) {
    const is_gguf_tensor *t = is_gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return 0;
    int half = m->cfg.head_dim / 2;
    if (t->ggml_type != IS_GGML_F32 || t->n_dims != 1 || t->ne[0] != half)
        return is_errf(err, "%s: tensor 'rope_freqs.weight' must be F32 of %d elements (head_dim / 2)", g->path, half);
    double *base = is_xmalloc((size_t)half * sizeof *base);
    is_config_rope_inv_freq(&m->cfg, base); // the config's own scaling is none here
    int rc = 0;
    for (int i = 0; i < half && !rc; i++) {
        float v;
        memcpy(&v, (const float *)t->data + i, sizeof v);
        if (!(isfinite(v) && v > 0))
            rc = is_errf(err, "%s: tensor 'rope_freqs.weight' element %d is %g, expected a positive factor", g->path,
                         i, (double)v);
        else m->rope_inv_freq[i] = (float)(base[i] / (double)v);
    }
    free(base);
    return rc;
}

// The file tensor of weight w, its shape checked against the config.
static const is_gguf_tensor *gguf_weight(const is_gguf *g, const is_weight_ref *w, is_err *err) {
    char name[128];
    if (!model_gguf_name(w->name, name, sizeof name)) {
        is_errf(err, "%s: no GGUF name for weight '%s'", g->path, w->name);
        return NULL;
    }
    const is_gguf_tensor *t = is_gguf_find_tensor(g, name);
    if (!t) {
        is_errf(err, "%s: tensor '%s' is missing", g->path, name);
        return NULL;
    }
    bool ok = w->kind == IS_WKIND_MATRIX ? (t->n_dims == 2 && t->ne[0] == w->cols && t->ne[1] == w->rows)
                                         : (t->n_dims == 1 && t->ne[0] == w->cols);
    if (!ok) {
        is_errf(err, "%s: tensor '%s' has %d dims [%lld, %lld], expected [%lld, %lld] (ne[0] = row length) from the "
                "metadata", g->path, name, t->n_dims, (long long)t->ne[0], (long long)(t->n_dims > 1 ? t->ne[1] : 1),
                (long long)w->cols, (long long)w->rows);
        return NULL;
    }
    if (is_gguf_dtype(t->ggml_type) < 0) {
        is_errf(err, "%s: tensor '%s' is %s; inferscope reads F32, F16, BF16, Q8_0 and Q4_0 tensors", g->path, name,
                is_gguf_type_name(t->ggml_type));
        return NULL;
    }
    return t;
}

// Puts file tensor t into weight w: aliased or copied as it is when the dtypes
// agree, else converted (a quantized source is dequantized to F32 first; the
// backend quantizes when w is held quantized). q and k rows of a llama file are
// put back in our order first.
static int gguf_load_weight(is_model *m, const is_gguf *g, const is_weight_ref *w, const is_gguf_tensor *t,
                            is_err *err) {
    is_backend *be = m->be;
    is_dtype sd = (is_dtype)is_gguf_dtype(t->ggml_type);
    *w->t = (is_tensor){.dtype = model_ref_dtype(m, w), .rows = w->rows, .cols = w->cols};
    size_t row_bytes = is_dtype_row_bytes(sd, w->cols);
    const void *src = t->data;
    void *perm = NULL, *f32 = NULL;
    int rc = 0;
    // a quantized source held in another dtype: dequantized to F32 first
    if (is_dtype_quantized(sd) && sd != w->t->dtype) {
        if (!(f32 = malloc((size_t)w->rows * (size_t)w->cols * sizeof(float))))
            return is_errf(err, "%s: out of memory dequantizing tensor '%s'", g->path, w->name);
        for (int64_t r = 0; r < w->rows; r++)
            is_dequantize_row(sd, (const char *)src + (size_t)r * row_bytes, (float *)f32 + r * w->cols, w->cols);
        src = f32;
        sd = IS_DTYPE_F32;
        row_bytes = is_dtype_row_bytes(sd, w->cols);
    }
    if (model_gguf_permuted(&m->cfg, w->name)) {
        // a matrix's rows move; a bias's elements
        size_t unit = w->kind == IS_WKIND_MATRIX ? row_bytes : is_dtype_size(sd);
        if (!(perm = malloc((size_t)w->rows * row_bytes))) {
            free(f32);
            return is_errf(err, "%s: out of memory for tensor '%s'", g->path, w->name);
        }
        model_gguf_permute_rows(perm, src, permuted_heads(&m->cfg, w->name), m->cfg.head_dim, unit, false);
        src = perm;
    }
    if (src == t->data && sd == w->t->dtype && (uintptr_t)src % (is_dtype_quantized(sd) ? 2 : is_dtype_size(sd)) == 0) {
        rc = be->tensor_wrap(be, w->t, src, err); // the mapping itself (cpu), or one copy
    } else {
        rc = be->tensor_alloc(be, w->t, err);
        if (!rc) rc = be->tensor_set(be, w->t, src, sd, err);
    }
    free(perm);
    free(f32);
    if (rc) is_err_prefix(err, "%s: tensor '%s'", g->path, w->name);
    return rc;
}

int model_load_gguf(const char *path, const is_model_opts *opts, is_backend *be, is_model **out, is_err *err) {
    *out = NULL;
    is_gguf *g = is_xcalloc(1, sizeof *g);
    if (is_gguf_open(path, g, err)) {
        free(g);
        return -1;
    }
    is_config cfg;
    if (is_gguf_config(g, &cfg, err)) {
        is_gguf_close(g);
        free(g);
        return -1;
    }
    is_model *m = model_new(&cfg, path, be);
    m->gguf = g; // closed with the model: tensors may alias the mapping
    is_weight_ref *refs;
    int n = is_model_weight_refs(m, &refs), rc = -1;
    const is_gguf_tensor **ts = is_xcalloc((size_t)n, sizeof *ts);
    int q0 = -1; // blk.0.attn_q.weight: the file's type
    for (int i = 0; i < n; i++) {
        if (!(ts[i] = gguf_weight(g, &refs[i], err))) goto done;
        if (!strcmp(refs[i].name, "model.layers.0.self_attn.q_proj.weight")) q0 = i;
    }
    IS_ASSERT(q0 >= 0);
    m->file_dtype = (is_dtype)is_gguf_dtype(ts[q0]->ggml_type);
    if (opts && opts->dtype >= 0) m->wdtype = (is_dtype)opts->dtype;
    else if (is_dtype_quantized(m->file_dtype)) m->wdtype = m->file_dtype;
    else m->wdtype = m->file_dtype == IS_DTYPE_F32 && !be->bf16_gemm ? IS_DTYPE_F32 : IS_DTYPE_BF16;
    if (m->wdtype == IS_DTYPE_F16) {
        is_errf(err, "%s: weights can be held in F32, BF16, INT8, Q8_0 or Q4_0, not F16", path);
        goto done;
    }
    double need = 0, all = 0;
    for (int i = 0; i < n; i++)
        if (is_gguf_dtype(ts[i]->ggml_type) != (int)model_ref_dtype(m, &refs[i]) || model_gguf_permuted(&cfg, refs[i].name))
            need += is_model_tensor_bytes(model_ref_dtype(m, &refs[i]), refs[i].rows, refs[i].cols);
    if (model_refs_bytes(m, refs, n, &all, err) || model_check_fit(m, need, all, err) ||
        gguf_rope_factors(m, g, err) || model_rope_upload(m, err))
        goto done;
    for (int i = 0; i < n; i++)
        if (gguf_load_weight(m, g, &refs[i], ts[i], err)) goto done;
    model_tie(m);
    if (be->sync(be, err)) goto done;
    rc = 0;
done:
    free(ts);
    free(refs);
    if (rc) is_model_free(m);
    else *out = m;
    return rc;
}
