// nvml.c — see nvml.h. NVML's C API as its reference documents it, declared
// here (no NVIDIA header is needed): every function returns an nvmlReturn_t,
// NVML_SUCCESS (0) or an error code that nvmlErrorString names.
#include "profiles/nvml.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h" // defines: is_xmalloc, is_xrealloc
#include "base/stats.h" // defines: is_median

// ---- the part of NVML's API used here -------------------------------------------------

typedef int nvml_return;                      // nvmlReturn_t
#define NVML_SUCCESS 0
typedef struct nvml_device_st *nvml_device;   // nvmlDevice_t: an opaque handle
enum { NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2 }; // nvmlClockType_t
enum { NVML_TEMPERATURE_GPU = 0 };            // nvmlTemperatureSensors_t
#define NVML_DEVICE_NAME_V2_BUFFER_SIZE 96

typedef struct nvml_api {
    nvml_return (*init)(void);                                         // nvmlInit_v2
    nvml_return (*shutdown)(void);                                     // nvmlShutdown
    const char *(*error_string)(nvml_return);                          // nvmlErrorString
    nvml_return (*by_index)(unsigned int, nvml_device *);              // nvmlDeviceGetHandleByIndex_v2
    nvml_return (*by_uuid)(const char *, nvml_device *);               // nvmlDeviceGetHandleByUUID
    nvml_return (*name)(nvml_device, char *, unsigned int);            // nvmlDeviceGetName
    nvml_return (*clock)(nvml_device, int, unsigned int *);            // nvmlDeviceGetClockInfo: MHz
    nvml_return (*power)(nvml_device, unsigned int *);                 // nvmlDeviceGetPowerUsage: mW
    nvml_return (*temp)(nvml_device, int, unsigned int *);             // nvmlDeviceGetTemperature: C
    nvml_return (*reasons)(nvml_device, unsigned long long *);         // ...CurrentClocksEventReasons
    nvml_return (*energy)(nvml_device, unsigned long long *);          // ...TotalEnergyConsumption: mJ
    const char *reasons_fn;  // which of the two reason functions the library has
} nvml_api;

struct is_nvml {
    void *lib;
    nvml_api api;
    nvml_device dev;
    int index;
    char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE];
};

static const char *nvml_error(const is_nvml *nv, nvml_return rc) {
    const char *s = nv->api.error_string ? nv->api.error_string(rc) : NULL;
    return s ? s : "unknown NVML error";
}

// nv->api.field = the library's function name, or NULL (POSIX's way of storing
// dlsym's object pointer into a function pointer)
#define LOAD(field, name) (*(void **)&nv->api.field = dlsym(nv->lib, name))

// The NVML index of CUDA ordinal k: CUDA_VISIBLE_DEVICES's k-th entry when set.
// Returns 0 with *index (or uuid, for a GPU-... entry), -1 with the reason.
static int map_ordinal(int k, int *index, char *uuid, size_t uuid_len, char *why, size_t why_len) {
    const char *vis = getenv("CUDA_VISIBLE_DEVICES");
    *index = k;
    uuid[0] = 0;
    if (!vis) return 0;
    const char *e = vis;
    for (int i = 0; i < k && e; i++) {
        e = strchr(e, ',');
        if (e) e++;
    }
    size_t len = e ? strcspn(e, ",") : 0;
    while (len && isspace((unsigned char)*e)) e++, len--;
    while (len && isspace((unsigned char)e[len - 1])) len--;
    if (!e || len == 0) {
        snprintf(why, why_len, "CUDA_VISIBLE_DEVICES=\"%s\" has no device %d", vis, k);
        return -1;
    }
    char *end;
    long v = strtol(e, &end, 10);
    if (end == e + len && v >= 0) {
        *index = (int)v;
        return 0;
    }
    if (len > 4 && !strncmp(e, "GPU-", 4) && len < uuid_len) {
        memcpy(uuid, e, len);
        uuid[len] = 0;
        return 0;
    }
    snprintf(why, why_len, "CUDA_VISIBLE_DEVICES entry \"%.*s\" names no whole GPU NVML can open by index or UUID",
             (int)len, e);
    return -1;
}

