// strategy.c — parsing and printing decoding strategy specs.
#include "engine/strategy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int strategy_number(const char *spec, const char *key, const char *v, size_t len, double lo, double hi,
                           double *out, is_err *err) {
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return is_errf(err, "strategy '%s': %s needs a value", spec, key);
    memcpy(buf, v, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (errno || *end || !(d >= lo && d <= hi))
        return is_errf(err, "strategy '%s': %s=%s is not a number in [%g, %g]", spec, key, buf, lo, hi);
    *out = d;
    return 0;
}

static int strategy_int(const char *spec, const char *key, const char *v, size_t len, double lo, double hi, int *out,
                        is_err *err) {
    double d = 0;
    if (strategy_number(spec, key, v, len, lo, hi, &d, err)) return -1;
    if (d != (int)d) return is_errf(err, "strategy '%s': %s must be an integer", spec, key);
    *out = (int)d;
    return 0;
}

static int strategy_seed(const char *spec, const char *key, const char *v, size_t len, uint64_t *seed, bool *given,
                         is_err *err) {
    char buf[32];
    if (len == 0 || len >= sizeof buf || v[0] == '-')
        return is_errf(err, "strategy '%s': %s needs a non-negative integer", spec, key);
    memcpy(buf, v, len);
    buf[len] = 0;
    char *e;
    errno = 0;
    unsigned long long s = strtoull(buf, &e, 10);
    if (errno || *e) return is_errf(err, "strategy '%s': %s=%s is not a non-negative integer", spec, key, buf);
    *seed = s;
    *given = true;
    return 0;
}

// Keys of each strategy: the spelling, and the field it sets.
typedef enum {
    KEY_T, KEY_TOP_K, KEY_P, KEY_MIN_P, KEY_REP, KEY_SEED, KEY_W, KEY_LP, KEY_SPEC_K, KEY_DRAFT, KEY_DRAFT_SEED
} key_id;
typedef struct key_def {
    const char *name;
    key_id id;
} key_def;

static const key_def sample_keys[] = {{"t", KEY_T},       {"k", KEY_TOP_K}, {"p", KEY_P},
                                      {"minp", KEY_MIN_P}, {"rep", KEY_REP}, {"seed", KEY_SEED}, {NULL, 0}};
static const key_def beam_keys[] = {{"w", KEY_W}, {"lp", KEY_LP}, {NULL, 0}};
static const key_def spec_keys[] = {{"k", KEY_SPEC_K}, {"draft", KEY_DRAFT}, {"dseed", KEY_DRAFT_SEED},
                                    {"t", KEY_T},       {"topk", KEY_TOP_K},  {"p", KEY_P},
                                    {"minp", KEY_MIN_P}, {"rep", KEY_REP},     {"seed", KEY_SEED},
                                    {NULL, 0}};

static int strategy_set(const char *spec, key_id id, const char *name, const char *v, size_t len, is_strategy *out,
                        is_err *err) {
    double d;
    switch (id) {
    case KEY_T:
        if (strategy_number(spec, name, v, len, 0, 1e6, &d, err)) return -1;
        out->sampler.temperature = (float)d;
        return 0;
    case KEY_TOP_K:
        return strategy_int(spec, name, v, len, 0, 2147483647.0, &out->sampler.top_k, err);
    case KEY_P:
        if (strategy_number(spec, name, v, len, 1e-9, 1, &d, err)) return -1;
        out->sampler.top_p = (float)d;
        return 0;
    case KEY_MIN_P:
        if (strategy_number(spec, name, v, len, 0, 1, &d, err)) return -1;
        out->sampler.min_p = (float)d;
        return 0;
    case KEY_REP:
        if (strategy_number(spec, name, v, len, 1e-3, 1e3, &d, err)) return -1;
        out->sampler.rep_penalty = (float)d;
        return 0;
    case KEY_SEED:
        return strategy_seed(spec, name, v, len, &out->sampler.seed, &out->seed_given, err);
    case KEY_DRAFT_SEED:
        return strategy_seed(spec, name, v, len, &out->draft_seed, &out->draft_seed_given, err);
    case KEY_W:
        return strategy_int(spec, name, v, len, 1, 256, &out->beam_width, err);
    case KEY_LP:
        if (strategy_number(spec, name, v, len, -100, 100, &d, err)) return -1;
        out->length_penalty = (float)d;
        return 0;
    case KEY_SPEC_K:
        return strategy_int(spec, name, v, len, 1, 64, &out->spec_k, err);
    case KEY_DRAFT:
        if (len == 0) return is_errf(err, "strategy '%s': draft needs a model (a directory, preset:NAME or self)", spec);
        if (len >= sizeof out->draft) return is_errf(err, "strategy '%s': the draft's name is too long", spec);
        memcpy(out->draft, v, len);
        out->draft[len] = 0;
        return 0;
    }
    return is_errf(err, "strategy '%s': unknown key", spec);
}

// "a, b, c" for an error message.
static void key_names(const key_def *keys, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; keys[i].name && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? ", " : "", keys[i].name);
}

