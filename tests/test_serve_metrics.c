// test_serve_metrics.c — serving metrics of synthetic runs against values worked
// out by hand below: queue time, TTFT, TPOT, pooled ITL, E2E, duration, the
// throughputs and goodput under SLOs; percentiles of a known array; --slo
// parsing and its messages; invariance under a shift of the clock and scaling
// under a change of its unit; and the asserts on broken timestamps.
//
// Percentiles follow numpy's default (type 7): position q * (n - 1), linear
// between the two closest ranks. Expected values below are written from that
// rule, not from the implementation.
#include <criterion/criterion.h>

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/serve_metrics.h" // defines: is_req_timing, is_slo, is_slo_parse, is_slo_met, is_dist_summarize, ...

// The fixture's times are decimals near 10 s: each carries up to half an ulp of
// 10 (~9e-16 s), so a difference in ms is off by ~4e-12 at most and a few more
// roundings in means and interpolation stay below 1e-10. A real mistake (wrong
// request, wrong rank, wrong divisor) is off by 1 ms or more here.
#define SM_TOL 1e-9

static void sm_check_close(double got, double want, const char *what) {
    double tol = SM_TOL * fmax(1.0, fabs(want));
    cr_assert(fabs(got - want) <= tol, "%s: got %.17g, want %.17g", what, got, want);
}

// want[] = {n, mean, median, p90, p95, p99, min, max}
static void sm_check_dist(const is_dist_summary *d, const double want[8], const char *what) {
    char w[64];
    cr_assert_eq(d->n, (int)want[0], "%s: n = %d, want %d", what, d->n, (int)want[0]);
    const double got[7] = {d->mean, d->median, d->p90, d->p95, d->p99, d->min, d->max};
    const char *names[7] = {"mean", "median", "p90", "p95", "p99", "min", "max"};
    for (int i = 0; i < 7; i++) {
        snprintf(w, sizeof w, "%s.%s", what, names[i]);
        sm_check_close(got[i], want[i + 1], w);
    }
}

// ---------------------------------------------------------------- fixture

// Five requests (times in seconds). r[1], not r[0], arrives first, and r[2]
// finishes last. Per request, in ms:
//
//   req arrival sched first tokens                   done   prompt out | queue ttft  tpot        e2e  gaps
//   0   10.25   10.5  10.9  10.9                     10.9   5      1   | 250   650   -           650  -
//   1   10.0    10.1  10.3  10.3 10.35 10.45 10.5    10.5   10     4   | 100   300   200/3=66.67 500  50 100 50
//   2   10.6    10.7  10.8  10.8 10.9 11.25          11.25  15     3   | 100   200   450/2=225   650  100 350
//   3   10.2    10.2  10.4  10.4 10.42               10.42  20     2   | 0     200   20          220  20
//   4   10.5    10.55 10.6  10.6                     10.6   8      1   | 50    100   -           100  -
//
// The hand-worked summary uses r[0..4); the goodput tests add r[4].
static const double sm_tok0[] = {10.9};
static const double sm_tok1[] = {10.3, 10.35, 10.45, 10.5};
static const double sm_tok2[] = {10.8, 10.9, 11.25};
static const double sm_tok3[] = {10.4, 10.42};
static const double sm_tok4[] = {10.6};

static void sm_fixture(is_req_timing r[5]) {
    const is_req_timing f[5] = {
        {10.25, 10.5, 10.9, 10.9, 5, 1, sm_tok0},     {10.0, 10.1, 10.3, 10.5, 10, 4, sm_tok1},
        {10.6, 10.7, 10.8, 11.25, 15, 3, sm_tok2},    {10.2, 10.2, 10.4, 10.42, 20, 2, sm_tok3},
        {10.5, 10.55, 10.6, 10.6, 8, 1, sm_tok4},
    };
    memcpy(r, f, sizeof f);
}

// ---------------------------------------------------------------- a run by hand

