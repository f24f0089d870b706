// cmd_merge.c — `inferscope merge --out OUT.json RUN.json...`: result files of
// repeated runs of one sweep merged into one (reports/merge.h), each point's
// samples in run order, for `compare --paired` (ci/perf-gate --base).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "app/app.h"          // defines: is_app_usage, IS_EXIT_USAGE
#include "base/error.h"       // defines: is_xcalloc
#include "base/fileio.h"      // defines: is_write_file_atomic
#include "reports/compare.h"  // defines: IS_COMPARE_SEED
#include "reports/merge.h"    // defines: is_results_merge
#include "reports/results.h"  // defines: is_results_load, is_results_to_json

static void usage(FILE *f) {
    fprintf(f, "usage: inferscope merge --out OUT.json [--force] RUN.json...\n"
               "  Merges the results.json files of repeated runs of one sweep (bench or kernels, run with a\n"
               "  fixed repetition count: bench -r N --max-reps N, kernels -r N --max-time 0) into one\n"
               "  document: each point holds every run's samples in the order of the files, its statistics\n"
               "  over all of them, \"runs\" at the top and each run's machine-noise record in env.runs_noise.\n"
               "  compare --paired judges two such files run by run (ci/perf-gate --base writes them).\n"
               "  --out FILE   the merged document (written whole, through a temporary name)\n"
               "  --force      replace FILE when it exists\n"
               "exit status: 0 written, 1 the runs do not merge, 2 bad usage or an unreadable file\n");
}

int is_cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    int force = 0, n = 0;
    const char **files = is_xcalloc((size_t)argc + 1, sizeof *files);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--out")) {
            if (i + 1 >= argc) {
                free(files);
                return is_app_usage("merge", "--out needs a file");
            }
            out = argv[++i];
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (a[0] == '-' && a[1]) {
            free(files);
            return is_app_usage("merge", "unknown flag '%s'", a);
        } else {
            files[n++] = a;
        }
    }
    if (!out || n == 0) {
        free(files);
        return is_app_usage("merge", "%s", !out ? "--out FILE is required" : "no run files to merge");
    }
    if (n > IS_RESULTS_MAX_RUNS) {
        free(files);
        return is_app_usage("merge", "%d runs: at most %d merge", n, IS_RESULTS_MAX_RUNS);
    }
    struct stat st;
    if (!force && stat(out, &st) == 0) {
        free(files);
        fprintf(stderr, "inferscope merge: %s exists: pass --force to replace it\n", out);
        return IS_EXIT_USAGE;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(files[i], out)) {
            free(files);
            return is_app_usage("merge", "--out %s is one of the runs", out);
        }
    cJSON **runs = is_xcalloc((size_t)n, sizeof *runs);
    is_err err;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (is_results_load(files[i], &runs[i], &err)) {
            fprintf(stderr, "inferscope merge: %s\n", err.msg);
            rc = IS_EXIT_USAGE;
        }
    cJSON *doc = NULL;
    if (rc == 0 && is_results_merge((const cJSON *const *)runs, files, n, IS_COMPARE_SEED, &doc, &err)) {
        fprintf(stderr, "inferscope merge: %s\n", err.msg);
        rc = 1;
    }
    if (rc == 0) {
        char *text = is_results_to_json(doc);
        if (is_write_file_atomic(out, text, strlen(text), &err)) {
            fprintf(stderr, "inferscope merge: %s\n", err.msg);
            rc = 1;
        } else {
            fprintf(stderr, "merge: %d runs into %s\n", n, out);
        }
        free(text);
    }
    cJSON_Delete(doc);
    for (int i = 0; i < n; i++) cJSON_Delete(runs[i]);
    free(runs);
    free(files);
    return rc;
}
