// compare.c — points of two result files matched by configuration, the ratio
// NEW/BASE of one metric's median with a bootstrap interval, a verdict under a
// noise threshold, and a Markdown table (the command: app/cmd_compare.c).
#include "reports/compare.h"
#include "base/stats.h"      // defines: is_bootstrap_ratio_ci, is_paired_ratio_ci, is_median, ...
#include "reports/merge.h"    // defines: is_results_runs
#include "reports/results.h"  // defines: is_results_load, is_results_validate, is_metric_find, ...
#include "reports/telemetry.h" // defines: is_telemetry_read
#include "reports/text.h"     // defines: is_strbuf, is_sb_printf, is_json_get, is_md_table, ...

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *is_verdict_name(is_verdict v) {
    switch (v) {
    case IS_VERDICT_SAME: return "same";
    case IS_VERDICT_FASTER: return "faster";
    case IS_VERDICT_SLOWER: return "slower";
    case IS_VERDICT_UNCLEAR: return "unclear";
    case IS_VERDICT_NONE: break;
    }
    return "-";
}

// A change counts only when the whole interval lies on the side of 1 the ratio
// moved to: an interval past 1 on the other side says nothing for this change.
is_verdict is_compare_verdict(double ratio, double lo, double hi, double threshold, bool higher_is_better) {
    if (!isfinite(ratio)) return IS_VERDICT_NONE;
    double d = ratio - 1;
    if (fabs(d) <= threshold) return IS_VERDICT_SAME;
    bool excludes_one = d > 0 ? lo > 1 : hi < 1;
    if (!excludes_one) return IS_VERDICT_UNCLEAR;
    bool good = higher_is_better ? d > 0 : d < 0;
    return good ? IS_VERDICT_FASTER : IS_VERDICT_SLOWER;
}

is_verdict is_compare_verdict_paired(double ratio, double lo, double hi, double threshold, bool higher_is_better) {
    if (!isfinite(ratio)) return IS_VERDICT_NONE;
    if (!isfinite(lo) || !isfinite(hi)) return IS_VERDICT_UNCLEAR; // too few pairs for an interval
    double d = ratio - 1;
    if (fabs(d) <= threshold)
        return lo >= 1 - threshold && hi <= 1 + threshold ? IS_VERDICT_SAME : IS_VERDICT_UNCLEAR;
    bool clear = d > 0 ? lo > 1 + threshold / 2 : hi < 1 - threshold / 2;
    if (!clear) return IS_VERDICT_UNCLEAR;
    bool good = higher_is_better ? d > 0 : d < 0;
    return good ? IS_VERDICT_FASTER : IS_VERDICT_SLOWER;
}

// ---- matching points ---------------------------------------------------------

// point["samples"][metric] as a malloc'd array (NULL and *n = 0 when absent or empty).
static double *point_samples(const cJSON *p, const char *metric, int *n) {
    const cJSON *arr = is_json_get(is_json_get(p, "samples"), metric);
    *n = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
    if (*n == 0) return NULL;
    double *x = is_xmalloc((size_t)*n * sizeof *x);
    int k = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) x[k++] = v->valuedouble; // validated: finite numbers
    return x;
}

static void row_init(is_compare_row *r, const char *key, const cJSON *config, is_results_kind kind) {
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->config = config;
    r->kind = kind;
    r->base_median = r->new_median = NAN;
    r->ratio = r->ci_lo = r->ci_hi = NAN;
    r->verdict = IS_VERDICT_NONE;
}

// The failure message of a point, shortened for a note.
static const char *point_error(const cJSON *p) {
    const char *e = is_json_str(p, "error");
    return e ? e : "no message";
}

// The best value of each of the runs' consecutive blocks of x (runs blocks of
// n / runs): the highest where higher is better, else the lowest.
static double *run_best(const double *x, int n, int runs, bool higher_is_better) {
    double *m = is_xmalloc((size_t)runs * sizeof *m);
    int per = n / runs;
    for (int k = 0; k < runs; k++) {
        double b = x[(size_t)k * per];
        for (int j = 1; j < per; j++) {
            double v = x[(size_t)k * per + j];
            if (higher_is_better ? v > b : v < b) b = v;
        }
        m[k] = b;
    }
    return m;
}

