// test_nvml.c — GPU telemetry on a machine with no GPU: the summary of a series
// against values worked out by hand, then NVML replaced by the stand-in
// (tests/stubs/nvml_standin.c, loaded through IS_NVML_LIB and scripted by
// environment variables): reads, the sampler thread, energy by the counter and
// by integration, throttle detection, the unavailable paths, and a bench run
// whose telemetry reaches results.json, results.csv, report.md and compare.
// Criterion runs each test in a process of its own, so the environment one sets
// does not reach another.
#include <criterion/criterion.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/telemetry.h"  // defines: is_bench_telemetry_open, is_bench_telemetry_point
#include "profiles/nvml.h"    // defines: is_nvml_open, is_nvml_sampler_start, is_nvml_summarize
#include "reports/compare.h"  // defines: is_compare, is_compare_to_md
#include "reports/results.h"  // defines: is_results_load, is_results_to_md, is_results_to_csv
#include "support/testutil.h" // defines: tu_run_cli, tu_mkdtemp

// Sums and products of a few doubles: exact to the last bit or two.
#define EXACT 1e-12

static void near(double got, double want, double tol, const char *what) {
    cr_assert(fabs(got - want) <= tol, "%s: %.17g, expected %.17g (tolerance %g)", what, got, want, tol);
}

// A series written by hand: times, SM clock, power, reasons, energy counter.
static is_nvml_series series_of(int n, const double *t, const double *sm, const double *power, const uint64_t *reasons,
                                const double *energy_mj) {
    is_nvml_series s = {0};
    s.n = s.cap = n;
    s.v = calloc((size_t)n, sizeof *s.v);
    for (int i = 0; i < n; i++) {
        s.v[i] = (is_nvml_sample){.t_s = t[i], .sm_clock_mhz = sm ? sm[i] : NAN, .mem_clock_mhz = 2619,
                                  .power_w = power ? power[i] : NAN, .temp_c = 50 + i,
                                  .energy_mj = energy_mj ? energy_mj[i] : NAN,
                                  .reasons = reasons ? reasons[i] : 0, .reasons_ok = reasons != NULL};
    }
    return s;
}

static void standin(void) {
    setenv(IS_NVML_LIB_ENV, IS_TEST_NVML_STANDIN, 1);
    unsetenv("CUDA_VISIBLE_DEVICES");
}

// NVML as IS_NVML_LIB names it, device 0; the test fails when it does not open.
static is_nvml *open_ok(void) {
    char why[512] = "";
    is_nvml *nv = is_nvml_open(0, why, sizeof why);
    cr_assert_not_null(nv, "%s", why);
    return nv;
}

// ---- the summary ------------------------------------------------------------------------

Test(nvml_summary, ranges_energy_and_throttling_by_hand) {
    const double t[] = {10.00, 10.05, 10.10, 10.15, 10.20};
    const double sm[] = {1980, 1755, 1410, 1755, 1980};
    const double power[] = {100, 150, 200, 250, 300}; // a ramp of 250 W/s
    const uint64_t reasons[] = {0, 0x1, 0x4, 0x2, 0};
    const double energy[] = {5000, 5012, 5030, 5055, 5090};
    is_nvml_series s = series_of(5, t, sm, power, reasons, energy);
    is_nvml_summary m;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.n_samples, 5);
    near(m.duration_s, 0.2, EXACT, "duration");
    cr_assert_eq(m.sm_clock_mhz.n, 5);
    near(m.sm_clock_mhz.min, 1410, 0, "SM min");
    near(m.sm_clock_mhz.median, 1755, 0, "SM median");
    near(m.sm_clock_mhz.max, 1980, 0, "SM max");
    near(m.power_w.median, 200, 0, "power median");
    near(m.temp_c.min, 50, 0, "temp min");
    near(m.temp_c.max, 54, 0, "temp max");
    // the counter: last minus first, mJ -> J
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_COUNTER);
    near(m.energy_j, 0.090, EXACT, "energy by the counter");
    // sw_power_cap in one sample; gpu_idle and applications_clocks_setting are benign
    cr_assert_eq(m.reasons, 0x7);
    cr_assert_eq(m.n_reasons, 5);
    cr_assert_eq(m.throttled_samples, 1);
    cr_assert(m.throttled);
    // the same series without a counter: power integrated. The trapezoid rule is
    // exact for a linear ramp: the mean of 100 and 300 W over 0.2 s is 40 J
    for (int i = 0; i < 5; i++) s.v[i].energy_mj = NAN;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_TRAPEZOID);
    near(m.energy_j, 40.0, 1e-9, "energy by integration");
    cr_assert_str_eq(is_nvml_energy_method_name(m.energy_method), "power_trapezoid");
    free(s.v);
}

