// test_sampler.c — greedy, reproducibility, streams, top-k and top-p support,
// and chi-square goodness of fit of sampled frequencies.
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "engine/sampler.h"
#include "kernels/ref.h" // defines: is_ref_softmax

// Upper 0.999 quantiles of the chi-square distribution (standard chi-square
// table, e.g. NIST/SEMATECH e-Handbook of Statistical Methods, section 1.3.6.7.4):
// a correct sampler fails one of these checks with probability 0.001, and the
// seeds are fixed, so a pass is reproducible.
#define CHI2_999_DOF2 13.816
#define CHI2_999_DOF7 24.322

static void smp_random_logits(float *x, int n, uint64_t seed, float scale) {
    for (int i = 0; i < n; i++) x[i] = scale * is_rng_normal(seed, 7, (uint64_t)i);
}

// Reference order: probability descending, lower id first on ties.
static const double *smp_ref_key;
static int smp_ref_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (smp_ref_key[i] != smp_ref_key[j]) return smp_ref_key[i] > smp_ref_key[j] ? -1 : 1;
    return i - j;
}
static void smp_ref_order(const double *p, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    smp_ref_key = p;
    qsort(order, (size_t)n, sizeof *order, smp_ref_cmp);
}

static double smp_chi2(const long *counts, const double *p, int n, long draws) {
    double chi2 = 0.0;
    for (int i = 0; i < n; i++) {
        double e = p[i] * (double)draws;
        cr_assert_gt(e, 5.0, "expected count %g of bin %d too small for chi-square", e, i);
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi2;
}

static void smp_count(is_sampler *s, const float *x, int vocab, long draws, long *counts) {
    memset(counts, 0, (size_t)vocab * sizeof *counts);
    for (long d = 0; d < draws; d++) {
        int32_t t = is_sampler_sample(s, x);
        cr_assert(t >= 0 && t < vocab);
        counts[t]++;
    }
}

Test(sampler, argmax_lowest_on_ties_and_ignores_nan) {
    float a[] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
    cr_assert_eq(is_argmax(a, 5), 1);
    float b[] = {NAN, -1.0f, NAN, 2.0f, 2.0f};
    cr_assert_eq(is_argmax(b, 5), 3);
    float c[] = {-INFINITY, -INFINITY, -INFINITY};
    cr_assert_eq(is_argmax(c, 3), 0);
    float d[] = {NAN, NAN};
    cr_assert_eq(is_argmax(d, 2), 0);
    float e[] = {-5.0f};
    cr_assert_eq(is_argmax(e, 1), 0);
}

Test(sampler, greedy_is_argmax) {
    enum { V = 1000 };
    static float x[V];
    for (int trial = 0; trial < 20; trial++) {
        smp_random_logits(x, V, 100 + (uint64_t)trial, 2.0f);
        if (trial % 2) x[700] = x[300] = 50.0f; // a tie at the top
        float temps[] = {0.0f, -1.0f};
        for (int k = 0; k < 2; k++) {
            is_sampler s;
            is_sampler_params p = {.temperature = temps[k], .top_k = 0, .top_p = 1.0f, .seed = 1};
            is_sampler_init(&s, &p, V, 0);
            cr_assert_eq(is_sampler_sample(&s, x), is_argmax(x, V));
            if (trial % 2) cr_assert_eq(is_sampler_sample(&s, x), 300);
            is_sampler_free(&s);
        }
    }
}

Test(sampler, reproducible_for_seed_and_stream) {
    enum { V = 64, N = 2000 };
    float x[V];
    smp_random_logits(x, V, 5, 1.0f);
    is_sampler_params p = {.temperature = 0.9f, .top_k = 40, .top_p = 0.95f, .seed = 42};
    is_sampler a, b;
    is_sampler_init(&a, &p, V, 3);
    is_sampler_init(&b, &p, V, 3);
    for (int i = 0; i < N; i++) cr_assert_eq(is_sampler_sample(&a, x), is_sampler_sample(&b, x), "draw %d", i);
    is_sampler_free(&a);
    is_sampler_free(&b);
}

// Number of draws (of N) where two samplers disagree.
static int smp_disagreements(const is_sampler_params *pa, uint64_t sa, const is_sampler_params *pb,
                             uint64_t sb, const float *x, int vocab, int n) {
    is_sampler a, b;
    is_sampler_init(&a, pa, vocab, sa);
    is_sampler_init(&b, pb, vocab, sb);
    int diff = 0;
    for (int i = 0; i < n; i++) diff += is_sampler_sample(&a, x) != is_sampler_sample(&b, x);
    is_sampler_free(&a);
    is_sampler_free(&b);
    return diff;
}

Test(sampler, streams_and_seeds_give_different_draws) {
    enum { V = 32, N = 500 };
    float x[V] = {0}; // uniform: two independent streams agree on 1/32 of draws
    is_sampler_params p = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 9};
    is_sampler_params q = p;
    q.seed = 10;
    // expected disagreements 500 * 31/32 ~ 484; a bound of 400 leaves a wide margin
    cr_assert_gt(smp_disagreements(&p, 0, &p, 1, x, V, N), 400);
    cr_assert_gt(smp_disagreements(&p, 1, &p, 2, x, V, N), 400);
    cr_assert_gt(smp_disagreements(&p, 0, &q, 0, x, V, N), 400);
    // (seed, stream) is not symmetric: (9, 10) and (10, 9) differ
    cr_assert_gt(smp_disagreements(&p, 10, &q, 9, x, V, N), 400);
}

