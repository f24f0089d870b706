// cpu_backend.c — the CPU backend: create/destroy, tensor memory, fills, cache flush, dispatch table.
//
// Tensors live in host memory (64-byte aligned; large ones on transparent huge pages
// where the kernel offers them on request). Work is parallel with OpenMP on
// n_threads threads; every op is deterministic for a given thread count, and the
// fills do not depend on it at all.
//
// A quantized tensor (Q8_0, Q4_0, INT8; base/quant.h) is rows rows of
// is_dtype_row_bytes(dtype, cols) bytes; it is written through F32 a row at a time
// (is_quantize_row: the one reference quantizer, so a row's bytes are the same on any
// backend and thread count) and read back with is_dequantize_row.
#define _GNU_SOURCE // madvise
#include "kernels/cpu/cpu_internal.h" // defines: cpu_backend, the ops of the other files

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/quant.h" // defines: is_quantize_row, is_dequantize_row
#include "base/rng.h"   // defines: is_rng_normal

// Per-thread scratch for BF16 weight blocks converted for sgemm (see cpu_matmul.c):
// OpenBLAS repacks the input rows on every call, so the bigger the block of weight
// rows per call the better (measured on [512 x 2048] . [5632 x 2048]^T, 1 thread:
// 1 MiB 68, 4 MiB 127, 16 MiB 135 GFLOP/s), within a total cap for many-core machines.
#define CPU_SCRATCH_MAX (16u << 20)
#define CPU_SCRATCH_MIN (2u << 20)
#define CPU_SCRATCH_TOTAL (64u << 20)
// Tensors from this size up are aligned to 2 MiB and asked to use huge pages: the
// GEMV streams gigabytes of weights and 4 KiB pages would cost a TLB walk each.
#define CPU_HUGE_MIN (4u << 20)
#define CPU_HUGE_ALIGN (2u << 20)

static void *cpu_aligned_alloc(size_t bytes) {
    size_t align = bytes >= CPU_HUGE_MIN ? CPU_HUGE_ALIGN : 64;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes ? bytes : 64) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= CPU_HUGE_MIN) madvise(p, bytes, MADV_HUGEPAGE); // advice only: failure is fine
#endif
    return p;
}

// rows rows of is_dtype_row_bytes each (for a plain dtype: rows * cols * its size).
static size_t cpu_tensor_bytes(const is_tensor *t) {
    return (size_t)t->rows * is_dtype_row_bytes(t->dtype, t->cols);
}

// ---- memory ----------------------------------------------------------------

static int cpu_tensor_alloc(is_backend *be, is_tensor *t, is_err *err) {
    (void)be;
    IS_ASSERT(t->rows >= 0 && t->cols >= 0);
    IS_ASSERT(is_dtype_size(t->dtype) > 0 || is_dtype_quantized(t->dtype));
    int64_t blk = is_dtype_block(t->dtype);
    if (t->cols % blk != 0) {
        return is_errf(err,
                       "cannot allocate a %lld x %lld %s tensor: a %s row holds whole blocks of %lld elements, "
                       "and %lld columns is not a multiple of %lld",
                       (long long)t->rows, (long long)t->cols, is_dtype_name(t->dtype), is_dtype_name(t->dtype),
                       (long long)blk, (long long)t->cols, (long long)blk);
    }
    // row bytes in double for the message (cols * 4 itself could overflow)
    double row_d = is_dtype_quantized(t->dtype) ? (double)is_dtype_row_bytes(t->dtype, t->cols)
                                                : (double)t->cols * (double)is_dtype_size(t->dtype);
    double mib = (double)t->rows * row_d / 1048576.0;
    size_t rb = t->cols > (int64_t)(SIZE_MAX / 8) ? 0 : is_dtype_row_bytes(t->dtype, t->cols);
    if ((t->cols > 0 && rb == 0) || (rb > 0 && (uint64_t)t->rows > SIZE_MAX / rb)) {
        return is_errf(err, "cannot allocate %.0f MiB for a %lld x %lld %s tensor: size overflows",
                       mib, (long long)t->rows, (long long)t->cols, is_dtype_name(t->dtype));
    }
    void *p = cpu_aligned_alloc(cpu_tensor_bytes(t));
    if (!p) {
        return is_errf(err, "cannot allocate %.1f MiB for a %lld x %lld %s tensor", mib,
                       (long long)t->rows, (long long)t->cols, is_dtype_name(t->dtype));
    }
    t->data = p;
    t->owned = true;
    return 0;
}

