// results.h — the result schema of `inferscope bench` (and of `inferscope kernels`
// and `inferscope serve-bench`) and its writers: one cJSON document held in memory
// while a sweep runs, written as results.json (every raw sample), results.csv (one
// row per point) and report.md (a table per sweep).
// Declares: is_metric_def, is_results_kind, is_metric_find, is_metric_find_for, is_results_metric_defs,
// is_results_config_fields, is_results_kind_of, is_results_kind_name, is_results_is_kernels,
// is_results_is_serve, is_results_default_metric, is_results_kind_default_metric, is_results_new, is_results_point_finish, is_results_point_ok,
// is_results_point_key, is_results_validate, is_results_load, is_results_to_json,
// is_results_to_csv, is_results_to_md, is_results_write_dir, is_results_write_dir_clean.
//
// The document's layout and the keys its writers share: reports/schema.h.
#ifndef IS_REPORTS_RESULTS_H
#define IS_REPORTS_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"
#include "reports/schema.h" // defines: the config fields, the point writers

typedef struct is_metric_def {
    const char *name;        // key in "samples" and "stats"; --metric NAME
    const char *unit;        // "ms", "tok/s"
    bool higher_is_better;   // tok/s: true; times: false
    bool per_request;        // samples are one per request (pooled over reps), else one per repetition
    const char *description; // DESIGN.md's definition, one line
} is_metric_def;

// ttft_ms, tpot_ms, itl_ms, e2e_ms (per request; itl_ms: every gap, pooled),
// prefill_ms, decode_ms, prefill_tps, decode_tps (per repetition).
extern const is_metric_def is_metric_defs[];
extern const int is_metric_n_defs;
// time_us (kernel points, per sample).
extern const is_metric_def is_kernel_metric_defs[];
extern const int is_kernel_metric_n_defs;
// queue_ms, ttft_ms, tpot_ms, itl_ms, e2e_ms (per request; itl_ms: every gap,
// pooled), req_per_s, in_tps, out_tps, goodput, ttft_p99_ms, tpot_p99_ms,
// sched_share (per repetition: one full replay of the workload).
extern const is_metric_def is_serve_metric_defs[];
extern const int is_serve_metric_n_defs;

// The kind of a result document, by its "kind" (reports/schema.h): none (bench),
// "kernels", "serve". Each kind has its metric table, its config fields and its writers.
typedef enum is_results_kind {
    IS_RESULTS_KIND_BENCH,
    IS_RESULTS_KIND_KERNELS,
    IS_RESULTS_KIND_SERVE,
} is_results_kind;

// The metric named name in the bench table, else the kernels table, else the
// serve table; NULL when none has it. A name two tables share (ttft_ms: bench
// and serve) gives the bench entry: same unit, direction and per_request, the
// bench wording. Readers of one document use is_metric_find_for.
const is_metric_def *is_metric_find(const char *name);
// The metric named name in the table of kind only, or NULL: compare refuses a
// metric the document's command does not measure (decode_tps of a serve file).
const is_metric_def *is_metric_find_for(is_results_kind kind, const char *name);
// The metric table of kind, its length in *n.
const is_metric_def *is_results_metric_defs(is_results_kind kind, int *n);
// The config fields of kind's points (reports/schema.h), their count in *n.
const is_schema_field *is_results_config_fields(is_results_kind kind, int *n);

// The kind of a validated document (a "kind" other than "kernels" and "serve"
// reads as bench; is_results_validate refuses it); its name for messages:
// "bench", "kernels", "serve".
is_results_kind is_results_kind_of(const cJSON *doc);
const char *is_results_kind_name(is_results_kind kind);
// Whether doc is a kernels document ("kind": "kernels"), a serve document
// ("kind": "serve"); the metric compare takes by default for it (time_us for
// kernels, out_tps for serve, decode_tps for bench documents).
bool is_results_is_kernels(const cJSON *doc);
bool is_results_is_serve(const cJSON *doc);
const char *is_results_default_metric(const cJSON *doc);
const char *is_results_kind_default_metric(is_results_kind kind);
// The GEMM a results environment ("env") names, in one line into buf: "impl; chosen
// by HOW; BLAS: CORE AND CONFIG" (the parts recorded); false (buf empty) when none is.
// report.md's GEMM line and compare's header.
bool is_results_env_gemm(const cJSON *env, char *buf, size_t n);
// How busy the machine was while the run measured (bench/env.h's "noise"), in one
// line into buf: "1-min load 0.52 -> 1.10; runnable tasks 2 -> 3; steal 0.00%
// over 12.3 s; CPU 2445 -> 2445 MHz (cpuinfo)"; for a merged document
// (env.runs_noise, reports/merge.h) the range over its runs: "8 runs; 1-min load
// 0.50-1.20; runnable tasks 1-3; steal up to 0.30% (mean 0.10%); CPU 2445-2450
// MHz (cpuinfo)". The parts recorded only; false (buf empty) when none is.
// report.md's "machine while measuring" line and compare's header.
bool is_results_env_noise(const cJSON *env, char *buf, size_t n);

// A new document with schema fields, taking ownership of env, sweep and probes
// (each may be NULL: an empty object), and an empty "points" array.
cJSON *is_results_new(cJSON *env, cJSON *sweep, cJSON *probes);

