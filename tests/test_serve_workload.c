// test_serve_workload.c — the requests of a serving benchmark: arrival gaps
// against their distributions by one-sample Kolmogorov-Smirnov tests, length
// distributions against their ranges and moments, determinism for a seed,
// shared prefixes, the duration mode, and JSONL and ShareGPT files, good and bad.
//
// Statistical checks use fixed seeds, so each passes or fails the same way on
// every run; their thresholds are what a correct sampler passes with high
// probability for any seed: the KS 1% critical value 1.63 / sqrt(n), and 5
// standard errors for means and standard deviations. The KS code is checked
// against a wrong distribution too, so that it can fail. The gamma CDF is the
// regularized incomplete gamma function written below (series and continued
// fraction), checked first against closed forms.
#define _POSIX_C_SOURCE 200809L // mkdtemp
#include <criterion/criterion.h>

#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/serve_workload.h" // defines: is_arrival_times, is_gamma_draw, is_len_*, is_workload_*

// The KS statistic's 1% critical value for large n: reject when D > KS_C1 / sqrt(n).
#define KS_C1 1.63
// Means and standard deviations are checked to within this many standard errors.
#define WL_SE 5.0

// ---------------------------------------------------------------- the reference CDFs

// Regularized lower incomplete gamma P(a, x) = gamma(a, x) / Gamma(a): the power
// series sum x^n / (a (a+1) ... (a+n)) for x < a + 1, else 1 - Q(a, x) with Q
// from Legendre's continued fraction, evaluated by the modified Lentz method.
static double gamma_p(double a, double x) {
    if (x <= 0) return 0.0;
    double front = exp(a * log(x) - x - lgamma(a));
    if (x < a + 1) {
        double term = 1.0 / a, sum = term;
        for (int n = 1; n < 100000 && term > sum * 1e-17; n++) {
            term *= x / (a + n);
            sum += term;
        }
        return sum * front;
    }
    const double tiny = 1e-300;
    double b = x + 1.0 - a, c = 1.0 / tiny, d = 1.0 / b, h = d;
    for (int i = 1; i < 100000; i++) {
        double an = -i * (i - a);
        b += 2.0;
        d = an * d + b;
        if (fabs(d) < tiny) d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-16) break;
    }
    return 1.0 - front * h;
}

// CDFs with their parameters in p.
typedef double (*cdf_fn)(double x, const double *p);
static double cdf_exponential(double x, const double *p) { return x <= 0 ? 0.0 : -expm1(-p[0] * x); } // p: rate
static double cdf_gamma(double x, const double *p) { return gamma_p(p[0], x / p[1]); }             // p: shape, scale

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// One-sample KS statistic D = sup |F_n - F| of x[0..n) (sorted in place).
static double ks_stat(double *x, int n, cdf_fn cdf, const double *p) {
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    double d = 0;
    for (int i = 0; i < n; i++) {
        double f = cdf(x[i], p);
        d = fmax(d, fmax(f - (double)i / n, (double)(i + 1) / n - f));
    }
    return d;
}

static double ks_crit(int n) { return KS_C1 / sqrt((double)n); }

Test(workload_ref, gamma_p_matches_closed_forms) {
    const double xs[] = {1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.7, 5.0, 10.0, 25.0};
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) {
        double x = xs[i];
        double erlang4 = 1.0 - exp(-x) * (1.0 + x + x * x / 2.0 + x * x * x / 6.0);
        // a few roundings of terms below 1: 1e-13 absolute is ~500 ulp, far below any wrong term
        cr_assert(fabs(gamma_p(1.0, x) - (-expm1(-x))) < 1e-13, "P(1, %g) = %.17g", x, gamma_p(1.0, x));
        cr_assert(fabs(gamma_p(0.5, x) - erf(sqrt(x))) < 1e-13, "P(0.5, %g) = %.17g", x, gamma_p(0.5, x));
        cr_assert(fabs(gamma_p(4.0, x) - erlang4) < 1e-13, "P(4, %g) = %.17g, want %.17g", x, gamma_p(4.0, x),
                  erlang4);
    }
    cr_assert_eq(gamma_p(2.0, 0.0), 0.0);
    cr_assert(fabs(gamma_p(3.0, 1e4) - 1.0) < 1e-15);
}

// ---------------------------------------------------------------- arrivals

// Gaps of n + 1 arrivals of spec (checked: t[0] = 0, non-decreasing), malloc'd.
static double *arrival_gaps(const is_arrival_spec *a, int n, uint64_t seed) {
    double *t = malloc((size_t)(n + 1) * sizeof *t), *g = malloc((size_t)n * sizeof *g);
    is_err err;
    cr_assert_eq(is_arrival_times(a, n + 1, seed, t, &err), 0, "%s", err.msg);
    cr_assert_eq(t[0], 0.0);
    for (int i = 0; i < n; i++) {
        g[i] = t[i + 1] - t[i];
        cr_assert(g[i] >= 0 && isfinite(g[i]), "gap %d is %g", i, g[i]);
    }
    free(t);
    return g;
}

static double mean_of(const double *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
}

#define WL_N_GAPS 20000

Test(workload_arrivals, poisson_gaps_are_exponential) {
    const double rates[] = {7.5, 0.2};
    for (int k = 0; k < 2; k++) {
        is_arrival_spec a = {.kind = IS_ARRIVAL_POISSON, .rate = rates[k]};
        double *g = arrival_gaps(&a, WL_N_GAPS, 11 + k);
        // exponential: sd = mean = 1 / rate
        double mean = mean_of(g, WL_N_GAPS), se = 1.0 / rates[k] / sqrt(WL_N_GAPS);
        cr_assert(fabs(mean - 1.0 / rates[k]) < WL_SE * se, "rate %g: mean gap %g, want %g +- %g", rates[k], mean,
                  1.0 / rates[k], WL_SE * se);
        double d = ks_stat(g, WL_N_GAPS, cdf_exponential, &rates[k]);
        cr_assert(d <= ks_crit(WL_N_GAPS), "rate %g: KS D = %g > %g", rates[k], d, ks_crit(WL_N_GAPS));
        free(g);
    }
}