static void cpu_tensor_free(is_backend *be, is_tensor *t) {
    (void)be;
    if (!t) return;
    if (t->owned) free(t->data);
    t->data = NULL;
    t->owned = false;
}

// Converts n elements in parallel slices (is_dtype_convert per slice).
static void cpu_convert(const cpu_backend *cb, void *dst, is_dtype dst_t, const void *src,
                        is_dtype src_t, size_t n) {
    size_t ds = is_dtype_size(dst_t), ss = is_dtype_size(src_t);
    int nt = (n >= 16 * (size_t)CPU_PAR_MIN) ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), T = omp_get_num_threads();
        size_t i0 = n * (size_t)tid / (size_t)T, i1 = n * (size_t)(tid + 1) / (size_t)T;
        is_dtype_convert((char *)dst + i0 * ds, dst_t, (const char *)src + i0 * ss, src_t, i1 - i0);
    }
}

// Copies bytes in parallel slices.
static void cpu_copy(const cpu_backend *cb, void *dst, const void *src, size_t bytes) {
    int nt = (bytes >= 64 * (size_t)CPU_PAR_MIN) ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num(), T = omp_get_num_threads();
        size_t i0 = bytes * (size_t)tid / (size_t)T, i1 = bytes * (size_t)(tid + 1) / (size_t)T;
        memcpy((char *)dst + i0, (const char *)src + i0, i1 - i0);
    }
}

// t = src row by row through F32, where either is quantized: each row of src widened
// or dequantized (is_dequantize_row), then quantized (is_quantize_row) or narrowed into
// t. Rows in parallel; a row's bytes depend on that row alone.
static void cpu_set_rows(const cpu_backend *cb, is_tensor *t, const void *src, is_dtype src_t) {
    int64_t R = t->rows, C = t->cols;
    size_t srb = is_dtype_row_bytes(src_t, C), drb = is_dtype_row_bytes(t->dtype, C);
    if (R == 0 || drb == 0) return; // (an INT8 row of 0 columns still has its scale)
    int nt = R * C >= CPU_PAR_MIN ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *buf = is_xmalloc((size_t)C * sizeof(float)); // [C]: one row in F32
#pragma omp for schedule(static)
        for (int64_t r = 0; r < R; r++) {
            const char *s = (const char *)src + (size_t)r * srb;
            char *d = (char *)t->data + (size_t)r * drb;
            is_dequantize_row(src_t, s, buf, C);
            if (is_dtype_quantized(t->dtype)) is_quantize_row(t->dtype, buf, d, C);
            else is_dtype_convert(d, t->dtype, buf, IS_DTYPE_F32, (size_t)C);
        }
        free(buf);
    }
}

// A quantized t from a plain src is quantized row by row (src rows of cols elements);
// from src of its own dtype the bytes are copied.
static int cpu_tensor_set(is_backend *be, is_tensor *t, const void *src, is_dtype src_dtype,
                          is_err *err) {
    (void)err;
    IS_ASSERT(t->data != NULL || t->rows * t->cols == 0);
    const cpu_backend *cb = cpu_impl(be);
    if (src_dtype == t->dtype) cpu_copy(cb, t->data, src, cpu_tensor_bytes(t));
    else if (is_dtype_quantized(t->dtype) || is_dtype_quantized(src_dtype)) cpu_set_rows(cb, t, src, src_dtype);
    else cpu_convert(cb, t->data, t->dtype, src, src_dtype, (size_t)(t->rows * t->cols));
    return 0;
}

