// test_kernel_table.c — CUPTI's records turned into kernel tables, on synthetic
// records (no CUPTI, no GPU): attribution of each device record, through the API
// call with its correlation id, to the innermost range and the outermost phase
// on the launching thread at the launch time; kernels of one graph launch
// sharing its id; records with no API record or no phase counted and tabled as
// "(outside any range)"; calls, totals, means, maxima, shares, busy time and the
// sort orders; the dropped count carried through; kernel names out of mangled
// symbols. A randomized case checks attribution against a brute-force search and
// that a phase's kernel time never exceeds its wall time on one stream. The
// tables and the counters as report.md shows them.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profiles/kernel_table.h"
#include "base/nvtx.h"
#include "reports/results.h"

// ---- building synthetic captures -------------------------------------------------------

static void add_range(is_prof_capture *c, uint64_t tid, const char *name, is_prof_category cat, int depth,
                      int64_t t0, int64_t t1) {
    c->events = realloc(c->events, (c->n + 1) * sizeof *c->events);
    c->events[c->n++] = (is_prof_event){.name = name, .domain = "inferscope", .category = (uint32_t)cat,
                                        .tid = tid, .depth = depth, .t0_ns = t0, .t1_ns = t1};
}

static void add_api(is_prof_activity *a, uint32_t corr, uint64_t tid, int64_t t) {
    is_prof_api_record r = {.correlation = corr, .tid = tid, .t0_ns = t, .t1_ns = t + 2};
    is_prof_activity_add_api(a, &r);
}

static void add_kernel(is_prof_activity *a, const char *name, is_prof_device_kind kind, uint32_t stream,
                       uint32_t corr, int64_t t0, int64_t t1) {
    is_prof_device_event e = {.name = (char *)name, .kind = kind, .stream = stream, .t0_ns = t0, .t1_ns = t1,
                              .correlation = corr};
    is_prof_activity_add_dev(a, &e);
}

static const is_prof_phase_table *find_phase(const is_prof_kernel_tables *t, const char *name) {
    for (size_t i = 0; i < t->n_phases; i++)
        if (!strcmp(t->phases[i].phase, name)) return &t->phases[i];
    return NULL;
}

static const is_prof_kernel_row *find_row(const is_prof_phase_table *p, const char *name) {
    for (size_t i = 0; i < p->n_rows; i++)
        if (!strcmp(p->rows[i].name, name)) return &p->rows[i];
    return NULL;
}

// Thread 100: request [0, 1000] > prefill [10, 300] > layer [20, 150] > matmul [30, 60];
// decode_step [400, 600], sample [610, 650], decode_step [700, 900], all under request.
// Thread 200: a prefill [0, 500] of its own, overlapping thread 100's in time.
static void scenario(is_prof_capture *host, is_prof_activity *a) {
    memset(host, 0, sizeof *host);
    memset(a, 0, sizeof *a);
    add_range(host, 100, "matmul", IS_PROF_CAT_OP, 3, 30, 60); // completion order: children first
    add_range(host, 100, "layer", IS_PROF_CAT_LAYER, 2, 20, 150);
    add_range(host, 100, "prefill", IS_PROF_CAT_PREFILL, 1, 10, 300);
    add_range(host, 100, "decode_step", IS_PROF_CAT_DECODE, 1, 400, 600);
    add_range(host, 100, "sample", IS_PROF_CAT_SAMPLE, 1, 610, 650);
    add_range(host, 100, "decode_step", IS_PROF_CAT_DECODE, 1, 700, 900);
    add_range(host, 100, "request", IS_PROF_CAT_REQUEST, 0, 0, 1000);
    add_range(host, 200, "prefill", IS_PROF_CAT_PREFILL, 0, 0, 500);
    add_api(a, 1, 100, 35);  // inside matmul
    add_api(a, 2, 100, 100); // inside layer, after matmul ended
    add_api(a, 3, 100, 410); // a graph launch in the first decode step
    add_api(a, 4, 100, 620); // sample
    add_api(a, 5, 100, 950); // inside request, outside every phase
    add_api(a, 6, 200, 410); // thread 200's prefill, at the time of thread 100's decode step
    add_api(a, 2, 100, 100); // a driver record under the runtime call: same id, same moment
    add_kernel(a, "gemm", IS_PROF_DEV_KERNEL, 7, 1, 40, 140);
    add_kernel(a, "gemm", IS_PROF_DEV_KERNEL, 7, 2, 150, 250);
    add_kernel(a, "rmsnorm", IS_PROF_DEV_KERNEL, 7, 2, 250, 270);
    add_kernel(a, "attn", IS_PROF_DEV_KERNEL, 7, 3, 420, 470); // three kernels replayed from one graph
    add_kernel(a, "gemm", IS_PROF_DEV_KERNEL, 7, 3, 470, 570);
    add_kernel(a, "rmsnorm", IS_PROF_DEV_KERNEL, 7, 3, 570, 580);
    add_kernel(a, "memcpy DtoH", IS_PROF_DEV_MEMCPY, 7, 4, 625, 630);
    add_kernel(a, "gemm", IS_PROF_DEV_KERNEL, 7, 5, 955, 965);
    add_kernel(a, "gemm", IS_PROF_DEV_KERNEL, 9, 6, 100, 400); // another stream, overlapping stream 7
    add_kernel(a, "stray", IS_PROF_DEV_KERNEL, 7, 99, 990, 995); // no API record with id 99
    a->dropped = 7;
}

