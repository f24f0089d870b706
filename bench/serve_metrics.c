// serve_metrics.c — see serve_metrics.h.
//
// Per-request values are taken from the timestamp fields (t_first, t_done), so
// is_slo_met needs no t_tokens; is_serve_summarize reads t_tokens for the ITL and
// asserts that it agrees with those fields (t_tokens[0] = t_first, t_tokens[n_out
// - 1] = t_done, non-decreasing), so TPOT and the ITL describe the same tokens.
//
// A run whose duration is 0 (every request arrived and finished at one instant)
// has no rate: the four per-second fields are NaN rather than inf.
#include "bench/serve_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/stats.h"    // defines: is_quantile_sorted
#include "bench/metrics.h" // defines: is_itl_gaps

#define SM_SLO_EXPECTED "expected KEY=MS with KEY ttft, tpot or e2e and MS > 0"

// ---------------------------------------------------------------- SLO

static const char *const sm_slo_keys[3] = {"ttft", "tpot", "e2e"};

// Index in sm_slo_keys of the key key[0..len), -1 when it names none.
static int sm_slo_key(const char *key, size_t len) {
    for (int i = 0; i < 3; i++)
        if (strlen(sm_slo_keys[i]) == len && memcmp(sm_slo_keys[i], key, len) == 0) return i;
    return -1;
}

// One "KEY=MS" item, item[0..len), into *slo; seen[] marks the keys given so far.
static int sm_slo_item(const char *item, size_t len, is_slo *slo, bool seen[3], is_err *err) {
    int n = (int)len;
    const char *eq = memchr(item, '=', len);
    if (!eq) return is_errf(err, "--slo \"%.*s\": " SM_SLO_EXPECTED, n, item);
    size_t klen = (size_t)(eq - item);
    int k = sm_slo_key(item, klen);
    if (k < 0)
        return is_errf(err, "--slo \"%.*s\": unknown key \"%.*s\": " SM_SLO_EXPECTED, n, item, (int)klen, item);
    if (seen[k]) return is_errf(err, "--slo: \"%s\" given twice", sm_slo_keys[k]);
    seen[k] = true;

    char buf[64];
    size_t vlen = len - klen - 1;
    const char *v = eq + 1;
    // strtod skips leading spaces and accepts "+": "ttft= 5" and "ttft=+5" are not numbers here
    if (vlen == 0 || vlen >= sizeof buf || !(v[0] == '.' || (v[0] >= '0' && v[0] <= '9')))
        return is_errf(err, "--slo \"%.*s\": " SM_SLO_EXPECTED, n, item);
    memcpy(buf, v, vlen);
    buf[vlen] = 0;
    char *end;
    double ms = strtod(buf, &end);
    if (*end || !isfinite(ms) || !(ms > 0)) return is_errf(err, "--slo \"%.*s\": " SM_SLO_EXPECTED, n, item);
    double *fields[3] = {&slo->ttft_ms, &slo->tpot_ms, &slo->e2e_ms};
    *fields[k] = ms;
    return 0;
}

int is_slo_parse(const char *s, is_slo *out, is_err *err) {
    if (!s || !*s) return is_errf(err, "--slo: empty: " SM_SLO_EXPECTED ", joined by commas");
    is_slo slo = {0};
    bool seen[3] = {false, false, false};
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0) return is_errf(err, "--slo \"%s\": empty item: " SM_SLO_EXPECTED ", joined by commas", s);
        if (sm_slo_item(p, len, &slo, seen, err)) return -1;
        if (!comma) break;
        p = comma + 1;
    }
    *out = slo;
    return 0;
}

// TTFT, TPOT (NaN when n_out < 2) and E2E of r in milliseconds.
static void sm_req_ms(const is_req_timing *r, double *ttft, double *tpot, double *e2e) {
    *ttft = (r->t_first - r->t_arrival) * 1000.0;
    *tpot = r->n_out >= 2 ? (r->t_done - r->t_first) / (r->n_out - 1) * 1000.0 : NAN;
    *e2e = (r->t_done - r->t_arrival) * 1000.0;
}

bool is_slo_met(const is_req_timing *r, const is_slo *slo) {
    if (!slo) return true;
    double ttft, tpot, e2e;
    sm_req_ms(r, &ttft, &tpot, &e2e);
    if (slo->ttft_ms > 0 && !(ttft <= slo->ttft_ms)) return false;
    if (slo->tpot_ms > 0 && r->n_out >= 2 && !(tpot <= slo->tpot_ms)) return false;
    if (slo->e2e_ms > 0 && !(e2e <= slo->e2e_ms)) return false;
    return true;
}

// ---------------------------------------------------------------- distributions

