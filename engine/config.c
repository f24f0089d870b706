// config.c — model hyper-parameters from a Hugging Face config.json, and back.
//
// Reading follows transformers' LlamaConfig / Qwen2Config: the same defaults for
// absent fields, null read as absent. Every error names the source, the field and
// what was expected.
#include "engine/config.h"
#include "base/fileio.h" // defines: is_read_file
#include "kernels/backend.h" // defines: IS_MAX_HEAD_DIM

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IS_CONFIG_MAX_BYTES ((size_t)16 << 20)

// transformers' LlamaConfig, Qwen2Config and MistralConfig all default to 1e-6.
#define IS_CONFIG_DEFAULT_RMS_NORM_EPS 1e-6
#define IS_CONFIG_DEFAULT_ROPE_THETA 10000.0

// ---- reading JSON values -----------------------------------------------------

// A short description of a JSON value for the "got ..." part of messages.
static const char *json_describe(const cJSON *v, char *buf, size_t n) {
    if (!v) return "nothing";
    if (cJSON_IsNull(v)) return "null";
    if (cJSON_IsTrue(v)) return "true";
    if (cJSON_IsFalse(v)) return "false";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%.15g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) {
        bool long_str = strlen(v->valuestring) > 40;
        snprintf(buf, n, "\"%.40s%s\"", v->valuestring, long_str ? "..." : "");
        return buf;
    }
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    return "an unknown value";
}

// The member key of obj, or NULL when absent or null (null reads as absent).
static const cJSON *json_field(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return (v && !cJSON_IsNull(v)) ? v : NULL;
}

// True when v is an integral number in [lo, hi]; stores it in *out.
static bool json_int_in(const cJSON *v, long long lo, long long hi, long long *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= (double)lo && d <= (double)hi) || d != floor(d)) return false;
    *out = (long long)d;
    return true;
}

// Context of one parse: the file name for messages and the error sink.
typedef struct cfg_reader {
    const char *src;
    is_err *err;
} cfg_reader;

// Integer field with a lower bound (1: a size, 0: a token id). Absent fields
// take def, or fail when required.
static int read_int(const cfg_reader *r, const cJSON *obj, const char *key, const char *name,
                    int lo, bool required, int def, int *out) {
    const cJSON *v = json_field(obj, key);
    const char *what = lo > 0 ? "a positive integer" : "a non-negative integer";
    if (!v) {
        if (required)
            return is_errf(r->err, "%s: required field \"%s\" is missing (expected %s)", r->src,
                           name, what);
        *out = def;
        return 0;
    }
    long long x;
    if (!json_int_in(v, lo, INT_MAX, &x)) {
        char buf[96];
        return is_errf(r->err, "%s: field \"%s\" must be %s, got %s", r->src, name, what,
                       json_describe(v, buf, sizeof buf));
    }
    *out = (int)x;
    return 0;
}

// Finite number field; absent fields take def, or fail when required.
static int read_double(const cfg_reader *r, const cJSON *obj, const char *key, const char *name,
                       bool required, double def, double *out) {
    const cJSON *v = json_field(obj, key);
    if (!v) {
        if (required)
            return is_errf(r->err, "%s: required field \"%s\" is missing (expected a number)",
                           r->src, name);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        char buf[96];
        return is_errf(r->err, "%s: field \"%s\" must be a finite number, got %s", r->src, name,
                       json_describe(v, buf, sizeof buf));
    }
    *out = v->valuedouble;
    return 0;
}

