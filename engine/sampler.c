// sampler.c — greedy and temperature / top-k / min-p / top-p sampling, and the
// repetition penalty.
//
// Sampling works on unnormalized weights w_i = exp((x_i - max) / T); the
// normalization cancels when the kept candidates are renormalized, so it is
// never applied. Candidates are ordered by (value descending, id ascending),
// which makes every choice deterministic given (seed, stream, logits).
#include "engine/sampler.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "base/error.h"

// NaN counts as -inf everywhere.
static inline float smp_key(const float *key, int32_t id) {
    float v = key[id];
    return isnan(v) ? -INFINITY : v;
}

// true when a ranks below b: smaller key, or equal key and higher id
static inline int smp_worse(const float *key, int32_t a, int32_t b) {
    float ka = smp_key(key, a), kb = smp_key(key, b);
    return ka < kb || (ka == kb && a > b);
}

// Sift ids[i] down a heap of n whose root is its worst element.
static void smp_sift_down(int32_t *ids, int n, int i, const float *key) {
    for (;;) {
        int w = i, l = 2 * i + 1, r = l + 1;
        if (l < n && smp_worse(key, ids[l], ids[w])) w = l;
        if (r < n && smp_worse(key, ids[r], ids[w])) w = r;
        if (w == i) return;
        int32_t t = ids[i];
        ids[i] = ids[w];
        ids[w] = t;
        i = w;
    }
}

static void smp_heapify(int32_t *ids, int n, const float *key) {
    for (int i = n / 2 - 1; i >= 0; i--) smp_sift_down(ids, n, i, key);
}

// Sorts ids best first (heapsort: repeatedly moves the worst to the end).
static void smp_sort_best_first(int32_t *ids, int n, const float *key) {
    smp_heapify(ids, n, key);
    for (int end = n - 1; end > 0; end--) {
        int32_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        smp_sift_down(ids, end, 0, key);
    }
}

// The k best ids of x[0..n) into ids[0..k), in heap order: O(n log k).
static void smp_top_k(const float *x, int n, int k, int32_t *ids) {
    for (int i = 0; i < k; i++) ids[i] = i;
    smp_heapify(ids, k, x);
    for (int i = k; i < n; i++) {
        if (smp_worse(x, ids[0], i)) {
            ids[0] = i;
            smp_sift_down(ids, k, 0, x);
        }
    }
}

int32_t is_argmax(const float *x, int n) {
    IS_ASSERT(n >= 1);
    int32_t best = 0;
    float bv = smp_key(x, 0);
    for (int i = 1; i < n; i++) {
        if (x[i] > bv) { // false for NaN; strict, so ties keep the lowest id
            bv = x[i];
            best = i;
        }
    }
    return best;
}

static bool smp_penalty_on(const is_sampler_params *p) { return p->rep_penalty > 0.0f && p->rep_penalty != 1.0f; }

void is_sampler_init(is_sampler *s, const is_sampler_params *p, int vocab, uint64_t stream) {
    IS_ASSERT(vocab >= 1);
    s->p = *p;
    s->vocab = vocab;
    // not symmetric in (seed, stream), and distinct streams of one seed differ
    is_rng_seed(&s->rng, is_mix64(is_mix64(p->seed) + (stream + 1) * 0x9e3779b97f4a7c15ULL));
    s->probs = is_xmalloc((size_t)vocab * sizeof *s->probs);
    s->idx = is_xmalloc((size_t)vocab * sizeof *s->idx);
    s->seen = smp_penalty_on(p) ? is_xcalloc((size_t)vocab, sizeof *s->seen) : NULL;
}

void is_sampler_free(is_sampler *s) {
    free(s->probs);
    free(s->idx);
    free(s->seen);
    s->probs = NULL;
    s->idx = NULL;
    s->seen = NULL;
}

void is_sampler_count(is_sampler *s, int32_t tok, int delta) {
    if (!s->seen) return;
    IS_ASSERT(tok >= 0 && tok < s->vocab && s->seen[tok] + delta >= 0);
    s->seen[tok] += delta;
}

void is_sampler_penalize(const is_sampler *s, float *logits) {
    if (!s->seen) return;
    const float r = s->p.rep_penalty;
    for (int i = 0; i < s->vocab; i++)
        if (s->seen[i]) logits[i] = logits[i] > 0.0f ? logits[i] / r : logits[i] * r;
}

static inline void smp_swap(int32_t *ids, int i, int j) {
    int32_t t = ids[i];
    ids[i] = ids[j];
    ids[j] = t;
}

// Of positions a, b, c of ids, the one holding the middle element.
static int smp_median3(const int32_t *ids, int a, int b, int c, const float *key) {
    if (smp_worse(key, ids[a], ids[b])) { int t = a; a = b; b = t; } // now a better than b
    if (smp_worse(key, ids[c], ids[b])) return b;                    // a > b > c
    return smp_worse(key, ids[a], ids[c]) ? a : c;                   // b is last
}

// Partitions ids[lo, hi) around a median-of-three pivot: better ids first, then
// the pivot, at the returned position; *mass gets the better ids' total weight.
// The order has no ties (ids break them), so the split is strict.
static int smp_partition(int32_t *ids, int lo, int hi, const float *w, double *mass) {
    smp_swap(ids, smp_median3(ids, lo, lo + (hi - lo) / 2, hi - 1, w), hi - 1);
    const int32_t pv = ids[hi - 1];
    const float pw = w[pv]; // weights are never NaN
    int a = lo;
    double m = 0.0;
    for (int i = lo; i < hi - 1; i++) {
        int32_t id = ids[i];
        if (w[id] > pw || (w[id] == pw && id < pv)) {
            m += w[id];
            smp_swap(ids, a++, i);
        }
    }
    smp_swap(ids, a, hi - 1);
    *mass = m;
    return a;
}

