// stats.h — statistics of repeated measurements: order statistics, moments,
// bootstrap confidence intervals and the paired signed-rank interval. Declares:
// is_stats, is_stats_compute, is_quantile_sorted, is_rel_noise, is_bootstrap_median_ci, is_bootstrap_ratio_ci,
// is_paired_ratio_ci, is_signed_rank_crit.
#ifndef IS_BENCH_STATS_H
#define IS_BENCH_STATS_H

#include <stdint.h>

#define IS_BOOTSTRAP_RESAMPLES 2000

typedef struct is_stats {
    int n;
    double median, mean, stddev; // stddev: sample standard deviation (n - 1); 0 when n == 1
    double min, max;
    double p50, p90, p99;        // is_quantile_sorted at 0.50, 0.90, 0.99
    double ci_lo, ci_hi;         // 95% bootstrap percentile interval of the median
} is_stats;

// Quantile q in [0, 1] of n >= 1 sorted values, linear interpolation between
// closest ranks (position q * (n - 1); numpy's default, Hyndman-Fan type 7).
// n < 1 or q outside [0, 1] (NaN included) is asserted.
double is_quantile_sorted(const double *sorted, int n, double q);

// Fills *out from x[0..n) (x is not modified). Bootstrap: IS_BOOTSTRAP_RESAMPLES
// resamples drawn from seed (is_bootstrap_median_ci at level 0.95, same cost
// rule). n == 0: every field NaN and n = 0. n == 1: stddev 0, every other field
// x[0]. NaN values in x are a programming error (IS_ASSERT).
void is_stats_compute(const double *x, int n, uint64_t seed, is_stats *out);

// Median of x[0..n) (x is not modified; NaN when n == 0): is_quantile_sorted at
// 0.5 of a sorted copy, without the bootstrap of is_stats_compute.
double is_median(const double *x, int n);

// Relative noise of x: sample stddev / |mean|; 0 when n < 2; +inf when mean is 0
// (all zeros included: no scale to be relative to).
double is_rel_noise(const double *x, int n);

// Percentile bootstrap interval at confidence `level` (0.95) of the median of
// x[0..n): n_boot resamples with replacement, each's median, and the
// (1-level)/2 and (1+level)/2 quantiles of those (is_quantile_sorted).
// Deterministic for (x, n, n_boot, seed); x is not modified. n == 0: lo = hi = NaN.
// Cost: when n * n_boot passes 2e8 drawn values (about 0.4 s), fewer resamples
// are drawn, 2e8 / n but never below 200, so a call stays under about a second up
// to n ~ 10^6 and grows linearly past that. n_boot >= 1 and 0 < level < 1 are
// asserted, as is the absence of NaN in x.
void is_bootstrap_median_ci(const double *x, int n, int n_boot, double level, uint64_t seed, double *lo,
                            double *hi);

// Ratio of medians median(nw) / median(base), and a percentile bootstrap
// interval of it: each resample draws base and nw independently with
// replacement. Returns -1 when the median of base is 0 (ratio undefined) or
// either sample is empty, with *ratio, *lo and *hi NaN; else 0. A resample whose
// base median is 0 is left out of the interval instead of adding inf or NaN
// (it cannot happen for positive data such as timings; where it is frequent,
// the interval describes only the resamples with a ratio). If every resample is
// left out, lo = hi = NaN and the return is still 0. Resample count reduced as
// for is_bootstrap_median_ci, with n = nb + nn.
int is_bootstrap_ratio_ci(const double *base, int nb, const double *nw, int nn, int n_boot, double level,
                          uint64_t seed, double *ratio, double *lo, double *hi);

// The paired ratio of n pairs (base[i], nw[i]), each pair measured close in
// time (two interleaved runs: ci/perf-gate --base): with the log-ratios
// d_i = log(nw[i] / base[i]), *ratio = exp(the Hodges-Lehmann estimate: the
// median of the n(n+1)/2 Walsh averages (d_i + d_j) / 2, i <= j), and [*lo, *hi]
// = exp of the distribution-free interval that inverts the Wilcoxon signed-rank
// test at `level`: Walsh averages number c and m + 1 - c in sorted order, c =
// is_signed_rank_crit(n, level). Exact for any n (no bootstrap), valid when the
// log-ratios are symmetric about their centre, and robust: one pair from a run
// that the machine slowed by 15% moves the estimate by one Walsh rank, not by
// 15% / n. Drift that both members of a pair share cancels in d_i. Returns -1
// with all three NaN when n == 0 or a value is not finite and > 0; else 0, with
// *lo = *hi = NaN when n is too small for an interval at this level (n < 6 at 0.95).
// 0 <= n <= IS_SIGNED_RANK_MAX_N is asserted.
int is_paired_ratio_ci(const double *base, const double *nw, int n, double level, double *ratio, double *lo,
                       double *hi);

// The critical count c of the two-sided Wilcoxon signed-rank test of n pairs at
// `level`: the largest c with P(T+ <= c - 1) <= (1 - level) / 2 under the null
// (each sign equally likely), from the exact distribution; 0 when no interval
// exists (n < 6 at 0.95). The rejection region is T+ <= c - 1; tables list c - 1
// (n = 10 at 0.95: 8).
#define IS_SIGNED_RANK_MAX_N 200 // the exact distribution's table: O(n^3) work
int is_signed_rank_crit(int n, double level);

#endif