static int read_bool(const cfg_reader *r, const cJSON *obj, const char *key, bool def, bool *out) {
    const cJSON *v = json_field(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        char buf[96];
        return is_errf(r->err, "%s: field \"%s\" must be true or false, got %s", r->src, key,
                       json_describe(v, buf, sizeof buf));
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

// Python's json keeps the last of repeated keys, cJSON finds the first: refuse
// repeats of the fields we read rather than disagree with transformers.
static int check_unique_keys(const cfg_reader *r, const cJSON *obj) {
    static const char *const read_keys[] = {
        "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "head_dim", "vocab_size",
        "max_position_embeddings", "rms_norm_eps", "rope_theta", "rope_scaling",
        "tie_word_embeddings", "attention_bias", "mlp_bias", "hidden_act", "bos_token_id",
        "eos_token_id",
    };
    for (size_t k = 0; k < sizeof read_keys / sizeof read_keys[0]; k++) {
        int n = 0;
        for (const cJSON *a = obj->child; a; a = a->next)
            if (a->string && !strcmp(a->string, read_keys[k]) && ++n > 1)
                return is_errf(r->err, "%s: field \"%s\" appears more than once", r->src,
                               read_keys[k]);
    }
    return 0;
}

// ---- the fields ----------------------------------------------------------------

static int parse_model_type(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    const cJSON *v = json_field(root, "model_type");
    if (!v) {
        snprintf(cfg->model_type, sizeof cfg->model_type, "llama");
        return 0;
    }
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (n == 0 || n >= sizeof cfg->model_type) {
        char buf[96];
        return is_errf(r->err, "%s: field \"model_type\" must be a non-empty string of at most %zu "
                       "characters, got %s", r->src, sizeof cfg->model_type - 1,
                       json_describe(v, buf, sizeof buf));
    }
    memcpy(cfg->model_type, v->valuestring, n + 1);
    return 0;
}

static int parse_sizes(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    if (read_int(r, root, "hidden_size", "hidden_size", 1, true, 0, &cfg->hidden_size) ||
        read_int(r, root, "intermediate_size", "intermediate_size", 1, true, 0,
                 &cfg->intermediate_size) ||
        read_int(r, root, "num_hidden_layers", "num_hidden_layers", 1, true, 0, &cfg->n_layers) ||
        read_int(r, root, "num_attention_heads", "num_attention_heads", 1, true, 0, &cfg->n_heads) ||
        read_int(r, root, "num_key_value_heads", "num_key_value_heads", 1, false, cfg->n_heads,
                 &cfg->n_kv_heads) ||
        read_int(r, root, "vocab_size", "vocab_size", 1, true, 0, &cfg->vocab_size) ||
        read_int(r, root, "max_position_embeddings", "max_position_embeddings", 1, true, 0,
                 &cfg->max_pos))
        return -1;
    if (json_field(root, "head_dim"))
        return read_int(r, root, "head_dim", "head_dim", 1, true, 0, &cfg->head_dim);
    if (cfg->hidden_size % cfg->n_heads != 0)
        return is_errf(r->err, "%s: field \"head_dim\" is absent and hidden_size %d is not divisible "
                       "by num_attention_heads %d", r->src, cfg->hidden_size, cfg->n_heads);
    cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    return 0;
}

static int parse_rope_scaling(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    // NONE and LINEAR leave the factors they do not use at zero
    cfg->rope_scaling = IS_ROPE_SCALING_NONE;
    const cJSON *rs = json_field(root, "rope_scaling");
    if (!rs) return 0;
    char buf[96];
    if (!cJSON_IsObject(rs))
        return is_errf(r->err, "%s: field \"rope_scaling\" must be an object or null, got %s", r->src,
                       json_describe(rs, buf, sizeof buf));
    const cJSON *type = json_field(rs, "rope_type");
    const char *type_key = "rope_scaling.rope_type";
    if (!type) {
        type = json_field(rs, "type"); // the spelling before transformers 4.43
        type_key = "rope_scaling.type";
    }
    if (!type)
        return is_errf(r->err, "%s: field \"rope_scaling.rope_type\" is missing (expected one of "
                       "\"default\", \"llama3\", \"linear\")", r->src);
    if (!cJSON_IsString(type))
        return is_errf(r->err, "%s: field \"%s\" must be a string, got %s", r->src, type_key,
                       json_describe(type, buf, sizeof buf));
    const char *t = type->valuestring;
    if (!strcmp(t, "default")) return 0;
    if (!strcmp(t, "linear")) {
        cfg->rope_scaling = IS_ROPE_SCALING_LINEAR;
        return read_double(r, rs, "factor", "rope_scaling.factor", true, 0, &cfg->rope_factor);
    }
    if (!strcmp(t, "llama3")) {
        cfg->rope_scaling = IS_ROPE_SCALING_LLAMA3;
        return read_double(r, rs, "factor", "rope_scaling.factor", true, 0, &cfg->rope_factor) ||
                       read_double(r, rs, "low_freq_factor", "rope_scaling.low_freq_factor", true, 0,
                                   &cfg->rope_low_freq_factor) ||
                       read_double(r, rs, "high_freq_factor", "rope_scaling.high_freq_factor", true,
                                   0, &cfg->rope_high_freq_factor) ||
                       read_int(r, rs, "original_max_position_embeddings",
                                "rope_scaling.original_max_position_embeddings", 1, true, 0,
                                &cfg->rope_orig_max_pos)
                   ? -1
                   : 0;
    }
    return is_errf(r->err, "%s: field \"%s\": rope scaling type \"%.40s\" is not supported "
                   "(supported: \"default\", \"llama3\", \"linear\")", r->src, type_key, t);
}

// attention_bias, mlp_bias and the Qwen2 rule: q/k/v always biased, o never.
static int parse_biases(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    bool attention_bias = false, mlp_bias = false;
    if (read_bool(r, root, "attention_bias", false, &attention_bias) ||
        read_bool(r, root, "mlp_bias", false, &mlp_bias))
        return -1;
    if (mlp_bias)
        return is_errf(r->err, "%s: field \"mlp_bias\": true is not supported (the MLP projections "
                       "must have no bias)", r->src);
    if (!strcmp(cfg->model_type, "qwen2")) {
        cfg->qkv_bias = true;
        cfg->o_bias = false;
    } else {
        cfg->qkv_bias = attention_bias;
        cfg->o_bias = attention_bias;
    }
    return 0;
}

static int parse_hidden_act(const cfg_reader *r, const cJSON *root) {
    const cJSON *v = json_field(root, "hidden_act");
    if (!v || (cJSON_IsString(v) && !strcmp(v->valuestring, "silu"))) return 0;
    char buf[96];
    return is_errf(r->err, "%s: field \"hidden_act\" must be \"silu\" (the only activation "
                   "supported), got %s", r->src, json_describe(v, buf, sizeof buf));
}

// bos_token_id: an id or null; eos_token_id: an id, a list of ids, or null.
static int parse_special_tokens(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    if (read_int(r, root, "bos_token_id", "bos_token_id", 0, false, -1, &cfg->bos_token_id))
        return -1;
    cfg->n_eos = 0;
    const cJSON *eos = json_field(root, "eos_token_id");
    if (!eos) return 0;
    if (!cJSON_IsArray(eos)) {
        if (read_int(r, root, "eos_token_id", "eos_token_id", 0, true, 0, &cfg->eos_token_ids[0]))
            return -1;
        cfg->n_eos = 1;
        return 0;
    }
    int n = cJSON_GetArraySize(eos);
    if (n > IS_MAX_EOS)
        return is_errf(r->err, "%s: field \"eos_token_id\" lists %d ids, at most %d are supported",
                       r->src, n, IS_MAX_EOS);
    const cJSON *it;
    cJSON_ArrayForEach(it, eos) {
        long long x;
        if (!json_int_in(it, 0, INT_MAX, &x)) {
            char buf[96];
            return is_errf(r->err, "%s: field \"eos_token_id\"[%d] must be a non-negative integer, "
                           "got %s", r->src, cfg->n_eos, json_describe(it, buf, sizeof buf));
        }
        cfg->eos_token_ids[cfg->n_eos++] = (int)x;
    }
    return 0;
}

static int parse_root(const cfg_reader *r, const cJSON *root, is_config *cfg) {
    double eps = 0;
    if (check_unique_keys(r, root) || parse_model_type(r, root, cfg) || parse_sizes(r, root, cfg) ||
        read_double(r, root, "rms_norm_eps", "rms_norm_eps", false, IS_CONFIG_DEFAULT_RMS_NORM_EPS,
                    &eps) ||
        read_double(r, root, "rope_theta", "rope_theta", false, IS_CONFIG_DEFAULT_ROPE_THETA,
                    &cfg->rope_theta) ||
        parse_rope_scaling(r, root, cfg) ||
        read_bool(r, root, "tie_word_embeddings", false, &cfg->tie_word_embeddings) ||
        parse_biases(r, root, cfg) || parse_hidden_act(r, root) ||
        parse_special_tokens(r, root, cfg))
        return -1;
    cfg->rms_norm_eps = (float)eps;
    return 0;
}

// ---- public: parse, load, validate -------------------------------------------------

int is_config_parse(const char *text, size_t len, const char *source, is_config *cfg, is_err *err) {
    cfg_reader r = {source ? source : "config.json", err};
    memset(cfg, 0, sizeof *cfg);
    // a NUL-terminated copy: the parser never reads past the text
    char *buf = is_xmalloc(len + 1);
    memcpy(buf, text, len);
    buf[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    int rc = -1;
    if (!root) {
        size_t at = end ? (size_t)(end - buf) : 0;
        is_errf(err, "%s: not valid JSON (error near byte %zu)", r.src, at);
        goto done;
    }
    for (const char *p = end; p < buf + len; p++)
        if (!strchr(" \t\r\n", *p)) {
            is_errf(err, "%s: not valid JSON (unexpected data after the top-level value at byte %zu)",
                    r.src, (size_t)(p - buf));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        is_errf(err, "%s: expected a JSON object at the top level", r.src);
        goto done;
    }
    if (parse_root(&r, root, cfg) == 0) rc = is_config_validate(cfg, r.src, err);
done:
    cJSON_Delete(root);
    free(buf);
    return rc;
}

int is_config_load(const char *path, is_config *cfg, is_err *err) {
    char *text = NULL;
    size_t len = 0;
    memset(cfg, 0, sizeof *cfg);
    if (is_read_file(path, IS_CONFIG_MAX_BYTES, &text, &len, err)) return -1;
    int rc = is_config_parse(text, len, path, cfg, err);
    free(text);
    return rc;
}

static int validate_rope(const is_config *c, const char *src, is_err *err) {
    switch (c->rope_scaling) {
    case IS_ROPE_SCALING_NONE: return 0;
    case IS_ROPE_SCALING_LINEAR:
        if (!(c->rope_factor > 0) || !isfinite(c->rope_factor))
            return is_errf(err, "%s: field \"rope_scaling.factor\" must be > 0, got %g", src,
                           c->rope_factor);
        return 0;
    case IS_ROPE_SCALING_LLAMA3:
        if (!(c->rope_factor > 0) || !isfinite(c->rope_factor))
            return is_errf(err, "%s: field \"rope_scaling.factor\" must be > 0, got %g", src,
                           c->rope_factor);
        if (!(c->rope_low_freq_factor > 0) || !isfinite(c->rope_low_freq_factor))
            return is_errf(err, "%s: field \"rope_scaling.low_freq_factor\" must be > 0, got %g", src,
                           c->rope_low_freq_factor);
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor) ||
            !isfinite(c->rope_high_freq_factor))
            return is_errf(err, "%s: field \"rope_scaling.high_freq_factor\" must be greater than "
                           "low_freq_factor %g, got %g", src, c->rope_low_freq_factor,
                           c->rope_high_freq_factor);
        if (c->rope_orig_max_pos <= 0)
            return is_errf(err, "%s: field \"rope_scaling.original_max_position_embeddings\" must be "
                           "a positive integer, got %d", src, c->rope_orig_max_pos);
        return 0;
    }
    return is_errf(err, "%s: field \"rope_scaling\": unknown scaling kind %d", src, (int)c->rope_scaling);
}

static int validate_tokens(const is_config *c, const char *src, is_err *err) {
    if (c->bos_token_id < -1 || c->bos_token_id >= c->vocab_size)
        return is_errf(err, "%s: field \"bos_token_id\" %d is outside the vocabulary (vocab_size %d)",
                       src, c->bos_token_id, c->vocab_size);
    if (c->n_eos < 0 || c->n_eos > IS_MAX_EOS)
        return is_errf(err, "%s: field \"eos_token_id\": %d ids, expected 0 to %d", src, c->n_eos,
                       IS_MAX_EOS);
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] < 0 || c->eos_token_ids[i] >= c->vocab_size)
            return is_errf(err, "%s: field \"eos_token_id\" %d is outside the vocabulary "
                           "(vocab_size %d)", src, c->eos_token_ids[i], c->vocab_size);
    return 0;
}

