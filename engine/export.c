// export.c — writes a model as a Hugging Face directory (config.json and
// model.safetensors) or as one GGUF file, readable by this engine and by other tools.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h" // defines: is_write_file_atomic
#include "base/quant.h"            // defines: is_quantize_row
#include "engine/gguf.h"           // defines: is_gguf_writer, is_gguf_put_config
#include "engine/model.h"
#include "engine/model_internal.h" // defines: model_gguf_name, model_gguf_permuted, model_gguf_permute_rows

typedef struct export_ctx {
    is_model *m;
    is_weight_ref *refs;
    is_st_desc *descs;
} export_ctx;

// Tensor index's bytes in the file's dtype, converted from backend memory.
static int export_fill(void *user, int index, void *dst, is_err *err) {
    export_ctx *x = user;
    const is_weight_ref *w = &x->refs[index];
    size_t numel = (size_t)w->rows * (size_t)w->cols;
    float *tmp = malloc(numel * sizeof(float));
    if (!tmp) return is_errf(err, "tensor '%s': out of memory converting %zu elements", w->name, numel);
    int rc = x->m->be->tensor_get_f32(x->m->be, w->t, w->t->rows, tmp, err);
    if (!rc) is_dtype_convert(dst, x->descs[index].dtype, tmp, IS_DTYPE_F32, numel);
    free(tmp);
    return rc;
}

static const char *torch_dtype_name(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return "float32";
    case IS_DTYPE_F16: return "float16";
    default: return "bfloat16";
    }
}

int is_model_export(is_model *m, const char *dir, is_dtype dtype, is_err *err) {
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return is_errf(err, "%s: exists and is not a directory", dir);
    } else if (mkdir(dir, 0777) != 0) {
        return is_errf(err, "%s: cannot create directory: %s", dir, strerror(errno));
    }
    is_weight_ref *refs;
    int n = is_model_weight_refs(m, &refs);
    is_st_desc *descs = is_xcalloc((size_t)n, sizeof *descs);
    for (int i = 0; i < n; i++) {
        descs[i].name = refs[i].name;
        // norms and biases keep the matrices' dtype, as Hugging Face checkpoints do
        descs[i].dtype = dtype;
        if (refs[i].kind == IS_WKIND_MATRIX) {
            descs[i].ndim = 2;
            descs[i].shape[0] = refs[i].rows;
            descs[i].shape[1] = refs[i].cols;
        } else {
            descs[i].ndim = 1;
            descs[i].shape[0] = refs[i].cols;
        }
    }
    size_t plen = strlen(dir) + 32;
    char *st_path = is_xmalloc(plen), *cfg_path = is_xmalloc(plen);
    snprintf(st_path, plen, "%s/model.safetensors", dir);
    snprintf(cfg_path, plen, "%s/config.json", dir);
    export_ctx x = {m, refs, descs};
    int rc = is_st_write(st_path, descs, n, export_fill, &x, err);
    if (!rc) {
        char *json = is_config_to_json(&m->cfg, torch_dtype_name(dtype));
        rc = is_write_file_atomic(cfg_path, json, strlen(json), err);
        free(json);
    }
    free(st_path);
    free(cfg_path);
    free(descs);
    free(refs);
    return rc;
}

// ---- GGUF ------------------------------------------------------------------------

typedef struct gguf_export {
    is_model *m;
    is_weight_ref *refs;
    int n;                 // weights; index n is rope_freqs.weight when present
    is_dtype *dtypes;      // [n] in the file
    float *rope_factors;   // [head_dim / 2] or NULL
} gguf_export;

// Tensor index's bytes in the file: the held bytes when the dtypes agree (the
// backend's memory is the host's: export runs on the cpu backend), else F32 rows
// converted or quantized; q and k rows of a llama model in llama.cpp's order.
static int gguf_export_fill(void *user, int index, void *dst, uint64_t nbytes, is_err *err) {
    gguf_export *x = user;
    if (index == x->n) {
        memcpy(dst, x->rope_factors, (size_t)nbytes);
        return 0;
    }
    const is_weight_ref *w = &x->refs[index];
    is_dtype dt = x->dtypes[index];
    size_t row_bytes = is_dtype_row_bytes(dt, w->cols);
    IS_ASSERT((uint64_t)row_bytes * (uint64_t)w->rows == nbytes);
    void *rows = malloc((size_t)nbytes);
    float *tmp = NULL;
    if (!rows) return is_errf(err, "tensor '%s': out of memory", w->name);
    int rc = 0;
    if (w->t->dtype == dt && !strcmp(x->m->be->name, "cpu")) {
        memcpy(rows, w->t->data, (size_t)nbytes);
    } else if (!(tmp = malloc((size_t)w->rows * (size_t)w->cols * sizeof(float)))) {
        rc = is_errf(err, "tensor '%s': out of memory", w->name);
    } else if (!(rc = x->m->be->tensor_get_f32(x->m->be, w->t, w->t->rows, tmp, err))) {
        for (int64_t r = 0; r < w->rows; r++) {
            char *d = (char *)rows + (size_t)r * row_bytes;
            if (is_dtype_quantized(dt)) is_quantize_row(dt, tmp + r * w->cols, d, w->cols);
            else is_dtype_convert(d, dt, tmp + r * w->cols, IS_DTYPE_F32, (size_t)w->cols);
        }
    }
    if (!rc) {
        if (model_gguf_permuted(&x->m->cfg, w->name)) {
            int heads = strstr(w->name, ".q_proj.") ? x->m->cfg.n_heads : x->m->cfg.n_kv_heads;
            size_t unit = w->kind == IS_WKIND_MATRIX ? row_bytes : is_dtype_size(dt);
            model_gguf_permute_rows(dst, rows, heads, x->m->cfg.head_dim, unit, true);
        } else {
            memcpy(dst, rows, (size_t)nbytes);
        }
    }
    free(tmp);
    free(rows);
    return rc;
}

