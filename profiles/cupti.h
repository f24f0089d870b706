// cupti.h — CUPTI, loaded at run time (dlopen: the binary never needs libcupti
// or a driver to start). Host-side metric resolution (no GPU needed), activity
// records per phase, and the range profiler's DRAM counters. In a build without
// CUDA every call returns -1 with "built without CUDA" as the reason.
// Declares: is_prof_dram_metrics_resolve, is_prof_cupti_*, is_prof_activity_start,
// is_prof_activity_stop, is_prof_dram_collect.
#ifndef IS_PROF_CUPTI_H
#define IS_PROF_CUPTI_H

#include <stddef.h>

#include "base/error.h"

#ifdef __cplusplus
extern "C" {
#endif

// The DRAM byte counters the range profiler collects on a chip ("GH100",
// "AD102", "GB100", ...), chosen from the chip's own metric list (names differ
// between chips), and the configuration image built for them on the host.
typedef struct is_prof_dram_metrics {
    char chip[32];
    char read[96], write[96]; // e.g. dram__bytes_read.sum
    size_t config_image_bytes;
    size_t passes;            // replay passes the counters need
} is_prof_dram_metrics;

int is_prof_dram_metrics_resolve(const char *chip, is_prof_dram_metrics *out, is_err *err);

// CUPTI activity (cupti_activity.c): kernels, copies, sets and the runtime and
// driver API calls, timestamps on the capture's clock (is_prof_now_ns). start
// enables the record kinds; stop flushes every buffer (cuptiActivityFlushAll),
// disables them and moves what was recorded into out (is_prof_activity_free).
// Wait for the device (the backend's sync) before stop. -1 with the reason
// ("no permission to profile ...", "cannot load CUPTI: ...").
struct is_prof_activity;
int is_prof_activity_start(char *why, size_t why_len);
int is_prof_activity_stop(struct is_prof_activity *out, char *why, size_t why_len);

// The range profiler's counter pass (cupti_range.cpp): DRAM bytes read and
// written in each prefill and decode_step range of work(user), one CUPTI user
// range per NVTX range (the capture's range hook: the capture must be
// attached), replaying work once per pass the counters need. device: the CUDA
// ordinal the work runs on; max_ranges: at most that many ranges are kept.
typedef struct is_prof_dram_range {
    char name[32];            // "prefill", "decode_step"
    double read_bytes, write_bytes;
} is_prof_dram_range;

typedef struct is_prof_dram_result {
    is_prof_dram_metrics metrics; // chip, counter names, passes
    is_prof_dram_range *ranges;   // in the order they ran (free with free())
    size_t n_ranges;
    size_t dropped_ranges;        // ranges CUPTI could not keep
} is_prof_dram_result;

int is_prof_dram_collect(int device, int (*work)(void *user, is_err *err), void *user, size_t max_ranges,
                         is_prof_dram_result *out, is_err *err);

// The CUPTI library, opened once; NULL with the reason ("libcupti.so.13: cannot
// open ..."). sym: one of its functions, NULL with the reason.
void *is_prof_cupti_lib(char *why, size_t why_len);
// The file CUPTI was loaded from ("" when it was not).
const char *is_prof_cupti_path(void);
void *is_prof_cupti_sym(const char *name, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
