// metrics.h — request metrics from per-token host timestamps, with the names and
// definitions of DESIGN.md ("Metrics"). Declares: is_req_metrics,
// is_req_metrics_compute, is_itl_gaps.
#ifndef IS_BENCH_METRICS_H
#define IS_BENCH_METRICS_H

typedef struct is_req_metrics {
    double ttft;  // t_first - t_submit
    double tpot;  // (t_done - t_first) / (n_out - 1); NaN when n_out < 2
    double e2e;   // t_done - t_submit
} is_req_metrics;

// One request: t[0..n) are the times its n >= 1 generated ids reached the host
// (same clock as t_submit; tokens delivered by one step share a time), and t_done
// is t[n - 1].
void is_req_metrics_compute(double t_submit, const double *t, int n, is_req_metrics *out);

// Inter-token latencies of one request: gaps[i] = t[i + 1] - t[i]; returns n - 1
// (0 when n < 2). Pooled over requests they form the ITL distribution; a step
// that delivers k tokens contributes k - 1 gaps of 0.
int is_itl_gaps(const double *t, int n, double *gaps);

#endif