static int strategy_keys(const char *spec, const char *kind, const char *p, const key_def *keys, is_strategy *out,
                         is_err *err) {
    if (!*p) return is_errf(err, "strategy '%s': nothing after ':'", spec);
    unsigned seen = 0;
    while (1) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) return is_errf(err, "strategy '%s': '%.*s' is not key=value", spec, (int)len, p);
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        int k = 0;
        while (keys[k].name && !(strlen(keys[k].name) == klen && !strncmp(keys[k].name, p, klen))) k++;
        if (!keys[k].name) {
            char names[128];
            key_names(keys, names, sizeof names);
            return is_errf(err, "strategy '%s': unknown key '%.*s' (%s takes %s)", spec, (int)klen, p, kind, names);
        }
        if (seen & (1u << k)) return is_errf(err, "strategy '%s': key '%.*s' given twice", spec, (int)klen, p);
        seen |= 1u << k;
        if (strategy_set(spec, keys[k].id, keys[k].name, eq + 1, vlen, out, err)) return -1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static void sample_defaults(is_sampler_params *p) {
    p->temperature = IS_SAMPLE_DEFAULT_T;
    p->top_k = IS_SAMPLE_DEFAULT_K;
    p->top_p = IS_SAMPLE_DEFAULT_P;
}

int is_strategy_parse(const char *spec, is_strategy *out, is_err *err) {
    memset(out, 0, sizeof *out);
    out->sampler.top_p = 1.0f;
    if (!spec || !*spec)
        return is_errf(err, "empty strategy: expected greedy, sample[:...], beam[:w=W,lp=L] or spec:k=K,draft=MODEL");
    const char *colon = strchr(spec, ':');
    size_t name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    const char *rest = colon ? colon + 1 : NULL;
#define IS_NAME(s) (name_len == sizeof(s) - 1 && !strncmp(spec, s, name_len))
    if (IS_NAME("greedy")) {
        out->kind = IS_STRATEGY_GREEDY;
        if (colon) return is_errf(err, "strategy '%s': greedy takes no parameters", spec);
        return 0;
    }
    if (IS_NAME("sample")) {
        out->kind = IS_STRATEGY_SAMPLE;
        sample_defaults(&out->sampler);
        return rest ? strategy_keys(spec, "sample", rest, sample_keys, out, err) : 0;
    }
    if (IS_NAME("beam")) {
        out->kind = IS_STRATEGY_BEAM;
        out->beam_width = IS_BEAM_DEFAULT_W;
        out->length_penalty = IS_BEAM_DEFAULT_LP;
        return rest ? strategy_keys(spec, "beam", rest, beam_keys, out, err) : 0;
    }
    if (IS_NAME("spec")) {
        out->kind = IS_STRATEGY_SPEC;
        out->spec_k = IS_SPEC_DEFAULT_K;
        if (!rest) return is_errf(err, "strategy '%s': spec needs a draft model (spec:k=K,draft=MODEL)", spec);
        // sampling keys other than t default as in sample; t alone turns sampling on
        is_sampler_params greedy = out->sampler;
        sample_defaults(&out->sampler);
        out->sampler.temperature = 0.0f;
        if (strategy_keys(spec, "spec", rest, spec_keys, out, err)) return -1;
        if (!out->draft[0])
            return is_errf(err, "strategy '%s': spec needs draft=MODEL (a directory, preset:NAME or self)", spec);
        if (!(out->sampler.temperature > 0.0f)) { // greedy verification: the sampling keys are unused
            float rep = out->sampler.rep_penalty;
            out->sampler = greedy;
            out->sampler.rep_penalty = rep;
            out->seed_given = false;
        }
        return 0;
    }
#undef IS_NAME
    return is_errf(err, "strategy '%s': unknown strategy '%.*s' (expected greedy, sample, beam or spec)", spec,
                   (int)name_len, spec);
}

// ",minp=M,rep=R,seed=S" for the keys that are on; returns the length written.
static int format_extras(const is_strategy *s, char *buf, size_t n) {
    int len = 0;
    const is_sampler_params *p = &s->sampler;
    if (p->min_p > 0.0f && (size_t)len < n) len += snprintf(buf + len, n - (size_t)len, ",minp=%g", (double)p->min_p);
    if (p->rep_penalty > 0.0f && p->rep_penalty != 1.0f && (size_t)len < n)
        len += snprintf(buf + len, n - (size_t)len, ",rep=%g", (double)p->rep_penalty);
    if (s->seed_given && (size_t)len < n)
        len += snprintf(buf + len, n - (size_t)len, ",seed=%llu", (unsigned long long)p->seed);
    return len;
}

