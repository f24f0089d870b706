// probe.c — measured peaks for MBU and MFU: host memory bandwidth (an OpenMP read
// and copy over buffers several times the last-level cache) and the rate of the
// backend's own matmul at a prefill-like shape.
//
// Both probes report the best of a few passes: the peak is what the machine can
// reach, and the slower passes are noise (another process, a page-cache flush),
// not a property of the hardware.
#include "bench/probe.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <emmintrin.h> // defines: _mm_stream_si128 (SSE2, every x86-64)
#endif

#include "engine/model.h" // defines: is_host_mem_available

#define PROBE_REPS 5
#define PROBE_MIB (1024.0 * 1024.0)
// Floor on the buffer size: far beyond the L3 of most machines even when the cache
// size cannot be read.
#define PROBE_MEM_MIN_BYTES ((size_t)256 << 20)
// Below this the buffers would sit in cache on many machines and the "bandwidth"
// would be the cache's: refuse rather than report it.
#define PROBE_MEM_FLOOR_BYTES ((size_t)64 << 20)
// Ceiling: 4 x L3 can be huge where a VM reports the host's whole cache (480 MiB
// here gave two 1920 MiB buffers and a 15 s first touch); 1 GiB per buffer is past
// any single socket's L3 slice that one thread group streams through.
#define PROBE_MEM_MAX_BYTES ((size_t)1 << 30)
// Buffers are 2 MiB multiples aligned to 2 MiB, so where transparent huge pages
// are on for every mapping they can back the buffers whole. The probe does not ask
// for them (MADV_HUGEPAGE): on a 2-CPU VM that made the first touch 3-4x slower
// (1.5-3 s for 1920 MiB against 0.4-1.3 s) and the read rate no higher, since a
// streaming read's page walks hide behind the prefetcher.
#define PROBE_HUGE_ALIGN ((size_t)2 << 20)
// Threads split the buffers in whole 4 KiB pages, so no page is first-touched by
// one thread and read by another (the NUMA node follows the first touch).
#define PROBE_PAGE_WORDS ((size_t)4096 / sizeof(uint64_t))

#define PROBE_MM_N 512
#define PROBE_MM_M 2048
#define PROBE_MM_K 2048
// On a device the host-sized GEMM takes microseconds, launch latency included:
// a large prefill-like GEMM instead (n = 4096 tokens, m = k = 8192)
#define PROBE_DEV_MM_N 4096
#define PROBE_DEV_MM_M 8192
#define PROBE_DEV_MM_K 8192

static double probe_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// ---- memory bandwidth --------------------------------------------------------

// Last-level (L3) cache size in bytes, 0 when unknown: sysconf first, then sysfs
// (glibc answers 0 for _SC_LEVEL3_CACHE_SIZE on some CPUs and on non-x86 machines).
static size_t probe_l3_bytes(void) {
    long v = -1;
#ifdef _SC_LEVEL3_CACHE_SIZE
    v = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    if (v > 0) return (size_t)v;
    for (int i = 0; i < 8; i++) {
        char path[96], buf[64];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        FILE *f = fopen(path, "r");
        if (!f) break;
        int level = 0;
        int ok = fscanf(f, "%d", &level) == 1;
        fclose(f);
        if (!ok || level != 3) continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        f = fopen(path, "r");
        if (!f) continue;
        size_t size = 0;
        if (fgets(buf, sizeof buf, f)) {
            char unit = 0;
            unsigned long long n = 0;
            int got = sscanf(buf, "%llu%c", &n, &unit);
            if (got >= 1) {
                size = (size_t)n;
                if (got == 2 && (unit == 'K' || unit == 'k')) size <<= 10;
                if (got == 2 && (unit == 'M' || unit == 'm')) size <<= 20;
            }
        }
        fclose(f);
        if (size > 0) return size;
    }
    return 0;
}

// Thread tid's share [lo, hi) of n words, in whole pages: the same split for the
// first touch, the read and the copy.
static void probe_chunk(size_t n, int tid, int n_threads, size_t *lo, size_t *hi) {
    size_t pages = (n + PROBE_PAGE_WORDS - 1) / PROBE_PAGE_WORDS;
    size_t p0 = pages * (size_t)tid / (size_t)n_threads;
    size_t p1 = pages * (size_t)(tid + 1) / (size_t)n_threads;
    *lo = p0 * PROBE_PAGE_WORDS < n ? p0 * PROBE_PAGE_WORDS : n;
    *hi = p1 * PROBE_PAGE_WORDS < n ? p1 * PROBE_PAGE_WORDS : n;
}

