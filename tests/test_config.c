// test_config.c — config.json parsing, validation, serialization, RoPE frequencies
// and parameter counts.
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/config.h" // defines: is_config_parse, is_config_load, is_config_to_json, ...
#include "engine/model.h"  // defines: is_preset_count, is_preset_at

// ---- fixtures --------------------------------------------------------------------

// The public meta-llama/Llama-3.1-8B config.json.
static const char *llama31_8b_json =
    "{\n"
    "  \"architectures\": [\"LlamaForCausalLM\"],\n"
    "  \"attention_bias\": false,\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 128000,\n"
    "  \"eos_token_id\": 128001,\n"
    "  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": 4096,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 14336,\n"
    "  \"max_position_embeddings\": 131072,\n"
    "  \"mlp_bias\": false,\n"
    "  \"model_type\": \"llama\",\n"
    "  \"num_attention_heads\": 32,\n"
    "  \"num_hidden_layers\": 32,\n"
    "  \"num_key_value_heads\": 8,\n"
    "  \"pretraining_tp\": 1,\n"
    "  \"rms_norm_eps\": 1e-05,\n"
    "  \"rope_scaling\": {\n"
    "    \"factor\": 8.0,\n"
    "    \"low_freq_factor\": 1.0,\n"
    "    \"high_freq_factor\": 4.0,\n"
    "    \"original_max_position_embeddings\": 8192,\n"
    "    \"rope_type\": \"llama3\"\n"
    "  },\n"
    "  \"rope_theta\": 500000.0,\n"
    "  \"tie_word_embeddings\": false,\n"
    "  \"torch_dtype\": \"bfloat16\",\n"
    "  \"transformers_version\": \"4.43.0.dev0\",\n"
    "  \"use_cache\": true,\n"
    "  \"vocab_size\": 128256\n"
    "}\n";

// The public Qwen/Qwen2.5-0.5B config.json.
static const char *qwen25_05b_json =
    "{\n"
    "  \"architectures\": [\"Qwen2ForCausalLM\"],\n"
    "  \"attention_dropout\": 0.0,\n"
    "  \"bos_token_id\": 151643,\n"
    "  \"eos_token_id\": 151643,\n"
    "  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": 896,\n"
    "  \"initializer_range\": 0.02,\n"
    "  \"intermediate_size\": 4864,\n"
    "  \"max_position_embeddings\": 32768,\n"
    "  \"max_window_layers\": 24,\n"
    "  \"model_type\": \"qwen2\",\n"
    "  \"num_attention_heads\": 14,\n"
    "  \"num_hidden_layers\": 24,\n"
    "  \"num_key_value_heads\": 2,\n"
    "  \"rms_norm_eps\": 1e-06,\n"
    "  \"rope_scaling\": null,\n"
    "  \"rope_theta\": 1000000.0,\n"
    "  \"sliding_window\": 32768,\n"
    "  \"tie_word_embeddings\": true,\n"
    "  \"torch_dtype\": \"bfloat16\",\n"
    "  \"transformers_version\": \"4.40.1\",\n"
    "  \"use_cache\": true,\n"
    "  \"use_sliding_window\": false,\n"
    "  \"vocab_size\": 151936\n"
    "}\n";

// Only the required fields: everything else takes its default.
static const char *minimal_json =
    "{\"hidden_size\": 64, \"intermediate_size\": 192, \"num_hidden_layers\": 2,"
    " \"num_attention_heads\": 4, \"vocab_size\": 256, \"max_position_embeddings\": 128}";

#define SRC "models/x/config.json"

static int parse_str(const char *json, is_config *cfg, is_err *err) {
    return is_config_parse(json, strlen(json), SRC, cfg, err);
}

