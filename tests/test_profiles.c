// test_profiles.c — NVTX ranges seen through the in-process capture: which
// ranges generate and bench emit, how many, their payloads and nesting, on one
// thread and on several; the capture staying off for an external tool; the
// Chrome trace file (valid JSON, nesting and rising timestamps per track, device
// tracks per stream tagged with their range); the profiling flags' bad values;
// `inferscope profile` on the CPU (CUPTI unavailable, said why, the rest written)
// and its usage errors.
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h" // defines: is_app_main
#include "profiles/capture.h"
#include "profiles/cupti.h"
#include "base/nvtx.h"
#include "profiles/trace.h"
#include "reports/results.h"
#include "support/testutil.h"

// ---- helpers ------------------------------------------------------------------------

static size_t count_named(const is_prof_capture *c, const char *name) {
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) n += !strcmp(c->events[i].name, name);
    return n;
}

static int cmp_start(const void *a, const void *b) {
    const is_prof_event *x = a, *y = b;
    if (x->tid != y->tid) return x->tid < y->tid ? -1 : 1;
    if (x->t0_ns != y->t0_ns) return x->t0_ns < y->t0_ns ? -1 : 1;
    return x->depth - y->depth;
}

// Index of the innermost range enclosing events[i] on its thread (sorted by
// start), or -1. Checks on the way that every range lies inside its parent and
// that its depth is its parent's plus one.
static void check_nesting(is_prof_capture *c, int *parent) {
    qsort(c->events, c->n, sizeof *c->events, cmp_start);
    int *stack = malloc((c->n + 1) * sizeof *stack);
    int top = 0;
    for (size_t i = 0; i < c->n; i++) {
        const is_prof_event *e = &c->events[i];
        cr_assert(e->t1_ns >= e->t0_ns, "%s ends before it starts", e->name);
        if (i > 0 && c->events[i - 1].tid != e->tid) top = 0;
        while (top > 0 && c->events[stack[top - 1]].t1_ns <= e->t0_ns && c->events[stack[top - 1]].depth >= e->depth)
            top--;
        while (top > 0 && c->events[stack[top - 1]].depth >= e->depth) top--;
        int p = top > 0 ? stack[top - 1] : -1;
        cr_assert_eq(e->depth, p < 0 ? 0 : c->events[p].depth + 1, "%s at depth %d under %s", e->name, e->depth,
                     p < 0 ? "nothing" : c->events[p].name);
        if (p >= 0)
            cr_assert(e->t0_ns >= c->events[p].t0_ns && e->t1_ns <= c->events[p].t1_ns,
                      "%s [%lld, %lld] is not inside its parent %s [%lld, %lld]", e->name, (long long)e->t0_ns,
                      (long long)e->t1_ns, c->events[p].name, (long long)c->events[p].t0_ns,
                      (long long)c->events[p].t1_ns);
        parent[i] = p;
        stack[top++] = (int)i;
    }
    free(stack);
}

static const char *parent_name(const is_prof_capture *c, const int *parent, size_t i) {
    return parent[i] < 0 ? "" : c->events[parent[i]].name;
}

static void start_capture(void) {
    char why[512] = "";
    cr_assert_eq(is_prof_capture_begin(why, sizeof why), 0, "capture did not start: %s", why);
}

static int run_main(int (*fn)(int, char **), const char *const *args) {
    int n = 0;
    while (args[n]) n++;
    char **argv = calloc((size_t)n + 1, sizeof *argv);
    for (int i = 0; i < n; i++) argv[i] = strdup(args[i]);
    int rc = fn(n, argv);
    for (int i = 0; i < n; i++) free(argv[i]);
    free(argv);
    return rc;
}

// ---- generate ---------------------------------------------------------------------------

