// nvml_standin.c — a stand-in for libnvidia-ml.so.1, for the telemetry tests on
// a machine with no GPU: the NVML functions profiles/nvml.c uses, with the
// signatures of NVML's API and scripted values. The tests load it through
// IS_NVML_LIB and script it with environment variables, read at each call:
//   IS_NVML_STANDIN_INIT      nvmlInit_v2 returns this code (default 0, success)
//   IS_NVML_STANDIN_DEVICES   devices there are (default 1): a larger index is NVML_ERROR_INVALID_ARGUMENT
//   IS_NVML_STANDIN_SM, _MEM, _POWER_MW, _TEMP, _REASONS, _ENERGY_MJ
//                             comma lists of values by sample: sample k reads entry k, or the last
//                             entry once the list is done; an entry "eN" makes that read return
//                             error N; numbers in decimal or 0x hex
//   IS_NVML_STANDIN_ENERGY_MJ may also be "rate:W": a counter that advances at W watts of wall time
//                             from nvmlInit_v2 (whole millijoules, as NVML's)
// A sample begins with the SM clock: each nvmlDeviceGetClockInfo(NVML_CLOCK_SM)
// starts the next sample (profiles/nvml.c reads it first).
// Built twice: as is, and with IS_STANDIN_OLD_DRIVER, a driver from before
// nvmlDeviceGetCurrentClocksEventReasons (only the ...ThrottleReasons name).
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;
enum { NVML_SUCCESS = 0, NVML_ERROR_UNINITIALIZED = 1, NVML_ERROR_INVALID_ARGUMENT = 2 };

static atomic_int sample_at = -1; // the sample being read
static atomic_int inits;
static double t_init;
static int device_token;          // a handle is a pointer to this

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Entry k of the list in env (or the last one), into *v; the code to return.
static nvmlReturn_t scripted(const char *env, const char *dflt, unsigned long long *v) {
    const char *list = getenv(env);
    if (!list || !*list) list = dflt;
    int k = atomic_load(&sample_at);
    if (k < 0) k = 0;
    const char *e = list;
    for (int i = 0; i < k; i++) {
        const char *c = strchr(e, ',');
        if (!c) break;
        e = c + 1;
    }
    if (*e == 'e') return (nvmlReturn_t)strtol(e + 1, NULL, 10);
    *v = strtoull(e, NULL, 0);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
    const char *rc = getenv("IS_NVML_STANDIN_INIT");
    if (rc && atoi(rc)) return atoi(rc);
    atomic_fetch_add(&inits, 1);
    t_init = now_s();
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlShutdown(void) {
    if (atomic_load(&inits) <= 0) return NVML_ERROR_UNINITIALIZED;
    atomic_fetch_sub(&inits, 1);
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t rc) {
    switch (rc) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    }
    return "Unknown Error";
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (atomic_load(&inits) <= 0) return NVML_ERROR_UNINITIALIZED;
    const char *n = getenv("IS_NVML_STANDIN_DEVICES");
    if (index >= (unsigned)(n ? atoi(n) : 1)) return NVML_ERROR_INVALID_ARGUMENT;
    *device = (nvmlDevice_t)&device_token;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    if (device != (nvmlDevice_t)&device_token || length == 0) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(name, length, "NVML stand-in GPU");
    return NVML_SUCCESS;
}

// value of an unsigned int quantity
static nvmlReturn_t uint_reading(nvmlDevice_t device, const char *env, const char *dflt, unsigned int *out) {
    if (device != (nvmlDevice_t)&device_token || !out) return NVML_ERROR_INVALID_ARGUMENT;
    unsigned long long v = 0;
    nvmlReturn_t rc = scripted(env, dflt, &v);
    if (rc == NVML_SUCCESS) *out = (unsigned int)v;
    return rc;
}

nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, int type, unsigned int *clock) {
    if (type == 1) atomic_fetch_add(&sample_at, 1); // NVML_CLOCK_SM: the next sample
    if (type == 1) return uint_reading(device, "IS_NVML_STANDIN_SM", "1980", clock);
    if (type == 2) return uint_reading(device, "IS_NVML_STANDIN_MEM", "2619", clock);
    return NVML_ERROR_INVALID_ARGUMENT;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    return uint_reading(device, "IS_NVML_STANDIN_POWER_MW", "300000", power);
}

nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, int sensor, unsigned int *temp) {
    if (sensor != 0) return NVML_ERROR_INVALID_ARGUMENT; // NVML_TEMPERATURE_GPU
    return uint_reading(device, "IS_NVML_STANDIN_TEMP", "60", temp);
}

static nvmlReturn_t reasons(nvmlDevice_t device, unsigned long long *mask) {
    if (device != (nvmlDevice_t)&device_token || !mask) return NVML_ERROR_INVALID_ARGUMENT;
    return scripted("IS_NVML_STANDIN_REASONS", "0", mask);
}

nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long *mask) {
    return reasons(device, mask);
}

#ifndef IS_STANDIN_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long *mask) {
    return reasons(device, mask);
}
#endif

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
    if (device != (nvmlDevice_t)&device_token || !energy) return NVML_ERROR_INVALID_ARGUMENT;
    const char *e = getenv("IS_NVML_STANDIN_ENERGY_MJ");
    if (e && !strncmp(e, "rate:", 5)) {
        double watts = strtod(e + 5, NULL);
        *energy = (unsigned long long)(watts * (now_s() - t_init) * 1e3); // J -> mJ, whole
        return NVML_SUCCESS;
    }
    return scripted("IS_NVML_STANDIN_ENERGY_MJ", "1000000", energy);
}
