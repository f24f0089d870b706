// results.c — the result document of `inferscope bench` (and of `inferscope
// kernels` and `inferscope serve-bench`): metric definitions, statistics of each
// point, validation of a loaded file, and the three text forms (JSON with every
// raw sample, CSV with one row per point, a Markdown report); the writers of
// kernels and serve documents at the end of the file.
#include "reports/results.h"
#include "base/stats.h"   // defines: is_stats_compute, is_stats
#include "base/fileio.h" // defines: is_read_file, is_write_file_atomic, is_write_file_atomic_clean
#include "reports/text.h"   // defines: is_strbuf, is_sb_printf, is_json_get, is_md_table, ...
#include "reports/profile_md.h" // defines: is_results_profile_md
#include "reports/telemetry.h"  // defines: is_telemetry_read, is_telemetry_any, is_telemetry_md
#include "reports/html.h"       // defines: is_results_to_html

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef IS_VERSION
#define IS_VERSION "0.0.0-unknown"
#endif

// A results.json holds every raw sample: long sweeps of per-request metrics make
// it large, but never this large.
#define IS_RESULTS_MAX_BYTES ((size_t)1 << 30)

const is_metric_def is_metric_defs[] = {
    {"ttft_ms", "ms", false, true,
     "time to first token: t_first - t_submit (tokenize + queue + prefill + first sample), per request"},
    {"tpot_ms", "ms", false, true, "time per output token: (t_done - t_first) / (n_out - 1), per request"},
    {"itl_ms", "ms", false, true,
     "inter-token latency: every gap t_(i+1) - t_i, pooled over all requests"},
    {"e2e_ms", "ms", false, true, "end to end: t_done - t_submit, per request"},
    {"prefill_ms", "ms", false, false, "device time of the prefill range alone, per repetition"},
    {"decode_ms", "ms", false, false,
     "decode wall time, from the first generated token to the last, per repetition"},
    {"prefill_tps", "tok/s", true, false, "prompt tokens / prefill time, summed over the batch, per repetition"},
    {"decode_tps", "tok/s", true, false,
     "generated tokens after the first / decode wall time, summed over the batch, per repetition"},
};
const int is_metric_n_defs = (int)(sizeof is_metric_defs / sizeof is_metric_defs[0]);

const is_metric_def is_kernel_metric_defs[] = {
    {"time_us", "us", false, false,
     "one call of the op: device time (backend timer) or host time sync to sync, cache flushed before, per sample"},
};
const int is_kernel_metric_n_defs = (int)(sizeof is_kernel_metric_defs / sizeof is_kernel_metric_defs[0]);

const is_metric_def is_serve_metric_defs[] = {
    {"queue_ms", "ms", false, true, "queue time: first scheduled - arrival, per request"},
    {"ttft_ms", "ms", false, true,
     "time to first token: first token on the host - arrival (queue + tokenize + prefill + first sample), per request"},
    {"tpot_ms", "ms", false, true,
     "time per output token: (done - first) / (n_out - 1), per request with >= 2 tokens"},
    {"itl_ms", "ms", false, true, "inter-token latency: every gap between consecutive tokens, pooled over requests"},
    {"e2e_ms", "ms", false, true, "end to end: done - arrival, per request"},
    {"req_per_s", "req/s", true, false, "finished requests / duration (last done - first arrival), per repetition"},
    {"in_tps", "tok/s", true, false, "prompt tokens / duration, per repetition"},
    {"out_tps", "tok/s", true, false, "generated tokens / duration, per repetition"},
    {"goodput", "req/s", true, false, "requests meeting every SLO / duration, per repetition"},
    {"ttft_p99_ms", "ms", false, false, "99th percentile of TTFT over the repetition's requests, per repetition"},
    {"tpot_p99_ms", "ms", false, false, "99th percentile of TPOT over the repetition's requests, per repetition"},
    {"sched_share", "fraction", false, false, "the scheduler's own time / step time, per repetition"},
};
const int is_serve_metric_n_defs = (int)(sizeof is_serve_metric_defs / sizeof is_serve_metric_defs[0]);

const is_metric_def *is_results_metric_defs(is_results_kind kind, int *n) {
    switch (kind) {
    case IS_RESULTS_KIND_KERNELS: *n = is_kernel_metric_n_defs; return is_kernel_metric_defs;
    case IS_RESULTS_KIND_SERVE: *n = is_serve_metric_n_defs; return is_serve_metric_defs;
    case IS_RESULTS_KIND_BENCH: break;
    }
    *n = is_metric_n_defs;
    return is_metric_defs;
}

const is_metric_def *is_metric_find_for(is_results_kind kind, const char *name) {
    if (!name) return NULL;
    int n;
    const is_metric_def *defs = is_results_metric_defs(kind, &n);
    for (int i = 0; i < n; i++)
        if (strcmp(defs[i].name, name) == 0) return &defs[i];
    return NULL;
}

const is_metric_def *is_metric_find(const char *name) {
    static const is_results_kind order[] = {IS_RESULTS_KIND_BENCH, IS_RESULTS_KIND_KERNELS, IS_RESULTS_KIND_SERVE};
    for (int k = 0; k < 3; k++) {
        const is_metric_def *m = is_metric_find_for(order[k], name);
        if (m) return m;
    }
    return NULL;
}

// ---- the configuration of a point --------------------------------------------

// A point's own kind: "kernel", "serve", or none (bench).
static is_results_kind point_kind(const cJSON *point) {
    const char *k = is_json_str(point, "kind");
    if (k && strcmp(k, "kernel") == 0) return IS_RESULTS_KIND_KERNELS;
    if (k && strcmp(k, "serve") == 0) return IS_RESULTS_KIND_SERVE;
    return IS_RESULTS_KIND_BENCH;
}

const is_schema_field *is_results_config_fields(is_results_kind kind, int *n) {
    switch (kind) {
    case IS_RESULTS_KIND_KERNELS: *n = is_schema_n_kernel_fields; return is_schema_kernel_fields;
    case IS_RESULTS_KIND_SERVE: *n = is_schema_n_serve_fields; return is_schema_serve_fields;
    case IS_RESULTS_KIND_BENCH: break;
    }
    *n = is_schema_n_bench_fields;
    return is_schema_bench_fields;
}

is_results_kind is_results_kind_of(const cJSON *doc) {
    const char *k = is_json_str(doc, "kind");
    if (k && strcmp(k, "kernels") == 0) return IS_RESULTS_KIND_KERNELS;
    if (k && strcmp(k, "serve") == 0) return IS_RESULTS_KIND_SERVE;
    return IS_RESULTS_KIND_BENCH;
}

const char *is_results_kind_name(is_results_kind kind) {
    switch (kind) {
    case IS_RESULTS_KIND_KERNELS: return "kernels";
    case IS_RESULTS_KIND_SERVE: return "serve";
    case IS_RESULTS_KIND_BENCH: break;
    }
    return "bench";
}

bool is_results_is_kernels(const cJSON *doc) { return is_results_kind_of(doc) == IS_RESULTS_KIND_KERNELS; }

bool is_results_is_serve(const cJSON *doc) { return is_results_kind_of(doc) == IS_RESULTS_KIND_SERVE; }

const char *is_results_kind_default_metric(is_results_kind kind) {
    switch (kind) {
    case IS_RESULTS_KIND_KERNELS: return "time_us";
    case IS_RESULTS_KIND_SERVE: return "out_tps";
    case IS_RESULTS_KIND_BENCH: break;
    }
    return "decode_tps";
}

const char *is_results_default_metric(const cJSON *doc) { return is_results_kind_default_metric(is_results_kind_of(doc)); }

// The writers of a kernels document and of a serve document (the end of this file).
static char *kernels_to_csv(const cJSON *doc);
static char *kernels_to_md(const cJSON *doc);
static char *serve_to_csv(const cJSON *doc);
static char *serve_to_md(const cJSON *doc);

// ---- reading fields ------------------------------------------------------------

