// serve_metrics.h — the metrics of a serving run from per-request timestamps:
// queue time, TTFT, TPOT, ITL, E2E (their mean, median and tail percentiles),
// request and token throughput, and goodput under service-level objectives.
// Definitions (README "Serving metrics"): every time is on one monotonic clock;
// a request's clock starts at its arrival.
//   queue time = first scheduled - arrival
//   TTFT       = first token on the host - arrival (queue + tokenize + prefill + first sample)
//   TPOT       = (done - first token) / (output tokens - 1), per request with >= 2 output tokens
//   ITL        = every gap between consecutive tokens of a request, pooled over requests
//   E2E        = done - arrival
//   duration   = last done - first arrival
//   goodput    = requests meeting every SLO given / duration
// Declares: is_req_timing, is_slo, is_slo_parse, is_slo_met, is_dist_summary,
// is_dist_summarize, is_serve_summary, is_serve_summarize.
#ifndef IS_BENCH_SERVE_METRICS_H
#define IS_BENCH_SERVE_METRICS_H

#include <stdbool.h>

#include "base/error.h"

typedef struct is_req_timing {
    double t_arrival;       // seconds
    double t_scheduled;     // first time any of its tokens ran in a step
    double t_first;         // first generated token on the host
    double t_done;          // last generated token on the host
    int n_prompt;           // prompt tokens
    int n_out;              // generated tokens (>= 1 for a finished request)
    const double *t_tokens; // [n_out] when each generated token reached the host (t_tokens[0] = t_first)
} is_req_timing;

// Service-level objectives in milliseconds; <= 0: not set.
typedef struct is_slo {
    double ttft_ms, tpot_ms, e2e_ms;
} is_slo;

// "ttft=500,tpot=50,e2e=4000" (any subset, any order, each once, values > 0 and
// finite); an unknown key, a repeated key or a bad value is an error naming it.
int is_slo_parse(const char *s, is_slo *out, is_err *err);
// Whether r meets every SLO set in slo (a request with one output token has no
// TPOT and meets a TPOT objective).
bool is_slo_met(const is_req_timing *r, const is_slo *slo);

typedef struct is_dist_summary {
    int n;                                      // values (0: every other field NaN)
    double mean, median, p90, p95, p99, min, max; // percentiles: is_quantile_sorted (linear)
} is_dist_summary;

// Summary of x[0..n) (x is not modified).
void is_dist_summarize(const double *x, int n, is_dist_summary *out);

typedef struct is_serve_summary {
    int n_requests;           // requests summarized
    double duration_s;        // last done - first arrival
    is_dist_summary queue_ms, ttft_ms, tpot_ms, itl_ms, e2e_ms;
    double req_per_s;         // n_requests / duration
    double in_tok_per_s;      // prompt tokens / duration
    double out_tok_per_s;     // generated tokens / duration
    int n_good;               // requests meeting every SLO (all of them when no SLO is set)
    double goodput_req_per_s; // n_good / duration
} is_serve_summary;

// Summarizes n >= 1 finished requests (t_arrival <= t_scheduled <= t_first <=
// t_done and n_out >= 1 are asserted, as are finite times and t_tokens running
// from t_first to t_done without going back). slo NULL: no SLO. A duration of 0
// (every request arrived and finished at one instant) gives NaN rates, not inf.
void is_serve_summarize(const is_req_timing *r, int n, const is_slo *slo, is_serve_summary *out);

#endif