Test(nvml_summary, trapezoid_with_uneven_spacing) {
    const double t[] = {0, 0.03, 0.10};
    const double power[] = {200, 300, 250};
    is_nvml_series s = series_of(3, t, NULL, power, NULL, NULL);
    is_nvml_summary m;
    is_nvml_summarize(&s, &m);
    // 0.5 (200 + 300) 0.03 + 0.5 (300 + 250) 0.07 = 7.5 + 19.25
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_TRAPEZOID);
    near(m.energy_j, 26.75, 1e-12, "energy");
    cr_assert_eq(m.sm_clock_mhz.n, 0, "no SM clock read");
    cr_assert(isnan(m.sm_clock_mhz.median));
    cr_assert_eq(m.n_reasons, 0);
    cr_assert_not(m.throttled, "reasons never read: not throttled, and n_reasons 0 says unknown");
    free(s.v);
}

Test(nvml_summary, energy_falls_back_and_gives_up) {
    const double t[] = {0, 0.05, 0.10};
    const double power[] = {100, 100, 100};
    const double flat[] = {7000, 7000, 7000}, back[] = {9000, 9100, 10};
    is_nvml_summary m;
    // a counter that did not advance (a window shorter than its update) or went
    // back (the driver reloaded): integration instead
    const double *counters[] = {flat, back};
    for (int k = 0; k < 2; k++) {
        is_nvml_series s = series_of(3, t, NULL, power, NULL, counters[k]);
        is_nvml_summarize(&s, &m);
        cr_assert_eq(m.energy_method, IS_NVML_ENERGY_TRAPEZOID, "case %d", k);
        near(m.energy_j, 10.0, 1e-12, "100 W over 0.1 s");
        free(s.v);
    }
    // a power reading missing: a gap would go uncounted, so no energy at all
    const double holed[] = {100, NAN, 100};
    is_nvml_series s = series_of(3, t, NULL, holed, NULL, NULL);
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_NONE);
    cr_assert(isnan(m.energy_j));
    cr_assert_eq(m.power_w.n, 2);
    free(s.v);
    // one sample: no window
    s = series_of(1, t, NULL, power, NULL, flat);
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_NONE);
    near(m.duration_s, 0, 0, "duration");
    free(s.v);
}

Test(nvml_summary, benign_reasons_do_not_flag_limits_do) {
    const double t[] = {0, 1};
    struct {
        uint64_t bit;
        const char *name;
        bool throttles;
    } cases[] = {
        {0x1, "gpu_idle", false},           {0x2, "applications_clocks_setting", false},
        {0x4, "sw_power_cap", true},        {0x8, "hw_slowdown", true},
        {0x10, "sync_boost", false},        {0x20, "sw_thermal_slowdown", true},
        {0x40, "hw_thermal_slowdown", true}, {0x80, "hw_power_brake_slowdown", true},
        {0x100, "display_clock_setting", false}, {1ULL << 20, NULL, false}, // a bit NVML added later
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint64_t reasons[] = {0, cases[i].bit};
        is_nvml_series s = series_of(2, t, NULL, NULL, reasons, NULL);
        is_nvml_summary m;
        is_nvml_summarize(&s, &m);
        cr_assert_eq(m.throttled, cases[i].throttles, "bit 0x%llx", (unsigned long long)cases[i].bit);
        cr_assert_eq(m.throttled_samples, cases[i].throttles ? 1 : 0);
        const char *nm = is_nvml_reason_name(cases[i].bit);
        if (cases[i].name) cr_assert_str_eq(nm, cases[i].name);
        else cr_assert_null(nm);
        free(s.v);
    }
}

// ---- NVML through the stand-in ---------------------------------------------------------