// base with field key set to the JSON text value (NULL: removed); malloc'd.
static char *with_field(const char *base, const char *key, const char *value) {
    cJSON *root = cJSON_Parse(base);
    cr_assert_not_null(root);
    cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    if (value) {
        cJSON *v = cJSON_Parse(value);
        cr_assert_not_null(v, "bad test value %s", value);
        cJSON_AddItemToObject(root, key, v);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

// Parsing must fail, and the message must name the source and contain each needle.
static void expect_fail_text(const char *json, const char *needle1, const char *needle2) {
    is_config cfg;
    is_err err = {{0}};
    int rc = parse_str(json, &cfg, &err);
    cr_assert_eq(rc, -1, "parse succeeded for %s", json);
    cr_assert(strstr(err.msg, SRC), "message does not name the source: %s", err.msg);
    cr_assert(strstr(err.msg, needle1), "message lacks '%s': %s", needle1, err.msg);
    if (needle2) cr_assert(strstr(err.msg, needle2), "message lacks '%s': %s", needle2, err.msg);
}

static void expect_fail_field(const char *base, const char *key, const char *value,
                              const char *needle1, const char *needle2) {
    char *json = with_field(base, key, value);
    expect_fail_text(json, needle1, needle2);
    free(json);
}

static void expect_ok_field(const char *base, const char *key, const char *value) {
    char *json = with_field(base, key, value);
    is_config c;
    is_err err = {{0}};
    cr_assert_eq(is_config_parse(json, strlen(json), "config.json", &c, &err), 0, "%s = %s: %s", key, value,
                 err.msg);
    free(json);
}

static void assert_config_eq(const is_config *a, const is_config *b) {
    cr_assert_str_eq(a->model_type, b->model_type);
    cr_assert_eq(a->hidden_size, b->hidden_size);
    cr_assert_eq(a->intermediate_size, b->intermediate_size);
    cr_assert_eq(a->n_layers, b->n_layers);
    cr_assert_eq(a->n_heads, b->n_heads);
    cr_assert_eq(a->n_kv_heads, b->n_kv_heads);
    cr_assert_eq(a->head_dim, b->head_dim);
    cr_assert_eq(a->vocab_size, b->vocab_size);
    cr_assert_eq(a->max_pos, b->max_pos);
    cr_assert(a->rms_norm_eps == b->rms_norm_eps, "eps %.9g != %.9g", (double)a->rms_norm_eps,
              (double)b->rms_norm_eps);
    cr_assert(a->rope_theta == b->rope_theta, "theta %.17g != %.17g", a->rope_theta, b->rope_theta);
    cr_assert_eq(a->rope_scaling, b->rope_scaling);
    cr_assert(a->rope_factor == b->rope_factor, "factor %.17g != %.17g", a->rope_factor, b->rope_factor);
    cr_assert(a->rope_low_freq_factor == b->rope_low_freq_factor);
    cr_assert(a->rope_high_freq_factor == b->rope_high_freq_factor);
    cr_assert_eq(a->rope_orig_max_pos, b->rope_orig_max_pos);
    cr_assert_eq(a->tie_word_embeddings, b->tie_word_embeddings);
    cr_assert_eq(a->qkv_bias, b->qkv_bias);
    cr_assert_eq(a->o_bias, b->o_bias);
    cr_assert_eq(a->bos_token_id, b->bos_token_id);
    cr_assert_eq(a->n_eos, b->n_eos);
    for (int i = 0; i < a->n_eos; i++) cr_assert_eq(a->eos_token_ids[i], b->eos_token_ids[i]);
}

static void parse_ok(const char *json, is_config *cfg) {
    is_err err = {{0}};
    int rc = parse_str(json, cfg, &err);
    cr_assert_eq(rc, 0, "parse failed: %s", err.msg);
}

// ---- parsing real configs ----------------------------------------------------------

Test(config, llama31_8b) {
    is_config c;
    parse_ok(llama31_8b_json, &c);
    cr_assert_str_eq(c.model_type, "llama");
    cr_assert_eq(c.hidden_size, 4096);
    cr_assert_eq(c.intermediate_size, 14336);
    cr_assert_eq(c.n_layers, 32);
    cr_assert_eq(c.n_heads, 32);
    cr_assert_eq(c.n_kv_heads, 8);
    cr_assert_eq(c.head_dim, 128);
    cr_assert_eq(c.vocab_size, 128256);
    cr_assert_eq(c.max_pos, 131072);
    cr_assert(c.rms_norm_eps == 1e-5f);
    cr_assert(c.rope_theta == 500000.0);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_LLAMA3);
    cr_assert(c.rope_factor == 8.0);
    cr_assert(c.rope_low_freq_factor == 1.0);
    cr_assert(c.rope_high_freq_factor == 4.0);
    cr_assert_eq(c.rope_orig_max_pos, 8192);
    cr_assert_eq(c.tie_word_embeddings, false);
    cr_assert_eq(c.qkv_bias, false);
    cr_assert_eq(c.o_bias, false);
    cr_assert_eq(c.bos_token_id, 128000);
    cr_assert_eq(c.n_eos, 1);
    cr_assert_eq(c.eos_token_ids[0], 128001);
    // 8,030,261,248: the count the model card and transformers report
    cr_assert(is_config_n_params(&c) == 8030261248.0, "n_params %.0f", is_config_n_params(&c));
}

Test(config, llama31_eos_array) {
    char *json = with_field(llama31_8b_json, "eos_token_id", "[128001, 128008, 128009]");
    is_config c;
    parse_ok(json, &c);
    cr_assert_eq(c.n_eos, 3);
    cr_assert_eq(c.eos_token_ids[0], 128001);
    cr_assert_eq(c.eos_token_ids[1], 128008);
    cr_assert_eq(c.eos_token_ids[2], 128009);
    free(json);
    json = with_field(llama31_8b_json, "eos_token_id", "[]");
    parse_ok(json, &c);
    cr_assert_eq(c.n_eos, 0);
    free(json);
    json = with_field(llama31_8b_json, "eos_token_id", "null");
    parse_ok(json, &c);
    cr_assert_eq(c.n_eos, 0);
    free(json);
}

Test(config, qwen2_biases) {
    is_config c;
    parse_ok(qwen25_05b_json, &c);
    cr_assert_str_eq(c.model_type, "qwen2");
    cr_assert_eq(c.qkv_bias, true);
    cr_assert_eq(c.o_bias, false);
    cr_assert_eq(c.head_dim, 64);
    cr_assert_eq(c.n_kv_heads, 2);
    cr_assert_eq(c.tie_word_embeddings, true);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_NONE);
    cr_assert(c.rms_norm_eps == 1e-6f);
    cr_assert(c.rope_theta == 1e6);
    cr_assert_eq(c.bos_token_id, 151643);
    // 494,032,768 as transformers counts Qwen2.5-0.5B (tied embeddings, q/k/v biases)
    cr_assert(is_config_n_params(&c) == 494032768.0, "n_params %.0f", is_config_n_params(&c));
}

