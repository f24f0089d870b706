// schema.c — see schema.h.
#include "reports/schema.h"

#include <math.h>
#include <stddef.h>

#define FIELD(type, name, is_string) {#name, is_string, offsetof(type, name)}

const is_schema_field is_schema_bench_fields[] = {
    FIELD(is_bench_config, model, true),     FIELD(is_bench_config, backend, true),
    FIELD(is_bench_config, dtype, true),     FIELD(is_bench_config, threads, false),
    FIELD(is_bench_config, batch, false),    FIELD(is_bench_config, prompt, false),
    FIELD(is_bench_config, gen, false),      FIELD(is_bench_config, depth, false),
    FIELD(is_bench_config, strategy, true),  FIELD(is_bench_config, kernel, true),
};
const int is_schema_n_bench_fields = (int)(sizeof is_schema_bench_fields / sizeof is_schema_bench_fields[0]);

const is_schema_field is_schema_kernel_fields[] = {
    FIELD(is_kernel_config, op, true),       FIELD(is_kernel_config, model, true),
    FIELD(is_kernel_config, backend, true),  FIELD(is_kernel_config, dtype, true),
    FIELD(is_kernel_config, threads, false), FIELD(is_kernel_config, tensor, true),
    FIELD(is_kernel_config, shape, true),    FIELD(is_kernel_config, batch, false),
    FIELD(is_kernel_config, context, false), FIELD(is_kernel_config, variant, true),
};
const int is_schema_n_kernel_fields = (int)(sizeof is_schema_kernel_fields / sizeof is_schema_kernel_fields[0]);

const is_schema_field is_schema_serve_fields[] = {
    FIELD(is_serve_config, model, true),           FIELD(is_serve_config, backend, true),
    FIELD(is_serve_config, dtype, true),           FIELD(is_serve_config, threads, false),
    FIELD(is_serve_config, arrival, true),         FIELD(is_serve_config, rate, true),
    FIELD(is_serve_config, concurrency, false),    FIELD(is_serve_config, requests, false),
    FIELD(is_serve_config, prompt, true),          FIELD(is_serve_config, output, true),
    FIELD(is_serve_config, policy, true),          FIELD(is_serve_config, max_batch_tokens, false),
    FIELD(is_serve_config, max_seqs, false),       FIELD(is_serve_config, prefill_chunk, false),
    FIELD(is_serve_config, prefix_cache, false),   FIELD(is_serve_config, batch_invariant, false),
};
const int is_schema_n_serve_fields = (int)(sizeof is_schema_serve_fields / sizeof is_schema_serve_fields[0]);

const char *const is_schema_bench_derived[IS_DERIVED_COUNT] = {"decode_gbs", "mbu", "prefill_gflops", "mfu"};
const char *const is_schema_kernel_derived[IS_KDERIVED_COUNT] = {"gbs", "peak_frac", "gflops"};

cJSON *is_schema_config_json(const is_schema_field *fields, int n_fields, const void *config) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; i < n_fields; i++) {
        const char *at = (const char *)config + fields[i].offset;
        if (fields[i].is_string) cJSON_AddStringToObject(o, fields[i].name, *(const char *const *)at);
        else cJSON_AddNumberToObject(o, fields[i].name, *(const int *)at);
    }
    return o;
}

void is_schema_number(cJSON *o, const char *key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

cJSON *is_schema_point_ok(cJSON *point, const is_schema_run *run) {
    cJSON_AddStringToObject(point, "status", "ok");
    cJSON_AddNumberToObject(point, "warmup", run->warmup);
    cJSON_AddNumberToObject(point, "reps", run->reps);
    cJSON_AddStringToObject(point, "stop", run->stop);
    is_schema_number(point, "noise", run->noise);
    cJSON_AddNumberToObject(point, "elapsed_s", run->elapsed_s);
    return cJSON_AddObjectToObject(point, "samples");
}

cJSON *is_schema_point_error(const char *kind, cJSON *config, const char *msg) {
    cJSON *p = cJSON_CreateObject();
    if (kind) cJSON_AddStringToObject(p, "kind", kind);
    cJSON_AddItemToObject(p, "config", config);
    cJSON_AddStringToObject(p, "status", "error");
    cJSON_AddStringToObject(p, "error", msg);
    return p;
}