// A field of point["stats"][metric], or NaN. field "ci_lo" / "ci_hi" read "ci95".
static double stat_get(const cJSON *point, const char *metric, const char *field) {
    const cJSON *s = is_json_get(is_json_get(point, "stats"), metric);
    if (strcmp(field, "ci_lo") == 0 || strcmp(field, "ci_hi") == 0) {
        const cJSON *ci = is_json_get(s, "ci95");
        if (!cJSON_IsArray(ci) || cJSON_GetArraySize(ci) != 2) return NAN;
        const cJSON *v = cJSON_GetArrayItem(ci, field[3] == 'l' ? 0 : 1);
        return cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    return is_json_num(s, field);
}

// The shortest of %.15g and %.17g that reads back as x; integers without a point.
static void fmt_num(char *buf, size_t n, double x) {
    if (!isfinite(x)) {
        buf[0] = 0;
        return;
    }
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(buf, n, "%.0f", x);
        return;
    }
    snprintf(buf, n, "%.15g", x);
    if (strtod(buf, NULL) != x) snprintf(buf, n, "%.17g", x);
}

// A config value as text ("" when absent).
static void cfg_text(const cJSON *config, const is_schema_field *f, char *buf, size_t n) {
    const cJSON *v = is_json_get(config, f->name);
    if (cJSON_IsString(v)) snprintf(buf, n, "%s", v->valuestring);
    else if (cJSON_IsNumber(v)) fmt_num(buf, n, v->valuedouble);
    else if (n) buf[0] = 0;
}

// ---- the document --------------------------------------------------------------

cJSON *is_results_new(cJSON *env, cJSON *sweep, cJSON *probes) {
    cJSON *doc = cJSON_CreateObject();
    IS_ASSERT(doc);
    cJSON_AddStringToObject(doc, "schema", IS_RESULTS_SCHEMA);
    cJSON_AddNumberToObject(doc, "schema_version", IS_RESULTS_SCHEMA_VERSION);
    cJSON_AddStringToObject(doc, "inferscope_version", IS_VERSION);
    cJSON_AddItemToObject(doc, "env", env ? env : cJSON_CreateObject());
    cJSON_AddItemToObject(doc, "sweep", sweep ? sweep : cJSON_CreateObject());
    cJSON_AddItemToObject(doc, "probes", probes ? probes : cJSON_CreateObject());
    cJSON_AddItemToObject(doc, "points", cJSON_CreateArray());
    return doc;
}

static cJSON *stats_to_json(const is_stats *s) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n", s->n);
    cJSON_AddNumberToObject(o, "median", s->median);
    cJSON_AddNumberToObject(o, "mean", s->mean);
    cJSON_AddNumberToObject(o, "stddev", s->stddev);
    cJSON_AddNumberToObject(o, "min", s->min);
    cJSON_AddNumberToObject(o, "max", s->max);
    cJSON_AddNumberToObject(o, "p50", s->p50);
    cJSON_AddNumberToObject(o, "p90", s->p90);
    cJSON_AddNumberToObject(o, "p99", s->p99);
    double ci[2] = {s->ci_lo, s->ci_hi};
    cJSON_AddItemToObject(o, "ci95", cJSON_CreateDoubleArray(ci, 2));
    return o;
}

void is_results_point_finish(cJSON *point, uint64_t seed) {
    IS_ASSERT(cJSON_IsObject(point));
    cJSON *stats = cJSON_CreateObject();
    cJSON *samples = cJSON_GetObjectItemCaseSensitive(point, "samples");
    if (!cJSON_IsObject(samples)) samples = NULL;
    cJSON *arr;
    cJSON_ArrayForEach(arr, samples) {
        if (!cJSON_IsArray(arr)) continue;
        // JSON cannot hold NaN or infinity (cJSON would print null): such values
        // (the TPOT of a one-token request) are no sample, and are dropped
        for (cJSON *v = arr->child, *next; v; v = next) {
            next = v->next;
            if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) cJSON_Delete(cJSON_DetachItemViaPointer(arr, v));
        }
        int n = cJSON_GetArraySize(arr);
        if (n == 0) continue;
        double *x = is_xmalloc((size_t)n * sizeof *x);
        int k = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, arr) x[k++] = v->valuedouble;
        is_stats s;
        is_stats_compute(x, k, seed, &s);
        free(x);
        cJSON_AddItemToObject(stats, arr->string, stats_to_json(&s));
    }
    if (cJSON_HasObjectItem(point, "stats")) cJSON_ReplaceItemInObjectCaseSensitive(point, "stats", stats);
    else cJSON_AddItemToObject(point, "stats", stats);
}

int is_results_point_key(const cJSON *point, char *buf, size_t n) {
    const cJSON *config = is_json_get(point, "config");
    int n_fields;
    const is_schema_field *fields = is_results_config_fields(point_kind(point), &n_fields);
    size_t used = 0;
    if (n) buf[0] = 0;
    for (int i = 0; i < n_fields; i++) {
        const cJSON *v = is_json_get(config, fields[i].name);
        if (fields[i].is_string ? !cJSON_IsString(v) : !cJSON_IsNumber(v)) return -1;
        char val[256];
        cfg_text(config, &fields[i], val, sizeof val);
        int k = snprintf(buf + used, n - used, "%s%s=%s", i ? ";" : "", fields[i].name,
                         cJSON_IsString(v) ? v->valuestring : val);
        if (k < 0 || (size_t)k >= n - used) return -1; // does not fit
        used += (size_t)k;
    }
    return 0;
}

// ---- validation ----------------------------------------------------------------


static bool is_count(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
           v->valuedouble == floor(v->valuedouble);
}

static int validate_config(const cJSON *config, is_results_kind kind, const char *src, int i, is_err *err) {
    char got[64];
    if (!cJSON_IsObject(config))
        return is_errf(err, "%s: points[%d].config: expected an object, got %s", src, i,
                       is_json_describe(config, got, sizeof got));
    int n_fields;
    const is_schema_field *fields = is_results_config_fields(kind, &n_fields);
    for (int f = 0; f < n_fields; f++) {
        const cJSON *v = is_json_get(config, fields[f].name);
        bool ok = fields[f].is_string ? cJSON_IsString(v) : is_count(v);
        if (!ok)
            return is_errf(err, "%s: points[%d].config.%s: expected %s, got %s", src, i, fields[f].name,
                           fields[f].is_string ? "a string" : "a non-negative integer",
                           is_json_describe(v, got, sizeof got));
    }
    return 0;
}

static bool is_finite_number(const cJSON *v) { return cJSON_IsNumber(v) && isfinite(v->valuedouble); }

static int validate_samples(const cJSON *samples, const char *src, int i, is_err *err) {
    char got[64];
    if (!cJSON_IsObject(samples))
        return is_errf(err, "%s: points[%d].samples: expected an object of arrays, got %s", src, i,
                       is_json_describe(samples, got, sizeof got));
    const cJSON *arr;
    cJSON_ArrayForEach(arr, samples) {
        if (!cJSON_IsArray(arr))
            return is_errf(err, "%s: points[%d].samples.%s: expected an array of numbers, got %s", src, i,
                           arr->string, is_json_describe(arr, got, sizeof got));
        int j = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, arr) {
            if (!is_finite_number(v))
                return is_errf(err, "%s: points[%d].samples.%s[%d]: expected a finite number, got %s", src, i,
                               arr->string, j, is_json_describe(v, got, sizeof got));
            j++;
        }
    }
    return 0;
}

static int validate_stats(const cJSON *stats, const char *src, int i, is_err *err) {
    static const char *const fields[] = {"n", "median", "mean", "stddev", "min", "max", "p50", "p90", "p99"};
    char got[64];
    if (!cJSON_IsObject(stats))
        return is_errf(err, "%s: points[%d].stats: expected an object, got %s", src, i,
                       is_json_describe(stats, got, sizeof got));
    const cJSON *s;
    cJSON_ArrayForEach(s, stats) {
        if (!cJSON_IsObject(s))
            return is_errf(err, "%s: points[%d].stats.%s: expected an object, got %s", src, i, s->string,
                           is_json_describe(s, got, sizeof got));
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            const cJSON *v = is_json_get(s, fields[f]);
            // finite: JSON's 1e999 reads as infinity, which no measurement gives
            if (!is_finite_number(v))
                return is_errf(err, "%s: points[%d].stats.%s.%s: expected a finite number, got %s", src, i,
                               s->string, fields[f], is_json_describe(v, got, sizeof got));
        }
        const cJSON *ci = is_json_get(s, "ci95");
        if (!cJSON_IsArray(ci) || cJSON_GetArraySize(ci) != 2 || !is_finite_number(cJSON_GetArrayItem(ci, 0)) ||
            !is_finite_number(cJSON_GetArrayItem(ci, 1)))
            return is_errf(err, "%s: points[%d].stats.%s.ci95: expected [lo, hi], two finite numbers, got %s", src,
                           i, s->string, is_json_describe(ci, got, sizeof got));
    }
    return 0;
}