Test(capture, generate_phases_counts_payloads_and_nesting) {
    start_capture();
    // batch of 2 prompts (3 and 4 tokens), 5 tokens each: 1 prefill, 4 decode steps, 5 samples
    const char *args[] = {"inferscope", "generate", "--model", "preset:tiny", "--prompt-ids", "1,2,3",
                          "--prompt-ids", "4,5,6,7", "-n", "5", "--ignore-eos", "--print-ids", "--quiet",
                          "--threads", "2", NULL};
    cr_assert_eq(run_main(is_app_main, args), 0);
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.unbalanced, 0);
    cr_assert_eq(c.dropped, 0);
    cr_assert_eq(count_named(&c, "request"), 1);
    cr_assert_eq(count_named(&c, "prefill"), 1);
    cr_assert_eq(count_named(&c, "decode_step"), 4, "one decode_step per token after the first");
    cr_assert_eq(count_named(&c, "sample"), 5, "one sample per generated token (all rows at once)");
    cr_assert_eq(count_named(&c, "layer"), 0, "no layer ranges at the default level");
    int *parent = malloc(c.n * sizeof *parent);
    check_nesting(&c, parent);
    for (size_t i = 0; i < c.n; i++) {
        const is_prof_event *e = &c.events[i];
        cr_assert_str_eq(e->domain, "inferscope");
        if (!strcmp(e->name, "request")) {
            cr_assert_eq(e->depth, 0);
            cr_assert_eq(e->payload, 2, "request payload: the batch size");
            cr_assert_eq(e->category, IS_PROF_CAT_REQUEST);
        } else {
            cr_assert_str_eq(parent_name(&c, parent, i), "request", "%s outside the request", e->name);
        }
        if (!strcmp(e->name, "prefill")) cr_assert_eq(e->payload, 7, "prefill payload: prompt tokens of the batch");
        if (!strcmp(e->name, "decode_step")) {
            cr_assert_eq(e->payload, 2, "decode_step payload: rows of the step");
            cr_assert_eq(e->category, IS_PROF_CAT_DECODE);
        }
        if (!strcmp(e->name, "sample")) cr_assert_eq(e->payload, 2);
    }
    free(parent);
    is_prof_capture_free(&c);
}

Test(capture, level2_layers_and_ops_inside_the_phases) {
    start_capture();
    const char *args[] = {"inferscope", "generate", "--model", "preset:tiny", "--prompt-ids", "1,2,3,4",
                          "-n", "3", "--ignore-eos", "--print-ids", "--quiet", "--nvtx-level", "2", NULL};
    cr_assert_eq(run_main(is_app_main, args), 0);
    is_prof_capture c;
    is_prof_capture_take(&c);
    const is_preset *tiny = is_preset_find("tiny");
    cr_assert(tiny);
    is_config cfg = tiny->cfg;
    int forwards = 1 + 2; // prefill + 2 decode steps
    cr_assert_eq(count_named(&c, "layer"), (size_t)(forwards * cfg.n_layers));
    cr_assert_eq(count_named(&c, "attention"), (size_t)(forwards * cfg.n_layers));
    cr_assert_eq(count_named(&c, "embed"), (size_t)forwards);
    // q, k, v, o, gate, up, down per layer, and the lm_head per forward
    cr_assert_eq(count_named(&c, "matmul"), (size_t)(forwards * (7 * cfg.n_layers + 1)));
    int *parent = malloc(c.n * sizeof *parent);
    check_nesting(&c, parent);
    for (size_t i = 0; i < c.n; i++) {
        const is_prof_event *e = &c.events[i];
        const char *p = parent_name(&c, parent, i);
        if (!strcmp(e->name, "layer"))
            cr_assert(!strcmp(p, "prefill") || !strcmp(p, "decode_step"), "layer under %s", p);
        if (e->category == IS_PROF_CAT_OP)
            cr_assert(!strcmp(p, "layer") || !strcmp(p, "prefill") || !strcmp(p, "decode_step"), "%s under %s",
                      e->name, p);
    }
    free(parent);
    is_prof_capture_free(&c);
}

// ---- bench ----------------------------------------------------------------------------------

