// test_merge.c — result files of repeated runs merged into one (reports/merge.h)
// and `inferscope merge`: samples in run order, statistics over all of them,
// each run's noise record kept; runs that do not merge refused with the reason.
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "reports/merge.h"   // defines: is_results_merge, is_results_runs
#include "reports/results.h" // defines: is_results_new, is_results_to_json, is_results_env_noise, ...
#include "support/testutil.h" // defines: tu_mkdtemp, tu_rm_rf, tu_run_cli, tu_read_file, tu_kernel_point

// A bench run of two points (batch 1 and 4) whose decode_tps samples are base +
// 0..reps-1, with an env.noise record (load = run) and the parts that describe one run.
static cJSON *run_doc(const char *model, double base, int reps, double load) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", model);
    cJSON *env = cJSON_CreateObject();
    cJSON *noise = cJSON_AddObjectToObject(env, "noise");
    double la[3] = {load, load, load};
    cJSON_AddItemToObject(noise, "loadavg_before", cJSON_CreateDoubleArray(la, 3));
    cJSON_AddItemToObject(noise, "loadavg_after", cJSON_CreateDoubleArray(la, 3));
    cJSON_AddNumberToObject(noise, "steal_pct", load / 10);
    cJSON *doc = is_results_new(env, sweep, NULL);
    for (int b = 1; b <= 4; b += 3) {
        cJSON *p = cJSON_CreateObject();
        cJSON *c = cJSON_AddObjectToObject(p, "config");
        cJSON_AddStringToObject(c, "model", model);
        cJSON_AddStringToObject(c, "backend", "cpu");
        cJSON_AddStringToObject(c, "dtype", "bf16");
        cJSON_AddNumberToObject(c, "threads", 1);
        cJSON_AddNumberToObject(c, "batch", b);
        cJSON_AddNumberToObject(c, "prompt", 32);
        cJSON_AddNumberToObject(c, "gen", 16);
        cJSON_AddNumberToObject(c, "depth", 0);
        cJSON_AddStringToObject(c, "strategy", "greedy");
        cJSON_AddStringToObject(c, "kernel", "default");
        cJSON_AddStringToObject(p, "status", "ok");
        cJSON_AddNumberToObject(p, "reps", reps);
        cJSON_AddNumberToObject(p, "elapsed_s", 1.5);
        cJSON_AddStringToObject(p, "stop", "max_reps");
        cJSON_AddNumberToObject(p, "noise", 0.01);
        cJSON *s = cJSON_AddObjectToObject(p, "samples");
        cJSON *a = cJSON_AddArrayToObject(s, "decode_tps");
        for (int i = 0; i < reps; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(base * b + i));
        cJSON *t = cJSON_AddArrayToObject(s, "ttft_ms");
        for (int i = 0; i < reps * b; i++) cJSON_AddItemToArray(t, cJSON_CreateNumber(10 + i));
        cJSON_AddObjectToObject(p, "derived");
        is_results_point_finish(p, 1);
        cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), p);
    }
    return doc;
}

static const char *const names3[] = {"r1.json", "r2.json", "r3.json"};

static cJSON *merge_ok(cJSON **runs, int n) {
    cJSON *out = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_merge((const cJSON *const *)runs, names3, n, 7, &out, &err), 0, "%s", err.msg);
    is_err verr = {{0}};
    cr_assert_eq(is_results_validate(out, "merged", &verr), 0, "%s", verr.msg);
    return out;
}

static void merge_fails(cJSON **runs, int n, const char *want) {
    cJSON *out = (cJSON *)1;
    is_err err = {{0}};
    cr_assert_eq(is_results_merge((const cJSON *const *)runs, names3, n, 7, &out, &err), -1);
    cr_assert_null(out);
    cr_assert_not_null(strstr(err.msg, want), "want \"%s\" in: %s", want, err.msg);
}

static void free_runs(cJSON **runs, int n) {
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i]);
}

