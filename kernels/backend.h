// backend.h — the compute interface every backend implements (cpu, cuda).
//
// The engine drives the forward pass op by op through this struct of function
// pointers; a backend owns its memory (host for cpu, device for cuda) and never
// sees the model or the engine above it.
//
// Conventions
// - An is_tensor is a 2-D row-major array in backend memory. Activations are F32
//   with rows = capacity in tokens; an op works on the first n rows only.
// - Weight matrices are [out_features, in_features] (Hugging Face nn.Linear), in
//   F32 or BF16 (F16 accepted by tensor_set and converted), or in a quantized
//   format (Q8_0, Q4_0, INT8: base/quant.h; rows of is_dtype_row_bytes each;
//   tensor_set quantizes F32/F16/BF16 sources with is_quantize_row, get_f32
//   dequantizes, fill_normal quantizes the BF16 fill's values). Norm weights and
//   biases are F32 vectors (rows = 1).
// - Ops return nothing; a failure inside an op (a device error) is kept and
//   reported by the next sync(). Bad arguments are programming errors and abort.
// - Ops are queued in order (cpu: run at once; cuda: on one stream). Host arrays
//   passed to an op (ids, positions, the batch) are read before the op returns.
// - Members marked "optional" are NULL when a backend has no use for them; the
//   engine then does without (composes add + rmsnorm, samples on the host, ...).
#ifndef IS_BACKEND_H
#define IS_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "base/dtype.h"
#include "base/error.h"
#include "kernels/check.h" // defines: is_check

// Largest head_dim a backend's attention takes (models are checked against it on load).
#define IS_MAX_HEAD_DIM 256

typedef struct is_tensor {
    is_dtype dtype;
    int64_t rows, cols;
    void *data;   // backend memory
    bool owned;   // freed by tensor_free; false when it aliases memory owned elsewhere (an mmap)
} is_tensor;

// One forward batch as attention and the KV cache see it. Arrays are host memory.
// Token t belongs to sequence seq[t] at position pos[t]; its K and V are written to
// slot[t] of the pool, and it attends to positions 0..pos[t] of its sequence, found
// through that sequence's block table (positions < pos[t] must already be stored,
// or stored by the same batch).
typedef struct is_attn_batch {
    int n_tokens;
    const int32_t *pos;          // [n_tokens]
    const int32_t *seq;          // [n_tokens] index into block_tables, 0..n_seqs-1
    const int32_t *slot;         // [n_tokens] physical slot: block * block_size + offset
    int n_seqs;
    const int32_t *block_tables; // [n_seqs][max_blocks] physical block ids
    int max_blocks;
    int block_size;              // tokens per block
} is_attn_batch;

typedef struct is_backend is_backend;

// Facts about the device a backend computes on (CUDA), for result files and the
// MBU peak; see device_info below.
typedef struct is_device_info {
    char name[128];
    int ordinal;
    int cc_major, cc_minor;       // compute capability
    int sm_count;
    double mem_total_bytes, mem_free_bytes;
    int driver_version;           // 13000 = 13.0
    int runtime_version;
    int sm_clock_khz, mem_clock_khz; // from device attributes
    int mem_bus_bits;
    int l2_bytes;
    double peak_gbs_attr;         // 2 x memory clock x bus width / 8 (DDR), GB/s
} is_device_info;

// What the backend's matmul runs on at prefill sizes with its default variants,
// for result files and MFU (see gemm_info below).
typedef struct is_gemm_info {
    char impl[128];      // "packed GEMM, avx2 micro-kernel (6 x 16 tiles)", "cuBLAS cublasGemmEx"
    char unit[32];       // the compute unit it runs on, as the peak probes name it ("fma_f32_avx2",
                         // "tensor_bf16"); "" when unknown
    char chosen_by[160]; // how: "the CPU's feature bits (avx2, fma)"
    char blas[256];      // the BLAS library linked, selectable as a variant ("OpenBLAS 0.3.21, core Zen
                         // (its own pick from the CPU's model number), ..."); "" when none
} is_gemm_info;

