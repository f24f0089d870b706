// safetensors.c — memory-mapped reader and atomic writer of .safetensors files.
//
// Reader: the header is parsed from a copy and every field is checked before a
// pointer into the mapping is formed. Tensors are kept sorted by name, so
// is_st_find is a binary search and duplicate names sit side by side.
// Writer: header padded with spaces so the data section starts 8-byte aligned,
// data written to "<path>.tmp.<pid>", fsync'd and renamed into place.
#include "engine/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h" // defines: is_map_file, is_unmap_file

#define IS_ST_MAX_HEADER ((uint64_t)100 << 20)
// JSON numbers pass through a double: larger integers would lose digits.
#define IS_ST_MAX_INT ((uint64_t)1 << 53)

// Safetensors dtypes other than the three we read, for a precise message.
static const char *const st_other_dtypes[] = {
    "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64", "C64",
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
};

static uint64_t st_load_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void st_store_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// "[2, 3]" for messages.
static void st_shape_str(char *buf, size_t n, const int64_t *shape, int ndim) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

static const char *st_describe(const cJSON *v, char *buf, size_t n) {
    if (!v) return "nothing";
    if (cJSON_IsNumber(v)) {
        snprintf(buf, n, "%.15g", v->valuedouble);
        return buf;
    }
    if (cJSON_IsString(v)) {
        snprintf(buf, n, "\"%.40s\"", v->valuestring);
        return buf;
    }
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? "true" : "false";
    return "null";
}

// True when v is an integral number in [0, 2^53]; stores it in *out.
static bool st_json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= (double)IS_ST_MAX_INT) || d != floor(d)) return false;
    *out = (uint64_t)d;
    return true;
}

// Bytes of numel x dtype; false on overflow.
static bool st_nbytes(const int64_t *shape, int ndim, is_dtype dtype, uint64_t *out) {
    uint64_t bytes = is_dtype_size(dtype);
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) {
            *out = 0;
            return true;
        }
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(bytes, (uint64_t)shape[d], &bytes)) return false;
    *out = bytes;
    return true;
}

int64_t is_st_numel(const is_st_tensor *t) {
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}

// ---- reader: one header entry ------------------------------------------------

static int st_read_dtype(const is_st_file *f, is_st_tensor *t, const cJSON *v, is_err *err) {
    char buf[96];
    if (!cJSON_IsString(v))
        return is_errf(err, "%s: tensor %s: \"dtype\" must be a string, got %s", f->path, t->name,
                       st_describe(v, buf, sizeof buf));
    const is_dtype ours[] = {IS_DTYPE_F32, IS_DTYPE_F16, IS_DTYPE_BF16};
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++)
        if (!strcmp(v->valuestring, is_dtype_name(ours[i]))) {
            t->dtype = ours[i];
            return 0;
        }
    for (size_t i = 0; i < sizeof st_other_dtypes / sizeof st_other_dtypes[0]; i++)
        if (!strcmp(v->valuestring, st_other_dtypes[i]))
            return is_errf(err, "%s: tensor %s: dtype %s is not supported (expected F32, F16 or BF16)",
                           f->path, t->name, v->valuestring);
    return is_errf(err, "%s: tensor %s: unknown dtype %s (expected F32, F16 or BF16)", f->path, t->name,
                   st_describe(v, buf, sizeof buf));
}

