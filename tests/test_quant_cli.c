// test_quant_cli.c — weight formats from the command line: bench's --dtype axis
// (points, the cost model's bytes per format), kernels' --dtype axis, GGUF export
// and load, and the refusals.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/costmodel.h"
#include "engine/model.h"
#include "reports/results.h" // defines: is_results_load
#include "support/testutil.h"

static cJSON *load_results(const char *out) {
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

static const char *cfg_str(const cJSON *p, const char *k) {
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "config"), k)->valuestring;
}

// One point per dtype, in the order given, each measured and each with the cost
// model's weight bytes of its own format.
Test(quant_cli, bench_dtype_axis) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    const char *args[] = {"bench", "--model", "preset:tiny", "--dtype", "bf16,q8_0,q4_0,int8", "-b", "1", "-p", "16",
                          "-n", "4", "-r", "1", "--max-time", "0", "--threads", "1", "--no-probe", "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "4 points (dtype 4 x"), "%s", r.err);
    cJSON *doc = load_results(out);
    const cJSON *pts = cJSON_GetObjectItemCaseSensitive(doc, "points");
    cr_assert_eq(cJSON_GetArraySize(pts), 4);
    const char *want[] = {"BF16", "Q8_0", "Q4_0", "INT8"};
    const is_dtype dts[] = {IS_DTYPE_BF16, IS_DTYPE_Q8_0, IS_DTYPE_Q4_0, IS_DTYPE_I8};
    for (int i = 0; i < 4; i++) {
        const cJSON *p = cJSON_GetArrayItem(pts, i);
        cr_assert_str_eq(cfg_str(p, "dtype"), want[i]);
        cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(p, "status")->valuestring, "ok");
        is_cost c;
        is_cost_compute(&is_preset_find("tiny")->cfg, dts[i], 4.0, 1, 16, 4, 0, &c);
        double wb = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "model"), "weight_bytes")->valuedouble;
        cr_assert_eq(wb, c.weight_bytes, "%s: weight bytes %.0f, the cost model says %.0f", want[i], wb, c.weight_bytes);
    }
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "sweep"), "dtype")->valuestring,
                     "BF16,Q8_0,Q4_0,INT8");
    cJSON_Delete(doc);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(quant_cli, bad_dtypes_are_usage_errors) {
    const char *a1[] = {"bench", "--model", "preset:tiny", "--dtype", "q8_0,q5_0", "--no-probe", NULL};
    tu_run r = tu_run_cli(a1);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "unknown dtype 'q5_0'"), "%s", r.err);
    tu_run_free(&r);
    const char *a2[] = {"bench", "--model", "preset:tiny", "--dtype", "q4_0,q4_0", "--no-probe", NULL};
    r = tu_run_cli(a2);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "named twice"), "%s", r.err);
    tu_run_free(&r);
    const char *a3[] = {"generate", "--model", "preset:tiny", "--dtype", "bf16,q8_0", "-p", "x", NULL};
    r = tu_run_cli(a3);
    cr_assert_eq(r.status, 2, "a list where one dtype is taken: %s", r.err);
    tu_run_free(&r);
    char dir[256];
    tu_mkdtemp(dir, sizeof dir);
    const char *a4[] = {"export", "--model", "preset:tiny", "--dtype", "q8_0", "--out", dir, NULL};
    r = tu_run_cli(a4);
    cr_assert_eq(r.status, 2, "a quantized Hugging Face directory: %s", r.err);
    cr_assert(strstr(r.err, ".gguf"), "%s", r.err);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// export to GGUF, then bench and logits on the file: the Q4_0 file held as Q4_0,
// its logits those of preset:tiny --dtype q4_0.
Test(quant_cli, gguf_export_and_run) {
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tiny-q4_0.gguf", dir);
    const char *ex[] = {"export", "--model", "preset:tiny", "--dtype", "q4_0", "--out", path, NULL};
    tu_run r = tu_run_cli(ex);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    const char *l1[] = {"logits", "--model", path, "--prompt-ids", "1,2,3,4,5", "--threads", "1", NULL};
    const char *l2[] = {"logits", "--model", "preset:tiny", "--dtype", "q4_0", "--prompt-ids", "1,2,3,4,5", "--threads", "1", NULL};
    tu_run a = tu_run_cli(l1), b = tu_run_cli(l2);
    cr_assert_eq(a.status, 0, "%s", a.err);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cJSON *ja = cJSON_Parse(a.out), *jb = cJSON_Parse(b.out);
    cr_assert(ja && jb);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(ja, "dtype")->valuestring, "Q4_0");
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(ja, "logits"), *lb = cJSON_GetObjectItemCaseSensitive(jb, "logits");
    cr_assert(cJSON_IsArray(la) && cJSON_IsArray(lb));
    // the preset's tiny model has Llama 3 RoPE scaling: factors in the file, so an
    // F32 rounding of the frequencies may differ; printed logits agree to 1e-5
    size_t n = 0;
    for (const cJSON *x = la->child, *y = lb->child; x && y; x = x->next, y = y->next) {
        const cJSON *xi = cJSON_IsArray(x) ? x->child : x, *yi = cJSON_IsArray(y) ? y->child : y;
        for (; xi && yi; xi = xi->next, yi = yi->next, n++)
            cr_assert_leq(fabs(xi->valuedouble - yi->valuedouble), 1e-5, "logit %zu: %g vs %g", n, xi->valuedouble,
                          yi->valuedouble);
        if (!cJSON_IsArray(x)) n++;
    }
    cr_assert_gt(n, 0);
    cJSON_Delete(ja);
    cJSON_Delete(jb);
    tu_run_free(&a);
    tu_run_free(&b);
    const char *bench[] = {"bench", "--model", path, "-b", "1", "-p", "8", "-n", "3", "-r", "1", "--max-time", "0",
                           "--threads", "1", "--no-probe", NULL};
    r = tu_run_cli(bench);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "Q4_0"), "%s", r.out);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// kernels --dtype: the matmul variants validated and timed on each format.
Test(quant_cli, kernels_dtype_axis) {
    const char *args[] = {"kernels", "--model", "preset:tiny", "--ops", "matmul", "--dtype", "q8_0,q4_0,int8", "-b",
                          "1,17", "-r", "2", "--max-time", "0", "--threads", "1", "--no-probe", "--format", "csv", NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    int q8 = 0, q4 = 0, i8 = 0;
    for (const char *p = r.out; (p = strstr(p, "Q8_0")); p++) q8++;
    for (const char *p = r.out; (p = strstr(p, "Q4_0")); p++) q4++;
    for (const char *p = r.out; (p = strstr(p, "INT8")); p++) i8++;
    cr_assert(q8 > 0 && q4 > 0 && i8 > 0, "%s", r.out);
    cr_assert_null(strstr(r.out, "BF16"), "BF16 was not asked for: %s", r.out);
    tu_run_free(&r);
}