// One row of on-device sampling (see sample below): the semantics of
// engine/sampler.h (candidates ordered by value, then lowest id; top-k, then
// top-p over the kept weights), with the uniform drawn from a counter-based hash
// of (seed, stream, counter) instead of a sequential generator.
typedef struct is_sample_req {
    float temperature;  // <= 0: argmax (lowest id on ties)
    int top_k;          // <= 0: off
    float top_p;        // >= 1: off
    uint64_t seed, stream, counter;
} is_sample_req;

// What batch_begin did: the caller issues the ops (eager or under capture), or a
// graph recorded for this shape already ran them.
typedef enum { IS_BATCH_ISSUE = 0, IS_BATCH_REPLAYED = 1 } is_batch_mode;
// batch_end's answer when the chunk's graph recording failed and none of its ops
// ran: the caller issues the chunk again, from batch_begin (which then runs that
// shape eagerly). Not an error: the backend said once why the recording failed.
#define IS_BATCH_AGAIN 1

// Which backend call an op with variants is exercised through, so that
// `inferscope kernels` can time any backend's variants without knowing them.
typedef enum is_kernel_kind {
    IS_KOP_MATMUL,       // matmul at any row count
    IS_KOP_GEMV,         // matmul at few rows (decode-time projections, n <= 8)
    IS_KOP_ATTN_DECODE,  // attention with one query token per sequence
    IS_KOP_ATTN_PREFILL, // attention over a whole prompt per sequence
} is_kernel_kind;

// One variant of an op: its name (--kernel op=NAME), the check its output must
// pass against the reference (kernels/check.h), and how the backend runs it
// (its own data: launcher, workspace; NULL when it needs none).
typedef struct is_kernel_variant {
    const char *name;
    is_check check;
    const void *impl;
} is_kernel_variant;

// An op with alternative implementations (kernel variants), selected by name with
// --kernel op=variant. A variant is one row of its op's table, next to the op's
// code; variants[0] is the default, and a row with a NULL name ends the table.
typedef struct is_kernel_op {
    const char *op;                    // "matmul"
    const is_kernel_variant *variants; // ends with {NULL}
    const char *doc;                   // one line: what the variants are
    is_kernel_kind kind;               // the call that runs it
} is_kernel_op;

struct is_backend {
    const char *name;  // "cpu", "cuda"
    int n_threads;     // host worker threads the backend computes with (cpu), 0 when none
    is_dtype kv_dtype; // element type of the K and V pools it takes (cpu F32, cuda BF16)
    bool bf16_gemm;    // matmul rounds activations to BF16 before multiplying (cuda)
    // Batch-invariant mode (--batch-invariant): every op computes a row the same way
    // whatever else is in the batch (one matmul kernel for any row count, one
    // attention kernel for any mix of prompt and decode tokens), so a sequence's
    // logits are bitwise the same alone or batched. Costs speed at prefill sizes.
    bool batch_invariant;
    void *impl;
    void (*destroy)(is_backend *be);

    // ---- memory ----
    // Allocates data for t (dtype, rows, cols set by the caller). Error when it does not fit.
    int (*tensor_alloc)(is_backend *be, is_tensor *t, is_err *err);
    void (*tensor_free)(is_backend *be, is_tensor *t);
    // Copies rows*cols elements of src (host, src_dtype) into t, converting to t->dtype.
    int (*tensor_set)(is_backend *be, is_tensor *t, const void *src, is_dtype src_dtype, is_err *err);
    // Makes t use src (host memory of dtype t->dtype) directly when the backend can
    // (cpu: no copy); otherwise allocates and copies. src must outlive t.
    int (*tensor_wrap)(is_backend *be, is_tensor *t, const void *src, is_err *err);
    // Copies the first n_rows of t to host F32.
    int (*tensor_get_f32)(is_backend *be, const is_tensor *t, int64_t n_rows, float *dst, is_err *err);
    // Fills t with normal(0, std) values from the counter-based generator of
    // engine/rng.h (element i depends only on seed, stream and i), rounded to t->dtype.
    void (*tensor_fill_normal)(is_backend *be, is_tensor *t, uint64_t seed, uint64_t stream, float std);
    void (*tensor_fill_const)(is_backend *be, is_tensor *t, float value);