int is_config_validate(const is_config *c, const char *source, is_err *err) {
    const char *src = source ? source : "config.json";
    if (!memchr(c->model_type, '\0', sizeof c->model_type) || !c->model_type[0])
        return is_errf(err, "%s: field \"model_type\" must be a non-empty string", src);
    const struct { const char *name; int v, max; } sizes[] = {
        {"hidden_size", c->hidden_size, IS_CONFIG_MAX_HIDDEN},
        {"intermediate_size", c->intermediate_size, IS_CONFIG_MAX_FFN},
        {"num_hidden_layers", c->n_layers, IS_CONFIG_MAX_LAYERS},
        {"num_attention_heads", c->n_heads, IS_CONFIG_MAX_HEADS},
        {"num_key_value_heads", c->n_kv_heads, IS_CONFIG_MAX_HEADS},
        {"head_dim", c->head_dim, INT_MAX}, // bounded below, with the kernels' reason
        {"vocab_size", c->vocab_size, IS_CONFIG_MAX_VOCAB},
        {"max_position_embeddings", c->max_pos, IS_CONFIG_MAX_POS},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        if (sizes[i].v <= 0)
            return is_errf(err, "%s: field \"%s\" must be a positive integer, got %d", src,
                           sizes[i].name, sizes[i].v);
        if (sizes[i].v > sizes[i].max)
            return is_errf(err, "%s: field \"%s\" is %d; the limit is %d", src, sizes[i].name, sizes[i].v,
                           sizes[i].max);
    }
    if (c->n_heads % c->n_kv_heads != 0)
        return is_errf(err, "%s: num_attention_heads %d is not divisible by num_key_value_heads %d",
                       src, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return is_errf(err, "%s: field \"head_dim\" must be even for RoPE, got %d", src, c->head_dim);
    if (c->head_dim > IS_MAX_HEAD_DIM)
        return is_errf(err, "%s: field \"head_dim\" is %d; the attention kernels support up to %d", src,
                       c->head_dim, IS_MAX_HEAD_DIM);
    if (!(c->rms_norm_eps > 0) || !isfinite(c->rms_norm_eps))
        return is_errf(err, "%s: field \"rms_norm_eps\" must be > 0, got %g", src,
                       (double)c->rms_norm_eps);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return is_errf(err, "%s: field \"rope_theta\" must be > 0, got %g", src, c->rope_theta);
    if (validate_rope(c, src, err) || validate_tokens(c, src, err)) return -1;
    return 0;
}

// ---- public: to JSON ---------------------------------------------------------------

// The shortest %g text that strtod (as cJSON's parser) reads back to exactly d;
// integral values keep a ".0" as Python writes them. NULL for inf and NaN.
static cJSON *json_exact_double(double d) {
    if (!isfinite(d)) return cJSON_CreateNull();
    char buf[64];
    if (d == floor(d) && fabs(d) < 1e15) {
        snprintf(buf, sizeof buf, "%.1f", d);
    } else {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
        }
    }
    return cJSON_CreateRaw(buf);
}

