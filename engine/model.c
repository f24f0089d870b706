// model.c — weights of a Llama-family model: the name table, loading from a
// Hugging Face directory (one safetensors file or shards), random presets.
#include "engine/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/fileio.h" // defines: is_read_file
#include "base/rng.h"
#include "engine/gguf.h"           // defines: is_gguf_close
#include "engine/model_internal.h" // defines: model_new, model_rope_upload, model_tie, model_refs_bytes, model_check_fit

#define IS_PRESET_STD 0.02f

// ---- the weight table --------------------------------------------------------

static void ref_add(is_weight_ref *r, int *n, const char *name, is_tensor *t, is_wkind kind,
                    int64_t rows, int64_t cols, bool is_norm) {
    is_weight_ref *w = &r[(*n)++];
    memset(w, 0, sizeof *w);
    snprintf(w->name, sizeof w->name, "%s", name);
    w->t = t;
    w->kind = kind;
    w->rows = rows;
    w->cols = cols;
    w->is_norm = is_norm;
    w->init_const = is_norm ? 1.0f : 0.0f;
}

int is_model_weight_refs(is_model *m, is_weight_ref **refs) {
    const is_config *c = &m->cfg;
    int64_t D = c->hidden_size, F = c->intermediate_size, hd = c->head_dim;
    int64_t qd = (int64_t)c->n_heads * hd, kvd = (int64_t)c->n_kv_heads * hd;
    int cap = 3 + c->n_layers * 13;
    is_weight_ref *r = is_xcalloc((size_t)cap, sizeof *r);
    int n = 0;
    char name[96];
    ref_add(r, &n, "model.embed_tokens.weight", &m->embed, IS_WKIND_MATRIX, c->vocab_size, D, false);
    for (int l = 0; l < c->n_layers; l++) {
        is_layer *L = &m->layers[l];
#define W(suffix, t, kind, rows, cols, norm)                              \
    do {                                                                  \
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);     \
        ref_add(r, &n, name, t, kind, rows, cols, norm);                  \
    } while (0)
        W("input_layernorm.weight", &L->attn_norm, IS_WKIND_VECTOR, 1, D, true);
        W("self_attn.q_proj.weight", &L->wq, IS_WKIND_MATRIX, qd, D, false);
        if (c->qkv_bias) W("self_attn.q_proj.bias", &L->bq, IS_WKIND_VECTOR, 1, qd, false);
        W("self_attn.k_proj.weight", &L->wk, IS_WKIND_MATRIX, kvd, D, false);
        if (c->qkv_bias) W("self_attn.k_proj.bias", &L->bk, IS_WKIND_VECTOR, 1, kvd, false);
        W("self_attn.v_proj.weight", &L->wv, IS_WKIND_MATRIX, kvd, D, false);
        if (c->qkv_bias) W("self_attn.v_proj.bias", &L->bv, IS_WKIND_VECTOR, 1, kvd, false);
        W("self_attn.o_proj.weight", &L->wo, IS_WKIND_MATRIX, D, qd, false);
        if (c->o_bias) W("self_attn.o_proj.bias", &L->bo, IS_WKIND_VECTOR, 1, D, false);
        W("post_attention_layernorm.weight", &L->ffn_norm, IS_WKIND_VECTOR, 1, D, true);
        W("mlp.gate_proj.weight", &L->w_gate, IS_WKIND_MATRIX, F, D, false);
        W("mlp.up_proj.weight", &L->w_up, IS_WKIND_MATRIX, F, D, false);
        W("mlp.down_proj.weight", &L->w_down, IS_WKIND_MATRIX, D, F, false);
#undef W
    }
    ref_add(r, &n, "model.norm.weight", &m->out_norm, IS_WKIND_VECTOR, 1, D, true);
    if (!c->tie_word_embeddings)
        ref_add(r, &n, "lm_head.weight", &m->lm_head, IS_WKIND_MATRIX, c->vocab_size, D, false);
    IS_ASSERT(n <= cap);
    *refs = r;
    return n;
}

// ---- model lifetime ----------------------------------------------------------

is_model *model_new(const is_config *cfg, const char *source, is_backend *be) {
    is_model *m = is_xcalloc(1, sizeof *m);
    m->cfg = *cfg;
    m->be = be;
    snprintf(m->source, sizeof m->source, "%s", source);
    m->layers = is_xcalloc((size_t)cfg->n_layers, sizeof *m->layers);
    int half = cfg->head_dim / 2;
    double *inv = is_xmalloc((size_t)half * sizeof *inv);
    is_config_rope_inv_freq(cfg, inv);
    m->rope_inv_freq = is_xmalloc((size_t)half * sizeof(float));
    for (int i = 0; i < half; i++) m->rope_inv_freq[i] = (float)inv[i];
    free(inv);
    return m;
}