// The scenario's tables; free with scenario_free.
static void scenario_tables(is_prof_capture *host, is_prof_activity *a, is_prof_kernel_tables *t) {
    scenario(host, a);
    is_prof_kernel_tables_build(a, host, t);
}

static void scenario_free(is_prof_capture *host, is_prof_activity *a, is_prof_kernel_tables *t) {
    is_prof_kernel_tables_free(t);
    is_prof_activity_free(a);
    free(host->events);
}

Test(kernel_table, attribution_innermost_range_and_outermost_phase) {
    is_prof_capture host;
    is_prof_activity a;
    scenario(&host, &a);
    size_t no_api = 0, outside = 0;
    is_prof_attribute(&a, &host, &no_api, &outside);
    static const char *const range[] = {"matmul", "layer", "layer", "decode_step", "decode_step", "decode_step",
                                        "sample", "request", "prefill", NULL};
    static const char *const phase[] = {"prefill", "prefill", "prefill", "decode_step", "decode_step",
                                        "decode_step", "sample", NULL, "prefill", NULL};
    for (size_t i = 0; i < a.n_dev; i++) {
        const is_prof_device_event *d = &a.dev[i];
        if (range[i]) cr_assert(d->range && !strcmp(d->range, range[i]), "record %zu (%s): range %s, expected %s", i,
                                d->name, d->range ? d->range : "none", range[i]);
        else cr_assert_null(d->range, "record %zu: range %s, expected none", i, d->range);
        if (phase[i]) cr_assert(d->phase && !strcmp(d->phase, phase[i]), "record %zu (%s): phase %s, expected %s", i,
                                d->name, d->phase ? d->phase : "none", phase[i]);
        else cr_assert_null(d->phase, "record %zu: phase %s, expected none", i, d->phase);
    }
    cr_assert_eq(no_api, 1, "the record with id 99");
    cr_assert_eq(outside, 1, "the record launched under request alone");
    is_prof_activity_free(&a);
    free(host.events);
}

