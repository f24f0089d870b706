// compare.h — two result files, points matched by configuration, the ratio
// NEW/BASE of one metric's median with a bootstrap interval, and a verdict a CI
// job can gate on; or, for the merged results of interleaved runs
// (ci/perf-gate --base), the paired ratio of run k of BASE to run k of NEW. Declares: is_verdict,
// is_compare_row, is_compare, is_compare_verdict, is_compare_verdict_paired,
// is_compare_to_md. The command is app/cmd_compare.c.
#ifndef IS_REPORTS_COMPARE_H
#define IS_REPORTS_COMPARE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "reports/results.h" // defines: is_results_kind

typedef enum {
    IS_VERDICT_SAME,     // |ratio - 1| within the threshold
    IS_VERDICT_FASTER,   // past the threshold in the good direction, interval excludes 1
    IS_VERDICT_SLOWER,   // past the threshold in the bad direction, interval excludes 1
    IS_VERDICT_UNCLEAR,  // past the threshold but the interval includes 1 (too noisy to say)
    IS_VERDICT_NONE,     // not comparable: the point is in one file only, or failed in one
} is_verdict;

const char *is_verdict_name(is_verdict v); // "same", "faster", "slower", "unclear", "-"

typedef struct is_compare_row {
    char key[512];           // is_results_point_key
    const cJSON *config;     // borrowed from the base (or new) document
    is_results_kind kind;    // of both documents: the config fields and metrics the table shows
    bool in_base, in_new;
    double base_median, new_median;
    double ratio, ci_lo, ci_hi; // NEW / BASE of medians, 95% bootstrap interval; NaN when not compared
                                // (paired: is_paired_ratio_ci of the runs' best values; the interval NaN
                                // when too few runs for one)
    int n_pairs;             // paired: the pairs of runs judged; 0 unpaired or not compared
    is_verdict verdict;
    bool throttled_base, throttled_new; // the GPU throttled during the point's timed repetitions
                                        // (its telemetry section, reports/telemetry.h)
    char note[160];          // "only in BASE", "failed in NEW: ...", "throttled in NEW", ...
} is_compare_row;

#define IS_COMPARE_SEED 0x1f2e3d4c5b6a7988ULL // the bootstrap seed of the command: same files, same output
#define IS_COMPARE_DEFAULT_METRIC "decode_tps"
#define IS_COMPARE_DEFAULT_THRESHOLD_PCT 5.0

typedef struct is_compare_opts {
    const char *metric;      // a metric of the documents' kind (is_metric_find_for); NULL:
                             // is_results_default_metric of base
    double threshold;        // relative, 0.05 = 5%
    uint64_t seed;           // bootstrap seed (fixed by the CLI: same files, same output)
    // the GEMM each run used (is_results_env_gemm of its document's "env"; NULL or
    // "": not recorded), shown under the title, with a warning when they differ
    const char *base_gemm, *new_gemm;
    // Paired: BASE and NEW each merge R runs (reports/merge.h), run k of BASE and
    // run k of NEW taken one after the other (interleaved: ci/perf-gate --base),
    // so each pair shares the machine's drift. Each point is judged on the R
    // pairs of the runs' best repetitions (the highest value where higher is
    // better, else the lowest) by is_paired_ratio_ci and is_compare_verdict_paired;
    // a per-request metric of serve documents (ttft_ms: one sample per request,
    // from the first request at an idle server to the last in a full queue) on
    // the R pairs of the runs' medians instead: the lowest request of a run is
    // where no queue formed, not the least disturbed repetition.
    bool paired;
    // How noisy the machine was during each run (is_results_env_noise of its
    // "env"; NULL or "": not recorded), shown under the title.
    const char *base_noise, *new_noise;
} is_compare_opts;

// ratio and its interval -> verdict, for a metric where higher (or lower) is better.
// d = ratio - 1: |d| <= threshold is SAME; past it, FASTER or SLOWER (by the
// direction of d and higher_is_better) when [lo, hi] lies wholly on d's side of 1,
// else UNCLEAR. A ratio that is not finite is NONE.
is_verdict is_compare_verdict(double ratio, double lo, double hi, double threshold, bool higher_is_better);

// The verdict of a paired ratio, with a minimum effect: FASTER or SLOWER when
// the ratio is past the threshold and the whole interval past half of it (on a
// shared machine the interval of a handful of runs is wide, and an interval
// that merely excludes 1 let two runs of one build differ now and then); SAME
// only when the whole interval lies within 1 ± threshold, so that a wide
// interval is UNCLEAR rather than "same" by its point estimate (the gate then
// takes more runs); else UNCLEAR, as when the interval is NaN (too few pairs).
// A ratio that is not finite is NONE.
is_verdict is_compare_verdict_paired(double ratio, double lo, double hi, double threshold, bool higher_is_better);

// Matches points of base and nw by key; rows: points of base in base order, then
// points only in nw. A point compares when it is "ok" in both and both hold
// samples of the metric; otherwise its row is NONE with a note (a base median of 0
// too). A per-request metric compares the medians of every request's sample
// pooled over the repetitions (ttft_ms: the median TTFT); a per-repetition one
// the medians over the repetitions (ttft_p99_ms: the typical repetition's tail). A point whose GPU throttled in BASE or NEW gets a note ("throttled in
// NEW") and keeps its verdict: the figures are what was measured, and a change
// that makes the GPU throttle (more power drawn, say) is a real slowdown a CI
// gate must still see; the note says the clocks, not the code alone, may
// explain the difference. Medians are of the raw samples; the interval is is_bootstrap_ratio_ci
// seeded with o->seed. *rows is malloc'd (caller frees). Error (-1) when either
// document is invalid, the metric is not one of the documents' kind
// (is_metric_find_for), the threshold is not in (0, 1), the two sweeps measure
// different models ("sweep"."model"), or the documents are of different kinds
// (bench, kernels, serve: "BASE is a serve result, NEW a bench result: ..."). Paired (o->paired): both documents must hold as
// many runs (is_results_runs), and each side's samples of the metric at a point
// compared in both must split into that many runs of equal size (error -1
// naming the point otherwise: the files are not two sides of interleaved runs).
int is_compare(const cJSON *base, const cJSON *nw, const is_compare_opts *o, is_compare_row **rows,
               int *n_rows, is_err *err);

// A Markdown table: configuration columns that differ between points, base and new
// medians, ratio [lo, hi], verdict; then a summary line (counts per verdict).
char *is_compare_to_md(const is_compare_row *rows, int n, const is_compare_opts *o);

#endif
