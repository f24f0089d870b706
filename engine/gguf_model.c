// gguf_model.c — a GGUF's metadata as a model config and a byte-level BPE
// tokenizer, and the writer's side: the keys llama.cpp reads for both.
//
// Config: the keys of llama.cpp's "llama" and "qwen2" architectures mapped onto
// is_config, checked against the config's limits under their GGUF names, then by
// is_config_validate. Tokenizer: tokenizer.ggml.model "gpt2" as llama.cpp reads it:
// normal tokens in the byte-level alphabet, control (3) and user-defined (4)
// tokens as their raw text (special and plain added tokens), unused (5) ids left
// without a token, merges "left right" ranked by their index, and the
// pre-tokenizer regex named by tokenizer.ggml.pre written as one PCRE2 pattern
// equivalent to the regexes llama.cpp applies for that name (src/llama-vocab.cpp).
#include "engine/gguf.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"                // defines: is_errf, is_xmalloc, is_xcalloc, is_xrealloc
#include "base/strbuf.h"               // defines: is_strbuf, is_sb_putn, is_sb_printf
#include "engine/config.h"             // defines: is_config, is_config_validate, IS_CONFIG_MAX_*
#include "engine/tokenizer_internal.h" // defines: struct is_tokenizer, is_tok_new, is_tok_bl_decode, ...

// ---- the pre-tokenizers ------------------------------------------------------------------
// llama.cpp splits text with one or more regexes in turn (each splitting the
// pieces of the one before; text a regex does not match stays a piece of its own,
// as this tokenizer's "Isolated" splitting does). Each is written here as one
// pattern that cuts text into the same pieces:
//  GPT-2: llama.cpp's regex lacks GPT-2's final "|\s+", which only matches what
//    the other branches leave, a piece either way: GPT-2's own pattern is used.
//  Llama 3, Qwen2: llama.cpp's spelling of the contractions, '[sS] for
//    tokenizer.json's (?i:'s) (which, folding case by Unicode, also takes U+017F
//    LATIN SMALL LETTER LONG S for an s: llama.cpp's does not).
//  SmolLM (StarCoder's): "\p{N}" first (every digit a piece), then GPT-2's regex
//    inside the rest. As one pattern: a digit alone; " ?\p{N}+" cannot match
//    (no digit is left in the pieces); and whitespace before a digit ends its
//    piece, so "(?!\S)" also holds before a digit.
enum { GM_RX_GPT2, GM_RX_LLAMA3, GM_RX_QWEN2, GM_RX_SMOLLM, GM_N_RX };

#define GM_CONTR_LLAMACPP "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define GM_CONTR_HF "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
#define GM_LLAMA3_REST \
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GM_QWEN2_REST \
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GM_GPT2_LLAMACPP "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define GM_SMOLLM "\\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?![^\\s\\p{N}])|\\s+"

// The pattern a file's tokenizer gets for each regex (GPT-2's: the tiktoken encoding's).
static const char *gm_rx_pattern(int rx) {
    switch (rx) {
    case GM_RX_GPT2: return is_tok_encoding_pattern("gpt2");
    case GM_RX_LLAMA3: return GM_CONTR_LLAMACPP GM_LLAMA3_REST;
    case GM_RX_QWEN2: return GM_CONTR_LLAMACPP GM_QWEN2_REST;
    default: return GM_SMOLLM;
    }
}

// Which regex a tokenizer's pattern is, in any spelling it is known by (the
// tiktoken encodings', tokenizer.json's, llama.cpp's); -1 when none.
static int gm_rx_of(const char *pat) {
    const struct {
        int rx;
        const char *pat;
    } spellings[] = {
        {GM_RX_GPT2, GM_GPT2_LLAMACPP},
        {GM_RX_LLAMA3, GM_CONTR_HF GM_LLAMA3_REST},
        {GM_RX_QWEN2, GM_CONTR_HF GM_QWEN2_REST},
        {GM_RX_QWEN2, "('s|'S|'t|'T|'re|'rE|'Re|'RE|'ve|'vE|'Ve|'VE|'m|'M|'ll|'lL|'Ll|'LL|'d|'D)" GM_QWEN2_REST},
    };
    if (!pat) return -1;
    for (int rx = 0; rx < GM_N_RX; rx++)
        if (!strcmp(pat, gm_rx_pattern(rx))) return rx;
    const char *cl100k = is_tok_encoding_pattern("cl100k_base"); // Llama 3's, as tiktoken spells it
    if (cl100k && !strcmp(pat, cl100k)) return GM_RX_LLAMA3;
    for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++)
        if (!strcmp(pat, spellings[i].pat)) return spellings[i].rx;
    return -1;
}

// tokenizer.ggml.pre names (llama.cpp's, those whose only effect here is the
// regex and the two flags), and what llama.cpp sets for each.
typedef struct gm_pre {
    const char *name;
    int rx;
    bool ignore_merges, add_bos;
} gm_pre;