static int validate_point(const cJSON *p, is_results_kind doc_kind, const char *src, int i, is_err *err) {
    char got[64];
    if (!cJSON_IsObject(p))
        return is_errf(err, "%s: points[%d]: expected an object, got %s", src, i, is_json_describe(p, got, sizeof got));
    // kernel points ("kind": "kernel") in a kernels document, serve points ("kind":
    // "serve") in a serve document, bench points (no kind) in a bench document
    static const char *const point_kinds[] = {[IS_RESULTS_KIND_BENCH] = "no kind",
                                              [IS_RESULTS_KIND_KERNELS] = "\"kernel\"",
                                              [IS_RESULTS_KIND_SERVE] = "\"serve\""};
    const cJSON *kind = is_json_get(p, "kind");
    bool kind_ok = doc_kind == IS_RESULTS_KIND_BENCH ? kind == NULL
                                                     : cJSON_IsString(kind) && point_kind(p) == doc_kind;
    if (!kind_ok)
        return is_errf(err, "%s: points[%d].kind: expected %s in a %s result file, got %s", src, i,
                       point_kinds[doc_kind], is_results_kind_name(doc_kind), is_json_describe(kind, got, sizeof got));
    if (validate_config(is_json_get(p, "config"), doc_kind, src, i, err)) return -1;
    const cJSON *status = is_json_get(p, "status");
    bool ok = cJSON_IsString(status) && strcmp(status->valuestring, "ok") == 0;
    bool failed = cJSON_IsString(status) && strcmp(status->valuestring, "error") == 0;
    if (!ok && !failed)
        return is_errf(err, "%s: points[%d].status: expected \"ok\" or \"error\", got %s", src, i,
                       is_json_describe(status, got, sizeof got));
    const cJSON *e = is_json_get(p, "error");
    if (e && !cJSON_IsString(e))
        return is_errf(err, "%s: points[%d].error: expected a string, got %s", src, i, is_json_describe(e, got, sizeof got));
    // a point that failed before its first repetition has no samples
    const cJSON *samples = is_json_get(p, "samples");
    if ((ok || samples) && validate_samples(samples, src, i, err)) return -1;
    const cJSON *stats = is_json_get(p, "stats");
    if (stats && validate_stats(stats, src, i, err)) return -1;
    const cJSON *derived = is_json_get(p, "derived");
    if (derived && !cJSON_IsObject(derived))
        return is_errf(err, "%s: points[%d].derived: expected an object, got %s", src, i,
                       is_json_describe(derived, got, sizeof got));
    const cJSON *tele = is_json_get(p, "telemetry");
    if (tele && (!cJSON_IsObject(tele) || !cJSON_IsString(is_json_get(tele, "status"))))
        return is_errf(err, "%s: points[%d].telemetry: expected an object with a \"status\" string, got %s", src, i,
                       is_json_describe(tele, got, sizeof got));
    static const char *const sections[] = {"serve", "timeseries"}; // serve points; read tolerantly
    for (int k = 0; k < 2; k++) {
        const cJSON *v = is_json_get(p, sections[k]);
        if (v && !cJSON_IsObject(v))
            return is_errf(err, "%s: points[%d].%s: expected an object, got %s", src, i, sections[k],
                           is_json_describe(v, got, sizeof got));
    }
    return 0;
}

int is_results_validate(const cJSON *doc, const char *source, is_err *err) {
    const char *src = source ? source : "results";
    char got[64];
    if (!cJSON_IsObject(doc))
        return is_errf(err, "%s: expected a JSON object (an inferscope result file), got %s", src,
                       is_json_describe(doc, got, sizeof got));
    const cJSON *schema = is_json_get(doc, "schema");
    if (!schema)
        return is_errf(err, "%s: not an inferscope result file (no \"schema\" field; expected \"%s\")", src,
                       IS_RESULTS_SCHEMA);
    if (!cJSON_IsString(schema) || strcmp(schema->valuestring, IS_RESULTS_SCHEMA) != 0)
        return is_errf(err, "%s: schema is %s, expected \"%s\"", src, is_json_describe(schema, got, sizeof got),
                       IS_RESULTS_SCHEMA);
    const cJSON *ver = is_json_get(doc, "schema_version");
    if (!cJSON_IsNumber(ver))
        return is_errf(err, "%s: schema_version: expected a number, got %s", src, is_json_describe(ver, got, sizeof got));
    if (ver->valuedouble != IS_RESULTS_SCHEMA_VERSION)
        return is_errf(err, "%s: schema_version %s, this build reads %d", src, is_json_describe(ver, got, sizeof got),
                       IS_RESULTS_SCHEMA_VERSION);
    static const char *const objects[] = {"env", "sweep", "probes"};
    for (int k = 0; k < 3; k++) {
        const cJSON *v = is_json_get(doc, objects[k]);
        if (v && !cJSON_IsObject(v) && !cJSON_IsNull(v))
            return is_errf(err, "%s: %s: expected an object, got %s", src, objects[k], is_json_describe(v, got, sizeof got));
    }
    const cJSON *runs = is_json_get(doc, "runs"); // a merged document (reports/merge.h)
    if (runs && !(cJSON_IsNumber(runs) && runs->valuedouble >= 1 && runs->valuedouble <= IS_RESULTS_MAX_RUNS &&
                  runs->valuedouble == floor(runs->valuedouble)))
        return is_errf(err, "%s: runs: expected a count of runs from 1 to %d, got %s", src, IS_RESULTS_MAX_RUNS,
                       is_json_describe(runs, got, sizeof got));
    const cJSON *kind = is_json_get(doc, "kind");
    if (kind && is_results_kind_of(doc) == IS_RESULTS_KIND_BENCH)
        return is_errf(err, "%s: kind: expected \"kernels\" or \"serve\" (or no kind: a bench file), got %s", src,
                       is_json_describe(kind, got, sizeof got));
    const cJSON *model = is_json_get(is_json_get(doc, "sweep"), "model");
    if (model && !cJSON_IsString(model))
        return is_errf(err, "%s: sweep.model: expected a string, got %s", src, is_json_describe(model, got, sizeof got));
    const cJSON *points = is_json_get(doc, "points");
    if (!cJSON_IsArray(points))
        return is_errf(err, "%s: points: expected an array, got %s", src, is_json_describe(points, got, sizeof got));
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        if (validate_point(p, is_results_kind_of(doc), src, i, err)) return -1;
        i++;
    }
    return 0;
}

int is_results_load(const char *path, cJSON **doc, is_err *err) {
    *doc = NULL;
    char *text;
    size_t len;
    if (is_read_file(path, IS_RESULTS_MAX_BYTES, &text, &len, err)) return -1;
    // text[len] is the NUL is_read_file adds: parsing len + 1 bytes with
    // require_null_terminated rejects anything but whitespace after the value
    const char *end = NULL;
    cJSON *d = cJSON_ParseWithLengthOpts(text, len + 1, &end, true);
    if (!d) {
        size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        free(text);
        return is_errf(err, "%s: not JSON (error near byte %zu)", path, at);
    }
    free(text);
    if (is_results_validate(d, path, err)) {
        cJSON_Delete(d);
        return -1;
    }
    *doc = d;
    return 0;
}

// ---- JSON ----------------------------------------------------------------------

// cJSON prints a double with 15 significant digits when that reads back within
// one DBL_EPSILON of it, else with 17: good enough for timings.
char *is_results_to_json(const cJSON *doc) {
    char *s = cJSON_Print(doc);
    IS_ASSERT(s);
    is_strbuf b = {0};
    is_sb_puts(&b, s);
    is_sb_puts(&b, "\n");
    cJSON_free(s);
    return is_sb_take(&b);
}

// ---- CSV -----------------------------------------------------------------------

// RFC 4180: a field holding a comma, a quote or a line break is quoted, its quotes doubled.
static void csv_field(is_strbuf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        is_sb_puts(b, s);
        return;
    }
    is_sb_puts(b, "\"");
    for (const char *c = s; *c; c++) {
        if (*c == '"') is_sb_puts(b, "\"");
        is_sb_putn(b, c, 1);
    }
    is_sb_puts(b, "\"");
}

