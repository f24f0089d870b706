// gguf.c — memory-mapped reader, typed getters and streaming writer of GGUF files.
//
// Reader: one pass over the header, the metadata and the tensor infos with a cursor
// that checks every read against the end of the mapping; every count is held
// against what the bytes left could hold before anything is allocated from it, and
// every size is computed with overflow checks. Keys and tensor names are indexed
// in sorted order, so lookups are binary searches and duplicates sit side by side.
// Writer: the conventions of llama.cpp's gguf-py writer (version 3, keys in the
// order they were set, tensor infos in the order they were added, offsets aligned
// to 32 with zero padding after the infos and after every tensor), written to
// "<path>.tmp.XXXXXX", fsync'd and renamed into place.
#include "engine/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h" // defines: is_map_file, is_unmap_file

#define GG_HEADER_BYTES 24 // magic, version, tensor count, metadata count
// The specification's limits: keys of at most 65535 bytes, tensor names of at most
// 64 (ggml itself refuses 64: its names hold 63 bytes and a NUL, so the writer
// stays below that).
#define GG_MAX_KEY 65535
#define GG_MAX_NAME 64
#define GG_WRITER_MAX_NAME 63
// The smallest encodings, for bounding counts by the bytes left: a metadata pair
// is a key (8-byte length, 1 byte at least), a 4-byte type and a 1-byte value; a
// tensor info a name (8 + 1), n_dims (4), one dim (8), the type (4), the offset (8).
#define GG_MIN_KV_BYTES 14
#define GG_MIN_INFO_BYTES 33

// ---- ggml tensor types ---------------------------------------------------------------
// Elements per block and bytes per block, by ggml's numbering (ggml.h's enum
// ggml_type and the block structs of ggml-common.h, as of ggml d99724f, August
// 2026); holes are numbers ggml retired.
typedef struct gg_type_info {
    const char *name;
    uint32_t block, bytes;
} gg_type_info;

static const gg_type_info gg_types[] = {
    [0] = {"F32", 1, 4},          [1] = {"F16", 1, 2},         [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},       [6] = {"Q5_0", 32, 22},      [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},       [9] = {"Q8_1", 32, 36},      [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110},    [12] = {"Q4_K", 256, 144},   [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210},    [15] = {"Q8_K", 256, 292},   [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74},   [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18},    [21] = {"IQ3_S", 256, 110},  [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136},  [24] = {"I8", 1, 1},         [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},         [27] = {"I64", 1, 8},        [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56},    [30] = {"BF16", 1, 2},       [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66},    [39] = {"MXFP4", 32, 17},    [40] = {"NVFP4", 64, 36},
    [41] = {"Q1_0", 128, 18},     [42] = {"Q2_0", 64, 18},
};
#define GG_N_TYPES ((uint32_t)(sizeof gg_types / sizeof gg_types[0]))

static const gg_type_info *gg_type(uint32_t t) {
    return t < GG_N_TYPES && gg_types[t].name ? &gg_types[t] : NULL;
}

const char *is_gguf_type_name(uint32_t ggml_type) {
    const gg_type_info *ti = gg_type(ggml_type);
    return ti ? ti->name : "unknown";
}

int is_gguf_dtype(uint32_t ggml_type) {
    switch (ggml_type) {
    case IS_GGML_F32: return IS_DTYPE_F32;
    case IS_GGML_F16: return IS_DTYPE_F16;
    case IS_GGML_BF16: return IS_DTYPE_BF16;
    case IS_GGML_Q8_0: return IS_DTYPE_Q8_0;
    case IS_GGML_Q4_0: return IS_DTYPE_Q4_0;
    }
    return -1;
}

int is_gguf_ggml_type(is_dtype t) {
    switch (t) {
    case IS_DTYPE_F32: return IS_GGML_F32;
    case IS_DTYPE_F16: return IS_GGML_F16;
    case IS_DTYPE_BF16: return IS_GGML_BF16;
    case IS_DTYPE_Q8_0: return IS_GGML_Q8_0;
    case IS_DTYPE_Q4_0: return IS_GGML_Q4_0;
    case IS_DTYPE_I8: return -1;
    }
    return -1;
}

// ---- metadata value types ----------------------------------------------------------

// Bytes of one value of a fixed-size type; 0 for string, array and unknown types.
static size_t gg_value_size(uint32_t t) {
    switch (t) {
    case IS_GGUF_U8: case IS_GGUF_I8: case IS_GGUF_BOOL: return 1;
    case IS_GGUF_U16: case IS_GGUF_I16: return 2;
    case IS_GGUF_U32: case IS_GGUF_I32: case IS_GGUF_F32: return 4;
    case IS_GGUF_U64: case IS_GGUF_I64: case IS_GGUF_F64: return 8;
    }
    return 0;
}

static const char *gg_value_name(uint32_t t) {
    static const char *const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                        "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static bool gg_is_int_type(uint32_t t) {
    return t == IS_GGUF_U8 || t == IS_GGUF_I8 || t == IS_GGUF_U16 || t == IS_GGUF_I16 || t == IS_GGUF_U32 ||
           t == IS_GGUF_I32 || t == IS_GGUF_U64 || t == IS_GGUF_I64;
}

static uint64_t gg_load(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
}

