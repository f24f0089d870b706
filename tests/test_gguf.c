// test_gguf.c — GGUF files: the reader on files built byte by byte here from the
// format's specification (a small emitter of our own, independent of the writer,
// following llama.cpp's gguf-py conventions: version 3, keys in order, alignment
// 32, zero padding after the tensor infos and after every tensor's data), the
// writer against that emitter byte for byte, the reader's refusal of malformed
// files (each message naming the file and the problem), and the config and
// tokenizer mappings written and read back.
#include <criterion/criterion.h>

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/dtype.h"        // defines: is_f32_to_f16, is_f32_to_bf16
#include "base/quant.h"        // defines: is_quantize_row
#include "engine/config.h"     // defines: is_config
#include "engine/gguf.h"       // defines: is_gguf_open, is_gguf_writer, is_gguf_config, is_gguf_tokenizer
#include "engine/tokenizer.h"  // defines: is_tok_load_builtin, is_tok_encode, is_tok_decode
#include "support/testutil.h"  // defines: tu_mkdtemp, tu_rm_rf

// ---- a temporary directory per test ---------------------------------------------------

static char tmp_dir[256];

static void tmp_setup(void) { tu_mkdtemp(tmp_dir, sizeof tmp_dir); }
static void tmp_teardown(void) { tu_rm_rf(tmp_dir); }

TestSuite(gguf, .init = tmp_setup, .fini = tmp_teardown);

static char *tmp_path(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    cr_assert_eq(n ? fwrite(p, 1, n, f) : 0, n);
    cr_assert_eq(fclose(f), 0);
}

static uint8_t *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    cr_assert_eq(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

// ---- the emitter: GGUF bytes from the specification ----------------------------------------
// Everything little-endian; a string is a u64 length and its bytes; a metadata
// pair is a key string, a u32 value type and the value; an array value is a u32
// element type, a u64 count and the elements; a tensor info is a name, u32 n_dims,
// n_dims u64 dims (ne[0] first), a u32 ggml type and a u64 offset into the data
// section, which starts at the next multiple of 32 after the infos.

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 };
enum { G_F32 = 0, G_F16 = 1, G_Q4_0 = 2, G_Q8_0 = 8, G_BF16 = 30 };

typedef struct em {
    uint8_t *p;
    size_t n, cap;
} em;

static void em_put(em *e, const void *s, size_t n) {
    if (e->n + n > e->cap) {
        e->cap = (e->n + n) * 2 + 64;
        e->p = realloc(e->p, e->cap);
        cr_assert_not_null(e->p);
    }
    if (n) memcpy(e->p + e->n, s, n);
    e->n += n;
}

static void em_le(em *e, uint64_t v, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        em_put(e, &b, 1);
    }
}

static void em_strn(em *e, const char *s, size_t n) {
    em_le(e, n, 8);
    em_put(e, s, n);
}
static void em_str(em *e, const char *s) { em_strn(e, s, strlen(s)); }
static void em_f32(em *e, float f) {
    uint32_t b;
    memcpy(&b, &f, 4);
    em_le(e, b, 4);
}
static void em_f64(em *e, double d) {
    uint64_t b;
    memcpy(&b, &d, 8);
    em_le(e, b, 8);
}

static void em_header(em *e, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    em_put(e, "GGUF", 4);
    em_le(e, version, 4);
    em_le(e, n_tensors, 8);
    em_le(e, n_kv, 8);
}

static void em_key(em *e, const char *key, uint32_t type) {
    em_str(e, key);
    em_le(e, type, 4);
}
static void em_kv_u32(em *e, const char *key, uint32_t v) {
    em_key(e, key, T_U32);
    em_le(e, v, 4);
}
static void em_kv_str(em *e, const char *key, const char *v) {
    em_key(e, key, T_STR);
    em_str(e, v);
}
static void em_kv_f32(em *e, const char *key, float v) {
    em_key(e, key, T_F32);
    em_f32(e, v);
}
static void em_kv_bool(em *e, const char *key, bool v) {
    em_key(e, key, T_BOOL);
    em_le(e, v, 1);
}
static void em_arr(em *e, const char *key, uint32_t elem, uint64_t n) {
    em_key(e, key, T_ARR);
    em_le(e, elem, 4);
    em_le(e, n, 8);
}

static void em_info(em *e, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off) {
    em_str(e, name);
    em_le(e, n_dims, 4);
    for (uint32_t d = 0; d < n_dims; d++) em_le(e, ne[d], 8);
    em_le(e, type, 4);
    em_le(e, off, 8);
}

static void em_pad(em *e, size_t a) {
    while (e->n % a) em_le(e, 0, 1);
}

static const char *em_save(em *e, const char *name) {
    const char *p = tmp_path(name);
    write_bytes(p, e->p, e->n);
    return p;
}

static void em_free(em *e) {
    free(e->p);
    *e = (em){0};
}

// ---- opening, and expecting a refusal --------------------------------------------------------

static void open_ok(const char *path, is_gguf *g) {
    is_err err = {{0}};
    cr_assert_eq(is_gguf_open(path, g, &err), 0, "%s", err.msg);
}

