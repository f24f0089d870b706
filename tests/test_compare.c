// test_compare.c — compare on synthetic result documents: the verdict rule, point
// matching, and `inferscope compare` (is_compare_main) on files: its table, its
// messages and its exit status.
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"         // defines: is_compare_main
#include "base/rng.h"       // defines: is_rng_normal, is_rng_stream
#include "reports/compare.h"  // defines: is_compare, is_compare_verdict, is_compare_to_md
#include "reports/results.h"  // defines: is_results_new, is_results_point_finish, is_results_to_json
#include "support/testutil.h" // defines: tu_kernel_point

// ---- synthetic documents -------------------------------------------------------------

typedef struct synth {
    const char *model;
    uint64_t seed;    // of the noise
    double noise;     // relative spread of every sample (lognormal sigma)
    int reps;         // per-repetition samples; per-request ones: reps * batch
    const int *batches;
    int n_batches;
} synth;

static const int batches_default[] = {1, 8, 32};

// The true value of a metric at a batch size: times grow with the batch, token
// rates too (summed over the batch).
static double true_value(const is_metric_def *m, int batch) {
    double base = strcmp(m->name, "ttft_ms") == 0  ? 20.0
                  : strcmp(m->name, "tpot_ms") == 0 ? 8.0
                  : strcmp(m->name, "itl_ms") == 0  ? 8.0
                  : strcmp(m->name, "e2e_ms") == 0  ? 300.0
                  : strcmp(m->name, "prefill_ms") == 0 ? 15.0
                  : strcmp(m->name, "decode_ms") == 0  ? 250.0
                  : strcmp(m->name, "prefill_tps") == 0 ? 8000.0
                                                       : 120.0;
    return m->higher_is_better ? base * batch / (1 + 0.05 * batch) : base * (1 + 0.05 * batch);
}

static cJSON *synth_doc(const synth *s) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", s->model);
    cJSON *doc = is_results_new(NULL, sweep, NULL);
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    for (int b = 0; b < s->n_batches; b++) {
        int batch = s->batches[b];
        cJSON *p = cJSON_CreateObject();
        cJSON *c = cJSON_AddObjectToObject(p, "config");
        cJSON_AddStringToObject(c, "model", s->model);
        cJSON_AddStringToObject(c, "backend", "cpu");
        cJSON_AddStringToObject(c, "dtype", "f32");
        cJSON_AddNumberToObject(c, "threads", 4);
        cJSON_AddNumberToObject(c, "batch", batch);
        cJSON_AddNumberToObject(c, "prompt", 64);
        cJSON_AddNumberToObject(c, "gen", 16);
        cJSON_AddNumberToObject(c, "depth", 0);
        cJSON_AddStringToObject(c, "strategy", "greedy");
        cJSON_AddStringToObject(c, "kernel", "default");
        cJSON_AddStringToObject(p, "status", "ok");
        cJSON_AddNumberToObject(p, "reps", s->reps);
        cJSON *samples = cJSON_AddObjectToObject(p, "samples");
        for (int m = 0; m < is_metric_n_defs; m++) {
            const is_metric_def *md = &is_metric_defs[m];
            int n = md->per_request ? s->reps * batch : s->reps;
            double v = true_value(md, batch);
            uint64_t stream = is_rng_stream(md->name) ^ (uint64_t)batch;
            cJSON *arr = cJSON_AddArrayToObject(samples, md->name);
            for (int i = 0; i < n; i++)
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(v * exp(s->noise * is_rng_normal(s->seed, stream, i))));
        }
        is_results_point_finish(p, 1);
        cJSON_AddItemToArray(points, p);
    }
    return doc;
}

static cJSON *synth_default(const char *model, uint64_t seed, double noise) {
    synth s = {model, seed, noise, 10, batches_default, 3};
    return synth_doc(&s);
}

// Timings times f (ms metrics * f, tok/s / f): f > 1 is slower.
static void scale_doc(cJSON *doc, double f) {
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "points")) {
        cJSON *arr;
        cJSON_ArrayForEach(arr, cJSON_GetObjectItem(p, "samples")) {
            const is_metric_def *m = is_metric_find(arr->string);
            cr_assert_not_null(m);
            cJSON *v;
            cJSON_ArrayForEach(v, arr) cJSON_SetNumberValue(v, m->higher_is_better ? v->valuedouble / f : v->valuedouble * f);
        }
        is_results_point_finish(p, 1);
    }
}

