// test_model_io.c — loading and exporting Hugging Face directories: round
// trips, shards, and every kind of broken input a user can hand the loader.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/testutil.h"

static is_backend *be;
static char dir[256];

static void setup(void) {
    be = tu_backend();
    tu_mkdtemp(dir, sizeof dir);
}

static void teardown(void) {
    tu_rm_rf(dir);
    be->destroy(be);
}

TestSuite(model_io, .init = setup, .fini = teardown);

static float *logits_of(is_model *m, const int32_t *tok, int n) {
    is_session *s;
    is_err err;
    is_session_opts o = {.kv_budget_mib = 8};
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    int seq = is_seq_new(s, &err);
    int32_t sq[64];
    bool want[64];
    for (int i = 0; i < n; i++) {
        sq[i] = seq;
        want[i] = true;
    }
    float *l = malloc((size_t)n * m->cfg.vocab_size * sizeof *l);
    cr_assert_eq(is_forward(s, n, tok, sq, want, l, &err), 0, "%s", err.msg);
    is_session_free(s);
    return l;
}

// Every weight of a and b holds the same bytes (compared as F32 values bit for bit).
static void assert_same_weights(is_model *a, is_model *b) {
    is_weight_ref *ra, *rb;
    int na = is_model_weight_refs(a, &ra), nb = is_model_weight_refs(b, &rb);
    cr_assert_eq(na, nb);
    is_err err;
    for (int i = 0; i < na; i++) {
        cr_assert_str_eq(ra[i].name, rb[i].name);
        cr_assert_eq(ra[i].t->dtype, rb[i].t->dtype, "%s: dtype", ra[i].name);
        size_t n = (size_t)ra[i].t->rows * ra[i].t->cols;
        cr_assert_eq(n, (size_t)rb[i].t->rows * rb[i].t->cols, "%s: size", ra[i].name);
        float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        cr_assert_eq(be->tensor_get_f32(be, ra[i].t, ra[i].t->rows, x, &err), 0);
        cr_assert_eq(be->tensor_get_f32(be, rb[i].t, rb[i].t->rows, y, &err), 0);
        cr_assert_eq(memcmp(x, y, n * sizeof *x), 0, "%s: weights differ after the round trip", ra[i].name);
        free(x);
        free(y);
    }
    free(ra);
    free(rb);
}

static void round_trip(is_model *m, is_dtype dtype) {
    is_err err;
    cr_assert_eq(is_model_export(m, dir, dtype, &err), 0, "%s", err.msg);
    is_model *back = tu_model(be, dir, dtype, 0);
    cr_assert_eq(memcmp(&back->cfg, &m->cfg, sizeof m->cfg), 0, "config changed in the round trip");
    assert_same_weights(m, back);
    int32_t tok[12] = {1, 5, 9, 200, 3, 3, 7, 100, 42, 0, 11, 6};
    float *la = logits_of(m, tok, 12), *lb = logits_of(back, tok, 12);
    cr_assert_eq(memcmp(la, lb, (size_t)12 * m->cfg.vocab_size * sizeof(float)), 0,
                 "logits differ after the round trip");
    free(la);
    free(lb);
    is_model_free(back);
}

Test(model_io, export_load_round_trip_f32_is_bit_identical) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 3);
    round_trip(m, IS_DTYPE_F32);
    is_model_free(m);
}

Test(model_io, export_load_round_trip_bf16_is_bit_identical) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 3);
    round_trip(m, IS_DTYPE_BF16);
    is_model_free(m);
}

Test(model_io, round_trip_with_biases_and_tied_embeddings) {
    is_config c = {.model_type = "qwen2", .hidden_size = 48, .intermediate_size = 96, .n_layers = 2,
                   .n_heads = 4, .n_kv_heads = 1, .head_dim = 12, .vocab_size = 260, .max_pos = 64,
                   .rms_norm_eps = 1e-6f, .rope_theta = 1e6, .tie_word_embeddings = true,
                   .qkv_bias = true, .bos_token_id = -1, .eos_token_ids = {5, 7}, .n_eos = 2};
    is_model *m;
    is_err err;
    cr_assert_eq(is_model_from_config(&c, "qwen-like", IS_DTYPE_BF16, 9, be, &m, &err), 0, "%s", err.msg);
    round_trip(m, IS_DTYPE_BF16);
    is_model_free(m);
}

