// test_bench_cli.c — `inferscope bench` and `inferscope compare` through the
// binary: a smoke sweep's result files, compare's verdicts (same build twice is
// "same", timings scaled by 1.2 are "slower" wherever the run's own noise allows
// it), resume after a kill and after Ctrl-C, and bad input (clear message, non-zero
// exit, no files).
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reports/results.h"
#include "bench/probe.h"      // defines: IS_PEAK_NOISE
#include "support/testutil.h"

// Names in dir (not . and ..), and whether any looks like a temporary file.
static int dir_count(const char *dir, bool *has_tmp) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    if (has_tmp) *has_tmp = false;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (has_tmp && (strstr(e->d_name, "tmp") || e->d_name[0] == '.')) *has_tmp = true;
    }
    closedir(d);
    return n;
}

static cJSON *load_results(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    cJSON *doc = NULL;
    is_err err = {{0}};
    cr_assert_eq(is_results_load(path, &doc, &err), 0, "%s", err.msg);
    return doc;
}

static int array_len(const cJSON *o, const char *a, const char *b) {
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, a), b));
}

static int num(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k)->valueint; }

// ---- the smoke sweep -------------------------------------------------------------------

Test(bench_cli, smoke_sweep_files_and_samples) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    const char *args[] = {"bench", "--model", "preset:tiny", "-b", "1,3", "-p", "16", "-n", "8", "-r", "3",
                          "--max-time", "0", "--threads", "1", "--no-probe", "--out", out, "--format", "csv", NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 0, "stderr: %s", r.err);
    cr_assert(strstr(r.err, "2 points"), "the point count is printed first: %s", r.err);
    // stdout: the CSV, a header and one row per point
    int lines = 0;
    for (const char *p = r.out; *p; p++) lines += *p == '\n';
    cr_assert_eq(lines, 3, "csv: %s", r.out);
    bool tmp;
    cr_assert_eq(dir_count(out, &tmp), 4, "results.json, results.csv, report.md, report.html");
    cr_assert(!tmp, "no temporary file left");

    cJSON *doc = load_results(out);
    const cJSON *pt;
    int i = 0;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(pt, "config");
        int b = num(cfg, "batch"), reps = num(pt, "reps");
        cr_assert_eq(b, i ? 3 : 1);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "status")), "ok");
        cr_assert_geq(reps, 3);
        // per request: one sample per sequence per repetition; ITL: 7 gaps each
        cr_assert_eq(array_len(pt, "samples", "ttft_ms"), b * reps);
        cr_assert_eq(array_len(pt, "samples", "tpot_ms"), b * reps);
        cr_assert_eq(array_len(pt, "samples", "e2e_ms"), b * reps);
        cr_assert_eq(array_len(pt, "samples", "itl_ms"), b * reps * 7);
        cr_assert_eq(array_len(pt, "samples", "decode_tps"), reps);
        cr_assert_eq(array_len(pt, "samples", "prefill_ms"), reps);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pt, "stats"), "decode_tps");
        double med = cJSON_GetObjectItemCaseSensitive(st, "median")->valuedouble;
        const cJSON *ci = cJSON_GetObjectItemCaseSensitive(st, "ci95");
        cr_assert(med > 0 && cJSON_GetArrayItem(ci, 0)->valuedouble <= med &&
                  med <= cJSON_GetArrayItem(ci, 1)->valuedouble);
        // TTFT <= E2E for every request (same repetition order in both arrays)
        const cJSON *tt = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pt, "samples"), "ttft_ms");
        const cJSON *ee = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pt, "samples"), "e2e_ms");
        for (int k = 0; k < b * reps; k++)
            cr_assert(cJSON_GetArrayItem(tt, k)->valuedouble < cJSON_GetArrayItem(ee, k)->valuedouble);
        cr_assert_eq(num(cJSON_GetObjectItemCaseSensitive(pt, "model"), "decode_steps"), 7);
        i++;
    }
    cr_assert_eq(i, 2);
    // the environment names the command and the build
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(doc, "env");
    cr_assert(strstr(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(env, "command")), "--format csv"));
    cJSON_Delete(doc);
    tu_run_free(&r);

    // the same --out again without --resume is refused and the files stay as they were
    char before[1024];
    snprintf(before, sizeof before, "%s/results.json", out);
    size_t len0, len1;
    char *a = tu_read_file(before, &len0);
    r = tu_run_cli(args);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "already exists") && strstr(r.err, "--resume"), "%s", r.err);
    char *b = tu_read_file(before, &len1);
    cr_assert(len0 == len1 && !memcmp(a, b, len0));
    free(a);
    free(b);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