static void csv_num(is_strbuf *b, double x) {
    char buf[64];
    fmt_num(buf, sizeof buf, x);
    is_sb_puts(b, buf);
}

// The first cells of a point's CSV row: its config fields (in the order of fields),
// status and reps.
static void csv_point_head(is_strbuf *b, const cJSON *p, const is_schema_field *fields, int n_fields) {
    const cJSON *config = is_json_get(p, "config");
    for (int f = 0; f < n_fields; f++) {
        char val[512];
        cfg_text(config, &fields[f], val, sizeof val);
        csv_field(b, val);
        is_sb_puts(b, ",");
    }
    const char *status = is_json_str(p, "status");
    csv_field(b, status ? status : "");
    is_sb_puts(b, ",");
    csv_num(b, is_json_num(p, "reps"));
}

// The metric columns of the CSV header: NAME_median, NAME_ci_lo, NAME_ci_hi (and
// NAME_p99 for a per-request metric) for each of defs.
static void csv_metric_head(is_strbuf *b, const is_metric_def *defs, int n) {
    for (int m = 0; m < n; m++) {
        const char *nm = defs[m].name;
        is_sb_printf(b, ",%s_median,%s_ci_lo,%s_ci_hi", nm, nm, nm);
        if (defs[m].per_request) is_sb_printf(b, ",%s_p99", nm);
    }
}

// A point's cells under csv_metric_head's columns.
static void csv_metric_cells(is_strbuf *b, const cJSON *p, const is_metric_def *defs, int n) {
    static const char *const cols[] = {"median", "ci_lo", "ci_hi", "p99"};
    for (int m = 0; m < n; m++) {
        int nc = defs[m].per_request ? 4 : 3;
        for (int c = 0; c < nc; c++) {
            is_sb_puts(b, ",");
            csv_num(b, stat_get(p, defs[m].name, cols[c]));
        }
    }
}

char *is_results_to_csv(const cJSON *doc) {
    if (is_results_is_kernels(doc)) return kernels_to_csv(doc);
    if (is_results_is_serve(doc)) return serve_to_csv(doc);
    is_strbuf b = {0};
    for (int f = 0; f < is_schema_n_bench_fields; f++) is_sb_printf(&b, "%s,", is_schema_bench_fields[f].name);
    is_sb_puts(&b, "status,reps");
    csv_metric_head(&b, is_metric_defs, is_metric_n_defs);
    for (int d = 0; d < IS_DERIVED_COUNT; d++) is_sb_printf(&b, ",%s", is_schema_bench_derived[d]);
    // files written before telemetry existed have no section, and keep their columns
    bool tele = is_telemetry_any(doc, false);
    if (tele) is_sb_puts(&b, ",telemetry,energy_j,joules_per_token,throttled");
    is_sb_puts(&b, ",error\n");

    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        csv_point_head(&b, p, is_schema_bench_fields, is_schema_n_bench_fields);
        csv_metric_cells(&b, p, is_metric_defs, is_metric_n_defs);
        const cJSON *derived = is_json_get(p, "derived");
        for (int d = 0; d < IS_DERIVED_COUNT; d++) {
            is_sb_puts(&b, ",");
            csv_num(&b, is_json_num(derived, is_schema_bench_derived[d]));
        }
        if (tele) {
            is_telemetry_view v;
            is_telemetry_read(p, &v);
            is_sb_puts(&b, ",");
            csv_field(&b, v.status ? v.status : "");
            is_sb_puts(&b, ",");
            csv_num(&b, v.energy_j);
            is_sb_puts(&b, ",");
            csv_num(&b, v.joules_per_token);
            is_sb_puts(&b, v.throttled < 0 ? "," : v.throttled ? ",1" : ",0");
        }
        is_sb_puts(&b, ",");
        const char *e = is_json_str(p, "error");
        csv_field(&b, e ? e : "");
        is_sb_puts(&b, "\n");
    }
    return is_sb_take(&b);
}

// ---- Markdown --------------------------------------------------------------------

// Decimals for a value shown beside others of its column: 2, or enough for three
// significant digits when it is below 1.
static int md_decimals(double x) {
    double a = fabs(x);
    if (!(a > 0) || a >= 1) return 2;
    int d = 2 - (int)floor(log10(a));
    return d > 8 ? 8 : d;
}

// "12.61 ± 0.05": the median and half the width of its 95% interval; "" when absent.
static void md_median_ci(char *buf, size_t n, const cJSON *point, const char *metric) {
    double med = stat_get(point, metric, "median");
    double lo = stat_get(point, metric, "ci_lo"), hi = stat_get(point, metric, "ci_hi");
    if (!isfinite(med)) {
        snprintf(buf, n, "-");
        return;
    }
    int d = md_decimals(med);
    if (isfinite(lo) && isfinite(hi)) snprintf(buf, n, "%.*f ± %.*f", d, med, d, (hi - lo) / 2);
    else snprintf(buf, n, "%.*f", d, med);
}