// The same for a float read back as (float)strtod(text).
static cJSON *json_exact_float(float f) {
    if (!isfinite(f)) return cJSON_CreateNull();
    char buf[64];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return cJSON_CreateRaw(buf);
}

static cJSON *rope_scaling_json(const is_config *c) {
    if (c->rope_scaling == IS_ROPE_SCALING_NONE) return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "factor", json_exact_double(c->rope_factor));
    if (c->rope_scaling == IS_ROPE_SCALING_LLAMA3) {
        cJSON_AddItemToObject(o, "high_freq_factor", json_exact_double(c->rope_high_freq_factor));
        cJSON_AddItemToObject(o, "low_freq_factor", json_exact_double(c->rope_low_freq_factor));
        cJSON_AddNumberToObject(o, "original_max_position_embeddings", c->rope_orig_max_pos);
        cJSON_AddStringToObject(o, "rope_type", "llama3");
    } else {
        cJSON_AddStringToObject(o, "rope_type", "linear");
    }
    return o;
}

static cJSON *eos_json(const is_config *c) {
    if (c->n_eos <= 0) return cJSON_CreateNull();
    if (c->n_eos == 1) return cJSON_CreateNumber(c->eos_token_ids[0]);
    return cJSON_CreateIntArray(c->eos_token_ids, c->n_eos);
}