// ---- compare on the CI smoke sweep ----------------------------------------------------------

// Multiplies every time sample by f and divides every rate by f, then recomputes the stats.
static void scale_timings(cJSON *doc, double f) {
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(pt, "samples")) {
            bool rate = strstr(m->string, "_tps") != NULL;
            cJSON *v;
            cJSON_ArrayForEach(v, m) cJSON_SetNumberValue(v, rate ? v->valuedouble / f : v->valuedouble * f);
        }
        is_results_point_finish((cJSON *)pt, 1);
    }
}

// The sweep ci/perf-gate runs by default (keep the two in step; see there why one
// thread and a fixed 5 s of repetitions per point), with at least reps repetitions.
static tu_run smoke(const char *out, const char *reps) {
    const char *args[] = {"bench", "--model", "preset:smollm2-135m", "-b", "1,4", "-p", "32", "-n", "16",
                          "-t", "1", "-r", reps, "--max-noise", "0", "--max-time", "5", "--out", out, NULL};
    return tu_run_cli(args);
}

// Every row of compare's table (the smoke sweep's two points): the printed ratio is
// want_ratio, and the verdict is moved ("slower"/"faster") where the printed 95%
// interval excludes 1 and "unclear" where it holds 1. Returns the moved points.
static int expect_verdicts_follow_intervals(const tu_run *r, double want_ratio, const char *moved) {
    int rows = 0, n_moved = 0;
    for (const char *line = r->out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        int batch;
        double base, neu, ratio, lo, hi, change;
        char verdict[32];
        if (sscanf(line, "| %d | %lf | %lf | %lf | [%lf, %lf] | %lf%% | %31s |", &batch, &base, &neu, &ratio, &lo,
                   &hi, &change, verdict) != 8)
            continue;
        rows++;
        cr_assert_float_eq(ratio, want_ratio, 0.0006, "ratio %g, want %g:\n%s", ratio, want_ratio, r->out);
        cr_assert(lo <= ratio && ratio <= hi, "the interval holds its ratio:\n%s", r->out);
        bool excludes_one = hi < 1 || lo > 1;
        cr_assert_str_eq(verdict, excludes_one ? moved : "unclear", "batch %d, interval [%g, %g]:\n%s", batch, lo,
                         hi, r->out);
        n_moved += excludes_one;
    }
    cr_assert_eq(rows, 2, "two points in the table:\n%s\n%s", r->out, r->err);
    return n_moved;
}

// Whether no point of compare's table was flagged as a change (exit status 0,
// every point "same" or, where the repetitions were too noisy to tell, "unclear").
static bool no_change_flagged(const tu_run *r) {
    return r->status == 0 && strstr(r->out, " 0 faster, 0 slower,") && strstr(r->out, " 0 not compared");
}

// The repetitions of doc with index % 2 == parity (every sample array split the
// same way), their statistics recomputed: half of one run, as a document.
static cJSON *half_of_run(const cJSON *doc, int parity) {
    cJSON *h = cJSON_Duplicate(doc, 1);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(h, "points")) {
        cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(pt, "samples")) {
            int n = cJSON_GetArraySize(m), kept = 0;
            for (int i = 0; i < n; i++) {
                if (i % 2 == parity) {
                    kept++;
                    continue;
                }
                cJSON_DeleteItemFromArray(m, kept);
            }
        }
        is_results_point_finish((cJSON *)pt, 1);
    }
    return h;
}