static void md_value(char *buf, size_t n, double x, double scale) {
    if (!isfinite(x)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.*f", md_decimals(x * scale), x * scale);
}

// Table cell text: '|' escaped, line breaks turned into spaces.
#define MD_CELL 160

typedef struct md_col {
    const char *head;
    bool right; // numbers: right-aligned
} md_col;

static const md_col md_cols[] = {
    {"model", false},   {"dtype", false},        {"backend", false},     {"threads", true},
    {"batch", true},    {"prompt", true},        {"gen", true},          {"depth", true},
    {"strategy", false}, {"kernel", false},      {"TTFT ms", true},      {"TPOT ms", true},
    {"ITL p99 ms", true}, {"prefill tok/s", true}, {"decode tok/s", true}, {"GB/s", true},
    {"MBU %", true},    {"MFU %", true},
    {"J/token", true},  {"throttled", false}, // only where a point has GPU telemetry (MD_NCOLS_TELEMETRY)
};
#define MD_NCOLS ((int)(sizeof md_cols / sizeof md_cols[0]))
#define MD_NCOLS_TELEMETRY 2

// A point's row; ncols: MD_NCOLS, or MD_NCOLS - MD_NCOLS_TELEMETRY for a document
// with no GPU telemetry (every file written before it existed renders as it did).
static void md_row_cells(const cJSON *p, char cells[MD_NCOLS][MD_CELL], int ncols, const void *ctx) {
    (void)ctx;
    static const char *const cfg_order[] = {"model", "dtype", "backend", "threads", "batch",
                                            "prompt", "gen", "depth", "strategy", "kernel"};
    const cJSON *config = is_json_get(p, "config");
    for (int c = 0; c < 10; c++) {
        char val[MD_CELL];
        for (int f = 0; f < is_schema_n_bench_fields; f++)
            if (strcmp(is_schema_bench_fields[f].name, cfg_order[c]) == 0) cfg_text(config, &is_schema_bench_fields[f], val, sizeof val);
        is_md_cell_text(cells[c], MD_CELL, val);
    }
    const char *status = is_json_str(p, "status");
    bool failed = !status || strcmp(status, "ok") != 0;
    if (failed) {
        snprintf(cells[10], MD_CELL, "error");
        for (int c = 11; c < ncols; c++) snprintf(cells[c], MD_CELL, "-");
        return;
    }
    md_median_ci(cells[10], MD_CELL, p, "ttft_ms");
    md_median_ci(cells[11], MD_CELL, p, "tpot_ms");
    md_value(cells[12], MD_CELL, stat_get(p, "itl_ms", "p99"), 1);
    md_median_ci(cells[13], MD_CELL, p, "prefill_tps");
    md_median_ci(cells[14], MD_CELL, p, "decode_tps");
    const cJSON *derived = is_json_get(p, "derived");
    md_value(cells[15], MD_CELL, is_json_num(derived, is_schema_bench_derived[IS_DERIVED_DECODE_GBS]), 1);
    md_value(cells[16], MD_CELL, is_json_num(derived, is_schema_bench_derived[IS_DERIVED_MBU]), 100);
    md_value(cells[17], MD_CELL, is_json_num(derived, is_schema_bench_derived[IS_DERIVED_MFU]), 100);
    if (ncols < MD_NCOLS) return;
    is_telemetry_view v;
    is_telemetry_read(p, &v);
    md_value(cells[18], MD_CELL, v.joules_per_token, 1);
    snprintf(cells[19], MD_CELL, "%s", v.throttled < 0 ? "-" : v.throttled ? "yes" : "no");
}

bool is_results_point_ok(const cJSON *point) {
    const char *s = is_json_str(point, "status");
    return s && strcmp(s, "ok") == 0;
}

bool is_results_env_gemm(const cJSON *env, char *buf, size_t n) {
    const cJSON *gemm = is_json_get(env, "gemm");
    const char *impl = is_json_str(gemm, "impl"), *how = is_json_str(gemm, "chosen_by"), *blas = is_json_str(gemm, "blas");
    buf[0] = '\0';
    if (!impl) return false;
    snprintf(buf, n, "%s%s%s%s%s", impl, how && *how ? "; chosen by " : "", how && *how ? how : "",
             blas && *blas ? "; BLAS: " : "", blas && *blas ? blas : "");
    return true;
}

// element i of obj[key] (an array of numbers), NaN when absent.
static double json_at(const cJSON *obj, const char *key, int i) {
    const cJSON *v = cJSON_GetArrayItem(is_json_get(obj, key), i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

// Running min and max of the finite values given.
static void range_add(double *lo, double *hi, double x) {
    if (!isfinite(x)) return;
    if (!(*lo <= x)) *lo = x;
    if (!(*hi >= x)) *hi = x;
}

bool is_results_env_noise(const cJSON *env, char *buf, size_t n) {
    buf[0] = '\0';
    const cJSON *runs = is_json_get(env, "runs_noise");
    if (cJSON_IsArray(runs)) { // a merged document: the range over its runs
        double load_lo = NAN, load_hi = NAN, run_lo = NAN, run_hi = NAN, mhz_lo = NAN, mhz_hi = NAN;
        double steal_max = NAN, steal_sum = 0;
        int n_runs = cJSON_GetArraySize(runs), n_steal = 0;
        const char *source = NULL;
        const cJSON *x;
        cJSON_ArrayForEach(x, runs) {
            for (int k = 0; k < 2; k++) {
                range_add(&load_lo, &load_hi, json_at(x, k ? "loadavg_after" : "loadavg_before", 0));
                range_add(&run_lo, &run_hi, is_json_num(x, k ? "running_after" : "running_before"));
                range_add(&mhz_lo, &mhz_hi, is_json_num(x, k ? "cpu_mhz_after" : "cpu_mhz_before"));
            }
            double st = is_json_num(x, "steal_pct");
            if (isfinite(st)) {
                steal_sum += st;
                n_steal++;
                if (!(steal_max >= st)) steal_max = st;
            }
            if (!source) source = is_json_str(x, "cpu_mhz_source");
        }
        if (!isfinite(load_lo) && !isfinite(mhz_lo) && n_steal == 0) return false;
        size_t k = (size_t)snprintf(buf, n, "%d runs", n_runs);
        if (isfinite(load_lo) && k < n) k += (size_t)snprintf(buf + k, n - k, "; 1-min load %.2f-%.2f", load_lo, load_hi);
        if (isfinite(run_lo) && k < n) k += (size_t)snprintf(buf + k, n - k, "; runnable tasks %.0f-%.0f", run_lo, run_hi);
        if (n_steal && k < n)
            k += (size_t)snprintf(buf + k, n - k, "; steal up to %.2f%% (mean %.2f%%)", steal_max, steal_sum / n_steal);
        if (isfinite(mhz_lo) && k < n)
            snprintf(buf + k, n - k, "; CPU %.0f-%.0f MHz (%s)", mhz_lo, mhz_hi, source ? source : "?");
        return true;
    }
    const cJSON *x = is_json_get(env, "noise");
    if (!cJSON_IsObject(x)) return false;
    size_t k = 0;
    const char *sep = "";
    double l0 = json_at(x, "loadavg_before", 0), l1 = json_at(x, "loadavg_after", 0);
    if (isfinite(l0)) {
        k += (size_t)snprintf(buf + k, n - k, "1-min load %.2f -> %.2f", l0, l1);
        sep = "; ";
    }
    double r0 = is_json_num(x, "running_before"), r1 = is_json_num(x, "running_after");
    if (isfinite(r0) && k < n) {
        k += (size_t)snprintf(buf + k, n - k, "%srunnable tasks %.0f -> %.0f", sep, r0, r1);
        sep = "; ";
    }
    double st = is_json_num(x, "steal_pct"), sec = is_json_num(x, "seconds");
    if (isfinite(st) && k < n) {
        k += isfinite(sec) ? (size_t)snprintf(buf + k, n - k, "%ssteal %.2f%% over %.1f s", sep, st, sec)
                           : (size_t)snprintf(buf + k, n - k, "%ssteal %.2f%%", sep, st);
        sep = "; ";
    }
    double m0 = is_json_num(x, "cpu_mhz_before"), m1 = is_json_num(x, "cpu_mhz_after");
    const char *source = is_json_str(x, "cpu_mhz_source");
    if (isfinite(m0) && k < n) {
        k += (size_t)snprintf(buf + k, n - k, "%sCPU %.0f -> %.0f MHz (%s)", sep, m0, m1, source ? source : "?");
    }
    return k > 0;
}

static void md_env(is_strbuf *b, const cJSON *env) {
    const char *cpu = is_json_str(env, "cpu_model");
    double threads = is_json_num(env, "threads"), online = is_json_num(env, "cpu_online");
    is_sb_printf(b, "- CPU: %s", cpu ? cpu : "unknown");
    if (isfinite(threads)) is_sb_printf(b, ", %.0f threads", threads);
    if (isfinite(online)) is_sb_printf(b, " (%.0f online)", online);
    is_sb_puts(b, "\n");
    const cJSON *gpu = is_json_get(env, "gpu");
    const char *gpu_name = is_json_str(gpu, "name");
    const char *gpu_why = is_json_str(env, "gpu_unavailable");
    if (gpu_name) is_sb_printf(b, "- GPU: %s\n", gpu_name);
    else if (gpu_why) is_sb_printf(b, "- GPU: none (%s)\n", gpu_why);
    const char *backend = is_json_str(env, "backend"), *build = is_json_str(env, "build_type");
    const char *commit = is_json_str(env, "git_commit"), *date = is_json_str(env, "date");
    is_sb_printf(b, "- backend: %s; build: %s; commit: %s; date: %s\n", backend ? backend : "unknown",
              build && *build ? build : "unknown", commit ? commit : "unknown", date ? date : "unknown");
    const char *compiler = is_json_str(env, "compiler"), *os = is_json_str(env, "os");
    if (compiler || os)
        is_sb_printf(b, "- compiler: %s; os: %s\n", compiler ? compiler : "unknown", os ? os : "unknown");
    char gemm[1200];
    if (is_results_env_gemm(env, gemm, sizeof gemm)) is_sb_printf(b, "- GEMM: %s\n", gemm);
    char noise[512];
    if (is_results_env_noise(env, noise, sizeof noise)) is_sb_printf(b, "- machine while measuring: %s\n", noise);
    const char *cmd = is_json_str(env, "command");
    if (cmd) {
        // a code span fenced by more backticks than the longest run inside it
        int run = 0, longest = 0;
        for (const char *c = cmd; *c; c++) {
            run = *c == '`' ? run + 1 : 0;
            if (run > longest) longest = run;
        }
        is_sb_puts(b, "- command: ");
        for (int i = 0; i <= longest; i++) is_sb_puts(b, "`");
        if (longest) is_sb_puts(b, " ");
        for (const char *c = cmd; *c; c++) is_sb_putn(b, (*c == '\n' || *c == '\r') ? " " : c, 1);
        if (longest) is_sb_puts(b, " ");
        for (int i = 0; i <= longest; i++) is_sb_puts(b, "`");
        is_sb_puts(b, "\n");
    }
}

// The memory line of a result written before the read, write and copy passes were
// reported apart (no "peak_of"): as it was then.
static void md_mem_old(is_strbuf *b, const cJSON *mem, double peak) {
    is_sb_printf(b, "- memory bandwidth peak: %.2f GB/s", peak);
    double rd = is_json_num(mem, "read_gbs"), cp = is_json_num(mem, "copy_gbs");
    if (isfinite(rd) && isfinite(cp)) is_sb_printf(b, " (read %.2f, copy %.2f)", rd, cp);
}

static void md_mem(is_strbuf *b, const cJSON *mem, double peak, const char *peak_of) {
    is_sb_printf(b, "- memory bandwidth: %.2f GB/s %s, the ceiling MBU is taken against", peak, peak_of);
    double rd = is_json_num(mem, "read_gbs"), wr = is_json_num(mem, "write_gbs"), nt = is_json_num(mem, "write_nt_gbs");
    double cp = is_json_num(mem, "copy_gbs");
    if (isfinite(rd) && strcmp(peak_of, "read")) is_sb_printf(b, "; read %.2f", rd);
    if (isfinite(wr)) is_sb_printf(b, "; write %.2f", wr);
    if (isfinite(nt)) is_sb_printf(b, " (non-temporal %.2f)", nt);
    if (isfinite(cp) && strcmp(peak_of, "copy")) is_sb_printf(b, "; copy %.2f (read + write bytes)", cp);
}

// The compute peak MFU is taken against, and every unit's figures.
static void md_compute(is_strbuf *b, const cJSON *compute) {
    double peak = is_json_num(compute, "peak_gflops");
    const char *unit = is_json_str(compute, "matmul_unit"), *refused = is_json_str(compute, "peak_refused");
    if (isfinite(peak))
        is_sb_printf(b, "- compute peak: %.1f GFLOP/s of %s, the unit the matmul runs on (MFU is taken against it)",
                     peak, unit ? unit : "?");
    else
        is_sb_printf(b, "- compute peak: none (%s): no MFU", refused ? refused : "not measured");
    const char *method = is_json_str(compute, "method");
    if (method) is_sb_printf(b, ": %s", method);
    is_sb_puts(b, "\n- compute units:");
    const cJSON *u;
    int i = 0;
    cJSON_ArrayForEach(u, is_json_get(compute, "units")) {
        const char *name = is_json_str(u, "unit"), *na = is_json_str(u, "unavailable"), *how = is_json_str(u, "how");
        double one = is_json_num(u, "gflops_1_thread"), all = is_json_num(u, "gflops"), th = is_json_num(u, "threads");
        is_sb_printf(b, "%s %s ", i++ ? ";" : "", name ? name : "?");
        if (na) is_sb_printf(b, "unavailable (%s)", na);
        else if (isfinite(one)) is_sb_printf(b, "%.1f GFLOP/s on %.0f threads, %.1f on 1", all, th, one);
        else is_sb_printf(b, "%.1f GFLOP/s%s%s%s", all, how ? " (" : "", how ? how : "", how ? ")" : "");
    }
    is_sb_puts(b, "\n");
}

static void md_probes(is_strbuf *b, const cJSON *probes) {
    const cJSON *mem = is_json_get(probes, "mem"), *compute = is_json_get(probes, "compute");
    double peak = is_json_num(mem, "peak_gbs");
    if (isfinite(peak)) {
        const char *peak_of = is_json_str(mem, "peak_of");
        if (peak_of) md_mem(b, mem, peak, peak_of);
        else md_mem_old(b, mem, peak);
        const char *method = is_json_str(mem, "method");
        if (method) is_sb_printf(b, ": %s", method);
        is_sb_puts(b, "\n");
    } else {
        is_sb_puts(b, "- memory bandwidth peak: not measured\n");
    }
    if (compute) md_compute(b, compute);
    const cJSON *mm = is_json_get(probes, "matmul");
    double gflops = is_json_num(mm, "gflops");
    // before the compute peak was measured, MFU was taken against this matmul rate
    const char *what = compute ? "achieved matmul (the engine's own, not a peak)" : "matmul peak";
    if (isfinite(gflops)) {
        is_sb_printf(b, "- %s: %.1f GFLOP/s", what, gflops);
        if (isfinite(is_json_num(mm, "m")))
            is_sb_printf(b, " (m=%.0f n=%.0f k=%.0f)", is_json_num(mm, "m"), is_json_num(mm, "n"), is_json_num(mm, "k"));
        const char *method = is_json_str(mm, "method");
        if (method) is_sb_printf(b, ": %s", method);
        is_sb_puts(b, "\n");
    } else {
        is_sb_printf(b, "- %s: not measured\n", what);
    }
}

// The title ("# inferscope CMD: MODEL", CMD from sweep.command, else default_cmd),
// then the environment and probe lines.
static void md_head(is_strbuf *b, const cJSON *doc, const char *default_cmd) {
    const cJSON *sweep = is_json_get(doc, "sweep");
    const char *model = is_json_str(sweep, "model"), *cmd = is_json_str(sweep, "command");
    is_sb_printf(b, "# inferscope %s%s%s\n\n", cmd ? cmd : default_cmd, model ? ": " : "", model ? model : "");
    md_env(b, is_json_get(doc, "env"));
    md_probes(b, is_json_get(doc, "probes"));
}

// One table row per point of doc (row fills the ncols cells of a point; ctx is
// the writer's, passed on). Returns doc's points.
typedef void (*md_row_fn)(const cJSON *p, char (*cells)[MD_CELL], int ncols, const void *ctx);
static const cJSON *md_table(is_strbuf *b, const cJSON *doc, const md_col *cols, int ncols, md_row_fn row,
                             const void *ctx) {
    const cJSON *points = is_json_get(doc, "points");
    int n = cJSON_GetArraySize(points);
    char(*cells)[MD_CELL] = is_xmalloc((size_t)(n ? n : 1) * (size_t)ncols * sizeof *cells);
    const char **grid = is_xmalloc((size_t)(n + 1) * (size_t)ncols * sizeof *grid);
    bool *right = is_xmalloc((size_t)ncols * sizeof *right);
    for (int c = 0; c < ncols; c++) {
        grid[c] = cols[c].head;
        right[c] = cols[c].right;
    }
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        row(p, cells + (size_t)i * ncols, ncols, ctx);
        for (int c = 0; c < ncols; c++) grid[(i + 1) * ncols + c] = cells[(size_t)i * ncols + c];
        i++;
    }
    is_md_table(b, grid, n + 1, ncols, right);
    free(right);
    free(grid);
    free(cells);
    if (n == 0) is_sb_puts(b, "\nNo points.\n");
    return points;
}

// md_head, a blank line, md_table.
static const cJSON *md_head_and_table(is_strbuf *b, const cJSON *doc, const char *default_cmd, const md_col *cols,
                                      int ncols, md_row_fn row) {
    md_head(b, doc, default_cmd);
    is_sb_puts(b, "\n");
    return md_table(b, doc, cols, ncols, row, NULL);
}

// Under a table: a note line per failed point, "- row N (KEY): error: MSG"
// (with_key) or "- row N: MSG".
static void md_failed_notes(is_strbuf *b, const cJSON *points, bool with_key) {
    bool first = true;
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, points) {
        i++;
        const char *status = is_json_str(p, "status");
        if (status && strcmp(status, "ok") == 0) continue;
        if (first) is_sb_puts(b, "\n");
        first = false;
        char msg[1024];
        const char *e = is_json_str(p, "error");
        is_md_cell_text(msg, sizeof msg, e ? e : "unknown error");
        if (!with_key) {
            is_sb_printf(b, "- row %d: %s\n", i, msg);
            continue;
        }
        char key[1024];
        if (is_results_point_key(p, key, sizeof key)) snprintf(key, sizeof key, "?");
        is_sb_printf(b, "- row %d (%s): error: %s\n", i, key, msg);
    }
}

char *is_results_to_md(const cJSON *doc) {
    if (is_results_is_kernels(doc)) return kernels_to_md(doc);
    if (is_results_is_serve(doc)) return serve_to_md(doc);
    is_strbuf b = {0};
    int ncols = is_telemetry_any(doc, true) ? MD_NCOLS : MD_NCOLS - MD_NCOLS_TELEMETRY;
    const cJSON *points = md_head_and_table(&b, doc, "bench", md_cols, ncols, md_row_cells);
    md_failed_notes(&b, points, true); // one note line each, under the table
    is_telemetry_md(&b, doc);       // GPU telemetry, when the points have it
    is_results_profile_md(&b, doc); // kernel tables and counters, when the points have them
    return is_sb_take(&b);
}

// ---- the output directory ----------------------------------------------------------

// mkdir -p: every missing component of dir, mode 0755.
static int mkdir_p(const char *dir, is_err *err) {
    size_t n = strlen(dir);
    if (n == 0) return is_errf(err, "output directory: empty path");
    char *path = is_xstrdup(dir);
    int rc = 0;
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        char saved = path[i];
        path[i] = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            rc = is_errf(err, "%s: cannot create directory %s: %s", dir, path, strerror(errno));
        else {
            struct stat st;
            if (stat(path, &st) != 0)
                rc = is_errf(err, "%s: cannot create directory %s: %s", dir, path, strerror(errno));
            else if (!S_ISDIR(st.st_mode))
                rc = is_errf(err, "%s: cannot create directory: %s exists and is not a directory", dir, path);
        }
        path[i] = saved;
    }
    free(path);
    return rc;
}

