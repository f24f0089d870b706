// merge.c — result files of repeated runs merged into one document (merge.h).
#include "reports/merge.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/results.h" // defines: is_results_point_key, is_results_point_finish, is_results_point_ok, ...
#include "reports/text.h"    // defines: is_json_get, is_json_str, is_json_num

int is_results_runs(const cJSON *doc) {
    const cJSON *r = is_json_get(doc, "runs"); // validated: an integer in [1, IS_RESULTS_MAX_RUNS]
    return cJSON_IsNumber(r) && r->valuedouble >= 1 && r->valuedouble <= IS_RESULTS_MAX_RUNS ? (int)r->valuedouble : 1;
}

// The point of run whose key is key, not used yet (a key that repeats matches its
// occurrences in order); NULL when none.
static cJSON *find_point(const cJSON *run, const char *key, bool *used) {
    int i = 0;
    cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(run, "points")) {
        char k[1024];
        if (!used[i] && is_results_point_key(p, k, sizeof k) == 0 && strcmp(k, key) == 0) {
            used[i] = true;
            return p;
        }
        i++;
    }
    return NULL;
}

static void add_number(cJSON *p, const char *key, double v) {
    cJSON *x = cJSON_GetObjectItem(p, key);
    if (cJSON_IsNumber(x)) cJSON_SetNumberValue(x, x->valuedouble + v);
}

// Appends run point q's samples to merged point p (a copy of the first run's):
// same metrics, same counts per metric as the first run's.
static int append_samples(cJSON *p, const cJSON *first, const cJSON *q, const char *run, const char *key,
                          bool serve, is_err *err) {
    const cJSON *sf = is_json_get(first, "samples"), *sq = is_json_get(q, "samples");
    cJSON *sp = cJSON_GetObjectItem(p, "samples");
    const cJSON *m;
    cJSON_ArrayForEach(m, sf) {
        const cJSON *a = is_json_get(sq, m->string);
        int nf = cJSON_GetArraySize(m), nq = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
        if (nf != nq)
            return is_errf(err, "%s: point %s has %d %s samples, the first run %d: merge needs runs of fixed "
                                "repetitions %s",
                           run, key, nq, m->string, nf,
                           serve ? "replaying one workload (the same requests and output lengths in every run)"
                                 : "(bench -r N --max-reps N; kernels -r N --max-time 0)");
        cJSON *dst = cJSON_GetObjectItem(sp, m->string);
        const cJSON *v;
        cJSON_ArrayForEach(v, a) cJSON_AddItemToArray(dst, cJSON_CreateNumber(v->valuedouble));
    }
    cJSON_ArrayForEach(m, sq)
        if (!is_json_get(sf, m->string))
            return is_errf(err, "%s: point %s has %s samples, the first run none", run, key, m->string);
    add_number(p, "reps", is_json_num(q, "reps"));
    add_number(p, "elapsed_s", is_json_num(q, "elapsed_s"));
    return 0;
}

static void make_error(cJSON *p, const char *run, const cJSON *q) {
    const char *e = is_json_str(q, "error");
    char msg[1024];
    snprintf(msg, sizeof msg, "%s: %s", run, e ? e : "failed");
    cJSON_ReplaceItemInObject(p, "status", cJSON_CreateString("error"));
    cJSON_DeleteItemFromObject(p, "error");
    cJSON_AddStringToObject(p, "error", msg);
    cJSON_DeleteItemFromObject(p, "samples");
    cJSON_DeleteItemFromObject(p, "stats");
}

// serve and timeseries: a serve point's last repetition
static const char *const one_run_parts[] = {"stop",     "noise",  "derived", "telemetry", "kernel_table",
                                            "counters", "winner", "serve",   "timeseries"};

