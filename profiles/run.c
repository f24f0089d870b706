// run.c — see run.h.
#include "profiles/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fileio.h"      // defines: is_write_file_atomic_clean
#include "profiles/capture.h" // defines: is_prof_capture_begin, is_prof_capture_take
#include "base/nvtx.h"    // defines: is_prof_set_level
#include "profiles/trace.h"   // defines: is_prof_trace_write

void is_prof_start(is_prof_opts *o) {
    is_prof_set_level(o->nvtx_level);
    o->capturing = false;
    if (!o->trace) return;
    is_write_file_atomic_clean(o->trace); // what a run killed while writing the trace left
    char why[512];
    if (is_prof_capture_begin(why, sizeof why) == 0) o->capturing = true;
    else fprintf(stderr, "trace: host ranges not captured: %s\n", why);
}

int is_prof_finish(is_prof_opts *o, bool quiet, is_err *err) { return is_prof_finish_with(o, NULL, 0, quiet, err); }

int is_prof_finish_with(is_prof_opts *o, const is_prof_device_event *dev, size_t n_dev, bool quiet, is_err *err) {
    if (!o->trace) return 0;
    if (o->capturing) is_prof_capture_end();
    is_prof_capture host;
    is_prof_capture_take(&host);
    const char *note = o->capturing ? NULL : "host ranges were not captured (see the run's stderr)";
    int rc = is_prof_trace_write(o->trace, &host, dev, n_dev, note, err);
    if (!rc && !quiet)
        fprintf(stderr, "trace: %zu host ranges%s, %zu device records in %s\n", host.n,
                host.dropped ? " (some dropped: the store was full)" : "", n_dev, o->trace);
    is_prof_capture_free(&host);
    o->capturing = false;
    return rc;
}

void is_prof_abort(is_prof_opts *o) {
    if (!o->capturing) return; // a capture started by someone else is theirs
    is_prof_capture_end();
    is_prof_capture host;
    is_prof_capture_take(&host);
    is_prof_capture_free(&host);
    o->capturing = false;
}
