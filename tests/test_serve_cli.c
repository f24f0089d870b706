// test_serve_cli.c — `inferscope serve-bench` end to end on preset:tiny: the
// result files and their serve points, the closed loop's cap on requests in
// flight, --resume, and bad input refused with a message naming what is wrong
// before anything is written.
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/testutil.h"

TestSuite(serve_cli, .timeout = 600);

static cJSON *load_json(const char *path) {
    size_t len;
    char *text = tu_read_file(path, &len);
    cr_assert_not_null(text, "%s is missing", path);
    cJSON *doc = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(doc, "%s is not JSON", path);
    return doc;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

Test(serve_cli, rate_sweep_writes_serve_points) {
    char dir[256], out[512], path[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    const char *args[] = {"serve-bench", "--model", "preset:tiny", "--rate", "200,inf", "--requests", "12", "-p",
                          "8:24", "-n", "2:6", "--max-seqs", "4", "--max-batch-tokens", "32", "--slo",
                          "ttft=60000,tpot=60000", "-t", "2", "--seed", "3", "--out", out, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.out, "TTFT"), "the latency-throughput table is printed:\n%s", r.out);
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc = load_json(path);
    cr_assert_str_eq(cJSON_GetStringValue(get(doc, "kind")), "serve");
    const cJSON *pt;
    int n = 0;
    cJSON_ArrayForEach(pt, get(doc, "points")) {
        n++;
        cr_assert_str_eq(cJSON_GetStringValue(get(pt, "status")), "ok");
        const cJSON *samples = get(pt, "samples"), *serve = get(pt, "serve"), *ts = get(pt, "timeseries");
        cr_assert_eq(cJSON_GetArraySize(get(samples, "ttft_ms")), 12, "one TTFT per request");
        cr_assert_eq(cJSON_GetArraySize(get(samples, "e2e_ms")), 12);
        for (int i = 0; i < 12; i++) {
            double q = cJSON_GetArrayItem(get(samples, "queue_ms"), i)->valuedouble;
            double t = cJSON_GetArrayItem(get(samples, "ttft_ms"), i)->valuedouble;
            double e = cJSON_GetArrayItem(get(samples, "e2e_ms"), i)->valuedouble;
            cr_assert(0 <= q && q <= t && t <= e, "request %d: queue %g <= TTFT %g <= E2E %g", i, q, t, e);
        }
        cr_assert_eq(get(serve, "n_requests")->valueint, 12);
        cr_assert_eq(get(serve, "n_good")->valueint, 12, "a 60 s objective is met by every request");
        int steps = get(serve, "steps")->valueint;
        cr_assert_gt(steps, 0);
        const char *cols[] = {"t_s", "prefill_tokens", "decode_tokens", "running", "waiting", "kv_blocks"};
        for (int k = 0; k < 6; k++)
            cr_assert_eq(cJSON_GetArraySize(get(ts, cols[k])), steps, "timeseries.%s: one value per step", cols[k]);
        long tokens = 0;
        for (int s = 0; s < steps; s++) {
            int pf = cJSON_GetArrayItem(get(ts, "prefill_tokens"), s)->valueint;
            int dc = cJSON_GetArrayItem(get(ts, "decode_tokens"), s)->valueint;
            cr_assert_leq(pf + dc, 32, "step %d within --max-batch-tokens", s);
            cr_assert_leq(cJSON_GetArrayItem(get(ts, "running"), s)->valueint, 4, "step %d within --max-seqs", s);
            tokens += pf + dc;
        }
        cr_assert_geq(tokens, 12 * 8, "every prompt token ran");
        double out_tps = get(get(get(pt, "stats"), "out_tps"), "median")->valuedouble;
        cr_assert(out_tps > 0 && isfinite(out_tps));
    }
    cr_assert_eq(n, 2);
    cJSON_Delete(doc);
    snprintf(path, sizeof path, "%s/report.md", out);
    cr_assert(exists(path));
    snprintf(path, sizeof path, "%s/results.csv", out);
    cr_assert(exists(path));
    tu_run_free(&r);
    // --resume: both points are there, nothing runs again
    const char *again[] = {"serve-bench", "--model", "preset:tiny", "--rate", "200,inf", "--requests", "12", "-p",
                           "8:24", "-n", "2:6", "--max-seqs", "4", "--max-batch-tokens", "32", "--slo",
                           "ttft=60000,tpot=60000", "-t", "2", "--seed", "3", "--out", out, "--resume", NULL};
    r = tu_run_cli(again);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(!strstr(r.err, "requests in"), "no point ran again:\n%s", r.err);
    tu_run_free(&r);
    // the same --out without --resume is refused
    r = tu_run_cli(args);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "already exists"), "%s", r.err);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(serve_cli, closed_loop_never_exceeds_its_clients) {
    char dir[256], out[512], path[600], trace[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    snprintf(trace, sizeof trace, "%s/trace.json", dir);
    const char *args[] = {"serve-bench", "--model", "preset:tiny", "--concurrency", "3", "--requests", "10", "-p",
                          "16", "-n", "5", "--max-batch-tokens", "64", "--prefixes", "2", "--prefix-len", "32",
                          "--prefix-cache", "--batch-invariant", "-t", "2", "--out", out, "--format", "json",
                          "--trace", trace, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "%s", r.err);
    // one NVTX "schedule" range per step, in the trace
    cJSON *tr = load_json(trace);
    int n_sched = 0;
    const cJSON *ev, *events = cJSON_IsArray(tr) ? tr : get(tr, "traceEvents");
    cJSON_ArrayForEach(ev, events) {
        const char *name = cJSON_GetStringValue(get(ev, "name"));
        const char *ph = cJSON_GetStringValue(get(ev, "ph"));
        if (!name || strcmp(name, "schedule") || !ph || strcmp(ph, "X")) continue;
        n_sched++;
        // payload: prefill << 36 | decode << 24 | running << 12 | waiting
        uint64_t pl = (uint64_t)get(get(ev, "args"), "payload")->valuedouble;
        int prefill = (int)(pl >> 36), decode = (int)(pl >> 24 & 0xfff), running = (int)(pl >> 12 & 0xfff);
        int waiting = (int)(pl & 0xfff);
        cr_assert(prefill + decode > 0 && prefill + decode <= 64, "step tokens %d + %d", prefill, decode);
        cr_assert(decode <= running && running + waiting <= 3, "running %d, waiting %d", running, waiting);
    }
    cJSON_Delete(tr);
    snprintf(path, sizeof path, "%s/results.json", out);
    cJSON *doc = load_json(path);
    const cJSON *pt = cJSON_GetArrayItem(get(doc, "points"), 0);
    const cJSON *ts = get(pt, "timeseries");
    int steps = cJSON_GetArraySize(get(ts, "running"));
    for (int s = 0; s < steps; s++)
        cr_assert_leq(cJSON_GetArrayItem(get(ts, "running"), s)->valueint +
                          cJSON_GetArrayItem(get(ts, "waiting"), s)->valueint,
                      3, "step %d: more than 3 requests in flight", s);
    const cJSON *serve = get(pt, "serve");
    cr_assert_eq(n_sched, get(serve, "steps")->valueint, "a schedule range per step");
    double hit = get(serve, "prefix_hit_rate")->valuedouble;
    // 10 requests of 48 tokens on 2 prefixes of 32 (2 blocks each): the 8 after the first
    // of each prefix can find 32 tokens, if the first finished computing them
    cr_assert(hit > 0 && hit <= 8.0 * 32 / (10 * 48) + 1e-12, "prefix hit rate %g", hit);
    cr_assert_eq(get(get(pt, "config"), "batch_invariant")->valueint, 1);
    cJSON_Delete(doc);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// Bad input: a clear message naming it, exit 2, no result files.
Test(serve_cli, bad_input_is_refused_before_writing) {
    char dir[256], out[512], path[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    const char *bad_text = "{\"prompt_len\": 8, \"output_len\": 4}\nnot json\n";
    const char *long_text = "{\"prompt_len\": 8, \"output_len\": 4}\n{\"prompt_len\": 9000, \"output_len\": 4}\n";
    tu_write_file(dir, "bad.jsonl", bad_text, strlen(bad_text));
    tu_write_file(dir, "long.jsonl", long_text, strlen(long_text));
    char bad[600], lng[600];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", dir);
    snprintf(lng, sizeof lng, "%s/long.jsonl", dir);
    const struct {
        const char *args[16];
        const char *want;
    } cases[] = {
        {{"serve-bench", "--model", "preset:tiny", "--workload", bad, "--out", out, NULL}, "line 2"},
        {{"serve-bench", "--model", "preset:tiny", "--workload", lng, "--out", out, NULL}, "line 2"},
        {{"serve-bench", "--model", "preset:tiny", "--strategy", "beam:w=2", "--out", out, NULL}, "beam"},
        {{"serve-bench", "--model", "preset:tiny", "--rate", "0", "--out", out, NULL}, "--rate '0'"},
        {{"serve-bench", "--model", "preset:tiny", "-p", "5:x", "--out", out, NULL}, "--prompt-len"},
        {{"serve-bench", "--model", "preset:tiny", "--slo", "ttft=fast", "--out", out, NULL}, "ttft"},
        {{"serve-bench", "--model", "preset:tiny", "--policy", "lifo", "--out", out, NULL}, "lifo"},
        {{"serve-bench", "--model", "preset:tiny", "-p", "100", "--kv-budget", "0.01", "--out", out, NULL},
         "--kv-budget"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tu_run r = tu_run_cli(cases[k].args);
        cr_assert_eq(r.status, 2, "case %zu: exit %d\n%s", k, r.status, r.err);
        cr_assert(strstr(r.err, cases[k].want), "case %zu: the message names '%s':\n%s", k, cases[k].want, r.err);
        snprintf(path, sizeof path, "%s/results.json", out);
        cr_assert(!exists(path), "case %zu: nothing is written", k);
        tu_run_free(&r);
    }
    tu_rm_rf(dir);
}
