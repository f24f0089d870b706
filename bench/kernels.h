// kernels.h — `inferscope kernels`: each op's kernel variants timed side by side
// over shapes taken from model configs, each variant validated against a
// reference first. Declares: is_kernels_main, is_kernels_sweep, is_kernels_nmse,
// is_kernels_tolerance, is_kernels_accept.
#ifndef IS_BENCH_KERNELS_H
#define IS_BENCH_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "kernels/backend.h" // defines: is_kernel_kind

// argv[0] is the program, argv[1] "kernels". Returns the exit status: 0 every
// variant validated and was timed, 1 a variant failed validation (or a point
// failed, or the run could not start), 2 a usage error.
int is_kernels_main(int argc, char **argv);

// The sweep that `inferscope kernels ARGS` runs, on be (a backend the caller
// made; --backend, --device and --threads do not apply). argv: the flags after
// "kernels". *doc: the result document (caller frees; NULL unless the return is
// 0 or 1). Returns 0, 1 (a point failed: validation or an error), 2 bad usage or
// -1 (message in err; usage messages also go to stderr).
int is_kernels_sweep(is_backend *be, int argc, char **argv, cJSON **doc, is_err *err);

// Normalized MSE: sum (got - ref)^2 / sum ref^2 over n values. When ref is all
// zeros: 0 if got is too, else +inf. A NaN or inf in got gives NaN or inf.
double is_kernels_nmse(const float *got, const float *ref, size_t n);

// The NMSE a variant of an op of this kind may reach against the reference;
// bf16: the backend rounds operands to BF16 (be->bf16_gemm for matmul kinds,
// a BF16 be->kv_dtype for attention). The reasons are beside the values.
double is_kernels_tolerance(is_kernel_kind kind, bool bf16);

// Whether nmse passes tol (NaN never does).
bool is_kernels_accept(double nmse, double tol);

#endif