Test(workload_arrivals, gamma_gaps_follow_the_gamma_law) {
    const double shapes[] = {0.5, 1.0, 4.0};
    const double rate = 3.0;
    for (int k = 0; k < 3; k++) {
        is_arrival_spec a = {.kind = IS_ARRIVAL_GAMMA, .rate = rate, .burstiness = shapes[k]};
        double *g = arrival_gaps(&a, WL_N_GAPS, 21 + k);
        // gamma(shape k, scale 1 / (rate k)): mean 1 / rate, sd 1 / (rate sqrt(k))
        double mean = mean_of(g, WL_N_GAPS), se = 1.0 / (rate * sqrt(shapes[k])) / sqrt(WL_N_GAPS);
        cr_assert(fabs(mean - 1.0 / rate) < WL_SE * se, "shape %g: mean gap %g, want %g +- %g", shapes[k], mean,
                  1.0 / rate, WL_SE * se);
        double p[2] = {shapes[k], 1.0 / (rate * shapes[k])};
        double d = ks_stat(g, WL_N_GAPS, cdf_gamma, p);
        cr_assert(d <= ks_crit(WL_N_GAPS), "shape %g: KS D = %g > %g", shapes[k], d, ks_crit(WL_N_GAPS));
        free(g);
    }
}

// The same KS code rejects gaps of the wrong law: the checks above can fail.
Test(workload_arrivals, ks_rejects_the_wrong_distribution) {
    const double rate = 3.0;
    is_arrival_spec regular = {.kind = IS_ARRIVAL_GAMMA, .rate = rate, .burstiness = 4.0};
    double *g = arrival_gaps(&regular, WL_N_GAPS, 5);
    double d = ks_stat(g, WL_N_GAPS, cdf_exponential, &rate);
    cr_assert(d > ks_crit(WL_N_GAPS), "gamma(4) gaps passed as exponential: D = %g", d);
    free(g);

    is_arrival_spec poisson = {.kind = IS_ARRIVAL_POISSON, .rate = rate};
    g = arrival_gaps(&poisson, WL_N_GAPS, 5);
    double p[2] = {0.5, 1.0 / (rate * 0.5)};
    d = ks_stat(g, WL_N_GAPS, cdf_gamma, p);
    cr_assert(d > ks_crit(WL_N_GAPS), "exponential gaps passed as gamma(0.5): D = %g", d);
    free(g);

    // a rate off by 5% is caught as well
    g = arrival_gaps(&poisson, WL_N_GAPS, 5);
    double wrong = rate * 1.05;
    d = ks_stat(g, WL_N_GAPS, cdf_exponential, &wrong);
    cr_assert(d > ks_crit(WL_N_GAPS), "rate 3 gaps passed as rate 3.15: D = %g", d);
    free(g);
}

Test(workload_arrivals, gamma_draw_matches_the_gamma_cdf) {
    const double shapes[] = {0.05, 0.3, 0.999, 1.0, 1.7, 9.5, 120.0};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        is_rng r;
        is_rng_seed(&r, 100 + k);
        double *x = malloc(WL_N_GAPS * sizeof *x);
        for (int i = 0; i < WL_N_GAPS; i++) {
            x[i] = is_gamma_draw(&r, shapes[k]);
            cr_assert(x[i] >= 0 && isfinite(x[i]));
        }
        double mean = mean_of(x, WL_N_GAPS), se = sqrt(shapes[k]) / sqrt(WL_N_GAPS);
        cr_assert(fabs(mean - shapes[k]) < WL_SE * se, "shape %g: mean %g", shapes[k], mean);
        double p[2] = {shapes[k], 1.0};
        double d = ks_stat(x, WL_N_GAPS, cdf_gamma, p);
        cr_assert(d <= ks_crit(WL_N_GAPS), "shape %g: KS D = %g > %g", shapes[k], d, ks_crit(WL_N_GAPS));
        free(x);
    }
}

Test(workload_arrivals, burst_and_closed_arrive_at_zero) {
    is_arrival_spec specs[] = {{.kind = IS_ARRIVAL_BURST}, {.kind = IS_ARRIVAL_CLOSED, .concurrency = 4}};
    for (int k = 0; k < 2; k++) {
        double t[50];
        for (int i = 0; i < 50; i++) t[i] = -1;
        is_err err;
        cr_assert_eq(is_arrival_times(&specs[k], 50, 1, t, &err), 0, "%s", err.msg);
        for (int i = 0; i < 50; i++) cr_assert_eq(t[i], 0.0);
    }
}

