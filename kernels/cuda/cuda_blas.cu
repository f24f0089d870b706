// cuda_blas.cu — cuBLAS for the matmuls, loaded with dlopen when the backend
// starts: a binary built with CUDA then needs neither the driver nor the cuBLAS
// libraries to start on a machine without them (it runs on the CPU there).
//
// matmul: out[n, M] = x[n, K] . w[M, K]^T (+ bias). BF16 weights: x is rounded to
// BF16 (one pass) and cublasGemmEx multiplies BF16 x BF16 with fp32 accumulation
// and an F32 result. F32 weights: an F32 GEMM (no TF32), for tight checks.
// A BF16 matmul at n <= IS_CUDA_GEMV_MAX_N rows goes to the gemv variant chosen (cuda_gemv.cu);
// quantized weights (Q8_0, Q4_0, INT8) go to cuda_quant.cu whatever the variant (the gemv
// variants are BF16 kernels with BF16 checks; quantized weights have one implementation).
#include "kernels/cuda/cuda_internal.cuh" // defines: cuda_backend, CUDA_OK, cuda_round_bf16

extern "C" {
#include "base/dynlib.h" // defines: is_dynlib_open
}

#include <cublas_v2.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define BLAS_WORKSPACE_BYTES (32u << 20) // set once: graph capture must not allocate

struct cuda_blas {
    void *lib, *lib_lt;
    char path[512]; // the file libcublas was loaded from
    cublasHandle_t h;
    void *workspace;
    decltype(&cublasCreate_v2) create;
    decltype(&cublasDestroy_v2) destroy;
    decltype(&cublasSetStream_v2) set_stream;
    decltype(&cublasSetWorkspace_v2) set_workspace;
    // cublasGemmEx is overloaded in C++ (the compute type as an enum of either kind): the C one
    cublasStatus_t (*gemm_ex)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void *,
                              const void *, cudaDataType, int, const void *, cudaDataType, int, const void *, void *,
                              cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
    decltype(&cublasGetStatusString) status_string;
};

static const char *blas_status(const cuda_blas *b, cublasStatus_t s) {
    return b && b->status_string ? b->status_string(s) : "cuBLAS error";
}

// Records a failed cuBLAS call as the backend's first error; false on failure.
static bool blas_ok(cuda_backend *cb, cublasStatus_t s, const char *what, const char *file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return true;
    cuda_note_msg(cb, file, line, "cuBLAS error in %s: %s (status %d)", what, blas_status(cb->blas, s), (int)s);
    return false;
}
#define BLAS_OK(cb, call) blas_ok((cb), (call), #call, __FILE__, __LINE__)

int cuda_blas_open(cuda_backend *cb, is_err *err) {
    // cuBLAS needs cuBLASLt beside it: loaded first, from wherever it is, its soname
    // then satisfies libcublas's own dependency even where no search path leads there
    char where[512], lt_where[512], why[768];
    void *lt = is_dynlib_open("libcublasLt.so.13", "cublas", IS_CUDA_LIBDIR, lt_where, sizeof lt_where, why, sizeof why);
    void *lib = is_dynlib_open("libcublas.so.13", "cublas", IS_CUDA_LIBDIR, where, sizeof where, why, sizeof why);
    if (!lib) {
        if (lt) dlclose(lt);
        return is_errf(err, "cuBLAS not found: libcublas.so.13: %s", why);
    }
    cuda_blas *b = (cuda_blas *)is_xcalloc(1, sizeof *b);
    b->lib = lib;
    b->lib_lt = lt;
    snprintf(b->path, sizeof b->path, "%s", where);
    cb->blas = b;
    struct {
        void **fn;
        const char *sym;
    } syms[] = {{(void **)&b->create, "cublasCreate_v2"},
                {(void **)&b->destroy, "cublasDestroy_v2"},
                {(void **)&b->set_stream, "cublasSetStream_v2"},
                {(void **)&b->set_workspace, "cublasSetWorkspace_v2"},
                {(void **)&b->gemm_ex, "cublasGemmEx"},
                {(void **)&b->status_string, "cublasGetStatusString"}};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        *syms[i].fn = dlsym(lib, syms[i].sym);
        if (!*syms[i].fn) {
            is_errf(err, "cuBLAS library lacks %s", syms[i].sym);
            cuda_blas_close(cb);
            return -1;
        }
    }
    if (!BLAS_OK(cb, b->create(&b->h)) || !BLAS_OK(cb, b->set_stream(b->h, cb->stream)) ||
        !CUDA_OK(cb, cudaMalloc(&b->workspace, BLAS_WORKSPACE_BYTES)) ||
        !BLAS_OK(cb, b->set_workspace(b->h, b->workspace, BLAS_WORKSPACE_BYTES))) {
        cb->failed = false;
        is_errf(err, "cuBLAS setup: %s", cb->errmsg);
        cuda_blas_close(cb);
        return -1;
    }
    return 0;
}

