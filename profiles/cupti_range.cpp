// cupti_range.cpp — the CUPTI range profiler's counter pass (cupti_range_profiler.h,
// CUDA 13; the legacy event and metric API is gone): DRAM bytes read and written
// per prefill and per decode step. User ranges (CUPTI_UserRange) opened and
// closed through the capture's range hook around each prefill and decode_step
// NVTX range, user replay (the work runs once per pass the counters need), one
// nesting level. Values come out of the counter data image on the host
// (cuptiProfilerHostEvaluateToGpuValues) with the host object that built the
// configuration (cupti_host.hpp). Every call is checked; a failure gives its
// reason, never a crash. The C API is in cupti.h.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <cuda.h>
#include <cuda_runtime_api.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>

#include "profiles/cupti_host.hpp"

extern "C" {
#include "profiles/capture.h" // defines: is_prof_capture_set_hook
}

namespace {

struct range_api {
    decltype(&cuptiProfilerInitialize) initialize;
    decltype(&cuptiProfilerDeInitialize) deinitialize;
    decltype(&cuptiDeviceGetChipName) chip_name;
    decltype(&cuptiRangeProfilerEnable) enable;
    decltype(&cuptiRangeProfilerDisable) disable;
    decltype(&cuptiRangeProfilerGetCounterDataSize) data_size;
    decltype(&cuptiRangeProfilerCounterDataImageInitialize) data_init;
    decltype(&cuptiRangeProfilerSetConfig) set_config;
    decltype(&cuptiRangeProfilerStart) start;
    decltype(&cuptiRangeProfilerStop) stop;
    decltype(&cuptiRangeProfilerPushRange) push;
    decltype(&cuptiRangeProfilerPopRange) pop;
    decltype(&cuptiRangeProfilerDecodeData) decode;
    decltype(&cuptiRangeProfilerGetCounterDataInfo) data_info;
    decltype(&cuptiRangeProfilerCounterDataGetRangeInfo) range_info;
};

bool load_range_api(range_api &a, is_err *err) {
    using is_cupti::load;
    return load(a.initialize, "cuptiProfilerInitialize", err) &&
           load(a.deinitialize, "cuptiProfilerDeInitialize", err) && load(a.chip_name, "cuptiDeviceGetChipName", err) &&
           load(a.enable, "cuptiRangeProfilerEnable", err) && load(a.disable, "cuptiRangeProfilerDisable", err) &&
           load(a.data_size, "cuptiRangeProfilerGetCounterDataSize", err) &&
           load(a.data_init, "cuptiRangeProfilerCounterDataImageInitialize", err) &&
           load(a.set_config, "cuptiRangeProfilerSetConfig", err) && load(a.start, "cuptiRangeProfilerStart", err) &&
           load(a.stop, "cuptiRangeProfilerStop", err) && load(a.push, "cuptiRangeProfilerPushRange", err) &&
           load(a.pop, "cuptiRangeProfilerPopRange", err) && load(a.decode, "cuptiRangeProfilerDecodeData", err) &&
           load(a.data_info, "cuptiRangeProfilerGetCounterDataInfo", err) &&
           load(a.range_info, "cuptiRangeProfilerCounterDataGetRangeInfo", err);
}

// The ranges the hook opens: the object, and the first error a push or pop hit
// (the hook cannot return one).
range_api g_api;
CUpti_RangeProfiler_Object *g_object;
CUptiResult g_hook_error = CUPTI_SUCCESS;
const char *g_hook_call; // the call that failed
size_t g_open;

bool is_counted(const char *name) { return !std::strcmp(name, "prefill") || !std::strcmp(name, "decode_step"); }

void range_hook(const char *name, bool push) {
    if (!g_object || !is_counted(name) || g_hook_error != CUPTI_SUCCESS) return;
    CUptiResult r;
    if (push) {
        auto p = is_cupti::params<CUpti_RangeProfiler_PushRange_Params>(CUpti_RangeProfiler_PushRange_Params_STRUCT_SIZE);
        p.pRangeProfilerObject = g_object;
        p.pRangeName = name;
        r = g_api.push(&p);
        if (r == CUPTI_SUCCESS) g_open++;
    } else {
        if (g_open == 0) return; // its push failed or came before the pass
        auto p = is_cupti::params<CUpti_RangeProfiler_PopRange_Params>(CUpti_RangeProfiler_PopRange_Params_STRUCT_SIZE);
        p.pRangeProfilerObject = g_object;
        r = g_api.pop(&p);
        g_open--;
    }
    if (r != CUPTI_SUCCESS) {
        g_hook_error = r;
        g_hook_call = push ? "cuptiRangeProfilerPushRange" : "cuptiRangeProfilerPopRange";
    }
}

const char *result_text(const is_cupti::host_api &h, CUptiResult r) {
    const char *s = nullptr;
    if (!h.result_string || h.result_string(r, &s) != CUPTI_SUCCESS || !s) s = "unknown error";
    return s;
}

// Codes that say the counters cannot be had here (permission, device kind,
// another profiler attached), whichever call returned them.
bool says_unavailable(CUptiResult r) {
    switch (r) {
    case CUPTI_ERROR_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_INSUFFICIENT_PRIVILEGES:
    case CUPTI_ERROR_NOT_SUPPORTED:
    case CUPTI_ERROR_NOT_COMPATIBLE:
    case CUPTI_ERROR_HARDWARE_BUSY:
    case CUPTI_ERROR_OLD_PROFILER_API_INITIALIZED:
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
    case CUPTI_ERROR_VIRTUALIZED_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_CONFIDENTIAL_COMPUTING_NOT_SUPPORTED:
    case CUPTI_ERROR_CMP_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_SLI_DEVICE_NOT_SUPPORTED:
    case CUPTI_ERROR_WSL_DEVICE_NOT_SUPPORTED: return true;
    default: return false;
    }
}

// "counters unavailable: ..." (the report's "unavailable", which GPU tests
// skip) where the code says so, or where setup (the calls before the profiler
// is enabled on the context: with no driver they give CUPTI_ERROR_UNKNOWN)
// failed; any other failure is "counters: ..." (an error, which they fail on).
int cupti_fail(const is_cupti::host_api &h, CUptiResult r, const char *what, bool setup, is_err *err) {
    if (r == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)
        return is_errf(err, "counters unavailable: no permission to profile (%s: CUPTI_ERROR_INSUFFICIENT_PRIVILEGES; "
                            "the driver restricts GPU performance counters to admin users)", what);
    return is_errf(err, "counters%s: %s: %s (%d)", setup || says_unavailable(r) ? " unavailable" : "", what,
                   result_text(h, r), (int)r);
}

int cupti_fail(const is_cupti::host_api &h, CUptiResult r, const char *what, is_err *err) {
    return cupti_fail(h, r, what, false, err);
}

// The current CUDA context of this thread, through the runtime's driver entry
// point (the binary never links libcuda).
int current_context(int device, CUcontext *ctx, is_err *err) {
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(nullptr); // makes the primary context current
    if (e != cudaSuccess)
        return is_errf(err, "counters unavailable: CUDA device %d: %s", device, cudaGetErrorString(e));
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult q;
    e = cudaGetDriverEntryPointByVersion("cuCtxGetCurrent", &fn, 12000, cudaEnableDefault, &q);
    if (e != cudaSuccess || q != cudaDriverEntryPointSuccess || !fn)
        return is_errf(err, "counters unavailable: the driver has no cuCtxGetCurrent (%s)", cudaGetErrorString(e));
    CUresult cr = reinterpret_cast<CUresult (*)(CUcontext *)>(fn)(ctx);
    if (cr != CUDA_SUCCESS || !*ctx) return is_errf(err, "counters unavailable: no current CUDA context (%d)", (int)cr);
    return 0;
}

// Everything after the range profiler is enabled; disabled by the caller. The
// counter data image is the caller's: CUPTI holds on to it (SetConfig) until the
// profiler is disabled, so it must outlive this function.
int run_passes(const is_cupti::host_api &h, CUpti_Profiler_Host_Object *host, const std::vector<uint8_t> &config,
               std::vector<uint8_t> &data, int (*work)(void *, is_err *), void *user, size_t max_ranges,
               is_prof_dram_result *out, is_err *err) {
    const range_api &a = g_api;
    const char *metrics[2] = {out->metrics.read, out->metrics.write};
    auto sp = is_cupti::params<CUpti_RangeProfiler_GetCounterDataSize_Params>(
        CUpti_RangeProfiler_GetCounterDataSize_Params_STRUCT_SIZE);
    sp.pRangeProfilerObject = g_object;
    sp.pMetricNames = metrics;
    sp.numMetrics = 2;
    sp.maxNumOfRanges = max_ranges;
    sp.maxNumRangeTreeNodes = (uint32_t)max_ranges;
    CUptiResult r = a.data_size(&sp);
    if (r != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerGetCounterDataSize", err);
    data.assign(sp.counterDataSize, 0);
    auto ip = is_cupti::params<CUpti_RangeProfiler_CounterDataImage_Initialize_Params>(
        CUpti_RangeProfiler_CounterDataImage_Initialize_Params_STRUCT_SIZE);
    ip.pRangeProfilerObject = g_object;
    ip.counterDataSize = data.size();
    ip.pCounterData = data.data();
    if ((r = a.data_init(&ip)) != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerCounterDataImageInitialize", err);
    auto cp = is_cupti::params<CUpti_RangeProfiler_SetConfig_Params>(CUpti_RangeProfiler_SetConfig_Params_STRUCT_SIZE);
    cp.pRangeProfilerObject = g_object;
    cp.configSize = config.size();
    cp.pConfig = config.data();
    cp.counterDataImageSize = data.size();
    cp.pCounterDataImage = data.data();
    cp.range = CUPTI_UserRange;
    cp.replayMode = CUPTI_UserReplay;
    cp.maxRangesPerPass = max_ranges;
    cp.numNestingLevels = 1;
    cp.minNestingLevel = 1;
    cp.passIndex = 0;
    cp.targetNestingLevel = 1;
    if ((r = a.set_config(&cp)) != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerSetConfig", err);

    // one run of the work per pass, until CUPTI has every pass it needs
    bool all = false;
    for (size_t pass = 0; !all; pass++) {
        if (pass >= 64) return is_errf(err, "counters: CUPTI asked for more than 64 replay passes");
        auto st = is_cupti::params<CUpti_RangeProfiler_Start_Params>(CUpti_RangeProfiler_Start_Params_STRUCT_SIZE);
        st.pRangeProfilerObject = g_object;
        if ((r = a.start(&st)) != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerStart", err);
        g_hook_error = CUPTI_SUCCESS;
        g_hook_call = nullptr;
        g_open = 0;
        is_prof_capture_set_hook(range_hook);
        int wrc = work(user, err);
        is_prof_capture_set_hook(nullptr);
        auto sp2 = is_cupti::params<CUpti_RangeProfiler_Stop_Params>(CUpti_RangeProfiler_Stop_Params_STRUCT_SIZE);
        sp2.pRangeProfilerObject = g_object;
        CUptiResult rs = a.stop(&sp2);
        if (wrc) return -1; // the work's own error
        if (g_hook_error != CUPTI_SUCCESS) return cupti_fail(h, g_hook_error, g_hook_call, err);
        if (rs != CUPTI_SUCCESS) return cupti_fail(h, rs, "cuptiRangeProfilerStop", err);
        all = sp2.isAllPassSubmitted != 0;
    }
    auto dp = is_cupti::params<CUpti_RangeProfiler_DecodeData_Params>(CUpti_RangeProfiler_DecodeData_Params_STRUCT_SIZE);
    dp.pRangeProfilerObject = g_object;
    if ((r = a.decode(&dp)) != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerDecodeData", err);
    out->dropped_ranges = dp.numOfRangeDropped;

    auto info = is_cupti::params<CUpti_RangeProfiler_GetCounterDataInfo_Params>(
        CUpti_RangeProfiler_GetCounterDataInfo_Params_STRUCT_SIZE);
    info.pCounterDataImage = data.data();
    info.counterDataImageSize = data.size();
    if ((r = a.data_info(&info)) != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiRangeProfilerGetCounterDataInfo", err);
    out->ranges = static_cast<is_prof_dram_range *>(std::calloc(info.numTotalRanges ? info.numTotalRanges : 1,
                                                                 sizeof *out->ranges));
    if (!out->ranges) return is_errf(err, "counters: out of memory for %zu ranges", info.numTotalRanges);
    for (size_t i = 0; i < info.numTotalRanges; i++) {
        auto ri = is_cupti::params<CUpti_RangeProfiler_CounterData_GetRangeInfo_Params>(
            CUpti_RangeProfiler_CounterData_GetRangeInfo_Params_STRUCT_SIZE);
        ri.pCounterDataImage = data.data();
        ri.counterDataImageSize = data.size();
        ri.rangeIndex = i;
        ri.rangeDelimiter = "/";
        if ((r = a.range_info(&ri)) != CUPTI_SUCCESS)
            return cupti_fail(h, r, "cuptiRangeProfilerCounterDataGetRangeInfo", err);
        double values[2] = {0, 0};
        auto ev = is_cupti::params<CUpti_Profiler_Host_EvaluateToGpuValues_Params>(
            CUpti_Profiler_Host_EvaluateToGpuValues_Params_STRUCT_SIZE);
        ev.pHostObject = host;
        ev.pCounterDataImage = data.data();
        ev.counterDataImageSize = data.size();
        ev.rangeIndex = i;
        ev.ppMetricNames = metrics;
        ev.numMetrics = 2;
        ev.pMetricValues = values;
        if ((r = h.evaluate(&ev)) != CUPTI_SUCCESS)
            return cupti_fail(h, r, "cuptiProfilerHostEvaluateToGpuValues", err);
        is_prof_dram_range *o = &out->ranges[out->n_ranges++];
        std::snprintf(o->name, sizeof o->name, "%s", ri.rangeName ? ri.rangeName : "?");
        o->read_bytes = values[0];
        o->write_bytes = values[1];
    }
    return 0;
}

// Everything between cuptiProfilerInitialize and cuptiProfilerDeInitialize.
int collect_initialized(const is_cupti::host_api &h, int device, int (*work)(void *, is_err *), void *user,
                        size_t max_ranges, is_prof_dram_result *out, is_err *err) {
    auto cn = is_cupti::params<CUpti_Device_GetChipName_Params>(CUpti_Device_GetChipName_Params_STRUCT_SIZE);
    cn.deviceIndex = (size_t)device;
    CUptiResult r;
    if ((r = g_api.chip_name(&cn)) != CUPTI_SUCCESS || !cn.pChipName)
        return cupti_fail(h, r, "cuptiDeviceGetChipName", true, err);
    CUcontext ctx = nullptr;
    if (current_context(device, &ctx, err)) return -1;
    std::vector<uint8_t> config;
    CUpti_Profiler_Host_Object *host = nullptr;
    if (is_cupti::host_open(h, cn.pChipName, &out->metrics, config, &host, err)) {
        is_err_prefix(err, "counters unavailable (unsupported chip?)");
        return -1;
    }
    auto ep = is_cupti::params<CUpti_RangeProfiler_Enable_Params>(CUpti_RangeProfiler_Enable_Params_STRUCT_SIZE);
    ep.ctx = ctx;
    int rc;
    std::vector<uint8_t> data; // the counter data image: alive until after Disable
    if ((r = g_api.enable(&ep)) != CUPTI_SUCCESS) {
        rc = cupti_fail(h, r, "cuptiRangeProfilerEnable", err);
    } else {
        g_object = ep.pRangeProfilerObject;
        rc = run_passes(h, host, config, data, work, user, max_ranges, out, err);
        auto dp = is_cupti::params<CUpti_RangeProfiler_Disable_Params>(CUpti_RangeProfiler_Disable_Params_STRUCT_SIZE);
        dp.pRangeProfilerObject = g_object;
        g_object = nullptr;
        if ((r = g_api.disable(&dp)) != CUPTI_SUCCESS && rc == 0)
            rc = cupti_fail(h, r, "cuptiRangeProfilerDisable", err);
    }
    is_err ignored;
    if (is_cupti::host_close(h, host, cn.pChipName, rc ? &ignored : err) && rc == 0) rc = -1;
    return rc;
}

} // namespace

extern "C" int is_prof_dram_collect(int device, int (*work)(void *user, is_err *err), void *user, size_t max_ranges,
                                    is_prof_dram_result *out, is_err *err) {
    std::memset(out, 0, sizeof *out);
    is_cupti::host_api h{};
    if (!is_cupti::load_host_api(h, err) || !load_range_api(g_api, err)) return -1;
    if (max_ranges == 0) return is_errf(err, "counters: no range to collect");
    auto pi = is_cupti::params<CUpti_Profiler_Initialize_Params>(CUpti_Profiler_Initialize_Params_STRUCT_SIZE);
    CUptiResult r = g_api.initialize(&pi);
    if (r != CUPTI_SUCCESS) return cupti_fail(h, r, "cuptiProfilerInitialize", true, err);
    int rc = collect_initialized(h, device, work, user, max_ranges, out, err);
    // initialized once per collection, so de-initialized once, on every path
    auto di = is_cupti::params<CUpti_Profiler_DeInitialize_Params>(CUpti_Profiler_DeInitialize_Params_STRUCT_SIZE);
    if ((r = g_api.deinitialize(&di)) != CUPTI_SUCCESS && rc == 0)
        rc = cupti_fail(h, r, "cuptiProfilerDeInitialize", err);
    if (rc) {
        std::free(out->ranges);
        out->ranges = nullptr;
        out->n_ranges = 0;
    }
    return rc;
}