Test(kernel_table, per_phase_totals_means_maxima_shares_and_order) {
    is_prof_capture host;
    is_prof_activity a;
    is_prof_kernel_tables t;
    scenario_tables(&host, &a, &t);
    cr_assert_eq(t.records, 10);
    cr_assert_eq(t.dropped, 7, "the dropped count is carried to the tables");
    cr_assert_eq(t.no_api, 1);
    cr_assert_eq(t.outside, 1);
    cr_assert_eq(t.n_phases, 4);
    // by kernel time, the outside table last
    cr_assert_str_eq(t.phases[0].phase, "prefill");
    cr_assert_str_eq(t.phases[1].phase, "decode_step");
    cr_assert_str_eq(t.phases[2].phase, "sample");
    cr_assert_str_eq(t.phases[3].phase, IS_PROF_OUTSIDE);

    const is_prof_phase_table *pf = find_phase(&t, "prefill");
    cr_assert_eq(pf->ranges, 2, "thread 100's and thread 200's prefill");
    cr_assert_eq(pf->wall_ns, (300 - 10) + (500 - 0));
    cr_assert_eq(pf->kernel_ns, 100 + 100 + 20 + 300);
    cr_assert_eq(pf->busy_ns, 400 - 40, "the union of [40,140] [150,250] [250,270] [100,400]");
    cr_assert_eq(pf->n_rows, 2);
    cr_assert_str_eq(pf->rows[0].name, "gemm", "sorted by total time");
    cr_assert_eq(pf->rows[0].calls, 3);
    cr_assert_eq(pf->rows[0].total_ns, 500);
    cr_assert_eq(pf->rows[0].max_ns, 300);
    cr_assert_str_eq(pf->rows[1].name, "rmsnorm");
    cr_assert_eq(pf->rows[1].calls, 1);

    const is_prof_phase_table *ds = find_phase(&t, "decode_step");
    cr_assert_eq(ds->ranges, 2);
    cr_assert_eq(ds->wall_ns, 400);
    cr_assert_eq(ds->kernel_ns, 160, "every kernel of the graph launch counts in the decode step");
    cr_assert_eq(ds->busy_ns, 160);
    cr_assert_str_eq(ds->rows[0].name, "gemm");
    cr_assert_str_eq(ds->rows[1].name, "attn");
    cr_assert_str_eq(ds->rows[2].name, "rmsnorm");

    const is_prof_phase_table *sp = find_phase(&t, "sample");
    cr_assert_eq(sp->n_rows, 1);
    cr_assert_eq(sp->rows[0].kind, IS_PROF_DEV_MEMCPY);
    const is_prof_phase_table *out = find_phase(&t, IS_PROF_OUTSIDE);
    cr_assert_eq(out->wall_ns, 0);
    cr_assert_eq(out->kernel_ns, 10 + 5);
    cr_assert(find_row(out, "stray") && find_row(out, "gemm"));
    for (size_t i = 0; i < t.n_phases; i++) {
        const is_prof_phase_table *p = &t.phases[i];
        cr_assert_leq(p->busy_ns, p->kernel_ns, "%s: busy time counts overlaps once", p->phase);
        if (p->wall_ns > 0) cr_assert_leq(p->busy_ns, p->wall_ns, "%s: busy beyond the wall time", p->phase);
    }

    // the JSON form: means and shares from the same numbers
    cJSON *j = is_prof_kernel_tables_json(&t);
    cr_assert_eq(cJSON_GetObjectItem(j, "dropped_records")->valuedouble, 7);
    cr_assert_eq(cJSON_GetObjectItem(j, "outside_ranges")->valuedouble, 1);
    cJSON *phases = cJSON_GetObjectItem(j, "phases");
    cJSON *jd = cJSON_GetArrayItem(phases, 1);
    cr_assert_str_eq(cJSON_GetObjectItem(jd, "phase")->valuestring, "decode_step");
    cr_assert_float_eq(cJSON_GetObjectItem(jd, "share")->valuedouble, 160.0 / 400.0, 1e-12);
    cJSON *jp = cJSON_GetArrayItem(phases, 0);
    cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItem(jp, "kernels"), 0);
    cr_assert_float_eq(cJSON_GetObjectItem(g, "mean_ms")->valuedouble, 500.0 / 3 / 1e6, 1e-15);
    cr_assert_float_eq(cJSON_GetObjectItem(g, "max_ms")->valuedouble, 300 / 1e6, 1e-15);
    cr_assert_float_eq(cJSON_GetObjectItem(g, "share")->valuedouble, 500.0 / 790.0, 1e-12);
    cJSON *jo = cJSON_GetArrayItem(phases, 3);
    cr_assert_null(cJSON_GetObjectItem(jo, "share"), "no share without wall time");
    cJSON_Delete(j);
    scenario_free(&host, &a, &t);
}