static int cpu_tensor_wrap(is_backend *be, is_tensor *t, const void *src, is_err *err) {
    (void)be;
    (void)err;
    // Host memory is backend memory: alias it, whatever the dtype (a quantized matrix in
    // base/quant.h's layout, as files hold it). The cast drops const; weights are never
    // written by an op (only activations and KV pools are, and those are allocated).
    t->data = (void *)src;
    t->owned = false;
    return 0;
}

static int cpu_tensor_get_f32(is_backend *be, const is_tensor *t, int64_t n_rows, float *dst,
                              is_err *err) {
    (void)err;
    IS_ASSERT(n_rows >= 0 && n_rows <= t->rows);
    const cpu_backend *cb = cpu_impl(be);
    if (!is_dtype_quantized(t->dtype)) {
        cpu_convert(cb, dst, IS_DTYPE_F32, t->data, t->dtype, (size_t)(n_rows * t->cols));
        return 0;
    }
    int64_t C = t->cols;
    size_t rb = is_dtype_row_bytes(t->dtype, C);
    int nt = n_rows * C >= CPU_PAR_MIN ? cb->n_threads : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t r = 0; r < n_rows; r++)
        is_dequantize_row(t->dtype, (const char *)t->data + (size_t)r * rb, dst + r * C, C);
    return 0;
}

// A quantized t: row r is quantized from the values the BF16 fill gives elements
// r * cols .. r * cols + cols - 1 (std * is_rng_normal rounded to BF16), so a quantized
// preset is exactly quantize(the BF16 preset). Rows in parallel.
static void cpu_fill_normal_quant(const cpu_backend *cb, is_tensor *t, uint64_t seed, uint64_t stream,
                                  float std) {
    int64_t R = t->rows, C = t->cols;
    size_t rb = is_dtype_row_bytes(t->dtype, C);
    if (R == 0 || rb == 0) return; // (an INT8 row of 0 columns still has its scale)
    int nt = R * C >= CPU_PAR_MIN ? cb->n_threads : 1;
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        float *buf = is_xmalloc((size_t)C * sizeof(float)); // [C]: the row's BF16 values in F32
#pragma omp for schedule(static)
        for (int64_t r = 0; r < R; r++) {
            uint64_t i0 = (uint64_t)(r * C), i1 = i0 + (uint64_t)C;
            for (uint64_t i = i0; i < i1;) { // over Box-Muller pairs, as the plain fill
                float v[2];
                is_rng_normal_pair(seed, stream, i >> 1, v);
                for (int h = (int)(i & 1); h < 2 && i < i1; h++, i++)
                    buf[i - i0] = is_bf16_to_f32(is_f32_to_bf16(v[h] * std));
            }
            is_quantize_row(t->dtype, buf, (char *)t->data + (size_t)r * rb, C);
        }
        free(buf);
    }
}

// Element i = std * is_rng_normal(seed, stream, i), rounded to the tensor's dtype. Each
// element depends on i alone, so the bytes do not depend on the thread count. The loop
// runs over Box-Muller pairs: one hash, log and sincos give two elements.
static void cpu_tensor_fill_normal(is_backend *be, is_tensor *t, uint64_t seed, uint64_t stream,
                                   float std) {
    if (is_dtype_quantized(t->dtype)) {
        cpu_fill_normal_quant(cpu_impl(be), t, seed, stream, std);
        return;
    }
    int64_t n = t->rows * t->cols;
    int nt = n >= CPU_PAR_MIN ? cpu_impl(be)->n_threads : 1;
    is_dtype dt = t->dtype;
    size_t es = is_dtype_size(dt);
    char *d = t->data;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t j = 0; j < (n + 1) / 2; j++) {
        float v[2];
        is_rng_normal_pair(seed, stream, (uint64_t)j, v);
        v[0] *= std;
        v[1] *= std;
        int64_t k = n - 2 * j < 2 ? n - 2 * j : 2;
        is_dtype_convert(d + (size_t)(2 * j) * es, dt, v, IS_DTYPE_F32, (size_t)k);
    }
}