static const gm_pre gm_pres[] = {
    // llama.cpp's "default" (also what a file without tokenizer.ggml.pre gets) cuts
    // punctuation runs and digit triples out first; read here as GPT-2's regex
    {"default", GM_RX_GPT2, false, false},
    {"gpt-2", GM_RX_GPT2, false, false},
    {"phi-2", GM_RX_GPT2, false, false},
    {"mpt", GM_RX_GPT2, false, false},
    {"olmo", GM_RX_GPT2, false, false},
    {"llama-bpe", GM_RX_LLAMA3, true, true},
    {"llama3", GM_RX_LLAMA3, true, true},
    {"llama-v3", GM_RX_LLAMA3, true, true},
    {"dbrx", GM_RX_LLAMA3, false, false},
    {"smaug-bpe", GM_RX_LLAMA3, false, false},
    {"qwen2", GM_RX_QWEN2, false, false},
    {"deepseek-r1-qwen", GM_RX_QWEN2, false, false},
    {"stablelm2", GM_RX_QWEN2, false, false},
    {"smollm", GM_RX_SMOLLM, false, false},
    {"starcoder", GM_RX_SMOLLM, false, false},
    {"refact", GM_RX_SMOLLM, false, false},
};
#define GM_N_PRES ((int)(sizeof gm_pres / sizeof gm_pres[0]))

static const gm_pre *gm_find_pre(const char *s, size_t n) {
    for (int i = 0; i < GM_N_PRES; i++)
        if (strlen(gm_pres[i].name) == n && !memcmp(gm_pres[i].name, s, n)) return &gm_pres[i];
    return NULL;
}

// ---- config: reading ------------------------------------------------------------------------

// An integer key from lo to hi into *out; absent: def, or an error when required.
static int gm_int(const is_gguf *g, const char *key, bool required, int def, int lo, int hi, int *out, is_err *err) {
    uint64_t v;
    int rc = is_gguf_get_u64(g, key, &v, err);
    if (rc < 0) return -1;
    if (rc == 1) {
        if (required)
            return is_errf(err, "%s: metadata '%s' is missing (expected an integer from %d to %d)", g->path, key, lo,
                           hi);
        *out = def;
        return 0;
    }
    if (v < (uint64_t)lo || v > (uint64_t)hi)
        return is_errf(err, "%s: metadata '%s' is %" PRIu64 ", expected an integer from %d to %d", g->path, key, v, lo,
                       hi);
    *out = (int)v;
    return 0;
}

// A finite number key; absent: def, or an error when required.
static int gm_num(const is_gguf *g, const char *key, bool required, double def, double *out, is_err *err) {
    int rc = is_gguf_get_f64(g, key, out, err);
    if (rc < 0) return -1;
    if (rc == 1) {
        if (required) return is_errf(err, "%s: metadata '%s' is missing (expected a number)", g->path, key);
        *out = def;
        return 0;
    }
    if (!isfinite(*out)) return is_errf(err, "%s: metadata '%s' is %g, expected a finite number", g->path, key, *out);
    return 0;
}

static bool gm_str_is(const char *s, size_t n, const char *lit) { return strlen(lit) == n && !memcmp(s, lit, n); }

// {arch}.rope.scaling.*: llama.cpp's default kind is linear, applied when a factor
// other than 0 or 1 is given (rope.scaling.factor, or the older rope.scale_linear).
static int gm_rope_scaling(const is_gguf *g, is_config *cfg, is_err *err) {
    char kt[96], kf[96], ko[96];
    snprintf(kt, sizeof kt, "%s.rope.scaling.type", cfg->model_type);
    snprintf(kf, sizeof kf, "%s.rope.scaling.factor", cfg->model_type);
    snprintf(ko, sizeof ko, "%s.rope.scale_linear", cfg->model_type);
    const char *type = "linear";
    size_t tlen = 6;
    if (is_gguf_get_str(g, kt, &type, &tlen, err) < 0) return -1;
    double factor = 0;
    int rc = gm_num(g, kf, false, 0, &factor, err);
    if (rc == 0 && !is_gguf_find(g, kf)) rc = gm_num(g, ko, false, 0, &factor, err);
    if (rc) return -1;
    cfg->rope_scaling = IS_ROPE_SCALING_NONE;
    if (gm_str_is(type, tlen, "none")) return 0;
    if (!gm_str_is(type, tlen, "linear"))
        return is_errf(err, "%s: metadata '%s' is '%.*s': not supported (expected none or linear; Llama 3's "
                       "frequency scaling is read from the tensor rope_freqs.weight)", g->path, kt,
                       (int)(tlen < 64 ? tlen : 64), type);
    if (factor == 0 || factor == 1) return 0;
    cfg->rope_scaling = IS_ROPE_SCALING_LINEAR;
    cfg->rope_factor = factor;
    return 0;
}