Test(bench_cli, compare_same_build_is_same_and_scaled_is_slower, .timeout = 900) {
    char dir[256], a[512], ja[600], je[600], jo[600], jc[600];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(ja, sizeof ja, "%s/results.json", a);
    // The same build measured twice must never be flagged "slower" or "faster" at
    // ci/perf-gate's threshold (10%); "unclear" is the honest verdict where the
    // repetitions scatter more than that. Two runs back to back do not show it on the shared 2-vCPU machine the
    // tests run on: there a whole run shifts against the next by up to 17% now and
    // then (both points of a clean-clone CI run came out 0.833 against the run
    // before), which no interval from inside one run can see. So the two "runs" are
    // the even and the odd repetitions of one run, interleaved in time: a shift of
    // the machine falls on both alike, what is left is the repetitions' own noise,
    // and a compare that flags them (intervals too narrow for that noise, points
    // matched wrongly, the ratio inverted) fails.
    tu_run r = smoke(a, "20");
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "peak bandwidth") && strstr(r.err, "GB/s"), "the probe is printed: %s", r.err);
    tu_run_free(&r);
    cJSON *doc = load_results(a);
    cJSON *even = half_of_run(doc, 0), *odd = half_of_run(doc, 1);
    const cJSON *pt;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(odd, "points"))
        cr_assert_geq(array_len(pt, "samples", "decode_tps"), 10, "each half holds 10 repetitions or more");
    char *text = is_results_to_json(even);
    tu_write_file(dir, "even.json", text, strlen(text));
    free(text);
    text = is_results_to_json(odd);
    tu_write_file(dir, "odd.json", text, strlen(text));
    free(text);
    cJSON_Delete(even);
    cJSON_Delete(odd);
    snprintf(je, sizeof je, "%s/even.json", dir);
    snprintf(jo, sizeof jo, "%s/odd.json", dir);
    const char *cmp[] = {"compare", je, jo, "--threshold", "10", NULL};
    r = tu_run_cli(cmp);
    cr_assert(no_change_flagged(&r), "the two halves of one run are flagged as a change:\n%s\n%s", r.out, r.err);
    tu_run_free(&r);

    // MBU and MFU exist and are fractions of the measured ceilings. MFU is taken
    // against the compute peak of the unit the matmul runs on, which no prefill can
    // pass but by the noise of the measurements, whichever matmul kernel this
    // machine's libraries and CPU pick (against the engine's own matmul rate it
    // read 237% on a CPU where OpenBLAS fell back to a generic kernel). MBU can pass
    // 100% where the model's bytes come from cache, not from memory.
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(pt, "derived");
        double mbu = cJSON_GetObjectItemCaseSensitive(d, "mbu")->valuedouble;
        double mfu = cJSON_GetObjectItemCaseSensitive(d, "mfu")->valuedouble;
        cr_assert(mbu > 0 && mbu < 2 && mfu > 0 && mfu <= 1 + IS_PEAK_NOISE, "mbu %g mfu %g", mbu, mfu);
    }

    // timings x 1.2: every ratio is exactly 1/1.2 (both medians come from the same
    // samples), and each point's verdict is the one its own interval allows: "slower"
    // where the 95% interval lies below 1, "unclear" where this run's repetitions were
    // too noisy for the interval to exclude 1 (a clean-clone CI run gave [0.616, 1.127]
    // at batch 1), never "same" or "faster". That compare does flag a 20% change when
    // the noise allows it is tested on samples of known spread in test_compare.
    scale_timings(doc, 1.2);
    text = is_results_to_json(doc);
    tu_write_file(dir, "scaled.json", text, strlen(text));
    free(text);
    snprintf(jc, sizeof jc, "%s/scaled.json", dir);
    const char *cmp2[] = {"compare", ja, jc, NULL};
    r = tu_run_cli(cmp2);
    int slower = expect_verdicts_follow_intervals(&r, 1 / 1.2, "slower");
    cr_assert_eq(r.status, slower ? 1 : 0, "exit 1 exactly when a point is slower\nstdout: %s\nstderr: %s", r.out,
                 r.err);
    tu_run_free(&r);
    // and the other way round: 1.2, "faster" where the interval lies above 1, exit 0
    const char *cmp3[] = {"compare", jc, ja, NULL};
    r = tu_run_cli(cmp3);
    expect_verdicts_follow_intervals(&r, 1.2, "faster");
    cr_assert_eq(r.status, 0, "%s", r.out);
    tu_run_free(&r);
    cJSON_Delete(doc);
    tu_rm_rf(dir);
}

// ---- resume -----------------------------------------------------------------------------------

// Points in dir/results.json, or -1 when it does not exist yet.
static int points_done(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    struct stat st;
    if (stat(path, &st)) return -1;
    cJSON *doc = load_results(dir); // must parse whenever it exists: written by rename
    int n = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "points"));
    cJSON_Delete(doc);
    return n;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

