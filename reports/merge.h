// merge.h — result files of repeated runs of one sweep, merged into one document
// whose points hold every run's samples in run order, so that `compare --paired`
// can pair run k of one side with run k of the other (ci/perf-gate --base runs
// the two builds interleaved). Declares: is_results_merge, is_results_runs.
#ifndef IS_REPORTS_MERGE_H
#define IS_REPORTS_MERGE_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "base/error.h"

// How many runs a validated document holds: its "runs" (written by
// is_results_merge), 1 for a document of one run (no "runs").
int is_results_runs(const cJSON *doc);

// Merges 1 <= n <= IS_RESULTS_MAX_RUNS validated documents of one run each (names[i] names runs[i] in
// messages) into *out (a new document; caller deletes):
// - the first run's document, with "runs": n at the top and, in "env", the first
//   run's environment plus "runs_noise": every run's env.noise in run order (null
//   where a run recorded none);
// - each point of the first run, matched by configuration key in every other
//   run: its samples are each metric's arrays concatenated in run order, "reps"
//   and "elapsed_s" summed, "stats" computed again over all of them (seed); the
//   parts that describe one run ("stop", "noise", "derived", "telemetry",
//   "kernel_table", "counters", "winner", and a serve point's "serve" and
//   "timeseries": its last repetition) are left out; a point that failed in
//   some run is status "error" with that run's message ("run 3: ...") and no samples.
// Serve runs merge as bench runs do: every repetition replays the whole
// workload, so a per-request metric's samples are the same requests run after
// run, and a per-repetition one's a sample per repetition.
// Errors (-1, err names the run and the point): a run that is itself merged,
// runs of different kinds (bench, kernels, serve) or models, a point missing from a run
// or found only in a later one, and an ok point whose runs hold different
// numbers of samples of a metric ("merge needs runs of fixed repetitions"; for
// serve runs, of one workload: the same requests and output lengths).
int is_results_merge(const cJSON *const *runs, const char *const *names, int n, uint64_t seed, cJSON **out,
                     is_err *err);

#endif