// The vocabulary size: {arch}.vocab_size, else the token list's length, else token_embd's rows.
static int gm_vocab(const is_gguf *g, is_config *cfg, is_err *err) {
    char k[96];
    snprintf(k, sizeof k, "%s.vocab_size", cfg->model_type);
    if (is_gguf_find(g, k)) return gm_int(g, k, true, 0, 1, IS_CONFIG_MAX_VOCAB, &cfg->vocab_size, err);
    const is_gguf_kv *tokens;
    int rc = is_gguf_get_arr(g, "tokenizer.ggml.tokens", IS_GGUF_ARRAY, &tokens, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        if (tokens->n < 1 || tokens->n > IS_CONFIG_MAX_VOCAB)
            return is_errf(err, "%s: metadata 'tokenizer.ggml.tokens' has %" PRIu64 " tokens, expected 1 to %d",
                           g->path, tokens->n, IS_CONFIG_MAX_VOCAB);
        cfg->vocab_size = (int)tokens->n;
        return 0;
    }
    const is_gguf_tensor *emb = is_gguf_find_tensor(g, "token_embd.weight");
    if (emb && emb->n_dims == 2 && emb->ne[1] >= 1 && emb->ne[1] <= IS_CONFIG_MAX_VOCAB) {
        cfg->vocab_size = (int)emb->ne[1];
        return 0;
    }
    return is_errf(err, "%s: cannot tell the vocabulary size: no metadata '%s', no 'tokenizer.ggml.tokens' and no "
                   "2-dimensional tensor 'token_embd.weight' of 1 to %d rows", g->path, k, IS_CONFIG_MAX_VOCAB);
}

// bos, and the end-of-generation ids llama.cpp stops at: eos, eot, eom.
static int gm_special_ids(const is_gguf *g, is_config *cfg, is_err *err) {
    if (gm_int(g, "tokenizer.ggml.bos_token_id", false, -1, 0, INT_MAX - 1, &cfg->bos_token_id, err)) return -1;
    static const char *const eog[] = {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
                                      "tokenizer.ggml.eom_token_id"};
    for (size_t i = 0; i < sizeof eog / sizeof eog[0]; i++) {
        int id = -1;
        if (gm_int(g, eog[i], false, -1, 0, INT_MAX - 1, &id, err)) return -1;
        bool seen = id < 0;
        for (int j = 0; j < cfg->n_eos && !seen; j++) seen = cfg->eos_token_ids[j] == id;
        if (!seen) cfg->eos_token_ids[cfg->n_eos++] = id;
    }
    return 0;
}

// Head sizes: key_length (else D / H); value_length and rope.dimension_count must agree.
static int gm_head_dim(const is_gguf *g, is_config *cfg, is_err *err) {
    char kk[96], kv[96], kr[96];
    const char *a = cfg->model_type;
    snprintf(kk, sizeof kk, "%s.attention.key_length", a);
    snprintf(kv, sizeof kv, "%s.attention.value_length", a);
    snprintf(kr, sizeof kr, "%s.rope.dimension_count", a);
    if (!is_gguf_find(g, kk) && cfg->hidden_size % cfg->n_heads != 0)
        return is_errf(err, "%s: metadata '%s' is absent and %s.embedding_length %d is not divisible by "
                       "%s.attention.head_count %d", g->path, kk, a, cfg->hidden_size, a, cfg->n_heads);
    int v = 0, r = 0;
    if (gm_int(g, kk, false, cfg->hidden_size / cfg->n_heads, 1, 65536, &cfg->head_dim, err) ||
        gm_int(g, kv, false, cfg->head_dim, 1, 65536, &v, err) ||
        gm_int(g, kr, false, cfg->head_dim, 1, 65536, &r, err))
        return -1;
    if (v != cfg->head_dim)
        return is_errf(err, "%s: metadata '%s' is %d but the key length is %d (expected them equal)", g->path, kv, v,
                       cfg->head_dim);
    if (r != cfg->head_dim)
        return is_errf(err, "%s: metadata '%s' is %d: RoPE over part of a head is not supported (expected the head "
                       "size %d)", g->path, kr, r, cfg->head_dim);
    return 0;
}