// The file is refused, the message names the file and holds want.
static void expect_refused(em *e, const char *want) {
    const char *path = em_save(e, "bad.gguf");
    is_gguf g;
    is_err err = {{0}};
    cr_assert_neq(is_gguf_open(path, &g, &err), 0, "accepted a file that should fail with '%s'", want);
    cr_assert(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    cr_assert(strstr(err.msg, want), "message lacks '%s': %s", want, err.msg);
    cr_assert_null(g.map, "a refused file stays unmapped");
    em_free(e);
}

// ---- the fixture with every metadata type and five tensor types -----------------------------

// Tensor data: F32 [3, 2], F16 [5], BF16 [2, 2, 2], Q8_0 [64, 2], Q4_0 [32, 1, 2, 1].
typedef struct fx_tensor {
    const char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t nbytes;
    uint8_t data[160];
} fx_tensor;

static void fx_fill(fx_tensor *t) {
    float v[128];
    for (int k = 0; k < 128; k++) v[k] = (float)(k - 40) * 0.375f;
    switch (t->type) {
    case G_F32: memcpy(t->data, v, 24); break;
    case G_F16:
        for (int k = 0; k < 5; k++) {
            uint16_t h = is_f32_to_f16(v[k]);
            memcpy(t->data + 2 * k, &h, 2);
        }
        break;
    case G_BF16:
        for (int k = 0; k < 8; k++) {
            uint16_t h = is_f32_to_bf16(v[k]);
            memcpy(t->data + 2 * k, &h, 2);
        }
        break;
    case G_Q8_0:
        is_quantize_row(IS_DTYPE_Q8_0, v, t->data, 64);
        is_quantize_row(IS_DTYPE_Q8_0, v + 64, t->data + 68, 64);
        break;
    case G_Q4_0:
        is_quantize_row(IS_DTYPE_Q4_0, v, t->data, 32);
        is_quantize_row(IS_DTYPE_Q4_0, v + 32, t->data + 18, 32);
        break;
    }
}

static fx_tensor fx_tensors[] = {
    {"w.f32", G_F32, 2, {3, 2, 1, 1}, 24, {0}},
    {"w.f16", G_F16, 1, {5, 1, 1, 1}, 10, {0}},
    {"w.bf16", G_BF16, 3, {2, 2, 2, 1}, 16, {0}},
    {"w.q8_0", G_Q8_0, 2, {64, 2, 1, 1}, 136, {0}},
    {"w.q4_0", G_Q4_0, 4, {32, 1, 2, 1}, 36, {0}},
};
#define FX_N_TENSORS 5
#define FX_N_KV 20

static const char *const fx_strs[] = {"a", "", "\xe6\x97\xa5\xe6\x9c\xac", "x y"};

// Builds the fixture (version given) into e; the offsets of the tensors into off.
static void fx_build(em *e, uint32_t version, uint64_t *off) {
    em_header(e, version, FX_N_TENSORS, FX_N_KV);
    em_kv_str(e, "general.architecture", "llama");
    em_key(e, "t.u8", T_U8), em_le(e, 200, 1);
    em_key(e, "t.i8", T_I8), em_le(e, (uint8_t)(int8_t)-100, 1);
    em_key(e, "t.u16", T_U16), em_le(e, 60000, 2);
    em_key(e, "t.i16", T_I16), em_le(e, (uint16_t)(int16_t)-30000, 2);
    em_kv_u32(e, "t.u32", 4000000000u);
    em_key(e, "t.i32", T_I32), em_le(e, (uint32_t)(int32_t)-2000000000, 4);
    em_kv_f32(e, "t.f32", 0.15625f);
    em_kv_bool(e, "t.bool", true);
    em_kv_str(e, "t.str", "h\xc3\xa9llo");
    em_key(e, "t.u64", T_U64), em_le(e, 0xfedcba9876543210ull, 8);
    em_key(e, "t.i64", T_I64), em_le(e, (uint64_t)(int64_t)-1234567890123ll, 8);
    em_key(e, "t.f64", T_F64), em_f64(e, -2.5e-300);
    em_arr(e, "t.arr_str", T_STR, 4);
    for (int i = 0; i < 4; i++) em_str(e, fx_strs[i]);
    em_arr(e, "t.arr_i32", T_I32, 3), em_le(e, 1, 4), em_le(e, (uint32_t)-2, 4), em_le(e, 3, 4);
    em_arr(e, "t.arr_f32", T_F32, 2), em_f32(e, 0.5f), em_f32(e, -1.25f);
    em_arr(e, "t.arr_u8", T_U8, 3), em_le(e, 1, 1), em_le(e, 2, 1), em_le(e, 255, 1);
    em_arr(e, "t.arr_bool", T_BOOL, 2), em_le(e, 1, 1), em_le(e, 0, 1);
    em_arr(e, "t.arr_f64", T_F64, 1), em_f64(e, 1e300);
    em_arr(e, "t.arr_empty", T_I64, 0);
    uint64_t o = 0;
    for (int i = 0; i < FX_N_TENSORS; i++) {
        fx_tensor *t = &fx_tensors[i];
        fx_fill(t);
        off[i] = o;
        em_info(e, t->name, t->n_dims, t->ne, t->type, o);
        o += (t->nbytes + 31) / 32 * 32;
    }
    em_pad(e, 32);
    for (int i = 0; i < FX_N_TENSORS; i++) {
        em_put(e, fx_tensors[i].data, fx_tensors[i].nbytes);
        em_pad(e, 32);
    }
}

static void check_fixture(const is_gguf *g, uint32_t version, const uint64_t *off) {
    is_err err = {{0}};
    cr_assert_eq(g->version, version);
    cr_assert_eq(g->alignment, 32);
    cr_assert_eq(g->n_kv, FX_N_KV);
    cr_assert_eq(g->n_tensors, FX_N_TENSORS);
    // file order is kept
    const char *const order[FX_N_KV] = {"general.architecture", "t.u8", "t.i8", "t.u16", "t.i16", "t.u32", "t.i32",
                                        "t.f32", "t.bool", "t.str", "t.u64", "t.i64", "t.f64", "t.arr_str",
                                        "t.arr_i32", "t.arr_f32", "t.arr_u8", "t.arr_bool", "t.arr_f64",
                                        "t.arr_empty"};
    for (int i = 0; i < FX_N_KV; i++) {
        cr_assert_str_eq(g->kv[i].key, order[i]);
        cr_assert_eq(is_gguf_find(g, order[i]), &g->kv[i]);
    }
    cr_assert_null(is_gguf_find(g, "t.missing"));
    uint64_t u;
    int64_t s;
    double d;
    bool b;
    const char *str;
    size_t len;
    cr_assert_eq(is_gguf_get_u64(g, "t.u8", &u, &err), 0); cr_assert_eq(u, 200);
    cr_assert_eq(is_gguf_get_i64(g, "t.i8", &s, &err), 0); cr_assert_eq(s, -100);
    cr_assert_eq(is_gguf_get_u64(g, "t.u16", &u, &err), 0); cr_assert_eq(u, 60000);
    cr_assert_eq(is_gguf_get_i64(g, "t.i16", &s, &err), 0); cr_assert_eq(s, -30000);
    cr_assert_eq(is_gguf_get_u64(g, "t.u32", &u, &err), 0); cr_assert_eq(u, 4000000000u);
    cr_assert_eq(is_gguf_get_i64(g, "t.i32", &s, &err), 0); cr_assert_eq(s, -2000000000);
    cr_assert_eq(is_gguf_get_f64(g, "t.f32", &d, &err), 0); cr_assert_eq(d, 0.15625);
    cr_assert_eq(is_gguf_get_bool(g, "t.bool", &b, &err), 0); cr_assert(b);
    cr_assert_eq(is_gguf_get_str(g, "t.str", &str, &len, &err), 0);
    cr_assert_eq(len, 6); cr_assert(!memcmp(str, "h\xc3\xa9llo", 6));
    cr_assert_eq(is_gguf_get_u64(g, "t.u64", &u, &err), 0); cr_assert_eq(u, 0xfedcba9876543210ull);
    cr_assert_eq(is_gguf_get_i64(g, "t.i64", &s, &err), 0); cr_assert_eq(s, -1234567890123ll);
    cr_assert_eq(is_gguf_get_f64(g, "t.f64", &d, &err), 0); cr_assert_eq(d, -2.5e-300);
    cr_assert_eq(is_gguf_get_f64(g, "t.i16", &d, &err), 0); cr_assert_eq(d, -30000.0);
    // arrays
    const is_gguf_kv *kv;
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_str", IS_GGUF_STRING, &kv, &err), 0, "%s", err.msg);
    cr_assert_eq(kv->n, 4);
    for (int i = 0; i < 4; i++) {
        str = is_gguf_arr_str(kv, (uint64_t)i, &len);
        cr_assert_not_null(str);
        cr_assert_eq(len, strlen(fx_strs[i]));
        cr_assert(!memcmp(str, fx_strs[i], len));
    }
    cr_assert_null(is_gguf_arr_str(kv, 4, &len)); cr_assert_eq(len, 0);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_i32", IS_GGUF_I32, &kv, &err), 0);
    cr_assert_eq(kv->n, 3);
    cr_assert_eq(is_gguf_arr_int(kv, 0), 1); cr_assert_eq(is_gguf_arr_int(kv, 1), -2);
        cr_assert_eq(is_gguf_arr_int(kv, 2), 3);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_f32", IS_GGUF_ARRAY, &kv, &err), 0); // any element type
    cr_assert_eq(is_gguf_arr_f64(kv, 0), 0.5); cr_assert_eq(is_gguf_arr_f64(kv, 1), -1.25);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_u8", IS_GGUF_U8, &kv, &err), 0);
    cr_assert_eq(is_gguf_arr_int(kv, 2), 255);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_bool", IS_GGUF_BOOL, &kv, &err), 0);
    cr_assert_eq(kv->n, 2); cr_assert_eq(kv->data[0], 1); cr_assert_eq(kv->data[1], 0);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_f64", IS_GGUF_F64, &kv, &err), 0);
    cr_assert_eq(is_gguf_arr_f64(kv, 0), 1e300);
    cr_assert_eq(is_gguf_get_arr(g, "t.arr_empty", IS_GGUF_I64, &kv, &err), 0);
    cr_assert_eq(kv->n, 0);
    // tensors: names, types, shapes, offsets, bytes
    for (int i = 0; i < FX_N_TENSORS; i++) {
        const fx_tensor *f = &fx_tensors[i];
        const is_gguf_tensor *t = &g->tensors[i];
        cr_assert_str_eq(t->name, f->name);
        cr_assert_eq(is_gguf_find_tensor(g, f->name), t);
        cr_assert_eq(t->ggml_type, f->type);
        cr_assert_eq(t->n_dims, (int)f->n_dims);
        for (int k = 0; k < 4; k++) cr_assert_eq(t->ne[k], (int64_t)f->ne[k], "%s ne[%d]", f->name, k);
        cr_assert_eq(t->offset, off[i]);
        cr_assert_eq(t->nbytes, f->nbytes);
        cr_assert_eq((const uint8_t *)t->data, g->data + off[i]);
        cr_assert(!memcmp(t->data, f->data, f->nbytes), "%s: bytes differ", f->name);
        cr_assert_eq(((uintptr_t)t->data) % 32, 0, "tensor data is 32-byte aligned in memory");
    }
    cr_assert_null(is_gguf_find_tensor(g, "w.none"));
    cr_assert_str_eq(is_gguf_type_name(G_Q8_0), "Q8_0");
    cr_assert_str_eq(is_gguf_type_name(14), "Q6_K");
    cr_assert_str_eq(is_gguf_type_name(4), "unknown");
    cr_assert_eq(is_gguf_dtype(G_Q4_0), IS_DTYPE_Q4_0);
    cr_assert_eq(is_gguf_dtype(14), -1);
    cr_assert_eq(is_gguf_ggml_type(IS_DTYPE_BF16), G_BF16);
    cr_assert_eq(is_gguf_ggml_type(IS_DTYPE_I8), -1);
}

Test(gguf, reads_every_metadata_type_and_tensor_type) {
    for (uint32_t version = 2; version <= 3; version++) {
        em e = {0};
        uint64_t off[FX_N_TENSORS];
        fx_build(&e, version, off);
        const char *path = em_save(&e, "all.gguf");
        is_gguf g;
        open_ok(path, &g);
        cr_assert_str_eq(g.path, path);
        check_fixture(&g, version, off);
        is_gguf_close(&g);
        em_free(&e);
    }
}

Test(gguf, getters_refuse_the_wrong_type_and_say_so) {
    em e = {0};
    uint64_t off[FX_N_TENSORS];
    fx_build(&e, 3, off);
    const char *path = em_save(&e, "all.gguf");
    is_gguf g;
    open_ok(path, &g);
    is_err err = {{0}};
    uint64_t u = 7;
    int64_t s;
    double d;
    bool b;
    const char *str;
    size_t len;
    const is_gguf_kv *kv;
    // absent: 1, and the error is left alone
    cr_assert_eq(is_gguf_get_u64(&g, "t.absent", &u, &err), 1);
    cr_assert_eq(u, 7); cr_assert_eq(err.msg[0], '\0');
    cr_assert_eq(is_gguf_get_str(&g, "t.absent", &str, &len, &err), 1);
    cr_assert_eq(is_gguf_get_arr(&g, "t.absent", IS_GGUF_STRING, &kv, &err), 1);
    cr_assert_eq(err.msg[0], '\0');
    // wrong type or out of range: -1 naming the file, the key and what was expected
    const struct {
        const char *key;
        int which;
        const char *want;
    } one[] = {
        {"t.i8", 0, "'t.i8' is -100, expected a non-negative integer"},
        {"t.u64", 1, "'t.u64' is 18364758544493064720, more than 2^63 - 1"},
        {"t.u32", 2, "'t.u32' is u32, expected string"},
        {"t.str", 3, "'t.str' is string, expected bool"},
        {"t.arr_f32", 4, "'t.arr_f32' is an array of f32, expected a number"},
        {"t.arr_str", 5, "'t.arr_str' is an array of string, expected an array of i32"},
        {"t.str", 6, "'t.str' is string, expected an integer"},
    };
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        err.msg[0] = '\0';
        int rc = 0;
        switch (one[i].which) {
        case 0: rc = is_gguf_get_u64(&g, one[i].key, &u, &err); break;
        case 1: rc = is_gguf_get_i64(&g, one[i].key, &s, &err); break;
        case 2: rc = is_gguf_get_str(&g, one[i].key, &str, &len, &err); break;
        case 3: rc = is_gguf_get_bool(&g, one[i].key, &b, &err); break;
        case 4: rc = is_gguf_get_f64(&g, one[i].key, &d, &err); break;
        case 5: rc = is_gguf_get_arr(&g, one[i].key, IS_GGUF_I32, &kv, &err); break;
        case 6: rc = is_gguf_get_u64(&g, one[i].key, &u, &err); break;
        }
        cr_assert_eq(rc, -1, "%s", one[i].key);
        cr_assert(strstr(err.msg, path), "%s", err.msg);
        cr_assert(strstr(err.msg, one[i].want), "want '%s': %s", one[i].want, err.msg);
    }
    // element reads of the wrong kind give nothing rather than garbage
    cr_assert_eq(is_gguf_get_arr(&g, "t.arr_i32", IS_GGUF_I32, &kv, &err), 0);
    cr_assert_null(is_gguf_arr_str(kv, 0, &len));
    cr_assert_eq(is_gguf_arr_int(kv, 3), 0);
    cr_assert(isnan(is_gguf_arr_f64(kv, 3)));
    is_gguf_close(&g);
    em_free(&e);
}

// ---- the small file the malformed cases start from -----------------------------------------
// Two metadata pairs and two F32 tensors, "a" [4] at 0 and "b" [8] at 32: the file
// ends with b's last byte (32 bytes: no padding after it), so every shorter file
// is missing something the reader needs.

static void small_kvs(em *e) {
    em_kv_str(e, "general.architecture", "llama");
    em_kv_u32(e, "test.n", 7);
}

static void small_data(em *e, uint64_t n_bytes) {
    for (uint64_t i = 0; i < n_bytes; i++) em_le(e, (uint8_t)(i * 7 + 1), 1);
}

static void small_build(em *e) {
    em_header(e, 3, 2, 2);
    small_kvs(e);
    em_info(e, "a", 1, (const uint64_t[]){4}, G_F32, 0);
    em_info(e, "b", 1, (const uint64_t[]){8}, G_F32, 32);
    em_pad(e, 32);
    small_data(e, 16);
    em_pad(e, 32);
    small_data(e, 32);
}

Test(gguf, the_small_file_reads) {
    em e = {0};
    small_build(&e);
    cr_assert_eq(e.n, 224);
    is_gguf g;
    open_ok(em_save(&e, "small.gguf"), &g);
    cr_assert_eq(g.n_tensors, 2);
    cr_assert_eq(g.data_size, 64);
    cr_assert_eq(g.tensors[1].offset, 32);
    cr_assert_eq(g.tensors[1].nbytes, 32);
    is_gguf_close(&g);
    em_free(&e);
}

