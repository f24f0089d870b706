// test_probe_env.c — the bandwidth and matmul probes return plausible, finite
// peaks with their shape and method filled in, and the environment capture has
// every documented field with its JSON type, the argv as given and a command line
// that pastes back into a shell.
//
// The probe checks are ranges, not values: the numbers depend on the machine.
// 0.1 .. 10000 GB/s spans a throttled laptop to HBM; below it something is wrong
// with the timing, above it the buffers sat in cache.
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench/env.h"       // defines: is_env_capture, is_env_noise_begin, is_env_noise_end, is_env_parse_*
#include "bench/probe.h"     // defines: is_probe_mem, is_probe_matmul
#include "kernels/backend.h" // defines: is_cpu_backend_create

// ---- memory probe ------------------------------------------------------------------

// One test runs the probe once: it streams a few GiB and takes seconds.
Test(probe_mem, two_threads_give_sane_bandwidth) {
    is_err err = {{0}};
    is_mem_probe p;
    cr_assert_eq(is_probe_mem(2, &p, &err), 0, "is_probe_mem: %s", err.msg);
    cr_assert(isfinite(p.read_gbs) && p.read_gbs > 0.1 && p.read_gbs < 10000, "read %g GB/s", p.read_gbs);
    cr_assert(isfinite(p.copy_gbs) && p.copy_gbs > 0.1 && p.copy_gbs < 10000, "copy %g GB/s", p.copy_gbs);
    cr_assert(p.write_gbs > 0.1 && p.write_gbs < 10000 && p.write_nt_gbs > 0.1 && p.write_nt_gbs < 10000,
              "write %g, non-temporal %g GB/s", p.write_gbs, p.write_nt_gbs);
    // decode reads its weights: MBU is taken against the read ceiling, named as such
    cr_assert_eq(p.peak_gbs, p.read_gbs);
    cr_assert_str_eq(p.peak_of, "read");
    cr_assert_geq(p.buffer_mib, 64, "buffers of %g MiB could sit in cache", p.buffer_mib);
    cr_assert_eq(p.n_threads, 2);
    cr_assert_gt(p.reps, 0);
    char want[64];
    snprintf(want, sizeof want, "%d OpenMP threads", p.n_threads);
    cr_assert_not_null(strstr(p.method, want), "method \"%s\" names the thread count", p.method);
    cr_assert_not_null(strstr(p.method, "copy"), "method \"%s\" says how copy is counted", p.method);
}

Test(probe_mem, negative_thread_count_is_an_error) {
    is_err err = {{0}};
    is_mem_probe p;
    cr_assert_eq(is_probe_mem(-1, &p, &err), -1);
    cr_assert_not_null(strstr(err.msg, "-1"), "message: %s", err.msg);
}

// ---- compute peak ------------------------------------------------------------------

