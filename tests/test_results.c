// test_results.c — the bench result document: metric definitions, point
// statistics and keys, validation of loaded files, and the JSON, CSV and
// Markdown writers, including the output directory.
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"       // defines: is_write_file_atomic_clean
#include "support/testutil.h" // defines: tu_read_file, tu_write_file, tu_kernel_point
#include "reports/results.h" // defines: is_results_new, is_results_point_finish, is_results_validate, ...

// ---- helpers -----------------------------------------------------------------------

static void mk_tmpdir(char *buf, size_t n) {
    snprintf(buf, n, "/tmp/inferscope-test-results-XXXXXX");
    cr_assert_not_null(mkdtemp(buf), "mkdtemp failed");
}

static void rm_tree(const char *path) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}


static cJSON *make_config(const char *model, int batch, const char *kernel) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model", model);
    cJSON_AddStringToObject(c, "backend", "cpu");
    cJSON_AddStringToObject(c, "dtype", "f32");
    cJSON_AddNumberToObject(c, "threads", 4);
    cJSON_AddNumberToObject(c, "batch", batch);
    cJSON_AddNumberToObject(c, "prompt", 128);
    cJSON_AddNumberToObject(c, "gen", 32);
    cJSON_AddNumberToObject(c, "depth", 0);
    cJSON_AddStringToObject(c, "strategy", "greedy");
    cJSON_AddStringToObject(c, "kernel", kernel);
    return c;
}

// An ok point whose samples of each metric are v, v + 1, ..., v + n - 1 (shuffled
// a little) with v = 10 * (metric index + 1) * batch: median v + (n - 1) / 2.
static cJSON *make_point(const char *model, int batch, const char *kernel, int n) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "config", make_config(model, batch, kernel));
    cJSON_AddStringToObject(p, "status", "ok");
    cJSON_AddNumberToObject(p, "warmup", 1);
    cJSON_AddNumberToObject(p, "reps", n);
    cJSON_AddStringToObject(p, "stop", "max_reps");
    cJSON_AddNumberToObject(p, "noise", 0.01);
    cJSON_AddNumberToObject(p, "elapsed_s", 1.5);
    cJSON *samples = cJSON_AddObjectToObject(p, "samples");
    for (int m = 0; m < is_metric_n_defs; m++) {
        cJSON *arr = cJSON_AddArrayToObject(samples, is_metric_defs[m].name);
        double v = 10.0 * (m + 1) * batch;
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(v + (i * 7 % n)));
    }
    cJSON *derived = cJSON_AddObjectToObject(p, "derived");
    cJSON_AddNumberToObject(derived, "decode_gbs", 20.5);
    cJSON_AddNumberToObject(derived, "mbu", 0.41);
    cJSON_AddNumberToObject(derived, "prefill_gflops", 300.25);
    cJSON_AddNumberToObject(derived, "mfu", 0.125);
    return p;
}

static cJSON *make_failed_point(const char *model, int batch, const char *msg) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "config", make_config(model, batch, "default"));
    cJSON_AddStringToObject(p, "status", "error");
    cJSON_AddStringToObject(p, "error", msg);
    return p;
}

static cJSON *make_env(void) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "cpu_model", "Test CPU 9000");
    cJSON_AddNumberToObject(e, "cpu_online", 16);
    cJSON_AddNumberToObject(e, "threads", 4);
    cJSON_AddStringToObject(e, "backend", "cpu");
    cJSON_AddStringToObject(e, "build_type", "Release");
    cJSON_AddStringToObject(e, "git_commit", "abc1234");
    cJSON_AddStringToObject(e, "date", "2026-01-02T03:04:05Z");
    cJSON_AddStringToObject(e, "command", "inferscope bench --model preset:tiny --batch 1,8");
    return e;
}

static cJSON *make_probes(void) {
    cJSON *pr = cJSON_CreateObject();
    cJSON *mem = cJSON_AddObjectToObject(pr, "mem");
    cJSON_AddNumberToObject(mem, "read_gbs", 50.0);
    cJSON_AddNumberToObject(mem, "copy_gbs", 40.0);
    cJSON_AddNumberToObject(mem, "peak_gbs", 50.0);
    cJSON_AddNumberToObject(mem, "buffer_mib", 1024);
    cJSON_AddNumberToObject(mem, "n_threads", 4);
    cJSON_AddNumberToObject(mem, "reps", 5);
    cJSON_AddStringToObject(mem, "method", "4 threads summing 1 GiB buffers, best of 5");
    return pr;
}

// A document of model preset:tiny with ok points at batch 1 and 8 (kernel "a,b"
// at batch 8: a comma to quote in CSV) and a failed point at batch 32.
static cJSON *make_doc(void) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(make_env(), sweep, make_probes());
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cJSON_AddItemToArray(points, make_point("preset:tiny", 1, "default", 5));
    cJSON_AddItemToArray(points, make_point("preset:tiny", 8, "a,b", 6));
    cJSON_AddItemToArray(points, make_failed_point("preset:tiny", 32, "out of memory: \"kv\", 3 GiB\nretry"));
    for (int i = 0; i < 2; i++) is_results_point_finish(cJSON_GetArrayItem(points, i), 42);
    return doc;
}

static cJSON *point_at(cJSON *doc, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "points"), i); }

// Validation of doc must fail with a message holding each of the strings in want.
static void expect_invalid(const cJSON *doc, const char *want1, const char *want2) {
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "r.json", &err), -1, "accepted: expected \"%s\"", want1);
    cr_assert_not_null(strstr(err.msg, "r.json"), "message does not name the file: %s", err.msg);
    cr_assert_not_null(strstr(err.msg, want1), "message \"%s\" lacks \"%s\"", err.msg, want1);
    if (want2) cr_assert_not_null(strstr(err.msg, want2), "message \"%s\" lacks \"%s\"", err.msg, want2);
}

// Splits one CSV document into records of fields (RFC 4180); returns the record count.
// fields[r][f] point into a copy kept in *store.
#define CSV_MAX_REC 16
#define CSV_MAX_FIELDS 96
static int csv_parse(const char *text, char *store, char *fields[CSV_MAX_REC][CSV_MAX_FIELDS],
                     int nf[CSV_MAX_REC]) {
    int r = 0, f = 0;
    char *o = store;
    const char *s = text;
    fields[0][0] = o;
    while (*s) {
        if (*s == '"') {
            s++;
            for (;;) {
                cr_assert(*s, "unterminated quoted field");
                if (*s == '"' && s[1] == '"') *o++ = '"', s += 2;
                else if (*s == '"') {
                    s++;
                    break;
                } else *o++ = *s++;
            }
            continue;
        }
        if (*s == ',' || *s == '\n') {
            *o++ = 0;
            cr_assert_lt(f, CSV_MAX_FIELDS - 1);
            if (*s == ',') {
                fields[r][++f] = o;
            } else {
                nf[r++] = f + 1;
                f = 0;
                cr_assert_lt(r, CSV_MAX_REC);
                fields[r][0] = o;
            }
            s++;
            continue;
        }
        *o++ = *s++;
    }
    cr_assert_eq(f, 0, "the last record does not end with a newline");
    return r;
}

static int csv_col(char *fields[CSV_MAX_REC][CSV_MAX_FIELDS], int nf, const char *name) {
    for (int f = 0; f < nf; f++)
        if (strcmp(fields[0][f], name) == 0) return f;
    cr_assert_fail("no CSV column %s", name);
    return -1;
}

// ---- metrics -----------------------------------------------------------------------

Test(results, metric_defs) {
    static const char *const names[] = {"ttft_ms",    "tpot_ms",   "itl_ms",      "e2e_ms",
                                        "prefill_ms", "decode_ms", "prefill_tps", "decode_tps"};
    cr_assert_eq(is_metric_n_defs, 8);
    for (int i = 0; i < 8; i++) {
        const is_metric_def *m = is_metric_find(names[i]);
        cr_assert_not_null(m, "%s", names[i]);
        cr_assert_eq(m, &is_metric_defs[i], "%s out of order", names[i]);
        bool tps = strstr(names[i], "_tps") != NULL;
        cr_assert_str_eq(m->unit, tps ? "tok/s" : "ms");
        cr_assert_eq(m->higher_is_better, tps);
        cr_assert_eq(m->per_request, i < 4, "%s", names[i]);
        cr_assert(m->description && strlen(m->description) > 10);
    }
    cr_assert_null(is_metric_find("decode_tok_s"));
    cr_assert_null(is_metric_find(NULL));
}

// ---- the document ------------------------------------------------------------------