void is_strategy_format(const is_strategy *s, char *buf, size_t n) {
    const is_sampler_params *p = &s->sampler;
    int len = 0;
    switch (s->kind) {
    case IS_STRATEGY_GREEDY:
        snprintf(buf, n, "greedy");
        return;
    case IS_STRATEGY_BEAM:
        snprintf(buf, n, "beam:w=%d,lp=%g", s->beam_width, (double)s->length_penalty);
        return;
    case IS_STRATEGY_SAMPLE:
        len = snprintf(buf, n, "sample:t=%g,k=%d,p=%g", (double)p->temperature, p->top_k, (double)p->top_p);
        break;
    case IS_STRATEGY_SPEC:
        len = snprintf(buf, n, "spec:k=%d,draft=%s", s->spec_k, s->draft);
        if (s->draft_seed_given && len >= 0 && (size_t)len < n)
            len += snprintf(buf + len, n - (size_t)len, ",dseed=%llu", (unsigned long long)s->draft_seed);
        if (p->temperature > 0.0f && len >= 0 && (size_t)len < n)
            len += snprintf(buf + len, n - (size_t)len, ",t=%g,topk=%d,p=%g", (double)p->temperature, p->top_k,
                            (double)p->top_p);
        break;
    }
    if (len >= 0 && (size_t)len < n) format_extras(s, buf + len, n - (size_t)len);
}

int is_strategy_open_draft(const is_strategy *st, is_model *target, int dtype, uint64_t seed, is_backend *be,
                           is_model **out, is_err *err) {
    *out = NULL;
    if (!strcmp(st->draft, "self") || (!strcmp(st->draft, target->source) && !st->draft_seed_given)) {
        *out = target;
        return 0;
    }
    is_model_opts mo = {.dtype = dtype, .seed = st->draft_seed_given ? st->draft_seed : seed};
    if (is_model_load(st->draft, &mo, be, out, err)) {
        is_err_prefix(err, "spec draft '%s'", st->draft);
        return -1;
    }
    if ((*out)->cfg.vocab_size != target->cfg.vocab_size) {
        is_errf(err, "spec draft '%s' has a vocabulary of %d tokens, the target '%s' has %d: the draft must share "
                "the target's vocabulary", st->draft, (*out)->cfg.vocab_size, target->source, target->cfg.vocab_size);
        is_model_free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

long is_strategy_kv_blocks(const is_strategy *st, int n, const int *lens, long held, int n_gen, int block_size) {
    long blocks = 0, bs = block_size;
    for (int i = 0; i < n; i++) {
        long ctx = held + lens[i];
        if (st->kind == IS_STRATEGY_BEAM) // the prompt once, then per beam its tokens and one copied block
            blocks += (ctx + bs - 1) / bs - held / bs + (long)st->beam_width * ((n_gen - 1 + bs - 1) / bs + 1);
        else // the last generated token is never fed back
            blocks += (ctx + n_gen - 1 + bs - 1) / bs - held / bs;
    }
    return blocks;
}

int is_strategy_max_seqs(const is_strategy *st, int n) {
    return st->kind == IS_STRATEGY_BEAM ? n * st->beam_width + n : n;
}

void is_strategy_gen_opts(const is_strategy *st, is_session *draft, is_gen_opts *go) {
    go->sampler = st->sampler;
    go->beam_width = st->kind == IS_STRATEGY_BEAM ? st->beam_width : 0;
    go->length_penalty = st->length_penalty;
    go->draft = st->kind == IS_STRATEGY_SPEC ? draft : NULL;
    go->spec_k = st->spec_k;
}

int is_strategy_sessions_open(const is_strategy *st, is_model *m, is_model *draft, const is_session_opts *so,
                              const is_strategy_need *need, is_session **target, is_session **draft_session,
                              is_err *err) {
    *target = *draft_session = NULL;
    int bs = so->block_size > 0 ? so->block_size : IS_DEFAULT_BLOCK_SIZE;
    double blocks =
        (double)is_strategy_kv_blocks(st, need->n, need->lens, need->held, need->n_gen, bs) + need->spare_blocks;
    int max_seqs = is_strategy_max_seqs(st, need->n);
    is_session_opts tso = *so;
    if (tso.max_seqs < max_seqs) tso.max_seqs = max_seqs;
    if (so->kv_budget_mib <= 0 && so->kv_mem_fraction <= 0)
        tso.kv_budget_mib = blocks * is_kv_block_mib(&m->cfg, bs, m->be->kv_dtype);
    if (draft && st->kind == IS_STRATEGY_SPEC) {
        // the draft holds what it needs unless a budget is given; a fraction of free
        // memory is the target's, taken from what the draft leaves
        is_session_opts dso = tso;
        dso.kv_mem_fraction = 0;
        if (so->kv_budget_mib <= 0) dso.kv_budget_mib = blocks * is_kv_block_mib(&draft->cfg, bs, draft->be->kv_dtype);
        if (is_session_create(draft, &dso, draft_session, err)) {
            is_err_prefix(err, "spec draft");
            return -1;
        }
    }
    if (is_session_create(m, &tso, target, err)) {
        is_session_free(*draft_session);
        *draft_session = NULL;
        return -1;
    }
    return 0;
}