// The read pass: n words summed in four streams at once (four quarters of the
// range, each with two vector accumulators), so several cache-line fetches are in
// flight per thread and the loop is bound by the loads, not by one add chain. The
// sum is checked, which keeps the compiler from dropping the loads. One clone per
// x86-64 level: wide loads where the CPU has them.
typedef uint64_t v4u __attribute__((vector_size(32)));
typedef uint64_t v4u_u __attribute__((vector_size(32), aligned(8)));

#if defined(__x86_64__)
#define PROBE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PROBE_CLONES
#endif

PROBE_CLONES static uint64_t probe_read_streams(const uint64_t *p, size_t n) {
    size_t q = n / 4 - n / 4 % 8; // each stream: a multiple of 8 words
    const uint64_t *s0 = p, *s1 = p + q, *s2 = p + 2 * q, *s3 = p + 3 * q;
    v4u a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, c0 = {0}, c1 = {0}, d0 = {0}, d1 = {0};
    for (size_t i = 0; i < q; i += 8) {
        a0 += *(const v4u_u *)(s0 + i);
        a1 += *(const v4u_u *)(s0 + i + 4);
        b0 += *(const v4u_u *)(s1 + i);
        b1 += *(const v4u_u *)(s1 + i + 4);
        c0 += *(const v4u_u *)(s2 + i);
        c1 += *(const v4u_u *)(s2 + i + 4);
        d0 += *(const v4u_u *)(s3 + i);
        d1 += *(const v4u_u *)(s3 + i + 4);
    }
    v4u t = a0 + a1 + b0 + b1 + c0 + c1 + d0 + d1;
    uint64_t sum = t[0] + t[1] + t[2] + t[3];
    for (size_t i = 4 * q; i < n; i++) sum += p[i];
    return sum;
}

// The write pass: n words set to v, with ordinary stores (nt false) or with
// non-temporal ones that bypass the caches (SSE2 movntdq, any x86-64).
PROBE_CLONES static void probe_write(uint64_t *p, size_t n, uint64_t v, bool nt) {
    size_t i = 0;
#if defined(__x86_64__)
    if (nt) {
        __m128i x = _mm_set1_epi64x((long long)v);
        for (; i + 2 <= n; i += 2) _mm_stream_si128((__m128i *)(p + i), x);
        _mm_sfence();
    }
#else
    (void)nt;
#endif
    for (; i < n; i++) p[i] = v;
}

// Sum of 0 + 1 + ... + (n-1) modulo 2^64, what a read pass over the source must return.
static uint64_t probe_sum_expected(uint64_t n) {
    return n % 2 == 0 ? (n / 2) * (n - 1) : n * ((n - 1) / 2);
}

static void *probe_buffer_alloc(size_t bytes) {
    void *p = NULL;
    return posix_memalign(&p, PROBE_HUGE_ALIGN, bytes) == 0 ? p : NULL;
}

// Per-buffer size: max(256 MiB, min(4 x L3, 1 GiB)) so the passes stream from DRAM, capped at
// 1/8 of MemAvailable (two buffers: a quarter of it) so the probe never pushes the
// machine into swap or the out-of-memory killer.
static int probe_mem_size(size_t *bytes_out, is_err *err) {
    size_t l3 = probe_l3_bytes();
    size_t bytes = PROBE_MEM_MIN_BYTES;
    if (l3 > 0 && l3 <= SIZE_MAX / 4 && 4 * l3 > bytes) bytes = 4 * l3;
    if (bytes > PROBE_MEM_MAX_BYTES) bytes = PROBE_MEM_MAX_BYTES;
    double avail = is_host_mem_available();
    if (avail > 0 && (double)bytes > avail / 8) bytes = (size_t)(avail / 8);
    bytes -= bytes % PROBE_HUGE_ALIGN;
    if (bytes < PROBE_MEM_FLOOR_BYTES)
        return is_errf(err, "memory probe: only %.0f MiB available, need 8 x %.0f MiB for two buffers "
                       "larger than the caches", avail / PROBE_MIB, PROBE_MEM_FLOOR_BYTES / PROBE_MIB);
    *bytes_out = bytes;
    return 0;
}