is_nvml *is_nvml_open(int cuda_ordinal, char *why, size_t why_len) {
    const char *path = getenv(IS_NVML_LIB_ENV);
    if (!path || !*path) path = IS_NVML_SONAME;
    is_nvml *nv = calloc(1, sizeof *nv);
    IS_ASSERT(nv);
    nv->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!nv->lib) {
        const char *e = dlerror();
        snprintf(why, why_len, "cannot load NVML: %s", e ? e : path);
        free(nv);
        return NULL;
    }
    static const char *const required[] = {"nvmlInit_v2", "nvmlShutdown", "nvmlErrorString",
                                           "nvmlDeviceGetHandleByIndex_v2"};
    LOAD(init, required[0]);
    LOAD(shutdown, required[1]);
    LOAD(error_string, required[2]);
    LOAD(by_index, required[3]);
    const bool have[] = {nv->api.init, nv->api.shutdown, nv->api.error_string, nv->api.by_index};
    for (int i = 0; i < 4; i++)
        if (!have[i]) {
            snprintf(why, why_len, "%s has no %s (not NVML, or older than driver 325)", path, required[i]);
            dlclose(nv->lib);
            free(nv);
            return NULL;
        }
    LOAD(by_uuid, "nvmlDeviceGetHandleByUUID");
    LOAD(name, "nvmlDeviceGetName");
    LOAD(clock, "nvmlDeviceGetClockInfo");
    LOAD(power, "nvmlDeviceGetPowerUsage");
    LOAD(temp, "nvmlDeviceGetTemperature");
    LOAD(energy, "nvmlDeviceGetTotalEnergyConsumption");
    nv->api.reasons_fn = "nvmlDeviceGetCurrentClocksEventReasons"; // driver 535 and later
    if (!LOAD(reasons, nv->api.reasons_fn)) {
        nv->api.reasons_fn = "nvmlDeviceGetCurrentClocksThrottleReasons"; // its older name
        LOAD(reasons, nv->api.reasons_fn);
    }
    nvml_return rc = nv->api.init();
    if (rc != NVML_SUCCESS) {
        snprintf(why, why_len, "nvmlInit_v2: %s", nvml_error(nv, rc));
        dlclose(nv->lib);
        free(nv);
        return NULL;
    }
    char uuid[96], mwhy[256];
    int index;
    if (map_ordinal(cuda_ordinal, &index, uuid, sizeof uuid, mwhy, sizeof mwhy)) {
        snprintf(why, why_len, "%s", mwhy);
        is_nvml_close(nv);
        return NULL;
    }
    if (*uuid && !nv->api.by_uuid) {
        snprintf(why, why_len, "%s has no nvmlDeviceGetHandleByUUID (needed for CUDA_VISIBLE_DEVICES=%s)", path, uuid);
        is_nvml_close(nv);
        return NULL;
    }
    rc = *uuid ? nv->api.by_uuid(uuid, &nv->dev) : nv->api.by_index((unsigned)index, &nv->dev);
    if (rc != NVML_SUCCESS) {
        if (*uuid) snprintf(why, why_len, "nvmlDeviceGetHandleByUUID(%s): %s", uuid, nvml_error(nv, rc));
        else snprintf(why, why_len, "nvmlDeviceGetHandleByIndex_v2(%d): %s", index, nvml_error(nv, rc));
        is_nvml_close(nv);
        return NULL;
    }
    nv->index = *uuid ? -1 : index;
    if (!nv->api.name || nv->api.name(nv->dev, nv->name, sizeof nv->name) != NVML_SUCCESS) nv->name[0] = 0;
    nv->name[sizeof nv->name - 1] = 0;
    return nv;
}

void is_nvml_close(is_nvml *nv) {
    if (!nv) return;
    // nvmlShutdown's return is checked like every call's, but nothing is left to
    // do when it fails: the library goes either way
    nvml_return rc = nv->api.shutdown();
    if (rc != NVML_SUCCESS) fprintf(stderr, "inferscope: nvmlShutdown: %s\n", nvml_error(nv, rc));
    dlclose(nv->lib);
    free(nv);
}

const char *is_nvml_name(const is_nvml *nv) { return nv->name; }
int is_nvml_index(const is_nvml *nv) { return nv->index; }

// ---- samples ----------------------------------------------------------------------------

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Keeps the first failure of quantity q in s.
static void read_failed(is_nvml_series *s, int q, const char *fn, const char *msg) {
    if (!s->errors[q][0]) snprintf(s->errors[q], sizeof s->errors[q], "%s: %s", fn, msg);
}

// An unsigned reading of quantity q through f, or NaN (the failure kept in s).
static double read_uint(is_nvml *nv, is_nvml_series *s, int q, const char *fn, nvml_return rc, unsigned int v) {
    if (rc == NVML_SUCCESS) return (double)v;
    read_failed(s, q, fn, nvml_error(nv, rc));
    return NAN;
}

