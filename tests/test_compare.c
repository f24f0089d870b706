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
#include "base/stats.h"        // defines: IS_SIGNED_RANK_MAX_N
#include "reports/compare.h"  // defines: is_compare, is_compare_verdict, is_compare_to_md
#include "reports/merge.h"    // defines: is_results_runs
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
    bool raw;         // samples only, no "stats" (optional in the schema; is_results_point_finish's
                      // bootstrap is what costs in the thousands of documents of the paired tests)
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
        if (!s->raw) is_results_point_finish(p, 1);
        cJSON_AddItemToArray(points, p);
    }
    return doc;
}

static cJSON *synth_default(const char *model, uint64_t seed, double noise) {
    synth s = {model, seed, noise, 10, batches_default, 3, false};
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
    synth s = {"preset:tiny", 41, 0.6, 5, one, 1, false};
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
    synth s = {"preset:tiny", 51, 0.01, 5, bb, 3, false};
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
    synth s = {"preset:tiny", 111, 0.01, 5, one, 1, false};
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

// ---- paired statistics on interleaved runs ------------------------------------------------

// A machine whose speed drifts, and two builds run on it interleaved as
// ci/perf-gate --base runs them: IL_ROUNDS rounds, each a run of IL_REPS
// repetitions of BASE and one of NEW, in the order A B, B A, A B, ...; each
// side's runs merged in order (reports/merge.h: "runs", samples run after run).
// speed(t), t in [0, 1) over the job, multiplies every sample of a run. The
// noise is that of a shared 2-vCPU VM running the gate's sweep (one thread):
// each run 3% lognormal of its own, and one run in twenty 15% slow as a whole
// (ci/perf-gate's own measurements saw whole runs shift by 14-17%); within a
// run, a repetition falls into a mode 22% slower one time in three (a neighbour
// on the other hardware thread: decode tok/s at batch 4 in 16 runs of 3
// repetitions of one build was 35-50, in two clusters), with 1.5% noise on top.
typedef double (*drift_fn)(double t);
// A uniform draw in [0, 1), number i of (seed, stream).
static double unit_draw(uint64_t seed, uint64_t stream, uint64_t i) {
    return (double)(is_mix64(is_mix64(seed ^ stream * 0x9e3779b97f4a7c15ULL) ^ i) >> 11) * 0x1p-53;
}
static double drift_none(double t) { (void)t; return 1; }
static double drift_step_early(double t) { return t < 0.3 ? 1 : 0.85; }  // a 15% step, 30% in
static double drift_step_mid(double t) { return t < 0.5 ? 1 : 0.85; }    // ... half-way
static double drift_step_up(double t) { return t < 0.62 ? 0.85 : 1; }    // 15% faster, late
static double drift_ramp(double t) { return 1 - 0.2 * t; }               // 20% slower by the end
static double drift_wobble(double t) { return 1 + 0.08 * sin(6.2831853 * 1.5 * t); } // ±8%, 1.5 cycles
static const drift_fn drifts[] = {drift_none, drift_step_early, drift_step_mid, drift_step_up, drift_ramp, drift_wobble};
static const char *const drift_names[] = {"none", "step 30%", "step 50%", "step up 62%", "ramp", "wobble"};
#define N_DRIFTS ((int)(sizeof drifts / sizeof drifts[0]))
// The noise of a run: a quiet machine (2% per run), and a shared one as above.
typedef struct il_noise {
    const char *name;
    double run_sd, p_slow_run, p_slow_rep;
} il_noise;
static const il_noise il_quiet = {"quiet", 0.02, 0, 0}, il_shared = {"shared", 0.03, 0.05, 1 / 3.0};
static const il_noise *il_model = &il_quiet;
#define IL_ROUNDS 8      // the gate's --min-rounds default... (ci/perf-gate)
#define IL_MAX_ROUNDS 16 // ... and about what its 5-minute budget holds past them
#define IL_REPS 3

// BASE and NEW merged documents of `rounds` rounds of one batch-1 point whose
// decode_tps samples are those of the interleaved schedule above, the drift over
// a job of IL_MAX_ROUNDS rounds; NEW's true decode time is slowdown times BASE's
// (1.10: 10% slower).
static void interleaved_docs_n(uint64_t seed, drift_fn speed, double slowdown, int rounds, cJSON **base,
                               cJSON **nw) {
    static const int one[] = {1};
    synth s = {"preset:tiny", seed, 0.015, rounds * IL_REPS, one, 1, true};
    *base = synth_doc(&s);
    *nw = synth_doc(&s);
    cJSON *doc[2] = {*base, *nw};
    const int total = 2 * IL_MAX_ROUNDS;
    for (int side = 0; side < 2; side++) {
        cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(doc[side], "points"), 0);
        cJSON *arr = cJSON_CreateArray();
        for (int k = 0; k < rounds; k++) {
            int slot = 2 * k + ((k % 2 == 0) ? side : 1 - side); // BASE first in even rounds
            double run = exp(il_model->run_sd * is_rng_normal(seed, 78, (uint64_t)slot));
            if (unit_draw(seed, 79, (uint64_t)slot) < il_model->p_slow_run) run *= 0.85;
            for (int j = 0; j < IL_REPS; j++) {
                uint64_t rep = (uint64_t)(slot * IL_REPS + j);
                double noise = exp(0.015 * is_rng_normal(seed, 77, rep)) *
                               (unit_draw(seed, 80, rep) < il_model->p_slow_rep ? 0.78 : 1);
                double v = 100.0 * speed((slot + 0.5) / total) * run * noise / (side ? slowdown : 1);
                cJSON_AddItemToArray(arr, cJSON_CreateNumber(v));
            }
        }
        cJSON_ReplaceItemInObject(cJSON_GetObjectItem(p, "samples"), "decode_tps", arr);
        cJSON_AddNumberToObject(doc[side], "runs", rounds);
    }
}

