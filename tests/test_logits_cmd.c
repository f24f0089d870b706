// test_logits_cmd.c — `inferscope logits` on preset:tiny, CPU backend: the logits
// it writes are is_forward's in-process logits bit for bit (same backend, same
// threads, last position and every position), they agree with the float64
// reference forward pass, and bad input gets a message, its exit status and no
// output file.
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref_forward.h"
#include "support/testutil.h"

#define RUN(...) tu_run_cli((const char *const[]){__VA_ARGS__, NULL})

static char dir[256];
static is_backend *be;

static void setup(void) {
    tu_mkdtemp(dir, sizeof dir);
    be = tu_backend();
}
static void teardown(void) {
    be->destroy(be);
    tu_rm_rf(dir);
}

TestSuite(logits_cmd, .init = setup, .fini = teardown);

// n ids of preset:tiny's vocabulary (512), the same every run; as "1,2,3" in text.
static void prompt_ids(int32_t *ids, int n, char *text, size_t len) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        ids[i] = (int32_t)((7 + 131 * i) % 512);
        at += (size_t)snprintf(text + at, len - at, i ? ",%d" : "%d", ids[i]);
    }
}

// is_forward in-process over ids as one fresh sequence; rows of the last or every position.
static float *forward_in_process(is_model *m, const int32_t *ids, int n, bool all) {
    is_session_opts o = {.kv_budget_mib = 16, .max_seqs = 1};
    is_session *s;
    is_err err;
    cr_assert_eq(is_session_create(m, &o, &s, &err), 0, "%s", err.msg);
    int seq = is_seq_new(s, &err);
    cr_assert_geq(seq, 0, "%s", err.msg);
    int32_t seqs[256];
    bool want[256];
    for (int i = 0; i < n; i++) {
        seqs[i] = seq;
        want[i] = all || i == n - 1;
    }
    float *logits = malloc((size_t)(all ? n : 1) * m->cfg.vocab_size * sizeof *logits);
    cr_assert_eq(is_forward(s, n, ids, seqs, want, logits, &err), 0, "%s", err.msg);
    is_session_free(s);
    return logits;
}

// The command's document, checked field by field against what was asked; its
// logits as floats ([rows][V], malloc'd).
static float *read_doc(const char *json, const char *dtype, const int32_t *ids, int n, bool all) {
    cJSON *d = cJSON_Parse(json);
    cr_assert_not_null(d, "not JSON: %.300s", json);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "model")), "preset:tiny");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "backend")), "cpu");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(d, "dtype")), dtype);
    int V = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(d, "vocab_size"));
    cr_assert_eq(V, 512);
    const cJSON *pid = cJSON_GetObjectItem(d, "prompt_ids"), *pos = cJSON_GetObjectItem(d, "positions");
    const cJSON *rows = cJSON_GetObjectItem(d, "logits");
    int n_rows = all ? n : 1;
    cr_assert_eq(cJSON_GetArraySize(pid), n);
    for (int i = 0; i < n; i++) cr_assert_eq((int)cJSON_GetArrayItem(pid, i)->valuedouble, ids[i], "prompt_ids[%d]", i);
    cr_assert_eq(cJSON_GetArraySize(pos), n_rows);
    cr_assert_eq(cJSON_GetArraySize(rows), n_rows);
    float *out = malloc((size_t)n_rows * V * sizeof *out);
    for (int r = 0; r < n_rows; r++) {
        cr_assert_eq((int)cJSON_GetArrayItem(pos, r)->valuedouble, all ? r : n - 1, "positions[%d]", r);
        const cJSON *row = cJSON_GetArrayItem(rows, r);
        cr_assert_eq(cJSON_GetArraySize(row), V, "row %d", r);
        int v = 0;
        for (const cJSON *x = row->child; x; x = x->next, v++) {
            cr_assert(cJSON_IsNumber(x), "row %d, id %d is not a number", r, v);
            out[(size_t)r * V + v] = (float)x->valuedouble; // %.9g reads back to the same float32
        }
    }
    cJSON_Delete(d);
    return out;
}

