// test_nvml.c — GPU telemetry on a machine with no GPU: the summary of a series
// against values worked out by hand, then NVML replaced by the stand-in
// (tests/stubs/nvml_standin.c, loaded through IS_NVML_LIB and scripted by
// environment variables): reads, the sampler thread, energy by the counter and
// by integration, throttle detection, the unavailable paths.
// Criterion runs each test in a process of its own, so the environment one sets
// does not reach another.
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profiles/nvml.h"    // defines: is_nvml_open, is_nvml_sampler_start, is_nvml_summarize

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
