// stats.c — order statistics, moments and percentile-bootstrap intervals of
// repeated measurements.
//
// Bootstrap medians without sorting a resample: once x is sorted into s, a
// resample with replacement is a multiset of indices into s, and because s is
// non-decreasing the k-th smallest resampled value is s[k-th smallest index].
// So each resample only counts how often each index was drawn (O(n), no
// comparisons) and walks the counts to the middle: the same result as sorting
// the resample, at the cost of one pass over an int array that stays in cache
// for the pooled sample sizes we see (n up to ~10^5).
#include "base/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h" // defines: IS_ASSERT, is_xmalloc
#include "base/rng.h"   // defines: is_rng, is_rng_seed, is_rng_next

// One call draws at most about this many indices (n * resamples); above it the
// resample count is reduced so a call stays well under a second.
#define ST_MAX_DRAWS 200000000.0
// Never fewer resamples than this: the 2.5% tail of 200 medians is 5 values, so
// an interval end still rests on several resamples rather than on one extreme.
#define ST_MIN_RESAMPLES 200

static int st_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void st_assert_no_nan(const double *x, int n) {
    for (int i = 0; i < n; i++) IS_ASSERT(!isnan(x[i]));
}

// A sorted copy of x[0..n), n >= 1 (caller frees).
static double *st_sorted_copy(const double *x, int n) {
    double *s = is_xmalloc((size_t)n * sizeof *s);
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, st_cmp_double);
    return s;
}

// The midpoint written as is_quantile_sorted writes it at q = 0.5, so that a
// median here and p50 agree to the last bit.
static inline double st_mid(double a, double b) { return a + 0.5 * (b - a); }

double is_median(const double *x, int n) {
    if (n == 0) return NAN;
    st_assert_no_nan(x, n);
    double *s = st_sorted_copy(x, n);
    double m = is_quantile_sorted(s, n, 0.5);
    free(s);
    return m;
}

double is_quantile_sorted(const double *sorted, int n, double q) {
    IS_ASSERT(n >= 1);
    IS_ASSERT(q >= 0.0 && q <= 1.0); // also rejects NaN
    double pos = q * (double)(n - 1);
    int i = (int)pos; // floor: pos >= 0
    if (i >= n - 1) return sorted[n - 1];
    double frac = pos - (double)i;
    if (frac == 0.0) return sorted[i]; // exact rank: no 0 * inf when a neighbour is infinite
    return sorted[i] + frac * (sorted[i + 1] - sorted[i]);
}

// Uniform index in [0, n): multiply-shift of 64 random bits (Lemire). The bias is
// at most n / 2^64 per index, far below anything a bootstrap can resolve, and it
// avoids the division of a modulo.
static inline int st_draw_index(is_rng *r, int n) {
    return (int)(((unsigned __int128)is_rng_next(r) * (uint64_t)n) >> 64);
}

// The median of one resample with replacement of the sorted s[0..n), using
// counts[0..n) as scratch (see the file comment).
static double st_resample_median(is_rng *r, const double *s, int n, int *counts) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int i = 0; i < n; i++) counts[st_draw_index(r, n)]++;
    // k: rank (0-based) of the lower middle; cum: draws at indices <= j
    int k = (n - 1) / 2, j = 0, cum = counts[0];
    while (cum <= k) cum += counts[++j];
    if (n % 2 == 1 || cum > k + 1) return s[j]; // odd n, or both middles share index j
    int lo = j;
    do cum += counts[++j];
    while (cum <= k + 1);
    return st_mid(s[lo], s[j]);
}

static double st_median_sorted(const double *s, int n) {
    int k = (n - 1) / 2;
    return n % 2 == 1 ? s[k] : st_mid(s[k], s[k + 1]);
}