Test(kernel_table, a_phase_inside_a_phase_counts_for_the_outer_one) {
    // sample [20, 50] opened inside prefill [0, 100]: the launch at 30 is the
    // prefill's (outermost phase), its innermost range the sample; the wall time
    // of the prefill is counted once, the inner sample's not at all
    is_prof_capture host = {0};
    is_prof_activity a = {0};
    add_range(&host, 1, "sample", IS_PROF_CAT_SAMPLE, 1, 20, 50);
    add_range(&host, 1, "prefill", IS_PROF_CAT_PREFILL, 0, 0, 100);
    add_range(&host, 1, "sample", IS_PROF_CAT_SAMPLE, 0, 100, 130); // touches the prefill's end: a sibling
    add_api(&a, 1, 1, 30);
    add_api(&a, 2, 1, 100);
    add_kernel(&a, "k", IS_PROF_DEV_KERNEL, 0, 1, 31, 40);
    add_kernel(&a, "k", IS_PROF_DEV_KERNEL, 0, 2, 101, 111);
    is_prof_kernel_tables t;
    is_prof_kernel_tables_build(&a, &host, &t);
    cr_assert_str_eq(a.dev[0].range, "sample");
    cr_assert_str_eq(a.dev[0].phase, "prefill");
    cr_assert_str_eq(a.dev[1].phase, "sample", "a range starting as another ends is not inside it");
    const is_prof_phase_table *pf = find_phase(&t, "prefill"), *sp = find_phase(&t, "sample");
    cr_assert(pf && sp);
    cr_assert_eq(pf->ranges, 1);
    cr_assert_eq(pf->wall_ns, 100);
    cr_assert_eq(sp->ranges, 1, "the nested sample is part of the prefill");
    cr_assert_eq(sp->wall_ns, 30);
    is_prof_kernel_tables_free(&t);
    is_prof_activity_free(&a);
    free(host.events);
}

Test(kernel_table, no_ranges_at_all_puts_everything_outside) {
    is_prof_activity a = {0};
    add_api(&a, 1, 5, 10);
    add_kernel(&a, "k", IS_PROF_DEV_KERNEL, 0, 1, 20, 30);
    add_kernel(&a, "k", IS_PROF_DEV_KERNEL, 0, 2, 30, 45); // no API record
    is_prof_kernel_tables t;
    is_prof_kernel_tables_build(&a, NULL, &t);
    cr_assert_eq(t.n_phases, 1);
    cr_assert_str_eq(t.phases[0].phase, IS_PROF_OUTSIDE);
    cr_assert_eq(t.phases[0].rows[0].calls, 2);
    cr_assert_eq(t.phases[0].rows[0].total_ns, 25);
    cr_assert_eq(t.no_api, 1);
    cr_assert_eq(t.outside, 1);
    is_prof_kernel_tables_free(&t);
    is_prof_activity_free(&a);
}

// ---- randomized: attribution against a brute-force search ------------------------------------

static uint64_t rs = 0x1234567;
static int64_t rnd(int64_t n) { // [0, n)
    rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
    return (int64_t)((rs >> 33) % (uint64_t)n);
}

// The innermost range (greatest depth) and the outermost phase (least depth)
// open on tid at t, by looking at every range.
static void brute(const is_prof_capture *c, uint64_t tid, int64_t t, const char **range, const char **phase) {
    int best = -1, best_phase = 1 << 30;
    *range = *phase = NULL;
    for (size_t i = 0; i < c->n; i++) {
        const is_prof_event *e = &c->events[i];
        if (e->tid != tid || t < e->t0_ns || t > e->t1_ns) continue;
        if (e->depth > best) best = e->depth, *range = e->name;
        bool ph = e->category == IS_PROF_CAT_PREFILL || e->category == IS_PROF_CAT_DECODE ||
                  e->category == IS_PROF_CAT_SAMPLE || e->category == IS_PROF_CAT_TOKENIZER;
        if (ph && e->depth < best_phase) best_phase = e->depth, *phase = e->name;
    }
}