const char *cuda_blas_path(const cuda_backend *cb) { return cb->blas ? cb->blas->path : ""; }

void cuda_blas_close(cuda_backend *cb) {
    cuda_blas *b = cb->blas;
    if (!b) return;
    if (b->h) BLAS_OK(cb, b->destroy(b->h));
    if (b->workspace) CUDA_OK(cb, cudaFree(b->workspace));
    if (b->lib) dlclose(b->lib);
    if (b->lib_lt) dlclose(b->lib_lt);
    free(b);
    cb->blas = NULL;
}

void cuda_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias, int n) {
    cuda_backend *cb = cuda_impl(be);
    IS_ASSERT(x->dtype == IS_DTYPE_F32 && out->dtype == IS_DTYPE_F32);
    IS_ASSERT(w->dtype == IS_DTYPE_F32 || w->dtype == IS_DTYPE_BF16 || is_dtype_quantized(w->dtype));
    IS_ASSERT(x->cols == w->cols && out->cols == w->rows && n >= 0 && n <= x->rows && n <= out->rows);
    IS_ASSERT(!bias || (bias->dtype == IS_DTYPE_F32 && bias->rows * bias->cols == w->rows));
    if (cb->failed || n == 0) return;
    if (is_dtype_quantized(w->dtype)) cuda_quant_matmul(cb, out, x, w, bias, n, be->batch_invariant);
    else if (be->batch_invariant) cuda_matmul_invariant(cb, out, x, w, bias, n);
    else if (w->dtype == IS_DTYPE_BF16 && n <= IS_CUDA_GEMV_MAX_N) cuda_variant_of(cb, CUDA_OP_GEMV)->matmul(cb, out, x, w, bias, n);
    else cuda_gemm(cb, out, x, w, bias, n);
}

const __nv_bfloat16 *cuda_act_bf16(cuda_backend *cb, const is_tensor *x, int n) {
    size_t bytes = (size_t)n * (size_t)x->cols * sizeof(__nv_bfloat16);
    if (!cuda_grow(cb, (void **)&cb->d_act16, &cb->act16_cap, bytes, "matmul BF16 activations")) return NULL;
    cuda_round_bf16(cb, cb->d_act16, (const float *)x->data, x->cols, x->cols, n);
    return cb->d_act16;
}

void cuda_blas_gemm_bf16(cuda_backend *cb, float *out, int64_t ld_out, const __nv_bfloat16 *a, const __nv_bfloat16 *w,
                         int M, int n, int K) {
    if (cb->failed || n == 0 || M == 0) return;
    const float alpha = 1.0f, beta = 0.0f;
    // column-major view: out^T (M x n, ld ld_out) = w (K x M, ld K)^T . a^T (K x n, ld K)
    BLAS_OK(cb, cb->blas->gemm_ex(cb->blas->h, CUBLAS_OP_T, CUBLAS_OP_N, M, n, K, &alpha, w, CUDA_R_16BF, K, a,
                                  CUDA_R_16BF, K, &beta, out, CUDA_R_32F, (int)ld_out, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
}

void cuda_gemm(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias, int n) {
    if (cb->failed || n == 0) return;
    int M = (int)w->rows, K = (int)w->cols;
    const float alpha = 1.0f, beta = 0.0f;
    const void *b_ptr = x->data;
    int ldb = (int)x->cols;
    cudaDataType_t ab_type = CUDA_R_32F;
    if (w->dtype == IS_DTYPE_BF16) {
        b_ptr = cuda_act_bf16(cb, x, n);
        if (!b_ptr) return;
        ldb = K;
        ab_type = CUDA_R_16BF;
    }
    // column-major view: out^T (M x n, ld out->cols) = w (K x M, ld K)^T . x^T (K x n)
    BLAS_OK(cb, cb->blas->gemm_ex(cb->blas->h, CUBLAS_OP_T, CUBLAS_OP_N, M, n, K, &alpha, w->data, ab_type, K, b_ptr,
                                  ab_type, ldb, &beta, out->data, CUDA_R_32F, (int)out->cols, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    if (bias) cuda_add_bias(cb, (float *)out->data, out->cols, (const float *)bias->data, M, n);
}