Test(sampler, top_k_1_is_argmax) {
    enum { V = 5000 };
    static float x[V];
    for (int trial = 0; trial < 10; trial++) {
        smp_random_logits(x, V, 200 + (uint64_t)trial, 1.0f);
        if (trial % 2) x[4000] = x[17] = 9.0f; // tie: id 17 wins
        is_sampler s;
        is_sampler_params p = {.temperature = 1.5f, .top_k = 1, .top_p = 1.0f, .seed = (uint64_t)trial};
        is_sampler_init(&s, &p, V, 0);
        for (int i = 0; i < 50; i++) cr_assert_eq(is_sampler_sample(&s, x), is_argmax(x, V));
        is_sampler_free(&s);
    }
}

// Over many draws with top_k = k only the k best ids (reference order) appear,
// and all of them do.
static void smp_check_top_k(const float *x, int vocab, int k, float t, uint64_t seed) {
    double *p = malloc((size_t)vocab * sizeof *p);
    int *order = malloc((size_t)vocab * sizeof *order);
    long *counts = malloc((size_t)vocab * sizeof *counts);
    // rank by logit (the sampler's key), ties to the lower id
    for (int i = 0; i < vocab; i++) p[i] = x[i];
    smp_ref_order(p, vocab, order);
    is_sampler s;
    is_sampler_params prm = {.temperature = t, .top_k = k, .top_p = 1.0f, .seed = seed};
    is_sampler_init(&s, &prm, vocab, 0);
    smp_count(&s, x, vocab, 20000, counts);
    for (int r = 0; r < vocab; r++) {
        if (r < k)
            cr_assert_gt(counts[order[r]], 0, "rank %d (id %d) never drawn", r, order[r]);
        else
            cr_assert_eq(counts[order[r]], 0, "rank %d (id %d) drawn %ld times", r, order[r],
                         counts[order[r]]);
    }
    is_sampler_free(&s);
    free(p);
    free(order);
    free(counts);
}

Test(sampler, top_k_support) {
    enum { V = 200 };
    float x[V];
    for (int trial = 0; trial < 5; trial++) {
        // scale 0.3: the five best are close, so each appears often
        smp_random_logits(x, V, 300 + (uint64_t)trial, 0.3f);
        smp_check_top_k(x, V, 5, 1.0f, (uint64_t)trial);
    }
    // ties across the k-th place: the lower ids are kept
    for (int i = 0; i < V; i++) x[i] = (i % 10 == 3) ? 1.0f : 0.0f; // ids 3, 13, 23, ...
    smp_check_top_k(x, V, 5, 1.0f, 77);
    for (int i = 0; i < V; i++) x[i] = 0.0f;
    smp_check_top_k(x, V, 7, 2.0f, 78);
}