// The files of an output directory, in the order they are written.
static const char *const out_names[] = {"results.json", "results.csv", "report.md", "report.html"};
#define OUT_N_NAMES 4

static char *out_path(const char *dir, int k) {
    size_t pl = strlen(dir) + strlen(out_names[k]) + 2;
    char *path = is_xmalloc(pl);
    snprintf(path, pl, "%s/%s", dir, out_names[k]);
    return path;
}

char *is_results_to_format(const cJSON *doc, const char *format) {
    if (!strcmp(format, "json")) return is_results_to_json(doc);
    if (!strcmp(format, "csv")) return is_results_to_csv(doc);
    if (!strcmp(format, "html")) return is_results_to_html(doc);
    IS_ASSERT(!strcmp(format, "md"));
    return is_results_to_md(doc);
}

int is_results_write_dir(const char *dir, const cJSON *doc, is_err *err) {
    if (mkdir_p(dir, err)) return -1;
    for (int k = 0; k < OUT_N_NAMES; k++) {
        static const char *const formats[OUT_N_NAMES] = {"json", "csv", "md", "html"};
        char *text = is_results_to_format(doc, formats[k]);
        char *path = out_path(dir, k);
        int rc = is_write_file_atomic(path, text, strlen(text), err);
        free(path);
        free(text);
        if (rc) return -1;
    }
    return 0;
}

