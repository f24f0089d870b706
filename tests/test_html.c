// test_html.c — the HTML report (reports/html.h) read back as text: the DOM
// contract (figures counted in data-charts, series counted in data-series), the
// series each chart is made of, gaps for missing values, escaping, no URL but
// the SVG namespace, and every table of report.md present, on synthetic
// documents and on committed result files.
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/compare.h" // defines: is_compare, is_compare_row, is_compare_opts
#include "reports/html.h"    // defines: is_results_to_html, is_compare_to_html, is_html_escape
#include "reports/results.h" // defines: is_results_new, is_results_point_finish, is_results_load, is_results_to_md

#define SVG_NS "http://www.w3.org/2000/svg"
#define CUPTI_NONE "{\"status\":\"unavailable\",\"reason\":\"CUPTI unavailable: why\"}"

// ---- reading the page ------------------------------------------------------------------

static char *dup_n(const char *s, size_t n) {
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + strlen(needle), needle)) n++;
    return n;
}

// The k-th <figure> whose data-chart is name, from "<figure" to "</figure>" (malloc'd), or NULL.
static char *figure(const char *html, const char *name, int k) {
    char attr[128];
    snprintf(attr, sizeof attr, "<figure class=\"chart\" data-chart=\"%s\"", name);
    const char *p = strstr(html, attr);
    for (int i = 0; p && i < k; i++) p = strstr(p + 1, attr);
    if (!p) return NULL;
    const char *end = strstr(p, "</figure>");
    cr_assert_not_null(end, "an unclosed figure: %.200s", p);
    return dup_n(p, (size_t)(end - p) + strlen("</figure>"));
}

// The integer value of attr="N" in the first tag of s that has it.
static int attr_int(const char *s, const char *attr) {
    char pat[64];
    snprintf(pat, sizeof pat, " %s=\"", attr);
    const char *p = strstr(s, pat);
    cr_assert_not_null(p, "no %s in %.300s", attr, s);
    return atoi(p + strlen(pat));
}

// The series a figure declares (data-series) and holds (<g class="series">),
// asserted equal; the count.
static int fig_series(const char *fig) {
    int declared = attr_int(fig, "data-series"), held = count(fig, "<g class=\"series\"");
    cr_assert_eq(declared, held, "data-series=%d, %d series groups: %.300s", declared, held, fig);
    return held;
}

static int n_figures(const char *html, const char *name) {
    char attr[128];
    snprintf(attr, sizeof attr, "<figure class=\"chart\" data-chart=\"%s\"", name);
    return count(html, attr);
}

