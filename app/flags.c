// flags.c — see flags.h.
#include "app/flags.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"      // defines: is_app_usage, is_app_parse_long, is_app_parse_double
#include "base/dtype.h"   // defines: is_dtype_parse
#include "base/nvtx.h"    // defines: IS_PROF_LEVEL_MAX
#include "bench/sweep.h"  // defines: is_list_parse_ints

// One row per flag: its spelling, short form, whether it takes a value, and the
// spellings it had before (they still work, with a line saying to move on).
typedef struct flag_def {
    const char *name, *short_name;
    bool value;
    const char *old[2];
} flag_def;

static const flag_def flag_defs[IS_FLAG_COUNT] = {
    [IS_FLAG_MODEL] = {"--model", "-m", true, {NULL}},
    [IS_FLAG_BACKEND] = {"--backend", NULL, true, {NULL}},
    [IS_FLAG_DEVICE] = {"--device", NULL, true, {NULL}},
    [IS_FLAG_NO_GRAPHS] = {"--no-graphs", NULL, false, {NULL}},
    [IS_FLAG_THREADS] = {"--threads", "-t", true, {NULL}},
    [IS_FLAG_DTYPE] = {"--dtype", NULL, true, {NULL}},
    [IS_FLAG_SEED] = {"--seed", NULL, true, {NULL}},
    [IS_FLAG_KV_BUDGET] = {"--kv-budget", NULL, true, {NULL}},
    [IS_FLAG_KV_FRAC] = {"--kv-frac", NULL, true, {NULL}},
    [IS_FLAG_BLOCK_SIZE] = {"--block-size", NULL, true, {NULL}},
    [IS_FLAG_MAX_BATCH_TOKENS] = {"--max-batch-tokens", NULL, true, {NULL}},
    [IS_FLAG_STRATEGY] = {"--strategy", NULL, true, {NULL}},
    [IS_FLAG_KERNEL] = {"--kernel", NULL, true, {NULL}},
    [IS_FLAG_NVTX_LEVEL] = {"--nvtx-level", NULL, true, {NULL}},
    [IS_FLAG_TRACE] = {"--trace", NULL, true, {NULL}},
    [IS_FLAG_OUT] = {"--out", "-o", true, {NULL}},
    [IS_FLAG_FORMAT] = {"--format", NULL, true, {NULL}},
    [IS_FLAG_BATCH] = {"--batch", "-b", true, {NULL}},
    [IS_FLAG_PROMPT_LEN] = {"--prompt-len", "-p", true, {NULL}},
    [IS_FLAG_GEN_LEN] = {"--gen-len", "-n", true, {"--n-gen", "--gen"}},
    [IS_FLAG_DEPTH] = {"--depth", "-d", true, {"--context"}},
    [IS_FLAG_REPS] = {"--reps", "-r", true, {NULL}},
    [IS_FLAG_MAX_TIME] = {"--max-time", NULL, true, {NULL}},
    [IS_FLAG_MAX_NOISE] = {"--max-noise", NULL, true, {NULL}},
    [IS_FLAG_NO_PROBE] = {"--no-probe", NULL, false, {NULL}},
    [IS_FLAG_FORCE] = {"--force", NULL, false, {NULL}},
    [IS_FLAG_TOKENIZER] = {"--tokenizer", NULL, true, {NULL}},
};

void is_flags_init(is_flags *f) {
    memset(f, 0, sizeof *f);
    f->backend = "auto";
    f->format = "md";
    f->dtype = -1;
    f->nvtx_level = 1;
}

const char *is_flags_name(is_flag which) { return (unsigned)which < IS_FLAG_COUNT ? flag_defs[which].name : "?"; }

void is_app_deprecated(const char *cmd, const char *old, const char *now) {
    fprintf(stderr, "inferscope %s: %s is deprecated: use %s (%s goes in the next release)\n", cmd, old, now, old);
}

// The flag of set that a spells (and whether by an old spelling), or -1.
static int flag_find(uint64_t set, const char *a, bool *old) {
    *old = false;
    for (int k = 0; k < IS_FLAG_COUNT; k++) {
        if (!(set & IS_FLAG_BIT(k))) continue;
        const flag_def *d = &flag_defs[k];
        if (!strcmp(a, d->name) || (d->short_name && !strcmp(a, d->short_name))) return k;
        for (int j = 0; j < 2; j++)
            if (d->old[j] && !strcmp(a, d->old[j])) {
                *old = true;
                return k;
            }
    }
    return -1;
}

static int parse_seed(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long s = strtoull(v, &end, 10);
    if (errno || *end || !*v || v[0] == '-' || v[0] == '+' || v[0] == ' ') return -1;
    *out = s;
    return 0;
}

