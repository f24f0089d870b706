// nocupti.c — CUPTI in a build without CUDA: every call says so.
#include <stdio.h>
#include <string.h>

#include "profiles/cupti.h"

static const char no_cuda[] = "this build has no CUDA (configured without nvcc)";

int is_prof_dram_metrics_resolve(const char *chip, is_prof_dram_metrics *out, is_err *err) {
    (void)chip, (void)out;
    return is_errf(err, "CUPTI unavailable: %s", no_cuda);
}

const char *is_prof_cupti_path(void) { return ""; }

void *is_prof_cupti_lib(char *why, size_t why_len) {
    snprintf(why, why_len, "%s", no_cuda);
    return NULL;
}

void *is_prof_cupti_sym(const char *name, char *why, size_t why_len) {
    (void)name;
    return is_prof_cupti_lib(why, why_len);
}

int is_prof_activity_start(char *why, size_t why_len) { return is_prof_cupti_lib(why, why_len) ? 0 : -1; }

int is_prof_activity_stop(struct is_prof_activity *out, char *why, size_t why_len) {
    (void)out;
    return is_prof_cupti_lib(why, why_len) ? 0 : -1;
}

int is_prof_dram_collect(int device, int (*work)(void *user, is_err *err), void *user, size_t max_ranges,
                         is_prof_dram_result *out, is_err *err) {
    (void)device, (void)work, (void)user, (void)max_ranges;
    memset(out, 0, sizeof *out);
    return is_errf(err, "CUPTI unavailable: %s", no_cuda);
}