Test(kernel_table, random_nesting_matches_brute_force_and_kernel_time_fits_the_wall) {
    static const char *const phases[] = {"prefill", "decode_step", "sample"};
    static const is_prof_category cats[] = {IS_PROF_CAT_PREFILL, IS_PROF_CAT_DECODE, IS_PROF_CAT_SAMPLE};
    static const char *const kernels[] = {"gemm", "attn", "rmsnorm", "rope"};
    is_prof_capture host = {0};
    is_prof_activity a = {0};
    uint32_t corr = 1;
    int64_t want_wall[3] = {0};
    long want_ranges[3] = {0};
    for (uint64_t tid = 1; tid <= 3; tid++) { // three threads, each on a stream of its own
        int64_t t = rnd(50);
        add_range(&host, tid, "request", IS_PROF_CAT_REQUEST, 0, 0, 0); // bounds set below
        size_t req = host.n - 1;
        for (int r = 0; r < 40; r++) {
            int k = (int)rnd(3);
            int64_t p0 = t, p1 = t + 200 + rnd(400);
            add_range(&host, tid, phases[k], cats[k], 1, p0, p1);
            want_wall[k] += p1 - p0;
            want_ranges[k]++;
            // layers inside, with ops inside; launches at random moments of an op or
            // a layer, kernels one after another on the stream, done by the phase's end
            int64_t dev_t = p0, lt = p0 + 1;
            while (lt + 40 < p1) {
                int64_t l0 = lt, l1 = lt + 20 + rnd(20);
                add_range(&host, tid, "layer", IS_PROF_CAT_LAYER, 2, l0, l1);
                if (rnd(2)) add_range(&host, tid, "matmul", IS_PROF_CAT_OP, 3, l0 + 2, l0 + 10);
                int64_t launch = l0 + 1 + rnd(l1 - l0 - 1);
                add_api(&a, corr, tid, launch);
                int n_k = 1 + (int)rnd(3); // up to three kernels per launch, as a graph replays
                for (int q = 0; q < n_k; q++) {
                    int64_t k0 = (dev_t > launch ? dev_t : launch) + rnd(3);
                    int64_t k1 = k0 + 1 + rnd(4);
                    if (k1 > p1) break;
                    add_kernel(&a, kernels[rnd(4)], IS_PROF_DEV_KERNEL, (uint32_t)tid, corr, k0, k1);
                    dev_t = k1;
                }
                corr++;
                lt = l1 + 1;
            }
            t = p1 + 1 + rnd(30);
        }
        host.events[req].t0_ns = 0;
        host.events[req].t1_ns = t;
        add_api(&a, corr, tid, t + 5); // after the request: outside everything
        add_kernel(&a, "late", IS_PROF_DEV_KERNEL, (uint32_t)tid, corr++, t + 6, t + 9);
    }
    is_prof_activity copy = {0};
    for (size_t i = 0; i < a.n_dev; i++) is_prof_activity_add_dev(&copy, &a.dev[i]);
    for (size_t i = 0; i < a.n_api; i++) is_prof_activity_add_api(&copy, &a.api[i]);
    size_t no_api, outside;
    is_prof_attribute(&a, &host, &no_api, &outside);
    cr_assert_eq(no_api, 0);
    size_t want_outside = 0;
    for (size_t i = 0; i < a.n_dev; i++) {
        const is_prof_api_record *api = NULL;
        for (size_t k = 0; k < a.n_api && !api; k++)
            if (a.api[k].correlation == a.dev[i].correlation) api = &a.api[k];
        cr_assert(api);
        const char *range, *phase;
        brute(&host, api->tid, api->t0_ns, &range, &phase);
        want_outside += phase == NULL;
        cr_assert(range == a.dev[i].range || (range && a.dev[i].range && !strcmp(range, a.dev[i].range)),
                  "record %zu: range %s, brute force %s", i, a.dev[i].range ? a.dev[i].range : "none",
                  range ? range : "none");
        cr_assert(phase == a.dev[i].phase || (phase && a.dev[i].phase && !strcmp(phase, a.dev[i].phase)),
                  "record %zu: phase %s, brute force %s", i, a.dev[i].phase ? a.dev[i].phase : "none",
                  phase ? phase : "none");
    }
    cr_assert_eq(outside, want_outside);
    cr_assert_eq(want_outside, 3, "the late kernel of each thread");

    is_prof_kernel_tables t;
    is_prof_kernel_tables_build(&copy, &host, &t);
    long total_calls = 0;
    for (size_t i = 0; i < t.n_phases; i++) {
        const is_prof_phase_table *p = &t.phases[i];
        int64_t sum = 0;
        for (size_t k = 0; k < p->n_rows; k++) {
            sum += p->rows[k].total_ns;
            total_calls += p->rows[k].calls;
            if (k > 0) cr_assert_geq(p->rows[k - 1].total_ns, p->rows[k].total_ns, "%s: not sorted", p->phase);
        }
        cr_assert_eq(sum, p->kernel_ns);
        for (int k = 0; k < 3; k++)
            if (!strcmp(p->phase, phases[k])) {
                cr_assert_eq(p->ranges, want_ranges[k], "%s: ranges", p->phase);
                cr_assert_eq(p->wall_ns, want_wall[k], "%s: wall time", p->phase);
            }
        if (strcmp(p->phase, IS_PROF_OUTSIDE)) {
            cr_assert_leq(p->kernel_ns, p->wall_ns, "%s: kernel time %lld over its wall time %lld", p->phase,
                          (long long)p->kernel_ns, (long long)p->wall_ns);
        }
    }
    cr_assert_eq((size_t)total_calls, copy.n_dev, "every record in one table");
    is_prof_kernel_tables_free(&t);
    is_prof_activity_free(&copy);
    is_prof_activity_free(&a);
    free(host.events);
}