Test(results, new_document) {
    cJSON *doc = is_results_new(NULL, NULL, NULL);
    cr_assert_str_eq(cJSON_GetObjectItem(doc, "schema")->valuestring, IS_RESULTS_SCHEMA);
    cr_assert_eq(cJSON_GetObjectItem(doc, "schema_version")->valuedouble, IS_RESULTS_SCHEMA_VERSION);
    cr_assert(cJSON_IsString(cJSON_GetObjectItem(doc, "inferscope_version")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(doc, "env")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(doc, "sweep")));
    cr_assert(cJSON_IsObject(cJSON_GetObjectItem(doc, "probes")));
    cr_assert(cJSON_IsArray(cJSON_GetObjectItem(doc, "points")));
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "new", &err), 0, "%s", err.msg);
    cJSON_Delete(doc);
}

Test(results, point_finish_stats) {
    cJSON *doc = make_doc();
    // batch 1, 5 samples: v .. v+4 (v = 10 * (m + 1)), median v + 2
    // batch 8, 6 samples: v .. v+5 (v = 80 * (m + 1)), median v + 2.5
    for (int i = 0; i < 2; i++) {
        const cJSON *stats = cJSON_GetObjectItem(point_at(doc, i), "stats");
        cr_assert(cJSON_IsObject(stats));
        cr_assert_eq(cJSON_GetArraySize(stats), is_metric_n_defs);
        for (int m = 0; m < is_metric_n_defs; m++) {
            const cJSON *s = cJSON_GetObjectItem(stats, is_metric_defs[m].name);
            cr_assert_not_null(s, "no stats of %s", is_metric_defs[m].name);
            double v = 10.0 * (m + 1) * (i ? 8 : 1);
            int n = i ? 6 : 5;
            cr_assert_eq(cJSON_GetObjectItem(s, "n")->valuedouble, n);
            cr_assert_float_eq(cJSON_GetObjectItem(s, "median")->valuedouble, v + (n - 1) / 2.0, 1e-12);
            cr_assert_float_eq(cJSON_GetObjectItem(s, "mean")->valuedouble, v + (n - 1) / 2.0, 1e-12);
            cr_assert_eq(cJSON_GetObjectItem(s, "min")->valuedouble, v);
            cr_assert_eq(cJSON_GetObjectItem(s, "max")->valuedouble, v + n - 1);
            const cJSON *ci = cJSON_GetObjectItem(s, "ci95");
            cr_assert(cJSON_IsArray(ci) && cJSON_GetArraySize(ci) == 2);
            double lo = cJSON_GetArrayItem(ci, 0)->valuedouble, hi = cJSON_GetArrayItem(ci, 1)->valuedouble;
            cr_assert(lo >= v && lo <= hi && hi <= v + n - 1, "ci [%g, %g]", lo, hi);
            for (const char *const *f = (const char *const[]){"stddev", "p50", "p90", "p99", NULL}; *f; f++)
                cr_assert(cJSON_IsNumber(cJSON_GetObjectItem(s, *f)), "no %s", *f);
        }
    }
    // the failed point has no samples: an empty stats object
    is_results_point_finish(point_at(doc, 2), 42);
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItem(point_at(doc, 2), "stats")), 0);
    cJSON_Delete(doc);
}

Test(results, point_finish_replaces_and_skips_empty) {
    cJSON *p = make_point("m", 1, "k", 3);
    cJSON *samples = cJSON_GetObjectItem(p, "samples");
    cJSON_ReplaceItemInObject(samples, "itl_ms", cJSON_CreateArray()); // no gaps: gen 1
    cJSON_AddStringToObject(p, "stats", "stale");
    is_results_point_finish(p, 7);
    const cJSON *stats = cJSON_GetObjectItem(p, "stats");
    cr_assert(cJSON_IsObject(stats));
    cr_assert_null(cJSON_GetObjectItem(stats, "itl_ms"));
    cr_assert_eq(cJSON_GetArraySize(stats), is_metric_n_defs - 1);
    // same seed, same interval
    cJSON *q = cJSON_Duplicate(p, true);
    is_results_point_finish(q, 7);
    cr_assert(cJSON_Compare(cJSON_GetObjectItem(p, "stats"), cJSON_GetObjectItem(q, "stats"), true));
    cJSON_Delete(p);
    cJSON_Delete(q);
}

// A NaN (TPOT of a one-token request) or infinity is no sample: dropped, since
// JSON could not hold it, and the document stays valid after a round trip.
Test(results, point_finish_drops_non_finite) {
    cJSON *doc = make_doc();
    cJSON *p = point_at(doc, 0);
    cJSON *tpot = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "samples"), "tpot_ms");
    cJSON_InsertItemInArray(tpot, 0, cJSON_CreateNumber(NAN));
    cJSON_AddItemToArray(tpot, cJSON_CreateNumber(INFINITY));
    cJSON_AddItemToArray(tpot, cJSON_CreateNumber(-INFINITY));
    is_results_point_finish(p, 3);
    cr_assert_eq(cJSON_GetArraySize(tpot), 5);
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(p, "stats"), "tpot_ms");
    cr_assert_eq(cJSON_GetObjectItem(st, "n")->valuedouble, 5);
    cr_assert_eq(cJSON_GetObjectItem(st, "median")->valuedouble, 22); // 10 * 2 + 2
    char *text = is_results_to_json(doc);
    cJSON *back = cJSON_Parse(text);
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(back, "round-trip", &err), 0, "%s", err.msg);
    free(text);
    cJSON_Delete(back);
    cJSON_Delete(doc);
}

Test(results, point_key) {
    cJSON *p = make_point("preset:tiny", 8, "flash", 3);
    char key[512];
    cr_assert_eq(is_results_point_key(p, key, sizeof key), 0);
    cr_assert_str_eq(key, "model=preset:tiny;backend=cpu;dtype=f32;threads=4;batch=8;prompt=128;gen=32;depth=0;"
                          "strategy=greedy;kernel=flash");
    char small[20];
    cr_assert_eq(is_results_point_key(p, small, sizeof small), -1, "truncated key accepted");
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(p, "config"), "depth");
    cr_assert_eq(is_results_point_key(p, key, sizeof key), -1);
    cJSON_Delete(p);
}

// ---- validation --------------------------------------------------------------------

Test(results, validate_accepts_document) {
    cJSON *doc = make_doc();
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "r.json", &err), 0, "%s", err.msg);
    cJSON_Delete(doc);
}

Test(results, validate_rejects_schema) {
    cJSON *doc = make_doc();
    cJSON_ReplaceItemInObject(doc, "schema", cJSON_CreateString("llama-bench"));
    expect_invalid(doc, "\"llama-bench\"", IS_RESULTS_SCHEMA);
    cJSON_DeleteItemFromObject(doc, "schema");
    expect_invalid(doc, "schema", NULL);
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_ReplaceItemInObject(doc, "schema_version", cJSON_CreateNumber(2));
    expect_invalid(doc, "schema_version 2", "this build reads 1");
    cJSON_ReplaceItemInObject(doc, "schema_version", cJSON_CreateString("1"));
    expect_invalid(doc, "schema_version", NULL);
    cJSON_Delete(doc);

    cJSON *arr = cJSON_CreateArray();
    expect_invalid(arr, "expected a JSON object", NULL);
    cJSON_Delete(arr);

    doc = make_doc();
    cJSON_ReplaceItemInObject(doc, "points", cJSON_CreateObject());
    expect_invalid(doc, "points", "expected an array");
    cJSON_Delete(doc);
}

Test(results, validate_rejects_config) {
    static const char *const fields[] = {"model", "backend", "dtype", "threads", "batch",
                                         "prompt", "gen", "depth", "strategy", "kernel"};
    for (int f = 0; f < 10; f++) {
        cJSON *doc = make_doc();
        cJSON *config = cJSON_GetObjectItem(point_at(doc, 1), "config");
        cJSON_DeleteItemFromObject(config, fields[f]);
        char want[64];
        snprintf(want, sizeof want, "points[1].config.%s", fields[f]);
        expect_invalid(doc, want, "got nothing");
        // wrong type: numbers where strings go and the other way round
        bool is_string = f < 3 || f > 7;
        cJSON_AddItemToObject(config, fields[f], is_string ? cJSON_CreateNumber(3) : cJSON_CreateString("8"));
        expect_invalid(doc, want, is_string ? "expected a string" : "expected a non-negative integer");
        cJSON_Delete(doc);
    }
    cJSON *doc = make_doc();
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(point_at(doc, 0), "config"), "batch", cJSON_CreateNumber(1.5));
    expect_invalid(doc, "points[0].config.batch", "1.5");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(point_at(doc, 0), "config"), "batch", cJSON_CreateNumber(-1));
    expect_invalid(doc, "points[0].config.batch", "-1");
    cJSON_DeleteItemFromObject(point_at(doc, 0), "config");
    expect_invalid(doc, "points[0].config", "expected an object");
    cJSON_Delete(doc);
}