Test(workload_arrivals, bad_specs_name_the_field) {
    struct {
        is_arrival_spec a;
        const char *want;
    } cases[] = {
        {{.kind = IS_ARRIVAL_POISSON, .rate = 0}, "rate"},
        {{.kind = IS_ARRIVAL_POISSON, .rate = -2}, "rate"},
        {{.kind = IS_ARRIVAL_POISSON, .rate = NAN}, "rate"},
        {{.kind = IS_ARRIVAL_POISSON, .rate = INFINITY}, "rate"},
        {{.kind = IS_ARRIVAL_GAMMA, .rate = 0, .burstiness = 1}, "rate"},
        {{.kind = IS_ARRIVAL_GAMMA, .rate = 1, .burstiness = 0}, "burstiness"},
        {{.kind = IS_ARRIVAL_GAMMA, .rate = 1, .burstiness = -1}, "burstiness"},
        {{.kind = IS_ARRIVAL_GAMMA, .rate = 1, .burstiness = INFINITY}, "burstiness"},
        {{.kind = IS_ARRIVAL_CLOSED, .concurrency = 0}, "concurrency"},
        {{.kind = (is_arrival_kind)9, .rate = 1}, "kind"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        double t[4];
        is_err err = {{0}};
        cr_assert_eq(is_arrival_times(&cases[k].a, 4, 1, t, &err), -1, "case %zu accepted", k);
        cr_assert(strstr(err.msg, cases[k].want), "case %zu: \"%s\" does not name %s", k, err.msg, cases[k].want);
    }
    is_arrival_spec ok = {.kind = IS_ARRIVAL_POISSON, .rate = 1};
    is_err err;
    cr_assert_eq(is_arrival_times(&ok, -1, 1, NULL, &err), -1);
    cr_assert_eq(is_arrival_times(&ok, 0, 1, NULL, &err), 0);
}

Test(workload_arrivals, same_seed_same_times_other_seed_other_times) {
    is_arrival_spec specs[] = {{.kind = IS_ARRIVAL_POISSON, .rate = 4},
                               {.kind = IS_ARRIVAL_GAMMA, .rate = 4, .burstiness = 0.3}};
    for (int k = 0; k < 2; k++) {
        double a[300], b[300], c[300];
        is_err err;
        cr_assert_eq(is_arrival_times(&specs[k], 300, 42, a, &err), 0);
        cr_assert_eq(is_arrival_times(&specs[k], 300, 42, b, &err), 0);
        cr_assert_eq(is_arrival_times(&specs[k], 300, 43, c, &err), 0);
        cr_assert(!memcmp(a, b, sizeof a), "same seed, different times");
        int differ = 0;
        for (int i = 1; i < 300; i++) differ += a[i] != c[i];
        cr_assert(differ > 290, "seeds 42 and 43 share %d of 299 times", 299 - differ);
    }
}

// ---------------------------------------------------------------- lengths

static is_len_dist parse_ok(const char *s) {
    is_len_dist d;
    is_err err;
    cr_assert_eq(is_len_dist_parse(s, "--prompt-len", &d, &err), 0, "\"%s\": %s", s, err.msg);
    return d;
}

Test(workload_lengths, parse_good_strings) {
    struct {
        const char *s;
        is_len_kind kind;
        double a, b;
    } cases[] = {
        {"128", IS_LEN_FIXED, 128, 128},
        {"1", IS_LEN_FIXED, 1, 1},
        {"16777216", IS_LEN_FIXED, 16777216, 16777216},
        {"64:256", IS_LEN_UNIFORM, 64, 256},
        {"7:7", IS_LEN_UNIFORM, 7, 7},
        {"1:16777216", IS_LEN_UNIFORM, 1, 16777216},
        {"lognormal:128:64", IS_LEN_LOGNORMAL, 128, 64},
        {"lognormal:99.5:0.25", IS_LEN_LOGNORMAL, 99.5, 0.25},
        {"lognormal:1:0", IS_LEN_LOGNORMAL, 1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        is_len_dist d = parse_ok(cases[k].s);
        cr_assert_eq(d.kind, cases[k].kind, "\"%s\": kind %d", cases[k].s, d.kind);
        cr_assert_eq(d.a, cases[k].a, "\"%s\": a %g", cases[k].s, d.a);
        if (d.kind != IS_LEN_FIXED) cr_assert_eq(d.b, cases[k].b, "\"%s\": b %g", cases[k].s, d.b);
    }
}

Test(workload_lengths, parse_bad_strings_name_flag_and_text) {
    const char *bad[] = {
        "", "0", "-5", "abc", "64:x", "x:64", "256:64", "64:", ":64", "1:2:3", "12 ", " 12", "+12", "1.5", "1e3",
        "16777217", "1:16777217", "99999999999999999999", "lognormal", "lognormal:128", "lognormal:0:10",
        "lognormal:0.5:1", "lognormal:128:-1", "lognormal:abc:1", "lognormal:128:64:1", "lognormal:nan:1",
        "lognormal:inf:1", "lognormal:128:inf", "lognormal: 128:1", "normal:128:64", "::", "1:2:3:4:5",
        "a very long string that goes on and on and on and on and on and on and on and on",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        is_len_dist d = {.kind = IS_LEN_UNIFORM, .a = 3, .b = 4};
        is_err err = {{0}};
        cr_assert_eq(is_len_dist_parse(bad[k], "--output-len", &d, &err), -1, "\"%s\" accepted", bad[k]);
        cr_assert(strstr(err.msg, "--output-len"), "\"%s\": message \"%s\" does not name the flag", bad[k], err.msg);
        char quoted[48];
        snprintf(quoted, sizeof quoted, "\"%.20s", bad[k]);
        cr_assert(strstr(err.msg, quoted), "\"%s\": message \"%s\" does not quote the text", bad[k], err.msg);
        cr_assert(d.kind == IS_LEN_UNIFORM && d.a == 3 && d.b == 4, "\"%s\": out written on failure", bad[k]);
    }
    is_len_dist d;
    is_err err;
    cr_assert_eq(is_len_dist_parse("64:x", "--prompt-len", &d, &err), -1);
    cr_assert_str_eq(err.msg, "--prompt-len \"64:x\": expected N, LO:HI or lognormal:MEAN:SD with lengths >= 1");
}

Test(workload_lengths, fixed_is_exact) {
    is_len_dist d = parse_ok("333");
    is_rng r;
    is_rng_seed(&r, 1);
    for (int i = 0; i < 1000; i++) cr_assert_eq(is_len_draw(&d, &r), 333);
    d = parse_ok("lognormal:77:0");
    for (int i = 0; i < 1000; i++) cr_assert_eq(is_len_draw(&d, &r), 77);
}

Test(workload_lengths, uniform_stays_in_range_and_hits_every_value) {
    is_len_dist d = parse_ok("3:9");
    is_rng r;
    is_rng_seed(&r, 2);
    enum { N = 70000, K = 7 };
    int count[K] = {0};
    for (int i = 0; i < N; i++) {
        int v = is_len_draw(&d, &r);
        cr_assert(v >= 3 && v <= 9, "drew %d", v);
        count[v - 3]++;
    }
    // each count is binomial(N, 1/7)
    double want = (double)N / K, se = sqrt(N * (1.0 / K) * (1.0 - 1.0 / K));
    for (int v = 0; v < K; v++)
        cr_assert(fabs(count[v] - want) < WL_SE * se, "value %d drawn %d times, want %g +- %g", v + 3, count[v], want,
                  WL_SE * se);
    d = parse_ok("1:16777216");
    for (int i = 0; i < 1000; i++) {
        int v = is_len_draw(&d, &r);
        cr_assert(v >= 1 && v <= 16777216);
    }
}

// Sample mean and sd against the requested ones, to within 5 standard errors:
// SE(mean) = sd / sqrt(n); SE(sd) ~ sqrt((m4 - s^4) / n) / (2 s) from the
// sample's fourth central moment m4 (the delta method on the variance).
Test(workload_lengths, lognormal_mean_and_sd_match) {
    const double want[][2] = {{128, 64}, {300, 30}, {40, 40}};
    enum { N = 200000 };
    double *x = malloc(N * sizeof *x);
    for (int k = 0; k < 3; k++) {
        char s[64];
        snprintf(s, sizeof s, "lognormal:%g:%g", want[k][0], want[k][1]);
        is_len_dist d = parse_ok(s);
        is_rng r;
        is_rng_seed(&r, 30 + k);
        for (int i = 0; i < N; i++) {
            int v = is_len_draw(&d, &r);
            cr_assert(v >= 1);
            x[i] = v;
        }
        double mean = mean_of(x, N), m2 = 0, m4 = 0;
        for (int i = 0; i < N; i++) {
            double e = x[i] - mean;
            m2 += e * e;
            m4 += e * e * e * e;
        }
        m2 /= N;
        m4 /= N;
        double sd = sqrt(m2), se_mean = want[k][1] / sqrt(N), se_sd = sqrt((m4 - m2 * m2) / N) / (2.0 * sd);
        cr_assert(fabs(mean - want[k][0]) < WL_SE * se_mean, "%s: mean %g +- %g", s, mean, WL_SE * se_mean);
        cr_assert(fabs(sd - want[k][1]) < WL_SE * se_sd, "%s: sd %g, want %g +- %g", s, sd, want[k][1],
                  WL_SE * se_sd);
    }
    free(x);
}

// ---------------------------------------------------------------- synthetic workloads

static is_workload_spec synth_spec(void) {
    is_workload_spec sp = {
        .n_requests = 400,
        .arrival = {.kind = IS_ARRIVAL_POISSON, .rate = 10},
        .prompt_len = {.kind = IS_LEN_UNIFORM, .a = 64, .b = 256},
        .out_len = {.kind = IS_LEN_LOGNORMAL, .a = 128, .b = 32},
        .seed = 7,
    };
    return sp;
}

static is_workload make_ok(const is_workload_spec *sp) {
    is_workload w;
    is_err err;
    cr_assert_eq(is_workload_make(sp, &w, &err), 0, "%s", err.msg);
    return w;
}

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

// Fails with a message that holds every string of want (NULL-terminated), and leaves out zeroed.
static void expect_make_error(const is_workload_spec *sp, const char *const *want) {
    is_workload w;
    memset(&w, 0xab, sizeof w);
    is_err err = {{0}};
    cr_assert_eq(is_workload_make(sp, &w, &err), -1, "accepted; want an error with \"%s\"", want[0]);
    cr_assert(all_zero(&w, sizeof w), "out not zeroed after the error \"%s\"", err.msg);
    for (int i = 0; want[i]; i++)
        cr_assert(strstr(err.msg, want[i]), "message \"%s\" lacks \"%s\"", err.msg, want[i]);
    is_workload_free(&w);
}

#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})

Test(workload_synthetic, requests_follow_the_spec) {
    is_workload_spec sp = synth_spec();
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 400);
    cr_assert_eq(w.n_prefixes, 0);
    double t[400];
    is_err err;
    cr_assert_eq(is_arrival_times(&sp.arrival, 400, sp.seed, t, &err), 0);
    for (int i = 0; i < w.n; i++) {
        const is_serve_req *q = &w.req[i];
        cr_assert_eq(q->t_arrival, t[i], "request %d arrives at %g, is_arrival_times says %g", i, q->t_arrival, t[i]);
        cr_assert_null(q->prompt);
        cr_assert_eq(q->prefix_id, -1);
        cr_assert(q->prompt_len >= 64 && q->prompt_len <= 256, "prompt_len %d", q->prompt_len);
        cr_assert(q->out_len >= 1);
    }
    is_workload_free(&w);
    cr_assert_eq(w.n, 0);
    cr_assert_null(w.req);
    is_workload_free(&w); // twice is harmless
}

Test(workload_synthetic, seed_decides_and_rate_leaves_lengths_alone) {
    is_workload_spec sp = synth_spec();
    is_workload a = make_ok(&sp), b = make_ok(&sp);
    cr_assert(!memcmp(a.req, b.req, (size_t)a.n * sizeof *a.req), "same spec, different workloads");
    is_workload_free(&b);

    is_workload_spec other_seed = sp;
    other_seed.seed = 8;
    b = make_ok(&other_seed);
    int same_p = 0, same_o = 0, same_t = 0;
    for (int i = 1; i < a.n; i++) {
        same_p += a.req[i].prompt_len == b.req[i].prompt_len;
        same_o += a.req[i].out_len == b.req[i].out_len;
        same_t += a.req[i].t_arrival == b.req[i].t_arrival;
    }
    // 193 prompt lengths: ~2 coincidences expected; output lengths spread over ~100 values
    cr_assert(same_p < 40 && same_o < 40 && same_t == 0, "seeds 7 and 8 agree on %d, %d, %d", same_p, same_o, same_t);
    is_workload_free(&b);

    is_workload_spec bursty = sp;
    bursty.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_GAMMA, .rate = 2, .burstiness = 0.5};
    b = make_ok(&bursty);
    int moved = 0;
    for (int i = 0; i < a.n; i++) {
        cr_assert_eq(a.req[i].prompt_len, b.req[i].prompt_len, "request %d: the rate changed its prompt", i);
        cr_assert_eq(a.req[i].out_len, b.req[i].out_len, "request %d: the rate changed its output", i);
        moved += a.req[i].t_arrival != b.req[i].t_arrival;
    }
    cr_assert_eq(moved, a.n - 1);
    is_workload_free(&b);
    is_workload_free(&a);
}