// Every unit is either measured or says why not; a unit this CPU's feature bits
// promise is measured; the team's figure is not below one thread's; and the engine's
// own matmul at the probe's shape stays under the peak of the unit it runs on
// (with the noise allowance), so MFU against that peak cannot pass 100% but by noise.
Test(probe_compute, units_measured_or_explained_and_above_the_matmul) {
    is_err err = {{0}};
    is_compute_probe cp;
    cr_assert_eq(is_probe_compute(2, &cp, &err), 0, "%s", err.msg);
    cr_assert_eq(cp.n_threads, 2);
    for (int u = 0; u < IS_CPU_UNIT_COUNT; u++) {
        const is_cpu_unit_peak *p = &cp.units[u];
        cr_assert_str_eq(p->name, is_cpu_unit_name((is_cpu_unit)u));
        cr_assert_eq(is_cpu_unit_find(p->name), u);
        if (!p->available) {
            cr_assert(strlen(p->why) > 5, "%s: unavailable with no reason", p->name);
            continue;
        }
        cr_assert(p->gflops_1 > 0.1 && p->gflops_1 < 1e6, "%s: %g GFLOP/s", p->name, p->gflops_1);
        cr_assert(p->gflops_team >= p->gflops_1, "%s: team %g, one thread %g", p->name, p->gflops_team,
                  p->gflops_1);
    }
    cr_assert(cp.units[IS_CPU_UNIT_SSE].available, "every x86-64 has the baseline unit");
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        cr_assert(cp.units[IS_CPU_UNIT_AVX2].available, "%s", cp.units[IS_CPU_UNIT_AVX2].why);
    if (__builtin_cpu_supports("avx512f")) cr_assert(cp.units[IS_CPU_UNIT_AVX512].available);
    is_backend *be = is_cpu_backend_create(2, &err);
    cr_assert_not_null(be, "%s", err.msg);
    is_gemm_info gi;
    be->gemm_info(be, &gi);
    int unit = is_cpu_unit_find(gi.unit);
    cr_assert_geq(unit, 0, "the matmul's unit '%s' is one the probe measures", gi.unit);
    cr_assert(cp.units[unit].available, "the matmul runs on %s, which the probe did not measure", gi.unit);
    is_matmul_probe mp;
    cr_assert_eq(is_probe_matmul(be, IS_DTYPE_BF16, &mp, &err), 0, "%s", err.msg);
    char why[300];
    cr_assert_eq(is_probe_peak_accept(cp.units[unit].gflops_team, mp.gflops, why, sizeof why), 0,
                 "matmul %g GFLOP/s against the %s peak %g: %s", mp.gflops, gi.unit, cp.units[unit].gflops_team, why);
    be->destroy(be);
}

// A peak the engine's own matmul beats is no ceiling: refused, with the figures.
Test(probe_compute, a_peak_below_the_matmul_is_refused) {
    char why[300] = "";
    cr_assert_eq(is_probe_peak_accept(200, 150, why, sizeof why), 0);
    cr_assert_eq(is_probe_peak_accept(200, 200 * (1 + IS_PEAK_NOISE) - 1, why, sizeof why), 0, "noise is allowed");
    cr_assert_eq(is_probe_peak_accept(100, 150, why, sizeof why), -1);
    cr_assert(strstr(why, "not a ceiling") && strstr(why, "150.0") && strstr(why, "100.0"), "%s", why);
    cr_assert_eq(is_probe_peak_accept(NAN, 150, why, sizeof why), -1);
    cr_assert_eq(is_probe_peak_accept(0, 150, why, sizeof why), -1);
}

// ---- matmul probe ------------------------------------------------------------------

static void check_matmul(is_dtype wdtype) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(2, &err);
    cr_assert_not_null(be, "is_cpu_backend_create: %s", err.msg);
    is_matmul_probe p;
    cr_assert_eq(is_probe_matmul(be, wdtype, &p, &err), 0, "is_probe_matmul(%s): %s",
                 is_dtype_name(wdtype), err.msg);
    cr_assert(isfinite(p.gflops) && p.gflops > 0, "%g GFLOP/s", p.gflops);
    // 2 cores cannot do a PFLOP/s: a higher number means the timing missed the work.
    cr_assert_lt(p.gflops, 1e6, "%g GFLOP/s", p.gflops);
    cr_assert_eq(p.n, 512);
    cr_assert_eq(p.m, 2048);
    cr_assert_eq(p.k, 2048);
    cr_assert_gt(p.reps, 0);
    cr_assert_not_null(strstr(p.method, "cpu"), "method: %s", p.method);
    cr_assert_not_null(strstr(p.method, is_dtype_name(wdtype)), "method: %s", p.method);
    cr_assert_not_null(strstr(p.method, "out[512,2048]"), "method: %s", p.method);
    be->destroy(be);
}

Test(probe_matmul, f32_weights) { check_matmul(IS_DTYPE_F32); }
Test(probe_matmul, bf16_weights) { check_matmul(IS_DTYPE_BF16); }

Test(probe_matmul, f16_weights_are_an_error) {
    is_err err = {{0}};
    is_backend *be = is_cpu_backend_create(2, &err);
    cr_assert_not_null(be, "is_cpu_backend_create: %s", err.msg);
    is_matmul_probe p;
    cr_assert_eq(is_probe_matmul(be, IS_DTYPE_F16, &p, &err), -1);
    cr_assert_not_null(strstr(err.msg, "F16"), "message: %s", err.msg);
    be->destroy(be);
}