// What every page must hold: the body's kind, data-charts equal to the figures,
// each figure's series counted, no script, no URL but the SVG namespace, every
// <svg> with the namespace, no NaN or infinity in a coordinate attribute.
static void check_page(const char *html, const char *kind) {
    char body[64];
    snprintf(body, sizeof body, "<body data-kind=\"%s\" data-charts=\"", kind);
    const char *b = strstr(html, body);
    cr_assert_not_null(b, "no %s in %.400s", body, html);
    int figs = count(html, "<figure class=\"chart\"");
    cr_assert_eq(atoi(b + strlen(body)), figs, "data-charts against %d figures", figs);
    for (const char *f = strstr(html, "<figure class=\"chart\""); f; f = strstr(f + 1, "<figure class=\"chart\"")) {
        const char *end = strstr(f, "</figure>");
        cr_assert_not_null(end);
        char *fig = dup_n(f, (size_t)(end - f));
        int series = fig_series(fig);
        bool gap = strstr(fig, "<p class=\"gap\">") != NULL, svg = strstr(fig, "<svg") != NULL;
        cr_assert(gap != svg, "a figure holds a chart or a gap: %.300s", fig);
        if (gap) cr_assert_eq(series, 0);
        free(fig);
    }
    char *lower = dup_n(html, strlen(html));
    for (char *c = lower; *c; c++) *c = (char)tolower((unsigned char)*c);
    cr_assert_null(strstr(lower, "<script"), "no script in the page");
    free(lower);
    for (const char *u = html; (u = strstr(u, "http")) != NULL; u++) {
        if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8)) continue;
        cr_assert(strncmp(u, SVG_NS "\"", strlen(SVG_NS) + 1) == 0, "a URL other than the SVG namespace: %.80s", u);
        cr_assert(u >= html + 7 && strncmp(u - 7, "xmlns=\"", 7) == 0, "the namespace outside xmlns: %.80s", u - 20);
    }
    cr_assert_eq(count(html, "<svg "), count(html, "<svg xmlns=\"" SVG_NS "\""), "every svg declares its namespace");
    // coordinates and sizes: numbers, path commands and transforms only; no NaN, no infinity
    static const char *const num_attrs[] = {" x=\"", " y=\"", " cx=\"", " cy=\"", " x1=\"", " x2=\"", " y1=\"",
                                            " y2=\"", " d=\"", " width=\"", " height=\"", " transform=\"", " viewBox=\""};
    for (size_t a = 0; a < sizeof num_attrs / sizeof num_attrs[0]; a++)
        for (const char *p = strstr(html, num_attrs[a]); p; p = strstr(p + 1, num_attrs[a])) {
            const char *v = p + strlen(num_attrs[a]), *q = strchr(v, '"');
            char val[2048];
            snprintf(val, sizeof val, "%.*s", (int)(q - v), v);
            const char *allowed = a == 11 ? "0123456789.- ,()translaeo" : "0123456789.- MLVHhv";
            cr_assert_eq(strspn(val, allowed), strlen(val), "%s in %.60s", val, p - 20);
            cr_assert(!strstr(val, "nan") && !strstr(val, "inf"), "%s", val);
        }
}

// Every attribute inside each <svg>: no "nan", no "inf" (any case).
static void check_svg_attrs_finite(const char *html) {
    for (const char *s = strstr(html, "<svg"); s; s = strstr(s + 1, "<svg")) {
        const char *end = strstr(s, "</svg>");
        cr_assert_not_null(end);
        for (const char *t = s; t && t < end; t = strchr(t + 1, '<')) {
            const char *close = strchr(t, '>');
            char tag[4096];
            snprintf(tag, sizeof tag, "%.*s", (int)(close - t), t);
            for (char *c = tag; *c; c++) *c = (char)tolower((unsigned char)*c);
            cr_assert(!strstr(tag, "nan") && !strstr(tag, "inf"), "a NaN or infinity in %s", tag);
        }
    }
}

// Every table of report.md (its alignment rows "| --- | ---: |") is a <table> of the page.
static int md_tables(const char *md) {
    int n = 0;
    for (const char *l = md; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, "| -", 3) == 0 || strncmp(l, "| :", 3) == 0) n++;
    return n;
}

static cJSON *load(const char *path) {
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

// ---- synthetic documents ---------------------------------------------------------------

static cJSON *bench_config(const char *model, int batch, int prompt, const char *strategy) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "model", model);
    cJSON_AddStringToObject(c, "backend", "cpu");
    cJSON_AddStringToObject(c, "dtype", "BF16");
    cJSON_AddNumberToObject(c, "threads", 2);
    cJSON_AddNumberToObject(c, "batch", batch);
    cJSON_AddNumberToObject(c, "prompt", prompt);
    cJSON_AddNumberToObject(c, "gen", 16);
    cJSON_AddNumberToObject(c, "depth", 0);
    cJSON_AddStringToObject(c, "strategy", strategy);
    cJSON_AddStringToObject(c, "kernel", "default");
    return c;
}

