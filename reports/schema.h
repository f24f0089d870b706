// schema.h — the result document (results.json): its layout, and the writers
// of the parts more than one driver writes, so that each key is spelled once.
// bench (bench/bench.c) and kernels (bench/kernels.c) build their points with
// these; reports/results.c validates, keys and renders them by the same tables.
// Declares: is_schema_field, is_bench_config, is_kernel_config, is_serve_config,
// is_schema_bench_fields, is_schema_kernel_fields, is_schema_serve_fields, is_schema_config_json,
// is_schema_run, is_schema_point_ok, is_schema_point_error, is_schema_number,
// is_schema_bench_derived, is_schema_kernel_derived.
//
// Document (schema_version 1):
// {
//   "schema": "inferscope-bench", "schema_version": 1, "inferscope_version": "0.1.0",
//   "env":    { ... bench/env.h ..., "noise": {...} how busy the machine was (bench/env.h) },
//   "runs": n,  a merged document only (reports/merge.h): n runs of one sweep, each point's
//               samples run after run; env.runs_noise holds each run's env.noise
//   "sweep":  { "model": s, "axes": {"batch": [n], "prompt": [n], "gen": [n], "depth": [n],
//               "strategy": [s], "kernel": [s]}, "backend": s, "dtype": s, "threads": n,
//               "reps_min": n, "warmup": n, "max_time_s": x, "max_noise": x, "seed": n,
//               "main_metric": s },
//   "probes": { "mem": {"read_gbs","copy_gbs","peak_gbs","buffer_mib","n_threads","reps","method"},
//               "matmul": {"gflops","m","n","k","reps","method"} },
//   "points": [ {
//       "config":  { "model": s, "backend": s, "dtype": s, "threads": n, "batch": n, "prompt": n,
//                    "gen": n, "depth": n, "strategy": s, "kernel": s },
//       "status":  "ok" | "error",  "error": s (status "error" only),
//       "warmup": n, "reps": n, "stop": "noise" | "max_time" | "max_reps", "noise": x,
//       "elapsed_s": x,
//       "samples": { METRIC: [x, ...] },            every raw sample, see is_metric_defs; speculative
//                                                   points add spec_acceptance, spec_accepted_per_step,
//                                                   spec_draft_ms, spec_verify_ms (per repetition)
//       "stats":   { METRIC: { "n", "median", "mean", "stddev", "min", "max",
//                              "p50", "p90", "p99", "ci95": [lo, hi] } },
//       "model":   { "weight_bytes", "kv_bytes_per_token", "decode_steps",
//                    "decode_bytes_per_step", "decode_kv_read_bytes_per_step",
//                    "decode_kv_write_bytes_per_step", "decode_flops_per_step",
//                    "prefill_flops" },                       bench/costmodel.h
//       "derived": { "decode_gbs", "mbu", "prefill_gflops", "mfu" }   from medians and probes;
//                  mbu and mfu are fractions of the probed peak (0.5: 50%)
//       "kernel_table": { ... }, "counters": { ... }   bench/profile.h (counters: profile only)
//       "telemetry": {                             GPU telemetry from NVML (bench/telemetry.h), sampled
//                                                  every period_ms through the timed repetitions (not
//                                                  the warm-up), first sample before the first, last
//                                                  after the last; absent from files written before it
//           "status": "ok" | "unavailable" | "off" | "error",
//           "reason": s                            not ok: "NVML unavailable: cannot load NVML: ...",
//                                                  "off (--no-telemetry)"
//           "source": "NVML", "device": s (NVML's name), "nvml_index": n (-1: opened by UUID),
//           "window": s, "period_ms": n, "n_samples": n, "duration_s": x (first sample to last),
//           "sm_clock_mhz", "mem_clock_mhz", "power_w", "temp_c": {"min", "median", "max"} over the
//                                                  samples, or null when no read succeeded
//           "energy_j": x | null,                  over the window
//           "energy_method": "counter" (nvmlDeviceGetTotalEnergyConsumption, last sample minus
//                            first) | "power_trapezoid" (power integrated over the sample times)
//                            | "none",
//           "tokens": n,                           the tokens the timed repetitions generated: every
//                                                  request's returned ids, its first (the prefill's)
//                                                  included, summed over the batch and the repetitions
//           "joules_per_token": x | null,          energy_j / tokens (prefill and decode energy both);
//                                                  null on a backend that does not run on the GPU
//           "throttle_reasons": [s] | null,        every clock event reason seen (OR over the samples:
//                                                  "sw_power_cap", "gpu_idle", ...); null: not readable
//           "throttled": bool | null,              a sample held sw_power_cap, hw_slowdown,
//                                                  sw_thermal_slowdown, hw_thermal_slowdown or
//                                                  hw_power_brake_slowdown (profiles/nvml.h)
//           "throttled_samples": n,
//           "read_errors": {QUANTITY: s}           the first failed read of each (when one failed)
//           "note": s }                            a backend that does not run on the GPU measured
//   } ]
// }
//
// A kernels document (`inferscope kernels`, same schema and version) has
// "kind": "kernels" at the top, sweep.command "kernels", probes.mem only, and
// kernel points:
//   { "kind": "kernel",
//     "config": { "op": s, "model": s, "backend": s, "dtype": s, "threads": n, "tensor": s,
//                 "shape": s ("m=2048,k=2048" / "heads=32,kv_heads=8,head_dim=64,block=16"),
//                 "batch": n, "context": n (attention positions per sequence; 0 for matmul),
//                 "variant": s },
//     "status", "error", "warmup", "reps", "stop", "noise", "elapsed_s" as above,
//     "samples": { "time_us": [x, ...] }, "stats": { "time_us": {...} },
//     "validation": { "nmse", "nmse_after", "tolerance", "reference": s },
//     "model": { "bytes", "flops" }, "derived": { "gbs", "peak_frac", "gflops" },
//     "winner": bool (lowest median among the variants of its shape) }
// A variant that failed validation is status "error" with its "validation".
//
// A serving document (`inferscope serve-bench`, same schema and version) has
// "kind": "serve" at the top, sweep.command "serve-bench", and serve points, one
// per combination of the axes (rate, concurrency, max_batch_tokens, policy, ...),
// each repetition a full replay of the workload:
//   { "kind": "serve",
//     "config": { "model": s, "backend": s, "dtype": s, "threads": n,
//                 "arrival": s ("poisson", "gamma:b=B", "burst", "closed"),
//                 "rate": s (requests/s as written, "inf" for burst and closed),
//                 "concurrency": n (closed loop clients; 0 otherwise), "requests": n,
//                 "prompt": s, "output": s (length distributions as given, or "file:NAME"),
//                 "policy": s ("decode-first" | "prefill-first"), "max_batch_tokens": n,
//                 "max_seqs": n, "prefill_chunk": n, "prefix_cache": n (0/1),
//                 "batch_invariant": n (0/1) },
//     "status", "error", "warmup", "reps", "stop" ("reps"), "noise", "elapsed_s" as above,
//     "samples": { "queue_ms", "ttft_ms", "tpot_ms", "itl_ms", "e2e_ms": per request (itl: every
//                  gap), pooled over repetitions; "req_per_s", "in_tps", "out_tps", "goodput",
//                  "ttft_p99_ms", "tpot_p99_ms", "sched_share": one per repetition },
//     "stats": as above,
//     "serve": { "duration_s", "n_requests", "n_good", "slo": {"ttft_ms","tpot_ms","e2e_ms"} (set
//                ones only), "steps", "preemptions", "prefix_hit_rate" (null without the prefix
//                cache), "peak_running", "kv_blocks_total", "kv_blocks_peak", "kv_blocks_mean",
//                "sched_share": the scheduler's own time / step time,
//                "summary": { METRIC: {"n","mean","median","p90","p95","p99","min","max"} } for
//                queue_ms, ttft_ms, tpot_ms, itl_ms, e2e_ms }   of the last repetition
//     "timeseries": { "t_s", "prefill_tokens", "decode_tokens", "running", "waiting",
//                     "kv_blocks": [one per step of the last repetition] } }
// Numbers are written by cJSON: 15 significant digits when they read back within
// one DBL_EPSILON, else 17. JSON has no NaN or infinity: leave a value out rather
// than storing one (cJSON would write null; is_results_point_finish drops them
// from samples).
#ifndef IS_REPORTS_SCHEMA_H
#define IS_REPORTS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define IS_RESULTS_SCHEMA "inferscope-bench"
#define IS_RESULTS_SCHEMA_VERSION 1