// The median of each of the runs' consecutive blocks of x (runs blocks of n / runs).
static double *run_median(const double *x, int n, int runs) {
    double *m = is_xmalloc((size_t)runs * sizeof *m);
    int per = n / runs;
    for (int k = 0; k < runs; k++) m[k] = is_median(x + (size_t)k * per, per);
    return m;
}

// Whether a paired compare judges a metric on each run's median rather than its
// best value: a per-request metric of a serve document (compare.h, paired).
static bool paired_by_median(is_results_kind kind, const is_metric_def *m) {
    return kind == IS_RESULTS_KIND_SERVE && m->per_request;
}

// Paired: run k of BASE against run k of NEW (is_paired_ratio_ci of the runs'
// best values: interference on a shared machine only ever slows a repetition
// down, so a run's fastest repetition is the one least disturbed; of the runs'
// medians for paired_by_median). -1 (err) when a side's samples do not split
// into runs equal runs.
static int row_paired(is_compare_row *r, const double *xb, int nb, const double *xn, int nn, const is_metric_def *m,
                      const is_compare_opts *o, int runs, is_err *err) {
    if (nb % runs || nn % runs)
        return is_errf(err, "paired compare: point %s has %d %s samples in BASE and %d in NEW, which do not split "
                            "into %d runs of equal size: merged files of runs with fixed repetitions compare paired",
                       r->key, nb, m->name, nn, runs);
    bool by_median = paired_by_median(r->kind, m);
    double *mb = by_median ? run_median(xb, nb, runs) : run_best(xb, nb, runs, m->higher_is_better);
    double *mn = by_median ? run_median(xn, nn, runs) : run_best(xn, nn, runs, m->higher_is_better);
    if (is_paired_ratio_ci(mb, mn, runs, 0.95, &r->ratio, &r->ci_lo, &r->ci_hi) != 0) {
        r->ratio = r->ci_lo = r->ci_hi = NAN;
        snprintf(r->note, sizeof r->note, "a run's %s %s is not positive: no log-ratio", by_median ? "median" : "best",
                 m->name);
    } else {
        r->n_pairs = runs;
        if (isnan(r->ci_lo))
            snprintf(r->note, sizeof r->note, "%d pair%s of runs: too few for an interval", runs,
                     runs == 1 ? "" : "s");
        else
            snprintf(r->note, sizeof r->note, "%d pairs of runs", runs);
        r->verdict = is_compare_verdict_paired(r->ratio, r->ci_lo, r->ci_hi, o->threshold, m->higher_is_better);
    }
    free(mb);
    free(mn);
    return 0;
}

// Fills the medians, ratio and verdict of a row whose point is in both files.
// Returns -1 (err) when paired and a side's samples do not split into its runs.
static int row_compare(is_compare_row *r, const cJSON *pb, const cJSON *pn, const is_metric_def *m,
                       const is_compare_opts *o, int runs, is_err *err) {
    bool ok_b = is_results_point_ok(pb), ok_n = is_results_point_ok(pn);
    if (!ok_b && !ok_n) {
        snprintf(r->note, sizeof r->note, "failed in both: %s", point_error(pn));
        return 0;
    }
    if (!ok_b || !ok_n) {
        snprintf(r->note, sizeof r->note, "failed in %s: %s", ok_b ? "NEW" : "BASE", point_error(ok_b ? pn : pb));
        return 0;
    }
    int nb, nn;
    double *xb = point_samples(pb, m->name, &nb), *xn = point_samples(pn, m->name, &nn);
    if (nb) r->base_median = is_median(xb, nb);
    if (nn) r->new_median = is_median(xn, nn);
    int rc = 0;
    if (!nb || !nn) {
        snprintf(r->note, sizeof r->note, "no %s samples in %s", m->name, !nb && !nn ? "either" : !nb ? "BASE" : "NEW");
    } else if (o->paired) {
        rc = row_paired(r, xb, nb, xn, nn, m, o, runs, err);
    } else if (is_bootstrap_ratio_ci(xb, nb, xn, nn, IS_BOOTSTRAP_RESAMPLES, 0.95, o->seed, &r->ratio, &r->ci_lo,
                                     &r->ci_hi) != 0) {
        r->ratio = r->ci_lo = r->ci_hi = NAN;
        snprintf(r->note, sizeof r->note, "median of BASE is 0: no ratio");
    } else {
        r->verdict = is_compare_verdict(r->ratio, r->ci_lo, r->ci_hi, o->threshold, m->higher_is_better);
    }
    free(xb);
    free(xn);
    return rc;
}