int is_gguf_config(const is_gguf *g, is_config *cfg, is_err *err) {
    memset(cfg, 0, sizeof *cfg);
    const char *arch;
    size_t alen;
    int rc = is_gguf_get_str(g, "general.architecture", &arch, &alen, err);
    if (rc < 0) return -1;
    if (rc == 1)
        return is_errf(err, "%s: metadata 'general.architecture' is missing (expected llama or qwen2)", g->path);
    if (!gm_str_is(arch, alen, "llama") && !gm_str_is(arch, alen, "qwen2"))
        return is_errf(err, "%s: general.architecture '%.*s' is not supported (expected llama or qwen2)", g->path,
                       (int)(alen < 64 ? alen : 64), arch);
    memcpy(cfg->model_type, arch, alen);
    cfg->model_type[alen] = '\0';
    char k[7][96];
    const char *const suffix[7] = {"embedding_length", "feed_forward_length", "block_count", "attention.head_count",
                                   "attention.head_count_kv", "context_length", "attention.layer_norm_rms_epsilon"};
    for (int i = 0; i < 7; i++) snprintf(k[i], sizeof k[i], "%s.%s", cfg->model_type, suffix[i]);
    double eps = 0, theta = 0;
    char kt[96];
    snprintf(kt, sizeof kt, "%s.rope.freq_base", cfg->model_type);
    if (gm_int(g, k[0], true, 0, 1, IS_CONFIG_MAX_HIDDEN, &cfg->hidden_size, err) ||
        gm_int(g, k[1], true, 0, 1, IS_CONFIG_MAX_FFN, &cfg->intermediate_size, err) ||
        gm_int(g, k[2], true, 0, 1, IS_CONFIG_MAX_LAYERS, &cfg->n_layers, err) ||
        gm_int(g, k[3], true, 0, 1, IS_CONFIG_MAX_HEADS, &cfg->n_heads, err) ||
        gm_int(g, k[4], false, cfg->n_heads, 1, IS_CONFIG_MAX_HEADS, &cfg->n_kv_heads, err) ||
        gm_int(g, k[5], true, 0, 1, IS_CONFIG_MAX_POS, &cfg->max_pos, err) ||
        gm_num(g, k[6], true, 0, &eps, err) || gm_num(g, kt, false, 10000.0, &theta, err) ||
        gm_head_dim(g, cfg, err) || gm_rope_scaling(g, cfg, err) || gm_vocab(g, cfg, err) ||
        gm_special_ids(g, cfg, err))
        return -1;
    cfg->rms_norm_eps = (float)eps;
    cfg->rope_theta = theta;
    // what the tensors say: no output.weight is llama.cpp's tied embeddings
    cfg->tie_word_embeddings = !is_gguf_find_tensor(g, "output.weight");
    cfg->qkv_bias = is_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    cfg->o_bias = is_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL;
    return is_config_validate(cfg, g->path, err);
}

// ---- config: writing -----------------------------------------------------------------------

int is_gguf_put_config(is_gguf_writer *w, const is_config *cfg, const char *name, is_err *err) {
    if (is_config_validate(cfg, "config", err)) return -1;
    const char *a = cfg->model_type;
    if (strcmp(a, "llama") && strcmp(a, "qwen2"))
        return is_errf(err, "config: model_type '%s' has no GGUF architecture here (llama and qwen2 are written)", a);
    char k[96];
#define GM_KEY(s) (snprintf(k, sizeof k, "%s." s, a), k)
    is_gguf_set_str(w, "general.architecture", a);
    if (name && name[0]) is_gguf_set_str(w, "general.name", name);
    is_gguf_set_u32(w, GM_KEY("block_count"), (uint32_t)cfg->n_layers);
    is_gguf_set_u32(w, GM_KEY("context_length"), (uint32_t)cfg->max_pos);
    is_gguf_set_u32(w, GM_KEY("embedding_length"), (uint32_t)cfg->hidden_size);
    is_gguf_set_u32(w, GM_KEY("feed_forward_length"), (uint32_t)cfg->intermediate_size);
    is_gguf_set_u32(w, GM_KEY("attention.head_count"), (uint32_t)cfg->n_heads);
    is_gguf_set_u32(w, GM_KEY("attention.head_count_kv"), (uint32_t)cfg->n_kv_heads);
    is_gguf_set_f32(w, GM_KEY("rope.freq_base"), (float)cfg->rope_theta);
    is_gguf_set_f32(w, GM_KEY("attention.layer_norm_rms_epsilon"), cfg->rms_norm_eps);
    if (cfg->hidden_size % cfg->n_heads != 0 || cfg->head_dim != cfg->hidden_size / cfg->n_heads) {
        is_gguf_set_u32(w, GM_KEY("attention.key_length"), (uint32_t)cfg->head_dim);
        is_gguf_set_u32(w, GM_KEY("attention.value_length"), (uint32_t)cfg->head_dim);
    }
    is_gguf_set_u32(w, GM_KEY("vocab_size"), (uint32_t)cfg->vocab_size);
    if (!strcmp(a, "llama")) is_gguf_set_u32(w, GM_KEY("rope.dimension_count"), (uint32_t)cfg->head_dim);
    // Llama 3's scaling has no key: its factors are the tensor rope_freqs.weight, the caller's
    if (cfg->rope_scaling == IS_ROPE_SCALING_LINEAR) {
        is_gguf_set_str(w, GM_KEY("rope.scaling.type"), "linear");
        is_gguf_set_f32(w, GM_KEY("rope.scaling.factor"), (float)cfg->rope_factor);
    }
#undef GM_KEY
    is_gguf_set_u32(w, "general.quantization_version", 2); // ggml's GGML_QNT_VERSION, as convert writes it
    if (cfg->bos_token_id >= 0) is_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)cfg->bos_token_id);
    // one eos key: the first id (llama.cpp's eot and eom ids, read back as more EOS
    // ids, are not written: which of the others is which is not known here)
    if (cfg->n_eos > 0) is_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)cfg->eos_token_ids[0]);
    return 0;
}