Test(merge, samples_in_run_order) {
    cJSON *runs[3] = {run_doc("preset:tiny", 10, 3, 0.5), run_doc("preset:tiny", 20, 3, 1.5),
                      run_doc("preset:tiny", 30, 3, 2.5)};
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(runs[1], "env"), "noise"); // a run without the record
    cJSON *m = merge_ok(runs, 3);
    cr_assert_eq(is_results_runs(m), 3);
    cr_assert_eq(is_results_runs(runs[0]), 1);
    const cJSON *p4 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "points"), 1);
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(p4, "samples"), "decode_tps");
    cr_assert_eq(cJSON_GetArraySize(a), 9);
    static const double want[] = {40, 41, 42, 80, 81, 82, 120, 121, 122};
    for (int i = 0; i < 9; i++) cr_assert_float_eq(cJSON_GetArrayItem(a, i)->valuedouble, want[i], 1e-12);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetObjectItem(p4, "samples"), "ttft_ms")), 36);
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(p4, "stats"), "decode_tps");
    cr_assert_eq(cJSON_GetObjectItem(st, "n")->valuedouble, 9);
    cr_assert_float_eq(cJSON_GetObjectItem(st, "median")->valuedouble, 81, 1e-12);
    cr_assert_eq(cJSON_GetObjectItem(p4, "reps")->valuedouble, 9);
    cr_assert_float_eq(cJSON_GetObjectItem(p4, "elapsed_s")->valuedouble, 4.5, 1e-12);
    static const char *const gone[] = {"stop", "noise", "derived"};
    for (int k = 0; k < 3; k++) cr_assert_null(cJSON_GetObjectItem(p4, gone[k]), "%s describes one run", gone[k]);
    const cJSON *rn = cJSON_GetObjectItem(cJSON_GetObjectItem(m, "env"), "runs_noise");
    cr_assert_eq(cJSON_GetArraySize(rn), 3);
    cr_assert(cJSON_IsNull(cJSON_GetArrayItem(rn, 1)));
    char line[512];
    cr_assert(is_results_env_noise(cJSON_GetObjectItem(m, "env"), line, sizeof line));
    cr_assert_str_eq(line, "3 runs; 1-min load 0.50-2.50; steal up to 0.25% (mean 0.15%)");
    cr_assert(is_results_env_noise(cJSON_GetObjectItem(runs[0], "env"), line, sizeof line));
    cr_assert_str_eq(line, "1-min load 0.50 -> 0.50; steal 0.05%");
    // a merged document does not merge again
    cJSON *again[2] = {m, runs[0]};
    merge_fails(again, 2, "holds 3 merged runs already");
    cJSON_Delete(m);
    free_runs(runs, 3);
}

Test(merge, a_point_failed_in_one_run) {
    cJSON *runs[2] = {run_doc("preset:tiny", 10, 3, 0), run_doc("preset:tiny", 20, 3, 0)};
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(runs[1], "points"), 0);
    cJSON_ReplaceItemInObject(p, "status", cJSON_CreateString("error"));
    cJSON_AddStringToObject(p, "error", "out of memory");
    cJSON *m = merge_ok(runs, 2);
    const cJSON *p1 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "points"), 0);
    cr_assert_str_eq(cJSON_GetObjectItem(p1, "status")->valuestring, "error");
    cr_assert_str_eq(cJSON_GetObjectItem(p1, "error")->valuestring, "r2.json: out of memory");
    cr_assert_null(cJSON_GetObjectItem(p1, "samples"));
    const cJSON *p4 = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "points"), 1);
    cr_assert_str_eq(cJSON_GetObjectItem(p4, "status")->valuestring, "ok");
    cJSON_Delete(m);
    free_runs(runs, 2);
}

Test(merge, runs_that_do_not_merge) {
    cJSON *runs[2] = {run_doc("preset:tiny", 10, 3, 0), run_doc("preset:tiny", 20, 4, 0)};
    merge_fails(runs, 2, "r2.json: point model=preset:tiny;backend=cpu;dtype=bf16;threads=1;batch=1;prompt=32;"
                         "gen=16;depth=0;strategy=greedy;kernel=default has 4 decode_tps samples, the first run 3: "
                         "merge needs runs of fixed repetitions");
    free_runs(runs, 2);
    runs[0] = run_doc("preset:tiny", 10, 3, 0);
    runs[1] = run_doc("preset:small", 10, 3, 0);
    merge_fails(runs, 2, "r2.json measures preset:small, r1.json measures preset:tiny");
    free_runs(runs, 2);
    runs[0] = run_doc("preset:tiny", 10, 3, 0);
    runs[1] = run_doc("preset:tiny", 10, 3, 0);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(runs[1], "points"), 1);
    merge_fails(runs, 2, "r2.json has no point ");
    free_runs(runs, 2);
    runs[0] = run_doc("preset:tiny", 10, 3, 0);
    runs[1] = run_doc("preset:tiny", 10, 3, 0);
    cJSON_DeleteItemFromArray(cJSON_GetObjectItem(runs[0], "points"), 1);
    merge_fails(runs, 2, "r2.json has a point ");
    free_runs(runs, 2);
    runs[0] = run_doc("preset:tiny", 10, 3, 0);
    runs[1] = run_doc("preset:tiny", 10, 3, 0);
    cJSON_AddStringToObject(runs[1], "kind", "kernels");
    merge_fails(runs, 2, "only results of one command merge");
    free_runs(runs, 2);
}