Test(capture, bench_point_ranges_per_repetition) {
    start_capture();
    // 1 warm-up + exactly 2 repetitions, batch 2, prompt 4, gen 3, a pre-filled depth of 4
    const char *args[] = {"inferscope", "bench", "--model", "preset:tiny", "-b", "2", "-p", "4", "-n", "3",
                          "-d", "4", "-r", "2", "--max-reps", "2", "--warmup", "1", "--no-probe", "--format",
                          "csv", "-t", "2", "--no-kernel-table", NULL}; // on CUDA: no extra repetition
    cr_assert_eq(run_main(is_app_main, args), 0);
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.unbalanced, 0);
    int runs = 3;
    cr_assert_eq(count_named(&c, "context_fill"), 1, "the depth is filled once per point");
    cr_assert_eq(count_named(&c, "request"), (size_t)runs);
    cr_assert_eq(count_named(&c, "prefill"), (size_t)runs);
    cr_assert_eq(count_named(&c, "decode_step"), (size_t)(runs * 2));
    cr_assert_eq(count_named(&c, "sample"), (size_t)(runs * 3));
    int *parent = malloc(c.n * sizeof *parent);
    check_nesting(&c, parent);
    for (size_t i = 0; i < c.n; i++) {
        const is_prof_event *e = &c.events[i];
        if (!strcmp(e->name, "request") || !strcmp(e->name, "context_fill")) cr_assert_eq(e->depth, 0);
        else cr_assert_str_eq(parent_name(&c, parent, i), "request");
        if (!strcmp(e->name, "decode_step")) cr_assert_eq(e->payload, 2);
        if (!strcmp(e->name, "prefill")) cr_assert_eq(e->payload, 8);
    }
    free(parent);
    is_prof_capture_free(&c);
}

// ---- threads -------------------------------------------------------------------------------

static void *thread_ranges(void *arg) {
    int k = *(int *)arg;
    for (int i = 0; i < 50; i++) {
        is_prof_push(IS_PROF_REQUEST, (uint64_t)k);
        is_prof_push(IS_PROF_DECODE_STEP, (uint64_t)i);
        is_prof_push(IS_PROF_LAYER, 0);
        is_prof_pop(IS_PROF_LAYER);
        is_prof_push(IS_PROF_SAMPLE, 1);
        is_prof_pop(IS_PROF_SAMPLE);
        is_prof_pop(IS_PROF_DECODE_STEP);
        is_prof_pop(IS_PROF_REQUEST);
    }
    return NULL;
}

Test(capture, ranges_nest_on_every_thread) {
    start_capture();
    is_prof_set_level(2);
    pthread_t th[4];
    int ids[4] = {0, 1, 2, 3};
    for (int t = 0; t < 4; t++) cr_assert_eq(pthread_create(&th[t], NULL, thread_ranges, &ids[t]), 0);
    for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.n, 4 * 50 * 4);
    cr_assert_eq(c.unbalanced, 0);
    int *parent = malloc(c.n * sizeof *parent);
    check_nesting(&c, parent);
    size_t n_tids = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (i == 0 || c.events[i].tid != c.events[i - 1].tid) n_tids++;
        const char *p = parent_name(&c, parent, i);
        if (!strcmp(c.events[i].name, "layer") || !strcmp(c.events[i].name, "sample")) cr_assert_str_eq(p, "decode_step");
        if (!strcmp(c.events[i].name, "decode_step")) {
            cr_assert_str_eq(p, "request");
            cr_assert_eq(c.events[i].tid, c.events[parent[i]].tid);
        }
    }
    cr_assert_eq(n_tids, 4, "one track per thread");
    free(parent);
    is_prof_capture_free(&c);
}

Test(capture, pop_without_push_is_counted_not_recorded) {
    start_capture();
    is_prof_pop(IS_PROF_REQUEST);
    is_prof_push(IS_PROF_PREFILL, 3);
    is_prof_pop(IS_PROF_PREFILL);
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.unbalanced, 1);
    cr_assert_eq(c.n, 1);
    is_prof_capture_free(&c);
}