Test(config, llama_attention_bias) {
    char *json = with_field(minimal_json, "attention_bias", "true");
    is_config c;
    parse_ok(json, &c);
    cr_assert_eq(c.qkv_bias, true);
    cr_assert_eq(c.o_bias, true);
    free(json);
}

Test(config, head_dim_present_and_absent) {
    is_config c;
    parse_ok(minimal_json, &c);
    cr_assert_eq(c.head_dim, 16); // 64 / 4
    char *json = with_field(minimal_json, "head_dim", "32");
    parse_ok(json, &c);
    cr_assert_eq(c.head_dim, 32); // given: need not be hidden_size / heads
    free(json);
    json = with_field(minimal_json, "head_dim", "null");
    parse_ok(json, &c);
    cr_assert_eq(c.head_dim, 16);
    free(json);
}

Test(config, defaults) {
    is_config c;
    parse_ok(minimal_json, &c);
    cr_assert_str_eq(c.model_type, "llama");
    cr_assert_eq(c.n_kv_heads, 4);
    cr_assert(c.rms_norm_eps == 1e-6f, "eps %g", (double)c.rms_norm_eps); // transformers' default
    cr_assert(c.rope_theta == 10000.0);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_NONE);
    cr_assert_eq(c.tie_word_embeddings, false);
    cr_assert_eq(c.qkv_bias, false);
    cr_assert_eq(c.o_bias, false);
    cr_assert_eq(c.bos_token_id, -1);
    cr_assert_eq(c.n_eos, 0);
    char *json = with_field(minimal_json, "num_key_value_heads", "null");
    parse_ok(json, &c);
    cr_assert_eq(c.n_kv_heads, 4);
    free(json);
}

