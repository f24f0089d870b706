// telemetry.c — see telemetry.h.
#include "bench/telemetry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "reports/schema.h" // defines: is_schema_number

void is_bench_telemetry_open(is_bench_telemetry *t, bool off, const is_backend *be, int device) {
    memset(t, 0, sizeof *t);
    t->off = off;
    t->on_gpu = !strcmp(be->name, "cuda");
    snprintf(t->backend, sizeof t->backend, "%s", be->name);
    t->period_ms = IS_NVML_DEFAULT_PERIOD_MS;
    if (off) {
        snprintf(t->why, sizeof t->why, "off (--no-telemetry)");
        return;
    }
    char why[512];
    if (!(t->nv = is_nvml_open(device, why, sizeof why))) snprintf(t->why, sizeof t->why, "NVML unavailable: %s", why);
}

void is_bench_telemetry_begin(is_bench_telemetry *t) {
    is_nvml_series_free(&t->series);
    t->sampler_why[0] = 0;
    if (!t->nv) return;
    t->sampler = is_nvml_sampler_start(t->nv, t->period_ms, t->sampler_why, sizeof t->sampler_why);
}

void is_bench_telemetry_end(is_bench_telemetry *t) {
    if (!t->sampler) return;
    is_nvml_sampler_stop(t->sampler, &t->series);
    t->sampler = NULL;
}

static void add_range(cJSON *o, const char *key, const is_nvml_range *r) {
    if (r->n == 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    cJSON *x = cJSON_AddObjectToObject(o, key);
    cJSON_AddNumberToObject(x, "min", r->min);
    cJSON_AddNumberToObject(x, "median", r->median);
    cJSON_AddNumberToObject(x, "max", r->max);
}

static cJSON *section(const char *status, const char *reason) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    if (reason) cJSON_AddStringToObject(o, "reason", reason);
    return o;
}

static cJSON *summary_json(const is_bench_telemetry *t, double tokens) {
    is_nvml_summary s;
    is_nvml_summarize(&t->series, &s);
    cJSON *o = section("ok", NULL);
    cJSON_AddStringToObject(o, "source", "NVML");
    cJSON_AddStringToObject(o, "device", is_nvml_name(t->nv));
    cJSON_AddNumberToObject(o, "nvml_index", is_nvml_index(t->nv));
    cJSON_AddStringToObject(o, "window", "the timed repetitions: from before the first to after the last");
    cJSON_AddNumberToObject(o, "period_ms", t->series.period_ms);
    cJSON_AddNumberToObject(o, "n_samples", s.n_samples);
    cJSON_AddNumberToObject(o, "duration_s", s.duration_s);
    add_range(o, "sm_clock_mhz", &s.sm_clock_mhz);
    add_range(o, "mem_clock_mhz", &s.mem_clock_mhz);
    add_range(o, "power_w", &s.power_w);
    add_range(o, "temp_c", &s.temp_c);
    is_schema_number(o, "energy_j", s.energy_j);
    cJSON_AddStringToObject(o, "energy_method", is_nvml_energy_method_name(s.energy_method));
    cJSON_AddNumberToObject(o, "tokens", tokens);
    is_schema_number(o, "joules_per_token", t->on_gpu && tokens > 0 ? s.energy_j / tokens : NAN);
    if (s.n_reasons == 0) {
        cJSON_AddNullToObject(o, "throttle_reasons");
        cJSON_AddNullToObject(o, "throttled");
    } else {
        cJSON *names = cJSON_AddArrayToObject(o, "throttle_reasons");
        for (int b = 0; b < 64; b++) {
            uint64_t bit = 1ULL << b;
            if (!(s.reasons & bit)) continue;
            const char *nm = is_nvml_reason_name(bit);
            char unknown[32];
            snprintf(unknown, sizeof unknown, "0x%llx", (unsigned long long)bit);
            cJSON_AddItemToArray(names, cJSON_CreateString(nm ? nm : unknown));
        }
        cJSON_AddBoolToObject(o, "throttled", s.throttled);
    }
    cJSON_AddNumberToObject(o, "throttled_samples", s.throttled_samples);
    static const char *const quantity[IS_NVML_N_Q] = {"sm_clock_mhz", "mem_clock_mhz", "power_w", "temp_c",
                                                      "throttle_reasons", "energy_counter"};
    cJSON *errs = NULL;
    for (int q = 0; q < IS_NVML_N_Q; q++) {
        if (!t->series.errors[q][0]) continue;
        if (!errs) errs = cJSON_AddObjectToObject(o, "read_errors");
        cJSON_AddStringToObject(errs, quantity[q], t->series.errors[q]);
    }
    if (!t->on_gpu) {
        char note[160];
        snprintf(note, sizeof note, "the %s backend does not run on this GPU: these are the GPU's figures during "
                 "the run, not the run's; no joules per token", t->backend);
        cJSON_AddStringToObject(o, "note", note);
    }
    return o;
}

void is_bench_telemetry_point(is_bench_telemetry *t, cJSON *point, double tokens) {
    cJSON *o;
    if (*t->why) o = section(t->off ? "off" : "unavailable", t->why);
    else if (t->series.n == 0) o = section("error", *t->sampler_why ? t->sampler_why : "no sample was taken");
    else o = summary_json(t, tokens);
    cJSON_AddItemToObject(point, "telemetry", o);
    is_nvml_series_free(&t->series);
}

void is_bench_telemetry_close(is_bench_telemetry *t) {
    is_bench_telemetry_end(t);
    is_nvml_series_free(&t->series);
    is_nvml_close(t->nv);
    t->nv = NULL;
}