Test(capture, off_unless_asked) {
    // no capture started: ranges go nowhere, and the store stays empty
    is_prof_push(IS_PROF_REQUEST, 1);
    is_prof_pop(IS_PROF_REQUEST);
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.n, 0);
    is_prof_capture_free(&c);
}

Test(capture, stays_out_of_the_way_of_an_external_tool) {
    cr_assert_eq(setenv("NVTX_INJECTION64_PATH", "/nonexistent/libtool.so", 1), 0);
    char why[512] = "";
    cr_assert_eq(is_prof_capture_begin(why, sizeof why), -1);
    cr_assert(strstr(why, "NVTX_INJECTION64_PATH"), "reason: %s", why);
    cr_assert(!is_prof_capture_active());
    const char *args[] = {"inferscope", "generate", "--model", "preset:tiny", "--prompt-ids", "1,2",
                          "-n", "2", "--print-ids", "--quiet", NULL};
    cr_assert_eq(run_main(is_app_main, args), 0, "the run goes on without the capture");
    is_prof_capture c;
    is_prof_capture_take(&c);
    cr_assert_eq(c.n, 0);
    is_prof_capture_free(&c);
}

// ---- the trace file ------------------------------------------------------------------------

// Parses a trace and checks, per track (pid, tid): X events in file order have
// rising start times, each nests inside the one open before it or starts after
// it ends. Returns the number of X events named name (NULL: all).
static int check_trace(const char *path, const char *name) {
    size_t len;
    char *text = tu_read_file(path, &len);
    cr_assert(text, "%s was not written", path);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cr_assert(doc, "%s is not valid JSON", path);
    cJSON *events = cJSON_GetObjectItemCaseSensitive(doc, "traceEvents");
    cr_assert(cJSON_IsArray(events));
    int n = cJSON_GetArraySize(events), count = 0;
    // per track: the open spans (end times), and the last start
    double *ends = malloc((size_t)n * sizeof *ends);
    double last_ts = -1, last_pid = -1, last_tid = -1;
    int top = 0;
    const double eps = 1e-3; // microseconds: the file holds nanoseconds as µs with 3 decimals
    cJSON *e;
    cJSON_ArrayForEach(e, events) {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "ph"));
        cr_assert(ph);
        if (strcmp(ph, "X")) continue;
        double pid = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "pid"));
        double tid = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "tid"));
        double ts = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "ts"));
        double dur = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(e, "dur"));
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "name"));
        cr_assert(nm && cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "cat")));
        cr_assert(ts >= 0 && dur >= 0, "%s: ts %g dur %g", nm, ts, dur);
        if (pid != last_pid || tid != last_tid) {
            top = 0;
            last_ts = -1;
        }
        cr_assert(ts >= last_ts, "%s starts at %g, before the previous event of its track (%g)", nm, ts, last_ts);
        while (top > 0 && ends[top - 1] <= ts + eps) top--;
        if (top > 0) cr_assert(ts + dur <= ends[top - 1] + eps, "%s overlaps the range it starts in", nm);
        ends[top++] = ts + dur;
        last_ts = ts;
        last_pid = pid;
        last_tid = tid;
        if (!name || !strcmp(nm, name)) count++;
    }
    free(ends);
    cJSON_Delete(doc);
    return count;
}