// ---- tokenizer: reading --------------------------------------------------------------------

// Scratch for decoding byte-level strings: a NUL-terminated copy and the bytes.
typedef struct gm_scratch {
    char *s;
    unsigned char *b;
    size_t cap;
} gm_scratch;

static void gm_reserve(gm_scratch *x, size_t n) {
    if (n + 1 <= x->cap) return;
    x->cap = n + 64;
    x->s = is_xrealloc(x->s, x->cap);
    x->b = is_xrealloc(x->b, x->cap);
}

// The tokens: byte-level model tokens, added tokens (control: special), unused ids skipped.
static int gm_tokens(const is_gguf *g, is_tokenizer *t, const is_gguf_kv *tokens, const is_gguf_kv *types,
                     gm_scratch *x, is_err *err) {
    is_tok_bmap_init(&t->vocab, (size_t)tokens->n);
    for (uint64_t i = 0; i < tokens->n; i++) {
        size_t len;
        const char *s = is_gguf_arr_str(tokens, i, &len);
        int64_t type = types ? is_gguf_arr_int(types, i) : 1;
        int32_t id = (int32_t)i;
        int show = (int)(len < 100 ? len : 100);
        switch (type) {
        case 5: continue; // unused: no token
        case 3: case 4: // matched in the raw text, as llama.cpp matches them
            if (len == 0)
                return is_errf(err, "%s: tokenizer.ggml.tokens[%d] is empty (a %s token needs its text)", g->path, id,
                               type == 3 ? "control" : "user-defined");
            if (is_tok_add_added(t, s, len, id, type == 3, false, err) < 0) return -1;
            continue;
        case 0: case 1: case 2: case 6: break; // undefined, normal, unknown, byte: a model token
        default:
            return is_errf(err, "%s: tokenizer.ggml.token_type[%d] is %" PRId64 ", expected 1 to 6", g->path, id,
                           type);
        }
        gm_reserve(x, len);
        memcpy(x->s, s, len);
        x->s[len] = '\0';
        long bl = memchr(s, 0, len) ? -1 : is_tok_bl_decode(x->s, x->b);
        if (bl <= 0)
            return is_errf(err, "%s: tokenizer.ggml.tokens[%d] '%.*s' is not a string of the byte-level alphabet",
                           g->path, id, show, s);
        is_tok_table_grow(t, id + 1);
        uint32_t off = is_tok_arena_add(t, x->b, (size_t)bl);
        int32_t prev = is_tok_bmap_put(t, &t->vocab, off, (uint32_t)bl, id);
        if (prev >= 0)
            return is_errf(err, "%s: tokenizer.ggml.tokens[%d] '%.*s' is also token %d", g->path, id, show, s, prev);
        t->tok_off[id] = off;
        t->tok_len[id] = (int32_t)bl;
    }
    is_tok_table_grow(t, (int)tokens->n); // trailing unused ids are ids still
    return 0;
}

// The merges "left right" (split at the first space after the first byte, as
// llama.cpp does), ranked by their index; both sides and the merge must be tokens.
static int gm_merges(const is_gguf *g, is_tokenizer *t, const is_gguf_kv *merges, gm_scratch *x, is_err *err) {
    is_tok_pmap_init(&t->pairs, (size_t)merges->n);
    t->merge_l = is_xmalloc(sizeof(int32_t) * (size_t)(merges->n + 1));
    t->merge_r = is_xmalloc(sizeof(int32_t) * (size_t)(merges->n + 1));
    for (uint64_t i = 0; i < merges->n; i++) {
        size_t len;
        const char *s = is_gguf_arr_str(merges, i, &len);
        int show = (int)(len < 100 ? len : 100);
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || memchr(s, 0, len))
            return is_errf(err, "%s: tokenizer.ggml.merges[%" PRIu64 "] '%.*s' is not 'left right'", g->path, i, show,
                           s);
        size_t ll = (size_t)(sp - s);
        gm_reserve(x, len);
        memcpy(x->s, s, len);
        x->s[ll] = '\0';
        x->s[len] = '\0';
        long la = is_tok_bl_decode(x->s, x->b);
        long lb = la > 0 ? is_tok_bl_decode(x->s + ll + 1, x->b + la) : -1;
        int32_t ia = la > 0 ? is_tok_bmap_get(t, &t->vocab, x->b, (size_t)la) : -1;
        int32_t ib = lb > 0 ? is_tok_bmap_get(t, &t->vocab, x->b + la, (size_t)lb) : -1;
        int32_t im = ia >= 0 && ib >= 0 ? is_tok_bmap_get(t, &t->vocab, x->b, (size_t)(la + lb)) : -1;
        if (ia < 0 || ib < 0 || im < 0)
            return is_errf(err, "%s: tokenizer.ggml.merges[%" PRIu64 "] '%.*s': %s is not a token of the vocabulary",
                           g->path, i, show, s, ia < 0 ? "the left side" : ib < 0 ? "the right side" : "the merge");
        if (is_tok_pmap_put(&t->pairs, ia, ib, (int32_t)i, im)) { // a pair given again keeps its first rank
            t->merge_l[t->n_merges] = ia;
            t->merge_r[t->n_merges] = ib;
            t->n_merges++;
        }
    }
    return 0;
}