// The command's logits for ids (to --out FILE when out is set, else stdout)
// against is_forward of the same preset, seed, dtype and threads: equal bit for bit.
static void check_bit_for_bit(const char *dtype_flag, const char *dtype_name, is_dtype dt, int n, bool all,
                              const char *out) {
    int32_t ids[256];
    char text[2048];
    prompt_ids(ids, n, text, sizeof text);
    tu_run r = out ? RUN("logits", "--model", "preset:tiny", "--seed", "3", "--dtype", dtype_flag, "--backend", "cpu",
                         "--threads", "2", "--prompt-ids", text, "--positions", all ? "all" : "last", "-o", out)
                   : RUN("logits", "--model", "preset:tiny", "--seed", "3", "--dtype", dtype_flag, "--backend", "cpu",
                         "--threads", "2", "--prompt-ids", text, "--positions", all ? "all" : "last");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    char *json = out && strcmp(out, "-") ? tu_read_file(out, NULL) : strdup(r.out);
    cr_assert_not_null(json, "%s was not written", out);
    if (out && strcmp(out, "-")) cr_assert_str_eq(r.out, "", "with -o FILE stdout stays empty");
    float *got = read_doc(json, dtype_name, ids, n, all);
    is_model *m = tu_model(be, "preset:tiny", dt, 3);
    float *want = forward_in_process(m, ids, n, all);
    size_t count = (size_t)(all ? n : 1) * m->cfg.vocab_size;
    for (size_t i = 0; i < count; i++)
        cr_assert(!memcmp(&got[i], &want[i], sizeof(float)),
                  "%s, %d ids, row %zu, id %zu: %.9g written, %.9g in-process", dtype_name, n, i / 512, i % 512,
                  (double)got[i], (double)want[i]);
    is_model_free(m);
    free(want);
    free(got);
    free(json);
    tu_run_free(&r);
}

Test(logits_cmd, last_position_is_is_forward_bit_for_bit) {
    char out[512];
    snprintf(out, sizeof out, "%s/last.json", dir);
    check_bit_for_bit("f32", "F32", IS_DTYPE_F32, 20, false, out);
    check_bit_for_bit("bf16", "BF16", IS_DTYPE_BF16, 20, false, NULL);
    check_bit_for_bit("f32", "F32", IS_DTYPE_F32, 1, false, "-");
}

// 40 rows: more than the 32 rows of one lm_head call, so the rows come in two calls
Test(logits_cmd, every_position_is_is_forward_bit_for_bit) {
    char out[512];
    snprintf(out, sizeof out, "%s/all.json", dir);
    check_bit_for_bit("f32", "F32", IS_DTYPE_F32, 40, true, out);
    check_bit_for_bit("bf16", "BF16", IS_DTYPE_BF16, 7, true, NULL);
}

// Every position against the float64 reference forward pass of the same weights
// (BF16 weights are read as they are), within tests/test_forward.c's tolerance:
// max |diff| <= 1e-4 of the largest |logit| (fp32 rounding gives ~1e-5; an
// indexing or formula mistake errs by O(1)).
static void check_reference(const char *dtype_flag, const char *dtype_name, is_dtype dt) {
    int32_t ids[24];
    char text[512];
    prompt_ids(ids, 24, text, sizeof text);
    tu_run r = RUN("logits", "--model", "preset:tiny", "--seed", "5", "--dtype", dtype_flag, "--backend", "cpu",
                   "--threads", "2", "--prompt-ids", text, "--positions", "all");
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    float *got = read_doc(r.out, dtype_name, ids, 24, true);
    is_model *m = tu_model(be, "preset:tiny", dt, 5);
    ref_model *ref = ref_model_create(m);
    size_t count = (size_t)24 * m->cfg.vocab_size;
    double *want = malloc(count * sizeof *want), scale = 0, diff = 0;
    ref_forward(ref, ids, 24, want);
    for (size_t i = 0; i < count; i++) {
        scale = fmax(scale, fabs(want[i]));
        diff = fmax(diff, fabs(got[i] - want[i]));
    }
    cr_assert(scale > 0.05, "logits are degenerate (max |logit| %g)", scale);
    cr_assert_leq(diff, 1e-4 * scale, "%s: max |diff| %g against the float64 reference, scale %g", dtype_name, diff,
                  scale);
    free(want);
    ref_model_free(ref);
    is_model_free(m);
    free(got);
    tu_run_free(&r);
}