void is_results_write_dir_clean(const char *dir) {
    for (int k = 0; k < OUT_N_NAMES; k++) {
        char *path = out_path(dir, k);
        is_write_file_atomic_clean(path);
        free(path);
    }
}

// ---- kernel points (inferscope kernels) ----------------------------------------------

// Config fields, status, reps, time_us median and 95% interval, the op's bytes,
// GB/s, fraction of the probed peak, GFLOP/s, the validation NMSE and tolerance,
// the winner mark (1: lowest median of its shape's variants), error.
static char *kernels_to_csv(const cJSON *doc) {
    is_strbuf b = {0};
    for (int f = 0; f < is_schema_n_kernel_fields; f++) is_sb_printf(&b, "%s,", is_schema_kernel_fields[f].name);
    is_sb_puts(&b, "status,reps,time_us_median,time_us_ci_lo,time_us_ci_hi,bytes,gbs,peak_frac,gflops,nmse,"
                   "tolerance,winner,error\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        csv_point_head(&b, p, is_schema_kernel_fields, is_schema_n_kernel_fields);
        static const char *const cols[] = {"median", "ci_lo", "ci_hi"};
        for (int c = 0; c < 3; c++) {
            is_sb_puts(&b, ",");
            csv_num(&b, stat_get(p, "time_us", cols[c]));
        }
        const cJSON *derived = is_json_get(p, "derived"), *val = is_json_get(p, "validation");
        const double nums[] = {is_json_num(is_json_get(p, "model"), "bytes"),
                               is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_GBS]),
                               is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_PEAK_FRAC]),
                               is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_GFLOPS]),
                               is_json_num(val, "nmse"), is_json_num(val, "tolerance")};
        for (size_t d = 0; d < sizeof nums / sizeof nums[0]; d++) {
            is_sb_puts(&b, ",");
            csv_num(&b, nums[d]);
        }
        is_sb_printf(&b, ",%d,", cJSON_IsTrue(is_json_get(p, "winner")) ? 1 : 0);
        const char *e = is_json_str(p, "error");
        csv_field(&b, e ? e : "");
        is_sb_puts(&b, "\n");
    }
    return is_sb_take(&b);
}

static const md_col kmd_cols[] = {
    {"op", false},     {"model", false},  {"tensor", false}, {"shape", false},  {"dtype", false},
    {"batch", true},   {"context", true}, {"variant", false}, {"time us", true}, {"GB/s", true},
    {"% peak", true},  {"GFLOP/s", true}, {"NMSE", true},    {"winner", false},
};
#define KMD_NCOLS ((int)(sizeof kmd_cols / sizeof kmd_cols[0]))

static void kmd_row_cells(const cJSON *p, char cells[KMD_NCOLS][MD_CELL], int ncols, const void *ctx) {
    (void)ncols; // always KMD_NCOLS
    (void)ctx;
    static const char *const cfg_order[] = {"op", "model", "tensor", "shape", "dtype", "batch", "context", "variant"};
    const cJSON *config = is_json_get(p, "config");
    for (int c = 0; c < 8; c++) {
        char val[MD_CELL] = "";
        for (int f = 0; f < is_schema_n_kernel_fields; f++)
            if (strcmp(is_schema_kernel_fields[f].name, cfg_order[c]) == 0) cfg_text(config, &is_schema_kernel_fields[f], val, sizeof val);
        is_md_cell_text(cells[c], MD_CELL, val);
    }
    const cJSON *val = is_json_get(p, "validation"), *derived = is_json_get(p, "derived");
    double nmse = is_json_num(val, "nmse");
    if (isfinite(nmse)) snprintf(cells[12], MD_CELL, "%.2g", nmse);
    else snprintf(cells[12], MD_CELL, "%s", val ? "not finite" : "-");
    const char *status = is_json_str(p, "status");
    if (!status || strcmp(status, "ok") != 0) {
        snprintf(cells[8], MD_CELL, "%s", val ? "invalid" : "error");
        for (int c = 9; c < 12; c++) snprintf(cells[c], MD_CELL, "-");
        snprintf(cells[13], MD_CELL, "-");
        return;
    }
    md_median_ci(cells[8], MD_CELL, p, "time_us");
    md_value(cells[9], MD_CELL, is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_GBS]), 1);
    md_value(cells[10], MD_CELL, is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_PEAK_FRAC]), 100);
    md_value(cells[11], MD_CELL, is_json_num(derived, is_schema_kernel_derived[IS_KDERIVED_GFLOPS]), 1);
    snprintf(cells[13], MD_CELL, "%s", cJSON_IsTrue(is_json_get(p, "winner")) ? "*" : "");
}

// Environment and probe lines, a row per point (winner of each shape marked *),
// then a note per failed point (a validation failure gives its NMSE and tolerance).
static char *kernels_to_md(const cJSON *doc) {
    is_strbuf b = {0};
    const cJSON *points = md_head_and_table(&b, doc, "kernels", kmd_cols, KMD_NCOLS, kmd_row_cells);
    md_failed_notes(&b, points, false);
    return is_sb_take(&b);
}

// ---- serve points (inferscope serve-bench) -------------------------------------------

// The fields of a serve point's "serve" section (its last repetition) that
// results.csv carries, in column order.
static const char *const serve_csv_fields[] = {"duration_s",   "preemptions",    "prefix_hit_rate",
                                               "peak_running", "kv_blocks_peak", "sched_share"};
#define SERVE_CSV_N_FIELDS ((int)(sizeof serve_csv_fields / sizeof serve_csv_fields[0]))

static char *serve_to_csv(const cJSON *doc) {
    is_strbuf b = {0};
    for (int f = 0; f < is_schema_n_serve_fields; f++) is_sb_printf(&b, "%s,", is_schema_serve_fields[f].name);
    is_sb_puts(&b, "status,reps");
    csv_metric_head(&b, is_serve_metric_defs, is_serve_metric_n_defs);
    for (int f = 0; f < SERVE_CSV_N_FIELDS; f++) is_sb_printf(&b, ",%s", serve_csv_fields[f]);
    is_sb_puts(&b, ",error\n");
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        csv_point_head(&b, p, is_schema_serve_fields, is_schema_n_serve_fields);
        csv_metric_cells(&b, p, is_serve_metric_defs, is_serve_metric_n_defs);
        const cJSON *serve = is_json_get(p, "serve");
        for (int f = 0; f < SERVE_CSV_N_FIELDS; f++) {
            is_sb_puts(&b, ",");
            csv_num(&b, is_json_num(serve, serve_csv_fields[f]));
        }
        is_sb_puts(&b, ",");
        const char *e = is_json_str(p, "error");
        csv_field(&b, e ? e : "");
        is_sb_puts(&b, "\n");
    }
    return is_sb_take(&b);
}