// Checks and stores the value v of flag k (a = the spelling used). Returns 0 or
// -1 after a usage message.
static int flag_store(const char *cmd, uint64_t set, is_flag k, const char *a, const char *v, is_flags *f) {
    long lv;
    double dv;
    switch (k) {
    case IS_FLAG_MODEL: f->model = v; break;
    case IS_FLAG_STRATEGY: f->strategy = v; break;
    case IS_FLAG_TOKENIZER: f->tokenizer = v; break;
    case IS_FLAG_BATCH: f->batch = v; break;
    case IS_FLAG_PROMPT_LEN: f->prompt_len = v; break;
    case IS_FLAG_GEN_LEN: f->gen_len = v; break;
    case IS_FLAG_DEPTH: f->depth = v; break;
    case IS_FLAG_KERNEL:
        if (!*v) return is_app_usage(cmd, "--kernel: expected default or op=variant items joined by '+'");
        f->kernel = v;
        break;
    case IS_FLAG_TRACE:
        if (!*v) return is_app_usage(cmd, "--trace needs a file name");
        f->trace = v;
        break;
    case IS_FLAG_OUT:
        if (!*v) // a directory for bench, kernels and profile; a file for logits
            return is_app_usage(cmd, "%s needs %s", a, strcmp(cmd, "logits") ? "a directory" : "a file name (or - for stdout)");
        f->out = v;
        break;
    case IS_FLAG_BACKEND:
        if (strcmp(v, "cpu") && strcmp(v, "cuda") && strcmp(v, "auto"))
            return is_app_usage(cmd, "--backend '%s': expected cpu, cuda or auto", v);
        f->backend = v;
        break;
    case IS_FLAG_FORMAT:
        if (strcmp(v, "md") && strcmp(v, "csv") && strcmp(v, "json") && strcmp(v, "html"))
            return is_app_usage(cmd, "--format '%s': expected md, csv, json or html", v);
        f->format = v;
        break;
    case IS_FLAG_DEVICE:
        if (is_app_parse_long(v, 0, 1023, &lv))
            return is_app_usage(cmd, "--device '%s': expected a CUDA device ordinal from 0 to 1023", v);
        f->device = (int)lv;
        break;
    case IS_FLAG_THREADS:
        if (is_app_parse_long(v, 0, 1024, &lv))
            return is_app_usage(cmd, "%s '%s': expected an integer from 0 (all CPUs) to 1024", a, v);
        f->threads = (int)lv;
        break;
    case IS_FLAG_DTYPE: {
        bool f16 = (set & IS_FLAGS_DTYPE_F16) != 0, list = (set & IS_FLAGS_DTYPE_LIST) != 0;
        const char *want = f16 ? "f32, bf16, f16, int8, q8_0 or q4_0" : "f32, bf16, int8, q8_0 or q4_0";
        f->n_dtypes = 0;
        for (const char *p = v;;) {
            const char *end = strchr(p, ',');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            char item[16];
            is_dtype d;
            if (end && !list) return is_app_usage(cmd, "--dtype '%s': one dtype, expected %s", v, want);
            if (len == 0 || len >= sizeof item)
                return is_app_usage(cmd, "--dtype '%s': an empty or unknown item; expected %s", v, want);
            memcpy(item, p, len);
            item[len] = 0;
            if (is_dtype_parse(item, &d) || (d == IS_DTYPE_F16 && !f16)) {
                if (!end && p == v) return is_app_usage(cmd, "--dtype '%s': expected %s", v, want);
                return is_app_usage(cmd, "--dtype '%s': unknown dtype '%s', expected %s", v, item, want);
            }
            for (int k = 0; k < f->n_dtypes; k++)
                if (f->dtypes[k] == (int)d) return is_app_usage(cmd, "--dtype '%s': '%s' is named twice", v, item);
            f->dtypes[f->n_dtypes++] = (int)d; // at most IS_DTYPE_COUNT distinct names fit
            if (!end) break;
            p = end + 1;
        }
        f->dtype = f->dtypes[0];
        break;
    }
    case IS_FLAG_SEED:
        if (parse_seed(v, &f->seed)) return is_app_usage(cmd, "--seed '%s': expected a non-negative integer", v);
        break;
    case IS_FLAG_KV_BUDGET:
        if (is_app_parse_double(v, 1e-6, 1 << 30, &dv))
            return is_app_usage(cmd, "--kv-budget '%s': expected a positive size in MiB", v);
        f->kv_budget_mib = dv;
        break;
    case IS_FLAG_KV_FRAC:
        if (is_app_parse_double(v, 1e-6, 1, &dv)) return is_app_usage(cmd, "--kv-frac '%s': expected a fraction in (0, 1]", v);
        f->kv_frac = dv;
        break;
    case IS_FLAG_BLOCK_SIZE:
        if (is_app_parse_long(v, 1, 1 << 16, &lv))
            return is_app_usage(cmd, "--block-size '%s': expected an integer from 1 to 65536", v);
        f->block_size = (int)lv;
        break;
    case IS_FLAG_MAX_BATCH_TOKENS:
        if (is_app_parse_long(v, 1, 1 << 20, &lv))
            return is_app_usage(cmd, "--max-batch-tokens '%s': expected an integer from 1 to 1048576", v);
        f->max_batch_tokens = (int)lv;
        break;
    case IS_FLAG_NVTX_LEVEL:
        if (is_app_parse_long(v, 0, IS_PROF_LEVEL_MAX, &lv))
            return is_app_usage(cmd, "--nvtx-level '%s': expected 0 (none), 1 (phases) or 2 (layers and ops)", v);
        f->nvtx_level = (int)lv;
        break;
    case IS_FLAG_REPS:
        if (is_app_parse_long(v, 1, 100000, &lv)) return is_app_usage(cmd, "%s '%s': expected an integer from 1 to 100000", a, v);
        f->reps = (int)lv;
        break;
    case IS_FLAG_MAX_TIME:
        if (is_app_parse_double(v, 0, 1e7, &dv)) return is_app_usage(cmd, "--max-time '%s': expected a number from 0 to 1e+07", v);
        f->max_time_s = dv;
        break;
    case IS_FLAG_MAX_NOISE:
        if (is_app_parse_double(v, 0, 100, &dv)) return is_app_usage(cmd, "--max-noise '%s': expected a number from 0 to 100", v);
        f->max_noise = dv / 100;
        break;
    case IS_FLAG_NO_GRAPHS:
    case IS_FLAG_NO_PROBE:
    case IS_FLAG_FORCE:
    case IS_FLAG_COUNT: break; // switches: no value
    }
    return 0;
}