static void gg_store(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// An integer value of type t at p: *neg and the magnitude or the value itself.
// False when t is not an integer type.
static bool gg_int_at(uint32_t t, const uint8_t *p, int64_t *s, uint64_t *u, bool *neg) {
    size_t n = gg_value_size(t);
    if (!gg_is_int_type(t) || n == 0) return false;
    uint64_t raw = gg_load(p, n);
    bool is_signed = t == IS_GGUF_I8 || t == IS_GGUF_I16 || t == IS_GGUF_I32 || t == IS_GGUF_I64;
    if (is_signed && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~(uint64_t)0 << (8 * n); // sign-extend
    *neg = is_signed && (int64_t)raw < 0;
    *s = (int64_t)raw; // two's complement: the bits are the value for every signed width
    *u = raw;
    return true;
}

static double gg_float_at(uint32_t t, const uint8_t *p) {
    if (t == IS_GGUF_F32) {
        uint32_t b = (uint32_t)gg_load(p, 4);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    uint64_t b = gg_load(p, 8);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

// ---- reader: the cursor ----------------------------------------------------------------

// What is being read, for messages: "metadata #3 'general.name'", "tensor #0 'x'".
typedef struct gg_rd {
    const char *path;
    const uint8_t *base;
    uint64_t size, pos;
    char field[160];
    is_err *err;
} gg_rd;

static void gg_field(gg_rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gg_field(gg_rd *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->field, sizeof r->field, fmt, ap);
    va_end(ap);
}

// n bytes for part of the current field must lie before the end of the file.
static int gg_need(gg_rd *r, uint64_t n, const char *part) {
    if (n <= r->size - r->pos) return 0;
    return is_errf(r->err, "%s: %s: %s: truncated: needs %" PRIu64 " bytes at offset %" PRIu64
                   ", but the file ends at %" PRIu64, r->path, r->field, part, n, r->pos, r->size);
}

static int gg_u32(gg_rd *r, const char *part, uint32_t *v) {
    if (gg_need(r, 4, part)) return -1;
    *v = (uint32_t)gg_load(r->base + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int gg_u64(gg_rd *r, const char *part, uint64_t *v) {
    if (gg_need(r, 8, part)) return -1;
    *v = gg_load(r->base + r->pos, 8);
    r->pos += 8;
    return 0;
}

// A string (u64 length, bytes): its bytes in the mapping, checked to lie inside it.
static int gg_str(gg_rd *r, const char *part, const uint8_t **s, uint64_t *len) {
    char what[64];
    snprintf(what, sizeof what, "%s length", part);
    if (gg_u64(r, what, len)) return -1;
    if (*len > r->size - r->pos)
        return is_errf(r->err, "%s: %s: %s: length %" PRIu64 " runs past the end of the file (%" PRIu64
                       " bytes left at offset %" PRIu64 ")", r->path, r->field, part, *len, r->size - r->pos,
                       r->pos);
    *s = r->base + r->pos;
    r->pos += *len;
    return 0;
}

// A key or tensor name as a NUL-terminated copy: non-empty, no NUL inside, at most max bytes.
static int gg_name(gg_rd *r, const char *part, uint64_t max, char **out) {
    const uint8_t *s = NULL;
    uint64_t len = 0;
    if (gg_str(r, part, &s, &len)) return -1;
    if (len == 0) return is_errf(r->err, "%s: %s: %s is empty", r->path, r->field, part);
    if (len > max)
        return is_errf(r->err, "%s: %s: %s is %" PRIu64 " bytes long, the format allows at most %" PRIu64,
                       r->path, r->field, part, len, max);
    if (memchr(s, 0, (size_t)len))
        return is_errf(r->err, "%s: %s: %s '%.*s' holds a NUL byte", r->path, r->field, part, (int)len,
                       (const char *)s);
    *out = is_xmalloc((size_t)len + 1);
    memcpy(*out, s, (size_t)len);
    (*out)[len] = '\0';
    return 0;
}

// ---- reader: metadata ----------------------------------------------------------------------

// n values of the fixed-size type t at the cursor; booleans must be 0 or 1.
static int gg_fixed_values(gg_rd *r, uint32_t t, uint64_t n, const char *part) {
    size_t sz = gg_value_size(t);
    uint64_t left = r->size - r->pos;
    if (n > left / sz)
        return is_errf(r->err, "%s: %s: %s: %" PRIu64 " values of type %s need more than the %" PRIu64
                       " bytes left in the file", r->path, r->field, part, n, gg_value_name(t), left);
    const uint8_t *p = r->base + r->pos;
    if (t == IS_GGUF_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (p[i] > 1)
                return is_errf(r->err, "%s: %s: %s: boolean element %" PRIu64 " is %u, expected 0 or 1", r->path,
                               r->field, part, i, p[i]);
    r->pos += n * sz;
    return 0;
}

// An array of strings: each element's length and bytes checked, its offset kept.
static int gg_string_array(gg_rd *r, is_gguf_kv *kv) {
    uint64_t left = r->size - r->pos;
    if (kv->n > left / 8)
        return is_errf(r->err, "%s: %s: array count %" PRIu64 " of strings: the %" PRIu64 " bytes left in the "
                       "file hold at most %" PRIu64, r->path, r->field, kv->n, left, left / 8);
    uint64_t *off = malloc(kv->n ? (size_t)kv->n * sizeof *off : 1);
    if (!off)
        return is_errf(r->err, "%s: %s: out of memory for the offsets of %" PRIu64 " strings", r->path,
                       r->field, kv->n);
    kv->str_off = off;
    uint64_t start = r->pos;
    for (uint64_t i = 0; i < kv->n; i++) {
        char part[48];
        snprintf(part, sizeof part, "element %" PRIu64, i);
        off[i] = r->pos - start;
        const uint8_t *s;
        uint64_t len;
        if (gg_str(r, part, &s, &len)) return -1;
    }
    return 0;
}

// The value of kv (type already read into kv->type) at the cursor.
static int gg_value(gg_rd *r, is_gguf_kv *kv) {
    kv->arr_type = kv->type;
    kv->n = 1;
    if (kv->type == IS_GGUF_STRING) {
        uint64_t len;
        if (gg_str(r, "string value", &kv->data, &len)) return -1;
        kv->n = len;
        return 0;
    }
    if (kv->type == IS_GGUF_ARRAY) {
        uint32_t et;
        if (gg_u32(r, "array element type", &et) || gg_u64(r, "array count", &kv->n)) return -1;
        if (et == IS_GGUF_ARRAY)
            return is_errf(r->err, "%s: %s: an array of arrays (nested arrays are not supported; expected an "
                           "array of scalars or strings)", r->path, r->field);
        if (et > IS_GGUF_F64)
            return is_errf(r->err, "%s: %s: unknown array element type %" PRIu32 " (expected 0 to 12)", r->path,
                           r->field, et);
        kv->arr_type = (is_gguf_type)et;
        kv->data = r->base + r->pos;
        if (et == IS_GGUF_STRING) return gg_string_array(r, kv);
        return gg_fixed_values(r, et, kv->n, "array");
    }
    kv->data = r->base + r->pos;
    return gg_fixed_values(r, kv->type, 1, "value");
}

static int gg_read_kvs(is_gguf *g, gg_rd *r, uint64_t n_kv) {
    uint64_t left = r->size - r->pos;
    if (n_kv > left / GG_MIN_KV_BYTES)
        return is_errf(r->err, "%s: header: metadata count %" PRIu64 " is more than the %" PRIu64 " bytes left "
                       "in the file could hold (at most %" PRIu64 " pairs)", r->path, n_kv, left,
                       left / GG_MIN_KV_BYTES);
    g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
    if (!g->kv) return is_errf(r->err, "%s: out of memory for %" PRIu64 " metadata pairs", r->path, n_kv);
    for (uint64_t i = 0; i < n_kv; i++) {
        is_gguf_kv *kv = &g->kv[i];
        gg_field(r, "metadata #%" PRIu64, i);
        if (gg_name(r, "key", GG_MAX_KEY, &kv->key)) return -1;
        g->n_kv++; // the key is owned now
        gg_field(r, "metadata #%" PRIu64 " '%.100s'", i, kv->key);
        uint32_t t;
        if (gg_u32(r, "value type", &t)) return -1;
        if (t > IS_GGUF_F64)
            return is_errf(r->err, "%s: %s: unknown value type %" PRIu32 " (expected 0 to 12)", r->path, r->field,
                           t);
        kv->type = (is_gguf_type)t;
        if (gg_value(r, kv)) return -1;
    }
    return 0;
}

// ---- reader: sorting and lookups ------------------------------------------------------------

// Indices sorted by key or name: a merge sort of our own (qsort has no user
// pointer, and a file-scope one would make is_gguf_open unsafe across threads).
static void gg_msort(int64_t *v, int64_t *tmp, int64_t n, const is_gguf *g, bool tensors) {
    if (n < 2) return;
    int64_t h = n / 2;
    gg_msort(v, tmp, h, g, tensors);
    gg_msort(v + h, tmp, n - h, g, tensors);
    int64_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        const char *a = tensors ? g->tensors[v[i]].name : g->kv[v[i]].key;
        const char *b = tensors ? g->tensors[v[j]].name : g->kv[v[j]].key;
        tmp[k++] = strcmp(a, b) <= 0 ? v[i++] : v[j++];
    }
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, (size_t)n * sizeof *v);
}

static int64_t *gg_sorted(const is_gguf *g, int64_t n, bool tensors) {
    int64_t *v = is_xmalloc((size_t)(n ? n : 1) * sizeof *v), *tmp = is_xmalloc((size_t)(n ? n : 1) * sizeof *tmp);
    for (int64_t i = 0; i < n; i++) v[i] = i;
    gg_msort(v, tmp, n, g, tensors);
    free(tmp);
    return v;
}

static const char *gg_kv_name(const is_gguf *g, int64_t i) { return g->kv[i].key; }
static const char *gg_tensor_name(const is_gguf *g, int64_t i) { return g->tensors[i].name; }

// The index whose name is name, by binary search of sorted (n indexes ordered by
// name_at), or -1.
static int64_t gg_lookup(const is_gguf *g, const int64_t *sorted, int64_t n,
                         const char *(*name_at)(const is_gguf *, int64_t), const char *name) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name_at(g, sorted[mid]), name);
        if (c == 0) return sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

const is_gguf_kv *is_gguf_find(const is_gguf *g, const char *key) {
    if (!g || !key || !g->kv_sorted) return NULL;
    int64_t i = gg_lookup(g, g->kv_sorted, g->n_kv, gg_kv_name, key);
    return i < 0 ? NULL : &g->kv[i];
}

const is_gguf_tensor *is_gguf_find_tensor(const is_gguf *g, const char *name) {
    if (!g || !name || !g->tensor_sorted) return NULL;
    int64_t i = gg_lookup(g, g->tensor_sorted, g->n_tensors, gg_tensor_name, name);
    return i < 0 ? NULL : &g->tensors[i];
}

// "u32", "string", "an array of string" for messages.
static const char *gg_kv_type_str(const is_gguf_kv *kv, char *buf, size_t n) {
    if (kv->type != IS_GGUF_ARRAY) return gg_value_name(kv->type);
    snprintf(buf, n, "an array of %s", gg_value_name(kv->arr_type));
    return buf;
}

// general.alignment: absent (32), or a u32 power of two (ggml's rule).
static int gg_alignment(is_gguf *g, is_err *err) {
    g->alignment = IS_GGUF_DEFAULT_ALIGNMENT;
    const is_gguf_kv *kv = is_gguf_find(g, "general.alignment");
    if (!kv) return 0;
    char buf[48];
    if (kv->type != IS_GGUF_U32)
        return is_errf(err, "%s: metadata 'general.alignment' is %s, expected u32", g->path,
                       gg_kv_type_str(kv, buf, sizeof buf));
    uint32_t a = (uint32_t)gg_load(kv->data, 4);
    if (a == 0 || (a & (a - 1)) != 0)
        return is_errf(err, "%s: metadata 'general.alignment' is %" PRIu32 ", expected a power of two", g->path, a);
    g->alignment = a;
    return 0;
}

// ---- reader: tensor infos ---------------------------------------------------------------

// "[4096, 32000]" for messages.
static void gg_shape_str(char *buf, size_t n, const is_gguf_tensor *t) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < t->n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

// Element count and byte size, with overflow checks; ne[0] must be whole blocks.
static int gg_tensor_size(gg_rd *r, is_gguf_tensor *t) {
    char shape[128];
    gg_shape_str(shape, sizeof shape, t);
    const gg_type_info *ti = gg_type(t->ggml_type);
    // the element count fits an int64 (even when a zero dim makes it empty: the
    // dims themselves are multiplied by whoever reads the shape)
    uint64_t prod = 1;
    for (int d = 0; d < t->n_dims; d++) {
        uint64_t x = (uint64_t)t->ne[d];
        if (x && (__builtin_mul_overflow(prod, x, &prod) || prod > (uint64_t)INT64_MAX))
            return is_errf(r->err, "%s: %s: shape %s has more than 2^63 elements", r->path, r->field, shape);
    }
    if (t->ne[0] % ti->block != 0)
        return is_errf(r->err, "%s: %s: rows of %" PRId64 " elements are not whole %s blocks of %" PRIu32
                       " (shape %s)", r->path, r->field, t->ne[0], ti->name, ti->block, shape);
    uint64_t bytes;
    bool over = __builtin_mul_overflow((uint64_t)t->ne[0] / ti->block, (uint64_t)ti->bytes, &bytes);
    for (int d = 1; d < t->n_dims && !over; d++) over = __builtin_mul_overflow(bytes, (uint64_t)t->ne[d], &bytes);
    if (over)
            return is_errf(r->err, "%s: %s: shape %s of %s needs more than 2^64 bytes", r->path, r->field, shape,
                           ti->name);
    t->nbytes = bytes;
    return 0;
}

static int gg_read_info(gg_rd *r, is_gguf_tensor *t) {
    uint32_t nd, ty;
    if (gg_u32(r, "n_dims", &nd)) return -1;
    if (nd < 1 || nd > IS_GGUF_MAX_DIMS)
        return is_errf(r->err, "%s: %s: n_dims is %" PRIu32 ", expected 1 to %d", r->path, r->field, nd,
                       IS_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    for (int d = 0; d < IS_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (int d = 0; d < t->n_dims; d++) {
        char part[16];
        snprintf(part, sizeof part, "ne[%d]", d);
        uint64_t x;
        if (gg_u64(r, part, &x)) return -1;
        if (x > (uint64_t)INT64_MAX)
            return is_errf(r->err, "%s: %s: ne[%d] is %" PRIu64 ", more than 2^63 - 1", r->path, r->field, d, x);
        t->ne[d] = (int64_t)x;
    }
    if (gg_u32(r, "type", &ty)) return -1;
    t->ggml_type = ty;
    if (!gg_type(ty))
        return is_errf(r->err, "%s: %s: unknown tensor type %" PRIu32 " (not a ggml type this reader knows)",
                       r->path, r->field, ty);
    if (gg_u64(r, "offset", &t->offset)) return -1;
    return gg_tensor_size(r, t);
}

static int gg_read_infos(is_gguf *g, gg_rd *r, uint64_t n_tensors) {
    uint64_t left = r->size - r->pos;
    if (n_tensors > left / GG_MIN_INFO_BYTES)
        return is_errf(r->err, "%s: header: tensor count %" PRIu64 " is more than the %" PRIu64 " bytes left in "
                       "the file could hold (at most %" PRIu64 " tensor infos)", r->path, n_tensors, left,
                       left / GG_MIN_INFO_BYTES);
    g->tensors = calloc(n_tensors ? (size_t)n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return is_errf(r->err, "%s: out of memory for %" PRIu64 " tensor infos", r->path, n_tensors);
    for (uint64_t i = 0; i < n_tensors; i++) {
        is_gguf_tensor *t = &g->tensors[i];
        gg_field(r, "tensor #%" PRIu64, i);
        if (gg_name(r, "name", GG_MAX_NAME, &t->name)) return -1;
        g->n_tensors++;
        gg_field(r, "tensor #%" PRIu64 " '%s'", i, t->name);
        if (gg_read_info(r, t)) return -1;
    }
    return 0;
}

static int gg_cmp_offset(const void *a, const void *b) {
    const is_gguf_tensor *x = *(const is_gguf_tensor *const *)a, *y = *(const is_gguf_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

// Offsets aligned and inside the data section, and no two tensors share a byte.
static int gg_place_tensors(is_gguf *g, is_err *err) {
    const is_gguf_tensor **by_off = is_xcalloc((size_t)(g->n_tensors ? g->n_tensors : 1), sizeof *by_off);
    int64_t n = 0;
    int rc = 0;
    for (int64_t i = 0; i < g->n_tensors && !rc; i++) {
        is_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment != 0)
            rc = is_errf(err, "%s: tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu32,
                         g->path, t->name, t->offset, g->alignment);
        else if (t->offset > g->data_size || t->nbytes > g->data_size - t->offset)
            rc = is_errf(err, "%s: tensor '%s': data at offset %" PRIu64 " of %" PRIu64 " bytes runs past the "
                         "end of the data section (%" PRIu64 " bytes)", g->path, t->name, t->offset, t->nbytes,
                         g->data_size);
        else {
            t->data = g->data + t->offset;
            if (t->nbytes) by_off[n++] = t;
        }
    }
    if (!rc) qsort(by_off, (size_t)n, sizeof *by_off, gg_cmp_offset);
    for (int64_t i = 1; i < n && !rc; i++) {
        const is_gguf_tensor *a = by_off[i - 1], *b = by_off[i];
        if (a->offset + a->nbytes > b->offset)
            rc = is_errf(err, "%s: tensors '%s' and '%s' overlap (bytes [%" PRIu64 ", %" PRIu64 ") and [%" PRIu64
                         ", %" PRIu64 ") of the data section)", g->path, a->name, b->name, a->offset,
                         a->offset + a->nbytes, b->offset, b->offset + b->nbytes);
    }
    free(by_off);
    return rc;
}

// ---- reader: the whole file -------------------------------------------------------------

static int gg_read_header(is_gguf *g, gg_rd *r, uint64_t *n_tensors, uint64_t *n_kv) {
    const uint8_t *p = r->base;
    if (memcmp(p, "GGUF", 4) != 0)
        return is_errf(r->err, "%s: header: magic is %02x %02x %02x %02x, expected \"GGUF\" (47 47 55 46): not a "
                       "GGUF file", r->path, p[0], p[1], p[2], p[3]);
    r->pos = 4;
    gg_field(r, "header");
    if (gg_u32(r, "version", &g->version)) return -1;
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version)
            return is_errf(r->err, "%s: header: version %" PRIu32 " (0x%08" PRIx32 ") is not supported: a "
                           "big-endian file? (expected 2 or 3, little-endian)", r->path, g->version, g->version);
        return is_errf(r->err, "%s: header: version %" PRIu32 " is not supported (expected 2 or 3)", r->path,
                       g->version);
    }
    return gg_u64(r, "tensor count", n_tensors) || gg_u64(r, "metadata count", n_kv) ? -1 : 0;
}

static int gg_parse(is_gguf *g, is_err *err) {
    gg_rd r = {.path = g->path, .base = g->map, .size = g->map_size, .err = err};
    uint64_t n_tensors = 0, n_kv = 0;
    if (gg_read_header(g, &r, &n_tensors, &n_kv) || gg_read_kvs(g, &r, n_kv)) return -1;
    g->kv_sorted = gg_sorted(g, g->n_kv, false);
    for (int64_t i = 1; i < g->n_kv; i++)
        if (!strcmp(g->kv[g->kv_sorted[i - 1]].key, g->kv[g->kv_sorted[i]].key))
            return is_errf(err, "%s: metadata key '%s' appears twice (pairs #%" PRId64 " and #%" PRId64 ")", g->path,
                           g->kv[g->kv_sorted[i]].key, g->kv_sorted[i - 1], g->kv_sorted[i]);
    if (gg_alignment(g, err) || gg_read_infos(g, &r, n_tensors)) return -1;
    g->tensor_sorted = gg_sorted(g, g->n_tensors, true);
    for (int64_t i = 1; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[g->tensor_sorted[i - 1]].name, g->tensors[g->tensor_sorted[i]].name))
            return is_errf(err, "%s: tensor name '%s' appears twice (tensors #%" PRId64 " and #%" PRId64 ")",
                           g->path, g->tensors[g->tensor_sorted[i]].name, g->tensor_sorted[i - 1],
                           g->tensor_sorted[i]);
    // the data section starts at the next multiple of the alignment after the infos
    uint64_t start = r.pos + (g->alignment - r.pos % g->alignment) % g->alignment;
    if (start > r.size) {
        if (g->n_tensors > 0)
            return is_errf(err, "%s: truncated: the data section starts at offset %" PRIu64 " (the infos end at %"
                           PRIu64 ", aligned to %" PRIu32 "), past the end of the file (%" PRIu64 " bytes)", g->path,
                           start, r.pos, g->alignment, r.size);
        start = r.size; // no tensors: the padding may be left out (ggml reads no further)
    }
    g->data = r.base + start;
    g->data_size = r.size - start;
    return gg_place_tensors(g, err);
}

int is_gguf_open(const char *path, is_gguf *g, is_err *err) {
    memset(g, 0, sizeof *g);
    void *map;
    size_t size;
    if (is_map_file(path, &map, &size, err)) return -1;
    if (size < GG_HEADER_BYTES) {
        is_unmap_file(map, size);
        return is_errf(err, "%s: header: truncated: the file is %zu bytes, shorter than the %d-byte GGUF header "
                       "(magic, version, tensor count, metadata count)", path, size, GG_HEADER_BYTES);
    }
    g->path = is_xstrdup(path);
    g->map = map;
    g->map_size = size;
    if (gg_parse(g, err)) {
        is_gguf_close(g);
        return -1;
    }
    return 0;
}

void is_gguf_close(is_gguf *g) {
    if (!g) return;
    is_unmap_file(g->map, g->map_size);
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free((void *)g->kv[i].str_off);
    }
    free(g->kv);
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->tensors);
    free(g->kv_sorted);
    free(g->tensor_sorted);
    free(g->path);
    memset(g, 0, sizeof *g);
}

// ---- typed getters -------------------------------------------------------------------------

static int gg_wrong_type(const is_gguf *g, const is_gguf_kv *kv, const char *expected, is_err *err) {
    char buf[48];
    return is_errf(err, "%s: metadata '%s' is %s, expected %s", g->path, kv->key, gg_kv_type_str(kv, buf, sizeof buf),
                   expected);
}

int is_gguf_get_u64(const is_gguf *g, const char *key, uint64_t *out, is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    int64_t s;
    uint64_t u;
    bool neg;
    if (!gg_int_at(kv->type, kv->data, &s, &u, &neg)) return gg_wrong_type(g, kv, "an integer", err);
    if (neg)
        return is_errf(err, "%s: metadata '%s' is %" PRId64 ", expected a non-negative integer", g->path, key, s);
    *out = u;
    return 0;
}

int is_gguf_get_i64(const is_gguf *g, const char *key, int64_t *out, is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    int64_t s;
    uint64_t u;
    bool neg;
    if (!gg_int_at(kv->type, kv->data, &s, &u, &neg)) return gg_wrong_type(g, kv, "an integer", err);
    if (kv->type == IS_GGUF_U64 && u > (uint64_t)INT64_MAX)
        return is_errf(err, "%s: metadata '%s' is %" PRIu64 ", more than 2^63 - 1", g->path, key, u);
    *out = s;
    return 0;
}

int is_gguf_get_f64(const is_gguf *g, const char *key, double *out, is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    int64_t s;
    uint64_t u;
    bool neg;
    if (kv->type == IS_GGUF_F32 || kv->type == IS_GGUF_F64) *out = gg_float_at(kv->type, kv->data);
    else if (gg_int_at(kv->type, kv->data, &s, &u, &neg)) *out = neg ? (double)s : (double)u;
    else return gg_wrong_type(g, kv, "a number", err);
    return 0;
}

int is_gguf_get_bool(const is_gguf *g, const char *key, bool *out, is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != IS_GGUF_BOOL) return gg_wrong_type(g, kv, "bool", err);
    *out = kv->data[0] != 0;
    return 0;
}

int is_gguf_get_str(const is_gguf *g, const char *key, const char **s, size_t *len, is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != IS_GGUF_STRING) return gg_wrong_type(g, kv, "string", err);
    *s = (const char *)kv->data;
    *len = (size_t)kv->n;
    return 0;
}

int is_gguf_get_arr(const is_gguf *g, const char *key, is_gguf_type elem_type, const is_gguf_kv **out,
                    is_err *err) {
    const is_gguf_kv *kv = is_gguf_find(g, key);
    if (!kv) return 1;
    if (kv->type != IS_GGUF_ARRAY || (elem_type != IS_GGUF_ARRAY && kv->arr_type != elem_type)) {
        char want[48];
        if (elem_type == IS_GGUF_ARRAY) snprintf(want, sizeof want, "an array");
        else snprintf(want, sizeof want, "an array of %s", gg_value_name(elem_type));
        return gg_wrong_type(g, kv, want, err);
    }
    *out = kv;
    return 0;
}

const char *is_gguf_arr_str(const is_gguf_kv *kv, uint64_t i, size_t *len) {
    *len = 0;
    if (!kv || kv->type != IS_GGUF_ARRAY || kv->arr_type != IS_GGUF_STRING || i >= kv->n || !kv->str_off)
        return NULL;
    const uint8_t *p = kv->data + kv->str_off[i];
    *len = (size_t)gg_load(p, 8);
    return (const char *)p + 8;
}

int64_t is_gguf_arr_int(const is_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != IS_GGUF_ARRAY || i >= kv->n) return 0;
    int64_t s;
    uint64_t u;
    bool neg;
    if (!gg_int_at(kv->arr_type, kv->data + i * gg_value_size(kv->arr_type), &s, &u, &neg)) return 0;
    return s;
}