static const char *architecture_of(const char *model_type) {
    if (!strcmp(model_type, "qwen2")) return "Qwen2ForCausalLM";
    if (!strcmp(model_type, "mistral")) return "MistralForCausalLM";
    return "LlamaForCausalLM";
}

// cJSON indents with tabs and writes "key":<tab>value; rewrite as transformers
// does: two spaces per level, "key": value. JSON strings hold no raw tabs.
static char *reindent(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == '\t' ? 2 : 1;
    char *out = is_xmalloc(n + 2), *o = out;
    bool line_start = true;
    for (const char *p = s; *p; p++) {
        if (*p == '\t') {
            if (line_start) *o++ = ' ', *o++ = ' ';
            else *o++ = ' ';
            continue;
        }
        line_start = *p == '\n';
        *o++ = *p;
    }
    *o++ = '\n';
    *o = '\0';
    return out;
}

// Biases: Llama writes one attention_bias (q/k/v and o alike, taken from qkv_bias);
// Qwen2 has no such field (q/k/v biased, o not). Other combinations do not exist
// in transformers and do not survive the round trip.
char *is_config_to_json(const is_config *c, const char *torch_dtype) {
    bool qwen2 = !strcmp(c->model_type, "qwen2");
    cJSON *o = cJSON_CreateObject();
    // keys in sorted order, as transformers writes them
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(architecture_of(c->model_type)));
    if (!qwen2) cJSON_AddBoolToObject(o, "attention_bias", c->qkv_bias);
    cJSON_AddItemToObject(o, "attention_dropout", json_exact_double(0.0));
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(o, "bos_token_id", c->bos_token_id);
    else cJSON_AddNullToObject(o, "bos_token_id");
    cJSON_AddItemToObject(o, "eos_token_id", eos_json(c));
    cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_pos);
    if (!qwen2) cJSON_AddBoolToObject(o, "mlp_bias", false);
    cJSON_AddStringToObject(o, "model_type", c->model_type);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddItemToObject(o, "rms_norm_eps", json_exact_float(c->rms_norm_eps));
    cJSON_AddItemToObject(o, "rope_scaling", rope_scaling_json(c));
    cJSON_AddItemToObject(o, "rope_theta", json_exact_double(c->rope_theta));
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    if (torch_dtype) cJSON_AddStringToObject(o, "torch_dtype", torch_dtype);
    cJSON_AddBoolToObject(o, "use_cache", true);
    if (qwen2) cJSON_AddBoolToObject(o, "use_sliding_window", false);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    IS_ASSERT(text != NULL);
    char *out = reindent(text);
    cJSON_free(text);
    return out;
}