Test(workload_synthetic, shared_prefixes_cycle_and_count_in_the_prompt) {
    is_workload_spec sp = synth_spec();
    sp.prompt_len = (is_len_dist){.kind = IS_LEN_UNIFORM, .a = 5, .b = 9};
    is_workload plain = make_ok(&sp);
    sp.n_prefixes = 3;
    sp.prefix_len = 40;
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n_prefixes, 3);
    cr_assert_eq(w.prefix_len, 40);
    for (int i = 0; i < w.n; i++) {
        cr_assert_eq(w.req[i].prefix_id, i % 3);
        cr_assert(w.req[i].prompt_len >= 45 && w.req[i].prompt_len <= 49, "prompt_len %d", w.req[i].prompt_len);
        // the same draws as without prefixes, each 40 tokens longer
        cr_assert_eq(w.req[i].prompt_len, plain.req[i].prompt_len + 40);
        cr_assert_eq(w.req[i].out_len, plain.req[i].out_len);
    }
    is_workload_free(&w);
    is_workload_free(&plain);
}

Test(workload_synthetic, burst_and_closed_take_n_requests) {
    is_workload_spec sp = synth_spec();
    sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_CLOSED, .concurrency = 8};
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 400);
    for (int i = 0; i < w.n; i++) cr_assert_eq(w.req[i].t_arrival, 0.0);
    is_workload_free(&w);
}