static void interleaved_docs(uint64_t seed, drift_fn speed, double slowdown, cJSON **base, cJSON **nw) {
    interleaved_docs_n(seed, speed, slowdown, IL_ROUNDS, base, nw);
}

// The decode_tps verdict of one point, paired or not, at threshold t.
static is_verdict interleaved_verdict(const cJSON *base, const cJSON *nw, bool paired, double t, double *ratio) {
    is_compare_opts o = {.metric = "decode_tps", .threshold = t, .seed = IS_COMPARE_SEED, .paired = paired};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    cr_assert_eq(n, 1);
    is_verdict v = rows[0].verdict;
    if (ratio) *ratio = rows[0].ratio;
    if (paired) cr_assert_eq(rows[0].n_pairs, is_results_runs(base));
    free(rows);
    return v;
}

// The verdict of a gate job as ci/perf-gate takes it: judged after IL_ROUNDS
// rounds and after every round past them while unclear, up to IL_MAX_ROUNDS.
static is_verdict gate_verdict(uint64_t seed, drift_fn speed, double slowdown, double t, double *ratio, int *rounds) {
    is_verdict v = IS_VERDICT_NONE;
    for (int r = IL_ROUNDS; r <= IL_MAX_ROUNDS; r++) {
        cJSON *base, *nw;
        interleaved_docs_n(seed, speed, slowdown, r, &base, &nw);
        v = interleaved_verdict(base, nw, true, t, ratio);
        cJSON_Delete(base);
        cJSON_Delete(nw);
        *rounds = r;
        if (v != IS_VERDICT_UNCLEAR) break;
    }
    return v;
}

#define IL_SEEDS 100