// Copies the RoPE frequencies into backend memory (the rope op reads them there).
int model_rope_upload(is_model *m, is_err *err) {
    m->rope_freq = (is_tensor){.dtype = IS_DTYPE_F32, .rows = 1, .cols = m->cfg.head_dim / 2};
    if (m->be->tensor_alloc(m->be, &m->rope_freq, err) ||
        m->be->tensor_set(m->be, &m->rope_freq, m->rope_inv_freq, IS_DTYPE_F32, err)) {
        is_err_prefix(err, "%s: RoPE frequencies", m->source);
        return -1;
    }
    return 0;
}

// Sets lm_head to alias the embedding table when the embeddings are tied.
void model_tie(is_model *m) {
    if (m->cfg.tie_word_embeddings) {
        m->lm_head = m->embed;
        m->lm_head.owned = false;
    }
}

void is_model_free(is_model *m) {
    if (!m) return;
    if (m->layers) {
        is_weight_ref *refs;
        int n = is_model_weight_refs(m, &refs);
        for (int i = 0; i < n; i++)
            if (refs[i].t->data) m->be->tensor_free(m->be, refs[i].t);
        free(refs);
    }
    if (m->rope_freq.data) m->be->tensor_free(m->be, &m->rope_freq);
    for (int i = 0; i < m->n_files; i++) is_st_close(&m->files[i]);
    free(m->files);
    if (m->gguf) {
        is_gguf_close(m->gguf);
        free(m->gguf);
    }
    free(m->layers);
    free(m->rope_inv_freq);
    free(m);
}

double is_model_weight_bytes(const is_model *m) {
    is_weight_ref *refs;
    int n = is_model_weight_refs((is_model *)m, &refs);
    double bytes = 0;
    for (int i = 0; i < n; i++) bytes += is_model_tensor_bytes(refs[i].t->dtype, refs[i].t->rows, refs[i].t->cols);
    free(refs);
    return bytes;
}

int is_model_check_dtype(const is_config *cfg, is_dtype t, const char *source, is_err *err) {
    if (t != IS_DTYPE_F32 && t != IS_DTYPE_BF16 && !is_dtype_quantized(t))
        return is_errf(err, "%s: weights can be held in f32, bf16, int8, q8_0 or q4_0, not %s", source, is_dtype_name(t));
    const struct { const char *what; int64_t cols; } rows[] = {
        {"hidden_size", cfg->hidden_size},
        {"num_attention_heads x head_dim", (int64_t)cfg->n_heads * cfg->head_dim},
        {"intermediate_size", cfg->intermediate_size},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (is_dtype_row_bytes(t, rows[i].cols) == 0)
            return is_errf(err, "%s: %s weights need rows of a multiple of %lld elements, but %s is %lld", source,
                           is_dtype_name(t), (long long)is_dtype_block(t), rows[i].what, (long long)rows[i].cols);
    return 0;
}

double is_model_tensor_bytes(is_dtype t, int64_t rows, int64_t cols) {
    return (double)rows * (double)is_dtype_row_bytes(t, cols);
}

// The dtype a weight is held in: matrices in the model's, vectors in F32.
is_dtype model_ref_dtype(const is_model *m, const is_weight_ref *w) {
    return w->kind == IS_WKIND_MATRIX ? m->wdtype : IS_DTYPE_F32;
}

// Bytes of every weight in its held dtype; an error naming the first matrix whose
// rows are not a whole number of the format's blocks.
int model_refs_bytes(const is_model *m, const is_weight_ref *refs, int n, double *bytes, is_err *err) {
    *bytes = 0;
    for (int i = 0; i < n; i++) {
        is_dtype dt = model_ref_dtype(m, &refs[i]);
        if (is_dtype_row_bytes(dt, refs[i].cols) == 0)
            return is_errf(err, "%s: weights in %s need rows of a multiple of %lld elements, but '%s' has rows of %lld",
                           m->source, is_dtype_name(dt), (long long)is_dtype_block(dt), refs[i].name,
                           (long long)refs[i].cols);
        *bytes += is_model_tensor_bytes(dt, refs[i].rows, refs[i].cols);
    }
    return 0;
}

// Host memory available for new allocations, in bytes (MemAvailable), or -1.
double is_host_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
    fclose(f);
    return kib < 0 ? -1 : kib * 1024.0;
}