Test(trace, generate_trace_is_valid_nested_and_monotonic) {
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/trace.json", dir);
    const char *args[] = {"generate", "--model", "preset:tiny", "--prompt-ids", "1,2,3", "-n", "4",
                          "--ignore-eos", "--print-ids", "--nvtx-level", "2", "--trace", path, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "trace: "), "%s", r.err);
    cr_assert_eq(check_trace(path, "request"), 1);
    cr_assert_eq(check_trace(path, "decode_step"), 3);
    cr_assert_gt(check_trace(path, "matmul"), 0);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(trace, bench_trace_holds_every_repetition) {
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/bench-trace.json", dir);
    const char *args[] = {"bench", "--model", "preset:tiny", "-b", "1,2", "-p", "4", "-n", "3", "-r", "2",
                          "--max-reps", "2", "--warmup", "0", "--no-probe", "--trace", path, "--no-kernel-table", NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_eq(check_trace(path, "request"), 2 * 2, "2 points x 2 repetitions");
    cr_assert_eq(check_trace(path, "decode_step"), 2 * 2 * 2);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(trace, bad_flags_and_unwritable_file) {
    const char *bad_level[] = {"generate", "--model", "preset:tiny", "--prompt-ids", "1", "--nvtx-level", "3", NULL};
    tu_run r = tu_run_cli(bad_level);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--nvtx-level '3'"), "%s", r.err);
    tu_run_free(&r);
    const char *bad_bench[] = {"bench", "--model", "preset:tiny", "--trace", "", NULL};
    r = tu_run_cli(bad_bench);
    cr_assert_eq(r.status, 2);
    cr_assert(strstr(r.err, "--trace"), "%s", r.err);
    tu_run_free(&r);
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/missing/trace.json", dir);
    const char *unwritable[] = {"generate", "--model", "preset:tiny", "--prompt-ids", "1", "-n", "2",
                                "--print-ids", "--trace", path, NULL};
    r = tu_run_cli(unwritable);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, path), "the message names the file: %s", r.err);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "no file after a failed write");
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// ---- device tracks --------------------------------------------------------------------------

Test(trace, device_events_get_one_track_per_stream_tagged_with_their_range) {
    // host: one thread, prefill [1000, 5000] holding a matmul [1500, 2500]
    is_prof_event host_ev[] = {
        {.name = "matmul", .domain = "inferscope", .category = IS_PROF_CAT_OP, .tid = 7, .depth = 1,
         .t0_ns = 1500, .t1_ns = 2500},
        {.name = "prefill", .domain = "inferscope", .category = IS_PROF_CAT_PREFILL, .tid = 7, .depth = 0,
         .t0_ns = 1000, .t1_ns = 5000},
    };
    is_prof_capture host = {.events = host_ev, .n = 2};
    // device: two streams, records given out of order
    is_prof_device_event dev[] = {
        {.name = "gemm", .kind = IS_PROF_DEV_KERNEL, .device = 0, .stream = 14, .t0_ns = 3000, .t1_ns = 3400,
         .correlation = 9, .range = "matmul", .phase = "prefill"},
        {.name = "memcpy HtoD", .kind = IS_PROF_DEV_MEMCPY, .device = 0, .stream = 7, .t0_ns = 1200, .t1_ns = 1300,
         .correlation = 8, .range = "prefill", .phase = "prefill"},
        {.name = "rmsnorm", .kind = IS_PROF_DEV_KERNEL, .device = 0, .stream = 14, .t0_ns = 1600, .t1_ns = 1700,
         .correlation = 10, .range = "matmul", .phase = "prefill"},
        {.name = "memset", .kind = IS_PROF_DEV_MEMSET, .device = 0, .stream = 7, .t0_ns = 1250, .t1_ns = 1260,
         .correlation = 11, .range = "prefill", .phase = "prefill"},
    };
    char dir[256], path[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/dev.json", dir);
    is_err err = {{0}};
    cr_assert_eq(is_prof_trace_write(path, &host, dev, 4, NULL, &err), 0, "%s", err.msg);
    // valid, every track's timestamps rising (check_trace), memcpy and memset on
    // stream 7 after each other but overlapping: the memset lies inside the copy's span
    cr_assert_eq(check_trace(path, NULL), 2 + 4);
    size_t len;
    char *text = tu_read_file(path, &len);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    int device_tracks = 0, tagged = 0, device_spans = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItem(doc, "traceEvents")) {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(e, "ph"));
        double pid = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "pid"));
        const char *nm = cJSON_GetStringValue(cJSON_GetObjectItem(e, "name"));
        if (!strcmp(ph, "M") && !strcmp(nm, "thread_name") && pid != 1) device_tracks++;
        if (strcmp(ph, "X") || pid == 1) continue;
        device_spans++;
        cJSON *args = cJSON_GetObjectItem(e, "args");
        const char *in = cJSON_GetStringValue(cJSON_GetObjectItem(args, "launched_in"));
        const char *phase = cJSON_GetStringValue(cJSON_GetObjectItem(args, "phase"));
        double tid = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "tid"));
        cr_assert(in && phase, "%s has no range", nm);
        cr_assert_str_eq(phase, "prefill");
        cr_assert_str_eq(in, tid == 14 ? "matmul" : "prefill", "%s on stream %g", nm, tid);
        tagged++;
    }
    cr_assert_eq(device_tracks, 2, "one track per stream");
    cr_assert_eq(device_spans, 4);
    cr_assert_eq(tagged, 4);
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "otherData"), "device_records")), 4);
    cJSON_Delete(doc);
    tu_rm_rf(dir);
}