Test(serve_metrics, summary_of_four_requests_by_hand) {
    is_req_timing r[5];
    sm_fixture(r);
    is_serve_summary s;
    is_serve_summarize(r, 4, NULL, &s);

    cr_assert_eq(s.n_requests, 4);
    // first arrival 10.0 (r[1]), last done 11.25 (r[2])
    sm_check_close(s.duration_s, 1.25, "duration");

    // queue {250, 100, 100, 0} -> sorted {0, 100, 100, 250}; mean 450/4 = 112.5
    // position q * 3: 0.5 -> 1.5: 100; 0.9 -> 2.7: 100 + 0.7 * 150 = 205;
    // 0.95 -> 2.85: 100 + 0.85 * 150 = 227.5; 0.99 -> 2.97: 100 + 0.97 * 150 = 245.5
    const double queue[8] = {4, 112.5, 100, 205, 227.5, 245.5, 0, 250};
    sm_check_dist(&s.queue_ms, queue, "queue");

    // TTFT {650, 300, 200, 200} -> sorted {200, 200, 300, 650}; mean 1350/4 = 337.5
    // 1.5: 250; 2.7: 300 + 0.7 * 350 = 545; 2.85: 300 + 0.85 * 350 = 597.5;
    // 2.97: 300 + 0.97 * 350 = 639.5
    const double ttft[8] = {4, 337.5, 250, 545, 597.5, 639.5, 200, 650};
    sm_check_dist(&s.ttft_ms, ttft, "ttft");

    // TPOT over the three requests with >= 2 tokens (r[0] has one):
    // {200/3, 225, 20} -> sorted {20, 200/3, 225}; mean (20 + 200/3 + 225)/3 = 935/9
    // position q * 2: 0.5 -> 1: 200/3; 0.9 -> 1.8: 200/3 + 0.8 * (225 - 200/3) = 580/3;
    // 0.95 -> 1.9: (200 + 0.9 * 475)/3 = 627.5/3; 0.99 -> 1.98: (200 + 0.98 * 475)/3 = 665.5/3
    const double tpot[8] = {3, 935.0 / 9, 200.0 / 3, 580.0 / 3, 627.5 / 3, 665.5 / 3, 20, 225};
    sm_check_dist(&s.tpot_ms, tpot, "tpot");

    // ITL pooled: 3 + 2 + 1 = 6 gaps (sum of n_out - 1) {50, 100, 50, 100, 350, 20}
    // -> sorted {20, 50, 50, 100, 100, 350}; mean 670/6
    // position q * 5: 0.5 -> 2.5: 75; 0.9 -> 4.5: 100 + 0.5 * 250 = 225;
    // 0.95 -> 4.75: 100 + 0.75 * 250 = 287.5; 0.99 -> 4.95: 100 + 0.95 * 250 = 337.5.
    // The pooled mean (111.67) differs from the mean TPOT (103.89): pooling weighs
    // each request by its tokens.
    const double itl[8] = {6, 670.0 / 6, 75, 225, 287.5, 337.5, 20, 350};
    sm_check_dist(&s.itl_ms, itl, "itl");

    // E2E {650, 500, 650, 220} -> sorted {220, 500, 650, 650}; mean 2020/4 = 505
    // 1.5: 575; 2.7, 2.85, 2.97: between 650 and 650: 650
    const double e2e[8] = {4, 505, 575, 650, 650, 650, 220, 650};
    sm_check_dist(&s.e2e_ms, e2e, "e2e");

    // 4 requests, 5 + 10 + 15 + 20 = 50 prompt and 1 + 4 + 3 + 2 = 10 output tokens over 1.25 s
    sm_check_close(s.req_per_s, 4 / 1.25, "req/s");
    sm_check_close(s.in_tok_per_s, 50 / 1.25, "in tok/s");
    sm_check_close(s.out_tok_per_s, 10 / 1.25, "out tok/s");
    // no SLO: every request is good
    cr_assert_eq(s.n_good, 4);
    sm_check_close(s.goodput_req_per_s, 4 / 1.25, "goodput");
}

Test(serve_metrics, one_token_requests_have_no_tpot_or_itl) {
    is_req_timing r[5];
    sm_fixture(r);
    const is_req_timing one[2] = {r[0], r[4]};
    is_serve_summary s;
    is_serve_summarize(one, 2, NULL, &s);
    cr_assert_eq(s.tpot_ms.n, 0);
    cr_assert_eq(s.itl_ms.n, 0);
    cr_assert(isnan(s.tpot_ms.mean) && isnan(s.tpot_ms.p99) && isnan(s.itl_ms.median) && isnan(s.itl_ms.max));
    // arrivals 10.25 and 10.5, done 10.9 and 10.6: duration 0.65
    sm_check_close(s.duration_s, 0.65, "duration");
    sm_check_close(s.out_tok_per_s, 2 / 0.65, "out tok/s");
    // TTFT {650, 100}: median 375
    sm_check_close(s.ttft_ms.median, 375, "ttft median");
}