// Whether BOS is added (tokenizer.ggml.add_bos_token, else the pre-tokenizer's
// default in llama.cpp), and which id.
static int gm_bos(const is_gguf *g, is_tokenizer *t, const gm_pre *pre, is_err *err) {
    bool add = pre->add_bos;
    if (is_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &add, err) < 0) return -1;
    if (!add) return 0;
    uint64_t id;
    int rc = is_gguf_get_u64(g, "tokenizer.ggml.bos_token_id", &id, err);
    if (rc < 0) return -1;
    if (rc == 1)
        return is_errf(err, "%s: BOS is to be added (tokenizer.ggml.add_bos_token, or the default of pre-tokenizer "
                       "'%s') but metadata 'tokenizer.ggml.bos_token_id' is missing", g->path, pre->name);
    if (id >= (uint64_t)t->vocab_size || t->tok_len[id] < 0)
        return is_errf(err, "%s: metadata 'tokenizer.ggml.bos_token_id' is %" PRIu64 ", not a token (%d ids)", g->path,
                       id, t->vocab_size);
    t->bos = (int)id;
    return 0;
}

// The file's tokenizer kind and pre-tokenizer, refused by name when not ours.
static int gm_kind(const is_gguf *g, const gm_pre **pre, is_err *err) {
    const char *m;
    size_t mlen;
    int rc = is_gguf_get_str(g, "tokenizer.ggml.model", &m, &mlen, err);
    if (rc < 0) return -1;
    if (rc == 1)
        return is_errf(err, "%s: metadata 'tokenizer.ggml.model' is missing: the file has no tokenizer", g->path);
    int show = (int)(mlen < 64 ? mlen : 64);
    if (gm_str_is(m, mlen, "llama"))
        return is_errf(err, "%s: tokenizer.ggml.model 'llama' (SentencePiece) is not supported: inferscope's tokenizer "
                       "is byte-level BPE (tokenizer.ggml.model 'gpt2')", g->path);
    if (!gm_str_is(m, mlen, "gpt2"))
        return is_errf(err, "%s: tokenizer.ggml.model '%.*s' is not supported (expected 'gpt2': byte-level BPE)",
                       g->path, show, m);
    const char *p = "default";
    size_t plen = 7;
    if (is_gguf_get_str(g, "tokenizer.ggml.pre", &p, &plen, err) < 0) return -1;
    if ((*pre = gm_find_pre(p, plen))) return 0;
    is_strbuf known = {0};
    for (int i = 0; i < GM_N_PRES; i++) is_sb_printf(&known, "%s%s", i ? ", " : "", gm_pres[i].name);
    rc = is_errf(err, "%s: tokenizer.ggml.pre '%.*s' is not a pre-tokenizer this reader knows (known: %s)", g->path,
                 (int)(plen < 64 ? plen : 64), p, known.p);
    free(known.p);
    return rc;
}