Test(nvml_standin, reads_follow_the_script_and_failures_are_kept) {
    standin();
    setenv("IS_NVML_STANDIN_SM", "1410,1755,1980", 1);
    setenv("IS_NVML_STANDIN_POWER_MW", "120500,e3,300000", 1); // the second read: NVML_ERROR_NOT_SUPPORTED
    setenv("IS_NVML_STANDIN_REASONS", "0x1,0x24", 1);
    setenv("IS_NVML_STANDIN_ENERGY_MJ", "1000,1500", 1);
    is_nvml *nv = open_ok();
    cr_assert_str_eq(is_nvml_name(nv), "NVML stand-in GPU");
    cr_assert_eq(is_nvml_index(nv), 0);
    is_nvml_series s = {0};
    for (int k = 0; k < 4; k++) is_nvml_sample_now(nv, &s);
    cr_assert_eq(s.n, 4);
    const double sm[] = {1410, 1755, 1980, 1980}; // the last entry holds once the list is done
    for (int k = 0; k < 4; k++) near(s.v[k].sm_clock_mhz, sm[k], 0, "SM clock");
    near(s.v[0].power_w, 120.5, 1e-12, "milliwatts to watts");
    cr_assert(isnan(s.v[1].power_w), "a failed read is no value");
    near(s.v[2].power_w, 300, 0, "power");
    near(s.v[0].mem_clock_mhz, 2619, 0, "mem clock");
    near(s.v[0].temp_c, 60, 0, "temperature");
    cr_assert(s.v[0].reasons_ok && s.v[0].reasons == 0x1);
    cr_assert(s.v[3].reasons_ok && s.v[3].reasons == 0x24);
    near(s.v[3].energy_mj, 1500, 0, "energy counter");
    cr_assert_str_eq(s.errors[IS_NVML_Q_POWER], "nvmlDeviceGetPowerUsage: Not Supported");
    cr_assert_str_eq(s.errors[IS_NVML_Q_SM_CLOCK], "");
    is_nvml_summary m;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.power_w.n, 3);
    cr_assert(m.throttled, "sw_power_cap and sw_thermal_slowdown");
    cr_assert_eq(m.reasons, 0x25);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_COUNTER);
    near(m.energy_j, 0.5, EXACT, "energy");
    is_nvml_series_free(&s);
    is_nvml_close(nv);
}

Test(nvml_standin, every_read_failing_leaves_no_value_and_no_crash) {
    standin();
    setenv("IS_NVML_STANDIN_SM", "e3", 1);
    setenv("IS_NVML_STANDIN_MEM", "e3", 1);
    setenv("IS_NVML_STANDIN_POWER_MW", "e4", 1);
    setenv("IS_NVML_STANDIN_TEMP", "e15", 1);
    setenv("IS_NVML_STANDIN_REASONS", "e3", 1);
    setenv("IS_NVML_STANDIN_ENERGY_MJ", "e3", 1);
    is_nvml *nv = open_ok();
    is_nvml_series s = {0};
    is_nvml_sample_now(nv, &s);
    is_nvml_sample_now(nv, &s);
    is_nvml_summary m;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.sm_clock_mhz.n + m.mem_clock_mhz.n + m.power_w.n + m.temp_c.n + m.n_reasons, 0);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_NONE);
    cr_assert_str_eq(s.errors[IS_NVML_Q_POWER], "nvmlDeviceGetPowerUsage: Insufficient Permissions");
    cr_assert_str_eq(s.errors[IS_NVML_Q_TEMP], "nvmlDeviceGetTemperature: GPU is lost");
    cr_assert_str_eq(s.errors[IS_NVML_Q_REASONS], "nvmlDeviceGetCurrentClocksEventReasons: Not Supported");
    cr_assert_str_eq(s.errors[IS_NVML_Q_ENERGY], "nvmlDeviceGetTotalEnergyConsumption: Not Supported");
    is_nvml_series_free(&s);
    is_nvml_close(nv);
}

