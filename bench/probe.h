// probe.h — measured peaks of the machine the benchmark runs on, for MBU and
// MFU: memory bandwidth (a multi-threaded read and a copy over buffers far
// larger than the caches) and a matmul rate through the backend's own matmul op.
// Declares: is_probe_mem, is_probe_matmul, is_probe_mem_json.
#ifndef IS_BENCH_PROBE_H
#define IS_BENCH_PROBE_H

#include <cjson/cJSON.h>

#include "base/error.h"
#include "kernels/backend.h"

typedef struct is_mem_probe {
    double read_gbs;     // bytes read per second / 1e9 (sum over n_threads threads)
    double copy_gbs;     // (bytes read + bytes written) per second / 1e9, memcpy-style copy
    double peak_gbs;     // max(read_gbs, copy_gbs): the peak MBU is taken against
    double buffer_mib;   // size of each buffer
    int n_threads;
    int reps;            // the best of reps passes is kept
    char method[256];    // one line saying how it was measured
} is_mem_probe;

typedef struct is_matmul_probe {
    double gflops;       // 2*m*n*k per second / 1e9, best of reps
    int m, n, k;         // out[n, m] = x[n, k] . w[m, k]^T
    int reps;
    char method[256];
} is_matmul_probe;

// Host memory bandwidth with n_threads OpenMP threads (0: all online CPUs), over two
// buffers of max(256 MiB, min(4 x L3, 1 GiB)) each, at most 1/8 of MemAvailable each. Error on a
// negative thread count or when too little memory is available.
int is_probe_mem(int n_threads, is_mem_probe *out, is_err *err);

// The bandwidth MBU is taken against for backend be: its own device copy probe
// when it has one (read_gbs NaN: only a copy is measured), else is_probe_mem.
int is_probe_backend_mem(is_backend *be, is_mem_probe *out, is_err *err);

// The result's "probes"."mem" object: read_gbs, copy_gbs, peak_gbs, buffer_mib,
// n_threads, reps, method (NaN written as null).
cJSON *is_probe_mem_json(const is_mem_probe *mp);

// The backend's matmul on weights of dtype wdtype (F32 or BF16) at a prefill-like
// shape (n = 512 tokens, m = k = 2048): the best rate of a few runs, each synced,
// after one warm-up run; the output is checked against a double-precision reference
// afterwards. Any other wdtype is an error.
int is_probe_matmul(is_backend *be, is_dtype wdtype, is_matmul_probe *out, is_err *err);

#endif
