// kernel_table.h — what CUPTI's activity records become, in plain C (no CUPTI
// here, so it is tested on the CPU with synthetic records): each device record
// attributed, through the host API record with its correlation id, to the
// innermost captured NVTX range and the outermost phase range that launched it;
// then a table per phase of kernels (and copies, sets): calls, total, mean and
// max device time, share of the phase's wall time. Declares: is_prof_activity,
// is_prof_attribute, is_prof_kernel_tables_build, is_prof_kernel_tables_json,
// is_prof_kernel_short_name.
//
// Attribution: a device record's correlation id names the host API call that
// queued it (a kernel launch, a copy, a graph launch: every kernel replayed from
// one graph launch carries that launch's id). That call's thread and start time
// find the ranges open around it on that thread. Phases are the ranges of the
// inferscope domain in the tokenizer, prefill, decode and sample categories
// (tokenize, prefill, decode_step, sample, detokenize, context_fill); the
// outermost one around the launch is the record's phase. Records with no API
// record (CUPTI dropped it, or it came from outside the measured region) or no
// phase around their launch go to the table IS_PROF_OUTSIDE.
#ifndef IS_PROF_KERNEL_TABLE_H
#define IS_PROF_KERNEL_TABLE_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "profiles/capture.h"
#include "profiles/trace.h"

#define IS_PROF_OUTSIDE "(outside any range)"

// A host-side CUDA API call (runtime or driver) as CUPTI recorded it.
typedef struct is_prof_api_record {
    uint32_t correlation;
    uint64_t tid;         // OS thread id (gettid, as is_prof_thread_id)
    int64_t t0_ns, t1_ns; // on the capture's clock
} is_prof_api_record;

// What one collection gathered; range and phase of dev are set by is_prof_attribute.
typedef struct is_prof_activity {
    is_prof_device_event *dev; // names owned
    size_t n_dev, cap_dev;
    is_prof_api_record *api;
    size_t n_api, cap_api;
    size_t dropped; // records CUPTI could not keep (cuptiActivityGetNumDroppedRecords)
} is_prof_activity;

// Appends a copy (name duplicated) / a record.
void is_prof_activity_add_dev(is_prof_activity *a, const is_prof_device_event *e);
void is_prof_activity_add_api(is_prof_activity *a, const is_prof_api_record *r);
void is_prof_activity_free(is_prof_activity *a);

// Sets range and phase of every device record of a from the ranges in host.
// no_api: records whose correlation id has no API record; outside: records whose
// launch had no phase range around it (either may be NULL).
void is_prof_attribute(is_prof_activity *a, const is_prof_capture *host, size_t *no_api, size_t *outside);

typedef struct is_prof_kernel_row {
    const char *name;         // the device record's name (points into the activity)
    is_prof_device_kind kind;
    long calls;
    int64_t total_ns, max_ns;
} is_prof_kernel_row;

typedef struct is_prof_phase_table {
    const char *phase;  // a range name, or IS_PROF_OUTSIDE
    long ranges;        // outermost ranges of this phase captured
    int64_t wall_ns;    // their summed wall time (0 for IS_PROF_OUTSIDE)
    int64_t kernel_ns;  // summed device time of its records
    int64_t busy_ns;    // device time covered by at least one record (overlaps counted once)
    is_prof_kernel_row *rows; // sorted by total_ns, largest first
    size_t n_rows;
} is_prof_phase_table;

typedef struct is_prof_kernel_tables {
    is_prof_phase_table *phases; // by kernel_ns, largest first; IS_PROF_OUTSIDE last
    size_t n_phases;
    size_t records, no_api, outside, dropped;
} is_prof_kernel_tables;

// Attributes a (is_prof_attribute) and builds the tables; out refers to names in
// a and host, which must outlive it.
void is_prof_kernel_tables_build(is_prof_activity *a, const is_prof_capture *host, is_prof_kernel_tables *out);
void is_prof_kernel_tables_free(is_prof_kernel_tables *t);

// {"records": n, "dropped_records": n, "no_api_record": n, "outside_ranges": n,
//  "phases": [{"phase": s, "ranges": n, "wall_ms": x, "kernel_ms": x, "busy_ms": x,
//              "share": x (kernel / wall; absent without wall time),
//              "kernels": [{"name": s, "kind": s, "calls": n, "total_ms": x, "mean_ms": x,
//                           "max_ms": x, "share": x}]}]}
cJSON *is_prof_kernel_tables_json(const is_prof_kernel_tables *t);

// A readable name for a kernel: the function's (qualified) name out of an
// Itanium-mangled symbol ("_Z14rmsnorm_kernelPfPKfS1_if" -> "rmsnorm_kernel",
// "_ZN4cute6detail3fooEv" -> "cute::detail::foo"); any other name as it is.
void is_prof_kernel_short_name(const char *name, char *buf, size_t n);

#endif
