// check.h — how an op's output is judged against a reference: the normalized
// MSE, and one tolerance per kind of op and operand dtype, with its reason.
// `inferscope kernels` (every variant, before and after timing) and the CUDA op
// tests use these and nothing else. Declares: is_nmse, is_check, is_check_tolerance,
// is_check_reason, is_check_accept. Each kernel variant names its check in its
// op's table (kernels/backend.h: is_kernel_variant).
#ifndef IS_KERNELS_CHECK_H
#define IS_KERNELS_CHECK_H

#include <stdbool.h>
#include <stddef.h>

// Normalized MSE: sum (got - ref)^2 / sum ref^2 over n values. When ref is all
// zeros: 0 if got is too, else +inf. A NaN in got or ref gives NaN (which no
// tolerance accepts); an inf in got gives inf or NaN.
double is_nmse(const float *got, const float *ref, size_t n);

// What differs between an op's output and its reference, each with a tolerance.
typedef enum is_check {
    IS_CHECK_EXACT,        // data movement (embed, gather, KV store of exact values, block copy)
    IS_CHECK_ROW_F32,      // fp32 row and elementwise ops (rmsnorm, add + rmsnorm, rope, swiglu, add)
    IS_CHECK_MATMUL_F32,   // matmul with F32 operands
    IS_CHECK_MATMUL_BF16,  // matmul with BF16 operands, the reference multiplying the same BF16 values
    IS_CHECK_ATTENTION,    // attention over the same K and V values (any variant)
    IS_CHECK_FORWARD_BF16, // a whole forward pass in BF16 (weights, activations before each GEMM, KV) against F32
    IS_CHECK_COUNT
} is_check;

// The largest NMSE the check accepts, and why (one line).
double is_check_tolerance(is_check c);
const char *is_check_reason(is_check c);

// Whether nmse passes check c (NaN never does).
bool is_check_accept(double nmse, is_check c);

#endif