static const is_compare_opts opts_default = {.metric = "decode_tps", .threshold = 0.05, .seed = 1234};

// is_compare that must succeed.
static is_compare_row *compare_ok(const cJSON *base, const cJSON *nw, const is_compare_opts *o, int *n) {
    is_compare_row *rows = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_compare(base, nw, o, &rows, n, &err), 0, "%s", err.msg);
    return rows;
}

// ---- files and the command --------------------------------------------------------------

typedef struct tdir {
    char path[256];
} tdir;

static tdir tdir_new(void) {
    tdir d;
    snprintf(d.path, sizeof d.path, "/tmp/inferscope-test-compare-XXXXXX");
    cr_assert_not_null(mkdtemp(d.path));
    return d;
}

static void tdir_free(tdir *d) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
    cr_assert_eq(system(cmd), 0);
}

// Writes doc as dir/name; returns the path (static storage, one per slot).
static const char *put_doc(const tdir *d, const char *name, const cJSON *doc, int slot) {
    static char paths[4][400];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", d->path, name);
    char *text = is_results_to_json(doc);
    FILE *f = fopen(paths[slot], "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    return paths[slot];
}

typedef struct run_out {
    int status;
    char *out, *err;
} run_out;

static char *slurp(FILE *f) {
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

// Runs is_compare_main(argc, argv) with stdout and stderr captured.
static run_out run_main(const char *const *args) {
    int argc = 0;
    while (args[argc]) argc++;
    FILE *fo = tmpfile(), *fe = tmpfile();
    cr_assert(fo && fe);
    fflush(stdout);
    fflush(stderr);
    int save_out = dup(1), save_err = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    run_out r;
    r.status = is_compare_main(argc, (char **)args);
    fflush(stdout);
    fflush(stderr);
    dup2(save_out, 1);
    dup2(save_err, 2);
    close(save_out);
    close(save_err);
    fseek(fo, 0, SEEK_END);
    fseek(fe, 0, SEEK_END);
    r.out = slurp(fo);
    r.err = slurp(fe);
    return r;
}

static void run_free(run_out *r) {
    free(r->out);
    free(r->err);
}

// Runs compare on two documents written to a temporary directory, with extra
// arguments (NULL-terminated, at most 4).
static run_out run_docs(const cJSON *base, const cJSON *nw, const char *a1, const char *a2) {
    tdir d = tdir_new();
    const char *pb = put_doc(&d, "base.json", base, 0), *pn = put_doc(&d, "new.json", nw, 1);
    const char *args[] = {pb, pn, a1, a2, NULL};
    run_out r = run_main(args);
    tdir_free(&d);
    return r;
}

// Occurrences of what in s, where s has its runs of spaces read as one (table
// cells are padded to their column's width).
static int count_str(const char *s, const char *what) {
    char *t = malloc(strlen(s) + 1), *o = t;
    for (const char *c = s; *c; c++)
        if (!(*c == ' ' && o > t && o[-1] == ' ')) *o++ = *c;
    *o = 0;
    int n = 0;
    for (const char *p = t; (p = strstr(p, what)) != NULL; p += strlen(what)) n++;
    free(t);
    return n;
}

// ---- the verdict ----------------------------------------------------------------------

Test(compare, verdict_truth_table) {
    const double t = 0.05;
    // within the threshold: same, whatever the interval
    cr_assert_eq(is_compare_verdict(1.00, 0.99, 1.01, t, true), IS_VERDICT_SAME);
    cr_assert_eq(is_compare_verdict(1.04, 1.03, 1.05, t, true), IS_VERDICT_SAME);
    cr_assert_eq(is_compare_verdict(0.96, 0.50, 1.50, t, false), IS_VERDICT_SAME);
    cr_assert_eq(is_compare_verdict(1.0499, 1.04, 1.06, t, true), IS_VERDICT_SAME); // just inside
    cr_assert_eq(is_compare_verdict(1.0501, 1.04, 1.06, t, true), IS_VERDICT_FASTER); // just past
    // past it, interval excluding 1: direction by metric
    cr_assert_eq(is_compare_verdict(1.20, 1.10, 1.30, t, true), IS_VERDICT_FASTER);
    cr_assert_eq(is_compare_verdict(1.20, 1.10, 1.30, t, false), IS_VERDICT_SLOWER);
    cr_assert_eq(is_compare_verdict(0.80, 0.70, 0.90, t, true), IS_VERDICT_SLOWER);
    cr_assert_eq(is_compare_verdict(0.80, 0.70, 0.90, t, false), IS_VERDICT_FASTER);
    // past it, interval holding 1: unclear
    cr_assert_eq(is_compare_verdict(1.20, 0.90, 1.50, t, true), IS_VERDICT_UNCLEAR);
    cr_assert_eq(is_compare_verdict(0.80, 0.60, 1.00, t, false), IS_VERDICT_UNCLEAR);
    cr_assert_eq(is_compare_verdict(1.20, 1.00, 1.30, t, true), IS_VERDICT_UNCLEAR); // lo == 1
    // an interval wholly on the other side of 1 from the ratio says nothing
    cr_assert_eq(is_compare_verdict(1.20, 0.80, 0.90, t, true), IS_VERDICT_UNCLEAR);
    // no ratio
    cr_assert_eq(is_compare_verdict(NAN, NAN, NAN, t, true), IS_VERDICT_NONE);
    // a bigger threshold swallows the change
    cr_assert_eq(is_compare_verdict(1.20, 1.10, 1.30, 0.25, false), IS_VERDICT_SAME);

    cr_assert_str_eq(is_verdict_name(IS_VERDICT_SAME), "same");
    cr_assert_str_eq(is_verdict_name(IS_VERDICT_FASTER), "faster");
    cr_assert_str_eq(is_verdict_name(IS_VERDICT_SLOWER), "slower");
    cr_assert_str_eq(is_verdict_name(IS_VERDICT_UNCLEAR), "unclear");
    cr_assert_str_eq(is_verdict_name(IS_VERDICT_NONE), "-");
}

// ---- is_compare on documents --------------------------------------------------------------

Test(compare, identical_documents_same) {
    cJSON *base = synth_default("preset:tiny", 11, 0.02);
    cJSON *nw = cJSON_Duplicate(base, true);
    for (int m = 0; m < is_metric_n_defs; m++) {
        is_compare_opts o = opts_default;
        o.metric = is_metric_defs[m].name;
        int n;
        is_compare_row *rows = compare_ok(base, nw, &o, &n);
        cr_assert_eq(n, 3);
        for (int r = 0; r < n; r++) {
            cr_assert_eq(rows[r].verdict, IS_VERDICT_SAME, "%s row %d: %s", o.metric, r,
                         is_verdict_name(rows[r].verdict));
            cr_assert_eq(rows[r].ratio, 1.0);
            cr_assert(rows[r].in_base && rows[r].in_new);
            cr_assert(rows[r].ci_lo <= 1 && rows[r].ci_hi >= 1);
            cr_assert_eq(rows[r].base_median, rows[r].new_median);
        }
        free(rows);
    }
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// Two runs of one build (independent noise, 2% spread) compare as "same".
Test(compare, two_runs_of_one_build_same) {
    cJSON *base = synth_default("preset:tiny", 21, 0.02), *nw = synth_default("preset:tiny", 22, 0.02);
    for (int m = 0; m < is_metric_n_defs; m++) {
        is_compare_opts o = opts_default;
        o.metric = is_metric_defs[m].name;
        int n;
        is_compare_row *rows = compare_ok(base, nw, &o, &n);
        for (int r = 0; r < n; r++)
            cr_assert_eq(rows[r].verdict, IS_VERDICT_SAME, "%s row %d: ratio %.4f [%.4f, %.4f]", o.metric, r,
                         rows[r].ratio, rows[r].ci_lo, rows[r].ci_hi);
        free(rows);
    }
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

Test(compare, slower_and_faster) {
    cJSON *base = synth_default("preset:tiny", 31, 0.02);
    cJSON *slow = cJSON_Duplicate(base, true), *fast = cJSON_Duplicate(base, true);
    scale_doc(slow, 1.2);
    scale_doc(fast, 1 / 1.2);
    for (int m = 0; m < is_metric_n_defs; m++) {
        is_compare_opts o = opts_default;
        o.metric = is_metric_defs[m].name;
        int n;
        is_compare_row *rows = compare_ok(base, slow, &o, &n);
        double want = is_metric_defs[m].higher_is_better ? 1 / 1.2 : 1.2;
        for (int r = 0; r < n; r++) {
            cr_assert_eq(rows[r].verdict, IS_VERDICT_SLOWER, "%s row %d", o.metric, r);
            cr_assert_float_eq(rows[r].ratio, want, 1e-12);
            cr_assert(rows[r].ci_lo <= rows[r].ratio && rows[r].ratio <= rows[r].ci_hi);
        }
        free(rows);
        rows = compare_ok(base, fast, &o, &n);
        for (int r = 0; r < n; r++) cr_assert_eq(rows[r].verdict, IS_VERDICT_FASTER, "%s row %d", o.metric, r);
        free(rows);
    }
    cJSON_Delete(base);
    cJSON_Delete(slow);
    cJSON_Delete(fast);
}

// A large change under huge noise (lognormal sigma 0.6, 5 repetitions): the
// interval of the ratio holds 1, so the verdict is "unclear", not "slower".
Test(compare, noisy_change_unclear) {
    static const int one[] = {1};
    synth s = {"preset:tiny", 41, 0.6, 5, one, 1};
    cJSON *base = synth_doc(&s);
    s.seed = 42;
    cJSON *nw = synth_doc(&s);
    scale_doc(nw, 1.3);
    int n;
    is_compare_row *rows = compare_ok(base, nw, &opts_default, &n);
    cr_assert_eq(n, 1);
    cr_assert(fabs(rows[0].ratio - 1) > 0.05, "ratio %.3f is within the threshold: pick other seeds", rows[0].ratio);
    cr_assert_eq(rows[0].verdict, IS_VERDICT_UNCLEAR, "ratio %.3f [%.3f, %.3f]: %s", rows[0].ratio, rows[0].ci_lo,
                 rows[0].ci_hi, is_verdict_name(rows[0].verdict));
    cr_assert(rows[0].ci_lo < 1 && rows[0].ci_hi > 1);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

Test(compare, points_in_one_file_only) {
    static const int bb[] = {1, 8, 32}, nb[] = {8, 64, 32};
    synth s = {"preset:tiny", 51, 0.01, 5, bb, 3};
    cJSON *base = synth_doc(&s);
    s.batches = nb;
    cJSON *nw = synth_doc(&s);
    int n;
    is_compare_row *rows = compare_ok(base, nw, &opts_default, &n);
    cr_assert_eq(n, 4);
    // base order first, then what is only in NEW
    static const int want_batch[] = {1, 8, 32, 64};
    for (int r = 0; r < 4; r++) {
        const cJSON *b = cJSON_GetObjectItem(rows[r].config, "batch");
        cr_assert_eq(b->valuedouble, want_batch[r], "row %d", r);
    }
    cr_assert(rows[0].in_base && !rows[0].in_new);
    cr_assert_str_eq(rows[0].note, "only in BASE");
    cr_assert_eq(rows[0].verdict, IS_VERDICT_NONE);
    cr_assert(isnan(rows[0].ratio));
    cr_assert(!rows[3].in_base && rows[3].in_new);
    cr_assert_str_eq(rows[3].note, "only in NEW");
    cr_assert_eq(rows[3].verdict, IS_VERDICT_NONE);
    cr_assert_eq(rows[1].verdict, IS_VERDICT_SAME);
    cr_assert_eq(rows[2].verdict, IS_VERDICT_SAME);
    cr_assert_str_eq(rows[1].key, "model=preset:tiny;backend=cpu;dtype=f32;threads=4;batch=8;prompt=64;gen=16;"
                                  "depth=0;strategy=greedy;kernel=default");
    char *md = is_compare_to_md(rows, n, &opts_default);
    cr_assert_not_null(strstr(md, "only in BASE"), "%s", md);
    cr_assert_not_null(strstr(md, "only in NEW"));
    cr_assert_not_null(strstr(md, "4 points: 0 faster, 0 slower, 2 same, 0 unclear, 2 not compared"), "%s", md);
    free(md);
    free(rows);

    // through the command: listed, and exit 0 (some points match)
    run_out r = run_docs(base, nw, NULL, NULL);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_eq(count_str(r.out, "only in"), 2, "%s", r.out);
    run_free(&r);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

Test(compare, failed_points_and_zero_median) {
    cJSON *base = synth_default("preset:tiny", 61, 0.01), *nw = cJSON_Duplicate(base, true);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(nw, "points"), 1);
    cJSON_ReplaceItemInObject(p, "status", cJSON_CreateString("error"));
    cJSON_AddStringToObject(p, "error", "batch does not fit");
    cJSON_DeleteItemFromObject(p, "samples");
    cJSON_DeleteItemFromObject(p, "stats");
    // a base median of 0 has no ratio
    cJSON *zero = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(base, "points"), 2),
                                                          "samples"),
                                      "decode_tps");
    cJSON *v;
    cJSON_ArrayForEach(v, zero) cJSON_SetNumberValue(v, 0);
    int n;
    is_compare_row *rows = compare_ok(base, nw, &opts_default, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(rows[0].verdict, IS_VERDICT_SAME);
    cr_assert_eq(rows[1].verdict, IS_VERDICT_NONE);
    cr_assert(rows[1].in_base && rows[1].in_new);
    cr_assert_str_eq(rows[1].note, "failed in NEW: batch does not fit");
    cr_assert_eq(rows[2].verdict, IS_VERDICT_NONE);
    cr_assert_eq(rows[2].base_median, 0);
    cr_assert_not_null(strstr(rows[2].note, "median of BASE is 0"), "%s", rows[2].note);
    free(rows);
    // the other way round
    rows = compare_ok(nw, nw, &opts_default, &n);
    cr_assert_str_eq(rows[1].note, "failed in both: batch does not fit");
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

Test(compare, errors) {
    cJSON *a = synth_default("preset:a", 71, 0.01), *b = synth_default("preset:b", 71, 0.01);
    is_compare_row *rows = NULL;
    int n = -1;
    is_err err = {{0}};
    cr_assert_eq(is_compare(a, b, &opts_default, &rows, &n, &err), -1);
    cr_assert_not_null(strstr(err.msg, "BASE measures preset:a, NEW measures preset:b"), "%s", err.msg);
    cr_assert_null(rows);
    cr_assert_eq(n, 0);

    is_compare_opts o = opts_default;
    o.metric = "tokens_per_s";
    cr_assert_eq(is_compare(a, a, &o, &rows, &n, &err), -1);
    cr_assert_not_null(strstr(err.msg, "tokens_per_s"), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "decode_tps"), "known metrics listed: %s", err.msg);

    o = opts_default;
    o.threshold = 0;
    cr_assert_eq(is_compare(a, a, &o, &rows, &n, &err), -1);

    cJSON *bad = cJSON_Duplicate(a, true);
    cJSON_ReplaceItemInObject(bad, "schema_version", cJSON_CreateNumber(2));
    cr_assert_eq(is_compare(a, bad, &opts_default, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "NEW: schema_version 2, this build reads 1");

    // NULL metric: decode_tps
    o = opts_default;
    o.metric = NULL;
    rows = compare_ok(a, a, &o, &n);
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "decode_tps"), "%s", md);
    free(md);
    free(rows);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(bad);
}

Test(compare, markdown_table) {
    cJSON *base = synth_default("preset:tiny", 81, 0.01), *nw = cJSON_Duplicate(base, true);
    scale_doc(nw, 1.2);
    is_compare_opts o = {.metric = "ttft_ms", .threshold = 0.05, .seed = 9};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    char *md = is_compare_to_md(rows, n, &o);
    // the title names the metric, its direction and the threshold
    cr_assert_not_null(strstr(md, "ttft_ms"), "%s", md);
    cr_assert_not_null(strstr(md, "lower is better"), "%s", md);
    cr_assert_not_null(strstr(md, "5%"), "%s", md);
    // only the configuration column that differs (batch), then the comparison
    cr_assert_eq(count_str(md, "| batch | BASE ms | NEW ms | ratio | 95% CI | change | verdict | note |\n"), 1,
                 "%s", md);
    cr_assert_eq(count_str(md, "| model "), 0, "a column that does not differ is shown:\n%s", md);
    cr_assert_eq(count_str(md, "| slower |"), 3, "%s", md);
    cr_assert_eq(count_str(md, " 1.200 |"), 3, "%s", md);
    cr_assert_not_null(strstr(md, "+20.0%"), "%s", md);
    cr_assert_not_null(strstr(md, "3 points: 0 faster, 3 slower, 0 same, 0 unclear, 0 not compared"), "%s", md);
    free(md);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// The GEMM each run used is named under the title; different GEMMs are flagged
// (a library's CPU table can change prefill speed several times over).
static void set_gemm(cJSON *doc, const char *impl, const char *blas) {
    cJSON *env = cJSON_GetObjectItem(doc, "env");
    if (!env) env = cJSON_AddObjectToObject(doc, "env");
    cJSON *g = cJSON_AddObjectToObject(env, "gemm");
    cJSON_AddStringToObject(g, "impl", impl);
    cJSON_AddStringToObject(g, "unit", "fma_f32_avx2");
    cJSON_AddStringToObject(g, "chosen_by", "matmul=blas");
    if (blas) cJSON_AddStringToObject(g, "blas", blas);
}

Test(compare, markdown_names_each_runs_gemm) {
    cJSON *base = synth_default("preset:tiny", 82, 0.01), *nw = cJSON_Duplicate(base, true);
    char gb[512], gn[512];
    cr_assert(!is_results_env_gemm(cJSON_GetObjectItem(base, "env"), gb, sizeof gb),
              "a document without env.gemm records none");
    cr_assert_str_eq(gb, "");
    set_gemm(base, "OpenBLAS sgemm", "OpenBLAS core Zen");
    set_gemm(nw, "OpenBLAS sgemm", "OpenBLAS core Prescott");
    cr_assert(is_results_env_gemm(cJSON_GetObjectItem(base, "env"), gb, sizeof gb) &&
              is_results_env_gemm(cJSON_GetObjectItem(nw, "env"), gn, sizeof gn));
    cr_assert_str_eq(gb, "OpenBLAS sgemm; chosen by matmul=blas; BLAS: OpenBLAS core Zen");
    char *report = is_results_to_md(base); // report.md names it in the same words
    cr_assert(strstr(report, "- GEMM: OpenBLAS sgemm; chosen by matmul=blas; BLAS: OpenBLAS core Zen\n"), "%s", report);
    free(report);
    is_compare_opts o = {.metric = "decode_tps", .threshold = 0.05, .seed = 9, .base_gemm = gb, .new_gemm = gn};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert(strstr(md, "GEMM of BASE: OpenBLAS sgemm; chosen by matmul=blas; BLAS: OpenBLAS core Zen\n"
                         "GEMM of NEW: OpenBLAS sgemm; chosen by matmul=blas; BLAS: OpenBLAS core Prescott\n"), "%s", md);
    cr_assert(strstr(md, "**The two runs used different GEMMs**"), "%s", md);
    free(md);
    o.new_gemm = gb; // the same GEMM: one line, no warning
    md = is_compare_to_md(rows, n, &o);
    cr_assert(strstr(md, "GEMM (both runs): OpenBLAS sgemm"), "%s", md);
    cr_assert_null(strstr(md, "different GEMMs"), "%s", md);
    free(md);
    o.base_gemm = o.new_gemm = NULL; // not recorded: no line
    md = is_compare_to_md(rows, n, &o);
    cr_assert_null(strstr(md, "GEMM"), "%s", md);
    free(md);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// ---- the command ------------------------------------------------------------------------

Test(compare, main_identical_exit_0) {
    cJSON *base = synth_default("preset:tiny", 91, 0.02);
    run_out r = run_docs(base, base, NULL, NULL);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert_str_eq(r.err, "");
    cr_assert_eq(count_str(r.out, "| same |"), 3, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "decode_tps"));
    run_free(&r);
    // same files, same output
    run_out r2 = run_docs(base, base, NULL, NULL);
    r = run_docs(base, base, NULL, NULL);
    cr_assert_str_eq(r.out, r2.out);
    run_free(&r);
    run_free(&r2);
    cJSON_Delete(base);
}

Test(compare, main_slower_exit_1_faster_exit_0) {
    cJSON *base = synth_default("preset:tiny", 101, 0.02);
    cJSON *slow = cJSON_Duplicate(base, true), *fast = cJSON_Duplicate(base, true);
    scale_doc(slow, 1.2);
    scale_doc(fast, 1 / 1.2);
    run_out r = run_docs(base, slow, NULL, NULL);
    cr_assert_eq(r.status, 1, "stdout: %s\nstderr: %s", r.out, r.err);
    cr_assert_eq(count_str(r.out, "| slower |"), 3, "%s", r.out);
    run_free(&r);
    r = run_docs(base, slow, "--metric", "ttft_ms");
    cr_assert_eq(r.status, 1, "%s", r.out);
    run_free(&r);
    // a threshold above the change: same
    r = run_docs(base, slow, "--threshold", "25");
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert_eq(count_str(r.out, "| same |"), 3, "%s", r.out);
    run_free(&r);
    r = run_docs(base, fast, NULL, NULL);
    cr_assert_eq(r.status, 0, "stdout: %s\nstderr: %s", r.out, r.err);
    cr_assert_eq(count_str(r.out, "| faster |"), 3, "%s", r.out);
    run_free(&r);
    // a small real change with a small threshold: slower at 1%, same at the default 5%
    cJSON *slightly = cJSON_Duplicate(base, true);
    scale_doc(slightly, 1.03);
    r = run_docs(base, slightly, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.out);
    run_free(&r);
    r = run_docs(base, slightly, "--threshold", "1");
    cr_assert_eq(r.status, 1, "%s", r.out);
    run_free(&r);
    cJSON_Delete(base);
    cJSON_Delete(slow);
    cJSON_Delete(fast);
    cJSON_Delete(slightly);
}

Test(compare, main_no_match_exit_2) {
    static const int one[] = {1}, two[] = {2};
    synth s = {"preset:tiny", 111, 0.01, 5, one, 1};
    cJSON *base = synth_doc(&s);
    s.batches = two;
    cJSON *nw = synth_doc(&s);
    run_out r = run_docs(base, nw, NULL, NULL);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "inferscope compare: no point of NEW matches a point of BASE"), "%s", r.err);
    cr_assert_eq(count_str(r.out, "only in"), 2, "rows not listed: %s", r.out);
    run_free(&r);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

Test(compare, main_bad_input_exit_2) {
    cJSON *a = synth_default("preset:a", 121, 0.01), *b = synth_default("preset:b", 121, 0.01);
    run_out r = run_docs(a, b, NULL, NULL);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "inferscope compare: BASE measures preset:a, NEW measures preset:b"), "%s",
                       r.err);
    cr_assert_str_eq(r.out, "");
    run_free(&r);

    r = run_docs(a, a, "--metric", "speed");
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "inferscope compare: --metric speed: unknown metric"), "%s", r.err);
    run_free(&r);

    cJSON *v2 = cJSON_Duplicate(a, true);
    cJSON_ReplaceItemInObject(v2, "schema_version", cJSON_CreateNumber(2));
    tdir d = tdir_new();
    const char *pa = put_doc(&d, "a.json", a, 0), *pv2 = put_doc(&d, "v2.json", v2, 1);
    r = run_main((const char *[]){pa, pv2, NULL});
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "v2.json: schema_version 2, this build reads 1"), "%s", r.err);
    run_free(&r);

    char missing[400], broken[400];
    snprintf(missing, sizeof missing, "%s/missing.json", d.path);
    r = run_main((const char *[]){pa, missing, NULL});
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "inferscope compare: "), "%s", r.err);
    cr_assert_not_null(strstr(r.err, missing), "%s", r.err);
    run_free(&r);

    snprintf(broken, sizeof broken, "%s/broken.json", d.path);
    FILE *f = fopen(broken, "w");
    fputs("{\"schema\": ", f);
    fclose(f);
    r = run_main((const char *[]){broken, pa, NULL});
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "broken.json: not JSON (error near byte"), "%s", r.err);
    run_free(&r);

    // usage errors
    const char *const *bad[] = {
        (const char *[]){NULL},
        (const char *[]){pa, NULL},
        (const char *[]){pa, pa, pa, NULL},
        (const char *[]){pa, pa, "--threshold", "0", NULL},
        (const char *[]){pa, pa, "--threshold", "100", NULL},
        (const char *[]){pa, pa, "--threshold", "-5", NULL},
        (const char *[]){pa, pa, "--threshold", "five", NULL},
        (const char *[]){pa, pa, "--threshold", NULL},
        (const char *[]){pa, pa, "--metric", NULL},
        (const char *[]){pa, pa, "--verbose", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = run_main(bad[i]);
        cr_assert_eq(r.status, 2, "case %zu: status %d", i, r.status);
        cr_assert_eq(strncmp(r.err, "inferscope compare: ", 20), 0, "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "", "case %zu", i);
        run_free(&r);
    }
    // a percent sign is accepted; --help prints the usage and exits 0
    r = run_main((const char *[]){pa, pa, "--threshold", "2.5%", NULL});
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "2.5%"), "%s", r.out);
    run_free(&r);
    r = run_main((const char *[]){"--help", NULL});
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "usage: inferscope compare"), "%s", r.out);
    run_free(&r);

    tdir_free(&d);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(v2);
}