// A quantized t: one row of value quantized, its bytes copied to every row.
static void cpu_tensor_fill_const(is_backend *be, is_tensor *t, float value) {
    int64_t n = t->rows * t->cols;
    int nt = n >= CPU_PAR_MIN ? cpu_impl(be)->n_threads : 1;
    if (is_dtype_quantized(t->dtype)) {
        int64_t C = t->cols;
        size_t rb = is_dtype_row_bytes(t->dtype, C);
        if (t->rows == 0 || rb == 0) return;
        float *row = is_xmalloc((size_t)C * sizeof(float));
        char *q = is_xmalloc(rb);
        for (int64_t k = 0; k < C; k++) row[k] = value;
        is_quantize_row(t->dtype, row, q, C);
        char *d = t->data;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int64_t r = 0; r < t->rows; r++) memcpy(d + (size_t)r * rb, q, rb);
        free(row);
        free(q);
        return;
    }
    if (t->dtype == IS_DTYPE_F32) {
        float *d = t->data;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
        for (int64_t i = 0; i < n; i++) d[i] = value;
        return;
    }
    uint16_t h = t->dtype == IS_DTYPE_BF16 ? is_f32_to_bf16(value) : is_f32_to_f16(value);
    uint16_t *d = t->data;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t i = 0; i < n; i++) d[i] = h;
}

// ---- the rest ----------------------------------------------------------------

// CPU ops run to completion before they return and cannot fail.
static int cpu_sync(is_backend *be, is_err *err) {
    (void)be;
    (void)err;
    return 0;
}

// ---- cache flush (inferscope kernels: between timed samples) -----------------

// Bytes of the last-level cache: sysconf, else sysfs (cpu0's highest cache
// index), else CPU_FLUSH_FALLBACK; 0 when unknown.
#define CPU_FLUSH_FALLBACK (64u << 20)
#define CPU_FLUSH_MIN (32u << 20)

static size_t cpu_llc_bytes(void) {
#ifdef _SC_LEVEL3_CACHE_SIZE
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (l3 > 0) return (size_t)l3;
#endif
    size_t best = 0;
    for (int i = 0; i < 8; i++) {
        char path[96];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        unsigned long v = 0;
        char unit = 0;
        int k = fscanf(f, "%lu%c", &v, &unit);
        fclose(f);
        if (k < 1) continue;
        size_t bytes = (size_t)v * (unit == 'K' ? 1024u : unit == 'M' ? 1048576u : 1u);
        if (bytes > best) best = bytes;
    }
    return best;
}

// Writes a buffer of 2 x the last-level cache (at least CPU_FLUSH_MIN) on every
// thread, so each core's private caches and the shared one hold it instead of
// whatever the next sample reads; then reads one value of it back.
static int cpu_flush_cache(is_backend *be, is_err *err) {
    cpu_backend *cb = cpu_impl(be);
    if (!cb->flush) {
        size_t llc = cpu_llc_bytes();
        size_t bytes = llc ? 2 * llc : CPU_FLUSH_FALLBACK;
        if (bytes < CPU_FLUSH_MIN) bytes = CPU_FLUSH_MIN;
        cb->flush = cpu_aligned_alloc(bytes);
        if (!cb->flush)
            return is_errf(err, "cpu backend: cannot allocate the %zu MiB cache-flush buffer", bytes >> 20);
        cb->flush_floats = bytes / sizeof(float);
    }
    float *p = cb->flush;
    size_t n = cb->flush_floats;
    float v = cb->flush_sink + 1.0f;
#pragma omp parallel for schedule(static) num_threads(cb->n_threads)
    for (size_t i = 0; i < n; i++) p[i] = v;
    cb->flush_sink = p[n / 2];
    return 0;
}

// ---- kernel variants (--kernel matmul=...) ----
// Rows in the order of cpu_matmul_path: auto by size, or one path for every size;
// each checked against a float64 matmul of the same operands (F32 activations).
static const is_kernel_variant cpu_matmul_variants[] = {
    {"auto", IS_CHECK_MATMUL_F32, NULL},
    {"gemv", IS_CHECK_MATMUL_F32, NULL},
    {"gemm", IS_CHECK_MATMUL_F32, NULL},
#ifdef IS_HAVE_BLAS
    {"blas", IS_CHECK_MATMUL_F32, NULL},
#endif
    {NULL, IS_CHECK_EXACT, NULL}};