int is_gguf_tokenizer(const is_gguf *g, struct is_tokenizer **out, is_err *err) {
    *out = NULL;
    const gm_pre *pre;
    const is_gguf_kv *tokens, *types = NULL, *merges;
    if (gm_kind(g, &pre, err)) return -1;
    int rc = is_gguf_get_arr(g, "tokenizer.ggml.tokens", IS_GGUF_STRING, &tokens, err);
    if (rc == 1) return is_errf(err, "%s: metadata 'tokenizer.ggml.tokens' is missing", g->path);
    if (rc < 0) return -1;
    if (tokens->n < 1 || tokens->n > IS_TOK_MAX_ID)
        return is_errf(err, "%s: metadata 'tokenizer.ggml.tokens' has %" PRIu64 " tokens, expected 1 to %d (the limit "
                       "IS_TOK_MAX_ID = 2^22)", g->path, tokens->n, IS_TOK_MAX_ID);
    if ((rc = is_gguf_get_arr(g, "tokenizer.ggml.token_type", IS_GGUF_I32, &types, err)) < 0) return -1;
    if (rc == 1) types = NULL;
    else if (types->n != tokens->n)
        return is_errf(err, "%s: metadata 'tokenizer.ggml.token_type' has %" PRIu64 " entries for %" PRIu64 " tokens "
                       "(expected one per token)", g->path, types->n, tokens->n);
    rc = is_gguf_get_arr(g, "tokenizer.ggml.merges", IS_GGUF_STRING, &merges, err);
    if (rc == 1) return is_errf(err, "%s: metadata 'tokenizer.ggml.merges' is missing (a gpt2 tokenizer needs them)",
                                g->path);
    if (rc < 0) return -1;
    if (merges->n > IS_TOK_MAX_MERGES)
        return is_errf(err, "%s: metadata 'tokenizer.ggml.merges' has %" PRIu64 " merges, more than the limit of %d "
                       "(IS_TOK_MAX_MERGES = 2^21)", g->path, merges->n, IS_TOK_MAX_MERGES);
    is_tokenizer *t = is_tok_new(IS_TOK_HF, g->path);
    gm_scratch x = {0};
    t->ignore_merges = pre->ignore_merges;
    t->bl_regex = pre->rx == GM_RX_GPT2; // a ByteLevel pre-tokenizer's own regex, for is_tok_save_hf
    rc = gm_tokens(g, t, tokens, types, &x, err) || gm_merges(g, t, merges, &x, err) || gm_bos(g, t, pre, err) ||
                 is_tok_compile_pattern(t, gm_rx_pattern(pre->rx), t->src, err) || is_tok_finish(t, err)
             ? -1
             : 0;
    free(x.s);
    free(x.b);
    if (rc) {
        is_tok_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

// ---- tokenizer: writing --------------------------------------------------------------------

static bool gm_model_token(const is_tokenizer *t, int32_t id) {
    return t->tok_len[id] > 0 && is_tok_bmap_get(t, &t->vocab, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]) == id;
}

// The merges: a Hugging Face tokenizer's own, or, for a tiktoken one, derived from
// the ranks as is_tok_save_hf does (token id's bytes, merged with the ranks below
// id, end as two parts: those are its merge). *own: the arrays are malloc'd here.
// The id merging l and r gives: the pair table's (tokenizer.json), else the id of the
// two tokens' bytes together (a rank file's merges are derived from its tokens).
static int32_t gm_merged_id(const is_tokenizer *t, int32_t l, int32_t r) {
    if (t->mode != IS_TOK_TIKTOKEN) {
        const is_tok_pslot *p = is_tok_pmap_get(&t->pairs, l, r);
        return p ? p->merged : INT32_MAX;
    }
    size_t nl = (size_t)t->tok_len[l], nr = (size_t)t->tok_len[r];
    unsigned char *b = is_xmalloc(nl + nr);
    memcpy(b, t->bytes + t->tok_off[l], nl);
    memcpy(b + nl, t->bytes + t->tok_off[r], nr);
    int32_t id = is_tok_bmap_get(t, &t->vocab, b, nl + nr);
    free(b);
    return id >= 0 ? id : INT32_MAX;
}

static int gm_derive_merges(const is_tokenizer *t, int32_t **ml, int32_t **mr, bool *own) {
    *own = false;
    if (t->mode != IS_TOK_TIKTOKEN) {
        *ml = t->merge_l;
        *mr = t->merge_r;
        return t->n_merges;
    }
    is_tokenizer s = *t; // private scratch for is_tok_bpe
    s.s_nxt = s.s_prv = s.s_tok = NULL;
    s.s_alive = NULL;
    s.s_heap = NULL;
    s.s_cap = s.s_heapcap = 0;
    *ml = is_xmalloc(sizeof(int32_t) * (size_t)(t->vocab_size + 1));
    *mr = is_xmalloc(sizeof(int32_t) * (size_t)(t->vocab_size + 1));
    *own = true;
    int n = 0;
    for (int32_t id = 0; id < t->vocab_size; id++) {
        if (t->tok_len[id] < 2 || !gm_model_token(t, id)) continue;
        if (is_tok_bpe(&s, t->bytes + t->tok_off[id], t->tok_len[id], id, NULL) < 0) continue;
        int second = s.s_nxt[0];
        if (second >= t->tok_len[id] || s.s_nxt[second] != t->tok_len[id]) continue; // not two parts
        (*ml)[n] = s.s_tok[0];
        (*mr)[n] = s.s_tok[second];
        n++;
    }
    free(s.s_nxt);
    free(s.s_prv);
    free(s.s_tok);
    free(s.s_alive);
    free(s.s_heap);
    return n;
}

// The pre-tokenizer name llama.cpp gives the tokenizer's regex (and merge rule).
static const char *gm_pre_name(const is_tokenizer *t) {
    switch (gm_rx_of(t->pattern)) {
    case GM_RX_GPT2: return "gpt-2";
    case GM_RX_LLAMA3: return t->ignore_merges ? "llama-bpe" : "smaug-bpe"; // the same regex, merges always used
    case GM_RX_QWEN2: return "qwen2";
    case GM_RX_SMOLLM: return "smollm";
    }
    return NULL;
}

// tokenizer.ggml.tokens and token_type for ids 0..n-1.
static void gm_put_tokens(is_gguf_writer *w, const is_tokenizer *t, int n) {
    int *added = is_xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) added[i] = -1;
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].id < n) added[t->added[i].id] = i; // a token past the model's vocabulary is left out
    is_strbuf text = {0};
    size_t *off = is_xmalloc(sizeof(size_t) * (size_t)n), *len = is_xmalloc(sizeof(size_t) * (size_t)n);
    int32_t *type = is_xmalloc(sizeof(int32_t) * (size_t)n);
    for (int id = 0; id < n; id++) {
        off[id] = text.n;
        if (added[id] >= 0) { // raw text, as llama.cpp's converter writes added tokens
            const is_tok_added *a = &t->added[added[id]];
            is_sb_putn(&text, (const char *)t->bytes + a->off, a->len);
            type[id] = a->special ? 3 : 4;
        } else if (id < t->vocab_size && gm_model_token(t, id)) {
            is_tok_bl_encode(&text, t->bytes + t->tok_off[id], (size_t)t->tok_len[id]);
            type[id] = 1;
        } else { // an id without a token, as the converter pads the vocabulary
            is_sb_printf(&text, "[PAD%d]", id);
            type[id] = 5;
        }
        len[id] = text.n - off[id];
    }
    const char **ptr = is_xmalloc(sizeof(char *) * (size_t)n);
    for (int id = 0; id < n; id++) ptr[id] = text.p + off[id];
    is_gguf_set_arr_str(w, "tokenizer.ggml.tokens", ptr, len, (uint64_t)n);
    is_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    free(ptr);
    free(type);
    free(len);
    free(off);
    free(text.p);
    free(added);
}