    // ---- ops (activations F32) ----
    // out[i] = table[ids[i]] for i < n (table F32, BF16 or quantized, converted to F32).
    void (*embed)(is_backend *be, is_tensor *out, const is_tensor *table, const int32_t *ids, int n);
    // out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * w.  out may equal x.
    void (*rmsnorm)(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w, int n, float eps);
    // out[n, w.rows] = x[n, w.cols] . w^T (+ bias[w.rows] when bias is not NULL).
    void (*matmul)(is_backend *be, is_tensor *out, const is_tensor *x, const is_tensor *w,
                   const is_tensor *bias, int n);
    // Rotate-half RoPE in place on x[n, n_heads * head_dim] at positions pos[n];
    // inv_freq is a (1, head_dim/2) F32 tensor in backend memory.
    void (*rope)(is_backend *be, is_tensor *x, int n, int n_heads, int head_dim, const int32_t *pos,
                 const is_tensor *inv_freq);
    // Writes k[t], v[t] ([n, kv_dim] each, F32) into slot[t] of the pools ([n_slots,
    // kv_dim], kv_dtype), rounding to the pools' dtype.
    void (*kv_store)(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const is_tensor *k,
                     const is_tensor *v, const is_attn_batch *b);
    // Copies whole blocks src[i] -> dst[i] in both pools (copy-on-write of shared blocks).
    void (*kv_copy_blocks)(is_backend *be, is_tensor *k_pool, is_tensor *v_pool, const int32_t *src,
                           const int32_t *dst, int n, int block_size);
    // Causal attention with grouped-query heads, scale 1/sqrt(head_dim):
    // out[t, h*hd..] = softmax(q[t,h] . K[seq, 0..pos[t], h/(n_heads/n_kv_heads)]) . V[...]
    void (*attention)(is_backend *be, is_tensor *out, const is_tensor *q, const is_tensor *k_pool,
                      const is_tensor *v_pool, const is_attn_batch *b, int n_heads, int n_kv_heads,
                      int head_dim);
    // out[i] = silu(gate[i]) * up[i], elementwise over n rows.
    void (*swiglu)(is_backend *be, is_tensor *out, const is_tensor *gate, const is_tensor *up, int n);
    // x[i] += y[i] over n rows.
    void (*add)(is_backend *be, is_tensor *x, const is_tensor *y, int n);
    // out[i] = x[rows[i]] for i < n (rows: host indices).
    void (*gather_rows)(is_backend *be, is_tensor *out, const is_tensor *x, const int32_t *rows, int n);
    // Optional. x += y; out = rmsnorm(x) * w over n rows (the residual add fused
    // with the next norm). out must differ from x and y.
    void (*add_rmsnorm)(is_backend *be, is_tensor *out, is_tensor *x, const is_tensor *y,
                        const is_tensor *w, int n, float eps);

    // ---- batches and graphs (optional) ----
    // Called once per forward chunk before its ops, with every host array the
    // chunk's ops will be given (tok: embed ids; b: the attention batch; rows:
    // the gather_rows indices). A device backend uploads them once here; the ops
    // then pass the same host pointers. With graph_owner not NULL the backend may
    // replay a graph it recorded for this owner and batch shape (returning
    // IS_BATCH_REPLAYED: the caller skips the ops up to batch_end) or record one
    // while the caller issues them. graph_owner must stay valid until
    // graph_drop(owner) is called: graphs hold the owner's buffers.
    is_batch_mode (*batch_begin)(is_backend *be, const int32_t *tok, const is_attn_batch *b,
                                 const int32_t *rows, int n_rows, const void *graph_owner);
    // Ends the chunk's ops: under recording, instantiates the graph and runs it.
    // Returns 0, -1 with the first error (a device error), or IS_BATCH_AGAIN when
    // the recording failed: nothing ran and the caller issues the chunk again.
    int (*batch_end)(is_backend *be, is_err *err);
    // Forgets every graph recorded for owner.
    void (*graph_drop)(is_backend *be, const void *owner);
    bool graphs;          // whether batch_begin records and replays graphs (--no-graphs)