// Resamples actually drawn for n values: n_boot, reduced when n * n_boot passes
// ST_MAX_DRAWS, never below ST_MIN_RESAMPLES (or n_boot when that is smaller).
static int st_effective_resamples(int n, int n_boot) {
    double cap = ST_MAX_DRAWS / (double)n;
    if ((double)n_boot <= cap) return n_boot;
    int m = (int)cap;
    if (m < ST_MIN_RESAMPLES) m = ST_MIN_RESAMPLES;
    return m < n_boot ? m : n_boot;
}

// The (1-level)/2 and (1+level)/2 quantiles of v[0..m) (sorted in place).
static void st_percentile_interval(double *v, int m, double level, double *lo, double *hi) {
    qsort(v, (size_t)m, sizeof *v, st_cmp_double);
    *lo = is_quantile_sorted(v, m, 0.5 * (1.0 - level));
    *hi = is_quantile_sorted(v, m, 0.5 * (1.0 + level));
}

static void st_check_boot_args(int n_boot, double level) {
    IS_ASSERT(n_boot >= 1);
    IS_ASSERT(level > 0.0 && level < 1.0);
}

// is_bootstrap_median_ci on data already sorted: is_stats_compute sorts once.
static void st_median_ci_sorted(const double *s, int n, int n_boot, double level, uint64_t seed, double *lo,
                                double *hi) {
    int m = st_effective_resamples(n, n_boot);
    int *counts = is_xmalloc((size_t)n * sizeof *counts);
    double *meds = is_xmalloc((size_t)m * sizeof *meds);
    is_rng r;
    is_rng_seed(&r, seed);
    for (int b = 0; b < m; b++) meds[b] = st_resample_median(&r, s, n, counts);
    st_percentile_interval(meds, m, level, lo, hi);
    free(meds);
    free(counts);
}

void is_bootstrap_median_ci(const double *x, int n, int n_boot, double level, uint64_t seed, double *lo,
                            double *hi) {
    st_check_boot_args(n_boot, level);
    IS_ASSERT(n >= 0);
    if (n == 0) {
        *lo = *hi = NAN;
        return;
    }
    st_assert_no_nan(x, n);
    double *s = st_sorted_copy(x, n);
    st_median_ci_sorted(s, n, n_boot, level, seed, lo, hi);
    free(s);
}

// Mean and sample stddev (n - 1), two passes: the second pass on deviations keeps
// the variance accurate when the spread is tiny next to the mean, as with timings.
static void st_moments(const double *x, int n, double *mean, double *stddev) {
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += x[i];
    double m = sum / (double)n, ss = 0.0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *stddev = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
}

void is_stats_compute(const double *x, int n, uint64_t seed, is_stats *out) {
    IS_ASSERT(n >= 0);
    if (n == 0) {
        out->n = 0;
        out->median = out->mean = out->stddev = out->min = out->max = NAN;
        out->p50 = out->p90 = out->p99 = out->ci_lo = out->ci_hi = NAN;
        return;
    }
    st_assert_no_nan(x, n);
    double *s = st_sorted_copy(x, n);
    out->n = n;
    st_moments(x, n, &out->mean, &out->stddev);
    out->min = s[0];
    out->max = s[n - 1];
    out->p50 = is_quantile_sorted(s, n, 0.50);
    out->p90 = is_quantile_sorted(s, n, 0.90);
    out->p99 = is_quantile_sorted(s, n, 0.99);
    out->median = st_median_sorted(s, n);
    st_median_ci_sorted(s, n, IS_BOOTSTRAP_RESAMPLES, 0.95, seed, &out->ci_lo, &out->ci_hi);
    free(s);
}

double is_rel_noise(const double *x, int n) {
    IS_ASSERT(n >= 0);
    if (n < 2) return 0.0;
    st_assert_no_nan(x, n);
    double mean, sd;
    st_moments(x, n, &mean, &sd);
    if (mean == 0.0) return INFINITY;
    return sd / fabs(mean);
}

