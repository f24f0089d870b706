// test_safetensors.c — the safetensors writer and reader, and the reader's checks
// of every header field on hand-crafted bad files.
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/safetensors.h" // defines: is_st_open, is_st_close, is_st_find, is_st_write
#include "support/testutil.h" // defines: tu_count_entries

// ---- a temporary directory per test ---------------------------------------------

static char tmp_dir[64];

static void tmp_setup(void) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/is_test_st_XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
}

// Removes tmp_dir and what is in it (one level, plus one sub-directory level).
static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0755);
            rm_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

static void tmp_teardown(void) { rm_tree(tmp_dir); }

static char *tmp_path(const char *name) {
    static char buf[4][256];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
    return p;
}

// ---- writing and reading back ----------------------------------------------------------

// Element k of tensor i holds i * 1000 + k, in the tensor's dtype.
static float pattern(int i, int64_t k) { return (float)(i * 1000 + k); }

static int fill_pattern(void *user, int index, void *dst, is_err *err) {
    (void)err;
    const is_st_desc *d = &((const is_st_desc *)user)[index];
    int64_t n = 1;
    for (int k = 0; k < d->ndim; k++) n *= d->shape[k];
    for (int64_t k = 0; k < n; k++) {
        float v = pattern(index, k);
        switch (d->dtype) {
        case IS_DTYPE_F32: memcpy((char *)dst + 4 * k, &v, 4); break;
        case IS_DTYPE_F16: ((uint16_t *)dst)[k] = is_f32_to_f16(v); break;
        case IS_DTYPE_BF16: ((uint16_t *)dst)[k] = is_f32_to_bf16(v); break;
        default: cr_assert_fail("a quantized dtype in a safetensors fixture"); // the writer refuses them
        }
    }
    return 0;
}

static const is_st_desc mixed[] = {
    {"model.embed_tokens.weight", IS_DTYPE_BF16, 2, {5, 3}},
    {"odd.f16", IS_DTYPE_F16, 1, {3}}, // 6 bytes: the next tensor starts unaligned
    {"layer.0.w", IS_DTYPE_F32, 3, {2, 3, 4}},
    {"empty", IS_DTYPE_F32, 2, {0, 4}},
    {"scalar", IS_DTYPE_F32, 0, {0}},
    {"norm", IS_DTYPE_F32, 1, {7}},
};
#define N_MIXED ((int)(sizeof mixed / sizeof mixed[0]))

static float read_elem(const is_st_tensor *t, int64_t k) {
    const uint8_t *p = t->data;
    uint16_t h;
    float v;
    switch (t->dtype) {
    case IS_DTYPE_F32: memcpy(&v, p + 4 * k, 4); return v;
    case IS_DTYPE_F16: memcpy(&h, p + 2 * k, 2); return is_f16_to_f32(h);
    default: memcpy(&h, p + 2 * k, 2); return is_bf16_to_f32(h);
    }
}

Test(safetensors, write_and_read_back, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = tmp_path("model.safetensors");
    is_err err = {{0}};
    cr_assert_eq(is_st_write(path, mixed, N_MIXED, fill_pattern, (void *)mixed, &err), 0, "%s",
                 err.msg);
    cr_assert_eq(tu_count_entries(tmp_dir), 1, "a temporary file was left behind");

    is_st_file f;
    cr_assert_eq(is_st_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, N_MIXED);
    cr_assert_str_eq(f.path, path);
    // the data section starts 8-byte aligned, in the file and in memory
    size_t data_at = (size_t)(f.data - (const uint8_t *)f.map);
    cr_assert_eq(data_at % 8, 0, "data section at byte %zu", data_at);
    cr_assert_eq((uintptr_t)f.data % 8, 0);
    uint64_t off = 0;
    for (int i = 0; i < N_MIXED; i++) {
        const is_st_tensor *t = is_st_find(&f, mixed[i].name);
        cr_assert_not_null(t, "%s not found", mixed[i].name);
        cr_assert_str_eq(t->name, mixed[i].name);
        cr_assert_eq(t->dtype, mixed[i].dtype, "%s", t->name);
        cr_assert_eq(t->ndim, mixed[i].ndim, "%s", t->name);
        for (int d = 0; d < t->ndim; d++) cr_assert_eq(t->shape[d], mixed[i].shape[d]);
        int64_t n = is_st_numel(t);
        // data_offsets packed in the order given
        cr_assert_eq(t->begin, off, "%s", t->name);
        cr_assert_eq(t->end - t->begin, (uint64_t)n * is_dtype_size(t->dtype), "%s", t->name);
        cr_assert_eq((const uint8_t *)t->data, f.data + t->begin);
        off = t->end;
        for (int64_t k = 0; k < n; k++)
            cr_assert(read_elem(t, k) == pattern(i, k), "%s[%lld] = %g", t->name, (long long)k,
                      (double)read_elem(t, k));
    }
    cr_assert_eq(f.data_size, off);
    cr_assert_eq(is_st_numel(is_st_find(&f, "scalar")), 1);
    cr_assert_eq(is_st_numel(is_st_find(&f, "empty")), 0);
    // the first tensor sits at the aligned start of the data section
    cr_assert_eq((uintptr_t)is_st_find(&f, "model.embed_tokens.weight")->data % 8, 0);
    cr_assert_null(is_st_find(&f, "missing"));
    cr_assert_null(is_st_find(&f, ""));

    // the header: length 8 + N a multiple of 8, spaces as padding, format metadata
    const uint8_t *p = f.map;
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = (hlen << 8) | p[k];
    cr_assert_eq((8 + hlen) % 8, 0);
    cr_assert_eq(p[8], '{');
    char *header = strndup((const char *)p + 8, hlen);
    cr_assert(strstr(header, "\"__metadata__\":{\"format\":\"pt\"}"), "%s", header);
    size_t len = strlen(header);
    while (len > 0 && header[len - 1] == ' ') len--;
    cr_assert_eq(header[len - 1], '}');
    free(header);

    is_st_close(&f);
    is_st_close(&f); // idempotent
    cr_assert_null(f.map);
    cr_assert_null(f.tensors);
}