void is_nvml_sample_now(is_nvml *nv, is_nvml_series *s) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = is_xrealloc(s->v, (size_t)s->cap * sizeof *s->v);
    }
    is_nvml_sample *x = &s->v[s->n++];
    memset(x, 0, sizeof *x);
    x->t_s = now_s();
    const nvml_api *a = &nv->api;
    static const char no_fn[] = "not in this NVML library";
    unsigned int v = 0;
    // the read order is part of the contract with the tests' stand-in: a sample
    // begins with the SM clock
    if (a->clock) {
        nvml_return rc = a->clock(nv->dev, NVML_CLOCK_SM, &v);
        x->sm_clock_mhz = read_uint(nv, s, IS_NVML_Q_SM_CLOCK, "nvmlDeviceGetClockInfo(SM)", rc, v);
        rc = a->clock(nv->dev, NVML_CLOCK_MEM, &v);
        x->mem_clock_mhz = read_uint(nv, s, IS_NVML_Q_MEM_CLOCK, "nvmlDeviceGetClockInfo(MEM)", rc, v);
    } else {
        x->sm_clock_mhz = x->mem_clock_mhz = NAN;
        read_failed(s, IS_NVML_Q_SM_CLOCK, "nvmlDeviceGetClockInfo", no_fn);
        read_failed(s, IS_NVML_Q_MEM_CLOCK, "nvmlDeviceGetClockInfo", no_fn);
    }
    if (a->power) {
        nvml_return rc = a->power(nv->dev, &v);
        x->power_w = read_uint(nv, s, IS_NVML_Q_POWER, "nvmlDeviceGetPowerUsage", rc, v) / 1000.0;
    } else {
        x->power_w = NAN;
        read_failed(s, IS_NVML_Q_POWER, "nvmlDeviceGetPowerUsage", no_fn);
    }
    if (a->temp) {
        nvml_return rc = a->temp(nv->dev, NVML_TEMPERATURE_GPU, &v);
        x->temp_c = read_uint(nv, s, IS_NVML_Q_TEMP, "nvmlDeviceGetTemperature", rc, v);
    } else {
        x->temp_c = NAN;
        read_failed(s, IS_NVML_Q_TEMP, "nvmlDeviceGetTemperature", no_fn);
    }
    unsigned long long u = 0;
    if (a->reasons) {
        nvml_return rc = a->reasons(nv->dev, &u);
        x->reasons_ok = rc == NVML_SUCCESS;
        x->reasons = x->reasons_ok ? (uint64_t)u : 0;
        if (!x->reasons_ok) read_failed(s, IS_NVML_Q_REASONS, a->reasons_fn, nvml_error(nv, rc));
    } else {
        read_failed(s, IS_NVML_Q_REASONS, "nvmlDeviceGetCurrentClocksEventReasons", no_fn);
    }
    x->energy_mj = NAN;
    if (a->energy) {
        nvml_return rc = a->energy(nv->dev, &u);
        if (rc == NVML_SUCCESS) x->energy_mj = (double)u;
        else read_failed(s, IS_NVML_Q_ENERGY, "nvmlDeviceGetTotalEnergyConsumption", nvml_error(nv, rc));
    } else {
        read_failed(s, IS_NVML_Q_ENERGY, "nvmlDeviceGetTotalEnergyConsumption", no_fn);
    }
}

