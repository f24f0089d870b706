// test_cuda_profile.c — `inferscope profile` on a real device: the kernel table
// holds records of every op family the forward launches, each phase's kernel
// time fits in its wall time (one stream, and every phase range ends with a
// sync), and a decode step's measured DRAM bytes are within a factor of two of
// the analytic model's count (bench/costmodel.h). Without a CUDA device, or where
// CUPTI cannot be used on it (no permission), every test here skips and says why.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_probe.h"
#include "reports/results.h"
#include "support/testutil.h"

static char dir[256], out[512], trace[512];
static cJSON *doc;
static char why[1200];

// One profile run shared by the tests: a model big enough that a decode step's
// bytes are dominated by weights and KV, not by launch overheads.
static void setup(void) {
    char probe[512];
    doc = NULL;
    if (is_cuda_probe(probe, sizeof probe) <= 0) {
        snprintf(why, sizeof why, "no CUDA device here: %s", probe);
        return;
    }
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(trace, sizeof trace, "%s/trace.json", dir);
    const char *args[] = {"profile", "--model", "preset:qwen2.5-0.5b", "--backend", "cuda", "-p", "128",
                          "--gen-len", "16", "-r", "3", "--no-probe", "--trace", trace, "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    if (r.status != 0) {
        snprintf(why, sizeof why, "profile failed (%d): %.1000s", r.status, r.err);
        tu_run_free(&r);
        return;
    }
    tu_run_free(&r);
    char path[600];
    snprintf(path, sizeof path, "%s/results.json", out);
    is_err err = {{0}};
    if (is_results_load(path, &doc, &err)) snprintf(why, sizeof why, "results.json: %s", err.msg);
}

static void teardown(void) {
    cJSON_Delete(doc);
    if (dir[0]) tu_rm_rf(dir);
}

TestSuite(cuda_profile, .init = setup, .fini = teardown);

// The point's section, or a skip when it was not collected (no GPU, no permission).
static const cJSON *section(const char *key) {
    if (!doc) {
        if (strstr(why, "no CUDA device")) tu_need_gpu(why);
        cr_assert_fail("%s", why); // a device is there but the run failed
    }
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "points"), 0);
    const cJSON *s = cJSON_GetObjectItem(p, key);
    const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(s, "status"));
    cr_assert(st, "no %s section", key);
    if (!strcmp(st, "unavailable")) {
        char r[1200];
        snprintf(r, sizeof r, "%s: %s", key, cJSON_GetStringValue(cJSON_GetObjectItem(s, "reason")));
        tu_need_gpu(r);
    }
    cr_assert_str_eq(st, "ok", "%s: %s", key, cJSON_GetStringValue(cJSON_GetObjectItem(s, "reason")));
    return s;
}

static bool has_kernel(const cJSON *kt, const char *const *subs) {
    const cJSON *ph, *k;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItem(kt, "phases")) {
        cJSON_ArrayForEach(k, cJSON_GetObjectItem(ph, "kernels")) {
            const char *n = cJSON_GetStringValue(cJSON_GetObjectItem(k, "name"));
            for (int i = 0; n && subs[i]; i++)
                if (strstr(n, subs[i])) return true;
        }
    }
    return false;
}

Test(cuda_profile, every_op_family_has_kernel_records) {
    const cJSON *kt = section("kernel_table");
    const char *lib = cJSON_GetStringValue(cJSON_GetObjectItem(kt, "cupti_library"));
    cr_assert(lib && strstr(lib, "libcupti"), "the CUPTI library that recorded is named: %s", lib ? lib : "(none)");
    // cuBLAS names its own kernels: gemm/gemv, xmma and cutlass ones, and on Hopper
    // recent cuBLAS releases name theirs nvjet_*
    static const char *const families[][6] = {
        {"embed", NULL}, {"rmsnorm", NULL}, {"rope", NULL}, {"kv_store", NULL}, {"attn", NULL},
        {"swiglu", NULL}, {"gemm", "gemv", "xmma", "cutlass", "nvjet", NULL},
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        cr_assert(has_kernel(kt, families[f]), "no kernel of the %s family in the table", families[f][0]);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(kt, "dropped_records")), 0, "CUPTI dropped records");
}

Test(cuda_profile, kernel_time_of_each_phase_fits_its_wall_time) {
    const cJSON *kt = section("kernel_table");
    const cJSON *ph;
    int phases = 0;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItem(kt, "phases")) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(ph, "phase"));
        double wall = cJSON_GetNumberValue(cJSON_GetObjectItem(ph, "wall_ms"));
        double kern = cJSON_GetNumberValue(cJSON_GetObjectItem(ph, "kernel_ms"));
        if (!strcmp(name, "(outside any range)")) continue;
        cr_assert_leq(kern, wall, "%s: kernel time %.4f ms over its wall time %.4f ms", name, kern, wall);
        phases++;
    }
    cr_assert_geq(phases, 2, "prefill and decode_step at least");
}

Test(cuda_profile, decode_step_dram_bytes_near_the_model) {
    const cJSON *ct = section("counters");
    const cJSON *ph;
    bool seen = false;
    cJSON_ArrayForEach(ph, cJSON_GetObjectItem(ct, "phases")) {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(ph, "phase")), "decode_step")) continue;
        double ratio = cJSON_GetNumberValue(cJSON_GetObjectItem(ph, "ratio"));
        // the model counts weights and KV once per step; caches and activations
        // move it either way, but not by more than a factor of two
        cr_assert(ratio >= 0.5 && ratio <= 2, "decode step: measured / model bytes %.3f", ratio);
        seen = true;
    }
    cr_assert(seen, "no decode_step counters");
}

Test(cuda_profile, trace_has_device_tracks) {
    section("kernel_table");
    size_t len;
    char *text = tu_read_file(trace, &len);
    cr_assert(text, "no trace written");
    cr_assert(strstr(text, "CUDA device") && strstr(text, "\"launched_in\""), "no device track in the trace");
    free(text);
}