// An ok bench point: samples of every timed metric around values that grow with
// the batch, the derived rates (mbu and mfu as given: NaN writes null).
static cJSON *bench_point(const char *model, int batch, int prompt, const char *strategy, double mbu) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "config", bench_config(model, batch, prompt, strategy));
    cJSON_AddStringToObject(p, "status", "ok");
    cJSON_AddNumberToObject(p, "reps", 5);
    cJSON *samples = cJSON_AddObjectToObject(p, "samples");
    static const char *const metrics[] = {"ttft_ms", "tpot_ms", "decode_tps", "prefill_tps"};
    const double base[] = {2.0 + prompt / 32.0, 0.05 * batch, 5000.0 * batch, 40000.0};
    for (int m = 0; m < 4; m++) {
        double v[5];
        for (int i = 0; i < 5; i++) v[i] = base[m] * (1 + 0.01 * (i - 2));
        cJSON_AddItemToObject(samples, metrics[m], cJSON_CreateDoubleArray(v, 5));
    }
    is_results_point_finish(p, 1);
    cJSON *d = cJSON_AddObjectToObject(p, "derived");
    cJSON_AddNumberToObject(d, "decode_gbs", 10.0 * batch);
    is_schema_number(d, "mbu", mbu);
    cJSON_AddNumberToObject(d, "prefill_gflops", 20.0 + prompt);
    is_schema_number(d, "mfu", 0.02);
    return p;
}

static cJSON *failed_point(const char *model, int batch, int prompt, const char *strategy, const char *msg) {
    return is_schema_point_error(NULL, bench_config(model, batch, prompt, strategy), msg);
}

static cJSON *bench_probes(void) {
    return cJSON_Parse("{\"mem\":{\"peak_gbs\":250,\"peak_of\":\"read\"},"
                       "\"compute\":{\"peak_gflops\":1000,\"matmul_unit\":\"fma_f32_avx2\"}}");
}

static cJSON *bench_env(const char *command) {
    cJSON *env = cJSON_CreateObject();
    cJSON_AddStringToObject(env, "cpu_model", "Test CPU");
    cJSON_AddStringToObject(env, "command", command);
    return env;
}

// batches x prompts x strategies, every point ok.
static cJSON *bench_doc(const int *batches, int nb, const int *prompts, int np, const char *const *strategies, int ns) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(bench_env("inferscope bench"), sweep, bench_probes());
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    for (int s = 0; s < ns; s++)
        for (int q = 0; q < np; q++)
            for (int b = 0; b < nb; b++)
                cJSON_AddItemToArray(points, bench_point("preset:tiny", batches[b], prompts[q], strategies[s], 0.3));
    return doc;
}

// The distinct combinations of every config field but skip among doc's points.
static int combinations_without(const cJSON *doc, const char *skip) {
    const cJSON *points = cJSON_GetObjectItem(doc, "points");
    int n = cJSON_GetArraySize(points), distinct = 0;
    char(*keys)[512] = calloc((size_t)n, sizeof *keys);
    for (int i = 0; i < n; i++) {
        const cJSON *f;
        size_t k = 0;
        cJSON_ArrayForEach(f, cJSON_GetObjectItem(cJSON_GetArrayItem(points, i), "config")) {
            if (!strcmp(f->string, skip)) continue;
            char *v = cJSON_PrintUnformatted(f);
            k += (size_t)snprintf(keys[i] + k, sizeof keys[i] - k, "%s=%s;", f->string, v);
            free(v);
        }
        bool seen = false;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(keys[i], keys[j]);
        distinct += !seen;
    }
    free(keys);
    return distinct;
}

// ---- bench -------------------------------------------------------------------------------

// A line per combination of the axes other than the batch; figures counted.
static void check_bench_series(const cJSON *doc) {
    char *html = is_results_to_html(doc);
    check_page(html, "bench");
    static const char *const charts[] = {"decode-tps", "tpot", "ttft", "roofline-decode", "roofline-prefill"};
    for (int c = 0; c < 5; c++) cr_assert_eq(n_figures(html, charts[c]), 1, "one %s chart", charts[c]);
    char *fig = figure(html, "decode-tps", 0);
    int want = combinations_without(doc, "batch");
    cr_assert_eq(fig_series(fig), want < 12 ? want : 12, "decode-tps: a series per combination of the other axes");
    free(fig);
    fig = figure(html, "ttft", 0);
    want = combinations_without(doc, "prompt");
    cr_assert_eq(fig_series(fig), want < 12 ? want : 12, "ttft: a series per combination but the prompt");
    free(fig);
    char *md = is_results_to_md(doc);
    cr_assert_eq(count(html, "<table>"), md_tables(md), "every table of report.md");
    free(md);
    free(html);
}