Test(gguf, every_truncation_is_refused) {
    em e = {0};
    small_build(&e);
    const char *path = tmp_path("cut.gguf");
    int truncated = 0;
    for (size_t n = 0; n < e.n; n++) {
        write_bytes(path, e.p, n);
        is_gguf g;
        is_err err = {{0}};
        cr_assert_neq(is_gguf_open(path, &g, &err), 0, "a file cut to %zu of %zu bytes was accepted", n, e.n);
        cr_assert(strstr(err.msg, path), "cut to %zu: %s", n, err.msg);
        truncated += strstr(err.msg, "truncated") != NULL || strstr(err.msg, "runs past the end") != NULL ||
                     strstr(err.msg, "bytes left in the file") != NULL;
    }
    // every cut is said to be one: bytes missing, or a count the bytes left cannot hold
    cr_assert_eq(truncated, (int)e.n, "%d of %zu messages say the file is short", truncated, e.n);
    em_free(&e);
}

// ---- malformed headers and metadata --------------------------------------------------------

Test(gguf, bad_magic) {
    em e = {0};
    small_build(&e);
    memcpy(e.p, "GGML", 4);
    expect_refused(&e, "magic is 47 47 4d 4c, expected \"GGUF\"");
}

Test(gguf, versions_1_and_4_are_refused_by_number) {
    for (uint32_t v = 0; v <= 5; v++) {
        if (v == 2 || v == 3) continue;
        em e = {0};
        small_build(&e);
        e.p[4] = (uint8_t)v;
        char want[64];
        snprintf(want, sizeof want, "version %u is not supported (expected 2 or 3)", v);
        expect_refused(&e, want);
    }
    em e = {0};
    small_build(&e);
    e.p[4] = 0, e.p[7] = 3; // version 3 written big-endian
    expect_refused(&e, "big-endian");
}

// A header with these counts and then filler: 100 bytes in all.
static void huge_counts(em *e, uint64_t n_tensors, uint64_t n_kv) {
    em_header(e, 3, n_tensors, n_kv);
    while (e->n < 100) em_le(e, 0, 1);
}

Test(gguf, huge_counts_are_refused_before_allocating) {
    em e = {0};
    huge_counts(&e, (uint64_t)1 << 60, 0);
    expect_refused(&e, "tensor count 1152921504606846976 is more than the 76 bytes left");
    huge_counts(&e, 0, (uint64_t)1 << 60);
    expect_refused(&e, "metadata count 1152921504606846976 is more than the 76 bytes left");
    huge_counts(&e, UINT64_MAX, UINT64_MAX);
    expect_refused(&e, "metadata count 18446744073709551615");
    // a count just above what the bytes could hold
    huge_counts(&e, 0, 76 / 14 + 1);
    expect_refused(&e, "at most 5 pairs");
}

Test(gguf, string_lengths_past_the_end) {
    em e = {0};
    em_header(&e, 3, 0, 1);
    em_le(&e, 1000, 8); // key length
    em_str(&e, "short");
    expect_refused(&e, "metadata #0: key: length 1000 runs past the end of the file");
    em_header(&e, 3, 0, 1);
    em_key(&e, "k", T_STR);
    em_le(&e, UINT64_MAX, 8);
    expect_refused(&e, "metadata #0 'k': string value: length 18446744073709551615 runs past the end");
    em_header(&e, 3, 1, 0);
    em_le(&e, (uint64_t)1 << 62, 8); // tensor name length
    em_put(&e, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
    expect_refused(&e, "tensor #0: name: length 4611686018427387904 runs past the end");
}

Test(gguf, array_counts_past_the_end) {
    em e = {0};
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_U32, (uint64_t)1 << 62);
    em_le(&e, 1, 4);
    expect_refused(&e, "metadata #0 'k': array: 4611686018427387904 values of type u32 need more than the 4 bytes");
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_STR, UINT64_MAX);
    em_str(&e, "x");
    expect_refused(&e, "array count 18446744073709551615 of strings");
    // a count the bytes could hold, then a string that runs out
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_STR, 2);
    em_str(&e, "x");
    em_le(&e, 50, 8);
    em_put(&e, "yy", 2);
    expect_refused(&e, "metadata #0 'k': element 1: length 50 runs past the end");
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_STR, 3);
    em_str(&e, "xxxxxxxxxxxx");
    em_str(&e, "yyyyyyyyyyyy");
    em_le(&e, 0, 4); // half of element 2's length, and the file ends
    expect_refused(&e, "metadata #0 'k': element 2 length: truncated: needs 8 bytes");
}

Test(gguf, nested_arrays_and_unknown_types) {
    em e = {0};
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_ARR, 1);
    em_le(&e, T_U8, 4), em_le(&e, 1, 8), em_le(&e, 5, 1);
    expect_refused(&e, "metadata #0 'k': an array of arrays (nested arrays are not supported");
    em_header(&e, 3, 0, 1);
    em_key(&e, "k", 13);
    em_le(&e, 0, 8);
    expect_refused(&e, "metadata #0 'k': unknown value type 13 (expected 0 to 12)");
    em_header(&e, 3, 0, 1);
    em_key(&e, "k", 0x80000000u);
    em_le(&e, 0, 8);
    expect_refused(&e, "unknown value type 2147483648");
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", 99, 1);
    em_le(&e, 0, 8);
    expect_refused(&e, "metadata #0 'k': unknown array element type 99");
    em_header(&e, 3, 0, 1);
    em_key(&e, "k", T_BOOL), em_le(&e, 2, 1);
    expect_refused(&e, "metadata #0 'k': value: boolean element 0 is 2, expected 0 or 1");
    em_header(&e, 3, 0, 1);
    em_arr(&e, "k", T_BOOL, 3), em_le(&e, 1, 1), em_le(&e, 0, 1), em_le(&e, 7, 1);
    expect_refused(&e, "boolean element 2 is 7");
}

Test(gguf, keys_empty_with_nul_or_twice) {
    em e = {0};
    em_header(&e, 3, 0, 1);
    em_kv_u32(&e, "", 1);
    expect_refused(&e, "metadata #0: key is empty");
    em_header(&e, 3, 0, 1);
    em_strn(&e, "a\0b", 3), em_le(&e, T_U32, 4), em_le(&e, 1, 4);
    expect_refused(&e, "holds a NUL byte");
    em_header(&e, 3, 0, 3);
    em_kv_u32(&e, "x.y", 1);
    em_kv_u32(&e, "a", 2);
    em_kv_str(&e, "x.y", "again");
    expect_refused(&e, "metadata key 'x.y' appears twice (pairs #0 and #2)");
}

Test(gguf, general_alignment_must_be_a_u32_power_of_two) {
    const uint32_t bad[] = {0, 3, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        em e = {0};
        em_header(&e, 3, 0, 1);
        em_kv_u32(&e, "general.alignment", bad[i]);
        char want[96];
        snprintf(want, sizeof want, "'general.alignment' is %u, expected a power of two", bad[i]);
        expect_refused(&e, want);
    }
    em e = {0};
    em_header(&e, 3, 0, 1);
    em_key(&e, "general.alignment", T_U64), em_le(&e, 32, 8);
    expect_refused(&e, "'general.alignment' is u64, expected u32");
    em_header(&e, 3, 0, 1);
    em_kv_str(&e, "general.alignment", "32");
    expect_refused(&e, "'general.alignment' is string, expected u32");
    em_header(&e, 3, 0, 1);
    em_arr(&e, "general.alignment", T_U32, 1), em_le(&e, 32, 4);
    expect_refused(&e, "'general.alignment' is an array of u32, expected u32");
}

Test(gguf, a_custom_alignment_places_the_data) {
    em e = {0};
    em_header(&e, 3, 2, 1);
    em_kv_u32(&e, "general.alignment", 64);
    em_info(&e, "a", 1, (const uint64_t[]){4}, G_F32, 0);
    em_info(&e, "b", 1, (const uint64_t[]){2}, G_F16, 64);
    em_pad(&e, 64);
    size_t start = e.n;
    small_data(&e, 16);
    em_pad(&e, 64);
    small_data(&e, 4);
    is_gguf g;
    open_ok(em_save(&e, "a64.gguf"), &g);
    cr_assert_eq(g.alignment, 64);
    cr_assert_eq(g.data, (const uint8_t *)g.map + start);
    cr_assert_eq((const uint8_t *)g.tensors[1].data, (const uint8_t *)g.map + start + 64);
    is_gguf_close(&g);
    em_free(&e);
    // the same offsets against an alignment of 128: b is no longer aligned
    em_header(&e, 3, 2, 1);
    em_kv_u32(&e, "general.alignment", 128);
    em_info(&e, "a", 1, (const uint64_t[]){4}, G_F32, 0);
    em_info(&e, "b", 1, (const uint64_t[]){2}, G_F16, 64);
    em_pad(&e, 128);
    small_data(&e, 128 + 4);
    expect_refused(&e, "tensor 'b': offset 64 is not a multiple of the alignment 128");
}

// ---- malformed tensor infos ---------------------------------------------------------------------

// One tensor info (name "t") and data_bytes of data after the padding.
static void one_tensor(em *e, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off, uint64_t data_bytes) {
    em_header(e, 3, 1, 0);
    em_info(e, "t", n_dims, ne, type, off);
    em_pad(e, 32);
    small_data(e, data_bytes);
}

Test(gguf, n_dims_must_be_1_to_4) {
    em e = {0};
    one_tensor(&e, 0, NULL, G_F32, 0, 4);
    expect_refused(&e, "tensor #0 't': n_dims is 0, expected 1 to 4");
    one_tensor(&e, 5, (const uint64_t[]){1, 1, 1, 1, 1}, G_F32, 0, 4);
    expect_refused(&e, "tensor #0 't': n_dims is 5, expected 1 to 4");
    em_header(&e, 3, 1, 0);
    em_str(&e, "t"), em_le(&e, 0xffffffffu, 4);
    small_data(&e, 40);
    expect_refused(&e, "n_dims is 4294967295");
}

Test(gguf, dims_that_overflow) {
    em e = {0};
    one_tensor(&e, 2, (const uint64_t[]){(uint64_t)1 << 40, (uint64_t)1 << 40}, G_F32, 0, 4);
    expect_refused(&e, "tensor #0 't': shape [1099511627776, 1099511627776] has more than 2^63 elements");
    one_tensor(&e, 4, (const uint64_t[]){1 << 16, 1 << 16, 1 << 16, 1 << 16}, G_F16, 0, 4);
    expect_refused(&e, "has more than 2^63 elements");
    // elements fit, bytes do not: 2^62 F32 elements are 2^64 bytes
    one_tensor(&e, 1, (const uint64_t[]){(uint64_t)1 << 62}, G_F32, 0, 4);
    expect_refused(&e, "tensor #0 't': shape [4611686018427387904] of F32 needs more than 2^64 bytes");
    // a dim above 2^63 - 1 is no int64
    one_tensor(&e, 2, (const uint64_t[]){4, (uint64_t)1 << 63}, G_F32, 0, 4);
    expect_refused(&e, "tensor #0 't': ne[1] is 9223372036854775808, more than 2^63 - 1");
    // a zero dim makes the tensor empty, but the others must still multiply out
    one_tensor(&e, 3, (const uint64_t[]){(uint64_t)1 << 40, 0, (uint64_t)1 << 40}, G_F32, 0, 4);
    expect_refused(&e, "more than 2^63 elements");
}

