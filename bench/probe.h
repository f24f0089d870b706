// probe.h — measured peaks of the machine the benchmark runs on, for MBU and
// MFU: memory bandwidth (multi-threaded read, write and copy over buffers far
// larger than the caches), the compute peak of each arithmetic unit the CPU has
// (probe_compute.c), and, as a separate figure, the rate of the backend's own
// matmul. Declares: is_probe_mem, is_probe_backend_mem, is_probe_mem_json,
// is_probe_compute, is_probe_compute_json, is_cpu_unit, is_probe_matmul.
#ifndef IS_BENCH_PROBE_H
#define IS_BENCH_PROBE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "kernels/backend.h"

typedef struct is_mem_probe {
    double read_gbs;     // bytes read per second / 1e9 (sum over n_threads threads); NaN: not measured
    double write_gbs;    // bytes written per second / 1e9, ordinary stores (0: not measured)
    double write_nt_gbs; // ... non-temporal stores (0: not measured)
    double copy_gbs;     // (bytes read + bytes written) per second / 1e9, memcpy-style copy
    double peak_gbs;     // the ceiling MBU is taken against: read_gbs (decode reads), or copy_gbs
                         // where only a copy is measured (a device)
    char peak_of[16];    // "read" or "copy"
    double buffer_mib;   // size of each buffer
    int n_threads;
    int reps;            // the best of reps passes is kept
    char method[400];    // one line saying how it was measured
} is_mem_probe;

// The CPU's arithmetic units, each with a peak loop of its own (probe_compute.c).
typedef enum is_cpu_unit {
    IS_CPU_UNIT_SSE,    // f32_sse: 4-lane multiplies and adds (any x86-64)
    IS_CPU_UNIT_AVX2,   // fma_f32_avx2: 8-lane FMA
    IS_CPU_UNIT_AVX512, // fma_f32_avx512: 16-lane FMA
    IS_CPU_UNIT_BF16,   // dot_bf16_avx512: AVX512-BF16 dot products
    IS_CPU_UNIT_AMX,    // amx_bf16: AMX BF16 tiles
    IS_CPU_UNIT_COUNT
} is_cpu_unit;

const char *is_cpu_unit_name(is_cpu_unit u); // "fma_f32_avx2"
int is_cpu_unit_find(const char *name);      // the unit named name, or -1

typedef struct is_cpu_unit_peak {
    is_cpu_unit unit;
    const char *name, *dtype; // "fma_f32_avx2", "f32"
    bool available;
    char why[200];            // when not: no such instructions, no permission, the probe died
    double gflops_1;          // one thread
    double gflops_team;       // the team of n_threads threads
} is_cpu_unit_peak;

typedef struct is_compute_probe {
    is_cpu_unit_peak units[IS_CPU_UNIT_COUNT];
    int n_threads;
    char method[256];
} is_compute_probe;

// The peak of every unit the CPU has, on 1 thread and on n_threads (0: all online
// CPUs). Units the CPU lacks are marked unavailable with the reason. Takes about
// 0.3 s per unit.
int is_probe_compute(int n_threads, is_compute_probe *out, is_err *err);
// The result's "probes"."compute": every unit's figures (or why it is unavailable),
// and matmul_unit (the unit the backend's matmul runs on; -1: none) with its team
// peak as "peak_gflops", what MFU is taken against.
cJSON *is_probe_compute_json(const is_compute_probe *cp, int matmul_unit);

// Measurement noise allowed between two probes run back to back: a compute peak
// more than this below the engine's own matmul rate is refused.
#define IS_PEAK_NOISE 0.10

// Whether peak_gflops can be the ceiling of a matmul measured at matmul_gflops:
// 0, or -1 with the reason (no peak, or one the engine's own matmul beats by more
// than IS_PEAK_NOISE, which a loop of register-resident multiply-adds cannot be).
int is_probe_peak_accept(double peak_gflops, double matmul_gflops, char *why, size_t n);

typedef struct is_matmul_probe {
    double gflops;       // 2*m*n*k per second / 1e9, best of reps
    int m, n, k;         // out[n, m] = x[n, k] . w[m, k]^T
    int reps;
    char method[256];
} is_matmul_probe;

// Host memory bandwidth (read, write, copy) with n_threads OpenMP threads (0: all
// online CPUs), over two buffers of max(256 MiB, min(4 x L3, 1 GiB)) each, at most 1/8 of MemAvailable each. Error on a
// negative thread count or when too little memory is available.
int is_probe_mem(int n_threads, is_mem_probe *out, is_err *err);

// The bandwidth MBU is taken against for backend be: its own device copy probe
// when it has one (read_gbs NaN: only a copy is measured), else is_probe_mem.
int is_probe_backend_mem(is_backend *be, is_mem_probe *out, is_err *err);

// The result's "probes"."mem" object: read_gbs, write_gbs and write_nt_gbs (when
// measured), copy_gbs, peak_gbs, peak_of, buffer_mib, n_threads, reps, method (NaN
// written as null).
cJSON *is_probe_mem_json(const is_mem_probe *mp);

// The result's "probes"."compute" for backend be, whose matmul probe gave xp: on a
// device, the cuBLAS GEMM probe as the achievable peak beside the datasheet rate;
// on the CPU, is_probe_compute with the unit the matmul runs on (be->gemm_info), its
// peak refused ("peak_refused": why, no "peak_gflops") when is_probe_peak_accept
// refuses it. NULL on error.
cJSON *is_probe_backend_compute(is_backend *be, const is_matmul_probe *xp, is_err *err);

// The backend's matmul on weights of dtype wdtype (F32 or BF16) at a prefill-like
// shape (n = 512 tokens, m = k = 2048): the best rate of a few runs, each synced,
// after one warm-up run; the output is checked against a double-precision reference
// afterwards. Any other wdtype is an error.
int is_probe_matmul(is_backend *be, is_dtype wdtype, is_matmul_probe *out, is_err *err);

#endif