Test(html, bench_series_are_the_combinations_of_the_other_axes) {
    const int batches[] = {1, 4, 16}, prompts[] = {16, 64, 512};
    const char *const strategies[] = {"greedy", "sample"};
    cJSON *doc = bench_doc(batches, 3, prompts, 3, strategies, 2);
    check_bench_series(doc);
    cJSON_Delete(doc);
    // one batch size: a chart of dots still, a series per prompt
    doc = bench_doc(batches, 1, prompts, 2, strategies, 1);
    char *html = is_results_to_html(doc);
    char *fig = figure(html, "decode-tps", 0);
    cr_assert_not_null(fig);
    cr_assert_eq(fig_series(fig), 2);
    cr_assert_eq(count(fig, "<circle"), 2 + 2, "a dot per point, and one per legend entry");
    free(fig);
    free(html);
    cJSON_Delete(doc);
}

Test(html, committed_bench_result) {
    cJSON *doc = load(IS_TEST_RESULTS_DIR "/2026-11-22-cpu/bench-tinyllama/results.json");
    check_bench_series(doc);
    cJSON_Delete(doc);
}

Test(html, many_series_are_capped_with_other) {
    int batches[2] = {1, 8}, prompts[20];
    for (int i = 0; i < 20; i++) prompts[i] = 16 * (i + 1);
    const char *const strategies[] = {"greedy"};
    cJSON *doc = bench_doc(batches, 2, prompts, 20, strategies, 1);
    char *html = is_results_to_html(doc);
    check_page(html, "bench");
    char *fig = figure(html, "decode-tps", 0);
    cr_assert_eq(fig_series(fig), 12, "11 named, the rest one grey series");
    cr_assert(strstr(fig, "data-name=\"other (9 series)\""), "%s", fig);
    cr_assert(strstr(fig, "drawn grey as &quot;other&quot;"), "the note says so");
    free(fig);
    free(html);
    cJSON_Delete(doc);
}

Test(html, failed_points_and_null_metrics_are_gaps) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON *doc = is_results_new(bench_env("inferscope bench"), sweep, bench_probes());
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cJSON_AddItemToArray(points, bench_point("preset:tiny", 1, 64, "greedy", NAN));
    cJSON_AddItemToArray(points, failed_point("preset:tiny", 4, 64, "greedy", "out of memory"));
    cJSON_AddItemToArray(points, bench_point("preset:tiny", 16, 64, "greedy", NAN));
    cJSON_AddItemToArray(points, bench_point("preset:tiny", 64, 64, "greedy", NAN));
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "doc", &err), 0, "%s", err.msg);
    char *html = is_results_to_html(doc);
    check_page(html, "bench");
    check_svg_attrs_finite(html);
    char *fig = figure(html, "decode-tps", 0);
    const char *d = strstr(fig, "<path class=\"line\" d=\"");
    cr_assert_not_null(d, "%s", fig);
    char path[1024];
    snprintf(path, sizeof path, "%.*s", (int)(strchr(d + 22, '"') - d - 22), d + 22);
    cr_assert_eq(count(path, "M"), 2, "the line breaks at the failed point: %s", path);
    cr_assert_eq(count(path, "L"), 1, "batch 16 to 64 only: %s", path);
    cr_assert_eq(count(fig, "<circle r=\"3\" cx"), 3 + 1, "three dots and the legend's");
    free(fig);
    cr_assert(strstr(html, "out of memory"), "the failed point's note");
    cr_assert_null(strstr(html, "MBU 0"), "null MBU: no label");
    cJSON_Delete(doc);
    free(html);

    // nothing at all to draw: a gap in place of each chart, never an empty SVG
    sweep = cJSON_CreateObject();
    doc = is_results_new(NULL, sweep, NULL);
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), failed_point("m", 1, 8, "greedy", "load failed"));
    html = is_results_to_html(doc);
    check_page(html, "bench");
    check_svg_attrs_finite(html);
    cr_assert_eq(count(html, "<p class=\"gap\">"), 5, "every chart a gap");
    cr_assert_eq(count(html, "<svg"), 0);
    fig = figure(html, "roofline-decode", 0);
    cr_assert(strstr(fig, "no data: no point has decode GB/s"), "%s", fig);
    free(fig);
    free(html);
    cJSON_Delete(doc);
}