// ---- environment -------------------------------------------------------------------

static void check_string(const cJSON *env, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(env, name);
    cr_assert_not_null(v, "field \"%s\" is present", name);
    cr_assert(cJSON_IsString(v), "field \"%s\" is a string", name);
}

static const cJSON *check_number(const cJSON *env, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(env, name);
    cr_assert_not_null(v, "field \"%s\" is present", name);
    cr_assert(cJSON_IsNumber(v), "field \"%s\" is a number", name);
    return v;
}

Test(env, every_field_with_its_type) {
    char *argv[] = {"./inferscope", "bench", "--threads", "2"};
    cJSON *env = is_env_capture(4, argv, 2, "cpu", "no CUDA in this build");
    cr_assert_not_null(env);

    const char *strings[] = {"cpu_model", "os", "compiler", "c_flags", "build_type", "git_commit",
                             "inferscope_version", "command", "date", "backend", "gpu_unavailable"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) check_string(env, strings[i]);
    cr_assert_geq(check_number(env, "cpu_online")->valuedouble, 1);
    cr_assert_eq(check_number(env, "threads")->valuedouble, 2);
    cr_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(env, "argv")));

    const char *model = cJSON_GetObjectItemCaseSensitive(env, "cpu_model")->valuestring;
    cr_assert_neq(model[0], 0, "cpu_model is \"unknown\" when absent, never empty");
    const char *compiler = cJSON_GetObjectItemCaseSensitive(env, "compiler")->valuestring;
    cr_assert(strncmp(compiler, "gcc ", 4) == 0 || strncmp(compiler, "clang ", 6) == 0, "compiler: %s",
              compiler);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(env, "backend")->valuestring, "cpu");
    cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(env, "gpu")), "gpu is null when unavailable");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(env, "gpu_unavailable")->valuestring,
                     "no CUDA in this build");

    // 2024-05-01T12:34:56Z
    const char *date = cJSON_GetObjectItemCaseSensitive(env, "date")->valuestring;
    int y, mo, d, h, mi, s;
    char z = 0;
    cr_assert_eq(strlen(date), 20, "date: %s", date);
    cr_assert_eq(sscanf(date, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z), 7, "date: %s", date);
    cr_assert(y >= 2024 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h < 24 && mi < 60 && s <= 60 && z == 'Z',
              "date: %s", date);

    // On Linux MemTotal is always there; elsewhere the field is null.
    const cJSON *mem = cJSON_GetObjectItemCaseSensitive(env, "mem_total_gib");
    cr_assert_not_null(mem, "field \"mem_total_gib\" is present");
    cr_assert(cJSON_IsNull(mem) || (cJSON_IsNumber(mem) && mem->valuedouble > 0), "mem_total_gib");
#ifdef __linux__
    cr_assert(cJSON_IsNumber(mem), "mem_total_gib is a number on Linux");
#endif
    cJSON_Delete(env);
}

Test(env, gpu_fields_left_to_the_cuda_backend) {
    char *argv[] = {"inferscope"};
    cJSON *env = is_env_capture(1, argv, 0, "cuda", NULL);
    cr_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(env, "gpu")));
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(env, "gpu_unavailable"));
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(env, "backend")->valuestring, "cuda");
    cr_assert_eq(cJSON_GetObjectItemCaseSensitive(env, "threads")->valuedouble, 0);
    cJSON_Delete(env);
}

Test(env, command_is_shell_quoted) {
    char *argv[] = {"./inferscope", "bench", "--prompt", "a b", "it's", "x=1,y+2:z/w_v.-", "", "$HOME"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    cJSON *env = is_env_capture(argc, argv, 2, "cpu", "none");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(env, "command")->valuestring,
                     "./inferscope bench --prompt 'a b' 'it'\\''s' x=1,y+2:z/w_v.- '' '$HOME'");

    const cJSON *args = cJSON_GetObjectItemCaseSensitive(env, "argv");
    cr_assert_eq(cJSON_GetArraySize(args), argc);
    for (int i = 0; i < argc; i++) {
        const cJSON *a = cJSON_GetArrayItem(args, i);
        cr_assert(cJSON_IsString(a), "argv[%d] is a string", i);
        cr_assert_str_eq(a->valuestring, argv[i], "argv[%d]", i);
    }
    cJSON_Delete(env);
}

