// check.c — see check.h. The tolerances, and why:
#include "kernels/check.h"

#include <math.h>

static const struct {
    double tol;
    const char *reason;
} checks[IS_CHECK_COUNT] = {
    [IS_CHECK_EXACT] = {0, "data movement: every value arrives unchanged"},
    // fp32 arithmetic in another order, expf/sincosf of another library: NMSE
    // ~1e-14; a wrong index or a dropped row gives ~1
    [IS_CHECK_ROW_F32] = {1e-10, "fp32 row and elementwise ops: rounding in another order, another libm"},
    // fp32 sums of K <= 16k terms in another order (blocked, split-K), relative
    // error ~1e-6 at worst (NMSE ~1e-12); a BF16 rounding slip (NMSE ~1e-6) fails
    [IS_CHECK_MATMUL_F32] = {1e-8, "F32 matmul: fp32 sums of up to 16k terms in another order"},
    // the reference sees the very BF16 operands (their products are exact in
    // fp32), so what is left is fp32 summation order: relative ~sqrt(K) x 2^-24
    // per output, NMSE ~1e-11 at K = 16k. One extra BF16 rounding of the output
    // or of partial sums (relative error up to 2^-9, NMSE ~1.3e-6) must fail: 1e-7
    [IS_CHECK_MATMUL_BF16] = {1e-7, "BF16 matmul against the same BF16 operands: fp32 sums in another order"},
    // fp32 softmax and sums in another order; split-KV regroups the same sums
    // by log-sum-exp (NMSE ~1e-12); a missed block or tile gives ~1e-2 and more
    [IS_CHECK_ATTENTION] = {1e-6, "attention over the same K and V: fp32 softmax and sums in another order"},
    // BF16 weights, activations rounded before each GEMM and a BF16 KV cache,
    // against an F32 pass of the same weights: relative 2^-9 per rounding over
    // every layer, NMSE ~1e-4 on the logits
    [IS_CHECK_FORWARD_BF16] = {1e-3, "a BF16 forward pass against F32: a rounding of 2^-9 at every GEMM and KV store"},
};

double is_nmse(const float *got, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * (double)ref[i];
    }
    if (isnan(num) || isnan(den)) return NAN;
    if (den == 0) return num == 0 ? 0 : INFINITY;
    return num / den;
}

double is_check_tolerance(is_check c) { return (unsigned)c < IS_CHECK_COUNT ? checks[c].tol : 0; }

const char *is_check_reason(is_check c) { return (unsigned)c < IS_CHECK_COUNT ? checks[c].reason : "?"; }

bool is_check_accept(double nmse, is_check c) { return nmse <= is_check_tolerance(c); }