static int st_read_shape(const is_st_file *f, is_st_tensor *t, const cJSON *v, is_err *err) {
    char buf[96];
    if (!cJSON_IsArray(v))
        return is_errf(err, "%s: tensor %s: \"shape\" must be an array of non-negative integers, got %s",
                       f->path, t->name, st_describe(v, buf, sizeof buf));
    int n = cJSON_GetArraySize(v);
    if (n > IS_ST_MAX_DIMS)
        return is_errf(err, "%s: tensor %s: shape has %d dimensions, at most %d are supported", f->path,
                       t->name, n, IS_ST_MAX_DIMS);
    const cJSON *it;
    int d = 0;
    cJSON_ArrayForEach(it, v) {
        uint64_t x;
        if (!st_json_u64(it, &x))
            return is_errf(err, "%s: tensor %s: shape[%d] must be a non-negative integer, got %s",
                           f->path, t->name, d, st_describe(it, buf, sizeof buf));
        t->shape[d++] = (int64_t)x;
    }
    t->ndim = n;
    // The element count must fit an int64 even when a zero dimension makes the tensor
    // empty (is_st_numel multiplies every dimension): [2^53, 2^53, 0] is refused here,
    // before any byte count or shape check would let it through.
    uint64_t prod = 1;
    for (int i = 0; i < n; i++) {
        uint64_t x = (uint64_t)t->shape[i];
        if (x > (uint64_t)INT64_MAX || (x && __builtin_mul_overflow(prod, x, &prod)) || prod > (uint64_t)INT64_MAX) {
            char shape[256];
            st_shape_str(shape, sizeof shape, t->shape, n);
            return is_errf(err, "%s: tensor %s: shape %s has more than 2^63 elements", f->path, t->name, shape);
        }
    }
    return 0;
}

static int st_read_offsets(const is_st_file *f, is_st_tensor *t, const cJSON *v, is_err *err) {
    char buf[96];
    if (!cJSON_IsArray(v))
        return is_errf(err, "%s: tensor %s: \"data_offsets\" must be an array [begin, end], got %s",
                       f->path, t->name, st_describe(v, buf, sizeof buf));
    int n = cJSON_GetArraySize(v);
    if (n != 2)
        return is_errf(err, "%s: tensor %s: \"data_offsets\" must be [begin, end], got %d elements",
                       f->path, t->name, n);
    uint64_t off[2];
    for (int i = 0; i < 2; i++) {
        const cJSON *it = cJSON_GetArrayItem(v, i);
        if (!st_json_u64(it, &off[i]))
            return is_errf(err, "%s: tensor %s: data_offsets[%d] must be a non-negative integer, got %s",
                           f->path, t->name, i, st_describe(it, buf, sizeof buf));
    }
    if (off[0] > off[1])
        return is_errf(err, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] begin after they end",
                       f->path, t->name, off[0], off[1]);
    if (off[1] > f->data_size)
        return is_errf(err, "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] run past the data "
                       "section (%" PRIu64 " bytes)", f->path, t->name, off[0], off[1], f->data_size);
    t->begin = off[0];
    t->end = off[1];
    return 0;
}

// Fills t from its header entry e (t->name already set).
static int st_read_entry(const is_st_file *f, is_st_tensor *t, const cJSON *e, is_err *err) {
    if (!cJSON_IsObject(e)) {
        char buf[96];
        return is_errf(err, "%s: tensor %s: entry must be an object {dtype, shape, data_offsets}, got %s",
                       f->path, t->name, st_describe(e, buf, sizeof buf));
    }
    const char *keys[] = {"dtype", "shape", "data_offsets"};
    const cJSON *v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = cJSON_GetObjectItemCaseSensitive(e, keys[i]);
        if (!v[i]) return is_errf(err, "%s: tensor %s: \"%s\" is missing", f->path, t->name, keys[i]);
    }
    if (st_read_dtype(f, t, v[0], err) || st_read_shape(f, t, v[1], err) ||
        st_read_offsets(f, t, v[2], err))
        return -1;
    uint64_t need;
    char shape[256];
    st_shape_str(shape, sizeof shape, t->shape, t->ndim);
    if (!st_nbytes(t->shape, t->ndim, t->dtype, &need))
        return is_errf(err, "%s: tensor %s: shape %s x %s needs more than 2^64 bytes", f->path, t->name,
                       shape, is_dtype_name(t->dtype));
    if (need != t->end - t->begin)
        return is_errf(err, "%s: tensor %s: shape %s x %s needs %" PRIu64 " bytes but data_offsets span "
                       "%" PRIu64, f->path, t->name, shape, is_dtype_name(t->dtype), need,
                       t->end - t->begin);
    t->data = f->data + t->begin;
    return 0;
}