Test(results, validate_rejects_samples_status_stats) {
    cJSON *doc = make_doc();
    cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(doc, 0), "samples"), "decode_tps");
    cJSON_AddItemToArray(arr, cJSON_CreateString("fast"));
    expect_invalid(doc, "points[0].samples.decode_tps[5]", "\"fast\"");
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(point_at(doc, 0), "samples"), "ttft_ms", cJSON_CreateNumber(3));
    expect_invalid(doc, "points[0].samples.ttft_ms", "expected an array");
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_DeleteItemFromObject(point_at(doc, 0), "samples");
    expect_invalid(doc, "points[0].samples", NULL);
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_ReplaceItemInObject(point_at(doc, 1), "status", cJSON_CreateString("fine"));
    expect_invalid(doc, "points[1].status", "\"fine\"");
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON *s = cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(doc, 1), "stats"), "e2e_ms");
    cJSON_ReplaceItemInObject(s, "ci95", cJSON_CreateNumber(1));
    expect_invalid(doc, "points[1].stats.e2e_ms.ci95", NULL);
    cJSON_DeleteItemFromObject(s, "median");
    expect_invalid(doc, "points[1].stats.e2e_ms.median", NULL);
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_ReplaceItemInObject(point_at(doc, 2), "error", cJSON_CreateNumber(12));
    expect_invalid(doc, "points[2].error", "expected a string");
    cJSON_Delete(doc);

    doc = make_doc();
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(doc, "sweep"), "model", cJSON_CreateNumber(1));
    expect_invalid(doc, "sweep.model", NULL);
    cJSON_Delete(doc);
}

// ---- JSON --------------------------------------------------------------------------

Test(results, json_round_trip) {
    cJSON *doc = make_doc();
    // values that need 17 significant digits, and tiny and huge ones
    static const double awkward[] = {1.0 / 3.0, 0.1 + 0.2, 12.345678901234567, 3.141592653589793e-9, 6.02214076e23,
                                     123456.78901234567, 2.2250738585072014e-308};
    cJSON *arr = cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(doc, 0), "samples"), "e2e_ms");
    int n0 = cJSON_GetArraySize(arr);
    for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(awkward[i]));
    char *text = is_results_to_json(doc);
    cr_assert_eq(text[strlen(text) - 1], '\n');
    cJSON *back = cJSON_Parse(text);
    cr_assert_not_null(back, "to_json output does not parse");
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(back, "round-trip", &err), 0, "%s", err.msg);
    // cJSON writes 15 digits when they read back within one DBL_EPSILON, else 17
    cJSON *barr = cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(back, 0), "samples"), "e2e_ms");
    for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++) {
        double got = cJSON_GetArrayItem(barr, n0 + (int)i)->valuedouble;
        cr_assert_leq(fabs(got - awkward[i]), DBL_EPSILON * fabs(awkward[i]), "%.17g read back as %.17g",
                      awkward[i], got);
    }
    // everything else is identical (cJSON_Compare: numbers within DBL_EPSILON)
    cr_assert(cJSON_Compare(doc, back, true), "document changed in the round trip");
    free(text);
    cJSON_Delete(doc);
    cJSON_Delete(back);
}

Test(results, load_reports_bad_json) {
    char dir[256], path[300];
    mk_tmpdir(dir, sizeof dir);
    cJSON *doc = NULL;
    is_err err = {{0}};

    snprintf(path, sizeof path, "%s/broken.json", dir);
    write_text(path, "{\"schema\": \"inferscope-bench\", \"points\": [1, 2,, 3]}");
    cr_assert_eq(is_results_load(path, &doc, &err), -1);
    cr_assert_null(doc);
    char want[400];
    snprintf(want, sizeof want, "%s: not JSON (error near byte ", path);
    cr_assert_not_null(strstr(err.msg, want), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "byte 47)"), "%s", err.msg); // the second comma, from 0

    write_text(path, "");
    cr_assert_eq(is_results_load(path, &doc, &err), -1);
    cr_assert_not_null(strstr(err.msg, "not JSON"), "%s", err.msg);

    write_text(path, "{} trailing");
    cr_assert_eq(is_results_load(path, &doc, &err), -1);
    cr_assert_not_null(strstr(err.msg, "not JSON (error near byte 3)"), "%s", err.msg);

    snprintf(path, sizeof path, "%s/missing.json", dir);
    cr_assert_eq(is_results_load(path, &doc, &err), -1);
    cr_assert_not_null(strstr(err.msg, path), "%s", err.msg);

    // a valid document loads; one of another schema version names the file
    cJSON *d = make_doc();
    char *text = is_results_to_json(d);
    snprintf(path, sizeof path, "%s/ok.json", dir);
    write_text(path, text);
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    cr_assert(cJSON_Compare(doc, d, true));
    cJSON_Delete(doc);
    free(text);
    cJSON_ReplaceItemInObject(d, "schema_version", cJSON_CreateNumber(2));
    text = is_results_to_json(d);
    write_text(path, text);
    cr_assert_eq(is_results_load(path, &doc, &err), -1);
    snprintf(want, sizeof want, "%s: schema_version 2, this build reads 1", path);
    cr_assert_str_eq(err.msg, want);
    free(text);
    cJSON_Delete(d);
    rm_tree(dir);
}

// A result file whose statistics or samples say 1e999 or -1e999 (infinity as
// strtod reads them) is refused by name: compare once gave such a file a verdict.
static void expect_load_refuses_first(const char *dir, const char *key, const char *value, const char *needle) {
    cJSON *d = make_doc();
    char *text = is_results_to_json(d);
    cJSON_Delete(d);
    char *at = strstr(text, key);
    cr_assert_not_null(at, "%s in the document", key);
    at += strlen(key);
    while (*at == ' ' || *at == '\t' || *at == '\n' || *at == '[') at++; // to the first number
    char *end = at;
    while (*end && *end != ',' && *end != '}' && *end != ']' && *end != '\n') end++;
    size_t n = strlen(text) + strlen(value) + 1;
    char *edited = malloc(n), path[300];
    snprintf(edited, n, "%.*s%s%s", (int)(at - text), text, value, end);
    snprintf(path, sizeof path, "%s/inf.json", dir);
    write_text(path, edited);
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), -1, "%s = %s was accepted", key, value);
    cr_assert_null(doc);
    cr_assert_not_null(strstr(err.msg, needle), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "finite"), "%s", err.msg);
    free(edited);
    free(text);
}

Test(results, load_refuses_infinite_statistics) {
    char dir[256];
    mk_tmpdir(dir, sizeof dir);
    expect_load_refuses_first(dir, "\"median\":", "1e999", ".median");
    expect_load_refuses_first(dir, "\"stddev\":", "-1e999", ".stddev");
    expect_load_refuses_first(dir, "\"ci95\":", "1e999", ".ci95");
    expect_load_refuses_first(dir, "\"ttft_ms\":", "-1e999", "samples.ttft_ms[0]");
    rm_tree(dir);
}

// ---- CSV ---------------------------------------------------------------------------