// Computes point["stats"] (replacing it) from point["samples"]: is_stats_compute
// of each metric's array, bootstrap seeded from seed. Metrics with no samples
// get no entry. Values that are not finite numbers (NaN: the TPOT of a one-token
// request) are removed from the samples first: JSON cannot hold them.
void is_results_point_finish(cJSON *point, uint64_t seed);

// Whether point["status"] is "ok".
bool is_results_point_ok(const cJSON *point);

// Canonical text of point["config"]: "model=..;backend=..;dtype=..;threads=..;batch=..;
// prompt=..;gen=..;depth=..;strategy=..;kernel=.." (fields in that order); for a kernel
// point "op=..;model=..;backend=..;dtype=..;threads=..;tensor=..;shape=..;batch=..;
// context=..;variant=.."; for a serve point "model=..;backend=..;dtype=..;threads=..;
// arrival=..;rate=..;concurrency=..;requests=..;prompt=..;output=..;policy=..;
// max_batch_tokens=..;max_seqs=..;prefill_chunk=..;prefix_cache=..;batch_invariant=.."
// (the orders of is_schema_bench_fields, is_schema_kernel_fields, is_schema_serve_fields).
// -1 when a field is missing or of the wrong type, or when the text does not fit in n bytes.
int is_results_point_key(const cJSON *point, char *buf, size_t n);

// Checks schema name and version, and the fields above that compare and the
// writers rely on: "kind" absent (bench), "kernels" or "serve"; "points" an
// array; each point's "kind" that of the document (none in a bench file,
// "kernel" in a kernels file, "serve" in a serve file); its config with every
// field of its kind's table (strings, and non-negative integers: threads..depth
// of a bench point), status "ok" or
// "error", "error" a string when present, "samples" (required when status is
// "ok") an object of arrays of finite numbers, "stats" when present an object of
// stats objects, "derived" an object when present, "telemetry" an object with a
// string "status" when present, "serve" and "timeseries" (serve points) objects
// when present; "sweep"."model" a string when
// present. source names the file in messages ("results.json: schema_version 2,
// this build reads 1"; "results.json: points[3].config.batch: expected a
// non-negative integer, got \"8\"").
// A merged document's "runs" (reports/merge.h) is an integer from 1 to IS_RESULTS_MAX_RUNS.
#define IS_RESULTS_MAX_RUNS 1000000
int is_results_validate(const cJSON *doc, const char *source, is_err *err);

// Reads and validates a results.json. Text that does not parse: "PATH: not JSON
// (error near byte N)"; anything but whitespace after the document is an error too.
int is_results_load(const char *path, cJSON **doc, is_err *err);

// Text forms (malloc'd, NUL-terminated). The CSV and Markdown forms read each
// point's "stats" (is_results_point_finish) and "derived"; a missing value is an
// empty CSV cell and "-" in the table.
char *is_results_to_json(const cJSON *doc); // formatted, ends with a newline
// Header + one row per point: the config fields, status, reps, then for each
// metric of is_metric_defs NAME_median, NAME_ci_lo, NAME_ci_hi (and NAME_p99 for
// per-request metrics), then decode_gbs, mbu, prefill_gflops, mfu, then, when a
// point has a "telemetry" section (files written before it existed keep their
// columns), telemetry (its status), energy_j, joules_per_token, throttled (1, 0,
// empty: unknown), then error. Lines
// end with "\n"; fields holding a comma, quote or line break are quoted (RFC 4180).
// A kernels document has its own columns (reports/results.c, kernels_to_csv). A
// serve document: the serve config fields, status, reps, then for each metric of
// is_serve_metric_defs NAME_median, NAME_ci_lo, NAME_ci_hi (and NAME_p99 for
// per-request metrics), then duration_s, preemptions, prefix_hit_rate,
// peak_running, kv_blocks_peak, sched_share of the point's "serve" section (the
// last repetition), then error.
char *is_results_to_csv(const cJSON *doc);
// Environment lines, probe peaks and their methods ("not measured" when absent),
// a table with one row per point (medians "12.61 ± 0.05": the half-width of the
// 95% interval; MBU and MFU in percent; J/token and throttled columns when a
// point has GPU telemetry), then a note line per failed point, the GPU telemetry
// section (reports/telemetry.h) and the profile sections.
// A serve document: the same environment lines, the config fields every point
// shares, the SLO goodput counts against, then a latency-throughput table, one
// row per point: arrival, rate, concurrency, policy, max_batch_tokens,
// prefix_cache, batch_invariant and every other config field that varies,
// requests, req/s, out tok/s, goodput (medians over the repetitions ± half the
// 95% interval), TTFT p50 and p99, TPOT p50 and p99, ITL p99, E2E p50 (over every
// request of every repetition, pooled: "stats"), preemptions and prefix hit % (the
// last repetition: "serve"), sched share % (median over the repetitions); then a
// note line per failed point and the GPU telemetry section.
char *is_results_to_md(const cJSON *doc);

// The text of format "json", "csv", "md" or "html" (reports/html.h: one
// self-contained page with charts); another format is asserted.
char *is_results_to_format(const cJSON *doc, const char *format);

// Creates dir when needed (with its parents) and writes results.json, results.csv,
// report.md and report.html, each through a temporary name and a rename (base/fileio.h).
// Errors name dir (or the file).
int is_results_write_dir(const char *dir, const cJSON *doc, is_err *err);
// Removes the temporary files of those three that a killed run left in dir
// (is_write_file_atomic_clean), before a run writes there again.
void is_results_write_dir_clean(const char *dir);

#endif
