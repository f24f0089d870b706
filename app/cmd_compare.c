// cmd_compare.c — `inferscope compare BASE.json NEW.json [--threshold PCT]
// [--metric M] [--paired] [--format md|html] [--out FILE]`: reports/compare.c's table
// of two result files (or the page with its forest plot), and an exit status a CI
// job can gate on.
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "base/fileio.h"     // defines: is_write_file_atomic
#include "reports/compare.h" // defines: is_compare, is_compare_to_md
#include "reports/html.h"    // defines: is_compare_to_html
#include "reports/results.h" // defines: is_results_load, is_metric_defs, is_results_default_metric, is_results_env_gemm,
                             // is_results_env_noise

static void usage(FILE *f) {
    fprintf(f, "usage: inferscope compare BASE.json NEW.json [--threshold PCT] [--metric M] [--paired]\n"
               "                          [--format md|html] [--out FILE]\n"
               "  --format md|html the table (default), or one self-contained HTML page: a forest plot of\n"
               "                   NEW/BASE per point with its interval and the threshold band, then the table\n"
               "  --out FILE       write it to FILE (written whole or not at all) instead of stdout\n"
               "  --threshold PCT  a change within PCT percent is \"same\" (default %g; 0 < PCT < 100)\n"
               "  --paired         BASE and NEW each merge R runs (inferscope merge), run k of each taken one\n"
               "                   after the other (ci/perf-gate --base): judge the R pairs of the runs' best\n"
               "                   repetitions (Hodges-Lehmann ratio, Wilcoxon signed-rank 95%% interval):\n"
               "                   slower/faster past the threshold with the whole interval past half of it,\n"
               "                   same with the whole interval within it, else unclear\n"
               "  --metric M       the metric compared (default %s; for kernels results time_us, for serve-bench\n"
               "                   results out_tps), a metric of the results' kind; of bench results:\n",
            IS_COMPARE_DEFAULT_THRESHOLD_PCT, IS_COMPARE_DEFAULT_METRIC);
    for (int i = 0; i < is_metric_n_defs; i++)
        fprintf(f, "                     %-12s %s, %s is better\n", is_metric_defs[i].name, is_metric_defs[i].unit,
                is_metric_defs[i].higher_is_better ? "higher" : "lower");
    fprintf(f, "                   of kernels results (the default for them: %s):\n", is_kernel_metric_defs[0].name);
    for (int i = 0; i < is_kernel_metric_n_defs; i++)
        fprintf(f, "                     %-12s %s, %s is better\n", is_kernel_metric_defs[i].name,
                is_kernel_metric_defs[i].unit, is_kernel_metric_defs[i].higher_is_better ? "higher" : "lower");
    fprintf(f, "                   of serve-bench results (the default for them: out_tps; per request: the\n"
               "                   median over every request, pooled over the repetitions):\n");
    for (int i = 0; i < is_serve_metric_n_defs; i++)
        fprintf(f, "                     %-12s %s, %s is better%s\n", is_serve_metric_defs[i].name,
                is_serve_metric_defs[i].unit, is_serve_metric_defs[i].higher_is_better ? "higher" : "lower",
                is_serve_metric_defs[i].per_request ? ", per request" : "");
    fprintf(f, "exit status: 1 when a point is slower past the threshold, 0 otherwise, 2 on bad input\n");
}