// ---- kernels documents ---------------------------------------------------------------------

// A kernels document: one matmul point per variant, time samples t, t + 1, t + 2 (times scale).
static cJSON *kernels_doc(double scale) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(NULL, sweep, NULL);
    cJSON_AddStringToObject(doc, "kind", "kernels");
    static const char *const variants[] = {"gemv", "gemm"};
    for (int v = 0; v < 2; v++) {
        double t[12];
        for (int i = 0; i < 12; i++) t[i] = (100.0 * (v + 1) + 0.1 * (i % 3)) * scale;
        cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), tu_kernel_point("lm_head", "m=512,k=64", 1, variants[v], t, 12));
    }
    return doc;
}

Test(compare, kernels_documents) {
    cJSON *base = kernels_doc(1.0), *slow = kernels_doc(1.5), *bench = synth_default("preset:tiny", 91, 0.01);
    // default metric: time_us, lower is better; 1.5x the time is slower
    is_compare_opts o = {.metric = NULL, .threshold = 0.05, .seed = 1234};
    int n = 0;
    is_compare_row *rows = compare_ok(base, slow, &o, &n);
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(rows[i].verdict, IS_VERDICT_SLOWER, "%s", rows[i].key);
        cr_assert(fabs(rows[i].ratio - 1.5) < 1e-9, "%g", rows[i].ratio);
    }
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "Comparing time_us (us, lower is better)"), "%s", md);
    cr_assert_not_null(strstr(md, "variant"), "the column that differs: %s", md);
    cr_assert_not_null(strstr(md, "gemm"), "%s", md);
    free(md);
    free(rows);
    rows = compare_ok(base, base, &o, &n);
    for (int i = 0; i < n; i++) cr_assert_eq(rows[i].verdict, IS_VERDICT_SAME);
    free(rows);
    // a kernels file against a bench file: refused
    is_err err = {{0}};
    o.metric = NULL;
    cr_assert_eq(is_compare(base, bench, &o, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "BASE is a kernels result, NEW a bench result: only results of the same command compare");
    cJSON_Delete(base);
    cJSON_Delete(slow);
    cJSON_Delete(bench);
}

// The committed comparison of two CPU kernels runs (bench/results/2026-12-02-cpu)
// comes out of compare as it was written, after its first line (the command that
// made it): the same table, the same verdicts, the same exit status.
Test(compare_cli, committed_comparison_renders_as_committed) {
    const char *dir = IS_TEST_RESULTS_DIR "/2026-12-02-cpu";
    char a[512], b[512], md[512];
    snprintf(a, sizeof a, "%s/kernels-tinyllama-1/results.json", dir);
    snprintf(b, sizeof b, "%s/kernels-tinyllama-2/results.json", dir);
    snprintf(md, sizeof md, "%s/kernels-tinyllama-compare.md", dir);
    size_t len;
    char *want = tu_read_file(md, &len);
    cr_assert_not_null(want, "%s", md);
    const char *body = strchr(want, '\n');
    cr_assert_not_null(body);
    cr_assert(strstr(want, "(exit 1: points judged slower)"), "the committed header says exit 1: %.200s", want);
    const char *args[] = {a, b, NULL};
    run_out r = run_main(args);
    cr_assert_eq(r.status, 1, "stderr: %s", r.err);
    cr_assert_str_eq(r.out, body + 1);
    run_free(&r);
    free(want);
}
