// cpu_backend.c — the CPU backend: create/destroy, tensor memory, fills, cache flush, dispatch table.
//
// Tensors live in host memory (64-byte aligned; large ones on transparent huge pages
// where the kernel offers them on request). Work is parallel with OpenMP on
// n_threads threads; every op is deterministic for a given thread count, and the
// fills do not depend on it at all.
#define _GNU_SOURCE // madvise
#include "kernels/cpu/cpu_internal.h" // defines: cpu_backend, the ops of the other files

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/rng.h" // defines: is_rng_normal

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

static size_t cpu_tensor_bytes(const is_tensor *t) {
    return (size_t)t->rows * (size_t)t->cols * is_dtype_size(t->dtype);
}

// ---- memory ----------------------------------------------------------------

static int cpu_tensor_alloc(is_backend *be, is_tensor *t, is_err *err) {
    (void)be;
    IS_ASSERT(t->rows >= 0 && t->cols >= 0);
    IS_ASSERT(is_dtype_size(t->dtype) > 0);
    double mib = (double)t->rows * (double)t->cols * (double)is_dtype_size(t->dtype) / 1048576.0;
    if (t->cols > 0 && (uint64_t)t->rows > SIZE_MAX / 4 / (uint64_t)t->cols) {
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

static int cpu_tensor_set(is_backend *be, is_tensor *t, const void *src, is_dtype src_dtype,
                          is_err *err) {
    (void)err;
    IS_ASSERT(t->data != NULL || t->rows * t->cols == 0);
    cpu_convert(cpu_impl(be), t->data, t->dtype, src, src_dtype, (size_t)(t->rows * t->cols));
    return 0;
}

static int cpu_tensor_wrap(is_backend *be, is_tensor *t, const void *src, is_err *err) {
    (void)be;
    (void)err;
    // Host memory is backend memory: alias it. The cast drops const; weights are
    // never written by an op (only activations and KV pools are, and those are allocated).
    t->data = (void *)src;
    t->owned = false;
    return 0;
}

static int cpu_tensor_get_f32(is_backend *be, const is_tensor *t, int64_t n_rows, float *dst,
                              is_err *err) {
    (void)err;
    IS_ASSERT(n_rows >= 0 && n_rows <= t->rows);
    cpu_convert(cpu_impl(be), dst, IS_DTYPE_F32, t->data, t->dtype, (size_t)(n_rows * t->cols));
    return 0;
}

// Element i = std * is_rng_normal(seed, stream, i), rounded to the tensor's dtype. Each
// element depends on i alone, so the bytes do not depend on the thread count. The loop
// runs over Box-Muller pairs: one hash, log and sincos give two elements.
static void cpu_tensor_fill_normal(is_backend *be, is_tensor *t, uint64_t seed, uint64_t stream,
                                   float std) {
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

static void cpu_tensor_fill_const(is_backend *be, is_tensor *t, float value) {
    int64_t n = t->rows * t->cols;
    int nt = n >= CPU_PAR_MIN ? cpu_impl(be)->n_threads : 1;
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