Test(nvml_standin, an_older_driver_gives_the_reasons_by_their_old_name) {
    setenv(IS_NVML_LIB_ENV, IS_TEST_NVML_STANDIN_OLD, 1);
    setenv("IS_NVML_STANDIN_REASONS", "0x40", 1);
    is_nvml *nv = open_ok();
    is_nvml_series s = {0};
    is_nvml_sample_now(nv, &s);
    cr_assert(s.v[0].reasons_ok && s.v[0].reasons == 0x40, "%s", s.errors[IS_NVML_Q_REASONS]);
    is_nvml_series_free(&s);
    is_nvml_close(nv);
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts)) {}
}

Test(nvml_standin, sampler_keeps_its_period_and_the_counter_agrees_with_integration) {
    standin();
    // 250 W, constant, and a counter that advances at 250 W of wall time
    setenv("IS_NVML_STANDIN_POWER_MW", "250000", 1);
    setenv("IS_NVML_STANDIN_ENERGY_MJ", "rate:250", 1);
    is_nvml *nv = open_ok();
    const double window = 0.3;
    char why[512] = "";
    is_nvml_sampler *smp = is_nvml_sampler_start(nv, 50, why, sizeof why);
    cr_assert_not_null(smp, "%s", why);
    sleep_s(window);
    is_nvml_series s;
    is_nvml_sampler_stop(smp, &s);
    // one sample at start, one per 50 ms on a grid from it, one at stop: at most
    // 0.3 / 0.05 + 2; a loaded machine may skip grid points, never crowd them
    cr_assert_eq(s.period_ms, 50);
    cr_assert(s.n >= 3 && s.n <= 8, "%d samples", s.n);
    for (int i = 1; i + 1 < s.n; i++)
        cr_assert_geq(s.v[i].t_s - s.v[0].t_s, i * 0.05 - 1e-3, "sample %d at %.4f s", i, s.v[i].t_s - s.v[0].t_s);
    double duration = s.v[s.n - 1].t_s - s.v[0].t_s;
    cr_assert_geq(duration, window, "the window ends at stop");
    is_nvml_summary m;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_COUNTER);
    // the counter is read after the other quantities of a sample, a few
    // microseconds past its timestamp, and in whole millijoules; a sampling
    // thread preempted between the two on a loaded machine moves one end by the
    // stall: 20 ms of 250 W allowed, plus 2 mJ of rounding
    double want = 250 * duration;
    near(m.energy_j, want, 250 * 0.020 + 0.002, "energy by the counter against 250 W x the window");
    // integration of the constant 250 W over the same samples: exact up to rounding
    for (int i = 0; i < s.n; i++) s.v[i].energy_mj = NAN;
    is_nvml_summarize(&s, &m);
    cr_assert_eq(m.energy_method, IS_NVML_ENERGY_TRAPEZOID);
    near(m.energy_j, want, 1e-9, "energy by integration");
    is_nvml_series_free(&s);
    is_nvml_close(nv);
}

// ---- unavailable ------------------------------------------------------------------------