Test(config, rope_scaling_kinds) {
    is_config c;
    char *json = with_field(minimal_json, "rope_scaling", "{\"rope_type\": \"default\"}");
    parse_ok(json, &c);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_NONE);
    free(json);
    json = with_field(minimal_json, "rope_scaling", "{\"type\": \"linear\", \"factor\": 2}");
    parse_ok(json, &c);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_LINEAR);
    cr_assert(c.rope_factor == 2.0);
    free(json);
    json = with_field(minimal_json, "rope_scaling", "{\"type\": \"llama3\", \"factor\": 32,"
                      " \"low_freq_factor\": 1, \"high_freq_factor\": 4,"
                      " \"original_max_position_embeddings\": 8192}");
    parse_ok(json, &c);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_LLAMA3);
    cr_assert(c.rope_factor == 32.0);
    free(json);
}

// ---- RoPE ------------------------------------------------------------------------

Test(config, inv_freq_plain) {
    is_config c;
    char *json = with_field(minimal_json, "head_dim", "128");
    parse_ok(json, &c);
    free(json);
    c.rope_theta = 500000.0;
    double inv[64];
    is_config_rope_inv_freq(&c, inv);
    for (int i = 0; i < 64; i++) {
        // theta^(-2i/d) written as exp(-(2i/d) ln theta)
        double want = exp(-(2.0 * i / 128.0) * log(500000.0));
        cr_assert(fabs(inv[i] - want) <= 1e-14 * want, "i=%d: %.17g vs %.17g", i, inv[i], want);
    }
    cr_assert(inv[0] == 1.0);
}

Test(config, inv_freq_linear) {
    char *json = with_field(minimal_json, "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 4}");
    is_config c;
    parse_ok(json, &c);
    free(json);
    double scaled[8], plain[8];
    is_config_rope_inv_freq(&c, scaled);
    c.rope_scaling = IS_ROPE_SCALING_NONE;
    is_config_rope_inv_freq(&c, plain);
    for (int i = 0; i < 8; i++) cr_assert(scaled[i] == plain[i] / 4.0, "i=%d", i);
}

// Llama 3.1: head_dim 128, theta 5e5, factor 8, low 1, high 4, original context 8192.
// Wavelengths below 8192/4 = 2048 keep their frequency, above 8192/1 = 8192 are
// divided by 8, between they blend.
Test(config, inv_freq_llama3) {
    is_config c;
    parse_ok(llama31_8b_json, &c);
    double got[64], plain[64];
    is_config_rope_inv_freq(&c, got);
    is_config s = c;
    s.rope_scaling = IS_ROPE_SCALING_NONE;
    is_config_rope_inv_freq(&s, plain);
    const double pi = 3.14159265358979323846;
    int n_kept = 0, n_div = 0, n_smooth = 0;
    for (int i = 0; i < 64; i++) {
        double lambda = 2 * pi * pow(500000.0, i / 64.0); // wavelength of pair i
        double want;
        if (lambda < 2048.0) {
            want = plain[i];
            cr_assert(got[i] == plain[i], "i=%d kept", i);
            n_kept++;
        } else if (lambda > 8192.0) {
            want = plain[i] / 8.0;
            cr_assert(fabs(got[i] - plain[i] / 8.0) <= 1e-15 * plain[i], "i=%d divided", i);
            n_div++;
        } else {
            // blend weight: 0 at wavelength 8192 (divided), 1 at 2048 (kept)
            double w = (8192.0 / lambda - 1.0) / 3.0;
            want = plain[i] * (w + (1.0 - w) / 8.0);
            cr_assert(got[i] < plain[i] && got[i] > plain[i] / 8.0, "i=%d in the band", i);
            n_smooth++;
        }
        cr_assert(fabs(got[i] - want) <= 1e-13 * want, "i=%d: %.17g vs %.17g", i, got[i], want);
        if (i > 0) cr_assert(got[i] < got[i - 1], "inv_freq must decrease, i=%d", i);
    }
    // i <= 28 kept, 29..34 blended, >= 35 divided
    cr_assert_eq(n_kept, 29);
    cr_assert_eq(n_smooth, 6);
    cr_assert_eq(n_div, 29);
    // hand values (Python, double): i = 0, 31, 63
    cr_assert(got[0] == 1.0);
    double w31 = (8192.0 / (2 * pi * pow(500000.0, 31 / 64.0)) - 1.0) / 3.0;
    cr_assert(w31 > 0 && w31 < 1);
    cr_assert(fabs(got[31] - 0.0008567514129196321) < 1e-13 * got[31], "i=31: %.17g", got[31]);
    cr_assert(fabs(got[63] - 3.068925988914511e-07) < 1e-13 * got[63], "i=63: %.17g", got[63]);
}