// Over IL_SEEDS jobs for each drift, under noise model `model`: counts[v] of
// the gate's verdicts for a true slowdown at threshold t; and the jobs where the
// unpaired compare of the first IL_ROUNDS rounds said `unpaired_v`.
static void gate_counts(const il_noise *model, double slowdown, double t, int counts[IS_VERDICT_NONE + 1],
                        is_verdict unpaired_v, int *unpaired) {
    il_model = model;
    memset(counts, 0, (IS_VERDICT_NONE + 1) * sizeof *counts);
    *unpaired = 0;
    for (int d = 0; d < N_DRIFTS; d++)
        for (uint64_t seed = 1; seed <= IL_SEEDS; seed++) {
            double ratio;
            int rounds;
            is_verdict v = gate_verdict(seed, drifts[d], slowdown, t, &ratio, &rounds);
            counts[v]++;
            if (v == IS_VERDICT_FASTER || (slowdown == 1.0 && v == IS_VERDICT_SLOWER) ||
                (slowdown > 1 + t && v != IS_VERDICT_SLOWER) || (slowdown < 1 + t && v == IS_VERDICT_SLOWER))
                cr_log_info("%s machine, drift %s, seed %d, %.0f%% slower at threshold %.0f%%: %s (ratio %.3f, "
                            "%d rounds)", model->name, drift_names[d], (int)seed, (slowdown - 1) * 100, t * 100,
                            is_verdict_name(v), ratio, rounds);
            cJSON *base, *nw;
            interleaved_docs(seed, drifts[d], slowdown, &base, &nw);
            *unpaired += interleaved_verdict(base, nw, false, t, NULL) == unpaired_v;
            cJSON_Delete(base);
            cJSON_Delete(nw);
        }
    cr_log_info("%s machine, %.0f%% slower at threshold %.0f%%: same %d, slower %d, faster %d, unclear %d of %d "
                "jobs; unpaired %s %d", model->name, (slowdown - 1) * 100, t * 100, counts[IS_VERDICT_SAME],
                counts[IS_VERDICT_SLOWER], counts[IS_VERDICT_FASTER], counts[IS_VERDICT_UNCLEAR], N_DRIFTS * IL_SEEDS,
                is_verdict_name(unpaired_v), *unpaired);
    il_model = &il_quiet;
}