Test(workload_synthetic, duration_takes_the_arrivals_before_it) {
    is_workload_spec sp = synth_spec();
    sp.n_requests = 0;
    sp.duration_s = 20;
    sp.arrival.rate = 50;
    is_workload w = make_ok(&sp);
    // a Poisson count of mean 1000 (plus the arrival at 0)
    cr_assert(fabs(w.n - 1000.0) < WL_SE * sqrt(1000.0), "%d requests in 20 s at 50/s", w.n);
    double *t = malloc((size_t)(w.n + 1) * sizeof *t);
    is_err err;
    cr_assert_eq(is_arrival_times(&sp.arrival, w.n + 1, sp.seed, t, &err), 0);
    for (int i = 0; i < w.n; i++) {
        cr_assert_eq(w.req[i].t_arrival, t[i]);
        cr_assert(t[i] < 20.0);
    }
    cr_assert(t[w.n] >= 20.0, "the next arrival, at %g, falls before the end", t[w.n]);
    free(t);
    is_workload_free(&w);
}

Test(workload_synthetic, duration_errors) {
    is_workload_spec sp = synth_spec();
    sp.n_requests = 0;
    sp.duration_s = 0;
    expect_make_error(&sp, WANT("duration_s", "n_requests"));
    sp.duration_s = NAN;
    expect_make_error(&sp, WANT("duration_s"));
    sp.duration_s = 10;
    sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_BURST};
    expect_make_error(&sp, WANT("duration_s", "rate"));
    sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_CLOSED, .concurrency = 4};
    expect_make_error(&sp, WANT("duration_s", "rate"));
    sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_POISSON, .rate = 1000};
    sp.duration_s = 2000; // ~2e6 requests
    expect_make_error(&sp, WANT("duration_s", "1000000"));
}

Test(workload_synthetic, bad_specs_name_the_field) {
    is_workload_spec base = synth_spec(), sp;
    sp = base, sp.n_requests = -1;
    expect_make_error(&sp, WANT("n_requests"));
    sp = base, sp.arrival.rate = 0;
    expect_make_error(&sp, WANT("rate"));
    sp = base, sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_GAMMA, .rate = 1, .burstiness = 0};
    expect_make_error(&sp, WANT("burstiness"));
    sp = base, sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_CLOSED, .concurrency = 0};
    expect_make_error(&sp, WANT("concurrency"));
    sp = base, sp.n_prefixes = 2, sp.prefix_len = 0;
    expect_make_error(&sp, WANT("prefix_len"));
    sp = base, sp.n_prefixes = -1;
    expect_make_error(&sp, WANT("n_prefixes"));
    sp = base, sp.prompt_len = (is_len_dist){.kind = IS_LEN_FIXED, .a = 0};
    expect_make_error(&sp, WANT("prompt_len"));
    sp = base, sp.out_len = (is_len_dist){.kind = IS_LEN_UNIFORM, .a = 9, .b = 3};
    expect_make_error(&sp, WANT("out_len"));
    sp = base, sp.out_len = (is_len_dist){.kind = IS_LEN_LOGNORMAL, .a = 10, .b = -1};
    expect_make_error(&sp, WANT("out_len"));
    sp = base, sp.max_context = -5;
    expect_make_error(&sp, WANT("max_context"));
}

Test(workload_synthetic, longer_than_the_context_is_an_error) {
    is_workload_spec sp = synth_spec();
    sp.prompt_len = (is_len_dist){.kind = IS_LEN_FIXED, .a = 800};
    sp.out_len = (is_len_dist){.kind = IS_LEN_FIXED, .a = 400};
    sp.max_context = 1024;
    expect_make_error(&sp, WANT("request 0", "800", "400", "1200", "1024", "lower"));
    sp.max_context = 1200;
    is_workload w = make_ok(&sp);
    is_workload_free(&w);

    // the prefix counts: 100 + 10 + 10 = 120
    sp.prompt_len.a = 10;
    sp.out_len.a = 10;
    sp.n_prefixes = 4;
    sp.prefix_len = 100;
    sp.max_context = 119;
    expect_make_error(&sp, WANT("request 0", "120", "119", "prefix"));
    sp.max_context = 120;
    w = make_ok(&sp);
    is_workload_free(&w);

    // a uniform draw past the context is caught where it happens
    sp.n_prefixes = 0;
    sp.prompt_len = (is_len_dist){.kind = IS_LEN_UNIFORM, .a = 1, .b = 1000};
    sp.max_context = 505;
    expect_make_error(&sp, WANT("request ", "longer than the context of 505"));
}

// ---------------------------------------------------------------- files

static char wf_dir[64];

static void wf_setup(void) {
    strcpy(wf_dir, "/tmp/is_wl_XXXXXX");
    cr_assert_not_null(mkdtemp(wf_dir));
}

static void wf_teardown(void) {
    DIR *d = opendir(wf_dir);
    if (!d) return;
    char path[512];
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", wf_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(wf_dir);
}

// Writes text (len bytes; -1: strlen) to the test's directory; the path, in a static buffer per slot.
static const char *wf_write(const char *name, const char *text, long len) {
    static char paths[4][512];
    static int slot;
    char *path = paths[slot++ % 4];
    snprintf(path, 512, "%s/%s", wf_dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    size_t n = len < 0 ? strlen(text) : (size_t)len;
    cr_assert_eq(fwrite(text, 1, n, f), n);
    fclose(f);
    return path;
}

// A stand-in tokenizer: whitespace-separated words; text containing "FAIL" fails.
static int wf_count_words(void *user, const char *text, is_err *err) {
    int *calls = user;
    if (calls) ++*calls;
    if (strstr(text, "FAIL")) return is_errf(err, "the counter refuses this text");
    int n = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        n++;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') p++;
    }
    return n;
}

// The same, plus a BOS token as a real tokenizer's count may hold.
static int wf_count_words_bos(void *user, const char *text, is_err *err) {
    int n = wf_count_words(user, text, err);
    return n < 0 ? n : n + 1;
}

static is_workload_spec file_spec(const char *path) {
    is_workload_spec sp = {
        .arrival = {.kind = IS_ARRIVAL_POISSON, .rate = 5},
        .out_len = {.kind = IS_LEN_FIXED, .a = 9},
        .file = path,
        .seed = 3,
        .count = wf_count_words,
    };
    return sp;
}