Test(results, csv_rows_and_quoting) {
    cJSON *doc = make_doc();
    char *csv = is_results_to_csv(doc);
    char *store = malloc(strlen(csv) + 1);
    static char *fields[CSV_MAX_REC][CSV_MAX_FIELDS];
    int nf[CSV_MAX_REC];
    int nr = csv_parse(csv, store, fields, nf);
    cr_assert_eq(nr, 4, "header + 3 points, got %d records", nr);

    // header: config, status, reps, metrics (p99 for per-request ones), derived, error
    int expect_cols = 10 + 2 + 4 * 4 + 4 * 3 + 4 + 1;
    cr_assert_eq(nf[0], expect_cols, "header has %d columns", nf[0]);
    const char *first = "model,backend,dtype,threads,batch,prompt,gen,depth,strategy,kernel,status,reps,"
                        "ttft_ms_median,ttft_ms_ci_lo,ttft_ms_ci_hi,ttft_ms_p99,tpot_ms_median,";
    cr_assert_eq(strncmp(csv, first, strlen(first)), 0, "header: %.200s", csv);
    const char *tail = "decode_tps_median,decode_tps_ci_lo,decode_tps_ci_hi,decode_gbs,mbu,prefill_gflops,mfu,error\n";
    cr_assert_not_null(strstr(csv, tail));
    cr_assert_not_null(strstr(csv, "prefill_ms_ci_hi,decode_ms_median")); // no p99 for per-repetition metrics
    for (int r = 1; r < nr; r++) cr_assert_eq(nf[r], expect_cols, "row %d has %d fields", r, nf[r]);

    // the values
    int c_batch = csv_col(fields, nf[0], "batch"), c_kernel = csv_col(fields, nf[0], "kernel");
    int c_med = csv_col(fields, nf[0], "decode_tps_median"), c_err = csv_col(fields, nf[0], "error");
    int c_mbu = csv_col(fields, nf[0], "mbu"), c_status = csv_col(fields, nf[0], "status");
    int c_reps = csv_col(fields, nf[0], "reps");
    cr_assert_str_eq(fields[1][c_batch], "1");
    cr_assert_str_eq(fields[2][c_batch], "8");
    cr_assert_str_eq(fields[2][c_kernel], "a,b");
    cr_assert_not_null(strstr(csv, ",\"a,b\","), "comma not quoted");
    cr_assert_str_eq(fields[1][c_med], "82");  // 10 * 8 * 1 + 2
    cr_assert_str_eq(fields[2][c_med], "642.5"); // 10 * 8 * 8 + 2.5
    cr_assert_str_eq(fields[1][c_mbu], "0.41");
    cr_assert_str_eq(fields[1][c_reps], "5");
    cr_assert_str_eq(fields[1][c_err], "");
    // the failed point: empty cells, the message with its quote, comma and newline
    cr_assert_str_eq(fields[3][c_status], "error");
    cr_assert_str_eq(fields[3][c_med], "");
    cr_assert_str_eq(fields[3][c_reps], "");
    cr_assert_str_eq(fields[3][c_err], "out of memory: \"kv\", 3 GiB\nretry");
    cr_assert_not_null(strstr(csv, "\"out of memory: \"\"kv\"\", 3 GiB\nretry\"\n"));
    free(store);
    free(csv);
    cJSON_Delete(doc);
}

// ---- Markdown ----------------------------------------------------------------------

Test(results, markdown_report) {
    cJSON *doc = make_doc();
    char *md = is_results_to_md(doc);
    // environment and probes
    cr_assert_not_null(strstr(md, "Test CPU 9000"), "%s", md);
    cr_assert_not_null(strstr(md, "abc1234"));
    cr_assert_not_null(strstr(md, "Release"));
    cr_assert_not_null(strstr(md, "2026-01-02T03:04:05Z"));
    cr_assert_not_null(strstr(md, "inferscope bench --model preset:tiny --batch 1,8"));
    cr_assert_not_null(strstr(md, "50.00 GB/s"));
    cr_assert_not_null(strstr(md, "4 threads summing 1 GiB buffers, best of 5"));
    cr_assert_not_null(strstr(md, "matmul peak: not measured"));
    // the table header, with numbers right-aligned
    const char *heads[] = {"model", "dtype", "backend", "threads", "batch", "prompt", "gen", "depth", "strategy",
                           "kernel", "TTFT ms", "TPOT ms", "ITL p99 ms", "prefill tok/s", "decode tok/s", "GB/s",
                           "MBU %", "MFU %"};
    char *header = strstr(md, "| model");
    cr_assert_not_null(header, "no table header:\n%s", md);
    char *eol = strchr(header, '\n');
    for (size_t h = 0; h < sizeof heads / sizeof heads[0]; h++) {
        char *at = strstr(header, heads[h]);
        cr_assert(at && at < eol, "no column %s", heads[h]);
    }
    cr_assert_not_null(strstr(eol, "---: |"), "numbers not right-aligned");
    // one row per point; a median with its interval half-width; MBU in percent
    int rows = 0;
    for (char *l = eol + 1; (l = strstr(l, "\n| preset:tiny")) != NULL; l++) rows++;
    cr_assert_eq(rows, 3, "expected 3 rows:\n%s", md);
    cr_assert_not_null(strstr(md, "642.50 ± "), "%s", md);
    cr_assert_not_null(strstr(md, " 41.00 |"), "MBU 0.41 not shown as 41.00 %%:\n%s", md);
    cr_assert_not_null(strstr(md, " a,b "));
    // the failed point: a note line under the table
    cr_assert_not_null(strstr(md, "error: out of memory: \"kv\", 3 GiB retry"), "%s", md);
    // every table line has the same width in characters (padded columns; "±" is one)
    size_t width = 0;
    int lines = 0;
    for (char *l = header; *l == '|'; lines++) {
        size_t w = 0;
        char *c = l;
        for (; *c && *c != '\n'; c++) w += ((unsigned char)*c & 0xC0) != 0x80;
        if (lines == 0) width = w;
        cr_assert_eq(w, width, "table line %d is %zu wide, the header %zu:\n%s", lines, w, width, md);
        l = *c ? c + 1 : c;
    }
    cr_assert_eq(lines, 2 + 3);
    free(md);

    // no probes at all
    cJSON_ReplaceItemInObject(doc, "probes", cJSON_CreateObject());
    md = is_results_to_md(doc);
    cr_assert_not_null(strstr(md, "memory bandwidth peak: not measured"), "%s", md);
    free(md);
    cJSON_Delete(doc);
}

// ---- the output directory ------------------------------------------------------------

Test(results, write_dir_four_files) {
    char tmp[256], dir[400];
    mk_tmpdir(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/run/a/b", tmp); // parents created too
    cJSON *doc = make_doc();
    is_err err = {{0}};
    for (int pass = 0; pass < 2; pass++) { // the second pass replaces the files
        cr_assert_eq(is_results_write_dir(dir, doc, &err), 0, "%s", err.msg);
        DIR *d = opendir(dir);
        cr_assert_not_null(d);
        int n = 0;
        bool seen[4] = {false, false, false, false};
        static const char *const names[] = {"results.json", "results.csv", "report.md", "report.html"};
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            n++;
            bool known = false;
            for (int k = 0; k < 4; k++)
                if (strcmp(e->d_name, names[k]) == 0) seen[k] = known = true;
            cr_assert(known, "unexpected file %s (a temporary left behind?)", e->d_name);
        }
        closedir(d);
        cr_assert_eq(n, 4);
        cr_assert(seen[0] && seen[1] && seen[2] && seen[3]);
    }
    char path[500];
    snprintf(path, sizeof path, "%s/results.json", dir);
    cJSON *back = NULL;
    cr_assert_eq(is_results_load(path, &back, &err), 0, "%s", err.msg);
    cr_assert(cJSON_Compare(doc, back, true));
    cJSON_Delete(back);
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *csv = tu_read_file(path, NULL), *want = is_results_to_csv(doc);
    cr_assert_str_eq(csv, want);
    free(csv);
    free(want);
    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = tu_read_file(path, NULL);
    cr_assert_not_null(strstr(md, "| model"));
    free(md);
    cJSON_Delete(doc);
    rm_tree(tmp);
}

// What a run killed inside a write leaves (NAME.tmp.XXXXXX of the three files) is
// removed; names that only look like it, and other files, stay.
Test(results, write_dir_clean_removes_temporaries) {
    char tmp[256], path[400];
    mk_tmpdir(tmp, sizeof tmp);
    static const char *const gone[] = {"results.json.tmp.Ab12Cd", "results.csv.tmp.ZZZZZZ", "report.md.tmp.123456"};
    static const char *const kept[] = {"results.json", "results.json.tmp.short", "results.json.tmp.sevenXX",
                                       "results.json.tmpXABCDEF", "trace.json.tmp.ABCDEF", "notes.txt"};
    for (int i = 0; i < 3; i++) tu_write_file(tmp, gone[i], "{\"half", 6);
    for (int i = 0; i < 6; i++) tu_write_file(tmp, kept[i], "x", 1);
    is_results_write_dir_clean(tmp);
    struct stat st;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, gone[i]);
        cr_assert_neq(stat(path, &st), 0, "%s is still there", gone[i]);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, kept[i]);
        cr_assert_eq(stat(path, &st), 0, "%s was removed", kept[i]);
    }
    snprintf(path, sizeof path, "%s/missing/results.json", tmp);
    cr_assert_eq(is_write_file_atomic_clean(path), 0, "a missing directory holds nothing to remove");
    rm_tree(tmp);
}