// ---- serialization ---------------------------------------------------------------

static void round_trip(const is_config *c) {
    char *json = is_config_to_json(c, "bfloat16");
    cr_assert_not_null(json);
    is_config back;
    is_err err = {{0}};
    int rc = is_config_parse(json, strlen(json), "exported", &back, &err);
    cr_assert_eq(rc, 0, "%s\n%s", err.msg, json);
    assert_config_eq(c, &back);
    free(json);
}

Test(config, round_trip) {
    is_config c;
    parse_ok(llama31_8b_json, &c);
    round_trip(&c);
    parse_ok(qwen25_05b_json, &c);
    round_trip(&c);
    parse_ok(minimal_json, &c);
    round_trip(&c);
    char *json = with_field(llama31_8b_json, "eos_token_id", "[128001, 128008, 128009]");
    parse_ok(json, &c);
    free(json);
    round_trip(&c);
    // awkward doubles and floats must survive exactly
    c.rope_theta = 0.1 + 0.2;
    c.rope_factor = 10.0 / 3.0;
    c.rope_low_freq_factor = 1.0 / 7.0;
    c.rope_high_freq_factor = 2.0 / 3.0 + 1e-9;
    c.rms_norm_eps = 1.2345678e-7f;
    round_trip(&c);
    c.rope_scaling = IS_ROPE_SCALING_LINEAR;
    c.rope_low_freq_factor = c.rope_high_freq_factor = 0;
    c.rope_orig_max_pos = 0;
    c.bos_token_id = -1;
    c.n_eos = 0;
    c.qkv_bias = c.o_bias = true;
    round_trip(&c);
}

// inferscope export writes presets' configs: each must read back as it was.
Test(config, round_trip_presets) {
    cr_assert_gt(is_preset_count(), 0);
    for (int i = 0; i < is_preset_count(); i++) {
        const is_preset *p = is_preset_at(i);
        is_err err = {{0}};
        cr_assert_eq(is_config_validate(&p->cfg, p->name, &err), 0, "%s", err.msg);
        round_trip(&p->cfg);
    }
}

Test(config, to_json_shape) {
    is_config c;
    parse_ok(llama31_8b_json, &c);
    char *json = is_config_to_json(&c, "bfloat16");
    cr_assert(strstr(json, "\"architectures\": [\"LlamaForCausalLM\"]"), "%s", json);
    cr_assert(strstr(json, "\"rope_theta\": 500000.0"), "%s", json);
    cr_assert(strstr(json, "\"rms_norm_eps\": 1e-05"), "%s", json);
    cr_assert(strstr(json, "\"mlp_bias\": false"), "%s", json);
    cr_assert(strstr(json, "\"attention_bias\": false"), "%s", json);
    cr_assert(strstr(json, "\"torch_dtype\": \"bfloat16\""), "%s", json);
    cr_assert(strstr(json, "\"hidden_act\": \"silu\""), "%s", json);
    cr_assert(strstr(json, "\"rope_type\": \"llama3\""), "%s", json);
    cr_assert(strstr(json, "\"eos_token_id\": 128001"), "%s", json);
    cr_assert(!strchr(json, '\t'), "tabs in %s", json);
    free(json);
    parse_ok(qwen25_05b_json, &c);
    json = is_config_to_json(&c, "float32");
    cr_assert(strstr(json, "\"architectures\": [\"Qwen2ForCausalLM\"]"), "%s", json);
    cr_assert(!strstr(json, "attention_bias"), "%s", json);
    cr_assert(strstr(json, "\"rope_scaling\": null"), "%s", json);
    cr_assert(strstr(json, "\"tie_word_embeddings\": true"), "%s", json);
    cr_assert(strstr(json, "\"torch_dtype\": \"float32\""), "%s", json);
    free(json);
}

// ---- bad input ------------------------------------------------------------------

Test(config, bad_json) {
    expect_fail_text("{\"hidden_size\": 1,", "not valid JSON", "byte");
    expect_fail_text("{\"hidden_size\" 1}", "not valid JSON", NULL);
    expect_fail_text("", "not valid JSON", NULL);
    expect_fail_text("{} trailing", "not valid JSON", NULL);
    expect_fail_text("[1, 2]", "object", NULL);
}