    // ---- sampling, memory, device (optional) ----
    // ids[i] = the token sampled from logits row i under req[i], for i < n; only
    // the ids cross to the host. Waits for the result; returns the first error.
    int (*sample)(is_backend *be, const is_tensor *logits, int n, const is_sample_req *req,
                  int32_t *ids, is_err *err);
    // Free and total backend memory in bytes (device memory for cuda).
    int (*mem_info)(is_backend *be, double *free_bytes, double *total_bytes, is_err *err);
    int (*device_info)(is_backend *be, is_device_info *out, is_err *err);
    // What the matmul runs on with the default variants (a backend without it: unknown).
    void (*gemm_info)(is_backend *be, is_gemm_info *out);
    // Device-to-device copy bandwidth, (read + write bytes) / s / 1e9, best of a
    // few runs over buffers far larger than the last-level cache; method: one line.
    int (*probe_copy)(is_backend *be, double *gbs, char *method, size_t method_len, is_err *err);

    // Waits for queued work; returns the first error any op hit since the last sync.
    int (*sync)(is_backend *be, is_err *err);

    // ---- timing (optional) ----
    // Marks the start and the end of a timed region on the backend's queue;
    // timer_end waits for the region and gives its elapsed time measured on the
    // device (CUDA events). NULL: the caller times sync() to sync() on the host.
    int (*timer_begin)(is_backend *be, is_err *err);
    int (*timer_end)(is_backend *be, double *ms, is_err *err);
    // Evicts the last-level cache before a timed sample: writes a buffer larger
    // than it (allocated on first use, kept until destroy). Queued like an op.
    int (*flush_cache)(is_backend *be, is_err *err);

    // ---- kernel variants ----
    const is_kernel_op *kernel_ops; // [n_kernel_ops]; NULL when the backend has no alternatives
    int n_kernel_ops;
    // Selects variant (an index into kernel_ops[op_index].variants) for that op.
    void (*kernel_select)(is_backend *be, int op_index, int variant_index);
};

// Applies a kernel spec: "default" (every op back to its default variant), or
// "op=variant" items joined by '+' ("matmul=gemv+attention=split"); ops not named
// get their default. An unknown op or variant is an error listing what exists.
int is_kernel_spec_apply(is_backend *be, const char *spec, is_err *err);
// Checks a spec without applying it.
int is_kernel_spec_check(const is_backend *be, const char *spec, is_err *err);

// Which backend to open, as a user asks for it.
typedef struct is_backend_opts {
    const char *which; // "cpu", "cuda" or "auto" (cuda when a device answers and the backend starts)
    int threads;       // CPU threads (0: all)
    int device;        // CUDA device ordinal
    bool no_graphs;    // cuda: no graph recording and replay
    bool batch_invariant; // is_backend.batch_invariant
} is_backend_opts;

// Opens the backend bo->which (kernels/backend_open.c). verbose: says on stderr
// which backend runs and, for auto, why CUDA is off. why_cuda (may be NULL): why
// CUDA is not used ("" when it is). A cuda backend that cannot be used is an
// error naming why.
is_backend *is_backend_open(const is_backend_opts *bo, bool verbose, char *why_cuda, size_t why_len, is_err *err);

// Creates the CPU backend with n_threads worker threads (0: all online CPUs).
is_backend *is_cpu_backend_create(int n_threads, is_err *err);

// Creates the CUDA backend on device ordinal (kernels/cuda/). In a build without
// CUDA, or with no device, returns NULL and says why.
is_backend *is_cuda_backend_create(int device, is_err *err);

#endif
