// cuda_internal.cuh — shared by the CUDA backend's files; not part of the backend
// interface.
//
// The backend lives in one file per op family:
//   cuda_backend.cu    create/destroy, memory, uploads, sync, batches and graphs, probes
//   cuda_blas.cu       cuBLAS, loaded at run time; matmul (BF16 or F32 weights, fp32 accumulation)
//   cuda_gemv.cu       the gemv variants: cublas, custom (our matmul at n <= 8 rows with BF16 weights,
//                      split-K when short and wide)
//   cuda_quant.cu      quantized weights (Q8_0, Q4_0, INT8): the device quantizer (fills), dequantization
//                      (downloads, embed), and their matmul (a GEMV at n <= 8 rows, dequantized BF16 chunks
//                      through cuBLAS above)
//   cuda_fill.cu       seeded normal and constant fills, dtype conversion
//   cuda_ops.cu        embed, gather_rows, rmsnorm (+ fused residual add), rope, swiglu, add
//   cuda_attention.cu  kv_store, kv_copy_blocks, decode (naive, split_kv) and prefill (tiled, wide) attention,
//                      with their variant tables
//   cuda_sample.cu     argmax and temperature / top-k / top-p sampling on the device
//   cuda_timing.cu     timer_begin/timer_end (events) and flush_cache (an L2 flush kernel)
//
// Errors: a device error inside an op is kept (the first one, with the call, file
// and line) and returned by the next sync; ops after it do nothing. Bad arguments
// are programming errors and abort (IS_ASSERT).
#ifndef IS_CUDA_INTERNAL_CUH
#define IS_CUDA_INTERNAL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "base/error.h"
#include "base/quant.h" // defines: is_quantize_row, is_dequantize_row, IS_QK
#include "kernels/backend.h"
#include "kernels/cuda/cuda_plan.h"
}

struct cuda_blas; // cuda_blas.cu

// The ops with kernel variants, in the order of the backend's kernel_ops; each
// op's table of variants lives in the op's file (cuda_variant below).
enum { CUDA_OP_GEMV, CUDA_OP_ATTN_DECODE, CUDA_OP_ATTN_PREFILL, CUDA_OP_COUNT };

typedef struct cuda_backend {
    int device;
    cudaStream_t stream;
    is_device_info info;
    // the first error since the last sync
    bool failed;
    char errmsg[768];
    // pinned host staging for uploads and downloads, and its device twin
    void *h_stage, *d_stage;
    size_t stage_bytes;
    // the current chunk (batch_begin .. batch_end)
    bool in_batch;
    const int32_t *h_tok, *h_rows; // host arrays the chunk's ops will pass
    const is_attn_batch *h_b;
    is_cuda_layout L;
    int32_t *h_batch, *d_batch;    // pinned packed upload and its device copy
    size_t batch_cap;              // int32 elements of each
    int32_t *d_adhoc;              // for ops called outside a chunk (tests, probes)
    size_t adhoc_cap;
    // graphs
    is_graph_cache graphs;
    bool capturing;
    is_graph_key cur_key;
    bool capture_fail_said;        // the first failed recording was reported on stderr
    bool break_next_capture;       // test hook (is_cuda_break_next_capture)
    // matmul: activations rounded to BF16 (grown on demand; growth drops graphs)
    __nv_bfloat16 *d_act16;
    size_t act16_cap;
    struct cuda_blas *blas;
    // the kernel variant chosen per op (an index into its table), and the
    // workspace they share (split-K partials, split-KV partials), reserved by
    // kernel_select for the largest plan on this device: never grown inside a batch
    int variant[CUDA_OP_COUNT];
    void *d_work;
    size_t work_cap;
    // sampling: requests and ids, pinned and on the device
    is_sample_req *h_req, *d_req;
    int32_t *h_ids, *d_ids;
    int sample_cap;
    // quantized weights (cuda_quant.cu): the BF16 scratch the matmul above the GEMV's rows
    // dequantizes chunks of weight rows into for cuBLAS, reserved when a quantized tensor is
    // allocated (never inside a graph recording), at most CUDA_DEQ_BYTES (or one row); and
    // whether the device quantizer passed its check against base/quant.c
    void *d_deq;
    size_t deq_cap;
    bool quant_checked;
    // timing (cuda_timing.cu): events made on first use, the L2 flush buffer
    cudaEvent_t t_begin, t_end;
    void *d_flush;
    size_t flush_bytes;
    unsigned flush_count;
} cuda_backend;

static inline cuda_backend *cuda_impl(const is_backend *be) { return (cuda_backend *)be->impl; }