// Nucleus of the n candidates in ids (weights w by id, the best weighing 1):
// moves the smallest best-first prefix whose weight reaches target to
// ids[0, m) and returns m. Inside the nucleus the order is left as the
// partitions made it.
static int smp_top_p(int32_t *ids, int n, const float *w, double target) {
    int lo = 0, hi = n;
    // Most of the mass usually sits in few tokens. The tokens weighing at least
    // a cut-off form a best-first prefix; when they hold the target, the
    // nucleus lies among them and the rest need no further look.
    static const float cuts[] = {1e-3f, 1e-6f};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        int k = 0;
        double mass = 0.0;
        for (int i = 0; i < n; i++) {
            if (w[ids[i]] >= cuts[c]) {
                mass += w[ids[i]];
                smp_swap(ids, k++, i);
            }
        }
        if (mass >= target) {
            hi = k;
            break;
        }
    }
    // Quickselect on mass, O(n) expected: only the range holding the cut is
    // split further; it is sorted once small, or once splitting stops paying
    // off (a bound on the worst case: then it is a heapsort).
    int budget = 8;
    for (int k = hi; k > 1; k >>= 1) budget += 2;
    while (hi - lo > 32 && budget-- > 0) {
        double better;
        int a = smp_partition(ids, lo, hi, w, &better);
        if (better >= target) {
            hi = a; // the cut lies among the better ones
        } else if (better + w[ids[a]] >= target) {
            return a + 1;
        } else {
            target -= better + w[ids[a]];
            lo = a + 1;
        }
    }
    smp_sort_best_first(ids + lo, hi - lo, w);
    double acc = 0.0;
    for (int i = lo; i < hi; i++) {
        acc += w[ids[i]];
        if (acc >= target) return i + 1;
    }
    return hi; // rounding: keep the whole range
}

// The kept candidates of a sampled draw: ids[0, n) with weights w[id] (by id,
// the top weighing 1) summing to *kept. Returns n, or 0 when there is nothing
// to weigh (greedy, or logits all -inf/NaN or with a +inf): then *top is the pick.
static int smp_candidates(is_sampler *s, const float *logits, int32_t *top, double *kept) {
    const int v = s->vocab;
    const float t = s->p.temperature;
    *top = is_argmax(logits, v);
    if (!(t > 0.0f)) return 0;
    float mx = logits[*top];
    if (!isfinite(mx)) return 0;

    int32_t *ids = s->idx;
    float *w = s->probs; // by token id; only candidates' entries are set
    int n = v;
    if (s->p.top_k > 0 && s->p.top_k < v) {
        n = s->p.top_k;
        smp_top_k(logits, v, n, ids);
    } else {
        for (int i = 0; i < v; i++) ids[i] = i;
    }
    double z = 0.0;
    int m = 0;
    const float min_w = s->p.min_p > 0.0f ? s->p.min_p : 0.0f; // the top weighs exp(0) = 1
    for (int i = 0; i < n; i++) {
        int32_t id = ids[i];
        float x = logits[id];
        w[id] = isnan(x) ? 0.0f : expf((x - mx) / t);
        if (min_w > 0.0f && w[id] < min_w) continue;
        ids[m++] = id;
        z += w[id];
    }
    n = m;
    if (s->p.top_p > 0.0f && s->p.top_p < 1.0f) n = smp_top_p(ids, n, w, s->p.top_p * z);

    // renormalize over the kept candidates
    double k = 0.0;
    for (int i = 0; i < n; i++) k += w[ids[i]];
    *kept = k;
    return n;
}

int32_t is_sampler_sample(is_sampler *s, const float *logits) {
    int32_t top;
    double kept;
    int n = smp_candidates(s, logits, &top, &kept);
    if (n == 0) return top;
    const int32_t *ids = s->idx;
    const float *w = s->probs;
    // walk the candidates' cumulative weights
    double u = is_rng_uniform(&s->rng) * kept;
    double acc = 0.0;
    int32_t last = top;
    for (int i = 0; i < n; i++) {
        float wi = w[ids[i]];
        if (wi <= 0.0f) continue;
        acc += wi;
        last = ids[i];
        if (u < acc) return ids[i];
    }
    return last; // u rounded to the total
}

void is_sampler_probs(is_sampler *s, const float *logits, float *probs) {
    int32_t top;
    double kept;
    int n = smp_candidates(s, logits, &top, &kept);
    for (int i = 0; i < s->vocab; i++) probs[i] = 0.0f;
    if (n == 0 || !(kept > 0.0)) {
        probs[top] = 1.0f;
        return;
    }
    for (int i = 0; i < n; i++) probs[s->idx[i]] = (float)(s->probs[s->idx[i]] / kept);
}

int32_t is_sample_dense(is_rng *r, const float *w, int n) {
    double total = 0.0;
    for (int i = 0; i < n; i++) total += w[i] > 0.0f ? w[i] : 0.0f;
    IS_ASSERT(total > 0.0);
    double u = is_rng_uniform(r) * total, acc = 0.0;
    int32_t last = 0;
    for (int i = 0; i < n; i++) {
        if (!(w[i] > 0.0f)) continue;
        acc += w[i];
        last = i;
        if (u < acc) return i;
    }
    return last; // u rounded to the total
}