Test(gguf, rows_must_be_whole_blocks) {
    em e = {0};
    one_tensor(&e, 2, (const uint64_t[]){33, 2}, G_Q8_0, 0, 200);
    expect_refused(&e, "tensor #0 't': rows of 33 elements are not whole Q8_0 blocks of 32 (shape [33, 2])");
    one_tensor(&e, 1, (const uint64_t[]){128}, 14 /* Q6_K */, 0, 300);
    expect_refused(&e, "rows of 128 elements are not whole Q6_K blocks of 256");
    // a whole block of a type the engine does not hold is read (its size is known)
    one_tensor(&e, 1, (const uint64_t[]){256}, 14, 0, 210);
    is_gguf g;
    open_ok(em_save(&e, "q6k.gguf"), &g);
    cr_assert_eq(g.tensors[0].nbytes, 210);
    cr_assert_eq(is_gguf_dtype(g.tensors[0].ggml_type), -1);
    is_gguf_close(&g);
    em_free(&e);
}

Test(gguf, unknown_tensor_types_are_named) {
    const uint32_t bad[] = {4, 5, 31, 36, 43, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        em e = {0};
        one_tensor(&e, 1, (const uint64_t[]){32}, bad[i], 0, 128);
        char want[96];
        snprintf(want, sizeof want, "tensor #0 't': unknown tensor type %u", bad[i]);
        expect_refused(&e, want);
    }
}

Test(gguf, offsets_unaligned_or_past_the_end) {
    em e = {0};
    one_tensor(&e, 1, (const uint64_t[]){4}, G_F32, 8, 64);
    expect_refused(&e, "tensor 't': offset 8 is not a multiple of the alignment 32");
    one_tensor(&e, 1, (const uint64_t[]){4}, G_F32, 1024, 64);
    expect_refused(&e, "tensor 't': data at offset 1024 of 16 bytes runs past the end of the data section (64 bytes)");
    one_tensor(&e, 1, (const uint64_t[]){8}, G_F32, 32, 63);
    expect_refused(&e, "data at offset 32 of 32 bytes runs past the end of the data section (63 bytes)");
    one_tensor(&e, 1, (const uint64_t[]){4}, G_F32, UINT64_MAX - 31, 64);
    expect_refused(&e, "runs past the end of the data section");
    // the data section itself starts past the end: the padding after the infos is missing
    em_header(&e, 3, 1, 0);
    em_info(&e, "t", 1, (const uint64_t[]){0}, G_F32, 0);
    expect_refused(&e, "the data section starts at offset 64");
}

Test(gguf, overlapping_tensors) {
    em e = {0};
    em_header(&e, 3, 3, 0);
    em_info(&e, "a", 1, (const uint64_t[]){16}, G_F32, 0);
    em_info(&e, "b", 1, (const uint64_t[]){4}, G_F32, 32);
    em_info(&e, "c", 1, (const uint64_t[]){8}, G_F32, 96);
    em_pad(&e, 32);
    small_data(&e, 128);
    expect_refused(&e, "tensors 'a' and 'b' overlap (bytes [0, 64) and [32, 48) of the data section)");
    // empty tensors hold no bytes: they may sit anywhere in range
    em_header(&e, 3, 3, 0);
    em_info(&e, "a", 1, (const uint64_t[]){8}, G_F32, 0);
    em_info(&e, "e", 2, (const uint64_t[]){0, 5}, G_F32, 0);
    em_info(&e, "b", 1, (const uint64_t[]){8}, G_F32, 32);
    em_pad(&e, 32);
    small_data(&e, 64);
    is_gguf g;
    open_ok(em_save(&e, "empty.gguf"), &g);
    cr_assert_eq(g.tensors[1].nbytes, 0);
    cr_assert_eq(g.tensors[1].ne[1], 5);
    is_gguf_close(&g);
    em_free(&e);
}

Test(gguf, tensor_names_empty_long_or_twice) {
    em e = {0};
    em_header(&e, 3, 2, 0);
    em_info(&e, "w", 1, (const uint64_t[]){8}, G_F32, 0);
    em_info(&e, "w", 1, (const uint64_t[]){8}, G_F32, 32);
    em_pad(&e, 32);
    small_data(&e, 64);
    expect_refused(&e, "tensor name 'w' appears twice (tensors #0 and #1)");
    one_tensor(&e, 1, (const uint64_t[]){4}, G_F32, 0, 16);
    e.p[24] = 0; // name length 1 -> 0: the name's byte becomes part of n_dims
    expect_refused(&e, "tensor #0: name is empty");
    char name[80];
    memset(name, 'n', 65);
    name[65] = '\0';
    em_header(&e, 3, 1, 0);
    em_info(&e, name, 1, (const uint64_t[]){4}, G_F32, 0);
    em_pad(&e, 32);
    small_data(&e, 16);
    expect_refused(&e, "tensor #0: name is 65 bytes long, the format allows at most 64");
}

// ---- the writer -----------------------------------------------------------------------------

// Tensor i's bytes: (i * 31 + k) mod 256.
static int fill_pattern(void *user, int index, void *dst, uint64_t nbytes, is_err *err) {
    (void)user, (void)err;
    for (uint64_t k = 0; k < nbytes; k++) ((uint8_t *)dst)[k] = (uint8_t)(index * 31 + k);
    return 0;
}

static int fill_zero(void *user, int index, void *dst, uint64_t nbytes, is_err *err) {
    (void)user, (void)index, (void)err;
    memset(dst, 0, (size_t)nbytes);
    return 0;
}

static int fill_fail_second(void *user, int index, void *dst, uint64_t nbytes, is_err *err) {
    if (index == 1) return is_errf(err, "boom");
    return fill_pattern(user, index, dst, nbytes, err);
}

// The writer's content for the byte comparison: metadata of every type it writes,
// and F32, F16, Q8_0 and Q4_0 tensors.
static is_gguf_writer *writer_content(void) {
    is_gguf_writer *w = is_gguf_writer_new();
    is_gguf_set_str(w, "general.architecture", "llama");
    is_gguf_set_str(w, "general.name", "first");
    is_gguf_set_u32(w, "llama.block_count", 2);
    is_gguf_set_f32(w, "llama.rope.freq_base", 10000.0f);
    is_gguf_set_i32(w, "t.i32", -5);
    is_gguf_set_u64(w, "t.u64", (uint64_t)1 << 40);
    is_gguf_set_bool(w, "t.bool", true);
    const char *strs[] = {"a", "bc", ""};
    is_gguf_set_arr_str(w, "t.arr_str", strs, NULL, 3);
    const int32_t ints[] = {1, -1};
    is_gguf_set_arr_i32(w, "t.arr_i32", ints, 2);
    const float fl[] = {0.5f};
    is_gguf_set_arr_f32(w, "t.arr_f32", fl, 1);
    is_gguf_set_str(w, "general.name", "tiny"); // set again: keeps its place, takes the new value
    is_gguf_add_tensor(w, "a", IS_DTYPE_F32, 1, (const int64_t[]){4});
    is_gguf_add_tensor(w, "b", IS_DTYPE_F16, 2, (const int64_t[]){3, 2});
    is_gguf_add_tensor(w, "q", IS_DTYPE_Q8_0, 2, (const int64_t[]){32, 2});
    is_gguf_add_tensor(w, "z", IS_DTYPE_Q4_0, 1, (const int64_t[]){64});
    return w;
}

// The same content from the emitter, gguf-py's way.
static void emitter_content(em *e) {
    em_header(e, 3, 4, 10);
    em_kv_str(e, "general.architecture", "llama");
    em_kv_str(e, "general.name", "tiny");
    em_kv_u32(e, "llama.block_count", 2);
    em_kv_f32(e, "llama.rope.freq_base", 10000.0f);
    em_key(e, "t.i32", T_I32), em_le(e, (uint32_t)-5, 4);
    em_key(e, "t.u64", T_U64), em_le(e, (uint64_t)1 << 40, 8);
    em_kv_bool(e, "t.bool", true);
    em_arr(e, "t.arr_str", T_STR, 3), em_str(e, "a"), em_str(e, "bc"), em_str(e, "");
    em_arr(e, "t.arr_i32", T_I32, 2), em_le(e, 1, 4), em_le(e, (uint32_t)-1, 4);
    em_arr(e, "t.arr_f32", T_F32, 1), em_f32(e, 0.5f);
    const uint64_t nbytes[4] = {16, 12, 68, 36};
    em_info(e, "a", 1, (const uint64_t[]){4}, G_F32, 0);
    em_info(e, "b", 2, (const uint64_t[]){3, 2}, G_F16, 32);
    em_info(e, "q", 2, (const uint64_t[]){32, 2}, G_Q8_0, 64);
    em_info(e, "z", 1, (const uint64_t[]){64}, G_Q4_0, 160);
    em_pad(e, 32);
    for (int i = 0; i < 4; i++) {
        for (uint64_t k = 0; k < nbytes[i]; k++) em_le(e, (uint8_t)(i * 31 + k), 1);
        em_pad(e, 32);
    }
}

Test(gguf, writer_bytes_equal_the_emitters) {
    is_gguf_writer *w = writer_content();
    const char *path = tmp_path("w.gguf");
    is_err err = {{0}};
    cr_assert_eq(is_gguf_write(w, path, fill_pattern, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    cr_assert_eq(tu_count_entries(tmp_dir), 1, "a temporary file was left behind");
    em e = {0};
    emitter_content(&e);
    size_t n;
    uint8_t *got = read_bytes(path, &n);
    cr_assert_eq(n, e.n, "writer wrote %zu bytes, the emitter %zu", n, e.n);
    for (size_t i = 0; i < n; i++) cr_assert_eq(got[i], e.p[i], "first difference at byte %zu", i);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
    free(got);
    em_free(&e);
}

Test(gguf, writer_output_reads_back) {
    is_gguf_writer *w = writer_content();
    const char *path = tmp_path("w.gguf");
    is_err err = {{0}};
    cr_assert_eq(is_gguf_write(w, path, fill_pattern, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    is_gguf g;
    open_ok(path, &g);
    cr_assert_eq(g.version, 3);
    cr_assert_eq(g.n_kv, 10);
    cr_assert_null(is_gguf_find(&g, "general.alignment"), "the default alignment is not written, as gguf-py");
    const char *s;
    size_t len;
    int64_t i;
    uint64_t u;
    double d;
    bool b;
    const is_gguf_kv *kv;
    cr_assert_eq(is_gguf_get_str(&g, "general.name", &s, &len, &err), 0);
    cr_assert(len == 4 && !memcmp(s, "tiny", 4));
    cr_assert_eq(g.kv[1].key[8], 'n', "general.name kept its place");
    cr_assert_eq(is_gguf_get_i64(&g, "t.i32", &i, &err), 0); cr_assert_eq(i, -5);
    cr_assert_eq(is_gguf_get_u64(&g, "t.u64", &u, &err), 0); cr_assert_eq(u, (uint64_t)1 << 40);
    cr_assert_eq(is_gguf_get_f64(&g, "llama.rope.freq_base", &d, &err), 0); cr_assert_eq(d, 10000.0);
    cr_assert_eq(is_gguf_get_bool(&g, "t.bool", &b, &err), 0); cr_assert(b);
    cr_assert_eq(is_gguf_get_arr(&g, "t.arr_str", IS_GGUF_STRING, &kv, &err), 0);
    cr_assert_eq(kv->n, 3);
    s = is_gguf_arr_str(kv, 1, &len);
    cr_assert(len == 2 && !memcmp(s, "bc", 2));
    is_gguf_arr_str(kv, 2, &len);
    cr_assert_eq(len, 0);
    const int64_t ne0[4] = {4, 3, 32, 64};
    const uint64_t nb[4] = {16, 12, 68, 36};
    for (int t = 0; t < 4; t++) {
        cr_assert_eq(g.tensors[t].ne[0], ne0[t]);
        cr_assert_eq(g.tensors[t].nbytes, nb[t]);
        for (uint64_t k = 0; k < nb[t]; k++)
            cr_assert_eq(((const uint8_t *)g.tensors[t].data)[k], (uint8_t)(t * 31 + k));
    }
    cr_assert_eq(is_gguf_dtype(g.tensors[2].ggml_type), IS_DTYPE_Q8_0);
    is_gguf_close(&g);
}

Test(gguf, writer_leaves_nothing_behind_on_error) {
    const char *path = tmp_path("w.gguf");
    write_bytes(path, "old", 3);
    is_gguf_writer *w = writer_content();
    is_err err = {{0}};
    cr_assert_neq(is_gguf_write(w, path, fill_fail_second, NULL, &err), 0);
    is_gguf_writer_free(w);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "tensor 'b'") && strstr(err.msg, "boom"), "%s", err.msg);
    cr_assert_eq(tu_count_entries(tmp_dir), 1, "the temporary file was left behind");
    size_t n;
    uint8_t *old = read_bytes(path, &n);
    cr_assert(n == 3 && !memcmp(old, "old", 3), "the file in place was touched");
    free(old);
    // a directory that does not exist: no file, an error naming the path
    const char *nowhere = tmp_path("no/such/dir.gguf");
    w = writer_content();
    cr_assert_neq(is_gguf_write(w, nowhere, fill_pattern, NULL, &err), 0);
    cr_assert(strstr(err.msg, nowhere), "%s", err.msg);
    is_gguf_writer_free(w);
}

// The writer refuses w at is_gguf_write with a message holding want.
static void expect_write_refused(is_gguf_writer *w, const char *want) {
    const char *path = tmp_path("bad.gguf");
    is_err err = {{0}};
    cr_assert_neq(is_gguf_write(w, path, fill_zero, NULL, &err), 0, "expected '%s'", want);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, want), "want '%s': %s", want, err.msg);
    cr_assert_eq(tu_count_entries(tmp_dir), 0);
    is_gguf_writer_free(w);
}