// Every configuration of the sweep exactly once.
static void expect_each_point_once(const char *dir, int n_points) {
    cJSON *doc = load_results(dir);
    const cJSON *pt;
    char keys[64][1024];
    int n = 0;
    cJSON_ArrayForEach(pt, cJSON_GetObjectItemCaseSensitive(doc, "points")) {
        cr_assert_lt(n, 64);
        cr_assert_eq(is_results_point_key(pt, keys[n], sizeof keys[n]), 0);
        for (int j = 0; j < n; j++) cr_assert_str_neq(keys[j], keys[n], "point twice: %s", keys[n]);
        cr_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(pt, "status")), "ok");
        n++;
    }
    cr_assert_eq(n, n_points);
    cJSON_Delete(doc);
}

static void resume_after(int sig) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    // 8 points of about 0.3 s each
    const char *args[] = {"bench", "--model", "preset:tiny", "-b", "1,2", "-p", "8,16", "-n", "4,6", "-r", "3",
                          "--max-time", "0.3", "--max-noise", "0", "--threads", "1", "--no-probe",
                          "--out", out, NULL};
    pid_t pid = tu_spawn_cli(args, NULL);
    int done = -1;
    for (int t = 0; t < 3000 && done < 2; t++) { // until two points are on disk (30 s at most)
        sleep_ms(10);
        done = points_done(out);
    }
    cr_assert_geq(done, 2, "the sweep did not get going");
    kill(pid, sig);
    int st;
    waitpid(pid, &st, 0);
    if (sig == SIGKILL) cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    else cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 130, "Ctrl-C: exit 130, got status %d", st);
    int after_kill = points_done(out);
    cr_assert(after_kill >= 2 && after_kill < 8, "%d points after the signal", after_kill);
    bool tmp;
    dir_count(out, &tmp);
    if (sig != SIGKILL) cr_assert(!tmp, "no temporary file after Ctrl-C");

    const char *resume[] = {"bench", "--model", "preset:tiny", "-b", "1,2", "-p", "8,16", "-n", "4,6", "-r", "3",
                            "--max-time", "0.3", "--max-noise", "0", "--threads", "1", "--no-probe",
                            "--out", out, "--resume", NULL};
    tu_run r = tu_run_cli(resume);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert(strstr(r.err, "resuming"), "%s", r.err);
    expect_each_point_once(out, 8);
    tu_run_free(&r);

    // a resume with another sweep is refused
    const char *other[] = {"bench", "--model", "preset:tiny", "-b", "1", "-p", "8", "-n", "4", "--no-probe",
                           "--threads", "1", "--out", out, "--resume", NULL};
    r = tu_run_cli(other);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "another sweep"), "%s", r.err);
    expect_each_point_once(out, 8);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(bench_cli, resume_after_kill, .timeout = 300) { resume_after(SIGKILL); }
Test(bench_cli, resume_after_ctrl_c, .timeout = 300) { resume_after(SIGINT); }

// ---- bad input ----------------------------------------------------------------------------------

Test(bench_cli, bad_input_clear_errors_and_no_files) {
    char dir[256], out[512];
    tu_mkdtemp(dir, sizeof dir);
    snprintf(out, sizeof out, "%s/run", dir);
    struct {
        const char *flag, *value, *needle;
        int status;
    } cases[] = {
        {"-b", "", "empty list", 2},
        {"-b", "1,,2", "empty item", 2},
        {"-p", "2048-128*2", "produces no values", 2},
        {"-p", "x", "not a number", 2},
        {"-n", "0", "outside", 2},
        {"--strategy", "beem", "unknown strategy", 2},
        {"--strategy", "sample:t=1,z=2", "unknown key", 2},
        {"--kernel", "matmul=nope", "no variant 'nope'", 2},
        {"--kernel", "attention=x", "no op 'attention'", 2},
        {"-p", "600", "max_position_embeddings", 2}, // preset:tiny's context is 512
        {"--format", "pdf", "expected md, csv, json or html", 2},
        {"--max-noise", "-1", "--max-noise", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"bench", "--model", "preset:tiny", "-n", "2", "--no-probe", "--out", out,
                              cases[i].flag, cases[i].value, NULL};
        tu_run r = tu_run_cli(args);
        cr_assert_eq(r.status, cases[i].status, "%s '%s': status %d, stderr %s", cases[i].flag, cases[i].value,
                     r.status, r.err);
        cr_assert(strstr(r.err, cases[i].needle), "%s '%s': '%s' lacks '%s'", cases[i].flag, cases[i].value, r.err,
                  cases[i].needle);
        cr_assert_eq(dir_count(out, NULL), -1, "%s '%s' created the output directory", cases[i].flag, cases[i].value);
        tu_run_free(&r);
    }
    // an output directory that cannot be created (its parent is a file)
    tu_write_file(dir, "file", "x", 1);
    char bad_out[600];
    snprintf(bad_out, sizeof bad_out, "%s/file/run", dir);
    const char *args[] = {"bench", "--model", "preset:tiny", "-p", "4", "-n", "2", "--no-probe", "--out", bad_out, NULL};
    tu_run r = tu_run_cli(args);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, bad_out), "names the directory: %s", r.err);
    tu_run_free(&r);
    // unknown model
    const char *args2[] = {"bench", "--model", "preset:nope", "--no-probe", NULL};
    r = tu_run_cli(args2);
    cr_assert_eq(r.status, 1);
    cr_assert(strstr(r.err, "nope"), "%s", r.err);
    tu_run_free(&r);
    tu_rm_rf(dir);
}