// ---- the config of a point --------------------------------------------------------
// A point's configuration by kind, and its fields in key order: the point key,
// the validator, the CSV columns and the JSON writer all walk these tables.

typedef struct is_bench_config {
    const char *model, *backend, *dtype;
    int threads, batch, prompt, gen, depth;
    const char *strategy, *kernel;
} is_bench_config;

typedef struct is_kernel_config {
    const char *op, *model, *backend, *dtype;
    int threads;
    const char *tensor, *shape;
    int batch, context;
    const char *variant;
} is_kernel_config;

typedef struct is_serve_config {
    const char *model, *backend, *dtype;
    int threads;
    const char *arrival, *rate;
    int concurrency, requests;
    const char *prompt, *output, *policy;
    int max_batch_tokens, max_seqs, prefill_chunk, prefix_cache, batch_invariant;
} is_serve_config;

typedef struct is_schema_field {
    const char *name;
    bool is_string; // else a non-negative integer (an int in the config struct)
    size_t offset;  // in is_bench_config or is_kernel_config
} is_schema_field;

extern const is_schema_field is_schema_bench_fields[];
extern const int is_schema_n_bench_fields;
extern const is_schema_field is_schema_kernel_fields[];
extern const int is_schema_n_kernel_fields;
extern const is_schema_field is_schema_serve_fields[];
extern const int is_schema_n_serve_fields;