// ---- escaping ------------------------------------------------------------------------------

#define EVIL "<script>alert(1)</script>\"&'"
#define EVIL_ESCAPED "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&amp;&#39;"

static cJSON *kernel_table(const char *const *names, const double *ms, int n) {
    cJSON *kt = cJSON_Parse("{\"status\":\"ok\",\"collected\":\"one untimed repetition\",\"records\":10,"
                            "\"dropped_records\":0,\"no_api_record\":0,\"outside_ranges\":0,\"phases\":[]}");
    static const char *const phases[] = {"prefill", "decode_step"};
    for (int ph = 0; ph < 2; ph++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "phase", phases[ph]);
        cJSON_AddNumberToObject(o, "ranges", 1 + 7 * ph);
        cJSON_AddNumberToObject(o, "wall_ms", 10);
        cJSON_AddNumberToObject(o, "kernel_ms", 8);
        cJSON_AddNumberToObject(o, "busy_ms", 8);
        cJSON_AddNumberToObject(o, "share", 0.8);
        cJSON *ks = cJSON_AddArrayToObject(o, "kernels");
        for (int k = 0; k < n; k++) {
            cJSON *kk = cJSON_CreateObject();
            cJSON_AddStringToObject(kk, "name", names[k]);
            cJSON_AddStringToObject(kk, "kind", "kernel");
            cJSON_AddNumberToObject(kk, "calls", 3);
            cJSON_AddNumberToObject(kk, "total_ms", ms[k] * (ph + 1));
            cJSON_AddNumberToObject(kk, "mean_ms", ms[k] / 3);
            cJSON_AddNumberToObject(kk, "max_ms", ms[k] / 2);
            cJSON_AddNumberToObject(kk, "share", ms[k] / 10);
            cJSON_AddItemToArray(ks, kk);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItem(kt, "phases"), o);
    }
    return kt;
}

static cJSON *counters(void) {
    return cJSON_Parse("{\"status\":\"ok\",\"chip\":\"GH100\",\"read_metric\":\"dram__bytes_read.sum\","
                       "\"write_metric\":\"dram__bytes_write.sum\",\"passes\":1,\"dropped_ranges\":0,\"phases\":["
                       "{\"phase\":\"prefill\",\"ranges\":1,\"read_bytes\":9e6,\"write_bytes\":1e6,\"bytes\":1e7,"
                       "\"model_bytes\":1.1e7,\"ratio\":0.91,\"median_ms\":2,\"gbs\":5},"
                       "{\"phase\":\"decode_step\",\"ranges\":3,\"read_bytes\":3e6,\"write_bytes\":1e6,\"bytes\":4e6,"
                       "\"model_bytes\":5e6,\"ratio\":0.8,\"median_ms\":2,\"gbs\":2}]}");
}