Test(bench_cli, compare_bad_input) {
    char dir[256], p_notjson[600], p_v2[600], p_missing[600], p_a[600], p_b[600];
    tu_mkdtemp(dir, sizeof dir);
    tu_write_file(dir, "not.json", "{\"schema\": ", 11);
    snprintf(p_notjson, sizeof p_notjson, "%s/not.json", dir);
    snprintf(p_missing, sizeof p_missing, "%s/missing.json", dir);
    // two small real result files of different models, and one of another schema version
    char out_a[512], out_b[512];
    snprintf(out_a, sizeof out_a, "%s/a", dir);
    snprintf(out_b, sizeof out_b, "%s/b", dir);
    const char *ra[] = {"bench", "--model", "preset:tiny", "-p", "4", "-n", "2", "-r", "2", "--no-probe",
                        "--threads", "1", "--out", out_a, NULL};
    tu_run r = tu_run_cli(ra);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    const char *rb[] = {"bench", "--model", "preset:smollm2-135m", "-p", "4", "-n", "2", "-r", "2", "--no-probe",
                        "--threads", "1", "--out", out_b, NULL};
    r = tu_run_cli(rb);
    cr_assert_eq(r.status, 0, "%s", r.err);
    tu_run_free(&r);
    snprintf(p_a, sizeof p_a, "%s/results.json", out_a);
    snprintf(p_b, sizeof p_b, "%s/results.json", out_b);
    cJSON *doc = load_results(out_a);
    cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(doc, "schema_version"), 2);
    char *text = cJSON_Print(doc);
    tu_write_file(dir, "v2.json", text, strlen(text));
    free(text);
    cJSON_Delete(doc);
    snprintf(p_v2, sizeof p_v2, "%s/v2.json", dir);

    struct {
        const char *base, *nw, *extra, *needle;
    } cases[] = {
        {p_notjson, p_a, NULL, "not JSON"},
        {p_a, p_v2, NULL, "schema_version"},
        {p_a, p_missing, NULL, "missing.json"},
        {p_a, p_b, NULL, "preset:smollm2-135m"},
        {p_a, p_a, "--metric", "--metric"},
        {p_a, p_a, "--threshold", "--threshold"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = {"compare", cases[i].base, cases[i].nw, cases[i].extra,
                              cases[i].extra ? (strcmp(cases[i].extra, "--metric") ? "0" : "nope") : NULL, NULL};
        r = tu_run_cli(args);
        cr_assert_eq(r.status, 2, "case %zu: status %d, %s", i, r.status, r.err);
        cr_assert(strstr(r.err, cases[i].needle), "case %zu: '%s' lacks '%s'", i, r.err, cases[i].needle);
        tu_run_free(&r);
    }
    // a file against itself: same, exit 0
    const char *self[] = {"compare", p_a, p_a, NULL};
    r = tu_run_cli(self);
    cr_assert_eq(r.status, 0, "%s %s", r.out, r.err);
    cr_assert(strstr(r.out, "same"), "%s", r.out);
    tu_run_free(&r);
    tu_rm_rf(dir);
}