Test(results, write_dir_unwritable) {
    char tmp[256], file[300], dir[400];
    mk_tmpdir(tmp, sizeof tmp);
    snprintf(file, sizeof file, "%s/plain", tmp);
    write_text(file, "a regular file\n");
    snprintf(dir, sizeof dir, "%s/plain/out", tmp);
    cJSON *doc = make_doc();
    is_err err = {{0}};
    cr_assert_eq(is_results_write_dir(dir, doc, &err), -1);
    cr_assert_not_null(strstr(err.msg, dir), "message does not name %s: %s", dir, err.msg);
    cr_assert_not_null(strstr(err.msg, "not a directory"), "%s", err.msg);
    // the directory itself a regular file
    cr_assert_eq(is_results_write_dir(file, doc, &err), -1);
    cr_assert_not_null(strstr(err.msg, file), "%s", err.msg);
    cr_assert_eq(is_results_write_dir("", doc, &err), -1);
    cJSON_Delete(doc);
    rm_tree(tmp);
}

// ---- kernel points (inferscope kernels) ----------------------------------------------

static cJSON *make_kernel_point(const char *variant, double t0) {
    double t[3] = {t0, t0 + 1, t0 + 2};
    cJSON *p = tu_kernel_point("q,o", "m=64,k=64", 8, variant, t, 3);
    is_results_point_finish(p, 1);
    cJSON_AddBoolToObject(p, "winner", true);
    return p;
}

Test(results, kernel_points) {
    cJSON *doc = is_results_new(NULL, NULL, NULL);
    cJSON_AddStringToObject(doc, "kind", "kernels");
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), make_kernel_point("gemv", 10));
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "k.json", &err), 0, "%s", err.msg);
    cr_assert(is_results_is_kernels(doc));
    cr_assert_str_eq(is_results_default_metric(doc), "time_us");
    const is_metric_def *m = is_metric_find("time_us");
    cr_assert_not_null(m);
    cr_assert_not(m->higher_is_better, "time: lower is better");
    char key[512];
    cr_assert_eq(is_results_point_key(cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "points"), 0), key, sizeof key), 0);
    cr_assert_str_eq(key, "op=matmul;model=preset:tiny;backend=cpu;dtype=BF16;threads=2;tensor=q,o;shape=m=64,k=64;"
                          "batch=8;context=0;variant=gemv");
    // the writers: kernel columns, the median of 10, 11, 12 and the winner mark
    char *csv = is_results_to_csv(doc);
    cr_assert_eq(strncmp(csv, "op,model,backend,dtype,threads,tensor,shape,batch,context,variant,status,reps,time_us_median",
                         91), 0, "%s", csv);
    cr_assert_not_null(strstr(csv, "\"q,o\",\"m=64,k=64\",8,0,gemv,ok,,11,"), "%s", csv);
    free(csv);
    char *md = is_results_to_md(doc);
    cr_assert_not_null(strstr(md, "# inferscope kernels"), "%s", md);
    cr_assert_not_null(strstr(md, "| gemv "), "%s", md);
    cr_assert_not_null(strstr(md, "| *"), "%s", md);
    free(md);

    // a kernel point missing a field, a bench point in a kernels file, a kernel point in a bench file
    cJSON *bad = cJSON_Duplicate(doc, true);
    cJSON_DeleteItemFromObject(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(bad, "points"), 0), "config"),
                               "variant");
    cr_assert_eq(is_results_validate(bad, "k.json", &err), -1);
    cr_assert_str_eq(err.msg, "k.json: points[0].config.variant: expected a string, got nothing");
    cJSON_Delete(bad);
    bad = cJSON_Duplicate(doc, true);
    cJSON_DeleteItemFromObject(cJSON_GetArrayItem(cJSON_GetObjectItem(bad, "points"), 0), "kind");
    cr_assert_eq(is_results_validate(bad, "k.json", &err), -1);
    cr_assert_not_null(strstr(err.msg, "points[0].kind: expected \"kernel\" in a kernels result file"), "%s", err.msg);
    cJSON_Delete(bad);
    bad = cJSON_Duplicate(doc, true);
    cJSON_DeleteItemFromObject(bad, "kind");
    cr_assert_eq(is_results_validate(bad, "b.json", &err), -1);
    cr_assert_not_null(strstr(err.msg, "points[0].kind: expected no kind in a bench result file"), "%s", err.msg);
    cJSON_AddStringToObject(bad, "kind", "chat");
    cr_assert_eq(is_results_validate(bad, "b.json", &err), -1);
    cr_assert_not_null(strstr(err.msg, "kind: expected \"kernels\" or \"serve\""), "%s", err.msg);
    cJSON_Delete(bad);
    // bench documents are untouched by all this
    cJSON *bench = make_doc();
    cr_assert_not(is_results_is_kernels(bench));
    cr_assert_str_eq(is_results_default_metric(bench), "decode_tps");
    cJSON_Delete(bench);
    cJSON_Delete(doc);
}

// ---- serve points (inferscope serve-bench) -------------------------------------------

// Quantile q of x[0..n), worked here rather than through base/stats.h: the
// sorted values, position q * (n - 1), linear between the two closest ranks.
static double quantile_linear(const double *x, int n, double q) {
    double *v = malloc((size_t)n * sizeof *v);
    memcpy(v, x, (size_t)n * sizeof *v);
    for (int i = 1; i < n; i++) // insertion sort: a handful of values
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    double r = lo + 1 < n ? v[lo] + (pos - lo) * (v[lo + 1] - v[lo]) : v[lo];
    free(v);
    return r;
}

// The samples of a serve point at load s (1: rate 1, 2: burst), 2 repetitions
// of 4 requests: per request 8 values (ITL: 12 gaps), per repetition 2. Latencies
// and rates both grow with s.
#define SV_N_METRICS 12
static const char *const sv_names[SV_N_METRICS] = {"queue_ms", "ttft_ms",  "tpot_ms", "itl_ms",
                                                   "e2e_ms",   "req_per_s", "in_tps",  "out_tps",
                                                   "goodput",  "ttft_p99_ms", "tpot_p99_ms", "sched_share"};
static const double sv_queue[] = {1.5, 2, 4, 1.25, 1.75, 3.5, 6, 1.1};
static const double sv_ttft[] = {20, 25, 31, 40, 22, 24, 35, 90};
static const double sv_tpot[] = {5, 6, 7, 5.5, 6.5, 8, 5.2, 9};
static const double sv_itl[] = {4, 5, 6, 7, 4.5, 5.5, 30, 6.5, 5, 4.2, 8, 12};
static const double sv_e2e[] = {120, 150, 171, 140, 130, 160, 135, 300};
static const double sv_req[] = {0.9, 1.1}, sv_in[] = {60, 70}, sv_out[] = {15, 17}, sv_good[] = {0.8, 1};
static const double sv_ttft99[] = {39, 88}, sv_tpot99[] = {7.9, 8.9}, sv_sched[] = {0.02, 0.04};

static const double *sv_samples(int m, int *n) {
    static const double *const arr[SV_N_METRICS] = {sv_queue, sv_ttft, sv_tpot, sv_itl, sv_e2e, sv_req,
                                                    sv_in,    sv_out,  sv_good, sv_ttft99, sv_tpot99, sv_sched};
    *n = m == 3 ? 12 : m < 5 ? 8 : 2;
    return arr[m];
}

// sample i of metric m at load s, as make_serve_point writes it
static double sv_value(int m, int i, double s) {
    int n;
    return sv_samples(m, &n)[i] * (m == SV_N_METRICS - 1 ? 1 : s);
}

static double sv_quantile(int m, double s, double q) {
    int n;
    sv_samples(m, &n);
    double x[16];
    for (int i = 0; i < n; i++) x[i] = sv_value(m, i, s);
    return quantile_linear(x, n, q);
}

static cJSON *serve_config(const char *arrival, const char *rate) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model", "preset:tiny");
    cJSON_AddStringToObject(c, "backend", "cpu");
    cJSON_AddStringToObject(c, "dtype", "f32");
    cJSON_AddNumberToObject(c, "threads", 2);
    cJSON_AddStringToObject(c, "arrival", arrival);
    cJSON_AddStringToObject(c, "rate", rate);
    cJSON_AddNumberToObject(c, "concurrency", 0);
    cJSON_AddNumberToObject(c, "requests", 4);
    cJSON_AddStringToObject(c, "prompt", "uniform:32,64"); // a comma: quoted in CSV
    cJSON_AddStringToObject(c, "output", "16");
    cJSON_AddStringToObject(c, "policy", "decode-first");
    cJSON_AddNumberToObject(c, "max_batch_tokens", 512);
    cJSON_AddNumberToObject(c, "max_seqs", 8);
    cJSON_AddNumberToObject(c, "prefill_chunk", 256);
    cJSON_AddNumberToObject(c, "prefix_cache", 1);
    cJSON_AddNumberToObject(c, "batch_invariant", 0);
    return c;
}

