// ref.c — the float64 reference ops (see ref.h): plain loops, sums in index order.
#include "kernels/ref.h"

#include <math.h>

// Element i of an input of type t, widened to double.
static inline double ref_at(is_ref_type t, const void *p, size_t i) {
    return t == IS_REF_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

// The address of element i of an input of type t.
static const void *ref_elem(is_ref_type t, const void *p, size_t i) {
    return (const char *)p + i * (t == IS_REF_F32 ? sizeof(float) : sizeof(double));
}

double is_ref_dot(is_ref_type t, const void *a, const void *b, int64_t n, double s0, double *abs_sum) {
    double s = s0, mag = fabs(s0);
    for (int64_t k = 0; k < n; k++) {
        double ab = ref_at(t, a, (size_t)k) * ref_at(t, b, (size_t)k);
        s += ab;
        mag += fabs(ab);
    }
    if (abs_sum) *abs_sum = mag;
    return s;
}

void is_ref_linear(is_ref_type t, const void *W, const void *b, const void *x, int64_t n_in, int64_t n_out,
                   double *y) {
    for (int64_t o = 0; o < n_out; o++)
        y[o] = is_ref_dot(t, ref_elem(t, W, (size_t)(o * n_in)), x, n_in, b ? ref_at(t, b, (size_t)o) : 0.0, NULL);
}

void is_ref_rmsnorm(is_ref_type t, const void *x, const void *w, int n, double eps, double *y) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += ref_at(t, x, i) * ref_at(t, x, i);
    double inv = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++) y[i] = ref_at(t, x, i) * inv * ref_at(t, w, i);
}

void is_ref_rope(is_ref_type t, const void *x, int n_heads, int head_dim, double pos, const double *inv_freq,
                 double *y) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        size_t o = (size_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            double ang = pos * inv_freq[i];
            double c = cos(ang), s = sin(ang);
            double a = ref_at(t, x, o + i), b = ref_at(t, x, o + i + half);
            y[o + i] = a * c - b * s;
            y[o + i + half] = b * c + a * s;
        }
    }
}

double is_ref_silu(double x) { return x / (1.0 + exp(-x)); }

void is_ref_softmax(is_ref_type t, const void *x, int n, double temp, double *p) {
    double mx = -INFINITY, z = 0.0;
    for (int i = 0; i < n; i++) mx = fmax(mx, ref_at(t, x, i));
    for (int i = 0; i < n; i++) z += p[i] = exp((ref_at(t, x, i) - mx) / temp);
    for (int i = 0; i < n; i++) p[i] /= z;
}

void is_ref_attention_head(is_ref_type t, const void *q, const void *k, const void *v, size_t kv_stride, int n,
                           int head_dim, double *scores, double *out, double *max_abs_score) {
    double max_abs = 0;
    for (int p = 0; p < n; p++) {
        const void *kp = ref_elem(t, k, (size_t)p * kv_stride);
        scores[p] = is_ref_dot(t, q, kp, head_dim, 0.0, NULL) / sqrt((double)head_dim);
        if (fabs(scores[p]) > max_abs) max_abs = fabs(scores[p]);
    }
    is_ref_softmax(IS_REF_F64, scores, n, 1.0, scores);
    for (int i = 0; i < head_dim; i++) out[i] = 0;
    for (int p = 0; p < n; p++) {
        const void *vp = ref_elem(t, v, (size_t)p * kv_stride);
        for (int i = 0; i < head_dim; i++) out[i] += scores[p] * ref_at(t, vp, (size_t)i);
    }
    if (max_abs_score) *max_abs_score = max_abs;
}