// Llama 3 RoPE scaling as llama.cpp reads it: one factor per frequency that divides
// it (our scaled frequencies against the unscaled ones). NULL for other scalings.
static float *gguf_rope_factors(const is_config *cfg) {
    if (cfg->rope_scaling != IS_ROPE_SCALING_LLAMA3) return NULL;
    int half = cfg->head_dim / 2;
    is_config plain = *cfg;
    plain.rope_scaling = IS_ROPE_SCALING_NONE;
    double *scaled = is_xmalloc((size_t)half * sizeof *scaled), *base = is_xmalloc((size_t)half * sizeof *base);
    is_config_rope_inv_freq(cfg, scaled);
    is_config_rope_inv_freq(&plain, base);
    float *f = is_xmalloc((size_t)half * sizeof *f);
    for (int i = 0; i < half; i++) f[i] = (float)(base[i] / scaled[i]);
    free(scaled);
    free(base);
    return f;
}

int is_model_export_gguf(is_model *m, const char *path, is_dtype dtype, const struct is_tokenizer *tok,
                         is_err *err) {
    if (is_gguf_ggml_type(dtype) < 0)
        return is_errf(err, "%s: GGUF holds F32, F16, BF16, Q8_0 or Q4_0 weights, not %s", path, is_dtype_name(dtype));
    if (m->cfg.rope_scaling != IS_ROPE_SCALING_NONE && m->cfg.rope_scaling != IS_ROPE_SCALING_LLAMA3)
        return is_errf(err, "%s: this RoPE scaling has no GGUF form here (none and llama3 do)", path);
    gguf_export x = {.m = m};
    x.n = is_model_weight_refs(m, &x.refs);
    x.dtypes = is_xcalloc((size_t)x.n, sizeof *x.dtypes);
    x.rope_factors = gguf_rope_factors(&m->cfg);
    is_gguf_writer *w = is_gguf_writer_new();
    const char *name = strrchr(m->source, '/') ? strrchr(m->source, '/') + 1 : m->source;
    int rc = is_gguf_put_config(w, &m->cfg, name, err);
    if (!rc && tok) rc = is_gguf_put_tokenizer(w, tok, &m->cfg, err);
    for (int i = 0; !rc && i < x.n; i++) {
        const is_weight_ref *r = &x.refs[i];
        char gname[128];
        IS_ASSERT(model_gguf_name(r->name, gname, sizeof gname));
        // norms and biases in F32, as llama.cpp's converter writes them
        x.dtypes[i] = r->kind == IS_WKIND_MATRIX ? dtype : IS_DTYPE_F32;
        if (is_dtype_row_bytes(x.dtypes[i], r->cols) == 0) {
            rc = is_errf(err, "%s: %s needs rows of a multiple of %lld elements, but '%s' has rows of %lld", path,
                         is_dtype_name(dtype), (long long)is_dtype_block(dtype), r->name, (long long)r->cols);
            break;
        }
        int64_t ne[2] = {r->cols, r->rows};
        is_gguf_add_tensor(w, gname, x.dtypes[i], r->kind == IS_WKIND_MATRIX ? 2 : 1, ne);
    }
    if (!rc && x.rope_factors) {
        int64_t ne[1] = {m->cfg.head_dim / 2};
        is_gguf_add_tensor(w, "rope_freqs.weight", IS_DTYPE_F32, 1, ne);
    }
    if (!rc) rc = is_gguf_write(w, path, gguf_export_fill, &x, err);
    is_gguf_writer_free(w);
    free(x.rope_factors);
    free(x.dtypes);
    free(x.refs);
    return rc;
}