// ---- reader: the whole header -------------------------------------------------------

static int st_cmp_name(const void *a, const void *b) {
    return strcmp(((const is_st_tensor *)a)->name, ((const is_st_tensor *)b)->name);
}

static int st_cmp_begin(const void *a, const void *b) {
    const is_st_tensor *x = *(const is_st_tensor *const *)a, *y = *(const is_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

// Tensors holding bytes must not share any; empty tensors hold none.
static int st_check_overlaps(const is_st_file *f, is_err *err) {
    const is_st_tensor **by_begin = is_xcalloc((size_t)f->n_tensors, sizeof *by_begin);
    int n = 0;
    for (int i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].end > f->tensors[i].begin) by_begin[n++] = &f->tensors[i];
    qsort(by_begin, (size_t)n, sizeof *by_begin, st_cmp_begin);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++) {
        const is_st_tensor *a = by_begin[i - 1], *b = by_begin[i];
        if (a->end > b->begin)
            rc = is_errf(err, "%s: tensors %s and %s overlap (data_offsets [%" PRIu64 ", %" PRIu64 "] "
                         "and [%" PRIu64 ", %" PRIu64 "])", f->path, a->name, b->name, a->begin, a->end,
                         b->begin, b->end);
    }
    free(by_begin);
    return rc;
}

static int st_read_tensors(is_st_file *f, const cJSON *root, is_err *err) {
    int n = 0, n_meta = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") != 0) {
            n++;
            continue;
        }
        if (++n_meta > 1) return is_errf(err, "%s: \"__metadata__\" appears more than once", f->path);
        if (!cJSON_IsObject(e)) {
            char buf[96];
            return is_errf(err, "%s: \"__metadata__\" must be an object of strings, got %s", f->path,
                           st_describe(e, buf, sizeof buf));
        }
    }
    f->tensors = is_xcalloc((size_t)n, sizeof *f->tensors);
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        is_st_tensor *t = &f->tensors[f->n_tensors++];
        t->name = is_xstrdup(e->string);
        if (st_read_entry(f, t, e, err)) return -1;
    }
    qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, st_cmp_name);
    for (int i = 1; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i - 1].name, f->tensors[i].name))
            return is_errf(err, "%s: tensor %s appears more than once in the header", f->path,
                           f->tensors[i].name);
    return st_check_overlaps(f, err);
}

// Checks the header length, parses the header JSON and every entry.
static int st_read_header(is_st_file *f, is_err *err) {
    const uint8_t *p = f->map;
    uint64_t size = f->map_size, n = st_load_le64(p);
    if (n > size - 8)
        return is_errf(err, "%s: header length %" PRIu64 " runs past the end of the file (size %" PRIu64 ")",
                       f->path, n, size);
    if (n < 2)
        return is_errf(err, "%s: header length %" PRIu64 " is too short for a JSON object", f->path, n);
    if (n > IS_ST_MAX_HEADER)
        return is_errf(err, "%s: header length %" PRIu64 " exceeds the %" PRIu64 "-byte limit", f->path,
                       n, IS_ST_MAX_HEADER);
    f->data = p + 8 + n;
    f->data_size = size - 8 - n;
    // a NUL-terminated copy: the parser never reads past the header
    char *text = malloc((size_t)n + 1);
    if (!text) return is_errf(err, "%s: out of memory reading a %" PRIu64 "-byte header", f->path, n);
    memcpy(text, p + 8, (size_t)n);
    text[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)n, &end, 0);
    int rc = -1;
    if (!root) {
        is_errf(err, "%s: header is not valid JSON (error near byte %zu)", f->path,
                8 + (end ? (size_t)(end - text) : 0));
        goto done;
    }
    for (const char *q = end; q < text + n; q++)
        if (!strchr(" \t\r\n", *q)) {
            is_errf(err, "%s: header is not valid JSON (unexpected data after the object at byte %zu)",
                    f->path, 8 + (size_t)(q - text));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        is_errf(err, "%s: header is not a JSON object", f->path);
        goto done;
    }
    rc = st_read_tensors(f, root, err);