static const is_kernel_op cpu_kernel_ops[] = {
    {"matmul", cpu_matmul_variants,
     "auto: GEMV below 16 rows, else our packed GEMM (its kernel by the CPU's features); gemv, gemm (packed), "
     "blas (OpenBLAS sgemm): that path at every size",
     IS_KOP_MATMUL},
};

static void cpu_gemm_info(is_backend *be, is_gemm_info *out) { cpu_gemm_describe(cpu_impl(be), out); }

static void cpu_kernel_select(is_backend *be, int op_index, int variant_index) {
    IS_ASSERT(op_index == 0 && variant_index >= 0 && variant_index <= CPU_MATMUL_GEMM_BLAS);
    cpu_impl(be)->matmul_path = variant_index;
}

static void cpu_destroy(is_backend *be) {
    if (!be) return;
    cpu_backend *cb = cpu_impl(be);
    if (cb) {
        free(cb->scratch);
        free(cb->flush);
    }
    free(cb);
    free(be);
}

is_backend *is_cpu_backend_create(int n_threads, is_err *err) {
    if (n_threads < 0) {
        is_errf(err, "cpu backend: thread count must be 0 (all CPUs) or positive, got %d", n_threads);
        return NULL;
    }
    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    cpu_backend *cb = is_xcalloc(1, sizeof *cb);
    cb->n_threads = n_threads;
    cb->gemm_kernel = cpu_gemm_best(); // by the CPU's feature bits
    cpu_quant_init();                  // the F16 scale table of the quantized GEMV
    size_t per_thread = CPU_SCRATCH_TOTAL / (size_t)n_threads;
    if (per_thread > CPU_SCRATCH_MAX) per_thread = CPU_SCRATCH_MAX;
    if (per_thread < CPU_SCRATCH_MIN) per_thread = CPU_SCRATCH_MIN;
    cb->scratch_floats = per_thread / sizeof(float);
    cb->scratch = cpu_aligned_alloc(per_thread * (size_t)n_threads);
    if (!cb->scratch) {
        is_errf(err, "cpu backend: cannot allocate %zu MiB of scratch for %d threads",
                (per_thread >> 20) * (size_t)n_threads, n_threads);
        free(cb);
        return NULL;
    }
    cpu_matmul_init_blas(n_threads);

    is_backend *be = is_xcalloc(1, sizeof *be);
    be->name = "cpu";
    be->impl = cb;
    be->destroy = cpu_destroy;
    be->tensor_alloc = cpu_tensor_alloc;
    be->tensor_free = cpu_tensor_free;
    be->tensor_set = cpu_tensor_set;
    be->tensor_wrap = cpu_tensor_wrap;
    be->tensor_get_f32 = cpu_tensor_get_f32;
    be->n_threads = n_threads;
    be->tensor_fill_normal = cpu_tensor_fill_normal;
    be->tensor_fill_const = cpu_tensor_fill_const;
    be->embed = cpu_embed;
    be->rmsnorm = cpu_rmsnorm;
    be->matmul = cpu_matmul;
    be->rope = cpu_rope;
    be->kv_store = cpu_kv_store;
    be->kv_copy_blocks = cpu_kv_copy_blocks;
    be->attention = cpu_attention;
    be->swiglu = cpu_swiglu;
    be->add = cpu_add;
    be->gather_rows = cpu_gather_rows;
    be->sync = cpu_sync;
    be->flush_cache = cpu_flush_cache; // no timer: callers time sync to sync on the host
    be->gemm_info = cpu_gemm_info;
    be->kernel_ops = cpu_kernel_ops;
    be->n_kernel_ops = (int)(sizeof cpu_kernel_ops / sizeof cpu_kernel_ops[0]);
    be->kernel_select = cpu_kernel_select;
    return be;
}