Test(html, strings_from_the_file_are_escaped) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", EVIL);
    cJSON_AddStringToObject(sweep, "command", "profile");
    cJSON *doc = is_results_new(bench_env("inferscope profile --model '" EVIL "'"), sweep, bench_probes());
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cJSON *p = bench_point(EVIL, 1, 64, "greedy", 0.25);
    const char *names[] = {EVIL, "gemm"};
    const double ms[] = {3, 5};
    cJSON_AddItemToObject(p, "kernel_table", kernel_table(names, ms, 2));
    cJSON_AddItemToArray(points, p);
    cJSON_AddItemToArray(points, bench_point(EVIL, 4, 64, EVIL, 0.25));
    cJSON_AddItemToArray(points, failed_point(EVIL, 8, 64, "greedy", "failed: " EVIL));
    char *html = is_results_to_html(doc);
    check_page(html, "profile");
    cr_assert(count(html, EVIL_ESCAPED) >= 5, "model, command, kernel, strategy and error as text: %d",
              count(html, EVIL_ESCAPED));
    cr_assert(strstr(html, "data-name=\"strategy=" EVIL_ESCAPED "\""), "a series named by the string");
    cr_assert(strstr(html, "data-name=\"" EVIL_ESCAPED "\""), "the kernel's series");
    cr_assert_null(strstr(html, "alert(1)</script>"));
    free(html);
    cJSON_Delete(doc);

    is_strbuf b = {0};
    is_html_escape(&b, "a<b>&\"c'");
    cr_assert_str_eq(is_sb_take(&b), "a&lt;b&gt;&amp;&quot;c&#39;");
    free(b.p);
}

// ---- profile ---------------------------------------------------------------------------

Test(html, profile_kernel_shares_and_counters) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "preset:tiny");
    cJSON_AddStringToObject(sweep, "command", "profile");
    cJSON *doc = is_results_new(bench_env("inferscope profile"), sweep, bench_probes());
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    const char *names[10];
    double ms[10];
    char buf[10][32];
    for (int k = 0; k < 10; k++) {
        snprintf(buf[k], sizeof buf[k], "kernel_%d", k);
        names[k] = buf[k];
        ms[k] = 10 - k;
    }
    cJSON *p = bench_point("preset:tiny", 1, 64, "greedy", 0.3);
    cJSON_AddItemToObject(p, "kernel_table", kernel_table(names, ms, 10));
    cJSON_AddItemToObject(p, "counters", counters());
    cJSON_AddItemToArray(points, p);
    p = bench_point("preset:tiny", 4, 64, "greedy", 0.3);
    cJSON_AddItemToObject(p, "kernel_table", cJSON_Parse(CUPTI_NONE));
    cJSON_AddItemToArray(points, p);
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "doc", &err), 0, "%s", err.msg);
    char *html = is_results_to_html(doc);
    check_page(html, "profile");
    check_svg_attrs_finite(html);
    cr_assert_eq(n_figures(html, "kernel-share"), 1, "one point has a kernel table");
    char *fig = figure(html, "kernel-share", 0);
    cr_assert_eq(fig_series(fig), 8 + 1, "the top 8 kernels and the other 2");
    cr_assert(strstr(fig, "data-name=\"other (2 kernels)\""), "%s", fig);
    cr_assert_eq(count(fig, "<rect x="), 2 * 9, "a segment per kernel group and phase");
    free(fig);
    fig = figure(html, "dram-bytes", 0);
    cr_assert_eq(fig_series(fig), 2, "measured and modelled");
    cr_assert_eq(count(fig, "<rect x="), 2 * 2, "a pair of bars per phase");
    free(fig);
    char *md = is_results_to_md(doc);
    cr_assert_eq(count(html, "<table>"), md_tables(md));
    free(md);
    free(html);
    cJSON_Delete(doc);

    // no point has a kernel table: the reason in place of each chart
    doc = is_results_new(NULL, cJSON_Parse("{\"command\":\"profile\"}"), NULL);
    p = bench_point("preset:tiny", 1, 64, "greedy", 0.3);
    cJSON_AddItemToObject(p, "kernel_table", cJSON_Parse(CUPTI_NONE));
    cJSON_AddItemToObject(p, "counters", cJSON_Parse("{\"status\":\"error\",\"reason\":\"profiler said no\"}"));
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), p);
    html = is_results_to_html(doc);
    check_page(html, "profile");
    fig = figure(html, "kernel-share", 0);
    cr_assert(strstr(fig, "<p class=\"gap\">no data: CUPTI unavailable: why</p>"), "%s", fig);
    free(fig);
    fig = figure(html, "dram-bytes", 0);
    cr_assert(strstr(fig, "<p class=\"gap\">no data: profiler said no</p>"), "%s", fig);
    free(fig);
    free(html);
    cJSON_Delete(doc);
}