int is_backend_free_memory(is_backend *be, double *free_bytes, double *total_bytes, is_err *err) {
    if (be->mem_info) return be->mem_info(be, free_bytes, total_bytes, err);
    *free_bytes = is_host_mem_available();
    *total_bytes = -1;
    return 0;
}

// Refuses a model whose weights cannot fit: on the CPU, the freshly allocated
// host bytes (new_bytes) against available memory (better a message than the
// kernel's out-of-memory killer); on a device backend, every weight byte
// (all_bytes) against its free memory.
int model_check_fit(const is_model *m, double new_bytes, double all_bytes, is_err *err) {
    double free_b, total_b;
    if (is_backend_free_memory(m->be, &free_b, &total_b, err)) return -1;
    if (m->be->mem_info) {
        if (all_bytes > free_b)
            return is_errf(err, "%s: weights need %.2f GiB in %s but the %s device has %.2f GiB free "
                           "(of %.2f GiB)", m->source, all_bytes / 1073741824.0, is_dtype_name(m->wdtype),
                           m->be->name, free_b / 1073741824.0, total_b / 1073741824.0);
        return 0;
    }
    if (free_b > 0 && new_bytes > 0.95 * free_b)
        return is_errf(err, "%s: weights need %.2f GiB in %s but only %.2f GiB of memory is available "
                       "(try BF16 weights or a smaller model)",
                       m->source, new_bytes / 1073741824.0, is_dtype_name(m->wdtype), free_b / 1073741824.0);
    return 0;
}

// ---- presets -----------------------------------------------------------------

static int fill_vector_rounded(is_backend *be, const is_weight_ref *w, uint64_t seed, is_dtype dtype,
                               is_err *err) {
    size_t n = (size_t)w->cols;
    uint16_t *h = is_xmalloc(n * sizeof *h);
    uint64_t stream = is_rng_stream(w->name);
    for (size_t i = 0; i < n; i++) {
        float v = IS_PRESET_STD * is_rng_normal(seed, stream, i);
        is_dtype_convert(&h[i], dtype, &v, IS_DTYPE_F32, 1);
    }
    int rc = be->tensor_set(be, w->t, h, dtype, err);
    free(h);
    return rc;
}

int is_model_from_config(const is_config *cfg, const char *source, is_dtype dtype, uint64_t seed,
                         is_backend *be, is_model **out, is_err *err) {
    *out = NULL;
    if (is_config_validate(cfg, source, err) || is_model_check_dtype(cfg, dtype, source, err)) return -1;
    is_model *m = model_new(cfg, source, be);
    m->wdtype = m->file_dtype = dtype;
    m->seed = seed;
    is_weight_ref *refs;
    int n = is_model_weight_refs(m, &refs);
    double need = 0;
    if (model_refs_bytes(m, refs, n, &need, err) || model_check_fit(m, need, need, err) || model_rope_upload(m, err)) goto fail;
    for (int i = 0; i < n; i++) {
        is_weight_ref *w = &refs[i];
        *w->t = (is_tensor){.dtype = w->kind == IS_WKIND_MATRIX ? dtype : IS_DTYPE_F32,
                            .rows = w->rows, .cols = w->cols};
        if (be->tensor_alloc(be, w->t, err)) {
            is_err_prefix(err, "%s: %s", source, w->name);
            goto fail;
        }
        if (w->is_norm) {
            be->tensor_fill_const(be, w->t, w->init_const);
        } else if (w->kind == IS_WKIND_VECTOR && dtype != IS_DTYPE_F32) {
            // biases are held in F32 but take values of the model's dtype, as when
            // loaded from a checkpoint: an export in that dtype is then lossless.
            // A quantized preset is the BF16 preset quantized (the backends' fill),
            // so its biases are the BF16 preset's.
            if (fill_vector_rounded(be, w, seed, is_dtype_quantized(dtype) ? IS_DTYPE_BF16 : dtype, err)) goto fail;
        } else {
            be->tensor_fill_normal(be, w->t, seed, is_rng_stream(w->name), IS_PRESET_STD);
        }
    }
    free(refs);
    model_tie(m);
    if (be->sync(be, err)) {
        is_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
fail:
    free(refs);
    is_model_free(m);
    return -1;
}

// ---- loading from a Hugging Face directory -------------------------------------

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = is_xmalloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

// A tensor name's file, by index into m->files.
typedef struct name_file {
    char *name;
    int file;
} name_file;

typedef struct weight_index {
    name_file *map; // NULL for a single file: every name is in file 0
    int n;
} weight_index;

static void weight_index_free(weight_index *ix) {
    for (int i = 0; i < ix->n; i++) free(ix->map[i].name);
    free(ix->map);
}

// Reads model.safetensors.index.json: opens each shard once and maps names to shards.
static int open_sharded(is_model *m, const char *dir, const char *index_path, weight_index *ix,
                        is_err *err) {
    size_t len;
    char *text;
    if (is_read_file(index_path, 64u << 20, &text, &len, err)) return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root) return is_errf(err, "%s: not valid JSON", index_path);
    int rc = -1;
    cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) {
        is_errf(err, "%s: field \"weight_map\" must be an object mapping tensor names to files", index_path);
        goto done;
    }
    int n = cJSON_GetArraySize(wm);
    ix->map = is_xcalloc((size_t)n, sizeof *ix->map);
    char **fnames = is_xcalloc((size_t)n, sizeof *fnames);
    int n_files = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, wm) {
        if (!cJSON_IsString(it)) {
            is_errf(err, "%s: weight_map[\"%s\"] must be a file name string", index_path, it->string);
            goto done_names;
        }
        const char *fn = it->valuestring;
        if (!*fn || strchr(fn, '/') || !strcmp(fn, "..") || !strcmp(fn, ".")) {
            is_errf(err, "%s: weight_map[\"%s\"] = \"%s\" is not a plain file name in the model directory",
                    index_path, it->string, fn);
            goto done_names;
        }
        int f = -1;
        for (int i = 0; i < n_files; i++)
            if (!strcmp(fnames[i], fn)) f = i;
        if (f < 0) {
            f = n_files;
            fnames[n_files++] = is_xstrdup(fn);
        }
        ix->map[ix->n].name = is_xstrdup(it->string);
        ix->map[ix->n].file = f;
        ix->n++;
    }
    if (n_files == 0) {
        is_errf(err, "%s: weight_map is empty", index_path);
        goto done_names;
    }
    m->files = is_xcalloc((size_t)n_files, sizeof *m->files);
    for (int i = 0; i < n_files; i++) {
        char *p = path_join(dir, fnames[i]);
        int r = is_st_open(p, &m->files[i], err);
        free(p);
        if (r) goto done_names;
        m->n_files++;
    }
    rc = 0;