int is_bootstrap_ratio_ci(const double *base, int nb, const double *nw, int nn, int n_boot, double level,
                          uint64_t seed, double *ratio, double *lo, double *hi) {
    st_check_boot_args(n_boot, level);
    IS_ASSERT(nb >= 0 && nn >= 0);
    *ratio = *lo = *hi = NAN;
    if (nb == 0 || nn == 0) return -1;
    st_assert_no_nan(base, nb);
    st_assert_no_nan(nw, nn);
    double *sb = st_sorted_copy(base, nb), *sn = st_sorted_copy(nw, nn);
    double mb = st_median_sorted(sb, nb);
    int rc = -1;
    if (mb != 0.0) {
        *ratio = st_median_sorted(sn, nn) / mb;
        // one resample draws nb + nn indices
        int m = st_effective_resamples(nb + nn, n_boot);
        int *counts = is_xmalloc((size_t)(nb > nn ? nb : nn) * sizeof *counts);
        double *r = is_xmalloc((size_t)m * sizeof *r);
        is_rng g;
        is_rng_seed(&g, seed);
        int kept = 0;
        for (int b = 0; b < m; b++) {
            double db = st_resample_median(&g, sb, nb, counts);
            double dn = st_resample_median(&g, sn, nn, counts);
            // A zero base median has no ratio: the resample is dropped rather than
            // letting an inf or NaN into the interval (see the header).
            if (db != 0.0) r[kept++] = dn / db;
        }
        if (kept > 0) st_percentile_interval(r, kept, level, lo, hi);
        free(r);
        free(counts);
        rc = 0;
    }
    free(sn);
    free(sb);
    return rc;
}

int is_signed_rank_crit(int n, double level) {
    IS_ASSERT(level > 0 && level < 1);
    if (n < 1) return 0;
    IS_ASSERT(n <= IS_SIGNED_RANK_MAX_N);
    // null distribution of T+ (the sum of the ranks with a positive sign): each of
    // the 2^n sign patterns equally likely; ways[t] = patterns with T+ = t
    int m = n * (n + 1) / 2;
    double *ways = is_xcalloc((size_t)m + 1, sizeof *ways);
    ways[0] = 1;
    for (int r = 1; r <= n; r++)
        for (int t = r * (r + 1) / 2; t >= r; t--) ways[t] += ways[t - r];
    double alpha_half = (1 - level) / 2, total = ldexp(1.0, n), cum = 0;
    int c = 0; // the largest c with P(T+ <= c - 1) <= alpha / 2
    for (int t = 0; t <= m; t++) {
        cum += ways[t] / total;
        if (cum > alpha_half * (1 + 1e-12)) break;
        c = t + 1;
    }
    free(ways);
    return c;
}

int is_paired_ratio_ci(const double *base, const double *nw, int n, double level, double *ratio, double *lo,
                       double *hi) {
    IS_ASSERT(n >= 0 && n <= IS_SIGNED_RANK_MAX_N);
    *ratio = *lo = *hi = NAN;
    if (n == 0) return -1;
    for (int i = 0; i < n; i++)
        if (!(base[i] > 0.0 && nw[i] > 0.0 && isfinite(base[i]) && isfinite(nw[i]))) return -1;
    int m = n * (n + 1) / 2, k = 0;
    double *d = is_xmalloc((size_t)n * sizeof *d), *w = is_xmalloc((size_t)m * sizeof *w);
    for (int i = 0; i < n; i++) d[i] = log(nw[i] / base[i]);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++) w[k++] = st_mid(d[i], d[j]); // the Walsh averages
    qsort(w, (size_t)m, sizeof *w, st_cmp_double);
    *ratio = exp(st_median_sorted(w, m));
    int c = is_signed_rank_crit(n, level);
    if (c >= 1) { // else too few pairs for an interval at this level: NaN
        *lo = exp(w[c - 1]);
        *hi = exp(w[m - c]);
    }
    free(d);
    free(w);
    return 0;
}