static void check_req(const is_serve_req *q, const char *prompt, int prompt_len, int out_len) {
    if (prompt) cr_assert(q->prompt && !strcmp(q->prompt, prompt), "prompt \"%s\", want \"%s\"", q->prompt, prompt);
    else cr_assert_null(q->prompt, "prompt \"%s\", want none", q->prompt);
    cr_assert_eq(q->prompt_len, prompt_len, "prompt_len %d, want %d", q->prompt_len, prompt_len);
    cr_assert_eq(q->out_len, out_len, "out_len %d, want %d", q->out_len, out_len);
    cr_assert_eq(q->prefix_id, -1);
}

static const char wf_jsonl[] = "{\"prompt\": \"the quick brown fox\", \"output_len\": 5}\n"
                               "\n"
                               "{\"prompt_len\": 100, \"output_len\": 7, \"source\": \"ignored\"}\r\n"
                               "   {\"prompt\": \"jumps  over\"}\n"
                               "  \t \n"
                               "{\"prompt_len\": 3, \"output_len\": 2.0, \"prompt\": null}";

Test(workload_file, jsonl_entries_in_order, .init = wf_setup, .fini = wf_teardown) {
    is_workload_spec sp = file_spec(wf_write("w.jsonl", wf_jsonl, -1));
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 4);
    check_req(&w.req[0], "the quick brown fox", 4, 5);
    check_req(&w.req[1], NULL, 100, 7);
    check_req(&w.req[2], "jumps  over", 2, 9); // output_len absent: drawn from out_len
    check_req(&w.req[3], NULL, 3, 2);
    double t[4];
    is_err err;
    cr_assert_eq(is_arrival_times(&sp.arrival, 4, sp.seed, t, &err), 0);
    for (int i = 0; i < 4; i++) cr_assert_eq(w.req[i].t_arrival, t[i]);
    is_workload_free(&w);

    sp.n_requests = 2;
    w = make_ok(&sp);
    cr_assert_eq(w.n, 2);
    check_req(&w.req[1], NULL, 100, 7);
    is_workload_free(&w);

    sp.n_requests = 5;
    expect_make_error(&sp, WANT(sp.file, "5 requests", "only 4"));
}

Test(workload_file, jsonl_default_output_lengths_are_drawn_from_out_len, .init = wf_setup, .fini = wf_teardown) {
    char text[64 * 40] = "";
    for (int i = 0; i < 60; i++) strcat(text, "{\"prompt_len\": 12}\n");
    is_workload_spec sp = file_spec(wf_write("many.jsonl", text, -1));
    sp.out_len = (is_len_dist){.kind = IS_LEN_UNIFORM, .a = 10, .b = 20};
    is_workload a = make_ok(&sp), b = make_ok(&sp);
    cr_assert_eq(a.n, 60);
    int distinct = 0;
    for (int i = 0; i < a.n; i++) {
        cr_assert(a.req[i].out_len >= 10 && a.req[i].out_len <= 20);
        cr_assert_eq(a.req[i].out_len, b.req[i].out_len, "the same seed drew other output lengths");
        distinct += i > 0 && a.req[i].out_len != a.req[i - 1].out_len;
    }
    cr_assert(distinct > 30, "output lengths barely vary: %d changes in 60", distinct);
    is_workload_free(&a);
    is_workload_free(&b);
}

Test(workload_file, duration_with_a_file, .init = wf_setup, .fini = wf_teardown) {
    char text[64 * 40] = "";
    for (int i = 0; i < 40; i++) strcat(text, "{\"prompt_len\": 12, \"output_len\": 3}\n");
    is_workload_spec sp = file_spec(wf_write("d.jsonl", text, -1));
    sp.duration_s = 4;
    sp.arrival.rate = 2;
    is_workload w = make_ok(&sp);
    double t[41];
    is_err err;
    cr_assert_eq(is_arrival_times(&sp.arrival, 41, sp.seed, t, &err), 0);
    int want = 0;
    while (t[want] < 4) want++;
    cr_assert_eq(w.n, want);
    is_workload_free(&w);

    sp.arrival.rate = 100; // ~400 requests from 40 lines
    expect_make_error(&sp, WANT(sp.file, "duration_s", "only 40"));
    sp.duration_s = 0; // every entry
    w = make_ok(&sp);
    cr_assert_eq(w.n, 40);
    is_workload_free(&w);
}

static const char wf_sharegpt[] =
    "[\n"
    " {\"id\": \"a\", \"conversations\": [{\"from\": \"human\", \"value\": \"one two three\"},\n"
    "   {\"from\": \"gpt\", \"value\": \"four five\"}, {\"from\": \"human\", \"value\": \"x\"},\n"
    "   {\"from\": \"gpt\", \"value\": \"y z w\"}]},\n"
    " {\"id\": \"b\", \"conversations\": [{\"from\": \"human\", \"value\": \"lonely\"}]},\n"
    " {\"id\": \"c\", \"conversation\": [{\"from\": \"system\", \"value\": \"be nice\"},\n"
    "   {\"from\": \"user\", \"value\": \"hi there you\"}, {\"from\": \"assistant\", \"value\": \"hello\"}]},\n"
    " {\"id\": \"d\", \"conversations\": [{\"from\": \"human\", \"value\": \"\"},\n"
    "   {\"from\": \"gpt\", \"value\": \"no\"}]},\n"
    " {\"id\": \"e\", \"conversations\": []},\n"
    " {\"id\": \"f\", \"conversations\": [{\"from\": \"gpt\", \"value\": \"hm\"},\n"
    "   {\"from\": \"gpt\", \"value\": \"ok\"}]},\n"
    " {\"id\": \"g\", \"conversations\": [{\"from\": \"human\", \"value\": \"blank reply\"}, {\"from\": \"gpt\", "
    "\"value\": \"  \"}]},\n"
    " {\"id\": \"h\", \"conversations\": [{\"from\": \"human\", \"value\": \"a b\"}, {\"from\": \"gpt\", \"value\": "
    "\"c\"}]}\n"
    "]\n";

static void check_sharegpt(const is_workload *w) {
    cr_assert_eq(w->n, 3);
    check_req(&w->req[0], "one two three", 3, 2);
    check_req(&w->req[1], "hi there you", 3, 1);
    check_req(&w->req[2], "a b", 2, 1);
}