done_names:
    for (int i = 0; i < n_files; i++) free(fnames[i]);
    free(fnames);
done:
    cJSON_Delete(root);
    return rc;
}

static const is_st_tensor *find_weight(const is_model *m, const weight_index *ix, const char *name,
                                       const is_st_file **file) {
    if (!ix->map) {
        *file = &m->files[0];
        return is_st_find(&m->files[0], name);
    }
    for (int i = 0; i < ix->n; i++)
        if (!strcmp(ix->map[i].name, name)) {
            *file = &m->files[ix->map[i].file];
            return is_st_find(*file, name);
        }
    *file = NULL;
    return NULL;
}

static void shape_str(char *buf, size_t n, const is_st_tensor *t) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int d = 0; d < t->ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

// Checks a file tensor against the expected shape and puts it in backend memory.
static int load_weight(is_model *m, const is_weight_ref *w, const is_st_tensor *st, const char *fname,
                       is_err *err) {
    bool ok = w->kind == IS_WKIND_MATRIX
                  ? (st->ndim == 2 && st->shape[0] == w->rows && st->shape[1] == w->cols)
                  : (st->ndim == 1 && st->shape[0] == w->cols);
    if (!ok) {
        char got[128];
        shape_str(got, sizeof got, st);
        if (w->kind == IS_WKIND_MATRIX)
            return is_errf(err, "%s: tensor '%s' has shape %s, expected [%lld, %lld] from config.json",
                           fname, w->name, got, (long long)w->rows, (long long)w->cols);
        return is_errf(err, "%s: tensor '%s' has shape %s, expected [%lld] from config.json", fname,
                       w->name, got, (long long)w->cols);
    }
    is_backend *be = m->be;
    is_tensor *t = w->t;
    *t = (is_tensor){.dtype = model_ref_dtype(m, w), .rows = w->rows, .cols = w->cols};
    int rc;
    if (st->dtype == t->dtype && ((uintptr_t)st->data % is_dtype_size(t->dtype)) == 0) {
        rc = be->tensor_wrap(be, t, st->data, err);
    } else {
        rc = be->tensor_alloc(be, t, err);
        if (!rc) rc = be->tensor_set(be, t, st->data, st->dtype, err);
    }
    if (rc) is_err_prefix(err, "%s: tensor '%s'", fname, w->name);
    return rc;
}