double is_gguf_arr_f64(const is_gguf_kv *kv, uint64_t i) {
    if (!kv || kv->type != IS_GGUF_ARRAY || i >= kv->n) return NAN;
    const uint8_t *p = kv->data + i * gg_value_size(kv->arr_type);
    if (kv->arr_type == IS_GGUF_F32 || kv->arr_type == IS_GGUF_F64) return gg_float_at(kv->arr_type, p);
    int64_t s;
    uint64_t u;
    bool neg;
    if (gg_int_at(kv->arr_type, p, &s, &u, &neg)) return neg ? (double)s : (double)u;
    return NAN;
}

// ---- writer ----------------------------------------------------------------------------------

typedef struct gw_buf {
    uint8_t *p;
    size_t n, cap;
} gw_buf;

static void gw_put(gw_buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = is_xrealloc(b->p, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void gw_le(gw_buf *b, uint64_t v, size_t n) {
    uint8_t tmp[8];
    gg_store(tmp, v, n);
    gw_put(b, tmp, n);
}

static void gw_str(gw_buf *b, const char *s, size_t n) {
    gw_le(b, n, 8);
    gw_put(b, s, n);
}

typedef struct gw_kv {
    char *key;
    uint32_t type;
    gw_buf val; // the value's bytes after the type (arrays: element type, count, elements)
} gw_kv;

typedef struct gw_tensor {
    char *name;
    is_dtype dtype;
    int n_dims;
    int64_t ne[IS_GGUF_MAX_DIMS];
    uint64_t nbytes, offset;
} gw_tensor;

struct is_gguf_writer {
    gw_kv *kv;
    int n_kv, cap_kv;
    gw_tensor *t;
    int n_t, cap_t;
    char error[512]; // the first misuse of the set/add calls, reported by is_gguf_write
};

is_gguf_writer *is_gguf_writer_new(void) { return is_xcalloc(1, sizeof(is_gguf_writer)); }

void is_gguf_writer_free(is_gguf_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    free(w->kv);
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->t);
    free(w);
}

static void gw_fail(is_gguf_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gw_fail(is_gguf_writer *w, const char *fmt, ...) {
    if (w->error[0]) return; // the first one says what went wrong
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

// The value slot of key, emptied: a key set again keeps its place and takes the
// new value (as gguf-py's writer does). NULL after a misuse.
static gw_buf *gw_slot(is_gguf_writer *w, const char *key, uint32_t type) {
    if (!key || !key[0] || strlen(key) > GG_MAX_KEY) {
        gw_fail(w, "metadata key %s%s%s: a key must be 1 to %d bytes", key ? "'" : "", key ? key : "(null)",
                key ? "'" : "", GG_MAX_KEY);
        return NULL;
    }
    for (int i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            w->kv[i].type = type;
            w->kv[i].val.n = 0;
            return &w->kv[i].val;
        }
    if (w->n_kv == w->cap_kv) {
        w->cap_kv = w->cap_kv ? 2 * w->cap_kv : 16;
        w->kv = is_xrealloc(w->kv, (size_t)w->cap_kv * sizeof *w->kv);
    }
    gw_kv *kv = &w->kv[w->n_kv++];
    *kv = (gw_kv){.key = is_xstrdup(key), .type = type};
    return &kv->val;
}

static void gw_scalar(is_gguf_writer *w, const char *key, uint32_t type, uint64_t bits) {
    gw_buf *b = gw_slot(w, key, type);
    if (b) gw_le(b, bits, gg_value_size(type));
}

void is_gguf_set_u32(is_gguf_writer *w, const char *key, uint32_t v) { gw_scalar(w, key, IS_GGUF_U32, v); }
void is_gguf_set_i32(is_gguf_writer *w, const char *key, int32_t v) {
    gw_scalar(w, key, IS_GGUF_I32, (uint32_t)v);
}
void is_gguf_set_u64(is_gguf_writer *w, const char *key, uint64_t v) { gw_scalar(w, key, IS_GGUF_U64, v); }
void is_gguf_set_bool(is_gguf_writer *w, const char *key, bool v) { gw_scalar(w, key, IS_GGUF_BOOL, v ? 1 : 0); }

void is_gguf_set_f32(is_gguf_writer *w, const char *key, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    gw_scalar(w, key, IS_GGUF_F32, bits);
}

void is_gguf_set_str(is_gguf_writer *w, const char *key, const char *v) {
    gw_buf *b = gw_slot(w, key, IS_GGUF_STRING);
    if (b) gw_str(b, v ? v : "", v ? strlen(v) : 0);
}

static gw_buf *gw_array(is_gguf_writer *w, const char *key, uint32_t elem, uint64_t n) {
    gw_buf *b = gw_slot(w, key, IS_GGUF_ARRAY);
    if (!b) return NULL;
    gw_le(b, elem, 4);
    gw_le(b, n, 8);
    return b;
}

void is_gguf_set_arr_str(is_gguf_writer *w, const char *key, const char *const *v, const size_t *len, uint64_t n) {
    gw_buf *b = gw_array(w, key, IS_GGUF_STRING, n);
    for (uint64_t i = 0; b && i < n; i++) gw_str(b, v[i], len ? len[i] : strlen(v[i]));
}

void is_gguf_set_arr_i32(is_gguf_writer *w, const char *key, const int32_t *v, uint64_t n) {
    gw_buf *b = gw_array(w, key, IS_GGUF_I32, n);
    for (uint64_t i = 0; b && i < n; i++) gw_le(b, (uint32_t)v[i], 4);
}

void is_gguf_set_arr_f32(is_gguf_writer *w, const char *key, const float *v, uint64_t n) {
    gw_buf *b = gw_array(w, key, IS_GGUF_F32, n);
    for (uint64_t i = 0; b && i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        gw_le(b, bits, 4);
    }
}

void is_gguf_add_tensor(is_gguf_writer *w, const char *name, is_dtype dtype, int n_dims, const int64_t *ne) {
    if (!name || !name[0] || strlen(name) > GG_WRITER_MAX_NAME) {
        gw_fail(w, "tensor %s%s%s: a name must be 1 to %d bytes (llama.cpp's limit)", name ? "'" : "",
                name ? name : "(null)", name ? "'" : "", GG_WRITER_MAX_NAME);
        return;
    }
    if (is_gguf_ggml_type(dtype) < 0) {
        gw_fail(w, "tensor '%s': dtype %s has no GGUF type (expected F32, F16, BF16, Q8_0 or Q4_0)", name,
                is_dtype_name(dtype));
        return;
    }
    if (n_dims < 1 || n_dims > IS_GGUF_MAX_DIMS) {
        gw_fail(w, "tensor '%s': %d dimensions, expected 1 to %d", name, n_dims, IS_GGUF_MAX_DIMS);
        return;
    }
    if (w->n_t == w->cap_t) {
        w->cap_t = w->cap_t ? 2 * w->cap_t : 16;
        w->t = is_xrealloc(w->t, (size_t)w->cap_t * sizeof *w->t);
    }
    gw_tensor *t = &w->t[w->n_t++];
    *t = (gw_tensor){.name = is_xstrdup(name), .dtype = dtype, .n_dims = n_dims};
    for (int d = 0; d < IS_GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
}

// Checks the tensors (shapes, sizes, unique names), lays them out, and finds the alignment.
static int gw_plan(is_gguf_writer *w, const char *path, uint32_t *alignment, is_err *err) {
    if (w->error[0]) return is_errf(err, "%s: %s", path, w->error);
    *alignment = IS_GGUF_DEFAULT_ALIGNMENT;
    for (int i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        if (w->kv[i].type != IS_GGUF_U32)
            return is_errf(err, "%s: metadata 'general.alignment' is %s, expected u32", path,
                           gg_value_name(w->kv[i].type));
        uint32_t a = (uint32_t)gg_load(w->kv[i].val.p, 4);
        if (a == 0 || (a & (a - 1)))
            return is_errf(err, "%s: metadata 'general.alignment' is %" PRIu32 ", expected a power of two", path, a);
        *alignment = a;
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n_t; i++) {
        gw_tensor *t = &w->t[i];
        for (int j = 0; j < i; j++)
            if (!strcmp(w->t[j].name, t->name)) return is_errf(err, "%s: tensor '%s' is added twice", path, t->name);
        for (int d = 0; d < t->n_dims; d++)
            if (t->ne[d] < 0) return is_errf(err, "%s: tensor '%s': ne[%d] = %" PRId64 " is negative", path, t->name,
                                             d, t->ne[d]);
        int64_t block = is_dtype_block(t->dtype);
        if (t->ne[0] % block)
            return is_errf(err, "%s: tensor '%s': rows of %" PRId64 " elements are not whole %s blocks of %" PRId64,
                           path, t->name, t->ne[0], is_dtype_name(t->dtype), block);
        // rows x is_dtype_row_bytes(dtype, ne[0]), each product checked
        const gg_type_info *ti = gg_type((uint32_t)is_gguf_ggml_type(t->dtype));
        uint64_t bytes, padded;
        bool over = __builtin_mul_overflow((uint64_t)t->ne[0] / ti->block, (uint64_t)ti->bytes, &bytes);
        for (int d = 1; d < t->n_dims && !over; d++) over = __builtin_mul_overflow(bytes, (uint64_t)t->ne[d], &bytes);
        if (over) return is_errf(err, "%s: tensor '%s': its size overflows 64 bits", path, t->name);
        t->nbytes = bytes;
        t->offset = off;
        if (__builtin_add_overflow(bytes, (uint64_t)(*alignment - 1), &padded) ||
            __builtin_add_overflow(off, padded / *alignment * *alignment, &off))
            return is_errf(err, "%s: tensor '%s': the data section overflows 64 bits", path, t->name);
    }
    return 0;
}

// Header, metadata, tensor infos and the padding to the data section.
static void gw_head(const is_gguf_writer *w, uint32_t alignment, gw_buf *b) {
    gw_put(b, "GGUF", 4);
    gw_le(b, 3, 4);
    gw_le(b, (uint64_t)w->n_t, 8);
    gw_le(b, (uint64_t)w->n_kv, 8);
    for (int i = 0; i < w->n_kv; i++) {
        gw_str(b, w->kv[i].key, strlen(w->kv[i].key));
        gw_le(b, w->kv[i].type, 4);
        gw_put(b, w->kv[i].val.p, w->kv[i].val.n);
    }
    for (int i = 0; i < w->n_t; i++) {
        const gw_tensor *t = &w->t[i];
        gw_str(b, t->name, strlen(t->name));
        gw_le(b, (uint64_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) gw_le(b, (uint64_t)t->ne[d], 8);
        gw_le(b, (uint64_t)is_gguf_ggml_type(t->dtype), 4);
        gw_le(b, t->offset, 8);
    }
    static const uint8_t zeros[64];
    while (b->n % alignment) gw_put(b, zeros, alignment - b->n % alignment < 64 ? alignment - b->n % alignment : 64);
}

static int gw_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int gw_zeros(int fd, uint64_t n) {
    static const uint8_t zeros[4096];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (gw_write_all(fd, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

// Calls fill for tensor i; the message names the path and the tensor.
static int gw_fill(const char *path, const gw_tensor *t, int i, is_gguf_fill_fn fill, void *user, void *buf,
                   is_err *err) {
    if (err) err->msg[0] = '\0';
    if (fill(user, i, buf, t->nbytes, err) == 0) return 0;
    if (!err) return -1;
    if (!err->msg[0]) snprintf(err->msg, sizeof err->msg, "fill callback failed");
    char quoted[GG_WRITER_MAX_NAME + 3];
    snprintf(quoted, sizeof quoted, "'%s'", t->name);
    if (strstr(err->msg, quoted)) is_err_prefix(err, "%s", path); // the callback named it already
    else is_err_prefix(err, "%s: tensor '%s'", path, t->name);
    return -1;
}

// Flushes the directory entry of a completed rename; best effort.
static void gw_sync_dir(const char *path) {
    char *copy = is_xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

static int gw_body(const is_gguf_writer *w, int fd, const char *path, const char *tmp, uint32_t alignment,
                   is_gguf_fill_fn fill, void *user, is_err *err) {
    gw_buf head = {0};
    gw_head(w, alignment, &head);
    int rc = -1;
    void *buf = NULL;
    if (gw_write_all(fd, head.p, head.n)) {
        is_errf(err, "%s: writing %s failed: %s", path, tmp, strerror(errno));
        goto done;
    }
    uint64_t max = 0;
    for (int i = 0; i < w->n_t; i++) max = w->t[i].nbytes > max ? w->t[i].nbytes : max;
    if (max > SIZE_MAX || !(buf = malloc(max ? (size_t)max : 1))) {
        is_errf(err, "%s: out of memory for a %" PRIu64 "-byte tensor buffer", path, max);
        goto done;
    }
    for (int i = 0; i < w->n_t; i++) {
        const gw_tensor *t = &w->t[i];
        uint64_t pad = (alignment - t->nbytes % alignment) % alignment;
        if (gw_fill(path, t, i, fill, user, buf, err)) goto done;
        if (gw_write_all(fd, buf, (size_t)t->nbytes) || gw_zeros(fd, pad)) {
            is_errf(err, "%s: writing %s failed: %s", path, tmp, strerror(errno));
            goto done;
        }
    }
    if (fsync(fd) != 0) {
        is_errf(err, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(buf);
    free(head.p);
    return rc;
}

int is_gguf_write(is_gguf_writer *w, const char *path, is_gguf_fill_fn fill, void *user, is_err *err) {
    uint32_t alignment = IS_GGUF_DEFAULT_ALIGNMENT;
    if (gw_plan(w, path, &alignment, err)) return -1;
    if (w->n_t > 0 && !fill) return is_errf(err, "%s: %d tensors and no fill callback", path, w->n_t);
    // the name base/fileio.h's is_write_file_atomic uses, so its cleaner finds ours too
    size_t tlen = strlen(path) + sizeof ".tmp.XXXXXX";
    char *tmp = is_xmalloc(tlen);
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = is_errf(err, "%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = 0;
    if (fchmod(fd, 0644) != 0) rc = is_errf(err, "%s: cannot set the mode of %s: %s", path, tmp, strerror(errno));
    if (!rc) rc = gw_body(w, fd, path, tmp, alignment, fill, user, err);
    if (close(fd) != 0 && rc == 0) rc = is_errf(err, "%s: closing %s failed: %s", path, tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = is_errf(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (rc == 0) gw_sync_dir(path);
    else unlink(tmp);
    free(tmp);
    return rc;
}