Test(model_io, f16_export_loads_within_f16_precision) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 4);
    is_err err;
    cr_assert_eq(is_model_export(m, dir, IS_DTYPE_F16, &err), 0, "%s", err.msg);
    is_model *back = tu_model(be, dir, IS_DTYPE_F32, 0);
    cr_assert_eq(back->file_dtype, IS_DTYPE_F16);
    size_t n = (size_t)m->cfg.vocab_size * m->cfg.hidden_size;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    cr_assert_eq(be->tensor_get_f32(be, &m->embed, m->embed.rows, x, &err), 0);
    cr_assert_eq(be->tensor_get_f32(be, &back->embed, back->embed.rows, y, &err), 0);
    for (size_t i = 0; i < n; i++)
        // F16 rounding: relative 2^-11; values below 2^-14 are subnormal, absolute 2^-25
        cr_assert_leq(fabsf(x[i] - y[i]), fabsf(x[i]) * 0x1p-11f + 0x1p-25f, "element %zu: %g vs %g", i, x[i], y[i]);
    free(x);
    free(y);
    is_model_free(back);
    is_model_free(m);
}

// Fills tensor i of a writer with the bytes of the tensor of the same name in src.
typedef struct copy_ctx {
    is_st_file *src;
    const is_st_desc *descs;
} copy_ctx;

static int copy_fill(void *user, int i, void *dst, is_err *err) {
    (void)err;
    copy_ctx *c = user;
    const is_st_tensor *t = is_st_find(c->src, c->descs[i].name);
    memcpy(dst, t->data, t->end - t->begin);
    return 0;
}

Test(model_io, sharded_checkpoint_equals_single_file) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_BF16, 5);
    is_err err;
    char single[300], sharded[300], path[400];
    snprintf(single, sizeof single, "%s/single", dir);
    snprintf(sharded, sizeof sharded, "%s/sharded", dir);
    cr_assert_eq(is_model_export(m, single, IS_DTYPE_BF16, &err), 0, "%s", err.msg);
    mkdir(sharded, 0777);
    snprintf(path, sizeof path, "%s/model.safetensors", single);
    is_st_file src;
    cr_assert_eq(is_st_open(path, &src, &err), 0, "%s", err.msg);
    // split the tensors over two shards, in alternating order
    is_st_desc *d[2];
    int nd[2] = {0, 0};
    d[0] = calloc((size_t)src.n_tensors, sizeof(is_st_desc));
    d[1] = calloc((size_t)src.n_tensors, sizeof(is_st_desc));
    size_t cap = 1 << 16, len = 0;
    char *index = malloc(cap);
    len += (size_t)snprintf(index + len, cap - len, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < src.n_tensors; i++) {
        const is_st_tensor *t = &src.tensors[i];
        int s = i % 2;
        is_st_desc *x = &d[s][nd[s]++];
        x->name = t->name;
        x->dtype = t->dtype;
        x->ndim = t->ndim;
        memcpy(x->shape, t->shape, sizeof x->shape);
        len += (size_t)snprintf(index + len, cap - len, "%s\"%s\": \"model-%05d-of-00002.safetensors\"",
                                i ? ", " : "", t->name, s + 1);
    }
    snprintf(index + len, cap - len, "}}");
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-00002.safetensors", sharded, s + 1);
        copy_ctx c = {&src, d[s]};
        cr_assert_eq(is_st_write(path, d[s], nd[s], copy_fill, &c, &err), 0, "%s", err.msg);
    }
    tu_write_file(sharded, "model.safetensors.index.json", index, strlen(index));
    snprintf(path, sizeof path, "%s/config.json", single);
    size_t clen;
    char *cfg = tu_read_file(path, &clen);
    tu_write_file(sharded, "config.json", cfg, clen);
    is_model *a = tu_model(be, single, IS_DTYPE_BF16, 0), *b = tu_model(be, sharded, IS_DTYPE_BF16, 0);
    cr_assert_eq(b->n_files, 2);
    assert_same_weights(a, b);
    free(cfg);
    free(index);
    free(d[0]);
    free(d[1]);
    is_st_close(&src);
    is_model_free(a);
    is_model_free(b);
    is_model_free(m);
}

// ---- bad input -------------------------------------------------------------------

static void expect_load_error(const char *spec, const char *needle) {
    is_err err = {{0}};
    is_model *m = (is_model *)1;
    is_model_opts o = {.dtype = -1};
    cr_assert_eq(is_model_load(spec, &o, be, &m, &err), -1, "loading %s should fail", spec);
    cr_assert_null(m);
    cr_assert(strstr(err.msg, needle), "message '%s' should mention '%s'", err.msg, needle);
}

// Exports preset:tiny, then lets the test break one thing.
static void exported_tiny(void) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    is_err err;
    cr_assert_eq(is_model_export(m, dir, IS_DTYPE_F32, &err), 0, "%s", err.msg);
    is_model_free(m);
}

