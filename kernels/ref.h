// ref.h — float64 reference ops, written straightforwardly and apart from every
// backend's fast path: what the CPU ops' tests, the reference forward pass of the
// tests (tests/ref/ref_forward.c) and `inferscope kernels` (its float64 matmul
// check) compare against. Every sum is taken in double, in index order, so a
// value does not depend on the caller. Declares: is_ref_type, is_ref_dot,
// is_ref_linear, is_ref_rmsnorm, is_ref_rope, is_ref_silu, is_ref_softmax,
// is_ref_attention_head.
//
// Inputs are read as they are given, F32 (a test's host copy of an op's
// operands) or F64 (the reference forward pass), widened to double on use: no
// caller copies its operands to call an op. Outputs are double. An output may
// be the F64 input it is computed from where a function says so.
#ifndef IS_KERNELS_REF_H
#define IS_KERNELS_REF_H

#include <stddef.h>
#include <stdint.h>

// The element type of a reference op's inputs (each input named "of type t").
typedef enum is_ref_type {
    IS_REF_F32, // float
    IS_REF_F64, // double
} is_ref_type;

// s0 + sum_k a[k] b[k], added in order k = 0..n-1 onto s0 (a bias, or 0).
// a: [n], b: [n], of type t. abs_sum (NULL: not wanted): |s0| + sum_k |a[k] b[k]|,
// the scale of the rounding error of any other summation of the same terms.
double is_ref_dot(is_ref_type t, const void *a, const void *b, int64_t n, double s0, double *abs_sum);

// A linear layer: y[o] = b[o] + sum_i W[o][i] x[i] (is_ref_dot of row o and x).
// W: [n_out][n_in], b: [n_out] (NULL: no bias), x: [n_in], of type t; y: [n_out].
void is_ref_linear(is_ref_type t, const void *W, const void *b, const void *x, int64_t n_in, int64_t n_out,
                   double *y);

// RMSNorm of a row: y[i] = x[i] / sqrt(sum_k x[k]^2 / n + eps) * w[i].
// x: [n], w: [n], of type t; y: [n] (may be x when t is IS_REF_F64).
void is_ref_rmsnorm(is_ref_type t, const void *x, const void *w, int n, double eps, double *y);

// Rotate-half RoPE of one token's heads at position pos: in each head, the pair
// (a, b) = (x[i], x[i + head_dim/2]), i < head_dim/2, turns by pos * inv_freq[i]
// to (a cos - b sin, b cos + a sin).
// x: [n_heads][head_dim] of type t, head_dim even; inv_freq: [head_dim/2];
// y: [n_heads][head_dim] (may be x when t is IS_REF_F64).
void is_ref_rope(is_ref_type t, const void *x, int n_heads, int head_dim, double pos, const double *inv_freq,
                 double *y);

// silu(x) = x / (1 + e^-x); SwiGLU is is_ref_silu(gate) * up.
double is_ref_silu(double x);

// p = softmax(x / temp), the maximum subtracted first:
// p[i] = exp((x[i] - max_k x[k]) / temp) / sum_j exp((x[j] - max_k x[k]) / temp).
// x: [n] of type t; p: [n] (may be x when t is IS_REF_F64).
void is_ref_softmax(is_ref_type t, const void *x, int n, double temp, double *p);

// Causal attention of one query head over positions 0..n-1 of one KV head:
// scores[p] = q . k[p] / sqrt(head_dim), w = is_ref_softmax(scores),
// out[i] = sum_p w[p] v[p][i] (summed over p in order).
// q: [head_dim]; k, v: [n] rows of [head_dim], row p at k + p * kv_stride
// elements (a head inside a row of all KV heads), all of type t.
// scores: [n], scratch (left holding w); out: [head_dim].
// max_abs_score (NULL: not wanted): the largest |scores[p]| before the softmax, or 0.
void is_ref_attention_head(is_ref_type t, const void *q, const void *k, const void *v, size_t kv_stride, int n,
                           int head_dim, double *scores, double *out, double *max_abs_score);

#endif