int is_probe_mem(int n_threads, is_mem_probe *out, is_err *err) {
    if (n_threads < 0)
        return is_errf(err, "memory probe: thread count must be 0 (all CPUs) or positive, got %d", n_threads);
    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    size_t bytes = 0;
    if (probe_mem_size(&bytes, err) != 0) return -1;
    size_t n_words = bytes / sizeof(uint64_t);

    uint64_t *src = probe_buffer_alloc(bytes), *dst = probe_buffer_alloc(bytes);
    if (!src || !dst) {
        free(src);
        free(dst);
        return is_errf(err, "memory probe: cannot allocate two buffers of %.0f MiB (%.0f MiB available)",
                       bytes / PROBE_MIB, is_host_mem_available() / PROBE_MIB);
    }

    // First touch with the split the passes use, so each thread's pages land on
    // its own NUMA node. src[i] = i gives the read pass a sum to check.
    int team = n_threads;
#pragma omp parallel num_threads(n_threads)
    {
        int tid = omp_get_thread_num(), T = omp_get_num_threads();
        size_t lo, hi;
        probe_chunk(n_words, tid, T, &lo, &hi);
        for (size_t i = lo; i < hi; i++) src[i] = i;
        memset(dst + lo, 0, (hi - lo) * sizeof(uint64_t));
        if (tid == 0) team = T;
    }

    double best_read = INFINITY, best_copy = INFINITY, best_write = INFINITY, best_write_nt = INFINITY;
    uint64_t want = probe_sum_expected(n_words);
    int rc = 0;
    for (int r = 0; r < PROBE_REPS && rc == 0; r++) {
        uint64_t sum = 0;
        double t0 = probe_now();
#pragma omp parallel num_threads(n_threads) reduction(+ : sum)
        {
            size_t lo, hi;
            probe_chunk(n_words, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            sum += probe_read_streams(src + lo, hi - lo);
        }
        double t = probe_now() - t0;
        // a split that skips or repeats words, or loads the compiler dropped, show here
        if (sum != want)
            rc = is_errf(err, "memory probe: read pass summed to %llu, expected %llu",
                         (unsigned long long)sum, (unsigned long long)want);
        if (t < best_read) best_read = t;
    }
    for (int r = 0; r < 2 * PROBE_REPS && rc == 0; r++) { // alternating ordinary and non-temporal stores
        bool nt = r % 2;
        double t0 = probe_now();
#pragma omp parallel num_threads(n_threads)
        {
            size_t lo, hi;
            probe_chunk(n_words, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            probe_write(dst + lo, hi - lo, (uint64_t)r + 1, nt);
        }
        double t = probe_now() - t0;
        if (dst[0] != (uint64_t)r + 1 || dst[n_words / 2] != (uint64_t)r + 1 || dst[n_words - 1] != (uint64_t)r + 1)
            rc = is_errf(err, "memory probe: write pass left other values than it wrote");
        double *best = nt ? &best_write_nt : &best_write;
        if (t < *best) *best = t;
    }
    for (int r = 0; r < PROBE_REPS && rc == 0; r++) {
        double t0 = probe_now();
#pragma omp parallel num_threads(n_threads)
        {
            size_t lo, hi;
            probe_chunk(n_words, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
            memcpy(dst + lo, src + lo, (hi - lo) * sizeof(uint64_t));
        }
        double t = probe_now() - t0;
        if (t < best_copy) best_copy = t;
    }
    if (rc == 0 && (dst[0] != 0 || dst[n_words / 2] != n_words / 2 || dst[n_words - 1] != n_words - 1))
        rc = is_errf(err, "memory probe: copy pass left the destination different from the source");
    free(src);
    free(dst);
    if (rc != 0) return -1;

    memset(out, 0, sizeof *out);
    out->read_gbs = (double)bytes / best_read / 1e9;
    out->write_gbs = (double)bytes / best_write / 1e9;
    out->write_nt_gbs = (double)bytes / best_write_nt / 1e9;
    out->copy_gbs = 2.0 * (double)bytes / best_copy / 1e9;
    out->peak_gbs = out->read_gbs;
    snprintf(out->peak_of, sizeof out->peak_of, "read");
    out->buffer_mib = (double)bytes / PROBE_MIB;
    out->n_threads = team;
    out->reps = PROBE_REPS;
    snprintf(out->method, sizeof out->method,
             "host memory, %d OpenMP threads, %.0f MiB buffers: read = vector loads in 4 streams per thread "
             "(the ceiling MBU is taken against: decode reads), write = stores (and non-temporal stores), "
             "copy = memcpy (read + write bytes); best of %d",
             team, out->buffer_mib, PROBE_REPS);
    return 0;
}

// ---- matmul rate -----------------------------------------------------------------

// Checks out[0, 0..3] against a double-precision dot product of x row 0 and w rows
// 0..3 read back from the backend: a matmul that computed nothing (or garbage) must
// not be reported as a peak. The bound is loose (1e-3 of sum |x w|): F32 sums over
// k = 2048 terms stay far inside it, a wrong result does not. A backend that rounds
// activations to BF16 first (relative error up to 2^-9 per product) gets 4e-3.
static int probe_matmul_check(is_backend *be, const is_tensor *x, const is_tensor *w,
                              const is_tensor *out, is_err *err) {
    enum { ROWS = 4 };
    int64_t k = x->cols;
    float *xh = is_xmalloc((size_t)k * sizeof(float));
    float *wh = is_xmalloc((size_t)(ROWS * k) * sizeof(float));
    float *oh = is_xmalloc((size_t)out->cols * sizeof(float));
    int rc = 0;
    if (be->tensor_get_f32(be, x, 1, xh, err) != 0 || be->tensor_get_f32(be, w, ROWS, wh, err) != 0 ||
        be->tensor_get_f32(be, out, 1, oh, err) != 0) {
        rc = -1;
    }
    for (int j = 0; j < ROWS && rc == 0; j++) {
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < k; i++) {
            ref += (double)xh[i] * wh[j * k + i];
            mag += fabs((double)xh[i] * wh[j * k + i]);
        }
        double tol = be->bf16_gemm ? 4e-3 : 1e-3;
        if (!(fabs(oh[j] - ref) <= tol * mag + 1e-6))
            rc = is_errf(err, "out[0,%d] = %g, expected %g", j, (double)oh[j], ref);
    }
    free(xh);
    free(wh);
    free(oh);
    return rc;
}

// One warm-up call, then the best of PROBE_REPS synced calls, in seconds.
static int probe_matmul_time(is_backend *be, is_tensor *o, const is_tensor *x, const is_tensor *w,
                             double *best, is_err *err) {
    // The warm-up pays for first use: page faults in the output and scratch, BLAS
    // thread start, and on a GPU kernel loading and clock ramp-up.
    be->matmul(be, o, x, w, NULL, (int)x->rows);
    if (be->sync(be, err) != 0) return -1;
    *best = INFINITY;
    for (int r = 0; r < PROBE_REPS; r++) {
        double t0 = probe_now();
        be->matmul(be, o, x, w, NULL, (int)x->rows);
        if (be->sync(be, err) != 0) return -1;
        double t = probe_now() - t0;
        if (t < *best) *best = t;
    }
    return 0;
}

int is_probe_matmul(is_backend *be, is_dtype wdtype, is_matmul_probe *out, is_err *err) {
    if (wdtype != IS_DTYPE_F32 && wdtype != IS_DTYPE_BF16)
        return is_errf(err, "matmul probe: weight dtype must be F32 or BF16, got %s", is_dtype_name(wdtype));
    bool dev = be->probe_copy != NULL;
    const int n = dev ? PROBE_DEV_MM_N : PROBE_MM_N, m = dev ? PROBE_DEV_MM_M : PROBE_MM_M,
              k = dev ? PROBE_DEV_MM_K : PROBE_MM_K;
    is_tensor x = {.dtype = IS_DTYPE_F32, .rows = n, .cols = k}; // (n, k) activations
    is_tensor w = {.dtype = wdtype, .rows = m, .cols = k};       // (m, k) weights
    is_tensor o = {.dtype = IS_DTYPE_F32, .rows = n, .cols = m}; // (n, m) output
    double best = INFINITY;
    int rc = 0;
    if (be->tensor_alloc(be, &x, err) != 0 || be->tensor_alloc(be, &w, err) != 0 ||
        be->tensor_alloc(be, &o, err) != 0)
        rc = -1;
    if (rc == 0) {
        // Values only matter in that they are ordinary normals: no denormals or
        // infinities that some units handle on a slow path.
        be->tensor_fill_normal(be, &x, 1, 0, 1.0f);
        be->tensor_fill_normal(be, &w, 1, 1, 1.0f / sqrtf((float)k));
        rc = probe_matmul_time(be, &o, &x, &w, &best, err);
    }
    if (rc == 0) rc = probe_matmul_check(be, &x, &w, &o, err);
    // Only what was allocated: backend.h does not promise tensor_free takes an empty tensor.
    if (x.data) be->tensor_free(be, &x);
    if (w.data) be->tensor_free(be, &w);
    if (o.data) be->tensor_free(be, &o);
    if (rc != 0) {
        is_err_prefix(err, "matmul probe (%s backend, %s weights)", be->name, is_dtype_name(wdtype));
        return -1;
    }

    memset(out, 0, sizeof *out);
    out->gflops = 2.0 * m * n * (double)k / best / 1e9;
    out->m = m;
    out->n = n;
    out->k = k;
    out->reps = PROBE_REPS;
    char threads[32] = "";
    if (be->n_threads > 0) snprintf(threads, sizeof threads, " (%d threads)", be->n_threads);
    snprintf(out->method, sizeof out->method,
             "%s backend%s matmul, %s weights, out[%d,%d] = x[%d,%d] . w[%d,%d]^T, best of %d", be->name,
             threads, is_dtype_name(wdtype), n, m, n, k, m, k, PROBE_REPS);
    return 0;
}

cJSON *is_probe_mem_json(const is_mem_probe *mp) {
    cJSON *mj = cJSON_CreateObject();
    cJSON_AddNumberToObject(mj, "read_gbs", mp->read_gbs);
    if (mp->write_gbs > 0) cJSON_AddNumberToObject(mj, "write_gbs", mp->write_gbs);
    if (mp->write_nt_gbs > 0) cJSON_AddNumberToObject(mj, "write_nt_gbs", mp->write_nt_gbs);
    cJSON_AddNumberToObject(mj, "copy_gbs", mp->copy_gbs);
    cJSON_AddNumberToObject(mj, "peak_gbs", mp->peak_gbs);
    cJSON_AddStringToObject(mj, "peak_of", mp->peak_of);
    cJSON_AddNumberToObject(mj, "buffer_mib", mp->buffer_mib);
    cJSON_AddNumberToObject(mj, "n_threads", mp->n_threads);
    cJSON_AddNumberToObject(mj, "reps", mp->reps);
    cJSON_AddStringToObject(mj, "method", mp->method);
    return mj;
}

int is_probe_backend_mem(is_backend *be, is_mem_probe *out, is_err *err) {
    if (!be->probe_copy) return is_probe_mem(be->n_threads, out, err);
    memset(out, 0, sizeof *out);
    if (be->probe_copy(be, &out->copy_gbs, out->method, sizeof out->method, err)) {
        is_err_prefix(err, "%s bandwidth probe", be->name);
        return -1;
    }
    out->peak_gbs = out->copy_gbs;
    snprintf(out->peak_of, sizeof out->peak_of, "copy");
    out->read_gbs = NAN; // a device copy has no separate read pass
    out->reps = PROBE_REPS;
    return 0;
}

// ---- the compute peak MFU is taken against ------------------------------------------

int is_probe_peak_accept(double peak_gflops, double matmul_gflops, char *why, size_t n) {
    if (!(isfinite(peak_gflops) && peak_gflops > 0))
        return snprintf(why, n, "no compute peak was measured"), -1;
    if (isfinite(matmul_gflops) && matmul_gflops > peak_gflops * (1 + IS_PEAK_NOISE))
        return snprintf(why, n, "the compute peak (%.1f GFLOP/s) is below the engine's own matmul rate (%.1f "
                        "GFLOP/s) by more than measurement noise (%.0f%%): it is not a ceiling", peak_gflops,
                        matmul_gflops, IS_PEAK_NOISE * 100), -1;
    return 0;
}

// Dense BF16 tensor-core FLOPs per clock per SM by compute capability, from the
// vendor's datasheet peaks (dense, no sparsity) over SM count x boost clock:
// A100 312 TFLOP/s / (108 x 1.41 GHz), A10 125 / (72 x 1.695), L40S 362 /
// (142 x 2.52), H100 SXM 989 / (132 x 1.83). 0: not known here.
static double tensor_bf16_per_clock(int major, int minor) {
    if (major == 8 && minor == 0) return 2048;
    if (major == 8 && (minor == 6 || minor == 7 || minor == 9)) return 1024;
    if (major == 9 && minor == 0) return 4096;
    return 0;
}

// The device's compute section: the cuBLAS GEMM probe (what a GEMM reaches on it,
// the peak MFU is taken against) beside the datasheet rate (SMs x clock x dense BF16
// FLOPs per clock per SM).
static cJSON *device_compute_json(const is_device_info *di, const is_matmul_probe *xp) {
    cJSON *o = cJSON_CreateObject(), *us = cJSON_AddArrayToObject(o, "units");
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "unit", "tensor_bf16");
    cJSON_AddStringToObject(u, "dtype", "bf16");
    cJSON_AddNumberToObject(u, "gflops", xp->gflops);
    cJSON_AddStringToObject(u, "how", "achievable: the cuBLAS BF16 GEMM probe (probes.matmul)");
    cJSON_AddItemToArray(us, u);
    double per_clock = tensor_bf16_per_clock(di->cc_major, di->cc_minor);
    u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "unit", "tensor_bf16_spec");
    cJSON_AddStringToObject(u, "dtype", "bf16");
    char how[160];
    if (per_clock > 0) {
        cJSON_AddNumberToObject(u, "gflops", di->sm_count * (di->sm_clock_khz * 1e3) * per_clock / 1e9);
        snprintf(how, sizeof how, "datasheet: %d SMs x %.0f MHz x %.0f dense BF16 FLOP per clock per SM (sm_%d%d)",
                 di->sm_count, di->sm_clock_khz / 1e3, per_clock, di->cc_major, di->cc_minor);
    } else {
        snprintf(how, sizeof how, "no datasheet rate known here for sm_%d%d", di->cc_major, di->cc_minor);
        cJSON_AddStringToObject(u, "unavailable", how);
    }
    cJSON_AddStringToObject(u, "how", how);
    cJSON_AddItemToArray(us, u);
    cJSON_AddStringToObject(o, "matmul_unit", "tensor_bf16");
    cJSON_AddNumberToObject(o, "peak_gflops", xp->gflops);
    cJSON_AddStringToObject(o, "method", "the cuBLAS GEMM probe as the achievable peak, the datasheet rate beside it");
    return o;
}

cJSON *is_probe_backend_compute(is_backend *be, const is_matmul_probe *xp, is_err *err) {
    is_device_info di;
    is_err derr = {{0}};
    if (be->device_info && !be->device_info(be, &di, &derr)) return device_compute_json(&di, xp);
    is_compute_probe cp;
    if (is_probe_compute(be->n_threads, &cp, err)) return NULL;
    is_gemm_info gi;
    memset(&gi, 0, sizeof gi);
    if (be->gemm_info) be->gemm_info(be, &gi);
    int unit = is_cpu_unit_find(gi.unit);
    cJSON *o = is_probe_compute_json(&cp, unit);
    char why[300];
    const cJSON *peak = cJSON_GetObjectItemCaseSensitive(o, "peak_gflops");
    if (unit < 0) {
        cJSON_AddStringToObject(o, "peak_refused", "the backend does not say which unit its matmul runs on");
    } else if (is_probe_peak_accept(cJSON_IsNumber(peak) ? peak->valuedouble : NAN, xp->gflops, why, sizeof why)) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, "peak_gflops");
        cJSON_AddStringToObject(o, "peak_refused", why);
    }
    return o;
}