void is_nvml_series_free(is_nvml_series *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

// ---- the sampler thread ------------------------------------------------------------------

struct is_nvml_sampler {
    is_nvml *nv;
    is_nvml_series series;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;  // on CLOCK_MONOTONIC
    bool stop;
};

static struct timespec to_timespec(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)floor(t);
    ts.tv_nsec = (long)((t - floor(t)) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return ts;
}

// Samples on a grid of period from the first sample (a sample that runs late
// moves to the next point of the grid, it does not crowd the next one).
static void *sampler_main(void *arg) {
    is_nvml_sampler *s = arg;
    double period = s->series.period_ms / 1e3, next = s->series.v[0].t_s + period;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec ts = to_timespec(next);
        int rc = pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        if (s->stop) break;
        if (rc != ETIMEDOUT && now_s() < next) continue; // woken early
        pthread_mutex_unlock(&s->mu);
        is_nvml_sample_now(s->nv, &s->series);
        double now = now_s();
        while (next <= now) next += period;
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

is_nvml_sampler *is_nvml_sampler_start(is_nvml *nv, int period_ms, char *why, size_t why_len) {
    IS_ASSERT(nv && period_ms > 0);
    is_nvml_sampler *s = calloc(1, sizeof *s);
    IS_ASSERT(s);
    s->nv = nv;
    s->series.period_ms = period_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->mu, NULL);
    is_nvml_sample_now(nv, &s->series);
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    if (rc) {
        snprintf(why, why_len, "cannot start the sampling thread: %s", strerror(rc));
        is_nvml_series_free(&s->series);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        free(s);
        return NULL;
    }
    return s;
}

void is_nvml_sampler_stop(is_nvml_sampler *s, is_nvml_series *out) {
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    is_nvml_sample_now(s->nv, &s->series);
    *out = s->series;
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

// ---- the summary -------------------------------------------------------------------------

static is_nvml_range range_of(const is_nvml_series *s, size_t offset) {
    is_nvml_range r = {0, NAN, NAN, NAN};
    double *x = is_xmalloc((size_t)(s->n ? s->n : 1) * sizeof *x);
    for (int i = 0; i < s->n; i++) {
        double v = *(const double *)((const char *)&s->v[i] + offset);
        if (isfinite(v)) x[r.n++] = v;
    }
    if (r.n) {
        r.min = r.max = x[0];
        for (int i = 1; i < r.n; i++) {
            if (x[i] < r.min) r.min = x[i];
            if (x[i] > r.max) r.max = x[i];
        }
        r.median = is_median(x, r.n);
    }
    free(x);
    return r;
}

void is_nvml_summarize(const is_nvml_series *s, is_nvml_summary *out) {
    memset(out, 0, sizeof *out);
    out->n_samples = s->n;
    out->sm_clock_mhz = range_of(s, offsetof(is_nvml_sample, sm_clock_mhz));
    out->mem_clock_mhz = range_of(s, offsetof(is_nvml_sample, mem_clock_mhz));
    out->power_w = range_of(s, offsetof(is_nvml_sample, power_w));
    out->temp_c = range_of(s, offsetof(is_nvml_sample, temp_c));
    out->energy_j = NAN;
    out->energy_method = IS_NVML_ENERGY_NONE;
    for (int i = 0; i < s->n; i++) {
        if (!s->v[i].reasons_ok) continue;
        out->n_reasons++;
        out->reasons |= s->v[i].reasons;
        out->throttled_samples += (s->v[i].reasons & IS_NVML_THROTTLE_MASK) != 0;
    }
    out->throttled = out->throttled_samples > 0;
    if (s->n < 2) return;
    const is_nvml_sample *first = &s->v[0], *last = &s->v[s->n - 1];
    out->duration_s = last->t_s - first->t_s;
    if (isfinite(first->energy_mj) && isfinite(last->energy_mj) && last->energy_mj > first->energy_mj) {
        out->energy_j = (last->energy_mj - first->energy_mj) / 1e3;
        out->energy_method = IS_NVML_ENERGY_COUNTER;
        return;
    }
    double e = 0;
    for (int i = 0; i + 1 < s->n; i++) {
        double p0 = s->v[i].power_w, p1 = s->v[i + 1].power_w;
        if (!isfinite(p0) || !isfinite(p1)) return;
        e += 0.5 * (p0 + p1) * (s->v[i + 1].t_s - s->v[i].t_s);
    }
    out->energy_j = e;
    out->energy_method = IS_NVML_ENERGY_TRAPEZOID;
}

const char *is_nvml_energy_method_name(is_nvml_energy_method m) {
    switch (m) {
    case IS_NVML_ENERGY_COUNTER: return "counter";
    case IS_NVML_ENERGY_TRAPEZOID: return "power_trapezoid";
    case IS_NVML_ENERGY_NONE: break;
    }
    return "none";
}

const char *is_nvml_reason_name(uint64_t bit) {
    switch (bit) {
    case 0x1: return "gpu_idle";
    case 0x2: return "applications_clocks_setting";
    case 0x4: return "sw_power_cap";
    case 0x8: return "hw_slowdown";
    case 0x10: return "sync_boost";
    case 0x20: return "sw_thermal_slowdown";
    case 0x40: return "hw_thermal_slowdown";
    case 0x80: return "hw_power_brake_slowdown";
    case 0x100: return "display_clock_setting";
    }
    return NULL;
}