Test(workload_file, sharegpt_takes_first_human_turn_and_its_reply, .init = wf_setup, .fini = wf_teardown) {
    is_workload_spec sp = file_spec(wf_write("s.json", wf_sharegpt, -1));
    is_workload w = make_ok(&sp);
    check_sharegpt(&w);
    double t[3];
    is_err err;
    cr_assert_eq(is_arrival_times(&sp.arrival, 3, sp.seed, t, &err), 0);
    for (int i = 0; i < 3; i++) cr_assert_eq(w.req[i].t_arrival, t[i]);
    is_workload_free(&w);

    sp.n_requests = 2;
    w = make_ok(&sp);
    cr_assert_eq(w.n, 2);
    check_req(&w.req[1], "hi there you", 3, 1);
    is_workload_free(&w);

    sp.n_requests = 4;
    expect_make_error(&sp, WANT(sp.file, "4 requests", "only 3", "5 skipped", "fewer than two turns"));
}

Test(workload_file, format_by_extension_else_by_first_byte, .init = wf_setup, .fini = wf_teardown) {
    is_workload_spec sp = file_spec(wf_write("conversations.txt", wf_sharegpt, -1));
    is_workload w = make_ok(&sp);
    check_sharegpt(&w);
    is_workload_free(&w);

    sp = file_spec(wf_write("requests", wf_jsonl, -1));
    w = make_ok(&sp);
    cr_assert_eq(w.n, 4);
    is_workload_free(&w);

    // a UTF-8 byte order mark is skipped
    char bom[sizeof wf_jsonl + 3] = "\xEF\xBB\xBF";
    strcat(bom, wf_jsonl);
    sp = file_spec(wf_write("bom.jsonl", bom, -1));
    w = make_ok(&sp);
    cr_assert_eq(w.n, 4);
    check_req(&w.req[0], "the quick brown fox", 4, 5);
    is_workload_free(&w);

    // JSONL named .json is read as one JSON document, and fails on its second value
    sp = file_spec(wf_write("lines.json", wf_jsonl, -1));
    expect_make_error(&sp, WANT(sp.file, "not valid JSON", "line 3", ".jsonl"));
    // a ShareGPT array named .jsonl is a JSONL line holding an array
    sp = file_spec(wf_write("array.jsonl", wf_sharegpt, -1));
    expect_make_error(&sp, WANT(sp.file, "line 1", "not valid JSON"));
}

typedef struct wf_case {
    const char *text;
    int max_context;
    const char *want[6];
} wf_case;

static void run_cases(const char *name, const wf_case *c, size_t n) {
    for (size_t k = 0; k < n; k++) {
        is_workload_spec sp = file_spec(wf_write(name, c[k].text, -1));
        sp.max_context = c[k].max_context;
        const char *want[8] = {sp.file};
        for (int i = 0; i < 6 && c[k].want[i]; i++) want[i + 1] = c[k].want[i];
        expect_make_error(&sp, want);
    }
}

#define GOOD_LINE "{\"prompt_len\": 5, \"output_len\": 1}\n"

Test(workload_file, jsonl_errors_name_line_and_field, .init = wf_setup, .fini = wf_teardown) {
    const wf_case cases[] = {
        {GOOD_LINE "not json\n", 0, {"line 2", "not valid JSON"}},
        {GOOD_LINE "{\"prompt_len\": 5, \"output_len\": 1} trailing\n", 0, {"line 2", "not valid JSON"}},
        {GOOD_LINE "[1, 2]\n", 0, {"line 2", "not a JSON object", "array"}},
        {"\n\n{\"output_len\": 5}\n", 0, {"line 3", "\"prompt\"", "\"prompt_len\""}},
        {"{\"prompt_len\": -3, \"output_len\": 5}", 0, {"line 1", "\"prompt_len\"", "-3"}},
        {GOOD_LINE GOOD_LINE GOOD_LINE GOOD_LINE "{\"prompt_len\": 5, \"output_len\": -2}\n",
         0,
         {"line 5", "\"output_len\" must be an integer >= 1", "got -2"}},
        {"{\"prompt_len\": 5, \"output_len\": 3.5}", 0, {"line 1", "\"output_len\"", "3.5"}},
        {"{\"prompt_len\": 5, \"output_len\": \"12\"}", 0, {"line 1", "\"output_len\"", "got \"12\""}},
        {"{\"prompt_len\": 5, \"output_len\": true}", 0, {"line 1", "\"output_len\"", "true"}},
        {"{\"prompt_len\": 16777217, \"output_len\": 1}", 0, {"line 1", "\"prompt_len\"", "16777217"}},
        {"{\"prompt_len\": 0, \"output_len\": 1}", 0, {"line 1", "\"prompt_len\"", "got 0"}},
        {"{\"prompt_len\": 1e300, \"output_len\": 1}", 0, {"line 1", "\"prompt_len\""}},
        {"{\"prompt\": \"a b\", \"prompt_len\": 2, \"output_len\": 1}", 0, {"line 1", "both", "\"prompt_len\""}},
        {GOOD_LINE GOOD_LINE "{\"prompt_len\": 812, \"output_len\": 400}\n",
         1024,
         {"line 3", "prompt (812 tokens) + output (400) is 1212 tokens, longer than the context of 1024"}},
        {"{\"prompt\": \"six words of text are here\", \"output_len\": 5}", 10, {"line 1", "11 tokens", "of 10"}},
        {"{\"prompt\": 42, \"output_len\": 5}", 0, {"line 1", "\"prompt\" must be a string", "42"}},
        {"{\"prompt\": \"\", \"output_len\": 5}", 0, {"line 1", "\"prompt\"", "empty"}},
        {"{\"prompt\": \"   \", \"output_len\": 5}", 0, {"line 1", "\"prompt\"", "empty"}},
        {"{\"prompt_len\": 4, \"prompt_len\": 5, \"output_len\": 5}",
         0,
         {"line 1", "\"prompt_len\"", "more than once"}},
        {GOOD_LINE "{\"prompt\": \"please FAIL here\", \"output_len\": 5}", 0, {"line 2", "the counter refuses"}},
        {"", 0, {"empty"}},
        {"\n   \n\t\n", 0, {"empty"}},
    };
    run_cases("bad.jsonl", cases, sizeof cases / sizeof cases[0]);
}