Test(env, empty_argv) {
    cJSON *env = is_env_capture(0, NULL, 1, "cpu", "none");
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(env, "command")->valuestring, "");
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(env, "argv")), 0);
    cJSON_Delete(env);
}

// ---- how busy the machine was -----------------------------------------------------

Test(env_noise, parsers) {
    double la[3];
    cr_assert_eq(is_env_parse_loadavg("0.52 1.10 2.75 3/412 99811\n", la), 0);
    cr_assert_float_eq(la[0], 0.52, 1e-12);
    cr_assert_float_eq(la[1], 1.10, 1e-12);
    cr_assert_float_eq(la[2], 2.75, 1e-12);
    cr_assert_eq(is_env_parse_loadavg("0.52 1.10\n", la), -1);
    cr_assert_eq(is_env_parse_loadavg(NULL, la), -1);

    unsigned long long steal, total;
    int running;
    const char *stat = "cpu  100 2 30 800 5 1 2 60 7 0\ncpu0 50 1 15 400 2 0 1 30 3 0\n"
                       "intr 1 2 3\nctxt 12345\nprocs_running 3\nprocs_blocked 0\n";
    cr_assert_eq(is_env_parse_stat(stat, &steal, &total, &running), 0);
    cr_assert_eq(steal, 60);
    cr_assert_eq(total, 100 + 2 + 30 + 800 + 5 + 1 + 2 + 60, "guest time is inside user time: not added");
    cr_assert_eq(running, 3);
    cr_assert_eq(is_env_parse_stat("cpu  1 2 3 4 5 6 7 8\n", &steal, &total, &running), 0);
    cr_assert_eq(running, -1);
    cr_assert_eq(is_env_parse_stat("cpu  1 2 3\n", &steal, &total, &running), -1, "a kernel without steal");

    double mhz;
    cr_assert_eq(is_env_parse_cpuinfo_mhz("processor\t: 0\ncpu MHz\t\t: 2000.000\nprocessor\t: 1\n"
                                          "cpu MHz\t\t: 3000.500\n", &mhz), 0);
    cr_assert_float_eq(mhz, 2500.25, 1e-9);
    cr_assert_eq(is_env_parse_cpuinfo_mhz("processor\t: 0\nmodel name\t: x\n", &mhz), -1);
}

// On this machine: the before fields, then the after fields, in their ranges.
Test(env_noise, begin_and_end) {
    cJSON *env = cJSON_CreateObject();
    is_env_noise_mark mark;
    is_env_noise_begin(env, &mark);
    const cJSON *noise = cJSON_GetObjectItemCaseSensitive(env, "noise");
    cr_assert(cJSON_IsObject(noise));
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(noise, "loadavg_before");
    cr_assert(cJSON_IsArray(la) && cJSON_GetArraySize(la) == 3, "Linux has /proc/loadavg");
    cr_assert_null(cJSON_GetObjectItemCaseSensitive(noise, "loadavg_after"));
    volatile double x = 0;
    for (int i = 0; i < 20000000; i++) x += i; // some CPU time between the two
    cr_assert_gt(x, 0);
    is_env_noise_end(env, &mark);
    is_env_noise_end(env, &mark); // again, after another point: replaced, not added
    cr_assert_eq(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(noise, "loadavg_after")), 3);
    const cJSON *steal = cJSON_GetObjectItemCaseSensitive(noise, "steal_pct");
    cr_assert(cJSON_IsNumber(steal) && steal->valuedouble >= 0 && steal->valuedouble <= 100);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(noise, "seconds");
    cr_assert(cJSON_IsNumber(sec) && sec->valuedouble >= 0 && sec->valuedouble < 60);
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(noise, "running_after");
    cr_assert(cJSON_IsNumber(run) && run->valuedouble >= 1, "this process runs");
    int n = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, noise) n += strcmp(f->string, "steal_pct") == 0;
    cr_assert_eq(n, 1);
    cJSON_Delete(env);
}
