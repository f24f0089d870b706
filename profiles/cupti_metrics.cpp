// cupti_metrics.cpp — host-side CUPTI profiler API (cupti_profiler_host.h, which
// includes <string>, hence C++): for a chip name, find which DRAM byte counters
// it has and build the range profiler's configuration image. Needs no GPU and
// no driver. The C API is in cupti.h; cupti_host.hpp shares the pieces with the
// range profiler (cupti_range.cpp).
#include <cstdio>
#include <cstring>

#include "profiles/cupti_host.hpp"

namespace is_cupti {

bool load_host_api(host_api &a, is_err *err) {
    return load(a.initialize, "cuptiProfilerHostInitialize", err) &&
           load(a.deinitialize, "cuptiProfilerHostDeinitialize", err) &&
           load(a.base_metrics, "cuptiProfilerHostGetBaseMetrics", err) &&
           load(a.add_metrics, "cuptiProfilerHostConfigAddMetrics", err) &&
           load(a.image_size, "cuptiProfilerHostGetConfigImageSize", err) &&
           load(a.image, "cuptiProfilerHostGetConfigImage", err) &&
           load(a.passes, "cuptiProfilerHostGetNumOfPasses", err) &&
           load(a.evaluate, "cuptiProfilerHostEvaluateToGpuValues", err) &&
           load(a.result_string, "cuptiGetResultString", err);
}

int fail(const host_api &a, CUptiResult r, const char *what, const char *chip, is_err *err) {
    const char *s = nullptr;
    if (a.result_string(r, &s) != CUPTI_SUCCESS || !s) s = "unknown error";
    return is_errf(err, "CUPTI %s for chip %s: %s (%d)", what, chip, s, (int)r);
}

namespace {

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

// The counters and the image, on an initialized host object.
int configure(const host_api &a, CUpti_Profiler_Host_Object *obj, const char *chip, is_prof_dram_metrics *out,
              std::vector<uint8_t> &image, is_err *err) {
    auto bp = params<CUpti_Profiler_Host_GetBaseMetrics_Params>(CUpti_Profiler_Host_GetBaseMetrics_Params_STRUCT_SIZE);
    bp.pHostObject = obj;
    bp.metricType = CUPTI_METRIC_TYPE_COUNTER;
    CUptiResult r = a.base_metrics(&bp);
    if (r != CUPTI_SUCCESS) return fail(a, r, "listing counters", chip, err);
    const char *rd = pick(read_candidates, 3, bp.ppMetricNames, bp.numMetrics);
    const char *wr = pick(write_candidates, 3, bp.ppMetricNames, bp.numMetrics);
    if (!rd || !wr)
        return is_errf(err, "chip %s has no DRAM byte counter among %zu counters (looked for dram__bytes_read, "
                            "dram__bytes_op_read, fbpa__dram_read_bytes and their write twins)", chip, bp.numMetrics);
    std::snprintf(out->read, sizeof out->read, "%s.sum", rd);
    std::snprintf(out->write, sizeof out->write, "%s.sum", wr);
    const char *metrics[2] = {out->read, out->write};
    auto ap = params<CUpti_Profiler_Host_ConfigAddMetrics_Params>(CUpti_Profiler_Host_ConfigAddMetrics_Params_STRUCT_SIZE);
    ap.pHostObject = obj;
    ap.ppMetricNames = metrics;
    ap.numMetrics = 2;
    if ((r = a.add_metrics(&ap)) != CUPTI_SUCCESS)
        return fail(a, r, "adding the DRAM metrics to the configuration", chip, err);
    auto sp = params<CUpti_Profiler_Host_GetConfigImageSize_Params>(CUpti_Profiler_Host_GetConfigImageSize_Params_STRUCT_SIZE);
    sp.pHostObject = obj;
    if ((r = a.image_size(&sp)) != CUPTI_SUCCESS || sp.configImageSize == 0)
        return fail(a, r, "sizing the configuration image", chip, err);
    image.resize(sp.configImageSize);
    auto gp = params<CUpti_Profiler_Host_GetConfigImage_Params>(CUpti_Profiler_Host_GetConfigImage_Params_STRUCT_SIZE);
    gp.pHostObject = obj;
    gp.configImageSize = image.size();
    gp.pConfigImage = image.data();
    if ((r = a.image(&gp)) != CUPTI_SUCCESS) return fail(a, r, "building the configuration image", chip, err);
    auto np = params<CUpti_Profiler_Host_GetNumOfPasses_Params>(CUpti_Profiler_Host_GetNumOfPasses_Params_STRUCT_SIZE);
    np.configImageSize = image.size();
    np.pConfigImage = image.data();
    if ((r = a.passes(&np)) != CUPTI_SUCCESS) return fail(a, r, "counting the replay passes", chip, err);
    out->config_image_bytes = image.size();
    out->passes = np.numOfPasses;
    return 0;
}

} // namespace

int host_open(const host_api &a, const char *chip, is_prof_dram_metrics *out, std::vector<uint8_t> &image,
              CUpti_Profiler_Host_Object **obj, is_err *err) {
    std::memset(out, 0, sizeof *out);
    *obj = nullptr;
    if (!chip || !*chip || std::strlen(chip) >= sizeof out->chip) return is_errf(err, "no chip name given");
    std::snprintf(out->chip, sizeof out->chip, "%s", chip);
    auto ip = params<CUpti_Profiler_Host_Initialize_Params>(CUpti_Profiler_Host_Initialize_Params_STRUCT_SIZE);
    ip.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    ip.pChipName = chip;
    CUptiResult r = a.initialize(&ip);
    if (r != CUPTI_SUCCESS) return fail(a, r, "does not know the chip (host initialize failed)", chip, err);
    if (configure(a, ip.pHostObject, chip, out, image, err)) {
        is_err ignored;
        host_close(a, ip.pHostObject, chip, &ignored); // the first error is the one reported
        return -1;
    }
    *obj = ip.pHostObject;
    return 0;
}

int host_close(const host_api &a, CUpti_Profiler_Host_Object *obj, const char *chip, is_err *err) {
    if (!obj) return 0;
    auto dp = params<CUpti_Profiler_Host_Deinitialize_Params>(CUpti_Profiler_Host_Deinitialize_Params_STRUCT_SIZE);
    dp.pHostObject = obj;
    CUptiResult r = a.deinitialize(&dp);
    return r == CUPTI_SUCCESS ? 0 : fail(a, r, "releasing the host object", chip, err);
}

} // namespace is_cupti

extern "C" int is_prof_dram_metrics_resolve(const char *chip, is_prof_dram_metrics *out, is_err *err) {
    std::memset(out, 0, sizeof *out);
    is_cupti::host_api a{};
    if (!is_cupti::load_host_api(a, err)) return -1;
    std::vector<uint8_t> image;
    CUpti_Profiler_Host_Object *obj;
    if (is_cupti::host_open(a, chip, out, image, &obj, err)) return -1;
    return is_cupti::host_close(a, obj, chip, err);
}