// An ok serve point at load s with its "serve" section (prefix_hit_rate null
// when hit_rate < 0) and "timeseries", statistics computed.
static cJSON *make_serve_point(const char *arrival, const char *rate, double s, double hit_rate, int preemptions) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "kind", "serve");
    cJSON_AddItemToObject(p, "config", serve_config(arrival, rate));
    cJSON_AddStringToObject(p, "status", "ok");
    cJSON_AddNumberToObject(p, "warmup", 0);
    cJSON_AddNumberToObject(p, "reps", 2);
    cJSON_AddStringToObject(p, "stop", "reps");
    cJSON_AddNumberToObject(p, "noise", 0.05);
    cJSON_AddNumberToObject(p, "elapsed_s", 9.5);
    cJSON *samples = cJSON_AddObjectToObject(p, "samples");
    for (int m = 0; m < SV_N_METRICS; m++) {
        int n;
        sv_samples(m, &n);
        cJSON *arr = cJSON_AddArrayToObject(samples, sv_names[m]);
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(sv_value(m, i, s)));
    }
    cJSON *sv = cJSON_AddObjectToObject(p, "serve");
    cJSON_AddNumberToObject(sv, "duration_s", 4.25 / s);
    cJSON_AddNumberToObject(sv, "n_requests", 4);
    cJSON_AddNumberToObject(sv, "n_good", 4);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(sv, "slo"), "ttft_ms", 500);
    cJSON_AddNumberToObject(sv, "steps", 70);
    cJSON_AddNumberToObject(sv, "preemptions", preemptions);
    if (hit_rate < 0) cJSON_AddNullToObject(sv, "prefix_hit_rate");
    else cJSON_AddNumberToObject(sv, "prefix_hit_rate", hit_rate);
    cJSON_AddNumberToObject(sv, "peak_running", 4);
    cJSON_AddNumberToObject(sv, "kv_blocks_total", 64);
    cJSON_AddNumberToObject(sv, "kv_blocks_peak", 12 * s);
    cJSON_AddNumberToObject(sv, "kv_blocks_mean", 7.5);
    cJSON_AddNumberToObject(sv, "sched_share", 0.04);
    cJSON *summary = cJSON_AddObjectToObject(cJSON_AddObjectToObject(sv, "summary"), "ttft_ms");
    cJSON_AddNumberToObject(summary, "n", 4);
    cJSON_AddNumberToObject(summary, "p99", 88 * s);
    cJSON *ts = cJSON_AddObjectToObject(p, "timeseries");
    static const char *const series[] = {"t_s", "prefill_tokens", "decode_tokens", "running", "waiting", "kv_blocks"};
    for (int k = 0; k < 6; k++) {
        double v[3] = {0.1 * k, 0.2 * k, 0.3 * k};
        cJSON_AddItemToObject(ts, series[k], cJSON_CreateDoubleArray(v, 3));
    }
    is_results_point_finish(p, 5);
    return p;
}

// A serve document of two points: poisson at rate 1 (load 1, prefix hits 25%,
// no preemption) and a burst (rate inf, load 2, no prefix hit rate, 3 preemptions).
static cJSON *make_serve_doc(void) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "command", "serve-bench");
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(make_env(), sweep, NULL);
    cJSON_AddStringToObject(doc, "kind", "serve");
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cJSON_AddItemToArray(points, make_serve_point("poisson", "1", 1, 0.25, 0));
    cJSON_AddItemToArray(points, make_serve_point("burst", "inf", 2, -1, 3));
    return doc;
}

// The cells of a Markdown table line ("| a | b |"), trimmed, into cells[]; returns their count.
static int md_split(const char *line, char cells[40][200]) {
    int n = 0;
    const char *c = line;
    cr_assert_eq(*c, '|');
    while (*c == '|' && c[1] != '\n' && c[1] != 0 && n < 40) {
        c++;
        const char *end = strchr(c, '|');
        cr_assert_not_null(end);
        while (*c == ' ') c++;
        const char *e = end;
        while (e > c && e[-1] == ' ') e--;
        snprintf(cells[n++], 200, "%.*s", (int)(e - c), c);
        c = end;
    }
    return n;
}

// The cell under column head in the table row that starts with first (its first cell).
static void md_cell(const char *md, const char *head_first, const char *first, const char *head, char *out,
                    size_t n) {
    static char heads[40][200], row[40][200];
    char want[220];
    snprintf(want, sizeof want, "\n| %s ", head_first);
    const char *h = strstr(md, want);
    cr_assert_not_null(h, "no table starting with %s:\n%s", head_first, md);
    int nh = md_split(h + 1, heads);
    snprintf(want, sizeof want, "\n| %s ", first);
    const char *r = strstr(h, want);
    cr_assert_not_null(r, "no row %s:\n%s", first, md);
    int nr = md_split(r + 1, row);
    cr_assert_eq(nr, nh, "row %s has %d cells, the header %d", first, nr, nh);
    for (int c = 0; c < nh; c++)
        if (strcmp(heads[c], head) == 0) {
            snprintf(out, n, "%s", row[c]);
            return;
        }
    cr_assert_fail("no column %s:\n%s", head, md);
}

Test(results, serve_metric_defs) {
    cr_assert_eq(is_serve_metric_n_defs, SV_N_METRICS);
    for (int m = 0; m < SV_N_METRICS; m++) {
        const is_metric_def *d = is_metric_find_for(IS_RESULTS_KIND_SERVE, sv_names[m]);
        cr_assert_eq(d, &is_serve_metric_defs[m], "%s out of order", sv_names[m]);
        cr_assert_eq(d->per_request, m < 5, "%s", d->name);
        bool rate = m >= 5 && m <= 8;
        cr_assert_eq(d->higher_is_better, rate, "%s", d->name);
        cr_assert_str_eq(d->unit, rate ? (m == 5 || m == 8 ? "req/s" : "tok/s") : m == 11 ? "fraction" : "ms");
        cr_assert(d->description && strlen(d->description) > 10);
        // is_metric_find knows every serve metric; a name bench has too gives bench's entry
        const is_metric_def *any = is_metric_find(sv_names[m]);
        cr_assert_not_null(any, "%s", sv_names[m]);
        cr_assert_eq(any->higher_is_better, d->higher_is_better);
        cr_assert_eq(any->per_request, d->per_request);
    }
    cr_assert_eq(is_metric_find("ttft_ms"), &is_metric_defs[0]);
    cr_assert_eq(is_metric_find("queue_ms"), &is_serve_metric_defs[0]);
    cr_assert_not_null(strstr(is_metric_find_for(IS_RESULTS_KIND_SERVE, "ttft_ms")->description, "arrival"));
    // a table per kind: no bench metric in serve results and the other way round
    cr_assert_null(is_metric_find_for(IS_RESULTS_KIND_SERVE, "decode_tps"));
    cr_assert_null(is_metric_find_for(IS_RESULTS_KIND_BENCH, "out_tps"));
    cr_assert_null(is_metric_find_for(IS_RESULTS_KIND_KERNELS, "ttft_ms"));
    cr_assert_eq(is_metric_find_for(IS_RESULTS_KIND_KERNELS, "time_us"), &is_kernel_metric_defs[0]);
}

Test(results, serve_document_validates_and_keys) {
    cJSON *doc = make_serve_doc();
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "s.json", &err), 0, "%s", err.msg);
    cr_assert(is_results_is_serve(doc));
    cr_assert_not(is_results_is_kernels(doc));
    cr_assert_eq(is_results_kind_of(doc), IS_RESULTS_KIND_SERVE);
    cr_assert_str_eq(is_results_kind_name(IS_RESULTS_KIND_SERVE), "serve");
    cr_assert_str_eq(is_results_default_metric(doc), "out_tps");
    char key[1024];
    cr_assert_eq(is_results_point_key(point_at(doc, 0), key, sizeof key), 0);
    cr_assert_str_eq(key, "model=preset:tiny;backend=cpu;dtype=f32;threads=2;arrival=poisson;rate=1;concurrency=0;"
                          "requests=4;prompt=uniform:32,64;output=16;policy=decode-first;max_batch_tokens=512;"
                          "max_seqs=8;prefill_chunk=256;prefix_cache=1;batch_invariant=0");
    cr_assert_eq(is_results_point_key(point_at(doc, 1), key, sizeof key), 0);
    cr_assert_not_null(strstr(key, ";arrival=burst;rate=inf;"), "%s", key);
    char small[64];
    cr_assert_eq(is_results_point_key(point_at(doc, 0), small, sizeof small), -1, "truncated key accepted");
    // the statistics of per-request samples pool both repetitions
    const cJSON *st = cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(doc, 1), "stats"), "ttft_ms");
    cr_assert_eq(cJSON_GetObjectItem(st, "n")->valuedouble, 8);
    cr_assert_float_eq(cJSON_GetObjectItem(st, "p99")->valuedouble, sv_quantile(1, 2, 0.99), 1e-9);
    // through JSON and back: the same document, still valid
    char *text = is_results_to_json(doc);
    cJSON *back = cJSON_Parse(text);
    cr_assert_eq(is_results_validate(back, "round-trip", &err), 0, "%s", err.msg);
    cr_assert(cJSON_Compare(doc, back, true));
    free(text);
    cJSON_Delete(back);
    cJSON_Delete(doc);
}