Test(safetensors, close_zeroed_struct) {
    is_st_file f;
    memset(&f, 0, sizeof f);
    is_st_close(&f);
    cr_assert_null(is_st_find(&f, "x"));
}

Test(safetensors, empty_file_and_overwrite, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = tmp_path("m.safetensors");
    is_err err = {{0}};
    cr_assert_eq(is_st_write(path, NULL, 0, fill_pattern, NULL, &err), 0, "%s", err.msg);
    is_st_file f;
    cr_assert_eq(is_st_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, 0);
    cr_assert_eq(f.data_size, 0);
    is_st_close(&f);
    // writing again replaces the file
    cr_assert_eq(is_st_write(path, mixed, 2, fill_pattern, (void *)mixed, &err), 0, "%s", err.msg);
    cr_assert_eq(is_st_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, 2);
    is_st_close(&f);
    cr_assert_eq(tu_count_entries(tmp_dir), 1);
}

// ---- writer failures leave no file ------------------------------------------------------

static int fill_fail_at_2(void *user, int index, void *dst, is_err *err) {
    if (index == 2) return is_errf(err, "synthetic failure");
    return fill_pattern(user, index, dst, err);
}

Test(safetensors, fill_failure_leaves_nothing, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = tmp_path("m.safetensors");
    is_err err = {{0}};
    cr_assert_eq(is_st_write(path, mixed, N_MIXED, fill_fail_at_2, (void *)mixed, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "synthetic failure") &&
                  strstr(err.msg, "layer.0.w"),
              "%s", err.msg);
    cr_assert_eq(tu_count_entries(tmp_dir), 0, "a file was left behind");
}

Test(safetensors, unwritable_directory, .init = tmp_setup, .fini = tmp_teardown) {
    is_err err = {{0}};
    // a directory that does not exist
    const char *path = tmp_path("no/such/dir/m.safetensors");
    cr_assert_eq(is_st_write(path, mixed, N_MIXED, fill_pattern, (void *)mixed, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "No such file"), "%s", err.msg);
    // a "directory" that is a regular file (fails for root too)
    const char *file = tmp_path("plain");
    FILE *fp = fopen(file, "w");
    fclose(fp);
    path = tmp_path("plain/m.safetensors");
    cr_assert_eq(is_st_write(path, mixed, N_MIXED, fill_pattern, (void *)mixed, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "Not a directory"), "%s", err.msg);
    // a read-only directory (root ignores permissions)
    if (geteuid() != 0) {
        const char *ro = tmp_path("ro");
        cr_assert_eq(mkdir(ro, 0555), 0);
        char p[300];
        snprintf(p, sizeof p, "%s/m.safetensors", ro);
        cr_assert_eq(is_st_write(p, mixed, N_MIXED, fill_pattern, (void *)mixed, &err), -1);
        cr_assert(strstr(err.msg, p) && strstr(err.msg, "Permission denied"), "%s", err.msg);
        cr_assert_eq(tu_count_entries(ro), 0);
    }
    cr_assert_eq(tu_count_entries(tmp_dir), 1); // only "plain"
}