static int check_runs(const cJSON *const *runs, const char *const *names, int n, is_err *err) {
    is_results_kind kind = is_results_kind_of(runs[0]);
    const char *model = is_json_str(is_json_get(runs[0], "sweep"), "model");
    for (int r = 0; r < n; r++) {
        if (is_json_get(runs[r], "runs"))
            return is_errf(err, "%s holds %d merged runs already: merge the files of single runs", names[r],
                           is_results_runs(runs[r]));
        if (is_results_kind_of(runs[r]) != kind)
            return is_errf(err, "%s is a %s result, %s a %s result: only results of one command merge", names[r],
                           is_results_kind_name(is_results_kind_of(runs[r])), names[0], is_results_kind_name(kind));
        const char *m = is_json_str(is_json_get(runs[r], "sweep"), "model");
        if ((m || model) && (!m || !model || strcmp(m, model) != 0))
            return is_errf(err, "%s measures %s, %s measures %s: only runs of one sweep merge", names[r],
                           m ? m : "an unnamed model", names[0], model ? model : "an unnamed model");
    }
    return 0;
}

int is_results_merge(const cJSON *const *runs, const char *const *names, int n, uint64_t seed, cJSON **out,
                     is_err *err) {
    *out = NULL;
    IS_ASSERT(n >= 1);
    if (check_runs(runs, names, n, err)) return -1;
    cJSON *doc = cJSON_Duplicate(runs[0], true);
    bool **used = is_xcalloc((size_t)n, sizeof *used);
    for (int r = 0; r < n; r++)
        used[r] = is_xcalloc((size_t)cJSON_GetArraySize(is_json_get(runs[r], "points")) + 1, sizeof **used);
    int rc = 0;
    bool serve = is_results_is_serve(runs[0]);
    cJSON *p;
    int i = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(doc, "points")) {
        char key[1024];
        if (is_results_point_key(p, key, sizeof key)) {
            rc = is_errf(err, "%s: points[%d]: configuration too long to merge", names[0], i);
            break;
        }
        const cJSON *first = find_point(runs[0], key, used[0]);
        for (size_t k = 0; k < sizeof one_run_parts / sizeof one_run_parts[0]; k++)
            cJSON_DeleteItemFromObject(p, one_run_parts[k]);
        bool ok = is_results_point_ok(first);
        for (int r = 1; r < n && rc == 0; r++) {
            const cJSON *q = find_point(runs[r], key, used[r]);
            if (!q) {
                rc = is_errf(err, "%s has no point %s, which %s has: only runs of one sweep merge", names[r], key,
                             names[0]);
            } else if (ok && !is_results_point_ok(q)) {
                make_error(p, names[r], q);
                ok = false;
            } else if (ok) {
                rc = append_samples(p, first, q, names[r], key, serve, err);
            }
        }
        if (rc) break;
        if (ok) is_results_point_finish(p, seed);
        i++;
    }
    for (int r = 1; r < n && rc == 0; r++) {
        int nr = cJSON_GetArraySize(is_json_get(runs[r], "points"));
        for (int k = 0; k < nr; k++)
            if (!used[r][k]) {
                char key[1024] = "?";
                is_results_point_key(cJSON_GetArrayItem(is_json_get(runs[r], "points"), k), key, sizeof key);
                rc = is_errf(err, "%s has a point %s that %s has not: only runs of one sweep merge", names[r], key,
                             names[0]);
                break;
            }
    }
    for (int r = 0; r < n; r++) free(used[r]);
    free(used);
    if (rc) {
        cJSON_Delete(doc);
        return -1;
    }
    cJSON *env = cJSON_GetObjectItem(doc, "env");
    if (!cJSON_IsObject(env)) {
        cJSON_DeleteItemFromObject(doc, "env");
        env = cJSON_AddObjectToObject(doc, "env");
    }
    cJSON *noise = cJSON_AddArrayToObject(env, "runs_noise");
    for (int r = 0; r < n; r++) {
        const cJSON *x = is_json_get(is_json_get(runs[r], "env"), "noise");
        cJSON_AddItemToArray(noise, x ? cJSON_Duplicate(x, true) : cJSON_CreateNull());
    }
    cJSON_AddNumberToObject(doc, "runs", n);
    *out = doc;
    return 0;
}