// On a quiet machine (2% between runs), whatever the drift: two builds alike
// are never "slower" nor "faster"; a planted 10% slowdown is "slower" in every
// job at the gate's threshold of 5%; a 5% one at threshold 10% never. The
// unpaired compare of the same samples misses the 10% in some jobs.
Test(compare_paired, quiet_machine_never_wrong) {
    int c[IS_VERDICT_NONE + 1], unpaired;
    gate_counts(&il_quiet, 1.0, 0.05, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_eq(c[IS_VERDICT_SLOWER] + c[IS_VERDICT_FASTER], 0, "A/A: %d slower, %d faster", c[IS_VERDICT_SLOWER],
                 c[IS_VERDICT_FASTER]);
    gate_counts(&il_quiet, 1.10, 0.05, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_eq(c[IS_VERDICT_SLOWER], N_DRIFTS * IL_SEEDS, "10%%: caught in %d jobs", c[IS_VERDICT_SLOWER]);
    cr_assert_lt(unpaired, N_DRIFTS * IL_SEEDS, "the unpaired compare never missed: the drifts test nothing");
    gate_counts(&il_quiet, 1.05, 0.10, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_eq(c[IS_VERDICT_SLOWER], 0, "5%% at threshold 10%%: slower in %d jobs", c[IS_VERDICT_SLOWER]);
}

// On a shared machine (the noise measured on a 2-vCPU VM, above) the same job
// lengths cannot always tell: the gate then says "unclear" rather than a false
// "slower". Rates over 600 jobs: A/A "slower" or "faster" in at most 1%; a
// 10% slowdown caught in most jobs, and never called "faster"; a 5% slowdown at
// threshold 10% "slower" in at most 3% (a 95% interval misses now and then).
// The unpaired compare of the same runs calls two builds alike "slower" more
// often.
Test(compare_paired, shared_machine_rates) {
    int c[IS_VERDICT_NONE + 1], unpaired;
    const int jobs = N_DRIFTS * IL_SEEDS;
    gate_counts(&il_shared, 1.0, 0.05, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_leq(c[IS_VERDICT_SLOWER] + c[IS_VERDICT_FASTER], jobs / 100, "A/A: %d slower, %d faster",
                  c[IS_VERDICT_SLOWER], c[IS_VERDICT_FASTER]);
    cr_assert_gt(unpaired, c[IS_VERDICT_SLOWER], "the unpaired compare of the same runs said slower in %d jobs, the "
                 "paired one in %d: the noise tests nothing", unpaired, c[IS_VERDICT_SLOWER]);
    gate_counts(&il_shared, 1.10, 0.05, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_geq(c[IS_VERDICT_SLOWER], jobs * 3 / 4, "10%%: caught in %d of %d jobs", c[IS_VERDICT_SLOWER], jobs);
    cr_assert_eq(c[IS_VERDICT_FASTER] + c[IS_VERDICT_SAME], 0, "10%%: %d faster, %d same", c[IS_VERDICT_FASTER],
                 c[IS_VERDICT_SAME]);
    gate_counts(&il_shared, 1.05, 0.10, c, IS_VERDICT_SLOWER, &unpaired);
    cr_assert_leq(c[IS_VERDICT_SLOWER], jobs * 3 / 100, "5%% at threshold 10%%: slower in %d of %d jobs",
                  c[IS_VERDICT_SLOWER], jobs);
}

Test(compare_paired, verdict_rule) {
    const double t = 0.05;
    // "same" needs the whole interval within the threshold
    cr_assert_eq(is_compare_verdict_paired(1.00, 0.97, 1.03, t, true), IS_VERDICT_SAME);
    cr_assert_eq(is_compare_verdict_paired(1.00, 0.95, 1.05, t, true), IS_VERDICT_SAME);
    cr_assert_eq(is_compare_verdict_paired(1.00, 0.94, 1.03, t, true), IS_VERDICT_UNCLEAR);
    cr_assert_eq(is_compare_verdict_paired(1.03, 0.99, 1.07, t, false), IS_VERDICT_UNCLEAR);
    // past the threshold: as the unpaired rule
    cr_assert_eq(is_compare_verdict_paired(0.90, 0.85, 0.95, t, true), IS_VERDICT_SLOWER);
    cr_assert_eq(is_compare_verdict_paired(1.10, 1.05, 1.15, t, false), IS_VERDICT_SLOWER);
    cr_assert_eq(is_compare_verdict_paired(1.10, 1.05, 1.15, t, true), IS_VERDICT_FASTER);
    cr_assert_eq(is_compare_verdict_paired(0.90, 0.80, 1.01, t, true), IS_VERDICT_UNCLEAR);
    // the minimum effect: an interval that excludes 1 but reaches within half the threshold
    cr_assert_eq(is_compare_verdict_paired(0.90, 0.85, 0.98, t, true), IS_VERDICT_UNCLEAR);
    cr_assert_eq(is_compare_verdict_paired(0.90, 0.85, 0.97, t, true), IS_VERDICT_SLOWER);
    cr_assert_eq(is_compare_verdict_paired(1.08, 1.02, 1.12, t, true), IS_VERDICT_UNCLEAR);
    // too few pairs for an interval: never a verdict
    cr_assert_eq(is_compare_verdict_paired(0.50, NAN, NAN, t, true), IS_VERDICT_UNCLEAR);
    cr_assert_eq(is_compare_verdict_paired(NAN, NAN, NAN, t, true), IS_VERDICT_NONE);
}

// The paired ratio is the Hodges-Lehmann estimate of the runs' best ratios: a
// constant factor between the runs gives that factor exactly, with an interval
// of one point.
Test(compare_paired, constant_factor_exact) {
    cJSON *base, *nw;
    interleaved_docs(5, drift_ramp, 1.25, &base, &nw);
    // remove the noise: NEW = BASE / 1.25 sample by sample
    cJSON *pb = cJSON_GetArrayItem(cJSON_GetObjectItem(base, "points"), 0);
    cJSON *pn = cJSON_GetArrayItem(cJSON_GetObjectItem(nw, "points"), 0);
    cJSON *ab = cJSON_GetObjectItem(cJSON_GetObjectItem(pb, "samples"), "decode_tps");
    cJSON *an = cJSON_GetObjectItem(cJSON_GetObjectItem(pn, "samples"), "decode_tps");
    for (int i = 0; i < cJSON_GetArraySize(ab); i++)
        cJSON_SetNumberValue(cJSON_GetArrayItem(an, i), cJSON_GetArrayItem(ab, i)->valuedouble / 1.25);
    is_compare_opts o = {.metric = "decode_tps", .threshold = 0.05, .seed = 1, .paired = true};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    cr_assert_float_eq(rows[0].ratio, 0.8, 1e-12);
    cr_assert_float_eq(rows[0].ci_lo, 0.8, 1e-12);
    cr_assert_float_eq(rows[0].ci_hi, 0.8, 1e-12);
    cr_assert_eq(rows[0].verdict, IS_VERDICT_SLOWER);
    cr_assert_str_eq(rows[0].note, "8 pairs of runs");
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "paired: run k of NEW against run k of BASE"), "%s", md);
    free(md);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// Pairs are runs, not samples: the ratio is that of each pair of runs' best
// repetitions (decode tok/s: the highest).
// Run k of NEW is a factor f_k of run k of BASE; the Hodges-Lehmann estimate of
// the f_k and its signed-rank interval are checked against values worked by hand.
Test(compare_paired, pairs_are_runs) {
    cJSON *base, *nw;
    interleaved_docs(9, drift_none, 1.0, &base, &nw);
    cJSON *ab = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(base, "points"), 0),
                                                        "samples"), "decode_tps");
    cJSON *an = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(nw, "points"), 0),
                                                        "samples"), "decode_tps");
    // log-ratios of the 8 runs: 0, 1, ..., 7 hundredths, each run's 3 samples scaled alike
    for (int i = 0; i < IL_ROUNDS * IL_REPS; i++) {
        double b = 100 + i % IL_REPS; // 100, 101, 102: the best 102 in every run
        cJSON_SetNumberValue(cJSON_GetArrayItem(ab, i), b);
        cJSON_SetNumberValue(cJSON_GetArrayItem(an, i), b * exp(0.01 * (i / IL_REPS)));
    }
    is_compare_opts o = {.metric = "decode_tps", .threshold = 0.05, .seed = 1, .paired = true};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    // Walsh averages of {0..7}/100: 36 values, median 0.035; n = 8 at 95%: c = 4
    // (the table's 3 + 1): the 4th smallest is 0.01 ((0+2)/2 after 0, 0.5, 1 → 0, .005, .01, .01),
    // the 4th largest 0.06
    cr_assert_float_eq(rows[0].ratio, exp(0.035), 1e-12);
    cr_assert_float_eq(rows[0].ci_lo, exp(0.01), 1e-12);
    cr_assert_float_eq(rows[0].ci_hi, exp(0.06), 1e-12);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// Files that are not two sides of interleaved runs are refused, by the API and