Test(serve_metrics, zero_duration_gives_nan_rates) {
    const double tok[] = {5.0};
    const is_req_timing r = {5.0, 5.0, 5.0, 5.0, 7, 1, tok};
    is_serve_summary s;
    is_serve_summarize(&r, 1, NULL, &s);
    cr_assert_eq(s.duration_s, 0.0);
    cr_assert(isnan(s.req_per_s) && isnan(s.in_tok_per_s) && isnan(s.out_tok_per_s) && isnan(s.goodput_req_per_s));
    cr_assert_eq(s.n_good, 1);
    cr_assert_eq(s.ttft_ms.n, 1);
    cr_assert_eq(s.ttft_ms.max, 0.0);
}

// ---------------------------------------------------------------- SLOs and goodput

// Per request (ms): ttft {650, 300, 200, 200, 100}, tpot {-, 66.67, 225, 20, -},
// e2e {650, 500, 650, 220, 100}.
Test(serve_metrics, slo_met_per_objective) {
    is_req_timing r[5];
    sm_fixture(r);
    const struct {
        is_slo slo;
        bool want[5];
    } cases[] = {
        // ttft <= 400: only r[0] (650) misses
        {{400, 0, 0}, {false, true, true, true, true}},
        // tpot <= 100: r[2] (225) misses; r[0] and r[4] have one token and meet it
        {{0, 100, 0}, {true, true, false, true, true}},
        // tpot <= 10: every request with >= 2 tokens misses (20 is the lowest); one-token ones meet it
        {{0, 10, 0}, {true, false, false, false, true}},
        // e2e <= 600: r[0] and r[2] (650) miss
        {{0, 0, 600}, {false, true, false, true, true}},
        // all three: r[0] misses on ttft, r[2] on tpot (and e2e)
        {{400, 100, 600}, {false, true, false, true, true}},
        // nothing set (<= 0 is unset): all meet
        {{0, -1, 0}, {true, true, true, true, true}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int i = 0; i < 5; i++)
            cr_assert_eq(is_slo_met(&r[i], &cases[c].slo), cases[c].want[i], "case %zu request %d", c, i);
}

// An objective is met at equality. Times on a binary grid keep every value exact:
// TTFT 1.5 - 1.0 = 0.5 s = 500 ms, TPOT (2.0 - 1.5) / 2 = 250 ms, E2E 1000 ms.
Test(serve_metrics, slo_met_at_equality) {
    const double tok[] = {1.5, 1.75, 2.0};
    const is_req_timing r = {1.0, 1.0, 1.5, 2.0, 4, 3, tok};
    const is_slo at = {500, 250, 1000};
    cr_assert(is_slo_met(&r, &at));
    const is_slo ttft_below = {nextafter(500, 0), 250, 1000};
    const is_slo tpot_below = {500, nextafter(250, 0), 1000};
    const is_slo e2e_below = {500, 250, nextafter(1000, 0)};
    cr_assert(!is_slo_met(&r, &ttft_below));
    cr_assert(!is_slo_met(&r, &tpot_below));
    cr_assert(!is_slo_met(&r, &e2e_below));
}

// Five requests over 10.0 .. 11.25 s (1.25 s). Under ttft=400,tpot=100,e2e=600:
// r[0] misses TTFT (650), r[2] misses TPOT (225); r[1], r[3] meet all three and
// r[4] (one token: no TPOT) meets them too: 3 good, 3 / 1.25 = 2.4 req/s.
Test(serve_metrics, goodput_by_hand) {
    is_req_timing r[5];
    sm_fixture(r);
    is_slo slo;
    is_err err = {{0}};
    cr_assert_eq(is_slo_parse("ttft=400,tpot=100,e2e=600", &slo, &err), 0, "%s", err.msg);
    is_serve_summary s;
    is_serve_summarize(r, 5, &slo, &s);
    cr_assert_eq(s.n_requests, 5);
    sm_check_close(s.duration_s, 1.25, "duration");
    cr_assert_eq(s.n_good, 3);
    sm_check_close(s.goodput_req_per_s, 2.4, "goodput");
    sm_check_close(s.req_per_s, 4.0, "req/s");

    // TPOT alone: only r[2] misses -> 4 good, 3.2 req/s
    const is_slo tpot_only = {0, 100, 0};
    is_serve_summarize(r, 5, &tpot_only, &s);
    cr_assert_eq(s.n_good, 4);
    sm_check_close(s.goodput_req_per_s, 3.2, "goodput, tpot only");

    // no objective set, or no SLO at all: every request is good
    const is_slo none = {0, 0, 0};
    is_serve_summarize(r, 5, &none, &s);
    cr_assert_eq(s.n_good, 5);
    is_serve_summarize(r, 5, NULL, &s);
    cr_assert_eq(s.n_good, 5);
    sm_check_close(s.goodput_req_per_s, s.req_per_s, "goodput = req/s without SLO");
}

// ---------------------------------------------------------------- distributions

// 1..100 in a scrambled order (37 is coprime to 100, so i * 37 mod 100 is a
// permutation). Sorted, value at rank k is k + 1; position q * 99:
//   0.5 -> 49.5: 50 + 0.5 = 50.5;  0.9 -> 89.1: 90 + 0.1 = 90.1
//   0.95 -> 94.05: 95.05;          0.99 -> 98.01: 99.01;   mean 5050 / 100 = 50.5
Test(serve_metrics, dist_of_1_to_100) {
    double x[100], copy[100];
    for (int i = 0; i < 100; i++) x[i] = (double)((i * 37) % 100 + 1);
    memcpy(copy, x, sizeof x);
    is_dist_summary d;
    is_dist_summarize(x, 100, &d);
    const double want[8] = {100, 50.5, 50.5, 90.1, 95.05, 99.01, 1, 100};
    sm_check_dist(&d, want, "1..100");
    cr_assert(memcmp(x, copy, sizeof x) == 0, "input modified");
}

Test(serve_metrics, dist_of_one_value) {
    const double x[] = {3.25};
    is_dist_summary d;
    is_dist_summarize(x, 1, &d);
    const double want[8] = {1, 3.25, 3.25, 3.25, 3.25, 3.25, 3.25, 3.25};
    sm_check_dist(&d, want, "one value");
}

Test(serve_metrics, dist_of_nothing_is_nan) {
    is_dist_summary d;
    memset(&d, 0x55, sizeof d);
    is_dist_summarize(NULL, 0, &d);
    cr_assert_eq(d.n, 0);
    const double v[7] = {d.mean, d.median, d.p90, d.p95, d.p99, d.min, d.max};
    for (int i = 0; i < 7; i++) cr_assert(isnan(v[i]), "field %d = %g", i, v[i]);
}

// ---------------------------------------------------------------- --slo parsing

Test(serve_metrics, slo_parse_good) {
    is_err err = {{0}};
    is_slo s;
    cr_assert_eq(is_slo_parse("ttft=500,tpot=50,e2e=4000", &s, &err), 0, "%s", err.msg);
    cr_assert(s.ttft_ms == 500 && s.tpot_ms == 50 && s.e2e_ms == 4000);
    // a subset leaves the others unset (0), whatever *out held
    memset(&s, 0x55, sizeof s);
    cr_assert_eq(is_slo_parse("e2e=4000", &s, &err), 0, "%s", err.msg);
    cr_assert(s.ttft_ms == 0 && s.tpot_ms == 0 && s.e2e_ms == 4000);
    // any order, decimals and exponents
    cr_assert_eq(is_slo_parse("tpot=12.5,ttft=1e3", &s, &err), 0, "%s", err.msg);
    cr_assert(s.ttft_ms == 1000 && s.tpot_ms == 12.5 && s.e2e_ms == 0);
    cr_assert_eq(is_slo_parse("tpot=.5", &s, &err), 0, "%s", err.msg);
    cr_assert(s.tpot_ms == 0.5);
}

Test(serve_metrics, slo_parse_messages) {
    is_err err = {{0}};
    is_slo s;
    cr_assert_eq(is_slo_parse("ttft=abc", &s, &err), -1);
    cr_assert_str_eq(err.msg, "--slo \"ttft=abc\": expected KEY=MS with KEY ttft, tpot or e2e and MS > 0");
    cr_assert_eq(is_slo_parse("tpot=5,ttft=3,tpot=6", &s, &err), -1);
    cr_assert_str_eq(err.msg, "--slo: \"tpot\" given twice");
    cr_assert_eq(is_slo_parse("ttft=5,latency=3", &s, &err), -1);
    cr_assert(strstr(err.msg, "unknown key \"latency\"") && strstr(err.msg, "--slo \"latency=3\""), "%s", err.msg);
    cr_assert(strstr(err.msg, "ttft, tpot or e2e"), "%s", err.msg);
    cr_assert_eq(is_slo_parse("", &s, &err), -1);
    cr_assert(strstr(err.msg, "--slo") && strstr(err.msg, "empty"), "%s", err.msg);
}

// Each bad spec fails, names the offending text, and leaves *out as it was.
Test(serve_metrics, slo_parse_bad) {
    const struct {
        const char *spec, *named;
    } cases[] = {
        {"ttft=0", "\"ttft=0\""},           {"ttft=-5", "\"ttft=-5\""},
        {"e2e=inf", "\"e2e=inf\""},         {"e2e=nan", "\"e2e=nan\""},
        {"tpot=1e999", "\"tpot=1e999\""},   {"ttft=", "\"ttft=\""},
        {"ttft", "\"ttft\""},               {"=5", "unknown key \"\""},
        {"ttft=5x", "\"ttft=5x\""},         {"ttft= 5", "\"ttft= 5\""},
        {"ttft=+5", "\"ttft=+5\""},         {"ttft=5 ", "\"ttft=5 \""},
        {"TTFT=5", "unknown key \"TTFT\""}, {"ttft=5,", "\"ttft=5,\": empty item"},
        {",ttft=5", "\",ttft=5\": empty item"}, {"ttft=5,,e2e=9", "empty item"},
        {"e2e=1,e2e=1", "\"e2e\" given twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        is_err err = {{0}};
        is_slo s = {1, 2, 3};
        cr_assert_eq(is_slo_parse(cases[i].spec, &s, &err), -1, "'%s' accepted", cases[i].spec);
        cr_assert(strstr(err.msg, cases[i].named), "'%s': message '%s' does not name %s", cases[i].spec, err.msg,
                  cases[i].named);
        cr_assert(s.ttft_ms == 1 && s.tpot_ms == 2 && s.e2e_ms == 3, "'%s' changed *out", cases[i].spec);
    }
}

// ---------------------------------------------------------------- clock properties

// A run of 24 requests on a grid of 1/1024 s, drawn from a fixed LCG. Every
// time is k / 1024 below 2^11 s even after the shift of 1000 s, so differences
// are exact, and multiplying by 2 commutes with every rounding (it only moves the
// exponent): the shifted run must match to the bit, and the scaled run must
// double every ms value and halve every rate to the bit.
#define SM_PROP_N 24
#define SM_PROP_MAX_OUT 8

typedef struct sm_run {
    is_req_timing r[SM_PROP_N];
    double tok[SM_PROP_N][SM_PROP_MAX_OUT];
} sm_run;

static uint32_t sm_lcg(uint32_t *s) {
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static void sm_run_make(sm_run *run, double shift, double scale) {
    uint32_t seed = 12345;
    double t = 0;
    for (int i = 0; i < SM_PROP_N; i++) {
        is_req_timing *q = &run->r[i];
        t += (sm_lcg(&seed) % 200) / 1024.0;
        double arrival = t;
        double sched = arrival + (sm_lcg(&seed) % 100) / 1024.0;
        int n_out = 1 + (int)(sm_lcg(&seed) % SM_PROP_MAX_OUT);
        double tk = sched + (1 + sm_lcg(&seed) % 100) / 1024.0;
        for (int j = 0; j < n_out; j++) {
            if (j > 0) tk += (sm_lcg(&seed) % 60) / 1024.0; // 0 included: tokens delivered by one step
            run->tok[i][j] = (tk + shift) * scale;
        }
        q->t_arrival = (arrival + shift) * scale;
        q->t_scheduled = (sched + shift) * scale;
        q->t_first = run->tok[i][0];
        q->t_done = run->tok[i][n_out - 1];
        q->n_prompt = 1 + (int)(sm_lcg(&seed) % 500);
        q->n_out = n_out;
        q->t_tokens = run->tok[i];
    }
}

static void sm_dist_scaled(const is_dist_summary *a, const is_dist_summary *b, double f, const char *what) {
    cr_assert_eq(a->n, b->n, "%s: n", what);
    cr_assert(a->n > 0, "%s: the run should have values", what);
    const double x[7] = {a->mean, a->median, a->p90, a->p95, a->p99, a->min, a->max};
    const double y[7] = {b->mean, b->median, b->p90, b->p95, b->p99, b->min, b->max};
    for (int i = 0; i < 7; i++)
        cr_assert_eq(y[i], x[i] * f, "%s field %d: %.17g, want %.17g", what, i, y[i], x[i] * f);
}

// f: factor of the ms values and the duration; the rates go by 1 / f.
static void sm_summary_scaled(const is_serve_summary *a, const is_serve_summary *b, double f) {
    cr_assert_eq(a->n_requests, b->n_requests);
    cr_assert_eq(a->n_good, b->n_good);
    cr_assert_eq(b->duration_s, a->duration_s * f);
    sm_dist_scaled(&a->queue_ms, &b->queue_ms, f, "queue");
    sm_dist_scaled(&a->ttft_ms, &b->ttft_ms, f, "ttft");
    sm_dist_scaled(&a->tpot_ms, &b->tpot_ms, f, "tpot");
    sm_dist_scaled(&a->itl_ms, &b->itl_ms, f, "itl");
    sm_dist_scaled(&a->e2e_ms, &b->e2e_ms, f, "e2e");
    cr_assert_eq(b->req_per_s, a->req_per_s / f);
    cr_assert_eq(b->in_tok_per_s, a->in_tok_per_s / f);
    cr_assert_eq(b->out_tok_per_s, a->out_tok_per_s / f);
    cr_assert_eq(b->goodput_req_per_s, a->goodput_req_per_s / f);
}

Test(serve_metrics, shift_changes_nothing_and_scale_scales) {
    static sm_run base, shifted, scaled;
    sm_run_make(&base, 0, 1);
    sm_run_make(&shifted, 1000, 1);
    sm_run_make(&scaled, 0, 2);
    is_serve_summary a, b, c;
    is_serve_summarize(base.r, SM_PROP_N, NULL, &a);
    is_serve_summarize(shifted.r, SM_PROP_N, NULL, &b);
    is_serve_summarize(scaled.r, SM_PROP_N, NULL, &c);
    cr_assert(a.duration_s > 0);
    sm_summary_scaled(&a, &b, 1);
    sm_summary_scaled(&a, &c, 2);

    // with an SLO the scaled run is held to doubled objectives; the base run's
    // medians make an SLO that some requests miss
    const is_slo slo = {a.ttft_ms.median, a.tpot_ms.median, 0};
    const is_slo slo2 = {2 * slo.ttft_ms, 2 * slo.tpot_ms, 0};
    is_serve_summarize(base.r, SM_PROP_N, &slo, &a);
    is_serve_summarize(shifted.r, SM_PROP_N, &slo, &b);
    is_serve_summarize(scaled.r, SM_PROP_N, &slo2, &c);
    cr_assert(a.n_good > 0 && a.n_good < SM_PROP_N, "n_good %d", a.n_good);
    sm_summary_scaled(&a, &b, 1);
    sm_summary_scaled(&a, &c, 2);
}

// ---------------------------------------------------------------- broken invariants

Test(serve_metrics, scheduled_before_arrival_aborts, .signal = SIGABRT) {
    const double tok[] = {2.0};
    const is_req_timing r = {1.0, 0.5, 2.0, 2.0, 1, 1, tok};
    is_serve_summary s;
    is_serve_summarize(&r, 1, NULL, &s);
}

Test(serve_metrics, nan_time_aborts, .signal = SIGABRT) {
    const double tok[] = {NAN};
    const is_req_timing r = {1.0, 1.0, NAN, 2.0, 1, 1, tok};
    is_serve_summary s;
    is_serve_summarize(&r, 1, NULL, &s);
}

Test(serve_metrics, no_output_token_aborts, .signal = SIGABRT) {
    const double tok[] = {2.0};
    const is_req_timing r = {1.0, 1.0, 2.0, 2.0, 1, 0, tok};
    is_serve_summary s;
    is_serve_summarize(&r, 1, NULL, &s);
}

Test(serve_metrics, tokens_out_of_order_abort, .signal = SIGABRT) {
    const double tok[] = {2.0, 2.5, 2.25, 3.0};
    const is_req_timing r = {1.0, 1.0, 2.0, 3.0, 1, 4, tok};
    is_serve_summary s;
    is_serve_summarize(&r, 1, NULL, &s);
}

Test(serve_metrics, nan_value_in_dist_aborts, .signal = SIGABRT) {
    const double x[] = {1.0, NAN};
    is_dist_summary d;
    is_dist_summarize(x, 2, &d);
}