Test(workload_file, jsonl_errors_of_spec_and_bytes, .init = wf_setup, .fini = wf_teardown) {
    // text prompts need a counter
    is_workload_spec sp = file_spec(wf_write("t.jsonl", GOOD_LINE "{\"prompt\": \"hi\", \"output_len\": 2}\n", -1));
    sp.count = NULL;
    expect_make_error(&sp, WANT(sp.file, "line 2", "counter"));
    // an empty prompt is empty even to a counter that adds a BOS
    sp = file_spec(wf_write("e.jsonl", GOOD_LINE "{\"prompt\": \"\", \"output_len\": 2}\n", -1));
    sp.count = wf_count_words_bos;
    expect_make_error(&sp, WANT(sp.file, "line 2", "\"prompt\" is empty"));
    // a line without output_len needs a valid out_len
    sp = file_spec(wf_write("o.jsonl", GOOD_LINE "{\"prompt_len\": 5}\n", -1));
    sp.out_len = (is_len_dist){.kind = IS_LEN_FIXED, .a = 0};
    expect_make_error(&sp, WANT(sp.file, "line 2", "output_len", "out_len"));
    // ... but not when every line gives one
    sp = file_spec(wf_write("o2.jsonl", GOOD_LINE GOOD_LINE, -1));
    sp.out_len = (is_len_dist){.kind = IS_LEN_FIXED, .a = 0};
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 2);
    is_workload_free(&w);
    // a NUL byte
    static const char nul[] = GOOD_LINE "{\"prompt_len\": 5,\0 \"output_len\": 1}\n";
    sp = file_spec(wf_write("nul.jsonl", nul, sizeof nul - 1));
    expect_make_error(&sp, WANT(sp.file, "NUL"));
    // shared prefixes are for synthetic prompts
    sp = file_spec(wf_write("p.jsonl", GOOD_LINE, -1));
    sp.n_prefixes = 2;
    sp.prefix_len = 8;
    expect_make_error(&sp, WANT(sp.file, "synthetic"));
    // a missing file
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.jsonl", wf_dir);
    sp = file_spec(missing);
    expect_make_error(&sp, WANT(missing));
}

#define TURNS_OK "[{\"from\": \"human\", \"value\": \"a b c\"}, {\"from\": \"gpt\", \"value\": \"d e\"}]"
#define ENTRY_OK "{\"conversations\": " TURNS_OK "}"

Test(workload_file, sharegpt_errors_name_entry_and_field, .init = wf_setup, .fini = wf_teardown) {
    const wf_case cases[] = {
        {ENTRY_OK, 0, {"JSON array", "an object"}},
        {"[" ENTRY_OK ", 5]", 0, {"entry 1", "not a JSON object", "5"}},
        {"[" ENTRY_OK ", " ENTRY_OK ", {\"conversations\": \"hi\"}]", 0, {"entry 2", "\"conversations\"", "list"}},
        {"[{\"id\": 1}]", 0, {"entry 0", "\"conversations\""}},
        {"[" ENTRY_OK ", {\"conversations\": [{\"from\": \"human\", \"value\": 5}]}]",
         0,
         {"entry 1", "turn 0", "\"value\"", "5"}},
        {"[{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"}, {\"value\": \"y\"}]}]",
         0,
         {"entry 0", "turn 1", "\"from\""}},
        {"[{\"conversations\": [\"human: hi\"]}]", 0, {"entry 0", "turn 0", "not a JSON object"}},
        // the '}' that cannot start a value is byte 21 of the line
        {"[{\"conversations\": [}]", 0, {"not valid JSON", "line 1", "column 21"}},
        {"[\n" ENTRY_OK ",\n" ENTRY_OK ",\n]", 0, {"not valid JSON", "line 4"}},
        {"[" ENTRY_OK ", " ENTRY_OK "] []", 0, {"not valid JSON"}},
        {"[" ENTRY_OK ", {\"conversations\": [{\"from\": \"human\", \"value\": \"a b c d\"}, {\"from\": \"gpt\", "
         "\"value\": \"e f\"}]}]",
         5,
         {"entry 1", "prompt (4 tokens) + output (2) is 6 tokens, longer than the context of 5"}},
        {"[" ENTRY_OK ", {\"conversations\": [{\"from\": \"human\", \"value\": \"FAIL\"}, {\"from\": \"gpt\", "
         "\"value\": \"e f\"}]}]",
         0,
         {"entry 1", "the counter refuses"}},
        {"[{\"conversations\": []}, {\"conversations\": [{\"from\": \"human\", \"value\": \"alone\"}]}]",
         0,
         {"only 0 usable entries", "2 skipped"}},
        {"[]", 0, {"only 0 usable entries", "0 skipped"}},
    };
    run_cases("bad.json", cases, sizeof cases / sizeof cases[0]);

    is_workload_spec sp = file_spec(wf_write("ok.json", "[" ENTRY_OK "]", -1));
    sp.count = NULL;
    expect_make_error(&sp, WANT(sp.file, "counter"));
}

// n_requests stops the reading: later entries are neither counted nor checked.
Test(workload_file, n_requests_reads_only_what_it_takes, .init = wf_setup, .fini = wf_teardown) {
    int calls = 0;
    is_workload_spec sp = file_spec(wf_write("head.json", "[" ENTRY_OK ", " ENTRY_OK ", 5]", -1));
    sp.count_user = &calls;
    sp.n_requests = 2;
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 2);
    cr_assert_eq(calls, 4, "%d counter calls for 2 prompts and 2 replies", calls);
    is_workload_free(&w);

    sp = file_spec(wf_write("head.jsonl", GOOD_LINE GOOD_LINE "not json\n", -1));
    sp.n_requests = 2;
    w = make_ok(&sp);
    cr_assert_eq(w.n, 2);
    is_workload_free(&w);
}

// Every entry is taken up to 1e6 requests; past that, n_requests must choose.
Test(workload_file, at_most_a_million_entries, .init = wf_setup, .fini = wf_teardown) {
    static const char line[] = "{\"prompt_len\": 1, \"output_len\": 1}\n";
    const size_t n = 1000001, ll = sizeof line - 1;
    char *text = malloc(n * ll + 1);
    for (size_t i = 0; i < n; i++) memcpy(text + i * ll, line, ll);
    text[n * ll] = 0;
    is_workload_spec sp = file_spec(wf_write("big.jsonl", text, (long)(n * ll)));
    free(text);
    sp.arrival = (is_arrival_spec){.kind = IS_ARRIVAL_BURST};
    expect_make_error(&sp, WANT(sp.file, "more than 1000000 entries", "n_requests"));
    sp.n_requests = 1000000;
    is_workload w = make_ok(&sp);
    cr_assert_eq(w.n, 1000000);
    is_workload_free(&w);
}