Test(results, serve_validation_refusals) {
    is_err err = {{0}};
    // every config field: missing, then of the wrong type
    for (int f = 0; f < is_schema_n_serve_fields; f++) {
        const is_schema_field *fd = &is_schema_serve_fields[f];
        cJSON *doc = make_serve_doc();
        cJSON *config = cJSON_GetObjectItem(point_at(doc, 1), "config");
        cJSON_DeleteItemFromObject(config, fd->name);
        char want[160];
        snprintf(want, sizeof want, "s.json: points[1].config.%s: expected %s, got nothing", fd->name,
                 fd->is_string ? "a string" : "a non-negative integer");
        cr_assert_eq(is_results_validate(doc, "s.json", &err), -1, "%s missing: accepted", fd->name);
        cr_assert_str_eq(err.msg, want);
        cJSON_AddItemToObject(config, fd->name, fd->is_string ? cJSON_CreateNumber(3) : cJSON_CreateString("8"));
        snprintf(want, sizeof want, "s.json: points[1].config.%s: expected %s, got %s", fd->name,
                 fd->is_string ? "a string" : "a non-negative integer", fd->is_string ? "3" : "\"8\"");
        cr_assert_eq(is_results_validate(doc, "s.json", &err), -1, "%s of the wrong type: accepted", fd->name);
        cr_assert_str_eq(err.msg, want);
        cJSON_Delete(doc);
    }
    // a rate is text ("inf" for a burst), not a number
    cJSON *doc = make_serve_doc();
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(point_at(doc, 0), "config"), "rate", cJSON_CreateNumber(1));
    expect_invalid(doc, "points[0].config.rate: expected a string, got 1", NULL);
    cJSON_Delete(doc);
    // a point without its kind, or of another kind
    doc = make_serve_doc();
    cJSON_DeleteItemFromObject(point_at(doc, 0), "kind");
    cr_assert_eq(is_results_validate(doc, "s.json", &err), -1);
    cr_assert_str_eq(err.msg, "s.json: points[0].kind: expected \"serve\" in a serve result file, got nothing");
    cJSON_AddStringToObject(point_at(doc, 0), "kind", "kernel");
    cr_assert_eq(is_results_validate(doc, "s.json", &err), -1);
    cr_assert_str_eq(err.msg, "s.json: points[0].kind: expected \"serve\" in a serve result file, got \"kernel\"");
    cJSON_Delete(doc);
    // serve points in a bench file, in a kernels file
    doc = make_serve_doc();
    cJSON_DeleteItemFromObject(doc, "kind");
    cr_assert_eq(is_results_validate(doc, "b.json", &err), -1);
    cr_assert_str_eq(err.msg, "b.json: points[0].kind: expected no kind in a bench result file, got \"serve\"");
    cJSON_AddStringToObject(doc, "kind", "kernels");
    cr_assert_eq(is_results_validate(doc, "k.json", &err), -1);
    cr_assert_str_eq(err.msg, "k.json: points[0].kind: expected \"kernel\" in a kernels result file, got \"serve\"");
    cJSON_ReplaceItemInObject(doc, "kind", cJSON_CreateString("serving"));
    cr_assert_eq(is_results_validate(doc, "x.json", &err), -1);
    cr_assert_str_eq(err.msg, "x.json: kind: expected \"kernels\" or \"serve\" (or no kind: a bench file), got "
                              "\"serving\"");
    cJSON_Delete(doc);
    // the serve and timeseries sections are objects
    doc = make_serve_doc();
    cJSON_ReplaceItemInObject(point_at(doc, 1), "serve", cJSON_CreateArray());
    expect_invalid(doc, "points[1].serve: expected an object, got an array", NULL);
    cJSON_ReplaceItemInObject(point_at(doc, 1), "serve", cJSON_CreateObject());
    cJSON_ReplaceItemInObject(point_at(doc, 1), "timeseries", cJSON_CreateString("none"));
    expect_invalid(doc, "points[1].timeseries: expected an object, got \"none\"", NULL);
    cJSON_Delete(doc);
    // a sample that is no number names the metric and the index
    doc = make_serve_doc();
    cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetObjectItem(point_at(doc, 0), "samples"), "queue_ms"),
                         cJSON_CreateString("late"));
    expect_invalid(doc, "points[0].samples.queue_ms[8]: expected a finite number, got \"late\"", NULL);
    cJSON_Delete(doc);
}

Test(results, serve_csv) {
    cJSON *doc = make_serve_doc();
    char *csv = is_results_to_csv(doc);
    char *store = malloc(strlen(csv) + 1);
    static char *fields[CSV_MAX_REC][CSV_MAX_FIELDS];
    int nf[CSV_MAX_REC];
    int nr = csv_parse(csv, store, fields, nf);
    cr_assert_eq(nr, 3, "header + 2 points, got %d records:\n%s", nr, csv);
    // the header, column by column
    static char want[CSV_MAX_FIELDS][40];
    int nw = 0;
    for (int f = 0; f < is_schema_n_serve_fields; f++) snprintf(want[nw++], 40, "%s", is_schema_serve_fields[f].name);
    snprintf(want[nw++], 40, "status");
    snprintf(want[nw++], 40, "reps");
    for (int m = 0; m < SV_N_METRICS; m++) {
        static const char *const sfx[] = {"median", "ci_lo", "ci_hi", "p99"};
        for (int k = 0; k < (m < 5 ? 4 : 3); k++) snprintf(want[nw++], 40, "%s_%s", sv_names[m], sfx[k]);
    }
    static const char *const tail[] = {"duration_s",     "preemptions", "prefix_hit_rate", "peak_running",
                                       "kv_blocks_peak", "sched_share", "error"};
    for (int k = 0; k < 7; k++) snprintf(want[nw++], 40, "%s", tail[k]);
    cr_assert_eq(nf[0], nw, "header has %d columns, expected %d:\n%.400s", nf[0], nw, csv);
    for (int c = 0; c < nw; c++) cr_assert_str_eq(fields[0][c], want[c], "column %d", c);
    for (int r = 1; r < nr; r++) cr_assert_eq(nf[r], nw, "row %d has %d fields", r, nf[r]);
    cr_assert_not_null(strstr(csv, ",\"uniform:32,64\","), "the comma of prompt not quoted:\n%s", csv);
    // one row per point, in order, with the medians of its samples
    for (int r = 1; r <= 2; r++) {
        double s = r == 1 ? 1 : 2;
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "arrival")], r == 1 ? "poisson" : "burst");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "rate")], r == 1 ? "1" : "inf");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "status")], "ok");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "reps")], "2");
        static const struct { const char *col; int m; double q; } nums[] = {
            {"out_tps_median", 7, 0.5},  {"ttft_ms_median", 1, 0.5}, {"ttft_ms_p99", 1, 0.99},
            {"itl_ms_p99", 3, 0.99},     {"queue_ms_median", 0, 0.5}, {"goodput_median", 8, 0.5},
            {"sched_share_median", 11, 0.5},
        };
        for (size_t k = 0; k < sizeof nums / sizeof nums[0]; k++) {
            const char *cell = fields[r][csv_col(fields, nf[0], nums[k].col)];
            double want_v = sv_quantile(nums[k].m, s, nums[k].q);
            cr_assert_float_eq(strtod(cell, NULL), want_v, 1e-9 * fabs(want_v), "row %d %s: %s, expected %.17g", r,
                               nums[k].col, cell, want_v);
        }
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "preemptions")], r == 1 ? "0" : "3");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "prefix_hit_rate")], r == 1 ? "0.25" : "");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "kv_blocks_peak")], r == 1 ? "12" : "24");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "sched_share")], "0.04");
        cr_assert_str_eq(fields[r][csv_col(fields, nf[0], "error")], "");
    }
    cr_assert_str_eq(fields[1][csv_col(fields, nf[0], "duration_s")], "4.25");
    free(store);
    free(csv);
    cJSON_Delete(doc);
}