Test(gguf, writer_refuses_what_llama_cpp_could_not_read) {
    is_gguf_writer *w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "x", IS_DTYPE_I8, 2, (const int64_t[]){4, 4});
    expect_write_refused(w, "tensor 'x': dtype INT8 has no GGUF type");
    w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "x", IS_DTYPE_F32, 5, (const int64_t[]){1, 1, 1, 1, 1});
    expect_write_refused(w, "tensor 'x': 5 dimensions, expected 1 to 4");
    w = is_gguf_writer_new();
    char name[70];
    memset(name, 'n', 64);
    name[64] = '\0';
    is_gguf_add_tensor(w, name, IS_DTYPE_F32, 1, (const int64_t[]){4});
    expect_write_refused(w, "a name must be 1 to 63 bytes");
    w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "x", IS_DTYPE_F32, 1, (const int64_t[]){4});
    is_gguf_add_tensor(w, "x", IS_DTYPE_F16, 1, (const int64_t[]){4});
    expect_write_refused(w, "tensor 'x' is added twice");
    w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "q", IS_DTYPE_Q8_0, 2, (const int64_t[]){33, 2});
    expect_write_refused(w, "tensor 'q': rows of 33 elements are not whole Q8_0 blocks of 32");
    w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "x", IS_DTYPE_F32, 2, (const int64_t[]){4, -1});
    expect_write_refused(w, "tensor 'x': ne[1] = -1 is negative");
    w = is_gguf_writer_new();
    is_gguf_add_tensor(w, "x", IS_DTYPE_F32, 2, (const int64_t[]){(int64_t)1 << 62, 8});
    expect_write_refused(w, "tensor 'x': its size overflows 64 bits");
    w = is_gguf_writer_new();
    is_gguf_set_u32(w, "general.alignment", 48);
    expect_write_refused(w, "'general.alignment' is 48, expected a power of two");
    w = is_gguf_writer_new();
    is_gguf_set_u64(w, "general.alignment", 64);
    expect_write_refused(w, "'general.alignment' is u64, expected u32");
    w = is_gguf_writer_new();
    is_gguf_set_u32(w, "", 1);
    expect_write_refused(w, "a key must be 1 to 65535 bytes");
}

