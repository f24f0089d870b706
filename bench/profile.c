// profile.c — see profile.h. The kernel table's repetition and the counter pass
// run the same is_generate call as a timed repetition, after the timed ones.
#include "bench/profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiles/capture.h" // defines: is_prof_capture_begin, is_prof_capture_copy_since
#include "profiles/cupti.h"   // defines: is_prof_activity_start, is_prof_dram_collect
#include "base/nvtx.h"    // defines: is_prof_push, is_prof_pop
#include "reports/text.h"     // defines: is_json_get, is_json_num

void is_bench_prof_check(is_bench_prof *bp, const is_backend *be, const char *why_cuda) {
    char why[512] = "", *targets[2] = {bp->tables_why, bp->counters_why};
    // no library: the reason as loading gives it ("this build has no CUDA", "cannot load CUPTI: ...")
    if (is_prof_cupti_lib(why, sizeof why) && strcmp(be->name, "cuda"))
        snprintf(why, sizeof why, "backend is %s%s%s%s", be->name, why_cuda && *why_cuda ? " (" : "",
                 why_cuda && *why_cuda ? why_cuda : "", why_cuda && *why_cuda ? ")" : "");
    for (int k = 0; k < 2; k++) {
        targets[k][0] = 0;
        if (*why) snprintf(targets[k], sizeof bp->tables_why, "CUPTI unavailable: %s", why);
        else if (is_prof_level < 1) // no phase range to attribute to, nor to count in
            snprintf(targets[k], sizeof bp->tables_why, "--nvtx-level 0: no phase ranges");
    }
    if (!bp->tables) snprintf(bp->tables_why, sizeof bp->tables_why, "off (--no-kernel-table)");
    // attach the NVTX capture (recording off until a table is collected) only
    // when CUPTI will be used: attached, every range costs a clock read
    if ((*bp->tables_why && (!bp->counters || *bp->counters_why)) || is_prof_capture_active()) return;
    char cwhy[512];
    if (is_prof_capture_begin(cwhy, sizeof cwhy) == 0) {
        is_prof_capture_end();
        return;
    }
    for (int k = 0; k < 2; k++)
        if (!*targets[k]) snprintf(targets[k], sizeof bp->tables_why, "host ranges cannot be captured: %s", cwhy);
}

static int run_rep(const is_bench_work *w, is_err *err) {
    is_gen_result res;
    is_prof_push(IS_PROF_REQUEST, (uint64_t)w->batch);
    int rc = is_generate(w->s, w->batch, (const int32_t *const *)w->prompts, w->lens, w->go, NULL, NULL, &res, err);
    is_prof_pop(IS_PROF_REQUEST);
    if (!rc) is_gen_result_free(&res);
    return rc;
}

static cJSON *section(const char *status, const char *reason) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "status", status);
    if (reason) cJSON_AddStringToObject(o, "reason", reason);
    return o;
}

// ---- the kernel table -------------------------------------------------------------------

static cJSON *kernel_table(is_bench_prof *bp, is_backend *be, const is_bench_work *w) {
    if (*bp->tables_why)
        return section(bp->tables ? "unavailable" : "off", bp->tables_why);
    char why[512], msg[1200];
    bool own = !is_prof_capture_active(); // --trace records already: leave its store as it is
    int64_t since = is_prof_now_ns();
    if (own && is_prof_capture_begin(why, sizeof why)) {
        snprintf(msg, sizeof msg, "host ranges cannot be captured: %s", why);
        return section("unavailable", msg);
    }
    if (is_prof_activity_start(why, sizeof why)) {
        if (own) is_prof_capture_end();
        snprintf(msg, sizeof msg, "CUPTI unavailable: %s", why);
        return section("unavailable", msg);
    }
    is_err err = {{0}};
    int rc = run_rep(w, &err);
    is_err serr = {{0}};
    if (be->sync && be->sync(be, &serr) && !rc) {
        rc = -1;
        err = serr;
    }
    is_prof_activity act;
    int src = is_prof_activity_stop(&act, why, sizeof why);
    if (own) is_prof_capture_end();
    is_prof_capture host;
    is_prof_capture_copy_since(since, &host);
    if (own) { // recorded for this table alone: dropped from the store
        is_prof_capture all;
        is_prof_capture_take(&all);
        is_prof_capture_free(&all);
    }
    cJSON *o;
    if (rc) {
        snprintf(msg, sizeof msg, "the repetition failed: %s", err.msg);
        o = section("error", msg);
    } else if (src) {
        snprintf(msg, sizeof msg, "CUPTI activity: %s", why);
        o = section("error", msg);
    } else {
        is_prof_kernel_tables t;
        is_prof_kernel_tables_build(&act, &host, &t);
        o = is_prof_kernel_tables_json(&t);
        cJSON_AddItemToObjectCS(o, "status", cJSON_CreateString("ok"));
        cJSON_AddStringToObject(o, "collected", "one extra untimed repetition after the timed ones: activity "
                                                "recording never runs inside the timed repetitions");
        cJSON_AddStringToObject(o, "cupti_library", is_prof_cupti_path());
        is_prof_kernel_tables_free(&t);
        if (bp->keep_device)
            for (size_t i = 0; i < act.n_dev; i++) is_prof_activity_add_dev(&bp->trace_dev, &act.dev[i]);
    }
    is_prof_activity_free(&act);
    is_prof_capture_free(&host);
    return o;
}