static int load_dir(const char *dir, const is_model_opts *opts, is_backend *be, is_model **out,
                    is_err *err) {
    char *cfg_path = path_join(dir, "config.json");
    char *single = path_join(dir, "model.safetensors");
    char *index = path_join(dir, "model.safetensors.index.json");
    is_model *m = NULL;
    is_weight_ref *refs = NULL;
    weight_index ix = {0};
    int rc = -1, n = 0;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        is_errf(err, "model '%s': not a directory (expected a Hugging Face model directory, a .gguf file or preset:NAME)", dir);
        goto done;
    }
    is_config cfg;
    if (is_config_load(cfg_path, &cfg, err)) goto done;
    m = model_new(&cfg, dir, be);
    if (file_exists(index)) {
        if (open_sharded(m, dir, index, &ix, err)) goto done;
    } else if (file_exists(single)) {
        m->files = is_xcalloc(1, sizeof *m->files);
        if (is_st_open(single, &m->files[0], err)) goto done;
        m->n_files = 1;
    } else {
        is_errf(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
        goto done;
    }
    n = is_model_weight_refs(m, &refs);
    // the dtype of the files: that of the embedding table
    const is_st_file *f;
    const is_st_tensor *emb = find_weight(m, &ix, refs[0].name, &f);
    if (!emb) {
        is_errf(err, "%s: tensor '%s' is missing", f ? f->path : index, refs[0].name);
        goto done;
    }
    m->file_dtype = emb->dtype;
    // automatic: F32 files stay F32 on a backend that multiplies in F32 (cpu);
    // everything else, and every file on a BF16 GEMM backend (cuda), is held in BF16
    m->wdtype = opts && opts->dtype >= 0 ? (is_dtype)opts->dtype
                : (emb->dtype == IS_DTYPE_F32 && !be->bf16_gemm ? IS_DTYPE_F32 : IS_DTYPE_BF16);
    if (m->wdtype != IS_DTYPE_F32 && m->wdtype != IS_DTYPE_BF16 && !is_dtype_quantized(m->wdtype)) {
        is_errf(err, "weights in %s: they can be held in F32, BF16, INT8, Q8_0 or Q4_0", is_dtype_name(m->wdtype));
        goto done;
    }
    double need = 0, all = 0;
    for (int i = 0; i < n; i++) {
        const is_st_tensor *t = find_weight(m, &ix, refs[i].name, &f);
        if (!t) {
            is_errf(err, "%s: tensor '%s' is missing", f ? f->path : (ix.map ? index : single),
                    refs[i].name);
            goto done;
        }
        if (t->dtype != model_ref_dtype(m, &refs[i])) need += is_model_tensor_bytes(model_ref_dtype(m, &refs[i]), refs[i].rows, refs[i].cols);
    }
    if (model_refs_bytes(m, refs, n, &all, err) || model_check_fit(m, need, all, err) || model_rope_upload(m, err)) goto done;
    for (int i = 0; i < n; i++) {
        const is_st_tensor *t = find_weight(m, &ix, refs[i].name, &f);
        if (load_weight(m, &refs[i], t, f->path, err)) goto done;
    }
    model_tie(m);
    if (be->sync(be, err)) goto done;
    rc = 0;
done:
    free(refs);
    weight_index_free(&ix);
    free(cfg_path);
    free(single);
    free(index);
    if (rc) {
        is_model_free(m);
        m = NULL;
    }
    *out = m;
    return rc;
}

int is_model_load(const char *spec, const is_model_opts *opts, is_backend *be, is_model **out,
                  is_err *err) {
    *out = NULL;
    if (!strncmp(spec, "preset:", 7)) {
        const char *name = spec + 7;
        const is_preset *p = is_preset_find(name);
        if (!p) {
            char list[512] = "";
            for (int i = 0; i < is_preset_count(); i++) {
                strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, is_preset_at(i)->name, sizeof list - strlen(list) - 1);
            }
            return is_errf(err, "unknown preset '%s' (known: %s)", name, list);
        }
        is_dtype dt = opts && opts->dtype >= 0 ? (is_dtype)opts->dtype : IS_DTYPE_BF16;
        return is_model_from_config(&p->cfg, spec, dt, opts ? opts->seed : 0, be, out, err);
    }
    size_t len = strlen(spec);
    struct stat st;
    if (len > 5 && !strcmp(spec + len - 5, ".gguf") && stat(spec, &st) == 0 && S_ISREG(st.st_mode))
        return model_load_gguf(spec, opts, be, out, err);
    return load_dir(spec, opts, be, out, err);
}
