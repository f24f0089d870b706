// cupti_metrics.cpp — host-side CUPTI profiler API (cupti_profiler_host.h, which
// includes <string>, hence C++): for a chip name, find which DRAM byte counters
// it has and build the range profiler's configuration image. Needs no GPU and
// no driver. The C API is in cupti.h.
#include <cstdio>
#include <cstring>
#include <vector>

#include <cupti_profiler_host.h>
#include <cupti_result.h>

extern "C" {
#include "engine/error.h" // a C header without its own extern "C"
}
#include "profiles/cupti.h"

namespace {

// The functions used, looked up in the loaded library.
struct host_api {
    decltype(&cuptiProfilerHostInitialize) initialize;
    decltype(&cuptiProfilerHostDeinitialize) deinitialize;
    decltype(&cuptiProfilerHostGetBaseMetrics) base_metrics;
    decltype(&cuptiProfilerHostConfigAddMetrics) add_metrics;
    decltype(&cuptiProfilerHostGetConfigImageSize) image_size;
    decltype(&cuptiProfilerHostGetConfigImage) image;
    decltype(&cuptiProfilerHostGetNumOfPasses) passes;
    decltype(&cuptiGetResultString) result_string;
};

template <typename F> bool load(F &f, const char *name, is_err *err) {
    char why[512];
    f = reinterpret_cast<F>(is_prof_cupti_sym(name, why, sizeof why));
    if (!f) is_errf(err, "CUPTI unavailable: %s", why);
    return f != nullptr;
}

bool load_api(host_api &a, is_err *err) {
    return load(a.initialize, "cuptiProfilerHostInitialize", err) &&
           load(a.deinitialize, "cuptiProfilerHostDeinitialize", err) &&
           load(a.base_metrics, "cuptiProfilerHostGetBaseMetrics", err) &&
           load(a.add_metrics, "cuptiProfilerHostConfigAddMetrics", err) &&
           load(a.image_size, "cuptiProfilerHostGetConfigImageSize", err) &&
           load(a.image, "cuptiProfilerHostGetConfigImage", err) &&
           load(a.passes, "cuptiProfilerHostGetNumOfPasses", err) &&
           load(a.result_string, "cuptiGetResultString", err);
}

int fail(const host_api &a, CUptiResult r, const char *what, const char *chip, is_err *err) {
    const char *s = nullptr;
    if (a.result_string(r, &s) != CUPTI_SUCCESS || !s) s = "unknown error";
    return is_errf(err, "CUPTI %s for chip %s: %s (%d)", what, chip, s, (int)r);
}

// Base counters of DRAM bytes read and written, in order of preference: chips
// name them differently (GB202 has dram__bytes_op_read, not dram__bytes_read).
const char *const read_candidates[] = {"dram__bytes_read", "dram__bytes_op_read", "fbpa__dram_read_bytes"};
const char *const write_candidates[] = {"dram__bytes_write", "dram__bytes_op_write", "fbpa__dram_write_bytes"};

const char *pick(const char *const *cands, size_t n_cands, const char **names, size_t n) {
    for (size_t c = 0; c < n_cands; c++)
        for (size_t i = 0; i < n; i++)
            if (!std::strcmp(names[i], cands[c])) return cands[c];
    return nullptr;
}

// A parameter struct zeroed, with its size set (CUPTI checks it).
template <typename T> T params(size_t size) {
    T p{};
    p.structSize = size;
    return p;
}

} // namespace

extern "C" int is_prof_dram_metrics_resolve(const char *chip, is_prof_dram_metrics *out, is_err *err) {
    std::memset(out, 0, sizeof *out);
    host_api a{};
    if (!load_api(a, err)) return -1;
    if (!chip || !*chip || std::strlen(chip) >= sizeof out->chip) return is_errf(err, "no chip name given");
    std::snprintf(out->chip, sizeof out->chip, "%s", chip);

    auto ip = params<CUpti_Profiler_Host_Initialize_Params>(CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE);
    ip.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    ip.pChipName = chip;
    CUptiResult r = a.initialize(&ip);
    if (r != CUPTI_SUCCESS) return fail(a, r, "does not know the chip (host initialize failed)", chip, err);

    int rc = -1;
    auto bp = params<CUpti_Profiler_Host_GetBaseMetrics_Params>(CUpti_Profiler_Host_GetBaseMetrics_Params_STRUCT_SIZE);
    bp.pHostObject = ip.pHostObject;
    bp.metricType = CUPTI_METRIC_TYPE_COUNTER;
    const char *rd = nullptr, *wr = nullptr;
    std::vector<uint8_t> image;
    if ((r = a.base_metrics(&bp)) != CUPTI_SUCCESS) {
        fail(a, r, "listing counters", chip, err);
    } else if (!(rd = pick(read_candidates, 3, bp.ppMetricNames, bp.numMetrics)) ||
               !(wr = pick(write_candidates, 3, bp.ppMetricNames, bp.numMetrics))) {
        is_errf(err, "chip %s has no DRAM byte counter among %zu counters (looked for dram__bytes_read, "
                     "dram__bytes_op_read, fbpa__dram_read_bytes and their write twins)", chip, bp.numMetrics);
    } else {
        std::snprintf(out->read, sizeof out->read, "%s.sum", rd);
        std::snprintf(out->write, sizeof out->write, "%s.sum", wr);
        const char *metrics[2] = {out->read, out->write};
        auto ap = params<CUpti_Profiler_Host_ConfigAddMetrics_Params>(CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE);
        ap.pHostObject = ip.pHostObject;
        ap.ppMetricNames = metrics;
        ap.numMetrics = 2;
        auto sp = params<CUpti_Profiler_Host_GetConfigImageSize_Params>(CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE);
        sp.pHostObject = ip.pHostObject;
        auto gp = params<CUpti_Profiler_Host_GetConfigImage_Params>(CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE);
        auto np = params<CUpti_Profiler_Host_GetNumOfPasses_Params>(CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE);
        if ((r = a.add_metrics(&ap)) != CUPTI_SUCCESS) {
            fail(a, r, "adding the DRAM metrics to the configuration", chip, err);
        } else if ((r = a.image_size(&sp)) != CUPTI_SUCCESS || sp.configImageSize == 0) {
            fail(a, r, "sizing the configuration image", chip, err);
        } else {
            image.resize(sp.configImageSize);
            gp.pHostObject = ip.pHostObject;
            gp.configImageSize = image.size();
            gp.pConfigImage = image.data();
            np.configImageSize = image.size();
            np.pConfigImage = image.data();
            if ((r = a.image(&gp)) != CUPTI_SUCCESS) fail(a, r, "building the configuration image", chip, err);
            else if ((r = a.passes(&np)) != CUPTI_SUCCESS) fail(a, r, "counting the replay passes", chip, err);
            else {
                out->config_image_bytes = image.size();
                out->passes = np.numOfPasses;
                rc = 0;
            }
        }
    }
    auto dp = params<CUpti_Profiler_Host_Deinitialize_Params>(CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE);
    dp.pHostObject = ip.pHostObject;
    if ((r = a.deinitialize(&dp)) != CUPTI_SUCCESS && rc == 0) rc = fail(a, r, "releasing the host object", chip, err);
    return rc;
}