Test(model_io, unknown_preset_lists_the_known_ones) { expect_load_error("preset:llama-9", "unknown preset 'llama-9'"); }

Test(model_io, missing_directory) {
    char p[300];
    snprintf(p, sizeof p, "%s/nope", dir);
    expect_load_error(p, "not a directory");
}

Test(model_io, missing_config_json) {
    exported_tiny();
    char p[300];
    snprintf(p, sizeof p, "%s/config.json", dir);
    remove(p);
    expect_load_error(dir, "config.json");
}

Test(model_io, malformed_config_json) {
    exported_tiny();
    const char *bad = "{\"hidden_size\": 64, \"num_hidden_layers\": ";
    tu_write_file(dir, "config.json", bad, strlen(bad));
    expect_load_error(dir, "config.json");
}

Test(model_io, missing_weights_file) {
    exported_tiny();
    char p[300];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    remove(p);
    expect_load_error(dir, "no model.safetensors");
}

// Rewrites dir/model.safetensors without tensor `drop`, or with `transpose` transposed.
static void rewrite_weights(const char *drop, const char *transpose) {
    char p[300], q[320];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    snprintf(q, sizeof q, "%s/orig.safetensors", dir);
    rename(p, q);
    is_st_file src;
    is_err err;
    cr_assert_eq(is_st_open(q, &src, &err), 0, "%s", err.msg);
    is_st_desc *d = calloc((size_t)src.n_tensors, sizeof *d);
    int n = 0;
    for (int i = 0; i < src.n_tensors; i++) {
        const is_st_tensor *t = &src.tensors[i];
        if (drop && !strcmp(t->name, drop)) continue;
        d[n] = (is_st_desc){.name = t->name, .dtype = t->dtype, .ndim = t->ndim};
        memcpy(d[n].shape, t->shape, sizeof d[n].shape);
        if (transpose && !strcmp(t->name, transpose)) {
            d[n].shape[0] = t->shape[1];
            d[n].shape[1] = t->shape[0];
        }
        n++;
    }
    copy_ctx c = {&src, d};
    cr_assert_eq(is_st_write(p, d, n, copy_fill, &c, &err), 0, "%s", err.msg);
    free(d);
    is_st_close(&src);
    remove(q);
}

Test(model_io, missing_tensor_is_named) {
    exported_tiny();
    rewrite_weights("model.layers.1.mlp.up_proj.weight", NULL);
    expect_load_error(dir, "tensor 'model.layers.1.mlp.up_proj.weight' is missing");
}

Test(model_io, wrong_shape_is_named) {
    exported_tiny();
    rewrite_weights(NULL, "model.layers.0.mlp.down_proj.weight");
    expect_load_error(dir, "'model.layers.0.mlp.down_proj.weight' has shape [192, 64], expected [64, 192]");
}

Test(model_io, header_length_past_the_file) {
    exported_tiny();
    unsigned char hdr[16] = {0};
    hdr[0] = 0xff;
    hdr[1] = 0xff;
    hdr[2] = 0x01; // 0x1ffff bytes of header in a 16-byte file
    tu_write_file(dir, "model.safetensors", hdr, sizeof hdr);
    expect_load_error(dir, "model.safetensors");
}

Test(model_io, shard_index_must_name_plain_files) {
    exported_tiny();
    const char *index = "{\"weight_map\": {\"model.embed_tokens.weight\": \"../../etc/passwd\"}}";
    tu_write_file(dir, "model.safetensors.index.json", index, strlen(index));
    expect_load_error(dir, "not a plain file name");
}

Test(model_io, shard_index_not_json) {
    exported_tiny();
    const char *index = "weight_map: none";
    tu_write_file(dir, "model.safetensors.index.json", index, strlen(index));
    expect_load_error(dir, "not valid JSON");
}

Test(model_io, export_into_an_unwritable_place_leaves_nothing) {
    is_model *m = tu_model(be, "preset:tiny", IS_DTYPE_F32, 1);
    char p[300];
    snprintf(p, sizeof p, "%s/file", dir);
    tu_write_file(dir, "file", "x", 1);
    is_err err;
    cr_assert_eq(is_model_export(m, p, IS_DTYPE_F32, &err), -1);
    cr_assert(strstr(err.msg, "not a directory"), "%s", err.msg);
    // a directory that cannot be created, even by root
    cr_assert_eq(is_model_export(m, "/proc/inferscope-export-test", IS_DTYPE_F32, &err), -1);
    cr_assert(strstr(err.msg, "cannot create directory"), "%s", err.msg);
    is_model_free(m);
}