Test(nvml_unavailable, without_the_library) {
    setenv(IS_NVML_LIB_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    char why[512] = "";
    cr_assert_null(is_nvml_open(0, why, sizeof why));
    cr_assert(!strncmp(why, "cannot load NVML: ", 18) && strstr(why, "/nonexistent/libnvidia-ml.so.1"), "%s", why);
}

Test(nvml_unavailable, when_init_fails) {
    standin();
    setenv("IS_NVML_STANDIN_INIT", "9", 1); // NVML_ERROR_DRIVER_NOT_LOADED
    char why[512] = "";
    cr_assert_null(is_nvml_open(0, why, sizeof why));
    cr_assert_str_eq(why, "nvmlInit_v2: Driver Not Loaded");
}

Test(nvml_unavailable, without_the_device) {
    standin();
    char why[512] = "";
    cr_assert_null(is_nvml_open(1, why, sizeof why), "one device: ordinal 1 is not there");
    cr_assert_str_eq(why, "nvmlDeviceGetHandleByIndex_v2(1): Invalid Argument");
    setenv("CUDA_VISIBLE_DEVICES", "1", 1); // CUDA's device 0 is NVML's 1
    cr_assert_null(is_nvml_open(0, why, sizeof why));
    cr_assert_str_eq(why, "nvmlDeviceGetHandleByIndex_v2(1): Invalid Argument");
    setenv("CUDA_VISIBLE_DEVICES", "0", 1);
    is_nvml_close(open_ok());
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    cr_assert_null(is_nvml_open(0, why, sizeof why));
    cr_assert_str_eq(why, "CUDA_VISIBLE_DEVICES=\"\" has no device 0");
    setenv("CUDA_VISIBLE_DEVICES", "GPU-0123abcd", 1);
    cr_assert_null(is_nvml_open(0, why, sizeof why));
    cr_assert(strstr(why, "has no nvmlDeviceGetHandleByUUID"), "%s", why);
}

// ---- bench's section ----------------------------------------------------------------------

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

Test(bench_telemetry, joules_per_token_on_the_gpu_backend_and_none_on_the_cpu) {
    standin();
    setenv("IS_NVML_STANDIN_ENERGY_MJ", "1000000,1002000", 1); // 2 J over the window
    const char *names[] = {"cuda", "cpu"};
    for (int k = 0; k < 2; k++) {
        is_backend be = {.name = names[k]};
        is_bench_telemetry t;
        is_bench_telemetry_open(&t, false, &be, 0);
        cr_assert_str_eq(t.why, "");
        is_bench_telemetry_begin(&t);
        is_bench_telemetry_end(&t);
        cJSON *point = cJSON_CreateObject();
        is_bench_telemetry_point(&t, point, 400);
        const cJSON *s = get(point, "telemetry");
        cr_assert_str_eq(cJSON_GetStringValue(get(s, "status")), "ok");
        cr_assert_str_eq(cJSON_GetStringValue(get(s, "energy_method")), "counter");
        near(get(s, "energy_j")->valuedouble, 2.0, EXACT, "energy");
        near(get(s, "tokens")->valuedouble, 400, 0, "tokens");
        if (k == 0) {
            near(get(s, "joules_per_token")->valuedouble, 2.0 / 400, EXACT, "J/token");
            cr_assert_null(get(s, "note"));
        } else {
            cr_assert(cJSON_IsNull(get(s, "joules_per_token")), "the GPU's energy is not a CPU run's");
            cr_assert(strstr(cJSON_GetStringValue(get(s, "note")), "cpu backend does not run on this GPU"));
        }
        cr_assert(cJSON_IsFalse(get(s, "throttled")));
        cr_assert_eq(cJSON_GetArraySize(get(s, "throttle_reasons")), 0);
        cr_assert_geq(get(s, "n_samples")->valuedouble, 2);
        cr_assert_not_null(get(get(s, "sm_clock_mhz"), "median"));
        cJSON_Delete(point);
        is_bench_telemetry_close(&t);
    }
    // off, and unavailable: the reason in the section
    is_backend be = {.name = "cuda"};
    is_bench_telemetry t;
    is_bench_telemetry_open(&t, true, &be, 0);
    cJSON *point = cJSON_CreateObject();
    is_bench_telemetry_begin(&t);
    is_bench_telemetry_end(&t);
    is_bench_telemetry_point(&t, point, 10);
    cr_assert_str_eq(cJSON_GetStringValue(get(get(point, "telemetry"), "status")), "off");
    cr_assert_str_eq(cJSON_GetStringValue(get(get(point, "telemetry"), "reason")), "off (--no-telemetry)");
    is_bench_telemetry_close(&t);
    cJSON_Delete(point);
    setenv("IS_NVML_STANDIN_INIT", "9", 1);
    is_bench_telemetry_open(&t, false, &be, 0);
    point = cJSON_CreateObject();
    is_bench_telemetry_begin(&t);
    is_bench_telemetry_end(&t);
    is_bench_telemetry_point(&t, point, 10);
    cr_assert_str_eq(cJSON_GetStringValue(get(get(point, "telemetry"), "status")), "unavailable");
    cr_assert_str_eq(cJSON_GetStringValue(get(get(point, "telemetry"), "reason")),
                     "NVML unavailable: nvmlInit_v2: Driver Not Loaded");
    is_bench_telemetry_close(&t);
    cJSON_Delete(point);
}

// ---- through the binary: results, report, compare ------------------------------------------

// bench on the CPU backend, two points (-n 2,3), into dir/name; extra: one more flag or NULL.
static void bench_into(const char *dir, const char *name, const char *extra, tu_run *out) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *args[] = {"bench", "--model", "preset:tiny", "--backend", "cpu", "-p", "4", "-n", "2,3", "-r", "2",
                          "--max-reps", "2", "--warmup", "0", "--no-probe", "--no-kernel-table", "--out", path,
                          extra, NULL};
    *out = tu_run_cli(args);
    cr_assert_eq(out->status, 0, "%s", out->err);
}