Test(merge, kernels_runs) {
    cJSON *runs[2];
    for (int r = 0; r < 2; r++) {
        cJSON *sweep = cJSON_CreateObject();
        cJSON_AddStringToObject(sweep, "model", "preset:tiny");
        runs[r] = is_results_new(NULL, sweep, NULL);
        cJSON_AddStringToObject(runs[r], "kind", "kernels");
        double t[4] = {10.0 + r, 11.0 + r, 12.0 + r, 13.0 + r};
        cJSON_AddItemToArray(cJSON_GetObjectItem(runs[r], "points"), tu_kernel_point("lm_head", "m=512,k=64", 1, "gemv", t, 4));
    }
    cJSON *m = merge_ok(runs, 2);
    const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(m, "points"), 0),
                                                             "samples"), "time_us");
    cr_assert_eq(cJSON_GetArraySize(a), 8);
    cr_assert_float_eq(cJSON_GetArrayItem(a, 4)->valuedouble, 11.0, 1e-12);
    cr_assert(is_results_is_kernels(m));
    cJSON_Delete(m);
    free_runs(runs, 2);
}

// A serve run (inferscope serve-bench) of one point: 2 repetitions of 3 requests,
// per-request ttft_ms and per-repetition out_tps starting at base, its "serve"
// and "timeseries" sections (the last repetition).
static cJSON *serve_run(double base, int requests) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(NULL, sweep, NULL);
    cJSON_AddStringToObject(doc, "kind", "serve");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", "serve");
    cJSON *c = cJSON_AddObjectToObject(p, "config");
    static const char *const text[][2] = {{"model", "preset:tiny"}, {"backend", "cpu"},     {"dtype", "f32"},
                                          {"arrival", "poisson"},   {"rate", "2.5"},        {"prompt", "64"},
                                          {"output", "16"},         {"policy", "decode-first"}};
    for (int k = 0; k < 8; k++) cJSON_AddStringToObject(c, text[k][0], text[k][1]);
    static const char *const ints[] = {"threads", "concurrency", "requests", "max_batch_tokens", "max_seqs",
                                       "prefill_chunk", "prefix_cache", "batch_invariant"};
    for (int k = 0; k < 8; k++) cJSON_AddNumberToObject(c, ints[k], k == 2 ? 3 : 1);
    cJSON_AddStringToObject(p, "status", "ok");
    cJSON_AddNumberToObject(p, "reps", 2);
    cJSON_AddNumberToObject(p, "elapsed_s", 2);
    cJSON_AddStringToObject(p, "stop", "reps");
    cJSON *s = cJSON_AddObjectToObject(p, "samples");
    cJSON *t = cJSON_AddArrayToObject(s, "ttft_ms"), *o = cJSON_AddArrayToObject(s, "out_tps");
    for (int i = 0; i < 2 * requests; i++) cJSON_AddItemToArray(t, cJSON_CreateNumber(base + i));
    for (int i = 0; i < 2; i++) cJSON_AddItemToArray(o, cJSON_CreateNumber(10 * base + i));
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(p, "serve"), "preemptions", 2);
    cJSON_AddItemToObject(cJSON_AddObjectToObject(p, "timeseries"), "running", cJSON_CreateIntArray((int[]){1, 2}, 2));
    is_results_point_finish(p, 1);
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), p);
    return doc;
}