Test(logits_cmd, agrees_with_the_float64_reference) {
    check_reference("f32", "F32", IS_DTYPE_F32);
    check_reference("bf16", "BF16", IS_DTYPE_BF16);
}

static int dir_entries(const char *path) {
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

// A bad run: its exit status, a message naming the problem, nothing on stdout
// and nothing in the output's folder (no file, no temporary).
static void expect_refused(tu_run r, int status, const char *needle) {
    cr_assert_eq(r.status, status, "exit %d (want %d), stderr: %s", r.status, status, r.err);
    cr_assert(strstr(r.err, needle), "stderr should mention '%s': %s", needle, r.err);
    cr_assert_str_eq(r.out, "", "nothing on stdout: %.200s", r.out);
    cr_assert_eq(dir_entries(dir), 0, "a refused run left a file in %s", dir);
    tu_run_free(&r);
}

Test(logits_cmd, bad_input_is_refused_with_a_message_and_no_file) {
    char out[512], ids[2048];
    snprintf(out, sizeof out, "%s/logits.json", dir);
    int32_t unused[300];
    prompt_ids(unused, 257, ids, sizeof ids); // preset:tiny's context is 256 tokens
    expect_refused(RUN("logits", "--prompt-ids", "1,2", "-o", out), 2, "--model is required");
    expect_refused(RUN("logits", "--model", "preset:tiny", "-o", out), 2, "--prompt-ids IDS is required");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "", "-o", out), 2,
                   "--prompt-ids: no token ids given");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", " , ", "-o", out), 2,
                   "--prompt-ids: no token ids given");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1,x", "-o", out), 2,
                   "'x' is not a token id");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1,2", "--prompt-ids", "3", "-o", out), 2,
                   "--prompt-ids given twice");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1,2", "--positions", "first", "-o", out), 2,
                   "--positions 'first': expected last or all");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1", "-o", ""), 2,
                   "-o needs a file name (or - for stdout)");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1", "--bogus", "-o", out), 2,
                   "unknown flag '--bogus'");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1", "--dtype", "f16", "-o", out), 2,
                   "--dtype 'f16': expected f32, bf16, int8, q8_0 or q4_0");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--prompt-ids", "1", "--kv-budget", "8", "--kv-frac", "0.5",
                       "-o", out),
                   2, "--kv-budget and --kv-frac cannot be combined");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--backend", "cpu", "--prompt-ids", "1,512,3", "-o", out), 1,
                   "--prompt-ids: token id 512 (position 1) is out of range for a vocabulary of 512");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--backend", "cpu", "--prompt-ids", ids, "-o", out), 1,
                   "--prompt-ids: 257 ids are longer than the context of 256 tokens");
    expect_refused(RUN("logits", "--model", "preset:nope", "--backend", "cpu", "--prompt-ids", "1", "-o", out), 1,
                   "unknown preset 'nope'");
    expect_refused(RUN("logits", "--model", "preset:tiny", "--backend", "cpu", "--prompt-ids", "1", "-o",
                       "/nonexistent/inferscope/logits.json"),
                   1, "/nonexistent/inferscope/logits.json: cannot create a temporary file");
}
