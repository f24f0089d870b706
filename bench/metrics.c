// metrics.c — TTFT, TPOT, E2E and ITL of one request from its token timestamps.
#include "bench/metrics.h"

#include <math.h>

#include "base/error.h"

void is_req_metrics_compute(double t_submit, const double *t, int n, is_req_metrics *out) {
    IS_ASSERT(n >= 1);
    out->ttft = t[0] - t_submit;
    out->e2e = t[n - 1] - t_submit;
    out->tpot = n >= 2 ? (t[n - 1] - t[0]) / (n - 1) : NAN;
}

int is_itl_gaps(const double *t, int n, double *gaps) {
    for (int i = 0; i + 1 < n; i++) gaps[i] = t[i + 1] - t[i];
    return n > 1 ? n - 1 : 0;
}
