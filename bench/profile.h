// profile.h — what `inferscope bench` and `inferscope profile` add to a point
// after its timed repetitions: the kernel table per phase (CUPTI activity during
// one extra, untimed repetition) and, for profile, the DRAM counter pass (the
// CUPTI range profiler, a pass of its own that replays work). Neither ever runs
// inside a timed repetition. Declares: is_bench_prof, is_bench_prof_check,
// is_bench_prof_point, is_bench_prof_timed_begin, is_bench_prof_timed_end,
// is_bench_prof_free.
//
// Point sections (results.json):
//   "kernel_table": {"status": "ok" | "unavailable" | "off" | "error", "reason": s (not ok),
//                    "collected": s, ... is_prof_kernel_tables_json ...}
//   "counters":     {"status": "ok" | "unavailable" | "error", "reason": s (not ok), "chip": s,
//                    "read_metric": s, "write_metric": s, "passes": n, "dropped_ranges": n, "collected": s,
//                    "phases": [{"phase": "prefill" | "decode_step", "ranges": n, "read_bytes": x,
//                                "write_bytes": x, "bytes": x (means per range), "model_bytes": x,
//                                "ratio": x (measured / model), "median_ms": x (timed pass),
//                                "gbs": x (bytes / median_ms)}]}          (profile only)
#ifndef IS_BENCH_PROFILE_H
#define IS_BENCH_PROFILE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "bench/costmodel.h"
#include "engine/inferscope.h"
#include "profiles/kernel_table.h" // defines: is_prof_activity

typedef struct is_bench_prof {
    bool tables;           // kernel tables asked for (not --no-kernel-table)
    bool counters;         // the DRAM counter pass (profile --counters dram)
    bool keep_device;      // keep the device records for the trace (profile --trace)
    int device;            // CUDA ordinal (--device)
    char tables_why[1024]; // set by setup/check: "" when tables can be collected, else why not
    char counters_why[1024];
    is_prof_activity trace_dev; // device records of every point (keep_device)
} is_bench_prof;

// After the backend opened, before the model loads and before any NVTX range:
// whether CUPTI can be used with it (why_cuda: why the CUDA backend is not used,
// "" when it is), and if so attaches the in-process NVTX capture (recording
// stays off; left as it is when already on: --trace).
void is_bench_prof_check(is_bench_prof *bp, const is_backend *be, const char *why_cuda);

// One repetition's work, as the timed loop runs it.
typedef struct is_bench_work {
    is_session *s;
    int batch;
    int32_t **prompts;
    int *lens;
    const is_gen_opts *go;
    const is_cost *cost;
    int prompt, depth, gen; // the point's axes (model bytes of a prefill)
} is_bench_work;

// After the timed repetitions of a point (its stats computed): adds
// "kernel_table" and, with counters, "counters" to point. A failure here is
// reported in the section; the point's timed figures stand.
void is_bench_prof_point(is_bench_prof *bp, is_backend *be, const is_bench_work *w, cJSON *point);
// bench --activity-in-timed-reps (bench/profile-overhead): CUPTI activity on
// through a point's warm-up and timed repetitions, to measure what recording
// costs. begin: whether it started (a line on stderr when not); end: stops,
// drops the records, and marks point (when not NULL) "activity_in_timed_reps".
bool is_bench_prof_timed_begin(is_bench_prof *bp);
void is_bench_prof_timed_end(is_bench_prof *bp, is_backend *be, cJSON *point);
void is_bench_prof_free(is_bench_prof *bp);

#endif