static cJSON *load(const char *dir, const char *name) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s/results.json", dir, name);
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

static char *read_out(const char *dir, const char *name, const char *file) {
    char path[700];
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    char *text = tu_read_file(path, NULL);
    cr_assert_not_null(text, "%s", path);
    return text;
}

Test(bench_telemetry, cpu_run_with_the_standin_reaches_every_output_and_compare) {
    char dir[256];
    tu_mkdtemp(dir, sizeof dir);
    standin();
    setenv("IS_NVML_STANDIN_SM", "1980,1410", 1);
    setenv("IS_NVML_STANDIN_ENERGY_MJ", "1000000,1000750", 1);
    // BASE: never throttled (gpu_idle is benign); NEW: sw_thermal_slowdown from the second sample on
    setenv("IS_NVML_STANDIN_REASONS", "0x1", 1);
    tu_run r;
    bench_into(dir, "base", NULL, &r);
    tu_run_free(&r);
    setenv("IS_NVML_STANDIN_REASONS", "0,0x20", 1);
    bench_into(dir, "new", NULL, &r);
    tu_run_free(&r);

    cJSON *doc = load(dir, "new");
    const cJSON *p0 = cJSON_GetArrayItem(get(doc, "points"), 0), *t = get(p0, "telemetry");
    const cJSON *last = get(p0, "kernel_table");
    cr_assert_eq(last->next, t, "telemetry comes after the point's other sections");
    cr_assert_null(t->next);
    cr_assert_str_eq(cJSON_GetStringValue(get(t, "status")), "ok");
    cr_assert_str_eq(cJSON_GetStringValue(get(t, "device")), "NVML stand-in GPU");
    cr_assert_geq(get(t, "n_samples")->valuedouble, 2, "a sample before the timed repetitions and one after");
    near(get(get(t, "sm_clock_mhz"), "min")->valuedouble, 1410, 0, "SM min");
    near(get(get(t, "sm_clock_mhz"), "max")->valuedouble, 1980, 0, "SM max");
    cr_assert_str_eq(cJSON_GetStringValue(get(t, "energy_method")), "counter");
    near(get(t, "energy_j")->valuedouble, 0.75, EXACT, "energy");
    near(get(t, "tokens")->valuedouble, 2 * 2, 0, "2 repetitions of 1 sequence x 2 tokens");
    cr_assert(cJSON_IsTrue(get(t, "throttled")));
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(get(t, "throttle_reasons"), 0)), "sw_thermal_slowdown");
    cr_assert(cJSON_IsNull(get(t, "joules_per_token")), "a CPU run: no joules per token");

    char *md = read_out(dir, "new", "report.md"), *csv = read_out(dir, "new", "results.csv");
    cr_assert(strstr(md, "| J/token | throttled |"), "the table's telemetry columns: %s", md);
    cr_assert(strstr(md, "|       - | yes       |"), "the throttled mark: %s", md);
    cr_assert(strstr(md, "## GPU telemetry"), "%s", md);
    cr_assert(strstr(md, "| b=1 p=4 n=2 d=0 greedy default |"), "%s", md);
    cr_assert(strstr(md, "sw_thermal_slowdown"), "%s", md);
    cr_assert(strstr(md, "0.75 (counter)"), "%s", md);
    cr_assert(strstr(md, "- note: the cpu backend does not run on this GPU"), "%s", md);
    cr_assert(strstr(csv, ",telemetry,energy_j,joules_per_token,throttled,error\n"), "%s", csv);
    cr_assert(strstr(csv, ",ok,0.75,,1,\n"), "%s", csv);
    free(md);
    free(csv);
    md = read_out(dir, "base", "report.md");
    cr_assert(strstr(md, "|       - | no        |"), "gpu_idle does not count: %s", md);
    cr_assert(strstr(md, "gpu_idle"), "but it is listed: %s", md);
    free(md);

    // compare: the note, and the verdict left as computed
    char bpath[700], npath[700];
    snprintf(bpath, sizeof bpath, "%s/base/results.json", dir);
    snprintf(npath, sizeof npath, "%s/new/results.json", dir);
    const char *cmp[] = {"compare", bpath, npath, NULL};
    r = tu_run_cli(cmp);
    cr_assert(r.status == 0 || r.status == 1, "%d: %s", r.status, r.err); // the timings decide, not the throttle
    cr_assert(strstr(r.out, "| throttled in NEW |"), "%s", r.out);
    cr_assert(strstr(r.out, "2 points ran on a GPU that throttled"), "%s", r.out);
    tu_run_free(&r);
    cJSON *base = load(dir, "base");
    cJSON *same = cJSON_Duplicate(base, true); // BASE's samples, NEW's throttle
    cJSON *tp = (cJSON *)get(cJSON_GetArrayItem(get(same, "points"), 0), "telemetry");
    cJSON_ReplaceItemInObjectCaseSensitive(tp, "throttled", cJSON_CreateTrue());
    is_compare_opts o = {.metric = NULL, .threshold = 0.05, .seed = IS_COMPARE_SEED};
    is_compare_row *rows;
    int n;
    is_err err = {{0}};
    cr_assert_eq(is_compare(base, same, &o, &rows, &n, &err), 0, "%s", err.msg);
    cr_assert_eq(n, 2);
    cr_assert_eq(rows[0].verdict, IS_VERDICT_SAME, "identical samples stay the same when NEW throttled");
    cr_assert(rows[0].throttled_new && !rows[0].throttled_base);
    cr_assert_str_eq(rows[0].note, "throttled in NEW");
    cr_assert_str_eq(rows[1].note, "");
    char *text = is_compare_to_md(rows, n, &o);
    cr_assert(strstr(text, "1 point ran on a GPU that throttled"), "%s", text);
    free(text);
    free(rows);
    cr_assert_eq(is_compare(same, base, &o, &rows, &n, &err), 0, "%s", err.msg);
    cr_assert_str_eq(rows[0].note, "throttled in BASE");
    free(rows);
    cJSON_Delete(same);
    cJSON_Delete(base);
    cJSON_Delete(doc);
    tu_rm_rf(dir);
}

