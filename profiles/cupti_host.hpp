// cupti_host.hpp — what the two C++ files of the CUPTI profiler share (internal):
// the host-side functions looked up in the loaded library, a parameter struct
// with its size set, and the host object of a chip with its DRAM configuration
// image. Declares: is_cupti::host_api, is_cupti::params, is_cupti::host_open.
#ifndef IS_PROF_CUPTI_HOST_HPP
#define IS_PROF_CUPTI_HOST_HPP

#include <cstdint>
#include <vector>

#include <cupti_profiler_host.h>
#include <cupti_result.h>

extern "C" {
#include "base/error.h" // a C header without its own extern "C"
}
#include "profiles/cupti.h"

namespace is_cupti {

struct host_api {
    decltype(&cuptiProfilerHostInitialize) initialize;
    decltype(&cuptiProfilerHostDeinitialize) deinitialize;
    decltype(&cuptiProfilerHostGetBaseMetrics) base_metrics;
    decltype(&cuptiProfilerHostConfigAddMetrics) add_metrics;
    decltype(&cuptiProfilerHostGetConfigImageSize) image_size;
    decltype(&cuptiProfilerHostGetConfigImage) image;
    decltype(&cuptiProfilerHostGetNumOfPasses) passes;
    decltype(&cuptiProfilerHostEvaluateToGpuValues) evaluate;
    decltype(&cuptiGetResultString) result_string;
};

// Looks up one function: false with "CUPTI unavailable: ..." in err.
template <typename F> bool load(F &f, const char *name, is_err *err) {
    char why[512];
    f = reinterpret_cast<F>(is_prof_cupti_sym(name, why, sizeof why));
    if (!f) is_errf(err, "CUPTI unavailable: %s", why);
    return f != nullptr;
}

bool load_host_api(host_api &a, is_err *err);

// "CUPTI what for chip CHIP: message (code)"; returns -1.
int fail(const host_api &a, CUptiResult r, const char *what, const char *chip, is_err *err);

// A parameter struct zeroed, with its size set (CUPTI checks it).
template <typename T> T params(size_t size) {
    T p{};
    p.structSize = size;
    return p;
}

// A host object for chip with the DRAM byte counters (names in out->read and
// out->write) added and the configuration image built into image. On success
// *obj is open: release it with host_close.
int host_open(const host_api &a, const char *chip, is_prof_dram_metrics *out, std::vector<uint8_t> &image,
              CUpti_Profiler_Host_Object **obj, is_err *err);
int host_close(const host_api &a, CUpti_Profiler_Host_Object *obj, const char *chip, is_err *err);

} // namespace is_cupti

#endif