done:
    cJSON_Delete(root);
    free(text);
    return rc;
}

// ---- reader: public ------------------------------------------------------------

int is_st_open(const char *path, is_st_file *f, is_err *err) {
    memset(f, 0, sizeof *f);
    void *map;
    size_t size;
    if (is_map_file(path, &map, &size, err)) return -1;
    if (size < 8) {
        is_unmap_file(map, size);
        return is_errf(err, "%s: file is %zu bytes, shorter than the 8-byte header length", path, size);
    }
    f->path = is_xstrdup(path);
    f->map = map;
    f->map_size = size;
    if (st_read_header(f, err)) {
        is_st_close(f);
        return -1;
    }
    return 0;
}

void is_st_close(is_st_file *f) {
    if (!f) return;
    is_unmap_file(f->map, f->map_size);
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->path);
    memset(f, 0, sizeof *f);
}

const is_st_tensor *is_st_find(const is_st_file *f, const char *name) {
    if (!f || f->n_tensors == 0) return NULL;
    is_st_tensor key = {.name = (char *)name};
    return bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, st_cmp_name);
}

// ---- writer -----------------------------------------------------------------------

static int st_cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// Names are unique (after st_check_desc has seen them all non-NULL).
static int st_check_unique(const char *path, const is_st_desc *descs, int n, is_err *err) {
    const char **names = is_xcalloc((size_t)n, sizeof *names);
    for (int i = 0; i < n; i++) names[i] = descs[i].name;
    qsort(names, (size_t)n, sizeof *names, st_cmp_str);
    int rc = 0;
    for (int i = 1; i < n && !rc; i++)
        if (!strcmp(names[i - 1], names[i]))
            rc = is_errf(err, "%s: tensor %s is listed twice", path, names[i]);
    free(names);
    return rc;
}

// Checks descriptor i and computes its size in bytes.
static int st_check_desc(const char *path, const is_st_desc *d, int i, uint64_t *bytes, is_err *err) {
    if (!d->name || !d->name[0] || !strcmp(d->name, "__metadata__"))
        return is_errf(err, "%s: tensor %d: invalid name \"%s\"", path, i, d->name ? d->name : "(null)");
    if (d->dtype != IS_DTYPE_F32 && d->dtype != IS_DTYPE_F16 && d->dtype != IS_DTYPE_BF16)
        return is_errf(err, "%s: tensor %s: invalid dtype %d", path, d->name, (int)d->dtype);
    if (d->ndim < 0 || d->ndim > IS_ST_MAX_DIMS)
        return is_errf(err, "%s: tensor %s: %d dimensions, expected 0 to %d", path, d->name, d->ndim,
                       IS_ST_MAX_DIMS);
    for (int k = 0; k < d->ndim; k++)
        if (d->shape[k] < 0 || (uint64_t)d->shape[k] > IS_ST_MAX_INT)
            return is_errf(err, "%s: tensor %s: shape[%d] = %" PRId64 " is out of range", path, d->name,
                           k, d->shape[k]);
    if (!st_nbytes(d->shape, d->ndim, d->dtype, bytes))
        return is_errf(err, "%s: tensor %s: size overflows 64 bits", path, d->name);
    return 0;
}

static cJSON *st_json_u64_raw(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    return cJSON_CreateRaw(buf);
}

