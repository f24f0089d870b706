// trace.h — the Chrome trace-event JSON file (opens in Perfetto and
// chrome://tracing): captured NVTX ranges as host tracks (one per thread) and,
// with CUDA, CUPTI's kernels, copies and sets as device tracks (one per stream),
// each tagged with the host range that launched it. Declares: is_prof_trace_write.
#ifndef IS_PROF_TRACE_H
#define IS_PROF_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "profiles/capture.h"

typedef enum is_prof_device_kind { IS_PROF_DEV_KERNEL, IS_PROF_DEV_MEMCPY, IS_PROF_DEV_MEMSET } is_prof_device_kind;

typedef struct is_prof_device_event {
    char *name;             // owned: the kernel's name, or "memcpy HtoD" etc.
    is_prof_device_kind kind;
    uint32_t device, stream;
    int64_t t0_ns, t1_ns;   // on the capture's clock (is_prof_now_ns)
    uint32_t correlation;   // CUPTI correlation id of the launching API call
    const char *range;      // innermost captured host range around the launch (NULL: none)
    const char *phase;      // outermost phase range around the launch (prefill, decode_step, ...; NULL: none)
} is_prof_device_event;

const char *is_prof_device_kind_name(is_prof_device_kind k);

// Writes the trace to path through a temporary file and a rename; on error,
// nothing is left at path. note (may be NULL) lands in the file's metadata.
int is_prof_trace_write(const char *path, const is_prof_capture *host, const is_prof_device_event *dev,
                        size_t n_dev, const char *note, is_err *err);

#endif
