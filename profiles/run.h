// run.h — what a command does to be profiled: the NVTX level and the trace file
// it was asked for (--nvtx-level, --trace: app/flags.c), starting the capture
// before the first NVTX call, writing the trace at the end. Declares:
// is_prof_opts, is_prof_start, is_prof_finish, is_prof_finish_with, is_prof_abort.
#ifndef IS_PROF_RUN_H
#define IS_PROF_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "profiles/trace.h" // defines: is_prof_device_event

typedef struct is_prof_opts {
    const char *trace; // --trace FILE (NULL: none)
    int nvtx_level;    // --nvtx-level N (default 1)
    bool capturing;    // set by is_prof_start: the in-process capture is recording
} is_prof_opts;

#define IS_PROF_OPTS_INIT {.trace = NULL, .nvtx_level = 1, .capturing = false}

// Sets the NVTX level and, with --trace, starts the capture (one line on stderr
// when it cannot: which and why; the run goes on) and removes the temporary
// files of the trace a killed run left. Call before any NVTX range.
void is_prof_start(is_prof_opts *o);

// With --trace: stops the capture and writes the trace (atomically). Returns 0 or -1.
int is_prof_finish(is_prof_opts *o, bool quiet, is_err *err);
// The same with CUPTI's device records (attributed: their range and phase set)
// as device tracks beside the host ranges.
int is_prof_finish_with(is_prof_opts *o, const is_prof_device_event *dev, size_t n_dev, bool quiet, is_err *err);
// On a failed run: stops the capture this run started and drops what it holds;
// no file is written. After is_prof_finish, or without --trace: nothing.
void is_prof_abort(is_prof_opts *o);

#endif