// Records the first error: "what: message (name) at file:line". Returns false
// when e is not cudaSuccess.
bool cuda_note(cuda_backend *cb, cudaError_t e, const char *what, const char *file, int line);
void cuda_note_msg(cuda_backend *cb, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CUDA_OK(cb, call) cuda_note((cb), (call), #call, __FILE__, __LINE__)
// After a kernel launch: the launch's own error (bad configuration, no image).
#define CUDA_LAUNCHED(cb, what) cuda_note((cb), cudaGetLastError(), (what), __FILE__, __LINE__)

// Device pointer of n host ints an op was given (ids, positions, rows): their
// place in the chunk's upload when they lie in an array batch_begin saw, else
// (outside a chunk: tests, probes) a synchronous upload.
const int32_t *cuda_dev_ints(cuda_backend *cb, const int32_t *h, int n);
// The chunk's upload for b (uploading b now when it is not the chunk's batch).
const int32_t *cuda_dev_batch(cuda_backend *cb, const is_attn_batch *b, is_cuda_layout *L);
// Drops every recorded graph (a buffer they use moved).
void cuda_graphs_invalidate(cuda_backend *cb);
// The first error since the last sync as an is_err (and cleared): -1, or 0 when none.
int cuda_take_error(cuda_backend *cb, is_err *err);
// Makes a device buffer hold at least bytes (grown x1.5); false on failure (noted).
bool cuda_grow(cuda_backend *cb, void **p, size_t *cap_bytes, size_t bytes, const char *what);

// ---- kernel variants ----
// What attention hands its variants: the call's tensors and the chunk's upload.
typedef struct cuda_attn_call {
    is_tensor *out;
    const is_tensor *q, *k_pool, *v_pool;
    const is_attn_batch *b;
    const int32_t *d;          // the chunk's upload on the device (cuda_dev_batch)
    const is_cuda_layout *L;   // and its layout
    int n_heads, n_kv_heads, head_dim;
    float scale;
} cuda_attn_call;

// How a CUDA kernel variant runs: the is_kernel_variant.impl of each row of an
// op's table. One launcher per op family (the one its op calls), and the
// workspace the variant needs at most on a device with sm_count SMs (floats;
// NULL: none), reserved by kernel_select so no launch ever allocates.
typedef struct cuda_variant {
    void (*matmul)(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                   int n);                                  // gemv variants: a BF16 matmul at n <= IS_CUDA_GEMV_MAX_N rows
    void (*attention)(cuda_backend *cb, const cuda_attn_call *c); // attention variants
    size_t (*work_max)(int sm_count);
} cuda_variant;

// The tables (one row per variant, [0] the default, a NULL name last): gemv in
// cuda_gemv.cu, attn_decode and attn_prefill in cuda_attention.cu.
extern const is_kernel_variant cuda_gemv_variants[];
extern const is_kernel_variant cuda_attn_decode_variants[];
extern const is_kernel_variant cuda_attn_prefill_variants[];

// The chosen variant of op (CUDA_OP_*) of the backend.
const cuda_variant *cuda_variant_of(const cuda_backend *cb, int op);

// Bytes of one row of t (quantized formats: their scales included), and of the whole tensor.
static inline size_t cuda_row_bytes(const is_tensor *t) { return is_dtype_row_bytes(t->dtype, t->cols); }
static inline size_t cuda_tensor_bytes(const is_tensor *t) { return (size_t)t->rows * cuda_row_bytes(t); }

// ---- the ops (one file each family) ----
void cuda_fill_normal(is_backend *be, is_tensor *t, uint64_t seed, uint64_t stream, float std);
void cuda_fill_const(is_backend *be, is_tensor *t, float value);
// dst[i] = src[i] converted, n elements, device memory, on the stream.
void cuda_convert(cuda_backend *cb, void *dst, is_dtype dst_t, const void *src, is_dtype src_t, size_t n);

void cuda_embed(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n);
void cuda_gather_rows(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n);
void cuda_rmsnorm(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n, float eps);
void cuda_add_rmsnorm(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y, const is_tensor *w,
                      int n, float eps);
void cuda_rope(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
               const is_tensor *inv_freq);
void cuda_swiglu(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n);
void cuda_add(is_backend *be, is_tensor *x, const is_tensor *y, int n);
// out[r, :] += bias for r < n (matmul's bias).
void cuda_add_bias(cuda_backend *cb, float *out, int64_t ld, const float *bias, int64_t cols, int n);
// dst[i] = bf16(src[i]) over rows x cols of a row-major F32 array with row stride ld.
void cuda_round_bf16(cuda_backend *cb, __nv_bfloat16 *dst, const float *src, int64_t ld, int64_t cols, int rows);

void cuda_kv_store(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k,
                   const is_tensor *v, const is_attn_batch *b);
void cuda_kv_copy_blocks(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src,
                         const int32_t *dst, int n, int block_size);
void cuda_attention(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                    const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads, int head_dim);
// Sets the attention kernels' shared-memory limits; false (noted) when the device refuses.
bool cuda_attention_init(cuda_backend *cb);

int cuda_sample(is_backend *be, const is_tensor *logits, int n, const is_sample_req *req, int32_t *ids,
                is_err *err);

// cuBLAS (cuda_blas.cu): loaded with dlopen, so a CPU-only machine never needs it.
// Found where base/dynlib.h looks (the loader's path, the toolkit, Python wheels).
int cuda_blas_open(cuda_backend *cb, is_err *err);
void cuda_blas_close(cuda_backend *cb);
const char *cuda_blas_path(const cuda_backend *cb); // the file libcublas loaded from ("" when none)
// The backend's matmul: quantized weights go to cuda_quant_matmul (whatever the gemv
// variant), a BF16 matmul at few rows to the gemv variant chosen, everything else to
// cuda_gemm (or cuda_matmul_invariant under batch_invariant).
void cuda_matmul(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias,
                 int n);
// out[n, w.rows] = x . w^T (+ bias) through cublasGemmEx (gemv=cublas, and every matmul gemv does not take).
void cuda_gemm(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w, const is_tensor *bias, int n);
// The batch-invariant matmul (be->batch_invariant): every row computed the same way
// whatever n: BF16 weights in groups of IS_CUDA_GEMV_MAX_N rows through the custom
// gemv planned for a full group; F32 weights one row per cuBLAS call.
void cuda_matmul_invariant(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w,
                           const is_tensor *bias, int n);

// Split-K's second pass (cuda_gemv.cu): out[j, m] = sum over slices s (in order) of
// part[s][j][m] + bias[m], for j < n, m < M.
void cuda_gemv_reduce(cuda_backend *cb, float *out, int64_t out_ld, const float *part, const float *bias, int M, int n,
                      int split);
// x[n, K] (F32, row stride x->cols) rounded to BF16 into the backend's activation buffer
// (grown on demand; growth drops graphs); NULL on failure (noted).
const __nv_bfloat16 *cuda_act_bf16(cuda_backend *cb, const is_tensor *x, int n);
// out[j, m] = sum_k a[j, k] w[m, k] for j < n, m < M through cublasGemmEx: a BF16 [n, K]
// (row stride K), w BF16 [M, K] (rows contiguous), out F32 with row stride ld_out; fp32 compute.
void cuda_blas_gemm_bf16(cuda_backend *cb, float *out, int64_t ld_out, const __nv_bfloat16 *a, const __nv_bfloat16 *w,
                         int M, int n, int K);

// ---- quantized weights (cuda_quant.cu) ----
#define CUDA_DEQ_BYTES (64u << 20) // the dequantization scratch of the matmul above IS_CUDA_GEMV_MAX_N rows
// Called by tensor_alloc for every quantized tensor (outside graph recordings): the
// first time, checks the device quantizer and dequantizer against base/quant.c on
// hard cases (ties, halfway points, subnormals, overflow, NaN); then makes the
// dequantization scratch hold a chunk of t's rows. -1 with the reason on failure.
int cuda_quant_prepare(cuda_backend *cb, const is_tensor *t, is_err *err);
// Fills of a quantized t: each element takes the value the BF16 fill gives it
// (element (r, k) as element r * cols + k), then each row is quantized on the device
// exactly as is_quantize_row does (base/quant.h).
void cuda_quant_fill_normal(cuda_backend *cb, is_tensor *t, uint64_t seed, uint64_t stream, float std);
void cuda_quant_fill_const(cuda_backend *cb, is_tensor *t, float value);
// dst[i, :] = rows r0 + i of quantized t dequantized to F32 (as is_dequantize_row), i < nr;
// dst device memory with row stride t->cols.
void cuda_quant_dequant_f32(cuda_backend *cb, float *dst, const is_tensor *t, int64_t r0, int64_t nr);
// out[i, :] = row ids[i] of quantized table dequantized to F32, i < n (d_ids on the device).
void cuda_quant_embed(cuda_backend *cb, is_tensor *out, const is_tensor *table, const int32_t *d_ids, int n);
// out[n, w.rows] = x . dequant(w)^T (+ bias) for quantized w, x and out F32: the GEMV at
// n <= IS_CUDA_GEMV_MAX_N rows (and in groups of that many rows under batch_invariant),
// else BF16 chunks of dequantized rows through cuBLAS.
void cuda_quant_matmul(cuda_backend *cb, is_tensor *out, const is_tensor *x, const is_tensor *w,
                       const is_tensor *bias, int n, bool batch_invariant);

// Timing and the cache flush (cuda_timing.cu); cuda_timing_free in destroy.
int cuda_timer_begin(is_backend *be, is_err *err);
int cuda_timer_end(is_backend *be, double *ms, is_err *err);
int cuda_flush_cache(is_backend *be, is_err *err);
void cuda_timing_free(cuda_backend *cb);

// Elements of a tensor, and a grid of at most 65535 * 16 blocks for n elements.
static inline int64_t cuda_numel(const is_tensor *t) { return t->rows * t->cols; }
static inline unsigned cuda_grid(int64_t n, int threads) {
    int64_t g = (n + threads - 1) / threads;
    if (g > 65535 * 16) g = 65535 * 16;
    return (unsigned)(g < 1 ? 1 : g);
}

#endif