// The merges whose parts and result are all ids below n_ids (the tokens written).
static void gm_put_merges(is_gguf_writer *w, const is_tokenizer *t, int n_ids) {
    int32_t *ml, *mr;
    bool own;
    int n_all = gm_derive_merges(t, &ml, &mr, &own), n = 0;
    is_strbuf text = {0};
    size_t *off = is_xmalloc(sizeof(size_t) * (size_t)(n_all + 1)), *len = is_xmalloc(sizeof(size_t) * (size_t)(n_all + 1));
    for (int i = 0; i < n_all; i++) { // byte-level strings hold no space: "left right" splits back
        if (ml[i] >= n_ids || mr[i] >= n_ids || gm_merged_id(t, ml[i], mr[i]) >= n_ids) continue;
        off[n] = text.n;
        is_tok_bl_encode(&text, t->bytes + t->tok_off[ml[i]], (size_t)t->tok_len[ml[i]]);
        is_sb_putn(&text, " ", 1);
        is_tok_bl_encode(&text, t->bytes + t->tok_off[mr[i]], (size_t)t->tok_len[mr[i]]);
        len[n] = text.n - off[n];
        n++;
    }
    const char **ptr = is_xmalloc(sizeof(char *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) ptr[i] = text.p + off[i];
    is_gguf_set_arr_str(w, "tokenizer.ggml.merges", ptr, len, (uint64_t)n);
    free(ptr);
    free(len);
    free(off);
    free(text.p);
    if (own) {
        free(ml);
        free(mr);
    }
}

int is_gguf_put_tokenizer(is_gguf_writer *w, const struct is_tokenizer *t, const is_config *cfg, is_err *err) {
    if (t->n_norm > 0)
        return is_errf(err, "%s: the tokenizer has a normalizer, which a GGUF gpt2 tokenizer cannot hold", t->src);
    if (t->add_prefix_space)
        return is_errf(err, "%s: the tokenizer adds a prefix space, which a GGUF gpt2 tokenizer cannot hold", t->src);
    const char *pre = gm_pre_name(t);
    if (!pre)
        return is_errf(err, "%s: the pre-tokenizer regex '%.300s' has no llama.cpp name here (known: GPT-2's as "
                       "gpt-2, Llama 3's as llama-bpe, Qwen2's as qwen2, SmolLM's as smollm)", t->src,
                       t->pattern ? t->pattern : "(none)");
    // llama.cpp takes the vocabulary's size from the token list, and refuses a file
    // whose token_embd has another: the list has the model's size, padded with
    // unused tokens, or cut (a preset with the built-in GPT-2 vocabulary: ids past
    // the model's cannot be fed to it anyway) with every merge that names a cut id.
    int n = cfg ? cfg->vocab_size : t->vocab_size;
    int bos = t->bos >= 0 ? t->bos : cfg ? cfg->bos_token_id : -1;
    int eos = cfg && cfg->n_eos > 0 ? cfg->eos_token_ids[0] : -1;
    if (bos >= n || eos >= n)
        return is_errf(err, "%s: %s id %d is outside the %d ids", t->src, bos >= n ? "BOS" : "EOS",
                       bos >= n ? bos : eos, n);
    is_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    is_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    gm_put_tokens(w, t, n);
    gm_put_merges(w, t, n);
    if (bos >= 0) is_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos);
    if (eos >= 0) is_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos);
    is_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", t->bos >= 0);
    return 0;
}