// ---- kernels ---------------------------------------------------------------------------

Test(html, kernels_a_time_chart_per_shape_and_the_peak_chart) {
    cJSON *doc = load(IS_TEST_RESULTS_DIR "/2026-12-02-cpu/kernels-tinyllama-1/results.json");
    char *html = is_results_to_html(doc);
    check_page(html, "kernels");
    check_svg_attrs_finite(html);
    int shapes = combinations_without(doc, "variant");
    cr_assert_eq(n_figures(html, "kernel-time"), shapes < 60 ? shapes : 60, "a time chart per shape");
    // the first shape's variants: the points of its config
    char *fig = figure(html, "kernel-time", 0);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(doc, "points"));
    int variants = n / shapes; // every shape of this file runs every variant
    cr_assert_eq(n % shapes, 0);
    cr_assert_eq(fig_series(fig), variants);
    cr_assert_eq(count(fig, " (winner)</text>"), 1, "the winner marked: %s", fig);
    free(fig);
    fig = figure(html, "kernel-peak", 0);
    cr_assert_eq(fig_series(fig), variants, "a series per variant");
    cr_assert_eq(count(fig, "<rect x="), n, "a bar per point");
    free(fig);
    char *md = is_results_to_md(doc);
    cr_assert_eq(count(html, "<table>"), md_tables(md));
    free(md);
    free(html);
    cJSON_Delete(doc);
}

// ---- serve -----------------------------------------------------------------------------

Test(html, serve_latency_throughput_goodput_and_time_series) {
    cJSON *doc = load(IS_TEST_RESULTS_DIR "/2026-12-07-serve-cpu/rates/results.json");
    char *html = is_results_to_html(doc);
    check_page(html, "serve");
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(doc, "points"));
    // rate and arrival are the load: one curve, p50 and p99
    for (int c = 0; c < 2; c++) {
        char *fig = figure(html, c ? "serve-tpot" : "serve-ttft", 0);
        cr_assert_not_null(fig);
        cr_assert_eq(fig_series(fig), 2, "p50 and p99 of one configuration");
        cr_assert_eq(count(fig, "<circle r=\"3\" cx"), 2 * n + 1, "a dot per point and statistic, the legend's");
        free(fig);
    }
    char *fig = figure(html, "goodput", 0);
    cr_assert_eq(fig_series(fig), 1);
    cr_assert(strstr(fig, ">inf</text>"), "rate inf labelled on the axis");
    free(fig);
    cr_assert_eq(n_figures(html, "timeseries"), n < 12 ? n : 12, "a time series per point");
    fig = figure(html, "timeseries", 0);
    cr_assert_eq(fig_series(fig), 4, "tokens, running, waiting, KV blocks");
    free(fig);
    char *md = is_results_to_md(doc);
    cr_assert_eq(count(html, "<table>"), md_tables(md));
    free(md);
    free(html);

    // two policies: a curve each; a failed point is a gap, its time series the error
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cJSON *second = cJSON_Duplicate(cJSON_GetArrayItem(points, 0), true);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(second, "config"), "policy", cJSON_CreateString("prefill-first"));
    cJSON_AddItemToArray(points, second);
    cJSON *failed = cJSON_Duplicate(cJSON_GetArrayItem(points, 1), true);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(failed, "config"), "policy", cJSON_CreateString("prefill-first"));
    cJSON_ReplaceItemInObject(failed, "status", cJSON_CreateString("error"));
    cJSON_AddStringToObject(failed, "error", "engine stopped");
    cJSON_DeleteItemFromObject(failed, "stats");
    cJSON_InsertItemInArray(points, 0, failed);
    html = is_results_to_html(doc);
    check_page(html, "serve");
    fig = figure(html, "serve-ttft", 0);
    cr_assert_eq(fig_series(fig), 4, "p50 and p99 of each policy");
    cr_assert(strstr(fig, "data-name=\"policy=prefill-first p99\""), "%s", fig);
    free(fig);
    fig = figure(html, "timeseries", 0);
    cr_assert(strstr(fig, "<p class=\"gap\">no data: engine stopped</p>"), "%s", fig);
    free(fig);
    free(html);
    cJSON_Delete(doc);
}