// Smallest best-first prefix (reference order) with mass >= p.
static int smp_ref_nucleus(const double *prob, const int *order, int n, double p) {
    double acc = 0.0;
    for (int i = 0; i < n; i++) {
        acc += prob[order[i]];
        if (acc >= p) return i + 1;
    }
    return n;
}

Test(sampler, top_p_support_on_random_logits) {
    enum { V = 300 };
    float x[V];
    double prob[V];
    int order[V];
    long counts[V];
    for (int trial = 0; trial < 8; trial++) {
        float t = 0.7f + 0.2f * (float)trial;
        smp_random_logits(x, V, 400 + (uint64_t)trial, 3.0f);
        is_ref_softmax(IS_REF_F32, x, V, t, prob);
        smp_ref_order(prob, V, order);
        // p midway between two cumulative sums, so rounding cannot move the cut
        int j = 2 + trial * 3;
        double c0 = 0.0;
        for (int i = 0; i < j - 1; i++) c0 += prob[order[i]];
        float top_p = (float)(c0 + 0.5 * prob[order[j - 1]]);
        int m = smp_ref_nucleus(prob, order, V, top_p);
        cr_assert_eq(m, j);
        is_sampler s;
        is_sampler_params prm = {.temperature = t, .top_k = trial % 2 ? 0 : 50, .top_p = top_p,
                                 .seed = 500 + (uint64_t)trial};
        is_sampler_init(&s, &prm, V, 0);
        smp_count(&s, x, V, 20000, counts);
        for (int r = m; r < V; r++)
            cr_assert_eq(counts[order[r]], 0, "trial %d: rank %d (id %d) outside the nucleus of %d",
                         trial, r, order[r], m);
        cr_assert_gt(counts[order[0]], 0);
        is_sampler_free(&s);
    }
}

Test(sampler, top_p_long_tail) {
    // one heavy token and 30000 light ones of equal weight (each below the
    // first cut-off, together 3.7x the heavy one): the nucleus holds token 0
    // and the light tokens by increasing id up to the mass p
    enum { V = 30001, DRAWS = 2000 };
    static float x[V];
    static double prob[V];
    static long counts[V];
    x[0] = 0.0f;
    for (int i = 1; i < V; i++) x[i] = -9.0f;
    is_ref_softmax(IS_REF_F32, x, V, 1.0, prob);
    double p = 0.5;
    // tokens 1..n of the tail are kept, n the smallest with p0 + n * p1 >= p
    int n = (int)ceil((p - prob[0]) / prob[1]);
    cr_assert(n > 10000 && n < 12000, "n = %d", n);
    is_sampler s;
    is_sampler_params prm = {.temperature = 1.0f, .top_k = 0, .top_p = (float)p, .seed = 3};
    is_sampler_init(&s, &prm, V, 0);
    smp_count(&s, x, V, DRAWS, counts);
    // one token of slack at the edge: float weights vs the double reference
    for (int i = n + 2; i < V; i++) cr_assert_eq(counts[i], 0, "id %d drawn (nucleus ends at %d)", i, n);
    long tail = 0;
    for (int i = 1; i < V; i++) tail += counts[i];
    // P(tail | nucleus) = n p1 / (p0 + n p1) ~ 0.57; 2000 draws: sd ~ 22, 6 sd allowed
    double q = n * prob[1] / (prob[0] + n * prob[1]);
    double want = DRAWS * q, sd = sqrt(DRAWS * q * (1.0 - q));
    cr_assert(fabs((double)tail - want) < 6 * sd, "tail draws %ld, expected %.0f (sd %.1f)", tail, want, sd);
    is_sampler_free(&s);
}