// ---- public: RoPE frequencies and parameter counts ----------------------------------

void is_config_rope_inv_freq(const is_config *c, double *inv_freq) {
    int half = c->head_dim / 2;
    double two_pi = 2.0 * acos(-1.0);
    for (int i = 0; i < half; i++) {
        double inv = 1.0 / pow(c->rope_theta, (2.0 * i) / c->head_dim);
        if (c->rope_scaling == IS_ROPE_SCALING_LINEAR) {
            inv /= c->rope_factor;
        } else if (c->rope_scaling == IS_ROPE_SCALING_LLAMA3) {
            double orig = c->rope_orig_max_pos;
            double low = c->rope_low_freq_factor, high = c->rope_high_freq_factor;
            double wavelen = two_pi / inv;
            double low_freq_wavelen = orig / low, high_freq_wavelen = orig / high;
            if (wavelen < high_freq_wavelen) {
                // high frequency: kept
            } else if (wavelen > low_freq_wavelen) {
                inv /= c->rope_factor;
            } else {
                double smooth = (orig / wavelen - low) / (high - low);
                inv = (1.0 - smooth) * inv / c->rope_factor + smooth * inv;
            }
        }
        inv_freq[i] = inv;
    }
}

double is_config_n_params(const is_config *c) {
    double d = c->hidden_size, f = c->intermediate_size, v = c->vocab_size;
    double q = (double)c->n_heads * c->head_dim;     // width of q and of o's input
    double kv = (double)c->n_kv_heads * c->head_dim; // width of k and of v
    double layer = d * q + 2 * d * kv + q * d        // wq, wk, wv, wo
                   + 3 * d * f                       // w_gate, w_up, w_down
                   + 2 * d;                          // attn_norm, ffn_norm
    if (c->qkv_bias) layer += q + 2 * kv;
    if (c->o_bias) layer += d;
    double embed = v * d * (c->tie_word_embeddings ? 1 : 2);
    return embed + c->n_layers * layer + d; // + out_norm
}