// by `compare --paired` (exit 2): different run counts, and samples that do not
// split into the runs; without --paired the same files compare.
Test(compare_paired, not_interleaved_refused) {
    cJSON *base = synth_default("preset:tiny", 61, 0.02); // 10 reps, no "runs": 1 run
    cJSON *nw = synth_default("preset:tiny", 62, 0.02);
    cJSON_AddNumberToObject(nw, "runs", 2);
    is_compare_opts o = {.metric = "decode_tps", .threshold = 0.05, .seed = 1, .paired = true};
    is_compare_row *rows = NULL;
    int n = 0;
    is_err err = {{0}};
    cr_assert_eq(is_compare(base, nw, &o, &rows, &n, &err), -1);
    cr_assert_null(rows);
    cr_assert_str_eq(err.msg, "paired compare: BASE holds 1 run, NEW 2: the two sides of interleaved runs hold as "
                              "many (ci/perf-gate --base merges them)");
    run_out r = run_docs(base, nw, "--paired", NULL);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "BASE holds 1 run, NEW 2"), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    run_free(&r);
    r = run_docs(base, nw, NULL, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    // 3 runs on each side: 10 samples do not split into 3
    cJSON_ReplaceItemInObject(nw, "runs", cJSON_CreateNumber(3));
    cJSON_AddNumberToObject(base, "runs", 3);
    cr_assert_eq(is_compare(base, nw, &o, &rows, &n, &err), -1);
    cr_assert_not_null(strstr(err.msg, "decode_tps samples in BASE and 10 in NEW, which do not split into 3 runs"),
                       "%s", err.msg);
    // more runs than the signed-rank table holds: refused, not asserted
    cJSON_ReplaceItemInObject(nw, "runs", cJSON_CreateNumber(IS_SIGNED_RANK_MAX_N + 1));
    cJSON_ReplaceItemInObject(base, "runs", cJSON_CreateNumber(IS_SIGNED_RANK_MAX_N + 1));
    cr_assert_eq(is_compare(base, nw, &o, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "paired compare: 201 runs; at most 200 pairs of runs are judged");
    // "runs" that is not a count: the file is refused
    static const char *const bad_runs[] = {"0", "2.5", "-1", "\"3\"", "1e7"};
    for (int k = 0; k < 5; k++) {
        cJSON_ReplaceItemInObject(nw, "runs", cJSON_Parse(bad_runs[k]));
        cr_assert_eq(is_compare(base, nw, &o, &rows, &n, &err), -1, "runs %s", bad_runs[k]);
        cr_assert_not_null(strstr(err.msg, "NEW: runs: expected a count of runs from 1 to 1000000"), "%s", err.msg);
    }
    // 5 runs: they split (2 samples a run); 5 pairs are too few for an interval
    cJSON_ReplaceItemInObject(nw, "runs", cJSON_CreateNumber(5));
    cJSON_ReplaceItemInObject(base, "runs", cJSON_CreateNumber(5));
    rows = compare_ok(base, nw, &o, &n);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(rows[i].verdict, IS_VERDICT_UNCLEAR, "%s", rows[i].key);
        cr_assert(isnan(rows[i].ci_lo) && isnan(rows[i].ci_hi));
        cr_assert_str_eq(rows[i].note, "5 pairs of runs: too few for an interval");
    }
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// `compare --paired` on merged files of interleaved runs: the paired title, pairs
// in the note, exit 1 on the planted slowdown and 0 on two runs of one build.
Test(compare_paired, main_paired) {
    cJSON *base, *nw;
    interleaved_docs(3, drift_step_mid, 1.10, &base, &nw);
    run_out r = run_docs(base, nw, "--paired", NULL);
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, ", paired: "), "%s", r.out);
    cr_assert_eq(count_str(r.out, "| slower | 8 pairs of runs |"), 1, "%s", r.out);
    run_free(&r);
    cJSON_Delete(nw);
    cJSON *same;
    interleaved_docs(3, drift_step_mid, 1.0, &nw, &same);
    r = run_docs(nw, same, "--paired", "--threshold");
    cr_assert_eq(r.status, 2, "--threshold without its value: %s", r.err);
    run_free(&r);
    r = run_docs(nw, same, "--paired", NULL);
    cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
    run_free(&r);
    cJSON_Delete(base);
    cJSON_Delete(nw);
    cJSON_Delete(same);
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