Test(config, missing_required) {
    const char *req[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                         "num_attention_heads", "vocab_size", "max_position_embeddings"};
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        expect_fail_field(minimal_json, req[i], NULL, req[i], "missing");
    expect_fail_field(minimal_json, "hidden_size", "null", "hidden_size", "missing");
}

Test(config, wrong_types) {
    expect_fail_field(minimal_json, "hidden_size", "\"abc\"", "hidden_size", "\"abc\"");
    expect_fail_field(minimal_json, "vocab_size", "1.5", "vocab_size", "1.5");
    expect_fail_field(minimal_json, "vocab_size", "[256]", "vocab_size", "array");
    expect_fail_field(minimal_json, "max_position_embeddings", "3e9", "max_position_embeddings",
                      "positive integer");
    expect_fail_field(minimal_json, "tie_word_embeddings", "\"yes\"", "tie_word_embeddings", NULL);
    expect_fail_field(minimal_json, "attention_bias", "1", "attention_bias", NULL);
    expect_fail_field(minimal_json, "bos_token_id", "\"<s>\"", "bos_token_id", NULL);
    expect_fail_field(minimal_json, "bos_token_id", "-1", "bos_token_id", NULL);
    expect_fail_field(minimal_json, "eos_token_id", "[1, \"x\"]", "eos_token_id", NULL);
    expect_fail_field(minimal_json, "eos_token_id", "[0,1,2,3,4,5,6,7,8]", "eos_token_id", "at most");
    expect_fail_field(minimal_json, "rms_norm_eps", "\"1e-5\"", "rms_norm_eps", NULL);
    expect_fail_field(minimal_json, "rope_theta", "true", "rope_theta", NULL);
    expect_fail_field(minimal_json, "model_type", "7", "model_type", NULL);
    expect_fail_field(minimal_json, "model_type", "\"a_model_type_name_that_is_too_long\"",
                      "model_type", NULL);
    expect_fail_field(minimal_json, "rope_scaling", "\"llama3\"", "rope_scaling", NULL);
}

Test(config, bad_sizes) {
    expect_fail_field(minimal_json, "hidden_size", "0", "hidden_size", "positive");
    expect_fail_field(minimal_json, "intermediate_size", "-5", "intermediate_size", "-5");
    expect_fail_field(minimal_json, "num_hidden_layers", "0", "num_hidden_layers", NULL);
    expect_fail_field(minimal_json, "head_dim", "0", "head_dim", NULL);
    expect_fail_field(minimal_json, "head_dim", "15", "head_dim", "even");
    expect_fail_field(minimal_json, "num_key_value_heads", "3", "num_key_value_heads", "divisible");
    expect_fail_field(minimal_json, "num_attention_heads", "5", "num_attention_heads", "head_dim");
    expect_fail_field(minimal_json, "rms_norm_eps", "0", "rms_norm_eps", NULL);
    expect_fail_field(minimal_json, "rope_theta", "-1", "rope_theta", NULL);
    expect_fail_field(minimal_json, "eos_token_id", "256", "eos_token_id", "vocab");
    expect_fail_field(minimal_json, "bos_token_id", "300", "bos_token_id", "vocab");
}

// Sizes past the limits in config.h are refused by name before anything is sized
// by them (num_hidden_layers 2147483647 once aborted the loader out of memory, and
// 10^7 took 11.7 GB and 38 s to reach "tensor missing").
Test(config, sizes_beyond_the_limits) {
    expect_fail_field(minimal_json, "num_hidden_layers", "2147483647", "num_hidden_layers", "limit is 1024");
    expect_fail_field(minimal_json, "num_hidden_layers", "10000000", "num_hidden_layers", "limit");
    expect_fail_field(minimal_json, "num_hidden_layers", "1025", "num_hidden_layers", "limit");
    expect_fail_field(minimal_json, "num_attention_heads", "1000000000", "num_attention_heads", NULL);
    expect_fail_field(minimal_json, "num_key_value_heads", "1000000000", "num_key_value_heads", NULL);
    expect_fail_field(minimal_json, "vocab_size", "1000000000", "vocab_size", "limit");
    expect_fail_field(minimal_json, "hidden_size", "2000000000", "hidden_size", NULL);
    expect_fail_field(minimal_json, "intermediate_size", "2000000000", "intermediate_size", "limit");
    expect_fail_field(minimal_json, "max_position_embeddings", "2000000000", "max_position_embeddings", "limit");
    expect_fail_field(minimal_json, "num_hidden_layers", "1e300", "num_hidden_layers", NULL);
    // the largest values allowed pass
    expect_ok_field(minimal_json, "num_hidden_layers", "1024");
    expect_ok_field(minimal_json, "max_position_embeddings", "67108864");
}

