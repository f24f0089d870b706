// cupti.h — CUPTI, loaded at run time (dlopen: the binary never needs libcupti
// or a driver to start). Host-side metric resolution (no GPU needed), activity
// records per phase, and the range profiler's DRAM counters. In a build without
// CUDA every call returns -1 with "built without CUDA" as the reason.
// Declares: is_prof_dram_metrics_resolve, is_prof_cupti_*.
#ifndef IS_PROF_CUPTI_H
#define IS_PROF_CUPTI_H

#include <stddef.h>

#include "engine/error.h"

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

// The CUPTI library, opened once; NULL with the reason ("libcupti.so.13: cannot
// open ..."). sym: one of its functions, NULL with the reason.
void *is_prof_cupti_lib(char *why, size_t why_len);
void *is_prof_cupti_sym(const char *name, char *why, size_t why_len);

#ifdef __cplusplus
}
#endif

#endif