// {"model": ..., ...}: config (an is_bench_config or is_kernel_config) by its table.
cJSON *is_schema_config_json(const is_schema_field *fields, int n_fields, const void *config);

// ---- a point ----------------------------------------------------------------------

// How a point's repetitions (bench) or samples (kernels) went.
typedef struct is_schema_run {
    int warmup, reps;
    const char *stop;  // "noise", "max_time", "max_reps" (bench), "max_samples" (kernels)
    double noise;      // the relative standard error at the end (not finite: null)
    double elapsed_s;
} is_schema_run;

// Adds "status": "ok" and the run's fields to point (after its config), then an
// empty "samples" object, returned for the caller to fill (is_results_point_finish next).
cJSON *is_schema_point_ok(cJSON *point, const is_schema_run *run);
// A failed point: {"kind": kind (NULL for a bench point: no kind), "config", "status": "error", "error": msg}.
cJSON *is_schema_point_error(const char *kind, cJSON *config, const char *msg);

// o[key] = v, or null when v is not finite (JSON has no NaN or infinity).
void is_schema_number(cJSON *o, const char *key, double v);

// The "derived" fields of a bench point, in this order (is_results_to_csv's columns).
enum { IS_DERIVED_DECODE_GBS, IS_DERIVED_MBU, IS_DERIVED_PREFILL_GFLOPS, IS_DERIVED_MFU, IS_DERIVED_COUNT };
extern const char *const is_schema_bench_derived[IS_DERIVED_COUNT];
// ... and of a kernel point.
enum { IS_KDERIVED_GBS, IS_KDERIVED_PEAK_FRAC, IS_KDERIVED_GFLOPS, IS_KDERIVED_COUNT };
extern const char *const is_schema_kernel_derived[IS_KDERIVED_COUNT];

#endif