// ---- serve documents ------------------------------------------------------------------------

// A serve point's config (reports/schema.h): arrival and rate given, the rest fixed.
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
    cJSON_AddStringToObject(c, "prompt", "64");
    cJSON_AddStringToObject(c, "output", "16");
    cJSON_AddStringToObject(c, "policy", "decode-first");
    cJSON_AddNumberToObject(c, "max_batch_tokens", 512);
    cJSON_AddNumberToObject(c, "max_seqs", 8);
    cJSON_AddNumberToObject(c, "prefill_chunk", 256);
    cJSON_AddNumberToObject(c, "prefix_cache", 0);
    cJSON_AddNumberToObject(c, "batch_invariant", 0);
    return c;
}

#define SV_REPS 6
#define SV_REQUESTS 4

// A serve document of two points, poisson at rate 1 and a burst (rate inf, twice
// the load), SV_REPS repetitions of SV_REQUESTS requests: per-repetition out_tps
// and ttft_p99_ms, per-request ttft_ms, a "serve" section; rates times f and
// latencies divided by f (f < 1: NEW is slower).
static cJSON *serve_doc(double f) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON_AddStringToObject(sweep, "command", "serve-bench");
    cJSON *doc = is_results_new(NULL, sweep, NULL);
    cJSON_AddStringToObject(doc, "kind", "serve");
    for (int k = 0; k < 2; k++) {
        double load = k ? 2 : 1;
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "kind", "serve");
        cJSON_AddItemToObject(p, "config", serve_config(k ? "burst" : "poisson", k ? "inf" : "1"));
        cJSON_AddStringToObject(p, "status", "ok");
        cJSON_AddNumberToObject(p, "reps", SV_REPS);
        cJSON_AddStringToObject(p, "stop", "reps");
        cJSON *samples = cJSON_AddObjectToObject(p, "samples");
        cJSON *out = cJSON_AddArrayToObject(samples, "out_tps"), *p99 = cJSON_AddArrayToObject(samples, "ttft_p99_ms");
        cJSON *ttft = cJSON_AddArrayToObject(samples, "ttft_ms");
        for (int r = 0; r < SV_REPS; r++) {
            cJSON_AddItemToArray(out, cJSON_CreateNumber((100 + r) * load * f));
            cJSON_AddItemToArray(p99, cJSON_CreateNumber((80 + r) * load / f));
            for (int q = 0; q < SV_REQUESTS; q++)
                cJSON_AddItemToArray(ttft, cJSON_CreateNumber((30 + q + 0.5 * r) * load / f));
        }
        cJSON *sv = cJSON_AddObjectToObject(p, "serve");
        cJSON_AddNumberToObject(sv, "duration_s", 4 / load);
        cJSON_AddNumberToObject(sv, "preemptions", k);
        is_results_point_finish(p, 1);
        cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), p);
    }
    return doc;
}