static bool point_throttled(const cJSON *p) {
    is_telemetry_view v;
    is_telemetry_read(p, &v);
    return v.throttled == 1;
}

// Adds "throttled in BASE|NEW|both" to a row's note.
static void row_throttle_note(is_compare_row *r, const cJSON *pb, const cJSON *pn) {
    r->throttled_base = pb && point_throttled(pb);
    r->throttled_new = pn && point_throttled(pn);
    if (!r->throttled_base && !r->throttled_new) return;
    const char *where = r->throttled_base && r->throttled_new ? "both" : r->throttled_base ? "BASE" : "NEW";
    size_t k = strlen(r->note);
    snprintf(r->note + k, sizeof r->note - k, "%sthrottled in %s", k ? "; " : "", where);
}

int is_compare(const cJSON *base, const cJSON *nw, const is_compare_opts *o, is_compare_row **rows, int *n_rows,
               is_err *err) {
    *rows = NULL;
    *n_rows = 0;
    if (is_results_validate(base, "BASE", err) || is_results_validate(nw, "NEW", err)) return -1;
    is_results_kind kind = is_results_kind_of(base);
    if (kind != is_results_kind_of(nw))
        return is_errf(err, "BASE is a %s result, NEW a %s result: only results of the same command compare",
                       is_results_kind_name(kind), is_results_kind_name(is_results_kind_of(nw)));
    const char *metric = o->metric ? o->metric : is_results_default_metric(base);
    const is_metric_def *m = is_metric_find_for(kind, metric);
    if (!m) {
        int n_defs;
        const is_metric_def *defs = is_results_metric_defs(kind, &n_defs);
        char known[512] = "";
        for (int i = 0; i < n_defs; i++) {
            size_t k = strlen(known);
            snprintf(known + k, sizeof known - k, "%s%s", i ? ", " : "", defs[i].name);
        }
        if (is_metric_find(metric))
            return is_errf(err, "metric \"%s\" is not measured by %s results (theirs: %s)", metric,
                           is_results_kind_name(kind), known);
        return is_errf(err, "unknown metric \"%s\" (known for %s results: %s)", metric, is_results_kind_name(kind),
                       known);
    }
    if (!(o->threshold > 0 && o->threshold < 1))
        return is_errf(err, "threshold %g is out of range: expected a fraction in (0, 1)", o->threshold);
    const char *mb = is_json_str(is_json_get(base, "sweep"), "model"), *mn = is_json_str(is_json_get(nw, "sweep"), "model");
    if ((mb || mn) && (!mb || !mn || strcmp(mb, mn) != 0))
        return is_errf(err, "BASE measures %s, NEW measures %s: only results of the same model compare",
                       mb ? mb : "an unnamed model", mn ? mn : "an unnamed model");

    int runs = is_results_runs(base);
    if (o->paired && runs > IS_SIGNED_RANK_MAX_N)
        return is_errf(err, "paired compare: %d runs; at most %d pairs of runs are judged", runs,
                       IS_SIGNED_RANK_MAX_N);
    if (o->paired && runs != is_results_runs(nw))
        return is_errf(err, "paired compare: BASE holds %d run%s, NEW %d: the two sides of interleaved runs hold as "
                            "many (ci/perf-gate --base merges them)",
                       runs, runs == 1 ? "" : "s", is_results_runs(nw));
    const cJSON *pts_b = is_json_get(base, "points"), *pts_n = is_json_get(nw, "points");
    int nb = cJSON_GetArraySize(pts_b), nn = cJSON_GetArraySize(pts_n);
    // keys of NEW's points, and whether each was matched already (a key that
    // repeats matches its occurrences in order)
    char(*keys_n)[sizeof((is_compare_row *)0)->key] = is_xmalloc((size_t)(nn ? nn : 1) * sizeof *keys_n);
    bool *used = is_xcalloc((size_t)(nn ? nn : 1), sizeof *used);
    const cJSON **pn_at = is_xmalloc((size_t)(nn ? nn : 1) * sizeof *pn_at);
    is_compare_row *out = is_xcalloc((size_t)(nb + nn ? nb + nn : 1), sizeof *out);
    int n = 0, rc = 0;
    int j = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, pts_n) {
        pn_at[j] = p;
        if (is_results_point_key(p, keys_n[j], sizeof keys_n[j]))
            rc = is_errf(err, "NEW: points[%d]: configuration too long to compare", j);
        j++;
    }
    int i = 0;
    cJSON_ArrayForEach(p, pts_b) {
        if (rc) break;
        char key[sizeof out->key];
        if (is_results_point_key(p, key, sizeof key)) {
            rc = is_errf(err, "BASE: points[%d]: configuration too long to compare", i);
            break;
        }
        is_compare_row *r = &out[n++];
        row_init(r, key, is_json_get(p, "config"), kind);
        r->in_base = true;
        int match = -1;
        for (int k = 0; k < nn && match < 0; k++)
            if (!used[k] && strcmp(keys_n[k], key) == 0) match = k;
        if (match < 0) {
            snprintf(r->note, sizeof r->note, "only in BASE");
            row_throttle_note(r, p, NULL);
        } else {
            used[match] = true;
            r->in_new = true;
            if (row_compare(r, p, pn_at[match], m, o, runs, err)) {
                rc = -1;
                break;
            }
            row_throttle_note(r, p, pn_at[match]);
        }
        i++;
    }
    for (int k = 0; k < nn && rc == 0; k++) {
        if (used[k]) continue;
        is_compare_row *r = &out[n++];
        row_init(r, keys_n[k], is_json_get(pn_at[k], "config"), kind);
        r->in_new = true;
        snprintf(r->note, sizeof r->note, "only in NEW");
        row_throttle_note(r, NULL, pn_at[k]);
    }
    free(keys_n);
    free(used);
    free(pn_at);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *n_rows = n;
    return 0;
}