Test(gguf, writer_custom_alignment) {
    is_gguf_writer *w = is_gguf_writer_new();
    is_gguf_set_u32(w, "general.alignment", 64);
    is_gguf_add_tensor(w, "a", IS_DTYPE_F32, 1, (const int64_t[]){3});
    is_gguf_add_tensor(w, "b", IS_DTYPE_BF16, 1, (const int64_t[]){5});
    const char *path = tmp_path("a64.gguf");
    is_err err = {{0}};
    cr_assert_eq(is_gguf_write(w, path, fill_pattern, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    is_gguf g;
    open_ok(path, &g);
    cr_assert_eq(g.alignment, 64);
    cr_assert_eq((g.data - (const uint8_t *)g.map) % 64, 0);
    cr_assert_eq(g.tensors[1].offset, 64);
    cr_assert_eq(((const uint8_t *)g.tensors[1].data)[0], 31);
    is_gguf_close(&g);
    // no tensors: header and metadata, padded
    w = is_gguf_writer_new();
    is_gguf_set_str(w, "general.architecture", "llama");
    cr_assert_eq(is_gguf_write(w, path, NULL, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    open_ok(path, &g);
    cr_assert_eq(g.n_tensors, 0);
    cr_assert_eq(g.data_size, 0);
    cr_assert_eq(g.map_size % 32, 0);
    is_gguf_close(&g);
}

// ---- the config ----------------------------------------------------------------------------

static void cfg_expect_equal(const is_config *a, const is_config *b) {
    cr_assert_str_eq(a->model_type, b->model_type);
    cr_assert_eq(a->hidden_size, b->hidden_size);
    cr_assert_eq(a->intermediate_size, b->intermediate_size);
    cr_assert_eq(a->n_layers, b->n_layers);
    cr_assert_eq(a->n_heads, b->n_heads);
    cr_assert_eq(a->n_kv_heads, b->n_kv_heads);
    cr_assert_eq(a->head_dim, b->head_dim);
    cr_assert_eq(a->vocab_size, b->vocab_size);
    cr_assert_eq(a->max_pos, b->max_pos);
    cr_assert_eq(a->rms_norm_eps, b->rms_norm_eps);
    cr_assert_eq(a->rope_theta, b->rope_theta);
    cr_assert_eq(a->rope_scaling, b->rope_scaling);
    cr_assert_eq(a->rope_factor, b->rope_factor);
    cr_assert_eq(a->tie_word_embeddings, b->tie_word_embeddings);
    cr_assert_eq(a->qkv_bias, b->qkv_bias);
    cr_assert_eq(a->o_bias, b->o_bias);
    cr_assert_eq(a->bos_token_id, b->bos_token_id);
    cr_assert_eq(a->n_eos, b->n_eos);
    for (int i = 0; i < a->n_eos; i++) cr_assert_eq(a->eos_token_ids[i], b->eos_token_ids[i]);
}

// Writes cfg (and tok when given) with the tensors that say what the keys do not:
// output.weight unless tied, blk.0.attn_q.bias with qkv biases.
static const char *write_model(const char *name, const is_config *cfg, const is_tokenizer *tok) {
    const char *path = tmp_path(name);
    is_gguf_writer *w = is_gguf_writer_new();
    is_err err = {{0}};
    cr_assert_eq(is_gguf_put_config(w, cfg, "test model", &err), 0, "%s", err.msg);
    if (tok) cr_assert_eq(is_gguf_put_tokenizer(w, tok, cfg, &err), 0, "%s", err.msg);
    is_gguf_add_tensor(w, "token_embd.weight", IS_DTYPE_F16, 2, (const int64_t[]){cfg->hidden_size, cfg->vocab_size});
    if (!cfg->tie_word_embeddings)
        is_gguf_add_tensor(w, "output.weight", IS_DTYPE_Q8_0, 2, (const int64_t[]){cfg->hidden_size, cfg->vocab_size});
    if (cfg->qkv_bias)
        is_gguf_add_tensor(w, "blk.0.attn_q.bias", IS_DTYPE_F32, 1, (const int64_t[]){cfg->n_heads * cfg->head_dim});
    cr_assert_eq(is_gguf_write(w, path, fill_zero, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    return path;
}

static void read_config(const char *path, is_config *cfg) {
    is_gguf g;
    open_ok(path, &g);
    is_err err = {{0}};
    cr_assert_eq(is_gguf_config(&g, cfg, &err), 0, "%s", err.msg);
    is_gguf_close(&g);
}

static const is_config cfg_llama = {
    .model_type = "llama", .hidden_size = 64, .intermediate_size = 192, .n_layers = 2, .n_heads = 4,
    .n_kv_heads = 2, .head_dim = 16, .vocab_size = 300, .max_pos = 256, .rms_norm_eps = 1e-5f,
    .rope_theta = 10000.0, .bos_token_id = 1, .eos_token_ids = {2}, .n_eos = 1};

static const is_config cfg_qwen2 = {
    .model_type = "qwen2", .hidden_size = 64, .intermediate_size = 160, .n_layers = 3, .n_heads = 4,
    .n_kv_heads = 1, .head_dim = 32, .vocab_size = 500, .max_pos = 4096, .rms_norm_eps = 1e-6f,
    .rope_theta = 1000000.0, .rope_scaling = IS_ROPE_SCALING_LINEAR, .rope_factor = 4.0,
    .tie_word_embeddings = true, .qkv_bias = true, .bos_token_id = -1, .eos_token_ids = {7}, .n_eos = 1};

Test(gguf, config_round_trips) {
    is_config back;
    read_config(write_model("llama.gguf", &cfg_llama, NULL), &back);
    cfg_expect_equal(&cfg_llama, &back);
    read_config(write_model("qwen2.gguf", &cfg_qwen2, NULL), &back);
    cfg_expect_equal(&cfg_qwen2, &back);
    // what was written, as llama.cpp reads it
    is_gguf g;
    open_ok(tmp_path("qwen2.gguf"), &g);
    is_err err = {{0}};
    uint64_t u;
    const char *s;
    size_t len;
    cr_assert_eq(is_gguf_get_u64(&g, "qwen2.attention.key_length", &u, &err), 0); cr_assert_eq(u, 32);
    cr_assert_eq(is_gguf_get_u64(&g, "qwen2.attention.value_length", &u, &err), 0); cr_assert_eq(u, 32);
    cr_assert_eq(is_gguf_get_str(&g, "qwen2.rope.scaling.type", &s, &len, &err), 0);
    cr_assert(len == 6 && !memcmp(s, "linear", 6));
    cr_assert_null(is_gguf_find(&g, "qwen2.rope.dimension_count"));
    cr_assert_eq(is_gguf_find(&g, "qwen2.context_length")->type, IS_GGUF_U32);
    cr_assert_eq(is_gguf_get_str(&g, "general.name", &s, &len, &err), 0);
    is_gguf_close(&g);
    open_ok(tmp_path("llama.gguf"), &g);
    cr_assert_eq(is_gguf_get_u64(&g, "llama.rope.dimension_count", &u, &err), 0); cr_assert_eq(u, 16);
    cr_assert_null(is_gguf_find(&g, "llama.attention.key_length"), "head_dim = D / H: not written");
    cr_assert_eq(g.kv[0].type, IS_GGUF_STRING);
    cr_assert_str_eq(g.kv[0].key, "general.architecture");
    is_gguf_close(&g);
    // Llama 3's scaling is a tensor (rope_freqs.weight, the caller's): no keys, none read back
    is_config l3 = cfg_llama;
    l3.rope_scaling = IS_ROPE_SCALING_LLAMA3, l3.rope_factor = 8, l3.rope_low_freq_factor = 1;
    l3.rope_high_freq_factor = 4, l3.rope_orig_max_pos = 64;
    read_config(write_model("l3.gguf", &l3, NULL), &back);
    cr_assert_eq(back.rope_scaling, IS_ROPE_SCALING_NONE);
    back.rope_scaling = l3.rope_scaling, back.rope_factor = l3.rope_factor;
    cfg_expect_equal(&l3, &back);
}

Test(gguf, put_config_refuses_other_architectures) {
    is_config c = cfg_llama;
    snprintf(c.model_type, sizeof c.model_type, "mistral");
    is_gguf_writer *w = is_gguf_writer_new();
    is_err err = {{0}};
    cr_assert_neq(is_gguf_put_config(w, &c, NULL, &err), 0);
    cr_assert(strstr(err.msg, "model_type 'mistral' has no GGUF architecture"), "%s", err.msg);
    c = cfg_llama;
    c.n_heads = 3; // 3 heads of 2 kv heads: not a config
    cr_assert_neq(is_gguf_put_config(w, &c, NULL, &err), 0);
    is_gguf_writer_free(w);
}

// A llama.cpp-style file by hand: u32 sizes, no vocab_size (the token list's
// length), an eot id besides eos; extra (key, value) pairs appended by the caller.
static void llamacpp_config(em *e, int n_extra) {
    em_header(e, 3, 0, (uint64_t)(12 + n_extra));
    em_kv_str(e, "general.architecture", "llama");
    em_kv_u32(e, "llama.block_count", 2);
    em_kv_u32(e, "llama.context_length", 2048);
    em_kv_u32(e, "llama.embedding_length", 64);
    em_kv_u32(e, "llama.feed_forward_length", 128);
    em_kv_u32(e, "llama.attention.head_count", 4);
    em_kv_u32(e, "llama.attention.head_count_kv", 4);
    em_kv_f32(e, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    em_arr(e, "tokenizer.ggml.tokens", T_STR, 10);
    for (int i = 0; i < 10; i++) em_str(e, (const char[]){(char)('a' + i), 0});
    em_kv_u32(e, "tokenizer.ggml.bos_token_id", 1);
    em_kv_u32(e, "tokenizer.ggml.eos_token_id", 2);
    em_kv_u32(e, "tokenizer.ggml.eot_token_id", 9);
}

static void expect_config_refused(em *e, const char *want) {
    const char *path = em_save(e, "cfg.gguf");
    is_gguf g;
    open_ok(path, &g);
    is_config c;
    is_err err = {{0}};
    cr_assert_neq(is_gguf_config(&g, &c, &err), 0, "expected '%s'", want);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, want), "want '%s': %s", want, err.msg);
    is_gguf_close(&g);
    em_free(e);
}

Test(gguf, config_from_llama_cpp_keys) {
    em e = {0};
    llamacpp_config(&e, 0);
    is_config c;
    read_config(em_save(&e, "cfg.gguf"), &c);
    em_free(&e);
    cr_assert_str_eq(c.model_type, "llama");
    cr_assert_eq(c.vocab_size, 10);
    cr_assert_eq(c.head_dim, 16);
    cr_assert_eq(c.rope_theta, 10000.0);
    cr_assert(c.tie_word_embeddings);
    cr_assert_eq(c.bos_token_id, 1);
    cr_assert_eq(c.n_eos, 2);
    cr_assert_eq(c.eos_token_ids[0], 2); cr_assert_eq(c.eos_token_ids[1], 9);
    // the older linear key
    llamacpp_config(&e, 1);
    em_kv_f32(&e, "llama.rope.scale_linear", 2.0f);
    read_config(em_save(&e, "cfg.gguf"), &c);
    em_free(&e);
    cr_assert_eq(c.rope_scaling, IS_ROPE_SCALING_LINEAR);
    cr_assert_eq(c.rope_factor, 2.0);
}

Test(gguf, config_refusals_name_the_key) {
    em e = {0};
    llamacpp_config(&e, 1);
    em_kv_str(&e, "llama.rope.scaling.type", "yarn");
    expect_config_refused(&e, "metadata 'llama.rope.scaling.type' is 'yarn': not supported (expected none or linear");
    llamacpp_config(&e, 1);
    em_kv_u32(&e, "llama.rope.dimension_count", 8);
    expect_config_refused(&e, "'llama.rope.dimension_count' is 8: RoPE over part of a head is not supported");
    llamacpp_config(&e, 1);
    em_kv_u32(&e, "llama.attention.value_length", 32);
    expect_config_refused(&e, "'llama.attention.value_length' is 32 but the key length is 16");
    llamacpp_config(&e, 1);
    em_kv_u32(&e, "llama.vocab_size", 0);
    expect_config_refused(&e, "metadata 'llama.vocab_size' is 0, expected an integer from 1 to");
    llamacpp_config(&e, 1);
    em_key(&e, "llama.vocab_size", T_I32), em_le(&e, (uint32_t)-5, 4);
    expect_config_refused(&e, "'llama.vocab_size' is -5, expected a non-negative integer");
    // the architecture
    em_header(&e, 3, 0, 1);
    em_kv_str(&e, "general.architecture", "gpt2");
    expect_config_refused(&e, "general.architecture 'gpt2' is not supported (expected llama or qwen2)");
    em_header(&e, 3, 0, 1);
    em_kv_u32(&e, "llama.block_count", 2);
    expect_config_refused(&e, "metadata 'general.architecture' is missing");
    em_header(&e, 3, 0, 1);
    em_kv_str(&e, "general.architecture", "llama");
    expect_config_refused(&e, "metadata 'llama.embedding_length' is missing");
    // an id outside the vocabulary, caught by the config's own checks
    llamacpp_config(&e, 1);
    em_kv_u32(&e, "llama.vocab_size", 2);
    expect_config_refused(&e, "outside the vocabulary");
}

// ---- the tokenizer ---------------------------------------------------------------------------

// GPT-2's byte-level alphabet (bytes_to_unicode), written out here: printable
// bytes stand for themselves, the other 68 take code points 256, 257, ... in order.
static bool bl_self(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

static void bl_append(char *out, const char *bytes, size_t n) {
    size_t o = strlen(out);
    for (size_t i = 0; i < n; i++) {
        int b = (unsigned char)bytes[i], cp = b;
        if (!bl_self(b)) {
            cp = 256;
            for (int c = 0; c < b; c++) cp += !bl_self(c);
        }
        if (cp < 0x80) out[o++] = (char)cp;
        else out[o++] = (char)(0xC0 | (cp >> 6)), out[o++] = (char)(0x80 | (cp & 0x3F));
    }
    out[o] = '\0';
}

static const char *bl(const char *bytes) {
    static char buf[8][64];
    static int k;
    char *p = buf[k++ % 8];
    p[0] = '\0';
    bl_append(p, bytes, strlen(bytes));
    return p;
}

static const char *const tok_texts[] = {
    "Hello, world! It's 2026 and we're testing: don't STOP, y'all.",
    "digits 0123456789 3.14159 1,000,000 x12y",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88 "
    "\xe4\xb8\xad\xe6\x96\x87 \xed\x95\x9c\xea\xb5\xad\xec\x96\xb4",
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x8e\x89\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd and zwj "
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",
    "  multiple   spaces\n\n\ttabs\r\nand lines  ",
    "<|endoftext|>special<|endoftext|> text <|begin_of_text|>x<|eot_id|>[TOOL] the 123",
    "\xff\xfe invalid utf-8 \xc3",
    "",
};

// a and b encode every text to the same ids, with and without special tokens, and
// decode them to the same bytes.
static void same_encodings(is_tokenizer *a, is_tokenizer *b) {
    for (size_t i = 0; i < sizeof tok_texts / sizeof tok_texts[0]; i++)
        for (int special = 0; special < 2; special++) {
            const char *s = tok_texts[i];
            int32_t *ia, *ib;
            is_err err = {{0}};
            int na = is_tok_encode(a, s, strlen(s), special, &ia, &err);
            cr_assert_geq(na, 0, "%s", err.msg);
            int nb = is_tok_encode(b, s, strlen(s), special, &ib, &err);
            cr_assert_geq(nb, 0, "%s", err.msg);
            cr_assert_eq(na, nb, "text %zu (special %d): %d ids, read back %d", i, special, na, nb);
            for (int k = 0; k < na; k++)
                cr_assert_eq(ia[k], ib[k], "text %zu (special %d): id %d is %d, read back %d", i, special, k, ia[k],
                             ib[k]);
            char *da, *db;
            size_t la, lb;
            cr_assert_eq(is_tok_decode(a, ia, na, false, &da, &la, &err), 0, "%s", err.msg);
            cr_assert_eq(is_tok_decode(b, ib, nb, false, &db, &lb, &err), 0, "%s", err.msg);
            cr_assert(la == lb && !memcmp(da, db, la), "text %zu decodes differently", i);
            if (!special) cr_assert(la == strlen(s) && !memcmp(da, s, la), "text %zu does not decode to itself", i);
            free(da), free(db), free(ia), free(ib);
        }
}

// Writes tok (with cfg) as a GGUF and reads its tokenizer back.
static is_tokenizer *tok_round_trip(const is_tokenizer *tok, const is_config *cfg, const char *name) {
    const char *path = tmp_path(name);
    is_gguf_writer *w = is_gguf_writer_new();
    is_err err = {{0}};
    cr_assert_eq(is_gguf_put_tokenizer(w, tok, cfg, &err), 0, "%s", err.msg);
    cr_assert_eq(is_gguf_write(w, path, NULL, NULL, &err), 0, "%s", err.msg);
    is_gguf_writer_free(w);
    is_gguf g;
    open_ok(path, &g);
    is_tokenizer *back = NULL;
    cr_assert_eq(is_gguf_tokenizer(&g, &back, &err), 0, "%s", err.msg);
    is_gguf_close(&g); // the tokenizer keeps nothing of the mapping
    return back;
}

static void expect_str_key(const char *path, const char *key, const char *want) {
    is_gguf g;
    open_ok(path, &g);
    const char *s;
    size_t len;
    is_err err = {{0}};
    cr_assert_eq(is_gguf_get_str(&g, key, &s, &len, &err), 0, "%s: %s", key, err.msg);
    cr_assert(len == strlen(want) && !memcmp(s, want, len), "%s is '%.*s', expected '%s'", key, (int)len, s, want);
    is_gguf_close(&g);
}

Test(gguf, builtin_gpt2_tokenizer_round_trips) {
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_tok_load_builtin(&t, &err), 0, "%s", err.msg);
    is_tokenizer *back = tok_round_trip(t, NULL, "gpt2.gguf");
    cr_assert_eq(is_tok_vocab_size(back), is_tok_vocab_size(t));
    cr_assert_eq(is_tok_bos(back), -1);
    same_encodings(t, back);
    // the file, as llama.cpp's converter writes GPT-2's
    const char *path = tmp_path("gpt2.gguf");
    expect_str_key(path, "tokenizer.ggml.model", "gpt2");
    expect_str_key(path, "tokenizer.ggml.pre", "gpt-2");
    is_gguf g;
    open_ok(path, &g);
    const is_gguf_kv *tokens, *types, *merges;
    size_t len;
    cr_assert_eq(is_gguf_get_arr(&g, "tokenizer.ggml.tokens", IS_GGUF_STRING, &tokens, &err), 0);
    cr_assert_eq(is_gguf_get_arr(&g, "tokenizer.ggml.token_type", IS_GGUF_I32, &types, &err), 0);
    cr_assert_eq(is_gguf_get_arr(&g, "tokenizer.ggml.merges", IS_GGUF_STRING, &merges, &err), 0);
    cr_assert_eq(tokens->n, 50257);
    const char *s = is_gguf_arr_str(tokens, 50256, &len);
    cr_assert(len == 13 && !memcmp(s, "<|endoftext|>", 13));
    cr_assert_eq(is_gguf_arr_int(types, 50256), 3);
    s = is_gguf_arr_str(tokens, 198, &len); // "\n" in the byte-level alphabet: U+010A
    cr_assert(len == 2 && !memcmp(s, "\xc4\x8a", 2));
    cr_assert_eq(is_gguf_arr_int(types, 198), 1);
    cr_assert_eq(merges->n, 50000, "GPT-2 has 50000 merges, %" PRIu64 " were written", merges->n);
    s = is_gguf_arr_str(merges, 0, &len); // merges.txt's first: "Ġ t"
    cr_assert(len == 4 && !memcmp(s, "\xc4\xa0 t", 4), "first merge '%.*s'", (int)len, s);
    is_gguf_close(&g);
    is_tok_free(back);
    // with a model whose vocabulary is padded past the tokenizer's (as GPT-2's 50304)
    is_config c = cfg_llama;
    c.vocab_size = 50304, c.bos_token_id = 50256, c.eos_token_ids[0] = 50256;
    back = tok_round_trip(t, &c, "gpt2-padded.gguf");
    cr_assert_eq(is_tok_vocab_size(back), 50304);
    same_encodings(t, back);
    char *out;
    int32_t pad = 50300;
    cr_assert_neq(is_tok_decode(back, &pad, 1, false, &out, &len, &err), 0, "a padding id has no token");
    is_tok_free(back);
    // a model smaller than its tokenizer (a test model with GPT-2's vocabulary): the
    // token list is cut to the model's 512 ids, as llama.cpp requires, with the
    // merges among them (GPT-2's first 256 ids are the bytes, merge i makes id 256 + i)
    c.vocab_size = 512, c.bos_token_id = 1, c.eos_token_ids[0] = 2;
    const char *small = write_model("small-vocab.gguf", &c, t);
    open_ok(small, &g);
    is_config cb;
    cr_assert_eq(is_gguf_config(&g, &cb, &err), 0, "%s", err.msg);
    cr_assert_eq(cb.vocab_size, 512);
    cr_assert_eq(is_gguf_get_arr(&g, "tokenizer.ggml.tokens", IS_GGUF_STRING, &tokens, &err), 0, "%s", err.msg);
    cr_assert_eq(tokens->n, 512);
    cr_assert_eq(is_gguf_get_arr(&g, "tokenizer.ggml.merges", IS_GGUF_STRING, &merges, &err), 0, "%s", err.msg);
    cr_assert_eq(merges->n, 256, "%" PRIu64 " merges among 512 ids", merges->n);
    cr_assert_eq(is_gguf_tokenizer(&g, &back, &err), 0, "%s", err.msg);
    cr_assert_eq(is_tok_vocab_size(back), 512);
    // every id of a text's encoding is below 512, and it decodes to the text
    const char *text = "the quick brown fox jumps over the lazy dog 0123456789 \xe4\xb8\xad\xf0\x9f\x98\x80";
    int32_t *ids;
    int n_ids = is_tok_encode(back, text, strlen(text), false, &ids, &err);
    cr_assert_gt(n_ids, 0, "%s", err.msg);
    int32_t *orig;
    int n_orig = is_tok_encode(t, text, strlen(text), false, &orig, &err);
    cr_assert_gt(n_ids, n_orig, "fewer merges: more tokens");
    for (int i = 0; i < n_ids; i++) cr_assert_lt(ids[i], 512);
    cr_assert_eq(is_tok_decode(back, ids, n_ids, false, &out, &len, &err), 0, "%s", err.msg);
    cr_assert(len == strlen(text) && !memcmp(out, text, len));
    free(out);
    free(ids);
    free(orig);
    is_gguf_close(&g);
    is_tok_free(back);
    // BOS or EOS outside the ids written
    c.vocab_size = 50304, c.eos_token_ids[0] = 60000;
    is_gguf_writer *w = is_gguf_writer_new();
    cr_assert_neq(is_gguf_put_tokenizer(w, t, &c, &err), 0);
    cr_assert(strstr(err.msg, "EOS id 60000 is outside the 50304 ids"), "%s", err.msg);
    is_gguf_writer_free(w);
    is_tok_free(t);
}

// A small tokenizer.json: the 256 bytes, "ab" 256, "abc" 257, " t" 258, " th" 259,
// " the" 260, "12" 261, "123" 262 with their merges; added <|begin_of_text|> 300
// and <|eot_id|> 301 (special), [TOOL] 302 (not); BOS 300 when bos.
static char *hf_json(const char *regex_json, bool ignore_merges, bool bos) {
    size_t cap = 1 << 16, o = 0;
    char *buf = malloc(cap);
    o += (size_t)snprintf(buf + o, cap - o,
                          "{\"version\":\"1.0\",\"added_tokens\":["
                          "{\"id\":300,\"content\":\"<|begin_of_text|>\",\"special\":true},"
                          "{\"id\":301,\"content\":\"<|eot_id|>\",\"special\":true},"
                          "{\"id\":302,\"content\":\"[TOOL]\",\"special\":false}],"
                          "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
                          "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\","
                          "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                          "\"trim_offsets\":true,\"use_regex\":false}]},",
                          regex_json);
    if (bos)
        o += (size_t)snprintf(buf + o, cap - o,
                              "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":["
                              "{\"SpecialToken\":{\"id\":\"<|begin_of_text|>\",\"type_id\":0}},"
                              "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{"
                              "\"<|begin_of_text|>\":{\"id\":\"<|begin_of_text|>\",\"ids\":[300],"
                              "\"tokens\":[\"<|begin_of_text|>\"]}}},");
    o += (size_t)snprintf(buf + o, cap - o, "\"decoder\":{\"type\":\"ByteLevel\"},\"model\":{\"type\":\"BPE\","
                          "\"ignore_merges\":%s,\"vocab\":{", ignore_merges ? "true" : "false");
    for (int b = 0; b < 256; b++) {
        char s[8] = {(char)b, 0}, e[16] = "";
        bl_append(e, s, 1);
        const char *q = !strcmp(e, "\"") ? "\\\"" : !strcmp(e, "\\") ? "\\\\" : e;
        o += (size_t)snprintf(buf + o, cap - o, "\"%s\":%d,", q, b);
    }
    o += (size_t)snprintf(buf + o, cap - o, "\"ab\":256,\"abc\":257,\"%s\":258,\"%s\":259,\"%s\":260,\"12\":261,"
                          "\"123\":262},", bl(" t"), bl(" th"), bl(" the"));
    o += (size_t)snprintf(buf + o, cap - o, "\"merges\":[\"a b\",\"ab c\",\"%s t\",\"%s h\",\"%s e\",\"1 2\","
                          "\"12 3\"]}}", bl(" "), bl(" t"), bl(" th"));
    cr_assert_lt(o, cap);
    return buf;
}

#define RX_LLAMA3_JSON                                                                              \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "         \
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"
#define RX_QWEN2_JSON                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "              \
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

static is_tokenizer *load_hf(const char *json) {
    const char *path = tmp_path("tokenizer.json");
    write_bytes(path, json, strlen(json));
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_tok_load_hf(path, &t, &err), 0, "%s", err.msg);
    return t;
}

Test(gguf, hf_tokenizers_round_trip_with_their_llama_cpp_names) {
    const struct {
        const char *regex;
        bool ignore_merges, bos;
        const char *pre;
    } cases[] = {
        {RX_LLAMA3_JSON, true, true, "llama-bpe"},
        {RX_LLAMA3_JSON, false, false, "smaug-bpe"},
        {RX_QWEN2_JSON, false, false, "qwen2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = hf_json(cases[i].regex, cases[i].ignore_merges, cases[i].bos);
        is_tokenizer *t = load_hf(json);
        free(json);
        char name[32];
        snprintf(name, sizeof name, "hf%zu.gguf", i);
        is_tokenizer *back = tok_round_trip(t, NULL, name);
        expect_str_key(tmp_path(name), "tokenizer.ggml.pre", cases[i].pre);
        cr_assert_eq(is_tok_vocab_size(back), 303);
        cr_assert_eq(is_tok_bos(back), cases[i].bos ? 300 : -1);
        same_encodings(t, back);
        is_tok_free(back);
        is_tok_free(t);
    }
}

Test(gguf, put_tokenizer_refuses_a_regex_llama_cpp_has_no_name_for) {
    char *json = hf_json("[a-z]+|\\\\s+", false, false);
    is_tokenizer *t = load_hf(json);
    free(json);
    is_gguf_writer *w = is_gguf_writer_new();
    is_err err = {{0}};
    cr_assert_neq(is_gguf_put_tokenizer(w, t, NULL, &err), 0);
    cr_assert(strstr(err.msg, "the pre-tokenizer regex '[a-z]+|\\s+' has no llama.cpp name"), "%s", err.msg);
    is_gguf_writer_free(w);
    is_tok_free(t);
}

// A GGUF tokenizer by hand: the 256 byte tokens, then extra tokens from id 256
// (text as written, with its token type), merges, and the optional keys.
typedef struct tk_extra {
    const char *text; // bytes: written in the byte-level alphabet when type is 1
    int type;
} tk_extra;

typedef struct tk_spec {
    const char *model, *pre; // pre NULL: no key
    tk_extra extra[8];
    int n_extra;
    const char *merges[8]; // "left right" of raw bytes: written in the byte-level alphabet
    int n_merges;
    int bos;     // -1: no key
    int add_bos; // -1: no key
} tk_spec;

static const char *tk_file(const tk_spec *s) {
    em e = {0};
    int n_kv = 4 + (s->pre != NULL) + (s->bos >= 0) + (s->add_bos >= 0);
    em_header(&e, 3, 0, (uint64_t)n_kv);
    em_kv_str(&e, "tokenizer.ggml.model", s->model);
    if (s->pre) em_kv_str(&e, "tokenizer.ggml.pre", s->pre);
    int n = 256 + s->n_extra;
    em_arr(&e, "tokenizer.ggml.tokens", T_STR, (uint64_t)n);
    for (int b = 0; b < 256; b++) {
        char c[2] = {(char)b, 0}, out[8] = "";
        bl_append(out, c, 1);
        em_str(&e, out);
    }
    for (int i = 0; i < s->n_extra; i++) em_str(&e, s->extra[i].type == 1 ? bl(s->extra[i].text) : s->extra[i].text);
    em_arr(&e, "tokenizer.ggml.token_type", T_I32, (uint64_t)n);
    for (int i = 0; i < n; i++) em_le(&e, (uint32_t)(i < 256 ? 1 : s->extra[i - 256].type), 4);
    em_arr(&e, "tokenizer.ggml.merges", T_STR, (uint64_t)s->n_merges);
    for (int i = 0; i < s->n_merges; i++) {
        char left[32], m[64] = "";
        const char *sp = strchr(s->merges[i], ' ');
        snprintf(left, sizeof left, "%.*s", (int)(sp - s->merges[i]), s->merges[i]);
        bl_append(m, left, strlen(left));
        strcat(m, " ");
        bl_append(m, sp + 1, strlen(sp + 1));
        em_str(&e, m);
    }
    if (s->bos >= 0) em_kv_u32(&e, "tokenizer.ggml.bos_token_id", (uint32_t)s->bos);
    if (s->add_bos >= 0) em_kv_bool(&e, "tokenizer.ggml.add_bos_token", s->add_bos);
    const char *path = em_save(&e, "tok.gguf");
    em_free(&e);
    return path;
}

static is_tokenizer *tk_load(const tk_spec *s) {
    is_gguf g;
    open_ok(tk_file(s), &g);
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_gguf_tokenizer(&g, &t, &err), 0, "%s", err.msg);
    is_gguf_close(&g);
    return t;
}

static void tk_refused(const tk_spec *s, const char *want) {
    const char *path = tk_file(s);
    is_gguf g;
    open_ok(path, &g);
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_neq(is_gguf_tokenizer(&g, &t, &err), 0, "expected '%s'", want);
    cr_assert_null(t);
    cr_assert(strstr(err.msg, path), "%s", err.msg);
    cr_assert(strstr(err.msg, want), "want '%s': %s", want, err.msg);
    is_gguf_close(&g);
}

static void tk_expect(is_tokenizer *t, const char *text, bool special, const int32_t *want, int n_want) {
    int32_t *ids;
    is_err err = {{0}};
    int n = is_tok_encode(t, text, strlen(text), special, &ids, &err);
    cr_assert_eq(n, n_want, "'%s': %d ids, expected %d (%s)", text, n, n_want, err.msg);
    for (int i = 0; i < n; i++)
        cr_assert_eq(ids[i], want[i], "'%s': id %d is %d, expected %d", text, i, ids[i], want[i]);
    free(ids);
}
#define TK_EXPECT(t, text, special, ...)                                              \
    do {                                                                              \
        const int32_t w_[] = {__VA_ARGS__};                                           \
        tk_expect(t, text, special, w_, (int)(sizeof w_ / sizeof w_[0]));             \
    } while (0)

Test(gguf, pre_tokenizers_cut_as_llama_cpp_does) {
    tk_spec s = {"gpt2", "gpt-2", {{"ab", 1}, {"12", 1}}, 2, {"a b", "1 2"}, 2, -1, -1};
    is_tokenizer *t = tk_load(&s);
    TK_EXPECT(t, "ab12", false, 256, 257);
    TK_EXPECT(t, "x 12", false, 'x', ' ', 257); // " 12" is one piece: " ?\p{N}+"
    is_tok_free(t);
    // SmolLM's: every digit a piece of its own, the merge "1 2" never applies
    s.pre = "smollm";
    t = tk_load(&s);
    TK_EXPECT(t, "ab12", false, 256, '1', '2');
    TK_EXPECT(t, "x 12", false, 'x', ' ', '1', '2');
    TK_EXPECT(t, "a  1b", false, 'a', ' ', ' ', '1', 'b');
    is_tok_free(t);
    // Qwen2's: digits one by one too, and a letter run takes one non-letter before it
    s.pre = "qwen2";
    t = tk_load(&s);
    TK_EXPECT(t, "ab12", false, 256, '1', '2');
    is_tok_free(t);
    // no pre key: llama.cpp's "default", read as GPT-2's regex
    s.pre = NULL;
    t = tk_load(&s);
    TK_EXPECT(t, "x 12", false, 'x', ' ', 257);
    is_tok_free(t);
}

Test(gguf, llama_bpe_ignores_merges_and_adds_bos_by_default) {
    tk_spec s = {"gpt2", "llama-bpe", {{"<|begin_of_text|>", 3}, {"ab", 1}, {"abc", 1}}, 3, {"a b"}, 1, 256, -1};
    is_tokenizer *t = tk_load(&s);
    cr_assert_eq(is_tok_bos(t), 256);
    TK_EXPECT(t, "abc", false, 258); // a whole token, though no merge makes it
    TK_EXPECT(t, "<|begin_of_text|>abc", true, 256, 258);
    is_tok_free(t);
    s.add_bos = 0;
    t = tk_load(&s);
    cr_assert_eq(is_tok_bos(t), -1);
    is_tok_free(t);
    s.pre = "smaug-bpe"; // the same regex, merges always applied
    s.add_bos = 1;
    t = tk_load(&s);
    cr_assert_eq(is_tok_bos(t), 256);
    TK_EXPECT(t, "abc", false, 257, 'c');
    is_tok_free(t);
    s.bos = -1;
    tk_refused(&s, "BOS is to be added (tokenizer.ggml.add_bos_token, or the default of pre-tokenizer 'smaug-bpe') "
                   "but metadata 'tokenizer.ggml.bos_token_id' is missing");
    s.bos = 300;
    tk_refused(&s, "'tokenizer.ggml.bos_token_id' is 300, not a token (259 ids)");
}

Test(gguf, token_types) {
    tk_spec s = {"gpt2", "gpt-2", {{"<|eot|>", 3}, {"[TOOL]", 4}, {"[PAD258]", 5}, {"z", 2}}, 4, {0}, 0, -1, -1};
    s.extra[3].text = "zz"; // unknown (2): a model token like a normal one
    is_tokenizer *t = tk_load(&s);
    cr_assert_eq(is_tok_vocab_size(t), 260);
    TK_EXPECT(t, "x[TOOL]<|eot|>", false, 'x', 257, '<', '|', 'e', 'o', 't', '|', '>');
    TK_EXPECT(t, "x[TOOL]<|eot|>", true, 'x', 257, 256);
    char *out;
    size_t len;
    is_err err = {{0}};
    int32_t unused = 258;
    cr_assert_neq(is_tok_decode(t, &unused, 1, false, &out, &len, &err), 0, "an unused id has no token");
    is_tok_free(t);
    s.extra[0].type = 9;
    tk_refused(&s, "tokenizer.ggml.token_type[256] is 9, expected 1 to 6");
    s.extra[0].type = 3;
    s.extra[0].text = "";
    tk_refused(&s, "tokenizer.ggml.tokens[256] is empty (a control token needs its text)");
}

Test(gguf, tokenizer_refusals_name_the_problem) {
    tk_spec s = {"llama", NULL, {{0}}, 0, {0}, 0, -1, -1};
    tk_refused(&s, "tokenizer.ggml.model 'llama' (SentencePiece) is not supported");
    s.model = "bert";
    tk_refused(&s, "tokenizer.ggml.model 'bert' is not supported (expected 'gpt2'");
    s.model = "gpt2";
    s.pre = "deepseek-coder";
    tk_refused(&s, "tokenizer.ggml.pre 'deepseek-coder' is not a pre-tokenizer this reader knows (known: default, "
                   "gpt-2,");
    s.pre = "gpt-2";
    s.extra[0] = (tk_extra){"a b", 0}; // type 0: a model token, but its text has a raw space
    s.n_extra = 1;
    tk_refused(&s, "tokenizer.ggml.tokens[256] 'a b' is not a string of the byte-level alphabet");
    s.extra[0] = (tk_extra){"a", 1};
    tk_refused(&s, "tokenizer.ggml.tokens[256] 'a' is also token 97");
    s.extra[0] = (tk_extra){"ab", 1};
    s.merges[0] = "a c";
    s.n_merges = 1;
    tk_refused(&s, "tokenizer.ggml.merges[0] 'a c': the merge is not a token of the vocabulary");
    // a merge with no space after its first byte: written by hand (tk_file splits at the space)
    em e = {0};
    em_header(&e, 3, 0, 3);
    em_kv_str(&e, "tokenizer.ggml.model", "gpt2");
    em_arr(&e, "tokenizer.ggml.tokens", T_STR, 1), em_str(&e, "a");
    em_arr(&e, "tokenizer.ggml.merges", T_STR, 1), em_str(&e, " a");
    const char *path = em_save(&e, "m.gguf");
    em_free(&e);
    is_gguf g;
    open_ok(path, &g);
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    cr_assert_neq(is_gguf_tokenizer(&g, &t, &err), 0);
    cr_assert(strstr(err.msg, "tokenizer.ggml.merges[0] ' a' is not 'left right'"), "%s", err.msg);
    is_gguf_close(&g);
    // no merges at all: llama.cpp needs them for a gpt2 tokenizer
    em_header(&e, 3, 0, 2);
    em_kv_str(&e, "tokenizer.ggml.model", "gpt2");
    em_arr(&e, "tokenizer.ggml.tokens", T_STR, 1), em_str(&e, "a");
    path = em_save(&e, "m.gguf");
    em_free(&e);
    open_ok(path, &g);
    cr_assert_neq(is_gguf_tokenizer(&g, &t, &err), 0);
    cr_assert(strstr(err.msg, "metadata 'tokenizer.ggml.merges' is missing"), "%s", err.msg);
    is_gguf_close(&g);
    // no tokenizer at all
    em_header(&e, 3, 0, 1);
    em_kv_str(&e, "general.architecture", "llama");
    path = em_save(&e, "m.gguf");
    em_free(&e);
    open_ok(path, &g);
    cr_assert_neq(is_gguf_tokenizer(&g, &t, &err), 0);
    cr_assert(strstr(err.msg, "'tokenizer.ggml.model' is missing: the file has no tokenizer"), "%s", err.msg);
    is_gguf_close(&g);
}

Test(gguf, model_with_config_and_tokenizer) {
    is_tokenizer *t = NULL;
    is_err err = {{0}};
    char *json = hf_json(RX_LLAMA3_JSON, true, true);
    t = load_hf(json);
    free(json);
    is_config c = cfg_llama;
    c.vocab_size = 320, c.bos_token_id = 300, c.eos_token_ids[0] = 301;
    const char *path = write_model("model.gguf", &c, t);
    is_gguf g;
    open_ok(path, &g);
    is_config back;
    cr_assert_eq(is_gguf_config(&g, &back, &err), 0, "%s", err.msg);
    cfg_expect_equal(&c, &back);
    is_tokenizer *tb = NULL;
    cr_assert_eq(is_gguf_tokenizer(&g, &tb, &err), 0, "%s", err.msg);
    cr_assert_eq(is_tok_vocab_size(tb), 320);
    cr_assert_eq(is_tok_bos(tb), 300);
    same_encodings(t, tb);
    bool add;
    cr_assert_eq(is_gguf_get_bool(&g, "tokenizer.ggml.add_bos_token", &add, &err), 0); cr_assert(add);
    is_gguf_close(&g);
    is_tok_free(tb);
    is_tok_free(t);
}