// Serve results compare with serve results: out_tps by default, any serve metric
// by name (per repetition or per request), each in its direction; a file of
// another kind, or a metric serve-bench does not measure, is refused.
Test(compare, serve_documents) {
    cJSON *base = serve_doc(1.0), *slow = serve_doc(0.8), *bench = synth_default("preset:tiny", 93, 0.01);
    is_compare_opts o = {.metric = NULL, .threshold = 0.05, .seed = 1234};
    int n = 0;
    is_compare_row *rows = compare_ok(base, slow, &o, &n);
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++) {
        cr_assert(rows[i].in_base && rows[i].in_new, "%s", rows[i].key);
        cr_assert_eq(rows[i].verdict, IS_VERDICT_SLOWER, "%s: %s", rows[i].key, is_verdict_name(rows[i].verdict));
        cr_assert_float_eq(rows[i].ratio, 0.8, 1e-9);
        cr_assert(rows[i].ci_lo <= 0.8 && 0.8 <= rows[i].ci_hi && rows[i].ci_hi < 1);
        cr_assert_eq(rows[i].kind, IS_RESULTS_KIND_SERVE);
    }
    cr_assert_float_eq(rows[1].base_median, 2 * 102.5, 1e-9);
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "Comparing out_tps (tok/s, higher is better)"), "%s", md);
    cr_assert_not_null(strstr(md, "| arrival | rate |"), "the columns that differ: %s", md);
    cr_assert_eq(count_str(md, "| slower |"), 2, "%s", md);
    cr_assert_not_null(strstr(md, "| burst "), "%s", md);
    free(md);
    free(rows);
    // the other way round: faster; the same file: same
    rows = compare_ok(slow, base, &o, &n);
    for (int i = 0; i < n; i++) cr_assert_eq(rows[i].verdict, IS_VERDICT_FASTER, "%s", rows[i].key);
    free(rows);
    rows = compare_ok(base, base, &o, &n);
    for (int i = 0; i < n; i++) cr_assert_eq(rows[i].verdict, IS_VERDICT_SAME, "%s", rows[i].key);
    free(rows);
    // a per-repetition tail and a per-request latency: 1.25 times the time, slower
    static const char *const lat[] = {"ttft_p99_ms", "ttft_ms"};
    for (int k = 0; k < 2; k++) {
        o.metric = lat[k];
        rows = compare_ok(base, slow, &o, &n);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(rows[i].verdict, IS_VERDICT_SLOWER, "%s %s", lat[k], rows[i].key);
            cr_assert_float_eq(rows[i].ratio, 1.25, 1e-9, "%s", lat[k]);
        }
        md = is_compare_to_md(rows, n, &o);
        char want[80];
        snprintf(want, sizeof want, "Comparing %s (ms, lower is better)", lat[k]);
        cr_assert_not_null(strstr(md, want), "%s", md);
        free(md);
        free(rows);
    }
    // refused: a bench metric, and files of two kinds
    is_err err = {{0}};
    o.metric = "decode_tps";
    cr_assert_eq(is_compare(base, slow, &o, &rows, &n, &err), -1);
    cr_assert_not_null(strstr(err.msg, "metric \"decode_tps\" is not measured by serve results (theirs: queue_ms, "
                                       "ttft_ms,"), "%s", err.msg);
    o.metric = "latency";
    cr_assert_eq(is_compare(base, slow, &o, &rows, &n, &err), -1);
    cr_assert_not_null(strstr(err.msg, "unknown metric \"latency\" (known for serve results: queue_ms,"), "%s",
                       err.msg);
    o.metric = NULL;
    cr_assert_eq(is_compare(base, bench, &o, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "BASE is a serve result, NEW a bench result: only results of the same command compare");
    cr_assert_eq(is_compare(bench, base, &o, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "BASE is a bench result, NEW a serve result: only results of the same command compare");
    cJSON *kern = kernels_doc(1.0);
    cr_assert_eq(is_compare(kern, base, &o, &rows, &n, &err), -1);
    cr_assert_str_eq(err.msg, "BASE is a kernels result, NEW a serve result: only results of the same command compare");
    cJSON_Delete(kern);

    // the command: exit 1 on the slowdown, 2 on a bench file against a serve file
    run_out r = run_docs(base, slow, NULL, NULL);
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "Comparing out_tps"), "%s", r.out);
    run_free(&r);
    r = run_docs(base, slow, "--metric", "ttft_ms");
    cr_assert_eq(r.status, 1, "%s%s", r.out, r.err);
    run_free(&r);
    r = run_docs(base, base, "--metric", "goodput");
    cr_assert_eq(r.status, 0, "no goodput samples: nothing compared, nothing slower: %s%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "no goodput samples in either"), "%s", r.out);
    run_free(&r);
    r = run_docs(base, bench, NULL, NULL);
    cr_assert_eq(r.status, 2);
    cr_assert_not_null(strstr(r.err, "BASE is a serve result, NEW a bench result"), "%s", r.err);
    run_free(&r);
    cJSON_Delete(base);
    cJSON_Delete(slow);
    cJSON_Delete(bench);
}

