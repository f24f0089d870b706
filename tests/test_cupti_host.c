// test_cupti_host.c — the host side of the CUPTI range profiler, which needs no
// GPU: the DRAM byte counters resolve for GH100, AD102 and GB100 (and GB202,
// which names them differently), the configuration image builds, an unknown chip
// is a clear error; `profile --list-metrics` prints them. Where CUPTI cannot be
// loaded (a build without CUDA) each test is reported as skipped, with the reason.
// Activity recording and the counter pass, with no device, fail with a reason.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cuda/cuda_probe.h"
#include "profiles/cupti.h"
#include "profiles/kernel_table.h"
#include "support/testutil.h"

static void need_cupti(void) {
    char why[512];
    if (!is_prof_cupti_lib(why, sizeof why)) {
        char r[600];
        snprintf(r, sizeof r, "CUPTI unavailable: %s", why);
        tu_need_gpu(r);
    }
}

static void check_chip(const char *chip) {
    need_cupti();
    is_prof_dram_metrics m;
    is_err err = {{0}};
    cr_assert_eq(is_prof_dram_metrics_resolve(chip, &m, &err), 0, "%s: %s", chip, err.msg);
    cr_assert_str_eq(m.chip, chip);
    cr_assert(strstr(m.read, "dram") && strstr(m.read, "read"), "%s read counter: %s", chip, m.read);
    cr_assert(strstr(m.write, "dram") && strstr(m.write, "write"), "%s write counter: %s", chip, m.write);
    size_t lr = strlen(m.read), lw = strlen(m.write);
    cr_assert(lr > 4 && !strcmp(m.read + lr - 4, ".sum"), "summed over units: %s", m.read);
    cr_assert(lw > 4 && !strcmp(m.write + lw - 4, ".sum"), "summed over units: %s", m.write);
    cr_assert_gt(m.config_image_bytes, 0, "%s: empty configuration image", chip);
    cr_assert_geq(m.passes, 1);
}

Test(cupti_host, gh100_resolves_and_configures) {
    check_chip("GH100");
    is_prof_dram_metrics m;
    is_err err;
    cr_assert_eq(is_prof_dram_metrics_resolve("GH100", &m, &err), 0);
    cr_assert_str_eq(m.read, "dram__bytes_read.sum");
    cr_assert_str_eq(m.write, "dram__bytes_write.sum");
}

Test(cupti_host, ad102_resolves_and_configures) { check_chip("AD102"); }

Test(cupti_host, gb100_resolves_and_configures) { check_chip("GB100"); }

Test(cupti_host, names_differ_by_chip) {
    check_chip("GB202");
    is_prof_dram_metrics a, b;
    is_err err;
    cr_assert_eq(is_prof_dram_metrics_resolve("GB202", &a, &err), 0, "%s", err.msg);
    cr_assert_eq(is_prof_dram_metrics_resolve("GH100", &b, &err), 0, "%s", err.msg);
    cr_assert_str_neq(a.read, b.read, "GB202 has no dram__bytes_read; another counter must be chosen");
}

Test(cupti_host, unknown_chip_is_an_error_naming_it) {
    need_cupti();
    is_prof_dram_metrics m;
    is_err err = {{0}};
    cr_assert_eq(is_prof_dram_metrics_resolve("XY999", &m, &err), -1);
    cr_assert(strstr(err.msg, "XY999"), "%s", err.msg);
}

Test(cupti_host, profile_list_metrics_command) {
    need_cupti();
    const char *ok[] = {"profile", "--list-metrics", "--chip", "AD102", NULL};
    tu_run r = tu_run_cli(ok);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "chip AD102") && strstr(r.out, "dram read") && strstr(r.out, "config image"), "%s", r.out);
    tu_run_free(&r);
    const char *bad[] = {"profile", "--list-metrics", "--chip", "XY999", NULL};
    r = tu_run_cli(bad);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "XY999"), "%s", r.err);
    tu_run_free(&r);
    const char *usage[] = {"profile", "--list-metrics", NULL};
    r = tu_run_cli(usage);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--chip"), "%s", r.err);
    tu_run_free(&r);
}

// ---- activity and counters with no device ------------------------------------------------

static int no_work(void *user, is_err *err) {
    (void)user, (void)err;
    return 0;
}

Test(cupti_host, activity_and_counters_give_a_reason_where_they_cannot_run) {
    char probe[512], why[512] = "";
    bool device = is_cuda_probe(probe, sizeof probe) > 0;
    is_prof_activity a;
    int rc = is_prof_activity_start(why, sizeof why);
    if (device) { // a device: recording starts and stops (test_cuda_profile checks what it records)
        cr_assert_eq(rc, 0, "%s", why);
        cr_assert_eq(is_prof_activity_stop(&a, why, sizeof why), 0, "%s", why);
        is_prof_activity_free(&a);
        return;
    }
    // no device (or no CUDA in this build): a reason, never a crash
    cr_assert_eq(rc, -1, "activity started with no device (%s)", probe);
    cr_assert(why[0], "no reason given");
    why[0] = 0;
    cr_assert_eq(is_prof_activity_stop(&a, why, sizeof why), -1, "stopped what never started");
    cr_assert(why[0]);
    is_prof_dram_result r;
    is_err err = {{0}};
    cr_assert_eq(is_prof_dram_collect(0, no_work, NULL, 8, &r, &err), -1);
    cr_assert(strstr(err.msg, "unavailable"), "the counters say they are unavailable: %s", err.msg);
    cr_assert_null(r.ranges);
}