// ---- the counter pass ----------------------------------------------------------------------

static int counter_work(void *user, is_err *err) { return run_rep(user, err); }

static cJSON *counter_phase(const char *phase, const is_prof_dram_result *r, double model_bytes, double median_ms) {
    double rd = 0, wr = 0;
    long n = 0;
    for (size_t i = 0; i < r->n_ranges; i++) {
        const char *nm = r->ranges[i].name, *slash = strrchr(nm, '/');
        if (strcmp(slash ? slash + 1 : nm, phase)) continue;
        rd += r->ranges[i].read_bytes;
        wr += r->ranges[i].write_bytes;
        n++;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "phase", phase);
    cJSON_AddNumberToObject(o, "ranges", (double)n);
    if (n == 0) return o;
    double bytes = (rd + wr) / (double)n;
    cJSON_AddNumberToObject(o, "read_bytes", rd / (double)n);
    cJSON_AddNumberToObject(o, "write_bytes", wr / (double)n);
    cJSON_AddNumberToObject(o, "bytes", bytes);
    cJSON_AddNumberToObject(o, "model_bytes", model_bytes);
    if (model_bytes > 0) cJSON_AddNumberToObject(o, "ratio", bytes / model_bytes);
    if (isfinite(median_ms) && median_ms > 0) {
        cJSON_AddNumberToObject(o, "median_ms", median_ms);
        cJSON_AddNumberToObject(o, "gbs", bytes / (median_ms / 1e3) / 1e9);
    }
    return o;
}

static cJSON *counters(is_bench_prof *bp, const is_bench_work *w, const cJSON *point) {
    if (*bp->counters_why) return section("unavailable", bp->counters_why);
    is_prof_dram_result r;
    is_err err = {{0}};
    size_t max_ranges = (size_t)w->gen + 8; // one prefill, gen - 1 decode steps, and room
    if (is_prof_dram_collect(bp->device, counter_work, (void *)w, max_ranges, &r, &err)) {
        bool unavailable = strstr(err.msg, "unavailable") != NULL;
        return section(unavailable ? "unavailable" : "error", err.msg);
    }
    cJSON *o = section("ok", NULL);
    cJSON_AddStringToObject(o, "chip", r.metrics.chip);
    cJSON_AddStringToObject(o, "read_metric", r.metrics.read);
    cJSON_AddStringToObject(o, "write_metric", r.metrics.write);
    cJSON_AddNumberToObject(o, "passes", (double)r.metrics.passes);
    cJSON_AddNumberToObject(o, "dropped_ranges", (double)r.dropped_ranges);
    cJSON_AddStringToObject(o, "collected", "a pass of its own after the timed repetitions (counter collection "
                                            "replays work)");
    cJSON_AddStringToObject(o, "cupti_library", is_prof_cupti_path());
    const cJSON *stats = is_json_get(point, "stats");
    double prefill_ms = is_json_num(is_json_get(stats, "prefill_ms"), "median");
    double decode_ms = is_json_num(is_json_get(stats, "decode_ms"), "median");
    const is_cost *c = w->cost;
    // a prefill reads every weight once, writes the prompt's KV and reads the context's
    double prefill_model = c->weight_bytes + (double)w->batch * (w->prompt + w->depth) * c->kv_bytes_per_token;
    double step_ms = c->decode_steps > 0 ? decode_ms / c->decode_steps : NAN;
    cJSON *phases = cJSON_AddArrayToObject(o, "phases");
    cJSON_AddItemToArray(phases, counter_phase("prefill", &r, prefill_model, prefill_ms));
    if (c->decode_steps > 0)
        cJSON_AddItemToArray(phases, counter_phase("decode_step", &r, c->decode_bytes_per_step, step_ms));
    free(r.ranges);
    return o;
}

void is_bench_prof_point(is_bench_prof *bp, is_backend *be, const is_bench_work *w, cJSON *point) {
    cJSON_AddItemToObject(point, "kernel_table", kernel_table(bp, be, w));
    if (bp->counters) cJSON_AddItemToObject(point, "counters", counters(bp, w, point));
}

bool is_bench_prof_timed_begin(is_bench_prof *bp) {
    char why[512];
    if (*bp->tables_why) {
        fprintf(stderr, "bench: --activity-in-timed-reps: %s\n", bp->tables_why);
        return false;
    }
    if (is_prof_activity_start(why, sizeof why)) {
        fprintf(stderr, "bench: --activity-in-timed-reps: CUPTI unavailable: %s\n", why);
        return false;
    }
    return true;
}

void is_bench_prof_timed_end(is_bench_prof *bp, is_backend *be, cJSON *point) {
    (void)bp;
    is_err err;
    if (be->sync) be->sync(be, &err); // a device error shows in the point's next call
    is_prof_activity act;
    char why[512];
    if (is_prof_activity_stop(&act, why, sizeof why)) fprintf(stderr, "bench: CUPTI activity: %s\n", why);
    else if (point) {
        cJSON_AddBoolToObject(point, "activity_in_timed_reps", true);
        cJSON_AddNumberToObject(point, "activity_records", (double)act.n_dev);
    }
    is_prof_activity_free(&act);
}

void is_bench_prof_free(is_bench_prof *bp) { is_prof_activity_free(&bp->trace_dev); }