// Serve runs merge as bench runs: samples run after run, the sections of one
// run's last repetition left out; a run of another kind, or of another workload
// (a different count of request samples), is refused.
Test(merge, serve_runs) {
    cJSON *runs[2] = {serve_run(10, 3), serve_run(20, 3)};
    cJSON *m = merge_ok(runs, 2);
    cr_assert(is_results_is_serve(m));
    cr_assert_eq(is_results_runs(m), 2);
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(m, "points"), 0);
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "samples"), "ttft_ms");
    cr_assert_eq(cJSON_GetArraySize(t), 12);
    cr_assert_float_eq(cJSON_GetArrayItem(t, 6)->valuedouble, 20, 1e-12);
    cr_assert_eq(cJSON_GetObjectItem(p, "reps")->valuedouble, 4);
    cr_assert_null(cJSON_GetObjectItem(p, "serve"));
    cr_assert_null(cJSON_GetObjectItem(p, "timeseries"));
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "stats"), "out_tps");
    cr_assert_float_eq(cJSON_GetObjectItem(st, "median")->valuedouble, 150.5, 1e-12); // 100, 101, 200, 201
    char *md = is_results_to_md(m);
    cr_assert_not_null(strstr(md, "| poisson "), "%s", md);
    free(md);
    cJSON_Delete(m);
    free_runs(runs, 2);

    runs[0] = serve_run(10, 3);
    runs[1] = run_doc("preset:tiny", 10, 3, 0);
    merge_fails(runs, 2, "r2.json is a bench result, r1.json a serve result: only results of one command merge");
    free_runs(runs, 2);
    runs[0] = serve_run(10, 3);
    runs[1] = serve_run(10, 4);
    merge_fails(runs, 2, "has 8 ttft_ms samples, the first run 6: merge needs runs of fixed repetitions replaying one "
                         "workload");
    free_runs(runs, 2);
}

// ---- the command ---------------------------------------------------------------------------

static char *put(const char *dir, const char *name, const cJSON *doc) {
    char *text = is_results_to_json(doc);
    tu_write_file(dir, name, text, strlen(text));
    free(text);
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    return path;
}

Test(merge, command) {
    char dir[256];
    tu_mkdtemp(dir, sizeof dir);
    cJSON *r1 = run_doc("preset:tiny", 10, 3, 0), *r2 = run_doc("preset:tiny", 20, 3, 0),
          *bad = run_doc("preset:tiny", 20, 5, 0);
    char *p1 = put(dir, "r1.json", r1), *p2 = put(dir, "r2.json", r2), *pb = put(dir, "bad.json", bad);
    char out[300];
    snprintf(out, sizeof out, "%s/merged.json", dir);
    const char *ok[] = {"merge", "--out", out, p1, p2, NULL};
    tu_run r = tu_run_cli(ok);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    char *text = tu_read_file(out, NULL);
    cr_assert_not_null(text);
    cJSON *m = cJSON_Parse(text);
    cr_assert_eq(is_results_runs(m), 2);
    cJSON_Delete(m);
    free(text);
    // an existing file is kept without --force
    r = tu_run_cli(ok);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "exists: pass --force"), "%s", r.err);
    tu_run_free(&r);
    const char *force[] = {"merge", "--out", out, "--force", p1, p2, NULL};
    r = tu_run_cli(force);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    // runs that do not merge: exit 1, nothing written
    char out2[300];
    snprintf(out2, sizeof out2, "%s/never.json", dir);
    const char *no[] = {"merge", "--out", out2, p1, pb, NULL};
    r = tu_run_cli(no);
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "merge needs runs of fixed repetitions"), "%s", r.err);
    struct stat st;
    cr_assert_neq(stat(out2, &st), 0, "no file after a failed merge");
    tu_run_free(&r);
    // usage errors
    const char *no_out[] = {"merge", p1, NULL};
    r = tu_run_cli(no_out);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "--out FILE is required"), "%s", r.err);
    tu_run_free(&r);
    const char *self[] = {"merge", "--out", p1, "--force", p1, p2, NULL};
    r = tu_run_cli(self);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "is one of the runs"), "%s", r.err);
    tu_run_free(&r);
    const char *missing[] = {"merge", "--out", out2, p1, "/nonexistent/r.json", NULL};
    r = tu_run_cli(missing);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "/nonexistent/r.json"), "%s", r.err);
    tu_run_free(&r);
    free(p1);
    free(p2);
    free(pb);
    cJSON_Delete(r1);
    cJSON_Delete(r2);
    cJSON_Delete(bad);
    tu_rm_rf(dir);
}