// ---- Markdown ------------------------------------------------------------------

// The configuration columns shown when no field differs between the rows (one
// row, say), by kind: enough to name the point.
static const char *const default_columns[][5] = {
    [IS_RESULTS_KIND_BENCH] = {"model", "batch", "prompt", "gen"},
    [IS_RESULTS_KIND_KERNELS] = {"op", "tensor", "batch", "variant"},
    [IS_RESULTS_KIND_SERVE] = {"model", "arrival", "rate", "concurrency", "policy"},
};
#define MAX_CFG 32 // config fields of a kind, at most

static void cfg_value(const cJSON *config, const char *name, char *buf, size_t n) {
    const cJSON *v = is_json_get(config, name);
    if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) snprintf(buf, n, "%.15g", v->valuedouble);
    else snprintf(buf, n, "-");
}

static void fmt_value(char *buf, size_t n, double x) {
    if (!isfinite(x)) snprintf(buf, n, "-");
    else if (fabs(x) >= 1 || x == 0) snprintf(buf, n, "%.2f", x);
    else snprintf(buf, n, "%.3g", x);
}

// Under the title: the GEMM of each run, and a warning when they differ (a
// change in speed may then be the library's choice, not the code's).
static void gemm_lines(is_strbuf *b, const is_compare_opts *o) {
    bool hb = o->base_gemm && o->base_gemm[0], hn = o->new_gemm && o->new_gemm[0];
    if (!hb && !hn) return;
    if (hb && hn && !strcmp(o->base_gemm, o->new_gemm)) {
        is_sb_printf(b, "GEMM (both runs): %s\n\n", o->base_gemm);
        return;
    }
    is_sb_printf(b, "GEMM of BASE: %s\nGEMM of NEW: %s\n", hb ? o->base_gemm : "not recorded",
                 hn ? o->new_gemm : "not recorded");
    if (hb && hn)
        is_sb_printf(b, "**The two runs used different GEMMs**: a difference in speed may come from that choice "
                        "(a library's CPU table, a variant), not from the code.\n");
    is_sb_printf(b, "\n");
}