// ---- names --------------------------------------------------------------------------

Test(kernel_table, short_names_out_of_mangled_symbols) {
    char b[128];
    is_prof_kernel_short_name("_Z14rmsnorm_kernelPfPKfS1_if", b, sizeof b);
    cr_assert_str_eq(b, "rmsnorm_kernel");
    is_prof_kernel_short_name("_ZN4cute6detail3fooEv", b, sizeof b);
    cr_assert_str_eq(b, "cute::detail::foo");
    is_prof_kernel_short_name("_Z18attn_decode_kernelILi128EEvPf", b, sizeof b);
    cr_assert_str_eq(b, "attn_decode_kernel", "template arguments left out");
    is_prof_kernel_short_name("sm90_xmma_gemm_bf16bf16", b, sizeof b);
    cr_assert_str_eq(b, "sm90_xmma_gemm_bf16bf16", "not mangled: as it is");
    is_prof_kernel_short_name("_Z99short", b, sizeof b);
    cr_assert_str_eq(b, "_Z99short", "a length past the end: the symbol as it is");
    is_prof_kernel_short_name("memcpy HtoD", b, 4);
    cr_assert_str_eq(b, "mem", "truncated to the buffer");
}

// ---- in the report ----------------------------------------------------------------------

Test(kernel_table, report_md_shows_tables_counters_and_reasons) {
    is_prof_capture host;
    is_prof_activity a;
    is_prof_kernel_tables t;
    scenario_tables(&host, &a, &t);
    cJSON *doc = is_results_new(NULL, NULL, NULL);
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    const char *cfg = "{\"model\":\"m\",\"backend\":\"cuda\",\"dtype\":\"BF16\",\"threads\":0,\"batch\":1,"
                      "\"prompt\":8,\"gen\":4,\"depth\":0,\"strategy\":\"greedy\",\"kernel\":\"default\"}";
    for (int i = 0; i < 2; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddItemToObject(p, "config", cJSON_Parse(cfg));
        cJSON_AddStringToObject(p, "status", "ok");
        cJSON_AddItemToObject(p, "samples", cJSON_CreateObject());
        if (i == 0) {
            cJSON *kt = is_prof_kernel_tables_json(&t);
            cJSON_AddStringToObject(kt, "status", "ok");
            cJSON_AddStringToObject(kt, "cupti_library", "/opt/cuda/lib64/libcupti.so.13");
            cJSON_AddItemToObject(p, "kernel_table", kt);
            cJSON *ct = cJSON_Parse("{\"status\":\"ok\",\"chip\":\"GH100\",\"read_metric\":\"dram__bytes_read.sum\","
                                    "\"write_metric\":\"dram__bytes_write.sum\",\"passes\":1,\"dropped_ranges\":0,"
                                    "\"phases\":[{\"phase\":\"decode_step\",\"ranges\":3,\"read_bytes\":3e6,"
                                    "\"write_bytes\":1e6,\"bytes\":4e6,\"model_bytes\":5e6,\"ratio\":0.8,"
                                    "\"median_ms\":2,\"gbs\":2}]}");
            cJSON_AddItemToObject(p, "counters", ct);
        } else { // the same reason twice makes one line
            cJSON_AddItemToObject(p, "kernel_table",
                                  cJSON_Parse("{\"status\":\"unavailable\",\"reason\":\"CUPTI unavailable: why\"}"));
            cJSON_AddItemToObject(p, "counters",
                                  cJSON_Parse("{\"status\":\"unavailable\",\"reason\":\"CUPTI unavailable: why\"}"));
        }
        cJSON_AddItemToArray(points, p);
    }
    is_err err = {{0}};
    cr_assert_eq(is_results_validate(doc, "doc", &err), 0, "%s", err.msg);
    char *md = is_results_to_md(doc);
    cr_assert(strstr(md, "## Kernels per phase: b=1 p=8 n=4 d=0 greedy default"), "%s", md);
    cr_assert(strstr(md, "CUPTI: /opt/cuda/lib64/libcupti.so.13.\n"), "the library that recorded: %s", md);
    cr_assert(strstr(md, "10 device records, 7 dropped by CUPTI, 1 with no API record, 1 launched outside"), "%s", md);
    // decode_step: 160 ns of kernels over 400 ns of wall time
    cr_assert(strstr(md, "**decode_step**: wall 0.000 ms over 2 range(s); kernels 0.000 ms (40.0% of the phase)"), "%s",
              md);
    cr_assert(strstr(md, "**(outside any range)**: no range to compare with"), "%s", md);
    // prefill's gemm: 3 calls, 500 of 790 ns
    const char *g = strstr(strstr(md, "**prefill**"), "| gemm");
    cr_assert(g, "%s", md);
    char row[256];
    snprintf(row, sizeof row, "%.*s", (int)(strchr(g, '\n') - g), g);
    cr_assert(strstr(row, "|     3 |") && strstr(row, "63.3 |"), "gemm row: %s", row);
    cr_assert(strstr(md, "## DRAM counters: b=1 p=8 n=4 d=0 greedy default"), "%s", md);
    cr_assert(strstr(md, "| decode_step |      3 |    3.00 |     1.00 |        4.00 |     5.00 |            0.800 |"),
              "%s", md);
    const char *first = strstr(md, "- kernel tables: CUPTI unavailable: why");
    cr_assert(first && !strstr(first + 1, "- kernel tables: CUPTI unavailable: why"), "one line per reason: %s", md);
    cr_assert(strstr(md, "- DRAM counters: CUPTI unavailable: why"), "%s", md);
    free(md);
    cJSON_Delete(doc);
    scenario_free(&host, &a, &t);
}