// ---- compare ---------------------------------------------------------------------------

Test(html, compare_forest_a_row_per_point) {
    const int batches[] = {1, 4, 16}, prompts[] = {64};
    const char *const strategies[] = {"greedy"};
    cJSON *base = bench_doc(batches, 3, prompts, 1, strategies, 1);
    cJSON *nw = bench_doc(batches, 2, prompts, 1, strategies, 1); // batch 16 only in BASE
    cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(nw, "points")) { // batch 4 20% slower
        if (cJSON_GetObjectItem(cJSON_GetObjectItem(p, "config"), "batch")->valueint != 4) continue;
        cJSON *v;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(cJSON_GetObjectItem(p, "samples"), "decode_tps"))
            cJSON_SetNumberValue(v, v->valuedouble * 0.8);
        is_results_point_finish(p, 1);
    }
    is_compare_opts o = {.metric = "decode_tps", .threshold = 0.05, .seed = 7};
    is_compare_row *rows = NULL;
    int n = 0;
    is_err err = {{0}};
    cr_assert_eq(is_compare(base, nw, &o, &rows, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 3);
    char *html = is_compare_to_html(rows, n, &o, base, nw);
    check_page(html, "compare");
    check_svg_attrs_finite(html);
    char *fig = figure(html, "forest", 0);
    cr_assert_not_null(fig);
    cr_assert_eq(attr_int(fig, "data-rows"), n, "a row per compared point");
    int verdicts = 0, finite = 0;
    bool seen[IS_VERDICT_NONE + 1] = {false};
    for (int r = 0; r < n; r++) {
        verdicts += !seen[rows[r].verdict];
        seen[rows[r].verdict] = true;
        finite += isfinite(rows[r].ratio);
    }
    cr_assert_eq(fig_series(fig), verdicts, "a series per verdict present");
    cr_assert(seen[IS_VERDICT_SLOWER] && seen[IS_VERDICT_NONE]);
    cr_assert_eq(count(fig, "<circle r=\"4\""), finite, "a dot per point compared");
    cr_assert(strstr(fig, "only in BASE"), "the point not compared says why: %s", fig);
    cr_assert(strstr(fig, "<rect class=\"band\""), "the threshold band");
    free(fig);
    cr_assert_eq(count(html, "<h2>BASE</h2>"), 1, "both environments head the page");
    cr_assert_eq(count(html, "<h2>NEW</h2>"), 1);
    char *md = is_compare_to_md(rows, n, &o);
    cr_assert_eq(count(html, "<table>"), md_tables(md), "compare's table");
    free(md);
    free(html);
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
}

// ---- Markdown ------------------------------------------------------------------------------

Test(html, markdown_tables_code_and_pipes) {
    cJSON *sweep = cJSON_CreateObject();
    cJSON_AddStringToObject(sweep, "model", "m|odel");
    cJSON *doc = is_results_new(bench_env("run `a` and ``b`` | c"), sweep, NULL);
    cJSON_AddItemToArray(cJSON_GetObjectItem(doc, "points"), bench_point("m|odel", 1, 64, "greedy", 0.5));
    char *html = is_results_to_html(doc);
    check_page(html, "bench");
    cr_assert(strstr(html, "<td>m|odel</td>"), "an escaped pipe is a pipe in its cell");
    cr_assert(strstr(html, "<code>run `a` and ``b`` | c</code>"), "the command as one code span");
    cr_assert(strstr(html, "<th class=\"num\">batch</th>"), "number columns right-aligned");
    free(html);
    cJSON_Delete(doc);
}