// Under the title: how noisy the machine was during each run, where recorded,
// so that a reader sees why a point came out unclear.
static void noise_lines(is_strbuf *b, const is_compare_opts *o) {
    bool hb = o->base_noise && o->base_noise[0], hn = o->new_noise && o->new_noise[0];
    if (!hb && !hn) return;
    is_sb_printf(b, "Machine during BASE: %s\nMachine during NEW: %s\n\n", hb ? o->base_noise : "not recorded",
                 hn ? o->new_noise : "not recorded");
}

char *is_compare_to_md(const is_compare_row *rows, int n, const is_compare_opts *o) {
    is_results_kind kind = n > 0 ? rows[0].kind : IS_RESULTS_KIND_BENCH;
    int n_cfg;
    const is_schema_field *fields = is_results_config_fields(kind, &n_cfg);
    IS_ASSERT(n_cfg <= MAX_CFG);
    const char *metric = o->metric ? o->metric : is_results_kind_default_metric(kind);
    const is_metric_def *m = is_metric_find_for(kind, metric);
    if (!m) m = is_metric_find(metric); // no rows to tell the kind
    const char *unit = m ? m->unit : "";
    is_strbuf b = {0};
    if (o->paired)
        is_sb_printf(&b, "Comparing %s (%s, %s is better), paired: run k of NEW against run k of BASE, taken one "
                     "after the other; ratio NEW / BASE of each run's %s (Hodges-Lehmann), 95%% "
                     "Wilcoxon signed-rank interval; threshold ±%.3g%% (\"slower\" or \"faster\" past it with the "
                     "whole interval past half of it, \"same\" with the whole interval within it)\n\n",
                     metric, m ? m->unit : "?", m && m->higher_is_better ? "higher" : "lower",
                     m && paired_by_median(kind, m) ? "median over its requests" : "best repetition", o->threshold * 100);
    else
        is_sb_printf(&b, "Comparing %s (%s, %s is better): NEW / BASE of medians, 95%% bootstrap interval; "
                     "threshold ±%.3g%%\n\n",
                     metric, m ? m->unit : "?", m && m->higher_is_better ? "higher" : "lower", o->threshold * 100);
    gemm_lines(&b, o);
    noise_lines(&b, o);

    // configuration columns that differ between rows; when none differs (one
    // row, say) default_columns name the rows
    bool show[MAX_CFG] = {false};
    int n_show = 0;
    for (int c = 0; c < n_cfg; c++) {
        char first[256], v[256];
        for (int r = 0; r < n; r++) {
            cfg_value(rows[r].config, fields[c].name, v, sizeof v);
            if (r == 0) snprintf(first, sizeof first, "%s", v);
            else if (strcmp(first, v) != 0) show[c] = true;
        }
        n_show += show[c];
    }
    if (n_show == 0) {
        for (int c = 0; c < n_cfg; c++)
            for (int d = 0; d < 5 && default_columns[kind][d]; d++)
                if (strcmp(fields[c].name, default_columns[kind][d]) == 0) show[c] = true;
        for (int c = 0; c < n_cfg; c++) n_show += show[c];
    }

    int nc = n_show + 7;
    char **cells = is_xcalloc((size_t)(n + 1) * (size_t)nc, sizeof *cells);
    bool *right = is_xcalloc((size_t)nc, sizeof *right);
    int k = 0;
    for (int c = 0; c < n_cfg; c++) {
        if (!show[c]) continue;
        right[k] = !fields[c].is_string; // numbers
        cells[k++] = is_xstrdup(fields[c].name);
    }
    char head[64];
    snprintf(head, sizeof head, "BASE %s", unit);
    cells[k++] = is_xstrdup(head);
    snprintf(head, sizeof head, "NEW %s", unit);
    cells[k++] = is_xstrdup(head);
    cells[k++] = is_xstrdup("ratio");
    cells[k++] = is_xstrdup("95% CI");
    cells[k++] = is_xstrdup("change");
    for (int c = n_show; c < k; c++) right[c] = true; // the numbers
    cells[k++] = is_xstrdup("verdict");
    cells[k++] = is_xstrdup("note");

    int count[IS_VERDICT_NONE + 1] = {0}, n_throttled = 0;
    for (int r = 0; r < n; r++) {
        const is_compare_row *row = &rows[r];
        char **cell = &cells[(r + 1) * nc];
        count[row->verdict]++;
        n_throttled += row->throttled_base || row->throttled_new;
        k = 0;
        for (int c = 0; c < n_cfg; c++) {
            if (!show[c]) continue;
            char v[256];
            cfg_value(row->config, fields[c].name, v, sizeof v);
            char t[512];
            is_md_cell_text(t, sizeof t, v);
            cell[k++] = is_xstrdup(t);
        }
        char vb[64], vn[64], ratio[64], ci[96], change[64];
        fmt_value(vb, sizeof vb, row->base_median);
        fmt_value(vn, sizeof vn, row->new_median);
        if (isfinite(row->ratio)) {
            snprintf(ratio, sizeof ratio, "%.3f", row->ratio);
            if (isfinite(row->ci_lo) && isfinite(row->ci_hi))
                snprintf(ci, sizeof ci, "[%.3f, %.3f]", row->ci_lo, row->ci_hi);
            else
                snprintf(ci, sizeof ci, "-");
            snprintf(change, sizeof change, "%+.1f%%", (row->ratio - 1) * 100);
        } else {
            snprintf(ratio, sizeof ratio, "-");
            snprintf(ci, sizeof ci, "-");
            snprintf(change, sizeof change, "-");
        }
        cell[k++] = is_xstrdup(vb);
        cell[k++] = is_xstrdup(vn);
        cell[k++] = is_xstrdup(ratio);
        cell[k++] = is_xstrdup(ci);
        cell[k++] = is_xstrdup(change);
        cell[k++] = is_xstrdup(is_verdict_name(row->verdict));
        char note[2 * sizeof row->note];
        is_md_cell_text(note, sizeof note, row->note);
        cell[k++] = is_xstrdup(note);
    }
    is_md_table(&b, (const char *const *)cells, n + 1, nc, right);
    for (int i = 0; i < (n + 1) * nc; i++) free(cells[i]);
    free(cells);
    free(right);
    is_sb_printf(&b, "\n%d point%s: %d faster, %d slower, %d same, %d unclear, %d not compared\n", n, n == 1 ? "" : "s",
              count[IS_VERDICT_FASTER], count[IS_VERDICT_SLOWER], count[IS_VERDICT_SAME],
              count[IS_VERDICT_UNCLEAR], count[IS_VERDICT_NONE]);
    if (n_throttled)
        is_sb_printf(&b, "%d point%s ran on a GPU that throttled (power cap, thermal or hardware slowdown) in BASE or "
                     "NEW: %s verdict%s stand%s as measured, but the clocks may explain part of the change\n",
                     n_throttled, n_throttled == 1 ? "" : "s", n_throttled == 1 ? "its" : "their",
                     n_throttled == 1 ? "" : "s", n_throttled == 1 ? "s" : "");
    return b.p;
}