// Prints "inferscope compare: MESSAGE" (and the usage when with_usage) on stderr; returns 2.
static int fail_v(bool with_usage, const char *fmt, va_list ap) {
    fprintf(stderr, "inferscope compare: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    if (with_usage) usage(stderr);
    return 2;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(false, fmt, ap);
    va_end(ap);
    return rc;
}

static int fail_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail_usage(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = fail_v(true, fmt, ap);
    va_end(ap);
    return rc;
}

int is_compare_main(int argc, char **argv) {
    const char *files[2] = {NULL, NULL};
    int n_files = 0;
    double pct = IS_COMPARE_DEFAULT_THRESHOLD_PCT;
    const char *metric = NULL; // default: by the kind of BASE (is_results_default_metric)
    bool paired = false;
    const char *format = "md", *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--paired") == 0) {
            paired = true;
            continue;
        }
        if (strcmp(a, "--threshold") == 0 || strcmp(a, "--metric") == 0 || strcmp(a, "--format") == 0 ||
            strcmp(a, "--out") == 0) {
            if (i + 1 >= argc) {
                return fail_usage("%s needs a value", a);
            }
            const char *v = argv[++i];
            if (a[2] == 'm') {
                metric = v;
                continue;
            }
            if (a[2] == 'o') {
                out = v;
                continue;
            }
            if (a[2] == 'f') {
                if (strcmp(v, "md") && strcmp(v, "html")) return fail_usage("--format '%s': expected md or html", v);
                format = v;
                continue;
            }
            char *end;
            pct = strtod(v, &end);
            if (end != v && *end == '%') end++;
            if (end == v || *end || !(pct > 0 && pct < 100))
                return fail("--threshold %s: expected a percentage greater than 0 and less than 100", v);
            continue;
        }
        if (a[0] == '-' && a[1]) {
            return fail_usage("unknown option %s", a);
        }
        if (n_files == 2) {
            return fail_usage("unexpected argument %s: give two result files, BASE and NEW", a);
        }
        files[n_files++] = a;
    }
    if (n_files < 2) {
        return fail_usage("two result files are needed, BASE and NEW");
    }
    if (metric && !is_metric_find(metric)) {
        char known[512] = "";
        for (int i = 0; i < is_metric_n_defs; i++) {
            size_t k = strlen(known);
            snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "", is_metric_defs[i].name);
        }
        return fail("--metric %s: unknown metric (known: %s)", metric, known);
    }

    is_err err;
    cJSON *base = NULL, *nw = NULL;
    if (is_results_load(files[0], &base, &err)) return fail("%s", err.msg);
    if (is_results_load(files[1], &nw, &err)) {
        cJSON_Delete(base);
        return fail("%s", err.msg);
    }
    if (!metric) metric = is_results_default_metric(base);
    char base_gemm[1024], new_gemm[1024];
    is_results_env_gemm(cJSON_GetObjectItem(base, "env"), base_gemm, sizeof base_gemm);
    is_results_env_gemm(cJSON_GetObjectItem(nw, "env"), new_gemm, sizeof new_gemm);
    char base_noise[512], new_noise[512];
    is_results_env_noise(cJSON_GetObjectItem(base, "env"), base_noise, sizeof base_noise);
    is_results_env_noise(cJSON_GetObjectItem(nw, "env"), new_noise, sizeof new_noise);
    is_compare_opts o = {.metric = metric, .threshold = pct / 100, .seed = IS_COMPARE_SEED,
                         .base_gemm = base_gemm, .new_gemm = new_gemm, .paired = paired,
                         .base_noise = base_noise, .new_noise = new_noise};
    is_compare_row *rows;
    int n;
    int rc = is_compare(base, nw, &o, &rows, &n, &err);
    if (rc) {
        cJSON_Delete(base);
        cJSON_Delete(nw);
        return fail("%s", err.msg);
    }
    char *text = strcmp(format, "html") ? is_compare_to_md(rows, n, &o) : is_compare_to_html(rows, n, &o, base, nw);
    if (out) {
        if (is_write_file_atomic(out, text, strlen(text), &err)) {
            free(text);
            free(rows);
            cJSON_Delete(base);
            cJSON_Delete(nw);
            return fail("--out: %s", err.msg);
        }
    } else {
        fputs(text, stdout);
        fflush(stdout);
    }
    free(text);
    bool any_match = false, any_slower = false;
    for (int r = 0; r < n; r++) {
        any_match |= rows[r].in_base && rows[r].in_new;
        any_slower |= rows[r].verdict == IS_VERDICT_SLOWER;
    }
    free(rows);
    cJSON_Delete(base);
    cJSON_Delete(nw);
    if (!any_match) return fail("no point of NEW matches a point of BASE");
    return any_slower ? 1 : 0;
}