// ---- inferscope profile --------------------------------------------------------------------

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// What the reports must say on the CPU backend: why CUPTI cannot load when it
// cannot (a build without CUDA, no libcupti), else that the backend is the CPU.
static void cpu_reason(char *buf, size_t n) {
    char why[512];
    if (is_prof_cupti_lib(why, sizeof why)) snprintf(buf, n, "CUPTI unavailable: backend is cpu");
    else snprintf(buf, n, "CUPTI unavailable: %s", why);
}

static bool has_line(const char *text, const char *what, const char *reason) {
    char line[800];
    snprintf(line, sizeof line, "- %s: %s", what, reason);
    return text && strstr(text, line);
}

Test(profile, cpu_run_says_why_cupti_is_off_and_writes_everything_else) {
    char dir[256], out[512], trace[512], path[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(trace, sizeof trace, "%s/trace.json", dir);
    const char *args[] = {"profile", "--model", "preset:tiny", "--backend", "cpu", "-p", "4", "--gen-len", "3",
                          "-r", "2", "--warmup", "0", "--no-probe", "--trace", trace, "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    char reason[600];
    cpu_reason(reason, sizeof reason);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "# inferscope profile: preset:tiny"), "%s", r.out);
    cr_assert(has_line(r.out, "kernel tables", reason), "the report says why (%s): %s", reason, r.out);
    cr_assert(has_line(r.out, "DRAM counters", reason), "%s", r.out);
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    cJSON *points = cJSON_GetObjectItem(doc, "points");
    cr_assert_eq(cJSON_GetArraySize(points), 1);
    cJSON *p = cJSON_GetArrayItem(points, 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(p, "status")), "ok");
    cr_assert_eq(cJSON_GetNumberValue(cJSON_GetObjectItem(p, "reps")), 2);
    cJSON *kt = cJSON_GetObjectItem(p, "kernel_table"), *ct = cJSON_GetObjectItem(p, "counters");
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(kt, "status")), "unavailable");
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(kt, "reason")), reason));
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(ct, "status")), "unavailable");
    cJSON_Delete(doc);
    snprintf(path, sizeof path, "%s/report.md", out);
    char *md = tu_read_file(path, &(size_t){0});
    cr_assert(has_line(md, "kernel tables", reason), "report.md says it too");
    free(md);
    cr_assert_eq(check_trace(trace, "request"), 2, "the two timed repetitions");
    cr_assert_eq(check_trace(trace, "prefill"), 2);
    cr_assert_eq(check_trace(trace, "decode_step"), 2 * 2);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(profile, bad_usage_is_a_clear_error_and_writes_nothing) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    struct {
        const char *args[16];
        const char *says;
    } cases[] = {
        {{"profile", "--model", "preset:tiny", "--backend", "cpu", "--counters", "bogus", "--out", out, NULL},
         "--counters 'bogus'"},
        {{"profile", "--backend", "cpu", "--out", out, NULL}, "--model is required"},
        {{"profile", "--model", "preset:tiny", "--frobnicate", "--out", out, NULL}, "unknown flag '--frobnicate'"},
        {{"profile", "--model", "preset:tiny", "-b", "1,2", "--out", out, NULL}, "one point: --batch"},
        {{"profile", "--model", "preset:tiny", "--reps", "0", "--out", out, NULL}, "--reps '0'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_run r = tu_run_cli(cases[i].args);
        cr_assert_eq(r.status, 2, "case %zu: status %d: %s", i, r.status, r.err);
        cr_assert(strstr(r.err, "inferscope profile: ") && strstr(r.err, cases[i].says), "case %zu: %s", i, r.err);
        cr_assert(!exists(out), "case %zu: %s was written", i, out);
        tu_run_free(&r);
    }
    const char *list[] = {"profile", "--list-metrics", NULL};
    tu_run r = tu_run_cli(list);
    cr_assert_eq(r.status, 2, "--list-metrics without --chip");
    cr_assert(strstr(r.err, "--chip"), "%s", r.err);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(profile, bench_on_the_cpu_notes_the_kernel_table_it_could_not_collect) {
    char dir[256], out[512], path[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/out", dir);
    const char *args[] = {"bench", "--model", "preset:tiny", "--backend", "cpu", "-p", "4", "-n", "2", "-r", "1",
                          "--max-reps", "1", "--warmup", "0", "--no-probe", "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    char reason[600];
    cpu_reason(reason, sizeof reason);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(has_line(r.out, "kernel tables", reason), "%s", r.out);
    cr_assert_null(strstr(r.out, "DRAM counters"), "bench runs no counter pass");
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "points"), 0);
    cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "kernel_table"), "status")),
                     "unavailable");
    cr_assert_null(cJSON_GetObjectItem(p, "counters"));
    cJSON_Delete(doc);
    tu_run_free(&r);
    const char *off[] = {"bench", "--model", "preset:tiny", "--backend", "cpu", "-p", "4", "-n", "2", "-r", "1",
                         "--max-reps", "1", "--warmup", "0", "--no-probe", "--no-kernel-table", NULL};
    r = tu_run_cli(off);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(has_line(r.out, "kernel tables", "off (--no-kernel-table)"), "%s", r.out);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// ---- the capture's hook and copies ---------------------------------------------------------