Test(sampler, chi_square_matches_softmax) {
    enum { V = 8 };
    const float x[V] = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, -1.0f, 1.5f, 0.2f};
    const double t = 0.8;
    const long draws = 50000;
    double prob[V];
    long counts[V];
    is_ref_softmax(IS_REF_F32, x, V, t, prob);
    is_sampler s;
    is_sampler_params prm = {.temperature = (float)t, .top_k = 0, .top_p = 1.0f, .seed = 1234};
    is_sampler_init(&s, &prm, V, 0);
    smp_count(&s, x, V, draws, counts);
    double chi2 = smp_chi2(counts, prob, V, draws);
    cr_log_info("chi-square (7 dof) = %.3f", chi2);
    cr_assert_lt(chi2, CHI2_999_DOF7, "chi-square %.3f >= %.3f", chi2, CHI2_999_DOF7);
    is_sampler_free(&s);

    // top_k = 3: frequencies match softmax renormalized over ids 3, 6, 0
    prm.top_k = 3;
    is_sampler_init(&s, &prm, V, 1);
    smp_count(&s, x, V, draws, counts);
    const int top3[3] = {3, 6, 0};
    double kept[3], c3 = prob[3] + prob[6] + prob[0];
    long kc[3], n_in = 0;
    for (int r = 0; r < 3; r++) {
        kept[r] = prob[top3[r]] / c3;
        kc[r] = counts[top3[r]];
        n_in += kc[r];
    }
    cr_assert_eq(n_in, draws, "ids outside the top 3 drawn");
    chi2 = smp_chi2(kc, kept, 3, draws);
    cr_log_info("top-k chi-square (2 dof) = %.3f", chi2);
    cr_assert_lt(chi2, CHI2_999_DOF2, "chi-square %.3f >= %.3f", chi2, CHI2_999_DOF2);
    is_sampler_free(&s);

    // top_k = 8 of 8 and top_p = 1 are off: the same draws as without them
    is_sampler_params off = prm;
    off.top_k = 0;
    prm.top_k = 8;
    cr_assert_eq(smp_disagreements(&off, 0, &prm, 0, x, V, 5000), 0);
    prm.top_k = 0;
    prm.top_p = 1.5f;
    cr_assert_eq(smp_disagreements(&off, 0, &prm, 0, x, V, 5000), 0);
}

Test(sampler, top_p_top_3_frequencies) {
    enum { V = 8 };
    const float x[V] = {0.3f, 2.0f, -1.0f, 1.6f, 0.1f, 1.2f, -0.5f, 0.4f};
    const double t = 1.0;
    const long draws = 50000;
    double prob[V];
    int order[V];
    long counts[V];
    is_ref_softmax(IS_REF_F32, x, V, t, prob);
    smp_ref_order(prob, V, order);
    cr_assert_eq(order[0], 1);
    cr_assert_eq(order[1], 3);
    cr_assert_eq(order[2], 5);
    double c2 = prob[order[0]] + prob[order[1]], c3 = c2 + prob[order[2]];
    float top_p = (float)(0.5 * (c2 + c3)); // covered by the top 3, not by the top 2
    is_sampler s;
    is_sampler_params prm = {.temperature = (float)t, .top_k = 0, .top_p = top_p, .seed = 99};
    is_sampler_init(&s, &prm, V, 5);
    smp_count(&s, x, V, draws, counts);
    double kept[3];
    long kc[3];
    for (int r = 0; r < 3; r++) {
        kept[r] = prob[order[r]] / c3; // renormalized
        kc[r] = counts[order[r]];
    }
    for (int r = 3; r < V; r++) cr_assert_eq(counts[order[r]], 0, "id %d drawn", order[r]);
    double chi2 = smp_chi2(kc, kept, 3, draws);
    cr_log_info("top-p chi-square (2 dof) = %.3f", chi2);
    cr_assert_lt(chi2, CHI2_999_DOF2, "chi-square %.3f >= %.3f", chi2, CHI2_999_DOF2);
    is_sampler_free(&s);
}

Test(sampler, degenerate_logits) {
    enum { V = 4 };
    is_sampler s;
    is_sampler_params prm = {.temperature = 1.0f, .top_k = 0, .top_p = 0.9f, .seed = 1};
    is_sampler_init(&s, &prm, V, 0);
    float a[V] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    cr_assert_eq(is_sampler_sample(&s, a), 0);
    float b[V] = {NAN, 1.0f, NAN, -INFINITY}; // only id 1 has weight
    for (int i = 0; i < 100; i++) cr_assert_eq(is_sampler_sample(&s, b), 1);
    float c[V] = {0.0f, INFINITY, 1.0f, INFINITY};
    cr_assert_eq(is_sampler_sample(&s, c), 1);
    is_sampler_free(&s);
}