// A failing write(2) (here EFBIG from a file-size limit, as a full disk would
// give ENOSPC) is reported and the temporary file removed.
Test(safetensors, write_error_leaves_nothing, .init = tmp_setup, .fini = tmp_teardown) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {.rlim_cur = 256, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    static const is_st_desc big[] = {{"big", IS_DTYPE_F32, 2, {32, 32}}};
    const char *path = tmp_path("m.safetensors");
    is_err err = {{0}};
    cr_assert_eq(is_st_write(path, big, 1, fill_pattern, (void *)big, &err), -1);
    cr_assert(strstr(err.msg, path) && strstr(err.msg, "File too large"), "%s", err.msg);
    cr_assert_eq(tu_count_entries(tmp_dir), 0, "a file was left behind");
}

Test(safetensors, writer_rejects_bad_descs, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = tmp_path("m.safetensors");
    is_err err = {{0}};
    is_st_desc dup[] = {{"a", IS_DTYPE_F32, 1, {2}}, {"a", IS_DTYPE_F32, 1, {2}}};
    cr_assert_eq(is_st_write(path, dup, 2, fill_pattern, dup, &err), -1);
    cr_assert(strstr(err.msg, "listed twice"), "%s", err.msg);
    is_st_desc neg[] = {{"a", IS_DTYPE_F32, 1, {-2}}};
    cr_assert_eq(is_st_write(path, neg, 1, fill_pattern, neg, &err), -1);
    cr_assert(strstr(err.msg, "shape"), "%s", err.msg);
    is_st_desc meta[] = {{"__metadata__", IS_DTYPE_F32, 1, {2}}};
    cr_assert_eq(is_st_write(path, meta, 1, fill_pattern, meta, &err), -1);
    cr_assert_eq(tu_count_entries(tmp_dir), 0);
}

// ---- the reader's checks, on hand-crafted files -------------------------------------

// Writes 8-byte length hlen (the header's own length when hlen is UINT64_MAX),
// the header text, then data_len bytes of zeros.
static const char *craft(const char *name, const char *header, uint64_t hlen, size_t data_len) {
    const char *path = tmp_path(name);
    FILE *fp = fopen(path, "wb");
    cr_assert_not_null(fp);
    uint64_t n = hlen == UINT64_MAX ? strlen(header) : hlen;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(n >> (8 * i));
    fwrite(len8, 1, 8, fp);
    fwrite(header, 1, strlen(header), fp);
    for (size_t i = 0; i < data_len; i++) fputc(0, fp);
    fclose(fp);
    return path;
}

static void expect_open_fail(const char *path, const char *needle1, const char *needle2) {
    is_st_file f;
    is_err err = {{0}};
    cr_assert_eq(is_st_open(path, &f, &err), -1, "opened %s", path);
    cr_assert(strstr(err.msg, path), "message does not name the file: %s", err.msg);
    cr_assert(strstr(err.msg, needle1), "message lacks '%s': %s", needle1, err.msg);
    if (needle2) cr_assert(strstr(err.msg, needle2), "message lacks '%s': %s", needle2, err.msg);
    // the struct is left zeroed: closing it is safe
    cr_assert_null(f.map);
    cr_assert_null(f.tensors);
    cr_assert_null(f.path);
    is_st_close(&f);
}

static void expect_header_fail(const char *header, size_t data_len, const char *needle1,
                               const char *needle2) {
    expect_open_fail(craft("bad.safetensors", header, UINT64_MAX, data_len), needle1, needle2);
}

Test(safetensors_bad, short_and_missing_files, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = tmp_path("short.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x02\0\0\0\0", 1, 5, fp);
    fclose(fp);
    expect_open_fail(path, "shorter than the 8-byte", NULL);
    path = tmp_path("zero.safetensors");
    fclose(fopen(path, "wb"));
    expect_open_fail(path, "0 bytes", NULL);
    expect_open_fail(tmp_path("missing.safetensors"), "No such file", NULL);
    expect_open_fail(tmp_dir, "not a regular file", NULL);
}

Test(safetensors_bad, header_length, .init = tmp_setup, .fini = tmp_teardown) {
    const char *path = craft("a.safetensors", "{}", 1000, 0);
    expect_open_fail(path, "header length 1000 runs past the end of the file (size 10)", NULL);
    path = craft("b.safetensors", "{}", UINT64_MAX - 3, 0);
    expect_open_fail(path, "runs past the end", NULL);
    path = craft("c.safetensors", "{}", 1, 0);
    expect_open_fail(path, "too short", NULL);
}