Test(config, unsupported_features) {
    expect_fail_field(minimal_json, "hidden_act", "\"gelu\"", "hidden_act", "gelu");
    expect_fail_field(minimal_json, "mlp_bias", "true", "mlp_bias", "not supported");
    expect_fail_field(minimal_json, "rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}",
                      "yarn", "llama3");
    expect_fail_field(minimal_json, "rope_scaling", "{\"type\": \"dynamic\", \"factor\": 4}",
                      "dynamic", "linear");
    expect_fail_field(minimal_json, "rope_scaling", "{\"factor\": 4}", "rope_scaling.rope_type", NULL);
    expect_fail_field(minimal_json, "rope_scaling", "{\"rope_type\": \"linear\"}",
                      "rope_scaling.factor", NULL);
    expect_fail_field(minimal_json, "rope_scaling",
                      "{\"rope_type\": \"llama3\", \"factor\": 8, \"high_freq_factor\": 4,"
                      " \"original_max_position_embeddings\": 8192}",
                      "low_freq_factor", NULL);
    expect_fail_field(minimal_json, "rope_scaling",
                      "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4,"
                      " \"high_freq_factor\": 1, \"original_max_position_embeddings\": 8192}",
                      "high_freq_factor", NULL);
    expect_fail_field(minimal_json, "rope_scaling",
                      "{\"rope_type\": \"llama3\", \"factor\": 0, \"low_freq_factor\": 1,"
                      " \"high_freq_factor\": 4, \"original_max_position_embeddings\": 8192}",
                      "rope_scaling.factor", NULL);
    expect_fail_text("{\"hidden_size\": 64, \"hidden_size\": 32}", "hidden_size", "more than once");
}

// ---- files -----------------------------------------------------------------------

static char tmp_dir[64];

static void tmp_setup(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/is_test_config_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

static void tmp_teardown(void) {
    DIR *d = opendir(tmp_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmp_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmp_dir);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

Test(config_file, load_ok, .init = tmp_setup, .fini = tmp_teardown) {
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", tmp_dir);
    write_file(path, llama31_8b_json);
    is_config c;
    is_err err = {{0}};
    cr_assert_eq(is_config_load(path, &c, &err), 0, "%s", err.msg);
    cr_assert_eq(c.vocab_size, 128256);
}

Test(config_file, load_errors_name_the_path, .init = tmp_setup, .fini = tmp_teardown) {
    char path[256];
    is_config c;
    is_err err = {{0}};
    snprintf(path, sizeof path, "%s/missing.json", tmp_dir);
    cr_assert_eq(is_config_load(path, &c, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);

    cr_assert_eq(is_config_load(tmp_dir, &c, &err), -1);
    cr_assert(strstr(err.msg, tmp_dir) && strstr(err.msg, "not a regular file"), "%s", err.msg);

    snprintf(path, sizeof path, "%s/bad.json", tmp_dir);
    write_file(path, "{\"hidden_size\": \"abc\"}");
    cr_assert_eq(is_config_load(path, &c, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "hidden_size"), "%s", err.msg);

    snprintf(path, sizeof path, "%s/huge.json", tmp_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, 17 << 20), 0); // sparse: no 17 MiB written
    close(fd);
    cr_assert_eq(is_config_load(path, &c, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "limit"), "%s", err.msg);
}

Test(config, head_dim_beyond_the_attention_kernels_is_refused) {
    const char *text = "{\"hidden_size\": 1024, \"intermediate_size\": 2048, \"num_hidden_layers\": 1,"
                       " \"num_attention_heads\": 2, \"vocab_size\": 10, \"max_position_embeddings\": 8}";
    is_config c;
    is_err err;
    cr_assert_eq(is_config_parse(text, strlen(text), "config.json", &c, &err), -1);
    cr_assert(strstr(err.msg, "\"head_dim\" is 512"), "%s", err.msg);
}