Test(bench_telemetry, off_and_unavailable_say_why) {
    char dir[256];
    tu_mkdtemp(dir, sizeof dir);
    standin();
    tu_run r;
    bench_into(dir, "off", "--no-telemetry", &r);
    cr_assert(strstr(r.out, "## GPU telemetry\n\n- GPU telemetry: off (--no-telemetry)\n"), "%s", r.out);
    cr_assert_null(strstr(r.out, "J/token"), "no telemetry column without telemetry: %s", r.out);
    tu_run_free(&r);
    setenv(IS_NVML_LIB_ENV, "/nonexistent/libnvidia-ml.so.1", 1);
    bench_into(dir, "missing", NULL, &r);
    cr_assert(strstr(r.err, "bench: GPU telemetry: NVML unavailable: cannot load NVML: "), "%s", r.err);
    cr_assert(strstr(r.out, "- GPU telemetry: NVML unavailable: cannot load NVML: "), "%s", r.out);
    tu_run_free(&r);
    cJSON *doc = load(dir, "missing");
    const cJSON *t = get(cJSON_GetArrayItem(get(doc, "points"), 1), "telemetry");
    cr_assert_str_eq(cJSON_GetStringValue(get(t, "status")), "unavailable");
    char *csv = read_out(dir, "missing", "results.csv");
    cr_assert(strstr(csv, ",unavailable,,,,\n"), "%s", csv);
    free(csv);
    cJSON_Delete(doc);
    // a section that is not an object is refused when a file is read
    cJSON *bad = load(dir, "off");
    cJSON *p = cJSON_GetArrayItem(get(bad, "points"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(p, "telemetry", cJSON_CreateString("ok"));
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(bad, "r.json", &err), -1);
    cr_assert_str_eq(err.msg, "r.json: points[0].telemetry: expected an object with a \"status\" string, got \"ok\"");
    cJSON_Delete(bad);
    tu_rm_rf(dir);
}