static char hook_log[256];
static void log_hook(const char *name, bool push) {
    size_t n = strlen(hook_log);
    snprintf(hook_log + n, sizeof hook_log - n, "%s%s ", push ? "+" : "-", name);
}

Test(capture, hook_sees_every_push_and_pop_and_copies_leave_the_store) {
    start_capture();
    is_prof_push(IS_PROF_REQUEST, 1);
    int64_t mid = is_prof_now_ns();
    is_prof_capture_set_hook(log_hook);
    is_prof_push(IS_PROF_PREFILL, 4);
    is_prof_pop(IS_PROF_PREFILL);
    is_prof_push(IS_PROF_DECODE_STEP, 1);
    is_prof_pop(IS_PROF_DECODE_STEP);
    is_prof_capture_set_hook(NULL);
    is_prof_push(IS_PROF_SAMPLE, 1);
    is_prof_pop(IS_PROF_SAMPLE);
    is_prof_pop(IS_PROF_REQUEST);
    cr_assert_str_eq(hook_log, "+prefill -prefill +decode_step -decode_step ", "only while set, in order");
    is_prof_capture since;
    is_prof_capture_copy_since(mid, &since);
    cr_assert_eq(since.n, 3, "prefill, decode_step and sample started after mid; request before");
    cr_assert_eq(count_named(&since, "request"), 0);
    is_prof_capture_free(&since);
    is_prof_capture all;
    is_prof_capture_take(&all);
    cr_assert_eq(all.n, 4, "the copy left the store as it was");
    is_prof_capture_free(&all);
}