// Paired, a per-request serve metric is judged on each run's median request: the
// lowest TTFT of a run is its first request at an idle server, which the change
// below leaves alone, while the median request waits 25% longer.
Test(compare_paired, serve_per_request_by_run_median) {
    cJSON *base = serve_doc(1.0), *nw = serve_doc(1.0);
    cJSON_AddNumberToObject(base, "runs", SV_REPS); // each repetition a run of its own
    cJSON_AddNumberToObject(nw, "runs", SV_REPS);
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(nw, "points")) {
        cJSON *v;
        int i = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "samples"), "ttft_ms")) {
            if (i++ % SV_REQUESTS) cJSON_SetNumberValue(v, v->valuedouble * 1.25); // all but the first request
        }
    }
    is_compare_opts o = {.metric = "ttft_ms", .threshold = 0.05, .seed = 1, .paired = true};
    int n;
    is_compare_row *rows = compare_ok(base, nw, &o, &n);
    cr_assert_eq(n, 2);
    for (int i = 0; i < n; i++) {
        cr_assert_float_eq(rows[i].ratio, 1.25, 1e-12, "%s", rows[i].key);
        cr_assert_eq(rows[i].verdict, IS_VERDICT_SLOWER, "%s", rows[i].key);
        cr_assert_str_eq(rows[i].note, "6 pairs of runs");
    }
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "ratio NEW / BASE of each run's median over its requests"), "%s", md);
    free(md);
    free(rows);
    // a per-repetition metric keeps each run's best repetition
    o.metric = "out_tps";
    rows = compare_ok(base, nw, &o, &n);
    for (int i = 0; i < n; i++) cr_assert_eq(rows[i].ratio, 1.0, "%s", rows[i].key);
    md = is_compare_to_md(rows, n, &o);
    cr_assert_not_null(strstr(md, "ratio NEW / BASE of each run's best repetition"), "%s", md);
    free(md);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
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