int is_flags_parse(const char *cmd, uint64_t set, int argc, char **argv, int *i, is_flags *f) {
    const char *a = argv[*i];
    bool old;
    int k = flag_find(set, a, &old);
    if (k < 0) return 0;
    const flag_def *d = &flag_defs[k];
    if (old) is_app_deprecated(cmd, a, d->name);
    f->given[k] = true;
    f->spelled[k] = a;
    switch (k) {
    case IS_FLAG_NO_GRAPHS: f->no_graphs = true; return 1;
    case IS_FLAG_NO_PROBE: f->no_probe = true; return 1;
    case IS_FLAG_FORCE: f->force = true; return 1;
    default: break;
    }
    if (*i + 1 >= argc) return (is_app_usage(cmd, "flag %s needs a value", a), -1);
    const char *v = argv[++*i];
    return flag_store(cmd, set, (is_flag)k, a, v, f) ? -1 : 1;
}

// The value of an axis flag as written (NULL when not given).
static const char *axis_text(const is_flags *f, is_flag which) {
    const char *v = which == IS_FLAG_BATCH ? f->batch : which == IS_FLAG_PROMPT_LEN ? f->prompt_len
                    : which == IS_FLAG_GEN_LEN ? f->gen_len : which == IS_FLAG_DEPTH ? f->depth : NULL;
    return f->given[which] ? v : NULL;
}

int is_flags_int(const char *cmd, const is_flags *f, is_flag which, long lo, long hi, long def, long *out) {
    const char *v = axis_text(f, which);
    if (!v) {
        *out = def;
        return 0;
    }
    if (is_app_parse_long(v, lo, hi, out)) {
        if (hi == 0x7fffffffL && lo == 1)
            return is_app_usage(cmd, "%s '%s': expected a positive integer", f->spelled[which], v), -1;
        return is_app_usage(cmd, "%s '%s': expected an integer from %ld to %ld", f->spelled[which], v, lo, hi), -1;
    }
    return 0;
}

int is_flags_list(const char *cmd, const is_flags *f, is_flag which, const char *def, long lo, long hi, int **out,
                  int *n) {
    const char *v = axis_text(f, which);
    const char *name = v ? f->spelled[which] : flag_defs[which].name;
    if (!v) v = def;
    is_err err = {{0}};
    *out = NULL;
    *n = 0;
    if (is_list_parse_ints(name, v, lo, hi, out, n, &err)) return is_app_usage(cmd, "%s", err.msg), -1;
    return 0;
}
