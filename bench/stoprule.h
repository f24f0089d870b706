// stoprule.h — when to stop repeating a measurement: at least min_n repetitions,
// then until the relative standard error of the mean of the main metric is at
// most max_noise, or max_time_s has passed, and never more than max_n. bench
// (repetitions of a point) and kernels (samples of a variant) follow it.
// Declares: is_stop_rule, is_stop_noise, is_stop_rule_check.
#ifndef IS_BENCH_STOPRULE_H
#define IS_BENCH_STOPRULE_H

typedef struct is_stop_rule {
    int min_n;              // at least this many repetitions
    int max_n;              // never more
    double max_time_s;      // once min_n is reached: stop when this long has passed since measuring began
    double max_noise;       // ... or when the noise is at most this (a fraction: 0.01 = 1%)
    const char *max_n_stop; // the reason recorded when max_n ends it ("max_reps", "max_samples")
} is_stop_rule;

// The noise of n samples of the main metric: sample stddev / |mean| / sqrt(n),
// the relative standard error of the mean; +inf when n < 2 (is_rel_noise for the rest).
double is_stop_noise(const double *v, int n);

// After count >= 1 repetitions, with the noise so far and the seconds since
// measuring began: NULL to take another, else why it stops ("noise",
// "max_time", or r->max_n_stop).
const char *is_stop_rule_check(const is_stop_rule *r, int count, double noise, double elapsed_s);

#endif