Test(safetensors_bad, header_not_json, .init = tmp_setup, .fini = tmp_teardown) {
    expect_header_fail("{not json}", 0, "not valid JSON", "byte");
    expect_header_fail("{\"a\": {\"dtype\": \"F32\"", 0, "not valid JSON", NULL);
    expect_header_fail("{}  x", 0, "not valid JSON", NULL);
    expect_header_fail("[1, 2]", 0, "not a JSON object", NULL);
    expect_header_fail("{\"__metadata__\": [1]}", 0, "__metadata__", "object");
    expect_header_fail("{\"w\": 5}", 0, "tensor w", "object");
}

Test(safetensors_bad, dtypes, .init = tmp_setup, .fini = tmp_teardown) {
    expect_header_fail("{\"w\": {\"dtype\": \"F64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 16,
                       "tensor w: dtype F64 is not supported (expected F32, F16 or BF16)", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 16,
                       "tensor w: dtype I64 is not supported", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2,
                       "tensor w: dtype F8_E4M3 is not supported", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"BOOL\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2,
                       "dtype BOOL is not supported", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"f32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "unknown dtype");
    expect_header_fail("{\"w\": {\"dtype\": 7, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "dtype");
    expect_header_fail("{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "tensor w",
                       "\"dtype\" is missing");
}

Test(safetensors_bad, offsets, .init = tmp_setup, .fini = tmp_teardown) {
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8,
                       "tensor w: data_offsets [0, 16] run past the data section (8 bytes)", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8, 16]}}",
                       16, "tensor w", "data_offsets");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8]}}", 16,
                       "tensor w", "data_offsets");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": {}}}", 16,
                       "tensor w", "data_offsets");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 16,
                       "tensor w", "begin after");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 16,
                       "tensor w", "data_offsets[0]");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8.5]}}", 16,
                       "tensor w", "data_offsets[1]");
}

Test(safetensors_bad, shapes, .init = tmp_setup, .fini = tmp_teardown) {
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24,
                       "tensor w: shape [2, 3] x F32 needs 24 bytes but data_offsets span 20", NULL);
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "shape[0]");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "shape[1]");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "shape[0]");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": 2, \"data_offsets\": [0, 8]}}", 8,
                       "tensor w", "shape");
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1],"
                       " \"data_offsets\": [0, 4]}}", 4, "tensor w", "9 dimensions");
    // 2^53 cubed overflows 64 bits: caught, not wrapped around to a small size
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [9007199254740992, 9007199254740992,"
                       " 9007199254740992], \"data_offsets\": [0, 0]}}", 0, "tensor w", "2^63 elements");
    expect_header_fail("{\"w\": {\"dtype\": \"F16\", \"shape\": [4294967296, 4294967296],"
                       " \"data_offsets\": [0, 0]}}", 0, "tensor w", "2^63 elements");
    // a zero dimension makes no bytes, but the element count still overflowed int64
    // in is_st_numel: refused before the byte count lets it through
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [9007199254740992, 9007199254740992, 0],"
                       " \"data_offsets\": [0, 0]}}", 0, "tensor w", "2^63 elements");
    // 2^62 elements fit an int64; their bytes as F32 (2^64) do not
    expect_header_fail("{\"w\": {\"dtype\": \"F32\", \"shape\": [2147483648, 2147483648],"
                       " \"data_offsets\": [0, 0]}}", 0, "tensor w", "2^64 bytes");
}

Test(safetensors_bad, overlaps_and_duplicates, .init = tmp_setup, .fini = tmp_teardown) {
    expect_header_fail("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                       " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12,
                       "tensors a and b overlap", NULL);
    expect_header_fail("{\"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]},"
                       " \"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 12,
                       "tensors a and b overlap", NULL);
    expect_header_fail("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                       " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16,
                       "tensor a", "more than once");
    expect_header_fail("{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "__metadata__",
                       "more than once");
}

Test(safetensors_bad, accepted_oddities, .init = tmp_setup, .fini = tmp_teardown) {
    // metadata, an empty tensor inside another's range, a hole, whitespace padding
    const char *path = craft("ok.safetensors",
                             "{\"__metadata__\": {\"format\": \"pt\"},"
                             " \"a\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 8]},"
                             " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [4, 4]},"
                             " \"b\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [16, 18]}}   \n",
                             UINT64_MAX, 18);
    is_st_file f;
    is_err err = {{0}};
    cr_assert_eq(is_st_open(path, &f, &err), 0, "%s", err.msg);
    cr_assert_eq(f.n_tensors, 3);
    const is_st_tensor *b = is_st_find(&f, "b");
    cr_assert_not_null(b);
    cr_assert_eq(b->ndim, 0);
    cr_assert_eq(is_st_numel(b), 1);
    cr_assert_eq(b->begin, 16);
    cr_assert_not_null(is_st_find(&f, "a"));
    cr_assert_not_null(is_st_find(&f, "e"));
    is_st_close(&f);
}