// The config fields the latency-throughput table always shows (the load and the
// scheduler's settings); the others get a column only where they vary.
static const char *const smd_axes[] = {"arrival",          "rate",         "concurrency",    "policy",
                                       "max_batch_tokens", "prefix_cache", "batch_invariant"};
#define SMD_N_AXES ((int)(sizeof smd_axes / sizeof smd_axes[0]))
#define SMD_MAX_FIELDS 32

// The columns after the config fields.
static const md_col smd_cols[] = {
    {"requests", true},    {"req/s", true},       {"out tok/s", true},   {"goodput req/s", true},
    {"TTFT p50 ms", true}, {"TTFT p99 ms", true}, {"TPOT p50 ms", true}, {"TPOT p99 ms", true},
    {"ITL p99 ms", true},  {"E2E p50 ms", true},  {"preemptions", true}, {"prefix hit %", true},
    {"sched %", true},
};
#define SMD_N_COLS ((int)(sizeof smd_cols / sizeof smd_cols[0]))

// Which config fields get a column: indices into is_schema_serve_fields, in its order.
typedef struct smd_layout {
    int field[SMD_MAX_FIELDS];
    int n_fields;
} smd_layout;

// Whether config field f reads the same in every point of doc.
static bool serve_field_fixed(const cJSON *doc, const is_schema_field *f) {
    char first[MD_CELL] = "", v[MD_CELL];
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        cfg_text(is_json_get(p, "config"), f, v, sizeof v);
        if (i++ == 0) snprintf(first, sizeof first, "%s", v);
        else if (strcmp(first, v) != 0) return false;
    }
    return true;
}

static void smd_row_cells(const cJSON *p, char (*cells)[MD_CELL], int ncols, const void *ctx) {
    const smd_layout *lay = ctx;
    const cJSON *config = is_json_get(p, "config");
    int c = 0;
    for (int k = 0; k < lay->n_fields; k++) {
        char val[MD_CELL];
        cfg_text(config, &is_schema_serve_fields[lay->field[k]], val, sizeof val);
        is_md_cell_text(cells[c++], MD_CELL, val);
    }
    double requests = is_json_num(config, "requests");
    if (isfinite(requests)) snprintf(cells[c++], MD_CELL, "%.0f", requests);
    else snprintf(cells[c++], MD_CELL, "-");
    if (!is_results_point_ok(p)) {
        snprintf(cells[c++], MD_CELL, "error");
        while (c < ncols) snprintf(cells[c++], MD_CELL, "-");
        return;
    }
    md_median_ci(cells[c++], MD_CELL, p, "req_per_s");
    md_median_ci(cells[c++], MD_CELL, p, "out_tps");
    md_median_ci(cells[c++], MD_CELL, p, "goodput");
    static const char *const pct[][2] = {{"ttft_ms", "p50"}, {"ttft_ms", "p99"}, {"tpot_ms", "p50"},
                                         {"tpot_ms", "p99"}, {"itl_ms", "p99"},  {"e2e_ms", "p50"}};
    for (int k = 0; k < 6; k++) md_value(cells[c++], MD_CELL, stat_get(p, pct[k][0], pct[k][1]), 1);
    const cJSON *serve = is_json_get(p, "serve");
    double preempt = is_json_num(serve, "preemptions");
    if (isfinite(preempt)) snprintf(cells[c++], MD_CELL, "%.0f", preempt);
    else snprintf(cells[c++], MD_CELL, "-");
    md_value(cells[c++], MD_CELL, is_json_num(serve, "prefix_hit_rate"), 100);
    double sched = stat_get(p, "sched_share", "median");
    md_value(cells[c++], MD_CELL, isfinite(sched) ? sched : is_json_num(serve, "sched_share"), 100);
    IS_ASSERT(c == ncols);
}

// "- every point: model M; backend B; ..." of the config fields not in the table
// (the same in every point); nothing when there are none or no points.
static void smd_fixed_line(is_strbuf *b, const cJSON *doc, const bool *shown) {
    const cJSON *first = cJSON_GetArrayItem(is_json_get(doc, "points"), 0);
    if (!first) return;
    int k = 0;
    for (int f = 0; f < is_schema_n_serve_fields; f++) {
        if (shown[f]) continue;
        char val[MD_CELL], cell[MD_CELL];
        cfg_text(is_json_get(first, "config"), &is_schema_serve_fields[f], val, sizeof val);
        is_md_cell_text(cell, sizeof cell, val);
        is_sb_printf(b, "%s%s %s", k++ ? "; " : "- every point: ", is_schema_serve_fields[f].name, cell);
    }
    if (k) is_sb_puts(b, "\n");
}

// The objectives goodput counts against, from the first point that records them.
static void smd_slo_line(is_strbuf *b, const cJSON *doc) {
    const cJSON *p;
    cJSON_ArrayForEach(p, is_json_get(doc, "points")) {
        const cJSON *slo = is_json_get(is_json_get(p, "serve"), "slo");
        if (!cJSON_IsObject(slo)) continue;
        static const char *const keys[][2] = {{"ttft_ms", "TTFT"}, {"tpot_ms", "TPOT"}, {"e2e_ms", "E2E"}};
        int k = 0;
        for (int i = 0; i < 3; i++) {
            double v = is_json_num(slo, keys[i][0]);
            if (isfinite(v)) is_sb_printf(b, "%s%s <= %g ms", k++ ? ", " : "- goodput SLO: ", keys[i][1], v);
        }
        is_sb_puts(b, k ? "\n" : "- goodput: no SLO set, every finished request counts\n");
        return;
    }
}

// The environment, the config every point shares, the SLO, how the columns are
// computed, the latency-throughput table, a note per failed point, GPU telemetry.
static char *serve_to_md(const cJSON *doc) {
    is_strbuf b = {0};
    md_head(&b, doc, "serve-bench");
    bool shown[SMD_MAX_FIELDS] = {false};
    smd_layout lay = {.n_fields = 0};
    IS_ASSERT(is_schema_n_serve_fields <= SMD_MAX_FIELDS);
    for (int f = 0; f < is_schema_n_serve_fields; f++) {
        const char *name = is_schema_serve_fields[f].name;
        bool axis = false;
        for (int a = 0; a < SMD_N_AXES; a++) axis |= strcmp(name, smd_axes[a]) == 0;
        // requests has its own column, after the config
        shown[f] = strcmp(name, "requests") == 0 || axis || !serve_field_fixed(doc, &is_schema_serve_fields[f]);
        if (shown[f] && strcmp(name, "requests") != 0) lay.field[lay.n_fields++] = f;
    }
    smd_fixed_line(&b, doc, shown);
    smd_slo_line(&b, doc);
    is_sb_puts(&b, "- latencies: p50 and p99 over the samples of every request of every repetition, pooled "
                   "(\"stats\"; ITL: every gap between tokens); req/s, out tok/s and goodput: median over the "
                   "repetitions ± half its 95% interval; preemptions and prefix hits: the last repetition; "
                   "sched %: the scheduler's share of step time, median over the repetitions\n\n");
    int ncols = lay.n_fields + SMD_N_COLS;
    md_col *cols = is_xmalloc((size_t)ncols * sizeof *cols);
    for (int k = 0; k < lay.n_fields; k++) {
        const is_schema_field *f = &is_schema_serve_fields[lay.field[k]];
        cols[k] = (md_col){f->name, !f->is_string};
    }
    memcpy(cols + lay.n_fields, smd_cols, sizeof smd_cols);
    const cJSON *points = md_table(&b, doc, cols, ncols, smd_row_cells, &lay);
    free(cols);
    md_failed_notes(&b, points, true);
    is_telemetry_md(&b, doc); // GPU telemetry, when the points have it
    return is_sb_take(&b);
}
