// telemetry.h — GPU telemetry of a bench point (profiles/nvml.h): NVML sampled
// on a thread through the point's timed repetitions, summarized into the
// point's "telemetry" section. Declares: is_bench_telemetry,
// is_bench_telemetry_open, is_bench_telemetry_begin, is_bench_telemetry_end,
// is_bench_telemetry_point, is_bench_telemetry_close.
//
// The window is the timed repetitions, not the warm-up: the energy is divided by
// the tokens of exactly those repetitions, and the throttle flag describes the
// state the timed figures were measured in. Warm-up holds one-time costs (graph
// capture, first cuBLAS calls, page faults) the timed figures leave out too.
//
// Telemetry runs whenever NVML opens the device, whatever the backend: the CPU
// backend on a GPU machine (forced, or `auto` when CUDA could not start) then
// shows the GPU's state through the run, with a note that the run did not use
// it, and no joules per token (the GPU's energy is not the run's).
//
// Section (results.json; reports/schema.h):
//   "telemetry": {"status": "ok" | "unavailable" | "off" | "error", "reason": s (not ok),
//                 "source": "NVML", "device": s, "nvml_index": n, "window": s, "period_ms": n,
//                 "n_samples": n, "duration_s": x,
//                 "sm_clock_mhz" | "mem_clock_mhz" | "power_w" | "temp_c": {"min", "median", "max"} | null,
//                 "energy_j": x | null, "energy_method": "counter" | "power_trapezoid" | "none",
//                 "tokens": n, "joules_per_token": x | null,
//                 "throttle_reasons": [s] | null, "throttled": bool | null, "throttled_samples": n,
//                 "read_errors": {quantity: s} (when a read failed), "note": s (a backend not on the GPU)}
#ifndef IS_BENCH_TELEMETRY_H
#define IS_BENCH_TELEMETRY_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "kernels/backend.h" // defines: is_backend
#include "profiles/nvml.h"   // defines: is_nvml, is_nvml_sampler, is_nvml_series

typedef struct is_bench_telemetry {
    char why[640];              // "" when NVML answers, else the section's reason
    bool off;                   // --no-telemetry
    bool on_gpu;                // the backend runs on the GPU measured (cuda)
    char backend[32];
    int period_ms;
    is_nvml *nv;
    is_nvml_sampler *sampler;   // running through a point's timed repetitions
    is_nvml_series series;      // the last window
    char sampler_why[256];      // why the last window has no series
} is_bench_telemetry;

// After the backend opened: NVML and the device of the CUDA ordinal device, or
// the reason why not ("NVML unavailable: cannot load NVML: ...", "off (--no-telemetry)").
void is_bench_telemetry_open(is_bench_telemetry *t, bool off, const is_backend *be, int device);
// Before a point's first timed repetition, and after its last.
void is_bench_telemetry_begin(is_bench_telemetry *t);
void is_bench_telemetry_end(is_bench_telemetry *t);
// Adds "telemetry" to point: the last window's summary; tokens: the tokens the
// timed repetitions generated (every request's, first token included).
void is_bench_telemetry_point(is_bench_telemetry *t, cJSON *point, double tokens);
void is_bench_telemetry_close(is_bench_telemetry *t);

#endif