Test(results, serve_markdown) {
    cJSON *doc = make_serve_doc();
    // a third point that failed
    cJSON *failed = is_schema_point_error("serve", serve_config("closed", "inf"), "out of KV blocks | at step 3");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(failed, "config"), "concurrency", cJSON_CreateNumber(4));
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), failed);
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "s.json", &err), 0, "%s", err.msg);
    char *md = is_results_to_md(doc);
    // the head the other kinds have, the config every point shares, the SLO
    cr_assert_not_null(strstr(md, "# inferscope serve-bench: preset:tiny\n"), "%s", md);
    cr_assert_not_null(strstr(md, "Test CPU 9000"), "%s", md);
    cr_assert_not_null(strstr(md, "abc1234"), "%s", md);
    cr_assert_not_null(strstr(md, "- every point: model preset:tiny; backend cpu; dtype f32; threads 2; prompt "
                                  "uniform:32,64; output 16; max_seqs 8; prefill_chunk 256\n"), "%s", md);
    cr_assert_not_null(strstr(md, "- goodput SLO: TTFT <= 500 ms\n"), "%s", md);
    cr_assert_not_null(strstr(md, "pooled"), "the header line says where the percentiles come from: %s", md);
    // the table: the axes, then the latency and throughput columns
    const char *heads[] = {"arrival",     "rate",        "concurrency", "policy",      "max_batch_tokens",
                           "prefix_cache", "batch_invariant", "requests", "req/s",     "out tok/s",
                           "goodput req/s", "TTFT p50 ms", "TTFT p99 ms", "TPOT p50 ms", "TPOT p99 ms",
                           "ITL p99 ms",  "E2E p50 ms",  "preemptions", "prefix hit %", "sched %"};
    char *header = strstr(md, "\n| arrival ");
    cr_assert_not_null(header, "no table:\n%s", md);
    static char cells[40][200];
    int nh = md_split(header + 1, cells);
    cr_assert_eq(nh, (int)(sizeof heads / sizeof heads[0]), "%d columns:\n%s", nh, md);
    for (int h = 0; h < nh; h++) cr_assert_str_eq(cells[h], heads[h], "column %d", h);
    cr_assert_not_null(strstr(header + 1, "---: |"), "numbers not right-aligned");
    // the percentiles of pooled samples, worked from the samples with the linear rule
    static const struct { const char *head; int m; double q; } pct[] = {
        {"TTFT p50 ms", 1, 0.5}, {"TTFT p99 ms", 1, 0.99}, {"TPOT p50 ms", 2, 0.5},
        {"TPOT p99 ms", 2, 0.99}, {"ITL p99 ms", 3, 0.99}, {"E2E p50 ms", 4, 0.5},
    };
    for (int r = 0; r < 2; r++) {
        const char *first = r ? "burst" : "poisson";
        double s = r ? 2 : 1;
        char got[200], want[64];
        for (size_t k = 0; k < sizeof pct / sizeof pct[0]; k++) {
            md_cell(md, "arrival", first, pct[k].head, got, sizeof got);
            snprintf(want, sizeof want, "%.2f", sv_quantile(pct[k].m, s, pct[k].q));
            cr_assert_str_eq(got, want, "%s %s", first, pct[k].head);
        }
        md_cell(md, "arrival", first, "rate", got, sizeof got);
        cr_assert_str_eq(got, r ? "inf" : "1");
        md_cell(md, "arrival", first, "requests", got, sizeof got);
        cr_assert_str_eq(got, "4");
        md_cell(md, "arrival", first, "out tok/s", got, sizeof got);
        snprintf(want, sizeof want, "%.2f ± ", sv_quantile(7, s, 0.5)); // median of 2 repetitions, ± its interval
        cr_assert_eq(strncmp(got, want, strlen(want)), 0, "%s out tok/s: %s, expected %s...", first, got, want);
        md_cell(md, "arrival", first, "preemptions", got, sizeof got);
        cr_assert_str_eq(got, r ? "3" : "0");
        md_cell(md, "arrival", first, "prefix hit %", got, sizeof got);
        cr_assert_str_eq(got, r ? "-" : "25.00", "a null hit rate renders -");
        md_cell(md, "arrival", first, "sched %", got, sizeof got);
        cr_assert_str_eq(got, "3.00"); // median of 0.02 and 0.04
    }
    // the failed point: a row with "error" and "-", and a note naming it
    char got[200];
    md_cell(md, "arrival", "closed", "req/s", got, sizeof got);
    cr_assert_str_eq(got, "error");
    md_cell(md, "arrival", "closed", "TTFT p99 ms", got, sizeof got);
    cr_assert_str_eq(got, "-");
    md_cell(md, "arrival", "closed", "concurrency", got, sizeof got);
    cr_assert_str_eq(got, "4");
    cr_assert_not_null(strstr(md, "- row 3 (model=preset:tiny;backend=cpu;dtype=f32;threads=2;arrival=closed;rate=inf;"
                                  "concurrency=4;"), "%s", md);
    cr_assert_not_null(strstr(md, "error: out of KV blocks \\| at step 3\n"), "%s", md);
    free(md);

    // a field that varies gets its column (threads, here) and leaves the every-point line
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(point_at(doc, 1), "config"), "threads", cJSON_CreateNumber(4));
    md = is_results_to_md(doc);
    cr_assert_not_null(strstr(md, "\n| threads "), "%s", md);
    cr_assert_not_null(strstr(md, "- every point: model preset:tiny; backend cpu; dtype f32; prompt"), "%s", md);
    free(md);
    cJSON_Delete(doc);
}

// ---- the committed result files (bench/results/) -------------------------------
// Every results.json committed beside its report.md and results.csv renders to
// those files: a change to the writers or the schema that would change how an old
// run reads shows up here, not in a reader's diff. report.md byte for byte; the
// CSV cell by cell, numbers to 14 significant digits (the run wrote its CSV from
// the doubles in memory, while results.json keeps 15 significant digits where
// they read back equal, so a re-rendered CSV may differ in the 16th or 17th).

// Whether two CSV texts hold the same cells (text equal, or numbers equal to 1e-14 relative).
static bool csv_same(const char *a, const char *b, char *where, size_t where_len) {
    int line = 1;
    while (*a || *b) {
        size_t la = strcspn(a, ",\n"), lb = strcspn(b, ",\n");
        char *ea, *eb;
        double x = strtod(a, &ea), y = strtod(b, &eb);
        bool numbers = la > 0 && lb > 0 && ea == a + la && eb == b + lb;
        bool same = numbers ? (x == y || fabs(x - y) <= 1e-14 * fmax(fabs(x), fabs(y)))
                            : la == lb && !memcmp(a, b, la);
        if (!same || a[la] != b[lb]) {
            snprintf(where, where_len, "line %d: '%.*s' vs '%.*s'", line, (int)la, a, (int)lb, b);
            return false;
        }
        line += a[la] == '\n';
        a += la + (a[la] != 0);
        b += lb + (b[lb] != 0);
    }
    return true;
}

static int render_dir(const char *dir, int *n_files) {
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    struct dirent *e;
    int n_docs = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) || !S_ISDIR(st.st_mode)) continue;
        n_docs += render_dir(path, n_files);
    }
    closedir(d);
    char json[4096], md[4096], csv[4096];
    snprintf(json, sizeof json, "%s/results.json", dir);
    snprintf(md, sizeof md, "%s/report.md", dir);
    snprintf(csv, sizeof csv, "%s/results.csv", dir);
    struct stat st;
    if (stat(json, &st)) return n_docs;
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(json, &doc, &err), 0, "%s", err.msg);
    const char *want_path[2] = {md, csv};
    char *got[2] = {is_results_to_md(doc), is_results_to_csv(doc)};
    for (int k = 0; k < 2; k++) {
        size_t len;
        char *want = tu_read_file(want_path[k], &len);
        if (!want) continue;
        char where[512] = "";
        if (k == 0) cr_assert_str_eq(got[k], want, "%s renders differently from the committed file", want_path[k]);
        else cr_assert(csv_same(got[k], want, where, sizeof where), "%s: %s", want_path[k], where);
        (*n_files)++;
        free(want);
    }
    free(got[0]);
    free(got[1]);
    cJSON_Delete(doc);
    return n_docs + 1;
}

Test(results, committed_result_files_render_as_committed) {
    int n_files = 0;
    int n_docs = render_dir(IS_TEST_RESULTS_DIR, &n_files);
    cr_assert_geq(n_docs, 3, "result documents found under %s: %d", IS_TEST_RESULTS_DIR, n_docs);
    cr_assert_geq(n_files, 2 * n_docs, "each document has its report.md and results.csv: %d of %d", n_files,
                  2 * n_docs);
}