static int sm_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void is_dist_summarize(const double *x, int n, is_dist_summary *out) {
    IS_ASSERT(n >= 0);
    out->n = n;
    if (n == 0) {
        out->mean = out->median = out->p90 = out->p95 = out->p99 = out->min = out->max = NAN;
        return;
    }
    double *s = is_xmalloc((size_t)n * sizeof *s);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        IS_ASSERT(!isnan(x[i]));
        s[i] = x[i];
        sum += x[i];
    }
    qsort(s, (size_t)n, sizeof *s, sm_cmp_double);
    out->mean = sum / n;
    out->median = is_quantile_sorted(s, n, 0.50);
    out->p90 = is_quantile_sorted(s, n, 0.90);
    out->p95 = is_quantile_sorted(s, n, 0.95);
    out->p99 = is_quantile_sorted(s, n, 0.99);
    out->min = s[0];
    out->max = s[n - 1];
    free(s);
}

// ---------------------------------------------------------------- a run

// The contract of one finished request; finite ends and the ordering also rule
// out NaN anywhere in between (every comparison with NaN is false).
static void sm_assert_request(const is_req_timing *r) {
    IS_ASSERT(isfinite(r->t_arrival) && isfinite(r->t_done));
    IS_ASSERT(r->t_arrival <= r->t_scheduled && r->t_scheduled <= r->t_first && r->t_first <= r->t_done);
    IS_ASSERT(r->n_out >= 1 && r->n_prompt >= 0);
    IS_ASSERT(r->t_tokens != NULL);
    IS_ASSERT(r->t_tokens[0] == r->t_first && r->t_tokens[r->n_out - 1] == r->t_done);
    for (int i = 0; i + 1 < r->n_out; i++) IS_ASSERT(r->t_tokens[i] <= r->t_tokens[i + 1]);
}

static double sm_rate(double count, double duration_s) { return duration_s > 0 ? count / duration_s : NAN; }

void is_serve_summarize(const is_req_timing *r, int n, const is_slo *slo, is_serve_summary *out) {
    IS_ASSERT(n >= 1 && r != NULL);
    long long n_gaps = 0;
    for (int i = 0; i < n; i++) {
        sm_assert_request(&r[i]);
        n_gaps += r[i].n_out - 1;
    }
    IS_ASSERT(n_gaps <= 0x7fffffff); // is_dist_summarize counts in int

    double *queue = is_xmalloc((size_t)n * sizeof *queue); // [n]
    double *ttft = is_xmalloc((size_t)n * sizeof *ttft);   // [n]
    double *tpot = is_xmalloc((size_t)n * sizeof *tpot);   // [requests with n_out >= 2]
    double *e2e = is_xmalloc((size_t)n * sizeof *e2e);     // [n]
    double *itl = is_xmalloc((size_t)n_gaps * sizeof *itl); // [sum of n_out - 1]
    int n_tpot = 0, n_itl = 0, n_good = 0;
    double t_begin = r[0].t_arrival, t_end = r[0].t_done, in_tok = 0, out_tok = 0;
    for (int i = 0; i < n; i++) {
        const is_req_timing *q = &r[i];
        double tp;
        queue[i] = (q->t_scheduled - q->t_arrival) * 1000.0;
        sm_req_ms(q, &ttft[i], &tp, &e2e[i]);
        if (q->n_out >= 2) tpot[n_tpot++] = tp;
        int ng = is_itl_gaps(q->t_tokens, q->n_out, itl + n_itl);
        for (int j = n_itl; j < n_itl + ng; j++) itl[j] *= 1000.0;
        n_itl += ng;
        if (is_slo_met(q, slo)) n_good++;
        t_begin = fmin(t_begin, q->t_arrival);
        t_end = fmax(t_end, q->t_done);
        in_tok += q->n_prompt;
        out_tok += q->n_out;
    }

    out->n_requests = n;
    out->duration_s = t_end - t_begin;
    is_dist_summarize(queue, n, &out->queue_ms);
    is_dist_summarize(ttft, n, &out->ttft_ms);
    is_dist_summarize(tpot, n_tpot, &out->tpot_ms);
    is_dist_summarize(itl, n_itl, &out->itl_ms);
    is_dist_summarize(e2e, n, &out->e2e_ms);
    out->req_per_s = sm_rate(n, out->duration_s);
    out->in_tok_per_s = sm_rate(in_tok, out->duration_s);
    out->out_tok_per_s = sm_rate(out_tok, out->duration_s);
    out->n_good = n_good;
    out->goodput_req_per_s = sm_rate(n_good, out->duration_s);
    free(queue);
    free(ttft);
    free(tpot);
    free(e2e);
    free(itl);
}