// The header JSON, padded with spaces so 8 + length is a multiple of 8.
static char *st_build_header(const is_st_desc *descs, int n, const uint64_t *bytes, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(root, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt"); // transformers checks it
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_AddObjectToObject(root, descs[i].name);
        cJSON_AddStringToObject(e, "dtype", is_dtype_name(descs[i].dtype));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int k = 0; k < descs[i].ndim; k++)
            cJSON_AddItemToArray(shape, st_json_u64_raw((uint64_t)descs[i].shape[k]));
        cJSON *offs = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offs, st_json_u64_raw(off));
        cJSON_AddItemToArray(offs, st_json_u64_raw(off + bytes[i]));
        off += bytes[i];
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    IS_ASSERT(json != NULL);
    size_t n_json = strlen(json), n_pad = (n_json + 7) / 8 * 8;
    char *out = is_xmalloc(n_pad);
    memcpy(out, json, n_json);
    memset(out + n_json, ' ', n_pad - n_json);
    cJSON_free(json);
    *len = n_pad;
    return out;
}

static int st_write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

// Calls fill for tensor i into buf; the message names the path and the tensor.
static int st_fill(const char *path, const is_st_desc *d, int i, is_st_fill_fn fill, void *user,
                   void *buf, is_err *err) {
    if (err) err->msg[0] = '\0';
    if (fill(user, i, buf, err) == 0) return 0;
    if (!err) return -1;
    if (!err->msg[0]) snprintf(err->msg, sizeof err->msg, "fill callback failed");
    if (strstr(err->msg, d->name)) is_err_prefix(err, "%s", path);
    else is_err_prefix(err, "%s: tensor %s", path, d->name);
    return -1;
}

// Flushes the directory entry of a completed rename; best effort.
static void st_sync_dir(const char *path) {
    char *copy = is_xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

// Writes header and data into fd (the temporary file tmp).
static int st_write_body(int fd, const char *path, const char *tmp, const is_st_desc *descs, int n,
                         const uint64_t *bytes, is_st_fill_fn fill, void *user, is_err *err) {
    size_t hlen;
    char *header = st_build_header(descs, n, bytes, &hlen);
    uint8_t len8[8];
    st_store_le64(len8, hlen);
    int rc = -1;
    void *buf = NULL;
    if (st_write_all(fd, len8, 8) || st_write_all(fd, header, hlen)) {
        is_errf(err, "%s: writing %s failed: %s", path, tmp, strerror(errno));
        goto done;
    }
    uint64_t max = 0;
    for (int i = 0; i < n; i++) max = bytes[i] > max ? bytes[i] : max;
    if (max > SIZE_MAX || !(buf = malloc(max ? (size_t)max : 1))) {
        is_errf(err, "%s: out of memory for a %" PRIu64 "-byte tensor buffer", path, max);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (st_fill(path, &descs[i], i, fill, user, buf, err)) goto done;
        if (st_write_all(fd, buf, (size_t)bytes[i])) {
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
    free(header);
    return rc;
}

int is_st_write(const char *path, const is_st_desc *descs, int n, is_st_fill_fn fill, void *user,
                is_err *err) {
    if (n < 0) return is_errf(err, "%s: negative tensor count %d", path, n);
    uint64_t *bytes = is_xcalloc((size_t)n, sizeof *bytes), total = 0;
    for (int i = 0; i < n; i++) {
        if (st_check_desc(path, &descs[i], i, &bytes[i], err)) goto fail_bytes;
        if (__builtin_add_overflow(total, bytes[i], &total) || total > IS_ST_MAX_INT) {
            is_errf(err, "%s: tensors add up to more than 2^53 bytes", path);
            goto fail_bytes;
        }
    }
    if (st_check_unique(path, descs, n, err)) goto fail_bytes;
    size_t tlen = strlen(path) + 32;
    char *tmp = is_xmalloc(tlen);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        is_errf(err, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        goto fail_bytes;
    }
    int rc = st_write_body(fd, path, tmp, descs, n, bytes, fill, user, err);
    if (close(fd) != 0 && rc == 0)
        rc = is_errf(err, "%s: closing %s failed: %s", path, tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = is_errf(err, "%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
    if (rc == 0) st_sync_dir(path);
    else unlink(tmp);
    free(tmp);
    free(bytes);
    return rc;
fail_bytes:
    free(bytes);
    return -1;
}
